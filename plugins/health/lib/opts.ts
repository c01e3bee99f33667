// Option reading for the checker plugins: each reader records the first
// problem with the option's name, so the config error points at the field
// (services[0].health.statusCode), and unknown options are refused with a
// "did you mean" as everywhere else in config.ts.

import { didYouMean } from '../../../core/config/schema.js';
import type { HealthOptionsResult } from '../../../core/plugin.js';

export class Opts {
  error: { field: string; error: string } | null = null;
  constructor(readonly raw: Record<string, unknown>, readonly known: readonly string[]) {
    for (const k of Object.keys(raw)) {
      if (known.includes(k)) continue;
      const hint = didYouMean(k, known);
      this.bad(k, hint ? `unknown setting; did you mean '${hint}'?` : `unknown setting for this checker (known: ${known.join(', ') || 'none besides the common ones'})`);
    }
  }
  bad(field: string, error: string): undefined {
    if (!this.error) this.error = { field, error };
    return undefined;
  }
  str(k: string, dflt?: string): string | undefined {
    const v = this.raw[k];
    if (v === undefined) return dflt;
    return typeof v === 'string' ? v : this.bad(k, `must be a string (got ${typeof v})`);
  }
  bool(k: string, dflt: boolean): boolean {
    const v = this.raw[k];
    if (v === undefined) return dflt;
    return typeof v === 'boolean' ? v : (this.bad(k, `must be true or false (got ${JSON.stringify(v)})`), dflt);
  }
  int(k: string, min: number, max: number, dflt: number): number {
    const v = this.raw[k];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.bad(k, `must be an integer ${min}..${max} (got ${JSON.stringify(v)})`);
      return dflt;
    }
    return v;
  }
  done<O>(value: O): HealthOptionsResult<O> {
    return this.error ? { ok: false, error: this.error.error, field: this.error.field } : { ok: true, value };
  }
}

/** Hex text (blanks and ':' allowed between bytes) to bytes; 'X'/'x' nibbles become wildcards in `mask`. */
export function parseHex(text: string, wildcards = false): { bytes: Buffer; mask: Buffer } | null {
  const t = text.replace(/[\s:]/g, '').replace(/^0x/i, '');
  if (t.length === 0 || t.length % 2 !== 0) return null;
  if (!(wildcards ? /^[0-9a-fx]+$/i : /^[0-9a-f]+$/i).test(t)) return null;
  const bytes = Buffer.alloc(t.length / 2);
  const mask = Buffer.alloc(t.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    const hi = t[2 * i]!;
    const lo = t[2 * i + 1]!;
    const nib = (c: string): [number, number] => (/x/i.test(c) ? [0, 0] : [parseInt(c, 16), 0xf]);
    const [h, hm] = nib(hi);
    const [l, lm] = nib(lo);
    bytes[i] = (h << 4) | l;
    mask[i] = (hm << 4) | lm;
  }
  return { bytes, mask };
}

/** Maps a socket error to a failure word and an operator-readable reason. */
export function socketFailure(e: unknown, what: string): { ok: false; failure: 'refused' | 'unreachable' | 'reset' | 'timeout' | 'error'; reason: string } {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ECONNREFUSED': return { ok: false, failure: 'refused', reason: `${what}: connection refused` };
    case 'EHOSTUNREACH': case 'ENETUNREACH': case 'EHOSTDOWN':
      return { ok: false, failure: 'unreachable', reason: `${what}: ${err.code === 'ENETUNREACH' ? 'network' : 'host'} unreachable` };
    case 'ECONNRESET': case 'EPIPE': return { ok: false, failure: 'reset', reason: `${what}: connection reset by the server` };
    case 'ETIMEDOUT': return { ok: false, failure: 'timeout', reason: `${what}: timed out` };
    case 'ABORT_ERR': return { ok: false, failure: 'timeout', reason: `${what}: no answer in time` };
    default: return { ok: false, failure: 'error', reason: `${what}: ${err.message ?? String(e)}` };
  }
}

// Option schemas shared by the checker plugins: the words each bad value gets
// (the config error names the field: services[0].health.statusCode).
import { z } from 'lvsd';

export const str = (): z.ZodType<string> => z.string({ error: (iss) => `must be a string (got ${typeof iss.input})` });
export const bool = (): z.ZodType<boolean> => z.boolean({ error: (iss) => `must be true or false (got ${JSON.stringify(iss.input)})` });
export function int(min: number, max: number): z.ZodType<number> {
  const error = (iss: { input?: unknown }): string => `must be an integer ${min}..${max} (got ${JSON.stringify(iss.input)})`;
  return z.number({ error }).refine((v) => Number.isInteger(v) && v >= min && v <= max, { error });
}

/** Hex text (blanks and ':' allowed between bytes) to bytes; 'X'/'x' nibbles become wildcards in `mask`. */
export function parseHex(text: string, wildcards = false): { bytes: Buffer; mask: Buffer } | null {
  const t = text.replace(/[\s:]/g, '').replace(/^0x/i, '');
  if (t.length === 0 || t.length % 2 !== 0) return null;
  if (!(wildcards ? /^[0-9a-fx]+$/i : /^[0-9a-f]+$/i).test(t)) return null;
  const bytes = Buffer.alloc(t.length / 2);
  const mask = Buffer.alloc(t.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    const nib = (c: string): [number, number] => (/x/i.test(c) ? [0, 0] : [parseInt(c, 16), 0xf]);
    const [h, hm] = nib(t[2 * i]!);
    const [l, lm] = nib(t[2 * i + 1]!);
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

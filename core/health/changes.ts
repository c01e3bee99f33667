// What changed in health's own settings between two applies: the manager
// acts on it (restart only the checkers that changed, apply a new config
// lifecycle) and the daemon prints it with the config plan (`~ health …`).
// Health settings never become table operations in the config plan; health
// makes its table changes itself.

import { destKeyText, serviceKeyText, type DestKey, type ServiceKey } from '../model/types.js';
import type { HealthInput, HealthServiceInput, RealHealthSettings, ServiceHealthSettings } from './types.js';

/**
 * One health-checking change. Only reals whose checker settings changed have
 * their checkers restarted; everything else keeps running.
 */
export type HealthChange =
  /** The real's checkers changed: they are restarted (its up/down state is kept). */
  | { kind: 'checks'; service: ServiceKey; dest: DestKey; what: string }
  /** The config's lifecycle for the real changed: the manager applies it (run-time changes survive otherwise). */
  | { kind: 'lifecycle'; service: ServiceKey; dest: DestKey; from: string; to: string }
  /** Quorum, sorry server, inhibit, notify or slow-start settings changed: taken at once, no restart. */
  | { kind: 'settings'; service: ServiceKey; what: string }
  | { kind: 'schedule'; what: string };

/** A checker's settings as compared across reloads (its config path may move without meaning a change). */
export function checkersText(h: RealHealthSettings | undefined): string {
  if (!h) return '[]';
  return JSON.stringify([h.virtualhost ?? null, h.checkers.map(({ path: _p, ...rest }) => rest)]);
}

function checkerSummary(h: RealHealthSettings | undefined): string {
  if (!h || h.checkers.length === 0) return 'none';
  return h.checkers.map((k) => `${k.check} every ${k.interval}s`).join(' + ');
}

function serviceHealthText(h: ServiceHealthSettings | undefined): string {
  if (!h) return '';
  return JSON.stringify([h.quorum, h.hysteresis, h.quorumUp, h.quorumDown, h.sorryServer, h.sorryServerInhibit, h.alpha, h.omega]);
}

function realSettingsText(r: RealHealthSettings | undefined): string {
  return r ? JSON.stringify([r.inhibitOnFailure, r.notifyUp, r.notifyDown, r.slowStart, r.drainDeadline]) : '';
}

/**
 * Whether two plain data values (config objects: no cycles, no classes) are
 * equal in every field. Allocates nothing: a reload compares every service
 * of the old config with the new one, and most are unchanged.
 */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let n = 0;
  for (const k in ra) {
    if (!Object.hasOwn(ra, k)) continue;
    n++;
    if (!Object.hasOwn(rb, k) || !sameData(ra[k], rb[k])) return false;
  }
  for (const k in rb) if (Object.hasOwn(rb, k)) n--;
  return n === 0;
}

/** The same reals, in the same order (their settings aside). */
export function sameDestKeys(a: readonly DestKey[], b: readonly DestKey[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.family !== y.family || x.addr !== y.addr || x.port !== y.port) return false;
  }
  return true;
}

/**
 * The changes from `prev` (null: nothing applied yet, so nothing "changed") to `next`.
 * `before`: prev's services by key text, when the caller has them; `same`:
 * services of `next` the caller found equal to their previous selves.
 */
export function healthChanges(prev: HealthInput | null, next: HealthInput,
  before?: ReadonlyMap<string, HealthServiceInput>, same?: ReadonlySet<HealthServiceInput>): HealthChange[] {
  if (!prev) return [];
  const out: HealthChange[] = [];
  before ??= servicesByKey(prev);
  for (const now of next.services) {
    if (same?.has(now)) continue;
    const old = before.get(serviceKeyText(now.spec));
    if (!old) continue;
    // Most services of a reload are unchanged: the same reals with the same settings compare field by field, no text.
    if (sameDestKeys(old.dests, now.dests) && sameData(old.health, now.health)) continue;
    const oldReals = new Map(old.dests.map((d, i) => [destKeyText(d), old.health?.reals[i]]));
    if (serviceHealthText(old.health) !== serviceHealthText(now.health)) {
      out.push({ kind: 'settings', service: now.spec, what: 'quorum, sorry server, alpha or omega settings' });
    }
    now.dests.forEach((d, i) => {
      if (!oldReals.has(destKeyText(d))) return;
      const a = oldReals.get(destKeyText(d));
      const b = now.health?.reals[i];
      if (realSettingsText(a) !== realSettingsText(b)) {
        out.push({ kind: 'settings', service: now.spec, what: `inhibit, notify or slow-start settings of real ${destKeyText(d)}` });
      }
      if (checkersText(a) !== checkersText(b)) {
        out.push({ kind: 'checks', service: now.spec, dest: d, what: `${checkerSummary(a)} -> ${checkerSummary(b)}` });
      }
      const la = a?.lifecycle ?? 'active';
      const lb = b?.lifecycle ?? 'active';
      if (la !== lb) out.push({ kind: 'lifecycle', service: now.spec, dest: d, from: la, to: lb });
    });
  }
  const sa = JSON.stringify(prev.schedule ?? []);
  const sb = JSON.stringify(next.schedule ?? []);
  if (sa !== sb) out.push({ kind: 'schedule', what: `${(prev.schedule ?? []).length} -> ${(next.schedule ?? []).length} entries` });
  return out;
}

/** A health input's services by service key text. */
export function servicesByKey(input: HealthInput): Map<string, HealthServiceInput> {
  const m = new Map<string, HealthServiceInput>();
  for (const s of input.services) m.set(serviceKeyText(s.spec), s);
  return m;
}

/** One line per change, in the style of the config plan's lines. */
export function formatHealthChange(h: HealthChange): string {
  switch (h.kind) {
    case 'checks': return `~ health of real ${destKeyText(h.dest)} in ${serviceKeyText(h.service)}: ${h.what} (its checkers restart)`;
    case 'lifecycle': return `~ lifecycle of real ${destKeyText(h.dest)} in ${serviceKeyText(h.service)}: ${h.from} -> ${h.to}`;
    case 'settings': return `~ health settings of ${serviceKeyText(h.service)}: ${h.what}`;
    case 'schedule': return `~ schedule: ${h.what}`;
  }
}

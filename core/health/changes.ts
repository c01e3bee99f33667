// What changed in health's own settings between two applies: the manager
// acts on it (restart only the checkers that changed, apply a new config
// lifecycle) and the daemon prints it with the config plan (`~ health …`).
// Health settings never become table operations in the config plan; health
// makes its table changes itself.

import { destKeyText, serviceKeyText, type DestKey, type DestSpec, type ServiceKey, type ServiceSpec } from '../model/types.js';
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

// Field by field, written out: a reload compares every service, and a generic
// walk over keys cost ~50 ms at 10 000 × 10. Each list of fields is checked
// against its type (\`satisfies Record<keyof T, …>\`): a field added to the type
// and not compared here fails to compile.
const SPEC_FIELDS = { family: 1, protocol: 1, addr: 1, port: 1, fwmark: 1, scheduler: 1, flags: 1, timeout: 1, netmask: 1, pe: 1 } satisfies Record<keyof ServiceSpec, 1>;
const DEST_FIELDS = { family: 1, addr: 1, port: 1, fwd: 1, weight: 1, uThreshold: 1, lThreshold: 1, tunType: 1, tunPort: 1, tunFlags: 1 } satisfies Record<keyof DestSpec, 1>;
const REAL_FIELDS = {
  checkers: 1, inhibitOnFailure: 1, notifyUp: 1, notifyDown: 1, slowStart: 1, lifecycle: 1, drainDeadline: 1, virtualhost: 1,
} satisfies Record<keyof RealHealthSettings, 1>;
const SERVICE_HEALTH_FIELDS = {
  quorum: 1, hysteresis: 1, quorumUp: 1, quorumDown: 1, sorryServer: 1, sorryServerInhibit: 1, alpha: 1, omega: 1, reals: 1,
} satisfies Record<keyof ServiceHealthSettings, 1>;
void SPEC_FIELDS; void DEST_FIELDS; void REAL_FIELDS; void SERVICE_HEALTH_FIELDS;

function sameSpec(a: ServiceSpec, b: ServiceSpec): boolean {
  return a.family === b.family && a.protocol === b.protocol && a.addr === b.addr && a.port === b.port && a.fwmark === b.fwmark
    && a.scheduler === b.scheduler && a.flags === b.flags && a.timeout === b.timeout && a.netmask === b.netmask && a.pe === b.pe;
}

function sameDest(a: DestSpec, b: DestSpec): boolean {
  return a.family === b.family && a.addr === b.addr && a.port === b.port && a.fwd === b.fwd && a.weight === b.weight
    && a.uThreshold === b.uThreshold && a.lThreshold === b.lThreshold && a.tunType === b.tunType && a.tunPort === b.tunPort
    && a.tunFlags === b.tunFlags;
}

function sameReal(a: RealHealthSettings | undefined, b: RealHealthSettings | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return a.inhibitOnFailure === b.inhibitOnFailure && a.lifecycle === b.lifecycle && a.drainDeadline === b.drainDeadline
    && a.virtualhost === b.virtualhost && sameData(a.checkers, b.checkers) && sameData(a.notifyUp, b.notifyUp)
    && sameData(a.notifyDown, b.notifyDown) && sameData(a.slowStart, b.slowStart);
}

function sameServiceHealth(a: ServiceHealthSettings | undefined, b: ServiceHealthSettings | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  if (a.quorum !== b.quorum || a.hysteresis !== b.hysteresis || a.sorryServerInhibit !== b.sorryServerInhibit
    || a.alpha !== b.alpha || a.omega !== b.omega || a.reals.length !== b.reals.length) return false;
  if (!sameData(a.quorumUp, b.quorumUp) || !sameData(a.quorumDown, b.quorumDown)) return false;
  if (a.sorryServer !== b.sorryServer && (!a.sorryServer || !b.sorryServer || !sameDest(a.sorryServer, b.sorryServer))) return false;
  for (let i = 0; i < a.reals.length; i++) if (!sameReal(a.reals[i], b.reals[i])) return false;
  return true;
}

/** Whether a service is the same in two health inputs: its spec, its reals in order, every health setting. */
export function sameServiceInput(a: HealthServiceInput, b: HealthServiceInput): boolean {
  if (!sameSpec(a.spec, b.spec) || a.dests.length !== b.dests.length) return false;
  for (let i = 0; i < a.dests.length; i++) if (!sameDest(a.dests[i]!, b.dests[i]!)) return false;
  return sameServiceHealth(a.health, b.health);
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
    if (sameDestKeys(old.dests, now.dests) && sameServiceHealth(old.health, now.health)) continue;
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

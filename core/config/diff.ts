// The difference between a config and what runs, as a plan of table
// operations, and its all-or-nothing application.
//
// planDiff compares config with config (`lvsd --check`, replay, tests: what a
// file changes). A reload uses planReassert: the new config against the
// RUNNING TABLE, so that whatever lvsadm did in between (-C, -D, -d, -e, -E),
// what the file declares is there afterwards with the file's settings, and a
// run-time deletion never makes a reload fail. What the file never declared
// (added with lvsadm) stays until the file says otherwise.
//
// Whoever keeps reals out of the table at run time for a reason (health:
// down, disabled, draining, sorry server) is not overruled: planReassert asks
// health where it wants a real before putting one back, leaves the weight of
// the reals health follows to health (unless the file changed it), and
// applyPlan skips editing or removing a real that is not in the table. Health
// follows the table's events and makes its own changes to what the config
// added or edited (source 'health'), and uses a held-out real's new settings
// when it puts it back.

import { u32ToIpv4 } from '../model/addr.js';
import { DEFAULT_TIMEOUTS, type ServiceTable } from '../model/table.js';
import { schedFlagsText } from '../model/rules.js';
import {
  SVC_F_ONEPACKET, SVC_F_PERSISTENT, TUN_FLAG_CSUM, TUN_FLAG_REMCSUM,
  destKeyText, serviceKeyText,
  type DestSpec, type FwdMethod, type ServiceKey, type ServiceSpec, type Timeouts,
} from '../model/types.js';
import type { ChangeSource } from '../model/events.js';
import { STRERROR, TableError, type Errno, type Result } from '../errors.js';
import type { DesiredState } from './schema.js';
import type { SchedFlagWords } from '../plugin.js';

/** One table operation. For edits, `prev`/`spec` are the old and new config: only the fields that differ are applied. */
export type PlanAction =
  /** Timeouts the config set before (`prev`) and sets now; a dropped one returns to the default. */
  | { kind: 'set-timeouts'; timeouts: Partial<Timeouts>; prev: Partial<Timeouts> }
  /** `words`/`prevWords`: the schedulers' own -b flag words, for the plan's text. */
  | { kind: 'edit-service'; spec: ServiceSpec; prev: ServiceSpec; words?: SchedFlagWords; prevWords?: SchedFlagWords }
  | { kind: 'add-service'; spec: ServiceSpec; words?: SchedFlagWords }
  | { kind: 'edit-real'; service: ServiceKey; spec: DestSpec; prev: DestSpec }
  | { kind: 'add-real'; service: ServiceKey; spec: DestSpec }
  | { kind: 'remove-real'; service: ServiceKey; spec: DestSpec }
  /** The service goes, and with it every real it has in the live table. */
  | { kind: 'remove-service'; spec: ServiceSpec; reals: number };

/** The services (serviceKeyText) a plan's actions change in the table. */
export function planServices(plan: Plan): Set<string> {
  const out = new Set<string>();
  for (const a of plan.actions) {
    if (a.kind === 'set-timeouts') continue;
    out.add(svcKey('service' in a ? a.service : a.spec));
  }
  return out;
}

/** Daemon-level settings that changed; the daemon acts on them, applyPlan does not. */
export interface SettingChange {
  setting: 'plugins' | 'interfaces' | 'neighbors' | 'workers' | 'maxConnections';
  from: string;
  to: string;
}

/** Actions in the order they are applied. */
export interface Plan {
  actions: PlanAction[];
  settings: SettingChange[];
}

export type ApplyResult =
  | { ok: true; counts: { added: number; edited: number; removed: number }; skipped?: string[] }
  | { ok: false; error: string };

// ------------------------------------------------------------------ compare

const SERVICE_FIELDS = ['scheduler', 'flags', 'timeout', 'netmask', 'pe'] as const;
const DEST_FIELDS = ['fwd', 'weight', 'uThreshold', 'lThreshold', 'tunType', 'tunPort', 'tunFlags'] as const;

const svcKey = (k: ServiceKey): string => serviceKeyText(k);

function serviceChanged(a: ServiceSpec, b: ServiceSpec): boolean {
  return SERVICE_FIELDS.some((f) => a[f] !== b[f]);
}

function destChanged(a: DestSpec, b: DestSpec): boolean {
  return DEST_FIELDS.some((f) => a[f] !== b[f]);
}

/**
 * The same reals in the same order with the same settings: the service needs
 * no real-server action. Most services of a reload are unchanged; this is
 * checked without building any key text.
 */
function sameDests(a: readonly DestSpec[], b: readonly DestSpec[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    // DEST_FIELDS written out (no closure per real)
    if (x.family !== y.family || x.addr !== y.addr || x.port !== y.port || x.fwd !== y.fwd || x.weight !== y.weight
      || x.uThreshold !== y.uThreshold || x.lThreshold !== y.lThreshold || x.tunType !== y.tunType || x.tunPort !== y.tunPort
      || x.tunFlags !== y.tunFlags) return false;
  }
  return true;
}

function settingText(d: DesiredState, s: SettingChange['setting']): string {
  switch (s) {
    case 'plugins': return d.plugins.join(', ') || '(none)';
    case 'interfaces': return d.interfaces.map((i) => (i.mac ? `${i.name}=${i.mac}` : i.name)).join(', ') || '(none)';
    case 'neighbors': return Object.entries(d.neighbors).map(([ip, mac]) => `${ip}=${mac}`).join(', ') || '(none)';
    case 'workers': return d.workers === undefined ? 'default' : String(d.workers);
    case 'maxConnections': return d.maxConnections === undefined ? 'default' : String(d.maxConnections);
  }
}

/**
 * What changes from the config `prev` (null: nothing applied yet) to `next`;
 * `flagWords` gives a scheduler's own -b words for the plan's text (the registry's).
 */
export function planDiff(prev: DesiredState | null, next: DesiredState,
  flagWords: (scheduler: string) => SchedFlagWords | undefined = () => undefined): Plan {
  const before = new Map((prev?.services ?? []).map((s) => [svcKey(s.spec), s]));
  const after = new Map(next.services.map((s) => [svcKey(s.spec), s]));
  const actions: PlanAction[] = [];
  const removals: PlanAction[] = [];

  // Order. applyPlan runs synchronously, so no packet and no lvsadm request
  // ever sees a half-applied plan; the order only decides how exactly a
  // failure can be undone. Edits and adds undo exactly (edit back, delete the
  // new thing); removals do not (a re-added service loses its counters and
  // list position). So removals go last: they cannot fail (an absent item is
  // skipped), hence nothing ever has to undo one. Before them, service by
  // service in config order: the service (edited or added) first, so a changed
  // scheduler is set up once and then told of each real; its real edits; its
  // new reals in config order (so `--nosort` lists them newest first, as after
  // ipvsadm-restore).
  const pt = prev?.timeouts ?? {};
  const nt = next.timeouts;
  if ((['tcp', 'tcpfin', 'udp'] as const).some((k) => pt[k] !== nt[k])) {
    actions.push({ kind: 'set-timeouts', timeouts: { ...nt }, prev: { ...pt } });
  }
  /** Services whose reals need no action (their removals are not looked for either). */
  const sameReals = new Set<string>();
  for (const [k, now] of after) {
    const old = before.get(k);
    // the same object: the loader reused an unchanged service (config/load.ts)
    if (old && (old === now || (!serviceChanged(old.spec, now.spec) && sameDests(old.dests, now.dests)))) { sameReals.add(k); continue; }
    const words = flagWords(now.spec.scheduler);
    if (!old) actions.push(words ? { kind: 'add-service', spec: now.spec, words } : { kind: 'add-service', spec: now.spec });
    else if (serviceChanged(old.spec, now.spec)) {
      const prevWords = flagWords(old.spec.scheduler);
      actions.push({ kind: 'edit-service', spec: now.spec, prev: old.spec, ...(words ? { words } : {}), ...(prevWords ? { prevWords } : {}) });
    }
    const oldDests = new Map((old?.dests ?? []).map((d) => [destKeyText(d), d]));
    const adds: PlanAction[] = [];
    for (const d of now.dests) {
      const o = oldDests.get(destKeyText(d));
      if (!o) adds.push({ kind: 'add-real', service: now.spec, spec: d });
      else if (destChanged(o, d)) actions.push({ kind: 'edit-real', service: now.spec, spec: d, prev: o });
    }
    actions.push(...adds);
  }
  const removedServices: PlanAction[] = [];
  for (const [k, old] of before) {
    const now = after.get(k);
    if (!now) { removedServices.push({ kind: 'remove-service', spec: old.spec, reals: old.dests.length }); continue; }
    if (sameReals.has(k)) continue;
    const nowDests = new Set(now.dests.map(destKeyText));
    for (const d of old.dests) {
      if (!nowDests.has(destKeyText(d))) removals.push({ kind: 'remove-real', service: now.spec, spec: d });
    }
  }
  actions.push(...removals, ...removedServices);

  const settings: SettingChange[] = [];
  for (const s of ['plugins', 'interfaces', 'neighbors', 'workers', 'maxConnections'] as const) {
    const from = prev ? settingText(prev, s) : settingText({ ...next, plugins: [], interfaces: [], neighbors: {}, workers: undefined, maxConnections: undefined }, s);
    const to = settingText(next, s);
    if (from !== to) settings.push({ setting: s, from, to });
  }
  return { actions, settings };
}

// ------------------------------------------------------------------ re-assert

/**
 * Where health wants a real the running config declares and health follows
 * (lifecycle, checks, sorry server, quorum), when that real is not in the
 * table; undefined when health does not follow it (the file's settings stand).
 */
export type HealthPlacement = (service: ServiceKey, dest: DestSpec) => { present: boolean; weight: number } | undefined;

function sameServiceSpec(live: ServiceSpec, want: ServiceSpec): boolean {
  return !serviceChanged(live, want);
}

/** The live reals by key, for services with many (findDest is a scan). */
function destIndex(svc: { dests: readonly { spec: DestSpec }[] }): Map<string, DestSpec> | null {
  if (svc.dests.length <= 16) return null;
  return new Map(svc.dests.map((d) => [destKeyText(d.spec), d.spec]));
}

/**
 * What to do so that the table holds what config `next` declares, starting
 * from the RUNNING TABLE (not from the previous config): services and reals
 * the file declares are put back if deleted at run time, and their settings
 * reset to the file's if changed at run time (the file wins for what it
 * declares). What the previous config `prev` declared and `next` no longer
 * does is removed; what only lvsadm added (never declared) stays.
 *
 * Health keeps the say it has today over the reals it follows: a real it holds
 * out (down, disabled, draining, the sorry server active) is not put back, and
 * their weight is health's (health's own sync after the apply re-asserts it),
 * except where the file changed the weight since `prev`.
 *
 * Nothing changed on either side: no action, and no key text is built for a
 * real whose live settings already match (a 10 000 × 10 no-op reload is a scan).
 */
export function planReassert(table: ServiceTable, prev: DesiredState | null, next: DesiredState,
  flagWords: (scheduler: string) => SchedFlagWords | undefined = () => undefined,
  health: HealthPlacement = () => undefined): Plan {
  const base = planDiff(prev, next, flagWords);   // its settings, and what prev declared that next does not
  const actions: PlanAction[] = [];
  const removals: PlanAction[] = [];
  const removedServices: PlanAction[] = [];

  // Timeouts: the file's values where it sets them; one it dropped returns to the default.
  const pt = prev?.timeouts ?? {};
  const nt = next.timeouts;
  const live = table.timeouts;
  const tPrev: Partial<Timeouts> = {};
  let tChange = false;
  for (const k of ['tcp', 'tcpfin', 'udp'] as const) {
    const want = nt[k] ?? (pt[k] !== undefined ? DEFAULT_TIMEOUTS[k] : undefined);
    if (want === undefined || live[k] === want) { if (nt[k] !== undefined) tPrev[k] = nt[k]; continue; }
    tChange = true;
    tPrev[k] = nt[k] === undefined ? pt[k] : live[k];
  }
  if (tChange) actions.push({ kind: 'set-timeouts', timeouts: { ...nt }, prev: tPrev });

  // The previous config by key: built only if a weight question needs it (not on a no-op reload).
  let beforeMap: Map<string, DesiredState['services'][number]> | null = null;
  const before = (k: string): DesiredState['services'][number] | undefined => {
    if (!prev) return undefined;
    beforeMap ??= new Map(prev.services.map((s) => [svcKey(s.spec), s]));
    return beforeMap.get(k);
  };
  for (const now of next.services) {
    const svc = table.find(now.spec);
    // The file's previous version of this service, looked up only when a weight question needs it.
    let prevSvc: DesiredState['services'][number] | undefined | null = null;
    const fileChangedWeight = (d: DestSpec): boolean => {
      if (prevSvc === null) prevSvc = before(svcKey(now.spec));
      return weightChanged(prevSvc, d);
    };
    const words = flagWords(now.spec.scheduler);
    if (!svc) {
      // Not in the table (never added, or deleted at run time): added with the reals health would have there.
      actions.push(words ? { kind: 'add-service', spec: now.spec, words } : { kind: 'add-service', spec: now.spec });
      for (const d of now.dests) {
        const p = health(now.spec, d);
        if (p && !p.present) continue;
        const w = p && !fileChangedWeight(d) ? p.weight : d.weight;
        actions.push({ kind: 'add-real', service: now.spec, spec: w === d.weight ? d : { ...d, weight: w } });
      }
      continue;
    }
    if (!sameServiceSpec(svc.spec, now.spec)) {
      const prevWords = flagWords(svc.spec.scheduler);
      actions.push({ kind: 'edit-service', spec: now.spec, prev: { ...svc.spec }, ...(words ? { words } : {}), ...(prevWords ? { prevWords } : {}) });
    }
    const index = destIndex(svc);
    const adds: PlanAction[] = [];
    for (const d of now.dests) {
      const liveSpec = index ? index.get(destKeyText(d)) : svc.findDest(d)?.spec;
      if (!liveSpec) {
        const p = health(now.spec, d);
        if (p && !p.present) continue;   // health holds it out: not the file's to put back
        const w = p && !fileChangedWeight(d) ? p.weight : d.weight;
        adds.push({ kind: 'add-real', service: now.spec, spec: w === d.weight ? d : { ...d, weight: w } });
        continue;
      }
      if (!destChanged(liveSpec, d)) continue;
      // The weight of a real health follows is health's, unless the file changed it.
      const owned = liveSpec.weight !== d.weight && health(now.spec, d) !== undefined && !fileChangedWeight(d);
      const want = owned ? { ...d, weight: liveSpec.weight } : d;
      if (!destChanged(liveSpec, want)) continue;
      actions.push({ kind: 'edit-real', service: now.spec, spec: want, prev: { ...liveSpec } });
    }
    actions.push(...adds);
  }
  // Removals: what prev declared and next does not (planDiff's), present or not (applyOne skips the absent).
  for (const a of base.actions) {
    if (a.kind === 'remove-real') removals.push(a);
    else if (a.kind === 'remove-service') removedServices.push(a);
  }
  actions.push(...removals, ...removedServices);
  return { actions, settings: base.settings };
}

/** Whether the file changed a real's weight since the config `old` (a real new to the file: no). */
function weightChanged(old: DesiredState['services'][number] | undefined, d: DestSpec): boolean {
  if (!old) return false;
  const o = old.dests.find((x) => x.family === d.family && x.addr === d.addr && x.port === d.port);
  return o !== undefined && o.weight !== d.weight;
}

// ------------------------------------------------------------------ text

const FWD_WORD: Record<FwdMethod, string> = { masq: 'nat', route: 'dr', tunnel: 'tun', local: 'local' };


function persistText(s: ServiceSpec): string {
  if (!(s.flags & SVC_F_PERSISTENT)) return 'off';
  const mask = s.family === 'inet' ? u32ToIpv4(s.netmask) : `/${s.netmask}`;
  return `${s.timeout}s mask ${mask}${s.pe ? ` pe ${s.pe}` : ''}`;
}

function serviceText(s: ServiceSpec, words?: SchedFlagWords): string {
  const parts = [`scheduler ${s.scheduler}`];
  if (s.flags & SVC_F_PERSISTENT) parts.push(`persistent ${persistText(s)}`);
  if (s.flags & SVC_F_ONEPACKET) parts.push('ops');
  const f = schedFlagsText(s, words);
  if (f) parts.push(`flags ${f}`);
  return parts.join(' ');
}

/** The tunnel options when set: every other method's real servers carry the defaults (ipip, no port, no checksum). */
function tunnelText(d: DestSpec): string {
  if (d.tunType === 'ipip' && d.tunFlags === 0 && d.tunPort === 0) return '';
  const sum = d.tunFlags === TUN_FLAG_CSUM ? ' csum' : d.tunFlags === TUN_FLAG_REMCSUM ? ' remcsum' : '';
  return ` ${d.tunType}${d.tunPort ? ` port ${d.tunPort}` : ''}${sum}`;
}

function destText(d: DestSpec): string {
  const th = d.uThreshold || d.lThreshold ? ` thresholds ${d.lThreshold}..${d.uThreshold}` : '';
  return `${FWD_WORD[d.fwd]}${tunnelText(d)} weight ${d.weight}${th}`;
}

function serviceDelta(a: ServiceSpec, b: ServiceSpec, aWords?: SchedFlagWords, bWords?: SchedFlagWords): string {
  const out: string[] = [];
  if (a.scheduler !== b.scheduler) out.push(`scheduler ${a.scheduler} -> ${b.scheduler}`);
  const pa = persistText(a);
  const pb = persistText(b);
  if (pa !== pb) out.push(`persistence ${pa} -> ${pb}`);
  if ((a.flags & SVC_F_ONEPACKET) !== (b.flags & SVC_F_ONEPACKET)) out.push(`ops ${a.flags & SVC_F_ONEPACKET ? 'on -> off' : 'off -> on'}`);
  const fa = schedFlagsText(a, aWords) || 'none';
  const fb = schedFlagsText(b, bWords) || 'none';
  if (fa !== fb) out.push(`flags ${fa} -> ${fb}`);
  return out.join(', ');
}

function destDelta(a: DestSpec, b: DestSpec): string {
  const out: string[] = [];
  const fa = `${FWD_WORD[a.fwd]}${tunnelText(a)}`;
  const fb = `${FWD_WORD[b.fwd]}${tunnelText(b)}`;
  if (fa !== fb) out.push(`forward ${fa} -> ${fb}`);
  if (a.weight !== b.weight) out.push(`weight ${a.weight} -> ${b.weight}`);
  if (a.uThreshold !== b.uThreshold) out.push(`upperThreshold ${a.uThreshold} -> ${b.uThreshold}`);
  if (a.lThreshold !== b.lThreshold) out.push(`lowerThreshold ${a.lThreshold} -> ${b.lThreshold}`);
  return out.join(', ');
}

function timeoutsDelta(a: Partial<Timeouts>, b: Partial<Timeouts>): string {
  const out: string[] = [];
  for (const k of ['tcp', 'tcpfin', 'udp'] as const) {
    const from = a[k];
    const to = b[k];
    if (from === to) continue;
    if (from === undefined) out.push(`${k} ${to}`);
    else out.push(`${k} ${from} -> ${to ?? `default ${DEFAULT_TIMEOUTS[k]}`}`);
  }
  return out.join(', ');
}

/** One line per action, for `lvsd --check` and the reload log. */
export function formatAction(a: PlanAction): string {
  switch (a.kind) {
    case 'add-service': return `+ service ${serviceKeyText(a.spec)} ${serviceText(a.spec, a.words)}`;
    case 'edit-service': return `~ service ${serviceKeyText(a.spec)}: ${serviceDelta(a.prev, a.spec, a.prevWords, a.words)}`;
    case 'remove-service':
      return `- service ${serviceKeyText(a.spec)}${a.reals ? ` (and its ${a.reals} real${a.reals === 1 ? '' : 's'})` : ''}`;
    case 'add-real': return `+ real ${destKeyText(a.spec)} in ${serviceKeyText(a.service)} ${destText(a.spec)}`;
    case 'edit-real': return `~ real ${destKeyText(a.spec)} in ${serviceKeyText(a.service)}: ${destDelta(a.prev, a.spec)}`;
    case 'remove-real': return `- real ${destKeyText(a.spec)} in ${serviceKeyText(a.service)}`;
    case 'set-timeouts': return `~ timeouts ${timeoutsDelta(a.prev, a.timeouts)}`;
  }
}

/** The plan as text; `health` are the health subsystem's own change lines, printed after the table's. */
export function formatPlan(plan: Plan, health: readonly string[] = []): string {
  const lines = [...plan.actions.map(formatAction), ...health, ...plan.settings.map((s) => `~ ${s.setting} ${s.from} -> ${s.to}`)];
  return lines.length ? lines.join('\n') : 'no changes';
}

// ------------------------------------------------------------------ apply

/** ipvsadm's words for an errno, by operation (shared/spec/ipvsadm.md §8). */
function reason(kind: PlanAction['kind'], errno: Errno): string {
  const real = kind.endsWith('-real');
  if (errno === 'ESRCH') return real ? 'Service not defined' : 'No such service';
  if (errno === 'EEXIST' && kind === 'add-service') return 'Service already exists';
  if (errno === 'EEXIST' && kind === 'add-real') return 'Destination already exists';
  if (errno === 'ENOENT' && real) return 'No such destination';
  if (errno === 'ENOENT') return 'Scheduler or persistence engine not found';
  return STRERROR[errno];
}

function hint(kind: PlanAction['kind'], errno: Errno): string {
  if (errno === 'EEXIST') return '; it was added at run time (lvsadm?): delete it there, or leave it out of the config';
  if (errno === 'ESRCH' || (errno === 'ENOENT' && kind.endsWith('-real'))) return '; it was deleted at run time (lvsadm?)';
  return '';
}

/** What an action acts on, e.g. `real 10.0.0.2:80 in tcp://10.0.0.1:80`. */
function subject(a: PlanAction): string {
  switch (a.kind) {
    case 'add-service': case 'edit-service': case 'remove-service': return `service ${serviceKeyText(a.spec)}`;
    case 'add-real': case 'edit-real': case 'remove-real': return `real ${destKeyText(a.spec)} in ${serviceKeyText(a.service)}`;
    case 'set-timeouts': return 'timeouts';
  }
}

function failure(a: PlanAction, e: TableError): string {
  const verb = a.kind.split('-')[0]!;
  return `cannot ${verb} ${subject(a)}: ${reason(a.kind, e.errno)} (${e.message}${hint(a.kind, e.errno)})`;
}

/** Field-level merge: the fields the config changed, onto the live values. */
function mergeService(live: ServiceSpec, prev: ServiceSpec, next: ServiceSpec): ServiceSpec {
  const out = { ...live };
  if (prev.scheduler !== next.scheduler) out.scheduler = next.scheduler;
  if (prev.timeout !== next.timeout) out.timeout = next.timeout;
  if (prev.netmask !== next.netmask) out.netmask = next.netmask;
  if (prev.pe !== next.pe) out.pe = next.pe;
  const changedBits = prev.flags ^ next.flags;
  out.flags = ((live.flags & ~changedBits) | (next.flags & changedBits)) >>> 0;
  return out;
}

function mergeDest(live: DestSpec, prev: DestSpec, next: DestSpec): DestSpec {
  const out = { ...live };
  for (const f of DEST_FIELDS) if (prev[f] !== next[f]) (out as Record<typeof f, unknown>)[f] = next[f];
  return out;
}

/** The source of the table changes a config apply makes. */
const CONFIG: ChangeSource = { by: 'config' };
/** Undoing a failed apply: named, so followers (health) do not react to the way back. */
const ROLLBACK: ChangeSource = { by: 'config', name: 'rollback' };

type Undo = () => Result<unknown>;
type Step = { ok: true; undo: Undo[]; skipped?: string } | { ok: false; error: TableError };

function applyOne(table: ServiceTable, a: PlanAction): Step {
  const done = (r: Result<unknown>, undo: Undo[]): Step => (r.ok ? { ok: true, undo } : { ok: false, error: r.error });
  switch (a.kind) {
    case 'remove-real': {
      const live = table.find(a.service)?.findDest(a.spec);
      // Already gone (lvsadm -d): the file and the run time agree; nothing to do.
      if (!live) return { ok: true, undo: [], skipped: `${formatAction(a)}: already absent` };
      const spec = { ...live.spec };
      return done(table.deleteDest(a.service, a.spec, CONFIG), [() => table.addDest(a.service, spec, ROLLBACK)]);
    }
    case 'remove-service': {
      const live = table.find(a.spec);
      if (!live) return { ok: true, undo: [], skipped: `${formatAction(a)}: already absent` };
      const spec = { ...live.spec };
      const dests = live.dests.map((d) => ({ ...d.spec })).reverse();   // oldest first, to re-add in kernel order
      return done(table.deleteService(a.spec, CONFIG), [
        () => table.addService(spec, ROLLBACK),
        ...dests.map((d) => () => table.addDest(spec, d, ROLLBACK)),
      ]);
    }
    case 'edit-service': {
      const live = table.find(a.spec);
      if (!live) return done(table.editService(a.spec, CONFIG), []);   // fails with ESRCH
      const before = { ...live.spec };
      return done(table.editService(mergeService(before, a.prev, a.spec), CONFIG), [() => table.editService(before, ROLLBACK)]);
    }
    case 'add-service':
      return done(table.addService(a.spec, CONFIG), [() => table.deleteService(a.spec, ROLLBACK)]);
    case 'edit-real': {
      const live = table.find(a.service)?.findDest(a.spec);
      if (!table.find(a.service)) return done(table.editDest(a.service, a.spec, CONFIG), []);   // fails with ESRCH
      // Kept out at run time (health: down, disabled, sorry server; or lvsadm -d): not the
      // config's to put back. Health has the new settings and uses them when it adds it back.
      if (!live) return { ok: true, undo: [], skipped: `${formatAction(a)}: not in the table (kept out by health or lvsadm): left out` };
      const before = { ...live.spec };
      return done(table.editDest(a.service, mergeDest(before, a.prev, a.spec), CONFIG), [() => table.editDest(a.service, before, ROLLBACK)]);
    }
    case 'add-real':
      // Undo: health may already have taken it out again (it starts down: alpha, disabled, sorry server).
      return done(table.addDest(a.service, a.spec, CONFIG), [
        () => (table.find(a.service)?.findDest(a.spec) ? table.deleteDest(a.service, a.spec, ROLLBACK) : { ok: true, value: undefined }),
      ]);
    case 'set-timeouts': {
      const before = { ...table.timeouts };
      const set: Timeouts = { tcp: 0, tcpfin: 0, udp: 0 };   // 0 = leave as is (ipvsadm --set)
      for (const k of ['tcp', 'tcpfin', 'udp'] as const) {
        if (a.prev[k] !== a.timeouts[k]) set[k] = a.timeouts[k] ?? DEFAULT_TIMEOUTS[k];
      }
      return done(table.setTimeouts(set, CONFIG), [() => table.setTimeouts(before, ROLLBACK)]);
    }
  }
}

/**
 * Existence checks for the whole plan before anything is touched, so that the
 * usual conflict with run-time changes (EEXIST, ESRCH, ENOENT) fails with the
 * table exactly as it was: undoing a removal cannot restore counters or list order.
 */
function precheck(table: ServiceTable, plan: Plan): { action: PlanAction; error: TableError } | null {
  // What the plan has added (true) or removed (false) so far, over the live table:
  // O(plan), where a set of every service's key cost O(table) per reload.
  const overlay = new Map<string, boolean>();
  const present = (k: ServiceKey, text: string): boolean => overlay.get(text) ?? table.find(k) !== undefined;
  const fresh = new Set<string>();
  const mk = (errno: Errno, message: string): TableError => new TableError(errno, message);
  for (const a of plan.actions) {
    switch (a.kind) {
      case 'remove-service': overlay.set(svcKey(a.spec), false); break;
      case 'edit-service':
        if (!present(a.spec, svcKey(a.spec))) return { action: a, error: mk('ESRCH', `no service ${serviceKeyText(a.spec)}`) };
        break;
      case 'add-service': {
        const k = svcKey(a.spec);
        if (present(a.spec, k)) return { action: a, error: mk('EEXIST', `service ${serviceKeyText(a.spec)} already exists`) };
        overlay.set(k, true);
        fresh.add(k);
        break;
      }
      case 'edit-real':
      case 'add-real': {
        const k = svcKey(a.service);
        if (!present(a.service, k)) return { action: a, error: mk('ESRCH', `no service ${serviceKeyText(a.service)}`) };
        if (fresh.has(k)) break;
        const exists = table.find(a.service)?.findDest(a.spec) !== undefined;
        // An edit of an absent real is skipped (applyOne), not refused.
        if (a.kind === 'add-real' && exists) return { action: a, error: mk('EEXIST', `real server ${destKeyText(a.spec)} already exists`) };
        break;
      }
      default: break;
    }
  }
  return null;
}

/** Applies the plan to the live table, all or nothing. */
/**
 * Runs a table step; an exception (operator plugin code runs inside table
 * operations: scheduler hooks) becomes a failed step, so the plan rolls back.
 */
function guarded<T extends { ok: boolean }>(f: () => T): T | { ok: false; error: TableError } {
  try {
    return f();
  } catch (e) {
    return { ok: false, error: new TableError('EINVAL', `a plugin hook threw: ${(e as Error).message}`) };
  }
}

export function applyPlan(table: ServiceTable, plan: Plan): ApplyResult {
  const pre = precheck(table, plan);
  if (pre) return { ok: false, error: `${failure(pre.action, pre.error)}; nothing was changed` };
  const undo: Undo[] = [];
  const skipped: string[] = [];
  const counts = { added: 0, edited: 0, removed: 0 };
  for (const a of plan.actions) {
    const step = guarded(() => applyOne(table, a));
    if (!step.ok) {
      const broken: string[] = [];
      for (const u of undo.reverse()) {
        const r = guarded(u);
        if (!r.ok) broken.push(r.error.message);
      }
      const after = broken.length
        ? `; rolling back also failed (${broken.join('; ')}): the table may be partly changed`
        : '; every change already made was undone';
      return { ok: false, error: `${failure(a, step.error)}${after}` };
    }
    // Each step's own undo list runs in order (e.g. re-add a service, then its reals).
    undo.push(() => {
      for (const u of step.undo) { const r = u(); if (!r.ok) return r; }
      return { ok: true, value: undefined };
    });
    if (step.skipped) { skipped.push(step.skipped); continue; }
    if (a.kind.startsWith('add')) counts.added++;
    else if (a.kind.startsWith('remove')) counts.removed++;
    else counts.edited++;
  }
  return skipped.length ? { ok: true, counts, skipped } : { ok: true, counts };
}

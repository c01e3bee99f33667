// sched-trace: runs one scheduler over a scripted scenario on a virtual clock
// and reports each decision, one line per `schedule` step ("addr:port", IPv6
// as "[addr]:port", or "-" when the scheduler found nothing). The service and
// its real servers live in a real ServiceTable, so list order, dest revival,
// `-e` edits and the OVERLOAD rules are the table's (shared/spec/schedulers.md §0).
//
// Scenario (JSON):
//   scheduler  string         scheduler name (as -s)
//   flags      string[]       -b words: flag-1..3 and the scheduler's own (sh-fallback, sh-port, …)
//   seed       number         seed of ctx.randomU32 (twos); default 1
//   init       "empty" | "after-dests"
//              empty (default): the service is created empty with the scheduler
//              and `dests` are added one by one (ipvsadm -A, then -a ...).
//              after-dests: the service is created without a scheduler, the
//              dests are added, then the scheduler is set (-E -s): its state
//              is initialised with the dests already present.
//   sysctl     { name: number }  e.g. { "lblc_expiration": 300 }
//   service    { protocol, address, port } or { fwmark, family? }
//   dests      [{ address, port, weight, upper?, lower? }]
//   steps      [{ op: schedule | set | add | remove | release | time, ... }]
//     schedule { client "ip:port", dst? "ip:port" (default: the VIP), bind? active|inactive|none,
//                protocol?, repeat? n (the same request n times, n lines) }
//     set      { dest "ip:port", active?, inactive?, overloaded?, weight?, upper?, lower? }
//              counters are written as-is; weight/thresholds go through `-e`.
//     add      { dest { address, port, weight, upper?, lower? } }
//     remove   { dest "ip:port" }
//     release  { dest "ip:port", state? active|inactive|template }   (one connection ends)
//     time     { advance seconds }   runs the scheduler's ticks that fall due
//
// Times in the scenario are seconds (as an operator writes them); the
// virtual clock the scheduler reads (ctx.now()) is milliseconds, the
// project's one time unit.

import { canonicalAddr, addrFold32, formatEndpoint, type Family } from '../../core/model/addr.js';
import { Dest, ServiceTable, type ConnKind, type SchedulerLookup } from '../../core/model/table.js';
import {
  DEFAULT_NETMASK_V4, DEFAULT_NETMASK_V6,
  type DestSpec, type Protocol, type ServiceKey, type ServiceSpec,
} from '../../core/model/types.js';
import { parseSchedFlags } from '../../core/model/rules.js';
import type { SchedContext, SchedPacket, SchedulerPlugin } from '../../core/plugin.js';
import { BUILTIN_SCHEDULERS, builtinScheduler } from '../../plugins/schedulers/lib/builtin.js';
import { builtinForwarder } from '../../plugins/forwarding/lib/builtin.js';

export interface SchedTraceOptions {
  /** Where scheduler names are looked up; default: the built-in schedulers. */
  schedulers?: SchedulerLookup;
}

export type SchedTraceResult =
  | { ok: true; lines: string[]; logs: string[] }
  | { ok: false; error: string };

class ScenarioError extends Error {}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** splitmix32: a small seedable PRNG for ctx.randomU32. */
function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

interface Endpoint { family: Family; addr: string; port: number }

export function runSchedTrace(scenario: unknown, opts: SchedTraceOptions = {}): SchedTraceResult {
  try {
    return runOrThrow(scenario, opts);
  } catch (e) {
    if (e instanceof ScenarioError) return { ok: false, error: e.message };
    throw e;
  }
}

function runOrThrow(scenario: unknown, opts: SchedTraceOptions): SchedTraceResult {
  const err = (where: string, msg: string): never => { throw new ScenarioError(`${where}: ${msg}`); };
  if (!isObj(scenario)) err('scenario', 'must be a JSON object');
  const sc = scenario as Obj;
  const knownFields = new Set(['scheduler', 'flags', 'seed', 'init', 'sysctl', 'service', 'dests', 'steps', 'comment', 'description', 'name', 'spec', 'expect', 'expectLogs']);
  for (const k of Object.keys(sc)) if (!knownFields.has(k)) err(`field "${k}"`, 'unknown field');

  const lookup: SchedulerLookup = opts.schedulers ?? builtinScheduler;
  const schedName = sc['scheduler'];
  if (typeof schedName !== 'string' || schedName === '') err('field "scheduler"', 'must be a scheduler name');
  const plugin: SchedulerPlugin<unknown> | undefined = lookup(schedName as string);
  if (!plugin) err('field "scheduler"', `unknown scheduler "${String(schedName)}"`);
  const sched = plugin!;

  const flagWords = sc['flags'] ?? [];
  if (!Array.isArray(flagWords) || !flagWords.every((w) => typeof w === 'string')) err('field "flags"', 'must be an array of -b flag names');
  // a word of another built-in scheduler is "incompatible", as ipvsadm says it
  const elsewhere = (w: string): boolean => BUILTIN_SCHEDULERS.some((s) => s.flags !== undefined && Object.hasOwn(s.flags, w));
  const pf = parseSchedFlags(flagWords as string[], sched.flags, elsewhere);
  if ('error' in pf) err('field "flags"', pf.error);
  const flags = (pf as { flags: number }).flags;

  const seed = sc['seed'] ?? 1;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) err('field "seed"', 'must be an integer');
  const init = sc['init'] ?? 'empty';
  if (init !== 'empty' && init !== 'after-dests') err('field "init"', 'must be "empty" or "after-dests"');

  const sysctlRaw = sc['sysctl'] ?? {};
  if (!isObj(sysctlRaw)) err('field "sysctl"', 'must be an object of name: number');
  const sysctl = new Map<string, number>();
  for (const [k, v] of Object.entries(sysctlRaw as Obj)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) err(`field "sysctl.${k}"`, 'must be a number');
    sysctl.set(k, v as number);
  }

  // ------------------------------------------------------------ service
  const svcRaw = sc['service'];
  if (!isObj(svcRaw)) err('field "service"', 'must be an object { protocol, address, port } or { fwmark }');
  const sv = svcRaw as Obj;
  const protoRaw = sv['protocol'] ?? 'tcp';
  if (protoRaw !== 'tcp' && protoRaw !== 'udp' && protoRaw !== 'sctp') err('field "service.protocol"', 'must be tcp, udp or sctp');
  const protocol = protoRaw as Protocol;
  const fwmarkRaw = sv['fwmark'] ?? 0;
  if (typeof fwmarkRaw !== 'number' || !Number.isInteger(fwmarkRaw) || fwmarkRaw < 0 || fwmarkRaw > 0xffffffff) {
    err('field "service.fwmark"', 'must be an integer 0..4294967295');
  }
  const fwmark = fwmarkRaw as number;
  let family: Family;
  let vaddr: string;
  let vport: number;
  if (fwmark > 0) {
    const fam = sv['family'] ?? 'inet';
    if (fam !== 'inet' && fam !== 'inet6') err('field "service.family"', 'must be inet or inet6');
    family = fam as Family;
    vaddr = family === 'inet' ? '0.0.0.0' : '::';
    vport = 0;
  } else {
    const a = typeof sv['address'] === 'string' ? canonicalAddr(sv['address'] as string) : null;
    if (!a) err('field "service.address"', 'must be an IPv4 or IPv6 address');
    family = a!.family;
    vaddr = a!.addr;
    const p = sv['port'];
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 65535) err('field "service.port"', 'must be a port 0..65535');
    vport = p as number;
  }
  const svcKey: ServiceKey = { family, protocol, addr: vaddr, port: vport, fwmark };
  const svcSpec = (scheduler: string): ServiceSpec => ({
    ...svcKey, scheduler, flags, timeout: 300,
    netmask: family === 'inet' ? DEFAULT_NETMASK_V4 : DEFAULT_NETMASK_V6, pe: '',
  });

  // ------------------------------------------------------------ virtual world
  let now = 0;   // ms
  const logs: string[] = [];
  const rand = splitmix32(seed as number);
  const ctx: SchedContext = {
    now: () => now,
    randomU32: rand,
    log: (m) => { logs.push(m); },
    sysctl: (name) => sysctl.get(name),
  };
  const table = new ServiceTable({ schedulers: (n) => (n === sched.name ? sched : lookup(n)), forwarder: builtinForwarder, ctx });
  const tableErr = (where: string, r: { ok: false; error: { errno: string; message: string } }): never =>
    err(where, `${r.error.message} (${r.error.errno})`);

  const parseEndpoint = (v: unknown, where: string): Endpoint => {
    if (typeof v !== 'string') err(where, 'must be "address:port" (IPv6 as "[address]:port")');
    const s = v as string;
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
    const a = m ? canonicalAddr(m[1]!) : null;
    const port = m ? Number(m[2]) : -1;
    if (!m || !a || port > 65535) err(where, `"${s}" is not "address:port" (IPv6 as "[address]:port")`);
    return { family: a!.family, addr: a!.addr, port };
  };
  const intField = (o: Obj, k: string, where: string, min: number, max: number): number | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) err(`${where}: field "${k}"`, `must be an integer ${min}..${max}`);
    return v as number;
  };
  const destSpecOf = (v: unknown, where: string): DestSpec => {
    if (!isObj(v)) err(where, 'must be an object { address, port, weight, upper?, lower? }');
    const o = v as Obj;
    for (const k of Object.keys(o)) {
      if (!['address', 'port', 'weight', 'upper', 'lower'].includes(k)) err(`${where}: field "${k}"`, 'unknown field');
    }
    const a = typeof o['address'] === 'string' ? canonicalAddr(o['address'] as string) : null;
    if (!a) err(`${where}: field "address"`, 'must be an IPv4 or IPv6 address');
    const port = intField(o, 'port', where, 0, 65535);
    if (port === undefined) err(`${where}: field "port"`, 'is required');
    return {
      family: a!.family, addr: a!.addr, port: port!, fwd: a!.family === family ? 'masq' : 'tunnel',
      weight: intField(o, 'weight', where, 0, 0x7fffffff) ?? 1,
      uThreshold: intField(o, 'upper', where, 0, 0x7fffffff) ?? 0,
      lThreshold: intField(o, 'lower', where, 0, 0x7fffffff) ?? 0,
      tunType: 'ipip', tunPort: 0, tunFlags: 0,
    };
  };

  // Ticks: every tickInterval (ms) from the moment the scheduler was initialised.
  const interval = sched.tick && sched.tickInterval && sched.tickInterval > 0 ? sched.tickInterval : 0;
  let nextTick = Infinity;

  if (init === 'empty') {
    const r = table.addService(svcSpec(sched.name));
    if (!r.ok) tableErr('field "service"', r);
  } else {
    const r = table.addService(svcSpec('none'));
    if (!r.ok) tableErr('field "service"', r);
  }
  /** Every dest the trace created, including deleted ones (their connections still expire). */
  const known = new Map<string, Dest>();
  const dests = sc['dests'] ?? [];
  if (!Array.isArray(dests)) err('field "dests"', 'must be an array');
  (dests as unknown[]).forEach((d, i) => {
    const spec = destSpecOf(d, `dests[${i}]`);
    const r = table.addDest(svcKey, spec);
    if (!r.ok) tableErr(`dests[${i}]`, r);
    else known.set(formatEndpoint(spec.family, spec.addr, spec.port), r.value);
  });
  if (init === 'after-dests') {
    const r = table.editService(svcSpec(sched.name));
    if (!r.ok) tableErr('field "scheduler"', r);
  }
  if (interval > 0) nextTick = now + interval;
  const svc = table.find(svcKey)!;

  const findDest = (v: unknown, where: string): Dest => {
    const ep = parseEndpoint(v, where);
    const d = svc.findDest(ep);
    if (!d) err(where, `no real server ${formatEndpoint(ep.family, ep.addr, ep.port)} in the service`);
    return d!;
  };

  // ------------------------------------------------------------ steps
  const steps = sc['steps'];
  if (!Array.isArray(steps)) err('field "steps"', 'must be an array');
  const lines: string[] = [];
  (steps as unknown[]).forEach((st, i) => {
    const at = `step ${i}`;
    if (!isObj(st)) err(at, 'must be an object with an "op"');
    const s = st as Obj;
    const op = s['op'];
    const w = `${at} (${String(op)})`;
    const allow = (...keys: string[]): void => {
      for (const k of Object.keys(s)) if (k !== 'op' && k !== 'comment' && !keys.includes(k)) err(`${w}: field "${k}"`, 'unknown field');
    };
    switch (op) {
      case 'schedule': {
        allow('client', 'dst', 'bind', 'protocol', 'repeat');
        const repeat = intField(s, 'repeat', w, 1, 1_000_000) ?? 1;
        const c = parseEndpoint(s['client'], `${w}: field "client"`);
        let dst: Endpoint;
        if (s['dst'] === undefined) {
          if (fwmark > 0) err(`${w}: field "dst"`, 'is required for a fwmark service');
          dst = { family, addr: vaddr, port: vport };
        } else {
          dst = parseEndpoint(s['dst'], `${w}: field "dst"`);
        }
        if (c.family !== family || dst.family !== family) err(w, `client and dst must be ${family === 'inet' ? 'IPv4' : 'IPv6'} like the service`);
        const bind = s['bind'] ?? 'active';
        if (bind !== 'active' && bind !== 'inactive' && bind !== 'none') err(`${w}: field "bind"`, 'must be active, inactive or none');
        const pr = s['protocol'] ?? protocol;
        if (pr !== 'tcp' && pr !== 'udp' && pr !== 'sctp') err(`${w}: field "protocol"`, 'must be tcp, udp or sctp');
        const pkt: SchedPacket = {
          family, protocol: pr as Protocol, saddr: c.addr, daddr: dst.addr,
          saddr32: addrFold32(family, c.addr), daddr32: addrFold32(family, dst.addr), sport: c.port, dport: dst.port,
        };
        for (let k = 0; k < repeat; k++) {
          const chosen = svc.sched ? svc.sched.schedule(svc, svc.schedState, pkt, ctx) : null;
          if (chosen === null) { lines.push('-'); continue; }
          lines.push(formatEndpoint(chosen.family, chosen.addr, chosen.port));
          if (bind !== 'none') {
            if (!(chosen instanceof Dest)) err(w, `scheduler "${sched.name}" returned an object that is not one of the service's real servers`);
            table.bindConn(chosen as Dest, bind as ConnKind);
          }
        }
        break;
      }
      case 'set': {
        allow('dest', 'active', 'inactive', 'overloaded', 'weight', 'upper', 'lower');
        const d = findDest(s['dest'], `${w}: field "dest"`);
        const active = intField(s, 'active', w, 0, 0x7fffff);
        const inactive = intField(s, 'inactive', w, 0, 0x7fffffff);
        const weight = intField(s, 'weight', w, 0, 0x7fffffff);
        const upper = intField(s, 'upper', w, 0, 0x7fffffff);
        const lower = intField(s, 'lower', w, 0, 0x7fffffff);
        const ov = s['overloaded'];
        if (ov !== undefined && typeof ov !== 'boolean') err(`${w}: field "overloaded"`, 'must be true or false');
        if (active !== undefined) d.activeConns = active;
        if (inactive !== undefined) d.inactConns = inactive;
        if (ov !== undefined) d.overloaded = ov as boolean;
        if (weight !== undefined || upper !== undefined || lower !== undefined) {
          const spec: DestSpec = { ...d.spec };
          if (weight !== undefined) spec.weight = weight;
          if (upper !== undefined) spec.uThreshold = upper;
          if (lower !== undefined) spec.lThreshold = lower;
          const r = table.editDest(svcKey, spec);
          if (!r.ok) tableErr(w, r);
        }
        break;
      }
      case 'add': {
        allow('dest');
        const spec = destSpecOf(s['dest'], `${w}: field "dest"`);
        const r = table.addDest(svcKey, spec);
        if (!r.ok) tableErr(w, r);
        else known.set(formatEndpoint(spec.family, spec.addr, spec.port), r.value);
        break;
      }
      case 'remove': {
        allow('dest');
        const ep = parseEndpoint(s['dest'], `${w}: field "dest"`);
        const r = table.deleteDest(svcKey, ep);
        if (!r.ok) tableErr(w, r);
        break;
      }
      case 'release': {
        allow('dest', 'state');
        const ep = parseEndpoint(s['dest'], `${w}: field "dest"`);
        // A trashed dest still has connections that expire: look there too.
        const d = svc.findDest(ep) ?? known.get(formatEndpoint(ep.family, ep.addr, ep.port));
        if (!d) err(`${w}: field "dest"`, `no real server ${formatEndpoint(ep.family, ep.addr, ep.port)}`);
        const state = s['state'] ?? 'active';
        if (state !== 'active' && state !== 'inactive' && state !== 'template') err(`${w}: field "state"`, 'must be active, inactive or template');
        const count = state === 'active' ? d!.activeConns : state === 'inactive' ? d!.inactConns : d!.persistConns;
        if (count <= 0) err(`${w}: field "state"`, `${formatEndpoint(d!.family, d!.addr, d!.port)} has no ${state} connection to release`);
        table.unbindConn(d!, state as ConnKind);
        break;
      }
      case 'time': {
        allow('advance');
        const adv = s['advance'];
        if (typeof adv !== 'number' || !Number.isFinite(adv) || adv < 0) err(`${w}: field "advance"`, 'must be a number of seconds >= 0');
        const target = now + (adv as number) * 1000;
        while (nextTick <= target) {
          now = nextTick;
          if (svc.sched?.tick) svc.sched.tick(svc, svc.schedState, ctx);
          nextTick += interval;
        }
        now = target;
        break;
      }
      default:
        err(`${at}: field "op"`, `must be schedule, set, add, remove, release or time (got ${JSON.stringify(op)})`);
    }
  });
  return { ok: true, lines, logs };
}

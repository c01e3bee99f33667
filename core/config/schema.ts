// Run-time check of the object config.ts exports, and its normalisation into
// table specs. Hand-written rather than zod: the rules are ipvsadm's and the
// kernel's (shared/spec/ipvsadm.md §3-§4), and each message should read like
// advice to an LVS operator, naming the field path (services[0].reals[1].weight).
//
// The object comes out of a node:vm context, so nothing here relies on
// `instanceof` or prototype identity (another realm's Object/Array).

import { isAbsolute, dirname, resolve } from 'node:path';
import { canonicalAddr, ipv4ToU32, ipv6ToBytes, maskToPrefix, u32ToIpv4, type Family } from '../model/addr.js';
import {
  DEFAULT_NETMASK_V4, DEFAULT_NETMASK_V6, SVC_F_ONEPACKET, SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3,
  TUN_FLAG_CSUM, TUN_FLAG_REMCSUM,
  destKeyText, serviceKeyText,
  type DestSpec, type FwdMethod, type Protocol, type ServiceSpec, type Timeouts, type TunType,
} from '../model/types.js';
import {
  DEFAULT_PERSISTENCE, MAX_PERSISTENCE, MAX_THRESHOLD, MAX_WEIGHT, destRuleError, serviceRuleError,
} from '../model/rules.js';
import type { SchedFlagWords } from '../plugin.js';
import type { ForwardMode } from './types.js';
import type { ZodType } from 'zod';
import { validateDetailed as validateCron } from 'node-cron';
import { commandArgv } from '../health/script.js';
import type {
  CheckerSettings, LifecycleOp, RealHealthSettings, ScheduleEntry, ServiceHealthSettings, SlowStart,
} from '../health/types.js';

/** What a good config becomes: table specs plus the daemon-level settings. */
export interface DesiredState {
  /** In config order; each service's reals in config order. */
  services: { spec: ServiceSpec; dests: DestSpec[]; health?: ServiceHealthSettings }[];
  /** Scheduled actions, in config order. */
  schedule?: ScheduleEntry[];
  /** Only the timeouts the config sets (seconds). */
  timeouts: Partial<Timeouts>;
  /** Plugin folders, absolute. */
  plugins: string[];
  interfaces: InterfaceSpec[];
  /** Canonical IP → lower-case MAC. */
  neighbors: Record<string, string>;
  /** Default gateways (at most one per family), canonical; the memory wire's next hop off-link. */
  gateways?: string[];
  workers?: number;
  maxConnections?: number;
  /** Values of the root keys control-plane plugins own (ValidateContext.pluginKeys), parsed by their schemas. */
  pluginConfig?: Record<string, unknown>;
}

/** A director interface: name, MAC, MTU and its addresses as CIDR (`192.168.10.1/24`, canonical address). */
export interface InterfaceSpec {
  name: string;
  mac?: string;
  mtu?: number;
  addresses?: string[];
}

/** One thing wrong with the config. `message` is complete without the path. */
export interface ConfigIssue {
  /** Field path, e.g. `services[0].reals[1].weight`; '' for the whole config. */
  path: string;
  /** What is wrong, ending with `(got …)` where a value is at fault. */
  message: string;
  /** The offending value, when there is one (for locating it in the source). */
  value?: unknown;
  /** Where in the source, when load.ts could find it. */
  file?: string;
  line?: number;
  column?: number;
  /** True when the location was found by a text search rather than by structure. */
  approximate?: boolean;
}

export interface ValidateContext {
  /** The config file (plugin folders are relative to its folder). */
  file: string;
  knownSchedulers: (name: string) => boolean;
  /** Persistence engines; default ['sip'] as the kernel ships. */
  knownEngines?: string[];
  /** Scheduler names, only for "did you mean" suggestions. */
  schedulerNames?: string[];
  /** Root keys owned by control-plane plugins, with the schema of each value. */
  pluginKeys?: ReadonlyMap<string, ZodType>;
}

export type ValidateResult = { ok: true; desired: DesiredState } | { ok: false; errors: ConfigIssue[] };

/**
 * Bridge until the schema reads flag words from the schedulers themselves
 * (ValidateContext.schedulerFlags, SchedulerPlugin.flags): the `-b` words
 * and the bit each sets; `only` = the scheduler a word needs. Moved here
 * unchanged from core/model/rules.ts.
 */
const SCHED_FLAG_WORDS: Readonly<Record<string, { bit: number; only?: string }>> = {
  'flag-1': { bit: SVC_F_SCHED1 }, 'flag-2': { bit: SVC_F_SCHED2 }, 'flag-3': { bit: SVC_F_SCHED3 },
  'sh-fallback': { bit: SVC_F_SCHED1, only: 'sh' }, 'sh-port': { bit: SVC_F_SCHED2, only: 'sh' },
  'mh-fallback': { bit: SVC_F_SCHED1, only: 'mh' }, 'mh-port': { bit: SVC_F_SCHED2, only: 'mh' },
};

/** A scheduler's own `-b` words as SCHED_FLAG_WORDS has them (the plan's text names flags with them). */
export function schedFlagWordsOf(scheduler: string): SchedFlagWords | undefined {
  const own = Object.entries(SCHED_FLAG_WORDS).filter(([, d]) => d.only === scheduler);
  return own.length > 0 ? Object.fromEntries(own.map(([w, d]) => [w, d.bit])) : undefined;
}

/** The schedulers Linux IPVS ships (shared/spec/schedulers.md). */
export const KERNEL_SCHEDULERS: readonly string[] = [
  'rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos',
];

const MAX_PERSIST_TIMEOUT = MAX_PERSISTENCE;   // 31 days, ipvsadm's -p limit
const DEFAULT_PERSIST_TIMEOUT = DEFAULT_PERSISTENCE;
const SCHEDNAME_MAX = 15;              // IP_VS_SCHEDNAME_MAXLEN - 1
const IFNAME_MAX = 15;                 // IFNAMSIZ - 1
const MAX_WORKERS = 1024;

const FWD_OF: Record<ForwardMode, FwdMethod> = { nat: 'masq', dr: 'route', tun: 'tunnel' };

const ROOT_KEYS = ['interfaces', 'timeouts', 'plugins', 'neighbors', 'gateway', 'workers', 'maxConnections', 'services', 'schedule'];
const SERVICE_KEYS = ['protocol', 'address', 'port', 'fwmark', 'ipv6', 'scheduler', 'schedFlags',
  'persistence', 'onePacket', 'forward', 'reals',
  'health', 'inhibitOnFailure', 'quorum', 'hysteresis', 'quorumUp', 'quorumDown', 'sorryServer',
  'sorryServerInhibit', 'alpha', 'omega', 'virtualhost', 'slowStart'];
const REAL_KEYS = ['address', 'port', 'weight', 'forward', 'upperThreshold', 'lowerThreshold', 'tunnel',
  'health', 'inhibitOnFailure', 'notifyUp', 'notifyDown', 'slowStart', 'lifecycle', 'drainDeadline', 'virtualhost'];
/** Options every checker takes; anything else goes to the checker plugin, which refuses what it does not know. */
export const HEALTH_COMMON_KEYS = ['check', 'interval', 'timeout', 'retry', 'delayBeforeRetry', 'warmup', 'alpha',
  'rise', 'fall', 'jitter', 'connectIp', 'connectPort', 'bindto', 'bindPort', 'virtualhost', 'logAllFailures', 'fastRecovery'];
const SORRY_KEYS = ['address', 'port', 'forward', 'weight'];
const SLOWSTART_KEYS = ['seconds', 'from'];
const SCHEDULE_KEYS = ['cron', 'timezone', 'name', 'drain', 'fill', 'disable', 'enable', 'weight'];
const SCHEDULE_ACTIONS = ['drain', 'fill', 'disable', 'enable', 'weight'] as const;
/** The built-in checkers, named in messages before plugins are loaded. */
export const BUILTIN_CHECKS: readonly string[] = ['tcp', 'http', 'https', 'udp', 'dns', 'smtp', 'ping', 'exec'];
/** 31 days: the longest interval, timeout or deadline that makes sense. */
const MAX_SECONDS = 2678400;
const PERSIST_KEYS = ['timeout', 'netmask', 'engine'];
const TUNNEL_KEYS = ['type', 'port', 'checksum'];
const TIMEOUT_KEYS = ['tcp', 'tcpfin', 'udp'];
const IFACE_KEYS = ['name', 'mac', 'mtu', 'addresses'];

// ------------------------------------------------------------------ helpers

type Obj = Record<string, unknown>;

/** A short, operator-readable rendering of a wrong value for `(got …)`. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'function') return 'a function';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return 'an object';
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Edit distance with adjacent transpositions (optimal string alignment); key names are short. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidate within a typo's reach, or undefined. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.toLowerCase() === word.toLowerCase() ? 0 : distance(word, c);
    if (d < bestD) { best = c; bestD = d; }
  }
  return best !== undefined && bestD <= Math.max(1, Math.min(2, Math.floor(word.length / 3))) ? best : undefined;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Collects issues while walking the config; each check returns the value or undefined. */
class Checker {
  readonly issues: ConfigIssue[] = [];

  /** Records an issue; pass the offending value (even undefined) to have `(got …)` added. */
  err(path: string, message: string, ...got: [] | [unknown]): undefined {
    const issue: ConfigIssue = { path, message: got.length ? `${message} (got ${describeValue(got[0])})` : message };
    if (got.length) issue.value = got[0];
    this.issues.push(issue);
    return undefined;
  }

  /** Unknown keys are errors: they are almost always typos that would silently do nothing. */
  keys(path: string, o: Obj, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (allowed.includes(k)) continue;
      const hint = didYouMean(k, allowed);
      this.issues.push({
        path: join(path, k),
        message: hint ? `unknown setting; did you mean '${hint}'?` : `unknown setting (known here: ${allowed.join(', ')})`,
      });
    }
  }

  object(path: string, v: unknown): Obj | undefined {
    return isObj(v) ? v : this.err(path, 'must be an object', v);
  }

  array(path: string, v: unknown): unknown[] | undefined {
    return Array.isArray(v) ? v : this.err(path, 'must be an array', v);
  }

  int(path: string, v: unknown, min: number, max: number, what = 'an integer'): number | undefined {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      return this.err(path, `must be ${what} ${min}..${max}`, v);
    }
    return v;
  }

  bool(path: string, v: unknown): boolean | undefined {
    return typeof v === 'boolean' ? v : this.err(path, 'must be true or false', v);
  }

  oneOf<T extends string>(path: string, v: unknown, allowed: readonly T[]): T | undefined {
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    const hint = typeof v === 'string' ? didYouMean(v, allowed) : undefined;
    return this.err(path, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}${hint ? ` (did you mean '${hint}'?)` : ''}`, v);
  }

  address(path: string, v: unknown): { family: Family; addr: string } | undefined {
    if (typeof v !== 'string') return this.err(path, 'must be an IPv4 or IPv6 address as a string', v);
    const a = canonicalAddr(v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : v);
    if (!a) {
      const hint = /:\d+$/.test(v) && canonicalAddr(v.replace(/:\d+$/, '')) ? '; give the port in `port`, not in the address' : '';
      return this.err(path, `is not an IPv4 or IPv6 address${hint}`, v);
    }
    return a;
  }
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** Whether the kernel would take this address for a real server (RTN_UNICAST/RTN_LOCAL, not link-local). */
function unicastProblem(family: Family, addr: string): string | undefined {
  if (family === 'inet') {
    const n = ipv4ToU32(addr)!;
    if (n >>> 24 === 0) return 'is in 0.0.0.0/8, not a unicast address';
    if (n === 0xffffffff) return 'is the broadcast address, not a unicast address';
    if ((n >>> 28) === 0xe) return 'is a multicast address, not a unicast address';
    return undefined;
  }
  const b = ipv6ToBytes(addr)!;
  if (b[0] === 0xff) return 'is a multicast address, not a unicast address';
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return 'is an IPv6 link-local address, which the kernel refuses for a real server';
  if (b.every((x) => x === 0)) return 'is the unspecified address ::, not a unicast address';
  return undefined;
}

// ------------------------------------------------------------------ services

interface ServiceDraft { spec: ServiceSpec; dests: DestSpec[]; forward: ForwardMode; health?: ServiceHealthSettings }

function persistence(c: Checker, path: string, v: unknown, family: Family, ctx: ValidateContext):
  { timeout: number; netmask: number; pe: string } | undefined {
  const dflt = { timeout: DEFAULT_PERSIST_TIMEOUT, netmask: family === 'inet' ? DEFAULT_NETMASK_V4 : DEFAULT_NETMASK_V6, pe: '' };
  if (v === true) return dflt;
  const o = c.object(path, v);
  if (!o) return undefined;
  c.keys(path, o, PERSIST_KEYS);
  const out = { ...dflt };
  if (o.timeout !== undefined) {
    const t = c.int(join(path, 'timeout'), o.timeout, 1, MAX_PERSIST_TIMEOUT, 'a whole number of seconds');
    if (t !== undefined) out.timeout = t;
  }
  if (o.netmask !== undefined) {
    const m = netmask(c, join(path, 'netmask'), o.netmask, family);
    if (m !== undefined) out.netmask = m;
  }
  if (o.engine !== undefined) {
    const engines = ctx.knownEngines ?? ['sip'];
    if (typeof o.engine !== 'string') c.err(join(path, 'engine'), 'must be a persistence engine name', o.engine);
    else if (!engines.includes(o.engine)) {
      c.err(join(path, 'engine'), `unknown persistence engine (known: ${engines.join(', ') || 'none'})`, o.engine);
    } else out.pe = o.engine;
  }
  return out;
}

/** -M: an IPv4 dotted mask or prefix length (stored as a host-order u32), or an IPv6 prefix length. */
function netmask(c: Checker, path: string, v: unknown, family: Family): number | undefined {
  if (family === 'inet6') return c.int(path, v, 1, 128, 'an IPv6 prefix length');
  if (typeof v === 'number') {
    const len = c.int(path, v, 0, 32, 'a dotted netmask like "255.255.255.0" or a prefix length');
    return len === undefined ? undefined : (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
  }
  const n = typeof v === 'string' ? ipv4ToU32(v) : null;
  if (n === null) return c.err(path, 'must be a dotted netmask like "255.255.255.0" or a prefix length 0..32', v);
  if (maskToPrefix(n) < 0) return c.err(path, 'is not a contiguous netmask', v);
  return n;
}

function serviceOf(c: Checker, path: string, v: unknown, ctx: ValidateContext): ServiceDraft | undefined {
  const o = c.object(path, v);
  if (!o) return undefined;
  c.keys(path, o, SERVICE_KEYS);
  const before = c.issues.length;

  let family: Family = 'inet';
  let protocol: Protocol = 'tcp';
  let addr = '0.0.0.0';
  let port = 0;
  let fwmark = 0;
  if (o.fwmark !== undefined) {
    fwmark = c.int(join(path, 'fwmark'), o.fwmark, 1, 4294967295) ?? 1;   // 1: keep checking it as a fwmark service
    for (const k of ['address', 'port', 'protocol'] as const) {
      if (o[k] !== undefined) c.err(join(path, k), `a fwmark service has no ${k}: packets are matched by their firewall mark only`);
    }
    if (o.ipv6 !== undefined && c.bool(join(path, 'ipv6'), o.ipv6)) { family = 'inet6'; addr = '::'; }
  } else {
    if (o.ipv6 !== undefined) c.err(join(path, 'ipv6'), 'is only for fwmark services (the VIP already says its family)');
    if (o.address === undefined) c.err(join(path, 'address'), 'is required (the VIP), unless the service is a fwmark service');
    else {
      const a = c.address(join(path, 'address'), o.address);
      if (a) { family = a.family; addr = a.addr; }
    }
    if (o.protocol !== undefined) protocol = c.oneOf(join(path, 'protocol'), o.protocol, ['tcp', 'udp', 'sctp'] as const) ?? 'tcp';
    if (o.port !== undefined) port = c.int(join(path, 'port'), o.port, 0, 65535) ?? -1;
  }

  let scheduler = 'wlc';
  if (o.scheduler !== undefined) {
    const sp = join(path, 'scheduler');
    if (typeof o.scheduler !== 'string' || o.scheduler === '') c.err(sp, 'must be a scheduler name such as \'wlc\'', o.scheduler);
    else if (o.scheduler.length > SCHEDNAME_MAX) c.err(sp, `is longer than ${SCHEDNAME_MAX} characters`, o.scheduler);
    else if (o.scheduler !== 'none' && !ctx.knownSchedulers(o.scheduler)) {
      const hint = didYouMean(o.scheduler, ctx.schedulerNames ?? KERNEL_SCHEDULERS);
      c.err(sp, `unknown scheduler${hint ? `; did you mean '${hint}'?` : ''}`, o.scheduler);
    } else scheduler = o.scheduler;
  }

  let flags = 0;
  let timeout = 0;
  let mask = family === 'inet' ? DEFAULT_NETMASK_V4 : DEFAULT_NETMASK_V6;
  let pe = '';
  if (o.persistence !== undefined && o.persistence !== false) {
    const p = persistence(c, join(path, 'persistence'), o.persistence, family, ctx);
    if (p) { flags |= SVC_F_PERSISTENT; timeout = p.timeout; mask = p.netmask; pe = p.pe; }
  }
  if (o.fwmark === undefined && port === 0 && !(flags & SVC_F_PERSISTENT) && (o.persistence === undefined || o.persistence === false)) {
    c.err(join(path, 'port'), o.port === undefined
      ? 'is required: port 0 (all ports) is only allowed for a persistent service'
      : 'is 0 (all ports), which is only allowed for a persistent service (add `persistence`)');
  }
  if (o.onePacket !== undefined && c.bool(join(path, 'onePacket'), o.onePacket)) {
    if (fwmark === 0 && protocol !== 'udp') {
      c.err(join(path, 'onePacket'), `one-packet scheduling is only for UDP and fwmark services (this one is ${protocol})`);
    } else flags |= SVC_F_ONEPACKET;
  }
  if (o.schedFlags !== undefined) {
    const arr = c.array(join(path, 'schedFlags'), o.schedFlags);
    arr?.forEach((f, i) => {
      const fp = join(join(path, 'schedFlags'), i);
      const def = typeof f === 'string' && Object.hasOwn(SCHED_FLAG_WORDS, f) ? SCHED_FLAG_WORDS[f] : undefined;
      if (!def) c.oneOf(fp, f, Object.keys(SCHED_FLAG_WORDS));
      else if (def.only && def.only !== scheduler) {
        c.err(fp, `'${String(f)}' is only for the ${def.only} scheduler (this service uses ${scheduler})`);
      } else flags |= def.bit;
    });
  }
  const forward = o.forward === undefined ? 'dr' : c.oneOf(join(path, 'forward'), o.forward, ['nat', 'dr', 'tun'] as const) ?? 'dr';

  if (port < 0) port = 0;   // already reported
  const spec: ServiceSpec = { family, protocol, addr, port, fwmark, scheduler, flags, timeout, netmask: mask, pe };
  // ipvsadm's own checks (shared with lvsadm), as a net under the ones above.
  const rule = c.issues.length === before && o.fwmark === undefined ? serviceRuleError(spec) : null;
  if (rule) c.err(path, rule);
  const svc: ServiceDraft = { spec, dests: [], forward };
  const realRaw: { path: string; o: Obj }[] = [];
  if (o.reals !== undefined) {
    const reals = c.array(join(path, 'reals'), o.reals);
    const seen = new Map<string, number>();
    reals?.forEach((r, i) => {
      const rp = join(join(path, 'reals'), i);
      const d = realOf(c, rp, r, svc);
      if (!d) return;
      const k = destKeyText(d);
      const first = seen.get(k);
      if (first !== undefined) c.err(rp, `real server ${destKeyText(d)} is listed twice (also reals[${first}])`);
      else { seen.set(k, i); svc.dests.push(d); realRaw.push({ path: rp, o: r as Obj }); }
    });
  }
  svc.health = serviceHealthOf(c, path, o, svc, realRaw);
  return svc;
}

function realOf(c: Checker, path: string, v: unknown, svc: ServiceDraft): DestSpec | undefined {
  const o = c.object(path, v);
  if (!o) return undefined;
  c.keys(path, o, REAL_KEYS);
  const before = c.issues.length;
  const s = svc.spec;

  let a: { family: Family; addr: string } | undefined;
  if (o.address === undefined) c.err(join(path, 'address'), 'is required (the real server\'s IP)');
  else {
    a = c.address(join(path, 'address'), o.address);
    const bad = a && unicastProblem(a.family, a.addr);
    if (bad) c.err(join(path, 'address'), bad, o.address);
  }
  const mode = o.forward === undefined ? svc.forward : c.oneOf(join(path, 'forward'), o.forward, ['nat', 'dr', 'tun'] as const) ?? svc.forward;
  const fwd = FWD_OF[mode];

  // ipvsadm silently forces a dr/tun real to the VIP port (it cannot change ports);
  // we refuse instead, so the file says what really happens.
  let port = s.fwmark > 0 ? 0 : s.port;
  if (o.port !== undefined) {
    const p = c.int(join(path, 'port'), o.port, 0, 65535);
    if (p !== undefined) {
      if (s.fwmark === 0 && mode !== 'nat' && p !== s.port) {
        c.err(join(path, 'port'), `a ${mode} real server cannot change the port: it must be the service port ${s.port} `
          + `(or be left out); use forward: 'nat' to map to another port`, p);
      } else port = p;
    }
  }
  if (mode === 'nat' && port === 0 && s.port !== 0) {
    c.err(join(path, 'port'), 'a nat real server needs a port 1..65535', o.port ?? 0);
  }

  const weight = o.weight === undefined ? 1 : c.int(join(path, 'weight'), o.weight, 0, MAX_WEIGHT) ?? 1;
  const uThreshold = o.upperThreshold === undefined ? 0 : c.int(join(path, 'upperThreshold'), o.upperThreshold, 0, MAX_THRESHOLD) ?? 0;
  const lThreshold = o.lowerThreshold === undefined ? 0 : c.int(join(path, 'lowerThreshold'), o.lowerThreshold, 0, MAX_THRESHOLD) ?? 0;
  if (lThreshold > uThreshold) {
    c.err(join(path, 'lowerThreshold'), `must not be above upperThreshold (${uThreshold}${uThreshold === 0 ? ' = none' : ''}); `
      + 'the kernel refuses it', lThreshold);
  }

  if (a && a.family !== s.family && mode !== 'tun') {
    c.err(join(path, 'address'), `is ${a.family === 'inet6' ? 'IPv6' : 'IPv4'} but the service is ${s.family === 'inet6' ? 'IPv6' : 'IPv4'}; `
      + 'a different address family is allowed only for tunnelling (forward: \'tun\')', o.address);
  }

  let tunType: TunType = 'ipip';
  let tunPort = 0;
  let tunFlags = 0;
  if (o.tunnel !== undefined) {
    const tp = join(path, 'tunnel');
    const t = c.object(tp, o.tunnel);
    if (t && mode !== 'tun') c.err(tp, `tunnel options are only for forward: 'tun' (this real server uses ${mode})`);
    else if (t) {
      c.keys(tp, t, TUNNEL_KEYS);
      if (t.type !== undefined) tunType = c.oneOf(join(tp, 'type'), t.type, ['ipip', 'gue', 'gre'] as const) ?? 'ipip';
      const checksum = t.checksum === undefined ? 'none'
        : c.oneOf(join(tp, 'checksum'), t.checksum, ['none', 'csum', 'remcsum'] as const) ?? 'none';
      if (tunType === 'gue') {
        if (t.port === undefined) c.err(join(tp, 'port'), 'is required for a gue tunnel (the UDP port)');
        else tunPort = c.int(join(tp, 'port'), t.port, 1, 65535) ?? 0;
      } else if (t.port !== undefined) {
        c.err(join(tp, 'port'), `is only for a gue tunnel (this one is ${tunType})`, t.port);
      }
      if (tunType === 'ipip' && checksum !== 'none') c.err(join(tp, 'checksum'), 'is only for gue and gre tunnels', checksum);
      else if (tunType === 'gre' && checksum === 'remcsum') c.err(join(tp, 'checksum'), '\'remcsum\' is only for a gue tunnel', checksum);
      else tunFlags = checksum === 'csum' ? TUN_FLAG_CSUM : checksum === 'remcsum' ? TUN_FLAG_REMCSUM : 0;
    }
  }
  if (!a || c.issues.length !== before) return undefined;
  const d: DestSpec = { family: a.family, addr: a.addr, port, fwd, weight, uThreshold, lThreshold, tunType, tunPort, tunFlags };
  const rule = destRuleError(s, d);   // ipvsadm's own checks (shared with lvsadm), as a net under the ones above
  return rule ? c.err(path, rule) : d;
}

// ------------------------------------------------------------------ health (keepalived §2-§4)

/** Decimal seconds (keepalived TIMER): > 0 (or ≥ 0 with allowZero), at most 31 days. */
function seconds(c: Checker, path: string, v: unknown, allowZero = false): number | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0) || v > MAX_SECONDS) {
    return c.err(path, `must be a number of seconds ${allowZero ? '0' : '> 0'}..${MAX_SECONDS} (fractions allowed)`, v);
  }
  return v;
}

function commandOf(c: Checker, path: string, v: unknown): string[] | undefined {
  const r = commandArgv(v);
  return Array.isArray(r) ? r : c.err(path, r.error, v);
}

function hostText(c: Checker, path: string, v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '' || /[\s\r\n]/.test(v)) return c.err(path, 'must be a host name (no blanks)', v);
  return v;
}

function slowStartOf(c: Checker, path: string, v: unknown): SlowStart | undefined {
  const o = c.object(path, v);
  if (!o) return undefined;
  c.keys(path, o, SLOWSTART_KEYS);
  if (o.seconds === undefined) return c.err(join(path, 'seconds'), 'is required (how long the weight ramps up)');
  const secs = seconds(c, join(path, 'seconds'), o.seconds);
  let from = 0.1;
  if (o.from !== undefined) {
    if (typeof o.from !== 'number' || !(o.from >= 0 && o.from <= 1)) c.err(join(path, 'from'), 'must be a fraction 0..1 of the weight', o.from);
    else from = o.from;
  }
  return secs === undefined ? undefined : { seconds: secs, from };
}

/** One checker's common options; the rest is kept for the plugin. `base` supplies what it leaves out. */
function checkerOf(c: Checker, path: string, v: unknown, base: CheckerSettings | undefined, alpha: boolean): CheckerSettings | undefined {
  const o = c.object(path, v);
  if (!o) return undefined;
  const before = c.issues.length;
  let check = base?.check ?? '';
  if (o.check === undefined) {
    if (!base) return c.err(join(path, 'check'), `is required: which checker (${BUILTIN_CHECKS.join(', ')} or a plugin's name)`);
  } else if (typeof o.check !== 'string' || !/^[a-z0-9][a-z0-9_.-]{0,14}$/i.test(o.check)) {
    return c.err(join(path, 'check'), `must be a checker name (${BUILTIN_CHECKS.join(', ')} or a plugin's name)`, o.check);
  } else check = o.check;
  // Plugin options cascade only onto the same checker; common options always do.
  const sameKind = base !== undefined && base.check === check;
  const out: CheckerSettings = {
    check,
    interval: base?.interval ?? 60,
    alpha: base?.alpha ?? alpha,
    rise: base?.rise ?? 1,
    fall: base?.fall ?? 1,
    jitter: base?.jitter ?? 0,
    logAllFailures: base?.logAllFailures ?? false,
    fastRecovery: base?.fastRecovery ?? false,
    options: sameKind ? { ...base.options } : {},
    path,
  };
  for (const k of ['timeout', 'retry', 'delayBeforeRetry', 'warmup', 'connectIp', 'connectPort', 'bindto', 'bindPort', 'virtualhost'] as const) {
    if (base?.[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = base[k];
  }
  if (o.interval !== undefined) out.interval = seconds(c, join(path, 'interval'), o.interval) ?? out.interval;
  if (o.timeout !== undefined) out.timeout = seconds(c, join(path, 'timeout'), o.timeout);
  if (o.retry !== undefined) out.retry = c.int(join(path, 'retry'), o.retry, 0, 4294967295);
  if (o.delayBeforeRetry !== undefined) out.delayBeforeRetry = seconds(c, join(path, 'delayBeforeRetry'), o.delayBeforeRetry, true);
  if (o.warmup !== undefined) out.warmup = seconds(c, join(path, 'warmup'), o.warmup, true);
  if (o.alpha !== undefined) out.alpha = c.bool(join(path, 'alpha'), o.alpha) ?? out.alpha;
  if (o.rise !== undefined) out.rise = c.int(join(path, 'rise'), o.rise, 1, 1000) ?? 1;
  if (o.fall !== undefined) out.fall = c.int(join(path, 'fall'), o.fall, 1, 1000) ?? 1;
  if (o.jitter !== undefined) {
    if (typeof o.jitter !== 'number' || !(o.jitter >= 0 && o.jitter <= 0.5)) c.err(join(path, 'jitter'), 'must be a fraction 0..0.5 of the interval', o.jitter);
    else out.jitter = o.jitter;
  }
  if (o.connectIp !== undefined) out.connectIp = c.address(join(path, 'connectIp'), o.connectIp)?.addr;
  if (o.connectPort !== undefined) out.connectPort = c.int(join(path, 'connectPort'), o.connectPort, 1, 65535);
  if (o.bindto !== undefined) out.bindto = c.address(join(path, 'bindto'), o.bindto)?.addr;
  if (o.bindPort !== undefined) out.bindPort = c.int(join(path, 'bindPort'), o.bindPort, 1, 65535);
  if (o.virtualhost !== undefined) out.virtualhost = hostText(c, join(path, 'virtualhost'), o.virtualhost);
  if (o.logAllFailures !== undefined) out.logAllFailures = c.bool(join(path, 'logAllFailures'), o.logAllFailures) ?? false;
  if (o.fastRecovery !== undefined) out.fastRecovery = c.bool(join(path, 'fastRecovery'), o.fastRecovery) ?? false;
  for (const [k, val] of Object.entries(o)) if (!HEALTH_COMMON_KEYS.includes(k)) out.options[k] = val;
  return c.issues.length === before ? out : undefined;
}

function checkersOf(c: Checker, path: string, v: unknown, base: CheckerSettings[], alpha: boolean): CheckerSettings[] {
  const list = Array.isArray(v) ? v : [v];
  const out: CheckerSettings[] = [];
  list.forEach((e, i) => {
    const cp = Array.isArray(v) ? join(path, i) : path;
    const k = checkerOf(c, cp, e, base[i] ?? base[0], alpha);
    if (k) out.push(k);
  });
  return out;
}

function serviceHealthOf(c: Checker, path: string, o: Obj, svc: ServiceDraft, reals: { path: string; o: Obj }[]): ServiceHealthSettings {
  const s = svc.spec;
  const flag = (obj: Obj, p: string, k: string, dflt: boolean): boolean =>
    obj[k] === undefined ? dflt : c.bool(join(p, k), obj[k]) ?? dflt;
  const alpha = flag(o, path, 'alpha', false);
  const inhibit = flag(o, path, 'inhibitOnFailure', false);
  const svcVhost = o.virtualhost === undefined ? undefined : hostText(c, join(path, 'virtualhost'), o.virtualhost);
  const svcSlow = o.slowStart === undefined ? undefined : slowStartOf(c, join(path, 'slowStart'), o.slowStart);
  const svcCheckers = o.health === undefined ? [] : checkersOf(c, join(path, 'health'), o.health, [], alpha);
  const quorum = o.quorum === undefined ? 1 : c.int(join(path, 'quorum'), o.quorum, 1, 4294967295) ?? 1;
  let hysteresis = 0;
  if (o.hysteresis !== undefined) {
    const h = c.int(join(path, 'hysteresis'), o.hysteresis, 0, 4294967295);
    if (h !== undefined && h >= quorum) {
      c.err(join(path, 'hysteresis'), `must be below the quorum (${quorum}): quorum is gained at quorum + hysteresis and lost below quorum - hysteresis`, h);
    } else if (h !== undefined) hysteresis = h;
  }
  const out: ServiceHealthSettings = {
    quorum, hysteresis, alpha,
    omega: flag(o, path, 'omega', false),
    sorryServerInhibit: flag(o, path, 'sorryServerInhibit', false),
    reals: [],
  };
  if (o.quorumUp !== undefined) out.quorumUp = commandOf(c, join(path, 'quorumUp'), o.quorumUp);
  if (o.quorumDown !== undefined) out.quorumDown = commandOf(c, join(path, 'quorumDown'), o.quorumDown);
  if (o.sorryServer !== undefined) {
    const sp = join(path, 'sorryServer');
    const so = c.object(sp, o.sorryServer);
    if (so) {
      c.keys(sp, so, SORRY_KEYS);
      const d = realOf(c, sp, { address: so.address, port: so.port, forward: so.forward, weight: so.weight ?? 1 }, svc);
      if (d && svc.dests.some((x) => x.family === d.family && x.addr === d.addr && x.port === d.port)) {
        c.err(sp, `the sorry server ${destKeyText(d)} is also one of the real servers`);
      } else if (d) out.sorryServer = d;
    }
  }
  if (out.sorryServerInhibit && !out.sorryServer) c.err(join(path, 'sorryServerInhibit'), 'needs a sorryServer');
  for (const r of reals) {
    const ro = r.o;
    const rh: RealHealthSettings = {
      checkers: svcCheckers.map((k) => ({ ...k, options: { ...k.options } })),
      inhibitOnFailure: flag(ro, r.path, 'inhibitOnFailure', inhibit),
      lifecycle: 'active',
    };
    if (ro.health === false) rh.checkers = [];
    else if (ro.health !== undefined) rh.checkers = checkersOf(c, join(r.path, 'health'), ro.health, svcCheckers, alpha);
    const vh = ro.virtualhost === undefined ? svcVhost : hostText(c, join(r.path, 'virtualhost'), ro.virtualhost);
    if (vh !== undefined) rh.virtualhost = vh;
    if (ro.notifyUp !== undefined) rh.notifyUp = commandOf(c, join(r.path, 'notifyUp'), ro.notifyUp);
    if (ro.notifyDown !== undefined) rh.notifyDown = commandOf(c, join(r.path, 'notifyDown'), ro.notifyDown);
    const slow = ro.slowStart === undefined ? svcSlow : ro.slowStart === false ? undefined : slowStartOf(c, join(r.path, 'slowStart'), ro.slowStart);
    if (slow) rh.slowStart = slow;
    if (ro.lifecycle !== undefined) rh.lifecycle = c.oneOf(join(r.path, 'lifecycle'), ro.lifecycle, ['active', 'draining', 'disabled'] as const) ?? 'active';
    if (ro.drainDeadline !== undefined) {
      rh.drainDeadline = seconds(c, join(r.path, 'drainDeadline'), ro.drainDeadline);
      if (rh.lifecycle !== 'draining') c.err(join(r.path, 'drainDeadline'), "is only for lifecycle: 'draining'");
    }
    out.reals.push(rh);
  }
  void s;
  return out;
}

/** 'tcp://10.0.0.1:80', 'udp://[::1]:53', 'fwmark://1', 'fwmark6://1' → the configured service. */
function findService(text: string, desired: DesiredState): { spec: ServiceSpec; dests: DestSpec[] } | undefined {
  let t = text.trim().toLowerCase();
  if (!t.includes('://')) t = `tcp://${t}`;
  for (const s of desired.services) {
    if (serviceKeyText(s.spec) === t) return s;
  }
  const m = /^(tcp|udp|sctp):\/\/(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(t);
  if (!m) return undefined;
  const a = canonicalAddr(m[2] ?? m[3]!);
  if (!a) return undefined;
  return desired.services.find((s) => s.spec.fwmark === 0 && s.spec.protocol === m[1] && s.spec.addr === a.addr && s.spec.port === Number(m[4]));
}

function findReal(text: string, dests: DestSpec[]): DestSpec | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text.trim()) ?? /^\[?([^\]]+?)\]?()$/.exec(text.trim());
  if (!m) return undefined;
  const a = canonicalAddr(m[1] ?? m[2]!);
  if (!a) return undefined;
  const port = m[3] ? Number(m[3]) : undefined;
  const hits = dests.filter((d) => d.addr === a.addr && (port === undefined || d.port === port));
  return hits.length === 1 ? hits[0] : undefined;
}

function scheduleOf(c: Checker, v: unknown, desired: DesiredState): ScheduleEntry[] {
  const out: ScheduleEntry[] = [];
  c.array('schedule', v)?.forEach((e, i) => {
    const p = join('schedule', i);
    const o = c.object(p, e);
    if (!o) return;
    c.keys(p, o, SCHEDULE_KEYS);
    let cron: string | undefined;
    if (typeof o.cron !== 'string') c.err(join(p, 'cron'), "is required: a cron expression such as '0 2 * * *' (minute hour day month weekday)", o.cron);
    else {
      const r = validateCron(o.cron);
      if (!r.valid) {
        const why = r.errors.map((x) => `${x.field}${x.value !== undefined ? ` '${x.value}'` : ''}: ${x.message}`).join('; ');
        c.err(join(p, 'cron'), `is not a valid cron expression${why ? ` (${why})` : ''}`, o.cron);
      } else cron = o.cron;
    }
    let timezone: string | undefined;
    if (o.timezone !== undefined) {
      let okTz = typeof o.timezone === 'string';
      if (okTz) { try { new Intl.DateTimeFormat('en', { timeZone: o.timezone as string }); } catch { okTz = false; } }
      if (!okTz) c.err(join(p, 'timezone'), "must be an IANA time zone such as 'Europe/Berlin'", o.timezone);
      else timezone = o.timezone as string;
    }
    if (o.name !== undefined && typeof o.name !== 'string') c.err(join(p, 'name'), 'must be a string', o.name);
    const acts = SCHEDULE_ACTIONS.filter((a) => o[a] !== undefined);
    if (acts.length !== 1) {
      c.err(p, `needs exactly one action of ${SCHEDULE_ACTIONS.join(', ')}${acts.length ? ` (got ${acts.join(' and ')})` : ''}`);
      return;
    }
    const act = acts[0]!;
    const ap = join(p, act);
    const ao = c.object(ap, o[act]);
    if (!ao) return;
    const extra = act === 'drain' ? ['deadline'] : act === 'fill' ? ['seconds'] : act === 'weight' ? ['weight'] : [];
    c.keys(ap, ao, ['service', 'real', ...extra]);
    let svc: { spec: ServiceSpec; dests: DestSpec[] } | undefined;
    if (typeof ao.service !== 'string') c.err(join(ap, 'service'), "is required: the service as 'tcp://VIP:port'", ao.service);
    else {
      svc = findService(ao.service, desired);
      if (!svc) {
        const known = desired.services.map((s) => serviceKeyText(s.spec));
        const hint = didYouMean(ao.service, known);
        c.err(join(ap, 'service'), `names no service of this config${hint ? `; did you mean '${hint}'?` : ` (services: ${known.join(', ') || 'none'})`}`, ao.service);
      }
    }
    let dest: DestSpec | undefined;
    if (typeof ao.real !== 'string') c.err(join(ap, 'real'), "is required: the real server as 'RIP:port'", ao.real);
    else if (svc) {
      dest = findReal(ao.real, svc.dests);
      if (!dest) c.err(join(ap, 'real'), `names no real server of ${serviceKeyText(svc.spec)} (reals: ${svc.dests.map(destKeyText).join(', ') || 'none'})`, ao.real);
    }
    let action: LifecycleOp | undefined;
    switch (act) {
      case 'drain': {
        const d = ao.deadline === undefined ? undefined : seconds(c, join(ap, 'deadline'), ao.deadline);
        action = d === undefined ? { op: 'drain' } : { op: 'drain', deadline: d };
        break;
      }
      case 'fill': {
        const d = ao.seconds === undefined ? undefined : seconds(c, join(ap, 'seconds'), ao.seconds);
        action = d === undefined ? { op: 'fill' } : { op: 'fill', seconds: d };
        break;
      }
      case 'disable': action = { op: 'disable' }; break;
      case 'enable': action = { op: 'enable' }; break;
      case 'weight': {
        const w = c.int(join(ap, 'weight'), ao.weight, 0, MAX_WEIGHT);
        if (w !== undefined) action = { op: 'weight', weight: w };
        break;
      }
    }
    if (!cron || !svc || !dest || !action) return;
    const entry: ScheduleEntry = {
      cron, service: svc.spec, dest: { family: dest.family, addr: dest.addr, port: dest.port }, action, path: p,
      name: typeof o.name === 'string' ? o.name : `${cron} ${act} ${destKeyText(dest)} in ${serviceKeyText(svc.spec)}`,
    };
    if (timezone) entry.timezone = timezone;
    out.push(entry);
  });
  return out;
}

// ------------------------------------------------------------------ the rest

function interfacesOf(c: Checker, v: unknown): InterfaceSpec[] {
  const out: InterfaceSpec[] = [];
  c.array('interfaces', v)?.forEach((e, i) => {
    const p = join('interfaces', i);
    let name: unknown = e;
    let mac: unknown;
    let mtu: unknown;
    let addresses: unknown;
    if (isObj(e)) {
      c.keys(p, e, IFACE_KEYS);
      name = e.name;
      mac = e.mac;
      mtu = e.mtu;
      addresses = e.addresses;
    }
    const np = isObj(e) ? join(p, 'name') : p;
    if (typeof name !== 'string' || name === '' || name.length > IFNAME_MAX || /[\s/:]/.test(name)) {
      c.err(np, `must be an interface name (1..${IFNAME_MAX} characters, no spaces, '/' or ':')`, name);
      return;
    }
    if (out.some((x) => x.name === name)) { c.err(np, `interface ${name} is listed twice`); return; }
    const entry: InterfaceSpec = { name };
    if (mac !== undefined) {
      if (typeof mac !== 'string' || !MAC_RE.test(mac)) { c.err(join(p, 'mac'), 'must be a MAC address like "02:00:00:00:00:01"', mac); return; }
      entry.mac = mac.toLowerCase();
    }
    if (mtu !== undefined) {
      // 68 is the IPv4 minimum (RFC 791); 65535 the largest IP packet.
      const m = c.int(join(p, 'mtu'), mtu, 68, 65535);
      if (m === undefined) return;
      entry.mtu = m;
    }
    if (addresses !== undefined) {
      const list: string[] = [];
      c.array(join(p, 'addresses'), addresses)?.forEach((a, j) => {
        const ap = join(join(p, 'addresses'), j);
        const cidr = typeof a === 'string' ? cidrOf(a) : null;
        if (!cidr) { c.err(ap, 'must be an address with its prefix length, like "192.168.10.1/24" or "2001:db8::1/64"', a); return; }
        list.push(cidr);
      });
      entry.addresses = list;
    }
    out.push(entry);
  });
  return out;
}

/** `addr/len` with a canonical address and a prefix length valid for its family, or null. */
function cidrOf(text: string): string | null {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m) return null;
  const a = canonicalAddr(m[1]!);
  const len = Number(m[2]);
  if (!a || len > (a.family === 'inet' ? 32 : 128)) return null;
  return `${a.addr}/${len}`;
}

function gatewaysOf(c: Checker, v: unknown): string[] {
  const out: string[] = [];
  const list = typeof v === 'string' ? [v] : c.array('gateway', v) ?? [];
  list.forEach((g, i) => {
    const p = typeof v === 'string' ? 'gateway' : join('gateway', i);
    const a = typeof g === 'string' ? canonicalAddr(g) : null;
    if (!a) { c.err(p, 'must be an IPv4 or IPv6 address', g); return; }
    if (out.some((x) => x.includes(':') === (a.family === 'inet6'))) { c.err(p, `only one gateway per address family (got a second ${a.family === 'inet' ? 'IPv4' : 'IPv6'} one)`); return; }
    out.push(a.addr);
  });
  return out;
}

function neighborsOf(c: Checker, v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const o = c.object('neighbors', v);
  for (const [ip, mac] of Object.entries(o ?? {})) {
    const p = `neighbors[${JSON.stringify(ip)}]`;
    const a = canonicalAddr(ip);
    if (!a) { c.err(p, 'the key must be an IPv4 or IPv6 address', ip); continue; }
    if (typeof mac !== 'string' || !MAC_RE.test(mac)) { c.err(p, 'must be a MAC address like "02:00:00:00:00:01"', mac); continue; }
    if (out[a.addr] !== undefined) { c.err(p, `${a.addr} is listed twice (in another spelling)`); continue; }
    out[a.addr] = mac.toLowerCase();
  }
  return out;
}

function timeoutsOf(c: Checker, v: unknown): Partial<Timeouts> {
  const out: Partial<Timeouts> = {};
  const o = c.object('timeouts', v);
  if (!o) return out;
  c.keys('timeouts', o, TIMEOUT_KEYS);
  for (const k of TIMEOUT_KEYS as (keyof Timeouts)[]) {
    if (o[k] === undefined) continue;
    const t = c.int(join('timeouts', k), o[k], 1, MAX_PERSIST_TIMEOUT, 'a whole number of seconds');
    if (t !== undefined) out[k] = t;
  }
  return out;
}

function pluginsOf(c: Checker, v: unknown, file: string): string[] {
  const out: string[] = [];
  c.array('plugins', v)?.forEach((p, i) => {
    if (typeof p !== 'string' || p === '') { c.err(join('plugins', i), 'must be a folder path', p); return; }
    const abs = isAbsolute(p) ? resolve(p) : resolve(dirname(file), p);
    if (out.includes(abs)) c.err(join('plugins', i), `folder ${abs} is listed twice`);
    else out.push(abs);
  });
  return out;
}

/** Checks the whole config; on success, the normalised desired state. */
export function validateConfig(raw: unknown, ctx: ValidateContext): ValidateResult {
  const c = new Checker();
  if (!isObj(raw)) {
    c.err('', 'the default export of config.ts must be the config object (use `export default defineConfig({ … })`)', raw);
    return { ok: false, errors: c.issues };
  }
  // h5 interim (h1's zod schema composes these keys instead): plugin-owned root keys.
  const pluginKeys = [...(ctx.pluginKeys ?? new Map<string, ZodType>())].filter(([k]) => !ROOT_KEYS.includes(k));
  c.keys('', raw, [...ROOT_KEYS, ...pluginKeys.map(([k]) => k)]);
  const desired: DesiredState = {
    services: [],
    timeouts: raw.timeouts === undefined ? {} : timeoutsOf(c, raw.timeouts),
    plugins: raw.plugins === undefined ? [] : pluginsOf(c, raw.plugins, ctx.file),
    interfaces: raw.interfaces === undefined ? [] : interfacesOf(c, raw.interfaces),
    neighbors: raw.neighbors === undefined ? {} : neighborsOf(c, raw.neighbors),
  };
  if (raw.gateway !== undefined) desired.gateways = gatewaysOf(c, raw.gateway);
  if (raw.workers !== undefined) {
    const w = c.int('workers', raw.workers, 1, MAX_WORKERS);
    if (w !== undefined) desired.workers = w;
  }
  if (raw.maxConnections !== undefined) {
    const m = c.int('maxConnections', raw.maxConnections, 1024, 1 << 24);
    if (m !== undefined) desired.maxConnections = m;
  }
  if (raw.services !== undefined) {
    const seen = new Map<string, number>();
    c.array('services', raw.services)?.forEach((sv, i) => {
      const path = join('services', i);
      const d = serviceOf(c, path, sv, ctx);
      if (!d) return;
      const k = serviceKeyText(d.spec);
      const first = seen.get(k);
      if (first !== undefined) c.err(path, `service ${k} is listed twice (also services[${first}])`);
      else {
        seen.set(k, i);
        desired.services.push(d.health ? { spec: d.spec, dests: d.dests, health: d.health } : { spec: d.spec, dests: d.dests });
      }
    });
  }
  if (raw.schedule !== undefined) desired.schedule = scheduleOf(c, raw.schedule, desired);
  for (const [key, schema] of pluginKeys) {   // h5 interim, as above
    if (raw[key] === undefined) continue;
    const r = schema.safeParse(raw[key]);
    if (r.success) (desired.pluginConfig ??= {})[key] = r.data;
    else for (const i of r.error.issues) c.err([key, ...i.path.map(String)].join('.'), i.message);
  }
  return c.issues.length ? { ok: false, errors: c.issues } : { ok: true, desired };
}

/** A service's persistence netmask as text, as ipvsadm prints it. */
export function netmaskText(spec: ServiceSpec): string {
  return spec.family === 'inet' ? u32ToIpv4(spec.netmask) : String(spec.netmask);
}

// Run-time check of the object config.ts exports, and its normalisation into
// table specs. The shape — every field's type, range and message — is the zod
// schema in ./types.ts (the one schema library; defineConfig's types are
// inferred from it). What the shape cannot say is checked here, in the order
// an operator reads a service: the rules that tie fields together (a dr real
// keeps the service port, an address family, a gue tunnel's port), the names
// the loaded plugins know (schedulers, their flag words, checkers, plugin
// root keys), and ipvsadm's and the kernel's own rules (shared/spec/ipvsadm.md
// §3-§4, core/model/rules.ts). Each message reads like advice to an LVS
// operator and names the field path (services[0].reals[1].weight).
//
// A config that passes the shape (the usual case) is walked without checking
// each field again; one that does not is walked field by field, so every
// problem is reported once, in config order, as before.
//
// The object comes out of a node:vm context, so nothing here relies on
// `instanceof` or prototype identity (another realm's Object/Array).

import { isAbsolute, dirname, resolve } from 'node:path';
import type { z } from 'zod';
import type { ForwarderLookup } from '../plugin.js';
import { canonicalAddr, ipv4ToU32, ipv6ToBytes, maskToPrefix, u32ToIpv4, type Family } from '../model/addr.js';
import {
  DEFAULT_NETMASK_V4, DEFAULT_NETMASK_V6, SVC_F_ONEPACKET, SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3,
  TUN_FLAG_CSUM, TUN_FLAG_REMCSUM,
  destKeyText, serviceKeyText,
  type DestSpec, type FwdMethod, type Protocol, type ServiceSpec, type Timeouts, type TunType,
} from '../model/types.js';
import {
  DEFAULT_PERSISTENCE, allowsCrossFamily, destRuleError, keepsVirtualPort, serviceRuleError, takesTunnelOptions,
} from '../model/rules.js';
import { validateDetailed as validateCron } from 'node-cron';
import { commandArgv, lookupUser } from '../health/script.js';
import type {
  CheckerSettings, LifecycleOp, RealHealthSettings, ScheduleEntry, ServiceHealthSettings, SlowStart,
} from '../health/types.js';
import { didYouMean, unknownKeyMessage } from '../suggest.js';
import {
  HEALTH_COMMON_KEYS, SCHEDULE_ACTIONS, healthCommonShape, interfaceShape, lvsdConfigSchema, lvsdShape, parseAddress,
  persistenceShape, realShape, scheduleActionShapes, scheduleShape, seconds as secondsSchema, serviceShape, slowStartShape,
  sorryShape, timeoutsShape, tunnelShape, command, hostName, address as addressSchema,
  bool as boolSchema, type ForwardMode,
} from './types.js';

export { didYouMean } from '../suggest.js';
export { HEALTH_COMMON_KEYS } from './types.js';


/** What a good config becomes: table specs plus the daemon-level settings. */
/** One service of the config, validated. Never changed once made (ServiceMemo hands the same one to the next load). */
export interface DesiredService { spec: ServiceSpec; dests: DestSpec[]; health?: ServiceHealthSettings }

export interface DesiredState {
  /** In config order; each service's reals in config order. */
  services: DesiredService[];
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
  /** Who notify programs and exec checks run as (config scriptUser; undefined: the default). */
  scriptUser?: string;
  /** Control-plane plugins' root keys (ValidateContext.pluginKeys) as their schemas parsed them; only keys present. */
  pluginConfig: Record<string, unknown>;
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
  /** Scheduler names (the registry's), for "did you mean" and for finding which scheduler owns a flag word. */
  schedulerNames?: string[];
  /**
   * A scheduler's own flag words (ipvsadm -b), word → SVC_F_SCHED* bit, from
   * its plugin (sh: sh-fallback, sh-port); undefined when it has none. The
   * generic flag-1..3 are always allowed. Absent: only those.
   */
  schedulerFlags?(name: string): Readonly<Record<string, number>> | undefined;
  /**
   * What each forwarding method's forwarder allows (another address family, a
   * port of its own); default: the built-in forwarders' (core/model/rules.ts).
   */
  forwarder?: ForwarderLookup;
  /** Health check plugin names, named in messages when `check` is missing or malformed. */
  checkNames?: readonly string[];
  /**
   * Root keys owned by control-plane plugins (`sync`, `vrrp` …), each with its
   * schema. Their values are parsed into DesiredState.pluginConfig; their
   * errors carry their path (`sync.interface`). Absent: such keys are unknown settings.
   */
  pluginKeys?: ReadonlyMap<string, z.ZodType>;
  /**
   * Services validated by an earlier load, by their raw object: a raw service
   * seen again (the loader hands back the same object for the same JSON text)
   * is not validated again. The caller empties it when anything above changes.
   */
  serviceMemo?: WeakMap<object, DesiredService>;
  /**
   * The loaded plugin objects the callbacks above answer from: the same ones
   * (by identity) mean the same answers, so `serviceMemo` stays valid.
   */
  loaded?: readonly object[];
}

export type ValidateResult = { ok: true; desired: DesiredState } | { ok: false; errors: ConfigIssue[] };

const DEFAULT_PERSIST_TIMEOUT = DEFAULT_PERSISTENCE;
const IFNAME_MAX = 15;                 // IFNAMSIZ - 1

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const FWD_OF: Record<ForwardMode, FwdMethod> = { nat: 'masq', dr: 'route', tun: 'tunnel' };

const ROOT_KEYS = Object.keys(lvsdShape);
const SERVICE_KEYS = Object.keys(serviceShape);
const REAL_KEYS = Object.keys(realShape);
const SORRY_KEYS = Object.keys(sorryShape);
const SLOWSTART_KEYS = Object.keys(slowStartShape);
const SCHEDULE_KEYS = Object.keys(scheduleShape);
const PERSIST_KEYS = Object.keys(persistenceShape);
const TUNNEL_KEYS = Object.keys(tunnelShape);
const TIMEOUT_KEYS = Object.keys(timeoutsShape) as (keyof Timeouts)[];
const IFACE_KEYS = Object.keys(interfaceShape);
/** ipvsadm's generic -b words, taken by every scheduler. */
const GENERIC_FLAGS: Readonly<Record<string, number>> = { 'flag-1': SVC_F_SCHED1, 'flag-2': SVC_F_SCHED2, 'flag-3': SVC_F_SCHED3 };

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

/**
 * Collects issues while walking the config; each check returns the value or
 * undefined. `trusted`: the config already passed the zod shape, so fields
 * are not checked again (only the rules between them and against plugins).
 */
class Checker {
  readonly issues: ConfigIssue[] = [];
  constructor(readonly trusted: boolean) {}

  /** Records an issue; pass the offending value (even undefined) to have `(got …)` added. */
  err(path: string, message: string, ...got: [] | [unknown]): undefined {
    const issue: ConfigIssue = { path, message: got.length ? `${message} (got ${describeValue(got[0])})` : message };
    if (got.length) issue.value = got[0];
    this.issues.push(issue);
    return undefined;
  }

  /** `path.key` checked by its field schema from ./types.ts; the schema's message, with `(got …)`. */
  at<T>(schema: z.ZodType<T>, path: string, key: string | number, v: unknown): T | undefined {
    if (this.trusted) return v as T;
    const r = schema.safeParse(v);
    return r.success ? v as T : this.err(join(path, key), r.error.issues[0]!.message, v);
  }

  /** Unknown keys are errors: they are almost always typos that would silently do nothing. */
  keys(path: string, o: Obj, allowed: readonly string[]): void {
    if (this.trusted) return;   // the shape's strict objects had none
    for (const k of Object.keys(o)) {
      if (allowed.includes(k)) continue;
      this.issues.push({ path: join(path, k), message: unknownKeyMessage(k, allowed) });
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

  bool(path: string, key: string, v: unknown): boolean | undefined {
    return this.at(boolSchema, path, key, v);
  }

  oneOf<T extends string>(path: string, v: unknown, allowed: readonly T[]): T | undefined {
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    const hint = typeof v === 'string' ? didYouMean(v, allowed) : undefined;
    return this.err(path, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}${hint ? ` (did you mean '${hint}'?)` : ''}`, v);
  }

  address(path: string, key: string, v: unknown): { family: Family; addr: string } | undefined {
    return this.at(addressSchema, path, key, v) === undefined ? undefined : parseAddress(v as string) ?? undefined;
  }
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** unicastProblem's answers by canonical address: real servers repeat across services. Bounded. */
const unicastSeen = new Map<string, string | undefined>();

/** Whether the kernel would take this address for a real server (RTN_UNICAST/RTN_LOCAL, not link-local). */
function unicastProblem(family: Family, addr: string): string | undefined {
  if (unicastSeen.has(addr)) return unicastSeen.get(addr);
  const r = unicastProblemOf(family, addr);
  if (unicastSeen.size >= 1 << 16) unicastSeen.clear();
  unicastSeen.set(addr, r);
  return r;
}

function unicastProblemOf(family: Family, addr: string): string | undefined {
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

/** The -b words a service's scheduler takes, and which scheduler owns a word it does not take. */
interface FlagWords {
  of(scheduler: string): Readonly<Record<string, number>>;
  /** Every word, for the "must be one of" list. */
  all: string[];
  owner(word: string): string | undefined;
}

function flagWords(ctx: ValidateContext): FlagWords {
  // Without plugins to ask (a bare validateConfig call), only the generic flag-1..3.
  const perScheduler = ctx.schedulerFlags ?? (() => undefined);
  const names = ctx.schedulerNames ?? [];
  const own = new Map(names.map((n) => [n, perScheduler(n) ?? {}] as const));
  return {
    of: (sched) => ({ ...GENERIC_FLAGS, ...(own.get(sched) ?? perScheduler(sched) ?? {}) }),
    all: [...new Set([...Object.keys(GENERIC_FLAGS), ...[...own.values()].flatMap((f) => Object.keys(f))])],
    owner: (w) => names.find((n) => Object.hasOwn(own.get(n)!, w)),
  };
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
    const t = c.at(persistenceShape.timeout, path, 'timeout', o.timeout);
    if (t !== undefined) out.timeout = t;
  }
  if (o.netmask !== undefined) {
    const m = netmask(c, join(path, 'netmask'), o.netmask, family);
    if (m !== undefined) out.netmask = m;
  }
  if (o.engine !== undefined) {
    const engines = ctx.knownEngines ?? ['sip'];
    if (c.at(persistenceShape.engine, path, 'engine', o.engine) === undefined) { /* reported */ }
    else if (!engines.includes(o.engine as string)) {
      c.err(join(path, 'engine'), `unknown persistence engine (known: ${engines.join(', ') || 'none'})`, o.engine);
    } else out.pe = o.engine as string;
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

function serviceOf(c: Checker, path: string, v: unknown, ctx: ValidateContext, words: FlagWords): ServiceDraft | undefined {
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
    fwmark = c.at(serviceShape.fwmark, path, 'fwmark', o.fwmark) ?? 1;   // 1: keep checking it as a fwmark service
    for (const k of ['address', 'port', 'protocol'] as const) {
      if (o[k] !== undefined) c.err(join(path, k), `a fwmark service has no ${k}: packets are matched by their firewall mark only`);
    }
    if (o.ipv6 !== undefined && c.bool(path, 'ipv6', o.ipv6)) { family = 'inet6'; addr = '::'; }
  } else {
    if (o.ipv6 !== undefined) c.err(join(path, 'ipv6'), 'is only for fwmark services (the VIP already says its family)');
    if (o.address === undefined) c.err(join(path, 'address'), 'is required (the VIP), unless the service is a fwmark service');
    else {
      const a = c.address(path, 'address', o.address);
      if (a) { family = a.family; addr = a.addr; }
    }
    if (o.protocol !== undefined) protocol = c.at(serviceShape.protocol, path, 'protocol', o.protocol) ?? 'tcp';
    if (o.port !== undefined) port = c.at(serviceShape.port, path, 'port', o.port) ?? -1;
  }

  let scheduler = 'wlc';
  if (o.scheduler !== undefined) {
    const sp = join(path, 'scheduler');
    if (c.at(serviceShape.scheduler, path, 'scheduler', o.scheduler) === undefined) { /* reported */ }
    else if (o.scheduler !== 'none' && !ctx.knownSchedulers(o.scheduler as string)) {
      const hint = didYouMean(o.scheduler as string, ctx.schedulerNames ?? []);
      c.err(sp, `unknown scheduler${hint ? `; did you mean '${hint}'?` : ''}`, o.scheduler);
    } else scheduler = o.scheduler as string;
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
  if (o.onePacket !== undefined && c.bool(path, 'onePacket', o.onePacket)) {
    if (fwmark === 0 && protocol !== 'udp') {
      c.err(join(path, 'onePacket'), `one-packet scheduling is only for UDP and fwmark services (this one is ${protocol})`);
    } else flags |= SVC_F_ONEPACKET;
  }
  if (o.schedFlags !== undefined) {
    const arr = c.array(join(path, 'schedFlags'), o.schedFlags);
    const mine = arr?.length ? words.of(scheduler) : {};
    arr?.forEach((f, i) => {
      const fp = join(join(path, 'schedFlags'), i);
      const bit = typeof f === 'string' && Object.hasOwn(mine, f) ? mine[f] : undefined;
      if (bit !== undefined) { flags |= bit; return; }
      const owner = typeof f === 'string' ? words.owner(f) : undefined;
      if (owner === undefined) c.oneOf(fp, f, words.all);
      else c.err(fp, `'${String(f)}' is only for the ${owner} scheduler (this service uses ${scheduler})`);
    });
  }
  const forward = o.forward === undefined ? 'dr' : c.at(serviceShape.forward, path, 'forward', o.forward) ?? 'dr';

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
      const d = realOf(c, rp, r, svc, ctx);
      if (!d) return;
      const k = destKeyText(d);
      const first = seen.get(k);
      if (first !== undefined) c.err(rp, `real server ${destKeyText(d)} is listed twice (also reals[${first}])`);
      else { seen.set(k, i); svc.dests.push(d); realRaw.push({ path: rp, o: r as Obj }); }
    });
  }
  svc.health = serviceHealthOf(c, path, o, svc, realRaw, ctx);
  return svc;
}

function realOf(c: Checker, path: string, v: unknown, svc: ServiceDraft, ctx: ValidateContext): DestSpec | undefined {
  const o = c.object(path, v);
  if (!o) return undefined;
  c.keys(path, o, REAL_KEYS);
  const before = c.issues.length;
  const s = svc.spec;

  let a: { family: Family; addr: string } | undefined;
  if (o.address === undefined) c.err(join(path, 'address'), 'is required (the real server\'s IP)');
  else {
    a = c.address(path, 'address', o.address);
    const bad = a && unicastProblem(a.family, a.addr);
    if (bad) c.err(join(path, 'address'), bad, o.address);
  }
  const mode = o.forward === undefined ? svc.forward : c.at(realShape.forward, path, 'forward', o.forward) ?? svc.forward;
  const fwd = FWD_OF[mode];

  // ipvsadm silently forces a dr/tun real to the VIP port (it cannot change ports);
  // we refuse instead, so the file says what really happens.
  let port = s.fwmark > 0 ? 0 : s.port;
  if (o.port !== undefined) {
    const p = c.at(realShape.port, path, 'port', o.port);
    if (p !== undefined) {
      if (s.fwmark === 0 && keepsVirtualPort(fwd, ctx.forwarder) && p !== s.port) {
        c.err(join(path, 'port'), `a ${mode} real server cannot change the port: it must be the service port ${s.port} `
          + `(or be left out); use forward: 'nat' to map to another port`, p);
      } else port = p;
    }
  }
  if (!keepsVirtualPort(fwd, ctx.forwarder) && port === 0 && s.port !== 0) {
    c.err(join(path, 'port'), 'a nat real server needs a port 1..65535', o.port ?? 0);
  }

  const weight = o.weight === undefined ? 1 : c.at(realShape.weight, path, 'weight', o.weight) ?? 1;
  const uThreshold = o.upperThreshold === undefined ? 0 : c.at(realShape.upperThreshold, path, 'upperThreshold', o.upperThreshold) ?? 0;
  const lThreshold = o.lowerThreshold === undefined ? 0 : c.at(realShape.lowerThreshold, path, 'lowerThreshold', o.lowerThreshold) ?? 0;
  if (lThreshold > uThreshold) {
    c.err(join(path, 'lowerThreshold'), `must not be above upperThreshold (${uThreshold}${uThreshold === 0 ? ' = none' : ''}); `
      + 'the kernel refuses it', lThreshold);
  }

  if (a && a.family !== s.family && !allowsCrossFamily(fwd, ctx.forwarder)) {
    c.err(join(path, 'address'), `is ${a.family === 'inet6' ? 'IPv6' : 'IPv4'} but the service is ${s.family === 'inet6' ? 'IPv6' : 'IPv4'}; `
      + 'a different address family is allowed only for tunnelling (forward: \'tun\')', o.address);
  }

  let tunType: TunType = 'ipip';
  let tunPort = 0;
  let tunFlags = 0;
  if (o.tunnel !== undefined) {
    const tp = join(path, 'tunnel');
    const t = c.object(tp, o.tunnel);
    if (t && !takesTunnelOptions(fwd, ctx.forwarder)) c.err(tp, `tunnel options are only for forward: 'tun' (this real server uses ${mode})`);
    else if (t) {
      c.keys(tp, t, TUNNEL_KEYS);
      if (t.type !== undefined) tunType = c.at(tunnelShape.type, tp, 'type', t.type) ?? 'ipip';
      const checksum = t.checksum === undefined ? 'none' : c.at(tunnelShape.checksum, tp, 'checksum', t.checksum) ?? 'none';
      if (tunType === 'gue') {
        if (t.port === undefined) c.err(join(tp, 'port'), 'is required for a gue tunnel (the UDP port)');
        else tunPort = c.at(tunnelShape.port, tp, 'port', t.port) ?? 0;
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
  const rule = destRuleError(s, d, ctx.forwarder);   // ipvsadm's own checks (shared with lvsadm), as a net under the ones above
  return rule ? c.err(path, rule) : d;
}

// ------------------------------------------------------------------ health (keepalived §2-§4)

function seconds(c: Checker, path: string, key: string, v: unknown, allowZero = false): number | undefined {
  return c.at(allowZero ? secondsZero : secondsPositive, path, key, v);
}
const secondsPositive = secondsSchema();
const secondsZero = secondsSchema(true);

function commandOf(c: Checker, path: string, key: string, v: unknown): string[] | undefined {
  return c.at(command, path, key, v) === undefined ? undefined : commandArgv(v) as string[];
}

function hostText(c: Checker, path: string, key: string, v: unknown): string | undefined {
  return c.at(hostName, path, key, v);
}

function slowStartOf(c: Checker, path: string, v: unknown): SlowStart | undefined {
  const o = c.object(path, v);
  if (!o) return undefined;
  c.keys(path, o, SLOWSTART_KEYS);
  if (o.seconds === undefined) return c.err(join(path, 'seconds'), 'is required (how long the weight ramps up)');
  const secs = seconds(c, path, 'seconds', o.seconds);
  let from = 0.1;
  if (o.from !== undefined) from = c.at(slowStartShape.from, path, 'from', o.from) ?? from;
  return secs === undefined ? undefined : { seconds: secs, from };
}

/** "(tcp, http … or a plugin's name)" — the loaded checkers, when known. */
function checkerNamesText(ctx: ValidateContext): string {
  return ctx.checkNames?.length ? `${ctx.checkNames.join(', ')} or a plugin's name` : 'a health check plugin\'s name';
}

/** One checker's common options; the rest is kept for the plugin. `base` supplies what it leaves out. */
function checkerOf(c: Checker, path: string, v: unknown, base: CheckerSettings | undefined, alpha: boolean, ctx: ValidateContext): CheckerSettings | undefined {
  const o = c.object(path, v);
  if (!o) return undefined;
  const before = c.issues.length;
  let check = base?.check ?? '';
  if (o.check === undefined) {
    if (!base) return c.err(join(path, 'check'), `is required: which checker (${checkerNamesText(ctx)})`);
  } else if (typeof o.check !== 'string' || !/^[a-z0-9][a-z0-9_.-]{0,14}$/i.test(o.check)) {
    return c.err(join(path, 'check'), `must be a checker name (${checkerNamesText(ctx)})`, o.check);
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
  const H = healthCommonShape;
  if (o.interval !== undefined) out.interval = seconds(c, path, 'interval', o.interval) ?? out.interval;
  if (o.timeout !== undefined) out.timeout = seconds(c, path, 'timeout', o.timeout);
  if (o.retry !== undefined) out.retry = c.at(H.retry, path, 'retry', o.retry);
  if (o.delayBeforeRetry !== undefined) out.delayBeforeRetry = seconds(c, path, 'delayBeforeRetry', o.delayBeforeRetry, true);
  if (o.warmup !== undefined) out.warmup = seconds(c, path, 'warmup', o.warmup, true);
  if (o.alpha !== undefined) out.alpha = c.bool(path, 'alpha', o.alpha) ?? out.alpha;
  if (o.rise !== undefined) out.rise = c.at(H.rise, path, 'rise', o.rise) ?? 1;
  if (o.fall !== undefined) out.fall = c.at(H.fall, path, 'fall', o.fall) ?? 1;
  if (o.jitter !== undefined) out.jitter = c.at(H.jitter, path, 'jitter', o.jitter) ?? out.jitter;
  if (o.connectIp !== undefined) out.connectIp = c.address(path, 'connectIp', o.connectIp)?.addr;
  if (o.connectPort !== undefined) out.connectPort = c.at(H.connectPort, path, 'connectPort', o.connectPort);
  if (o.bindto !== undefined) out.bindto = c.address(path, 'bindto', o.bindto)?.addr;
  if (o.bindPort !== undefined) out.bindPort = c.at(H.bindPort, path, 'bindPort', o.bindPort);
  if (o.virtualhost !== undefined) out.virtualhost = hostText(c, path, 'virtualhost', o.virtualhost);
  if (o.logAllFailures !== undefined) out.logAllFailures = c.bool(path, 'logAllFailures', o.logAllFailures) ?? false;
  if (o.fastRecovery !== undefined) out.fastRecovery = c.bool(path, 'fastRecovery', o.fastRecovery) ?? false;
  for (const [k, val] of Object.entries(o)) if (!HEALTH_COMMON_KEYS.includes(k)) out.options[k] = val;
  return c.issues.length === before ? out : undefined;
}

function checkersOf(c: Checker, path: string, v: unknown, base: CheckerSettings[], alpha: boolean, ctx: ValidateContext): CheckerSettings[] {
  const list = Array.isArray(v) ? v : [v];
  const out: CheckerSettings[] = [];
  list.forEach((e, i) => {
    const cp = Array.isArray(v) ? join(path, i) : path;
    const k = checkerOf(c, cp, e, base[i] ?? base[0], alpha, ctx);
    if (k) out.push(k);
  });
  return out;
}

function serviceHealthOf(c: Checker, path: string, o: Obj, svc: ServiceDraft, reals: { path: string; o: Obj }[], ctx: ValidateContext): ServiceHealthSettings {
  const flag = (obj: Obj, p: string, k: string, dflt: boolean): boolean =>
    obj[k] === undefined ? dflt : c.bool(p, k, obj[k]) ?? dflt;
  const alpha = flag(o, path, 'alpha', false);
  const inhibit = flag(o, path, 'inhibitOnFailure', false);
  const svcVhost = o.virtualhost === undefined ? undefined : hostText(c, path, 'virtualhost', o.virtualhost);
  const svcSlow = o.slowStart === undefined ? undefined : slowStartOf(c, join(path, 'slowStart'), o.slowStart);
  const svcCheckers = o.health === undefined ? [] : checkersOf(c, join(path, 'health'), o.health, [], alpha, ctx);
  const quorum = o.quorum === undefined ? 1 : c.at(serviceShape.quorum, path, 'quorum', o.quorum) ?? 1;
  let hysteresis = 0;
  if (o.hysteresis !== undefined) {
    const h = c.at(serviceShape.hysteresis, path, 'hysteresis', o.hysteresis);
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
  if (o.quorumUp !== undefined) out.quorumUp = commandOf(c, path, 'quorumUp', o.quorumUp);
  if (o.quorumDown !== undefined) out.quorumDown = commandOf(c, path, 'quorumDown', o.quorumDown);
  if (o.sorryServer !== undefined) {
    const sp = join(path, 'sorryServer');
    const so = c.object(sp, o.sorryServer);
    if (so) {
      c.keys(sp, so, SORRY_KEYS);
      const d = realOf(c, sp, { address: so.address, port: so.port, forward: so.forward, weight: so.weight ?? 1 }, svc, ctx);
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
    else if (ro.health !== undefined) rh.checkers = checkersOf(c, join(r.path, 'health'), ro.health, svcCheckers, alpha, ctx);
    const vh = ro.virtualhost === undefined ? svcVhost : hostText(c, r.path, 'virtualhost', ro.virtualhost);
    if (vh !== undefined) rh.virtualhost = vh;
    if (ro.notifyUp !== undefined) rh.notifyUp = commandOf(c, r.path, 'notifyUp', ro.notifyUp);
    if (ro.notifyDown !== undefined) rh.notifyDown = commandOf(c, r.path, 'notifyDown', ro.notifyDown);
    const slow = ro.slowStart === undefined ? svcSlow : ro.slowStart === false ? undefined : slowStartOf(c, join(r.path, 'slowStart'), ro.slowStart);
    if (slow) rh.slowStart = slow;
    if (ro.lifecycle !== undefined) rh.lifecycle = c.at(realShape.lifecycle, r.path, 'lifecycle', ro.lifecycle) ?? 'active';
    if (ro.drainDeadline !== undefined) {
      rh.drainDeadline = seconds(c, r.path, 'drainDeadline', ro.drainDeadline);
      if (rh.lifecycle !== 'draining') c.err(join(r.path, 'drainDeadline'), "is only for lifecycle: 'draining'");
    }
    out.reals.push(rh);
  }
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
        const d = ao.deadline === undefined ? undefined : seconds(c, ap, 'deadline', ao.deadline);
        action = d === undefined ? { op: 'drain' } : { op: 'drain', deadline: d };
        break;
      }
      case 'fill': {
        const d = ao.seconds === undefined ? undefined : seconds(c, ap, 'seconds', ao.seconds);
        action = d === undefined ? { op: 'fill' } : { op: 'fill', seconds: d };
        break;
      }
      case 'disable': action = { op: 'disable' }; break;
      case 'enable': action = { op: 'enable' }; break;
      case 'weight': {
        const w = c.at(scheduleActionShapes.weight.weight, ap, 'weight', ao.weight);
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
      const m = c.at(interfaceShape.mtu, p, 'mtu', mtu);
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
  for (const k of TIMEOUT_KEYS) {
    if (o[k] === undefined) continue;
    const t = c.at(timeoutsShape[k], 'timeouts', k, o[k]);
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

/**
 * The plugin folders a config names (absolute), read before the config is
 * validated so that the plugins can be loaded and their names, flag words and
 * root keys take part in the validation; [] where `plugins` is malformed (the
 * validation reports it).
 */
export function pluginFolders(raw: unknown, file: string): string[] {
  if (!isObj(raw) || raw.plugins === undefined) return [];
  const c = new Checker(false);
  const out = pluginsOf(c, raw.plugins, file);
  return c.issues.length ? [] : out;
}

/** Checks the whole config; on success, the normalised desired state. */
export function validateConfig(raw: unknown, ctx: ValidateContext, opts: { trustShape?: boolean } = {}): ValidateResult {
  if (!isObj(raw)) {
    const c = new Checker(false);
    c.err('', 'the default export of config.ts must be the config object (use `export default defineConfig({ … })`)', raw);
    return { ok: false, errors: c.issues };
  }
  const pluginKeys = ctx.pluginKeys ?? new Map<string, z.ZodType>();
  // The plugins' root keys are theirs to check; the core shape sees the rest.
  let core: Obj = raw;
  if (pluginKeys.size && Object.keys(raw).some((k) => pluginKeys.has(k))) {
    core = {};
    for (const [k, v] of Object.entries(raw)) if (!pluginKeys.has(k)) core[k] = v;
  }
  // A service the memo knows passed every check before, under the same context: only the others are checked.
  const memo = ctx.serviceMemo;
  const known = (sv: unknown): DesiredService | undefined => (memo && typeof sv === 'object' && sv !== null ? memo.get(sv) : undefined);
  if (memo && Array.isArray(core.services) && core.services.some((sv) => known(sv) !== undefined)) {
    core = { ...core, services: core.services.filter((sv) => known(sv) === undefined) };
  }
  // trustShape: false (tests) walks field by field even when the shape passes.
  const c = new Checker(opts.trustShape !== false && lvsdConfigSchema.safeParse(core).success);
  const flags = flagWords(ctx);
  c.keys('', raw, pluginKeys.size ? [...ROOT_KEYS, ...pluginKeys.keys()] : ROOT_KEYS);
  const desired: DesiredState = {
    services: [],
    timeouts: raw.timeouts === undefined ? {} : timeoutsOf(c, raw.timeouts),
    plugins: raw.plugins === undefined ? [] : pluginsOf(c, raw.plugins, ctx.file),
    interfaces: raw.interfaces === undefined ? [] : interfacesOf(c, raw.interfaces),
    neighbors: raw.neighbors === undefined ? {} : neighborsOf(c, raw.neighbors),
    pluginConfig: {},
  };
  if (raw.gateway !== undefined) desired.gateways = gatewaysOf(c, raw.gateway);
  if (raw.workers !== undefined) {
    const w = c.at(lvsdShape.workers, '', 'workers', raw.workers);
    if (w !== undefined) desired.workers = w;
  }
  if (raw.maxConnections !== undefined) {
    const m = c.at(lvsdShape.maxConnections, '', 'maxConnections', raw.maxConnections);
    if (m !== undefined) desired.maxConnections = m;
  }
  if (raw.scriptUser !== undefined) {
    const u = c.at(lvsdShape.scriptUser, '', 'scriptUser', raw.scriptUser);
    if (u !== undefined) {
      if (lookupUser(u) === null) c.err('scriptUser', `user ${u} does not exist (not in /etc/passwd); create it, e.g. useradd -r -s /usr/sbin/nologin ${u}`);
      else desired.scriptUser = u;
    }
  }
  if (raw.services !== undefined) {
    const seen = new Map<string, number>();
    c.array('services', raw.services)?.forEach((sv, i) => {
      const path = join('services', i);
      let d = known(sv);
      if (!d) {
        const before = c.issues.length;
        const draft = serviceOf(c, path, sv, ctx, flags);
        if (!draft) return;
        d = draft.health ? { spec: draft.spec, dests: draft.dests, health: draft.health } : { spec: draft.spec, dests: draft.dests };
        if (memo && c.issues.length === before) memo.set(sv as object, d);
      }
      const k = serviceKeyText(d.spec);
      const first = seen.get(k);
      if (first !== undefined) c.err(path, `service ${k} is listed twice (also services[${first}])`);
      else {
        seen.set(k, i);
        desired.services.push(d);
      }
    });
  }
  if (raw.schedule !== undefined) desired.schedule = scheduleOf(c, raw.schedule, desired);
  for (const [key, schema] of pluginKeys) {
    if (raw[key] === undefined) continue;
    const r = schema.safeParse(raw[key]);
    if (r.success) { desired.pluginConfig[key] = r.data; continue; }
    for (const iss of r.error.issues) {
      const path = iss.path.reduce<string>((p, seg) => (typeof seg === 'symbol' ? p : join(p, seg)), key);
      c.err(path, iss.message);
    }
  }
  return c.issues.length ? { ok: false, errors: c.issues } : { ok: true, desired };
}

/** A service's persistence netmask as text, as ipvsadm prints it. */
export function netmaskText(spec: ServiceSpec): string {
  return spec.family === 'inet' ? u32ToIpv4(spec.netmask) : String(spec.netmask);
}

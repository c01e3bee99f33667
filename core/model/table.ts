// The service table: virtual services and their real servers, with the rules
// the kernel's IPVS enforces (ip_vs_ctl.c). Every operation either applies
// completely or fails with the kernel's errno and changes nothing.

import { addrFold32, addrWords, ipv4ToU32, ipv6ToBytes, type Family } from './addr.js';
import {
  SVC_F_PERSISTENT, destKeyText, serviceKeyText, zeroStats,
  type DestKey, type DestSpec, type DestView, type ServiceKey, type ServiceSpec, type ServiceView,
  type StatsView, type SyncDaemonSpec, type Timeouts,
} from './types.js';
import { fail, ok, type Result } from '../errors.js';
import { INTERNAL, type ChangeSource, type TableEvent } from './events.js';
import type { ForwarderLookup, SchedContext, SchedDest, SchedService, SchedulerPlugin } from '../plugin.js';

/** The counters the data plane feeds; zero until it does. */
export class Counters {
  conns = 0; inpkts = 0; outpkts = 0; inbytes = 0; outbytes = 0;
  cps = 0; inpps = 0; outpps = 0; inbps = 0; outbps = 0;
  /** Bumped by every zero() (`-Z`): the rate estimator restarts when it sees a new epoch. */
  epoch = 0;
  /**
   * The rate estimator's state for these counters (core/stats/estimator.ts),
   * kept with them as the kernel keeps struct ip_vs_estimator in ip_vs_stats;
   * null until the estimator first sees them.
   */
  est: Float64Array | null = null;
  zero(): void {
    this.epoch++;
    this.conns = this.inpkts = this.outpkts = this.inbytes = this.outbytes = 0;
    this.cps = this.inpps = this.outpps = this.inbps = this.outbps = 0;
  }
  view(): StatsView {
    return { conns: this.conns, inpkts: this.inpkts, outpkts: this.outpkts, inbytes: this.inbytes, outbytes: this.outbytes,
      cps: this.cps, inpps: this.inpps, outpps: this.outpps, inbps: this.inbps, outbps: this.outbps };
  }
}

/** A live real server. Schedulers see it through the SchedDest interface. */
export class Dest implements SchedDest {
  readonly family: Family;
  readonly addr: string;
  readonly port: number;
  readonly addr32: number;
  spec: DestSpec;
  lastWeight: number;
  persistConns = 0;
  available = true;
  // activeConns / inactConns / overloaded are accessors so that every change,
  // whoever makes it, reaches the service's scheduler (destLoad hook): the
  // least-connection schedulers keep incremental indexes over them.
  private active = 0;
  private inact = 0;
  private overload = false;
  /** Set by the table while the dest is linked into a service; null otherwise. */
  loadWatch: ((d: Dest) => void) | null = null;
  get activeConns(): number { return this.active; }
  set activeConns(v: number) { this.active = v; this.loadWatch?.(this); }
  get inactConns(): number { return this.inact; }
  set inactConns(v: number) { this.inact = v; this.loadWatch?.(this); }
  /** OVERLOAD flag: upper threshold reached (schedulers.md §0.3). */
  get overloaded(): boolean { return this.overload; }
  set overloaded(v: boolean) { if (v !== this.overload) { this.overload = v; this.loadWatch?.(this); } }
  /** In the trash: since when nothing has held it (seconds; 0 = still held or not yet seen idle). */
  idleSince = 0;
  readonly stats = new Counters();

  constructor(spec: DestSpec) {
    this.family = spec.family;
    this.addr = spec.addr;
    this.port = spec.port;
    this.addr32 = addrFold32(spec.family, spec.addr);
    this.spec = { ...spec };
    this.lastWeight = spec.weight;
  }
  get weight(): number { return this.spec.weight; }
  get uThreshold(): number { return this.spec.uThreshold; }
  get lThreshold(): number { return this.spec.lThreshold; }

  view(): DestView {
    // Object.assign, not `{ ...spec, more }`: V8 builds the spread-plus-properties
    // form through a slow path (~8x slower at 100 000 real servers per listing).
    return Object.assign({}, this.spec, { activeConns: this.activeConns, inactConns: this.inactConns,
      persistConns: this.persistConns, stats: this.stats.view() });
  }
}

/** A live virtual service. */
export class Service implements SchedService {
  spec: ServiceSpec;
  /** Kernel list order: newest first. */
  dests: Dest[] = [];
  sched: SchedulerPlugin<unknown> | null;
  schedState: unknown = undefined;
  readonly stats = new Counters();

  constructor(spec: ServiceSpec, sched: SchedulerPlugin<unknown> | null) {
    this.spec = { ...spec };
    this.sched = sched;
  }
  get family(): Family { return this.spec.family; }
  get protocol() { return this.spec.protocol; }
  get addr(): string { return this.spec.addr; }
  get port(): number { return this.spec.port; }
  get fwmark(): number { return this.spec.fwmark; }
  get flags(): number { return this.spec.flags; }

  findDest(k: DestKey): Dest | undefined {
    return this.dests.find((d) => d.family === k.family && d.addr === k.addr && d.port === k.port);
  }
  view(): ServiceView {
    return Object.assign({}, this.spec, { dests: this.dests.map((d) => d.view()), stats: this.stats.view() });
  }
}

/** How a connection counts on its dest: active, inactive (INACTIVE flag) or a persistence template. */
export type ConnKind = 'active' | 'inactive' | 'template';

export type SchedulerLookup = (name: string) => SchedulerPlugin<unknown> | undefined;

export interface TableOptions {
  schedulers: SchedulerLookup;
  /**
   * The capabilities of each method's forwarder (the registry's): what the
   * kernel hard-codes per method (another address family, the method's own
   * checks on a real server's options) the table reads from here.
   */
  forwarder: ForwarderLookup;
  /** Persistence engines the table knows (the kernel ships `sip`). */
  persistenceEngines?: readonly string[];
  /** Whether a network interface exists (for --start-daemon's mcast interface). */
  interfaceExists?: (name: string) => boolean;
  /** Interface MTU, for the sync daemon's default maxlen. */
  interfaceMtu?: (name: string) => number;
  ctx: SchedContext;
  /**
   * Receives every successful operation's event, in order (the daemon: its bus;
   * a data-plane replica: its engine). Called after the change is complete.
   */
  onEvent?: (ev: TableEvent) => void;
}

/** Connection hash table size shown as `size=` (2^conn_tab_bits, default 12). */
export const CONN_TAB_SIZE = 4096;
/** IPVS version code 0x010201 → 1.2.1. */
export const IPVS_VERSION = 0x010201;
/** How long (ms) a deleted dest stays revivable once nothing holds it (kernel: IP_VS_DEST_TRASH_PERIOD, 120 s). */
const TRASH_PERIOD = 120_000;

export const DEFAULT_TIMEOUTS: Timeouts = { tcp: 900, tcpfin: 120, udp: 300 };

export function sameServiceKey(a: ServiceKey, b: ServiceKey): boolean {
  if (a.fwmark > 0 || b.fwmark > 0) return a.fwmark === b.fwmark && a.family === b.family;
  return a.family === b.family && a.protocol === b.protocol && a.addr === b.addr && a.port === b.port;
}

/** Kernel rule for a real server's address: unicast only (ip_vs_new_dest). */
function destAddressValid(family: Family, addr: string): boolean {
  if (family === 'inet') {
    const n = ipv4ToU32(addr);
    if (n === null) return false;
    const first = n >>> 24;
    // zeronet, limited broadcast, multicast are not RTN_UNICAST/RTN_LOCAL.
    return first !== 0 && n !== 0xffffffff && (first & 0xf0) !== 0xe0;
  }
  const b = ipv6ToBytes(addr);
  if (!b) return false;
  if (b[0] === 0xff) return false;                                  // multicast
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return false;       // link-local
  return b.some((x) => x !== 0);                                    // :: is not unicast
}

/**
 * Kernel service hash order (ip_vs_svc_hashkey with the netns pointer term
 * taken as 0): what `--nosort` lists. Fwmark services come after, in their
 * own table.
 */
function svcHashBucket(s: ServiceSpec): number {
  // ip_vs_svc_fwm_hashkey: (netns term ^ fwmark) & IP_VS_SVC_TAB_MASK.
  if (s.fwmark > 0) return 256 + (s.fwmark & 0xff);
  const w = addrWords(s.family, s.addr);
  const fold = s.family === 'inet' ? w[0]! : (w[0]! ^ w[1]! ^ w[2]! ^ w[3]!) >>> 0;
  const proto = s.protocol === 'tcp' ? 6 : s.protocol === 'udp' ? 17 : 132;
  return (proto ^ fold ^ (s.port >>> 8) ^ s.port) & 0xff;
}

export class ServiceTable {
  private services: Service[] = [];
  /** Next due time of each service's scheduler tick (ms), for the scheduler state it was set for. */
  private readonly tickDue = new WeakMap<Service, { state: unknown; due: number }>();
  /** serviceKeyText → service: lookups stay O(1) however many services there are. */
  private readonly byKey = new Map<string, Service>();
  private trash: { svc: Service; dest: Dest }[] = [];
  /** kernelOrder()'s result, until the set of services changes. */
  private order: Service[] | null = null;
  timeouts: Timeouts = { ...DEFAULT_TIMEOUTS };
  daemons: SyncDaemonSpec[] = [];
  readonly opts: TableOptions;
  readonly total = new Counters();

  constructor(opts: TableOptions) { this.opts = opts; }

  // ------------------------------------------------------------ services

  list(): readonly Service[] { return this.services; }

  /** Services in the kernel's dump order (hash buckets, newest first within a bucket). */
  kernelOrder(): Service[] {
    // Kept until a service is added or removed (the bucket depends on the key alone), so a listing does not sort every time.
    if (!this.order) {
      const withIdx = this.services.map((s, i) => ({ s, i, b: svcHashBucket(s.spec) }));
      withIdx.sort((x, y) => x.b - y.b || y.i - x.i);
      this.order = withIdx.map((x) => x.s);
    }
    return this.order.slice();
  }

  find(k: ServiceKey): Service | undefined {
    return this.byKey.get(serviceKeyText(k));
  }

  private emit(ev: TableEvent): void { this.opts.onEvent?.(ev); }

  private lookupScheduler(name: string): Result<SchedulerPlugin<unknown> | null> {
    if (name === 'none') return ok(null);
    const p = this.opts.schedulers(name);
    return p ? ok(p) : fail('ENOENT', `scheduler "${name}" not found`);
  }

  private checkServiceSpec(s: ServiceSpec): Result<SchedulerPlugin<unknown> | null> {
    const sched = this.lookupScheduler(s.scheduler);
    if (!sched.ok) return sched;
    if (s.pe && !(this.opts.persistenceEngines ?? ['sip']).includes(s.pe)) {
      return fail('ENOENT', `persistence engine "${s.pe}" not found`);
    }
    if (s.family === 'inet6' && (s.flags & SVC_F_PERSISTENT) && (s.netmask < 1 || s.netmask > 128)) {
      return fail('EINVAL', `IPv6 persistence prefix ${s.netmask} is outside 1..128`);
    }
    if (s.fwmark === 0 && !(s.port >= 0 && s.port <= 65535)) return fail('EINVAL', `port ${s.port} is outside 0..65535`);
    return sched;
  }

  addService(spec: ServiceSpec, source: ChangeSource = INTERNAL): Result<Service> {
    const sched = this.checkServiceSpec(spec);
    if (!sched.ok) return sched;
    if (this.find(spec)) return fail('EEXIST', `service ${serviceKeyText(spec)} already exists`);
    const svc = new Service(spec, sched.value);
    const st = this.initState(svc, svc.sched);
    if (!st.ok) return st;
    svc.schedState = st.value;
    this.services.push(svc);
    this.byKey.set(serviceKeyText(svc.spec), svc);
    this.order = null;
    this.emit({ type: 'service.added', service: { ...svc.spec }, source });
    return ok(svc);
  }

  editService(spec: ServiceSpec, source: ChangeSource = INTERNAL): Result<Service> {
    const svc = this.find(spec);
    const sched = this.checkServiceSpec(spec);
    if (!svc) return fail('ESRCH', `no service ${serviceKeyText(spec)}`);
    if (!sched.ok) return sched;
    const before = svc.spec;
    svc.spec = { ...spec };
    if (svc.sched !== sched.value) {
      // Kernel order: unbind the old scheduler, then bind the new one. If the
      // new one's init throws, the old one is bound again with fresh state.
      this.doneState(svc);
      const st = this.initState(svc, sched.value);
      if (!st.ok) {
        svc.spec = before;
        this.rebuildState(svc);
        return st;
      }
      svc.sched = sched.value;
      svc.schedState = st.value;
    }
    this.emit({ type: 'service.changed', service: { ...svc.spec }, prev: before, source });
    return ok(svc);
  }

  deleteService(k: ServiceKey, source: ChangeSource = INTERNAL): Result<Service> {
    const svc = this.unlinkService(k);
    if (!svc) return fail('ESRCH', `no service ${serviceKeyText(k)}`);
    this.emit({ type: 'service.removed', service: { ...svc.spec }, source });
    return ok(svc);
  }

  private unlinkService(k: ServiceKey): Service | undefined {
    const svc = this.find(k);
    if (!svc) return undefined;
    this.doneState(svc);
    const i = this.services.indexOf(svc);
    this.services.splice(i, 1);
    this.byKey.delete(serviceKeyText(svc.spec));
    this.order = null;
    if (this.trash.length > 0) this.trash = this.trash.filter((t) => t.svc !== svc);
    for (const d of svc.dests) { d.available = false; d.loadWatch = null; }
    return svc;
  }

  /**
   * After the plugin registry was reloaded: a service whose scheduler code
   * changed gets the new code, with state rebuilt as on `-E -s`.
   */
  refreshSchedulers(): void {
    for (const svc of this.services) {
      const r = this.lookupScheduler(svc.spec.scheduler);
      if (!r.ok || r.value === svc.sched) continue;
      const st = this.initState(svc, r.value);
      if (!st.ok) continue;                 // the new code cannot start: the old keeps running
      this.doneState(svc);
      svc.sched = r.value;
      svc.schedState = st.value;
    }
  }

  /** `ipvsadm -C`: every service goes, newest last in the event as in the list. */
  flush(source: ChangeSource = INTERNAL): Result<void> {
    const gone = this.services.map((s) => ({ ...s.spec }));
    // unlinkService's work for every service, then the lists emptied at once
    // (one splice per service made flushing 100 000 services quadratic)
    for (const svc of this.services) {
      this.doneState(svc);
      for (const d of svc.dests) { d.available = false; d.loadWatch = null; }
    }
    this.services.length = 0;
    this.byKey.clear();
    this.trash = [];
    this.order = null;
    this.emit({ type: 'table.flushed', services: gone, source });
    return ok(undefined);
  }

  zero(k?: ServiceKey, source: ChangeSource = INTERNAL): Result<void> {
    if (k) {
      const svc = this.find(k);
      if (!svc) return fail('ESRCH', `no service ${serviceKeyText(k)}`);
      svc.stats.zero();
      for (const d of svc.dests) d.stats.zero();
      this.emit({ type: 'stats.zeroed', service: { family: k.family, protocol: k.protocol, addr: k.addr, port: k.port, fwmark: k.fwmark }, source });
      return ok(undefined);
    }
    for (const s of this.services) { s.stats.zero(); for (const d of s.dests) d.stats.zero(); }
    this.total.zero();
    this.emit({ type: 'stats.zeroed', source });
    return ok(undefined);
  }

  // ------------------------------------------------------------ real servers

  private checkDestSpec(svc: Service, d: DestSpec, adding: boolean): Result<void> {
    if (d.weight < 0) return fail('ERANGE', `weight ${d.weight} is negative`);
    if (d.lThreshold > d.uThreshold) {
      return fail('ERANGE', `lower threshold ${d.lThreshold} is above upper threshold ${d.uThreshold}`);
    }
    const caps = this.opts.forwarder(d.fwd);
    const own = caps?.checkDest?.(d) ?? null;
    if (own !== null) return fail('EINVAL', own);
    if (d.family !== svc.family) {
      if (caps?.crossFamily !== true) return fail('EINVAL', 'a real server of another address family must use tunnelling');
      if (this.daemons.length > 0) return fail('EINVAL', 'mixed address families are refused while a sync daemon runs');
    }
    if (adding && !destAddressValid(d.family, d.addr)) return fail('EINVAL', `${d.addr} is not a unicast address`);
    return ok(undefined);
  }

  addDest(k: ServiceKey, spec: DestSpec, source: ChangeSource = INTERNAL): Result<Dest> {
    const svc = this.find(k);
    if (!svc) return fail('ESRCH', `no service ${serviceKeyText(k)}`);
    const chk = this.checkDestSpec(svc, spec, true);
    if (!chk.ok) return chk;
    if (svc.findDest(spec)) return fail('EEXIST', `real server ${destKeyText(spec)} already exists`);
    // A dest deleted a short while ago is revived with its counters (ip_vs_trash_get_dest).
    const ti = this.trash.findIndex((t) => t.svc === svc && t.dest.family === spec.family
      && t.dest.addr === spec.addr && t.dest.port === spec.port);
    let dest: Dest;
    const revived = ti >= 0 ? this.trash.splice(ti, 1)[0]! : null;
    if (revived) {
      dest = revived.dest;
      dest.available = true;
    } else {
      dest = new Dest(spec);
    }
    const saved = { spec: dest.spec, lastWeight: dest.lastWeight };
    this.updateDest(dest, spec, true);
    svc.dests.unshift(dest);
    this.watchLoad(svc, dest);
    const h = this.hook(svc, 'addDest', (p) => p.addDest?.(svc, svc.schedState, dest, this.opts.ctx));
    if (!h.ok) {
      svc.dests.shift();
      dest.loadWatch = null;
      dest.available = false;
      dest.spec = saved.spec;
      dest.lastWeight = saved.lastWeight;
      if (revived) this.trash.push(revived);
      this.rebuildState(svc);
      return h;
    }
    this.emit({ type: 'dest.added', service: { ...svc.spec }, dest: { ...dest.spec }, source });
    return ok(dest);
  }

  /** __ip_vs_update_dest: the fields `-a/-e` set, and OVERLOAD/last_weight rules. */
  private updateDest(dest: Dest, spec: DestSpec, adding: boolean): void {
    if (spec.uThreshold === 0 || spec.uThreshold > dest.spec.uThreshold) dest.overloaded = false;
    if (adding || spec.weight !== 0) dest.lastWeight = spec.weight;
    dest.spec = { ...spec };
  }

  editDest(k: ServiceKey, spec: DestSpec, source: ChangeSource = INTERNAL): Result<Dest> {
    const svc = this.find(k);
    if (!svc) return fail('ESRCH', `no service ${serviceKeyText(k)}`);
    const chk = this.checkDestSpec(svc, spec, false);
    if (!chk.ok) return chk;
    const dest = svc.findDest(spec);
    if (!dest) return fail('ENOENT', `no real server ${destKeyText(spec)}`);
    const saved = { spec: dest.spec, lastWeight: dest.lastWeight, overloaded: dest.overloaded };
    this.updateDest(dest, spec, false);
    const h = this.hook(svc, 'updDest', (p) => p.updDest?.(svc, svc.schedState, dest, this.opts.ctx));
    if (!h.ok) {
      dest.spec = saved.spec;
      dest.lastWeight = saved.lastWeight;
      dest.overloaded = saved.overloaded;
      this.rebuildState(svc);
      return h;
    }
    this.emit({ type: 'dest.changed', service: { ...svc.spec }, dest: { ...dest.spec }, prev: saved.spec, source });
    return ok(dest);
  }

  deleteDest(k: ServiceKey, dk: DestKey, source: ChangeSource = INTERNAL): Result<Dest> {
    const svc = this.find(k);
    if (!svc) return fail('ESRCH', `no service ${serviceKeyText(k)}`);
    const dest = svc.findDest(dk);
    if (!dest) return fail('ENOENT', `no real server ${destKeyText(dk)}`);
    const at = svc.dests.indexOf(dest);
    svc.dests.splice(at, 1);
    dest.available = false;
    dest.loadWatch = null;
    dest.idleSince = 0;
    const h = this.hook(svc, 'delDest', (p) => p.delDest?.(svc, svc.schedState, dest, this.opts.ctx));
    if (!h.ok) {
      svc.dests.splice(at, 0, dest);
      dest.available = true;
      this.watchLoad(svc, dest);
      this.rebuildState(svc);
      return h;
    }
    this.trash.push({ svc, dest });
    this.emit({ type: 'dest.removed', service: { ...svc.spec }, dest: { ...dest.spec }, source });
    return ok(dest);
  }

  // Scheduler plugins are operator code: a hook that throws must not leave the
  // table and the scheduler disagreeing. The table undoes its own change and
  // the operation fails with EINVAL; the scheduler state is rebuilt from scratch.

  private hook(svc: Service, what: string, f: (p: SchedulerPlugin<unknown>) => void): Result<void> {
    if (!svc.sched) return ok(undefined);
    try { f(svc.sched); return ok(undefined); } catch (e) {
      return fail('EINVAL', `scheduler ${svc.sched.name}: ${what} hook failed: ${(e as Error).message}`);
    }
  }

  private initState(svc: Service, sched: SchedulerPlugin<unknown> | null): Result<unknown> {
    if (!sched) return ok(undefined);
    try { return ok(sched.init(svc, this.opts.ctx)); } catch (e) {
      return fail('EINVAL', `scheduler ${sched.name}: init hook failed: ${(e as Error).message}`);
    }
  }

  private doneState(svc: Service): void {
    try { svc.sched?.done?.(svc, svc.schedState, this.opts.ctx); } catch { /* its state is dropped anyway */ }
  }

  /** After a failed hook: state rebuilt from the service as it now is (kept as is if init fails too). */
  private rebuildState(svc: Service): void {
    const st = this.initState(svc, svc.sched);
    if (st.ok) svc.schedState = st.value;
  }

  /** Passes a linked dest's counter/OVERLOAD changes to its service's scheduler. */
  private watchLoad(svc: Service, dest: Dest): void {
    const ctx = this.opts.ctx;
    dest.loadWatch = (d) => {
      const s = svc.sched;
      if (s?.destLoad) s.destLoad(svc, svc.schedState, d, ctx);
    };
  }

  /**
   * ip_vs_bind_dest: a connection (active or inactive) or a persistence
   * template now uses the dest. Sets OVERLOAD when the upper threshold is
   * reached (schedulers.md §0.3; templates do not count but still run the test).
   */
  bindConn(dest: Dest, kind: ConnKind): void {
    if (kind === 'template') dest.persistConns++;
    else if (kind === 'inactive') dest.inactConns++;
    else dest.activeConns++;
    if (dest.uThreshold !== 0 && dest.activeConns + dest.inactConns >= dest.uThreshold) dest.overloaded = true;
  }

  /** ip_vs_unbind_dest: a connection or template of the dest expired; OVERLOAD clearing rules (§0.3). */
  unbindConn(dest: Dest, kind: ConnKind): void {
    if (kind === 'template') dest.persistConns--;
    else if (kind === 'inactive') dest.inactConns--;
    else dest.activeConns--;
    const total = dest.activeConns + dest.inactConns;
    if (dest.lThreshold !== 0) {
      if (total < dest.lThreshold) dest.overloaded = false;
    } else if (dest.uThreshold !== 0) {
      if (total * 4 < dest.uThreshold * 3) dest.overloaded = false;
    } else {
      dest.overloaded = false;
    }
  }

  /**
   * ip_vs_dest_trash_expire: a trashed dest is freed once nothing has held it
   * for TRASH_PERIOD, the idle clock starting the first time it is seen idle.
   */
  cleanTrash(): void {
    const now = this.opts.ctx.now();
    this.trash = this.trash.filter(({ dest }) => {
      if (dest.activeConns + dest.inactConns + dest.persistConns > 0) { dest.idleSince = 0; return true; }
      if (dest.idleSince === 0) { dest.idleSince = now; return true; }
      return now - dest.idleSince < TRASH_PERIOD;
    });
  }

  /**
   * Once a second: the schedulers' ticks that are due (LBLC garbage collection
   * and the like; a new service or scheduler state ticks first one interval
   * from now), then the trashed dests nothing holds. A tick that throws is
   * reported through `fail` and does not stop the others.
   */
  housekeep(fail: (message: string) => void): void {
    const ctx = this.opts.ctx;
    const now = ctx.now();
    for (const svc of this.services) {
      const sched = svc.sched;
      if (!sched?.tick) continue;
      const every = sched.tickInterval ?? 60_000;   // ms, as ctx.now()
      const t = this.tickDue.get(svc);
      if (!t || t.state !== svc.schedState) { this.tickDue.set(svc, { state: svc.schedState, due: now + every }); continue; }
      if (now < t.due) continue;
      t.due = now + every;
      try { sched.tick(svc, svc.schedState, ctx); } catch (e) {
        fail(`scheduler ${sched.name} tick for ${serviceKeyText(svc.spec)} failed: ${(e as Error).message}`);
      }
    }
    this.cleanTrash();
  }

  // ------------------------------------------------------------ timeouts, daemons

  /** `--set tcp tcpfin udp`: 0 leaves a value unchanged. */
  setTimeouts(t: Timeouts, source: ChangeSource = INTERNAL): Result<void> {
    for (const v of [t.tcp, t.tcpfin, t.udp]) {
      if (!Number.isInteger(v) || v < 0 || v > 2678400) return fail('EINVAL', `timeout ${v} is outside 0..2678400`);
    }
    if (t.tcp) this.timeouts.tcp = t.tcp;
    if (t.tcpfin) this.timeouts.tcpfin = t.tcpfin;
    if (t.udp) this.timeouts.udp = t.udp;
    this.emit({ type: 'timeouts.changed', timeouts: { ...this.timeouts }, source });
    return ok(undefined);
  }

  startDaemon(d: Omit<SyncDaemonSpec, 'maxlen'> & { maxlen: number }, source: ChangeSource = INTERNAL): Result<SyncDaemonSpec> {
    if (this.daemons.some((x) => x.state === d.state)) return fail('EEXIST', `${d.state} sync daemon already runs`);
    if (this.opts.interfaceExists && !this.opts.interfaceExists(d.mcastIfn)) {
      return fail('ENODEV', `no interface ${d.mcastIfn}`);
    }
    for (const s of this.services) {
      if (s.dests.some((x) => x.family !== s.family)) return fail('EINVAL', 'real servers of mixed address families exist');
    }
    const hdr = d.group.includes(':') ? 48 : 28;
    let maxlen = d.maxlen;
    if (maxlen === 0) {
      const mtu = this.opts.interfaceMtu?.(d.mcastIfn) ?? 1500;
      maxlen = (d.state === 'master' ? 1500 : Math.min(Math.max(mtu, 1500), 65535)) - hdr;
    } else {
      maxlen = Math.min(Math.max(maxlen, d.state === 'master' ? 1 : 1024), 65535 - hdr);
    }
    const spec: SyncDaemonSpec = { ...d, maxlen };
    this.daemons.push(spec);
    this.daemons.sort((a, b) => (a.state === 'master' ? 0 : 1) - (b.state === 'master' ? 0 : 1));
    this.emit({ type: 'daemon.started', daemon: { ...spec }, source });
    return ok(spec);
  }

  stopDaemon(state: 'master' | 'backup', source: ChangeSource = INTERNAL): Result<void> {
    const i = this.daemons.findIndex((x) => x.state === state);
    if (i < 0) return fail('ESRCH', `no ${state} sync daemon runs`);
    this.daemons.splice(i, 1);
    this.emit({ type: 'daemon.stopped', state, source });
    return ok(undefined);
  }

  /** A JSON-safe snapshot of every service in kernel order, for lvsadm. */
  snapshot(): ServiceView[] {
    return this.kernelOrder().map((s) => s.view());
  }
}

export { zeroStats };

// The VRRP instances of one director, wired to the system: each instance's
// state machine (vrrp-state.ts) gets its adverts from a channel per interface
// and family, and its actions go out as packets, VIP changes, gratuitous ARPs
// / unsolicited NAs, notify programs and state events. The system calls are
// behind `VrrpNet` (vrrp-net.ts on a real host, a virtual link in tests), the
// programs behind `run`, the clock is the daemon's: the runner itself is
// deterministic.

import {
  AUTH_NONE, AUTH_PASS, VRRP_GROUP4, VRRP_GROUP6, decodeAdvert, sameBytes, encodeAdvert, encodeVrrp, ipToString, parseIp,
  type RejectReason, type RxConfig, type VrrpVersion,
} from './vrrp-packet.js';
import { VrrpHmac, type HmacConfig } from './vrrp-auth.js';
import { VrrpInstance, resolveInstance, type VrrpAction, type VrrpClock, type VrrpInstanceConfig, type VrrpState } from './vrrp-state.js';

// ---------------------------------------------------------------- what the system offers

export type NetResult<T> = { ok: true; value: T } | { ok: false; error: { message: string; errno: number } };
export interface LinkInfo { ifindex: number; mac: Uint8Array; up: boolean; ipv4: string[]; ipv6: string[]; ipv6LinkLocal?: string }
export interface VrrpRxPacket { data: Uint8Array; ifindex: number }
export interface VrrpChannel {
  send4(datagram: Uint8Array): NetResult<void>;
  send6(vrrp: Uint8Array, src: string, dst: string): NetResult<void>;
  close(): void;
}
/** The system calls VRRP needs (plugins/ha/lib/vrrp-net.ts). */
export interface VrrpNet {
  linkInfo(ifname: string): LinkInfo | null;
  openChannel(o: { ifname: string; family: 4 | 6; group?: string; onPacket(p: VrrpRxPacket): void; onError?(e: { message: string }): void }): NetResult<VrrpChannel>;
  addAddress(ifname: string, addr: string, prefixLen: number): NetResult<'added' | 'present'>;
  deleteAddress(ifname: string, addr: string, prefixLen: number): NetResult<'deleted' | 'absent'>;
  sendGratuitousArp(ifname: string, vip: string, count: number): NetResult<void>;
  sendUnsolicitedNa(ifname: string, vip: string, count: number): NetResult<void>;
  /** keepalived's use_vmac: a macvlan with the virtual MAC on ifname; its name. */
  createVmac(ifname: string, vrid: number, family: 4 | 6, name?: string): NetResult<string>;
  deleteVmac(name: string): NetResult<void>;
}

/** An advert authenticator (HMAC): seals what is sent, opens what is received (the packet without its trailer, for decodeAdvert). */
export interface AdvertAuth {
  seal4(datagram: Uint8Array): Uint8Array;
  seal6(vrrp: Uint8Array, src: Uint8Array, dst: Uint8Array): Uint8Array;
  open(packet: Uint8Array, family: 4 | 6): { ok: true; packet: Uint8Array } | { ok: false; reason: string; text: string };
}

// ---------------------------------------------------------------- configuration (parsed by the plugin's schema)

export interface VipConfig { address: string; prefixLen: number; interface?: string }
export interface TrackScriptRun {
  name: string; argv: string[];
  /** Seconds. */
  interval: number; timeout: number;
  weight?: number; reverse?: boolean; rise?: number; fall?: number; initFail?: boolean;
}
export interface InstanceConfig {
  name: string;
  interface: string;
  vrid: number;
  priority?: number;
  state?: 'MASTER' | 'BACKUP';
  advertInt: number;
  version?: VrrpVersion;
  vips: VipConfig[];
  vipsExcluded: VipConfig[];
  preempt: boolean;
  preemptDelay?: number;
  mcastSrc?: string;
  mcastGroup?: string;
  unicastSrc?: string;
  unicastPeers: Array<{ address: string; minTtl?: number; maxTtl?: number }>;
  unicastTtl?: number;
  checkUnicastSrc?: boolean;
  skipCheckAdvAddr?: boolean;
  /** v2 PASS (keepalived 2.2.7), or HMAC-SHA256 trailers (keepalived ≥ 2.4 auth_hmac, any version). */
  auth?: { type: 'pass'; password: string } | ({ type: 'hmac' } & HmacConfig);
  trackInterfaces: Array<{ name: string; weight?: number; reverse?: boolean }>;
  /** Service keys as the bus names them (`${protocol}:${addr}:${port}` / `fwm:${mark}`). */
  trackServices: Array<{ service: string; weight?: number; reverse?: boolean }>;
  trackScripts: TrackScriptRun[];
  notify: Partial<Record<'master' | 'backup' | 'fault' | 'stop' | 'notify' | 'masterRxLowerPri', string[]>>;
  garp: Partial<Record<'masterDelay' | 'masterRepeat' | 'lowerPrioDelay' | 'lowerPrioRepeat' | 'masterRefresh' | 'masterRefreshRepeat', number>>;
  downTimerAdverts?: number;
  lowerPrioNoAdvert?: boolean;
  higherPrioSendAdvert?: boolean;
  strict?: boolean;
  dontTrackPrimary?: boolean;
  advertSchedule: 'own' | 'keepalived';
  /** keepalived's use_vmac: the name of the macvlan (vrrp.<VRID>) adverts, VIPs and GARPs use. */
  useVmac?: string;
}
export interface SyncGroupConfig { name: string; instances: string[]; notify: Partial<Record<'master' | 'backup' | 'fault' | 'stop' | 'notify', string[]>> }
export interface RunnerConfig { instances: InstanceConfig[]; syncGroups: SyncGroupConfig[] }

// ---------------------------------------------------------------- status (lvsadm -L --vrrp)

export interface InstanceStatus {
  name: string; interface: string; vrid: number; version: VrrpVersion; family: 4 | 6;
  state: VrrpState; priority: number; basePriority: number;
  /** Advert interval in use, ms (v3 backups: the master's). */
  advertIntMs: number;
  /** The master's address ('' when none is known); ours when MASTER. */
  master: string;
  masterPriority: number;
  /** ms since the epoch of the last transition, with its text (`Entering MASTER STATE (…)`). */
  since: number; reason: string;
  syncGroup?: string;
  counters: Record<string, number>;
}

export interface RunnerDeps {
  net: VrrpNet;
  clock: VrrpClock;
  /** Wall-clock ms for "since" (Date.now). */
  wallNow: () => number;
  log: { info(m: string): void; warn(m: string): void; error(m: string): void };
  /** A state change of an instance (the bus's ha.state). */
  onState(instance: string, state: VrrpState, reason: string): void;
  /** Runs a program; resolves with its exit status (null: killed, not started, timed out). */
  run(argv: string[], timeoutMs: number): Promise<{ status: number | null; error?: string }>;
  /**
   * The data plane takes (true) or leaves (false) these VIPs; resolves once it has. A VIP is
   * held before its address is added and let go after it is removed. Absent: VIPs change at once.
   */
  hold?(addrs: readonly string[], held: boolean): Promise<void>;
}

// ---------------------------------------------------------------- one instance at run time

const LINK_POLL_MS = 100;
/** A notify program that runs longer than this is killed (keepalived has no limit; a hung one must not pile up). */
const NOTIFY_TIMEOUT_MS = 30_000;

interface Live {
  cfg: InstanceConfig;
  family: 4 | 6;
  machine: VrrpInstance | null;
  /** Our advert source; null while the interface has none. */
  src: Uint8Array | null;
  group: Uint8Array;
  advertised: Uint8Array[];
  rx: RxConfig;
  channel: Shared | null;
  counters: Map<string, number>;
  since: number;
  reason: string;
  auth: AdvertAuth | undefined;
  syncGroup: SyncGroupConfig | undefined;
  /** Forced by the sync group: the member follows the group rather than its own timer for this transition. */
  following: boolean;
  /** VIP changes and GARPs in order, each after the data plane has followed the one before (deps.hold). */
  chain: Promise<void>;
  /** Where adverts, VIPs (by default) and GARPs go: the VMAC interface with use_vmac, else the instance's. */
  txIf: string;
}

/** A channel shared by the instances on one interface and family. */
interface Shared {
  key: string; ifname: string; family: 4 | 6; group: string | undefined;
  /** null while it cannot be opened (no such interface yet) or after it broke (the link went down): reopened by the link poll. */
  ch: VrrpChannel | null;
  /** Why the last open failed. */
  lastError?: string;
  users: Set<Live>;
}

const familyOf = (addr: string): 4 | 6 => (addr.includes(':') ? 6 : 4);
const bump = (m: Map<string, number>, k: string, n = 1): void => { m.set(k, (m.get(k) ?? 0) + n); };

/** Destination bytes of a whole IPv4/IPv6 packet, or null when it is too short to have one. */
function dstOf(p: Uint8Array, family: 4 | 6): Uint8Array | null {
  if (family === 4) return p.length >= 20 ? p.subarray(16, 20) : null;
  return p.length >= 40 ? p.subarray(24, 40) : null;
}

export class VrrpRunner {
  private readonly deps: RunnerDeps;
  private cfg: RunnerConfig;
  private readonly live = new Map<string, Live>();
  private readonly channels = new Map<string, Shared>();
  private readonly scriptTimers = new Map<string, unknown>();
  private readonly scriptRuns = new Map<string, AbortController>();
  private linkTimer: unknown = undefined;
  private readonly linkUp = new Map<string, boolean>();
  private readonly quorum = new Map<string, boolean>();
  private stopped = false;
  private readonly pending = new Set<Promise<void>>();

  constructor(cfg: RunnerConfig, deps: RunnerDeps) {
    this.cfg = cfg;
    this.deps = deps;
  }

  /** Every problem that keeps the configuration from running (names, VRIDs, sync groups), as sentences. */
  static check(cfg: RunnerConfig): string[] {
    const errs: string[] = [];
    const names = new Set<string>();
    const vrids = new Map<string, string>();
    for (const i of cfg.instances) {
      if (names.has(i.name)) errs.push(`vrrp instance ${i.name}: the name is used twice`);
      names.add(i.name);
      const all = [...i.vips, ...i.vipsExcluded];
      const fam = all[0] ? familyOf(all[0].address) : familyOf(i.unicastSrc ?? i.mcastSrc ?? '0.0.0.0');
      if (all.some((v) => familyOf(v.address) !== fam)) errs.push(`vrrp instance ${i.name}: all VIPs must be of one family (IPv4 or IPv6)`);
      for (const p of i.unicastPeers) if (familyOf(p.address) !== fam) errs.push(`vrrp instance ${i.name}: unicast peer ${p.address} is not of the VIPs' family`);
      const k = `${i.interface}/${fam}/${i.vrid}`;
      const other = vrids.get(k);
      if (other) errs.push(`vrrp instance ${i.name}: VRID ${i.vrid} on ${i.interface} (IPv${fam}) is already used by ${other}`);
      vrids.set(k, i.name);
      const r = resolveInstance(machineConfig(i, fam === 4 ? '0.0.0.0' : '::'));
      if (!r.ok) errs.push(r.error);
    }
    const inGroup = new Map<string, string>();
    for (const g of cfg.syncGroups) {
      for (const m of g.instances) {
        if (!names.has(m)) errs.push(`vrrp sync group ${g.name}: no instance named ${m}`);
        const was = inGroup.get(m);
        if (was) errs.push(`vrrp sync group ${g.name}: instance ${m} is already in sync group ${was}`);
        inGroup.set(m, g.name);
      }
    }
    return errs;
  }

  start(): void {
    for (const c of this.cfg.instances) this.startInstance(c);
    this.startScripts();
    this.pollLinks();
  }

  /** New configuration: instances whose settings are unchanged keep running (no flap); the others restart. */
  reconfigure(next: RunnerConfig): void {
    const prev = this.cfg;
    this.cfg = next;
    const key = (c: InstanceConfig): string => JSON.stringify([c, groupOf(next, c.name) ?? null]);
    const prevKey = new Map(prev.instances.map((c) => [c.name, JSON.stringify([c, groupOf(prev, c.name) ?? null])]));
    for (const [name, l] of [...this.live]) {
      const now = next.instances.find((c) => c.name === name);
      if (now && prevKey.get(name) === key(now)) { l.syncGroup = groupOf(next, name); continue; }
      this.stopInstance(l, now ? 'configuration changed' : 'removed from the configuration');
    }
    for (const c of next.instances) if (!this.live.has(c.name)) this.startInstance(c);
    this.stopScripts();
    this.startScripts();
  }

  /** Shutdown: a MASTER sends one priority-0 advert and removes its VIPs; channels and timers are closed. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const l of [...this.live.values()]) this.stopInstance(l, 'lvsd is stopping');
    this.stopScripts();
    if (this.linkTimer !== undefined) this.deps.clock.clearTimeout(this.linkTimer);
    this.linkTimer = undefined;
  }

  status(): InstanceStatus[] {
    return [...this.live.values()].map((l) => {
      const m = l.machine;
      const master = m?.state === 'MASTER' ? l.src : m?.master?.src ?? null;
      return {
        name: l.cfg.name, interface: l.cfg.interface, vrid: l.cfg.vrid, version: m?.cfg.version ?? (l.cfg.version ?? (l.family === 6 ? 3 : 2)),
        family: l.family, state: m?.state ?? 'FAULT', priority: m?.effectivePriority ?? 0, basePriority: m?.cfg.basePriority ?? (l.cfg.priority ?? 100),
        advertIntMs: m ? Math.round(m.masterAdverInterval / 1000) : Math.round(l.cfg.advertInt * 1000),
        master: master && (m?.state === 'MASTER' || m?.state === 'BACKUP') ? ipToString(master) : '',
        masterPriority: m?.state === 'MASTER' ? m.effectivePriority : m?.state === 'BACKUP' ? m.master?.priority ?? 0 : 0,
        since: l.since, reason: l.reason,
        ...(l.syncGroup ? { syncGroup: l.syncGroup.name } : {}),
        counters: Object.fromEntries(l.counters),
      };
    });
  }

  // ------------------------------------------------------------ tracking inputs from the daemon

  /** A health-checked service's quorum (the bus's service.quorum), by the key trackServices uses. */
  serviceQuorum(service: string, up: boolean): void {
    this.quorum.set(service, up);
    for (const l of this.live.values()) {
      if (l.cfg.trackServices.some((t) => t.service === service)) l.machine?.setTrackedObject(`service ${service}`, up);
    }
  }

  // ------------------------------------------------------------ instances

  private startInstance(c: InstanceConfig): void {
    const all = [...c.vips, ...c.vipsExcluded];
    const family = all[0] ? familyOf(all[0].address) : familyOf(c.unicastSrc ?? c.mcastSrc ?? '0.0.0.0');
    const groupText = c.mcastGroup ?? (family === 4 ? VRRP_GROUP4 : VRRP_GROUP6);
    const l: Live = {
      cfg: c, family, machine: null, src: null, group: parseIp(groupText)!, advertised: c.vips.map((v) => parseIp(v.address)!),
      rx: { version: 2, vrid: c.vrid, vips: [], advertInt: 1 }, channel: null, counters: new Map(),
      since: this.deps.wallNow(), reason: 'starting', auth: this.hmacOf(c), syncGroup: groupOf(this.cfg, c.name), following: false, chain: Promise.resolve(), txIf: c.interface,
    };
    this.live.set(c.name, l);
    if (c.useVmac && !this.makeVmac(l, c.useVmac)) return;
    this.attach(l);
    this.build(l);
  }

  /**
   * use_vmac: the macvlan with the virtual MAC, on every node from the start (keepalived does);
   * one left by a crashed predecessor is made again. False (instance in FAULT) when it cannot be.
   */
  private makeVmac(l: Live, name: string): boolean {
    const c = l.cfg;
    let r = this.deps.net.createVmac(c.interface, c.vrid, l.family, name);
    if (!r.ok && r.error.errno === 17 /* EEXIST */) {
      const d = this.deps.net.deleteVmac(name);
      r = d.ok ? this.deps.net.createVmac(c.interface, c.vrid, l.family, name) : { ok: false, error: d.error };
    }
    if (!r.ok) {
      this.deps.log.error(`(${c.name}) use_vmac: ${r.error.message}`);
      this.setFaultPending(l, `VMAC interface ${name} could not be made`);
      return false;
    }
    this.deps.log.info(`(${c.name}) Success creating VMAC interface ${r.value}`);
    l.txIf = r.value;
    return true;
  }

  /** Makes the state machine once the source address is known (the interface's, unless configured). */
  private build(l: Live): void {
    const c = l.cfg;
    const link = this.deps.net.linkInfo(c.interface);
    const configured = c.unicastSrc ?? c.mcastSrc;
    const src = configured ?? (l.family === 4 ? link?.ipv4[0] : link?.ipv6LinkLocal);
    if (!src) {
      // keepalived: no address to send from → FAULT until one appears (polled)
      if (!l.machine) this.setFaultPending(l, link ? `${c.interface} has no IPv${l.family} address` : `interface ${c.interface} not found`);
      return;
    }
    if (!l.channel?.ch) {
      // deaf and mute (no CAP_NET_RAW, …): it would "become MASTER" on its own timer and hold nothing
      this.setFaultPending(l, `its VRRP socket on ${l.txIf} could not be opened${l.channel?.lastError ? `: ${l.channel.lastError}` : ''}`);
      return;
    }
    const resolved = resolveInstance(machineConfig(c, src));
    if (!resolved.ok) { this.deps.log.error(resolved.error); this.setFaultPending(l, resolved.error); return; }
    for (const w of resolved.warnings) this.deps.log.warn(w);
    l.src = resolved.instance.src;
    l.rx = {
      version: resolved.instance.version, vrid: c.vrid, vips: l.advertised, advertInt: resolved.instance.advertInt,
      ...(c.auth?.type === 'pass' ? { authType: AUTH_PASS, authPass: c.auth.password } : { authType: AUTH_NONE }),
      unicast: c.unicastPeers.length > 0,
      unicastPeers: c.unicastPeers.map((p) => ({ addr: parseIp(p.address)!, ...(p.minTtl !== undefined ? { minTtl: p.minTtl } : {}), ...(p.maxTtl !== undefined ? { maxTtl: p.maxTtl } : {}) })),
      checkUnicastSrc: c.checkUnicastSrc ?? false, skipCheckAdvAddr: c.skipCheckAdvAddr ?? false, group: l.group,
    };
    const m = new VrrpInstance(resolved.instance, { clock: this.deps.clock, emit: (a) => this.act(l, a) });
    l.machine = m;
    m.setInterfaceUp(link?.up ?? false);
    for (const t of c.trackInterfaces) m.setTrackedInterface(t.name, this.deps.net.linkInfo(t.name)?.up ?? false);
    for (const t of c.trackServices) { const q = this.quorum.get(t.service); if (q !== undefined) m.setTrackedObject(`service ${t.service}`, q); }
    m.start();
  }

  /** No state machine yet (no address): reported as FAULT with the reason. */
  private setFaultPending(l: Live, why: string): void {
    // the link poll retries every 100 ms: said (and reported) once per reason
    if (l.reason === why) return;
    this.deps.log.warn(`(${l.cfg.name}) Entering FAULT STATE (${why})`);
    l.reason = why;
    l.since = this.deps.wallNow();
    this.deps.onState(l.cfg.name, 'FAULT', why);
  }

  private stopInstance(l: Live, why: string): void {
    this.deps.log.info(`(${l.cfg.name}) stopping: ${why}`);
    l.machine?.stop();
    this.live.delete(l.cfg.name);
    this.detach(l);
    const vmac = l.cfg.useVmac;
    if (vmac && l.txIf === vmac) {
      this.inOrder(l, () => {
        const r = this.deps.net.deleteVmac(vmac);
        if (!r.ok) this.deps.log.warn(`(${l.cfg.name}) ${r.error.message}`);
      });
    }
  }

  /** An HMAC instance's authenticator: its sequence numbers come from the wall clock, shared by the peers. */
  private hmacOf(c: InstanceConfig): AdvertAuth | undefined {
    if (c.auth?.type !== 'hmac') return undefined;
    const { type: _t, ...cfg } = c.auth;
    const h = new VrrpHmac(cfg, { now: this.deps.wallNow });
    return {
      seal4: (d) => h.seal(d),
      seal6: (v, src, dst) => h.seal(v, { src, dst }),
      open: (p) => {
        const r = h.open(p);
        if (r.kind === 'reject') return { ok: false, reason: `hmac-${r.reason}`, text: r.text };
        if (r.warning) this.deps.log.warn(`(${c.name}) ${r.warning}`);
        return { ok: true, packet: r.packet };
      },
    };
  }

  // ------------------------------------------------------------ channels

  private attach(l: Live): void {
    const key = `${l.txIf}/${l.family}`;
    let s = this.channels.get(key);
    if (!s) {
      s = { key, ifname: l.txIf, family: l.family, group: l.cfg.mcastGroup, ch: null, users: new Set() };
      this.channels.set(key, s);
      this.open(s, true);
    }
    s.users.add(l);
    l.channel = s;
  }

  /**
   * Opens a channel's sockets. A socket that fails (the link went down: ENETDOWN)
   * is closed and opened again by the link poll once the link is up, so an
   * instance never goes on deaf (it would take MASTER beside the real one).
   */
  private open(s: Shared, first: boolean): void {
    const r = this.deps.net.openChannel({
      ifname: s.ifname, family: s.family, ...(s.group ? { group: s.group } : {}),
      onPacket: (p) => this.receive(s.users, p.data, s.family),
      onError: (e) => {
        this.deps.log.warn(`${e.message}; opened again when the link is up`);
        s.ch?.close();
        s.ch = null;
      },
    });
    if (r.ok) {
      s.ch = r.value;
      delete s.lastError;
      if (!first) this.deps.log.info(`vrrp socket on ${s.ifname} (IPv${s.family}) open again`);
    } else {
      if (first) this.deps.log.error(`${r.error.message}; tried again while the instance waits in FAULT`);
      s.lastError = r.error.message;
    }
  }

  private detach(l: Live): void {
    const s = l.channel;
    l.channel = null;
    if (!s) return;
    s.users.delete(l);
    if (s.users.size === 0) { s.ch?.close(); this.channels.delete(s.key); }
  }

  /**
   * One packet from a channel: to every instance that would see it on keepalived's
   * sockets. What an instance does not take is counted on it too (`rx-ignored-…`:
   * another VRID, another destination, too short), so every packet shows somewhere.
   */
  private receive(users: ReadonlySet<Live>, raw: Uint8Array, family: 4 | 6): void {
    const dst = dstOf(raw, family);
    for (const l of users) {
      const m = l.machine;
      if (!m || !l.src) continue;
      if (!dst) { bump(l.counters, 'rx-ignored-too-short'); continue; }
      // a multicast instance's socket is bound to the group; a unicast one sees what is sent to its own address
      if (l.rx.unicast ? !sameBytes(dst, l.src) : !sameBytes(dst, l.group)) { bump(l.counters, 'rx-ignored-destination'); continue; }
      let pkt = raw;
      if (l.auth) {
        const o = l.auth.open(raw, family);
        if (!o.ok) { bump(l.counters, `rx-rejected-${o.reason}`); bump(l.counters, 'rx-rejected'); this.deps.log.info(`(${l.cfg.name}) ${o.text}`); continue; }
        pkt = o.packet;
      }
      const known = m.knownMaster;
      const out = decodeAdvert(pkt, known ? { ...l.rx, knownMaster: known } : l.rx);
      if (out.kind === 'ignored') { bump(l.counters, `rx-ignored-${out.reason}`); continue; }
      bump(l.counters, 'rx');
      if (out.kind === 'rejected') { bump(l.counters, 'rx-rejected'); bump(l.counters, `rx-rejected-${out.reason satisfies RejectReason}`); }
      else bump(l.counters, 'rx-accepted');
      m.receive(out);
    }
  }

  // ------------------------------------------------------------ actions

  private act(l: Live, a: VrrpAction): void {
    const name = l.cfg.name;
    switch (a.type) {
      case 'advert': this.sendAdvert(l, a.priority, a.advertInt, a.ipId, a.oldUnicastChecksum); return;
      case 'state': {
        l.since = this.deps.wallNow();
        l.reason = a.text;
        this.deps.log.info(`(${name}) ${a.text}`);
        this.deps.onState(name, a.to, a.text);
        this.syncGroupFollow(l, a.to);
        return;
      }
      case 'add-vips': this.inOrder(l, async () => { await this.deps.hold?.(this.addrsOf(l), true); this.vips(l, true); }); return;
      case 'remove-vips': this.inOrder(l, async () => { this.vips(l, false); await this.deps.hold?.(this.addrsOf(l), false); }); return;
      case 'garp': { const n = a.count; this.inOrder(l, () => this.garp(l, n)); return; }
      case 'notify': {
        const n = l.cfg.notify;
        const own = a.state === 'MASTER' ? n.master : a.state === 'BACKUP' ? n.backup : a.state === 'FAULT' ? n.fault : n.stop;
        if (own) this.runNotify(name, own);
        if (n.notify) this.runNotify(name, [...n.notify, ...a.args]);
        return;
      }
      case 'notify-master-rx-lower-pri':
        if (l.cfg.notify.masterRxLowerPri) this.runNotify(name, l.cfg.notify.masterRxLowerPri);
        return;
      case 'log': {
        if (a.level === 'error') this.deps.log.error(a.text);
        else if (a.level === 'warning') this.deps.log.warn(a.text);
        else this.deps.log.info(a.text);
      }
    }
  }

  private addrsOf(l: Live): string[] { return [...l.cfg.vips, ...l.cfg.vipsExcluded].map((v) => v.address); }

  /** At once without a data plane to wait for; else after the instance's earlier VIP work. */
  private inOrder(l: Live, f: () => void | Promise<void>): void {
    if (!this.deps.hold) { void f(); return; }
    const p = l.chain.then(f).catch((e: unknown) => this.deps.log.error(`(${l.cfg.name}) ${e instanceof Error ? e.message : String(e)}`));
    l.chain = p;
    this.pending.add(p);
    void p.then(() => this.pending.delete(p));
  }

  /** Resolves when every queued VIP change (of running and stopped instances) is done. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private sendAdvert(l: Live, priority: number, advertInt: number, ipId: number, oldChecksum: boolean): void {
    const m = l.machine;
    const ch = l.channel?.ch;
    if (!m || !l.src || !ch) { bump(l.counters, 'tx-error'); return; }
    const c = l.cfg;
    const fields = {
      version: m.cfg.version, vrid: c.vrid, priority, advertInt, addrs: l.advertised,
      ...(c.auth?.type === 'pass' ? { authType: AUTH_PASS, authPass: c.auth.password } as const : {}),
    };
    const dsts = c.unicastPeers.length > 0 ? c.unicastPeers.map((p) => parseIp(p.address)!) : [l.group];
    const ttl = c.unicastPeers.length > 0 ? c.unicastTtl : undefined;
    for (const dst of dsts) {
      let r: NetResult<void>;
      if (l.family === 4) {
        let d = encodeAdvert({ ...fields, src: l.src, dst, ipId, ...(ttl !== undefined ? { ttl } : {}), ...(oldChecksum ? { checksumDst: l.group } : {}) });
        if (l.auth) d = l.auth.seal4(d);
        r = ch.send4(d);
      } else {
        let v = encodeVrrp(fields, l.src, oldChecksum ? l.group : dst);
        if (l.auth) v = l.auth.seal6(v, l.src, dst);
        r = ch.send6(v, ipToString(l.src), ipToString(dst));
      }
      if (r.ok) bump(l.counters, priority === 0 ? 'tx-priority-0' : 'tx');
      else { bump(l.counters, 'tx-error'); this.deps.log.warn(`(${c.name}) advert to ${ipToString(dst)} not sent: ${r.error.message}`); }
    }
  }

  private vips(l: Live, add: boolean): void {
    for (const v of [...l.cfg.vips, ...l.cfg.vipsExcluded]) {
      const dev = v.interface ?? l.txIf;
      const r = add ? this.deps.net.addAddress(dev, v.address, v.prefixLen) : this.deps.net.deleteAddress(dev, v.address, v.prefixLen);
      if (!r.ok) this.deps.log.error(`(${l.cfg.name}) ${add ? 'adding' : 'removing'} VIP ${v.address}/${v.prefixLen} on ${dev}: ${r.error.message}`);
    }
  }

  /** `count` rounds over every VIP, each from the interface that holds it. */
  private garp(l: Live, count: number): void {
    const all = [...l.cfg.vips, ...l.cfg.vipsExcluded];
    for (let i = 0; i < count; i++) {
      for (const v of all) {
        const dev = v.interface ?? l.txIf;
        const r = familyOf(v.address) === 4 ? this.deps.net.sendGratuitousArp(dev, v.address, 1) : this.deps.net.sendUnsolicitedNa(dev, v.address, 1);
        if (r.ok) bump(l.counters, familyOf(v.address) === 4 ? 'garp' : 'unsolicited-na');
        else { bump(l.counters, 'garp-error'); if (i === 0) this.deps.log.warn(`(${l.cfg.name}) gratuitous ARP/NA for ${v.address} on ${dev}: ${r.error.message}`); }
      }
    }
  }

  private runNotify(who: string, argv: string[]): void {
    this.deps.run(argv, NOTIFY_TIMEOUT_MS).then((r) => {
      if (r.error) this.deps.log.warn(`(${who}) notify ${argv[0]}: ${r.error}`);
      else if (r.status !== 0) this.deps.log.warn(`(${who}) notify ${argv[0]} exited with status ${r.status ?? 'none (killed)'}`);
    }, (e: unknown) => this.deps.log.warn(`(${who}) notify ${argv[0]}: ${e instanceof Error ? e.message : String(e)}`));
  }

  // ------------------------------------------------------------ sync groups

  /**
   * keepalived's vrrp_sync_group: members change state together. A member that
   * becomes MASTER takes the others with it; one that goes BACKUP (yields to a
   * better master) or FAULT sends the others to BACKUP. The group's notify
   * programs run once per group transition.
   */
  private syncGroupFollow(l: Live, to: VrrpState): void {
    const g = l.syncGroup;
    if (!g || l.following || this.stopped) return;
    if (to !== 'MASTER' && to !== 'BACKUP' && to !== 'FAULT') return;
    if (l.machine?.faultedByGroup) return;
    const members = g.instances.map((n) => this.live.get(n)).filter((x): x is Live => !!x && x !== l);
    // FAULT is the group's while any member is in it for a reason of its own: the others go FAULT too, and out with it
    const faulty = g.instances.filter((n) => { const m = this.live.get(n)?.machine; return m && m.state === 'FAULT' && !m.faultedByGroup; });
    const groupFault = faulty.length > 0 ? `sync group ${g.name}: ${faulty.join(', ')} in FAULT` : null;
    if (groupFault && !faulty.includes(l.cfg.name) && l.machine) {
      // out of its own FAULT while another member is still in one: back into the group's
      l.following = true;
      try { l.machine.setGroupFault(groupFault); } finally { l.following = false; }
    }
    for (const o of members) {
      const m = o.machine;
      if (!m) continue;
      o.following = true;
      try {
        m.setGroupFault(faulty.includes(o.cfg.name) ? null : groupFault);
        if (groupFault) continue;
        if (to === 'MASTER' && m.state === 'BACKUP') m.forceMaster(`sync group ${g.name}: ${l.cfg.name} became MASTER`);
        else if (to === 'BACKUP' && m.state === 'MASTER') m.forceBackup(`sync group ${g.name}: ${l.cfg.name} went BACKUP`);
      } finally { o.following = false; }
    }
    const n = g.notify;
    const own = to === 'MASTER' ? n.master : to === 'BACKUP' ? n.backup : n.fault;
    if (own) this.runNotify(g.name, own);
    if (n.notify) this.runNotify(g.name, [...n.notify, 'GROUP', g.name, to, String(l.machine?.effectivePriority ?? 0)]);
  }

  // ------------------------------------------------------------ tracked interfaces and scripts

  /** Link state of every interface an instance uses or tracks; a missing source address is retried here too. */
  private pollLinks(): void {
    if (this.stopped) return;
    const seen = new Map<string, LinkInfo | null>();
    const info = (n: string): LinkInfo | null => {
      if (!seen.has(n)) seen.set(n, this.deps.net.linkInfo(n));
      return seen.get(n)!;
    };
    for (const s of this.channels.values()) if (!s.ch && info(s.ifname)?.up) this.open(s, false);
    for (const l of this.live.values()) {
      const up = info(l.cfg.interface)?.up ?? false;
      if (!l.machine) { this.build(l); continue; }
      if (this.changed(l.cfg.interface, up)) this.deps.log.info(`interface ${l.cfg.interface} is ${up ? 'up' : 'down'}`);
      l.machine.setInterfaceUp(up);
      for (const t of l.cfg.trackInterfaces) l.machine.setTrackedInterface(t.name, info(t.name)?.up ?? false);
    }
    this.linkTimer = this.deps.clock.setTimeout(() => this.pollLinks(), LINK_POLL_MS);
  }

  private changed(ifname: string, up: boolean): boolean {
    const was = this.linkUp.get(ifname);
    this.linkUp.set(ifname, up);
    return was !== undefined && was !== up;
  }

  /** One runner per script name (shared by the instances tracking it), every `interval`, killed at `timeout`. */
  private startScripts(): void {
    const byName = new Map<string, TrackScriptRun>();
    for (const c of this.cfg.instances) for (const s of c.trackScripts) if (!byName.has(s.name)) byName.set(s.name, s);
    for (const s of byName.values()) {
      const tick = (): void => {
        if (this.stopped || !this.scriptTimers.has(s.name)) return;
        const ac = new AbortController();
        this.scriptRuns.set(s.name, ac);
        this.deps.run(s.argv, s.timeout * 1000).then((r) => r.status === 0, () => false).then((ok) => {
          if (ac.signal.aborted || this.stopped) return;
          this.scriptRuns.delete(s.name);
          for (const l of this.live.values()) if (l.cfg.trackScripts.some((t) => t.name === s.name)) l.machine?.scriptResult(s.name, ok);
          if (this.scriptTimers.has(s.name)) this.scriptTimers.set(s.name, this.deps.clock.setTimeout(tick, s.interval * 1000));
        });
      };
      this.scriptTimers.set(s.name, this.deps.clock.setTimeout(tick, 0));
    }
  }

  private stopScripts(): void {
    for (const t of this.scriptTimers.values()) this.deps.clock.clearTimeout(t);
    this.scriptTimers.clear();
    for (const ac of this.scriptRuns.values()) ac.abort();
    this.scriptRuns.clear();
  }
}

function groupOf(cfg: RunnerConfig, name: string): SyncGroupConfig | undefined {
  return cfg.syncGroups.find((g) => g.instances.includes(name));
}

/** The entries of `o` that are set (options are optional, not undefined: exactOptionalPropertyTypes). */
export function defined<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** The state machine's view of an instance's configuration. */
function machineConfig(c: InstanceConfig, src: string): VrrpInstanceConfig {
  const g = c.garp;
  return {
    name: c.name, vrid: c.vrid, srcAddr: src, vips: c.vips.map((v) => v.address),
    advertInt: c.advertInt, nopreempt: !c.preempt, advertSchedule: c.advertSchedule,
    ...defined({
      state: c.state, priority: c.priority, version: c.version, preemptDelay: c.preemptDelay,
      downTimerAdverts: c.downTimerAdverts, lowerPrioNoAdvert: c.lowerPrioNoAdvert, higherPrioSendAdvert: c.higherPrioSendAdvert,
      strictMode: c.strict, dontTrackPrimary: c.dontTrackPrimary,
      garpMasterDelay: g.masterDelay, garpMasterRepeat: g.masterRepeat, garpLowerPrioDelay: g.lowerPrioDelay,
      garpLowerPrioRepeat: g.lowerPrioRepeat, garpMasterRefresh: g.masterRefresh, garpMasterRefreshRepeat: g.masterRefreshRepeat,
    }),
    trackInterfaces: c.trackInterfaces.map((t) => ({ name: t.name, ...defined({ weight: t.weight, reverse: t.reverse }) })),
    trackScripts: c.trackScripts.map((s) => ({ name: s.name, ...defined({ weight: s.weight, reverse: s.reverse, rise: s.rise, fall: s.fall, initFail: s.initFail }) })),
    trackObjects: c.trackServices.map((t) => ({ name: `service ${t.service}`, ...defined({ weight: t.weight, reverse: t.reverse }) })),
  };
}

// One vrrp_instance's timers and state machine as keepalived 2.2.7 runs them (spec
// keepalived.md §5.3–5.4, §6). Pure: the clock and timers are injected, received packets
// arrive as decodeAdvert outcomes, and everything to do (send an advert, add/remove VIPs,
// gratuitous ARPs / unsolicited NAs, notify scripts, log lines) leaves as actions through
// `emit`, in keepalived's order. Sockets and addresses are the caller's.

import { advertIntMicros, advertIntToWire, compareIp, ipToString, nextIpId, parseIp, type RxOutcome, type VrrpVersion } from './vrrp-packet.js';

export type VrrpState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';

/** Injected time: milliseconds, like Date.now()/performance.now() and setTimeout. */
export interface VrrpClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface TrackInterfaceConfig { name: string; /** 0 → FAULT while down [0] */ weight?: number; reverse?: boolean }
/** A vrrp_script as tracked by this instance (track_script weight overrides the script's). */
export interface TrackScriptConfig { name: string; weight?: number; reverse?: boolean; rise?: number; fall?: number; initFail?: boolean }
/** Any other tracked object reported as ok / not ok (track_process quorum met, track_bfd up, …). */
export interface TrackObjectConfig { name: string; weight?: number; reverse?: boolean }

/** vrrp_instance keywords (spec §6), as configured; resolveInstance applies keepalived's defaults. */
export interface VrrpInstanceConfig {
  name: string;
  vrid: number;
  /** Our advert source (unicast_src_ip / mcast_src_ip, else the interface's primary address): the tie-break. */
  srcAddr: string;
  vips: readonly string[];
  state?: 'MASTER' | 'BACKUP';
  priority?: number;
  /** Seconds [1]. */
  advertInt?: number;
  /** [2; IPv6 VIPs force 3] */
  version?: VrrpVersion;
  nopreempt?: boolean;
  /** Seconds [0]. */
  preemptDelay?: number;
  downTimerAdverts?: number;
  lowerPrioNoAdvert?: boolean;
  higherPrioSendAdvert?: boolean;
  /**
   * 'own' [default]: adverts keep their own schedule whatever is received (lvsd).
   * 'keepalived': as 2.2.7, every packet for the VRID (valid or not) restarts a MASTER's
   * advert timer (§5.2), so a peer sending anything more often than advert_int silences it.
   */
  advertSchedule?: 'own' | 'keepalived';
  strictMode?: boolean;
  garpMasterDelay?: number;
  garpMasterRepeat?: number;
  garpLowerPrioDelay?: number;
  garpLowerPrioRepeat?: number;
  garpMasterRefresh?: number;
  garpMasterRefreshRepeat?: number;
  dontTrackPrimary?: boolean;
  trackInterfaces?: readonly TrackInterfaceConfig[];
  trackScripts?: readonly TrackScriptConfig[];
  trackObjects?: readonly TrackObjectConfig[];
}

export interface ResolvedInstance {
  name: string;
  vrid: number;
  src: Uint8Array;
  family: 4 | 6;
  vipCount: number;
  initialState: 'MASTER' | 'BACKUP';
  basePriority: number;
  version: VrrpVersion;
  /** Wire interval: v2 seconds, v3 centiseconds. */
  advertInt: number;
  nopreempt: boolean;
  preemptDelayUs: number;
  downTimerAdverts: number;
  lowerPrioNoAdvert: boolean;
  higherPrioSendAdvert: boolean;
  advertSchedule: 'own' | 'keepalived';
  garpMasterDelayUs: number;
  garpMasterRepeat: number;
  garpLowerPrioDelayUs: number;
  garpLowerPrioRepeat: number;
  garpMasterRefreshUs: number;
  garpMasterRefreshRepeat: number;
  dontTrackPrimary: boolean;
  trackInterfaces: TrackInterfaceConfig[];
  trackScripts: TrackScriptConfig[];
  trackObjects: TrackObjectConfig[];
}

export type ResolveResult =
  | { ok: true; instance: ResolvedInstance; warnings: string[] }
  | { ok: false; error: string };

const isInt = (n: unknown, lo: number, hi: number): n is number => typeof n === 'number' && Number.isInteger(n) && n >= lo && n <= hi;
const secs = (s: number | undefined, dflt: number): number => Math.round((s ?? dflt) * 1_000_000);

/** keepalived's defaults and cross-keyword rules for one instance (§5.4, §6). */
export function resolveInstance(c: VrrpInstanceConfig): ResolveResult {
  const w: string[] = [];
  const pfx = `(${c.name})`;
  if (!isInt(c.vrid, 1, 255)) return { ok: false, error: `${pfx} virtual_router_id ${c.vrid} must be 1..255` };
  const src = parseIp(c.srcAddr);
  if (!src) return { ok: false, error: `${pfx} source address ${c.srcAddr} is not an IP address` };
  const vips: Uint8Array[] = [];
  for (const v of c.vips) {
    const b = parseIp(v);
    if (!b) return { ok: false, error: `${pfx} virtual_ipaddress ${v} is not an IP address` };
    if (b.length !== src.length) return { ok: false, error: `${pfx} virtual_ipaddress ${v} is not of the source address's family` };
    vips.push(b);
  }
  if (vips.length > 255) return { ok: false, error: `${pfx} at most 255 virtual_ipaddress are carried in adverts` };
  const family = src.length === 16 ? 6 : 4;
  let version: VrrpVersion = c.version ?? 2;
  if (family === 6 && version !== 3) { if (c.version !== undefined) w.push(`${pfx} IPv6 instances use VRRP version 3`); version = 3; }
  if (vips.length === 0) {
    if (version === 3 || c.strictMode) return { ok: false, error: `${pfx} no virtual_ipaddress (required for VRRPv3 and strict mode)` };
    w.push(`${pfx} No VIP specified; at least one is required`);
  }
  let basePriority: number;
  if (c.priority === undefined) basePriority = c.state === 'MASTER' ? 255 : 100;
  else if (isInt(c.priority, 1, 255)) basePriority = c.priority;
  else { w.push(`${pfx} Priority not valid! must be between 1 & 255. Reverting to default 100`); basePriority = 100; }
  const initialState = c.state ?? (basePriority === 255 ? 'MASTER' : 'BACKUP');
  let nopreempt = c.nopreempt ?? false;
  let preemptDelayUs = secs(c.preemptDelay, 0);
  if (c.preemptDelay !== undefined && !(c.preemptDelay >= 0 && c.preemptDelay <= 1000)) {
    w.push(`${pfx} preempt_delay ${c.preemptDelay} not valid, must be 0..1000 - ignoring`); preemptDelayUs = 0;
  }
  if (nopreempt && (basePriority === 255 || initialState === 'MASTER')) {
    w.push(`${pfx} nopreempt only works with state BACKUP and priority < 255 - resetting`); nopreempt = false;
  }
  if (preemptDelayUs > 0 && (initialState === 'MASTER' || nopreempt || c.strictMode)) {
    w.push(`${pfx} preempt_delay is incompatible with ${c.strictMode ? 'strict mode' : initialState === 'MASTER' ? 'state MASTER' : 'nopreempt'} - clearing`);
    preemptDelayUs = 0;
  }
  if (c.strictMode && c.downTimerAdverts !== undefined && c.downTimerAdverts !== 3) w.push(`${pfx} down_timer_adverts is incompatible with strict mode - resetting`);
  const downTimerAdverts = c.downTimerAdverts === undefined || c.strictMode ? 3
    : isInt(c.downTimerAdverts, 1, 100) ? c.downTimerAdverts
    : (w.push(`${pfx} down_timer_adverts ${c.downTimerAdverts} must be 1..100 - using 3`), 3);
  const strict = c.strictMode ?? false;
  const garpMasterDelayUs = secs(c.garpMasterDelay, 5);
  const garpMasterRepeat = c.garpMasterRepeat ?? 5;
  const weights = (x: { weight?: number }): boolean => x.weight === undefined || isInt(x.weight, -253, 253);
  for (const t of [...(c.trackInterfaces ?? []), ...(c.trackScripts ?? []), ...(c.trackObjects ?? [])]) {
    if (!weights(t)) return { ok: false, error: `${pfx} track ${t.name}: weight ${t.weight} must be -253..253` };
  }
  return {
    ok: true,
    warnings: w,
    instance: {
      name: c.name, vrid: c.vrid, src, family, vipCount: vips.length, initialState, basePriority, version,
      advertInt: advertIntToWire(version, c.advertInt ?? 1),
      nopreempt, preemptDelayUs, downTimerAdverts,
      // strict mode: no reply to lower priorities, no lower-priority GARPs, no advert before yielding.
      lowerPrioNoAdvert: strict ? true : c.lowerPrioNoAdvert ?? false,
      higherPrioSendAdvert: strict ? false : c.higherPrioSendAdvert ?? false,
      advertSchedule: c.advertSchedule ?? 'own',
      garpMasterDelayUs, garpMasterRepeat,
      garpLowerPrioDelayUs: strict ? 0 : c.garpLowerPrioDelay !== undefined ? secs(c.garpLowerPrioDelay, 0) : garpMasterDelayUs,
      garpLowerPrioRepeat: strict ? 0 : c.garpLowerPrioRepeat ?? garpMasterRepeat,
      garpMasterRefreshUs: secs(c.garpMasterRefresh, 0),
      garpMasterRefreshRepeat: c.garpMasterRefreshRepeat ?? 1,
      dontTrackPrimary: c.dontTrackPrimary ?? false,
      trackInterfaces: [...(c.trackInterfaces ?? [])],
      trackScripts: [...(c.trackScripts ?? [])],
      trackObjects: [...(c.trackObjects ?? [])],
    },
  };
}

/** Skew_Time in integer µs (truncated, as keepalived): v2 independent of the interval, v3 scaled by it. */
export function skewMicros(version: VrrpVersion, priority: number, masterAdverIntUs: number): number {
  if (version === 2) return Math.floor(((256 - priority) * 1_000_000) / 256);
  return Math.floor(((256 - priority) * (masterAdverIntUs / 10_000) * 625) / 16);
}

/** Master_Down_Interval = down_timer_adverts × Master_Adver_Interval + Skew_Time, in µs. */
export function masterDownMicros(version: VrrpVersion, priority: number, masterAdverIntUs: number, downTimerAdverts = 3): number {
  return downTimerAdverts * masterAdverIntUs + skewMicros(version, priority, masterAdverIntUs);
}

export type AdvertReason = 'periodic' | 'become-master' | 'lower-prio-reply' | 'prio0-reply' | 'before-yield' | 'shutdown' | 'fault';
export type GarpReason = 'become-master' | 'master-delayed' | 'lower-prio' | 'lower-prio-delayed' | 'refresh';
export type NotifyState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP';

export type VrrpAction =
  /** Send one advert (to the group, or to every unicast peer with the same IP ID). */
  | { type: 'advert'; priority: number; advertInt: number; ipId: number; reason: AdvertReason; /** v3 unicast: put the group in the pseudo-header (a peer used keepalived's old form) */ oldUnicastChecksum: boolean }
  | { type: 'state'; from: VrrpState; to: VrrpState; text: string }
  | { type: 'add-vips' }
  | { type: 'remove-vips' }
  /** `count` rounds of gratuitous ARPs (IPv4) / unsolicited NAs (IPv6), each round over all VIPs in order. */
  | { type: 'garp'; family: 4 | 6; count: number; reason: GarpReason }
  /** Run notify_<state> (no arguments) and `notify` with args INSTANCE <name> <state> <priority>. */
  | { type: 'notify'; state: NotifyState; script: 'notify_master' | 'notify_backup' | 'notify_fault' | 'notify_stop'; args: [string, string, NotifyState, string] }
  | { type: 'notify-master-rx-lower-pri'; from: string; priority: number }
  | { type: 'log'; level: 'info' | 'warning' | 'error'; text: string };

interface ScriptState { cfg: TrackScriptConfig; status: 'init' | 'up' | 'down'; run: number }

export interface VrrpInstanceOptions {
  clock: VrrpClock;
  emit: (a: VrrpAction) => void;
}

const fmtInt = (us: number): string => `${Math.round(us / 1000)}ms`;

/** One vrrp_instance. Call start(), feed receive()/tracking inputs, stop() on shutdown. */
export class VrrpInstance {
  readonly cfg: ResolvedInstance;
  private readonly clock: VrrpClock;
  private readonly out: (a: VrrpAction) => void;
  private st: VrrpState = 'INIT';
  private timer: unknown = undefined;
  private expiryUs = 0;
  private readonly sideTimers = new Set<unknown>();
  private refreshTimer: unknown = undefined;
  private ipId = 0;
  private basePriority: number;
  private masterAdverIntUs: number;
  private preemptTimeUs: number | null = null;
  private masterSrc: Uint8Array | null = null;
  private masterPriority = 0;
  private primaryUp = true;
  private readonly ifUp = new Map<string, boolean>();
  private readonly scripts = new Map<string, ScriptState>();
  private readonly objects = new Map<string, boolean>();
  private lastPriority: number;

  constructor(cfg: ResolvedInstance, o: VrrpInstanceOptions) {
    this.cfg = cfg;
    this.clock = o.clock;
    this.out = o.emit;
    this.basePriority = cfg.basePriority;
    this.masterAdverIntUs = this.ownIntUs;
    for (const s of cfg.trackScripts) this.scripts.set(s.name, { cfg: s, status: s.initFail ? 'down' : 'init', run: 0 });
    this.lastPriority = this.effectivePriority;
  }

  get state(): VrrpState { return this.st; }
  /** Master_Adver_Interval in µs (v3: the adopted one while BACKUP). */
  get masterAdverInterval(): number { return this.masterAdverIntUs; }
  /** When the running timer (advert or master-down) fires, in µs of the clock. */
  get timerExpiry(): number { return this.expiryUs; }
  /** For decodeAdvert's skip_check_adv_addr: the known master, only while BACKUP. */
  get knownMaster(): Uint8Array | undefined { return this.st === 'BACKUP' ? this.masterSrc ?? undefined : undefined; }
  /** The sender of the last accepted advert while BACKUP, with its priority. */
  get master(): { src: Uint8Array; priority: number } | null { return this.masterSrc ? { src: this.masterSrc, priority: this.masterPriority } : null; }

  private get ownIntUs(): number { return advertIntMicros(this.cfg.version, this.cfg.advertInt); }
  private get nowUs(): number { return Math.round(this.clock.now() * 1000); }

  /** Base ± tracking weights, clamped to 1..254; an owner (255) is never adjusted. */
  get effectivePriority(): number {
    if (this.basePriority === 255) return 255;
    let p = this.basePriority;
    for (const t of this.cfg.trackInterfaces) p += this.weightOf(t.weight ?? 0, t.reverse, this.ifUp.get(t.name));
    for (const s of this.scripts.values()) p += this.weightOf(s.cfg.weight ?? 0, s.cfg.reverse, s.status === 'init' ? undefined : s.status === 'up');
    for (const t of this.cfg.trackObjects) p += this.weightOf(t.weight ?? 0, t.reverse, this.objects.get(t.name));
    return Math.min(254, Math.max(1, p));
  }

  /**
   * keepalived's rule: a positive weight counts while ok, a negative one while failed;
   * `reverse` negates the weight (multiplier −1), it does not swap ok and failed.
   * Not yet reported → nothing.
   */
  private weightOf(weight: number, reverse: boolean | undefined, ok: boolean | undefined): number {
    if (ok === undefined || weight === 0) return 0;
    const counts = weight > 0 ? ok : !ok;
    return counts ? weight * (reverse ? -1 : 1) : 0;
  }

  /** Why the instance must be in FAULT, or null. */
  faultReason(): string | null {
    if (this.groupFault !== null) return this.groupFault;
    if (!this.primaryUp && !this.cfg.dontTrackPrimary) return 'interface down';
    const bad = (reverse: boolean | undefined, ok: boolean | undefined): boolean => ok !== undefined && (reverse ? ok : !ok);
    for (const t of this.cfg.trackInterfaces) if ((t.weight ?? 0) === 0 && bad(t.reverse, this.ifUp.get(t.name))) return `tracked interface ${t.name} ${t.reverse ? 'up' : 'down'}`;
    for (const s of this.scripts.values()) if ((s.cfg.weight ?? 0) === 0 && bad(s.cfg.reverse, s.status === 'init' ? undefined : s.status === 'up')) return `tracked script ${s.cfg.name} ${s.cfg.reverse ? 'succeeding' : 'failed'}`;
    for (const t of this.cfg.trackObjects) if ((t.weight ?? 0) === 0 && bad(t.reverse, this.objects.get(t.name))) return `tracked object ${t.name} ${t.reverse ? 'up' : 'down'}`;
    return null;
  }

  // ------------------------------------------------------------ lifecycle

  /** Startup: VIP clean-up, then owner → MASTER at once, else BACKUP (init) with the full down timer. */
  start(): void {
    if (this.st !== 'INIT' || this.started) return;
    this.started = true;
    this.log('info', 'removing VIPs.');
    this.out({ type: 'remove-vips' });
    this.leaveInit();
  }

  /** Out of INIT once no weight-0 script is still waiting for its first result. */
  private leaveInit(): void {
    const fault = this.faultReason();
    if (fault) { this.toFault(fault); return; }
    const waiting = this.waitingScripts();
    if (waiting.length > 0) {
      this.log('info', `waiting in INIT for the first result of script ${waiting.join(', ')}`);
      return;
    }
    if (this.isStartOwner()) this.toMaster('address owner');
    else this.toBackup('(init)', true);
  }

  /** Weight-0 scripts that have not reported yet: keepalived keeps the instance in INIT for them. */
  private waitingScripts(): string[] {
    return [...this.scripts.values()].filter((s) => (s.cfg.weight ?? 0) === 0 && s.status === 'init').map((s) => s.cfg.name);
  }

  /** Shutdown (SIGTERM): a MASTER sends exactly one priority-0 advert, then removes its VIPs; a BACKUP sends nothing. */
  stop(): void {
    if (this.st === 'STOP') return;
    const was = this.st;
    this.cancelTimer();
    for (const t of this.sideTimers) this.clock.clearTimeout(t);
    this.sideTimers.clear();
    this.cancelRefresh();
    if (was === 'MASTER') {
      this.advert(0, 'shutdown');
      this.log('info', 'sent 0 priority');
      this.out({ type: 'remove-vips' });
    }
    this.setState('STOP', 'Stopped');
    this.notify('STOP');
  }

  private started = false;
  /** Sticky once a peer's advert used the old unicast checksum form (§5.1). */
  private oldChecksum = false;

  private isStartOwner(): boolean { return this.cfg.initialState === 'MASTER' && this.basePriority === 255; }

  // ------------------------------------------------------------ receive

  /** A decodeAdvert outcome for this instance's VRID. */
  receive(rx: RxOutcome): void {
    if (rx.kind === 'ignored') return;
    if (this.st !== 'BACKUP' && this.st !== 'MASTER') return;
    if (rx.kind === 'rejected') {
      this.log('info', rx.text);
      // keepalived: any packet for the VRID restarts a MASTER's advert timer; a BACKUP's expiry stays (§5.2).
      this.restartAdvertTimer();
      return;
    }
    const a = rx.advert;
    if (rx.oldChecksum && !this.oldChecksum) {
      this.oldChecksum = true;
      this.log('info', 'Setting unicast VRRPv3 checksum to old version');
    }
    if (this.st === 'BACKUP') this.backupRx(a.priority, a.src, a.advertInt);
    else this.masterRx(a.priority, a.src, a.advertInt);
  }

  private adopt(wire: number): void {
    if (this.cfg.version !== 3) return;
    const us = advertIntMicros(3, wire);
    if (us !== this.masterAdverIntUs) {
      this.log('info', `advertisement interval updated from ${fmtInt(this.masterAdverIntUs)} to ${fmtInt(us)} by master`);
      this.masterAdverIntUs = us;
    }
  }

  private backupRx(prio: number, src: Uint8Array, wireInt: number): void {
    const mine = this.effectivePriority;
    const now = this.nowUs;
    if (prio === 0) {
      // No interval adoption here (keepalived adopts only in the accept branch below).
      this.log('info', 'Backup received priority 0 advertisement');
      this.armDown(this.skew());
      return;
    }
    const delaying = this.cfg.preemptDelayUs > 0 && (this.preemptTimeUs === null || now < this.preemptTimeUs);
    if (this.cfg.nopreempt || prio >= mine || delaying) {
      if (this.cfg.preemptDelayUs > 0) {
        if (prio >= mine) this.preemptTimeUs = null;
        else if (this.preemptTimeUs === null) this.preemptTimeUs = now + this.cfg.preemptDelayUs;
      }
      this.adopt(wireInt);
      this.masterSrc = src;
      this.masterPriority = prio;
      this.armDown(this.masterDown());
      return;
    }
    // Preemption is not immediate: the countdown continues and runs out.
    this.log('info', `received lower priority (${prio}) advert from ${ipToString(src)} - discarding`);
  }

  private masterRx(prio: number, src: Uint8Array, wireInt: number): void {
    const mine = this.effectivePriority;
    const from = ipToString(src);
    if (prio === 0) {
      this.advert(mine, 'prio0-reply');
      this.restartAdvertTimer(true);
      return;
    }
    const addrCmp = compareIp(src, this.cfg.src);
    if (prio === mine && addrCmp === 0) {
      this.log('warning', `Received advert from ${from} with our own priority ${prio} and address - ignoring`);
      this.restartAdvertTimer();
      return;
    }
    if (mine === 255 && prio === 255) {
      // 2.2.7: two owners on the link is a configuration error; this one steps down to 254.
      this.log('error', `Master received advert from ${from} with priority 255 but we are also address owner - lowering our priority to 254`);
      this.basePriority = 254;
      this.yieldTo(prio, src, wireInt, `Master received advert from ${from} with same priority 255 (address owner conflict)`);
      return;
    }
    if (prio > mine || (prio === mine && addrCmp > 0)) {
      const why = prio > mine
        ? `Master received advert from ${from} with higher priority ${prio}, ours ${mine}`
        : `Master received advert from ${from} with same priority ${prio} but higher IP address than ours`;
      this.yieldTo(prio, src, wireInt, why);
      return;
    }
    this.log('info', `Received advert from ${from} with lower priority ${prio}, ours ${mine}${this.cfg.lowerPrioNoAdvert ? '' : ', forcing new election'}`);
    // lower_prio_no_advert only suppresses the reply (and the timer restart); GARPs and the notify still happen.
    if (!this.cfg.lowerPrioNoAdvert) this.advert(mine, 'lower-prio-reply');
    this.garpBurst(this.cfg.garpLowerPrioRepeat, 'lower-prio', this.cfg.garpLowerPrioDelayUs, 'lower-prio-delayed');
    this.out({ type: 'notify-master-rx-lower-pri', from, priority: prio });
    this.restartAdvertTimer();
  }

  /** MASTER → BACKUP on a better advert: no priority-0 advert, VIPs removed at once. */
  private yieldTo(prio: number, src: Uint8Array, wireInt: number, why: string): void {
    this.log('info', why);
    if (this.cfg.higherPrioSendAdvert) this.advert(this.effectivePriority, 'before-yield');
    this.adopt(wireInt);
    this.masterSrc = src;
    this.masterPriority = prio;
    this.toBackup('', false);
  }

  // ------------------------------------------------------------ transitions

  private toMaster(why: string): void {
    if (this.cfg.version === 3 && this.masterAdverIntUs !== this.ownIntUs) {
      this.log('info', `changing advert interval from ${fmtInt(this.masterAdverIntUs)} to locally configured ${fmtInt(this.ownIntUs)}`);
    }
    this.masterAdverIntUs = this.ownIntUs;
    this.preemptTimeUs = null;
    this.masterSrc = null;
    const prio = this.effectivePriority;
    // Order as keepalived: advert, state, VIPs, GARPs, notify.
    this.advert(prio, 'become-master');
    this.setState('MASTER', `Entering MASTER STATE (${why})`);
    this.log('info', 'setting VIPs.');
    this.out({ type: 'add-vips' });
    this.garpBurst(this.cfg.garpMasterRepeat, 'become-master', this.cfg.garpMasterDelayUs, 'master-delayed');
    this.armRefresh();
    this.notify('MASTER');
    this.armAdvert();
  }

  private toBackup(tag: string, init: boolean): void {
    const from = this.st;
    this.cancelRefresh();
    this.setState('BACKUP', `Entering BACKUP STATE${tag ? ` ${tag}` : ''}`);
    if (from === 'MASTER') {
      this.log('info', 'removing VIPs.');
      this.out({ type: 'remove-vips' });
    }
    if (init) this.masterAdverIntUs = this.ownIntUs;
    this.armDown(this.masterDown());
    this.notify('BACKUP');
  }

  private toFault(why: string): void {
    const from = this.st;
    this.cancelTimer();
    this.cancelRefresh();
    this.setState('FAULT', `Entering FAULT STATE (${why})`);
    if (from === 'MASTER') {
      // Measured with 2.2.7 (fixtures/vrrp/track-experiment.*): two priority-0 adverts, IP IDs n and n+1.
      for (let i = 0; i < 2; i++) { this.advert(0, 'fault'); this.log('info', 'sent 0 priority'); }
      this.log('info', 'removing VIPs.');
      this.out({ type: 'remove-vips' });
    }
    this.masterSrc = null;
    this.notify('FAULT');
  }

  /** After a fault clears: BACKUP with the full down timer, an owner too (keepalived's wantstate is FAULT by then). */
  private recover(): void {
    this.toBackup('(fault cleared)', true);
  }

  private setState(to: VrrpState, text: string): void {
    const from = this.st;
    this.st = to;
    this.out({ type: 'state', from, to, text });
  }

  private notify(s: NotifyState): void {
    const script = s === 'MASTER' ? 'notify_master' : s === 'BACKUP' ? 'notify_backup' : s === 'FAULT' ? 'notify_fault' : 'notify_stop';
    this.out({ type: 'notify', state: s, script, args: ['INSTANCE', this.cfg.name, s, String(this.effectivePriority)] });
  }

  private log(level: 'info' | 'warning' | 'error', text: string): void {
    this.out({ type: 'log', level, text: `(${this.cfg.name}) ${text}` });
  }

  // ------------------------------------------------------------ timers

  private skew(): number { return skewMicros(this.cfg.version, this.effectivePriority, this.masterAdverIntUs); }
  private masterDown(): number { return masterDownMicros(this.cfg.version, this.effectivePriority, this.masterAdverIntUs, this.cfg.downTimerAdverts); }

  private advert(priority: number, reason: AdvertReason): void {
    this.ipId = nextIpId(this.ipId);
    this.out({ type: 'advert', priority, advertInt: this.cfg.advertInt, ipId: this.ipId, reason, oldUnicastChecksum: this.oldChecksum });
  }

  private arm(us: number, fire: () => void): void {
    this.cancelTimer();
    this.expiryUs = this.nowUs + us;
    this.timer = this.clock.setTimeout(() => { this.timer = undefined; fire(); }, us / 1000);
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Next advert advert_int after now: no fixed grid, each one after the previous was handled. */
  /**
   * A MASTER received something for its VRID. keepalived restarts its advert timer (unless
   * lower_prio_no_advert; a priority-0 reply always does); with the 'own' schedule the
   * periodic adverts go on as planned, so nothing received can hold them back.
   */
  private restartAdvertTimer(always = false): void {
    if (this.st !== 'MASTER' || this.cfg.advertSchedule === 'own') return;
    if (always || !this.cfg.lowerPrioNoAdvert) this.armAdvert();
  }

  private armAdvert(): void {
    this.arm(this.ownIntUs, () => {
      if (this.st !== 'MASTER') return;
      this.advert(this.effectivePriority, 'periodic');
      this.armAdvert();
    });
  }

  private armDown(us: number): void {
    this.arm(us, () => {
      if (this.st !== 'BACKUP') return;
      this.log('info', 'Receive advertisement timeout');
      this.toMaster('advertisement timeout');
    });
  }

  /** A burst now and, if delayUs > 0, one more later — sent then only if we are MASTER (VIPs configured); never cancelled. */
  private garpBurst(count: number, reason: GarpReason, delayUs: number, laterReason: GarpReason): void {
    if (count <= 0) return;
    this.out({ type: 'garp', family: this.cfg.family, count, reason });
    if (delayUs <= 0) return;
    const h = this.clock.setTimeout(() => {
      this.sideTimers.delete(h);
      if (this.st === 'MASTER') this.out({ type: 'garp', family: this.cfg.family, count, reason: laterReason });
    }, delayUs / 1000);
    this.sideTimers.add(h);
  }

  private armRefresh(): void {
    if (this.cfg.garpMasterRefreshUs <= 0) return;
    this.refreshTimer = this.clock.setTimeout(() => {
      this.refreshTimer = undefined;
      if (this.st !== 'MASTER') return;
      this.out({ type: 'garp', family: this.cfg.family, count: this.cfg.garpMasterRefreshRepeat, reason: 'refresh' });
      this.armRefresh();
    }, this.cfg.garpMasterRefreshUs / 1000);
  }

  private cancelRefresh(): void {
    if (this.refreshTimer !== undefined) this.clock.clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  // ------------------------------------------------------------ sync groups

  /** A sync group member became MASTER: a BACKUP member follows at once (keepalived's vrrp_sync_master). */
  forceMaster(why: string): void {
    if (this.st !== 'BACKUP') return;
    this.log('info', why);
    this.toMaster(why);
  }

  /** Set while another member of the instance's sync group is in FAULT: the whole group is (keepalived). */
  private groupFault: string | null = null;

  /** A sync group member went into FAULT (reason) or out of it (null): this member follows. */
  setGroupFault(reason: string | null): void {
    if (reason === this.groupFault) return;
    this.groupFault = reason;
    this.reevaluate();
  }

  /** Whether the instance is in FAULT only because its sync group is. */
  get faultedByGroup(): boolean { return this.groupFault !== null && this.st === 'FAULT'; }

  /** A sync group member left MASTER: a MASTER member steps down with it (no priority-0 advert, as a yield). */
  forceBackup(why: string): void {
    if (this.st !== 'MASTER') return;
    this.log('info', why);
    this.masterSrc = null;
    this.toBackup('', false);
  }

  // ------------------------------------------------------------ tracking inputs

  /** The instance's own interface (link state); down → FAULT unless dont_track_primary. */
  setInterfaceUp(up: boolean): void { this.primaryUp = up; this.reevaluate(); }

  /** A track_interface's link state. */
  setTrackedInterface(name: string, up: boolean): void { this.ifUp.set(name, up); this.reevaluate(); }

  /** One vrrp_script run: the script changes status after `rise` successes / `fall` failures in a row. */
  scriptResult(name: string, success: boolean): void {
    const s = this.scripts.get(name);
    if (!s) return;
    const rise = s.cfg.rise ?? 1, fall = s.cfg.fall ?? 1;
    if (s.status === 'init') { s.status = success ? 'up' : 'down'; s.run = 0; }
    else if (s.status === 'up') {
      s.run = success ? 0 : s.run + 1;
      if (s.run >= fall) { s.status = 'down'; s.run = 0; this.log('info', `Script ${name} now returning failure`); }
    } else {
      s.run = success ? s.run + 1 : 0;
      if (s.run >= rise) { s.status = 'up'; s.run = 0; this.log('info', `Script ${name} now returning success`); }
    }
    this.reevaluate();
  }

  /** Status of a tracked script as the instance sees it. */
  scriptStatus(name: string): 'init' | 'up' | 'down' | undefined { return this.scripts.get(name)?.status; }

  /** Any other tracked object (track_process with its quorum met, track_bfd up, …). */
  setTrackedObject(name: string, ok: boolean): void { this.objects.set(name, ok); this.reevaluate(); }

  private reevaluate(): void {
    const p = this.effectivePriority;
    if (p !== this.lastPriority) {
      this.log('info', `Changing effective priority from ${this.lastPriority} to ${p}`);
      // A BACKUP's running countdown moves by the change of its master-down time (the skew).
      if (this.st === 'BACKUP' && this.timer !== undefined) {
        const before = masterDownMicros(this.cfg.version, this.lastPriority, this.masterAdverIntUs, this.cfg.downTimerAdverts);
        this.lastPriority = p;
        this.armDown(Math.max(0, this.expiryUs + this.masterDown() - before - this.nowUs));
      } else this.lastPriority = p;
    }
    if (this.st === 'STOP') return;
    if (this.st === 'INIT') { if (this.started) this.leaveInit(); return; }
    const fault = this.faultReason();
    if (fault && this.st !== 'FAULT') this.toFault(fault);
    else if (!fault && this.st === 'FAULT') this.recover();
  }
}

// The plugin contract. A plugin is a module whose default export is one plain
// object made by the helper of its kind; the object names itself and provides
// that kind's hooks (the Vite/Rollup shape). The core only wires them.

import type { z } from 'zod';
import type { Family } from './model/addr.js';
import type { ZodType } from 'zod';
import type { BusEvents } from './bus.js';
import type { Clock } from './clock.js';
import type { ConnView, InfoView } from './control/protocol.js';
import type { SyncConnFields, SyncInstallCounts, SyncSettings } from './conn/sync.js';
import type { Result } from './errors.js';
import type { Logger } from './log.js';
import type {
  DestKey, DestSpec, DestView, FwdMethod, Protocol, ServiceKey, ServiceSpec, ServiceView, SyncDaemonSpec, Timeouts,
} from './model/types.js';

export type PluginKind = 'scheduler' | 'forwarder' | 'health' | 'classifier' | 'sync' | 'failover';
export const PLUGIN_KINDS: readonly PluginKind[] = ['scheduler', 'forwarder', 'health', 'classifier', 'sync', 'failover'];

/** Folder names under plugins/ for each kind. */
export const KIND_DIRS: Record<PluginKind, string> = {
  scheduler: 'schedulers', forwarder: 'forwarding', health: 'health', classifier: 'classifiers', sync: 'sync', failover: 'ha',
};

// ---------------------------------------------------------------- schedulers

/** A real server as a scheduler sees it (a live object: counters move). */
export interface SchedDest {
  readonly family: Family;
  readonly addr: string;
  readonly port: number;
  /** Address folded to the kernel's 32-bit hash key (IPv4 host order; IPv6 XOR of words). */
  readonly addr32: number;
  readonly weight: number;
  /** Last non-zero weight (set on add even when 0); drives Maglev. */
  readonly lastWeight: number;
  readonly activeConns: number;
  readonly inactConns: number;
  readonly persistConns: number;
  readonly uThreshold: number;
  readonly lThreshold: number;
  /** OVERLOAD flag: upper threshold reached. */
  readonly overloaded: boolean;
  /** AVAILABLE flag: linked into its service (false once deleted, while in the trash). */
  readonly available: boolean;
}

/** A virtual service as a scheduler sees it. */
export interface SchedService {
  readonly family: Family;
  readonly protocol: Protocol;
  readonly addr: string;
  readonly port: number;
  readonly fwmark: number;
  /** SVC_F_* bits; the scheduler flags are SVC_F_SCHED1..3. */
  readonly flags: number;
  /** Kernel list order: newest added first. */
  readonly dests: readonly SchedDest[];
}

/** What a scheduler may know of the packet that opens a connection. */
export interface SchedPacket {
  readonly family: Family;
  readonly protocol: Protocol;
  readonly saddr: string;
  readonly daddr: string;
  /** Source / destination addresses folded to 32 bits, as the kernel hashes them. */
  readonly saddr32: number;
  readonly daddr32: number;
  readonly sport: number;
  readonly dport: number;
}

export interface SchedContext {
  /** Current time in milliseconds, the project's one time unit (a virtual clock in tests and sched-trace). */
  now(): number;
  /** A uniform random u32 (seedable in tests). */
  randomU32(): number;
  /** Rate-limited kernel-style log line (e.g. "no destination available"). */
  log(message: string): void;
  /** A /proc/sys/net/ipv4/vs value (e.g. lblc_expiration, in seconds); undefined = kernel default. */
  sysctl?(name: string): number | undefined;
}

/**
 * A scheduler's own `-b` flag words, each naming one of the service flag bits
 * SVC_F_SCHED1..3, e.g. `{ 'xx-fallback': SVC_F_SCHED1, 'xx-port': SVC_F_SCHED2 }`.
 * The generic words flag-1..3 name the bits for every scheduler.
 */
export type SchedFlagWords = Readonly<Record<string, number>>;

export interface SchedulerPlugin<S = unknown> {
  readonly kind: 'scheduler';
  /** Name as given to `-s` (at most 15 characters, as IP_VS_SCHEDNAME_MAXLEN). */
  readonly name: string;
  readonly description?: string;
  /** The `-b` words this scheduler gives its flag bits (listings print them). */
  readonly flags?: SchedFlagWords;
  /** Builds the scheduler's state for a service (init_service); dests may already exist. */
  init(svc: SchedService, ctx: SchedContext): S;
  /** Releases the state (done_service): service deleted or scheduler changed. */
  done?(svc: SchedService, state: S, ctx: SchedContext): void;
  /** After a dest was linked at the head of the list. */
  addDest?(svc: SchedService, state: S, dest: SchedDest, ctx: SchedContext): void;
  /** After a dest was unlinked. */
  delDest?(svc: SchedService, state: S, dest: SchedDest, ctx: SchedContext): void;
  /** After a dest was edited (`-e`). */
  updDest?(svc: SchedService, state: S, dest: SchedDest, ctx: SchedContext): void;
  /**
   * After a linked dest's activeConns, inactConns or OVERLOAD flag changed (not a
   * kernel hook: lets a scheduler keep an incremental index instead of scanning).
   */
  destLoad?(svc: SchedService, state: S, dest: SchedDest, ctx: SchedContext): void;
  /** Picks a real server for a new connection or template; null when none is available. */
  schedule(svc: SchedService, state: S, pkt: SchedPacket, ctx: SchedContext): SchedDest | null;
  /** Periodic work (e.g. LBLC garbage collection), called every `tickInterval` milliseconds. */
  tick?(svc: SchedService, state: S, ctx: SchedContext): void;
  /** Milliseconds between ticks (default 60 000). */
  readonly tickInterval?: number;
}

export function defineScheduler<S>(p: Omit<SchedulerPlugin<S>, 'kind'>): SchedulerPlugin<S> {
  return { kind: 'scheduler', ...p };
}

// ---------------------------------------------------------------- forwarders

/** A frame in a receive buffer (what a classifier sees); headers are read in place. */
export interface FrameView {
  buf: Uint8Array;
  /** Offsets of the L3 and L4 headers inside buf (-1 when absent), and the frame length. */
  l3: number;
  l4: number;
  len: number;
}

/**
 * The real server a packet goes to (one object per real server, made once,
 * never per packet). `S` is what the forwarder's prepareDest made of it.
 */
export interface FwdDest<S = unknown> {
  /** 4 or 6. May differ from the packet's family for tunnels. */
  readonly family: number;
  /** Address bytes: 4 (IPv4) or 16 (IPv6). */
  readonly addr: Uint8Array;
  /** IPv4 address as a u32 (0 for IPv6). */
  readonly addr4: number;
  readonly port: number;
  /** The forwarder's own per-real-server state (prepareDest's result; undefined without that hook). */
  readonly state: S;
}

/** Where a frame leaves: next-hop MAC, own MAC, link MTU, and the director's own address on that link. */
export interface FwdLink {
  /** Output interface index. */
  port: number;
  mac: Uint8Array;
  srcMac: Uint8Array;
  mtu: number;
  /** The director's address on the link, per family (route source for tunnels); 0 / all-zero when none. */
  src4: number;
  src6: Uint8Array;
  /** False when no next hop could be resolved (no neighbour entry, no route). */
  ok: boolean;
  /**
   * The next hop (address text) whose MAC the kernel is still resolving, else
   * null. Frames sent on such a link are held by the I/O and sent once the MAC
   * is known, as the kernel's neighbour queue holds them (afpacket only).
   */
  unresolved: string | null;
}

/**
 * One packet on its way through a forwarder. The engine fills a single object
 * per worker for every packet; the frame is rewritten in place in `buf`.
 * Offsets in `r` (core/packet/parse.ts F_* fields) are absolute indexes into buf.
 */
export interface FwdPacket<S = unknown> {
  readonly buf: Uint8Array;
  /** Start and length of the frame to send; a forwarder may move `off` back (not below `room`) to prepend headers. */
  off: number;
  len: number;
  /** Lowest index the frame may start at (the headroom of the receive slot). */
  readonly room: number;
  /** Parse result of the frame as received. */
  readonly r: Int32Array;
  /** The connection's real server (inbound) — for replies, the server that answered. */
  dest: FwdDest<S>;
  /** Virtual address (4 or 16 bytes) and port of the connection: NAT replies leave with these. */
  readonly vaddr: Uint8Array;
  vaddr4: number;
  vport: number;
  /** Next hop for this frame (towards the real server inbound, towards the client outbound). */
  link: FwdLink;
  /**
   * The frame is an aggregate of segments of `gsoSize` payload bytes each (a
   * GSO/GRO super-frame; 0: a plain frame), of kind `gsoType` (GSO_* in the
   * contract). Only a forwarder declaring `aggregates` sees one; it leaves as
   * one and the kernel cuts it on output. Its MTU checks are on the segment
   * size (its headers plus gsoSize), as the kernel checks a GSO packet.
   */
  gsoSize: number;
  gsoType: number;
  /**
   * The L4 checksum field (F_CSUM_OFF) holds only the pseudo-header sum
   * (CHECKSUM_PARTIAL); the kernel or the NIC completes it on output. Only a
   * forwarder declaring `partialChecksums` sees one: rewriting an address
   * updates the field as a sum (CSUM_PARTIAL), a port change leaves it alone.
   */
  csumPartial: boolean;
}

/** What the engine does for a forwarder: transmit, fragment, answer with ICMP. */
export interface FwdIo {
  /** Queue the frame buf[p.off, p.off + p.len) on p.link. */
  send(p: FwdPacket): void;
  /** Queue the IPv4 packet at `l3` (Ethernet header in front of it) cut into fragments of at most `mtu` bytes. */
  sendFragments(p: FwdPacket, l3: number, mtu: number): boolean;
  /**
   * Send an ICMP / ICMPv6 error about the IP packet at `l3` (as it is now) back
   * to its source, from the address it was sent to (`fromOwn`: from the
   * director's own address on the link instead). `info`: MTU for frag-needed / packet-too-big.
   */
  icmpError(p: FwdPacket, l3: number, type: number, code: number, info: number, fromOwn?: boolean): void;
  /** An IPv4 ID from the director's generator (outer headers of non-DF tunnel packets). */
  ipId(): number;
}

/** Forwarder results: the packet went out (or was handed to io), or why not. */
export const FWD_SENT = 0;
export const FWD_TTL = 1;        // TTL/hop limit exhausted: ICMP time exceeded sent
export const FWD_MTU = 2;        // too big with DF / IPv6: ICMP frag-needed / packet-too-big sent
export const FWD_NO_ROUTE = 3;   // no next hop / no source address
export const FWD_NO_ROOM = 4;    // not enough headroom or tx space
export const FWD_BAD = 5;        // packet unusable for this method (bad ICMP checksum, …)
export const FWD_NAMES: readonly string[] = ['sent', 'fwd-ttl', 'fwd-mtu', 'fwd-no-route', 'fwd-no-room', 'fwd-bad'];

/**
 * What a forwarder declares about its method: the rules the kernel (and
 * ipvsadm) hard-code per method, which the core reads from here instead of
 * comparing method names. Absent means no (a method with no forwarder has none).
 */
export interface ForwarderCaps {
  /**
   * The real servers' replies come back through the director (NAT): the
   * engine looks replies up and hands them to `outbound`, and the firewall
   * lets them reach the engine. Without it the method's connections are
   * input-only (IP_VS_CONN_F_NOOUTPUT), as DR and tunnelling are.
   */
  readonly replies?: boolean;
  /**
   * A real server may be of the other address family than its service (an
   * IPv4 service with IPv6 real servers or the reverse), as tunnelling allows:
   * the packet travels inside a header of the real server's family.
   */
  readonly crossFamily?: boolean;
  /**
   * The packet keeps the virtual port on its way to the real server (DR,
   * tunnelling): a real server's port of a non-fwmark service is the
   * service's, whatever was asked (ipvsadm forces it; the config refuses another).
   */
  readonly keepsPort?: boolean;
  /**
   * The kernel's own checks on a real server's options of this method, run
   * by the table before every add and edit: an error text (refused with
   * EINVAL, nothing changed) or null. E.g. the tunnel's GUE needs a port.
   */
  checkDest?(dest: DestSpec): string | null;
  /**
   * The method takes a real server's tunnel options (type, port, checksum:
   * ipvsadm's --tun-*, config's `tunnel`), which its prepareDest reads.
   */
  readonly tunnelOptions?: boolean;
  /**
   * The forwarder keeps frames whose L4 checksum is partial (p.csumPartial)
   * right, so they may leave partial for the kernel or the NIC to complete.
   * Without it the engine completes the checksum before the forwarder runs.
   */
  readonly partialChecksums?: boolean;
  /**
   * The forwarder sends an aggregate (p.gsoSize > 0) on as one frame, for the
   * kernel to segment on output (NAT, DR). Without it the engine cuts the
   * aggregate into its segments first and runs the forwarder on each (IP
   * tunnels: the kernel cannot be told to segment the inner packet).
   */
  readonly aggregates?: boolean;
}

/** The capabilities of the forwarder carrying out a method, or undefined when none does. */
export type ForwarderLookup = (method: FwdMethod) => ForwarderCaps | undefined;

export interface ForwarderPlugin<S = unknown> extends ForwarderCaps {
  readonly kind: 'forwarder';
  readonly name: string;
  /** The method of `-g/-i/-m` this plugin carries out. */
  readonly method: FwdMethod;
  /**
   * Makes the forwarder's own state for a real server of its method (e.g. the
   * tunnel's encapsulation from tunType/tunPort/tunFlags), when the engine
   * resolves that real server (added, edited, reconfigured): never per packet.
   * Packets carry it as `p.dest.state`.
   */
  prepareDest?(dest: DestSpec): S;
  /** Client → real server (also ICMP errors from the client side, unless icmpIn is given). Returns FWD_*. */
  inbound(p: FwdPacket<S>, io: FwdIo): number;
  /** Real server → client: replies (only methods with `replies`, i.e. NAT). */
  outbound?(p: FwdPacket<S>, io: FwdIo): number;
  /** An ICMP error from the client side about a reply of one of this method's connections. */
  icmpIn?(p: FwdPacket<S>, io: FwdIo): number;
  /** An ICMP error from the real server about a request of one of this method's connections. */
  icmpOut?(p: FwdPacket<S>, io: FwdIo): number;
}

export function defineForwarder<S = unknown>(p: Omit<ForwarderPlugin<S>, 'kind'>): ForwarderPlugin<S> {
  return { kind: 'forwarder', ...p };
}

/** A lookup by method over a set of forwarders (one per method, as loadPlugins keeps them). */
export function forwarderLookup(forwarders: Iterable<ForwarderPlugin<unknown>>): (method: FwdMethod) => ForwarderPlugin<unknown> | undefined {
  const byMethod = new Map<FwdMethod, ForwarderPlugin<unknown>>();
  for (const f of forwarders) byMethod.set(f.method, f);
  return (method) => byMethod.get(method);
}

/** The methods whose forwarders see replies (`replies: true`): NAT-like connections, reply firewall rules. */
export function replyMethods(forwarders: Iterable<Pick<ForwarderPlugin<unknown>, 'method' | 'replies'>>): Set<FwdMethod> {
  const out = new Set<FwdMethod>();
  for (const f of forwarders) if (f.replies === true) out.add(f.method);
  return out;
}

// ---------------------------------------------------------------- health checks

/**
 * What one checker probes: keepalived's connect_ip/connect_port (default the
 * real server's address and port), plus what a checker may need to know of
 * the real server and its service (the protocol, a Host header, log text).
 */
export interface HealthTarget {
  readonly family: Family;
  readonly addr: string;
  readonly port: number;
  /** The virtual service's protocol (a UDP service's real server is checked over UDP by udp/dns). */
  readonly protocol: Protocol;
  /** Source address (keepalived `bindto`) and port (`bind_port`), when configured. */
  readonly bindto?: string;
  readonly bindPort?: number;
  /** Host header default cascaded from the real server / service (keepalived `virtualhost`). */
  readonly virtualhost?: string;
  /** The real server's configured weight (MISC_CHECK misc_dynamic reports relative to it). */
  readonly weight: number;
  /** `[RIP]:proto:PORT` as keepalived prints it, for messages. */
  readonly label: string;
}

/** Per-attempt context. */
export interface HealthContext {
  /** Aborts at the check's timeout (keepalived connect_timeout / misc_timeout) or when the checker stops. */
  readonly signal: AbortSignal;
  /** The timeout in seconds, for messages ("timeout after 5 s"). */
  readonly timeout: number;
  /** Which step of a multi-step checker runs (HTTP_GET: the URL index); 0 otherwise. */
  readonly step: number;
  /** Per-checker scratch space that survives between attempts (PING_CHECK's sequence number). */
  readonly state: Record<string, unknown>;
}

/**
 * Why a check failed, in a word the bus and the listing can show; `reason`
 * says the rest ("connection refused", "status 404 not in 200-299" ...).
 */
export type HealthFailure =
  | 'timeout' | 'refused' | 'unreachable' | 'reset' | 'status' | 'digest' | 'content'
  | 'protocol' | 'exit' | 'error';

export type HealthResult =
  | { ok: true; weight?: number; detail?: string }
  | { ok: false; failure: HealthFailure; reason: string };

/** keepalived's per-checker defaults where they differ from the common ones (§2.2, §3.1). */
export interface HealthDefaults {
  /** Extra attempts before failure; default 1 (MISC_CHECK 0, DNS_CHECK 3). */
  readonly retry?: number;
  /** Seconds, or 'interval' for "= delay_loop" (DNS_CHECK); default 1 (HTTP/SSL 3). */
  readonly delayBeforeRetry?: number | 'interval';
  /** Seconds, or 'interval' (MISC_CHECK's misc_timeout); default 5 (connect_timeout). */
  readonly timeout?: number | 'interval';
}

export type HealthOptionsResult<O> =
  | { ok: true; value: O }
  /** `field` is the option at fault (e.g. 'statusCode', 'urls[1].path'), for the config error's path. */
  | { ok: false; error: string; field?: string };

export interface HealthCheckPlugin<O = unknown> {
  readonly kind: 'health';
  /** The `check:` name in config (tcp, http … or an operator's). */
  readonly name: string;
  readonly description?: string;
  readonly defaults?: HealthDefaults;
  /**
   * The checker's own options (the common ones — interval, timeout, retry … —
   * are taken off first) as a zod schema, composed into the config's checks:
   * its messages become config errors at the option's path
   * (`services[0].health.statusCode`), and keys a `z.object` does not name are
   * refused with a "did you mean" (a `z.looseObject` takes any). Its output is
   * what `check()` gets. Absent: the checker takes no options.
   */
  readonly options?: z.ZodType<O>;
  /** Multi-step checkers (HTTP_GET's URLs): how many steps one full pass has. Default 1. */
  steps?(options: O): number;
  /** One attempt. It must settle by itself once `ctx.signal` aborts. */
  check(target: HealthTarget, options: O, ctx: HealthContext): Promise<HealthResult>;
}

/** A health checker; its options' type is inferred from its `options` schema. */
export function defineHealthCheck<S extends z.ZodType = z.ZodObject<Record<string, never>>>(p: {
  readonly name: string;
  readonly description?: string;
  readonly defaults?: HealthDefaults;
  readonly options?: S;
  steps?(options: z.output<S>): number;
  check(target: HealthTarget, options: z.output<S>, ctx: HealthContext): Promise<HealthResult>;
}): HealthCheckPlugin<z.output<S>> {
  return { kind: 'health', ...p } as HealthCheckPlugin<z.output<S>>;
}

// ---------------------------------------------------------------- classifiers

export interface ClassifierPlugin {
  readonly kind: 'classifier';
  readonly name: string;
  /** Returns the firewall mark for a frame, or 0 to leave it unmarked. Called per packet. */
  classify(frame: FrameView): number;
}

export function defineClassifier(p: Omit<ClassifierPlugin, 'kind'>): ClassifierPlugin {
  return { kind: 'classifier', ...p };
}

// ---------------------------------------------------------------- control-plane plugins: sync, failover
//
// They run on the main thread and see only a ControlContext (DESIGN.md
// "Plugins"): the table API with lvsadm's operations, the bus, the registry, a
// logger and the clock. Core/ctlplane/host.ts starts and stops them. When:
// - without `configKey`: at daemon start (once the config is applied and the
//   data plane is up), stopped at shutdown;
// - with `configKey`: while that root key of config.ts is present — started
//   when it appears, `reconfigure`d (or restarted, without that hook) when its
//   value changes, stopped when it disappears, all on config reloads.


/** The table operations lvsadm has, each answered as the table answers it; changes are recorded as the plugin's. */
export interface ControlTable {
  /** GET_INFO: IPVS version code and connection table size. */
  info(): Result<InfoView>;
  /** Every service in kernel order (copies: changing them changes nothing). */
  services(): Result<ServiceView[]>;
  service(k: ServiceKey): Result<ServiceView>;
  addService(s: ServiceSpec): Result<ServiceView>;
  editService(s: ServiceSpec): Result<ServiceView>;
  deleteService(k: ServiceKey): Result<void>;
  addDest(k: ServiceKey, d: DestSpec): Result<DestView>;
  editDest(k: ServiceKey, d: DestSpec): Result<DestView>;
  deleteDest(k: ServiceKey, d: DestKey): Result<void>;
  /** `-C`. */
  flush(): Result<void>;
  /** `-Z`: one service's counters, or all. */
  zero(k?: ServiceKey): Result<void>;
  timeouts(): Result<Timeouts>;
  /** `--set tcp tcpfin udp`: 0 leaves a value as it is. */
  setTimeouts(t: Timeouts): Result<void>;
  /** `--list-daemon`. */
  daemons(): Result<SyncDaemonSpec[]>;
  /** `--start-daemon` (maxlen 0: the kernel's default for the interface). */
  startDaemon(d: SyncDaemonSpec): Result<SyncDaemonSpec>;
  stopDaemon(state: 'master' | 'backup'): Result<void>;
  /** `-L -c`: the data plane's connection entries (workers answer asynchronously). */
  conns(): Promise<Result<ConnView[]>>;
}

/** One connection entry as the sync protocol carries it (spec sync.md §2.2, struct ip_vs_sync_conn_v1's fields). */
export type SyncConn = SyncConnFields;

/**
 * The data plane's side of connection sync, as the kernel's core does it:
 * which entries a master reports (per inbound packet, spec §4.1–4.3) and how
 * a backup installs what it received (§6). The wire, the batching and the
 * sockets are the sync plugin's.
 */
export interface ConnSync {
  /**
   * Master: from now on every replica reports the entries to sync, with the
   * given sync settings (the rest the kernel's defaults), to `onConns` as they
   * come (`dropped`: entries a replica could not keep because they were not
   * taken in time). Returns the function that stops it. One follower at a
   * time: a later follow() replaces an earlier one.
   */
  follow(settings: Partial<SyncSettings>, onConns: (conns: SyncConn[], dropped: number) => void): () => void;
  /**
   * Backup: installs received entries, each in the replica that owns its flow,
   * flagged SYNC, bound to this director's own real servers. `version` 0: the
   * local timeouts and all 16 flag bits (v0 messages); `threshold`: the
   * entries' inbound packet count (sync_threshold, default 3). Entries that
   * are not valid are counted in `invalid` and change nothing.
   */
  install(conns: readonly SyncConn[], o: { version: number; threshold?: number }): Promise<SyncInstallCounts & { invalid: number }>;
  /** Every live entry (templates first): what a backup that joins late needs. */
  dump(): Promise<SyncConn[]>;
  /**
   * backup_only (the sysctl) while this director is a sync backup: it does not
   * balance client packets (the host stack gets them), NAT replies aside.
   * Off again when the plugin stops.
   */
  backupOnly(on: boolean): void;
}

/** The bus as a plugin sees it: every event to follow, and the events its kind owns to emit. */
export interface ControlBus<E extends keyof BusEvents> {
  /** Returns the unsubscribe function; the host also unsubscribes everything when the plugin stops. */
  on<K extends keyof BusEvents>(event: K, fn: (payload: BusEvents[K]) => void): () => void;
  emit<K extends E>(event: K, payload: BusEvents[K]): void;
}

/** The plugin registry, read only. */
export interface RegistryView {
  names(kind: PluginKind): string[];
  get(kind: PluginKind, name: string): AnyPlugin | undefined;
}

export interface ControlContext<E extends keyof BusEvents = never> {
  readonly table: ControlTable;
  readonly bus: ControlBus<E>;
  readonly registry: RegistryView;
  /** Lines prefixed with the plugin's kind and name. */
  readonly log: Logger;
  /** The project's one clock, in milliseconds; timers left pending are cleared when the plugin stops. */
  readonly clock: Clock;
  /** The data plane's connection entries for sync (master and backup). */
  readonly conns: ConnSync;
  /** Which of the VIPs failover manages this director holds (failover plugins). */
  readonly vips: VipHold;
}

/**
 * A failover plugin's VIPs (those its `vips` hook declares): the data plane
 * leaves each one it does not hold to the kernel, from its start on, so lvsd's
 * takeover rules never hold a VIP another director owns.
 */
export interface VipHold {
  /**
   * This director holds (true) or no longer holds (false) these VIPs. Resolves
   * once the data plane follows: hold before adding the address, let go after
   * removing it. A plugin's holds end when it stops.
   */
  hold(addrs: readonly string[], held: boolean): Promise<void>;
}

/** What `start` returns: the running instance. */
export interface ControlHandle<O = undefined> {
  stop(): void | Promise<void>;
  /** The config key's value changed (parsed by `options`). Without this hook the plugin is restarted instead. */
  reconfigure?(options: O): void | Promise<void>;
}

interface ControlPluginOf<K extends 'sync' | 'failover', O, E extends keyof BusEvents> {
  readonly kind: K;
  readonly name: string;
  readonly description?: string;
  /** The root key of config.ts this plugin owns (e.g. 'sync', 'vrrp'); given with `options`. */
  readonly configKey?: string;
  /**
   * With `configKey`: run from daemon start to shutdown whether or not the key
   * is in config.ts (`options` is then undefined), reconfigured as it comes
   * and goes — for a plugin lvsadm can drive too (the sync daemon).
   */
  readonly always?: boolean;
  /** Schema of the config key's value (composed into the config's schema and its errors). */
  readonly options?: ZodType<O>;
  /** `options` is the parsed config value; undefined for a plugin without configKey. */
  start(ctx: ControlContext<E>, options: O): Promise<ControlHandle<O>>;
}

/** Events a sync plugin may emit. ('conn.sync' comes from the data plane.) */
export type SyncEvent = 'sync.received' | 'sync.stats';
/** Events a failover plugin may emit. */
export type FailoverEvent = 'ha.state' | 'ha.status';

/** The connection sync daemon (master sends, backup receives; plugins/sync/). */
export type SyncPlugin<O = undefined> = ControlPluginOf<'sync', O, SyncEvent>;
/** Failover: which director holds the VIPs (VRRP; plugins/ha/). */
export type FailoverPlugin<O = undefined> = ControlPluginOf<'failover', O, FailoverEvent> & {
  /**
   * The VIPs this plugin moves between directors under `options` (pure; called
   * before the data plane starts and on each reload). Until the plugin holds
   * one (ctx.vips), the data plane leaves it to the kernel.
   */
  vips?(options: O): string[];
};
/** The sync kind's handle (one shape for both kinds). */
export type SyncHandle<O = undefined> = ControlHandle<O>;
export type ControlPlugin = SyncPlugin<unknown> | FailoverPlugin<unknown>;
export type ControlKind = ControlPlugin['kind'];
export const CONTROL_KINDS: readonly ControlKind[] = ['sync', 'failover'];
/** The bus events each control-plane kind owns (checked at run time too: a JS plugin has no types). */
export const CONTROL_EVENTS: Record<ControlKind, readonly (keyof BusEvents)[]> = {
  sync: ['sync.received', 'sync.stats'], failover: ['ha.state', 'ha.status'],
};

export function defineSync<O = undefined>(p: Omit<SyncPlugin<O>, 'kind'>): SyncPlugin<O> {
  return { kind: 'sync', ...p };
}

export function defineFailover<O = undefined>(p: Omit<FailoverPlugin<O>, 'kind'>): FailoverPlugin<O> {
  return { kind: 'failover', ...p };
}

export type AnyPlugin =
  | SchedulerPlugin<unknown> | ForwarderPlugin<unknown> | HealthCheckPlugin<unknown> | ClassifierPlugin
  | SyncPlugin<unknown> | FailoverPlugin<unknown>;

/** Hooks each kind must provide as functions (checked by the loader). */
export const REQUIRED_HOOKS: Record<PluginKind, readonly string[]> = {
  scheduler: ['init', 'schedule'],
  forwarder: ['inbound'],
  health: ['check'],
  classifier: ['classify'],
  sync: ['start'],
  failover: ['start'],
};

/** Hooks each kind may provide (anything else on the object is refused as a likely typo). */
export const OPTIONAL_HOOKS: Record<PluginKind, readonly string[]> = {
  scheduler: ['done', 'addDest', 'delDest', 'updDest', 'destLoad', 'tick'],
  forwarder: ['prepareDest', 'checkDest', 'outbound', 'icmpIn', 'icmpOut'],
  health: ['steps'],
  classifier: [],
  sync: [],
  failover: ['vips'],
};

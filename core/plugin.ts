// The plugin contract. A plugin is a module whose default export is one plain
// object made by the helper of its kind; the object names itself and provides
// that kind's hooks (the Vite/Rollup shape). The core only wires them.

import type { Family } from './model/addr.js';
import type { FwdMethod, Protocol } from './model/types.js';

export type PluginKind = 'scheduler' | 'forwarder' | 'health' | 'classifier' | 'sync';
export const PLUGIN_KINDS: readonly PluginKind[] = ['scheduler', 'forwarder', 'health', 'classifier', 'sync'];

/** Folder names under plugins/ for each kind. */
export const KIND_DIRS: Record<PluginKind, string> = {
  scheduler: 'schedulers', forwarder: 'forwarding', health: 'health', classifier: 'classifiers', sync: 'sync',
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
  /** Current time in seconds (a virtual clock in tests and sched-trace). */
  now(): number;
  /** A uniform random u32 (seedable in tests). */
  randomU32(): number;
  /** Rate-limited kernel-style log line (e.g. "no destination available"). */
  log(message: string): void;
  /** A /proc/sys/net/ipv4/vs value (e.g. lblc_expiration, in seconds); undefined = kernel default. */
  sysctl?(name: string): number | undefined;
}

export interface SchedulerPlugin<S = unknown> {
  readonly kind: 'scheduler';
  /** Name as given to `-s` (at most 15 characters, as IP_VS_SCHEDNAME_MAXLEN). */
  readonly name: string;
  readonly description?: string;
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
  /** Periodic work (e.g. LBLC garbage collection), called every `tickInterval` seconds. */
  tick?(svc: SchedService, state: S, ctx: SchedContext): void;
  readonly tickInterval?: number;
}

export function defineScheduler<S>(p: Omit<SchedulerPlugin<S>, 'kind'>): SchedulerPlugin<S> {
  return { kind: 'scheduler', ...p };
}

// ---------------------------------------------------------------- forwarders

/** A frame in a receive buffer; headers are read and rewritten in place. */
export interface FrameView {
  buf: Uint8Array;
  /** Offsets of the L3 and L4 headers inside buf, and the frame length. */
  l3: number;
  l4: number;
  len: number;
}

/** The connection a frame belongs to, as a forwarder needs it. */
export interface FwdConn {
  readonly family: Family;
  readonly protocol: Protocol;
  readonly caddr: string; readonly cport: number;
  readonly vaddr: string; readonly vport: number;
  readonly daddr: string; readonly dport: number;
}

export type FwdVerdict =
  | { action: 'send'; frame: FrameView; ifname?: string }
  | { action: 'drop'; reason: string }
  | { action: 'icmp-frag-needed'; mtu: number };

export interface ForwarderPlugin {
  readonly kind: 'forwarder';
  readonly name: string;
  /** The method of `-g/-i/-m` this plugin carries out. */
  readonly method: FwdMethod;
  /** Client → real server. */
  inbound(frame: FrameView, conn: FwdConn): FwdVerdict;
  /** Real server → client (only methods that see replies, i.e. NAT). */
  outbound?(frame: FrameView, conn: FwdConn): FwdVerdict;
}

export function defineForwarder(p: Omit<ForwarderPlugin, 'kind'>): ForwarderPlugin {
  return { kind: 'forwarder', ...p };
}

// ---------------------------------------------------------------- health checks

export interface HealthTarget {
  readonly family: Family;
  readonly addr: string;
  readonly port: number;
}

export type HealthResult =
  | { ok: true; weight?: number }
  | { ok: false; reason: string };

export interface HealthCheckPlugin<O = Record<string, unknown>> {
  readonly kind: 'health';
  readonly name: string;
  /** Validates and defaults the options from config; returns an error text instead of throwing. */
  options(raw: Record<string, unknown>): { ok: true; value: O } | { ok: false; error: string };
  /** One check. It must settle by itself once `signal` aborts (the check's timeout). */
  check(target: HealthTarget, options: O, signal: AbortSignal): Promise<HealthResult>;
}

export function defineHealthCheck<O>(p: Omit<HealthCheckPlugin<O>, 'kind'>): HealthCheckPlugin<O> {
  return { kind: 'health', ...p };
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

// ---------------------------------------------------------------- sync

export interface SyncHandle { stop(): Promise<void> }

export interface SyncPlugin<O = Record<string, unknown>> {
  readonly kind: 'sync';
  readonly name: string;
  start(role: 'master' | 'backup', options: O): Promise<SyncHandle>;
}

export function defineSync<O>(p: Omit<SyncPlugin<O>, 'kind'>): SyncPlugin<O> {
  return { kind: 'sync', ...p };
}

export type AnyPlugin =
  | SchedulerPlugin<unknown> | ForwarderPlugin | HealthCheckPlugin<unknown> | ClassifierPlugin | SyncPlugin<unknown>;

/** Hooks each kind must provide as functions (checked by the loader). */
export const REQUIRED_HOOKS: Record<PluginKind, readonly string[]> = {
  scheduler: ['init', 'schedule'],
  forwarder: ['inbound'],
  health: ['options', 'check'],
  classifier: ['classify'],
  sync: ['start'],
};

/** Hooks each kind may provide (anything else on the object is refused as a likely typo). */
export const OPTIONAL_HOOKS: Record<PluginKind, readonly string[]> = {
  scheduler: ['done', 'addDest', 'delDest', 'updDest', 'destLoad', 'tick'],
  forwarder: ['outbound'],
  health: [],
  classifier: [],
  sync: [],
};

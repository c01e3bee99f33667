// The protocol between the daemon and its data-plane replicas: the workers
// of `--io afpacket`, and the memory wire's one replica, which takes the same
// messages by function call. A replica starts from a snapshot of the table
// (ReplicaInit) and then follows the table's own events (ReplicaEvent), sent
// in batches, one per turn of the daemon's event loop; it applies each with
// its table's own operations, so the same add/edit/delete rules apply on
// both sides and a replica keeps its connections and scheduler state across
// changes. The daemon numbers every service and real server (ids in the
// events); counters come back as deltas and connection counts per real server
// as absolutes, in one typed array of records naming them by those ids, for
// what changed only. Plugins travel as module paths (the loader compiles
// them to importable .mjs files). Connection entries come back as views.

import type { Snapshot } from '../conn/snapshot.js';
import type { SyncInstallCounts, SyncSettings } from '../conn/sync.js';
import type { ConnView } from '../control/protocol.js';
import { addrWords } from '../model/addr.js';
import type { ServiceTable } from '../model/table.js';
import {
  SVC_F_PERSISTENT, destKeyText, serviceKeyText,
  type DestKey, type DestSpec, type FwdMethod, type ServiceKey, type ServiceSpec, type SyncDaemonSpec, type Timeouts,
} from '../model/types.js';
import type { PluginRegistry } from '../plugins/loader.js';
import type { FilterSpec } from './io/bpf.js';
import type { NetSpec } from './net.js';

/** The table as a replica starts from: services in list order, real servers in kernel order (newest first), with the daemon's ids. */
export interface ReplicaInit {
  services: { id: number; spec: ServiceSpec; dests: { id: number; spec: DestSpec }[] }[];
  timeouts: Timeouts;
  daemons: SyncDaemonSpec[];
}

/**
 * One table event as a replica needs it (core/model/events.ts, less what only
 * the control plane reads: sources, previous specs). `stats.zeroed` is not
 * sent: a replica's counters only feed deltas to the daemon's, which -Z zeroes.
 */
export type ReplicaEvent =
  | { type: 'service.added'; id: number; service: ServiceSpec }
  | { type: 'service.changed'; service: ServiceSpec }
  | { type: 'service.removed'; service: ServiceKey }
  | { type: 'dest.added'; service: ServiceKey; id: number; dest: DestSpec }
  | { type: 'dest.changed'; service: ServiceKey; dest: DestSpec }
  | { type: 'dest.removed'; service: ServiceKey; dest: DestKey }
  | { type: 'table.flushed' }
  | { type: 'timeouts.changed'; timeouts: Timeouts }
  | { type: 'daemon.started'; daemon: SyncDaemonSpec }
  | { type: 'daemon.stopped'; state: 'master' | 'backup' };

/**
 * A stats record: [id, conns, inpkts, outpkts, inbytes, outbytes, ActiveConn,
 * InActConn, PersistConn]. Id 0 is the table's total; a service's record has
 * -1 for the three connection counts (they are real servers').
 */
export const REC = 9;
export const TOTAL_ID = 0;

export interface TableSnapshot {
  services: { spec: ServiceSpec; dests: DestSpec[] }[];
  timeouts: Timeouts;
}

export interface PluginModules {
  schedulers: Record<string, string>;
  forwarders: string[];
  classifiers: string[];
}

export interface WorkerInterface { name: string; ifindex: number; mac: string; mtu: number }

export interface WorkerInit {
  id: number;
  interfaces: WorkerInterface[];
  net: NetSpec;
  modules: PluginModules;
  replica: ReplicaInit;
  /** Fanout group base (one group per interface), null with one worker. */
  fanoutGroup: number | null;
  maxConns?: number;
  statsMs: number;
  /** Connection entries sent back at most this many per report. */
  connViewsMax: number;
  /** Workers in this daemon (the fanout group's size). */
  workers: number;
  /** Where this worker saves its connection snapshot (core/conn/snapshot.ts), null: not saved. */
  stateDir: string | null;
  /** The previous daemon's connection files, read and validated by the host (records in shared memory, not copied per worker). */
  restore: Snapshot[];
  /** This daemon's start number (one more than the newest snapshot's). */
  generation: number;
  /** VIPs held by another director (Engine.setForeignVips) when the worker starts. */
  foreignVips: string[];
}

export type ToWorker =
  /** Table events, in order: one batch, applied between two packet batches. */
  | { t: 'table'; events: ReplicaEvent[] }
  /** New links or neighbours; `modules` only when the plugins were reloaded. */
  | { t: 'net'; net: NetSpec; modules?: PluginModules }
  /** List the connection entries (lvsadm -L -c), answered with the same `req`. */
  | { t: 'conns'; req: number }
  /** Master sync: report entries to sync (conn/sync.ts records, sent as 'sync'), or stop (null). */
  | { t: 'sync-out'; settings: SyncSettings | null }
  /** Backup sync: install the records this worker owns; answered with the same `req`. */
  | { t: 'sync-in'; req: number; records: Uint8Array; version: number; threshold: number }
  /** Every entry as sync records (a resync), answered with the same `req`. */
  | { t: 'sync-dump'; req: number }
  /** backup_only on or off (Engine.backupOnly). */
  | { t: 'backup-only'; on: boolean }
  /** VIPs held by another director now (Engine.setForeignVips). */
  | { t: 'foreign-vips'; addrs: string[] }
  | { t: 'stop' };

export interface StatsReport {
  t: 'stats'; id: number;
  /** `n` records of REC numbers (what changed since the last report; the total always first). */
  rec: Float64Array;
  n: number;
  /** Since the worker started: engine drop reasons (non-zero ones, and `neighbour-unresolved`), by name. */
  drops: Record<string, number>;
  /**
   * Since the worker started: every I/O counter, by name, in the I/O's order
   * (AfPacketIo.counters(), then `ring-drops`: rx, tx, tx-errors,
   * oversize, aggregates-in, …, ring-drops). The daemon carries names it does not know.
   */
  io: Record<string, number>;
  conns: number;
}

export type FromWorker =
  | { t: 'ready'; id: number }
  | { t: 'error'; id: number; message: string }
  | { t: 'log'; id: number; message: string }
  /** Logged at info level (a log is a warning). */
  | { t: 'info'; id: number; message: string }
  | StatsReport
  | { t: 'conns'; id: number; req: number; views: ConnView[]; truncated: boolean }
  /** Master sync: records of entries to sync since the last (at most every 5 ms), and how many the worker could not keep. */
  | { t: 'sync'; id: number; records: Uint8Array; dropped: number }
  | { t: 'sync-in'; id: number; req: number; counts: SyncInstallCounts }
  | { t: 'sync-dump'; id: number; req: number; records: Uint8Array }
  /** Next hops the worker found no MAC for: the daemon has the kernel resolve them and sends a new net. */
  | { t: 'resolve'; id: number; addrs: string[] };

/** A real server's identity within a service, as log lines name it. */
export const destKey = destKeyText;
export const svcKey = (s: ServiceKey): string => serviceKeyText(s);

/** The table's services and real servers as the socket filters are computed from. */
export function tableSnapshot(table: ServiceTable): TableSnapshot {
  return {
    services: table.list().map((s) => ({ spec: { ...s.spec }, dests: s.dests.map((d) => ({ ...d.spec })) })),
    timeouts: { ...table.timeouts },
  };
}

export function pluginModules(reg: PluginRegistry): PluginModules {
  const mod = (k: 'scheduler' | 'forwarder' | 'classifier', n: string) => reg.get(k, n)!.module;
  return {
    schedulers: Object.fromEntries(reg.names('scheduler').map((n) => [n, mod('scheduler', n)])),
    forwarders: reg.names('forwarder').map((n) => mod('forwarder', n)),
    classifiers: reg.names('classifier').map((n) => mod('classifier', n)),
  };
}

/**
 * What the socket filter and the fanout program must know, from a snapshot.
 * `replies`: the methods whose forwarders see replies (plugin.ts replyMethods).
 */
export function filterSpec(snap: TableSnapshot, replies: ReadonlySet<FwdMethod>): FilterSpec {
  const v4 = familySpec(snap, 'inet', replies), v6 = familySpec(snap, 'inet6', replies);
  const one = (l: number[][]) => l.map((w) => w[0]!);
  return {
    vips: one(v4.vips), natRips: one(v4.rips), ipKeyedVips: one(v4.ipVips), ipKeyedRips: one(v4.ipRips),
    ipv6: snap.services.some((s) => s.spec.family === 'inet6'),
    vips6: v6.vips, natRips6: v6.rips, ipKeyedVips6: v6.ipVips, ipKeyedRips6: v6.ipRips,
  };
}

/** One family's VIPs and NAT real servers (as address words), and which of them key on the client address alone. */
function familySpec(snap: TableSnapshot, family: 'inet' | 'inet6', replies: ReadonlySet<FwdMethod>): { vips: number[][]; rips: number[][]; ipVips: number[][]; ipRips: number[][] } {
  const vips = new Set<string>(), rips = new Set<string>(), ipVips = new Set<string>(), ipRips = new Set<string>();
  const svcs = snap.services.filter((s) => s.spec.fwmark === 0 && s.spec.family === family);
  const natOf = (dests: readonly DestSpec[]) => dests.filter((d) => replies.has(d.fwd) && d.family === family).map((d) => d.addr);
  for (const { spec, dests } of svcs) {
    vips.add(spec.addr);
    if (spec.flags & SVC_F_PERSISTENT) ipVips.add(spec.addr);
    for (const r of natOf(dests)) rips.add(r);
  }
  // A real server of a persistent service keys replies by client address; so
  // then must every VIP it serves, and so on until nothing changes.
  for (let changed = true; changed;) {
    changed = false;
    for (const { spec, dests } of svcs) {
      const nat = natOf(dests);
      if (!ipVips.has(spec.addr) && !nat.some((r) => ipRips.has(r))) continue;
      if (!ipVips.has(spec.addr)) { ipVips.add(spec.addr); changed = true; }
      for (const r of nat) if (!ipRips.has(r)) { ipRips.add(r); changed = true; }
    }
  }
  const words = (set: Set<string>) => [...set].map((a) => addrWords(family, a));
  return { vips: words(vips), rips: words(rips), ipVips: words(ipVips), ipRips: words(ipRips) };
}

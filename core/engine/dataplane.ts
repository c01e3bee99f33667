// The data plane as the daemon holds it: one interface, two implementations.
// `--io memory` (runner.ts) runs one replica on the main thread against the
// memory wire; `--io afpacket` (worker-host.ts) runs replicas in worker
// threads on real interfaces. Both are fed the table's events through the
// same replica path (replica.ts) and fold their counters back the same way.

import type { ConnView, DropCounterView, DropsView } from '../control/protocol.js';
import type { Service, ServiceTable } from '../model/table.js';
import { Estimator } from '../stats/estimator.js';
import { compareDropNames } from './drops.js';
import type { NetSpec } from './net.js';
import type { PluginRegistry } from '../plugins/loader.js';
import type { SyncInstallCounts, SyncSettings } from '../conn/sync.js';

export interface DataPlaneConfig {
  interfaces: NetSpec['interfaces'];
  neighbors: NetSpec['neighbors'];
  gateways?: readonly string[];
  maxConns?: number;
  /** The foreign VIPs from the start (setForeignVips): a failover plugin's, until it claims them. */
  foreignVips?: readonly string[];
}

export interface DataPlane {
  readonly kind: 'memory' | 'afpacket';
  /** The connection entries (`lvsadm -L -c`). */
  conns(): ConnView[] | Promise<ConnView[]>;
  /** Every replica's drop reasons and I/O counters since it started (`lvsadm -L --drops`, the drop watch). */
  counters(): PlaneCounters;
  /** A config reload: new plugins (and, on the memory wire, interfaces and neighbours); connections are kept. */
  reconfigure(registry: PluginRegistry, cfg: DataPlaneConfig): void;
  /**
   * A master sync daemon: from now on every replica reports the entries to
   * sync (conn/sync.ts records, spec sync.md §4) to `sink`, as they come;
   * null stops it. Replaces an earlier sink.
   */
  syncOut(settings: SyncSettings | null, sink?: (records: Uint8Array, dropped: number) => void): void;
  /** A backup sync daemon's received records, installed by the replica that owns each flow. */
  syncIn(records: Uint8Array, version: number, threshold: number): Promise<SyncInstallCounts>;
  /** Every entry as sync records (a resync). */
  syncDump(): Promise<Uint8Array>;
  /**
   * backup_only while a backup sync daemon runs: client packets are left to
   * the host (on real interfaces the kernel gets them again), NAT replies of
   * entries are still handled.
   */
  setBackupOnly(on: boolean): void;
  /**
   * The VIPs a failover plugin manages that this director does not hold now:
   * their client packets are left to the host (NAT replies of entries are still
   * handled) and, on real interfaces, lvsd's takeover rules leave them to the
   * kernel. Resolves once the rules are in place (before the VIP is added).
   */
  setForeignVips(addrs: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

/** Counts of several replicas' installs, added up. */
export function addInstallCounts(a: SyncInstallCounts, b: SyncInstallCounts): SyncInstallCounts {
  return { created: a.created + b.created, updated: a.updated + b.updated, ignored: a.ignored + b.ignored,
    unbound: a.unbound + b.unbound, full: a.full + b.full, notMine: a.notMine + b.notMine };
}

/** Several replicas' records as one buffer. */
export function concatRecords(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.byteLength; }
  return out;
}

/**
 * One replica's counters since it started: engine drop reasons by name
 * (Engine.dropCounts(), non-zero ones) and I/O counters by name (every one the
 * I/O keeps, in its order). Both are open sets: a name is carried, summed and
 * listed without being known here.
 */
export interface ReplicaCounters { id: number; drops: Record<string, number>; io: Record<string, number> }

export interface PlaneCounters {
  kind: DataPlane['kind'];
  /** How long the data plane has been counting, ms. */
  ms: number;
  replicas: ReplicaCounters[];
}

/** The sums of a plane's counters as `lvsadm -L --drops` lists them (zero drop reasons left out; every I/O counter). */
export function dropsView(c: PlaneCounters, perWorker: boolean): DropsView {
  const row = (kind: DropCounterView['kind'], name: string, pick: (r: ReplicaCounters) => number): DropCounterView => {
    const each = c.replicas.map(pick);
    const count = each.reduce((a, b) => a + b, 0);
    return perWorker ? { kind, name, count, workers: each } : { kind, name, count };
  };
  const names = (pick: (r: ReplicaCounters) => Record<string, number>): string[] => {
    const seen = new Set<string>();
    for (const r of c.replicas) for (const k of Object.keys(pick(r))) seen.add(k);
    return [...seen];
  };
  const drops = names((r) => r.drops).sort(compareDropNames)
    .map((n) => row('drop', n, (r) => r.drops[n] ?? 0)).filter((d) => d.count > 0);
  // the I/O's own order (the first replica's, then names only later ones have)
  const io = names((r) => r.io).map((n) => row('io', n, (r) => r.io[n] ?? 0));
  return {
    plane: c.kind, seconds: Math.max(0, Math.floor(c.ms / 1000)),
    workers: c.replicas.map((r) => r.id), counters: [...drops, ...io],
  };
}

/** Stats objects one estimator slice steps before it lets the event loop turn. */
const EST_SLICE = 2048;

/**
 * The rate estimator on the daemon's table (where the replicas' counters are
 * folded). A large table is estimated in slices, one per turn of the event
 * loop, so that a tick never holds the control socket for long: as the
 * kernel's estimator (ip_vs_est.c since Linux 6.2) spreads its chains over
 * the period, every object is still stepped once per tick, 2 s apart.
 */
export class HostEstimator {
  readonly estimator = new Estimator();
  private pass: { services: readonly Service[]; next: number } | null = null;

  constructor(private readonly table: ServiceTable) { this.estimator.start(table); }

  tick(): void {
    if (this.pass) return;   // the last pass has not finished (a loaded host): this tick is skipped
    this.estimator.step(this.table.total);
    this.pass = { services: [...this.table.list()], next: 0 };
    this.slice();
  }

  private slice(): void {
    const p = this.pass!;
    const est = this.estimator;
    let stepped = 0;
    while (p.next < p.services.length && stepped < EST_SLICE) {
      const s = p.services[p.next++]!;
      est.step(s.stats);
      for (const d of s.dests) est.step(d.stats);
      stepped += 1 + s.dests.length;
    }
    if (p.next < p.services.length) setImmediate(() => { if (this.pass === p) this.slice(); });
    else this.pass = null;
  }

  /** Stops a pass under way (the data plane stops). */
  stop(): void { this.pass = null; }
}

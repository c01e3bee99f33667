// The data plane as the daemon runs it with `--io memory`: one replica (its
// own table and Engine, on the main thread) polling the memory wire on a
// timer. It takes the replica path the afpacket workers take (replica.ts):
// a snapshot at start, then the table's events, in the batches the workers
// get; its counters and connection counts are folded into the daemon's table
// as the workers' are, but synchronously after every poll that moved them,
// so a listing read right after frames were injected shows them.

import type { Bus } from '../bus.js';
import type { Logger } from '../log.js';
import type { ConnView } from '../control/protocol.js';
import type { ServiceTable } from '../model/table.js';
import type { ClassifierPlugin, ForwarderPlugin } from '../plugin.js';
import type { PluginRegistry } from '../plugins/loader.js';
import { EST_INTERVAL_MS } from '../stats/estimator.js';
import { FrameBatch, MAX_AGGREGATE, TxBatch } from './batch.js';
import { HostEstimator, type DataPlane, type DataPlaneConfig, type PlaneCounters } from './dataplane.js';
import type { SyncInstallCounts, SyncSettings } from '../conn/sync.js';
import { DropWatch, summedCounters } from './drop-watch.js';
import type { Engine } from './engine.js';
import { MemoryWire } from './io/memory.js';
import type { NetSpec } from './net.js';
import { Replica, ReplicaFeed } from './replica.js';
import type { ReplicaEvent } from './worker-protocol.js';

/**
 * How long table events are applied to the replica per turn of the event loop
 * (outside a poll with frames): short, as a request waits for the slice under
 * way (3 ms made `info` wait ~11 ms while the first 110 000 events were applied).
 */
const APPLY_SLICE_MS = 1;

/** How often (in the plane's clock) the counters are looked at for a drop reason that climbs. */
const DROP_WATCH_MS = 1000;

export type { DataPlaneConfig } from './dataplane.js';

/** The engine's plugins from a registry: every forwarder and every classifier, by name. */
export function dataPlanePlugins(registry: PluginRegistry): { forwarders: ForwarderPlugin[]; classifiers: ClassifierPlugin[] } {
  return {
    forwarders: registry.names('forwarder').map((n) => registry.get('forwarder', n)!.plugin as ForwarderPlugin),
    classifiers: registry.names('classifier').map((n) => registry.get('classifier', n)!.plugin as ClassifierPlugin),
  };
}

const netSpec = (cfg: DataPlaneConfig): NetSpec => ({ interfaces: cfg.interfaces, neighbors: cfg.neighbors, gateways: cfg.gateways ?? [] });

export class MemoryDataPlane implements DataPlane {
  readonly kind = 'memory' as const;
  readonly wire: MemoryWire;
  private readonly rep: Replica;
  private readonly feed: ReplicaFeed;
  /** Packed: small frames and 64 KiB aggregates alike (a batch holds what fits in 1 MiB). */
  private readonly rx = new FrameBatch(64, MAX_AGGREGATE, 1 << 20);
  private readonly tx = new TxBatch();
  private timers: NodeJS.Timeout[] = [];
  private readonly t0 = performance.now();
  /** Rates are estimated on the daemon's table, where the counters are folded (as with workers). */
  private readonly estimator: HostEstimator;
  /**
   * Batches not yet applied to the replica, and how far into the first. A large
   * one (a config adding 10 000 services) is applied in slices, one per turn of
   * the event loop, so that the daemon stays responsive; a poll with frames to
   * take finishes them first, so packets only ever see whole batches.
   */
  private readonly batches: ReplicaEvent[][] = [];
  private batchAt = 0;
  private nextEst = -1;
  /** Drop reasons that climb are logged (drop-watch.ts) when a logger is given; the next look, in the plane's clock. */
  private dropWatch: DropWatch | null = null;
  private nextWatch = -1;

  /** Without a bus, the table is taken as it is now and not followed (tests); without a log, drops are counted but not watched. */
  constructor(table: ServiceTable, registry: PluginRegistry, cfg: DataPlaneConfig, bus?: Bus, private readonly log?: Logger) {
    this.feed = new ReplicaFeed(table, (events) => this.take(events), 1, bus);
    const { forwarders, classifiers } = dataPlanePlugins(registry);
    // The replica starts empty and takes the table as it is now as its first
    // batch of events, applied in slices like any large batch: with 10 000 × 10
    // the daemon answers requests ~0.7 s sooner, and a frame (or a reader of
    // the replica) waits for the whole batch, so packets never see part of it.
    const init = this.feed.snapshot();
    this.rep = new Replica({ services: [], timeouts: init.timeouts, daemons: [] }, {
      // the daemon's own lookup (its registry as reloaded)
      schedulers: table.opts.schedulers, forwarder: table.opts.forwarder, ctx: table.opts.ctx, log: table.opts.ctx.log,
      engine: { forwarders, classifiers, maxConns: cfg.maxConns, net: netSpec(cfg) },
    });
    this.estimator = new HostEstimator(table);
    this.rep.engine.setForeignVips(cfg.foreignVips ?? []);
    this.wire = new MemoryWire(this.rep.engine.net.ifaces);
    const first: ReplicaEvent[] = [];
    for (const s of init.services) {
      first.push({ type: 'service.added', id: s.id, service: s.spec });
      // kernel order is newest first: the oldest is added first to keep it
      for (let i = s.dests.length - 1; i >= 0; i--) {
        const d = s.dests[i]!;
        first.push({ type: 'dest.added', service: s.spec, id: d.id, dest: d.spec });
      }
    }
    // after the reals, as Replica's constructor does (a sync daemon refuses mixed-family reals being added)
    for (const daemon of init.daemons) first.push({ type: 'daemon.started', daemon });
    if (first.length > 0) this.take(first);
  }

  /** The replica, every batch taken so far applied (tests: its table). */
  get replica(): Replica {
    this.settle();
    return this.rep;
  }

  /** Applies every batch not yet applied. */
  private settle(): void {
    if (this.batches.length > 0) this.applySlice(Infinity);
  }

  private take(events: ReplicaEvent[]): void {
    this.batches.push(events);
    if (this.batches.length === 1) this.applySlice(APPLY_SLICE_MS);
  }

  /** Applies pending events for about `ms` (Infinity: all of them), 256 at a time. */
  private applySlice(ms: number): void {
    const until = performance.now() + ms;
    while (this.batches.length > 0 && performance.now() < until) {
      const b = this.batches[0]!;
      const end = Math.min(b.length, this.batchAt + 256);
      this.rep.apply(this.batchAt === 0 && end === b.length ? b : b.slice(this.batchAt, end));
      this.batchAt = end;
      if (end === b.length) { this.batches.shift(); this.batchAt = 0; }
    }
    if (this.batches.length > 0) setImmediate(() => { if (this.batches.length > 0) this.applySlice(APPLY_SLICE_MS); });
  }

  /** The replica's engine (tests: drops, connections), every batch taken so far applied. */
  get engine(): Engine { return this.replica.engine; }

  /** A config reload: new interfaces, neighbours or plugins; connections are kept. */
  reconfigure(registry: PluginRegistry, cfg: DataPlaneConfig): void {
    const { forwarders, classifiers } = dataPlanePlugins(registry);
    const engine = this.rep.engine;
    engine.reconfigure(netSpec(cfg), forwarders, classifiers);
    // new scheduler code, as the daemon's table got it
    this.rep.table.refreshSchedulers();
    // the engine has a new Net: inject and name frames by its interfaces
    this.wire.setInterfaces(engine.net.ifaces);
  }

  now(): number { return performance.now() - this.t0; }

  /** Polls the wire every `ms` and runs the clock (expiry, estimator); the schedulers' ticks each second. */
  start(ms = 10): void {
    this.timers.push(setInterval(() => this.poll(), ms), setInterval(() => this.rep.housekeep(), 1000));
    for (const t of this.timers) t.unref();
  }

  poll(): void {
    // the table's changes not yet sent (or not yet applied) reach the replica before any frame
    this.feed.flush();
    if (this.batches.length > 0 && this.wire.pending > 0) this.applySlice(Infinity);
    const now = this.now();
    const engine = this.rep.engine;
    engine.advance(now);
    this.fold();
    if (this.nextEst < 0) this.nextEst = now + EST_INTERVAL_MS;
    while (now >= this.nextEst) {
      this.estimator.tick();
      this.nextEst += EST_INTERVAL_MS;
    }
    let frames = false;
    while (this.wire.receive(this.rx) > 0) {
      frames = true;
      this.tx.clear();
      engine.process(this.rx, this.tx, now);
      this.wire.transmit(this.tx);
    }
    if (frames) this.fold();
    this.flushSync();
    if (this.log) this.watchDrops(now, this.log);
  }

  private syncSink: ((records: Uint8Array, dropped: number) => void) | null = null;

  syncOut(settings: SyncSettings | null, sink?: (records: Uint8Array, dropped: number) => void): void {
    this.settle();
    this.flushSync();
    this.rep.engine.setSyncOut(settings);
    this.syncSink = settings && sink ? sink : null;
  }

  /** What the engine collected to sync, to the sink (after each poll: expiry and frames both add). */
  private flushSync(): void {
    const got = this.rep.engine.takeSynced();
    if (got && this.syncSink) this.syncSink(got.records, got.dropped);
  }

  syncIn(records: Uint8Array, version: number, threshold: number): Promise<SyncInstallCounts> {
    this.settle();
    return Promise.resolve(this.rep.engine.installSynced(records, { version, threshold, owns: () => true }));
  }

  syncDump(): Promise<Uint8Array> {
    this.settle();
    return Promise.resolve(this.rep.engine.syncDump());
  }

  setBackupOnly(on: boolean): void { this.rep.engine.backupOnly = on; }

  setForeignVips(addrs: readonly string[]): Promise<void> { this.rep.engine.setForeignVips(addrs); return Promise.resolve(); }

  /** Once a DROP_WATCH_MS of the plane's clock: logs the drop reasons that started to climb. */
  private watchDrops(now: number, log: Logger): void {
    // the clock may be a test's (dp.now replaced after construction): the watch starts at its first reading
    if (this.nextWatch < 0) { this.dropWatch = new DropWatch(now); this.nextWatch = now + DROP_WATCH_MS; return; }
    if (now < this.nextWatch || !this.dropWatch) return;
    this.nextWatch = now + DROP_WATCH_MS;
    for (const n of this.dropWatch.observe(now, summedCounters(this.counters()))) log[n.level](n.text);
  }

  private fold(): void {
    const r = this.rep.report();
    if (r.n > 0) this.feed.fold(0, r.rec, r.n);
  }

  conns(): ConnView[] { return this.rep.engine.connViews(); }

  /** The replica's drop reasons and the wire's frame counts (one replica: id 0). */
  counters(): PlaneCounters {
    return { kind: this.kind, ms: performance.now() - this.t0, replicas: [{ id: 0, drops: this.rep.engine.dropCounts(), io: this.wire.counters() }] };
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.feed.stop();
    this.estimator.stop();
  }
}

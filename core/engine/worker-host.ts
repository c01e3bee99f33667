// The data plane on real interfaces (`--io afpacket`): N worker threads, each
// with its own AF_PACKET rings joined in a fanout group, its own engine and
// connection table and a replica of the service table. This side (the
// daemon's thread) keeps the replicas in step (replica.ts: a snapshot at
// spawn, then the table's events in batches), learns next hops from the
// kernel (those of new real servers when they are added), owns lvsd's
// nftables table (rewritten once per burst of changes that alter it), and
// folds the workers' counters and connection counts into the daemon's table
// so that `lvsadm -L --stats` and ActiveConn/InActConn read as one director.

import { cpus } from 'node:os';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { Bus } from '../bus.js';
import type { ConnView } from '../control/protocol.js';
import type { TableEvent } from '../model/events.js';
import { kernelGateways, kernelInterfaces, kernelNeighbors, resolveNeighbors, routeGet } from '../kernel.js';
import type { Logger } from '../log.js';
import type { ServiceTable } from '../model/table.js';
import { InstanceBusy, takeoverStale } from '../instance.js';
import { nftApply, nftRules, nftTableExists, requireNft } from '../nft.js';
import { readSnapshots, removeSnapshotsFrom, type Snapshot } from '../conn/snapshot.js';
import { emptyInstallCounts, type SyncInstallCounts, type SyncSettings } from '../conn/sync.js';
import { restoreCounters, saveCounters } from '../stats/saved.js';
import type { PluginRegistry } from '../plugins/loader.js';
import { replyMethods } from '../plugin.js';
import { EST_INTERVAL_MS } from '../stats/estimator.js';
import { interfaceInfo } from './io/afpacket.js';
import type { NetSpec } from './net.js';
import { PACKAGE_ROOT } from '../paths.js';
import { addInstallCounts, concatRecords, HostEstimator, type DataPlane, type DataPlaneConfig, type PlaneCounters } from './dataplane.js';
import { DropWatch, summedCounters } from './drop-watch.js';
import { dataPlanePlugins } from './runner.js';
import { ReplicaFeed } from './replica.js';
import {
  pluginModules, type FromWorker, type StatsReport, type ToWorker, type WorkerInit, type WorkerInterface,
} from './worker-protocol.js';

export interface WorkerPlaneConfig extends DataPlaneConfig {
  /** Worker threads; default cores − 1, at least 1. */
  workers?: number;
  /**
   * Where connection snapshots and counters are kept across restarts
   * (README "Restarts"); none: a restart starts empty.
   */
  stateDir?: string;
}

interface W { id: number; worker: Worker; port: MessagePort; last: StatsReport | null; exited: boolean }

/** A pending `lvsadm -L -c`: the workers' answers so far. */
interface ConnsRequest { want: number; views: ConnView[][]; done: (views: ConnView[]) => void }

/** Next hops resolved at once, and how long one that did not answer is left alone. */
const HOPS_IN_FLIGHT = 64;
const HOP_RETRY_MS = 5000;

/** Stats records folded per turn of the event loop. */
const FOLD_SLICE = 4096;

/** How long a listing waits for a busy worker before answering with what it has. */
const CONNS_WAIT_MS = 2000;

/** How often the workers' latest counters are looked at for a drop reason that climbs. */
const DROP_WATCH_MS = 1000;

export function defaultWorkers(): number { return Math.max(1, cpus().length - 1); }

export class WorkerDataPlane implements DataPlane {
  readonly kind = 'afpacket' as const;
  private readonly ws: W[] = [];
  private net: NetSpec;
  private feed: ReplicaFeed | null = null;
  /** The rules last applied; null until the first run, which always applies (it replaces a table a crashed lvsd left). */
  private nftSent: string | null = null;
  /** The nft run waiting to start, and the last one queued (runs are chained). */
  private nftQueued: Promise<void> | null = null;
  private nftTail: Promise<void> = Promise.resolve();
  /** VIPs held by another director (setForeignVips). */
  private foreign: string[] = [];
  private timers: NodeJS.Timeout[] = [];
  private readonly estimator: HostEstimator;
  private readonly offBus: (() => void)[] = [];
  private readonly devices: string[];
  private readonly own: string[];
  private stopped = false;
  /** Saving the counters failed and was said: said once per failing stretch, not every 2 s. */
  private countersFailed = false;
  private resolving = false;
  /** Addresses of real servers (and gateways) whose next hop is to be resolved, and those done. */
  private readonly toResolve = new Set<string>();
  private readonly resolved = new Set<string>();
  private connsSeq = 0;
  private readonly connsRequests = new Map<number, ConnsRequest>();
  /** The master sync daemon's sink for the records the workers send (null: no master). */
  private syncSink: ((records: Uint8Array, dropped: number) => void) | null = null;
  /** Pending sync-in and sync-dump requests: the answers so far, by request number. */
  private readonly syncRequests = new Map<number, { want: number; got: unknown[]; done: (got: unknown[]) => void }>();
  private readonly hopsResolving = new Set<string>();
  /** Next hops that did not answer, and until when they are not asked about again. */
  private readonly hopsFailed = new Map<string, number>();
  private readonly hopsWarned = new Set<string>();
  /** Stats reports being folded, and how far. */
  private readonly folds: { m: StatsReport; at: number }[] = [];
  /** When the workers started counting (performance.now()), and what watches their drop reasons. */
  private readonly since = performance.now();
  private readonly dropWatch = new DropWatch(this.since);

  private constructor(
    private readonly table: ServiceTable, private registry: PluginRegistry,
    private cfg: WorkerPlaneConfig, private readonly log: Logger, net: NetSpec, own: string[],
  ) {
    this.net = net;
    this.devices = net.interfaces.map((i) => i.name);
    this.own = own;
    this.estimator = new HostEstimator(table);
    this.foreign = [...(cfg.foreignVips ?? [])];
  }

  /** Checks the host, installs lvsd's nftables table and starts the workers; throws with a clear reason. */
  static async start(table: ServiceTable, registry: PluginRegistry, cfg: WorkerPlaneConfig, log: Logger, bus?: Bus): Promise<WorkerDataPlane> {
    if (process.getuid?.() !== 0) throw new Error('--io afpacket needs root (AF_PACKET sockets and nftables)');
    requireNft();
    if (cfg.interfaces.length === 0) throw new Error('--io afpacket needs `interfaces` in the config (the links lvsd forwards on)');
    // Kept, not removed: it keeps dropping (TCP retransmits) until this daemon's
    // rules replace it in one transaction, so the kernel never answers the
    // previous daemon's connections with resets (README "Restarts"). Only when its
    // owner is provably gone (core/instance.ts): a live lvsd's table is not ours.
    if (nftTableExists()) {
      const t = await takeoverStale();
      if (!t.stale) throw new InstanceBusy(t.owner);
      log.info('nftables table netdev lvsd left by the previous lvsd: kept until this lvsd\'s rules replace it');
    }
    const { net, own } = await WorkerDataPlane.netFromKernel(cfg);
    const dp = new WorkerDataPlane(table, registry, cfg, log, net, own);
    if (cfg.stateDir) {
      try { mkdirSync(cfg.stateDir, { recursive: true, mode: 0o700 }); } catch (e) { log.warn(`state folder ${cfg.stateDir}: ${(e as Error).message}`); }
      // after the estimator's start: its saved state is put back with the totals
      const note = restoreCounters(table, cfg.stateDir);
      if (note) log.info(note);
    }
    const n = cfg.workers ?? defaultWorkers();
    try {
      // followed from now on: what changes while the workers start reaches them (a snapshot, then batches)
      dp.feed = new ReplicaFeed(table, (events) => dp.post({ t: 'table', events }), n, bus);
      if (bus) dp.offBus.push(bus.on('table', (ev) => dp.tableEvent(ev)));
      for (const s of table.list()) for (const d of s.dests) dp.toResolve.add(d.addr);
      for (const g of net.gateways ?? []) dp.toResolve.add(g);
      await dp.resolveDests();
      await dp.syncNft();
      await dp.spawn(n);
    } catch (e) {
      await dp.stop();
      throw e;
    }
    dp.timers.push(setInterval(() => { void dp.refreshNeighbors(); }, 1000));
    dp.timers.push(setInterval(() => { dp.estimator.tick(); dp.saveCounters(); }, EST_INTERVAL_MS));
    dp.timers.push(setInterval(() => dp.watchDrops(), DROP_WATCH_MS));
    for (const t of dp.timers) t.unref();
    return dp;
  }

  /** Interfaces as config names them, completed from the kernel; neighbours and gateways from the kernel unless config gives them. */
  private static async netFromKernel(cfg: DataPlaneConfig): Promise<{ net: NetSpec; own: string[] }> {
    const kern = await kernelInterfaces(cfg.interfaces.map((i) => i.name));
    const interfaces = cfg.interfaces.map((c, i) => {
      const k = kern[i]!;
      return { name: c.name, mac: c.mac ?? k.mac, mtu: c.mtu ?? k.mtu, addresses: c.addresses && c.addresses.length > 0 ? c.addresses : k.addresses };
    });
    const neighbors = { ...(await kernelNeighbors()), ...cfg.neighbors };
    const gateways = cfg.gateways && cfg.gateways.length > 0 ? [...cfg.gateways] : await kernelGateways();
    const own = interfaces.flatMap((i) => i.addresses.map((a) => a.split('/')[0]!));
    return { net: { interfaces, neighbors, gateways }, own };
  }

  private async spawn(n: number): Promise<void> {
    const interfaces: WorkerInterface[] = this.net.interfaces.map((i) => {
      const k = interfaceInfo(i.name);
      return { name: i.name, ifindex: k.ifindex, mtu: i.mtu ?? k.mtu, mac: i.mac ?? [...k.mac].map((b) => b.toString(16).padStart(2, '0')).join(':') };
    });
    // fanout group ids are per network namespace; pid-derived so that two lvsd never share one
    const group = n > 1 ? (process.pid * 7) & 0xff00 : null;
    // the previous daemon's connections: read once, shared with every worker (each keeps those the fanout gives it)
    const dir = this.cfg.stateDir ?? null;
    let restore: Snapshot[] = [];
    let generation = 1;
    if (dir !== null) {
      const { snapshots, refused } = readSnapshots(dir);
      for (const r of refused) this.log.warn(r.message);
      for (const sn of snapshots) {
        generation = Math.max(generation, sn.generation + 1);
        if (sn.torn > 0) this.log.warn(`${sn.file}: ${sn.torn} records torn by a crash mid-write left out`);
      }
      restore = snapshots;
    }
    const ready: Promise<void>[] = [];
    for (let id = 0; id < n; id++) {
      const { port1, port2 } = new MessageChannel();
      // the table as it is now, after the batches already sent to the workers before this one
      const init: WorkerInit = {
        id, interfaces, net: this.net, modules: pluginModules(this.registry), replica: this.feed!.snapshot(),
        fanoutGroup: group, maxConns: this.cfg.maxConns, statsMs: 250, connViewsMax: 100_000,
        workers: n, stateDir: dir, restore, generation, foreignVips: [...this.foreign],
      };
      const worker = new Worker(join(PACKAGE_ROOT, 'core', 'engine', 'worker-boot.mjs'), { workerData: { init, port: port2 }, transferList: [port2] });
      const w: W = { id, worker, port: port1, last: null, exited: false };
      this.ws.push(w);
      ready.push(new Promise<void>((res, rej) => {
        port1.on('message', (m: FromWorker) => {
          if (m.t === 'ready') res();
          else if (m.t === 'error') { rej(new Error(`data-plane worker ${id}: ${m.message}`)); this.log.error(`data-plane worker ${id}: ${m.message}`); }
          else this.onMessage(w, m);
        });
        worker.on('error', (e) => { rej(e); this.log.error(`data-plane worker ${id}: ${e.message}`); });
        worker.on('exit', (code) => {
          w.exited = true;
          // its connections are gone with it: they stop counting on the real servers
          this.feed?.forgetReplica(id);
          rej(new Error(`data-plane worker ${id} exited (${code})`));
          if (!this.stopped) this.log.error(`data-plane worker ${id} exited (${code})`);
        });
      }));
      // One worker at a time: a fanout group numbers its sockets in the order they
      // join, and the request of a NAT connection (on the client's interface) and
      // its reply (on the real server's) must map to the same worker: every group
      // must list the workers in the same order.
      await ready[id];
    }
    await Promise.all(ready);
    // every worker saved its own: the files of workers this daemon does not have are in theirs now
    if (dir !== null) removeSnapshotsFrom(dir, n);
    this.log.info(`afpacket: ${n} worker${n > 1 ? 's' : ''} on ${this.devices.join(', ')}`);
  }

  private onMessage(w: W, m: FromWorker): void {
    if (m.t === 'log') this.log.warn(m.message);
    else if (m.t === 'info') this.log.info(m.message);
    else if (m.t === 'conns') {
      const r = this.connsRequests.get(m.req);
      if (r) { r.views.push(m.views); if (r.views.length === r.want) r.done(r.views.flat()); }
    }
    else if (m.t === 'stats') { this.fold(m); w.last = m; }
    else if (m.t === 'sync') this.syncSink?.(m.records, m.dropped);
    else if (m.t === 'sync-in' || m.t === 'sync-dump') {
      const r = this.syncRequests.get(m.req);
      if (r) { r.got.push(m.t === 'sync-in' ? m.counts : m.records); if (r.got.length === r.want) r.done(r.got); }
    }
    else if (m.t === 'resolve') this.resolveHops(m.addrs).catch((e: unknown) => this.log.warn(`resolving next hops: ${(e as Error).message}`));
  }

  /**
   * Adds a worker's counter deltas to the daemon's table; connection counts
   * are the sums of the workers' latest. A large report (traffic to every
   * real server of a big table) is folded in slices, one per turn of the
   * event loop, in arrival order: the control socket is never held for long.
   */
  private fold(m: StatsReport): void {
    if (m.n === 0) return;
    this.folds.push({ m, at: 0 });
    if (this.folds.length === 1) this.foldSlice();
  }

  private foldSlice(): void {
    let budget = FOLD_SLICE;
    while (this.folds.length > 0 && budget > 0 && !this.stopped) {
      const f = this.folds[0]!;
      const end = Math.min(f.m.n, f.at + budget);
      this.feed?.fold(f.m.id, f.m.rec, end, f.at);
      budget -= end - f.at;
      f.at = end;
      if (end === f.m.n) this.folds.shift();
    }
    if (this.folds.length > 0 && !this.stopped) setImmediate(() => this.foldSlice());
  }

  private post(m: ToWorker): void {
    for (const w of this.ws) if (!w.exited) w.port.postMessage(m);
  }

  /**
   * A table event, beside the workers' batch (the feed sends those): the
   * nftables rules when the services or NAT real servers change, the next hop
   * of a real server when it is added.
   */
  private tableEvent(ev: TableEvent): void {
    if (this.stopped) return;
    switch (ev.type) {
      case 'dest.added':
        if (!this.resolved.has(ev.dest.addr)) {
          this.toResolve.add(ev.dest.addr);
          // its frames are held by the workers until then
          if (!this.resolving) this.resolveDests().catch((e: unknown) => this.log.warn(`resolving real servers' next hops: ${(e as Error).message}`));
        }
        this.nftChanged();
        break;
      case 'dest.changed': if (ev.dest.fwd !== ev.prev.fwd) this.nftChanged(); break;
      case 'service.added': case 'service.removed': case 'dest.removed': case 'table.flushed': this.nftChanged(); break;
      default: break;
    }
  }

  /**
   * The takeover rules follow a change: one `nft` run at a time, changes that
   * come meanwhile folded into the next one. Resolves once a run that started
   * after this call is done (a failover plugin adds a VIP only then).
   */
  private nftChanged(): Promise<void> {
    if (this.nftQueued) return this.nftQueued;
    const run = this.nftTail.then(async () => {
      this.nftQueued = null;
      if (this.stopped) return;
      try { await this.syncNft(); } catch (e) { this.log.error(`nftables: ${(e as Error).message}`); }
    });
    this.nftQueued = run;
    this.nftTail = run;
    return run;
  }

  private async syncNft(): Promise<void> {
    const rules = nftRules(this.table, this.own, replyMethods(dataPlanePlugins(this.registry).forwarders), { vips: !this.backupOnly, foreign: new Set(this.foreign) });
    const key = rules.join('\n');
    if (key === this.nftSent) return;
    await nftApply(this.devices, rules);
    this.nftSent = key;
  }

  /** Next hops of real servers (and the gateway) the kernel has not resolved yet: make it resolve them. */
  private async resolveDests(): Promise<void> {
    if (this.resolving) return;
    this.resolving = true;
    try {
      while (this.toResolve.size > 0 && !this.stopped) {
        const want = [...this.toResolve];
        this.toResolve.clear();
        const hops = new Map<string, { addr: string; dev: string; of: string }>();
        for (const a of want) {
          this.resolved.add(a);
          if (this.net.neighbors[a]) continue;
          const r = await routeGet(a);
          if (!r) { this.log.warn(`no route to real server ${a}`); continue; }
          if (!this.net.neighbors[r.nexthop]) hops.set(r.nexthop, { addr: r.nexthop, dev: r.dev, of: a });
        }
        const found = hops.size > 0 ? await resolveNeighbors([...hops.values()]) : new Map<string, string>();
        for (const h of hops.values()) if (!found.has(h.addr)) this.log.warn(`next hop ${h.addr} of ${h.of} does not answer ARP/ND`);
        const changed = found.size > 0;
        if (changed) this.net = { ...this.net, neighbors: { ...this.net.neighbors, ...Object.fromEntries(found) } };
        if (changed && this.ws.length > 0) this.post({ t: 'net', net: this.net });
      }
    } finally { this.resolving = false; }
  }

  /**
   * Next hops a worker had no MAC for (a client on a link answered through NAT
   * before the kernel knew it, a gateway): the kernel resolves them, as it
   * would for its own IPVS, and the workers get the answer.
   */
  private async resolveHops(addrs: readonly string[]): Promise<void> {
    const now = Date.now();
    // bounded: a flood of NAT replies to clients that never answer must not become a flood of lookups
    const todo = addrs.filter((a) => !this.net.neighbors[a] && !this.hopsResolving.has(a) && (this.hopsFailed.get(a) ?? 0) <= now)
      .slice(0, Math.max(0, HOPS_IN_FLIGHT - this.hopsResolving.size));
    if (todo.length === 0 || this.stopped) return;
    for (const a of todo) this.hopsResolving.add(a);
    try {
      const found = await resolveNeighbors(todo.map((addr) => ({ addr })));
      if (this.hopsFailed.size > 4096) this.hopsFailed.clear();
      for (const a of todo) {
        if (found.has(a)) { this.hopsFailed.delete(a); continue; }
        this.hopsFailed.set(a, Date.now() + HOP_RETRY_MS);
        if (this.hopsWarned.size < 256 && !this.hopsWarned.has(a)) { this.hopsWarned.add(a); this.log.warn(`next hop ${a} does not answer ARP/ND`); }
      }
      if (found.size === 0 || this.stopped) return;
      this.net = { ...this.net, neighbors: { ...this.net.neighbors, ...Object.fromEntries(found) } };
      this.post({ t: 'net', net: this.net });
    } finally { for (const a of todo) this.hopsResolving.delete(a); }
  }

  /** Picks up neighbours the kernel learnt (clients on a link answered through NAT). */
  private async refreshNeighbors(): Promise<void> {
    if (this.stopped) return;
    let k: Record<string, string>;
    try { k = await kernelNeighbors(); } catch { return; }
    const merged = { ...this.net.neighbors, ...k, ...this.cfg.neighbors };
    if (JSON.stringify(merged) === JSON.stringify(this.net.neighbors)) return;
    this.net = { ...this.net, neighbors: merged };
    this.post({ t: 'net', net: this.net });
  }

  /** A config reload: new plugins (interfaces and workers are fixed at start). */
  reconfigure(registry: PluginRegistry, cfg: WorkerPlaneConfig): void {
    this.registry = registry;
    const names = cfg.interfaces.map((i) => i.name).join(',');
    if (names !== this.devices.join(',')) this.log.warn('interfaces changed in config: restart lvsd to use them (afpacket keeps its sockets)');
    this.cfg = { ...cfg, interfaces: this.cfg.interfaces };
    this.post({ t: 'net', net: this.net, modules: pluginModules(registry) });
    // the new forwarders may see replies of other methods: the reply-drop rules follow
    this.nftChanged();
  }

  /** The workers' connection entries, asked for now (lvsadm -L -c); a worker that does not answer in 2 s is left out. */
  conns(): Promise<ConnView[]> {
    const live = this.ws.filter((w) => !w.exited);
    if (live.length === 0 || this.stopped) return Promise.resolve([]);
    const req = ++this.connsSeq;
    return new Promise<ConnView[]>((res) => {
      const r: ConnsRequest = { want: live.length, views: [], done: () => {} };
      const t = setTimeout(() => r.done(r.views.flat()), CONNS_WAIT_MS);
      r.done = (views) => { clearTimeout(t); this.connsRequests.delete(req); res(views); };
      this.connsRequests.set(req, r);
      for (const w of live) w.port.postMessage({ t: 'conns', req } satisfies ToWorker);
    });
  }

  syncOut(settings: SyncSettings | null, sink?: (records: Uint8Array, dropped: number) => void): void {
    this.syncSink = settings && sink ? sink : null;
    this.post({ t: 'sync-out', settings });
  }

  /** Sends `msg(req)` to every live worker and collects one answer each (a worker that does not answer in 2 s is left out). */
  private askAll(msg: (req: number) => ToWorker): Promise<unknown[]> {
    const live = this.ws.filter((w) => !w.exited);
    if (live.length === 0 || this.stopped) return Promise.resolve([]);
    const req = ++this.connsSeq;
    return new Promise<unknown[]>((res) => {
      const r = { want: live.length, got: [] as unknown[], done: (_: unknown[]) => {} };
      const t = setTimeout(() => r.done(r.got), CONNS_WAIT_MS);
      r.done = (got) => { clearTimeout(t); this.syncRequests.delete(req); res(got); };
      this.syncRequests.set(req, r);
      for (const w of live) w.port.postMessage(msg(req));
    });
  }

  async syncIn(records: Uint8Array, version: number, threshold: number): Promise<SyncInstallCounts> {
    // every worker gets the records and installs those of the flows the fanout gives it
    const got = await this.askAll((req) => ({ t: 'sync-in', req, records, version, threshold }));
    return (got as SyncInstallCounts[]).reduce(addInstallCounts, emptyInstallCounts());
  }

  /** backup_only: the workers leave client packets alone, and the takeover rules give the VIPs back to the kernel meanwhile. */
  private backupOnly = false;

  setBackupOnly(on: boolean): void {
    if (on === this.backupOnly) return;
    this.backupOnly = on;
    this.post({ t: 'backup-only', on });
    void this.nftChanged();
  }

  setForeignVips(addrs: readonly string[]): Promise<void> {
    const next = [...new Set(addrs)].sort();
    if (next.join(',') === this.foreign.join(',')) return Promise.resolve();
    this.foreign = next;
    this.post({ t: 'foreign-vips', addrs: next });
    return this.nftChanged();
  }

  async syncDump(): Promise<Uint8Array> {
    return concatRecords(await this.askAll((req) => ({ t: 'sync-dump', req })) as Uint8Array[]);
  }

  /**
   * Each worker's drop reasons and I/O counters, as of its latest report (at
   * most 250 ms old); a worker that exited counts with its last one.
   */
  counters(): PlaneCounters {
    return { kind: this.kind, ms: performance.now() - this.since, replicas: this.ws.map((w) => ({ id: w.id, drops: w.last?.drops ?? {}, io: w.last?.io ?? {} })) };
  }

  /** Logs the drop reasons that started to climb since the last look (drop-watch.ts). */
  private watchDrops(): void {
    if (this.stopped) return;
    for (const n of this.dropWatch.observe(performance.now(), summedCounters(this.counters()))) this.log[n.level](n.text);
  }

  /** The workers' latest reports (benchmarks, tests). */
  reports(): StatsReport[] { return this.ws.flatMap((w) => (w.last ? [w.last] : [])); }

  get workers(): number { return this.ws.length; }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const off of this.offBus) off();
    this.feed?.stop();
    this.post({ t: 'stop' });
    await Promise.all(this.ws.map((w) => (w.exited ? Promise.resolve() : new Promise<void>((res) => {
      const t = setTimeout(() => { void w.worker.terminate().then(() => res()); }, 2000);
      w.worker.once('exit', () => { clearTimeout(t); res(); });
    }))));
    for (const w of this.ws) {
      const r = w.last;
      if (r) this.log.info(`afpacket worker ${w.id}: ${Object.entries(r.io).map(([k, v]) => `${k} ${v}`).join(' ')}${Object.keys(r.drops).length ? ` drops ${Object.entries(r.drops).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`);
    }
    // the workers' last reports (a turn of the event loop for messages behind the exits), then the totals the next daemon continues from
    await new Promise<void>((res) => setImmediate(res));
    this.drainFolds();
    this.saveCounters();
    // nftables table netdev lvsd stays: see README "Restarts" (lvsd --release gives the VIPs back to the kernel)
  }

  /** Folds what the workers reported last (folding is sliced while running, stopped with the plane). */
  private drainFolds(): void {
    for (const f of this.folds) this.feed?.fold(f.m.id, f.m.rec, f.m.n, f.at);
    this.folds.length = 0;
  }

  /** The table's counters for the next daemon (every estimator tick, and at stop). */
  private saveCounters(): void {
    const dir = this.cfg.stateDir;
    if (!dir) return;
    try {
      saveCounters(this.table, dir);
      this.countersFailed = false;
    } catch (e) {
      if (!this.countersFailed) this.log.warn(`counters not saved (a restart would start them at 0): ${(e as Error).message}`);
      this.countersFailed = true;
    }
  }
}

// A data-plane worker thread (`--io afpacket`): its own AF_PACKET rings (in
// a fanout group with the other workers), its own Engine and connection
// table, and a replica of the service table (replica.ts): a snapshot at
// spawn, then the table's events in the daemon's batches. The loop blocks in poll() when the rings are empty; control
// messages are taken synchronously between batches (receiveMessageOnPort),
// so nothing waits for this thread's event loop, which never turns.

import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { forwarderLookup, replyMethods, type ClassifierPlugin, type ForwarderPlugin, type SchedContext, type SchedulerPlugin } from '../plugin.js';
import { FrameBatch, MAX_AGGREGATE, TxBatch } from './batch.js';
import { ConnJournal } from '../conn/journal.js';
import { restoreSnapshots } from '../conn/snapshot.js';
import { AfPacketIo } from './io/afpacket.js';
import { CAP, dropCapabilities } from '../security/caps.js';
import { fanoutIndex, fanoutProgram } from './io/bpf.js';
import { HeldFrames } from './neighbor-hold.js';
import type { NetSpec } from './net.js';
import { Replica } from './replica.js';
import {
  REC, filterSpec, tableSnapshot, type FromWorker, type PluginModules, type StatsReport, type ToWorker, type WorkerInit,
} from './worker-protocol.js';

const { init, port } = workerData as { init: WorkerInit; port: MessagePort };
/**
 * A receive batch holds up to 512 frames in 4 MiB, packed: 512 small frames or
 * ~60 aggregates of 64 KiB. Aggregates cut for a tunnel take about as much
 * again plus a quarter (headers repeated per segment, headroom for the outer one).
 */
const RX_BYTES = 4 << 20;
const SEGMENT_BYTES = RX_BYTES + (RX_BYTES >> 1);
/** The director's own frames per batch (ICMP errors, fragments). */
const TX_SCRATCH = 1 << 20;
const send = (m: FromWorker): void => port.postMessage(m);

async function importDefault<T>(file: string): Promise<T> {
  return ((await import(pathToFileURL(file).href)) as { default: T }).default;
}

async function loadModules(m: PluginModules) {
  const schedulers = new Map<string, SchedulerPlugin<unknown>>();
  for (const [n, f] of Object.entries(m.schedulers)) schedulers.set(n, await importDefault<SchedulerPlugin<unknown>>(f));
  const forwarders = await Promise.all(m.forwarders.map((f) => importDefault<ForwarderPlugin>(f)));
  const classifiers = await Promise.all(m.classifiers.map((f) => importDefault<ClassifierPlugin>(f)));
  return { schedulers, forwarders, forwarder: forwarderLookup(forwarders), classifiers };
}

async function main(): Promise<void> {
  let mods = await loadModules(init.modules);
  const t0 = performance.now();
  const base = Date.now();
  const ctx: SchedContext = {
    now: () => base + (performance.now() - t0),   // ms
    randomU32: () => randomBytes(4).readUInt32LE(0),
    log: (message) => send({ t: 'log', id: init.id, message }),
  };
  const log = (message: string): void => send({ t: 'log', id: init.id, message });
  let net: NetSpec = init.net;
  const io = new AfPacketIo(
    init.interfaces.map((i) => ({ name: i.name, ifindex: i.ifindex, mtu: i.mtu, mac: Uint8Array.from(i.mac.split(':').map((x) => parseInt(x, 16))) })),
    init.fanoutGroup === null ? {} : { fanoutGroup: init.fanoutGroup },
  );
  // the sockets are the process's, not the thread's: closed if the worker cannot start
  let replica: Replica;
  try {
    replica = new Replica(init.replica, {
      schedulers: (n) => mods.schedulers.get(n), forwarder: (m) => mods.forwarder(m), ctx, log,
      engine: {
        forwarders: mods.forwarders, classifiers: mods.classifiers, net, maxConns: init.maxConns, holdUnresolved: true,
        segmentBuffer: io.alloc(SEGMENT_BYTES),
      },
    });
  } catch (e) { io.close(); throw e; }
  const { table, engine } = replica;
  engine.setForeignVips(init.foreignVips);
  const held = new HeldFrames();
  const fanout = init.fanoutGroup !== null;
  /** What the socket filter and the fanout program must know, from the table and the forwarders' reply capability. */
  const filters = () => filterSpec(tableSnapshot(table), replyMethods(mods.forwarders));
  try { io.setFilter(filters(), fanout); } catch (e) { io.close(); throw e; }

  // Entries kept in a mapped file from now on (journal.ts), then the previous daemon's
  // connections whose packets the fanout gives this worker (README "Restarts").
  let journal: ConnJournal | null = null;
  if (init.stateDir !== null) {
    try {
      journal = new ConnJournal({ dir: init.stateDir, worker: init.id, workers: init.workers, generation: init.generation, slots: engine.conns.s.maxConns },
        engine.conns.s, { ref: (h) => engine.destRef(h), identity: (h) => engine.destIdentity(h) });
      engine.conns.s.journal = journal;
    } catch (e) { log(`worker ${init.id}: ${(e as Error).message}: its connections will not survive a restart`); }
  }
  /** Whether the fanout gives this worker a flow's packets (the table as it is now decides how flows are keyed). */
  const flowsOfMine = (): ((af: number, proto: number, ca: Uint32Array, cport: number, va: Uint32Array, vport: number) => boolean) => {
    if (init.workers === 1) return () => true;
    const prog = fanoutProgram(filters());
    const pkt = new Uint8Array(44);
    return (af, proto, ca, cport, va, vport) => fanoutIndex(prog, pkt, init.workers, af, proto, ca, cport, va, vport) === init.id;
  };
  if (init.restore.length > 0) {
    const all = (): boolean => true;
    const mine = flowsOfMine();
    const got = { restored: 0, expired: 0, noDest: 0, duplicate: 0 };
    for (const snap of init.restore) {
      // as many workers as before: the same fanout, so a file's entries are its worker's
      if (init.workers > 1 && snap.workers === init.workers && snap.worker !== init.id) continue;
      const owns = init.workers === 1 || snap.workers === init.workers ? all : mine;
      const x = restoreSnapshots(engine.conns, [snap], { handle: (d) => engine.destHandle(d), owns, wallNow: Date.now() });
      got.restored += x.restored; got.expired += x.expired; got.noDest += x.noDest; got.duplicate += x.duplicate;
    }
    send({ t: 'info', id: init.id, message: `worker ${init.id}: ${got.restored} connection entries restored`
      + `${got.expired ? `, ${got.expired} expired during the restart` : ''}${got.noDest ? `, ${got.noDest} of real servers no longer configured` : ''}` });
  }
  // in place of the previous daemon's file before ready: the host then removes the files of workers this daemon does not have
  try { journal?.publish(); } catch (e) { log(`worker ${init.id}: ${(e as Error).message}`); }
  let listWarned = false;
  const heartbeat = (): void => {
    if (!journal) return;
    journal.heartbeat(Date.now());
    if (journal.listFull && !listWarned) { listWarned = true; log(`worker ${init.id}: too many real servers for ${journal.file}'s list: connections to the newest will not survive a restart`); }
  };
  // Its sockets and rings are open: this thread keeps only what forwarding needs (capabilities are
  // per thread; the main thread drops its own once started: README "Security"); root only.
  if (process.geteuid?.() === 0 && process.env.LVSD_KEEP_CAPABILITIES !== '1') {
    const r = dropCapabilities([CAP.NET_ADMIN, CAP.NET_RAW]);
    if (!r.ok) log(`capabilities: this worker could not drop them, it keeps all: ${r.error}`);
  }
  send({ t: 'ready', id: init.id });

  // in the I/O's own memory: frames are sent from where they were received, large ones received in place
  const rx = new FrameBatch(512, MAX_AGGREGATE, RX_BYTES, io.alloc(RX_BYTES));
  const tx = new TxBatch(4096, TX_SCRATCH, io.alloc(TX_SCRATCH));
  let ringDrops = 0;
  let nextStats = 0;
  let nextCtl = 0;
  let nextHousekeep = 1000;
  /**
   * The socket filters are recomputed from the whole table (O(services)):
   * after a batch that may change them, at most once per 50 ms or four times
   * their last cost, so that a stream of small batches (lvsadm -R line by
   * line) costs linear time, not quadratic.
   */
  let filterDue = false;
  let nextFilter = 0;
  const setFilters = (now: number): void => {
    filterDue = false;
    const t = performance.now();
    // a table the filters cannot express keeps the previous ones (the kernel does): say so, go on
    try { io.setFilter(filters(), fanout); } catch (e) { log(`socket filters not updated: ${(e as Error).message}`); }
    nextFilter = now + Math.max(50, 4 * (performance.now() - t));
  };
  let running = true;
  const pending: { net: { net: NetSpec; modules?: PluginModules } | null } = { net: null };
  /**
   * Next hops without a MAC: when the daemon was last asked about each (once a
   * second at most) and when traffic last needed it (forgotten after 10 s
   * without; frames held for it count as needing it).
   */
  const wanted = new Map<string, { asked: number; needed: number }>();
  const askResolve = (now: number): void => {
    for (const a of engine.net.takeMisses()) {
      const w = wanted.get(a);
      if (w) w.needed = now; else if (wanted.size < 4096) wanted.set(a, { asked: -Infinity, needed: now });
    }
    for (const hop of held.hops()) { const w = wanted.get(hop); if (w) w.needed = now; }
    const ask: string[] = [];
    for (const [a, w] of wanted) {
      if (engine.net.macOf(a) || now - w.needed > 10_000) { wanted.delete(a); continue; }
      if (now - w.asked >= 1000) { w.asked = now; ask.push(a); }
    }
    if (ask.length > 0) send({ t: 'resolve', id: init.id, addrs: ask });
  };

  const report = (): void => {
    // what changed since the last report, in a typed array handed over (not copied)
    const r = replica.report();
    const rec = r.rec.slice(0, r.n * REC);
    const st: StatsReport = {
      t: 'stats', id: init.id, rec, n: r.n,
      drops: held.dropped > 0 ? { ...engine.dropCounts(), 'neighbour-unresolved': held.dropped } : engine.dropCounts(),
      // PACKET_STATISTICS counts since its last reading: summed here
      io: { ...io.counters(), 'ring-drops': (ringDrops += io.ringStats().drops) }, conns: engine.conns.count,
    };
    port.postMessage(st, [rec.buffer]);
  };

  const control = (): void => {
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
      const msg = m.message as ToWorker;
      if (msg.t === 'stop') { running = false; return; }
      if (msg.t === 'table') {
        if (replica.apply(msg.events)) filterDue = true;
      } else if (msg.t === 'net') {
        // new plugin modules first: a table batch after this message may name a scheduler only they have
        pending.net = msg;
        if (msg.modules) return;
      }
      else if (msg.t === 'sync-out') engine.setSyncOut(msg.settings);
      else if (msg.t === 'backup-only') engine.backupOnly = msg.on;
      else if (msg.t === 'foreign-vips') engine.setForeignVips(msg.addrs);
      else if (msg.t === 'sync-in') {
        const counts = engine.installSynced(msg.records, { version: msg.version, threshold: msg.threshold, owns: flowsOfMine() });
        send({ t: 'sync-in', id: init.id, req: msg.req, counts });
      } else if (msg.t === 'sync-dump') {
        const records = engine.syncDump();
        port.postMessage({ t: 'sync-dump', id: init.id, req: msg.req, records } satisfies FromWorker, [records.buffer as ArrayBuffer]);
      }
      else if (msg.t === 'conns') {
        const views = engine.connViews(init.connViewsMax);
        send({ t: 'conns', id: init.id, req: msg.req, views, truncated: views.length === init.connViewsMax && engine.conns.count > views.length });
      }
    }
  };

  while (running) {
    const now = performance.now() - t0;
    if (now >= nextCtl) {
      nextCtl = now + 5;
      engine.advance(now);
      control();
      if (filterDue && now >= nextFilter) setFilters(now);
      if (pending.net) {
        const p = pending.net;
        pending.net = null;
        net = p.net;
        if (p.modules) {
          // plugin modules load asynchronously: the loop yields once for that (a reload, rare)
          mods = await loadModules(p.modules);
          table.refreshSchedulers();
          // a new forwarder may see replies where the old did not (or the reverse)
          filterDue = true;
        }
        engine.reconfigure(net, mods.forwarders, mods.classifiers);
      }
      if (now >= nextHousekeep) { nextHousekeep = now + 1000; replica.housekeep(); heartbeat(); }
      if (engine.net.missed || wanted.size > 0) askResolve(now);
      if (held.size > 0) {
        tx.clear();
        held.release((hop) => engine.net.macOf(hop), tx, now);
        if (tx.count > 0) io.transmit(tx);
      }
      if (now >= nextStats) { nextStats = now + init.statsMs; report(); }
      const synced = engine.takeSynced();
      if (synced) port.postMessage({ t: 'sync', id: init.id, records: synced.records, dropped: synced.dropped } satisfies FromWorker, [synced.records.buffer as ArrayBuffer]);
    }
    if (io.receive(rx) === 0) { io.wait(5); continue; }
    tx.clear();
    engine.process(rx, tx, now);
    if (tx.held > 0) held.take(tx, now);
    if (tx.count > 0) io.transmit(tx);
    if (engine.net.missed) askResolve(now);
  }
  report();
  // the last word: exact times left for the next daemon (nftables keeps dropping until then)
  journal?.finish(Date.now());
  journal?.close();
  io.close();
}

main().catch((e: unknown) => {
  send({ t: 'error', id: init.id, message: e instanceof Error ? e.message : String(e) });
}).finally(() => port.close());

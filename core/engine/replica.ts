// The replica path (DESIGN.md "Core and the netlink line"): the data plane
// runs on replicas of the service table, fed the table's own events. Both
// DataPlane implementations use it: the afpacket workers (by message) and the
// memory wire (by function call, on the main thread), so tests exercise the
// path production uses.
//
// Host side (ReplicaFeed, the daemon's thread): numbers every service and real
// server, turns each table event into a ReplicaEvent as it happens, and sends
// them in one batch per turn of the event loop, so that a burst (an `lvsadm
// -R` of 100 000 services, a config apply and the health checks reacting to
// it in the same dispatch) reaches every replica as one atomic batch at
// O(changes). It folds the replicas' stats records back into the daemon's
// table: deltas into the counters, connection counts summed over replicas.
//
// Replica side (Replica): a ServiceTable whose events its Engine follows,
// built from a snapshot, then changed by the events alone with the table's
// own operations (the same errno rules as the daemon's); it reports what
// changed since its last report.

import type { Bus } from '../bus.js';
import type { ChangeSource, TableEvent } from '../model/events.js';
import { ServiceTable, type Counters, type Dest, type SchedulerLookup, type Service } from '../model/table.js';
import { serviceKeyText, type DestKey, type ServiceKey } from '../model/types.js';
import type { ForwarderLookup, SchedContext } from '../plugin.js';
import { Engine, type EngineOptions } from './engine.js';
import { REC, TOTAL_ID, type ReplicaEvent, type ReplicaInit } from './worker-protocol.js';

/** What a replica's own operations name as their source (its table emits to its engine only). */
const REPLICA: ChangeSource = { by: 'internal', name: 'replica' };

const sameDestKey = (a: DestKey, b: DestKey): boolean => a.family === b.family && a.addr === b.addr && a.port === b.port;

// ------------------------------------------------------------------ host side

/** A numbered object of the daemon's table, as stats records name it. */
interface Numbered {
  stats: Counters;
  dest: Dest | null;
  /** Real servers: where the replicas' last ActiveConn, InActConn, PersistConn are kept (ReplicaFeed.abs). */
  slot: number;
}

interface NumberedService { id: number; svc: Service; dests: Map<Dest, number> }

export class ReplicaFeed {
  private nextId = TOTAL_ID + 1;
  private readonly byId = new Map<number, Numbered>();
  private readonly services = new Map<string, NumberedService>();
  /** Per real-server slot, per replica: ActiveConn, InActConn, PersistConn as last reported. */
  private abs = new Float64Array(0);
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private pending: ReplicaEvent[] = [];
  private scheduled = false;
  private readonly off: (() => void) | null;

  /**
   * `send` gets every batch, in order; `replicas` is how many report (their
   * connection counts are summed). Without a bus, the table is taken as it is now.
   */
  constructor(private readonly table: ServiceTable, private readonly send: (events: ReplicaEvent[]) => void,
    private readonly replicas: number, bus?: Bus) {
    for (const svc of table.list()) {
      const ns = this.numberService(svc);
      for (let i = svc.dests.length - 1; i >= 0; i--) this.numberDest(ns, svc.dests[i]!);
    }
    this.off = bus ? bus.on('table', (ev) => this.event(ev)) : null;
  }

  private numberService(svc: Service): NumberedService {
    const ns: NumberedService = { id: this.nextId++, svc, dests: new Map() };
    this.services.set(serviceKeyText(svc.spec), ns);
    this.byId.set(ns.id, { stats: svc.stats, dest: null, slot: -1 });
    return ns;
  }

  private numberDest(ns: NumberedService, d: Dest): number {
    const id = this.nextId++;
    ns.dests.set(d, id);
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.nextSlot++;
      const w = this.replicas * 3;
      if (slot * w >= this.abs.length) { const a = new Float64Array(Math.max(64, slot * 2) * w); a.set(this.abs); this.abs = a; }
    }
    this.abs.fill(0, slot * this.replicas * 3, (slot + 1) * this.replicas * 3);
    this.byId.set(id, { stats: d.stats, dest: d, slot });
    return id;
  }

  private forgetId(id: number): void {
    const x = this.byId.get(id);
    if (!x) return;
    this.byId.delete(id);
    if (x.slot >= 0) this.freeSlots.push(x.slot);
  }

  private forgetService(k: ServiceKey): void {
    const key = serviceKeyText(k);
    const ns = this.services.get(key);
    if (!ns) return;
    this.services.delete(key);
    this.byId.delete(ns.id);
    for (const id of ns.dests.values()) this.forgetId(id);
  }

  /**
   * One table event, turned into its replica form now: the objects it names
   * are looked up as the table holds them at this moment. A handler earlier in
   * the same dispatch may already have changed them again (health deleting a
   * real the config just added): the id then names nothing here (its reports
   * are ignored) and the later events, which follow, set things right.
   */
  private event(ev: TableEvent): void {
    let out: ReplicaEvent | null = null;
    switch (ev.type) {
      case 'service.added': {
        const svc = this.table.find(ev.service);
        const id = svc ? this.numberService(svc).id : this.nextId++;
        out = { type: 'service.added', id, service: ev.service };
        break;
      }
      case 'service.changed': out = { type: 'service.changed', service: ev.service }; break;
      case 'service.removed': this.forgetService(ev.service); out = { type: 'service.removed', service: key(ev.service) }; break;
      case 'dest.added': {
        const ns = this.services.get(serviceKeyText(ev.service));
        const d = ns?.svc.findDest(ev.dest);
        const id = ns && d ? this.numberDest(ns, d) : this.nextId++;
        out = { type: 'dest.added', service: key(ev.service), id, dest: ev.dest };
        break;
      }
      case 'dest.changed': out = { type: 'dest.changed', service: key(ev.service), dest: ev.dest }; break;
      case 'dest.removed': {
        const ns = this.services.get(serviceKeyText(ev.service));
        if (ns) {
          for (const [d, id] of ns.dests) {
            if (!sameDestKey(d, ev.dest)) continue;
            ns.dests.delete(d);
            this.forgetId(id);
            break;
          }
        }
        out = { type: 'dest.removed', service: key(ev.service), dest: { family: ev.dest.family, addr: ev.dest.addr, port: ev.dest.port } };
        break;
      }
      case 'table.flushed':
        for (const k of [...this.services.values()]) this.forgetService(k.svc.spec);
        out = { type: 'table.flushed' };
        break;
      case 'timeouts.changed': out = { type: 'timeouts.changed', timeouts: ev.timeouts }; break;
      case 'daemon.started': out = { type: 'daemon.started', daemon: ev.daemon }; break;
      case 'daemon.stopped': out = { type: 'daemon.stopped', state: ev.state }; break;
      case 'stats.zeroed': break;
    }
    if (!out) return;
    this.pending.push(out);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Sends what is pending now (the memory wire before a poll; before a snapshot). */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.send(batch);
  }

  /** The table as a new replica starts from; later batches carry only what follows. */
  snapshot(): ReplicaInit {
    this.flush();
    const services: ReplicaInit['services'] = [];
    for (const svc of this.table.list()) {
      const ns = this.services.get(serviceKeyText(svc.spec))!;
      services.push({ id: ns.id, spec: { ...svc.spec }, dests: svc.dests.map((d) => ({ id: ns.dests.get(d)!, spec: { ...d.spec } })) });
    }
    return { services, timeouts: { ...this.table.timeouts }, daemons: this.table.daemons.map((d) => ({ ...d })) };
  }

  /**
   * A replica's stats records into the daemon's table: O(records). Counters
   * add up; a real server's connection counts are the sums of every replica's
   * latest (as one director's would read).
   */
  fold(replica: number, rec: Float64Array, n: number, from = 0): void {
    const total = this.table.total;
    const w = this.replicas * 3;
    const abs = this.abs;
    for (let i = from; i < n; i++) {
      const o = i * REC;
      const id = rec[o]!;
      const x = id === TOTAL_ID ? null : this.byId.get(id);
      const c = id === TOTAL_ID ? total : x?.stats;
      if (!c) continue;   // deleted since the replica counted it
      c.conns += rec[o + 1]!; c.inpkts += rec[o + 2]!; c.outpkts += rec[o + 3]!; c.inbytes += rec[o + 4]!; c.outbytes += rec[o + 5]!;
      const d = x?.dest;
      if (!d) continue;
      const b = x.slot * w;
      let a = rec[o + 6]!, ia = rec[o + 7]!, p = rec[o + 8]!;
      if (w > 3) {
        const r = b + replica * 3;
        abs[r] = a; abs[r + 1] = ia; abs[r + 2] = p;
        a = 0; ia = 0; p = 0;
        for (let k = b; k < b + w; k += 3) { a += abs[k]!; ia += abs[k + 1]!; p += abs[k + 2]!; }
      }
      if (d.activeConns !== a) d.activeConns = a;
      if (d.inactConns !== ia) d.inactConns = ia;
      d.persistConns = p;
    }
  }

  /**
   * A replica is gone (its worker exited): its connections went with it, so
   * they no longer count in any real server's ActiveConn/InActConn/PersistConn.
   */
  forgetReplica(replica: number): void {
    const w = this.replicas * 3;
    for (const x of this.byId.values()) {
      const d = x.dest;
      if (!d) continue;
      let a = 0, ia = 0, p = 0;
      if (w > 3) {
        const b = x.slot * w;
        this.abs.fill(0, b + replica * 3, b + replica * 3 + 3);
        for (let k = b; k < b + w; k += 3) { a += this.abs[k]!; ia += this.abs[k + 1]!; p += this.abs[k + 2]!; }
      }
      if (d.activeConns !== a) d.activeConns = a;
      if (d.inactConns !== ia) d.inactConns = ia;
      d.persistConns = p;
    }
  }

  stop(): void {
    this.off?.();
    this.pending = [];
  }
}

const key = (k: ServiceKey): ServiceKey => ({ family: k.family, protocol: k.protocol, addr: k.addr, port: k.port, fwmark: k.fwmark });

// ------------------------------------------------------------------ replica side

/** A replica object's id with the daemon, and its five counters as last reported (deltas are sent). */
interface Reported { id: number; c0: number; c1: number; c2: number; c3: number; c4: number }
const reported = (id: number): Reported => ({ id, c0: 0, c1: 0, c2: 0, c3: 0, c4: 0 });

export interface ReplicaOptions {
  schedulers: SchedulerLookup;
  /** The forwarders' capabilities by method (the table's rules for real servers). */
  forwarder: ForwarderLookup;
  ctx: SchedContext;
  engine: Omit<EngineOptions, 'table' | 'rates'>;
  /** Operations the replica's table refused (there should be none), scheduler tick failures. */
  log: (message: string) => void;
}

export class Replica {
  readonly table: ServiceTable;
  readonly engine: Engine;
  /** The daemon's id of each service and real server, and its counters as last reported. */
  private readonly ids = new WeakMap<Service | Dest, Reported>();
  /** Real servers to report whatever changed (re-added ones: their counts may differ from the daemon's). */
  private marked = new Map<Dest, Service>();
  private readonly total: Reported = reported(TOTAL_ID);
  private readonly log: (message: string) => void;
  private rec = new Float64Array(64 * REC);

  constructor(init: ReplicaInit, o: ReplicaOptions) {
    this.log = o.log;
    let engine: Engine | null = null;
    this.table = new ServiceTable({ schedulers: o.schedulers, forwarder: o.forwarder, ctx: o.ctx, onEvent: (ev) => engine?.tableEvent(ev) });
    for (const s of init.services) {
      const r = this.table.addService(s.spec, REPLICA);
      if (!r.ok) { this.log(`replica: ${r.error.message}`); continue; }
      this.ids.set(r.value, reported(s.id));
      // kernel order is newest first: add the oldest first to keep it
      for (let i = s.dests.length - 1; i >= 0; i--) {
        const d = s.dests[i]!;
        const x = this.table.addDest(s.spec, d.spec, REPLICA);
        if (x.ok) this.ids.set(x.value, reported(d.id)); else this.log(`replica: ${x.error.message}`);
      }
    }
    this.note(this.table.setTimeouts(init.timeouts, REPLICA));
    for (const d of init.daemons) this.note(this.table.startDaemon(d, REPLICA));
    engine = new Engine({ ...o.engine, table: this.table, rates: false });
    this.engine = engine;
  }

  private note(r: { ok: true } | { ok: false; error: { message: string } }): void {
    if (!r.ok) this.log(`replica: ${r.error.message}`);
  }

  /**
   * One batch of events, in order. Returns whether what the socket filters
   * are computed from may have changed (anything but a real server's weight
   * or thresholds, timeouts, sync daemons).
   */
  apply(events: readonly ReplicaEvent[]): boolean {
    const t = this.table;
    let structural = false;
    for (const ev of events) {
      switch (ev.type) {
        case 'service.added': {
          const r = t.addService(ev.service, REPLICA);
          if (r.ok) this.ids.set(r.value, reported(ev.id)); else this.note(r);
          structural = true;
          break;
        }
        case 'service.changed': this.note(t.editService(ev.service, REPLICA)); structural = true; break;
        case 'service.removed': this.note(t.deleteService(ev.service, REPLICA)); structural = true; break;
        case 'dest.added': {
          const r = t.addDest(ev.service, ev.dest, REPLICA);
          if (!r.ok) { this.note(r); break; }
          // a dest revived from the trash keeps its counters (the deltas go on from
          // them) and its connections: the daemon's copy, maybe a new one, learns its counts
          const prev = this.ids.get(r.value);
          this.ids.set(r.value, prev ? { ...prev, id: ev.id } : reported(ev.id));
          if (prev) this.marked.set(r.value, t.find(ev.service)!);
          structural = true;
          break;
        }
        case 'dest.changed': {
          const before = t.find(ev.service)?.findDest(ev.dest)?.spec;
          this.note(t.editDest(ev.service, ev.dest, REPLICA));
          if (!before || before.fwd !== ev.dest.fwd) structural = true;
          break;
        }
        case 'dest.removed': this.note(t.deleteDest(ev.service, ev.dest, REPLICA)); structural = true; break;
        case 'table.flushed': this.note(t.flush(REPLICA)); structural = true; break;
        case 'timeouts.changed': this.note(t.setTimeouts(ev.timeouts, REPLICA)); break;
        case 'daemon.started': this.note(t.startDaemon(ev.daemon, REPLICA)); break;
        case 'daemon.stopped': this.note(t.stopDaemon(ev.state, REPLICA)); break;
      }
    }
    return structural;
  }

  /**
   * Stats records of what changed since the last report (REC numbers each):
   * the total first, then every real server whose counters or connection
   * counts moved, and their services. `n` is 0 when nothing changed.
   */
  report(): { rec: Float64Array; n: number } {
    const changed = this.engine.takeChanged();
    for (const [d, s] of this.marked) changed.set(d, s);
    if (this.marked.size > 0) this.marked = new Map();
    const t = this.table.total;
    const tot = this.total;
    if (changed.size === 0 && t.conns === tot.c0 && t.inpkts === tot.c1 && t.outpkts === tot.c2 && t.inbytes === tot.c3 && t.outbytes === tot.c4) {
      return { rec: this.rec, n: 0 };
    }
    if (this.rec.length < (1 + changed.size * 2) * REC) this.rec = new Float64Array((1 + changed.size * 2) * REC * 2);
    const rec = this.rec;
    let n = 0;
    const put = (x: Reported, c: Counters, a: number, i: number, p: number): void => {
      const o = n++ * REC;
      rec[o] = x.id;
      rec[o + 1] = c.conns - x.c0; rec[o + 2] = c.inpkts - x.c1; rec[o + 3] = c.outpkts - x.c2;
      rec[o + 4] = c.inbytes - x.c3; rec[o + 5] = c.outbytes - x.c4;
      x.c0 = c.conns; x.c1 = c.inpkts; x.c2 = c.outpkts; x.c3 = c.inbytes; x.c4 = c.outbytes;
      rec[o + 6] = a; rec[o + 7] = i; rec[o + 8] = p;
    };
    put(tot, t, -1, -1, -1);
    const svcs = new Set<Service>();
    for (const [d, s] of changed) {
      svcs.add(s);
      const x = this.ids.get(d);
      // a deleted real server is no longer the daemon's: its last moves stay here (as its traffic, none, would)
      if (!x || !d.available) continue;
      put(x, d.stats, d.activeConns, d.inactConns, d.persistConns);
    }
    for (const s of svcs) {
      const x = this.ids.get(s);
      if (!x || this.table.find(s.spec) !== s) continue;
      put(x, s.stats, -1, -1, -1);
    }
    return { rec, n };
  }

  /**
   * Once a second: the schedulers' ticks that are due (LBLC garbage
   * collection and the like, on the state that schedules this replica's
   * packets) and the dests trash.
   */
  housekeep(): void {
    this.table.housekeep(this.log);
  }
}

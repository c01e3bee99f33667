// A small typed event bus (DESIGN.md "The event bus"). Control-plane parts
// talk through it; packets never travel on it. The service table's own
// events (core/model/events.ts) come from the table; the rest from their
// owners.

import type { DestSpec, ServiceKey } from './model/types.js';
import type { TableEvent, TableEventType } from './model/events.js';

/** One failover instance (a VRRP vrrp_instance) as `lvsadm -L --vrrp` lists it. */
export interface FailoverInstanceView {
  name: string;
  interface: string;
  vrid: number;
  version: number;
  family: 4 | 6;
  state: string;
  /** Effective priority (base ± tracking). */
  priority: number;
  basePriority: number;
  advertIntMs: number;
  /** The master's address ('' when unknown); ours when MASTER. */
  master: string;
  masterPriority: number;
  /** Wall-clock ms of the last transition, and its reason. */
  since: number;
  reason: string;
  syncGroup?: string;
  counters: Record<string, number>;
}

type TableEvents = { [K in TableEventType]: Extract<TableEvent, { type: K }> };

export interface BusEvents extends TableEvents {
  /** Every table event, in the order the table made them. */
  'table': TableEvent;
  'config.applied': { file: string; added: number; edited: number; removed: number };
  'config.rejected': { file: string; error: string };
  'dest.health': { service: ServiceKey; dest: DestSpec; up: boolean; reason: string };
  /** Administrative state of a real server (health): active, filling, draining, disabled. */
  'dest.lifecycle': { service: ServiceKey; dest: DestSpec; from: string; to: string; reason: string };
  /** A service's quorum was gained or lost (keepalived quorum_up/quorum_down). */
  'service.quorum': { service: ServiceKey; up: boolean; aliveWeight: number; sorryActive: boolean };
  /** Failover (a failover plugin): this director's role changed. */
  'ha.state': { state: 'master' | 'backup' | 'fault'; instance?: string; reason?: string };
  /**
   * Failover (a failover plugin): every instance as it stands (`lvsadm -L --vrrp`),
   * reported on each change and every second; the last one stands until the plugin stops (empty list).
   */
  'ha.status': { instances: FailoverInstanceView[] };
  /** Sync (a sync plugin, backup side): connection entries received from a master and applied. */
  'sync.received': { syncid: number; from: string; conns: number };
  /**
   * Sync (a sync plugin): a running daemon's counters, by name in the plugin's
   * order (`lvsadm -L --daemon --stats`); the last one stands until the daemon stops.
   */
  'sync.stats': { state: 'master' | 'backup'; counters: Record<string, number> };
}

type Handler<T> = (payload: T) => void;

export class Bus {
  private handlers = new Map<keyof BusEvents, Set<Handler<never>>>();
  /** Events emitted by a handler wait until the current one has reached every handler: all see one order. */
  private queue: [keyof BusEvents, unknown][] = [];
  private dispatching = false;

  on<K extends keyof BusEvents>(event: K, fn: Handler<BusEvents[K]>): () => void {
    let set = this.handlers.get(event);
    if (!set) { set = new Set(); this.handlers.set(event, set); }
    set.add(fn as Handler<never>);
    return () => { set.delete(fn as Handler<never>); };
  }

  /** Handlers run synchronously; one that throws is reported and does not stop the others. */
  emit<K extends keyof BusEvents>(event: K, payload: BusEvents[K]): void {
    this.queue.push([event, payload]);
    this.drain();
  }

  /** A table event: to the 'table' subscribers, then to those of its type, before anything it causes. */
  emitTable(ev: TableEvent): void {
    this.queue.push(['table', ev], [ev.type, ev]);
    this.drain();
  }

  private drain(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let item = this.queue.shift(); item; item = this.queue.shift()) this.dispatch(item[0], item[1]);
    } finally {
      this.dispatching = false;
      this.queue.length = 0;
    }
  }

  private dispatch(event: keyof BusEvents, payload: unknown): void {
    const set = this.handlers.get(event);
    if (!set) return;
    for (const fn of set) {
      try { (fn as Handler<unknown>)(payload); } catch (e) {
        process.emitWarning(`bus handler for ${String(event)} failed: ${(e as Error).message}`);
      }
    }
  }
}

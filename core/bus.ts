// A small typed event bus (DESIGN.md "The event bus"). Control-plane parts
// talk through it; packets never travel on it.

import type { DestSpec, ServiceKey, ServiceSpec } from './model/types.js';

export interface BusEvents {
  'config.applied': { file: string; added: number; edited: number; removed: number };
  'config.rejected': { file: string; error: string };
  'service.added': { service: ServiceSpec };
  'service.changed': { service: ServiceSpec };
  'service.removed': { service: ServiceKey };
  'dest.added': { service: ServiceKey; dest: DestSpec };
  'dest.changed': { service: ServiceKey; dest: DestSpec };
  'dest.removed': { service: ServiceKey; dest: DestSpec };
  'dest.health': { service: ServiceKey; dest: DestSpec; up: boolean; reason: string };
  /** Administrative state of a real server (health/manager.ts): active, filling, draining, disabled. */
  'dest.lifecycle': { service: ServiceKey; dest: DestSpec; from: string; to: string; reason: string };
  /** A service's quorum was gained or lost (keepalived quorum_up/quorum_down). */
  'service.quorum': { service: ServiceKey; up: boolean; aliveWeight: number; sorryActive: boolean };
  'ha.state': { state: 'master' | 'backup' | 'fault' };
  'stats.tick': { now: number };
}

type Handler<T> = (payload: T) => void;

export class Bus {
  private handlers = new Map<keyof BusEvents, Set<Handler<never>>>();

  on<K extends keyof BusEvents>(event: K, fn: Handler<BusEvents[K]>): () => void {
    let set = this.handlers.get(event);
    if (!set) { set = new Set(); this.handlers.set(event, set); }
    set.add(fn as Handler<never>);
    return () => { set.delete(fn as Handler<never>); };
  }

  /** Handlers run synchronously; one that throws is reported and does not stop the others. */
  emit<K extends keyof BusEvents>(event: K, payload: BusEvents[K]): void {
    const set = this.handlers.get(event);
    if (!set) return;
    for (const fn of set) {
      try { (fn as Handler<BusEvents[K]>)(payload); } catch (e) {
        process.emitWarning(`bus handler for ${event} failed: ${(e as Error).message}`);
      }
    }
  }
}

// The data plane as the daemon holds it: one interface, two implementations.
// `--io memory` (runner.ts) runs one replica on the main thread against the
// memory wire; `--io afpacket` (worker-host.ts) runs replicas in worker
// threads on real interfaces. Both are fed the table's events through the
// same replica path (replica.ts) and fold their counters back the same way.

import type { ConnView } from '../control/protocol.js';
import type { Service, ServiceTable } from '../model/table.js';
import { Estimator } from '../stats/estimator.js';
import type { NetSpec } from './net.js';
import type { PluginRegistry } from '../plugins/loader.js';

export interface DataPlaneConfig {
  interfaces: NetSpec['interfaces'];
  neighbors: NetSpec['neighbors'];
  gateways?: readonly string[];
  maxConns?: number;
}

export interface DataPlane {
  readonly kind: 'memory' | 'afpacket';
  /** The connection entries (`lvsadm -L -c`). */
  conns(): ConnView[] | Promise<ConnView[]>;
  /** A config reload: new plugins (and, on the memory wire, interfaces and neighbours); connections are kept. */
  reconfigure(registry: PluginRegistry, cfg: DataPlaneConfig): void;
  stop(): Promise<void>;
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

// The data plane as the daemon runs it with `--io memory`: one Engine (one
// "worker", on the main thread) polling the memory wire on a timer. The
// engine reads the daemon's ServiceTable, so control changes apply at the
// next batch. `--io afpacket` runs engines in worker threads instead, each
// with a table replica fed snapshots by message: see worker-host.ts.

import type { Bus } from '../bus.js';
import type { ConnView } from '../control/protocol.js';
import type { ServiceTable } from '../model/table.js';
import type { ClassifierPlugin, ForwarderPlugin } from '../plugin.js';
import type { PluginRegistry } from '../plugins/loader.js';
import { FrameBatch, TxBatch } from './batch.js';
import { Engine } from './engine.js';
import { MemoryWire } from './io/memory.js';
import type { NetSpec } from './net.js';

export interface DataPlaneConfig {
  interfaces: NetSpec['interfaces'];
  neighbors: NetSpec['neighbors'];
  gateways?: readonly string[];
  maxConns?: number;
}

/** The engine's plugins from a registry: every forwarder and every classifier, by name. */
export function dataPlanePlugins(registry: PluginRegistry): { forwarders: ForwarderPlugin[]; classifiers: ClassifierPlugin[] } {
  return {
    forwarders: registry.names('forwarder').map((n) => registry.get('forwarder', n)!.plugin as ForwarderPlugin),
    classifiers: registry.names('classifier').map((n) => registry.get('classifier', n)!.plugin as ClassifierPlugin),
  };
}

export class DataPlane {
  readonly engine: Engine;
  readonly wire: MemoryWire;
  private readonly table: ServiceTable;
  private readonly rx = new FrameBatch(64);
  private readonly tx = new TxBatch();
  private timer: NodeJS.Timeout | null = null;
  private readonly t0 = performance.now();
  private readonly offBus: (() => void)[] = [];

  constructor(table: ServiceTable, registry: PluginRegistry, cfg: DataPlaneConfig, bus?: Bus) {
    this.table = table;
    this.engine = DataPlane.build(table, registry, cfg);
    this.wire = new MemoryWire(this.engine.net.ifaces);
    if (bus) {
      for (const ev of ['dest.changed', 'dest.added', 'service.changed', 'config.applied'] as const) {
        this.offBus.push(bus.on(ev, () => this.engine.refresh()));
      }
    }
  }

  private static build(table: ServiceTable, registry: PluginRegistry, cfg: DataPlaneConfig): Engine {
    const { forwarders, classifiers } = dataPlanePlugins(registry);
    return new Engine({
      table, forwarders, classifiers, maxConns: cfg.maxConns,
      net: { interfaces: cfg.interfaces, neighbors: cfg.neighbors, gateways: cfg.gateways ?? [] },
    });
  }

  /** A config reload: new interfaces, neighbours or plugins; connections are kept. */
  reconfigure(registry: PluginRegistry, cfg: DataPlaneConfig): void {
    const { forwarders, classifiers } = dataPlanePlugins(registry);
    this.engine.reconfigure(
      { interfaces: cfg.interfaces, neighbors: cfg.neighbors, gateways: cfg.gateways ?? [] }, forwarders, classifiers,
    );
    // the engine has a new Net: inject and name frames by its interfaces
    this.wire.setInterfaces(this.engine.net.ifaces);
  }

  now(): number { return performance.now() - this.t0; }

  /** Polls the wire every `ms` and runs the clock (expiry, estimator). */
  start(ms = 10): void {
    this.timer = setInterval(() => this.poll(), ms);
    this.timer.unref();
  }

  poll(): void {
    const now = this.now();
    this.engine.advance(now);
    while (this.wire.receive(this.rx) > 0) {
      this.tx.clear();
      this.engine.process(this.rx, this.tx, now);
      this.wire.transmit(this.tx);
    }
  }

  conns(): ConnView[] { return this.engine.connViews(); }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const off of this.offBus) off();
  }
}

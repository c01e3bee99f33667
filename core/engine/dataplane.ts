// The data plane as the daemon holds it: one interface, two implementations.
// `--io memory` (runner.ts) runs one replica on the main thread against the
// memory wire; `--io afpacket` (worker-host.ts) runs replicas in worker
// threads on real interfaces. Both are fed the table's events through the
// same replica path (replica.ts) and fold their counters back the same way.

import type { ConnView } from '../control/protocol.js';
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

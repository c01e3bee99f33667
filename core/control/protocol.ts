// The control socket protocol: one JSON request per line, one JSON reply per
// line. The requests mirror IPVS's generic-netlink commands, so lvsadm does
// what ipvsadm does (parse, validate, format) and the daemon plays the kernel.

import type {
  DestKey, DestSpec, ServiceKey, ServiceSpec, ServiceView, SyncDaemonSpec, Timeouts,
} from '../model/types.js';
import type { Errno } from '../errors.js';
import type { RealHealthView, ServiceHealthView } from '../health/types.js';
import type { FailoverInstanceView } from '../bus.js';

/** One connection entry as `ipvsadm -L -c` shows it. */
export interface ConnView {
  protocol: 'tcp' | 'udp' | 'sctp' | 'ip';
  family: 'inet' | 'inet6';
  caddr: string; cport: number;
  vaddr: string; vport: number;
  daddr: string; dport: number;
  /** Seconds left before expiry. */
  expires: number;
  state: string;
  peName?: string;
  peData?: string;
}

/**
 * One counter of `lvsadm -L --drops`: an engine drop reason (`drop`) or an
 * I/O counter (`io`: frames received and sent, and what the packet I/O lost),
 * summed over the data plane's workers since lvsd started.
 */
export interface DropCounterView {
  kind: 'drop' | 'io';
  name: string;
  count: number;
  /** Per worker, in the order of DropsView.workers (only when asked for). */
  workers?: number[];
}

/** The data plane's drop reasons and I/O counters (`lvsadm -L --drops`). */
export interface DropsView {
  plane: 'memory' | 'afpacket';
  /** Whole seconds the data plane has been counting. */
  seconds: number;
  /** The workers counted, by id (the memory wire has one, 0). */
  workers: number[];
  /** Drop reasons with a non-zero count (fixed order), then every I/O counter (the I/O's order). */
  counters: DropCounterView[];
}

/** `ipvsadm`'s GET_INFO: version code and connection table size. */
export interface InfoView {
  version: number;
  connTabSize: number;
}

/** One running sync daemon's counters (names and order are its plugin's). */
export interface DaemonStatsView { state: 'master' | 'backup'; counters: Record<string, number> }

export type Request =
  | { op: 'info' }
  | { op: 'get-services' }
  | { op: 'get-service'; service: ServiceKey }
  | { op: 'add-service'; service: ServiceSpec }
  | { op: 'edit-service'; service: ServiceSpec }
  | { op: 'delete-service'; service: ServiceKey }
  | { op: 'flush' }
  | { op: 'zero'; service?: ServiceKey }
  | { op: 'add-dest'; service: ServiceKey; dest: DestSpec }
  | { op: 'edit-dest'; service: ServiceKey; dest: DestSpec }
  | { op: 'delete-dest'; service: ServiceKey; dest: DestKey }
  | { op: 'get-timeouts' }
  | { op: 'set-timeouts'; timeouts: Timeouts }
  | { op: 'get-daemons' }
  /** lvsd extension (-L --daemon --stats): the sync daemons' counters as their plugin reports them. */
  | { op: 'get-daemon-stats' }
  | { op: 'start-daemon'; daemon: SyncDaemonSpec }
  | { op: 'stop-daemon'; state: 'master' | 'backup'; syncid?: number }
  | { op: 'get-conns' }
  /** Real server lifecycle (core/health/manager.ts); `deadline` in seconds (drain: removal deadline). */
  | { op: 'drain'; service: ServiceKey; dest: DestKey; deadline?: number }
  /** Slow start: ramp the weight up over `deadline` seconds (default the configured slowStart). */
  | { op: 'fill'; service: ServiceKey; dest: DestKey; deadline?: number }
  | { op: 'disable'; service: ServiceKey; dest: DestKey }
  | { op: 'enable'; service: ServiceKey; dest: DestKey }
  /** Per-real-server health and lifecycle views, for `lvsadm -L --health`. */
  | { op: 'get-health'; service?: ServiceKey }
  /** The data plane's drop reasons and I/O counters (`lvsadm -L --drops`); `perWorker` adds each worker's counts. */
  | { op: 'get-drops'; perWorker?: boolean }
  /** lvsd extension (-L --vrrp): the failover instances as their plugin last reported them. */
  | { op: 'get-vrrp' };

export type Reply<T = unknown> =
  | { ok: true; data: T }
  | { ok: false; errno: Errno | 'EPROTO'; message: string };

/** What each request returns on success. */
export interface ReplyData {
  'info': InfoView;
  'get-services': ServiceView[];
  'get-service': ServiceView;
  'get-timeouts': Timeouts;
  'get-daemons': SyncDaemonSpec[];
  'get-daemon-stats': DaemonStatsView[];
  'get-conns': ConnView[];
  'get-health': ServiceHealthView[];
  'get-drops': DropsView;
  'get-vrrp': FailoverInstanceView[];
  /** The real server's view after the change. */
  'drain': RealHealthView;
  'fill': RealHealthView;
  'disable': RealHealthView;
  'enable': RealHealthView;
}

export const DEFAULT_SOCKET = '/run/lvsd/lvsd.sock';

/** Socket path: --socket, else $LVSD_SOCKET, else the default. */
export function socketPath(flag?: string): string {
  return flag ?? process.env['LVSD_SOCKET'] ?? DEFAULT_SOCKET;
}

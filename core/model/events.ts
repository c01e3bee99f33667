// What the service table announces (DESIGN.md "Core and the netlink line"):
// every successful operation emits exactly one of these, from the table
// itself, the way the kernel's IPVS answers a netlink command. The data plane,
// the health subsystem and control-plane plugins follow them; nobody emits
// them on the table's behalf and nobody diffs snapshots.

import type { DestSpec, ServiceKey, ServiceSpec, SyncDaemonSpec, Timeouts } from './types.js';

/** Who asked for a change (audit lines, and so a subsystem can tell its own changes from others'). */
export interface ChangeSource {
  by: 'lvsadm' | 'config' | 'health' | 'schedule' | 'sync' | 'failover' | 'plugin' | 'internal';
  /** lvsadm: the peer's uid; plugin: its name; anything else a short word. */
  uid?: number;
  name?: string;
}

export const INTERNAL: ChangeSource = { by: 'internal' };

export type TableEvent =
  | { type: 'service.added'; service: ServiceSpec; source: ChangeSource }
  | { type: 'service.changed'; service: ServiceSpec; prev: ServiceSpec; source: ChangeSource }
  | { type: 'service.removed'; service: ServiceSpec; source: ChangeSource }
  /** `service` is the service's full spec at the time of the change. */
  | { type: 'dest.added'; service: ServiceSpec; dest: DestSpec; source: ChangeSource }
  | { type: 'dest.changed'; service: ServiceSpec; dest: DestSpec; prev: DestSpec; source: ChangeSource }
  | { type: 'dest.removed'; service: ServiceSpec; dest: DestSpec; source: ChangeSource }
  /** `ipvsadm -C`: every service (and its real servers) went, in this order. */
  | { type: 'table.flushed'; services: ServiceSpec[]; source: ChangeSource }
  /** `--set`: the timeouts as they now are (all three). */
  | { type: 'timeouts.changed'; timeouts: Timeouts; source: ChangeSource }
  /** `-Z`: one service's counters, or all of them (service absent). */
  | { type: 'stats.zeroed'; service?: ServiceKey; source: ChangeSource }
  | { type: 'daemon.started'; daemon: SyncDaemonSpec; source: ChangeSource }
  | { type: 'daemon.stopped'; state: 'master' | 'backup'; source: ChangeSource };

export type TableEventType = TableEvent['type'];

export const TABLE_EVENT_TYPES: readonly TableEventType[] = [
  'service.added', 'service.changed', 'service.removed', 'dest.added', 'dest.changed', 'dest.removed',
  'table.flushed', 'timeouts.changed', 'stats.zeroed', 'daemon.started', 'daemon.stopped',
];

export function sourceText(s: ChangeSource): string {
  return `${s.by}${s.name ? ` ${s.name}` : ''}${s.uid !== undefined ? ` uid ${s.uid}` : ''}`;
}

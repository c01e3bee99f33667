// The data plane's drop registry: every reason a frame is dropped, as an index
// into an engine's `drops` counters, and its name (worker logs, explain traces,
// Engine.dropCounts()).

import { DROP_NAMES, DROP_REASONS } from '../packet/parse.js';
import { FWD_NAMES } from '../plugin.js';

// Parse reasons come first (core/packet DROP_*), then the pipeline's own.
let n = DROP_REASONS;
export const D_NOT_IP = n++;          // not IPv4/IPv6 (passed to the host stack by the kernel; nothing for us)
export const D_ARP = n++;             // ARP (the memory wire has static neighbours)
export const D_NOT_HOST = n++;        // destination MAC not ours (not PACKET_HOST)
export const D_FRAGMENT = n++;        // IP fragment: no reassembly in lvsd yet
export const D_UNKNOWN_PROTO = n++;   // not TCP/UDP/SCTP/ICMP
export const D_ICMP_NOT_ERROR = n++;  // ICMP that is not an error IPVS relays (echo, …)
export const D_ICMP_QUOTE = n++;      // ICMP error whose quoted packet is unusable
export const D_ICMP_NO_CONN = n++;    // ICMP error about no connection of ours
export const D_ICMP_NOT_NAT = n++;    // ICMP error from a DR/TUN real server (it goes to the client directly)
export const D_NO_SERVICE = n++;      // no virtual service (the kernel passes it to the local stack)
export const D_NO_CONN = n++;         // matches a service but cannot open a connection (TCP without SYN, …)
export const D_PORT_ZERO = n++;       // non-persistent service with port 0
export const D_DEST_UNAVAILABLE = n++;// connection of a deleted real server (expire_nodest_conn=0)
export const D_NO_DEST = n++;         // scheduler found no real server: ICMP port unreachable sent
export const D_CONN_LIMIT = n++;      // connection table full
export const D_NO_FORWARDER = n++;    // no plugin for the forwarding method
export const D_INTERNAL = n++;        // a bug caught per frame (must stay 0)
export const D_GSO_BAD = n++;         // an aggregate lvsd cannot cut (unknown GSO type, or not the protocol it says)
export const D_GSO_NO_ROOM = n++;     // segments of an aggregate that did not fit the batch's segment space
export const D_BACKUP_ONLY = n++;     // backup_only with the backup sync daemon running: no load balancing here (the kernel's copy goes on)
export const D_FOREIGN_VIP = n++;     // a VIP a failover plugin holds on another director now: left to the host stack
export const FWD_BASE = n;            // forwarder results follow (FWD_TTL …)
n += FWD_NAMES.length;
export const DROP_COUNT = n;
export const ENGINE_DROP_NAMES: readonly string[] = [
  ...DROP_NAMES,
  'not-ip', 'arp', 'not-host', 'fragment', 'unknown-proto', 'icmp-not-error', 'icmp-quote', 'icmp-no-conn',
  'icmp-not-nat', 'no-service', 'no-conn', 'port-zero', 'dest-unavailable', 'no-dest', 'conn-limit',
  'no-forwarder', 'internal', 'gso-bad', 'gso-no-room', 'backup-only', 'foreign-vip', ...FWD_NAMES,
];

/**
 * Drop counters Engine.dropCounts() names beside the index above, and the
 * worker's held frames (neighbor-hold.ts): listed after the index's reasons.
 */
export const EXTRA_DROP_NAMES: readonly string[] = ['conn-table-full', 'tx-full', 'icmp-no-route', 'neighbour-unresolved'];

const DROP_RANK: ReadonlyMap<string, number> = new Map([...ENGINE_DROP_NAMES, ...EXTRA_DROP_NAMES].map((name, i) => [name, i]));

/** Drop reason names in a fixed order: the registry's, then names it does not know (a newer worker's), alphabetically. */
export function compareDropNames(a: string, b: string): number {
  const ra = DROP_RANK.get(a), rb = DROP_RANK.get(b);
  if (ra !== undefined && rb !== undefined) return ra - rb;
  if (ra !== undefined) return -1;
  if (rb !== undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

// The master's per-inbound-packet sync decision (shared/spec/sync.md §4.1–4.3;
// ip_vs_sync_conn / ip_vs_sync_conn_needed). Pure apart from the small sync
// fields it updates on the connections it is given.
//
// Time is whatever monotonic unit the data plane uses for `now` and
// `timeout` (milliseconds recommended); the kernel's "multiple of 4 jiffies"
// becomes "multiple of 4 units" and the two low bits of syncEnd hold the retry
// count, exactly as in the kernel.

import {
  IP_VS_CONN_F_ONE_PACKET, IP_VS_CONN_F_TEMPLATE, IPPROTO_SCTP, IPPROTO_TCP, SCTP_S, TCP_S, type SyncVersion,
} from './wire.js';

export interface SyncTriggerConfig {
  /** sysctl sync_version used for sending. */
  version: SyncVersion;
  /** sync_threshold T (default 3). */
  threshold: number;
  /** sync_threshold period P (default 50; 0 = only pkts == T, or refresh-driven). */
  period: number;
  /** sync_refresh_period R, in the same unit as `now` (0 = off). */
  refreshPeriod: number;
  /** sync_retries N, 0..3. */
  retries: number;
  /** sync_persist_mode: sync only templates for persistent services. */
  persistMode: boolean;
  /** Units of `now`/`timeout`/refreshPeriod per second (the kernel's HZ); 1000 for milliseconds. */
  hz: number;
}

export const SYNC_TRIGGER_DEFAULTS: SyncTriggerConfig = {
  version: 1, threshold: 3, period: 50, refreshPeriod: 0, retries: 0, persistMode: false, hz: 1000,
};

/**
 * What the data plane keeps per connection (or template) for the trigger.
 * The trigger reads af/protocol/flags/state/timeout/control and writes
 * syncState, syncEnd and (for templates evaluated as controllers) inPkts.
 */
export interface SyncTracked {
  readonly af: 4 | 6;
  readonly protocol: number;
  /** IP_VS_CONN_F_* (TEMPLATE and ONE_PACKET are looked at). */
  flags: number;
  /**
   * Protocol state after the current packet was processed. For a template
   * the data plane keeps 0 (NONE) until a connection it controls becomes
   * ESTABLISHED and then 1 (ASSURED), before calling the trigger, so the first
   * template record (at the SYN) carries 0 and later ones 1.
   */
  state: number;
  /** Current state timeout, in the unit of `now`. */
  timeout: number;
  /** Inbound packet counter (cp->in_pkts). */
  inPkts: number;
  /** State at the last sync (cp->old_state); a new connection starts at 0. */
  syncState: number;
  /** Expiry reported at the last sync plus retry count in the low 2 bits (cp->sync_endtime). */
  syncEnd: number;
  /** Controlling connection: persistence template or FTP control connection. */
  control: SyncTracked | null;
}

/** Fresh sync fields for a connection created at `now` (ip_vs_conn_new). */
export function initialSyncFields(now: number): { inPkts: number; syncState: number; syncEnd: number } {
  return { inPkts: 0, syncState: 0, syncEnd: floor4(now) };
}

function floor4(x: number): number {
  return x - (((x % 4) + 4) % 4);
}

function inPersistence(cp: SyncTracked): boolean {
  for (let c = cp.control; c; c = c.control) if (c.flags & IP_VS_CONN_F_TEMPLATE) return true;
  return false;
}

const TCP_SYNCABLE = new Set<number>([TCP_S.ESTABLISHED, TCP_S.FIN_WAIT, TCP_S.CLOSE, TCP_S.CLOSE_WAIT, TCP_S.TIME_WAIT]);
const SCTP_SYNCABLE = new Set<number>([
  SCTP_S.ESTABLISHED, SCTP_S.SHUTDOWN_SENT, SCTP_S.SHUTDOWN_RECEIVED, SCTP_S.SHUTDOWN_ACK_SENT, SCTP_S.CLOSED,
]);

/**
 * ip_vs_sync_conn_needed: whether `cp` goes into a message for this packet.
 * Updates cp.syncState / cp.syncEnd when it says yes.
 */
export function syncNeeded(cfg: SyncTriggerConfig, cp: SyncTracked, pkts: number, now: number): boolean {
  const orig = cp.syncEnd;
  let n = floor4(now + cp.timeout);
  // The kernel also keeps `force` to send when its cmpxchg on sync_endtime
  // loses a race; single-threaded, reaching SEND always sends.
  let send = false;

  if (cp.flags & IP_VS_CONN_F_TEMPLATE) {
    // templates: no state filter
  } else if (cfg.persistMode && inPersistence(cp)) {
    return false;
  } else if (cp.protocol === IPPROTO_TCP || cp.protocol === IPPROTO_SCTP) {
    const syncable = cp.protocol === IPPROTO_TCP ? TCP_SYNCABLE : SCTP_SYNCABLE;
    const established = cp.protocol === IPPROTO_TCP ? TCP_S.ESTABLISHED : SCTP_S.ESTABLISHED;
    if (!syncable.has(cp.state)) return false;
    // Closing transitions go out at once; ESTABLISHED waits for a counted packet.
    if (cp.state !== cp.syncState && cp.state !== established) send = true;
  }
  // UDP and other single-state protocols: only the counters below.

  if (!send) {
    const R = cfg.refreshPeriod;
    if (R > 0) {
      const diff = n - orig;
      const minDiff = Math.max(Math.floor(cp.timeout / 2), 10 * cfg.hz);
      if (Math.abs(diff) < Math.min(R, minDiff)) {
        // Nothing new to report: only a limited number of spaced retries.
        const retries = ((orig % 4) + 4) % 4;
        if (retries >= cfg.retries) return false;
        if (now < orig - cp.timeout + Math.floor(R / 8)) return false;
        n += retries + 1;
      }
    }
    const P = cfg.period;
    if (P > 0) {
      if (!(cp.flags & IP_VS_CONN_F_TEMPLATE) && pkts % P !== cfg.threshold) return false;
    } else if (R === 0 && pkts !== cfg.threshold) {
      return false;
    }
  }

  cp.syncState = cp.state;
  cp.syncEnd = n;
  return true;
}

/**
 * ip_vs_sync_conn: the connections to put into messages for one evaluation of
 * `cp` with packet count `pkts`, in order (connection first, then its
 * controllers up the chain). Templates evaluated as controllers get their
 * inPkts incremented, as the kernel does.
 */
export function syncConn(cfg: SyncTriggerConfig, cp: SyncTracked, pkts: number, now: number): SyncTracked[] {
  const out: SyncTracked[] = [];
  if (cfg.version === 0) {
    // v0: IPv4 only; controller evaluated only when the connection was added.
    let c: SyncTracked | null = cp;
    let p = pkts;
    while (c) {
      if (c.af !== 4 || c.flags & IP_VS_CONN_F_ONE_PACKET) break;
      if (!syncNeeded(cfg, c, p, now)) break;
      out.push(c);
      c = c.control;
      if (c) p = controllerPkts(cfg, c);
    }
    return out;
  }
  // v1: a one-packet connection is never sent, but its controller still is evaluated.
  let c: SyncTracked | null = cp;
  let p = pkts;
  if (c.flags & IP_VS_CONN_F_ONE_PACKET) {
    c = c.control;
    if (c) p = controllerPkts(cfg, c);
  }
  while (c) {
    if (syncNeeded(cfg, c, p, now)) out.push(c);
    c = c.control;
    if (c) p = controllerPkts(cfg, c);
  }
  return out;
}

function controllerPkts(cfg: SyncTriggerConfig, c: SyncTracked): number {
  if (c.flags & IP_VS_CONN_F_TEMPLATE) return ++c.inPkts;
  return cfg.threshold;
}

/**
 * §4.1: one inbound (client→server) packet of `cp` was forwarded and its state
 * updated. Counts the packet and returns what to sync, in order.
 */
export function onInboundPacket(cfg: SyncTriggerConfig, cp: SyncTracked, now: number): SyncTracked[] {
  const pkts = ++cp.inPkts;
  return syncConn(cfg, cp, cp.flags & IP_VS_CONN_F_ONE_PACKET ? cfg.threshold : pkts, now);
}

/**
 * §4.1: a connection/template whose expiry was postponed because it still
 * controls others; the caller has set its timeout to 60 s.
 */
export function onExpiryPostponed(cfg: SyncTriggerConfig, cp: SyncTracked, now: number): SyncTracked[] {
  return syncConn(cfg, cp, cfg.threshold, now);
}

// The backup's handling of one decoded sync record (shared/spec/sync.md §6
// "Per record"; ip_vs_proc_conn, ip_vs_find_dest, ip_vs_bind_dest). Pure: the
// connection table and the service/real-server configuration are reached
// through a small lookup interface, and the result is a list of actions the
// integrator applies to its connection table in order.

import {
  IP_VS_CONN_F_FWD_MASK, IP_VS_CONN_F_INACTIVE, IP_VS_CONN_F_MASQ, IP_VS_CONN_F_NOOUTPUT, IP_VS_CONN_F_ONE_PACKET,
  IP_VS_CONN_F_TEMPLATE, IPPROTO_UDP, receivedFlags, SYNC_BACKUP_UPD_MASK, type SyncConn, type SyncSeq, type SyncVersion,
} from './wire.js';

/** Connection-table lookup key (ip_vs_conn_param). Templates also match on PE data. */
export interface SyncConnKey {
  af: 4 | 6;
  protocol: number;
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  template: boolean;
  peName?: string;
  peData?: Uint8Array;
}

/** What the backup needs to know of one of its own real servers. */
export interface BackupDest {
  /**
   * The server's connection flags (dest->conn_flags): forwarding method,
   * NOOUTPUT when not NAT, INACTIVE, ONE_PACKET for one-packet services;
   * destConnFlags() builds it.
   */
  connFlags: number;
}

/** dest->conn_flags for a real server with this forwarding method (IP_VS_CONN_F_MASQ..BYPASS). */
export function destConnFlags(fwd: number, onePacket = false): number {
  let f = (fwd & IP_VS_CONN_F_FWD_MASK) | IP_VS_CONN_F_INACTIVE;
  if ((fwd & IP_VS_CONN_F_FWD_MASK) !== IP_VS_CONN_F_MASQ) f |= IP_VS_CONN_F_NOOUTPUT;
  if (onePacket) f |= IP_VS_CONN_F_ONE_PACKET;
  return f;
}

/** An entry found in the backup's connection table. */
export interface BackupExisting<C, D> {
  conn: C;
  flags: number;
  daddr: string;
  dport: number;
  fwmark: number;
  dest: D | null;
}

export interface BackupLookup<C, S, D extends BackupDest> {
  /** Non-template connection by key (ip_vs_conn_in_get). */
  findConn(key: SyncConnKey): BackupExisting<C, D> | null;
  /** Persistence template by key including PE data (ip_vs_ct_in_get). */
  findTemplate(key: SyncConnKey): BackupExisting<C, D> | null;
  /** Local fwmark service. */
  serviceByFwmark(af: 4 | 6, fwmark: number): S | null;
  /** Local service by (af, protocol, vaddr, vport). */
  serviceByAddr(af: 4 | 6, protocol: number, vaddr: string, vport: number): S | null;
  /** Real server of a service by address and port. */
  destOf(svc: S, daddr: string, dport: number): D | null;
}

export interface BackupConfig {
  /** sync_threshold T: the synced entry's inbound packet counter. */
  syncThreshold: number;
  /** The backup's own timeout (seconds) for a protocol state, null when the protocol has no table. */
  protoTimeout(protocol: number, state: number): number | null;
  /** Cap on received timeouts in seconds (the kernel's MAX_SCHEDULE_TIMEOUT/HZ); default none. */
  maxTimeout?: number;
}

/** The template / table-less default timeout of v0 and timeout-0 records. */
export const SYNC_DEFAULT_TIMEOUT_S = 180;

export type DestCounter = 'active' | 'inactive' | 'persist';

export interface BackupBind<D> {
  dest: D;
  /** The dest counter the entry now counts in; the integrator re-checks the server's overload threshold. */
  count: DestCounter;
}

/** Fields set on a created or updated entry. */
export interface BackupEntryFields<D> {
  /** Final connection flags (SYNC included). */
  flags: number;
  state: number;
  /** Also the new "state at last sync". */
  syncState: number;
  timeout: number;
  /** Inbound packet counter = sync_threshold. */
  inPkts: number;
  seq?: { in: SyncSeq; out: SyncSeq };
  /** Set when the entry gets bound to a local real server by this record. */
  bind: BackupBind<D> | null;
}

export type BackupAction<C, D> =
  /** An inactive record for a connection that already points elsewhere: a stale expiry notice. */
  | { kind: 'ignore'; reason: 'outdated-expiry'; conn: C }
  /** Expire this entry now (it points to another real server); a 'create' follows. */
  | { kind: 'expire'; conn: C }
  | ({ kind: 'create'; key: SyncConnKey; daddr: string; dport: number; fwmark: number } & BackupEntryFields<D>)
  | ({
    kind: 'update';
    conn: C;
    /** INACTIVE changed on a bound non-template: move one count on its server. */
    move: { dest: D; from: DestCounter; to: DestCounter } | null;
  } & BackupEntryFields<D>);

/** Lookup key of a record. */
export function syncConnKey(rec: SyncConn): SyncConnKey {
  const key: SyncConnKey = {
    af: rec.af, protocol: rec.protocol, caddr: rec.caddr, cport: rec.cport, vaddr: rec.vaddr, vport: rec.vport,
    template: (rec.flags & IP_VS_CONN_F_TEMPLATE) !== 0,
  };
  if (rec.peData && rec.peName !== undefined) { key.peName = rec.peName; key.peData = rec.peData; }
  return key;
}

/**
 * ip_vs_find_dest: service (fwmark first when non-zero, then address), then
 * the real server; with a fwmark and a non-NAT method port 0 is tried first,
 * then the other of (dport, 0).
 */
export function findSyncDest<C, S, D extends BackupDest>(
  look: BackupLookup<C, S, D>, af: 4 | 6, protocol: number, vaddr: string, vport: number,
  daddr: string, dport: number, fwmark: number, flags: number,
): D | null {
  const svc = (fwmark ? look.serviceByFwmark(af, fwmark) : null) ?? look.serviceByAddr(af, protocol, vaddr, vport);
  if (svc === null) return null;
  const port = fwmark && (flags & IP_VS_CONN_F_FWD_MASK) !== IP_VS_CONN_F_MASQ ? 0 : dport;
  return look.destOf(svc, daddr, port) ?? look.destOf(svc, daddr, port ^ dport);
}

/** ip_vs_bind_dest for a synced entry: flags after binding and the counter it joins. */
export function bindFlags(flags: number, protocol: number, dest: BackupDest): { flags: number; count: DestCounter } {
  let conn = dest.connFlags;
  if (protocol !== IPPROTO_UDP) conn &= ~IP_VS_CONN_F_ONE_PACKET;
  const template = (flags & IP_VS_CONN_F_TEMPLATE) !== 0;
  // Synced non-templates keep the received activity; all take the local forwarding method.
  if (!template) conn &= ~IP_VS_CONN_F_INACTIVE;
  const f = ((flags & ~(IP_VS_CONN_F_FWD_MASK | IP_VS_CONN_F_NOOUTPUT)) | conn) >>> 0;
  const count: DestCounter = template ? 'persist' : f & IP_VS_CONN_F_INACTIVE ? 'inactive' : 'active';
  return { flags: f, count };
}

/** §6 step 6: the entry's timeout in seconds. */
export function syncTimeout(cfg: BackupConfig, version: SyncVersion, rec: SyncConn, flags: number): number {
  const t = version === 1 ? rec.timeout : 0;
  if (t) return cfg.maxTimeout !== undefined ? Math.min(t, cfg.maxTimeout) : t;
  if (!(flags & IP_VS_CONN_F_TEMPLATE)) return cfg.protoTimeout(rec.protocol, rec.state) ?? SYNC_DEFAULT_TIMEOUT_S;
  return SYNC_DEFAULT_TIMEOUT_S;
}

/**
 * ip_vs_proc_conn: what the backup does with one decoded record of a message
 * of `version`. The returned actions are applied in order.
 */
export function applySyncRecord<C, S, D extends BackupDest>(
  rec: SyncConn, version: SyncVersion, cfg: BackupConfig, look: BackupLookup<C, S, D>,
): BackupAction<C, D>[] {
  const actions: BackupAction<C, D>[] = [];
  let flags = receivedFlags(version, rec.flags);
  const template = (flags & IP_VS_CONN_F_TEMPLATE) !== 0;
  const key = syncConnKey(rec);
  const fwmark = version === 1 ? rec.fwmark : 0; // v0 cannot carry the mark

  let cur: BackupExisting<C, D> | null;
  if (!template) {
    cur = look.findConn(key);
    if (cur && (cur.dport !== rec.dport || cur.daddr !== rec.daddr)) {
      if (flags & IP_VS_CONN_F_INACTIVE) return [{ kind: 'ignore', reason: 'outdated-expiry', conn: cur.conn }];
      actions.push({ kind: 'expire', conn: cur.conn });
      cur = null;
    }
  } else {
    cur = look.findTemplate(key);
  }

  const common = {
    state: rec.state, syncState: rec.state, inPkts: cfg.syncThreshold,
    ...(rec.seq ? { seq: rec.seq } : {}),
  };

  if (cur) {
    let move: { dest: D; from: DestCounter; to: DestCounter } | null = null;
    if ((cur.flags ^ flags) & IP_VS_CONN_F_INACTIVE && !template && cur.dest) {
      move = flags & IP_VS_CONN_F_INACTIVE
        ? { dest: cur.dest, from: 'active', to: 'inactive' }
        : { dest: cur.dest, from: 'inactive', to: 'active' };
    }
    flags = ((flags & SYNC_BACKUP_UPD_MASK) | (cur.flags & ~SYNC_BACKUP_UPD_MASK)) >>> 0;
    let bind: BackupBind<D> | null = null;
    if (!cur.dest) {
      // ip_vs_try_bind_dest, with the entry's own addresses and mark.
      const d = findSyncDest(look, rec.af, rec.protocol, rec.vaddr, rec.vport, cur.daddr, cur.dport, cur.fwmark, flags);
      if (d) {
        const b = bindFlags(flags, rec.protocol, d);
        flags = b.flags;
        bind = { dest: d, count: b.count };
      }
    }
    actions.push({ kind: 'update', conn: cur.conn, move, flags, timeout: syncTimeout(cfg, version, rec, flags), bind, ...common });
    return actions;
  }

  // New entry: unbound when no local service/server matches, but created all the same.
  const d = findSyncDest(look, rec.af, rec.protocol, rec.vaddr, rec.vport, rec.daddr, rec.dport, fwmark, flags);
  let bind: BackupBind<D> | null = null;
  if (d) {
    const b = bindFlags(flags, rec.protocol, d);
    flags = b.flags;
    bind = { dest: d, count: b.count };
  }
  actions.push({
    kind: 'create', key, daddr: rec.daddr, dport: rec.dport, fwmark,
    flags, timeout: syncTimeout(cfg, version, rec, flags), bind, ...common,
  });
  return actions;
}

/** The backup's default protocol timeouts in seconds (Linux defaults), for protoTimeout. */
export function linuxDefaultTimeout(protocol: number, state: number): number | null {
  const tcp = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];
  const sctp = [2, 15, 15, 15, 15, 15, 900, 300, 300, 3, 2, 10];
  switch (protocol) {
    case 6: return tcp[state] ?? null;
    case 17: return state === 0 ? 300 : null;
    case 132: return sctp[state] ?? null;
    default: return null;
  }
}

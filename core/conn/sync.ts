// The connection table's side of the sync daemon (spec sync.md §4.1–4.3 and
// §6), as the kernel splits it: ip_vs_core.c decides per inbound packet which
// entries a master reports (here: syncConn, into a SyncOutbox of fixed-size
// records), and ip_vs_sync.c's ip_vs_proc_conn installs what a backup
// received (here: installSynced). The wire format, the batching and the
// sockets are the sync plugin's (plugins/sync/); what crosses between them is
// the record below, one per entry, and the plugin contract's SyncConn.

import { bytesToIpv6, ipv4ToU32, ipv6ToBytes, u32ToIpv4 } from '../model/addr.js';
import type { Family } from '../model/addr.js';
import { AF_INET, AF_INET6 } from './store.js';
import {
  CF_FWD_MASK, CF_HASHED, CF_IN_SEQ, CF_INACTIVE, CF_MASQ, CF_NO_CPORT, CF_NOOUTPUT, CF_ONE_PACKET, CF_OUT_SEQ, CF_SYNC,
  CF_TEMPLATE, SCTP_S_CLOSED, SCTP_S_ESTABLISHED, SCTP_S_SHUTDOWN_ACK_SENT, SCTP_S_SHUTDOWN_RECEIVED, SCTP_S_SHUTDOWN_SENT,
  TCP_CLOSE, TCP_CLOSE_WAIT, TCP_ESTABLISHED, TCP_FIN_WAIT, TCP_TIME_WAIT,
} from './states.js';
import { COUNT_ACTIVE, COUNT_INACTIVE, COUNT_NONE, COUNT_PERSIST, type ConnTable } from './table.js';

const PROTO_TCP = 6, PROTO_UDP = 17, PROTO_SCTP = 132;

/** The sync sysctls the data plane follows (net.ipv4.vs.sync_*; the kernel's defaults). */
export interface SyncSettings {
  /** sync_version: 0 or 1. */
  version: number;
  /** sync_threshold "T P". */
  threshold: number;
  period: number;
  /** sync_refresh_period, seconds (0: off). */
  refreshPeriod: number;
  /** sync_retries 0..3. */
  retries: number;
  /** sync_persist_mode: for persistent services sync only the templates. */
  persistMode: boolean;
}

export const SYNC_DEFAULTS: Readonly<SyncSettings> = { version: 1, threshold: 3, period: 50, refreshPeriod: 0, retries: 0, persistMode: false };

/** Jiffies as the kernel rounds sync_endtime (HZ 250: 4 ms each; rounded down to 4 of them). */
const SYNC_END_MS = 16;

/** The longest timeout a synced entry may have (the kernel's MAX_SCHEDULE_TIMEOUT/HZ is larger; this is 2^31 ms). */
const MAX_TIMEOUT_S = Math.floor(0x7fffffff / 1000);

/** Template timeout on a v0 backup, or a v1 record without one (ip_vs_proc_conn). */
const TEMPLATE_DEFAULT_S = 180;

// ------------------------------------------------------------------ the record

/**
 * One entry as it crosses between data plane and sync plugin, big-endian:
 * [0] af 4|6, [1] protocol, [2..3] state, [4..7] flags (HASHED clear),
 * [8..9] cport, [10..11] vport, [12..13] dport, [14..15] 0, [16..19] fwmark,
 * [20..23] timeout in seconds (the state's whole timeout), [24..39] caddr,
 * [40..55] vaddr, [56..71] daddr (IPv4 in the first 4 bytes of each).
 */
export const SYNC_REC = 72;

/** Records collected by a master data plane until the host takes them. */
export class SyncOutbox {
  private buf = new Uint8Array(SYNC_REC * 64);
  private dv = new DataView(this.buf.buffer);
  count = 0;
  /** Records not kept because the host did not take them in time (bounded memory). */
  dropped = 0;
  constructor(private readonly max = 65_536) {}

  /** The records so far, in a buffer of their own (for postMessage's transfer list); the box is emptied. */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.count * SYNC_REC);
    this.count = 0;
    return out;
  }

  add(t: ConnTable, e: number): void {
    if (this.count >= this.max) { this.dropped++; return; }
    if ((this.count + 1) * SYNC_REC > this.buf.length) {
      const b = new Uint8Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
      this.dv = new DataView(b.buffer);
    }
    writeRecord(t, e, this.dv, this.count * SYNC_REC);
    this.count++;
  }
}

function writeRecord(t: ConnTable, e: number, dv: DataView, at: number): void {
  const s = t.s;
  const v6 = s.af[e] === AF_INET6;
  dv.setUint8(at, v6 ? 6 : 4);
  dv.setUint8(at + 1, s.proto[e]!);
  dv.setUint16(at + 2, s.state[e]!);
  dv.setUint32(at + 4, s.flags[e]! & ~CF_HASHED);
  dv.setUint16(at + 8, s.cport[e]!);
  dv.setUint16(at + 10, s.vport[e]!);
  dv.setUint16(at + 12, s.dport[e]!);
  dv.setUint16(at + 14, 0);
  dv.setUint32(at + 16, s.fwmark[e]!);
  dv.setUint32(at + 20, Math.floor(s.timeout[e]! / 1000));
  for (let which = 0; which < 3; which++) {
    const o = at + 24 + which * 16;
    for (let i = 0; i < 4; i++) dv.setUint32(o + i * 4, v6 || i === 0 ? s.addrWord(e, which, i) : 0);
  }
}

// ------------------------------------------------------------------ master: what to send (§4)

/** The entry's sync bookkeeping at creation: nothing sent, last_sync_end = now rounded down. */
export function syncInit(t: ConnTable, e: number): void {
  const s = t.s;
  s.syncOld[e] = 0;
  s.syncEnd[e] = Math.floor(s.now / SYNC_END_MS) * SYNC_END_MS;
  s.syncRetries[e] = 0;
}

const tcpSyncable = (st: number): boolean =>
  st === TCP_ESTABLISHED || st === TCP_FIN_WAIT || st === TCP_CLOSE || st === TCP_CLOSE_WAIT || st === TCP_TIME_WAIT;
const sctpSyncable = (st: number): boolean =>
  st === SCTP_S_ESTABLISHED || st === SCTP_S_SHUTDOWN_SENT || st === SCTP_S_SHUTDOWN_RECEIVED || st === SCTP_S_SHUTDOWN_ACK_SENT || st === SCTP_S_CLOSED;

/** in_persistence: is a template up `e`'s control chain (an FTP data connection under its control connection is not)? */
function inPersistence(t: ConnTable, e: number): boolean {
  const s = t.s;
  for (let c = s.control[e]!, hops = 0; c >= 0 && hops < 8; c = s.control[c]!, hops++) if (s.flags[c]! & CF_TEMPLATE) return true;
  return false;
}

/** ip_vs_sync_conn_needed: whether entry `e` is reported now, its inbound packet count being `pkts`. */
export function syncNeeded(t: ConnTable, e: number, pkts: number, o: SyncSettings): boolean {
  const s = t.s;
  const flags = s.flags[e]!, proto = s.proto[e]!, state = s.state[e]!;
  // `force` (a state change) only matters to the kernel when its atomic update of
  // sync_endtime races another CPU; one thread owns an entry here, so it always succeeds
  let send = false;
  if (flags & CF_TEMPLATE) { /* templates: no state rule */ }
  else if (o.persistMode && inPersistence(t, e)) return false;
  else if (proto === PROTO_TCP || proto === PROTO_SCTP) {
    if (!(proto === PROTO_TCP ? tcpSyncable(state) : sctpSyncable(state))) return false;
    const established = proto === PROTO_TCP ? TCP_ESTABLISHED : SCTP_S_ESTABLISHED;
    if (state !== s.syncOld[e] && state !== established) send = true;
  }
  const timeoutMs = s.timeout[e]!;
  let newEnd = Math.floor((s.now + timeoutMs) / SYNC_END_MS) * SYNC_END_MS;
  let retries = 0;
  if (!send) {
    const R = o.refreshPeriod * 1000;
    if (R > 0) {
      const diff = newEnd - s.syncEnd[e]!;
      if (Math.abs(diff) < Math.min(R, Math.max(timeoutMs / 2, 10_000))) {
        const done = s.syncRetries[e]!;
        if (done >= o.retries) return false;
        if (s.now < s.syncEnd[e]! - timeoutMs + R / 8) return false;
        retries = done + 1;
      }
    }
    if (o.period > 0) {
      if (!(flags & CF_TEMPLATE) && pkts % o.period !== o.threshold) return false;
    } else if (R <= 0 && pkts !== o.threshold) return false;
  }
  s.syncOld[e] = state;
  s.syncEnd[e] = newEnd;
  s.syncRetries[e] = retries;
  return true;
}

/**
 * ip_vs_sync_conn (v1) / ip_vs_sync_conn_v0, after an inbound packet of `e`
 * (its counter already counted) or when an expiring controller is kept
 * (`pkts` = the threshold): the entry and, up its control chain, its
 * controllers, into `out`.
 */
export function syncConn(t: ConnTable, e: number, pkts: number, o: SyncSettings, out: SyncOutbox): void {
  const s = t.s;
  for (let cp = e, hops = 0; cp >= 0 && hops < 8; hops++) {
    const flags = s.flags[cp]!;
    if (o.version === 0) {
      // v0: IPv4 only; the controller only after the entry itself went out
      if (s.af[cp] !== AF_INET || (flags & CF_ONE_PACKET) || !syncNeeded(t, cp, pkts, o)) return;
      out.add(t, cp);
    } else if (!(hops === 0 && (flags & CF_ONE_PACKET)) && syncNeeded(t, cp, pkts, o)) {
      // v1 skips only the connection itself when one-packet (ip_vs_sync_conn's `goto control`); its controllers are evaluated as they are
      out.add(t, cp);
    }
    const ct = s.control[cp]!;
    if (ct < 0) return;
    if (s.flags[ct]! & CF_TEMPLATE) { s.inPkts[ct] = (s.inPkts[ct]! + 1) >>> 0; pkts = s.inPkts[ct]!; }
    else pkts = o.threshold;
    cp = ct;
  }
}

// ------------------------------------------------------------------ backup: installing what was received (§6)

/** What the backup needs of its table to bind a received entry. */
export interface SyncBinder {
  /**
   * The dest handle for (service, real server) in this replica's table, -1 when
   * none: `fwmark` non-zero looks among fwmark services first; then
   * (family, protocol, vaddr, vport); the real server by daddr and `dport`.
   */
  bind(af: number, proto: number, fwmark: number, vaddr: Uint32Array, vport: number, daddr: Uint32Array, dport: number): number;
  /** The flags a new entry to this dest takes (fwd method, NOOUTPUT, INACTIVE: ip_vs_dest conn_flags). */
  connFlags(h: number): number;
}

export interface SyncInstallCounts {
  created: number;
  updated: number;
  /** Outdated expiry notices (an inactive record for a connection now to another real server). */
  ignored: number;
  /** Entries created without a local service or real server (bound later, or never). */
  unbound: number;
  /** No room (maxConnections). */
  full: number;
  /** Records another worker owns (several workers). */
  notMine: number;
}

export const emptyInstallCounts = (): SyncInstallCounts => ({ created: 0, updated: 0, ignored: 0, unbound: 0, full: 0, notMine: 0 });

/** v1 keeps these received bits (IP_VS_CONN_F_BACKUP_MASK); v0 keeps all 16 but HASHED. */
const BACKUP_MASK = CF_FWD_MASK | CF_NOOUTPUT | CF_INACTIVE | CF_IN_SEQ | CF_OUT_SEQ | CF_NO_CPORT | CF_TEMPLATE;
const BACKUP_UPD_MASK = CF_INACTIVE | CF_IN_SEQ | CF_OUT_SEQ;

export interface InstallOptions {
  /** The version of the message the records came in (0: local timeouts, all 16 flag bits). */
  version: number;
  /** sync_threshold: a synced entry's inbound packet count. */
  threshold: number;
  /** Whether this replica handles the flow (several workers: the fanout's choice). */
  owns(af: number, proto: number, ca: Uint32Array, cport: number, va: Uint32Array, vport: number): boolean;
}

/**
 * ip_vs_proc_conn for each of `n` records in `recs`: creates or updates the
 * entries, flagged SYNC, bound to this director's own real servers where it
 * has them, with the received timeout (v1) or its own (v0; templates 180 s).
 */
export function installSynced(t: ConnTable, recs: Uint8Array, binder: SyncBinder, o: InstallOptions,
  counts: SyncInstallCounts = emptyInstallCounts()): SyncInstallCounts {
  const s = t.s;
  const dv = new DataView(recs.buffer, recs.byteOffset, recs.byteLength);
  const n = Math.floor(recs.byteLength / SYNC_REC);
  const ca = s.ca, va = s.va, da = s.da;
  for (let r = 0; r < n; r++) {
    const at = r * SYNC_REC;
    const af = dv.getUint8(at) === 6 ? AF_INET6 : AF_INET;
    const proto = dv.getUint8(at + 1), state = dv.getUint16(at + 2);
    const raw = dv.getUint32(at + 4);
    const cport = dv.getUint16(at + 8), vport = dv.getUint16(at + 10), dport = dv.getUint16(at + 12);
    // v0 cannot carry the mark (ip_vs_process_message_v0 passes 0)
    const fwmark = o.version === 0 ? 0 : dv.getUint32(at + 16), timeoutS = dv.getUint32(at + 20);
    for (let i = 0; i < 4; i++) {
      ca[i] = af === AF_INET6 || i === 0 ? dv.getUint32(at + 24 + i * 4) : 0;
      va[i] = af === AF_INET6 || i === 0 ? dv.getUint32(at + 40 + i * 4) : 0;
      da[i] = af === AF_INET6 || i === 0 ? dv.getUint32(at + 56 + i * 4) : 0;
    }
    const template = (raw & CF_TEMPLATE) !== 0;
    if (!o.owns(af, proto, ca, template ? 0 : cport, va, vport)) { counts.notMine++; continue; }
    let flags = o.version === 0 ? (raw & 0xffff & ~CF_HASHED) : (raw & BACKUP_MASK);
    flags |= CF_SYNC;
    // the entry's timeout: as sent (v1), else this director's for that state
    let timeoutMs: number;
    if (o.version !== 0 && timeoutS > 0) timeoutMs = Math.min(timeoutS, MAX_TIMEOUT_S) * 1000;
    else if (template) timeoutMs = TEMPLATE_DEFAULT_S * 1000;
    // a protocol without a timeout table here (AH/ESP): 180 s, as the kernel's 3*60*HZ
    else timeoutMs = t.timeouts.of(proto, state) || TEMPLATE_DEFAULT_S * 1000;

    let e = t.findIn(af, proto, cport, vport, template);
    if (e >= 0 && !template) {
      const sameDest = s.dport[e] === dport && sameAddr(t, e, 2, da, af);
      if (!sameDest) {
        if (flags & CF_INACTIVE) { counts.ignored++; continue; }   // an outdated expiry notice
        // ip_vs_conn_expire_now: the old entry goes at the next expiry pass; the new one, hashed later, is found first
        t.expireNow(e);
        e = -1;
      }
    }
    if (e >= 0) {
      // ip_vs_proc_conn on an existing entry: only the activity and sequence bits move
      const old = s.flags[e]!;
      const h = s.dest[e]!;
      if (!template && h >= 0 && ((old ^ flags) & CF_INACTIVE)) {
        if (flags & CF_INACTIVE) t.moveCount(h, COUNT_ACTIVE, COUNT_INACTIVE);
        else t.moveCount(h, COUNT_INACTIVE, COUNT_ACTIVE);
      }
      s.flags[e] = (old & ~BACKUP_UPD_MASK) | (flags & BACKUP_UPD_MASK);
      if (h < 0) bindNow(t, e, binder);
      counts.updated++;
    } else {
      const h = destFor(binder, af, proto, fwmark, va, vport, da, dport, flags);
      if (h >= 0) {
        // ip_vs_bind_dest for a synced entry: the method and NOOUTPUT are this director's, the activity as received
        let cf = binder.connFlags(h);
        if (proto !== PROTO_UDP) cf &= ~CF_ONE_PACKET;
        if (!template) cf &= ~CF_INACTIVE;
        flags = (flags & ~(CF_FWD_MASK | CF_NOOUTPUT)) | cf;
      }
      e = t.restoreEntry(af, proto, state, cport, vport, dport, flags | CF_HASHED, h, fwmark, timeoutMs, timeoutMs, o.threshold);
      if (e < 0) { counts.full++; continue; }
      if (h < 0) counts.unbound++;
      counts.created++;
    }
    s.state[e] = state;
    s.syncOld[e] = state;
    s.inPkts[e] = o.threshold;
    s.timeout[e] = timeoutMs;
    s.arm(e, s.now + timeoutMs);
    s.journal?.write(e);
  }
  return counts;
}

function sameAddr(t: ConnTable, e: number, which: number, reg: Uint32Array, af: number): boolean {
  const n = af === AF_INET6 ? 4 : 1;
  for (let i = 0; i < n; i++) if (t.s.addrWord(e, which, i) !== reg[i]) return false;
  return true;
}

/**
 * ip_vs_find_dest: the real server a synced entry binds to. For a fwmark
 * record of a non-NAT method the port tried first is 0; then the other of
 * (that port, dport ↔ 0), whatever the mark, as the kernel's `port ^ dport`.
 */
function destFor(b: SyncBinder, af: number, proto: number, fwmark: number, va: Uint32Array, vport: number,
  da: Uint32Array, dport: number, flags: number): number {
  const port = fwmark !== 0 && (flags & CF_FWD_MASK) !== CF_MASQ ? 0 : dport;
  const h = b.bind(af, proto, fwmark, va, vport, da, port);
  if (h >= 0 || (port ^ dport) === port) return h;
  return b.bind(af, proto, fwmark, va, vport, da, port ^ dport);
}

const bindVa = new Uint32Array(4), bindDa = new Uint32Array(4);

/**
 * ip_vs_try_bind_dest: an unbound synced entry meets its real server
 * (configured since): looked up with the entry's own vaddr, daddr, dport and
 * mark (a template's record may name another real server), bound, counted.
 */
function bindNow(t: ConnTable, e: number, b: SyncBinder): void {
  const s = t.s;
  const af = s.af[e]!, proto = s.proto[e]!;
  for (let i = 0; i < 4; i++) {
    bindVa[i] = af === AF_INET6 || i === 0 ? s.addrWord(e, 1, i) : 0;
    bindDa[i] = af === AF_INET6 || i === 0 ? s.addrWord(e, 2, i) : 0;
  }
  const h = destFor(b, af, proto, s.fwmark[e]!, bindVa, s.vport[e]!, bindDa, s.dport[e]!, s.flags[e]!);
  if (h < 0) return;
  let cf = b.connFlags(h);
  if (proto !== PROTO_UDP) cf &= ~CF_ONE_PACKET;
  const template = (s.flags[e]! & CF_TEMPLATE) !== 0;
  if (!template) cf &= ~CF_INACTIVE;
  s.flags[e] = (s.flags[e]! & ~(CF_FWD_MASK | CF_NOOUTPUT)) | cf;
  s.dest[e] = h;
  t.moveCount(h, COUNT_NONE, template ? COUNT_PERSIST : (s.flags[e]! & CF_INACTIVE) ? COUNT_INACTIVE : COUNT_ACTIVE);
}

// ------------------------------------------------------------------ records ↔ the contract's SyncConn

/** One entry as the plugin contract gives it to a sync plugin (core/plugin.ts SyncConn). */
export interface SyncConnFields {
  family: Family;
  protocol: number;
  flags: number;
  state: number;
  cport: number;
  vport: number;
  dport: number;
  fwmark: number;
  /** Seconds: the state's whole timeout (0: the receiver's own). */
  timeout: number;
  caddr: string;
  vaddr: string;
  daddr: string;
}

/** Records as objects. */
export function syncConnsOf(records: Uint8Array): SyncConnFields[] {
  const dv = new DataView(records.buffer, records.byteOffset, records.byteLength);
  const out: SyncConnFields[] = [];
  for (let at = 0; at + SYNC_REC <= records.byteLength; at += SYNC_REC) {
    const v6 = dv.getUint8(at) === 6;
    const addr = (o: number): string => (v6 ? bytesToIpv6(records.subarray(at + o, at + o + 16)) : u32ToIpv4(dv.getUint32(at + o)));
    out.push({
      family: v6 ? 'inet6' : 'inet', protocol: dv.getUint8(at + 1), state: dv.getUint16(at + 2), flags: dv.getUint32(at + 4),
      cport: dv.getUint16(at + 8), vport: dv.getUint16(at + 10), dport: dv.getUint16(at + 12), fwmark: dv.getUint32(at + 16),
      timeout: dv.getUint32(at + 20), caddr: addr(24), vaddr: addr(40), daddr: addr(56),
    });
  }
  return out;
}

/** Objects as records; one that is not a valid entry (a bad address, a field out of range) is left out and counted. */
export function recordsOf(conns: readonly SyncConnFields[]): { records: Uint8Array; invalid: number } {
  const buf = new Uint8Array(conns.length * SYNC_REC);
  const dv = new DataView(buf.buffer);
  let n = 0, invalid = 0;
  const u = (v: unknown, max: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
  for (const c of conns) {
    const v6 = c.family === 'inet6';
    const at = n * SYNC_REC;
    const put = (o: number, text: unknown): boolean => {
      if (typeof text !== 'string') return false;
      if (v6) { const b = ipv6ToBytes(text); if (!b) return false; buf.set(b, at + o); return true; }
      const w = ipv4ToU32(text);
      if (w === null) return false;
      dv.setUint32(at + o, w);
      return true;
    };
    if ((c.family !== 'inet' && !v6) || !u(c.protocol, 255) || !u(c.state, 0xffff) || !u(c.flags, 0xffffffff) || !u(c.cport, 0xffff)
      || !u(c.vport, 0xffff) || !u(c.dport, 0xffff) || !u(c.fwmark, 0xffffffff) || !u(c.timeout, 0xffffffff)
      || !put(24, c.caddr) || !put(40, c.vaddr) || !put(56, c.daddr)) {
      buf.fill(0, at, at + SYNC_REC);
      invalid++;
      continue;
    }
    dv.setUint8(at, v6 ? 6 : 4); dv.setUint8(at + 1, c.protocol); dv.setUint16(at + 2, c.state);
    dv.setUint32(at + 4, c.flags >>> 0); dv.setUint16(at + 8, c.cport); dv.setUint16(at + 10, c.vport); dv.setUint16(at + 12, c.dport);
    dv.setUint32(at + 16, c.fwmark >>> 0); dv.setUint32(at + 20, c.timeout >>> 0);
    n++;
  }
  return { records: buf.subarray(0, n * SYNC_REC), invalid };
}

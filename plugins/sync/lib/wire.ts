// IPVS connection-sync wire format, protocol versions 1 and 0
// (the kernel's ip_vs_sync.c: sync.md §2, §3, §6). Pure codec: no sockets, never throws on input.
//
// Decoded records keep the flag word exactly as received (v1: 32 bits, v0: 16
// bits) so a message re-encodes byte for byte; the receiver masks
// (SYNC_BACKUP_MASK_V1 / _V0) are applied by the backup's install (core/conn/sync.ts installSynced).

import { addrFromBytes, addrToBytes } from './addr.js';

// ---- constants (include/uapi/linux/ip_vs.h, include/net/ip_vs.h) ----------

export const IP_VS_CONN_F_MASQ = 0x0000;
export const IP_VS_CONN_F_LOCALNODE = 0x0001;
export const IP_VS_CONN_F_TUNNEL = 0x0002;
export const IP_VS_CONN_F_DROUTE = 0x0003;
export const IP_VS_CONN_F_BYPASS = 0x0004;
export const IP_VS_CONN_F_FWD_MASK = 0x0007;
export const IP_VS_CONN_F_SYNC = 0x0020;
export const IP_VS_CONN_F_HASHED = 0x0040;
export const IP_VS_CONN_F_NOOUTPUT = 0x0080;
export const IP_VS_CONN_F_INACTIVE = 0x0100;
export const IP_VS_CONN_F_OUT_SEQ = 0x0200;
export const IP_VS_CONN_F_IN_SEQ = 0x0400;
export const IP_VS_CONN_F_SEQ_MASK = 0x0600;
export const IP_VS_CONN_F_NO_CPORT = 0x0800;
export const IP_VS_CONN_F_TEMPLATE = 0x1000;
export const IP_VS_CONN_F_ONE_PACKET = 0x2000;
export const IP_VS_CONN_F_NFCT = 0x10000;

/** v1 receiver keeps these received bits (IP_VS_CONN_F_BACKUP_MASK), then adds SYNC. */
export const SYNC_BACKUP_MASK_V1 =
  IP_VS_CONN_F_FWD_MASK | IP_VS_CONN_F_NOOUTPUT | IP_VS_CONN_F_INACTIVE | IP_VS_CONN_F_SEQ_MASK |
  IP_VS_CONN_F_NO_CPORT | IP_VS_CONN_F_TEMPLATE;
/** v0 receiver keeps the low 16 bits except HASHED, then adds SYNC. */
export const SYNC_BACKUP_MASK_V0 = 0xffff & ~IP_VS_CONN_F_HASHED;
/** Bits an update of an existing entry takes from the record (IP_VS_CONN_F_BACKUP_UPD_MASK). */
export const SYNC_BACKUP_UPD_MASK = IP_VS_CONN_F_INACTIVE | IP_VS_CONN_F_SEQ_MASK;

/** Received flags as the kernel receiver keeps them (§5). */
export function receivedFlags(version: SyncVersion, wireFlags: number): number {
  const mask = version === 1 ? SYNC_BACKUP_MASK_V1 : SYNC_BACKUP_MASK_V0;
  return ((wireFlags & mask) | IP_VS_CONN_F_SYNC) >>> 0;
}

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ESP = 50;
export const IPPROTO_AH = 51;
export const IPPROTO_SCTP = 132;

export const TCP_S = {
  NONE: 0, ESTABLISHED: 1, SYN_SENT: 2, SYN_RECV: 3, FIN_WAIT: 4, TIME_WAIT: 5,
  CLOSE: 6, CLOSE_WAIT: 7, LAST_ACK: 8, LISTEN: 9, SYNACK: 10,
} as const;
/**
 * SCTP states as the kernel numbers them since its SCTP state machine was
 * rewritten (Linux 3.10; enum ip_vs_sctp_states, 14 states, as core/conn/states.ts
 * and the connection listing use). sync.md §5 lists an older 12-state
 * numbering, read from source and not in its captures; the receiver's check
 * (state < IP_VS_SCTP_S_LAST) follows the kernel's 14.
 */
export const SCTP_S = {
  NONE: 0, INIT1: 1, INIT: 2, COOKIE_SENT: 3, COOKIE_REPLIED: 4, COOKIE_WAIT: 5, COOKIE: 6, COOKIE_ECHOED: 7,
  ESTABLISHED: 8, SHUTDOWN_SENT: 9, SHUTDOWN_RECEIVED: 10, SHUTDOWN_ACK_SENT: 11, REJECTED: 12, CLOSED: 13,
} as const;
export const TEMPLATE_S = { NONE: 0, ASSURED: 1 } as const;

/**
 * Number of states of a protocol the receiver knows, or null when the
 * protocol is unsupported. ESP/AH count as supported with one state, as in a
 * kernel built with CONFIG_IP_VS_PROTO_AH_ESP (Debian's is).
 */
export function protoNumStates(protocol: number): number | null {
  switch (protocol) {
    case IPPROTO_TCP: return 11;
    case IPPROTO_UDP: return 1;
    case IPPROTO_SCTP: return 14;
    case IPPROTO_ESP: case IPPROTO_AH: return 1;
    default: return null;
  }
}

/**
 * sync_maxlen (§1): `given` clamped to [1, 65535 - hdr] (master) or
 * [1024, 65535 - hdr] (backup); default 1500 - hdr (master) or
 * clamp(mtu, 1500, 65535) - hdr (backup); hdr = 28 (IPv4 group) or 48 (IPv6).
 * The backup passes min(datagram length, this) to decodeMessage as the kernel
 * reads no more, so a longer datagram fails the size check.
 */
export function syncMaxlen(role: 'master' | 'backup', opts: { given?: number; mtu?: number; ipv6?: boolean } = {}): number {
  const hdr = opts.ipv6 ? 48 : 28;
  const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
  if (opts.given !== undefined && opts.given > 0) return clamp(opts.given, role === 'master' ? 1 : 1024, 65535 - hdr);
  return role === 'master' ? 1500 - hdr : clamp(opts.mtu ?? 1500, 1500, 65535) - hdr;
}

export const SYNC_MCAST_GROUP = '224.0.0.81';
export const SYNC_PORT = 8848;
export const SYNC_HDR_V1 = 8;
export const SYNC_HDR_V0 = 4;
export const SYNC_V1_REC4 = 36;
export const SYNC_V1_REC6 = 72;
export const SYNC_V0_REC = 24;
export const SYNC_V0_REC_SEQ = 48;
export const SYNC_OPT_SEQ_DATA = 1;
export const SYNC_OPT_PE_DATA = 2;
export const SYNC_OPT_PE_NAME = 3;
/** Option types with this bit may be skipped by receivers that do not know them. */
export const SYNC_OPT_F_PARAM = 0x40;
export const SYNC_PE_DATA_MAX = 255;
export const SYNC_PE_NAME_MAX = 16;
/** Persistence engines a receiver knows by default (the kernel ships ip_vs_pe_sip). */
export const SYNC_KNOWN_PE: readonly string[] = ['sip'];

// ---- records ---------------------------------------------------------------

export type SyncVersion = 0 | 1;

/** One direction's TCP sequence adjustment (struct ip_vs_seq). */
export interface SyncSeq {
  /** u32 */
  initSeq: number;
  /** s32 */
  delta: number;
  /** s32 */
  prevDelta: number;
}

export interface SyncOption {
  type: number;
  data: Uint8Array;
}

/**
 * A connection (or persistence template) as carried in a sync message.
 * Addresses are canonical text: IPv4 dotted quad, IPv6 RFC 5952 (lowercase,
 * compressed), so they compare with ===. For fwmark templates vaddr is the mark
 * as an address (mark 1 → 0.0.0.1).
 */
export interface SyncConn {
  af: 4 | 6;
  protocol: number;
  /** u32 connection flags as on the wire (v0: 16 bits). */
  flags: number;
  state: number;
  cport: number;
  vport: number;
  dport: number;
  /** u32; always 0 in v0. */
  fwmark: number;
  /** State timeout in seconds (u32); always 0 in v0 (the backup uses its own). */
  timeout: number;
  caddr: string;
  vaddr: string;
  daddr: string;
  seq?: { in: SyncSeq; out: SyncSeq };
  /** Persistence-engine data (e.g. SIP Call-ID), 1..255 bytes; v1 only. */
  peData?: Uint8Array;
  /** Engine name, 1..16 bytes (e.g. "sip"); sent only with peData. */
  peName?: string;
  /** v1 options with the 0x40 "optional" bit that this codec does not know; kept, re-encoded last. */
  unknownOptions?: SyncOption[];
}

export type EncodeErrorCode =
  | 'bad-address' | 'v0-ipv6' | 'field-range' | 'pe-data-length' | 'pe-name-length'
  | 'pe-incomplete' | 'option-bad' | 'record-too-long' | 'message-too-long';
export interface EncodeError {
  code: EncodeErrorCode;
  message: string;
}
export type EncodeResult = { ok: true; bytes: Uint8Array } | { ok: false; error: EncodeError };

const fail = (code: EncodeErrorCode, message: string): { ok: false; error: EncodeError } =>
  ({ ok: false, error: { code, message } });

function checkRange(c: SyncConn): string | null {
  const u = (v: number, max: number): boolean => Number.isInteger(v) && v >= 0 && v <= max;
  if (!u(c.protocol, 0xff)) return `protocol ${c.protocol} is not 0..255`;
  if (!u(c.state, 0xffff)) return `state ${c.state} is not 0..65535`;
  for (const [n, v] of [['cport', c.cport], ['vport', c.vport], ['dport', c.dport]] as const) {
    if (!u(v, 0xffff)) return `${n} ${v} is not 0..65535`;
  }
  if (!u(c.flags, 0xffffffff)) return `flags ${c.flags} is not a u32`;
  if (!u(c.fwmark, 0xffffffff)) return `fwmark ${c.fwmark} is not a u32`;
  if (!u(c.timeout, 0xffffffff)) return `timeout ${c.timeout} is not a u32`;
  if (c.seq) {
    for (const s of [c.seq.in, c.seq.out]) {
      if (!u(s.initSeq, 0xffffffff)) return `seq initSeq ${s.initSeq} is not a u32`;
      for (const d of [s.delta, s.prevDelta]) {
        if (!Number.isInteger(d) || d < -0x80000000 || d > 0x7fffffff) return `seq delta ${d} is not an s32`;
      }
    }
  }
  return null;
}

function addrs(c: SyncConn): { ok: true; a: Uint8Array[] } | { ok: false; error: EncodeError } {
  const a: Uint8Array[] = [];
  for (const [n, s] of [['caddr', c.caddr], ['vaddr', c.vaddr], ['daddr', c.daddr]] as const) {
    const b = addrToBytes(c.af, s);
    if (!b) return fail('bad-address', `${n} "${s}" is not an IPv${c.af} address`);
    a.push(b);
  }
  return { ok: true, a };
}

function writeSeq(v: DataView, off: number, s: SyncSeq, le: boolean): void {
  v.setUint32(off, s.initSeq >>> 0, le);
  v.setInt32(off + 4, s.delta | 0, le);
  v.setInt32(off + 8, s.prevDelta | 0, le);
}

const ZERO_SEQ: SyncSeq = { initSeq: 0, delta: 0, prevDelta: 0 };

/** One record without padding (v1: ver_size length; v0: 24 or 48 bytes). */
export function encodeRecord(version: SyncVersion, c: SyncConn): EncodeResult {
  const range = checkRange(c);
  if (range) return fail('field-range', range);
  const ad = addrs(c);
  if (!ad.ok) return ad;
  const [ca, va, da] = ad.a as [Uint8Array, Uint8Array, Uint8Array];
  // The kernel sends the SEQ block whenever the flags say the conn has one.
  const withSeq = (c.flags & IP_VS_CONN_F_SEQ_MASK) !== 0 || c.seq !== undefined;
  const seq = c.seq ?? { in: ZERO_SEQ, out: ZERO_SEQ };

  if (version === 0) {
    if (c.af !== 4) return fail('v0-ipv6', 'sync protocol v0 carries IPv4 connections only');
    const v0seq = (c.flags & IP_VS_CONN_F_SEQ_MASK) !== 0; // v0 keys the block off the flags alone
    const out = new Uint8Array(v0seq ? SYNC_V0_REC_SEQ : SYNC_V0_REC);
    const v = new DataView(out.buffer);
    out[1] = c.protocol;
    v.setUint16(2, c.cport);
    v.setUint16(4, c.vport);
    v.setUint16(6, c.dport);
    out.set(ca, 8); out.set(va, 12); out.set(da, 16);
    v.setUint16(20, c.flags & 0xffff & ~IP_VS_CONN_F_HASHED);
    v.setUint16(22, c.state);
    // Quirk (§3): the v0 SEQ block is the sender's host order; x86 senders are little-endian.
    if (v0seq) { writeSeq(v, 24, seq.in, true); writeSeq(v, 36, seq.out, true); }
    return { ok: true, bytes: out };
  }

  const fixed = c.af === 6 ? SYNC_V1_REC6 : SYNC_V1_REC4;
  const opts: Uint8Array[] = [];
  if (withSeq) {
    const o = new Uint8Array(26);
    const v = new DataView(o.buffer);
    o[0] = SYNC_OPT_SEQ_DATA; o[1] = 24;
    writeSeq(v, 2, seq.in, false); writeSeq(v, 14, seq.out, false);
    opts.push(o);
  }
  if (c.peData !== undefined || c.peName !== undefined) {
    if (c.peData === undefined || c.peName === undefined) {
      return fail('pe-incomplete', 'persistence-engine data and name go together');
    }
    if (c.peData.length < 1 || c.peData.length > SYNC_PE_DATA_MAX) {
      return fail('pe-data-length', `PE data is ${c.peData.length} bytes, must be 1..${SYNC_PE_DATA_MAX}`);
    }
    const name = Uint8Array.from(c.peName, (ch) => ch.charCodeAt(0) & 0xff);
    if (name.length < 1 || name.length > SYNC_PE_NAME_MAX) {
      return fail('pe-name-length', `PE name "${c.peName}" is ${name.length} bytes, must be 1..${SYNC_PE_NAME_MAX}`);
    }
    opts.push(Uint8Array.of(SYNC_OPT_PE_DATA, c.peData.length), c.peData);
    opts.push(Uint8Array.of(SYNC_OPT_PE_NAME, name.length), name);
  }
  for (const o of c.unknownOptions ?? []) {
    if (!Number.isInteger(o.type) || o.type < 0 || o.type > 0xff || o.data.length < 1 || o.data.length > 0xff) {
      return fail('option-bad', `option type ${o.type} with ${o.data.length} bytes cannot be encoded`);
    }
    opts.push(Uint8Array.of(o.type, o.data.length), o.data);
  }
  const len = fixed + opts.reduce((n, o) => n + o.length, 0);
  if (len > 0x0fff) return fail('record-too-long', `record of ${len} bytes exceeds the 12-bit length field`);
  const out = new Uint8Array(len);
  const v = new DataView(out.buffer);
  out[0] = c.af === 6 ? 1 : 0;
  out[1] = c.protocol;
  v.setUint16(2, len); // version nibble 0
  v.setUint32(4, (c.flags & ~IP_VS_CONN_F_HASHED) >>> 0);
  v.setUint16(8, c.state);
  v.setUint16(10, c.cport);
  v.setUint16(12, c.vport);
  v.setUint16(14, c.dport);
  v.setUint32(16, c.fwmark);
  v.setUint32(20, c.timeout);
  const al = ca.length;
  out.set(ca, 24); out.set(va, 24 + al); out.set(da, 24 + 2 * al);
  let off = fixed;
  for (const o of opts) { out.set(o, off); off += o.length; }
  return { ok: true, bytes: out };
}

// ---- message builder -------------------------------------------------------

/**
 * One message being filled, as the master's current sync buffer. Room is
 * max(maxlen, header + first record) like ip_vs_sync_buff_create, so a record
 * always fits an empty builder.
 */
export class SyncMessageBuilder {
  readonly version: SyncVersion;
  readonly syncid: number;
  private n = 0;
  private readonly buf: Uint8Array;
  private head: number;

  constructor(version: SyncVersion, syncid: number, maxlen: number, firstRecordLen = 0) {
    this.version = version;
    this.syncid = syncid & 0xff;
    const hdr = version === 1 ? SYNC_HDR_V1 : SYNC_HDR_V0;
    this.buf = new Uint8Array(Math.min(0xffff, Math.max(maxlen, hdr + firstRecordLen)));
    this.head = hdr;
  }

  get size(): number { return this.head; }
  /** Records appended (not wrapped; the header's nr_conns is this mod 256). */
  get count(): number { return this.n; }
  /** The header's 8-bit nr_conns (wraps like the kernel's). */
  get nrConns(): number { return this.n & 0xff; }

  private pad(): number { return this.version === 1 ? (4 - (this.head & 3)) & 3 : 0; }

  /** Whether a record of this length (plus v1 alignment) fits. */
  fits(recordLen: number): boolean { return this.head + this.pad() + recordLen <= this.buf.length; }

  /** Append an encoded record; false (nothing written) when it does not fit. */
  append(record: Uint8Array): boolean {
    if (!this.fits(record.length)) return false;
    this.head += this.pad(); // pad bytes are already zero
    this.buf.set(record, this.head);
    this.head += record.length;
    this.n++;
    return true;
  }

  /** The finished datagram (a copy; the builder may be appended to afterwards). */
  bytes(): Uint8Array {
    const out = this.buf.slice(0, this.head);
    const v = new DataView(out.buffer);
    if (this.version === 1) {
      out[0] = 0; out[1] = this.syncid; v.setUint16(2, this.head);
      out[4] = this.nrConns; out[5] = 1; v.setUint16(6, 0);
    } else {
      out[0] = this.nrConns; out[1] = this.syncid; v.setUint16(2, this.head);
    }
    return out;
  }
}

/** A whole message from a list of records (no size limit other than the 16-bit size field). */
export function encodeMessage(version: SyncVersion, syncid: number, conns: readonly SyncConn[]): EncodeResult {
  const b = new SyncMessageBuilder(version, syncid, 0xffff);
  for (const [i, c] of conns.entries()) {
    const r = encodeRecord(version, c);
    if (!r.ok) return fail(r.error.code, `record ${i}: ${r.error.message}`);
    if (!b.append(r.bytes)) return fail('message-too-long', `record ${i} does not fit the 65535-byte size field`);
  }
  return { ok: true, bytes: b.bytes() };
}

// ---- decoding (§6) ---------------------------------------------------------

/** Whole datagram rejected. */
export type SyncRejectReason = 'header-too-short' | 'bogus-size' | 'syncid-mismatch';
/** Record at which the rest of the message was dropped (records before it stay). */
export type SyncDropReason =
  | 'record-too-small' // fewer than 36 bytes left (v1) / record past the end (v0)
  | 'record-past-end' // ver_size length runs past the datagram
  | 'record-version' // ver_size version nibble not 0
  | 'record-type' // type byte even and non-zero
  | 'record-short' // length below the fixed part for its type
  | 'option-truncated' // option header or data runs past the record, or length 0
  | 'option-seq' // SEQ_DATA length != 24, or repeated
  | 'option-pe-data' // PE_DATA repeated
  | 'option-pe-name' // PE_NAME > 16 bytes, or repeated
  | 'v0-seq-past-end'; // v0 SEQ block runs past the datagram
/** One record skipped, the next one still parsed. */
export type SyncSkipReason =
  | 'ipv6-unsupported' | 'unknown-option' | 'unsupported-protocol' | 'bad-state'
  | 'pe-data-without-name' | 'unknown-pe';

export interface SyncDecodeOptions {
  /** Accept IPv6 records (default true). */
  ipv6?: boolean;
  /** Persistence engines this backup has (default SYNC_KNOWN_PE). */
  peNames?: readonly string[];
}

export type SyncDecodeResult =
  | {
    ok: true;
    version: SyncVersion;
    syncid: number;
    /** The header's 8-bit record count. */
    nrConns: number;
    conns: SyncConn[];
    skipped: Partial<Record<SyncSkipReason, number>>;
    /** Set when the rest of the message was dropped at record index `at`. */
    dropped: { reason: SyncDropReason; at: number } | null;
    /** Records of nr_conns never looked at because of `dropped` (conns + skipped + this = nrConns). */
    unprocessed: number;
  }
  | { ok: false; reason: SyncRejectReason };

/** Operator-readable text for every decode outcome, for logs and counters. */
export const SYNC_DECODE_TEXT: Record<SyncRejectReason | SyncDropReason | SyncSkipReason, string> = {
  'header-too-short': 'message header too short',
  'bogus-size': 'bogus message size (header size != datagram length)',
  'syncid-mismatch': 'syncid differs from ours',
  'record-too-small': 'rest of message dropped: too small for a record',
  'record-past-end': 'rest of message dropped: record length runs past the datagram',
  'record-version': 'rest of message dropped: unknown record version',
  'record-type': 'rest of message dropped: unknown record type',
  'record-short': 'rest of message dropped: record shorter than its fixed part',
  'option-truncated': 'rest of message dropped: option of length 0 or past the record end',
  'option-seq': 'rest of message dropped: bad or repeated SEQ_DATA option',
  'option-pe-data': 'rest of message dropped: repeated PE_DATA option',
  'option-pe-name': 'rest of message dropped: PE_NAME too long or repeated',
  'v0-seq-past-end': 'rest of message dropped: v0 sequence block past the datagram',
  'ipv6-unsupported': 'record skipped: IPv6 not supported',
  'unknown-option': 'record skipped: unknown mandatory option',
  'unsupported-protocol': 'record skipped: unsupported protocol',
  'bad-state': 'record skipped: state out of range for the protocol',
  'pe-data-without-name': 'record skipped: PE data without PE name',
  'unknown-pe': 'record skipped: unknown persistence engine',
};

type RecOutcome =
  | { kind: 'conn'; conn: SyncConn }
  | { kind: 'skip'; reason: SyncSkipReason }
  | { kind: 'drop'; reason: SyncDropReason };

function readSeq(v: DataView, off: number, le: boolean): SyncSeq {
  return { initSeq: v.getUint32(off, le), delta: v.getInt32(off + 4, le), prevDelta: v.getInt32(off + 8, le) };
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return s;
}

/** Protocol/state checks common to both versions (templates are not checked). */
function checkProtoState(flags: number, protocol: number, state: number): SyncSkipReason | null {
  if (flags & IP_VS_CONN_F_TEMPLATE) return null;
  const n = protoNumStates(protocol);
  if (n === null) return 'unsupported-protocol';
  return state >= n ? 'bad-state' : null;
}

/** ip_vs_proc_sync_conn: one v1 record in buf[p, end). */
function decodeV1Record(buf: Uint8Array, v: DataView, p: number, end: number, o: Required<SyncDecodeOptions>): RecOutcome {
  const type = buf[p]!;
  let af: 4 | 6;
  if (type & 1) {
    af = 6;
    if (!o.ipv6) return { kind: 'skip', reason: 'ipv6-unsupported' };
  } else if (type === 0) {
    af = 4;
  } else {
    return { kind: 'drop', reason: 'record-type' };
  }
  const alen = af === 6 ? 16 : 4;
  const fixed = af === 6 ? SYNC_V1_REC6 : SYNC_V1_REC4;
  if (p + fixed > end) return { kind: 'drop', reason: 'record-short' };

  let seq: SyncConn['seq'];
  let peData: Uint8Array | undefined;
  let peName: string | undefined;
  const unknown: SyncOption[] = [];
  let q = p + fixed;
  while (q < end) {
    if (q + 2 > end) return { kind: 'drop', reason: 'option-truncated' };
    const ptype = buf[q]!, plen = buf[q + 1]!;
    q += 2;
    if (plen === 0 || q + plen > end) return { kind: 'drop', reason: 'option-truncated' };
    // The kernel switches on the type without the optional bit: 0x41 is SEQ_DATA too.
    switch (ptype & ~SYNC_OPT_F_PARAM) {
      case SYNC_OPT_SEQ_DATA:
        if (plen !== 24 || seq) return { kind: 'drop', reason: 'option-seq' };
        seq = { in: readSeq(v, q, false), out: readSeq(v, q + 12, false) };
        break;
      case SYNC_OPT_PE_DATA:
        // plen is one byte, so it never exceeds the 255-byte limit.
        if (peData) return { kind: 'drop', reason: 'option-pe-data' };
        peData = buf.slice(q, q + plen);
        break;
      case SYNC_OPT_PE_NAME:
        if (plen > SYNC_PE_NAME_MAX || peName !== undefined) return { kind: 'drop', reason: 'option-pe-name' };
        peName = latin1(buf.subarray(q, q + plen));
        break;
      default:
        // Unknown mandatory option: the record is skipped at once, later options unread.
        if (!(ptype & SYNC_OPT_F_PARAM)) return { kind: 'skip', reason: 'unknown-option' };
        unknown.push({ type: ptype, data: buf.slice(q, q + plen) });
    }
    q += plen;
  }

  const flags = v.getUint32(p + 4);
  const protocol = buf[p + 1]!;
  const state = v.getUint16(p + 8);
  const bad = checkProtoState(flags, protocol, state);
  if (bad) return { kind: 'skip', reason: bad };
  // ip_vs_conn_fill_param_sync: a PE name alone is ignored.
  if (peData) {
    if (peName === undefined) return { kind: 'skip', reason: 'pe-data-without-name' };
    if (!o.peNames.includes(peName)) return { kind: 'skip', reason: 'unknown-pe' };
  }

  const a = p + 24;
  const conn: SyncConn = {
    af, protocol, flags, state,
    cport: v.getUint16(p + 10), vport: v.getUint16(p + 12), dport: v.getUint16(p + 14),
    fwmark: v.getUint32(p + 16), timeout: v.getUint32(p + 20),
    caddr: addrFromBytes(buf.subarray(a, a + alen)),
    vaddr: addrFromBytes(buf.subarray(a + alen, a + 2 * alen)),
    daddr: addrFromBytes(buf.subarray(a + 2 * alen, a + 3 * alen)),
  };
  if (seq) conn.seq = seq;
  if (peData) { conn.peData = peData; conn.peName = peName!; }
  if (unknown.length) conn.unknownOptions = unknown;
  return { kind: 'conn', conn };
}

/**
 * Parse one received datagram as the backup does (§6). `len` is the number of
 * bytes received (buf may be a larger receive buffer); mySyncid 0 accepts all.
 * Never throws.
 */
export function decodeMessage(buf: Uint8Array, len: number, mySyncid: number, opts: SyncDecodeOptions = {}): SyncDecodeResult {
  const o: Required<SyncDecodeOptions> = { ipv6: opts.ipv6 ?? true, peNames: opts.peNames ?? SYNC_KNOWN_PE };
  const n = Math.max(0, Math.min(Math.floor(Number.isFinite(len) ? len : 0), buf.length));
  const b = buf.subarray(0, n);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (n < SYNC_HDR_V0) return { ok: false, reason: 'header-too-short' };
  if (v.getUint16(2) !== n) return { ok: false, reason: 'bogus-size' };
  if (mySyncid !== 0 && b[1] !== mySyncid) return { ok: false, reason: 'syncid-mismatch' };

  const conns: SyncConn[] = [];
  const skipped: Partial<Record<SyncSkipReason, number>> = {};
  const skip = (r: SyncSkipReason): void => { skipped[r] = (skipped[r] ?? 0) + 1; };
  // A 4..7-byte datagram has no v1 header bytes 5..7: it can only be v0.
  const isV1 = n >= SYNC_HDR_V1 && b[5] === 1 && b[0] === 0 && v.getUint16(6) === 0;
  const version: SyncVersion = isV1 ? 1 : 0;
  const nrConns = isV1 ? b[4]! : b[0]!;
  const done = (dropped: { reason: SyncDropReason; at: number } | null): SyncDecodeResult =>
    ({ ok: true, version, syncid: b[1]!, nrConns, conns, skipped, dropped, unprocessed: dropped ? nrConns - dropped.at : 0 });

  if (isV1) {
    let p = SYNC_HDR_V1;
    for (let i = 0; i < nrConns; i++) {
      if (p + SYNC_V1_REC4 > n) return done({ reason: 'record-too-small', at: i });
      const verSize = v.getUint16(p + 2);
      const size = verSize & 0x0fff;
      if (p + size > n) return done({ reason: 'record-past-end', at: i });
      if (verSize >> 12) return done({ reason: 'record-version', at: i });
      const r = decodeV1Record(b, v, p, p + size, o);
      if (r.kind === 'drop') return done({ reason: r.reason, at: i });
      if (r.kind === 'skip') skip(r.reason); else conns.push(r.conn);
      p += (size + 3) & ~3;
    }
    return done(null);
  }

  let p = SYNC_HDR_V0;
  for (let i = 0; i < nrConns; i++) {
    if (p + SYNC_V0_REC > n) return done({ reason: 'record-too-small', at: i });
    const flags = v.getUint16(p + 20);
    let seq: SyncConn['seq'];
    if (flags & IP_VS_CONN_F_SEQ_MASK) {
      if (p + SYNC_V0_REC_SEQ > n) return done({ reason: 'v0-seq-past-end', at: i });
      seq = { in: readSeq(v, p + 24, true), out: readSeq(v, p + 36, true) };
    }
    const rec = p;
    p += seq ? SYNC_V0_REC_SEQ : SYNC_V0_REC;
    const protocol = b[rec + 1]!, state = v.getUint16(rec + 22);
    const bad = checkProtoState(flags, protocol, state);
    if (bad) { skip(bad); continue; }
    const conn: SyncConn = {
      af: 4, protocol, flags, state,
      cport: v.getUint16(rec + 2), vport: v.getUint16(rec + 4), dport: v.getUint16(rec + 6),
      fwmark: 0, timeout: 0,
      caddr: addrFromBytes(b.subarray(rec + 8, rec + 12)),
      vaddr: addrFromBytes(b.subarray(rec + 12, rec + 16)),
      daddr: addrFromBytes(b.subarray(rec + 16, rec + 20)),
    };
    if (seq) conn.seq = seq;
    conns.push(conn);
  }
  return done(null);
}

/** Every counted decode outcome: message rejects, rest-of-message drops, record skips, records accepted. */
export type SyncDecodeOutcome = SyncRejectReason | SyncDropReason | SyncSkipReason | 'accepted';

/** Add one decode result to the daemon's drop counters. */
export function tallyDecode(counters: Partial<Record<SyncDecodeOutcome, number>>, r: SyncDecodeResult): void {
  const add = (k: SyncDecodeOutcome, n: number): void => { if (n) counters[k] = (counters[k] ?? 0) + n; };
  if (!r.ok) { add(r.reason, 1); return; }
  add('accepted', r.conns.length);
  for (const [k, n] of Object.entries(r.skipped) as Array<[SyncSkipReason, number]>) add(k, n);
  if (r.dropped) add(r.dropped.reason, 1);
}

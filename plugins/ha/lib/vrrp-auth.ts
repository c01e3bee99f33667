// VRRP HMAC authentication trailer (keepalived >= 2.4 `auth_hmac`, IETF draft-cassen-vrrp-auth-hmac).
// Pure library: seal() appends the trailer to an advert built by vrrp-packet.ts; open() verifies
// and strips it so decodeAdvert sees the advert exactly as if it had been sent without one.
//
// Wire format (28 bytes after the VRRP message, after the v2 auth data too):
//   0      ext_type   1 = HMAC-SHA256 truncated to 128 bits
//   1      key_id     selects the verifying key (1..255)
//   2..3   reserved   zero on send, non-zero is malformed
//   4..7   sec        UTC seconds since the Unix epoch          \
//   8..9   subsec     binary fraction of a second (1/65536 s)    } 64-bit sequence, RFC 1982 order
//   10..11 ctr        tie breaker within one timestamp          /
//   12..27 hmac       first 16 bytes of HMAC-SHA256(key, input)
// input = pseudo (20 bytes: 4|6, VRRP version, VRID, 0, source address zero-padded to 16)
//       || VRRP message with its checksum field read as zero || trailer bytes 0..11 || 16 zero bytes.
// The IP header and the destination are not covered, so one signed advert is valid for every peer.
// Checksums: IPv4 keeps the VRRP checksum over the message only (keepalived computes it before
// signing); IPv6 carries the transport checksum over message + trailer (the kernel's IPV6_CHECKSUM).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { inetChecksum, ipToString, pseudoHeader, VRRP_PROTO } from './vrrp-packet.js';

export const HMAC_EXT_SHA256 = 1;
export const HMAC_TRAILER_LEN = 28;
export const HMAC_LEN = 16;
export const HMAC_PSEUDO_LEN = 20;
export const HMAC_KEY_MIN = 32;
export const HMAC_KEY_MAX = 64;
export const HMAC_WINDOW_MIN = 1;
export const HMAC_WINDOW_MAX = 300;
const TRAILER_SIGNED_LEN = 12;
const VRRP_HDR_LEN = 8;
const V2_AUTH_LEN = 8;
const IP4_HDR_LEN = 20;
const IP6_HDR_LEN = 40;
const AH_PROTO = 51;
const U64 = (1n << 64n) - 1n;

export type HmacMode = 'receive-only' | 'permissive' | 'enforce';
export const HMAC_MODES: readonly HmacMode[] = ['receive-only', 'permissive', 'enforce'];

export interface HmacKey {
  /** 1..255, the trailer's key_id. */
  id: number;
  /** 32..64 bytes: raw bytes, `hex:<even number of hex digits>`, or an ASCII passphrase. */
  secret: string | Uint8Array;
}

export interface HmacConfig {
  keys: HmacKey[];
  /** The key id used when sending (keepalived's active_key); must be one of `keys`. */
  sendKeyId: number;
  mode: HmacMode;
  /** 'time' [default]: freshness window + per-sender monotonic sequence; 'monotonic': sequence only (no shared clock needed). */
  antiReplay?: 'time' | 'monotonic';
  /** Freshness window in seconds, 1..300 [5]. keepalived derives max(3 × advert_int, 5) when unset. */
  windowSec?: number;
  /** Senders whose replay mark is kept (least recently used evicted) [64]. */
  maxSenders?: number;
}

export type HmacRejectReason =
  | 'missing'      // enforce: no trailer
  | 'malformed'    // trailer present but unsupported ext_type or non-zero reserved
  | 'unknown-key'  // key_id not configured
  | 'bad-hmac'     // HMAC does not verify (wrong key, altered advert, wrong source/VRID)
  | 'stale'        // time mode: timestamp outside the freshness window
  | 'replay'       // sequence not after the sender's last accepted one
  | 'checksum';    // IPv6: the transport checksum over message + trailer is wrong

export type OpenResult =
  | {
    kind: 'ok';
    /** The packet without the trailer (lengths and checksums fixed), or the input itself when it had none: give it to decodeAdvert. */
    packet: Uint8Array;
    /** A valid trailer was verified. */
    authenticated: boolean;
    /** Set when an authenticated advert's clock skew passes half the window (fix NTP before adverts start failing). */
    warning?: string;
  }
  | { kind: 'reject'; reason: HmacRejectReason; text: string };

/** Source and destination of a bare IPv6 VRRP message (raw IPv6 sockets give no header). */
export interface Ip6Addrs { src: Uint8Array; dst: Uint8Array }

/** The decoded trailer. `seq` is sec << 32 | subsec << 16 | ctr. */
export interface HmacTrailer {
  extType: number;
  keyId: number;
  reserved: number;
  sec: number;
  subsec: number;
  ctr: number;
  seq: bigint;
  hmac: Uint8Array;
}

// ---------------------------------------------------------------- config

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isId(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 1 && x <= 255;
}

/** The key bytes of a secret, or an error text. */
export function secretBytes(s: string | Uint8Array): Uint8Array | string {
  if (s instanceof Uint8Array) return s;
  if (s.startsWith('hex:')) {
    const h = s.slice(4);
    if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) return 'hex: secret must be an even number of hex digits';
    return new Uint8Array(Buffer.from(h, 'hex'));
  }
  // eslint-disable-next-line no-control-regex
  if (!/^[\x20-\x7e]*$/.test(s)) return 'a text secret must be printable ASCII (use hex: for binary keys)';
  return new TextEncoder().encode(s);
}

/** null when usable, else a text an operator can act on. */
export function validateHmacConfig(x: unknown): string | null {
  if (!isRecord(x)) return 'auth_hmac: expected an object { keys, sendKeyId, mode }';
  const { keys, sendKeyId, mode, antiReplay, windowSec, maxSenders } = x;
  if (!Array.isArray(keys) || keys.length === 0) return 'auth_hmac: keys must be a non-empty list of { id, secret }';
  const seen = new Set<number>();
  for (const [i, k] of keys.entries()) {
    if (!isRecord(k)) return `auth_hmac: keys[${i}] must be { id, secret }`;
    if (!isId(k['id'])) return `auth_hmac: keys[${i}].id must be an integer 1..255 (got ${String(k['id'])})`;
    const id = k['id'];
    if (seen.has(id)) return `auth_hmac: key id ${id} is defined twice`;
    seen.add(id);
    const sec = k['secret'];
    if (typeof sec !== 'string' && !(sec instanceof Uint8Array)) return `auth_hmac: key ${id}: secret must be a string or bytes`;
    const b = secretBytes(sec);
    if (typeof b === 'string') return `auth_hmac: key ${id}: ${b}`;
    if (b.length < HMAC_KEY_MIN || b.length > HMAC_KEY_MAX) {
      return `auth_hmac: key ${id} is ${b.length} bytes; keys must be ${HMAC_KEY_MIN} to ${HMAC_KEY_MAX} bytes (generate one with: openssl rand -hex 32, and give it as hex:...)`;
    }
  }
  if (!isId(sendKeyId)) return `auth_hmac: sendKeyId must be an integer 1..255 (got ${String(sendKeyId)})`;
  if (!seen.has(sendKeyId)) return `auth_hmac: sendKeyId ${sendKeyId} is not one of the configured key ids (${[...seen].join(', ')})`;
  if (typeof mode !== 'string' || !(HMAC_MODES as readonly string[]).includes(mode)) {
    return `auth_hmac: mode must be one of ${HMAC_MODES.join(', ')} (got ${String(mode)})`;
  }
  if (antiReplay !== undefined && antiReplay !== 'time' && antiReplay !== 'monotonic') {
    return `auth_hmac: antiReplay must be time or monotonic (got ${String(antiReplay)})`;
  }
  if (windowSec !== undefined && (typeof windowSec !== 'number' || !Number.isInteger(windowSec) || windowSec < HMAC_WINDOW_MIN || windowSec > HMAC_WINDOW_MAX)) {
    return `auth_hmac: windowSec must be an integer ${HMAC_WINDOW_MIN}..${HMAC_WINDOW_MAX} seconds (got ${String(windowSec)})`;
  }
  if (maxSenders !== undefined && (typeof maxSenders !== 'number' || !Number.isInteger(maxSenders) || maxSenders < 1)) {
    return `auth_hmac: maxSenders must be a positive integer (got ${String(maxSenders)})`;
  }
  return null;
}

// ---------------------------------------------------------------- trailer codec

/** Decode 28 trailer bytes (no checks beyond the length). */
export function decodeTrailer(t: Uint8Array): HmacTrailer | null {
  if (t.length !== HMAC_TRAILER_LEN) return null;
  const sec = ((t[4]! << 24) | (t[5]! << 16) | (t[6]! << 8) | t[7]!) >>> 0;
  const subsec = (t[8]! << 8) | t[9]!;
  const ctr = (t[10]! << 8) | t[11]!;
  return {
    extType: t[0]!, keyId: t[1]!, reserved: (t[2]! << 8) | t[3]!, sec, subsec, ctr,
    seq: (BigInt(sec) << 32n) | (BigInt(subsec) << 16n) | BigInt(ctr),
    hmac: t.slice(12, 28),
  };
}

/** The 20-byte pseudo-header bound into the HMAC. */
export function hmacPseudo(version: number, vrid: number, src: Uint8Array): Uint8Array {
  const p = new Uint8Array(HMAC_PSEUDO_LEN);
  p[0] = src.length === 16 ? 6 : 4;
  p[1] = version & 0xff;
  p[2] = vrid & 0xff;
  p.set(src.subarray(0, 16), 4);
  return p;
}

/** Truncated HMAC-SHA256 over pseudo || message (checksum as zero) || trailer[0..12) || 16 zeros. */
export function computeHmac(key: Uint8Array, src: Uint8Array, msg: Uint8Array, trailerHead: Uint8Array): Uint8Array {
  const m = msg.slice();
  if (m.length >= VRRP_HDR_LEN) { m[6] = 0; m[7] = 0; }
  const h = createHmac('sha256', key);
  h.update(hmacPseudo(m[0]! >> 4, m[1] ?? 0, src));
  h.update(m);
  h.update(trailerHead.subarray(0, TRAILER_SIGNED_LEN));
  h.update(new Uint8Array(HMAC_LEN));
  return new Uint8Array(h.digest().subarray(0, HMAC_LEN));
}

/** Build a signed trailer for one message. */
export function buildTrailer(key: Uint8Array, keyId: number, seq: bigint, src: Uint8Array, msg: Uint8Array): Uint8Array {
  const t = new Uint8Array(HMAC_TRAILER_LEN);
  t[0] = HMAC_EXT_SHA256;
  t[1] = keyId & 0xff;
  const s = seq & U64;
  const sec = Number(s >> 32n), lo = Number(s & 0xffffffffn);
  t[4] = sec >>> 24; t[5] = (sec >>> 16) & 0xff; t[6] = (sec >>> 8) & 0xff; t[7] = sec & 0xff;
  t[8] = lo >>> 24; t[9] = (lo >>> 16) & 0xff; t[10] = (lo >>> 8) & 0xff; t[11] = lo & 0xff;
  t.set(computeHmac(key, src, msg, t), TRAILER_SIGNED_LEN);
  return t;
}

/** RFC 1982 order over the 64-bit sequence: a is after b. */
export function seqAfter(a: bigint, b: bigint): boolean {
  const d = (a - b) & U64;
  return d !== 0n && d < (1n << 63n);
}

/** The sequence for a clock reading in ms: seconds, 1/65536 s fraction, counter 0. */
export function clockSeq(ms: number): bigint {
  const t = Math.floor(ms);
  const sec = Math.floor(t / 1000);
  const frac = t - sec * 1000;
  const subsec = Math.floor((frac * 65536) / 1000);
  return ((BigInt(sec >>> 0) << 32n) | (BigInt(subsec) << 16n)) & U64;
}

/** Signed 32-bit difference of two u32 second counts (a - b). */
function secDelta(a: number, b: number): number {
  return ((a - b) | 0);
}

// ---------------------------------------------------------------- packet views

interface View {
  /** Bytes before the VRRP message in the given buffer (IP header or 0). */
  off: number;
  family: 4 | 6;
  src: Uint8Array;
  dst: Uint8Array;
  /** VRRP message + anything after it (trailer). */
  payload: Uint8Array;
  /** Expected message length from the message's own version and count. */
  msgLen: number;
  /** IPv4 whole datagram / IPv6 whole packet / bare IPv6 message. */
  form: 'ip4' | 'ip6' | 'bare6';
}

function view(p: Uint8Array, ip6: Ip6Addrs | undefined): View | null {
  let off: number, family: 4 | 6, src: Uint8Array, dst: Uint8Array, form: View['form'];
  if (ip6) {
    if (ip6.src.length !== 16 || ip6.dst.length !== 16) return null;
    off = 0; family = 6; src = ip6.src; dst = ip6.dst; form = 'bare6';
  } else {
    if (p.length < 1) return null;
    const v = p[0]! >> 4;
    if (v === 4) {
      off = (p[0]! & 0x0f) * 4;
      if (off < IP4_HDR_LEN || p.length < off || p[9] !== VRRP_PROTO) return null;
      family = 4; src = p.slice(12, 16); dst = p.slice(16, 20); form = 'ip4';
    } else if (v === 6) {
      if (p.length < IP6_HDR_LEN || p[6] !== VRRP_PROTO) return null;
      off = IP6_HDR_LEN; family = 6; src = p.slice(8, 24); dst = p.slice(24, 40); form = 'ip6';
    } else return null;
  }
  const payload = p.subarray(off);
  if (payload.length < VRRP_HDR_LEN) return null;
  const ver = payload[0]! >> 4;
  const msgLen = VRRP_HDR_LEN + payload[3]! * (family === 6 ? 16 : 4) + (ver === 2 ? V2_AUTH_LEN : 0);
  return { off, family, src, dst, payload, msgLen, form };
}

/** RFC 1624 incremental update of a checksum when a 16-bit word changes from m to m2. */
function csumUpdate(hc: number, m: number, m2: number): number {
  let s = (~hc & 0xffff) + (~m & 0xffff) + m2;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function put16(b: Uint8Array, o: number, v: number): void { b[o] = (v >> 8) & 0xff; b[o + 1] = v & 0xff; }
function get16(b: Uint8Array, o: number): number { return (b[o]! << 8) | b[o + 1]!; }

/** Set the IPv6 VRRP checksum of `vrrp` (message, with or without trailer) for src/dst. */
function setIp6Checksum(vrrp: Uint8Array, src: Uint8Array, dst: Uint8Array): void {
  put16(vrrp, 6, 0);
  put16(vrrp, 6, inetChecksum(pseudoHeader(src, dst, vrrp.length), vrrp));
}

// ---------------------------------------------------------------- the authenticator

interface ReplayMark { seq: bigint; sec: number }

const COUNTER_NAMES = [
  'sealed', 'sent_unsigned', 'accepted_authenticated', 'accepted_unauthenticated',
  'missing', 'malformed', 'unknown_key', 'bad_hmac', 'stale', 'replay', 'checksum', 'skew_warning',
] as const;
type CounterName = typeof COUNTER_NAMES[number];

export class VrrpHmac {
  readonly mode: HmacMode;
  private readonly keys = new Map<number, Uint8Array>();
  private readonly sendKeyId: number;
  private readonly timeMode: boolean;
  private readonly window: number;
  private readonly maxSenders: number;
  private readonly now: () => number;
  private sendSeq = 0n;
  private readonly marks = new Map<string, ReplayMark>();
  private readonly count: Record<CounterName, number>;

  /** Throws on a config validateHmacConfig refuses (a programming error: validate first). */
  constructor(cfg: HmacConfig, o?: { now?: () => number }) {
    const err = validateHmacConfig(cfg);
    if (err !== null) throw new Error(err);
    for (const k of cfg.keys) this.keys.set(k.id, (secretBytes(k.secret) as Uint8Array).slice());
    this.sendKeyId = cfg.sendKeyId;
    this.mode = cfg.mode;
    this.timeMode = (cfg.antiReplay ?? 'time') === 'time';
    this.window = cfg.windowSec ?? 5;
    this.maxSenders = cfg.maxSenders ?? 64;
    this.now = o?.now ?? Date.now;
    this.count = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as Record<CounterName, number>;
  }

  /** Whether seal() appends a trailer (permissive and enforce). */
  get signs(): boolean { return this.mode !== 'receive-only'; }

  /** Bytes a signed advert grows by (0 in receive-only): reserve it in the MTU budget. */
  get trailerLength(): number { return this.signs ? HMAC_TRAILER_LEN : 0; }

  /** The next send sequence: the clock, or the last one + 1 when the clock has not moved past it. */
  private nextSeq(): bigint {
    const clk = clockSeq(this.now());
    if (seqAfter(clk, this.sendSeq)) this.sendSeq = clk;
    else {
      // A corrected clock step would strand the sequence beyond what receivers accept:
      // in time mode restart from the clock once past the window.
      const ahead = secDelta(Number(this.sendSeq >> 32n), Number(clk >> 32n));
      this.sendSeq = this.timeMode && ahead > this.window ? clk : (this.sendSeq + 1n) & U64;
    }
    return this.sendSeq;
  }

  /**
   * The bytes to send. `packet` is a whole IPv4 datagram or IPv6 packet as encodeAdvert gives it,
   * or with `ip6` a bare VRRP message (an IPv6 raw socket's payload). The trailer is appended, the
   * IPv4 total length and header checksum or the IPv6 payload length and VRRP checksum are fixed.
   * In receive-only mode the input is returned unchanged. Throws only when `packet` is not an advert
   * (a programming error on the send path).
   */
  seal(packet: Uint8Array, ip6?: Ip6Addrs): Uint8Array {
    const [out] = this.sealAll([packet], ip6);
    return out!;
  }

  /**
   * One logical advertisement sent as several copies (unicast peers): every copy carries the same
   * sequence, and the same HMAC when they differ only in destination and checksum.
   */
  sealAll(packets: readonly Uint8Array[], ip6?: Ip6Addrs | readonly Ip6Addrs[]): Uint8Array[] {
    if (!this.signs) { this.count.sent_unsigned += packets.length; return packets.slice(); }
    const key = this.keys.get(this.sendKeyId)!;
    const seq = this.nextSeq();
    return packets.map((p, i) => {
      const a = ip6 === undefined ? undefined : Array.isArray(ip6) ? (ip6 as readonly Ip6Addrs[])[i] : (ip6 as Ip6Addrs);
      const v = view(p, a);
      if (!v || v.payload.length !== v.msgLen) throw new Error('seal: not a VRRP advert (or it already carries a trailer)');
      const msg = v.payload;
      const t = buildTrailer(key, this.sendKeyId, seq, v.src, msg);
      const out = new Uint8Array(p.length + HMAC_TRAILER_LEN);
      out.set(p, 0);
      out.set(t, p.length);
      if (v.form === 'ip4') {
        put16(out, 2, get16(out, 2) + HMAC_TRAILER_LEN);
        put16(out, 10, 0);
        put16(out, 10, inetChecksum(out.subarray(0, v.off)));
      } else {
        if (v.form === 'ip6') put16(out, 4, get16(out, 4) + HMAC_TRAILER_LEN);
        setIp6Checksum(out.subarray(v.off), v.src, v.dst);
      }
      this.count.sealed++;
      return out;
    });
  }

  /**
   * Verify a received packet: a whole IPv4 datagram or IPv6 packet, or with `ip6` a bare VRRP
   * message. A trailer is recognised by length (message length from its count + 28). Never throws.
   */
  open(packet: Uint8Array, ip6?: Ip6Addrs): OpenResult {
    try {
      return this.openChecked(packet, ip6);
    } catch (e) {
      this.count.malformed++;
      return { kind: 'reject', reason: 'malformed', text: `undecodable authentication trailer: ${(e as Error).message}` };
    }
  }

  private reject(reason: HmacRejectReason, text: string): OpenResult {
    const c: CounterName = reason === 'unknown-key' ? 'unknown_key' : reason === 'bad-hmac' ? 'bad_hmac' : reason;
    this.count[c]++;
    return { kind: 'reject', reason, text };
  }

  private openChecked(p: Uint8Array, ip6: Ip6Addrs | undefined): OpenResult {
    const v = view(p, ip6);
    const hasTrailer = v !== null && v.payload.length === v.msgLen + HMAC_TRAILER_LEN;
    if (!v || !hasTrailer) {
      const from = v ? ` from ${ipToString(v.src)}` : '';
      if (this.mode === 'enforce') {
        const what = !v && p.length > 0 && (p[0]! >> 4) === 4 && p.length >= IP4_HDR_LEN && p[9] === AH_PROTO ? 'AH packet' : 'advert';
        return this.reject('missing', `missing authentication trailer${from}: ${what} rejected (mode enforce)`);
      }
      this.count.accepted_unauthenticated++;
      return { kind: 'ok', packet: p, authenticated: false };
    }
    const from = ipToString(v.src);
    const whole = v.payload;
    if (v.family === 6) {
      // The transport checksum covers message + trailer (the kernel's IPV6_CHECKSUM on both ends).
      if (inetChecksum(pseudoHeader(v.src, v.dst, whole.length), whole) !== 0) {
        return this.reject('checksum', `invalid VRRPv3 checksum over the authenticated advert from ${from}`);
      }
    }
    const msg = whole.subarray(0, v.msgLen);
    const tr = decodeTrailer(whole.subarray(v.msgLen))!;
    if (tr.extType !== HMAC_EXT_SHA256 || tr.reserved !== 0) {
      return this.reject('malformed', `malformed authentication trailer from ${from}: ${tr.extType !== HMAC_EXT_SHA256 ? `unsupported ext_type ${tr.extType}` : `reserved field 0x${tr.reserved.toString(16)}`}`);
    }
    const nowSec = Math.floor(this.now() / 1000) >>> 0;
    const skew = secDelta(nowSec, tr.sec);
    // Stale adverts go before the digest: cheap, and it only ever rejects.
    if (this.timeMode && (skew > this.window || skew < -this.window)) {
      return this.reject('stale', `stale authentication trailer from ${from}, clock skew ${skew} sec exceeds window ${this.window} sec (check NTP on both nodes)`);
    }
    const key = this.keys.get(tr.keyId);
    if (!key) {
      return this.reject('unknown-key', `unknown authentication key id ${tr.keyId} from ${from} (configured: ${[...this.keys.keys()].join(', ')})`);
    }
    const want = computeHmac(key, v.src, msg, whole.subarray(v.msgLen));
    if (!timingSafeEqual(want, tr.hmac)) {
      return this.reject('bad-hmac', `invalid authentication HMAC from ${from} with key id ${tr.keyId}: key mismatch or altered/forged advert`);
    }
    // Replay mark per sender, moved only by verified adverts.
    const vrid = msg[1]!, ver = msg[0]! >> 4;
    const id = `${v.family}/${ver}/${vrid}/${Buffer.from(v.src).toString('hex')}`;
    let mark = this.marks.get(id);
    if (mark && this.timeMode) {
      const age = secDelta(nowSec, mark.sec);
      if (age > this.window || age < -this.window) mark = undefined;
    }
    if (mark && !seqAfter(tr.seq, mark.seq)) {
      return this.reject('replay', `replayed authentication trailer from ${from}: sequence ${tr.sec}.${tr.subsec}/${tr.ctr} not after the last accepted ${Number(mark.seq >> 32n)}.${Number((mark.seq >> 16n) & 0xffffn)}/${Number(mark.seq & 0xffffn)}`);
    }
    this.marks.delete(id);
    this.marks.set(id, { seq: tr.seq, sec: tr.sec });
    while (this.marks.size > this.maxSenders) this.marks.delete(this.marks.keys().next().value!);
    this.count.accepted_authenticated++;
    const out = this.strip(p, v);
    const half = Math.floor(this.window / 2);
    if (this.timeMode && (skew > half || skew < -half)) {
      this.count.skew_warning++;
      return { kind: 'ok', packet: out, authenticated: true, warning: `authentication clock skew ${skew} sec from ${from} approaching window ${this.window} sec` };
    }
    return { kind: 'ok', packet: out, authenticated: true };
  }

  /** The packet without its trailer, with what decodeAdvert checks fixed. */
  private strip(p: Uint8Array, v: View): Uint8Array {
    const out = p.slice(0, p.length - HMAC_TRAILER_LEN);
    if (v.form === 'ip4') {
      // Keep a wrong total length wrong (decodeAdvert reports it) and the header checksum as valid as it was.
      const old = get16(out, 2), nl = (old - HMAC_TRAILER_LEN) & 0xffff;
      put16(out, 2, nl);
      put16(out, 10, csumUpdate(get16(out, 10), old, nl));
    } else {
      if (v.form === 'ip6') put16(out, 4, (get16(out, 4) - HMAC_TRAILER_LEN) & 0xffff);
      // The wire checksum (verified above) covered the trailer: recompute it for the message alone.
      setIp6Checksum(out.subarray(v.off), v.src, v.dst);
    }
    return out;
  }

  /** Outcome counters since construction. */
  counters(): Record<string, number> {
    return { ...this.count };
  }

  /** Forget every sender's replay mark (e.g. after a reload that changed keys). */
  resetReplay(): void { this.marks.clear(); }
}

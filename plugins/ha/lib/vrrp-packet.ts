// VRRP advert codec as keepalived 2.2.7 writes and checks it (spec keepalived.md §5.1–5.2).
// Pure: bytes in, bytes or typed outcomes out. Addresses by the contract's helpers ('lvsd').

import { bytesToIpv6, ipv4ToU32, ipv6ToBytes, u32ToIpv4 } from 'lvsd';

export const VRRP_PROTO = 112;
export const AH_PROTO = 51;
export const VRRP_GROUP4 = '224.0.0.18';
export const VRRP_GROUP6 = 'ff02::12';
export const VRRP_TTL = 255;
/** IP TOS / IPv6 traffic class keepalived sets: IPTOS_PREC_INTERNETCONTROL (CS6). */
export const VRRP_TOS = 0xc0;
export const VRRP_TYPE_ADVERT = 1;
export const AUTH_NONE = 0;
export const AUTH_PASS = 1;
export const AUTH_AH = 2;
export const AUTH_DATA_LEN = 8;
const VRRP_HDR_LEN = 8;
const IP4_HDR_LEN = 20;
const IP6_HDR_LEN = 40;

export type VrrpVersion = 2 | 3;
export type AuthType = typeof AUTH_NONE | typeof AUTH_PASS | typeof AUTH_AH;

// ---------------------------------------------------------------- addresses

/** 4 bytes for dotted-quad text, else null. */
export function parseIp4(s: string): Uint8Array | null {
  const n = ipv4ToU32(s);
  return n === null ? null : Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}

/** 16 bytes for IPv6 text (with :: and an optional dotted IPv4 tail), else null. */
export function parseIp6(s: string): Uint8Array | null { return ipv6ToBytes(s); }

/** Bytes of an IPv4 or IPv6 address text, else null. */
export function parseIp(s: string): Uint8Array | null {
  return s.includes(':') ? parseIp6(s) : parseIp4(s);
}

/** Canonical text of 4 or 16 address bytes (IPv6 as inet_ntop prints it, as keepalived logs it). */
export function ipToString(b: Uint8Array): string {
  return b.length === 4 ? u32ToIpv4(((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) : bytesToIpv6(b);
}

/** Unsigned comparison of two addresses of one family (keepalived's tie-break): <0, 0, >0. */
export function compareIp(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function isMulticast(b: Uint8Array): boolean {
  return b.length === 4 ? (b[0]! & 0xf0) === 0xe0 : b[0] === 0xff;
}

/** Byte-wise equality (addresses, auth data). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// ---------------------------------------------------------------- checksum

/** Ones'-complement sum of byte chunks, folded (not complemented). */
function sum16(chunks: readonly Uint8Array[]): number {
  let s = 0, odd = -1;
  for (const c of chunks) {
    for (let i = 0; i < c.length; i++) {
      // Bytes are paired across chunk borders, as if the chunks were one buffer.
      if (odd < 0) odd = c[i]!;
      else { s += (odd << 8) | c[i]!; odd = -1; }
    }
  }
  if (odd >= 0) s += odd << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The Internet checksum (RFC 1071) of the chunks, checksum field zeroed by the caller. */
export function inetChecksum(...chunks: Uint8Array[]): number {
  return ~sum16(chunks) & 0xffff;
}

/** RFC 9568 pseudo-header for the v3 checksum: IPv4 (12 bytes) or IPv6 (40 bytes). */
export function pseudoHeader(src: Uint8Array, dst: Uint8Array, vrrpLen: number): Uint8Array {
  if (src.length === 4) {
    const p = new Uint8Array(12);
    p.set(src, 0); p.set(dst, 4); p[9] = VRRP_PROTO; p[10] = vrrpLen >> 8; p[11] = vrrpLen & 0xff;
    return p;
  }
  const p = new Uint8Array(40);
  p.set(src, 0); p.set(dst, 16);
  p[34] = vrrpLen >> 8; p[35] = vrrpLen & 0xff; p[39] = VRRP_PROTO;
  return p;
}

// ---------------------------------------------------------------- intervals

/** keepalived's advert_int (seconds, as configured) → the wire value: v2 whole seconds 1..255, v3 centiseconds 1..4095. */
export function advertIntToWire(version: VrrpVersion, seconds: number): number {
  if (!Number.isFinite(seconds)) return version === 2 ? 1 : 100;
  if (version === 2) return Math.min(255, Math.max(1, Math.round(seconds)));
  return Math.min(4095, Math.max(1, Math.round(seconds * 100)));
}

/** The wire interval in microseconds (v2 seconds, v3 centiseconds). */
export function advertIntMicros(version: VrrpVersion, wire: number): number {
  return version === 2 ? wire * 1_000_000 : wire * 10_000;
}

// ---------------------------------------------------------------- encode

export interface AdvertFields {
  version: VrrpVersion;
  vrid: number;
  /** Effective priority; 0 for the stop advert. */
  priority: number;
  /** Wire interval: v2 seconds, v3 centiseconds (see advertIntToWire). */
  advertInt: number;
  /** VIP bytes in configuration order, all 4 or all 16 bytes long. */
  addrs: readonly Uint8Array[];
  /** v2 only [none]. AH is written as type 2 with zero auth data; the AH header itself is not built here. */
  authType?: AuthType;
  /** v2 PASS: the password; the first 8 bytes are sent, NUL-padded. */
  authPass?: Uint8Array | string;
}

/** First 8 bytes of the password, NUL-padded (keepalived truncates longer ones). */
export function authData(pass: Uint8Array | string | undefined): Uint8Array {
  const out = new Uint8Array(AUTH_DATA_LEN);
  if (pass === undefined) return out;
  const b = typeof pass === 'string' ? new TextEncoder().encode(pass) : pass;
  out.set(b.subarray(0, AUTH_DATA_LEN));
  return out;
}

export function vrrpLength(version: VrrpVersion, count: number, addrLen: number): number {
  return VRRP_HDR_LEN + count * addrLen + (version === 2 ? AUTH_DATA_LEN : 0);
}

/**
 * The VRRP message (what follows the IP header). v3 needs the IP source and destination
 * for its pseudo-header checksum (the real unicast peer in unicast mode, or the group for
 * keepalived's old unicast form); v2 ignores them. Throws only on that programming error
 * (v3 without addresses); decoding never throws.
 */
export function encodeVrrp(f: AdvertFields, src?: Uint8Array, dst?: Uint8Array): Uint8Array {
  const addrLen = f.addrs[0]?.length ?? (src?.length ?? 4);
  const len = vrrpLength(f.version, f.addrs.length, addrLen);
  const m = new Uint8Array(len);
  m[0] = (f.version << 4) | VRRP_TYPE_ADVERT;
  m[1] = f.vrid & 0xff;
  m[2] = f.priority & 0xff;
  m[3] = f.addrs.length & 0xff;
  if (f.version === 2) {
    m[4] = f.authType ?? AUTH_NONE;
    m[5] = f.advertInt & 0xff;
  } else {
    m[4] = (f.advertInt >> 8) & 0x0f;
    m[5] = f.advertInt & 0xff;
  }
  let o = VRRP_HDR_LEN;
  for (const a of f.addrs) { m.set(a, o); o += a.length; }
  if (f.version === 2 && f.authType === AUTH_PASS) m.set(authData(f.authPass), o);
  let ck: number;
  if (f.version === 2) ck = inetChecksum(m);
  else {
    if (!src || !dst) throw new Error('VRRPv3 checksum needs the IP source and destination');
    ck = inetChecksum(pseudoHeader(src, dst, len), m);
  }
  m[6] = ck >> 8; m[7] = ck & 0xff;
  return m;
}

export interface Ip4Fields {
  src: Uint8Array;
  /** 224.0.0.18 (or mcast_dst_ip) or the unicast peer. */
  dst: Uint8Array;
  /** keepalived's per-instance counter (see nextIpId); 0 leaves it to the kernel. */
  id: number;
  /** [255]; unicast_ttl may change it for unicast. */
  ttl?: number;
  /** [0xc0] */
  tos?: number;
}

/** keepalived's IP ID step: 1, 2, … 65535, then 1 again (0 is skipped: the kernel would fill it in). */
export function nextIpId(prev: number): number {
  const n = (prev + 1) & 0xffff;
  return n === 0 ? 1 : n;
}

/** A whole IPv4 datagram: 20-byte header as keepalived writes it (DF clear) + the VRRP message. */
export function encodeIp4(h: Ip4Fields, vrrp: Uint8Array, proto = VRRP_PROTO): Uint8Array {
  const total = IP4_HDR_LEN + vrrp.length;
  const p = new Uint8Array(total);
  p[0] = 0x45; p[1] = h.tos ?? VRRP_TOS;
  p[2] = total >> 8; p[3] = total & 0xff;
  p[4] = (h.id >> 8) & 0xff; p[5] = h.id & 0xff;
  p[8] = h.ttl ?? VRRP_TTL; p[9] = proto;
  p.set(h.src, 12); p.set(h.dst, 16);
  const ck = inetChecksum(p.subarray(0, IP4_HDR_LEN));
  p[10] = ck >> 8; p[11] = ck & 0xff;
  p.set(vrrp, IP4_HDR_LEN);
  return p;
}

export interface Ip6Fields {
  src: Uint8Array;
  dst: Uint8Array;
  /** [255] */
  hopLimit?: number;
  /** [0xc0], as keepalived sets IPV6_TCLASS. */
  trafficClass?: number;
  /** [0] */
  flowLabel?: number;
}

/** A whole IPv6 packet: 40-byte header (next header 112) + the VRRP message. The kernel writes this header for keepalived; it is built here for tests and raw senders. */
export function encodeIp6(h: Ip6Fields, vrrp: Uint8Array): Uint8Array {
  const p = new Uint8Array(IP6_HDR_LEN + vrrp.length);
  const tc = h.trafficClass ?? VRRP_TOS, fl = h.flowLabel ?? 0;
  p[0] = 0x60 | (tc >> 4); p[1] = ((tc & 0x0f) << 4) | ((fl >> 16) & 0x0f);
  p[2] = (fl >> 8) & 0xff; p[3] = fl & 0xff;
  p[4] = vrrp.length >> 8; p[5] = vrrp.length & 0xff;
  p[6] = VRRP_PROTO; p[7] = h.hopLimit ?? VRRP_TTL;
  p.set(h.src, 8); p.set(h.dst, 24);
  p.set(vrrp, IP6_HDR_LEN);
  return p;
}

/** Advert settings plus addressing: everything to build one whole advert packet. */
export interface AdvertPacket extends AdvertFields {
  src: Uint8Array;
  dst: Uint8Array;
  /** IPv4 only. */
  ipId?: number;
  ttl?: number;
  /** v3 unicast: compute the checksum with this (the group) instead of dst — keepalived's old unicast form. */
  checksumDst?: Uint8Array;
}

/** A whole advert: IPv4 datagram, or for 16-byte addresses an IPv6 packet (always v3). */
export function encodeAdvert(a: AdvertPacket): Uint8Array {
  const vrrp = encodeVrrp(a, a.src, a.checksumDst ?? a.dst);
  if (a.src.length === 16) {
    return encodeIp6({ src: a.src, dst: a.dst, ...(a.ttl !== undefined ? { hopLimit: a.ttl } : {}) }, vrrp);
  }
  return encodeIp4({ src: a.src, dst: a.dst, id: a.ipId ?? 0, ...(a.ttl !== undefined ? { ttl: a.ttl } : {}) }, vrrp);
}

// ---------------------------------------------------------------- decode

/** What the receiver checks adverts against (one vrrp_instance). */
export interface RxConfig {
  version: VrrpVersion;
  vrid: number;
  /** VIPs in configuration order, as bytes (all one family). */
  vips: readonly Uint8Array[];
  /** v2 wire interval in seconds (compared for v2 only; 2.2.7 does not compare v3 intervals). */
  advertInt: number;
  authType?: AuthType;
  authPass?: Uint8Array | string;
  /** Unicast mode (unicast_peer configured) [false]. */
  unicast?: boolean;
  /** unicast_peer entries, checked with check_unicast_src (and their min_ttl / max_ttl). */
  unicastPeers?: ReadonlyArray<{ addr: Uint8Array; minTtl?: number; maxTtl?: number }>;
  checkUnicastSrc?: boolean;
  /** old_unicast_checksum: 'auto' (2.2.7 default: detect the old form), 'never', 'always' (keyword without argument). */
  oldUnicastChecksum?: 'auto' | 'never' | 'always';
  /** skip_check_adv_addr: only effective when `knownMaster` is set (caller: we are BACKUP and know the master). */
  skipCheckAdvAddr?: boolean;
  knownMaster?: Uint8Array;
  /** Multicast group in use [224.0.0.18 / ff02::12], for the old unicast checksum form. */
  group?: Uint8Array;
}

/** How the packet arrived, for what the IP header cannot say (IPv6 raw sockets give no header). */
export interface RxMeta {
  /** For a packet without its IPv6 header: source, destination and hop limit from the socket. */
  ip6?: { src: Uint8Array; dst: Uint8Array; hopLimit: number };
}

export interface Advert {
  version: VrrpVersion;
  vrid: number;
  priority: number;
  count: number;
  authType: number;
  /** Wire value: v2 seconds, v3 centiseconds. */
  advertInt: number;
  checksum: number;
  addrs: Uint8Array[];
  src: Uint8Array;
  dst: Uint8Array;
  /** TTL / hop limit as received. */
  ttl: number;
  /** IPv4 ID (0 for IPv6). */
  ipId: number;
  multicast: boolean;
}

/** Dropped before reaching an instance: no log line for most, and no timer effect (§5.2). */
export type IgnoreReason = 'not-ip' | 'not-vrrp' | 'too-short' | 'other-vrid';

/** Reached the instance and failed a check: logged, and the instance's timer restarts (§5.2). */
export type RejectReason =
  | 'ah-mismatch' | 'too-long' | 'length-short' | 'ttl' | 'version' | 'auth-type-invalid' | 'auth-type-mismatch'
  | 'auth-pass' | 'auth-ah-unsupported' | 'interval' | 'type' | 'count' | 'ip-length' | 'checksum'
  | 'dest-kind' | 'vip-missing' | 'unicast-src' | 'unicast-ttl';

export type RxOutcome =
  | { kind: 'accepted'; advert: Advert; /** checksum matched only keepalived's old unicast form (switch to sending it) */ oldChecksum: boolean }
  | { kind: 'ignored'; reason: IgnoreReason; text: string }
  | { kind: 'rejected'; reason: RejectReason; text: string; vrid: number; src: Uint8Array; priority: number };

interface IpView { src: Uint8Array; dst: Uint8Array; ttl: number; hdrLen: number; proto: number; totLen: number; id: number; v6: boolean }

function ipView(p: Uint8Array, meta: RxMeta | undefined): IpView | string {
  if (meta?.ip6) {
    return { src: meta.ip6.src, dst: meta.ip6.dst, ttl: meta.ip6.hopLimit, hdrLen: 0, proto: VRRP_PROTO, totLen: p.length, id: 0, v6: true };
  }
  if (p.length < 1) return 'empty packet';
  const ver = p[0]! >> 4;
  if (ver === 4) {
    const ihl = (p[0]! & 0x0f) * 4;
    if (ihl < IP4_HDR_LEN || p.length < ihl) return `IPv4 VRRP packet too short - ${p.length} bytes`;
    return {
      src: p.slice(12, 16), dst: p.slice(16, 20), ttl: p[8]!, hdrLen: ihl, proto: p[9]!,
      totLen: (p[2]! << 8) | p[3]!, id: (p[4]! << 8) | p[5]!, v6: false,
    };
  }
  if (ver === 6) {
    if (p.length < IP6_HDR_LEN) return `IPv6 VRRP packet too short - ${p.length} bytes`;
    return {
      src: p.slice(8, 24), dst: p.slice(24, 40), ttl: p[7]!, hdrLen: IP6_HDR_LEN, proto: p[6]!,
      totLen: IP6_HDR_LEN + ((p[4]! << 8) | p[5]!), id: 0, v6: true,
    };
  }
  return `not an IP packet (version nibble ${ver})`;
}

/**
 * Checks a received IPv4 datagram (or IPv6 packet, or with meta.ip6 a bare VRRP message)
 * against one instance, in keepalived 2.2.7's order (§5.2). Never throws.
 */
export function decodeAdvert(p: Uint8Array, cfg: RxConfig, meta?: RxMeta): RxOutcome {
  try {
    return decodeChecked(p, cfg, meta);
  } catch (e) {
    // Defensive: a bug here must not take the receive loop down.
    return { kind: 'ignored', reason: 'not-ip', text: `undecodable packet: ${(e as Error).message}` };
  }
}

function decodeChecked(p: Uint8Array, cfg: RxConfig, meta: RxMeta | undefined): RxOutcome {
  const ip = ipView(p, meta);
  if (typeof ip === 'string') return { kind: 'ignored', reason: ip.includes('too short') ? 'too-short' : 'not-ip', text: ip };
  const ah = !ip.v6 && ip.proto === AH_PROTO;
  if (!ah && ip.proto !== VRRP_PROTO) return { kind: 'ignored', reason: 'not-vrrp', text: `IP protocol ${ip.proto} is not VRRP` };
  // AH: 24 bytes (next header, length, reserved, SPI, seq, 12-byte ICV) before the VRRP message.
  const ahLen = ah ? 24 : 0;
  const off = ip.hdrLen + ahLen;
  if (p.length < off + VRRP_HDR_LEN) {
    return { kind: 'ignored', reason: 'too-short', text: `${ip.v6 ? 'IPv6' : 'IPv4'} VRRP packet too short - ${p.length} bytes` };
  }
  const m = p.subarray(off);
  const vrid = m[1]!, priority = m[2]!, count = m[3]!;
  if (vrid !== cfg.vrid) return { kind: 'ignored', reason: 'other-vrid', text: `VRID ${vrid} has no instance here` };
  const rej = (reason: RejectReason, text: string): RxOutcome => ({ kind: 'rejected', reason, text, vrid, src: ip.src, priority });
  const myAuth = cfg.authType ?? AUTH_NONE;

  // 1. AH header exactly when configured.
  if (ah !== (myAuth === AUTH_AH)) {
    return rej('ah-mismatch', ah ? 'received an AH packet, expecting no AH' : 'received a packet without AH header, expecting AH');
  }
  // 2. Exact length from the packet's own version and count.
  const pktVer = m[0]! >> 4;
  const addrLen = ip.v6 ? 16 : 4;
  const expect = off + VRRP_HDR_LEN + count * addrLen + (pktVer === 2 ? AUTH_DATA_LEN : 0);
  if (p.length !== expect) {
    return rej(p.length > expect ? 'too-long' : 'length-short',
      `vrrp packet too ${p.length > expect ? 'long' : 'short'}, length ${p.length} and expect ${expect}`);
  }
  // 3. TTL / hop limit, multicast only.
  if (!cfg.unicast && ip.ttl !== VRRP_TTL) return rej('ttl', `invalid TTL/HL. Received ${ip.ttl} and expect ${VRRP_TTL}`);
  // 4. Version: no mixed v2/v3.
  if (pktVer !== cfg.version) return rej('version', `wrong version. Received ${pktVer} and expect ${cfg.version}`);
  // 5. v2: auth type, password, interval.
  if (pktVer === 2) {
    const at = m[4]!;
    if (at > AUTH_AH) return rej('auth-type-invalid', `Invalid auth type: ${at}`);
    if (at !== myAuth) return rej('auth-type-mismatch', `received a ${at} auth, expecting ${myAuth}!`);
    if (at === AUTH_PASS) {
      const got = m.subarray(VRRP_HDR_LEN + count * addrLen, VRRP_HDR_LEN + count * addrLen + AUTH_DATA_LEN);
      if (!sameBytes(got, authData(cfg.authPass))) return rej('auth-pass', 'received an invalid passwd!');
    }
    if (at === AUTH_AH) return rej('auth-ah-unsupported', 'AH authentication is not supported by this implementation');
    if (m[5] !== cfg.advertInt) {
      return rej('interval', `advertisement interval mismatch mine=${cfg.advertInt} sec rcv'd=${m[5]} sec`);
    }
  }
  // 6. Type.
  const type = m[0]! & 0x0f;
  if (type !== VRRP_TYPE_ADVERT) return rej('type', `Invalid packet type. ${type} and expect ${VRRP_TYPE_ADVERT}`);
  // 7. Address count (skip_check_adv_addr: only from the known master while BACKUP).
  const skipAddr = cfg.skipCheckAdvAddr === true && cfg.knownMaster !== undefined && sameBytes(cfg.knownMaster, ip.src);
  if (!skipAddr && count !== cfg.vips.length) {
    return rej('count', `received an unexpected ip number count ${count}, expected ${cfg.vips.length}!`);
  }
  // 8. IP total length vs received length.
  if (ip.totLen !== p.length) return rej('ip-length', `ip_tot_len mismatch against received length. ${ip.totLen} and ${p.length}`);
  // 9. Checksum.
  const vrrpMsg = m.subarray(0, expect - off);
  let oldChecksum = false;
  if (pktVer === 2) {
    if (inetChecksum(vrrpMsg) !== 0) return rej('checksum', 'Invalid VRRPv2 checksum');
  } else {
    const plen = vrrpMsg.length;
    const policy = cfg.oldUnicastChecksum ?? 'auto';
    const ok = (dst: Uint8Array): boolean => inetChecksum(pseudoHeader(ip.src, dst, plen), vrrpMsg) === 0;
    if (!ok(ip.dst)) {
      const group = cfg.group ?? parseIp(ip.v6 ? VRRP_GROUP6 : VRRP_GROUP4)!;
      // keepalived < 1.3.6 put the group in the pseudo-header of unicast adverts (§5.1).
      if (!ip.v6 && cfg.unicast && policy !== 'never' && !isMulticast(ip.dst) && ok(group)) oldChecksum = true;
      else return rej('checksum', 'Invalid VRRPv3 checksum');
    }
  }
  // 10. Destination kind.
  const mc = isMulticast(ip.dst);
  if (mc === (cfg.unicast === true)) {
    return rej('dest-kind', mc ? 'Expected unicast packet but received multicast packet' : 'Expected multicast packet but received unicast packet');
  }
  // 11. Every configured VIP present; unicast source checks.
  const addrs: Uint8Array[] = [];
  for (let i = 0; i < count; i++) addrs.push(m.slice(VRRP_HDR_LEN + i * addrLen, VRRP_HDR_LEN + (i + 1) * addrLen));
  if (!skipAddr) {
    for (const v of cfg.vips) {
      if (!addrs.some((a) => sameBytes(a, v))) {
        return rej('vip-missing', `ip address associated with VRID ${vrid} not present in MASTER advert: ${ipToString(v)}`);
      }
    }
  }
  if (cfg.unicast && cfg.checkUnicastSrc) {
    const peer = cfg.unicastPeers?.find((x) => sameBytes(x.addr, ip.src));
    if (!peer) return rej('unicast-src', `unicast source address ${ipToString(ip.src)} not a unicast peer`);
    if ((peer.minTtl !== undefined && ip.ttl < peer.minTtl) || (peer.maxTtl !== undefined && ip.ttl > peer.maxTtl)) {
      return rej('unicast-ttl', `unicast peer ${ipToString(ip.src)} ttl ${ip.ttl} outside ${peer.minTtl ?? 0}..${peer.maxTtl ?? 255}`);
    }
  }
  const advertInt = pktVer === 2 ? m[5]! : ((m[4]! & 0x0f) << 8) | m[5]!;
  return {
    kind: 'accepted',
    oldChecksum,
    advert: {
      version: cfg.version, vrid, priority, count, authType: pktVer === 2 ? m[4]! : 0, advertInt,
      checksum: (m[6]! << 8) | m[7]!, addrs, src: ip.src, dst: ip.dst, ttl: ip.ttl, ipId: ip.id, multicast: mc,
    },
  };
}

// In-place frame parser. One reusable Int32Array receives every field the
// pipeline needs (offsets are absolute indexes into the frame's buffer), so a
// packet costs no JS object. Every offset and length is checked against the
// frame: a malformed frame yields a DropReason code, never an exception.
//
// Layout of the result (index constants F_*). -1 means "absent" for offsets.

import { inetSum, foldSum } from './checksum.js';

// ------------------------------------------------------------------ fields
export const F_KIND = 0;          // KIND_*
export const F_ETHERTYPE = 1;     // innermost ethertype (after VLAN tags)
export const F_VLAN_COUNT = 2;    // 0, 1 or 2
export const F_VLAN0 = 3;         // outer tag TCI (-1 if none)
export const F_VLAN1 = 4;         // inner tag TCI (QinQ, -1 if none)
export const F_FRAME_OFF = 5;     // start of the Ethernet header
export const F_FRAME_LEN = 6;     // frame length as given
export const F_L3_OFF = 7;        // start of the IP / ARP header
export const F_FAMILY = 8;        // 4, 6, or 0 (not IP)
export const F_IP_HLEN = 9;       // IPv4 header length incl. options; IPv6 40 + extension headers
export const F_IP_LEN = 10;       // IPv4 total length / IPv6 40 + payload length (the packet without L2 padding)
export const F_PROTO = 11;        // L4 protocol (after IPv6 extension headers); 59 = no next header
export const F_TTL = 12;          // TTL / hop limit
export const F_TOS = 13;          // IPv4 TOS / IPv6 traffic class
export const F_IP_ID = 14;        // IPv4 ID, IPv6 fragment identification (0 without fragment header)
export const F_FRAG = 15;         // FRAG_* bits
export const F_FRAG_OFF = 16;     // fragment offset in bytes
export const F_SRC_OFF = 17;      // offset of the source address
export const F_DST_OFF = 18;      // offset of the destination address
export const F_SADDR4 = 19;       // IPv4 source as int32 (use >>> 0 for u32); 0 for IPv6
export const F_DADDR4 = 20;
export const F_L4_OFF = 21;       // start of the L4 header (-1 for a non-first fragment / unknown)
export const F_L4_LEN = 22;       // L4 bytes inside this packet (header + payload)
export const F_SPORT = 23;        // TCP/UDP/SCTP ports (-1 when unknown)
export const F_DPORT = 24;
export const F_TCP_FLAGS = 25;    // TCP flag byte (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32, ECE 64, CWR 128)
export const F_L4_HLEN = 26;      // TCP data offset in bytes, UDP 8, SCTP 12, ICMP 8
export const F_PAYLOAD_OFF = 27;  // first byte after the L4 header
export const F_CSUM_OFF = 28;     // offset of the L4 checksum field (-1 when none)
export const F_ICMP_TYPE = 29;    // ICMP / ICMPv6 type and code (-1 otherwise)
export const F_ICMP_CODE = 30;
export const F_ICMP_MTU = 31;     // next-hop MTU (IPv4 frag-needed) / MTU (ICMPv6 packet too big), else 0
export const F_SCTP_CHUNK = 32;   // first chunk type (-1 otherwise)
export const F_SCTP_CHUNK2 = 33;  // chunk after a COOKIE-ECHO/COOKIE-ACK first chunk (-1 when none)
export const F_FLAGS = 34;        // PF_* bits
// quoted packet inside an ICMP / ICMPv6 error
export const F_IN_L3_OFF = 35;    // -1 when not an error or the quote is unusable
export const F_IN_FAMILY = 36;
export const F_IN_HLEN = 37;
export const F_IN_PROTO = 38;
export const F_IN_SRC_OFF = 39;
export const F_IN_DST_OFF = 40;
export const F_IN_L4_OFF = 41;    // -1 when the quote is a non-first fragment
export const F_IN_SPORT = 42;     // -1 when not in the quote
export const F_IN_DPORT = 43;
export const F_IN_LEN = 44;       // quoted bytes present (from F_IN_L3_OFF to the end of the ICMP message)
export const F_IN_ERR = 45;       // DropReason of the quote (0 = usable); the outer packet still parses
export const F_IN_FRAG = 46;      // FRAG_* bits of the quoted packet
// ARP (Ethernet / IPv4 only)
export const F_ARP_OP = 47;
export const F_ARP_SHA_OFF = 48;
export const F_ARP_SPA = 49;      // int32
export const F_ARP_THA_OFF = 50;
export const F_ARP_TPA = 51;      // int32
export const PARSE_FIELDS = 52;

export const KIND_OTHER = 0;      // ethertype we do not handle (passed on by the caller)
export const KIND_ARP = 1;
export const KIND_IPV4 = 2;
export const KIND_IPV6 = 3;

export const FRAG_DF = 1;         // IPv4 don't-fragment
export const FRAG_MF = 2;         // more fragments
export const FRAG_IS = 4;         // the packet is a fragment (MF or offset != 0)
export const FRAG_NONFIRST = 8;   // offset != 0: no L4 header here
export const FRAG_ATOMIC = 16;    // IPv6 fragment header with offset 0 and M clear

export const PF_VLAN = 1;
export const PF_IP_OPTIONS = 2;   // IPv4 header longer than 20
export const PF_IP6_EXT = 4;      // IPv6 extension headers present
export const PF_ICMP_ERROR = 8;   // ICMP error quoting a packet (see F_IN_*)
export const PF_PORTS = 16;       // F_SPORT/F_DPORT valid
export const PF_L2_PADDING = 32;  // frame longer than the IP packet
export const PF_IP6_ROUTING = 64; // routing header with segments left > 0

export const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10, TCP_URG = 0x20;

export const IPPROTO_HOPOPTS = 0, IPPROTO_ICMP = 1, IPPROTO_IPIP = 4, IPPROTO_TCP = 6, IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41, IPPROTO_ROUTING = 43, IPPROTO_FRAGMENT = 44, IPPROTO_GRE = 47;
export const IPPROTO_ESP = 50, IPPROTO_AH = 51, IPPROTO_ICMPV6 = 58, IPPROTO_NONE = 59;
export const IPPROTO_DSTOPTS = 60, IPPROTO_SCTP = 132;

export const ETH_P_IP = 0x0800, ETH_P_ARP = 0x0806, ETH_P_IPV6 = 0x86dd;
export const ETH_P_8021Q = 0x8100, ETH_P_8021AD = 0x88a8, ETH_P_QINQ_OLD = 0x9100;

export const SCTP_DATA = 0, SCTP_INIT = 1, SCTP_INIT_ACK = 2, SCTP_SACK = 3, SCTP_HEARTBEAT = 4;
export const SCTP_HEARTBEAT_ACK = 5, SCTP_ABORT = 6, SCTP_SHUTDOWN = 7, SCTP_SHUTDOWN_ACK = 8;
export const SCTP_ERROR = 9, SCTP_COOKIE_ECHO = 10, SCTP_COOKIE_ACK = 11, SCTP_SHUTDOWN_COMPLETE = 14;

/** Maximum VLAN tags walked (802.1ad QinQ = 2). */
export const MAX_VLAN_TAGS = 2;
/** Maximum IPv6 extension headers walked before giving up (bounded work per packet). */
export const MAX_IP6_EXT = 8;

// ---------------------------------------------------------------- drop reasons
export const DROP_NONE = 0;
export const DROP_ETH_TRUNCATED = 1;
export const DROP_VLAN_TRUNCATED = 2;
export const DROP_VLAN_TOO_DEEP = 3;
export const DROP_ARP_TRUNCATED = 4;
export const DROP_IP_TRUNCATED = 5;      // shorter than the fixed IP header
export const DROP_IP_VERSION = 6;        // version nibble does not match the ethertype
export const DROP_IP_HLEN = 7;           // IHL < 5 or beyond the packet
export const DROP_IP_LEN = 8;            // total/payload length beyond the frame or below the header
export const DROP_IP_CSUM = 9;           // IPv4 header checksum wrong
export const DROP_IP_OPTIONS = 10;       // malformed IPv4 option list
export const DROP_IP_FRAG = 11;          // fragment offset + length beyond 65535 / bad fragment
export const DROP_IP6_EXT_TRUNCATED = 12;
export const DROP_IP6_EXT_TOO_MANY = 13;
export const DROP_IP6_HBH_NOT_FIRST = 14;
export const DROP_TCP_TRUNCATED = 15;
export const DROP_TCP_DOFF = 16;
export const DROP_UDP_TRUNCATED = 17;
export const DROP_UDP_LEN = 18;
export const DROP_SCTP_TRUNCATED = 19;
export const DROP_SCTP_CHUNK = 20;
export const DROP_ICMP_TRUNCATED = 21;
export const DROP_L4_FRAG_TRUNCATED = 22; // first fragment too short to hold the L4 header
export const DROP_REASONS = 23;

/** Names for counters and logs, indexed by DropReason. */
export const DROP_NAMES: readonly string[] = [
  'none', 'eth-truncated', 'vlan-truncated', 'vlan-too-deep', 'arp-truncated', 'ip-truncated', 'ip-version',
  'ip-hlen', 'ip-len', 'ip-csum', 'ip-options', 'ip-frag', 'ip6-ext-truncated', 'ip6-ext-too-many',
  'ip6-hbh-not-first', 'tcp-truncated', 'tcp-doff', 'udp-truncated', 'udp-len', 'sctp-truncated',
  'sctp-chunk', 'icmp-truncated', 'l4-frag-truncated',
];

/** Parse options. */
export const PARSE_NO_IP_CSUM = 1;  // skip the IPv4 header checksum check (--verify off paths, tests)

export function createParseResult(): Int32Array {
  return new Int32Array(PARSE_FIELDS);
}

/**
 * Every field to its "absent" value (-1, or 0 for counts, flags and addresses).
 * Written out store by store: r.fill() plus fix-ups costs about twice as much
 * per frame (a builtin call), and this runs for every frame.
 */
function reset(r: Int32Array, off: number, len: number): void {
  r[0] = KIND_OTHER; r[1] = -1; r[2] = 0; r[3] = -1; r[4] = -1; r[5] = off; r[6] = len; r[7] = -1;
  r[8] = 0; r[9] = -1; r[10] = -1; r[11] = -1; r[12] = -1; r[13] = -1; r[14] = 0; r[15] = 0;
  r[16] = 0; r[17] = -1; r[18] = -1; r[19] = 0; r[20] = 0; r[21] = -1; r[22] = 0; r[23] = -1;
  r[24] = -1; r[25] = -1; r[26] = -1; r[27] = -1; r[28] = -1; r[29] = -1; r[30] = -1; r[31] = 0;
  r[32] = -1; r[33] = -1; r[34] = 0; r[35] = -1; r[36] = -1; r[37] = -1; r[38] = -1; r[39] = -1;
  r[40] = -1; r[41] = -1; r[42] = -1; r[43] = -1; r[44] = -1; r[45] = 0; r[46] = 0; r[47] = -1;
  r[48] = -1; r[49] = -1; r[50] = -1; r[51] = -1;
}

const rd16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const rd32 = (b: Uint8Array, o: number): number => (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;

/**
 * Parse an Ethernet frame `buf[off, off+len)` into `r`. Returns DROP_NONE or a drop reason.
 * A frame of an ethertype we do not handle returns DROP_NONE with F_KIND = KIND_OTHER.
 */
export function parseFrame(buf: Uint8Array, off: number, len: number, r: Int32Array, opts = 0): number {
  reset(r, off, len);
  if (off < 0 || len < 14 || off + len > buf.length) return DROP_ETH_TRUNCATED;
  const end = off + len;
  let p = off + 12;
  let et = rd16(buf, p);
  let tags = 0;
  while (et === ETH_P_8021Q || et === ETH_P_8021AD || et === ETH_P_QINQ_OLD) {
    if (tags === MAX_VLAN_TAGS) return DROP_VLAN_TOO_DEEP;
    if (p + 6 > end) return DROP_VLAN_TRUNCATED;
    r[tags === 0 ? F_VLAN0 : F_VLAN1] = rd16(buf, p + 2);
    tags++;
    p += 4;
    et = rd16(buf, p);
  }
  r[F_VLAN_COUNT] = tags;
  if (tags > 0) r[F_FLAGS] = PF_VLAN;
  r[F_ETHERTYPE] = et;
  p += 2;
  r[F_L3_OFF] = p;
  if (et === ETH_P_IP) return parseIpv4(buf, p, end - p, r, opts);
  if (et === ETH_P_IPV6) return parseIpv6(buf, p, end - p, r);
  if (et === ETH_P_ARP) return parseArp(buf, p, end - p, r);
  return DROP_NONE;
}

/** Parse a bare IP packet (no L2), e.g. the inner packet of a tunnel. */
export function parseIp(buf: Uint8Array, off: number, len: number, r: Int32Array, opts = 0): number {
  reset(r, off, len);
  if (off < 0 || len < 1 || off + len > buf.length) return DROP_IP_TRUNCATED;
  r[F_L3_OFF] = off;
  const v = buf[off]! >> 4;
  if (v === 4) { r[F_ETHERTYPE] = ETH_P_IP; return parseIpv4(buf, off, len, r, opts); }
  if (v === 6) { r[F_ETHERTYPE] = ETH_P_IPV6; return parseIpv6(buf, off, len, r); }
  return DROP_IP_VERSION;
}

function parseArp(buf: Uint8Array, p: number, avail: number, r: Int32Array): number {
  if (avail < 8) return DROP_ARP_TRUNCATED;
  // Only Ethernet/IPv4 ARP is of interest (VIP announcements); others stay KIND_OTHER.
  if (rd16(buf, p) !== 1 || rd16(buf, p + 2) !== ETH_P_IP || buf[p + 4] !== 6 || buf[p + 5] !== 4) return DROP_NONE;
  if (avail < 28) return DROP_ARP_TRUNCATED;
  r[F_KIND] = KIND_ARP;
  r[F_ARP_OP] = rd16(buf, p + 6);
  r[F_ARP_SHA_OFF] = p + 8;
  r[F_ARP_SPA] = rd32(buf, p + 14);
  r[F_ARP_THA_OFF] = p + 18;
  r[F_ARP_TPA] = rd32(buf, p + 24);
  return DROP_NONE;
}

function parseIpv4(buf: Uint8Array, p: number, avail: number, r: Int32Array, opts: number): number {
  if (avail < 20) return DROP_IP_TRUNCATED;
  const vihl = buf[p]!;
  if (vihl >> 4 !== 4) return DROP_IP_VERSION;
  const hlen = (vihl & 15) << 2;
  if (hlen < 20 || hlen > avail) return DROP_IP_HLEN;
  const tot = rd16(buf, p + 2);
  if (tot < hlen || tot > avail) return DROP_IP_LEN;
  if ((opts & PARSE_NO_IP_CSUM) === 0 && !ipv4HeaderOk(buf, p, hlen)) return DROP_IP_CSUM;
  if (hlen > 20) {
    r[F_FLAGS] = r[F_FLAGS]! | PF_IP_OPTIONS;
    if (!optionsOk(buf, p + 20, p + hlen)) return DROP_IP_OPTIONS;
  }
  if (tot < avail) r[F_FLAGS] = r[F_FLAGS]! | PF_L2_PADDING;
  r[F_KIND] = KIND_IPV4;
  r[F_FAMILY] = 4;
  r[F_L3_OFF] = p;
  r[F_IP_HLEN] = hlen;
  r[F_IP_LEN] = tot;
  r[F_TOS] = buf[p + 1]!;
  r[F_IP_ID] = rd16(buf, p + 4);
  r[F_TTL] = buf[p + 8]!;
  const proto = buf[p + 9]!;
  r[F_PROTO] = proto;
  r[F_SRC_OFF] = p + 12;
  r[F_DST_OFF] = p + 16;
  r[F_SADDR4] = rd32(buf, p + 12);
  r[F_DADDR4] = rd32(buf, p + 16);
  const ff = rd16(buf, p + 6);
  const fo = (ff & 0x1fff) << 3;
  let frag = 0;
  if (ff & 0x4000) frag |= FRAG_DF;
  if (ff & 0x2000) frag |= FRAG_MF;
  if (ff & 0x8000) return DROP_IP_FRAG; // reserved (evil) bit
  if (fo !== 0 || (ff & 0x2000) !== 0) {
    frag |= FRAG_IS;
    if (fo + tot - hlen > 65535) return DROP_IP_FRAG;
    if ((ff & 0x2000) !== 0 && tot === hlen) return DROP_IP_FRAG; // empty non-last fragment
  }
  if (fo !== 0) frag |= FRAG_NONFIRST;
  r[F_FRAG] = frag;
  r[F_FRAG_OFF] = fo;
  r[F_L4_LEN] = tot - hlen;
  if (fo !== 0) return DROP_NONE;
  return parseL4(buf, p + hlen, tot - hlen, proto, 4, (frag & FRAG_IS) !== 0, r);
}

/** The IPv4 header sums to 0xffff; the usual 20-byte header word by word (no loop, no general fold). */
function ipv4HeaderOk(buf: Uint8Array, p: number, hlen: number): boolean {
  if (hlen !== 20) return foldSum(inetSum(buf, p, hlen, 0)) === 0xffff;
  let s = ((buf[p]! << 8) | buf[p + 1]!) + ((buf[p + 2]! << 8) | buf[p + 3]!) + ((buf[p + 4]! << 8) | buf[p + 5]!)
    + ((buf[p + 6]! << 8) | buf[p + 7]!) + ((buf[p + 8]! << 8) | buf[p + 9]!) + ((buf[p + 10]! << 8) | buf[p + 11]!)
    + ((buf[p + 12]! << 8) | buf[p + 13]!) + ((buf[p + 14]! << 8) | buf[p + 15]!) + ((buf[p + 16]! << 8) | buf[p + 17]!)
    + ((buf[p + 18]! << 8) | buf[p + 19]!);
  // ten 16-bit words: below 2^20, two folds suffice
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

/** IPv4 option list: each option fits, length >= 2 (except EOL/NOP). */
function optionsOk(buf: Uint8Array, p: number, end: number): boolean {
  while (p < end) {
    const t = buf[p]!;
    if (t === 0) return true;     // end of list: the rest is padding
    if (t === 1) { p++; continue; }
    if (p + 1 >= end) return false;
    const l = buf[p + 1]!;
    if (l < 2 || p + l > end) return false;
    p += l;
  }
  return true;
}

function parseIpv6(buf: Uint8Array, p: number, avail: number, r: Int32Array): number {
  if (avail < 40) return DROP_IP_TRUNCATED;
  if (buf[p]! >> 4 !== 6) return DROP_IP_VERSION;
  const plen = rd16(buf, p + 4);
  // A payload length of 0 would mean a jumbogram (hop-by-hop option): not supported on Ethernet.
  if (plen === 0 && buf[p + 6] === IPPROTO_HOPOPTS) return DROP_IP_LEN;
  const tot = 40 + plen;
  if (tot > avail) return DROP_IP_LEN;
  if (tot < avail) r[F_FLAGS] = r[F_FLAGS]! | PF_L2_PADDING;
  r[F_KIND] = KIND_IPV6;
  r[F_FAMILY] = 6;
  r[F_L3_OFF] = p;
  r[F_IP_LEN] = tot;
  r[F_TOS] = ((buf[p]! & 15) << 4) | (buf[p + 1]! >> 4);
  r[F_TTL] = buf[p + 7]!;
  r[F_SRC_OFF] = p + 8;
  r[F_DST_OFF] = p + 24;
  const end = p + tot;
  let nh = buf[p + 6]!;
  let q = p + 40;
  let n = 0;
  let frag = 0;
  while (true) {
    if (nh === IPPROTO_HOPOPTS || nh === IPPROTO_ROUTING || nh === IPPROTO_DSTOPTS || nh === IPPROTO_FRAGMENT || nh === IPPROTO_AH) {
      if (nh === IPPROTO_HOPOPTS && n !== 0) return DROP_IP6_HBH_NOT_FIRST;
      if (n === MAX_IP6_EXT) return DROP_IP6_EXT_TOO_MANY;
      if (q + 8 > end) return DROP_IP6_EXT_TRUNCATED;
      let hl: number;
      if (nh === IPPROTO_FRAGMENT) {
        hl = 8;
        if (frag !== 0) return DROP_IP_FRAG; // two fragment headers
        const fw = rd16(buf, q + 2);
        const fo = fw & 0xfff8;
        if (fo === 0 && (fw & 1) === 0) frag = FRAG_ATOMIC;
        else {
          frag = FRAG_IS;
          if (fw & 1) frag |= FRAG_MF;
          if (fo !== 0) frag |= FRAG_NONFIRST;
          if (fo + end - (q + 8) > 65535) return DROP_IP_FRAG;
        }
        r[F_FRAG_OFF] = fo;
        r[F_IP_ID] = rd32(buf, q + 4);
      } else if (nh === IPPROTO_AH) {
        hl = (buf[q + 1]! + 2) << 2;
      } else {
        hl = (buf[q + 1]! + 1) << 3;
        if (nh === IPPROTO_ROUTING && buf[q + 3] !== 0) r[F_FLAGS] = r[F_FLAGS]! | PF_IP6_ROUTING;
      }
      if (q + hl > end) return DROP_IP6_EXT_TRUNCATED;
      nh = buf[q]!;
      q += hl;
      n++;
      r[F_FLAGS] = r[F_FLAGS]! | PF_IP6_EXT;
      // Behind a non-first fragment the rest is payload, not headers.
      if ((frag & FRAG_NONFIRST) !== 0) break;
      continue;
    }
    break;
  }
  r[F_FRAG] = frag;
  r[F_IP_HLEN] = q - p;
  r[F_PROTO] = nh;
  r[F_L4_LEN] = end - q;
  if ((frag & FRAG_NONFIRST) !== 0 || nh === IPPROTO_NONE) return DROP_NONE;
  return parseL4(buf, q, end - q, nh, 6, (frag & FRAG_IS) !== 0, r);
}

function parseL4(buf: Uint8Array, q: number, l4len: number, proto: number, fam: number, isFrag: boolean, r: Int32Array): number {
  switch (proto) {
    case IPPROTO_TCP: {
      if (l4len < 20) return isFrag ? DROP_L4_FRAG_TRUNCATED : DROP_TCP_TRUNCATED;
      const doff = (buf[q + 12]! >> 4) << 2;
      if (doff < 20 || doff > l4len) return DROP_TCP_DOFF;
      r[F_L4_OFF] = q;
      r[F_SPORT] = rd16(buf, q);
      r[F_DPORT] = rd16(buf, q + 2);
      r[F_TCP_FLAGS] = buf[q + 13]!;
      r[F_L4_HLEN] = doff;
      r[F_PAYLOAD_OFF] = q + doff;
      r[F_CSUM_OFF] = q + 16;
      r[F_FLAGS] = r[F_FLAGS]! | PF_PORTS;
      return DROP_NONE;
    }
    case IPPROTO_UDP: {
      if (l4len < 8) return isFrag ? DROP_L4_FRAG_TRUNCATED : DROP_UDP_TRUNCATED;
      const ul = rd16(buf, q + 4);
      // In a first fragment the UDP length covers the whole datagram, not this fragment.
      if (ul < 8 || (!isFrag && ul > l4len)) return DROP_UDP_LEN;
      r[F_L4_OFF] = q;
      r[F_SPORT] = rd16(buf, q);
      r[F_DPORT] = rd16(buf, q + 2);
      r[F_L4_HLEN] = 8;
      r[F_PAYLOAD_OFF] = q + 8;
      r[F_CSUM_OFF] = q + 6;
      r[F_FLAGS] = r[F_FLAGS]! | PF_PORTS;
      return DROP_NONE;
    }
    case IPPROTO_SCTP: {
      if (l4len < 16) return isFrag ? DROP_L4_FRAG_TRUNCATED : DROP_SCTP_TRUNCATED;
      const ct = buf[q + 12]!;
      const cl = rd16(buf, q + 14);
      if (cl < 4 || (!isFrag && cl > l4len - 12)) return DROP_SCTP_CHUNK;
      r[F_L4_OFF] = q;
      r[F_SPORT] = rd16(buf, q);
      r[F_DPORT] = rd16(buf, q + 2);
      r[F_L4_HLEN] = 12;
      r[F_PAYLOAD_OFF] = q + 12;
      r[F_CSUM_OFF] = q + 8;
      r[F_SCTP_CHUNK] = ct;
      if (ct === SCTP_COOKIE_ECHO || ct === SCTP_COOKIE_ACK) {
        // The ABORT rule looks at the next chunk (4-byte aligned) when it is in the packet.
        const n = q + 12 + ((cl + 3) & ~3);
        if (n + 4 <= q + l4len) r[F_SCTP_CHUNK2] = buf[n]!;
      }
      r[F_FLAGS] = r[F_FLAGS]! | PF_PORTS;
      return DROP_NONE;
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: {
      if ((proto === IPPROTO_ICMP) !== (fam === 4)) {
        // ICMPv6 inside IPv4 (or ICMP inside IPv6) is just an unknown protocol here.
        r[F_L4_OFF] = q;
        return DROP_NONE;
      }
      if (l4len < 8) return isFrag ? DROP_L4_FRAG_TRUNCATED : DROP_ICMP_TRUNCATED;
      const t = buf[q]!;
      r[F_L4_OFF] = q;
      r[F_ICMP_TYPE] = t;
      r[F_ICMP_CODE] = buf[q + 1]!;
      r[F_L4_HLEN] = 8;
      r[F_PAYLOAD_OFF] = q + 8;
      r[F_CSUM_OFF] = q + 2;
      let err = false;
      if (fam === 4) {
        // dest unreachable, source quench, time exceeded, parameter problem
        err = t === 3 || t === 4 || t === 11 || t === 12;
        if (t === 3 && buf[q + 1] === 4) r[F_ICMP_MTU] = rd16(buf, q + 6);
      } else {
        err = t < 128;
        if (t === 2) r[F_ICMP_MTU] = rd32(buf, q + 4);
      }
      // Errors are not fragmented in practice; a fragmented one has an incomplete quote.
      if (err && !isFrag) {
        r[F_FLAGS] = r[F_FLAGS]! | PF_ICMP_ERROR;
        r[F_IN_ERR] = parseQuote(buf, q + 8, l4len - 8, r);
      }
      return DROP_NONE;
    }
    default:
      r[F_L4_OFF] = q;
      return DROP_NONE;
  }
}

/**
 * The packet quoted in an ICMP error: its IP header (IPv4 may be cut by the
 * quoting rules, its total length then exceeds the quote) and its first 4 L4
 * bytes, the ports. Returns a DropReason for the quote only.
 */
function parseQuote(buf: Uint8Array, p: number, avail: number, r: Int32Array): number {
  if (avail < 1) return DROP_IP_TRUNCATED;
  const v = buf[p]! >> 4;
  let hlen: number;
  let proto: number;
  let frag = 0;
  if (v === 4) {
    if (avail < 20) return DROP_IP_TRUNCATED;
    hlen = (buf[p]! & 15) << 2;
    if (hlen < 20 || hlen > avail) return DROP_IP_HLEN;
    proto = buf[p + 9]!;
    const ff = rd16(buf, p + 6);
    if (ff & 0x4000) frag |= FRAG_DF;
    if (ff & 0x2000) frag |= FRAG_MF | FRAG_IS;
    if (ff & 0x1fff) frag |= FRAG_IS | FRAG_NONFIRST;
    r[F_IN_SRC_OFF] = p + 12;
    r[F_IN_DST_OFF] = p + 16;
  } else if (v === 6) {
    if (avail < 40) return DROP_IP_TRUNCATED;
    const end = p + avail;
    let nh = buf[p + 6]!;
    let q = p + 40;
    let n = 0;
    while (nh === IPPROTO_HOPOPTS || nh === IPPROTO_ROUTING || nh === IPPROTO_DSTOPTS || nh === IPPROTO_FRAGMENT || nh === IPPROTO_AH) {
      if (n === MAX_IP6_EXT) return DROP_IP6_EXT_TOO_MANY;
      if (q + 8 > end) return DROP_IP6_EXT_TRUNCATED;
      let hl: number;
      if (nh === IPPROTO_FRAGMENT) {
        hl = 8;
        const fw = rd16(buf, q + 2);
        if ((fw & 0xfff8) !== 0) frag |= FRAG_IS | FRAG_NONFIRST;
        if (fw & 1) frag |= FRAG_IS | FRAG_MF;
      } else if (nh === IPPROTO_AH) hl = (buf[q + 1]! + 2) << 2;
      else hl = (buf[q + 1]! + 1) << 3;
      if (q + hl > end) return DROP_IP6_EXT_TRUNCATED;
      nh = buf[q]!;
      q += hl;
      n++;
      if ((frag & FRAG_NONFIRST) !== 0) break;
    }
    hlen = q - p;
    proto = nh;
    r[F_IN_SRC_OFF] = p + 8;
    r[F_IN_DST_OFF] = p + 24;
  } else return DROP_IP_VERSION;
  r[F_IN_L3_OFF] = p;
  r[F_IN_FAMILY] = v;
  r[F_IN_HLEN] = hlen;
  r[F_IN_PROTO] = proto;
  r[F_IN_LEN] = avail;
  r[F_IN_FRAG] = frag;
  if ((frag & FRAG_NONFIRST) !== 0) return DROP_NONE;
  r[F_IN_L4_OFF] = p + hlen;
  if ((proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP) && hlen + 4 <= avail) {
    r[F_IN_SPORT] = rd16(buf, p + hlen);
    r[F_IN_DPORT] = rd16(buf, p + hlen + 2);
  }
  return DROP_NONE;
}

/** True when the parse result has both ports (TCP/UDP/SCTP, not a non-first fragment). */
export function hasPorts(r: Int32Array): boolean {
  return (r[F_FLAGS]! & PF_PORTS) !== 0;
}

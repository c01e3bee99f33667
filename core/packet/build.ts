// Frame builders for tests and for the director's own frames (ICMP errors,
// tunnel headers). They allocate: not for the per-packet path, except the
// write* helpers at the end, which write in place into a caller's buffer.

import { ipv4ToU32, ipv6ToBytes } from '../model/addr.js';
import {
  fillIpv4HeaderChecksum, fillSctpChecksum, inetChecksum, l4Checksum, rd16, wr16, wr32,
} from './checksum.js';
import {
  ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, IPPROTO_FRAGMENT, IPPROTO_ICMP, IPPROTO_ICMPV6,
  IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP,
} from './parse.js';

export type Mac = string; // "02:00:00:00:00:01"

export function macBytes(m: Mac): Uint8Array {
  const p = m.split(':');
  if (p.length !== 6) throw new Error(`bad MAC ${m}`);
  return Uint8Array.from(p.map((x) => parseInt(x, 16)));
}

export interface EthSpec {
  dst?: Mac;
  src?: Mac;
  /** VLAN TCIs, outermost first. With two, the outer uses TPID 0x88a8 (802.1ad) unless `tpids` says otherwise. */
  vlans?: number[];
  tpids?: number[];
}

export interface Ipv6Ext {
  /** 0 hop-by-hop, 43 routing, 44 fragment, 60 destination options, 51 AH */
  type: number;
  /** Body after the 2 first bytes (next header, length); padded to 8 (AH: 4) bytes. Fragment: use `frag`. */
  body?: Uint8Array;
  frag?: { offset: number; more: boolean; id: number };
}

export interface IpSpec {
  src: string;
  dst: string;
  ttl?: number;
  /** IPv4 TOS / IPv6 traffic class */
  tos?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** fragment offset in bytes (multiple of 8) */
  fragOffset?: number;
  /** IPv4 options (padded to 4 bytes with EOL) */
  options?: Uint8Array;
  flowLabel?: number;
  ext?: Ipv6Ext[];
  /** override the protocol / next-header field */
  proto?: number;
}

export type L4Spec =
  | { proto: 'tcp'; sport: number; dport: number; flags?: number; seq?: number; ack?: number; window?: number;
      options?: Uint8Array; payload?: Uint8Array; badChecksum?: boolean }
  | { proto: 'udp'; sport: number; dport: number; payload?: Uint8Array; zeroChecksum?: boolean }
  | { proto: 'sctp'; sport: number; dport: number; vtag?: number; chunks: SctpChunk[] }
  | { proto: 'icmp'; type: number; code: number; rest?: number; payload?: Uint8Array }
  | { proto: 'raw'; num: number; bytes: Uint8Array };

export interface SctpChunk { type: number; flags?: number; data?: Uint8Array }

export const familyOf = (addr: string): 4 | 6 => (addr.includes(':') ? 6 : 4);

function addrBytesOf(addr: string): Uint8Array {
  if (familyOf(addr) === 6) {
    const b = ipv6ToBytes(addr);
    if (!b) throw new Error(`bad IPv6 address ${addr}`);
    return b;
  }
  const n = ipv4ToU32(addr);
  if (n === null) throw new Error(`bad IPv4 address ${addr}`);
  const b = new Uint8Array(4);
  wr32(b, 0, n);
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** The L4 bytes with a zero checksum field, its protocol number and the checksum field offset. */
function l4Bytes(l4: L4Spec): { bytes: Uint8Array; num: number; csum: number } {
  switch (l4.proto) {
    case 'tcp': {
      const opt = l4.options ?? new Uint8Array(0);
      const olen = (opt.length + 3) & ~3;
      const pl = l4.payload ?? new Uint8Array(0);
      const b = new Uint8Array(20 + olen + pl.length);
      wr16(b, 0, l4.sport); wr16(b, 2, l4.dport);
      wr32(b, 4, l4.seq ?? 1000); wr32(b, 8, l4.ack ?? 0);
      b[12] = ((20 + olen) >> 2) << 4;
      b[13] = l4.flags ?? 0x02;
      wr16(b, 14, l4.window ?? 65535);
      b.set(opt, 20);
      b.set(pl, 20 + olen);
      return { bytes: b, num: IPPROTO_TCP, csum: 16 };
    }
    case 'udp': {
      const pl = l4.payload ?? new Uint8Array(0);
      const b = new Uint8Array(8 + pl.length);
      wr16(b, 0, l4.sport); wr16(b, 2, l4.dport); wr16(b, 4, b.length);
      b.set(pl, 8);
      return { bytes: b, num: IPPROTO_UDP, csum: 6 };
    }
    case 'sctp': {
      const parts: Uint8Array[] = [new Uint8Array(12)];
      wr16(parts[0]!, 0, l4.sport); wr16(parts[0]!, 2, l4.dport); wr32(parts[0]!, 4, l4.vtag ?? 0);
      for (const c of l4.chunks) {
        const d = c.data ?? new Uint8Array(0);
        const ch = new Uint8Array((4 + d.length + 3) & ~3);
        ch[0] = c.type; ch[1] = c.flags ?? 0; wr16(ch, 2, 4 + d.length); ch.set(d, 4);
        parts.push(ch);
      }
      return { bytes: concat(parts), num: IPPROTO_SCTP, csum: 8 };
    }
    case 'icmp': {
      const pl = l4.payload ?? new Uint8Array(0);
      const b = new Uint8Array(8 + pl.length);
      b[0] = l4.type; b[1] = l4.code; wr32(b, 4, l4.rest ?? 0);
      b.set(pl, 8);
      return { bytes: b, num: -1, csum: 2 };
    }
    case 'raw':
      return { bytes: l4.bytes, num: l4.num, csum: -1 };
  }
}

/** An IP packet (no L2) with correct IPv4 header and L4 checksums. */
export function buildIp(ip: IpSpec, l4: L4Spec): Uint8Array {
  const fam = familyOf(ip.src);
  if (familyOf(ip.dst) !== fam) throw new Error('mixed address families');
  const { bytes, num, csum } = l4Bytes(l4);
  const proto = ip.proto ?? (num >= 0 ? num : fam === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
  let pkt: Uint8Array;
  let l4off: number;
  let srcOff: number, dstOff: number;
  if (fam === 4) {
    const opt = ip.options ?? new Uint8Array(0);
    const hlen = 20 + ((opt.length + 3) & ~3);
    pkt = new Uint8Array(hlen + bytes.length);
    pkt[0] = 0x40 | (hlen >> 2);
    pkt[1] = ip.tos ?? 0;
    wr16(pkt, 2, pkt.length);
    wr16(pkt, 4, ip.id ?? 0);
    wr16(pkt, 6, (ip.df ? 0x4000 : 0) | (ip.mf ? 0x2000 : 0) | ((ip.fragOffset ?? 0) >> 3));
    pkt[8] = ip.ttl ?? 64;
    pkt[9] = proto;
    pkt.set(addrBytesOf(ip.src), 12);
    pkt.set(addrBytesOf(ip.dst), 16);
    pkt.set(opt, 20);
    fillIpv4HeaderChecksum(pkt, 0);
    l4off = hlen; srcOff = 12; dstOff = 16;
  } else {
    const exts: Uint8Array[] = [];
    const types = (ip.ext ?? []).map((e) => e.type);
    (ip.ext ?? []).forEach((e, i) => {
      const next = i + 1 < types.length ? types[i + 1]! : proto;
      let h: Uint8Array;
      if (e.type === IPPROTO_FRAGMENT) {
        h = new Uint8Array(8);
        const f = e.frag ?? { offset: 0, more: false, id: 0 };
        wr16(h, 2, (f.offset & 0xfff8) | (f.more ? 1 : 0));
        wr32(h, 4, f.id);
      } else if (e.type === 51) {
        const body = e.body ?? new Uint8Array(10);
        const len = (2 + body.length + 3) & ~3;
        h = new Uint8Array(len < 12 ? 12 : len);
        h.set(body, 2);
        h[1] = (h.length >> 2) - 2;
      } else {
        const body = e.body ?? new Uint8Array(6);
        h = new Uint8Array((2 + body.length + 7) & ~7);
        h.set(body, 2);
        h[1] = (h.length >> 3) - 1;
      }
      h[0] = next;
      exts.push(h);
    });
    const ext = concat(exts);
    pkt = new Uint8Array(40 + ext.length + bytes.length);
    const tc = ip.tos ?? 0;
    pkt[0] = 0x60 | (tc >> 4);
    pkt[1] = ((tc & 15) << 4) | ((ip.flowLabel ?? 0) >> 16 & 15);
    wr16(pkt, 2, (ip.flowLabel ?? 0) & 0xffff);
    wr16(pkt, 4, pkt.length - 40);
    pkt[6] = types.length > 0 ? types[0]! : proto;
    pkt[7] = ip.ttl ?? 64;
    pkt.set(addrBytesOf(ip.src), 8);
    pkt.set(addrBytesOf(ip.dst), 24);
    pkt.set(ext, 40);
    l4off = 40 + ext.length; srcOff = 8; dstOff = 24;
  }
  pkt.set(bytes, l4off);
  const nonFirst = (ip.fragOffset ?? 0) !== 0 || (ip.ext ?? []).some((e) => (e.frag?.offset ?? 0) !== 0);
  if (!nonFirst) {
    const l4len = bytes.length;
    if (l4.proto === 'sctp') fillSctpChecksum(pkt, l4off, l4len);
    else if (l4.proto === 'icmp') {
      const c = fam === 4
        ? inetChecksum(pkt, l4off, l4len)
        : l4Checksum(pkt, 6, srcOff, dstOff, IPPROTO_ICMPV6, l4off, l4len, l4off + 2);
      wr16(pkt, l4off + 2, c);
    } else if (csum >= 0 && !(l4.proto === 'udp' && l4.zeroChecksum)) {
      let c = l4Checksum(pkt, fam, srcOff, dstOff, num, l4off, l4len, l4off + csum);
      if (l4.proto === 'tcp' && l4.badChecksum) c ^= 0x5a5a;
      wr16(pkt, l4off + csum, c);
    }
  }
  return pkt;
}

/** Ethernet header (+ VLAN tags) in front of an L3 packet. */
export function buildEth(eth: EthSpec, l3: Uint8Array, ethertype?: number): Uint8Array {
  const vl = eth.vlans ?? [];
  const out = new Uint8Array(14 + 4 * vl.length + l3.length);
  out.set(macBytes(eth.dst ?? '02:00:00:00:00:fe'), 0);
  out.set(macBytes(eth.src ?? '02:00:00:00:00:01'), 6);
  let p = 12;
  vl.forEach((tci, i) => {
    const tpid = eth.tpids?.[i] ?? (vl.length > 1 && i === 0 ? ETH_P_8021AD : ETH_P_8021Q);
    wr16(out, p, tpid); wr16(out, p + 2, tci); p += 4;
  });
  const et = ethertype ?? (l3.length > 0 && l3[0]! >> 4 === 6 ? ETH_P_IPV6 : ETH_P_IP);
  wr16(out, p, et);
  out.set(l3, p + 2);
  return out;
}

/** A whole Ethernet frame: buildEth(eth, buildIp(ip, l4)). */
export function buildFrame(eth: EthSpec, ip: IpSpec, l4: L4Spec): Uint8Array {
  return buildEth(eth, buildIp(ip, l4));
}

/** An ARP request (op 1) or reply (op 2), Ethernet/IPv4. */
export function buildArp(eth: EthSpec, op: number, sha: Mac, spa: string, tha: Mac, tpa: string): Uint8Array {
  const a = new Uint8Array(28);
  wr16(a, 0, 1); wr16(a, 2, ETH_P_IP); a[4] = 6; a[5] = 4; wr16(a, 6, op);
  a.set(macBytes(sha), 8); a.set(addrBytesOf(spa), 14); a.set(macBytes(tha), 18); a.set(addrBytesOf(tpa), 24);
  return buildEth(eth, a, 0x0806);
}

// ----------------------------------------------------------------- ICMP errors

/** Linux icmp_send: the error datagram is at most 576 bytes (RFC 1812), so 576 - 20 - 8 quoted. */
export const ICMP4_QUOTE_MAX = 576 - 20 - 8;
/** Linux icmp6_send: at most IPV6_MIN_MTU (1280) - 40 - 8 quoted. */
export const ICMP6_QUOTE_MAX = 1280 - 40 - 8;

export interface IcmpErrorSpec {
  /** source of the error (the director: the address the offending packet was sent to, e.g. the VIP) */
  src: string;
  /** the offending IP packet (no L2), quoted from its IP header */
  offending: Uint8Array;
  /** destination; default: the offending packet's source */
  dst?: string;
  type: number;
  code: number;
  /** IPv4 frag-needed next-hop MTU / ICMPv6 packet-too-big MTU */
  mtu?: number;
  /** IPv4 header of the error: Linux uses TOS 0xc0, TTL 64, DF clear, ID from the generator */
  id?: number;
  ttl?: number;
  tos?: number;
}

function offendingSource(pkt: Uint8Array): string {
  if (pkt[0]! >> 4 === 4) return `${pkt[12]}.${pkt[13]}.${pkt[14]}.${pkt[15]}`;
  const w: string[] = [];
  for (let i = 0; i < 8; i++) w.push(rd16(pkt, 8 + 2 * i).toString(16));
  return w.join(':');
}

/** The bytes Linux quotes: the offending packet (IP header onwards, without L2 padding) cut at the limit. */
export function icmpQuote(offending: Uint8Array, family: 4 | 6): Uint8Array {
  const len = family === 4 ? rd16(offending, 2) : 40 + rd16(offending, 4);
  const n = Math.min(len, offending.length, family === 4 ? ICMP4_QUOTE_MAX : ICMP6_QUOTE_MAX);
  return offending.subarray(0, n);
}

/** ICMP (IPv4) or ICMPv6 error quoting `offending` as Linux does; returns the IP packet. */
export function buildIcmpError(e: IcmpErrorSpec): Uint8Array {
  const fam = familyOf(e.src);
  const quote = icmpQuote(e.offending, fam);
  let rest = 0;
  if (fam === 4 && e.type === 3 && e.code === 4) rest = (e.mtu ?? 0) & 0xffff;
  if (fam === 6 && e.type === 2) rest = e.mtu ?? 0;
  return buildIp(
    { src: e.src, dst: e.dst ?? offendingSource(e.offending), ttl: e.ttl ?? (fam === 4 ? 64 : 64), tos: e.tos ?? (fam === 4 ? 0xc0 : 0), id: e.id ?? 0 },
    { proto: 'icmp', type: e.type, code: e.code, rest, payload: quote },
  );
}

export const icmpPortUnreachable = (src: string, offending: Uint8Array): Uint8Array =>
  familyOf(src) === 4 ? buildIcmpError({ src, offending, type: 3, code: 3 }) : buildIcmpError({ src, offending, type: 1, code: 4 });
export const icmpFragNeeded = (src: string, offending: Uint8Array, mtu: number): Uint8Array =>
  buildIcmpError({ src, offending, type: 3, code: 4, mtu });
export const icmp6PacketTooBig = (src: string, offending: Uint8Array, mtu: number): Uint8Array =>
  buildIcmpError({ src, offending, type: 2, code: 0, mtu });
export const icmpTimeExceeded = (src: string, offending: Uint8Array): Uint8Array =>
  familyOf(src) === 4 ? buildIcmpError({ src, offending, type: 11, code: 0 }) : buildIcmpError({ src, offending, type: 3, code: 0 });

// ------------------------------------------------------------------- tunnels

/** ECN encapsulation (RFC 6040 as Linux does it): inner CE becomes ECT(0) outside. */
export function outerTos(innerTos: number): number {
  return (innerTos & 3) === 3 ? (innerTos & ~3) | 2 : innerTos;
}

function innerDsfield(buf: Uint8Array, off: number): number {
  return buf[off]! >> 4 === 4 ? buf[off + 1]! : ((buf[off]! & 15) << 4) | (buf[off + 1]! >> 4);
}
function innerTtl(buf: Uint8Array, off: number): number {
  return buf[off]! >> 4 === 4 ? buf[off + 8]! : buf[off + 7]!;
}

/**
 * Write a 20-byte outer IPv4 header (forwarding.md §5.1) at buf[off] for the
 * inner IP packet at buf[off+20, off+20+innerLen) (already TTL-decremented).
 * `src`/`dst` are host-order u32; `id` is used only when the outer DF is clear.
 * `proto` overrides the protocol (17 GUE, 47 GRE; default 4 / 41 by inner family).
 */
export function writeOuterIpv4(buf: Uint8Array, off: number, innerLen: number, src: number, dst: number,
  id: number, pmtuDisc = true, proto = -1, encapLen = 0): void {
  const inner = off + 20 + encapLen;
  const v4 = buf[inner]! >> 4 === 4;
  const df = pmtuDisc && v4 && (buf[inner + 6]! & 0x40) !== 0;
  buf[off] = 0x45;
  buf[off + 1] = outerTos(innerDsfield(buf, inner));
  wr16(buf, off + 2, 20 + encapLen + innerLen);
  wr16(buf, off + 4, df ? 0 : id & 0xffff); // Linux: ID 0 for DF packets without a socket
  wr16(buf, off + 6, df ? 0x4000 : 0);
  buf[off + 8] = innerTtl(buf, inner);
  buf[off + 9] = proto >= 0 ? proto : v4 ? IPPROTO_IPIP : IPPROTO_IPV6;
  wr16(buf, off + 10, 0);
  wr32(buf, off + 12, src);
  wr32(buf, off + 16, dst);
  fillIpv4HeaderChecksum(buf, off);
}

/** Write a 40-byte outer IPv6 header (forwarding.md §5.2) at buf[off] for the inner packet following it. */
export function writeOuterIpv6(buf: Uint8Array, off: number, innerLen: number, src: Uint8Array, dst: Uint8Array,
  proto = -1, encapLen = 0): void {
  const inner = off + 40 + encapLen;
  const v4 = buf[inner]! >> 4 === 4;
  const tc = outerTos(innerDsfield(buf, inner));
  buf[off] = 0x60 | (tc >> 4);
  buf[off + 1] = (tc & 15) << 4;
  buf[off + 2] = 0; buf[off + 3] = 0; // flow label 0
  wr16(buf, off + 4, encapLen + innerLen);
  buf[off + 6] = proto >= 0 ? proto : v4 ? IPPROTO_IPIP : IPPROTO_IPV6;
  buf[off + 7] = innerTtl(buf, inner);
  buf.set(src.subarray(0, 16), off + 8);
  buf.set(dst.subarray(0, 16), off + 24);
}

/** IPIP / IP6IP6 (and mixed) encapsulation of an IP packet into a new array. */
export function encapsulate(inner: Uint8Array, outer: { src: string; dst: string; id?: number; pmtuDisc?: boolean }): Uint8Array {
  const fam = familyOf(outer.src);
  const hl = fam === 4 ? 20 : 40;
  const out = new Uint8Array(hl + inner.length);
  out.set(inner, hl);
  if (fam === 4) {
    writeOuterIpv4(out, 0, inner.length, ipv4ToU32(outer.src)!, ipv4ToU32(outer.dst)!, outer.id ?? 0, outer.pmtuDisc ?? true);
  } else {
    writeOuterIpv6(out, 0, inner.length, addrBytesOf(outer.src), addrBytesOf(outer.dst));
  }
  return out;
}

/** Parse helper for tests: addresses as bytes. */
export { addrBytesOf };

// Masquerading / NAT (`-m`, forwarding.md §4, §7.3): requests get the real
// server's address and port as destination, replies the VIP and virtual port
// as source; L4 checksums are updated incrementally (RFC 1624) — not
// verified, so a wrong one stays wrong, shifted — except a zero UDP checksum,
// which is computed in full, and SCTP's CRC32c, recomputed. ICMP errors about
// NAT connections get their outer and quoted addresses rewritten.

import {
  CSUM_NONE, CSUM_PARTIAL, CSUM_TCP, CSUM_UDP, fillIpv4HeaderChecksum, fillSctpChecksum, inetChecksum, l4Checksum, rd16,
  rewrite16, rewriteAddr4, rewriteAddr6, verifyL4Sum, wr16, wr32, F_CSUM_OFF, F_DST_OFF, F_IN_DST_OFF, F_IN_L3_OFF,
  F_IN_L4_OFF, F_IN_SRC_OFF, F_IP_LEN, F_L3_OFF, F_L4_LEN, F_L4_OFF, F_PROTO, F_SRC_OFF, IPPROTO_SCTP, IPPROTO_TCP,
  IPPROTO_UDP, defineForwarder, FWD_BAD, FWD_NO_ROOM, FWD_TTL, decHopLimit6, decTtl4, type FwdPacket
} from 'lvsd';
import { ETH_IP, ETH_IP6, isV6, mtuStep, output, ttlStep, writeEth } from './lib/common.js';

/** Rewrites the address at `addrOff` and the port at `portOff` of the packet, fixing every checksum. */
function rewrite(p: FwdPacket, addrOff: number, addr4: number, addr: Uint8Array, portOff: number, port: number): void {
  const r = p.r, b = p.buf;
  const l3 = r[F_L3_OFF]!;
  const proto = r[F_PROTO]!;
  const csum = r[F_CSUM_OFF]!;
  // a partial checksum (the kernel or the NIC completes it on output) holds the pseudo-header sum: addresses only
  const kind = p.csumPartial ? CSUM_PARTIAL : proto === IPPROTO_TCP ? CSUM_TCP : proto === IPPROTO_UDP ? CSUM_UDP : CSUM_NONE;
  const udpZero = !p.csumPartial && proto === IPPROTO_UDP && rd16(b, csum) === 0;
  if (isV6(b, l3)) rewriteAddr6(b, addrOff, addr, 0, csum, kind);
  else rewriteAddr4(b, l3, addrOff, addr4, csum, kind);
  rewrite16(b, portOff, port, csum, kind);
  const l4 = r[F_L4_OFF]!, l4len = r[F_L4_LEN]!;
  // A UDP datagram without checksum leaves with a full one (ip_vs_proto_udp.c); 0 is sent as 0xffff.
  if (udpZero) wr16(b, csum, l4Checksum(b, isV6(b, l3) ? 6 : 4, r[F_SRC_OFF]!, r[F_DST_OFF]!, IPPROTO_UDP, l4, l4len, csum));
  if (proto === IPPROTO_SCTP) fillSctpChecksum(b, l4, l4len);
}

/** ICMP / ICMPv6 checksum of the error at l4 is right (§7.3: a bad one is dropped). */
function icmpSumOk(p: FwdPacket): boolean {
  const r = p.r, b = p.buf;
  const l3 = r[F_L3_OFF]!;
  const v6 = isV6(b, l3);
  return verifyL4Sum(b, v6 ? 6 : 4, r[F_SRC_OFF]!, r[F_DST_OFF]!, v6 ? 58 : -1, r[F_L4_OFF]!, r[F_L4_LEN]!);
}

function icmpSumFill(p: FwdPacket): void {
  const r = p.r, b = p.buf;
  const l3 = r[F_L3_OFF]!, l4 = r[F_L4_OFF]!, l4len = r[F_L4_LEN]!;
  wr16(b, l4 + 2, 0);
  wr16(b, l4 + 2, isV6(b, l3)
    ? l4Checksum(b, 6, r[F_SRC_OFF]!, r[F_DST_OFF]!, 58, l4, l4len, l4 + 2)
    : inetChecksum(b, l4, l4len));
}

/** Writes an address (4 or 16 bytes) into the quoted packet and fixes the quoted IPv4 header checksum. */
function setQuoted(p: FwdPacket, at: number, addr4: number, addr: Uint8Array, portAt: number, port: number): void {
  const b = p.buf;
  const inL3 = p.r[F_IN_L3_OFF]!;
  if (isV6(b, inL3)) b.set(addr.subarray(0, 16), at);
  else { wr32(b, at, addr4); fillIpv4HeaderChecksum(b, inL3); }
  // the quoted TCP/UDP checksum is left stale, as the kernel leaves it
  wr16(b, portAt, port);
}

/** Forward-path TTL for packets IPVS sees after routing (replies, relayed errors): errors from our own address. */
function forwardTtl(p: FwdPacket, l3: number): boolean {
  const b = p.buf;
  return isV6(b, l3) ? b[l3 + 7]! > 1 : b[l3 + 8]! > 1;
}

function decTtl(b: Uint8Array, l3: number): void {
  if (isV6(b, l3)) decHopLimit6(b, l3); else decTtl4(b, l3);
}

function send(p: FwdPacket, io: Parameters<typeof output>[1], l3: number, len: number): number {
  if (!writeEth(p, l3, len, isV6(p.buf, l3) ? ETH_IP6 : ETH_IP)) return FWD_NO_ROOM;
  return output(p, io, l3, len);
}

export default defineForwarder({
  name: 'nat',
  method: 'masq',
  // The real servers answer through the director: replies come back to outbound().
  replies: true,
  // rewrite() keeps a partial checksum's pseudo-header sum; an aggregate is rewritten once and leaves whole
  partialChecksums: true,
  aggregates: true,
  inbound(p, io) {
    const r = p.r;
    const l3 = r[F_L3_OFF]!;
    const len = r[F_IP_LEN]!;
    if (isV6(p.buf, l3) !== (p.dest.family === 6)) return FWD_BAD;
    let c = ttlStep(p, io, l3);
    if (c) return c;
    c = mtuStep(p, io, l3, len, p.link.mtu);   // quotes the request before DNAT
    if (c) return c;
    const l4 = r[F_L4_OFF]!;
    rewrite(p, r[F_DST_OFF]!, p.dest.addr4, p.dest.addr, l4 + 2, p.dest.port);
    return send(p, io, l3, len);
  },

  outbound(p, io) {
    const r = p.r;
    const l3 = r[F_L3_OFF]!;
    const len = r[F_IP_LEN]!;
    // ip_forward order: TTL test, MTU test, decrement; then IPVS SNATs in FORWARD
    if (!forwardTtl(p, l3)) { io.icmpError(p, l3, isV6(p.buf, l3) ? 3 : 11, 0, 0, true); return FWD_TTL; }
    const c = mtuStep(p, io, l3, len, p.link.mtu, true);
    if (c) return c;
    decTtl(p.buf, l3);
    rewrite(p, r[F_SRC_OFF]!, p.vaddr4, p.vaddr, r[F_L4_OFF]!, p.vport);
    return send(p, io, l3, len);
  },

  icmpOut(p, io) {
    // from the real server about a request: outer source and quoted destination become the VIP / vport
    const r = p.r, b = p.buf;
    const l3 = r[F_L3_OFF]!;
    const len = r[F_IP_LEN]!;
    if (!icmpSumOk(p)) return FWD_BAD;
    if (!forwardTtl(p, l3)) return FWD_TTL;     // no ICMP about an ICMP error
    decTtl(b, l3);
    if (isV6(b, l3)) b.set(p.vaddr.subarray(0, 16), r[F_SRC_OFF]!);
    else rewriteAddr4(b, l3, r[F_SRC_OFF]!, p.vaddr4, -1, CSUM_NONE);
    setQuoted(p, r[F_IN_DST_OFF]!, p.vaddr4, p.vaddr, r[F_IN_L4_OFF]! + 2, p.vport);
    icmpSumFill(p);
    return send(p, io, l3, len);
  },

  icmpIn(p, io) {
    // from the client about a reply: outer destination and quoted source become the real server's
    const r = p.r, b = p.buf;
    const l3 = r[F_L3_OFF]!;
    const len = r[F_IP_LEN]!;
    if (isV6(b, l3) !== (p.dest.family === 6)) return FWD_BAD;
    if (!icmpSumOk(p)) return FWD_BAD;
    const c = ttlStep(p, io, l3);
    if (c) return c;
    if (isV6(b, l3)) b.set(p.dest.addr.subarray(0, 16), r[F_DST_OFF]!);
    else rewriteAddr4(b, l3, r[F_DST_OFF]!, p.dest.addr4, -1, CSUM_NONE);
    setQuoted(p, r[F_IN_SRC_OFF]!, p.dest.addr4, p.dest.addr, r[F_IN_L4_OFF]!, p.dest.port);
    icmpSumFill(p);
    return send(p, io, l3, len);
  },
});

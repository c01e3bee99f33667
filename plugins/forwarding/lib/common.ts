// Transmit steps every forwarding method shares (forwarding.md §3): TTL /
// hop limit, the MTU test, the Ethernet header towards the next hop, and
// output with fragmentation of packets that may be fragmented.

import {
  decHopLimit6, decTtl4, rd16, F_FLAGS, F_PAYLOAD_OFF, PF_ICMP_ERROR, FWD_MTU, FWD_NO_ROOM, FWD_SENT, FWD_TTL, type FwdIo,
  type FwdPacket
} from 'lvsd';

export const ETH_IP = 0x0800;
export const ETH_IP6 = 0x86dd;

export const isV6 = (b: Uint8Array, l3: number): boolean => b[l3]! >> 4 === 6;
/** The IP packet's length from its own header (L2 padding excluded). */
export const ipLength = (b: Uint8Array, l3: number): number => (isV6(b, l3) ? 40 + rd16(b, l3 + 4) : rd16(b, l3 + 2));

/**
 * §3.3: TTL ≤ 1 → ICMP time exceeded to the source (quoting the packet as
 * received), drop; else decrement (IPv4 header checksum fixed incrementally).
 * `fromOwn`: the error comes from the director's own address (forwarded NAT replies).
 */
export function ttlStep(p: FwdPacket, io: FwdIo, l3: number, fromOwn = false): number {
  const b = p.buf;
  if (isV6(b, l3)) {
    if (b[l3 + 7]! <= 1) { io.icmpError(p, l3, 3, 0, 0, fromOwn); return FWD_TTL; }
    decHopLimit6(b, l3);
  } else {
    if (b[l3 + 8]! <= 1) { io.icmpError(p, l3, 11, 0, 0, fromOwn); return FWD_TTL; }
    decTtl4(b, l3);
  }
  return FWD_SENT;
}

/**
 * The length the MTU is checked against: the packet's, or for an aggregate
 * (GSO/GRO) its segments' — headers plus gsoSize — as the kernel checks a GSO
 * packet (skb_gso_validate_network_len): a 64 KB aggregate of 1448-byte
 * segments fits a 1500-byte link.
 */
export function mtuLength(p: FwdPacket, l3: number, len: number): number {
  return p.gsoSize > 0 ? Math.min(len, p.r[F_PAYLOAD_OFF]! - l3 + p.gsoSize) : len;
}

/**
 * §3.4: a packet longer than `mtu` — IPv4 with DF, or any IPv6 — is refused
 * with ICMP frag-needed / packet-too-big carrying `mtu`, unless it is itself an
 * ICMP error. IPv4 without DF passes (it is fragmented on output).
 */
export function mtuStep(p: FwdPacket, io: FwdIo, l3: number, len: number, mtu: number, fromOwn = false): number {
  if (mtuLength(p, l3, len) <= mtu) return FWD_SENT;
  const b = p.buf;
  const icmpErr = (p.r[F_FLAGS]! & PF_ICMP_ERROR) !== 0;
  if (isV6(b, l3)) {
    if (!icmpErr) io.icmpError(p, l3, 2, 0, mtu, fromOwn);
    return FWD_MTU;
  }
  if ((b[l3 + 6]! & 0x40) !== 0 && !icmpErr) { io.icmpError(p, l3, 3, 4, mtu, fromOwn); return FWD_MTU; }
  return FWD_SENT;
}

/** Writes an untagged Ethernet header in front of l3 towards p.link and sets the frame to the IP packet. */
export function writeEth(p: FwdPacket, l3: number, ipLen: number, ethertype: number): boolean {
  const o = l3 - 14;
  if (o < p.room) return false;
  const b = p.buf;
  // byte stores: TypedArray.set() on 6 bytes costs a builtin call each, per frame
  const d = p.link.mac, s = p.link.srcMac;
  b[o] = d[0]!; b[o + 1] = d[1]!; b[o + 2] = d[2]!; b[o + 3] = d[3]!; b[o + 4] = d[4]!; b[o + 5] = d[5]!;
  b[o + 6] = s[0]!; b[o + 7] = s[1]!; b[o + 8] = s[2]!; b[o + 9] = s[3]!; b[o + 10] = s[4]!; b[o + 11] = s[5]!;
  b[o + 12] = ethertype >>> 8; b[o + 13] = ethertype & 255;
  p.off = o;
  p.len = 14 + ipLen;
  return true;
}

/** Sends the packet at l3, cut into fragments when it exceeds the link MTU (IPv4 without DF only reach here). */
export function output(p: FwdPacket, io: FwdIo, l3: number, ipLen: number): number {
  // an aggregate's segments fit (mtuStep; the engine cut those that would need fragments)
  if (p.gsoSize === 0 && ipLen > p.link.mtu) {
    if (isV6(p.buf, l3)) return FWD_MTU;
    return io.sendFragments(p, l3, p.link.mtu) ? FWD_SENT : FWD_NO_ROOM;
  }
  io.send(p);
  return FWD_SENT;
}

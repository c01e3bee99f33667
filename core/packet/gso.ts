// Offloaded frames, as the kernel describes them to AF_PACKET in a virtio-net
// header (include/uapi/linux/virtio_net.h): aggregates of TCP or UDP segments
// (GSO on a local sender, GRO on a receiving NIC or veth) and checksums left
// partial (CHECKSUM_PARTIAL: the L4 checksum field holds only the pseudo-header
// sum, to be completed over the data by the kernel or the NIC on output).
//
// lvsd sends both on as they are wherever it can (the kernel segments and
// checksums on the way out). This file is what the kernel does for a device
// that cannot take them, done in userspace where lvsd must: complete a partial
// checksum (skb_checksum_help) and cut an aggregate into its segments
// (tcp_gso_segment / __udp_gso_segment), for a forwarder that cannot carry
// them (IP tunnels: the virtio-net header has no way to say "segment the
// inner packet") and for the memory wire, which stands for a NIC.

import { foldSum, inetSum, pseudoSum, rd16, rd32, wr16, wr32, fillIpv4HeaderChecksum } from './checksum.js';

/** virtio_net_hdr.flags */
export const VNET_NEEDS_CSUM = 1;
export const VNET_DATA_VALID = 2;
/** virtio_net_hdr.gso_type */
export const GSO_NONE = 0;
export const GSO_TCPV4 = 1;
export const GSO_UDP = 3;        // UFO (IP fragmentation of a big datagram): not produced by current kernels
export const GSO_TCPV6 = 4;
export const GSO_UDP_L4 = 5;     // UDP segmentation (UDP_SEGMENT): one datagram per segment
export const GSO_ECN = 0x80;     // TCP with ECN: CWR only on the first segment

/**
 * Completes a partial checksum in place, as skb_checksum_help: the internet
 * sum from `start` (the L4 header) to `end`, whose checksum field at `field`
 * holds the pseudo-header sum, folded and complemented; 0 is stored as 0xffff.
 */
export function completePartial(b: Uint8Array, start: number, field: number, end: number): void {
  if (start < 0 || field + 2 > end || start >= end) return;
  const c = ~foldSum(inetSum(b, start, end - start, 0)) & 0xffff;
  wr16(b, field, c === 0 ? 0xffff : c);
}

/** The pseudo-header sum a partial TCP/UDP checksum field holds (not complemented), for a segment of `l4len` bytes. */
export function partialPseudo(b: Uint8Array, family: number, srcOff: number, dstOff: number, proto: number, l4len: number): number {
  return foldSum(pseudoSum(b, family, srcOff, dstOff, proto, l4len));
}

/** Where a frame's headers are, for cutting it (offsets absolute in the buffer). */
export interface SegmentSource {
  buf: Uint8Array;
  /** The Ethernet header. */
  off: number;
  l3: number;
  /** 4 or 6. */
  family: number;
  /** 6 (TCP) or 17 (UDP). */
  proto: number;
  l4: number;
  /** First payload byte (after the TCP / UDP header). */
  payload: number;
  /** End of the IP packet (L2 padding excluded). */
  end: number;
  /** Segment payload size (virtio gso_size). */
  gsoSize: number;
  /** The checksum field holds the pseudo-header sum (leave each segment partial) rather than a full checksum. */
  partial: boolean;
}

/**
 * Cuts an aggregate into segments as the kernel's GSO does, each written by
 * `put(len)` into a place the caller gives (its start offset in `out`, or -1
 * when there is no room: the rest is not cut, the count so far returned), and
 * handed to `each(outOff, len)`. TCP: sequence numbers advance, FIN and PSH
 * only on the last segment, CWR only on the first; IPv4 ID + k, lengths and
 * the IPv4 header checksum per segment. UDP (GSO_UDP_L4): a datagram per
 * segment with its own length. Each segment's L4 checksum is left partial
 * (pseudo-header sum) when the aggregate's was, else computed in full.
 * Returns the number of segments written, or -1 when the frame cannot be cut.
 */
export function segment(s: SegmentSource, out: Uint8Array, put: (len: number) => number, each: (outOff: number, len: number) => void): number {
  const b = s.buf;
  const hdr = s.payload - s.off;         // Ethernet + IP + L4 headers, copied to every segment
  const total = s.end - s.payload;
  const mss = s.gsoSize;
  if (mss <= 0 || total <= 0 || hdr <= 0) return -1;
  const tcp = s.proto === 6;
  if (!tcp && s.proto !== 17) return -1;
  const l3rel = s.l3 - s.off, l4rel = s.l4 - s.off;
  const v4 = s.family === 4;
  const id0 = v4 ? rd16(b, s.l3 + 4) : 0;
  const seq0 = tcp ? rd32(b, s.l4 + 4) : 0;
  const flags = tcp ? b[s.l4 + 13]! : 0;
  const csumAt = l4rel + (tcp ? 16 : 6);
  let n = 0;
  for (let pos = 0; pos < total; pos += mss) {
    const plen = Math.min(mss, total - pos);
    const len = hdr + plen;
    const o = put(len);
    if (o < 0) return n;
    out.set(b.subarray(s.off, s.payload), o);
    out.set(b.subarray(s.payload + pos, s.payload + pos + plen), o + hdr);
    const q = o + l3rel, t = o + l4rel;
    const l4len = len - l4rel;
    if (v4) {
      wr16(out, q + 2, len - l3rel);
      wr16(out, q + 4, (id0 + n) & 0xffff);
      fillIpv4HeaderChecksum(out, q);
    } else wr16(out, q + 4, len - l3rel - 40);
    if (tcp) {
      wr32(out, t + 4, (seq0 + pos) >>> 0);
      let f = flags;
      if (pos + plen < total) f &= ~0x09;   // FIN, PSH: the last segment's
      if (n > 0) f &= ~0x80;                // CWR: the first segment's
      out[t + 13] = f;
    } else wr16(out, t + 4, l4len);
    const srcOff = q + (v4 ? 12 : 8), dstOff = q + (v4 ? 16 : 24);
    const pseudo = partialPseudo(out, s.family, srcOff, dstOff, s.proto, l4len);
    if (s.partial) wr16(out, o + csumAt, pseudo);
    else {
      wr16(out, o + csumAt, 0);
      const c = ~foldSum(pseudo + inetSum(out, t, l4len, 0)) & 0xffff;
      wr16(out, o + csumAt, c === 0 && !tcp ? 0xffff : c);
    }
    each(o, len);
    n++;
  }
  return n;
}

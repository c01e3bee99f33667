// Internet checksum (RFC 1071), RFC 1624 incremental updates for in-place
// rewrites, and CRC32c for SCTP. Sums are kept as plain numbers: a 16-bit word
// sum over a 64 KiB packet stays far below 2^53, so folding happens once.

/** Sum of the 16-bit big-endian words of buf[off, off+len) added to `initial` (unfolded). */
export function inetSum(buf: Uint8Array, off: number, len: number, initial: number): number {
  let s = initial;
  const end = off + (len & ~1);
  let i = off;
  // Unrolled by 8 bytes: the loop is the cost of every full checksum.
  for (; i + 8 <= end; i += 8) {
    s += ((buf[i]! << 8) | buf[i + 1]!) + ((buf[i + 2]! << 8) | buf[i + 3]!)
      + ((buf[i + 4]! << 8) | buf[i + 5]!) + ((buf[i + 6]! << 8) | buf[i + 7]!);
  }
  for (; i < end; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (len & 1) s += buf[end]! << 8;
  return s;
}

/** Fold a sum to 16 bits (one's complement addition of the carries). */
export function foldSum(s: number): number {
  // below 2^32 the carry is s >>> 16 (no float division); larger sums (huge packets) take the slow step
  while (s > 0xffff) s = s < 0x100000000 ? (s & 0xffff) + (s >>> 16) : (s % 65536) + Math.floor(s / 65536);
  return s;
}

/** The internet checksum of a byte range (the value to store in a zeroed checksum field). */
export function inetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~foldSum(inetSum(buf, off, len, initial)) & 0xffff;
}

export function rd16(b: Uint8Array, o: number): number { return (b[o]! << 8) | b[o + 1]!; }
export function wr16(b: Uint8Array, o: number, v: number): void { b[o] = (v >>> 8) & 255; b[o + 1] = v & 255; }
export function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
export function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 255; b[o + 1] = (v >>> 16) & 255; b[o + 2] = (v >>> 8) & 255; b[o + 3] = v & 255;
}

// ------------------------------------------------------------------- IPv4 header

/** IPv4 header checksum of the header at `l3` (its checksum field treated as zero). */
export function ipv4HeaderChecksum(buf: Uint8Array, l3: number): number {
  const hlen = (buf[l3]! & 15) << 2;
  const s = inetSum(buf, l3, hlen, 0) - rd16(buf, l3 + 10);
  return ~foldSum(s) & 0xffff;
}

/** Recompute and store the IPv4 header checksum. */
export function fillIpv4HeaderChecksum(buf: Uint8Array, l3: number): void {
  wr16(buf, l3 + 10, ipv4HeaderChecksum(buf, l3));
}

export function verifyIpv4Header(buf: Uint8Array, l3: number): boolean {
  const hlen = (buf[l3]! & 15) << 2;
  return foldSum(inetSum(buf, l3, hlen, 0)) === 0xffff;
}

// -------------------------------------------------------------- L4 (pseudo-header)

/** Pseudo-header sum: addresses at srcOff/dstOff (4 or 16 bytes by family), protocol, L4 length. */
export function pseudoSum(buf: Uint8Array, family: number, srcOff: number, dstOff: number, proto: number, l4len: number): number {
  const alen = family === 6 ? 16 : 4;
  return inetSum(buf, srcOff, alen, 0) + inetSum(buf, dstOff, alen, 0) + proto + l4len;
}

/**
 * Checksum of a TCP/UDP/ICMPv6 segment at l4off..l4off+l4len with the pseudo-header
 * (ICMPv4 has none: pass proto < 0), the checksum field at csumOff treated as zero.
 * UDP: a computed 0 is returned as 0xffff (0 means "no checksum").
 */
export function l4Checksum(buf: Uint8Array, family: number, srcOff: number, dstOff: number, proto: number,
  l4off: number, l4len: number, csumOff: number): number {
  let s = proto < 0 ? 0 : pseudoSum(buf, family, srcOff, dstOff, proto, l4len);
  s += inetSum(buf, l4off, l4len, 0) - rd16(buf, csumOff);
  const c = ~foldSum(s) & 0xffff;
  return c === 0 && proto === 17 ? 0xffff : c;
}

/** Whole segment including its checksum field sums to 0xffff. ICMPv4: proto < 0. */
export function verifyL4Sum(buf: Uint8Array, family: number, srcOff: number, dstOff: number, proto: number,
  l4off: number, l4len: number): boolean {
  const s = (proto < 0 ? 0 : pseudoSum(buf, family, srcOff, dstOff, proto, l4len)) + inetSum(buf, l4off, l4len, 0);
  return foldSum(s) === 0xffff;
}

// ------------------------------------------------------------------- CRC32c (SCTP)

const CRC32C = ((): Uint32Array => {
  const t = new Uint32Array(256 * 4);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  // Slicing-by-4 tables.
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 4; s++) {
      const prev = t[(s - 1) * 256 + i]!;
      t[s * 256 + i] = (prev >>> 8) ^ t[prev & 255]!;
    }
  }
  return t;
})();

/** CRC32c (Castagnoli) of buf[off, off+len), standard init/xorout ~0. */
export function crc32c(buf: Uint8Array, off: number, len: number, crc = 0): number {
  const t = CRC32C;
  let c = ~crc >>> 0;
  let i = off;
  const end = off + len;
  for (; i + 4 <= end; i += 4) {
    c ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    c = t[768 + (c & 255)]! ^ t[512 + ((c >>> 8) & 255)]! ^ t[256 + ((c >>> 16) & 255)]! ^ t[c >>> 24]!;
  }
  for (; i < end; i++) c = t[(c ^ buf[i]!) & 255]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** SCTP checksum over the packet at l4off (common header + chunks), the checksum field as zero. */
export function sctpChecksum(buf: Uint8Array, l4off: number, l4len: number): number {
  let c = crc32c(buf, l4off, 8);
  c = crc32c(ZERO4, 0, 4, c);
  return crc32c(buf, l4off + 12, l4len - 12, c);
}
const ZERO4 = new Uint8Array(4);

/** Store the SCTP checksum (little-endian on the wire, as Linux's cpu_to_le32). */
export function fillSctpChecksum(buf: Uint8Array, l4off: number, l4len: number): void {
  const c = sctpChecksum(buf, l4off, l4len);
  buf[l4off + 8] = c & 255; buf[l4off + 9] = (c >>> 8) & 255; buf[l4off + 10] = (c >>> 16) & 255; buf[l4off + 11] = c >>> 24;
}

export function verifySctp(buf: Uint8Array, l4off: number, l4len: number): boolean {
  const c = sctpChecksum(buf, l4off, l4len);
  const s = (buf[l4off + 8]! | (buf[l4off + 9]! << 8) | (buf[l4off + 10]! << 16) | (buf[l4off + 11]! << 24)) >>> 0;
  return c === s;
}

// ------------------------------------------------------------ RFC 1624 incremental

/** HC' = ~(~HC + ~m + m') for one 16-bit word (RFC 1624 eq. 3). */
export function csumReplace16(csum: number, oldWord: number, newWord: number): number {
  // three 16-bit terms: below 2^18, two folds always suffice
  let s = (~csum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Same for a 32-bit value (two words). */
export function csumReplace32(csum: number, oldVal: number, newVal: number): number {
  const s = (~csum & 0xffff) + (~(oldVal >>> 16) & 0xffff) + (~oldVal & 0xffff) + (newVal >>> 16) + (newVal & 0xffff);
  return ~foldSum(s) & 0xffff;
}

/** L4 checksum kinds for the rewrite helpers. */
export const CSUM_NONE = 0;   // no L4 checksum to touch (ICMPv4 payload, SCTP: recompute CRC32c after)
export const CSUM_TCP = 1;    // always updated (TCP, ICMPv6, DCCP-like)
export const CSUM_UDP = 2;    // 0 means "none" over IPv4 and stays 0; a result of 0 is stored as 0xffff
/**
 * A partial checksum (CHECKSUM_PARTIAL, core/packet/gso.ts): the field holds the
 * pseudo-header sum, not complemented. Addresses are in it (updated as a sum,
 * as the kernel's inet_proto_csum_replace4 with pseudohdr); ports are not (left alone).
 */
export const CSUM_PARTIAL = 3;

function l4Adjust(buf: Uint8Array, csumOff: number, kind: number, s: number): void {
  // s: sum of (~old words) + (new words) already accumulated
  const old = rd16(buf, csumOff);
  if (kind === CSUM_PARTIAL) { wr16(buf, csumOff, foldSum(old + s)); return; }
  if (kind === CSUM_UDP && old === 0) return;
  let c = ~foldSum((~old & 0xffff) + s) & 0xffff;
  if (kind === CSUM_UDP && c === 0) c = 0xffff;
  wr16(buf, csumOff, c);
}

/**
 * Rewrite a 16-bit field (a port) in place and update the L4 checksum at
 * csumOff (kind CSUM_*). Ports are not in the IPv4 header: no header update.
 */
export function rewrite16(buf: Uint8Array, off: number, value: number, csumOff: number, kind: number): void {
  const old = rd16(buf, off);
  if (old === value) return;
  wr16(buf, off, value);
  if (kind !== CSUM_NONE && kind !== CSUM_PARTIAL && csumOff >= 0) l4Adjust(buf, csumOff, kind, (~old & 0xffff) + value);
}

/**
 * Rewrite an IPv4 address (u32) in place at addrOff: the IPv4 header checksum
 * at l3+10 and, for pseudo-header checksums, the L4 checksum at csumOff.
 */
export function rewriteAddr4(buf: Uint8Array, l3: number, addrOff: number, addr: number, csumOff: number, kind: number): void {
  const old = rd32(buf, addrOff);
  addr >>>= 0;
  if (old === addr) return;
  wr32(buf, addrOff, addr);
  const s = (~(old >>> 16) & 0xffff) + (~old & 0xffff) + (addr >>> 16) + (addr & 0xffff);
  const hc = rd16(buf, l3 + 10);
  wr16(buf, l3 + 10, ~foldSum((~hc & 0xffff) + s) & 0xffff);
  if (kind !== CSUM_NONE && csumOff >= 0) l4Adjust(buf, csumOff, kind, s);
}

/** Rewrite an IPv6 address in place from src[srcOff..+16), updating the L4 checksum (no IP header checksum in IPv6). */
export function rewriteAddr6(buf: Uint8Array, addrOff: number, src: Uint8Array, srcOff: number, csumOff: number, kind: number): void {
  let s = 0;
  for (let i = 0; i < 16; i += 2) {
    const o = rd16(buf, addrOff + i);
    const n = (src[srcOff + i]! << 8) | src[srcOff + i + 1]!;
    s += (~o & 0xffff) + n;
    buf[addrOff + i] = src[srcOff + i]!;
    buf[addrOff + i + 1] = src[srcOff + i + 1]!;
  }
  if (kind !== CSUM_NONE && csumOff >= 0) l4Adjust(buf, csumOff, kind, s);
}

/**
 * Decrement the IPv4 TTL in place with the header checksum fixed incrementally.
 * Returns the new TTL (the caller checks TTL <= 1 before, as the kernel does).
 */
export function decTtl4(buf: Uint8Array, l3: number): number {
  const ttl = buf[l3 + 8]!;
  const oldW = (ttl << 8) | buf[l3 + 9]!;
  buf[l3 + 8] = ttl - 1;
  wr16(buf, l3 + 10, csumReplace16(rd16(buf, l3 + 10), oldW, oldW - 0x100));
  return ttl - 1;
}

export function decHopLimit6(buf: Uint8Array, l3: number): number {
  const h = buf[l3 + 7]! - 1;
  buf[l3 + 7] = h;
  return h;
}

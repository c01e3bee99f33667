// Address text <-> bytes for sync records, by the contract's own helpers.
// Records carry addresses as canonical strings (IPv4 dotted quad, IPv6 as
// inet_ntop prints it: lowercase, compressed), so they compare with ===.

import { bytesToIpv6, ipv4ToU32, ipv6ToBytes, u32ToIpv4 } from 'lvsd';

/** Canonical text of 4 (IPv4) or 16 (IPv6) network-order bytes. */
export function addrFromBytes(b: Uint8Array): string {
  if (b.length === 4) return u32ToIpv4(((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0);
  return bytesToIpv6(b);
}

/** Bytes of an address of the given family, or null if the text is not one. */
export function addrToBytes(af: 4 | 6, s: string): Uint8Array | null {
  if (af === 6) return ipv6ToBytes(s);
  const n = ipv4ToU32(s);
  return n === null ? null : Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}

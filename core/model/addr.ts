// IP addresses as the control plane sees them: canonical text (what inet_ntop
// prints) plus the numeric forms the kernel uses for sorting and hashing.

import { isIPv4, isIPv6 } from 'node:net';

export type Family = 'inet' | 'inet6';

/** AF_INET / AF_INET6 numbers, used where the kernel compares families. */
export const AF_NUM: Record<Family, number> = { inet: 2, inet6: 10 };

/** Strict dotted-quad IPv4 to a host-order u32, or null. */
export function ipv4ToU32(text: string): number | null {
  // By hand, as node's isIPv4 reads it (four decimal octets, no leading zeros):
  // the control plane converts every address of a 100 000-real table several times.
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return null;
      n = n * 256 + octet;
      octet = 0; digits = 0; dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return null;  // leading zero
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return null;
    } else return null;
  }
  if (dots !== 3 || digits === 0) return null;
  return n * 256 + octet;
}

export function u32ToIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** IPv6 text to 16 bytes, or null. Accepts embedded IPv4 and zone-less forms only. */
export function ipv6ToBytes(text: string): Uint8Array | null {
  if (!isIPv6(text) || text.includes('%')) return null;
  let head = text;
  const out = new Uint8Array(16);
  let tailV4: number | null = null;
  const lastColon = head.lastIndexOf(':');
  const lastPart = head.slice(lastColon + 1);
  if (lastPart.includes('.')) {
    tailV4 = ipv4ToU32(lastPart);
    if (tailV4 === null) return null;
    head = head.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = parse(halves[0]!);
  const right = halves.length > 1 ? parse(halves[1]!) : [];
  const groups = halves.length > 1
    ? [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
    : left;
  if (groups.length !== 8) return null;
  groups.forEach((g, i) => { out[i * 2] = g >> 8; out[i * 2 + 1] = g & 255; });
  if (tailV4 !== null) {
    out[12] = tailV4 >>> 24; out[13] = (tailV4 >>> 16) & 255; out[14] = (tailV4 >>> 8) & 255; out[15] = tailV4 & 255;
  }
  return out;
}

/** 16 bytes to text exactly as glibc's inet_ntop prints them. */
export function bytesToIpv6(b: Uint8Array): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[i * 2]! << 8) | b[i * 2 + 1]!);
  // Longest run of zero words (first one wins), compressed only when 2 or longer.
  let bestBase = -1, bestLen = 0, curBase = -1, curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      if (curBase === -1) { curBase = i; curLen = 1; } else curLen++;
      if (curLen > bestLen) { bestBase = curBase; bestLen = curLen; }
    } else curBase = -1;
  }
  if (bestLen < 2) bestBase = -1;
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) s += ':';
      continue;
    }
    if (i !== 0) s += ':';
    // Embedded IPv4: ::a.b.c.d and ::ffff:a.b.c.d (glibc's rule).
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      s += `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
      break;
    }
    s += w[i]!.toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) s += ':';
  return s;
}

/** Canonical text of an address of either family, or null when it is not one. */
export function canonicalAddr(text: string): { family: Family; addr: string } | null {
  if (isIPv4(text)) return { family: 'inet', addr: text.split('.').map(Number).join('.') };
  const b = ipv6ToBytes(text);
  return b ? { family: 'inet6', addr: bytesToIpv6(b) } : null;
}

/** The address as the kernel's host-order 32-bit words (1 for IPv4, 4 for IPv6). */
export function addrWords(family: Family, addr: string): number[] {
  if (family === 'inet') return [ipv4ToU32(addr) ?? 0];
  const b = ipv6ToBytes(addr) ?? new Uint8Array(16);
  const dv = new DataView(b.buffer, b.byteOffset, 16);
  return [dv.getUint32(0), dv.getUint32(4), dv.getUint32(8), dv.getUint32(12)];
}

/**
 * The 32-bit key IPVS hashes an address by: the IPv4 address in host order,
 * or for IPv6 the XOR of its four words (schedulers.md §9, §12, §13).
 */
export function addrFold32(family: Family, addr: string): number {
  const w = addrWords(family, addr);
  return family === 'inet' ? w[0]! : (w[0]! ^ w[1]! ^ w[2]! ^ w[3]!) >>> 0;
}

export function addrBytes(family: Family, addr: string): Uint8Array {
  if (family === 'inet6') return ipv6ToBytes(addr) ?? new Uint8Array(16);
  const n = ipv4ToU32(addr) ?? 0;
  return Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}

/** `addr:port`, IPv6 bracketed, as ipvsadm and the kernel print endpoints. */
export function formatEndpoint(family: Family, addr: string, port: number): string {
  return family === 'inet6' ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** IPv4 netmask (host-order u32) to its prefix length, or -1 when not contiguous. */
export function maskToPrefix(mask: number): number {
  const inv = (~mask) >>> 0;
  if ((inv & (inv + 1)) !== 0) return -1;
  return Math.clz32(inv);
}

// The director's own links as config describes them for the memory wire:
// interfaces (MAC, MTU, addresses with prefixes), a neighbour table (IP →
// MAC, standing in for ARP/ND) and default gateways. Next hop: the
// destination itself when it is on a configured link (or when no addresses
// are configured at all: everything on-link on the first interface), else
// the gateway of its family. A next hop with no known MAC is remembered as a
// miss, for the I/O owner to have the kernel resolve (afpacket workers ask the
// daemon, which makes the kernel ARP / ND for it and sends the answer back).

import { bytesToIpv6, canonicalAddr, ipv4ToU32, ipv6ToBytes, u32ToIpv4 } from '../model/addr.js';
import type { FwdLink } from '../plugin.js';
import type { IoInterface } from './io/types.js';

export interface InterfaceSpecLike { name: string; mac?: string; mtu?: number; addresses?: string[] }

export interface NetSpec {
  interfaces: readonly InterfaceSpecLike[];
  neighbors: Readonly<Record<string, string>>;
  gateways?: readonly string[];
}

interface Iface extends IoInterface {
  readonly hasMac: boolean;
  readonly v4: { addr: number; plen: number }[];
  readonly v6: { addr: Uint8Array; plen: number }[];
  readonly src4: number;
  readonly src6: Uint8Array;
}

export function parseMac(text: string): Uint8Array {
  return Uint8Array.from(text.split(':').map((x) => parseInt(x, 16)));
}

const ZERO16 = new Uint8Array(16);
const MAX_MISSES = 64;

function in4(a: number, net: number, plen: number): boolean {
  if (plen === 0) return true;
  const m = plen >= 32 ? 0xffffffff : (0xffffffff << (32 - plen)) >>> 0;
  return ((a & m) >>> 0) === ((net & m) >>> 0);
}

function in6(buf: Uint8Array, off: number, net: Uint8Array, plen: number): boolean {
  let bits = plen;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const m = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((buf[off + i]! & m) !== (net[i]! & m)) return false;
  }
  return true;
}

/** Fold of 16 address bytes, the neighbour map key for IPv6 (entries are compared in full). */
function fold6(b: Uint8Array, o: number): number {
  let h = 0;
  for (let i = 0; i < 16; i += 4) h ^= (b[o + i]! << 24) | (b[o + i + 1]! << 16) | (b[o + i + 2]! << 8) | b[o + i + 3]!;
  return h | 0;
}

/** Destination MAC of frames held for an unresolved next hop (filled in when it resolves). */
const NO_MAC = new Uint8Array(6);

export class Net {
  readonly ifaces: Iface[];
  /** Hold frames for next hops without a MAC (link.unresolved) instead of refusing them (link.ok false). */
  private readonly hold: boolean;
  private readonly neigh4 = new Map<number, Uint8Array>();
  private readonly neigh6 = new Map<number, { addr: Uint8Array; mac: Uint8Array }[]>();
  private readonly gw4: number;
  private readonly gw6: Uint8Array | null;
  private readonly any4: boolean;
  private readonly any6: boolean;
  private readonly gwTmp = new Uint8Array(16);
  /** Next hops looked up without a MAC since the last takeMisses() (bounded: a flood of misses is not a memory leak). */
  private readonly misses = new Set<string>();

  constructor(spec: NetSpec, opts: { holdUnresolved?: boolean } = {}) {
    this.hold = opts.holdUnresolved ?? false;
    const list = spec.interfaces.length > 0 ? spec.interfaces : [{ name: 'eth0' }];
    this.ifaces = list.map((i) => {
      const v4: { addr: number; plen: number }[] = [];
      const v6: { addr: Uint8Array; plen: number }[] = [];
      for (const c of i.addresses ?? []) {
        const [a, l] = c.split('/');
        const n = ipv4ToU32(a!);
        if (n !== null) v4.push({ addr: n, plen: Number(l) });
        else { const b = ipv6ToBytes(a!); if (b) v6.push({ addr: b, plen: Number(l) }); }
      }
      return {
        name: i.name, mac: i.mac ? parseMac(i.mac) : new Uint8Array(6), hasMac: i.mac !== undefined,
        mtu: i.mtu ?? 1500, v4, v6, src4: v4[0]?.addr ?? 0, src6: v6[0]?.addr ?? ZERO16,
      };
    });
    this.any4 = this.ifaces.some((i) => i.v4.length > 0);
    this.any6 = this.ifaces.some((i) => i.v6.length > 0);
    for (const [ip, mac] of Object.entries(spec.neighbors)) {
      const a = canonicalAddr(ip);
      if (!a) continue;
      if (a.family === 'inet') this.neigh4.set(ipv4ToU32(a.addr)!, parseMac(mac));
      else {
        const b = ipv6ToBytes(a.addr)!;
        const k = fold6(b, 0);
        const l = this.neigh6.get(k) ?? [];
        l.push({ addr: b, mac: parseMac(mac) });
        this.neigh6.set(k, l);
      }
    }
    let gw4 = 0;
    let gw6: Uint8Array | null = null;
    for (const g of spec.gateways ?? []) {
      const n = ipv4ToU32(g);
      if (n !== null) gw4 = n; else gw6 = ipv6ToBytes(g);
    }
    this.gw4 = gw4;
    this.gw6 = gw6;
  }

  /** Whether a frame's destination MAC is the receiving interface's (PACKET_HOST); any when no MAC is configured. */
  isHost(port: number, buf: Uint8Array, off: number): boolean {
    const i = this.ifaces[port];
    if (!i) return false;
    if (!i.hasMac) return (buf[off]! & 1) === 0;
    const m = i.mac;
    return buf[off] === m[0] && buf[off + 1] === m[1] && buf[off + 2] === m[2]
      && buf[off + 3] === m[3] && buf[off + 4] === m[4] && buf[off + 5] === m[5];
  }

  private fill(link: FwdLink, port: number, mac: Uint8Array | undefined, hop: string | null = null): boolean {
    const i = this.ifaces[port]!;
    link.port = port;
    link.srcMac = i.mac;
    link.mtu = i.mtu;
    link.src4 = i.src4;
    link.src6 = i.src6;
    link.unresolved = null;
    if (!mac) {
      if (hop === null || !this.hold) { link.ok = false; return false; }
      link.mac = NO_MAC;
      link.unresolved = hop;
      link.ok = true;
      return true;
    }
    link.mac = mac;
    link.ok = true;
    return true;
  }

  /** The MAC of a next hop given as text, when known. */
  macOf(addr: string): Uint8Array | undefined {
    const a = ipv4ToU32(addr);
    if (a !== null) return this.neigh4.get(a);
    const b = ipv6ToBytes(addr);
    return b ? this.neigh6At(b, 0) : undefined;
  }

  private miss4(a: number): string {
    const t = u32ToIpv4(a);
    if (this.misses.size < MAX_MISSES) this.misses.add(t);
    return t;
  }
  private miss6(b: Uint8Array, o: number): string {
    const t = bytesToIpv6(b.subarray(o, o + 16));
    if (this.misses.size < MAX_MISSES) this.misses.add(t);
    return t;
  }

  /** Whether some next hop had no MAC since the last takeMisses(). */
  get missed(): boolean { return this.misses.size > 0; }

  /** The next hops (addresses as text) that had no MAC, once each. */
  takeMisses(): string[] {
    const l = [...this.misses];
    this.misses.clear();
    return l;
  }

  private port4(a: number): number {
    let best = -1, bestLen = -1;
    for (let p = 0; p < this.ifaces.length; p++) {
      for (const n of this.ifaces[p]!.v4) if (n.plen > bestLen && in4(a, n.addr, n.plen)) { best = p; bestLen = n.plen; }
    }
    return best;
  }

  private port6(b: Uint8Array, o: number): number {
    let best = -1, bestLen = -1;
    for (let p = 0; p < this.ifaces.length; p++) {
      for (const n of this.ifaces[p]!.v6) if (n.plen > bestLen && in6(b, o, n.addr, n.plen)) { best = p; bestLen = n.plen; }
    }
    return best;
  }

  /** Next hop towards an IPv4 address (u32) into `link`; false (link.ok false) when there is none. */
  resolve4(a: number, link: FwdLink): boolean {
    a >>>= 0;
    let port = 0, hop = a;
    if (!this.any4) {
      if (!this.neigh4.has(a) && this.gw4) hop = this.gw4;
    } else {
      const p = this.port4(a);
      if (p >= 0) port = p;
      else {
        if (this.gw4 === 0) return this.fill(link, 0, undefined);
        hop = this.gw4;
        const gp = this.port4(hop);
        port = gp < 0 ? 0 : gp;
      }
    }
    const mac = this.neigh4.get(hop);
    return mac ? this.fill(link, port, mac) : this.fill(link, port, undefined, this.miss4(hop));
  }

  private neigh6At(b: Uint8Array, o: number): Uint8Array | undefined {
    const l = this.neigh6.get(fold6(b, o));
    if (!l) return undefined;
    for (const n of l) {
      let eq = true;
      for (let i = 0; i < 16; i++) if (n.addr[i] !== b[o + i]) { eq = false; break; }
      if (eq) return n.mac;
    }
    return undefined;
  }

  /** Next hop towards the IPv6 address at b[o, o+16). */
  resolve6(b: Uint8Array, o: number, link: FwdLink): boolean {
    const gw = this.gw6;
    let port = 0, hb = b, ho = o;
    if (!this.any6) {
      if (!this.neigh6At(b, o) && gw) { hb = gw; ho = 0; }
    } else {
      const p = this.port6(b, o);
      if (p >= 0) port = p;
      else {
        if (!gw) return this.fill(link, 0, undefined);
        this.gwTmp.set(gw);
        const gp = this.port6(this.gwTmp, 0);
        port = gp < 0 ? 0 : gp;
        hb = gw; ho = 0;
      }
    }
    const mac = this.neigh6At(hb, ho);
    return mac ? this.fill(link, port, mac) : this.fill(link, port, undefined, this.miss6(hb, ho));
  }

  /** A fresh link object (one per real server, and one scratch per engine). */
  static link(): FwdLink {
    return { port: 0, mac: new Uint8Array(6), srcMac: new Uint8Array(6), mtu: 1500, src4: 0, src6: ZERO16, ok: false, unresolved: null };
  }
}

// The engine's service index (ip_vs_service_find): virtual services by
// fwmark, by IPv4 VIP and by a fold of the IPv6 VIP, so a new connection
// finds its service without looking at the whole table. Built from the table
// once, then kept by its events (Engine.tableEvent), in O(change).

import { addrBytes, ipv4ToU32 } from '../model/addr.js';
import { sameServiceKey, type Service } from '../model/table.js';
import { PROTO_NUM } from '../model/types.js';

/** The 16 bytes of an IPv6 address at `o`, folded into 32 bits (index key; the schedulers' hash input). */
export const fold32 = (b: Uint8Array, o: number): number =>
  (((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!)
  ^ ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!)
  ^ ((b[o + 8]! << 24) | (b[o + 9]! << 16) | (b[o + 10]! << 8) | b[o + 11]!)
  ^ ((b[o + 12]! << 24) | (b[o + 13]! << 16) | (b[o + 14]! << 8) | b[o + 15]!)) >>> 0;

/** A service's 16 IPv6 address bytes against the packet's at `o`. */
function sameAddr6(a: Uint8Array, buf: Uint8Array, o: number): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== buf[o + i]) return false;
  return true;
}

export class ServiceIndex {
  private readonly svc4 = new Map<number, Service[]>();
  private readonly svc6 = new Map<number, Service[]>();
  /** The 16 address bytes of each svc6 bucket's services, in the same order (built with the index). */
  private readonly svc6Addr = new Map<number, Uint8Array[]>();
  private readonly svcMark = new Map<number, Service[]>();

  /** Where a service sits in the index: its map and key (and, IPv6, its address bytes). */
  private slot(s: { family: string; addr: string; fwmark: number }): { m: Map<number, Service[]>; k: number; a: Uint8Array | null } {
    if (s.fwmark > 0) return { m: this.svcMark, k: s.fwmark, a: null };
    if (s.family === 'inet') return { m: this.svc4, k: ipv4ToU32(s.addr) ?? 0, a: null };
    const a = addrBytes('inet6', s.addr);
    return { m: this.svc6, k: fold32(a, 0), a };
  }

  add(s: Service): void {
    const { m, k, a } = this.slot(s.spec);
    const l = m.get(k);
    if (l) l.push(s); else m.set(k, [s]);
    if (a) { const al = this.svc6Addr.get(k); if (al) al.push(a); else this.svc6Addr.set(k, [a]); }
  }

  remove(spec: Service['spec']): void {
    const { m, k, a } = this.slot(spec);
    const l = m.get(k);
    const i = l ? l.findIndex((x) => sameServiceKey(x.spec, spec)) : -1;
    if (!l || i < 0) return;
    l.splice(i, 1);
    if (l.length === 0) m.delete(k);
    if (a) {
      const al = this.svc6Addr.get(k)!;
      al.splice(i, 1);
      if (al.length === 0) this.svc6Addr.delete(k);
    }
  }

  clear(): void {
    this.svc4.clear(); this.svc6.clear(); this.svcMark.clear(); this.svc6Addr.clear();
  }

  /**
   * The service of a new connection: fwmark first, then (proto, VIP, port),
   * then the port-0 service of the VIP. `dst` is the packet's destination
   * address offset, `daddr` the IPv4 one as a number.
   */
  find(v6: boolean, proto: number, buf: Uint8Array, dst: number, daddr: number, dport: number, mark: number): Service | null {
    const fam = v6 ? 'inet6' : 'inet';
    if (mark !== 0) {
      const l = this.svcMark.get(mark);
      if (l) for (const s of l) if (s.family === fam) return s;
    }
    const k = v6 ? fold32(buf, dst) : daddr;
    const l = v6 ? this.svc6.get(k) : this.svc4.get(k);
    if (!l) return null;
    const addrs = v6 ? this.svc6Addr.get(k)! : null;
    let zero: Service | null = null;
    for (let i = 0; i < l.length; i++) {
      const s = l[i]!;
      if (PROTO_NUM[s.protocol] !== proto) continue;
      if (addrs && !sameAddr6(addrs[i]!, buf, dst)) continue;
      if (s.port === dport) return s;
      if (s.port === 0) zero = s;
    }
    return zero;
  }
}

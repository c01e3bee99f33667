// Persistence (connections.md §6, ip_vs_sched_persist): a persistent
// service sends a client (its address masked by the service's netmask) to
// the real server of its template, an entry of the connection table keyed
// on (protocol, snet, VIP or fwmark, vport), and only schedules when there
// is no usable template, making one for the real server picked.
//
// The engine runs the step as: lookup(); on a miss, the scheduler, then
// create(); then, IPv6, restore() the registers lookup() masked.

import { loadAddr, type ConnTable } from '../conn/table.js';
import { CF_TEMPLATE } from '../conn/states.js';
import type { Service } from '../model/table.js';
import type { DestInfo } from './handles.js';

/** IPv6 prefix mask applied to a register in place (persistence netmask for IPv6). */
export function maskPrefix6(reg: Uint32Array, prefix: number): void {
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, prefix - i * 32));
    reg[i] = bits === 0 ? 0 : bits === 32 ? reg[i]! : (reg[i]! & (0xffffffff << (32 - bits))) >>> 0;
  }
}

/**
 * Template key (§6) for a packet of a persistent service: writes
 * [protocol, vport, template dport mode] into `out`, returns false when the
 * packet cannot use a template of this service. Mode 1: template dport =
 * dest.port; mode 0: template dport = 0. The address part is snet (masked
 * client address) and the VIP — or, for fwmark services, the mark as vaddr.
 */
export function templateKey(svcPort: number, svcFwmark: number, pktProto: number, pktDport: number, out: Int32Array): boolean {
  if (svcFwmark > 0) { out[0] = 0; out[1] = 0; out[2] = 0; return true; }
  if (svcPort === 0) { out[0] = pktProto; out[1] = 0; out[2] = 0; return true; }
  if (svcPort === 21) { out[0] = pktProto; out[1] = 0; out[2] = 0; return true; } // control and passive data alike
  if (pktDport !== svcPort) return false;
  out[0] = pktProto; out[1] = svcPort; out[2] = 1;
  return true;
}

/** Destination port of a connection created through a template (§6). */
export function persistConnDport(pktDport: number, svcPort: number, destPort: number): number {
  return pktDport === svcPort && destPort !== 0 ? destPort : pktDport;
}

/** lookup(): no usable template (none, or its real server gone): schedule and create() one. */
export const TEMPLATE_MISS = -1;
/** lookup(): the packet cannot use a template of this service (another port of it): no service. */
export const TEMPLATE_NO_KEY = -2;

/** The template step of one packet; what lookup() computed is kept for create(). */
export class Persistence {
  private readonly tk = new Int32Array(3);
  private snet = 0;
  private vkey = 0;

  constructor(private readonly conns: ConnTable) {}

  /**
   * The packet's usable template entry, TEMPLATE_MISS or TEMPLATE_NO_KEY.
   * IPv6: the address registers are left masked (create() needs them so): restore() after.
   */
  lookup(svc: Service, v6: boolean, proto: number, saddr: number, daddr: number, dport: number): number {
    const conns = this.conns;
    const s = conns.s;
    const tk = this.tk;
    if (!templateKey(svc.port, svc.fwmark, proto, dport, tk)) return TEMPLATE_NO_KEY;
    this.vkey = svc.fwmark > 0 ? svc.fwmark : daddr;
    let ct: number;
    if (!v6) {
      this.snet = (saddr & svc.spec.netmask) >>> 0;
      ct = conns.lookupTemplate4(tk[0]!, this.snet, this.vkey, tk[1]!);
    } else {
      this.snet = 0;
      maskPrefix6(s.ca, svc.spec.netmask);
      if (svc.fwmark > 0) { s.va[0] = svc.fwmark; s.va[1] = 0; s.va[2] = 0; s.va[3] = 0; }
      ct = conns.lookupTemplate6(tk[0]!, tk[1]!);
    }
    return ct >= 0 && conns.checkTemplate(ct) ? ct : TEMPLATE_MISS;
  }

  /** After a miss: the template for real server `h` (`info`) the scheduler picked, or -1 when the table is full. */
  create(svc: Service, v6: boolean, h: number, info: DestInfo, mark: number): number {
    const conns = this.conns;
    const tk = this.tk;
    const tdport = tk[2] ? info.dest.port : 0;
    // the dest's method and NOOUTPUT, as ip_vs_bind_dest gives every entry (a sync record of a DR template says 0x1183)
    const flags = CF_TEMPLATE | info.connFlags;
    if (!v6) return conns.create4(tk[0]!, this.snet, 0, this.vkey, tk[1]!, info.fwd.addr4, tdport, flags, h, mark, svc.spec.timeout * 1000);
    loadAddr(conns.s.da, info.fwd.addr, 0, info.fwd.family === 6 ? 6 : 4);
    return conns.create6(tk[0]!, 0, tk[1]!, tdport, flags, h, mark, svc.spec.timeout * 1000);
  }

  /** IPv6: the packet's own client and virtual addresses back into the registers, for its connection. */
  restore(buf: Uint8Array, srcOff: number, dstOff: number): void {
    const s = this.conns.s;
    loadAddr(s.ca, buf, srcOff, 6); loadAddr(s.va, buf, dstOff, 6);
  }
}

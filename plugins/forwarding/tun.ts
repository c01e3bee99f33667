// IP tunnelling (`-i`, forwarding.md §5): the TTL-decremented packet is
// wrapped in an outer IPv4 (IPIP, protocol 4 / 41) or IPv6 (next header 41 /
// 4) header addressed to the real server, from the director's address on the
// link. Outer TOS = inner with CE → ECT(0); outer DF copied from an IPv4
// inner packet, outer ID 0 when DF; outer TTL = inner TTL after decrement.
// Tunnel MTU = link MTU − outer header; a packet that needs fragmenting is
// fragmented outside (the inner packet stays whole).

import {
  writeOuterIpv4, writeOuterIpv6, F_IP_LEN, F_L3_OFF, defineForwarder, FWD_BAD, FWD_MTU, FWD_NO_ROOM, FWD_NO_ROUTE
} from 'lvsd';
import { ETH_IP, ETH_IP6, mtuStep, output, ttlStep, writeEth } from './lib/common.js';

/** A real server's encapsulation (ipvsadm --tun-type / --tun-port / --tun-*csum), made once per real server. */
interface Tunnel {
  /** 0 ipip, 1 gue, 2 gre. */
  readonly type: number;
  /** TUN_FLAG_* bits. */
  readonly flags: number;
  /** GUE's UDP port. */
  readonly port: number;
}

export default defineForwarder<Tunnel>({
  name: 'tun',
  method: 'tunnel',
  // the real server is reached inside a header of its own family, to the virtual port
  crossFamily: true,
  keepsPort: true,
  // ipvsadm --tun-type/--tun-port/--tun-*csum: this forwarder's per-real options
  tunnelOptions: true,
  // the inner packet is left as it is (a partial checksum is completed on output, where
  // csum_start still points at it); aggregates are cut by the engine first: the kernel's
  // virtio-net header cannot ask it to segment a packet inside an IPIP header
  partialChecksums: true,
  // ip_vs_add_dest/ip_vs_edit_dest: a GUE tunnel without its UDP port is EINVAL
  checkDest: (d) => (d.tunType === 'gue' && d.tunPort === 0 ? 'GUE tunnel needs a port' : null),
  prepareDest: (d) => ({ type: d.tunType === 'gue' ? 1 : d.tunType === 'gre' ? 2 : 0, flags: d.tunFlags, port: d.tunPort }),
  inbound(p, io) {
    const d = p.dest;
    // GUE and GRE encapsulation are not carried out yet: refused rather than sent wrong
    if (d.state.type !== 0) return FWD_BAD;
    const outer6 = d.family === 6;
    if (outer6 ? allZero(p.link.src6) : p.link.src4 === 0) return FWD_NO_ROUTE;
    const l3 = p.r[F_L3_OFF]!;
    const len = p.r[F_IP_LEN]!;
    const hl = outer6 ? 40 : 20;
    const mtu = p.link.mtu - hl;
    if (mtu < (outer6 ? 1280 : 68)) return FWD_MTU;   // silently dropped (§5.4)
    let c = ttlStep(p, io, l3);
    if (c) return c;
    c = mtuStep(p, io, l3, len, mtu);
    if (c) return c;
    const o = l3 - hl;
    if (o - 14 < p.room) return FWD_NO_ROOM;
    if (outer6) writeOuterIpv6(p.buf, o, len, p.link.src6, d.addr);
    else writeOuterIpv4(p.buf, o, len, p.link.src4, d.addr4, io.ipId(), true);
    if (!writeEth(p, o, hl + len, outer6 ? ETH_IP6 : ETH_IP)) return FWD_NO_ROOM;
    return output(p, io, o, hl + len);
  },
});

function allZero(a: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== 0) return false;
  return true;
}

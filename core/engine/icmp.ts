// ICMP and the director (forwarding.md §7.3, ip_vs_in_icmp/ip_vs_out_icmp;
// schedulers.md §0.5): which ICMP errors are about one of our connections and
// which way they go, and the port unreachable sent when a service has no real
// server to give. The engine sends a relayed error through the connection's
// forwarder, as it does the connection's own packets.

import { loadAddr, type ConnTable } from '../conn/table.js';
import { rd32 } from '../packet/checksum.js';
import {
  F_FAMILY, F_FLAGS, F_ICMP_TYPE, F_IN_DPORT, F_IN_DST_OFF, F_IN_ERR, F_IN_FAMILY, F_IN_PROTO, F_IN_SPORT,
  F_IN_SRC_OFF, F_L3_OFF, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, PF_ICMP_ERROR,
} from '../packet/parse.js';
import type { FwdIo, FwdPacket } from '../plugin.js';
import { D_ICMP_NO_CONN, D_ICMP_NOT_ERROR, D_ICMP_QUOTE } from './drops.js';

export class IcmpRelay {
  /**
   * After a find() that found an entry: the error came from its real server,
   * about a request (it goes on to the client); else from its client, about
   * a reply (it goes on to the real server).
   */
  fromReal = false;

  constructor(private readonly conns: ConnTable) {}

  /**
   * The connection entry an ICMP error (parsed into `r`) quotes, or the drop
   * reason negated: not an error IPVS relays, an unusable quote, no connection.
   */
  find(buf: Uint8Array, r: Int32Array, proto: number): number {
    if ((r[F_FLAGS]! & PF_ICMP_ERROR) === 0) return -D_ICMP_NOT_ERROR;
    const v6 = proto === IPPROTO_ICMPV6;
    const t = r[F_ICMP_TYPE]!;
    // IPv4: dest unreachable, source quench, time exceeded (not parameter problem)
    if (!v6 && t !== 3 && t !== 4 && t !== 11) return -D_ICMP_NOT_ERROR;
    if (r[F_IN_ERR] !== 0 || r[F_IN_SPORT]! < 0 || r[F_IN_FAMILY] !== (v6 ? 6 : 4)) return -D_ICMP_QUOTE;
    const ip = r[F_IN_PROTO]!;
    if (ip !== IPPROTO_TCP && ip !== IPPROTO_UDP && ip !== IPPROTO_SCTP) return -D_ICMP_QUOTE;
    const qs = r[F_IN_SRC_OFF]!, qd = r[F_IN_DST_OFF]!;
    const qsport = r[F_IN_SPORT]!, qdport = r[F_IN_DPORT]!;
    const conns = this.conns;
    const s = conns.s;
    // from a real server, about a request (quoted: client → RIP)
    let e: number;
    if (!v6) e = conns.lookupOut4(ip, rd32(buf, qd), qdport, rd32(buf, qs), qsport);
    else { loadAddr(s.da, buf, qd, 6); loadAddr(s.ca, buf, qs, 6); e = conns.lookupOut6(ip, qdport, qsport); }
    if (e >= 0) { this.fromReal = true; return e; }
    // from the client, about a reply (quoted: VIP → client), looked up as a request
    if (!v6) e = conns.lookupIn4(ip, rd32(buf, qd), qdport, rd32(buf, qs), qsport);
    else { loadAddr(s.ca, buf, qd, 6); loadAddr(s.va, buf, qs, 6); e = conns.lookupIn6(ip, qdport, qsport); }
    if (e < 0) return -D_ICMP_NO_CONN;
    this.fromReal = false;
    return e;
  }
}

/** ICMP (v6) port unreachable to the client of packet `p` (parsed into `r`): no real server for it. */
export function portUnreachable(io: FwdIo, p: FwdPacket, r: Int32Array): void {
  const l3 = r[F_L3_OFF]!;
  if (r[F_FAMILY] === 4) io.icmpError(p, l3, 3, 3, 0); else io.icmpError(p, l3, 1, 4, 0);
}

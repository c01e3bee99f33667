// An example custom forwarder: "dr-mark" — direct routing (`-g`) that also
// marks every request with a DSCP value, so the network between the director
// and the real servers can queue this traffic by class (here EF, 46).
//
// What it does to a packet, as the built-in dr does: TTL / hop limit −1
// (ICMP time exceeded at 1), the MTU test (ICMP frag-needed / packet-too-big
// for a DF or IPv6 packet that does not fit; fragments otherwise), and a new
// Ethernet header towards the real server's MAC; the VIP stays the IP
// destination. Then the DSCP bits of the IPv4 TOS / IPv6 traffic class are
// set (the ECN bits kept); the IPv4 header checksum is updated incrementally
// (RFC 1624) rather than summed again.
//
// Use it: put this file in a plugins folder (here: examples/plugins, laid out
// by kind) and name the folder with `lvsd --plugins examples/plugins` or in
// config (`plugins: ['./examples/plugins']`). A forwarder serves a method, and
// an operator's forwarder takes its method over from the built-in one: the
// daemon logs "forwarder dr-mark (…) serves method route instead of the
// built-in dr", and every `-g` real server goes through this file. A second
// operator forwarder for the same method is refused.
//
// Contract (core/plugin.ts, all from 'lvsd'): inbound() gets the packet in
// place (p.buf, p.r the parse result, p.link the next hop) and returns FWD_*;
// it is called per packet, so it allocates nothing.

import {
  defineForwarder, csumReplace16, decHopLimit6, decTtl4, rd16, wr16,
  ETH_P_IP, ETH_P_IPV6, F_FLAGS, F_IP_LEN, F_L3_OFF, PF_ICMP_ERROR, FWD_MTU, FWD_NO_ROOM, FWD_SENT, FWD_TTL,
} from 'lvsd';

/** DiffServ code point written into every request: EF (RFC 3246). */
const DSCP = 46;

export default defineForwarder({
  name: 'dr-mark',
  method: 'route',
  keepsPort: true,     // as dr: only the MAC changes, the packet keeps the virtual port
  inbound(p, io) {
    const b = p.buf;
    const l3 = p.r[F_L3_OFF]!;
    const len = p.r[F_IP_LEN]!;
    const v6 = b[l3]! >> 4 === 6;
    // TTL / hop limit: at 1 the packet dies here with ICMP time exceeded.
    if (v6) {
      if (b[l3 + 7]! <= 1) { io.icmpError(p, l3, 3, 0, 0); return FWD_TTL; }
      decHopLimit6(b, l3);
    } else {
      if (b[l3 + 8]! <= 1) { io.icmpError(p, l3, 11, 0, 0); return FWD_TTL; }
      decTtl4(b, l3);
    }
    // Too big: IPv6 and IPv4 with DF are refused with ICMP (never about an ICMP error).
    const mtu = p.link.mtu;
    if (len > mtu && (v6 || (b[l3 + 6]! & 0x40) !== 0)) {
      if ((p.r[F_FLAGS]! & PF_ICMP_ERROR) === 0) {
        if (v6) io.icmpError(p, l3, 2, 0, mtu); else io.icmpError(p, l3, 3, 4, mtu);
      }
      return FWD_MTU;
    }
    // The mark: DSCP is the top six bits of the TOS / traffic class.
    if (v6) {
      const tc = (((b[l3]! & 15) << 4) | (b[l3 + 1]! >> 4));
      const next = (DSCP << 2) | (tc & 3);
      b[l3] = 0x60 | (next >> 4);
      b[l3 + 1] = ((next & 15) << 4) | (b[l3 + 1]! & 15);
    } else {
      const before = rd16(b, l3);                       // version/IHL and TOS: one checksummed word
      b[l3 + 1] = (DSCP << 2) | (b[l3 + 1]! & 3);
      wr16(b, l3 + 10, csumReplace16(rd16(b, l3 + 10), before, rd16(b, l3)));
    }
    // Ethernet header towards the real server (its MAC, our MAC on the link).
    const o = l3 - 14;
    if (o < p.room) return FWD_NO_ROOM;
    const d = p.link.mac, s = p.link.srcMac;
    for (let i = 0; i < 6; i++) { b[o + i] = d[i]!; b[o + 6 + i] = s[i]!; }
    wr16(b, o + 12, v6 ? ETH_P_IPV6 : ETH_P_IP);
    p.off = o;
    p.len = 14 + len;
    // IPv4 without DF that does not fit leaves in fragments.
    if (len > mtu) return io.sendFragments(p, l3, mtu) ? FWD_SENT : FWD_NO_ROOM;
    io.send(p);
    return FWD_SENT;
  },
});

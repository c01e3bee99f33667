// Direct routing (`-g`, forwarding.md §6): the packet is left as it is except
// TTL −1 (and the IPv4 header checksum); the frame goes to the real server's
// MAC with the VIP still as IP destination.

import { defineForwarder, FWD_NO_ROOM, F_IP_LEN, F_L3_OFF } from 'lvsd';
import { ETH_IP, ETH_IP6, isV6, mtuStep, output, ttlStep, writeEth } from './lib/common.js';

export default defineForwarder({
  name: 'dr',
  method: 'route',
  keepsPort: true,     // only the MAC changes: the packet still goes to the VIP's port
  // nothing of L4 changes: a partial checksum and an aggregate go on as they came
  partialChecksums: true,
  aggregates: true,
  inbound(p, io) {
    const l3 = p.r[F_L3_OFF]!;
    const len = p.r[F_IP_LEN]!;
    let c = ttlStep(p, io, l3);
    if (c) return c;
    c = mtuStep(p, io, l3, len, p.link.mtu);
    if (c) return c;
    if (!writeEth(p, l3, len, isV6(p.buf, l3) ? ETH_IP6 : ETH_IP)) return FWD_NO_ROOM;
    return output(p, io, l3, len);
  },
});

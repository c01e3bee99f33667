// An example classifier: "source-set" — gives firewall mark 7 to every packet
// from a set of client networks (the kernel's equivalent: an iptables mangle
// rule `-s NET -j MARK --set-mark 7` in front of IPVS). A fwmark service
// (`lvsadm -A -f 7 …`, or `{ fwmark: 7, reals: … }` in config.ts) then takes
// those clients, whatever address and port they asked for; everyone else
// goes on to the ordinary services.
//
// Use it: put this file in a plugins folder (here: examples/plugins, laid out
// by kind) and name the folder with `lvsd --plugins examples/plugins` or in
// config (`plugins: ['./examples/plugins']`).
//
// Contract (core/plugin.ts, from 'lvsd'): classify() sees the frame in place
// (buf, and the offsets of its L3 and L4 headers) once per packet that opens
// a connection and returns a mark, or 0 to leave it unmarked. It allocates
// nothing and keeps no state.

import { defineClassifier, rd32 } from 'lvsd';

/** The mark these clients get. */
const MARK = 7;

/** IPv4 client networks: [address, prefix length]. */
const NETWORKS: readonly [string, number][] = [
  ['198.51.100.0', 24],
  ['203.0.113.0', 25],
];

// Made once at load: network and mask as u32, so a packet costs a few integer tests.
const nets = NETWORKS.map(([a, len]) => {
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const [x, y, z, w] = a.split('.').map(Number) as [number, number, number, number];
  return { net: (((x << 24) | (y << 16) | (z << 8) | w) & mask) >>> 0, mask };
});

export default defineClassifier({
  name: 'source-set',
  classify(f) {
    if (f.l3 < 0 || f.buf[f.l3]! >> 4 !== 4) return 0;   // IPv4 only
    const src = rd32(f.buf, f.l3 + 12) >>> 0;
    for (const n of nets) if (((src & n.mask) >>> 0) === n.net) return MARK;
    return 0;
  },
});

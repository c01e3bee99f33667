// lblc — Locality-Based Least Connection (shared/spec/schedulers.md §9).
// Keyed by the packet's destination address: a cache hit is used while its
// dest is available, has weight > 0 and passes the "2*weight" test (the
// OVERLOAD flag is *not* checked on a hit); otherwise wlc picks and the entry
// is replaced.

import { defineScheduler, type SchedDest } from 'lvsd';
import { NO_DEST, schedulerErr } from './lib/common.js';
import { LbTable, lbHooks, type LbEntry, type LbState } from './lib/lbcache.js';

interface LblcEntry extends LbEntry { dest: SchedDest }

type State = LbState<LblcEntry>;

export default defineScheduler<State>({
  name: 'lblc',
  description: 'Locality-Based Least-Connection',
  ...lbHooks<LblcEntry>('lblc_expiration'),
  schedule(svc, s, pkt, ctx) {
    const tbl = s.tbl;
    const now = ctx.now();
    const en = tbl.get(pkt.daddr);
    if (en) {
      en.lastuse = now;
      const d = en.dest;
      if (d.available && d.weight > 0 && !s.wlc.overloaded(d, svc)) return d;
    }
    const dest = s.wlc.pick(svc);
    if (dest === null) {
      schedulerErr(svc, 'lblc', NO_DEST, ctx);
      return null;
    }
    // ip_vs_lblc_new(): keep an entry already pointing here, else replace it.
    if (!tbl.dead && !(en && en.dest === dest)) {
      if (en) tbl.delete(en);
      tbl.add({ addr: pkt.daddr, bucket: LbTable.bucketOf(pkt.daddr32), lastuse: now, dest });
    }
    return dest;
  },
});

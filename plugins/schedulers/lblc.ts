// lblc — Locality-Based Least Connection (shared/spec/schedulers.md §9).
// Keyed by the packet's destination address: a cache hit is used while its
// dest is available, has weight > 0 and passes the "2*weight" test (the
// OVERLOAD flag is *not* checked on a hit); otherwise wlc picks and the entry
// is replaced.

import { defineScheduler } from '../../core/plugin.js';
import { NO_DEST, schedulerErr } from './lib/common.js';
import { LB_CHECK_INTERVAL, LB_DEFAULT_EXPIRATION, LbTable, type LbEntry } from './lib/lbcache.js';
import { lblcOverloaded, wlcScan } from './lib/wlc.js';
import type { SchedDest } from '../../core/plugin.js';

interface LblcEntry extends LbEntry { dest: SchedDest }

export default defineScheduler<LbTable<LblcEntry>>({
  name: 'lblc',
  description: 'Locality-Based Least-Connection',
  tickInterval: LB_CHECK_INTERVAL,
  init() { return new LbTable<LblcEntry>(); },
  done(_svc, tbl) { tbl.flush(); },
  tick(_svc, tbl, ctx) {
    tbl.checkExpire(ctx.now(), ctx.sysctl?.('lblc_expiration') ?? LB_DEFAULT_EXPIRATION);
  },
  schedule(svc, tbl, pkt, ctx) {
    const now = ctx.now();
    const en = tbl.get(pkt.daddr);
    if (en) {
      en.lastuse = now;
      const d = en.dest;
      if (d.available && d.weight > 0 && !lblcOverloaded(d, svc)) return d;
    }
    const dest = wlcScan(svc.dests);
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

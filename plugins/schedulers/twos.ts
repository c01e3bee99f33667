// twos — weighted random "power of two choices" (shared/spec/schedulers.md §14;
// newer kernels only, absent from 6.1). Two weighted random picks, then the
// less loaded of the two (overhead/weight), the first on a tie.

import { defineScheduler, type SchedDest } from 'lvsd';
import { NO_DEST, connOverhead, schedulerErr } from './lib/common.js';

export default defineScheduler<null>({
  name: 'twos',
  description: 'Weighted random twos choice',
  init() { return null; },
  schedule(svc, _s, _pkt, ctx) {
    const ds = svc.dests;
    let total = 0;
    let any = false;
    for (const d of ds) {
      if (!d.overloaded && d.weight > 0) { total += d.weight; any = true; }
    }
    if (!any) {
      schedulerErr(svc, 'twos', NO_DEST, ctx);
      return null;
    }
    // Values 0..S inclusive (S + 1 outcomes): r = 0 favours the first dest slightly.
    let r1 = ctx.randomU32() % (total + 1);
    let r2 = ctx.randomU32() % (total + 1);
    let c1: SchedDest | null = null, c2: SchedDest | null = null;
    let w1 = 0, w2 = 0, o1 = 0, o2 = 0;
    for (const d of ds) {
      const w = d.weight;
      if (d.overloaded || w <= 0) continue;
      r1 -= w; r2 -= w;
      if (r1 <= 0 && c1 === null) { c1 = d; w1 = w; o1 = connOverhead(d); }
      if (r2 <= 0 && c2 === null) { c2 = d; w2 = w; o2 = connOverhead(d); }
      if (c1 !== null && c2 !== null) break;
    }
    // 32-bit int products, as the kernel computes them.
    if (c2 !== null && Math.imul(w2, o1) > Math.imul(w1, o2)) return c2;
    return c1;
  },
});

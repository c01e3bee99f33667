// fo — Weighted Fail Over (shared/spec/schedulers.md §7): the non-OVERLOAD dest
// with the highest weight (> 0); ties go to the first in list order.

import { defineScheduler, type SchedDest } from '../../core/plugin.js';
import { NO_DEST, schedulerErr } from './lib/common.js';

export default defineScheduler<null>({
  name: 'fo',
  description: 'Weighted Fail Over',
  init() { return null; },
  schedule(svc, _s, _pkt, ctx) {
    let best: SchedDest | null = null;
    let hw = 0;
    for (const d of svc.dests) {
      if (!d.overloaded && d.weight > hw) { best = d; hw = d.weight; }
    }
    if (best === null) schedulerErr(svc, 'fo', NO_DEST, ctx);
    return best;
  },
});

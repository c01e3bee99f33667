// fo — Weighted Fail Over (shared/spec/schedulers.md §7): the non-OVERLOAD dest
// with the highest weight (> 0); ties go to the first in list order.

import { defineScheduler, type SchedDest } from 'lvsd';
import { NO_DEST, schedulerErr } from './lib/common.js';
import { minIndexHooks, type MinIndex } from './lib/minindex.js';

/** The kernel's scan; the MinIndex (smallest 1/weight, first on ties) gives the same dest. */
function scan(dests: readonly SchedDest[]): SchedDest | null {
  let best: SchedDest | null = null;
  let hw = 0;
  for (const d of dests) {
    if (!d.overloaded && d.weight > hw) { best = d; hw = d.weight; }
  }
  return best;
}

export default defineScheduler<MinIndex>({
  name: 'fo',
  description: 'Weighted Fail Over',
  ...minIndexHooks((d, o) => { o.ok = !d.overloaded && d.weight > 0; o.num = 1; o.den = d.weight; }),
  schedule(svc, idx, _pkt, ctx) {
    const d = idx.covers(svc.dests) ? idx.best() : scan(svc.dests);
    if (d === null) schedulerErr(svc, 'fo', NO_DEST, ctx);
    return d;
  },
});

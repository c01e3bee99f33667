// fo — Weighted Fail Over (shared/spec/schedulers.md §7): the non-OVERLOAD dest
// with the highest weight (> 0); ties go to the first in list order.

import { defineScheduler, type SchedDest } from '../../core/plugin.js';
import { NO_DEST, schedulerErr } from './lib/common.js';
import { MinIndex } from './lib/minindex.js';

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
  init(svc) {
    const idx = new MinIndex((d, o) => { o.ok = !d.overloaded && d.weight > 0; o.num = 1; o.den = d.weight; });
    idx.rebuild(svc.dests);
    return idx;
  },
  addDest(svc, idx) { idx.rebuild(svc.dests); },
  delDest(svc, idx) { idx.rebuild(svc.dests); },
  updDest(_svc, idx, d) { idx.update(d); },
  destLoad(_svc, idx, d) { idx.update(d); },
  schedule(svc, idx, _pkt, ctx) {
    const d = idx.covers(svc.dests) ? idx.best() : scan(svc.dests);
    if (d === null) schedulerErr(svc, 'fo', NO_DEST, ctx);
    return d;
  },
});

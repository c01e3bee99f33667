// ovf — Weighted Overflow (shared/spec/schedulers.md §8): the highest-weight
// dest whose activeconns has not exceeded its weight; ties go to the first.

import { defineScheduler, type SchedDest } from 'lvsd';
import { NO_DEST, schedulerErr } from './lib/common.js';
import { minIndexHooks, type MinIndex } from './lib/minindex.js';

/** The kernel's scan; the MinIndex (smallest 1/weight among eligible, first on ties) gives the same dest. */
function scan(dests: readonly SchedDest[]): SchedDest | null {
  let h: SchedDest | null = null;
  for (const d of dests) {
    const w = d.weight;
    if (d.overloaded || d.activeConns > w || w === 0) continue;
    if (h === null || w > h.weight) h = d;
  }
  return h;
}

export default defineScheduler<MinIndex>({
  name: 'ovf',
  description: 'Weighted Overflow',
  ...minIndexHooks((d, o) => {
    o.ok = !d.overloaded && d.weight !== 0 && d.activeConns <= d.weight;
    o.num = 1;
    o.den = d.weight;
  }),
  schedule(svc, idx, _pkt, ctx) {
    const d = idx.covers(svc.dests) ? idx.best() : scan(svc.dests);
    if (d === null) schedulerErr(svc, 'ovf', NO_DEST, ctx);
    return d;
  },
});

// ovf — Weighted Overflow (shared/spec/schedulers.md §8): the highest-weight
// dest whose activeconns has not exceeded its weight; ties go to the first.

import { defineScheduler, type SchedDest } from '../../core/plugin.js';
import { NO_DEST, schedulerErr } from './lib/common.js';

export default defineScheduler<null>({
  name: 'ovf',
  description: 'Weighted Overflow',
  init() { return null; },
  schedule(svc, _s, _pkt, ctx) {
    let h: SchedDest | null = null;
    for (const d of svc.dests) {
      const w = d.weight;
      if (d.overloaded || d.activeConns > w || w === 0) continue;
      if (h === null || w > h.weight) h = d;
    }
    if (h === null) schedulerErr(svc, 'ovf', NO_DEST, ctx);
    return h;
  },
});

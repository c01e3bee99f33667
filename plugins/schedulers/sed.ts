// sed — Shortest Expected Delay (shared/spec/schedulers.md §5): wlc's scan
// with overhead = activeconns + 1 (inactive connections ignored).

import { defineScheduler, type SchedDest } from '../../core/plugin.js';
import { NO_DEST, mulGreater, schedulerErr } from './lib/common.js';

export default defineScheduler<null>({
  name: 'sed',
  description: 'Shortest Expected Delay',
  init() { return null; },
  schedule(svc, _s, _pkt, ctx) {
    const ds = svc.dests;
    const n = ds.length;
    let least: SchedDest | null = null;
    let i = 0;
    for (; i < n; i++) {
      const d = ds[i]!;
      if (!d.overloaded && d.weight > 0) { least = d; break; }
    }
    if (least === null) {
      schedulerErr(svc, 'sed', NO_DEST, ctx);
      return null;
    }
    let loh = least.activeConns + 1;
    for (i++; i < n; i++) {
      const d = ds[i]!;
      if (d.overloaded) continue;
      const doh = d.activeConns + 1;
      if (mulGreater(loh, d.weight, doh, least.weight)) { least = d; loh = doh; }
    }
    return least;
  },
});

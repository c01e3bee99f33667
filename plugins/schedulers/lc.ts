// lc — Least Connection (shared/spec/schedulers.md §3): smallest
// active*256+inactive among dests that are not OVERLOAD and have weight != 0;
// the first minimum in list order wins.

import { defineScheduler } from '../../core/plugin.js';
import { NO_DEST, connOverhead, schedulerErr } from './lib/common.js';

export default defineScheduler<null>({
  name: 'lc',
  description: 'Least-Connection',
  init() { return null; },
  schedule(svc, _s, _pkt, ctx) {
    let least = null;
    let loh = 0;
    for (const d of svc.dests) {
      if (d.overloaded || d.weight === 0) continue;
      const doh = connOverhead(d);
      if (least === null || doh < loh) { least = d; loh = doh; }
    }
    if (least === null) schedulerErr(svc, 'lc', NO_DEST, ctx);
    return least;
  },
});

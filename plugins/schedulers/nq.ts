// nq — Never Queue (shared/spec/schedulers.md §6): the first eligible idle dest
// (no active connection) at once, else sed's choice.

import { defineScheduler, type SchedDest } from '../../core/plugin.js';
import { NO_DEST, mulGreater, schedulerErr } from './lib/common.js';

export default defineScheduler<null>({
  name: 'nq',
  description: 'Never Queue',
  init() { return null; },
  schedule(svc, _s, _pkt, ctx) {
    let least: SchedDest | null = null;
    let loh = 0;
    for (const d of svc.dests) {
      if (d.overloaded || d.weight === 0) continue;
      const doh = d.activeConns + 1;
      if (d.activeConns === 0) return d;
      if (least === null || mulGreater(loh, d.weight, doh, least.weight)) { least = d; loh = doh; }
    }
    if (least === null) schedulerErr(svc, 'nq', NO_DEST, ctx);
    return least;
  },
});

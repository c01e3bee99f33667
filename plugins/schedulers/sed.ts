// sed — Shortest Expected Delay (shared/spec/schedulers.md §5): wlc's scan
// with overhead = activeconns + 1 (inactive connections ignored).

import { defineScheduler, type SchedDest } from 'lvsd';
import { NO_DEST, mulGreater, schedulerErr } from './lib/common.js';
import { minIndexHooks, type MinIndex } from './lib/minindex.js';

/** The kernel's scan; the MinIndex below gives the same dest in O(1). */
function scan(svc: { dests: readonly SchedDest[] }): SchedDest | null {
  const ds = svc.dests;
  const n = ds.length;
  let least: SchedDest | null = null;
  let i = 0;
  for (; i < n; i++) {
    const d = ds[i]!;
    if (!d.overloaded && d.weight > 0) { least = d; break; }
  }
  if (least === null) return null;
  let loh = least.activeConns + 1;
  for (i++; i < n; i++) {
    const d = ds[i]!;
    if (d.overloaded) continue;
    const doh = d.activeConns + 1;
    if (mulGreater(loh, d.weight, doh, least.weight)) { least = d; loh = doh; }
  }
  return least;
}

export default defineScheduler<MinIndex>({
  name: 'sed',
  description: 'Shortest Expected Delay',
  ...minIndexHooks((d, o) => { o.ok = !d.overloaded && d.weight > 0; o.num = d.activeConns + 1; o.den = d.weight; }),
  schedule(svc, idx, _pkt, ctx) {
    const d = idx.negatives === 0 && idx.covers(svc.dests) ? idx.best() : scan(svc);
    if (d === null) schedulerErr(svc, 'sed', NO_DEST, ctx);
    return d;
  },
});

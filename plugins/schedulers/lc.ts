// lc — Least Connection (shared/spec/schedulers.md §3): smallest
// active*256+inactive among dests that are not OVERLOAD and have weight != 0;
// the first minimum in list order wins.
//
// The kernel scans the list; we keep a MinIndex (lib/minindex.ts) updated by
// the dest hooks and destLoad, which returns the same dest in O(1). The scan
// stays as the fallback for the cases the index does not cover.

import { defineScheduler, type SchedDest } from 'lvsd';
import { NO_DEST, connOverhead, schedulerErr } from './lib/common.js';
import { minIndexHooks, type MinIndex } from './lib/minindex.js';

function scan(dests: readonly SchedDest[]): SchedDest | null {
  let least: SchedDest | null = null;
  let loh = 0;
  for (const d of dests) {
    if (d.overloaded || d.weight === 0) continue;
    const doh = connOverhead(d);
    if (least === null || doh < loh) { least = d; loh = doh; }
  }
  return least;
}

export default defineScheduler<MinIndex>({
  name: 'lc',
  description: 'Least-Connection',
  ...minIndexHooks((d, o) => { o.ok = !d.overloaded && d.weight !== 0; o.num = connOverhead(d); o.den = 1; }),
  schedule(svc, idx, _pkt, ctx) {
    const least = idx.negatives === 0 && idx.covers(svc.dests) ? idx.best() : scan(svc.dests);
    if (least === null) schedulerErr(svc, 'lc', NO_DEST, ctx);
    return least;
  },
});

// wlc — Weighted Least Connection (shared/spec/schedulers.md §4), the default
// scheduler of ipvsadm and keepalived.
//
// Same choice as the kernel's scan (lib/wlc.ts wlcScan), kept incrementally in
// a MinIndex: the first dest with the smallest overhead/weight.

import { defineScheduler } from '../../core/plugin.js';
import { NO_DEST, schedulerErr } from './lib/common.js';
import { MinIndex, wlcKey } from './lib/minindex.js';
import { wlcScan } from './lib/wlc.js';

export default defineScheduler<MinIndex>({
  name: 'wlc',
  description: 'Weighted Least-Connection',
  init(svc) {
    const idx = new MinIndex(wlcKey);
    idx.rebuild(svc.dests);
    return idx;
  },
  addDest(svc, idx) { idx.rebuild(svc.dests); },
  delDest(svc, idx) { idx.rebuild(svc.dests); },
  updDest(_svc, idx, d) { idx.update(d); },
  destLoad(_svc, idx, d) { idx.update(d); },
  schedule(svc, idx, _pkt, ctx) {
    const d = idx.negatives === 0 && idx.covers(svc.dests) ? idx.best() : wlcScan(svc.dests);
    if (d === null) schedulerErr(svc, 'wlc', NO_DEST, ctx);
    return d;
  },
});

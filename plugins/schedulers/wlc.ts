// wlc — Weighted Least Connection (shared/spec/schedulers.md §4), the default
// scheduler of ipvsadm and keepalived.
//
// Same choice as the kernel's scan (lib/wlc.ts wlcScan), kept incrementally in
// a MinIndex: the first dest with the smallest overhead/weight.

import { defineScheduler } from 'lvsd';
import { NO_DEST, schedulerErr } from './lib/common.js';
import { minIndexHooks, wlcKey, type MinIndex } from './lib/minindex.js';
import { wlcScan } from './lib/wlc.js';

export default defineScheduler<MinIndex>({
  name: 'wlc',
  description: 'Weighted Least-Connection',
  ...minIndexHooks(wlcKey),
  schedule(svc, idx, _pkt, ctx) {
    const d = idx.negatives === 0 && idx.covers(svc.dests) ? idx.best() : wlcScan(svc.dests);
    if (d === null) schedulerErr(svc, 'wlc', NO_DEST, ctx);
    return d;
  },
});

// wlc — Weighted Least Connection (shared/spec/schedulers.md §4), the default
// scheduler of ipvsadm and keepalived.

import { defineScheduler } from '../../core/plugin.js';
import { NO_DEST, schedulerErr } from './lib/common.js';
import { wlcScan } from './lib/wlc.js';

export default defineScheduler<null>({
  name: 'wlc',
  description: 'Weighted Least-Connection',
  init() { return null; },
  schedule(svc, _s, _pkt, ctx) {
    const d = wlcScan(svc.dests);
    if (d === null) schedulerErr(svc, 'wlc', NO_DEST, ctx);
    return d;
  },
});

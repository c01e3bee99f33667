// rr — Round Robin (shared/spec/schedulers.md §1).
//
// The kernel keeps a cursor on a list position (the list head, or the dest
// picked last). We keep the cursor as a dest reference plus a cached index into
// svc.dests (re-derived when the list moved under it), and a snapshot of the
// list so that delDest, which runs after the unlink, still knows which dest
// preceded the deleted one.

import { defineScheduler, type SchedDest, type SchedService } from 'lvsd';
import { NO_DEST, schedulerErr } from './lib/common.js';

interface RrState {
  /** null = list head (before the first dest). */
  cursor: SchedDest | null;
  /** Cached position of `cursor` in svc.dests (checked before use). */
  idx: number;
  /** svc.dests as of the last hook, for the delete rule. */
  snap: SchedDest[];
}

function cursorIndex(svc: SchedService, s: RrState): number {
  if (s.cursor === null) return -1;
  if (svc.dests[s.idx] !== s.cursor) s.idx = svc.dests.indexOf(s.cursor);
  if (s.idx < 0) s.cursor = null; // cannot happen while hooks run; fall back to the head
  return s.idx;
}

export default defineScheduler<RrState>({
  name: 'rr',
  description: 'Round Robin',
  init(svc) {
    return { cursor: null, idx: -1, snap: svc.dests.slice() };
  },
  addDest(svc, s) {
    // The new dest sits at the head: reached after the walk wraps past the end.
    s.snap = svc.dests.slice();
  },
  delDest(svc, s, dest) {
    if (s.cursor === dest) {
      // ip_vs_rr_del_dest: cursor moves to the entry that preceded the deleted one.
      const i = s.snap.indexOf(dest);
      s.cursor = i > 0 ? s.snap[i - 1]! : null;
      s.idx = i - 1;
    }
    s.snap = svc.dests.slice();
  },
  schedule(svc, s, _pkt, ctx) {
    const ds = svc.dests;
    const n = ds.length;
    const c = cursorIndex(svc, s);
    // From the head: one pass over the list. Otherwise: after the cursor,
    // wrapping, up to and including it. Both are n steps.
    let i = c;
    for (let k = 0; k < n; k++) {
      i = i + 1 === n ? 0 : i + 1;
      const d = ds[i]!;
      if (!d.overloaded && d.weight > 0) {
        s.cursor = d;
        s.idx = i;
        return d;
      }
    }
    schedulerErr(svc, 'rr', NO_DEST, ctx);
    return null;
  },
});

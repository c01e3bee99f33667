// nq — Never Queue (shared/spec/schedulers.md §6): the first eligible idle dest
// (no active connection) at once, else sed's choice.

import { defineScheduler, type SchedDest } from 'lvsd';
import { NO_DEST, mulGreater, schedulerErr } from './lib/common.js';
import { MinIndex } from './lib/minindex.js';

interface NqState {
  /** First eligible idle dest (ratio 0/1 for idle ones only). */
  idle: MinIndex;
  /** sed's choice among the eligible ones. */
  busy: MinIndex;
}

/** The kernel's scan; the two indexes give the same dest in O(1). */
function scan(dests: readonly SchedDest[]): SchedDest | null {
  let least: SchedDest | null = null;
  let loh = 0;
  for (const d of dests) {
    if (d.overloaded || d.weight === 0) continue;
    const doh = d.activeConns + 1;
    if (d.activeConns === 0) return d;
    if (least === null || mulGreater(loh, d.weight, doh, least.weight)) { least = d; loh = doh; }
  }
  return least;
}

export default defineScheduler<NqState>({
  name: 'nq',
  description: 'Never Queue',
  init(svc) {
    const s: NqState = {
      idle: new MinIndex((d, o) => { o.ok = !d.overloaded && d.weight !== 0 && d.activeConns === 0; o.num = 0; o.den = 1; }),
      busy: new MinIndex((d, o) => { o.ok = !d.overloaded && d.weight !== 0; o.num = d.activeConns + 1; o.den = d.weight; }),
    };
    s.idle.rebuild(svc.dests);
    s.busy.rebuild(svc.dests);
    return s;
  },
  addDest(svc, s) { s.idle.rebuild(svc.dests); s.busy.rebuild(svc.dests); },
  delDest(svc, s) { s.idle.rebuild(svc.dests); s.busy.rebuild(svc.dests); },
  updDest(_svc, s, d) { s.idle.update(d); s.busy.update(d); },
  destLoad(_svc, s, d) { s.idle.update(d); s.busy.update(d); },
  schedule(svc, s, _pkt, ctx) {
    const d = s.busy.negatives === 0 && s.busy.covers(svc.dests) ? (s.idle.best() ?? s.busy.best()) : scan(svc.dests);
    if (d === null) schedulerErr(svc, 'nq', NO_DEST, ctx);
    return d;
  },
});

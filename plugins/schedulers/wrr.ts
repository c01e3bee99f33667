// wrr — Weighted Round Robin (shared/spec/schedulers.md §2), ip_vs_wrr.c.
//
// State is the kernel's `mark`: cursor (list head or a dest), current weight
// cw, adjusted max weight mw and gcd di. Every add/delete/edit resets the
// cursor to the head and adjusts cw by the kernel's rule, which is what makes
// the sequence depend on the history of the service.

import { defineScheduler, type SchedDest, type SchedService } from 'lvsd';
import { NO_DEST, schedulerErr } from './lib/common.js';
import { gcd } from './lib/hash.js';

interface WrrState {
  /** Cursor: null = list head. */
  cl: SchedDest | null;
  /** Cached index of cl in svc.dests (-1 = head). */
  idx: number;
  cw: number;
  mw: number;
  di: number;
}

function gcdWeight(svc: SchedService): number {
  let g = 0;
  for (const d of svc.dests) {
    const w = d.weight;
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
  }
  return g || 1;
}

function maxWeight(svc: SchedService): number {
  let m = 0;
  for (const d of svc.dests) if (d.weight > m) m = d.weight;
  return m;
}

function changed(svc: SchedService, s: WrrState): void {
  s.cl = null;
  s.idx = -1;
  s.di = gcdWeight(svc);
  s.mw = maxWeight(svc) - (s.di - 1);
  if (s.cw > s.mw || s.cw === 0) s.cw = s.mw;
  else if (s.di > 1) s.cw = Math.trunc(s.cw / s.di) * s.di + 1;
}

const OVERLOADED = `${NO_DEST}: all destinations are overloaded`;

export default defineScheduler<WrrState>({
  name: 'wrr',
  description: 'Weighted Round Robin',
  init(svc) {
    const di = gcdWeight(svc);
    const mw = maxWeight(svc) - (di - 1);
    return { cl: null, idx: -1, cw: mw, mw, di };
  },
  addDest(svc, s) { changed(svc, s); },
  delDest(svc, s) { changed(svc, s); },
  updDest(svc, s) { changed(svc, s); },
  schedule(svc, s, _pkt, ctx) {
    if (s.mw === 0) {
      schedulerErr(svc, 'wrr', NO_DEST, ctx);
      return null;
    }
    const ds = svc.dests;
    const n = ds.length;
    let last = -1;
    if (s.cl !== null) {
      if (ds[s.idx] !== s.cl) s.idx = ds.indexOf(s.cl);
      last = s.idx;
      if (last < 0) { s.cl = null; }
    }
    let stop = -2;
    let lastPass = false;
    let restarted = false;
    let pos = last;
    for (;;) {
      for (let i = pos + 1; i < n; i++) {
        const d = ds[i]!;
        if (!d.overloaded && d.weight >= s.cw) {
          s.cl = d; s.idx = i;
          return d;
        }
        if (i === stop) {
          s.cl = d; s.idx = i;
          schedulerErr(svc, 'wrr', OVERLOADED, ctx);
          return null;
        }
      }
      // End of the list: next pass with a lower current weight.
      s.cw -= s.di;
      if (s.cw <= 0) {
        s.cw = s.mw;
        if (lastPass || last === -1) {
          s.cl = null; s.idx = -1;
          schedulerErr(svc, 'wrr', OVERLOADED, ctx);
          return null;
        }
        restarted = true;
      }
      lastPass = s.cw <= s.di;
      if (lastPass && restarted && last !== -1) stop = last;
      pos = -1;
    }
  },
});

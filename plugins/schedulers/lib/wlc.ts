// The weighted least-connection pick shared by wlc, lblc and lblcr
// (shared/spec/schedulers.md §4, §9 step 2, §10), and lblc/lblcr's "2*weight"
// overload test.

import type { SchedDest, SchedService } from 'lvsd';
import { connOverhead, mulGreater } from './common.js';
import { MinIndex, wlcKey } from './minindex.js';

/**
 * The kernel's two-stage scan: the first non-OVERLOAD dest with weight > 0 is
 * the candidate; each later non-OVERLOAD dest replaces it when
 * `loh * w(d) > doh * w(least)` (s64). Ties keep the earlier dest.
 */
export function wlcScan(dests: readonly SchedDest[]): SchedDest | null {
  const n = dests.length;
  let i = 0;
  let least: SchedDest | null = null;
  for (; i < n; i++) {
    const d = dests[i]!;
    if (!d.overloaded && d.weight > 0) { least = d; break; }
  }
  if (least === null) return null;
  let loh = connOverhead(least);
  let lw = least.weight;
  for (i++; i < n; i++) {
    const d = dests[i]!;
    if (d.overloaded) continue;
    const doh = connOverhead(d);
    if (mulGreater(loh, d.weight, doh, lw)) { least = d; loh = doh; lw = d.weight; }
  }
  return least;
}

/**
 * lblc/lblcr is_overloaded(): the dest has more active connections than its
 * weight and some dest of the service (any, including itself or weight 0) has
 * `2 * active < weight`.
 */
export function lblcOverloaded(dest: SchedDest, svc: SchedService): boolean {
  if (dest.activeConns > dest.weight) {
    for (const d of svc.dests) if (d.activeConns * 2 < d.weight) return true;
  }
  return false;
}

/**
 * wlcScan and lblcOverloaded kept incrementally for lblc/lblcr: a MinIndex for
 * the wlc pick and a count of dests with `2 * active < weight` for the
 * overload test. Fed by the add/del/upd hooks and destLoad; falls back to the
 * scans whenever it does not describe the current list.
 */
export class WlcTracker {
  private readonly idx = new MinIndex(wlcKey);
  private readonly low = new Map<SchedDest, boolean>();
  private lowCount = 0;
  /** As MinIndex: the list to count, counted when next read. */
  private pending: readonly SchedDest[] | null = null;

  rebuild(dests: readonly SchedDest[]): void {
    this.idx.rebuild(dests);
    this.pending = dests;
  }

  private count(dests: readonly SchedDest[]): void {
    this.pending = null;
    this.low.clear();
    this.lowCount = 0;
    for (const d of dests) {
      const l = d.activeConns * 2 < d.weight;
      this.low.set(d, l);
      if (l) this.lowCount++;
    }
  }

  update(d: SchedDest): void {
    this.idx.update(d);
    if (this.pending) return;
    const was = this.low.get(d);
    if (was === undefined) return;
    const l = d.activeConns * 2 < d.weight;
    if (l !== was) { this.low.set(d, l); this.lowCount += l ? 1 : -1; }
  }

  pick(svc: SchedService): SchedDest | null {
    return this.idx.negatives === 0 && this.idx.covers(svc.dests) ? this.idx.best() : wlcScan(svc.dests);
  }

  overloaded(dest: SchedDest, svc: SchedService): boolean {
    if (dest.activeConns <= dest.weight) return false;
    if (this.pending) this.count(this.pending);
    return this.idx.covers(svc.dests) ? this.lowCount > 0 : lblcOverloaded(dest, svc);
  }
}

// An incremental "first minimum" index over a service's dest list: a
// tournament tree whose leaves are the dests in list order (newest first) and
// whose inner nodes hold the better of their two children, the left (earlier)
// one on a tie. The root is therefore exactly what the kernel's O(n) scan
// returns — the first dest with the smallest num/den — while a counter change
// costs O(log n) and a decision O(1).
//
// Schedulers describe a dest by `key(d, out)`: whether it may be chosen and
// its ratio num/den (den > 0). Ratios are compared exactly by
// cross-multiplication (mulGreater), as the kernel compares them in s64.
// Inner ties resolve to the left child, which makes the root the *first*
// minimum in list order as long as the order is a total preorder — true for
// num >= 0 and den > 0. A negative num (an overhead that overflowed int32 at
// 2^23 active connections) is counted so callers fall back to the scan, which
// reproduces the kernel's arithmetic even then.

import type { SchedDest, SchedService } from 'lvsd';
import { mulGreater } from './common.js';

export interface KeyOut { ok: boolean; num: number; den: number }
export type KeyFn = (d: SchedDest, out: KeyOut) => void;

export class MinIndex {
  private size = 1;
  private n = 0;
  private dests: SchedDest[] = [];
  private pos = new Map<SchedDest, number>();
  private num = new Float64Array(1);
  private den = new Float64Array(1);
  /** win[node] = leaf index of the best dest under node, or -1. Leaves at size..2*size-1. */
  private win = new Int32Array(2);
  private neg = new Uint8Array(1);
  private negCount = 0;
  /**
   * The list a rebuild was asked for and not yet done. Rebuilds wait for the
   * next read: loading a service's reals one by one (a config's first load,
   * `ipvsadm -R`) would otherwise rebuild the tree once per real.
   */
  private pending: readonly SchedDest[] | null = null;
  private readonly out: KeyOut = { ok: false, num: 0, den: 1 };
  private readonly key: KeyFn;

  constructor(key: KeyFn) { this.key = key; }

  /** Leaves whose num is negative (scan fallback needed while > 0). */
  get negatives(): number {
    if (this.pending) this.build(this.pending);
    return this.negCount;
  }

  /** Whether the index still describes this list (same length); hooks keep it so. */
  covers(dests: readonly SchedDest[]): boolean {
    if (this.pending) this.build(this.pending);
    return dests.length === this.n;
  }

  /** Describe this list from now on (built when next read). */
  rebuild(dests: readonly SchedDest[]): void { this.pending = dests; }

  private build(dests: readonly SchedDest[]): void {
    this.pending = null;
    const n = dests.length;
    let size = 1;
    while (size < n) size <<= 1;
    this.size = size;
    this.n = n;
    this.dests = dests.slice();
    this.pos.clear();
    this.num = new Float64Array(size);
    this.den = new Float64Array(size);
    this.neg = new Uint8Array(size);
    this.win = new Int32Array(2 * size).fill(-1);
    this.negCount = 0;
    for (let i = 0; i < n; i++) {
      this.pos.set(dests[i]!, i);
      this.setLeaf(i, dests[i]!);
    }
    for (let node = size - 1; node >= 1; node--) this.win[node] = this.pick(this.win[2 * node]!, this.win[2 * node + 1]!);
  }

  /** A dest's key changed (counters, OVERLOAD, weight). */
  update(d: SchedDest): void {
    if (this.pending) return;  // the build reads every dest as it is then
    const i = this.pos.get(d);
    if (i === undefined) return;
    this.setLeaf(i, d);
    for (let node = (i + this.size) >> 1; node >= 1; node >>= 1) {
      this.win[node] = this.pick(this.win[2 * node]!, this.win[2 * node + 1]!);
    }
  }

  /** The first dest with the smallest ratio, or null when none may be chosen. */
  best(): SchedDest | null {
    if (this.pending) this.build(this.pending);
    const w = this.win[1]!; // the root (for a single dest, its leaf)
    return w < 0 ? null : this.dests[w]!;
  }

  private setLeaf(i: number, d: SchedDest): void {
    const o = this.out;
    this.key(d, o);
    const wasNeg = this.neg[i]!;
    // Any negative num (even of a dest that cannot be chosen first: in the kernel's
    // wlc scan a weight-0 dest with a negative overhead can win) means: scan.
    const isNeg = o.num < 0 ? 1 : 0;
    this.negCount += isNeg - wasNeg;
    this.neg[i] = isNeg;
    this.num[i] = o.num;
    this.den[i] = o.den;
    this.win[i + this.size] = o.ok ? i : -1;
  }

  /** Left unless right is strictly better: num[r]/den[r] < num[l]/den[l]. */
  private pick(l: number, r: number): number {
    if (l < 0) return r;
    if (r < 0) return l;
    return mulGreater(this.num[l]!, this.den[r]!, this.num[r]!, this.den[l]!) ? r : l;
  }
}

/** The keys of the weighted least-connection family. */
export const wlcKey: KeyFn = (d, o) => {
  o.ok = !d.overloaded && d.weight > 0;
  o.num = ((d.activeConns << 8) + d.inactConns) | 0;
  o.den = d.weight;
};

/**
 * The hooks that keep one MinIndex in step with a service's dest list and
 * counters, shared by the schedulers that choose through one index.
 */
export function minIndexHooks(key: KeyFn) {
  return {
    init(svc: SchedService): MinIndex {
      const idx = new MinIndex(key);
      idx.rebuild(svc.dests);
      return idx;
    },
    addDest(svc: SchedService, idx: MinIndex): void { idx.rebuild(svc.dests); },
    delDest(svc: SchedService, idx: MinIndex): void { idx.rebuild(svc.dests); },
    updDest(_svc: SchedService, idx: MinIndex, d: SchedDest): void { idx.update(d); },
    destLoad(_svc: SchedService, idx: MinIndex, d: SchedDest): void { idx.update(d); },
  };
}

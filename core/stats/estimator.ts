// The IPVS rate estimator (connections.md §12, ip_vs_est.c): every 2 s, per
// stats object, the difference of each counter since the last tick feeds an
// EWMA of weight 1/4, in fixed point ×2^10 for conns/packets per second and
// ×2^5 for bytes per second. Integer arithmetic on doubles (exact below 2^53).

import type { Counters, ServiceTable } from '../model/table.js';

export const EST_INTERVAL_MS = 2000;

// per stats object: last conns, inpkts, outpkts, inbytes, outbytes; then the
// five internal (scaled) rates; then the five displayed rates last written;
// then the Counters epoch last seen (a new one means a -Z)
const N = 16;
const EPOCH = 15;

/** Signed arithmetic shift right by 2 (floor division by 4), as the kernel's s64 `>>= 2`. */
const asr2 = (x: number): number => Math.floor(x / 4);

/**
 * One per table: its state lives in each Counters' `est` slot (so a table of
 * 100 000 reals costs no side map for the collector to trace).
 */
export class Estimator {
  /**
   * A stats object first seen at a tick was created after start(): the kernel
   * started its estimator at creation (ip_vs_start_estimator, zeroed state),
   * so its whole total counts as traffic since then.
   */
  private state(c: Counters): Float64Array {
    let s = c.est;
    if (!s) {
      s = new Float64Array(N);
      s[EPOCH] = c.epoch;
      c.est = s;
    }
    return s;
  }

  /** Begin with the objects that exist now: their present totals are the baseline (no spike from old traffic). */
  start(table: ServiceTable): void {
    const base = (c: Counters): void => {
      // Untouched counters need no baseline: state() starts them from zero, the same thing.
      if (!c.est && c.conns === 0 && c.inpkts === 0 && c.outpkts === 0 && c.inbytes === 0 && c.outbytes === 0
        && c.cps === 0 && c.inpps === 0 && c.outpps === 0 && c.inbps === 0 && c.outbps === 0) return;
      const s = c.est ?? new Float64Array(N);
      s.fill(0);
      s[0] = c.conns; s[1] = c.inpkts; s[2] = c.outpkts; s[3] = c.inbytes; s[4] = c.outbytes;
      s[10] = c.cps; s[11] = c.inpps; s[12] = c.outpps; s[13] = c.inbps; s[14] = c.outbps;
      s[EPOCH] = c.epoch;
      c.est = s;
    };
    base(table.total);
    for (const svc of table.list()) {
      base(svc.stats);
      for (const d of svc.dests) base(d.stats);
    }
  }

  /** One 2-second estimation step for one stats object. */
  step(c: Counters): void {
    const s = this.state(c);
    // -Z zeroes the totals and the shown rates: restart with rates at 0 from the totals
    // of that moment, 0 (ip_vs_zero_estimator): traffic since the -Z counts at this tick.
    // Counters.zero() bumps the epoch: told, not guessed from totals going down
    // (traffic after the -Z can outgrow the old totals before the tick).
    if (c.epoch !== s[EPOCH]) {
      s.fill(0);
      s[EPOCH] = c.epoch;
      c.cps = c.inpps = c.outpps = c.inbps = c.outbps = 0;
    }
    const cur = [c.conns, c.inpkts, c.outpkts, c.inbytes, c.outbytes];
    for (let i = 0; i < 5; i++) {
      const d = cur[i]! - s[i]!;
      s[i] = cur[i]!;
      const rate = i < 3 ? d * 512 : d * 16;   // << 9 (÷2 s ×2^10), << 4 (÷2 s ×2^5)
      s[5 + i] = s[5 + i]! + asr2(rate - s[5 + i]!);
    }
    c.cps = Math.floor((s[5]! + 0x1ff) / 1024);
    c.inpps = Math.floor((s[6]! + 0x1ff) / 1024);
    c.outpps = Math.floor((s[7]! + 0x1ff) / 1024);
    c.inbps = Math.floor((s[8]! + 0xf) / 32);
    c.outbps = Math.floor((s[9]! + 0xf) / 32);
    s[10] = c.cps; s[11] = c.inpps; s[12] = c.outpps; s[13] = c.inbps; s[14] = c.outbps;
  }

  /** Internal scaled rates of a stats object (cps, inpps, outpps ×2^10; inbps, outbps ×2^5), for tests. */
  scaled(c: Counters): number[] {
    return Array.from(this.state(c).subarray(5, 10));
  }

  /** One tick over the whole table: the global stats, every service and every real server. */
  tick(table: ServiceTable): void {
    this.step(table.total);
    for (const s of table.list()) {
      this.step(s.stats);
      for (const d of s.dests) this.step(d.stats);
    }
  }
}

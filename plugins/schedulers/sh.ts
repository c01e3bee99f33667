// sh — Source Hashing (shared/spec/schedulers.md §12): 256 buckets, each dest
// taking max(weight, 1) consecutive buckets per cycle; lookup by hash_32 of the
// source address (+ source port with sh-port); sh-fallback probes on.

import { defineScheduler, SVC_F_SCHED1, SVC_F_SCHED2, type SchedDest, type SchedService } from 'lvsd';
import { NO_DEST, hasPorts, schedulerErr, unavailable } from './lib/common.js';
import { hash32 } from './lib/hash.js';

const TAB_BITS = 8;
const TAB_SIZE = 1 << TAB_BITS;
const TAB_MASK = TAB_SIZE - 1;
/** IP_VS_SVC_F_SCHED_SH_FALLBACK / _SH_PORT. */
const SH_FALLBACK = SVC_F_SCHED1;
const SH_PORT = SVC_F_SCHED2;

interface ShState { buckets: (SchedDest | null)[] }

function reassign(svc: SchedService, s: ShState): void {
  const ds = svc.dests;
  const n = ds.length;
  let p = 0;
  let count = 0;
  for (let i = 0; i < TAB_SIZE; i++) {
    if (n === 0) { s.buckets[i] = null; continue; }
    const d = ds[p]!;
    s.buckets[i] = d;
    if (++count >= d.weight) { p = p + 1 === n ? 0 : p + 1; count = 0; }
  }
}

export default defineScheduler<ShState>({
  name: 'sh',
  description: 'Source Hashing',
  flags: { 'sh-fallback': SH_FALLBACK, 'sh-port': SH_PORT },
  init(svc) {
    const s: ShState = { buckets: new Array<SchedDest | null>(TAB_SIZE).fill(null) };
    reassign(svc, s);
    return s;
  },
  addDest(svc, s) { reassign(svc, s); },
  delDest(svc, s) { reassign(svc, s); },
  updDest(svc, s) { reassign(svc, s); },
  schedule(svc, s, pkt, ctx) {
    const port = (svc.flags & SH_PORT) !== 0 && hasPorts(pkt.protocol) ? pkt.sport : 0;
    const h = hash32((port + pkt.saddr32) >>> 0, TAB_BITS);
    let d: SchedDest | null = s.buckets[h] ?? null;
    if (d !== null && unavailable(d)) {
      if ((svc.flags & SH_FALLBACK) === 0) {
        d = null;
      } else {
        // ip_vs_sh_get_fallback: the kernel hashes index((i + H) mod 256), which
        // adds H a second time: bucket (i + 2H) mod 256.
        let found: SchedDest | null = null;
        for (let i = 0; i < TAB_SIZE; i++) {
          const b = s.buckets[(((i + h) & TAB_MASK) + h) & TAB_MASK]!;
          if (b === null) break;
          if (!unavailable(b)) { found = b; break; }
        }
        d = found;
      }
    }
    if (d === null) schedulerErr(svc, 'sh', NO_DEST, ctx);
    return d;
  },
});

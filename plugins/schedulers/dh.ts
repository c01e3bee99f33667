// dh — Destination Hashing (shared/spec/schedulers.md §11): 256 buckets filled
// cyclically in list order (weights ignored), looked up by hash_32 of the
// packet's destination address. No fallback.

import { defineScheduler, type SchedDest, type SchedService } from 'lvsd';
import { NO_DEST, schedulerErr } from './lib/common.js';
import { hash32 } from './lib/hash.js';

const TAB_BITS = 8;
const TAB_SIZE = 1 << TAB_BITS;

interface DhState { buckets: (SchedDest | null)[] }

function reassign(svc: SchedService, s: DhState): void {
  const ds = svc.dests;
  const n = ds.length;
  for (let i = 0; i < TAB_SIZE; i++) s.buckets[i] = n === 0 ? null : ds[i % n]!;
}

export default defineScheduler<DhState>({
  name: 'dh',
  description: 'Destination Hashing',
  init(svc) {
    const s: DhState = { buckets: new Array<SchedDest | null>(TAB_SIZE).fill(null) };
    reassign(svc, s);
    return s;
  },
  addDest(svc, s) { reassign(svc, s); },
  delDest(svc, s) { reassign(svc, s); },
  // No updDest: a weight edit does not refill the table.
  schedule(svc, s, pkt, ctx) {
    const d = s.buckets[hash32(pkt.daddr32, TAB_BITS)]!;
    if (d === null || !d.available || d.weight <= 0 || d.overloaded) {
      schedulerErr(svc, 'dh', NO_DEST, ctx);
      return null;
    }
    return d;
  },
});

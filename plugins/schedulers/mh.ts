// mh — Maglev Hashing (shared/spec/schedulers.md §13), ip_vs_mh.c.
//
// A 4093-slot lookup table built from per-dest permutations (offset, skip)
// derived with hsiphash (SipHash-1-3 on 64-bit kernels). last_weight, not the
// current weight, gives each dest its share, so a dest edited to weight 0
// keeps its slots and is merely "unavailable" at lookup time.

import { defineScheduler, SVC_F_SCHED1, SVC_F_SCHED2, addrWords, type SchedDest, type SchedService } from 'lvsd';
import { NO_DEST, hasPorts, schedulerErr, unavailable } from './lib/common.js';
import { gcd } from './lib/hash.js';
import { hsiphashWasm } from './lib/hsiphash-wasm.js';

/** Prime table size for CONFIG_IP_VS_MH_TAB_INDEX = 12. */
export const MH_TAB_SIZE = 4093;
const TAB_BITS = 6; // IP_VS_MH_TAB_INDEX / 2
const MH_FALLBACK = SVC_F_SCHED1;
const MH_PORT = SVC_F_SCHED2;
// generate_hash_secret(): both words of each key equal; 64-bit words as (hi, lo).
const K1 = 2654435761;
const K2 = 2654446892;

/** ip_vs_mh_hashkey(): hsiphash of (offset + port + folded addr) with key 1 or 2. */
function mhHash(addr32: number, port: number, key: number, offset: number): number {
  const v = (offset + port + addr32) >>> 0;
  return hsiphashWasm(v, key, key);
}

interface MhState {
  lookup: (SchedDest | null)[];
}

/** The dest address folded the way the kernel folds it: by the *service's* family. */
function destKey(svc: SchedService, d: SchedDest): number {
  if (svc.family === d.family || svc.family === 'inet6') return d.addr32;
  return addrWords(d.family, d.addr)[0]!; // an IPv6 dest of an IPv4 service: addr->ip, the first word
}

function rebuild(svc: SchedService, s: MhState): void {
  const ds = svc.dests;
  const n = ds.length;
  if (n > MH_TAB_SIZE) return; // refused: the table keeps its old contents
  let g = 0;
  let maxW = 0;
  for (const d of ds) {
    const lw = d.lastWeight;
    if (lw > 0) g = g > 0 ? gcd(lw, g) : lw;
    if (lw > maxW) maxW = lw;
  }
  const lookup = s.lookup;
  lookup.fill(null);
  if (g < 1) return;
  // fls(max/gcd) - TAB_BITS, not below 0.
  const rshift = Math.max(0, (32 - Math.clz32(Math.trunc(maxW / g))) - TAB_BITS);
  const perm = new Int32Array(n);
  const skip = new Int32Array(n);
  const turns = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const d = ds[i]!;
    const key = destKey(svc, d);
    perm[i] = mhHash(key, d.port, K1, 0) % MH_TAB_SIZE;
    skip[i] = (mhHash(key, d.port, K2, 0) % (MH_TAB_SIZE - 1)) + 1;
    const lw = d.lastWeight;
    const t = Math.trunc(lw / g) >>> rshift;
    turns[i] = t !== 0 ? t : (lw !== 0 ? 1 : 0);
  }
  const used = new Uint8Array(MH_TAB_SIZE);
  let filled = 0;
  let dtCount = 0;
  // Walk the list again and again; a dest with t turns claims t slots in a row.
  for (;;) {
    for (let i = 0; i < n;) {
      if (turns[i]! < 1) { i++; continue; }
      let c = perm[i]!;
      while (used[c] !== 0) {
        c += skip[i]!;
        if (c >= MH_TAB_SIZE) c -= MH_TAB_SIZE;
      }
      perm[i] = c;
      used[c] = 1;
      lookup[c] = ds[i]!;
      if (++filled === MH_TAB_SIZE) return;
      if (++dtCount >= turns[i]!) { dtCount = 0; i++; }
    }
  }
}

export default defineScheduler<MhState>({
  name: 'mh',
  description: 'Maglev Hashing',
  flags: { 'mh-fallback': MH_FALLBACK, 'mh-port': MH_PORT },
  init(svc) {
    const s: MhState = { lookup: new Array<SchedDest | null>(MH_TAB_SIZE).fill(null) };
    rebuild(svc, s);
    return s;
  },
  addDest(svc, s) { rebuild(svc, s); },
  delDest(svc, s) { rebuild(svc, s); },
  updDest(svc, s) { rebuild(svc, s); },
  schedule(svc, s, pkt, ctx) {
    const port = (svc.flags & MH_PORT) !== 0 && hasPorts(pkt.protocol) ? pkt.sport : 0;
    const addr = pkt.saddr32;
    const ih = mhHash(addr, port, K1, 0) % MH_TAB_SIZE;
    let d: SchedDest | null = s.lookup[ih] ?? null;
    if (d !== null && unavailable(d)) {
      if ((svc.flags & MH_FALLBACK) === 0) {
        d = null;
      } else {
        // ip_vs_mh_get_fallback: re-hash with the offset r added to the key.
        let found: SchedDest | null = null;
        for (let i = 0; i < MH_TAB_SIZE; i++) {
          const r = (i + ih) % MH_TAB_SIZE;
          const b = s.lookup[mhHash(addr, port, K1, r) % MH_TAB_SIZE]!;
          if (b === null) break;
          if (!unavailable(b)) { found = b; break; }
        }
        d = found;
      }
    }
    if (d === null) schedulerErr(svc, 'mh', NO_DEST, ctx);
    return d;
  },
});

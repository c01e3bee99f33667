// Hash functions the kernel schedulers use (shared/spec/schedulers.md §9, §11-§13).

/** include/linux/hash.h: hash_32(v, bits) = top `bits` bits of v * GOLDEN_RATIO_32. */
export function hash32(v: number, bits: number): number {
  return Math.imul(v, 0x61c88647) >>> (32 - bits);
}

/**
 * hsiphash() of the 4 little-endian bytes of `v`, as a 64-bit kernel computes it:
 * SipHash-1-3 (one compression round, three finalisation rounds) keyed with
 * {k0, k1}, result truncated to the low 32 bits (lib/siphash.c, HSIPROUND = SIPROUND).
 *
 * Each 64-bit word is carried as two int32 halves (hi, lo) in locals, the four
 * SipRounds unrolled, so that the hot path (mh lookups) allocates nothing, never
 * touches BigInt and stays in int32 registers (a uint32 above 2^31 would be a
 * double). Carries come from the unsigned compare of the low halves.
 * k0/k1 are given as 64-bit values split into halves.
 */
export function hsiphash32(v: number, k0hi: number, k0lo: number, k1hi: number, k1lo: number): number {
  let v0h = 0x736f6d65 ^ k0hi, v0l = 0x70736575 ^ k0lo;
  let v1h = 0x646f7261 ^ k1hi, v1l = 0x6e646f6d ^ k1lo;
  let v2h = 0x6c796765 ^ k0hi, v2l = 0x6e657261 ^ k0lo;
  let v3h = 0x74656462 ^ k1hi, v3l = 0x79746573 ^ k1lo;
  const bh = 0x04000000, bl = v | 0;
  v3h ^= bh; v3l ^= bl;
  let t: number, th: number, lo: number;
    lo = (v0l + v1l) | 0; v0h = (v0h + v1h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = lo;
    th = (v1h << 13) | (v1l >>> 19); v1l = (v1l << 13) | (v1h >>> 19); v1h = th ^ v0h; v1l ^= v0l;
    t = v0h; v0h = v0l; v0l = t;
    lo = (v2l + v3l) | 0; v2h = (v2h + v3h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = lo;
    th = (v3h << 16) | (v3l >>> 16); v3l = (v3l << 16) | (v3h >>> 16); v3h = th ^ v2h; v3l ^= v2l;
    lo = (v0l + v3l) | 0; v0h = (v0h + v3h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = lo;
    th = (v3h << 21) | (v3l >>> 11); v3l = (v3l << 21) | (v3h >>> 11); v3h = th ^ v0h; v3l ^= v0l;
    lo = (v2l + v1l) | 0; v2h = (v2h + v1h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = lo;
    th = (v1h << 17) | (v1l >>> 15); v1l = (v1l << 17) | (v1h >>> 15); v1h = th ^ v2h; v1l ^= v2l;
    t = v2h; v2h = v2l; v2l = t;
    v0h ^= bh; v0l ^= bl; v2l ^= 0xff;
    lo = (v0l + v1l) | 0; v0h = (v0h + v1h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = lo;
    th = (v1h << 13) | (v1l >>> 19); v1l = (v1l << 13) | (v1h >>> 19); v1h = th ^ v0h; v1l ^= v0l;
    t = v0h; v0h = v0l; v0l = t;
    lo = (v2l + v3l) | 0; v2h = (v2h + v3h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = lo;
    th = (v3h << 16) | (v3l >>> 16); v3l = (v3l << 16) | (v3h >>> 16); v3h = th ^ v2h; v3l ^= v2l;
    lo = (v0l + v3l) | 0; v0h = (v0h + v3h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = lo;
    th = (v3h << 21) | (v3l >>> 11); v3l = (v3l << 21) | (v3h >>> 11); v3h = th ^ v0h; v3l ^= v0l;
    lo = (v2l + v1l) | 0; v2h = (v2h + v1h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = lo;
    th = (v1h << 17) | (v1l >>> 15); v1l = (v1l << 17) | (v1h >>> 15); v1h = th ^ v2h; v1l ^= v2l;
    t = v2h; v2h = v2l; v2l = t;
    lo = (v0l + v1l) | 0; v0h = (v0h + v1h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = lo;
    th = (v1h << 13) | (v1l >>> 19); v1l = (v1l << 13) | (v1h >>> 19); v1h = th ^ v0h; v1l ^= v0l;
    t = v0h; v0h = v0l; v0l = t;
    lo = (v2l + v3l) | 0; v2h = (v2h + v3h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = lo;
    th = (v3h << 16) | (v3l >>> 16); v3l = (v3l << 16) | (v3h >>> 16); v3h = th ^ v2h; v3l ^= v2l;
    lo = (v0l + v3l) | 0; v0h = (v0h + v3h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = lo;
    th = (v3h << 21) | (v3l >>> 11); v3l = (v3l << 21) | (v3h >>> 11); v3h = th ^ v0h; v3l ^= v0l;
    lo = (v2l + v1l) | 0; v2h = (v2h + v1h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = lo;
    th = (v1h << 17) | (v1l >>> 15); v1l = (v1l << 17) | (v1h >>> 15); v1h = th ^ v2h; v1l ^= v2l;
    t = v2h; v2h = v2l; v2l = t;
    lo = (v0l + v1l) | 0; v0h = (v0h + v1h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = lo;
    th = (v1h << 13) | (v1l >>> 19); v1l = (v1l << 13) | (v1h >>> 19); v1h = th ^ v0h; v1l ^= v0l;
    t = v0h; v0h = v0l; v0l = t;
    lo = (v2l + v3l) | 0; v2h = (v2h + v3h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = lo;
    th = (v3h << 16) | (v3l >>> 16); v3l = (v3l << 16) | (v3h >>> 16); v3h = th ^ v2h; v3l ^= v2l;
    lo = (v0l + v3l) | 0; v0h = (v0h + v3h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = lo;
    th = (v3h << 21) | (v3l >>> 11); v3l = (v3l << 21) | (v3h >>> 11); v3h = th ^ v0h; v3l ^= v0l;
    lo = (v2l + v1l) | 0; v2h = (v2h + v1h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = lo;
    th = (v1h << 17) | (v1l >>> 15); v1l = (v1l << 17) | (v1h >>> 15); v1h = th ^ v2h; v1l ^= v2l;
    t = v2h; v2h = v2l; v2l = t;
  return (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
}

/** Euclid, for the wrr/mh weight gcds. */
export function gcd(a: number, b: number): number {
  while (b !== 0) { const t = a % b; a = b; b = t; }
  return a;
}

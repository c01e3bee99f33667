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
 * Each 64-bit word is carried as two u32 halves (hi, lo) in locals so that the
 * hot path (mh lookups) allocates nothing and never touches BigInt.
 * k0/k1 are given as 64-bit values split into halves.
 */
export function hsiphash32(v: number, k0hi: number, k0lo: number, k1hi: number, k1lo: number): number {
  // PREAMBLE(4): v0..v3 = "somepseudorandomlygeneratedbytes" ^ key
  let v0h = (0x736f6d65 ^ k0hi) >>> 0, v0l = (0x70736575 ^ k0lo) >>> 0;
  let v1h = (0x646f7261 ^ k1hi) >>> 0, v1l = (0x6e646f6d ^ k1lo) >>> 0;
  let v2h = (0x6c796765 ^ k0hi) >>> 0, v2l = (0x6e657261 ^ k0lo) >>> 0;
  let v3h = (0x74656462 ^ k1hi) >>> 0, v3l = (0x79746573 ^ k1lo) >>> 0;
  // b = (len << 56) | le32(v)
  const bh = 0x04000000, bl = v >>> 0;
  v3h = (v3h ^ bh) >>> 0; v3l = (v3l ^ bl) >>> 0;
  let t: number, th: number, tl: number, lo: number;
  // 1 + 3 rounds; the message/finalisation xors sit between them.
  for (let r = 0; r < 4; r++) {
    if (r === 1) { v0h = (v0h ^ bh) >>> 0; v0l = (v0l ^ bl) >>> 0; v2l = (v2l ^ 0xff) >>> 0; }
    // v0 += v1; v1 = rol(v1, 13); v1 ^= v0; v0 = rol(v0, 32)
    lo = v0l + v1l; v0h = (v0h + v1h + (lo > 0xffffffff ? 1 : 0)) >>> 0; v0l = lo >>> 0;
    th = ((v1h << 13) | (v1l >>> 19)) >>> 0; tl = ((v1l << 13) | (v1h >>> 19)) >>> 0;
    v1h = (th ^ v0h) >>> 0; v1l = (tl ^ v0l) >>> 0;
    t = v0h; v0h = v0l; v0l = t;
    // v2 += v3; v3 = rol(v3, 16); v3 ^= v2
    lo = v2l + v3l; v2h = (v2h + v3h + (lo > 0xffffffff ? 1 : 0)) >>> 0; v2l = lo >>> 0;
    th = ((v3h << 16) | (v3l >>> 16)) >>> 0; tl = ((v3l << 16) | (v3h >>> 16)) >>> 0;
    v3h = (th ^ v2h) >>> 0; v3l = (tl ^ v2l) >>> 0;
    // v0 += v3; v3 = rol(v3, 21); v3 ^= v0
    lo = v0l + v3l; v0h = (v0h + v3h + (lo > 0xffffffff ? 1 : 0)) >>> 0; v0l = lo >>> 0;
    th = ((v3h << 21) | (v3l >>> 11)) >>> 0; tl = ((v3l << 21) | (v3h >>> 11)) >>> 0;
    v3h = (th ^ v0h) >>> 0; v3l = (tl ^ v0l) >>> 0;
    // v2 += v1; v1 = rol(v1, 17); v1 ^= v2; v2 = rol(v2, 32)
    lo = v2l + v1l; v2h = (v2h + v1h + (lo > 0xffffffff ? 1 : 0)) >>> 0; v2l = lo >>> 0;
    th = ((v1h << 17) | (v1l >>> 15)) >>> 0; tl = ((v1l << 17) | (v1h >>> 15)) >>> 0;
    v1h = (th ^ v2h) >>> 0; v1l = (tl ^ v2l) >>> 0;
    t = v2h; v2h = v2l; v2l = t;
  }
  // (v0 ^ v1) ^ (v2 ^ v3), low 32 bits
  return (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
}

/** Euclid, for the wrr/mh weight gcds. */
export function gcd(a: number, b: number): number {
  while (b !== 0) { const t = a % b; a = b; b = t; }
  return a;
}

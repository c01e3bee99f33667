// ipvsadm's listing order: glibc 2.36's qsort (a top-down merge sort) over the
// kernel's dump order, with libipvs's comparators. Those subtract unsigned
// 32-bit values and read the result as a signed int, so values 2^31 or more
// apart compare "backwards" and the outcome depends on the input order; the
// merge sort is reproduced exactly so the same input gives the same output.

import { AF_NUM, addrWords, type Family } from '../../core/model/addr.js';
import { PROTO_NUM, type DestView, type ServiceView } from '../../core/model/types.js';

/** glibc msort_with_tmp: split n/2, sort halves, merge taking the left on `<= 0`. */
export function glibcMergeSort<T>(items: readonly T[], cmp: (a: T, b: T) => number): T[] {
  if (items.length <= 1) return items.slice();
  const n1 = Math.floor(items.length / 2);
  const left = glibcMergeSort(items.slice(0, n1), cmp);
  const right = glibcMergeSort(items.slice(n1), cmp);
  const out: T[] = [];
  let i = 0, j = 0;
  while (i < left.length && j < right.length) {
    if (cmp(left[i]!, right[j]!) <= 0) out.push(left[i++]!);
    else out.push(right[j++]!);
  }
  while (i < left.length) out.push(left[i++]!);
  while (j < right.length) out.push(right[j++]!);
  return out;
}

/** `(int)(a - b)` for two u32 values. */
const sub32 = (a: number, b: number): number => ((a >>> 0) - (b >>> 0)) | 0;

/**
 * Parsed addresses, so that a sort parses each address once and not at every
 * comparison (a 10 000 × 10 listing makes ~1.5 million of them). Bounded: the
 * cache is dropped when it grows past what one large listing needs.
 */
const wordCache = new Map<string, number[]>();
const WORD_CACHE_MAX = 1 << 18;

/** The address as libipvs holds it: IPv4 in the first word of a zeroed 16-byte union. */
function words(family: Family, addr: string): number[] {
  const key = family === 'inet' ? addr : `6/${addr}`;
  let w = wordCache.get(key);
  if (w) return w;
  const a = addrWords(family, addr);
  w = family === 'inet' ? [a[0]!, 0, 0, 0] : a;
  if (wordCache.size >= WORD_CACHE_MAX) wordCache.clear();
  wordCache.set(key, w);
  return w;
}

/** Compares addresses the way libipvs does, reading the family of the first one only. */
function cmpAddr(fa: Family, a: string, fb: Family, b: string): number {
  const wa = words(fa, a), wb = words(fb, b);
  if (fa !== 'inet6') return sub32(wa[0]!, wb[0]!);
  let r = 0;
  for (let i = 0; r === 0 && i < 4; i++) r = sub32(wa[i]!, wb[i]!);
  return r;
}

/** libipvs ipvs_cmp_services. A fwmark service reports no protocol or address. */
export function cmpServices(a: ServiceView, b: ServiceView): number {
  let r = sub32(a.fwmark, b.fwmark);
  if (r !== 0) return r;
  r = AF_NUM[a.family] - AF_NUM[b.family];
  if (r !== 0) return r;
  const pa = a.fwmark ? 0 : PROTO_NUM[a.protocol], pb = b.fwmark ? 0 : PROTO_NUM[b.protocol];
  r = pa - pb;
  if (r !== 0) return r;
  if (!a.fwmark && !b.fwmark) {
    r = cmpAddr(a.family, a.addr, b.family, b.addr);
    if (r !== 0) return r;
    return a.port - b.port;
  }
  return 0;
}

/** libipvs ipvs_cmp_dests. */
export function cmpDests(a: DestView, b: DestView): number {
  const r = cmpAddr(a.family, a.addr, b.family, b.addr);
  return r !== 0 ? r : a.port - b.port;
}

export const sortServices = (s: readonly ServiceView[]): ServiceView[] => glibcMergeSort(s, cmpServices);
export const sortDests = (d: readonly DestView[]): DestView[] => glibcMergeSort(d, cmpDests);

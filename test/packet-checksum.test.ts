import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildFrame, buildIp, type L4Spec } from '../core/packet/build.js';
import * as C from '../core/packet/checksum.js';
import * as P from '../core/packet/parse.js';

/** RFC 1071 the slow, obvious way, to check the fast code against. */
function naiveSum(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) + (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Bitwise CRC32c straight from the polynomial. */
function naiveCrc32c(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) { c ^= x; for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1; }
  return (c ^ 0xffffffff) >>> 0;
}

const r = P.createParseResult();

function l4Valid(f: Uint8Array): boolean {
  assert.equal(P.parseFrame(f, 0, f.length, r), 0);
  const proto = r[P.F_PROTO]!;
  const l4 = r[P.F_L4_OFF]!;
  const len = r[P.F_L3_OFF]! + r[P.F_IP_LEN]! - l4;
  if (proto === P.IPPROTO_SCTP) return C.verifySctp(f, l4, len);
  if (proto === P.IPPROTO_UDP && r[P.F_FAMILY] === 4 && C.rd16(f, l4 + 6) === 0) return true;
  return C.verifyL4Sum(f, r[P.F_FAMILY]!, r[P.F_SRC_OFF]!, r[P.F_DST_OFF]!, proto === P.IPPROTO_ICMP ? -1 : proto, l4, len);
}

/** Full recompute of every checksum of a frame, as the reference for incremental updates. */
function recomputed(f: Uint8Array): Uint8Array {
  const g = f.slice();
  P.parseFrame(g, 0, g.length, r, P.PARSE_NO_IP_CSUM);
  const l3 = r[P.F_L3_OFF]!;
  if (r[P.F_FAMILY] === 4) C.fillIpv4HeaderChecksum(g, l3);
  const l4 = r[P.F_L4_OFF]!;
  const len = l3 + r[P.F_IP_LEN]! - l4;
  const proto = r[P.F_PROTO]!;
  if (proto === P.IPPROTO_SCTP) C.fillSctpChecksum(g, l4, len);
  else if (proto === P.IPPROTO_UDP && r[P.F_FAMILY] === 4 && C.rd16(f, l4 + 6) === 0) { /* stays 0 */ }
  else C.wr16(g, r[P.F_CSUM_OFF]!, C.l4Checksum(g, r[P.F_FAMILY]!, r[P.F_SRC_OFF]!, r[P.F_DST_OFF]!, proto === P.IPPROTO_ICMP ? -1 : proto, l4, len, r[P.F_CSUM_OFF]!));
  return g;
}

describe('packet checksums', () => {
  it('inetSum equals the naive RFC 1071 sum (odd lengths, offsets)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(7), (b, o) => {
      const buf = new Uint8Array(o + b.length); buf.set(b, o);
      assert.equal(C.foldSum(C.inetSum(buf, o, b.length, 0)), naiveSum([...b]));
    }), { numRuns: 2000 });
  });

  it('RFC 1071 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', () => {
    assert.equal(C.foldSum(C.inetSum(Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7), 0, 8, 0)), 0xddf2);
  });

  it('CRC32c: standard check value and the naive bitwise CRC', () => {
    assert.equal(C.crc32c(new TextEncoder().encode('123456789'), 0, 9), 0xe3069283);
    // RFC 3720 B.4: 32 bytes of zeros
    assert.equal(C.crc32c(new Uint8Array(32), 0, 32), 0x8a9136aa);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => { assert.equal(C.crc32c(b, 0, b.length), naiveCrc32c(b)); }), { numRuns: 500 });
  });

  it('builders produce valid checksums for every protocol and family', () => {
    const l4s: L4Spec[] = [
      { proto: 'tcp', sport: 1, dport: 2, payload: Uint8Array.of(1, 2, 3) },
      { proto: 'udp', sport: 1, dport: 2, payload: Uint8Array.of(9) },
      { proto: 'sctp', sport: 1, dport: 2, chunks: [{ type: 1, data: new Uint8Array(16) }] },
      { proto: 'icmp', type: 8, code: 0, rest: 0x12345678, payload: Uint8Array.of(1) },
    ];
    for (const [src, dst] of [['10.0.0.1', '10.0.0.2'], ['2001:db8::1', 'fe80::2']] as const) {
      for (const l4 of l4s) {
        const f = buildFrame({}, { src, dst }, l4);
        assert.ok(l4Valid(f), `${src} ${l4.proto}`);
        assert.deepEqual(recomputed(f), f);
      }
    }
  });

  it('UDP with a computed checksum of 0 stores 0xffff', () => {
    // Find a payload whose checksum computes to 0, by construction: adjust the last 2 payload bytes.
    const p = buildIp({ src: '10.0.0.1', dst: '10.0.0.2' }, { proto: 'udp', sport: 1, dport: 2, payload: new Uint8Array(2) });
    const c = C.rd16(p, 26);
    // Adding the current checksum value to the data makes the new sum 0xffff → checksum 0.
    C.wr16(p, 28, c);
    assert.equal(C.l4Checksum(p, 4, 12, 16, 17, 20, 10, 26), 0xffff);
  });

  it('incremental rewrite of IPv4 addresses and ports equals a full recompute (TCP, UDP, UDP zero, SCTP)', () => {
    fc.assert(fc.property(
      fc.constantFrom<'tcp' | 'udp' | 'udp0' | 'sctp'>('tcp', 'udp', 'udp0', 'sctp'),
      fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff }),
      (kind, payload, newDst, newSrc, newDport, newSport, origSrc) => {
        const s = `${origSrc >>> 24}.${(origSrc >>> 16) & 255}.${(origSrc >>> 8) & 255}.${origSrc & 255}`;
        const l4: L4Spec = kind === 'sctp'
          ? { proto: 'sctp', sport: 1000, dport: 80, chunks: [{ type: 0, data: payload }] }
          : kind === 'tcp' ? { proto: 'tcp', sport: 1000, dport: 80, payload }
            : { proto: 'udp', sport: 1000, dport: 80, payload, zeroChecksum: kind === 'udp0' };
        const f = buildFrame({}, { src: s, dst: '10.99.4.1', ttl: 64 }, l4);
        P.parseFrame(f, 0, f.length, r);
        const l3 = r[P.F_L3_OFF]!, l4o = r[P.F_L4_OFF]!, cs = r[P.F_CSUM_OFF]!;
        const k = kind === 'tcp' ? C.CSUM_TCP : kind === 'sctp' ? C.CSUM_NONE : C.CSUM_UDP;
        C.rewriteAddr4(f, l3, r[P.F_DST_OFF]!, newDst, cs, k);
        C.rewriteAddr4(f, l3, r[P.F_SRC_OFF]!, newSrc, cs, k);
        C.rewrite16(f, l4o + 2, newDport, cs, k);
        C.rewrite16(f, l4o, newSport, cs, k);
        C.decTtl4(f, l3);
        if (kind === 'sctp') C.fillSctpChecksum(f, l4o, r[P.F_L4_LEN]!);
        if (kind === 'udp0') assert.equal(C.rd16(f, cs), 0);
        assert.ok(C.verifyIpv4Header(f, l3));
        assert.ok(l4Valid(f));
        assert.deepEqual(recomputed(f), f);
      }), { numRuns: 3000 });
  });

  it('incremental rewrite of IPv6 addresses equals a full recompute (TCP, UDP, ICMPv6)', () => {
    fc.assert(fc.property(
      fc.constantFrom<'tcp' | 'udp' | 'icmp'>('tcp', 'udp', 'icmp'),
      fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 0xffff }),
      (kind, payload, addr, port) => {
        const l4: L4Spec = kind === 'tcp' ? { proto: 'tcp', sport: 1000, dport: 80, payload }
          : kind === 'udp' ? { proto: 'udp', sport: 1000, dport: 80, payload } : { proto: 'icmp', type: 128, code: 0, payload };
        const f = buildFrame({}, { src: '2001:db8::1', dst: '2001:db8::99' }, l4);
        P.parseFrame(f, 0, f.length, r);
        const cs = r[P.F_CSUM_OFF]!;
        const k = kind === 'udp' ? C.CSUM_UDP : C.CSUM_TCP;
        C.rewriteAddr6(f, r[P.F_DST_OFF]!, addr, 0, cs, k);
        if (kind !== 'icmp') C.rewrite16(f, r[P.F_L4_OFF]! + 2, port, cs, k);
        C.decHopLimit6(f, r[P.F_L3_OFF]!);
        assert.ok(l4Valid(f));
        assert.deepEqual(recomputed(f), f);
      }), { numRuns: 2000 });
  });

  it('csumReplace16/32 match a full recompute on random data', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 8, maxLength: 80 }), fc.nat(), fc.integer({ min: 0, max: 0xffffffff }), (b0, at, v) => {
      const b = b0.slice(0, b0.length & ~1);
      const o = (at % ((b.length - 4) / 2 + 1)) * 2;
      const c = C.inetChecksum(b, 0, b.length);
      const old32 = C.rd32(b, o);
      C.wr32(b, o, v);
      assert.equal(C.csumReplace32(c, old32, v >>> 0), C.inetChecksum(b, 0, b.length));
      const c2 = C.inetChecksum(b, 0, b.length);
      const old16 = C.rd16(b, o);
      C.wr16(b, o, v & 0xffff);
      assert.equal(C.csumReplace16(c2, old16, v & 0xffff), C.inetChecksum(b, 0, b.length));
    }), { numRuns: 3000 });
  });

  it('a wrong TCP checksum stays wrong by the same amount after a rewrite (the kernel does not verify)', () => {
    const f = buildFrame({}, { src: '10.0.0.1', dst: '10.99.4.1' }, { proto: 'tcp', sport: 1, dport: 80, badChecksum: true });
    P.parseFrame(f, 0, f.length, r);
    const cs = r[P.F_CSUM_OFF]!;
    // one's complement difference between the carried and the correct checksum
    const diff = (a: number, b: number): number => C.foldSum(a + (~b & 0xffff));
    const delta = diff(C.rd16(f, cs), C.rd16(recomputed(f), cs));
    C.rewriteAddr4(f, r[P.F_L3_OFF]!, r[P.F_DST_OFF]!, 0x0aca0009, cs, C.CSUM_TCP);
    assert.ok(!l4Valid(f));
    assert.equal(diff(C.rd16(f, cs), C.rd16(recomputed(f), cs)), delta);
  });
});

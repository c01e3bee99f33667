// The spec's vectors and worked examples that are about internals (hashes,
// tables, state), plus the table's OVERLOAD rules (shared/spec/schedulers.md).

import { strict as assert } from 'node:assert';
import { gcd, hash32, hsiphash32 } from '../plugins/schedulers/lib/hash.js';
import fc from 'fast-check';
import { hsiphashWasm } from '../plugins/schedulers/lib/hsiphash-wasm.js';
import { MH_TAB_SIZE } from '../plugins/schedulers/mh.js';
import { LbTable, LB_MAX_SIZE } from '../plugins/schedulers/lib/lbcache.js';
import { schedulerErr } from '../plugins/schedulers/lib/common.js';
import type { SchedDest, SchedService } from '../core/plugin.js';
import { harness } from './fixtures/sched/harness.js';

const ip = (s: string): number => s.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);

// ---- a plain BigInt SipHash-c-d, validated against the official SipHash-2-4 vectors
const M64 = (1n << 64n) - 1n;
const rotl = (x: bigint, b: bigint): bigint => ((x << b) | (x >> (64n - b))) & M64;
function sipHash(k0: bigint, k1: bigint, data: Uint8Array, c: number, d: number): bigint {
  let v0 = 0x736f6d6570736575n ^ k0, v1 = 0x646f72616e646f6dn ^ k1, v2 = 0x6c7967656e657261n ^ k0, v3 = 0x7465646279746573n ^ k1;
  const round = (): void => {
    v0 = (v0 + v1) & M64; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M64; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & M64; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & M64; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const le = (b: Uint8Array): bigint => b.reduceRight((a, x) => (a << 8n) | BigInt(x), 0n);
  const full = data.length - (data.length % 8);
  for (let i = 0; i < full; i += 8) {
    const m = le(data.subarray(i, i + 8));
    v3 ^= m; for (let r = 0; r < c; r++) round(); v0 ^= m;
  }
  const b = (BigInt(data.length & 0xff) << 56n) | le(data.subarray(full));
  v3 ^= b; for (let r = 0; r < c; r++) round(); v0 ^= b;
  v2 ^= 0xffn; for (let r = 0; r < d; r++) round();
  return v0 ^ v1 ^ v2 ^ v3;
}
const seq = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i);
const KEY0 = 0x0706050403020100n, KEY1 = 0x0f0e0d0c0b0a0908n;

describe('scheduler hashes (§12, §13)', () => {
  it('hash_32 vectors', () => {
    assert.equal(hash32(ip('192.168.1.10'), 8), 248);
    assert.equal(hash32(ip('192.168.1.11'), 8), 90);
    assert.equal(hash32(ip('10.1.2.3'), 8), 2);
    assert.equal(hash32(ip('203.0.113.7'), 8), 124);
    assert.equal(hash32((ip('192.168.1.10') + 12345) >>> 0, 8), 87);
    assert.equal(hash32((ip('192.168.1.11') + 12345) >>> 0, 8), 185);
    assert.equal(hash32((ip('10.1.2.3') + 12345) >>> 0, 8), 97);
  });
  it('reference SipHash matches the official SipHash-2-4 vectors', () => {
    assert.equal(sipHash(KEY0, KEY1, seq(0), 2, 4), 0x726fdb47dd0e0e31n);
    assert.equal(sipHash(KEY0, KEY1, seq(15), 2, 4), 0xa129ca6149be45e5n);
  });
  it('hsiphash (SipHash-1-3, 32-bit result) matches the reference and the spec', () => {
    assert.equal(hsiphash32(0, 0, 2654435761, 0, 2654435761), 0x1d5a77c2);
    assert.equal(hsiphash32(0, 0, 2654446892, 0, 2654446892), 0xf882433f);
    let x = 12345;
    for (let i = 0; i < 300; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const k0 = BigInt(x ^ 0x5a5a5a5a) << 32n | BigInt(Math.imul(x, 7) >>> 0);
      const k1 = BigInt(Math.imul(x, 13) >>> 0) << 32n | BigInt(x);
      const v = Math.imul(x, 2654435761) >>> 0;
      const data = Uint8Array.of(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24);
      const want = Number(sipHash(k0, k1, data, 1, 3) & 0xffffffffn);
      assert.equal(hsiphash32(v, Number(k0 >> 32n), Number(k0 & 0xffffffffn), Number(k1 >> 32n), Number(k1 & 0xffffffffn)), want);
    }
  });
  it('the WebAssembly hsiphash equals the reference for the mh keys', () => {
    assert.equal(hsiphashWasm(0, 2654435761, 2654435761), 0x1d5a77c2);
    assert.equal(hsiphashWasm(0, 2654446892, 2654446892), 0xf882433f);
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(2654435761, 2654446892, 0, 0xffffffff), (v, k) => {
      assert.equal(hsiphashWasm(v, k, k), hsiphash32(v, 0, k, 0, k));
    }), { numRuns: 2000 });
  });
  it('gcd', () => { assert.equal(gcd(12, 18), 6); assert.equal(gcd(7, 1), 1); });
});

type MhLookup = { lookup: (SchedDest | null)[] };

describe('mh table (§13)', () => {
  const build = (weights: number[]) => {
    const h = harness('mh');
    // list order R1, R2, R3: add R3, R2, R1
    const ds = [3, 2, 1].map((i) => h.add(`10.0.0.${i}`, weights[i - 1]!));
    return { h, ds: ds.reverse(), st: () => h.svc.schedState as MhLookup };
  };
  it('offsets and skips of the spec (through the slots they claim first)', () => {
    // With a single dest, its permutation starts at `offset` and steps by `skip`:
    // the slot order is offset, offset+skip, ... so the first slots filled are visible
    // only indirectly; check the hash values themselves.
    const h1 = (a: string) => hsiphash32((ip(a) + 80) >>> 0, 0, 2654435761, 0, 2654435761) % MH_TAB_SIZE;
    const h2 = (a: string) => (hsiphash32((ip(a) + 80) >>> 0, 0, 2654446892, 0, 2654446892) % (MH_TAB_SIZE - 1)) + 1;
    assert.deepEqual([h1('10.0.0.1'), h2('10.0.0.1')], [3167, 700]);
    assert.deepEqual([h1('10.0.0.2'), h2('10.0.0.2')], [1231, 3544]);
    assert.deepEqual([h1('10.0.0.3'), h2('10.0.0.3')], [1631, 3453]);
  });
  it('equal weights: counts 1365/1364/1364, slots 0..9, client slots', () => {
    const { h, ds, st } = build([1, 1, 1]);
    const name = (d: SchedDest | null) => (d === null ? '-' : `R${ds.indexOf(d as never) + 1}`);
    const lk = st().lookup;
    assert.deepEqual(ds.map((d) => lk.filter((x) => x === d).length), [1365, 1364, 1364]);
    assert.deepEqual(lk.slice(0, 10).map(name), 'R1 R2 R2 R3 R3 R1 R2 R3 R3 R1'.split(' '));
    for (const [c, slot, r] of [['192.168.1.10', 3323, 'R1'], ['192.168.1.12', 3491, 'R3'], ['192.168.1.13', 2846, 'R3'], ['172.16.5.4', 2304, 'R1']] as const) {
      assert.equal(hsiphash32(ip(c), 0, 2654435761, 0, 2654435761) % MH_TAB_SIZE, slot);
      assert.equal(name(lk[slot]!), r);
      assert.equal(name(h.pick(c, 40000)), r);
    }
  });
  it('removing R2 changes only 6 slots that did not belong to R2', () => {
    const { h, ds, st } = build([1, 1, 1]);
    const before = st().lookup.slice();
    h.remove(ds[1]!);
    const after = st().lookup;
    let moved = 0;
    for (let i = 0; i < MH_TAB_SIZE; i++) if (before[i] !== ds[1] && before[i] !== after[i]) moved++;
    assert.equal(moved, 6);
    assert.ok(after.every((d) => d !== ds[1]));
  });
  it('weights 2,1,1: counts 2047/1023/1023', () => {
    const { ds, st } = build([2, 1, 1]);
    const lk = st().lookup;
    assert.deepEqual(ds.map((d) => lk.filter((x) => x === d).length), [2047, 1023, 1023]);
  });
  it('more than 4093 dests: the rebuild is refused, the table keeps its contents', () => {
    const h = harness('mh');
    for (let i = 0; i < MH_TAB_SIZE; i++) h.add(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${(i & 255) + 0}`.replace(/^10\.0\.0\.0$/, '10.255.255.254'), 1);
    const before = (h.svc.schedState as MhLookup).lookup.slice();
    h.add('11.0.0.1', 1);
    assert.deepEqual((h.svc.schedState as MhLookup).lookup, before);
  });
});

describe('sh / dh tables (§11, §12)', () => {
  it('sh fill A(1),B(2),C(0) = A B B C ...', () => {
    const h = harness('sh');
    const c = h.add('10.0.0.3', 0), b = h.add('10.0.0.2', 2), a = h.add('10.0.0.1', 1);
    const bk = (h.svc.schedState as { buckets: SchedDest[] }).buckets;
    for (let i = 0; i < 256; i++) assert.equal(bk[i], [a, b, b, c][i % 4]);
  });
  it('dh fill is cyclic, one bucket per dest, weights ignored; empty → all empty', () => {
    const h = harness('dh');
    const bk = () => (h.svc.schedState as { buckets: (SchedDest | null)[] }).buckets;
    assert.ok(bk().every((x) => x === null));
    const c = h.add('10.0.0.3', 0), b = h.add('10.0.0.2', 5), a = h.add('10.0.0.1', 1);
    for (let i = 0; i < 256; i++) assert.equal(bk()[i], [a, b, c][i % 3]);
  });
});

describe('wrr state (§2 history-dependent start)', () => {
  it('A(4) then B(3) then C(2) into an empty service', () => {
    const h = harness('wrr');
    const st = () => h.svc.schedState as { cw: number; mw: number; di: number };
    assert.deepEqual({ ...st(), cl: undefined, idx: undefined }, { cl: undefined, idx: undefined, cw: 0, mw: 0, di: 1 });
    h.add('192.168.0.1', 4);
    assert.deepEqual([st().di, st().mw, st().cw], [4, 1, 1]);
    h.add('192.168.0.2', 3);
    assert.deepEqual([st().di, st().mw, st().cw], [1, 4, 1]);
    h.add('192.168.0.3', 2);
    assert.deepEqual([st().di, st().mw, st().cw], [1, 4, 1]);
  });
  it('cw update rule on edits: cw > mw → mw; gcd > 1 → (cw / di) * di + 1', () => {
    const h = harness('wrr');
    const st = () => h.svc.schedState as { cw: number; mw: number; di: number };
    const a = h.add('192.168.0.1', 1);
    const b = h.add('192.168.0.2', 6);  // di 1, mw 6, cw 1 kept
    assert.deepEqual([st().di, st().mw, st().cw], [1, 6, 1]);
    assert.deepEqual([h.pick(), h.pick(), h.pick()], [b, a, b]); // the third pick restarts at cw = mw = 6
    assert.equal(st().cw, 6);
    h.edit(b, { weight: 12 });          // di 1, mw 12: cw unchanged
    assert.deepEqual([st().di, st().mw, st().cw], [1, 12, 6]);
    h.edit(a, { weight: 4 });           // di 4, mw 9: cw = (6 / 4) * 4 + 1 = 5
    assert.deepEqual([st().di, st().mw, st().cw], [4, 9, 5]);
    h.edit(b, { weight: 2 });           // di 2, mw 3: cw 5 > 3 → 3
    assert.deepEqual([st().di, st().mw, st().cw], [2, 3, 3]);
  });
});

describe('OVERLOAD flag (§0.3): ServiceTable.bindConn / unbindConn', () => {
  it('is set when active+inactive reaches the upper threshold, templates run the test too', () => {
    const h = harness('rr');
    const d = h.add('192.168.0.1', 1, 80, 2, 0);
    h.table.bindConn(d, 'active');
    assert.equal(d.overloaded, false);
    h.table.bindConn(d, 'inactive');
    assert.equal(d.overloaded, true);
    const e = h.add('192.168.0.2', 1, 80, 1, 0);
    e.activeConns = 1;                   // counted elsewhere; a template bind runs the test
    h.table.bindConn(e, 'template');
    assert.equal(e.persistConns, 1);
    assert.equal(e.overloaded, true);
  });
  it('clears by the lower threshold, else below 75% of the upper, else at once', () => {
    const h = harness('rr');
    const l = h.add('192.168.0.1', 1, 80, 4, 2);
    for (let i = 0; i < 4; i++) h.table.bindConn(l, 'active');
    assert.equal(l.overloaded, true);
    h.table.unbindConn(l, 'active'); h.table.unbindConn(l, 'active');
    assert.equal(l.overloaded, true);    // 2 < 2 is false
    h.table.unbindConn(l, 'active');
    assert.equal(l.overloaded, false);
    const u = h.add('192.168.0.2', 1, 80, 4, 0);
    for (let i = 0; i < 4; i++) h.table.bindConn(u, 'active');
    h.table.unbindConn(u, 'active');
    assert.equal(u.overloaded, true);    // 3*4 < 12 is false
    h.table.unbindConn(u, 'active');
    assert.equal(u.overloaded, false);
    const n = h.add('192.168.0.3', 1);
    n.overloaded = true;
    n.activeConns = 5;
    h.table.unbindConn(n, 'active');
    assert.equal(n.overloaded, false);
  });
  it('is cleared by an edit that sets upper to 0 or raises it', () => {
    const h = harness('rr');
    const d = h.add('192.168.0.1', 1, 80, 1, 0);
    h.table.bindConn(d, 'active');
    assert.equal(d.overloaded, true);
    h.edit(d, { weight: 2 });
    assert.equal(d.overloaded, true);
    h.edit(d, { uThreshold: 5 });
    assert.equal(d.overloaded, false);
  });
});

describe('lblc/lblcr cache table GC (§9)', () => {
  it('over-full: trims entries idle for ENTRY_TIMEOUT from rover+1 until the goal is met', () => {
    const t = new LbTable<{ addr: string; bucket: number; lastuse: number }>();
    const n = LB_MAX_SIZE + 30;
    for (let i = 0; i < n; i++) {
      const a = (0x0a000000 + i) >>> 0;
      t.add({ addr: String(a), bucket: LbTable.bucketOf(a), lastuse: 0 });
    }
    t.checkExpire(60_000, 86_400_000);   // (ms) nothing idle for 360 s yet; counter not advanced
    assert.equal(t.entries, n);
    assert.equal(t.counter, 1);
    t.checkExpire(360_000, 86_400_000);
    // goal = 30*4/3 = 40: whole buckets from 1 on are emptied until 40 went
    assert.ok(t.entries <= n - 40 && t.entries > n - 40 - 64, String(n - t.entries));
    assert.ok(t.rover > 0);
  });
  it('full check every 30 ticks while not over-full', () => {
    const t = new LbTable<{ addr: string; bucket: number; lastuse: number }>();
    t.add({ addr: 'x', bucket: 0, lastuse: 0 });
    for (let k = 1; k < 30; k++) t.checkExpire(60_000 * k, 100_000);   // ms
    assert.equal(t.entries, 1);
    t.checkExpire(1_800_000, 100_000);
    assert.equal(t.entries, 0);
    assert.equal(t.counter, 1);
  });
});

describe('scheduler log lines (§0.5)', () => {
  const svc = (o: Partial<SchedService>): SchedService => ({ family: 'inet', protocol: 'udp', addr: '10.0.0.1', port: 53, fwmark: 0, flags: 0, dests: [], ...o });
  const text = (s: SchedService, msg = 'no destination available') => {
    const out: string[] = [];
    schedulerErr(s, 'wlc', msg, { now: () => 0, randomU32: () => 0, log: (m) => out.push(m) });
    return out[0];
  };
  it('IPv4, IPv6, fwmark', () => {
    assert.equal(text(svc({})), 'IPVS: wlc: UDP 10.0.0.1:53 - no destination available');
    assert.equal(text(svc({ family: 'inet6', protocol: 'tcp', addr: '2001:db8::1', port: 80 })), 'IPVS: wlc: TCP [2001:db8::1]:80 - no destination available');
    assert.equal(text(svc({ fwmark: 300 })), 'IPVS: wlc: FWM 300 0x0000012C - no destination available');
  });
});

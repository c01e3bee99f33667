// Property tests (fast-check) over the schedulers (shared/spec/schedulers.md).

import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { SVC_F_SCHED1 } from '../core/model/types.js';
import type { Dest } from '../core/model/table.js';
import { harness } from './fixtures/sched/harness.js';
import { gcd } from '../plugins/schedulers/lib/hash.js';

const ALL = ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'fo', 'ovf', 'lblc', 'lblcr', 'dh', 'sh', 'mh', 'twos'];

describe('scheduler properties', () => {
  it('wrr: over one full cycle each dest is served exactly weight/gcd times (§2)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 8 }), (ws) => {
      fc.pre(ws.some((w) => w > 0));
      const h = harness('rr');
      const ds = ws.map((w, i) => h.add(`192.168.0.${i + 1}`, w));
      // (re)initialise wrr with the dests present: cursor at head, cw = mw.
      const r = h.table.editService({ ...h.svc.spec, scheduler: 'wrr' });
      assert.ok(r.ok);
      const g = ws.filter((w) => w > 0).reduce((a, b) => gcd(a, b));
      const cycle = ws.reduce((a, b) => a + b, 0) / g;
      for (let rep = 0; rep < 2; rep++) {
        const count = new Map<Dest, number>();
        for (let i = 0; i < cycle; i++) {
          const d = h.pick()!;
          count.set(d, (count.get(d) ?? 0) + 1);
        }
        ds.forEach((d, i) => assert.equal(count.get(d) ?? 0, ws[i]! / g));
      }
    }));
  });

  for (const name of ['sh', 'dh', 'mh']) {
    it(`${name}: the same key always gets the same dest, whatever the load`, () => {
      fc.assert(fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 10 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 65535 })), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 0, max: 100 }),
        (ws, keys, load) => {
          const h = harness(name);
          const ds = ws.map((w, i) => h.add(`10.9.${i >> 8}.${i & 255}`, w));
          const addr = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
          for (const [a, p] of keys) {
            const first = name === 'dh' ? h.pick('203.0.113.1', 1, addr(a)) : h.pick(addr(a), p);
            ds.forEach((d, i) => { d.activeConns = (load * (i + 1)) % 17; d.inactConns = load; });
            const again = name === 'dh' ? h.pick('198.51.100.9', 2, addr(a)) : h.pick(addr(a), p);
            assert.equal(again, first);
            assert.ok(first !== null); // every weight > 0 here
          }
        }), { numRuns: 60 });
    });
  }

  it('mh: removing one of N dests moves the victim’s keys and few others (Maglev minimal disruption)', () => {
    // The kernel's table (fixed hash keys, 4093 slots) is near-minimal on average, not for every address set:
    // over 7 088 address sets swept, 0.2 % moved more than 5 % of the other keys, the worst 16 % (10.94.159.1-5
    // losing .1). A reshuffle moves ~(1 − 1/N) of them. So: a loose bound per case, a tight one on the mean.
    const needlessAll: number[] = [];
    fc.assert(fc.property(fc.integer({ min: 3, max: 12 }), fc.nat(), fc.integer({ min: 0, max: 0xffff }), (n, victimSeed, base) => {
      const h = harness('mh');
      const ds = Array.from({ length: n }, (_, i) => h.add(`10.${(base >> 8) & 255}.${base & 255}.${i + 1}`, 1));
      const clients = Array.from({ length: 3000 }, (_, i) => `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
      const before = clients.map((c) => h.pick(c, 1));
      const victim = ds[victimSeed % n]!;
      h.remove(victim);
      const after = clients.map((c) => h.pick(c, 1));
      let moved = 0, needless = 0;
      for (let i = 0; i < clients.length; i++) {
        if (before[i] !== after[i]) { moved++; if (before[i] !== victim) needless++; }
        assert.notEqual(after[i], victim);
      }
      const victimShare = before.filter((d) => d === victim).length / clients.length;
      assert.ok(Math.abs(victimShare - 1 / n) < 0.05, `the victim had ${victimShare} of the keys, 1/N = ${1 / n}`);
      assert.ok(needless / clients.length < 0.25, `needless moves ${needless} of ${clients.length}`);
      needlessAll.push(needless / clients.length);
    }), { numRuns: 25 });
    const mean = needlessAll.reduce((a, b) => a + b, 0) / needlessAll.length;
    assert.ok(mean < 0.03, `on average ${mean} of the other keys moved`);
  });

  // A random life of a service: adds, removes, edits, counters, OVERLOAD, binds and releases.
  type Op =
    | { k: 'pick'; client: number; vip: number; bind: 0 | 1 | 2 }
    | { k: 'weight'; i: number; w: number }
    | { k: 'thr'; i: number; u: number }
    | { k: 'load'; i: number; a: number; n: number }
    | { k: 'ovl'; i: number; v: boolean }
    | { k: 'release'; i: number }
    | { k: 'add'; i: number; w: number }
    | { k: 'del'; i: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ k: fc.constant('pick' as const), client: fc.integer({ min: 0, max: 40 }), vip: fc.integer({ min: 0, max: 3 }), bind: fc.constantFrom(0 as const, 1 as const, 2 as const) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('weight' as const), i: fc.nat(), w: fc.integer({ min: 0, max: 4 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('thr' as const), i: fc.nat(), u: fc.integer({ min: 0, max: 4 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('load' as const), i: fc.nat(), a: fc.integer({ min: 0, max: 6 }), n: fc.integer({ min: 0, max: 6 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('ovl' as const), i: fc.nat(), v: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('release' as const), i: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('add' as const), i: fc.integer({ min: 0, max: 9 }), w: fc.integer({ min: 0, max: 4 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('del' as const), i: fc.nat() }) },
  );

  for (const name of ALL) {
    it(`${name}: never picks a weight-0, OVERLOAD or unlinked dest for a new connection${name === 'lblc' ? ' (except OVERLOAD on a cache hit, §9)' : ''}`, () => {
      fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 6 }), fc.array(opArb, { maxLength: 60 }), fc.boolean(), (ws, ops, fallback) => {
        const h = harness(name, { flags: fallback && (name === 'sh' || name === 'mh') ? SVC_F_SCHED1 : 0 });
        const live: Dest[] = [];
        ws.forEach((w, i) => live.unshift(h.add(`192.168.1.${i}`, w)));
        const lastByVip = new Map<number, Dest>();   // lblc: the cache entry is always the last dest given for a VIP
        for (const op of ops) {
          const at = (i: number) => live[i % live.length];
          switch (op.k) {
            case 'pick': {
              const d = h.pick(`203.0.113.${op.client}`, 40000 + op.client, `10.0.0.${op.vip + 1}`);
              if (d === null) break;
              assert.ok(d.available && live.includes(d), 'unlinked dest');
              assert.ok(d.weight > 0, `weight-0 dest ${d.addr}`);
              if (d.overloaded) assert.ok(name === 'lblc' && lastByVip.get(op.vip) === d, `OVERLOAD dest ${d.addr}`);
              lastByVip.set(op.vip, d);
              if (op.bind !== 0) h.table.bindConn(d, op.bind === 1 ? 'active' : 'inactive');
              break;
            }
            case 'weight': { const d = at(op.i); if (d) h.edit(d, { weight: op.w }); break; }
            case 'thr': { const d = at(op.i); if (d) h.edit(d, { uThreshold: op.u, lThreshold: 0 }); break; }
            case 'load': { const d = at(op.i); if (d) { d.activeConns = op.a; d.inactConns = op.n; } break; }
            case 'ovl': { const d = at(op.i); if (d) d.overloaded = op.v; break; }
            case 'release': {
              const d = at(op.i);
              if (d && d.activeConns > 0) h.table.unbindConn(d, 'active');
              else if (d && d.inactConns > 0) h.table.unbindConn(d, 'inactive');
              break;
            }
            case 'add': {
              const addr = `192.168.1.${op.i}`;
              if (live.some((d) => d.addr === addr)) break;
              live.unshift(h.add(addr, op.w));
              break;
            }
            case 'del': {
              const d = at(op.i);
              if (d) { h.remove(d); live.splice(live.indexOf(d), 1); }
              break;
            }
          }
          assert.deepEqual(h.svc.dests, live); // the table's order is the spec's (newest first)
        }
      }), { numRuns: 150 });
    });
  }
});

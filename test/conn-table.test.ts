// The connection table as a data structure: churn against a Map model, the
// hard bound, the timer wheel against a naive model under virtual time.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConnTable, type ConnDests } from '../core/conn/table.js';
import { CF_MASQ, CF_TEMPLATE, DIR_INPUT } from '../core/conn/states.js';

const noDests: ConnDests = { move() {}, available: () => true, weight: () => 1 };

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

/** A key drawn from a small space so that inserts and deletes collide. */
interface K { proto: number; c: number; cp: number; v: number; vp: number; d: number; dp: number }
const keyText = (k: K): string => `${k.proto}/${k.c}:${k.cp}/${k.v}:${k.vp}`;

describe('conn table: structure', () => {
  it('insert / delete / lookup against a Map model; equal out keys find the newest entry (fast-check, growth from 16 entries)', () => {
    const keyArb = fc.record({
      proto: fc.constantFrom(6, 17), c: fc.integer({ min: 0, max: 7 }), cp: fc.integer({ min: 1, max: 6 }),
      v: fc.constantFrom(0x0a630401, 0x0a630402), vp: fc.constantFrom(80, 443), d: fc.integer({ min: 0, max: 3 }), dp: fc.constantFrom(80, 8080),
    });
    const opArb = fc.tuple(fc.constantFrom('add', 'del', 'find'), keyArb);
    fc.assert(fc.property(fc.array(opArb, { minLength: 50, maxLength: 400 }), (ops) => {
      const t = new ConnTable({ maxConns: 10_000, initialCapacity: 16, seed: 7 }, noDests);
      const model = new Map<string, { e: number; k: K; seq: number }>();
      let seq = 0;
      // the newest entry with this out key: what a NAT reply must find (the kernel's hlist_add_head order)
      const newestOut = (k: K): number => {
        let best: { e: number; seq: number } | null = null;
        for (const x of model.values()) {
          if (x.k.proto === k.proto && x.k.d === k.d && x.k.dp === k.dp && x.k.c === k.c && x.k.cp === k.cp && (!best || x.seq > best.seq)) best = x;
        }
        return best ? best.e : -1;
      };
      for (const [op, k] of ops) {
        const kt = keyText(k);
        if (op === 'add') {
          if (model.has(kt)) continue;
          const e = t.create4(k.proto, k.c, k.cp, k.v, k.vp, k.d, k.dp, CF_MASQ, -1, 0);
          assert.ok(e >= 0);
          model.set(kt, { e, k, seq: seq++ });
        } else if (op === 'del') {
          const m = model.get(kt);
          if (!m) continue;
          t.del(m.e);
          model.delete(kt);
        } else {
          const m = model.get(kt);
          assert.equal(t.lookupIn4(k.proto, k.c, k.cp, k.v, k.vp), m ? m.e : -1);
          assert.equal(t.lookupOut4(k.proto, k.d, k.dp, k.c, k.cp), newestOut(k));
        }
      }
      assert.equal(t.count, model.size);
      for (const { e, k } of model.values()) {
        assert.equal(t.lookupIn4(k.proto, k.c, k.cp, k.v, k.vp), e);
        assert.equal(t.lookupOut4(k.proto, k.d, k.dp, k.c, k.cp), newestOut(k));
      }
      assert.equal([...t.views()].length, model.size);
    }), { numRuns: 300 });
  });

  it('1,000,000 random inserts and deletes agree with a Map; every survivor found, every deleted one gone', function () {
    this.timeout(60000);
    const next = rng(12345);
    const t = new ConnTable({ maxConns: 1 << 20, initialCapacity: 1024, seed: 3 }, noDests);
    const model = new Map<number, number>(); // key id → entry
    const SPACE = 300_000;
    const fields = (id: number): [number, number, number, number] => [(0x0a000000 + (id >>> 4)) >>> 0, 1024 + (id & 15), 0x0a630401, 80];
    let lookups = 0;
    for (let i = 0; i < 1_000_000; i++) {
      const id = next() % SPACE;
      const [c, cp, v, vp] = fields(id);
      const e = model.get(id);
      const r = next() & 3;
      if (r === 0 && e !== undefined) { t.del(e); model.delete(id); }
      else if (r === 1 && e === undefined) {
        const n = t.create4(6, c, cp, v, vp, 0x0aca0009, 80, CF_MASQ, -1, 0);
        model.set(id, n);
      } else {
        lookups++;
        const f = t.lookupIn4(6, c, cp, v, vp);
        if (f !== (e ?? -1)) assert.fail(`lookup ${id}: ${f} vs ${e}`);
      }
    }
    assert.equal(t.count, model.size);
    for (const [id, e] of model) {
      const [c, cp, v, vp] = fields(id);
      if (t.lookupIn4(6, c, cp, v, vp) !== e) assert.fail(`survivor ${id}`);
      if (t.lookupOut4(6, 0x0aca0009, 80, c, cp) !== e) assert.fail(`survivor out ${id}`);
    }
    assert.ok(lookups > 400_000);
  });

  it('the hard bound: creations beyond maxConns fail and are counted', () => {
    const t = new ConnTable({ maxConns: 100, initialCapacity: 16, seed: 1 }, noDests);
    let ok = 0;
    for (let i = 0; i < 150; i++) if (t.create4(17, i, 1000, 1, 53, 2, 53, CF_MASQ, -1, 0) >= 0) ok++;
    assert.equal(ok, 100);
    assert.equal(t.count, 100);
    assert.equal(t.s.fullDrops, 50);
    assert.equal(t.s.cap, 100);
    // freeing makes room again
    t.del(t.lookupIn4(17, 5, 1000, 1, 53));
    assert.ok(t.create4(17, 999, 1000, 1, 53, 2, 53, CF_MASQ, -1, 0) >= 0);
    assert.equal(t.s.fullDrops, 50);
  });

  it('templates and connections with the same addresses do not shadow each other', () => {
    const t = new ConnTable({ maxConns: 100, seed: 1 }, noDests);
    const ct = t.create4(6, 1, 0, 2, 80, 3, 80, CF_MASQ | CF_TEMPLATE, -1, 0, 1000);
    assert.equal(t.lookupIn4(6, 1, 0, 2, 80), -1);
    assert.equal(t.lookupTemplate4(6, 1, 2, 80), ct);
    const c = t.create4(6, 1, 5, 2, 80, 3, 80, CF_MASQ, -1, 0);
    assert.equal(t.lookupTemplate4(6, 1, 2, 80), ct);
    assert.equal(t.lookupIn4(6, 1, 5, 2, 80), c);
    assert.equal(t.lookupOut4(6, 3, 80, 1, 0), -1); // templates are not in the reply index
  });

  for (const tickMs of [1, 100]) {
    it(`timer wheel vs a naive model under virtual time (tick ${tickMs} ms, far jumps included)`, () => {
      fc.assert(fc.property(
        fc.array(fc.tuple(fc.constantFrom('new', 'pkt', 'adv', 'jump'), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 5000 })), { maxLength: 200 }),
        (ops) => {
          // small wheel so that rounds wrap
          const t = new ConnTable({ maxConns: 1000, seed: 9, tickMs, wheelSlots: 64 }, noDests);
          t.timeouts.set(3, 0, 2); // ESTABLISHED 3 s, UDP 2 s
          const live = new Map<number, { e: number; expires: number }>();
          let port = 1;
          for (const [op, which, ms] of ops) {
            if (op === 'new') {
              const p = port++;
              const e = t.create4(17, 1, p, 2, 53, 3, 53, CF_MASQ, -1, 0);
              live.set(p, { e, expires: t.now + 3000 });
            } else if (op === 'pkt') {
              const k = [...live.keys()][which % Math.max(1, live.size)];
              if (k === undefined) continue;
              const m = live.get(k)!;
              t.update(m.e, DIR_INPUT, 0); // UDP: re-armed to now + 2 s (may be earlier than before)
              m.expires = t.now + 2000;
            } else {
              const to = t.now + (op === 'jump' ? ms * 100 : ms);
              t.advance(to);
              // never early; at most one tick late: gone only once now >= E, and surely
              // gone at the first advance with now >= ceil(E/T)*T (a re-armed entry
              // still in an earlier slot may go at E itself, which is not early)
              for (const [k, m] of live) {
                const fireAt = Math.ceil(m.expires / tickMs) * tickMs;
                const gone = t.s.af[m.e] === 0;
                if (gone) assert.ok(to >= m.expires, `port ${k} expired early: expires ${m.expires} now ${to}`);
                if (to >= fireAt) assert.ok(gone, `port ${k} expired late: expires ${m.expires} now ${to}`);
                if (gone) live.delete(k);
              }
            }
          }
          assert.equal(t.count, live.size);
        }), { numRuns: 300 });
    });
  }

  it('IPv6 churn: side-table slots are recycled, lookups stay exact', () => {
    const t = new ConnTable({ maxConns: 5000, initialCapacity: 16, seed: 5 }, noDests);
    const s = t.s;
    const live = new Map<number, number>();
    const next = rng(99);
    const setKey = (id: number): void => {
      s.ca[0] = 0x20010db8; s.ca[1] = 0; s.ca[2] = id >>> 8; s.ca[3] = id & 255;
      s.va[0] = 0x20010db8; s.va[1] = 0x99; s.va[2] = 0; s.va[3] = 1;
      s.da[0] = 0x20010db8; s.da[1] = 0x202; s.da[2] = 0; s.da[3] = id & 7;
    };
    for (let i = 0; i < 50_000; i++) {
      const id = next() % 3000;
      setKey(id);
      const e = live.get(id);
      if (e === undefined) { live.set(id, t.create6(6, 1000 + (id & 3), 80, 80, CF_MASQ, -1, 0)); }
      else if (next() & 1) { t.del(e); live.delete(id); }
      else { setKey(id); assert.equal(t.lookupIn6(6, 1000 + (id & 3), 80), e); }
    }
    for (const [id, e] of live) {
      setKey(id);
      assert.equal(t.lookupIn6(6, 1000 + (id & 3), 80), e);
      assert.equal(t.lookupOut6(6, 80, 1000 + (id & 3)), e);
    }
    assert.ok(s.v6.length / 12 <= 4096, `v6 side table ${s.v6.length / 12} slots`);
  });
});

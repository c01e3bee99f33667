// The least-connection family keeps incremental indexes (lib/minindex.ts,
// WlcTracker) instead of scanning; these properties check that every decision
// is the one the kernel's O(n) scan makes (written out here as reference code,
// straight from ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c, ip_vs_fo.c,
// ip_vs_ovf.c and ip_vs_lblc.c), through random lives of a service.

import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { Dest } from '../core/model/table.js';
import type { SchedDest, SchedService } from '../core/plugin.js';
import { WlcTracker } from '../plugins/schedulers/lib/wlc.js';
import { harness } from './fixtures/sched/harness.js';

const oh = (d: SchedDest) => ((d.activeConns << 8) + d.inactConns) | 0;
const gt = (a: number, b: number, c: number, d: number) => BigInt(a) * BigInt(b) > BigInt(c) * BigInt(d);

function twoStage(ds: readonly SchedDest[], load: (d: SchedDest) => number): SchedDest | null {
  let i = 0;
  let least: SchedDest | null = null;
  for (; i < ds.length; i++) if (!ds[i]!.overloaded && ds[i]!.weight > 0) { least = ds[i]!; break; }
  if (!least) return null;
  let loh = load(least);
  for (i++; i < ds.length; i++) {
    const d = ds[i]!;
    if (d.overloaded) continue;
    if (gt(loh, d.weight, load(d), least.weight)) { least = d; loh = load(d); }
  }
  return least;
}

const REF: Record<string, (ds: readonly SchedDest[]) => SchedDest | null> = {
  lc: (ds) => {
    let l: SchedDest | null = null;
    for (const d of ds) if (!d.overloaded && d.weight !== 0 && (!l || oh(d) < oh(l))) l = d;
    return l;
  },
  wlc: (ds) => twoStage(ds, oh),
  sed: (ds) => twoStage(ds, (d) => d.activeConns + 1),
  nq: (ds) => {
    let l: SchedDest | null = null;
    for (const d of ds) {
      if (d.overloaded || d.weight === 0) continue;
      if (d.activeConns === 0) return d;
      if (!l || gt(l.activeConns + 1, d.weight, d.activeConns + 1, l.weight)) l = d;
    }
    return l;
  },
  fo: (ds) => {
    let b: SchedDest | null = null;
    let hw = 0;
    for (const d of ds) if (!d.overloaded && d.weight > hw) { b = d; hw = d.weight; }
    return b;
  },
  ovf: (ds) => {
    let h: SchedDest | null = null;
    for (const d of ds) {
      if (d.overloaded || d.activeConns > d.weight || d.weight === 0) continue;
      if (!h || d.weight > h.weight) h = d;
    }
    return h;
  },
};

type Op = { k: number; i: number; a: number; b: number; big: boolean };
const opArb = fc.record({ k: fc.integer({ min: 0, max: 7 }), i: fc.nat(), a: fc.integer({ min: 0, max: 9 }), b: fc.integer({ min: 0, max: 9 }), big: fc.boolean() });

/** Applies one random change to the service: counters, weights, thresholds, OVERLOAD, add, delete. */
function apply(h: ReturnType<typeof harness>, live: Dest[], op: Op): void {
  const d = live.length ? live[op.i % live.length]! : undefined;
  switch (op.k) {
    case 0: if (d) h.table.bindConn(d, op.a & 1 ? 'inactive' : 'active'); break;
    case 1: if (d && d.activeConns > 0) h.table.unbindConn(d, 'active'); break;
    case 2: if (d) { d.activeConns = op.big && op.a === 9 ? (1 << 23) + op.b : op.a; d.inactConns = op.b * 3; } break;
    case 3: if (d) h.edit(d, { weight: op.big ? 0x7fffffff - op.a : op.a }); break;
    case 4: if (d) h.edit(d, { uThreshold: op.a, lThreshold: 0 }); break;
    case 5: if (d) d.overloaded = !d.overloaded; break;
    case 6: {
      const addr = `192.168.2.${op.a * 10 + op.b}`;
      if (!live.some((x) => x.addr === addr)) live.unshift(h.add(addr, op.big ? 1000000 + op.a : op.a));
      break;
    }
    case 7: if (d) { h.remove(d); live.splice(live.indexOf(d), 1); } break;
  }
}

describe('least-connection indexes decide exactly as the kernel scan', () => {
  for (const name of Object.keys(REF)) {
    it(name, () => {
      fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 12 }), fc.array(opArb, { maxLength: 80 }), (ws, ops) => {
        const h = harness(name);
        const live: Dest[] = [];
        ws.forEach((w, i) => live.unshift(h.add(`192.168.1.${i}`, w)));
        for (const op of ops) {
          apply(h, live, op);
          assert.equal(h.pick(), REF[name]!(h.svc.dests));
        }
      }), { numRuns: 200 });
    });
  }
  it('lblc/lblcr WlcTracker: wlc pick and the 2*weight test', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 12 }), fc.array(opArb, { maxLength: 80 }), (ws, ops) => {
      const h = harness('wlc');
      const t = new WlcTracker();
      const svc = h.svc as SchedService;
      // Feed the tracker the same hooks the table gives lblc/lblcr.
      const sched = h.svc.sched!;
      h.svc.sched = { ...sched, addDest: () => t.rebuild(svc.dests), delDest: () => t.rebuild(svc.dests), updDest: (_s, _st, d) => t.update(d), destLoad: (_s, _st, d) => t.update(d) };
      const live: Dest[] = [];
      ws.forEach((w, i) => live.unshift(h.add(`192.168.1.${i}`, w)));
      t.rebuild(svc.dests);
      const refOver = (dest: SchedDest) => dest.activeConns > dest.weight && svc.dests.some((d) => d.activeConns * 2 < d.weight);
      for (const op of ops) {
        apply(h, live, op);
        assert.equal(t.pick(svc), REF['wlc']!(svc.dests));
        for (const d of svc.dests) assert.equal(t.overloaded(d, svc), refOver(d));
      }
    }), { numRuns: 200 });
  });
});

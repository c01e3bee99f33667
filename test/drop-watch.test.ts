// The drop watch (core/engine/drop-watch.ts) on a fake clock: what it logs
// when a drop reason starts to climb, what it leaves alone, and how often.

import { strict as assert } from 'node:assert';
import { DropWatch, counterPolicy, span, summedCounters, type DropNotice } from '../core/engine/drop-watch.js';
import { dropsView, type PlaneCounters } from '../core/engine/dataplane.js';

/** A watch started at 0 and a clock that moves one second per look, with running totals. */
function harness() {
  const w = new DropWatch(0);
  let now = 0;
  const drops: Record<string, number> = {}, io: Record<string, number> = {};
  /** `secs` looks, one second apart, each adding `add` (drop reasons `x`, I/O counters `io:x`). */
  const tick = (add: Record<string, number> = {}, secs = 1): DropNotice[] => {
    const out: DropNotice[] = [];
    for (let i = 0; i < secs; i++) {
      now += 1000;
      for (const [k, v] of Object.entries(add)) {
        if (k.startsWith('io:')) io[k.slice(3)] = (io[k.slice(3)] ?? 0) + v;
        else drops[k] = (drops[k] ?? 0) + v;
      }
      out.push(...w.observe(now, { drops: { ...drops }, io: { ...io } }));
    }
    return out;
  };
  return { tick, get now() { return now; } };
}

const brief = (ns: DropNotice[]): string[] => ns.map((n) => `${n.level} ${n.text}`);

describe('drop watch: a drop reason that starts to climb is logged', () => {
  it('the first occurrence: one warning naming the reason, the increase, the interval and what it usually means', () => {
    const h = harness();
    assert.deepEqual(h.tick({ 'io:rx': 5000, 'io:tx': 4800 }), [], 'frames received and sent are not losses');
    const n = h.tick({ 'io:oversize': 189 });
    assert.deepEqual(brief(n), ['warn data plane: oversize +189 in 1.0 s (first since lvsd started; 189 in all): '
      + "frames above 64 KiB (a BIG TCP aggregate?), or cut in their ring slot with no copy queued: the socket's receive buffer was full"]);
    assert.equal(n[0]!.kind, 'io');
    const r = h.tick({ 'io:ring-drops': 3 });
    assert.match(r[0]!.text, /^data plane: ring-drops \+3 in 1\.0 s .*more `workers`\?\)$/);
    assert.deepEqual(brief(h.tick({ 'no-dest': 2 })).map((l) => l.replace(/\).*/, ')')),
      ['warn data plane: no-dest +2 in 1.0 s (first since lvsd started; 2 in all)']);
  });

  it('normal background (no service, other hosts\' MACs, non-IP) is never logged, however fast', () => {
    const h = harness();
    assert.deepEqual(h.tick({ 'no-service': 100_000, 'not-host': 50_000, 'not-ip': 10, 'arp': 7 }, 120), []);
    assert.deepEqual(h.tick({ 'no-service': 10_000_000 }, 3), []);
  });

  it('levels: losses warn, malformed frames and expired connections inform, ICMP oddities are debug', () => {
    const h = harness();
    const levels = Object.fromEntries(h.tick({ 'no-conn': 1, 'ip-csum': 1, 'icmp-no-conn': 1, 'internal': 1, 'neighbour-unresolved': 1, 'io:tx-errors': 1 })
      .map((n) => [n.name, n.level]));
    assert.deepEqual(levels, { 'no-conn': 'info', 'ip-csum': 'info', 'icmp-no-conn': 'debug', 'internal': 'warn', 'neighbour-unresolved': 'warn', 'tx-errors': 'warn' });
  });

  it('names it does not know: a drop reason warns, an I/O counter (more often a throughput figure) is debug', () => {
    assert.equal(counterPolicy('drop', 'some-new-reason').level, 'warn');
    assert.equal(counterPolicy('io', 'rx-vnet-hdr').level, 'debug');
    const h = harness();
    assert.deepEqual(h.tick({ 'some-new-reason': 4, 'io:rx-vnet-hdr': 900 }).map((n) => `${n.kind} ${n.name} ${n.level}`),
      ['drop some-new-reason warn', 'io rx-vnet-hdr debug']);
  });

  it('at most one line per reason per minute: a climb seen meanwhile is told once the minute is over, with all it added', () => {
    const h = harness();
    assert.equal(h.tick({ 'io:oversize': 1 }).length, 1);                     // t=1 s: first
    assert.deepEqual(h.tick({}, 8), []);
    assert.deepEqual(h.tick({ 'io:oversize': 5000 }), [], 'held: a line was written 9 s ago');   // t=10 s
    assert.deepEqual(h.tick({ 'io:oversize': 100 }, 50), []);                 // t=11..60 s
    const later = h.tick({}, 1);                                              // t=61 s
    assert.deepEqual(brief(later), ['warn data plane: oversize +10000 in 52 s (about 0.0078/s before; 10001 in all): '
      + "frames above 64 KiB (a BIG TCP aggregate?), or cut in their ring slot with no copy queued: the socket's receive buffer was full"]);
    assert.deepEqual(h.tick({}, 120), [], 'its lines told everything: no summary');
  });

  it('a steady rate becomes the baseline: a trickle is no climb, a jump well above it is', () => {
    const h = harness();
    assert.equal(h.tick({ 'no-dest': 2 }).length, 1);
    assert.deepEqual(h.tick({ 'no-dest': 2 }, 300), [], '2/s for 5 minutes: never 10 above what the rate predicts');
    const jump = h.tick({ 'no-dest': 400 });
    assert.equal(jump.length, 1);
    assert.match(jump[0]!.text, /^data plane: no-dest \+400 in 1\.0 s \(about 1\.8\/s before; 1002 in all\)/);
    // sustained at 400/s: once it is the recent rate, no more lines
    const sustained = h.tick({ 'no-dest': 400 }, 600);
    assert.ok(sustained.length <= 2, brief(sustained).join('\n'));
    assert.deepEqual(h.tick({ 'no-dest': 400 }, 60), []);
  });

  it('when a climb calms down, one summary line (info) if more was dropped than its lines told', () => {
    const h = harness();
    assert.equal(h.tick({ 'fwd-mtu': 20 }).length, 1);           // t=1 s, +20 told
    assert.deepEqual(h.tick({ 'fwd-mtu': 3 }, 20), []);          // +60 more, never a climb
    assert.deepEqual(h.tick({}, 59), []);
    assert.deepEqual(brief(h.tick({}, 1)), ['info data plane: fwd-mtu calmer, no increase for 1m00s: +80 in all over 21 s']);
    assert.deepEqual(h.tick({}, 600), []);
  });

  it('an increase after ten quiet minutes is a first occurrence again; counters that restart are taken from there', () => {
    const h = harness();
    assert.equal(h.tick({ 'tx-full': 1 }).length, 1);
    assert.deepEqual(h.tick({}, 600), []);
    assert.deepEqual(brief(h.tick({ 'tx-full': 1 })).map((l) => l.replace(/:.*?\(/, ' (').replace(/\).*/, ')')),
      ['warn data plane (first in 10m01s; 2 in all)']);
    const w = new DropWatch(0);
    assert.equal(w.observe(1000, { drops: { 'no-dest': 50 }, io: {} }).length, 1);
    assert.deepEqual(w.observe(2000, { drops: { 'no-dest': 3 }, io: {} }), [], 'fewer than before: no negative increase');
    assert.deepEqual(w.observe(1500, { drops: { 'no-dest': 900 }, io: {} }), [], 'a clock that went back is ignored');
  });

  it('durations read as an operator would write them', () => {
    assert.deepEqual([800, 9_960, 42_000, 185_000, 7_800_000].map(span), ['0.8 s', '10.0 s', '42 s', '3m05s', '2h10m']);
  });
});

describe('drop counters: sums and the listing\'s order', () => {
  const plane: PlaneCounters = {
    kind: 'afpacket', ms: 3_725_400,
    replicas: [
      { id: 0, drops: { 'neighbour-unresolved': 2, 'no-service': 10, 'zz-new': 1, 'ip-csum': 1 }, io: { rx: 100, tx: 90, 'tx-errors': 0, oversize: 7, 'ring-drops': 0 } },
      { id: 1, drops: { 'no-service': 5, 'no-dest': 3 }, io: { rx: 50, tx: 45, 'tx-errors': 1, oversize: 0, 'rx-gro': 4, 'ring-drops': 2 } },
    ],
  };

  it('engine reasons in the registry\'s order (unknown ones last), then every I/O counter in the I/O\'s order; summed', () => {
    const v = dropsView(plane, false);
    assert.deepEqual(v.workers, [0, 1]);
    assert.equal(v.seconds, 3725);
    assert.deepEqual(v.counters.map((c) => `${c.kind} ${c.name} ${c.count}`), [
      'drop ip-csum 1', 'drop no-service 15', 'drop no-dest 3', 'drop neighbour-unresolved 2', 'drop zz-new 1',
      'io rx 150', 'io tx 135', 'io tx-errors 1', 'io oversize 7', 'io ring-drops 2', 'io rx-gro 4',
    ]);
    assert.equal(v.counters[0]!.workers, undefined);
    assert.deepEqual(dropsView(plane, true).counters.find((c) => c.name === 'no-service')!.workers, [10, 5]);
    assert.deepEqual(summedCounters(plane), {
      drops: { 'neighbour-unresolved': 2, 'no-service': 15, 'zz-new': 1, 'ip-csum': 1, 'no-dest': 3 },
      io: { rx: 150, tx: 135, 'tx-errors': 1, oversize: 7, 'ring-drops': 2, 'rx-gro': 4 },
    });
  });
});

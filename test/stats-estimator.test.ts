// The rate estimator (connections.md §12) against the spec's worked example,
// driven by a virtual clock: directly, and through the engine's 2-second tick.
// A stats object created after the engine started is estimated from zero, as
// the kernel starts its estimator when the service / real server is added.

import { strict as assert } from 'node:assert';
import { Estimator, EST_INTERVAL_MS } from '../core/stats/estimator.js';
import { Counters } from '../core/model/table.js';
import { buildFrame } from '../core/packet/build.js';
import { Lab, RS1, destSpec } from './engine-harness.js';

describe('stats: rate estimator (connections.md §12)', () => {
  it('constant 100 new conns/s from zero: internal 25600, 44800, 59200, 70000; shown 25, 44, 58, 68 → 100', () => {
    const est = new Estimator();
    const c = new Counters();
    est.step(c);                       // start: last_* = 0
    const internal: number[] = [];
    const shown: number[] = [];
    for (let tick = 0; tick < 40; tick++) {
      c.conns += 200;                  // 100/s over the 2-s period
      est.step(c);
      internal.push(est.scaled(c)[0]!);
      shown.push(c.cps);
    }
    assert.deepEqual(internal.slice(0, 4), [25600, 44800, 59200, 70000]);
    assert.deepEqual(shown.slice(0, 4), [25, 44, 58, 68]);
    assert.equal(shown[39], 100);
  });

  it('packets ×2^10 and bytes ×2^5 with the same EWMA; displayed values rounded to nearest', () => {
    const est = new Estimator();
    const c = new Counters();
    est.step(c);
    c.inpkts += 2000; c.outpkts += 1000; c.inbytes += 2_000_000; c.outbytes += 3;
    est.step(c);
    // rate = d << 9 / d << 4, one quarter of it after the first tick
    assert.deepEqual(est.scaled(c), [0, 2000 * 512 / 4, 1000 * 512 / 4, 2_000_000 * 16 / 4, Math.floor(3 * 16 / 4)]);
    assert.deepEqual([c.inpps, c.outpps, c.inbps, c.outbps], [250, 125, 250000, 0]); // (12+15)>>5 = 0
    est.step(c);                       // no traffic: decays by a quarter, floor on a signed shift
    assert.deepEqual(est.scaled(c), [0, 256000 - 64000, 128000 - 32000, 8_000_000 - 2_000_000, 12 + Math.floor(-12 / 4)]);
  });

  it('-Z: totals and shown rates zeroed restart the estimator from the new totals with rates 0', () => {
    const est = new Estimator();
    const c = new Counters();
    est.step(c);
    for (let i = 0; i < 5; i++) { c.conns += 200; est.step(c); }
    assert.ok(c.cps > 0);
    c.zero();
    est.step(c);
    assert.deepEqual(est.scaled(c), [0, 0, 0, 0, 0]);
    assert.equal(c.cps, 0);
    c.conns += 200;
    est.step(c);
    assert.equal(est.scaled(c)[0], 25600);
  });

  it('-Z then traffic before the next tick: that traffic is the first difference (the baseline is the zeroed totals)', () => {
    const est = new Estimator();
    const c = new Counters();
    est.step(c);
    for (let i = 0; i < 5; i++) { c.conns += 200; c.inpkts += 1000; est.step(c); }
    c.zero();
    c.conns += 20; c.inpkts += 100;    // counted after -Z, before the tick
    est.step(c);
    assert.deepEqual(est.scaled(c).slice(0, 2), [20 * 512 / 4, 100 * 512 / 4]);
    assert.deepEqual([c.cps, c.inpps], [2, 12]);   // (2560+511)>>10, (12800+511)>>10
  });

  it('-Z seen by epoch: traffic after it that outgrows the old totals, with shown rates already 0, still restarts the estimator', () => {
    const est = new Estimator();
    const c = new Counters();
    est.step(c);
    c.conns += 1; c.inpkts += 1;       // too little to show: rates stay 0
    est.step(c);
    assert.deepEqual([c.cps, c.inpps], [0, 0]);
    assert.equal(est.scaled(c)[0], 128);
    const epoch = c.epoch;
    c.zero();
    assert.equal(c.epoch, epoch + 1);
    c.conns += 5; c.inpkts += 5;       // above the old totals before the tick: nothing went down, no rate changed
    est.step(c);
    // restarted: all 5 are this period's, from internal rate 0 (not 128 + (4·512 − 128)/4 = 608)
    assert.deepEqual(est.scaled(c).slice(0, 2), [5 * 512 / 4, 5 * 512 / 4]);
  });

  it('through the engine: one tick every 2 s of the virtual clock, for global, service and real server', () => {
    const lab = new Lab();
    const svc = lab.service({ protocol: 'udp', port: 53 }, [destSpec(RS1, { port: 53 })]);
    const dest = lab.dest(svc, RS1);
    lab.engine.advance(lab.now);       // the estimator's first run is 2 s later
    let sport = 20000;
    for (let tick = 0; tick < 4; tick++) {
      // 200 new UDP connections (one datagram each) per 2-s period: 100 conns/s
      for (let i = 0; i < 200; i++) {
        lab.send(buildFrame({ dst: '02:00:00:00:00:01', src: '02:00:00:00:00:fe' }, { src: '10.1.2.3', dst: '192.168.10.100' },
          { proto: 'udp', sport: sport++, dport: 53, payload: new Uint8Array(22) }));
      }
      lab.wait(EST_INTERVAL_MS / 1000 - 0.001);
      assert.equal(dest.stats.cps, tick === 0 ? 0 : [25, 44, 58][tick - 1], 'no tick before 2 s');
      lab.wait(0.001);
    }
    assert.deepEqual([dest.stats.cps, svc.stats.cps, lab.table.total.cps], [68, 68, 68]);
    // 50-byte datagrams: 100 pkt/s, 5000 B/s; the same EWMA
    assert.deepEqual([dest.stats.inpps, dest.stats.inbps, dest.stats.outpps], [68, 3418, 0]);
    assert.equal(dest.stats.conns, 800);
  });
});

// ≥ 1,000,000 random and mutated frames through the whole pipeline: nothing
// escapes as an exception (the per-frame guard counts 'internal' and must
// stay 0), the connection table stays within its bound, memory stays flat.

import { strict as assert } from 'node:assert';
import { buildFrame, type L4Spec } from '../core/packet/build.js';
import { FrameBatch, TxBatch } from '../core/engine/batch.js';
import { D_INTERNAL } from '../core/engine/drops.js';
import { SVC_F_PERSISTENT } from '../core/model/types.js';
import { CLIENT, DIR_MAC, GW_MAC, Lab, RS1, RS2, VIP, VIP6, RS1_6, CLIENT6, destSpec } from './engine-harness.js';

describe('engine fuzz', function () {
  this.timeout(120_000);
  it('1,000,000 random and mutated frames: no exception, bounded table and memory', () => {
    const lab = new Lab(undefined, { maxConns: 5000 });
    lab.service({}, [destSpec(RS1, { fwd: 'masq', port: 8080 }), destSpec(RS2)]);
    lab.service({ protocol: 'udp', port: 53, flags: SVC_F_PERSISTENT, timeout: 30 }, [destSpec(RS1, { fwd: 'tunnel', port: 53 })]);
    lab.service({ family: 'inet6', addr: VIP6, netmask: 128 }, [destSpec(RS1_6, { fwd: 'masq' })]);
    const l4s: L4Spec[] = [
      { proto: 'tcp', sport: 1000, dport: 80, flags: 0x02 },
      { proto: 'tcp', sport: 1000, dport: 80, flags: 0x10, payload: new Uint8Array(64) },
      { proto: 'udp', sport: 1000, dport: 53, payload: new Uint8Array(20) },
      { proto: 'icmp', type: 3, code: 3, payload: new Uint8Array(28) },
      { proto: 'sctp', sport: 1, dport: 80, chunks: [{ type: 1, data: new Uint8Array(16) }] },
    ];
    const seeds: Uint8Array[] = [];
    for (const l4 of l4s) {
      seeds.push(buildFrame({ dst: DIR_MAC, src: GW_MAC }, { src: CLIENT, dst: VIP, df: true }, l4));
      seeds.push(buildFrame({ dst: DIR_MAC, src: GW_MAC }, { src: CLIENT6, dst: VIP6 }, l4));
      seeds.push(buildFrame({ dst: DIR_MAC, src: GW_MAC }, { src: RS1, dst: CLIENT }, { ...l4, ...('sport' in l4 ? { sport: 8080, dport: 1000 } : {}) } as L4Spec));
    }
    let x = 0x9e3779b9;
    const rnd = (): number => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; };
    const rx = new FrameBatch(64, 2048);
    const tx = new TxBatch(1024);
    const scratch = new Uint8Array(2048);
    const N = 1_000_000;
    let heap0 = 0;
    for (let i = 0; i < N;) {
      rx.clear();
      for (let k = 0; k < 64; k++, i++) {
        const s = seeds[rnd() % seeds.length]!;
        let len: number;
        const mode = rnd() & 7;
        if (mode === 0) {
          len = 14 + (rnd() % 200);
          for (let j = 0; j < len; j++) scratch[j] = rnd() & 255;
          scratch.set(s.subarray(0, 14));
        } else {
          len = s.length;
          scratch.set(s);
          // vary the client so that connections keep being made, and flip a few bytes
          if (s[12] === 0x08) { scratch[26 + 14 - 14 + 2] = rnd() & 255; scratch[14 + 15] = rnd() & 255; }
          const flips = mode < 4 ? 1 + (rnd() % 4) : 0;
          for (let f = 0; f < flips; f++) { const at = rnd() % len; scratch[at] = scratch[at]! ^ (1 << (rnd() & 7)); }
          if (mode === 7) len = 14 + (rnd() % (len - 13));
        }
        rx.push(scratch.subarray(0, len), 0, 0);
      }
      tx.clear();
      lab.now += 1;
      lab.engine.process(rx, tx, lab.now);
      if (i === 64 * 2000) { global.gc?.(); heap0 = process.memoryUsage().heapUsed; }
    }
    assert.equal(lab.engine.drops[D_INTERNAL], 0);
    assert.ok(lab.engine.conns.count <= 5000);
    assert.equal(lab.engine.frames, N);
    global.gc?.();
    const grew = process.memoryUsage().heapUsed - heap0;
    assert.ok(grew < 64 * 1024 * 1024, `heap grew by ${grew} bytes`);
  });
});

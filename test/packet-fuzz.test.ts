import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as B from '../core/packet/build.js';
import * as C from '../core/packet/checksum.js';
import * as P from '../core/packet/parse.js';

/** xorshift32: fast and reproducible. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

function seeds(): Uint8Array[] {
  const big = B.buildIp({ src: '10.0.0.1', dst: '10.99.4.1', df: true }, { proto: 'tcp', sport: 1, dport: 80, payload: new Uint8Array(600) });
  const big6 = B.buildIp({ src: '2001:db8::1', dst: '2001:db8::99', ext: [{ type: 0 }, { type: 60 }] }, { proto: 'udp', sport: 1, dport: 53, payload: new Uint8Array(300) });
  return [
    B.buildFrame({}, { src: '10.0.0.1', dst: '10.99.4.1', options: Uint8Array.of(7, 7, 4, 0, 0, 0, 0, 1) }, { proto: 'tcp', sport: 40000, dport: 80, options: new Uint8Array(12), payload: new Uint8Array(20) }),
    B.buildFrame({ vlans: [1, 2] }, { src: '10.0.0.1', dst: '10.99.4.1', mf: true }, { proto: 'udp', sport: 1, dport: 53, payload: new Uint8Array(24) }),
    B.buildFrame({ vlans: [3] }, { src: '2001:db8::1', dst: '2001:db8::99', ext: [{ type: 0 }, { type: 43 }, { type: 44, frag: { offset: 0, more: true, id: 9 } }, { type: 51 }, { type: 60 }] }, { proto: 'tcp', sport: 4, dport: 443 }),
    B.buildFrame({}, { src: '10.0.0.1', dst: '10.99.4.1' }, { proto: 'sctp', sport: 1, dport: 2, chunks: [{ type: 10, data: new Uint8Array(6) }, { type: 6 }] }),
    B.buildEth({}, B.icmpFragNeeded('10.99.4.1', big, 1400)),
    B.buildEth({}, B.icmp6PacketTooBig('2001:db8::99', big6, 1280)),
    B.buildEth({}, B.icmpPortUnreachable('2001:db8::99', B.buildIp({ src: '2001:db8::1', dst: '2001:db8::99', ext: [{ type: 44, frag: { offset: 8, more: false, id: 1 } }] }, { proto: 'raw', num: 6, bytes: new Uint8Array(20) }))),
    B.buildEth({}, B.encapsulate(B.buildIp({ src: '10.0.0.1', dst: '10.99.4.1' }, { proto: 'tcp', sport: 1, dport: 2 }), { src: '1.1.1.1', dst: '2.2.2.2' })),
    B.buildArp({}, 1, '02:00:00:00:00:01', '10.0.0.1', '00:00:00:00:00:00', '10.0.0.2'),
  ];
}

// Header bytes worth hitting with special values.
const HOT = [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 34, 35, 38, 39, 46, 47, 48, 54, 55, 56, 57, 58, 59, 60, 61, 62, 66];
const VALUES = [0, 1, 4, 5, 6, 0x40, 0x45, 0x46, 0x4f, 0x60, 0x81, 0x86, 0x88, 0xa8, 0xdd, 0x08, 0x00, 17, 43, 44, 51, 58, 59, 60, 132, 0xff, 0x20, 0x1f];

describe('packet fuzz', function () {
  this.timeout(120000);

  it('1,000,000 random and mutated frames: no exception, consistent offsets, no heap growth', () => {
    const N = 1_000_000;
    const next = rng(0xC0FFEE);
    const base = seeds();
    const buf = new Uint8Array(2048);
    const r = P.createParseResult();
    const counts = new Uint32Array(P.DROP_REASONS);
    let checksumAcc = 0;
    const run = (from: number, to: number): void => {
      for (let i = from; i < to; i++) {
        const mode = next() & 7;
        let len: number;
        if (mode === 0) {
          // pure random bytes behind a plausible ethertype half of the time
          len = 14 + (next() % 200);
          for (let k = 0; k < len; k += 4) { const v = next(); buf[k] = v; buf[k + 1] = v >>> 8; buf[k + 2] = v >>> 16; buf[k + 3] = v >>> 24; }
          if (next() & 1) { buf[12] = 0x08; buf[13] = 0; buf[14] = 0x45; } else if (next() & 1) { buf[12] = 0x86; buf[13] = 0xdd; buf[14] = 0x60; }
        } else {
          const s = base[next() % base.length]!;
          buf.set(s);
          len = s.length;
          const muts = 1 + (next() & 3);
          for (let m = 0; m < muts; m++) {
            const kind = next() & 3;
            if (kind === 0) { const o = next() % len; buf[o] = buf[o]! ^ (1 << (next() & 7)); }
            else if (kind === 1) { const o = HOT[next() % HOT.length]!; if (o < len) buf[o] = VALUES[next() % VALUES.length]!; }
            else if (kind === 2) buf[next() % len] = next();
            else len = next() % (len + 1); // truncate
          }
        }
        const off = 0;
        const code = P.parseFrame(buf, off, len, r, next() & 1);
        counts[code] = counts[code]! + 1;
        if (code === 0 && r[P.F_L4_OFF]! >= 0) {
          // offsets must stay inside the frame, and checksum helpers must run on them
          const l4 = r[P.F_L4_OFF]!;
          const end = r[P.F_FAMILY]! > 0 ? r[P.F_L3_OFF]! + r[P.F_IP_LEN]! : len;
          if (l4 > end || end > len) throw new Error(`offsets out of frame at ${i}`);
          if (r[P.F_FAMILY]! > 0) {
            checksumAcc += C.inetSum(buf, l4, end - l4, 0);
            if (r[P.F_PROTO] === P.IPPROTO_SCTP) checksumAcc += C.verifySctp(buf, l4, end - l4) ? 1 : 0;
            else if (r[P.F_CSUM_OFF]! >= 0) checksumAcc += C.verifyL4Sum(buf, r[P.F_FAMILY]!, r[P.F_SRC_OFF]!, r[P.F_DST_OFF]!, r[P.F_PROTO]!, l4, end - l4) ? 1 : 0;
          }
          if (r[P.F_IN_L4_OFF]! > end || r[P.F_IN_L3_OFF]! > end) throw new Error(`quote offsets out of frame at ${i}`);
        }
      }
    };
    // A real GC before each measurement, so garbage left by other tests does not count.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    run(0, 50_000); // warm up (JIT), then measure heap
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = process.hrtime.bigint();
    run(50_000, N);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    gc();
    const grow = process.memoryUsage().heapUsed - heap0;
    assert.ok(checksumAcc > 0);
    // every drop reason the generator can reach shows up, and plenty of frames parse
    assert.ok(counts[0]! > N / 10, `parsed ${counts[0]}`);
    const seen = [...counts].map((c, k) => (c > 0 ? P.DROP_NAMES[k] : null)).filter((x) => x !== null);
    assert.ok(seen.length >= 15, seen.join(' '));
    assert.ok(grow < 1024 * 1024, `heap grew by ${grow} bytes`);
    console.log(`      ${N} frames in ${ms.toFixed(0)} ms (${(ms * 1e6 / N).toFixed(0)} ns/frame incl. generation), heap Δ ${(grow / 1024).toFixed(0)} KiB, reasons seen: ${seen.length}/${P.DROP_REASONS}`);
  });
});

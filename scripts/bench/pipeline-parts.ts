// Micro-benchmarks of the pipeline's two foundations: frame parsing and
// checksum rewrites (core/packet), the connection table at 1 M entries
// (core/conn). Run: npm run bench:parts [-- --conns 1000000]
import { ConnTable, type ConnDests } from '../../core/conn/table.js';
import { CF_MASQ, DIR_INPUT } from '../../core/conn/states.js';
import { buildFrame } from '../../core/packet/build.js';
import { CSUM_TCP, decTtl4, rewrite16, rewriteAddr4 } from '../../core/packet/checksum.js';
import { createParseResult, F_CSUM_OFF, F_DST_OFF, F_L3_OFF, F_L4_OFF, parseFrame } from '../../core/packet/parse.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg('conns', 1_000_000);

function time(label: string, ops: number, fn: () => void): void {
  fn(); // warm-up
  const t0 = process.hrtime.bigint();
  fn();
  const ns = Number(process.hrtime.bigint() - t0);
  console.log(`${label.padEnd(44)} ${(ns / ops).toFixed(1).padStart(8)} ns/op  ${(ops / ns * 1e3).toFixed(2).padStart(8)} M ops/s`);
}

// ---------------------------------------------------------------- packet
const frame = buildFrame({}, { src: '10.0.0.1', dst: '10.99.4.1' }, { proto: 'tcp', sport: 40000, dport: 80, flags: 0x10, payload: new Uint8Array(6) });
const r = createParseResult();
const P = 5_000_000;
time('parseFrame IPv4/TCP (60 B)', P, () => { for (let i = 0; i < P; i++) parseFrame(frame, 0, frame.length, r); });
const f6 = buildFrame({}, { src: '2001:db8::1', dst: '2001:db8::99' }, { proto: 'tcp', sport: 40000, dport: 80, flags: 0x10 });
time('parseFrame IPv6/TCP (74 B)', P, () => { for (let i = 0; i < P; i++) parseFrame(f6, 0, f6.length, r); });
parseFrame(frame, 0, frame.length, r);
const l3 = r[F_L3_OFF]!, dst = r[F_DST_OFF]!, cs = r[F_CSUM_OFF]!, l4 = r[F_L4_OFF]!;
time('NAT rewrite: TTL, daddr, dport (incremental)', P, () => {
  for (let i = 0; i < P; i++) {
    frame[l3 + 8] = 64;
    decTtl4(frame, l3);
    rewriteAddr4(frame, l3, dst, (0x0aca0000 + (i & 0xff)) >>> 0, cs, CSUM_TCP);
    rewrite16(frame, l4 + 2, 8000 + (i & 0xff), cs, CSUM_TCP);
  }
});

// ---------------------------------------------------------------- conn table
const dests: ConnDests = { move() {}, available: () => true, weight: () => 1 };
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const ab0 = process.memoryUsage().arrayBuffers;
const t = new ConnTable({ maxConns: N, initialCapacity: N, seed: 1 }, dests);
const caddr = (i: number): number => (0x0a000000 + (i >>> 6)) >>> 0;
const cport = (i: number): number => 1024 + (i & 63);
let t0 = process.hrtime.bigint();
for (let i = 0; i < N; i++) t.create4(6, caddr(i), cport(i), 0x0a630401, 80, 0x0aca0009 + (i & 7), 80, CF_MASQ, i & 7, 0);
let ns = Number(process.hrtime.bigint() - t0);
gc?.();
const ab = process.memoryUsage().arrayBuffers - ab0;
console.log(`${'create4 to ' + N + ' entries'.padEnd(30)} ${(ns / N).toFixed(1).padStart(8)} ns/op`);
console.log(`bytes per connection at ${t.count}: ${(t.s.bytes() / t.count).toFixed(1)} (typed arrays by count), ${(ab / t.count).toFixed(1)} (process arrayBuffers delta)`);

const L = 5_000_000;
const idx = new Uint32Array(L);
let x = 1;
for (let i = 0; i < L; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; idx[i] = x % N; }
let hits = 0;
time(`lookupIn4 hit, random, at ${N}`, L, () => {
  hits = 0;
  for (let i = 0; i < L; i++) { const k = idx[i]!; if (t.lookupIn4(6, caddr(k), cport(k), 0x0a630401, 80) >= 0) hits++; }
});
if (hits !== L) throw new Error(`lookups missed: ${L - hits}`);
time(`lookupIn4 miss, random, at ${N}`, L, () => {
  for (let i = 0; i < L; i++) { const k = idx[i]!; t.lookupIn4(6, caddr(k), cport(k), 0x0a630402, 80); }
});
time(`lookupOut4 hit, random, at ${N}`, L, () => {
  for (let i = 0; i < L; i++) { const k = idx[i]!; t.lookupOut4(6, 0x0aca0009 + (k & 7), 80, caddr(k), cport(k)); }
});
time(`lookupIn4 + update (ACK, re-arm), at ${N}`, L, () => {
  for (let i = 0; i < L; i++) { const k = idx[i]!; const e = t.lookupIn4(6, caddr(k), cport(k), 0x0a630401, 80); t.update(e, DIR_INPUT, 0x10); }
});
t0 = process.hrtime.bigint();
const freed = t.advance(t.now + 3_600_000);
ns = Number(process.hrtime.bigint() - t0);
console.log(`expire all ${freed} entries in one advance: ${(ns / 1e6).toFixed(0)} ms (${(ns / Math.max(1, freed)).toFixed(0)} ns/entry)`);

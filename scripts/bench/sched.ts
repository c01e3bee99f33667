// `npm run bench:sched`: nanoseconds per scheduling decision for every built-in
// scheduler at 10, 100 and 1000 real servers. Two columns:
//   decide       schedule() alone (counters unchanged between calls)
//   decide+conn  schedule(), then bindConn() of the new connection and
//                unbindConn() of an older one: the real per-connection cost,
//                including the counter updates the least-connection family's
//                incremental index has to follow.
// Weights are random 1..100 (rr/wrr/sh/mh/dh use them as they do), counters
// random (active 0..999, inactive 0..4999); client addresses vary per call.

import { ServiceTable, type Dest } from '../../core/model/table.js';
import { addrFold32 } from '../../core/model/addr.js';
import type { SchedContext, SchedPacket } from '../../core/plugin.js';
import { BUILTIN_SCHEDULERS } from '../../plugins/schedulers/lib/builtin.js';
import { builtinForwarder } from '../../plugins/forwarding/lib/builtin.js';

const SIZES = [10, 100, 1000];
const NAMES = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const BUDGET_NS = Number(process.env['BENCH_MS'] ?? 150) * 1e6;

let seed = 0x2545f491;
const rnd = (): number => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return seed >>> 0; };

function setup(name: string, n: number) {
  const plugin = BUILTIN_SCHEDULERS.find((s) => s.name === name)!;
  let now = 0;
  const ctx: SchedContext = { now: () => now, randomU32: rnd, log: () => {} };
  const table = new ServiceTable({ schedulers: (x) => (x === name ? plugin : undefined), forwarder: builtinForwarder, ctx });
  const key = { family: 'inet' as const, protocol: 'tcp' as const, addr: '10.0.0.1', port: 80, fwmark: 0 };
  const r = table.addService({ ...key, scheduler: name, flags: 0, timeout: 300, netmask: 0xffffffff, pe: '' });
  if (!r.ok) throw r.error;
  const svc = r.value;
  const dests: Dest[] = [];
  for (let i = 0; i < n; i++) {
    const res = table.addDest(key, {
      family: 'inet', addr: `10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, port: 80, fwd: 'masq',
      weight: 1 + (rnd() % 100), uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunFlags: 0,
    });
    if (!res.ok) throw res.error;
    dests.push(res.value);
  }
  for (const d of dests) { d.activeConns = rnd() % 1000; d.inactConns = rnd() % 5000; }
  const pkts: SchedPacket[] = [];
  for (let i = 0; i < 4096; i++) {
    const c = `172.${16 + (i >> 12)}.${(i >> 6) & 63}.${(rnd() % 254) + 1}`;
    const v = `10.200.${(i >> 8) & 15}.${i & 255}`;
    pkts.push({ family: 'inet', protocol: 'tcp', saddr: c, daddr: v, saddr32: addrFold32('inet', c), daddr32: addrFold32('inet', v), sport: 1024 + (rnd() % 60000), dport: 80 });
  }
  return { table, svc, ctx, pkts, tick: () => { now += 1000; } };
}

function measure(name: string, n: number, withConn: boolean): number {
  const { table, svc, ctx, pkts } = setup(name, n);
  const sched = svc.sched!;
  const ring: (Dest | null)[] = new Array<Dest | null>(256).fill(null);
  let iters = 2000;
  let best = Infinity;
  // Warm up, then grow the batch until it fills the time budget; report the best batch.
  for (let round = 0; round < 6; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) {
      const d = sched.schedule(svc, svc.schedState, pkts[i & 4095]!, ctx) as Dest | null;
      if (withConn && d !== null) {
        table.bindConn(d, 'active');
        const j = i & 255;
        const old = ring[j];
        if (old && old.activeConns > 0) table.unbindConn(old, 'active');
        ring[j] = d;
      }
    }
    const ns = Number(process.hrtime.bigint() - t0);
    best = Math.min(best, ns / iters);
    if (ns < BUDGET_NS / 4) iters *= 4;
  }
  return best;
}

const rows: string[][] = [['scheduler', ...SIZES.flatMap((n) => [`${n} decide`, `${n} +conn`])]];
for (const s of BUILTIN_SCHEDULERS) {
  if (NAMES.length > 0 && !NAMES.includes(s.name)) continue;
  const row = [s.name];
  for (const n of SIZES) {
    row.push(measure(s.name, n, false).toFixed(0));
    row.push(measure(s.name, n, true).toFixed(0));
  }
  rows.push(row);
  process.stderr.write('.');
}
process.stderr.write('\n');
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
process.stdout.write(`ns per decision (node ${process.version}, ${process.arch})\n`);
for (const r of rows) process.stdout.write(`${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}\n`);

// bench:health — how many checks per second one lvsd's checker manager
// sustains (TCP_CHECK against a local listener, system clock, the real
// plugin), and the delay from the deciding failed check to the real server's
// removal from the table (target < 50 ms).
//
//   BENCH_SECONDS=5 BENCH_REALS=2000 npm run bench:health

import { createServer, type AddressInfo, type Server } from 'node:net';
import { Bus } from '../../core/bus.js';
import { applyPlan, planDiff } from '../../core/config/diff.js';
import { validateConfig } from '../../core/config/schema.js';
import { HealthManager } from '../../core/health/manager.js';
import { ServiceTable } from '../../core/model/table.js';
import { defineHealthCheck, defineScheduler, type HealthCheckPlugin, type HealthResult } from '../../core/plugin.js';
import { PluginRegistry } from '../../core/plugins/loader.js';
import tcp from '../../plugins/health/tcp.js';
import { builtinForwarder } from '../../plugins/forwarding/lib/builtin.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const REALS = Number(process.env['BENCH_REALS'] ?? 2000);
const INTERVAL = Number(process.env['BENCH_INTERVAL'] ?? 0.5);

let attempts = 0;
let lastFailureDone = 0;
const counted = defineHealthCheck({
  name: 'tcp',
  options: tcp.options!,
  check: async (t, o, ctx): Promise<HealthResult> => {
    const r = await (tcp as HealthCheckPlugin<typeof o>).check(t, o, ctx);
    attempts++;
    if (!r.ok) lastFailureDone = performance.now();
    return r;
  },
});

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const sched = defineScheduler({ name: 'wlc', init: () => null, schedule: (s) => s.dests[0] ?? null });

function setup(config: unknown): { health: HealthManager; bus: Bus; table: ServiceTable } {
  const v = validateConfig(config, { file: 'bench.ts', knownSchedulers: () => true });
  if (!v.ok) throw new Error(v.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  const reg = new PluginRegistry();
  reg.add({ plugin: counted, file: 'tcp.ts', module: 'tcp.mjs' });
  const bus = new Bus();
  const table = new ServiceTable({ schedulers: () => sched, forwarder: builtinForwarder, ctx: { now: () => performance.now(), randomU32: () => 0, log: () => {} }, onEvent: (ev) => bus.emitTable(ev) });
  const health = new HealthManager({ table, bus, log: quiet, registry: () => reg });
  const plan = planDiff(null, v.desired);
  const r = health.whileApplying(v.desired, () => applyPlan(table, plan));
  if (!r.ok) throw new Error(r.error);
  health.apply(v.desired);
  return { health, bus, table };
}

const listen = (s: Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function throughput(): Promise<number> {
  const srv = createServer((c) => c.destroy());
  srv.maxConnections = 1 << 20;
  const port = await listen(srv);
  // Distinct real servers, all probed at the one local listener (connectIp/connectPort).
  const reals = Array.from({ length: REALS }, (_, i) => ({ address: `10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255 || 1}`, port: 80 + (i & 255 ? 0 : 1 + (i >> 8)) }));
  const seen = new Set<string>();
  const unique = reals.filter((r) => { const k = `${r.address}:${r.port}`; if (seen.has(k)) return false; seen.add(k); return true; });
  const { health } = setup({ services: [{ address: '10.0.0.1', port: 80, forward: 'nat',
    health: { check: 'tcp', interval: INTERVAL, timeout: 5, warmup: INTERVAL, connectIp: '127.0.0.1', connectPort: port },
    reals: unique }] });
  await sleep(1000 + INTERVAL * 1000);   // past the first-check warm-up
  const a0 = attempts;
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const rate = (attempts - a0) / ((performance.now() - t0) / 1000);
  health.stop();
  await new Promise<void>((r) => srv.close(() => r()));
  console.log(`checks/s: ${rate.toFixed(0)} (${unique.length} real servers, interval ${INTERVAL} s, TCP_CHECK to 127.0.0.1, ${SECONDS} s)`);
  console.log(`  (the offered load is ${(unique.length / INTERVAL).toFixed(0)} checks/s; lower the interval or add reals to find the ceiling)`);
  return rate;
}

async function removalDelay(rounds: number): Promise<number[]> {
  const delays: number[] = [];
  let srv = createServer((c) => c.destroy());
  const port = await listen(srv);
  const { health, bus } = setup({ services: [{ address: '10.0.0.1', port: 80, forward: 'nat',
    health: { check: 'tcp', interval: 0.05, timeout: 1, retry: 0, warmup: 0 },
    reals: [{ address: '127.0.0.1', port }, { address: '127.0.0.2', port: 80, health: false }] }] });
  let removedAt = 0;
  let addedAt = 0;
  bus.on('dest.removed', () => { removedAt = performance.now(); });
  bus.on('dest.added', () => { addedAt = performance.now(); });
  await sleep(1200);
  for (let i = 0; i < rounds; i++) {
    removedAt = 0;
    await new Promise<void>((r) => srv.close(() => r()));
    while (!removedAt) await sleep(5);
    delays.push(removedAt - lastFailureDone);
    addedAt = 0;
    srv = createServer((c) => c.destroy());
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
    while (!addedAt) await sleep(5);
  }
  health.stop();
  srv.close();
  return delays;
}

const rate = await throughput();
const d = (await removalDelay(20)).sort((a, b) => a - b);
const ms = (x: number): string => `${x.toFixed(3)} ms`;
console.log(`failure → removal (deciding check done → DEL_DEST + bus event), 20 rounds: median ${ms(d[10]!)}, max ${ms(d.at(-1)!)} (target < 50 ms)`);
void rate;

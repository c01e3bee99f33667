// npm run bench:pipeline — frames/s through the whole pipeline on the memory
// wire (no syscalls: the wire copies each frame into the receive batch, as a
// NIC ring would, and only counts what is sent), and bytes per tracked
// connection at 1 M connections. One core, main thread.

import { loadavg } from 'node:os';
import { FrameBatch, TxBatch } from '../../core/engine/batch.js';
import { Engine } from '../../core/engine/engine.js';
import { MemoryWire } from '../../core/engine/io/memory.js';
import { ServiceTable } from '../../core/model/table.js';
import { buildFrame } from '../../core/packet/build.js';
import { builtinScheduler } from '../../plugins/schedulers/lib/builtin.js';
import dr from '../../plugins/forwarding/dr.js';
import nat from '../../plugins/forwarding/nat.js';
import tun from '../../plugins/forwarding/tun.js';
import type { FwdMethod } from '../../core/model/types.js';
import { builtinForwarder } from '../../plugins/forwarding/lib/builtin.js';

const DIR = '02:00:00:00:00:01', GW = '02:00:00:00:00:fe';
const NET = {
  interfaces: [{ name: 'eth0', mac: DIR, addresses: ['192.168.10.1/24'] }],
  neighbors: { '192.168.10.8': '02:00:00:00:10:08', '192.168.10.9': '02:00:00:00:10:09', '192.168.10.254': GW },
  gateways: ['192.168.10.254'],
};

function setup(fwd: FwdMethod, maxConns: number): { engine: Engine; table: ServiceTable } {
  let now = 0;
  const table = new ServiceTable({ schedulers: builtinScheduler, forwarder: builtinForwarder, ctx: { now: () => now, randomU32: () => 1, log: () => {} } });
  const svc = table.addService({ family: 'inet', protocol: 'tcp', addr: '192.168.10.100', port: 80, fwmark: 0, scheduler: 'rr',
    flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' });
  if (!svc.ok) throw new Error(svc.error.message);
  for (const a of ['192.168.10.8', '192.168.10.9']) {
    table.addDest(svc.value.spec, { family: 'inet', addr: a, port: 80, fwd, weight: 1, uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunFlags: 0 });
  }
  const engine = new Engine({ table, forwarders: [dr, nat, tun], net: NET, maxConns, initialConns: Math.min(maxConns, 1 << 20), seed: 7 });
  void now; now = 1;
  return { engine, table };
}

const client = (i: number): string => `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
const frame = (i: number, flags: number, payload = 0): Uint8Array =>
  buildFrame({ dst: DIR, src: GW }, { src: client(i + 1), dst: '192.168.10.100', df: true }, {
    proto: 'tcp', sport: 10000 + (i % 50000), dport: 80, flags, payload: new Uint8Array(payload),
  });

function throughput(fwd: FwdMethod, flows: number, seconds: number): { wall: number; cpu: number } {
  const { engine } = setup(fwd, 1 << 20);
  const wire = new MemoryWire(engine.net.ifaces);
  wire.txMode = 'count';
  const rx = new FrameBatch(256, 2048);
  const tx = new TxBatch(1024);
  for (let i = 0; i < flows; i++) wire.inject(frame(i, 0x02));
  let now = 1000;
  while (wire.receive(rx) > 0) { tx.clear(); engine.process(rx, tx, now); wire.transmit(tx); }
  const acks: Uint8Array[] = [];
  for (let i = 0; i < flows; i++) acks.push(frame(i, 0x10, 18)); // 64-byte frames
  wire.loop(acks);
  // warm-up, then measure: frames per wall-clock second, and per second of
  // process CPU time (user + system), which holds up on a shared, loaded machine
  const run = (ms: number): { wall: number; cpu: number } => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let n = 0;
    while (performance.now() - t0 < ms) {
      for (let k = 0; k < 64; k++) {
        wire.receive(rx);
        tx.clear();
        engine.process(rx, tx, now);
        wire.transmit(tx);
        n += rx.count;
      }
      now += 1;
    }
    const c = process.cpuUsage(c0);
    return { wall: n / ((performance.now() - t0) / 1000), cpu: n / ((c.user + c.system) / 1e6) };
  };
  run(500);
  const r = run(seconds * 1000);
  const d = engine.dropCounts();
  if (Object.keys(d).length > 0) throw new Error(`drops during the run: ${JSON.stringify(d)}`);
  return r;
}

function bytesPerConn(n: number): { bytes: number; count: number; heapPerConn: number } {
  // twice: array buffers of the throughput runs' tables are released by the second pass at the latest
  global.gc?.(); global.gc?.();
  const h0 = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const { engine } = setup('route', n);
  const rx = new FrameBatch(256, 256);
  const tx = new TxBatch(1024);
  const f = frame(0, 0x02);
  const tmp = Uint8Array.from(f);
  for (let i = 0; i < n;) {
    rx.clear();
    for (let k = 0; k < 256 && i < n; k++, i++) {
      // client address and port vary: 10.x.y.z:port, one connection each
      const c = i + 1;
      tmp[26 + 1] = (c >>> 16) & 255; tmp[26 + 2] = (c >>> 8) & 255; tmp[26 + 3] = c & 255;
      tmp[34] = ((10000 + (i >>> 24)) >>> 8) & 255; tmp[35] = (10000 + (i >>> 24)) & 255;
      // header checksum: recompute for the changed source
      tmp[24] = 0; tmp[25] = 0;
      let s = 0;
      for (let j = 14; j < 34; j += 2) s += (tmp[j]! << 8) | tmp[j + 1]!;
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      const c16 = ~s & 0xffff;
      tmp[24] = c16 >>> 8; tmp[25] = c16 & 255;
      rx.push(tmp, 0, 1000);
    }
    tx.clear();
    engine.process(rx, tx, 1000);
  }
  global.gc?.();
  const h1 = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const count = engine.conns.count;
  return { bytes: engine.conns.s.bytes() / count, count, heapPerConn: (h1 - h0) / count };
}

const secs = Number(process.env['BENCH_SECONDS'] ?? 3);
// BENCH_CASES=dr,nat,tun,mem picks cases (profiling one path at a time); default all
const cases = (process.env['BENCH_CASES'] ?? 'dr,nat,tun,mem').split(',');
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(`node ${process.version}, ${secs} s per run, one core; load average ${load()}`);
for (const [fwd, label] of [['route', 'DR'], ['masq', 'NAT'], ['tunnel', 'TUN']] as const) {
  if (!cases.includes(label.toLowerCase())) continue;
  const fps = throughput(fwd, 1024, secs);
  console.log(`established-flow ${label.padEnd(3)} (1024 flows, 64-byte frames): ${(fps.wall / 1e6).toFixed(2)} M frames/s`
    + ` (${(fps.cpu / 1e6).toFixed(2)} M frames per CPU-second)`);
}
const m = cases.includes('mem') ? bytesPerConn(1 << 20) : null;
if (m) console.log(`connection table at ${m.count} connections: ${m.bytes.toFixed(1)} bytes/connection (typed arrays), ${m.heapPerConn.toFixed(1)} bytes/connection (heap + array buffers growth)`);
console.log(`load average at the end: ${load()}`);

// `npm run bench` (root): lvsd --io afpacket against the kernel's own
// nftables DNAT of the same VIP, in the namespace lab (scripts/lab-net.ts).
//   * small UDP packets/s: a generator in the client namespace (AF_PACKET +
//     sendmmsg, 60-byte frames, 4096 flows) sends to VIP:9 as fast as it can;
//     "delivered" is what the real servers' netdev-ingress counters saw.
//   * TCP new connections/s: HTTP GETs with Connection: close from a node
//     client (16 in flight) to node HTTP servers on the real servers.
// lvsd runs NAT and DR with 1 worker, then 2 workers; the kernel runs
// `dnat to numgen inc mod 3 map {…}` (conntrack) with lvsd stopped.
// Everything shares this box's 2 cores (generator, director, real servers):
// figures are ratios on the same box in the same run, and the load is printed.
//
//   npm run bench [-- --seconds 4 --runs 3]
//   (internal) bench/lab.ts gen IFACE DSTMAC SRC DST SECONDS

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TxBatch } from '../../core/engine/batch.js';
import { AfPacketIo, interfaceInfo } from '../../core/engine/io/afpacket.js';
import { CLIENT, Lab, RIP, ROOT, VIP, cleanupStale, labUnavailable, ensureNft } from '../lab-net.js';

const FLOWS = 4096;

function generator(ifname: string, dstMac: string, src: string, dst: string, seconds: number): void {
  const info = interfaceInfo(ifname);
  const io = new AfPacketIo([{ name: ifname, ...info }], { ringBytes: 1 << 17, txBatch: 256 });
  const len = 60;
  const buf = new Uint8Array(FLOWS * 64);
  const ip = (s: string) => s.split('.').map(Number);
  for (let f = 0; f < FLOWS; f++) {
    const o = f * 64;
    buf.set(dstMac.split(':').map((x) => parseInt(x, 16)), o);
    buf.set(info.mac, o + 6);
    buf[o + 12] = 0x08; buf[o + 13] = 0;
    const l3 = o + 14;
    buf[l3] = 0x45; buf[l3 + 3] = 46; buf[l3 + 8] = 64; buf[l3 + 9] = 17;
    buf.set(ip(src), l3 + 12); buf.set(ip(dst), l3 + 16);
    let s = 0;
    for (let i = 0; i < 20; i += 2) s += (buf[l3 + i]! << 8) | buf[l3 + i + 1]!;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    const c = ~s & 0xffff; buf[l3 + 10] = c >> 8; buf[l3 + 11] = c & 255;
    const sport = 1024 + f;
    buf[l3 + 20] = sport >> 8; buf[l3 + 21] = sport & 255; buf[l3 + 23] = 9; buf[l3 + 25] = 26; // UDP csum 0: none
  }
  const tx = new TxBatch(256, 64);
  const end = performance.now() + seconds * 1000;
  let f = 0;
  while (performance.now() < end) {
    tx.clear();
    for (let i = 0; i < 256; i++) { tx.add(buf, f * 64, len, 0); f = (f + 1) % FLOWS; }
    io.transmit(tx);
  }
  process.stdout.write(`${JSON.stringify({ sent: io.txFrames, errors: io.txErrors })}\n`);
  io.close();
}

if (process.argv[2] === 'gen') {
  const [, , , ifname, mac, src, dst, sec] = process.argv;
  generator(ifname!, mac!, src!, dst!, Number(sec));
  process.exit(0);
}

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '4' }, runs: { type: 'string', default: '3' } } });
const SECONDS = Number(values.seconds), RUNS = Number(values.runs);
ensureNft((l) => process.stdout.write(`bench: ${l}\n`));
const why = labUnavailable();
if (why) { process.stderr.write(`bench: ${why}\n`); process.exit(1); }
cleanupStale();

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function busy(): string {
  // other processes using CPU right now (the box is shared): top 5 by %CPU, ours excluded
  const out = execFileSync('ps', ['-eo', 'pid,pcpu,comm', '--sort=-pcpu'], { encoding: 'utf8' }).split('\n').slice(1, 6);
  return out.map((l) => l.trim()).filter(Boolean).join('; ');
}

const lab = new Lab();
let torn: Promise<void> | null = null;
const teardown = () => (torn ??= lab.teardown());
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { void teardown().then(() => process.exit(130)); });

function benchConfig(workers: number): object {
  const reals = (port: number) => lab.r.map((_, i) => ({ address: RIP(i + 1), port }));
  return {
    interfaces: ['d0', ...lab.r.map((_, i) => `d${i + 1}`)], workers,
    services: [
      { protocol: 'udp', address: VIP.nat, port: 9, scheduler: 'rr', forward: 'nat', reals: reals(9) },
      { protocol: 'udp', address: VIP.dr, port: 9, scheduler: 'rr', forward: 'dr', reals: reals(9) },
      { protocol: 'tcp', address: VIP.nat, port: 80, scheduler: 'rr', forward: 'nat', reals: reals(80) },
      { protocol: 'tcp', address: VIP.dr, port: 80, scheduler: 'rr', forward: 'dr', reals: reals(80) },
    ],
  };
}

function sinkCount(): number {
  let n = 0;
  for (const ns of lab.r) {
    const j = JSON.parse(lab.exec(ns, 'nft', '-j', 'list', 'table', 'netdev', 'sink')) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] };
    for (const x of j.nftables) for (const e of x.rule?.expr ?? []) if (e.counter) n += e.counter.packets;
  }
  return n;
}

function udpRun(vip: string, d0mac: string): { pps: number; offered: number } {
  const before = sinkCount();
  const out = lab.exec(lab.c, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/bench/lab.ts'), 'gen', 'c0', d0mac, CLIENT, vip, String(SECONDS));
  const { sent } = JSON.parse(out) as { sent: number };
  return { pps: (sinkCount() - before) / SECONDS, offered: sent / SECONDS };
}

function tcpRun(vip: string): number {
  const out = lab.exec(lab.c, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lab-rs.ts'), 'clientfor', `http://${vip}/`, String(SECONDS), '16');
  const r = JSON.parse(out) as { ok: number; errors: number; seconds: number };
  return r.errors > r.ok / 100 ? 0 : r.ok / r.seconds;
}

interface Row { label: string; udp: number[]; offered: number[]; tcp: number[] }
const rows: Row[] = [];

async function measure(label: string, vip: string, d0mac: string): Promise<void> {
  const row: Row = { label, udp: [], offered: [], tcp: [] };
  for (let i = 0; i < RUNS; i++) {
    const u = udpRun(vip, d0mac);
    row.udp.push(u.pps); row.offered.push(u.offered);
    await new Promise((r) => setTimeout(r, 1500)); // let the UDP entries and the backlog drain
    row.tcp.push(tcpRun(vip));
  }
  rows.push(row);
  process.stdout.write(`${label.padEnd(28)} udp ${Math.round(median(row.udp))} pps (offered ${Math.round(median(row.offered))})  tcp ${Math.round(median(row.tcp))} conn/s   [load ${load()}]\n`);
}

let failed = false;
try {
  process.stdout.write(`bench: ${SECONDS}s windows, ${RUNS} runs each (medians); load before: ${load()}; busiest processes: ${busy()}\n`);
  await lab.build();
  for (const ns of lab.r) {
    execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: 'table netdev sink {\n chain in { type filter hook ingress device "r0" priority 0; udp dport 9 counter drop; }\n}\n' });
  }
  const d0mac = lab.exec(lab.d, 'cat', '/sys/class/net/d0/address').trim();
  // kernel: nftables DNAT of the same VIP (lvsd not running)
  execFileSync('ip', ['netns', 'exec', lab.d, 'nft', '-f', '-'], {
    input: `table ip kbench {\n chain pre { type nat hook prerouting priority -100; ip daddr ${VIP.nat} dnat to numgen inc mod 3 map { 0 : ${RIP(1)}, 1 : ${RIP(2)}, 2 : ${RIP(3)} }; }\n}\n`,
  });
  await measure('kernel nftables DNAT (rr)', VIP.nat, d0mac);
  lab.exec(lab.d, 'nft', 'delete', 'table', 'ip', 'kbench');
  lab.exec(lab.d, 'sh', '-c', 'command -v conntrack >/dev/null && conntrack -F >/dev/null 2>&1; true');
  for (const workers of [1, 2]) {
    await lab.startDaemon(lab.writeConfig(benchConfig(workers), `bench${workers}.config.ts`));
    await measure(`lvsd NAT, ${workers} worker${workers > 1 ? 's' : ''}`, VIP.nat, d0mac);
    await measure(`lvsd DR, ${workers} worker${workers > 1 ? 's' : ''}`, VIP.dr, d0mac);
    await lab.stopDaemon();
    process.stdout.write(lab.daemonLog.split('\n').filter((l) => /afpacket worker/.test(l)).map((l) => `    ${l}\n`).join(''));
  }
  const k = rows[0]!;
  process.stdout.write('\nratios to kernel nftables DNAT (medians):\n');
  for (const r of rows.slice(1)) {
    process.stdout.write(`  ${r.label.padEnd(24)} udp ${(median(r.udp) / median(k.udp)).toFixed(2)}x   tcp conn/s ${(median(r.tcp) / median(k.tcp)).toFixed(2)}x\n`);
  }
  const w1 = rows.find((r) => r.label === 'lvsd NAT, 1 worker'), w2 = rows.find((r) => r.label === 'lvsd NAT, 2 workers');
  if (w1 && w2) process.stdout.write(`  scaling NAT udp 1 -> 2 workers: ${(median(w2.udp) / median(w1.udp)).toFixed(2)}x\n`);
  process.stdout.write(`load after: ${load()}; busiest processes: ${busy()}\n`);
} catch (e) {
  failed = true;
  process.stderr.write(`bench failed: ${(e as Error).message}\n${lab.daemonLog}\n`);
} finally {
  await teardown();
}
process.exit(failed ? 1 : 0);

// `npm run bench` (root): lvsd --io afpacket against the kernel's own
// nftables DNAT of the same VIP, in the namespace lab (scripts/lab-net.ts).
//   * small UDP packets/s: a generator in the client namespace (AF_PACKET +
//     sendmmsg, 60-byte frames, 4096 flows) sends to VIP:9 as fast as it can;
//     "delivered" is what the real servers' netdev-ingress counters saw.
//   * TCP new connections/s, two ways:
//     - SYN/s: the same generator sends TCP SYNs to VIP:80, each from a new
//       client address and port (10.91.0.10-249 × 64000 ports), so every one
//       makes the director schedule and create a connection (the kernel: a
//       conntrack entry and a DNAT binding); "delivered" as for UDP. This is
//       the director's connection-setup capacity.
//     - HTTP conn/s: complete HTTP GETs with Connection: close from a node
//       client (16 in flight) to node HTTP servers on the real servers. Bound
//       by latency and by the node processes sharing the 2 cores.
// lvsd runs NAT and DR with 1 worker, then 2 workers; the kernel runs
// `dnat to numgen inc mod 3 map {…}` (conntrack) with lvsd stopped. After a
// warm-up of the real servers, each run measures the kernel and then lvsd, so
// drift over the benchmark falls on both; the figures are medians over runs.
// Everything shares this box's 2 cores (generator, director, real servers):
// figures are ratios on the same box in the same run, and the load is printed.
//
//   npm run bench [-- --seconds 4 --runs 3]
//   (internal) bench/lab.ts gen udp|syn IFACE DSTMAC SRC DST SECONDS

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TxBatch } from '../../core/engine/batch.js';
import { AfPacketIo, interfaceInfo } from '../../core/engine/io/afpacket.js';
import { fillIpv4HeaderChecksum, l4Checksum, wr16 } from '../../core/packet/checksum.js';
import { CLIENT, Lab, RIP, ROOT, VIP, cleanupStale, labUnavailable, ensureNft } from '../lab-net.js';

const FLOWS = 4096;

/** 60-byte frames as fast as sendmmsg takes them: UDP to DST:9 over 4096 flows, or TCP SYNs to DST:80 each from a new client. */
function generator(mode: string, ifname: string, dstMac: string, src: string, dst: string, seconds: number): void {
  const info = interfaceInfo(ifname);
  const io = new AfPacketIo([{ name: ifname, ...info }], { ringBytes: 1 << 17, txBatch: 256 });
  const syn = mode === 'syn';
  const len = 60;
  const ip = (t: string) => t.split('.').map(Number);
  const frames = syn ? 256 : FLOWS;
  const buf = new Uint8Array(frames * 64);
  for (let f = 0; f < frames; f++) {
    const o = f * 64;
    buf.set(dstMac.split(':').map((x) => parseInt(x, 16)), o);
    buf.set(info.mac, o + 6);
    buf[o + 12] = 0x08; buf[o + 13] = 0;
    const l3 = o + 14;
    buf[l3] = 0x45; buf[l3 + 3] = syn ? 40 : 46; buf[l3 + 8] = 64; buf[l3 + 9] = syn ? 6 : 17;
    buf.set(ip(src), l3 + 12); buf.set(ip(dst), l3 + 16);
    if (syn) {
      buf[l3 + 23] = 80; buf[l3 + 24] = 0x12; buf[l3 + 32] = 0x50; buf[l3 + 33] = 0x02; buf[l3 + 34] = 0xff; buf[l3 + 35] = 0xff;
    } else {
      const sport = 1024 + f;
      buf[l3 + 20] = sport >> 8; buf[l3 + 21] = sport & 255; buf[l3 + 23] = 9; buf[l3 + 25] = 26; // UDP csum 0: none
      fillIpv4HeaderChecksum(buf, l3);
    }
  }
  const tx = new TxBatch(256, 64);
  const end = performance.now() + seconds * 1000;
  let f = 0, n = 0;
  while (performance.now() < end) {
    tx.clear();
    for (let i = 0; i < 256; i++) {
      if (syn) {
        // a new client for every SYN: address 10.91.0.10-249, port 1024-65023
        const o = i * 64, l3 = o + 14;
        buf[l3 + 15] = 10 + (n % 240);
        const sport = 1024 + (Math.floor(n / 240) % 64000);
        buf[l3 + 20] = sport >> 8; buf[l3 + 21] = sport & 255;
        fillIpv4HeaderChecksum(buf, l3);
        wr16(buf, l3 + 36, l4Checksum(buf, 4, l3 + 12, l3 + 16, 6, l3 + 20, 20, l3 + 36));
        tx.add(buf, o, len, 0);
        n++;
      } else { tx.add(buf, f * 64, len, 0); f = (f + 1) % FLOWS; }
    }
    io.transmit(tx);
  }
  process.stdout.write(`${JSON.stringify({ sent: io.txFrames, errors: io.txErrors })}\n`);
  io.close();
}

if (process.argv[2] === 'gen') {
  const [, , , mode, ifname, mac, src, dst, sec] = process.argv;
  generator(mode!, ifname!, mac!, src!, dst!, Number(sec));
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
    interfaces: ['d0', ...lab.r.map((_, i) => `d${i + 1}`)], workers, maxConnections: 1 << 22,
    services: [
      { protocol: 'udp', address: VIP.nat, port: 9, scheduler: 'rr', forward: 'nat', reals: reals(9) },
      { protocol: 'udp', address: VIP.dr, port: 9, scheduler: 'rr', forward: 'dr', reals: reals(9) },
      { protocol: 'tcp', address: VIP.nat, port: 80, scheduler: 'rr', forward: 'nat', reals: reals(80) },
      { protocol: 'tcp', address: VIP.dr, port: 80, scheduler: 'rr', forward: 'dr', reals: reals(80) },
    ],
  };
}

/** Packets the real servers' ingress sinks counted (and dropped): table `sink` for UDP, `synsink` for SYNs. */
function sinkCount(table: string): number {
  let n = 0;
  for (const ns of lab.r) {
    const j = JSON.parse(lab.exec(ns, 'nft', '-j', 'list', 'table', 'netdev', table)) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] };
    for (const x of j.nftables) for (const e of x.rule?.expr ?? []) if (e.counter) n += e.counter.packets;
  }
  return n;
}

function genRun(mode: 'udp' | 'syn', vip: string, d0mac: string): { pps: number; offered: number } {
  const table = mode === 'udp' ? 'sink' : 'synsink';
  const before = sinkCount(table);
  const out = lab.exec(lab.c, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/bench/lab.ts'), 'gen', mode, 'c0', d0mac, CLIENT, vip, String(SECONDS));
  const { sent } = JSON.parse(out) as { sent: number };
  return { pps: (sinkCount(table) - before) / SECONDS, offered: sent / SECONDS };
}

function tcpRun(vip: string): number {
  const out = lab.exec(lab.c, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lab-rs.ts'), 'clientfor', `http://${vip}/`, String(SECONDS), '16');
  const r = JSON.parse(out) as { ok: number; errors: number; seconds: number };
  return r.errors > r.ok / 100 ? 0 : r.ok / r.seconds;
}

interface Row { label: string; udp: number[]; offered: number[]; syn: number[]; synOffered: number[]; tcp: number[] }
const rows = new Map<string, Row>();
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(label: string, vip: string, d0mac: string): Promise<void> {
  let row = rows.get(label);
  if (!row) rows.set(label, row = { label, udp: [], offered: [], syn: [], synOffered: [], tcp: [] });
  const u = genRun('udp', vip, d0mac);
  row.udp.push(u.pps); row.offered.push(u.offered);
  await pause(1500); // let the backlog drain
  const y = genRun('syn', vip, d0mac);
  row.syn.push(y.pps); row.synOffered.push(y.offered);
  await pause(1500);
  const t = tcpRun(vip);
  row.tcp.push(t);
  process.stdout.write(`  ${label.padEnd(28)} udp ${Math.round(u.pps)} pps (offered ${Math.round(u.offered)})  syn ${Math.round(y.pps)}/s (offered ${Math.round(y.offered)})  http ${Math.round(t)} conn/s   [load ${load()}]\n`);
}

const KERNEL = 'kernel nftables DNAT (rr)';
const kernelOn = (): void => {
  execFileSync('ip', ['netns', 'exec', lab.d, 'nft', '-f', '-'], {
    input: `table ip kbench {\n chain pre { type nat hook prerouting priority -100; ip daddr ${VIP.nat} dnat to numgen inc mod 3 map { 0 : ${RIP(1)}, 1 : ${RIP(2)}, 2 : ${RIP(3)} }; }\n}\n`,
  });
};
const kernelOff = (): void => {
  lab.exec(lab.d, 'nft', 'delete', 'table', 'ip', 'kbench');
  lab.exec(lab.d, 'sh', '-c', 'command -v conntrack >/dev/null && conntrack -F >/dev/null 2>&1; true');
};

let failed = false;
try {
  process.stdout.write(`bench: ${SECONDS}s windows, ${RUNS} runs each (medians); load before: ${load()}; busiest processes: ${busy()}\n`);
  await lab.build();
  for (const ns of lab.r) {
    execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: 'table netdev sink {\n chain in { type filter hook ingress device "r0" priority 0; udp dport 9 counter drop; }\n}\n' });
    // the SYN generator's clients (10.91.0.10-249), not the HTTP client (10.91.0.2)
    execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: `table netdev synsink {\n chain in { type filter hook ingress device "r0" priority 1; ip saddr != ${CLIENT} tcp dport 80 counter drop; }\n}\n` });
  }
  const d0mac = lab.exec(lab.d, 'cat', '/sys/class/net/d0/address').trim();
  // Warm the real servers' HTTP code first, then interleave kernel and lvsd runs so that
  // drift on this shared box (other load, JIT, caches) falls on both alike.
  kernelOn();
  lab.exec(lab.c, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lab-rs.ts'), 'clientfor', `http://${VIP.nat}/`, '2', '16');
  kernelOff();
  for (let run = 1; run <= RUNS; run++) {
    process.stdout.write(`run ${run}/${RUNS}\n`);
    kernelOn();
    await measure(KERNEL, VIP.nat, d0mac);
    kernelOff();
    for (const workers of [1, 2]) {
      await lab.startDaemon(lab.writeConfig(benchConfig(workers), `bench${workers}.config.ts`));
      await measure(`lvsd NAT, ${workers} worker${workers > 1 ? 's' : ''}`, VIP.nat, d0mac);
      await measure(`lvsd DR, ${workers} worker${workers > 1 ? 's' : ''}`, VIP.dr, d0mac);
      await lab.stopDaemon();
      if (run === RUNS) process.stdout.write(lab.daemonLog.split('\n').filter((l) => /afpacket worker/.test(l)).map((l) => `    ${l}\n`).join(''));
    }
  }
  const all = [...rows.values()];
  process.stdout.write('\nmedians:\n');
  for (const r of all) {
    process.stdout.write(`  ${r.label.padEnd(28)} udp ${Math.round(median(r.udp))} pps (offered ${Math.round(median(r.offered))})  syn ${Math.round(median(r.syn))}/s (offered ${Math.round(median(r.synOffered))})  http ${Math.round(median(r.tcp))} conn/s\n`);
  }
  const k = rows.get(KERNEL)!;
  process.stdout.write('\nratios to kernel nftables DNAT (medians):\n');
  for (const r of all.slice(1)) {
    process.stdout.write(`  ${r.label.padEnd(24)} udp ${(median(r.udp) / median(k.udp)).toFixed(2)}x   tcp syn/s ${(median(r.syn) / median(k.syn)).toFixed(2)}x   http conn/s ${(median(r.tcp) / median(k.tcp)).toFixed(2)}x\n`);
  }
  const w1 = rows.get('lvsd NAT, 1 worker'), w2 = rows.get('lvsd NAT, 2 workers');
  if (w1 && w2) process.stdout.write(`  scaling NAT udp 1 -> 2 workers: ${(median(w2.udp) / median(w1.udp)).toFixed(2)}x\n`);
  process.stdout.write(`load after: ${load()}; busiest processes: ${busy()}\n`);
} catch (e) {
  failed = true;
  process.stderr.write(`bench failed: ${(e as Error).message}\n${lab.daemonLog}\n`);
} finally {
  await teardown();
}
process.exit(failed ? 1 : 0);

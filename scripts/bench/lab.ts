// `npm run bench` (root): lvsd --io afpacket against the kernel's own
// forwarding of the same traffic, in the namespace lab (scripts/lab-net.ts).
// Rows (--rows):
//   * udp: small UDP packets/s. A generator in the client namespace (AF_PACKET +
//     sendmmsg, 60-byte frames, 4096 flows) sends to VIP:9 as fast as it can;
//     "delivered" is what the real servers' netdev-ingress counters saw.
//   * syn: TCP SYNs/s, the same generator, each SYN from a new client address and
//     port (10.91.0.10-249 × 64000 ports), so every one makes the director
//     schedule and create a connection (the kernel: a conntrack entry and a DNAT
//     binding); delivered as for UDP. The director's connection-setup capacity.
//   * http: complete HTTP GETs with the server closing, 16 in flight, from a node
//     client to the node HTTP servers on the real servers.
//   * nat-down, nat-up, dr-up, tun-up: bulk TCP, STREAMS parallel streams for
//     --bulk-seconds between the client and real server 1 (scripts/bench/traffic.ts
//     `server`), payload Gb/s; each stream's byte count is checked against the
//     other end's, and a stream without progress for --stall seconds fails the run.
// Kernel baselines, in the same lab with lvsd stopped: the small rows and NAT bulk
// rows through nftables DNAT with conntrack (small rows `dnat to numgen inc mod 3`
// over the 3 real servers as before; bulk to real server 1 only, as lvsd's bulk
// services have one real). DR and TUN bulk rows: the kernel's plain IP forwarding
// of the client's stream to real server 1's own address (no NAT rule): what a
// director that only routes does, and the kernel here has no IPIP to tunnel with.
//
// CPU: each measurement window's CPU time of the whole machine (/proc/stat: user
// + nice + system + irq + softirq + steal) and the director's forwarded frames
// (the sum of tx packets and bytes of its links d0-dN, read from /proc/<pid>/net/dev
// of a process in the director namespace: the same counters as its
// /sys/class/net/*/statistics) are sampled by the agent in the client namespace
// right before the first packet and right after the last, for lvsd and the kernel alike.
//
// Each run measures every selected row for the kernel and for lvsd with each
// --workers count, in an order rotated from run to run so that drift on this
// shared box falls on all alike; figures are medians over the runs.
//
//   npm run bench [-- --rows all|small|bulk|udp,syn,http,nat-down,nat-up,dr-up,tun-up]
//                 [--offloads default|off] [--repeat 3] [--workers 1,2] [--seconds 3]
//                 [--bulk-seconds 4] [--streams 4] [--stall 3]

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { CLIENT, Lab, RIP, ROOT, VIP, cleanupStale, ensureNft, labUnavailable, offloadsOffUnavailable } from '../lab-net.js';
import type { BulkReply, Cmd, ErrorReply, GenReply, HttpReply, Win } from './traffic.js';

const SMALL = ['udp', 'syn', 'http'] as const;
const BULK = ['nat-down', 'nat-up', 'dr-up', 'tun-up'] as const;
type RowName = typeof SMALL[number] | typeof BULK[number];
const ALL: readonly RowName[] = [...BULK, ...SMALL];
const BULK_PORT = 5001;

function usage(msg: string): never {
  process.stderr.write(`bench: ${msg}\nusage: npm run bench -- [--rows all|small|bulk|${ALL.join(',')}] [--offloads default|off] [--repeat N] [--workers 1,2] [--seconds S] [--bulk-seconds S] [--streams N] [--stall S]\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: 'all' },
    offloads: { type: 'string', default: 'default' },
    repeat: { type: 'string' },
    runs: { type: 'string' }, // the older name of --repeat
    workers: { type: 'string', default: '1,2' },
    seconds: { type: 'string', default: '3' },
    'bulk-seconds': { type: 'string', default: '4' },
    streams: { type: 'string', default: '4' },
    stall: { type: 'string', default: '3' },
  },
});
const num = (name: string, v: string | undefined, min: number): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) usage(`--${name} wants a number ≥ ${min}, not ${v}`);
  return n;
};
const REPEAT = Math.floor(num('repeat', values.repeat ?? values.runs ?? '3', 1));
const SECONDS = num('seconds', values.seconds, 0.5);
const BULK_SECONDS = num('bulk-seconds', values['bulk-seconds'], 0.5);
const STREAMS = Math.floor(num('streams', values.streams, 1));
const STALL = num('stall', values.stall, 0.5);
const WORKERS = values.workers.split(',').map((w) => Math.floor(num('workers', w, 1)));
const OFFLOADS = values.offloads;
if (OFFLOADS !== 'default' && OFFLOADS !== 'off') usage(`--offloads is default or off, not ${OFFLOADS}`);
const ROWS: RowName[] = [];
for (const r of values.rows.split(',')) {
  const add = r === 'all' ? ALL : r === 'small' ? SMALL : r === 'bulk' ? BULK : (ALL as readonly string[]).includes(r) ? [r as RowName] : usage(`no row ${r}`);
  for (const x of add) if (!ROWS.includes(x)) ROWS.push(x);
}
ROWS.sort((a, b) => ALL.indexOf(a) - ALL.indexOf(b));
const rowsOf = <T extends RowName>(set: readonly T[]): T[] => set.filter((r) => ROWS.includes(r));

ensureNft((l) => process.stdout.write(`bench: ${l}\n`));
const why = labUnavailable() ?? (OFFLOADS === 'off' ? offloadsOffUnavailable() : null);
if (why) { process.stderr.write(`bench: ${why}\n`); process.exit(1); }
cleanupStale();

const say = (s: string): void => { process.stdout.write(`${s}\n`); };
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const HZ = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function busy(): string {
  // other processes using CPU right now (the box is shared): top 5 by %CPU
  const out = execFileSync('ps', ['-eo', 'pid,pcpu,comm', '--sort=-pcpu'], { encoding: 'utf8' }).split('\n').slice(1, 6);
  return out.map((l) => l.trim()).filter(Boolean).join('; ');
}

// ------------------------------------------------------------ helpers in the namespaces

/** A traffic.ts process in a namespace: one JSON line per command, answered in order. */
class Helper {
  private waiting: ((line: string) => void)[] = [];
  private exited = false;
  private constructor(readonly name: string, readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (l) => this.waiting.shift()?.(l));
    proc.once('exit', () => { this.exited = true; for (const w of this.waiting.splice(0)) w(''); });
  }

  static async start(ns: string, args: string[]): Promise<Helper> {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/bench/traffic.ts'), ...args],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    const h = new Helper(`${args[0]} in ${ns}`, p);
    const ready = await h.next(30_000);
    if (ready !== 'ready') throw new Error(`${h.name} did not start`);
    return h;
  }

  private next(ms: number): Promise<string> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    return new Promise((res, rej) => {
      const t = setTimeout(() => { this.waiting = this.waiting.filter((w) => w !== got); rej(new Error(`${this.name}: no answer in ${ms / 1000} s`)); }, ms);
      const got = (line: string): void => { clearTimeout(t); if (this.exited && line === '') rej(new Error(`${this.name} has exited`)); else res(line); };
      this.waiting.push(got);
    });
  }

  /** Runs one command; `ms` bounds the wait (the helper's own timeouts come first). */
  async ask<T>(cmd: Cmd, ms: number): Promise<T> {
    const answer = this.next(ms);
    this.proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
    const r = JSON.parse(await answer) as T | ErrorReply;
    if (typeof r === 'object' && r !== null && 'error' in r) throw new Error(`${this.name}: ${r.error}`);
    return r as T;
  }

  kill(): void { if (!this.exited) this.proc.kill('SIGKILL'); }
}

// ------------------------------------------------------------ the lab

const lab = new Lab();
let agent: Helper | null = null;
let server: Helper | null = null;
let anchor: ChildProcess | null = null;
let torn: Promise<void> | null = null;
const teardown = (): Promise<void> => (torn ??= (async () => {
  agent?.kill(); server?.kill();
  if (anchor && anchor.exitCode === null) anchor.kill('SIGKILL');
  await lab.teardown(); // stops lvsd, kills what is left in the namespaces, deletes them
})());
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`bench: ${sig}: tearing the lab down\n`);
    void teardown().then(() => process.exit(130));
  });
}

function benchConfig(workers: number): object {
  const reals = (port: number) => lab.r.map((_, i) => ({ address: RIP(i + 1), port }));
  const bulk = (vip: string, forward: string) => ({ protocol: 'tcp', address: vip, port: BULK_PORT, scheduler: 'rr', forward, reals: [{ address: RIP(1), port: BULK_PORT }] });
  return {
    interfaces: ['d0', ...lab.r.map((_, i) => `d${i + 1}`)], workers, maxConnections: 1 << 22,
    services: [
      { protocol: 'udp', address: VIP.nat, port: 9, scheduler: 'rr', forward: 'nat', reals: reals(9) },
      { protocol: 'udp', address: VIP.dr, port: 9, scheduler: 'rr', forward: 'dr', reals: reals(9) },
      { protocol: 'tcp', address: VIP.nat, port: 80, scheduler: 'rr', forward: 'nat', reals: reals(80) },
      { protocol: 'tcp', address: VIP.dr, port: 80, scheduler: 'rr', forward: 'dr', reals: reals(80) },
      bulk(VIP.nat, 'nat'), bulk(VIP.dr, 'dr'), bulk(VIP.tun, 'tun'),
    ],
  };
}

const kernelOn = (): void => {
  // bulk NAT to real server 1 (where the bulk peer runs), everything else to VIP.nat over the 3 as before
  execFileSync('ip', ['netns', 'exec', lab.d, 'nft', '-f', '-'], {
    input: `table ip kbench {\n chain pre { type nat hook prerouting priority -100;\n  ip daddr ${VIP.nat} tcp dport ${BULK_PORT} dnat to ${RIP(1)};\n  ip daddr ${VIP.nat} dnat to numgen inc mod 3 map { 0 : ${RIP(1)}, 1 : ${RIP(2)}, 2 : ${RIP(3)} };\n }\n}\n`,
  });
};
const kernelOff = (): void => {
  lab.exec(lab.d, 'nft', 'delete', 'table', 'ip', 'kbench');
  lab.exec(lab.d, 'sh', '-c', 'command -v conntrack >/dev/null && conntrack -F >/dev/null 2>&1; true');
};

/** Packets the real servers' ingress sinks counted (and dropped): table `sink` for UDP, `synsink` for SYNs. */
function sinkCount(table: string): number {
  let n = 0;
  for (const ns of lab.r) {
    const j = JSON.parse(lab.exec(ns, 'nft', '-j', 'list', 'table', 'netdev', table)) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] };
    for (const x of j.nftables) for (const e of x.rule?.expr ?? []) if (e.counter) n += e.counter.packets;
  }
  return n;
}

// ------------------------------------------------------------ measurements

/**
 * Packets real server 1's IPIP sockets dropped (their receive queue full): the lab's userspace decapsulator
 * (lab-rs.ts) falling behind. /proc/<pid>/net/raw of the bulk server, which lives in that namespace.
 */
function decapDrops(): number {
  let n = 0;
  for (const l of readFileSync(`/proc/${server!.proc.pid}/net/raw`, 'utf8').split('\n').slice(1)) {
    const f = l.trim().split(/\s+/);
    if (f[1]?.endsWith(':0004')) n += Number(f.at(-1)) || 0;
  }
  return n;
}

/** One measurement: its rate (null: failed, and why), and its window's CPU and forwarded frames. */
interface Point { rate: number | null; why?: string; offered?: number; win: Win; note?: string }
interface Series { row: RowName; path: string; points: Point[] }
const series = new Map<string, Series>();
const record = (row: RowName, path: string, p: Point): void => {
  const k = `${row}|${path}`;
  let s = series.get(k);
  if (!s) series.set(k, s = { row, path, points: [] });
  s.points.push(p);
};

const cpuSec = (w: Win): number => w.busy / HZ;
const usPerPkt = (w: Win): number => (w.txPackets > 0 ? (cpuSec(w) * 1e6) / w.txPackets : NaN);
const nsPerByte = (w: Win): number => (w.txBytes > 0 ? (cpuSec(w) * 1e9) / w.txBytes : NaN);
const cores = (w: Win): number => (w.sec > 0 ? cpuSec(w) / w.sec : NaN);

const UNIT: Record<RowName, string> = { udp: 'pps', syn: 'SYN/s', http: 'conn/s', 'nat-down': 'Gb/s', 'nat-up': 'Gb/s', 'dr-up': 'Gb/s', 'tun-up': 'Gb/s' };
const fmtRate = (row: RowName, v: number): string => (UNIT[row] === 'Gb/s' ? `${v.toFixed(2)} Gb/s` : v >= 10_000 ? `${Math.round(v / 1000)} k ${UNIT[row]}` : `${Math.round(v)} ${UNIT[row]}`);
const fmtK = (v: number): string => (!Number.isFinite(v) ? '–' : v >= 10_000 ? `${Math.round(v / 1000)} k` : v >= 1000 ? `${(v / 1000).toFixed(1)} k` : `${Math.round(v)}`);
const fmtWin = (w: Win): string => `CPU ${cores(w).toFixed(2)} cores, ${usPerPkt(w).toFixed(2)} µs/pkt, ${nsPerByte(w).toFixed(2)} ns/B, fwd ${fmtK(w.txPackets / w.sec)} pkt/s`;

let d0mac = '';

async function measure(row: RowName, path: string, target: string): Promise<void> {
  let p: Point;
  if (row === 'udp' || row === 'syn') {
    const table = row === 'udp' ? 'sink' : 'synsink';
    const before = sinkCount(table);
    const r = await agent!.ask<GenReply>({ cmd: 'gen', mode: row, ifname: 'c0', dstMac: d0mac, src: CLIENT, dst: target, seconds: SECONDS }, SECONDS * 1000 + 30_000);
    p = { rate: (sinkCount(table) - before) / r.win.sec, offered: r.sent / r.win.sec, win: r.win };
    await pause(1000); // let the backlog drain
  } else if (row === 'http') {
    const r = await agent!.ask<HttpReply>({ cmd: 'http', url: `http://${target}/`, seconds: SECONDS, conc: 16 }, SECONDS * 1000 + 30_000);
    p = r.errors > r.ok / 100 ? { rate: null, why: `${r.errors} errors, ${r.ok} answers`, win: r.win } : { rate: r.ok / r.win.sec, win: r.win };
  } else {
    const id = `${row}-${path.replace(/\W+/g, '')}-${Date.now()}`;
    const drops0 = row === 'tun-up' ? decapDrops() : 0;
    const r = await agent!.ask<BulkReply>({ cmd: 'bulk', dir: row === 'nat-down' ? 'down' : 'up', host: target, port: BULK_PORT, streams: STREAMS, seconds: BULK_SECONDS, stall: STALL, id },
      BULK_SECONDS * 1000 + 45_000);
    p = r.failed ? { rate: null, why: r.failed, win: r.win } : { rate: (r.bytes * 8) / r.win.sec / 1e9, win: r.win };
    if (row === 'tun-up' && path !== KERNEL) p.note = `real 1's IPIP decapsulator dropped ${decapDrops() - drops0} packets`;
    await pause(500); // the streams' FIN/TIME_WAIT exchanges out of the next window
  }
  record(row, path, p);
  const what = p.rate === null ? `FAILED (${p.why})` : `${fmtRate(row, p.rate)}${p.offered !== undefined ? ` (offered ${fmtRate(row, p.offered)})` : ''}`;
  say(`  ${row.padEnd(8)} ${path.padEnd(22)} ${what.padEnd(38)} ${p.win.sec > 0 ? fmtWin(p.win) : ''}   [load ${load()}]${p.note ? `\n${' '.repeat(33)}(${p.note})` : ''}`);
}

const KERNEL = 'kernel';
const lvsdPath = (fwd: string, w: number): string => `lvsd ${fwd}, ${w} worker${w > 1 ? 's' : ''}`;
const BULK_TARGET: Record<typeof BULK[number], { lvsd: string; kernel: string; fwd: string }> = {
  'nat-down': { lvsd: VIP.nat, kernel: VIP.nat, fwd: 'NAT' },
  'nat-up': { lvsd: VIP.nat, kernel: VIP.nat, fwd: 'NAT' },
  'dr-up': { lvsd: VIP.dr, kernel: RIP(1), fwd: 'DR' },
  'tun-up': { lvsd: VIP.tun, kernel: RIP(1), fwd: 'TUN' },
};

async function kernelSide(): Promise<void> {
  kernelOn();
  try {
    for (const row of rowsOf(BULK)) {
      // dr-up and tun-up have the same kernel baseline (forwarding to real 1): measured once, counted for both
      const twin = row === 'tun-up' && ROWS.includes('dr-up') ? series.get(`dr-up|${KERNEL}`)?.points.at(-1) : undefined;
      if (twin) { record(row, KERNEL, twin); say(`  ${row.padEnd(8)} ${KERNEL.padEnd(22)} (the dr-up kernel measurement: the same forwarding)`); }
      else await measure(row, KERNEL, BULK_TARGET[row].kernel);
    }
    for (const row of rowsOf(SMALL)) await measure(row, KERNEL, VIP.nat);
  } finally { kernelOff(); }
}

async function lvsdSide(workers: number, last: boolean): Promise<void> {
  await lab.startDaemon(lab.writeConfig(benchConfig(workers), `bench${workers}.config.ts`));
  try {
    for (const row of rowsOf(BULK)) await measure(row, lvsdPath(BULK_TARGET[row].fwd, workers), BULK_TARGET[row].lvsd);
    for (const [fwd, vip] of [['NAT', VIP.nat], ['DR', VIP.dr]] as const) {
      for (const row of rowsOf(SMALL)) await measure(row, lvsdPath(fwd, workers), vip);
    }
    if (last && rowsOf(BULK).length > 0) {
      // the bulk services' counters: connections, packets and bytes lvsd forwarded for them
      let inBulk = false;
      const stats = lab.lvsadm('-L', '-n', '--stats').split('\n').filter((l, i) => {
        if (!l.startsWith('  ->')) inBulk = l.includes(`:${BULK_PORT} `);
        return i < 3 || inBulk;
      });
      say(`    lvsadm -L -n --stats (bulk services, ${workers} worker${workers > 1 ? 's' : ''}):`);
      for (const l of stats) say(`      ${l}`);
    }
  } finally {
    await lab.stopDaemon();
    // the kernel rows that follow need the VIPs back: a stop keeps lvsd's takeover for a restart
    lab.releaseDaemon();
    // the workers' exit lines: frames, tx errors, oversize (super-frames cut to the ring slot), ring drops
    for (const l of lab.daemonLog.split('\n').filter((x) => /afpacket worker/.test(x))) say(`    ${l.trim()}`);
  }
}

// ------------------------------------------------------------ report

function ethtoolState(): string {
  try {
    const k = lab.exec(lab.d, 'ethtool', '-k', 'd0');
    const get = (name: string): string => new RegExp(`^${name}: (\\w+)`, 'm').exec(k)?.[1] ?? '?';
    return `director d0: tso ${get('tcp-segmentation-offload')}, gso ${get('generic-segmentation-offload')}, gro ${get('generic-receive-offload')}, tx-csum ${get('tx-checksumming')}, rx-csum ${get('rx-checksumming')}`;
  } catch { return 'director d0: ethtool -k unavailable'; }
}

const BASELINE: Record<RowName, string> = {
  udp: 'nftables DNAT (numgen over 3 reals), conntrack', syn: 'nftables DNAT (numgen over 3 reals), conntrack',
  http: 'nftables DNAT (numgen over 3 reals), conntrack', 'nat-down': 'nftables DNAT to real 1, conntrack',
  'nat-up': 'nftables DNAT to real 1, conntrack', 'dr-up': 'plain IP forwarding, client → real 1 (no NAT)',
  'tun-up': 'plain IP forwarding, client → real 1 (no NAT, no tunnel)',
};

function report(): void {
  const fx = (v: number, d: number): string => (Number.isFinite(v) ? v.toFixed(d) : '–');
  const lines: string[] = [
    '| row | path | result (median) | vs kernel | CPU busy (cores) | fwd packets/s | CPU-µs / fwd packet | vs kernel | CPU-ns / fwd byte | vs kernel | runs ok |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of ROWS) {
    const all = [...series.values()].filter((s) => s.row === row);
    const med = (s: Series | undefined, f: (p: Point) => number): number => {
      const ok = s?.points.filter((p) => p.rate !== null) ?? [];
      return ok.length ? median(ok.map(f)) : NaN;
    };
    const k = all.find((s) => s.path === KERNEL);
    const kRate = med(k, (p) => p.rate!), kPkt = med(k, (p) => usPerPkt(p.win)), kByte = med(k, (p) => nsPerByte(p.win));
    for (const s of all) {
      const ok = s.points.filter((p) => p.rate !== null).length;
      const rate = med(s, (p) => p.rate!), pkt = med(s, (p) => usPerPkt(p.win)), byte = med(s, (p) => nsPerByte(p.win));
      const isK = s.path === KERNEL;
      const ratio = (a: number, b: number): string => (isK ? '1.00' : fx(a / b, 2));
      const offered = med(s, (p) => p.offered ?? NaN);
      const result = !ok ? '**failed**' : Number.isFinite(offered) ? `${fmtRate(row, rate)} (offered ${fmtK(offered)})` : fmtRate(row, rate);
      lines.push(`| ${row} | ${isK ? `kernel: ${BASELINE[row]}` : s.path} | ${result} | ${ok ? ratio(rate, kRate) : '–'} | ${fx(med(s, (p) => cores(p.win)), 2)} | ${ok ? fmtK(med(s, (p) => p.win.txPackets / p.win.sec)) : '–'} | ${fx(pkt, 2)} | ${ok ? ratio(pkt, kPkt) : '–'} | ${fx(byte, 2)} | ${ok ? ratio(byte, kByte) : '–'} | ${ok}/${s.points.length} |`);
    }
  }
  say('\nmarkdown (medians over the runs that did not fail):\n');
  for (const l of lines) say(l);
  const failures = [...series.values()].flatMap((s) => s.points.filter((p) => p.rate === null).map((p) => `${s.row} ${s.path}: ${p.why}`));
  if (failures.length) { say('\nfailed runs:'); for (const f of failures) say(`  ${f}`); }
  say(`
notes:
  * CPU = the whole machine's CPU time (/proc/stat user+nice+system+irq+softirq+steal, all ${cpus().length} cores, USER_HZ ${HZ}) over the
    measurement window; fwd = the director's forwarded frames in the same window: the sum of tx_packets / tx_bytes of its
    links d0-d${lab.r.length} (/proc/<pid>/net/dev of a process in the director namespace, = /sys/class/net/*/statistics there;
    Ethernet frame bytes; a GSO super-frame counts as one packet, so with offloads on, CPU per byte is the figure to
    compare for bulk rows). Both directions count: in this lab the real servers route via the director, so DR/TUN
    replies and ACKs are forwarded by the director's kernel, for lvsd rows as for kernel rows. Generator, real servers
    and clients share the machine and are inside the CPU figure for lvsd and the kernel alike.
  * The kernel's small-packet rows (udp, syn) are bounded by the generator: its DNAT runs in the sender's softirq, on
    the generator's own time, so its packet rate says little of its capacity; CPU per forwarded packet is the honest comparison.
  * Bulk rows: ${STREAMS} TCP streams for ${BULK_SECONDS} s between the client and real server 1, payload Gb/s; every stream's byte
    count checked against the other end's. TUN: the real server decapsulates IPIP in userspace (scripts/lab-rs.ts, node raw
    sockets; this kernel has no ipip), which bounds the lvsd TUN row and is inside its CPU figure; the kernel row needs none.
  * "vs kernel" for CPU: lvsd's CPU per forwarded packet or byte over the kernel's (below 1: lvsd spends less).`);
}

// ------------------------------------------------------------ main

let failed = false;
try {
  say(`bench: ${['npm run bench --', ...process.argv.slice(2)].join(' ')}   (node ${process.argv.slice(1).join(' ')})`);
  say(`bench: ${new Date().toISOString()}, Linux ${release()}, node ${process.version}, ${cpus().length} CPUs, offloads ${OFFLOADS}, load average ${load()}`);
  say(`bench: rows ${ROWS.join(',')}; lvsd workers ${WORKERS.join(',')}; ${REPEAT} runs; small windows ${SECONDS} s; bulk ${STREAMS} streams × ${BULK_SECONDS} s, stall limit ${STALL} s`);
  say(`bench: busiest processes: ${busy()}`);
  await lab.build({ offloads: OFFLOADS });
  say(`bench: ${ethtoolState()}`);
  for (const ns of lab.r) {
    execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: 'table netdev sink {\n chain in { type filter hook ingress device "r0" priority 0; udp dport 9 counter drop; }\n}\n' });
    // the SYN generator's clients (10.91.0.10-249), not the HTTP client (10.91.0.2)
    execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: `table netdev synsink {\n chain in { type filter hook ingress device "r0" priority 1; ip saddr != ${CLIENT} tcp dport 80 counter drop; }\n}\n` });
  }
  // the kernel's DR/TUN baseline: the client reaches real server 1's own address through the director
  lab.ip(lab.c, 'route', 'add', `${RIP(1)}/32`, 'via', '10.91.0.1');
  d0mac = lab.exec(lab.d, 'cat', '/sys/class/net/d0/address').trim();
  // a process that lives in the director namespace, for its /proc/<pid>/net/dev (ip netns exec execs sleep: same pid)
  anchor = spawn('ip', ['netns', 'exec', lab.d, 'sleep', 'infinity'], { stdio: 'ignore' });
  server = await Helper.start(lab.r[0]!, ['server', String(BULK_PORT)]);
  agent = await Helper.start(lab.c, ['agent', String(anchor.pid)]);
  // Warm the real servers' HTTP code and the bulk peer through the kernel first
  kernelOn();
  if (ROWS.includes('http')) await agent.ask<HttpReply>({ cmd: 'http', url: `http://${VIP.nat}/`, seconds: 2, conc: 16 }, 40_000);
  if (rowsOf(BULK).length) await agent.ask<BulkReply>({ cmd: 'bulk', dir: 'up', host: VIP.nat, port: BULK_PORT, streams: STREAMS, seconds: 1, stall: STALL, id: 'warm' }, 60_000);
  kernelOff();
  for (let run = 1; run <= REPEAT; run++) {
    say(`run ${run}/${REPEAT}`);
    const order: (number | 'kernel')[] = ['kernel', ...WORKERS];
    const k = (run - 1) % order.length;
    for (const side of [...order.slice(k), ...order.slice(0, k)]) {
      if (interrupted) break;
      if (side === 'kernel') await kernelSide();
      else await lvsdSide(side, run === REPEAT);
    }
  }
  if (!interrupted) report();
  say(`\nload after: ${load()}; busiest processes: ${busy()}`);
} catch (e) {
  failed = true;
  if (!interrupted) process.stderr.write(`bench failed: ${(e as Error).message}\n${lab.daemonLog}\n`);
} finally {
  await teardown();
}
process.exit(interrupted ? 130 : failed ? 1 : 0);

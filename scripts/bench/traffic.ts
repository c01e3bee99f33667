// `npm run bench`'s helpers, started once per bench in the lab's namespaces
// (`ip netns exec … node --import tsx scripts/bench/traffic.ts …`) so that no
// node start-up falls inside a measurement window:
//
//   agent DIRECTOR_PID   in the client namespace. Reads one JSON command per line
//       on stdin (UDP/SYN generator, HTTP connections, bulk TCP streams), runs it
//       and answers one JSON line. Each answer carries the measurement window:
//       the whole machine's CPU ticks (/proc/stat) and the director's interface
//       counters (/proc/DIRECTOR_PID/net/dev: /proc/<pid>/net shows the network
//       namespace of that pid, here a `sleep` in the director namespace), both
//       sampled by this process right before the first packet and right after the
//       last, so lvsd and the kernel are counted the same way in the same window.
//   server PORT   in a real server's namespace: the bulk TCP peer. A connection
//       opens with one line:
//         U ID            upload: the client sends until it half-closes; the
//                         server answers the byte count it got and closes
//         D ID SECONDS    download: the server sends for SECONDS, then closes
//         Q PREFIX        the bytes sent by the downloads whose ID starts with
//                         PREFIX, as JSON (the client checks what it got)

import { readFileSync } from 'node:fs';
import { connect, createServer, type NetConnectOpts, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { TxBatch } from '../../core/engine/batch.js';
import { AfPacketIo, interfaceInfo } from '../../core/engine/io/afpacket.js';
import { fillIpv4HeaderChecksum, l4Checksum, wr16 } from '../../core/packet/checksum.js';

/** One measurement window: seconds, CPU ticks (busy and all) and the director's forwarded frames. */
export interface Win { sec: number; busy: number; total: number; txPackets: number; txBytes: number }

export type Cmd =
  | { cmd: 'gen'; mode: 'udp' | 'syn'; ifname: string; dstMac: string; src: string; dst: string; seconds: number }
  | { cmd: 'http'; url: string; seconds: number; conc: number }
  | { cmd: 'bulk'; dir: 'up' | 'down'; host: string; port: number; streams: number; seconds: number; stall: number; id: string };

export interface GenReply { win: Win; sent: number; errors: number }
export interface HttpReply { win: Win; ok: number; errors: number }
/** `failed`: why the transfer does not count (stall, reset, byte counts that differ), or null. */
export interface BulkReply { win: Win; bytes: number; failed: string | null; perStream: number[] }
export interface ErrorReply { error: string }

interface Sample { t: number; busy: number; total: number; txPackets: number; txBytes: number }

/** The director's links: d0 towards the client, dN towards real server N. */
const DIRECTOR_LINK = /^d\d+$/;

function sample(anchor: number): Sample {
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user already)
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu;
  const busy = user + nice + system + irq + softirq + steal;
  let txPackets = 0, txBytes = 0;
  for (const line of readFileSync(`/proc/${anchor}/net/dev`, 'utf8').split('\n').slice(2)) {
    const [name, rest] = line.split(':');
    if (!name || rest === undefined || !DIRECTOR_LINK.test(name.trim())) continue;
    // receive: bytes packets errs drop fifo frame compressed multicast, then transmit: bytes packets …
    const f = rest.trim().split(/\s+/).map(Number);
    txBytes += f[8] ?? 0; txPackets += f[9] ?? 0;
  }
  return { t: performance.now(), busy, total: busy + idle + iowait, txPackets, txBytes };
}

function window(a: Sample, b: Sample): Win {
  return { sec: (b.t - a.t) / 1000, busy: b.busy - a.busy, total: b.total - a.total, txPackets: b.txPackets - a.txPackets, txBytes: b.txBytes - a.txBytes };
}

// ------------------------------------------------------------ UDP / SYN generator

const FLOWS = 4096;

/** 60-byte frames as fast as sendmmsg takes them: UDP to DST:9 over 4096 flows, or TCP SYNs to DST:80 each from a new client. */
function generator(c: Extract<Cmd, { cmd: 'gen' }>, anchor: number): GenReply {
  const info = interfaceInfo(c.ifname);
  const io = new AfPacketIo([{ name: c.ifname, ...info }], { ringBytes: 1 << 17, txBatch: 256 });
  const syn = c.mode === 'syn';
  const len = 60;
  const ip = (t: string) => t.split('.').map(Number);
  const frames = syn ? 256 : FLOWS;
  const buf = new Uint8Array(frames * 64);
  for (let f = 0; f < frames; f++) {
    const o = f * 64;
    buf.set(c.dstMac.split(':').map((x) => parseInt(x, 16)), o);
    buf.set(info.mac, o + 6);
    buf[o + 12] = 0x08; buf[o + 13] = 0;
    const l3 = o + 14;
    buf[l3] = 0x45; buf[l3 + 3] = syn ? 40 : 46; buf[l3 + 8] = 64; buf[l3 + 9] = syn ? 6 : 17;
    buf.set(ip(c.src), l3 + 12); buf.set(ip(c.dst), l3 + 16);
    if (syn) {
      buf[l3 + 23] = 80; buf[l3 + 24] = 0x12; buf[l3 + 32] = 0x50; buf[l3 + 33] = 0x02; buf[l3 + 34] = 0xff; buf[l3 + 35] = 0xff;
    } else {
      const sport = 1024 + f;
      buf[l3 + 20] = sport >> 8; buf[l3 + 21] = sport & 255; buf[l3 + 23] = 9; buf[l3 + 25] = 26; // UDP csum 0: none
      fillIpv4HeaderChecksum(buf, l3);
    }
  }
  const tx = new TxBatch(256, 64);
  const s0 = sample(anchor);
  const end = s0.t + c.seconds * 1000;
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
  const s1 = sample(anchor);
  const r = { win: window(s0, s1), sent: io.txFrames, errors: io.txErrors };
  io.close();
  return r;
}

// ------------------------------------------------------------ HTTP connections

/**
 * New connections for SECONDS at CONC in flight, as lab-rs.ts `clientfor` (a plain TCP
 * connection, an HTTP/1.0 GET, read to the end), with the window sampled here.
 */
async function http(c: Extract<Cmd, { cmd: 'http' }>, anchor: number): Promise<HttpReply> {
  const u = new URL(c.url);
  const port = Number(u.port || 80);
  const get = Buffer.from(`GET ${u.pathname} HTTP/1.0\r\nHost: ${u.host}\r\n\r\n`);
  let ok = 0, errors = 0;
  const s0 = sample(anchor);
  const end = s0.t + c.seconds * 1000;
  const one = (): Promise<void> => new Promise<void>((res) => {
    const s = connect({ host: u.hostname, port });
    let head = '';
    const t = setTimeout(() => s.destroy(new Error('timeout')), 3000);
    s.on('connect', () => s.write(get)); // the server closes first and keeps the TIME_WAIT, as with HTTP/1.1 close
    s.on('data', (d: Buffer) => { if (head.length < 12) head += d.toString('latin1', 0, 12); });
    s.on('end', () => { clearTimeout(t); s.end(); if (head.startsWith('HTTP/1.1 200')) ok++; else errors++; res(); });
    s.on('error', () => { clearTimeout(t); errors++; res(); });
  });
  const lane = async (): Promise<void> => { while (performance.now() < end) await one(); };
  await Promise.all(Array.from({ length: c.conc }, lane));
  return { win: window(s0, sample(anchor)), ok, errors };
}

// ------------------------------------------------------------ bulk TCP

const CHUNK = Buffer.alloc(256 << 10, 0x5a);
/** Enough queued in node that the kernel's socket buffer never waits for JavaScript. */
const HWM = 4 << 20;
/** Progress the streams together make in --stall seconds at the very least (1 MiB: 2.8 Mb/s over 3 s). */
const STALL_BYTES = 1 << 20;
/** After the senders stop, time for the last bytes (a stream in retransmission back-off) beyond --stall. */
const DRAIN_MS = 10_000;

function connectTimed(host: string, port: number, ms: number): Promise<Socket> {
  return new Promise((res, rej) => {
    // writableHighWaterMark reaches the stream.Duplex under net.Socket (not in @types/node's options)
    const opts: NetConnectOpts & { writableHighWaterMark: number } = { host, port, writableHighWaterMark: HWM };
    const s = connect(opts);
    const t = setTimeout(() => { s.destroy(); rej(new Error(`connect to ${host}:${port} timed out`)); }, ms);
    s.once('connect', () => { clearTimeout(t); res(s); });
    s.once('error', (e) => { clearTimeout(t); rej(e); });
  });
}

/**
 * Writes CHUNK to `s` until `until` (performance.now() ms), minding back-pressure, then calls
 * `finish`. `queued`: bytes handed to write(); `done`: bytes the kernel took (a write completed).
 */
function pump(s: Socket, until: number, queued: (n: number) => void, done: (n: number) => void, finish: () => void): void {
  const go = (): void => {
    while (performance.now() < until) {
      if (s.destroyed) return;
      queued(CHUNK.length);
      if (!s.write(CHUNK, (e) => { if (!e) done(CHUNK.length); })) { s.once('drain', go); return; }
    }
    finish();
  };
  go();
}

/**
 * STREAMS parallel TCP streams to HOST:PORT for SECONDS, uploads or downloads. Each
 * stream's bytes are checked against the other end's count; a stalled transfer, or one
 * not done 10 + STALL seconds after the senders stopped, ends as failed.
 */
async function bulk(c: Extract<Cmd, { cmd: 'bulk' }>, anchor: number): Promise<BulkReply> {
  const zero: Win = { sec: 0, busy: 0, total: 0, txPackets: 0, txBytes: 0 };
  let socks: Socket[];
  try {
    socks = await Promise.all(Array.from({ length: c.streams }, () => connectTimed(c.host, c.port, 3000)));
  } catch (e) { return { win: zero, bytes: 0, failed: `connect: ${(e as Error).message}`, perStream: [] }; }
  const n = c.streams;
  const got = new Array<number>(n).fill(0);      // download: bytes received; upload: bytes the kernel took (progress)
  const sent = new Array<number>(n).fill(0);     // upload: bytes handed to write(), all of which the server must get
  const peer = new Array<number>(n).fill(-1);    // upload: the server's count
  let failed: string | null = null;
  const s0 = sample(anchor);
  const until = s0.t + c.seconds * 1000;
  const ends = socks.map((s, i) => new Promise<void>((res) => {
    s.on('error', (e) => { failed ??= `stream ${i}: ${e.message}`; res(); });
    s.on('close', () => res());
    if (c.dir === 'down') {
      s.on('data', (d: Buffer) => { got[i]! += d.length; });
      s.on('end', () => { s.end(); res(); });
      s.write(`D ${c.id}-${i} ${c.seconds}\n`);
    } else {
      let answer = '';
      s.on('data', (d: Buffer) => { answer += d.toString('latin1'); });
      s.on('end', () => { peer[i] = /^\d+\n$/.test(answer) ? Number(answer) : -2; res(); });
      s.write(`U ${c.id}-${i}\n`);
      pump(s, until, (k) => { sent[i]! += k; }, (k) => { got[i]! += k; }, () => { s.end(); });
    }
  }));
  // A stall ends the run quickly: while the senders send, the streams together must move STALL_BYTES every
  // STALL seconds (an I/O path that drops GSO super-frames lets only the odd retransmitted segment through,
  // so "no byte at all" would wait for ever). Together, not each: on a lossy path (the lab's userspace IPIP
  // decapsulator drops when its socket queue overflows) one stream may starve in retransmission back-off
  // for seconds while the others move; it must still deliver all its bytes by the deadline.
  let mark = { t: s0.t, bytes: 0 };
  let watch: NodeJS.Timeout | undefined;
  const watchdog = new Promise<void>((res) => {
    watch = setInterval(() => {
      const now = performance.now();
      const moved = got.reduce((a, b) => a + b, 0);
      if (moved - mark.bytes >= STALL_BYTES) mark = { t: now, bytes: moved };
      else if (now < until && now - mark.t > c.stall * 1000) failed ??= `stalled: under ${STALL_BYTES >> 20} MB in ${c.stall} s over all streams`;
      if (now > until + DRAIN_MS + c.stall * 1000) failed ??= `not finished ${DRAIN_MS / 1000 + c.stall} s after the senders stopped`;
      if (failed) res();
    }, 100);
  });
  await Promise.race([Promise.all(ends), watchdog]);
  clearInterval(watch);
  const s1 = sample(anchor);
  for (const s of socks) s.destroy();
  const win = window(s0, s1);
  if (failed) return { win, bytes: 0, failed: `${failed} (streams: ${got.map((g) => (g / 1e6).toFixed(1)).join(' / ')} MB)`, perStream: got };
  // upload: every byte handed to write() must have reached the server
  if (c.dir === 'up') {
    const bad = peer.findIndex((p, i) => p !== sent[i]);
    if (bad >= 0) return { win, bytes: 0, failed: `stream ${bad}: sent ${sent[bad]} bytes, the server got ${peer[bad]}`, perStream: sent };
    return { win, bytes: sent.reduce((a, b) => a + b, 0), failed: null, perStream: sent };
  }
  // download: ask the server what it sent on each stream
  let theirs: Record<string, number>;
  try {
    const q = await connectTimed(c.host, c.port, 3000);
    theirs = await new Promise<Record<string, number>>((res, rej) => {
      let text = '';
      const t = setTimeout(() => { q.destroy(); rej(new Error('query timed out')); }, 3000);
      q.on('data', (d: Buffer) => { text += d.toString(); });
      q.on('end', () => { clearTimeout(t); try { res(JSON.parse(text) as Record<string, number>); } catch (e) { rej(e as Error); } });
      q.on('error', (e) => { clearTimeout(t); rej(e); });
      q.end(`Q ${c.id}-\n`);
    });
  } catch (e) { return { win, bytes: 0, failed: `byte count query: ${(e as Error).message}`, perStream: got }; }
  const bad = got.findIndex((g, i) => theirs[`${c.id}-${i}`] !== g);
  if (bad >= 0) return { win, bytes: 0, failed: `stream ${bad}: got ${got[bad]} bytes, the server sent ${theirs[`${c.id}-${bad}`]}`, perStream: got };
  return { win, bytes: got.reduce((a, b) => a + b, 0), failed: null, perStream: got };
}

function agent(anchor: number): void {
  const rl = createInterface({ input: process.stdin });
  // one command at a time, in order (the generator blocks the loop while it runs)
  let chain = Promise.resolve();
  rl.on('line', (line) => {
    chain = chain.then(async () => {
      let out: GenReply | HttpReply | BulkReply | ErrorReply;
      try {
        const c = JSON.parse(line) as Cmd;
        out = c.cmd === 'gen' ? generator(c, anchor) : c.cmd === 'http' ? await http(c, anchor) : await bulk(c, anchor);
      } catch (e) { out = { error: (e as Error).message }; }
      process.stdout.write(`${JSON.stringify(out)}\n`);
    });
  });
  rl.on('close', () => { void chain.then(() => process.exit(0)); });
  process.stdout.write('ready\n');
}

function server(port: number): void {
  /** Bytes sent by each download, by ID (kept for the next query; the oldest dropped past 10 000). */
  const sentBy = new Map<string, number>();
  createServer({ highWaterMark: HWM } as Parameters<typeof createServer>[0], (s) => {
    let head: Buffer | null = Buffer.alloc(0);
    let got = 0;
    s.on('error', () => { /* the client's business: it sees the same failure */ });
    s.on('data', (d: Buffer) => {
      if (head === null) { got += d.length; return; }
      head = Buffer.concat([head, d]);
      const nl = head.indexOf(10);
      if (nl < 0) { if (head.length > 256) s.destroy(); return; }
      const [op, id = '', secs] = head.subarray(0, nl).toString('latin1').split(' ');
      const rest = head.length - nl - 1;
      head = null;
      if (op === 'U') {
        got += rest;
        s.on('end', () => s.end(`${got}\n`));
      } else if (op === 'D') {
        let out = 0;
        pump(s, performance.now() + Number(secs) * 1000, (k) => { out += k; }, () => { /* the client counts */ }, () => {
          sentBy.set(id, out);
          if (sentBy.size > 10_000) sentBy.delete(sentBy.keys().next().value!);
          s.end();
        });
      } else if (op === 'Q') {
        const r: Record<string, number> = {};
        for (const [k, v] of sentBy) if (k.startsWith(id)) r[k] = v;
        s.end(JSON.stringify(r));
      } else s.destroy();
    });
  }).listen(port, '0.0.0.0', () => process.stdout.write('ready\n'));
}

const [mode, arg] = process.argv.slice(2);
if (mode === 'agent') agent(Number(arg));
else if (mode === 'server') server(Number(arg));
else { process.stderr.write('usage: traffic.ts agent DIRECTOR_PID | server PORT\n'); process.exit(2); }

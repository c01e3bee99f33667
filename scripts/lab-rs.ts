// Lab helpers run inside the lab's network namespaces (`ip netns exec`):
//   server NAME   a real server: HTTP on :80 answering "NAME", UDP on :7000
//                 answering "NAME", and (this kernel has no IPIP module) an
//                 IPIP decapsulator: a raw IPPROTO_IPIP socket takes the
//                 tunnelled packets (the kernel then sends no "protocol
//                 unreachable") and re-injects the inner packet through an
//                 IPPROTO_RAW socket; its destination, the VIP, is local (lo),
//                 so the kernel delivers it as if the tunnel device had.
//                 Across veth a packet keeps a partial checksum (CHECKSUM_PARTIAL,
//                 as lvsd and the kernel's IPVS send tunnelled packets of
//                 senders with checksum offload); a kernel tunnel device
//                 accepts it as it is, but a raw socket cannot see that state:
//                 the decapsulator completes an inner checksum that holds
//                 exactly the pseudo-header sum, and leaves any other as it is.
//                 Bulk: GET /blob/BYTES[?seed=S] answers BYTES of pattern(S)
//                 (its sha256 in x-sha256); POST /sink reads the whole body and
//                 answers {"rs", "bytes", "sha256"} (after progress lines).
//                 Every answer names the server in x-rs.
//   client URL N [CONC] [close]   N HTTP GETs, prints {"NAME": count, …, "errors": n}
//   clientfor URL SECONDS [CONC]  benchmarks: new connections for SECONDS, prints {"ok", "errors", "seconds"}
//   udp ADDR PORT N               N datagrams from N source ports, prints the answer counts
//   download|upload URL BYTES [n=1] [conc=1] [timeout=30] [stall=5] [floor=1] [seed=1] [port=P]
//                 n bulk transfers of BYTES each (GET URL/blob/BYTES?seed=seed+i,
//                 or POST URL/sink), one connection each, conc at a time, every
//                 byte checked (download) or the server's length and sha256
//                 (upload). A transfer that moves under `floor` bytes in `stall`
//                 s, or takes over `timeout` s, is ended and reported failed.
//                 port=P binds the i-th transfer to local port P+i. Prints one
//                 BulkResult (scripts/lab-net.ts) as JSON.

import { createServer, request, Agent, type ClientRequest, type ServerResponse } from 'node:http';
import { createSocket } from 'node:dgram';
import { connect as netConnect } from 'node:net';
import { createRequire } from 'node:module';
import { verifyL4Sum } from '../core/packet/checksum.js';
import { completePartial, partialPseudo } from '../core/packet/gso.js';
import { createHash } from 'node:crypto';
import type { BulkResult, BulkTransfer } from './lab-net.js';

const [mode, ...args] = process.argv.slice(2);

interface RawSocket {
  on(ev: 'message', fn: (buf: Buffer, src: string) => void): void;
  on(ev: 'error', fn: (e: Error) => void): void;
  send(buf: Buffer, off: number, len: number, addr: string, cb: (e: Error | null) => void): void;
}

/** The sockets stay referenced: raw-socket closes a socket whose object is collected. */
const keep: RawSocket[] = [];

/** An IPv4 TCP/UDP packet whose checksum field holds only its pseudo-header sum: complete it (what the NIC would have). */
function completeIfPartial(p: Uint8Array): void {
  const hl = (p[0]! & 15) * 4, proto = p[9]!;
  const tot = Math.min(p.length, (p[2]! << 8) | p[3]!);
  if ((proto !== 6 && proto !== 17) || tot < hl + 8) return;
  const l4len = tot - hl, field = hl + (proto === 6 ? 16 : 6);
  if (field + 2 > tot || verifyL4Sum(p, 4, 12, 16, proto, hl, l4len)) return;
  if (((p[field]! << 8) | p[field + 1]!) !== partialPseudo(p, 4, 12, 16, proto, l4len)) return;
  completePartial(p, hl, field, tot);
}

function decapsulator(): void {
  const raw = createRequire(import.meta.url)('raw-socket') as { createSocket(o: { protocol: number }): RawSocket };
  const rx = raw.createSocket({ protocol: 4 });
  const tx = raw.createSocket({ protocol: 255 });
  keep.push(rx, tx);
  let n = 0;
  rx.on('message', (buf) => {
    const ihl = (buf[0]! & 15) * 4;
    if (buf.length < ihl + 20 || (buf[ihl]! >> 4) !== 4) return;
    // a copy: raw-socket hands every packet in the same receive buffer, and the send below is asynchronous
    const inner = Buffer.from(buf.subarray(ihl));
    completeIfPartial(inner);
    const dst = `${inner[16]}.${inner[17]}.${inner[18]}.${inner[19]}`;
    tx.send(inner, 0, inner.length, dst, () => { n++; });
  });
  rx.on('error', (e) => process.stderr.write(`decap: ${e.message}\n`));
  process.on('SIGUSR1', () => process.stderr.write(`decap: ${n}\n`));
}

// ---- bulk transfers ----

const CHUNK = 1 << 16;

/**
 * BYTES of a bulk body from `offset`: 32-bit big-endian words w_k = k·0x9e3779b1 + seed
 * (mod 2^32) for k = offset / 4. Each word differs from every other within 16 GiB
 * (an odd multiplier is a bijection), so a lost, repeated, shifted or altered
 * byte shows at its own offset; and it costs next to nothing to make on both ends.
 */
function pattern(seed: number, offset: number, len: number): Buffer {
  const first = Math.floor(offset / 4), skip = offset - first * 4;
  const words = Math.ceil((skip + len) / 4);
  const b = Buffer.allocUnsafe(words * 4);
  for (let k = 0; k < words; k++) b.writeUInt32BE((Math.imul(first + k, 0x9e3779b1) + seed) >>> 0, k * 4);
  return b.subarray(skip, skip + len);
}

function patternSha(seed: number, bytes: number): string {
  const sha = createHash('sha256');
  for (let o = 0; o < bytes; o += CHUNK) sha.update(pattern(seed, o, Math.min(CHUNK, bytes - o)));
  return sha.digest('hex');
}

/** Resolves on 'drain', or on 'close' (a destroyed stream never drains). */
function drained(s: ServerResponse | ClientRequest): Promise<void> {
  return new Promise((res) => {
    const done = (): void => { s.off('drain', done); s.off('close', done); res(); };
    s.once('drain', done); s.once('close', done);
  });
}

async function sendBlob(res: ServerResponse, bytes: number, seed: number): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes, 'x-sha256': patternSha(seed, bytes) });
  for (let o = 0; o < bytes && !res.destroyed; o += CHUNK) {
    if (!res.write(pattern(seed, o, Math.min(CHUNK, bytes - o)))) await drained(res);
  }
  res.end();
}

interface TransferSpec { url: string; bytes: number; seed: number; localPort: number; timeout: number; stall: number; floor: number }

/**
 * One transfer's bookkeeping: `moved` bytes so far; a watchdog ends it (calling
 * `abort`) when less than `floor` bytes moved in the last `stall` ms, or when it
 * ran past `timeout` ms: a stalled path, or one crawling on retransmissions
 * (lost super-frames do that), is a failure with a reason, not a hang.
 */
function tracker(s: TransferSpec, abort: (why: string) => void) {
  const t0 = performance.now();
  const st = { moved: 0, error: '' };
  /** [time, moved] every 100 ms over the last `stall` ms. */
  const samples: [number, number][] = [[t0, 0]];
  const fail = (why: string): void => { if (!st.error) { st.error = why; abort(why); } };
  const dog = setInterval(() => {
    const now = performance.now();
    samples.push([now, st.moved]);
    while (samples.length > 1 && now - samples[1]![0] >= s.stall) samples.shift();
    const [since, then] = samples[0]!;
    const why = now - since >= s.stall && st.moved - then < s.floor
      ? (s.floor > 1 ? `stalled: under ${s.floor} bytes moved in ${s.stall / 1000} s` : `stalled: nothing moved for ${s.stall / 1000} s`)
      : now - t0 > s.timeout ? `timed out after ${s.timeout / 1000} s` : '';
    if (why) fail(`${why} (at ${st.moved} of ${s.bytes} bytes, ${((performance.now() - t0) / 1000).toFixed(1)} s in)`);
  }, 100);
  return {
    st,
    fail,
    /** `n` more bytes arrived. */
    progress(n: number): void { st.moved += n; },
    stop(): number { clearInterval(dog); return (performance.now() - t0) / 1000; },
  };
}

function download(s: TransferSpec): Promise<BulkTransfer> {
  return new Promise((res) => {
    const sha = createHash('sha256');
    let rs = '', want = '', badOffset = -1, status = 0, done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      const seconds = tr.stop();
      const sha256ok = status === 200 && tr.st.moved === s.bytes && sha.digest('hex') === want;
      let error = tr.st.error;
      if (!error && status !== 200) error = `HTTP ${status}`;
      else if (!error && badOffset >= 0) error = `wrong byte at offset ${badOffset}`;
      else if (!error && tr.st.moved !== s.bytes) error = `short body: ${tr.st.moved} of ${s.bytes} bytes`;
      else if (!error && !sha256ok) error = 'sha256 differs';
      res({ rs, bytes: tr.st.moved, ok: !error, sha256ok, seconds, localPort, ...(error ? { error } : {}), ...(badOffset >= 0 ? { badOffset } : {}) });
    };
    let localPort = s.localPort;
    const req = request(new URL(`blob/${s.bytes}?seed=${s.seed}`, s.url), {
      agent: false, headers: { connection: 'close' }, ...(s.localPort ? { localPort: s.localPort } : {}),
    }, (r) => {
      status = r.statusCode ?? 0;
      rs = String(r.headers['x-rs'] ?? '');
      want = String(r.headers['x-sha256'] ?? '');
      r.on('data', (d: Buffer) => {
        if (badOffset < 0) {
          const exp = pattern(s.seed, tr.st.moved, d.length);
          if (!exp.equals(d)) { let k = 0; while (d[k] === exp[k]) k++; badOffset = tr.st.moved + k; }
        }
        sha.update(d);
        tr.progress(d.length);
      });
      r.on('end', finish);
      r.on('error', () => {}); // its 'close' reports it
      r.on('close', () => { if (!r.complete) tr.fail('the connection closed mid-body'); finish(); });
    });
    req.on('socket', (sock) => sock.on('connect', () => { localPort = sock.localPort ?? localPort; }));
    const tr = tracker(s, (why) => req.destroy(new Error(why)));
    req.on('error', (e) => { tr.fail(e.message); finish(); });
    req.end();
  });
}

/**
 * The server answers /sink as it reads: a line with its byte count every 64 KiB
 * read, then one JSON line {"rs", "bytes", "sha256"}; the counts are the
 * upload's progress (what crossed the path, not what the local kernel took).
 */
function upload(s: TransferSpec): Promise<BulkTransfer> {
  return new Promise((res) => {
    const sha = createHash('sha256');
    let answer = '', status = 0, done = false, localPort = s.localPort;
    const finish = (): void => {
      if (done) return;
      done = true;
      const seconds = tr.stop();
      const want = sha.digest('hex');
      const last = answer.trim().split('\n').pop() ?? '';
      let a: { rs?: string; bytes?: number; sha256?: string } = {};
      try { a = JSON.parse(last) as typeof a; } catch { /* no answer: reported below */ }
      const sha256ok = a.sha256 === want && a.bytes === s.bytes;
      let error = tr.st.error;
      if (!error && status !== 200) error = `HTTP ${status}`;
      else if (!error && a.bytes === undefined) error = `no answer from the server (${JSON.stringify(last.slice(0, 80))})`;
      else if (!error && a.bytes !== s.bytes) error = `the server read ${a.bytes} of ${s.bytes} bytes`;
      else if (!error && !sha256ok) error = 'the server\'s sha256 differs';
      res({ rs: a.rs ?? rs, bytes: a.bytes ?? tr.st.moved, ok: !error, sha256ok, seconds, localPort, ...(error ? { error } : {}) });
    };
    let rs = '';
    const req = request(new URL('sink', s.url), {
      method: 'POST', agent: false, ...(s.localPort ? { localPort: s.localPort } : {}),
      headers: { connection: 'close', 'content-type': 'application/octet-stream', 'content-length': s.bytes },
    }, (r) => {
      status = r.statusCode ?? 0;
      rs = String(r.headers['x-rs'] ?? '');
      let seen = 0;
      r.on('data', (d: Buffer) => {
        answer += d.toString();
        const counts = answer.split('\n').filter((l) => /^\d+$/.test(l));
        const n = counts.length ? Number(counts[counts.length - 1]) : seen;
        if (n > seen) { tr.progress(n - seen); seen = n; }
      });
      r.on('end', finish);
      r.on('error', () => {});
      r.on('close', () => { if (!r.complete) tr.fail('the connection closed mid-answer'); finish(); });
    });
    req.on('socket', (sock) => sock.on('connect', () => { localPort = sock.localPort ?? localPort; }));
    const tr = tracker(s, (why) => req.destroy(new Error(why)));
    req.on('error', (e) => { tr.fail(e.message); finish(); });
    void (async () => {
      // as the socket takes it: a stalled path stops the writes too
      for (let o = 0; o < s.bytes && !req.destroyed; o += CHUNK) {
        const c = pattern(s.seed, o, Math.min(CHUNK, s.bytes - o));
        sha.update(c);
        if (!req.write(c)) await drained(req);
      }
      if (!req.destroyed) req.end();
    })();
  });
}

if (mode === 'server') {
  const name = args[0]!;
  createServer((req, res) => {
    res.setHeader('x-rs', name);
    const blob = req.method === 'GET' ? /^\/blob\/(\d+)(?:\?seed=(\d+))?$/.exec(req.url ?? '') : null;
    if (blob) { req.resume(); void sendBlob(res, Number(blob[1]), Number(blob[2] ?? 0)); return; }
    if (req.method === 'POST' && req.url === '/sink') {
      const sha = createHash('sha256');
      let bytes = 0, told = 0;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.flushHeaders(); // the client learns at once which server took it
      req.on('data', (d: Buffer) => {
        bytes += d.length;
        sha.update(d);
        if (bytes - told >= 1 << 16) { told = bytes; res.write(`${bytes}\n`); } // the client's progress (see upload())
      });
      req.on('end', () => { res.end(`${JSON.stringify({ rs: name, bytes, sha256: sha.digest('hex') })}\n`); });
      return;
    }
    req.resume(); res.setHeader('content-type', 'text/plain'); res.end(`${name}\n`);
  }).listen(80, '::', () => process.stdout.write('ready\n')); // IPv4 and IPv6
  const u = createSocket('udp4');
  u.on('message', (_m, r) => u.send(`${name}\n`, r.port, r.address));
  u.bind(7000, '0.0.0.0');
  decapsulator();
} else if (mode === 'client') {
  const [url, nText, concText, close] = args;
  const n = Number(nText), conc = Number(concText ?? 4);
  const agent = new Agent({ keepAlive: close !== 'close' });
  const counts: Record<string, number> = {};
  let errors = 0, started = 0;
  const one = (): Promise<void> => new Promise((res) => {
    const req = request(url!, { agent, timeout: 3000, headers: close === 'close' ? { connection: 'close' } : {} }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => { body += d.toString(); });
      r.on('end', () => { const k = body.trim(); counts[k] = (counts[k] ?? 0) + 1; res(); });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => { errors++; res(); });
    req.end();
  });
  const lane = async (): Promise<void> => { while (started < n) { started++; await one(); } };
  await Promise.all(Array.from({ length: conc }, lane));
  agent.destroy();
  process.stdout.write(`${JSON.stringify({ ...counts, errors })}\n`);
} else if (mode === 'clientfor') {
  // benchmarks: new connections for SECONDS at CONC, prints {"ok": n, "errors": n, "seconds": s}. Each is a
  // plain TCP connection sending an HTTP/1.0 GET and reading the answer to its end: as light a client as
  // node allows, so that the figure says more about the path than about the client.
  const [url, secText, concText] = args;
  const u = new URL(url!);
  const port = Number(u.port || 80);
  const get = Buffer.from(`GET ${u.pathname} HTTP/1.0\r\nHost: ${u.host}\r\n\r\n`);
  const end = performance.now() + Number(secText) * 1000;
  let ok = 0, errors = 0;
  const t0 = performance.now();
  const one = (): Promise<void> => new Promise<void>((res) => {
    const s = netConnect({ host: u.hostname, port });
    let head = '';
    const t = setTimeout(() => s.destroy(new Error('timeout')), 3000);
    s.on('connect', () => s.write(get)); // no half-close: the server closes first and keeps the TIME_WAIT, as with HTTP/1.1 close
    s.on('data', (d: Buffer) => { if (head.length < 12) head += d.toString('latin1', 0, 12); });
    s.on('end', () => { clearTimeout(t); s.end(); if (head.startsWith('HTTP/1.1 200')) ok++; else errors++; res(); });
    s.on('error', () => { clearTimeout(t); errors++; res(); });
  });
  const lane = async (): Promise<void> => { while (performance.now() < end) await one(); };
  await Promise.all(Array.from({ length: Number(concText ?? 16) }, lane));
  process.stdout.write(`${JSON.stringify({ ok, errors, seconds: (performance.now() - t0) / 1000 })}\n`);
} else if (mode === 'udp') {
  const [addr, portText, nText] = args;
  const n = Number(nText);
  const counts: Record<string, number> = {};
  let errors = 0;
  for (let i = 0; i < n; i++) {
    const s = createSocket('udp4');
    const got = await new Promise<string | null>((res) => {
      const t = setTimeout(() => res(null), 1500);
      s.on('message', (m) => { clearTimeout(t); res(m.toString().trim()); });
      s.send(`q${i}`, Number(portText), addr!);
    });
    s.close();
    if (got === null) errors++; else counts[got] = (counts[got] ?? 0) + 1;
  }
  process.stdout.write(`${JSON.stringify({ ...counts, errors })}\n`);
} else if (mode === 'download' || mode === 'upload') {
  const [base, bytesText, ...opts] = args;
  const o = new Map(opts.map((x) => x.split('=') as [string, string]));
  const num = (k: string, d: number): number => (o.has(k) ? Number(o.get(k)) : d);
  const bytes = Number(bytesText);
  const n = num('n', 1), conc = num('conc', 1), port = num('port', 0), seed = num('seed', 1);
  const limits = { timeout: num('timeout', 30) * 1000, stall: num('stall', 5) * 1000, floor: Math.max(1, num('floor', 1)) };
  const transfers: BulkTransfer[] = [];
  let started = 0;
  const t0 = performance.now();
  const lane = async (): Promise<void> => {
    while (started < n) {
      const i = started++;
      const at = { url: base!, bytes, seed: seed + i, localPort: port ? port + i : 0, ...limits };
      transfers[i] = await (mode === 'download' ? download(at) : upload(at));
    }
  };
  await Promise.all(Array.from({ length: Math.min(conc, n) }, lane));
  const servedBy: Record<string, number> = {};
  for (const t of transfers) if (t.rs) servedBy[t.rs] = (servedBy[t.rs] ?? 0) + 1;
  const result: BulkResult = {
    mode, url: base!, bytes, ok: transfers.every((t) => t.ok), seconds: (performance.now() - t0) / 1000, servedBy, transfers,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  process.stderr.write('usage: lab-rs.ts server NAME | client URL N [CONC] [close] | clientfor URL SECONDS [CONC] | udp ADDR PORT N | download|upload URL BYTES [n= conc= timeout= stall= floor= seed= port=]\n');
  process.exit(2);
}

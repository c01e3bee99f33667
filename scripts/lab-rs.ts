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
//   client URL N [CONC] [close]   N HTTP GETs, prints {"NAME": count, …, "errors": n}
//   udp ADDR PORT N               N datagrams from N source ports, prints the answer counts

import { createServer, request, Agent } from 'node:http';
import { createSocket } from 'node:dgram';
import { connect as netConnect } from 'node:net';
import { createRequire } from 'node:module';
import { verifyL4Sum } from '../core/packet/checksum.js';
import { completePartial, partialPseudo } from '../core/packet/gso.js';

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

if (mode === 'server') {
  const name = args[0]!;
  createServer((req, res) => { req.resume(); res.setHeader('content-type', 'text/plain'); res.end(`${name}\n`); })
    .listen(80, '::', () => process.stdout.write('ready\n')); // IPv4 and IPv6
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
} else {
  process.stderr.write('usage: lab-rs.ts server NAME | client URL N [CONC] [close] | udp ADDR PORT N\n');
  process.exit(2);
}

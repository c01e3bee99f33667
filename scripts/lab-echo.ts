// Long-lived TCP connections for the lab (test/e2e-restart.test.ts).
//
//   lab-echo.ts server PORT
//       echo every byte back, on every address (a real server namespace)
//   lab-echo.ts client JSON
//       JSON: { targets: [{ addr, port, n }], seconds, everyMs }: open n
//       connections to each target, send a numbered line on each every
//       everyMs for `seconds`, then wait (up to 10 s) for the last echoes;
//       prints { opened, ok, failures, maxLatencyMs } — a connection is ok when
//       it was never reset or closed and every line came back.

import type { ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { createConnection, createServer, type Socket } from 'node:net';

/** What a client run prints. */
export interface EchoResult { opened: number; ok: number; failures: string[]; maxLatencyMs: number }

/**
 * For the tests: takes a spawned `lab-echo.ts client …` process; resolves once
 * its connections are open, with its result to come (wrapped: an async
 * function returning a promise would wait for it).
 */
export async function echoStarted(client: ChildProcess): Promise<{ done: Promise<EchoResult> }> {
  let out = '', err = '';
  client.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  client.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const done = new Promise<EchoResult>((res, rej) => client.once('exit', (c) => {
    try { res(JSON.parse(out.trim()) as EchoResult); } catch { rej(new Error(`echo client (${c}): ${out}${err}`)); }
  }));
  while (!/opened/.test(err) && client.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  return { done };
}

interface Target { addr: string; port: number; n: number }
interface Spec { targets: Target[]; seconds: number; everyMs: number }

function server(port: number): void {
  const srv = createServer((s) => { s.on('error', () => s.destroy()); s.pipe(s); });
  srv.listen({ port, host: '::', ipv6Only: false }, () => process.stdout.write(`listening ${port}\n`));
}

interface Conn { name: string; sock: Socket; sent: Map<number, number>; seq: number; failed: string | null; buf: string }

async function client(spec: Spec): Promise<void> {
  const conns: Conn[] = [];
  let maxLatency = 0;
  const open = (t: Target, i: number): Promise<Conn> => new Promise((res) => {
    const c: Conn = { name: `${t.addr}:${t.port}#${i}`, sock: createConnection({ host: t.addr, port: t.port }), sent: new Map(), seq: 0, failed: null, buf: '' };
    c.sock.setNoDelay(true);
    c.sock.once('connect', () => res(c));
    c.sock.on('error', (e) => { c.failed ??= e.message; res(c); });
    c.sock.on('close', () => { c.failed ??= 'closed'; });
    c.sock.on('data', (d: Buffer) => {
      c.buf += d.toString();
      let nl: number;
      while ((nl = c.buf.indexOf('\n')) >= 0) {
        const seq = Number(c.buf.slice(0, nl));
        c.buf = c.buf.slice(nl + 1);
        const at = c.sent.get(seq);
        if (at !== undefined) { maxLatency = Math.max(maxLatency, Date.now() - at); c.sent.delete(seq); }
      }
    });
  });
  for (const t of spec.targets) for (let i = 0; i < t.n; i++) conns.push(await open(t, i));
  process.stderr.write(`opened ${conns.filter((c) => !c.failed).length}\n`);
  const end = Date.now() + spec.seconds * 1000;
  while (Date.now() < end) {
    for (const c of conns) {
      if (c.failed) continue;
      c.sent.set(++c.seq, Date.now());
      c.sock.write(`${c.seq}\n`);
    }
    await new Promise((r) => setTimeout(r, spec.everyMs));
  }
  const until = Date.now() + 10_000;
  while (Date.now() < until && conns.some((c) => !c.failed && c.sent.size > 0)) await new Promise((r) => setTimeout(r, 50));
  const failures = conns.filter((c) => c.failed || c.sent.size > 0).map((c) => `${c.name}: ${c.failed ?? `${c.sent.size} lines unanswered`}`);
  // still-unanswered lines count as latency up to now
  for (const c of conns) for (const at of c.sent.values()) maxLatency = Math.max(maxLatency, Date.now() - at);
  process.stdout.write(`${JSON.stringify({ opened: conns.length, ok: conns.length - failures.length, failures, maxLatencyMs: maxLatency })}\n`);
  for (const c of conns) c.sock.destroy();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [mode, arg] = process.argv.slice(2);
  if (mode === 'server') server(Number(arg));
  else if (mode === 'client') await client(JSON.parse(arg ?? '{}') as Spec);
  else { process.stderr.write('usage: lab-echo.ts server PORT | client JSON\n'); process.exitCode = 2; }
}

// Long-lived echo connections that record their silences (the failover e2e
// test, test/e2e-failover.test.ts). Talks to `lab-echo.ts server PORT`.
//
//   lab-echo-gaps.ts JSON
//       JSON: { targets: [{ addr, port, n }], everyMs, maxSeconds }: opens n
//       connections to each target, writes `opened N` on stderr, then sends a
//       numbered line on each every everyMs until a `stop` line arrives on
//       stdin (or maxSeconds passed), then waits (up to 10 s) for the last
//       echoes and prints one JSON line (GapsResult) on stdout. A `status`
//       line on stdin prints {"names":[…],"ports":[…],"lastEcho":[…],"failed":[…]}
//       (per connection, in order; ports: the client's) on stdout at once.
//
// Per connection it keeps every silence longer than 2 × everyMs: the time
// from one echo received to the next (epoch ms, the same clock as the test's,
// on the same machine), the last echo's time, and why it failed if it did
// (reset, closed, lines unanswered at the end).

import type { ChildProcess } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';

export interface ConnGaps {
  name: string;
  /** [from, to]: no echo came back between these two (epoch ms); only silences > 2 × everyMs. */
  gaps: [number, number][];
  firstEcho: number | null;
  lastEcho: number | null;
  echoes: number;
  failed: string | null;
}
export interface GapsResult { opened: number; stoppedAt: number; conns: ConnGaps[] }

interface Target { addr: string; port: number; n: number }
interface Spec { targets: Target[]; everyMs: number; maxSeconds: number }

/** What a `status` line answers: per connection, its last echo (epoch ms) and why it failed. */
export interface GapsStatus { names: string[]; ports: (number | null)[]; lastEcho: (number | null)[]; failed: (string | null)[] }

/** For the tests: the running client; `stop()` ends it and resolves with its result. */
export interface GapsClient { stop(): Promise<GapsResult>; status(): Promise<GapsStatus>; result: Promise<GapsResult> }

/** Takes a spawned `lab-echo-gaps.ts JSON` process (stdin piped); resolves once its connections are open. */
export async function gapsStarted(p: ChildProcess): Promise<GapsClient> {
  let out = '', err = '';
  const waiting: ((s: GapsStatus) => void)[] = [];
  p.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    let nl: number;
    // status lines come first, one per request; the result is the last line
    while ((nl = out.indexOf('\n')) >= 0 && out.startsWith('{"names"')) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      waiting.shift()?.(JSON.parse(line) as GapsStatus);
    }
  });
  p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const result = new Promise<GapsResult>((res, rej) => p.once('exit', (c) => {
    try { res(JSON.parse(out.trim()) as GapsResult); } catch { rej(new Error(`echo client (${c}): ${out}${err}`)); }
  }));
  result.catch(() => { /* reported by stop() */ });
  p.stdin!.on('error', () => { /* gone: its result says why */ });
  while (!/opened/.test(err) && p.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  if (p.exitCode !== null) throw new Error(`echo client exited (${p.exitCode}): ${out}${err}`);
  return {
    result,
    stop() { try { p.stdin!.write('stop\n'); } catch { /* gone */ } return result; },
    status() {
      return new Promise<GapsStatus>((res, rej) => {
        if (p.exitCode !== null) { rej(new Error('echo client gone')); return; }
        waiting.push(res);
        p.stdin!.write('status\n');
      });
    },
  };
}

interface Conn { c: ConnGaps; sock: Socket; sent: Map<number, number>; seq: number; buf: string }

async function client(spec: Spec): Promise<void> {
  const conns: Conn[] = [];
  const silence = 2 * spec.everyMs;
  const open = (t: Target, i: number): Promise<Conn> => new Promise((res) => {
    const k: Conn = {
      c: { name: `${t.addr}:${t.port}#${i}`, gaps: [], firstEcho: null, lastEcho: null, echoes: 0, failed: null },
      sock: createConnection({ host: t.addr, port: t.port }), sent: new Map(), seq: 0, buf: '',
    };
    k.sock.setNoDelay(true);
    k.sock.once('connect', () => res(k));
    k.sock.on('error', (e) => { k.c.failed ??= `${e.message} at ${Date.now()}`; res(k); });
    k.sock.on('close', () => { k.c.failed ??= `closed at ${Date.now()}`; });
    k.sock.on('data', (d: Buffer) => {
      k.buf += d.toString();
      let nl: number;
      while ((nl = k.buf.indexOf('\n')) >= 0) {
        const seq = Number(k.buf.slice(0, nl));
        k.buf = k.buf.slice(nl + 1);
        if (!k.sent.delete(seq)) continue;
        const now = Date.now();
        const last = k.c.lastEcho;
        if (last !== null && now - last > silence) k.c.gaps.push([last, now]);
        k.c.firstEcho ??= now;
        k.c.lastEcho = now;
        k.c.echoes++;
      }
    });
  });
  for (const t of spec.targets) for (let i = 0; i < t.n; i++) conns.push(await open(t, i));
  process.stderr.write(`opened ${conns.filter((k) => !k.c.failed).length}\n`);
  let stop = false;
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d: string) => {
    for (const line of d.split('\n')) {
      if (line === 'stop') stop = true;
      if (line === 'status') process.stdout.write(`${JSON.stringify({
        names: conns.map((k) => k.c.name), ports: conns.map((k) => k.sock.localPort ?? null),
        lastEcho: conns.map((k) => k.c.lastEcho), failed: conns.map((k) => k.c.failed),
      } satisfies GapsStatus)}\n`);
    }
  });
  process.stdin.on('end', () => { stop = true; });
  const end = Date.now() + spec.maxSeconds * 1000;
  while (!stop && Date.now() < end) {
    for (const k of conns) {
      if (k.c.failed) continue;
      k.sent.set(++k.seq, Date.now());
      k.sock.write(`${k.seq}\n`);
    }
    await new Promise((r) => setTimeout(r, spec.everyMs));
  }
  const stoppedAt = Date.now();
  const until = stoppedAt + 10_000;
  while (Date.now() < until && conns.some((k) => !k.c.failed && k.sent.size > 0)) await new Promise((r) => setTimeout(r, 50));
  for (const k of conns) {
    if (!k.c.failed && k.sent.size > 0) k.c.failed = `${k.sent.size} lines unanswered`;
    // a silence still running at the end counts up to now
    if (k.c.failed && k.c.lastEcho !== null) k.c.gaps.push([k.c.lastEcho, Date.now()]);
  }
  process.stdout.write(`${JSON.stringify({ opened: conns.length, stoppedAt, conns: conns.map((k) => k.c) } satisfies GapsResult)}\n`);
  for (const k of conns) k.sock.destroy();
  process.stdin.destroy();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = process.argv[2];
  if (!arg) { process.stderr.write('usage: lab-echo-gaps.ts JSON\n'); process.exitCode = 2; }
  else await client(JSON.parse(arg) as Spec);
}

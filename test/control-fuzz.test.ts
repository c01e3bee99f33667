// The control socket under abuse: garbage, deep nesting, huge lines, a line
// over the limit with a request in its tail, thousands of idle clients, slow
// clients. Afterwards the daemon answers, reloads, and its table is unchanged.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../core/daemon.js';
import { createLogger } from '../core/log.js';
import { request } from '../core/control/client.js';

interface Reply { ok: boolean; errno?: string; message?: string }

/** Sends `data`, then reads replies until the daemon closes the connection (or `ms` pass). */
function exchange(path: string, data: Buffer | string, ms = 10_000): Promise<{ replies: Reply[]; closed: boolean }> {
  return new Promise((res) => {
    const s = connect(path);
    let got = '';
    let closed = false;
    const done = (): void => {
      clearTimeout(t);
      s.destroy();
      res({ replies: got.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Reply), closed });
    };
    const t = setTimeout(done, ms);
    s.setEncoding('utf8');
    s.on('data', (d: string) => { got += d; });
    s.on('error', () => { /* EPIPE once the daemon hangs up: expected */ });
    s.on('close', () => { closed = true; done(); });
    s.on('connect', () => s.write(data));
  });
}

/** A deterministic byte generator (xorshift32). */
function garbage(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b[i] = x & 0xff; }
  return b;
}

const addService = (port: number): string => JSON.stringify({ op: 'add-service', service: {
  family: 'inet', protocol: 'tcp', addr: '10.9.9.9', port, fwmark: 0, scheduler: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' } });

describe('control socket fuzz', function () {
  this.timeout(60_000);
  let dir: string;
  let daemon: Daemon;
  let sock: string;
  const lines: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lvsd-fuzz-'));
    sock = join(dir, 'lvsd.sock');
    const file = join(dir, 'config.ts');
    writeFileSync(file, `import { defineConfig } from 'lvsd';
export default defineConfig({
  services: [{ protocol: 'tcp', address: '10.1.0.1', port: 80, scheduler: 'rr', forward: 'nat',
    reals: [{ address: '192.168.1.1', port: 80 }, { address: '192.168.1.2', port: 80 }] }],
});
`);
    daemon = new Daemon({
      configFile: file, socket: sock, io: 'memory', pluginDirs: [], watchDebounceMs: 60_000,
      log: createLogger('debug', (l) => { lines.push(l); }),
      controlLimits: { idleMs: 1500, lineMs: 1000 },
    });
    await daemon.start();
  });
  after(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers every garbage line with an error, refuses deep nesting, huge lines and their tails, idle and slow clients; then reloads with its table unchanged', async () => {
    const before = JSON.stringify((await request(sock, { op: 'get-services' })));

    // garbage: every non-blank line gets an error reply, in order
    const junk = garbage(64 * 1024, 12345);
    const sent = junk.toString('latin1').split('\n').slice(0, -1)
      .map((l) => new TextDecoder().decode(Buffer.from(l, 'latin1'))).filter((l) => l.trim() !== '').length;
    const g = await exchange(sock, Buffer.concat([junk, Buffer.from('\n')]), 3000);
    assert.ok(sent > 100, `${sent} garbage lines`);
    assert.ok(g.replies.length >= sent, `${g.replies.length} replies to ${sent} garbage lines`);
    assert.ok(g.replies.every((r) => !r.ok));

    // deep nesting, in the op and in a field, and unbalanced
    const deep = ['{"op":' + '['.repeat(5000) + ']'.repeat(5000) + '}', '['.repeat(5000), '{"a":'.repeat(5000), '{"op":"info","x":"' + '['.repeat(5000) + '"}'];
    const d = await exchange(sock, deep.join('\n') + '\n', 1500);
    assert.deepEqual(d.replies.slice(0, 3).map((r) => r.message), Array(3).fill('request nests deeper than 32 levels'));
    assert.equal(d.replies[3]?.ok, true);   // brackets in a string do not count

    // a 16 MB line: refused, connection closed, nothing of it run
    const big = await exchange(sock, 'x'.repeat(16 << 20));
    assert.equal(big.closed, true);
    assert.match(big.replies[0]?.message ?? '', /^request too long/);

    // a line over the limit whose tail is a valid request, then a valid request: neither is run
    const tail = await exchange(sock, ' '.repeat(70_000) + addService(81) + '\n' + addService(82) + '\n');
    assert.equal(tail.closed, true);
    assert.deepEqual(tail.replies.map((r) => r.ok), [false]);
    assert.match(tail.replies[0]!.message!, /^request too long/);
    // the same in small pieces (the limit is met across chunks)
    const s2 = connect(sock);
    await new Promise((r) => s2.on('connect', r));
    s2.on('error', () => {});
    for (let i = 0; i < 20; i++) s2.write(' '.repeat(4000));
    s2.write(addService(83) + '\n');
    await new Promise((r) => setTimeout(r, 200));
    s2.destroy();

    // 3 000 clients that connect and send half a line: at most the client limit are served, the rest refused at once
    const idle: Socket[] = [];
    let busy = 0;
    let failed = 0;
    for (let i = 0; i < 3000; i += 250) {
      await Promise.all(Array.from({ length: 250 }, () => new Promise<void>((res) => {
        const c = connect(sock);
        idle.push(c);
        c.setEncoding('utf8');
        c.on('data', (x: string) => { if (x.includes('"EBUSY"')) busy++; });
        c.on('error', () => { failed++; res(); });
        c.on('connect', () => { c.write('{"op":"in'); res(); });
      })));
    }
    await new Promise((r) => setTimeout(r, 300));
    // the rest: refused by the kernel while the listen backlog was full (EAGAIN), as under any flood
    const held = idle.filter((c) => !c.destroyed && !c.readableEnded).length;
    assert.ok(held <= 256, `${held} clients held (busy ${busy}, failed ${failed})`);
    assert.ok(busy > 0 && busy + failed >= 3000 - 256, `${busy} refused with EBUSY, ${failed} failed to connect, ${held} held`);
    // while they are held: a reload still works (descriptors were kept for it)
    assert.equal(await daemon.reload(), true);

    // slow clients dribbling a valid request byte by byte: cut off by the line time limit
    const slow = Array.from({ length: 5 }, (_, k) => new Promise<Reply[]>((res) => {
      const c = connect(sock);
      const line = addService(90 + k) + '\n';
      let i = 0;
      let got = '';
      c.setEncoding('utf8');
      c.on('data', (x: string) => { got += x; });
      c.on('error', () => {});
      const t = setInterval(() => { if (i < line.length && !c.destroyed) c.write(line[i++]!); }, 20);
      c.on('close', () => { clearInterval(t); res(got.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Reply)); });
    }));
    // (the held idle clients time out meanwhile, freeing their slots for the slow ones)
    for (const r of await Promise.all(slow)) {
      assert.equal(r.length, 1);
      assert.match(r[0]!.message!, /not finished within|too many clients|no request for/);
    }
    await new Promise((r) => setTimeout(r, 1700));
    assert.ok(idle.every((c) => c.destroyed || c.readableEnded), 'idle clients were closed');
    for (const c of idle) c.destroy();
    assert.ok(lines.some((l) => /applied|reload/.test(l)));

    // alive, answers, reloads, and the table is what it was
    assert.deepEqual(await request(sock, { op: 'info' }).then((r) => r.ok), true);
    assert.equal(await daemon.reload(), true);
    assert.equal(JSON.stringify(await request(sock, { op: 'get-services' })), before);
  });
});

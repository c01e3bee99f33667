import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus } from '../core/bus.js';
import { ControlConnection, request } from '../core/control/client.js';
import { closeControl, defaultMaxClients, handleLine, listenControl, SocketInUse } from '../core/control/server.js';
import { ServiceTable } from '../core/model/table.js';
import { defineScheduler } from '../core/plugin.js';
import type { ServiceSpec, DestSpec } from '../core/model/types.js';
import type { ConnView } from '../core/control/protocol.js';
import { builtinForwarder } from '../plugins/forwarding/lib/builtin.js';

const first = defineScheduler({ name: 'first', init: () => null, schedule: (svc) => svc.dests[0] ?? null });

function newTable(): ServiceTable {
  return new ServiceTable({
    schedulers: (n) => (n === 'first' ? first : undefined),
    forwarder: builtinForwarder,
    ctx: { now: () => 0, randomU32: () => 0, log: () => {} },
  });
}
const svc: ServiceSpec = { family: 'inet', protocol: 'tcp', addr: '10.0.0.1', port: 80, fwmark: 0,
  scheduler: 'first', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' };
const dest: DestSpec = { family: 'inet', addr: '192.168.0.1', port: 80, fwd: 'masq', weight: 1,
  uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunFlags: 0 };

describe('control protocol', () => {
  it('refuses malformed requests with EPROTO and changes nothing', () => {
    const table = newTable();
    const deps = { table, bus: new Bus() };
    const bad = [
      'not json', '[]', '{}', '{"op":"explode"}',
      JSON.stringify({ op: 'add-service', service: { ...svc, port: 70000 } }),
      JSON.stringify({ op: 'add-service', service: { ...svc, addr: '10.0.0.300' } }),
      JSON.stringify({ op: 'add-service', service: { ...svc, family: 'inet6' } }),
      JSON.stringify({ op: 'add-service', service: { ...svc, scheduler: 'x'.repeat(16) } }),
      JSON.stringify({ op: 'add-dest', service: svc, dest: { ...dest, fwd: 'teleport' } }),
      JSON.stringify({ op: 'add-dest', service: svc, dest: { ...dest, weight: 1.5 } }),
      JSON.stringify({ op: 'set-timeouts', timeouts: { tcp: -1, tcpfin: 0, udp: 0 } }),
      JSON.stringify({ op: 'stop-daemon', state: 'primary' }),
    ];
    for (const line of bad) {
      const r = handleLine(line, deps);
      assert.equal(r.ok, false, line);
      if (!r.ok) assert.equal(r.errno, 'EPROTO', line);
    }
    assert.equal(table.list().length, 0);
  });

  it('refuses a request nested 5 000 levels deep with an error, not a crash', () => {
    const deps = { table: newTable(), bus: new Bus() };
    for (const line of ['{"op":"info","x":' + '['.repeat(5000) + ']'.repeat(5000) + '}', '['.repeat(5000), '{"a":'.repeat(5000)]) {
      const r = handleLine(line, deps);
      assert.deepEqual(r, { ok: false, errno: 'EPROTO', message: 'request nests deeper than 32 levels' });
    }
  });

  it('returns kernel errnos for refused operations', () => {
    const deps = { table: newTable(), bus: new Bus() };
    const run = (o: object) => handleLine(JSON.stringify(o), deps);
    assert.deepEqual(run({ op: 'add-service', service: svc }), { ok: true, data: null });
    assert.equal((run({ op: 'add-service', service: svc }) as { errno: string }).errno, 'EEXIST');
    assert.equal((run({ op: 'add-service', service: { ...svc, port: 81, scheduler: 'nope' } }) as { errno: string }).errno, 'ENOENT');
    assert.equal((run({ op: 'delete-service', service: { ...svc, port: 81 } }) as { errno: string }).errno, 'ESRCH');
    assert.equal((run({ op: 'add-dest', service: svc, dest: { ...dest, addr: '224.0.0.1' } }) as { errno: string }).errno, 'EINVAL');
    assert.equal((run({ op: 'add-dest', service: svc, dest: { ...dest, weight: -1 } }) as { errno: string }).errno, 'ERANGE');
    assert.equal((run({ op: 'add-dest', service: svc, dest: { ...dest, lThreshold: 5 } }) as { errno: string }).errno, 'ERANGE');
    assert.equal((run({ op: 'edit-dest', service: svc, dest }) as { errno: string }).errno, 'ENOENT');
    assert.equal((run({ op: 'stop-daemon', state: 'master' }) as { errno: string }).errno, 'ESRCH');
  });

  it('listens with mode 0600, answers requests, and removes the socket on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-ctl-'));
    const path = join(dir, 'sub', 'lvsd.sock');
    const deps = { table: newTable(), bus: new Bus() };
    const server = await listenControl(path, deps);
    try {
      assert.equal(statSync(path).mode & 0o777, 0o600);
      const r = await request(path, { op: 'add-service', service: svc });
      assert.deepEqual(r, { ok: true, data: null });
      const l = await request<unknown[]>(path, { op: 'get-services' });
      assert.ok(l.ok && l.data.length === 1);
      await assert.rejects(listenControl(path, deps), SocketInUse);
    } finally {
      await closeControl(server, path);
    }
    assert.equal(existsSync(path), false);
  });

  it('answers in request order when a connection listing waits for the data plane', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-ctl-'));
    const path = join(dir, 'lvsd.sock');
    const view = { protocol: 'tcp', expires: 60, state: 'ESTABLISHED' } as unknown as ConnView;
    const deps = { table: newTable(), bus: new Bus(), conns: () => new Promise<ConnView[]>((r) => setTimeout(() => r([view]), 80)) };
    const server = await listenControl(path, deps);
    try {
      const c = connect(path);
      let got = '';
      c.setEncoding('utf8');
      const two = new Promise<string[]>((res) => c.on('data', (d: string) => { got += d; const l = got.split('\n').filter(Boolean); if (l.length === 2) res(l); }));
      c.write(`${JSON.stringify({ op: 'get-conns' })}\n${JSON.stringify({ op: 'get-services' })}\n`);
      const [first, second] = (await two).map((l) => JSON.parse(l) as { ok: boolean; data: unknown[] });
      c.destroy();
      assert.deepEqual(first, { ok: true, data: [view] });
      assert.deepEqual(second, { ok: true, data: [] });
    } finally {
      await closeControl(server, path);
    }
  });

  it('replaces a stale socket left by a dead daemon, and refuses to delete anything else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-ctl-'));
    const path = join(dir, 'lvsd.sock');
    // A socket nobody answers on: what a SIGKILLed daemon leaves.
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    assert.ok(lstatSync(path).isSocket());
    const server = await listenControl(path, { table: newTable(), bus: new Bus() });
    await closeControl(server, path);
    const file = join(dir, 'precious');
    writeFileSync(file, 'keep me');
    await assert.rejects(listenControl(file, { table: newTable(), bus: new Bus() }), /is not a socket/);
    assert.equal(readFileSync(file, 'utf8'), 'keep me');
  });

  it('closes promptly while a client holds an idle connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-ctl-'));
    const path = join(dir, 'lvsd.sock');
    const server = await listenControl(path, { table: newTable(), bus: new Bus() });
    const idle = connect(path);
    await new Promise<void>((r) => idle.on('connect', () => r()));
    idle.on('error', () => {});
    await closeControl(server, path);       // would never resolve if it waited for the idle client
    assert.equal(existsSync(path), false);
  });
  /** Reads `n` reply lines from a raw connection that sent `text`. */
  function rawReplies(path: string, text: string, n: number): Promise<string[]> {
    return new Promise((res, rej) => {
      const c = connect(path);
      const parts: string[] = [];
      let lines = 0;
      c.setEncoding('utf8');
      c.on('connect', () => c.write(text));
      c.on('data', (d: string) => {
        parts.push(d);
        for (const ch of d) if (ch === '\n') lines++;
        if (lines >= n) { c.destroy(); res(parts.join('').split('\n').slice(0, n)); }
      });
      c.on('error', rej);
    });
  }

  it('writes a large get-services reply in pieces that are byte for byte the one-piece reply', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-ctl-'));
    const path = join(dir, 'lvsd.sock');
    const table = newTable();
    for (let i = 0; i < 300; i++) {
      const s = { ...svc, addr: `10.0.${i >> 8}.${(i & 255) + 1}`, port: 80 + (i % 3) };
      assert.ok(table.addService(s).ok);
      for (let j = 0; j < 3; j++) assert.ok(table.addDest(s, { ...dest, addr: `192.168.0.${j + 1}`, weight: j }).ok);
    }
    const deps = { table, bus: new Bus() };
    const server = await listenControl(path, deps);
    try {
      const [list, info] = await rawReplies(path, '{"op":"get-services"}\n{"op":"info"}\n', 2);
      assert.equal(list, JSON.stringify(handleLine('{"op":"get-services"}', deps)));
      assert.equal(JSON.parse(info!).ok, true);
    } finally {
      await closeControl(server, path);
    }
  });

  it("answers another client while one client's long pipelined batch is being handled", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-ctl-'));
    const path = join(dir, 'lvsd.sock');
    const table = newTable();
    const server = await listenControl(path, { table, bus: new Bus() });
    try {
      const n = 20000;
      const batch: string[] = [];
      for (let i = 0; i < n; i++) batch.push(JSON.stringify({ op: 'add-service', service: { ...svc, addr: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` } }));
      const conn = await ControlConnection.open(path);
      const replies = batch.map((l) => conn.send(JSON.parse(l)));
      // the other client asks once the batch is under way
      await replies[100];
      const r = await request(path, { op: 'info' });
      assert.equal(r.ok, true);
      assert.ok(table.list().length < n, 'info waited for the whole batch');
      const all = await Promise.all(replies);
      conn.close();
      assert.ok(all.every((x) => x.ok));
      assert.equal(table.list().length, n);
    } finally {
      await closeControl(server, path);
    }
  });

  it('answers every request of a client that half-closes after sending them (socat, nc -N, a pipe)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-ctl-'));
    const path = join(dir, 'lvsd.sock');
    const table = newTable();
    const server = await listenControl(path, { table, bus: new Bus() });
    try {
      const n = 5000;
      const lines: string[] = [];
      for (let i = 0; i < n; i++) lines.push(JSON.stringify({ op: 'add-service', service: { ...svc, addr: `10.9.${i >> 8}.${i & 255}` } }));
      // the last request has no newline: the end of the stream ends it
      const body = `${lines.join('\n')}\n{"op":"info"}`;
      const got = await new Promise<string>((res, rej) => {
        const c = connect(path);
        let out = '';
        c.setEncoding('utf8');
        c.on('data', (d: string) => { out += d; });
        c.on('end', () => res(out));
        c.on('error', rej);
        c.end(body);
      });
      const replies = got.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { ok: boolean });
      assert.equal(replies.length, n + 1);
      assert.ok(replies.every((r) => r.ok));
      assert.equal(table.list().length, n);
    } finally {
      await closeControl(server, path);
    }
  });

  it('serves at most 256 clients, fewer when the open files limit would leave under 256 descriptors for the daemon', () => {
    assert.equal(defaultMaxClients(1_048_576), 256);
    assert.equal(defaultMaxClients(1024), 192);
    assert.equal(defaultMaxClients(512), 64);
    assert.equal(defaultMaxClients(100), 4);
    assert.equal(defaultMaxClients(null), 64);
  });

  it('answers a client beyond the limit EBUSY and closes it; the others are served', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-ctl-'));
    const path = join(dir, 'lvsd.sock');
    const server = await listenControl(path, { table: newTable(), bus: new Bus() }, { maxClients: 2 });
    const held = await Promise.all([0, 1].map(() => ControlConnection.open(path)));
    try {
      const extra = await rawReplies(path, '{"op":"info"}\n', 1);
      assert.deepEqual(JSON.parse(extra[0]!), { ok: false, errno: 'EBUSY', message: 'too many clients (2 at once); try again' });
      for (const c of held) assert.equal((await c.send({ op: 'info' })).ok, true);
    } finally {
      for (const c of held) c.close();
      await closeControl(server, path);
    }
  });

  it('refuses a request line longer than 64 KiB after answering the lines before it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-ctl-'));
    const path = join(dir, 'lvsd.sock');
    const server = await listenControl(path, { table: newTable(), bus: new Bus() });
    try {
      const got = await rawReplies(path, `{"op":"info"}\n${'x'.repeat((1 << 16) + 10)}`, 2);
      assert.equal(JSON.parse(got[0]!).ok, true);
      assert.deepEqual(JSON.parse(got[1]!), { ok: false, errno: 'EPROTO', message: 'request too long (over 65536 characters): closing the connection' });
    } finally {
      await closeControl(server, path);
    }
  });
});

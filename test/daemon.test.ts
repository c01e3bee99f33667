// The daemon as a whole: config applied at start, hot reload applying a diff,
// a broken reload leaving the table alone, signals, --check.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../core/daemon.js';
import { createLogger } from '../core/log.js';
import { request } from '../core/control/client.js';
import type { ServiceView } from '../core/model/types.js';

const ROOT = new URL('..', import.meta.url).pathname;
const fx = (p: string) => new URL(`./fixtures/plugins/${p}`, import.meta.url).pathname;
const LVSD = join(ROOT, 'scripts/lvsd.js');

function writeConfig(dir: string, weights: Record<string, number>, extra = ''): string {
  const file = join(dir, 'config.ts');
  const reals = Object.entries(weights).map(([a, w]) => `{ address: '${a}', port: 80, weight: ${w} }`).join(', ');
  writeFileSync(file, `import { defineConfig } from 'lvsd';
${extra}
export default defineConfig({
  services: [{ protocol: 'tcp', address: '10.1.0.1', port: 80, scheduler: 'rr', forward: 'nat', reals: [${reals}] }],
});
`);
  return file;
}

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('daemon', function () {
  this.timeout(30_000);
  let dir: string;
  let lines: string[];
  let daemon: Daemon;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lvsd-daemon-'));
    lines = [];
  });
  afterEach(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // The watcher is effectively off (60 s) unless a test is about the watcher
  // itself: tests that edit the file and call reload() must not race it.
  const start = async (config?: string, watchDebounceMs = 60_000) => {
    daemon = new Daemon({
      configFile: config, socket: join(dir, 'lvsd.sock'), io: 'memory', pluginDirs: [],
      log: createLogger('debug', (l) => { lines.push(l); }), watchDebounceMs,
    });
    await daemon.start();
  };
  const reals = () => daemon.table.list()[0]!.dests.map((d) => `${d.addr}:${d.weight}`);

  it('starts with an empty table without --config', async () => {
    await start();
    const r = await request<ServiceView[]>(join(dir, 'lvsd.sock'), { op: 'get-services' });
    assert.deepEqual(r, { ok: true, data: [] });
  });

  it('hot-reloads a diff: an edited weight is edited, a kept real is untouched, a new one is added', async () => {
    const file = writeConfig(dir, { '192.168.1.1': 1, '192.168.1.2': 1 });
    await start(file, 20);                                // this one reloads through the watcher
    assert.deepEqual(reals(), ['192.168.1.2:1', '192.168.1.1:1']);
    const svc = daemon.table.list()[0]!;
    const kept = svc.dests.find((d) => d.addr === '192.168.1.1')!;
    const edited = svc.dests.find((d) => d.addr === '192.168.1.2')!;
    kept.stats.conns = 7; kept.activeConns = 3;           // as if traffic were flowing
    writeConfig(dir, { '192.168.1.1': 1, '192.168.1.2': 5, '192.168.1.3': 2 });
    await until('reload', () => (reals().length === 3 ? true : undefined));
    const now = daemon.table.list()[0]!;
    assert.equal(now, svc, 'the service object stays');
    assert.equal(now.dests.find((d) => d.addr === '192.168.1.1'), kept, 'the kept real is the same object');
    assert.equal(kept.stats.conns, 7);
    assert.equal(kept.activeConns, 3);
    assert.equal(now.dests.find((d) => d.addr === '192.168.1.2'), edited, 'the re-weighted real is edited in place');
    assert.deepEqual(reals(), ['192.168.1.3:2', '192.168.1.2:5', '192.168.1.1:1']);
    assert.ok(lines.some((l) => /applied: 1 added, 1 edited, 0 removed/.test(l)), lines.join(''));
  });

  it('a load started early for a change is used only if nothing changed since; a second write within the debounce is what applies', async () => {
    const file = writeConfig(dir, { '192.168.1.1': 1 });
    await start(file, 400);
    // a first edit; its load starts once the write has settled, while the debounce runs …
    writeConfig(dir, { '192.168.1.1': 2 });
    await new Promise((r) => setTimeout(r, 150));
    // … and another edit within the debounce: that early load must not be the one applied
    writeConfig(dir, { '192.168.1.1': 3 });
    await until('reload', () => (reals()[0] === '192.168.1.1:3' ? true : undefined));
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(reals(), ['192.168.1.1:3']);
    assert.equal(lines.filter((l) => /applied: 0 added, 1 edited/.test(l)).length, 1, lines.join(''));
    // SIGHUP with nothing changed since: the same
    assert.equal(await daemon.reload(), true);
    assert.deepEqual(reals(), ['192.168.1.1:3']);
  });

  it('keeps the running table when a reload is broken, and says why', async () => {
    const file = writeConfig(dir, { '192.168.1.1': 1 });
    await start(file);
    writeFileSync(file, readFileSync(file, 'utf8').replace('weight: 1', 'weight: -3'));
    assert.equal(await daemon.reload(), false);
    assert.deepEqual(reals(), ['192.168.1.1:1']);
    assert.ok(lines.some((l) => /reload failed, keeping the running config/.test(l)));
    assert.ok(lines.some((l) => /weight/.test(l) && /-3/.test(l)), lines.join(''));
    writeFileSync(file, 'export default {{{');
    assert.equal(await daemon.reload(), false);
    assert.deepEqual(reals(), ['192.168.1.1:1']);
    // And the next good edit is applied again.
    writeConfig(dir, { '192.168.1.1': 4 });
    assert.equal(await daemon.reload(), true);
    assert.deepEqual(reals(), ['192.168.1.1:4']);
  });

  it('keeps serving when a reload\'s config.ts calls process.exit() or leaves a rejection unhandled', async () => {
    const file = writeConfig(dir, { '192.168.1.1': 1 });
    await start(file);
    for (const extra of ['process.exit(1);', 'void Promise.reject(new Error("unhandled"));']) {
      writeConfig(dir, { '192.168.1.1': 9 }, extra);
      assert.equal(await daemon.reload(), false, extra);
      const r = await request<ServiceView[]>(join(dir, 'lvsd.sock'), { op: 'get-services' });
      assert.equal(r.ok && r.data[0]!.dests[0]!.weight, 1);
    }
    assert.ok(lines.some((l) => /process\.exit\(1\)/.test(l)));
    writeConfig(dir, { '192.168.1.1': 4 });
    assert.equal(await daemon.reload(), true);
    assert.deepEqual(reals(), ['192.168.1.1:4']);
  });

  it('keeps a real lvsadm added (the file never declared it) across a reload', async () => {
    const file = writeConfig(dir, { '192.168.1.1': 1 });
    await start(file);
    const sock = join(dir, 'lvsd.sock');
    const svcKey = { family: 'inet' as const, protocol: 'tcp' as const, addr: '10.1.0.1', port: 80, fwmark: 0 };
    const r = await request(sock, { op: 'add-dest', service: svcKey, dest: { family: 'inet', addr: '192.168.1.9', port: 80,
      fwd: 'masq', weight: 9, uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunFlags: 0 } });
    assert.equal(r.ok, true);
    writeConfig(dir, { '192.168.1.1': 2 });
    assert.equal(await daemon.reload(), true);
    assert.deepEqual(reals().sort(), ['192.168.1.1:2', '192.168.1.9:9']);
  });

  describe('a reload re-asserts the file over the running table', () => {
    /** Services on 10.1.0.1, by port: their reals' last octet → weight. */
    const writeServices = (svcs: Record<number, Record<number, number>>, scheduler = 'wlc'): string => {
      const file = join(dir, 'config.ts');
      const list = Object.entries(svcs).map(([port, reals]) => `{ protocol: 'tcp', address: '10.1.0.1', port: ${port}, scheduler: '${scheduler}', forward: 'nat', reals: [${
        Object.entries(reals).map(([n, w]) => `{ address: '192.168.1.${n}', port: 80, weight: ${w} }`).join(', ')}] }`);
      writeFileSync(file, `export default { services: [${list.join(', ')}] };\n`);
      return file;
    };
    const key = (port: number) => ({ family: 'inet' as const, protocol: 'tcp' as const, addr: '10.1.0.1', port, fwmark: 0 });
    const dest = (n: number, weight: number) => ({ family: 'inet' as const, addr: `192.168.1.${n}`, port: 80,
      fwd: 'masq' as const, weight, uThreshold: 0, lThreshold: 0, tunType: 'ipip' as const, tunPort: 0, tunFlags: 0 });
    /** port → "n:weight" sorted, scheduler. */
    const dump = () => Object.fromEntries(daemon.table.list().map((s) => [s.spec.port,
      `${s.spec.scheduler} ${s.dests.map((d) => `${d.addr.split('.')[3]}:${d.weight}`).sort().join(' ')}`]));
    const ask = async (req: Parameters<typeof request>[1]) => {
      const r = await request(join(dir, 'lvsd.sock'), req);
      assert.equal(r.ok, true, JSON.stringify(r));
    };

    it('lvsadm -C, then a reload: the config\'s services are back', async () => {
      await start(writeServices({ 80: { 1: 1, 2: 2 }, 443: { 3: 1 } }));
      const before = dump();
      await ask({ op: 'flush' });
      assert.deepEqual(dump(), {});
      assert.equal(await daemon.reload(), true);
      assert.deepEqual(dump(), before);
      assert.ok(lines.some((l) => /applied: 5 added, 0 edited, 0 removed/.test(l)), lines.join(''));
    });

    it('lvsadm -D of one service, then an edit of another: both are applied', async () => {
      const file = writeServices({ 80: { 1: 1 }, 443: { 3: 1 } });
      await start(file);
      await ask({ op: 'delete-service', service: key(443) });
      writeServices({ 80: { 1: 5 }, 443: { 3: 1 } });
      assert.equal(await daemon.reload(), true);
      assert.deepEqual(dump(), { 80: 'wlc 1:5', 443: 'wlc 3:1' });
      // and lvsadm -d of a real, then an edit of that real: put back with the file's settings
      await ask({ op: 'delete-dest', service: key(80), dest: dest(1, 5) });
      writeServices({ 80: { 1: 6 }, 443: { 3: 1 } });
      assert.equal(await daemon.reload(), true);
      assert.deepEqual(dump(), { 80: 'wlc 1:6', 443: 'wlc 3:1' });
    });

    it('what lvsadm added stays; what the file declares is reset to the file: weights, scheduler', async () => {
      const file = writeServices({ 80: { 1: 1, 2: 2 } });
      await start(file);
      await ask({ op: 'add-service', service: { ...key(8080), scheduler: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' } });
      await ask({ op: 'add-dest', service: key(8080), dest: dest(7, 7) });
      await ask({ op: 'add-dest', service: key(80), dest: dest(9, 9) });
      await ask({ op: 'edit-dest', service: key(80), dest: dest(2, 8) });
      await ask({ op: 'edit-service', service: { ...daemon.table.find(key(80))!.spec, scheduler: 'rr' } });
      assert.equal(await daemon.reload(), true);
      assert.deepEqual(dump(), { 80: 'wlc 1:1 2:2 9:9', 8080: 'rr 7:7' });
      // a service lvsadm added and the file now declares: taken over, not a failed reload
      writeServices({ 80: { 1: 1, 2: 2 }, 8080: { 7: 3, 8: 1 } });
      assert.equal(await daemon.reload(), true);
      assert.deepEqual(dump(), { 80: 'wlc 1:1 2:2 9:9', 8080: 'wlc 7:3 8:1' });
      // once declared, the file removes what it stops declaring; lvsadm's real stays
      writeServices({ 80: { 1: 1 } });
      assert.equal(await daemon.reload(), true);
      assert.deepEqual(dump(), { 80: 'wlc 1:1 9:9' });
    });

    it('a reload with nothing changed changes nothing in the table', async () => {
      const file = writeServices({ 80: { 1: 1, 2: 2 }, 443: { 3: 1 } });
      await start(file);
      await ask({ op: 'add-dest', service: key(80), dest: dest(9, 9) });
      const seen: string[] = [];
      const off = daemon.bus.on('table', (ev) => seen.push(ev.type));
      assert.equal(await daemon.reload(), true);
      off();
      assert.deepEqual(seen, []);
      assert.ok(lines.some((l) => /applied: 0 added, 0 edited, 0 removed/.test(l)), lines.join(''));
    });
  });

  it('--io memory takes no per-namespace lock: two daemons on two sockets run side by side', async () => {
    await start();
    const other = new Daemon({ socket: join(dir, 'other.sock'), io: 'memory', pluginDirs: [], log: createLogger('error') });
    try {
      await other.start();
      const r = await request<ServiceView[]>(join(dir, 'other.sock'), { op: 'get-services' });
      assert.deepEqual(r, { ok: true, data: [] });
    } finally {
      await other.stop();
    }
  });

  it('runs scheduler ticks when due (LBLC garbage collection and the like)', async () => {
    const file = writeConfig(dir, { '192.168.1.1': 1 });
    writeFileSync(file, readFileSync(file, 'utf8').replace("'rr'", "'ticking'"));
    daemon = new Daemon({
      configFile: file, socket: join(dir, 'lvsd.sock'), io: 'memory', pluginDirs: [fx('ticking')],
      log: createLogger('error'), watchDebounceMs: 60_000,
    });
    await daemon.start();
    const svc = daemon.table.list()[0]!;
    daemon.housekeep();                                   // first sight: due one interval later
    daemon.housekeep();
    assert.equal((svc.schedState as { ticks: number }).ticks, 0, 'not due yet');
    await new Promise((r) => setTimeout(r, 600));
    daemon.housekeep();
    assert.equal((svc.schedState as { ticks: number }).ticks, 1);
  });

  it('survives a plugin hook that throws during a reload, rolling the reload back', async () => {
    const file = writeConfig(dir, { '192.168.1.1': 1 });
    const useThrowing = () => writeFileSync(file, readFileSync(file, 'utf8').replace("'rr'", "'throwing'"));
    useThrowing();
    daemon = new Daemon({
      configFile: file, socket: join(dir, 'lvsd.sock'), io: 'memory', pluginDirs: [fx('throwing')],
      log: createLogger('error', (l) => { lines.push(l); }), watchDebounceMs: 60_000,
    });
    await daemon.start();
    writeConfig(dir, { '192.168.1.1': 3, '192.168.1.66': 1 });
    useThrowing();
    assert.equal(await daemon.reload(), false);
    assert.deepEqual(reals(), ['192.168.1.1:1']);
    assert.ok(lines.some((l) => /boom in addDest/.test(l)), lines.join(''));
  });

  it('refuses to start on a config naming an unknown scheduler', async () => {
    const file = writeConfig(dir, { '192.168.1.1': 1 });
    writeFileSync(file, readFileSync(file, 'utf8').replace("'rr'", "'nosuch'"));
    await assert.rejects(start(file), /scheduler.*nosuch/);
  });

  it('runs as a process: SIGHUP reloads, SIGTERM exits 0 and removes the socket', async function () {
    const file = writeConfig(dir, { '192.168.1.1': 1 });
    const sock = join(dir, 'proc.sock');
    const child = spawn(process.execPath, [LVSD, '--config', file, '--socket', sock, '--io', 'memory'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    try {
      const get = async () => {
        const r = await request<ServiceView[]>(sock, { op: 'get-services' }).catch(() => undefined);
        return r && r.ok ? r.data : undefined;
      };
      const first = await until('daemon up', get);
      assert.equal(first[0]!.dests.length, 1);
      writeConfig(dir, { '192.168.1.1': 1, '192.168.1.2': 1 });
      child.kill('SIGHUP');
      await until('reload', async () => ((await get())?.[0]?.dests.length === 2 ? true : undefined));
      const code = await new Promise<number | null>((res) => { child.on('exit', (c) => res(c)); child.kill('SIGTERM'); });
      assert.equal(code, 0, err);
      assert.equal(existsSync(sock), false);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('runs as a process: lvsadm -C, then SIGHUP restores the config\'s services', async function () {
    const file = writeConfig(dir, { '192.168.1.1': 1, '192.168.1.2': 3 });
    const sock = join(dir, 'proc.sock');
    const child = spawn(process.execPath, [LVSD, '--config', file, '--socket', sock, '--io', 'memory'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    const lvsadm = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'scripts/lvsadm.js'), ...args],
      { encoding: 'utf8', env: { ...process.env, LVSD_SOCKET: sock } });
    try {
      const get = async () => {
        const r = await request<ServiceView[]>(sock, { op: 'get-services' }).catch(() => undefined);
        return r && r.ok ? r.data : undefined;
      };
      await until('daemon up', get);
      const listed = lvsadm('-L', '-n').stdout;
      assert.match(listed, /10\.1\.0\.1:80/);
      assert.equal(lvsadm('-C').status, 0);
      assert.deepEqual(await get(), []);
      child.kill('SIGHUP');
      await until('reload', async () => ((await get())?.[0]?.dests.length === 2 ? true : undefined));
      assert.equal(lvsadm('-L', '-n').stdout, listed);
    } finally {
      child.kill('SIGKILL');
    }
    void err;
  });

  it('lvsd --check prints the plan, or the error with exit status 1', () => {
    const good = writeConfig(dir, { '192.168.1.1': 1 });
    const ok = spawnSync(process.execPath, [LVSD, '--check', good], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /valid/);
    assert.match(ok.stdout, /10\.1\.0\.1/);
    assert.match(ok.stdout, /192\.168\.1\.1/);
    writeFileSync(good, readFileSync(good, 'utf8').replace("'10.1.0.1'", "'10.1.0.300'"));
    const bad = spawnSync(process.execPath, [LVSD, '--check', good], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /services\[0\]\.address/);
  });

  it('refuses bad command lines with a clear message', () => {
    const r = spawnSync(process.execPath, [LVSD, '--io', 'carrier-pigeon'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--io must be memory or afpacket/);
    const u = spawnSync(process.execPath, [LVSD, '--bogus'], { encoding: 'utf8' });
    assert.equal(u.status, 2);
    assert.match(u.stderr, /bogus/);
  });
});

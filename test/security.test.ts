// Least privilege and no local escalation (README "Security"): each test shows
// one way another local user could have had code run as root, or read a
// secret, and that it is closed. Most need root (to create files owned by
// someone else and to run things as nobody); they skip, saying so, otherwise.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  accessSync, chmodSync, chownSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Daemon } from '../core/daemon.js';
import { createLogger } from '../core/log.js';
import { loadConfig } from '../core/config/load.js';
import { loadPlugins } from '../core/plugins/loader.js';
import { lookupUser, runProgram, scriptUser, setScriptUser } from '../core/health/script.js';
import { unsafePathReason } from '../core/security/safe-path.mjs';
import { redact, REDACTED } from '../core/security/redact.js';
import { request } from '../core/control/client.js';
import { PACKAGE_ROOT } from '../core/paths.js';

const isRoot = process.geteuid?.() === 0;
const nobody = lookupUser('nobody');
const asNobody = ['setpriv', `--reuid=${nobody?.uid ?? 65534}`, `--regid=${nobody?.gid ?? 65534}`, '--clear-groups'];

function needRoot(ctx: Mocha.Context): void {
  if (!isRoot || !nobody) { console.log('      (skipped: needs root and the user nobody)'); ctx.skip(); }
}

/** Tests that run lvsd's own files as nobody need a checkout nobody may read (a clone under a 0700 folder is not). */
function needNobodyReach(ctx: Mocha.Context): void {
  needRoot(ctx);
  const probe = join(PACKAGE_ROOT, 'scripts', 'lvsadm.js');
  const r = spawnSync(asNobody[0]!, [...asNobody.slice(1), 'test', '-r', probe], { stdio: 'ignore' });
  if (r.status !== 0) { console.log(`      (skipped: the user nobody cannot read ${probe}: a folder above the checkout is closed to others)`); ctx.skip(); }
}

async function until(what: string, f: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('security: StrictModes (files lvsd runs code from)', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'lvsd-sec-')); chmodSync(dir, 0o755); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('as root: another user\'s file, a group- or world-writable file or folder above it are refused; root\'s sticky /tmp above is not', function () {
    needRoot(this);
    const f = join(dir, 'config.ts');
    writeFileSync(f, 'export default {};\n', { mode: 0o644 });
    assert.equal(unsafePathReason(f), null);
    chmodSync(f, 0o664);
    assert.match(unsafePathReason(f)!, /group-writable \(mode 0664\)/);
    chmodSync(f, 0o646);
    assert.match(unsafePathReason(f)!, /world-writable/);
    chmodSync(f, 0o644);
    chownSync(f, nobody!.uid, nobody!.gid);
    assert.match(unsafePathReason(f)!, /owned by uid 65534, neither root nor uid 0/);
    chownSync(f, 0, 0);
    chmodSync(dir, 0o777);   // not sticky: anyone could swap the file
    assert.match(unsafePathReason(f)!, new RegExp(`folder ${dir} above it\\) is world-writable`));
  });

  it('as an ordinary user: the same rule relative to that user', function () {
    needNobodyReach(this);
    const f = join(dir, 'mine.ts');
    writeFileSync(f, '', { mode: 0o644 });
    chownSync(f, nobody!.uid, nobody!.gid);
    const mod = resolve(PACKAGE_ROOT, 'core/security/safe-path.mjs');
    const ask = (): string => spawnSync(asNobody[0]!, [...asNobody.slice(1), process.execPath, '--input-type=module', '-e',
      `const { unsafePathReason } = await import(${JSON.stringify(mod)}); console.log(String(unsafePathReason(${JSON.stringify(f)})))`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(ask(), 'null', 'its own file is fine for nobody');
    chmodSync(f, 0o666);
    assert.match(ask(), /world-writable/);
  });

  it('a plugin folder others can write to, or a plugin file of another user, is refused with its path', async function () {
    needRoot(this);
    const plugins = join(dir, 'plugins');
    mkdirSync(join(plugins, 'schedulers'), { recursive: true, mode: 0o755 });
    writeFileSync(join(plugins, 'schedulers', 'mine.ts'), `import { defineScheduler } from 'lvsd';
export default defineScheduler({ name: 'mine', description: 'test', init: () => null, schedule: (_s, dests) => dests[0] ?? null });
`, { mode: 0o644 });
    chmodSync(plugins, 0o777);
    await assert.rejects(loadPlugins([plugins], { builtin: false }), (e: Error) => {
      assert.match(e.message, new RegExp(`plugin ${plugins}: refusing to load plugins from it: it is world-writable`));
      return true;
    });
    chmodSync(plugins, 0o755);
    chownSync(join(plugins, 'schedulers', 'mine.ts'), nobody!.uid, nobody!.gid);
    await assert.rejects(loadPlugins([plugins], { builtin: false }), /mine\.ts: refusing to load it: it is owned by uid 65534/);
  });

  it('a config file, or a file it imports, that others can change is refused before it runs', async function () {
    needRoot(this);
    const marker = join(dir, 'ran');
    const f = join(dir, 'config.ts');
    writeFileSync(join(dir, 'part.ts'), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'x');\nexport const services = [];\n`, { mode: 0o644 });
    writeFileSync(f, `import { services } from './part';\nexport default { services };\n`, { mode: 0o644 });
    chownSync(join(dir, 'part.ts'), nobody!.uid, nobody!.gid);
    const r = await loadConfig(f);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.error : '', new RegExp(`${dir}/part.ts: refusing to run this config file: it is owned by uid 65534`));
    assert.equal(existsSync(marker), false, 'the file did not run');
    chownSync(join(dir, 'part.ts'), 0, 0);
    chmodSync(f, 0o666);
    const r2 = await loadConfig(f);
    assert.match(!r2.ok ? r2.error : '', /config.ts: refusing to run this config file: it is world-writable/);
  });
});

describe('security: lvsd\'s own compiled code (bundle and tsx caches)', function () {
  this.timeout(120_000);
  const lvsadm = join(PACKAGE_ROOT, 'scripts', 'lvsadm.js');

  it('a bundle cache folder others can write to is refused, not loaded', function () {
    needRoot(this);
    const cache = join(PACKAGE_ROOT, 'node_modules', '.cache', 'lvsadm');
    assert.equal(spawnSync(process.execPath, [lvsadm, '-v'], { encoding: 'utf8' }).status, 0);   // builds it
    chmodSync(cache, 0o777);
    try {
      const r = spawnSync(process.execPath, [lvsadm, '-v'], { encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.match(r.stderr, new RegExp(`lvsadm: refusing to load lvsd's compiled code from ${cache}: it is world-writable`));
    } finally { chmodSync(cache, 0o755); }
  });

  it('as root the tsx fallback never uses $TMPDIR/tsx-0 (another user may have made it first)', function () {
    needRoot(this);
    const shared = mkdtempSync(join(tmpdir(), 'lvsd-shared-tmp-'));
    try {
      chmodSync(shared, 0o1777);
      const planted = join(shared, 'tsx-0');
      mkdirSync(planted);
      chownSync(planted, nobody!.uid, nobody!.gid);   // the squatter's cache
      const r = spawnSync(process.execPath, [lvsadm, '-v'], { encoding: 'utf8', env: { ...process.env, TMPDIR: shared, LVSADM_NO_BUNDLE: '1' } });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(readdirSync(planted), [], 'nothing of tsx went to the squatter\'s folder');
      const own = join(PACKAGE_ROOT, 'node_modules', '.cache', 'lvsd-tsx');
      assert.equal(statSync(own).uid, 0);
      assert.equal(statSync(own).mode & 0o022, 0);
    } finally { rmSync(shared, { recursive: true, force: true }); }
  });
});

describe('security: lvsadm checks who answers on the socket (SO_PEERCRED)', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'lvsd-peer-')); chmodSync(dir, 0o777); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A fake lvsd run as nobody: records what it is sent, answers every line. */
  async function squatter(sock: string, got: string): Promise<() => void> {
    const code = `const { createServer } = await import('node:net'); const { appendFileSync } = await import('node:fs');
createServer((c) => c.on('data', (d) => { appendFileSync(${JSON.stringify(got)}, d); c.write('{"ok":true,"value":{}}\\n'); }))
  .listen(${JSON.stringify(sock)}, () => console.log('up'));`;
    const p = spawn(asNobody[0]!, [...asNobody.slice(1), process.execPath, '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => p.stdout!.once('data', () => r()));
    return () => p.kill();
  }

  it('root\'s lvsadm refuses a socket served by another user and sends nothing', async function () {
    needRoot(this);
    const sock = join(dir, 'lvsd.sock'), got = join(dir, 'got');
    const stop = await squatter(sock, got);
    try {
      const r = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'scripts', 'lvsadm.js'), '--socket', sock, '-A', '-t', '10.0.0.1:80'], { encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.match(r.stderr, new RegExp(`refusing to talk to ${sock} is served by uid 65534 .*nothing was sent`));
      assert.equal(existsSync(got), false, 'the squatter received nothing');
      await assert.rejects(request(sock, { op: 'info' } as never), /served by uid 65534/);
    } finally { stop(); }
  });

  it('an ordinary user\'s lvsadm talks to a server of the same user', async function () {
    needNobodyReach(this);
    const sock = join(dir, 'lvsd.sock'), got = join(dir, 'got');
    const stop = await squatter(sock, got);
    try {
      const r = spawnSync(asNobody[0]!, [...asNobody.slice(1), process.execPath, join(PACKAGE_ROOT, 'scripts', 'lvsadm.js'), '--socket', sock, '-A', '-t', '10.0.0.1:80'], { encoding: 'utf8' });
      assert.doesNotMatch(r.stderr, /refusing/);
      await until('the request', () => existsSync(got));
    } finally { stop(); }
  });
});

describe('security: programs run as scriptUser with a clean environment', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'lvsd-script-')); chmodSync(dir, 0o755); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); setScriptUser(undefined); });

  function script(body: string): { file: string; out: string } {
    const out = join(dir, 'out');
    mkdirSync(out, { recursive: true });
    const u = scriptUser();
    if (!('error' in u)) chownSync(out, u.uid, u.gid);
    const file = join(dir, 's.sh');
    writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return { file, out: join(out, 'o') };
  }

  it('as root by default: the unprivileged script user, no supplementary groups, PATH and the named variables only', async function () {
    needRoot(this);
    process.env.LVSD_TEST_SECRET = 's3cret';
    try {
      const u = scriptUser();
      assert.ok(!('error' in u));
      assert.ok(['lvsd-script', 'nobody'].includes(u.name));
      const { file, out } = script(`{ id -u; id -G; env | sort; } > ${join(dir, 'out', 'o')}`);
      const r = await runProgram([file], { env: { LVSD_REAL_PORT: '80' } });
      assert.equal(r.status, 0, r.error);
      const [uid, groups, ...env] = readFileSync(out, 'utf8').trim().split('\n');
      assert.equal(Number(uid), u.uid);
      assert.equal(groups, String(u.gid));
      const names = env.map((l) => l.split('=')[0]).filter((n) => n !== 'PWD' && n !== 'SHLVL' && n !== '_');
      assert.deepEqual(names, ['LVSD_REAL_PORT', 'PATH']);
    } finally { delete process.env.LVSD_TEST_SECRET; }
  });

  it('scriptUser: root is taken when the config says so; an unknown user is a config error', async function () {
    needRoot(this);
    setScriptUser('root');
    const { file, out } = script(`id -u > ${join(dir, 'out', 'o')}`);
    assert.equal((await runProgram([file])).status, 0);
    assert.equal(readFileSync(out, 'utf8').trim(), '0');
    const f = join(dir, 'config.ts');
    writeFileSync(f, `export default { scriptUser: 'no-such-user-here' };\n`, { mode: 0o644 });
    const r = await loadConfig(f);
    assert.match(!r.ok ? r.error : '', /scriptUser: user no-such-user-here does not exist/);
  });

  it('a program others could change is refused (enable_script_security)', async function () {
    needRoot(this);
    const { file } = script('exit 0');
    chmodSync(file, 0o775);
    const r = await runProgram([file]);
    assert.equal(r.status, null);
    assert.match(r.error!, new RegExp(`refused \\(script security\\): ${file}: it is group-writable`));
    chmodSync(file, 0o755);
    chownSync(file, nobody!.uid, nobody!.gid);   // the script user's own file: it could rewrite what root asked to run
    assert.match((await runProgram([file])).error!, /owned by uid 65534/);
  });
});

describe('security: secrets stay out of logs and listings', function () {
  this.timeout(60_000);

  it('redact(): URL userinfo, query strings, named secrets, bearer tokens', () => {
    assert.equal(redact('http GET /health?token=abc&x=1 on 10.0.0.1:80'), `http GET /health?${REDACTED} on 10.0.0.1:80`);
    assert.equal(redact('https://user:pw@example.com/x?q=1'), `https://${REDACTED}@example.com/x?${REDACTED}`);
    assert.equal(redact('password=hunter2 apiKey: "k1" Authorization: Bearer abc.def'), `password=${REDACTED} apiKey: "${REDACTED}" Authorization: Bearer ${REDACTED}`);
    assert.equal(redact('TCP 10.0.0.1:80 rr: 3 reals, weight 1'), 'TCP 10.0.0.1:80 rr: 3 reals, weight 1');
    const lines: string[] = [];
    createLogger('info', (l) => lines.push(l)).warn('check failed: GET /x?secret=1');
    assert.deepEqual(lines, [`lvsd: warn: check failed: GET /x?${REDACTED}\n`]);
  });

  it('an HTTP check\'s path with a token: not in the log, not in lvsadm -L --health', async function () {
    const pluginCache = join(PACKAGE_ROOT, 'node_modules', '.cache', 'lvsd-plugins');
    try { if (existsSync(pluginCache)) accessSync(pluginCache, constants.W_OK); } catch {
      console.log(`      (skipped: ${pluginCache} is another user's; a daemon of this user cannot compile its plugins there)`);
      this.skip();
    }
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-redact-'));
    const srv = createHttpServer((_q, s) => { s.statusCode = 500; s.end('no'); });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    const file = join(dir, 'config.ts');
    writeFileSync(file, `export default {
  services: [{ protocol: 'tcp', address: '10.1.0.1', port: ${port}, scheduler: 'rr', forward: 'nat',
    health: { check: 'http', path: '/health?token=TOPSECRET', interval: 1, timeout: 1, retry: 0 },
    reals: [{ address: '127.0.0.1', port: ${port} }] }],
};
`);
    const lines: string[] = [];
    const sock = join(dir, 'lvsd.sock');
    const daemon = new Daemon({ configFile: file, socket: sock, io: 'memory', pluginDirs: [], log: createLogger('debug', (l) => lines.push(l)), watchDebounceMs: 60_000 });
    await daemon.start();
    try {
      await until('the check to fail', () => lines.some((l) => /status 500/.test(l)));
      const listing = JSON.stringify(await request(sock, { op: 'get-health' }));
      assert.match(listing, /status 500/);
      assert.doesNotMatch(listing, /TOPSECRET/);
      assert.doesNotMatch(lines.join(''), /TOPSECRET/);
      assert.match(lines.join(''), new RegExp(`/health\\?${REDACTED}`));
    } finally {
      await daemon.stop();
      await new Promise<void>((r) => srv.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('security: capabilities once started', function () {
  this.timeout(120_000);

  it('as root lvsd keeps cap_net_admin, cap_net_raw, cap_setuid, cap_setgid, cap_kill; the control socket and exec checks still work', async function () {
    needRoot(this);
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-caps-'));
    chmodSync(dir, 0o755);
    const out = join(dir, 'out');
    mkdirSync(out);
    const u = scriptUser();
    if (!('error' in u)) chownSync(out, u.uid, u.gid);
    const check = join(dir, 'check.sh');
    writeFileSync(check, `#!/bin/sh\ngrep CapEff /proc/self/status > ${out}/ran\n`, { mode: 0o755 });
    const file = join(dir, 'config.ts');
    writeFileSync(file, `export default {
  services: [{ protocol: 'tcp', address: '10.1.0.1', port: 80, scheduler: 'rr', forward: 'nat',
    health: { check: 'exec', command: ${JSON.stringify(check)}, interval: 1 },
    reals: [{ address: '10.1.0.2', port: 80 }] }],
};
`, { mode: 0o644 });
    const sock = join(dir, 'lvsd.sock');
    const p = spawn(process.execPath, [join(PACKAGE_ROOT, 'scripts', 'lvsd.js'), '--config', file, '--socket', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    try {
      await until('lvsd to drop its capabilities', () => /capabilities: kept/.test(err), 60_000);
      const status = readFileSync(`/proc/${p.pid}/status`, 'utf8');
      const eff = /CapEff:\s*([0-9a-f]+)/.exec(status)![1];
      const bnd = /CapBnd:\s*([0-9a-f]+)/.exec(status)![1];
      assert.equal(BigInt(`0x${eff}`), 0x30e0n, `CapEff ${eff}`);
      assert.equal(BigInt(`0x${bnd}`), 0x30e0n, `CapBnd ${bnd}`);
      assert.match(err, /kept cap_net_admin, cap_net_raw, cap_setuid, cap_setgid, cap_kill/);
      // the control socket still answers; the exec check still runs (as the script user)
      const r = await request(sock, { op: 'get-health' });
      assert.equal(r.ok, true);
      await until('the exec check to run', () => existsSync(join(out, 'ran')));
      assert.match(readFileSync(join(out, 'ran'), 'utf8'), /CapEff:\s*0+$/m, 'the script user has no capabilities');
    } finally {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a thread that dropped them: nft works, another user\'s private file is out of reach', function () {
    needRoot(this);
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-caps2-'));
    try {
      const secret = join(dir, 'secret');
      writeFileSync(secret, 'x', { mode: 0o600 });
      chownSync(secret, nobody!.uid, nobody!.gid);
      chmodSync(dir, 0o755);
      const code = `import { dropCapabilities } from ${JSON.stringify(join(PACKAGE_ROOT, 'core/security/caps.ts'))};
import { spawnSync } from 'node:child_process'; import { readFileSync } from 'node:fs';
const before = (() => { try { readFileSync(${JSON.stringify(secret)}); return 'read'; } catch (e) { return e.code; } })();
const r = dropCapabilities();
const after = (() => { try { readFileSync(${JSON.stringify(secret)}); return 'read'; } catch (e) { return e.code; } })();
const nft = spawnSync('nft', ['list', 'ruleset']).status;
const child = /CapEff:\\s*(\\w+)/.exec(spawnSync('cat', ['/proc/self/status'], { encoding: 'utf8' }).stdout)[1];
console.log(JSON.stringify({ ok: r.ok, before, after, nft, child }));`;
      const f = join(dir, 'drop.mts');
      writeFileSync(f, code);
      const r = spawnSync(process.execPath, ['--import', 'tsx', f], { encoding: 'utf8', cwd: PACKAGE_ROOT });
      const got = JSON.parse(r.stdout.trim()) as { ok: boolean; before: string; after: string; nft: number | null; child: string };
      assert.equal(got.ok, true);
      assert.equal(got.before, 'read');
      assert.equal(got.after, 'EACCES');
      const hasNft = spawnSync('nft', ['--version']).status === 0;
      if (hasNft) assert.equal(got.nft, 0, 'nft still works with cap_net_admin');
      assert.equal(BigInt(`0x${got.child}`), 0x30e0n);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

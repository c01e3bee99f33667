// Every checker against real local servers started here (loopback only):
// listeners that answer, refuse, stay silent; HTTP(S) with right and wrong
// status and digest; UDP echo; a DNS responder; SMTP banners; ping; scripts.
// No timing assertions: timeouts only bound how long a silent server is waited for.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HealthCheckPlugin, HealthOptionsResult, HealthResult, HealthTarget } from '../core/plugin.js';
import { pluginOptions } from '../core/health/options.js';
import tcp from '../plugins/health/tcp.js';
import http from '../plugins/health/http.js';
import https from '../plugins/health/https.js';
import udp from '../plugins/health/udp.js';
import dns from '../plugins/health/dns.js';
import smtp from '../plugins/health/smtp.js';
import ping from '../plugins/health/ping.js';
import exec from '../plugins/health/exec.js';
import { buildRequest } from '../plugins/health/lib/http.js';
import { runProgram } from '../core/health/script.js';

const LO = '127.0.0.1';
/** A checker's options as the config would give them, typed as the plugin's. */
const options = <O>(p: HealthCheckPlugin<O>, raw: Record<string, unknown>): HealthOptionsResult<O> =>
  pluginOptions(p as HealthCheckPlugin<unknown>, raw) as HealthOptionsResult<O>;
const target = (port: number, extra: Partial<HealthTarget> = {}): HealthTarget =>
  ({ family: 'inet', addr: LO, port, protocol: 'tcp', weight: 5, label: `[${LO}]:tcp:${port}`, ...extra });

async function run<O>(p: HealthCheckPlugin<O>, t: HealthTarget, raw: Record<string, unknown> = {}, timeoutMs = 2000, step = 0): Promise<HealthResult> {
  const o = pluginOptions(p as HealthCheckPlugin<unknown>, raw) as HealthOptionsResult<O>;
  if (!o.ok) assert.fail(`options: ${o.error}`);
  return p.check(t, o.value, { signal: AbortSignal.timeout(timeoutMs), timeout: timeoutMs / 1000, step, state: {} });
}

const listen = (s: Server | HttpServer): Promise<number> =>
  new Promise((r) => s.listen(0, LO, () => r((s.address() as AddressInfo).port)));
/** A port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const s = createServer();
  const p = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}
const fail = (r: HealthResult): Extract<HealthResult, { ok: false }> => { assert.equal(r.ok, false, 'expected a failure'); return r as Extract<HealthResult, { ok: false }>; };

describe('health checkers against local servers', function () {
  this.timeout(20_000);
  const closers: (() => void)[] = [];
  after(() => { for (const c of closers) c(); });

  describe('tcp', () => {
    it('succeeds on a listener, fails "refused" on a closed port', async () => {
      const s = createServer((c) => c.destroy());
      closers.push(() => s.close());
      assert.deepEqual(await run(tcp, target(await listen(s))), { ok: true });
      const r = fail(await run(tcp, target(await deadPort())));
      assert.equal(r.failure, 'refused');
      assert.match(r.reason, /connection refused/);
    });
    it('binds to the configured source address', async () => {
      // The client's connect can complete before the server's connection callback runs: wait for it.
      let gotPeer!: (addr: string) => void;
      const peer = new Promise<string>((r) => { gotPeer = r; });
      const s = createServer((c) => { gotPeer(c.remoteAddress ?? ''); c.destroy(); });
      closers.push(() => s.close());
      assert.equal((await run(tcp, target(await listen(s), { bindto: '127.0.0.2' }))).ok, true);
      assert.match(await peer, /127\.0\.0\.2$/);
    });
    it('refuses options it does not know', () => {
      const o = pluginOptions(tcp, { pth: '/' });
      assert.equal(o.ok, false);
    });
  });

  describe('http and https', () => {
    const body = 'healthy\n';
    const md5 = createHash('md5').update(body).digest('hex');
    let port = 0;
    let seen: { url?: string; headers: Record<string, string | string[] | undefined>; version: string }[] = [];
    before(async () => {
      const s = createHttpServer((req, res) => {
        seen.push({ url: req.url ?? '', headers: req.headers, version: req.httpVersion });
        if (req.url === '/missing') { res.writeHead(404); res.end('no'); return; }
        if (req.url === '/hang') return;   // never answers
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(req.url === '/changed' ? 'changed\n' : body);
      });
      closers.push(() => s.close());
      port = await listen(s);
    });
    beforeEach(() => { seen = []; });

    it("sends keepalived's request and accepts a 2xx with the right digest", async () => {
      const r = await run(http, target(port), { path: '/health', digest: md5 });
      assert.equal(r.ok, true);
      assert.equal(seen[0]!.url, '/health');
      assert.equal(seen[0]!.headers['user-agent'], 'KeepAliveClient');
      assert.equal(seen[0]!.headers['host'], `${LO}:${port}`);
      assert.equal(seen[0]!.version, '1.0');
      const req = buildRequest(target(port, { virtualhost: 'www.example' }), { urls: [], protocol: '1.1' },
        { path: '/x', status: [[200, 299]], statusText: '200-299', regexNoMatch: false });
      assert.equal(req, 'GET /x HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example\r\n\r\n');
    });
    it('fails on a status outside the set, even a 2xx one', async () => {
      const a = fail(await run(http, target(port), { path: '/missing' }));
      assert.equal(a.failure, 'status');
      assert.match(a.reason, /status 404, expected 200-299/);
      const b = fail(await run(http, target(port), { path: '/', statusCode: 404 }));
      assert.equal(b.failure, 'status');
      assert.equal((await run(http, target(port), { path: '/missing', statusCode: ['200-299', 404] })).ok, true);
    });
    it('fails on a digest mismatch, and on a regex', async () => {
      const r = fail(await run(http, target(port), { path: '/changed', digest: md5 }));
      assert.equal(r.failure, 'digest');
      assert.match(r.reason, new RegExp(`expected ${md5}`));
      assert.equal(fail(await run(http, target(port), { path: '/', regex: 'sick' })).failure, 'content');
      assert.equal((await run(http, target(port), { path: '/', regex: 'sick', regexNoMatch: true })).ok, true);
    });
    it('times out on a server that never answers; refused on a closed port', async () => {
      assert.equal(fail(await run(http, target(port), { path: '/hang' }, 300)).failure, 'timeout');
      assert.equal(fail(await run(http, target(await deadPort()), {})).failure, 'refused');
    });
    it('checks one URL per step', async () => {
      const o = options(http, { urls: [{ path: '/a' }, { path: '/missing' }] });
      assert.ok(o.ok);
      assert.equal(http.steps!(o.value), 2);
      assert.equal((await run(http, target(port), { urls: [{ path: '/a' }, { path: '/missing' }] }, 2000, 0)).ok, true);
      assert.equal((await run(http, target(port), { urls: [{ path: '/a' }, { path: '/missing' }] }, 2000, 1)).ok, false);
    });
    it('option errors name the field', () => {
      const o = pluginOptions(http, { path: '/', digest: 'xyz' });
      assert.deepEqual(o.ok ? null : o.field, 'digest');
      const t = pluginOptions(http, { statusCod: 200 });
      assert.ok(!t.ok && /did you mean 'statusCode'/.test(t.error));
      const u = pluginOptions(http, { statusCode: '200-99' });
      assert.ok(!u.ok && u.field === 'statusCode');
    });

    it('https: self-signed certificate accepted by default, refused with verify', async function () {
      const dir = mkdtempSync(join(tmpdir(), 'lvsd-tls-'));
      try {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
          '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
      } catch {
        console.log('      (skipped: openssl is not available to make a self-signed certificate)');
        this.skip();
      }
      const { readFileSync } = await import('node:fs');
      const s = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
        res.writeHead(req.url === '/bad' ? 500 : 200); res.end(body);
      });
      closers.push(() => s.close());
      const p = await listen(s);
      assert.equal((await run(https, target(p), { path: '/', digest: md5 })).ok, true);
      assert.equal(fail(await run(https, target(p), { path: '/bad' })).failure, 'status');
      const v = fail(await run(https, target(p), { path: '/', verify: true, sniName: 'localhost' }));
      assert.equal(v.failure, 'protocol');
      assert.match(v.reason, /TLS|certificate/i);
      assert.equal((await run(https, target(p), { path: '/', verify: true, sniName: 'localhost', ca: join(dir, 'cert.pem') })).ok, true);
    });
  });

  describe('udp', () => {
    let echo: UdpSocket;
    let port = 0;
    before(async () => {
      echo = createSocket('udp4');
      echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from('OK'), m]), r.port, r.address));
      await new Promise<void>((r) => echo.bind(0, LO, () => r()));
      port = echo.address().port;
      closers.push(() => echo.close());
    });
    it('requireReply: an echo with the expected prefix succeeds, a wrong prefix fails', async () => {
      assert.equal((await run(udp, target(port, { protocol: 'udp' }), { payload: '0102', requireReply: '4f4bXX02' })).ok, true);
      assert.equal(fail(await run(udp, target(port, { protocol: 'udp' }), { payload: '0102', requireReply: 'ffff' })).failure, 'content');
      assert.equal(fail(await run(udp, target(port, { protocol: 'udp' }), { payload: '0102', requireReply: true, maxReplyLength: 2 })).failure, 'content');
    });
    it('a closed port answers with ICMP port unreachable: refused', async () => {
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, LO, () => r()));
      const dead = s.address().port;
      s.close();
      assert.equal(fail(await run(udp, target(dead, { protocol: 'udp' }), {}, 1000)).failure, 'refused');
    });
    it('without requireReply, silence until the timeout is success', async () => {
      assert.equal((await run(udp, target(port, { protocol: 'udp' }), {}, 300)).ok, true);
    });
  });

  describe('dns', () => {
    let port = 0;
    let rcode = 0;
    let sameId = true;
    before(async () => {
      const s = createSocket('udp4');
      s.on('message', (q, r) => {
        const a = Buffer.from(q);
        a[2] = 0x81; a[3] = 0x80 | rcode;
        if (!sameId) a.writeUInt16BE((a.readUInt16BE(0) + 1) & 0xffff, 0);
        s.send(a, r.port, r.address);
      });
      await new Promise<void>((r) => s.bind(0, LO, () => r()));
      port = s.address().port;
      closers.push(() => s.close());
    });
    it('a NOERROR reply with our id succeeds; SERVFAIL fails; a foreign id is ignored', async () => {
      rcode = 0; sameId = true;
      assert.equal((await run(dns, target(port, { protocol: 'udp' }), { type: 'A', name: 'www.example.com' })).ok, true);
      rcode = 2;
      const f = fail(await run(dns, target(port, { protocol: 'udp' }), {}));
      assert.match(f.reason, /SERVFAIL/);
      rcode = 0; sameId = false;
      assert.equal(fail(await run(dns, target(port, { protocol: 'udp' }), {}, 300)).failure, 'timeout');
    });
    it('defaults: SOA for the root, retry 3, delayBeforeRetry = interval', () => {
      const o = options(dns, {});
      assert.ok(o.ok && o.value.type === 'SOA' && o.value.name === '.');
      assert.deepEqual(dns.defaults, { retry: 3, delayBeforeRetry: 'interval' });
      assert.ok(!pluginOptions(dns, { type: 'PTR' }).ok);
    });
  });

  describe('smtp', () => {
    const server = (banner: string, helo: string): Server => createServer((c: Socket) => {
      c.write(`${banner}\r\n`);
      c.on('data', (d) => {
        const l = d.toString();
        if (l.startsWith('HELO')) c.write(`${helo}\r\n`);
        else if (l.startsWith('QUIT')) c.end('221 bye\r\n');
      });
    });
    it('220 banner, 250 to HELO: success; a 554 banner or 501 to HELO: failure', async () => {
      const good = server('220-mail.example ESMTP\r\n220 ready', '250 hello');
      const bad = server('554 go away', '250 hello');
      const rude = server('220 ready', '501 who?');
      closers.push(() => good.close(), () => bad.close(), () => rude.close());
      assert.equal((await run(smtp, target(await listen(good)))).ok, true);
      assert.match(fail(await run(smtp, target(await listen(bad)))).reason, /banner status 554, expected 220/);
      assert.match(fail(await run(smtp, target(await listen(rude)))).reason, /HELO answered 501/);
    });
  });

  describe('ping', () => {
    it('echo reply from 127.0.0.1 and ::1 (needs a raw socket)', async function () {
      const r = await run(ping, target(0));
      if (!r.ok && /raw socket/.test(r.reason)) {
        console.log(`      (skipped: ${r.reason})`);
        this.skip();
      }
      assert.equal(r.ok, true);
      const r6 = await run(ping, { ...target(0), family: 'inet6', addr: '::1' });
      if (!r6.ok) console.log(`      (IPv6 loopback ping failed: ${r6.reason}; no ::1 here?)`);
    });
  });

  describe('exec', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-exec-'));
    // as root the scripts run as the script user (nobody here): it must reach them
    chmodSync(dir, 0o755);
    const script = (name: string, body: string): string => {
      const f = join(dir, name);
      writeFileSync(f, `#!/bin/sh\n${body}\n`);
      chmodSync(f, 0o755);
      return f;
    };
    it('exit 0 up, exit 1 down, exit 2 down without dynamic', async () => {
      assert.equal((await run(exec, target(80), { command: script('ok.sh', 'exit 0') })).ok, true);
      const f = fail(await run(exec, target(80), { command: script('one.sh', 'exit 1') }));
      assert.equal(f.failure, 'exit');
      assert.match(f.reason, /exited with status 1/);
      assert.equal((await run(exec, target(80), { command: script('two.sh', 'exit 2') })).ok, false);
    });
    it('dynamic: exit 10 → weight 8, 2 → 0, 255 → 253, 0 → configured, 1 → down', async () => {
      const w = async (code: number): Promise<HealthResult> => run(exec, target(80), { command: [script(`d${code}.sh`, `exit ${code}`)], dynamic: true });
      assert.deepEqual(await w(10), { ok: true, weight: 8, detail: 'exit 10: weight 8' });
      assert.equal((await w(2) as { weight?: number }).weight, 0);
      assert.equal((await w(255) as { weight?: number }).weight, 253);
      assert.deepEqual(await w(0), { ok: true, detail: 'exit 0' });
      assert.equal((await w(1)).ok, false);
    });
    it('a script past its timeout is killed and fails "timeout"; a missing one fails', async () => {
      const f = fail(await run(exec, target(80), { command: script('slow.sh', 'exec sleep 30') }, 300));
      assert.equal(f.failure, 'timeout');
      assert.equal(fail(await run(exec, target(80), { command: join(dir, 'nope.sh') })).failure, 'error');
      assert.equal((await run(exec, target(80), { command: `${script('args.sh', '[ "$1" = "a b" ] && [ "$LVSD_REAL_PORT" = 80 ]')} "a b"` })).ok, true);
    });
    it('a program that cannot even be spawned (NUL in an argument) resolves with an error, never throws', async () => {
      const r = await runProgram(['/bin/true', 'a\0b']);
      assert.equal(r.status, null);
      assert.equal(r.timedOut, false);
      assert.match(r.error ?? '', /null bytes|\\0|NUL/i);
      const f = fail(await run(exec, target(80), { command: ['/bin/true', 'a\0b'] }));
      assert.equal(f.failure, 'error');
    });
  });
});

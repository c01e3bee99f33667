// lvsd's own lvsadm commands: --drain/--fill/--disable/--enable and -L --health.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../core/daemon.js';
import { createLogger } from '../core/log.js';
import { isExtension, parseExtension } from '../scripts/lvsadm/extensions.js';
import { lvsadm, type Io } from '../scripts/lvsadm/main.js';
import type { NameService } from '../scripts/lvsadm/resolve.js';

const ns: NameService = {
  hostToAddr: async () => null, addrToHost: async () => null,
  serviceToPort: (name) => (name === 'http' ? 80 : null), portToService: () => null,
};

describe('lvsadm: lvsd extensions (lifecycle, health listing)', () => {
  it('recognises only its own command lines', () => {
    assert.equal(isExtension(['-L', '-n']), false);
    assert.equal(isExtension(['-a', '-t', '1.2.3.4:80', '-r', '5.6.7.8']), false);
    assert.equal(isExtension(['--drain', '-t', '1.2.3.4:80', '-r', '5.6.7.8']), true);
    assert.equal(isExtension(['-Ln', '--health']), true);
  });

  it('parses lifecycle commands and the health listing', async () => {
    assert.deepEqual(await parseExtension(['--drain', '-t', '10.0.0.1:http', '-r', '192.168.0.1', '--deadline=60'], ns), { ok: true, command: {
      op: 'drain', service: { family: 'inet', protocol: 'tcp', addr: '10.0.0.1', port: 80, fwmark: 0 },
      dest: { family: 'inet', addr: '192.168.0.1', port: 80 }, deadline: 60 } });
    assert.deepEqual(await parseExtension(['--enable', '-f', '7', '-6', '-r', '[2001:db8::1]:443'], ns), { ok: true, command: {
      op: 'enable', service: { family: 'inet6', protocol: 'tcp', addr: '::', port: 0, fwmark: 7 },
      dest: { family: 'inet6', addr: '2001:db8::1', port: 443 } } });
    assert.deepEqual(await parseExtension(['-Ln', '--health'], ns), { ok: true, command: { op: 'get-health', numeric: true } });
    const refused: [string[], RegExp][] = [
      [['--drain', '-t', '10.0.0.1:80'], /needs a real server/],
      [['--drain', '-r', '192.168.0.1'], /needs a service/],
      [['--drain', '--fill', '-t', '10.0.0.1:80', '-r', '192.168.0.1'], /only one of/],
      [['--disable', '-t', '10.0.0.1:80', '-r', '192.168.0.1', '--deadline', '5'], /takes no --deadline/],
      [['--drain', '-t', '10.0.0.1:80', '-r', '192.168.0.1', '--deadline', '-5'], /--deadline takes seconds/],
      [['--health'], /use lvsadm -L --health/],
      [['-L', '--health', '-r', '1.2.3.4'], /takes no -r/],
      [['--drain', '-t', '300.0.0.1:80', '-r', '192.168.0.1'], /illegal virtual server/],
      [['--drain', '-t', '10.0.0.1:80', '-r', '192.168.0.1', '-w', '3'], /-w: not an option/],
      [['--drain', '-f', '0', '-r', '192.168.0.1'], /invalid fwmark/],
    ];
    for (const [args, re] of refused) {
      const r = await parseExtension(args, ns);
      assert.ok(!r.ok && re.test(r.error), `${args.join(' ')} → ${JSON.stringify(r)}`);
    }
  });

  it('drains, fills, disables and enables a real server through the daemon', async function () {
    this.timeout(30_000);
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-ext-'));
    const file = join(dir, 'config.ts');
    writeFileSync(file, `import { defineConfig } from 'lvsd';
export default defineConfig({ services: [{ protocol: 'tcp', address: '10.1.0.1', port: 80, scheduler: 'rr', forward: 'nat',
  reals: [{ address: '192.168.1.1', port: 80, weight: 2 }, { address: '192.168.1.2', port: 80 }] }] });
`);
    const socket = join(dir, 'lvsd.sock');
    const daemon = new Daemon({ configFile: file, socket, io: 'memory', pluginDirs: [], log: createLogger('error') });
    await daemon.start();
    const run = async (...args: string[]) => {
      let out = '', err = '';
      const io: Io = { out: (s) => { out += s; }, err: (s) => { err += s; }, readStdin: async () => '' };
      const code = await lvsadm(['--socket', socket, ...args], 'lvsadm', io, ns);
      return { code, out, err };
    };
    const reals = () => daemon.table.list()[0]!.dests.map((d) => `${d.addr}:${d.weight}`).sort();
    try {
      assert.equal((await run('--drain', '-t', '10.1.0.1:80', '-r', '192.168.1.1:80')).code, 0);
      assert.deepEqual(reals(), ['192.168.1.2:1']);                    // no connections: drained at once
      const h = await run('-L', '--health', '-n');
      assert.equal(h.code, 0);
      assert.match(h.out, /192\.168\.1\.1:80 +disabled/);
      assert.equal((await run('--fill', '-t', '10.1.0.1:80', '-r', '192.168.1.1', '--deadline', '10')).code, 0);
      assert.match((await run('-L', '-n', '--health')).out, /192\.168\.1\.1:80 +filling/);
      assert.equal((await run('--disable', '-t', '10.1.0.1:80', '-r', '192.168.1.2')).code, 0);
      assert.deepEqual(reals().map((r) => r.split(':')[0]), ['192.168.1.1']);
      assert.equal((await run('--enable', '-t', '10.1.0.1:80', '-r', '192.168.1.2')).code, 0);
      assert.deepEqual(reals().map((r) => r.split(':')[0]), ['192.168.1.1', '192.168.1.2']);
      const bad = await run('--enable', '-t', '10.1.0.1:80', '-r', '192.168.1.9');
      assert.equal(bad.code, 1);
      assert.match(bad.err, /^lvsadm: .*192\.168\.1\.9/);
      const usage = await run('--drain', '-t', '10.1.0.1:80');
      assert.equal(usage.code, 2);
    } finally {
      await daemon.stop();
    }
  });
});

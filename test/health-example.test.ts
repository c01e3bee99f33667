// The example health check (examples/plugins/health/banner.ts), loaded from
// `--plugins examples/plugins` as an operator's plugin is: its options schema
// checks config.ts (errors at their path, located in the file), and in a
// running daemon it takes a real server out of the table and back as the
// server's banner goes bad and good again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareConfig } from '../core/config/check.js';
import { Daemon } from '../core/daemon.js';
import { createLogger } from '../core/log.js';

const EXAMPLES = new URL('../examples/plugins', import.meta.url).pathname;

function config(dir: string, health: string, port = 22): string {
  const file = join(dir, 'config.ts');
  writeFileSync(file, `import { defineConfig } from 'lvsd';

export default defineConfig({
  services: [{
    protocol: 'tcp', address: '10.1.0.1', port: 22, scheduler: 'rr', forward: 'nat',
    health: ${health},
    reals: [{ address: '127.0.0.1', port: ${port} }],
  }],
});
`);
  return file;
}

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('example health check "banner" (examples/plugins)', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'lvsd-banner-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('its options schema checks config.ts: errors name the option, where it is written', async () => {
    const bad = config(dir, "{ check: 'banner', expect: '^SSH-(' }");
    const r = await prepareConfig(bad, [EXAMPLES]);
    assert.ok(!r.ok);
    assert.match(r.error, new RegExp(`^${bad}:6:\\d+: services\\[0\\]\\.health\\.expect: is not a valid regular expression: `));
    const typo = config(dir, "{ check: 'banner', expct: '^SSH-' }");
    const t = await prepareConfig(typo, [EXAMPLES]);
    assert.ok(!t.ok);
    assert.match(t.error, /services\[0\]\.health\.expct: unknown setting; did you mean 'expect'\?/);
    const ok = await prepareConfig(config(dir, "{ check: 'banner', expect: '^SSH-2\\\\.0-' }"), [EXAMPLES]);
    if (!ok.ok) assert.fail(ok.error);
    assert.ok(ok.registry.get('health', 'banner'));
  });

  it('takes a real server out of the table while its banner is wrong, and back', async () => {
    let banner = 'SSH-2.0-OpenSSH_9.6';
    const srv: Server = createServer((c) => { c.end(`${banner}\r\n`); });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as AddressInfo).port;
    const file = config(dir, "{ check: 'banner', expect: '^SSH-2\\\\.0-', interval: 0.1, timeout: 1, retry: 0, warmup: 0 }", port);
    const daemon = new Daemon({
      configFile: file, socket: join(dir, 'lvsd.sock'), io: 'memory', pluginDirs: [EXAMPLES],
      log: createLogger('error', () => {}), watchDebounceMs: 60_000,
    });
    const reals = (): string[] => daemon.table.list()[0]?.dests.map((d) => `${d.addr}:${d.port}`) ?? [];
    try {
      await daemon.start();
      await until('the first good check', () => reals().length === 1);
      banner = 'HTTP/1.1 400 Bad Request';
      await until('the real server taken out', () => reals().length === 0);
      banner = 'SSH-2.0-OpenSSH_9.7';
      await until('the real server back', () => reals().length === 1);
      assert.deepEqual(reals(), [`127.0.0.1:${port}`]);
    } finally {
      await daemon.stop();
      srv.close();
    }
  });
});

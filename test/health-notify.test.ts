// notify_down / notify_up with the real program runner (other tests inject a fake one).
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../core/daemon.js';
import { createLogger } from '../core/log.js';
import { scriptUser } from '../core/health/script.js';

async function until(what: string, f: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('health: notify programs run for real', function () {
  this.timeout(30_000);

  // The shell creates the file before it writes the line: wait for the line, not the file.
  const written = (f: string): boolean => existsSync(f) && readFileSync(f, 'utf8').endsWith('\n');

  it('runs notify_down when the check fails and notify_up when it recovers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-notify-'));
    // A loopback port with nothing listening (yet).
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    // As root the programs run as the script user (lvsd-script or nobody): their
    // output folder is theirs; the config's folder stays root's (StrictModes).
    const out = join(dir, 'out');
    mkdirSync(out);
    const runAs = scriptUser();
    if (process.geteuid?.() === 0 && !('error' in runAs)) { chownSync(out, runAs.uid, runAs.gid); chmodSync(dir, 0o755); }
    const down = join(out, 'down'), up = join(out, 'up');
    const file = join(dir, 'config.ts');
    writeFileSync(file, `import { defineConfig } from 'lvsd';
export default defineConfig({
  services: [{ protocol: 'tcp', address: '10.1.0.1', port: ${port}, scheduler: 'rr', forward: 'nat',
    health: { check: 'tcp', interval: 1, timeout: 1, retry: 0 },
    reals: [{ address: '127.0.0.1', port: ${port},
      notifyDown: ['/bin/sh', '-c', 'echo down > ${down}'], notifyUp: ['/bin/sh', '-c', 'echo up > ${up}'] }] }],
});
`);
    const daemon = new Daemon({ configFile: file, socket: join(dir, 'lvsd.sock'), io: 'memory', pluginDirs: [],
      log: createLogger('error'), watchDebounceMs: 60_000 });
    await daemon.start();
    const listener = createServer((s) => s.destroy());
    try {
      await until('notify_down', () => written(down));
      assert.equal(readFileSync(down, 'utf8'), 'down\n');
      assert.equal(daemon.table.list()[0]!.dests.length, 0, 'the failed real server is out of the table');
      await new Promise<void>((r) => listener.listen(port, '127.0.0.1', r));
      await until('notify_up', () => written(up));
      assert.equal(readFileSync(up, 'utf8'), 'up\n');
      await until('the real server back in the table', () => daemon.table.list()[0]!.dests.length === 1);
    } finally {
      await daemon.stop();
      await new Promise<void>((r) => listener.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

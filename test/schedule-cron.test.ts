// Scheduled actions with the real node-cron (the other tests inject a cron source).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../core/daemon.js';
import { createLogger } from '../core/log.js';
import { nodeCronSource } from '../core/schedule/runner.js';

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('scheduled actions with node-cron', function () {
  this.timeout(30_000);

  it('fires a job each second and stops firing once stopped', async () => {
    let fired = 0;
    const job = nodeCronSource('* * * * * *', () => { fired++; }, { name: 'test' });
    try {
      await until('the first run', () => fired >= 1);
    } finally {
      job.stop();
    }
    const at = fired;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(fired, at, 'no run after stop');
  });

  it('drains a real server from config.ts on schedule, and logs the run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-cron-'));
    const file = join(dir, 'config.ts');
    writeFileSync(file, `import { defineConfig } from 'lvsd';
export default defineConfig({
  services: [{ protocol: 'tcp', address: '10.1.0.1', port: 80, scheduler: 'rr', forward: 'nat',
    reals: [{ address: '192.168.1.1', port: 80 }, { address: '192.168.1.2', port: 80 }] }],
  schedule: [{ cron: '* * * * * *', drain: { service: 'tcp://10.1.0.1:80', real: '192.168.1.2:80' } }],
});
`);
    const lines: string[] = [];
    const daemon = new Daemon({ configFile: file, socket: join(dir, 'lvsd.sock'), io: 'memory', pluginDirs: [],
      log: createLogger('info', (l) => { lines.push(l); }), watchDebounceMs: 60_000 });
    await daemon.start();
    try {
      await until('the scheduled drain', () => daemon.table.list()[0]!.dests.length === 1);
      assert.deepEqual(daemon.table.list()[0]!.dests.map((d) => d.addr), ['192.168.1.1']);
      assert.ok(lines.some((l) => /schedule ".*".*drain 192\.168\.1\.2:80 in tcp:\/\/10\.1\.0\.1:80: done/.test(l)), lines.join(''));
    } finally {
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

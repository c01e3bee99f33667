import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../core/config/load.js';
import { watchConfig, type ConfigWatcher } from '../core/config/watch.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('timed out waiting for the watcher');
    await sleep(10);
  }
}

describe('config watch', () => {
  let dir: string;
  let w: ConfigWatcher | undefined;
  let fired: number;
  const onChange = (): void => { fired++; };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lvsd-watch-'));
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'config.ts'),
      "import { reals } from './lib/reals.ts';\nexport default { services: [{ address: '10.0.0.1', port: 80, reals }] };\n");
    writeFileSync(join(dir, 'lib', 'reals.ts'), "export const reals = [{ address: '192.168.10.8' }];\n");
    fired = 0;
  });
  afterEach(() => {
    w?.close();
    w = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('fires once on an edit of an imported file (the list comes from loadConfig)', async () => {
    const r = await loadConfig(join(dir, 'config.ts'));
    assert.ok(r.ok);
    assert.deepEqual(r.files, [join(dir, 'config.ts'), join(dir, 'lib', 'reals.ts')]);
    w = watchConfig(r.files, onChange, { debounceMs: 50 });
    await sleep(50);
    writeFileSync(join(dir, 'lib', 'reals.ts'), "export const reals = [{ address: '192.168.10.9' }];\n");
    writeFileSync(join(dir, 'lib', 'reals.ts'), "export const reals = [{ address: '192.168.10.10' }];\n");
    await until(() => fired > 0);
    await sleep(150);
    assert.equal(fired, 1, 'a burst of writes is one change');
  });

  it('fires when an editor replaces the file by rename, and again on the next save', async () => {
    const f = join(dir, 'config.ts');
    w = watchConfig([f], onChange, { debounceMs: 30 });
    await sleep(50);
    writeFileSync(join(dir, '.config.ts.swp'), 'export default {};\n');
    renameSync(join(dir, '.config.ts.swp'), f);
    await until(() => fired === 1);
    await sleep(80);
    writeFileSync(f, 'export default { workers: 2 };\n');   // the new inode is watched too
    await until(() => fired === 2);
  });

  it('survives a file vanishing and coming back', async () => {
    const f = join(dir, 'lib', 'reals.ts');
    w = watchConfig([join(dir, 'config.ts'), f], onChange, { debounceMs: 30 });
    await sleep(50);
    unlinkSync(f);
    await until(() => fired === 1);
    await sleep(100);
    writeFileSync(f, 'export const reals = [];\n');
    await until(() => fired >= 2);
    const n = fired;
    await sleep(100);
    writeFileSync(f, 'export const reals = [{ address: "192.168.10.8" }];\n');
    await until(() => fired > n);
  });

  it('survives a whole folder vanishing and coming back', async () => {
    const f = join(dir, 'lib', 'reals.ts');
    w = watchConfig([f], onChange, { debounceMs: 30 });
    await sleep(50);
    rmSync(join(dir, 'lib'), { recursive: true });
    await until(() => fired >= 1);
    const n = fired;
    mkdirSync(join(dir, 'lib'));
    writeFileSync(f, 'export const reals = [];\n');
    await until(() => fired > n, 4000);
    await sleep(100);
    const m = fired;
    writeFileSync(join(dir, 'lib', 'tmp'), 'export const reals = [{ address: "192.168.10.8" }];\n');
    renameSync(join(dir, 'lib', 'tmp'), f);
    await until(() => fired > m);
  });

  it('ignores other files in the folder, follows update(), stops on close()', async () => {
    const cfg = join(dir, 'config.ts');
    const lib = join(dir, 'lib', 'reals.ts');
    w = watchConfig([cfg, lib], onChange, { debounceMs: 30 });
    await sleep(50);
    writeFileSync(join(dir, 'notes.txt'), 'unrelated\n');
    await sleep(150);
    assert.equal(fired, 0);
    w.update([cfg]);
    writeFileSync(lib, 'export const reals = [];\n');
    await sleep(150);
    assert.equal(fired, 0, 'no longer watched after update()');
    writeFileSync(cfg, 'export default {};\n');
    await until(() => fired === 1);
    w.close();
    writeFileSync(cfg, 'export default { workers: 1 };\n');
    await sleep(150);
    assert.equal(fired, 1);
  });
});

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../core/config/load.js';
import { watchConfig, type ConfigWatcher } from '../core/config/watch.js';

// Every wait is for an event (a count going up) or for a quiet period, never a
// fixed sleep racing the watcher: a loaded CI machine only makes them slower.
// The watchers are armed synchronously by watchConfig().

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Long enough that two writes in a row fall into one window even on a loaded machine. */
const DEBOUNCE = 150;
/** No event for this long: whatever a change fires has fired. */
const QUIET = 3 * DEBOUNCE;

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('timed out waiting for the watcher');
    await sleep(10);
  }
}

describe('config watch', function () {
  this.timeout(30_000);
  let dir: string;
  let w: ConfigWatcher | undefined;
  let fired: number;
  const onChange = (): void => { fired++; };

  /** Waits until no change has fired for QUIET ms. */
  async function quiet(limit = 10_000): Promise<void> {
    const end = Date.now() + limit;
    let n = fired;
    let since = Date.now();
    while (Date.now() - since < QUIET) {
      if (Date.now() > end) assert.fail('the watcher never went quiet');
      await sleep(20);
      if (fired !== n) { n = fired; since = Date.now(); }
    }
  }

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
    w = watchConfig(r.files, onChange, { debounceMs: DEBOUNCE });
    const before = fired;
    writeFileSync(join(dir, 'lib', 'reals.ts'), "export const reals = [{ address: '192.168.10.9' }];\n");
    writeFileSync(join(dir, 'lib', 'reals.ts'), "export const reals = [{ address: '192.168.10.10' }];\n");
    await until(() => fired > before);
    await quiet();
    assert.equal(fired - before, 1, 'a burst of writes is one change');
  });

  it('fires when an editor replaces the file by rename, and again on the next save', async () => {
    const f = join(dir, 'config.ts');
    w = watchConfig([f], onChange, { debounceMs: DEBOUNCE });
    let before = fired;
    writeFileSync(join(dir, '.config.ts.swp'), 'export default {};\n');
    renameSync(join(dir, '.config.ts.swp'), f);
    await until(() => fired > before);
    await quiet();
    before = fired;
    writeFileSync(f, 'export default { workers: 2 };\n');   // the new inode is watched too
    await until(() => fired > before);
  });

  it('survives a file vanishing and coming back', async () => {
    const f = join(dir, 'lib', 'reals.ts');
    w = watchConfig([join(dir, 'config.ts'), f], onChange, { debounceMs: DEBOUNCE });
    let before = fired;
    unlinkSync(f);
    await until(() => fired > before);
    await quiet();
    before = fired;
    writeFileSync(f, 'export const reals = [];\n');
    await until(() => fired > before);
    await quiet();
    before = fired;
    writeFileSync(f, 'export const reals = [{ address: "192.168.10.8" }];\n');
    await until(() => fired > before);
  });

  it('survives a whole folder vanishing and coming back', async () => {
    const f = join(dir, 'lib', 'reals.ts');
    w = watchConfig([f], onChange, { debounceMs: DEBOUNCE });
    let before = fired;
    rmSync(join(dir, 'lib'), { recursive: true });
    await until(() => fired > before);
    await quiet();
    before = fired;
    mkdirSync(join(dir, 'lib'));
    writeFileSync(f, 'export const reals = [];\n');
    await until(() => fired > before);
    await quiet();
    before = fired;
    writeFileSync(join(dir, 'lib', 'tmp'), 'export const reals = [{ address: "192.168.10.8" }];\n');
    renameSync(join(dir, 'lib', 'tmp'), f);
    await until(() => fired > before);
  });

  it('ignores other files in the folder, follows update(), stops on close()', async () => {
    const cfg = join(dir, 'config.ts');
    const lib = join(dir, 'lib', 'reals.ts');
    w = watchConfig([cfg, lib], onChange, { debounceMs: DEBOUNCE });
    writeFileSync(join(dir, 'notes.txt'), 'unrelated\n');
    await quiet();
    assert.equal(fired, 0);
    w.update([cfg]);
    writeFileSync(lib, 'export const reals = [];\n');
    await quiet();
    assert.equal(fired, 0, 'no longer watched after update()');
    writeFileSync(cfg, 'export default {};\n');
    await until(() => fired > 0);
    await quiet();
    assert.equal(fired, 1);
    w.close();
    writeFileSync(cfg, 'export default { workers: 1 };\n');
    await quiet();
    assert.equal(fired, 1, 'nothing fires after close()');
  });
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPluginFile, loadPlugins, checkPlugin, PluginError } from '../core/plugins/loader.js';

const fx = (p: string) => new URL(`./fixtures/plugins/${p}`, import.meta.url).pathname;

describe('plugin loader', () => {
  it('loads a kind-folder plugin and a flat-folder plugin by their names', async () => {
    const reg = await loadPlugins([fx('good'), fx('flat')], { builtin: false });
    assert.deepEqual(reg.names('scheduler'), ['first']);
    assert.deepEqual(reg.names('classifier'), ['mark7']);
    const first = reg.scheduler('first')!;
    assert.equal(first.kind, 'scheduler');
  });

  it('refuses a duplicate name, naming both files', async () => {
    await assert.rejects(loadPlugins([fx('good'), fx('dup')], { builtin: false }), (e: Error) => {
      assert.ok(e instanceof PluginError);
      assert.match(e.message, /dup\/schedulers\/first\.ts: a scheduler named "first" is already loaded from .*good\/schedulers\/first\.ts/);
      return true;
    });
  });

  // Issue 10: an operator's forwarder may take a method over from the built-in
  // one (fwddup/forwarding/nat.ts replaces the built-in nat); a second
  // operator forwarder for the method is refused, naming both files.
  it('refuses a second operator forwarder for a method, naming both files', async () => {
    await assert.rejects(loadPlugins([fx('fwddup')]), (e: Error) => {
      assert.ok(e instanceof PluginError);
      assert.match(e.message,
        /fwddup\/forwarding\/nat2\.ts: a forwarder for method masq is already loaded from .*fwddup\/forwarding\/nat\.ts$/);
      return true;
    });
  });

  it("lets an operator's forwarder take a method over from the built-in one, with a note", async () => {
    const reg = await loadPlugins([fx('fwdover')]);
    assert.equal(reg.get('forwarder', 'nat'), undefined);
    assert.ok(reg.get('forwarder', 'nat-op'));
    assert.equal(reg.notes.length, 1);
    assert.match(reg.notes[0]!, /^forwarder nat-op \(.*fwdover\/forwarding\/nat-op\.ts\) serves method masq instead of the built-in nat$/);
  });

  it('refuses a plugin of the wrong kind for its folder', async () => {
    await assert.rejects(loadPlugins([fx('badkind')], { builtin: false }),
      /it is a health plugin but sits in the schedulers folder/);
  });

  it('refuses a plugin without a required hook', async () => {
    await assert.rejects(loadPluginFile(fx('nohook/sched.ts')), /scheduler "nohook" lacks the required hook schedule\(\)/);
  });

  it('refuses a misspelt hook', async () => {
    await assert.rejects(loadPluginFile(fx('typo/sched.ts')), /unknown key "addDset"/);
  });

  it('reports a syntax error with file and line', async () => {
    await assert.rejects(loadPluginFile(fx('syntax/sched.ts')), /does not compile: .*sched\.ts:1:\d+: /);
  });

  it('refuses a folder that does not exist', async () => {
    await assert.rejects(loadPlugins([fx('nope')], { builtin: false }), /nope: is not a folder/);
  });

  it('checks export shapes', () => {
    assert.match(String(checkPlugin(42)), /must be an object/);
    assert.match(String(checkPlugin({ kind: 'nonsense' })), /no valid "kind"/);
    assert.match(String(checkPlugin({ kind: 'scheduler', name: 'this-name-is-far-too-long', init() {}, schedule() {} })), /1\.\.15/);
    assert.match(String(checkPlugin({ kind: 'forwarder', name: 'f', inbound() {}, method: 'teleport' })), /method "teleport"/);
    assert.equal(typeof checkPlugin({ kind: 'scheduler', name: 'ok', init() {}, schedule() {} }), 'object');
  });

  it('loads the built-in schedulers', async () => {
    const reg = await loadPlugins([]);
    for (const n of ['rr', 'wlc']) assert.ok(reg.scheduler(n), `built-in ${n}`);
  });

  // Reloads take an unchanged plugin file without compiling it again; any
  // change to the file (or to a file it imports) is compiled.
  it('reloads a plugin file only when it or its imports changed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-plugin-cache-'));
    try {
      const file = join(dir, 'schedulers', 'cached.ts');
      const lib = join(dir, 'lib', 'name.ts');
      mkdirSync(join(dir, 'schedulers'));
      mkdirSync(join(dir, 'lib'));
      const old = (f: string, s: number): void => utimesSync(f, new Date(Date.now() - s * 1000), new Date(Date.now() - s * 1000));
      writeFileSync(lib, `export const NAME = 'cachea';\n`);
      writeFileSync(file, `import { defineScheduler } from 'lvsd';\nimport { NAME } from '../lib/name.js';\n`
        + `export default defineScheduler({ name: NAME, init() { return null; }, schedule() { return null; } });\n`);
      old(lib, 60); old(file, 60);
      const a = await loadPlugins([dir], { builtin: false });
      const b = await loadPlugins([dir], { builtin: false });
      assert.equal(b.scheduler('cachea'), a.scheduler('cachea'), 'the same module, taken again');
      writeFileSync(lib, `export const NAME = 'cacheb';\n`);
      old(lib, 30);
      const c = await loadPlugins([dir], { builtin: false });
      assert.deepEqual(c.names('scheduler'), ['cacheb']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // The compiled plugins are remembered on disk for the next start of lvsd:
  // another process takes the change of a file, not the remembered module.
  it('a new process takes a changed plugin file, not the module remembered on disk', async function () {
    this.timeout(60000);
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-plugin-disk-'));
    try {
      const file = join(dir, 'schedulers', 'disk.ts');
      mkdirSync(join(dir, 'schedulers'));
      const write = (name: string, ago: number): void => {
        writeFileSync(file, `import { defineScheduler } from 'lvsd';\n`
          + `export default defineScheduler({ name: '${name}', init() { return null; }, schedule() { return null; } });\n`);
        utimesSync(file, new Date(Date.now() - ago * 1000), new Date(Date.now() - ago * 1000));
      };
      const loader = new URL('../core/plugins/loader.ts', import.meta.url).pathname;
      const names = (): string => execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
        `const { loadPlugins } = await import(${JSON.stringify(loader)}); `
        + `console.log((await loadPlugins([${JSON.stringify(dir)}], { builtin: false })).names('scheduler').join())`], { encoding: 'utf8' }).trim();
      write('diska', 60);
      assert.equal(names(), 'diska');
      assert.equal(names(), 'diska');
      write('diskb', 30);
      assert.equal(names(), 'diskb');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig, type LoadResult } from '../core/config/load.js';
import sh from '../plugins/schedulers/sh.js';
import { SVC_F_PERSISTENT, SVC_F_SCHED2, TUN_FLAG_REMCSUM } from '../core/model/types.js';

const KERNEL_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];
const known = { knownSchedulers: (n: string) => KERNEL_SCHEDULERS.includes(n), schedulerNames: KERNEL_SCHEDULERS };
/** What the built-in scheduler plugins add to the validation: sh's own -b words. */
const plugins = async () => ({ schedulerNames: ['sh'], schedulerFlags: (n: string) => (n === 'sh' ? sh.flags : undefined) });
const FIX = resolve('test/fixtures/config');
const fx = (name: string): string => join(FIX, name);

function failed(r: LoadResult): string {
  if (r.ok) assert.fail('expected the config to fail');
  return r.error;
}

describe('config load: good configs', () => {
  it('bundles a helper import, runs loops, reads env vars and node builtins', async () => {
    const r = await loadConfig(fx('valid.ts'), { env: { LVSD_VIP: '10.9.9.9', LVSD_WORKERS: '3' }, plugins });
    if (!r.ok) assert.fail(r.error);
    const d = r.desired;
    assert.deepEqual(d.services.map((s) => `${s.spec.protocol}://${s.spec.addr}:${s.spec.port}`),
      ['tcp://10.9.9.9:80', 'tcp://10.9.9.9:443', 'udp://10.9.9.9:53', 'tcp://0.0.0.0:0']);
    assert.deepEqual(d.services[1]!.dests.map((x) => `${x.addr}:${x.port} w${x.weight}`),
      ['192.168.10.8:443 w2', '192.168.10.9:443 w2', '192.168.10.10:443 w2']);
    assert.equal(d.services[2]!.dests[0]!.fwd, 'masq');
    assert.equal(d.services[2]!.dests[0]!.port, 5353);
    const fw = d.services[3]!;
    assert.equal(fw.spec.fwmark, 7);
    assert.equal(fw.spec.flags, SVC_F_PERSISTENT | SVC_F_SCHED2);
    assert.equal(fw.spec.netmask, 0xffffff00);
    assert.deepEqual([fw.dests[1]!.family, fw.dests[1]!.tunType, fw.dests[1]!.tunPort, fw.dests[1]!.tunFlags],
      ['inet6', 'gue', 6080, TUN_FLAG_REMCSUM]);
    assert.equal(d.workers, 3);
    assert.deepEqual(d.timeouts, { tcp: 600 });
    assert.deepEqual(d.plugins, [fx('my-plugins')]);
    assert.deepEqual(d.interfaces, [{ name: 'eth0' }, { name: 'eth1', mac: '02:00:00:00:00:aa' }]);
    // Every local file that went into the bundle, for the watcher; not lvsd's own core.
    assert.deepEqual(r.files, [fx('valid.ts'), fx('lib/reals.ts')]);
  });

  it('env defaults to the process environment', async () => {
    const r = await loadConfig(fx('valid.ts'), { plugins });
    if (!r.ok) assert.fail(r.error);
    assert.equal(r.desired.services[0]!.spec.addr, process.env.LVSD_VIP ?? '10.0.0.1');
  });

  it('takes an (async) function as the default export', async () => {
    const r = await loadConfig(fx('function-default.ts'));
    if (!r.ok) assert.fail(r.error);
    assert.equal(r.desired.services[0]!.spec.addr, '2001:db8::1');
    assert.equal(r.desired.services[0]!.dests[0]!.addr, '2001:db8::10');
  });

  it('loads the example config.ts of the repository', async () => {
    const r = await loadConfig('config.ts', known);
    if (!r.ok) assert.fail(r.error);
    assert.ok(r.desired.services.length > 0);
  });
});

describe('config load: failures name the file and line', () => {
  it('a missing file', async () => {
    const r = await loadConfig(fx('nope.ts'));
    assert.match(failed(r), /nope\.ts: cannot read the config file \(ENOENT\)/);
    assert.deepEqual(r.files, [fx('nope.ts')]);
  });

  it('a syntax error in config.ts, with line, column and the line itself', async () => {
    const r = await loadConfig(fx('syntax-error.ts'));
    const e = failed(r);
    assert.match(e, new RegExp(`^${fx('syntax-error.ts')}:4:46: Expected "}" but found "\\)"`));
    assert.match(e, /services: \[\{ address: '10\.0\.0\.1', port: 80 \) \],\n\s+\^/);
    assert.deepEqual(r.files, [fx('syntax-error.ts')]);
  });

  it('a syntax error in an imported file names that file, and both files are watched', async () => {
    const r = await loadConfig(fx('syntax-error-import.ts'));
    assert.match(failed(r), new RegExp(`^${fx('lib/broken.ts')}:3:31: `));
    assert.deepEqual(r.files, [fx('syntax-error-import.ts'), fx('lib/broken.ts')]);
  });

  it('a throwing config: the error and where it was thrown, through the source map', async () => {
    const e = failed(await loadConfig(fx('throws.ts')));
    assert.match(e, new RegExp(`^${fx('lib/explode.ts')}:2:9: evaluating the config threw Error: inventory file /etc/lvs/inventory.json is missing`));
    assert.match(e, new RegExp(`at backendsFromInventory \\(${fx('lib/explode.ts')}:2:9\\)`));
    assert.match(e, new RegExp(`at ${fx('throws.ts')}:5:54`));
  });

  it('a runaway top-level loop is stopped by the time limit', async () => {
    const e = failed(await loadConfig(fx('runaway.ts'), { timeoutMs: 200 }));
    assert.equal(e, `${fx('runaway.ts')}: evaluating the config did not finish within 200 ms and was stopped (a runaway loop?)`);
  });

  it('a runaway loop in a default-exported function, and a promise that never settles', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-cfg-'));
    try {
      writeFileSync(join(dir, 'f.ts'), 'export default () => { for (;;) {} };\n');
      writeFileSync(join(dir, 'p.ts'), 'export default new Promise(() => {});\n');
      writeFileSync(join(dir, 'r.ts'), 'export default Promise.reject(new TypeError("no inventory"));\n');
      assert.match(failed(await loadConfig(join(dir, 'f.ts'), { timeoutMs: 100 })), /the default-exported function did not finish within 100 ms/);
      assert.match(failed(await loadConfig(join(dir, 'p.ts'), { timeoutMs: 100 })), /the config's promise did not settle within 100 ms/);
      assert.match(failed(await loadConfig(join(dir, 'r.ts'))), /r\.ts:1:\d+: the config's promise threw TypeError: no inventory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no default export', async () => {
    assert.match(failed(await loadConfig(fx('no-default.ts'))), /no-default\.ts: has no default export; write `export default defineConfig/);
  });

  it('a schema error names the field path and the line of the field', async () => {
    const e = failed(await loadConfig(fx('bad-weight.ts')));
    assert.equal(e, `${fx('bad-weight.ts')}:9:36: services[0].reals[1].weight: must be an integer 0..2147483647 (got 2147483648)`);
  });

  it('a schema error in a computed config is located by search, and says so', async () => {
    const e = failed(await loadConfig(fx('bad-computed.ts')));
    assert.equal(e, `${fx('bad-computed.ts')}: 2 problems in the config:\n`
      + `  ${fx('bad-computed.ts')}:6:70: services[0].reals[0].weight: must be an integer 0..2147483647 (got -99999) [location is a best-effort search of the source]\n`
      + `  ${fx('bad-computed.ts')}:6:70: services[0].reals[1].weight: must be an integer 0..2147483647 (got -99999) [location is a best-effort search of the source]`);
  });

  it('several schema errors, each with its own line', async () => {
    const e = failed(await loadConfig(fx('bad-many.ts'), known));
    const lines = e.split('\n');
    assert.equal(lines[0], `${fx('bad-many.ts')}: 3 problems in the config:`);
    assert.equal(lines[1], `  ${fx('bad-many.ts')}:5:3: workerz: unknown setting; did you mean 'workers'?`);
    assert.equal(lines[2], `  ${fx('bad-many.ts')}:8:38: services[0].scheduler: unknown scheduler; did you mean 'wrr'? (got "wrrr")`);
    assert.equal(lines[3], `  ${fx('bad-many.ts')}:9:42: services[0].reals[0].wieght: unknown setting; did you mean 'weight'?`);
  });

  it('a plugin-owned root key is checked by the plugin\'s schema and located like any field', async () => {
    const { z } = await import('zod');
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-cfg-'));
    try {
      const f = join(dir, 'c.ts');
      writeFileSync(f, "export default {\n  services: [],\n  sync: {\n    interface: 7,\n  },\n};\n");
      let folders: string[] | undefined;
      const plugins = async (dirs: string[]) => {
        folders = dirs;
        return { pluginKeys: new Map([['sync', z.object({ interface: z.string({ error: 'must be an interface name' }) })]]) };
      };
      assert.equal(failed(await loadConfig(f, { plugins })), `${f}:4:5: sync.interface: must be an interface name`);
      assert.deepEqual(folders, []);
      writeFileSync(f, "export default { plugins: ['p'], sync: { interface: 'eth0' } };\n");
      const r = await loadConfig(f, { plugins });
      if (!r.ok) assert.fail(r.error);
      assert.deepEqual(r.desired.pluginConfig, { sync: { interface: 'eth0' } });
      assert.deepEqual(folders, [join(dir, 'p')]);
      // A plugin that does not load is the error once the config itself is fine.
      assert.equal(failed(await loadConfig(f, { plugins: async () => { throw new Error('plugin p/x.ts: broken'); } })), 'plugin p/x.ts: broken');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('config load: nothing config.ts does freezes or kills the daemon', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'lvsd-cfg-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const load = async (name: string, source: string, timeoutMs?: number): Promise<LoadResult> => {
    writeFileSync(join(dir, name), source);
    return loadConfig(join(dir, name), timeoutMs === undefined ? {} : { timeoutMs });
  };
  const ok = 'export default { services: [] };\n';

  it('an endless loop in a timer or in a promise callback is stopped by the deadline', async () => {
    const t0 = Date.now();
    assert.match(failed(await load('timer.ts', 'export default new Promise(() => { setTimeout(() => { for (;;) {} }, 0); });\n', 200)),
      /timer\.ts: the config's promise did not finish within 200 ms and was stopped \(a runaway loop, perhaps in a timer or a promise callback\?\)/);
    assert.match(failed(await load('then.ts', 'export default Promise.resolve().then(() => { for (;;) {} });\n', 200)),
      /then\.ts: the config's promise did not finish within 200 ms and was stopped/);
    assert.match(failed(await load('tick.ts', 'queueMicrotask(() => { for (;;) {} });\n' + ok, 200)),
      /tick\.ts: .* did not finish within 200 ms and was stopped/);
    assert.ok(Date.now() - t0 < 10_000);
  });

  it('a throw in a timer and an unhandled rejection reject the load, naming the file and line', async () => {
    assert.match(failed(await load('throw.ts', 'export default new Promise(() => {\n  setTimeout(() => { throw new RangeError("boom in a timer"); }, 0);\n});\n')),
      /throw\.ts:2:\d+: a timer or callback of the config \(while the config's promise\) threw RangeError: boom in a timer/);
    assert.match(failed(await load('reject.ts', 'void Promise.reject(new Error("nobody catches this"));\n' + ok)),
      /reject\.ts:1:\d+: an unhandled promise rejection \(while .*\) threw Error: nobody catches this/);
  });

  it('process.exit() rejects the load; the daemon process is still here', async () => {
    assert.match(failed(await load('exit.ts', 'process.exit(3);\n' + ok)),
      /exit\.ts: the config called process\.exit\(3\) while evaluating the config; config\.ts must not end the process/);
    assert.match(failed(await load('exit2.ts', 'export default new Promise(() => setTimeout(() => process.exit(0), 10));\n')),
      /exit2\.ts: the config called process\.exit\(0\) while the config's promise/);
    assert.match(failed(await load('abort.ts', 'process.abort();\n' + ok)), /process\.abort\(\) is not allowed in config\.ts/);
  });

  it("a timer left by an evaluation never runs: the evaluation's worker is gone", async () => {
    const mark = join(dir, 'ran');
    const r = await load('stray.ts', `import { writeFileSync } from 'node:fs';\nsetTimeout(() => writeFileSync(${JSON.stringify(mark)}, 'ran'), 200);\nsetInterval(() => writeFileSync(${JSON.stringify(mark)}, 'ran'), 50);\n${ok}`);
    assert.equal(r.ok, true, r.ok ? '' : r.error);
    await new Promise((res) => setTimeout(res, 600));
    assert.equal(existsSync(mark), false);
  });

  it('a config value that is not plain data is refused, naming where', async () => {
    assert.match(failed(await load('fn.ts', 'export default { services: [], extra: { hook: () => 1 } };\n')),
      /fn\.ts: the config must be plain data \(.*\): config\.extra\.hook is a function/);
  });

  it('a large config crosses in pieces, whole and in order; a value JSON would change (NaN) still reaches validation as is', async () => {
    const gen = (weight: string): string => `export default { services: Array.from({ length: 1200 }, (_, i) => ({
  protocol: 'tcp', address: \`10.0.\${i >> 8}.\${i & 255}\`, port: 80, scheduler: 'rr', forward: 'nat',
  reals: [{ address: '192.168.0.1', port: 80, weight: i === 700 ? ${weight} : 1 }] })) };\n`;
    const r = await load('big.ts', gen('3'));
    if (!r.ok) assert.fail(r.error);
    assert.equal(r.desired.services.length, 1200);
    assert.deepEqual(r.desired.services.map((x) => x.spec.addr).slice(698, 702), ['10.0.2.186', '10.0.2.187', '10.0.2.188', '10.0.2.189']);
    assert.equal(r.desired.services[700]!.dests[0]!.weight, 3);
    assert.match(failed(await load('nan.ts', gen('NaN'))), /services\[700\]\.reals\[0\]\.weight: .*NaN/);
  });

  it('a reload takes what did not change from the last load of the file: unchanged services are the same objects, the result as a fresh load', async () => {
    const gen = (weight: number, port = 80): string => `export default { services: Array.from({ length: 40 }, (_, i) => ({
  protocol: 'tcp', address: \`10.1.0.\${i}\`, port: i === 5 ? ${port} : 80, scheduler: 'rr', forward: 'nat',
  reals: [{ address: '192.168.0.1', port: 80, weight: i === 30 ? ${weight} : 1 }] })) };\n`;
    const first = await load('reuse.ts', gen(1));
    if (!first.ok) assert.fail(first.error);
    const second = await load('reuse.ts', gen(4));
    if (!second.ok) assert.fail(second.error);
    const a = first.desired.services;
    const b = second.desired.services;
    assert.equal(b.filter((s, i) => s === a[i]).length, 39, 'all but the edited service are the last load\'s');
    assert.notEqual(b[30], a[30]);
    assert.equal(b[30]!.dests[0]!.weight, 4);
    assert.equal(a[30]!.dests[0]!.weight, 1, 'the last load\'s result is left as it was');
    // the same as a load of that text with nothing to reuse
    const fresh = await load('reuse-fresh.ts', gen(4));
    if (!fresh.ok) assert.fail(fresh.error);
    assert.deepEqual(b, fresh.desired.services);
    // an error in one service is found though the others are taken from the last load; fixed, it loads
    assert.match(failed(await load('reuse.ts', gen(4, 70000))), /services\[5\]\.port: /);
    const fixed = await load('reuse.ts', gen(4, 81));
    if (!fixed.ok) assert.fail(fixed.error);
    assert.equal(fixed.desired.services[5]!.spec.port, 81);
    // another scheduler list (plugins loaded or gone) is another context: nothing is taken over
    const only = await loadConfig(join(dir, 'reuse.ts'), { knownSchedulers: (n) => n === 'wlc', schedulerNames: ['wlc'] });
    assert.match(failed(only), /unknown scheduler/);
  });

  it('a good config still loads after all that', async () => {
    const r = await load('good.ts', ok);
    assert.equal(r.ok, true, r.ok ? '' : r.error);
  });
});

// The example custom scheduler (examples/plugins/schedulers/my-sched.ts),
// loaded by name through the plugin loader as an operator's plugin would be,
// then run through sched-trace.

import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSchedTrace } from '../scripts/sched-trace/scenario.js';
import type { SchedulerPlugin } from '../core/plugin.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIR = join(ROOT, 'examples', 'plugins');

async function loadMySched(): Promise<SchedulerPlugin<unknown>> {
  const loaderPath = join(ROOT, 'core', 'plugins', 'loader.ts');
  if (existsSync(loaderPath)) {
    const { loadPlugins } = await import('../core/plugins/loader.js');
    const reg = await loadPlugins([DIR], { builtin: false });
    const p = reg.scheduler('my-sched');
    assert.ok(p, 'the loader did not register my-sched');
    return p;
  }
  return (await import('../examples/plugins/schedulers/my-sched.js')).default as SchedulerPlugin<unknown>;
}

describe('example scheduler my-sched', () => {
  let plugin: SchedulerPlugin<unknown>;
  before(async function () { this.timeout(30000); plugin = await loadMySched(); });

  const run = (dests: object[], steps: object[]) => {
    const r = runSchedTrace({ scheduler: 'my-sched', service: { protocol: 'tcp', address: '10.0.0.1', port: 80 }, dests, steps },
      { schedulers: (n) => (n === 'my-sched' ? plugin : undefined) });
    if (!r.ok) assert.fail(r.error);
    return r;
  };
  const d = (i: number, weight: number, upper = 0) => ({ address: `192.168.0.${i}`, port: 80, weight, upper });

  it('spreads ties round-robin instead of favouring the list head', () => {
    const r = run([d(1, 1), d(2, 1), d(3, 1)], [{ op: 'schedule', client: '203.0.113.7:1', bind: 'none', repeat: 6 }]);
    assert.deepEqual(r.lines, ['192.168.0.3:80', '192.168.0.2:80', '192.168.0.1:80', '192.168.0.3:80', '192.168.0.2:80', '192.168.0.1:80']);
  });
  it('balances active connections by weight and ignores inactive ones', () => {
    const r = run([d(1, 1), d(2, 3)], [
      { op: 'set', dest: '192.168.0.2:80', inactive: 100 },
      { op: 'schedule', client: '203.0.113.7:1', repeat: 8 },
    ]);
    const count = (a: string) => r.lines.filter((l) => l === a).length;
    assert.equal(count('192.168.0.2:80'), 6);
    assert.equal(count('192.168.0.1:80'), 2);
  });
  it('skips weight 0 and OVERLOAD, and logs when nothing is left', () => {
    const r = run([d(1, 0), d(2, 1, 1)], [{ op: 'schedule', client: '203.0.113.7:1', repeat: 2 }]);
    assert.deepEqual(r.lines, ['192.168.0.2:80', '-']);
    assert.deepEqual(r.logs, ['IPVS: my-sched: TCP 10.0.0.1:80 - no destination available']);
  });
});

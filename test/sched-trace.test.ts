// sched-trace: scenario validation errors and the `lvsd sched-trace` command line.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSchedTrace } from '../scripts/sched-trace/scenario.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const base = {
  scheduler: 'rr', service: { protocol: 'tcp', address: '10.0.0.1', port: 80 },
  dests: [{ address: '192.168.0.1', port: 80, weight: 1 }],
};
const errorOf = (sc: unknown): string => {
  const r = runSchedTrace(sc);
  assert.equal(r.ok, false);
  return r.ok ? '' : r.error;
};

describe('sched-trace scenarios', () => {
  it('accepts the documented example scenario', () => {
    const r = runSchedTrace({
      scheduler: 'wrr', flags: [], seed: 1,
      service: { protocol: 'tcp', address: '10.0.0.1', port: 80 },
      dests: [{ address: '192.168.0.1', port: 80, weight: 4 }, { address: '192.168.0.2', port: 80, weight: 3, upper: 0, lower: 0 }],
      steps: [
        { op: 'schedule', client: '203.0.113.7:40000', dst: '10.0.0.1:80', bind: 'active' },
        { op: 'set', dest: '192.168.0.1:80', active: 3, inactive: 1, weight: 2 },
        { op: 'add', dest: { address: '192.168.0.3', port: 80, weight: 1 } },
        { op: 'remove', dest: '192.168.0.2:80' },
        { op: 'release', dest: '192.168.0.1:80', state: 'active' },
        { op: 'time', advance: 61 },
        { op: 'schedule', client: '203.0.113.7:40001' },
      ],
    });
    assert.ok(r.ok);
    assert.deepEqual(r.lines, ['192.168.0.2:80', '192.168.0.3:80']);
  });
  it('names the step index and the field of a mistake', () => {
    assert.match(errorOf({ ...base, steps: [{ op: 'schedule', client: '203.0.113.7:1' }, { op: 'schedule', client: 'nonsense' }] }),
      /^step 1 \(schedule\): field "client": "nonsense" is not "address:port"/);
    assert.match(errorOf({ ...base, steps: [{ op: 'set', dest: '192.168.0.9:80', weight: 1 }] }), /^step 0 \(set\): field "dest": no real server 192\.168\.0\.9:80/);
    assert.match(errorOf({ ...base, steps: [{ op: 'set', dest: '192.168.0.1:80', weight: -1 }] }), /^step 0 \(set\): field "weight": must be an integer/);
    assert.match(errorOf({ ...base, steps: [{ op: 'jump' }] }), /^step 0: field "op": must be schedule, set, add, remove, release or time/);
    assert.match(errorOf({ ...base, steps: [{ op: 'release', dest: '192.168.0.1:80' }] }), /^step 0 \(release\): field "state": 192\.168\.0\.1:80 has no active connection/);
    assert.match(errorOf({ ...base, steps: [{ op: 'time', advance: 'soon' }] }), /^step 0 \(time\): field "advance"/);
    assert.match(errorOf({ ...base, steps: [{ op: 'schedule', client: '1.2.3.4:5', colour: 'red' }] }), /^step 0 \(schedule\): field "colour": unknown field/);
    assert.match(errorOf({ ...base, steps: [{ op: 'add', dest: { address: '192.168.0.1', port: 80 } }] }), /^step 0 \(add\): .*already exists \(EEXIST\)/);
    assert.match(errorOf({ ...base, scheduler: 'nope', steps: [] }), /^field "scheduler": unknown scheduler "nope"/);
    assert.match(errorOf({ ...base, flags: ['sh-port'], steps: [] }), /^field "flags": incompatible scheduler flag `sh-port'/);
    assert.match(errorOf({ ...base, dests: [{ address: '192.168.0.1', port: 80, weight: 1, lower: 2 }], steps: [] }), /^dests\[0\]: lower threshold 2 is above upper threshold 0 \(ERANGE\)/);
    assert.match(errorOf({ ...base }), /^field "steps": must be an array/);
    assert.match(errorOf([]), /^scenario: must be a JSON object/);
  });
  it('runs due ticks on a virtual clock', () => {
    let ticks: number[] = [];
    const plugin = {
      kind: 'scheduler' as const, name: 'ticker', tickInterval: 60_000,
      init: () => null, schedule: () => null,
      tick: (_s: unknown, _st: unknown, ctx: { now(): number }) => { ticks.push(ctx.now() / 1000); },   // ms → s
    };
    const r = runSchedTrace({ ...base, scheduler: 'ticker', steps: [{ op: 'time', advance: 59 }, { op: 'time', advance: 62 }, { op: 'time', advance: 600 }] },
      { schedulers: (n) => (n === 'ticker' ? plugin : undefined) });
    assert.ok(r.ok);
    assert.deepEqual(ticks, [60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 660, 720]);
    ticks = [];
  });
});

describe('lvsd sched-trace', () => {
  const lvsd = (args: string[], input?: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'lvsd.ts'), 'sched-trace', ...args], { input, encoding: 'utf8', cwd: ROOT });
  it('reads a scenario from stdin and prints one line per decision; logs go to stderr', function () {
    this.timeout(30000);
    const sc = { ...base, dests: [{ address: '2001:db8::10', port: 80, weight: 1 }], service: { protocol: 'udp', address: '2001:db8::1', port: 53 },
      steps: [{ op: 'schedule', client: '[2001:db8:1::1]:1000', repeat: 2 }, { op: 'set', dest: '[2001:db8::10]:80', weight: 0 }, { op: 'schedule', client: '[2001:db8:1::1]:1001' }] };
    const r = lvsd(['-'], JSON.stringify(sc));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '[2001:db8::10]:80\n[2001:db8::10]:80\n-\n');
    assert.equal(r.stderr, 'IPVS: rr: UDP [2001:db8::1]:53 - no destination available\n');
  });
  it('runs a fixture file, and fails with status 1 and the error on a bad scenario', function () {
    this.timeout(30000);
    const ok = lvsd([join(ROOT, 'test', 'fixtures', 'sched', 'trace-example.json')]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, 'C B A A B A C B A'.split(' ').map((x) => `192.168.0.${{ A: 1, B: 2, C: 3 }[x]}:80\n`).join(''));
    const bad = lvsd(['-'], '{"scheduler":"rr"}');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^lvsd sched-trace: -: field "service"/);
  });
});

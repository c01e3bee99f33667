// The checker manager on a virtual clock: keepalived's transitions (remove /
// inhibit, startup and reload retry rules, quorum with hysteresis and the
// sorry server, notify programs, HTTP URL recovery), rise/fall, slow start,
// drain completion, control ops, the health listing, scheduled actions and
// reloads that do not fight health. Checks are scripted; no wall-clock waits.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { Bus } from '../core/bus.js';
import { applyPlan, formatPlan, planDiff, planReassert } from '../core/config/diff.js';
import { validateConfig, type DesiredState } from '../core/config/schema.js';
import { handleRequest } from '../core/control/server.js';
import { parseRequest } from '../core/control/validate.js';
import { formatHealthChange, healthChanges } from '../core/health/changes.js';
import { ABORT_GRACE_S, CheckRunner } from '../core/health/checker.js';
import { VirtualClock } from '../core/clock.js';
import { formatHealthListing } from '../core/health/format.js';
import { HealthManager } from '../core/health/manager.js';
import type { CheckerSettings } from '../core/health/types.js';
import { healthIssues } from '../core/config/health.js';
import { z } from 'zod';
import { ScheduleRunner, type CronSource } from '../core/schedule/runner.js';
import { ServiceTable } from '../core/model/table.js';
import type { ServiceKey } from '../core/model/types.js';
import { defineHealthCheck, defineScheduler, type HealthCheckPlugin, type HealthResult, type HealthTarget } from '../core/plugin.js';
import { PluginRegistry } from '../core/plugins/loader.js';
import tcpPlugin from '../plugins/health/tcp.js';
import { builtinForwarder } from '../plugins/forwarding/lib/builtin.js';

/** Scripted results by real server address: true, false, or a weight (ok with weight). */
const script = new Map<string, boolean | number | string>();
const calls: string[] = [];
const fake = defineHealthCheck({
  name: 'fake',
  defaults: {},
  options: z.looseObject({ steps: z.unknown().optional() }).transform((raw) => ({ steps: typeof raw.steps === 'number' ? raw.steps : 1 })),
  steps: (o) => o.steps,
  check: async (t, _o, ctx): Promise<HealthResult> => {
    calls.push(`${t.addr}#${ctx.step}`);
    const s = script.get(t.addr) ?? true;
    if (typeof s === 'string') return s === `fail${ctx.step}` ? { ok: false, failure: 'status', reason: `step ${ctx.step} bad` } : { ok: true };
    if (typeof s === 'number') return { ok: true, weight: s };
    return s ? { ok: true } : { ok: false, failure: 'refused', reason: 'connection refused' };
  },
});

function registry(): PluginRegistry {
  const r = new PluginRegistry();
  r.add({ plugin: fake, file: 'fake.ts', module: 'fake.mjs' });
  r.add({ plugin: tcpPlugin, file: 'tcp.ts', module: 'tcp.mjs' });
  r.add({ plugin: defineHealthCheck({ name: 'http', defaults: { delayBeforeRetry: 3 }, options: z.looseObject({}), check: async () => ({ ok: true }) }), file: 'h', module: 'h' });
  return r;
}

const rr = defineScheduler({ name: 'wlc', init: () => null, schedule: (s) => s.dests[0] ?? null });
const VIP: ServiceKey = { family: 'inet', protocol: 'tcp', addr: '10.0.0.1', port: 80, fwmark: 0 };

function desired(raw: unknown): DesiredState {
  const r = validateConfig(raw, { file: '/etc/lvsd/config.ts', knownSchedulers: () => true });
  if (!r.ok) assert.fail(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  return r.desired;
}

class Harness {
  clock = new VirtualClock(0);
  bus = new Bus();
  lines: string[] = [];
  events: string[] = [];
  scripts: string[] = [];
  table = new ServiceTable({ schedulers: () => rr, forwarder: builtinForwarder, ctx: { now: () => this.clock.now(), randomU32: () => 0, log: () => {} }, onEvent: (ev) => this.bus.emitTable(ev) });
  reg = registry();
  health: HealthManager;
  prev: DesiredState | null = null;
  constructor() {
    this.health = new HealthManager({
      table: this.table, bus: this.bus, registry: () => this.reg, clock: this.clock, random: () => 0,
      log: { debug: () => {}, info: (m) => this.lines.push(m), warn: (m) => this.lines.push(m), error: (m) => this.lines.push(`ERROR ${m}`) },
      runScript: (argv, why) => this.scripts.push(`${why}: ${argv.join(' ')}`),
    });
    this.clock.settle = async () => { await new Promise((r) => setImmediate(r)); await this.health.idle(); await new Promise((r) => setImmediate(r)); };
    this.bus.on('dest.health', (e) => this.events.push(`health ${e.dest.addr} ${e.up ? 'up' : 'down'} ${e.reason}`));
    // the table's events of the changes health made (the config's own are not health's doing)
    this.bus.on('dest.removed', (e) => { if (e.source.by === 'health') this.events.push(`removed ${e.dest.addr}`); });
    this.bus.on('dest.added', (e) => { if (e.source.by === 'health') this.events.push(`added ${e.dest.addr}:${e.dest.weight}`); });
    this.bus.on('dest.changed', (e) => { if (e.source.by === 'health') this.events.push(`changed ${e.dest.addr}:${e.dest.weight}`); });
    this.bus.on('service.quorum', (e) => this.events.push(`quorum ${e.up ? 'up' : 'down'} ${e.aliveWeight}`));
    this.bus.on('dest.lifecycle', (e) => this.events.push(`lifecycle ${e.dest.addr} ${e.from}->${e.to}`));
  }
  /** What the daemon does on a (re)load. */
  load(raw: unknown): void {
    const next = desired(raw);
    assert.deepEqual(healthIssues(next, this.reg), []);
    const plan = planReassert(this.table, this.prev, next, undefined, (s, d) => this.health.placement(s, d));
    const r = this.health.whileApplying(next, () => applyPlan(this.table, plan));
    if (!r.ok) assert.fail(r.error);
    this.health.apply(next);
    this.prev = next;
  }
  /** Real servers in the table as addr:weight, config order ignored. */
  reals(svc: ServiceKey = VIP): string[] {
    return (this.table.find(svc)?.dests ?? []).map((d) => `${d.addr.split('.').pop()}:${d.weight}`).sort();
  }
  async tick(seconds: number): Promise<void> { await this.clock.advance(seconds * 1000); }
}

const real = (n: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ address: `192.168.10.${n}`, port: 80, ...extra });
const svc = (reals: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ protocol: 'tcp', address: '10.0.0.1', port: 80, forward: 'nat', reals, health: { check: 'fake', interval: 2, timeout: 1, retry: 2, delayBeforeRetry: 1, warmup: 0 }, ...extra });

describe('health manager (virtual clock)', () => {
  beforeEach(() => { script.clear(); calls.length = 0; });

  it('startup: every real is in the table before its first check; one failure at start removes it (§3.2, §4.1)', async () => {
    const h = new Harness();
    script.set('192.168.10.9', false);
    h.load({ services: [svc([real(8, { weight: 3 }), real(9)])] });
    assert.deepEqual(h.reals(), ['8:3', '9:1']);
    await h.tick(0.5);
    assert.deepEqual(h.reals(), ['8:3', '9:1'], 'first check runs 1 s after start');
    await h.tick(0.6);
    assert.deepEqual(h.reals(), ['8:3']);
    assert.ok(h.lines.some((l) => /FAKE_CHECK on service \[192\.168\.10\.9\]:tcp:80 of VS \[10\.0\.0\.1\]:tcp:80 failed .*refused: connection refused/.test(l)), h.lines.join('\n'));
    assert.ok(h.lines.includes('Removing service [192.168.10.9]:tcp:80 from VS [10.0.0.1]:tcp:80 (health)'));
    assert.ok(h.events.includes('health 192.168.10.9 down refused: connection refused'));
    assert.ok(h.lines.some((l) => l.startsWith('Gained quorum 1+0=1 <= 4')), 'quorum gained at start');
  });

  it('a service without health checks gains its quorum at start without a log line (its event is sent as for any)', () => {
    const h = new Harness();
    h.load({ services: [{ ...svc([real(8), real(9)]), health: undefined }, { ...svc([real(8)]), address: '10.0.0.2' }] });
    assert.deepEqual(h.lines.filter((l) => l.startsWith('Gained quorum')), ['Gained quorum 1+0=1 <= 1 for VS [10.0.0.2]:tcp:80']);
    assert.deepEqual(h.events.filter((e) => e.startsWith('quorum')), ['quorum up 2', 'quorum up 1']);
    h.health.stop();
  });

  it('an up server goes down after retry + 1 failures spaced by delayBeforeRetry; back after one success', async () => {
    const h = new Harness();
    h.load({ services: [svc([real(8), real(9)])] });
    await h.tick(1);                        // first checks: both up
    assert.deepEqual(h.reals(), ['8:1', '9:1']);
    script.set('192.168.10.9', false);
    await h.tick(2);                        // attempt 1 fails (retry 1 of 2 left)
    assert.deepEqual(h.reals(), ['8:1', '9:1']);
    await h.tick(1);                        // attempt 2 fails
    assert.deepEqual(h.reals(), ['8:1', '9:1']);
    await h.tick(1);                        // attempt 3 fails → down
    assert.deepEqual(h.reals(), ['8:1']);
    assert.ok(h.lines.some((l) => /failed after 2 retries/.test(l)));
    script.set('192.168.10.9', true);
    await h.tick(2);                        // next check after interval: one success → back
    assert.deepEqual(h.reals(), ['8:1', '9:1']);
    assert.ok(h.lines.includes('Adding service [192.168.10.9]:tcp:80 to VS [10.0.0.1]:tcp:80 (health)'));
  });

  it('inhibitOnFailure: weight 0 instead of removal, weight restored on recovery', async () => {
    const h = new Harness();
    script.set('192.168.10.9', false);
    h.load({ services: [svc([real(8), real(9, { weight: 4 })], { inhibitOnFailure: true })] });
    await h.tick(1);
    assert.deepEqual(h.reals(), ['8:1', '9:0']);
    assert.ok(h.lines.some((l) => l.startsWith('Disabling service [192.168.10.9]:tcp:80 of VS')));
    script.set('192.168.10.9', true);
    await h.tick(2);
    assert.deepEqual(h.reals(), ['8:1', '9:4']);
    assert.ok(h.lines.some((l) => l.startsWith('Enabling service [192.168.10.9]:tcp:80 of VS')));
  });

  it('alpha: servers start out of the table (inhibit: at weight 0) and join at their first success', async () => {
    const h = new Harness();
    h.load({ services: [svc([real(8), real(9)], { alpha: true })] });
    assert.deepEqual(h.reals(), []);
    assert.ok(!h.lines.some((l) => /quorum/i.test(l)), 'quorum starts lost silently');
    await h.tick(1);
    assert.deepEqual(h.reals(), ['8:1', '9:1']);
    const i = new Harness();
    i.load({ services: [svc([real(8)], { alpha: true, inhibitOnFailure: true })] });
    assert.deepEqual(i.reals(), ['8:0']);
    await i.tick(1);
    assert.deepEqual(i.reals(), ['8:1']);
  });

  it('quorum with hysteresis and the sorry server (§4.3 measured case)', async () => {
    const h = new Harness();
    h.load({ services: [svc([real(1), real(2), real(3), real(4)], {
      quorum: 3, hysteresis: 1, sorryServer: { address: '10.0.0.9' }, quorumUp: '/bin/q-up', quorumDown: ['/bin/q-down', 'x'],
      reals: [1, 2, 3, 4].map((n) => real(n, { notifyDown: `/bin/down ${n}`, notifyUp: `/bin/up ${n}` })),
    })] });
    await h.tick(1);
    assert.deepEqual(h.reals(), ['1:1', '2:1', '3:1', '4:1']);
    for (const n of [4, 3]) script.set(`192.168.10.${n}`, false);
    await h.tick(2); await h.tick(1); await h.tick(1);
    assert.deepEqual(h.reals(), ['1:1', '2:1'], 'kept at 2 (2 >= 3-1)');
    script.set('192.168.10.2', false);
    await h.tick(2); await h.tick(1); await h.tick(1);
    assert.deepEqual(h.reals(), ['9:1'], 'lost at 1: only the sorry server');
    assert.ok(h.lines.includes('Lost quorum 3-1=2 > 1 for VS [10.0.0.1]:tcp:80'));
    assert.ok(h.scripts.includes('quorum_down of [10.0.0.1]:tcp:80: /bin/q-down x'));
    assert.ok(h.scripts.includes('notify_down of 192.168.10.2:80: /bin/down 2'));
    for (const n of [2, 3]) script.set(`192.168.10.${n}`, true);
    await h.tick(2);
    assert.deepEqual(h.reals(), ['9:1'], 'recoveries to 3 are bookkeeping only');
    script.set('192.168.10.4', true);
    await h.tick(2);
    assert.deepEqual(h.reals(), ['1:1', '2:1', '3:1', '4:1']);
    assert.ok(h.lines.includes('Gained quorum 3+1=4 <= 4 for VS [10.0.0.1]:tcp:80'));
    assert.ok(h.events.includes('quorum down 1') && h.events.includes('quorum up 4'));
  });

  it('without a sorry server, losing quorum changes nothing in the table', async () => {
    const h = new Harness();
    script.set('192.168.10.8', false);
    h.load({ services: [svc([real(8)], { inhibitOnFailure: true })] });
    await h.tick(1);
    assert.deepEqual(h.reals(), ['8:0']);
    assert.ok(h.lines.some((l) => l.startsWith('Lost quorum 1-0=1 > 0')));
  });

  it('rise/fall: M failed verdicts to go down, N successes to come back', async () => {
    const h = new Harness();
    h.load({ services: [svc([real(8), real(9)], { health: { check: 'fake', interval: 2, retry: 0, warmup: 0, rise: 2, fall: 3 } })] });
    await h.tick(1);
    script.set('192.168.10.9', false);
    await h.tick(2); await h.tick(2);
    assert.deepEqual(h.reals(), ['8:1', '9:1'], 'two failures: still up');
    await h.tick(2);
    assert.deepEqual(h.reals(), ['8:1']);
    script.set('192.168.10.9', true);
    await h.tick(2);
    assert.deepEqual(h.reals(), ['8:1'], 'one success: still down');
    await h.tick(2);
    assert.deepEqual(h.reals(), ['8:1', '9:1']);
  });

  it('jitter spreads intervals; warmup spreads first checks', async () => {
    const h = new Harness();
    let n = 0;
    const rnd = [0.9, 0.1, 0.5];
    h.health = new HealthManager({ table: h.table, bus: h.bus, registry: () => h.reg, clock: h.clock, random: () => rnd[n++ % 3]!, log: { debug() {}, info() {}, warn() {}, error() {} } });
    h.load({ services: [svc([real(8)], { health: { check: 'fake', interval: 10, warmup: 10, jitter: 0.2 } })] });
    await h.tick(9.9);
    assert.equal(calls.length, 0, 'first check at 1 + 0.9 × 10 s');
    await h.tick(0.2);
    assert.equal(calls.length, 1);
  });

  it('HTTP URL sequencing: a down checker needs the failed URL to pass and then a full pass (§3.4)', async () => {
    const h = new Harness();
    h.load({ services: [svc([real(8)], { health: { check: 'fake', steps: 2, interval: 2, retry: 0, warmup: 0 } })] });
    await h.tick(1); await h.tick(2);          // /0 ok, /1 ok → up
    assert.deepEqual(calls, ['192.168.10.8#0', '192.168.10.8#1']);
    script.set('192.168.10.8', 'fail1');
    await h.tick(2); await h.tick(2);          // /0 ok, /1 fails → down
    assert.deepEqual(h.reals(), []);
    script.set('192.168.10.8', true);
    await h.tick(2);                           // failed URL /1 passes: not up yet
    assert.deepEqual(h.reals(), []);
    assert.equal(calls.at(-1), '192.168.10.8#1');
    await h.tick(2); await h.tick(2);          // full pass /0, /1 → up
    assert.deepEqual(h.reals(), ['8:1']);
  });

  it('misc_dynamic weights: set while up, kept in the table at 0, used on re-add', async () => {
    const h = new Harness();
    h.load({ services: [svc([real(8, { weight: 5 }), real(9)], { health: { check: 'fake', interval: 2, retry: 0, warmup: 0 } })] });
    script.set('192.168.10.8', 8);            // exec: exit 10 → weight 8
    await h.tick(1);
    assert.deepEqual(h.reals(), ['8:8', '9:1']);
    script.set('192.168.10.8', 0);
    await h.tick(2);
    assert.deepEqual(h.reals(), ['8:0', '9:1']);
    script.set('192.168.10.8', true);
    await h.tick(2);
    assert.deepEqual(h.reals(), ['8:5', '9:1']);
  });

  it('slow start: the weight ramps from a fraction to the configured weight after recovery', async () => {
    const h = new Harness();
    h.load({ services: [svc([real(8, { weight: 10 }), real(9)], { slowStart: { seconds: 10, from: 0.2 } })] });
    await h.tick(1);
    assert.deepEqual(h.reals(), ['8:10', '9:1'], 'servers present at start are not ramped');
    script.set('192.168.10.8', false);
    await h.tick(2); await h.tick(1); await h.tick(1);
    assert.deepEqual(h.reals(), ['9:1']);
    script.set('192.168.10.8', true);
    await h.tick(2);
    assert.deepEqual(h.reals(), ['8:2', '9:1'], 'starts at 20 %');
    await h.tick(5);
    assert.deepEqual(h.reals(), ['8:6', '9:1'], 'half way');
    await h.tick(5);
    assert.deepEqual(h.reals(), ['8:10', '9:1']);
    assert.ok(h.events.includes('lifecycle 192.168.10.8 active->filling') && h.events.includes('lifecycle 192.168.10.8 filling->active'));
  });

  it('drain: weight 0, removed when its connections reach zero, or at the deadline; enable brings it back', async () => {
    const h = new Harness();
    h.load({ services: [svc([real(8), real(9)])] });
    await h.tick(1);
    const d8 = h.table.find(VIP)!.findDest({ family: 'inet', addr: '192.168.10.8', port: 80 })!;
    h.table.bindConn(d8, 'active');
    h.table.bindConn(d8, 'inactive');
    const r = handleRequest({ op: 'drain', service: VIP, dest: d8 }, { table: h.table, bus: h.bus, health: h.health });
    assert.ok(r.ok);
    assert.deepEqual(h.reals(), ['8:0', '9:1']);
    await h.tick(5);
    assert.deepEqual(h.reals(), ['8:0', '9:1'], 'connections keep it');
    h.table.unbindConn(d8, 'active');
    h.table.unbindConn(d8, 'inactive');
    await h.tick(1);
    assert.deepEqual(h.reals(), ['9:1']);
    assert.equal(h.health.views()[0]!.reals.find((x) => x.dest.addr === '192.168.10.8')!.lifecycle, 'disabled');
    await h.tick(10);
    assert.deepEqual(h.reals(), ['9:1'], 'a drained server stays out although healthy');
    assert.ok(handleRequest({ op: 'enable', service: VIP, dest: d8 }, { table: h.table, bus: h.bus, health: h.health }).ok);
    assert.deepEqual(h.reals(), ['8:1', '9:1']);
    // deadline
    const d9 = h.table.find(VIP)!.findDest({ family: 'inet', addr: '192.168.10.9', port: 80 })!;
    h.table.bindConn(d9, 'active');
    const req = parseRequest(JSON.stringify({ op: 'drain', service: VIP, dest: { family: 'inet', addr: '192.168.10.9', port: 80 }, deadline: 3 }));
    assert.ok(!('error' in req));
    assert.ok(handleRequest(req, { table: h.table, bus: h.bus, health: h.health }).ok);
    await h.tick(2);
    assert.deepEqual(h.reals(), ['8:1', '9:0']);
    await h.tick(2);
    assert.deepEqual(h.reals(), ['8:1']);
    assert.ok(h.lines.some((l) => /drain deadline of 3 s reached with 1 connections/.test(l)));
  });

  it('control requests are validated; get-health and the listing show lifecycle and checks', async () => {
    const bad = [
      { op: 'drain', service: VIP },
      { op: 'drain', service: VIP, dest: { family: 'inet', addr: '1.2.3.4', port: 80 }, deadline: -1 },
      { op: 'disable', service: VIP, dest: { family: 'inet', addr: '1.2.3.4', port: 80 }, deadline: 3 },
      { op: 'get-health', service: { addr: 'x' } },
    ];
    for (const b of bad) assert.ok('error' in parseRequest(JSON.stringify(b)), JSON.stringify(b));
    const h = new Harness();
    script.set('192.168.10.9', false);
    h.load({ services: [svc([real(8, { weight: 3 }), real(9)], { sorryServer: { address: '10.0.0.9' } })] });
    await h.tick(1);
    const deps = { table: h.table, bus: h.bus, health: h.health };
    assert.deepEqual(handleRequest({ op: 'disable', service: VIP, dest: { family: 'inet', addr: '192.168.10.7', port: 80 } }, deps),
      { ok: false, errno: 'ENOENT', message: 'no real server 192.168.10.7:80 in tcp://10.0.0.1:80' });
    assert.equal(handleRequest({ op: 'get-health' }, { table: h.table, bus: h.bus }).ok, false);
    const r = handleRequest({ op: 'get-health' }, deps);
    assert.ok(r.ok);
    const text = formatHealthListing(r.data as ReturnType<HealthManager['views']>, true);
    assert.equal(text, [
      'Prot LocalAddress:Port Quorum',
      '  -> RemoteAddress:Port           Lifecycle Health    Weight    Cfg ActiveConn  InActConn  Checks',
      'TCP  10.0.0.1:80 up 3/1',
      '  -> 192.168.10.8:80              active    up             3      3          0          0  fake ok',
      '  -> 192.168.10.9:80              active    down           -      1          0          0  fake DOWN (refused: connection refused)',
      '  -> 10.0.0.9:80                  sorry     standby',
      '',
    ].join('\n'));
    assert.match(formatHealthListing(h.health.views(), false), /TCP {2}10\.0\.0\.1:http up/);
  });

  it('a reload keeps failed servers out, applies weight changes, restarts only changed checkers', async () => {
    const h = new Harness();
    const cfg = (w8: number, interval9: number): unknown => ({ services: [svc([real(8, { weight: w8 }), real(9, { weight: 2, health: { check: 'fake', interval: interval9 } }), real(7)])] });
    script.set('192.168.10.9', false);
    h.load(cfg(1, 2));
    await h.tick(1);
    assert.deepEqual(h.reals(), ['7:1', '8:1']);
    const plan = planDiff(h.prev, desired(cfg(1, 2)));
    assert.equal(formatPlan(plan), 'no changes');
    h.load(cfg(1, 2));
    assert.deepEqual(h.reals(), ['7:1', '8:1'], 'an unchanged reload does not re-add the failed server');
    const before = calls.length;
    // weight of 9 changes while it is down: the plan's edit is held for it; 8's weight changes at once
    h.load({ services: [svc([real(8, { weight: 4 }), real(9, { weight: 6, health: { check: 'fake', interval: 2 } }), real(7)])] });
    assert.deepEqual(h.reals(), ['7:1', '8:4']);
    script.set('192.168.10.9', true);
    await h.tick(2);
    assert.deepEqual(h.reals(), ['7:1', '8:4', '9:6'], 're-added with the new weight');
    // checker of 9 changes: only 9 restarts (first check 1 s + warmup later)
    const n2 = desired({ services: [svc([real(8, { weight: 4 }), real(9, { weight: 6, health: { check: 'fake', interval: 5 } }), real(7)])] });
    const p2 = planDiff(h.prev, n2);
    const hc = healthChanges(h.prev, n2);
    assert.deepEqual(hc.map((c) => c.kind), ['checks']);
    assert.match(formatPlan(p2, hc.map(formatHealthChange)), /~ health of real 192\.168\.10\.9:80 in tcp:\/\/10\.0\.0\.1:80: fake every 2s -> fake every 5s \(its checkers restart\)/);
    void before;
  });

  it('a reload re-asserting the file after lvsadm -C and -e keeps what health holds: down, inhibited, disabled', async () => {
    const h = new Harness();
    const cfg = { services: [svc([real(6), real(7, { inhibitOnFailure: true }), real(8, { weight: 3 }), real(9, { lifecycle: 'disabled' })])] };
    script.set('192.168.10.6', false);
    script.set('192.168.10.7', false);
    h.load(cfg);
    await h.tick(1); await h.tick(1); await h.tick(1);
    assert.deepEqual(h.reals(), ['7:0', '8:3'], '6 down: out; 7 down: inhibited; 9 disabled');
    // a no-op reload changes nothing in the table
    const seen: string[] = [];
    const off = h.bus.on('table', (ev) => seen.push(ev.type));
    h.load(cfg);
    assert.deepEqual(seen, []);
    // lvsadm -e: 8 at weight 9, 7 at weight 5; the reload puts back health's weights
    const d = (n: number) => ({ ...h.table.find(VIP)!.findDest({ family: 'inet', addr: `192.168.10.${n}`, port: 80 })!.spec });
    assert.ok(h.table.editDest(VIP, { ...d(8), weight: 9 }).ok);
    assert.ok(h.table.editDest(VIP, { ...d(7), weight: 5 }).ok);
    h.load(cfg);
    assert.deepEqual(h.reals(), ['7:0', '8:3']);
    // lvsadm -C: the reload restores the service with exactly what health wants there, nothing added and removed again
    assert.ok(h.table.flush().ok);
    seen.length = 0;
    h.load(cfg);
    off();
    assert.deepEqual(h.reals(), ['7:0', '8:3']);
    assert.deepEqual(seen, ['service.added', 'dest.added', 'dest.added']);
    // health goes on: 6 comes back when up
    script.set('192.168.10.6', true);
    await h.tick(2);
    assert.deepEqual(h.reals(), ['6:1', '7:0', '8:3']);
  });

  it('a reload after lvsadm -C with the sorry server active puts back only the sorry server', async () => {
    const h = new Harness();
    const cfg = { services: [svc([real(8), real(9)], { quorum: 2, sorryServer: { address: '10.0.0.5' } })] };
    h.load(cfg);
    await h.tick(1);
    assert.deepEqual(h.reals(), ['8:1', '9:1']);
    script.set('192.168.10.9', false);
    await h.tick(2); await h.tick(1); await h.tick(1);
    assert.deepEqual(h.reals(), ['5:1'], 'quorum lost: the sorry server only');
    assert.ok(h.table.flush().ok);
    h.load(cfg);
    assert.deepEqual(h.reals(), ['5:1']);
  });

  it('a draining real is not put back by a reload after lvsadm -d, nor re-weighted after lvsadm -e', async () => {
    const h = new Harness();
    const cfg = { services: [svc([real(8), real(9)])] };
    h.load(cfg);
    await h.tick(1);
    const deps = { table: h.table, bus: h.bus, health: h.health };
    const d8 = h.table.find(VIP)!.findDest({ family: 'inet', addr: '192.168.10.8', port: 80 })!;
    h.table.bindConn(d8, 'active');
    assert.ok(handleRequest({ op: 'drain', service: VIP, dest: d8 }, deps).ok);
    assert.deepEqual(h.reals(), ['8:0', '9:1']);
    assert.ok(h.table.editDest(VIP, { ...d8.spec, weight: 7 }).ok);
    h.load(cfg);
    assert.deepEqual(h.reals(), ['8:0', '9:1'], 'draining: weight 0 is health\'s');
    assert.ok(h.table.deleteDest(VIP, d8.spec).ok);
    h.load(cfg);
    assert.deepEqual(h.reals(), ['9:1'], 'draining and out: stays out');
  });

  it('a real added by a reload is in the table at once and needs retry + 1 failures', async () => {
    const h = new Harness();
    h.load({ services: [svc([real(8)])] });
    await h.tick(1);
    script.set('192.168.10.9', false);
    h.load({ services: [svc([real(8), real(9)])] });
    assert.deepEqual(h.reals(), ['8:1', '9:1']);
    await h.tick(1);
    assert.deepEqual(h.reals(), ['8:1', '9:1'], 'one failure is not enough');
    await h.tick(1); await h.tick(1);
    assert.deepEqual(h.reals(), ['8:1']);
  });

  it('lifecycle from config: disabled reals stay out; a config change to draining drains', async () => {
    const h = new Harness();
    h.load({ services: [svc([real(8), real(9, { lifecycle: 'disabled' })])] });
    assert.deepEqual(h.reals(), ['8:1']);
    await h.tick(1);
    assert.deepEqual(h.reals(), ['8:1']);
    h.load({ services: [svc([real(8, { lifecycle: 'draining' }), real(9)])] });
    assert.deepEqual(h.reals(), ['9:1'], '8 had no connections: drained at once; 9 enabled');
  });

  it('scheduled actions run through the manager and are logged; bad cron is a config error with its path', async () => {
    const h = new Harness();
    const cfg = { services: [svc([real(8), real(9)])], schedule: [
      { cron: '0 2 * * *', drain: { service: 'tcp://10.0.0.1:80', real: '192.168.10.8:80' } },
      { cron: '30 2 * * *', enable: { service: 'tcp://10.0.0.1:80', real: '192.168.10.8:80' } },
      { cron: '0 9 * * 1-5', weight: { service: '10.0.0.1:80', real: '192.168.10.9', weight: 7 } },
    ] };
    h.load(cfg);
    const jobs: { expr: string; fn: () => void }[] = [];
    const cron: CronSource = (expr, fn) => { jobs.push({ expr, fn }); return { stop() {} }; };
    const runner = new ScheduleRunner({ health: h.health, log: { debug() {}, info: (m) => h.lines.push(m), warn: (m) => h.lines.push(m), error() {} }, cron });
    runner.update(h.prev!.schedule!);
    assert.deepEqual(jobs.map((j) => j.expr), ['0 2 * * *', '30 2 * * *', '0 9 * * 1-5']);
    jobs[0]!.fn();
    assert.deepEqual(h.reals(), ['9:1']);
    jobs[1]!.fn();
    jobs[2]!.fn();
    assert.deepEqual(h.reals(), ['8:1', '9:7']);
    assert.ok(h.lines.some((l) => /^schedule "0 2 \* \* \* drain 192\.168\.10\.8:80 in tcp:\/\/10\.0\.0\.1:80" \(schedule\[0\], 0 2 \* \* \*\): drain .* done/.test(l)), h.lines.join('\n'));
    const bad = validateConfig({ ...cfg, schedule: [{ cron: '0 25 * * *', drain: { service: 'tcp://10.0.0.1:80', real: '192.168.10.8:80' } },
      { cron: '* * * * *', drain: { service: 'tcp://10.0.0.2:80', real: '192.168.10.8:80' } }] }, { file: 'c.ts', knownSchedulers: () => true });
    assert.ok(!bad.ok);
    assert.deepEqual(bad.errors.map((e) => e.path), ['schedule[0].cron', 'schedule[1].drain.service']);
    assert.match(bad.errors[0]!.message, /not a valid cron expression/);
  });

  it('config errors: unknown checker with a hint, plugin option errors with their path, hysteresis >= quorum', () => {
    const h = new Harness();
    const d = desired({ services: [svc([real(8, { health: { check: 'fak' } })], { health: { check: 'fake', interval: 1 } })] });
    const issues = healthIssues(d, h.reg);
    assert.deepEqual(issues.map((i) => i.path), ['services[0].reals[0].health.check']);
    assert.match(issues[0]!.message, /did you mean 'fake'/);
    const tcpBad = desired({ services: [svc([real(8)], { health: { check: 'tcp', path: '/' } })] });
    assert.deepEqual(healthIssues(tcpBad, h.reg).map((i) => i.path), ['services[0].health.path']);
    const r = validateConfig({ services: [svc([real(8)], { quorum: 2, hysteresis: 2, health: { check: 'fake', intervall: 3 } })] }, { file: 'c.ts', knownSchedulers: () => true });
    assert.ok(!r.ok);
    assert.deepEqual(r.errors.map((e) => e.path).sort(), ['services[0].hysteresis']);
  });

  it('a plugin whose options() throws is a config error naming the plugin and the checker path, not an exception', async () => {
    const h = new Harness();
    h.reg.add({ plugin: defineHealthCheck({ name: 'boom', options: z.unknown().transform((): unknown => { throw new Error('exploded'); }), check: async () => ({ ok: true }) }), file: 'boom.ts', module: 'boom.mjs' });
    const d = desired({ services: [svc([real(8), real(9, { health: { check: 'fake' } })], { health: { check: 'boom', interval: 1 } })] });
    const issues = healthIssues(d, h.reg);
    assert.deepEqual(issues.map((i) => i.path), ['services[0].health']);
    assert.match(issues[0]!.message, /health check plugin "boom" failed to validate its options: exploded/);
    // The manager (a reload that skipped validation) logs it and leaves that real unchecked.
    const r = h.health.whileApplying(d, () => applyPlan(h.table, planDiff(null, d)));
    if (!r.ok) assert.fail(r.error);
    h.health.apply(d);
    assert.ok(h.lines.some((l) => /^ERROR services\[0\]\.health: health check plugin "boom" failed to validate its options: exploded$/.test(l)), h.lines.join('\n'));
    await h.tick(2);
    assert.deepEqual(h.reals(), ['8:1', '9:1']);
    h.health.stop();
  });

  it('health follows the config through the table: what the config adds or re-weights, health places in the same dispatch', async () => {
    const h = new Harness();
    const seen: string[] = [];
    h.bus.on('table', (e) => {
      if (e.type === 'dest.added' || e.type === 'dest.changed') seen.push(`${e.type} ${e.dest.addr.split('.').pop()}:${e.dest.weight} ${e.source.by}`);
      if (e.type === 'dest.removed') seen.push(`${e.type} ${e.dest.addr.split('.').pop()} ${e.source.by}`);
    });
    h.load({ services: [svc([real(8), real(9, { lifecycle: 'disabled' })], { alpha: true })] });
    assert.deepEqual(seen, ['dest.added 8:1 config', 'dest.removed 8 health', 'dest.added 9:1 config', 'dest.removed 9 health']);
    assert.deepEqual(h.reals(), []);
    const i = new Harness();
    script.set('192.168.10.9', false);
    i.load({ services: [svc([real(8), real(9)], { inhibitOnFailure: true })] });
    await i.tick(1);
    assert.deepEqual(i.reals(), ['8:1', '9:0']);
    seen.length = 0;
    i.bus.on('table', (e) => { if (e.type === 'dest.changed') seen.push(`${e.dest.addr.split('.').pop()}:${e.dest.weight} ${e.source.by}`); });
    i.load({ services: [svc([real(8), real(9, { weight: 6 })], { inhibitOnFailure: true })] });
    assert.deepEqual(seen, ['9:6 config', '9:0 health'], 'the config sets the weight, health puts its inhibited 0 back');
    assert.deepEqual(i.reals(), ['8:1', '9:0']);
    script.set('192.168.10.9', true);
    await i.tick(2);
    assert.deepEqual(i.reals(), ['8:1', '9:6'], 'back with the new weight');
  });

  it('a reload that fails after health held out a real it added rolls back exactly', async () => {
    const h = new Harness();
    const B: ServiceKey = { ...VIP, addr: '10.0.0.2' };
    const cfg = (extraA: unknown[], lower: number): unknown => ({ services: [
      svc([real(8), ...extraA]),
      { ...svc([real(5, { upperThreshold: 30, lowerThreshold: lower })]), address: '10.0.0.2', health: undefined },
    ] });
    h.load(cfg([], 0));
    await h.tick(1);
    // lvsadm -e lowers .5's upper threshold; the next config raises its lower one above it: the kernel refuses
    const d5 = h.table.find(B)!.findDest({ family: 'inet', addr: '192.168.10.5', port: 80 })!;
    assert.ok(h.table.editDest(B, { ...d5.spec, uThreshold: 10 }).ok);
    const dump = (): string => JSON.stringify(h.table.list().map((x) => [x.spec, x.dests.map((d) => d.spec)]));
    const before = dump();
    const next = desired(cfg([real(9, { health: { check: 'fake', alpha: true } })], 20));
    const r = h.health.whileApplying(next, () => applyPlan(h.table, planDiff(h.prev, next)));
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.error : '', /every change already made was undone$/);
    assert.equal(dump(), before);
  });

  it('a scheduled action changes the table as the schedule; its later steps are health\'s own', async () => {
    const h = new Harness();
    h.load({ services: [svc([real(8), real(9)])], schedule: [{ cron: '0 2 * * *', drain: { service: 'tcp://10.0.0.1:80', real: '192.168.10.8:80' } }] });
    await h.tick(1);
    const seen: string[] = [];
    h.bus.on('table', (e) => { if (e.type.startsWith('dest.')) seen.push(`${e.type} ${e.source.by}`); });
    const d8 = h.table.find(VIP)!.findDest({ family: 'inet', addr: '192.168.10.8', port: 80 })!;
    h.table.bindConn(d8, 'active');
    const runner = new ScheduleRunner({ health: h.health, log: { debug() {}, info() {}, warn() {}, error() {} }, cron: () => ({ stop() {} }) });
    assert.ok(runner.run(h.prev!.schedule![0]!));
    assert.deepEqual(seen, ['dest.changed schedule'], 'weight 0 while it drains');
    h.table.unbindConn(d8, 'active');
    await h.tick(1);
    assert.deepEqual(seen, ['dest.changed schedule', 'dest.removed health']);
  });

  it('checks a real TCP listener end to end on the virtual clock', async () => {
    const srv = createServer((c) => c.destroy());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as AddressInfo).port;
    const h = new Harness();
    h.load({ services: [{ protocol: 'tcp', address: '10.0.0.1', port: 80, forward: 'nat',
      health: { check: 'tcp', interval: 2, retry: 0, warmup: 0 }, inhibitOnFailure: true,
      reals: [{ address: '127.0.0.1', port }] }] });
    await h.tick(1);
    assert.deepEqual(h.reals(), ['1:1']);
    await new Promise<void>((r) => srv.close(() => r()));
    await h.tick(2);
    assert.deepEqual(h.reals(), ['1:0']);
    assert.ok(h.events.includes('health 127.0.0.1 down refused: connect to [127.0.0.1]:tcp:' + port + ': connection refused'), h.events.join('\n'));
    h.health.stop();
  });
});

describe('checker faults (virtual clock)', () => {
  const settings = (extra: Partial<CheckerSettings> = {}): CheckerSettings => ({
    check: 'x', interval: 2, timeout: 1, retry: 0, delayBeforeRetry: 1, warmup: 0, alpha: false, rise: 1, fall: 1,
    jitter: 0, logAllFailures: false, fastRecovery: false, options: {}, path: 'services[0].health', ...extra,
  });
  const target: HealthTarget = { family: 'inet', addr: '192.168.10.8', port: 80, protocol: 'tcp', weight: 1, label: '[192.168.10.8]:tcp:80' };

  it('a throwing onVerdict (a scheduler hook in a table operation) is reported and the checker keeps its schedule', async () => {
    const clock = new VirtualClock(0);
    let n = 0;
    const plugin = defineHealthCheck({ name: 'x', options: z.looseObject({}), check: async (): Promise<HealthResult> => (++n % 2 === 0 ? { ok: true } : { ok: false, failure: 'refused', reason: 'refused' }) });
    const errors: string[] = [];
    const verdicts: boolean[] = [];
    const c = new CheckRunner(settings(), plugin as HealthCheckPlugin<unknown>, {}, target, {
      clock, random: () => 0, onAttempt: () => {},
      onVerdict: (_c, v) => { verdicts.push(v.up); throw new Error('scheduler hook failed'); },
      onError: (_c, what, e) => errors.push(`${what}: ${(e as Error).message}`),
    }, { startup: true, up: true });
    c.start();
    await clock.advance(1000);              // first attempt at 1 s
    await clock.advance(2000);              // and every interval after, despite the throws
    await clock.advance(2000);
    assert.equal(n, 3);
    assert.deepEqual(verdicts, [false, true, false]);
    assert.deepEqual(errors, ['onVerdict: scheduler hook failed', 'onVerdict: scheduler hook failed', 'onVerdict: scheduler hook failed']);
    c.stop();
  });

  it('a plugin that never settles loses to the timeout and the real keeps being checked', async () => {
    const h = new Harness();
    // A never-settling check never goes idle: let the clock only run pending callbacks.
    h.clock.settle = () => new Promise((r) => setImmediate(r));
    let started = 0;
    h.reg.add({ plugin: defineHealthCheck({ name: 'hang', options: z.looseObject({}), check: () => { started++; return new Promise<HealthResult>(() => {}); } }), file: 'hang.ts', module: 'hang.mjs' });
    h.load({ services: [svc([real(8)], { health: { check: 'hang', interval: 2, timeout: 1, retry: 0, warmup: 0 } })] });
    await h.tick(1);                        // first attempt starts
    assert.equal(started, 1);
    await h.tick(1 + ABORT_GRACE_S);         // aborted at its timeout, still pending after the grace: a timeout
    assert.deepEqual(h.reals(), []);
    assert.ok(h.events.includes('health 192.168.10.8 down timeout: no answer within 1 s'), h.events.join('\n'));
    await h.tick(2);                        // rescheduled: the next attempt runs
    assert.equal(started, 2);
    await h.tick(1 + ABORT_GRACE_S + 2);
    assert.equal(started, 3);
    h.health.stop();
  });

  it('a plugin that answers its abort within the grace decides the result itself (udp: silence is success)', async () => {
    const h = new Harness();
    h.clock.settle = () => new Promise((r) => setImmediate(r));   // the check waits for the clock's abort
    h.reg.add({ plugin: defineHealthCheck({ name: 'quiet', options: z.looseObject({}),
      check: (_t, _o, ctx) => new Promise<HealthResult>((r) => ctx.signal.addEventListener('abort', () => r({ ok: true, detail: 'silence' }))) }), file: 'q.ts', module: 'q.mjs' });
    h.load({ services: [svc([real(8)], { health: { check: 'quiet', interval: 2, timeout: 1, retry: 0, warmup: 0 } })] });
    await h.tick(2 + ABORT_GRACE_S + 2);
    assert.deepEqual(h.reals(), ['8:1']);
    assert.ok(!h.events.some((e) => e.includes('down')), h.events.join('\n'));
    h.health.stop();
  });
});

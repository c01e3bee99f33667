import assert from 'node:assert/strict';
import { applyPlan, formatPlan, planDiff, planReassert, type Plan } from '../core/config/diff.js';
import { validateConfig, type DesiredState } from '../core/config/schema.js';
import { ServiceTable } from '../core/model/table.js';
import { defineScheduler, type SchedulerPlugin } from '../core/plugin.js';
import type { ServiceKey } from '../core/model/types.js';
import sh from '../plugins/schedulers/sh.js';
import { builtinForwarder } from '../plugins/forwarding/lib/builtin.js';

/** The sh scheduler's own -b words, as the registry would give them. */
const shFlags = (n: string) => (n === 'sh' ? sh.flags : undefined);

const calls: string[] = [];
const stub = (name: string): SchedulerPlugin<unknown> => defineScheduler({
  name,
  init: () => { calls.push(`init ${name}`); return null; },
  done: () => { calls.push(`done ${name}`); },
  schedule: (svc) => svc.dests[0] ?? null,
});
const SCHEDS = new Map(['wlc', 'wrr', 'rr', 'sh'].map((n) => [n, stub(n)]));

function newTable(): ServiceTable {
  return new ServiceTable({ schedulers: (n) => SCHEDS.get(n), forwarder: builtinForwarder, ctx: { now: () => 1000, randomU32: () => 0, log: () => {} } });
}

/** A desired state from a config object, as load.ts would produce it. */
function desired(raw: unknown): DesiredState {
  const r = validateConfig(raw, { file: '/etc/lvsd/config.ts', knownSchedulers: () => true, schedulerNames: ['sh'], schedulerFlags: shFlags });
  if (!r.ok) assert.fail(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  return r.desired;
}

const web = (reals: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ address: '10.0.0.1', port: 80, forward: 'nat', reals, ...extra });
const R = (n: number, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ address: `192.168.10.${n}`, port: 8080, ...extra });
const WEB: ServiceKey = { family: 'inet', protocol: 'tcp', addr: '10.0.0.1', port: 80, fwmark: 0 };

/** What ipvsadm -L --nosort would show, minus stats: enough to compare tables. */
function dump(t: ServiceTable): unknown {
  return { services: t.list().map((s) => ({ ...s.spec, dests: s.dests.map((d) => ({ ...d.spec })) })), timeouts: { ...t.timeouts } };
}

function applied(t: ServiceTable, plan: Plan): { added: number; edited: number; removed: number } {
  const r = applyPlan(t, plan);
  if (!r.ok) assert.fail(r.error);
  return r.counts;
}

describe('config diff: planDiff and formatPlan', () => {
  const base = desired({ services: [web([R(8), R(9)], { scheduler: 'wrr' })] });

  // Reloads skip unchanged services without comparing their reals by key: the
  // plan must be the same as comparing everything (one change among many; the
  // same reals in another order is no change).
  it('among many unchanged services, plans only what changed', () => {
    const svcs = (w: number, order: number[]) => Array.from({ length: 50 }, (_, i) => ({
      address: `10.0.1.${i + 1}`, port: 80, forward: 'nat',
      reals: order.map((n) => R(n, { weight: i === 25 && n === 9 ? w : 1 })),
    }));
    const a = desired({ services: svcs(1, [8, 9, 10]) });
    assert.equal(formatPlan(planDiff(a, desired({ services: svcs(1, [8, 9, 10]) }))), 'no changes');
    assert.equal(formatPlan(planDiff(a, desired({ services: svcs(1, [10, 8, 9]) }))), 'no changes');
    assert.equal(formatPlan(planDiff(a, desired({ services: svcs(4, [8, 9, 10]) }))),
      '~ real 192.168.10.9:8080 in tcp://10.0.1.26:80: weight 1 -> 4');
    assert.equal(formatPlan(planDiff(a, desired({ services: svcs(1, [8, 9]) }))),
      svcs(1, [8]).map((s) => `- real 192.168.10.10:8080 in tcp://${s.address}:80`).join('\n'));
  });

  it('from nothing: everything is added, reals in config order', () => {
    const plan = planDiff(null, desired({ timeouts: { tcp: 600 }, workers: 2, services: [web([R(8), R(9, { weight: 3 })], { scheduler: 'wrr' })] }));
    assert.equal(formatPlan(plan), [
      '~ timeouts tcp 600',
      '+ service tcp://10.0.0.1:80 scheduler wrr',
      '+ real 192.168.10.8:8080 in tcp://10.0.0.1:80 nat weight 1',
      '+ real 192.168.10.9:8080 in tcp://10.0.0.1:80 nat weight 3',
      '~ workers default -> 2',
    ].join('\n'));
  });

  it('no change', () => {
    const plan = planDiff(base, desired({ services: [web([R(8), R(9)], { scheduler: 'wrr' })] }));
    assert.deepEqual(plan, { actions: [], settings: [] });
    assert.equal(formatPlan(plan), 'no changes');
  });

  it('a weight change is an edit, never a remove and re-add', () => {
    const plan = planDiff(base, desired({ services: [web([R(8, { weight: 3 }), R(9)], { scheduler: 'wrr' })] }));
    assert.deepEqual(plan.actions.map((a) => a.kind), ['edit-real']);
    assert.equal(formatPlan(plan), '~ real 192.168.10.8:8080 in tcp://10.0.0.1:80: weight 1 -> 3');
  });

  it('an added real, a removed real, a changed method and thresholds', () => {
    const plan = planDiff(base, desired({ services: [web([R(9, { upperThreshold: 100 }), R(10), R(11)], { scheduler: 'wrr' })] }));
    assert.equal(formatPlan(plan), [
      '~ real 192.168.10.9:8080 in tcp://10.0.0.1:80: upperThreshold 0 -> 100',
      '+ real 192.168.10.10:8080 in tcp://10.0.0.1:80 nat weight 1',
      '+ real 192.168.10.11:8080 in tcp://10.0.0.1:80 nat weight 1',
      '- real 192.168.10.8:8080 in tcp://10.0.0.1:80',
    ].join('\n'));
    const dr = planDiff(base, desired({ services: [web([R(8), { address: '192.168.10.9', forward: 'dr' }], { scheduler: 'wrr' })] }));
    // The port is part of a real's key: 192.168.10.9:8080 (nat) and :80 (dr) are different reals.
    assert.deepEqual(dr.actions.map((a) => a.kind), ['add-real', 'remove-real']);
    const fwd = planDiff(base, desired({ services: [web([R(8), R(9, { forward: 'nat', weight: 0 })], { scheduler: 'wrr' })] }));
    assert.equal(formatPlan(fwd), '~ real 192.168.10.9:8080 in tcp://10.0.0.1:80: weight 1 -> 0');
  });

  it('a removed service, an added one, an edited one', () => {
    const prev = desired({ services: [web([R(8), R(9)]), { protocol: 'udp', address: '10.0.0.1', port: 53, reals: [{ address: '192.168.10.53' }] }] });
    const next = desired({ services: [
      web([R(8), R(9)], { scheduler: 'sh', schedFlags: ['sh-port'], persistence: { timeout: 60, netmask: 24 } }),
      { fwmark: 5, reals: [{ address: '192.168.10.70' }] },
    ] });
    assert.equal(formatPlan(planDiff(prev, next, shFlags)), [
      '~ service tcp://10.0.0.1:80: scheduler wlc -> sh, persistence off -> 60s mask 255.255.255.0, flags none -> sh-port',
      '+ service fwmark://5 scheduler wlc',
      '+ real 192.168.10.70:0 in fwmark://5 dr weight 1',
      '- service udp://10.0.0.1:53 (and its 1 real)',
    ].join('\n'));
  });

  it('daemon-level settings are listed, not applied', () => {
    const plan = planDiff(desired({ interfaces: ['eth0'] }), desired({ interfaces: ['eth0', 'eth1'], plugins: ['/opt/p'] }));
    assert.equal(formatPlan(plan), '~ plugins (none) -> /opt/p\n~ interfaces eth0 -> eth0, eth1');
    assert.deepEqual(applied(newTable(), plan), { added: 0, edited: 0, removed: 0 });
  });
});

describe('config diff: applyPlan', () => {
  beforeEach(() => { calls.length = 0; });

  it('applies a first config and then only the difference', () => {
    const t = newTable();
    const a = desired({ timeouts: { udp: 60 }, services: [web([R(8), R(9)], { scheduler: 'wrr' })] });
    assert.deepEqual(applied(t, planDiff(null, a)), { added: 3, edited: 1, removed: 0 });
    assert.deepEqual(t.find(WEB)!.dests.map((d) => d.addr), ['192.168.10.9', '192.168.10.8']);   // kernel order: newest first
    assert.equal(t.timeouts.udp, 60);
    const d8 = t.find(WEB)!.dests[1]!;
    d8.activeConns = 7;   // a live connection count that must survive the reload

    const b = desired({ services: [web([R(8, { weight: 5 }), R(10)], { scheduler: 'wrr' })] });
    assert.deepEqual(applied(t, planDiff(a, b)), { added: 1, edited: 2, removed: 1 });
    assert.deepEqual(t.find(WEB)!.dests.map((d) => `${d.addr} ${d.weight}`), ['192.168.10.10 1', '192.168.10.8 5']);
    assert.equal(t.find(WEB)!.dests[1], d8, 'an edited real is the same live object');
    assert.equal(d8.activeConns, 7);
    assert.equal(t.timeouts.udp, 300, 'a timeout dropped from the config returns to the default');
    assert.equal(formatPlan(planDiff(a, b)).split('\n')[0], '~ timeouts udp 60 -> default 300');
  });

  it('keeps run-time changes the file did not touch', () => {
    const t = newTable();
    const a = desired({ services: [web([R(8), R(9)])] });
    applied(t, planDiff(null, a));
    // lvsadm -e -w 4 on .9, lvsadm -a .20, lvsadm -E -s rr on the service
    assert.ok(t.editDest(WEB, { ...t.find(WEB)!.findDest({ family: 'inet', addr: '192.168.10.9', port: 8080 })!.spec, weight: 4 }).ok);
    assert.ok(t.addDest(WEB, { ...t.find(WEB)!.dests[0]!.spec, addr: '192.168.10.20' }).ok);
    assert.ok(t.editService({ ...t.find(WEB)!.spec, scheduler: 'rr' }).ok);
    // The file changes .9's threshold and the service's persistence only.
    const b = desired({ services: [web([R(8), R(9, { upperThreshold: 50 })], { persistence: true })] });
    applied(t, planDiff(a, b));
    const s = t.find(WEB)!;
    assert.equal(s.spec.scheduler, 'rr');
    assert.equal(s.spec.timeout, 360);
    const d9 = s.findDest({ family: 'inet', addr: '192.168.10.9', port: 8080 })!;
    assert.deepEqual([d9.weight, d9.uThreshold], [4, 50]);
    assert.ok(s.findDest({ family: 'inet', addr: '192.168.10.20', port: 8080 }));
    // Removing a real that was already deleted with lvsadm is not an error.
    assert.ok(t.deleteDest(WEB, { family: 'inet', addr: '192.168.10.8', port: 8080 }).ok);
    const r = applyPlan(t, planDiff(b, desired({ services: [web([R(9, { upperThreshold: 50 })], { persistence: true })] })));
    assert.ok(r.ok);
    assert.deepEqual(r.ok && r.skipped, ['- real 192.168.10.8:8080 in tcp://10.0.0.1:80: already absent']);
  });

  it('an edit of a real that is out of the table (held out by health, or lvsadm -d) is skipped, not a failed reload', () => {
    const t = newTable();
    const a = desired({ services: [web([R(8), R(9)])] });
    applied(t, planDiff(null, a));
    assert.ok(t.deleteDest(WEB, { family: 'inet', addr: '192.168.10.9', port: 8080 }).ok);
    const r = applyPlan(t, planDiff(a, desired({ services: [web([R(8, { weight: 2 }), R(9, { weight: 5 })])] })));
    assert.ok(r.ok, !r.ok ? r.error : '');
    assert.deepEqual(r.ok && r.counts, { added: 0, edited: 1, removed: 0 });
    assert.deepEqual(r.ok && r.skipped, ['~ real 192.168.10.9:8080 in tcp://10.0.0.1:80: weight 1 -> 5: not in the table (kept out by health or lvsadm): left out']);
    assert.deepEqual(t.find(WEB)!.dests.map((d) => `${d.addr} ${d.weight}`), ['192.168.10.8 2']);
  });

  it('a rollback names itself in its events (followers do not react to the way back)', () => {
    const events: string[] = [];
    const t = new ServiceTable({ schedulers: (n) => SCHEDS.get(n), forwarder: builtinForwarder, ctx: { now: () => 1000, randomU32: () => 0, log: () => {} },
      onEvent: (ev) => events.push(`${ev.type} ${ev.source.by}${ev.source.name ? ` ${ev.source.name}` : ''}`) });
    const r = applyPlan(t, planDiff(null, desired({ services: [web([R(8)]), web([], { port: 443, scheduler: 'fancy' })] })));
    assert.equal(r.ok, false);
    assert.deepEqual(events, ['service.added config', 'dest.added config', 'dest.removed config rollback', 'service.removed config rollback']);
  });

  it('a service already added with lvsadm: refused before anything is touched', () => {
    const t = newTable();
    const a = desired({ services: [web([R(8)])] });
    applied(t, planDiff(null, a));
    assert.ok(t.addService({ ...t.find(WEB)!.spec, port: 443 }).ok);   // lvsadm -A -t 10.0.0.1:443
    const before = dump(t);
    const b = desired({ services: [web([R(8, { weight: 2 })]), web([R(8)], { port: 443 })] });
    const r = applyPlan(t, planDiff(a, b));
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error, 'cannot add service tcp://10.0.0.1:443: Service already exists (service tcp://10.0.0.1:443 already exists; '
      + 'it was added at run time (lvsadm?): delete it there, or leave it out of the config); nothing was changed');
    assert.deepEqual(dump(t), before);
  });

  it('rolls back when the 2nd of 3 operations fails, leaving the table exactly as before', () => {
    const t = newTable();
    const a = desired({ services: [web([R(8), R(9, { upperThreshold: 30 })])] });
    applied(t, planDiff(null, a));
    // At run time: lvsadm -e … -x 10 lowers .9's upper threshold to 10.
    const d9 = t.find(WEB)!.findDest({ family: 'inet', addr: '192.168.10.9', port: 8080 })!;
    assert.ok(t.editDest(WEB, { ...d9.spec, uThreshold: 10 }).ok);
    const before = dump(t);
    calls.length = 0;
    // The file: scheduler wlc -> wrr (1); .9's lower threshold 0 -> 20 (2), which with the
    // live upper threshold 10 (the file did not change that one) the kernel refuses; a new real (3).
    const b = desired({ services: [web([R(8), R(9, { upperThreshold: 30, lowerThreshold: 20 }), R(10)], { scheduler: 'wrr' })] });
    const plan = planDiff(a, b);
    assert.deepEqual(plan.actions.map((x) => x.kind), ['edit-service', 'edit-real', 'add-real']);
    const r = applyPlan(t, plan);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error, 'cannot edit real 192.168.10.9:8080 in tcp://10.0.0.1:80: Numerical result out of range '
      + '(lower threshold 20 is above upper threshold 10); every change already made was undone');
    assert.deepEqual(dump(t), before);
    assert.equal(t.find(WEB)!.sched?.name, 'wlc');
    assert.deepEqual(calls, ['done wlc', 'init wrr', 'done wrr', 'init wlc']);
    // Once the run-time conflict is gone, the same plan goes through.
    assert.ok(t.editDest(WEB, { ...d9.spec, uThreshold: 30 }).ok);
    assert.deepEqual(applied(t, plan), { added: 1, edited: 2, removed: 0 });
  });

  it('rolls back an added service when a later add fails in the table', () => {
    const t = newTable();
    const before = dump(t);
    // 'fancy' passed the schema (the loader had such a plugin) but the table does not know it.
    const plan = planDiff(null, desired({ services: [web([R(8)]), web([], { port: 443, scheduler: 'fancy' })] }));
    const r = applyPlan(t, plan);
    assert.equal(!r.ok && r.error, 'cannot add service tcp://10.0.0.1:443: Scheduler or persistence engine not found '
      + '(scheduler "fancy" not found); every change already made was undone');
    assert.deepEqual(dump(t), before);
  });
});

describe('config diff: planReassert (a reload: the file against the running table)', () => {
  it('puts back what lvsadm deleted and resets what it changed, keeps what it added', () => {
    const t = newTable();
    const a = desired({ timeouts: { udp: 60 }, services: [web([R(8), R(9)], { scheduler: 'wrr' }), web([R(8)], { port: 443 })] });
    applied(t, planReassert(t, null, a));
    const first = dump(t);
    assert.equal(formatPlan(planReassert(t, a, a)), 'no changes');
    // lvsadm: -D 443, -e .9 weight 4 and -x 10, -E -s rr, -a .20, --set 0 0 90, -A :8080
    assert.ok(t.deleteService({ ...WEB, port: 443 }).ok);
    const d9 = t.find(WEB)!.findDest({ family: 'inet', addr: '192.168.10.9', port: 8080 })!;
    assert.ok(t.editDest(WEB, { ...d9.spec, weight: 4, uThreshold: 10 }).ok);
    assert.ok(t.editService({ ...t.find(WEB)!.spec, scheduler: 'rr' }).ok);
    assert.ok(t.addDest(WEB, { ...d9.spec, addr: '192.168.10.20' }).ok);
    assert.ok(t.setTimeouts({ tcp: 0, tcpfin: 0, udp: 90 }).ok);
    assert.ok(t.addService({ ...t.find(WEB)!.spec, port: 8080 }).ok);
    const plan = planReassert(t, a, a);
    assert.equal(formatPlan(plan), [
      '~ timeouts udp 90 -> 60',
      '~ service tcp://10.0.0.1:80: scheduler rr -> wrr',
      '~ real 192.168.10.9:8080 in tcp://10.0.0.1:80: weight 4 -> 1, upperThreshold 10 -> 0',
      '+ service tcp://10.0.0.1:443 scheduler wlc',
      '+ real 192.168.10.8:8080 in tcp://10.0.0.1:443 nat weight 1',
    ].join('\n'));
    assert.deepEqual(applied(t, plan), { added: 2, edited: 3, removed: 0 });
    assert.ok(t.find(WEB)!.findDest({ family: 'inet', addr: '192.168.10.20', port: 8080 }), 'the real lvsadm added stays');
    assert.ok(t.find({ ...WEB, port: 8080 }), 'the service lvsadm added stays');
    assert.ok(t.deleteDest(WEB, { family: 'inet', addr: '192.168.10.20', port: 8080 }).ok);
    assert.ok(t.deleteService({ ...WEB, port: 8080 }).ok);
    const norm = (x: unknown) => JSON.stringify((x as { services: { port: number }[] }).services.slice().sort((p, q) => p.port - q.port));
    assert.equal(norm(dump(t)), norm(first));
  });

  it('what the file stops declaring goes, deleted at run time or not; a file-declared service lvsadm added is taken over', () => {
    const t = newTable();
    const a = desired({ services: [web([R(8), R(9)])] });
    applied(t, planReassert(t, null, a));
    assert.ok(t.deleteDest(WEB, { family: 'inet', addr: '192.168.10.9', port: 8080 }).ok);
    assert.ok(t.addService({ ...t.find(WEB)!.spec, port: 443, scheduler: 'rr' }).ok);
    const b = desired({ services: [web([R(8)]), web([R(7)], { port: 443 })] });
    const r = applyPlan(t, planReassert(t, a, b));
    assert.ok(r.ok, !r.ok ? r.error : '');
    assert.deepEqual(r.ok && r.skipped, ['- real 192.168.10.9:8080 in tcp://10.0.0.1:80: already absent']);
    assert.equal(t.find({ ...WEB, port: 443 })!.spec.scheduler, 'wlc');
    assert.deepEqual(t.find({ ...WEB, port: 443 })!.dests.map((d) => d.addr), ['192.168.10.7']);
  });

  it('asks health before putting a real back, and leaves the weight of a real health follows to health', () => {
    const t = newTable();
    const a = desired({ services: [web(Array.from({ length: 20 }, (_, i) => R(i + 1)))] });   // > 16 reals: the keyed lookup
    applied(t, planReassert(t, null, a));
    const k = (n: number) => ({ family: 'inet' as const, addr: `192.168.10.${n}`, port: 8080 });
    for (const n of [1, 2, 3]) assert.ok(t.deleteDest(WEB, k(n)).ok);
    assert.ok(t.editDest(WEB, { ...t.find(WEB)!.findDest(k(4))!.spec, weight: 0 }).ok);
    // health: 1 held out (down), 2 inhibited (weight 0), 3 not followed; 4 followed
    const health = (_s: ServiceKey, d: { addr: string }) => (d.addr.endsWith('.1') ? { present: false, weight: 0 }
      : d.addr.endsWith('.2') ? { present: true, weight: 0 } : d.addr.endsWith('.3') ? undefined : { present: true, weight: 1 });
    assert.equal(formatPlan(planReassert(t, a, a, undefined, health)), [
      '+ real 192.168.10.2:8080 in tcp://10.0.0.1:80 nat weight 0',
      '+ real 192.168.10.3:8080 in tcp://10.0.0.1:80 nat weight 1',
    ].join('\n'));
    // the file changes 4's weight: the file's weight goes in (health adjusts it as it follows the event)
    const b = desired({ services: [web(Array.from({ length: 20 }, (_, i) => R(i + 1, i === 3 ? { weight: 5 } : {})))] });
    assert.match(formatPlan(planReassert(t, a, b, undefined, health)), /~ real 192\.168\.10\.4:8080 in tcp:\/\/10\.0\.0\.1:80: weight 0 -> 5/);
  });
});

import assert from 'node:assert/strict';
import { ServiceTable } from '../core/model/table.js';
import { defineForwarder, defineScheduler, FWD_SENT, type ForwarderCaps, type SchedService } from '../core/plugin.js';
import { allowsCrossFamily, compatForwarderCaps, destRuleError, forcedDestPort, keepsVirtualPort } from '../core/model/rules.js';
import { FWD_NUM, type FwdMethod } from '../core/model/types.js';
import type { DestSpec, ServiceSpec } from '../core/model/types.js';
import { builtinForwarder } from '../plugins/forwarding/lib/builtin.js';

const calls: string[] = [];
const spy = defineScheduler({
  name: 'spy',
  init: (svc: SchedService) => { calls.push(`init ${svc.dests.length}`); return { n: 0 }; },
  done: () => { calls.push('done'); },
  addDest: (_s, _st, d) => { calls.push(`add ${d.addr}`); },
  delDest: (_s, _st, d) => { calls.push(`del ${d.addr}`); },
  updDest: (_s, _st, d) => { calls.push(`upd ${d.addr}`); },
  schedule: (svc) => svc.dests[0] ?? null,
});
const other = defineScheduler({ name: 'other', init: () => { calls.push('init other'); return null; }, schedule: () => null });

let now = 1000;
function newTable(ifaces: string[] = ['eth0']): ServiceTable {
  return new ServiceTable({
    schedulers: (n) => (n === 'spy' ? spy : n === 'other' ? other : undefined),
    forwarder: builtinForwarder,
    interfaceExists: (n) => ifaces.includes(n),
    ctx: { now: () => now * 1000, randomU32: () => 0, log: () => {} },   // `now` in seconds here; ctx.now() is ms
  });
}
const svc = (over: Partial<ServiceSpec> = {}): ServiceSpec => ({ family: 'inet', protocol: 'tcp', addr: '10.0.0.1', port: 80,
  fwmark: 0, scheduler: 'spy', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '', ...over });
const dest = (addr: string, over: Partial<DestSpec> = {}): DestSpec => ({ family: 'inet', addr, port: 80, fwd: 'masq',
  weight: 1, uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunFlags: 0, ...over });

describe('service table (kernel rules)', () => {
  beforeEach(() => { calls.length = 0; });

  it('keeps dests newest first and calls the scheduler hooks', () => {
    const t = newTable();
    assert.ok(t.addService(svc()).ok);
    for (const a of ['192.168.0.1', '192.168.0.2', '192.168.0.3']) assert.ok(t.addDest(svc(), dest(a)).ok);
    assert.deepEqual(t.find(svc())!.dests.map((d) => d.addr), ['192.168.0.3', '192.168.0.2', '192.168.0.1']);
    assert.ok(t.editDest(svc(), dest('192.168.0.2', { weight: 5 })).ok);
    assert.deepEqual(t.find(svc())!.dests.map((d) => d.addr), ['192.168.0.3', '192.168.0.2', '192.168.0.1']);
    assert.ok(t.deleteDest(svc(), dest('192.168.0.2')).ok);
    assert.deepEqual(calls, ['init 0', 'add 192.168.0.1', 'add 192.168.0.2', 'add 192.168.0.3', 'upd 192.168.0.2', 'del 192.168.0.2']);
  });

  it('re-initialises the scheduler only when -E changes it', () => {
    const t = newTable();
    t.addService(svc());
    t.addDest(svc(), dest('192.168.0.1'));
    assert.ok(t.editService(svc({ flags: 1, timeout: 300 })).ok);
    assert.ok(t.editService(svc({ scheduler: 'other' })).ok);
    assert.deepEqual(calls, ['init 0', 'add 192.168.0.1', 'done', 'init other']);
  });

  it('revives a recently deleted dest with its counters, at the head of the list', () => {
    const t = newTable();
    t.addService(svc());
    const a = t.addDest(svc(), dest('192.168.0.1'));
    assert.ok(a.ok);
    a.value.stats.conns = 42;
    t.addDest(svc(), dest('192.168.0.2'));
    t.deleteDest(svc(), dest('192.168.0.1'));
    assert.equal(a.value.available, false);
    const b = t.addDest(svc(), dest('192.168.0.1', { weight: 3 }));
    assert.ok(b.ok && b.value === a.value && b.value.stats.conns === 42 && b.value.available);
    assert.deepEqual(t.find(svc())!.dests.map((d) => d.addr), ['192.168.0.1', '192.168.0.2']);
    // Once nothing has held it for the trash period (120 s from when it is first seen idle), it is gone for good.
    t.deleteDest(svc(), dest('192.168.0.1'));
    t.cleanTrash();
    now += 119;
    t.cleanTrash();
    const still = t.addDest(svc(), dest('192.168.0.1'));
    assert.ok(still.ok && still.value === a.value, 'revivable before the period ends');
    t.deleteDest(svc(), dest('192.168.0.1'));
    t.cleanTrash();
    now += 121;
    t.cleanTrash();
    const c = t.addDest(svc(), dest('192.168.0.1'));
    assert.ok(c.ok && c.value !== a.value && c.value.stats.conns === 0);
  });

  it('keeps last_weight and clears OVERLOAD as __ip_vs_update_dest does', () => {
    const t = newTable();
    t.addService(svc());
    const r = t.addDest(svc(), dest('192.168.0.1', { weight: 0, uThreshold: 10 }));
    assert.ok(r.ok);
    const d = r.value;
    assert.equal(d.lastWeight, 0);                        // set on add even when 0
    t.editDest(svc(), dest('192.168.0.1', { weight: 4, uThreshold: 10 }));
    t.editDest(svc(), dest('192.168.0.1', { weight: 0, uThreshold: 10 }));
    assert.equal(d.lastWeight, 4);                        // not on an edit to 0
    d.overloaded = true;
    t.editDest(svc(), dest('192.168.0.1', { uThreshold: 5 }));
    assert.equal(d.overloaded, true);                     // lower threshold: stays
    t.editDest(svc(), dest('192.168.0.1', { uThreshold: 8 }));
    assert.equal(d.overloaded, false);                    // raised: cleared
  });

  it('refuses what the kernel refuses, with its errno, changing nothing', () => {
    const t = newTable();
    assert.equal(t.addService(svc({ scheduler: 'nope' })).ok, false);
    t.addService(svc());
    const errno = (r: { ok: boolean; error?: { errno: string } }) => (r.ok ? 'ok' : r.error!.errno);
    assert.equal(errno(t.addService(svc())), 'EEXIST');
    assert.equal(errno(t.editService(svc({ port: 81 }))), 'ESRCH');
    assert.equal(errno(t.editService(svc({ scheduler: 'nope' }))), 'ENOENT');
    assert.equal(errno(t.addService(svc({ port: 82, pe: 'nope' }))), 'ENOENT');
    assert.equal(errno(t.addService(svc({ family: 'inet6', addr: '2001:db8::1', flags: 1, netmask: 129 }))), 'EINVAL');
    assert.equal(errno(t.addDest(svc({ port: 81 }), dest('192.168.0.1'))), 'ESRCH');
    for (const bad of ['0.0.0.0', '0.1.2.3', '255.255.255.255', '224.0.0.1', '239.1.1.1']) {
      assert.equal(errno(t.addDest(svc(), dest(bad))), 'EINVAL', bad);
    }
    assert.equal(errno(t.addDest(svc(), dest('127.0.0.1'))), 'ok');
    assert.equal(errno(t.addDest(svc(), dest('127.0.0.1'))), 'EEXIST');
    assert.equal(errno(t.addDest(svc(), dest('192.168.0.9', { weight: -1 }))), 'ERANGE');
    assert.equal(errno(t.addDest(svc(), dest('192.168.0.9', { lThreshold: 3 }))), 'ERANGE');
    assert.equal(errno(t.addDest(svc(), dest('192.168.0.9', { fwd: 'tunnel', tunType: 'gue', tunPort: 0 }))), 'EINVAL');
    assert.equal(errno(t.addDest(svc(), { ...dest('2001:db8::5'), family: 'inet6' })), 'EINVAL');
    assert.equal(errno(t.addDest(svc(), { ...dest('2001:db8::5'), family: 'inet6', fwd: 'tunnel' })), 'ok');
    assert.equal(errno(t.editDest(svc(), dest('192.168.0.77'))), 'ENOENT');
    assert.equal(errno(t.deleteDest(svc(), dest('192.168.0.77'))), 'ENOENT');
    assert.equal(errno(t.zero(svc({ port: 99 }))), 'ESRCH');
    assert.equal(t.find(svc())!.dests.length, 2);
  });

  it('takes what a method allows from its forwarder, comparing no method name', () => {
    // 'route' carried out by an operator's forwarder that tunnels across families and checks its own real servers
    const odd = defineForwarder({
      name: 'odd', method: 'route', crossFamily: true,
      checkDest: (d) => (d.weight === 13 ? 'thirteen is unlucky' : null),
      inbound: () => FWD_SENT,
    });
    const lookups: string[] = [];
    const t = new ServiceTable({
      schedulers: (n) => (n === 'spy' ? spy : undefined),
      forwarder: (m) => { lookups.push(m); return m === 'route' ? odd : undefined; },
      ctx: { now: () => 0, randomU32: () => 0, log: () => {} },
    });
    t.addService(svc());
    const r = (x: { ok: boolean; error?: { errno: string; message: string } }) => (x.ok ? 'ok' : `${x.error!.errno} ${x.error!.message}`);
    assert.equal(r(t.addDest(svc(), { ...dest('2001:db8::5'), family: 'inet6', fwd: 'route' })), 'ok');
    assert.equal(r(t.addDest(svc(), { ...dest('2001:db8::6'), family: 'inet6', fwd: 'tunnel' })),
      'EINVAL a real server of another address family must use tunnelling', 'no forwarder for tunnel here: no crossFamily');
    assert.equal(r(t.addDest(svc(), dest('192.168.0.13', { fwd: 'route', weight: 13 }))), 'EINVAL thirteen is unlucky');
    assert.ok(t.addDest(svc(), dest('192.168.0.12', { fwd: 'route', weight: 12 })).ok);
    assert.equal(r(t.editDest(svc(), dest('192.168.0.12', { fwd: 'route', weight: 13 }))), 'EINVAL thirteen is unlucky');
    assert.deepEqual(t.find(svc())!.dests.map((d) => `${d.addr}:${d.weight}`), ['192.168.0.12:12', '2001:db8::5:1']);
    assert.equal(r(t.addDest(svc(), dest('192.168.0.20', { fwd: 'masq', weight: 13 }))), 'ok', 'another method: not its check');
    assert.ok(lookups.includes('masq') && lookups.includes('tunnel'));
    // the built-in tunnel forwarder's own check, as the kernel's: GUE needs its port, on -e too
    const b = newTable();
    b.addService(svc());
    assert.ok(b.addDest(svc(), dest('192.168.0.9', { fwd: 'tunnel', tunType: 'gue', tunPort: 6080 })).ok);
    assert.equal(r(b.editDest(svc(), dest('192.168.0.9', { fwd: 'tunnel', tunType: 'gue', tunPort: 0 }))), 'EINVAL GUE tunnel needs a port');
    assert.equal(b.find(svc())!.dests[0]!.spec.tunPort, 6080);
  });

  it('ipvsadm\'s real-server rules read the forwarders\' capabilities; the compatibility default matches the built-ins', () => {
    const none = (): ForwarderCaps | undefined => undefined;
    const v6 = { ...dest('2001:db8::5'), family: 'inet6' as const, fwd: 'tunnel' as const };
    assert.equal(destRuleError({ family: 'inet' }, v6, builtinForwarder), null);
    assert.equal(destRuleError({ family: 'inet' }, v6, none), 'Different address family is allowed only for tunneling servers');
    assert.equal(destRuleError({ family: 'inet' }, v6), null, 'old two-argument call');
    assert.equal(destRuleError({ family: 'inet' }, { ...v6, fwd: 'masq' }), 'Different address family is allowed only for tunneling servers');
    const s = { fwmark: 0, port: 80 };
    assert.equal(forcedDestPort(s, { fwd: 'route', port: 8080 }, builtinForwarder), 80);
    assert.equal(forcedDestPort(s, { fwd: 'tunnel', port: 8080 }, builtinForwarder), 80);
    assert.equal(forcedDestPort(s, { fwd: 'masq', port: 8080 }, builtinForwarder), 8080);
    assert.equal(forcedDestPort({ fwmark: 1, port: 0 }, { fwd: 'route', port: 8080 }, builtinForwarder), 8080);
    assert.equal(forcedDestPort(s, { fwd: 'route', port: 8080 }, none), 8080);
    for (const m of Object.keys(FWD_NUM) as FwdMethod[]) {
      assert.equal(allowsCrossFamily(m), allowsCrossFamily(m, builtinForwarder), m);
      assert.equal(keepsVirtualPort(m), keepsVirtualPort(m, builtinForwarder), m);
      assert.equal(compatForwarderCaps(m)?.crossFamily === true, builtinForwarder(m)?.crossFamily === true, m);
    }
  });

  it('undoes its own change when a scheduler hook throws, failing with EINVAL', () => {
    const flaky = defineScheduler({
      name: 'flaky', init: () => ({ adds: 0 }),
      addDest: (_s, st, d) => { if (d.addr === '192.168.0.66') throw new Error('boom'); st.adds++; },
      updDest: (_s, _st, d) => { if (d.weight === 66) throw new Error('boom'); },
      delDest: (_s, _st, d) => { if (d.addr === '192.168.0.2') throw new Error('boom'); },
      schedule: (svc) => svc.dests[0] ?? null,
    });
    const t = new ServiceTable({ schedulers: (n) => (n === 'flaky' ? flaky : undefined), forwarder: builtinForwarder, ctx: { now: () => 0, randomU32: () => 0, log: () => {} } });
    t.addService(svc({ scheduler: 'flaky' }));
    t.addDest(svc(), dest('192.168.0.1'));
    t.addDest(svc(), dest('192.168.0.2'));
    const list = () => t.find(svc())!.dests.map((d) => `${d.addr}:${d.weight}`);
    const r1 = t.addDest(svc(), dest('192.168.0.66'));
    assert.ok(!r1.ok && r1.error.errno === 'EINVAL' && /addDest hook failed: boom/.test(r1.error.message));
    assert.deepEqual(list(), ['192.168.0.2:1', '192.168.0.1:1']);
    assert.equal(t.editDest(svc(), dest('192.168.0.1', { weight: 66 })).ok, false);
    assert.deepEqual(list(), ['192.168.0.2:1', '192.168.0.1:1']);
    assert.equal(t.deleteDest(svc(), dest('192.168.0.2')).ok, false);
    assert.deepEqual(list(), ['192.168.0.2:1', '192.168.0.1:1']);
    assert.ok(t.addDest(svc(), dest('192.168.0.3')).ok, 'the table still works after');
  });

  it('runs sync daemons as the kernel does', () => {
    const t = newTable(['eth0', 'sync0']);
    const base = { mcastIfn: 'eth0', syncid: 0, maxlen: 0, group: '224.0.0.81', port: 8848, ttl: 1 };
    const errno = (r: { ok: boolean; error?: { errno: string } }) => (r.ok ? 'ok' : r.error!.errno);
    assert.equal(errno(t.startDaemon({ ...base, state: 'backup' })), 'ok');
    assert.equal(errno(t.startDaemon({ ...base, state: 'master', mcastIfn: 'eth9' })), 'ENODEV');
    assert.equal(errno(t.startDaemon({ ...base, state: 'master' })), 'ok');
    assert.equal(errno(t.startDaemon({ ...base, state: 'master' })), 'EEXIST');
    assert.deepEqual(t.daemons.map((d) => [d.state, d.maxlen]), [['master', 1472], ['backup', 1472]]);
    assert.equal(errno(t.stopDaemon('master')), 'ok');
    assert.equal(errno(t.stopDaemon('master')), 'ESRCH');
    assert.equal(errno(t.startDaemon({ ...base, state: 'master', group: 'ff02::1234' })), 'ok');
    assert.equal(t.daemons[0]!.maxlen, 1452);
  });

  it('sets timeouts, 0 leaving a value unchanged', () => {
    const t = newTable();
    assert.deepEqual(t.timeouts, { tcp: 900, tcpfin: 120, udp: 300 });
    t.setTimeouts({ tcp: 100, tcpfin: 0, udp: 10 });
    assert.deepEqual(t.timeouts, { tcp: 100, tcpfin: 120, udp: 10 });
  });
});

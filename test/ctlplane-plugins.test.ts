// Control-plane plugin kinds (sync, failover): the example toys run inside the
// daemon on the memory wire, see table events from lvsadm and config reloads,
// act through their table API (their name on the events), get reconfigured
// and stopped with their config keys; a plugin that fails does not take the
// daemon (or the reload) down. Then the host and the loader on their own.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../core/daemon.js';
import { createLogger } from '../core/log.js';
import { request } from '../core/control/client.js';
import type { BusEvents } from '../core/bus.js';
import { Bus } from '../core/bus.js';
import type { TableEvent } from '../core/model/events.js';
import type { SyncDaemonSpec } from '../core/model/types.js';
import { ServiceTable } from '../core/model/table.js';
import { VirtualClock } from '../core/clock.js';
import { ControlPlaneHost } from '../core/ctlplane/host.js';
import { checkPlugin, loadPlugins, PluginRegistry } from '../core/plugins/loader.js';
import { defineFailover, defineSync, type ControlHandle, type ControlPlugin } from '../core/plugin.js';
import { z } from 'zod';
import { builtinForwarder } from '../plugins/forwarding/lib/builtin.js';

const ROOT = new URL('..', import.meta.url).pathname;
const EXAMPLES = join(ROOT, 'examples/plugins');
const FIXTURES = new URL('./fixtures/plugins/ctlplane', import.meta.url).pathname;
const SVC = { family: 'inet' as const, protocol: 'tcp' as const, addr: '10.1.0.1', port: 80, fwmark: 0 };
const DEST = { family: 'inet' as const, port: 80, fwd: 'masq' as const, uThreshold: 0, lThreshold: 0, tunType: 'ipip' as const, tunPort: 0, tunFlags: 0 };

function writeConfig(file: string, weights: Record<string, number>, keys: Record<string, unknown> = {}): void {
  const reals = Object.entries(weights).map(([a, w]) => `{ address: '${a}', port: 80, weight: ${w} }`).join(', ');
  const extra = Object.entries(keys).map(([k, v]) => `  ${k}: ${JSON.stringify(v)},\n`).join('');
  writeFileSync(file, `import { defineConfig } from 'lvsd';
export default defineConfig({
${extra}  services: [{ protocol: 'tcp', address: '10.1.0.1', port: 80, scheduler: 'rr', forward: 'nat', reals: [${reals}] }],
} as Parameters<typeof defineConfig>[0]);
`);
}

describe('control-plane plugins in the daemon', function () {
  this.timeout(60_000);
  let dir: string;
  let file: string;
  let lines: string[];
  let events: TableEvent[];
  let ha: BusEvents['ha.state'][];
  let daemon: Daemon | undefined;
  const sock = () => join(dir, 'lvsd.sock');

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lvsd-ctlplane-'));
    file = join(dir, 'config.ts');
    lines = []; events = []; ha = [];
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (pluginDirs: string[], withConfig = true): Promise<Daemon> => {
    const d = new Daemon({
      configFile: withConfig ? file : undefined, socket: sock(), io: 'memory', pluginDirs,
      log: createLogger('debug', (l) => { lines.push(l); }), watchDebounceMs: 60_000,
    });
    d.bus.on('table', (ev) => { events.push(ev); });
    d.bus.on('ha.state', (s) => { ha.push(s); });
    daemon = d;
    await d.start();
    return d;
  };
  const saw = (re: RegExp): boolean => lines.some((l) => re.test(l));
  const weightOf = (addr: string): number | undefined => daemon!.table.list()[0]!.dests.find((d) => d.addr === addr)?.weight;
  const daemons = async (): Promise<string[]> => {
    const r = await request<SyncDaemonSpec[]>(sock(), { op: 'get-daemons' });
    assert.ok(r.ok);
    return r.data.map((d) => `${d.state}/${d.syncid}`);
  };

  it('run the example sync and failover: start, follow the table, act through it, reconfigure, stop', async () => {
    writeConfig(file, { '192.168.1.1': 1, '192.168.1.2': 1 }, {
      toySync: { syncid: 5 },
      toyHa: { role: 'master', follow: { real: '192.168.1.2', master: 3, backup: 0 } },
    });
    const d = await start([EXAMPLES]);
    // Both started, sync first; failover announced master and set the followed weight.
    assert.deepEqual(d.ctlplane.names(), ['sync/ipvs-sync', 'sync/toy-sync', 'failover/toy-ha']);
    assert.ok(saw(/lvsd: sync toy-sync started \(config key toySync\)/), lines.join(''));
    assert.ok(saw(/lvsd: failover toy-ha: VI_1 is master \(configured\)/), lines.join(''));
    assert.deepEqual(ha, [{ state: 'master', instance: 'VI_1', reason: 'configured' }]);
    assert.equal(weightOf('192.168.1.2'), 3);
    const edit = events.find((e) => e.type === 'dest.changed' && e.dest.addr === '192.168.1.2');
    assert.deepEqual(edit?.source, { by: 'failover', name: 'toy-ha' });
    // The sync toy followed ha.state: the master daemon is recorded, by it, and lvsadm lists it.
    const started = events.find((e) => e.type === 'daemon.started');
    assert.deepEqual(started?.source, { by: 'sync', name: 'toy-sync' });
    assert.deepEqual(await daemons(), ['master/5']);
    assert.ok(saw(/toy-sync: would open the master socket on lo \(syncid 5; by sync\)/), lines.join(''));

    // An lvsadm change reaches both.
    const r = await request(sock(), { op: 'add-dest', service: SVC, dest: { ...DEST, addr: '192.168.1.9', weight: 9 } });
    assert.equal(r.ok, true);
    assert.ok(saw(/toy-sync: saw dest\.added by lvsadm/), lines.join(''));
    assert.ok(saw(/toy-ha: saw dest\.added by lvsadm/), lines.join(''));

    // A reload's own change too; an unchanged key leaves its plugin alone.
    writeConfig(file, { '192.168.1.1': 4, '192.168.1.2': 1 }, {
      toySync: { syncid: 5 },
      toyHa: { role: 'master', follow: { real: '192.168.1.2', master: 3, backup: 0 } },
    });
    assert.equal(await d.reload(), true);
    assert.ok(saw(/toy-sync: saw dest\.changed by config/), lines.join(''));
    assert.ok(saw(/toy-ha: saw dest\.changed by config/), lines.join(''));
    assert.ok(!saw(/reconfigured/), lines.join(''));

    // The failover key changes: toy-ha is reconfigured (not restarted), becomes backup,
    // and the sync toy swaps its master daemon for a backup one.
    writeConfig(file, { '192.168.1.1': 4, '192.168.1.2': 1 }, {
      toySync: { syncid: 5 },
      toyHa: { role: 'backup', follow: { real: '192.168.1.2', master: 3, backup: 0 } },
    });
    assert.equal(await d.reload(), true);
    assert.ok(saw(/lvsd: failover toy-ha reconfigured/), lines.join(''));
    assert.ok(!saw(/failover toy-ha stopped/), lines.join(''));
    assert.deepEqual(ha.map((s) => s.state), ['master', 'backup']);
    assert.equal(weightOf('192.168.1.2'), 0);
    assert.deepEqual(await daemons(), ['backup/5']);
    const swap = events.filter((e) => e.type === 'daemon.stopped' || e.type === 'daemon.started').slice(-2);
    assert.deepEqual(swap.map((e) => [e.type, e.source.by, e.source.name]),
      [['daemon.stopped', 'sync', 'toy-sync'], ['daemon.started', 'sync', 'toy-sync']]);

    // The sync key changes: reconfigured, its daemon restarted with the new syncid.
    writeConfig(file, { '192.168.1.1': 4, '192.168.1.2': 1 }, {
      toySync: { syncid: 7 },
      toyHa: { role: 'backup', follow: { real: '192.168.1.2', master: 3, backup: 0 } },
    });
    assert.equal(await d.reload(), true);
    assert.ok(saw(/lvsd: sync toy-sync reconfigured/), lines.join(''));
    assert.deepEqual(await daemons(), ['backup/7']);

    // The failover key goes: toy-ha stops, the sync toy stays.
    writeConfig(file, { '192.168.1.1': 4, '192.168.1.2': 1 }, { toySync: { syncid: 7 } });
    assert.equal(await d.reload(), true);
    assert.ok(saw(/lvsd: failover toy-ha stopped: config key toyHa removed/), lines.join(''));
    assert.deepEqual(d.ctlplane.names(), ['sync/ipvs-sync', 'sync/toy-sync']);

    // It comes back: started again.
    writeConfig(file, { '192.168.1.1': 4, '192.168.1.2': 1 }, { toySync: { syncid: 7 }, toyHa: { role: 'fault' } });
    assert.equal(await d.reload(), true);
    assert.deepEqual(d.ctlplane.names(), ['sync/ipvs-sync', 'sync/toy-sync', 'failover/toy-ha']);
    assert.equal(ha.at(-1)?.state, 'fault');
    assert.deepEqual(await daemons(), [], 'fault: no sync daemon');

    // Shutdown: stopped last-started first, while the table is still there.
    writeConfig(file, { '192.168.1.1': 4, '192.168.1.2': 1 }, { toySync: { syncid: 7, state: 'master' }, toyHa: { role: 'fault' } });
    assert.equal(await d.reload(), true);
    assert.deepEqual(await daemons(), ['master/7']);
    const before = lines.length;
    await d.stop();
    daemon = undefined;
    const tail = lines.slice(before).join('');
    assert.ok(tail.indexOf('failover toy-ha stopped') >= 0 && tail.indexOf('failover toy-ha stopped') < tail.indexOf('sync toy-sync stopped'), tail);
    const last = events.at(-1);
    assert.deepEqual(last && [last.type, last.source.by], ['daemon.stopped', 'sync'], 'the sync toy stopped its daemon through the table');
    assert.deepEqual(d.table.daemons, []);
  });

  it('an options error is a config error, located and named like any other', async () => {
    writeConfig(file, { '192.168.1.1': 1 }, { toyHa: { role: 'primary' } });
    await assert.rejects(start([EXAMPLES]), /toyHa\.role/);
    writeConfig(file, { '192.168.1.1': 1 }, { toyHA: { role: 'master' } });
    await assert.rejects(start([EXAMPLES]), /toyHA: unknown setting; did you mean 'toyHa'\?/);
  });

  it('starts a plugin without configKey at daemon start, also without a config; stops it at shutdown', async () => {
    const d = await start([FIXTURES], false);
    assert.deepEqual(d.ctlplane.names(), ['sync/ipvs-sync', 'sync/keyless']);
    assert.ok(saw(/lvsd: sync keyless: started with null at number/), lines.join(''));
    const r = await request(sock(), { op: 'add-service', service: { ...SVC, scheduler: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' } });
    assert.equal(r.ok, true);
    assert.ok(saw(/keyless: saw service\.added by lvsadm/), lines.join(''));
    await d.stop();
    daemon = undefined;
    assert.ok(saw(/keyless: stopping/) && saw(/sync keyless stopped: lvsd is stopping/), lines.join(''));
  });

  it('a plugin whose hooks throw is logged by name and stopped; the daemon and its reloads go on', async () => {
    writeConfig(file, { '192.168.1.1': 1 }, { badStart: { n: 1 }, badReconf: { n: 1 } });
    const d = await start([FIXTURES]);
    assert.ok(saw(/error: failover bad-start: start\(\) failed: cannot bind the VRRP socket/), lines.join(''));
    assert.ok(saw(/bad-reconf: refused: a sync plugin may not emit ha\.state/), lines.join(''));
    assert.deepEqual(d.ctlplane.names(), ['sync/bad-reconf', 'sync/ipvs-sync', 'sync/keyless']);
    // A handler that throws is logged with the plugin's name; lvsadm's request still succeeds.
    const r = await request(sock(), { op: 'add-dest', service: SVC, dest: { ...DEST, addr: '192.168.1.9', weight: 1 } });
    assert.equal(r.ok, true);
    assert.ok(saw(/error: sync bad-reconf: handler for dest\.added failed: handler blew up/), lines.join(''));
    // Unchanged: the failed plugin is not retried at each reload.
    writeConfig(file, { '192.168.1.1': 2 }, { badStart: { n: 1 }, badReconf: { n: 1 } });
    const failures = () => lines.filter((l) => /bad-start: start\(\) failed/.test(l)).length;
    assert.equal(await d.reload(), true);
    assert.equal(failures(), 1);
    // A failing reconfigure stops the plugin; the reload still succeeds.
    writeConfig(file, { '192.168.1.1': 3 }, { badStart: { n: 2 }, badReconf: { n: 2 } });
    assert.equal(await d.reload(), true);
    assert.equal(weightOf('192.168.1.1'), 3);
    assert.equal(failures(), 2, 'a changed value is tried again');
    assert.ok(saw(/error: sync bad-reconf: reconfigure\(\) failed: cannot change that at run time/), lines.join(''));
    assert.ok(saw(/sync bad-reconf stopped: reconfigure\(\) failed/), lines.join(''));
    assert.deepEqual(d.ctlplane.names(), ['sync/ipvs-sync', 'sync/keyless']);
    const ok = await request(sock(), { op: 'info' });
    assert.equal(ok.ok, true, 'the daemon still answers');
  });
});

describe('control-plane plugin host', () => {
  const setup = (plugins: ControlPlugin[], hookTimeoutMs?: number) => {
    const bus = new Bus();
    const table = new ServiceTable({ schedulers: () => undefined, forwarder: builtinForwarder, ctx: { now: () => 0, randomU32: () => 0, log: () => undefined }, onEvent: (ev) => bus.emitTable(ev) });
    const lines: string[] = [];
    const clock = new VirtualClock();
    const host = new ControlPlaneHost({
      table, bus, clock, conns: () => [], dataPlane: () => null, log: createLogger('debug', (l) => { lines.push(l); }),
      ...(hookTimeoutMs === undefined ? {} : { hookTimeoutMs }),
    });
    const reg = new PluginRegistry();
    for (const plugin of plugins) reg.add({ plugin, file: `/x/${plugin.name}.ts`, module: `/x/${plugin.name}.mjs` });
    return { bus, table, lines, clock, host, reg };
  };

  it('gives the context lvsadm\'s table operations, checked as lvsadm\'s, with the plugin as source; revokes it at stop', async () => {
    let saved: Parameters<ControlPlugin['start']>[0] | undefined;
    const p = defineFailover({ name: 'ctx', async start(ctx) { saved = ctx as never; return { stop() {} }; } });
    const { host, reg, table, bus, clock } = setup([p]);
    const seen: TableEvent[] = [];
    bus.on('table', (e) => seen.push(e));
    await host.apply(reg, {});
    const t = saved!.table;
    assert.deepEqual(t.info(), { ok: true, value: { version: 0x010201, connTabSize: 4096 } });
    const svc = { ...SVC, scheduler: 'none', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' };
    assert.equal(t.addService(svc).ok, true);
    assert.equal(t.addDest(SVC, { ...DEST, addr: '192.168.1.1', weight: 1 }).ok, true);
    const view = t.services();
    assert.ok(view.ok);
    view.value[0]!.dests[0]!.weight = 99;                                  // a copy: the table does not change
    assert.equal(table.list()[0]!.dests[0]!.weight, 1);
    const bad = t.addDest(SVC, { ...DEST, addr: '999.1.1.1', weight: 1 });
    assert.ok(!bad.ok && bad.error.errno === 'EINVAL' && /dest\.addr is not an IPv4 address/.test(bad.error.message));
    const dup = t.addService(svc);
    assert.ok(!dup.ok && dup.error.errno === 'EEXIST');
    assert.equal(t.setTimeouts({ tcp: 60, tcpfin: 0, udp: 0 }).ok, true);
    assert.deepEqual(t.timeouts(), { ok: true, value: { tcp: 60, tcpfin: 120, udp: 300 } });
    assert.equal(t.zero().ok, true);
    assert.deepEqual(await t.conns(), { ok: true, value: [] });
    assert.equal(t.flush().ok, true);
    assert.ok(seen.length >= 5 && seen.every((e) => e.source.by === 'failover' && e.source.name === 'ctx'));
    assert.ok(typeof saved!.clock.now() === 'number' && clock.now() === saved!.clock.now());
    assert.deepEqual(saved!.registry.names('failover'), ['ctx']);
    saved!.clock.setTimeout(() => assert.fail('a stopped plugin\'s timer fired'), 1000);
    assert.equal(clock.pending(), 1);
    await host.stop();
    assert.equal(clock.pending(), 0, 'its pending timers are cleared');
    const after = t.flush();
    assert.ok(!after.ok && after.error.errno === 'EPERM', 'a stopped plugin\'s table handle is revoked');
  });

  it('stops in reverse order; a start that never settles counts as failed and is stopped once it does', async () => {
    const order: string[] = [];
    let release: (() => void) | undefined;
    const a = defineSync({ name: 'a', async start() { order.push('start a'); return { stop() { order.push('stop a'); } }; } });
    const b = defineFailover({ name: 'b', async start() { order.push('start b'); return { stop() { order.push('stop b'); } }; } });
    const slow = defineFailover({
      name: 'slow',
      start: () => new Promise<ControlHandle>((res) => { release = () => res({ stop() { order.push('stop slow'); } }); }),
    });
    const { host, reg, lines } = setup([a, b, slow], 50);
    await host.apply(reg, {});
    assert.deepEqual(host.names(), ['sync/a', 'failover/b']);
    assert.ok(lines.some((l) => /failover slow: start\(\) did not settle within 50 ms/.test(l)), lines.join(''));
    release!();
    await new Promise((r) => setImmediate(r));
    await host.stop();
    assert.deepEqual(order, ['start a', 'start b', 'stop slow', 'stop b', 'stop a']);
  });

  it('restarts a plugin without reconfigure when its value changes, and one whose module changed', async () => {
    const order: string[] = [];
    const mk = (tag: string) => defineSync({
      name: 'k', configKey: 'k', options: z.object({ v: z.number() }),
      async start(_ctx, o) { order.push(`${tag} start ${o.v}`); return { stop() { order.push(`${tag} stop`); } }; },
    });
    const { host, reg } = setup([mk('one')]);
    await host.apply(reg, {});
    assert.deepEqual(order, []);
    await host.apply(reg, { k: { v: 1 } });
    await host.apply(reg, { k: { v: 1 } });
    await host.apply(reg, { k: { v: 2 } });
    const reg2 = new PluginRegistry();
    reg2.add({ plugin: mk('two'), file: '/x/k.ts', module: '/x/k2.mjs' });
    await host.apply(reg2, { k: { v: 2 } });
    await host.apply(reg2, {});
    assert.deepEqual(order, ['one start 1', 'one stop', 'one start 2', 'one stop', 'two start 2', 'two stop']);
  });
});

describe('control-plane plugins in the loader', () => {
  it('loads the examples from sync/ and ha/, and refuses what breaks the contract', async () => {
    const reg = await loadPlugins([EXAMPLES], { builtin: false });
    assert.deepEqual(reg.names('sync'), ['toy-sync']);
    assert.deepEqual(reg.names('failover'), ['toy-ha']);
    assert.deepEqual([...reg.configKeys().keys()], ['toySync', 'toyHa']);
    const start = async () => ({ stop() {} });
    assert.equal(typeof checkPlugin({ kind: 'failover', name: 'x', start }), 'object');
    assert.match(String(checkPlugin({ kind: 'failover', name: 'x', start, stop() {} })), /unknown key "stop"/);
    assert.match(String(checkPlugin({ kind: 'sync', name: 'x' })), /lacks the required hook start/);
    assert.match(String(checkPlugin({ kind: 'sync', name: 'x', start, configKey: 'x' })), /configKey and options go together/);
    assert.match(String(checkPlugin({ kind: 'sync', name: 'x', start, configKey: 'x', options: {} })), /options must be a zod schema/);
    assert.match(String(checkPlugin({ kind: 'sync', name: 'x', start, configKey: 'Bad-Key', options: z.object({}) })), /configKey must be an identifier/);
    assert.match(String(checkPlugin({ kind: 'sync', name: 'x', start }, 'failover')), /sits in the ha folder/);
    const dup = new PluginRegistry();
    dup.add({ plugin: defineSync({ name: 'a', configKey: 'k', options: z.object({}), start }), file: '/a.ts', module: '/a.mjs' });
    assert.throws(() => dup.add({ plugin: defineFailover({ name: 'b', configKey: 'k', options: z.object({}), start }), file: '/b.ts', module: '/b.mjs' }),
      /config key "k" is already owned by sync "a" from \/a\.ts/);
  });
});

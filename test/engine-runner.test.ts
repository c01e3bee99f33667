// The memory-wire data plane (core/engine/runner.ts): the plugins it takes
// from the registry, and its wire across a config reload.

import { strict as assert } from 'node:assert';
import { MemoryDataPlane as DataPlane, dataPlanePlugins, type DataPlaneConfig } from '../core/engine/runner.js';
import { buildFrame } from '../core/packet/build.js';
import { TCP_SYN } from '../core/packet/parse.js';
import { PluginRegistry } from '../core/plugins/loader.js';
import { defineClassifier } from '../core/plugin.js';
import { ServiceTable } from '../core/model/table.js';
import { builtinScheduler } from '../plugins/schedulers/lib/builtin.js';
import { DIR_IP, DIR_MAC, GW, GW_MAC, RS1, RS1_MAC, RS2, RS2_MAC, VIP, destSpec, svcSpec } from './engine-harness.js';
import nat from '../plugins/forwarding/nat.js';
import dr from '../plugins/forwarding/dr.js';
import tun from '../plugins/forwarding/tun.js';
import { builtinForwarder } from '../plugins/forwarding/lib/builtin.js';

const mark7 = defineClassifier({ name: 'mark7', classify: () => 7 });

function registry(): PluginRegistry {
  const reg = new PluginRegistry();
  for (const p of [tun, nat, mark7, dr]) reg.add({ plugin: p, file: `/x/${p.name}.ts`, module: `/x/${p.name}.mjs` });
  return reg;
}

describe('data plane (memory wire)', () => {
  it('dataPlanePlugins: every forwarder and classifier of the registry, by name', () => {
    const { forwarders, classifiers } = dataPlanePlugins(registry());
    assert.deepEqual(forwarders, [dr, nat, tun]);
    assert.deepEqual(classifiers, [mark7]);
    assert.deepEqual(dataPlanePlugins(new PluginRegistry()), { forwarders: [], classifiers: [] });
  });

  it('reconfigure: the memory wire follows the new interfaces (added ones take frames, renamed ones name the output)', () => {
    const table = new ServiceTable({ schedulers: builtinScheduler, forwarder: builtinForwarder, ctx: { now: () => 0, randomU32: () => 1, log: () => {} } });
    const svc = table.addService(svcSpec());
    assert.ok(svc.ok);
    assert.ok(table.addDest(svc.value.spec, destSpec(RS1)).ok);
    const WAN_MAC = '02:00:00:00:00:02';
    const neighbors = { [RS1]: RS1_MAC, [GW]: GW_MAC };
    const cfg1: DataPlaneConfig = { interfaces: [{ name: 'eth0', mac: DIR_MAC, addresses: [`${DIR_IP}/24`] }], neighbors, gateways: [GW] };
    const dp = new DataPlane(table, registry(), cfg1);
    const syn = (dstMac: string, sport: number): Uint8Array => buildFrame({ dst: dstMac, src: GW_MAC }, { src: '10.1.2.3', dst: VIP },
      { proto: 'tcp', sport, dport: 80, flags: TCP_SYN, seq: 1, ack: 0 });
    const wire = dp.wire;
    wire.inject(syn(DIR_MAC, 1000), 'eth0');
    dp.poll();
    assert.deepEqual(wire.take().map((f) => f.ifname), ['eth0']);
    assert.throws(() => wire.inject(syn(WAN_MAC, 1001), 'wan0'), /no interface wan0/);

    dp.reconfigure(registry(), {
      interfaces: [{ name: 'lan0', mac: DIR_MAC, addresses: [`${DIR_IP}/24`] }, { name: 'wan0', mac: WAN_MAC, addresses: ['10.9.0.1/24'] }],
      neighbors, gateways: [GW],
    });
    assert.equal(dp.wire, wire, 'the same wire object (holders keep working)');
    assert.deepEqual(wire.interfaces.map((i) => i.name), ['lan0', 'wan0']);
    wire.inject(syn(WAN_MAC, 1002), 'wan0');
    wire.inject(syn(DIR_MAC, 1003), 'lan0');
    dp.poll();
    assert.deepEqual(wire.take().map((f) => f.ifname), ['lan0', 'lan0']);
    assert.throws(() => wire.inject(syn(DIR_MAC, 1004), 'eth0'), /no interface eth0/);
    assert.deepEqual(dp.engine.dropCounts(), {});
    dp.stop();
  });

  // The replica takes the table it starts from as its first batch, applied in
  // slices while the daemon answers requests; a frame waits for all of it.
  it('starts from a large table: a frame right away finds the last service; the replica then equals the table', () => {
    const table = new ServiceTable({ schedulers: builtinScheduler, forwarder: builtinForwarder, ctx: { now: () => 0, randomU32: () => 1, log: () => {} } });
    const N = 3000;
    const vip = (i: number): string => `10.20.${i >> 8}.${i & 255}`;
    for (let i = 0; i < N; i++) {
      assert.ok(table.addService(svcSpec({ addr: vip(i) })).ok);
      for (const rs of [RS1, RS2]) assert.ok(table.addDest(svcSpec({ addr: vip(i) }), destSpec(rs)).ok);
    }
    const dp = new DataPlane(table, registry(), {
      interfaces: [{ name: 'eth0', mac: DIR_MAC, addresses: [`${DIR_IP}/24`] }], neighbors: { [RS1]: RS1_MAC, [RS2]: RS2_MAC, [GW]: GW_MAC }, gateways: [GW],
    });
    dp.wire.inject(buildFrame({ dst: DIR_MAC, src: GW_MAC }, { src: '10.1.2.3', dst: vip(N - 1) },
      { proto: 'tcp', sport: 1000, dport: 80, flags: TCP_SYN, seq: 1, ack: 0 }), 'eth0');
    dp.poll();
    assert.equal(dp.wire.take().length, 1);
    assert.deepEqual(dp.engine.dropCounts(), {});
    const specs = (t: ServiceTable): unknown => t.list().map((s) => ({ ...s.spec, dests: s.dests.map((d) => ({ ...d.spec })) }));
    assert.deepEqual(specs(dp.replica.table), specs(table));
    dp.stop();
  });
});

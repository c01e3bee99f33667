// VIPs a failover plugin manages (core/ctlplane/vips.ts): the data plane
// leaves every managed VIP this director does not hold to the host — the
// engine balances none of its client packets (NAT replies of entries still go
// out), the nftables takeover table has no rule for it — from the data plane's
// start on; a plugin holds a VIP before adding its address.

import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFrame, type IpSpec, type L4Spec } from '../core/packet/build.js';
import { TCP_ACK, TCP_SYN } from '../core/packet/parse.js';
import { nftRules } from '../core/nft.js';
import { VipOwnership } from '../core/ctlplane/vips.js';
import { Daemon } from '../core/daemon.js';
import { createLogger } from '../core/log.js';
import type { DataPlane } from '../core/engine/dataplane.js';
import { CLIENT, CLIENT6, DIR_MAC, GW_MAC, Lab, RS1, RS1_6, RS1_MAC, VIP, VIP6, destSpec } from './engine-harness.js';

const fromGw = (ip: IpSpec, l4: L4Spec): Uint8Array => buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, l4);
const fromRs = (ip: IpSpec, l4: L4Spec): Uint8Array => buildFrame({ dst: DIR_MAC, src: RS1_MAC }, ip, l4);
const tcp = (sport: number, dport: number, flags: number): L4Spec => ({ proto: 'tcp', sport, dport, flags, seq: 1000, ack: 0 });

function lab(): Lab {
  const l = new Lab();
  l.service({ port: 80 }, [destSpec(RS1, { fwd: 'masq' })]);
  l.service({ family: 'inet6', addr: VIP6, port: 80 }, [destSpec(RS1_6, { fwd: 'masq' })]);
  return l;
}

describe('failover VIPs: what the data plane leaves to the host', () => {
  it('a foreign VIP is not balanced (IPv4 and IPv6); NAT replies of its entries still go out; held again, it is', () => {
    const l = lab();
    assert.equal(l.send(fromGw({ src: CLIENT, dst: VIP, ttl: 64 }, tcp(50000, 80, TCP_SYN))).length, 1);
    l.engine.setForeignVips([VIP, VIP6]);
    assert.equal(l.send(fromGw({ src: CLIENT, dst: VIP, ttl: 64 }, tcp(50001, 80, TCP_SYN))).length, 0, 'no new connection');
    assert.equal(l.send(fromGw({ src: CLIENT, dst: VIP, ttl: 64 }, tcp(50000, 80, TCP_ACK))).length, 0, 'nor a packet of an existing one');
    assert.equal(l.send(fromGw({ src: CLIENT6, dst: VIP6, ttl: 64 }, tcp(50002, 80, TCP_SYN))).length, 0, 'IPv6 too');
    assert.equal(l.engine.dropCounts()['foreign-vip'], 3);
    assert.equal(l.send(fromRs({ src: RS1, dst: CLIENT, ttl: 64 }, tcp(80, 50000, TCP_SYN | TCP_ACK))).length, 1, 'the NAT reply goes out');
    l.engine.setForeignVips([VIP6]);
    assert.equal(l.send(fromGw({ src: CLIENT, dst: VIP, ttl: 64 }, tcp(50001, 80, TCP_SYN))).length, 1, 'held again: balanced');
    assert.equal(l.send(fromGw({ src: CLIENT6, dst: VIP6, ttl: 64 }, tcp(50003, 80, TCP_SYN))).length, 0);
  });

  it('the takeover table has no rule for a foreign VIP (its NAT reply rules stay)', () => {
    const l = lab();
    const all = nftRules(l.table, [], new Set(['masq']));
    const some = nftRules(l.table, [], new Set(['masq']), { vips: true, foreign: new Set([VIP]) });
    assert.ok(all.some((r) => r.startsWith(`ip daddr ${VIP} tcp dport 80 drop`)));
    assert.deepEqual(some, all.filter((r) => !r.startsWith(`ip daddr ${VIP} `)));
    assert.ok(some.some((r) => r.startsWith(`ip6 daddr ${VIP6} `)) && some.some((r) => / saddr /.test(r)));
  });

  it('ownership: managed minus held, pushed to the data plane; holds are counted per holder', async () => {
    const seen: string[][] = [];
    const dp = { setForeignVips: async (a: readonly string[]) => { seen.push([...a]); } } as unknown as DataPlane;
    const o = new VipOwnership(() => dp);
    await o.setManaged(['10.0.0.1', '10.0.0.2']);
    await o.hold(['10.0.0.1'], true);
    await o.hold(['10.0.0.1'], true);
    await o.hold(['10.0.0.1'], false);
    assert.deepEqual(o.foreign(), ['10.0.0.2'], 'still held by the other holder');
    await o.hold(['10.0.0.1'], false);
    assert.deepEqual(seen, [['10.0.0.1', '10.0.0.2'], ['10.0.0.2'], ['10.0.0.2'], ['10.0.0.2'], ['10.0.0.1', '10.0.0.2']]);
  });

  it('in the daemon: a failover plugin\'s VIPs start foreign; its holds end when it stops', async function () {
    this.timeout(60_000);
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-viphold-'));
    const plugins = join(dir, 'plugins');
    mkdirSync(join(plugins, 'ha'), { recursive: true });
    // a failover plugin that manages the config's `holdTest.vips` and holds the first one
    writeFileSync(join(plugins, 'ha', 'hold-test.ts'), `import { defineFailover, z } from 'lvsd';
export default defineFailover({
  name: 'hold-test', configKey: 'holdTest', options: z.object({ vips: z.array(z.string()) }),
  vips: (o) => o.vips,
  async start(ctx, o) { await ctx.vips.hold([o.vips[0]], true); return { stop() {} }; },
});
`);
    const file = join(dir, 'config.ts');
    writeFileSync(file, `export default { holdTest: { vips: ['${VIP}', '10.9.9.9'] },
  services: [{ protocol: 'tcp', address: '${VIP}', port: 80, scheduler: 'rr', forward: 'nat', reals: [{ address: '${RS1}', port: 80 }] }] };
`);
    const d = new Daemon({ configFile: file, socket: join(dir, 'lvsd.sock'), io: 'memory', pluginDirs: [plugins], log: createLogger('error'), watchDebounceMs: 60_000 });
    const foreign: string[][] = [];
    try {
      await d.start();
      const dp = (d as unknown as { dataPlane: DataPlane }).dataPlane;
      const orig = dp.setForeignVips.bind(dp);
      dp.setForeignVips = (a) => { foreign.push([...a]); return orig(a); };
      const vips = (d as unknown as { vips: VipOwnership }).vips;
      assert.deepEqual(vips.foreign(), ['10.9.9.9'], 'the plugin holds the first');
      writeFileSync(file, `export default { services: [] };\n`);
      assert.equal(await d.reload(), true);
      assert.deepEqual(vips.foreign(), [], 'key removed: nothing managed, the hold ended with the plugin');
    } finally {
      await d.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.ok(foreign.length > 0);
  });
});

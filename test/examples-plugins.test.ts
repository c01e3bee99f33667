// The example forwarder and classifier (examples/plugins/forwarding/dr-mark.ts,
// examples/plugins/classifiers/source-set.ts), written against 'lvsd' only,
// loaded from `--plugins examples/plugins` as an operator's plugins are, and
// run on frames through the engine on the memory wire.

import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from '../core/daemon.js';
import { dataPlanePlugins } from '../core/engine/runner.js';
import { createLogger } from '../core/log.js';
import { loadPlugins, type PluginRegistry } from '../core/plugins/loader.js';
import { buildFrame, type IpSpec, type L4Spec } from '../core/packet/build.js';
import { TCP_SYN } from '../core/packet/parse.js';
import { CLIENT, DIR_MAC, GW_MAC, Lab, NET, RS1, RS1_6, RS1_MAC, RS2, RS2_MAC, VIP, VIP6, destSpec, hex } from './engine-harness.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIR = join(ROOT, 'examples', 'plugins');

const fromGw = (ip: IpSpec, l4: L4Spec): Uint8Array => buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, l4);
const syn = (sport: number, dport = 80): L4Spec => ({ proto: 'tcp', sport, dport, flags: TCP_SYN, seq: 1000, ack: 0 });

describe('example plugins from --plugins examples/plugins', () => {
  let reg: PluginRegistry;
  const lab = (): Lab => new Lab(NET, dataPlanePlugins(reg));
  before(async function () { this.timeout(60000); reg = await loadPlugins([DIR]); });

  it('imports only from lvsd', () => {
    for (const f of ['forwarding/dr-mark.ts', 'classifiers/source-set.ts']) {
      const imports = [...readFileSync(join(DIR, f), 'utf8').matchAll(/\bfrom '([^']+)';/g)].map((m) => m[1]);
      assert.deepEqual(imports, ['lvsd'], f);
    }
  });

  it('dr-mark takes method route over from the built-in dr, and says so', () => {
    assert.ok(reg.get('forwarder', 'dr-mark'));
    assert.equal(reg.get('forwarder', 'dr'), undefined);
    assert.deepEqual(reg.notes.filter((n) => n.includes('dr-mark')),
      [`forwarder dr-mark (${join(DIR, 'forwarding', 'dr-mark.ts')}) serves method route instead of the built-in dr`]);
    assert.deepEqual(dataPlanePlugins(reg).forwarders.map((f) => f.method).sort(), ['masq', 'route', 'tunnel']);
  });

  it('the registry gives each method\'s forwarder and its capabilities (what the table reads)', () => {
    assert.equal(reg.forwarder('route')?.name, 'dr-mark');
    assert.equal(reg.forwarder('route')?.keepsPort, true);
    assert.equal(reg.forwarder('tunnel')?.crossFamily, true);
    assert.equal(reg.forwarder('tunnel')?.checkDest?.({ ...destSpec(RS1), fwd: 'tunnel', tunType: 'gue', tunPort: 0 }), 'GUE tunnel needs a port');
    assert.equal(reg.forwarder('masq')?.replies, true);
    assert.equal(reg.forwarder('local'), undefined);
  });

  it('dr-mark forwards as DR with DSCP EF set, ECN kept, IPv4 checksum right (incremental = full)', () => {
    const l = lab();
    l.service({}, [destSpec(RS1)]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 7, tos: 0x03 };
    const out = l.one(fromGw(ip, syn(40000)));
    // buildFrame sums every checksum in full
    assert.equal(hex(out), hex(buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...ip, ttl: 63, tos: (46 << 2) | 0x03 }, syn(40000))));
  });

  it('dr-mark marks IPv6 traffic classes too', () => {
    const l = lab();
    l.service({ family: 'inet6', addr: VIP6, netmask: 128 }, [destSpec(RS1_6)]);
    const ip: IpSpec = { src: '2001:db8:99::5', dst: VIP6, ttl: 64, tos: 0x01 };
    const out = l.one(fromGw(ip, syn(40001)));
    assert.equal(hex(out), hex(buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...ip, ttl: 63, tos: (46 << 2) | 0x01 }, syn(40001))));
  });

  it('source-set marks its clients: a fwmark 7 service takes them, other clients go to the VIP service', () => {
    const l = lab();
    l.service({}, [destSpec(RS1)]);
    l.service({ fwmark: 7, addr: '0.0.0.0', port: 0 }, [destSpec(RS2, { port: 0 })]);
    // a client of 198.51.100.0/24 asking for any address and port: fwmark 7 → RS2
    const inSet: IpSpec = { src: '198.51.100.20', dst: '192.168.10.200', ttl: 64, df: true };
    const out = l.one(fromGw(inSet, syn(41000, 443)));
    assert.equal(hex(out), hex(buildFrame({ dst: RS2_MAC, src: DIR_MAC }, { ...inSet, ttl: 63, tos: 46 << 2 }, syn(41000, 443))));
    assert.equal(l.conns().find((c) => c.caddr === '198.51.100.20')?.daddr, RS2);
    // the same VIP request from outside the set goes to the VIP service
    const outside: IpSpec = { src: '203.0.113.200', dst: VIP, ttl: 64, df: true };
    assert.equal(hex(l.one(fromGw(outside, syn(41001)))),
      hex(buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...outside, ttl: 63, tos: 46 << 2 }, syn(41001))));
    // outside the set and no VIP: no service
    assert.equal(l.send(fromGw(outside, syn(41002, 443))).length, 0);
    assert.equal(l.engine.dropCounts()['no-service'], 1);
  });

  it('the daemon on the memory wire loads them with --plugins and logs the takeover', async function () {
    this.timeout(60000);
    const lines: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-examples-'));
    const daemon = new Daemon({
      socket: join(dir, 'lvsd.sock'), io: 'memory', pluginDirs: [DIR], log: createLogger('info', (l) => { lines.push(l); }),
    });
    try {
      await daemon.start();
      assert.ok(lines.some((l) => /forwarder dr-mark \(.*dr-mark\.ts\) serves method route instead of the built-in dr/.test(l)), lines.join(''));
      assert.ok(daemon.registry.get('classifier', 'source-set'));
    } finally {
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

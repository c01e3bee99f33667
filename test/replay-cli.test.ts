// `lvsd replay`: a capture in, the director's frames out (checked byte for
// byte and with tshark when installed), the final listings as lvsadm prints them.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFrame } from '../core/packet/build.js';
import { PcapWriter, readPcap, isPcapError } from '../core/packet/pcap.js';
import { TCP_ACK, TCP_SYN } from '../core/packet/parse.js';
import { CLIENT, DIR_MAC, GW_MAC, RS1, RS1_MAC, RS2, RS2_MAC, VIP, hex } from './engine-harness.js';
import { ROOT } from './lvsadm-harness.js';

const CONFIG = join(ROOT, 'test', 'fixtures', 'engine', 'replay.config.ts');

function hasTool(t: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${t}`]).status === 0;
}

describe('lvsd replay', function () {
  this.timeout(60_000);
  let dir = '';
  before(() => { dir = mkdtempSync(join(tmpdir(), 'replay-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a capture through NAT, writes the output capture, prints --stats and -c', () => {
    const w = new PcapWriter();
    const t0 = 1_700_000_000_000;
    w.add(buildFrame({ dst: DIR_MAC, src: GW_MAC }, { src: CLIENT, dst: VIP, df: true }, { proto: 'tcp', sport: 40000, dport: 80, flags: TCP_SYN }), t0);
    w.add(buildFrame({ dst: DIR_MAC, src: GW_MAC }, { src: CLIENT, dst: VIP, df: true }, { proto: 'tcp', sport: 40001, dport: 80, flags: TCP_SYN }), t0 + 500);
    w.add(buildFrame({ dst: DIR_MAC, src: GW_MAC }, { src: CLIENT, dst: VIP, df: true }, { proto: 'tcp', sport: 40000, dport: 80, flags: TCP_ACK }), t0 + 1000);
    w.add(buildFrame({ dst: DIR_MAC, src: GW_MAC }, { src: CLIENT, dst: '192.168.10.200' }, { proto: 'tcp', sport: 1, dport: 80, flags: TCP_SYN }), t0 + 1500);
    const inp = join(dir, 'in.pcap'), out = join(dir, 'out.pcap');
    writeFileSync(inp, w.toBytes());
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'lvsd.ts'), 'replay', '--config', CONFIG,
      '--in', inp, '--out', out, '--explain'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, /^1 1700000000\.000000 service TCP 192\.168\.10\.100:80, scheduler rr → 192\.168\.10\.9:8080, nat → 02:00:00:00:10:09 on eth0$/);
    assert.match(lines[1]!, /^2 .* scheduler rr → 192\.168\.10\.8:8080, nat → 02:00:00:00:10:08 on eth0$/);
    assert.match(lines[2]!, /^3 1700000001\.000000 connection hit, nat → /);
    assert.match(lines[3]!, /^4 .* dropped: no-service$/);
    const listing = r.stdout.slice(r.stdout.indexOf('IP Virtual Server'));
    assert.equal(listing,
      'IP Virtual Server version 1.2.1 (size=4096)\n'
      + 'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n'
      + '  -> RemoteAddress:Port\n'
      + 'TCP  192.168.10.100:80                   2        3        0      120        0\n'
      + '  -> 192.168.10.8:8080                   1        1        0       40        0\n'
      + '  -> 192.168.10.9:8080                   1        2        0       80        0\n'
      + 'IPVS connection entries\n'
      + 'pro expire state       source             virtual            destination\n'
      + 'TCP 14:59  ESTABLISHED 10.1.2.3:40000     192.168.10.100:80  192.168.10.9:8080\n'
      + 'TCP 00:59  SYN_RECV    10.1.2.3:40001     192.168.10.100:80  192.168.10.8:8080\n'
      + '# drops: no-service=1\n');
    const pc = readPcap(readFileSync(out));
    assert.ok(!isPcapError(pc));
    assert.equal(pc.records.length, 3);
    assert.equal(hex(pc.records[0]!.data), hex(buildFrame({ dst: RS2_MAC, src: DIR_MAC }, { src: CLIENT, dst: RS2, df: true, ttl: 63 }, { proto: 'tcp', sport: 40000, dport: 8080, flags: TCP_SYN })));
    assert.equal(hex(pc.records[1]!.data), hex(buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { src: CLIENT, dst: RS1, df: true, ttl: 63 }, { proto: 'tcp', sport: 40001, dport: 8080, flags: TCP_SYN })));
    assert.deepEqual([pc.records[2]!.sec, pc.records[2]!.frac], [1_700_000_001, 0]);
    if (hasTool('tshark')) {
      const t = spawnSync('tshark', ['-r', out, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE',
        '-T', 'fields', '-e', 'ip.dst', '-e', 'tcp.dstport', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status'], { encoding: 'utf8' });
      assert.equal(t.status, 0, t.stderr);
      // checksum status 1 = good
      assert.equal(t.stdout, '192.168.10.9\t8080\t1\t1\n192.168.10.8\t8080\t1\t1\n192.168.10.9\t8080\t1\t1\n');
    }
  });

  it('refuses a missing argument and a file that is not a capture', () => {
    const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'lvsd.ts'), 'replay', ...args], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(run(['--config', CONFIG]).status, 2);
    const bad = join(dir, 'bad.pcap');
    writeFileSync(bad, 'not a pcap');
    const r = run(['--config', CONFIG, '--in', bad, '--out', join(dir, 'x.pcap')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not a pcap file/);
  });
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { isIPv4 } from 'node:net';
import fc from 'fast-check';
import {
  addrFold32, addrWords, bytesToIpv6, canonicalAddr, ipv4ToU32, ipv6ToBytes, maskToPrefix, u32ToIpv4,
} from '../core/model/addr.js';

/** glibc's own inet_ntop, through python3, to check our formatting against. */
function libcNtop(addrs: string[]): string[] {
  const py = 'import socket,sys\nfor a in sys.argv[1:]: print(socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, a)))';
  return execFileSync('python3', ['-c', py, ...addrs], { encoding: 'utf8' }).trim().split('\n');
}

describe('addresses', () => {
  it('formats IPv6 exactly as glibc inet_ntop', function () {
    const samples = ['2001:db8::1', '2001:0db8:0000:0000:0000:0000:0000:0001', '::', '::1', '1::', '1:0:0:1:0:0:0:1',
      '1:0:1:0:1:0:1:0', '::ffff:10.0.0.1', '::10.0.0.1', '::ffff:0:10.0.0.1', 'fe80::1:2', '2001:db8:0:1:1:1:1:1',
      '0:0:1::', 'ABCD:EF01::', '::0.0.0.1', '64:ff9b::1.2.3.4'];
    let expected: string[];
    try { expected = libcNtop(samples); } catch { this.skip(); return; }
    assert.deepEqual(samples.map((s) => bytesToIpv6(ipv6ToBytes(s)!)), expected);
  });

  it('canonicalises and rejects', () => {
    assert.deepEqual(canonicalAddr('10.0.0.1'), { family: 'inet', addr: '10.0.0.1' });
    assert.deepEqual(canonicalAddr('2001:DB8::0:1'), { family: 'inet6', addr: '2001:db8::1' });
    for (const bad of ['10.0.0.256', '1.2.3', 'abc', '', '2001:db8::1::2', 'fe80::1%eth0']) assert.equal(canonicalAddr(bad), null, bad);
  });

  it('reads dotted quads exactly as node:net isIPv4 accepts them', () => {
    const byNode = (t: string): number | null => {
      if (!isIPv4(t)) return null;
      const p = t.split('.').map(Number);
      return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
    };
    for (const t of ['0.0.0.0', '255.255.255.255', '256.1.1.1', '01.2.3.4', '0.0.0.00', '1.2.3', '1.2.3.4.5', '1..2.3',
      '', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.4.', '.1.2.3', '1000.1.1.1', '1.2.3.-4', '1.2.3.４']) {
      assert.equal(ipv4ToU32(t), byNode(t), JSON.stringify(t));
    }
    fc.assert(fc.property(fc.stringMatching(/^[0-9.]{0,16}$/), (t) => ipv4ToU32(t) === byNode(t)), { numRuns: 20000 });
    fc.assert(fc.property(fc.ipV4(), (t) => ipv4ToU32(t) === byNode(t)), { numRuns: 5000 });
  });

  it('converts IPv4 and folds IPv6 as the kernel hashes them', () => {
    assert.equal(ipv4ToU32('192.168.1.10'), 0xc0a8010a);
    assert.equal(u32ToIpv4(0xc0a8010a), '192.168.1.10');
    assert.equal(addrFold32('inet', '192.168.1.10'), 0xc0a8010a);
    assert.deepEqual(addrWords('inet6', '2001:db8::1'), [0x20010db8, 0, 0, 1]);
    assert.equal(addrFold32('inet6', '2001:db8::1'), (0x20010db8 ^ 1) >>> 0);
  });

  it('turns netmasks into prefix lengths', () => {
    assert.equal(maskToPrefix(0xffffffff), 32);
    assert.equal(maskToPrefix(0xffffff00), 24);
    assert.equal(maskToPrefix(0), 0);
    assert.equal(maskToPrefix(0xff00ff00), -1);
  });
});

// lvsadm's output as pure functions of snapshot data: the number formatter,
// listing modes with non-zero counters, connections, daemons, names, and the
// sort (glibc merge sort with libipvs's wrapping comparators).

import assert from 'node:assert/strict';
import {
  addrPortName, connLines, daemonLines, largeNum, listAll, listService, NUMERIC, saveRules, serviceName, titleLines, type Names,
} from '../scripts/lvsadm/format.js';
import { glibcMergeSort, sortDests, sortServices } from '../scripts/lvsadm/sort.js';
import type { ListFormat } from '../scripts/lvsadm/parse.js';
import { zeroStats, type DestView, type ServiceView, type StatsView } from '../core/model/types.js';
import type { ConnView } from '../core/control/protocol.js';

const F = (o: Partial<ListFormat> = {}): ListFormat => ({
  numeric: true, stats: false, rate: false, thresholds: false, persistentConn: false, nosort: false, exact: false, tunInfo: false, ...o,
});
const INFO = { version: 0x010201, connTabSize: 4096 };

function svc(addr: string, port: number, o: Partial<ServiceView> = {}): ServiceView {
  return {
    family: addr.includes(':') ? 'inet6' : 'inet', protocol: 'tcp', addr, port, fwmark: 0, scheduler: 'wlc', flags: 0,
    timeout: 0, netmask: addr.includes(':') ? 128 : 0xffffffff, pe: '', dests: [], stats: zeroStats(), ...o,
  };
}
function dest(addr: string, port: number, o: Partial<DestView> = {}): DestView {
  return {
    family: addr.includes(':') ? 'inet6' : 'inet', addr, port, fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0,
    tunType: 'ipip', tunPort: 0, tunFlags: 0, activeConns: 0, inactConns: 0, persistConns: 0, stats: zeroStats(), ...o,
  };
}
const stats = (o: Partial<StatsView>): StatsView => ({ ...zeroStats(), ...o });

describe('lvsadm format: numbers', () => {
  it('print_largenum: the spec examples, --exact widths', () => {
    const ex: [number, string][] = [[99999999, ' 99999999'], [100000000, '  100000K'], [999999999, '  999999K'], [1000000000, '    1000M'],
      [99999999999, '   99999M'], [100000000000, '     100G'], [123456789012345, '     123T'], [0, '        0']];
    for (const [n, s] of ex) assert.equal(largeNum(n, false), s, String(n));
    assert.equal(largeNum(12345678, true), ' 12345678');
    assert.equal(largeNum(123456789, true), ' 123456789');
    assert.equal(largeNum(98765432101, true), ' 98765432101');
  });
  it('the stats example of the spec, and --exact', () => {
    const s = svc('192.168.1.100', 80, {
      stats: stats({ conns: 12, inpkts: 345, inbytes: 123456789, outbytes: 98765432101 }),
      dests: [dest('10.0.0.1', 80, { stats: stats({ conns: 12, inpkts: 345, inbytes: 23456 }) })],
    });
    assert.equal(listService(s, F({ stats: true }), NUMERIC),
      'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n  -> RemoteAddress:Port\n'
      + 'TCP  192.168.1.100:80                   12      345        0  123456K   98765M\n'
      + '  -> 10.0.0.1:80                        12      345        0    23456        0\n');
    assert.match(listService(s, F({ stats: true, exact: true }), NUMERIC),
      /\nTCP {2}192\.168\.1\.100:80 {19}12 {6}345 {8}0 123456789 98765432101\n/);
  });
  it('--rate: the server line prints CPS/PPS raw and only the byte rates abbreviated', () => {
    const s = svc('10.0.0.1', 80, {
      stats: stats({ cps: 123456789, inbps: 200000000 }),
      dests: [dest('10.0.0.2', 80, { stats: stats({ cps: 123456789, inpps: 5, outpps: 6, inbps: 200000000, outbps: 7 }) })],
    });
    assert.equal(listService(s, F({ rate: true }), NUMERIC).split('\n').slice(2).join('\n'),
      'TCP  10.0.0.1:80                   123456K        0        0  200000K        0\n'
      + '  -> 10.0.0.2:80                  123456789        5        6  200000K        7\n');
  });
});

describe('lvsadm format: listing modes', () => {
  const table = [
    svc('192.168.1.100', 80, { dests: [dest('10.0.0.2', 8080, { weight: 3, activeConns: 12, inactConns: 4 }), dest('10.0.0.1', 80)] }),
    svc('192.168.1.100', 53, { protocol: 'udp', scheduler: 'sh', flags: 0x18, dests: [dest('10.0.0.5', 53, { fwd: 'route', inactConns: 7 })] }),
    svc('0.0.0.0', 0, { fwmark: 1, scheduler: 'rr', flags: 1, timeout: 360, dests: [dest('10.0.0.7', 0, { fwd: 'tunnel', weight: 2 })] }),
  ];
  it('the example listing of the spec (§5.5)', () => {
    assert.equal(listAll(INFO, table, F(), NUMERIC), `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.1.100:80 wlc
  -> 10.0.0.1:80                  Masq    1      0          0         
  -> 10.0.0.2:8080                Masq    3      12         4         
UDP  192.168.1.100:53 sh (sh-fallback,sh-port)
  -> 10.0.0.5:53                  Route   1      0          7         
FWM  1 rr persistent 360
  -> 10.0.0.7:0                   Tunnel  2      0          0         
`);
  });
  it('the example -S of the spec (§6), minus the weight-3 server port naming', () => {
    assert.equal(saveRules(table, F(), NUMERIC), `-A -t 192.168.1.100:80 -s wlc
-a -t 192.168.1.100:80 -r 10.0.0.1:80 -m -w 1
-a -t 192.168.1.100:80 -r 10.0.0.2:8080 -m -w 3
-A -u 192.168.1.100:53 -s sh -b sh-fallback,sh-port
-a -u 192.168.1.100:53 -r 10.0.0.5:53 -g -w 1
-A -f 1 -s rr -p 360
-a -f 1 -r 10.0.0.7:0 -i -w 2 --tun-type ipip
`);
  });
  it('titles: precedence stats > rate > thresholds > persistent-conn > tun-info', () => {
    assert.equal(titleLines(F({ stats: true, rate: true })), titleLines(F({ stats: true })));
    assert.equal(titleLines(F({ rate: true, thresholds: true })), titleLines(F({ rate: true })));
    assert.equal(titleLines(F({ thresholds: true, persistentConn: true, tunInfo: true })),
      'Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n  -> RemoteAddress:Port\n');
    assert.equal(titleLines(F({ persistentConn: true, tunInfo: true })),
      'Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n  -> RemoteAddress:Port\n');
  });
  it('persistent-conn and thresholds columns; local forwarding saved as -g', () => {
    const s = svc('10.0.0.1', 80, { dests: [dest('10.0.0.2', 80, { fwd: 'local', weight: 5, persistConns: 9, activeConns: 1, inactConns: 2, uThreshold: 100, lThreshold: 50 })] });
    assert.equal(listService(s, F({ persistentConn: true }), NUMERIC).split('\n')[3], '  -> 10.0.0.2:80                  5         9           1          2         ');
    assert.equal(listService(s, F({ thresholds: true }), NUMERIC).split('\n')[3], '  -> 10.0.0.2:80                  100        50         1          2         ');
    assert.equal(listService(s, F(), NUMERIC).split('\n')[3], '  -> 10.0.0.2:80                  Local   5      1          2         ');
    assert.equal(saveRules([s], F(), NUMERIC).split('\n')[1], '-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 5');
  });
  it('names: cut to 59, then 33 for IPv4 services and 28 for IPv4 servers; IPv6 never cut', () => {
    const long = 'a'.repeat(70);
    const names: Names = { host: (_f, a) => (a === '10.0.0.1' || a === '2001:db8::1' ? long : 'short'), service: (p) => (p === 80 ? 'http' : null) };
    assert.equal(addrPortName('inet', '10.0.0.1', 80, 'tcp', names), 'a'.repeat(59));
    assert.equal(addrPortName('inet6', '2001:db8::1', 80, 'tcp', names), '[' + 'a'.repeat(58));
    assert.equal(addrPortName('inet', '10.0.0.9', 81, 'tcp', names), 'short:81');
    assert.equal(addrPortName('inet', '10.0.0.9', 80, null, names), 'short:80');
    assert.equal(serviceName(svc('10.0.0.1', 80), false, names), 'TCP  ' + 'a'.repeat(28));
    assert.equal(serviceName(svc('10.0.0.1', 80), true, names), '-t ' + 'a'.repeat(59));
    assert.equal(serviceName(svc('2001:db8::1', 80), false, names), 'TCP  [' + 'a'.repeat(58));
    assert.equal(serviceName(svc('0.0.0.0', 0, { fwmark: 0xffffffff, family: 'inet6' }), false, names), 'FWM  -1 IPv6');
    const s = svc('10.0.0.9', 80, { dests: [dest('10.0.0.1', 80)] });
    assert.equal(listService(s, F(), names).split('\n')[3], '  -> ' + 'a'.repeat(28) + ' Masq    1      0          0         ');
  });
});

describe('lvsadm format: connections and daemons', () => {
  const conns: ConnView[] = [
    { protocol: 'tcp', family: 'inet', caddr: '192.168.1.5', cport: 54321, vaddr: '192.168.1.100', vport: 80, daddr: '10.0.0.1', dport: 80, expires: 898, state: 'ESTABLISHED' },
    { protocol: 'tcp', family: 'inet', caddr: '192.168.1.5', cport: 0, vaddr: '192.168.1.100', vport: 80, daddr: '10.0.0.1', dport: 80, expires: 359, state: 'NONE' },
    { protocol: 'udp', family: 'inet6', caddr: '2001:db8::5', cport: 5060, vaddr: '2001:db8::1', vport: 5060, daddr: '10.0.0.3', dport: 5060, expires: 6000, state: 'UDP', peName: 'sip', peData: 'call-1' },
    { protocol: 'ip', family: 'inet', caddr: '1.2.3.4', cport: 0, vaddr: '0.0.0.1', vport: 0, daddr: '10.0.0.4', dport: 0, expires: 5, state: 'NONE' },
  ];
  it('the example of the spec (§5.9)', () => {
    assert.equal(connLines(conns.slice(0, 2), F(), NUMERIC), `IPVS connection entries
pro expire state       source             virtual            destination
TCP 14:58  ESTABLISHED 192.168.1.5:54321  192.168.1.100:80   10.0.0.1:80
TCP 05:59  NONE        192.168.1.5:0      192.168.1.100:80   10.0.0.1:80
`);
  });
  it('minutes over 99, IPv6 with an IPv4 destination, IP templates, PE columns with --persistent-conn', () => {
    const out = connLines(conns.slice(2), F({ persistentConn: true }), NUMERIC).split('\n');
    assert.equal(out[1], 'pro expire state       source             virtual            destination        pe name          pe_data');
    assert.equal(out[2], 'UDP 100:00 UDP         [2001:db8::5]:5060 [2001:db8::1]:5060 10.0.0.3:5060    sip                call-1');
    assert.equal(out[3], 'IP  00:05  NONE        1.2.3.4:0          0.0.0.1:0          10.0.0.4:0');
    const names: Names = { host: () => null, service: (p, proto) => (p === 5060 && proto === 'udp' ? 'sip' : null) };
    assert.equal(connLines(conns.slice(2, 3), F({ numeric: false }), names).split('\n')[2],
      'UDP 100:00 UDP         [2001:db8::5]:sip  [2001:db8::1]:sip  10.0.0.3:sip');
  });
  it('daemons: master first, parts only when reported', () => {
    assert.equal(daemonLines([
      { state: 'backup', mcastIfn: 'lo', syncid: 5, maxlen: 1024, group: 'ff02::1', port: 9000, ttl: 3 },
      { state: 'master', mcastIfn: 'eth0', syncid: 0, maxlen: 0, group: '', port: 0, ttl: 0 },
    ]), 'master sync daemon (mcast=eth0, syncid=0)\nbackup sync daemon (mcast=lo, syncid=5, maxlen=1024, group=ff02::1, port=9000, ttl=3)\n');
    assert.equal(daemonLines([]), '');
  });
});

describe('lvsadm sort: glibc merge sort and the signed wrap (§5.7)', () => {
  const names = (l: { addr: string; port: number }[]): string => l.map((s) => `${s.addr}:${s.port}`).join(' ');
  it('reproduces the reference VM: same kernel order in, same listing out', () => {
    // Orders read from /proc/net/ip_vs in the VM (one hash bucket, newest first).
    const k1 = ['150.0.0.1', '172.16.0.1', '127.0.0.1', '100.1.1.1', '200.1.1.1', '1.1.1.1', '192.168.1.1', '10.0.0.1'].map((a) => svc(a, 80));
    assert.equal(names(sortServices(k1)), '100.1.1.1:80 127.0.0.1:80 150.0.0.1:80 172.16.0.1:80 192.168.1.1:80 200.1.1.1:80 1.1.1.1:80 10.0.0.1:80');
    const k2 = ['10.0.0.1', '100.1.1.1', '1.1.1.1', '150.0.0.1', '200.1.1.1'].map((a) => svc(a, 80));
    assert.equal(names(sortServices(k2)), '150.0.0.1:80 200.1.1.1:80 1.1.1.1:80 10.0.0.1:80 100.1.1.1:80');
    const d = ['150.1.1.2', '100.1.1.2', '200.1.1.2', '1.1.1.2', '192.168.1.2', '10.0.0.2'].map((a) => dest(a, 80));
    assert.equal(names(sortDests(d)), '100.1.1.2:80 150.1.1.2:80 192.168.1.2:80 200.1.1.2:80 1.1.1.2:80 10.0.0.2:80');
  });
  it('10.0.0.1 sorts after 192.168.1.1 but before 10.0.0.2; fwmark 0xffffffff comes first', () => {
    assert.equal(names(sortServices([svc('192.168.1.1', 80), svc('10.0.0.1', 80)])), '192.168.1.1:80 10.0.0.1:80');
    assert.equal(names(sortServices([svc('10.0.0.2', 80), svc('10.0.0.1', 80)])), '10.0.0.1:80 10.0.0.2:80');
    const f = sortServices([svc('1.1.1.1', 80), svc('0.0.0.0', 0, { fwmark: 0xffffffff }), svc('0.0.0.0', 0, { fwmark: 5 })]);
    assert.deepEqual(f.map((s) => s.fwmark), [0xffffffff, 0, 5]);
  });
  it('mixed-family servers compare by the first one\'s family', () => {
    const d = [dest('2001:db8::2', 80), dest('10.0.0.1', 80), dest('200.0.0.1', 80)];
    assert.equal(names(sortDests(d)), '200.0.0.1:80 10.0.0.1:80 2001:db8::2:80');
  });
  it('the merge takes the left element on ties and splits n/2', () => {
    const calls: string[] = [];
    glibcMergeSort(['c', 'b', 'a'], (x, y) => { calls.push(x + y); return x < y ? -1 : x > y ? 1 : 0; });
    assert.deepEqual(calls, ['ba', 'ca', 'cb']);
  });
});

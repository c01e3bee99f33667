// lvsadm end to end against a running lvsd: kernel error texts per operation
// (spec/ipvsadm.md §8), -S/-R round trips, garbage in -R input, the -R line
// splitter, the init failure, -h/-v, --socket, and the bin shim itself.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lvsadm, ipvsStrerror, takeSocketOption, type Io } from '../scripts/lvsadm/main.js';
import { restoreVectors } from '../scripts/lvsadm/restore.js';
import { helpText, versionLine, LVSADM_VERSION } from '../scripts/lvsadm/help.js';
import { lookupHostsByAddr, lookupHostsByName, lookupServByName, lookupServByPort, parseHosts, parseServices, type NameService } from '../scripts/lvsadm/resolve.js';
import { GOLDEN, ROOT, lvsadmEnv, runLvsadm, startDaemon, type Daemon, type Outcome } from './lvsadm-harness.js';

const hosts = parseHosts(readFileSync(join(GOLDEN, 'etc', 'hosts'), 'utf8'));
const services = parseServices(readFileSync(join(GOLDEN, 'etc', 'services'), 'utf8'));
const ns: NameService = {
  hostToAddr: async (n) => lookupHostsByName(hosts, n),
  addrToHost: async (f, a) => lookupHostsByAddr(hosts, f, a),
  serviceToPort: (n, p) => lookupServByName(services, n, p),
  portToService: (p, proto) => lookupServByPort(services, p, proto),
};

/** Runs lvsadm in-process (fast) with a socket, stdin text and the VM's name files. */
async function run(socket: string, line: string | string[], stdin = ''): Promise<Outcome> {
  let stdout = '', stderr = '';
  const io: Io = { out: (s) => { stdout += s; }, err: (s) => { stderr += s; }, readStdin: async () => stdin };
  const args = typeof line === 'string' ? line.split(' ').filter((x) => x) : line;
  const exit = await lvsadm(['--socket', socket, ...args], 'ipvsadm', io, ns);
  return { stdout, stderr, exit };
}

const ok = (stdout = ''): Outcome => ({ stdout, stderr: '', exit: 0 });
const kerr = (msg: string, exit = 255): Outcome => ({ stdout: '', stderr: `${msg}\n`, exit });

describe('lvsadm against lvsd', function () {
  this.timeout(30_000);
  let d: Daemon;
  let S: string;
  beforeEach(async () => { d = await startDaemon(); S = d.socket; });
  afterEach(async () => { await d.stop(); });

  it('kernel errors are worded per operation, exit 255 (§8)', async () => {
    assert.deepEqual(await run(S, '-A -t 10.0.0.1:80 -s rr'), ok());
    assert.deepEqual(await run(S, '-A -t 10.0.0.1:80 -s wlc'), kerr('Service already exists'));
    assert.deepEqual(await run(S, '-A -t 10.0.0.2:80 -s nosuch'), kerr('Scheduler or persistence engine not found'));
    assert.deepEqual(await run(S, '-A -t 10.0.0.2:80 --pe nosuch'), kerr('Scheduler or persistence engine not found'));
    assert.deepEqual(await run(S, '-E -t 10.0.0.1:80 -s nosuch'), kerr('Scheduler or persistence engine not found'));
    assert.deepEqual(await run(S, '-E -t 10.0.0.9:80 -s rr'), kerr('No such service'));
    assert.deepEqual(await run(S, '-D -t 10.0.0.9:80'), kerr('No such service'));
    assert.deepEqual(await run(S, '-D -u 10.0.0.1:80'), kerr('No such service'));
    assert.deepEqual(await run(S, '-Z -t 10.0.0.9:80'), kerr('No such service'));
    assert.deepEqual(await run(S, '-L -n -t 10.0.0.9:80'), kerr('No such service', 1));
    assert.deepEqual(await run(S, '-a -t 10.0.0.9:80 -r 10.1.0.1'), kerr('Service not defined'));
    assert.deepEqual(await run(S, '-e -t 10.0.0.9:80 -r 10.1.0.1'), kerr('Service not defined'));
    assert.deepEqual(await run(S, '-d -t 10.0.0.9:80 -r 10.1.0.1'), kerr('Service not defined'));
    assert.deepEqual(await run(S, '-a -t 10.0.0.1:80 -r 10.1.0.1 -m'), ok());
    assert.deepEqual(await run(S, '-a -t 10.0.0.1:80 -r 10.1.0.1 -g'), kerr('Destination already exists'));
    assert.deepEqual(await run(S, '-e -t 10.0.0.1:80 -r 10.1.0.2 -m'), kerr('No such destination'));
    assert.deepEqual(await run(S, '-d -t 10.0.0.1:80 -r 10.1.0.1:81'), kerr('No such destination'));
    // -e without -m means -g, which forces the virtual port: a NAT server on another port is not found.
    assert.deepEqual(await run(S, '-a -t 10.0.0.1:80 -r 10.1.0.3:8080 -m'), ok());
    assert.deepEqual(await run(S, '-e -t 10.0.0.1:80 -r 10.1.0.3:8080 -w 2'), kerr('No such destination'));
    const einval = 'Invalid operation.  Possibly wrong module version, address not unicast, ...';
    for (const bad of ['0.0.0.0', '255.255.255.255', '224.0.0.1']) assert.deepEqual(await run(S, `-a -t 10.0.0.1:80 -r ${bad} -m`), kerr(einval));
    assert.deepEqual(await run(S, '-e -t 10.0.0.1:80 -r 10.1.0.1 -m -x 10 -y 20'), kerr('Numerical result out of range'));
    assert.deepEqual(await run(S, '--start-daemon master --mcast-interface lo'), ok());
    assert.deepEqual(await run(S, '--start-daemon master --mcast-interface lo'), kerr('Daemon has already run'));
    assert.deepEqual(await run(S, '--stop-daemon backup'), kerr('No daemon is running'));
    assert.deepEqual(await run(S, '--start-daemon backup --mcast-interface nosuchif0'), kerr('No such device'));
  });

  it('listing after changes: -L -n, --daemon, --timeout, -c', async () => {
    await run(S, '-A -t 10.0.0.1:80 -s rr');
    await run(S, '-a -t 10.0.0.1:80 -r 10.1.0.1 -m -w 3');
    await run(S, '--set 100 10 10');
    await run(S, '--start-daemon master --mcast-interface lo --syncid 3');
    assert.deepEqual(await run(S, '-Ln'), ok('IP Virtual Server version 1.2.1 (size=4096)\n'
      + 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
      + 'TCP  10.0.0.1:80 rr\n  -> 10.1.0.1:80                  Masq    3      0          0         \n'));
    assert.deepEqual(await run(S, '-L --timeout'), ok('Timeout (tcp tcpfin udp): 100 10 10\n'));
    assert.deepEqual(await run(S, '-L --daemon'), ok('master sync daemon (mcast=lo, syncid=3, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n'));
    assert.deepEqual(await run(S, '-L -c -n'), ok('IPVS connection entries\npro expire state       source             virtual            destination\n'));
    assert.deepEqual(await run(S, []), await run(S, '-L'));
  });

  it('-S / -C / -R round trip, numeric and by name', async () => {
    const setup = [
      '-A -t 172.16.100.1:80 -s rr', '-a -t 172.16.100.1:80 -r 192.168.10.9:8080 -m -w 3',
      '-a -t 172.16.100.1:80 -r 192.168.10.21 -i --tun-type gue --tun-port 6080 --tun-remcsum',
      '-A -t 172.16.100.1:443 -s wlc -p 600 -M 255.255.255.0', '-a -t 172.16.100.1:443 -r 192.168.10.8 -g -x 100 -y 10',
      '-A -u 172.16.100.1:53 -s sh -b sh-fallback,sh-port -o', '-A -f 1 -6 -s mh -b mh-port',
      '-a -f 1 -6 -r [2001:db8::10]:8080 -m', '-A -t [2001:db8::1]:80 -s lc -p 60 -M 64',
      '-a -t [2001:db8::1]:80 -r 10.0.0.5 -i --tun-type gre --tun-csum', '-A -u 172.16.100.2:5060 -s rr -p 60 --pe sip',
    ];
    for (const l of setup) assert.deepEqual(await run(S, l), ok(), l);
    const saved = await run(S, '-S -n');
    const named = await run(S, '-S');
    assert.match(named.stdout, /-A -u 172\.16\.100\.1:domain -s sh -o -b sh-fallback,sh-port\n/);
    assert.match(saved.stdout, /-a -t 172\.16\.100\.1:80 -r 192\.168\.10\.21:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum\n/);
    for (const input of [saved.stdout, named.stdout]) {
      assert.deepEqual(await run(S, '-C'), ok());
      assert.deepEqual(await run(S, '-R', input), ok());
      assert.deepEqual(await run(S, '-S -n'), saved);
    }
    // Again on top: every line fails with the kernel's error, the run goes on, status 255.
    const again = await run(S, '-R', saved.stdout);
    assert.equal(again.exit, 255);
    assert.equal(again.stderr.split('\n').filter((x) => x).length, saved.stdout.split('\n').filter((x) => x).length);
    // Thresholds are not saved.
    assert.doesNotMatch(saved.stdout, /-x|-y/);
  });

  it('-R with garbage: comments, unknown options, parse errors, nested -R, blank and odd lines', async () => {
    const TRY = "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n";
    assert.deepEqual(await run(S, '-R', '# comment\n-A -t 10.9.0.1:80 -s rr\n'), { stdout: '', stderr: TRY, exit: 255 });
    assert.deepEqual(await run(S, '-R', '-A -t 10.9.0.1:80 -s rr\n-X bogus\n-A -t 10.9.0.2:80\n'), { stdout: '', stderr: TRY, exit: 255 });
    assert.deepEqual(await run(S, '-R', '-A -t 10.9.0.3:80 -s rr\n-R\n-A -t 10.9.0.4:80\n'), { stdout: '', stderr: TRY, exit: 255 });
    assert.deepEqual(await run(S, '-R', '-A -t 10.9.1.2:80 -s rr # trailing comment\n-A -t 10.9.0.5:80\n'), kerr('unexpected argument #', 2));
    assert.deepEqual(await run(S, '-R', '-L -Q\n-A -t 10.9.0.6:80 -s rr\n'), { stdout: '', stderr: '-Q: unknown option\n', exit: 0 });
    assert.deepEqual(await run(S, '-R', '-A -t 10.9.0.7:80 -s rr\n-L -Q\n'), { stdout: '', stderr: '-Q: unknown option\n', exit: 255 });
    assert.deepEqual(await run(S, '-R', '\0\x01 garbage\n'), { stdout: '', stderr: TRY, exit: 255 });
    assert.deepEqual(await run(S, '-R', 'ipvsadm\n\n  \t\r\nipvsadm ipvsadm\n'), ok());
    assert.deepEqual(await run(S, '-R', ''), ok());
    assert.deepEqual(await run(S, '-R', '-A -t 10.9.0.8:80 -s rr\n-A -t 10.9.0.8:80 -s rr\n'), kerr('Service already exists'));
    assert.deepEqual(await run(S, '-R', '-A -t 10.9.0.9:80 -s rr\n-A -t 10.9.0.9:80 -o\n-A -t 10.9.0.10:80\n'),
      kerr('One-Packet Scheduling is only for UDP virtual services', 2));
    const list = await run(S, '-S -n');
    assert.deepEqual(list.stdout.split('\n').filter((x) => x).sort(), [
      '-A -t 10.9.0.1:80 -s rr', '-A -t 10.9.0.3:80 -s rr', '-A -t 10.9.0.6:80 -s rr', '-A -t 10.9.0.7:80 -s rr',
      '-A -t 10.9.0.8:80 -s rr', '-A -t 10.9.0.9:80 -s rr',
    ]);
    // A listing inside -R prints; -h inside -R prints the help and ends the run.
    const l = await run(S, '-R', '-L -n --timeout\n-h\n-A -t 10.9.0.11:80\n');
    assert.equal(l.exit, 0);
    assert.ok(l.stdout.startsWith('Timeout (tcp tcpfin udp): 900 120 300\nlvsadm v'));
    assert.equal((await run(S, '-L -n -t 10.9.0.11:80')).exit, 1);
  });

  it('ipvsadm prints nothing and changes nothing for a bad line before the kernel is asked', async () => {
    assert.deepEqual(await run(S, '-A -t 1.2.3.4:80 -s rr -p 0'), kerr("invalid timeout value `0' specified", 2));
    assert.deepEqual(await run(S, '-S'), ok());
  });
});

describe('lvsadm: restore line splitting (config_stream_read)', () => {
  it('splits on space, tab, CR; drops `ipvsadm` tokens and empty lines', () => {
    assert.deepEqual(restoreVectors('  -A -t 10.1.1.12:80 -s rr\n\t\n-A\t-t\t10.1.1.13:80\r-s rr\n'),
      [['-A', '-t', '10.1.1.12:80', '-s', 'rr'], ['-A', '-t', '10.1.1.13:80', '-s', 'rr']]);
    assert.deepEqual(restoreVectors('ipvsadm -A ipvsadm -t x\nipvsadm\n'), [['-A', '-t', 'x']]);
    assert.deepEqual(restoreVectors('-C\r\n-L\r\n'), [['-C'], ['-L']]);
    assert.deepEqual(restoreVectors('# x y\n'), [['#', 'x', 'y']]);
  });
  it('an unterminated last line is run unless it ends in two or more blanks', () => {
    assert.deepEqual(restoreVectors('-A -t 10.0.0.9:80 -s rr'), [['-A', '-t', '10.0.0.9:80', '-s', 'rr']]);
    assert.deepEqual(restoreVectors('-A -s rr '), [['-A', '-s', 'rr']]);
    assert.deepEqual(restoreVectors('-A -s rr\t'), [['-A', '-s', 'rr']]);
    assert.deepEqual(restoreVectors('-A -s rr  '), []);
    assert.deepEqual(restoreVectors('-A -s rr \t'), []);
    assert.deepEqual(restoreVectors('-C\n-A -s rr  '), [['-C']]);
    assert.deepEqual(restoreVectors('-C\n   '), [['-C']]);
  });
  it('tokens are at most 4096 characters', () => {
    const v = restoreVectors(`-A ${'x'.repeat(5000)}\n`);
    assert.deepEqual(v.map((t) => t.map((s) => s.length)), [[2, 4096, 904]]);
  });
});

describe('lvsadm: messages, help, version, socket', () => {
  it('ipvs_strerror: per-operation texts, the generic ones, then strerror', () => {
    assert.equal(ipvsStrerror('add-service', 'EEXIST'), 'Service already exists');
    assert.equal(ipvsStrerror('flush', 'EEXIST'), 'File exists');
    assert.equal(ipvsStrerror('add-dest', 'ESRCH'), 'Service not defined');
    assert.equal(ipvsStrerror('delete-service', 'ESRCH'), 'No such service');
    assert.equal(ipvsStrerror('stop-daemon', 'ESRCH'), 'No daemon is running');
    assert.equal(ipvsStrerror('zero', 'EPERM'), 'Permission denied (you must be root)');
    assert.equal(ipvsStrerror('zero', 'ENOPROTOOPT'), 'Protocol not available');
    assert.equal(ipvsStrerror('zero', 'ENOMEM'), 'Memory allocation problem');
    assert.equal(ipvsStrerror('zero', 'EOPNOTSUPP'), 'Operation not supported with IPv6');
    assert.equal(ipvsStrerror('zero', 'EAFNOSUPPORT'), 'Operation not supported with specified address family');
    assert.equal(ipvsStrerror('zero', 'EMSGSIZE'), 'Module is wrong version');
    assert.equal(ipvsStrerror('add-dest', 'ERANGE'), 'Numerical result out of range');
    assert.equal(ipvsStrerror('start-daemon', 'ENODEV'), 'No such device');
    assert.equal(ipvsStrerror('zero', 'EFAULT'), 'Bad address');
  });

  it('-v is one line in ipvsadm form; -h lists the commands and options in ipvsadm order', () => {
    assert.equal(versionLine(), `lvsadm v${LVSADM_VERSION} 2026/11/23 (compiled with tsx and IPVS v1.2.1)\n`);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(LVSADM_VERSION, pkg.version);
    const h = helpText('ipvsadm');
    assert.ok(h.startsWith(versionLine()));
    const order = ['-A|E', '-D ', '-C\n', '-R\n', '-S ', '-a|e', '-d ', '-L|l', '-Z ', '--set', '--start-daemon', '--stop-daemon', '-h\n',
      '--add-service', '--edit-service', '--delete-service', '--clear', '--restore', '--save', '--add-server', '--edit-server',
      '--delete-server', '--list', '--zero', '--set tcp', '--start-daemon ', '--stop-daemon ', '--help',
      '--tcp-service', '--udp-service', '--sctp-service', '--fwmark-service',
      '--ipv6', '--scheduler', '--pe', '--persistent', '--netmask', '--real-server', '--gatewaying', '--ipip', '--masquerading',
      '--tun-type', '--tun-port', '--tun-nocsum', '--tun-csum', '--tun-remcsum', '--weight', '--u-threshold', '--l-threshold',
      '--connection', '--timeout', '--daemon', '--stats', '--rate', '--exact', '--thresholds', '--persistent-conn', '--tun-info',
      '--nosort', '--sort', '--ops', '--numeric', '--sched-flags', '--syncid', '--sync-maxlen', '--mcast-interface',
      '--mcast-group', '--mcast-port', '--mcast-ttl'];
    let at = 0;
    for (const o of order) {
      const i = h.indexOf(o, at);
      assert.ok(i >= 0, `${o} after position ${at}`);
      at = i + 1;
    }
    assert.ok(h.includes('  ipvsadm -L|l [virtual-service] [options]\n'));
    assert.ok(!h.includes('syncid for connection sync (default=255)'), 'our own words, and the real syncid default');
  });

  it('--socket is lvsadm\'s own option, taken out anywhere', () => {
    assert.deepEqual(takeSocketOption(['-L', '--socket', '/x', '-n']), { args: ['-L', '-n'], socket: '/x' });
    assert.deepEqual(takeSocketOption(['--socket=/y', '-L']), { args: ['-L'], socket: '/y' });
    assert.deepEqual(takeSocketOption(['-L']), { args: ['-L'] });
  });

  it('without lvsd: ipvsadm\'s init failure adapted, exit 2; -h and -v still work', async () => {
    const sock = join(ROOT, 'test', 'fixtures', 'no-such.sock');
    const r = await run(sock, '-L -n');
    assert.deepEqual(r, { stdout: '', exit: 2, stderr: `Can't initialize ipvs: No such file or directory\n`
      + `Is lvsd running? Its control socket was looked for at ${sock} (--socket, $LVSD_SOCKET).\n` });
    assert.equal((await run(sock, '-v')).stdout, versionLine());
    assert.equal((await run(sock, '-h')).exit, 0);
  });
});

describe('lvsadm: the bin shim', function () {
  this.timeout(60_000);
  it('runs from any directory, names itself by argv[1], finds the socket in $LVSD_SOCKET', async () => {
    const d = await startDaemon();
    try {
      const env = lvsadmEnv(d.socket);
      const r = runLvsadm(['-A', '-t', '10.0.0.1:80'], env);
      assert.deepEqual(r, { stdout: '', stderr: '', exit: 0 });
      assert.deepEqual(runLvsadm(['-Q'], env), { stdout: '', stderr: "Try `lvsadm -h' or 'lvsadm --help' for more information.\n", exit: 255 });
      const saved = runLvsadm(['-S', '-n'], env);
      assert.deepEqual(saved, { stdout: '-A -t 10.0.0.1:80 -s wlc\n', stderr: '', exit: 0 });
      assert.deepEqual(runLvsadm(['-R'], env, '-A -t 10.0.0.2:80\n-A -t 10.0.0.2:80\n'), { stdout: '', stderr: 'Service already exists\n', exit: 255 });
      // The tsx fallback gives the same answers.
      assert.deepEqual(runLvsadm(['-S', '-n'], { ...env, LVSADM_NO_BUNDLE: '1' }).stdout, '-A -t 10.0.0.1:80 -s wlc\n-A -t 10.0.0.2:80 -s wlc\n');
    } finally {
      await d.stop();
    }
  });
});

describe('lvsadm: name services as the C library answers them', () => {
  it('files backend: first line wins, ::1 is 127.0.0.1 for IPv4, IPv4 lines map to ::ffff: for IPv6', async () => {
    const { systemNameService } = await import('../scripts/lvsadm/resolve.js');
    const sys = systemNameService({ LVSADM_HOSTS_FILE: join(GOLDEN, 'etc', 'hosts'), LVSADM_SERVICES_FILE: join(GOLDEN, 'etc', 'services'), LVSADM_DNS: 'off' });
    assert.equal(await sys.hostToAddr('localhost'), '127.0.0.1');
    assert.equal(await sys.hostToAddr('IP6-LOOPBACK'), '127.0.0.1');
    assert.equal(await sys.hostToAddr('1.2.3.4.5'), null);
    assert.equal(await sys.hostToAddr('nosuchhost'), null);
    assert.equal(await sys.addrToHost('inet', '127.0.0.1'), 'localhost');
    assert.equal(await sys.addrToHost('inet6', '::1'), 'localhost');
    assert.equal(await sys.addrToHost('inet6', '::ffff:127.0.0.1'), 'localhost');
    assert.equal(await sys.addrToHost('inet', '10.0.0.1'), null);
    assert.equal(sys.serviceToPort('www', 'tcp'), 80);
    assert.equal(sys.serviceToPort('www', 'udp'), null);
    assert.equal(sys.portToService(8080, 'tcp'), 'http-alt');
    assert.equal(sys.portToService(53, 'udp'), 'domain');
    assert.equal(sys.portToService(80, 'sctp'), null);
  });
});

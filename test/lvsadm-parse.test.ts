// lvsadm's command line as pure functions: every parse/validation message of
// ipvsadm 1.31 (spec/ipvsadm.md §2-§4) and the typed commands it produces.

import assert from 'node:assert/strict';
import { parseCommandLine, inetAton, stringToNumber, atoi, strtol, type Command, type ParseOutcome } from '../scripts/lvsadm/parse.js';
import { parseHosts, parseServices, lookupHostsByName, lookupHostsByAddr, lookupServByName, lookupServByPort, type NameService } from '../scripts/lvsadm/resolve.js';
import { Popt } from '../scripts/lvsadm/popt.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOLDEN } from './lvsadm-harness.js';

const hosts = parseHosts(readFileSync(join(GOLDEN, 'etc', 'hosts'), 'utf8') + '10.9.9.9 realhost alias1\n');
const services = parseServices(readFileSync(join(GOLDEN, 'etc', 'services'), 'utf8'));

/** The VM's files, no DNS. */
const ns: NameService = {
  hostToAddr: async (n) => lookupHostsByName(hosts, n),
  addrToHost: async (f, a) => lookupHostsByAddr(hosts, f, a),
  serviceToPort: (n, p) => lookupServByName(services, n, p),
  portToService: (p, proto) => lookupServByPort(services, p, proto),
};

const parse = (line: string | string[]): Promise<ParseOutcome> =>
  parseCommandLine(typeof line === 'string' ? line.split(' ').filter((x) => x !== '') : line, 'ipvsadm', ns);

async function err(line: string | string[]): Promise<{ stderr: string; exit: number; fatal: boolean }> {
  const r = await parse(line);
  assert.ok(!r.ok, `expected an error for ${String(line)}`);
  return r.error;
}

async function cmd(line: string | string[]): Promise<Command> {
  const r = await parse(line);
  if (!r.ok) assert.fail(`${String(line)}: ${r.error.stderr}`);
  return r.command;
}

/** Expects fail(2, msg). */
async function fails(line: string | string[], msg: string): Promise<void> {
  assert.deepEqual(await err(line), { stderr: `${msg}\n`, exit: 2, fatal: true }, String(line));
}

const TRY = { stderr: "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n", exit: 255, fatal: true };

describe('lvsadm parse: commands and popt (§2)', () => {
  it('a missing, unknown or non-command first option gives the Try hint, exit 255', async () => {
    for (const l of [[], ['-n'], ['bogus'], ['-Q'], ['--bogus-option'], ['--', '-L'], [''], ['-'], ['-nL'],
      ['--tcp-service=1.2.3.4:80', '-A'], ['--start-daemon']]) {
      assert.deepEqual(await err(l), TRY, l.join(' '));
    }
  });
  it('names itself by the program name given', async () => {
    const r = await parseCommandLine(['-Q'], 'lvsadm', ns);
    assert.ok(!r.ok);
    assert.equal(r.error.stderr, "Try `lvsadm -h' or 'lvsadm --help' for more information.\n");
  });
  it('a second command is an invalid option, named as written', async () => {
    await fails('-L -A', "invalid option `-A'");
    await fails('-A -D -t 1.2.3.4:80', "invalid option `-D'");
    await fails('-L -n --add-service', "invalid option `--add-service'");
    await fails('-L -h', "invalid option `-h'");
    await fails('-LA', "invalid option `-LA'");
    // popt reports the last argv element consumed: the daemon role here.
    await fails('-L --start-daemon master', "invalid option `master'");
  });
  it('popt errors after the command: "<element>: <popt text>", exit 255, not fatal (-R goes on)', async () => {
    const popt = (stderr: string) => ({ stderr, exit: 255, fatal: false });
    assert.deepEqual(await err('-L -n -Q'), popt('-Q: unknown option\n'));
    assert.deepEqual(await err('-L -nQ'), popt('-nQ: unknown option\n'));
    assert.deepEqual(await err('-L --bogus'), popt('--bogus: unknown option\n'));
    assert.deepEqual(await err('-A -t'), popt('-t: missing argument\n'));
    assert.deepEqual(await err('-At'), popt('-At: missing argument\n'));
    assert.deepEqual(await err('-A --tcp-service'), popt('--tcp-service: missing argument\n'));
    assert.deepEqual(await err('-A -t 1.2.3.9:80 -s'), popt('-s: missing argument\n'));
    assert.deepEqual(await err('-L --numeric=5'), popt('--numeric=5: option does not take an argument\n'));
    assert.deepEqual(await err('-L -n=5'), popt('-n=5: option does not take an argument\n'));
    assert.deepEqual(await err('-Ln=5'), popt('-Ln=5: option does not take an argument\n'));
    assert.deepEqual(await err('-A -t 1.2.3.4:80 -p -1'), popt('-1: unknown option\n'));
  });
  it('-h and -v as the first option', async () => {
    assert.deepEqual(await cmd('-h'), { cmd: 'help' });
    assert.deepEqual(await cmd('--help'), { cmd: 'help' });
    assert.deepEqual(await cmd('-v'), { cmd: 'version' });
    assert.deepEqual(await cmd('-v -L'), { cmd: 'version' });
    assert.deepEqual(await cmd('--version'), { cmd: 'version' });
  });
  it('start/stop-daemon parameters', async () => {
    await fails('--start-daemon bogus', 'illegal start-daemon parameter specified');
    await fails('--stop-daemon bogus', 'illegal start_daemon specified');
    assert.deepEqual(await cmd('--stop-daemon backup --syncid 7'), { cmd: 'stop-daemon', state: 'backup', syncid: 7 });
  });
  it('leftover words: unexpected argument; --set wants three', async () => {
    await fails('-A -t 1.2.3.10:80 extra-arg', 'unexpected argument extra-arg');
    await fails(['-L', ''], 'unexpected argument ');
    await fails('bogus -L -n', 'unexpected argument bogus');
    await fails('-L -n -- extra', 'unexpected argument extra');
    await fails('--set 1 2', '--set option requires 3 timeout values');
    await fails('--set', '--set option requires 3 timeout values');
    await fails('--set 1 2 3 4', 'unexpected argument 4');
    await fails('--set a b c', "invalid timeout value `a' specified");
    await fails('--set 10 20 abc extra', "invalid timeout value `abc' specified");
    await fails('--set 10 20 2678401', "invalid timeout value `2678401' specified");
    assert.deepEqual(await cmd('--set 0 0 2678400'), { cmd: 'set', timeouts: { tcp: 0, tcpfin: 0, udp: 2678400 } });
    assert.deepEqual((await cmd('-L -n --')), { cmd: 'list', what: 'all', format: { numeric: true, stats: false, rate: false, thresholds: false, persistentConn: false, nosort: false, exact: false, tunInfo: false } });
  });
  it('short bundles, --opt=value, -o=value, optional -p argument', async () => {
    const addr = async (l: string): Promise<unknown> => { const c = await cmd(l); assert.ok(c.cmd === 'add-service'); return [c.service.addr, c.service.port, c.service.timeout, c.service.flags & 1]; };
    assert.deepEqual(await addr('-At1.2.3.6:80'), ['1.2.3.6', 80, 0, 0]);
    assert.deepEqual(await addr('-At=1.2.3.7:80'), ['1.2.3.7', 80, 0, 0]);
    assert.deepEqual(await addr('-A -t1.2.3.8:80 -p=30'), ['1.2.3.8', 80, 30, 1]);
    assert.deepEqual(await addr('-A -t 1.2.3.9:80 -p30'), ['1.2.3.9', 80, 30, 1]);
    assert.deepEqual(await addr('-A -t 1.2.3.10:80 --persistent 40'), ['1.2.3.10', 80, 40, 1]);
    assert.deepEqual(await addr('-A -t 1.2.3.11:80 --persistent=50'), ['1.2.3.11', 80, 50, 1]);
    assert.deepEqual(await addr('-A -t 1.2.3.12:80 -p -s rr'), ['1.2.3.12', 80, 360, 1]);
    assert.deepEqual(await addr('-A --tcp-service=1.2.3.13:80 -p'), ['1.2.3.13', 80, 360, 1]);
    await fails('-A -t 1.2.3.14:80 -p extra', "invalid timeout value `extra' specified");
    // A required argument is taken even when it looks like an option.
    await fails('-A -s -t 1.2.3.4:80', 'unexpected argument 1.2.3.4:80');
  });
  it('the Popt scanner keeps leftovers in order and stops options at --', () => {
    const p = new Popt(['a', '-n', '--', '-L', 'b'], [{ long: 'numeric', short: 'n', arg: 'none', tag: 'n' }]);
    assert.deepEqual(p.getNextOpt(), { kind: 'opt', tag: 'n', arg: null });
    assert.deepEqual(p.getNextOpt(), { kind: 'end' });
    assert.deepEqual([p.getArg(), p.getArg(), p.getArg(), p.getArg()], ['a', '-L', 'b', null]);
  });
});

describe('lvsadm parse: option values (§3)', () => {
  it('integers: base 10 strtol, whole string, in range', async () => {
    assert.equal(stringToNumber('07', 0, 10), 7);
    assert.equal(stringToNumber('+5', 0, 10), 5);
    assert.equal(stringToNumber(' 6', 0, 10), 6);
    assert.equal(stringToNumber('6 ', 0, 10), -1);
    assert.equal(stringToNumber('0x10', 0, 100), -1);
    assert.equal(stringToNumber('1.5', 0, 10), -1);
    assert.equal(stringToNumber('', 0, 10), -1);
    assert.equal(stringToNumber('-1', 0, 10), -1);
    assert.equal(stringToNumber('99999999999999999999', 0, 10), -1);
    assert.equal(atoi('64abc'), 64);
    assert.equal(atoi('abc'), 0);
    assert.equal(strtol('  -12x').value, -12);
  });
  it('weight, thresholds', async () => {
    for (const w of ['2147483648', '-1', 'abc', '0x10', '', '1.5']) await fails(['-a', '-t', '1.2.3.4:80', '-r', '10.0.0.1', '-w', w], 'illegal weight specified');
    const c = await cmd('-a -t 1.2.3.4:80 -r 10.0.0.1 -m -w 2147483647 -x 2147483647 -y 07');
    assert.ok(c.cmd === 'add-server');
    assert.deepEqual([c.dest.weight, c.dest.uThreshold, c.dest.lThreshold], [2147483647, 2147483647, 7]);
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.1 -x 2147483648', 'illegal u_threshold specified');
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.1 -y -1', 'illegal l_threshold specified');
  });
  it('persistence timeout 1..2678400, fwmark 1..4294967295', async () => {
    for (const p of ['0', '4294967295', 'abc', '2678401']) await fails(['-A', '-t', '1.2.3.4:80', '-p', p], `invalid timeout value \`${p}' specified`);
    for (const f of ['0', 'abc', '-1', '4294967296', '']) await fails(['-A', '-f', f], `invalid fwmark value \`${f}' specified`);
    const c = await cmd('-A -f 4294967295');
    assert.ok(c.cmd === 'add-service');
    assert.equal(c.service.fwmark, 4294967295);
  });
  it('-6 only after -f; it makes the fwmark service IPv6 with mask 128', async () => {
    await fails('-A -6 -f 8', '-6 used before -f\n');
    await fails('-A -t 1.2.3.4:80 -6', '-6 used before -f\n');
    const c = await cmd('-A -f 10 -M 64 -6 -p');
    assert.ok(c.cmd === 'add-service');
    assert.deepEqual([c.service.family, c.service.netmask, c.service.addr], ['inet6', 128, '::']);
  });
  it('netmask: by the family known when -M is read', async () => {
    await fails('-A -t 1.2.3.21:80 -M 255.255.300.0', 'illegal virtual server persistent mask specified');
    await fails('-A -t [2001:db8::21]:80 -p -M abc', 'illegal ipv6 netmask specified');
    await fails('-A -t [2001:db8::3]:443 -s rr -p 60 -M 129', 'illegal ipv6 netmask specified');
    const m = async (l: string): Promise<number> => { const c = await cmd(l); assert.ok(c.cmd === 'add-service'); return c.service.netmask; };
    assert.equal(await m('-A -t [2001:db8::20]:80 -p -M 64abc'), 64);
    assert.equal(await m('-A -M 255.255.255.0 -t [2001:db8::22]:80 -p'), 128);
    assert.equal(await m('-A -t 1.2.3.4:80 -p -M 24'), 24);
    assert.equal(await m('-A -t 1.2.3.4:80 -p -M localhost'), 0x7f000001);
    assert.equal(await m('-A -t 1.2.3.4:80 -p -M 255.0.255.0'), 0xff00ff00);
  });
  it('scheduler names are cut to 15 characters and default to wlc', async () => {
    const s = async (l: string[]): Promise<string> => { const c = await cmd(l); assert.ok(c.cmd === 'add-service'); return c.service.scheduler; };
    assert.equal(await s(['-A', '-t', '1.2.3.4:80', '-s', 'verylongschedulername123']), 'verylongschedul');
    assert.equal(await s(['-A', '-t', '1.2.3.4:80', '-s', '']), 'wlc');
    assert.equal(await s(['-A', '-t', '1.2.3.4:80']), 'wlc');
  });
  it('sched flags', async () => {
    await fails('-A -t 1.2.3.15:80 -b sh-port', "incompatible scheduler flag `sh-port'");
    await fails('-A -t 1.2.3.15:80 -s sh -b mh-port', "incompatible scheduler flag `mh-port'");
    await fails('-A -t 1.2.3.15:80 -b foo', "invalid scheduler flag `foo'");
    await fails('-A -t 1.2.3.15:80 -s sh -b sh-port,foo', "invalid scheduler flag `foo'");
    // ipvsadm crashes on a list of commas only; lvsadm refuses it.
    await fails('-A -t 1.2.3.15:80 -b ,,', "invalid scheduler flag `,,'");
    // Parsed before the matrix check.
    await fails('-L -b foo', "invalid scheduler flag `foo'");
    const f = async (l: string[]): Promise<number> => { const c = await cmd(l); assert.ok(c.cmd === 'add-service'); return c.service.flags; };
    assert.equal(await f(['-A', '-t', '1.2.3.4:80', '-b', '']), 0);
    assert.equal(await f(['-A', '-t', '1.2.3.4:80', '-s', 'mh', '-b', ',mh-fallback,,mh-port,']), 0x18);
    assert.equal(await f(['-A', '-t', '1.2.3.4:80', '-s', 'sh', '-b', 'flag-3', '-p']), 0x21);
  });
  it('ops only for UDP and fwmark services', async () => {
    await fails('-A -t 1.2.3.20:80 -o', 'One-Packet Scheduling is only for UDP virtual services');
    await fails('--add-service --sctp-service 1.2.3.20:80 --ops', 'One-Packet Scheduling is only for UDP virtual services');
    assert.equal((await cmd('-A -u 1.2.3.20:80 -o')).cmd, 'add-service');
    assert.equal((await cmd('-A -f 7 -o')).cmd, 'add-service');
  });
  it('tunnels, sync daemon values', async () => {
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.9 -i --tun-type vxlan', 'illegal tunnel type specified');
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.9 -i --tun-type gue --tun-port 0', 'illegal tunnel port specified');
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.9 -i --tun-type gue --tun-port 65536', 'illegal tunnel port specified');
    await fails('--start-daemon master --syncid 256', 'illegal syncid specified');
    await fails(['--start-daemon', 'master', '--syncid', ''], 'illegal syncid specified');
    await fails('--start-daemon master --mcast-group 1.2.3.4', "invalid IPv4 mcast-group `1.2.3.4'");
    await fails('--start-daemon master --mcast-group 224.0.0.081', "invalid IPv4 mcast-group `224.0.0.081'");
    await fails('--start-daemon master --mcast-group ff02::zz', "invalid IPv6 mcast-group `ff02::zz'");
    await fails('--start-daemon master --mcast-group fe80::1', "invalid IPv6 mcast-group `fe80::1'");
    await fails('--start-daemon master --mcast-port 0', 'illegal mcast-port specified');
    await fails('--start-daemon master --mcast-ttl 256', 'illegal mcast-ttl specified');
    await fails('--start-daemon master --sync-maxlen 65508', 'illegal sync-maxlen specified');
    assert.deepEqual(await cmd('--start-daemon backup --mcast-group FF02::1 --mcast-port 65535 --mcast-ttl 255 --sync-maxlen 65507 --syncid 255'), {
      cmd: 'start-daemon', daemon: { state: 'backup', mcastIfn: 'eth0', syncid: 255, maxlen: 65507, group: 'ff02::1', port: 65535, ttl: 255 },
    });
  });
  it('each option once: multiple <name> options', async () => {
    await fails('-A -t 1.2.3.4:80 -u 1.2.3.4:80', "multiple 'service-address' options specified");
    await fails('-A -t 1.2.3.8:80 -f 1', "multiple 'service-address' options specified");
    await fails('-A -f 1 -6 -f 2', "multiple 'service-address' options specified");
    await fails('-A -t 1.2.3.13:80 -s rr -s wlc', "multiple 'scheduler' options specified");
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.1 -m -w 1 -g', "multiple 'forwarding-method' options specified");
    await fails('-L -n -n', "multiple 'numeric' options specified");
    await fails('-L -n --nosort --nosort', "multiple 'nosort' options specified");
    assert.equal((await cmd('-L -n --sort --sort')).cmd, 'list');
  });
});

describe('lvsadm parse: addresses (§3.1)', () => {
  const svc = async (l: string[]): Promise<unknown> => {
    const c = await cmd(l);
    assert.ok(c.cmd === 'add-service');
    return [c.service.family, c.service.addr, c.service.port];
  };
  it('inet_aton forms, host names from /etc/hosts, service names for the protocol', async () => {
    assert.deepEqual(await svc(['-A', '-t', '1.2.3:80']), ['inet', '1.2.0.3', 80]);
    assert.deepEqual(await svc(['-A', '-t', '0x01020305:80']), ['inet', '1.2.3.5', 80]);
    assert.deepEqual(await svc(['-A', '-t', '010.1.1.1:80']), ['inet', '8.1.1.1', 80]);
    assert.deepEqual(await svc(['-A', '-t', 'localhost:80']), ['inet', '127.0.0.1', 80]);
    // glibc maps the ::1 line to 127.0.0.1 for an IPv4 lookup.
    assert.deepEqual(await svc(['-A', '-t', 'ip6-localhost:81']), ['inet', '127.0.0.1', 81]);
    assert.deepEqual(await svc(['-A', '-t', 'ALIAS1:http']), ['inet', '10.9.9.9', 80]);
    assert.deepEqual(await svc(['-A', '-t', '1.2.3.6:www']), ['inet', '1.2.3.6', 80]);
    assert.deepEqual(await svc(['-A', '-u', '1.2.3.6:domain']), ['udp' === 'udp' ? 'inet' : '', '1.2.3.6', 53]);
    assert.deepEqual(await svc(['-A', '-t', '1.2.3.7:080']), ['inet', '1.2.3.7', 80]);
    assert.deepEqual(await svc(['-A', '-t', '1.2.3.7: 80']), ['inet', '1.2.3.7', 80]);
    assert.deepEqual(await svc(['-A', '-t', '1.2.3.30 :80']), ['inet', '1.2.3.30', 80]);
    assert.deepEqual(await svc(['-A', '-t', '1.2.3.4:65535']), ['inet', '1.2.3.4', 65535]);
  });
  it('IPv6: brackets need a port, a bare literal has none; a bracketed IPv4 loses its port', async () => {
    assert.deepEqual(await svc(['-A', '-t', '[2001:db8::1]:443']), ['inet6', '2001:db8::1', 443]);
    assert.deepEqual(await svc(['-A', '-t', '2001:db8::5', '-p']), ['inet6', '2001:db8::5', 0]);
    assert.deepEqual(await svc(['-A', '-t', '[::ffff:1.2.3.4]:80']), ['inet6', '::ffff:1.2.3.4', 80]);
    await fails('-A -t [1.2.3.4]:80', 'Zero port specified for non-persistent service');
    for (const a of ['[1.2.3.5]', '[2001:db8::9]', '[2001:db8::9]:', '[2001:db8::9]:http-x']) {
      await fails(['-A', '-t', a], 'illegal virtual server address[:port] specified');
    }
  });
  it('refused addresses and ports', async () => {
    for (const a of ['300.1.1.1:80', '1.2.3.4.5:80', 'abc:80', ':80', '1.2.3.4:', '1.2.3.4:99999', '1.2.3.4:65536',
      '1.2.3.4:-1', '1.2.3.4:abc', '1.2.3.6:0x50', '80', '1.2.3.4:80:90', '08.1.1.1:80', '']) {
      await fails(['-A', '-t', a], 'illegal virtual server address[:port] specified');
    }
    await fails('-A -u 1.2.3.6:www', 'illegal virtual server address[:port] specified');
    await fails('-A --sctp-service 1.2.3.6:http', 'illegal virtual server address[:port] specified');
    await fails('-a -t 1.2.3.4:80 -r 192.168.10.10:99999', 'illegal real server address[:port] specified');
    await fails('-a -t 1.2.3.4:80 -r 300.1.1.1', 'illegal real server address[:port] specified');
    // Before -t the protocol is unknown, so no service name resolves.
    await fails('-a -r 10.0.0.1:http -t 1.2.3.4:80', 'illegal real server address[:port] specified');
    await fails('-a -u 1.2.3.6:53 -r 10.0.0.2:http -m', 'illegal real server address[:port] specified');
  });
  it('inet_aton', () => {
    assert.equal(inetAton('1.2.3.4'), 0x01020304);
    assert.equal(inetAton('1.2.3.4 trailing'), 0x01020304);
    assert.equal(inetAton('10.1'), 0x0a000001);
    assert.equal(inetAton('0x7f.1'), 0x7f000001);
    assert.equal(inetAton('4294967295'), 0xffffffff);
    assert.equal(inetAton('1.65536'), 0x01010000);
    for (const bad of ['', '1.2.3.4.5', '256.1.1.1', '1.2.3.256', '1.16777216', '1.2.65536', '08', '0x', '1..2', '1.2.3.', ' 1.2.3.4', '4294967296', 'a']) {
      assert.equal(inetAton(bad), null, bad);
    }
  });
  it('-r takes the virtual port (as known then) when none is given; -g/-i force it', async () => {
    const d = async (l: string): Promise<number> => { const c = await cmd(l); assert.ok(c.cmd === 'add-server' || c.cmd === 'delete-server'); return c.dest.port; };
    assert.equal(await d('-a -t 1.2.3.4:80 -r 10.0.0.1 -m'), 80);
    assert.equal(await d('-a -r 10.0.0.1 -t 1.2.3.4:80 -m'), 0);
    assert.equal(await d('-a -t 1.2.3.4:80 -r 10.0.0.1:8080 -m'), 8080);
    assert.equal(await d('-a -t 1.2.3.4:80 -r 10.0.0.1:8080'), 80);
    assert.equal(await d('-a -t 1.2.3.4:80 -r 10.0.0.1:8080 -i'), 80);
    assert.equal(await d('-a -f 1 -r 10.0.0.1:8080 -g'), 8080);
    assert.equal(await d('-d -t 1.2.3.4:80 -r 10.0.0.1:8080'), 8080);
  });
});

describe('lvsadm parse: the command x option matrix and semantic checks (§4)', () => {
  it('required options', async () => {
    await fails('-A', "You need to supply the 'service-address' option for the 'add-service' command");
    await fails('-A -s rr', "You need to supply the 'service-address' option for the 'add-service' command");
    await fails('-E', "You need to supply the 'service-address' option for the 'edit-service' command");
    await fails('-D', "You need to supply the 'service-address' option for the 'delete-service' command");
    await fails('-a', "You need to supply the 'service-address' option for the 'add-server' command");
    await fails('-a -t 172.16.100.1:80', "You need to supply the 'real-server' option for the 'add-server' command");
    await fails('-e -t 172.16.100.1:80', "You need to supply the 'real-server' option for the 'edit-server' command");
    await fails('-d -t 172.16.100.1:80', "You need to supply the 'real-server' option for the 'delete-server' command");
  });
  it('illegal options, first in column order', async () => {
    await fails('-A -t 1.2.3.9:80 -r 5.6.7.8', "Illegal 'real-server' option with the 'add-service' command");
    await fails('-A -t 1.2.3.9:80 -w 3', "Illegal 'weight' option with the 'add-service' command");
    await fails('-A -t 1.2.3.9:80 -m', "Illegal 'forwarding-method' option with the 'add-service' command");
    await fails('-A -t 1.2.3.9:80 -x 10', "Illegal 'u-threshold' option with the 'add-service' command");
    await fails('-A -t 1.2.3.11:80 --stats', "Illegal 'stats' option with the 'add-service' command");
    await fails('-A -t 1.2.3.12:80 -n', "Illegal 'numeric' option with the 'add-service' command");
    await fails('-a -t 172.16.100.1:80 -r 192.168.10.13 -s rr', "Illegal 'scheduler' option with the 'add-server' command");
    await fails('-a -t 172.16.100.1:80 -r 192.168.10.13 -p 60', "Illegal 'persistent' option with the 'add-server' command");
    await fails('-D -t 172.16.100.1:80 -s rr', "Illegal 'scheduler' option with the 'delete-service' command");
    await fails('-d -t 1.1.1.1:80 -r 1.1.1.9:99 -m', "Illegal 'forwarding-method' option with the 'delete-server' command");
    await fails('-C -t 172.16.100.1:80', "Illegal 'service-address' option with the 'flush' command");
    await fails('-C -n', "Illegal 'numeric' option with the 'flush' command");
    await fails('-S --stats', "Illegal 'stats' option with the 'save' command");
    await fails('-S -n -t 172.16.100.1:80', "Illegal 'service-address' option with the 'save' command");
    await fails('-R -n', "Illegal 'numeric' option with the 'restore' command");
    await fails('-Z --stats', "Illegal 'stats' option with the 'zero' command");
    await fails('--set 1 2 3 -n', "Illegal 'numeric' option with the 'set' command");
    await fails('--start-daemon master -n', "Illegal 'numeric' option with the 'start-daemon' command");
    await fails('--stop-daemon master --mcast-interface lo', "Illegal 'mcast-interface' option with the 'stop-daemon' command");
    await fails('-L -s rr', "Illegal 'scheduler' option with the 'list' command");
    // the numeric column comes first
    await fails('-A -t 1.2.3.4:80 -w 1 -n', "Illegal 'numeric' option with the 'add-service' command");
  });
  it('the list command: one of -c, a service, --timeout, --daemon; and the extra rule', async () => {
    await fails('-L -n -c -t 172.16.100.1:80', "The option 'service-address' conflicts with the 'connection' option in the 'list' command");
    await fails('-L --timeout -t 172.16.100.1:80', "The option 'timeout' conflicts with the 'service-address' option in the 'list' command");
    await fails('-L -c --timeout', "The option 'timeout' conflicts with the 'connection' option in the 'list' command");
    await fails('-L --timeout --daemon', "The option 'daemon' conflicts with the 'timeout' option in the 'list' command");
    await fails('-L -n -c --stats', 'options conflicts in the list command');
    await fails('-L --daemon --persistent-conn', 'options conflicts in the list command');
    await fails('-L --timeout --thresholds', 'options conflicts in the list command');
    assert.deepEqual(await cmd('-L -n -c --persistent-conn'), { cmd: 'list', what: 'conns', format: { numeric: true, stats: false, rate: false, thresholds: false, persistentConn: true, nosort: false, exact: false, tunInfo: false } });
  });
  it('services: zero port needs persistence', async () => {
    await fails('-A -t 172.16.100.5:0 -s rr', 'Zero port specified for non-persistent service');
    await fails('-E -t 1.2.3.5', 'Zero port specified for non-persistent service');
    assert.equal((await cmd('-A -t 172.16.100.4:0 -s rr -p')).cmd, 'add-service');
  });
  it('real servers: families, tunnel options per type', async () => {
    await fails('-a -t 1.2.3.4:80 -r [2001:db8::5]:80 -m', 'Different address family is allowed only for tunneling servers');
    await fails('-a -t [2001:db8::5]:80 -r 10.0.0.8 -g', 'Different address family is allowed only for tunneling servers');
    assert.equal((await cmd('-a -t 1.2.3.4:80 -r [2001:db8::5]:80 -i')).cmd, 'add-server');
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.29 -m --tun-type gre', 'Tunnel options conflict with forward method');
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.10 --tun-port 5', 'Tunnel options conflict with forward method');
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.27 -i --tun-type gue', "You need to supply the 'tun-port' option for the 'gue' tunnel type");
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.30 -i --tun-type ipip --tun-port 5', "Illegal 'tun-port' option with the 'ipip' tunnel type");
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.9 -i --tun-nocsum', "Illegal 'tun-nocsum' option with the 'ipip' tunnel type");
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.9 -i --tun-type gre --tun-port 5', "Illegal 'tun-port' option with the 'gre' tunnel type");
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.9 -i --tun-type gre --tun-remcsum', "Illegal 'tun-remcsum' option with the 'gre' tunnel type");
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.9 -i --tun-type gre --tun-nocsum --tun-csum', "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gre' tunnel type");
    await fails('-a -t 1.2.3.4:80 -r 10.0.0.9 -i --tun-type gue --tun-port 6080 --tun-csum --tun-remcsum', "The option 'tun-remcsum' conflicts with the 'tun-csum' option in the 'gue' tunnel type");
    const c = await cmd('-e -t 1.2.3.4:80 -r 10.0.0.9 -i --tun-type gue --tun-port 6080 --tun-remcsum');
    assert.ok(c.cmd === 'edit-server');
    assert.deepEqual(c.dest, { family: 'inet', addr: '10.0.0.9', port: 80, fwd: 'tunnel', weight: 1, uThreshold: 0, lThreshold: 0, tunType: 'gue', tunPort: 6080, tunFlags: 2 });
  });
  it('-E and -e send complete definitions with defaults for what is not given', async () => {
    const e = await cmd('-E -t 1.2.3.4:80');
    assert.deepEqual(e, { cmd: 'edit-service', service: { family: 'inet', protocol: 'tcp', addr: '1.2.3.4', port: 80, fwmark: 0, scheduler: 'wlc', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' } });
    const d = await cmd('-e -t 1.2.3.4:80 -r 10.0.0.1:8080');
    assert.ok(d.cmd === 'edit-server');
    assert.deepEqual([d.dest.fwd, d.dest.weight, d.dest.port, d.dest.tunType], ['route', 1, 80, 'ipip']);
  });
  it('-Z without a service, or with an all-zero one, zeroes everything', async () => {
    assert.deepEqual(await cmd('-Z'), { cmd: 'zero' });
    assert.deepEqual(await cmd('-Z -t 0.0.0.0:0'), { cmd: 'zero' });
    assert.deepEqual(await cmd('-Z -t 0.0.0.0'), { cmd: 'zero' });
    assert.deepEqual(await cmd('-Z -u 1.1.1.1:80'), { cmd: 'zero', service: { family: 'inet', protocol: 'udp', addr: '1.1.1.1', port: 80, fwmark: 0 } });
  });
});

// plugins/sync/lib/socket.ts against the real kernel: two network namespaces
// joined by a veth pair, a master in one and backups in both, each socket in
// a child node process (test/fixtures/sync-socket/run.ts) inside its
// namespace. The IPv4 header (DF, TTL) is checked on a tcpdump capture in
// the backup's namespace. Needs root and `ip netns` (tcpdump for the header
// check); otherwise skipped with the reason printed.

import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { interfaceInfo, openBackup, openMaster } from '../plugins/sync/lib/socket.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURE = join(ROOT, 'test/fixtures/sync-socket/run.ts');

describe('sync socket: without a namespace', () => {
  it('an unknown interface is ENODEV for both roles, and interfaceInfo says null', () => {
    const o = { ifname: 'lssnodev0', group: '224.0.0.81', port: 8848, ttl: 1, sockSize: 0 };
    const m = openMaster(o);
    assert.equal(m.ok, false);
    if (m.ok) return;
    assert.equal(m.error.errno, 19);
    assert.match(m.error.message, /^sync master socket on lssnodev0: no such device \(ENODEV\)$/);
    const b = openBackup({ ...o, maxlen: 1472 }, () => {}, () => {});
    assert.equal(b.ok, false);
    if (!b.ok) assert.equal(b.error.errno, 19);
    assert.equal(interfaceInfo('lssnodev0'), null);
  });

  it('a group that is not multicast, or a bad TTL, is EINVAL', () => {
    const m = openMaster({ ifname: 'lo', group: '10.0.0.1', port: 8848, ttl: 1, sockSize: 0 });
    assert.ok(!m.ok && m.error.errno === 22 && /not an IPv4 or IPv6 multicast group/.test(m.error.message));
    const t = openMaster({ ifname: 'lo', group: '224.0.0.81', port: 8848, ttl: 0, sockSize: 0 });
    assert.ok(!t.ok && t.error.errno === 22);
    const b = openBackup({ ifname: 'lo', group: 'fe80::1', port: 8848, ttl: 1, sockSize: 0, maxlen: 1472 }, () => {}, () => {});
    assert.ok(!b.ok && b.error.errno === 22);
  });
});

interface Ev { ev: string; [k: string]: unknown }

/** A fixture process in a namespace, its JSON-line events as they come. */
class Child {
  readonly events: Ev[] = [];
  readonly exited: Promise<number | null>;
  private waiters: Array<() => void> = [];
  constructor(readonly p: ChildProcessWithoutNullStreams) {
    createInterface({ input: p.stdout }).on('line', (l) => {
      try { this.events.push(JSON.parse(l) as Ev); } catch { return; }
      for (const w of this.waiters.splice(0)) w();
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    this.exited = new Promise((res) => p.on('exit', (code) => {
      if (code) console.log(err);
      for (const w of this.waiters.splice(0)) w();
      res(code);
    }));
  }
  async wait(pred: (e: Ev) => boolean, ms = 15000): Promise<Ev> {
    const end = Date.now() + ms;
    for (;;) {
      const e = this.events.find(pred);
      if (e) return e;
      if (Date.now() > end || this.p.exitCode !== null) throw new Error(`no such event; got ${JSON.stringify(this.events)}`);
      await new Promise<void>((res) => { this.waiters.push(res); setTimeout(res, 200); });
    }
  }
  cmd(c: object): void { this.p.stdin.write(JSON.stringify(c) + '\n'); }
  /** close (twice) and the process must end by itself, its socket count back where it was. */
  async close(): Promise<Ev> {
    this.cmd({ cmd: 'close' });
    const t = setTimeout(() => this.p.kill('SIGKILL'), 10000);
    const code = await this.exited;
    clearTimeout(t);
    assert.equal(code, 0, 'the child did not exit by itself after close()');
    const x = await this.wait((e) => e.ev === 'exit', 0);
    assert.equal(x.socketsOpen, (x.socketsBefore as number) + 1);
    assert.equal(x.socketsAfter, x.socketsBefore);
    return x;
  }
}

const pid = process.pid % 100000;
const NS = { a: `lss${pid}a`, b: `lss${pid}b`, c: `lss${pid}c` };
const IF = { a: `lss${pid}x`, b: `lss${pid}y`, na: `lss${pid}n`, nb: `lss${pid}m`, c0: `lss${pid}p`, c1: `lss${pid}q` };
const X = 1 + (process.pid % 250);
const A4 = `10.250.${X}.1`, B4 = `10.250.${X}.2`;

describe('sync socket: master and backup across two namespaces', function () {
  this.timeout(60000);
  const children: Child[] = [];
  let tmp = '';
  let haveTcpdump = false;

  const sh = (...args: string[]) => {
    const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.error}`);
    return r.stdout;
  };
  const run = (ns: string, args: object): Child => {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', FIXTURE, JSON.stringify(args)], { cwd: ROOT, stdio: 'pipe' });
    const c = new Child(p);
    children.push(c);
    return c;
  };
  const opened = async (c: Child) => {
    const e = await c.wait((x) => x.ev === 'open');
    assert.equal(e.ok, true, JSON.stringify(e));
    return e;
  };

  before(function () {
    if (process.getuid?.() !== 0) { console.log('    (skipped: needs root for network namespaces)'); this.skip(); }
    if (spawnSync('ip', ['netns', 'list']).status !== 0) { console.log('    (skipped: `ip netns` is not available)'); this.skip(); }
    haveTcpdump = spawnSync('tcpdump', ['--version']).status === 0;
    tmp = mkdtempSync(join(tmpdir(), 'lss-'));
    for (const ns of Object.values(NS)) {
      sh('ip', 'netns', 'add', ns);
      sh('ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.all.accept_dad=0');
      sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    }
    sh('ip', '-n', NS.a, 'link', 'add', IF.a, 'type', 'veth', 'peer', 'name', IF.b, 'netns', NS.b);
    // an interface without addresses in A (A has others), and a namespace C with none at all
    sh('ip', '-n', NS.a, 'link', 'add', IF.na, 'type', 'veth', 'peer', 'name', IF.nb);
    sh('ip', '-n', NS.c, 'link', 'add', IF.c0, 'type', 'veth', 'peer', 'name', IF.c1);
    // first a link-scope address, then the primary, then a secondary: the master binds to the primary
    sh('ip', '-n', NS.a, 'addr', 'add', `10.251.${X}.1/24`, 'scope', 'link', 'dev', IF.a);
    sh('ip', '-n', NS.a, 'addr', 'add', `${A4}/24`, 'dev', IF.a);
    sh('ip', '-n', NS.a, 'addr', 'add', `10.250.${X}.7/24`, 'dev', IF.a);
    sh('ip', '-n', NS.a, 'addr', 'add', 'fd00:250::1/64', 'nodad', 'dev', IF.a);
    sh('ip', '-n', NS.b, 'addr', 'add', `${B4}/24`, 'dev', IF.b);
    sh('ip', '-n', NS.b, 'addr', 'add', 'fd00:250::2/64', 'nodad', 'dev', IF.b);
    for (const [ns, i] of [[NS.a, IF.a], [NS.a, IF.na], [NS.a, IF.nb], [NS.b, IF.b], [NS.c, IF.c0], [NS.c, IF.c1]] as const) {
      sh('ip', '-n', ns, 'link', 'set', i, 'up');
    }
  });

  after(async () => {
    for (const c of children) if (c.p.exitCode === null && c.p.signalCode === null) c.p.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('interfaceInfo: ifindex, MTU, the primary IPv4 address (not the link-scope or secondary one), an IPv6 address', async () => {
    const c = run(NS.a, { role: 'info', ifname: IF.a });
    const e = await c.wait((x) => x.ev === 'info');
    const info = e.info as { ifindex: number; mtu: number; ipv4?: string; ipv6?: string };
    assert.ok(info.ifindex > 0);
    assert.equal(info.mtu, 1500);
    assert.equal(info.ipv4, A4);
    assert.equal(info.ipv6, 'fd00:250::1');
    const n = run(NS.a, { role: 'info', ifname: IF.na });
    const ni = (await n.wait((x) => x.ev === 'info')).info as { ipv4?: string; ipv6?: string };
    assert.equal(ni.ipv4, undefined);
    assert.match(ni.ipv6 ?? '', /^fe80:/);
    assert.equal(await c.exited, 0);
    assert.equal(await n.exited, 0);
  });

  it('IPv4: byte-identical delivery from the primary address to 224.0.0.81:8848, DF clear, TTL as set, no loopback; a long datagram is truncated and counted', async function () {
    const group = '224.0.0.81', port = 8848;
    const backup = run(NS.b, { role: 'backup', ifname: IF.b, group, port, ttl: 1, sockSize: 65536, maxlen: 1472 });
    // a listener in the master's own namespace: must not see the master's messages (loopback off)
    const own = run(NS.a, { role: 'backup', ifname: IF.a, group, port, ttl: 1, sockSize: 0, maxlen: 1024 });
    await opened(backup);
    await opened(own);
    const pcap = join(tmp, 'v4.pcap');
    let dump: ReturnType<typeof spawn> | null = null;
    if (haveTcpdump) {
      dump = spawn('ip', ['netns', 'exec', NS.b, 'tcpdump', '-i', IF.b, '-U', '-c', '1', '-w', pcap, 'udp and dst host 224.0.0.81 and dst port 8848'], { stdio: ['ignore', 'ignore', 'pipe'] });
      await new Promise<void>((res, rej) => {
        let s = '';
        dump!.stderr!.on('data', (d: Buffer) => { s += d.toString(); if (s.includes('listening on')) res(); });
        dump!.on('exit', () => rej(new Error(`tcpdump: ${s}`)));
      });
    } else {
      console.log('    (tcpdump not installed: the IPv4 header is not checked)');
    }
    const master = run(NS.a, { role: 'master', ifname: IF.a, group, port, ttl: 3, sockSize: 32768 });
    const mo = await opened(master);
    assert.equal(mo.localAddress, A4);
    assert.ok((mo.localPort as number) > 0);
    assert.equal(mo.warning, undefined);

    // sockSize: SO_RCVBUF / SO_SNDBUF, doubled by the kernel as always (ss: rb / tb)
    if (spawnSync('ss', ['-V']).status === 0) {
      const skmem = (ns: string, filter: string) => sh('ip', 'netns', 'exec', ns, 'ss', '-Huanm', filter);
      assert.match(skmem(NS.b, `dst ${group}:${port}`) + skmem(NS.b, `src ${group}:${port}`), /rb131072,/);
      assert.match(skmem(NS.a, `dst ${group}:${port}`), /tb65536,/);
    }

    const payload = Buffer.alloc(100);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 37 + 11) & 0xff;
    master.cmd({ cmd: 'send', hex: payload.toString('hex') });
    assert.deepEqual((await master.wait((e) => e.ev === 'sent')).r, { ok: true });
    const got = await backup.wait((e) => e.ev === 'msg');
    assert.equal(got.hex, payload.toString('hex'));
    assert.equal(got.from, A4);
    assert.equal(got.received, 1);
    assert.equal(got.truncated, 0);

    if (dump) {
      const code = await new Promise<number | null>((res) => { if (dump!.exitCode !== null) res(dump!.exitCode); else dump!.on('exit', res); });
      assert.equal(code, 0);
      const f = readFileSync(pcap);
      assert.equal(f.readUInt32LE(0), 0xa1b2c3d4, 'pcap magic');
      assert.equal(f.readUInt32LE(20), 1, 'Ethernet capture');
      const frame = f.subarray(24 + 16, 24 + 16 + f.readUInt32LE(24 + 8));
      assert.equal(frame.subarray(0, 6).toString('hex'), '01005e000051');
      const ip = frame.subarray(14);
      assert.equal(ip[0], 0x45, 'IPv4, no options');
      assert.equal(ip.readUInt16BE(6) & 0x4000, 0, 'DF clear');
      assert.equal(ip.readUInt16BE(6) & 0x3fff, 0, 'not fragmented');
      assert.equal(ip[8], 3, 'TTL as configured');
      assert.equal(ip[9], 17);
      assert.equal(`${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`, A4);
      assert.equal(`${ip[16]}.${ip[17]}.${ip[18]}.${ip[19]}`, group);
      const udp = ip.subarray(20);
      assert.equal(udp.readUInt16BE(0), mo.localPort);
      assert.equal(udp.readUInt16BE(2), port);
      assert.equal(udp.readUInt16BE(4), 8 + payload.length);
      assert.deepEqual(Buffer.from(udp.subarray(8, 8 + payload.length)), payload);
    }

    // 2000 bytes from B (fragmented: DF is clear) to the listener in A, whose maxlen is 1024
    const masterB = run(NS.b, { role: 'master', ifname: IF.b, group, port, ttl: 1, sockSize: 0 });
    await opened(masterB);
    const big = Buffer.alloc(2000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + 3) & 0xff;
    masterB.cmd({ cmd: 'send', hex: big.toString('hex') });
    assert.deepEqual((await masterB.wait((e) => e.ev === 'sent')).r, { ok: true });
    const cut = await own.wait((e) => e.ev === 'msg');
    assert.equal(cut.hex, big.subarray(0, 1024).toString('hex'));
    assert.equal(cut.from, B4);
    assert.equal(cut.received, 1);
    assert.equal(cut.truncated, 1);
    // the listener works, and got nothing of A's own master; B's backup nothing of B's master
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(own.events.filter((e) => e.ev === 'msg').length, 1);
    assert.equal(backup.events.filter((e) => e.ev === 'msg').length, 1);

    for (const c of [master, masterB, backup, own]) await c.close();
  });

  it('IPv6: a link-scope group (ff02::) goes out from the link-local address, a site-scope one (ff05::) from the global one', async () => {
    for (const [group, src] of [['ff02::51', /^fe80:/], ['ff05::51', /^fd00:250::1$/]] as const) {
      const backup = run(NS.b, { role: 'backup', ifname: IF.b, group, port: 8848, ttl: 1, sockSize: 0, maxlen: 1452 });
      const own = run(NS.a, { role: 'backup', ifname: IF.a, group, port: 8848, ttl: 1, sockSize: 0, maxlen: 1452 });
      await opened(backup);
      await opened(own);
      const master = run(NS.a, { role: 'master', ifname: IF.a, group, port: 8848, ttl: 1, sockSize: 0 });
      const mo = await opened(master);
      assert.match(mo.localAddress as string, src);
      const payload = Buffer.from(`sync over ${group}`);
      master.cmd({ cmd: 'send', hex: payload.toString('hex') });
      assert.deepEqual((await master.wait((e) => e.ev === 'sent')).r, { ok: true });
      const got = await backup.wait((e) => e.ev === 'msg');
      assert.equal(got.hex, payload.toString('hex'));
      assert.equal(got.from, mo.localAddress);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(own.events.filter((e) => e.ev === 'msg').length, 0, 'multicast loopback is off');
      for (const c of [master, backup, own]) await c.close();
    }
  });

  it('IPv4 master on an interface without an address: another interface\'s address as the kernel picks it; none in the namespace: 0.0.0.0 and the kernel\'s warning', async () => {
    const o = { role: 'master', group: '224.0.0.81', port: 8848, ttl: 1, sockSize: 0 };
    const m = run(NS.a, { ...o, ifname: IF.na });
    const mo = await opened(m);
    assert.equal(mo.warning, undefined);
    assert.equal(mo.localAddress, A4);
    await m.close();
    const w = run(NS.c, { ...o, ifname: IF.c0 });
    const wo = await opened(w);
    assert.equal(wo.warning, 'You probably need to specify IP address on multicast interface.');
    assert.equal(wo.localAddress, '0.0.0.0');
    await w.close();
  });

  it('unknown interface inside a namespace: ENODEV, and nothing left open', async () => {
    for (const role of ['master', 'backup']) {
      const c = run(NS.b, { role, ifname: IF.a /* lives in A */, group: '224.0.0.81', port: 8848, ttl: 1, sockSize: 0 });
      const e = await c.wait((x) => x.ev === 'open');
      assert.equal(e.ok, false);
      assert.equal(e.errno, 19);
      assert.match(e.message as string, new RegExp(`^sync ${role} socket on ${IF.a}: no such device \\(ENODEV\\)$`));
      c.cmd({ cmd: 'close' });
      assert.equal(await c.exited, 0);
      const x = await c.wait((v) => v.ev === 'exit', 0);
      assert.equal(x.socketsAfter, x.socketsBefore);
      assert.equal(x.socketsOpen, x.socketsBefore);
    }
  });
});

// plugins/ha/lib/vrrp-net.ts against the real kernel. Without a namespace:
// argument and interface errors (NetError, nothing thrown), linkInfo('lo'),
// and the GARP / NA frame builders. With two network namespaces joined by a
// veth pair (lvn<pid>a / lvn<pid>b), each side driven by a child process
// (test/vrrp-net-child.ts): adverts both ways, IPv4 and IPv6, multicast and
// unicast, checked byte for byte at the peer's channel and on a tcpdump
// capture (decoded by tshark); VIPs; GARP and NA frames; link state; VMAC;
// and that a process whose channels are closed exits by itself.
// Needs root and `ip netns`; tcpdump / tshark checks are skipped (with the
// reason printed) when the tool is absent.

import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  addAddress, createVmac, deleteAddress, deleteVmac, garpFrame, hasAddress, linkInfo, openChannel,
  sendGratuitousArp, sendUnsolicitedNa, unsolicitedNaFrame, vmacAddress,
} from '../plugins/ha/lib/vrrp-net.js';
import { encodeAdvert, encodeVrrp, inetChecksum, parseIp4, parseIp6 } from '../plugins/ha/lib/vrrp-packet.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHILD = join(ROOT, 'test/vrrp-net-child.ts');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const ip4 = (s: string) => parseIp4(s)!;
const ip6 = (s: string) => parseIp6(s)!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const have = (tool: string, arg = '--version') => spawnSync(tool, [arg]).status === 0;

describe('vrrp-net: without a namespace', () => {
  it('an unknown interface is ENODEV everywhere, as a NetError with the step named; nothing throws', () => {
    const bad = 'lvnnodev0';
    const ch = openChannel({ ifname: bad, family: 4, onPacket: () => {} });
    assert.ok(!ch.ok);
    if (ch.ok) return;
    assert.equal(ch.error.errno, 19);
    assert.equal(ch.error.what, 'if_nametoindex');
    assert.match(ch.error.message, /^vrrp socket on lvnnodev0: No such device \(ENODEV\) \[if_nametoindex\]$/);
    const ch6 = openChannel({ ifname: bad, family: 6, onPacket: () => {} });
    assert.ok(!ch6.ok && ch6.error.errno === 19);
    for (const r of [
      addAddress(bad, '198.18.0.100', 32), deleteAddress(bad, '198.18.0.100', 32), addAddress(bad, 'fd00::1', 128),
      sendGratuitousArp(bad, '198.18.0.100', 1), sendUnsolicitedNa(bad, 'fd00::1', 1),
      createVmac(bad, 51, 4), deleteVmac(bad),
    ]) {
      assert.ok(!r.ok, JSON.stringify(r));
      if (!r.ok) { assert.equal(r.error.errno, 19, r.error.message); assert.match(r.error.message, /No such device/); }
    }
    assert.equal(hasAddress(bad, '198.18.0.100'), false);
    assert.equal(linkInfo(bad), null);
    assert.equal(linkInfo(''), null);
    assert.equal(linkInfo('a/b'), null);
    assert.equal(linkInfo('x'.repeat(40)), null);
  });

  it('bad arguments are EINVAL with a reason, never a throw', () => {
    const cases = [
      openChannel({ ifname: 'lo', family: 5 as 4, onPacket: () => {} }),
      openChannel({ ifname: 'lo', family: 4, group: '10.0.0.1', onPacket: () => {} }),
      openChannel({ ifname: 'lo', family: 6, group: '224.0.0.18', onPacket: () => {} }),
      addAddress('lo', 'not-an-address', 32),
      addAddress('lo', '198.18.0.1', 33),
      addAddress('lo', 'fd00::1', 129),
      deleteAddress('lo', '1.2.3', 32),
      sendGratuitousArp('lo', 'fd00::1', 1),
      sendUnsolicitedNa('lo', '198.18.0.1', 1),
      createVmac('lo', 0, 4),
      createVmac('lo', 256, 4),
      createVmac('lo', 51, 4, 'a name too long for linux'),
    ];
    for (const r of cases) {
      assert.ok(!r.ok, JSON.stringify(r));
      if (!r.ok) { assert.equal(r.error.errno, 22, r.error.message); assert.equal(r.error.what, ''); }
    }
    assert.equal(hasAddress('lo', 'nonsense'), false);
  });

  it('linkInfo(lo): index 1, up, loopback address first, MTU', function () {
    const l = linkInfo('lo');
    assert.ok(l);
    assert.equal(l.ifindex, 1);
    assert.equal(l.up, true);
    assert.ok(l.mtu > 0);
    assert.equal(l.ipv4[0], '127.0.0.1');
  });

  it('the GARP frame is keepalived\'s 42 bytes (spec §5.4)', () => {
    const mac = unhex('020000000011');
    const f = garpFrame(mac, ip4('198.18.0.100'));
    assert.equal(hex(f),
      'ffffffffffff' + '020000000011' + '0806' + // Ethernet: broadcast, our MAC, ARP
      '0001' + '0800' + '06' + '04' + '0001' + //   Ethernet/IPv4, 6/4, request
      '020000000011' + 'c6120064' + //               sender: MAC, VIP
      'ffffffffffff' + 'c6120064'); //               target: all ones, VIP
  });

  it('the NA frame is vrrp_ndisc.c\'s 86 bytes with a valid ICMPv6 checksum; R only when forwarding', () => {
    const mac = unhex('020000000011');
    const vip = ip6('fd00:250::100');
    for (const router of [false, true]) {
      const f = unsolicitedNaFrame(mac, vip, router);
      assert.equal(f.length, 86);
      assert.equal(hex(f.subarray(0, 14)), '333300000001' + '020000000011' + '86dd');
      assert.equal(hex(f.subarray(14, 22)), '60000000' + '0020' + '3a' + 'ff'); // tc 0, flow 0, len 32, ICMPv6, hop 255
      assert.deepEqual(f.subarray(22, 38), vip);
      assert.equal(hex(f.subarray(38, 54)), 'ff020000000000000000000000000001');
      assert.equal(f[54], 136);
      assert.equal(f[55], 0);
      assert.equal(hex(f.subarray(58, 62)), router ? 'a0000000' : '20000000');
      assert.deepEqual(f.subarray(62, 78), vip);
      assert.equal(hex(f.subarray(78, 86)), '0201' + '020000000011');
      const pseudo = new Uint8Array(40);
      pseudo.set(f.subarray(22, 54));
      pseudo[35] = 32; pseudo[39] = 58;
      assert.equal(inetChecksum(pseudo, f.subarray(54)), 0, 'checksum verifies');
    }
  });

  it('vmacAddress: 00:00:5e:00:01:<vrid> / 00:00:5e:00:02:<vrid>', () => {
    assert.equal(hex(vmacAddress(51, 4)), '00005e000133');
    assert.equal(hex(vmacAddress(255, 6)), '00005e0002ff');
  });
});

// ------------------------------------------------------------------ two namespaces

interface Ev { ev: string; id?: number; ok?: boolean; value?: unknown; errno?: number; message?: string; hex?: string; ch?: string; [k: string]: unknown }

class Child {
  readonly events: Ev[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';
  private nextId = 1;
  private waiters: Array<() => void> = [];
  constructor(readonly p: ChildProcessWithoutNullStreams) {
    createInterface({ input: p.stdout }).on('line', (l) => {
      try { this.events.push(JSON.parse(l) as Ev); } catch { return; }
      for (const w of this.waiters.splice(0)) w();
    });
    p.stderr.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.exited = new Promise((res) => p.on('exit', (code) => {
      for (const w of this.waiters.splice(0)) w();
      res(code);
    }));
  }
  async wait(pred: (e: Ev) => boolean, ms = 10000): Promise<Ev> {
    const end = Date.now() + ms;
    for (;;) {
      const e = this.events.find(pred);
      if (e) return e;
      if (Date.now() > end || this.p.exitCode !== null) {
        throw new Error(`no such event; got ${JSON.stringify(this.events.slice(-10))} ${this.stderr}`);
      }
      await new Promise<void>((res) => { this.waiters.push(res); setTimeout(res, 100); });
    }
  }
  async call(c: Record<string, unknown>): Promise<Ev> {
    const id = this.nextId++;
    this.p.stdin.write(JSON.stringify({ ...c, id }) + '\n');
    return this.wait((e) => e.ev === 'reply' && e.id === id);
  }
  async ok(c: Record<string, unknown>): Promise<unknown> {
    const r = await this.call(c);
    assert.equal(r.ok, true, JSON.stringify(r));
    return r.value;
  }
  packets(ch = 'ch'): Ev[] { return this.events.filter((e) => e.ev === 'packet' && e.ch === ch); }
  clearPackets(): void {
    for (let i = this.events.length - 1; i >= 0; i--) if (this.events[i]!.ev === 'packet') this.events.splice(i, 1);
  }
}

const pid = process.pid % 100000;
const NS = { a: `lvn${pid}a`, b: `lvn${pid}b` };
const IF = { a: `lvn${pid}x`, b: `lvn${pid}y`, p: `lvn${pid}p`, q: `lvn${pid}q`, j: `lvn${pid}j`, k: `lvn${pid}k`, r: `lvn${pid}r`, s: `lvn${pid}s` };
const A4 = '198.18.0.11', B4 = '198.18.0.12', VIP4 = '198.18.0.100';
const A6 = 'fd00:250::11', B6 = 'fd00:250::12', VIP6 = 'fd00:250::100';

interface LinkJson { ifindex: number; mac: string; mtu: number; up: boolean; ipv4: string[]; ipv6: string[]; ipv6LinkLocal?: string; flags: number }

/** Frames of a classic pcap file (Ethernet link type). */
function pcapFrames(file: string): Uint8Array[] {
  const b = new Uint8Array(readFileSync(file));
  if (b.length < 24) return [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = dv.getUint32(0, true) === 0xa1b2c3d4 || dv.getUint32(0, true) === 0xa1b23c4d;
  const out: Uint8Array[] = [];
  for (let o = 24; o + 16 <= b.length;) {
    const incl = dv.getUint32(o + 8, le);
    out.push(b.slice(o + 16, o + 16 + incl));
    o += 16 + incl;
  }
  return out;
}

describe('vrrp-net: two namespaces', function () {
  this.timeout(60000);
  let a: Child, b: Child;
  let tmp = '';
  const children: Child[] = [];
  /** tcpdump processes still running: a failed test leaves its capture behind, afterEach ends it */
  const captures = new Set<ChildProcess>();
  let haveTcpdump = false, haveTshark = false;
  let macA = '', llA = '', llB = '';

  const sh = (...args: string[]) => {
    const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || String(r.error)}`);
    return r.stdout;
  };
  const child = async (ns: string): Promise<Child> => {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', CHILD], { cwd: ROOT, stdio: 'pipe' });
    const c = new Child(p);
    children.push(c);
    await c.wait((e) => e.ev === 'ready', 20000);
    return c;
  };
  /** tcpdump in a namespace writing a pcap; stop() returns the frames. */
  const capture = async (ns: string, ifname: string, filter: string) => {
    const file = join(tmp, `cap-${Date.now()}-${Math.random().toString(36).slice(2)}.pcap`);
    const p = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', ifname, '-U', '--immediate-mode', '-Z', 'root', '-n', '-s', '0', '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
    captures.add(p);
    p.on('exit', () => captures.delete(p));
    let err = '';
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`tcpdump did not start: ${err}`)), 10000);
      p.stderr.on('data', (d: Buffer) => { err += d.toString(); if (err.includes('listening on')) { clearTimeout(t); res(); } });
      p.on('exit', () => { clearTimeout(t); rej(new Error(`tcpdump exited: ${err}`)); });
    });
    return {
      file,
      async stop(): Promise<Uint8Array[]> {
        await sleep(200);
        const done = new Promise((res) => p.on('exit', res));
        p.kill('SIGINT');
        await done;
        return pcapFrames(file);
      },
    };
  };
  const tshark = (file: string) => sh('tshark', '-o', 'ip.check_checksum:TRUE', '-r', file, '-V');

  before(async function () {
    if (process.getuid?.() !== 0) { console.log('    (skipped: needs root for network namespaces)'); this.skip(); }
    if (spawnSync('ip', ['netns', 'list']).status !== 0) { console.log('    (skipped: `ip netns` is not available)'); this.skip(); }
    haveTcpdump = have('tcpdump');
    haveTshark = have('tshark');
    if (!haveTcpdump) console.log('    (tcpdump absent: wire captures skipped)');
    if (!haveTshark) console.log('    (tshark absent: decode checks skipped)');
    tmp = mkdtempSync(join(tmpdir(), 'lvn-'));
    for (const ns of Object.values(NS)) {
      sh('ip', 'netns', 'add', ns);
      sh('ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.all.accept_dad=0',
        // the link-state test sets B down: keep its IPv6 address
        'net.ipv6.conf.default.keep_addr_on_down=1', 'net.ipv6.conf.all.keep_addr_on_down=1');
      sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    }
    sh('ip', '-n', NS.a, 'link', 'add', IF.a, 'type', 'veth', 'peer', 'name', IF.b, 'netns', NS.b);
    sh('ip', '-n', NS.a, 'addr', 'add', `${A4}/24`, 'dev', IF.a);
    sh('ip', '-n', NS.b, 'addr', 'add', `${B4}/24`, 'dev', IF.b);
    sh('ip', '-n', NS.a, 'addr', 'add', `${A6}/64`, 'nodad', 'dev', IF.a);
    sh('ip', '-n', NS.b, 'addr', 'add', `${B6}/64`, 'nodad', 'dev', IF.b);
    sh('ip', '-n', NS.a, 'link', 'set', IF.a, 'up');
    sh('ip', '-n', NS.b, 'link', 'set', IF.b, 'up');
    [a, b] = await Promise.all([child(NS.a), child(NS.b)]);
    // link-local addresses appear when the link is up (no DAD here)
    for (let i = 0; i < 50; i++) {
      const la = await a.ok({ cmd: 'link', ifname: IF.a }) as LinkJson;
      const lb = await b.ok({ cmd: 'link', ifname: IF.b }) as LinkJson;
      if (la.up && lb.up && la.ipv6LinkLocal && lb.ipv6LinkLocal) { macA = la.mac; llA = la.ipv6LinkLocal; llB = lb.ipv6LinkLocal; break; }
      await sleep(100);
    }
    assert.ok(llA && llB, 'the veth pair came up with link-local addresses');
  });

  afterEach(() => {
    for (const p of captures) p.kill('SIGKILL');
  });

  after(async () => {
    for (const p of captures) p.kill('SIGKILL');
    for (const c of children) {
      if (c.p.exitCode === null) {
        c.p.stdin.end();
        const t = setTimeout(() => c.p.kill('SIGKILL'), 3000);
        await c.exited;
        clearTimeout(t);
      }
    }
    for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('linkInfo: index, MAC, MTU, up, primary IPv4 first, global IPv6, link-local', async () => {
    sh('ip', '-n', NS.a, 'addr', 'add', '198.18.0.13/24', 'dev', IF.a); // a secondary
    try {
      const l = await a.ok({ cmd: 'link', ifname: IF.a }) as LinkJson;
      const ipOut = JSON.parse(sh('ip', '-n', NS.a, '-j', 'link', 'show', IF.a)) as Array<{ ifindex: number; address: string; mtu: number }>;
      assert.equal(l.ifindex, ipOut[0]!.ifindex);
      assert.equal(l.mac, ipOut[0]!.address.replace(/:/g, ''));
      assert.equal(l.mtu, ipOut[0]!.mtu);
      assert.equal(l.up, true);
      assert.deepEqual(l.ipv4, [A4, '198.18.0.13']);
      assert.deepEqual(l.ipv6, [A6]);
      assert.match(l.ipv6LinkLocal!, /^fe80::/);
    } finally {
      sh('ip', '-n', NS.a, 'addr', 'del', '198.18.0.13/24', 'dev', IF.a);
    }
  });

  it('link state: down on the peer → no carrier → up false; back up → true', async () => {
    sh('ip', '-n', NS.b, 'link', 'set', IF.b, 'down');
    try {
      let l = await a.ok({ cmd: 'link', ifname: IF.a }) as LinkJson;
      for (let i = 0; i < 30 && l.up; i++) { await sleep(50); l = await a.ok({ cmd: 'link', ifname: IF.a }) as LinkJson; }
      assert.equal(l.up, false);
      assert.equal(l.flags & 1, 1, 'still administratively up (IFF_UP), only the carrier is gone');
    } finally {
      sh('ip', '-n', NS.b, 'link', 'set', IF.b, 'up');
    }
    let l = await a.ok({ cmd: 'link', ifname: IF.a }) as LinkJson;
    for (let i = 0; i < 50 && !l.up; i++) { await sleep(50); l = await a.ok({ cmd: 'link', ifname: IF.a }) as LinkJson; }
    assert.equal(l.up, true);
  });

  it('IPv4 multicast advert: byte-identical at the peer\'s channel and on the wire, TTL 255, to 224.0.0.18; the sender does not see its own; tshark: valid VRRP v3 and v2', async () => {
    await a.ok({ cmd: 'open', ifname: IF.a, family: 4 });
    await b.ok({ cmd: 'open', ifname: IF.b, family: 4 });
    a.clearPackets(); b.clearPackets();
    const cap = haveTcpdump ? await capture(NS.b, IF.b, 'ip proto 112') : null;
    const v3 = encodeAdvert({ version: 3, vrid: 51, priority: 150, advertInt: 100, addrs: [ip4(VIP4)], src: ip4(A4), dst: ip4('224.0.0.18'), ipId: 1 });
    const v2 = encodeAdvert({ version: 2, vrid: 51, priority: 150, advertInt: 1, addrs: [ip4(VIP4)], authType: 1, authPass: 's3cr3tpw', src: ip4(A4), dst: ip4('224.0.0.18'), ipId: 1 });
    // the spec's captured v3 and v2 adverts (§5.1), IP header included
    assert.equal(hex(v3), '45c0002000010000ff70147dc612000be0000012' + '313396010064cb43c6120064');
    assert.equal(hex(v2), '45c0002800010000ff701475c612000be0000012' + '213396010101' + '06c2' + 'c6120064' + '7333637233747077');
    await a.ok({ cmd: 'send4', hex: hex(v3) });
    await a.ok({ cmd: 'send4', hex: hex(v2) });
    await b.wait(() => b.packets().length >= 2);
    const got = b.packets().map((p) => p.hex);
    assert.deepEqual(got, [hex(v3), hex(v2)]);
    const d = unhex(got[0]!);
    assert.equal(d[8], 255, 'TTL');
    assert.equal(hex(d.subarray(16, 20)), 'e0000012', 'destination');
    const la = await a.ok({ cmd: 'link', ifname: IF.a }) as LinkJson;
    assert.equal(b.packets()[0]!.ifindex, (await b.ok({ cmd: 'link', ifname: IF.b }) as LinkJson).ifindex);
    // and back: A receives B's advert, B does not see its own
    const fromB = encodeAdvert({ version: 3, vrid: 51, priority: 100, advertInt: 100, addrs: [ip4(VIP4)], src: ip4(B4), dst: ip4('224.0.0.18'), ipId: 7 });
    await b.ok({ cmd: 'send4', hex: hex(fromB) });
    await a.wait(() => a.packets().length >= 1);
    await sleep(200);
    assert.deepEqual(a.packets().map((p) => p.hex), [hex(fromB)], 'A saw B\'s advert and not its own two');
    assert.equal(b.packets().length, 2, 'B did not see its own advert');
    if (!cap) return;
    const frames = (await cap.stop()).filter((f) => hex(f.subarray(6, 12)) === la.mac);
    assert.equal(frames.length, 2);
    assert.equal(hex(frames[0]!.subarray(0, 14)), '01005e000012' + la.mac + '0800');
    assert.equal(hex(frames[0]!.subarray(14)), hex(v3));
    assert.equal(hex(frames[1]!.subarray(14)), hex(v2));
    if (!haveTshark) return;
    const text = tshark(cap.file);
    assert.match(text, /Virtual Router Redundancy Protocol/);
    assert.match(text, /Version 3/);
    assert.match(text, /Version 2/);
    assert.match(text, /Virtual Rtr ID: 51/);
    assert.doesNotMatch(text, /incorrect|Bad checksum|\[Checksum Status: Bad\]/i);
    assert.equal((text.match(/\[Header checksum status: Good\]/g) ?? []).length, 3, `IP header checksums good:\n${text}`);
    assert.equal((text.match(/\[Checksum Status: Good\]/g) ?? []).length, 3, `VRRP checksums good:\n${text}`);
  });

  it('IPv4 unicast advert: routed to the peer, received with the unicast destination', async () => {
    b.clearPackets(); a.clearPackets();
    const uni = encodeAdvert({ version: 3, vrid: 52, priority: 150, advertInt: 100, addrs: [ip4(VIP4)], src: ip4(A4), dst: ip4(B4), ipId: 3 });
    await a.ok({ cmd: 'send4', hex: hex(uni) });
    const p = await b.wait((e) => e.ev === 'packet');
    assert.equal(p.hex, hex(uni));
    assert.equal(hex(unhex(p.hex!).subarray(16, 20)), hex(ip4(B4)));
    await sleep(100);
    assert.equal(a.packets().length, 0);
  });

  it('send4 refuses what is not an IPv4 datagram, and send6 on an IPv4 channel (EINVAL)', async () => {
    const r1 = await a.call({ cmd: 'send4', hex: '6000' });
    assert.equal(r1.ok, false); assert.equal(r1.errno, 22);
    const r2 = await a.call({ cmd: 'send6', hex: '31', src: 'fe80::1', dst: 'ff02::12' });
    assert.equal(r2.ok, false); assert.equal(r2.errno, 22);
  });

  it('IPv6 advert: from the link-local to ff02::12, hop limit 255, traffic class 0xc0, checksum as given; unicast between globals; the sender does not see its own', async () => {
    await a.ok({ cmd: 'open', name: 'v6', ifname: IF.a, family: 6 });
    await b.ok({ cmd: 'open', name: 'v6', ifname: IF.b, family: 6 });
    a.clearPackets(); b.clearPackets();
    const cap = haveTcpdump ? await capture(NS.b, IF.b, 'ip6') : null;
    const m = encodeVrrp({ version: 3, vrid: 51, priority: 150, advertInt: 100, addrs: [ip6(VIP6)] }, ip6(llA), ip6('ff02::12'));
    await a.ok({ cmd: 'send6', name: 'v6', hex: hex(m), src: llA, dst: 'ff02::12' });
    const p = await b.wait((e) => e.ev === 'packet' && e.ch === 'v6');
    const d = unhex(p.hex!);
    assert.equal(d[0]! >> 4, 6);
    assert.equal(((d[0]! & 15) << 4) | (d[1]! >> 4), 0xc0, 'traffic class');
    assert.equal(d[6], 112);
    assert.equal(d[7], 255, 'hop limit');
    assert.deepEqual(d.subarray(8, 24), ip6(llA));
    assert.deepEqual(d.subarray(24, 40), ip6('ff02::12'));
    assert.equal(hex(d.subarray(40)), hex(m), 'the VRRP message, checksum untouched');
    // a deliberately wrong checksum goes out as given (the kernel does not touch it)
    const wrong = m.slice(); wrong[6] = wrong[6]! ^ 0xff;
    await a.ok({ cmd: 'send6', name: 'v6', hex: hex(wrong), src: llA, dst: 'ff02::12' });
    await b.wait(() => b.packets('v6').length >= 2);
    assert.equal(hex(unhex(b.packets('v6')[1]!.hex!).subarray(40)), hex(wrong));
    // unicast, global to global
    const mu = encodeVrrp({ version: 3, vrid: 53, priority: 150, advertInt: 100, addrs: [ip6(VIP6)] }, ip6(A6), ip6(B6));
    await a.ok({ cmd: 'send6', name: 'v6', hex: hex(mu), src: A6, dst: B6 });
    try { await b.wait(() => b.packets('v6').length >= 3); } catch (e) { if (cap) { await cap.stop(); console.log(sh('tcpdump', '-n', '-r', cap.file)); } throw e; }
    const du = unhex(b.packets('v6')[2]!.hex!);
    assert.equal(du[7], 255);
    assert.deepEqual(du.subarray(8, 24), ip6(A6));
    assert.deepEqual(du.subarray(24, 40), ip6(B6));
    assert.equal(hex(du.subarray(40)), hex(mu));
    // B → A, and nobody sees their own
    const mb = encodeVrrp({ version: 3, vrid: 51, priority: 100, advertInt: 100, addrs: [ip6(VIP6)] }, ip6(llB), ip6('ff02::12'));
    await b.ok({ cmd: 'send6', name: 'v6', hex: hex(mb), src: llB, dst: 'ff02::12' });
    await a.wait((e) => e.ev === 'packet' && e.ch === 'v6');
    await sleep(200);
    assert.equal(a.packets('v6').length, 1);
    assert.equal(hex(unhex(a.packets('v6')[0]!.hex!).subarray(40)), hex(mb));
    assert.equal(b.packets('v6').length, 3);
    assert.equal(a.packets('ch').length, 0, 'the IPv4 channel saw no IPv6 packet');
    // a source that is not ours is refused by the kernel, as a NetError
    const bad = await a.call({ cmd: 'send6', name: 'v6', hex: hex(m), src: 'fd00:999::1', dst: 'ff02::12' });
    assert.equal(bad.ok, false);
    assert.match(String(bad.message), /\[sendmsg\]$/);
    if (!cap) return;
    const frames = await cap.stop();
    if (!haveTshark) return;
    const text = tshark(cap.file);
    assert.match(text, /Virtual Router Redundancy Protocol/);
    assert.match(text, /Hop Limit: 255/);
    const good = text.match(/\[Checksum Status: Good\]/g) ?? [];
    const badCk = text.match(/\[Checksum Status: Bad\]/g) ?? [];
    assert.equal(badCk.length, 1, `exactly the deliberately wrong one is bad:\n${text}`);
    assert.ok(good.length >= 3, text);
    assert.ok(frames.length >= 4);
  });

  it('VIPs: add / has / delete round trip with idempotent answers, IPv4 (/32) and IPv6 (/128, nodad, usable at once)', async () => {
    assert.deepEqual(await a.call({ cmd: 'add', ifname: IF.a, addr: VIP4, prefix: 32 }).then((r) => r.value), 'added');
    assert.equal((await a.call({ cmd: 'add', ifname: IF.a, addr: VIP4, prefix: 32 })).value, 'present');
    assert.equal((await a.call({ cmd: 'has', ifname: IF.a, addr: VIP4 })).value, true);
    const shown = sh('ip', '-n', NS.a, '-4', 'addr', 'show', 'dev', IF.a);
    assert.match(shown, new RegExp(`inet ${VIP4.replace(/\./g, '\\.')}/32 scope global`));
    const l = await a.ok({ cmd: 'link', ifname: IF.a }) as LinkJson;
    assert.equal(l.ipv4[0], A4, 'the primary address stays first');
    assert.ok(l.ipv4.includes(VIP4));
    assert.equal((await a.call({ cmd: 'del', ifname: IF.a, addr: VIP4, prefix: 32 })).value, 'deleted');
    assert.equal((await a.call({ cmd: 'del', ifname: IF.a, addr: VIP4, prefix: 32 })).value, 'absent');
    assert.equal((await a.call({ cmd: 'has', ifname: IF.a, addr: VIP4 })).value, false);

    assert.equal((await a.call({ cmd: 'add', ifname: IF.a, addr: VIP6, prefix: 128 })).value, 'added');
    assert.equal((await a.call({ cmd: 'add', ifname: IF.a, addr: VIP6, prefix: 128 })).value, 'present');
    assert.equal((await a.call({ cmd: 'has', ifname: IF.a, addr: VIP6 })).value, true);
    const shown6 = sh('ip', '-n', NS.a, '-6', 'addr', 'show', 'dev', IF.a);
    assert.match(shown6, /inet6 fd00:250::100\/128 scope global nodad/);
    assert.doesNotMatch(shown6, /tentative/);
    assert.ok(((await a.ok({ cmd: 'link', ifname: IF.a })) as LinkJson).ipv6.includes(VIP6));
    assert.equal((await a.call({ cmd: 'del', ifname: IF.a, addr: VIP6, prefix: 128 })).value, 'deleted');
    assert.equal((await a.call({ cmd: 'del', ifname: IF.a, addr: VIP6, prefix: 128 })).value, 'absent');
    assert.equal((await a.call({ cmd: 'has', ifname: IF.a, addr: VIP6 })).value, false);
  });

  it('gratuitous ARP: `count` frames captured at the peer, each keepalived\'s layout (spec §5.4), none on a NOARP interface; tshark: gratuitous request', async function () {
    if (!haveTcpdump) { console.log('      (skipped: tcpdump absent)'); this.skip(); }
    const cap = await capture(NS.b, IF.b, 'arp');
    await a.ok({ cmd: 'garp', ifname: IF.a, addr: VIP4, count: 5 });
    // IFF_NOARP: keepalived sends nothing, and neither do we (ok all the same)
    sh('ip', '-n', NS.a, 'link', 'set', IF.a, 'arp', 'off');
    try { await a.ok({ cmd: 'garp', ifname: IF.a, addr: VIP4, count: 3 }); } finally { sh('ip', '-n', NS.a, 'link', 'set', IF.a, 'arp', 'on'); }
    await a.ok({ cmd: 'garp', ifname: IF.a, addr: VIP4, count: 0 });
    const frames = await cap.stop();
    assert.equal(frames.length, 5);
    const want = 'ffffffffffff' + macA + '0806' + '0001080006040001' + macA + 'c6120064' + 'ffffffffffff' + 'c6120064';
    for (const f of frames) assert.equal(hex(f.subarray(0, 42)), want);
    assert.ok(frames.every((f) => f.subarray(42).every((x) => x === 0)), 'only zero padding after the 42 bytes');
    if (!haveTshark) return;
    const text = tshark(cap.file);
    assert.match(text, /Opcode: request \(1\)/);
    assert.match(text, /\[Is gratuitous: True\]/);
  });

  it('unsolicited NA: captured at the peer, vrrp_ndisc.c layout, valid ICMPv6 checksum; Router flag once the interface forwards', async function () {
    if (!haveTcpdump) { console.log('      (skipped: tcpdump absent)'); this.skip(); }
    const cap = await capture(NS.b, IF.b, 'icmp6 and ip6[40] == 136');
    await a.ok({ cmd: 'na', ifname: IF.a, addr: VIP6, count: 2 });
    sh('ip', 'netns', 'exec', NS.a, 'sysctl', '-qw', `net.ipv6.conf.${IF.a}.forwarding=1`);
    try {
      await a.ok({ cmd: 'na', ifname: IF.a, addr: VIP6, count: 1 });
    } finally {
      sh('ip', 'netns', 'exec', NS.a, 'sysctl', '-qw', `net.ipv6.conf.${IF.a}.forwarding=0`);
    }
    const frames = await cap.stop();
    assert.equal(frames.length, 3);
    const mac = unhex(macA);
    assert.equal(hex(frames[0]!), hex(unsolicitedNaFrame(mac, ip6(VIP6), false)));
    assert.equal(hex(frames[1]!), hex(unsolicitedNaFrame(mac, ip6(VIP6), false)));
    assert.equal(hex(frames[2]!), hex(unsolicitedNaFrame(mac, ip6(VIP6), true)));
    assert.equal(hex(frames[0]!.subarray(0, 6)), '333300000001');
    if (!haveTshark) return;
    const text = tshark(cap.file);
    assert.match(text, /Neighbor Advertisement \(136\)/);
    assert.match(text, /Override: Set/);
    assert.match(text, /Router: Set/);
    assert.match(text, /Target link-layer address/);
    assert.equal((text.match(/\[Checksum Status: Good\]/g) ?? []).length, 3, text);
  });

  it('VMAC: macvlan vrrp.<vrid>, private, 00:00:5e:00:01:<vrid>, up; deleteVmac refuses a non-macvlan', async () => {
    const name = await a.ok({ cmd: 'vmac', ifname: IF.a, vrid: 51, family: 4 });
    assert.equal(name, 'vrrp.51');
    try {
      const j = JSON.parse(sh('ip', '-n', NS.a, '-d', '-j', 'link', 'show', 'vrrp.51')) as Array<{ address: string; flags: string[]; link?: string; linkinfo: { info_kind: string; info_data: { mode: string } } }>;
      assert.equal(j[0]!.address, '00:00:5e:00:01:33');
      assert.equal(j[0]!.linkinfo.info_kind, 'macvlan');
      assert.equal(j[0]!.linkinfo.info_data.mode, 'private');
      assert.ok(j[0]!.flags.includes('UP'));
      assert.equal(j[0]!.link, IF.a);
      const again = await a.call({ cmd: 'vmac', ifname: IF.a, vrid: 51, family: 4 });
      assert.equal(again.ok, false); assert.equal(again.errno, 17);
      const v6 = await a.ok({ cmd: 'vmac', ifname: IF.a, vrid: 51, family: 6, name: 'vrrp6.51' });
      assert.equal(v6, 'vrrp6.51');
      assert.equal(((await a.ok({ cmd: 'link', ifname: 'vrrp6.51' })) as LinkJson).mac, '00005e000233');
      await a.ok({ cmd: 'unvmac', name: 'vrrp6.51' });
    } finally {
      await a.ok({ cmd: 'unvmac', name: 'vrrp.51' });
    }
    assert.equal(((await a.ok({ cmd: 'link', ifname: 'vrrp.51' })) as LinkJson | null), null);
    const refuse = await a.call({ cmd: 'unvmac', name: IF.a });
    assert.equal(refuse.ok, false); assert.equal(refuse.errno, 22);
    assert.ok(await a.ok({ cmd: 'link', ifname: IF.a }), 'the veth is still there');
  });

  it('joins the group on the interface while a channel is open (224.0.0.18 / ff02::12 and their MACs), leaves it on close', async () => {
    // an interface of its own: the other children hold the group on IF.a
    sh('ip', '-n', NS.a, 'link', 'add', IF.j, 'type', 'veth', 'peer', 'name', IF.k);
    sh('ip', '-n', NS.a, 'link', 'set', IF.j, 'up');
    const c = await child(NS.a);
    const maddr = () => sh('ip', '-n', NS.a, 'maddr', 'show', 'dev', IF.j);
    assert.doesNotMatch(maddr(), /224\.0\.0\.18|ff02::12/);
    await c.ok({ cmd: 'open', name: 'j4', ifname: IF.j, family: 4 });
    await c.ok({ cmd: 'open', name: 'j6', ifname: IF.j, family: 6 });
    const m = maddr();
    assert.match(m, /inet\s+224\.0\.0\.18/);
    assert.match(m, /01:00:5e:00:00:12/);
    assert.match(m, /inet6 ff02::12/);
    assert.match(m, /33:33:00:00:00:12/);
    await c.ok({ cmd: 'close', name: 'j4' });
    await c.ok({ cmd: 'close', name: 'j6' });
    assert.doesNotMatch(maddr(), /224\.0\.0\.18|ff02::12/);
    c.p.stdin.end();
    assert.equal(await c.exited, 0);
    sh('ip', '-n', NS.a, 'link', 'del', IF.j);
  });

  it('the receive filter: AH carrying VRRP passes, other protocols (and AH carrying something else) do not', async () => {
    b.clearPackets();
    // IPv4 header (protocol 51; an ID of our own, 0 would be filled in by the kernel) + AH (next header 112, payload len 4, SPI, seq, 12-byte ICV) + a VRRP v2 message
    const vrrp = encodeVrrp({ version: 2, vrid: 51, priority: 150, advertInt: 1, addrs: [ip4(VIP4)], authType: 2 });
    const ah = (next: number) => { const h = new Uint8Array(24); h[0] = next; h[1] = 4; h.set(ip4(A4), 4); h[11] = 1; return h; };
    const dgram = (proto: number, body: Uint8Array) => {
      const d = new Uint8Array(20 + body.length);
      d.set(unhex('45c00000010100' + '00ff'), 0);
      d[2] = d.length >> 8; d[3] = d.length & 255; d[9] = proto;
      d.set(ip4(A4), 12); d.set(ip4('224.0.0.18'), 16);
      const ck = inetChecksum(d.subarray(0, 20)); d[10] = ck >> 8; d[11] = ck & 255;
      d.set(body, 20);
      return d;
    };
    const good = dgram(51, new Uint8Array([...ah(112), ...vrrp]));
    await a.ok({ cmd: 'send4', hex: hex(dgram(51, new Uint8Array([...ah(6), ...vrrp]))) });
    await a.ok({ cmd: 'send4', hex: hex(dgram(17, vrrp)) });
    await a.ok({ cmd: 'send4', hex: hex(good) });
    await b.wait(() => b.packets().length >= 1);
    await sleep(200);
    assert.deepEqual(b.packets().map((p) => p.hex), [hex(good)]);
  });

  it('latency: a packet reaches onPacket within ~1 ms of being sent (median of 100, veth, one process)', async () => {
    sh('ip', '-n', NS.a, 'link', 'add', IF.p, 'type', 'veth', 'peer', 'name', IF.q);
    sh('ip', '-n', NS.a, 'link', 'set', IF.p, 'up');
    sh('ip', '-n', NS.a, 'link', 'set', IF.q, 'up');
    try {
      const lat = (await a.ok({ cmd: 'latency', ifname: IF.p, name: IF.q, count: 100 })) as number[];
      assert.ok(lat.length >= 95, `received ${lat.length} of 100`);
      lat.sort((x, y) => x - y);
      const median = lat[lat.length >> 1]!, p95 = lat[Math.floor(lat.length * 0.95)]!;
      console.log(`      latency send4 → onPacket: median ${median.toFixed(3)} ms, p95 ${p95.toFixed(3)} ms, max ${lat[lat.length - 1]!.toFixed(3)} ms`);
      assert.ok(median < 1, `median ${median} ms`);
    } finally {
      spawnSync('ip', ['-n', NS.a, 'link', 'del', IF.p]);
    }
  });

  it('the interface disappearing under an open channel is reported through onError; close still releases everything', async () => {
    sh('ip', '-n', NS.a, 'link', 'add', IF.r, 'type', 'veth', 'peer', 'name', IF.s);
    sh('ip', '-n', NS.a, 'link', 'set', IF.r, 'up');
    const c = await child(NS.a);
    const before = await c.ok({ cmd: 'fds' }) as number;
    await c.ok({ cmd: 'open', name: 'gone', ifname: IF.r, family: 4 });
    sh('ip', '-n', NS.a, 'link', 'del', IF.r);
    const e = await c.wait((x) => x.ev === 'error' && x.ch === 'gone', 5000);
    assert.equal(e.errno, 100, String(e.message)); // ENETDOWN
    assert.match(String(e.message), new RegExp(`^vrrp socket on ${IF.r}: .*\\[recvfrom\\]$`));
    const cpu0 = await c.ok({ cmd: 'cpu' }) as number;
    await sleep(500);
    const cpu1 = await c.ok({ cmd: 'cpu' }) as number;
    assert.equal(c.events.filter((x) => x.ev === 'error').length, 1, 'reported once, no error loop');
    assert.ok(cpu1 - cpu0 < 100, `idle afterwards, no busy poll (${(cpu1 - cpu0).toFixed(1)} ms CPU in 500 ms)`);
    await c.ok({ cmd: 'close', name: 'gone' });
    await sleep(50);
    assert.equal(await c.ok({ cmd: 'fds' }), before);
    c.p.stdin.end();
    assert.equal(await c.exited, 0);
  });

  it('a channel closed, and another opened, from inside onPacket: the poll carries on with the new set', async () => {
    const c = await child(NS.a);
    await c.ok({ cmd: 'reopen', ifname: IF.a });
    const adv = (id: number) => encodeAdvert({ version: 3, vrid: 61, priority: 100, advertInt: 100, addrs: [ip4(VIP4)], src: ip4(B4), dst: ip4('224.0.0.18'), ipId: id });
    await b.ok({ cmd: 'send4', hex: hex(adv(1)) });
    const re = await c.wait((e) => e.ev === 'reopened');
    assert.equal(re.ok, true, JSON.stringify(re));
    await b.ok({ cmd: 'send4', hex: hex(adv(2)) });
    await c.wait((e) => e.ev === 'packet' && e.ch === 'r2');
    await sleep(100);
    assert.deepEqual(c.packets('r1').map((p) => p.hex), [hex(adv(1))]);
    assert.deepEqual(c.packets('r2').map((p) => p.hex), [hex(adv(2))]);
    c.p.stdin.end();
    assert.equal(await c.exited, 0);
  });

  it('a process that opened channels (and received on them) exits by itself once they are closed, its fds back where they were', async () => {
    const c = await child(NS.a);
    const before = await c.ok({ cmd: 'fds' }) as number;
    await c.ok({ cmd: 'open', name: 'x4', ifname: IF.a, family: 4 });
    await c.ok({ cmd: 'open', name: 'x6', ifname: IF.a, family: 6 });
    const during = await c.ok({ cmd: 'fds' }) as number;
    assert.ok(during >= before + 4, `two sockets per channel plus the eventfd (${before} → ${during})`);
    const adv = encodeAdvert({ version: 3, vrid: 60, priority: 100, advertInt: 100, addrs: [ip4(VIP4)], src: ip4(B4), dst: ip4('224.0.0.18'), ipId: 9 });
    await b.ok({ cmd: 'send4', hex: hex(adv) });
    await c.wait((e) => e.ev === 'packet' && e.ch === 'x4');
    await c.ok({ cmd: 'close', name: 'x4' });
    await c.ok({ cmd: 'close', name: 'x6' });
    await sleep(100);
    assert.equal(await c.ok({ cmd: 'fds' }), before, 'every fd released');
    const t0 = Date.now();
    c.p.stdin.end(); // nothing else keeps it alive
    const kill = setTimeout(() => c.p.kill('SIGKILL'), 5000);
    const code = await c.exited;
    clearTimeout(kill);
    assert.equal(code, 0, `exited by itself (${Date.now() - t0} ms) ${c.stderr}`);
    assert.ok(Date.now() - t0 < 5000);
  });
});

// Whole conversations through the pipeline on the memory wire, for each
// forwarding method: every frame out is compared byte for byte with a frame
// built independently by core/packet/build.ts (full checksums), and the
// connection states, timeouts and counters with connections.md.

import { strict as assert } from 'node:assert';
import { buildFrame, buildEth, buildIcmpError, encapsulate, buildIp, type L4Spec, type IpSpec } from '../core/packet/build.js';
import { foldSum } from '../core/packet/checksum.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../core/packet/parse.js';
import { SVC_F_PERSISTENT } from '../core/model/types.js';
import { defineClassifier } from '../core/plugin.js';
import {
  CLIENT, CLIENT6, DIR_IP, DIR_MAC, GW_MAC, Lab, NET, RS1, RS1_6, RS1_MAC, RS2, RS2_MAC, VIP, VIP6, destSpec, hex,
  CLIENT2, CL2_MAC,
} from './engine-harness.js';

const fromGw = (ip: IpSpec, l4: L4Spec): Uint8Array => buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, l4);
const tcp = (sport: number, dport: number, flags: number, payload?: Uint8Array): L4Spec =>
  ({ proto: 'tcp', sport, dport, flags, seq: 1000, ack: 0, payload });
const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i & 0xff);

describe('engine: DR conversation', () => {
  it('SYN … FIN: only TTL and MACs change; input-only states and counters', () => {
    const lab = new Lab();
    const svc = lab.service({}, [destSpec(RS1)]);
    const conv: [number, Uint8Array | undefined, string, string][] = [
      [TCP_SYN, undefined, 'SYN_RECV', '00:60'],
      [TCP_ACK, undefined, 'ESTABLISHED', '15:00'],
      [TCP_ACK, bytes(100), 'ESTABLISHED', '15:00'],
      [TCP_ACK | TCP_FIN, undefined, 'FIN_WAIT', '02:00'],
      [TCP_ACK, undefined, 'FIN_WAIT', '02:00'],
    ];
    let inBytes = 0;
    for (const [flags, payload, state] of conv) {
      const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 7, tos: 0x03 };
      const f = fromGw(ip, tcp(40000, 80, flags, payload));
      inBytes += f.length - 14;
      const out = lab.one(f);
      assert.equal(hex(out), hex(buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...ip, ttl: 63 }, tcp(40000, 80, flags, payload))));
      const c = lab.conns();
      assert.equal(c.length, 1);
      assert.equal(c[0]!.state, state);
    }
    const d = lab.dest(svc, RS1);
    assert.equal(d.stats.conns, 1);
    assert.equal(d.stats.inpkts, 5);
    assert.equal(d.stats.inbytes, inBytes);
    assert.equal(d.stats.outpkts, 0);
    assert.equal(d.activeConns, 0);
    assert.equal(d.inactConns, 1);
    assert.equal(lab.conns()[0]!.expires, 120);
    lab.wait(119);
    assert.equal(lab.conns().length, 1);
    lab.wait(1.2);
    assert.equal(lab.conns().length, 0);
    assert.equal(d.inactConns, 0);
  });

  it('a client RST in SYN_RECV keeps SYN_RECV; in ESTABLISHED → CLOSE (10 s)', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1)]);
    const ip: IpSpec = { src: CLIENT, dst: VIP };
    lab.one(fromGw(ip, tcp(40001, 80, TCP_SYN)));
    lab.one(fromGw(ip, tcp(40001, 80, TCP_RST)));
    assert.equal(lab.conns()[0]!.state, 'SYN_RECV');
    lab.one(fromGw(ip, tcp(40001, 80, TCP_ACK)));
    lab.one(fromGw(ip, tcp(40001, 80, TCP_RST)));
    assert.deepEqual([lab.conns()[0]!.state, lab.conns()[0]!.expires], ['CLOSE', 10]);
  });

  it('no SYN, no connection: an ACK to the VIP is dropped', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1)]);
    assert.equal(lab.send(fromGw({ src: CLIENT, dst: VIP }, tcp(40002, 80, TCP_ACK))).length, 0);
    assert.equal(lab.engine.dropCounts()['no-conn'], 1);
  });
});

describe('engine: NAT conversation', () => {
  it('request and reply rewritten both ways with port mapping; NAT states; spec byte counts (340 in / 360 out)', () => {
    const lab = new Lab();
    const svc = lab.service({}, [destSpec(RS1, { fwd: 'masq', port: 8080 })]);
    const cl: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 9 };
    const rs: IpSpec = { src: RS1, dst: CLIENT, ttl: 64, df: true, id: 11 };
    const steps: { dir: 'in' | 'out'; flags: number; pl?: Uint8Array; state: string }[] = [
      { dir: 'in', flags: TCP_SYN, state: 'SYN_RECV' },
      { dir: 'out', flags: TCP_SYN | TCP_ACK, state: 'SYN_RECV' },
      { dir: 'in', flags: TCP_ACK, state: 'ESTABLISHED' },
      { dir: 'in', flags: TCP_ACK, pl: bytes(100), state: 'ESTABLISHED' },
      { dir: 'out', flags: TCP_ACK, pl: bytes(200), state: 'ESTABLISHED' },
      { dir: 'in', flags: TCP_ACK, state: 'ESTABLISHED' },
      { dir: 'in', flags: TCP_ACK | TCP_FIN, state: 'CLOSE_WAIT' },
      { dir: 'out', flags: TCP_ACK, state: 'CLOSE_WAIT' },
      { dir: 'out', flags: TCP_ACK | TCP_FIN, state: 'TIME_WAIT' },
      { dir: 'in', flags: TCP_ACK, state: 'TIME_WAIT' },
    ];
    for (const s of steps) {
      if (s.dir === 'in') {
        const out = lab.one(fromGw(cl, tcp(40000, 80, s.flags, s.pl)));
        assert.equal(hex(out), hex(buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...cl, dst: RS1, ttl: 63 }, tcp(40000, 8080, s.flags, s.pl))));
      } else {
        const out = lab.one(buildFrame({ dst: DIR_MAC, src: RS1_MAC }, rs, tcp(8080, 40000, s.flags, s.pl)));
        assert.equal(hex(out), hex(buildFrame({ dst: GW_MAC, src: DIR_MAC }, { ...rs, src: VIP, ttl: 63 }, tcp(80, 40000, s.flags, s.pl))));
      }
      assert.equal(lab.conns()[0]!.state, s.state, JSON.stringify(s));
    }
    const st = svc.stats;
    assert.deepEqual([st.conns, st.inpkts, st.inbytes, st.outpkts, st.outbytes], [1, 6, 340, 4, 360]);
    assert.deepEqual([lab.table.total.inbytes, lab.table.total.outbytes], [340, 360]);
  });

  it('a wrong TCP checksum stays wrong, shifted by the same update', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1, { fwd: 'masq', port: 8080 })]);
    const l4: L4Spec = { proto: 'tcp', sport: 40000, dport: 80, flags: TCP_SYN, badChecksum: true };
    const inFrame = fromGw({ src: CLIENT, dst: VIP }, l4);
    const goodIn = fromGw({ src: CLIENT, dst: VIP }, { ...l4, badChecksum: false });
    const out = lab.one(inFrame);
    const goodOut = buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { src: CLIENT, dst: RS1, ttl: 63 }, { ...l4, dport: 8080, badChecksum: false });
    // everything but the TCP checksum is as for a good segment
    const c = 14 + 20 + 16;
    assert.equal(hex(out.subarray(0, c)) + hex(out.subarray(c + 2)), hex(goodOut.subarray(0, c)) + hex(goodOut.subarray(c + 2)));
    // and the checksum error is carried over unchanged (one's complement difference)
    const rd = (b: Uint8Array): number => (b[c]! << 8) | b[c + 1]!;
    const diff = (a: number, b: number): number => foldSum(a + (~b & 0xffff));
    assert.equal(diff(rd(out), rd(goodOut)), diff(rd(inFrame), rd(goodIn)));
    assert.notEqual(rd(out), rd(goodOut));
  });

  it('UDP: a zero checksum gets a full one both ways; one entry per client port, 300 s, InActConn', () => {
    const lab = new Lab();
    const svc = lab.service({ protocol: 'udp', port: 53 }, [destSpec(RS1, { fwd: 'masq', port: 5353 })]);
    const q = new TextEncoder().encode('q\n');
    const out = lab.one(fromGw({ src: CLIENT, dst: VIP }, { proto: 'udp', sport: 5000, dport: 53, payload: q, zeroChecksum: true }));
    assert.equal(hex(out), hex(buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { src: CLIENT, dst: RS1, ttl: 63 }, { proto: 'udp', sport: 5000, dport: 5353, payload: q })));
    const a = new TextEncoder().encode('rs1\n');
    const back = lab.one(buildFrame({ dst: DIR_MAC, src: RS1_MAC }, { src: RS1, dst: CLIENT }, { proto: 'udp', sport: 5353, dport: 5000, payload: a, zeroChecksum: true }));
    assert.equal(hex(back), hex(buildFrame({ dst: GW_MAC, src: DIR_MAC }, { src: VIP, dst: CLIENT, ttl: 63 }, { proto: 'udp', sport: 53, dport: 5000, payload: a })));
    const c = lab.conns();
    assert.deepEqual([c.length, c[0]!.state, c[0]!.expires], [1, 'UDP', 300]);
    assert.deepEqual([lab.dest(svc, RS1).activeConns, lab.dest(svc, RS1).inactConns], [0, 1]);
    assert.deepEqual([svc.stats.inbytes, svc.stats.outbytes], [30, 32]);
  });

  it('ICMP errors: from the real server (quoted dst → VIP:vport) and from the client (quoted src → RIP:rport)', () => {
    const lab = new Lab();
    lab.service({ protocol: 'udp', port: 53 }, [destSpec(RS1, { fwd: 'masq', port: 5353 })]);
    const req = buildIp({ src: CLIENT, dst: VIP, ttl: 64 }, { proto: 'udp', sport: 5000, dport: 53 });
    lab.one(buildEth({ dst: DIR_MAC, src: GW_MAC }, req));
    // the real server says port unreachable about the request as it got it
    const seen = buildIp({ src: CLIENT, dst: RS1, ttl: 63 }, { proto: 'udp', sport: 5000, dport: 5353 });
    const err = buildIcmpError({ src: RS1, offending: seen, type: 3, code: 3, ttl: 64, tos: 0xc0, id: 5 });
    const out = lab.one(buildEth({ dst: DIR_MAC, src: RS1_MAC }, err));
    // expected: outer from VIP, TTL 63; quoted destination VIP:53, quoted UDP checksum left as it was
    const q = Uint8Array.from(seen);
    q.set([192, 168, 10, 100], 16); q[22] = 0; q[23] = 53;
    const qh = buildIp({ src: CLIENT, dst: VIP, ttl: 63 }, { proto: 'raw', num: 17, bytes: q.subarray(20) });
    const want = buildIcmpError({ src: VIP, dst: CLIENT, offending: qh, type: 3, code: 3, ttl: 63, tos: 0xc0, id: 5 });
    assert.equal(hex(out), hex(buildEth({ dst: GW_MAC, src: DIR_MAC }, want)));
    // the client says port unreachable about a reply (VIP:53 → client:5000)
    const reply = buildIp({ src: VIP, dst: CLIENT, ttl: 63 }, { proto: 'udp', sport: 53, dport: 5000 });
    const cerr = buildIcmpError({ src: CLIENT, dst: VIP, offending: reply, type: 3, code: 3, ttl: 60, tos: 0, id: 6 });
    const out2 = lab.one(buildEth({ dst: DIR_MAC, src: GW_MAC }, cerr));
    const r2 = Uint8Array.from(reply);
    r2.set([192, 168, 10, 8], 12); r2[20] = 5353 >> 8; r2[21] = 5353 & 255;
    const rh = buildIp({ src: RS1, dst: CLIENT, ttl: 63 }, { proto: 'raw', num: 17, bytes: r2.subarray(20) });
    const want2 = buildIcmpError({ src: CLIENT, dst: RS1, offending: rh, type: 3, code: 3, ttl: 59, tos: 0, id: 6 });
    assert.equal(hex(out2), hex(buildEth({ dst: RS1_MAC, src: DIR_MAC }, want2)));
  });
});

describe('engine: TUN', () => {
  it('IPIP: outer header from the director to the real server, inner TTL −1, ID 0 with DF, CE → ECT(0)', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1, { fwd: 'tunnel' })]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 77, tos: 0xbb };
    const out = lab.one(fromGw(ip, tcp(40000, 80, TCP_SYN)));
    const inner = buildIp({ ...ip, ttl: 63 }, tcp(40000, 80, TCP_SYN));
    assert.equal(hex(out), hex(buildEth({ dst: RS1_MAC, src: DIR_MAC }, encapsulate(inner, { src: DIR_IP, dst: RS1 }))));
    assert.equal(out[15], 0xba);
    assert.equal(lab.conns()[0]!.state, 'SYN_RECV');
  });

  it('tunnel MTU = link MTU − 20: a DF packet of 1481 gets frag-needed 1480 from the VIP', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1, { fwd: 'tunnel' })]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true };
    lab.one(fromGw(ip, tcp(40000, 80, TCP_SYN)));
    const big = fromGw(ip, tcp(40000, 80, TCP_ACK, bytes(1481 - 40)));
    const out = lab.one(big);
    const quoted = buildIp({ ...ip, ttl: 63 }, tcp(40000, 80, TCP_ACK, bytes(1481 - 40)));
    const want = buildIcmpError({ src: VIP, offending: quoted, type: 3, code: 4, mtu: 1480, id: out[14 + 5]! | (out[14 + 4]! << 8) });
    assert.equal(hex(out), hex(buildEth({ dst: GW_MAC, src: DIR_MAC }, want)));
  });
});

describe('engine: common transmit rules', () => {
  it('TTL 1 → time exceeded from the VIP quoting the packet as received; nothing to the real server', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1)]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 1 };
    const f = fromGw(ip, tcp(40000, 80, TCP_SYN));
    const out = lab.one(f);
    const want = buildIcmpError({ src: VIP, offending: f.subarray(14), type: 11, code: 0, id: (out[18]! << 8) | out[19]! });
    assert.equal(hex(out), hex(buildEth({ dst: GW_MAC, src: DIR_MAC }, want)));
  });

  it('NAT: DF and too big → frag-needed quoting the TTL-decremented request before DNAT', () => {
    const lab = new Lab({ ...NET, interfaces: [{ ...NET.interfaces[0]!, mtu: 1400 }] });
    lab.service({}, [destSpec(RS1, { fwd: 'masq' })]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, df: true };
    lab.one(fromGw(ip, tcp(40000, 80, TCP_SYN)));
    const out = lab.one(fromGw(ip, tcp(40000, 80, TCP_ACK, bytes(1400))));
    const quoted = buildIp({ ...ip, ttl: 63 }, tcp(40000, 80, TCP_ACK, bytes(1400)));
    const want = buildIcmpError({ src: VIP, offending: quoted, type: 3, code: 4, mtu: 1400, id: (out[18]! << 8) | out[19]! });
    assert.equal(hex(out), hex(buildEth({ dst: GW_MAC, src: DIR_MAC }, want)));
  });

  it('DR: without DF a too-big packet is fragmented (1376 + rest for MTU 1400), ID kept', () => {
    const lab = new Lab({ ...NET, interfaces: [{ ...NET.interfaces[0]!, mtu: 1400 }] });
    lab.service({ protocol: 'udp', port: 53 }, [destSpec(RS1, { port: 53 })]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, id: 4242 };
    const l4: L4Spec = { proto: 'udp', sport: 5000, dport: 53, payload: bytes(1472) };
    const out = lab.send(fromGw(ip, l4));
    assert.equal(out.length, 2);
    const whole = buildIp({ ...ip, ttl: 63 }, l4);
    const f1 = buildIp({ ...ip, ttl: 63, mf: true }, { proto: 'raw', num: 17, bytes: whole.subarray(20, 20 + 1376) });
    const f2 = buildIp({ ...ip, ttl: 63, fragOffset: 1376 }, { proto: 'raw', num: 17, bytes: whole.subarray(20 + 1376) });
    assert.equal(hex(out[0]!.frame), hex(buildEth({ dst: RS1_MAC, src: DIR_MAC }, f1)));
    assert.equal(hex(out[1]!.frame), hex(buildEth({ dst: RS1_MAC, src: DIR_MAC }, f2)));
  });

  it('no real server available → ICMP port unreachable from the VIP to the client', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1, { weight: 0 })]);
    const f = fromGw({ src: CLIENT, dst: VIP }, tcp(40000, 80, TCP_SYN));
    const out = lab.one(f);
    const want = buildIcmpError({ src: VIP, offending: f.subarray(14), type: 3, code: 3, id: (out[18]! << 8) | out[19]! });
    assert.equal(hex(out), hex(buildEth({ dst: GW_MAC, src: DIR_MAC }, want)));
    assert.equal(lab.conns().length, 0);
  });

  it('an on-link client is answered directly (its own MAC, not the gateway)', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1, { fwd: 'masq' })]);
    lab.one(buildFrame({ dst: DIR_MAC, src: CL2_MAC }, { src: CLIENT2, dst: VIP }, tcp(1234, 80, TCP_SYN)));
    const out = lab.one(buildFrame({ dst: DIR_MAC, src: RS1_MAC }, { src: RS1, dst: CLIENT2 }, tcp(80, 1234, TCP_SYN | TCP_ACK)));
    assert.equal(hex(out.subarray(0, 6)), '020000001077');
  });
});

describe('engine: persistence and fwmark', () => {
  it('-p: the same client goes to the same real server across connections; template listed NONE → ASSURED', () => {
    const lab = new Lab();
    lab.service({ flags: SVC_F_PERSISTENT, timeout: 30 }, [destSpec(RS1), destSpec(RS2)]);
    const macs: string[] = [];
    for (const port of [40000, 40001, 40002]) {
      const out = lab.one(fromGw({ src: CLIENT, dst: VIP }, tcp(port, 80, TCP_SYN)));
      macs.push(hex(out.subarray(0, 6)));
    }
    assert.equal(new Set(macs).size, 1);
    const tpl = lab.conns().filter((c) => c.cport === 0);
    assert.equal(tpl.length, 1);
    assert.deepEqual([tpl[0]!.state, tpl[0]!.expires, tpl[0]!.vport], ['NONE', 30, 80]);
    lab.one(fromGw({ src: CLIENT, dst: VIP }, tcp(40000, 80, TCP_ACK)));
    assert.equal(lab.conns().find((c) => c.cport === 0)!.state, 'ASSURED');
    // another client: its own template (rr moves on)
    const other = lab.one(fromGw({ src: '10.1.2.4', dst: VIP }, tcp(5, 80, TCP_SYN)));
    assert.notEqual(hex(other.subarray(0, 6)), macs[0]);
  });

  it('fwmark service: a classifier marks the frame, the template is protocol IP with the mark as address', () => {
    const mark80 = defineClassifier({ name: 'web', classify: (f) => (f.l4 >= 0 && f.buf[f.l4 + 2] === 0 && f.buf[f.l4 + 3] === 80 ? 1 : 0) });
    const lab = new Lab(NET, { classifiers: [mark80] });
    lab.service({ fwmark: 1, addr: '0.0.0.0', port: 0, flags: SVC_F_PERSISTENT, timeout: 60 }, [destSpec(RS1, { port: 0 })]);
    const out = lab.one(fromGw({ src: CLIENT, dst: VIP }, tcp(40000, 80, TCP_SYN)));
    assert.equal(hex(out.subarray(0, 6)), '020000001008');
    const tpl = lab.conns().find((c) => c.protocol === 'ip')!;
    assert.deepEqual([tpl.vaddr, tpl.vport, tpl.caddr], ['0.0.0.1', 0, CLIENT]);
    // unmarked traffic to another port: no service
    assert.equal(lab.send(fromGw({ src: CLIENT, dst: VIP }, tcp(40000, 81, TCP_SYN))).length, 0);
  });
});

describe('engine: IPv6', () => {
  for (const fwd of ['route', 'masq', 'tunnel'] as const) {
    it(`${fwd}: a SYN to [VIP6]:80`, () => {
      const lab = new Lab();
      lab.service({ family: 'inet6', addr: VIP6, netmask: 128 }, [destSpec(RS1_6, { fwd })]);
      const ip: IpSpec = { src: CLIENT6, dst: VIP6, ttl: 64 };
      const out = lab.one(fromGw(ip, tcp(40000, 80, TCP_SYN)));
      let want: Uint8Array;
      if (fwd === 'route') want = buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...ip, ttl: 63 }, tcp(40000, 80, TCP_SYN));
      else if (fwd === 'masq') want = buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...ip, dst: RS1_6, ttl: 63 }, tcp(40000, 80, TCP_SYN));
      else want = buildEth({ dst: RS1_MAC, src: DIR_MAC }, encapsulate(buildIp({ ...ip, ttl: 63 }, tcp(40000, 80, TCP_SYN)), { src: '2001:db8:10::1', dst: RS1_6 }));
      assert.equal(hex(out), hex(want));
      const c = lab.conns()[0]!;
      assert.deepEqual([c.family, c.caddr, c.vaddr, c.daddr, c.state], ['inet6', CLIENT6, VIP6, RS1_6, 'SYN_RECV']);
      if (fwd === 'masq') {
        const back = lab.one(buildFrame({ dst: DIR_MAC, src: RS1_MAC }, { src: RS1_6, dst: CLIENT6 }, tcp(80, 40000, TCP_SYN | TCP_ACK)));
        assert.equal(hex(back), hex(buildFrame({ dst: GW_MAC, src: DIR_MAC }, { src: VIP6, dst: CLIENT6, ttl: 63 }, tcp(80, 40000, TCP_SYN | TCP_ACK))));
      }
    });
  }

  it('IPv6 too big → packet too big from the VIP', () => {
    const lab = new Lab({ ...NET, interfaces: [{ ...NET.interfaces[0]!, mtu: 1280 }] });
    lab.service({ family: 'inet6', addr: VIP6, netmask: 128, protocol: 'udp', port: 53 }, [destSpec(RS1_6, { port: 53 })]);
    const f = fromGw({ src: CLIENT6, dst: VIP6 }, { proto: 'udp', sport: 1, dport: 53, payload: bytes(1300) });
    const out = lab.one(f);
    const quoted = Uint8Array.from(f.subarray(14));
    quoted[7] = 63;
    const want = buildIcmpError({ src: VIP6, offending: quoted, type: 2, code: 0, mtu: 1280 });
    assert.equal(hex(out), hex(buildEth({ dst: GW_MAC, src: DIR_MAC }, want)));
  });
});

void RS2_MAC;

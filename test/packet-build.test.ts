import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import * as B from '../core/packet/build.js';
import * as C from '../core/packet/checksum.js';
import * as P from '../core/packet/parse.js';
import { isPcapError, PcapWriter, readPcap } from '../core/packet/pcap.js';

const r = P.createParseResult();
const parse = (f: Uint8Array): number => P.parseFrame(f, 0, f.length, r);

function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

describe('packet builders', () => {
  it('round-trip through the parser: random TCP/UDP/SCTP over IPv4/IPv6 with VLANs', () => {
    fc.assert(fc.property(
      fc.constantFrom('tcp', 'udp', 'sctp'), fc.boolean(), fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 255 }),
      fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 0, max: 255 }),
      (proto, v6, nvlan, sport, dport, ttl, tos, payload, flags) => {
        const l4: B.L4Spec = proto === 'tcp' ? { proto, sport, dport, flags, payload }
          : proto === 'udp' ? { proto, sport, dport, payload } : { proto, sport, dport, chunks: [{ type: 0, data: payload }] };
        const ip: B.IpSpec = v6 ? { src: '2001:db8::5', dst: '2001:db8::6', ttl, tos } : { src: '192.0.2.5', dst: '198.51.100.6', ttl, tos };
        const vlans = [100, 200].slice(0, nvlan);
        const f = B.buildFrame({ vlans }, ip, l4);
        assert.equal(parse(f), 0);
        assert.equal(r[P.F_FAMILY], v6 ? 6 : 4);
        assert.equal(r[P.F_VLAN_COUNT], nvlan);
        assert.equal(r[P.F_SPORT], sport); assert.equal(r[P.F_DPORT], dport);
        assert.equal(r[P.F_TTL], ttl); assert.equal(r[P.F_TOS], tos);
        assert.equal(r[P.F_PROTO], B.familyOf(ip.src) && ({ tcp: 6, udp: 17, sctp: 132 } as const)[proto]);
        if (proto === 'tcp') assert.equal(r[P.F_TCP_FLAGS], flags);
        assert.equal(r[P.F_L3_OFF]! + r[P.F_IP_LEN]!, f.length);
        const pl = r[P.F_PAYLOAD_OFF]!;
        if (proto !== 'sctp') assert.deepEqual(f.subarray(pl), payload);
      }), { numRuns: 500 });
  });

  it('ICMP errors quote as Linux does: IPv4 up to 576 bytes total, ICMPv6 up to 1280', () => {
    const big4 = B.buildIp({ src: '10.0.0.1', dst: '10.99.4.1', df: true }, { proto: 'tcp', sport: 1, dport: 80, payload: new Uint8Array(1460) });
    const e4 = B.icmpFragNeeded('10.99.4.1', big4, 1400);
    assert.equal(e4.length, 576);
    assert.deepEqual(e4.subarray(28), big4.subarray(0, 548));
    assert.equal(C.rd16(e4, 20 + 6), 1400); assert.equal(C.rd16(e4, 20 + 4), 0);
    assert.equal(e4[1], 0xc0); assert.equal(e4[8], 64); assert.equal(C.rd16(e4, 6), 0); // TOS 0xc0, TTL 64, DF clear
    assert.equal(C.inetChecksum(e4, 20, e4.length - 20), 0); // ICMP checksum valid
    assert.ok(C.verifyIpv4Header(e4, 0));
    // a small packet is quoted whole, without the Ethernet padding of its frame
    const small = B.buildIp({ src: '10.0.0.1', dst: '10.99.4.1' }, { proto: 'udp', sport: 1, dport: 53 });
    const padded = new Uint8Array(46); padded.set(small);
    const e4s = B.icmpPortUnreachable('10.99.4.1', padded);
    assert.equal(e4s.length, 20 + 8 + 28);
    const big6 = B.buildIp({ src: '2001:db8::1', dst: '2001:db8::99' }, { proto: 'udp', sport: 1, dport: 53, payload: new Uint8Array(1452) });
    const e6 = B.icmp6PacketTooBig('2001:db8::99', big6, 1280);
    assert.equal(e6.length, 1280);
    assert.equal(C.rd32(e6, 40 + 4), 1280);
    assert.deepEqual(e6.subarray(48), big6.subarray(0, 1232));
    assert.ok(C.verifyL4Sum(e6, 6, 8, 24, 58, 40, e6.length - 40));
    const pu6 = B.icmpPortUnreachable('2001:db8::99', big6);
    assert.equal(pu6[40], 1); assert.equal(pu6[41], 4);
    assert.equal(parse(B.buildEth({}, pu6)), 0);
    assert.equal(r[P.F_DST_OFF], 14 + 24);
    assert.deepEqual(pu6.subarray(24, 40), B.addrBytesOf('2001:db8::1'));
  });

  it('IPIP outer header per forwarding.md §5.1: TTL, DF copy, ID 0 with DF, TOS with CE → ECT(0)', () => {
    const cases = [
      { tos: 0xb8, df: true, outTos: 0xb8, outId: 0, outDf: 0x4000 },
      { tos: 0x03, df: true, outTos: 0x02, outId: 0, outDf: 0x4000 },
      { tos: 0x02, df: false, outTos: 0x02, outId: 0x4242, outDf: 0 },
    ];
    for (const c of cases) {
      const inner = B.buildIp({ src: '10.0.0.1', dst: '10.99.4.1', ttl: 63, tos: c.tos, df: c.df, id: 777 }, { proto: 'tcp', sport: 1, dport: 80 });
      const o = B.encapsulate(inner, { src: '192.168.1.1', dst: '192.168.1.9', id: 0x4242 });
      assert.equal(o[0], 0x45); assert.equal(o[1], c.outTos); assert.equal(C.rd16(o, 2), 20 + inner.length);
      assert.equal(C.rd16(o, 4), c.outId); assert.equal(C.rd16(o, 6), c.outDf); assert.equal(o[8], 63); assert.equal(o[9], 4);
      assert.ok(C.verifyIpv4Header(o, 0));
      assert.deepEqual(o.subarray(20), inner); // inner untouched (its TOS keeps CE)
      assert.equal(parse(B.buildEth({}, o)), 0);
      assert.equal(r[P.F_PROTO], 4); assert.equal(r[P.F_L4_OFF], 34);
    }
    // pmtu_disc=0: DF never copied; IPv6 inner: protocol 41, DF 0
    const inner = B.buildIp({ src: '10.0.0.1', dst: '10.99.4.1', df: true }, { proto: 'udp', sport: 1, dport: 2 });
    assert.equal(C.rd16(B.encapsulate(inner, { src: '192.168.1.1', dst: '192.168.1.9', id: 5, pmtuDisc: false }), 6), 0);
    const in6 = B.buildIp({ src: '2001:db8::1', dst: '2001:db8::99', ttl: 9, tos: 0x2f }, { proto: 'udp', sport: 1, dport: 2 });
    const o46 = B.encapsulate(in6, { src: '192.168.1.1', dst: '192.168.1.9', id: 5 });
    assert.equal(o46[9], 41); assert.equal(C.rd16(o46, 6), 0); assert.equal(o46[8], 9); assert.equal(o46[1], 0x2e);
  });

  it('IPv6 outer header per §5.2: traffic class with ECN encapsulation, flow label 0, hop limit = inner', () => {
    const in6 = B.buildIp({ src: '2001:db8::1', dst: '2001:db8::99', ttl: 33, tos: 0xbb, flowLabel: 0x12345 }, { proto: 'tcp', sport: 1, dport: 80 });
    const o = B.encapsulate(in6, { src: '2001:db8:1::1', dst: '2001:db8:1::9' });
    assert.equal(parse(B.buildEth({}, o)), 0);
    assert.equal(r[P.F_TOS], 0xba); assert.equal(r[P.F_TTL], 33); assert.equal(r[P.F_PROTO], 41);
    assert.equal(C.rd16(o, 2) | (o[1]! & 15), 0);
    assert.equal(C.rd16(o, 4), in6.length);
    const in4 = B.buildIp({ src: '10.0.0.1', dst: '10.99.4.1', ttl: 7 }, { proto: 'udp', sport: 1, dport: 2 });
    const o64 = B.encapsulate(in4, { src: '2001:db8:1::1', dst: '2001:db8:1::9' });
    assert.equal(o64[6], 4); assert.equal(o64[7], 7);
  });

  it('writeOuterIpv4 works in place in front of a packet in a receive buffer', () => {
    const inner = B.buildIp({ src: '10.0.0.1', dst: '10.99.4.1', ttl: 64, df: true }, { proto: 'tcp', sport: 1, dport: 80 });
    const buf = new Uint8Array(200);
    buf.set(inner, 64);
    C.decTtl4(buf, 64);
    B.writeOuterIpv4(buf, 44, inner.length, 0xc0a80101, 0xc0a80109, 99);
    assert.equal(P.parseIp(buf, 44, 20 + inner.length, r), 0);
    assert.equal(r[P.F_TTL], 63); assert.equal(r[P.F_FRAG], P.FRAG_DF); assert.equal(r[P.F_IP_ID], 0);
    assert.ok(C.verifyIpv4Header(buf, 64));
  });
});

describe('pcap', () => {
  it('writes and reads back microsecond and nanosecond files', () => {
    for (const nano of [false, true]) {
      const w = new PcapWriter({ nano });
      const f1 = B.buildFrame({}, { src: '10.0.0.1', dst: '10.0.0.2' }, { proto: 'udp', sport: 1, dport: 2 });
      const f2 = B.buildFrame({}, { src: '2001:db8::1', dst: '2001:db8::2' }, { proto: 'tcp', sport: 1, dport: 2 });
      w.add(f1, 1_700_000_000_123);
      w.addRaw(f2, 5, nano ? 123456789 : 123456);
      const file = readPcap(w.toBytes());
      assert.ok(!isPcapError(file));
      assert.equal(file.nano, nano); assert.equal(file.linktype, 1); assert.equal(file.records.length, 2);
      assert.deepEqual(file.records[0]!.data, f1); assert.deepEqual(file.records[1]!.data, f2);
      assert.equal(file.records[0]!.sec, 1_700_000_000);
      assert.equal(file.records[0]!.frac, nano ? 123000000 : 123000);
      assert.equal(file.records[1]!.sec, 5);
      assert.equal(file.records[1]!.frac, nano ? 123456789 : 123456);
    }
  });

  it('reads big-endian files, snapped records, and reports damage as values', () => {
    const be = new Uint8Array(24 + 16 + 4);
    const dv = new DataView(be.buffer);
    dv.setUint32(0, 0xa1b2c3d4); dv.setUint16(4, 2); dv.setUint16(6, 4); dv.setUint32(16, 4); dv.setUint32(20, 1);
    dv.setUint32(24, 7); dv.setUint32(28, 8); dv.setUint32(32, 4); dv.setUint32(36, 60);
    be.set([1, 2, 3, 4], 40);
    const f = readPcap(be);
    assert.ok(!isPcapError(f));
    assert.equal(f.littleEndian, false); assert.equal(f.records[0]!.origLen, 60); assert.deepEqual([...f.records[0]!.data], [1, 2, 3, 4]);
    assert.deepEqual(readPcap(new Uint8Array(10)), { error: 'short-header' });
    assert.deepEqual(readPcap(new Uint8Array(24)), { error: 'bad-magic' });
    const cut = readPcap(be.subarray(0, 42));
    assert.ok(!isPcapError(cut)); assert.equal(cut.error, 'truncated-record'); assert.equal(cut.records.length, 0);
    const w = new PcapWriter({ snaplen: 20 });
    w.add(new Uint8Array(60));
    const s = readPcap(w.toBytes());
    assert.ok(!isPcapError(s)); assert.equal(s.records[0]!.data.length, 20); assert.equal(s.records[0]!.origLen, 60);
  });

  it('tshark (or tcpdump) decodes our frames with correct checksums', function () {
    const tshark = hasTool('tshark');
    if (!tshark && !hasTool('tcpdump')) {
      console.log('      (skipped: neither tshark nor tcpdump is installed; apt-get install tshark)');
      this.skip();
    }
    const frames: Uint8Array[] = [
      B.buildFrame({}, { src: '10.0.0.1', dst: '10.99.4.1', options: Uint8Array.of(1, 1, 1, 0) }, { proto: 'tcp', sport: 40000, dport: 80, flags: 0x12, payload: Uint8Array.of(1, 2, 3) }),
      B.buildFrame({ vlans: [10] }, { src: '10.0.0.1', dst: '10.99.4.1' }, { proto: 'udp', sport: 5000, dport: 9, payload: Uint8Array.of(7) }),
      B.buildFrame({}, { src: '10.0.0.1', dst: '10.99.4.1' }, { proto: 'sctp', sport: 5000, dport: 9, chunks: [{ type: 1, data: new Uint8Array(16) }] }),
      B.buildFrame({}, { src: '2001:db8::1', dst: '2001:db8::99', ext: [{ type: 60 }] }, { proto: 'tcp', sport: 40000, dport: 80 }),
      B.buildFrame({}, { src: '2001:db8::1', dst: '2001:db8::99' }, { proto: 'udp', sport: 5000, dport: 9, payload: Uint8Array.of(1, 2) }),
      B.buildEth({}, B.icmpFragNeeded('10.99.4.1', B.buildIp({ src: '10.0.0.1', dst: '10.99.4.1', df: true }, { proto: 'tcp', sport: 1, dport: 80, payload: new Uint8Array(1400) }), 1400)),
      B.buildEth({}, B.icmp6PacketTooBig('2001:db8::99', B.buildIp({ src: '2001:db8::1', dst: '2001:db8::99' }, { proto: 'udp', sport: 1, dport: 9, payload: new Uint8Array(1400) }), 1280)),
      B.buildEth({}, B.encapsulate(B.buildIp({ src: '10.0.0.1', dst: '10.99.4.1' }, { proto: 'udp', sport: 1, dport: 9 }), { src: '192.168.1.1', dst: '192.168.1.9', id: 3 })),
    ];
    // and a NAT rewrite done in place with incremental updates
    const nat = B.buildFrame({}, { src: '10.0.0.1', dst: '10.99.4.1' }, { proto: 'tcp', sport: 40000, dport: 80, payload: new Uint8Array(9) });
    parse(nat);
    C.decTtl4(nat, r[P.F_L3_OFF]!);
    C.rewriteAddr4(nat, r[P.F_L3_OFF]!, r[P.F_DST_OFF]!, 0x0aca0009, r[P.F_CSUM_OFF]!, C.CSUM_TCP);
    C.rewrite16(nat, r[P.F_L4_OFF]! + 2, 8080, r[P.F_CSUM_OFF]!, C.CSUM_TCP);
    frames.push(nat);
    const w = new PcapWriter({ nano: true });
    frames.forEach((f, i) => w.add(f, 1000 * i));
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-pcap-'));
    try {
      const file = join(dir, 'x.pcap');
      writeFileSync(file, w.toBytes());
      if (tshark) {
        const out = execFileSync('tshark', ['-n', '-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE',
          '-o', 'udp.check_checksum:TRUE', '-o', 'sctp.checksum:crc-32c', '-T', 'fields', '-E', 'separator=|',
          '-e', 'frame.number', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'udp.checksum.status',
          '-e', 'sctp.checksum.status', '-e', 'icmp.checksum.status', '-e', 'icmpv6.checksum.status', '-e', 'tcp.dstport'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        const lines = out.trim().split('\n');
        assert.equal(lines.length, frames.length);
        for (const line of lines) {
          const [n, ...st] = line.split('|');
          // status 1 = good, 0 = bad, empty = not present; several values when headers repeat (tunnels, quotes).
          // The TCP/UDP header quoted in an ICMP error is cut short: tshark cannot verify it, skip those columns.
          const isIcmp = st[4] !== '' || st[5] !== '';
          const cols = isIcmp ? [st[0]!, st[4]!, st[5]!] : st.slice(0, 5);
          const vals = cols.join(',').split(',').filter((x) => x !== '');
          assert.ok(vals.length > 0, `frame ${n}: no checksum checked`);
          assert.ok(vals.every((x) => x === '1'), `frame ${n}: ${line}`);
        }
        assert.equal(lines[lines.length - 1]!.split('|')[7], '8080');
      } else {
        const out = execFileSync('tcpdump', ['-vvnr', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        assert.ok(!/incorrect|bad cksum/.test(out), out);
        assert.ok((out.match(/correct|sum ok/g) ?? []).length >= 5, out);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

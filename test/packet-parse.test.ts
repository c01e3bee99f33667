import assert from 'node:assert/strict';
import {
  buildArp, buildEth, buildFrame, buildIcmpError, buildIp, encapsulate, icmp6PacketTooBig, icmpFragNeeded,
  icmpPortUnreachable, icmpTimeExceeded, type IpSpec, type L4Spec,
} from '../core/packet/build.js';
import { fillIpv4HeaderChecksum, rd16, wr16 } from '../core/packet/checksum.js';
import * as P from '../core/packet/parse.js';

const r = P.createParseResult();
const parse = (f: Uint8Array, opts = 0): number => P.parseFrame(f, 0, f.length, r, opts);
const ip4 = (o: Partial<IpSpec> = {}): IpSpec => ({ src: '10.0.0.1', dst: '10.99.4.1', ...o });
const ip6 = (o: Partial<IpSpec> = {}): IpSpec => ({ src: '2001:db8::1', dst: '2001:db8:99::1', ...o });
const tcp = (o: Partial<Extract<L4Spec, { proto: 'tcp' }>> = {}): L4Spec => ({ proto: 'tcp', sport: 40000, dport: 80, flags: P.TCP_SYN, ...o });

describe('packet parse', () => {
  it('IPv4 TCP: every field', () => {
    const f = buildFrame({}, ip4({ ttl: 63, tos: 0xb8, id: 0x1234, df: true }), tcp({ flags: P.TCP_SYN | P.TCP_ACK, payload: new Uint8Array(10) }));
    assert.equal(parse(f), P.DROP_NONE);
    assert.equal(r[P.F_KIND], P.KIND_IPV4);
    assert.equal(r[P.F_ETHERTYPE], 0x0800);
    assert.equal(r[P.F_L3_OFF], 14);
    assert.equal(r[P.F_FAMILY], 4);
    assert.equal(r[P.F_IP_HLEN], 20);
    assert.equal(r[P.F_IP_LEN], 20 + 20 + 10);
    assert.equal(r[P.F_PROTO], 6);
    assert.equal(r[P.F_TTL], 63);
    assert.equal(r[P.F_TOS], 0xb8);
    assert.equal(r[P.F_IP_ID], 0x1234);
    assert.equal(r[P.F_FRAG], P.FRAG_DF);
    assert.equal(r[P.F_SADDR4]! >>> 0, 0x0a000001);
    assert.equal(r[P.F_DADDR4]! >>> 0, 0x0a630401);
    assert.equal(r[P.F_SRC_OFF], 26);
    assert.equal(r[P.F_DST_OFF], 30);
    assert.equal(r[P.F_L4_OFF], 34);
    assert.equal(r[P.F_L4_LEN], 30);
    assert.equal(r[P.F_SPORT], 40000);
    assert.equal(r[P.F_DPORT], 80);
    assert.equal(r[P.F_TCP_FLAGS], P.TCP_SYN | P.TCP_ACK);
    assert.equal(r[P.F_L4_HLEN], 20);
    assert.equal(r[P.F_PAYLOAD_OFF], 54);
    assert.equal(r[P.F_CSUM_OFF], 50);
    assert.ok(P.hasPorts(r));
    assert.equal(r[P.F_IN_L3_OFF], -1);
  });

  it('honours a frame offset and ignores Ethernet padding', () => {
    const f = buildFrame({}, ip4(), { proto: 'udp', sport: 1, dport: 53, payload: Uint8Array.of(1, 2) });
    const big = new Uint8Array(100 + 64);
    big.set(f, 100);
    assert.equal(P.parseFrame(big, 100, 64, r), P.DROP_NONE); // 44-byte frame padded to 64
    assert.equal(r[P.F_L3_OFF], 114);
    assert.equal(r[P.F_IP_LEN], 30);
    assert.equal(r[P.F_L4_LEN], 10);
    assert.ok(r[P.F_FLAGS]! & P.PF_L2_PADDING);
  });

  it('802.1Q and QinQ', () => {
    const f = buildFrame({ vlans: [100] }, ip4(), tcp());
    assert.equal(parse(f), 0);
    assert.equal(r[P.F_VLAN_COUNT], 1); assert.equal(r[P.F_VLAN0], 100); assert.equal(r[P.F_L3_OFF], 18);
    const q = buildFrame({ vlans: [0x2005, 7] }, ip6(), tcp());
    assert.equal(parse(q), 0);
    assert.equal(rd16(q, 12), 0x88a8);
    assert.equal(r[P.F_VLAN_COUNT], 2); assert.equal(r[P.F_VLAN0], 0x2005); assert.equal(r[P.F_VLAN1], 7);
    assert.equal(r[P.F_L3_OFF], 22); assert.equal(r[P.F_FAMILY], 6); assert.equal(r[P.F_DPORT], 80);
    assert.equal(parse(buildFrame({ vlans: [1, 2, 3] }, ip4(), tcp())), P.DROP_VLAN_TOO_DEEP);
  });

  it('ARP', () => {
    const f = buildArp({ dst: 'ff:ff:ff:ff:ff:ff' }, 1, '02:00:00:00:00:01', '10.0.0.1', '00:00:00:00:00:00', '10.99.4.1');
    assert.equal(parse(f), 0);
    assert.equal(r[P.F_KIND], P.KIND_ARP);
    assert.equal(r[P.F_ARP_OP], 1);
    assert.equal(r[P.F_ARP_SPA]! >>> 0, 0x0a000001);
    assert.equal(r[P.F_ARP_TPA]! >>> 0, 0x0a630401);
    assert.equal(r[P.F_ARP_SHA_OFF], 22);
    assert.equal(r[P.F_ARP_THA_OFF], 32);
    assert.equal(parse(f.subarray(0, 14 + 27)), P.DROP_ARP_TRUNCATED);
  });

  it('unknown ethertype and unknown L4 protocol pass as KIND_OTHER / no ports', () => {
    const f = buildEth({}, new Uint8Array(46), 0x88cc);
    assert.equal(parse(f), 0); assert.equal(r[P.F_KIND], P.KIND_OTHER); assert.equal(r[P.F_ETHERTYPE], 0x88cc);
    const g = buildFrame({}, ip4(), { proto: 'raw', num: 47, bytes: new Uint8Array(8) });
    assert.equal(parse(g), 0); assert.equal(r[P.F_PROTO], 47); assert.equal(r[P.F_L4_OFF], 34); assert.equal(r[P.F_SPORT], -1);
    assert.ok(!P.hasPorts(r));
  });

  it('IPv4 options, and bad ones', () => {
    // Record Route (7) with room for 2 addresses + NOP + EOL padding.
    const rr = Uint8Array.of(1, 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0);
    const f = buildFrame({}, ip4({ options: rr }), tcp());
    assert.equal(parse(f), 0);
    assert.equal(r[P.F_IP_HLEN], 32); assert.equal(r[P.F_L4_OFF], 14 + 32); assert.ok(r[P.F_FLAGS]! & P.PF_IP_OPTIONS);
    const bad = buildFrame({}, ip4({ options: Uint8Array.of(7, 40, 4, 0) }), tcp()); // option longer than header
    assert.equal(parse(bad), P.DROP_IP_OPTIONS);
    const zero = buildFrame({}, ip4({ options: Uint8Array.of(1, 68, 1, 0) }), tcp()); // len 1 < 2
    assert.equal(parse(zero), P.DROP_IP_OPTIONS);
  });

  it('IPv4 header checks', () => {
    const f = buildFrame({}, ip4(), tcp());
    const c = f.slice(); c[24] = c[24]! ^ 1;
    assert.equal(parse(c), P.DROP_IP_CSUM);
    assert.equal(parse(c, P.PARSE_NO_IP_CSUM), 0);
    const v = f.slice(); v[14] = 0x65; fillIpv4HeaderChecksum(v, 14);
    assert.equal(parse(v), P.DROP_IP_VERSION);
    const h = f.slice(); h[14] = 0x44; fillIpv4HeaderChecksum(h, 14);
    assert.equal(parse(h), P.DROP_IP_HLEN);
    const t = f.slice(); wr16(t, 16, 200); fillIpv4HeaderChecksum(t, 14);
    assert.equal(parse(t), P.DROP_IP_LEN);
    const s = f.slice(); wr16(s, 16, 19); fillIpv4HeaderChecksum(s, 14);
    assert.equal(parse(s), P.DROP_IP_LEN);
    const e = f.slice(); e[20] = e[20]! | 0x80; fillIpv4HeaderChecksum(e, 14);
    assert.equal(parse(e), P.DROP_IP_FRAG);
  });

  it('IPv4 fragments: first has ports, non-first has none', () => {
    const first = buildFrame({}, ip4({ mf: true, id: 7 }), { proto: 'udp', sport: 5000, dport: 53, payload: new Uint8Array(64) });
    // a first fragment's UDP length covers the whole datagram: make it longer than this fragment
    wr16(first, 34 + 4, 2000);
    assert.equal(parse(first), 0);
    assert.equal(r[P.F_FRAG], P.FRAG_MF | P.FRAG_IS); assert.equal(r[P.F_DPORT], 53); assert.ok(P.hasPorts(r));
    const next = buildFrame({}, ip4({ fragOffset: 72, id: 7 }), { proto: 'raw', num: 17, bytes: new Uint8Array(40) });
    assert.equal(parse(next), 0);
    assert.equal(r[P.F_FRAG], P.FRAG_IS | P.FRAG_NONFIRST); assert.equal(r[P.F_FRAG_OFF], 72);
    assert.equal(r[P.F_L4_OFF], -1); assert.equal(r[P.F_SPORT], -1); assert.equal(r[P.F_PROTO], 17);
    const huge = buildFrame({}, ip4({ fragOffset: 65528 }), { proto: 'raw', num: 17, bytes: new Uint8Array(16) });
    assert.equal(parse(huge), P.DROP_IP_FRAG);
    const tiny = buildFrame({}, ip4({ mf: true }), { proto: 'raw', num: 6, bytes: new Uint8Array(8) });
    assert.equal(parse(tiny), P.DROP_L4_FRAG_TRUNCATED);
  });

  it('IPv6 extension headers walk', () => {
    const f = buildFrame({}, ip6({ ext: [{ type: 0 }, { type: 60, body: new Uint8Array(14) }, { type: 43, body: Uint8Array.of(0, 0, 0, 0, 0, 0) }, { type: 51 }] }), tcp());
    assert.equal(parse(f), 0);
    assert.equal(r[P.F_PROTO], 6);
    assert.equal(r[P.F_IP_HLEN], 40 + 8 + 16 + 8 + 12);
    assert.equal(r[P.F_L4_OFF], 14 + 40 + 8 + 16 + 8 + 12);
    assert.equal(r[P.F_DPORT], 80);
    assert.ok(r[P.F_FLAGS]! & P.PF_IP6_EXT);
    assert.equal(r[P.F_SRC_OFF], 22); assert.equal(r[P.F_DST_OFF], 38);
    const hbh2 = buildFrame({}, ip6({ ext: [{ type: 60 }, { type: 0 }] }), tcp());
    assert.equal(parse(hbh2), P.DROP_IP6_HBH_NOT_FIRST);
    const many = buildFrame({}, ip6({ ext: Array.from({ length: 9 }, () => ({ type: 60 })) }), tcp());
    assert.equal(parse(many), P.DROP_IP6_EXT_TOO_MANY);
    const cut = buildFrame({}, ip6({ ext: [{ type: 60, body: new Uint8Array(30) }] }), { proto: 'raw', num: 59, bytes: new Uint8Array(0) });
    wr16(cut, 14 + 4, 16); // payload length cuts the extension header
    assert.equal(parse(cut.subarray(0, 14 + 56)), P.DROP_IP6_EXT_TRUNCATED);
    const none = buildFrame({}, ip6({ ext: [{ type: 60 }] }), { proto: 'raw', num: 59, bytes: new Uint8Array(0) });
    assert.equal(parse(none), 0); assert.equal(r[P.F_PROTO], 59); assert.equal(r[P.F_L4_OFF], -1);
  });

  it('IPv6 fragments: first / non-first / atomic', () => {
    const first = buildFrame({}, ip6({ ext: [{ type: 44, frag: { offset: 0, more: true, id: 0xdeadbeef } }] }), { proto: 'udp', sport: 9, dport: 53, payload: new Uint8Array(16) });
    assert.equal(parse(first), 0);
    assert.equal(r[P.F_FRAG], P.FRAG_IS | P.FRAG_MF); assert.equal(r[P.F_IP_ID]! >>> 0, 0xdeadbeef); assert.equal(r[P.F_DPORT], 53);
    const next = buildFrame({}, ip6({ ext: [{ type: 44, frag: { offset: 1232, more: false, id: 1 } }] }), { proto: 'raw', num: 17, bytes: new Uint8Array(100) });
    assert.equal(parse(next), 0);
    assert.equal(r[P.F_FRAG], P.FRAG_IS | P.FRAG_NONFIRST); assert.equal(r[P.F_FRAG_OFF], 1232); assert.equal(r[P.F_L4_OFF], -1);
    assert.equal(r[P.F_PROTO], 17);
    const atomic = buildFrame({}, ip6({ ext: [{ type: 44, frag: { offset: 0, more: false, id: 3 } }] }), tcp());
    assert.equal(parse(atomic), 0); assert.equal(r[P.F_FRAG], P.FRAG_ATOMIC); assert.equal(r[P.F_DPORT], 80);
    const twice = buildFrame({}, ip6({ ext: [{ type: 44, frag: { offset: 0, more: true, id: 3 } }, { type: 44, frag: { offset: 0, more: true, id: 3 } }] }), tcp());
    assert.equal(parse(twice), P.DROP_IP_FRAG);
  });

  it('TCP / UDP / SCTP header checks', () => {
    const d = buildFrame({}, ip4(), tcp({ options: new Uint8Array(12) }));
    assert.equal(parse(d), 0); assert.equal(r[P.F_L4_HLEN], 32); assert.equal(r[P.F_PAYLOAD_OFF], 34 + 32);
    const d2 = d.slice(); d2[34 + 12] = 0x40; assert.equal(parse(d2), P.DROP_TCP_DOFF);
    const d3 = d.slice(); d3[34 + 12] = 0xf0; assert.equal(parse(d3), P.DROP_TCP_DOFF);
    const u = buildFrame({}, ip4(), { proto: 'udp', sport: 1, dport: 2, payload: new Uint8Array(4) });
    const u2 = u.slice(); wr16(u2, 38, 13); assert.equal(parse(u2), P.DROP_UDP_LEN);
    const u3 = u.slice(); wr16(u3, 38, 7); assert.equal(parse(u3), P.DROP_UDP_LEN);
    const s = buildFrame({}, ip4(), { proto: 'sctp', sport: 1, dport: 2, chunks: [{ type: P.SCTP_INIT, data: new Uint8Array(16) }] });
    assert.equal(parse(s), 0); assert.equal(r[P.F_SCTP_CHUNK], P.SCTP_INIT); assert.equal(r[P.F_SCTP_CHUNK2], -1);
    const s2 = s.slice(); wr16(s2, 34 + 14, 200); assert.equal(parse(s2), P.DROP_SCTP_CHUNK);
    const s3 = s.slice(); wr16(s3, 34 + 14, 3); assert.equal(parse(s3), P.DROP_SCTP_CHUNK);
  });

  it('SCTP: the chunk after COOKIE-ECHO / COOKIE-ACK (ABORT rule)', () => {
    const ce = buildFrame({}, ip4(), { proto: 'sctp', sport: 1, dport: 2, chunks: [{ type: P.SCTP_COOKIE_ECHO, data: new Uint8Array(5) }, { type: P.SCTP_ABORT }] });
    assert.equal(parse(ce), 0); assert.equal(r[P.F_SCTP_CHUNK], P.SCTP_COOKIE_ECHO); assert.equal(r[P.F_SCTP_CHUNK2], P.SCTP_ABORT);
    const ca = buildFrame({}, ip6(), { proto: 'sctp', sport: 1, dport: 2, chunks: [{ type: P.SCTP_COOKIE_ACK }, { type: P.SCTP_DATA, data: new Uint8Array(12) }] });
    assert.equal(parse(ca), 0); assert.equal(r[P.F_SCTP_CHUNK2], P.SCTP_DATA);
    const alone = buildFrame({}, ip4(), { proto: 'sctp', sport: 1, dport: 2, chunks: [{ type: P.SCTP_COOKIE_ACK }] });
    assert.equal(parse(alone), 0); assert.equal(r[P.F_SCTP_CHUNK2], -1);
  });

  it('ICMP port unreachable quoting a UDP datagram: inner header and ports', () => {
    const req = buildIp(ip4({ src: '10.0.0.1', dst: '10.99.4.1' }), { proto: 'udp', sport: 5353, dport: 53, payload: new Uint8Array(20) });
    const f = buildEth({}, icmpPortUnreachable('10.99.4.1', req));
    assert.equal(parse(f), 0);
    assert.equal(r[P.F_PROTO], 1); assert.equal(r[P.F_ICMP_TYPE], 3); assert.equal(r[P.F_ICMP_CODE], 3);
    assert.ok(r[P.F_FLAGS]! & P.PF_ICMP_ERROR);
    assert.equal(r[P.F_IN_ERR], 0);
    assert.equal(r[P.F_IN_L3_OFF], 14 + 20 + 8);
    assert.equal(r[P.F_IN_FAMILY], 4); assert.equal(r[P.F_IN_PROTO], 17); assert.equal(r[P.F_IN_HLEN], 20);
    assert.equal(r[P.F_IN_SRC_OFF], 42 + 12); assert.equal(r[P.F_IN_DST_OFF], 42 + 16);
    assert.equal(r[P.F_IN_L4_OFF], 62); assert.equal(r[P.F_IN_SPORT], 5353); assert.equal(r[P.F_IN_DPORT], 53);
    assert.equal(r[P.F_IN_LEN], req.length);
    // the error itself: from the VIP to the client, TOS 0xc0, TTL 64, DF clear
    assert.equal(r[P.F_TOS], 0xc0); assert.equal(r[P.F_TTL], 64); assert.equal(r[P.F_FRAG], 0);
    assert.equal(r[P.F_DADDR4]! >>> 0, 0x0a000001);
  });

  it('ICMP frag-needed / time exceeded / ICMPv6 packet too big and time exceeded', () => {
    const big = buildIp(ip4({ df: true }), tcp({ flags: P.TCP_ACK, payload: new Uint8Array(1400) }));
    assert.equal(parse(buildEth({}, icmpFragNeeded('10.99.4.1', big, 1400))), 0);
    assert.equal(r[P.F_ICMP_TYPE], 3); assert.equal(r[P.F_ICMP_CODE], 4); assert.equal(r[P.F_ICMP_MTU], 1400);
    assert.equal(r[P.F_IN_SPORT], 40000); assert.equal(r[P.F_IN_DPORT], 80); assert.equal(r[P.F_IN_FRAG], P.FRAG_DF);
    assert.equal(r[P.F_IP_LEN], 576);
    assert.equal(parse(buildEth({}, icmpTimeExceeded('10.99.4.1', big))), 0);
    assert.equal(r[P.F_ICMP_TYPE], 11); assert.equal(r[P.F_IN_DPORT], 80);
    const big6 = buildIp(ip6(), tcp({ payload: new Uint8Array(1500) }));
    assert.equal(parse(buildEth({}, icmp6PacketTooBig('2001:db8:99::1', big6, 1280))), 0);
    assert.equal(r[P.F_PROTO], 58); assert.equal(r[P.F_ICMP_TYPE], 2); assert.equal(r[P.F_ICMP_MTU], 1280);
    assert.equal(r[P.F_IN_FAMILY], 6); assert.equal(r[P.F_IN_PROTO], 6); assert.equal(r[P.F_IN_SPORT], 40000);
    assert.equal(r[P.F_IP_LEN], 1280);
    assert.equal(parse(buildEth({}, icmpTimeExceeded('2001:db8:99::1', big6))), 0);
    assert.equal(r[P.F_ICMP_TYPE], 3); assert.ok(r[P.F_FLAGS]! & P.PF_ICMP_ERROR);
    // parameter problem (v4 type 12) also quotes
    assert.equal(parse(buildEth({}, buildIcmpError({ src: '10.99.4.1', offending: big, type: 12, code: 0 }))), 0);
    assert.equal(r[P.F_IN_DPORT], 80);
  });

  it('ICMP echo is not an error; a broken quote keeps the outer packet usable', () => {
    assert.equal(parse(buildFrame({}, ip4(), { proto: 'icmp', type: 8, code: 0, rest: 0x00010001 })), 0);
    assert.equal(r[P.F_ICMP_TYPE], 8); assert.equal(r[P.F_IN_L3_OFF], -1); assert.equal(r[P.F_FLAGS]! & P.PF_ICMP_ERROR, 0);
    const f = buildFrame({}, ip4(), { proto: 'icmp', type: 3, code: 1, payload: Uint8Array.of(0x45, 0, 0, 40) });
    assert.equal(parse(f), 0);
    assert.equal(r[P.F_IN_ERR], P.DROP_IP_TRUNCATED); assert.equal(r[P.F_IN_L3_OFF], -1);
    // quote of a non-first fragment: no ports
    const nf = buildIp(ip4({ fragOffset: 8 }), { proto: 'raw', num: 6, bytes: new Uint8Array(16) });
    assert.equal(parse(buildEth({}, icmpPortUnreachable('10.99.4.1', nf))), 0);
    assert.equal(r[P.F_IN_L4_OFF], -1); assert.equal(r[P.F_IN_SPORT], -1); assert.ok(r[P.F_IN_FRAG]! & P.FRAG_NONFIRST);
  });

  it('an ICMP error quoting an IPIP packet exposes the tunnel protocol', () => {
    const inner = buildIp(ip4({ src: '10.0.0.1', dst: '10.99.4.1' }), tcp());
    const outer = encapsulate(inner, { src: '192.168.1.1', dst: '192.168.1.9' });
    assert.equal(parse(buildEth({}, icmpFragNeeded('192.168.1.9', outer, 1300))), 0);
    assert.equal(r[P.F_IN_PROTO], 4); assert.equal(r[P.F_IN_L4_OFF], 42 + 20); assert.equal(r[P.F_IN_SPORT], -1);
    const rr = P.createParseResult();
    const f = buildEth({}, icmpFragNeeded('192.168.1.9', outer, 1300));
    assert.equal(P.parseIp(f, r[P.F_IN_L4_OFF]!, f.length - r[P.F_IN_L4_OFF]!, rr), 0);
    assert.equal(rr[P.F_DPORT], 80);
  });

  it('parseIp handles bare packets', () => {
    const p = buildIp(ip6(), { proto: 'udp', sport: 7, dport: 8 });
    assert.equal(P.parseIp(p, 0, p.length, r), 0);
    assert.equal(r[P.F_L3_OFF], 0); assert.equal(r[P.F_DPORT], 8);
    assert.equal(P.parseIp(Uint8Array.of(0x10), 0, 1, r), P.DROP_IP_VERSION);
  });

  it('every prefix of valid frames: a drop reason or a consistent result, never an exception', () => {
    const frames = [
      buildFrame({ vlans: [5, 6] }, ip4({ options: Uint8Array.of(1, 1, 1, 0) }), tcp({ options: new Uint8Array(8), payload: new Uint8Array(5) })),
      buildFrame({}, ip6({ ext: [{ type: 0 }, { type: 44, frag: { offset: 0, more: true, id: 1 } }, { type: 60 }] }), { proto: 'udp', sport: 1, dport: 2, payload: new Uint8Array(3) }),
      buildFrame({}, ip4(), { proto: 'sctp', sport: 1, dport: 2, chunks: [{ type: 10, data: new Uint8Array(3) }, { type: 6 }] }),
      buildEth({ vlans: [9] }, icmpPortUnreachable('10.99.4.1', buildIp(ip4(), tcp()))),
      buildEth({}, icmp6PacketTooBig('2001:db8::9', buildIp(ip6({ ext: [{ type: 60 }] }), tcp()), 1280)),
      buildArp({}, 2, '02:00:00:00:00:01', '10.0.0.1', '02:00:00:00:00:02', '10.0.0.2'),
    ];
    for (const f of frames) {
      assert.equal(parse(f), 0);
      const full = Int32Array.from(r);
      for (let n = 0; n <= f.length; n++) {
        const code = P.parseFrame(f, 0, n, r);
        assert.ok(code >= 0 && code < P.DROP_REASONS, `code ${code}`);
        if (code === 0 && n < f.length) {
          // A shorter frame may only parse if the cut is L2 padding or a quote: whatever was found lies inside it.
          for (const k of [P.F_L4_OFF, P.F_PAYLOAD_OFF, P.F_CSUM_OFF, P.F_IN_L4_OFF]) assert.ok(r[k]! <= n, `field ${k} at ${n}`);
          if (r[P.F_IP_LEN]! > 0) assert.ok(r[P.F_L3_OFF]! + r[P.F_IP_LEN]! <= n);
        }
      }
      // the full frame gives the same result as before
      parse(f);
      assert.deepEqual(r, full);
    }
  });
});

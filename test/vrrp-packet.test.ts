// VRRP advert codec (plugins/ha/lib/vrrp-packet.ts) against the captures of spec
// keepalived.md §5.1, keepalived 2.2.7's own adverts recorded in test/fixtures/vrrp/,
// every receive check of §5.2, and a seeded fuzz.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import {
  AUTH_AH, AUTH_NONE, AUTH_PASS, advertIntToWire, decodeAdvert, encodeAdvert, encodeIp4, encodeIp6, encodeVrrp, inetChecksum,
  ipToString, nextIpId, parseIp, type AdvertPacket, type RxConfig, type RxOutcome,
} from '../plugins/ha/lib/vrrp-packet.js';
import { prng } from './prng.js';

const FIX = new URL('./fixtures/vrrp/', import.meta.url);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex'));
const ip = (s: string): Uint8Array => { const b = parseIp(s); assert.ok(b, s); return b; };

const A11 = ip('198.18.0.11'), A12 = ip('198.18.0.12'), GROUP = ip('224.0.0.18'), VIP = ip('198.18.0.100'), VIP2 = ip('198.18.0.101');

/** Frames of a `tcpdump -xx` listing, Ethernet header included. */
function tcpdumpFrames(name: string): Uint8Array[] {
  const frames: string[] = [];
  for (const line of readFileSync(new URL(name, FIX), 'utf8').split('\n')) {
    const m = /^\s+0x[0-9a-f]{4}:\s+(.*)$/.exec(line);
    if (m) frames[frames.length - 1] += m[1]!;
    else if (line.trim() !== '') frames.push('');
  }
  return frames.map(unhex);
}

const v2Pass = (priority: number, ipId = 1): AdvertPacket => ({
  version: 2, vrid: 51, priority, advertInt: 1, addrs: [VIP], authType: AUTH_PASS, authPass: 's3cr3tpw',
  src: A11, dst: GROUP, ipId,
});
const v3 = (priority: number, src = A11, dst = GROUP, ipId = 1): AdvertPacket => ({
  version: 3, vrid: 51, priority, advertInt: 100, addrs: [VIP], src, dst, ipId,
});
const cfg2: RxConfig = { version: 2, vrid: 51, vips: [VIP], advertInt: 1, authType: AUTH_PASS, authPass: 's3cr3tpw' };
const cfg3: RxConfig = { version: 3, vrid: 51, vips: [VIP], advertInt: 100 };

function rejected(o: RxOutcome, reason: string, text?: string | RegExp): void {
  assert.equal(o.kind, 'rejected', JSON.stringify(o));
  if (o.kind !== 'rejected') return;
  assert.equal(o.reason, reason);
  if (typeof text === 'string') assert.equal(o.text, text);
  else if (text) assert.match(o.text, text);
}

describe('vrrp-packet: encoding matches the spec captures (§5.1)', () => {
  it('v2 PASS advert, VRID 51 priority 150, first after start (IP ID 1)', () => {
    const want = '45c000280001 0000 ff70 1475 c612000b e0000012 21339601 0101 06c2 c6120064 7333637233747077';
    assert.equal(hex(encodeAdvert(v2Pass(150))), want.replace(/ /g, ''));
  });
  it('v2 checksums for priority 100 and 0', () => {
    const ck = (p: number): string => hex(encodeVrrp(v2Pass(p)).subarray(6, 8));
    assert.equal(ck(100), '38c2');
    assert.equal(ck(0), '9cc2');
  });
  it('v3 advert, same settings, no auth', () => {
    assert.equal(hex(encodeAdvert(v3(150))), '45c000200001 0000 ff70 147d c612000b e0000012 31339601 0064 cb43 c6120064'.replace(/ /g, ''));
  });
  it('v3 checksums: pseudo-header with source, destination; unicast uses the real peer', () => {
    const ck = (a: AdvertPacket): string => hex(encodeVrrp(a, a.src, a.dst).subarray(6, 8));
    assert.equal(ck(v3(100, A12)), 'fd42');
    assert.equal(ck(v3(0, A11)), '6144');
    assert.equal(ck(v3(150, A11, A12)), 'e537');
    // The same message without pseudo-header sums to 0x71f0 (which keepalived rejects).
    const m = encodeVrrp(v3(150), A11, GROUP);
    m[6] = 0; m[7] = 0;
    assert.equal(inetChecksum(m).toString(16), '71f0');
  });
  it('IP ID: 1, 2, … 65535, then 1 (0 is left out)', () => {
    assert.equal(nextIpId(0), 1);
    assert.equal(nextIpId(1), 2);
    assert.equal(nextIpId(65534), 65535);
    assert.equal(nextIpId(65535), 1);
  });
  it('advert_int to wire: v2 whole seconds 1..255, v3 centiseconds 1..4095', () => {
    assert.deepEqual([0, 0.4, 1.5, 3, 256].map((s) => advertIntToWire(2, s)), [1, 1, 2, 3, 255]);
    assert.deepEqual([0, 0.004, 0.5, 1, 40.95, 41].map((s) => advertIntToWire(3, s)), [1, 1, 50, 100, 4095, 4095]);
  });
  it('v3 IPv6: ff02::12, hop limit 255, traffic class 0xc0, pseudo-header checksum', () => {
    const src = ip('fe80::ff:fe00:11'), dst = ip('ff02::12');
    const vrrp = encodeVrrp({ version: 3, vrid: 52, priority: 200, advertInt: 100, addrs: [ip('fd00:18::100'), ip('fd00:18::101')] }, src, dst);
    const p = encodeIp6({ src, dst }, vrrp);
    assert.equal(hex(p.subarray(0, 8)), '6c000000002870ff');
    assert.equal(hex(vrrp.subarray(0, 8)), '3134c80200640cf3');
  });
});

describe('vrrp-packet: keepalived 2.2.7 adverts recorded by fixtures/vrrp/capture.sh', () => {
  const ipOf = (frame: Uint8Array): Uint8Array => frame.subarray(14);
  it('v2 PASS (VRID 51, prio 150, advert_int 1): every advert, ID 1.., last is the priority-0 stop advert', () => {
    const frames = tcpdumpFrames('v2-pass.txt');
    assert.equal(frames.length, 5);
    frames.forEach((f, i) => {
      const prio = i === frames.length - 1 ? 0 : 150;
      assert.equal(hex(ipOf(f)), hex(encodeAdvert(v2Pass(prio, i + 1))), `advert ${i + 1}`);
      const o = decodeAdvert(ipOf(f), cfg2);
      assert.equal(o.kind, 'accepted');
    });
  });
  it('v3 IPv4 (VRID 51, prio 150, advert_int 0.5, two VIPs)', () => {
    const frames = tcpdumpFrames('v3-ipv4.txt');
    assert.ok(frames.length >= 5);
    frames.forEach((f, i) => {
      const prio = i === frames.length - 1 ? 0 : 150;
      const a: AdvertPacket = { version: 3, vrid: 51, priority: prio, advertInt: advertIntToWire(3, 0.5), addrs: [VIP, VIP2], src: A11, dst: GROUP, ipId: i + 1 };
      assert.equal(hex(ipOf(f)), hex(encodeAdvert(a)), `advert ${i + 1}`);
      const o = decodeAdvert(ipOf(f), { version: 3, vrid: 51, vips: [VIP2, VIP], advertInt: 50 });
      assert.equal(o.kind, 'accepted');
      if (o.kind === 'accepted') { assert.equal(o.advert.advertInt, 50); assert.equal(o.advert.priority, prio); assert.equal(o.advert.ipId, i + 1); }
    });
  });
  it('v3 IPv6 (VRID 52, prio 200, two VIPs): kernel header with its own flow label', () => {
    const frames = tcpdumpFrames('v3-ipv6.txt');
    assert.ok(frames.length >= 2);
    const src = ip('fe80::ff:fe00:11'), dst = ip('ff02::12');
    const vips = [ip('fd00:18::100'), ip('fd00:18::101')];
    frames.forEach((f, i) => {
      const pkt = ipOf(f);
      const prio = i === frames.length - 1 ? 0 : 200;
      // The flow label is the kernel's (auto flow labels); keepalived does not choose it.
      const flowLabel = ((pkt[1]! & 0x0f) << 16) | (pkt[2]! << 8) | pkt[3]!;
      const vrrp = encodeVrrp({ version: 3, vrid: 52, priority: prio, advertInt: 100, addrs: vips }, src, dst);
      assert.equal(hex(pkt), hex(encodeIp6({ src, dst, flowLabel }, vrrp)), `advert ${i + 1}`);
      const o = decodeAdvert(pkt, { version: 3, vrid: 52, vips, advertInt: 100 });
      assert.equal(o.kind, 'accepted');
      if (o.kind === 'accepted') assert.equal(ipToString(o.advert.src), 'fe80::ff:fe00:11');
      // Without the IPv6 header (raw socket), addresses and hop limit from the socket.
      const bare = decodeAdvert(pkt.subarray(40), { version: 3, vrid: 52, vips, advertInt: 100 }, { ip6: { src, dst, hopLimit: 255 } });
      assert.equal(bare.kind, 'accepted');
    });
  });
});

describe('vrrp-packet: receive checks in keepalived order (§5.2)', () => {
  const good2 = (): Uint8Array => encodeAdvert(v2Pass(150));
  const good3 = (): Uint8Array => encodeAdvert(v3(150));
  /** Re-sum the IPv4 header after an edit. */
  const fixIp = (p: Uint8Array): Uint8Array => { p[10] = 0; p[11] = 0; const c = inetChecksum(p.subarray(0, 20)); p[10] = c >> 8; p[11] = c & 0xff; return p; };

  it('accepts a good advert and reports its fields', () => {
    const o = decodeAdvert(good2(), cfg2);
    assert.equal(o.kind, 'accepted');
    if (o.kind !== 'accepted') return;
    assert.deepEqual({ v: o.advert.version, vrid: o.advert.vrid, p: o.advert.priority, n: o.advert.count, at: o.advert.authType, i: o.advert.advertInt, ttl: o.advert.ttl, mc: o.advert.multicast },
      { v: 2, vrid: 51, p: 150, n: 1, at: 1, i: 1, ttl: 255, mc: true });
    assert.equal(ipToString(o.advert.src), '198.18.0.11');
    assert.equal(o.oldChecksum, false);
  });
  it('ignored before the instance: not IP, not VRRP, too short, other VRID', () => {
    assert.deepEqual(pick(decodeAdvert(new Uint8Array(0), cfg3)), ['ignored', 'not-ip']);
    assert.deepEqual(pick(decodeAdvert(unhex('55'.repeat(40)), cfg3)), ['ignored', 'not-ip']);
    const udp = good3(); udp[9] = 17;
    assert.deepEqual(pick(decodeAdvert(udp, cfg3)), ['ignored', 'not-vrrp']);
    const o = decodeAdvert(good3().subarray(0, 27), cfg3);
    assert.deepEqual(pick(o), ['ignored', 'too-short']);
    assert.equal(o.kind === 'ignored' && o.text, 'IPv4 VRRP packet too short - 27 bytes');
    assert.deepEqual(pick(decodeAdvert(good3(), { ...cfg3, vrid: 52 })), ['ignored', 'other-vrid']);
  });
  it('1. AH header present exactly when auth_type AH', () => {
    // IP header (protocol 51) + 24-byte AH header + the VRRP message.
    const plain = good2();
    const ah = new Uint8Array(plain.length + 24);
    ah.set(plain.subarray(0, 20)); ah.set(plain.subarray(20), 44);
    ah[3] = ah.length; ah[9] = 51; ah[20] = 112; ah[21] = 4; fixIp(ah);
    rejected(decodeAdvert(ah, cfg2), 'ah-mismatch', 'received an AH packet, expecting no AH');
    rejected(decodeAdvert(good2(), { ...cfg2, authType: AUTH_AH }), 'ah-mismatch');
  });
  it('2. exact length from the packet\'s own version and count', () => {
    const long = new Uint8Array(40); long.set(good3());
    rejected(decodeAdvert(long, cfg3), 'too-long', 'vrrp packet too long, length 40 and expect 32');
    rejected(decodeAdvert(good3().subarray(0, 30), cfg3), 'length-short', 'vrrp packet too short, length 30 and expect 32');
    // A v2 packet to a v3 instance passes the length check (own version) and fails on version.
    rejected(decodeAdvert(good2(), cfg3), 'version', 'wrong version. Received 2 and expect 3');
  });
  it('3. TTL 255 in multicast mode only', () => {
    const p = good3(); p[8] = 254; fixIp(p);
    rejected(decodeAdvert(p, cfg3), 'ttl', 'invalid TTL/HL. Received 254 and expect 255');
    const u = encodeAdvert({ ...v3(150, A11, A12), ttl: 64 });
    assert.equal(decodeAdvert(u, { ...cfg3, unicast: true }).kind, 'accepted');
  });
  it('4. version must match', () => {
    rejected(decodeAdvert(good3(), cfg2), 'version', 'wrong version. Received 3 and expect 2');
  });
  it('5. v2: auth type valid and equal, password, advert interval', () => {
    const bad = (edit: (m: Uint8Array) => void): Uint8Array => {
      const a = v2Pass(150);
      const m = encodeVrrp(a); edit(m); m[6] = 0; m[7] = 0;
      const c = inetChecksum(m); m[6] = c >> 8; m[7] = c & 0xff;
      return encodeIp4({ src: A11, dst: GROUP, id: 1 }, m);
    };
    rejected(decodeAdvert(bad((m) => { m[4] = 3; }), cfg2), 'auth-type-invalid', 'Invalid auth type: 3');
    rejected(decodeAdvert(bad((m) => { m[4] = 0; }), cfg2), 'auth-type-mismatch', 'received a 0 auth, expecting 1!');
    rejected(decodeAdvert(bad((m) => { m[19] = 0x78; }), cfg2), 'auth-pass', 'received an invalid passwd!');
    rejected(decodeAdvert(bad((m) => { m[5] = 2; }), cfg2), 'interval', "advertisement interval mismatch mine=1 sec rcv'd=2 sec");
    // Longer passwords are cut to 8 bytes on both sides.
    assert.equal(decodeAdvert(encodeAdvert({ ...v2Pass(150), authPass: 's3cr3tpwXYZ' }), { ...cfg2, authPass: 's3cr3tpwABC' }).kind, 'accepted');
    const none = encodeAdvert({ ...v2Pass(150), authType: AUTH_NONE });
    assert.equal(decodeAdvert(none, { ...cfg2, authType: AUTH_NONE }).kind, 'accepted');
    // v3 intervals are not compared in 2.2.7.
    assert.equal(decodeAdvert(encodeAdvert({ ...v3(150), advertInt: 50 }), cfg3).kind, 'accepted');
  });
  it('6. type must be 1', () => {
    const p = good3(); p[20] = 0x32;
    rejected(decodeAdvert(p, cfg3), 'type', 'Invalid packet type. 2 and expect 1');
  });
  it('7. address count equal to ours (skip_check_adv_addr only for the known master)', () => {
    const two = encodeAdvert({ ...v3(150), addrs: [VIP, VIP2] });
    rejected(decodeAdvert(two, cfg3), 'count', 'received an unexpected ip number count 2, expected 1!');
    rejected(decodeAdvert(two, { ...cfg3, skipCheckAdvAddr: true, knownMaster: A12 }), 'count');
    assert.equal(decodeAdvert(two, { ...cfg3, skipCheckAdvAddr: true, knownMaster: A11 }).kind, 'accepted');
  });
  it('8. IP total length equal to the received length', () => {
    const p = good3(); p[3] = 40; fixIp(p);
    rejected(decodeAdvert(p, cfg3), 'ip-length', /ip_tot_len mismatch/);
  });
  it('9. checksum: v2 over the message, v3 with the pseudo-header', () => {
    const p2 = good2(); p2[27] = p2[27]! ^ 1;
    rejected(decodeAdvert(p2, cfg2), 'checksum', 'Invalid VRRPv2 checksum');
    const p3 = good3(); p3[27] = p3[27]! ^ 1;
    rejected(decodeAdvert(p3, cfg3), 'checksum', 'Invalid VRRPv3 checksum');
    // v3 summed without the pseudo-header (0x71f0) is rejected.
    const np = good3(); np[26] = 0x71; np[27] = 0xf0;
    rejected(decodeAdvert(np, cfg3), 'checksum', 'Invalid VRRPv3 checksum');
  });
  it('9. old unicast form (group in the pseudo-header): detected unless old_unicast_checksum never', () => {
    const old = encodeAdvert({ ...v3(150, A11, A12), checksumDst: GROUP });
    const u: RxConfig = { ...cfg3, unicast: true };
    const o = decodeAdvert(old, u);
    assert.equal(o.kind, 'accepted');
    assert.equal(o.kind === 'accepted' && o.oldChecksum, true);
    rejected(decodeAdvert(old, { ...u, oldUnicastChecksum: 'never' }), 'checksum');
    // Multicast is never affected.
    const mc = good3(); mc[27] = mc[27]! ^ 1;
    rejected(decodeAdvert(mc, { ...cfg3, oldUnicastChecksum: 'auto' }), 'checksum');
  });
  it('10. destination kind as configured', () => {
    rejected(decodeAdvert(encodeAdvert(v3(150, A11, A12)), cfg3), 'dest-kind', 'Expected multicast packet but received unicast packet');
    rejected(decodeAdvert(good3(), { ...cfg3, unicast: true }), 'dest-kind', 'Expected unicast packet but received multicast packet');
  });
  it('11. every configured VIP present; unicast source a peer within its TTL limits', () => {
    const other = encodeAdvert({ ...v3(150), addrs: [VIP2] });
    rejected(decodeAdvert(other, cfg3), 'vip-missing', 'ip address associated with VRID 51 not present in MASTER advert: 198.18.0.100');
    const u: RxConfig = { ...cfg3, unicast: true, checkUnicastSrc: true, unicastPeers: [{ addr: A12 }] };
    rejected(decodeAdvert(encodeAdvert(v3(150, A11, A12)), u), 'unicast-src', 'unicast source address 198.18.0.11 not a unicast peer');
    const u2: RxConfig = { ...u, unicastPeers: [{ addr: A11, minTtl: 250 }] };
    rejected(decodeAdvert(encodeAdvert({ ...v3(150, A11, A12), ttl: 64 }), u2), 'unicast-ttl');
    assert.equal(decodeAdvert(encodeAdvert(v3(150, A11, A12)), u2).kind, 'accepted');
  });
  it('the first failing check wins (TTL before version before checksum)', () => {
    const p = good2(); p[8] = 1; p[27] = p[27]! ^ 1;
    rejected(decodeAdvert(p, cfg3), 'ttl');
    const q = good2(); q[27] = q[27]! ^ 1;
    rejected(decodeAdvert(q, cfg3), 'version');
  });
});

function pick(o: RxOutcome): [string, string] {
  return [o.kind, o.kind === 'accepted' ? '' : o.reason];
}

describe('vrrp-packet: fuzz (seed 0x5eed)', () => {
  const KINDS = new Set(['accepted', 'ignored', 'rejected']);
  const bases: Array<[Uint8Array, RxConfig]> = [
    [encodeAdvert(v2Pass(150)), cfg2],
    [encodeAdvert(v3(150)), cfg3],
    [encodeAdvert(v3(150, A11, A12)), { ...cfg3, unicast: true, checkUnicastSrc: true, unicastPeers: [{ addr: A11 }] }],
    [tcpdumpFrames('v3-ipv6.txt')[0]!.subarray(14), { version: 3, vrid: 52, vips: [ip('fd00:18::100'), ip('fd00:18::101')], advertInt: 100 }],
  ];
  const tally = new Map<string, number>();
  const account = (o: RxOutcome): void => {
    assert.ok(KINDS.has(o.kind));
    if (o.kind !== 'accepted') assert.ok(o.text.length > 0);
    const k = pick(o).join(':');
    tally.set(k, (tally.get(k) ?? 0) + 1);
  };

  it('truncations at every length never throw', () => {
    for (const [p, c] of bases) for (let n = 0; n < p.length; n++) {
      const o = decodeAdvert(p.subarray(0, n), c);
      account(o);
      assert.notEqual(o.kind, 'accepted', `truncated to ${n}`);
    }
  });
  it('every byte mutated (8 values each): accepted only where keepalived does not look', () => {
    const rnd = prng(0x5eed);
    // IPv4 bytes nothing checks: TOS, ID, flags/fragment, header checksum (the kernel checks that).
    const unchecked4 = new Set([1, 4, 5, 6, 7, 10, 11]);
    for (const [p, c] of bases) {
      const v6 = p[0]! >> 4 === 6;
      for (let i = 0; i < p.length; i++) for (let k = 0; k < 8; k++) {
        const q = p.slice();
        q[i] = (q[i]! + 1 + Math.floor(rnd() * 255)) & 0xff;
        const o = decodeAdvert(q, c);
        account(o);
        // IPv6: traffic class / flow label (bytes 0–3 after the version nibble) are not checked.
        // v2 has no pseudo-header: its addresses are only checked for the destination kind.
        const free = v6 ? i < 4 && !(i === 0 && q[0]! >> 4 !== 6)
          : unchecked4.has(i) || (c.unicast === true && i === 8) || (c.version === 2 && i >= 12 && i < 20);
        if (o.kind === 'accepted') assert.ok(free, `byte ${i} -> ${q[i]} accepted`);
      }
    }
  });
  it('random lengths and bytes, and random headers on valid VRRP bodies, never throw', () => {
    const rnd = prng(0x5eed + 1);
    for (let n = 0; n < 3000; n++) {
      const len = Math.floor(rnd() * 120);
      const q = new Uint8Array(len);
      for (let i = 0; i < len; i++) q[i] = Math.floor(rnd() * 256);
      if (len > 0 && rnd() < 0.5) q[0] = rnd() < 0.5 ? 0x45 : 0x60;
      if (len > 9 && rnd() < 0.5) q[9] = 112;
      const [, c] = bases[n % bases.length]!;
      account(decodeAdvert(q, c));
      account(decodeAdvert(q, c, { ip6: { src: A11, dst: GROUP, hopLimit: Math.floor(rnd() * 256) } }));
    }
  });
  after(() => {
    const total = [...tally.values()].reduce((a, b) => a + b, 0);
    assert.ok(total > 5000, `${total} outcomes`);
    for (const k of ['ignored:too-short', 'ignored:not-ip', 'rejected:checksum', 'rejected:too-long', 'rejected:version', 'rejected:ttl', 'accepted:']) {
      assert.ok((tally.get(k) ?? 0) > 0, `fuzz never produced ${k}`);
    }
  });
});

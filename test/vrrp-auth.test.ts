// VRRP HMAC authentication trailer (plugins/ha/lib/vrrp-auth.ts): the two appendix wire images
// of draft-cassen-vrrp-auth-hmac (as pinned by keepalived's test/auth_hmac_test.c), cross-checked
// with the openssl CLI; round trips through vrrp-packet.ts; replay, window, keys, modes; fuzz.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import {
  AUTH_PASS, decodeAdvert, encodeAdvert, encodeIp4, encodeIp6, inetChecksum, parseIp, pseudoHeader,
  type AdvertPacket, type RxConfig, type RxOutcome,
} from '../plugins/ha/lib/vrrp-packet.js';
import {
  HMAC_TRAILER_LEN, VrrpHmac, buildTrailer, clockSeq, decodeTrailer, hmacPseudo, seqAfter, validateHmacConfig,
  type HmacConfig, type HmacMode, type OpenResult,
} from '../plugins/ha/lib/vrrp-auth.js';
import { prng } from './prng.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex'));
const ip = (s: string): Uint8Array => { const b = parseIp(s); assert.ok(b, s); return b; };
const cat = (...a: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(a));

// ---------------------------------------------------------------- appendix vectors

/** Key 00 01 .. 1f, key id 1, VRID 51, priority 200, sequence 0x68000000_8000_0000. */
const KEY = unhex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
const VEC_SEC = 0x68000000;
/** A clock reading whose sequence is the vectors' (0x8000/65536 s = 500 ms). */
const VEC_MS = VEC_SEC * 1000 + 500;
const V4_SRC = ip('198.51.100.10'), V4_DST = ip('192.0.2.10');
const V6_SRC = ip('fe80::10'), V6_DST = ip('fe80::20');
// IPv4, VRRPv3, VIP 192.0.2.100, checksum over the message only (RFC 9568 form in the vector).
const V4_MSG = unhex('3133c801 0064 4402 c0000264');
const V4_TRAILER = unhex('01 01 0000 68000000 8000 0000 1b84bc4e8e43892dc6d98448f8ee2265');
// IPv6, VRRPv3, VIP fe80::100, transport checksum for fe80::10 -> fe80::20 over message + trailer.
const V6_MSG_WIRE = unhex('3133c801 0064 a2e9 fe800000000000000000000000000100');
const V6_TRAILER = unhex('01 01 0000 68000000 8000 0000 c8c56146ebfd66ee10ec4d8186461b78');

const vecCfg = (mode: HmacMode = 'enforce', o: Partial<HmacConfig> = {}): HmacConfig => ({
  keys: [{ id: 1, secret: KEY }], sendKeyId: 1, mode, ...o,
});
const at = (ms: number) => ({ now: () => ms });

function ok(r: OpenResult, authenticated = true): Uint8Array {
  assert.equal(r.kind, 'ok', JSON.stringify(r));
  if (r.kind !== 'ok') throw new Error('unreachable');
  assert.equal(r.authenticated, authenticated);
  return r.packet;
}

function rejects(r: OpenResult, reason: string, text?: RegExp): void {
  assert.equal(r.kind, 'reject', JSON.stringify(r));
  if (r.kind !== 'reject') return;
  assert.equal(r.reason, reason, r.text);
  if (text) assert.match(r.text, text);
}

/** HMAC-SHA256 by the openssl CLI, independent of node:crypto. */
function opensslHmac(key: Uint8Array, data: Uint8Array): string {
  const out = execFileSync('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${hex(key)}`, '-r'], { input: data });
  return out.toString().split(' ')[0]!.trim();
}

/** The draft's HMAC input, built by hand: pseudo-header, message with checksum zero, trailer head, 16 zeros. */
function hmacInput(family: 4 | 6, src: Uint8Array, msg: Uint8Array, trailer: Uint8Array): Uint8Array {
  const pseudo = new Uint8Array(20);
  pseudo[0] = family; pseudo[1] = msg[0]! >> 4; pseudo[2] = msg[1]!;
  pseudo.set(src, 4);
  const m = msg.slice(); m[6] = 0; m[7] = 0;
  return cat(pseudo, m, trailer.subarray(0, 12), new Uint8Array(16));
}

describe('vrrp-auth: appendix wire images', () => {
  it('the HMACs of both images, recomputed by openssl from the documented input', function () {
    this.timeout(20000);
    assert.equal(opensslHmac(KEY, hmacInput(4, V4_SRC, V4_MSG, V4_TRAILER)).slice(0, 32), hex(V4_TRAILER.subarray(12)));
    assert.equal(opensslHmac(KEY, hmacInput(6, V6_SRC, V6_MSG_WIRE, V6_TRAILER)).slice(0, 32), hex(V6_TRAILER.subarray(12)));
  });

  it('the pseudo-header: family, version, VRID, zero, source zero-padded to 16 bytes', () => {
    assert.equal(hex(hmacPseudo(3, 51, V4_SRC)), '04033300' + 'c633640a' + '00'.repeat(12));
    assert.equal(hex(hmacPseudo(3, 51, V6_SRC)), '06033300' + 'fe80' + '00'.repeat(13) + '10');
  });

  it('IPv4: seal reproduces the image byte for byte, open verifies it and gives decodeAdvert the bare advert', () => {
    const bare = encodeIp4({ src: V4_SRC, dst: V4_DST, id: 7 }, V4_MSG);
    const sealed = new VrrpHmac(vecCfg(), at(VEC_MS)).seal(bare);
    assert.equal(hex(sealed.subarray(20)), hex(cat(V4_MSG, V4_TRAILER)));
    // IP header: total length grew by 28, header checksum valid, the rest unchanged.
    assert.equal((sealed[2]! << 8) | sealed[3]!, 20 + 12 + 28);
    assert.equal(inetChecksum(sealed.subarray(0, 20)), 0);
    assert.equal(hex(sealed.subarray(0, 20)), hex(encodeIp4({ src: V4_SRC, dst: V4_DST, id: 7 }, cat(V4_MSG, V4_TRAILER)).subarray(0, 20)));
    const wire = encodeIp4({ src: V4_SRC, dst: V4_DST, id: 7 }, cat(V4_MSG, V4_TRAILER));
    const opened = ok(new VrrpHmac(vecCfg(), at(VEC_MS + 1000)).open(wire));
    assert.equal(hex(opened), hex(bare));
  });

  it('IPv6: seal of the bare message reproduces the image (checksum included), open verifies it', () => {
    const msg = V6_MSG_WIRE.slice(); msg[6] = 0; msg[7] = 0;
    const sealed = new VrrpHmac(vecCfg(), at(VEC_MS)).seal(msg, { src: V6_SRC, dst: V6_DST });
    assert.equal(hex(sealed), hex(cat(V6_MSG_WIRE, V6_TRAILER)));
    const opened = ok(new VrrpHmac(vecCfg(), at(VEC_MS)).open(cat(V6_MSG_WIRE, V6_TRAILER), { src: V6_SRC, dst: V6_DST }));
    // Stripped: the checksum is now the message's own, as decodeAdvert checks it.
    assert.equal(opened.length, 24);
    assert.equal(inetChecksum(pseudoHeader(V6_SRC, V6_DST, 24), opened), 0);
    assert.equal(hex(opened.subarray(8)), hex(V6_MSG_WIRE.subarray(8)));
  });

  it('IPv6 whole packet: payload length and checksum fixed both ways', () => {
    const msg = V6_MSG_WIRE.slice(); msg[6] = 0; msg[7] = 0;
    const bare = encodeIp6({ src: V6_SRC, dst: V6_DST }, msg);
    const sealed = new VrrpHmac(vecCfg(), at(VEC_MS)).seal(bare);
    assert.equal(hex(sealed.subarray(40)), hex(cat(V6_MSG_WIRE, V6_TRAILER)));
    assert.equal((sealed[4]! << 8) | sealed[5]!, 24 + 28);
    const opened = ok(new VrrpHmac(vecCfg(), at(VEC_MS)).open(sealed));
    assert.equal((opened[4]! << 8) | opened[5]!, 24);
    assert.equal(opened.length, 64);
  });

  it('one flipped byte per field of the IPv6 image', () => {
    const img = cat(V6_MSG_WIRE, V6_TRAILER);
    const cases: Array<[string, number, string]> = [
      ['priority', 2, 'bad-hmac'], ['advert interval', 5, 'bad-hmac'], ['vip', 8 + 15, 'bad-hmac'],
      ['ext_type', 24, 'malformed'], ['key id', 25, 'unknown-key'], ['reserved', 26, 'malformed'],
      ['seconds (low byte, inside the window)', 31, 'bad-hmac'], ['counter', 35, 'bad-hmac'], ['hmac', 36, 'bad-hmac'],
    ];
    for (const [what, off, reason] of cases) {
      const b = img.slice(); b[off]! ^= 0x01;
      // Keep the transport checksum right so the trailer checks are what fails.
      b[6] = 0; b[7] = 0;
      const ck = inetChecksum(pseudoHeader(V6_SRC, V6_DST, b.length), b);
      b[6] = ck >> 8; b[7] = ck & 0xff;
      const r = new VrrpHmac(vecCfg(), at(VEC_MS)).open(b, { src: V6_SRC, dst: V6_DST });
      assert.equal(r.kind, 'reject', what);
      if (r.kind === 'reject') assert.equal(r.reason, reason, what);
    }
    // The checksum is not under the HMAC: a wrong one is the transport check's to catch.
    const b = img.slice(); b[7]! ^= 1;
    rejects(new VrrpHmac(vecCfg(), at(VEC_MS)).open(b, { src: V6_SRC, dst: V6_DST }), 'checksum');
  });

  it('the source address and the VRID are bound', () => {
    const img = cat(V6_MSG_WIRE, V6_TRAILER);
    const other = ip('fe80::21');
    const b = img.slice(); b[6] = 0; b[7] = 0;
    const ck = inetChecksum(pseudoHeader(other, V6_DST, b.length), b);
    b[6] = ck >> 8; b[7] = ck & 0xff;
    rejects(new VrrpHmac(vecCfg(), at(VEC_MS)).open(b, { src: other, dst: V6_DST }), 'bad-hmac', /fe80::21/);
    // IPv4 image sent with VRID 52 (message checksum fixed; the HMAC still says 51).
    const m = V4_MSG.slice(); m[1] = 52; m[6] = 0; m[7] = 0;
    const c4 = inetChecksum(m); m[6] = c4 >> 8; m[7] = c4 & 0xff;
    rejects(new VrrpHmac(vecCfg(), at(VEC_MS)).open(encodeIp4({ src: V4_SRC, dst: V4_DST, id: 1 }, cat(m, V4_TRAILER))), 'bad-hmac');
  });

  it('trailer decoding and sequence helpers', () => {
    const t = decodeTrailer(V4_TRAILER)!;
    assert.deepEqual([t.extType, t.keyId, t.reserved, t.sec, t.subsec, t.ctr], [1, 1, 0, VEC_SEC, 0x8000, 0]);
    assert.equal(t.seq, 0x6800000080000000n);
    assert.equal(clockSeq(VEC_MS), 0x6800000080000000n);
    assert.equal(decodeTrailer(V4_TRAILER.subarray(1)), null);
    assert.ok(seqAfter(1n, 0n) && !seqAfter(0n, 0n) && !seqAfter(0n, 1n));
    // RFC 1982: the wrap is not a cliff.
    assert.ok(seqAfter(0n, (1n << 64n) - 1n));
    assert.ok(!seqAfter((1n << 64n) - 1n, 0n));
    assert.equal(hex(buildTrailer(KEY, 1, 0x6800000080000000n, V4_SRC, V4_MSG)), hex(V4_TRAILER));
  });
});

// ---------------------------------------------------------------- round trips

const A11 = ip('198.18.0.11'), A12 = ip('198.18.0.12'), GROUP4 = ip('224.0.0.18'), VIP4 = ip('198.18.0.100');
const B11 = ip('fe80::11'), B12 = ip('fe80::12'), GROUP6 = ip('ff02::12'), VIP6 = ip('2001:db8::100');
const SECRET = 'hex:' + 'ab'.repeat(32);
const T0 = 1_780_000_000_000;

interface Case { name: string; pkt: AdvertPacket; rx: RxConfig }
const cases: Case[] = [
  { name: 'v2 IPv4 multicast, PASS auth data',
    pkt: { version: 2, vrid: 7, priority: 150, advertInt: 1, addrs: [VIP4], authType: AUTH_PASS, authPass: 'pw', src: A11, dst: GROUP4, ipId: 1 },
    rx: { version: 2, vrid: 7, vips: [VIP4], advertInt: 1, authType: AUTH_PASS, authPass: 'pw' } },
  { name: 'v2 IPv4 unicast',
    pkt: { version: 2, vrid: 7, priority: 150, advertInt: 1, addrs: [VIP4], src: A11, dst: A12, ipId: 9 },
    rx: { version: 2, vrid: 7, vips: [VIP4], advertInt: 1, unicast: true } },
  { name: 'v3 IPv4 multicast',
    pkt: { version: 3, vrid: 51, priority: 200, advertInt: 100, addrs: [VIP4, ip('198.18.0.101')], src: A11, dst: GROUP4, ipId: 3 },
    rx: { version: 3, vrid: 51, vips: [VIP4, ip('198.18.0.101')], advertInt: 100 } },
  { name: 'v3 IPv4 unicast',
    pkt: { version: 3, vrid: 51, priority: 200, advertInt: 100, addrs: [VIP4], src: A11, dst: A12, ipId: 3 },
    rx: { version: 3, vrid: 51, vips: [VIP4], advertInt: 100, unicast: true } },
  { name: 'v3 IPv6 multicast',
    pkt: { version: 3, vrid: 51, priority: 100, advertInt: 100, addrs: [VIP6], src: B11, dst: GROUP6 },
    rx: { version: 3, vrid: 51, vips: [VIP6], advertInt: 100 } },
  { name: 'v3 IPv6 unicast',
    pkt: { version: 3, vrid: 51, priority: 100, advertInt: 100, addrs: [VIP6], src: B11, dst: B12 },
    rx: { version: 3, vrid: 51, vips: [VIP6], advertInt: 100, unicast: true } },
];

const cfg = (mode: HmacMode = 'enforce', o: Partial<HmacConfig> = {}): HmacConfig => ({
  keys: [{ id: 3, secret: SECRET }], sendKeyId: 3, mode, ...o,
});

function accepted(o: RxOutcome): void {
  assert.equal(o.kind, 'accepted', JSON.stringify(o));
}

/** The bare IPv6 form: VRRP message + the addresses a raw socket reports. */
function bare6(p: Uint8Array): { msg: Uint8Array; src: Uint8Array; dst: Uint8Array } {
  return { msg: p.slice(40), src: p.slice(8, 24), dst: p.slice(24, 40) };
}

describe('vrrp-auth: round trips through vrrp-packet', () => {
  for (const c of cases) {
    it(c.name, () => {
      let t = T0;
      const tx = new VrrpHmac(cfg(), { now: () => t });
      const rx = new VrrpHmac(cfg(), { now: () => t + 1200 });
      const plain = encodeAdvert(c.pkt);
      const want = decodeAdvert(plain, c.rx);
      accepted(want);
      for (let i = 0; i < 3; i++) {
        const sealed = tx.seal(plain);
        assert.equal(sealed.length, plain.length + HMAC_TRAILER_LEN);
        // Without open, decodeAdvert refuses the longer packet (as keepalived < 2.4 does).
        assert.equal((decodeAdvert(sealed, c.rx) as { reason?: string }).reason, 'too-long');
        const opened = ok(rx.open(sealed));
        assert.equal(hex(opened), hex(plain));
        assert.deepEqual(decodeAdvert(opened, c.rx), want);
        t += 1000;
      }
      if (c.pkt.src.length === 16) {
        // The bare form a raw IPv6 socket gives.
        const b = bare6(plain);
        const sealed = tx.seal(b.msg, b);
        const opened = ok(rx.open(sealed, b));
        assert.equal(hex(opened), hex(b.msg));
        accepted(decodeAdvert(opened, c.rx, { ip6: { src: b.src, dst: b.dst, hopLimit: 255 } }));
        // And the whole-packet and bare forms carry the same trailer for the same sequence.
        const tw = new VrrpHmac(cfg(), at(T0)).seal(plain), tb = new VrrpHmac(cfg(), at(T0)).seal(b.msg, b);
        assert.equal(hex(tw.subarray(40)), hex(tb));
      }
      assert.equal(rx.counters()['accepted_authenticated'], c.pkt.src.length === 16 ? 4 : 3);
    });
  }

  it('a wrong IPv4 total length stays wrong for decodeAdvert, and a valid header checksum stays valid', () => {
    const c = cases[2]!;
    const sealed = new VrrpHmac(cfg(), at(T0)).seal(encodeAdvert(c.pkt));
    const opened = ok(new VrrpHmac(cfg(), at(T0)).open(sealed));
    assert.equal(inetChecksum(opened.subarray(0, 20)), 0);
    const bad = sealed.slice(); bad[3]! += 4; // total length off by 4, header checksum now wrong too
    const o2 = ok(new VrrpHmac(cfg(), at(T0)).open(bad));
    assert.notEqual(inetChecksum(o2.subarray(0, 20)), 0);
    assert.equal((decodeAdvert(o2, c.rx) as { reason?: string }).reason, 'ip-length');
  });

  it('a tampered IPv4 VRRP checksum passes the HMAC (it is not covered) and decodeAdvert rejects it', () => {
    const c = cases[2]!;
    const sealed = new VrrpHmac(cfg(), at(T0)).seal(encodeAdvert(c.pkt));
    sealed[20 + 7]! ^= 1;
    const opened = ok(new VrrpHmac(cfg(), at(T0)).open(sealed));
    assert.equal((decodeAdvert(opened, c.rx) as { reason?: string }).reason, 'checksum');
  });

  it('sealAll: unicast copies of one advert share one sequence and, for IPv4, one HMAC', () => {
    const tx = new VrrpHmac(cfg(), at(T0));
    const peers = [A12, ip('198.18.0.13'), ip('198.18.0.14')];
    const copies = tx.sealAll(peers.map((dst) => encodeAdvert({ ...cases[3]!.pkt, dst })));
    const trailers = copies.map((p) => hex(p.subarray(p.length - 28)));
    assert.equal(new Set(trailers).size, 1);
    for (const [i, p] of copies.entries()) {
      const r = encodeAdvert({ ...cases[3]!.pkt, dst: peers[i]! });
      assert.equal(hex(ok(new VrrpHmac(cfg(), at(T0)).open(p))), hex(r));
    }
    // IPv6 bare copies: same trailer, each with its own transport checksum.
    const msgs = [B12, ip('fe80::13')].map((dst) => ({ ...bare6(encodeAdvert({ ...cases[5]!.pkt, dst })) }));
    const c6 = tx.sealAll(msgs.map((m) => m.msg), msgs);
    assert.equal(hex(c6[0]!.subarray(24)), hex(c6[1]!.subarray(24)));
    assert.notEqual(hex(c6[0]!.subarray(6, 8)), hex(c6[1]!.subarray(6, 8)));
    for (const [i, p] of c6.entries()) ok(new VrrpHmac(cfg(), at(T0)).open(p, msgs[i]!));
  });

  it('seal refuses what is not an advert (a send-path programming error)', () => {
    const tx = new VrrpHmac(cfg(), at(T0));
    assert.throws(() => tx.seal(new Uint8Array(3)), /not a VRRP advert/);
    const once = tx.seal(encodeAdvert(cases[2]!.pkt));
    assert.throws(() => tx.seal(once), /already carries a trailer/);
  });
});

// ---------------------------------------------------------------- replay and freshness

describe('vrrp-auth: replay protection', () => {
  const c = cases[3]!;
  const plain = encodeAdvert(c.pkt);

  it('the same advert twice: the second is a replay', () => {
    const sealed = new VrrpHmac(cfg(), at(T0)).seal(plain);
    const rx = new VrrpHmac(cfg(), at(T0));
    ok(rx.open(sealed));
    rejects(rx.open(sealed), 'replay', /replayed authentication trailer from 198\.18\.0\.11/);
    assert.equal(rx.counters()['replay'], 1);
  });

  it('an older advert after a newer one is a replay; the mark is per sender', () => {
    let t = T0;
    const tx = new VrrpHmac(cfg(), { now: () => t });
    const first = tx.seal(plain);
    t += 1000;
    const second = tx.seal(plain);
    const rx = new VrrpHmac(cfg(), at(T0 + 1500));
    ok(rx.open(second));
    rejects(rx.open(first), 'replay');
    // Another sender (another source address) has its own mark.
    const other = new VrrpHmac(cfg(), at(T0)).seal(encodeAdvert({ ...c.pkt, src: ip('198.18.0.13') }));
    ok(rx.open(other));
    // A rejected (forged) advert does not move the mark.
    const forged = second.slice(); forged[forged.length - 1]! ^= 1;
    t += 1000;
    const third = tx.seal(plain);
    rejects(rx.open(forged), 'bad-hmac');
    ok(rx.open(third));
  });

  it('same millisecond: the counter breaks the tie; a clock stepped back still sends a growing sequence', () => {
    let t = T0;
    const tx = new VrrpHmac(cfg(), { now: () => t });
    const rx = new VrrpHmac(cfg(), { now: () => t });
    const seqs: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      const s = tx.seal(plain);
      seqs.push(decodeTrailer(s.subarray(s.length - 28))!.seq);
      ok(rx.open(s));
    }
    assert.deepEqual(seqs.map((s) => s - seqs[0]!), [0n, 1n, 2n]);
    t -= 2000; // within the window: keep growing from the last one
    const s = tx.seal(plain);
    assert.equal(decodeTrailer(s.subarray(s.length - 28))!.seq, seqs[2]! + 1n);
    ok(rx.open(s));
  });

  it('time mode: a sequence stranded past the window by a corrected clock step restarts from the clock', () => {
    let t = T0 + 3600_000;
    const tx = new VrrpHmac(cfg(), { now: () => t });
    tx.seal(plain);
    t = T0;
    const s = tx.seal(plain);
    assert.equal(decodeTrailer(s.subarray(s.length - 28))!.sec, T0 / 1000);
    // Monotonic mode keeps strict growth instead.
    let u = T0 + 3600_000;
    const m = new VrrpHmac(cfg('enforce', { antiReplay: 'monotonic' }), { now: () => u });
    m.seal(plain);
    u = T0;
    const s2 = m.seal(plain);
    const tr = decodeTrailer(s2.subarray(s2.length - 28))!;
    assert.equal(tr.sec, T0 / 1000 + 3600);
    assert.equal(tr.ctr, 1);
  });

  it('freshness window: stale and future stamps rejected before the HMAC, with the skew in the text', () => {
    const sealed = new VrrpHmac(cfg(), at(T0)).seal(plain);
    rejects(new VrrpHmac(cfg(), at(T0 + 6_000)).open(sealed), 'stale', /clock skew 6 sec exceeds window 5 sec/);
    rejects(new VrrpHmac(cfg(), at(T0 - 6_000)).open(sealed), 'stale', /clock skew -6 sec/);
    ok(new VrrpHmac(cfg(), at(T0 + 5_999)).open(sealed));
    ok(new VrrpHmac(cfg('enforce', { windowSec: 30 }), at(T0 + 29_000)).open(sealed));
    // A stale stamp with a broken HMAC is reported stale (no digest computed).
    const b = sealed.slice(); b[b.length - 1]! ^= 1;
    rejects(new VrrpHmac(cfg(), at(T0 + 60_000)).open(b), 'stale');
    // Monotonic mode has no window.
    ok(new VrrpHmac(cfg('enforce', { antiReplay: 'monotonic' }), at(T0 + 86_400_000)).open(sealed));
  });

  it('skew past half the window: accepted with a warning', () => {
    const sealed = new VrrpHmac(cfg(), at(T0)).seal(plain);
    const rx = new VrrpHmac(cfg(), at(T0 + 3_000));
    const r = rx.open(sealed);
    assert.equal(r.kind, 'ok');
    if (r.kind === 'ok') assert.match(r.warning ?? '', /clock skew 3 sec .* approaching window 5 sec/);
    assert.equal(rx.counters()['skew_warning'], 1);
  });

  it('time mode: a receiver mark stranded past the window expires; monotonic keeps it', () => {
    let t = T0 + 3600_000;
    const tx = new VrrpHmac(cfg(), { now: () => t });
    let r = T0 + 3600_000;
    const rx = new VrrpHmac(cfg(), { now: () => r });
    ok(rx.open(tx.seal(plain))); // a forward-dated sender, accepted while the receiver shared the step
    t = T0; r = T0;               // both clocks corrected
    ok(rx.open(tx.seal(plain)));  // the old mark expired
    let u = T0 + 3600_000;
    const mtx = new VrrpHmac(cfg('enforce', { antiReplay: 'monotonic' }), at(T0 + 3600_000));
    const mrx = new VrrpHmac(cfg('enforce', { antiReplay: 'monotonic' }), { now: () => u });
    ok(mrx.open(mtx.seal(plain)));
    u = T0;
    rejects(mrx.open(new VrrpHmac(cfg('enforce', { antiReplay: 'monotonic' }), at(T0)).seal(plain)), 'replay');
  });

  it('the sender table is bounded (least recently used forgotten)', () => {
    const rx = new VrrpHmac(cfg('enforce', { maxSenders: 2 }), at(T0));
    const from = (last: number): Uint8Array => new VrrpHmac(cfg(), at(T0)).seal(encodeAdvert({ ...c.pkt, src: ip(`198.18.0.${last}`) }));
    const a = from(21), b = from(22), d = from(23);
    ok(rx.open(a)); ok(rx.open(b)); ok(rx.open(d));
    // a was evicted: its replay is no longer recognised (the bound trades memory for this).
    ok(rx.open(a));
    rejects(rx.open(d), 'replay');
  });
});

// ---------------------------------------------------------------- keys

describe('vrrp-auth: keys', () => {
  const plain = encodeAdvert(cases[4]!.pkt);

  it('wrong key under the right id: bad-hmac; unknown id: unknown-key', () => {
    const sealed = new VrrpHmac(cfg(), at(T0)).seal(plain);
    rejects(new VrrpHmac(cfg('enforce', { keys: [{ id: 3, secret: 'hex:' + 'cd'.repeat(32) }] }), at(T0)).open(sealed),
      'bad-hmac', /invalid authentication HMAC from fe80::11 with key id 3/);
    rejects(new VrrpHmac(cfg('enforce', { keys: [{ id: 4, secret: SECRET }], sendKeyId: 4 }), at(T0)).open(sealed),
      'unknown-key', /unknown authentication key id 3 from fe80::11 \(configured: 4\)/);
  });

  it('text and byte secrets are the same key', () => {
    const text = 'a'.repeat(40);
    const s = new VrrpHmac(cfg('enforce', { keys: [{ id: 3, secret: text }] }), at(T0)).seal(plain);
    ok(new VrrpHmac(cfg('enforce', { keys: [{ id: 3, secret: new TextEncoder().encode(text) }] }), at(T0)).open(s));
    ok(new VrrpHmac(cfg('enforce', { keys: [{ id: 3, secret: 'hex:' + '61'.repeat(40) }] }), at(T0)).open(s));
  });

  it('rollover: make before break', () => {
    const K1 = { id: 1, secret: 'hex:' + '11'.repeat(32) }, K2 = { id: 2, secret: 'hex:' + '22'.repeat(48) };
    let t = T0;
    const now = () => t;
    // Step 1: every node knows both, sends with 1.
    const a1 = new VrrpHmac({ keys: [K1, K2], sendKeyId: 1, mode: 'enforce' }, { now });
    const b = new VrrpHmac({ keys: [K1, K2], sendKeyId: 1, mode: 'enforce' }, { now });
    ok(b.open(a1.seal(plain)));
    // Step 2: a moves to key 2 first; b (still sending 1) and a accept each other.
    t += 1000;
    const a2 = new VrrpHmac({ keys: [K1, K2], sendKeyId: 2, mode: 'enforce' }, { now });
    const s2 = a2.seal(plain);
    assert.equal(decodeTrailer(s2.subarray(s2.length - 28))!.keyId, 2);
    ok(b.open(s2));
    ok(a2.open(new VrrpHmac({ keys: [K1, K2], sendKeyId: 1, mode: 'enforce' }, { now }).seal(encodeAdvert({ ...cases[4]!.pkt, src: B12 }))));
    // Step 3: key 1 retired: an advert still signed with it is refused by id.
    t += 1000;
    const b3 = new VrrpHmac({ keys: [K2], sendKeyId: 2, mode: 'enforce' }, { now });
    rejects(b3.open(new VrrpHmac({ keys: [K1], sendKeyId: 1, mode: 'enforce' }, { now }).seal(plain)), 'unknown-key');
    ok(b3.open(a2.seal(plain)));
  });
});

// ---------------------------------------------------------------- modes

describe('vrrp-auth: modes (receive-only, permissive, enforce)', () => {
  const c = cases[2]!;
  const plain = encodeAdvert(c.pkt);
  const signed = new VrrpHmac(cfg('permissive'), at(T0)).seal(plain);
  const forged = signed.slice(); forged[forged.length - 3]! ^= 0x40;
  const truncated = signed.subarray(0, signed.length - 1);
  const matrix: Array<[HmacMode, boolean, string, string, string, string]> = [
    // mode, sends a trailer, unsigned, signed, forged, truncated trailer (after decodeAdvert)
    ['receive-only', false, 'accepted', 'accepted', 'bad-hmac', 'too-long'],
    ['permissive', true, 'accepted', 'accepted', 'bad-hmac', 'too-long'],
    ['enforce', true, 'missing', 'accepted', 'bad-hmac', 'missing'],
  ];
  const pipeline = (h: VrrpHmac, p: Uint8Array): string => {
    const r = h.open(p);
    if (r.kind === 'reject') return r.reason;
    const o = decodeAdvert(r.packet, c.rx);
    return o.kind === 'accepted' ? 'accepted' : o.reason;
  };
  for (const [mode, sends, unsigned, good, bad, trunc] of matrix) {
    it(`${mode}: ${sends ? 'sends' : 'does not send'} a trailer; unsigned ${unsigned}, signed ${good}, forged ${bad}, truncated ${trunc}`, () => {
      const h = new VrrpHmac(cfg(mode), at(T0));
      assert.equal(h.seal(plain).length, plain.length + (sends ? 28 : 0));
      assert.equal(h.trailerLength, sends ? 28 : 0);
      assert.equal(pipeline(new VrrpHmac(cfg(mode), at(T0)), plain), unsigned);
      assert.equal(pipeline(new VrrpHmac(cfg(mode), at(T0)), signed), good);
      assert.equal(pipeline(new VrrpHmac(cfg(mode), at(T0)), forged), bad);
      assert.equal(pipeline(new VrrpHmac(cfg(mode), at(T0)), truncated), trunc);
      const r = new VrrpHmac(cfg(mode), at(T0)).open(plain);
      if (r.kind === 'ok') assert.equal(r.authenticated, false);
      else assert.match(r.text, /missing authentication trailer from 198\.18\.0\.11: advert rejected \(mode enforce\)/);
    });
  }

  it('receive-only seal returns the packet untouched and counts it', () => {
    const h = new VrrpHmac(cfg('receive-only'), at(T0));
    assert.equal(hex(h.seal(plain)), hex(plain));
    assert.equal(h.counters()['sent_unsigned'], 1);
    assert.equal(h.counters()['sealed'], 0);
  });

  it('enforce rejects what is not an authenticated advert at all (AH, other protocols, garbage)', () => {
    const h = new VrrpHmac(cfg('enforce'), at(T0));
    const ahPkt = encodeIp4({ src: A11, dst: GROUP4, id: 1 }, new Uint8Array(40), 51);
    rejects(h.open(ahPkt), 'missing', /AH packet/);
    rejects(h.open(new Uint8Array(0)), 'missing');
    // Permissive lets decodeAdvert deal with it.
    const p = new VrrpHmac(cfg('permissive'), at(T0));
    assert.equal(hex(ok(p.open(ahPkt), false)), hex(ahPkt));
  });
});

// ---------------------------------------------------------------- config

describe('vrrp-auth: validateHmacConfig', () => {
  const good = cfg();
  it('accepts a good config', () => {
    assert.equal(validateHmacConfig(good), null);
    assert.equal(validateHmacConfig({ ...good, antiReplay: 'monotonic', windowSec: 300, maxSenders: 4 }), null);
  });
  const bad: Array<[string, unknown, RegExp]> = [
    ['not an object', 'x', /expected an object/],
    ['no keys', { ...good, keys: [] }, /non-empty list/],
    ['key id 0', { ...good, keys: [{ id: 0, secret: SECRET }] }, /keys\[0\]\.id must be an integer 1\.\.255 \(got 0\)/],
    ['key id 256', { ...good, keys: [{ id: 256, secret: SECRET }] }, /1\.\.255/],
    ['duplicate id', { ...good, keys: [{ id: 3, secret: SECRET }, { id: 3, secret: SECRET }] }, /key id 3 is defined twice/],
    ['short key', { ...good, keys: [{ id: 3, secret: 'hex:' + 'ab'.repeat(31) }] }, /key 3 is 31 bytes; keys must be 32 to 64 bytes/],
    ['long key', { ...good, keys: [{ id: 3, secret: 'x'.repeat(65) }] }, /65 bytes/],
    ['odd hex', { ...good, keys: [{ id: 3, secret: 'hex:abc' }] }, /even number of hex digits/],
    ['non-hex', { ...good, keys: [{ id: 3, secret: 'hex:' + 'zz'.repeat(32) }] }, /hex digits/],
    ['non-ASCII text', { ...good, keys: [{ id: 3, secret: 'é'.repeat(40) }] }, /printable ASCII/],
    ['secret type', { ...good, keys: [{ id: 3, secret: 42 }] }, /string or bytes/],
    ['send key not configured', { ...good, sendKeyId: 9 }, /sendKeyId 9 is not one of the configured key ids \(3\)/],
    ['send key id type', { ...good, sendKeyId: '3' }, /sendKeyId must be an integer/],
    ['mode', { ...good, mode: 'strict' }, /mode must be one of receive-only, permissive, enforce \(got strict\)/],
    ['antiReplay', { ...good, antiReplay: 'none' }, /time or monotonic/],
    ['window 0', { ...good, windowSec: 0 }, /windowSec must be an integer 1\.\.300/],
    ['window 301', { ...good, windowSec: 301 }, /1\.\.300/],
    ['maxSenders', { ...good, maxSenders: 0 }, /maxSenders/],
  ];
  for (const [what, x, re] of bad) it(`refuses: ${what}`, () => assert.match(validateHmacConfig(x) ?? '', re));
  it('the constructor refuses what validate refuses', () => {
    assert.throws(() => new VrrpHmac({ ...good, sendKeyId: 9 }), /sendKeyId 9/);
  });
});

// ---------------------------------------------------------------- fuzz

function wellFormed(r: OpenResult): void {
  if (r.kind === 'ok') {
    assert.ok(r.packet instanceof Uint8Array);
    assert.equal(typeof r.authenticated, 'boolean');
  } else {
    assert.equal(r.kind, 'reject');
    assert.ok(['missing', 'malformed', 'unknown-key', 'bad-hmac', 'stale', 'replay', 'checksum'].includes(r.reason));
    assert.ok(r.text.length > 0);
    // The defensive catch in open() is never what answered.
    assert.doesNotMatch(r.text, /^undecodable/);
  }
}

describe('vrrp-auth: fuzz (nothing received throws; nothing altered is accepted)', () => {
  it('random bytes and random mutations of signed adverts, all forms (seeded)', () => {
    const rnd = prng(0x5eed_a117);
    const int = (n: number): number => Math.floor(rnd() * n);
    const modes: HmacMode[] = ['receive-only', 'permissive', 'enforce'];
    const rxs = modes.map((m) => new VrrpHmac(cfg(m), at(T0)));
    const signed = cases.map((c) => new VrrpHmac(cfg(), at(T0)).seal(encodeAdvert(c.pkt)));
    for (let i = 0; i < 20000; i++) {
      let p: Uint8Array;
      const k = int(4);
      if (k === 0) { p = new Uint8Array(int(120)); for (let j = 0; j < p.length; j++) p[j] = int(256); }
      else {
        p = signed[int(signed.length)]!.slice();
        const n = 1 + int(4);
        for (let j = 0; j < n; j++) p[int(p.length)]! ^= 1 << int(8);
        if (k === 2) p = p.subarray(0, int(p.length + 1));
        if (k === 3 && p.length > 40) p = cat(p, new Uint8Array(int(40)));
      }
      for (const rx of rxs) {
        wellFormed(rx.open(p));
        wellFormed(rx.open(p, { src: B11, dst: GROUP6 }));
      }
    }
  });

  it('every single bit flip of a signed advert: never accepted in enforce mode (open then decodeAdvert)', () => {
    for (const c of cases) {
      const signed = new VrrpHmac(cfg(), at(T0)).seal(encodeAdvert(c.pkt));
      for (let bit = 0; bit < signed.length * 8; bit++) {
        const b = signed.slice(); b[bit >> 3]! ^= 1 << (bit & 7);
        const r = new VrrpHmac(cfg('enforce'), at(T0)).open(b);
        wellFormed(r);
        if (r.kind === 'reject') continue;
        // Bits outside the HMAC's cover (IP header, IPv4 VRRP checksum) fall to decodeAdvert's checks;
        // a flipped header field it ignores (IP ID, TOS, …) may pass, but the advert itself is unchanged.
        const o = decodeAdvert(r.packet, c.rx);
        if (o.kind === 'accepted') {
          const off = c.pkt.src.length === 16 ? 40 : 20;
          assert.ok((bit >> 3) < off, `${c.name}: bit ${bit} accepted`);
          assert.equal(hex(r.packet.subarray(off)), hex(encodeAdvert(c.pkt).subarray(off)));
        }
      }
    }
  });

  it('fast-check: arbitrary bytes and addresses never throw, in every mode', () => {
    const rxs = (['receive-only', 'permissive', 'enforce'] as const).map((m) => new VrrpHmac(cfg(m, { antiReplay: 'monotonic' }), at(T0)));
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 200 }), fc.option(fc.record({ src: fc.uint8Array({ minLength: 0, maxLength: 17 }), dst: fc.uint8Array({ minLength: 0, maxLength: 17 }) }), { nil: undefined }),
      (bytes, a) => { for (const rx of rxs) wellFormed(rx.open(bytes, a)); },
    ), { numRuns: 3000, seed: 7 });
  });

  it('fast-check: a trailer grafted onto any v3 message with any VRRP-looking header does not throw', () => {
    const rx = new VrrpHmac(cfg('enforce', { antiReplay: 'monotonic' }), at(T0));
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 28, maxLength: 28 }), (count, tr) => {
      const msg = new Uint8Array(8 + count * 4); msg[0] = 0x31; msg[3] = count;
      wellFormed(rx.open(encodeIp4({ src: A11, dst: GROUP4, id: 1 }, cat(msg, tr))));
      const m6 = new Uint8Array(8 + count * 16); m6[0] = 0x31; m6[3] = count;
      wellFormed(rx.open(cat(m6, tr), { src: B11, dst: GROUP6 }));
    }), { numRuns: 300, seed: 11 });
  });
});

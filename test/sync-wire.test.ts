// plugins/sync/lib/wire.ts against shared/spec/sync.md §2, §3, §6 and the captured
// kernel datagrams in test/fixtures/sync/.
import assert from 'node:assert/strict';
import {
  decodeMessage, encodeMessage, encodeRecord, IP_VS_CONN_F_IN_SEQ, IP_VS_CONN_F_INACTIVE, IP_VS_CONN_F_NFCT,
  IP_VS_CONN_F_SYNC, IP_VS_CONN_F_TEMPLATE, receivedFlags, SyncMessageBuilder, syncMaxlen, tallyDecode, SYNC_DECODE_TEXT, type SyncConn, type SyncDecodeResult,
} from '../plugins/sync/lib/wire.js';
import { capturedV0, capturedV1Msg1, capturedV1Msg2, hex, prng, readHexFixture, specMsg1, specMsg2, unhex } from './sync-helpers.js';

const ok = <T extends { ok: boolean }>(r: T): Extract<T, { ok: true }> => {
  assert.ok(r.ok, JSON.stringify(r));
  return r as Extract<T, { ok: true }>;
};
const enc = (v: 0 | 1, syncid: number, conns: SyncConn[]): Uint8Array => ok(encodeMessage(v, syncid, conns)).bytes;
const dec = (b: Uint8Array, syncid = 0): Extract<SyncDecodeResult, { ok: true }> => ok(decodeMessage(b, b.length, syncid));

const EX: SyncConn = {
  af: 4, protocol: 6, flags: 0x83, state: 1, cport: 54321, vport: 80, dport: 80, fwmark: 0, timeout: 900,
  caddr: '192.168.1.5', vaddr: '192.168.1.100', daddr: '10.0.0.1',
};

describe('sync wire: spec examples', () => {
  it('§2.5 v1 example byte for byte', () => {
    const want = '0005002c01010000' + '000600240000008300 01d43100500050'.replace(/ /g, '') +
      '0000000000000384c0a80105c0a801640a000001';
    assert.equal(hex(enc(1, 5, [EX])), want);
    const d = dec(unhex(want));
    assert.equal(d.version, 1);
    assert.equal(d.syncid, 5);
    assert.deepEqual(d.conns, [EX]);
  });

  it('§3 v0 example byte for byte (no timeout, no fwmark)', () => {
    const want = '0105001c0006d43100500050c0a80105c0a801640a00000100830001';
    assert.equal(hex(enc(0, 5, [EX])), want);
    const d = dec(unhex(want));
    assert.equal(d.version, 0);
    assert.deepEqual(d.conns, [{ ...EX, timeout: 0 }]);
  });

  it('§2.6 message 1: header, record 1 in full, 36-byte records at 8, 44, … 476', () => {
    const m = enc(1, 0, specMsg1());
    assert.equal(m.length, 512);
    assert.equal(hex(m.subarray(0, 8)), '000002000e010000');
    assert.equal(hex(m.subarray(8, 44)), '00060024000000000001ed80005000500000000000000384' + '0a6400020a63000a0aca0002');
    for (let i = 0; i < 14; i++) assert.equal(hex(m.subarray(8 + 36 * i + 2, 8 + 36 * i + 4)), '0024', `record ${i + 1} ver_size`);
    const d = dec(m);
    assert.deepEqual(d.conns, specMsg1());
    assert.equal(d.nrConns, 14);
  });

  it('§2.6 message 2: three IPv6 records of 72 bytes, size 224', () => {
    const m = enc(1, 0, specMsg2());
    assert.equal(hex(m.subarray(0, 8)), '000000e003010000');
    for (const off of [8, 80, 152]) assert.equal(m[off], 1, 'type 1 = IPv6');
    assert.deepEqual(dec(m).conns, specMsg2());
  });

  it('§3 captured v0 first record', () => {
    const first: SyncConn = {
      af: 4, protocol: 6, flags: 0, state: 1, cport: 33672, vport: 80, dport: 80, fwmark: 0, timeout: 0,
      caddr: '10.100.0.3', vaddr: '10.99.0.10', daddr: '10.201.0.2',
    };
    assert.equal(hex(ok(encodeRecord(0, first)).bytes), '0006838800500050' + '0a6400030a63000a0ac9000200000001');
  });
});

describe('sync wire: captured kernel datagrams (test/fixtures/sync)', () => {
  const cases: Array<[string, 0 | 1, number, () => SyncConn[]]> = [
    ['v1-msg1.hex', 1, 476, capturedV1Msg1], ['v1-msg2.hex', 1, 224, capturedV1Msg2], ['v0-msg1.hex', 0, 244, capturedV0],
  ];
  for (const [file, version, size, want] of cases) {
    it(`${file}: ${size} bytes, decodes to the captured field values, re-encodes byte for byte`, () => {
      const b = readHexFixture(file);
      assert.equal(b.length, size);
      const d = dec(b);
      assert.equal(d.version, version);
      assert.equal(d.syncid, 0);
      assert.equal(d.nrConns, want().length);
      assert.equal(d.dropped, null);
      assert.deepEqual(d.skipped, {});
      assert.deepEqual(d.conns, want());
      assert.equal(hex(enc(version, 0, want())), hex(b));
    });
  }

  it('v1 message 1 header and layout: 00 00 01 dc 0d 01 00 00, 36-byte records, no padding', () => {
    const b = readHexFixture('v1-msg1.hex');
    assert.equal(hex(b.subarray(0, 8)), '000001dc0d010000');
    for (let i = 0; i < 13; i++) assert.equal(hex(b.subarray(8 + 36 * i, 8 + 36 * i + 4)), `00${i === 12 ? '11' : '06'}0024`);
  });

  it('v0 message header 0a 00 00 f4; the v1 parser sees nothing (byte 0 != 0)', () => {
    const b = readHexFixture('v0-msg1.hex');
    assert.equal(hex(b.subarray(0, 4)), '0a0000f4');
  });
});

describe('sync wire: encoding', () => {
  it('pads to 4 bytes relative to the message start, not after the last record; ver_size excludes padding', () => {
    const seqConn: SyncConn = { ...EX, flags: IP_VS_CONN_F_IN_SEQ, seq: { in: { initSeq: 0xdeadbeef, delta: -5, prevDelta: 7 }, out: { initSeq: 1, delta: 2, prevDelta: 3 } } };
    const m = enc(1, 0, [seqConn, EX, seqConn]);
    // 8 + 62 → pad 2 → 72 + 36 = 108 + 62 = 170 (no trailing pad)
    assert.equal(m.length, 170);
    assert.equal((m[10]! << 8) | m[11]!, 62, 'ver_size = 62');
    assert.deepEqual([...m.subarray(70, 72)], [0, 0]);
    assert.equal(m[8 + 36], 1, 'SEQ_DATA type right after the 36-byte fixed part');
    const d = dec(m);
    assert.deepEqual(d.conns, [seqConn, EX, seqConn]);
  });

  it('v0 SEQ block is little-endian (host order quirk) and makes a 48-byte record', () => {
    const c: SyncConn = { ...EX, timeout: 0, flags: IP_VS_CONN_F_IN_SEQ, seq: { in: { initSeq: 0x01020304, delta: -1, prevDelta: 2 }, out: { initSeq: 5, delta: 6, prevDelta: 7 } } };
    const m = enc(0, 0, [c]);
    assert.equal(m.length, 4 + 48);
    assert.equal(hex(m.subarray(28, 32)), '04030201');
    assert.deepEqual(dec(m).conns, [c]);
  });

  it('PE data/name options round-trip; HASHED is never sent; bits >= 16 are sent in v1 only', () => {
    const c: SyncConn = { ...EX, flags: 0x10000 | 0x40 | 0x100, peData: new TextEncoder().encode('call-id-1'), peName: 'sip' };
    const r = ok(encodeRecord(1, c)).bytes;
    assert.equal(r.length, 36 + 2 + 9 + 2 + 3);
    assert.equal(hex(r.subarray(4, 8)), '00010100');
    assert.deepEqual(dec(enc(1, 0, [c])).conns[0], { ...c, flags: 0x10100 });
    assert.equal(hex(ok(encodeRecord(0, { ...EX, flags: 0x10040 | 0x100 })).bytes.subarray(20, 22)), '0100');
  });

  it('reports unencodable records as typed errors', () => {
    const bad = (v: 0 | 1, c: SyncConn): string => { const r = encodeRecord(v, c); assert.ok(!r.ok); return r.error.code; };
    assert.equal(bad(0, { ...specMsg2()[0]! }), 'v0-ipv6');
    assert.equal(bad(1, { ...EX, caddr: '300.1.1.1' }), 'bad-address');
    assert.equal(bad(1, { ...EX, cport: 70000 }), 'field-range');
    assert.equal(bad(1, { ...EX, peData: new Uint8Array(256), peName: 'sip' }), 'pe-data-length');
    assert.equal(bad(1, { ...EX, peData: new Uint8Array(3), peName: 'x'.repeat(17) }), 'pe-name-length');
    assert.equal(bad(1, { ...EX, peData: new Uint8Array(3) }), 'pe-incomplete');
  });

  it('sync_maxlen defaults and clamps (§1)', () => {
    assert.deepEqual([syncMaxlen('master'), syncMaxlen('master', { ipv6: true }), syncMaxlen('master', { given: 10 }), syncMaxlen('master', { given: 70000 })], [1472, 1452, 10, 65507]);
    assert.deepEqual([syncMaxlen('backup', { mtu: 9000 }), syncMaxlen('backup', { mtu: 1400 }), syncMaxlen('backup', { given: 10 }), syncMaxlen('backup', { given: 70000, ipv6: true })], [8972, 1472, 1024, 65487]);
  });

  it('builder: room is max(maxlen, header + record); nr_conns wraps mod 256', () => {
    const b = new SyncMessageBuilder(1, 0, 10, 36);
    assert.ok(b.append(ok(encodeRecord(1, EX)).bytes));
    assert.ok(!b.append(ok(encodeRecord(1, EX)).bytes), 'second record does not fit maxlen 10');
    const big = new SyncMessageBuilder(1, 0, 8 + 36 * 257);
    for (let i = 0; i < 257; i++) assert.ok(big.append(ok(encodeRecord(1, EX)).bytes));
    const m = big.bytes();
    assert.equal(m[4], 1, '257 records → nr_conns 1');
    assert.equal(dec(m).conns.length, 1, 'backup parses count mod 256 records');
    assert.equal(new SyncMessageBuilder(1, 0, 1472).fits(36 * 40), true);
  });
});

describe('sync wire: decodeMessage (§6)', () => {
  const m1 = (): Uint8Array => enc(1, 7, [EX, EX, EX]);
  const setVerSize = (m: Uint8Array, off: number, v: number): void => { m[off + 2] = v >> 8; m[off + 3] = v & 0xff; };

  it('header checks: too short, bogus size, syncid filter (0 accepts all)', () => {
    assert.deepEqual(decodeMessage(new Uint8Array(3), 3, 0), { ok: false, reason: 'header-too-short' });
    const m = m1();
    assert.deepEqual(decodeMessage(m, m.length - 1, 0), { ok: false, reason: 'bogus-size' });
    assert.deepEqual(decodeMessage(m, m.length, 8), { ok: false, reason: 'syncid-mismatch' });
    assert.equal(dec(m, 7).conns.length, 3);
    assert.equal(dec(m, 0).conns.length, 3);
    // len beyond the buffer is clamped to the bytes there are
    assert.equal(decodeMessage(m, m.length + 10, 0).ok, true);
    assert.deepEqual(decodeMessage(m, -1, 0), { ok: false, reason: 'header-too-short' });
  });

  it('v1 detection: buf[5]==1 && buf[0]==0 && spare==0, else v0', () => {
    const m = m1();
    m[7] = 1; // spare != 0 → parsed as v0 with nr_conns = buf[0] = 0
    const d = dec(m);
    assert.equal(d.version, 0);
    assert.equal(d.conns.length, 0);
    const tiny = unhex('00000004');
    assert.equal(dec(tiny).version, 0);
  });

  it('a v1 message seen by v0 rules has 0 conns; a 4..7-byte datagram is v0', () => {
    const m = unhex('01000004');
    const d = dec(m);
    assert.equal(d.version, 0);
    assert.deepEqual(d.dropped, { reason: 'record-too-small', at: 0 });
    assert.equal(d.unprocessed, 1);
  });

  it('rest of message dropped (records before stay): <36 left, past end, version, even type, short, options', () => {
    const cases: Array<[string, (m: Uint8Array) => Uint8Array]> = [
      ['record-too-small', (m) => { const t = m.slice(0, 64); t[3] = 64; return t; }], // 20 bytes after record 0
      ['record-past-end', (m) => { setVerSize(m, 44, 0x0fff); return m; }],
      ['option-truncated', (m) => { setVerSize(m, 44, 37); return m; }], // one stray byte is no option header
      ['record-version', (m) => { setVerSize(m, 44, 0x1024); return m; }],
      ['record-type', (m) => { m[44] = 2; return m; }],
      ['record-short', (m) => { setVerSize(m, 44, 35); return m; }],
      ['record-short', (m) => { m[44] = 1; return m; }], // IPv6 type on a 36-byte record
    ];
    for (const [reason, mut] of cases) {
      const d = dec(mut(m1()));
      assert.deepEqual(d.dropped, { reason, at: 1 }, reason);
      assert.equal(d.conns.length, 1);
      assert.equal(d.conns.length + d.unprocessed, d.nrConns);
    }
  });

  const withOpts = (opts: number[][], n = 2): Uint8Array => {
    // record 2 carries the raw options; the others are plain.
    const recs = [ok(encodeRecord(1, EX)).bytes];
    const body = Uint8Array.from([...ok(encodeRecord(1, EX)).bytes, ...opts.flat()]);
    setVerSize(body, 0, body.length);
    recs.push(body);
    for (let i = 2; i < n; i++) recs.push(ok(encodeRecord(1, EX)).bytes);
    const b = new SyncMessageBuilder(1, 0, 4096);
    for (const r of recs) b.append(r);
    return b.bytes();
  };
  const seq24 = [1, 24, ...new Array<number>(24).fill(0)];

  it('malformed options drop the rest of the message', () => {
    const cases: Array<[string, number[][]]> = [
      ['option-truncated', [[0x41, 0]]],
      ['option-truncated', [[2, 5, 1, 2]]],
      ['option-truncated', [[2]]],
      ['option-seq', [[1, 23, ...new Array<number>(23).fill(0)]]],
      ['option-seq', [seq24, seq24]],
      ['option-pe-data', [[2, 1, 9], [2, 1, 9]]],
      ['option-pe-name', [[3, 17, ...new Array<number>(17).fill(0x61)]]],
      ['option-pe-name', [[3, 1, 0x61], [3, 1, 0x61]]],
    ];
    for (const [reason, opts] of cases) {
      const d = dec(withOpts(opts, 3));
      assert.deepEqual(d.dropped, { reason, at: 1 }, `${reason} ${JSON.stringify(opts)}`);
      assert.equal(d.conns.length, 1);
    }
  });

  it('record skipped (next parsed): unknown mandatory option, PE data without name, unknown engine', () => {
    const cases: Array<[string, number[][]]> = [
      ['unknown-option', [[5, 1, 0], [0x41, 0]]], // skipped before the malformed option is read
      ['pe-data-without-name', [[2, 2, 1, 2]]],
      ['unknown-pe', [[2, 2, 1, 2], [3, 3, 0x66, 0x6f, 0x6f]]],
    ];
    for (const [reason, opts] of cases) {
      const d = dec(withOpts(opts, 3));
      assert.equal(d.dropped, null, reason);
      assert.deepEqual(d.skipped, { [reason]: 1 });
      assert.equal(d.conns.length, 2);
    }
  });

  it('optional unknown options are kept; 0x41 is read as SEQ_DATA; a PE name alone is ignored', () => {
    const d = dec(withOpts([[0x45, 2, 0xab, 0xcd], [0x41, 24, ...new Array<number>(23).fill(0), 9], [3, 3, 0x73, 0x69, 0x70]]));
    const c = d.conns[1]!;
    assert.deepEqual(c.unknownOptions, [{ type: 0x45, data: Uint8Array.of(0xab, 0xcd) }]);
    assert.equal(c.seq?.out.prevDelta, 9);
    assert.equal(c.peName, undefined);
    assert.equal(c.peData, undefined);
  });

  it('unsupported protocol and out-of-range state skip the record; templates are not checked', () => {
    const mk = (p: number, s: number, f = 0): SyncConn => ({ ...EX, protocol: p, state: s, flags: f });
    const d = dec(enc(1, 0, [mk(1, 0), mk(6, 11), mk(17, 1), mk(132, 14), mk(132, 13), mk(50, 0), mk(51, 1), mk(0, 7, IP_VS_CONN_F_TEMPLATE), mk(99, 99, IP_VS_CONN_F_TEMPLATE), mk(6, 10)]));
    assert.deepEqual(d.skipped, { 'unsupported-protocol': 1, 'bad-state': 4 });
    assert.deepEqual(d.conns.map((c) => [c.protocol, c.state]), [[132, 13], [50, 0], [0, 7], [99, 99], [6, 10]]);
    const d0 = dec(enc(0, 0, [mk(1, 0), mk(6, 11), mk(0, 1, IP_VS_CONN_F_TEMPLATE)]));
    assert.deepEqual(d0.skipped, { 'unsupported-protocol': 1, 'bad-state': 1 });
    assert.equal(d0.conns.length, 1);
  });

  it('IPv6 records skipped when IPv6 is off; bytes after nr_conns records ignored', () => {
    const m = enc(1, 0, [...specMsg2(), EX]);
    assert.deepEqual(decodeMessage(m, m.length, 0, { ipv6: false }).ok && (decodeMessage(m, m.length, 0, { ipv6: false }) as { skipped: object }).skipped, { 'ipv6-unsupported': 3 });
    const trail = new Uint8Array(m.length + 5);
    trail.set(m);
    trail[3] = trail.length;
    trail[4] = 2;
    const d = dec(trail);
    assert.equal(d.conns.length, 2);
    assert.equal(d.dropped, null);
  });

  it('v0: record must fit; SEQ block must fit', () => {
    const m = enc(0, 0, [EX, EX]);
    m[0] = 3;
    assert.deepEqual(dec(m).dropped, { reason: 'record-too-small', at: 2 });
    const s = enc(0, 0, [EX, EX]);
    s[4 + 24 + 20] = 0x04; // IN_SEQ on the last record: 48 bytes needed
    assert.deepEqual(dec(s).dropped, { reason: 'v0-seq-past-end', at: 1 });
  });

  it('tallyDecode folds results into typed counters; every outcome has operator text', () => {
    const c: Parameters<typeof tallyDecode>[0] = {};
    const m = enc(1, 0, [EX, { ...EX, protocol: 1 }, EX]);
    m[8 + 72] = 2;
    tallyDecode(c, decodeMessage(m, m.length, 0));
    tallyDecode(c, decodeMessage(m, 2, 0));
    assert.deepEqual(c, { accepted: 1, 'unsupported-protocol': 1, 'record-type': 1, 'header-too-short': 1 });
    for (const k of Object.keys(c)) if (k !== 'accepted') assert.ok(SYNC_DECODE_TEXT[k as keyof typeof SYNC_DECODE_TEXT]);
  });

  it('receiver masks: v1 keeps FWD|NOOUTPUT|INACTIVE|SEQ|NO_CPORT|TEMPLATE; v0 the low 16 bits minus HASHED', () => {
    assert.equal(receivedFlags(1, 0xffffffff), 0x1f87 | IP_VS_CONN_F_SYNC);
    assert.equal(receivedFlags(1, IP_VS_CONN_F_NFCT | IP_VS_CONN_F_INACTIVE), IP_VS_CONN_F_INACTIVE | IP_VS_CONN_F_SYNC);
    assert.equal(receivedFlags(0, 0xffff), 0xffbf);
  });
});

describe('sync wire: fuzz (decodeMessage never throws, every record accounted)', () => {
  const account = (r: SyncDecodeResult): void => {
    if (!r.ok) {
      assert.ok(['header-too-short', 'bogus-size', 'syncid-mismatch'].includes(r.reason));
      return;
    }
    const skipped = Object.values(r.skipped).reduce((a, b) => a + (b ?? 0), 0);
    assert.equal(r.conns.length + skipped + r.unprocessed, r.nrConns);
    assert.ok(r.nrConns >= 0 && r.nrConns <= 255);
  };
  const seeds = [enc(1, 0, specMsg1()), enc(1, 0, specMsg2()), enc(0, 0, specMsg1().slice(0, 7)),
    enc(1, 3, [{ ...EX, flags: IP_VS_CONN_F_IN_SEQ, seq: { in: { initSeq: 1, delta: 2, prevDelta: 3 }, out: { initSeq: 4, delta: 5, prevDelta: 6 } }, peData: Uint8Array.of(1, 2, 3), peName: 'sip' }, EX])];

  it('every truncation and every single-byte mutation of the seed messages', () => {
    const rnd = prng(1);
    for (const s of seeds) {
      for (let n = 0; n <= s.length; n++) {
        const t = s.slice(0, n);
        if (n >= 4) { t[2] = n >> 8; t[3] = n & 0xff; } // keep the size check passing
        account(decodeMessage(t, n, 0));
      }
      for (let i = 0; i < s.length; i++) {
        const m = s.slice();
        m[i] = (m[i]! + 1 + Math.floor(rnd() * 255)) & 0xff;
        account(decodeMessage(m, m.length, 0));
        account(decodeMessage(m, m.length, m[1]!));
      }
    }
  });

  it('random sizes and random bytes with a fixed seed (5000 iterations)', () => {
    const rnd = prng(0x5eed);
    for (let it = 0; it < 5000; it++) {
      const base = seeds[it % seeds.length]!;
      const n = Math.floor(rnd() * 600);
      const m = new Uint8Array(n);
      for (let i = 0; i < n; i++) m[i] = rnd() < 0.7 && i < base.length ? base[i]! : Math.floor(rnd() * 256);
      if (n >= 4 && rnd() < 0.9) { m[2] = n >> 8; m[3] = n & 0xff; }
      if (n >= 8 && rnd() < 0.5) { m[0] = 0; m[5] = 1; m[6] = 0; m[7] = 0; }
      account(decodeMessage(m, Math.floor(rnd() * (n + 10)) - 3, Math.floor(rnd() * 3)));
    }
  });
});

describe('sync wire: an independent decoder (tshark ipvs dissector) reads lvsd-encoded messages', () => {
  /** Minimal pcap: Ethernet / IPv4 / UDP 10.250.0.1:40000 → 224.0.0.81:8848, TTL 1. */
  function pcap(payloads: Uint8Array[]): Buffer {
    const parts: Buffer[] = [];
    const gh = Buffer.alloc(24);
    gh.writeUInt32LE(0xa1b2c3d4, 0); gh.writeUInt16LE(2, 4); gh.writeUInt16LE(4, 6);
    gh.writeUInt32LE(65535, 16); gh.writeUInt32LE(1, 20);
    parts.push(gh);
    payloads.forEach((p, i) => {
      const eth = Buffer.from('01005e000051020000000001' + '0800', 'hex');
      const ip = Buffer.alloc(20);
      ip[0] = 0x45; ip.writeUInt16BE(20 + 8 + p.length, 2); ip.writeUInt16BE(i + 1, 4); ip[8] = 1; ip[9] = 17;
      Buffer.from([10, 250, 0, 1, 224, 0, 0, 81]).copy(ip, 12);
      let sum = 0;
      for (let k = 0; k < 20; k += 2) sum += ip.readUInt16BE(k);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
      ip.writeUInt16BE(~sum & 0xffff, 10);
      const udp = Buffer.alloc(8);
      udp.writeUInt16BE(40000, 0); udp.writeUInt16BE(8848, 2); udp.writeUInt16BE(8 + p.length, 4); // checksum 0: none
      const frame = Buffer.concat([eth, ip, udp, Buffer.from(p)]);
      const rh = Buffer.alloc(16);
      rh.writeUInt32LE(1700000000 + i, 0); rh.writeUInt32LE(frame.length, 8); rh.writeUInt32LE(frame.length, 12);
      parts.push(rh, frame);
    });
    return Buffer.concat(parts);
  }

  it('v1 (IPv4, IPv6, fwmark) and v0 messages: header and every record field agree', async function () {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    try { execFileSync('tshark', ['--version'], { stdio: 'ignore' }); } catch {
      console.log('    tshark not installed (apt-get install tshark): skipping the independent-decoder check');
      this.skip();
    }
    const msgs: Array<[0 | 1, number, SyncConn[]]> = [
      [1, 7, [...capturedV1Msg1(), { ...EX, fwmark: 5 }]], [1, 0, capturedV1Msg2()], [0, 9, capturedV0()],
    ];
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-sync-'));
    try {
      const file = join(dir, 'sync.pcap');
      writeFileSync(file, pcap(msgs.map(([v, id, c]) => enc(v, id, c))));
      const fields = ['ipvs.conncount', 'ipvs.syncid', 'ipvs.size', 'ipvs.version', 'ipvs.proto', 'ipvs.cport', 'ipvs.vport', 'ipvs.dport',
        'ipvs.caddr', 'ipvs.vaddr', 'ipvs.daddr', 'ipvs.caddr6', 'ipvs.vaddr6', 'ipvs.daddr6', 'ipvs.flags.v1', 'ipvs.flags', 'ipvs.state', 'ipvs.timeout', 'ipvs.fwmark'];
      const out = execFileSync('tshark', ['-r', file, '-d', 'udp.port==8848,ipvs', '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60000 });
      const rows = out.trim().split('\n').map((l) => l.split('|'));
      assert.equal(rows.length, 3);
      msgs.forEach(([v, id, conns], i) => {
        const r = Object.fromEntries(fields.map((f, k) => [f, rows[i]![k] ?? '']));
        const list = (f: (c: SyncConn) => string): string => conns.map(f).join(',');
        const h = (n: number, w: number): string => `0x${n.toString(16).padStart(w, '0')}`;
        assert.equal(r['ipvs.conncount'], String(conns.length));
        assert.equal(r['ipvs.syncid'], String(id));
        assert.equal(r['ipvs.size'], String(enc(v, id, conns).length));
        assert.equal(r['ipvs.version'], v === 1 ? '1' : '');
        assert.equal(r['ipvs.proto'], list((c) => h(c.protocol, 2)));
        assert.equal(r['ipvs.cport'], list((c) => String(c.cport)));
        assert.equal(r['ipvs.vport'], list((c) => String(c.vport)));
        assert.equal(r['ipvs.dport'], list((c) => String(c.dport)));
        const a6 = conns[0]!.af === 6;
        assert.equal(r[a6 ? 'ipvs.caddr6' : 'ipvs.caddr'], list((c) => c.caddr));
        assert.equal(r[a6 ? 'ipvs.vaddr6' : 'ipvs.vaddr'], list((c) => c.vaddr));
        assert.equal(r[a6 ? 'ipvs.daddr6' : 'ipvs.daddr'], list((c) => c.daddr));
        assert.equal(r[v === 1 ? 'ipvs.flags.v1' : 'ipvs.flags'], list((c) => h(c.flags, v === 1 ? 8 : 4)));
        assert.equal(r['ipvs.state'], list((c) => h(c.state, 4)));
        assert.equal(r['ipvs.timeout'], v === 1 ? list((c) => String(c.timeout)) : '');
        assert.equal(r['ipvs.fwmark'], v === 1 ? list((c) => h(c.fwmark, 8)) : '');
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

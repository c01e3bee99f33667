// plugins/sync/lib/sender.ts timing and buffering (spec §4.4) with a hand-driven clock.
import assert from 'node:assert/strict';
import { SyncSender, type SyncTimers } from '../plugins/sync/lib/sender.js';
import { decodeMessage, type SyncConn } from '../plugins/sync/lib/wire.js';
import { capturedV1Msg1, capturedV1Msg2, hex, readHexFixture } from './sync-helpers.js';

/** Manual timers: advance(ms) runs due callbacks in time order. */
class ManualTimers implements SyncTimers {
  t = 0;
  private seq = 0;
  private readonly due = new Map<number, { at: number; fn: () => void }>();
  now(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): unknown { const id = ++this.seq; this.due.set(id, { at: this.t + ms, fn }); return id; }
  clearTimeout(h: unknown): void { this.due.delete(h as number); }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | null = null;
      for (const e of this.due) if (e[1].at <= end && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0]))) next = e;
      if (!next) break;
      this.due.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

const EX: SyncConn = {
  af: 4, protocol: 6, flags: 0, state: 1, cport: 1, vport: 80, dport: 80, fwmark: 0, timeout: 900,
  caddr: '10.0.0.1', vaddr: '10.0.0.2', daddr: '10.0.0.3',
};

function setup(over: { maxlen?: number; qlenMax?: number; fail?: boolean } = {}): { s: SyncSender; t: ManualTimers; sent: Array<{ at: number; msg: Uint8Array }> } {
  const t = new ManualTimers();
  const sent: Array<{ at: number; msg: Uint8Array }> = [];
  const s = new SyncSender({
    syncid: 0, maxlen: over.maxlen ?? 1472, qlenMax: over.qlenMax ?? 100, timers: t,
    send: (msg) => { if (over.fail) throw new Error('ENOBUFS'); sent.push({ at: t.now(), msg }); },
  });
  return { s, t, sent };
}

describe('sync sender (§4.4)', () => {
  it('light traffic: records batched into one message, sent once the buffer is >= 2 s old at a 1 s check', () => {
    const { s, t, sent } = setup();
    t.advance(300); // thread checks at 1000, 2000, 3000 …
    for (const r of capturedV1Msg1()) { s.add(1, r); t.advance(100); } // records over 1.3 s from t=300
    t.advance(2000 - 1300 - 1);
    assert.equal(sent.length, 0, 'not at the 2000 check: buffer 1.7 s old');
    t.advance(1000);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.at, 3000, 'sent at the check 2.7 s after its first record');
    assert.equal(hex(sent[0]!.msg), hex(readHexFixture('v1-msg1.hex')));
    for (const r of capturedV1Msg2()) s.add(1, r);
    t.advance(3000);
    assert.equal(hex(sent[1]!.msg), hex(readHexFixture('v1-msg2.hex')));
    assert.equal(s.counters.messagesSent, 2);
    assert.equal(s.counters.bytesSent, 476 + 224);
    assert.equal(s.counters.records, 16);
  });

  it('full buffer queued and sent about 20 ms later; 1472 bytes hold 40 IPv4 v1 records', () => {
    const { s, t, sent } = setup();
    t.advance(500);
    for (let i = 0; i < 41; i++) s.add(1, { ...EX, cport: i + 1 });
    assert.equal(s.queueLength, 1);
    t.advance(19);
    assert.equal(sent.length, 0);
    t.advance(1);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.at, 520);
    assert.equal(sent[0]!.msg.length, 8 + 40 * 36);
    assert.equal(s.pending, 1);
    // the thread slept again for 1 s from 520: the lone record (from t=500) leaves at 2520 (>= 2 s old)
    t.advance(2000);
    assert.deepEqual(sent.map((x) => x.at), [520, 2520]);
  });

  it('8 queued buffers wake the sender at once; the version change queues the current buffer', () => {
    const { s, t, sent } = setup({ maxlen: 44 }); // one 36-byte v1 record per message
    t.advance(100);
    for (let i = 0; i < 9; i++) s.add(1, EX);
    assert.equal(s.queueLength, 8);
    t.advance(0);
    assert.equal(sent.length, 8, 'all 8 sent without waiting 20 ms');
    s.add(0, EX);
    assert.equal(s.queueLength, 1, 'the v1 buffer is queued when a v0 record comes');
    t.advance(20);
    assert.equal(sent.length, 9);
    t.advance(3000);
    assert.equal(sent.length, 10);
    const last = decodeMessage(sent[9]!.msg, sent[9]!.msg.length, 0);
    assert.ok(last.ok && last.version === 0);
  });

  it('sync_qlen_max: buffers beyond it are discarded and counted; stop discards everything unsent', () => {
    const { s, t, sent } = setup({ maxlen: 44, qlenMax: 3 });
    for (let i = 0; i < 6; i++) s.add(1, EX);
    assert.equal(s.queueLength, 3);
    assert.equal(s.counters.discardedQueueFull, 2);
    s.stop();
    assert.equal(s.counters.discardedOnStop, 4);
    t.advance(10_000);
    assert.equal(sent.length, 0);
    const r = s.add(1, EX);
    assert.ok(!r.ok && r.error.code === 'stopped');
  });

  it('nr_conns wraps mod 256 with a large maxlen; a v0 buffer wrapped to 0 is queued at the next record', () => {
    const { s, t, sent } = setup({ maxlen: 65000 });
    for (let i = 0; i < 257; i++) s.add(0, EX);
    assert.equal(s.queueLength, 1, '256 records: count byte 0, queued when the 257th comes');
    t.advance(20);
    assert.equal(sent[0]!.msg[0], 0);
    assert.equal(sent[0]!.msg.length, 4 + 256 * 24);
    const d = decodeMessage(sent[0]!.msg, sent[0]!.msg.length, 0);
    assert.ok(d.ok && d.conns.length === 0, 'backups install nothing from it');
    const v1 = setup({ maxlen: 20000 });
    for (let i = 0; i < 300; i++) v1.s.add(1, EX);
    v1.t.advance(3000);
    assert.equal(v1.sent[0]!.msg[4], 300 - 256);
  });

  it('send errors are counted and the message dropped; encode errors are returned', () => {
    const { s, t } = setup({ fail: true });
    s.add(1, EX);
    t.advance(3000);
    assert.equal(s.counters.sendErrors, 1);
    assert.equal(s.counters.messagesSent, 0);
    const r = s.add(0, { ...EX, af: 6, caddr: '::1', vaddr: '::2', daddr: '::3' });
    assert.ok(!r.ok && r.error.code === 'v0-ipv6');
    assert.equal(s.counters.encodeErrors, 1);
  });
});

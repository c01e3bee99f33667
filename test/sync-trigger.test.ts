// core/conn/sync.ts (the master's decision, spec §4.1–4.3) over a real
// ConnTable: the captured connections replayed packet by packet and the
// records re-encoded with the wire codec against the capture, byte for byte;
// then rule by rule.
import assert from 'node:assert/strict';
import { ConnTable, type ConnDests } from '../core/conn/table.js';
import {
  CF_INACTIVE, CF_ONE_PACKET, CF_TEMPLATE, SCTP_S_CLOSED, SCTP_S_COOKIE_ECHOED, SCTP_S_ESTABLISHED, SCTP_S_SHUTDOWN_SENT,
  TCP_CLOSE, TCP_CLOSE_WAIT, TCP_ESTABLISHED, TCP_FIN_WAIT, TCP_SYN_RECV, TCP_TIME_WAIT,
} from '../core/conn/states.js';
import { ipv4ToU32, ipv6ToBytes } from '../core/model/addr.js';
import {
  SYNC_DEFAULTS, SyncOutbox, syncConn, syncConnsOf, syncNeeded, type SyncConnFields, type SyncSettings,
} from '../core/conn/sync.js';
import { encodeMessage, type SyncConn } from '../plugins/sync/lib/wire.js';
import { hex, readHexFixture } from './sync-helpers.js';

const noDests: ConnDests = { move() {}, available: () => true, weight: () => 1 };
const cfg = (over: Partial<SyncSettings> = {}): SyncSettings => ({ ...SYNC_DEFAULTS, ...over });

/** core's record object → the wire codec's SyncConn (family 'inet'|'inet6' → af 4|6). */
const toWire = (c: SyncConnFields): SyncConn => ({
  af: c.family === 'inet6' ? 6 : 4, protocol: c.protocol, flags: c.flags, state: c.state, cport: c.cport, vport: c.vport,
  dport: c.dport, fwmark: c.fwmark, timeout: c.timeout, caddr: c.caddr, vaddr: c.vaddr, daddr: c.daddr,
});

interface Spec { caddr: string; cport: number; vaddr: string; vport?: number; daddr: string; dport?: number; protocol?: number;
  flags?: number; timeout?: number; control?: number }

/** A master's table with a store clock (ms), entries made as the data plane makes them, and what they report. */
class Master {
  readonly t = new ConnTable({ maxConns: 1000, seed: 1 }, noDests);
  readonly out = new SyncOutbox();
  readonly names = new Map<string, string>();
  constructor(now = 1_000_000) { this.t.s.now = now; }
  get now(): number { return this.t.s.now; }
  tick(ms: number): void { this.t.s.now += ms; }

  /** A connection (state 0, INACTIVE as created) or template; `name` identifies its records. */
  conn(name: string, c: Spec): number {
    const s = this.t.s;
    const proto = c.protocol ?? 6, vport = c.vport ?? 80, dport = c.dport ?? 80, flags = c.flags ?? 0, to = c.timeout ?? 60_000;
    let e: number;
    if (c.caddr.includes(':')) {
      const w = (a: string, reg: Uint32Array): void => {
        const b = ipv6ToBytes(a)!;
        for (let i = 0; i < 4; i++) reg[i] = ((b[i * 4]! << 24) | (b[i * 4 + 1]! << 16) | (b[i * 4 + 2]! << 8) | b[i * 4 + 3]!) >>> 0;
      };
      w(c.caddr, s.ca); w(c.vaddr, s.va); w(c.daddr, s.da);
      e = this.t.create6(proto, c.cport, vport, dport, flags, -1, 0, to);
    } else {
      e = this.t.create4(proto, ipv4ToU32(c.caddr)!, c.cport, ipv4ToU32(c.vaddr)!, vport, ipv4ToU32(c.daddr)!, dport, flags, -1, 0, to);
    }
    assert.ok(e >= 0);
    if (c.control !== undefined) this.t.attach(e, c.control);
    this.names.set(this.key(c.caddr, c.cport, c.vaddr, vport, (flags & CF_TEMPLATE) !== 0), name);
    return e;
  }

  private key(caddr: string, cport: number, vaddr: string, vport: number, tpl: boolean): string {
    return `${caddr}|${cport}|${vaddr}|${vport}|${tpl}`;
  }

  /** The data plane's state update for a TCP entry: state, the state's timeout, INACTIVE off while ESTABLISHED. */
  setTcp(e: number, state: number): void {
    const s = this.t.s;
    s.state[e] = state;
    s.timeout[e] = this.t.timeouts.of(6, state);
    s.flags[e] = state === TCP_ESTABLISHED ? s.flags[e]! & ~CF_INACTIVE : s.flags[e]! | CF_INACTIVE;
  }

  /** §4.1: an inbound packet of `e` was forwarded (the engine's call: the counter, then syncConn; one-packet: pkts = T). */
  inbound(o: SyncSettings, e: number): SyncConnFields[] {
    const s = this.t.s;
    s.inPkts[e] = (s.inPkts[e]! + 1) >>> 0;
    syncConn(this.t, e, (s.flags[e]! & CF_ONE_PACKET) ? o.threshold : s.inPkts[e]!, o, this.out);
    return this.take();
  }

  /** §4.1: an entry whose expiry was postponed (the table's onKeep): pkts = T. */
  postponed(o: SyncSettings, e: number): SyncConnFields[] {
    syncConn(this.t, e, o.threshold, o, this.out);
    return this.take();
  }

  take(): SyncConnFields[] { return syncConnsOf(this.out.take()); }

  nameOf(c: SyncConnFields): string {
    return this.names.get(this.key(c.caddr, c.cport, c.vaddr, c.vport, (c.flags & CF_TEMPLATE) !== 0)) ?? '?';
  }
}

/** Inbound states of one short HTTP/1.0 connection where the client closes first (6 inbound packets). */
const HTTP = [TCP_SYN_RECV, TCP_ESTABLISHED, TCP_ESTABLISHED, TCP_CLOSE_WAIT, TCP_CLOSE_WAIT, TCP_TIME_WAIT];

/** Feed inbound packets (state after each) and collect the synced records. */
function drive(m: Master, k: SyncSettings, e: number, states: number[], sent: SyncConnFields[], before?: () => void): void {
  for (const st of states) {
    m.tick(10);
    m.setTcp(e, st);
    before?.();
    sent.push(...m.inbound(k, e));
  }
}

function replayCapture(version: 0 | 1, client: string, ports: { a: number; b: number; d: number }): SyncConn[] {
  const k = cfg({ version });
  const m = new Master();
  const sent: SyncConnFields[] = [];
  const A = m.conn('A', { caddr: client, cport: ports.a, vaddr: '10.99.0.10', daddr: version === 1 ? '10.202.0.2' : '10.201.0.2' });
  drive(m, k, A, HTTP, sent);
  const T = m.conn('T', { caddr: client, cport: 0, vaddr: '10.99.0.11', daddr: '10.202.0.2', flags: CF_TEMPLATE, timeout: 60_000 });
  const B = m.conn('B', { caddr: client, cport: ports.b, vaddr: '10.99.0.11', daddr: '10.202.0.2', control: T });
  // the template becomes ASSURED when a connection it controls is ESTABLISHED
  drive(m, k, B, HTTP, sent, () => { if (m.t.s.state[B] === TCP_ESTABLISHED) m.t.s.state[T] = 1; });
  const C = m.conn('C', { caddr: client, cport: 40000, vaddr: '10.99.0.12', vport: 53, daddr: '10.203.0.2', dport: 53, protocol: 17, timeout: 300_000 });
  for (let i = 0; i < 4; i++) { m.tick(200); sent.push(...m.inbound(k, C)); }
  const D = m.conn('D', { caddr: 'fd00:100::2', cport: ports.d, vaddr: 'fd00:99::10', daddr: 'fd00:201::2' });
  drive(m, k, D, HTTP, sent);
  return sent.map(toWire);
}

describe('sync trigger (core/conn/sync.ts): replaying the captured connections (fixtures/sync)', () => {
  it('v1: A at its 3rd packet, CLOSE_WAIT, TIME_WAIT; template at every B packet (0 then 1); UDP C at the 3rd datagram; IPv6 D', () => {
    const recs = replayCapture(1, '10.100.0.2', { a: 45977, b: 49021, d: 49952 });
    const v4 = recs.filter((r) => r.af === 4), v6 = recs.filter((r) => r.af === 6);
    // the kernel split them into two messages only by time (2 s buffer age, §4.4)
    assert.equal(hex((encodeMessage(1, 0, v4) as { bytes: Uint8Array }).bytes), hex(readHexFixture('v1-msg1.hex')));
    assert.equal(hex((encodeMessage(1, 0, v6) as { bytes: Uint8Array }).bytes), hex(readHexFixture('v1-msg2.hex')));
  });

  it('v0: template only right after a B record, no IPv6, byte for byte', () => {
    const recs = replayCapture(0, '10.100.0.3', { a: 47113, b: 60163, d: 48846 });
    assert.ok(recs.every((r) => r.af === 4));
    assert.equal(hex((encodeMessage(0, 0, recs) as { bytes: Uint8Array }).bytes), hex(readHexFixture('v0-msg1.hex')));
  });
});

describe('sync trigger (core/conn/sync.ts): rules (§4.2)', () => {
  const base = { caddr: '10.0.0.1', cport: 1000, vaddr: '10.0.0.2', daddr: '10.0.0.3' };
  /** The inbound packets (1-based) at which the entry itself was reported. */
  const sentAt = (k: SyncSettings, m: Master, e: number, n: number, stateAt: (i: number) => number): number[] => {
    const at: number[] = [];
    for (let i = 1; i <= n; i++) {
      m.tick(1);
      if (m.t.s.proto[e] === 6) m.setTcp(e, stateAt(i)); else m.t.s.state[e] = stateAt(i);
      if (m.inbound(k, e).some((c) => m.nameOf(c) === 'x')) at.push(i);
    }
    return at;
  };
  const one = (over: Partial<Spec> = {}): { m: Master; e: number } => {
    const m = new Master();
    return { m, e: m.conn('x', { ...base, ...over }) };
  };

  it('TCP ESTABLISHED: 3rd, 53rd, 103rd packet; not in SYN_RECV', () => {
    const a = one();
    assert.deepEqual(sentAt(cfg(), a.m, a.e, 110, () => TCP_ESTABLISHED), [3, 53, 103]);
    const b = one();
    assert.deepEqual(sentAt(cfg(), b.m, b.e, 60, () => TCP_SYN_RECV), []);
  });

  it('changes into FIN_WAIT/CLOSE/CLOSE_WAIT/TIME_WAIT go out at once; back to ESTABLISHED waits for a counted packet', () => {
    const st = (i: number): number => (i < 10 ? TCP_ESTABLISHED : i < 12 ? TCP_FIN_WAIT : i < 14 ? TCP_ESTABLISHED : i < 20 ? TCP_CLOSE : TCP_TIME_WAIT);
    const a = one();
    assert.deepEqual(sentAt(cfg(), a.m, a.e, 60, st), [3, 10, 14, 20, 53]);
    const b = one();
    assert.deepEqual(sentAt(cfg(), b.m, b.e, 5, (i) => (i < 4 ? TCP_ESTABLISHED : TCP_CLOSE_WAIT)), [3, 4]);
  });

  it('SCTP: syncable states and forced closing transitions', () => {
    const { m, e } = one({ protocol: 132 });
    const st = (i: number): number => (i < 5 ? SCTP_S_COOKIE_ECHOED : i < 8 ? SCTP_S_ESTABLISHED : i < 9 ? SCTP_S_SHUTDOWN_SENT : SCTP_S_CLOSED);
    assert.deepEqual(sentAt(cfg(), m, e, 12, st), [8, 9]);
  });

  it('UDP: 3rd, 53rd packet; P = 0 and R = 0: only pkts == T', () => {
    const a = one({ protocol: 17 });
    assert.deepEqual(sentAt(cfg(), a.m, a.e, 60, () => 0), [3, 53]);
    const b = one({ protocol: 17 });
    assert.deepEqual(sentAt(cfg({ period: 0 }), b.m, b.e, 60, () => 0), [3]);
  });

  it('sync_refresh_period: re-send only when the expiry moved enough; sync_retries spaced by R/8', () => {
    const k = cfg({ refreshPeriod: 5 });
    const { m, e: c } = one({ protocol: 17, timeout: 300_000 });
    const s = m.t.s;
    s.inPkts[c] = 2;
    m.tick(100);
    assert.equal(m.inbound(k, c).length, 1, '3rd packet: expiry moved by the whole timeout');
    s.inPkts[c] = 52;
    m.tick(1000);
    assert.equal(m.inbound(k, c).length, 0, '53rd packet 1 s later: moved < R, no retries');
    s.inPkts[c] = 102;
    m.tick(5000);
    assert.equal(m.inbound(k, c).length, 1, '103rd packet 6 s after the sync: moved >= R');

    const k1 = cfg({ refreshPeriod: 8, retries: 1 });
    const r = m.conn('r', { ...base, cport: 1001, protocol: 17, timeout: 300_000 });
    s.inPkts[r] = 2;
    assert.equal(m.inbound(k1, r).length, 1);
    const synced = m.now;
    s.inPkts[r] = 52;
    s.now = synced + 500;
    assert.equal(m.inbound(k1, r).length, 0, 'before R/8 = 1 s: no retry yet');
    s.inPkts[r] = 52;
    s.now = synced + 1500;
    assert.equal(m.inbound(k1, r).length, 1, 'retry 1');
    // the kernel keeps the retry count in sync_endtime's low 2 bits; core keeps it in its own array, the end itself on the 16 ms grid
    assert.equal(s.syncRetries[r], 1, 'retry count kept');
    assert.equal(s.syncEnd[r]! % 16, 0);
    s.inPkts[r] = 52;
    s.now = synced + 2500;
    assert.equal(m.inbound(k1, r).length, 0, 'retries exhausted');
  });

  it('sync_persist_mode: conns under a template are not sent, the template is; a connection under a non-template controller still is', () => {
    const m = new Master();
    const T = m.conn('T', { ...base, cport: 0, flags: CF_TEMPLATE });
    const B = m.conn('B', { ...base, control: T });
    const k = cfg({ persistMode: true });
    const got: string[] = [];
    for (let i = 0; i < 4; i++) { m.tick(1); m.setTcp(B, TCP_ESTABLISHED); got.push(...m.inbound(k, B).map((x) => m.nameOf(x))); }
    assert.deepEqual(got, ['T', 'T', 'T', 'T']);
    // in_persistence(): only a template up the chain counts (an FTP data connection under its control connection is synced)
    const ctl = m.conn('ctl', { ...base, cport: 21, vport: 21, dport: 21 });
    m.setTcp(ctl, TCP_CLOSE_WAIT);
    const data = m.conn('data', { ...base, cport: 20, control: ctl });
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) { m.tick(1); m.setTcp(data, TCP_ESTABLISHED); seen.push(...m.inbound(k, data).map((x) => m.nameOf(x))); }
    assert.deepEqual(seen, ['ctl', 'ctl', 'data', 'ctl']);
  });

  it('one-packet scheduling: never sent itself; v1 still sends the template, v0 neither', () => {
    const mk = (m: Master, withTpl = true): number => {
      const T = withTpl ? m.conn('T', { ...base, cport: 0, protocol: 17, flags: CF_TEMPLATE }) : undefined;
      return m.conn('U', { ...base, protocol: 17, flags: CF_ONE_PACKET, ...(T !== undefined ? { control: T } : {}) });
    };
    const m1 = new Master();
    assert.deepEqual(m1.inbound(cfg(), mk(m1)).map((x) => m1.nameOf(x)), ['T']);
    const m0 = new Master();
    assert.deepEqual(m0.inbound(cfg({ version: 0 }), mk(m0)), []);
    // pkts = T for one-packet conns, but they are skipped before the decision
    const m2 = new Master();
    assert.deepEqual(m2.inbound(cfg(), mk(m2, false)), []);
    // v1 checks ONE_PACKET on the connection only (ip_vs_sync_conn jumps to its controller): a template carrying it still goes
    const m3 = new Master();
    const T3 = m3.conn('T', { ...base, cport: 0, protocol: 17, flags: CF_TEMPLATE | CF_ONE_PACKET });
    const U3 = m3.conn('U', { ...base, protocol: 17, flags: CF_ONE_PACKET, control: T3 });
    assert.deepEqual(m3.inbound(cfg(), U3).map((x) => m3.nameOf(x)), ['T']);
  });

  it('a non-template controller (FTP control conn) is evaluated with pkts = T; templates count their own packets', () => {
    const m = new Master();
    const ctl = m.conn('ctl', { ...base, cport: 21, vport: 21, dport: 21 });
    m.setTcp(ctl, TCP_ESTABLISHED);
    const data = m.conn('data', { ...base, cport: 20, control: ctl });
    m.setTcp(data, TCP_SYN_RECV);
    m.tick(1);
    assert.deepEqual(m.inbound(cfg(), data).map((x) => m.nameOf(x)), ['ctl']);
    const T = m.conn('T', { ...base, cport: 0, flags: CF_TEMPLATE });
    const B = m.conn('B', { ...base, control: T });
    for (let i = 0; i < 3; i++) { m.tick(1); m.inbound(cfg(), B); }
    assert.equal(m.t.s.inPkts[T], 3);
  });

  it('postponed expiry syncs with pkts = T; v0 sends only IPv4', () => {
    const m = new Master();
    const c = m.conn('x', base);
    m.setTcp(c, TCP_ESTABLISHED);
    m.tick(1);
    assert.equal(m.postponed(cfg(), c).length, 1);
    const v6 = m.conn('y', { caddr: 'fd00::1', cport: 1000, vaddr: 'fd00::2', daddr: 'fd00::3' });
    m.setTcp(v6, TCP_ESTABLISHED);
    m.t.s.inPkts[v6] = 2;
    m.tick(1);
    assert.equal(m.inbound(cfg({ version: 0 }), v6).length, 0);
    m.t.s.inPkts[v6] = 2;
    m.t.s.syncOld[v6] = 0;
    m.tick(1);
    assert.ok(syncNeeded(m.t, v6, 3, cfg({ version: 0 })), 'the decision itself is version-blind');
  });
});

// plugins/sync/lib/trigger.ts against spec §4.1–4.3, replaying the captured
// connections packet by packet and re-encoding the result against the capture.
import assert from 'node:assert/strict';
import {
  initialSyncFields, onExpiryPostponed, onInboundPacket, SYNC_TRIGGER_DEFAULTS, syncNeeded, type SyncTracked, type SyncTriggerConfig,
} from '../plugins/sync/lib/trigger.js';
import {
  encodeMessage, IP_VS_CONN_F_INACTIVE, IP_VS_CONN_F_ONE_PACKET, IP_VS_CONN_F_TEMPLATE, SCTP_S, TCP_S, type SyncConn,
} from '../plugins/sync/lib/wire.js';
import { hex, readHexFixture } from './sync-helpers.js';

const S = TCP_S;
const TIMEOUT_S: Record<number, number> = { [S.SYN_RECV]: 60, [S.ESTABLISHED]: 900, [S.CLOSE_WAIT]: 60, [S.TIME_WAIT]: 120, [S.FIN_WAIT]: 120, [S.CLOSE]: 10 };

/** A simulated data-plane connection: the trigger fields plus what a record needs. */
interface Sim extends SyncTracked {
  name: string;
  caddr: string; cport: number; vaddr: string; vport: number; daddr: string; dport: number;
}

let clock = 1_000_000;
const cfg = (over: Partial<SyncTriggerConfig> = {}): SyncTriggerConfig => ({ ...SYNC_TRIGGER_DEFAULTS, ...over });

function conn(name: string, over: Partial<Sim> & Pick<Sim, 'caddr' | 'cport' | 'vaddr' | 'daddr'>): Sim {
  return {
    name, af: 4, protocol: 6, flags: IP_VS_CONN_F_INACTIVE, state: 0, timeout: 60_000, control: null,
    vport: 80, dport: 80, ...initialSyncFields(clock), ...over,
  };
}

/** The data plane's state update for a TCP conn: state, timeout, INACTIVE off while ESTABLISHED. */
function setTcp(c: Sim, state: number): void {
  c.state = state;
  c.timeout = (TIMEOUT_S[state] ?? 60) * 1000;
  c.flags = state === S.ESTABLISHED ? c.flags & ~IP_VS_CONN_F_INACTIVE : c.flags | IP_VS_CONN_F_INACTIVE;
}

const toRecord = (c: Sim): SyncConn => ({
  af: c.af, protocol: c.protocol, flags: c.flags, state: c.state, cport: c.cport, vport: c.vport, dport: c.dport,
  fwmark: 0, timeout: c.timeout / 1000, caddr: c.caddr, vaddr: c.vaddr, daddr: c.daddr,
});

/** Feed inbound packets (state after each packet) and collect the synced records. */
function drive(k: SyncTriggerConfig, c: Sim, states: number[], out: Sim[][], before?: (i: number) => void): void {
  states.forEach((st, i) => {
    clock += 10;
    if (c.protocol === 6) setTcp(c, st);
    before?.(i);
    out.push(onInboundPacket(k, c, clock).map((x) => ({ ...(x as Sim) })));
  });
}

/** Inbound states of one short HTTP/1.0 connection where the client closes first (6 inbound packets). */
const HTTP = [S.SYN_RECV, S.ESTABLISHED, S.ESTABLISHED, S.CLOSE_WAIT, S.CLOSE_WAIT, S.TIME_WAIT];

function replayCapture(version: 0 | 1, client: string, ports: { a: number; b: number; d: number }): SyncConn[] {
  const k = cfg({ version });
  const sent: Sim[][] = [];
  const A = conn('A', { caddr: client, cport: ports.a, vaddr: '10.99.0.10', daddr: version === 1 ? '10.202.0.2' : '10.201.0.2' });
  drive(k, A, HTTP, sent);
  const T = conn('T', { caddr: client, cport: 0, vaddr: '10.99.0.11', daddr: '10.202.0.2', flags: IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_INACTIVE, timeout: 60_000 });
  const B = conn('B', { caddr: client, cport: ports.b, vaddr: '10.99.0.11', daddr: '10.202.0.2', control: T });
  // The template becomes ASSURED when a connection it controls is ESTABLISHED.
  drive(k, B, HTTP, sent, () => { if (B.state === S.ESTABLISHED) T.state = 1; });
  const C = conn('C', { caddr: client, cport: 40000, vaddr: '10.99.0.12', vport: 53, daddr: '10.203.0.2', dport: 53, protocol: 17, timeout: 300_000 });
  for (let i = 0; i < 4; i++) { clock += 200; sent.push(onInboundPacket(k, C, clock).map((x) => ({ ...(x as Sim) }))); }
  const D = conn('D', { af: 6, caddr: 'fd00:100::2', cport: ports.d, vaddr: 'fd00:99::10', daddr: 'fd00:201::2' });
  drive(k, D, HTTP, sent);
  return sent.flat().map(toRecord);
}

describe('sync trigger: replaying the captured connections (fixtures/sync)', () => {
  it('v1: A at its 3rd packet, CLOSE_WAIT, TIME_WAIT; template at every B packet (0 then 1); UDP C at the 3rd datagram; IPv6 D', () => {
    const recs = replayCapture(1, '10.100.0.2', { a: 45977, b: 49021, d: 49952 });
    const v4 = recs.filter((r) => r.af === 4), v6 = recs.filter((r) => r.af === 6);
    // The kernel split them into two messages only by time (2 s buffer age, §4.4).
    assert.equal(hex((encodeMessage(1, 0, v4) as { bytes: Uint8Array }).bytes), hex(readHexFixture('v1-msg1.hex')));
    assert.equal(hex((encodeMessage(1, 0, v6) as { bytes: Uint8Array }).bytes), hex(readHexFixture('v1-msg2.hex')));
  });

  it('v0: template only right after a B record, no IPv6, byte for byte', () => {
    const recs = replayCapture(0, '10.100.0.3', { a: 47113, b: 60163, d: 48846 });
    assert.ok(recs.every((r) => r.af === 4));
    assert.equal(hex((encodeMessage(0, 0, recs) as { bytes: Uint8Array }).bytes), hex(readHexFixture('v0-msg1.hex')));
  });
});

describe('sync trigger: rules (§4.2)', () => {
  const sentAt = (k: SyncTriggerConfig, c: Sim, n: number, stateAt: (i: number) => number): number[] => {
    const at: number[] = [];
    for (let i = 1; i <= n; i++) {
      clock += 1;
      if (c.protocol === 6) setTcp(c, stateAt(i)); else c.state = stateAt(i);
      if (onInboundPacket(k, c, clock).includes(c)) at.push(i);
    }
    return at;
  };
  const base = { caddr: '10.0.0.1', cport: 1000, vaddr: '10.0.0.2', daddr: '10.0.0.3' };

  it('TCP ESTABLISHED: 3rd, 53rd, 103rd packet; not in SYN_RECV', () => {
    assert.deepEqual(sentAt(cfg(), conn('x', base), 110, () => S.ESTABLISHED), [3, 53, 103]);
    assert.deepEqual(sentAt(cfg(), conn('x', base), 60, () => S.SYN_RECV), []);
  });

  it('changes into FIN_WAIT/CLOSE/CLOSE_WAIT/TIME_WAIT go out at once; back to ESTABLISHED waits for a counted packet', () => {
    const st = (i: number): number => (i < 10 ? S.ESTABLISHED : i < 12 ? S.FIN_WAIT : i < 14 ? S.ESTABLISHED : i < 20 ? S.CLOSE : S.TIME_WAIT);
    assert.deepEqual(sentAt(cfg(), conn('x', base), 60, st), [3, 10, 14, 20, 53]);
  });

  it('SCTP: syncable states and forced closing transitions', () => {
    const c = conn('s', { ...base, protocol: 132 });
    const st = (i: number): number => (i < 5 ? SCTP_S.COOKIE_ECHOED : i < 8 ? SCTP_S.ESTABLISHED : i < 9 ? SCTP_S.SHUTDOWN_SENT : SCTP_S.CLOSED);
    assert.deepEqual(sentAt(cfg(), c, 12, st), [8, 9]);
  });

  it('UDP: 3rd, 53rd packet; P = 0 and R = 0: only pkts == T', () => {
    const u = { ...base, protocol: 17 };
    assert.deepEqual(sentAt(cfg(), conn('u', u), 60, () => 0), [3, 53]);
    assert.deepEqual(sentAt(cfg({ period: 0 }), conn('u', u), 60, () => 0), [3]);
  });

  it('sync_refresh_period: re-send only when the expiry moved enough; sync_retries spaced by R/8', () => {
    const k = cfg({ refreshPeriod: 5000 });
    const c = conn('u', { ...base, protocol: 17, timeout: 300_000 });
    c.inPkts = 2;
    clock += 100;
    assert.ok(onInboundPacket(k, c, clock).length === 1, '3rd packet: expiry moved by the whole timeout');
    c.inPkts = 52;
    clock += 1000;
    assert.equal(onInboundPacket(k, c, clock).length, 0, '53rd packet 1 s later: moved < R, no retries');
    c.inPkts = 102;
    clock += 5000;
    assert.equal(onInboundPacket(k, c, clock).length, 1, '103rd packet 6 s after the sync: moved >= R');

    const k1 = cfg({ refreshPeriod: 8000, retries: 1 });
    const r = conn('r', { ...base, protocol: 17, timeout: 300_000 });
    r.inPkts = 2;
    assert.equal(onInboundPacket(k1, r, clock).length, 1);
    const synced = clock;
    r.inPkts = 52;
    assert.equal(onInboundPacket(k1, r, synced + 500).length, 0, 'before R/8 = 1 s: no retry yet');
    r.inPkts = 52;
    assert.equal(onInboundPacket(k1, r, synced + 1500).length, 1, 'retry 1');
    assert.equal(r.syncEnd % 4, 1, 'retry count kept in the low 2 bits');
    r.inPkts = 52;
    assert.equal(onInboundPacket(k1, r, synced + 2500).length, 0, 'retries exhausted');
  });

  it('sync_persist_mode: conns under a template are not sent, the template is', () => {
    const T = conn('T', { ...base, cport: 0, flags: IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_INACTIVE });
    const B = conn('B', { ...base, control: T });
    const k = cfg({ persistMode: true });
    const got: string[] = [];
    for (let i = 0; i < 4; i++) { setTcp(B, S.ESTABLISHED); got.push(...onInboundPacket(k, B, ++clock).map((x) => (x as Sim).name)); }
    assert.deepEqual(got, ['T', 'T', 'T', 'T']);
  });

  it('one-packet scheduling: never sent itself; v1 still sends the template, v0 neither', () => {
    const mk = (): Sim => conn('U', {
      ...base, protocol: 17, flags: IP_VS_CONN_F_ONE_PACKET | IP_VS_CONN_F_INACTIVE,
      control: conn('T', { ...base, cport: 0, protocol: 17, flags: IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_INACTIVE }),
    });
    assert.deepEqual(onInboundPacket(cfg(), mk(), ++clock).map((x) => (x as Sim).name), ['T']);
    assert.deepEqual(onInboundPacket(cfg({ version: 0 }), mk(), ++clock), []);
    const u = mk();
    u.control = null;
    // pkts = T for one-packet conns, but they are skipped before the decision
    assert.deepEqual(onInboundPacket(cfg(), u, ++clock), []);
  });

  it('a non-template controller (FTP control conn) is evaluated with pkts = T; templates count their own packets', () => {
    const ctl = conn('ctl', { ...base, cport: 21, vport: 21, dport: 21 });
    setTcp(ctl, S.ESTABLISHED);
    const data = conn('data', { ...base, cport: 20, control: ctl });
    setTcp(data, S.SYN_RECV);
    assert.deepEqual(onInboundPacket(cfg(), data, ++clock).map((x) => (x as Sim).name), ['ctl']);
    const T = conn('T', { ...base, cport: 0, flags: IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_INACTIVE });
    const B = conn('B', { ...base, control: T });
    for (let i = 0; i < 3; i++) onInboundPacket(cfg(), B, ++clock);
    assert.equal(T.inPkts, 3);
  });

  it('postponed expiry syncs with pkts = T; v0 sends only IPv4', () => {
    const c = conn('x', base);
    setTcp(c, S.ESTABLISHED);
    assert.equal(onExpiryPostponed(cfg(), c, ++clock).length, 1);
    const v6 = conn('y', { ...base, af: 6 });
    setTcp(v6, S.ESTABLISHED);
    v6.inPkts = 2;
    assert.equal(onInboundPacket(cfg({ version: 0 }), v6, ++clock).length, 0);
    v6.inPkts = 2;
    v6.syncState = 0;
    assert.ok(syncNeeded(cfg({ version: 0 }), v6, 3, ++clock), 'the decision itself is version-blind');
  });
});

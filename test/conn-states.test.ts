// Worked examples of connections.md (§3–§6 and "Checked against Linux 6.1"),
// driven through ConnTable the way the pipeline will drive it.
import assert from 'node:assert/strict';
import { ipv4ToU32 } from '../core/model/addr.js';
import * as S from '../core/conn/states.js';
import {
  COUNT_ACTIVE, COUNT_INACTIVE, COUNT_NONE, COUNT_PERSIST, ConnTable, type ConnDests, EV_ACTIVE, EV_ASSURED, EV_INACTIVE,
  EXIST_DROP, EXIST_RESCHEDULE, EXIST_USE, loadAddr,
} from '../core/conn/table.js';
import { maskPrefix6, persistConnDport, templateKey } from '../core/engine/persist.js';

const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04;
const ip = (s: string): number => ipv4ToU32(s)!;
const CIP = ip('10.100.0.50'), VIP = ip('10.99.4.1');

/** Dest counters as the pipeline keeps them. */
class Dests implements ConnDests {
  active = [0, 0, 0, 0];
  inact = [0, 0, 0, 0];
  persist = [0, 0, 0, 0];
  avail = [true, true, true, true];
  weights = [1, 1, 1, 1];
  readonly port = [80, 80, 8080, 80];
  readonly addr = [ip('10.202.0.9'), ip('10.202.0.10'), ip('10.202.0.11'), ip('10.202.0.12')];
  move(d: number, from: number, to: number): void {
    const arr = (k: number): number[] | null => (k === COUNT_ACTIVE ? this.active : k === COUNT_INACTIVE ? this.inact : k === COUNT_PERSIST ? this.persist : null);
    const f = arr(from), t = arr(to);
    if (f) { f[d]!--; assert.ok(f[d]! >= 0, 'counter below zero'); }
    if (t) t[d]!++;
    assert.ok(from !== COUNT_NONE || to !== COUNT_NONE);
  }
  available(d: number): boolean { return this.avail[d]!; }
  weight(d: number): number { return this.weights[d]!; }
}

function setup(sysctls = {}): { t: ConnTable; d: Dests } {
  const d = new Dests();
  const t = new ConnTable({ maxConns: 1000, tickMs: 10, seed: 1, sysctls }, d);
  return { t, d };
}

/** What ipvsadm -Lnc shows 0.3 s after a packet: state and seconds left. */
function shown(t: ConnTable, e: number): [string, number] {
  const v = t.view(e);
  return [v.state, v.expires];
}

/** Step the clock by 0.3 s, as the spec's listings were taken. */
function look(t: ConnTable, e: number): [string, number] {
  t.advance(t.now + 300);
  const r = shown(t, e);
  t.advance(t.now + 700); // then 1 s between packets
  return r;
}

describe('conn: TCP state machine (connections.md §3)', () => {
  it('tables transcribed: spot checks of every direction', () => {
    const T = S.TCP_TABLE;
    assert.equal(S.tcpNext(T, S.DIR_INPUT, S.TEV_SYN, S.TCP_NONE), S.TCP_SYN_RECV);
    assert.equal(S.tcpNext(T, S.DIR_INPUT, S.TEV_RST, S.TCP_SYN_RECV), S.TCP_SYN_RECV);
    assert.equal(S.tcpNext(T, S.DIR_OUTPUT, S.TEV_RST, S.TCP_SYN_RECV), S.TCP_CLOSE);
    assert.equal(S.tcpNext(T, S.DIR_OUTPUT, S.TEV_ACK, S.TCP_LISTEN), S.TCP_ESTABLISHED);
    assert.equal(S.tcpNext(T, S.DIR_INPUT_ONLY, S.TEV_FIN, S.TCP_ESTABLISHED), S.TCP_FIN_WAIT);
    assert.equal(S.tcpNext(T, S.DIR_INPUT_ONLY, S.TEV_RST, S.TCP_SYNACK), S.TCP_CLOSE);
    assert.equal(S.tcpNext(T, S.DIR_INPUT, S.TEV_RST, S.TCP_SYNACK), S.TCP_SYN_RECV);
    assert.equal(S.tcpNext(T, S.DIR_INPUT, -1, S.TCP_ESTABLISHED), S.TCP_CLOSE);
    const X = S.TCP_TABLE_SECURE;
    assert.equal(S.tcpNext(X, S.DIR_INPUT_ONLY, S.TEV_SYN, S.TCP_NONE), S.TCP_SYNACK);
    assert.equal(S.tcpNext(X, S.DIR_INPUT, S.TEV_ACK, S.TCP_SYN_RECV), S.TCP_SYN_RECV);
    assert.equal(S.tcpNext(X, S.DIR_OUTPUT, S.TEV_SYN, S.TCP_SYN_RECV), S.TCP_SYNACK);
    assert.deepEqual([S.tcpEvent(RST | SYN), S.tcpEvent(SYN | FIN), S.tcpEvent(FIN | ACK), S.tcpEvent(ACK), S.tcpEvent(0x08)],
      [S.TEV_RST, S.TEV_SYN, S.TEV_FIN, S.TEV_ACK, -1]);
  });

  it('NAT worked example: states, expiry shown, ActiveConn/InActConn at each step (6.1 table (1))', () => {
    const { t, d } = setup();
    const e = t.create4(6, CIP, 40000, VIP, 80, d.addr[0]!, 80, S.CF_MASQ, 0, 0);
    assert.deepEqual([d.active[0], d.inact[0]], [0, 1]); // brand-new: inactive until its first transition
    const steps: [number, number, string, number, number, number][] = [
      [S.DIR_INPUT, SYN, 'SYN_RECV', 59, 1, 0],
      [S.DIR_OUTPUT, SYN | ACK, 'SYN_RECV', 59, 1, 0],
      [S.DIR_INPUT, ACK, 'ESTABLISHED', 899, 1, 0],
      [S.DIR_INPUT, ACK | 0x08, 'ESTABLISHED', 899, 1, 0],
      [S.DIR_OUTPUT, ACK | 0x08, 'ESTABLISHED', 899, 1, 0],
      [S.DIR_INPUT, ACK, 'ESTABLISHED', 899, 1, 0],
      [S.DIR_INPUT, FIN | ACK, 'CLOSE_WAIT', 59, 0, 1],
      [S.DIR_OUTPUT, ACK, 'CLOSE_WAIT', 59, 0, 1],
      [S.DIR_OUTPUT, FIN | ACK, 'TIME_WAIT', 119, 0, 1],
      [S.DIR_INPUT, ACK, 'TIME_WAIT', 119, 0, 1],
    ];
    for (const [dir, fl, st, exp, a, i] of steps) {
      t.update(e, dir, fl);
      assert.deepEqual(look(t, e), [st, exp], `${st}`);
      assert.deepEqual([d.active[0], d.inact[0]], [a, i], `${st} counters`);
    }
    // gone 120 s after the last packet
    t.advance(t.now + 118_000);
    assert.equal(t.count, 1);
    t.advance(t.now + 1_000);
    assert.equal(t.count, 0);
    assert.deepEqual([d.active[0], d.inact[0]], [0, 0]);
  });

  it('NAT, server closes first (N2)', () => {
    const { t } = setup();
    const e = t.create4(6, CIP, 40000, VIP, 80, 1, 80, S.CF_MASQ, 0, 0);
    t.update(e, S.DIR_INPUT, SYN); t.update(e, S.DIR_OUTPUT, SYN | ACK); t.update(e, S.DIR_INPUT, ACK);
    t.update(e, S.DIR_OUTPUT, FIN | ACK); assert.deepEqual(look(t, e), ['FIN_WAIT', 119]);
    t.update(e, S.DIR_INPUT, ACK); assert.deepEqual(look(t, e), ['FIN_WAIT', 119]);
    t.update(e, S.DIR_INPUT, FIN | ACK); assert.deepEqual(look(t, e), ['TIME_WAIT', 119]);
    t.update(e, S.DIR_OUTPUT, ACK); assert.deepEqual(look(t, e), ['TIME_WAIT', 119]);
  });

  it('NAT RSTs (N3): client RST in SYN_RECV stays SYN_RECV and active; server RST closes; no flags → CLOSE 9', () => {
    const { t, d } = setup();
    const e = t.create4(6, CIP, 40000, VIP, 80, 1, 80, S.CF_MASQ, 0, 0);
    t.update(e, S.DIR_INPUT, SYN);
    t.update(e, S.DIR_INPUT, RST);
    assert.deepEqual(look(t, e), ['SYN_RECV', 59]); assert.equal(d.active[0], 1);
    t.update(e, S.DIR_OUTPUT, RST);
    assert.deepEqual(look(t, e), ['CLOSE', 9]); assert.deepEqual([d.active[0], d.inact[0]], [0, 1]);
    const e2 = t.create4(6, CIP, 40001, VIP, 80, 1, 80, S.CF_MASQ, 0, 0);
    t.update(e2, S.DIR_INPUT, SYN); t.update(e2, S.DIR_INPUT, ACK);
    t.update(e2, S.DIR_INPUT, RST); assert.deepEqual(look(t, e2), ['CLOSE', 9]);
    const e3 = t.create4(6, CIP, 40002, VIP, 80, 1, 80, S.CF_MASQ, 0, 0);
    t.update(e3, S.DIR_INPUT, SYN); t.update(e3, S.DIR_INPUT, ACK);
    t.update(e3, S.DIR_INPUT, 0); assert.deepEqual(look(t, e3), ['CLOSE', 9]);
    const e4 = t.create4(6, CIP, 40003, VIP, 80, 1, 80, S.CF_MASQ, 0, 0);
    t.update(e4, S.DIR_INPUT, SYN); t.update(e4, S.DIR_OUTPUT, SYN);
    assert.deepEqual(look(t, e4), ['SYN_RECV', 59]);
  });

  it('DR worked example: INPUT-ONLY table, FIN_WAIT and never TIME_WAIT; RST in SYN_RECV stays', () => {
    const { t, d } = setup();
    const e = t.create4(6, CIP, 40000, VIP, 80, d.addr[1]!, 80, S.CF_DROUTE | S.CF_NOOUTPUT, 1, 0);
    const steps: [number, string, number, number, number][] = [
      [SYN, 'SYN_RECV', 59, 1, 0], [RST, 'SYN_RECV', 59, 1, 0], [SYN, 'SYN_RECV', 59, 1, 0], [ACK, 'ESTABLISHED', 899, 1, 0],
      [ACK | 0x08, 'ESTABLISHED', 899, 1, 0], [SYN, 'ESTABLISHED', 899, 1, 0], [FIN | ACK, 'FIN_WAIT', 119, 0, 1], [ACK, 'FIN_WAIT', 119, 0, 1],
    ];
    for (const [fl, st, exp, a, i] of steps) {
      t.update(e, S.DIR_INPUT, fl);
      assert.deepEqual(look(t, e), [st, exp]);
      assert.deepEqual([d.active[1], d.inact[1]], [a, i]);
    }
    t.update(e, S.DIR_INPUT, RST);
    assert.deepEqual(look(t, e), ['CLOSE', 9]);
    // FIN in SYN_RECV → TIME_WAIT
    const e2 = t.create4(6, CIP, 40001, VIP, 80, 1, 80, S.CF_TUNNEL | S.CF_NOOUTPUT, 1, 0);
    t.update(e2, S.DIR_INPUT, SYN); t.update(e2, S.DIR_INPUT, FIN);
    assert.deepEqual(look(t, e2), ['TIME_WAIT', 119]);
    // the first OUTPUT packet clears NOOUTPUT: from then on the INPUT table is used
    const e3 = t.create4(6, CIP, 40002, VIP, 80, 1, 80, S.CF_DROUTE | S.CF_NOOUTPUT, 1, 0);
    t.update(e3, S.DIR_INPUT, SYN); t.update(e3, S.DIR_INPUT, ACK);
    t.update(e3, S.DIR_OUTPUT, ACK);
    assert.equal(t.s.flags[e3]! & S.CF_NOOUTPUT, 0);
    t.update(e3, S.DIR_INPUT, FIN | ACK);
    assert.equal(shown(t, e3)[0], 'CLOSE_WAIT');
  });

  it('update() returns the counter events', () => {
    const { t } = setup();
    const e = t.create4(6, CIP, 1, VIP, 80, 1, 80, S.CF_MASQ, 0, 0);
    assert.ok(t.update(e, S.DIR_INPUT, SYN) & EV_ACTIVE);
    assert.equal(t.update(e, S.DIR_INPUT, ACK) & (EV_ACTIVE | EV_INACTIVE), 0);
    assert.ok(t.update(e, S.DIR_INPUT, FIN) & EV_INACTIVE);
  });

  it('secure_tcp table: DR SYN goes to SYNACK (active), an ACK alone does not establish under INPUT', () => {
    const { t, d } = setup({ secureTcp: true });
    const e = t.create4(6, CIP, 1, VIP, 80, 1, 80, S.CF_DROUTE | S.CF_NOOUTPUT, 0, 0);
    t.update(e, S.DIR_INPUT, SYN);
    assert.deepEqual(look(t, e), ['SYNACK', 119]); assert.equal(d.active[0], 1);
    const n = t.create4(6, CIP, 2, VIP, 80, 1, 80, S.CF_MASQ, 0, 0);
    t.update(n, S.DIR_INPUT, SYN); t.update(n, S.DIR_INPUT, ACK);
    assert.equal(shown(t, n)[0], 'SYN_RECV');
  });

  it('--set changes three cells; entries pick the new value at their next packet (6.1 table (5))', () => {
    const { t } = setup();
    const e = t.create4(6, CIP, 1, VIP, 80, 1, 80, S.CF_MASQ, 0, 0);
    t.update(e, S.DIR_INPUT, SYN); t.update(e, S.DIR_INPUT, ACK);
    t.advance(t.now + 3300);
    t.timeouts.set(100, 50, 20);
    assert.deepEqual(t.timeouts.get(), { tcp: 100, tcpfin: 50, udp: 20 });
    assert.deepEqual(shown(t, e), ['ESTABLISHED', 896]);
    t.update(e, S.DIR_INPUT, ACK);
    assert.deepEqual(look(t, e), ['ESTABLISHED', 99]);
    t.update(e, S.DIR_INPUT, FIN);
    assert.deepEqual(look(t, e), ['CLOSE_WAIT', 59]); // tcpfin is FIN_WAIT only
    t.update(e, S.DIR_OUTPUT, FIN);
    assert.deepEqual(look(t, e), ['TIME_WAIT', 119]);
    const u = t.create4(17, CIP, 5, VIP, 53, 1, 53, S.CF_MASQ, 0, 0);
    t.update(u, S.DIR_INPUT, 0);
    assert.deepEqual(look(t, u), ['UDP', 19]);
    t.timeouts.set(0, 0, 0);
    assert.deepEqual(t.timeouts.get(), { tcp: 100, tcpfin: 50, udp: 20 });
  });
});

describe('conn: UDP and SCTP (§4, §5)', () => {
  it('UDP: state UDP, 300 s re-armed both ways, always inactive; a reply assures the template', () => {
    const { t, d } = setup();
    const ct = t.create4(17, CIP, 0, VIP, 53, d.addr[0]!, 53, S.CF_MASQ | S.CF_TEMPLATE, 0, 0, 30_000);
    const e = t.create4(17, CIP, 5353, VIP, 53, d.addr[0]!, 53, S.CF_MASQ, 0, 0);
    t.attach(e, ct);
    t.update(e, S.DIR_INPUT, 0);
    assert.deepEqual(look(t, e), ['UDP', 299]);
    assert.deepEqual([d.active[0], d.inact[0], d.persist[0]], [0, 1, 1]);
    assert.equal(shown(t, ct)[0], 'NONE');
    assert.ok(t.update(e, S.DIR_OUTPUT, 0) & EV_ASSURED);
    assert.equal(shown(t, ct)[0], 'ASSURED');
    assert.deepEqual(look(t, e), ['UDP', 299]);
    assert.equal(t.update(e, S.DIR_OUTPUT, 0) & EV_ASSURED, 0);
  });

  it('SCTP: association set-up seen by NAT reaches ESTABLISHED (active) and closes', () => {
    const { t, d } = setup();
    const e = t.create4(132, CIP, 5000, VIP, 9, 1, 9, S.CF_MASQ, 0, 0);
    const steps: [number, number, string, number][] = [
      [S.DIR_INPUT, S.sctpEvent(1, -1), 'INIT1', 3],
      [S.DIR_OUTPUT, S.sctpEvent(2, -1), 'C-SENT', 60],
      [S.DIR_INPUT, S.sctpEvent(10, -1), 'C-REPLIED', 60],
      [S.DIR_OUTPUT, S.sctpEvent(11, -1), 'ESTABLISHED', 899],
      [S.DIR_INPUT, S.sctpEvent(0, -1), 'ESTABLISHED', 899],
      [S.DIR_INPUT, S.sctpEvent(7, -1), 'S-RECEIVED', 60],
      [S.DIR_OUTPUT, S.sctpEvent(8, -1), 'S-ACK-SENT', 60],
      [S.DIR_INPUT, S.sctpEvent(14, -1), 'CLOSED', 60],
    ];
    for (const [dir, ev, st, exp] of steps) {
      t.update(e, dir, ev);
      assert.deepEqual(look(t, e), [st, exp], st);
      if (st === 'ESTABLISHED') assert.equal(d.active[0], 1);
    }
    assert.deepEqual([d.active[0], d.inact[0]], [0, 1]);
  });

  it('SCTP events: chunk types, unknown as DATA, ABORT after COOKIE-ECHO/ACK', () => {
    assert.equal(S.sctpEvent(10, 6), S.SEV_ABORT);
    assert.equal(S.sctpEvent(11, 6), S.SEV_ABORT);
    assert.equal(S.sctpEvent(10, 0), S.SEV_COOKIE_ECHO);
    assert.equal(S.sctpEvent(0, 6), S.SEV_DATA);
    assert.equal(S.sctpEvent(200, -1), S.SEV_DATA);
    assert.equal(S.sctpEvent(14, -1), S.SEV_SHUTDOWN_COMPLETE);
    assert.equal(S.sctpNext(S.DIR_INPUT, S.SEV_ABORT, S.SCTP_S_COOKIE_WAIT), S.SCTP_S_REJECTED);
    assert.equal(S.sctpNext(S.DIR_INPUT_ONLY, S.SEV_DATA, S.SCTP_S_COOKIE_WAIT), S.SCTP_S_ESTABLISHED);
    assert.equal(S.stateName(132, 0, S.SCTP_S_COOKIE_SENT), 'C-SENT');
  });
});

/** A persistent service as the pipeline will run it (§6 "Scheduling with persistence"). */
function persistNew(t: ConnTable, d: Dests, pick: () => number, o: { cport: number; dport?: number; client?: number; mask?: number; timeoutMs: number; svcPort?: number }): { ct: number; e: number } {
  const key = new Int32Array(3);
  const svcPort = o.svcPort ?? 80;
  const dport = o.dport ?? svcPort;
  assert.ok(templateKey(svcPort, 0, 6, dport, key));
  const snet = ((o.client ?? CIP) & (o.mask ?? 0xffffffff)) >>> 0;
  let ct = t.lookupTemplate4(key[0]!, snet, VIP, key[1]!);
  if (ct < 0 || !t.checkTemplate(ct)) {
    const dest = pick();
    ct = t.create4(key[0]!, snet, 0, VIP, key[1]!, d.addr[dest]!, key[2] ? d.port[dest]! : 0, S.CF_MASQ | S.CF_TEMPLATE, dest, 0, o.timeoutMs);
  }
  const dest = t.s.dest[ct]!;
  const e = t.create4(6, o.client ?? CIP, o.cport, VIP, dport, d.addr[dest]!, persistConnDport(dport, svcPort, d.port[dest]!), S.CF_MASQ, dest, 0);
  t.attach(e, ct);
  t.touchTemplate(ct);
  return { ct, e };
}

describe('conn: persistence templates (§6)', () => {
  it('template line, NONE → ASSURED at ESTABLISHED, refreshed only by new connections', () => {
    const { t, d } = setup();
    let rr = 0;
    const { ct, e } = persistNew(t, d, () => rr++ % 2, { cport: 40000, timeoutMs: 30_000 });
    const v = t.view(ct);
    assert.deepEqual([v.protocol, v.caddr, v.cport, v.vaddr, v.vport, v.daddr, v.dport], ['tcp', '10.100.0.50', 0, '10.99.4.1', 80, '10.202.0.9', 80]);
    assert.deepEqual(look(t, ct), ['NONE', 29]);
    assert.deepEqual([d.persist[0], d.inact[0]], [1, 1]);
    t.update(e, S.DIR_INPUT, SYN);
    t.update(e, S.DIR_INPUT, ACK);
    assert.equal(shown(t, ct)[0], 'ASSURED');
    t.advance(t.now + 3000); // t = 4 s
    t.update(e, S.DIR_INPUT, ACK); // data of the existing connection: template not refreshed
    assert.deepEqual(shown(t, ct), ['ASSURED', 26]);
    const again = persistNew(t, d, () => rr++ % 2, { cport: 40001, timeoutMs: 30_000 });
    assert.equal(again.ct, ct);
    assert.equal(t.s.dest[again.e], 0); // same client → same real
    assert.deepEqual(shown(t, ct), ['ASSURED', 30]);
    const other = persistNew(t, d, () => rr++ % 2, { cport: 40000, client: ip('10.100.0.77'), timeoutMs: 30_000 });
    assert.notEqual(other.ct, ct);
    assert.equal(t.s.dest[other.e], 1);
  });

  it('netmask: clients of one /24 share one template', () => {
    const { t, d } = setup();
    const a = persistNew(t, d, () => 0, { cport: 1, mask: 0xffffff00, timeoutMs: 30_000 });
    const b = persistNew(t, d, () => 1, { cport: 1, client: ip('10.100.0.51'), mask: 0xffffff00, timeoutMs: 30_000 });
    assert.equal(a.ct, b.ct);
    assert.equal(t.view(a.ct).caddr, '10.100.0.0');
    assert.equal(t.s.dest[b.e], 0);
  });

  it('-p 5 with a connection held 7 s: the template is kept 60 s at a time, and 60 s stays its timeout (6.1 ✘/+)', () => {
    const { t, d } = setup();
    const { ct, e } = persistNew(t, d, () => 0, { cport: 40000, timeoutMs: 5000 });
    t.update(e, S.DIR_INPUT, SYN); t.update(e, S.DIR_INPUT, ACK);
    t.advance(t.now + 5_000); // the template's timer fires with a live child
    assert.equal(t.s.af[ct], 4);
    t.advance(t.now + 2_000); // t = 7 s
    assert.deepEqual(shown(t, ct), ['ASSURED', 58]);
    t.advance(t.now + 2_000);
    assert.deepEqual(shown(t, ct), ['ASSURED', 56]);
    const n = persistNew(t, d, () => 1, { cport: 40001, timeoutMs: 5000 });
    assert.equal(n.ct, ct);
    assert.deepEqual(look(t, ct), ['ASSURED', 59]); // not 00:05
  });

  it('after its last child the template lives to its own timer (X1), also when still NONE (X2)', () => {
    const { t, d } = setup();
    const { ct, e } = persistNew(t, d, () => 0, { cport: 40000, timeoutMs: 20_000 });
    t.update(e, S.DIR_INPUT, SYN); t.update(e, S.DIR_INPUT, ACK);
    t.update(e, S.DIR_INPUT, RST); // CLOSE, 10 s
    t.advance(t.now + 10_000);
    assert.equal(t.s.af[e], 0); // child gone
    t.advance(t.now + 2_000); // t = 12 s
    assert.deepEqual(shown(t, ct), ['ASSURED', 8]);
    t.advance(t.now + 8_000); // t = 20 s
    assert.equal(t.count, 0);
    assert.deepEqual([d.persist[0], d.inact[0], d.active[0]], [0, 0, 0]);
    const x2 = persistNew(t, d, () => 0, { cport: 1, timeoutMs: 20_000 });
    t.update(x2.e, S.DIR_INPUT, SYN); // SYN_RECV 60 s > 20 s: child outlives the template timer
    t.advance(t.now + 20_000);
    assert.equal(shown(t, x2.ct)[0], 'NONE'); // kept alive by its child
    t.advance(t.now + 40_000); // child expires normally at 60 s
    assert.equal(t.s.af[x2.e], 0);
    assert.equal(t.s.af[x2.ct], 4); // not dropped together with a normally expired child
    t.advance(t.now + 60_000);
    assert.equal(t.count, 0);
  });

  it('forced expiry of the last child drops a non-assured template with it', () => {
    const { t, d } = setup();
    const { ct, e } = persistNew(t, d, () => 0, { cport: 1, timeoutMs: 300_000 });
    t.update(e, S.DIR_INPUT, SYN);
    t.del(e);
    assert.equal(t.s.af[e], 0);
    t.advance(t.now + 10);
    assert.equal(t.s.af[ct], 0);
    assert.equal(d.persist[0], 0);
    // an ASSURED one stays
    const a = persistNew(t, d, () => 0, { cport: 2, timeoutMs: 300_000 });
    t.update(a.e, S.DIR_INPUT, SYN); t.update(a.e, S.DIR_INPUT, ACK);
    t.del(a.e);
    t.advance(t.now + 10);
    assert.equal(t.s.af[a.ct], 4);
  });

  it('quiesced real: template kept with expire_quiescent_template=0, re-keyed to 65535 with =1 (P4)', () => {
    const { t, d } = setup();
    const { ct, e } = persistNew(t, d, () => 0, { cport: 1, timeoutMs: 60_000 });
    t.update(e, S.DIR_INPUT, SYN); t.update(e, S.DIR_INPUT, ACK);
    d.weights[0] = 0;
    const again = persistNew(t, d, () => 1, { cport: 2, timeoutMs: 60_000 });
    assert.equal(again.ct, ct); assert.equal(t.s.dest[again.e], 0);
    t.sysctl.expireQuiescentTemplate = true;
    t.advance(t.now + 3000);
    const before = t.s.expires[ct];
    const third = persistNew(t, d, () => 1, { cport: 3, timeoutMs: 60_000 });
    assert.notEqual(third.ct, ct);
    assert.equal(t.s.dest[third.e], 1);
    const v = t.view(ct);
    assert.deepEqual([v.state, v.caddr, v.cport, v.vport, v.dport], ['ASSURED', '10.100.0.50', 0, 65535, 65535]);
    assert.equal(t.s.expires[ct], before); // countdown continues, not restarted
    assert.equal(t.lookupTemplate4(6, CIP, VIP, 80), third.ct);
    // the existing connection keeps flowing to the weight-0 real
    assert.equal(t.lookupIn4(6, CIP, 1, VIP, 80), e);
    assert.equal(t.decideExisting(e, false, false), EXIST_USE);
    assert.ok([...t.views()].some((x) => x.vport === 65535));
  });

  it('deleted real (P5): entries stay, packets dropped and not refreshed; next new conn invalidates the template', () => {
    const { t, d } = setup();
    const { ct, e } = persistNew(t, d, () => 0, { cport: 1, timeoutMs: 60_000 });
    t.update(e, S.DIR_INPUT, SYN); t.update(e, S.DIR_INPUT, ACK);
    d.avail[0] = false;
    assert.equal(t.decideExisting(e, false, false), EXIST_DROP);
    assert.equal(t.decideExisting(e, true, false), EXIST_DROP); // even a SYN
    const n = persistNew(t, d, () => 1, { cport: 2, timeoutMs: 60_000 });
    assert.notEqual(n.ct, ct);
    assert.equal(t.view(ct).vport, 65535);
    t.sysctl.expireNodestConn = true;
    assert.equal(t.decideExisting(e, false, false), EXIST_RESCHEDULE); // an ACK: entry vanishes, nothing created
    assert.equal(t.lookupIn4(6, CIP, 1, VIP, 80), -1);
    t.advance(t.now + 10);
    assert.equal(t.s.af[e], 0);
  });

  it('expire_nodest_conn=1 at deletion (P6): connections and their template go at once', () => {
    const { t, d } = setup({ expireNodestConn: true });
    const { ct, e } = persistNew(t, d, () => 0, { cport: 1, timeoutMs: 60_000 });
    t.update(e, S.DIR_INPUT, SYN); t.update(e, S.DIR_INPUT, ACK);
    const e2 = t.create4(6, CIP, 2, VIP, 80, 1, 80, S.CF_MASQ, 0, 0);
    t.attach(e2, ct);
    d.avail[0] = false;
    assert.equal(t.expireDest(0), 3);
    t.advance(t.now + 10);
    assert.equal(t.count, 0);
    assert.deepEqual([d.active[0], d.inact[0], d.persist[0]], [0, 0, 0]);
  });

  it('template keys: normal, FTP, port 0, fwmark; connection dport', () => {
    const k = new Int32Array(3);
    assert.ok(templateKey(80, 0, 6, 80, k)); assert.deepEqual([...k], [6, 80, 1]);
    assert.ok(!templateKey(80, 0, 6, 81, k));
    assert.ok(templateKey(21, 0, 6, 21, k)); assert.deepEqual([...k], [6, 0, 0]);
    assert.ok(templateKey(21, 0, 6, 40000, k)); assert.deepEqual([...k], [6, 0, 0]);
    assert.ok(templateKey(0, 0, 17, 53, k)); assert.deepEqual([...k], [17, 0, 0]);
    assert.ok(templateKey(0, 7, 6, 443, k)); assert.deepEqual([...k], [0, 0, 0]);
    assert.equal(persistConnDport(80, 80, 8080), 8080);
    assert.equal(persistConnDport(443, 0, 0), 443);
    assert.equal(persistConnDport(80, 80, 0), 80);
    // fwmark template shows protocol IP and the mark as vaddr
    const { t } = setup();
    const ct = t.create4(0, CIP, 0, 7, 0, 1, 0, S.CF_TEMPLATE | S.CF_DROUTE, 0, 7, 30_000);
    const v = t.view(ct);
    assert.deepEqual([v.protocol, v.vaddr, v.state], ['ip', '0.0.0.7', 'NONE']);
    assert.equal(t.lookupTemplate4(0, CIP, 7, 0), ct);
    const r = new Uint32Array([0x20010db8, 0x12345678, 0xffffffff, 1]);
    maskPrefix6(r, 40);
    assert.deepEqual([...r], [0x20010db8, 0x12000000, 0, 0]);
  });
});

describe('conn: reuse and unavailable dests (§2.6, §2.7)', () => {
  it('conn_reuse_mode=1: SYN on TIME_WAIT / CLOSE reschedules; on ESTABLISHED uses the entry (N4)', () => {
    const { t, d } = setup();
    const e = t.create4(6, CIP, 1, VIP, 80, 1, 80, S.CF_MASQ, 0, 0);
    t.update(e, S.DIR_INPUT, SYN); t.update(e, S.DIR_INPUT, ACK);
    assert.equal(t.decideExisting(e, true, false), EXIST_USE);
    t.update(e, S.DIR_INPUT, FIN); t.update(e, S.DIR_OUTPUT, FIN);
    assert.equal(shown(t, e)[0], 'TIME_WAIT');
    assert.equal(t.decideExisting(e, true, true), EXIST_USE); // fragments never reuse
    assert.equal(t.decideExisting(e, true, false), EXIST_RESCHEDULE);
    assert.equal(t.lookupIn4(6, CIP, 1, VIP, 80), -1); // out of the way for the new entry at once
    const n = t.create4(6, CIP, 1, VIP, 80, 1, 80, S.CF_MASQ, 1, 0);
    assert.equal(t.lookupIn4(6, CIP, 1, VIP, 80), n);
    t.advance(t.now + 10);
    assert.equal(t.s.af[e], 0);
    assert.deepEqual([d.inact[0], d.inact[1]], [0, 1]);
  });

  it('conn_reuse_mode=0 reuses; mode 2 also reschedules a DR FIN_WAIT; controlled entries are never reused', () => {
    const { t } = setup({ connReuseMode: 0 });
    const e = t.create4(6, CIP, 1, VIP, 80, 1, 80, S.CF_MASQ, 0, 0);
    t.update(e, S.DIR_INPUT, SYN); t.update(e, S.DIR_INPUT, RST); t.update(e, S.DIR_OUTPUT, RST);
    assert.equal(t.decideExisting(e, true, false), EXIST_USE);
    t.update(e, S.DIR_INPUT, SYN);
    assert.equal(shown(t, e)[0], 'SYN_RECV');
    const dr = t.create4(6, CIP, 2, VIP, 80, 1, 80, S.CF_DROUTE | S.CF_NOOUTPUT, 0, 0);
    t.update(dr, S.DIR_INPUT, SYN); t.update(dr, S.DIR_INPUT, ACK); t.update(dr, S.DIR_INPUT, FIN);
    t.sysctl.connReuseMode = 1;
    assert.equal(t.decideExisting(dr, true, false), EXIST_USE);
    t.sysctl.connReuseMode = 2;
    assert.equal(t.decideExisting(dr, true, false), EXIST_RESCHEDULE);
    const ct = t.create4(6, CIP, 0, VIP, 80, 1, 80, S.CF_MASQ | S.CF_TEMPLATE, 0, 0, 60_000);
    const c = t.create4(6, CIP, 3, VIP, 80, 1, 80, S.CF_MASQ, 0, 0);
    t.attach(c, ct);
    t.update(c, S.DIR_INPUT, SYN); t.update(c, S.DIR_INPUT, RST); t.update(c, S.DIR_OUTPUT, RST);
    t.sysctl.connReuseMode = 1;
    assert.equal(t.decideExisting(c, true, false), EXIST_USE);
  });

  it('expire_nodest_conn=1 and weight 0: a SYN reschedules (also controlled), an ACK does not (P7)', () => {
    const { t, d } = setup({ expireNodestConn: true });
    const ct = t.create4(6, CIP, 0, VIP, 80, 1, 80, S.CF_MASQ | S.CF_TEMPLATE, 0, 0, 60_000);
    const e = t.create4(6, CIP, 1, VIP, 80, 1, 80, S.CF_MASQ, 0, 0);
    t.attach(e, ct);
    t.update(e, S.DIR_INPUT, SYN); t.update(e, S.DIR_INPUT, ACK);
    d.weights[0] = 0;
    assert.equal(t.decideExisting(e, false, false), EXIST_USE);
    assert.equal(t.decideExisting(e, true, false), EXIST_RESCHEDULE);
  });

  it('SCTP CLOSED is reused by an INIT', () => {
    const { t } = setup();
    const e = t.create4(132, CIP, 1, VIP, 9, 1, 9, S.CF_MASQ, 0, 0);
    t.update(e, S.DIR_INPUT, S.SEV_INIT); t.update(e, S.DIR_INPUT, S.SEV_ABORT);
    assert.equal(shown(t, e)[0], 'CLOSED');
    assert.equal(t.decideExisting(e, true, false), EXIST_RESCHEDULE);
  });
});

describe('conn: lookups and views', () => {
  it('NAT reply lookup (out), NO_CPORT fill, one-packet entries, IPv6 entries and views', () => {
    const { t, d } = setup();
    const e = t.create4(6, CIP, 40000, VIP, 80, d.addr[2]!, 8080, S.CF_MASQ, 2, 0);
    assert.equal(t.lookupOut4(6, d.addr[2]!, 8080, CIP, 40000), e);
    assert.equal(t.lookupOut4(6, d.addr[2]!, 8080, CIP, 40001), -1);
    const nc = t.create4(6, CIP, 0, VIP, 20, d.addr[0]!, 20, S.CF_MASQ | S.CF_NO_CPORT, 0, 0);
    assert.equal(t.lookupIn4(6, CIP, 5555, VIP, 20), nc); // any client port
    t.fillCport(nc, 5555);
    assert.equal(t.lookupIn4(6, CIP, 5555, VIP, 20), nc);
    assert.equal(t.lookupIn4(6, CIP, 5556, VIP, 20), -1);
    assert.equal(t.s.noCport[0], 0);
    const op = t.create4(17, CIP, 1, VIP, 53, d.addr[0]!, 53, S.CF_MASQ | S.CF_ONE_PACKET, 0, 0);
    assert.equal(t.lookupIn4(17, CIP, 1, VIP, 53), -1);
    t.releaseOnePacket(op);
    assert.equal(t.s.af[op], 0);
    // IPv6
    const s = t.s;
    const b = (x: string): Uint8Array => { const u = new Uint8Array(16); x.split(':').forEach((g, i) => { u[i * 2] = parseInt(g, 16) >> 8; u[i * 2 + 1] = parseInt(g, 16) & 255; }); return u; };
    loadAddr(s.ca, b('2001:db8:0:0:0:0:0:1'), 0, 6);
    loadAddr(s.va, b('2001:db8:0:0:0:0:99:1'), 0, 6);
    loadAddr(s.da, b('2001:db8:0:0:0:0:202:9'), 0, 6);
    const e6 = t.create6(6, 40000, 80, 80, S.CF_MASQ, 0, 0);
    t.update(e6, S.DIR_INPUT, SYN);
    assert.equal(t.lookupIn6(6, 40000, 80), e6);
    assert.equal(t.lookupIn6(6, 40001, 80), -1);
    loadAddr(s.ca, b('2001:db8:0:0:0:0:0:2'), 0, 6);
    assert.equal(t.lookupOut6(6, 80, 40000), -1);
    loadAddr(s.ca, b('2001:db8:0:0:0:0:0:1'), 0, 6);
    loadAddr(s.da, b('2001:db8:0:0:0:0:202:9'), 0, 6);
    assert.equal(t.lookupOut6(6, 80, 40000), e6);
    const v = t.view(e6);
    assert.deepEqual(v, { protocol: 'tcp', family: 'inet6', caddr: '2001:db8::1', cport: 40000, vaddr: '2001:db8::99:1', vport: 80,
      daddr: '2001:db8::202:9', dport: 80, expires: 60, state: 'SYN_RECV' });
    assert.equal([...t.views()].length, 3);
  });
});

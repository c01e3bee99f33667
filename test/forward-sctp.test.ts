// SCTP associations through the pipeline (connections.md §5): INIT …
// ESTABLISHED … SHUTDOWN through NAT (INPUT / OUTPUT tables, CRC32c
// recomputed after the rewrite) and DR (INPUT-ONLY table), every frame out
// compared byte for byte with one built independently, states, timeouts,
// ActiveConn / InActConn and counters checked after each packet.

import { strict as assert } from 'node:assert';
import { buildFrame, type IpSpec, type L4Spec, type SctpChunk } from '../core/packet/build.js';
import {
  SCTP_ABORT, SCTP_COOKIE_ACK, SCTP_COOKIE_ECHO, SCTP_DATA, SCTP_INIT, SCTP_INIT_ACK, SCTP_SACK, SCTP_SHUTDOWN,
  SCTP_SHUTDOWN_ACK, SCTP_SHUTDOWN_COMPLETE,
} from '../core/packet/parse.js';
import { CLIENT, DIR_MAC, GW_MAC, Lab, RS1, RS1_MAC, VIP, destSpec, hex } from './engine-harness.js';

const chunk = (type: number, n = 4): SctpChunk => ({ type, data: Uint8Array.from({ length: n }, (_, i) => (i * 7 + type) & 0xff) });
const sctp = (sport: number, dport: number, vtag: number, ...chunks: SctpChunk[]): L4Spec => ({ proto: 'sctp', sport, dport, vtag, chunks });

interface Step { dir: 'in' | 'out'; chunks: SctpChunk[]; state: string; expires: number; active: number; inact: number }

describe('engine: SCTP through NAT', () => {
  it('INIT … ESTABLISHED … SHUTDOWN-COMPLETE: NAT states, port mapping, CRC32c, counters', () => {
    const lab = new Lab();
    const svc = lab.service({ protocol: 'sctp', port: 9000 }, [destSpec(RS1, { fwd: 'masq', port: 9001 })]);
    const d = lab.dest(svc, RS1);
    const cl: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 3 };
    const rs: IpSpec = { src: RS1, dst: CLIENT, ttl: 64, df: true, id: 5 };
    const steps: Step[] = [
      // INPUT i: NONE → INIT1 (4 s); OUTPUT i_a: INIT1 → C-SENT; INPUT c_e: C-SENT → C-REPLIED; OUTPUT c_a → ESTABLISHED
      { dir: 'in', chunks: [chunk(SCTP_INIT, 16)], state: 'INIT1', expires: 4, active: 0, inact: 1 },
      { dir: 'out', chunks: [chunk(SCTP_INIT_ACK, 20)], state: 'C-SENT', expires: 61, active: 0, inact: 1 },
      { dir: 'in', chunks: [chunk(SCTP_COOKIE_ECHO, 24)], state: 'C-REPLIED', expires: 61, active: 0, inact: 1 },
      { dir: 'out', chunks: [chunk(SCTP_COOKIE_ACK, 0)], state: 'ESTABLISHED', expires: 900, active: 1, inact: 0 },
      { dir: 'in', chunks: [chunk(SCTP_DATA, 100)], state: 'ESTABLISHED', expires: 900, active: 1, inact: 0 },
      { dir: 'out', chunks: [chunk(SCTP_SACK, 12), chunk(SCTP_DATA, 40)], state: 'ESTABLISHED', expires: 900, active: 1, inact: 0 },
      // client closes: INPUT s: ES → S-RECEIVED; OUTPUT s_a: SR → S-ACK-SENT; INPUT s_c: SA → CLOSED
      { dir: 'in', chunks: [chunk(SCTP_SHUTDOWN, 4)], state: 'S-RECEIVED', expires: 61, active: 0, inact: 1 },
      { dir: 'out', chunks: [chunk(SCTP_SHUTDOWN_ACK, 0)], state: 'S-ACK-SENT', expires: 61, active: 0, inact: 1 },
      { dir: 'in', chunks: [chunk(SCTP_SHUTDOWN_COMPLETE, 0)], state: 'CLOSED', expires: 61, active: 0, inact: 1 },
    ];
    let inBytes = 0, outBytes = 0, inPkts = 0, outPkts = 0;
    for (const s of steps) {
      if (s.dir === 'in') {
        const f = buildFrame({ dst: DIR_MAC, src: GW_MAC }, cl, sctp(5000, 9000, 0x11223344, ...s.chunks));
        const out = lab.one(f);
        assert.equal(hex(out), hex(buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...cl, dst: RS1, ttl: 63 }, sctp(5000, 9001, 0x11223344, ...s.chunks))));
        inBytes += f.length - 14; inPkts++;
      } else {
        const f = buildFrame({ dst: DIR_MAC, src: RS1_MAC }, rs, sctp(9001, 5000, 0x55667788, ...s.chunks));
        const out = lab.one(f);
        assert.equal(hex(out), hex(buildFrame({ dst: GW_MAC, src: DIR_MAC }, { ...rs, src: VIP, ttl: 63 }, sctp(9000, 5000, 0x55667788, ...s.chunks))));
        outBytes += f.length - 14; outPkts++;
      }
      const c = lab.conns();
      assert.equal(c.length, 1);
      assert.deepEqual([c[0]!.protocol, c[0]!.state, c[0]!.expires, d.activeConns, d.inactConns], ['sctp', s.state, s.expires, s.active, s.inact],
        `${s.dir} ${s.chunks.map((x) => x.type).join('+')}`);
    }
    assert.deepEqual([d.stats.conns, d.stats.inpkts, d.stats.inbytes, d.stats.outpkts, d.stats.outbytes], [1, inPkts, inBytes, outPkts, outBytes]);
    // CLOSED lives 61 s; then the entry and its InActConn go
    lab.wait(61.2);
    assert.deepEqual([lab.conns().length, d.inactConns], [0, 0]);
  });

  it('a new INIT on a CLOSED association reschedules it (conn_reuse_mode=1); ABORT after COOKIE-ECHO closes', () => {
    const lab = new Lab();
    const svc = lab.service({ protocol: 'sctp', port: 9000 }, [destSpec(RS1, { fwd: 'masq', port: 9000 })]);
    const cl: IpSpec = { src: CLIENT, dst: VIP };
    const rs: IpSpec = { src: RS1, dst: CLIENT };
    const inn = (...c: SctpChunk[]) => lab.one(buildFrame({ dst: DIR_MAC, src: GW_MAC }, cl, sctp(5001, 9000, 1, ...c)));
    const out = (...c: SctpChunk[]) => lab.one(buildFrame({ dst: DIR_MAC, src: RS1_MAC }, rs, sctp(9000, 5001, 2, ...c)));
    inn(chunk(SCTP_INIT, 16));
    out(chunk(SCTP_INIT_ACK, 20));
    // COOKIE-ECHO bundled with an ABORT: the event is ABORT (INPUT ab: C-SENT → CLOSED)
    inn(chunk(SCTP_COOKIE_ECHO, 24), chunk(SCTP_ABORT, 0));
    assert.equal(lab.conns()[0]!.state, 'CLOSED');
    inn(chunk(SCTP_INIT, 16));
    assert.deepEqual(lab.conns().map((c) => c.state), ['INIT1']);
    assert.equal(svc.stats.conns, 2);
  });
});

describe('engine: SCTP through DR', () => {
  it('INIT … ESTABLISHED … SHUTDOWN-COMPLETE seen one way: INPUT-ONLY states, only TTL and MACs change', () => {
    const lab = new Lab();
    const svc = lab.service({ protocol: 'sctp', port: 9000 }, [destSpec(RS1, { port: 9000 })]);
    const d = lab.dest(svc, RS1);
    const cl: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 3 };
    const steps: Step[] = [
      // INPUT-ONLY: i NONE → INIT1; c_e INIT1 → ESTABLISHED; d stays; s ES → S-RECEIVED; s_c SR → CLOSED
      { dir: 'in', chunks: [chunk(SCTP_INIT, 16)], state: 'INIT1', expires: 4, active: 0, inact: 1 },
      { dir: 'in', chunks: [chunk(SCTP_COOKIE_ECHO, 24)], state: 'ESTABLISHED', expires: 900, active: 1, inact: 0 },
      { dir: 'in', chunks: [chunk(SCTP_DATA, 100)], state: 'ESTABLISHED', expires: 900, active: 1, inact: 0 },
      { dir: 'in', chunks: [chunk(SCTP_SACK, 12)], state: 'ESTABLISHED', expires: 900, active: 1, inact: 0 },
      { dir: 'in', chunks: [chunk(SCTP_SHUTDOWN, 4)], state: 'S-RECEIVED', expires: 61, active: 0, inact: 1 },
      { dir: 'in', chunks: [chunk(SCTP_SHUTDOWN_COMPLETE, 0)], state: 'CLOSED', expires: 61, active: 0, inact: 1 },
    ];
    let inBytes = 0;
    for (const s of steps) {
      const l4 = sctp(5000, 9000, 0x11223344, ...s.chunks);
      const f = buildFrame({ dst: DIR_MAC, src: GW_MAC }, cl, l4);
      const out = lab.one(f);
      assert.equal(hex(out), hex(buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...cl, ttl: 63 }, l4)));
      inBytes += f.length - 14;
      const c = lab.conns();
      assert.deepEqual([c[0]!.state, c[0]!.expires, d.activeConns, d.inactConns], [s.state, s.expires, s.active, s.inact], s.state);
    }
    assert.deepEqual([d.stats.conns, d.stats.inpkts, d.stats.inbytes, d.stats.outpkts, d.stats.outbytes], [1, steps.length, inBytes, 0, 0]);
  });

  it('server-initiated shutdown seen from the client side: SHUTDOWN-ACK from the client closes (INPUT-ONLY s_a)', () => {
    const lab = new Lab();
    lab.service({ protocol: 'sctp', port: 9000 }, [destSpec(RS1, { port: 9000 })]);
    const send = (...c: SctpChunk[]) => lab.one(buildFrame({ dst: DIR_MAC, src: GW_MAC }, { src: CLIENT, dst: VIP }, sctp(5002, 9000, 9, ...c)));
    send(chunk(SCTP_INIT, 16));
    send(chunk(SCTP_COOKIE_ECHO, 24));
    assert.equal(lab.conns()[0]!.state, 'ESTABLISHED');
    // INPUT-ONLY s_a in ESTABLISHED → CLOSED
    send(chunk(SCTP_SHUTDOWN_ACK, 0));
    assert.deepEqual([lab.conns()[0]!.state, lab.conns()[0]!.expires], ['CLOSED', 61]);
  });
});

// Frames with the kernel's offload state (AF_PACKET's virtio-net header) through
// the pipeline on the memory wire, which stands for the kernel and the NIC: an
// aggregate (GSO/GRO) goes in, lvsd sends it on whole where the method allows
// (the wire then cuts it, as the kernel's GSO would) or cuts it itself (IP
// tunnels), and what reaches the wire is compared byte for byte with segments
// built independently by core/packet/build.ts (full checksums). Partial
// checksums (CHECKSUM_PARTIAL) likewise: kept partial through NAT's rewrite,
// completed by the wire, and equal to a frame built with its full checksum.

import { strict as assert } from 'node:assert';
import { buildEth, buildFrame, buildIp, encapsulate, type IpSpec, type L4Spec } from '../core/packet/build.js';
import { rd16, verifyL4Sum, wr16, sctpChecksum } from '../core/packet/checksum.js';
import { GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, partialPseudo } from '../core/packet/gso.js';
import { TCP_ACK, TCP_PSH } from '../core/packet/parse.js';
import { defineForwarder } from '../core/plugin.js';
import dr from '../plugins/forwarding/dr.js';
import nat from '../plugins/forwarding/nat.js';
import tun from '../plugins/forwarding/tun.js';
import type { FrameOffload } from '../core/engine/batch.js';
import {
  CLIENT, CLIENT6, DIR_IP, DIR_MAC, GW_MAC, Lab, RS1, RS1_6, RS1_MAC, VIP, VIP6, destSpec, hex,
} from './engine-harness.js';

const ACK_PSH = TCP_ACK | TCP_PSH;
const bytes = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed + (i >> 8)) & 0xff);
const tcp = (sport: number, dport: number, flags: number, seq: number, payload?: Uint8Array): L4Spec =>
  ({ proto: 'tcp', sport, dport, flags, seq, ack: 5000, payload });

/**
 * What the kernel hands over for a sender with TSO and checksum offload: the
 * whole aggregate as one frame, its L4 checksum field holding the pseudo-header sum.
 */
function partialFrame(f: Uint8Array, l3: number, family: 4 | 6, proto: 6 | 17): { frame: Uint8Array; csumStart: number; csumOff: number } {
  const hl = family === 4 ? (f[l3]! & 15) * 4 : 40;
  const l4 = l3 + hl;
  const ipLen = family === 4 ? rd16(f, l3 + 2) : 40 + rd16(f, l3 + 4);
  const field = l4 + (proto === 6 ? 16 : 6);
  const src = l3 + (family === 4 ? 12 : 8), dst = l3 + (family === 4 ? 16 : 24);
  wr16(f, field, partialPseudo(f, family, src, dst, proto, ipLen - hl));
  return { frame: f, csumStart: l4, csumOff: field - l4 };
}

function aggregate(ip: IpSpec, sport: number, dport: number, seq: number, payload: Uint8Array, mss: number, macs = { dst: DIR_MAC, src: GW_MAC }) {
  const fam = ip.src.includes(':') ? 6 : 4;
  const f = buildFrame(macs, ip, tcp(sport, dport, ACK_PSH, seq, payload));
  const { frame, csumStart, csumOff } = partialFrame(f, 14, fam, 6);
  const offload: FrameOffload = { gsoType: fam === 4 ? GSO_TCPV4 : GSO_TCPV6, gsoSize: mss, csumStart, csumOff };
  return { frame, offload };
}

/** The segments the kernel's GSO makes of `payload`: ID + k, sequence + offset, PSH on the last. */
function segmentsOf(payload: Uint8Array, mss: number, make: (k: number, seq: number, flags: number, chunk: Uint8Array) => Uint8Array, seq0: number): string[] {
  const out: string[] = [];
  for (let k = 0, pos = 0; pos < payload.length; k++, pos += mss) {
    const chunk = payload.subarray(pos, Math.min(pos + mss, payload.length));
    const last = pos + mss >= payload.length;
    out.push(hex(make(k, seq0 + pos, last ? ACK_PSH : TCP_ACK, chunk)));
  }
  return out;
}

describe('offloads: aggregates (GSO/GRO) and partial checksums through the pipeline', () => {
  it('NAT request: a 20-segment aggregate is rewritten once, sent whole, and cut by the kernel into exactly the right segments', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1, { fwd: 'masq' })]);
    const payload = bytes(20 * 1448 - 100);
    const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 300 };
    // the connection first (a SYN), then the aggregate
    lab.one(buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, tcp(40000, 80, 0x02, 999)));
    const { frame, offload } = aggregate(ip, 40000, 80, 1000, payload, 1448);
    const out = lab.sendOffloaded(frame, offload);
    assert.equal(lab.wire.aggregatesOut, 1, 'lvsd sent the aggregate whole');
    assert.deepEqual(out.map((f) => hex(f.frame)), segmentsOf(payload, 1448, (k, seq, flags, chunk) =>
      buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...ip, dst: RS1, ttl: 63, id: 300 + k }, tcp(40000, 80, flags, seq, chunk)), 1000));
    assert.deepEqual(lab.engine.dropCounts(), {});
  });

  it('NAT reply (a download): the real server\'s TSO aggregate leaves from the VIP, whole, for the kernel to cut', () => {
    const lab = new Lab();
    lab.service({ port: 80 }, [destSpec(RS1, { fwd: 'masq', port: 8080 })]);
    const cl: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 1 };
    lab.one(buildFrame({ dst: DIR_MAC, src: GW_MAC }, cl, tcp(40000, 80, 0x02, 999)));
    const payload = bytes(45 * 1448, 3);
    const rs: IpSpec = { src: RS1, dst: CLIENT, ttl: 64, df: true, id: 7000 };
    const { frame, offload } = aggregate(rs, 8080, 40000, 77, payload, 1448, { dst: DIR_MAC, src: RS1_MAC });
    assert.ok(frame.length > 65000);
    const out = lab.sendOffloaded(frame, offload);
    assert.equal(lab.wire.aggregatesOut, 1);
    assert.equal(out.length, 45);
    assert.deepEqual(out.map((f) => hex(f.frame)), segmentsOf(payload, 1448, (k, seq, flags, chunk) =>
      buildFrame({ dst: GW_MAC, src: DIR_MAC }, { ...rs, src: VIP, ttl: 63, id: 7000 + k }, tcp(80, 40000, flags, seq, chunk)), 77));
    // one aggregate is one packet for the counters and the state machine, as one skb is for IPVS
    assert.equal(lab.table.list()[0]!.dests[0]!.stats.outpkts, 1);
  });

  it('NAT over IPv6 (GSO_TCPV6)', () => {
    const lab = new Lab();
    lab.service({ family: 'inet6', addr: VIP6, netmask: 128 }, [destSpec(RS1_6, { fwd: 'masq' })]);
    const ip: IpSpec = { src: CLIENT6, dst: VIP6, ttl: 64 };
    lab.one(buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, tcp(40000, 80, 0x02, 999)));
    const payload = bytes(8 * 1428 + 5);
    const { frame, offload } = aggregate(ip, 40000, 80, 1000, payload, 1428);
    const out = lab.sendOffloaded(frame, offload);
    assert.equal(lab.wire.aggregatesOut, 1);
    assert.deepEqual(out.map((f) => hex(f.frame)), segmentsOf(payload, 1428, (_k, seq, flags, chunk) =>
      buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...ip, dst: RS1_6, ttl: 63 }, tcp(40000, 80, flags, seq, chunk)), 1000));
  });

  it('DR: the aggregate goes on as it came (MACs and TTL only), whole', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1)]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 10 };
    lab.one(buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, tcp(40000, 80, 0x02, 999)));
    const payload = bytes(30 * 1448);
    const { frame, offload } = aggregate(ip, 40000, 80, 1000, payload, 1448);
    const out = lab.sendOffloaded(frame, offload);
    assert.equal(lab.wire.aggregatesOut, 1);
    assert.deepEqual(out.map((f) => hex(f.frame)), segmentsOf(payload, 1448, (k, seq, flags, chunk) =>
      buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...ip, ttl: 63, id: 10 + k }, tcp(40000, 80, flags, seq, chunk)), 1000));
  });

  it('TUN: the aggregate is cut by lvsd (the kernel cannot be told to segment inside IPIP), each segment encapsulated', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1, { fwd: 'tunnel' })]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 50 };
    lab.one(buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, tcp(40000, 80, 0x02, 999)));
    const payload = bytes(12 * 1400 + 33);
    const { frame, offload } = aggregate(ip, 40000, 80, 1000, payload, 1400);
    const out = lab.sendOffloaded(frame, offload);
    assert.equal(lab.wire.aggregatesOut, 0, 'no aggregate left lvsd');
    assert.deepEqual(out.map((f) => hex(f.frame)), segmentsOf(payload, 1400, (k, seq, flags, chunk) =>
      buildEth({ dst: RS1_MAC, src: DIR_MAC }, encapsulate(buildIp({ ...ip, ttl: 63, id: 50 + k }, tcp(40000, 80, flags, seq, chunk)), { src: DIR_IP, dst: RS1 })), 1000));
    assert.deepEqual(lab.engine.dropCounts(), {});
  });

  it('TUN: segments too big for the tunnel get one frag-needed for the aggregate, as the kernel sends one per GSO packet', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1, { fwd: 'tunnel' })]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 50 };
    lab.one(buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, tcp(40000, 80, 0x02, 999)));
    const { frame, offload } = aggregate(ip, 40000, 80, 1000, bytes(10 * 1448), 1448);
    const out = lab.sendOffloaded(frame, offload);
    assert.equal(out.length, 1);
    const icmp = out[0]!.frame;
    assert.equal(icmp[14 + 9], 1);               // ICMP
    assert.equal(icmp[14 + 20], 3);              // destination unreachable
    assert.equal(icmp[14 + 21], 4);              // fragmentation needed
    assert.equal(rd16(icmp, 14 + 26), 1480);     // the tunnel's MTU
    assert.equal(lab.engine.dropCounts()['fwd-mtu'], 1);
  });

  it('MTU on the segment size: 1448-byte segments fit a 1500 link, 1460-byte ones with DF get frag-needed 1500', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1)]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 10 };
    lab.one(buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, tcp(40000, 80, 0x02, 999)));
    // 1460 bytes of payload + 20 TCP + 20 IP = 1500: fits; the options-less header makes room for 1460
    let a = aggregate(ip, 40000, 80, 1000, bytes(4 * 1460), 1460);
    assert.equal(lab.sendOffloaded(a.frame, a.offload).length, 4);
    a = aggregate(ip, 40000, 80, 1000, bytes(4 * 1461), 1461);
    const out = lab.sendOffloaded(a.frame, a.offload);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.frame[14 + 20], 3);
    assert.equal(rd16(out[0]!.frame, 14 + 26), 1500);
  });

  it('an IPv4 aggregate without DF whose segments exceed the MTU is cut, then each segment fragmented', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1)]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: false, id: 10 };
    lab.one(buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, tcp(40000, 80, 0x02, 999)));
    const payload = bytes(3 * 2000);
    const a = aggregate(ip, 40000, 80, 1000, payload, 2000);
    const out = lab.sendOffloaded(a.frame, a.offload);
    assert.equal(lab.wire.aggregatesOut, 0);
    assert.equal(out.length, 6);
    for (const f of out) assert.ok(f.frame.length <= 1514);
    // reassembled, each pair is the segment with a full checksum
    for (let k = 0; k < 3; k++) {
      const first = out[2 * k]!.frame, second = out[2 * k + 1]!.frame;
      assert.equal(rd16(first, 14 + 6), 0x2000);   // MF, offset 0
      const whole = new Uint8Array(20 + 20 + 2000);
      whole.set(first.subarray(14, 14 + rd16(first, 16)));
      whole.set(second.subarray(14 + 20, 14 + rd16(second, 16)), rd16(first, 16));
      assert.ok(verifyL4Sum(whole, 4, 12, 16, 6, 20, 2020), `segment ${k} checksum`);
    }
  });

  it('partial checksums (not aggregates) through NAT both ways, TCP and UDP: completed by the wire, equal to full-checksum frames', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1, { fwd: 'masq', port: 8080 })]);
    lab.service({ protocol: 'udp', port: 53 }, [destSpec(RS1, { fwd: 'masq', port: 5353 })]);
    const cl: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 1 };
    const send = (f: Uint8Array, proto: 6 | 17): Uint8Array => {
      const p = partialFrame(f, 14, 4, proto);
      const out = lab.sendOffloaded(p.frame, { gsoType: 0, gsoSize: 0, csumStart: p.csumStart, csumOff: p.csumOff });
      assert.equal(out.length, 1, JSON.stringify(lab.engine.dropCounts()));
      return out[0]!.frame;
    };
    const syn = tcp(40000, 80, 0x02, 999, bytes(10));
    assert.equal(hex(send(buildFrame({ dst: DIR_MAC, src: GW_MAC }, cl, syn), 6)),
      hex(buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...cl, dst: RS1, ttl: 63 }, { ...syn, dport: 8080 } as L4Spec)));
    const rs: IpSpec = { src: RS1, dst: CLIENT, ttl: 64, df: true, id: 9 };
    const synack = tcp(8080, 40000, 0x12, 5, bytes(3));
    assert.equal(hex(send(buildFrame({ dst: DIR_MAC, src: RS1_MAC }, rs, synack), 6)),
      hex(buildFrame({ dst: GW_MAC, src: DIR_MAC }, { ...rs, src: VIP, ttl: 63 }, { ...synack, sport: 80 } as L4Spec)));
    const q: L4Spec = { proto: 'udp', sport: 4000, dport: 53, payload: bytes(40) };
    assert.equal(hex(send(buildFrame({ dst: DIR_MAC, src: GW_MAC }, cl, q), 17)),
      hex(buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...cl, dst: RS1, ttl: 63 }, { ...q, dport: 5353 } as L4Spec)));
  });

  it('UDP segmentation offload (GSO_UDP_L4) through NAT: one datagram per segment', () => {
    const lab = new Lab();
    lab.service({ protocol: 'udp', port: 443 }, [destSpec(RS1, { fwd: 'masq', port: 443 })]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 40 };
    const payload = bytes(5 * 1200);
    const f = buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, { proto: 'udp', sport: 5000, dport: 443, payload });
    const p = partialFrame(f, 14, 4, 17);
    const out = lab.sendOffloaded(p.frame, { gsoType: GSO_UDP_L4, gsoSize: 1200, csumStart: p.csumStart, csumOff: p.csumOff });
    assert.equal(lab.wire.aggregatesOut, 1);
    assert.deepEqual(out.map((x) => hex(x.frame)), [0, 1, 2, 3, 4].map((k) => hex(buildFrame({ dst: RS1_MAC, src: DIR_MAC },
      { ...ip, dst: RS1, ttl: 63, id: 40 + k }, { proto: 'udp', sport: 5000, dport: 443, payload: payload.subarray(k * 1200, (k + 1) * 1200) }))));
  });

  it('an SCTP packet with its CRC32c left to offload is completed before it is forwarded', () => {
    const lab = new Lab();
    lab.service({ protocol: 'sctp', port: 9 }, [destSpec(RS1)]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, id: 3 };
    const l4: L4Spec = { proto: 'sctp', sport: 7, dport: 9, vtag: 0, chunks: [{ type: 1, data: bytes(16) }] };
    const want = buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...ip, ttl: 63 }, l4);
    const f = buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, l4);
    f.fill(0, 34 + 8, 34 + 12);   // CRC not computed: the NIC's job
    const out = lab.sendOffloaded(f, { gsoType: 0, gsoSize: 0, csumStart: 34, csumOff: 8 });
    assert.equal(out.length, 1);
    assert.equal(hex(out[0]!.frame), hex(want));
    assert.equal(sctpChecksum(out[0]!.frame, 34, out[0]!.frame.length - 34) >>> 0, (out[0]!.frame[42]! | (out[0]!.frame[43]! << 8) | (out[0]!.frame[44]! << 16) | (out[0]!.frame[45]! << 24)) >>> 0);
  });

  it('a forwarder that declares neither capability gets complete checksums and single segments', () => {
    // DR's packet code without its declarations: the engine must do the kernel's work for it
    const plain = defineForwarder({ name: 'plain-dr', method: 'route', keepsPort: true, inbound: dr.inbound });
    const lab = new Lab(undefined, { forwarders: [nat, plain, tun] });
    lab.service({}, [destSpec(RS1)]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 10 };
    lab.one(buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, tcp(40000, 80, 0x02, 999)));
    const payload = bytes(6 * 1448);
    const { frame, offload } = aggregate(ip, 40000, 80, 1000, payload, 1448);
    const out = lab.sendOffloaded(frame, offload);
    assert.equal(lab.wire.aggregatesOut, 0);
    assert.deepEqual(out.map((f) => hex(f.frame)), segmentsOf(payload, 1448, (k, seq, flags, chunk) =>
      buildFrame({ dst: RS1_MAC, src: DIR_MAC }, { ...ip, ttl: 63, id: 10 + k }, tcp(40000, 80, flags, seq, chunk)), 1000));
  });

  it('an aggregate that is not what its GSO type says is dropped and counted (gso-bad)', () => {
    const lab = new Lab();
    lab.service({}, [destSpec(RS1)]);
    const ip: IpSpec = { src: CLIENT, dst: VIP, ttl: 64, df: true, id: 10 };
    lab.one(buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, tcp(40000, 80, 0x02, 999)));
    const { frame, offload } = aggregate(ip, 40000, 80, 1000, bytes(4 * 1448), 1448);
    assert.equal(lab.sendOffloaded(frame, { ...offload, gsoType: GSO_TCPV6 }).length, 0);
    assert.equal(lab.engine.dropCounts()['gso-bad'], 1);
  });
});

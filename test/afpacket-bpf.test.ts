// The AF_PACKET helpers that need no root: the generated classic BPF
// programs (run with the module's interpreter) and checksum completion of
// CHECKSUM_PARTIAL frames.

import { strict as assert } from 'node:assert';
import { fanoutProgram, runBpf, socketFilter, type FilterSpec } from '../core/engine/io/bpf.js';
import { completePartial } from '../core/packet/gso.js';
import { filterSpec } from '../core/engine/worker-protocol.js';
import { replyMethods } from '../core/plugin.js';
import nat from '../plugins/forwarding/nat.js';
import { addrBytes, addrWords, ipv4ToU32 } from '../core/model/addr.js';
import { pseudoSum, verifyL4Sum } from '../core/packet/checksum.js';

const ip = (s: string) => ipv4ToU32(s)!;

function frame(src: string, dst: string, proto: number, sport: number, dport: number, payload = 8): Uint8Array {
  const l4 = proto === 6 ? 20 : 8;
  const b = new Uint8Array(14 + 20 + l4 + payload);
  b[12] = 0x08; b[13] = 0x00;
  b[14] = 0x45; const tot = 20 + l4 + payload; b[16] = tot >> 8; b[17] = tot & 255; b[22] = 64; b[23] = proto;
  const w = (o: number, v: number) => { b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 255; b[o + 2] = (v >>> 8) & 255; b[o + 3] = v & 255; };
  w(26, ip(src)); w(30, ip(dst));
  b[34] = sport >> 8; b[35] = sport & 255; b[36] = dport >> 8; b[37] = dport & 255;
  if (proto === 6) b[46] = 0x50; else { b[38] = (l4 + payload) >> 8; b[39] = (l4 + payload) & 255; }
  for (let i = 0; i < payload; i++) b[14 + 20 + l4 + i] = i * 7 + 1;
  return b;
}

const spec: FilterSpec = { vips: [ip('10.92.0.1'), ip('10.92.0.2')], natRips: [ip('10.91.1.2')], ipKeyedVips: [ip('10.92.0.2')], ipKeyedRips: [], ipv6: false };

describe('afpacket: socket filter', () => {
  const f = socketFilter(spec);
  it('accepts IPv4 to a VIP and from a NAT real server only', () => {
    assert.ok(runBpf(f, frame('10.91.0.2', '10.92.0.1', 6, 1000, 80)) > 0);
    assert.ok(runBpf(f, frame('10.91.1.2', '10.91.0.2', 6, 80, 1000)) > 0);
    assert.equal(runBpf(f, frame('10.91.0.2', '10.91.0.1', 6, 1000, 22)), 0);
    const arp = new Uint8Array(42); arp[12] = 0x08; arp[13] = 0x06;
    assert.equal(runBpf(f, arp), 0);
    const v6 = new Uint8Array(60); v6[12] = 0x86; v6[13] = 0xdd;
    assert.equal(runBpf(f, v6), 0);
    assert.ok(runBpf(socketFilter({ ...spec, ipv6: true }), v6) > 0);
  });
  it('handles more addresses than an 8-bit jump reaches', () => {
    const many = Array.from({ length: 600 }, (_, i) => ip('10.50.0.0') + i);
    const g = socketFilter({ ...spec, vips: many });
    assert.ok(runBpf(g, frame('10.91.0.2', '10.50.2.87', 17, 1, 2)) > 0);
    assert.equal(runBpf(g, frame('10.91.0.2', '10.50.3.88', 17, 1, 2)), 0);
  });
});

describe('afpacket: fanout program', () => {
  // the kernel runs it from the network header, with skb->protocol for the ethertype
  const prog = fanoutProgram(spec);
  const p = { run: (b: Uint8Array) => runBpf(prog, b.subarray(14), 0x0800) };
  it('hashes a request and its NAT reply alike (the client side)', () => {
    for (let port = 1024; port < 1100; port++) {
      const req = p.run(frame('10.91.0.2', '10.92.0.1', 6, port, 80));
      const rep = p.run(frame('10.91.1.2', '10.91.0.2', 6, 80, port));
      assert.equal(req, rep, `port ${port}`);
    }
  });
  it('spreads client ports over two workers', () => {
    const seen = new Set<number>();
    for (let port = 1024; port < 1040; port++) seen.add(p.run(frame('10.91.0.2', '10.92.0.1', 17, port, 80)) % 2);
    assert.equal(seen.size, 2);
  });
  it('keys persistent services on the client address alone', () => {
    const a = p.run(frame('10.91.0.2', '10.92.0.2', 6, 1111, 80));
    for (let port = 2000; port < 2050; port++) assert.equal(p.run(frame('10.91.0.2', '10.92.0.2', 6, port, 80)), a);
  });
  /** An ICMP error (type, code 0) from `src` to `dst` quoting the IP header + 8 bytes of `quoted` (a frame). */
  const icmpError = (src: string, dst: string, type: number, quoted: Uint8Array): Uint8Array => {
    const q = quoted.subarray(14, 14 + 28);
    const b = frame(src, dst, 1, 0, 0, 0).subarray(0, 34);
    const out = new Uint8Array(34 + 8 + q.length);
    out.set(b); out[34] = type; out.set(q, 42);
    const tot = out.length - 14; out[16] = tot >> 8; out[17] = tot & 255;
    return out;
  };
  it('hashes an ICMP error like the connection it quotes', () => {
    const hashes = new Set<number>();
    for (let port = 3000; port < 3040; port++) {
      const req = p.run(frame('10.91.0.2', '10.92.0.1', 6, port, 80));
      // a router on the client's side, about a reply (VIP → client): to the VIP
      const aboutReply = icmpError('10.91.0.254', '10.92.0.1', 3, frame('10.92.0.1', '10.91.0.2', 6, 80, port));
      // the real server, about a request it got (client → RIP): to the client, from the RIP
      const aboutRequest = icmpError('10.91.1.2', '10.91.0.2', 11, frame('10.91.0.2', '10.91.1.2', 6, port, 80));
      assert.equal(p.run(aboutReply), req, `port ${port}`);
      assert.equal(p.run(aboutRequest), req, `port ${port}`);
      hashes.add(req);
    }
    assert.ok(hashes.size > 20, 'the hash varies with the client port');
    // persistent service: the client address alone, quoted too
    const a = p.run(frame('10.91.0.2', '10.92.0.2', 6, 1111, 80));
    assert.equal(p.run(icmpError('10.91.0.254', '10.92.0.2', 12, frame('10.92.0.2', '10.91.0.2', 6, 80, 4444))), a);
    assert.equal(p.run(icmpError('10.91.0.254', '10.92.0.2', 4, frame('10.92.0.2', '10.91.0.2', 6, 80, 4444))), a); // source quench
    // not an error (echo request to a VIP): hashed as a packet; a truncated quote: 0, never a throw
    assert.equal(typeof p.run(icmpError('10.91.0.2', '10.92.0.1', 8, frame('10.92.0.1', '10.91.0.2', 6, 80, 1))), 'number');
    assert.equal(p.run(icmpError('10.91.0.254', '10.92.0.1', 3, frame('10.92.0.1', '10.91.0.2', 6, 80, 1)).subarray(0, 50)), 0);
  });
  it('IPv6: a request and its NAT reply hash alike; persistent services by client address; unknown addresses to worker 0', () => {
    const w = (a: string) => addrWords('inet6', a);
    const spec6: FilterSpec = { ...spec, ipv6: true, vips6: [w('fd00:92::1'), w('fd00:92::2')], natRips6: [w('fd00:91:1::2')], ipKeyedVips6: [w('fd00:92::2')], ipKeyedRips6: [] };
    const prog6 = fanoutProgram(spec6);
    const run6 = (src: string, dst: string, sport: number, dport: number) => {
      const b = new Uint8Array(40 + 20);
      b[0] = 0x60; b[5] = 20; b[6] = 6; b[7] = 64;
      b.set(addrBytes('inet6', src), 8); b.set(addrBytes('inet6', dst), 24);
      b[40] = sport >> 8; b[41] = sport & 255; b[42] = dport >> 8; b[43] = dport & 255;
      return runBpf(prog6, b, 0x86dd);
    };
    const seen = new Set<number>();
    for (let port = 5000; port < 5040; port++) {
      const req = run6('fd00:91::2', 'fd00:92::1', port, 80);
      assert.equal(run6('fd00:91:1::2', 'fd00:91::2', 80, port), req, `port ${port}`);
      seen.add(req % 2);
    }
    assert.equal(seen.size, 2);
    const a = run6('fd00:91::2', 'fd00:92::2', 1, 80);
    for (let port = 6000; port < 6010; port++) assert.equal(run6('fd00:91::2', 'fd00:92::2', port, 80), a);
    assert.equal(run6('fd00:91::2', 'fd00:92::9', 1234, 80), 0);
    // ICMPv6 errors (Packet Too Big, …) follow the connection they quote
    const icmp6 = (src: string, dst: string, type: number, qsrc: string, qdst: string, qsport: number, qdport: number) => {
      const b = new Uint8Array(48 + 40 + 8);
      b[0] = 0x60; b[5] = 48; b[6] = 58; b[7] = 64;
      b.set(addrBytes('inet6', src), 8); b.set(addrBytes('inet6', dst), 24);
      b[40] = type;
      b[48] = 0x60; b[54] = 6; b.set(addrBytes('inet6', qsrc), 56); b.set(addrBytes('inet6', qdst), 72);
      b[88] = qsport >> 8; b[89] = qsport & 255; b[90] = qdport >> 8; b[91] = qdport & 255;
      return runBpf(prog6, b, 0x86dd);
    };
    for (let port = 7000; port < 7010; port++) {
      const req = run6('fd00:91::2', 'fd00:92::1', port, 80);
      assert.equal(icmp6('fd00:91::ff', 'fd00:92::1', 2, 'fd00:92::1', 'fd00:91::2', 80, port), req, `packet too big, port ${port}`);
      assert.equal(icmp6('fd00:91:1::2', 'fd00:91::2', 1, 'fd00:91::2', 'fd00:91:1::2', port, 80), req, `unreachable from the real server, port ${port}`);
    }
    // IPv4 still hashes as before with the IPv6 lists present
    assert.notEqual(p.run(frame('10.91.0.2', '10.92.0.1', 6, 1234, 80)), 0);
    assert.equal(runBpf(prog6, frame('10.91.0.2', '10.92.0.1', 6, 1234, 80).subarray(14), 0x0800), p.run(frame('10.91.0.2', '10.92.0.1', 6, 1234, 80)));
  });
  it('filterSpec: a real server shared with a persistent service makes its other VIPs client-keyed too', () => {
    const svc = (addr: string, flags: number, rip: string) => ({
      spec: { family: 'inet' as const, protocol: 'tcp' as const, addr, port: 80, fwmark: 0, scheduler: 'rr', flags, timeout: 300, netmask: 32, pe: '' },
      dests: [{ family: 'inet' as const, addr: rip, port: 80, fwd: 'masq' as const, weight: 1, uThreshold: 0, lThreshold: 0, tunType: 'ipip' as const, tunPort: 0, tunFlags: 0 }],
    });
    const f = filterSpec({ services: [svc('10.92.0.1', 1, '10.91.1.2'), svc('10.92.0.5', 0, '10.91.1.2'), svc('10.92.0.6', 0, '10.91.2.2')], timeouts: { tcp: 900, tcpfin: 120, udp: 300 } } as never, replyMethods([nat]));
    assert.deepEqual(new Set(f.ipKeyedVips), new Set([ip('10.92.0.1'), ip('10.92.0.5')]));
    assert.deepEqual(f.ipKeyedRips, [ip('10.91.1.2')]);
  });
});

describe('CHECKSUM_PARTIAL completion (skb_checksum_help)', () => {
  for (const proto of [6, 17]) {
    it(`completes a ${proto === 6 ? 'TCP' : 'UDP'} checksum holding only the pseudo-header sum`, () => {
      const b = frame('10.91.0.2', '10.92.0.1', proto, 40000, 80, 13);
      const l4len = b.length - 34;
      let ps = pseudoSum(b, 4, 26, 30, proto, l4len);
      while (ps > 0xffff) ps = (ps & 0xffff) + (ps >>> 16);
      const co = 34 + (proto === 6 ? 16 : 6);
      b[co] = ps >> 8; b[co + 1] = ps & 255; // what a sender with tx offload leaves
      completePartial(b, 34, co, b.length);
      assert.ok(verifyL4Sum(b, 4, 26, 30, proto, 34, l4len));
    });
  }
});

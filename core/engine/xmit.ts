// What the engine does for forwarders (the FwdIo contract): queue frames,
// cut IPv4 packets into fragments, and build the director's own ICMP errors
// as Linux builds them (forwarding.md §3: from the address the offending
// packet was sent to, TOS 0xc0, TTL 64, DF clear, quote ≤ 576-byte datagram;
// ICMPv6: quote ≤ 1280-byte datagram).

import { fillIpv4HeaderChecksum, inetChecksum, l4Checksum, rd16, rd32, wr16, wr32 } from '../packet/checksum.js';
import { F_CSUM_OFF, F_FLAGS, F_IP_LEN, F_L3_OFF, F_L4_OFF, F_PAYLOAD_OFF, PF_ICMP_ERROR } from '../packet/parse.js';
import { completePartial } from '../packet/gso.js';
import type { FwdIo, FwdLink, FwdPacket } from '../plugin.js';
import type { TxBatch } from './batch.js';
import { Net } from './net.js';

const ICMP4_QUOTE_MAX = 576 - 20 - 8;
const ICMP6_QUOTE_MAX = 1280 - 40 - 8;

export class Xmit implements FwdIo {
  tx: TxBatch;
  private net: Net;
  private readonly link: FwdLink = Net.link();
  private id = 1;
  /** Frames that could not be queued (tx full) and ICMP errors with no route back. */
  txFull = 0;
  icmpNoRoute = 0;
  icmpSent = 0;
  icmpSuppressed = 0;
  fragsSent = 0;

  constructor(net: Net, tx: TxBatch) {
    this.net = net;
    this.tx = tx;
  }

  setNet(net: Net): void { this.net = net; }

  ipId(): number {
    this.id = (this.id + 1) & 0xffff;
    return this.id;
  }

  /** Queues the frame with its offload state, for the kernel (or the NIC) to segment and checksum on output. */
  send(p: FwdPacket): void {
    if (!this.queue(p.buf, p.off, p.len, p.link)) return;
    if (!p.csumPartial && p.gsoSize === 0) return;
    // offsets in the frame as it leaves (a tunnel moved its start; the inner L4 header stays put)
    const r = p.r;
    const cs = p.csumPartial ? r[F_L4_OFF]! - p.off : -1;
    this.tx.offloadLast(p.gsoType, p.gsoSize, p.gsoSize > 0 ? r[F_PAYLOAD_OFF]! - p.off : 0, cs, cs >= 0 ? r[F_CSUM_OFF]! - r[F_L4_OFF]! : 0);
  }

  /** Adds a frame for `link`; held (tx.hold) while its next hop is being resolved. False when tx is full. */
  private queue(buf: Uint8Array, off: number, len: number, link: FwdLink): boolean {
    if (!this.tx.add(buf, off, len, link.port)) { this.txFull++; return false; }
    if (link.unresolved !== null) this.tx.holdLast(link.unresolved);
    return true;
  }

  sendFragments(p: FwdPacket, l3: number, mtu: number): boolean {
    const b = p.buf;
    // the L4 checksum spans every fragment: complete it first (ip_do_fragment does)
    if (p.csumPartial) {
      const r = p.r;
      completePartial(b, r[F_L4_OFF]!, r[F_CSUM_OFF]!, r[F_L3_OFF]! + r[F_IP_LEN]!);
      p.csumPartial = false;
    }
    const hlen = (b[l3]! & 15) << 2;
    const tot = rd16(b, l3 + 2);
    const ff = rd16(b, l3 + 6);
    const baseOff = (ff & 0x1fff) << 3;
    const lastMf = ff & 0x2000;
    const chunk = ((mtu - hlen) >> 3) << 3;
    if (chunk <= 0) return false;
    const tx = this.tx;
    for (let pos = 0; pos < tot - hlen; pos += chunk) {
      const n = Math.min(chunk, tot - hlen - pos);
      const flen = 14 + hlen + n;
      const o = tx.reserve(flen);
      if (o < 0) { this.txFull++; return false; }
      const s = tx.scratch;
      s.set(b.subarray(l3 - 14, l3 + hlen), o);
      s.set(b.subarray(l3 + hlen + pos, l3 + hlen + pos + n), o + 14 + hlen);
      const q = o + 14;
      wr16(s, q + 2, hlen + n);
      const more = pos + n < tot - hlen ? 0x2000 : lastMf;
      wr16(s, q + 6, (ff & 0x4000) | more | ((baseOff + pos) >> 3));
      fillIpv4HeaderChecksum(s, q);
      this.queue(s, o, flen, p.link);
      this.fragsSent++;
    }
    return true;
  }

  icmpError(p: FwdPacket, l3: number, type: number, code: number, info: number, fromOwn = false): void {
    // RFC 1122 / Linux icmp_send: never an ICMP error about an ICMP error
    if ((p.r[F_FLAGS]! & PF_ICMP_ERROR) !== 0) { this.icmpSuppressed++; return; }
    const b = p.buf;
    const v6 = b[l3]! >> 4 === 6;
    const link = this.link;
    const ok = v6 ? this.net.resolve6(b, l3 + 8, link) : this.net.resolve4(rd32(b, l3 + 12), link);
    if (!ok) { this.icmpNoRoute++; return; }
    const ipLen = v6 ? 40 + rd16(b, l3 + 4) : rd16(b, l3 + 2);
    const avail = Math.min(ipLen, b.length - l3);
    const tx = this.tx;
    if (!v6) {
      const q = Math.min(avail, ICMP4_QUOTE_MAX);
      const flen = 14 + 28 + q;
      const o = tx.reserve(flen);
      if (o < 0) { this.txFull++; return; }
      const s = tx.scratch;
      s.set(link.mac, o); s.set(link.srcMac, o + 6); wr16(s, o + 12, 0x0800);
      const h = o + 14;
      s[h] = 0x45; s[h + 1] = 0xc0; wr16(s, h + 2, 28 + q); wr16(s, h + 4, this.ipId()); wr16(s, h + 6, 0);
      s[h + 8] = 64; s[h + 9] = 1; wr16(s, h + 10, 0);
      wr32(s, h + 12, fromOwn ? link.src4 : rd32(b, l3 + 16));
      wr32(s, h + 16, rd32(b, l3 + 12));
      fillIpv4HeaderChecksum(s, h);
      const c = h + 20;
      s[c] = type; s[c + 1] = code; wr16(s, c + 2, 0);
      wr32(s, c + 4, type === 3 && code === 4 ? info & 0xffff : 0);
      s.set(b.subarray(l3, l3 + q), c + 8);
      wr16(s, c + 2, inetChecksum(s, c, 8 + q));
      this.queue(s, o, flen, link);
    } else {
      const q = Math.min(avail, ICMP6_QUOTE_MAX);
      const flen = 14 + 48 + q;
      const o = tx.reserve(flen);
      if (o < 0) { this.txFull++; return; }
      const s = tx.scratch;
      s.set(link.mac, o); s.set(link.srcMac, o + 6); wr16(s, o + 12, 0x86dd);
      const h = o + 14;
      s[h] = 0x60; s[h + 1] = 0; s[h + 2] = 0; s[h + 3] = 0;
      wr16(s, h + 4, 8 + q); s[h + 6] = 58; s[h + 7] = 64;
      if (fromOwn) s.set(link.src6.subarray(0, 16), h + 8); else s.set(b.subarray(l3 + 24, l3 + 40), h + 8);
      s.set(b.subarray(l3 + 8, l3 + 24), h + 24);
      const c = h + 40;
      s[c] = type; s[c + 1] = code; wr16(s, c + 2, 0);
      wr32(s, c + 4, type === 2 ? info >>> 0 : 0);
      s.set(b.subarray(l3, l3 + q), c + 8);
      wr16(s, c + 2, l4Checksum(s, 6, h + 8, h + 24, 58, c, 8 + q, c + 2));
      this.queue(s, o, flen, link);
    }
    this.icmpSent++;
  }
}

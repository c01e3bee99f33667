// Packet I/O on real interfaces: Linux AF_PACKET through libc (koffi). Per
// interface one receive socket bound to ETH_P_ALL with a TPACKET_V2 ring
// (mmap'd, walked with typed arrays, poll() only when the ring is empty); one
// protocol-0 transmit socket per I/O (it never receives) sending batches with
// sendmmsg().
//
// * TPACKET_V2, not V3: a V3 ring hands frames over a block at a time, when the
//   block fills or its retire timer fires, and that timer counts in jiffies
//   (4 ms at HZ=250). Every pass through the director waited for it, and a TCP
//   connection crosses the director several times. A V2 ring has a status word
//   per frame and wakes the reader for each one; at high rates the worker is
//   not sleeping, so the wake-ups cost nothing.
// * PACKET_IGNORE_OUTGOING: a worker never sees the frames it (or the host) sends.
// * Offloads on (the default of every NIC and of veth): PACKET_VNET_HDR puts
//   the kernel's virtio-net header in front of every frame, both ways. Received
//   frames say whether they are an aggregate (GSO on a local sender, GRO on a
//   receiving NIC: up to 64 KiB) and whether their L4 checksum is partial
//   (CHECKSUM_PARTIAL); the engine keeps that state (core/packet/gso.ts) and
//   frames leave with it, so the kernel segments and checksums on output as it
//   does for its own forwarding. A frame larger than a ring slot is read whole
//   through the socket's queue (PACKET_COPY_THRESH: the kernel queues a copy
//   of it and marks its truncated slot TP_STATUS_COPY), so slots stay sized
//   for the MTU while aggregates still arrive.
// * A classic BPF socket filter keeps a worker asleep for frames it cannot own;
//   PACKET_FANOUT_CBPF spreads flows over workers keyed on the client side of
//   a connection (so a NAT reply reaches the worker that owns the request).
//   The programs are built in bpf.ts; this file attaches them.
//
// All pointer arguments are declared uintptr_t and given plain Numbers into
// memory this module mmaps itself: no pointer objects per call.

import koffi from 'koffi';
import { readFileSync } from 'node:fs';
import { MAX_AGGREGATE, type FrameBatch, type FrameOffload, type TxBatch } from '../batch.js';
import { VNET_NEEDS_CSUM } from '../../packet/gso.js';
import { BPF_MAXINSNS, fanoutProgram, socketFilter, type BpfInsn, type FilterSpec } from './bpf.js';
import type { IoInterface, PacketIo } from './types.js';
import { Mem } from '../../mem.js';

const AF_PACKET = 17;
const SOCK_RAW = 3;
const ETH_P_ALL_BE = 0x0300;
const SOL_SOCKET = 1;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const SO_ATTACH_FILTER = 26;
const SOL_PACKET = 263;
const PACKET_RX_RING = 5;
const PACKET_STATISTICS = 6;
const PACKET_COPY_THRESH = 7;
const PACKET_VNET_HDR = 15;
/** sizeof(struct virtio_net_hdr): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset (little-endian). */
const VNET_HDR = 10;
const PACKET_VERSION = 10;
const PACKET_FANOUT = 18;
const PACKET_QDISC_BYPASS = 20;
const PACKET_FANOUT_DATA = 22;
const PACKET_IGNORE_OUTGOING = 23;
const TPACKET_V2 = 1;
export const PACKET_FANOUT_HASH = 0;
export const PACKET_FANOUT_CBPF = 6;
const TP_STATUS_USER = 1;
const TP_STATUS_COPY = 2;
const POLLIN = 1;
const MSG_DONTWAIT = 0x40;
const EINTR = 4;
const EAGAIN = 11;

interface Libc {
  socket(d: number, t: number, p: number): number;
  bind(fd: number, addr: number, len: number): number;
  setsockopt(fd: number, level: number, name: number, val: number, len: number): number;
  getsockopt(fd: number, level: number, name: number, val: number, len: number): number;
  poll(fds: number, n: number, timeout: number): number;
  recv(fd: number, buf: number, len: number, flags: number): number;
  sendmmsg(fd: number, vec: number, n: number, flags: number): number;
  close(fd: number): number;
  if_nametoindex(name: string): number;
}

let libc: Libc | null = null;

function lib(): Libc {
  if (libc) return libc;
  const l = koffi.load('libc.so.6');
  libc = {
    socket: l.func('int socket(int, int, int)'),
    bind: l.func('int bind(int, uintptr_t, uint32_t)'),
    setsockopt: l.func('int setsockopt(int, int, int, uintptr_t, uint32_t)'),
    getsockopt: l.func('int getsockopt(int, int, int, uintptr_t, uintptr_t)'),
    poll: l.func('int poll(uintptr_t, uint64_t, int)'),
    recv: l.func('long recv(int, uintptr_t, size_t, int)'),
    sendmmsg: l.func('int sendmmsg(int, uintptr_t, unsigned int, int)'),
    close: l.func('int close(int)'),
    if_nametoindex: l.func('unsigned int if_nametoindex(const char *)'),
  } as Libc;
  return libc;
}

function sysErr(what: string): Error {
  const e = koffi.errno();
  return Object.assign(new Error(`${what}: errno ${e}${e === 1 ? ' (EPERM: needs root / CAP_NET_RAW)' : ''}`), { errno: e });
}

// ------------------------------------------------------------------ the I/O

export interface AfPacketInterface extends IoInterface {
  readonly ifindex: number;
}

export interface AfPacketOptions {
  /** Receive ring size per interface, bytes (rounded to whole blocks). */
  ringBytes?: number;
  /** Join a fanout group per interface: group id = base + interface position. */
  fanoutGroup?: number;
  /** Largest burst handed to one sendmmsg(). */
  txBatch?: number;
  /** Bytes of transmit staging for frames not in our memory (copied there, packed), per sendmmsg() at most. Default 8 MiB. */
  stageBytes?: number;
}

interface Ring {
  fd: number;
  mem: Mem;
  /** Bytes per frame slot, and slots in the ring (contiguous: a block holds whole slots). */
  frameSize: number;
  frames: number;
  /** The next slot to read. */
  slot: number;
}

/** TPACKET_V2 slot size for an MTU: the frame (two VLAN tags) after the ~80-byte slot header, a power of two. */
export function frameSlotSize(mtu: number): number {
  let f = 2048;
  while (f < mtu + 22 + 128 && f < 16384) f *= 2;
  return f;
}

export function interfaceInfo(name: string): { ifindex: number; mac: Uint8Array; mtu: number } {
  const ifindex = lib().if_nametoindex(name);
  if (!ifindex) throw new Error(`afpacket: no interface ${name}`);
  const macText = readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim();
  const mtu = Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim()) || 1500;
  return { ifindex, mac: Uint8Array.from(macText.split(':').map((x) => parseInt(x, 16))), mtu };
}

export class AfPacketIo implements PacketIo {
  readonly kind = 'afpacket' as const;
  readonly interfaces: readonly AfPacketInterface[];
  private readonly rings: Ring[] = [];
  private readonly txFd: number;
  private readonly ringBytes: number;
  private readonly txBatch: number;
  /** Scratch: sockopt values, pollfds, mmsghdr + iovec + sockaddr_ll arrays, then the TX staging area. */
  private readonly scratch: Mem;
  private readonly optOff = 0;
  private readonly pollOff = 4096;
  private readonly msgOff = 8192;
  /** Two iovecs per message: its virtio-net header (at hdrOff), then the frame (in place, or staged). */
  private readonly iovOff: number;
  private readonly hdrOff: number;
  private readonly sllOff: number;
  private readonly stageOff: number;
  private readonly stageBytes: number;
  private next = 0;
  /** Where BPF programs are built for setsockopt (the kernel copies them). */
  private progMem: Mem | null = null;
  /** Where a frame too large for its ring slot is read when the batch is not in our memory (then copied to it). */
  private copyMem: Mem | null = null;
  /** Buffers in memory of our own (alloc): their address, so frames in them are sent and received in place. */
  private readonly native = new Map<ArrayBufferLike, Mem>();
  private readonly nativeList: Mem[] = [];
  /** The offload state of the frame being received (copied by the batch). */
  private readonly offload: FrameOffload = { gsoType: 0, gsoSize: 0, csumStart: -1, csumOff: 0 };
  rxFrames = 0;
  txFrames = 0;
  txErrors = 0;
  /** Frames larger than a batch takes (above 64 KiB), or cut in their slot with no copy queued (socket buffer full). */
  oversize = 0;
  /** Received aggregates (GSO/GRO), frames with a partial checksum, frames read through the copy queue. */
  rxAggregates = 0;
  rxCsumPartial = 0;
  rxCopied = 0;
  /** Aggregates sent for the kernel to segment, and frames sent for it to checksum. */
  txAggregates = 0;
  txCsumPartial = 0;

  /**
   * The counters above by name, for the worker's stats report: the daemon,
   * `lvsadm -L --drops` and the drop watch carry any name as it is, so a
   * counter added here needs nothing else. The worker adds the rings' drops.
   */
  counters(): Record<string, number> {
    return {
      'rx': this.rxFrames, 'tx': this.txFrames, 'tx-errors': this.txErrors, 'oversize': this.oversize,
      'aggregates-in': this.rxAggregates, 'csum-partial-in': this.rxCsumPartial, 'copied': this.rxCopied,
      'aggregates-out': this.txAggregates, 'csum-partial-out': this.txCsumPartial,
    };
  }

  constructor(interfaces: readonly AfPacketInterface[], opts: AfPacketOptions = {}) {
    this.interfaces = interfaces;
    this.ringBytes = opts.ringBytes ?? 4 << 20;
    this.txBatch = opts.txBatch ?? 256;
    this.stageBytes = Math.max(opts.stageBytes ?? 8 << 20, VNET_HDR + MAX_AGGREGATE);
    this.iovOff = this.msgOff + 64 * this.txBatch;
    this.hdrOff = this.iovOff + 32 * this.txBatch;
    this.sllOff = this.hdrOff + 16 * this.txBatch;
    this.stageOff = (this.sllOff + 20 * this.txBatch + 4095) & ~4095;
    this.scratch = new Mem(this.stageOff + this.stageBytes);
    const L = lib();
    this.txFd = L.socket(AF_PACKET, SOCK_RAW, 0);
    if (this.txFd < 0) throw sysErr('socket(AF_PACKET) for transmit');
    this.setInt(this.txFd, SOL_PACKET, PACKET_QDISC_BYPASS, 1);
    // every frame sent starts with a virtio-net header: aggregates and partial checksums go to the kernel as they are
    this.setInt(this.txFd, SOL_PACKET, PACKET_VNET_HDR, 1);
    this.setInt(this.txFd, SOL_SOCKET, SO_SNDBUFFORCE, 8 << 20);
    try {
      for (const [i, itf] of interfaces.entries()) this.rings.push(this.openRing(itf, opts.fanoutGroup === undefined ? undefined : opts.fanoutGroup + i));
    } catch (e) { this.close(); throw e; }
    // The sockaddr_ll and the frame's iovec of each message are filled per frame; the constant fields once.
    const dv = this.scratch.dv;
    for (let i = 0; i < this.txBatch; i++) {
      const m = this.msgOff + 64 * i, v = this.iovOff + 32 * i, s = this.sllOff + 20 * i;
      dv.setBigUint64(m, BigInt(this.scratch.addr + s), true);
      dv.setUint32(m + 8, 20, true);
      dv.setBigUint64(m + 16, BigInt(this.scratch.addr + v), true);
      dv.setBigUint64(m + 24, 2n, true);
      dv.setBigUint64(v, BigInt(this.scratch.addr + this.hdrOff + 16 * i), true);
      dv.setBigUint64(v + 8, BigInt(VNET_HDR), true);
      dv.setUint16(s, AF_PACKET, true);
      dv.setUint8(s + 11, 6);
    }
  }

  /**
   * A buffer in memory of our own, for the receive batch, the transmit
   * scratch and the engine's segments: frames in it leave without being
   * copied (sendmmsg reads them in place) and large frames are received
   * straight into it.
   */
  alloc(bytes: number): Uint8Array {
    const m = new Mem((bytes + 4095) & ~4095);
    this.native.set(m.u8.buffer, m);
    this.nativeList.push(m);
    return m.u8.subarray(0, bytes);
  }

  /** The address of buf[off], when buf is in memory of our own; else -1. */
  private addressOf(buf: Uint8Array, off: number): number {
    const m = this.native.get(buf.buffer);
    return m ? m.addr + buf.byteOffset + off : -1;
  }

  private setInt(fd: number, level: number, name: number, v: number): void {
    this.scratch.dv.setInt32(this.optOff, v, true);
    if (lib().setsockopt(fd, level, name, this.scratch.addr + this.optOff, 4) < 0) throw sysErr(`setsockopt(${level}, ${name})`);
  }

  private openRing(itf: AfPacketInterface, fanout: number | undefined): Ring {
    const L = lib();
    // Protocol 0 until bound: nothing is queued from other interfaces meanwhile.
    const fd = L.socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0) throw sysErr('socket(AF_PACKET)');
    try {
      this.setInt(fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2);
      this.setInt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
      // before the ring: the kernel refuses PACKET_VNET_HDR once one is set up
      this.setInt(fd, SOL_PACKET, PACKET_VNET_HDR, 1);
      this.setInt(fd, SOL_PACKET, PACKET_COPY_THRESH, 1);
      this.setInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20);
      const dv = this.scratch.dv, o = this.optOff;
      const frameSize = frameSlotSize(itf.mtu);
      const blockSize = Math.max(frameSize, 1 << 16);
      const blocks = Math.max(2, Math.round(this.ringBytes / blockSize));
      const frames = (blockSize / frameSize) * blocks;
      dv.setUint32(o, blockSize, true);
      dv.setUint32(o + 4, blocks, true);
      dv.setUint32(o + 8, frameSize, true);
      dv.setUint32(o + 12, frames, true);
      if (L.setsockopt(fd, SOL_PACKET, PACKET_RX_RING, this.scratch.addr + o, 16) < 0) throw sysErr(`PACKET_RX_RING on ${itf.name}`);
      const mem = new Mem(blockSize * blocks, fd);
      dv.setUint16(o, AF_PACKET, true);
      dv.setUint16(o + 2, ETH_P_ALL_BE, true);
      dv.setInt32(o + 4, itf.ifindex, true);
      dv.setUint32(o + 8, 0, true);
      dv.setUint32(o + 12, 0, true);
      dv.setUint32(o + 16, 0, true);
      if (L.bind(fd, this.scratch.addr + o, 20) < 0) throw sysErr(`bind to ${itf.name}`);
      if (fanout !== undefined) this.setInt(fd, SOL_PACKET, PACKET_FANOUT, (fanout & 0xffff) | (PACKET_FANOUT_CBPF << 16));
      return { fd, mem, frameSize, frames, slot: 0 };
    } catch (e) { L.close(fd); throw e; }
  }

  private attach(fd: number, level: number, name: number, prog: readonly BpfInsn[]): void {
    if (prog.length > BPF_MAXINSNS) {
      throw new Error(`BPF program too long (${prog.length} instructions, the kernel takes ${BPF_MAXINSNS}): too many VIPs and NAT real servers for one filter`);
    }
    // sock_fprog first, the instructions after it
    this.progMem ??= new Mem(16 + 8 * BPF_MAXINSNS);
    const m = this.progMem, dv = m.dv, ins = 16;
    dv.setUint16(0, prog.length, true);
    dv.setBigUint64(8, BigInt(m.addr + ins), true);
    prog.forEach(([c, jt, jf, k], i) => {
      dv.setUint16(ins + i * 8, c, true); dv.setUint8(ins + i * 8 + 2, jt); dv.setUint8(ins + i * 8 + 3, jf);
      dv.setUint32(ins + i * 8 + 4, k >>> 0, true);
    });
    if (lib().setsockopt(fd, level, name, m.addr, 16) < 0) throw sysErr('attaching a BPF program');
  }

  /** Installs the socket filter (and, in a fanout group, the fanout program) on every receive socket. */
  setFilter(f: FilterSpec, fanout: boolean): void {
    const sf = socketFilter(f);
    const fp = fanout ? fanoutProgram(f) : null;
    for (const r of this.rings) {
      this.attach(r.fd, SOL_SOCKET, SO_ATTACH_FILTER, sf);
      if (fp) this.attach(r.fd, SOL_PACKET, PACKET_FANOUT_DATA, fp);
    }
  }

  receive(rx: FrameBatch): number {
    rx.clear();
    const n = this.rings.length;
    for (let k = 0; k < n && rx.count < rx.cap; k++) {
      const port = (this.next + k) % n;
      this.drain(this.rings[port]!, port, rx);
    }
    this.next = (this.next + 1) % n;
    this.rxFrames += rx.count;
    return rx.count;
  }

  private drain(r: Ring, port: number, rx: FrameBatch): void {
    const u8 = r.mem.u8, dv = r.mem.dv, fs = r.frameSize;
    const off = this.offload;
    while (rx.count < rx.cap) {
      const h = r.slot * fs;
      const status = dv.getUint32(h, true);
      if ((status & TP_STATUS_USER) === 0) return;
      const wire = dv.getUint32(h + 4, true);
      const snap = dv.getUint32(h + 8, true);
      const mac = h + dv.getUint16(h + 12, true);
      const copied = (status & TP_STATUS_COPY) !== 0;
      const o = rx.alloc(wire);
      // no room left in this batch for a frame that would fit an empty one: the next receive takes it
      if (o < 0 && wire <= rx.maxFrame) return;
      let src: Uint8Array | null = snap === wire ? u8 : null, at = mac, vh = mac - VNET_HDR;
      let inPlace = false;
      if (copied) {
        // the whole frame waits in the socket's queue, in slot order; read it even to drop it (or the queue would lag).
        // Into the batch itself when it is ours (its header lands in the frame's headroom), else aside.
        const direct = o >= 0 ? this.addressOf(rx.buf, o - VNET_HDR) : -1;
        const m = direct < 0 ? this.copyMem ??= new Mem((VNET_HDR + MAX_AGGREGATE + 4095) & ~4095) : null;
        const n = lib().recv(r.fd, m ? m.addr : direct, m ? m.len : VNET_HDR + wire, MSG_DONTWAIT);
        src = null;
        if (n === VNET_HDR + wire) {
          this.rxCopied++;
          if (m) { src = m.u8; at = VNET_HDR; vh = 0; } else { src = rx.buf; at = o; vh = o - VNET_HDR; inPlace = true; }
        }
      }
      if (o >= 0 && src !== null) {
        const flags = src[vh]!;
        off.gsoType = src[vh + 1]!;
        off.gsoSize = src[vh + 4]! | (src[vh + 5]! << 8);
        if (off.gsoType !== 0) this.rxAggregates++;
        if (flags & VNET_NEEDS_CSUM) {
          off.csumStart = src[vh + 6]! | (src[vh + 7]! << 8);
          off.csumOff = src[vh + 8]! | (src[vh + 9]! << 8);
          this.rxCsumPartial++;
        } else { off.csumStart = -1; off.csumOff = 0; }
        if (!inPlace) rx.buf.set(src.subarray(at, at + wire), o);
        rx.commit(o, wire, port, 0, off);
      } else this.oversize++;   // above 64 KiB, or cut in its slot with no copy queued (the socket's buffer was full)
      dv.setUint32(h, 0, true);  // TP_STATUS_KERNEL: the slot is the kernel's again
      r.slot = r.slot + 1 === r.frames ? 0 : r.slot + 1;
    }
  }

  /** Frames waiting in some ring (without a syscall). */
  ready(): boolean {
    for (const r of this.rings) {
      if (r.mem.dv.getUint32(r.slot * r.frameSize, true) & TP_STATUS_USER) return true;
    }
    return false;
  }

  /** Sleeps until a ring has frames or `ms` passes. */
  wait(ms: number): void {
    if (this.ready()) return;
    const dv = this.scratch.dv;
    for (let i = 0; i < this.rings.length; i++) {
      dv.setInt32(this.pollOff + 8 * i, this.rings[i]!.fd, true);
      dv.setInt16(this.pollOff + 8 * i + 4, POLLIN, true);
      dv.setInt16(this.pollOff + 8 * i + 6, 0, true);
    }
    lib().poll(this.scratch.addr + this.pollOff, this.rings.length, ms);
  }

  transmit(tx: TxBatch): void {
    const u8 = this.scratch.u8, dv = this.scratch.dv;
    const base = this.scratch.addr + this.stageOff;
    let n = 0, used = 0;
    for (let i = 0; i < tx.count; i++) {
      const len = tx.len[i]!;
      const itf = this.interfaces[tx.port[i]!];
      if (!itf || len > this.stageBytes) { this.txErrors++; continue; }
      const src = tx.bufs[i]!, off = tx.off[i]!;
      // in place when the frame is in our memory; else staged (a copy)
      let a = this.addressOf(src, off);
      if (n === this.txBatch || (a < 0 && used + len > this.stageBytes)) { this.flush(n); n = 0; used = 0; }
      if (a < 0) {
        u8.set(src.subarray(off, off + len), this.stageOff + used);
        a = base + used;
        used = (used + len + 15) & ~15;
      }
      // the virtio-net header: what the kernel is to do with the frame on output
      const h = this.hdrOff + 16 * n;
      const gso = tx.gsoSize[i]!, cs = tx.csumStart[i]!;
      u8[h] = cs >= 0 ? VNET_NEEDS_CSUM : 0;
      u8[h + 1] = gso > 0 ? tx.gsoType[i]! : 0;
      dv.setUint16(h + 2, gso > 0 ? tx.hdrLen[i]! : 0, true);
      dv.setUint16(h + 4, gso, true);
      dv.setUint16(h + 6, cs >= 0 ? cs : 0, true);
      dv.setUint16(h + 8, cs >= 0 ? tx.csumOff[i]! : 0, true);
      if (gso > 0) this.txAggregates++;
      if (cs >= 0) this.txCsumPartial++;
      const v = this.iovOff + 32 * n + 16;
      dv.setUint32(v, a % 0x100000000, true);
      dv.setUint32(v + 4, Math.floor(a / 0x100000000), true);
      dv.setUint32(v + 8, len, true);
      const s = this.sllOff + 20 * n;
      dv.setUint16(s + 2, (src[off + 13]! << 8) | src[off + 12]!, true); // ethertype, network order
      dv.setInt32(s + 4, itf.ifindex, true);
      for (let j = 0; j < 6; j++) u8[s + 12 + j] = src[off + j]!;
      n++;
    }
    if (n > 0) this.flush(n);
  }

  private flush(n: number): void {
    const L = lib();
    let done = 0, tries = 0;
    while (done < n) {
      const r = L.sendmmsg(this.txFd, this.scratch.addr + this.msgOff + 64 * done, n - done, MSG_DONTWAIT);
      if (r > 0) { done += r; this.txFrames += r; continue; }
      const e = koffi.errno();
      if ((e === EINTR || e === EAGAIN) && ++tries < 4) continue;
      // the frame at `done` cannot go (EMSGSIZE, ENETDOWN, …): count it and go on with the rest
      this.txErrors++;
      done++;
    }
  }

  /** Kernel ring counters since the last call: frames queued and dropped (ring full). */
  ringStats(): { packets: number; drops: number } {
    let packets = 0, drops = 0;
    const dv = this.scratch.dv, o = this.optOff;
    for (const r of this.rings) {
      dv.setUint32(o + 64, 12, true);
      if (lib().getsockopt(r.fd, SOL_PACKET, PACKET_STATISTICS, this.scratch.addr + o, this.scratch.addr + o + 64) === 0) {
        packets += dv.getUint32(o, true);
        drops += dv.getUint32(o + 4, true);
      }
    }
    return { packets, drops };
  }

  close(): void {
    const L = lib();
    for (const r of this.rings) { r.mem.free(); L.close(r.fd); }
    this.rings.length = 0;
    this.progMem?.free();
    this.progMem = null;
    this.copyMem?.free();
    this.copyMem = null;
    for (const m of this.nativeList) m.free();
    this.nativeList.length = 0;
    this.native.clear();
    if (this.txFd >= 0) L.close(this.txFd);
  }
}

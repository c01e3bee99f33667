// The memory wire: an in-process virtual network for tests, replay and
// benchmarks. Frames injected on an interface are what the director
// receives; what it transmits is kept (copied) for the test to read, or
// handed to a callback, or only counted (benchmarks). No root, no syscalls.
// The wire stands for the kernel and a NIC: frames injected with an offload
// state (an aggregate, a partial checksum) arrive with it, and what lvsd sends
// with one leaves as the kernel would put it on the wire: cut into segments,
// checksums completed.

import type { FrameBatch, FrameOffload, TxBatch } from '../batch.js';
import { completePartial, segment, type SegmentSource } from '../../packet/gso.js';
import { F_FAMILY, F_IP_LEN, F_L3_OFF, F_L4_OFF, F_PAYLOAD_OFF, F_PROTO, createParseResult, parseFrame } from '../../packet/parse.js';
import type { IoInterface, PacketIo } from './types.js';

export interface WireFrame {
  /** Interface name. */
  ifname: string;
  frame: Uint8Array;
}

export type TxMode = 'capture' | 'count';

export class MemoryWire implements PacketIo {
  readonly kind = 'memory' as const;
  private ifaces: readonly IoInterface[];
  private queue: { frame: Uint8Array; port: number; time: number; offload: FrameOffload | null }[] = [];
  private readonly r = createParseResult();
  /** Aggregates sent whole by lvsd and cut by the wire (as the kernel's GSO would). */
  aggregatesOut = 0;
  private head = 0;
  private loopFrames: Uint8Array[] | null = null;
  private loopPos = 0;
  private captured: WireFrame[] = [];
  /** Called for every transmitted frame (a view valid only during the call) when set. */
  onTransmit: ((ifname: string, frame: Uint8Array) => void) | null = null;
  txMode: TxMode = 'capture';
  txFrames = 0;
  txBytes = 0;
  rxFrames = 0;

  /** Frames received and sent, by name (`lvsadm -L --drops`, as AfPacketIo.counters()). */
  counters(): Record<string, number> { return { rx: this.rxFrames, tx: this.txFrames }; }

  constructor(interfaces: readonly IoInterface[]) {
    this.ifaces = interfaces;
  }

  get interfaces(): readonly IoInterface[] { return this.ifaces; }

  /**
   * A config reload: the director's interfaces are now these (by port, as the
   * engine's Net numbers them). Later injections and transmitted frames use
   * the new names; frames already queued keep their port.
   */
  setInterfaces(interfaces: readonly IoInterface[]): void {
    this.ifaces = interfaces;
  }

  private portOf(ifname: string | number): number {
    if (typeof ifname === 'number') return ifname;
    const i = this.interfaces.findIndex((x) => x.name === ifname);
    if (i < 0) throw new Error(`memory wire: no interface ${ifname}`);
    return i;
  }

  /** A frame arrives on `ifname` (default: the first interface), with the offload state the kernel would give it. */
  inject(frame: Uint8Array, ifname: string | number = 0, timeMs = 0, offload: FrameOffload | null = null): void {
    this.queue.push({ frame, port: this.portOf(ifname), time: timeMs, offload });
  }

  /** Frames waiting to be received. */
  get pending(): number { return this.queue.length - this.head + (this.loopFrames ? Infinity : 0); }

  /** Benchmarks: receive these frames over and over (on interface 0), forever. */
  loop(frames: Uint8Array[]): void {
    this.loopFrames = frames.length > 0 ? frames : null;
    this.loopPos = 0;
  }

  receive(rx: FrameBatch): number {
    rx.clear();
    if (this.loopFrames) {
      const f = this.loopFrames;
      while (rx.count < rx.cap) {
        rx.push(f[this.loopPos]!, 0, 0);
        this.loopPos = this.loopPos + 1 === f.length ? 0 : this.loopPos + 1;
      }
      this.rxFrames += rx.count;
      return rx.count;
    }
    while (rx.count < rx.cap && this.head < this.queue.length) {
      const q = this.queue[this.head]!;
      // A frame too large for a slot is dropped by the wire, as a NIC drops an oversize frame.
      rx.push(q.frame, q.port, q.time, q.offload);
      this.head++;
    }
    if (this.head === this.queue.length) { this.queue = []; this.head = 0; }
    this.rxFrames += rx.count;
    return rx.count;
  }

  transmit(tx: TxBatch): void {
    for (let i = 0; i < tx.count; i++) {
      const len = tx.len[i]!;
      const buf = tx.bufs[i]!;
      const off = tx.off[i]!;
      const name = this.interfaces[tx.port[i]!]?.name ?? `port${tx.port[i]}`;
      if (tx.gsoSize[i]! > 0 || tx.csumStart[i]! >= 0) { this.offloaded(tx, i, name); continue; }
      this.emit(name, buf, off, len);
    }
  }

  private emit(name: string, buf: Uint8Array, off: number, len: number): void {
    this.txFrames++;
    this.txBytes += len;
    if (this.txMode === 'count') return;
    if (this.onTransmit) this.onTransmit(name, buf.subarray(off, off + len));
    else this.captured.push({ ifname: name, frame: buf.slice(off, off + len) });
  }

  /** A frame sent with an offload state: what the kernel and the NIC would put on the wire. */
  private offloaded(tx: TxBatch, i: number, name: string): void {
    const len = tx.len[i]!;
    const frame = tx.bufs[i]!.slice(tx.off[i]!, tx.off[i]! + len);
    const cs = tx.csumStart[i]!, field = cs + tx.csumOff[i]!;
    const r = this.r;
    parseFrame(frame, 0, len, r, 0);
    const l3 = r[F_L3_OFF]!;
    if (tx.gsoSize[i] === 0) {
      completePartial(frame, cs, field, l3 + r[F_IP_LEN]!);   // over the IP packet, not the L2 padding
      return this.emit(name, frame, 0, len);
    }
    const src: SegmentSource = {
      buf: frame, off: 0, l3, family: r[F_FAMILY]!, proto: r[F_PROTO]!, l4: r[F_L4_OFF]!, payload: r[F_PAYLOAD_OFF]!,
      end: l3 + r[F_IP_LEN]!, gsoSize: tx.gsoSize[i]!, partial: cs >= 0,
    };
    const out = new Uint8Array(len * 2 + 4096);
    let used = 0;
    this.aggregatesOut++;
    segment(src, out, (n) => { const o = used; used += n; return used <= out.length ? o : -1; }, (o, n) => {
      if (cs >= 0) completePartial(out, o + cs, o + field, o + n);
      this.emit(name, out, o, n);
    });
  }

  /** What was transmitted since the last call (capture mode). */
  take(): WireFrame[] {
    const out = this.captured;
    this.captured = [];
    return out;
  }

  close(): void {
    this.queue = [];
    this.head = 0;
    this.loopFrames = null;
    this.captured = [];
  }
}

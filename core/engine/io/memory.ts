// The memory wire: an in-process virtual network for tests, replay and
// benchmarks. Frames injected on an interface are what the director
// receives; what it transmits is kept (copied) for the test to read, or
// handed to a callback, or only counted (benchmarks). No root, no syscalls.

import type { FrameBatch, TxBatch } from '../batch.js';
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
  private queue: { frame: Uint8Array; port: number; time: number }[] = [];
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

  /** A frame arrives on `ifname` (default: the first interface). */
  inject(frame: Uint8Array, ifname: string | number = 0, timeMs = 0): void {
    this.queue.push({ frame, port: this.portOf(ifname), time: timeMs });
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
      rx.push(q.frame, q.port, q.time);
      this.head++;
    }
    if (this.head === this.queue.length) { this.queue = []; this.head = 0; }
    this.rxFrames += rx.count;
    return rx.count;
  }

  transmit(tx: TxBatch): void {
    for (let i = 0; i < tx.count; i++) {
      const len = tx.len[i]!;
      this.txFrames++;
      this.txBytes += len;
      if (this.txMode === 'count') continue;
      const buf = tx.bufs[i]!;
      const off = tx.off[i]!;
      const name = this.interfaces[tx.port[i]!]?.name ?? `port${tx.port[i]}`;
      if (this.onTransmit) this.onTransmit(name, buf.subarray(off, off + len));
      else this.captured.push({ ifname: name, frame: buf.slice(off, off + len) });
    }
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

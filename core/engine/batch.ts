// Frame batches: what one receive call fills and one transmit call sends.
// Receive slots are fixed-size regions of one buffer, each with headroom in
// front so that a forwarder can prepend headers (tunnels) in place. A transmit
// batch only references frames (in a receive slot, or in its own scratch area
// for frames the director makes itself: ICMP errors, fragments).

/** Bytes free in front of each received frame: room for an outer IPv6 header + GUE/GRE + VLAN tags. */
export const HEADROOM = 128;
/** Largest frame a slot takes (jumbo 9000-byte MTU + Ethernet and two VLAN tags). */
export const MAX_FRAME = 9000 + 22;

export class FrameBatch {
  readonly cap: number;
  readonly slot: number;
  readonly buf: Uint8Array;
  /** Start of each frame (its Ethernet header); slot i begins at i * slot. */
  readonly off: Int32Array;
  readonly len: Int32Array;
  /** Interface index each frame came in on. */
  readonly port: Uint8Array;
  /** Capture time of each frame (ms, the engine clock), when the I/O backend knows it. */
  readonly time: Float64Array;
  count = 0;

  constructor(cap = 64, maxFrame = MAX_FRAME) {
    this.cap = cap;
    this.slot = (HEADROOM + maxFrame + 63) & ~63;
    this.buf = new Uint8Array(this.slot * cap);
    this.off = new Int32Array(cap);
    this.len = new Int32Array(cap);
    this.port = new Uint8Array(cap);
    this.time = new Float64Array(cap);
  }

  /** Copies a frame into the next slot; false when the batch is full or the frame does not fit a slot. */
  push(frame: Uint8Array, port = 0, time = 0): boolean {
    if (this.count === this.cap || frame.length > this.slot - HEADROOM) return false;
    const i = this.count++;
    const o = i * this.slot + HEADROOM;
    this.buf.set(frame, o);
    this.off[i] = o;
    this.len[i] = frame.length;
    this.port[i] = port;
    this.time[i] = time;
    return true;
  }

  /** Lowest index frame i may start at (its slot's beginning). */
  room(i: number): number { return i * this.slot; }

  clear(): void { this.count = 0; }
}

export class TxBatch {
  readonly cap: number;
  /** The buffer each frame lives in (a receive batch's, or `scratch`); references only, never copies. */
  readonly bufs: Uint8Array[];
  readonly off: Int32Array;
  readonly len: Int32Array;
  readonly port: Uint8Array;
  count = 0;
  /** Frames made by the director (ICMP errors, fragments) are written here, bump-allocated per batch. */
  readonly scratch: Uint8Array;
  scratchUsed = 0;
  /** Frames refused because the batch or its scratch space was full. */
  full = 0;
  /** Per frame: the unresolved next hop it waits for (see FwdLink.unresolved), else null; `held` counts them. */
  readonly hold: (string | null)[];
  held = 0;

  constructor(cap = 512, scratchBytes = 1 << 20) {
    this.cap = cap;
    this.bufs = new Array<Uint8Array>(cap);
    this.off = new Int32Array(cap);
    this.len = new Int32Array(cap);
    this.port = new Uint8Array(cap);
    this.scratch = new Uint8Array(scratchBytes);
    for (let i = 0; i < cap; i++) this.bufs[i] = this.scratch;
    this.hold = new Array<string | null>(cap).fill(null);
  }

  add(buf: Uint8Array, off: number, len: number, port: number): boolean {
    if (this.count === this.cap) { this.full++; return false; }
    const i = this.count++;
    this.bufs[i] = buf;
    this.off[i] = off;
    this.len[i] = len;
    this.port[i] = port;
    this.hold[i] = null;
    return true;
  }

  /** Reserve `n` bytes of scratch; the offset, or -1 when it is used up (or the batch is full). */
  reserve(n: number): number {
    if (this.count === this.cap || this.scratchUsed + n > this.scratch.length) { this.full++; return -1; }
    const o = this.scratchUsed;
    this.scratchUsed = (o + n + 7) & ~7;
    return o;
  }

  /** Marks the frame just added as waiting for next hop `hop`. */
  holdLast(hop: string): void {
    this.hold[this.count - 1] = hop;
    this.held++;
  }

  /** Takes the held frames out (each handed to `take`), keeping the others in order. */
  removeHeld(take: (buf: Uint8Array, off: number, len: number, port: number, hop: string) => void): void {
    let n = 0;
    for (let i = 0; i < this.count; i++) {
      const hop = this.hold[i];
      if (hop) { take(this.bufs[i]!, this.off[i]!, this.len[i]!, this.port[i]!, hop); this.hold[i] = null; continue; }
      if (n !== i) { this.bufs[n] = this.bufs[i]!; this.off[n] = this.off[i]!; this.len[n] = this.len[i]!; this.port[n] = this.port[i]!; }
      n++;
    }
    this.count = n;
    this.held = 0;
  }

  clear(): void { this.count = 0; this.scratchUsed = 0; this.held = 0; }
}

// Frame batches: what one receive call fills and one transmit call sends.
// Receive slots are fixed-size regions of one buffer, each with headroom in
// front so that a forwarder can prepend headers (tunnels) in place. A transmit
// batch only references frames (in a receive slot, or in its own scratch area
// for frames the director makes itself: ICMP errors, fragments).

/** Bytes free in front of each received frame: room for an outer IPv6 header + GUE/GRE + VLAN tags. */
export const HEADROOM = 128;
/** Largest frame a slot takes (jumbo 9000-byte MTU + Ethernet and two VLAN tags). */
export const MAX_FRAME = 9000 + 22;
/**
 * Largest aggregate (GSO/GRO super-frame) a packed batch takes: a 64 KiB IP
 * packet (the kernel's default gso_max_size) with Ethernet and two VLAN tags.
 */
export const MAX_AGGREGATE = 65536 + 40 + 22;

/**
 * A frame's offload state, as the kernel's virtio-net header gives it
 * (core/packet/gso.ts): `gsoType`/`gsoSize` for an aggregate of segments,
 * `csumStart` (from the frame's start; -1: none) and `csumOff` when its L4
 * checksum is partial (CHECKSUM_PARTIAL). All 0 / -1 for a plain frame.
 */
export interface FrameOffload { gsoType: number; gsoSize: number; csumStart: number; csumOff: number }

export class FrameBatch {
  readonly cap: number;
  /** Bytes per slot when the batch is made of fixed slots; 0 when frames are packed (`bytes` given). */
  readonly slot: number;
  readonly buf: Uint8Array;
  /** Start of each frame (its Ethernet header). */
  readonly off: Int32Array;
  readonly len: Int32Array;
  /** Interface index each frame came in on. */
  readonly port: Uint8Array;
  /** Capture time of each frame (ms, the engine clock), when the I/O backend knows it. */
  readonly time: Float64Array;
  /** Offload state per frame (FrameOffload): aggregate type and segment size, partial checksum position. */
  readonly gsoType: Uint8Array;
  readonly gsoSize: Uint16Array;
  readonly csumStart: Int32Array;
  readonly csumOff: Uint16Array;
  /** Lowest index each frame may start at (the beginning of its headroom). */
  private readonly roomAt: Int32Array;
  /** Largest frame `alloc` takes. */
  readonly maxFrame: number;
  /** Packed batches: the next free byte. */
  private used = 0;
  count = 0;

  /**
   * `cap` frames of at most `maxFrame` bytes each, in fixed slots; or, with
   * `bytes`, packed one after the other (each with its headroom) into a buffer
   * of that size: a batch of small frames and one of 64 KiB aggregates then
   * cost the same memory. `buf`: the buffer to use (the I/O's own memory, so
   * that it can send from it without a copy), at least that size.
   */
  constructor(cap = 64, maxFrame = MAX_FRAME, bytes = 0, buf: Uint8Array | null = null) {
    this.cap = cap;
    this.maxFrame = maxFrame;
    this.slot = bytes > 0 ? 0 : (HEADROOM + maxFrame + 63) & ~63;
    const size = bytes > 0 ? Math.max(bytes, HEADROOM + maxFrame) : this.slot * cap;
    if (buf && buf.length < size) throw new Error(`FrameBatch: a buffer of ${buf.length} bytes for ${size}`);
    this.buf = buf ?? new Uint8Array(size);
    this.off = new Int32Array(cap);
    this.len = new Int32Array(cap);
    this.port = new Uint8Array(cap);
    this.time = new Float64Array(cap);
    this.gsoType = new Uint8Array(cap);
    this.gsoSize = new Uint16Array(cap);
    this.csumStart = new Int32Array(cap).fill(-1);
    this.csumOff = new Uint16Array(cap);
    this.roomAt = new Int32Array(cap);
  }

  /**
   * Room for the next frame of `len` bytes: its offset in `buf` (after its
   * headroom), or -1 when the batch is full or the frame is larger than
   * `maxFrame`. The caller writes the frame there and calls `commit`.
   */
  alloc(len: number): number {
    if (this.count === this.cap || len > this.maxFrame) return -1;
    if (this.slot > 0) return this.count * this.slot + HEADROOM;
    const o = this.used + HEADROOM;
    return o + len <= this.buf.length ? o : -1;
  }

  /** Whether a frame of `maxFrame` bytes still fits (a receiver stops when it does not). */
  get roomy(): boolean { return this.alloc(this.maxFrame) >= 0; }

  /** Records the frame written at `o` (from alloc) as the next one. */
  commit(o: number, len: number, port: number, time: number, offload: FrameOffload | null = null): void {
    const i = this.count++;
    this.off[i] = o;
    this.len[i] = len;
    this.port[i] = port;
    this.time[i] = time;
    this.roomAt[i] = o - HEADROOM;
    if (offload) {
      this.gsoType[i] = offload.gsoType; this.gsoSize[i] = offload.gsoSize;
      this.csumStart[i] = offload.csumStart; this.csumOff[i] = offload.csumOff;
    } else {
      this.gsoType[i] = 0; this.gsoSize[i] = 0; this.csumStart[i] = -1; this.csumOff[i] = 0;
    }
    if (this.slot === 0) this.used = (o + len + 63) & ~63;
  }

  /** Copies a frame into the next place; false when the batch is full or the frame does not fit. */
  push(frame: Uint8Array, port = 0, time = 0, offload: FrameOffload | null = null): boolean {
    const o = this.alloc(frame.length);
    if (o < 0) return false;
    this.buf.set(frame, o);
    this.commit(o, frame.length, port, time, offload);
    return true;
  }

  /** Lowest index frame i may start at (its headroom's beginning). */
  room(i: number): number { return this.roomAt[i]!; }

  clear(): void { this.count = 0; this.used = 0; }
}

export class TxBatch {
  readonly cap: number;
  /** The buffer each frame lives in (a receive batch's, or `scratch`); references only, never copies. */
  readonly bufs: Uint8Array[];
  readonly off: Int32Array;
  readonly len: Int32Array;
  readonly port: Uint8Array;
  /**
   * Offload state each frame leaves with (the virtio-net header AF_PACKET
   * sends it with): an aggregate to segment (gsoType, gsoSize, hdrLen: the
   * headers' length) and a partial checksum to complete (csumStart from the
   * frame's start, -1: none; csumOff from csumStart). Plain frames: 0 / -1.
   */
  readonly gsoType: Uint8Array;
  readonly gsoSize: Uint16Array;
  readonly hdrLen: Uint16Array;
  readonly csumStart: Int32Array;
  readonly csumOff: Uint16Array;
  count = 0;
  /** Frames made by the director (ICMP errors, fragments) are written here, bump-allocated per batch. */
  readonly scratch: Uint8Array;
  scratchUsed = 0;
  /** Frames refused because the batch or its scratch space was full. */
  full = 0;
  /** Per frame: the unresolved next hop it waits for (see FwdLink.unresolved), else null; `held` counts them. */
  readonly hold: (string | null)[];
  held = 0;

  /** `scratch`: the buffer to use for the director's own frames (the I/O's memory), else one of `scratchBytes`. */
  constructor(cap = 512, scratchBytes = 1 << 20, scratch: Uint8Array | null = null) {
    this.cap = cap;
    this.bufs = new Array<Uint8Array>(cap);
    this.off = new Int32Array(cap);
    this.len = new Int32Array(cap);
    this.port = new Uint8Array(cap);
    this.gsoType = new Uint8Array(cap);
    this.gsoSize = new Uint16Array(cap);
    this.hdrLen = new Uint16Array(cap);
    this.csumStart = new Int32Array(cap).fill(-1);
    this.csumOff = new Uint16Array(cap);
    this.scratch = scratch ?? new Uint8Array(scratchBytes);
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
    this.gsoType[i] = 0; this.gsoSize[i] = 0; this.hdrLen[i] = 0; this.csumStart[i] = -1; this.csumOff[i] = 0;
    return true;
  }

  /** Sets the offload state of the frame just added (see the arrays). */
  offloadLast(gsoType: number, gsoSize: number, hdrLen: number, csumStart: number, csumOff: number): void {
    const i = this.count - 1;
    this.gsoType[i] = gsoType; this.gsoSize[i] = gsoSize; this.hdrLen[i] = hdrLen;
    this.csumStart[i] = csumStart; this.csumOff[i] = csumOff;
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

  /** Takes the held frames out (each handed to `take` with its index, for its offload state), keeping the others in order. */
  removeHeld(take: (buf: Uint8Array, off: number, len: number, port: number, hop: string, i: number) => void): void {
    let n = 0;
    for (let i = 0; i < this.count; i++) {
      const hop = this.hold[i];
      if (hop) { take(this.bufs[i]!, this.off[i]!, this.len[i]!, this.port[i]!, hop, i); this.hold[i] = null; continue; }
      if (n !== i) {
        this.bufs[n] = this.bufs[i]!; this.off[n] = this.off[i]!; this.len[n] = this.len[i]!; this.port[n] = this.port[i]!;
        this.gsoType[n] = this.gsoType[i]!; this.gsoSize[n] = this.gsoSize[i]!; this.hdrLen[n] = this.hdrLen[i]!;
        this.csumStart[n] = this.csumStart[i]!; this.csumOff[n] = this.csumOff[i]!;
      }
      n++;
    }
    this.count = n;
    this.held = 0;
  }

  clear(): void { this.count = 0; this.scratchUsed = 0; this.held = 0; }
}

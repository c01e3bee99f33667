// Frames waiting for a next hop's MAC (afpacket workers), as the kernel's
// neighbour queue holds its own output while ARP / ND runs: a client on a link
// that the kernel had not met yet, a real server just added. Bounded per next
// hop and in total (the kernel's unres_qlen); a frame still waiting after 3 s
// (about when ARP gives up) is dropped and counted.

import type { TxBatch } from './batch.js';

/** A held frame, with the offload state it leaves with (TxBatch's arrays: gsoType, gsoSize, hdrLen, csumStart, csumOff). */
interface Held { frame: Uint8Array; port: number; at: number; offload: readonly number[] }

export class HeldFrames {
  private readonly byHop = new Map<string, Held[]>();
  private count = 0;
  /** Frames dropped: the queue was full, or the next hop never resolved. */
  dropped = 0;

  constructor(private readonly perHop = 64, private readonly max = 1024, private readonly ttlMs = 3000) {}

  get size(): number { return this.count; }

  /** The next hops frames are waiting for. */
  hops(): IterableIterator<string> { return this.byHop.keys(); }

  /** Moves the frames tx holds (tx.hold) in here, copied: tx's buffers are reused by the next batch. */
  take(tx: TxBatch, now: number): void {
    tx.removeHeld((buf, off, len, port, hop, i) => {
      let q = this.byHop.get(hop);
      if (!q) { q = []; this.byHop.set(hop, q); }
      if (q.length >= this.perHop || this.count >= this.max) { this.dropped++; return; }
      const offload = [tx.gsoType[i]!, tx.gsoSize[i]!, tx.hdrLen[i]!, tx.csumStart[i]!, tx.csumOff[i]!];
      q.push({ frame: buf.slice(off, off + len), port, at: now, offload });
      this.count++;
    });
  }

  /** Queues into tx the frames whose next hop now has a MAC (set as their destination); drops the expired. */
  release(macOf: (hop: string) => Uint8Array | undefined, tx: TxBatch, now: number): void {
    for (const [hop, q] of this.byHop) {
      const mac = macOf(hop);
      if (mac) {
        while (q.length > 0 && tx.count < tx.cap) {
          const f = q.shift()!;
          f.frame.set(mac, 0);
          const [t, g, h, cs, co] = f.offload;
          if (tx.add(f.frame, 0, f.frame.length, f.port)) tx.offloadLast(t!, g!, h!, cs!, co!);
          this.count--;
        }
      } else {
        while (q.length > 0 && now - q[0]!.at > this.ttlMs) { q.shift(); this.count--; this.dropped++; }
      }
      if (q.length === 0) this.byHop.delete(hop);
    }
  }
}

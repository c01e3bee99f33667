// The packet I/O interface the engine runs on. Backends: `memory` (an
// in-process virtual wire for tests, replay and benchmarks) and, later,
// `afpacket` (Linux AF_PACKET rings). The engine runs the same on both.

import type { FrameBatch, TxBatch } from '../batch.js';

export interface IoInterface {
  readonly name: string;
  /** 6 bytes; all-zero when not configured (then every unicast frame is taken as ours). */
  readonly mac: Uint8Array;
  readonly mtu: number;
}

export interface PacketIo {
  readonly kind: 'memory' | 'afpacket';
  readonly interfaces: readonly IoInterface[];
  /** Fills `rx` (cleared first) with received frames, up to its capacity; returns how many. */
  receive(rx: FrameBatch): number;
  /** Sends every frame of `tx` (the batch is cleared by the caller afterwards). */
  transmit(tx: TxBatch): void;
  close(): void;
}

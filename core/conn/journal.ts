// The live side of snapshot.ts: a worker's connection entries in a file
// mapped MAP_SHARED (core/mem.ts, as afpacket.ts maps its rings), one
// record per entry at the entry's own index. The table calls write() when an
// entry is created, changes state, flags or controller, and clear() when it
// is freed — never per packet of an established flow — so a crash leaves
// every entry in the page cache as last changed (README "Restarts").
//
// The file is made under a temporary name and renamed over the previous
// daemon's only once complete (which the host has already read by then).

import { Mem } from '../mem.js';
import { closeSync, ftruncateSync, openSync, renameSync, rmSync } from 'node:fs';
import {
  DEST_AREA_BYTES, fileBytes, H_CLEAN, H_DESTAREA, H_GEN, H_HEADER, H_HIGH, H_LAYOUT, H_RECORD, H_SLOTS, H_STAMP, H_WORKER,
  H_WORKERS, HEADER_BYTES, R_ADDR, R_AF, R_CONTROL, R_CPORT, R_DEST, R_DPORT, R_FLAGS, R_FWMARK, R_INPKTS, R_LEFT, R_PROTO,
  R_STATE, R_TIMEOUT, R_VPORT, RECORD_BYTES, SNAPSHOT_LAYOUT, SNAPSHOT_MAGIC, snapshotPath, writeDestArea, type DestRef,
} from './snapshot.js';
import type { ConnStore } from './store.js';

/** What the journal needs of the engine: a handle's real server, and an identity that changes when a handle is reused. */
export interface JournalDests {
  ref(h: number): DestRef | null;
  identity(h: number): object | null;
}

export interface JournalOptions { dir: string; worker: number; workers: number; generation: number; slots: number }

/** Thrown when the file cannot be made or mapped; the worker then runs without one (a restart loses its connections). */
export class JournalError extends Error {
  constructor(file: string, what: string) { super(`${file}: ${what}`); this.name = 'JournalError'; }
}

export class ConnJournal {
  private readonly mem: Mem;
  private readonly len: number;
  private readonly u8: Uint8Array;
  private readonly dv: DataView;
  private readonly slots: number;
  private high = 0;
  /** Handle → list index, and the identity it was written for (a reused handle is another real server). */
  private listIdx = new Int32Array(64).fill(-1);
  private listOf: (object | null)[] = [];
  private readonly list: DestRef[] = [];
  private listSeq = 0;
  /** The list no longer fits its area: said once. */
  listFull = false;
  private readonly store: ConnStore;
  private readonly dests: JournalDests;
  readonly file: string;

  constructor(o: JournalOptions, store: ConnStore, dests: JournalDests) {
    this.store = store;
    this.dests = dests;
    this.slots = o.slots;
    this.file = snapshotPath(o.dir, o.worker);
    const tmp = `${this.file}.tmp`;
    this.len = fileBytes(o.slots);
    let fd = -1;
    try {
      rmSync(tmp, { force: true });
      fd = openSync(tmp, 'w+', 0o600);
      // sparse: only the pages entries touch take memory (tmpfs) or disk
      ftruncateSync(fd, this.len);
      this.mem = new Mem(this.len, fd);
      this.u8 = this.mem.u8;
      this.dv = this.mem.dv;
    } catch (e) {
      if (fd >= 0) closeSync(fd);
      rmSync(tmp, { force: true });
      throw e instanceof JournalError ? e : new JournalError(this.file, (e as Error).message);
    } finally { /* the mapping outlives the descriptor */ }
    closeSync(fd);
    for (let i = 0; i < 8; i++) this.u8[i] = SNAPSHOT_MAGIC.charCodeAt(i);
    const dv = this.dv;
    dv.setUint32(H_LAYOUT, SNAPSHOT_LAYOUT);
    dv.setUint32(H_HEADER, HEADER_BYTES);
    dv.setUint32(H_RECORD, RECORD_BYTES);
    dv.setUint32(H_SLOTS, o.slots);
    dv.setUint32(H_WORKER, o.worker);
    dv.setUint32(H_WORKERS, o.workers);
    dv.setUint32(H_GEN, o.generation >>> 0);
    dv.setUint32(H_DESTAREA, DEST_AREA_BYTES);
    this.heartbeat(Date.now());
    this.writeList();
  }

  /** The file takes the place of the previous daemon's (read already): from now on it is what a restart finds. */
  publish(): void { renameSync(`${this.file}.tmp`, this.file); }

  /** Once a second: the time a crash is taken to have happened at. */
  heartbeat(wallNow: number): void { this.dv.setFloat64(H_STAMP, wallNow); }

  /** Entry e as it is now. The record's af is written last: a crash mid-write leaves a free slot or the whole record. */
  write(e: number): void {
    if (e >= this.slots) return;
    const s = this.store, dv = this.dv, o = HEADER_BYTES + e * RECORD_BYTES;
    const fresh = dv.getUint8(o + R_AF) === 0;
    if (fresh) {
      if (e >= this.high) { this.high = e + 1; dv.setUint32(H_HIGH, this.high); }
      for (let w = 0; w < 3; w++) for (let i = 0; i < 4; i++) dv.setUint32(o + R_ADDR + w * 16 + i * 4, s.addrWord(e, w, i), true);
    } else {
      // addresses do not change while an entry lives; ports may (fillCport, a template re-keyed)
    }
    dv.setUint8(o + R_PROTO, s.proto[e]!);
    dv.setUint8(o + R_STATE, s.state[e]!);
    dv.setUint16(o + R_CPORT, s.cport[e]!, true);
    dv.setUint16(o + R_VPORT, s.vport[e]!, true);
    dv.setUint16(o + R_DPORT, s.dport[e]!, true);
    dv.setUint32(o + R_FLAGS, s.flags[e]!, true);
    dv.setInt32(o + R_DEST, this.listIndex(s.dest[e]!), true);
    dv.setUint32(o + R_TIMEOUT, s.timeout[e]!, true);
    dv.setInt32(o + R_LEFT, s.timeout[e]!, true);
    dv.setInt32(o + R_CONTROL, s.control[e]!, true);
    dv.setUint32(o + R_INPKTS, s.inPkts[e]!, true);
    dv.setUint32(o + R_FWMARK, s.fwmark[e]!, true);
    if (fresh) dv.setUint8(o + R_AF, s.af[e]!);
  }

  /** Entry e was freed. */
  clear(e: number): void {
    if (e < this.slots) this.dv.setUint8(HEADER_BYTES + e * RECORD_BYTES + R_AF, 0);
  }

  /**
   * A clean stop: every entry's exact time left (and its counters as they
   * are), and the stamp they count from. The file stays for the next daemon.
   */
  finish(wallNow: number): void {
    const s = this.store;
    for (let e = 0; e < s.end && e < this.slots; e++) {
      if (s.af[e] === 0) continue;
      this.write(e);
      this.dv.setInt32(HEADER_BYTES + e * RECORD_BYTES + R_LEFT, Math.max(0, Math.min(0x7fffffff, Math.round(s.expires[e]! - s.now))), true);
    }
    this.heartbeat(wallNow);
    this.dv.setUint32(H_CLEAN, 1);
  }

  close(): void { this.mem.free(); }

  private listIndex(h: number): number {
    if (h < 0) return -1;
    const id = this.dests.identity(h);
    if (h < this.listIdx.length && this.listIdx[h]! >= 0 && this.listOf[h] === id) return this.listIdx[h]!;
    const ref = this.dests.ref(h);
    if (!ref) return -1;
    if (h >= this.listIdx.length) {
      const n = new Int32Array(Math.max(h + 1, this.listIdx.length * 2)).fill(-1);
      n.set(this.listIdx);
      this.listIdx = n;
    }
    // a real server seen for the first time (or a handle reused): once per real server, not per entry
    this.list.push(ref);
    this.listIdx[h] = this.list.length - 1;
    this.listOf[h] = id;
    this.writeList();
    return this.list.length - 1;
  }

  private writeList(): void {
    this.listSeq++;
    if (!writeDestArea(this.u8, this.dv, this.slots, this.listSeq & 1, this.listSeq, this.list)) this.listFull = true;
  }
}

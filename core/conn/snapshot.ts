// Connection entries that outlive the process (README "Restarts"). Each
// data-plane worker keeps its entries in a file under the state folder,
// `conns-<worker>.bin`, mapped MAP_SHARED (journal.ts): a record per entry,
// rewritten when the entry is created, changes state or flags, or is freed —
// not per packet. The file is the kernel's page cache: a crash (SIGKILL) leaves
// every record as last written. The next daemon reads every such file,
// validates it (magic, layout version, sizes, per-record and real-server-list
// checks), and each of its workers re-creates the entries the fanout hash
// gives it, so a different number of workers still finds every connection.
//
// A record names its real server by an index into a list of (service, real
// server) kept in the same file (handles are per process), its controller
// (persistence template) by its record number. Timers: a record holds the
// entry's state timeout; a clean stop writes the exact time left instead.
// Either counts from the header's stamp (a heartbeat once a second, or the
// stop), so time spent down counts against every entry.

import { closeSync, openSync, readdirSync, readSync, rmSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceKey } from '../model/types.js';
import { CF_HASHED, CF_TEMPLATE } from './states.js';
import { AF_INET, AF_INET6 } from './store.js';
import type { ConnTable } from './table.js';

export const SNAPSHOT_MAGIC = 'LVSDCONN';
/** Bumped whenever the header, record or list layout changes: a file of another layout is refused, never misread. */
export const SNAPSHOT_LAYOUT = 2;
export const HEADER_BYTES = 64;
export const RECORD_BYTES = 88;
/** Each of the two real-server list areas (written alternately: a crash mid-write leaves the other whole). */
export const DEST_AREA_BYTES = 1 << 20;
const DEST_AREA_HEAD = 16;

// header offsets
export const H_LAYOUT = 8, H_HEADER = 12, H_RECORD = 16, H_SLOTS = 20, H_HIGH = 24, H_WORKER = 28, H_WORKERS = 32,
  H_GEN = 36, H_STAMP = 40, H_CLEAN = 48, H_DESTAREA = 52;
// record offsets
export const R_AF = 0, R_PROTO = 1, R_STATE = 2, R_CPORT = 4, R_VPORT = 6, R_DPORT = 8, R_FLAGS = 12, R_DEST = 16,
  R_TIMEOUT = 20, R_LEFT = 24, R_CONTROL = 28, R_INPKTS = 32, R_FWMARK = 36, R_ADDR = 40;

/** Bytes of a journal file of `slots` records. */
export const fileBytes = (slots: number): number => HEADER_BYTES + slots * RECORD_BYTES + 2 * DEST_AREA_BYTES;

/** A real server as a snapshot names it: its service and its address. */
export interface DestRef { svc: ServiceKey; family: 'inet' | 'inet6'; addr: string; port: number }

/** A validated snapshot: what a worker restores from (plain data: it crosses to the worker threads). */
export interface Snapshot {
  file: string;
  worker: number;
  workers: number;
  generation: number;
  /** Wall clock (ms since the epoch) the records' times count from. */
  stamp: number;
  /** Written by a clean stop (exact times left) rather than left by a crash. */
  clean: boolean;
  dests: DestRef[];
  /** Records 0..count-1 (RECORD_BYTES each; af 0: a free slot). */
  count: number;
  records: Uint8Array;
  /** Records skipped as inconsistent (torn by a crash mid-write). */
  torn: number;
}

/** Why a file was not used: said to the operator, the file is then ignored (the daemon starts without its entries). */
export class SnapshotError extends Error {
  constructor(readonly file: string, reason: string) {
    super(`${file}: ${reason}; its connection entries are not restored`);
    this.name = 'SnapshotError';
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(b: Uint8Array, from = 0, to = b.length): number {
  let c = 0xffffffff;
  for (let i = from; i < to; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Writes a real-server list into area `which` (0/1) of a journal's bytes; false when it does not fit. */
export function writeDestArea(u8: Uint8Array, dv: DataView, slots: number, which: number, seq: number, dests: readonly DestRef[]): boolean {
  const json = new TextEncoder().encode(JSON.stringify(dests));
  if (json.length > DEST_AREA_BYTES - DEST_AREA_HEAD) return false;
  const at = HEADER_BYTES + slots * RECORD_BYTES + which * DEST_AREA_BYTES;
  dv.setUint32(at, 0); // invalid while written
  u8.set(json, at + DEST_AREA_HEAD);
  dv.setUint32(at + 4, json.length);
  dv.setUint32(at + 8, crc32(json));
  dv.setUint32(at, seq);
  return true;
}

function isDestRef(x: unknown): x is DestRef {
  if (typeof x !== 'object' || x === null) return false;
  const d = x as Record<string, unknown>;
  const s = d['svc'] as Record<string, unknown> | undefined;
  return (d['family'] === 'inet' || d['family'] === 'inet6') && typeof d['addr'] === 'string' && typeof d['port'] === 'number'
    && typeof s === 'object' && s !== null
    && (s['family'] === 'inet' || s['family'] === 'inet6') && typeof s['protocol'] === 'string'
    && typeof s['addr'] === 'string' && typeof s['port'] === 'number' && typeof s['fwmark'] === 'number';
}

function readAt(fd: number, at: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, b, got, len - got, at + got);
    if (n <= 0) break;
    got += n;
  }
  return got === len ? b : b.subarray(0, got);
}

/**
 * Reads and validates one journal file: only its header, the records up to
 * its high-water mark and its real-server lists (the file is sized for the
 * table's maximum and mostly holes). Records go into shared memory, read by
 * every worker without a copy each.
 */
export function readSnapshot(file: string): Snapshot | SnapshotError {
  let fd: number;
  try { fd = openSync(file, 'r'); } catch (e) { return new SnapshotError(file, (e as Error).message); }
  try {
    const size = fstatSync(fd).size;
    const h = readAt(fd, 0, HEADER_BYTES);
    if (h.length < HEADER_BYTES) return new SnapshotError(file, `too short for a header (${size} bytes)`);
    let magic = '';
    for (let i = 0; i < 8; i++) magic += String.fromCharCode(h[i]!);
    if (magic !== SNAPSHOT_MAGIC) return new SnapshotError(file, 'not an lvsd connection file (bad magic)');
    const dv = new DataView(h.buffer);
    const layout = dv.getUint32(H_LAYOUT);
    if (layout !== SNAPSHOT_LAYOUT || dv.getUint32(H_HEADER) !== HEADER_BYTES || dv.getUint32(H_RECORD) !== RECORD_BYTES
      || dv.getUint32(H_DESTAREA) !== DEST_AREA_BYTES) {
      return new SnapshotError(file, `layout version ${layout} (header ${dv.getUint32(H_HEADER)} B, records ${dv.getUint32(H_RECORD)} B), this lvsd reads version ${SNAPSHOT_LAYOUT} (${HEADER_BYTES} B, ${RECORD_BYTES} B)`);
    }
    const slots = dv.getUint32(H_SLOTS), high = dv.getUint32(H_HIGH);
    if (size !== fileBytes(slots)) return new SnapshotError(file, `${size} bytes where the header announces ${fileBytes(slots)} (truncated?)`);
    if (high > slots) return new SnapshotError(file, `high-water mark ${high} beyond its ${slots} slots`);
    // the newer whole real-server list of the two
    let dests: DestRef[] | null = null, best = 0;
    for (let which = 0; which < 2; which++) {
      const at = HEADER_BYTES + slots * RECORD_BYTES + which * DEST_AREA_BYTES;
      const ah = new DataView(readAt(fd, at, DEST_AREA_HEAD).buffer);
      const seq = ah.getUint32(0), len = ah.getUint32(4);
      if (seq === 0 || seq <= best || len > DEST_AREA_BYTES - DEST_AREA_HEAD) continue;
      const json = readAt(fd, at + DEST_AREA_HEAD, len);
      if (crc32(json) !== ah.getUint32(8)) continue;
      let v: unknown;
      try { v = JSON.parse(new TextDecoder().decode(json)); } catch { continue; }
      if (Array.isArray(v) && v.every(isDestRef)) { dests = v as DestRef[]; best = seq; }
    }
    if (dests === null) dests = [];
    const raw = readAt(fd, HEADER_BYTES, high * RECORD_BYTES);
    if (raw.length !== high * RECORD_BYTES) return new SnapshotError(file, 'records cut short');
    const records = new Uint8Array(new SharedArrayBuffer(raw.length));
    records.set(raw);
    // a record a crash tore (or one naming a list entry the crash kept from being written) is left out, not the file
    const rv = new DataView(records.buffer);
    let torn = 0;
    for (let r = 0; r < high; r++) {
      const o = r * RECORD_BYTES;
      const af = rv.getUint8(o + R_AF);
      if (af === 0) continue;
      const di = rv.getInt32(o + R_DEST, true), c = rv.getInt32(o + R_CONTROL, true);
      if ((af !== AF_INET && af !== AF_INET6) || di < -1 || di >= dests.length || c < -1 || c >= high) { rv.setUint8(o + R_AF, 0); torn++; }
    }
    return {
      file, worker: dv.getUint32(H_WORKER), workers: dv.getUint32(H_WORKERS), generation: dv.getUint32(H_GEN),
      stamp: dv.getFloat64(H_STAMP), clean: dv.getUint32(H_CLEAN) === 1, dests, count: high, records, torn,
    };
  } finally { closeSync(fd); }
}

const FILE_RE = /^conns-(\d+)\.bin$/;

export function snapshotPath(dir: string, worker: number): string { return join(dir, `conns-${worker}.bin`); }

/** Every journal file in `dir`, newest first, and the files refused (with why). A missing dir is none. */
export function readSnapshots(dir: string): { snapshots: Snapshot[]; refused: SnapshotError[] } {
  const snapshots: Snapshot[] = [], refused: SnapshotError[] = [];
  let names: string[];
  try { names = readdirSync(dir); } catch { return { snapshots, refused }; }
  for (const name of names) {
    if (!FILE_RE.test(name)) continue;
    const r = readSnapshot(join(dir, name));
    if (r instanceof SnapshotError) refused.push(r); else snapshots.push(r);
  }
  snapshots.sort((a, b) => b.stamp - a.stamp);
  return { snapshots, refused };
}

/** Files of workers this daemon does not have (fewer workers than before): their entries live on in the others' files. */
export function removeSnapshotsFrom(dir: string, workers: number): void {
  let names: string[];
  try { names = readdirSync(dir); } catch { return; }
  for (const name of names) {
    const m = FILE_RE.exec(name);
    if (m && Number(m[1]) >= workers) rmSync(join(dir, name), { force: true });
  }
}

/** Every saved entry's file (lvsd --release: the state goes with the takeover). */
export function removeAllSnapshots(dir: string): void { removeSnapshotsFrom(dir, 0); }

export interface RestoreOptions {
  /** A real server's handle in this table, or -1 when it no longer exists (its entries are dropped). */
  handle: (ref: DestRef) => number;
  /**
   * Whether this worker owns the connection (the fanout hash of its client
   * side). `ca`/`va` hold the client and virtual addresses (4 words).
   */
  owns: (af: number, proto: number, ca: Uint32Array, cport: number, va: Uint32Array, vport: number) => boolean;
  wallNow: number;
}

export interface RestoreResult { restored: number; expired: number; noDest: number; duplicate: number }

/**
 * Re-creates the entries this table owns from the snapshots (newest first:
 * an entry found in two files is taken from the newer). Time spent between
 * the save and now counts against each entry's timer.
 */
export function restoreSnapshots(t: ConnTable, snaps: readonly Snapshot[], o: RestoreOptions): RestoreResult {
  const res: RestoreResult = { restored: 0, expired: 0, noDest: 0, duplicate: 0 };
  const s = t.s;
  for (const snap of snaps) {
    const v = new DataView(snap.records.buffer, snap.records.byteOffset, snap.records.byteLength), n = snap.count;
    const handles = snap.dests.map((d) => o.handle(d));
    const gap = Math.max(0, o.wallNow - snap.stamp);
    const made = new Int32Array(n).fill(-1);
    // an owned connection takes its controller along (templates are per worker, as the workers' tables are)
    const want = new Uint8Array(n);
    for (let r = 0; r < n; r++) {
      const at = r * RECORD_BYTES;
      if (v.getUint8(at + R_AF) === 0 || (v.getUint32(at + R_FLAGS, true) & CF_TEMPLATE)) continue;
      readAddrs(v, at, s.ca, s.va, s.da);
      if (!o.owns(v.getUint8(at + R_AF), v.getUint8(at + R_PROTO), s.ca, v.getUint16(at + R_CPORT, true), s.va, v.getUint16(at + R_VPORT, true))) continue;
      want[r] = 1;
      for (let c = v.getInt32(at + R_CONTROL, true), k = 0; c >= 0 && k < 4; c = v.getInt32(c * RECORD_BYTES + R_CONTROL, true), k++) want[c] = 1;
    }
    // templates nothing controls any more go to the worker their client address hashes to
    for (let r = 0; r < n; r++) {
      const at = r * RECORD_BYTES;
      if (want[r] || v.getUint8(at + R_AF) === 0 || (v.getUint32(at + R_FLAGS, true) & CF_TEMPLATE) === 0) continue;
      readAddrs(v, at, s.ca, s.va, s.da);
      if (o.owns(v.getUint8(at + R_AF), v.getUint8(at + R_PROTO), s.ca, 0, s.va, v.getUint16(at + R_VPORT, true))) want[r] = 1;
    }
    // controllers first (templates), then what they control
    for (let pass = 0; pass < 2; pass++) {
      for (let r = 0; r < n; r++) {
        const at = r * RECORD_BYTES;
        if (!want[r] || v.getUint8(at + R_AF) === 0) continue;
        const flags = v.getUint32(at + R_FLAGS, true);
        if ((pass === 0) !== ((flags & CF_TEMPLATE) !== 0)) continue;
        const left = v.getInt32(at + R_LEFT, true) - gap;
        if (left <= 0) { res.expired++; continue; }
        const di = v.getInt32(at + R_DEST, true);
        const h = di >= 0 ? handles[di]! : -1;
        if (di >= 0 && h < 0) { res.noDest++; continue; }
        const af = v.getUint8(at + R_AF), proto = v.getUint8(at + R_PROTO);
        readAddrs(v, at, s.ca, s.va, s.da);
        const cport = v.getUint16(at + R_CPORT, true), vport = v.getUint16(at + R_VPORT, true);
        if ((flags & CF_HASHED) && t.findSame(af, proto, cport, vport, (flags & CF_TEMPLATE) !== 0)) { res.duplicate++; continue; }
        const e = t.restoreEntry(af, proto, v.getUint8(at + R_STATE), cport, vport, v.getUint16(at + R_DPORT, true), flags, h,
          v.getUint32(at + R_FWMARK, true), v.getUint32(at + R_TIMEOUT, true), left, v.getUint32(at + R_INPKTS, true));
        if (e < 0) return res; // the table is full: what was restored stays
        made[r] = e;
        res.restored++;
        const c = v.getInt32(at + R_CONTROL, true);
        if (c >= 0 && made[c]! >= 0) t.attach(e, made[c]!);
      }
    }
  }
  return res;
}

function readAddrs(v: DataView, at: number, ca: Uint32Array, va: Uint32Array, da: Uint32Array): void {
  for (let i = 0; i < 4; i++) {
    ca[i] = v.getUint32(at + R_ADDR + i * 4, true);
    va[i] = v.getUint32(at + R_ADDR + 16 + i * 4, true);
    da[i] = v.getUint32(at + R_ADDR + 32 + i * 4, true);
  }
}

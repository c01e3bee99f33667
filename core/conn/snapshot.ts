// Connection entries that outlive the process (README "Restarts"). Each
// data-plane worker writes its table to `<state dir>/conns-<worker>.bin` once a
// second and when it stops (written to a temporary file and renamed: a crash
// leaves the last complete snapshot, never half of one). The next daemon reads
// every such file, validates it (magic, layout version, sizes, checksum), and
// each of its workers re-creates the entries the fanout hash gives it, so a
// different number of workers still finds every connection.
//
// Entries name their real server by service and address (handles are per
// process), expiries are kept as wall-clock times (worker clocks restart at 0),
// controllers (persistence templates) by their record number.

import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceKey } from '../model/types.js';
import { CF_HASHED, CF_TEMPLATE } from './states.js';
import { AF_INET, AF_INET6 } from './store.js';
import type { ConnTable } from './table.js';

export const SNAPSHOT_MAGIC = 'LVSDCONN';
/** Bumped whenever the header or record layout changes: a file of another layout is refused, never misread. */
export const SNAPSHOT_LAYOUT = 1;
export const HEADER_BYTES = 64;
export const RECORD_BYTES = 88;

// header offsets
const H_LAYOUT = 8, H_HEADER = 12, H_RECORD = 16, H_COUNT = 20, H_DESTS = 24, H_WORKER = 28, H_WORKERS = 32,
  H_GEN = 36, H_SAVED = 40, H_CRC = 48;
// record offsets
const R_AF = 0, R_PROTO = 1, R_STATE = 2, R_CPORT = 4, R_VPORT = 6, R_DPORT = 8, R_FLAGS = 12, R_DEST = 16,
  R_TIMEOUT = 20, R_LEFT = 24, R_CONTROL = 28, R_INPKTS = 32, R_FWMARK = 36, R_ADDR = 40;

/** A real server as a snapshot names it: its service and its address. */
export interface DestRef { svc: ServiceKey; family: 'inet' | 'inet6'; addr: string; port: number }

/** A validated snapshot file. */
export interface Snapshot {
  worker: number;
  workers: number;
  generation: number;
  /** Wall clock (ms since the epoch) of the save. */
  savedAt: number;
  dests: DestRef[];
  count: number;
  /** The records, RECORD_BYTES each. */
  view: DataView;
  file: string;
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

export interface SaveMeta { worker: number; workers: number; generation: number; wallNow: number }

/**
 * Every live entry of the table as a snapshot. `destRef` names a handle's real
 * server (null: the entry is left out, as are the entries it controls).
 */
export function encodeSnapshot(t: ConnTable, destRef: (h: number) => DestRef | null, meta: SaveMeta): Uint8Array {
  const s = t.s;
  const dests: DestRef[] = [];
  const destIdx = new Map<number, number>();
  const recOf = new Int32Array(s.end).fill(-1);
  let n = 0;
  for (let e = 0; e < s.end; e++) if (s.af[e] !== 0) recOf[e] = n++;
  const json = new TextEncoder();
  const buf = new Uint8Array(HEADER_BYTES + n * RECORD_BYTES);
  const dv = new DataView(buf.buffer);
  let r = 0;
  for (let e = 0; e < s.end; e++) {
    if (s.af[e] === 0) continue;
    const o = HEADER_BYTES + r * RECORD_BYTES;
    r++;
    const h = s.dest[e]!;
    let di = -1;
    if (h >= 0) {
      const known = destIdx.get(h);
      if (known !== undefined) di = known;
      else {
        const ref = destRef(h);
        if (ref) { di = dests.length; dests.push(ref); }
        destIdx.set(h, di);
      }
    }
    dv.setUint8(o + R_AF, s.af[e]!);
    dv.setUint8(o + R_PROTO, s.proto[e]!);
    dv.setUint8(o + R_STATE, s.state[e]!);
    dv.setUint16(o + R_CPORT, s.cport[e]!);
    dv.setUint16(o + R_VPORT, s.vport[e]!);
    dv.setUint16(o + R_DPORT, s.dport[e]!);
    dv.setUint32(o + R_FLAGS, s.flags[e]!);
    dv.setInt32(o + R_DEST, di);
    dv.setUint32(o + R_TIMEOUT, s.timeout[e]!);
    dv.setInt32(o + R_LEFT, Math.max(0, Math.min(0x7fffffff, Math.round(s.expires[e]! - s.now))));
    const c = s.control[e]!;
    dv.setInt32(o + R_CONTROL, c >= 0 ? recOf[c]! : -1);
    dv.setUint32(o + R_INPKTS, s.inPkts[e]!);
    dv.setUint32(o + R_FWMARK, s.fwmark[e]!);
    for (let w = 0; w < 3; w++) for (let i = 0; i < 4; i++) dv.setUint32(o + R_ADDR + w * 16 + i * 4, s.addrWord(e, w, i));
  }
  const destBytes = json.encode(JSON.stringify(dests));
  const out = new Uint8Array(buf.length + destBytes.length);
  out.set(buf);
  out.set(destBytes, buf.length);
  const ov = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = SNAPSHOT_MAGIC.charCodeAt(i);
  ov.setUint32(H_LAYOUT, SNAPSHOT_LAYOUT);
  ov.setUint32(H_HEADER, HEADER_BYTES);
  ov.setUint32(H_RECORD, RECORD_BYTES);
  ov.setUint32(H_COUNT, n);
  ov.setUint32(H_DESTS, destBytes.length);
  ov.setUint32(H_WORKER, meta.worker);
  ov.setUint32(H_WORKERS, meta.workers);
  ov.setUint32(H_GEN, meta.generation >>> 0);
  ov.setFloat64(H_SAVED, meta.wallNow);
  ov.setUint32(H_CRC, crc32(out, HEADER_BYTES));
  return out;
}

function isDestRef(x: unknown): x is DestRef {
  if (typeof x !== 'object' || x === null) return false;
  const d = x as Record<string, unknown>;
  const s = d['svc'] as Record<string, unknown> | undefined;
  return (d['family'] === 'inet' || d['family'] === 'inet6') && typeof d['addr'] === 'string' && typeof d['port'] === 'number' && typeof s === 'object' && s !== null
    && (s['family'] === 'inet' || s['family'] === 'inet6') && typeof s['protocol'] === 'string'
    && typeof s['addr'] === 'string' && typeof s['port'] === 'number' && typeof s['fwmark'] === 'number';
}

/** A file's bytes as a snapshot, or why not (another layout, truncated, corrupted, not lvsd's). */
export function decodeSnapshot(file: string, b: Uint8Array): Snapshot | SnapshotError {
  if (b.length < HEADER_BYTES) return new SnapshotError(file, `too short for a header (${b.length} bytes)`);
  let magic = '';
  for (let i = 0; i < 8; i++) magic += String.fromCharCode(b[i]!);
  if (magic !== SNAPSHOT_MAGIC) return new SnapshotError(file, 'not an lvsd connection snapshot (bad magic)');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const layout = dv.getUint32(H_LAYOUT);
  if (layout !== SNAPSHOT_LAYOUT || dv.getUint32(H_HEADER) !== HEADER_BYTES || dv.getUint32(H_RECORD) !== RECORD_BYTES) {
    return new SnapshotError(file, `layout version ${layout} (header ${dv.getUint32(H_HEADER)} B, records ${dv.getUint32(H_RECORD)} B), this lvsd reads version ${SNAPSHOT_LAYOUT} (${HEADER_BYTES} B, ${RECORD_BYTES} B)`);
  }
  const count = dv.getUint32(H_COUNT), destLen = dv.getUint32(H_DESTS);
  const want = HEADER_BYTES + count * RECORD_BYTES + destLen;
  if (b.length !== want) return new SnapshotError(file, `${b.length} bytes where the header announces ${want}`);
  if (crc32(b, HEADER_BYTES) !== dv.getUint32(H_CRC)) return new SnapshotError(file, 'checksum mismatch (corrupted)');
  let dests: unknown;
  try { dests = JSON.parse(new TextDecoder().decode(b.subarray(HEADER_BYTES + count * RECORD_BYTES))); } catch { dests = null; }
  if (!Array.isArray(dests) || !dests.every(isDestRef)) return new SnapshotError(file, 'unreadable real server list');
  const view = new DataView(b.buffer, b.byteOffset + HEADER_BYTES, count * RECORD_BYTES);
  for (let r = 0; r < count; r++) {
    const af = view.getUint8(r * RECORD_BYTES + R_AF), di = view.getInt32(r * RECORD_BYTES + R_DEST), c = view.getInt32(r * RECORD_BYTES + R_CONTROL);
    if ((af !== AF_INET && af !== AF_INET6) || di < -1 || di >= dests.length || c < -1 || c >= count) {
      return new SnapshotError(file, `record ${r} is inconsistent`);
    }
  }
  return {
    worker: dv.getUint32(H_WORKER), workers: dv.getUint32(H_WORKERS), generation: dv.getUint32(H_GEN),
    savedAt: dv.getFloat64(H_SAVED), dests: dests as DestRef[], count, view, file,
  };
}

const FILE_RE = /^conns-(\d+)\.bin$/;

export function snapshotPath(dir: string, worker: number): string { return join(dir, `conns-${worker}.bin`); }

/** Written whole or not at all (rename is atomic): a crash mid-write leaves the previous snapshot. */
export function writeSnapshot(dir: string, worker: number, bytes: Uint8Array): void {
  const p = snapshotPath(dir, worker);
  writeFileSync(`${p}.tmp`, bytes, { mode: 0o600 });
  renameSync(`${p}.tmp`, p);
}

/** Every snapshot in `dir`, newest first, and the files refused (with why). A missing dir is no snapshot. */
export function readSnapshots(dir: string): { snapshots: Snapshot[]; refused: SnapshotError[] } {
  const snapshots: Snapshot[] = [], refused: SnapshotError[] = [];
  let names: string[];
  try { names = readdirSync(dir); } catch { return { snapshots, refused }; }
  for (const name of names) {
    if (!FILE_RE.test(name)) continue;
    const file = join(dir, name);
    let b: Buffer;
    try { b = readFileSync(file); } catch (e) { refused.push(new SnapshotError(file, (e as Error).message)); continue; }
    const r = decodeSnapshot(file, new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    if (r instanceof SnapshotError) refused.push(r); else snapshots.push(r);
  }
  snapshots.sort((a, b) => b.savedAt - a.savedAt);
  return { snapshots, refused };
}

/** Snapshots of workers this daemon does not have (fewer workers than before): their entries live on in the others' files. */
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
    const v = snap.view, n = snap.count;
    const handles = snap.dests.map((d) => o.handle(d));
    const gap = Math.max(0, o.wallNow - snap.savedAt);
    const made = new Int32Array(n).fill(-1);
    // an owned connection takes its controller along (templates are per worker, as the workers' tables are)
    const want = new Uint8Array(n);
    for (let r = 0; r < n; r++) {
      const at = r * RECORD_BYTES;
      if (v.getUint32(at + R_FLAGS) & CF_TEMPLATE) continue;
      readAddrs(v, at, s.ca, s.va, s.da);
      if (!o.owns(v.getUint8(at + R_AF), v.getUint8(at + R_PROTO), s.ca, v.getUint16(at + R_CPORT), s.va, v.getUint16(at + R_VPORT))) continue;
      want[r] = 1;
      for (let c = v.getInt32(at + R_CONTROL), k = 0; c >= 0 && k < 4; c = v.getInt32(c * RECORD_BYTES + R_CONTROL), k++) want[c] = 1;
    }
    // templates nothing controls any more go to the worker their client address hashes to
    for (let r = 0; r < n; r++) {
      const at = r * RECORD_BYTES;
      if (want[r] || (v.getUint32(at + R_FLAGS) & CF_TEMPLATE) === 0) continue;
      readAddrs(v, at, s.ca, s.va, s.da);
      if (o.owns(v.getUint8(at + R_AF), v.getUint8(at + R_PROTO), s.ca, 0, s.va, v.getUint16(at + R_VPORT))) want[r] = 1;
    }
    // controllers first (templates), then what they control
    for (let pass = 0; pass < 2; pass++) {
      for (let r = 0; r < n; r++) {
        if (!want[r]) continue;
        const at = r * RECORD_BYTES;
        const flags = v.getUint32(at + R_FLAGS);
        if ((pass === 0) !== ((flags & CF_TEMPLATE) !== 0)) continue;
        const left = v.getInt32(at + R_LEFT) - gap;
        if (left <= 0) { res.expired++; continue; }
        const di = v.getInt32(at + R_DEST);
        const h = di >= 0 ? handles[di]! : -1;
        if (di >= 0 && h < 0) { res.noDest++; continue; }
        const af = v.getUint8(at + R_AF), proto = v.getUint8(at + R_PROTO);
        readAddrs(v, at, s.ca, s.va, s.da);
        const cport = v.getUint16(at + R_CPORT), vport = v.getUint16(at + R_VPORT);
        if ((flags & CF_HASHED) && t.findSame(af, proto, cport, vport, (flags & CF_TEMPLATE) !== 0)) { res.duplicate++; continue; }
        const e = t.restoreEntry(af, proto, v.getUint8(at + R_STATE), cport, vport, v.getUint16(at + R_DPORT), flags, h,
          v.getUint32(at + R_FWMARK), v.getUint32(at + R_TIMEOUT), left, v.getUint32(at + R_INPKTS));
        if (e < 0) return res; // the table is full: what was restored stays
        made[r] = e;
        res.restored++;
        const c = v.getInt32(at + R_CONTROL);
        if (c >= 0 && made[c]! >= 0) t.attach(e, made[c]!);
      }
    }
  }
  return res;
}

function readAddrs(v: DataView, at: number, ca: Uint32Array, va: Uint32Array, da: Uint32Array): void {
  for (let i = 0; i < 4; i++) {
    ca[i] = v.getUint32(at + R_ADDR + i * 4);
    va[i] = v.getUint32(at + R_ADDR + 16 + i * 4);
    da[i] = v.getUint32(at + R_ADDR + 32 + i * 4);
  }
}

// Classic libpcap files (not pcapng): a 24-byte global header and a 16-byte
// header per record. Both byte orders are read; written files are
// little-endian. Microsecond (0xa1b2c3d4) and nanosecond (0xa1b23c4d) magics.

export const LINKTYPE_ETHERNET = 1;
export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;

export interface PcapRecord {
  /** seconds since the epoch */
  sec: number;
  /** microseconds or nanoseconds by the file's resolution */
  frac: number;
  /** length on the wire (may exceed data.length when snapped) */
  origLen: number;
  /** a view into the file buffer (no copy) */
  data: Uint8Array;
}

export type PcapError = 'short-header' | 'bad-magic' | 'bad-version' | 'truncated-record' | 'record-too-long';

export interface PcapFile {
  nano: boolean;
  linktype: number;
  snaplen: number;
  littleEndian: boolean;
  records: PcapRecord[];
  /** Set when the file ends inside a record (the records before it are kept). */
  error?: PcapError;
}

export function pcapHeader(opts: { nano?: boolean; snaplen?: number; linktype?: number } = {}): Uint8Array {
  const h = new Uint8Array(24);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, opts.nano ? PCAP_MAGIC_NS : PCAP_MAGIC_US, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setInt32(8, 0, true);
  dv.setUint32(12, 0, true);
  dv.setUint32(16, opts.snaplen ?? 262144, true);
  dv.setUint32(20, opts.linktype ?? LINKTYPE_ETHERNET, true);
  return h;
}

/** Accumulates records in memory; toBytes() gives the whole file. */
export class PcapWriter {
  private readonly chunks: Uint8Array[];
  private size: number;
  readonly nano: boolean;
  readonly snaplen: number;

  constructor(opts: { nano?: boolean; snaplen?: number; linktype?: number } = {}) {
    this.nano = opts.nano ?? false;
    this.snaplen = opts.snaplen ?? 262144;
    const h = pcapHeader(opts);
    this.chunks = [h];
    this.size = h.length;
  }

  /** Add a frame; time as milliseconds since the epoch (a double: sub-ms digits are approximate, use addRaw). */
  add(frame: Uint8Array, timeMs = 0, origLen = frame.length): void {
    const sec = Math.floor(timeMs / 1000);
    const sub = timeMs - sec * 1000;
    const frac = Math.min(Math.round(sub * (this.nano ? 1e6 : 1e3)), this.nano ? 999999999 : 999999);
    this.addRaw(frame, sec, frac, origLen);
  }

  /** Add a frame with an exact timestamp: seconds and micro/nanoseconds by the file's resolution. */
  addRaw(frame: Uint8Array, sec: number, frac: number, origLen = frame.length): void {
    const cap = Math.min(frame.length, this.snaplen);
    const rec = new Uint8Array(16 + cap);
    const dv = new DataView(rec.buffer);
    dv.setUint32(0, sec >>> 0, true);
    dv.setUint32(4, frac >>> 0, true);
    dv.setUint32(8, cap, true);
    dv.setUint32(12, origLen, true);
    rec.set(frame.subarray(0, cap), 16);
    this.chunks.push(rec);
    this.size += rec.length;
  }

  toBytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.length; }
    return out;
  }
}

/** Read a whole classic pcap file. Errors come back as values; a bad header gives no records. */
export function readPcap(buf: Uint8Array): PcapFile | { error: PcapError } {
  if (buf.length < 24) return { error: 'short-header' };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const mLE = dv.getUint32(0, true);
  let le: boolean;
  let nano: boolean;
  if (mLE === PCAP_MAGIC_US || mLE === PCAP_MAGIC_NS) { le = true; nano = mLE === PCAP_MAGIC_NS; }
  else {
    const mBE = dv.getUint32(0, false);
    if (mBE !== PCAP_MAGIC_US && mBE !== PCAP_MAGIC_NS) return { error: 'bad-magic' };
    le = false; nano = mBE === PCAP_MAGIC_NS;
  }
  if (dv.getUint16(4, le) !== 2) return { error: 'bad-version' };
  const snaplen = dv.getUint32(16, le);
  // The link type sits in the low 16 bits (upper bits: FCS info).
  const linktype = dv.getUint32(20, le) & 0xffff;
  const file: PcapFile = { nano, linktype, snaplen, littleEndian: le, records: [] };
  let p = 24;
  while (p < buf.length) {
    if (p + 16 > buf.length) { file.error = 'truncated-record'; break; }
    const incl = dv.getUint32(p + 8, le);
    if (incl > 0x4000000) { file.error = 'record-too-long'; break; }
    if (p + 16 + incl > buf.length) { file.error = 'truncated-record'; break; }
    file.records.push({
      sec: dv.getUint32(p, le), frac: dv.getUint32(p + 4, le), origLen: dv.getUint32(p + 12, le),
      data: buf.subarray(p + 16, p + 16 + incl),
    });
    p += 16 + incl;
  }
  return file;
}

export function isPcapError(x: PcapFile | { error: PcapError }): x is { error: PcapError } {
  return !('records' in x);
}

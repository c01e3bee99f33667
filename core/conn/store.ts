// Connection storage: struct-of-arrays entries, two open-addressing indexes
// (linear probing, backward-shift deletion, no tombstones) and a hashed timer
// wheel, all over typed arrays: no JS object per connection.
//
// * "in" index: (af, protocol, caddr, cport, vaddr, vport) — client→VIP lookups,
//   templates (TEMPLATE flag), NO_CPORT entries (hashed with cport 0).
// * "out" index: (af, protocol, daddr, dport, caddr, cport) — NAT replies. Templates
//   are not in it.
// IPv4 addresses live in the entry (u32); IPv6 entries keep their three
// addresses in a side table of 12 words, the entry's caddr holding its slot.

export const AF_INET = 4;
export const AF_INET6 = 6;

const NIL = -1;
/** Index slots at start cover this many entries (then doubled as live entries grow). */
const INDEX_START = 1024;
const UNLINKED = 0xffffffff;

/** Bytes of per-entry arrays (excluding the two indexes). Kept in sync with alloc(). */
export const ENTRY_BYTES = 3 + 6 + 12 + 4 + 4 + 4 + 8 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 4;

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

// murmur3-style mixing; seeded per table so that clients cannot aim at one chain.
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}
function fmix(h: number): number {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export interface StoreOptions {
  /** Hard bound on tracked entries (connections + templates). */
  maxConns: number;
  /** Entries allocated at start; doubled as needed up to maxConns. */
  initialCapacity?: number;
  /** Timer wheel tick in ms (expiry fires at most one tick late, never early). */
  tickMs?: number;
  /** Wheel slots (power of two). */
  wheelSlots?: number;
  /** Hash seed (random by default). */
  seed?: number;
}

/** Where entries are kept across restarts (journal.ts): told of every change but per-packet timer re-arms. */
export interface EntrySink {
  write(e: number): void;
  clear(e: number): void;
}

export class ConnStore {
  cap = 0;
  /** Set by a worker that keeps its entries across restarts; null: nothing told. */
  journal: EntrySink | null = null;
  readonly maxConns: number;
  count = 0;
  /** Allocations refused because maxConns was reached. */
  fullDrops = 0;
  /** Entries using NO_CPORT, per family (4 → [0], 6 → [1]): lookups retry with cport 0 only then. */
  readonly noCport = new Uint32Array(2);

  // ---- per entry
  af!: Uint8Array;          // 0 = free slot
  proto!: Uint8Array;
  state!: Uint8Array;
  cport!: Uint16Array;
  vport!: Uint16Array;
  dport!: Uint16Array;
  caddr!: Uint32Array;      // IPv4 address, or IPv6 side-table slot
  vaddr!: Uint32Array;
  daddr!: Uint32Array;
  flags!: Uint32Array;
  dest!: Int32Array;
  timeout!: Uint32Array;    // ms
  expires!: Float64Array;   // ms, absolute (the injected clock)
  control!: Int32Array;     // controlling template / connection, -1 none
  nControl!: Uint32Array;
  inPkts!: Uint32Array;
  fwmark!: Uint32Array;
  inHash!: Uint32Array;
  outHash!: Uint32Array;
  tNext!: Int32Array;       // timer wheel list (also the free list)
  tPrev!: Int32Array;
  tSlot!: Uint32Array;      // tick the entry is filed under, UNLINKED when not in the wheel
  hashSeq!: Uint32Array;    // when the entry was last hashed: among equal keys the newest is found first
  // the sync daemon's per-entry bookkeeping (conn/sync.ts): old_state, sync_endtime (ms) and its retry count
  syncOld!: Uint8Array;
  syncEnd!: Float64Array;
  syncRetries!: Uint8Array;

  // ---- indexes
  private inIdx!: Int32Array;
  private outIdx!: Int32Array;
  private mask = 0;
  private freeHead = NIL;
  private used = 0;          // high-water mark of slots handed out
  private readonly seed: number;
  private seq = 0;

  // ---- IPv6 side table: 12 words per slot (caddr, vaddr, daddr)
  v6 = new Uint32Array(0);
  private v6Free = new Int32Array(0);
  private v6FreeTop = 0;
  private v6Used = 0;

  // ---- timer wheel
  readonly tickMs: number;
  private readonly wheel: Int32Array;
  private readonly wheelMask: number;
  private curTick = 0;
  private due = new Int32Array(1024);
  now = 0;

  /** Scratch address registers for IPv6 keys (4 words each; IPv4 uses word 0). */
  readonly ca = new Uint32Array(4);
  readonly va = new Uint32Array(4);
  readonly da = new Uint32Array(4);

  constructor(o: StoreOptions) {
    this.maxConns = o.maxConns;
    this.tickMs = o.tickMs ?? 100;
    const slots = nextPow2(o.wheelSlots ?? 4096);
    this.wheel = new Int32Array(slots).fill(NIL);
    this.wheelMask = slots - 1;
    this.seed = (o.seed ?? (Math.random() * 0x100000000)) | 0;
    this.alloc(Math.min(o.maxConns, Math.max(16, o.initialCapacity ?? 1024)));
  }

  /** Bytes held by the typed arrays (entries, indexes, IPv6 side table, wheel). */
  bytes(): number {
    return this.cap * ENTRY_BYTES + (this.inIdx.length + this.outIdx.length) * 4 + this.v6.byteLength + this.v6Free.byteLength
      + this.wheel.byteLength + this.due.byteLength;
  }

  private alloc(cap: number): void {
    const old = this.cap;
    const grow = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(a: T | undefined, mk: (n: number) => T): T => {
      const n = mk(cap);
      if (a) n.set(a as never);
      return n;
    };
    this.af = grow(this.af, (n) => new Uint8Array(n));
    this.proto = grow(this.proto, (n) => new Uint8Array(n));
    this.state = grow(this.state, (n) => new Uint8Array(n));
    this.cport = grow(this.cport, (n) => new Uint16Array(n));
    this.vport = grow(this.vport, (n) => new Uint16Array(n));
    this.dport = grow(this.dport, (n) => new Uint16Array(n));
    this.caddr = grow(this.caddr, (n) => new Uint32Array(n));
    this.vaddr = grow(this.vaddr, (n) => new Uint32Array(n));
    this.daddr = grow(this.daddr, (n) => new Uint32Array(n));
    this.flags = grow(this.flags, (n) => new Uint32Array(n));
    this.dest = grow(this.dest, (n) => new Int32Array(n));
    this.timeout = grow(this.timeout, (n) => new Uint32Array(n));
    this.expires = grow(this.expires, (n) => new Float64Array(n));
    this.control = grow(this.control, (n) => new Int32Array(n));
    this.nControl = grow(this.nControl, (n) => new Uint32Array(n));
    this.inPkts = grow(this.inPkts, (n) => new Uint32Array(n));
    this.fwmark = grow(this.fwmark, (n) => new Uint32Array(n));
    this.inHash = grow(this.inHash, (n) => new Uint32Array(n));
    this.outHash = grow(this.outHash, (n) => new Uint32Array(n));
    this.tNext = grow(this.tNext, (n) => new Int32Array(n));
    this.tPrev = grow(this.tPrev, (n) => new Int32Array(n));
    this.tSlot = grow(this.tSlot, (n) => new Uint32Array(n));
    this.hashSeq = grow(this.hashSeq, (n) => new Uint32Array(n));
    this.syncOld = grow(this.syncOld, (n) => new Uint8Array(n));
    this.syncEnd = grow(this.syncEnd, (n) => new Float64Array(n));
    this.syncRetries = grow(this.syncRetries, (n) => new Uint8Array(n));
    this.cap = cap;
    if (old === 0) this.resizeIndex(nextPow2(Math.max(32, Math.min(cap, INDEX_START) * 2)));
  }

  /**
   * The indexes are sized by live entries (load factor <= 1/2), not by the
   * entry capacity: a table pre-sized for a million connections but holding
   * a thousand keeps them in a few cache lines and pages, not scattered over
   * 16 MB. Each slot holds [entry, hash]: probing past other keys never
   * touches their entries.
   */
  private resizeIndex(size: number): void {
    this.inIdx = new Int32Array(size * 2).fill(NIL);
    this.outIdx = new Int32Array(size * 2).fill(NIL);
    this.mask = size - 1;
    for (let e = 0; e < this.used; e++) {
      if (this.af[e] === 0) continue;
      if (this.flags[e]! & 0x40) this.inInsert(e);
      if (this.outHashed(e)) this.outInsert(e);
    }
  }

  // ------------------------------------------------------------ allocation

  /** A free entry, or -1 when maxConns is reached (counted in fullDrops). */
  allocEntry(af: number): number {
    if (this.count >= this.maxConns) { this.fullDrops++; return NIL; }
    let e: number;
    if (this.freeHead !== NIL) { e = this.freeHead; this.freeHead = this.tNext[e]!; }
    else {
      if (this.used === this.cap) this.alloc(Math.min(this.maxConns, this.cap * 2));
      e = this.used++;
    }
    this.count++;
    this.af[e] = af;
    this.tSlot[e] = UNLINKED;
    this.tNext[e] = NIL;
    this.tPrev[e] = NIL;
    this.control[e] = NIL;
    this.nControl[e] = 0;
    this.inPkts[e] = 0;
    this.state[e] = 0;
    this.flags[e] = 0;
    // nothing synced yet; sync_endtime = creation, rounded down to 4 jiffies (16 ms at HZ 250) as the kernel does
    this.syncOld[e] = 0;
    this.syncEnd[e] = Math.floor(this.now / 16) * 16;
    this.syncRetries[e] = 0;
    if (af === AF_INET6) this.caddr[e] = this.v6Alloc();
    // e is not hashed yet (flags 0): the rebuild skips it
    if (this.count * 2 > this.mask + 1) this.resizeIndex((this.mask + 1) * 2);
    return e;
  }

  /** Free an entry that is neither hashed nor in the wheel. */
  freeEntry(e: number): void {
    this.journal?.clear(e);
    if (this.af[e] === AF_INET6) this.v6Release(this.caddr[e]!);
    this.af[e] = 0;
    this.tNext[e] = this.freeHead;
    this.freeHead = e;
    this.count--;
  }

  private v6Alloc(): number {
    if (this.v6FreeTop > 0) return this.v6Free[--this.v6FreeTop]!;
    const slot = this.v6Used++;
    if (slot * 12 + 12 > this.v6.length) {
      const n = new Uint32Array(Math.max(12 * 64, this.v6.length * 2));
      n.set(this.v6);
      this.v6 = n;
      const f = new Int32Array(n.length / 12);
      f.set(this.v6Free);
      this.v6Free = f;
    }
    return slot;
  }
  private v6Release(slot: number): void { this.v6Free[this.v6FreeTop++] = slot; }

  /** Set the addresses of an IPv6 entry from the ca/va/da registers. */
  setAddrs6(e: number): void {
    const b = this.caddr[e]! * 12;
    const v = this.v6;
    for (let i = 0; i < 4; i++) { v[b + i] = this.ca[i]!; v[b + 4 + i] = this.va[i]!; v[b + 8 + i] = this.da[i]!; }
  }

  /** Word i (0..3) of caddr/vaddr/daddr (which 0/1/2) of an entry of either family. */
  addrWord(e: number, which: number, i: number): number {
    if (this.af[e] === AF_INET6) return this.v6[this.caddr[e]! * 12 + which * 4 + i]!;
    if (i !== 0) return 0;
    return which === 0 ? this.caddr[e]! : which === 1 ? this.vaddr[e]! : this.daddr[e]!;
  }

  // ------------------------------------------------------------ hashing

  hashIn4(proto: number, caddr: number, cport: number, vaddr: number, vport: number): number {
    let h = mix(this.seed, caddr);
    h = mix(h, vaddr);
    h = mix(h, (cport << 16) | vport);
    return fmix(mix(h, (proto << 8) | 4));
  }
  hashOut4(proto: number, daddr: number, dport: number, caddr: number, cport: number): number {
    let h = mix(this.seed ^ 0x5bd1e995, daddr);
    h = mix(h, caddr);
    h = mix(h, (dport << 16) | cport);
    return fmix(mix(h, (proto << 8) | 4));
  }
  /** IPv6 hashes from registers: in uses ca/va, out uses da/ca. */
  hashIn6(proto: number, cport: number, vport: number): number {
    let h = this.seed;
    for (let i = 0; i < 4; i++) h = mix(h, this.ca[i]!);
    for (let i = 0; i < 4; i++) h = mix(h, this.va[i]!);
    h = mix(h, (cport << 16) | vport);
    return fmix(mix(h, (proto << 8) | 6));
  }
  hashOut6(proto: number, dport: number, cport: number): number {
    let h = this.seed ^ 0x5bd1e995;
    for (let i = 0; i < 4; i++) h = mix(h, this.da[i]!);
    for (let i = 0; i < 4; i++) h = mix(h, this.ca[i]!);
    h = mix(h, (dport << 16) | cport);
    return fmix(mix(h, (proto << 8) | 6));
  }

  /** (Re)compute the stored in/out hashes of an entry from its fields. */
  computeHashes(e: number): void {
    const p = this.proto[e]!;
    if (this.af[e] === AF_INET) {
      this.inHash[e] = this.hashIn4(p, this.caddr[e]!, this.cport[e]!, this.vaddr[e]!, this.vport[e]!);
      this.outHash[e] = this.hashOut4(p, this.daddr[e]!, this.dport[e]!, this.caddr[e]!, this.cport[e]!);
    } else {
      const b = this.caddr[e]! * 12;
      for (let i = 0; i < 4; i++) { this.ca[i] = this.v6[b + i]!; this.va[i] = this.v6[b + 4 + i]!; this.da[i] = this.v6[b + 8 + i]!; }
      this.inHash[e] = this.hashIn6(p, this.cport[e]!, this.vport[e]!);
      this.outHash[e] = this.hashOut6(p, this.dport[e]!, this.cport[e]!);
    }
  }

  private outHashed(e: number): boolean {
    return (this.flags[e]! & 0x1040) === 0x40; // hashed and not a template
  }

  // ------------------------------------------------------------ index operations

  // Equal keys are kept newest first along their probe sequence, as the kernel's
  // hlist_add_head does: a client port reused for a second connection through the
  // same real server (another VIP, or after a reschedule) must find the new
  // entry, not the one still in TIME_WAIT. Entries with one key share a home
  // slot, so swapping them keeps every probe sequence intact, and backward-shift
  // deletion keeps their order.
  private inInsert(e: number): void { this.idxInsert(this.inIdx, this.inHash, e, false); }
  private outInsert(e: number): void { this.idxInsert(this.outIdx, this.outHash, e, true); }

  private idxInsert(idx: Int32Array, hashes: Uint32Array, e: number, out: boolean): void {
    const h = hashes[e]! | 0, m = this.mask;
    let cur = e;
    let i = h & m;
    for (let k = idx[i << 1]!; k !== NIL; i = (i + 1) & m, k = idx[i << 1]!) {
      if (idx[(i << 1) | 1] === h && this.newer(cur, k) && (out ? this.sameOut(cur, k) : this.sameIn(cur, k))) { idx[i << 1] = cur; cur = k; }
    }
    idx[i << 1] = cur;
    idx[(i << 1) | 1] = h;
  }

  private newer(a: number, b: number): boolean { return ((this.hashSeq[a]! - this.hashSeq[b]!) | 0) > 0; }

  private sameIn(a: number, b: number): boolean {
    if (this.af[a] !== this.af[b] || this.proto[a] !== this.proto[b] || this.cport[a] !== this.cport[b] || this.vport[a] !== this.vport[b]) return false;
    if (this.af[a] === AF_INET) return this.caddr[a] === this.caddr[b] && this.vaddr[a] === this.vaddr[b];
    return this.sameWords(a, b, 0, 8);
  }
  private sameOut(a: number, b: number): boolean {
    if (this.af[a] !== this.af[b] || this.proto[a] !== this.proto[b] || this.dport[a] !== this.dport[b] || this.cport[a] !== this.cport[b]) return false;
    if (this.af[a] === AF_INET) return this.daddr[a] === this.daddr[b] && this.caddr[a] === this.caddr[b];
    return this.sameWords(a, b, 0, 4) && this.sameWords(a, b, 8, 4);
  }
  /** IPv6 side-table words [at, at + n) of two entries are equal. */
  private sameWords(a: number, b: number, at: number, n: number): boolean {
    const v = this.v6, x = this.caddr[a]! * 12 + at, y = this.caddr[b]! * 12 + at;
    for (let i = 0; i < n; i++) if (v[x + i] !== v[y + i]) return false;
    return true;
  }

  /** Backward-shift deletion: keeps every probe sequence unbroken without tombstones. */
  private idxDelete(idx: Int32Array, hashes: Uint32Array, e: number): void {
    const m = this.mask;
    let i = hashes[e]! & m;
    while (idx[i << 1] !== e) {
      if (idx[i << 1] === NIL) return; // not there (must not happen)
      i = (i + 1) & m;
    }
    let j = i;
    for (;;) {
      j = (j + 1) & m;
      const k = idx[j << 1]!;
      if (k === NIL) break;
      const home = idx[(j << 1) | 1]! & m;
      // move k into the hole at i unless its home lies cyclically in (i, j]
      if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
        idx[i << 1] = k;
        idx[(i << 1) | 1] = idx[(j << 1) | 1]!;
        i = j;
      }
    }
    idx[i << 1] = NIL;
  }

  /** Put an entry (fields and hashes set) into the indexes. */
  hash(e: number): void {
    if (this.flags[e]! & 0x40) return;
    this.flags[e] = this.flags[e]! | 0x40;
    this.hashSeq[e] = this.seq = (this.seq + 1) >>> 0;
    this.inInsert(e);
    if (this.outHashed(e)) this.outInsert(e);
    if (this.flags[e]! & 0x0800) { const k = this.af[e] === AF_INET6 ? 1 : 0; this.noCport[k] = this.noCport[k]! + 1; }
    this.journal?.write(e);
  }

  /** Take an entry out of the indexes (it stays allocated and in the wheel). */
  unhash(e: number): boolean {
    if ((this.flags[e]! & 0x40) === 0) return false;
    this.idxDelete(this.inIdx, this.inHash, e);
    if (this.outHashed(e)) this.idxDelete(this.outIdx, this.outHash, e);
    if (this.flags[e]! & 0x0800) { const k = this.af[e] === AF_INET6 ? 1 : 0; this.noCport[k] = this.noCport[k]! - 1; }
    this.flags[e] = this.flags[e]! & ~0x40;
    this.journal?.write(e);
    return true;
  }

  // ------------------------------------------------------------ lookups (no allocation)

  /**
   * "in" lookup for IPv4. `tplMode`: 0 = connections (cport 0 matches only
   * NO_CPORT entries, as the kernel's in_get), 1 = templates (TEMPLATE flag).
   */
  findIn4(proto: number, caddr: number, cport: number, vaddr: number, vport: number, tplMode: number): number {
    const h = this.hashIn4(proto, caddr, cport, vaddr, vport);
    const idx = this.inIdx;
    const m = this.mask;
    for (let i = h & m; ; i = (i + 1) & m) {
      const e = idx[i << 1]!;
      if (e === NIL) return NIL;
      if (idx[(i << 1) | 1] === (h | 0) && this.af[e] === AF_INET && this.proto[e] === proto && this.caddr[e] === caddr
        && this.cport[e] === cport && this.vaddr[e] === vaddr && this.vport[e] === vport && this.inFlagsOk(e, cport, tplMode)) return e;
    }
  }

  /** "in" lookup for IPv6 with ca/va registers. */
  findIn6(proto: number, cport: number, vport: number, tplMode: number): number {
    const h = this.hashIn6(proto, cport, vport);
    const idx = this.inIdx;
    const m = this.mask;
    for (let i = h & m; ; i = (i + 1) & m) {
      const e = idx[i << 1]!;
      if (e === NIL) return NIL;
      if (idx[(i << 1) | 1] === (h | 0) && this.af[e] === AF_INET6 && this.proto[e] === proto && this.cport[e] === cport
        && this.vport[e] === vport && this.inFlagsOk(e, cport, tplMode) && this.eq6(e, 0, this.ca) && this.eq6(e, 4, this.va)) return e;
    }
  }

  private inFlagsOk(e: number, cport: number, tplMode: number): boolean {
    const f = this.flags[e]!;
    if (tplMode === 1) return (f & 0x1000) !== 0;
    if (f & 0x1000) return false;
    return cport === 0 ? (f & 0x0800) !== 0 : (f & 0x0800) === 0;
  }

  private eq6(e: number, at: number, reg: Uint32Array): boolean {
    const b = this.caddr[e]! * 12 + at;
    const v = this.v6;
    return v[b] === reg[0] && v[b + 1] === reg[1] && v[b + 2] === reg[2] && v[b + 3] === reg[3];
  }

  /** "out" lookup (NAT reply: source daddr:dport, destination caddr:cport), IPv4. */
  findOut4(proto: number, daddr: number, dport: number, caddr: number, cport: number): number {
    const h = this.hashOut4(proto, daddr, dport, caddr, cport);
    const idx = this.outIdx;
    const m = this.mask;
    for (let i = h & m; ; i = (i + 1) & m) {
      const e = idx[i << 1]!;
      if (e === NIL) return NIL;
      if (idx[(i << 1) | 1] === (h | 0) && this.af[e] === AF_INET && this.proto[e] === proto && this.daddr[e] === daddr
        && this.dport[e] === dport && this.caddr[e] === caddr && this.cport[e] === cport) return e;
    }
  }

  /** "out" lookup for IPv6 with da/ca registers. */
  findOut6(proto: number, dport: number, cport: number): number {
    const h = this.hashOut6(proto, dport, cport);
    const idx = this.outIdx;
    const m = this.mask;
    for (let i = h & m; ; i = (i + 1) & m) {
      const e = idx[i << 1]!;
      if (e === NIL) return NIL;
      if (idx[(i << 1) | 1] === (h | 0) && this.af[e] === AF_INET6 && this.proto[e] === proto && this.dport[e] === dport
        && this.cport[e] === cport && this.eq6(e, 8, this.da) && this.eq6(e, 0, this.ca)) return e;
    }
  }

  // ------------------------------------------------------------ timer wheel

  private tickOf(ms: number): number {
    let t = Math.ceil(ms / this.tickMs);
    if (t <= this.curTick) t = this.curTick + 1;
    return t;
  }

  private link(e: number, tick: number): void {
    const s = tick & this.wheelMask;
    const h = this.wheel[s]!;
    this.tNext[e] = h;
    this.tPrev[e] = NIL;
    if (h !== NIL) this.tPrev[h] = e;
    this.wheel[s] = e;
    this.tSlot[e] = tick;
  }

  /** Remove from the wheel (no-op when not linked). */
  unlinkTimer(e: number): void {
    const t = this.tSlot[e]!;
    if (t === UNLINKED) return;
    const n = this.tNext[e]!, p = this.tPrev[e]!;
    if (p !== NIL) this.tNext[p] = n; else this.wheel[t & this.wheelMask] = n;
    if (n !== NIL) this.tPrev[n] = p;
    this.tSlot[e] = UNLINKED;
  }

  /**
   * Arm the timer to fire at `at` (ms). Moving an expiry later leaves the entry
   * in its slot (it is re-filed when that slot comes round): a re-arm per
   * packet costs no list operation.
   */
  arm(e: number, at: number): void {
    const t = this.tSlot[e]!;
    // the usual per-packet case: linked and not earlier than before, so its tick
    // cannot be earlier than the slot it is filed under (no division, no list work)
    if (t !== UNLINKED && at >= this.expires[e]!) { this.expires[e] = at; return; }
    this.expires[e] = at;
    const nt = this.tickOf(at);
    if (t !== UNLINKED) {
      if (t <= nt) return;
      this.unlinkTimer(e);
    }
    this.link(e, nt);
  }

  isArmed(e: number): boolean { return this.tSlot[e] !== UNLINKED; }

  /**
   * Advance the clock to `now` (ms) and collect the entries whose timer is due
   * into `due` (returned count). The caller runs the expiry logic on them; an
   * entry it neither re-arms nor frees stays unlinked.
   */
  collectDue(now: number): number {
    if (now > this.now) this.now = now;
    const target = Math.floor(this.now / this.tickMs);
    if (target <= this.curTick) return 0;
    let first = this.curTick + 1;
    if (target - first >= this.wheel.length) first = target - this.wheel.length + 1;
    this.curTick = target; // re-filed entries go beyond target
    let n = 0;
    for (let t = first; t <= target; t++) {
      const s = t & this.wheelMask;
      let e = this.wheel[s]!;
      if (e === NIL) continue;
      this.wheel[s] = NIL;
      while (e !== NIL) {
        const nx = this.tNext[e]!;
        this.tSlot[e] = UNLINKED;
        if (this.expires[e]! <= this.now) {
          if (n === this.due.length) { const d = new Int32Array(n * 2); d.set(this.due); this.due = d; }
          this.due[n++] = e;
        } else this.link(e, this.tickOf(this.expires[e]!));
        e = nx;
      }
    }
    return n;
  }

  /** The i-th entry collected by the last collectDue(). */
  dueAt(i: number): number { return this.due[i]!; }

  /** Highest entry index ever used (iterate 0..end, skipping af == 0). */
  get end(): number { return this.used; }
}

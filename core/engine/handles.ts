// Real servers by handle: the connection table stores a small number per
// entry, not a Dest; this resolves it to what the forwarders need (address
// bytes, next hop, the forwarder's own per-real state, connection flags),
// keeps the entries' counts on the Dest (ConnDests), and gathers a batch's
// traffic per handle to add to the dest, service and global counters once.
//
// A handle is freed (null, its number on `free`) once its dest is no longer
// available and no entry holds it (`refs`, counted through move()), so
// add/delete churn does not grow these or keep deleted Dest objects alive.

import { COUNT_ACTIVE, COUNT_INACTIVE, COUNT_NONE, COUNT_PERSIST, type ConnDests } from '../conn/table.js';
import { CF_NOOUTPUT } from '../conn/states.js';
import { addrBytes } from '../model/addr.js';
import type { Counters, Dest, Service, ServiceTable } from '../model/table.js';
import { FWD_NUM } from '../model/types.js';
import { rd32 } from '../packet/checksum.js';
import type { ForwarderPlugin, FwdDest, FwdLink } from '../plugin.js';
import { Net } from './net.js';

/** Per real server: what the forwarders need, resolved once. */
export interface DestInfo {
  dest: Dest;
  svc: Service;
  fwd: FwdDest & { family: number; addr: Uint8Array; addr4: number; port: number; state: unknown };
  link: FwdLink;
  /** Connection flags of the method (fwd | NOOUTPUT unless its forwarder sees replies). */
  connFlags: number;
}

function addCounts(st: Counters, inPkts: number, inBytes: number, outPkts: number, outBytes: number): void {
  st.inpkts += inPkts; st.inbytes += inBytes; st.outpkts += outPkts; st.outbytes += outBytes;
}

export class Handles implements ConnDests {
  /** By handle; null once freed. */
  readonly info: (DestInfo | null)[] = [];
  /** Where real servers' next hops are resolved; the engine sets a new one on reconfigure. */
  net: Net;
  private readonly byDest = new Map<Dest, number>();
  private readonly free: number[] = [];
  private refs = new Int32Array(0);
  /** A real server or service was deleted since handles were last released. */
  private unheld = false;
  /**
   * Real servers whose counters or connection counts changed since the last
   * takeChanged(), with their service: a replica reports only those.
   */
  private changed = new Map<Dest, Service>();
  // Per-batch traffic counters by handle, added to the dest, service and
  // global Counters once per batch (nothing reads them mid-batch).
  private accPkts = new Float64Array(0);    // [in, out] per handle
  private accBytes = new Float64Array(0);
  private touched = new Int32Array(0);
  private nTouched = 0;

  /**
   * `fwd` and `fwdReplies` are the engine's forwarders by method number
   * (filled in place when they change): a handle's per-real state and flags come from them.
   */
  constructor(
    private readonly table: ServiceTable,
    private readonly fwd: readonly (ForwarderPlugin | undefined)[],
    private readonly fwdReplies: Uint8Array,
    net: Net,
  ) {
    this.net = net;
  }

  /** Handles in use (live Dest objects resolved). */
  get size(): number { return this.info.length - this.free.length; }

  /** A real server of `svc`'s handle, made (and resolved) on first use. */
  of(d: Dest, svc: Service): number {
    let h = this.byDest.get(d);
    if (h === undefined) {
      if (this.unheld) this.release();
      h = this.free.pop() ?? this.info.length;
      const info: DestInfo = {
        dest: d, svc, link: Net.link(), connFlags: 0,
        fwd: { family: 4, addr: new Uint8Array(4), addr4: 0, port: 0, state: undefined },
      };
      this.resolve(info);
      this.info[h] = info;
      this.byDest.set(d, h);
      if (h >= this.touched.length) this.grow(h + 1);
    }
    return h;
  }

  /** A dest was added back (same object, a handle held by its old connections) or edited: its data again. */
  changedDest(d: Dest): void {
    const h = this.byDest.get(d);
    if (h !== undefined) this.resolve(this.info[h]!);
  }

  /** A real server or service was deleted: its handles go when next wanted (not per deletion: a burst stays linear). */
  deleted(): void { this.unheld = true; }

  /** Re-resolve real servers' link data (a new Net) and let go of handles nothing holds any more. */
  refresh(): void {
    this.unheld = false;
    const hi = this.info;
    for (let h = 0; h < hi.length; h++) {
      const info = hi[h];
      if (!info) continue;
      if (!info.dest.available && this.refs[h] === 0) this.freeHandle(h);
      else this.resolve(info);
    }
  }

  /** Handles of deleted real servers that no entry holds any more. */
  private release(): void {
    this.unheld = false;
    const hi = this.info;
    for (let h = 0; h < hi.length; h++) {
      const info = hi[h];
      if (info && !info.dest.available && this.refs[h] === 0) this.freeHandle(h);
    }
  }

  private freeHandle(h: number): void {
    const info = this.info[h]!;
    this.byDest.delete(info.dest);
    this.info[h] = null;
    this.free.push(h);
  }

  private resolve(info: DestInfo): void {
    const d = info.dest;
    const a = addrBytes(d.family, d.addr);
    const f = info.fwd;
    f.family = d.family === 'inet' ? 4 : 6;
    f.addr = a;
    f.addr4 = d.family === 'inet' ? rd32(a, 0) : 0;
    f.port = d.port;
    const m = FWD_NUM[d.spec.fwd];
    const fwd = this.fwd[m];
    // The forwarder's own per-real state (e.g. tunnel encapsulation), made here, not per packet.
    f.state = fwd?.prepareDest ? fwd.prepareDest(d.spec) : undefined;
    if (f.family === 4) this.net.resolve4(f.addr4, info.link); else this.net.resolve6(a, 0, info.link);
    info.connFlags = m | (this.fwdReplies[m] === 1 ? 0 : CF_NOOUTPUT);
  }

  private grow(n: number): void {
    const cap = Math.max(16, n * 2);
    const pk = new Float64Array(cap * 2); pk.set(this.accPkts); this.accPkts = pk;
    const by = new Float64Array(cap * 2); by.set(this.accBytes); this.accBytes = by;
    const t = new Int32Array(cap); t.set(this.touched); this.touched = t;
    const rf = new Int32Array(cap); rf.set(this.refs); this.refs = rf;
  }

  // ConnDests: the connection table's view of its entries' real servers.

  available(h: number): boolean { return this.info[h]!.dest.available; }
  weight(h: number): number { return this.info[h]!.dest.weight; }

  /** ActiveConn / InActConn / PersistConn through the table's bind rules (OVERLOAD). */
  move(h: number, from: number, to: number): void {
    const info = this.info[h]!;
    const d = info.dest;
    this.changed.set(d, info.svc);
    const kind = (c: number) => (c === COUNT_PERSIST ? 'template' : c === COUNT_ACTIVE ? 'active' : 'inactive');
    if (from === COUNT_NONE) {
      this.table.bindConn(d, kind(to));
      this.refs[h]!++;
    } else if (to === COUNT_NONE) {
      this.table.unbindConn(d, kind(from));
      // the last entry of a deleted real server: its handle can go
      if (--this.refs[h]! === 0 && !d.available) this.freeHandle(h);
    } else {
      if (from === COUNT_ACTIVE) d.activeConns--; else if (from === COUNT_INACTIVE) d.inactConns--;
      if (to === COUNT_ACTIVE) d.activeConns++; else if (to === COUNT_INACTIVE) d.inactConns++;
    }
  }

  // Traffic, per batch.

  /** One packet of `bytes` of real server `h` (dest still available) into the batch's counters. */
  count(h: number, inbound: boolean, bytes: number): void {
    if (!this.info[h]!.dest.available) return;
    const pk = this.accPkts;
    const i = inbound ? h * 2 : h * 2 + 1;
    if (pk[h * 2] === 0 && pk[h * 2 + 1] === 0) this.touched[this.nTouched++] = h;
    pk[i] = pk[i]! + 1;
    this.accBytes[i] = this.accBytes[i]! + bytes;
  }

  /** Adds the batch's per-real-server packet and byte counts to dest, service and global (`total`) stats. */
  flush(total: Counters): void {
    const t = this.touched, pk = this.accPkts, by = this.accBytes;
    for (let k = 0; k < this.nTouched; k++) {
      const h = t[k]!;
      const info = this.info[h];
      const ip = pk[h * 2]!, op = pk[h * 2 + 1]!, ib = by[h * 2]!, ob = by[h * 2 + 1]!;
      pk[h * 2] = 0; pk[h * 2 + 1] = 0; by[h * 2] = 0; by[h * 2 + 1] = 0;
      if (!info) continue;   // freed (its dest gone) since: nothing to credit
      this.changed.set(info.dest, info.svc);
      addCounts(info.dest.stats, ip, ib, op, ob);
      addCounts(info.svc.stats, ip, ib, op, ob);
      addCounts(total, ip, ib, op, ob);
    }
    this.nTouched = 0;
  }

  /** The real servers (with their service) whose counters or connection counts changed since the last call. */
  takeChanged(): Map<Dest, Service> {
    const c = this.changed;
    if (c.size > 0) this.changed = new Map();
    return c;
  }
}

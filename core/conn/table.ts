// The IPVS connection table with its kernel behaviour (connections.md):
// creation and binding to a dest, per-packet state transitions and timer
// re-arm, templates (§6), connection reuse (§2.6), unavailable dests (§2.7),
// expiry with the n_control rules (§2.4). Entries are integers into a
// ConnStore; the dest is an integer handle the pipeline maps to its Dest.
//
// Dest counters (ActiveConn / InActConn / PersistConn) are the pipeline's:
// every change is reported through ConnDests.move(), never per packet, only
// on bind, state class change and unbind.

import { bytesToIpv6, u32ToIpv4 } from '../model/addr.js';
import type { ConnView } from '../control/protocol.js';
import { AF_INET, AF_INET6, ConnStore, type StoreOptions } from './store.js';
import {
  CF_HASHED, CF_INACTIVE, CF_NO_CPORT, CF_NOOUTPUT, CF_ONE_PACKET, CF_TEMPLATE, CTPL_ASSURED, DIR_INPUT, DIR_INPUT_ONLY,
  DIR_OUTPUT, SCTP_S_CLOSED, SCTP_S_ESTABLISHED, sctpNext, stateName, TCP_CLOSE, TCP_ESTABLISHED, TCP_FIN_WAIT,
  TCP_TABLE, TCP_TABLE_SECURE, TCP_TIME_WAIT, tcpNext, tcpStateActive, Timeouts, UDP_NORMAL,
} from './states.js';

/** Which dest counter an entry is in. */
export const COUNT_NONE = 0;
export const COUNT_ACTIVE = 1;
export const COUNT_INACTIVE = 2;
export const COUNT_PERSIST = 3;

/** What the table needs to know of, and tell to, the dests it binds (the pipeline implements it). */
export interface ConnDests {
  /** Move one unit of `dest`'s counters from one class to another (COUNT_*). */
  move(dest: number, from: number, to: number): void;
  /** The dest's AVAILABLE flag (false once deleted, while in the trash). */
  available(dest: number): boolean;
  weight(dest: number): number;
}

/** The sysctls that change connection behaviour (connections.md §13). */
export interface ConnSysctls {
  connReuseMode: number;            // 1
  expireNodestConn: boolean;        // false
  expireQuiescentTemplate: boolean; // false
  secureTcp: boolean;               // false: the secure_tcp defense table in use
}

// update() result bits
export const EV_STATE = 1;          // state changed
export const EV_ACTIVE = 2;         // became active (dest: inactive → active)
export const EV_INACTIVE = 4;       // became inactive (dest: active → inactive)
export const EV_ASSURED = 8;        // the controlling template became ASSURED

// decideExisting() results
export const EXIST_USE = 0;         // use the entry for this packet
export const EXIST_DROP = 1;        // drop the packet silently (dest gone, expire_nodest_conn=0)
export const EXIST_RESCHEDULE = 2;  // the entry is on its way out: treat the packet as having no entry

/** Template timeout once a template has been kept alive by its children: 60 s, for good (§6). */
export const KEEPALIVE_MS = 60_000;
/** Timeout of a brand-new entry before its first transition. */
export const NEW_CONN_MS = 3_000;

const NIL = -1;
const PROTO_TCP = 6, PROTO_UDP = 17, PROTO_SCTP = 132;

export interface ConnTableOptions extends StoreOptions {
  sysctls?: Partial<ConnSysctls>;
}

export class ConnTable {
  readonly s: ConnStore;
  readonly timeouts = new Timeouts();
  readonly sysctl: ConnSysctls;
  private readonly dests: ConnDests;
  /** Told of an entry whose expiry was postponed because it still controls others (a master syncs it: conn/sync.ts). */
  onKeep: ((e: number) => void) | null = null;

  constructor(o: ConnTableOptions, dests: ConnDests) {
    this.s = new ConnStore(o);
    this.dests = dests;
    this.sysctl = { connReuseMode: 1, expireNodestConn: false, expireQuiescentTemplate: false, secureTcp: false, ...o.sysctls };
  }

  get now(): number { return this.s.now; }
  get count(): number { return this.s.count; }

  // ------------------------------------------------------------------ lookups

  /** Client→VIP lookup, IPv4 (NO_CPORT entries are found with the port of this packet). */
  lookupIn4(proto: number, caddr: number, cport: number, vaddr: number, vport: number): number {
    const s = this.s;
    const e = s.findIn4(proto, caddr, cport, vaddr, vport, 0);
    if (e !== NIL || s.noCport[0] === 0 || cport === 0) return e;
    return s.findIn4(proto, caddr, 0, vaddr, vport, 0);
  }

  /** Same for IPv6: put caddr/vaddr in s.ca / s.va first (see loadAddr6). */
  lookupIn6(proto: number, cport: number, vport: number): number {
    const s = this.s;
    const e = s.findIn6(proto, cport, vport, 0);
    if (e !== NIL || s.noCport[1] === 0 || cport === 0) return e;
    return s.findIn6(proto, 0, vport, 0);
  }

  /** NAT reply lookup: packet source (daddr, dport), destination (caddr, cport). */
  lookupOut4(proto: number, daddr: number, dport: number, caddr: number, cport: number): number {
    return this.s.findOut4(proto, daddr, dport, caddr, cport);
  }

  /** IPv6: s.da = reply source, s.ca = reply destination. */
  lookupOut6(proto: number, dport: number, cport: number): number {
    return this.s.findOut6(proto, dport, cport);
  }

  /** Template lookup (key from engine/persist.ts templateKey(); snet already masked; fwmark services pass the mark as vaddr). */
  lookupTemplate4(proto: number, snet: number, vaddr: number, vport: number): number {
    return this.s.findIn4(proto, snet, 0, vaddr, vport, 1);
  }
  lookupTemplate6(proto: number, vport: number): number {
    return this.s.findIn6(proto, 0, vport, 1);
  }

  // ------------------------------------------------------------------ creation

  /**
   * Create a connection or template, IPv4, bound to `dest`. `flags` are the
   * dest's conn flags (forwarding method | NOOUTPUT for non-NAT) plus
   * TEMPLATE / NO_CPORT / ONE_PACKET as needed; INACTIVE is added here as the
   * kernel does. Returns the entry, or -1 when the table is full.
   */
  create4(proto: number, caddr: number, cport: number, vaddr: number, vport: number, daddr: number, dport: number,
    flags: number, dest: number, fwmark: number, timeoutMs = NEW_CONN_MS): number {
    const s = this.s;
    const e = s.allocEntry(AF_INET);
    if (e === NIL) return NIL;
    s.caddr[e] = caddr; s.vaddr[e] = vaddr; s.daddr[e] = daddr;
    return this.finish(e, proto, cport, vport, dport, flags, dest, fwmark, timeoutMs);
  }

  /** IPv6: addresses from the s.ca / s.va / s.da registers. */
  create6(proto: number, cport: number, vport: number, dport: number, flags: number, dest: number, fwmark: number,
    timeoutMs = NEW_CONN_MS): number {
    const s = this.s;
    const e = s.allocEntry(AF_INET6);
    if (e === NIL) return NIL;
    s.setAddrs6(e);
    s.vaddr[e] = 0; s.daddr[e] = 0;
    return this.finish(e, proto, cport, vport, dport, flags, dest, fwmark, timeoutMs);
  }

  private finish(e: number, proto: number, cport: number, vport: number, dport: number, flags: number, dest: number,
    fwmark: number, timeoutMs: number): number {
    const s = this.s;
    s.proto[e] = proto;
    s.cport[e] = (flags & CF_NO_CPORT) ? 0 : cport;
    s.vport[e] = vport;
    s.dport[e] = dport;
    const tpl = (flags & CF_TEMPLATE) !== 0;
    // a new entry starts INACTIVE, templates too (the dest's conn_flags carry it: ip_vs_bind_dest)
    s.flags[e] = (flags & ~CF_HASHED) | CF_INACTIVE;
    s.dest[e] = dest;
    s.fwmark[e] = fwmark;
    s.timeout[e] = timeoutMs;
    s.computeHashes(e);
    if ((flags & CF_ONE_PACKET) === 0) s.hash(e);
    if (dest >= 0) this.dests.move(dest, COUNT_NONE, tpl ? COUNT_PERSIST : COUNT_INACTIVE);
    s.arm(e, s.now + timeoutMs);
    return e;
  }

  /**
   * A saved entry again (restart, snapshot.ts): addresses from the ca/va/da
   * registers (IPv4: word 0), fields as saved, hashed if it was, its dest
   * counting it in its class, its timer `leftMs` from now.
   */
  restoreEntry(af: number, proto: number, state: number, cport: number, vport: number, dport: number, flags: number,
    dest: number, fwmark: number, timeoutMs: number, leftMs: number, inPkts: number): number {
    const s = this.s;
    const e = s.allocEntry(af);
    if (e === NIL) return NIL;
    if (af === AF_INET) { s.caddr[e] = s.ca[0]!; s.vaddr[e] = s.va[0]!; s.daddr[e] = s.da[0]!; }
    else { s.setAddrs6(e); s.vaddr[e] = 0; s.daddr[e] = 0; }
    s.proto[e] = proto; s.state[e] = state;
    s.cport[e] = cport; s.vport[e] = vport; s.dport[e] = dport;
    s.flags[e] = flags & ~CF_HASHED;
    s.dest[e] = dest; s.fwmark[e] = fwmark; s.timeout[e] = timeoutMs; s.inPkts[e] = inPkts;
    s.computeHashes(e);
    if (flags & CF_HASHED) s.hash(e); else s.journal?.write(e);
    if (dest >= 0) this.dests.move(dest, COUNT_NONE, (flags & CF_TEMPLATE) ? COUNT_PERSIST : (flags & CF_INACTIVE) ? COUNT_INACTIVE : COUNT_ACTIVE);
    s.arm(e, s.now + leftMs);
    return e;
  }

  /** Is an entry with this "in" key (addresses in the ca/va registers) in the table? */
  findSame(af: number, proto: number, cport: number, vport: number, template: boolean): boolean {
    const s = this.s, m = template ? 1 : 0;
    return (af === AF_INET ? s.findIn4(proto, s.ca[0]!, cport, s.va[0]!, vport, m) : s.findIn6(proto, cport, vport, m)) !== NIL;
  }

  /** The entry with this "in" key (addresses in the ca/va registers), -1 when none. */
  findIn(af: number, proto: number, cport: number, vport: number, template: boolean): number {
    const s = this.s, m = template ? 1 : 0;
    return af === AF_INET ? s.findIn4(proto, s.ca[0]!, cport, s.va[0]!, vport, m) : s.findIn6(proto, cport, vport, m);
  }

  /** One unit of a dest's counters from one class to another (COUNT_*), as binding and state changes do. */
  moveCount(dest: number, from: number, to: number): void { this.dests.move(dest, from, to); }

  /** ip_vs_conn_fill_cport: the first packet of a NO_CPORT entry gives it its client port. */
  fillCport(e: number, cport: number): void {
    const s = this.s;
    if ((s.flags[e]! & CF_NO_CPORT) === 0) return;
    const hashed = s.unhash(e);
    s.flags[e] = s.flags[e]! & ~CF_NO_CPORT;
    s.cport[e] = cport;
    s.computeHashes(e);
    if (hashed) s.hash(e);
  }

  // ------------------------------------------------------------------ templates (§6)

  /** Link a connection to its controlling template (or FTP control connection). */
  attach(e: number, ct: number): void {
    const s = this.s;
    s.control[e] = ct;
    s.nControl[ct] = s.nControl[ct]! + 1;
    s.journal?.write(e);
  }

  /** A new connection used the template: re-arm it with its own timeout (never by packets of existing ones). */
  touchTemplate(ct: number): void {
    this.s.arm(ct, this.s.now + this.s.timeout[ct]!);
  }

  /**
   * ip_vs_check_template: is the template still good for a new connection?
   * When not (dest gone / not available / quiesced with expire_quiescent_template),
   * it is re-keyed so it never matches again (vport = dport = 0xFFFF, cport 0),
   * its timer and state untouched.
   */
  checkTemplate(ct: number): boolean {
    const s = this.s;
    const d = s.dest[ct]!;
    const bad = d < 0 || !this.dests.available(d) || (this.sysctl.expireQuiescentTemplate && this.dests.weight(d) === 0);
    if (!bad) return true;
    if (s.vport[ct] !== 0xffff && s.unhash(ct)) {
      s.dport[ct] = 0xffff;
      s.vport[ct] = 0xffff;
      s.cport[ct] = 0;
      s.computeHashes(ct);
      s.hash(ct);
    }
    return false;
  }

  // ------------------------------------------------------------------ per packet

  /**
   * An existing entry was found for a client→VIP packet: the kernel's checks
   * before using it, in its order — connection reuse (§2.6) for a new-connection
   * packet (TCP SYN without RST, SCTP INIT; not a fragment), then the unavailable
   * dest rule (§2.7). EXIST_RESCHEDULE: the old entry is already out of the
   * lookup path and expiring; schedule the packet as new.
   */
  decideExisting(e: number, newConnPacket: boolean, fragment: boolean): number {
    const s = this.s;
    const d = s.dest[e]!;
    if (this.sysctl.connReuseMode !== 0 && !fragment && newConnPacket) {
      let resched = false;
      if (this.sysctl.expireNodestConn && d >= 0 && this.dests.weight(d) === 0) resched = true;
      else if (this.newConnExpected(e)) resched = true;
      if (resched) {
        this.retire(e);
        return EXIST_RESCHEDULE;
      }
    }
    if (d >= 0 && !this.dests.available(d)) {
      if (!this.sysctl.expireNodestConn) return EXIST_DROP;
      this.retire(e);
      return EXIST_RESCHEDULE;
    }
    return EXIST_USE;
  }

  private newConnExpected(e: number): boolean {
    const s = this.s;
    if (s.control[e] !== NIL) return false;
    const st = s.state[e]!;
    if (s.proto[e] === PROTO_TCP) {
      return st === TCP_TIME_WAIT || st === TCP_CLOSE
        || ((this.sysctl.connReuseMode & 2) !== 0 && st === TCP_FIN_WAIT && (s.flags[e]! & CF_NOOUTPUT) !== 0);
    }
    if (s.proto[e] === PROTO_SCTP) return st === SCTP_S_CLOSED;
    return false;
  }

  /** Out of the lookup path now; expire now unless it still controls others (then its timer decides). */
  private retire(e: number): void {
    const s = this.s;
    s.unhash(e);
    if (s.nControl[e] === 0) s.arm(e, s.now);
  }

  /**
   * Run the protocol state transition for one packet of entry `e` and re-arm
   * its timer to now + the new state's timeout. `dir`: DIR_INPUT / DIR_OUTPUT.
   * `l4`: TCP flag byte, or for SCTP an event from sctpEvent(); ignored for UDP.
   * Returns EV_* bits. Templates are not passed here.
   */
  update(e: number, dir: number, l4: number): number {
    const s = this.s;
    const proto = s.proto[e]!;
    let ev = 0;
    // what a restart needs changes with the state or flags only: not written per packet
    const st0 = s.state[e]!, f0 = s.flags[e]!;
    if (dir === DIR_INPUT) s.inPkts[e] = (s.inPkts[e]! + 1) >>> 0;
    if (proto === PROTO_TCP || proto === PROTO_SCTP) {
      let f = s.flags[e]!;
      let d = dir;
      if (f & CF_NOOUTPUT) {
        if (dir === DIR_OUTPUT) { f &= ~CF_NOOUTPUT; s.flags[e] = f; } else d = DIR_INPUT_ONLY;
      }
      const old = s.state[e]!;
      let next: number;
      let active: boolean;
      if (proto === PROTO_TCP) {
        next = tcpNext(this.sysctl.secureTcp ? TCP_TABLE_SECURE : TCP_TABLE, d, tcpEventOf(l4), old);
        active = tcpStateActive(next);
      } else {
        next = sctpNext(d, l4, old);
        active = next === SCTP_S_ESTABLISHED;
      }
      if (next !== old) {
        ev |= EV_STATE;
        const dest = s.dest[e]!;
        if (dest >= 0) {
          if ((f & CF_INACTIVE) === 0 && !active) {
            s.flags[e] = f | CF_INACTIVE;
            this.dests.move(dest, COUNT_ACTIVE, COUNT_INACTIVE);
            ev |= EV_INACTIVE;
          } else if ((f & CF_INACTIVE) !== 0 && active) {
            s.flags[e] = f & ~CF_INACTIVE;
            this.dests.move(dest, COUNT_INACTIVE, COUNT_ACTIVE);
            ev |= EV_ACTIVE;
          }
        }
        if ((proto === PROTO_TCP ? next === TCP_ESTABLISHED : next === SCTP_S_ESTABLISHED) && this.assure(e)) ev |= EV_ASSURED;
      }
      s.state[e] = next;
      s.timeout[e] = proto === PROTO_TCP ? this.timeouts.tcp[next]! : this.timeouts.sctp[next]!;
    } else if (proto === PROTO_UDP) {
      s.state[e] = UDP_NORMAL;
      s.timeout[e] = this.timeouts.udp[UDP_NORMAL]!;
      if (dir === DIR_OUTPUT && this.assure(e)) ev |= EV_ASSURED;
    }
    s.arm(e, s.now + s.timeout[e]!);
    if (s.journal && (s.state[e] !== st0 || s.flags[e] !== f0)) s.journal.write(e);
    return ev;
  }

  /** ip_vs_control_assure_ct: the controlling template becomes ASSURED. */
  private assure(e: number): boolean {
    const s = this.s;
    const ct = s.control[e]!;
    if (ct === NIL || s.state[ct] === CTPL_ASSURED || (s.flags[ct]! & CF_TEMPLATE) === 0) return false;
    s.state[ct] = CTPL_ASSURED;
    s.journal?.write(ct);
    return true;
  }

  // ------------------------------------------------------------------ expiry

  /** Make the entry's timer fire at the next advance (ip_vs_conn_expire_now). */
  expireNow(e: number): void {
    this.s.arm(e, this.s.now);
  }

  /**
   * Flush-style deletion (ip_vs_conn_del): the timeout is zeroed so that a
   * controller left without children and not ASSURED goes too; runs the
   * expiry logic at once.
   */
  del(e: number): void {
    const s = this.s;
    if (s.control[e] !== NIL) s.timeout[e] = 0;
    s.unlinkTimer(e);
    this.expire(e);
  }

  /** One-packet entry: dropped right after its packet was sent (never hashed). */
  releaseOnePacket(e: number): void {
    this.s.unlinkTimer(e);
    this.expire(e);
  }

  /**
   * Advance the injected clock to `now` (ms) and run the expiry of every due
   * entry. Returns the number of entries freed.
   */
  advance(now: number): number {
    const s = this.s;
    const n = s.collectDue(now);
    let freed = 0;
    // Children first: a controller due in the same batch must see its children
    // gone (the kernel gets this from its timers' LIFO order). Passes repeat
    // while they free something; what still controls others then gets 60 s more.
    let pending = n;
    while (pending > 0) {
      let progress = 0;
      pending = 0;
      for (let i = 0; i < n; i++) {
        const e = s.dueAt(i);
        // an earlier expiry may have re-armed or freed it
        if (s.af[e] === 0 || s.isArmed(e)) continue;
        if (s.nControl[e]! > 0) { pending++; continue; }
        if (this.expire(e)) { freed++; progress++; }
      }
      if (progress === 0) break;
    }
    if (pending > 0) {
      for (let i = 0; i < n; i++) {
        const e = s.dueAt(i);
        if (s.af[e] !== 0 && !s.isArmed(e)) this.expire(e);
      }
    }
    return freed;
  }

  /** ip_vs_conn_expire. Returns true when the entry was freed. */
  private expire(e: number): boolean {
    const s = this.s;
    if (s.nControl[e]! > 0) {
      // still controls live connections: keep it, 60 s at a time, and keep 60 s as its timeout
      s.timeout[e] = KEEPALIVE_MS;
      s.arm(e, s.now + KEEPALIVE_MS);
      s.journal?.write(e);
      this.onKeep?.(e);
      return false;
    }
    s.unhash(e);
    const ct = s.control[e]!;
    if (ct !== NIL) {
      const forced = s.timeout[e] === 0;
      s.control[e] = NIL;
      s.nControl[ct] = s.nControl[ct]! - 1;
      if (forced && s.nControl[ct] === 0 && ((s.flags[ct]! & CF_TEMPLATE) === 0 || s.state[ct] !== CTPL_ASSURED)) {
        // drop the controller too (a forcibly dropped last child takes a non-assured template with it)
        if (s.af[ct] !== 0) {
          s.timeout[ct] = 0;
          s.arm(ct, s.now);
        }
      }
    }
    const d = s.dest[e]!;
    if (d >= 0) {
      const f = s.flags[e]!;
      this.dests.move(d, (f & CF_TEMPLATE) ? COUNT_PERSIST : (f & CF_INACTIVE) ? COUNT_INACTIVE : COUNT_ACTIVE, COUNT_NONE);
    }
    s.freeEntry(e);
    return true;
  }

  /**
   * expire_nodest_conn=1 at dest deletion: every entry bound to `dest` is
   * expired at the next advance (templates follow when their last child is gone).
   */
  expireDest(dest: number): number {
    const s = this.s;
    let n = 0;
    for (let e = 0; e < s.end; e++) {
      if (s.af[e] !== 0 && s.dest[e] === dest && (s.flags[e]! & CF_TEMPLATE) === 0) { this.expireNow(e); n++; }
    }
    for (let e = 0; e < s.end; e++) {
      if (s.af[e] !== 0 && s.dest[e] === dest && (s.flags[e]! & CF_TEMPLATE) !== 0) { this.expireNow(e); n++; }
    }
    return n;
  }

  // ------------------------------------------------------------------ views

  /** Plain views of every entry, for ipvsadm -Lc (lvsadm formats them). */
  *views(): IterableIterator<ConnView> {
    const s = this.s;
    for (let e = 0; e < s.end; e++) {
      if (s.af[e] === 0 || (s.flags[e]! & CF_HASHED) === 0) continue;
      yield this.view(e);
    }
  }

  view(e: number): ConnView {
    const s = this.s;
    const v6 = s.af[e] === AF_INET6;
    const p = s.proto[e]!;
    const addr = (which: number): string => {
      if (!v6) return u32ToIpv4(s.addrWord(e, which, 0));
      const b = new Uint8Array(16);
      for (let i = 0; i < 4; i++) {
        const w = s.addrWord(e, which, i);
        b[i * 4] = w >>> 24; b[i * 4 + 1] = (w >>> 16) & 255; b[i * 4 + 2] = (w >>> 8) & 255; b[i * 4 + 3] = w & 255;
      }
      return bytesToIpv6(b);
    };
    return {
      protocol: p === PROTO_TCP ? 'tcp' : p === PROTO_UDP ? 'udp' : p === PROTO_SCTP ? 'sctp' : 'ip',
      family: v6 ? 'inet6' : 'inet',
      caddr: addr(0), cport: s.cport[e]!,
      vaddr: addr(1), vport: s.vport[e]!,
      daddr: addr(2), dport: s.dport[e]!,
      expires: Math.max(0, Math.floor((s.expires[e]! - s.now) / 1000)),
      state: stateName(p, s.flags[e]!, s.state[e]!),
    };
  }
}

function tcpEventOf(flags: number): number {
  if (flags & 0x04) return 3;
  if (flags & 0x02) return 0;
  if (flags & 0x01) return 1;
  if (flags & 0x10) return 2;
  return -1;
}

// ------------------------------------------------------------------ helpers for the pipeline

/** Load a 4- or 16-byte address from a packet into a register (Uint32Array(4)). */
export function loadAddr(reg: Uint32Array, buf: Uint8Array, off: number, af: number): void {
  const n = af === AF_INET6 ? 4 : 1;
  for (let i = 0; i < n; i++) {
    const o = off + i * 4;
    reg[i] = ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
  }
  for (let i = n; i < 4; i++) reg[i] = 0;
}

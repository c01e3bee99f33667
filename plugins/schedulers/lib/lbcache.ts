// The destination-address cache table of lblc and lblcr
// (shared/spec/schedulers.md §9, §10): 1024 hash buckets by hash_32 of the
// folded address, a 60 s garbage-collection timer with a full expiry check
// every 30 ticks and a rover-based trim when the table is over-full. Times
// are milliseconds (ctx.now()); the expiration sysctls are seconds, as in /proc.

import type { SchedContext, SchedDest, SchedService } from 'lvsd';
import { hash32 } from './hash.js';
import { WlcTracker } from './wlc.js';

export const LB_TAB_BITS = 10;
export const LB_TAB_SIZE = 1 << LB_TAB_BITS;
export const LB_TAB_MASK = LB_TAB_SIZE - 1;
export const LB_MAX_SIZE = LB_TAB_SIZE * 16;
/** CHECK_EXPIRE_INTERVAL (ms). */
export const LB_CHECK_INTERVAL = 60_000;
/** ENTRY_TIMEOUT (ms): entries unused this long go first when over-full. */
export const LB_ENTRY_TIMEOUT = 6 * 60_000;
const COUNT_FOR_FULL_EXPIRATION = 30;
/** Default of the lblc_expiration / lblcr_expiration sysctls (s). */
export const LB_DEFAULT_EXPIRATION = 24 * 60 * 60;

export interface LbEntry {
  /** The packet destination address (canonical text) this entry is for. */
  readonly addr: string;
  readonly bucket: number;
  lastuse: number;
}

export class LbTable<E extends LbEntry> {
  private readonly map = new Map<string, E>();
  private readonly buckets: (Set<E> | undefined)[] = new Array<Set<E> | undefined>(LB_TAB_SIZE);
  rover = 0;
  counter = 1;
  dead = false;

  get entries(): number { return this.map.size; }

  static bucketOf(addr32: number): number { return hash32(addr32, LB_TAB_BITS); }

  get(addr: string): E | undefined { return this.map.get(addr); }

  add(e: E): void {
    this.map.set(e.addr, e);
    let b = this.buckets[e.bucket];
    if (!b) this.buckets[e.bucket] = b = new Set<E>();
    b.add(e);
  }

  delete(e: E): void {
    this.map.delete(e.addr);
    this.buckets[e.bucket]?.delete(e);
  }

  flush(): void {
    this.dead = true;
    this.map.clear();
    this.buckets.fill(undefined);
  }

  /** One run of the periodic timer (ip_vs_lblc_check_expire / ip_vs_lblcr_check_expire); `now` and `expiration` in ms. */
  checkExpire(now: number, expiration: number): void {
    if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
      // Full check: every bucket from rover+1 round to rover (the rover ends where it began).
      for (const e of [...this.map.values()]) if (now >= e.lastuse + expiration) this.delete(e);
      this.counter = 1;
      return;
    }
    if (this.entries <= LB_MAX_SIZE) {
      this.counter++;
      return;
    }
    let goal = Math.trunc(((this.entries - LB_MAX_SIZE) * 4) / 3);
    if (goal > LB_MAX_SIZE / 2) goal = LB_MAX_SIZE / 2;
    let j = this.rover;
    for (let i = 0; i < LB_TAB_SIZE; i++) {
      j = (j + 1) & LB_TAB_MASK;
      const b = this.buckets[j];
      if (b) {
        for (const e of [...b]) {
          if (now < e.lastuse + LB_ENTRY_TIMEOUT) continue;
          this.delete(e);
          goal--;
        }
      }
      if (goal <= 0) break;
    }
    this.rover = j;
  }
}

/** The state of lblc and lblcr: the cache table and the wlc pick. */
export interface LbState<E extends LbEntry> {
  tbl: LbTable<E>;
  /** The wlc pick and the "2*weight" test, kept incrementally. */
  wlc: WlcTracker;
}

/**
 * The hooks lblc and lblcr share: keep the wlc tracker in step with the dest
 * list and counters, flush the table when the service goes, and expire
 * entries every LB_CHECK_INTERVAL with the `expirationSysctl` setting.
 */
export function lbHooks<E extends LbEntry>(expirationSysctl: string) {
  return {
    tickInterval: LB_CHECK_INTERVAL,
    init(svc: SchedService): LbState<E> {
      const s: LbState<E> = { tbl: new LbTable<E>(), wlc: new WlcTracker() };
      s.wlc.rebuild(svc.dests);
      return s;
    },
    done(_svc: SchedService, s: LbState<E>): void { s.tbl.flush(); },
    addDest(svc: SchedService, s: LbState<E>): void { s.wlc.rebuild(svc.dests); },
    delDest(svc: SchedService, s: LbState<E>): void { s.wlc.rebuild(svc.dests); },
    updDest(_svc: SchedService, s: LbState<E>, d: SchedDest): void { s.wlc.update(d); },
    destLoad(_svc: SchedService, s: LbState<E>, d: SchedDest): void { s.wlc.update(d); },
    tick(_svc: SchedService, { tbl }: LbState<E>, ctx: SchedContext): void {
      tbl.checkExpire(ctx.now(), (ctx.sysctl?.(expirationSysctl) ?? LB_DEFAULT_EXPIRATION) * 1000);
    },
  };
}

// lblcr — Locality-Based Least Connection with Replication
// (shared/spec/schedulers.md §10). Each destination address maps to a server
// set (newest member first); the set's least-loaded member serves unless it
// fails the "2*weight" test, then wlc picks a dest that joins the set. A set
// untouched for lblcr_expiration loses its most loaded member.

import { defineScheduler, type SchedDest } from 'lvsd';
import { NO_DEST, connOverhead, mulGreater, schedulerErr } from './lib/common.js';
import { LB_DEFAULT_EXPIRATION, LbTable, lbHooks, type LbEntry, type LbState } from './lib/lbcache.js';

interface LblcrEntry extends LbEntry {
  /** Server set, newest member first. */
  set: SchedDest[];
  lastmod: number;
}

/** ip_vs_dest_set_min(). */
function setMin(set: readonly SchedDest[]): SchedDest | null {
  let i = 0;
  let least: SchedDest | null = null;
  for (; i < set.length; i++) {
    const d = set[i]!;
    if (d.overloaded) continue;
    if (d.weight > 0 && d.available) { least = d; break; }
  }
  if (least === null) return null;
  let loh = connOverhead(least);
  for (i++; i < set.length; i++) {
    const d = set[i]!;
    if (d.overloaded) continue;
    const doh = connOverhead(d);
    if (mulGreater(loh, d.weight, doh, least.weight) && d.available) { least = d; loh = doh; }
  }
  return least;
}

/** ip_vs_dest_set_max(). */
function setMax(set: readonly SchedDest[]): SchedDest | null {
  let i = 0;
  let most: SchedDest | null = null;
  for (; i < set.length; i++) {
    if (set[i]!.weight > 0) { most = set[i]!; break; }
  }
  if (most === null) return null;
  let moh = connOverhead(most);
  for (i++; i < set.length; i++) {
    const d = set[i]!;
    const doh = connOverhead(d);
    // moh/mw < doh/dw  <=>  moh*dw < doh*mw
    if (mulGreater(doh, most.weight, moh, d.weight) && d.weight > 0) { most = d; moh = doh; }
  }
  return most;
}

type State = LbState<LblcrEntry>;

export default defineScheduler<State>({
  name: 'lblcr',
  description: 'Locality-Based Least-Connection with Replication',
  ...lbHooks<LblcrEntry>('lblcr_expiration'),
  schedule(svc, s, pkt, ctx) {
    const tbl = s.tbl;
    const now = ctx.now();
    const en = tbl.get(pkt.daddr);
    if (en) {
      en.lastuse = now;
      const d = setMin(en.set);
      const exp = (ctx.sysctl?.('lblcr_expiration') ?? LB_DEFAULT_EXPIRATION) * 1000;   // the sysctl is in seconds
      if (en.set.length > 1 && now > en.lastmod + exp) {
        const m = setMax(en.set);
        if (m) {
          en.set.splice(en.set.indexOf(m), 1);
          en.lastmod = now;
        }
      }
      if (d && !s.wlc.overloaded(d, svc)) return d;
      const dest = s.wlc.pick(svc);
      if (dest === null) {
        schedulerErr(svc, 'lblcr', NO_DEST, ctx);
        return null;
      }
      if (!tbl.dead && !en.set.includes(dest)) {
        en.set.unshift(dest);
        en.lastmod = now;
      }
      return dest;
    }
    const dest = s.wlc.pick(svc);
    if (dest === null) return null; // the kernel logs nothing on this path (IP_VS_DBG only)
    if (!tbl.dead) {
      tbl.add({ addr: pkt.daddr, bucket: LbTable.bucketOf(pkt.daddr32), lastuse: now, set: [dest], lastmod: now });
    }
    return dest;
  },
});

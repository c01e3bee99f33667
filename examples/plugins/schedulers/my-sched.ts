// An example custom scheduler: "my-sched" — weighted least *active*
// connections with ties spread round-robin.
//
// Policy: among dests that are not OVERLOAD and have weight > 0, pick the one
// with the smallest activeConns / weight (compared by cross-multiplication,
// as the kernel does). Inactive connections (TIME_WAIT, UDP) are ignored, so
// short-lived UDP traffic does not skew the choice. Unlike wlc, which always
// gives a tie to the first dest in list order, ties here are rotated: the scan
// starts one position further on each call, so idle servers share new
// connections evenly instead of the newest dest taking a burst.
//
// Use it: put this file in a plugins folder (here: examples/plugins, laid out
// by kind), name the folder in config (`plugins: ['./examples/plugins']`) or
// with `lvsd --plugins examples/plugins`, then `lvsadm -A -t VIP:80 -s my-sched`.
// Try it offline: `lvsd sched-trace --plugins examples/plugins scenario.json`.
//
// Contract (core/plugin.ts): init() builds per-service state; schedule() is
// called once per new connection and returns a dest or null. State lives in
// the object init() returns, never in module globals: data-plane plugins are
// loaded once per worker and shared by every service.

import { defineScheduler, type SchedDest } from 'lvsd';

interface State {
  /** Where the next scan starts (an index into svc.dests, taken modulo its length). */
  start: number;
}

export default defineScheduler<State>({
  name: 'my-sched',
  description: 'Weighted least active connections, ties rotated',
  init() {
    return { start: 0 };
  },
  schedule(svc, state, _pkt, ctx) {
    const ds = svc.dests;
    const n = ds.length;
    let best: SchedDest | null = null;
    for (let k = 0; k < n; k++) {
      const d = ds[(state.start + k) % n]!;
      if (d.overloaded || d.weight <= 0) continue;
      // d better than best  <=>  d.active / d.weight < best.active / best.weight
      if (best === null || d.activeConns * best.weight < best.activeConns * d.weight) best = d;
    }
    state.start = n > 0 ? (state.start + 1) % n : 0;
    if (best === null) {
      ctx.log(`IPVS: my-sched: ${svc.protocol.toUpperCase()} ${svc.addr}:${svc.port} - no destination available`);
    }
    return best;
  },
});

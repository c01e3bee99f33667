// Helpers shared by several schedulers (shared/spec/schedulers.md §0).

import type { SchedContext, SchedDest, SchedService } from 'lvsd';

/** ip_vs_dest_conn_overhead: (activeconns << 8) + inactconns as a 32-bit int. */
export function connOverhead(d: SchedDest): number {
  return ((d.activeConns << 8) + d.inactConns) | 0;
}

const SAFE = 2 ** 53;

/**
 * `(s64)a * b > (s64)c * d`, exactly. Doubles are exact while both products
 * stay below 2^53 (always with ipvsadm's 16-bit weights); beyond that the
 * comparison is redone in BigInt so no decision ever differs from the kernel.
 */
export function mulGreater(a: number, b: number, c: number, d: number): boolean {
  const p = a * b, q = c * d;
  if (p < SAFE && p > -SAFE && q < SAFE && q > -SAFE) return p > q;
  return BigInt(a) * BigInt(b) > BigInt(c) * BigInt(d);
}

/** sh/mh: a dest the hash table points at that may not be used (weight <= 0 or OVERLOAD). */
export function unavailable(d: SchedDest): boolean {
  return d.weight <= 0 || d.overloaded;
}

/** "d is strictly better than the current least" in the wlc sense (§0.4). */
export function wlcBetter(loh: number, least: SchedDest, doh: number, d: SchedDest): boolean {
  return mulGreater(loh, d.weight, doh, least.weight);
}

const PROTO_NAME = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' } as const;

/** ip_vs_scheduler_err(): the kernel's rate-limited log text (§0.5). */
export function schedulerErr(svc: SchedService, sched: string, msg: string, ctx: SchedContext): void {
  let where: string;
  if (svc.fwmark > 0) {
    where = `FWM ${svc.fwmark >>> 0} 0x${(svc.fwmark >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
  } else if (svc.family === 'inet6') {
    where = `${PROTO_NAME[svc.protocol]} [${svc.addr}]:${svc.port}`;
  } else {
    where = `${PROTO_NAME[svc.protocol]} ${svc.addr}:${svc.port}`;
  }
  ctx.log(`IPVS: ${sched}: ${where} - ${msg}`);
}

export const NO_DEST = 'no destination available';

/** Whether the packet's protocol carries ports the sh-port/mh-port flags may hash. */
export function hasPorts(protocol: string): boolean {
  return protocol === 'tcp' || protocol === 'udp' || protocol === 'sctp';
}

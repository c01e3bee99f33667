// The rules ipvsadm itself enforces on a service and a real server before the
// kernel sees them (spec/ipvsadm.md §4.2-§4.3), with ipvsadm's own texts. Both
// lvsadm and the config schema use these, so an operator reads the same
// sentence whichever way the table is fed.

import {
  SVC_F_ONEPACKET, SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3,
  type DestSpec, type ServiceSpec,
} from './types.js';

/** ipvsadm 1.31 accepts any non-negative int (checked on 6.1: -w 2147483647 is taken). */
export const MAX_WEIGHT = 2147483647;
export const MAX_THRESHOLD = 2147483647;
export const MAX_PERSISTENCE = 2678400;
export const DEFAULT_PERSISTENCE = 360;

/**
 * Names of the three flag bits as ipvsadm prints them for a scheduler; sh and
 * mh print nothing for the third bit (ipvsadm's print_sched_flags).
 */
export function schedFlagNames(scheduler: string): [string, string, string] {
  if (scheduler === 'sh') return ['sh-fallback', 'sh-port', ''];
  if (scheduler === 'mh') return ['mh-fallback', 'mh-port', ''];
  return ['flag-1', 'flag-2', 'flag-3'];
}

/** ipvsadm's `-b` words and the bit each sets; `only` = the scheduler a word needs. */
export const SCHED_FLAG_WORDS: Readonly<Record<string, { bit: number; only?: string }>> = {
  'flag-1': { bit: SVC_F_SCHED1 }, 'flag-2': { bit: SVC_F_SCHED2 }, 'flag-3': { bit: SVC_F_SCHED3 },
  'sh-fallback': { bit: SVC_F_SCHED1, only: 'sh' }, 'sh-port': { bit: SVC_F_SCHED2, only: 'sh' },
  'mh-fallback': { bit: SVC_F_SCHED1, only: 'mh' }, 'mh-port': { bit: SVC_F_SCHED2, only: 'mh' },
};

/**
 * `-b` flag words to bits, as ipvsadm parses them, word by word: an unknown
 * word is ``invalid scheduler flag `x'``; an sh-/mh- word with another
 * scheduler is ``incompatible scheduler flag `x'``.
 */
export function parseSchedFlags(words: readonly string[], scheduler: string): { flags: number } | { error: string } {
  let flags = 0;
  for (const w of words) {
    const def = Object.hasOwn(SCHED_FLAG_WORDS, w) ? SCHED_FLAG_WORDS[w] : undefined;
    if (!def) return { error: `invalid scheduler flag \`${w}'` };
    if (def.only !== undefined && def.only !== scheduler) return { error: `incompatible scheduler flag \`${w}'` };
    flags |= def.bit;
  }
  return { flags };
}

/** The `-b` list of a service's flags, as listings and -S print it ('' when none). */
export function schedFlagsText(spec: Pick<ServiceSpec, 'scheduler' | 'flags'>): string {
  const names = schedFlagNames(spec.scheduler);
  return [SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3]
    .map((bit, i) => ((spec.flags & bit) !== 0 ? names[i]! : ''))
    .filter((s) => s !== '')
    .join(',');
}

/** ipvsadm's checks on a service (-A/-E); null when it passes. */
export function serviceRuleError(s: ServiceSpec): string | null {
  if (s.fwmark === 0 && s.port === 0 && (s.flags & SVC_F_PERSISTENT) === 0) {
    return 'Zero port specified for non-persistent service';
  }
  if ((s.flags & SVC_F_ONEPACKET) !== 0 && s.fwmark === 0 && s.protocol !== 'udp') {
    return 'One-Packet Scheduling is only for UDP virtual services';
  }
  return null;
}

/** ipvsadm's checks on a real server (-a/-e) of a service; null when it passes. */
export function destRuleError(svc: Pick<ServiceSpec, 'family'>, d: DestSpec): string | null {
  if (d.family !== svc.family && d.fwd !== 'tunnel') {
    return 'Different address family is allowed only for tunneling servers';
  }
  if (!Number.isInteger(d.weight) || d.weight < 0 || d.weight > MAX_WEIGHT) return 'illegal weight specified';
  if (!Number.isInteger(d.uThreshold) || d.uThreshold < 0 || d.uThreshold > MAX_THRESHOLD) return 'illegal u_threshold specified';
  if (!Number.isInteger(d.lThreshold) || d.lThreshold < 0 || d.lThreshold > MAX_THRESHOLD) return 'illegal l_threshold specified';
  return null;
}

/**
 * Direct routing and tunnelling cannot change the port: for a non-fwmark
 * service ipvsadm silently forces the real server's port to the virtual one.
 */
export function forcedDestPort(svc: Pick<ServiceSpec, 'fwmark' | 'port'>, d: Pick<DestSpec, 'fwd' | 'port'>): number {
  return svc.fwmark === 0 && (d.fwd === 'route' || d.fwd === 'tunnel') ? svc.port : d.port;
}

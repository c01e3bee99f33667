// ipvsadm's own knowledge of the `-b` words (parse_sched_flags and
// print_sched_flags in ipvsadm.c): it knows the words of sh and mh by name,
// whatever schedulers the daemon has loaded, so lvsadm parses and prints
// exactly as ipvsadm does. The daemon's schedulers declare their words
// themselves (SchedulerPlugin.flags).

import { SVC_F_SCHED1, SVC_F_SCHED2, type ServiceSpec } from '../../core/model/types.js';
import { parseSchedFlags, schedFlagsText } from '../../core/model/rules.js';
import type { SchedFlagWords } from '../../core/plugin.js';

/** The scheduler-specific `-b` words ipvsadm knows, by scheduler. */
export const IPVSADM_SCHED_FLAGS: Readonly<Record<string, SchedFlagWords>> = {
  sh: { 'sh-fallback': SVC_F_SCHED1, 'sh-port': SVC_F_SCHED2 },
  mh: { 'mh-fallback': SVC_F_SCHED1, 'mh-port': SVC_F_SCHED2 },
};

const wordsOf = (scheduler: string): SchedFlagWords | undefined =>
  Object.hasOwn(IPVSADM_SCHED_FLAGS, scheduler) ? IPVSADM_SCHED_FLAGS[scheduler] : undefined;

const knownWord = (w: string): boolean => Object.values(IPVSADM_SCHED_FLAGS).some((m) => Object.hasOwn(m, w));

/** `-b` words to bits for `scheduler`, with ipvsadm's errors (invalid / incompatible scheduler flag). */
export function parseIpvsadmSchedFlags(words: readonly string[], scheduler: string): { flags: number } | { error: string } {
  return parseSchedFlags(words, wordsOf(scheduler), knownWord);
}

/** The `-b` list of a service's flags as ipvsadm prints it ('' when none). */
export function ipvsadmSchedFlagsText(spec: Pick<ServiceSpec, 'scheduler' | 'flags'>): string {
  return schedFlagsText(spec, wordsOf(spec.scheduler));
}

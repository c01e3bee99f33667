// The rules ipvsadm itself enforces on a service and a real server before the
// kernel sees them (spec/ipvsadm.md §4.2-§4.3), with ipvsadm's own texts. Both
// lvsadm and the config schema use these, so an operator reads the same
// sentence whichever way the table is fed.

import type { ForwarderCaps, ForwarderLookup, SchedFlagWords } from '../plugin.js';
import {
  SVC_F_ONEPACKET, SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3,
  type DestSpec, type FwdMethod, type ServiceSpec,
} from './types.js';

/** ipvsadm 1.31 accepts any non-negative int (checked on 6.1: -w 2147483647 is taken). */
export const MAX_WEIGHT = 2147483647;
export const MAX_THRESHOLD = 2147483647;
export const MAX_PERSISTENCE = 2678400;
export const DEFAULT_PERSISTENCE = 360;

// Scheduler flags (`-b`): the three bits are the kernel's (SVC_F_SCHED1..3);
// their words other than the generic flag-1..3 belong to the scheduler that
// declares them (SchedulerPlugin.flags). Nothing here names a scheduler.

/** The generic `-b` words, valid with every scheduler. */
export const GENERIC_SCHED_FLAGS: SchedFlagWords = { 'flag-1': SVC_F_SCHED1, 'flag-2': SVC_F_SCHED2, 'flag-3': SVC_F_SCHED3 };

/** The bit of `-b` word `w`: a generic word or one of the scheduler's own (`own`); undefined when neither. */
export function schedFlagBit(w: string, own: SchedFlagWords | undefined): number | undefined {
  if (Object.hasOwn(GENERIC_SCHED_FLAGS, w)) return GENERIC_SCHED_FLAGS[w];
  return own !== undefined && Object.hasOwn(own, w) ? own[w] : undefined;
}

/**
 * `-b` flag words to bits, as ipvsadm parses them, word by word: a word that
 * is neither generic nor the scheduler's own is ``incompatible scheduler flag
 * `x'`` when another scheduler has it (`elsewhere`), else ``invalid scheduler flag `x'``.
 */
export function parseSchedFlags(words: readonly string[], own: SchedFlagWords | undefined,
  elsewhere: (word: string) => boolean = () => false): { flags: number } | { error: string } {
  let flags = 0;
  for (const w of words) {
    const bit = schedFlagBit(w, own);
    if (bit === undefined) return { error: `${elsewhere(w) ? 'incompatible' : 'invalid'} scheduler flag \`${w}'` };
    flags |= bit;
  }
  return { flags };
}

/**
 * The `-b` list of a service's flag bits ('' when none), as ipvsadm's
 * print_sched_flags: a scheduler with its own words (`words`) shows only
 * those; any other shows flag-1..3.
 */
export function schedFlagsText(spec: Pick<ServiceSpec, 'flags'>, words?: SchedFlagWords): string {
  const names = words !== undefined && Object.keys(words).length > 0 ? words : GENERIC_SCHED_FLAGS;
  const out: string[] = [];
  for (const bit of [SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3]) {
    if ((spec.flags & bit) === 0) continue;
    const w = Object.keys(names).find((k) => names[k] === bit);
    if (w !== undefined) out.push(w);
  }
  return out.join(',');
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

// Forwarding methods: what a method allows (another address family, another
// port) is its forwarder's to say (ForwarderCaps), passed in as a lookup; the
// rules below compare no method.

/**
 * COMPATIBILITY DEFAULT — remove once core/config/schema.ts passes the
 * registry's lookup (ValidateContext): the capabilities the built-in
 * forwarders declare (plugins/forwarding: tun crossFamily + keepsPort, dr
 * keepsPort), for callers written before the lookup parameter. Data keyed by
 * the method vocabulary, read by nothing but the defaults below.
 */
const COMPAT_CAPS: Readonly<Record<FwdMethod, ForwarderCaps>> = {
  masq: {}, local: {}, route: { keepsPort: true }, tunnel: { crossFamily: true, keepsPort: true, tunnelOptions: true },
};
/** COMPATIBILITY DEFAULT (see COMPAT_CAPS): the built-in forwarders' capabilities as a lookup. */
export const compatForwarderCaps: ForwarderLookup = (method) => COMPAT_CAPS[method];

/** Whether a real server forwarded by `fwd` may be of another address family than its service (tunnelling). */
export function allowsCrossFamily(fwd: FwdMethod, forwarder: ForwarderLookup = compatForwarderCaps): boolean {
  return forwarder(fwd)?.crossFamily === true;
}

/** Whether packets forwarded by `fwd` keep the virtual port (direct routing, tunnelling). */
export function keepsVirtualPort(fwd: FwdMethod, forwarder: ForwarderLookup = compatForwarderCaps): boolean {
  return forwarder(fwd)?.keepsPort === true;
}

/** Whether real servers forwarded by `fwd` take tunnel options (type, port, checksum). */
export function takesTunnelOptions(fwd: FwdMethod, forwarder: ForwarderLookup = compatForwarderCaps): boolean {
  return forwarder(fwd)?.tunnelOptions === true;
}

/**
 * ipvsadm's checks on a real server (-a/-e) of a service; null when it passes.
 * `forwarder`: the capabilities of each method's forwarder (the registry's).
 */
export function destRuleError(svc: Pick<ServiceSpec, 'family'>, d: DestSpec,
  forwarder: ForwarderLookup = compatForwarderCaps): string | null {
  if (d.family !== svc.family && !allowsCrossFamily(d.fwd, forwarder)) {
    return 'Different address family is allowed only for tunneling servers';
  }
  if (!Number.isInteger(d.weight) || d.weight < 0 || d.weight > MAX_WEIGHT) return 'illegal weight specified';
  if (!Number.isInteger(d.uThreshold) || d.uThreshold < 0 || d.uThreshold > MAX_THRESHOLD) return 'illegal u_threshold specified';
  if (!Number.isInteger(d.lThreshold) || d.lThreshold < 0 || d.lThreshold > MAX_THRESHOLD) return 'illegal l_threshold specified';
  return null;
}

/**
 * A method that keeps the virtual port (`keepsPort`: direct routing,
 * tunnelling) cannot change it: for a non-fwmark service ipvsadm silently
 * forces the real server's port to the virtual one.
 */
export function forcedDestPort(svc: Pick<ServiceSpec, 'fwmark' | 'port'>, d: Pick<DestSpec, 'fwd' | 'port'>,
  forwarder: ForwarderLookup = compatForwarderCaps): number {
  return svc.fwmark === 0 && keepsVirtualPort(d.fwd, forwarder) ? svc.port : d.port;
}

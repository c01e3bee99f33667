// Capabilities lvsd keeps once started (README "Security"). Everything that
// needs more (binding the control socket, opening packet sockets and rings,
// reading the config) has happened by then; what is left needs:
//   CAP_NET_ADMIN  nft and ip (run as children, they inherit it), socket
//                  options of packet sockets, netlink
//   CAP_NET_RAW    packet sockets a data-plane worker may open again
//   CAP_SETUID, CAP_SETGID  starting notify programs and exec checks as scriptUser
//   CAP_KILL       stopping such a program at its timeout (it is another user's)
// The rest (CAP_DAC_OVERRIDE, CAP_SYS_ADMIN, CAP_SYS_PTRACE, …) is dropped
// from the bounding set (no child, not even a setuid-root one, gets it back)
// and from the thread's permitted and effective sets.
//
// Linux keeps capabilities per thread and capset() changes only the calling
// one: this is the main thread (where control requests, reloads, children and
// timers run, and which every thread started later copies). Each data-plane
// worker drops its own (all but CAP_NET_ADMIN and CAP_NET_RAW) once its rings
// are open. libuv's pool threads (file I/O) started before keep theirs. See README.

import koffi from 'koffi';
import { readFileSync } from 'node:fs';

export const CAP = { KILL: 5, SETGID: 6, SETUID: 7, SETPCAP: 8, NET_ADMIN: 12, NET_RAW: 13 } as const;
export const KEPT: readonly number[] = [CAP.NET_ADMIN, CAP.NET_RAW, CAP.SETUID, CAP.SETGID, CAP.KILL];
const NAMES: Record<number, string> = { 5: 'cap_kill', 6: 'cap_setgid', 7: 'cap_setuid', 12: 'cap_net_admin', 13: 'cap_net_raw' };

const PR_CAPBSET_DROP = 24;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

export type CapsResult = { ok: true; kept: string[] } | { ok: false; error: string };

type Prctl = (option: number, a: number, b: number, c: number, d: number) => number;
type Capset = (hdr: Buffer, data: Buffer) => number;

/** Capability bits of /proc/thread-self/status's line `name` (CapEff, CapBnd …). */
export function threadCaps(name: 'CapEff' | 'CapPrm' | 'CapBnd' | 'CapInh'): bigint {
  const m = new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(readFileSync('/proc/thread-self/status', 'utf8'));
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export const maskOf = (caps: readonly number[]): bigint => caps.reduce((m, c) => m | (1n << BigInt(c)), 0n);

/**
 * Drops every capability but `keep` from the calling thread (bounding set
 * first: that needs CAP_SETPCAP, which capset then gives up). Only for root;
 * an ordinary user's lvsd has none to drop.
 */
export function dropCapabilities(keep: readonly number[] = KEPT): CapsResult {
  if ((process.geteuid?.() ?? 0) !== 0) return { ok: true, kept: [] };
  let prctl: Prctl, capset: Capset;
  try {
    const libc = koffi.load('libc.so.6');
    prctl = libc.func('int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)') as Prctl;
    capset = libc.func('int capset(void *, void *)') as Capset;
  } catch (e) {
    return { ok: false, error: `cannot call prctl/capset (${(e as Error).message})` };
  }
  let last = 40;
  try { last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim()); } catch { /* the kernel's of 2024 */ }
  const bounding = threadCaps('CapBnd');
  for (let c = 0; c <= last; c++) {
    if (keep.includes(c) || (bounding & (1n << BigInt(c))) === 0n) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) !== 0) return { ok: false, error: `prctl(PR_CAPBSET_DROP, ${c}) failed (no CAP_SETPCAP?)` };
  }
  const mask = maskOf(keep) & threadCaps('CapPrm');
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
  hdr.writeInt32LE(0, 4);   // 0: the calling thread
  const data = Buffer.alloc(24);   // two { effective, permitted, inheritable } of 32 bits
  const lo = Number(mask & 0xffffffffn), hi = Number(mask >> 32n);
  data.writeUInt32LE(lo, 0); data.writeUInt32LE(lo, 4); data.writeUInt32LE(0, 8);
  data.writeUInt32LE(hi, 12); data.writeUInt32LE(hi, 16); data.writeUInt32LE(0, 20);
  if (capset(hdr, data) !== 0) return { ok: false, error: 'capset failed' };
  if (threadCaps('CapEff') !== mask) return { ok: false, error: `capset left ${threadCaps('CapEff').toString(16)}, not ${mask.toString(16)}` };
  return { ok: true, kept: keep.filter((c) => (mask & (1n << BigInt(c))) !== 0n).map((c) => NAMES[c] ?? `cap_${c}`) };
}

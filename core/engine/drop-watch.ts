// Watches the data plane's drop reasons and I/O counters while lvsd runs, so
// that a reason starting to climb shows in the log when it happens, not only
// in a worker's exit line (a NAT download once stalled on `oversize` with
// nothing logged). Pure: the caller gives it the summed counters and the time
// (WorkerDataPlane once a second, MemoryDataPlane from its polls) and logs the
// notices it returns.
//
// A reason is reported when it first increases (since lvsd started, or after
// QUIET_MS without an increase), or when its increase over an observation is
// well above its recent rate (an exponentially weighted average over TAU_MS):
// FACTOR times what that rate predicts and at least MIN_EXCESS frames more, so
// a steady trickle does not read as a climb. At most one line per reason per
// INTERVAL_MS: a climb seen meanwhile is reported, with the increase since it
// began, once the minute is over. When a climb ends (no increase for CALM_MS)
// and more was dropped than its lines said, one summary line follows.
//
// What each reason is worth is in POLICY: packets for addresses that are no
// service, other hosts' MACs or non-IP frames are a shared link's normal
// background and are not watched; malformed frames and ICMP oddities are info
// or debug; what loses traffic lvsd should have forwarded is a warning.

import type { PlaneCounters } from './dataplane.js';
import { DROP_NAMES } from '../packet/parse.js';

export type WatchLevel = 'warn' | 'info' | 'debug';
export type CounterKind = 'drop' | 'io';

export interface CounterPolicy {
  /** Null: not watched (normal background, or not a loss: frames received, sent). */
  level: WatchLevel | null;
  /** What it usually means, in one line. */
  hint: string;
}

export interface DropNotice {
  level: WatchLevel;
  kind: CounterKind;
  name: string;
  /** The log line. */
  text: string;
}

/** The counters at one moment, summed over the replicas: drop reasons and I/O counters, by name. */
export interface WatchedCounters { drops: Readonly<Record<string, number>>; io: Readonly<Record<string, number>> }

export interface DropWatchOptions {
  /** At most one line per reason this often, ms. */
  intervalMs?: number;
  /** A climb has ended after this long without an increase, ms. */
  calmMs?: number;
  /** An increase after this long without one counts as a first occurrence again, ms. */
  quietMs?: number;
  /** Time constant of the recent rate, ms. */
  tauMs?: number;
  /** A climb: at least this many times the increase the recent rate predicts… */
  factor?: number;
  /** …and at least this many frames above it. */
  minExcess?: number;
}

const INTERVAL_MS = 60_000;
const CALM_MS = 60_000;
const QUIET_MS = 600_000;
const TAU_MS = 120_000;
const FACTOR = 4;
const MIN_EXCESS = 10;

const NORMAL = (hint: string): CounterPolicy => ({ level: null, hint });
const warn = (hint: string): CounterPolicy => ({ level: 'warn', hint });
const info = (hint: string): CounterPolicy => ({ level: 'info', hint });
const debug = (hint: string): CounterPolicy => ({ level: 'debug', hint });

const MALFORMED = info('malformed frames (truncated or invalid headers): a broken sender or corruption on the link');
const CONN_FULL = warn('the connection table is full (maxConnections): new connections are refused');

/** Engine drop reasons (drops.ts, Engine.dropCounts(), the worker's held frames). */
const DROP_POLICY: Readonly<Record<string, CounterPolicy>> = {
  ...Object.fromEntries(DROP_NAMES.slice(1).map((n) => [n, MALFORMED])),
  'ip-csum': info('IPv4 header checksums that do not match: corruption on the link'),
  'ip-frag': info('invalid IP fragments (offsets past 64 KiB, the reserved bit, empty fragments)'),
  'not-ip': NORMAL('frames that are not IPv4/IPv6: the host stack handles them'),
  'arp': NORMAL('ARP: the host stack answers it'),
  'not-host': NORMAL('frames for other MACs: normal on a shared link'),
  'fragment': warn('IP fragments to a service: lvsd does not reassemble, so fragmented traffic (large UDP datagrams) is lost'),
  'unknown-proto': debug('protocols other than TCP, UDP, SCTP and ICMP to a VIP'),
  'icmp-not-error': debug('ICMP that is not an error (pings to a VIP): the host stack answers it'),
  'icmp-quote': info('ICMP errors quoting a packet lvsd cannot read'),
  'icmp-no-conn': debug('ICMP errors about connections lvsd does not hold (expired ones): normal'),
  'icmp-not-nat': debug('ICMP errors from DR/TUN real servers: they reach the client directly'),
  'backup-only': NORMAL('packets to a service while this director is a sync backup with backupOnly: the host stack has them'),
  'foreign-vip': NORMAL('packets to a VIP the failover instance holds on another director (this one is BACKUP): the host stack has them'),
  'no-service': NORMAL('packets to addresses or ports that are no virtual service: normal background on a shared link'),
  'no-conn': info('TCP segments without SYN for no connection: expired connections, or ones a restarted or failed-over director held'),
  'port-zero': debug('packets to port 0 of a service that is not persistent'),
  'dest-unavailable': info('packets of connections to a deleted real server (kept until they expire, expire_nodest_conn=0)'),
  'no-dest': warn('the scheduler found no real server (all down, weight 0 or over their thresholds): clients get port unreachable'),
  'conn-limit': CONN_FULL,
  'conn-table-full': CONN_FULL,
  'no-forwarder': warn('no forwarding plugin for a real server\'s method (check the plugins lvsd loaded)'),
  'internal': warn('a bug caught per frame: please report it, with this log'),
  'fwd-ttl': info('TTL or hop limit exhausted at the director: a routing loop?'),
  'fwd-mtu': warn('packets above the MTU towards the real server (tunnel overhead?): the sender got "fragmentation needed"'),
  'fwd-no-route': warn('no route or next hop towards the real server (or the client) on lvsd\'s interfaces'),
  'fwd-no-room': warn('no room in the frame for the tunnel header'),
  'fwd-bad': warn('the forwarding plugin refused packets'),
  'tx-full': warn('the transmit batch was full: a burst of output frames was cut'),
  'icmp-no-route': info('ICMP errors lvsd would send that have no route back'),
  'neighbour-unresolved': warn('next hops that did not answer ARP/ND within 3 s (or more frames waited for one than its queue holds)'),
};

/** I/O counters (AfPacketIo.counters(), MemoryWire.counters()). */
const IO_POLICY: Readonly<Record<string, CounterPolicy>> = {
  'rx': NORMAL('frames received'),
  'tx': NORMAL('frames sent'),
  'oversize': warn('frames above 64 KiB (a BIG TCP aggregate?), or cut in their ring slot with no copy queued: the socket\'s receive buffer was full'),
  'aggregates-in': NORMAL('GSO/GRO aggregates received'),
  'csum-partial-in': NORMAL('frames received with a partial checksum (checksum offload)'),
  'copied': NORMAL('frames larger than a ring slot, read whole through the socket\'s copy queue'),
  'aggregates-out': NORMAL('aggregates sent for the kernel to segment'),
  'csum-partial-out': NORMAL('frames sent for the kernel or the NIC to checksum'),
  'ring-drops': warn('the kernel\'s receive ring was full: the workers do not keep up with the traffic (more `workers`?)'),
  'tx-errors': warn('frames the kernel refused to send (a link down, a frame above its MTU)'),
};

/** What a counter is worth watching, and what it usually means; names this build does not know get a default. */
export function counterPolicy(kind: CounterKind, name: string): CounterPolicy {
  if (kind === 'drop') return DROP_POLICY[name] ?? warn('a drop reason this lvsd has no description for');
  // an I/O counter not known here is more often a throughput figure than a loss
  return IO_POLICY[name] ?? debug('an I/O counter');
}

interface State {
  total: number;
  /** Recent rate, per ms. */
  rate: number;
  /** Last increase, and the last line written (-Infinity: none). */
  increasedAt: number;
  loggedAt: number;
  /** The rate before the current run of climbing looks (null: the last look was no climb). */
  runFrom: number | null;
  /** A climb not told yet (lines are held back for a minute after one): the total and time it started from, the rate before it. */
  pending: { from: number; at: number; rate: number; first: string | null } | null;
  /** The climb under way, until it calms down: its start and how much its lines told. */
  episode: { from: number; at: number; reported: number } | null;
}

export class DropWatch {
  private readonly st = new Map<string, State>();
  private last: number;
  private readonly o: Required<DropWatchOptions>;

  /** `start`: when the counters were all zero (the data plane started), in the clock `observe` is given. */
  constructor(start: number, opts: DropWatchOptions = {}) {
    this.last = start;
    this.o = {
      intervalMs: opts.intervalMs ?? INTERVAL_MS, calmMs: opts.calmMs ?? CALM_MS, quietMs: opts.quietMs ?? QUIET_MS,
      tauMs: opts.tauMs ?? TAU_MS, factor: opts.factor ?? FACTOR, minExcess: opts.minExcess ?? MIN_EXCESS,
    };
  }

  /** Takes the counters as they are at `now` (ms, monotonic): the lines to log, if any. */
  observe(now: number, c: WatchedCounters): DropNotice[] {
    const dt = now - this.last;
    if (dt <= 0) return [];
    this.last = now;
    const out: DropNotice[] = [];
    for (const [kind, m] of [['drop', c.drops], ['io', c.io]] as const) {
      for (const [name, total] of Object.entries(m)) {
        const { level, hint } = counterPolicy(kind, name);
        if (level === null) continue;
        const n = this.step(kind, name, total, now, dt, level, hint);
        if (n) out.push(n);
      }
    }
    return out;
  }

  private step(kind: CounterKind, name: string, total: number, now: number, dt: number, level: WatchLevel, hint: string): DropNotice | null {
    const key = `${kind}:${name}`;
    let s = this.st.get(key);
    if (!s) { s = { total: 0, rate: 0, increasedAt: -Infinity, loggedAt: -Infinity, runFrom: null, pending: null, episode: null }; this.st.set(key, s); }
    const prev = s.total;
    s.total = total;
    // fewer than before: counters that restarted; they count from here
    const delta = total < prev ? 0 : total - prev;
    const rateBefore = s.rate;
    s.rate += (delta / dt - s.rate) * (1 - Math.exp(-dt / this.o.tauMs));
    const mayLog = now - s.loggedAt >= this.o.intervalMs;
    const line = (text: string, at: WatchLevel = level): DropNotice => {
      s.loggedAt = now;
      return { level: at, kind, name, text: `data plane: ${name} ${text}` };
    };

    if (delta > 0) {
      const quietFor = now - s.increasedAt;
      const first = quietFor >= this.o.quietMs
        ? (s.increasedAt === -Infinity ? 'first since lvsd started' : `first in ${span(quietFor)}`) : null;
      const expected = rateBefore * dt;
      const climb = first !== null || (delta >= this.o.factor * expected && delta - expected >= this.o.minExcess);
      s.increasedAt = now;
      if (climb) {
        s.runFrom ??= rateBefore;
        s.episode ??= { from: prev, at: now - dt, reported: 0 };
        s.pending ??= { from: prev, at: now - dt, rate: s.runFrom, first };
      } else s.runFrom = null;
    } else s.runFrom = null;
    if (s.pending && mayLog) {
      const p = s.pending;
      s.pending = null;
      const inc = total - p.from;
      s.episode!.reported += inc;
      const before = p.first ?? `about ${perSecond(p.rate)} before`;
      return line(`+${inc} in ${span(now - p.at)} (${before}; ${total} in all): ${hint}`);
    }
    const e = s.episode;
    if (e && !s.pending && now - s.increasedAt >= this.o.calmMs) {
      const inc = s.total - e.from;
      if (inc <= e.reported) { s.episode = null; return null; }
      if (!mayLog) return null;
      s.episode = null;
      // the end of a warning is news, not a warning
      return line(`calmer, no increase for ${span(now - s.increasedAt)}: +${inc} in all over ${span(s.increasedAt - e.at)}`,
        level === 'warn' ? 'info' : level);
    }
    return null;
  }
}

/** The watch's input from a plane's counters: each name summed over the replicas. */
export function summedCounters(c: PlaneCounters): WatchedCounters {
  const drops: Record<string, number> = {}, io: Record<string, number> = {};
  for (const r of c.replicas) {
    for (const [k, v] of Object.entries(r.drops)) drops[k] = (drops[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.io)) io[k] = (io[k] ?? 0) + v;
  }
  return { drops, io };
}

/** A duration for a log line: 0.8 s, 42 s, 3m05s, 2h10m. */
export function span(ms: number): string {
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** A rate per ms, as frames per second: 0/s, 0.02/s, 3.4/s, 120/s. */
function perSecond(perMs: number): string {
  const r = perMs * 1000;
  if (r === 0) return '0/s';
  if (r < 10) return `${Number(r.toPrecision(2))}/s`;
  return `${Math.round(r)}/s`;
}

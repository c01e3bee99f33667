// The IPVS connection sync daemon, wire-compatible with the kernel's
// (spec sync.md): `lvsadm --start-daemon master|backup` (or config.ts
// `sync: { … }`) starts it; this plugin opens the sockets as the kernel does
// (lib/socket.ts), batches the data plane's entries to sync into messages
// (lib/sender.ts, lib/wire.ts) and installs what a backup receives.
//
// Which entries a master sends and how a backup installs them are the data
// plane's (ctx.conns, the kernel's core); the sync settings (the kernel's
// net.ipv4.vs.sync_* sysctls) come from config.ts and apply to every daemon,
// lvsadm's too.
//
// config.ts:
//   sync: { interface: 'eth1', syncid: 7, role: 'both', version: 1, threshold: [3, 50] }
//   sync: { interface: 'eth1', vrrp: 'VI_1' }   // master while VI_1 is MASTER, backup otherwise

import { createHmac, timingSafeEqual } from 'node:crypto';
import { freemem } from 'node:os';
import { defineSync, z, type ControlContext, type SyncConn as CoreConn, type SyncDaemonSpec, type SyncEvent } from 'lvsd';
import { openBackup, openMaster, type BackupSocket, type MasterSocket } from './lib/socket.js';
import { SyncSender } from './lib/sender.js';
import { decodeMessage, tallyDecode, SYNC_DECODE_TEXT, type SyncConn as WireConn, type SyncDecodeOutcome, type SyncVersion } from './lib/wire.js';

const role = z.enum(['master', 'backup', 'both']);
const options = z.object({
  /** The interface the multicast goes out of and comes in on (ipvsadm --mcast-interface). */
  interface: z.string().min(1).max(15).optional(),
  syncid: z.number().int().min(0).max(255).default(0),
  /** Which daemons this director runs; absent with `vrrp`: as the failover instance says. */
  role: role.optional(),
  /** A failover instance to follow: master while it is MASTER, backup otherwise (keepalived's lvs_sync_daemon IF INSTANCE). */
  vrrp: z.string().min(1).optional(),
  group: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
  ttl: z.number().int().min(1).max(255).optional(),
  maxlen: z.number().int().min(0).max(65507).optional(),
  /** sync_version. */
  version: z.union([z.literal(0), z.literal(1)]).default(1),
  /** sync_threshold [threshold, period]. */
  threshold: z.tuple([z.number().int().min(0), z.number().int().min(0)]).default([3, 50])
    .refine(([t, p]) => t < p || p === 0, 'the threshold must be below the period, or the period 0'),
  /** sync_refresh_period, seconds. */
  refreshPeriod: z.number().int().min(0).default(0),
  /** sync_retries. */
  retries: z.number().int().min(0).max(3).default(0),
  /** sync_persist_mode. */
  persistMode: z.boolean().default(false),
  /** sync_sock_size: SO_SNDBUF (master) / SO_RCVBUF (backup); 0 = the system's. */
  sockSize: z.number().int().min(0).default(0),
  /**
   * sync_ports: sender/receiver threads, each on its own port (port … port+N-1);
   * a power of two, at most 64 used; connections are spread over them by a hash.
   */
  ports: z.number().int().min(1).refine((n) => (n & (n - 1)) === 0, 'must be a power of two').default(1),
  /** backup_only: while the backup daemon runs, this director does not balance client traffic (the host stack has it). */
  backupOnly: z.boolean().default(false),
  /** sync_qlen_max: messages queued at most; default as the kernel's, free memory pages / 32 when the daemon starts. */
  qlenMax: z.number().int().min(1).optional(),
  /**
   * lvsd peers only: a backup that starts asks the master for its whole table
   * (on `resyncPort`), and the master sends it at once, in the kernel's format.
   */
  resync: z.boolean().default(false),
  resyncPort: z.number().int().min(1).max(65535).default(8912),
  /**
   * lvsd peers only: every message carries an HMAC-SHA256 tag made with this
   * shared key (at least 16 characters); messages without a valid one are
   * dropped and counted. Kernel directors cannot take part.
   */
  auth: z.object({ key: z.string().min(16, 'the key must be at least 16 characters') }).strict().optional(),
}).strict().refine((o) => !(o.role || o.vrrp) || o.interface, { message: 'interface is required to run a daemon (role or vrrp)', path: ['interface'] })
  .refine((o) => !(o.role && o.vrrp), { message: 'give either role or vrrp, not both', path: ['vrrp'] });

type Options = z.infer<typeof options>;

/** The settings every daemon runs with (the sysctls and lvsd's additions), as opposed to which daemons run. */
const settingsOf = (o: Options) => ({ ports: o.ports, backupOnly: o.backupOnly, version: o.version, threshold: o.threshold, refreshPeriod: o.refreshPeriod, retries: o.retries,
  persistMode: o.persistMode, sockSize: o.sockSize, qlenMax: o.qlenMax, resync: o.resync, resyncPort: o.resyncPort, auth: o.auth });
type State = 'master' | 'backup';

/** What one running daemon counts (logged at stop; `lvsadm -L --daemon --stats` lists `stats()`). */
interface Counts { sent: number; received: number; installed: number; dropped: number; invalid: number }

const newCounts = (): Counts => ({ sent: 0, received: 0, installed: 0, dropped: 0, invalid: 0 });

/** sync_ports: the kernel uses at most this many threads. */
const MAX_THREADS = 64;

/** A stable spread of connections over the threads (the kernel hashes the entry's address; any stable hash will do). */
function threadOf(c: CoreConn): number {
  let h = (c.protocol * 31 + c.cport * 65599 + c.vport) >>> 0;
  for (const a of [c.caddr, c.vaddr]) for (let i = 0; i < a.length; i++) h = Math.imul(h ^ a.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** How often a running daemon's counters are reported. */
const STATS_MS = 1000;

// ---- lvsd-only additions to the wire (off unless configured on both peers)

/** The authentication trailer after a message: magic, then HMAC-SHA256 of the message. */
const AUTH_MAGIC = Buffer.from('LVSA');
const AUTH_BYTES = AUTH_MAGIC.length + 32;
/** A resync request: magic and the syncid (then the trailer in auth mode). */
const RESYNC_MAGIC = Buffer.from('LVSDRSYNC1');
/** A master answers resync requests at most this often. */
const RESYNC_MIN_MS = 2000;

function seal(key: string, msg: Uint8Array): Uint8Array {
  const tag = createHmac('sha256', key).update(msg).digest();
  return Buffer.concat([msg, AUTH_MAGIC, tag]);
}

/** The message inside a sealed datagram, or null when its tag is missing or wrong. */
function unseal(key: string, data: Uint8Array): Uint8Array | null {
  if (data.length < AUTH_BYTES) return null;
  const body = data.subarray(0, data.length - AUTH_BYTES);
  const magic = data.subarray(body.length, body.length + AUTH_MAGIC.length);
  const tag = data.subarray(body.length + AUTH_MAGIC.length);
  if (!AUTH_MAGIC.equals(magic)) return null;
  return timingSafeEqual(createHmac('sha256', key).update(body).digest(), tag) ? body : null;
}

const toWire = (c: CoreConn): WireConn => ({
  af: c.family === 'inet6' ? 6 : 4, protocol: c.protocol, flags: c.flags, state: c.state, cport: c.cport, vport: c.vport,
  dport: c.dport, fwmark: c.fwmark, timeout: c.timeout, caddr: c.caddr, vaddr: c.vaddr, daddr: c.daddr,
});
const toCore = (c: WireConn): CoreConn => ({
  family: c.af === 6 ? 'inet6' : 'inet', protocol: c.protocol, flags: c.flags, state: c.state, cport: c.cport, vport: c.vport,
  dport: c.dport, fwmark: c.fwmark, timeout: c.timeout, caddr: c.caddr, vaddr: c.vaddr, daddr: c.daddr,
});

export default defineSync({
  name: 'ipvs-sync',
  description: 'the IPVS connection sync daemon (master and backup), wire-compatible with the kernel\'s',
  configKey: 'sync',
  always: true,
  options,
  async start(ctx: ControlContext<SyncEvent>, first: Options | undefined) {
    let o: Options = first ?? options.parse({});
    /** The daemons running here, by role. */
    const running = new Map<State, { spec: SyncDaemonSpec; stop: () => void; counts: Counts; stats: () => Record<string, number> }>();
    /** The roles this plugin started in the table (from config), so that it stops only those. */
    const mine = new Set<State>();

    const settings = () => ({ version: o.version, threshold: o.threshold[0], period: o.threshold[1], refreshPeriod: o.refreshPeriod,
      retries: o.retries, persistMode: o.persistMode });

    const clockTimers = {
      now: () => ctx.clock.now(),
      setTimeout: (fn: () => void, ms: number) => ctx.clock.setTimeout(fn, ms),
      clearTimeout: (h: unknown) => ctx.clock.clearTimeout(h as Parameters<typeof ctx.clock.clearTimeout>[0]),
    };

    /** The socket would not open: the table must not say a daemon runs. */
    const failed = (d: SyncDaemonSpec, why: string): void => {
      ctx.log.error(`${d.state} sync daemon on ${d.mcastIfn}: ${why}; the daemon is stopped`);
      const r = ctx.table.stopDaemon(d.state);
      if (!r.ok) ctx.log.warn(`stop ${d.state} daemon: ${r.error.message}`);
    };

    const startMaster = (d: SyncDaemonSpec): void => {
      // one socket and one sender per thread (sync_ports), on port … port+N-1, as the kernel's threads
      const threads = Math.min(o.ports, MAX_THREADS);
      const socks: MasterSocket[] = [];
      for (let id = 0; id < threads; id++) {
        const s = openMaster({ ifname: d.mcastIfn, group: d.group, port: d.port + id, ttl: d.ttl, sockSize: o.sockSize });
        if (!s.ok) { for (const x of socks) x.close(); return failed(d, s.error.message); }
        socks.push(s.value);
      }
      if (socks[0]!.warning) ctx.log.warn(socks[0]!.warning);
      const counts = newCounts();
      const key = o.auth?.key;
      const senders = socks.map((sock) => new SyncSender({
        // the tag takes room in the datagram: the message gets less
        syncid: d.syncid, maxlen: key ? Math.max(1, d.maxlen - AUTH_BYTES) : d.maxlen, qlenMax: o.qlenMax ?? Math.max(1, Math.floor(freemem() / 4096 / 32)), timers: clockTimers,
        log: (l) => ctx.log.warn(l),
        send: (msg) => sendRetrying(sock, key ? seal(key, msg) : msg).then(() => { counts.sent++; }),
      }));
      const version = o.version as SyncVersion;
      /** A connection keeps to one thread (the kernel hashes the entry); templates likewise. */
      const add = (c: CoreConn): boolean => senders[threads === 1 ? 0 : threadOf(c) & (threads - 1)]!.add(version, toWire(c)).ok;
      const unfollow = ctx.conns.follow(settings(), (conns, dropped) => {
        counts.dropped += dropped;
        for (const c of conns) if (!add(c)) counts.invalid++;
      });
      socks.forEach((sock, id) => ctx.log.info(`sync thread started: state = MASTER, mcast_ifn = ${d.mcastIfn}, syncid = ${d.syncid}, id = ${id}`
        + ` (from ${sock.localAddress}:${sock.localPort} to ${d.group}:${d.port + id}${key ? ', authenticated' : ''})`));
      // resync: a joining lvsd backup asks; the whole table goes out through the sender, in the kernel's format
      let listener: BackupSocket | null = null;
      let lastResync = -Infinity;
      let resyncs = 0, refusedRequests = 0;
      if (o.resync) {
        const l = openBackup({ ifname: d.mcastIfn, group: d.group, port: o.resyncPort, ttl: d.ttl, sockSize: 0, maxlen: 256 }, (data, from) => {
          const body = key ? unseal(key, data) : data;
          const ok = body !== null && body.length === RESYNC_MAGIC.length + 1 && RESYNC_MAGIC.equals(body.subarray(0, RESYNC_MAGIC.length))
            && (d.syncid === 0 || body[RESYNC_MAGIC.length] === d.syncid);
          if (!ok) { refusedRequests++; return; }
          const now = ctx.clock.now();
          if (now - lastResync < RESYNC_MIN_MS) return;
          lastResync = now;
          void ctx.conns.dump().then((all) => {
            for (const c of all) if (!add(c)) counts.invalid++;
            for (const x of senders) x.flush();
            resyncs++;
            ctx.log.info(`resync asked by ${from}: ${all.length} entries sent`);
          });
        }, (e) => ctx.log.error(`resync listener: ${e.message}`));
        if (l.ok) listener = l.value;
        else ctx.log.error(`resync listener on ${d.mcastIfn} port ${o.resyncPort}: ${l.error.message}; joining backups wait for each connection's next sync`);
      }
      const stats = (): Record<string, number> => {
        const sum = (f: (x: SyncSender) => number): number => senders.reduce((n, x) => n + f(x), 0);
        return { records: sum((x) => x.counters.records), 'messages sent': sum((x) => x.counters.messagesSent),
          'bytes sent': sum((x) => x.counters.bytesSent), 'messages queued': sum((x) => x.queueLength),
          'records waiting': sum((x) => x.pending), 'discarded (queue full)': sum((x) => x.counters.discardedQueueFull),
          'send errors': sum((x) => x.counters.sendErrors), 'not kept by the data plane': counts.dropped,
          'not encodable': sum((x) => x.counters.encodeErrors),
          ...(o.resync ? { 'resyncs sent': resyncs, 'resync requests refused': refusedRequests } : {}) };
      };
      running.set('master', { spec: d, counts, stats, stop: () => {
        unfollow();
        for (const x of senders) x.stop();
        for (const x of socks) x.close();
        listener?.close();
      } });
    };

    const startBackup = (d: SyncDaemonSpec): void => {
      const counts = newCounts();
      const installed = { created: 0, updated: 0, ignored: 0, unbound: 0, full: 0 };
      const outcomes: Partial<Record<SyncDecodeOutcome, number>> = {};
      const said = new Set<string>();
      let chain = Promise.resolve();
      const key = o.auth?.key;
      let unauthenticated = 0;
      const onMessage = (data: Uint8Array, from: string): void => {
          counts.received++;
          const msg = key ? unseal(key, data) : data;
          if (!msg) {
            unauthenticated++;
            if (!said.has('auth')) { said.add('auth'); ctx.log.warn(`sync message from ${from} dropped: no valid authentication tag (auth is configured)`); }
            return;
          }
          const r = decodeMessage(msg, msg.length, d.syncid);
          tallyDecode(outcomes, r);
          if (!r.ok || r.dropped) {
            // counted; said once per reason (a flood of bad datagrams must not flood the log)
            const why = r.ok ? r.dropped!.reason : r.reason;
            counts.dropped++;
            if (!said.has(why)) { said.add(why); ctx.log.warn(`sync message from ${from} ${r.ok ? 'partly ' : ''}dropped: ${SYNC_DECODE_TEXT[why]}`); }
          }
          if (!r.ok || r.conns.length === 0) return;
          const conns = r.conns.map(toCore);
          // in arrival order, one install at a time
          chain = chain.then(async () => {
            const c = await ctx.conns.install(conns, { version: r.version, threshold: o.threshold[0] });
            counts.installed += c.created + c.updated;
            installed.created += c.created; installed.updated += c.updated; installed.ignored += c.ignored;
            installed.unbound += c.unbound; installed.full += c.full;
            counts.invalid += c.invalid;
            ctx.bus.emit('sync.received', { syncid: r.syncid, from, conns: c.created + c.updated });
          }).catch((e: unknown) => ctx.log.error(`installing synced connections: ${e instanceof Error ? e.message : String(e)}`));
      };
      // one receiver per thread (sync_ports), on port … port+N-1
      const socks: BackupSocket[] = [];
      for (let id = 0; id < Math.min(o.ports, MAX_THREADS); id++) {
        const s = openBackup({ ifname: d.mcastIfn, group: d.group, port: d.port + id, ttl: d.ttl, sockSize: o.sockSize, maxlen: d.maxlen + (key ? AUTH_BYTES : 0) },
          onMessage, (e) => ctx.log.error(`backup sync socket: ${e.message}`));
        if (!s.ok) { for (const x of socks) x.close(); return failed(d, s.error.message); }
        socks.push(s.value);
        ctx.log.info(`sync thread started: state = BACKUP, mcast_ifn = ${d.mcastIfn}, syncid = ${d.syncid}, id = ${id} (on ${d.group}:${d.port + id}${key ? ', authenticated' : ''})`);
      }
      if (o.resync) {
        askResync(d);
        // a master that was not listening yet (started at the same time): once more
        ctx.clock.setTimeout(() => { if (running.get('backup')?.counts === counts && counts.received === 0) askResync(d); }, 3000);
      }
      const stats = (): Record<string, number> => {
        const out: Record<string, number> = { 'messages received': counts.received, 'messages truncated': socks.reduce((n, x) => n + x.truncated, 0),
          'records created': installed.created, 'records updated': installed.updated, 'outdated (ignored)': installed.ignored,
          'without a local real server': installed.unbound, 'no room': installed.full, 'messages dropped': counts.dropped,
          ...(key ? { 'messages unauthenticated': unauthenticated } : {}) };
        for (const [k, v] of Object.entries(outcomes)) if (k !== 'accepted' && v) out[SYNC_DECODE_TEXT[k as Exclude<SyncDecodeOutcome, 'accepted'>]] = v;
        return out;
      };
      if (o.backupOnly) ctx.conns.backupOnly(true);
      running.set('backup', { spec: d, counts, stats, stop: () => { for (const x of socks) x.close(); if (o.backupOnly) ctx.conns.backupOnly(false); } });
    };

    // each running daemon's counters, once a second, for lvsadm -L --daemon --stats
    const report = (): void => {
      for (const [state, r] of running) ctx.bus.emit('sync.stats', { state, counters: r.stats() });
      ctx.clock.setTimeout(report, STATS_MS);
    };
    ctx.clock.setTimeout(report, STATS_MS);

    /** A joining backup asks the master for its whole table (lvsd peers; the answer comes as ordinary sync messages). */
    const askResync = (d: SyncDaemonSpec): void => {
      const s = openMaster({ ifname: d.mcastIfn, group: d.group, port: o.resyncPort, ttl: d.ttl, sockSize: 0 });
      if (!s.ok) { ctx.log.error(`resync request on ${d.mcastIfn}: ${s.error.message}`); return; }
      const req = Buffer.concat([RESYNC_MAGIC, Buffer.from([d.syncid])]);
      const sent = s.value.send(o.auth ? seal(o.auth.key, req) : req);
      s.value.close();
      if (sent.ok) ctx.log.info(`resync asked of the master (${d.group}:${o.resyncPort})`);
      else ctx.log.warn(`resync request on ${d.mcastIfn} not sent (errno ${sent.errno}); entries come with each connection's next sync`);
    };

    const stopRole = (state: State, why: string): void => {
      const r = running.get(state);
      if (!r) return;
      running.delete(state);
      r.stop();
      const c = r.counts;
      ctx.log.info(`stopping ${state} sync thread (${why}): ${state === 'master' ? `${c.sent} messages sent` : `${c.received} messages received, ${c.installed} entries installed`}`
        + `${c.dropped ? `, ${c.dropped} dropped` : ''}${c.invalid ? `, ${c.invalid} invalid` : ''}`);
    };

    const startRole = (d: SyncDaemonSpec): void => {
      stopRole(d.state, 'restarted');
      if (d.state === 'master') startMaster(d); else startBackup(d);
    };

    // The table says which daemons run, whoever started them (lvsadm, config, a failover plugin).
    ctx.bus.on('daemon.started', ({ daemon }) => startRole(daemon));
    ctx.bus.on('daemon.stopped', ({ state }) => { mine.delete(state); stopRole(state, 'stopped'); });

    /** The roles config.ts asks for now. */
    let haState: 'master' | 'backup' | 'fault' | null = null;
    const wanted = (): Set<State> => {
      if (!o.interface) return new Set();
      if (o.role) return new Set(o.role === 'both' ? ['master', 'backup'] : [o.role]);
      if (o.vrrp) return new Set([haState === 'master' ? 'master' : 'backup']);
      return new Set();
    };
    const daemonOf = (state: State): SyncDaemonSpec => ({
      state, mcastIfn: o.interface!, syncid: o.syncid, maxlen: o.maxlen ?? 0,
      group: o.group ?? '224.0.0.81', port: o.port ?? 8848, ttl: o.ttl ?? 1,
    });
    const sameDaemon = (a: SyncDaemonSpec, b: SyncDaemonSpec): boolean =>
      a.mcastIfn === b.mcastIfn && a.syncid === b.syncid && a.group === b.group && a.port === b.port && a.ttl === b.ttl
      && (b.maxlen === 0 || a.maxlen === b.maxlen);
    const follow = (): void => {
      const want = wanted();
      for (const state of [...mine]) {
        if (want.has(state)) continue;
        mine.delete(state);
        const r = ctx.table.stopDaemon(state);
        if (!r.ok) ctx.log.warn(`stop ${state} daemon: ${r.error.message}`);
      }
      const table = ctx.table.daemons();
      const now = table.ok ? table.value : [];
      for (const state of want) {
        const d = daemonOf(state);
        const cur = now.find((x) => x.state === state);
        if (cur && sameDaemon(cur, d)) { mine.add(state); continue; }
        if (cur) {
          const r = ctx.table.stopDaemon(state);
          if (!r.ok) { ctx.log.warn(`stop ${state} daemon: ${r.error.message}`); continue; }
        }
        const r = ctx.table.startDaemon(d);
        if (r.ok) mine.add(state);
        else ctx.log.error(`config sync: start ${state} daemon on ${d.mcastIfn}: ${r.error.message}`);
      }
    };

    ctx.bus.on('ha.state', (s) => {
      if (!o.vrrp || (s.instance !== undefined && s.instance !== o.vrrp)) return;
      haState = s.state;
      follow();
    });

    // Daemons that run already (started before this plugin, e.g. restored), then what config.ts asks for.
    const before = ctx.table.daemons();
    if (before.ok) for (const d of before.value) startRole(d);
    follow();

    return {
      reconfigure(next: Options | undefined) {
        const prev = o;
        o = next ?? options.parse({});
        // new settings reach running daemons by restarting them (a master's data-plane settings, a backup's
        // socket size, resync, auth); which daemons run, and with which options, is follow()'s
        if (JSON.stringify(settingsOf(prev)) !== JSON.stringify(settingsOf(o))) for (const r of [...running.values()]) startRole(r.spec);
        follow();
      },
      stop() {
        for (const state of [...mine]) {
          const r = ctx.table.stopDaemon(state);
          if (!r.ok) ctx.log.warn(`stop ${state} daemon: ${r.error.message}`);
        }
        mine.clear();
        for (const state of [...running.keys()]) stopRole(state, 'lvsd is stopping');
      },
    };
  },
});

/** Sends one message; a full socket buffer (EAGAIN) is waited out briefly, as the kernel waits for room. */
function sendRetrying(sock: MasterSocket, msg: Uint8Array): Promise<void> {
  return new Promise((res, rej) => {
    let tries = 0;
    const attempt = (): void => {
      const r = sock.send(msg);
      if (r.ok) return res();
      if (r.again && tries++ < 100) { setTimeout(attempt, 2); return; }
      rej(new Error(r.again ? 'the socket stayed full for 200 ms' : `ip_vs_send_async error ${r.errno}`));
    };
    attempt();
  });
}


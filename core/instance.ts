// One lvsd per network namespace. The nftables takeover table (core/nft.ts)
// and the AF_PACKET taps belong to the namespace, not to a control socket: a
// second daemon would call the first one's table stale, replace it, and
// delete it on exit. The lock is an abstract unix socket: abstract names are
// per network namespace and vanish with the process that holds them (even
// after SIGKILL), so holding it proves no other live lvsd owns the table, and
// its holder answers each connection with who it is.
//
// The rule: `--io afpacket` daemons take the lock (they own the namespace's
// packets and nftables table); `--io memory` daemons touch nothing in the
// namespace and do not, so demo daemons on different sockets can coexist.

import { createServer, connect, type Server } from 'node:net';

/** Abstract (leading NUL): per network namespace, gone when the holder dies. */
export const INSTANCE_LOCK = '\0lvsd-instance';

/** What the holder answers. */
export interface InstanceOwner {
  pid: number;
  socket: string;
  io: string;
}

/** Another process holds the namespace's lock: the second daemon refuses to start. */
export class InstanceBusy extends Error {
  readonly owner: InstanceOwner | null;
  constructor(owner: InstanceOwner | null) {
    super(owner
      ? `another lvsd runs in this network namespace (pid ${owner.pid}, control socket ${owner.socket}, io ${owner.io}); `
        + 'one lvsd per network namespace owns its packets and its nftables table netdev lvsd: stop that one first, '
        + 'or talk to it with lvsadm (LVSD_SOCKET or --socket)'
      : 'another process holds lvsd\'s instance lock in this network namespace (abstract socket @lvsd-instance) '
        + 'and did not say who it is; not starting');
    this.name = 'InstanceBusy';
    this.owner = owner;
  }
}

/** A held lock: released on stop (or by the process dying). */
export interface InstanceLock {
  readonly owner: InstanceOwner;
  release(): Promise<void>;
}

let held: InstanceLock | null = null;

function isOwner(v: unknown): v is InstanceOwner {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.pid === 'number' && typeof o.socket === 'string' && typeof o.io === 'string';
}

/**
 * Who holds the lock in this network namespace: its answer; null when nobody
 * listens; 'unknown' when something listens but does not answer as lvsd does.
 */
export function queryInstance(timeoutMs = 2000): Promise<InstanceOwner | null | 'unknown'> {
  return new Promise((res) => {
    const s = connect(INSTANCE_LOCK);
    let text = '';
    let connected = false;
    const t = setTimeout(() => { s.destroy(); res('unknown'); }, timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => { connected = true; });
    s.on('data', (d: string) => { text += d; if (text.length > 4096) s.destroy(); });
    s.on('error', () => { clearTimeout(t); res(connected ? 'unknown' : null); });
    s.on('end', () => {
      clearTimeout(t);
      s.destroy();
      try {
        const v: unknown = JSON.parse(text);
        res(isOwner(v) ? v : 'unknown');
      } catch { res('unknown'); }
    });
  });
}

function listenOnce(me: InstanceOwner): Promise<Server | 'in-use'> {
  return new Promise((res, rej) => {
    const answer = `${JSON.stringify(me)}\n`;
    const server = createServer((sock) => { sock.on('error', () => { /* the asker went away */ }); sock.end(answer); });
    server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? res('in-use') : rej(e)));
    server.once('listening', () => {
      server.on('error', () => { /* per-connection errors only, once listening */ });
      // The lock must not keep a stopping process alive.
      server.unref();
      res(server);
    });
    server.listen(INSTANCE_LOCK);
  });
}

/**
 * Takes this network namespace's lvsd lock, or throws InstanceBusy naming the
 * daemon that holds it. Touches nothing else.
 */
export async function acquireInstance(socket: string, io: string): Promise<InstanceLock> {
  // Two daemons in one process would share the namespace just the same.
  if (held) throw new InstanceBusy(held.owner);
  const me: InstanceOwner = { pid: process.pid, socket, io };
  // A holder that is dying frees the name between our bind and our question: ask and bind again.
  for (let attempt = 0; attempt < 3; attempt++) {
    const server = await listenOnce(me);
    if (server !== 'in-use') {
      const lock: InstanceLock = {
        owner: me,
        release: () => new Promise<void>((r) => {
          if (held === lock) held = null;
          server.close(() => r());
        }),
      };
      held = lock;
      return lock;
    }
    const owner = await queryInstance();
    if (owner === 'unknown') throw new InstanceBusy(null);
    if (owner) throw new InstanceBusy(owner);
  }
  throw new InstanceBusy(null);
}

/** This process's lock, when it holds one. */
export function heldInstance(): InstanceLock | null {
  return held;
}

/**
 * Whether a takeover table (netdev lvsd) found at start belongs to nobody
 * alive: true when this process holds the lock (the table's owner, if any,
 * is gone) or nobody holds it; otherwise the live owner (or null when the
 * holder would not say who it is). For whoever adopts or replaces the table
 * at start (worker-host; a planned restart keeping the table).
 */
export async function takeoverStale(): Promise<{ stale: true } | { stale: false; owner: InstanceOwner | null }> {
  if (held) return { stale: true };
  const owner = await queryInstance();
  if (owner === null) return { stale: true };
  if (owner !== 'unknown' && owner.pid === process.pid) return { stale: true };
  return { stale: false, owner: owner === 'unknown' ? null : owner };
}

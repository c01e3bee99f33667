// The control socket: a root-only unix socket (mode 0600) taking one JSON
// request per line and answering one JSON reply per line. It plays the part
// of the kernel's IPVS netlink interface for lvsadm.

import { createServer, connect, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Bus, FailoverInstanceView } from '../bus.js';
import type { ChangeSource } from '../model/events.js';
import type { Result } from '../errors.js';
import { CONN_TAB_SIZE, IPVS_VERSION, type ServiceTable } from '../model/table.js';
import type { ConnView, DropsView, Reply, Request } from './protocol.js';
import type { HealthManager } from '../health/manager.js';
import type { LifecycleOp } from '../health/types.js';
import { parseRequest } from './validate.js';

/**
 * What one client may make the daemon hold or wait for. A client is anyone
 * who can open the socket, so each bound is one a misbehaving or hostile
 * client meets without touching the daemon's other work.
 */
export interface ControlLimits {
  /** Clients served at once; one more is answered EAGAIN and closed. Default: see defaultMaxClients(). */
  maxClients: number;
  /** A request line longer than this (characters) is refused and the connection closed, none of it run. Real requests are < 1 KiB. */
  maxLine: number;
  /** Bytes of complete requests waiting per client before reading from it pauses (back-pressure, not an error). */
  maxQueuedBytes: number;
  /** A client that sends nothing for this long while nothing of its is pending is closed (ms). */
  idleMs: number;
  /** A request line must be complete this long after its first byte arrived (ms): a client dribbling bytes is closed. */
  lineMs: number;
}

/** File descriptors kept for the daemon's own work (reloads, health checks, nft, workers, plugins) whatever the clients do. */
const FD_RESERVE = 256;

/** The soft RLIMIT_NOFILE (node raises it to the hard limit at start), or null when /proc does not say. */
function openFilesLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return null;
    return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    return null;
  }
}

/** 256 clients, fewer when the open files limit would leave less than FD_RESERVE (and a quarter of it) for the daemon. */
export function defaultMaxClients(nofile: number | null = openFilesLimit()): number {
  if (nofile === null) return 64;
  return Math.max(4, Math.min(256, Math.floor((nofile - FD_RESERVE) / 4)));
}

export function defaultLimits(): ControlLimits {
  return { maxClients: defaultMaxClients(), maxLine: 64 * 1024, maxQueuedBytes: 1 << 20, idleMs: 60_000, lineMs: 10_000 };
}

/** A thrown value's text, whatever was thrown (a bug's `throw undefined` must not throw again here). */
function thrownText(e: unknown): string {
  if (e instanceof Error) return e.message;
  try { return String(e); } catch { return 'a value that cannot be shown'; }
}

export interface ControlDeps {
  table: ServiceTable;
  bus: Bus;
  /** Live connection entries (the data plane's; empty without one); afpacket workers answer asynchronously. */
  conns?: () => ConnView[] | Promise<ConnView[]>;
  /** The data plane's drop reasons and I/O counters; absent or null: lvsd runs without a data plane. */
  drops?: (perWorker: boolean) => DropsView | null;
  /** Health checking and real server lifecycle (absent: those requests get EOPNOTSUPP). */
  health?: HealthManager;
  /** A running sync daemon's last reported counters (the bus's sync.stats). */
  daemonStats?: (state: 'master' | 'backup') => Record<string, number> | undefined;
  /** The failover instances as last reported (the bus's ha.status); null: no failover plugin runs. */
  failover?: () => FailoverInstanceView[] | null;
}

/** Changes made through the socket (the peer's uid joins with SO_PEERCRED). */
const LVSADM: ChangeSource = { by: 'lvsadm' };

function reply<T>(r: Result<T>, data?: unknown): Reply {
  return r.ok ? { ok: true, data: data ?? null } : { ok: false, errno: r.error.errno, message: r.error.message };
}

/** Carries out one request against the table; never throws for bad input. */
export function handleRequest(req: Request, deps: ControlDeps): Reply {
  const { table } = deps;
  switch (req.op) {
    case 'info': return { ok: true, data: { version: IPVS_VERSION, connTabSize: CONN_TAB_SIZE } };
    case 'get-services': return { ok: true, data: table.snapshot() };
    case 'get-service': {
      const s = table.find(req.service);
      return s ? { ok: true, data: s.view() } : { ok: false, errno: 'ESRCH', message: 'no such service' };
    }
    case 'add-service': return reply(table.addService(req.service, LVSADM));
    case 'edit-service': return reply(table.editService(req.service, LVSADM));
    case 'delete-service': return reply(table.deleteService(req.service, LVSADM));
    case 'flush': return reply(table.flush(LVSADM));
    case 'zero': return reply(table.zero(req.service, LVSADM));
    case 'add-dest': return reply(table.addDest(req.service, req.dest, LVSADM));
    case 'edit-dest': return reply(table.editDest(req.service, req.dest, LVSADM));
    case 'delete-dest': return reply(table.deleteDest(req.service, req.dest, LVSADM));
    case 'get-timeouts': return { ok: true, data: table.timeouts };
    case 'set-timeouts': return reply(table.setTimeouts(req.timeouts, LVSADM));
    case 'get-daemons': return { ok: true, data: table.daemons };
    case 'get-daemon-stats': return { ok: true, data: table.daemons.map((d) => ({ state: d.state, counters: deps.daemonStats?.(d.state) ?? {} })) };
    case 'start-daemon': return reply(table.startDaemon(req.daemon, LVSADM));
    case 'stop-daemon': return reply(table.stopDaemon(req.state, LVSADM));
    case 'get-conns': {
      const v = deps.conns?.() ?? [];
      // the socket answers get-conns through answerLine(), which waits for the workers
      return Array.isArray(v) ? { ok: true, data: v } : { ok: false, errno: 'EPROTO', message: 'connection entries are listed asynchronously' };
    }
    case 'get-drops': {
      const v = deps.drops?.(req.perWorker ?? false) ?? null;
      if (!v) return { ok: false, errno: 'ENODEV', message: 'lvsd runs without a data plane: no frames are forwarded, so none are counted or dropped' };
      return { ok: true, data: v };
    }
    case 'get-vrrp': {
      const v = deps.failover?.() ?? null;
      if (!v) return { ok: false, errno: 'ENODEV', message: 'no failover runs in this lvsd: config.ts has no `vrrp`' };
      return { ok: true, data: v };
    }
    case 'get-health':
      if (!deps.health) return { ok: false, errno: 'EOPNOTSUPP', message: 'health checking is not running in this lvsd' };
      if (req.service && !table.find(req.service)) return { ok: false, errno: 'ESRCH', message: 'no such service' };
      return { ok: true, data: deps.health.views(req.service) };
    case 'drain': case 'fill': case 'disable': case 'enable': {
      if (!deps.health) return { ok: false, errno: 'EOPNOTSUPP', message: 'health checking is not running in this lvsd' };
      const op: LifecycleOp = req.op === 'drain' ? (req.deadline === undefined ? { op: 'drain' } : { op: 'drain', deadline: req.deadline })
        : req.op === 'fill' ? (req.deadline === undefined ? { op: 'fill' } : { op: 'fill', seconds: req.deadline })
          : { op: req.op };
      const r = deps.health.lifecycle({ service: req.service, dest: req.dest, op }, 'control socket');
      return r.ok ? { ok: true, data: r.value } : { ok: false, errno: r.error.errno, message: r.error.message };
    }
  }
}

/** Carries out a parsed request; a throw (a bug, not bad input) is reported without taking the daemon down. */
function handleParsed(req: Request, deps: ControlDeps): Reply {
  try {
    return handleRequest(req, deps);
  } catch (e) {
    return { ok: false, errno: 'EPROTO', message: `internal error: ${thrownText(e)}` };
  }
}

/** Handles one raw line: parse, check, carry out. */
export function handleLine(line: string, deps: ControlDeps): Reply {
  const req = parseRequest(line);
  if ('error' in req) return { ok: false, errno: 'EPROTO', message: req.error };
  return handleParsed(req, deps);
}

/**
 * handleLine, except that get-conns waits for the data plane's answer: a
 * Promise then, the reply itself otherwise (so most requests cost no
 * microtask turn).
 */
export function answerLine(line: string, deps: ControlDeps): Reply | Promise<Reply> {
  return answerRequest(parseRequest(line), deps);
}

function answerRequest(req: Request | { error: string }, deps: ControlDeps): Reply | Promise<Reply> {
  if ('error' in req) return { ok: false, errno: 'EPROTO', message: req.error };
  if (req.op !== 'get-conns') return handleParsed(req, deps);
  return (async (): Promise<Reply> => {
    try {
      return { ok: true, data: deps.conns ? await deps.conns() : [] };
    } catch (e) {
      return { ok: false, errno: 'EPROTO', message: `internal error: ${thrownText(e)}` };
    }
  })();
}

/** Services serialised per piece of a `get-services` reply. */
const LIST_PIECE = 64;

/**
 * The `get-services` reply in pieces, byte for byte JSON.stringify of
 * { ok: true, data: table.snapshot() }, so that listing a large table runs in
 * slices like any other work and the other clients are answered meanwhile.
 * As the kernel's netlink dump, it is not one atomic snapshot: a service
 * removed while the reply is being written is left out.
 */
function* listingPieces(table: ServiceTable): Generator<string, void, void> {
  const order = table.kernelOrder();
  let first = true;
  yield '{"ok":true,"data":[';
  for (let i = 0; i < order.length; i += LIST_PIECE) {
    const parts: string[] = [];
    for (const svc of order.slice(i, i + LIST_PIECE)) {
      if (table.find(svc.spec) !== svc) continue;
      parts.push(JSON.stringify(svc.view()));
    }
    if (parts.length === 0) continue;
    yield (first ? '' : ',') + parts.join(',');
    first = false;
  }
  yield ']}\n';
}

/** A slice of one client's requests runs at most this long before the event loop gets a turn. */
const SLICE_MS = 2;
/** Reading from a client pauses while this many of its requests wait to be handled… */
const MAX_QUEUED = 4096;
/** …and handling pauses while this many bytes of its replies are unsent (one reply may exceed it). */
const MAX_UNSENT = 1 << 20;

/** The reply that ends a connection the daemon closes on its own. */
const closing = (message: string): string => JSON.stringify({ ok: false, errno: 'EPROTO', message }) + '\n';

/**
 * One client: its lines are cut out of each chunk as it arrives (only the new
 * chunk is searched), queued, and handled in order. Handling runs in slices of
 * SLICE_MS, yielding to the event loop in between, so one client's long
 * pipelined batch (`lvsadm -R`) does not hold off another client's request.
 * What a client may make the daemon hold is bounded: reading pauses while
 * MAX_QUEUED requests or limits.maxQueuedBytes wait, handling pauses while
 * MAX_UNSENT reply bytes wait, a line longer than limits.maxLine ends the
 * connection (none of that line is run, nor anything after it), and so does
 * a client idle for limits.idleMs or slower than limits.lineMs to finish a line.
 */
function serveSocket(sock: Socket, deps: ControlDeps, limits: ControlLimits): void {
  /** Complete lines not yet handled; `next` is the first of them. */
  let queue: string[] = [];
  let next = 0;
  /** Characters of the lines queued and not yet handled. */
  let queuedChars = 0;
  /** The start of a line whose end has not arrived yet. */
  let partial: string[] = [];
  let partialLen = 0;
  /** Armed while a partial line waits for its end (limits.lineMs). */
  let lineTimer: NodeJS.Timeout | null = null;
  /** A slice is scheduled or running, or a reply is awaited (get-conns). */
  let running = false;
  /** A request line was too long: the connection ends after the replies before it. */
  let tooLong = false;
  let readPaused = false;
  /** A get-services reply being written. */
  let listing: Generator<string, void, void> | null = null;
  /** The client shut down its side (half-close): ours ends once every reply is out. */
  let ended = false;

  const queued = (): number => queue.length - next;
  /** Sends a last error line and closes; a client not reading its replies is cut off after a grace second. */
  const endWith = (message: string): void => {
    sock.end(closing(message), () => sock.destroy());
    setTimeout(() => sock.destroy(), 1000).unref();
  };
  const overQueued = (): boolean => queued() >= MAX_QUEUED || queuedChars >= limits.maxQueuedBytes;

  /** Ends the connection with a last error line, whatever is pending; nothing more of the client's is read or run. */
  const hangUp = (message: string): void => {
    if (sock.destroyed) return;
    if (lineTimer) { clearTimeout(lineTimer); lineTimer = null; }
    queue = []; next = 0; queuedChars = 0; listing = null; partial = []; partialLen = 0;
    tooLong = true;
    sock.pause();
    // destroyed once the line is out: a client that never shuts its side does not keep the descriptor
    endWith(message);
  };

  const drain = (): void => {
    if (sock.destroyed) return;
    const t0 = performance.now();
    sock.cork();
    try {
      while (listing || queued() > 0) {
        if (sock.writableLength > MAX_UNSENT) {
          // the client is not reading its replies: go on when it has
          sock.once('drain', () => { running = false; kick(); });
          return;
        }
        if (listing) {
          let piece: IteratorResult<string, void>;
          try { piece = listing.next(); } catch {
            // a bug, half way through a reply: the client sees the connection drop, the daemon stays up
            listing = null;
            sock.destroy();
            return;
          }
          if (piece.done) listing = null;
          else sock.write(piece.value);
          if (performance.now() - t0 >= SLICE_MS && (listing || queued() > 0)) {
            setImmediate(() => { running = false; kick(); });
            return;
          }
          continue;
        }
        const line = queue[next++]!;
        queuedChars -= line.length;
        const req = parseRequest(line);
        if (!('error' in req) && req.op === 'get-services') { listing = listingPieces(deps.table); continue; }
        const r = answerRequest(req, deps);
        if (r instanceof Promise) {
          // get-conns waits for the data plane; the requests after it wait for its reply
          void r.then((reply) => {
            if (!sock.destroyed) sock.write(JSON.stringify(reply) + '\n');
            running = false;
            kick();
          });
          return;
        }
        sock.write(JSON.stringify(r) + '\n');
        if (performance.now() - t0 >= SLICE_MS && queued() > 0) {
          setImmediate(() => { running = false; kick(); });
          return;
        }
      }
      running = false;
      if (tooLong) {
        if (!sock.writableEnded) endWith(`request too long (over ${limits.maxLine} characters): closing the connection`);
        return;
      }
      if (ended) sock.end();
    } finally {
      if (next > 1024 && next * 2 > queue.length) { queue = queue.slice(next); next = 0; }
      if (readPaused && !tooLong && queued() < MAX_QUEUED / 2 && queuedChars < limits.maxQueuedBytes / 2) { readPaused = false; sock.resume(); }
      sock.uncork();
    }
  };

  /** Starts a slice unless one is under way. */
  const kick = (): void => {
    if (running || sock.destroyed) return;
    if (!listing && queued() === 0 && !tooLong) { if (ended) sock.end(); return; }
    running = true;
    drain();
  };

  /** Queues a complete line, unless it is blank. */
  const push = (line: string): void => {
    if (line.trim() === '') return;
    queue.push(line);
    queuedChars += line.length;
  };

  sock.setEncoding('utf8');
  sock.setTimeout(limits.idleMs);
  sock.on('timeout', () => hangUp(`no request for ${Math.round(limits.idleMs / 1000)} s: closing the connection`));
  sock.on('data', (chunk: string) => {
    if (tooLong) return;
    let from = 0;
    let nl: number;
    let completed = false;
    while ((nl = chunk.indexOf('\n', from)) >= 0) {
      if (partialLen + (nl - from) > limits.maxLine) break;
      let line = chunk.slice(from, nl);
      if (partialLen > 0) { partial.push(line); line = partial.join(''); partial = []; partialLen = 0; }
      from = nl + 1;
      completed = true;
      push(line);
    }
    if (nl < 0 && from < chunk.length) { partial.push(chunk.slice(from)); partialLen += chunk.length - from; }
    if (nl >= 0 || partialLen > limits.maxLine) {
      // answered after the replies to the lines before it; nothing of it (nor after it) is read or run
      tooLong = true;
      partial = [];
      partialLen = 0;
      sock.pause();
    } else if (overQueued() && !readPaused) {
      readPaused = true;
      sock.pause();
    }
    if (partialLen === 0) {
      if (lineTimer) { clearTimeout(lineTimer); lineTimer = null; }
    } else if (!lineTimer) {
      lineTimer = setTimeout(() => { lineTimer = null; hangUp(`request line not finished within ${Math.round(limits.lineMs / 1000)} s: closing the connection`); }, limits.lineMs);
    } else if (completed) {
      lineTimer.refresh();   // a new line began in this chunk: its own time starts
    }
    kick();
  });
  sock.on('end', () => {
    // a last line without its newline is still a request (`printf … | socat`)
    if (!tooLong && partialLen > 0) {
      const line = partial.join('');
      partial = [];
      partialLen = 0;
      push(line);
    }
    if (lineTimer) { clearTimeout(lineTimer); lineTimer = null; }
    ended = true;
    kick();
  });
  sock.on('close', () => { if (lineTimer) { clearTimeout(lineTimer); lineTimer = null; } });
  sock.on('error', () => { /* the client went away; nothing to clean up */ });
}

/** Whether something already answers on a unix socket path. */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(path);
    s.on('connect', () => { s.destroy(); res(true); });
    s.on('error', () => res(false));
  });
}

export class SocketInUse extends Error {}

/** Open client connections per server, so that closing the server does not wait on an idle client. */
const clients = new WeakMap<Server, Set<Socket>>();

/**
 * Listens on `path` (mode 0600). A stale socket from a dead daemon is
 * replaced; a live one is not; anything at the path that is not a socket is
 * refused rather than deleted.
 */
export async function listenControl(path: string, deps: ControlDeps, limits: Partial<ControlLimits> = {}): Promise<Server> {
  const lim: ControlLimits = { ...defaultLimits(), ...limits };
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (existsSync(path)) {
    if (!lstatSync(path).isSocket()) throw new SocketInUse(`${path} exists and is not a socket; not touching it`);
    if (await socketAlive(path)) throw new SocketInUse(`another lvsd already answers on ${path}`);
    unlinkSync(path);
  }
  const open = new Set<Socket>();
  // allowHalfOpen: a client that sends its requests then shuts down its side
  // (socat, nc -N, a pipe) still gets every reply; the server ends the socket.
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    sock.on('error', () => { /* the client went away */ });
    if (open.size >= lim.maxClients) {
      // accepted only to say why: descriptors beyond the limit stay free for the daemon's own work
      sock.end(JSON.stringify({ ok: false, errno: 'EBUSY', message: `too many clients (${lim.maxClients} at once); try again` }) + '\n', () => sock.destroy());
      setTimeout(() => sock.destroy(), 1000).unref();
      return;
    }
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    serveSocket(sock, deps, lim);
  });
  clients.set(server, open);
  const listening = new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.once('listening', () => { server.off('error', rej); res(); });
  });
  // The bind happens inside listen(): under this umask the socket is never, even briefly, reachable by others.
  const old = process.umask(0o177);
  try { server.listen(path); } finally { process.umask(old); }
  await listening;
  server.on('error', () => { /* after listening: per-connection errors are handled per socket */ });
  chmodSync(path, 0o600);
  return server;
}

export function closeControl(server: Server, path: string): Promise<void> {
  return new Promise((res) => {
    server.close(() => res());
    for (const sock of clients.get(server) ?? []) sock.destroy();
    try { unlinkSync(path); } catch { /* already gone */ }
  });
}

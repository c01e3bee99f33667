// lvsadm: ipvsadm's command line over lvsd's control socket. It does what
// ipvsadm does in userspace (parse, check, resolve names, format) and sends
// the daemon the requests ipvsadm sends the kernel, translating the errno of a
// failed one into ipvsadm's message for that operation.

import { basename } from 'node:path';
import { STRERROR, type Errno } from '../../core/errors.js';
import { ControlConnection, ControlUnavailable, UntrustedPeer, request } from '../../core/control/client.js';
import { socketPath, type ConnView, type DaemonStatsView, type DropsView, type InfoView, type Reply, type Request } from '../../core/control/protocol.js';
import type { Family } from '../../core/model/addr.js';
import type { ServiceView, SyncDaemonSpec, Timeouts } from '../../core/model/types.js';
import { parseCommandLine, tryHelp, type Command, type ParseError } from './parse.js';
import { systemNameService, type NameService } from './resolve.js';
import {
  addressesOf, connAddresses, connLines, daemonLines, headerLine, listAll, listService, NUMERIC,
  saveRules, timeoutLine, type Names,
} from './format.js';
import { restoreVectors } from './restore.js';
import { helpText, LVSADM_VERSION, versionLine } from './help.js';
import { isExtension, parseExtension } from './extensions.js';
import { formatDrops } from './drops.js';
import { formatVrrp } from './vrrp.js';
import type { FailoverInstanceView } from '../../core/bus.js';
import { formatHealthListing } from '../../core/health/format.js';
import type { ServiceHealthView } from '../../core/health/types.js';

/** Ends the run with a status, after whatever was written. */
class Exit extends Error {
  constructor(readonly code: number) { super(`exit ${code}`); }
}

export interface Io {
  out(s: string): void;
  err(s: string): void;
  /** All of standard input (for -R). */
  readStdin(): Promise<string>;
}

export interface Ctx {
  prog: string;
  socket: string;
  io: Io;
  ns: NameService;
  info: InfoView;
}

/** The request kinds whose failures ipvsadm words specially (its ipvs_func). */
type Op = Request['op'];

const OP_ERRORS: Partial<Record<Op, Partial<Record<Errno, string>>>> = {
  'add-service': { EEXIST: 'Service already exists', ENOENT: 'Scheduler or persistence engine not found' },
  'edit-service': { ESRCH: 'No such service', ENOENT: 'Scheduler or persistence engine not found' },
  'delete-service': { ESRCH: 'No such service' },
  'zero': { ESRCH: 'No such service' },
  'add-dest': { ESRCH: 'Service not defined', EEXIST: 'Destination already exists' },
  'edit-dest': { ESRCH: 'Service not defined', ENOENT: 'No such destination' },
  'delete-dest': { ESRCH: 'Service not defined', ENOENT: 'No such destination' },
  'start-daemon': { EEXIST: 'Daemon has already run' },
  'stop-daemon': { ESRCH: 'No daemon is running' },
  'get-services': { ESRCH: 'No such service' },
  'get-service': { ESRCH: 'No such service' },
};

const ANY_OP_ERRORS: Partial<Record<Errno, string>> = {
  EPERM: 'Permission denied (you must be root)',
  EINVAL: 'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  ENOPROTOOPT: 'Protocol not available',
  ENOMEM: 'Memory allocation problem',
  EOPNOTSUPP: 'Operation not supported with IPv6',
  EAFNOSUPPORT: 'Operation not supported with specified address family',
  EMSGSIZE: 'Module is wrong version',
};

/** libipvs's ipvs_strerror for a failed request. */
export function ipvsStrerror(op: Op, errno: Errno | 'EPROTO', detail = ''): string {
  if (errno === 'EPROTO') return `Protocol error${detail ? ` (lvsd: ${detail})` : ''}`;
  return OP_ERRORS[op]?.[errno] ?? ANY_OP_ERRORS[errno] ?? STRERROR[errno] ?? errno;
}

const SYS_ERRORS: Record<string, string> = {
  ENOENT: 'No such file or directory', ECONNREFUSED: 'Connection refused', EACCES: 'Permission denied',
  EPERM: 'Operation not permitted', ETIMEDOUT: 'Connection timed out', ENOTSOCK: 'Socket operation on non-socket',
  EPROTO: 'Protocol error', ECONNRESET: 'Connection reset by peer', ENOTDIR: 'Not a directory',
};

/** ipvsadm's "Can't initialize ipvs" failure, with where lvsd was looked for. */
function initFailure(ctx: Pick<Ctx, 'io' | 'socket'>, e: ControlUnavailable): never {
  if (e instanceof UntrustedPeer) {
    ctx.io.err(`Can't initialize ipvs: ${e.message}\n`);
    throw new Exit(2);
  }
  ctx.io.err(`Can't initialize ipvs: ${SYS_ERRORS[e.code] ?? e.code}\n`
    + `Is lvsd running? Its control socket was looked for at ${ctx.socket} (--socket, $LVSD_SOCKET).\n`);
  throw new Exit(2);
}

async function call<T>(ctx: Ctx, req: Request): Promise<Reply<T>> {
  try {
    return await request<T>(ctx.socket, req);
  } catch (e) {
    if (e instanceof ControlUnavailable) initFailure(ctx, e);
    throw e;
  }
}

/** A change request: ipvsadm prints the translated error and reports failure (-1). */
async function change(ctx: Ctx, req: Request): Promise<number> {
  const r = await call(ctx, req);
  if (r.ok) return 0;
  ctx.io.err(`${ipvsStrerror(req.op, r.errno, r.message)}\n`);
  return -1;
}

/** Resolves every address a listing shows, at once, unless numeric. */
async function namesFor(ctx: Ctx, numeric: boolean, addrs: { family: Family; addr: string }[]): Promise<Names> {
  if (numeric) return NUMERIC;
  const key = (f: Family, a: string): string => `${f}/${a}`;
  const uniq = new Map<string, { family: Family; addr: string }>();
  for (const a of addrs) uniq.set(key(a.family, a.addr), a);
  const found = new Map<string, string | null>();
  await Promise.all([...uniq.entries()].map(async ([k, a]) => { found.set(k, await ctx.ns.addrToHost(a.family, a.addr)); }));
  return {
    host: (f, a) => found.get(key(f, a)) ?? null,
    service: (p, proto) => ctx.ns.portToService(p, proto),
  };
}

async function listCommand(ctx: Ctx, c: Extract<Command, { cmd: 'list' }>): Promise<number> {
  const f = c.format;
  switch (c.what) {
    case 'conns': {
      const r = await call<ConnView[]>(ctx, { op: 'get-conns' });
      if (!r.ok) { ctx.io.err('cannot open file /proc/net/ip_vs_conn\n'); throw new Exit(1); }
      ctx.io.out(connLines(r.data, f, await namesFor(ctx, f.numeric, connAddresses(r.data))));
      return 0;
    }
    case 'service': {
      const r = await call<ServiceView>(ctx, { op: 'get-service', service: c.service });
      if (!r.ok) { ctx.io.err(`${ipvsStrerror('get-service', r.errno, r.message)}\n`); throw new Exit(1); }
      ctx.io.out(listService(r.data, f, await namesFor(ctx, f.numeric, addressesOf([r.data]))));
      return 0;
    }
    case 'timeout': {
      const r = await call<Timeouts>(ctx, { op: 'get-timeouts' });
      if (!r.ok) throw new Exit(1);
      ctx.io.out(timeoutLine(r.data));
      return 0;
    }
    case 'daemon': {
      const r = await call<SyncDaemonSpec[]>(ctx, { op: 'get-daemons' });
      if (!r.ok) throw new Exit(1);
      if (!f.stats) { ctx.io.out(daemonLines(r.data)); return 0; }
      const st = await call<DaemonStatsView[]>(ctx, { op: 'get-daemon-stats' });
      if (!st.ok) { ctx.io.err(`lvsadm: ${st.message}\n`); throw new Exit(1); }
      ctx.io.out(daemonLines(r.data, st.data));
      return 0;
    }
    case 'all':
      await listTable(ctx, f, false);
      return 0;
  }
}

/** list_all(): the whole table, as a listing or (-S) as rules. */
async function listTable(ctx: Ctx, f: Extract<Command, { cmd: 'list' }>['format'], rule: boolean): Promise<void> {
  const r = await call<ServiceView[]>(ctx, { op: 'get-services' });
  if (!r.ok) {
    if (!rule) ctx.io.out(headerLine(ctx.info));
    ctx.io.err(`${ipvsStrerror('get-services', r.errno, r.message)}\n`);
    throw new Exit(1);
  }
  const names = await namesFor(ctx, f.numeric, addressesOf(r.data));
  ctx.io.out(rule ? saveRules(r.data, f, names) : listAll(ctx.info, r.data, f, names));
}

/** The daemon defaults ipvsadm leaves to the kernel (ip_vs_sync.c). */
function daemonRequest(d: SyncDaemonSpec): SyncDaemonSpec {
  return { ...d, group: d.group || '224.0.0.81', port: d.port || 8848, ttl: d.ttl || 1 };
}

/** The commands that change the table: one request each, nothing printed unless it fails. */
type ChangeCommand = Exclude<Command, { cmd: 'help' | 'version' | 'list' | 'save' | 'restore' }>;

function isChange(c: Command): c is ChangeCommand {
  return c.cmd !== 'help' && c.cmd !== 'version' && c.cmd !== 'list' && c.cmd !== 'save' && c.cmd !== 'restore';
}

/** The request ipvsadm sends the kernel for a change command. */
function changeRequest(c: ChangeCommand): Request {
  switch (c.cmd) {
    case 'flush': return { op: 'flush' };
    case 'add-service': return { op: 'add-service', service: c.service };
    case 'edit-service': return { op: 'edit-service', service: c.service };
    case 'delete-service': return { op: 'delete-service', service: c.service };
    case 'zero': return c.service ? { op: 'zero', service: c.service } : { op: 'zero' };
    case 'add-server': return { op: 'add-dest', service: c.service, dest: c.dest };
    case 'edit-server': return { op: 'edit-dest', service: c.service, dest: c.dest };
    case 'delete-server': return { op: 'delete-dest', service: c.service, dest: c.dest };
    case 'set': return { op: 'set-timeouts', timeouts: c.timeouts };
    case 'start-daemon': return { op: 'start-daemon', daemon: daemonRequest(c.daemon) };
    case 'stop-daemon': return { op: 'stop-daemon', state: c.state, syncid: c.syncid };
  }
}

type Parsed = Awaited<ReturnType<typeof parseCommandLine>>;

/** process_options() for one argument vector: 0 on success, -1 on a failed operation. */
export async function runArgs(ctx: Ctx, args: readonly string[], readingStdin: boolean): Promise<number> {
  return runParsed(ctx, await parseCommandLine(args, ctx.prog, ctx.ns), readingStdin);
}

async function runParsed(ctx: Ctx, parsed: Parsed, readingStdin: boolean): Promise<number> {
  if (!parsed.ok) return reportParseError(ctx, parsed.error);
  const c = parsed.command;
  if (isChange(c)) return change(ctx, changeRequest(c));
  switch (c.cmd) {
    case 'help': ctx.io.out(helpText(ctx.prog)); throw new Exit(0);
    case 'version': ctx.io.out(versionLine()); throw new Exit(0);
    case 'list': return listCommand(ctx, c);
    case 'save': await listTable(ctx, c.format, true); return 0;
    case 'restore': return restore(ctx, readingStdin);
  }
}

function reportParseError(ctx: Ctx, e: ParseError): number {
  ctx.io.err(e.stderr);
  if (e.fatal) throw new Exit(e.exit);
  return -1;
}

/** Change requests of `-R` sent ahead of their replies, at most this many at a time. */
const RESTORE_WINDOW = 1024;

/**
 * restore_table(): every line of stdin as a command; the status is the last
 * one's. The change requests go pipelined over one connection (the daemon
 * answers them in order), so a 100 000-line restore costs no round trip per
 * line. Replies are read back in order and a failure prints ipvsadm's message
 * as it would have; before any line that prints something of its own (a
 * listing, a parse error, help), every earlier reply is read, so the output
 * comes in the order of the lines.
 */
async function restore(ctx: Ctx, readingStdin: boolean): Promise<number> {
  if (readingStdin) reportParseError(ctx, tryHelp(ctx.prog));
  let result = 0;
  let conn: ControlConnection | null = null;
  const sent: { op: Op; reply: Promise<Reply> }[] = [];
  let head = 0;
  const settleOne = async (): Promise<void> => {
    const s = sent[head]!;
    sent[head++] = undefined as never;
    if (head >= RESTORE_WINDOW) { sent.splice(0, head); head = 0; }
    let r: Reply;
    try { r = await s.reply; } catch (e) {
      if (e instanceof ControlUnavailable) initFailure(ctx, e);
      throw e;
    }
    if (r.ok) result = 0;
    else { ctx.io.err(`${ipvsStrerror(s.op, r.errno, r.message)}\n`); result = -1; }
  };
  const settleAll = async (): Promise<void> => {
    while (head < sent.length) await settleOne();
    sent.length = 0;
    head = 0;
  };
  try {
    for (const v of restoreVectors(await ctx.io.readStdin())) {
      const parsed = await parseCommandLine(v, ctx.prog, ctx.ns);
      if (parsed.ok && isChange(parsed.command)) {
        if (!conn) {
          try { conn = await ControlConnection.open(ctx.socket); } catch (e) {
            if (e instanceof ControlUnavailable) initFailure(ctx, e);
            throw e;
          }
        }
        const req = changeRequest(parsed.command);
        const reply = conn.send(req);
        reply.catch(() => { /* read, in order, by settleOne */ });
        sent.push({ op: req.op, reply });
        if (sent.length - head >= RESTORE_WINDOW) await settleOne();
        continue;
      }
      await settleAll();
      result = await runParsed(ctx, parsed, true);
    }
    await settleAll();
  } finally {
    conn?.close();
  }
  return result;
}

/** lvsd's own commands (lifecycle, health listing, drops): 0, 1 for a failed request (no data plane for --drops), 2 for bad usage. */
async function extension(ctx: Ctx, args: readonly string[]): Promise<number> {
  const parsed = await parseExtension(args, ctx.ns);
  if (!parsed.ok) { ctx.io.err(`${ctx.prog}: ${parsed.error}\n`); return 2; }
  const c = parsed.command;
  if (c.op === 'get-health') {
    const r = await call<ServiceHealthView[]>(ctx, c.service ? { op: 'get-health', service: c.service } : { op: 'get-health' });
    if (!r.ok) { ctx.io.err(`${ctx.prog}: ${r.message}\n`); return 1; }
    ctx.io.out(formatHealthListing(r.data, c.numeric));
    return 0;
  }
  if (c.op === 'get-drops') {
    const r = await call<DropsView>(ctx, c.perWorker ? { op: 'get-drops', perWorker: true } : { op: 'get-drops' });
    if (!r.ok) { ctx.io.err(`${ctx.prog}: ${r.message}\n`); return 1; }
    ctx.io.out(formatDrops(r.data));
    return 0;
  }
  if (c.op === 'get-vrrp') {
    const r = await call<FailoverInstanceView[]>(ctx, { op: 'get-vrrp' });
    if (!r.ok) { ctx.io.err(`${ctx.prog}: ${r.message}\n`); return 1; }
    ctx.io.out(formatVrrp(r.data, c.stats, Date.now()));
    return 0;
  }
  const r = await call(ctx, c);
  if (!r.ok) { ctx.io.err(`${ctx.prog}: ${r.message}\n`); return 1; }
  return 0;
}

/** `--socket PATH` / `--socket=PATH` are lvsadm's own: taken out before ipvsadm parsing. */
export function takeSocketOption(argv: readonly string[]): { args: string[]; socket?: string } {
  const args: string[] = [];
  let socket: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--socket' && i + 1 < argv.length) { socket = argv[++i]!; continue; }
    if (a.startsWith('--socket=')) { socket = a.slice('--socket='.length); continue; }
    args.push(a);
  }
  return socket === undefined ? { args } : { args, socket };
}

/** The whole program: returns the exit status. */
export async function lvsadm(argv: readonly string[], prog: string, io: Io, ns: NameService = systemNameService()): Promise<number> {
  const { args, socket: flag } = takeSocketOption(argv);
  const base = { prog, socket: socketPath(flag), io, ns };
  try {
    let info: InfoView;
    try {
      const r = await request<InfoView>(base.socket, { op: 'info' });
      info = r.ok ? r.data : { version: 0x010201, connTabSize: 4096 };
    } catch (e) {
      if (!(e instanceof ControlUnavailable)) throw e;
      // ipvsadm cannot even print its help without the kernel; lvsadm can.
      const p = await parseCommandLine(args, prog, ns);
      if (p.ok && p.command.cmd === 'help') { io.out(helpText(prog)); return 0; }
      if (p.ok && p.command.cmd === 'version') { io.out(versionLine()); return 0; }
      initFailure(base, e);
    }
    const ctx: Ctx = { ...base, info };
    if (info.version < 0x010104) {
      io.err(`Warning: IPVS version mismatch: \n  Kernel compiled with IPVS version ${(info.version >> 16) & 0xff}.${(info.version >> 8) & 0xff}.${info.version & 0xff}\n`
        + `  lvsadm v${LVSADM_VERSION}  requires minimum IPVS version 1.1.4\n\n`);
    }
    if (isExtension(args)) return await extension(ctx, args);
    if (args.length === 0) {
      await listTable(ctx, { numeric: false, stats: false, rate: false, thresholds: false, persistentConn: false, nosort: false, exact: false, tunInfo: false }, false);
      return 0;
    }
    const result = await runArgs(ctx, args, false);
    return result === 0 ? 0 : 255;
  } catch (e) {
    if (e instanceof Exit) return e.code;
    throw e;
  }
}

/** Standard streams; a closed stdout (e.g. `| head`) ends the program quietly. */
export function processIo(): Io {
  process.stdout.on('error', () => process.exit(process.exitCode ?? 0));
  return {
    out: (s) => { if (s) process.stdout.write(s); },
    err: (s) => { if (s) process.stderr.write(s); },
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

export async function cli(): Promise<void> {
  const prog = basename(process.argv[1] ?? 'lvsadm').replace(/\.(js|ts|mjs)$/, '');
  const code = await lvsadm(process.argv.slice(2), prog, processIo());
  process.exitCode = code;
}

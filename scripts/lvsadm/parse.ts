// ipvsadm 1.31's command line, argv to a typed command: option scanning
// (popt.ts), the per-option parsing and its messages, the command x option
// matrix and the checks process_options() makes before touching the kernel.
// The order of every check follows ipvsadm's, because the first failing one
// decides the message.

import { bytesToIpv6, ipv6ToBytes, u32ToIpv4, type Family } from '../../core/model/addr.js';
import {
  SVC_F_ONEPACKET, SVC_F_PERSISTENT, SVC_F_SCHED_MASK,
  TUN_FLAG_CSUM, TUN_FLAG_REMCSUM,
  type DestKey, type DestSpec, type FwdMethod, type Protocol, type ServiceKey, type ServiceSpec,
  type SyncDaemonSpec, type Timeouts, type TunType,
} from '../../core/model/types.js';
import { parseIpvsadmSchedFlags as parseFlagWords } from './schedflags.js';
import { Popt, type OptionDef } from './popt.js';
import { inetPton4, type NameService } from './resolve.js';

// ------------------------------------------------------------ tables

export const CMD_NAMES = [
  'add-service', 'edit-service', 'delete-service', 'flush', 'list', 'add-server', 'delete-server',
  'edit-server', 'set', 'start-daemon', 'stop-daemon', 'restore', 'save', 'zero',
] as const;
export type CmdName = (typeof CMD_NAMES)[number];

export const OPT_NAMES = [
  'numeric', 'connection', 'service-address', 'scheduler', 'persistent', 'netmask', 'real-server',
  'forwarding-method', 'weight', 'u-threshold', 'l-threshold', 'mcast-interface', 'timeout', 'daemon',
  'stats', 'rate', 'thresholds', 'persistent-conn', 'nosort', 'syncid', 'exact', 'ops', 'pe',
  'sched-flags', 'mcast-group', 'mcast-port', 'mcast-ttl', 'sync-maxlen', 'tun-info', 'tun-type',
  'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum',
] as const;
export type OptName = (typeof OPT_NAMES)[number];

/**
 * ipvsadm's commands_v_options, one row per command, one column per option
 * in OPT_NAMES order: '+' required, 'x' illegal, '1' one of a group, ' ' optional.
 */
const X10 = 'xxxxxxxxxx';
export const MATRIX: Record<CmdName, string> = {
  'add-service': 'xx+   ' + X10 + 'xxxxx' + '   ' + X10,
  'edit-service': 'xx+   ' + X10 + 'xxxxx' + '   ' + X10,
  'delete-service': 'xx+' + X10 + X10 + X10 + 'x',
  'flush': X10 + X10 + X10 + 'xxxx',
  'list': ' 11' + 'xxxxxxxxx' + '11' + '       ' + 'xxxxxxx' + ' ' + 'xxxxx',
  'add-server': 'xx+xxx+' + '    ' + X10 + 'xxxxxxxx' + '     ',
  'delete-server': 'xx+xxx+' + X10 + X10 + 'xxxxxxx',
  'edit-server': 'xx+xxx+' + '    ' + X10 + 'xxxxxxxx' + '     ',
  'set': X10 + X10 + X10 + 'xxxx',
  'start-daemon': X10 + 'x' + ' ' + 'xxxxxxx' + ' ' + 'xxxx' + '    ' + 'xxxxxx',
  'stop-daemon': X10 + 'xxxxxxxxx' + ' ' + X10 + 'xxxx',
  'restore': X10 + X10 + X10 + 'xxxx',
  'save': ' ' + X10 + X10 + X10 + 'xxx',
  'zero': 'xx ' + X10 + X10 + X10 + 'x',
};

const TUN_NAMES: readonly TunType[] = ['ipip', 'gue', 'gre'];
/** tunnel_types_v_options: columns tun-port, tun-nocsum, tun-csum, tun-remcsum. */
const TUN_MATRIX: Record<TunType, string> = { ipip: 'xxxx', gue: '+111', gre: 'x11x' };
const TUN_OPTS: readonly OptName[] = ['tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'];

/** ipvsadm's popt table, in its order (the first `list` wins for --list). */
export const OPTIONS: readonly OptionDef[] = [
  { long: 'add-service', short: 'A', arg: 'none', tag: 'A' },
  { long: 'edit-service', short: 'E', arg: 'none', tag: 'E' },
  { long: 'delete-service', short: 'D', arg: 'none', tag: 'D' },
  { long: 'clear', short: 'C', arg: 'none', tag: 'C' },
  { long: 'list', short: 'L', arg: 'none', tag: 'L' },
  { long: 'list', short: 'l', arg: 'none', tag: 'L' },
  { long: 'zero', short: 'Z', arg: 'none', tag: 'Z' },
  { long: 'add-server', short: 'a', arg: 'none', tag: 'a' },
  { long: 'edit-server', short: 'e', arg: 'none', tag: 'e' },
  { long: 'delete-server', short: 'd', arg: 'none', tag: 'd' },
  { long: 'set', arg: 'none', tag: 'set' },
  { long: 'help', short: 'h', arg: 'none', tag: 'h' },
  { long: 'version', short: 'v', arg: 'none', tag: 'v' },
  { long: 'restore', short: 'R', arg: 'none', tag: 'R' },
  { long: 'save', short: 'S', arg: 'none', tag: 'S' },
  { long: 'start-daemon', arg: 'required', tag: 'start-daemon' },
  { long: 'stop-daemon', arg: 'required', tag: 'stop-daemon' },
  { long: 'tcp-service', short: 't', arg: 'required', tag: 't' },
  { long: 'udp-service', short: 'u', arg: 'required', tag: 'u' },
  { long: 'sctp-service', arg: 'required', tag: 'sctp-service' },
  { long: 'fwmark-service', short: 'f', arg: 'required', tag: 'f' },
  { long: 'scheduler', short: 's', arg: 'required', tag: 's' },
  { long: 'persistent', short: 'p', arg: 'optional', tag: 'p' },
  { long: 'netmask', short: 'M', arg: 'required', tag: 'M' },
  { long: 'real-server', short: 'r', arg: 'required', tag: 'r' },
  { long: 'masquerading', short: 'm', arg: 'none', tag: 'm' },
  { long: 'ipip', short: 'i', arg: 'none', tag: 'i' },
  { long: 'gatewaying', short: 'g', arg: 'none', tag: 'g' },
  { long: 'weight', short: 'w', arg: 'required', tag: 'w' },
  { long: 'u-threshold', short: 'x', arg: 'required', tag: 'x' },
  { long: 'l-threshold', short: 'y', arg: 'required', tag: 'y' },
  { long: 'numeric', short: 'n', arg: 'none', tag: 'n' },
  { long: 'connection', short: 'c', arg: 'none', tag: 'c' },
  { long: 'mcast-interface', arg: 'required', tag: 'mcast-interface' },
  { long: 'syncid', arg: 'required', tag: 'syncid' },
  { long: 'timeout', arg: 'none', tag: 'timeout' },
  { long: 'daemon', arg: 'none', tag: 'daemon' },
  { long: 'stats', arg: 'none', tag: 'stats' },
  { long: 'rate', arg: 'none', tag: 'rate' },
  { long: 'thresholds', arg: 'none', tag: 'thresholds' },
  { long: 'persistent-conn', arg: 'none', tag: 'persistent-conn' },
  { long: 'nosort', arg: 'none', tag: 'nosort' },
  { long: 'sort', arg: 'none', tag: 'sort' },
  { long: 'exact', short: 'X', arg: 'none', tag: 'X' },
  { long: 'ipv6', short: '6', arg: 'none', tag: '6' },
  { long: 'ops', short: 'o', arg: 'none', tag: 'o' },
  { long: 'pe', arg: 'required', tag: 'pe' },
  { long: 'sched-flags', short: 'b', arg: 'required', tag: 'b' },
  { long: 'mcast-group', arg: 'required', tag: 'mcast-group' },
  { long: 'mcast-port', arg: 'required', tag: 'mcast-port' },
  { long: 'mcast-ttl', arg: 'required', tag: 'mcast-ttl' },
  { long: 'sync-maxlen', arg: 'required', tag: 'sync-maxlen' },
  { long: 'tun-info', arg: 'none', tag: 'tun-info' },
  { long: 'tun-type', arg: 'required', tag: 'tun-type' },
  { long: 'tun-port', arg: 'required', tag: 'tun-port' },
  { long: 'tun-nocsum', arg: 'none', tag: 'tun-nocsum' },
  { long: 'tun-csum', arg: 'none', tag: 'tun-csum' },
  { long: 'tun-remcsum', arg: 'none', tag: 'tun-remcsum' },
];

/** The tags that start a command; any of them after the first is an invalid option. */
const COMMAND_TAGS: Record<string, CmdName | 'help' | 'version'> = {
  A: 'add-service', E: 'edit-service', D: 'delete-service', a: 'add-server', e: 'edit-server',
  d: 'delete-server', C: 'flush', L: 'list', Z: 'zero', set: 'set', R: 'restore', S: 'save',
  'start-daemon': 'start-daemon', 'stop-daemon': 'stop-daemon', h: 'help', v: 'version',
};

export const MAX_TIMEOUT = 86400 * 31;
export const DEFAULT_PERSISTENT_TIMEOUT = 360;
const INT_MAX = 2147483647;

// ------------------------------------------------------------ results

export interface ListFormat {
  numeric: boolean; stats: boolean; rate: boolean; thresholds: boolean; persistentConn: boolean;
  nosort: boolean; exact: boolean; tunInfo: boolean;
}

export type Command =
  | { cmd: 'help' }
  | { cmd: 'version' }
  | { cmd: 'list'; what: 'all' | 'conns' | 'timeout' | 'daemon'; format: ListFormat }
  | { cmd: 'list'; what: 'service'; format: ListFormat; service: ServiceKey }
  | { cmd: 'save'; format: ListFormat }
  | { cmd: 'restore' }
  | { cmd: 'flush' }
  | { cmd: 'add-service' | 'edit-service'; service: ServiceSpec }
  | { cmd: 'delete-service'; service: ServiceKey }
  | { cmd: 'zero'; service?: ServiceKey }
  | { cmd: 'add-server' | 'edit-server'; service: ServiceKey; dest: DestSpec }
  | { cmd: 'delete-server'; service: ServiceKey; dest: DestKey }
  | { cmd: 'set'; timeouts: Timeouts }
  | { cmd: 'start-daemon'; daemon: SyncDaemonSpec }
  | { cmd: 'stop-daemon'; state: 'master' | 'backup'; syncid: number };

/**
 * Why a command line was refused. `fatal` errors end the program (ipvsadm's
 * fail() and tryhelp_exit()); a popt error only makes this command fail, so
 * `-R` goes on with the next line.
 */
export interface ParseError {
  stderr: string;
  exit: number;
  fatal: boolean;
}

export type ParseOutcome = { ok: true; command: Command } | { ok: false; error: ParseError };

export function tryHelp(prog: string): ParseError {
  return { stderr: `Try \`${prog} -h' or '${prog} --help' for more information.\n`, exit: 255, fatal: true };
}

class Fail extends Error {
  constructor(readonly err: ParseError) { super(err.stderr); }
}
/** ipvsadm's fail(2, ...): the message, a newline, exit 2. */
function fail(msg: string): never {
  throw new Fail({ stderr: `${msg}\n`, exit: 2, fatal: true });
}

// ------------------------------------------------------------ number and address parsing

/** C isspace() in the C locale. */
const isSpace = (c: string | undefined): boolean => c !== undefined && ' \t\n\v\f\r'.includes(c);

/**
 * strtol(s, &end, base): skips leading spaces, takes a sign and digits. Returns
 * the value (clamped like LONG_MIN/LONG_MAX, with `range` set) and where it stopped.
 */
export function strtol(s: string, base: 10 | 0 = 10): { value: number; end: number; range: boolean } {
  let i = 0;
  while (isSpace(s[i])) i++;
  let neg = false;
  if (s[i] === '+' || s[i] === '-') { neg = s[i] === '-'; i++; }
  let b: number = base;
  if ((b === 0 || b === 16) && s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && /[0-9a-fA-F]/.test(s[i + 2] ?? '')) {
    i += 2; b = 16;
  } else if (b === 0) b = s[i] === '0' ? 8 : 10;
  const start = i;
  let v = 0n;
  for (; i < s.length; i++) {
    const d = parseInt(s[i]!, 36);
    if (Number.isNaN(d) || d >= b) break;
    v = v * BigInt(b) + BigInt(d);
  }
  if (i === start) return { value: 0, end: 0, range: false };
  const LMAX = (1n << 63n) - 1n;
  let range = false;
  if (!neg && v > LMAX) { v = LMAX; range = true; }
  if (neg && v > LMAX + 1n) { v = LMAX + 1n; range = true; }
  return { value: Number(neg ? -v : v), end: i, range };
}

/** ipvsadm's string_to_number: the whole string one base-10 number within [min, max], else -1. */
export function stringToNumber(s: string, min: number, max: number): number {
  const r = strtol(s);
  if (r.end !== 0 && r.end === s.length && !r.range && r.value >= min && r.value <= max) return r.value;
  return -1;
}

/** C atoi(): leading spaces, sign, digits; 0 when there are none. */
export function atoi(s: string): number {
  const r = strtol(s);
  return r.end === 0 ? 0 : Number(BigInt.asIntN(32, BigInt(r.value)));
}

/** glibc inet_aton: 1 to 4 parts, each decimal, 0x hex or 0 octal; trailing whitespace allowed. */
export function inetAton(s: string): number | null {
  const max = [0xffffffff, 0xffffff, 0xffff, 0xff];
  const parts: number[] = [];
  let i = 0;
  for (;;) {
    if (!/[0-9]/.test(s[i] ?? '')) return null;
    let base = 10;
    if (s[i] === '0') {
      if ((s[i + 1] === 'x' || s[i + 1] === 'X') && /[0-9a-fA-F]/.test(s[i + 2] ?? '')) { base = 16; i += 2; } else base = 8;
    }
    let v = 0;
    for (; i < s.length; i++) {
      const d = parseInt(s[i]!, 16);
      if (Number.isNaN(d) || d >= base) break;
      v = v * base + d;
      if (v > 0xffffffff) return null;
    }
    if (s[i] === '.') {
      if (parts.length > 2 || v > 0xff) return null;
      parts.push(v);
      i++;
      continue;
    }
    if (i < s.length && !isSpace(s[i])) return null;
    if (v > max[parts.length]!) return null;
    let addr = 0;
    parts.forEach((p, k) => { addr |= p << (24 - 8 * k); });
    return ((addr >>> 0) | v) >>> 0;
  }
}

/** inet_pton(AF_INET6): canonical text, or null (no zone ids, no surrounding spaces). */
export function inetPton6(s: string): string | null {
  if (s.includes('%')) return null;
  const b = ipv6ToBytes(s);
  return b ? bytesToIpv6(b) : null;
}

export interface Endpoint { family: Family; addr: string; port: number }

export type ProtoNum = 0 | 6 | 17 | 132;
const PROTO_NAME: Record<number, 'tcp' | 'udp' | 'sctp' | undefined> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/**
 * ipvsadm's parse_service: `host[:port]`, `[v6]:port` or a bare IPv6
 * literal. `addr` false means SERVICE_NONE; `port` null means none given.
 */
export async function parseService(
  buf: string, protocol: ProtoNum, ns: NameService,
): Promise<{ family: Family; addr: string; port: number | null } | null> {
  if (/^[0-9]*$/.test(buf)) return null;
  let host = buf;
  let portText: string | null = null;
  if (host[0] === '[') {
    const close = host.indexOf(']', 1);
    if (close < 0 || host[close + 1] !== ':') return null;
    portText = host.slice(close + 2);
    host = host.slice(1, close);
  }
  let family: Family;
  let addr: string;
  const v6 = inetPton6(host);
  if (v6 !== null) {
    family = 'inet6';
    addr = v6;
  } else {
    // strrchr(buf, ':') on what is left: a bracketed IPv4 thus loses its port.
    const colon = host.lastIndexOf(':');
    portText = colon >= 0 ? host.slice(colon + 1) : null;
    if (colon >= 0) host = host.slice(0, colon);
    const n = inetAton(host);
    if (n !== null) addr = u32ToIpv4(n);
    else {
      const h = await ns.hostToAddr(host);
      if (h === null) return null;
      addr = h;
    }
    family = 'inet';
  }
  if (portText === null) return { family, addr, port: null };
  let port = stringToNumber(portText, 0, 65535);
  if (port === -1) {
    const proto = PROTO_NAME[protocol];
    const p = proto ? ns.serviceToPort(portText, proto) : null;
    if (p === null) return null;
    port = p;
  }
  return { family, addr, port };
}

// ------------------------------------------------------------ the command entry

/** ipvsadm's struct ipvs_command_entry, as parse_options fills it. */
interface Entry {
  cmd: CmdName | null;
  svc: {
    family: Family | null; protocol: ProtoNum; addr: string; port: number; fwmark: number;
    sched: string; flags: number; timeout: number; netmask: number; pe: string;
  };
  dest: {
    family: Family | null; addr: string; port: number; fwd: FwdMethod; weight: number;
    uThreshold: number; lThreshold: number; tunType: TunType; tunPort: number; tunFlags: number;
  };
  timeouts: Timeouts;
  daemon: {
    state: 'master' | 'backup'; mcastIfn: string; syncid: number; maxlen: number;
    group: string; port: number; ttl: number;
  };
}

function freshEntry(): Entry {
  return {
    cmd: null,
    svc: { family: null, protocol: 0, addr: '', port: 0, fwmark: 0, sched: '', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' },
    dest: { family: null, addr: '', port: 0, fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunFlags: 0 },
    timeouts: { tcp: 0, tcpfin: 0, udp: 0 },
    daemon: { state: 'master', mcastIfn: '', syncid: 0, maxlen: 0, group: '', port: 0, ttl: 0 },
  };
}

function emptyFormat(): ListFormat {
  return { numeric: false, stats: false, rate: false, thresholds: false, persistentConn: false, nosort: false, exact: false, tunInfo: false };
}

function setOption(opts: Set<OptName>, o: OptName): void {
  if (opts.has(o)) fail(`multiple '${o}' options specified`);
  opts.add(o);
}

function parseTimeout(buf: string | null, min: number, max: number): number {
  if (buf === null) return DEFAULT_PERSISTENT_TIMEOUT;
  const n = stringToNumber(buf, min, max);
  if (n === -1) fail(`invalid timeout value \`${buf}' specified`);
  return n;
}

function parseFwmark(buf: string): number {
  const r = strtol(buf);
  // strtol into an unsigned long: negative values wrap to huge ones and fail the range check.
  if (r.end === 0 || r.end !== buf.length || r.range || r.value <= 0 || r.value > 0xffffffff) {
    fail(`invalid fwmark value \`${buf}' specified`);
  }
  return r.value;
}

/** parse_sched_flags: strtok on ',' (empty words vanish), defaulting the scheduler to wlc. */
function parseSchedFlags(sched: string, arg: string): number {
  const s = sched || 'wlc';
  const words = arg.split(',').filter((w) => w !== '');
  // ipvsadm dereferences a NULL token here and crashes; refuse the list instead.
  if (words.length === 0) fail(`invalid scheduler flag \`${arg}'`);
  const r = parseFlagWords(words, s);
  if ('error' in r) fail(r.error);
  return r.flags;
}


function genericOptCheck(cmd: CmdName, opts: Set<OptName>): void {
  const row = MATRIX[cmd];
  let last: OptName | null = null;
  OPT_NAMES.forEach((o, j) => {
    const rule = row[j];
    if (!opts.has(o)) {
      if (rule === '+') fail(`You need to supply the '${o}' option for the '${cmd}' command`);
      return;
    }
    if (rule === 'x') fail(`Illegal '${o}' option with the '${cmd}' command`);
    if (rule === '1') {
      if (last === null) { last = o; return; }
      fail(`The option '${o}' conflicts with the '${last}' option in the '${cmd}' command`);
    }
  });
}

function tunnelOptCheck(type: TunType, opts: Set<OptName>): void {
  const row = TUN_MATRIX[type];
  let last: OptName | null = null;
  TUN_OPTS.forEach((o, j) => {
    const rule = row[j];
    if (!opts.has(o)) {
      if (rule === '+') fail(`You need to supply the '${o}' option for the '${type}' tunnel type`);
      return;
    }
    if (rule === 'x') fail(`Illegal '${o}' option with the '${type}' tunnel type`);
    if (rule === '1') {
      if (last === null) { last = o; return; }
      fail(`The option '${o}' conflicts with the '${last}' option in the '${type}' tunnel type`);
    }
  });
}

const PROTOCOL_OF: Record<number, Protocol> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

function serviceKeyOf(e: Entry): ServiceKey {
  const family = e.svc.family ?? 'inet';
  if (e.svc.fwmark) return { family, protocol: 'tcp', addr: family === 'inet6' ? '::' : '0.0.0.0', port: 0, fwmark: e.svc.fwmark };
  return { family, protocol: PROTOCOL_OF[e.svc.protocol] ?? 'tcp', addr: e.svc.addr, port: e.svc.port, fwmark: 0 };
}

// ------------------------------------------------------------ the parser

/**
 * Parses one command line (without the program name) as ipvsadm's
 * parse_options() and process_options() checks do. `prog` is the name used
 * in the "Try ..." hint.
 */
export async function parseCommandLine(args: readonly string[], prog: string, ns: NameService): Promise<ParseOutcome> {
  try {
    return await parseInner(args, prog, ns);
  } catch (e) {
    if (e instanceof Fail) return { ok: false, error: e.err };
    throw e;
  }
}

async function parseInner(args: readonly string[], prog: string, ns: NameService): Promise<ParseOutcome> {
  const popt = new Popt(args, OPTIONS);
  const e = freshEntry();
  const opts = new Set<OptName>();
  const format = emptyFormat();
  let schedFlagsArg = '';

  const first = popt.getNextOpt();
  if (first.kind !== 'opt') return { ok: false, error: tryHelp(prog) };
  const firstCmd = COMMAND_TAGS[first.tag];
  if (firstCmd === undefined) return { ok: false, error: tryHelp(prog) };
  if (firstCmd === 'help') return { ok: true, command: { cmd: 'help' } };
  if (firstCmd === 'version') return { ok: true, command: { cmd: 'version' } };
  e.cmd = firstCmd;
  if (firstCmd === 'start-daemon' || firstCmd === 'stop-daemon') {
    if (first.arg === 'master' || first.arg === 'backup') e.daemon.state = first.arg;
    else fail(firstCmd === 'start-daemon' ? 'illegal start-daemon parameter specified' : 'illegal start_daemon specified');
  }

  for (;;) {
    const n = popt.getNextOpt();
    if (n.kind === 'end') break;
    if (n.kind === 'error') {
      return { ok: false, error: { stderr: `${popt.badOption()}: ${n.error}\n`, exit: 255, fatal: false } };
    }
    const arg = n.arg ?? '';
    switch (n.tag) {
      case 't': case 'u': case 'sctp-service': {
        setOption(opts, 'service-address');
        e.svc.protocol = n.tag === 't' ? 6 : n.tag === 'u' ? 17 : 132;
        const p = await parseService(arg, e.svc.protocol, ns);
        if (!p) fail('illegal virtual server address[:port] specified');
        e.svc.family = p.family;
        e.svc.addr = p.addr;
        if (p.family === 'inet6') e.svc.netmask = 128;
        if (p.port !== null) e.svc.port = p.port;
        break;
      }
      case 'f':
        setOption(opts, 'service-address');
        e.svc.family = 'inet';
        e.svc.protocol = 6;
        e.svc.fwmark = parseFwmark(arg);
        break;
      case 's':
        setOption(opts, 'scheduler');
        e.svc.sched = arg.slice(0, 15);
        break;
      case 'p':
        setOption(opts, 'persistent');
        e.svc.flags |= SVC_F_PERSISTENT;
        e.svc.timeout = parseTimeout(n.arg, 1, MAX_TIMEOUT);
        break;
      case 'M':
        setOption(opts, 'netmask');
        if (e.svc.family !== 'inet6') {
          let m = inetAton(arg);
          if (m === null) {
            const h = await ns.hostToAddr(arg);
            m = h === null ? null : inetAton(h);
          }
          if (m === null) fail('illegal virtual server persistent mask specified');
          e.svc.netmask = m;
        } else {
          e.svc.netmask = atoi(arg);
          if (e.svc.netmask < 1 || e.svc.netmask > 128) fail('illegal ipv6 netmask specified');
        }
        break;
      case 'r': {
        setOption(opts, 'real-server');
        const p = await parseService(arg, e.svc.protocol, ns);
        if (!p) fail('illegal real server address[:port] specified');
        e.dest.family = p.family;
        e.dest.addr = p.addr;
        // No port given: the virtual port as known at this point.
        e.dest.port = p.port ?? e.svc.port;
        break;
      }
      case 'i': setOption(opts, 'forwarding-method'); e.dest.fwd = 'tunnel'; break;
      case 'g': setOption(opts, 'forwarding-method'); e.dest.fwd = 'route'; break;
      case 'm': setOption(opts, 'forwarding-method'); e.dest.fwd = 'masq'; break;
      case 'w':
        setOption(opts, 'weight');
        // ipvsadm 1.31 as shipped takes any non-negative int (the kernel keeps it).
        if ((e.dest.weight = stringToNumber(arg, 0, INT_MAX)) === -1) fail('illegal weight specified');
        break;
      case 'x':
        setOption(opts, 'u-threshold');
        if ((e.dest.uThreshold = stringToNumber(arg, 0, INT_MAX)) === -1) fail('illegal u_threshold specified');
        break;
      case 'y':
        setOption(opts, 'l-threshold');
        if ((e.dest.lThreshold = stringToNumber(arg, 0, INT_MAX)) === -1) fail('illegal l_threshold specified');
        break;
      case 'c': setOption(opts, 'connection'); break;
      case 'n': setOption(opts, 'numeric'); format.numeric = true; break;
      case 'mcast-interface': setOption(opts, 'mcast-interface'); e.daemon.mcastIfn = arg.slice(0, 15); break;
      case 'syncid':
        setOption(opts, 'syncid');
        if ((e.daemon.syncid = stringToNumber(arg, 0, 255)) === -1) fail('illegal syncid specified');
        break;
      case 'timeout': setOption(opts, 'timeout'); break;
      case 'daemon': setOption(opts, 'daemon'); break;
      case 'stats': setOption(opts, 'stats'); format.stats = true; break;
      case 'rate': setOption(opts, 'rate'); format.rate = true; break;
      case 'thresholds': setOption(opts, 'thresholds'); format.thresholds = true; break;
      case 'persistent-conn': setOption(opts, 'persistent-conn'); format.persistentConn = true; break;
      case 'nosort': setOption(opts, 'nosort'); format.nosort = true; break;
      case 'sort': break; // the default; accepted for compatibility, not even counted
      case 'X': setOption(opts, 'exact'); format.exact = true; break;
      case '6':
        if (!e.svc.fwmark) fail('-6 used before -f\n');
        e.svc.family = 'inet6';
        e.svc.netmask = 128;
        break;
      case 'o': setOption(opts, 'ops'); e.svc.flags |= SVC_F_ONEPACKET; break;
      case 'pe': setOption(opts, 'pe'); e.svc.pe = arg.slice(0, 15); break;
      case 'b': setOption(opts, 'sched-flags'); schedFlagsArg = arg.slice(0, 127); break;
      case 'mcast-group':
        setOption(opts, 'mcast-group');
        if (arg.includes(':')) {
          const b = arg.includes('%') ? null : ipv6ToBytes(arg);
          if (b === null || b[0] !== 0xff) fail(`invalid IPv6 mcast-group \`${arg}'`);
          e.daemon.group = bytesToIpv6(b);
        } else {
          const g = inetPton4(arg);
          if (g === null || (Number(g.split('.')[0]) & 0xf0) !== 0xe0) fail(`invalid IPv4 mcast-group \`${arg}'`);
          e.daemon.group = g;
        }
        break;
      case 'mcast-port':
        setOption(opts, 'mcast-port');
        if ((e.daemon.port = stringToNumber(arg, 1, 65535)) === -1) fail('illegal mcast-port specified');
        break;
      case 'mcast-ttl':
        setOption(opts, 'mcast-ttl');
        if ((e.daemon.ttl = stringToNumber(arg, 1, 255)) === -1) fail('illegal mcast-ttl specified');
        break;
      case 'sync-maxlen':
        setOption(opts, 'sync-maxlen');
        if ((e.daemon.maxlen = stringToNumber(arg, 1, 65535 - 20 - 8)) === -1) fail('illegal sync-maxlen specified');
        break;
      case 'tun-info': setOption(opts, 'tun-info'); format.tunInfo = true; break;
      case 'tun-type': {
        setOption(opts, 'tun-type');
        const t = TUN_NAMES.find((x) => x === arg);
        if (!t) fail('illegal tunnel type specified');
        e.dest.tunType = t;
        break;
      }
      case 'tun-port':
        setOption(opts, 'tun-port');
        if ((e.dest.tunPort = stringToNumber(arg, 1, 65535)) === -1) fail('illegal tunnel port specified');
        break;
      case 'tun-nocsum': setOption(opts, 'tun-nocsum'); break;
      case 'tun-csum': setOption(opts, 'tun-csum'); e.dest.tunFlags |= TUN_FLAG_CSUM; break;
      case 'tun-remcsum': setOption(opts, 'tun-remcsum'); e.dest.tunFlags |= TUN_FLAG_REMCSUM; break;
      default:
        // A second command (or -h/-v) after the first one.
        fail(`invalid option \`${popt.badOption()}'`);
    }
  }

  if (e.cmd === 'set') {
    const a = popt.getArg(), b = a === null ? null : popt.getArg(), c = b === null ? null : popt.getArg();
    if (a === null || b === null || c === null) fail('--set option requires 3 timeout values');
    e.timeouts = { tcp: parseTimeout(a, 0, MAX_TIMEOUT), tcpfin: parseTimeout(b, 0, MAX_TIMEOUT), udp: parseTimeout(c, 0, MAX_TIMEOUT) };
  }
  const extra = popt.getArg();
  if (extra !== null) fail(`unexpected argument ${extra}`);
  if (schedFlagsArg !== '') {
    e.svc.flags &= ~SVC_F_SCHED_MASK;
    e.svc.flags |= parseSchedFlags(e.svc.sched, schedFlagsArg);
  }
  return { ok: true, command: check(e, opts, format) };
}

/** process_options(): the matrix, then the per-command checks, then the typed command. */
function check(e: Entry, opts: Set<OptName>, format: ListFormat): Command {
  const cmd = e.cmd!;
  genericOptCheck(cmd, opts);

  if (cmd === 'add-service' || cmd === 'edit-service') {
    if (!e.svc.fwmark && !e.svc.port && !(e.svc.flags & SVC_F_PERSISTENT)) fail('Zero port specified for non-persistent service');
    if (e.svc.flags & SVC_F_ONEPACKET && !e.svc.fwmark && e.svc.protocol !== 17) {
      fail('One-Packet Scheduling is only for UDP virtual services');
    }
    if (e.svc.sched === '') e.svc.sched = 'wlc';
  }
  if (cmd === 'start-daemon' && e.daemon.mcastIfn === '') e.daemon.mcastIfn = 'eth0';
  if (cmd === 'add-server' || cmd === 'edit-server') {
    // Direct routing and tunnelling cannot change the port.
    if (!e.svc.fwmark && (e.dest.fwd === 'tunnel' || e.dest.fwd === 'route')) e.dest.port = e.svc.port;
    if (e.dest.family !== e.svc.family && e.dest.fwd !== 'tunnel') fail('Different address family is allowed only for tunneling servers');
    if ((['tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'] as const).some((o) => opts.has(o)) && e.dest.fwd !== 'tunnel') {
      fail('Tunnel options conflict with forward method');
    }
    tunnelOptCheck(e.dest.tunType, opts);
  }

  const svcKey = (): ServiceKey => serviceKeyOf(e);
  const destKey = (): DestKey => ({ family: e.dest.family ?? 'inet', addr: e.dest.addr, port: e.dest.port });
  switch (cmd) {
    case 'list': {
      const has = (o: OptName): boolean => opts.has(o);
      // lvsd extension: -L --daemon --stats lists the sync daemons' counters (ipvsadm refuses the pair)
      if (((has('connection') || has('timeout')) && (has('stats') || has('rate') || has('thresholds')))
        || (has('daemon') && (has('rate') || has('thresholds')))
        || ((has('timeout') || has('daemon')) && has('persistent-conn'))) {
        fail('options conflicts in the list command');
      }
      if (has('connection')) return { cmd, what: 'conns', format };
      if (has('service-address')) return { cmd, what: 'service', format, service: svcKey() };
      if (has('timeout')) return { cmd, what: 'timeout', format };
      if (has('daemon')) return { cmd, what: 'daemon', format };
      return { cmd, what: 'all', format };
    }
    case 'save': return { cmd, format };
    case 'restore': return { cmd };
    case 'flush': return { cmd };
    case 'add-service': case 'edit-service':
      return { cmd, service: { ...svcKey(), scheduler: e.svc.sched, flags: e.svc.flags, timeout: e.svc.timeout, netmask: e.svc.netmask, pe: e.svc.pe } };
    case 'delete-service': return { cmd, service: svcKey() };
    case 'zero': {
      // libipvs leaves the service out (zero everything) when it is all zeroes.
      const k = svcKey();
      const any = !e.svc.fwmark && !e.svc.port && (e.svc.addr === '' || e.svc.addr === '0.0.0.0' || e.svc.addr === '::');
      return any ? { cmd } : { cmd, service: k };
    }
    case 'add-server': case 'edit-server':
      return {
        cmd, service: svcKey(),
        dest: { ...destKey(), fwd: e.dest.fwd, weight: e.dest.weight, uThreshold: e.dest.uThreshold, lThreshold: e.dest.lThreshold,
          tunType: e.dest.tunType, tunPort: e.dest.tunPort, tunFlags: e.dest.tunFlags },
      };
    case 'delete-server': return { cmd, service: svcKey(), dest: destKey() };
    case 'set': return { cmd, timeouts: e.timeouts };
    case 'start-daemon': return { cmd, daemon: { ...e.daemon } };
    case 'stop-daemon': return { cmd, state: e.daemon.state, syncid: e.daemon.syncid };
  }
}

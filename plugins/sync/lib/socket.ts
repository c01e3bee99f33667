// The sockets of the IPVS connection-sync daemon (sync.md §1), opened through
// libc (koffi) so that every option is set exactly as the kernel's
// ip_vs_sync.c sets it on its own sockets — Node's dgram cannot set
// IP_MTU_DISCOVER, SO_BINDTODEVICE before bind, or IP_MULTICAST_IF by ifindex.
//
// Master (make_send_sock): UDP of the group's family; outgoing multicast
// interface = the device (ip_mreqn ifindex / IPV6_MULTICAST_IF); multicast
// loopback off; multicast TTL / hop limit = ttl; path-MTU discovery off (DF
// clear, large messages are fragmented); SO_SNDBUF = sockSize if > 0; IPv4:
// bound to the device's primary address (as inet_select_addr: another
// interface's if the device has none; 0.0.0.0 and the kernel's warning if no
// interface has one), port 0; connected to group:port.
//
// IPv6 master: the kernel binds nothing (bind_mcastif_addr is IPv4 only) and
// neither do we: connect() picks the source by the kernel's source-address
// selection on the multicast interface — the link-local address for a
// link-scope group (ff02::…), a global one for wider scopes. Binding by hand
// to either would be wrong for the other kind of group, and differ from the
// kernel.
//
// Backup (make_receive_sock): UDP, SO_REUSEADDR, SO_RCVBUF = sockSize if > 0,
// SO_BINDTODEVICE, bound to group:port, joined to the group on the device.
//
// Receiving: a blocking recvfrom() run by koffi's `.async()` on libuv's thread
// pool, re-issued as soon as it returns; close() calls shutdown(SHUT_RDWR),
// which wakes the blocked call (it returns 0), and the descriptor is closed
// when that call has come back, so no thread, handle or fd is left behind.
// Chosen over a poll loop because Node cannot watch a foreign UDP fd for
// readability (net.Socket refuses UDP fds; dgram cannot adopt one): polling
// would mean a timer, i.e. latency or wasted wake-ups. The cost: one thread of
// the pool (UV_THREADPOOL_SIZE, default 4) is busy per open backup socket.

import koffi from 'koffi';
import { constants as osConstants } from 'node:os';
import { isIPv4, isIPv6 } from 'node:net';
import { addrFromBytes } from './addr.js';

// ------------------------------------------------------------------ the API

/** What both roles need to open their socket. */
export interface SyncSocketOptions {
  /** Interface name (mandatory; unknown → ENODEV). */
  ifname: string;
  /** Multicast group, IPv4 (224.0.0.0/4) or IPv6 (ff00::/8); its family is the sockets' family. */
  group: string;
  /** UDP port of the group (8848 by default, +thread id with sync_ports > 1). */
  port: number;
  /** Multicast TTL / hop limit of what the master sends, 1..255 (unused by the backup). */
  ttl: number;
  /** SO_SNDBUF (master) / SO_RCVBUF (backup) in bytes (`sync_sock_size`); 0 = system default. */
  sockSize: number;
}

/** A result or why not: nothing throws. */
export type SocketResult<T> = { ok: true; value: T } | { ok: false; error: SyncSocketError };

/** A failed system call, with a message an operator understands. */
export class SyncSocketError extends Error {
  /** errno of the failed call (19 = ENODEV, …), 22 (EINVAL) for bad options. */
  readonly errno: number;
  /** The call or step that failed, e.g. `setsockopt(IP_MULTICAST_IF)`. */
  readonly what: string;
  constructor(role: string, ifname: string, what: string, errno: number, detail?: string) {
    // the step is named unless it is the interface lookup (ENODEV says it all)
    super(`sync ${role} socket on ${ifname}: ${detail ?? describeErrno(errno)}${what && what !== 'if_nametoindex' ? ` [${what}]` : ''}`);
    this.name = 'SyncSocketError';
    this.errno = errno;
    this.what = what;
  }
}

/** The master's connected sending socket. */
export interface MasterSocket {
  /** Sends one message, non-blocking (MSG_DONTWAIT); EAGAIN → { ok:false, again:true } so the caller retries when writable. */
  send(msg: Uint8Array): { ok: true } | { ok: false; again: boolean; errno: number };
  /** The bound source address (0.0.0.0 / the kernel's IPv6 choice when not bound to one). */
  readonly localAddress: string;
  /** The ephemeral source port. */
  readonly localPort: number;
  /** The kernel's warning to log, if any (`You probably need to specify IP address on multicast interface.`). */
  readonly warning?: string;
  /** Closes the socket; idempotent. */
  close(): void;
}

/** The backup's receiving socket. */
export interface BackupSocket {
  /** Stops receiving and releases the socket (the fd goes once the pending receive has returned); idempotent. */
  close(): void;
  /** Datagrams received (truncated ones included). */
  readonly received: number;
  /** Datagrams longer than maxlen, passed on cut to maxlen bytes. */
  readonly truncated: number;
}

const NO_ADDR_WARNING = 'You probably need to specify IP address on multicast interface.';

// ------------------------------------------------------------------ libc

const AF_INET = 2, AF_INET6 = 10, AF_NETLINK = 16;
const SOCK_DGRAM = 2, SOCK_RAW = 3, SOCK_CLOEXEC = 0o2000000;
const IPPROTO_IP = 0, IPPROTO_UDP = 17, IPPROTO_IPV6 = 41;
const SOL_SOCKET = 1, SO_REUSEADDR = 2, SO_SNDBUF = 7, SO_RCVBUF = 8, SO_RCVTIMEO = 20, SO_BINDTODEVICE = 25;
const IP_MTU_DISCOVER = 10, IP_MULTICAST_IF = 32, IP_MULTICAST_TTL = 33, IP_MULTICAST_LOOP = 34, IP_ADD_MEMBERSHIP = 35;
const IPV6_MULTICAST_IF = 17, IPV6_MULTICAST_HOPS = 18, IPV6_MULTICAST_LOOP = 19, IPV6_ADD_MEMBERSHIP = 20, IPV6_MTU_DISCOVER = 23;
const PMTUDISC_DONT = 0;
const MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40;
const SHUT_RDWR = 2;
const EINVAL = 22, ENODEV = 19, EAGAIN = 11, EINTR = 4;

interface AsyncFn { async(...args: unknown[]): void }
interface Libc {
  socket(domain: number, type: number, proto: number): number;
  setsockopt(fd: number, level: number, name: number, val: Uint8Array, len: number): number;
  bind(fd: number, sa: Uint8Array, len: number): number;
  connect(fd: number, sa: Uint8Array, len: number): number;
  getsockname(fd: number, sa: Uint8Array, len: number[]): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number;
  recv(fd: number, buf: Uint8Array, len: number, flags: number): number;
  recvfrom: ((fd: number, buf: number, len: number, flags: number, sa: number, salen: number) => number) & AsyncFn;
  shutdown(fd: number, how: number): number;
  close(fd: number): number;
  if_nametoindex(name: string): number;
  strerror(e: number): string;
}

let libc: Libc | null = null;
function lib(): Libc {
  if (libc) return libc;
  const l = koffi.load('libc.so.6');
  libc = {
    socket: l.func('int socket(int, int, int)'),
    setsockopt: l.func('int setsockopt(int, int, int, const void *, uint32_t)'),
    bind: l.func('int bind(int, const void *, uint32_t)'),
    connect: l.func('int connect(int, const void *, uint32_t)'),
    getsockname: l.func('int getsockname(int, _Out_ void *, _Inout_ uint32_t *)'),
    send: l.func('long send(int, const void *, size_t, int)'),
    recv: l.func('long recv(int, _Out_ void *, size_t, int)'),
    // raw addresses: the call runs on a pool thread, into memory of our own (koffi.alloc)
    recvfrom: l.func('long recvfrom(int, uintptr_t, size_t, int, uintptr_t, uintptr_t)'),
    shutdown: l.func('int shutdown(int, int)'),
    close: l.func('int close(int)'),
    if_nametoindex: l.func('unsigned int if_nametoindex(const char *)'),
    strerror: l.func('const char *strerror(int)'),
  } as unknown as Libc;
  return libc;
}

const errnoNames = new Map<number, string>();
for (const [k, v] of Object.entries(osConstants.errno)) if (!errnoNames.has(v)) errnoNames.set(v, k);

/** "no such device (ENODEV)" */
function describeErrno(e: number): string {
  let text = `errno ${e}`;
  try { text = lib().strerror(e); } catch { /* keep the number */ }
  text = text.charAt(0).toLowerCase() + text.slice(1);
  const name = errnoNames.get(e);
  return name ? `${text} (${name})` : text;
}

// ------------------------------------------------------------------ addresses

function parse4(s: string): Uint8Array | null {
  if (!isIPv4(s)) return null;
  return Uint8Array.from(s.split('.').map(Number));
}

function parse6(s: string): Uint8Array | null {
  if (!isIPv6(s) || s.includes('%')) return null;
  let text = s;
  const out = new Uint8Array(16);
  const dot = text.lastIndexOf(':');
  const tail4 = text.slice(dot + 1);
  const words: number[] = [];
  if (tail4.includes('.')) {
    const b = parse4(tail4);
    if (!b) return null;
    text = text.slice(0, dot + 1) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':').map((w) => parseInt(w, 16)) : [];
  const t = rest !== undefined && rest !== '' ? rest.split(':').map((w) => parseInt(w, 16)) : [];
  words.push(...h, ...new Array<number>(rest === undefined ? 0 : 8 - h.length - t.length).fill(0), ...t);
  if (words.length !== 8) return null;
  words.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 0xff; });
  return out;
}

/** Canonical text of the address at `off`: 4 bytes (IPv4) or 16 (IPv6, RFC 5952; an IPv4-mapped one as ::ffff:a.b.c.d). */
function format4(b: Uint8Array, off = 0): string { return addrFromBytes(b.subarray(off, off + 4)); }

function format6(b: Uint8Array, off = 0): string {
  const a = b.subarray(off, off + 16);
  const mapped = a.subarray(0, 10).every((x) => x === 0) && a[10] === 0xff && a[11] === 0xff;
  return mapped ? `::ffff:${format4(a, 12)}` : addrFromBytes(a);
}

function sockaddr(family: number, addr: Uint8Array, port: number): Uint8Array {
  const b = Buffer.alloc(family === AF_INET ? 16 : 28);
  b.writeUInt16LE(family, 0);
  b.writeUInt16BE(port, 2);
  b.set(addr, family === AF_INET ? 4 : 8);
  return b;
}

function parseSockaddr(b: Uint8Array): { address: string; port: number } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const family = dv.getUint16(0, true);
  const port = dv.getUint16(2, false);
  if (family === AF_INET) return { address: format4(b, 4), port };
  if (family === AF_INET6) {
    return { address: format6(b, 8), port }; // no %scope: the interface is known
  }
  return { address: '', port: 0 };
}

function intOpt(v: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v, 0);
  return b;
}

// ------------------------------------------------------------------ interfaces (rtnetlink)

const NLMSG_ERROR = 2, NLMSG_DONE = 3, RTM_NEWLINK = 16, RTM_GETLINK = 18, RTM_NEWADDR = 20, RTM_GETADDR = 22;
const NLM_F_REQUEST = 1, NLM_F_DUMP = 0x300;
const IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_FLAGS = 8, IFLA_MTU = 4;
const IFA_F_SECONDARY = 0x01, IFA_F_DADFAILED = 0x08, IFA_F_DEPRECATED = 0x20, IFA_F_TENTATIVE = 0x40;
const RT_SCOPE_UNIVERSE = 0, RT_SCOPE_LINK = 253;

/** One request, its replies (a dump until NLMSG_DONE), each message's bytes. Null on failure. */
function rtnl(type: number, flags: number, body: Uint8Array): Uint8Array[] | null {
  const L = lib();
  const fd = L.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return null;
  try {
    const tv = Buffer.alloc(16);
    tv.writeBigInt64LE(2n, 0); // never hang on a kernel that does not answer
    L.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
    const req = Buffer.alloc(16 + body.length);
    req.writeUInt32LE(req.length, 0);
    req.writeUInt16LE(type, 4);
    req.writeUInt16LE(NLM_F_REQUEST | flags, 6);
    req.writeUInt32LE(1, 8);
    req.set(body, 16);
    if (L.send(fd, req, req.length, 0) !== req.length) return null;
    const out: Uint8Array[] = [];
    const buf = Buffer.alloc(65536);
    for (;;) {
      const n = L.recv(fd, buf, buf.length, 0);
      if (n <= 0) return null;
      for (let o = 0; o + 16 <= n;) {
        const len = buf.readUInt32LE(o), t = buf.readUInt16LE(o + 4);
        if (len < 16 || o + len > n) return null;
        if (t === NLMSG_DONE) return out;
        if (t === NLMSG_ERROR) {
          if (buf.readInt32LE(o + 16) !== 0) return null;
          return out;
        }
        out.push(Uint8Array.prototype.slice.call(buf, o, o + len));
        o += (len + 3) & ~3;
      }
      if (!(flags & NLM_F_DUMP)) return out;
    }
  } finally {
    L.close(fd);
  }
}

/** The attributes of a netlink message after a fixed header of `hdr` bytes. */
function attrs(m: Uint8Array, hdr: number): Map<number, Uint8Array> {
  const r = new Map<number, Uint8Array>();
  const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
  for (let o = 16 + hdr; o + 4 <= m.length;) {
    const len = dv.getUint16(o, true), type = dv.getUint16(o + 2, true) & 0x3fff;
    if (len < 4 || o + len > m.length) break;
    if (!r.has(type)) r.set(type, m.subarray(o + 4, o + len));
    o += (len + 3) & ~3;
  }
  return r;
}

interface IfAddr { family: number; ifindex: number; flags: number; scope: number; addr: Uint8Array }

/** Every address of the namespace, in the kernel's order per interface. */
function addresses(): IfAddr[] {
  const r: IfAddr[] = [];
  for (const m of rtnl(RTM_GETADDR, NLM_F_DUMP, new Uint8Array(8)) ?? []) {
    const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
    if (dv.getUint16(4, true) !== RTM_NEWADDR) continue;
    const family = m[16]!, scope = m[19]!, ifindex = dv.getUint32(20, true);
    const a = attrs(m, 8);
    const fl = a.get(IFA_FLAGS);
    const flags = fl && fl.length >= 4 ? new DataView(fl.buffer, fl.byteOffset, 4).getUint32(0, true) : m[18]!;
    // IPv4: ifa_local (IFA_ADDRESS is the peer's on point-to-point links)
    const addr = family === AF_INET ? a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS) : a.get(IFA_ADDRESS);
    if (addr && addr.length === (family === AF_INET ? 4 : 16)) r.push({ family, ifindex, flags, scope, addr });
  }
  return r;
}

/** inet_select_addr's test for RT_SCOPE_UNIVERSE: a primary address of universe scope. */
const universe4 = (a: IfAddr) => a.family === AF_INET && !(a.flags & IFA_F_SECONDARY) && a.scope === RT_SCOPE_UNIVERSE;

/**
 * The interface's index and MTU, its primary IPv4 address — the first
 * non-secondary address of universe scope, the one inet_select_addr(dev, 0,
 * RT_SCOPE_UNIVERSE) picks — and an IPv6 address: the first usable global
 * one, else the link-local one. Null when there is no such interface.
 */
export function interfaceInfo(ifname: string): { ifindex: number; mtu: number; ipv4?: string; ipv6?: string } | null {
  const ifindex = lib().if_nametoindex(ifname);
  if (!ifindex) return null;
  const link = Buffer.alloc(16);
  link.writeInt32LE(ifindex, 4);
  let mtu = 0;
  for (const m of rtnl(RTM_GETLINK, 0, link) ?? []) {
    if (new DataView(m.buffer, m.byteOffset).getUint16(4, true) !== RTM_NEWLINK) continue;
    const a = attrs(m, 16).get(IFLA_MTU);
    if (a && a.length >= 4) mtu = new DataView(a.buffer, a.byteOffset, 4).getUint32(0, true);
  }
  const info: { ifindex: number; mtu: number; ipv4?: string; ipv6?: string } = { ifindex, mtu };
  const mine = addresses().filter((a) => a.ifindex === ifindex);
  const v4 = mine.find(universe4);
  if (v4) info.ipv4 = format4(v4.addr);
  const usable6 = mine.filter((a) => a.family === AF_INET6 && !(a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)));
  const v6 = usable6.find((a) => a.scope === RT_SCOPE_UNIVERSE && !(a.flags & IFA_F_DEPRECATED))
    ?? usable6.find((a) => a.scope === RT_SCOPE_LINK);
  if (v6) info.ipv6 = format6(v6.addr);
  return info;
}

/**
 * The IPv4 source the kernel's master binds to: inet_select_addr(dev, 0,
 * RT_SCOPE_UNIVERSE) — the device's primary universe-scope address, else the
 * first such address of another interface of the namespace (taken here in
 * ifindex order, the kernel's device-list order as long as no device was
 * moved in; VRFs are not looked at), else none (0.0.0.0, and the warning).
 */
function masterSource4(ifindex: number): string | undefined {
  const all = addresses().filter(universe4);
  const own = all.find((a) => a.ifindex === ifindex);
  const other = all.filter((a) => a.ifindex !== ifindex).sort((x, y) => x.ifindex - y.ifindex)[0];
  const pick = own ?? other;
  return pick ? format4(pick.addr) : undefined;
}

// ------------------------------------------------------------------ opening

interface Opened { fd: number; family: number; group: Uint8Array; ifindex: number }

function checkOptions(role: string, o: SyncSocketOptions): SyncSocketError | null {
  const bad = (d: string) => new SyncSocketError(role, o.ifname, '', EINVAL, d);
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) return bad(`invalid port ${o.port}`);
  if (role === 'master' && (!Number.isInteger(o.ttl) || o.ttl < 1 || o.ttl > 255)) return bad(`invalid TTL ${o.ttl} (1..255)`);
  if (!Number.isInteger(o.sockSize) || o.sockSize < 0) return bad(`invalid socket buffer size ${o.sockSize}`);
  return null;
}

/** Socket of the group's family, for an existing interface; on error nothing is left open. */
function openCommon(role: string, o: SyncSocketOptions): SocketResult<Opened> {
  const L = lib();
  const bad = checkOptions(role, o);
  if (bad) return { ok: false, error: bad };
  const g4 = parse4(o.group), g6 = g4 ? null : parse6(o.group);
  if (!(g4 && (g4[0]! & 0xf0) === 0xe0) && !(g6 && g6[0] === 0xff)) {
    return { ok: false, error: new SyncSocketError(role, o.ifname, '', EINVAL, `${o.group} is not an IPv4 or IPv6 multicast group`) };
  }
  const ifindex = L.if_nametoindex(o.ifname);
  if (!ifindex) {
    const e = koffi.errno() || ENODEV;
    return { ok: false, error: new SyncSocketError(role, o.ifname, 'if_nametoindex', e) };
  }
  const family = g4 ? AF_INET : AF_INET6;
  const fd = L.socket(family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return { ok: false, error: new SyncSocketError(role, o.ifname, 'socket', koffi.errno()) };
  return { ok: true, value: { fd, family, group: (g4 ?? g6)!, ifindex } };
}

/** Runs the steps in order; the first failure closes fd and becomes the error. */
function steps(role: string, ifname: string, fd: number, list: Array<[string, () => number]>): SyncSocketError | null {
  for (const [what, call] of list) {
    if (call() < 0) {
      const e = koffi.errno();
      lib().close(fd);
      return new SyncSocketError(role, ifname, what, e);
    }
  }
  return null;
}

/** The master's socket (sync.md §1 "Master socket"). */
export function openMaster(o: SyncSocketOptions): SocketResult<MasterSocket> {
  const c = openCommon('master', o);
  if (!c.ok) return c;
  const L = lib();
  const { fd, family, group, ifindex } = c.value;
  const v4 = family === AF_INET;
  let warning: string | undefined;
  const list: Array<[string, () => number]> = [];
  if (v4) {
    const mreqn = Buffer.alloc(12);
    mreqn.writeInt32LE(ifindex, 8);
    list.push(
      ['setsockopt(IP_MULTICAST_IF)', () => L.setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, mreqn, 12)],
      ['setsockopt(IP_MULTICAST_LOOP)', () => L.setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, intOpt(0), 4)],
      ['setsockopt(IP_MULTICAST_TTL)', () => L.setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, intOpt(o.ttl), 4)],
      ['setsockopt(IP_MTU_DISCOVER)', () => L.setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, intOpt(PMTUDISC_DONT), 4)],
    );
  } else {
    list.push(
      ['setsockopt(IPV6_MULTICAST_IF)', () => L.setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, intOpt(ifindex), 4)],
      ['setsockopt(IPV6_MULTICAST_LOOP)', () => L.setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, intOpt(0), 4)],
      ['setsockopt(IPV6_MULTICAST_HOPS)', () => L.setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, intOpt(o.ttl), 4)],
      ['setsockopt(IPV6_MTU_DISCOVER)', () => L.setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, intOpt(PMTUDISC_DONT), 4)],
    );
  }
  if (o.sockSize > 0) list.push(['setsockopt(SO_SNDBUF)', () => L.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, intOpt(o.sockSize), 4)]);
  if (v4) {
    list.push(['bind', () => {
      const src = masterSource4(ifindex);
      if (!src) warning = NO_ADDR_WARNING;
      return L.bind(fd, sockaddr(AF_INET, parse4(src ?? '0.0.0.0')!, 0), 16);
    }]);
  }
  list.push(['connect', () => L.connect(fd, sockaddr(family, group, o.port), v4 ? 16 : 28)]);
  const err = steps('master', o.ifname, fd, list);
  if (err) return { ok: false, error: err };

  const sa = Buffer.alloc(28);
  const len = [28];
  const local = L.getsockname(fd, sa, len) === 0 ? parseSockaddr(sa) : { address: '', port: 0 };
  let open = true;
  const sock: MasterSocket = {
    send(msg) {
      if (!open) return { ok: false, again: false, errno: 9 /* EBADF */ };
      const n = L.send(fd, msg, msg.length, MSG_DONTWAIT);
      if (n === msg.length) return { ok: true };
      const e = n < 0 ? koffi.errno() : 90 /* EMSGSIZE: cut short */;
      return { ok: false, again: e === EAGAIN, errno: e };
    },
    localAddress: local.address,
    localPort: local.port,
    close() {
      if (!open) return;
      open = false;
      L.close(fd);
    },
  };
  if (warning) Object.defineProperty(sock, 'warning', { value: warning, enumerable: true });
  return { ok: true, value: sock };
}

/**
 * The backup's socket (sync.md §1 "Backup socket"): each datagram goes to
 * onMessage, at most maxlen bytes of it (a longer one is cut to exactly maxlen
 * and counted in `truncated`), with the sender's address; receive errors go
 * to onError and receiving goes on.
 */
export function openBackup(
  o: SyncSocketOptions & { maxlen: number },
  onMessage: (msg: Uint8Array, from: string) => void,
  onError: (e: SyncSocketError) => void,
): SocketResult<BackupSocket> {
  if (!Number.isInteger(o.maxlen) || o.maxlen < 1 || o.maxlen > 65535) {
    return { ok: false, error: new SyncSocketError('backup', o.ifname, '', EINVAL, `invalid maxlen ${o.maxlen}`) };
  }
  const c = openCommon('backup', o);
  if (!c.ok) return c;
  const L = lib();
  const { fd, family, group, ifindex } = c.value;
  const v4 = family === AF_INET;
  const list: Array<[string, () => number]> = [
    ['setsockopt(SO_REUSEADDR)', () => L.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, intOpt(1), 4)],
  ];
  if (o.sockSize > 0) list.push(['setsockopt(SO_RCVBUF)', () => L.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, intOpt(o.sockSize), 4)]);
  const name = Buffer.from(o.ifname + '\0');
  list.push(
    ['setsockopt(SO_BINDTODEVICE)', () => L.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, name.length)],
    ['bind', () => L.bind(fd, sockaddr(family, group, o.port), v4 ? 16 : 28)],
  );
  if (v4) {
    const mreqn = Buffer.alloc(12);
    mreqn.set(group, 0);
    mreqn.writeInt32LE(ifindex, 8);
    list.push(['setsockopt(IP_ADD_MEMBERSHIP)', () => L.setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, mreqn, 12)]);
  } else {
    const mreq = Buffer.alloc(20);
    mreq.set(group, 0);
    mreq.writeInt32LE(ifindex, 16);
    list.push(['setsockopt(IPV6_JOIN_GROUP)', () => L.setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, mreq, 20)]);
  }
  const err = steps('backup', o.ifname, fd, list);
  if (err) return { ok: false, error: err };

  // memory the pool thread writes into: [data maxlen][pad][sockaddr 28][socklen 4]
  const maxlen = o.maxlen;
  const saOff = (maxlen + 7) & ~7, lenOff = saOff + 28, size = lenOff + 4;
  const mem = koffi.alloc('uint8_t', size);
  const base = Number(koffi.address(mem));
  const view = new Uint8Array(koffi.view(mem, size));
  const dv = new DataView(view.buffer, view.byteOffset, size);

  let closing = false, closed = false, retry: NodeJS.Timeout | null = null;
  let received = 0, truncated = 0;
  const release = () => {
    if (closed) return;
    closed = true;
    L.close(fd);
    koffi.free(mem);
  };
  const issue = () => {
    retry = null;
    dv.setUint32(lenOff, 28, true);
    L.recvfrom.async(fd, base, maxlen, MSG_TRUNC, base + saOff, base + lenOff, done);
  };
  const done = (err: unknown, n: number) => {
    if (closing) { release(); return; }
    if (err || n < 0) {
      const e = err ? EINVAL : koffi.errno();
      if (e === EINTR || e === EAGAIN) { issue(); return; }
      retry = setTimeout(issue, 100); // no busy loop on a lasting error
      onError(new SyncSocketError('backup', o.ifname, 'recvfrom', e, err ? String(err) : undefined));
      return;
    }
    // n is the datagram's real length (MSG_TRUNC); only maxlen bytes were stored
    const msg = view.slice(0, Math.min(n, maxlen));
    const from = parseSockaddr(view.subarray(saOff, saOff + 28)).address;
    received++;
    if (n > maxlen) truncated++;
    issue();
    onMessage(msg, from);
  };
  issue();

  return {
    ok: true,
    value: {
      close() {
        if (closing) return;
        closing = true;
        if (retry) { clearTimeout(retry); retry = null; release(); return; }
        // wakes the pending recvfrom (it returns 0); done() then closes the fd
        L.shutdown(fd, SHUT_RDWR);
      },
      get received() { return received; },
      get truncated() { return truncated; },
    },
  };
}

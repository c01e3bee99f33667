// The system side of VRRP failover (spec keepalived.md §5): the per-interface
// VRRP channel (receive every advert, send ours), the VIPs (rtnetlink), the
// gratuitous ARP / unsolicited neighbour advertisement bursts (AF_PACKET), the
// link state the FAULT logic watches, and keepalived's use_vmac macvlan.
// Everything goes through libc via koffi; nothing here throws: every failure
// is a NetResult with the errno and the call that failed.
//
// Receiving — why this way:
// * AF_PACKET, SOCK_DGRAM (cooked: the data starts at the network header),
//   bound to the interface and to ETH_P_IP / ETH_P_IPV6, with a classic BPF
//   filter that keeps IP protocol 112 (and AH carrying 112) / IPv6 next header
//   112. It gives the whole IP header for both families (IPv6 raw sockets hide
//   theirs, and keepalived checks the hop limit and the destination), sees
//   multicast and unicast alike, and says which packets are our own
//   (PACKET_IGNORE_OUTGOING, and sll_pkttype checked in case the kernel lacks
//   it). The multicast MAC is accepted because the channel's sending socket
//   joins the group on the interface (IGMP/MLD reports go out, as keepalived's
//   own socket does; MLD-snooping switches need them for ff02::12).
// * Event-driven: one poll() over every open channel's socket plus an eventfd,
//   run by koffi's `.async()` on libuv's thread pool; when it returns the
//   readable sockets are drained on the main thread (recvfrom MSG_DONTWAIT)
//   and the poll is issued again. A packet reaches onPacket ~0.1 ms after it
//   was sent (median on a veth pair, test/vrrp-net.test.ts). Node cannot watch a foreign fd itself (net.Socket
//   refuses packet sockets), and a timer-driven poll would cost latency or
//   wake-ups. One shared poll (not a blocked recv per channel) keeps it to a
//   single pool thread whatever the number of channels, so the pool (4 threads
//   by default: fs, dns, crypto, the sync daemon's receiver) is not starved.
//   Opening/closing a channel writes the eventfd so the poll is rebuilt; the
//   socket is closed only after the poll that watched it has returned. With no
//   channel open no poll is pending and the eventfd is closed: nothing keeps
//   the process alive. The cost: one pool thread stays busy while any channel
//   is open, and each re-issued poll needs a free pool thread — a pool kept
//   full by other work (UV_THREADPOOL_SIZE) would delay reception.
//
// Sending: IPv4 through a raw IPPROTO_VRRP socket with IP_HDRINCL (the
// caller's header, keepalived's IP ID), IPv6 through a raw IPPROTO_VRRP socket
// with sendmsg()+IPV6_PKTINFO (the source is chosen per call, the kernel never
// computes the checksum: IPV6_CHECKSUM off). Both sockets carry a drop-all
// socket filter: they exist to send and to hold the group membership, and
// would otherwise queue a copy of every VRRP packet nobody reads (keepalived
// does the same on its send sockets).
//
// Not done: the receive filter does not walk IPv6 extension headers (VRRP
// right after the IPv6 header only, as every implementation sends it); the
// VIPs carry no IFA_PROTO (keepalived's "proto keepalived", kernel 5.18+);
// createVmac does not set keepalived's sysctls on the base and VMAC
// interfaces (arp_ignore, arp_filter, accept_local, rp_filter…) nor its
// IPv6 VMAC link-local address handling.

import koffi from 'koffi';
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { inetChecksum, ipToString, parseIp4, parseIp6, sameBytes } from './vrrp-packet.js';

// ------------------------------------------------------------------ API types

/** A result or why not: nothing in this module throws. */
export type NetResult<T> = { ok: true; value: T } | { ok: false; error: NetError };

/** A failed system call or a refused argument, with a message an operator understands. */
export class NetError extends Error {
  /** errno of the failed call (19 = ENODEV, …); EINVAL for bad arguments. */
  readonly errno: number;
  /** The call or step that failed, e.g. `setsockopt(IP_HDRINCL)`; '' for a bad argument. */
  readonly what: string;
  /** e.g. `new NetError('vrrp socket on eth1', 'if_nametoindex', 19)` → "vrrp socket on eth1: No such device [if_nametoindex]" */
  constructor(context: string, what: string, errno: number, detail?: string) {
    super(`${context}: ${detail ?? strerror(errno)}${what ? ` [${what}]` : ''}`);
    this.name = 'NetError';
    this.errno = errno;
    this.what = what;
  }
}

export interface LinkInfo {
  ifindex: number;
  mac: Uint8Array;
  mtu: number;
  /** IFF_UP and IFF_RUNNING (carrier): keepalived's notion of the interface being up */
  up: boolean;
  /** primary address first (as the kernel orders them), no prefix */
  ipv4: string[];
  /** global ones (scope universe), usable ones only (not tentative, not DAD-failed) */
  ipv6: string[];
  /** fe80::… without scope; absent while it is tentative (cannot be sent from) */
  ipv6LinkLocal?: string;
  /** The raw ifi_flags (IFF_*), for callers wanting more than `up` (optional so fakes need not set it; linkInfo always does). */
  flags?: number;
}

export interface VrrpRxPacket {
  /** whole IP packet, IPv4 or IPv6 header included */
  data: Uint8Array;
  ifindex: number;
}

export interface VrrpChannel {
  /** IPv4: a whole datagram built by the caller, sent as is (IP_HDRINCL); destination from the header. */
  send4(datagram: Uint8Array): NetResult<void>;
  /** IPv6: the VRRP message (checksum computed by the caller), hop limit 255, traffic class 0xc0, from src to dst. */
  send6(vrrp: Uint8Array, src: string, dst: string): NetResult<void>;
  /** Idempotent; the sockets are released once the pending poll has returned (microseconds). */
  close(): void;
  /** Packets handed to onPacket, and packets dropped because they were our own (old kernels only); optional so fakes need not have it. */
  readonly stats?: { readonly received: number; readonly own: number };
}

// ------------------------------------------------------------------ libc

const AF_UNSPEC = 0, AF_INET = 2, AF_INET6 = 10, AF_NETLINK = 16, AF_PACKET = 17;
const SOCK_DGRAM = 2, SOCK_RAW = 3, SOCK_CLOEXEC = 0o2000000, SOCK_NONBLOCK = 0o4000;
const IPPROTO_IP = 0, IPPROTO_IPV6 = 41, IPPROTO_VRRP = 112;
const SOL_SOCKET = 1, SO_RCVTIMEO = 20, SO_BINDTODEVICE = 25, SO_ATTACH_FILTER = 26;
const IP_TOS = 1, IP_HDRINCL = 3, IP_MULTICAST_ALL = 49, IP_MULTICAST_IF = 32, IP_MULTICAST_LOOP = 34, IP_ADD_MEMBERSHIP = 35;
const IPV6_CHECKSUM = 7, IPV6_UNICAST_HOPS = 16, IPV6_MULTICAST_IF = 17, IPV6_MULTICAST_HOPS = 18;
const IPV6_MULTICAST_LOOP = 19, IPV6_ADD_MEMBERSHIP = 20, IPV6_MULTICAST_ALL = 29, IPV6_PKTINFO = 50, IPV6_TCLASS = 67;
const SOL_PACKET = 263, PACKET_IGNORE_OUTGOING = 23;
const PACKET_OUTGOING = 4, PACKET_LOOPBACK = 5;
const ETH_P_IP = 0x0800, ETH_P_ARP = 0x0806, ETH_P_IPV6 = 0x86dd;
const POLLIN = 1, POLLNVAL = 0x20; // POLLERR/POLLHUP: the recvfrom that follows reads and reports the error
const MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40;
const EFD_CLOEXEC = 0o2000000, EFD_NONBLOCK = 0o4000;
const EPERM = 1, EINTR = 4, EBADF = 9, EAGAIN = 11, ENODEV = 19, EINVAL = 22, EMSGSIZE = 90;
const EEXIST = 17, EADDRNOTAVAIL = 99, ENOSYS = 38;

interface AsyncFn { async(...args: unknown[]): void }
interface Libc {
  socket(domain: number, type: number, proto: number): number;
  setsockopt(fd: number, level: number, name: number, val: Uint8Array, len: number): number;
  bind(fd: number, sa: Uint8Array, len: number): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number;
  sendto(fd: number, buf: Uint8Array, len: number, flags: number, sa: Uint8Array, salen: number): number;
  sendmsg(fd: number, msg: number, flags: number): number;
  recv(fd: number, buf: Uint8Array, len: number, flags: number): number;
  recvfrom(fd: number, buf: Uint8Array, len: number, flags: number, sa: Uint8Array, salen: Uint8Array): number;
  poll: ((fds: number, n: number, timeout: number) => number) & AsyncFn;
  eventfd(init: number, flags: number): number;
  write(fd: number, buf: Uint8Array, len: number): number;
  read(fd: number, buf: Uint8Array, len: number): number;
  close(fd: number): number;
  if_nametoindex(name: string): number;
  strerror(e: number): string;
}

let libc: Libc | null = null;
let libcError: string | null = null;
function lib(): Libc | null {
  if (libc || libcError) return libc;
  try {
    const l = koffi.load('libc.so.6');
    libc = {
      socket: l.func('int socket(int, int, int)'),
      setsockopt: l.func('int setsockopt(int, int, int, const void *, uint32_t)'),
      bind: l.func('int bind(int, const void *, uint32_t)'),
      send: l.func('long send(int, const void *, size_t, int)'),
      sendto: l.func('long sendto(int, const void *, size_t, int, const void *, uint32_t)'),
      sendmsg: l.func('long sendmsg(int, uintptr_t, int)'),
      recv: l.func('long recv(int, _Out_ void *, size_t, int)'),
      recvfrom: l.func('long recvfrom(int, _Out_ void *, size_t, int, _Out_ void *, _Inout_ void *)'),
      // raw address: the call runs on a pool thread over memory of our own (koffi.alloc)
      poll: l.func('int poll(uintptr_t, uint64_t, int)'),
      eventfd: l.func('int eventfd(unsigned int, int)'),
      write: l.func('long write(int, const void *, size_t)'),
      read: l.func('long read(int, _Out_ void *, size_t)'),
      close: l.func('int close(int)'),
      if_nametoindex: l.func('unsigned int if_nametoindex(const char *)'),
      strerror: l.func('const char *strerror(int)'),
    } as unknown as Libc;
  } catch (e) {
    libcError = (e as Error).message;
  }
  return libc;
}

const errnoNames = new Map<number, string>();
for (const [k, v] of Object.entries(osConstants.errno)) if (!errnoNames.has(v)) errnoNames.set(v, k);

/** "No such device (ENODEV)"; EPERM says what is missing. */
function strerror(e: number): string {
  let text = `errno ${e}`;
  try { text = lib()?.strerror(e) ?? text; } catch { /* keep the number */ }
  const name = errnoNames.get(e);
  if (name) text += ` (${name})`;
  if (e === EPERM) text += ': needs root or CAP_NET_RAW / CAP_NET_ADMIN';
  return text;
}

const fail = <T>(context: string, what: string, errno: number, detail?: string): NetResult<T> =>
  ({ ok: false, error: new NetError(context, what, errno, detail) });

const noLibc = <T>(context: string): NetResult<T> => fail(context, 'dlopen(libc.so.6)', ENOSYS, `cannot load libc: ${libcError}`);

function intOpt(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}

const DROP_ALL: readonly BpfInsn[] = [[0x06, 0, 0, 0]];

/** Interface index, or the errno (ENODEV for an unknown or malformed name). */
function ifindexOf(L: Libc, ifname: string): { index: number } | { errno: number } {
  if (typeof ifname !== 'string' || ifname.length === 0 || ifname.length > 15 || ifname.includes('\0') || ifname.includes('/')) {
    return { errno: ENODEV };
  }
  const i = L.if_nametoindex(ifname);
  return i ? { index: i } : { errno: koffi.errno() || ENODEV };
}

/** Runs the steps in order; the first failure closes every fd given and becomes the error. */
function steps(context: string, fds: number[], list: Array<[string, () => number]>): NetError | null {
  for (const [what, call] of list) {
    if (call() < 0) {
      const e = koffi.errno();
      for (const fd of fds) lib()!.close(fd);
      return new NetError(context, what, e);
    }
  }
  return null;
}

// ------------------------------------------------------------------ addresses

// vrrp-packet's parsers, guarded for callers without types (a plugin's JS) and, for IPv6, against a %scope
const parse4 = (s: string): Uint8Array | null => (typeof s === 'string' ? parseIp4(s) : null);
const parse6 = (s: string): Uint8Array | null => (typeof s === 'string' && !s.includes('%') ? parseIp6(s) : null);

function sockaddrIn(addr: Uint8Array): Uint8Array {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setUint16(0, AF_INET, true);
  b.set(addr, 4);
  return b;
}

function sockaddrIn6(addr: Uint8Array, scope: number): Uint8Array {
  const b = new Uint8Array(28);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_INET6, true);
  b.set(addr, 8);
  dv.setUint32(24, scope, true);
  return b;
}

/** struct sockaddr_ll (20 bytes). */
function sockaddrLl(ifindex: number, proto: number, mac?: Uint8Array): Uint8Array {
  const b = new Uint8Array(20);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_PACKET, true);
  dv.setUint16(2, proto, false);
  dv.setInt32(4, ifindex, true);
  if (mac) { b[11] = mac.length; b.set(mac.subarray(0, 8), 12); }
  return b;
}

// ------------------------------------------------------------------ classic BPF

/** [code, jt, jf, k] */
type BpfInsn = readonly [number, number, number, number];
const BPF_LD_B_ABS = 0x30, BPF_LD_B_IND = 0x50, BPF_LDX_B_MSH = 0xb1, BPF_JEQ_K = 0x15, BPF_RET_K = 0x06;

/** IPv4 packets of protocol 112, or AH (51) whose next header is 112 (keepalived's auth_type AH). Offsets from the IP header (SOCK_DGRAM). */
export const VRRP4_FILTER: readonly BpfInsn[] = [
  [BPF_LD_B_ABS, 0, 0, 9], //          0: A = protocol
  [BPF_JEQ_K, 4, 0, 112], //           1: VRRP → accept (jumps count from the next instruction)
  [BPF_JEQ_K, 0, 4, 51], //            2: not AH → reject
  [BPF_LDX_B_MSH, 0, 0, 0], //         3: X = IHL * 4
  [BPF_LD_B_IND, 0, 0, 0], //          4: A = AH next header
  [BPF_JEQ_K, 0, 1, 112], //           5: VRRP behind AH → accept
  [BPF_RET_K, 0, 0, 0x40000], //       6: accept (whole packet)
  [BPF_RET_K, 0, 0, 0], //             7: reject
];

/** IPv6 packets whose next header is 112. */
export const VRRP6_FILTER: readonly BpfInsn[] = [
  [BPF_LD_B_ABS, 0, 0, 6],
  [BPF_JEQ_K, 0, 1, 112],
  [BPF_RET_K, 0, 0, 0x40000],
  [BPF_RET_K, 0, 0, 0],
];

/** SO_ATTACH_FILTER: the sock_fprog points at the instructions, so both live in koffi memory for the call. */
function attachFilter(fd: number, prog: readonly BpfInsn[]): number {
  const L = lib()!;
  const n = prog.length;
  const mem = koffi.alloc('uint8_t', 16 + 8 * n);
  try {
    const base = BigInt(koffi.address(mem));
    const view = new DataView(koffi.view(mem, 16 + 8 * n));
    view.setUint16(0, n, true);
    view.setBigUint64(8, base + 16n, true);
    prog.forEach(([code, jt, jf, k], i) => {
      view.setUint16(16 + 8 * i, code, true);
      view.setUint8(16 + 8 * i + 2, jt);
      view.setUint8(16 + 8 * i + 3, jf);
      view.setUint32(16 + 8 * i + 4, k, true);
    });
    return L.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, new Uint8Array(view.buffer, view.byteOffset, 16), 16);
  } finally {
    koffi.free(mem);
  }
}

// ------------------------------------------------------------------ the shared poller

interface Watched {
  fd: number;
  /** Called on the main thread when poll() said the fd is readable (or in error). */
  onReady(revents: number): void;
}

/**
 * One poll() on the thread pool over every watched fd plus an eventfd that
 * wakes it when the set changes. Unwatching is asynchronous: the callback runs
 * once no poll on the fd is pending, so the fd is never closed under a poll.
 */
class Poller {
  private readonly watched = new Map<number, Watched>();
  private readonly released: Array<() => void> = [];
  private efd = -1;
  private mem: unknown = null;
  private memSlots = 0;
  private pending = false;
  private retry: NodeJS.Timeout | null = null;
  private dispatching = false;
  private polled: number[] = [];

  watch(w: Watched): NetError | null {
    const L = lib()!;
    if (this.efd < 0) {
      this.efd = L.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (this.efd < 0) return new NetError('vrrp receive poller', 'eventfd', koffi.errno());
    }
    this.watched.set(w.fd, w);
    this.kick();
    return null;
  }

  /** Stops watching fd; `then` runs when no pending poll uses it (at once if none). */
  unwatch(fd: number, then: () => void): void {
    this.watched.delete(fd);
    if (this.pending) { this.released.push(then); this.wake(); return; }
    then();
    if (!this.dispatching) this.maybeStop();
  }

  private wake(): void {
    const one = new Uint8Array(8);
    one[0] = 1;
    lib()!.write(this.efd, one, 8);
  }

  /** (Re)starts the poll if it is not running, else makes the running one return. */
  private kick(): void {
    if (this.pending) this.wake();
    // while dispatching (or waiting to retry) the poll is re-armed afterwards with the new set
    else if (!this.retry && !this.dispatching) this.arm();
  }

  private arm(): void {
    this.retry = null;
    if (this.watched.size === 0) { this.maybeStop(); return; }
    const L = lib()!;
    const n = this.watched.size + 1;
    if (n > this.memSlots) {
      if (this.mem) koffi.free(this.mem);
      this.memSlots = Math.max(8, n * 2);
      this.mem = koffi.alloc('uint8_t', 8 * this.memSlots);
    }
    const dv = new DataView(koffi.view(this.mem, 8 * this.memSlots));
    this.polled = [this.efd, ...this.watched.keys()];
    this.polled.forEach((fd, i) => {
      dv.setInt32(8 * i, fd, true);
      dv.setInt16(8 * i + 4, POLLIN, true);
      dv.setInt16(8 * i + 6, 0, true);
    });
    this.pending = true;
    L.poll.async(Number(koffi.address(this.mem)), n, -1, (err: unknown, r: number) => this.done(err, r, dv));
  }

  private done(err: unknown, r: number, dv: DataView): void {
    this.pending = false;
    const L = lib()!;
    // drain the eventfd (non-blocking)
    if (this.efd >= 0) { const b = new Uint8Array(8); L.read(this.efd, b, 8); }
    // read the results before any handler runs: a handler may open or close channels
    const ready: Array<[Watched, number]> = [];
    if (!err && r > 0) {
      for (let i = 1; i < this.polled.length; i++) {
        const revents = dv.getInt16(8 * i + 6, true);
        const w = this.watched.get(this.polled[i]!);
        if (revents && w) ready.push([w, revents]);
      }
    }
    for (const f of this.released.splice(0)) f();
    this.dispatching = true;
    try {
      // still the same watcher (not closed, its fd number not reused by a newer channel)
      for (const [w, revents] of ready) if (this.watched.get(w.fd) === w) w.onReady(revents);
    } finally {
      this.dispatching = false;
    }
    // poll() itself failing (EINTR) is simply repeated; a failure of the call
    // machinery is retried a little later rather than in a hot loop
    if (err) this.retry = setTimeout(() => this.arm(), 100);
    else this.arm();
  }

  private maybeStop(): void {
    if (this.pending || this.dispatching || this.watched.size > 0) return;
    if (this.retry) { clearTimeout(this.retry); this.retry = null; }
    if (this.efd >= 0) { lib()!.close(this.efd); this.efd = -1; }
    if (this.mem) { koffi.free(this.mem); this.mem = null; this.memSlots = 0; }
  }
}

const poller = new Poller();

// ------------------------------------------------------------------ the VRRP channel

const RX_BUF = 65536;

/**
 * One channel per (interface, family), shared by every VRRP instance on it
 * (see the header comment for how it receives and sends).
 */
export function openChannel(o: {
  ifname: string; family: 4 | 6; group?: string;
  onPacket(p: VrrpRxPacket): void; onError?(e: NetError): void;
}): NetResult<VrrpChannel> {
  const context = `vrrp socket on ${String(o?.ifname)}`;
  const L = lib();
  if (!L) return noLibc(context);
  if (!o || (o.family !== 4 && o.family !== 6)) return fail(context, '', EINVAL, `invalid address family ${String(o?.family)} (4 or 6)`);
  if (typeof o.onPacket !== 'function') return fail(context, '', EINVAL, 'onPacket is not a function');
  const v4 = o.family === 4;
  const groupText = o.group ?? (v4 ? '224.0.0.18' : 'ff02::12');
  const group = v4 ? parse4(groupText) : parse6(groupText);
  if (!group || !(v4 ? (group[0]! & 0xf0) === 0xe0 : group[0] === 0xff)) {
    return fail(context, '', EINVAL, `${groupText} is not an IPv${o.family} multicast group`);
  }
  const idx = ifindexOf(L, o.ifname);
  if ('errno' in idx) return fail(context, 'if_nametoindex', idx.errno);
  const ifindex = idx.index;

  // the sending socket: also holds the group membership
  const tx = L.socket(v4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_VRRP);
  if (tx < 0) return fail(context, 'socket(SOCK_RAW, 112)', koffi.errno());
  const name = new TextEncoder().encode(o.ifname + '\0');
  const txSteps: Array<[string, () => number]> = [
    ['setsockopt(SO_ATTACH_FILTER)', () => attachFilter(tx, DROP_ALL)],
    ['setsockopt(SO_BINDTODEVICE)', () => L.setsockopt(tx, SOL_SOCKET, SO_BINDTODEVICE, name, name.length)],
  ];
  if (v4) {
    const mreqn = new Uint8Array(12);
    new DataView(mreqn.buffer).setInt32(8, ifindex, true);
    const join = new Uint8Array(12);
    join.set(group, 0);
    new DataView(join.buffer).setInt32(8, ifindex, true);
    txSteps.push(
      ['setsockopt(IP_HDRINCL)', () => L.setsockopt(tx, IPPROTO_IP, IP_HDRINCL, intOpt(1), 4)],
      // as keepalived's send socket: the header's TOS is the caller's, this sets the socket's own
      ['setsockopt(IP_TOS)', () => L.setsockopt(tx, IPPROTO_IP, IP_TOS, intOpt(0xc0), 4)],
      ['setsockopt(IP_MULTICAST_ALL)', () => L.setsockopt(tx, IPPROTO_IP, IP_MULTICAST_ALL, intOpt(0), 4)],
      ['setsockopt(IP_MULTICAST_IF)', () => L.setsockopt(tx, IPPROTO_IP, IP_MULTICAST_IF, mreqn, 12)],
      ['setsockopt(IP_MULTICAST_LOOP)', () => L.setsockopt(tx, IPPROTO_IP, IP_MULTICAST_LOOP, intOpt(0), 4)],
      ['setsockopt(IP_ADD_MEMBERSHIP)', () => L.setsockopt(tx, IPPROTO_IP, IP_ADD_MEMBERSHIP, join, 12)],
    );
  } else {
    const join = new Uint8Array(20);
    join.set(group, 0);
    new DataView(join.buffer).setInt32(16, ifindex, true);
    txSteps.push(
      // keepalived lets the kernel compute the checksum (offset 6); here the caller has (same bytes)
      ['setsockopt(IPV6_CHECKSUM)', () => L.setsockopt(tx, IPPROTO_IPV6, IPV6_CHECKSUM, intOpt(-1), 4)],
      ['setsockopt(IPV6_MULTICAST_ALL)', () => L.setsockopt(tx, IPPROTO_IPV6, IPV6_MULTICAST_ALL, intOpt(0), 4)],
      ['setsockopt(IPV6_MULTICAST_IF)', () => L.setsockopt(tx, IPPROTO_IPV6, IPV6_MULTICAST_IF, intOpt(ifindex), 4)],
      ['setsockopt(IPV6_MULTICAST_HOPS)', () => L.setsockopt(tx, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, intOpt(255), 4)],
      ['setsockopt(IPV6_UNICAST_HOPS)', () => L.setsockopt(tx, IPPROTO_IPV6, IPV6_UNICAST_HOPS, intOpt(255), 4)],
      ['setsockopt(IPV6_TCLASS)', () => L.setsockopt(tx, IPPROTO_IPV6, IPV6_TCLASS, intOpt(0xc0), 4)],
      ['setsockopt(IPV6_MULTICAST_LOOP)', () => L.setsockopt(tx, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, intOpt(0), 4)],
      ['setsockopt(IPV6_JOIN_GROUP)', () => L.setsockopt(tx, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, join, 20)],
    );
  }
  let err = steps(context, [tx], txSteps);
  if (err) return { ok: false, error: err };

  // the receiving socket: protocol 0 until bound, so nothing is queued before the filter is on
  const rx = L.socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (rx < 0) { const e = koffi.errno(); L.close(tx); return fail(context, 'socket(AF_PACKET)', e); }
  err = steps(context, [tx, rx], [
    ['setsockopt(SO_ATTACH_FILTER)', () => attachFilter(rx, v4 ? VRRP4_FILTER : VRRP6_FILTER)],
    // kernels before 4.20 lack it: the pkttype check below does the same
    ['setsockopt(PACKET_IGNORE_OUTGOING)', () => { L.setsockopt(rx, SOL_PACKET, PACKET_IGNORE_OUTGOING, intOpt(1), 4); return 0; }],
    ['bind(AF_PACKET)', () => L.bind(rx, sockaddrLl(ifindex, v4 ? ETH_P_IP : ETH_P_IPV6), 20)],
  ]);
  if (err) return { ok: false, error: err };

  const buf = new Uint8Array(RX_BUF);
  const sll = new Uint8Array(20);
  const sllLen = new Uint8Array(4);
  const stats = { received: 0, own: 0 };
  let closed = false;

  const report = (e: NetError) => { try { o.onError?.(e); } catch { /* the caller's bug is not ours to crash on */ } };
  /** Reads everything queued; a bounded number per wake-up so one busy link cannot starve the others. */
  const drain = (revents: number) => {
    if (revents & POLLNVAL) {
      // cannot happen while the fd is ours; if it does, stop watching rather than spin
      poller.unwatch(rx, () => {});
      report(new NetError(context, 'poll', EBADF, 'receive socket no longer valid; reopen the channel'));
      return;
    }
    for (let i = 0; i < 256 && !closed; i++) {
      new DataView(sllLen.buffer).setUint32(0, 20, true);
      const n = L.recvfrom(rx, buf, RX_BUF, MSG_DONTWAIT | MSG_TRUNC, sll, sllLen);
      if (n < 0) {
        const e = koffi.errno();
        if (e === EAGAIN || e === EINTR) return;
        // e.g. ENETDOWN when the interface goes down (reported once by the kernel)
        report(new NetError(context, 'recvfrom', e));
        return;
      }
      const pkttype = sll[10]!;
      if (pkttype === PACKET_OUTGOING || pkttype === PACKET_LOOPBACK) { stats.own++; continue; }
      stats.received++;
      const data = buf.slice(0, Math.min(n, RX_BUF));
      const from = new DataView(sll.buffer).getInt32(4, true);
      try { o.onPacket({ data, ifindex: from }); } catch (e) {
        report(new NetError(context, 'onPacket', EINVAL, `onPacket threw: ${(e as Error)?.message ?? String(e)}`));
      }
    }
  };
  const perr = poller.watch({ fd: rx, onReady: drain });
  if (perr) { L.close(tx); L.close(rx); return { ok: false, error: perr }; }

  // IPv6 send memory: msghdr | iovec | sockaddr_in6 | cmsg(in6_pktinfo) | data
  let txMem: unknown = null;

  const channel: VrrpChannel = {
    send4(d: Uint8Array): NetResult<void> {
      if (closed) return fail(context, 'sendto', EBADF, 'channel is closed');
      if (!v4) return fail(context, '', EINVAL, 'send4 on an IPv6 channel');
      if (!(d instanceof Uint8Array) || d.length < 20 || d[0]! >> 4 !== 4 || (d[0]! & 15) * 4 > d.length) {
        return fail(context, '', EINVAL, 'not an IPv4 datagram');
      }
      if (d.length > 65535) return fail(context, 'sendto', EMSGSIZE);
      const n = L.sendto(tx, d, d.length, MSG_DONTWAIT, sockaddrIn(d.subarray(16, 20)), 16);
      if (n < 0) return fail(context, 'sendto', koffi.errno());
      return { ok: true, value: undefined };
    },
    send6(m: Uint8Array, src: string, dst: string): NetResult<void> {
      if (closed) return fail(context, 'sendmsg', EBADF, 'channel is closed');
      if (v4) return fail(context, '', EINVAL, 'send6 on an IPv4 channel');
      const s = parse6(src), d = parse6(dst);
      if (!s) return fail(context, '', EINVAL, `invalid IPv6 source ${String(src)}`);
      if (!d) return fail(context, '', EINVAL, `invalid IPv6 destination ${String(dst)}`);
      if (!(m instanceof Uint8Array) || m.length === 0 || m.length > 8192) return fail(context, '', EINVAL, 'invalid VRRP message');
      txMem ??= koffi.alloc('uint8_t', 256 + 8192);
      const base = BigInt(koffi.address(txMem));
      const view = new Uint8Array(koffi.view(txMem, 256 + 8192));
      const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
      view.fill(0, 0, 256);
      const MSG = 0, IOV = 56, NAME = 72, CMSG = 104, DATA = 256;
      // struct msghdr (LP64)
      dv.setBigUint64(MSG + 0, base + BigInt(NAME), true);
      dv.setUint32(MSG + 8, 28, true);
      dv.setBigUint64(MSG + 16, base + BigInt(IOV), true);
      dv.setBigUint64(MSG + 24, 1n, true);
      dv.setBigUint64(MSG + 32, base + BigInt(CMSG), true);
      dv.setBigUint64(MSG + 40, 40n, true);
      // struct iovec
      dv.setBigUint64(IOV, base + BigInt(DATA), true);
      dv.setBigUint64(IOV + 8, BigInt(m.length), true);
      view.set(sockaddrIn6(d, ifindex), NAME);
      // cmsghdr { len = CMSG_LEN(20) = 36, IPPROTO_IPV6, IPV6_PKTINFO } + in6_pktinfo { addr, ifindex }
      dv.setBigUint64(CMSG, 36n, true);
      dv.setInt32(CMSG + 8, IPPROTO_IPV6, true);
      dv.setInt32(CMSG + 12, IPV6_PKTINFO, true);
      view.set(s, CMSG + 16);
      dv.setUint32(CMSG + 32, ifindex, true);
      view.set(m, DATA);
      const n = L.sendmsg(tx, Number(base), MSG_DONTWAIT);
      if (n < 0) return fail(context, 'sendmsg', koffi.errno());
      return { ok: true, value: undefined };
    },
    close(): void {
      if (closed) return;
      closed = true;
      L.close(tx);
      if (txMem) { koffi.free(txMem); txMem = null; }
      poller.unwatch(rx, () => L.close(rx));
    },
    stats,
  };
  return { ok: true, value: channel };
}

// ------------------------------------------------------------------ rtnetlink

const NLMSG_ERROR = 2, NLMSG_DONE = 3;
const RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18, RTM_NEWADDR = 20, RTM_DELADDR = 21, RTM_GETADDR = 22;
const NLM_F_REQUEST = 1, NLM_F_ACK = 4, NLM_F_DUMP = 0x300, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400;
const IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_FLAGS = 8;
const IFA_F_NODAD = 0x02, IFA_F_DADFAILED = 0x08, IFA_F_TENTATIVE = 0x40;
const IFLA_ADDRESS = 1, IFLA_IFNAME = 3, IFLA_MTU = 4, IFLA_LINK = 5, IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1, IFLA_INFO_DATA = 2, IFLA_MACVLAN_MODE = 1, MACVLAN_MODE_PRIVATE = 1;
const IFF_UP = 0x1, IFF_RUNNING = 0x40, IFF_NOARP = 0x80;
const RT_SCOPE_UNIVERSE = 0, RT_SCOPE_LINK = 253;
const NLA_F_NESTED = 0x8000;
const SOL_NETLINK = 270, NETLINK_GET_STRICT_CHK = 12;

let nlSeq = 1;

/**
 * One request; its replies (a dump until NLMSG_DONE). errno ≠ 0: the kernel's
 * (or the socket's) error. `strict`: NETLINK_GET_STRICT_CHK, so the kernel
 * (4.20+) filters a dump by the header's ifindex — on a director with many
 * VIPs the address dump of one interface stays small; older kernels ignore
 * the option and the caller filters anyway.
 */
function rtnl(type: number, flags: number, body: Uint8Array, strict = false): { errno: number; msgs: Uint8Array[] } {
  const L = lib()!;
  const fd = L.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return { errno: koffi.errno(), msgs: [] };
  try {
    const tv = new Uint8Array(16);
    new DataView(tv.buffer).setBigInt64(0, 2n, true); // never hang on a kernel that does not answer
    L.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
    if (strict) L.setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, intOpt(1), 4);
    const seq = nlSeq++ & 0x7fffffff;
    const req = new Uint8Array(16 + body.length);
    const rdv = new DataView(req.buffer);
    rdv.setUint32(0, req.length, true);
    rdv.setUint16(4, type, true);
    rdv.setUint16(6, NLM_F_REQUEST | flags, true);
    rdv.setUint32(8, seq, true);
    req.set(body, 16);
    if (L.send(fd, req, req.length, 0) !== req.length) return { errno: koffi.errno() || EINVAL, msgs: [] };
    const out: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    const dv = new DataView(buf.buffer);
    for (;;) {
      const n = L.recv(fd, buf, buf.length, 0);
      if (n <= 0) return { errno: n < 0 ? koffi.errno() : EINVAL, msgs: out };
      for (let o = 0; o + 16 <= n;) {
        const len = dv.getUint32(o, true), t = dv.getUint16(o + 4, true);
        if (len < 16 || o + len > n) return { errno: EINVAL, msgs: out };
        if (dv.getUint32(o + 8, true) === seq) {
          if (t === NLMSG_DONE) return { errno: 0, msgs: out };
          if (t === NLMSG_ERROR) return { errno: -dv.getInt32(o + 16, true), msgs: out };
          out.push(buf.slice(o, o + len));
        }
        o += (len + 3) & ~3;
      }
      if (!(flags & NLM_F_DUMP) && !(flags & NLM_F_ACK)) return { errno: 0, msgs: out };
    }
  } finally {
    L.close(fd);
  }
}

/** The attributes of a netlink message after its fixed header of `hdr` bytes (or of a nested attribute: off = its payload). */
function attrs(m: Uint8Array, off: number): Map<number, Uint8Array> {
  const r = new Map<number, Uint8Array>();
  const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
  for (let o = off; o + 4 <= m.length;) {
    const len = dv.getUint16(o, true), type = dv.getUint16(o + 2, true) & 0x3fff;
    if (len < 4 || o + len > m.length) break;
    if (!r.has(type)) r.set(type, m.subarray(o + 4, o + len));
    o += (len + 3) & ~3;
  }
  return r;
}

/** A netlink attribute (padded to 4). */
function nla(type: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array((4 + payload.length + 3) & ~3);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, 4 + payload.length, true);
  dv.setUint16(2, type, true);
  b.set(payload, 4);
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

const u32 = (v: number) => intOpt(v);
const cstr = (s: string) => new TextEncoder().encode(s + '\0');

interface IfAddr { family: number; prefixLen: number; flags: number; scope: number; addr: Uint8Array }

/** The addresses of one interface, in the kernel's order. */
function addressesOf(ifindex: number): { errno: number; list: IfAddr[] } {
  const req = new Uint8Array(8);
  new DataView(req.buffer).setUint32(4, ifindex, true); // a filter with strict checking; filtered below as well
  const r = rtnl(RTM_GETADDR, NLM_F_DUMP, req, true);
  const list: IfAddr[] = [];
  for (const m of r.msgs) {
    const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
    if (dv.getUint16(4, true) !== RTM_NEWADDR || m.length < 24) continue;
    if (dv.getUint32(20, true) !== ifindex) continue;
    const family = m[16]!, prefixLen = m[17]!, scope = m[19]!;
    const a = attrs(m, 24);
    const fl = a.get(IFA_FLAGS);
    const flags = fl && fl.length >= 4 ? new DataView(fl.buffer, fl.byteOffset, 4).getUint32(0, true) : m[18]!;
    // IPv4: ifa_local (IFA_ADDRESS is the peer's on point-to-point links)
    const addr = family === AF_INET ? a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS) : a.get(IFA_ADDRESS) ?? a.get(IFA_LOCAL);
    if (addr && addr.length === (family === AF_INET ? 4 : 16)) list.push({ family, prefixLen, flags, scope, addr: addr.slice() });
  }
  return { errno: r.errno, list };
}

interface LinkMsg { flags: number; attrs: Map<number, Uint8Array> }

function getLink(ifindex: number): LinkMsg | null {
  const req = new Uint8Array(16);
  new DataView(req.buffer).setInt32(4, ifindex, true);
  const r = rtnl(RTM_GETLINK, 0, req);
  for (const m of r.msgs) {
    const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
    if (dv.getUint16(4, true) !== RTM_NEWLINK || m.length < 32) continue;
    return { flags: dv.getUint32(24, true), attrs: attrs(m, 32) };
  }
  return null;
}

/**
 * The interface as keepalived tracks it, or null when there is no such
 * interface (or netlink cannot be asked). Two netlink round trips (the link,
 * then the address dump), no /sys reads.
 */
export function linkInfo(ifname: string): LinkInfo | null {
  const L = lib();
  if (!L) return null;
  const idx = ifindexOf(L, ifname);
  if ('errno' in idx) return null;
  const link = getLink(idx.index);
  if (!link) return null;
  const mtuA = link.attrs.get(IFLA_MTU);
  const mtu = mtuA && mtuA.length >= 4 ? new DataView(mtuA.buffer, mtuA.byteOffset, 4).getUint32(0, true) : 0;
  const info: LinkInfo = {
    ifindex: idx.index,
    mac: link.attrs.get(IFLA_ADDRESS)?.slice() ?? new Uint8Array(0),
    mtu,
    up: (link.flags & (IFF_UP | IFF_RUNNING)) === (IFF_UP | IFF_RUNNING),
    ipv4: [],
    ipv6: [],
    flags: link.flags,
  };
  for (const a of addressesOf(idx.index).list) {
    if (a.family === AF_INET) info.ipv4.push(ipToString(a.addr));
    else if (a.family === AF_INET6 && !(a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED))) {
      if (a.scope === RT_SCOPE_UNIVERSE) info.ipv6.push(ipToString(a.addr));
      else if (a.scope === RT_SCOPE_LINK && info.ipv6LinkLocal === undefined) info.ipv6LinkLocal = ipToString(a.addr);
    }
  }
  return info;
}

type AddrArgs = { ifindex: number; family: number; bytes: Uint8Array; prefixLen: number };

function addrArgs(context: string, ifname: string, addr: string, prefixLen: number | undefined): NetResult<AddrArgs> {
  const L = lib();
  if (!L) return noLibc(context);
  const b4 = parse4(addr), b6 = b4 ? null : parse6(addr);
  const bytes = b4 ?? b6;
  if (!bytes) return fail(context, '', EINVAL, `invalid IP address ${String(addr)}`);
  const max = b4 ? 32 : 128;
  const plen = prefixLen ?? max;
  if (!Number.isInteger(plen) || plen < 0 || plen > max) return fail(context, '', EINVAL, `invalid prefix length ${String(prefixLen)} (0..${max})`);
  const idx = ifindexOf(L, ifname);
  if ('errno' in idx) return fail(context, 'if_nametoindex', idx.errno);
  return { ok: true, value: { ifindex: idx.index, family: b4 ? AF_INET : AF_INET6, bytes, prefixLen: plen } };
}

function ifaddrmsg(a: AddrArgs): Uint8Array {
  const h = new Uint8Array(8);
  h[0] = a.family; h[1] = a.prefixLen; h[2] = 0; h[3] = RT_SCOPE_UNIVERSE;
  new DataView(h.buffer).setUint32(4, a.ifindex, true);
  return h;
}

/** Adds a VIP (scope global; IPv6 with nodad, as keepalived does). 'present' when it was already there. */
export function addAddress(ifname: string, addr: string, prefixLen: number): NetResult<'added' | 'present'> {
  const context = `adding ${String(addr)}/${String(prefixLen)} to ${String(ifname)}`;
  const a = addrArgs(context, ifname, addr, prefixLen);
  if (!a.ok) return a;
  const v = a.value;
  const body = v.family === AF_INET
    ? concat(ifaddrmsg(v), nla(IFA_LOCAL, v.bytes), nla(IFA_ADDRESS, v.bytes))
    // nodad: usable at once, and never stuck in dadfailed after a split brain (keepalived's reasoning)
    : concat(ifaddrmsg(v), nla(IFA_LOCAL, v.bytes), nla(IFA_FLAGS, u32(IFA_F_NODAD)));
  const r = rtnl(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body);
  if (r.errno === EEXIST) return { ok: true, value: 'present' };
  if (r.errno) return fail(context, 'RTM_NEWADDR', r.errno);
  return { ok: true, value: 'added' };
}

/** Removes a VIP (address and prefix length must match, as for `ip addr del`). 'absent' when it was not there. */
export function deleteAddress(ifname: string, addr: string, prefixLen: number): NetResult<'deleted' | 'absent'> {
  const context = `removing ${String(addr)}/${String(prefixLen)} from ${String(ifname)}`;
  const a = addrArgs(context, ifname, addr, prefixLen);
  if (!a.ok) return a;
  const v = a.value;
  const body = concat(ifaddrmsg(v), nla(IFA_LOCAL, v.bytes), nla(IFA_ADDRESS, v.bytes));
  const r = rtnl(RTM_DELADDR, NLM_F_ACK, body);
  if (r.errno === EADDRNOTAVAIL) return { ok: true, value: 'absent' };
  if (r.errno) return fail(context, 'RTM_DELADDR', r.errno);
  return { ok: true, value: 'deleted' };
}

/** Whether the interface holds the address (any prefix length); false for a bad name or address. */
export function hasAddress(ifname: string, addr: string): boolean {
  const a = addrArgs('', ifname, addr, undefined);
  if (!a.ok) return false;
  return addressesOf(a.value.ifindex).list.some((x) => x.family === a.value.family && sameBytes(x.addr, a.value.bytes));
}

// ------------------------------------------------------------------ gratuitous ARP / unsolicited NA

/** Interface facts the L2 announcements need. */
function l2Target(context: string, ifname: string): NetResult<{ ifindex: number; mac: Uint8Array; flags: number }> {
  const L = lib();
  if (!L) return noLibc(context);
  const idx = ifindexOf(L, ifname);
  if ('errno' in idx) return fail(context, 'if_nametoindex', idx.errno);
  const link = getLink(idx.index);
  if (!link) return fail(context, 'RTM_GETLINK', ENODEV);
  const mac = link.attrs.get(IFLA_ADDRESS);
  if (!mac || mac.length !== 6) return fail(context, '', EINVAL, 'not an Ethernet interface (no 6-byte hardware address)');
  return { ok: true, value: { ifindex: idx.index, mac: mac.slice(), flags: link.flags } };
}

/** keepalived's gratuitous ARP frame (spec §5.4), 42 bytes: request, target MAC all ones. */
export function garpFrame(mac: Uint8Array, vip: Uint8Array): Uint8Array {
  const f = new Uint8Array(42);
  f.fill(0xff, 0, 6);
  f.set(mac, 6);
  f[12] = 0x08; f[13] = 0x06;
  f[14] = 0; f[15] = 1; //       hardware type Ethernet
  f[16] = 0x08; f[17] = 0x00; // protocol IPv4
  f[18] = 6; f[19] = 4; //       lengths
  f[20] = 0; f[21] = 1; //       operation: request
  f.set(mac, 22);
  f.set(vip, 28);
  f.fill(0xff, 32, 38);
  f.set(vip, 38);
  return f;
}

/**
 * keepalived's unsolicited NA (vrrp_ndisc.c), 86 bytes: Ethernet 33:33:00:00:00:01
 * from the interface MAC; IPv6 from the VIP to ff02::1, traffic class and flow
 * label 0, hop limit 255; ICMPv6 136, flags Override (+ Router when the
 * interface forwards IPv6), target = VIP, option 2 (target link-layer address)
 * = the MAC.
 */
export function unsolicitedNaFrame(mac: Uint8Array, vip: Uint8Array, router: boolean): Uint8Array {
  const f = new Uint8Array(86);
  f[0] = 0x33; f[1] = 0x33; f[5] = 1;
  f.set(mac, 6);
  f[12] = 0x86; f[13] = 0xdd;
  const ip = 14;
  f[ip] = 0x60;
  f[ip + 5] = 32; // payload length: NA 24 + option 8
  f[ip + 6] = 58; // ICMPv6
  f[ip + 7] = 255;
  f.set(vip, ip + 8);
  f[ip + 24] = 0xff; f[ip + 25] = 0x02; f[ip + 39] = 1;
  const na = ip + 40;
  f[na] = 136;
  f[na + 4] = (router ? 0x80 : 0) | 0x20; // R, O (not S: unsolicited)
  f.set(vip, na + 8);
  f[na + 24] = 2; f[na + 25] = 1;
  f.set(mac, na + 26);
  const pseudo = new Uint8Array(40);
  pseudo.set(f.subarray(ip + 8, ip + 40), 0);
  pseudo[35] = 32; pseudo[39] = 58;
  const ck = inetChecksum(pseudo, f.subarray(na));
  f[na + 2] = ck >> 8; f[na + 3] = ck & 0xff;
  return f;
}

/**
 * The send-only packet socket (protocol 0: it never receives) every GARP and NA
 * goes through, opened on first use and kept: closing a packet socket waits for
 * an RCU grace period in the kernel (synchronize_net, ~10-20 ms), which per frame
 * would hold the adverts back (10 VIPs × 5 rounds: most of a second).
 */
let frameFd = -1;

/** Closes the frame socket (the next GARP opens it again); for tests counting descriptors. */
export function closeFrameSocket(): void {
  if (frameFd >= 0) lib()?.close(frameFd);
  frameFd = -1;
}

/** `count` frames back to back, out of interface `ifindex`. */
function sendFrames(context: string, ifindex: number, proto: number, frame: Uint8Array, count: number): NetResult<void> {
  const L = lib()!;
  if (!Number.isInteger(count) || count < 0 || count > 1000) return fail(context, '', EINVAL, `invalid count ${String(count)}`);
  if (count === 0) return { ok: true, value: undefined };
  if (frameFd < 0) {
    frameFd = L.socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (frameFd < 0) { frameFd = -1; return fail(context, 'socket(AF_PACKET)', koffi.errno()); }
  }
  const sa = sockaddrLl(ifindex, proto);
  for (let i = 0; i < count; i++) {
    if (L.sendto(frameFd, frame, frame.length, 0, sa, 20) < 0) return fail(context, 'sendto', koffi.errno());
  }
  return { ok: true, value: undefined };
}

/**
 * keepalived's gratuitous ARP (spec §5.4), `count` frames back to back. Like
 * keepalived, nothing is sent (and ok is returned) on an interface with
 * IFF_NOARP (keepalived looks at the VMAC's base interface; here the
 * interface's own flag is what counts).
 */
export function sendGratuitousArp(ifname: string, vip: string, count: number): NetResult<void> {
  const context = `gratuitous ARP on ${String(ifname)} for ${String(vip)}`;
  const b = parse4(vip);
  if (!b) return fail(context, '', EINVAL, `invalid IPv4 address ${String(vip)}`);
  const t = l2Target(context, ifname);
  if (!t.ok) return t;
  if (t.value.flags & IFF_NOARP) return { ok: true, value: undefined };
  return sendFrames(context, t.value.ifindex, ETH_P_ARP, garpFrame(t.value.mac, b), count);
}

/** IPv6 forwarding on the interface: keepalived then sets the NA's Router flag. */
function ipv6Forwarding(ifname: string): boolean {
  try { return readFileSync(`/proc/sys/net/ipv6/conf/${ifname}/forwarding`, 'utf8').trim() !== '0'; } catch { return false; }
}

/** Unsolicited neighbour advertisement for an IPv6 VIP as keepalived's vrrp_ndisc.c sends it (nothing, and ok, on IFF_NOARP, as there). */
export function sendUnsolicitedNa(ifname: string, vip: string, count: number): NetResult<void> {
  const context = `unsolicited neighbour advert on ${String(ifname)} for ${String(vip)}`;
  const b = parse6(vip);
  if (!b) return fail(context, '', EINVAL, `invalid IPv6 address ${String(vip)}`);
  const t = l2Target(context, ifname);
  if (!t.ok) return t;
  if (t.value.flags & IFF_NOARP) return { ok: true, value: undefined };
  return sendFrames(context, t.value.ifindex, ETH_P_IPV6, unsolicitedNaFrame(t.value.mac, b, ipv6Forwarding(ifname)), count);
}

// ------------------------------------------------------------------ use_vmac

/** 00:00:5e:00:01:<vrid> (IPv4) / 00:00:5e:00:02:<vrid> (IPv6), RFC 5798 §7.3. */
export function vmacAddress(vrid: number, family: 4 | 6): Uint8Array {
  return Uint8Array.of(0x00, 0x00, 0x5e, 0x00, family === 4 ? 0x01 : 0x02, vrid & 0xff);
}

/**
 * keepalived's use_vmac: a macvlan (mode private) `vrrp.<VRID>` on ifname with
 * the virtual MAC, up. Returns its name. keepalived's extra sysctls on the
 * base and VMAC interfaces (arp_ignore, arp_filter, rp_filter…) are not set.
 */
export function createVmac(ifname: string, vrid: number, family: 4 | 6, name?: string): NetResult<string> {
  const vname = name ?? `vrrp.${String(vrid)}`;
  const context = `VMAC interface ${vname} on ${String(ifname)}`;
  const L = lib();
  if (!L) return noLibc(context);
  if (!Number.isInteger(vrid) || vrid < 1 || vrid > 255) return fail(context, '', EINVAL, `invalid VRID ${String(vrid)} (1..255)`);
  if (family !== 4 && family !== 6) return fail(context, '', EINVAL, `invalid address family ${String(family)}`);
  if (typeof vname !== 'string' || vname.length === 0 || vname.length > 15 || /[\s/:\0]/.test(vname)) {
    return fail(context, '', EINVAL, `invalid interface name ${String(vname)}`);
  }
  const idx = ifindexOf(L, ifname);
  if ('errno' in idx) return fail(context, 'if_nametoindex', idx.errno);
  const ifi = new Uint8Array(16);
  const dv = new DataView(ifi.buffer);
  ifi[0] = AF_UNSPEC;
  dv.setUint32(8, IFF_UP, true);
  dv.setUint32(12, IFF_UP, true);
  const body = concat(
    ifi,
    nla(IFLA_IFNAME, cstr(vname)),
    nla(IFLA_LINK, u32(idx.index)),
    nla(IFLA_ADDRESS, vmacAddress(vrid, family)),
    nla(IFLA_LINKINFO | NLA_F_NESTED, concat(
      nla(IFLA_INFO_KIND, cstr('macvlan')),
      nla(IFLA_INFO_DATA | NLA_F_NESTED, nla(IFLA_MACVLAN_MODE, u32(MACVLAN_MODE_PRIVATE))),
    )),
  );
  const r = rtnl(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body);
  if (r.errno) return fail(context, 'RTM_NEWLINK', r.errno);
  return { ok: true, value: vname };
}

/** Removes a VMAC interface; refuses (EINVAL) anything that is not a macvlan. ENODEV when it does not exist. */
export function deleteVmac(name: string): NetResult<void> {
  const context = `removing VMAC interface ${String(name)}`;
  const L = lib();
  if (!L) return noLibc(context);
  const idx = ifindexOf(L, name);
  if ('errno' in idx) return fail(context, 'if_nametoindex', idx.errno);
  const link = getLink(idx.index);
  const info = link?.attrs.get(IFLA_LINKINFO);
  const kind = info ? attrs(info, 0).get(IFLA_INFO_KIND) : undefined;
  if (!kind || new TextDecoder().decode(kind).replace(/\0+$/, '') !== 'macvlan') {
    return fail(context, '', EINVAL, `${name} is not a macvlan interface`);
  }
  const ifi = new Uint8Array(16);
  new DataView(ifi.buffer).setInt32(4, idx.index, true);
  const r = rtnl(RTM_DELLINK, NLM_F_ACK, ifi);
  if (r.errno) return fail(context, 'RTM_DELLINK', r.errno);
  return { ok: true, value: undefined };
}

// Who answers on the control socket. lvsadm run as root would otherwise hand
// every command (and trust every reply) to whoever bound the socket path
// first: before the first byte is sent, the peer's credentials (SO_PEERCRED,
// taken by the kernel at connect/listen time, not claimed by the peer) must be
// root's, or lvsadm's own user's.

import koffi from 'koffi';
import type { Socket } from 'node:net';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

type GetSockOpt = (fd: number, level: number, name: number, val: Buffer, len: number[]) => number;
let getsockopt: GetSockOpt | null = null;

/** The peer's { pid, uid, gid } of a connected unix socket, or an error text. */
export function peerCredentials(sock: Socket): { pid: number; uid: number; gid: number } | { error: string } {
  // node exposes the descriptor of a connected pipe as _handle.fd on Linux
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return { error: 'the connection has no file descriptor to ask' };
  try {
    getsockopt ??= koffi.load('libc.so.6').func('int getsockopt(int, int, int, _Out_ void *, _Inout_ uint32_t *)') as GetSockOpt;
  } catch (e) {
    return { error: `cannot call getsockopt (${(e as Error).message})` };
  }
  const buf = Buffer.alloc(12);
  const len = [12];
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf, len) !== 0 || len[0] !== 12) return { error: 'getsockopt(SO_PEERCRED) failed' };
  return { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) };
}

/** Null when the peer may be talked to (root, or our own user), else why not. */
export function untrustedPeer(sock: Socket, path: string): string | null {
  const me = process.geteuid?.() ?? 0;
  const c = peerCredentials(sock);
  if ('error' in c) return `cannot tell who owns ${path}: ${c.error}; nothing was sent`;
  if (c.uid === 0 || c.uid === me) return null;
  return `${path} is served by uid ${c.uid} (pid ${c.pid}), not by root${me === 0 ? '' : ` or uid ${me}`}: `
    + 'not lvsd, or an lvsd of another user; nothing was sent. Remove the socket or name the right one with --socket';
}

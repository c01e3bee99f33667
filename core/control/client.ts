// The control socket client: send one request, read one reply.

import { connect } from 'node:net';
import type { Reply, Request } from './protocol.js';

export class ControlUnavailable extends Error {
  readonly code: string;
  constructor(path: string, code: string, detail: string) {
    super(`cannot reach lvsd at ${path}: ${detail}`);
    this.name = 'ControlUnavailable';
    this.code = code;
  }
}

/** Sends `req` to the daemon at `path`; rejects with ControlUnavailable when it cannot be reached. */
export function request<T = unknown>(path: string, req: Request, timeoutMs = 10_000): Promise<Reply<T>> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new ControlUnavailable(path, 'ETIMEDOUT', 'no reply in time'));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try { resolve(JSON.parse(buf.slice(0, nl)) as Reply<T>); } catch {
        reject(new ControlUnavailable(path, 'EPROTO', 'the reply was not valid JSON'));
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new ControlUnavailable(path, e.code ?? 'EIO', e.message));
    });
  });
}

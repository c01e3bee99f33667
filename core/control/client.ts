// The control socket client: one request and its reply (`request`), or many
// requests pipelined over one connection (`ControlConnection`, for `-R`).

import { connect, type Socket } from 'node:net';
import type { Reply, Request } from './protocol.js';
import { untrustedPeer } from './peer.js';

export class ControlUnavailable extends Error {
  readonly code: string;
  constructor(path: string, code: string, detail: string) {
    super(`cannot reach lvsd at ${path}: ${detail}`);
    this.name = 'ControlUnavailable';
    this.code = code;
  }
}

/** The socket answers, but not as root (or lvsadm's own user): see peer.ts. */
export class UntrustedPeer extends ControlUnavailable {
  constructor(path: string, detail: string) {
    super(path, 'EUNTRUSTED', detail);
    this.name = 'UntrustedPeer';
    this.message = `refusing to talk to ${detail}`;
  }
}

/**
 * Cuts reply lines out of a stream of chunks. Only each new chunk is searched
 * for the end of line, and a long reply's pieces are joined once: a listing of
 * tens of megabytes costs linear time, not a rescan of all of it per chunk.
 */
class LineReader {
  private parts: string[] = [];
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: string): void {
    let from = 0;
    let nl: number;
    while ((nl = chunk.indexOf('\n', from)) >= 0) {
      let line = chunk.slice(from, nl);
      if (this.parts.length > 0) { this.parts.push(line); line = this.parts.join(''); this.parts = []; }
      from = nl + 1;
      this.onLine(line);
    }
    if (from < chunk.length) this.parts.push(chunk.slice(from));
  }
}

/**
 * Sends `req` to the daemon at `path`; rejects with ControlUnavailable when it
 * cannot be reached, or when nothing of the reply arrives for `timeoutMs`.
 */
export function request<T = unknown>(path: string, req: Request, timeoutMs = 10_000): Promise<Reply<T>> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        done = true;
        sock.destroy();
        reject(new ControlUnavailable(path, 'ETIMEDOUT', 'no reply in time'));
      }, timeoutMs);
    };
    arm();
    const lines = new LineReader((line) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.end();
      try { resolve(JSON.parse(line) as Reply<T>); } catch {
        reject(new ControlUnavailable(path, 'EPROTO', 'the reply was not valid JSON'));
      }
    });
    sock.setEncoding('utf8');
    sock.on('connect', () => {
      const why = untrustedPeer(sock, path);
      if (why !== null) {
        done = true;
        clearTimeout(timer);
        sock.destroy();
        reject(new UntrustedPeer(path, why));
        return;
      }
      sock.write(JSON.stringify(req) + '\n');
    });
    sock.on('data', (chunk: string) => {
      if (done) return;
      arm();   // a long reply still arriving is not a timeout
      lines.push(chunk);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (done) return;
      done = true;
      reject(new ControlUnavailable(path, e.code ?? 'EIO', e.message));
    });
  });
}

/**
 * One connection carrying many requests: each is written at once and its
 * reply resolves in order (the daemon answers a connection's requests in the
 * order they came). `ipvsadm -R` of 100 000 lines is then one connection and
 * no round trip per line.
 */
export class ControlConnection {
  private readonly waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private head = 0;
  private failed: ControlUnavailable | null = null;
  private timer: NodeJS.Timeout | undefined;
  private corked = false;

  private constructor(private readonly sock: Socket, private readonly path: string, private readonly timeoutMs: number) {
    const lines = new LineReader((line) => {
      const w = this.waiting[this.head];
      if (!w) return;
      this.waiting[this.head++] = undefined as never;
      if (this.head > 1024 && this.head * 2 > this.waiting.length) { this.waiting.splice(0, this.head); this.head = 0; }
      this.arm();
      try { w.resolve(JSON.parse(line) as Reply); } catch {
        this.fail(new ControlUnavailable(path, 'EPROTO', 'the reply was not valid JSON'));
      }
    });
    sock.on('data', (chunk: string) => { this.arm(); lines.push(chunk); });
    sock.on('error', (e: NodeJS.ErrnoException) => this.fail(new ControlUnavailable(path, e.code ?? 'EIO', e.message)));
    sock.on('close', () => this.fail(new ControlUnavailable(path, 'ECONNRESET', 'the daemon closed the connection')));
  }

  /** Connects to the daemon at `path`; rejects with ControlUnavailable when it cannot be reached. */
  static open(path: string, timeoutMs = 10_000): Promise<ControlConnection> {
    return new Promise((resolve, reject) => {
      const sock = connect(path);
      sock.setEncoding('utf8');
      const onError = (e: NodeJS.ErrnoException): void => reject(new ControlUnavailable(path, e.code ?? 'EIO', e.message));
      sock.once('error', onError);
      sock.once('connect', () => {
        sock.off('error', onError);
        const why = untrustedPeer(sock, path);
        if (why !== null) { sock.destroy(); reject(new UntrustedPeer(path, why)); return; }
        resolve(new ControlConnection(sock, path, timeoutMs));
      });
    });
  }

  /** Requests not yet answered. */
  get pending(): number { return this.waiting.length - this.head; }

  send<T = unknown>(req: Request): Promise<Reply<T>> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<Reply<T>>((resolve, reject) => {
      this.waiting.push({ resolve: resolve as (r: Reply) => void, reject });
      if (this.pending === 1) this.arm();
      // Requests sent in one run of the caller go out in one write.
      if (!this.corked) {
        this.corked = true;
        this.sock.cork();
        process.nextTick(() => { this.corked = false; this.sock.uncork(); });
      }
      this.sock.write(JSON.stringify(req) + '\n');
    });
  }

  close(): void {
    clearTimeout(this.timer);
    this.sock.end();
  }

  /** While replies are awaited, the daemon has `timeoutMs` to send something. */
  private arm(): void {
    clearTimeout(this.timer);
    if (this.pending === 0) return;
    this.timer = setTimeout(() => {
      this.fail(new ControlUnavailable(this.path, 'ETIMEDOUT', 'no reply in time'));
      this.sock.destroy();
    }, this.timeoutMs);
  }

  private fail(e: ControlUnavailable): void {
    clearTimeout(this.timer);
    this.failed ??= e;
    while (this.head < this.waiting.length) {
      const w = this.waiting[this.head];
      this.waiting[this.head++] = undefined as never;
      w?.reject(this.failed);
    }
  }
}

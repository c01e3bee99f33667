// The master's sync buffering and send timing (shared/spec/sync.md §4.4):
// one current buffer, a bounded queue of full buffers, a ~20 ms delayed wake
// on the first queued buffer, an immediate wake at 8 queued, and a 1 s check
// that sends the current buffer once it is 2 s old. One SyncSender is one
// kernel sender thread (one sync port); with sync_ports > 1 the integrator
// makes one per port and picks by a hash of the connection.
//
// Clock and timers are injected so tests drive time by hand.

import { encodeRecord, SyncMessageBuilder, type EncodeError, type SyncConn, type SyncVersion } from './wire.js';

/** setTimeout/clearTimeout-like timers and a clock, all in milliseconds. */
export interface SyncTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const SYNC_SEND_DELAY_MS = 20; // max(HZ/50, 1) jiffies
export const SYNC_WAKEUP_RATE = 8; // queued buffers that wake the sender at once
export const SYNC_CHECK_PERIOD_MS = 1000;
export const SYNC_FLUSH_TIME_MS = 2000;
export const SYNC_MAXLEN_V4 = 1472; // 1500 - 20 IP - 8 UDP

export interface SyncSenderOptions {
  syncid: number;
  /** sync_maxlen; default 1472. */
  maxlen?: number;
  /** sync_qlen_max: queued buffers beyond it are discarded. */
  qlenMax: number;
  /** Send one datagram. A throw or a rejected promise counts as a send error; the message is dropped. */
  send: (msg: Uint8Array) => void | Promise<void>;
  timers: SyncTimers;
  /** Operator-readable error lines (send failures). */
  log?: (line: string) => void;
}

export interface SyncSenderCounters {
  /** Records put into buffers. */
  records: number;
  /** Records refused by the encoder. */
  encodeErrors: number;
  messagesSent: number;
  bytesSent: number;
  /** Full buffers discarded because the queue was at sync_qlen_max. */
  discardedQueueFull: number;
  /** Buffers (queued or current) dropped by stop(). */
  discardedOnStop: number;
  sendErrors: number;
}

export type SyncAddResult = { ok: true } | { ok: false; error: EncodeError | { code: 'stopped'; message: string } };

interface Buff {
  msg: SyncMessageBuilder;
  /** Creation time (the first record's time): the age for the 2 s flush. */
  firstUse: number;
}

export class SyncSender {
  readonly counters: SyncSenderCounters = {
    records: 0, encodeErrors: 0, messagesSent: 0, bytesSent: 0, discardedQueueFull: 0, discardedOnStop: 0, sendErrors: 0,
  };
  private readonly o: Required<Omit<SyncSenderOptions, 'log'>> & Pick<SyncSenderOptions, 'log'>;
  private cur: Buff | null = null;
  private readonly queue: Buff[] = [];
  /** ms->sync_queue_delay: buffers queued since the queue was last empty, capped by the wakeup. */
  private queueDelay = 0;
  private wakeupWork: unknown = null;
  private threadTimer: unknown = null;
  private running = true;

  constructor(opts: SyncSenderOptions) {
    this.o = { maxlen: SYNC_MAXLEN_V4, ...opts };
    this.sleep();
  }

  get queueLength(): number { return this.queue.length; }
  /** Records in the current (not yet queued) buffer. */
  get pending(): number { return this.cur?.msg.count ?? 0; }

  /** Add one record (ip_vs_sync_conn after the trigger said yes). */
  add(version: SyncVersion, conn: SyncConn): SyncAddResult {
    if (!this.running) return { ok: false, error: { code: 'stopped', message: 'master sync sender is stopped' } };
    const r = encodeRecord(version, conn);
    if (!r.ok) { this.counters.encodeErrors++; return r; }
    const len = r.bytes.length;
    const b = this.cur;
    // A v0 buffer whose 8-bit count wrapped to 0 is queued too (the kernel's !m->nr_conns test).
    if (b && (b.msg.version !== version || !b.msg.fits(len) || (version === 0 && b.msg.nrConns === 0))) {
      this.queueTail(b);
      this.cur = null;
    }
    if (!this.cur) {
      this.cur = { msg: new SyncMessageBuilder(version, this.o.syncid, this.o.maxlen, len), firstUse: this.o.timers.now() };
    }
    this.cur.msg.append(r.bytes);
    this.counters.records++;
    return { ok: true };
  }

  /**
   * Sends what is in the current buffer now instead of when it is 2 s old
   * (lvsd's resync: a joining backup is waiting for the whole table).
   */
  flush(): void {
    if (!this.running || !this.cur) return;
    this.queueTail(this.cur);
    this.cur = null;
    this.wake();
  }

  /** Stop the master: everything unsent is discarded. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    const t = this.o.timers;
    if (this.wakeupWork !== null) t.clearTimeout(this.wakeupWork);
    if (this.threadTimer !== null) t.clearTimeout(this.threadTimer);
    this.wakeupWork = this.threadTimer = null;
    this.counters.discardedOnStop += this.queue.length + (this.cur ? 1 : 0);
    this.queue.length = 0;
    this.cur = null;
  }

  /** sb_queue_tail */
  private queueTail(b: Buff): void {
    if (this.queue.length >= this.o.qlenMax) { this.counters.discardedQueueFull++; return; }
    if (this.queue.length === 0 && this.wakeupWork === null) {
      this.wakeupWork = this.o.timers.setTimeout(() => this.wakeupFired(), SYNC_SEND_DELAY_MS);
    }
    this.queue.push(b);
    if (++this.queueDelay === SYNC_WAKEUP_RATE) this.wake();
  }

  /** master_wakeup_work_handler */
  private wakeupFired(): void {
    this.wakeupWork = null;
    if (this.queue.length && this.queueDelay < SYNC_WAKEUP_RATE) {
      this.queueDelay = SYNC_WAKEUP_RATE;
      this.wake();
    }
  }

  /** wake_up_process: the thread runs as soon as the event loop lets it. */
  private wake(): void {
    if (!this.running) return;
    if (this.threadTimer !== null) this.o.timers.clearTimeout(this.threadTimer);
    this.threadTimer = this.o.timers.setTimeout(() => this.thread(), 0);
  }

  /** schedule_timeout(IPVS_SYNC_CHECK_PERIOD) */
  private sleep(): void {
    this.threadTimer = this.o.timers.setTimeout(() => this.thread(), SYNC_CHECK_PERIOD_MS);
  }

  /** sync_thread_master: send everything due, then sleep 1 s. */
  private thread(): void {
    this.threadTimer = null;
    if (!this.running) return;
    for (let b = this.next(); b; b = this.next()) this.transmit(b.msg.bytes());
    this.sleep();
  }

  /** next_sync_buff: a queued buffer, else the current one once it is 2 s old. */
  private next(): Buff | null {
    const q = this.queue.shift();
    if (q) {
      if (this.queue.length === 0) this.queueDelay = 0;
      return q;
    }
    const c = this.cur;
    if (c && this.o.timers.now() - c.firstUse >= SYNC_FLUSH_TIME_MS) {
      this.cur = null;
      return c;
    }
    return null;
  }

  private transmit(msg: Uint8Array): void {
    const fail = (e: unknown): void => {
      this.counters.sendErrors++;
      this.o.log?.(`sync send error: ${e instanceof Error ? e.message : String(e)} (message of ${msg.length} bytes dropped)`);
    };
    const ok = (): void => { this.counters.messagesSent++; this.counters.bytesSent += msg.length; };
    try {
      const r = this.o.send(msg);
      if (r instanceof Promise) r.then(ok, fail); else ok();
    } catch (e) {
      fail(e);
    }
  }
}

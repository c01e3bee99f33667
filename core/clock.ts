// The project's one clock, in milliseconds (health checks, scheduled work,
// control-plane plugins): the system clock in the daemon, a virtual one in
// tests (checks, retries, slow-start ramps and drain deadlines advance only
// when the test says so; nothing in a test waits on wall-clock time).

export interface TimerHandle { readonly id: number }

export interface Clock {
  /** Milliseconds (monotonic for the system clock). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle): void;
}

let nextId = 1;

export const systemClock: Clock = (() => {
  const timers = new Map<number, NodeJS.Timeout>();
  return {
    now: () => performance.now(),
    setTimeout(fn, ms) {
      const id = nextId++;
      // unref: health timers alone must not keep a stopping daemon alive.
      const t = setTimeout(() => { timers.delete(id); fn(); }, Math.max(0, ms));
      t.unref();
      timers.set(id, t);
      return { id };
    },
    clearTimeout(h) {
      const t = timers.get(h.id);
      if (t) { clearTimeout(t); timers.delete(h.id); }
    },
  };
})();

/** A clock that moves only in `advance()`; due timers fire in time order. */
export class VirtualClock implements Clock {
  private t = 0;
  private timers = new Map<number, { at: number; seq: number; fn: () => void }>();
  private seq = 0;
  /** Awaited between timers so that work started by one (promise chains) settles first. */
  settle: () => Promise<void> = () => new Promise((r) => setImmediate(r));

  constructor(start = 0) { this.t = start; }
  now(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = nextId++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), seq: this.seq++, fn });
    return { id };
  }
  clearTimeout(h: TimerHandle): void { this.timers.delete(h.id); }
  pending(): number { return this.timers.size; }

  /** Moves time forward by `ms`, firing each due timer and letting its work settle. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await this.settle();
    for (;;) {
      let best: [number, { at: number; seq: number; fn: () => void }] | undefined;
      for (const e of this.timers) {
        if (e[1].at > end) continue;
        if (!best || e[1].at < best[1].at || (e[1].at === best[1].at && e[1].seq < best[1].seq)) best = e;
      }
      if (!best) break;
      this.timers.delete(best[0]);
      this.t = Math.max(this.t, best[1].at);
      best[1].fn();
      await this.settle();
    }
    this.t = end;
    await this.settle();
  }
}

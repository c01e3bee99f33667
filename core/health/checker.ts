// One checker of one real server: keepalived's scheduling and state logic
// (shared/spec/keepalived.md §3.2; HTTP_GET/SSL_GET URL sequencing §3.4),
// with lvsd's rise/fall counts and interval jitter layered on top.
//
// A *verdict* is what keepalived decides after an attempt: a success, or a
// failure once the retries are used up. rise/fall count consecutive verdicts
// (defaults 1/1 = keepalived exactly). Every delay is counted from the end of
// the previous attempt, as keepalived does.

import { redact } from '../security/redact.js';
import type { HealthCheckPlugin, HealthFailure, HealthResult, HealthTarget } from '../plugin.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { CheckerSettings } from './types.js';

export interface Verdict {
  /** The checker's state after this verdict. */
  up: boolean;
  /** Whether `up` changed (or this was the first verdict). */
  changed: boolean;
  first: boolean;
  /** The attempts this verdict took beyond the first (for "failed after N retries"). */
  retries: number;
  result: HealthResult;
}

export interface CheckerDeps {
  clock: Clock;
  random: () => number;
  /** Every attempt's result (for logs and views). */
  onAttempt(c: CheckRunner, r: HealthResult): void;
  /** Every verdict, changed or not (a dynamic weight may change without a state change). */
  onVerdict(c: CheckRunner, v: Verdict): void;
  /**
   * A throw from onAttempt/onVerdict (table operations run scheduler hooks),
   * or any other fault of an attempt. The checker logs it and keeps running.
   */
  onError?(c: CheckRunner, what: string, e: unknown): void;
}

/**
 * How long a plugin gets after its signal is aborted at the timeout to settle
 * on its own (tcp/udp/http answer at once: udp's "silence is success" comes
 * from this); a plugin still pending then loses and the attempt is a timeout.
 */
export const ABORT_GRACE_S = 1;

/** The timing a checker runs with, after plugin defaults (seconds). */
export interface Timing {
  interval: number;
  timeout: number;
  retry: number;
  delayBeforeRetry: number;
  warmup: number;
}

export function timingOf(s: CheckerSettings, plugin: HealthCheckPlugin<unknown>): Timing {
  const d = plugin.defaults ?? {};
  const pick = (v: number | 'interval' | undefined, dflt: number): number => (v === 'interval' ? s.interval : v ?? dflt);
  return {
    interval: s.interval,
    timeout: s.timeout ?? pick(d.timeout, 5),
    retry: s.retry ?? d.retry ?? 1,
    delayBeforeRetry: s.delayBeforeRetry ?? pick(d.delayBeforeRetry, 1),
    warmup: s.warmup ?? s.interval,
  };
}

export class CheckRunner {
  readonly settings: CheckerSettings;
  readonly plugin: HealthCheckPlugin<unknown>;
  readonly options: unknown;
  readonly target: HealthTarget;
  readonly timing: Timing;
  readonly steps: number;
  up: boolean;
  hasRun = false;
  runs = 0;
  /** The weight the last success reported (misc_dynamic), if any. */
  dynWeight: number | undefined = undefined;
  last = 'not run yet';
  /** The deciding failure while down. */
  reason = '';
  lastFailure: HealthFailure | undefined;
  private retryIt: number;
  private step = 0;
  private failedStep: number | null = null;
  private riseCount = 0;
  private fallCount = 0;
  private timer: TimerHandle | null = null;
  private ctrl: AbortController | null = null;
  private stopped = false;
  private readonly state: Record<string, unknown> = {};
  private inflight: Promise<void> | null = null;
  private readonly deps: CheckerDeps;

  /**
   * `startup`: present when the daemon started (one failure marks it down, §3.2);
   * otherwise (added or changed by a reload) it needs retry + 1 failures.
   */
  constructor(settings: CheckerSettings, plugin: HealthCheckPlugin<unknown>, options: unknown, target: HealthTarget,
    deps: CheckerDeps, init: { startup: boolean; up: boolean }) {
    this.settings = settings;
    this.plugin = plugin;
    this.options = options;
    this.target = target;
    this.deps = deps;
    this.timing = timingOf(settings, plugin);
    this.steps = Math.max(1, plugin.steps ? plugin.steps(options) : 1);
    this.up = init.up;
    this.retryIt = init.startup ? this.timing.retry : 0;
    if (!init.startup) this.hasRun = true;
  }

  /** First attempt after 1 s + random(0 .. warmup) (keepalived's start). */
  start(): void {
    this.schedule(1 + this.deps.random() * this.timing.warmup);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = null;
    this.ctrl?.abort();
  }

  /** Resolves when no attempt is in flight. */
  async idle(): Promise<void> { while (this.inflight) await this.inflight; }
  busy(): boolean { return this.inflight !== null; }

  private schedule(seconds: number): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = null;
      const p: Promise<void> = this.attempt().catch((e: unknown) => {
        // attempt() guards its callbacks; this is the last resort so that a
        // checker is never left without a next attempt.
        this.fault('attempt', e);
        if (this.inflight === p) this.inflight = null;
        if (!this.timer) this.schedule(this.spread(this.timing.interval));
      });
      this.inflight = p;
    }, seconds * 1000);
  }

  private fault(what: string, e: unknown): void {
    try { this.deps.onError?.(this, what, e); } catch { /* a logger must not stop the checker */ }
  }

  private spread(seconds: number): number {
    const j = this.settings.jitter;
    return j > 0 ? seconds * (1 + j * (2 * this.deps.random() - 1)) : seconds;
  }

  private async attempt(): Promise<void> {
    const ctrl = new AbortController();
    this.ctrl = ctrl;
    const { timeout } = this.timing;
    const timedOut: HealthResult = { ok: false, failure: 'timeout', reason: `no answer within ${timeout} s` };
    let aborted = false;
    let t: TimerHandle | null = null;
    // The plugin races the timer: at the timeout its signal is aborted, and if
    // it has not settled ABORT_GRACE_S later (a plugin that ignores the signal
    // and never settles), the timer wins and the attempt is a timeout.
    const timer = new Promise<HealthResult>((resolve) => {
      t = this.deps.clock.setTimeout(() => {
        aborted = true;
        ctrl.abort();
        t = this.deps.clock.setTimeout(() => { t = null; resolve(timedOut); }, ABORT_GRACE_S * 1000);
      }, timeout * 1000);
    });
    const check = (async (): Promise<HealthResult> => this.plugin.check(this.target, this.options, {
      signal: ctrl.signal, timeout, step: this.step, state: this.state,
    }))().catch((e: unknown): HealthResult => ({ ok: false, failure: 'error', reason: e instanceof Error ? e.message : String(e) }));
    let r = await Promise.race([check, timer]);
    if (t) this.deps.clock.clearTimeout(t);
    this.ctrl = null;
    if (aborted && !r.ok && r.failure !== 'timeout') r = timedOut;
    this.inflight = null;
    if (this.stopped) return;
    this.runs++;
    // what a check says is logged and listed: no token from its target in it
    r = r.ok ? (r.detail ? { ...r, detail: redact(r.detail) } : r) : { ...r, reason: redact(r.reason) };
    this.last = r.ok ? (r.detail ? `ok: ${r.detail}` : 'ok') : `${r.failure}: ${r.reason}`;
    if (!r.ok) this.lastFailure = r.failure;
    try { this.deps.onAttempt(this, r); } catch (e) { this.fault('onAttempt', e); }
    if (this.steps > 1) this.afterStep(r); else this.afterAttempt(r);
  }

  /** §3.2, one attempt per run. */
  private afterAttempt(r: HealthResult): void {
    const { interval, retry, delayBeforeRetry } = this.timing;
    if (r.ok || ((this.up || !this.hasRun) && this.retryIt >= retry)) {
      const retries = this.retryIt;
      this.retryIt = 0;
      this.verdict(r, retries);
      this.schedule(this.spread(interval));
    } else if (this.up) {
      this.retryIt++;
      this.schedule(delayBeforeRetry);
    } else {
      this.schedule(this.spread(interval));
    }
  }

  /** §3.4: one URL per run; a down checker needs the failed URL to pass and then a full pass. */
  private afterStep(r: HealthResult): void {
    const { interval, retry, delayBeforeRetry } = this.timing;
    const fast = this.settings.fastRecovery && (!this.up || !this.hasRun);
    if (r.ok) {
      this.retryIt = 0;
      if (this.failedStep !== null) {
        this.failedStep = null;
        this.step = 0;
        this.schedule(fast ? 0 : this.spread(interval));
      } else if (this.step >= this.steps - 1) {
        this.step = 0;
        this.verdict(r, 0);
        this.schedule(this.spread(interval));
      } else {
        this.step++;
        this.schedule(fast ? 0 : this.spread(interval));
      }
      return;
    }
    if ((this.up || !this.hasRun) && this.retryIt < retry) {
      this.retryIt++;
      this.schedule(delayBeforeRetry);
      return;
    }
    const retries = this.retryIt;
    this.retryIt = 0;
    if (this.up || !this.hasRun) this.verdict(r, retries);
    else this.hasRun = true;
    if (!this.up) {
      this.failedStep = this.step;
      this.schedule(Math.max(delayBeforeRetry, this.spread(interval)));
    } else {
      this.step = 0;
      this.schedule(this.spread(interval));
    }
  }

  private verdict(r: HealthResult, retries: number): void {
    const first = !this.hasRun;
    this.hasRun = true;
    const was = this.up;
    if (r.ok) this.dynWeight = r.weight;
    if (first) {
      // The first verdict decides at once, as keepalived's has_run rule does.
      this.up = r.ok;
      this.riseCount = 0;
      this.fallCount = 0;
    } else if (r.ok) {
      this.fallCount = 0;
      if (!this.up && ++this.riseCount >= this.settings.rise) { this.up = true; this.riseCount = 0; }
    } else {
      this.riseCount = 0;
      if (this.up && ++this.fallCount >= this.settings.fall) { this.up = false; this.fallCount = 0; }
    }
    if (!r.ok && !this.up) this.reason = `${r.failure}: ${r.reason}`;
    if (this.up) this.reason = '';
    try {
      this.deps.onVerdict(this, { up: this.up, changed: first || was !== this.up, first, retries, result: r });
    } catch (e) {
      // The caller schedules the next attempt after this returns.
      this.fault('onVerdict', e);
    }
  }
}

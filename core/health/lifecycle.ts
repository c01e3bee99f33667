// The administrative lifecycle of a real server, on top of its health:
// active; filling (slow start: the weight ramps up); draining (weight 0 until
// its connections are gone or a deadline passes, then disabled); disabled
// (out of the table, checks go on). Set from config, the control socket and
// scheduled actions.

import { fail, ok, type Result } from '../errors.js';
import type { ChangeSource } from '../model/events.js';
import { destKeyText } from '../model/types.js';
import type { TimerHandle } from '../clock.js';
import { HEALTH, vsLabel, type HealthContext, type RealState, type SvcState } from './state.js';
import type { Lifecycle, LifecycleOp } from './types.js';

/** How often draining reals' connection counts are looked at, ms. */
const DRAIN_POLL_MS = 1000;

type Fill = NonNullable<RealState['fill']>;

/** A filling real's weight now: from `from` × w up to w over the ramp; never 0 while w > 0 and the ramp starts above 0. */
export function fillWeight(fill: Fill, w: number, now: number): number {
  const p = Math.min(1, (now - fill.start) / (fill.seconds * 1000));
  const f = fill.from + (1 - fill.from) * p;
  const ramped = Math.round(w * f);
  return ramped === 0 && w > 0 && fill.from > 0 ? 1 : ramped;
}

export function setLifecycle(ctx: HealthContext, st: SvcState, rs: RealState, to: Lifecycle, reason: string): void {
  const from = rs.lifecycle;
  if (from === to) return;
  rs.lifecycle = to;
  rs.since = ctx.clock.now();
  if (to !== 'filling' && rs.fill) { if (rs.fill.timer) ctx.clock.clearTimeout(rs.fill.timer); rs.fill = null; }
  if (to !== 'draining') rs.drain = null;
  ctx.log.info(`real server ${destKeyText(rs.spec)} of VS ${vsLabel(st.key)}: ${from} -> ${to} (${reason})`);
  ctx.bus.emit('dest.lifecycle', { service: st.key, dest: rs.spec, from, to, reason });
}

/** Starts a slow-start ramp (`seconds`, else the real's own slowStart; neither: straight to active). Later steps are health's own. */
export function startFill(ctx: HealthContext, st: SvcState, rs: RealState, seconds: number | undefined, reason: string, source: ChangeSource = HEALTH): void {
  const secs = seconds ?? rs.settings.slowStart?.seconds;
  if (!secs) { setLifecycle(ctx, st, rs, 'active', reason); ctx.syncReal(st, rs, reason, source); return; }
  if (rs.fill?.timer) ctx.clock.clearTimeout(rs.fill.timer);
  rs.fill = { start: ctx.clock.now(), seconds: secs, from: rs.settings.slowStart?.from ?? 0.1, timer: null };
  setLifecycle(ctx, st, rs, 'filling', reason);
  const stepMs = Math.max(100, Math.min(1000, (secs * 1000) / 20));
  const tick = (): void => {
    if (!rs.fill || rs.lifecycle !== 'filling') return;
    rs.fill.timer = null;
    if (ctx.clock.now() - rs.fill.start >= rs.fill.seconds * 1000) {
      setLifecycle(ctx, st, rs, 'active', 'slow start done');
      ctx.syncReal(st, rs, 'slow start', HEALTH);
      return;
    }
    ctx.syncReal(st, rs, 'slow start', HEALTH);
    rs.fill.timer = ctx.clock.setTimeout(tick, stepMs);
  };
  ctx.syncReal(st, rs, 'slow start', source);
  rs.fill.timer = ctx.clock.setTimeout(tick, stepMs);
}

/** Watches draining reals: each is disabled (and removed) once its connections are gone or its deadline passed. */
export class DrainWatch {
  private timer: TimerHandle | null = null;
  private stopped = false;
  constructor(private readonly ctx: HealthContext, private readonly services: () => Iterable<SvcState>) {}

  /** Polls again in a second, while some real still drains. */
  arm(): void {
    if (this.timer || this.stopped) return;
    this.timer = this.ctx.clock.setTimeout(() => {
      this.timer = null;
      if (this.poll()) this.arm();
    }, DRAIN_POLL_MS);
  }

  /** Removes draining reals whose connections are gone or whose deadline passed; true while some still drain. */
  poll(source: ChangeSource = HEALTH): boolean {
    let more = false;
    const now = this.ctx.clock.now();
    for (const st of this.services()) {
      for (const rs of st.reals.values()) {
        if (rs.lifecycle !== 'draining' || !rs.drain) continue;
        const live = this.ctx.table.find(st.key)?.findDest(rs.spec);
        const conns = live ? live.activeConns + live.inactConns : 0;
        const late = rs.drain.deadline !== undefined && now - rs.drain.start >= rs.drain.deadline * 1000;
        if (conns === 0 || late) {
          setLifecycle(this.ctx, st, rs, 'disabled', conns === 0 ? 'drained: no connections left' : `drain deadline of ${rs.drain.deadline} s reached with ${conns} connections`);
          this.ctx.syncReal(st, rs, 'drained', source);
        } else more = true;
      }
    }
    return more;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.ctx.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}

/** One lifecycle operation on one real (drain, fill, disable, enable, weight); the caller then syncs the real and the quorum. */
export function applyLifecycleOp(
  ctx: HealthContext, drains: DrainWatch, st: SvcState, rs: RealState, op: LifecycleOp, why: string, source: ChangeSource,
): Result<void> {
  switch (op.op) {
    case 'drain': {
      if (rs.lifecycle === 'disabled') return fail('EINVAL', `${destKeyText(rs.spec)} is disabled: nothing to drain`);
      const deadline = op.deadline ?? rs.settings.drainDeadline;
      rs.drain = deadline === undefined ? { start: ctx.clock.now() } : { start: ctx.clock.now(), deadline };
      setLifecycle(ctx, st, rs, 'draining', why);
      ctx.syncReal(st, rs, why, source);
      drains.poll(source);
      drains.arm();
      break;
    }
    case 'fill':
      if (op.seconds === undefined && !rs.settings.slowStart) setLifecycle(ctx, st, rs, 'active', why);
      else startFill(ctx, st, rs, op.seconds, why, source);
      break;
    case 'disable':
      setLifecycle(ctx, st, rs, 'disabled', why);
      break;
    case 'enable':
      if (rs.lifecycle === 'disabled' || rs.lifecycle === 'draining') {
        if (rs.settings.slowStart) startFill(ctx, st, rs, undefined, why, source);
        else setLifecycle(ctx, st, rs, 'active', why);
      }
      break;
    case 'weight':
      rs.weightOverride = op.weight;
      ctx.log.info(`real server ${destKeyText(rs.spec)} of VS ${vsLabel(st.key)}: weight ${op.weight} (${why})`);
      break;
  }
  return ok(undefined);
}

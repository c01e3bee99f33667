// Per-service quorum with hysteresis (shared/spec/keepalived.md §4.3): the sum
// of alive weights is compared with quorum ± hysteresis; losing it puts the
// sorry server (if any) in the table instead of the reals.

import type { ChangeSource } from '../model/events.js';
import type { DestSpec } from '../model/types.js';
import { HEALTH, label, NO_CHECKS, vsLabel, type HealthContext, type RealState, type SvcState } from './state.js';
import type { ServiceHealthSettings } from './types.js';

/** Whether a real's weight counts towards the quorum: alive and taking new connections. */
export function counts(rs: RealState): boolean { return rs.alive && (rs.lifecycle === 'active' || rs.lifecycle === 'filling'); }

export function aliveWeight(st: SvcState): number {
  let sum = 0;
  for (const rs of st.reals.values()) if (counts(rs)) sum += rs.effectiveWeight;
  return sum;
}

/** Whether a new service starts with its quorum lost (and so with the sorry server), before any check. */
export function initialSorry(h: ServiceHealthSettings, dests: readonly DestSpec[]): boolean {
  if (!h.sorryServer) return false;
  let sum = 0;
  let total = 0;
  dests.forEach((d, i) => {
    const r = h.reals[i] ?? NO_CHECKS;
    total += d.weight;
    if (r.lifecycle === 'active' && r.checkers.every((k) => !k.alpha)) sum += d.weight;
  });
  const q = Math.min(h.quorum, Math.max(total, 1));
  return sum === 0 || sum < q + h.hysteresis;
}

/**
 * keepalived clamps a quorum above the total configured weight to that total.
 * Returns whether it did (the caller warns once per settings change).
 */
export function clampQuorum(st: SvcState): boolean {
  let total = 0;
  for (const rs of st.reals.values()) total += rs.configuredWeight;
  st.quorum = st.settings.quorum;
  if (st.settings.quorum > total && total > 0) { st.quorum = total; return true; }
  return false;
}

/** `quiet`: the line is not logged (the event, the sorry server and quorum_up are as always). */
export function gainQuorum(ctx: HealthContext, st: SvcState, sum: number, quiet = false): void {
  const h = st.settings.hysteresis;
  st.quorumUp = true;
  if (!quiet) ctx.log.info(`Gained quorum ${st.quorum}+${h}=${st.quorum + h} <= ${sum} for VS ${vsLabel(st.key)}`);
  if (st.sorryActive) {
    st.sorryActive = false;
    ctx.log.info(`Removing sorry server ${st.settings.sorryServer ? label(st.key.protocol, st.settings.sorryServer) : ''} from VS ${vsLabel(st.key)}`);
    ctx.log.info(`Adding alive servers to the pool for VS ${vsLabel(st.key)}`);
  }
  ctx.bus.emit('service.quorum', { service: st.key, up: true, aliveWeight: sum, sorryActive: false });
  if (st.settings.quorumUp) ctx.run(st.settings.quorumUp, `quorum_up of ${vsLabel(st.key)}`);
}

/**
 * The first quorum of a new service: gained at once, or lost silently (keepalived alpha).
 * The line "Gained quorum" is logged for services with health checks only: a
 * config of 10 000 unchecked services logged 10 000 lines at start.
 */
export function startQuorum(ctx: HealthContext, st: SvcState): void {
  const sum = aliveWeight(st);
  if (sum > 0 && sum >= st.quorum + st.settings.hysteresis) gainQuorum(ctx, st, sum, !hasChecks(st));
  else st.sorryActive = !!st.settings.sorryServer;
}

function hasChecks(st: SvcState): boolean {
  for (const rs of st.reals.values()) if (rs.settings.checkers.length > 0) return true;
  return false;
}

/** Gains or loses the quorum as the alive weight says; swaps reals and sorry server in the table when that changes. */
export function updateQuorum(ctx: HealthContext, st: SvcState, source: ChangeSource = HEALTH): void {
  const sum = aliveWeight(st);
  const { hysteresis: h } = st.settings;
  const wasSorry = st.sorryActive;
  if (!st.quorumUp && sum > 0 && sum >= st.quorum + h) {
    gainQuorum(ctx, st, sum);
  } else if (st.quorumUp && (sum === 0 || sum < st.quorum - h)) {
    st.quorumUp = false;
    ctx.log.warn(`Lost quorum ${st.quorum}-${h}=${st.quorum - h} > ${sum} for VS ${vsLabel(st.key)}`);
    if (st.settings.sorryServer && !st.sorryActive) {
      st.sorryActive = true;
      ctx.log.info(`Adding sorry server ${label(st.key.protocol, st.settings.sorryServer)} to VS ${vsLabel(st.key)}`);
      ctx.log.info(`Removing alive servers from the pool for VS ${vsLabel(st.key)}`);
    }
    ctx.bus.emit('service.quorum', { service: st.key, up: false, aliveWeight: sum, sorryActive: st.sorryActive });
    if (st.settings.quorumDown) ctx.run(st.settings.quorumDown, `quorum_down of ${vsLabel(st.key)}`);
  }
  if (!st.settings.sorryServer) st.sorryActive = false;
  if (wasSorry !== st.sorryActive) ctx.syncService(st, 'quorum', source);
}

// What the table should hold for a real server, given its health, lifecycle
// and its service's quorum: pure functions over the manager's state.

import type { DestSpec } from '../model/types.js';
import { fillWeight } from './lifecycle.js';
import { clampW, type RealState, type SvcState } from './state.js';
import type { RealHealthSettings } from './types.js';

/** In the table or not, and at which weight. */
export interface Placement { present: boolean; weight: number }

const OUT: Placement = { present: false, weight: 0 };

/**
 * The weight a present real gets: its effective weight (or that of a new
 * configured weight, keeping the dynamic part), 0 while down or draining,
 * ramped while filling.
 */
export function wantWeight(rs: RealState, now: number, configured?: number): number {
  const w = configured === undefined ? rs.effectiveWeight : clampW(configured + rs.effectiveWeight - rs.configuredWeight);
  if (!rs.alive || rs.lifecycle === 'draining') return 0;
  return rs.lifecycle === 'filling' && rs.fill ? fillWeight(rs.fill, w, now) : w;
}

/** Where a known real should be now (`inTable`: whether it is; a draining real is never added back). */
export function want(st: SvcState, rs: RealState, inTable: boolean, now: number): Placement {
  if (rs.lifecycle === 'disabled' || st.sorryActive) return OUT;
  if (!rs.alive) return rs.settings.inhibitOnFailure ? { present: true, weight: 0 } : OUT;
  if (rs.lifecycle === 'draining') return inTable ? { present: true, weight: 0 } : OUT;
  return { present: true, weight: wantWeight(rs, now) };
}

/** A new real's first state, before any check (keepalived §4.1: alpha starts it down). */
export function initialWant(settings: RealHealthSettings, spec: DestSpec, sorryActive: boolean): Placement {
  const alive = settings.checkers.every((k) => !k.alpha);
  if (settings.lifecycle !== 'active' || sorryActive) return OUT;
  if (!alive) return settings.inhibitOnFailure ? { present: true, weight: 0 } : OUT;
  return { present: true, weight: spec.weight };
}

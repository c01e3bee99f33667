// The manager's per-service and per-real state, and what its parts (quorum,
// sorry server, lifecycle, placement) share: the context they act through.

import type { Bus } from '../bus.js';
import type { Logger } from '../log.js';
import type { ChangeSource } from '../model/events.js';
import type { ServiceTable } from '../model/table.js';
import type { DestKey, DestSpec, ServiceKey } from '../model/types.js';
import type { CheckRunner } from './checker.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { Lifecycle, RealHealthSettings, ServiceHealthSettings } from './types.js';

const MAX_W = 0x7fffffff;

/** The source of the table changes health makes on its own (verdicts, quorum, timers). */
export const HEALTH: ChangeSource = { by: 'health' };

export const clampW = (w: number): number => Math.max(0, Math.min(MAX_W, Math.round(w)));

/** keepalived's `[IP]:tcp:PORT`. */
export function label(proto: string, d: DestKey): string { return `[${d.addr}]:${proto}:${d.port}`; }
export function vsLabel(k: ServiceKey): string {
  return k.fwmark > 0 ? `FWM ${k.fwmark}` : label(k.protocol, k);
}

/** A real without health settings: unchecked, active. */
export const NO_CHECKS: RealHealthSettings = { checkers: [], inhibitOnFailure: false, lifecycle: 'active' };

export function defaultServiceHealth(n: number): ServiceHealthSettings {
  return {
    quorum: 1, hysteresis: 0, sorryServerInhibit: false, alpha: false, omega: false,
    reals: Array.from({ length: n }, () => ({ checkers: [], inhibitOnFailure: false, lifecycle: 'active' as const })),
  };
}

export class RealState {
  spec: DestSpec;
  settings: RealHealthSettings;
  checkers: CheckRunner[] = [];
  /** Set by a scheduled `weight` action; cleared when the config changes the weight. */
  weightOverride: number | undefined;
  lifecycle: Lifecycle = 'active';
  alive = true;
  /** ms on the manager clock. */
  since: number;
  fill: { start: number; seconds: number; from: number; timer: TimerHandle | null } | null = null;
  drain: { start: number; deadline?: number } | null = null;
  /** From config (false: adopted at run time by a control request). */
  configured: boolean;
  constructor(spec: DestSpec, settings: RealHealthSettings, now: number, configured: boolean) {
    this.spec = { ...spec };
    this.settings = settings;
    this.since = now;
    this.configured = configured;
  }
  get configuredWeight(): number { return this.weightOverride ?? this.spec.weight; }
  /** keepalived's effective weight: each dynamic checker contributes its weight minus the configured one. */
  get effectiveWeight(): number {
    const base = this.configuredWeight;
    let w = base;
    for (const c of this.checkers) if (c.dynWeight !== undefined) w += c.dynWeight - base;
    return clampW(w);
  }
}

export class SvcState {
  key: ServiceKey;
  settings: ServiceHealthSettings;
  reals = new Map<string, RealState>();
  quorumUp = false;
  sorryActive = false;
  /** The sorry server as last put in the table, to take out the right one after a config change. */
  sorryInTable: DestSpec | null = null;
  /** The quorum after keepalived's clamp to the total configured weight. */
  quorum = 1;
  constructor(key: ServiceKey, settings: ServiceHealthSettings) {
    this.key = { family: key.family, protocol: key.protocol, addr: key.addr, port: key.port, fwmark: key.fwmark };
    this.settings = settings;
  }
}

/** What the manager's parts act through: the table, the bus, the log, the clock, and each other. */
export interface HealthContext {
  readonly table: ServiceTable;
  readonly bus: Bus;
  readonly log: Logger;
  readonly clock: Clock;
  /** Runs a notify/quorum program. */
  run(argv: string[], why: string): void;
  /** Brings one real's table entry in line with what health, lifecycle and quorum want. */
  syncReal(st: SvcState, rs: RealState, why: string, source: ChangeSource): void;
  /** The same for every real of the service, and its sorry server. */
  syncService(st: SvcState, why: string, source: ChangeSource): void;
}

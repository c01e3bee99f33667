// Health checking as the rest of lvsd sees it: what the manager is given (its
// own input type; config's DesiredState is one, structurally), the resolved
// per-real-server settings, and the JSON-safe views the control socket
// returns for `get-health` and `lvsadm -L --health`.

import type { DestKey, DestSpec, ServiceKey, ServiceSpec } from '../model/types.js';

export type Lifecycle = 'active' | 'filling' | 'draining' | 'disabled';
export const LIFECYCLES: readonly Lifecycle[] = ['active', 'filling', 'draining', 'disabled'];

/** One checker of one real server, with the cascade (service → real → checker) already resolved. */
export interface CheckerSettings {
  /** Plugin name. */
  check: string;
  /** Seconds (delay_loop). */
  interval: number;
  /** Seconds; undefined = the plugin's default (5, or the interval for exec). */
  timeout?: number;
  /** undefined = the plugin's default. */
  retry?: number;
  delayBeforeRetry?: number;
  /** Seconds; undefined = interval. */
  warmup?: number;
  alpha: boolean;
  rise: number;
  fall: number;
  jitter: number;
  connectIp?: string;
  connectPort?: number;
  bindto?: string;
  bindPort?: number;
  virtualhost?: string;
  logAllFailures: boolean;
  fastRecovery: boolean;
  /** The plugin's own options, as written (the plugin validates them). */
  options: Record<string, unknown>;
  /** Config path of the checker, for messages (services[0].health). */
  path: string;
}

export interface SlowStart { seconds: number; from: number }

export interface RealHealthSettings {
  checkers: CheckerSettings[];
  inhibitOnFailure: boolean;
  notifyUp?: string[];
  notifyDown?: string[];
  slowStart?: SlowStart;
  lifecycle: 'active' | 'draining' | 'disabled';
  drainDeadline?: number;
  virtualhost?: string;
}

export interface ServiceHealthSettings {
  quorum: number;
  hysteresis: number;
  quorumUp?: string[];
  quorumDown?: string[];
  sorryServer?: DestSpec;
  sorryServerInhibit: boolean;
  alpha: boolean;
  omega: boolean;
  /** Parallel to the service's dests. */
  reals: RealHealthSettings[];
}

/** A scheduled action, resolved. */
export type LifecycleOp =
  | { op: 'drain'; deadline?: number }
  | { op: 'fill'; seconds?: number }
  | { op: 'disable' }
  | { op: 'enable' }
  | { op: 'weight'; weight: number };

export interface ScheduleEntry {
  cron: string;
  timezone?: string;
  name: string;
  service: ServiceKey;
  dest: DestKey;
  action: LifecycleOp;
  /** schedule[3] */
  path: string;
}

/** One service as health is given it: its configured reals and their health settings. */
export interface HealthServiceInput {
  spec: ServiceSpec;
  dests: readonly DestSpec[];
  /** Absent: no checks, default quorum. */
  health?: ServiceHealthSettings;
}

/** What HealthManager.apply takes: every configured service, and the scheduled actions. */
export interface HealthInput {
  services: readonly HealthServiceInput[];
  schedule?: readonly ScheduleEntry[];
}

// ------------------------------------------------------------------ views

export interface CheckerView {
  check: string;
  up: boolean;
  /** Attempts so far. */
  runs: number;
  /** The last attempt: 'ok', or the failure word and reason. */
  last: string;
  /** Why it is down (the deciding failure), '' while up. */
  reason: string;
}

export interface RealHealthView {
  dest: DestKey;
  lifecycle: Lifecycle;
  /** 'unchecked' when it has no checker. */
  health: 'up' | 'down' | 'unchecked';
  /** In the table now, and with which weight (0 when absent). */
  inTable: boolean;
  weight: number;
  /** The configured weight (or the one a scheduled action set) and the effective one (misc_dynamic). */
  configuredWeight: number;
  effectiveWeight: number;
  activeConns: number;
  inactConns: number;
  /** Seconds since the last lifecycle or health change. */
  since: number;
  /** Draining: seconds left before removal, if a deadline is set; filling: seconds left in the ramp. */
  remaining?: number;
  checks: CheckerView[];
}

export interface ServiceHealthView {
  service: ServiceKey;
  quorum: number;
  hysteresis: number;
  quorumUp: boolean;
  /** Σ effective weights of alive, active/filling servers. */
  aliveWeight: number;
  sorryServer?: DestKey;
  sorryActive: boolean;
  reals: RealHealthView[];
}

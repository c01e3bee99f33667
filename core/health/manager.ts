// The checker manager: runs every real server's checkers and drives the
// service table from their verdicts exactly as keepalived drives IPVS
// (shared/spec/keepalived.md §4): a failed server is removed, or set to
// weight 0 with inhibitOnFailure; restored when it recovers; per-service
// quorum with hysteresis, the sorry server while the quorum is lost,
// notify/quorum programs. On top of that, a lifecycle per real server
// (active, filling = slow start, draining, disabled) settable from config.ts,
// the control socket and scheduled actions.
//
// Every table change goes through ServiceTable.addDest/editDest/deleteDest
// with the matching bus event, like any other change. Time comes from an
// injectable Clock so tests run on a virtual one.
//
// Reloads and health do not fight (documented in README "Health checks"):
// the config says which reals exist and their configured settings; health,
// lifecycle and quorum say whether each is in the table and at what weight.
// adjustPlan() drops the config's edits of a real the manager holds out of
// the table (the manager uses the new settings when it puts it back) and
// gives new reals their first state (alpha, lifecycle), so a reload never
// re-adds a failed server and never fails on one.

import type { Bus } from '../bus.js';
import type { HealthChange, Plan, PlanAction } from '../config/diff.js';
import type { DesiredState } from '../config/schema.js';
import { fail, ok, type Result } from '../errors.js';
import type { Logger } from '../log.js';
import type { ChangeSource } from '../model/events.js';
import { sameServiceKey, type ServiceTable } from '../model/table.js';
import {
  destKeyText, serviceKeyText, type DestKey, type DestSpec, type ServiceKey, type ServiceSpec,
} from '../model/types.js';
import type { HealthCheckPlugin, HealthResult, HealthTarget } from '../plugin.js';
import type { PluginRegistry } from '../plugins/loader.js';
import { CheckRunner, type Verdict } from './checker.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { runProgram } from './script.js';
import { pluginOptions } from './options.js';
import type {
  CheckerSettings, Lifecycle, LifecycleOp, RealHealthSettings, RealHealthView, ServiceHealthSettings,
  ServiceHealthView,
} from './types.js';

const MAX_W = 0x7fffffff;
/** The source of the table changes health makes. */
const HEALTH: ChangeSource = { by: 'health' };
/** How often draining reals' connection counts are looked at, ms. */
const DRAIN_POLL_MS = 1000;

export interface HealthManagerDeps {
  table: ServiceTable;
  bus: Bus;
  log: Logger;
  /** The current plugin registry (the daemon replaces it on reload). */
  registry: () => PluginRegistry;
  clock?: Clock;
  random?: () => number;
  /** Runs a notify/quorum program; default: spawn it, log a failure. */
  runScript?: (argv: string[], why: string) => void;
}

const clampW = (w: number): number => Math.max(0, Math.min(MAX_W, Math.round(w)));

/** keepalived's `[IP]:tcp:PORT`. */
function label(proto: string, d: DestKey): string { return `[${d.addr}]:${proto}:${d.port}`; }
function vsLabel(k: ServiceKey): string {
  return k.fwmark > 0 ? `FWM ${k.fwmark}` : label(k.protocol, k);
}

function defaultServiceHealth(n: number): ServiceHealthSettings {
  return {
    quorum: 1, hysteresis: 0, sorryServerInhibit: false, alpha: false, omega: false,
    reals: Array.from({ length: n }, () => ({ checkers: [], inhibitOnFailure: false, lifecycle: 'active' as const })),
  };
}

const NO_CHECKS: RealHealthSettings = { checkers: [], inhibitOnFailure: false, lifecycle: 'active' };

class RealState {
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

class SvcState {
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

export interface LifecycleRequest { service: ServiceKey; dest: DestKey; op: LifecycleOp }

export class HealthManager {
  private readonly services = new Map<string, SvcState>();
  private readonly deps: HealthManagerDeps;
  readonly clock: Clock;
  private readonly random: () => number;
  private drainTimer: TimerHandle | null = null;
  private stopped = false;
  private started = false;

  constructor(deps: HealthManagerDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? systemClock;
    this.random = deps.random ?? Math.random;
  }

  private get log(): Logger { return this.deps.log; }

  // ------------------------------------------------------------ config

  /** A real's first state, before any check: what the table should hold for it. */
  private initialWant(settings: RealHealthSettings, spec: DestSpec, sorryActive: boolean): { present: boolean; weight: number } {
    const alive = settings.checkers.every((k) => !k.alpha);
    if (settings.lifecycle !== 'active' || sorryActive) return { present: false, weight: 0 };
    if (!alive) return settings.inhibitOnFailure ? { present: true, weight: 0 } : { present: false, weight: 0 };
    return { present: true, weight: spec.weight };
  }

  /** Whether a new service starts with its quorum lost (and so with the sorry server). */
  private initialSorry(h: ServiceHealthSettings, dests: DestSpec[]): boolean {
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
   * The config plan as the table should see it given health: edits of reals
   * held out of the table are dropped (the manager re-adds them with the new
   * settings), weights of inhibited/draining/filling reals are the manager's,
   * and new reals enter in their first state (alpha: out or weight 0).
   */
  adjustPlan(plan: Plan, next: DesiredState): Plan {
    const actions: PlanAction[] = [];
    const nextSvc = new Map(next.services.map((s) => [serviceKeyText(s.spec), s]));
    const newSorry = new Map<string, boolean>();
    for (const a of plan.actions) {
      if (a.kind !== 'add-real' && a.kind !== 'edit-real') { actions.push(a); continue; }
      const sk = serviceKeyText(a.service);
      const st = this.services.get(sk);
      const rs = st?.reals.get(destKeyText(a.spec));
      if (a.kind === 'edit-real') {
        if (!st || !rs) { actions.push(a); continue; }
        const live = this.deps.table.find(a.service)?.findDest(a.spec);
        const want = this.want(st, rs);
        if (!live && !want.present) continue;            // held out: the manager has the new spec
        if (a.prev.weight !== a.spec.weight && rs.weightOverride === undefined) {
          const w = this.wantWeight(st, rs, a.spec.weight);
          actions.push({ ...a, spec: { ...a.spec, weight: w } });
        } else actions.push(a);
        continue;
      }
      const ns = nextSvc.get(sk);
      const i = ns ? ns.dests.findIndex((d) => destKeyText(d) === destKeyText(a.spec)) : -1;
      const h = ns?.health?.reals[i] ?? NO_CHECKS;
      let sorry = st?.sorryActive;
      if (sorry === undefined && ns) {
        if (!newSorry.has(sk)) newSorry.set(sk, this.initialSorry(ns.health ?? defaultServiceHealth(ns.dests.length), ns.dests));
        sorry = newSorry.get(sk)!;
      }
      const want = this.initialWant(h, a.spec, sorry ?? false);
      if (!want.present) continue;
      actions.push(want.weight === a.spec.weight ? a : { ...a, spec: { ...a.spec, weight: want.weight } });
    }
    return { ...plan, actions };
  }

  /**
   * Takes a newly applied config: starts checkers of new reals, stops those of
   * removed ones, restarts only those `changes` name, and brings the table in
   * line. `changes` is null for the first config (every real is "present at start").
   */
  apply(next: DesiredState, changes: HealthChange[] | null): void {
    const startup = !this.started;
    this.started = true;
    const now = this.clock.now();
    const restart = new Set((changes ?? []).filter((c) => c.kind === 'checks')
      .map((c) => `${serviceKeyText(c.service)}#${destKeyText((c as { dest: DestKey }).dest)}`));
    const lifecycleChanges = (changes ?? []).filter((c): c is Extract<HealthChange, { kind: 'lifecycle' }> => c.kind === 'lifecycle');
    const seen = new Set<string>();
    for (const s of next.services) {
      const sk = serviceKeyText(s.spec);
      seen.add(sk);
      const settings = s.health ?? defaultServiceHealth(s.dests.length);
      let st = this.services.get(sk);
      const fresh = !st;
      if (!st) { st = new SvcState(s.spec, settings); this.services.set(sk, st); }
      st.settings = settings;
      const keep = new Set<string>();
      s.dests.forEach((d, i) => {
        const k = destKeyText(d);
        keep.add(k);
        const rh = settings.reals[i] ?? NO_CHECKS;
        let rs = st.reals.get(k);
        if (!rs) {
          rs = new RealState(d, rh, now, true);
          rs.lifecycle = rh.lifecycle;
          if (rh.lifecycle === 'draining') rs.lifecycle = 'disabled';   // new: nothing to drain
          st.reals.set(k, rs);
          this.startCheckers(st, rs, { startup, up: undefined });
          rs.alive = rs.checkers.every((c) => c.up);
          return;
        }
        if (rs.spec.weight !== d.weight) rs.weightOverride = undefined;
        rs.spec = { ...d };
        rs.configured = true;
        const oldSettings = rs.settings;
        rs.settings = rh;
        if (restart.has(`${sk}#${k}`) || (oldSettings.checkers.length !== rh.checkers.length && changes === null)) {
          for (const c of rs.checkers) c.stop();
          this.startCheckers(st, rs, { startup: false, up: rs.alive });
        }
      });
      // Reals the config no longer has are gone from the table (plan); adopted ones stay while in the table.
      for (const [k, rs] of st.reals) {
        if (keep.has(k)) continue;
        if (!rs.configured && this.deps.table.find(st.key)?.findDest(rs.spec)) continue;
        this.dropReal(rs);
        st.reals.delete(k);
      }
      let total = 0;
      for (const rs of st.reals.values()) total += rs.configuredWeight;
      st.quorum = settings.quorum;
      if (settings.quorum > total && total > 0) {
        st.quorum = total;
        if (fresh || changes?.some((c) => c.kind === 'settings' && sameServiceKey(c.service, st.key))) {
          this.log.warn(`quorum ${settings.quorum} of VS ${vsLabel(st.key)} is above the total weight ${total}: using ${total}`);
        }
      }
      if (fresh) {
        const sum = this.aliveWeight(st);
        if (sum > 0 && sum >= st.quorum + settings.hysteresis) this.gainQuorum(st, sum);
        else st.sorryActive = !!settings.sorryServer;    // lost from the start: silently (keepalived alpha)
      }
    }
    for (const [sk, st] of this.services) {
      if (seen.has(sk)) continue;
      for (const rs of st.reals.values()) this.dropReal(rs);
      this.services.delete(sk);
    }
    for (const c of lifecycleChanges) {
      const to = c.to as RealHealthSettings['lifecycle'];
      const op: LifecycleOp = to === 'draining' ? { op: 'drain' } : to === 'disabled' ? { op: 'disable' } : { op: 'enable' };
      const r = this.lifecycle({ service: c.service, dest: c.dest, op }, 'config');
      if (!r.ok) this.log.warn(`lifecycle from config: ${r.error.message}`);
    }
    for (const st of this.services.values()) {
      this.updateQuorum(st);
      this.syncService(st, 'config');
    }
  }

  private startCheckers(st: SvcState, rs: RealState, init: { startup: boolean; up: boolean | undefined }): void {
    rs.checkers = [];
    const reg = this.deps.registry();
    for (const k of rs.settings.checkers) {
      const plugin = reg.get('health', k.check)?.plugin as HealthCheckPlugin<unknown> | undefined;
      if (!plugin) { this.log.error(`${k.path}: no health check plugin "${k.check}"; ${destKeyText(rs.spec)} is not checked`); continue; }
      const o = pluginOptions(plugin, k.options);
      if (!o.ok) { this.log.error(`${k.path}${o.field ? `.${o.field}` : ''}: ${o.error}`); continue; }
      const c = new CheckRunner(k, plugin, o.value, this.target(st, rs, k), {
        clock: this.clock, random: this.random,
        onAttempt: (cr, r) => this.onAttempt(st, rs, cr, r),
        onVerdict: (cr, v) => this.onVerdict(st, rs, cr, v),
        onError: (cr, what, e) => this.log.error(`${k.path}: ${cr.plugin.name} check of ${cr.target.label} (VS ${vsLabel(st.key)}): ${what} threw: ${e instanceof Error ? e.message : String(e)}`),
      }, { startup: init.startup, up: init.up ?? !k.alpha });
      rs.checkers.push(c);
      if (!this.stopped) c.start();
    }
  }

  private target(st: SvcState, rs: RealState, k: CheckerSettings): HealthTarget {
    const addr = k.connectIp ?? rs.spec.addr;
    const family = addr.includes(':') ? 'inet6' : 'inet';
    const port = k.connectPort ?? (rs.spec.port || st.key.port);
    const t: { -readonly [K in keyof HealthTarget]: HealthTarget[K] } = {
      family, addr, port, protocol: st.key.protocol, weight: rs.spec.weight,
      label: label(st.key.protocol, { family, addr, port }),
    };
    if (k.bindto) t.bindto = k.bindto;
    if (k.bindPort) t.bindPort = k.bindPort;
    const vh = k.virtualhost ?? rs.settings.virtualhost;
    if (vh) t.virtualhost = vh;
    return t;
  }

  private dropReal(rs: RealState): void {
    for (const c of rs.checkers) c.stop();
    rs.checkers = [];
    if (rs.fill?.timer) this.clock.clearTimeout(rs.fill.timer);
    rs.fill = null;
    rs.drain = null;
  }

  // ------------------------------------------------------------ verdicts

  private onAttempt(st: SvcState, rs: RealState, c: CheckRunner, r: HealthResult): void {
    if (!r.ok && c.settings.logAllFailures) {
      this.log.info(`${c.plugin.name.toUpperCase()} check of ${c.target.label} (VS ${vsLabel(st.key)}) failed: ${r.failure}: ${r.reason}`);
    }
  }

  private onVerdict(st: SvcState, rs: RealState, c: CheckRunner, v: Verdict): void {
    const name = `${c.plugin.name.toUpperCase()}_CHECK`;
    if (v.changed && !v.up) {
      const r = v.result as Extract<HealthResult, { ok: false }>;
      const after = v.retries > 0 ? `after ${v.retries} retries` : c.timing.retry === 0 ? 'with retry disabled' : '';
      if (!v.result.ok) this.log.warn(`${name} on service ${c.target.label} of VS ${vsLabel(st.key)} failed${after ? ` ${after}` : ''} (${r.failure}: ${r.reason}).`);
    } else if (v.changed && v.up) {
      this.log.info(`${name} on service ${c.target.label} of VS ${vsLabel(st.key)} succeeded.`);
    }
    const wasAlive = rs.alive;
    const alive = rs.checkers.every((x) => x.up);
    const beforeW = this.aliveWeight(st);
    if (alive !== wasAlive) {
      rs.alive = alive;
      rs.since = this.clock.now();
      const why = alive ? `${c.plugin.name}: ok` : c.reason;
      this.deps.bus.emit('dest.health', { service: st.key, dest: rs.spec, up: alive, reason: why });
      const cmd = alive ? rs.settings.notifyUp : rs.settings.notifyDown;
      if (cmd) this.run(cmd, `notify_${alive ? 'up' : 'down'} of ${destKeyText(rs.spec)}`);
      // A server coming back ramps up when slow start is configured.
      if (alive && rs.lifecycle === 'active' && rs.settings.slowStart) this.startFill(st, rs, rs.settings.slowStart.seconds, 'recovered');
      this.syncReal(st, rs, 'health');
    } else if (rs.alive) {
      this.syncReal(st, rs, 'weight');   // a dynamic weight may have changed
    }
    if (this.aliveWeight(st) !== beforeW || alive !== wasAlive) this.updateQuorum(st);
  }

  // ------------------------------------------------------------ quorum (§4.3)

  private counts(rs: RealState): boolean { return rs.alive && (rs.lifecycle === 'active' || rs.lifecycle === 'filling'); }

  private aliveWeight(st: SvcState): number {
    let sum = 0;
    for (const rs of st.reals.values()) if (this.counts(rs)) sum += rs.effectiveWeight;
    return sum;
  }

  private gainQuorum(st: SvcState, sum: number): void {
    const h = st.settings.hysteresis;
    st.quorumUp = true;
    this.log.info(`Gained quorum ${st.quorum}+${h}=${st.quorum + h} <= ${sum} for VS ${vsLabel(st.key)}`);
    if (st.sorryActive) {
      st.sorryActive = false;
      this.log.info(`Removing sorry server ${st.settings.sorryServer ? label(st.key.protocol, st.settings.sorryServer) : ''} from VS ${vsLabel(st.key)}`);
      this.log.info(`Adding alive servers to the pool for VS ${vsLabel(st.key)}`);
    }
    this.deps.bus.emit('service.quorum', { service: st.key, up: true, aliveWeight: sum, sorryActive: false });
    if (st.settings.quorumUp) this.run(st.settings.quorumUp, `quorum_up of ${vsLabel(st.key)}`);
  }

  private updateQuorum(st: SvcState): void {
    const sum = this.aliveWeight(st);
    const { hysteresis: h } = st.settings;
    const wasSorry = st.sorryActive;
    if (!st.quorumUp && sum > 0 && sum >= st.quorum + h) {
      this.gainQuorum(st, sum);
    } else if (st.quorumUp && (sum === 0 || sum < st.quorum - h)) {
      st.quorumUp = false;
      this.log.warn(`Lost quorum ${st.quorum}-${h}=${st.quorum - h} > ${sum} for VS ${vsLabel(st.key)}`);
      if (st.settings.sorryServer && !st.sorryActive) {
        st.sorryActive = true;
        this.log.info(`Adding sorry server ${label(st.key.protocol, st.settings.sorryServer)} to VS ${vsLabel(st.key)}`);
        this.log.info(`Removing alive servers from the pool for VS ${vsLabel(st.key)}`);
      }
      this.deps.bus.emit('service.quorum', { service: st.key, up: false, aliveWeight: sum, sorryActive: st.sorryActive });
      if (st.settings.quorumDown) this.run(st.settings.quorumDown, `quorum_down of ${vsLabel(st.key)}`);
    }
    if (!st.settings.sorryServer) st.sorryActive = false;
    if (wasSorry !== st.sorryActive) this.syncService(st, 'quorum');
  }

  // ------------------------------------------------------------ the table

  /** The weight a present real gets, given a configured weight. */
  private wantWeight(st: SvcState, rs: RealState, configured?: number): number {
    let w = configured === undefined ? rs.effectiveWeight : clampW(configured + rs.effectiveWeight - rs.configuredWeight);
    if (!rs.alive || rs.lifecycle === 'draining') return 0;
    if (rs.lifecycle === 'filling' && rs.fill) {
      const p = Math.min(1, (this.clock.now() - rs.fill.start) / (rs.fill.seconds * 1000));
      const f = rs.fill.from + (1 - rs.fill.from) * p;
      const ramped = Math.round(w * f);
      w = ramped === 0 && w > 0 && rs.fill.from > 0 ? 1 : ramped;
    }
    void st;
    return w;
  }

  private want(st: SvcState, rs: RealState): { present: boolean; weight: number } {
    if (rs.lifecycle === 'disabled' || st.sorryActive) return { present: false, weight: 0 };
    if (!rs.alive) return rs.settings.inhibitOnFailure ? { present: true, weight: 0 } : { present: false, weight: 0 };
    if (rs.lifecycle === 'draining') {
      const live = this.deps.table.find(st.key)?.findDest(rs.spec);
      return live ? { present: true, weight: 0 } : { present: false, weight: 0 };
    }
    return { present: true, weight: this.wantWeight(st, rs) };
  }

  private syncService(st: SvcState, why: string): void {
    for (const rs of st.reals.values()) this.syncReal(st, rs, why);
    this.syncSorry(st);
  }

  /** Brings one real's table entry in line with what health, lifecycle and quorum want. */
  private syncReal(st: SvcState, rs: RealState, why: string): void {
    const table = this.deps.table;
    const svc = table.find(st.key);
    if (!svc) return;
    const live = svc.findDest(rs.spec);
    const want = this.want(st, rs);
    const rl = label(st.key.protocol, rs.spec);
    const vl = vsLabel(st.key);
    if (!want.present) {
      if (!live) return;
      const r = table.deleteDest(st.key, rs.spec, HEALTH);
      if (!r.ok) { this.log.error(`cannot remove ${rl} from VS ${vl}: ${r.error.message}`); return; }
      this.log.info(`Removing service ${rl} from VS ${vl} (${why})`);
      return;
    }
    if (!live) {
      const r = table.addDest(st.key, { ...rs.spec, weight: want.weight }, HEALTH);
      if (!r.ok) { this.log.error(`cannot add ${rl} to VS ${vl}: ${r.error.message}`); return; }
      this.log.info(`Adding service ${rl} to VS ${vl}${want.weight !== rs.spec.weight ? ` with weight ${want.weight}` : ''} (${why})`);
      return;
    }
    if (live.spec.weight === want.weight) return;
    const from = live.spec.weight;
    const r = table.editDest(st.key, { ...live.spec, weight: want.weight }, HEALTH);
    if (!r.ok) { this.log.error(`cannot set the weight of ${rl} in VS ${vl}: ${r.error.message}`); return; }
    if (want.weight === 0 && !rs.alive) this.log.info(`Disabling service ${rl} of VS ${vl} (${why})`);
    else if (from === 0 && rs.alive && rs.lifecycle === 'active') this.log.info(`Enabling service ${rl} of VS ${vl} (${why})`);
    else if (why !== 'slow start') this.log.info(`Changing weight from ${from} to ${want.weight} for active service ${rl} of VS ${vl} (${why})`);
  }

  private syncSorry(st: SvcState): void {
    const table = this.deps.table;
    if (!table.find(st.key)) return;
    const sorry = st.settings.sorryServer;
    const vl = vsLabel(st.key);
    // A sorry server that the config changed or dropped leaves first.
    if (st.sorryInTable && (!sorry || destKeyText(sorry) !== destKeyText(st.sorryInTable))) {
      table.deleteDest(st.key, st.sorryInTable, HEALTH);
      st.sorryInTable = null;
    }
    if (!sorry) return;
    const want = st.sorryActive ? sorry.weight : st.settings.sorryServerInhibit ? 0 : -1;
    const live = table.find(st.key)?.findDest(sorry);
    if (want < 0) {
      if (live) table.deleteDest(st.key, sorry, HEALTH);
      st.sorryInTable = null;
      return;
    }
    if (!live) {
      const r = table.addDest(st.key, { ...sorry, weight: want }, HEALTH);
      if (!r.ok) { this.log.error(`cannot add sorry server ${label(st.key.protocol, sorry)} to VS ${vl}: ${r.error.message}`); return; }
    } else if (live.spec.weight !== want) {
      table.editDest(st.key, { ...live.spec, weight: want }, HEALTH);
    }
    st.sorryInTable = { ...sorry };
  }

  // ------------------------------------------------------------ lifecycle

  private setLifecycle(st: SvcState, rs: RealState, to: Lifecycle, reason: string): void {
    const from = rs.lifecycle;
    if (from === to) return;
    rs.lifecycle = to;
    rs.since = this.clock.now();
    if (to !== 'filling' && rs.fill) { if (rs.fill.timer) this.clock.clearTimeout(rs.fill.timer); rs.fill = null; }
    if (to !== 'draining') rs.drain = null;
    this.log.info(`real server ${destKeyText(rs.spec)} of VS ${vsLabel(st.key)}: ${from} -> ${to} (${reason})`);
    this.deps.bus.emit('dest.lifecycle', { service: st.key, dest: rs.spec, from, to, reason });
  }

  private startFill(st: SvcState, rs: RealState, seconds: number | undefined, reason: string): void {
    const secs = seconds ?? rs.settings.slowStart?.seconds;
    if (!secs) { this.setLifecycle(st, rs, 'active', reason); this.syncReal(st, rs, reason); return; }
    if (rs.fill?.timer) this.clock.clearTimeout(rs.fill.timer);
    rs.fill = { start: this.clock.now(), seconds: secs, from: rs.settings.slowStart?.from ?? 0.1, timer: null };
    this.setLifecycle(st, rs, 'filling', reason);
    const stepMs = Math.max(100, Math.min(1000, (secs * 1000) / 20));
    const tick = (): void => {
      if (!rs.fill || rs.lifecycle !== 'filling') return;
      rs.fill.timer = null;
      if (this.clock.now() - rs.fill.start >= rs.fill.seconds * 1000) {
        this.setLifecycle(st, rs, 'active', 'slow start done');
        this.syncReal(st, rs, 'slow start');
        return;
      }
      this.syncReal(st, rs, 'slow start');
      rs.fill.timer = this.clock.setTimeout(tick, stepMs);
    };
    this.syncReal(st, rs, 'slow start');
    rs.fill.timer = this.clock.setTimeout(tick, stepMs);
  }

  private armDrainPoll(): void {
    if (this.drainTimer || this.stopped) return;
    this.drainTimer = this.clock.setTimeout(() => {
      this.drainTimer = null;
      if (this.pollDrains()) this.armDrainPoll();
    }, DRAIN_POLL_MS);
  }

  /** Removes draining reals whose connections are gone or whose deadline passed; true while some still drain. */
  pollDrains(): boolean {
    let more = false;
    const now = this.clock.now();
    for (const st of this.services.values()) {
      for (const rs of st.reals.values()) {
        if (rs.lifecycle !== 'draining' || !rs.drain) continue;
        const live = this.deps.table.find(st.key)?.findDest(rs.spec);
        const conns = live ? live.activeConns + live.inactConns : 0;
        const late = rs.drain.deadline !== undefined && now - rs.drain.start >= rs.drain.deadline * 1000;
        if (conns === 0 || late) {
          this.setLifecycle(st, rs, 'disabled', conns === 0 ? 'drained: no connections left' : `drain deadline of ${rs.drain.deadline} s reached with ${conns} connections`);
          this.syncReal(st, rs, 'drained');
        } else more = true;
      }
    }
    return more;
  }

  /** drain / fill / disable / enable / weight on one real (control socket, schedule, config). */
  lifecycle(req: LifecycleRequest, source: string): Result<RealHealthView> {
    const st = [...this.services.values()].find((s) => sameServiceKey(s.key, req.service));
    if (!st) return fail('ESRCH', `no service ${serviceKeyText(req.service)}`);
    let rs = st.reals.get(destKeyText(req.dest));
    if (!rs) {
      // A real added at run time (lvsadm -a) is adopted, unchecked.
      const live = this.deps.table.find(st.key)?.findDest(req.dest);
      if (!live) return fail('ENOENT', `no real server ${destKeyText(req.dest)} in ${serviceKeyText(st.key)}`);
      rs = new RealState(live.spec, NO_CHECKS, this.clock.now(), false);
      st.reals.set(destKeyText(req.dest), rs);
    }
    const op = req.op;
    const why = `${op.op} from ${source}`;
    switch (op.op) {
      case 'drain': {
        if (rs.lifecycle === 'disabled') return fail('EINVAL', `${destKeyText(rs.spec)} is disabled: nothing to drain`);
        const deadline = op.deadline ?? rs.settings.drainDeadline;
        rs.drain = deadline === undefined ? { start: this.clock.now() } : { start: this.clock.now(), deadline };
        this.setLifecycle(st, rs, 'draining', why);
        this.syncReal(st, rs, why);
        this.pollDrains();
        this.armDrainPoll();
        break;
      }
      case 'fill':
        if (op.seconds === undefined && !rs.settings.slowStart) this.setLifecycle(st, rs, 'active', why);
        else this.startFill(st, rs, op.seconds, why);
        break;
      case 'disable':
        this.setLifecycle(st, rs, 'disabled', why);
        break;
      case 'enable':
        if (rs.lifecycle === 'disabled' || rs.lifecycle === 'draining') {
          if (rs.settings.slowStart) this.startFill(st, rs, undefined, why);
          else this.setLifecycle(st, rs, 'active', why);
        }
        break;
      case 'weight':
        rs.weightOverride = op.weight;
        this.log.info(`real server ${destKeyText(rs.spec)} of VS ${vsLabel(st.key)}: weight ${op.weight} (${why})`);
        break;
    }
    this.syncReal(st, rs, why);
    this.updateQuorum(st);
    return ok(this.realView(st, rs));
  }

  // ------------------------------------------------------------ views

  private realView(st: SvcState, rs: RealState): RealHealthView {
    const live = this.deps.table.find(st.key)?.findDest(rs.spec);
    const now = this.clock.now();
    const v: RealHealthView = {
      dest: { family: rs.spec.family, addr: rs.spec.addr, port: rs.spec.port },
      lifecycle: rs.lifecycle,
      health: rs.checkers.length === 0 ? 'unchecked' : rs.alive ? 'up' : 'down',
      inTable: live !== undefined,
      weight: live?.weight ?? 0,
      configuredWeight: rs.configuredWeight,
      effectiveWeight: rs.effectiveWeight,
      activeConns: live?.activeConns ?? 0,
      inactConns: live?.inactConns ?? 0,
      since: Math.max(0, Math.round((now - rs.since) / 1000)),
      checks: rs.checkers.map((c) => ({ check: c.plugin.name, up: c.up, runs: c.runs, last: c.last, reason: c.reason })),
    };
    if (rs.lifecycle === 'draining' && rs.drain?.deadline !== undefined) {
      v.remaining = Math.max(0, Math.ceil(rs.drain.deadline - (now - rs.drain.start) / 1000));
    } else if (rs.lifecycle === 'filling' && rs.fill) {
      v.remaining = Math.max(0, Math.ceil(rs.fill.seconds - (now - rs.fill.start) / 1000));
    }
    return v;
  }

  /** Per-service health views (all services, or one). */
  views(service?: ServiceKey): ServiceHealthView[] {
    const out: ServiceHealthView[] = [];
    for (const st of this.services.values()) {
      if (service && !sameServiceKey(st.key, service)) continue;
      const v: ServiceHealthView = {
        service: st.key, quorum: st.quorum, hysteresis: st.settings.hysteresis, quorumUp: st.quorumUp,
        aliveWeight: this.aliveWeight(st), sorryActive: st.sorryActive,
        reals: [...st.reals.values()].map((rs) => this.realView(st, rs)),
      };
      const s = st.settings.sorryServer;
      if (s) v.sorryServer = { family: s.family, addr: s.addr, port: s.port };
      out.push(v);
    }
    return out;
  }

  /** Resolves when no check is in flight (tests: between virtual clock steps). */
  async idle(): Promise<void> {
    for (;;) {
      const busy = [...this.services.values()].flatMap((s) => [...s.reals.values()]).flatMap((r) => r.checkers).filter((c) => c.busy());
      if (busy.length === 0) return;
      await Promise.all(busy.map((c) => c.idle()));
    }
  }

  // ------------------------------------------------------------ programs, stop

  private run(argv: string[], why: string): void {
    if (this.deps.runScript) { this.deps.runScript(argv, why); return; }
    runProgram(argv).then((r) => {
      if (r.error || r.status !== 0) this.log.warn(`${why}: ${argv.join(' ')} ${r.error ?? `exited with status ${r.status ?? r.signal}`}`);
    }, (e: unknown) => {
      // runProgram resolves with an error result; this only guards against a future regression.
      this.log.warn(`${why}: ${argv.join(' ')} ${e instanceof Error ? e.message : String(e)}`);
    });
  }

  /** Stops every checker; with omega, runs quorum_down and the notify_down of alive servers (§2.2). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.drainTimer) this.clock.clearTimeout(this.drainTimer);
    this.drainTimer = null;
    for (const st of this.services.values()) {
      for (const rs of st.reals.values()) {
        if (st.settings.omega && rs.alive && rs.settings.notifyDown) this.run(rs.settings.notifyDown, `notify_down of ${destKeyText(rs.spec)} (omega)`);
        this.dropReal(rs);
      }
      if (st.settings.omega && st.quorumUp && st.settings.quorumDown) this.run(st.settings.quorumDown, `quorum_down of ${vsLabel(st.key)} (omega)`);
    }
  }

  /** The service key of a configured service (for schedule and control lookups). */
  serviceOf(spec: ServiceSpec): ServiceKey | undefined {
    return [...this.services.values()].find((s) => sameServiceKey(s.key, spec))?.key;
  }
}

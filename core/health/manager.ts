// The checker manager: runs every real server's checkers and drives the
// service table from their verdicts exactly as keepalived drives IPVS
// (shared/spec/keepalived.md §4): a failed server is removed, or set to
// weight 0 with inhibitOnFailure; restored when it recovers; per-service
// quorum with hysteresis and the sorry server while it is lost (quorum.ts,
// sorry.ts), notify/quorum programs; a lifecycle per real server (active,
// filling = slow start, draining, disabled: lifecycle.ts) settable from
// config.ts, the control socket and scheduled actions. This file wires them.
//
// Health is a follower of the table like any other: it changes the table only
// through its operations (source 'health'; 'schedule' etc. when asked by
// them), and it learns of the config's changes from the table's own events.
// Time comes from an injectable Clock so tests run on a virtual one.
//
// Reloads and health do not fight (README "Health checks"): the config says
// which reals exist and their settings; health, lifecycle and quorum say
// whether each is in the table and at what weight. The config plan is applied
// as written; when it adds a real health holds out (alpha, disabled or
// draining, the sorry server is in) or sets the weight of a real whose weight
// is health's (inhibited, draining, filling), health corrects it in the same
// dispatch, so the data plane sees both in one batch. An edit of a real that
// is out of the table is skipped by applyPlan; apply() keeps its new settings
// for when health puts it back.

import type { Bus, BusEvents } from '../bus.js';
import { fail, ok, type Result } from '../errors.js';
import type { Logger } from '../log.js';
import type { ChangeSource } from '../model/events.js';
import { sameServiceKey, type ServiceTable } from '../model/table.js';
import { destKeyText, serviceKeyText, type DestKey, type ServiceKey, type ServiceSpec } from '../model/types.js';
import type { HealthCheckPlugin, HealthResult, HealthTarget } from '../plugin.js';
import type { PluginRegistry } from '../plugins/loader.js';
import { healthChanges, sameServiceInput, type HealthChange } from './changes.js';
import { CheckRunner, type Verdict } from './checker.js';
import { systemClock, type Clock } from '../clock.js';
import { applyLifecycleOp, DrainWatch, startFill } from './lifecycle.js';
import { pluginOptions } from './options.js';
import { initialWant, want, wantWeight, type Placement } from './placement.js';
import { aliveWeight, clampQuorum, initialSorry, startQuorum, updateQuorum } from './quorum.js';
import { runProgram } from './script.js';
import { syncSorry } from './sorry.js';
import {
  defaultServiceHealth, HEALTH, label, NO_CHECKS, RealState, SvcState, vsLabel, type HealthContext,
} from './state.js';
import type {
  CheckerSettings, HealthInput, HealthServiceInput, LifecycleOp, RealHealthSettings, RealHealthView, ServiceHealthView,
} from './types.js';

export interface HealthManagerDeps {
  table: ServiceTable;
  /** The bus the table announces its changes on (health follows them) and health announces its own. */
  bus: Bus;
  log: Logger;
  /** The current plugin registry (the daemon replaces it on reload). */
  registry: () => PluginRegistry;
  clock?: Clock;
  random?: () => number;
  /** Runs a notify/quorum program; default: spawn it, log a failure. */
  runScript?: (argv: string[], why: string) => void;
}

export interface LifecycleRequest { service: ServiceKey; dest: DestKey; op: LifecycleOp }

/** A service of the config being applied, for the table events it causes. */
interface Incoming {
  svc: HealthServiceInput;
  /** destKeyText → index in svc.dests (and svc.health.reals); built at the service's first added real. */
  index?: Map<string, number>;
  /** Whether a new service starts with its quorum lost (computed at its first added real). */
  sorry?: boolean;
}

export class HealthManager {
  private readonly services = new Map<string, SvcState>();
  private readonly deps: HealthManagerDeps;
  readonly clock: Clock;
  private readonly random: () => number;
  private readonly ctx: HealthContext;
  private readonly drains: DrainWatch;
  private readonly unsubscribe: (() => void)[];
  /** The last applied input (to tell what changed). */
  private input: HealthInput | null = null;
  /** The config being applied to the table right now (whileApplying), by service key text; built at its first added real. */
  private incomingMap: Map<string, Incoming> | null = null;
  private incomingInput: HealthInput | null = null;
  /** The last applied input's services by key text. */
  private inputByKey: Map<string, HealthServiceInput> | null = null;
  private stopped = false;

  constructor(deps: HealthManagerDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? systemClock;
    this.random = deps.random ?? Math.random;
    this.ctx = {
      table: deps.table, bus: deps.bus, log: deps.log, clock: this.clock,
      run: (argv, why) => this.run(argv, why),
      syncReal: (st, rs, why, source) => this.syncReal(st, rs, why, source),
      syncService: (st, why, source) => this.syncService(st, why, source),
    };
    this.drains = new DrainWatch(this.ctx, () => this.services.values());
    this.unsubscribe = [
      deps.bus.on('dest.added', (ev) => this.onConfigDest(ev)),
      deps.bus.on('dest.changed', (ev) => this.onConfigDest(ev)),
    ];
  }

  private get log(): Logger { return this.deps.log; }

  // ------------------------------------------------------------ config

  /**
   * Runs `applyConfig` (the config plan going into the table) with `next` at
   * hand, so health can place each real the config adds in its first state
   * (alpha, lifecycle, sorry server) as its event arrives.
   */
  whileApplying<T>(next: HealthInput, applyConfig: () => T): T {
    this.incomingInput = next;
    try {
      return applyConfig();
    } finally {
      this.incomingInput = null;
      this.incomingMap = null;
    }
  }

  /**
   * Where health wants a real of the running config that is not in the table
   * (a reload re-asserting the file asks before putting one back); undefined
   * when health does not follow it (not a configured real of a known service).
   */
  placement(service: ServiceKey, dest: DestKey): Placement | undefined {
    const st = this.services.get(serviceKeyText(service));
    const rs = st?.reals.get(destKeyText(dest));
    if (!st || !rs?.configured) return undefined;
    return want(st, rs, false, this.clock.now());
  }

  /** The config being applied, by service key (a reload that adds no real never needs it). */
  private get incoming(): Map<string, Incoming> | null {
    if (!this.incomingInput) return null;
    this.incomingMap ??= new Map(this.incomingInput.services.map((svc) => [serviceKeyText(svc.spec), { svc }]));
    return this.incomingMap;
  }

  /**
   * The config's changes to reals, as the table announces them. Only the
   * config's: what an operator does with lvsadm stands until the real's next
   * transition (keepalived does the same), and a rollback restores exactly.
   */
  private onConfigDest(ev: BusEvents['dest.added'] | BusEvents['dest.changed']): void {
    if (ev.source.by !== 'config' || ev.source.name === 'rollback') return;
    const sk = serviceKeyText(ev.service);
    const st = this.services.get(sk);
    const inc = ev.type === 'dest.added' ? this.incoming?.get(sk) : undefined;
    // A new service with no health settings (no checks, lifecycle or sorry server)
    // keeps its reals as written: the common case, 100 000 times at a large start.
    if (ev.type === 'dest.added' && (!inc || (!st && inc.svc.health === undefined))) return;
    const dk = destKeyText(ev.dest);
    const rs = st?.reals.get(dk);
    let p: Placement;
    if (ev.type === 'dest.added') {
      // A real of the running config is not new (e.g. a service re-added): only new reals get a first state.
      if (rs?.configured || !inc) return;
      inc.index ??= new Map(inc.svc.dests.map((d, j) => [destKeyText(d), j]));
      const i = inc.index.get(dk);
      if (i === undefined) return;
      let sorry = st?.sorryActive;
      if (sorry === undefined) sorry = inc.sorry ??= initialSorry(inc.svc.health ?? defaultServiceHealth(inc.svc.dests.length), inc.svc.dests);
      p = initialWant(inc.svc.health?.reals[i] ?? NO_CHECKS, ev.dest, sorry);
    } else {
      // The config changed the weight of a real whose weight is health's (inhibited, draining, filling, dynamic).
      if (!st || !rs || ev.prev.weight === ev.dest.weight) return;
      const now = this.clock.now();
      if (!want(st, rs, true, now).present) return;   // not health's to place now: apply() settles it
      p = { present: true, weight: wantWeight(rs, now, ev.dest.weight) };
    }
    const table = this.deps.table;
    // built only when a line is logged: 100 000 reals come through here at start
    const rl = (): string => `${label(ev.service.protocol, ev.dest)} of VS ${vsLabel(ev.service)}`;
    if (!p.present) {
      const r = table.deleteDest(ev.service, ev.dest, HEALTH);
      if (!r.ok) this.log.error(`cannot keep ${rl()} out of the table: ${r.error.message}`);
      else this.log.debug(`config added ${rl()}: health holds it out until it is up and active`);
    } else if (p.weight !== ev.dest.weight) {
      const r = table.editDest(ev.service, { ...ev.dest, weight: p.weight }, HEALTH);
      if (!r.ok) this.log.error(`cannot set the weight of ${rl()}: ${r.error.message}`);
      else this.log.debug(`config set ${rl()} to weight ${ev.dest.weight}: health's weight is ${p.weight}`);
    }
  }

  /**
   * Takes a newly applied config (its changes already in the table): starts
   * checkers of new reals, stops those of removed ones, restarts only those
   * whose checker settings changed, and brings the table in line. Returns
   * what changed in health's settings since the last apply (none the first time).
   * `touched`: when given, the only services (serviceKeyText) whose table entries
   * changed since the table was last in line with health (the reload's plan,
   * nothing else having changed the table); a service unchanged in the config
   * and not among them is left as it is, instead of being checked real by real.
   */
  apply(next: HealthInput, touched?: ReadonlySet<string>): HealthChange[] {
    const startup = this.input === null;
    const before = this.inputByKey;
    const byKey = new Map<string, HealthServiceInput>();
    // Services unchanged in the config (most, on a reload): their reals, checkers and settings stay as they are.
    const same = new Set<HealthServiceInput>();
    const keys: string[] = [];
    for (const s of next.services) {
      const sk = serviceKeyText(s.spec);
      keys.push(sk);
      byKey.set(sk, s);
      const old = before?.get(sk);
      if (old && (old === s || sameServiceInput(old, s))) same.add(s);
    }
    const changes = startup ? null : healthChanges(this.input, next, before ?? undefined, same);
    this.input = next;
    this.inputByKey = byKey;
    const now = this.clock.now();
    const restart = new Set((changes ?? []).filter((c) => c.kind === 'checks')
      .map((c) => `${serviceKeyText(c.service)}#${destKeyText((c as { dest: DestKey }).dest)}`));
    const lifecycleChanges = (changes ?? []).filter((c): c is Extract<HealthChange, { kind: 'lifecycle' }> => c.kind === 'lifecycle');
    for (const [i, s] of next.services.entries()) {
      const sk = keys[i]!;
      let st = this.services.get(sk);
      if (st && same.has(s)) {
        // Adopted reals gone from the table are forgotten, as below.
        this.dropGoneAdopted(st);
        clampQuorum(st);
        continue;
      }
      const settings = s.health ?? defaultServiceHealth(s.dests.length);
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
      if (clampQuorum(st) && (fresh || changes?.some((c) => c.kind === 'settings' && sameServiceKey(c.service, st.key)))) {
        this.log.warn(`quorum ${settings.quorum} of VS ${vsLabel(st.key)} is above the total weight ${st.quorum}: using ${st.quorum}`);
      }
      if (fresh) startQuorum(this.ctx, st);
    }
    for (const [sk, st] of this.services) {
      if (byKey.has(sk)) continue;
      for (const rs of st.reals.values()) this.dropReal(rs);
      this.services.delete(sk);
    }
    for (const c of lifecycleChanges) {
      const to = c.to as RealHealthSettings['lifecycle'];
      const op: LifecycleOp = to === 'draining' ? { op: 'drain' } : to === 'disabled' ? { op: 'disable' } : { op: 'enable' };
      const r = this.lifecycle({ service: c.service, dest: c.dest, op }, 'config');
      if (!r.ok) this.log.warn(`lifecycle from config: ${r.error.message}`);
    }
    for (const [sk, st] of this.services) {
      if (touched && !touched.has(sk) && same.has(byKey.get(sk)!)) continue;
      updateQuorum(this.ctx, st);
      this.syncService(st, 'config', HEALTH);
    }
    return changes ?? [];
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

  /** Forgets the adopted reals (a lifecycle request for a real lvsadm added) that have left the table. */
  private dropGoneAdopted(st: SvcState): void {
    for (const [k, rs] of st.reals) {
      if (rs.configured || this.deps.table.find(st.key)?.findDest(rs.spec)) continue;
      this.dropReal(rs);
      st.reals.delete(k);
    }
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
    const beforeW = aliveWeight(st);
    if (alive !== wasAlive) {
      rs.alive = alive;
      rs.since = this.clock.now();
      const why = alive ? `${c.plugin.name}: ok` : c.reason;
      this.deps.bus.emit('dest.health', { service: st.key, dest: rs.spec, up: alive, reason: why });
      const cmd = alive ? rs.settings.notifyUp : rs.settings.notifyDown;
      if (cmd) this.run(cmd, `notify_${alive ? 'up' : 'down'} of ${destKeyText(rs.spec)}`);
      // A server coming back ramps up when slow start is configured.
      if (alive && rs.lifecycle === 'active' && rs.settings.slowStart) startFill(this.ctx, st, rs, rs.settings.slowStart.seconds, 'recovered');
      this.syncReal(st, rs, 'health', HEALTH);
    } else if (rs.alive) {
      this.syncReal(st, rs, 'weight', HEALTH);   // a dynamic weight may have changed
    }
    if (aliveWeight(st) !== beforeW || alive !== wasAlive) updateQuorum(this.ctx, st);
  }

  // ------------------------------------------------------------ the table

  private syncService(st: SvcState, why: string, source: ChangeSource): void {
    // The service is looked up once, and again only after a change (a follower of
    // that change may have acted on the table): a reload syncs every service.
    let svc = this.deps.table.find(st.key);
    for (const rs of st.reals.values()) {
      if (!svc) break;
      if (this.syncReal(st, rs, why, source, svc)) svc = this.deps.table.find(st.key);
    }
    syncSorry(this.ctx, st, source);
  }

  /**
   * Brings one real's table entry in line with what health, lifecycle and
   * quorum want; true when it changed the table. `svc`: the service as the
   * table holds it now, when the caller has it.
   */
  private syncReal(st: SvcState, rs: RealState, why: string, source: ChangeSource, svc = this.deps.table.find(st.key)): boolean {
    const table = this.deps.table;
    if (!svc) return false;
    const live = svc.findDest(rs.spec);
    const p = want(st, rs, live !== undefined, this.clock.now());
    if (!p.present && !live) return false;
    if (p.present && live && live.spec.weight === p.weight) return false;
    const rl = label(st.key.protocol, rs.spec);
    const vl = vsLabel(st.key);
    if (!p.present) {
      const r = table.deleteDest(st.key, rs.spec, source);
      if (!r.ok) { this.log.error(`cannot remove ${rl} from VS ${vl}: ${r.error.message}`); return false; }
      this.log.info(`Removing service ${rl} from VS ${vl} (${why})`);
      return true;
    }
    if (!live) {
      const r = table.addDest(st.key, { ...rs.spec, weight: p.weight }, source);
      if (!r.ok) { this.log.error(`cannot add ${rl} to VS ${vl}: ${r.error.message}`); return false; }
      this.log.info(`Adding service ${rl} to VS ${vl}${p.weight !== rs.spec.weight ? ` with weight ${p.weight}` : ''} (${why})`);
      return true;
    }
    const from = live.spec.weight;
    const r = table.editDest(st.key, { ...live.spec, weight: p.weight }, source);
    if (!r.ok) { this.log.error(`cannot set the weight of ${rl} in VS ${vl}: ${r.error.message}`); return false; }
    if (p.weight === 0 && !rs.alive) this.log.info(`Disabling service ${rl} of VS ${vl} (${why})`);
    else if (from === 0 && rs.alive && rs.lifecycle === 'active') this.log.info(`Enabling service ${rl} of VS ${vl} (${why})`);
    else if (why !== 'slow start') this.log.info(`Changing weight from ${from} to ${p.weight} for active service ${rl} of VS ${vl} (${why})`);
    return true;
  }

  // ------------------------------------------------------------ lifecycle

  /** Removes draining reals whose connections are gone or whose deadline passed; true while some still drain. */
  pollDrains(): boolean { return this.drains.poll(); }

  /**
   * drain / fill / disable / enable / weight on one real (control socket,
   * schedule, config). `source` is who the table changes this makes are for;
   * what follows later (ramp steps, drain completion) is health's own.
   */
  lifecycle(req: LifecycleRequest, from: string, source: ChangeSource = HEALTH): Result<RealHealthView> {
    const st = this.services.get(serviceKeyText(req.service));
    if (!st) return fail('ESRCH', `no service ${serviceKeyText(req.service)}`);
    let rs = st.reals.get(destKeyText(req.dest));
    if (!rs) {
      // A real added at run time (lvsadm -a) is adopted, unchecked.
      const live = this.deps.table.find(st.key)?.findDest(req.dest);
      if (!live) return fail('ENOENT', `no real server ${destKeyText(req.dest)} in ${serviceKeyText(st.key)}`);
      rs = new RealState(live.spec, NO_CHECKS, this.clock.now(), false);
      st.reals.set(destKeyText(req.dest), rs);
    }
    const why = `${req.op.op} from ${from}`;
    const r = applyLifecycleOp(this.ctx, this.drains, st, rs, req.op, why, source);
    if (!r.ok) return r;
    this.syncReal(st, rs, why, source);
    updateQuorum(this.ctx, st, source);
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
        aliveWeight: aliveWeight(st), sorryActive: st.sorryActive,
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
    for (const off of this.unsubscribe) off();
    this.drains.stop();
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
    return this.services.get(serviceKeyText(spec))?.key;
  }
}

// The daemon: wires the service table, plugins, config (load, diff, apply,
// watch) and the control socket. It owns no policy of its own.

import { dirname } from 'node:path';
import type { Server } from 'node:net';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { Bus, type FailoverInstanceView } from './bus.js';
import { closeControl, listenControl, type ControlLimits } from './control/server.js';
import { prepareConfig, type Prepared } from './config/check.js';
import { applyPlan, formatPlan, planDiff, planReassert, planServices } from './config/diff.js';
import type { TableEvent } from './model/events.js';
import { RuntimeAdditions, restoreRuntime } from './model/runtime-saved.js';
import type { DesiredState } from './config/schema.js';
import { watchConfig } from './config/watch.js';
import type { Logger } from './log.js';
import { ServiceTable } from './model/table.js';
import type { SchedContext } from './plugin.js';
import { loadPlugins, PluginRegistry } from './plugins/loader.js';
import { dropsView, type DataPlane, type DataPlaneConfig } from './engine/dataplane.js';
import { MemoryDataPlane } from './engine/runner.js';
import { WorkerDataPlane } from './engine/worker-host.js';
import { formatHealthChange, type HealthChange } from './health/changes.js';
import { HealthManager } from './health/manager.js';
import { systemClock, type Clock } from './clock.js';
import { ScheduleRunner, type CronSource } from './schedule/runner.js';
import { ControlPlaneHost } from './ctlplane/host.js';
import { VipOwnership, managedVips } from './ctlplane/vips.js';
import { acquireInstance, type InstanceLock } from './instance.js';
import { setScriptUser } from './health/script.js';

export type IoKind = 'memory' | 'afpacket';

/** How long a config file's writes must have settled before a change starts its load (an editor's truncate-then-write is one change). */
const EARLY_MS = 25;

/**
 * Whether none of `files` was written at or after `t` (ms): an early load may
 * stand for the reload. File times run up to a clock tick behind, so a write
 * just before `t` counts as after it.
 */
function unchangedSince(files: readonly string[], t: number): boolean {
  for (const f of files) {
    try { if (statSync(f).mtimeMs >= t - EARLY_MS) return false; } catch { return false; }
  }
  return true;
}

export interface DaemonOptions {
  configFile?: string;
  socket: string;
  io: IoKind;
  /** Plugin folders from the command line (config may name more). */
  pluginDirs: string[];
  log: Logger;
  /** Debounce for config file changes, ms. */
  watchDebounceMs?: number;
  /** Health checks' time source and scheduled actions' cron (tests: virtual ones). */
  healthClock?: Clock;
  cron?: CronSource;
  /** Connection snapshots and counters kept across restarts (--io afpacket); default: the control socket's folder. */
  stateDir?: string;
  /** Control socket limits (tests: short timeouts); default core/control/server.ts defaultLimits(). */
  controlLimits?: Partial<ControlLimits>;
}

/** Kernel-style log lines (e.g. "no destination available") at most once per 5 s each. */
function rateLimited(log: Logger): (msg: string) => void {
  const last = new Map<string, number>();
  return (msg) => {
    const now = Date.now();
    if ((last.get(msg) ?? 0) + 5000 > now) return;
    last.set(msg, now);
    log.warn(msg);
  };
}

export function systemSchedContext(log: Logger): SchedContext {
  // Wall-clock milliseconds, advanced by the monotonic clock (no jumps back).
  const t0 = performance.now();
  const base = Date.now();
  return {
    now: () => base + (performance.now() - t0),
    randomU32: () => randomBytes(4).readUInt32LE(0),
    log: rateLimited(log),
  };
}

/** Whether a network interface exists (for the sync daemon's mcast interface). */
function interfaceExists(name: string): boolean {
  return /^[^/\s]{1,15}$/.test(name) && existsSync(`/sys/class/net/${name}`);
}

function interfaceMtu(name: string): number {
  try { return Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim()) || 1500; } catch { return 1500; }
}

export class Daemon {
  readonly bus = new Bus();
  readonly table: ServiceTable;
  registry = new PluginRegistry();
  /** The packet pipeline: on the memory wire (`--io memory`) or on real interfaces in worker threads (`--io afpacket`). */
  dataPlane: DataPlane | null = null;
  /** The memory wire's data plane (tests and tools inject frames on its wire), or null. */
  get memoryPlane(): MemoryDataPlane | null {
    return this.dataPlane instanceof MemoryDataPlane ? this.dataPlane : null;
  }
  private desired: DesiredState | null = null;
  /**
   * Something other than the config and health has changed the table (lvsadm, a
   * scheduled action, a plugin): reloads compare the file with the running table
   * from then on (what lvsadm added stays in it). Until then the table is the last
   * config as health placed it, and the cheaper config-to-config diff says the same.
   */
  private changedBesideConfig = false;
  private readonly daemonStats = new Map<'master' | 'backup', Record<string, number>>();
  /** Which VIPs failover manages and this director holds (core/ctlplane/vips.ts). */
  private readonly vips = new VipOwnership(() => this.dataPlane);
  /** The failover plugin's instances (ha.status), null while none runs. */
  private failover: FailoverInstanceView[] | null = null;
  /** What lvsadm added at run time, kept across restarts (--io afpacket; core/model/runtime-saved.ts). */
  private readonly runtime = new RuntimeAdditions();
  private runtimeTimer: NodeJS.Timeout | null = null;
  private runtimeSaving = false;
  private server: Server | null = null;
  private watcher: { update(files: string[]): void; close(): void } | null = null;
  /**
   * The config files' changes seen so far, and a load started early for the
   * latest: a file change starts loading the file once its writes have
   * settled for EARLY_MS, while the debounce runs; the reload takes that load
   * if nothing changed since it started, else loads again (nothing is ever
   * applied before the debounce).
   */
  private changes = 0;
  private early: { change: number; startedAt: number; prepared: Promise<Prepared> } | null = null;
  private earlyTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<boolean> | null = null;
  private pendingReload = false;
  private stopped = false;
  /** Once a second: scheduler ticks (e.g. LBLC garbage collection) and the dest trash. */
  private housekeeping: NodeJS.Timeout | null = null;
  private readonly opts: DaemonOptions;
  private readonly log: Logger;
  /** Health checks, real server lifecycle and scheduled actions (control plane: runs with any --io). */
  readonly health: HealthManager;
  private readonly schedule: ScheduleRunner;
  /** Control-plane plugins (sync, failover): started once the data plane is up, kept in step with each reload. */
  readonly ctlplane: ControlPlaneHost;
  private ctlplaneUp = false;
  /** This network namespace's lvsd lock (--io afpacket), held from start to stop. */
  private instance: InstanceLock | null = null;

  constructor(opts: DaemonOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.table = new ServiceTable({
      schedulers: (name) => this.registry.scheduler(name),
      forwarder: (method) => this.registry.forwarder(method),
      interfaceExists, interfaceMtu,
      ctx: systemSchedContext(opts.log),
      onEvent: (ev) => {
        if (changesConfigState(ev)) this.changedBesideConfig = true;
        this.runtime.follow(ev);
        if (this.runtime.dirty) this.saveRuntimeSoon();
        this.bus.emitTable(ev);
      },
    });
    this.health = new HealthManager({
      table: this.table, bus: this.bus, log: opts.log, registry: () => this.registry,
      ...(opts.healthClock ? { clock: opts.healthClock } : {}),
    });
    this.schedule = new ScheduleRunner({ health: this.health, log: opts.log, ...(opts.cron ? { cron: opts.cron } : {}) });
    this.ctlplane = new ControlPlaneHost({ table: this.table, bus: this.bus, log: opts.log, clock: opts.healthClock ?? systemClock,
      conns: () => this.dataPlane?.conns() ?? [], dataPlane: () => this.dataPlane, vips: this.vips });
    // what the sync daemons report last, for -L --daemon --stats; gone with the daemon
    this.bus.on('sync.stats', (s) => { this.daemonStats.set(s.state, s.counters); });
    this.bus.on('daemon.stopped', ({ state }) => { this.daemonStats.delete(state); });
    this.bus.on('ha.status', ({ instances }) => { this.failover = instances.length > 0 ? instances : null; });
  }

  /** Loads plugins and config, then opens the control socket. Throws (having undone what it started) when start-up cannot succeed. */
  async start(): Promise<void> {
    try {
      await this.startParts();
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  private async startParts(): Promise<void> {
    // First, before anything is touched (nftables, the control socket): a second
    // afpacket daemon in this namespace stops here, naming the running one.
    if (this.opts.io === 'afpacket') this.instance = await acquireInstance(this.opts.socket, this.opts.io);
    // With a config, loading it loads the plugins too (the command line's folders and the config's).
    if (this.opts.configFile) {
      const r = await this.loadAndApply();
      if (!r.ok) throw new Error(r.error);
    } else {
      this.registry = await loadPlugins(this.opts.pluginDirs);
    }
    for (const note of this.registry.notes) this.log.info(note);
    this.log.info(`schedulers: ${this.registry.names('scheduler').join(' ')}`);
    // What lvsadm had added before a restart, after the config (which takes over what it declares),
    // before the data plane (whose saved connections name those real servers).
    if (this.opts.io === 'afpacket') {
      for (const line of restoreRuntime(this.table, this.stateDir, { by: 'lvsadm', name: 'restore' })) this.log.info(line);
      this.runtimeSaving = true;
    }
    // the failover plugins' VIPs are the kernel's until a plugin holds one (the data plane starts without them)
    await this.vips.setManaged(managedVips(this.registry, this.desired?.pluginConfig ?? {}, this.log));
    if (this.opts.io === 'memory') {
      const mem = new MemoryDataPlane(this.table, this.registry, this.netConfig(), this.bus, this.log);
      mem.start();
      this.dataPlane = mem;
    } else if (this.opts.io === 'afpacket') {
      this.dataPlane = await WorkerDataPlane.start(this.table, this.registry, { ...this.netConfig(), workers: this.desired?.workers, stateDir: this.stateDir }, this.log, this.bus);
    }
    // Before the socket opens: plugins see every lvsadm change. Plugin failures are logged, never thrown.
    this.ctlplaneUp = true;
    await this.ctlplane.apply(this.registry, this.desired?.pluginConfig ?? {});
    this.server = await listenControl(this.opts.socket, { table: this.table, bus: this.bus, conns: () => this.dataPlane?.conns() ?? [],
      daemonStats: (state) => this.daemonStats.get(state), failover: () => this.failover,
      drops: (perWorker) => (this.dataPlane ? dropsView(this.dataPlane.counters(), perWorker) : null), health: this.health },
      this.opts.controlLimits);
    this.housekeeping = setInterval(() => this.housekeep(), 1000);
    this.housekeeping.unref();
    this.log.info(`listening on ${this.opts.socket} (io ${this.opts.io})`);
  }

  /** Runs the scheduler ticks that are due, then frees trashed dests nothing holds (each second; tests call it directly). */
  housekeep(): void {
    this.table.housekeep((m) => this.log.error(m));
  }

  /**
   * Loads the config file, and applies the difference with the last good one.
   * On any failure nothing changes and the reason is returned.
   */
  private async loadAndApply(): Promise<{ ok: true } | { ok: false; error: string }> {
    const file = this.opts.configFile!;
    // the load a file change started, if none of its files has changed since; else one now
    const early = this.early;
    this.early = null;
    clearTimeout(this.earlyTimer);   // a load not started yet is this one
    let prepared = early && early.change === this.changes ? await early.prepared : null;
    if (!prepared || !unchangedSince(prepared.files, early!.startedAt)) prepared = await prepareConfig(file, this.opts.pluginDirs);
    if (this.stopped) return { ok: false, error: 'lvsd is stopping' };
    this.watch(prepared.files);
    if (!prepared.ok) return { ok: false, error: prepared.error };
    const { desired: next, registry } = prepared;

    const previousRegistry = this.registry;
    this.registry = registry;
    // Against the running table: what the file declares is put back and reset, whatever lvsadm did
    // in between; what only lvsadm added stays; health keeps the reals it holds out (README: reloads).
    const flags = (n: string) => this.registry.scheduler(n)?.flags;
    // Nothing but config and health changed the table since the last load: the plan is the config's diff.
    const diffOnly = this.desired !== null && !this.changedBesideConfig;
    const plan = diffOnly
      ? planDiff(this.desired, next, flags)
      : planReassert(this.table, this.desired, next, flags, (svc, dest) => this.health.placement(svc, dest));
    if (this.desired !== null) {
      for (const s of plan.settings) {
        const atStart = (s.setting === 'workers' && this.dataPlane?.kind === 'afpacket') || (s.setting === 'maxConnections' && this.dataPlane);
        if (atStart) this.log.warn(`config: ${s.setting} ${s.from} -> ${s.to} takes effect when lvsd restarts`);
      }
    }
    // Programs (notify, exec checks) run as the new config's scriptUser from here on.
    setScriptUser(next.scriptUser);
    // The plan goes in as written; health follows the table's events and places what it holds (alpha, down, disabled).
    const applied = this.health.whileApplying(next, () => applyPlan(this.table, plan));
    if (!applied.ok) {
      this.registry = previousRegistry;
      setScriptUser(this.desired?.scriptUser);
      return { ok: false, error: `${file}: ${applied.error}` };
    }
    // From here the table holds the new config: whatever follows the table follows it now,
    // the data plane first (its replicas need the new plugin modules before the events that name them).
    this.desired = next;
    this.table.refreshSchedulers();
    this.dataPlane?.reconfigure(this.registry, this.netConfig());
    let healthChanged: HealthChange[] = [];
    try {
      healthChanged = this.health.apply(next, diffOnly ? planServices(plan) : undefined);
      this.schedule.update(next.schedule ?? []);
    } catch (e) {
      // operator plugin code (a checker) threw: the table is applied; say what did not follow it
      this.log.error(`config ${file}: applied to the table, but health checks or scheduled actions could not follow: ${(e as Error).message}`);
    }
    const { added, edited, removed } = applied.counts;
    for (const line of applied.skipped ?? []) this.log.debug(`config: ${line}`);
    this.log.info(`config ${file} applied: ${added} added, ${edited} edited, ${removed} removed`);
    // The plan's text (110 000 lines for a first load of 10 000 × 10) only when debug lines are written.
    if (this.log.enabled?.('debug') ?? true) {
      const text = formatPlan(plan, healthChanged.map(formatHealthChange));
      if (text !== 'no changes') this.log.debug(text);
    }
    this.bus.emit('config.applied', { file, added, edited, removed });
    if (this.ctlplaneUp) {
      await this.vips.setManaged(managedVips(this.registry, next.pluginConfig ?? {}, this.log));
      await this.ctlplane.apply(this.registry, next.pluginConfig ?? {});
    }
    return { ok: true };
  }

  /** Reloads the config (SIGHUP or a file change). Concurrent calls coalesce. */
  async reload(): Promise<boolean> {
    if (!this.opts.configFile) { this.log.warn('reload asked, but lvsd runs without --config'); return false; }
    if (this.stopped) return false;
    if (this.reloading) { this.pendingReload = true; return this.reloading; }
    this.reloading = (async () => {
      let ok = true;
      do {
        this.pendingReload = false;
        let r: { ok: true } | { ok: false; error: string };
        try {
          r = await this.loadAndApply();
        } catch (e) {
          // Operator code (a plugin hook, say) threw: the reload fails, the daemon stays up.
          r = { ok: false, error: `${this.opts.configFile!}: ${(e as Error).stack ?? (e as Error).message}` };
        }
        if (this.stopped) return false;
        if (!r.ok) {
          ok = false;
          this.log.error(`config reload failed, keeping the running config:\n${r.error}`);
          this.bus.emit('config.rejected', { file: this.opts.configFile!, error: r.error });
        } else ok = true;
      } while (this.pendingReload);
      return ok;
    })();
    try { return await this.reloading; } finally { this.reloading = null; }
  }

  private watch(files: string[]): void {
    if (!this.opts.configFile || files.length === 0 || this.stopped) return;
    if (this.watcher) { this.watcher.update(files); return; }
    this.watcher = watchConfig(files, () => { void this.reload(); }, {
      debounceMs: this.opts.watchDebounceMs ?? 100,
      onEvent: () => {
        this.changes++;
        clearTimeout(this.earlyTimer);
        this.earlyTimer = setTimeout(() => this.loadEarly(), EARLY_MS);
        this.earlyTimer.unref();
      },
    });
  }

  /** Starts loading the config now, for the reload the debounce will ask for (see `early`). */
  private loadEarly(): void {
    if (this.stopped || !this.opts.configFile) return;
    const change = this.changes;
    const startedAt = Date.now();
    const prepared = prepareConfig(this.opts.configFile, this.opts.pluginDirs);
    prepared.catch(() => { /* taken by the reload, or not needed */ });
    this.early = { change, startedAt, prepared };
  }

  private netConfig(): DataPlaneConfig {
    const d = this.desired;
    return { interfaces: d?.interfaces ?? [], neighbors: d?.neighbors ?? {}, gateways: d?.gateways ?? [], ...(d?.maxConnections ? { maxConns: d.maxConnections } : {}),
      foreignVips: this.vips.foreign() };
  }

  private get stateDir(): string { return this.opts.stateDir ?? dirname(this.opts.socket); }

  /** Writes the run-time additions once a burst of changes is over (and at stop). */
  private saveRuntimeSoon(): void {
    if (!this.runtimeSaving || this.runtimeTimer) return;
    this.runtimeTimer = setTimeout(() => { this.runtimeTimer = null; this.saveRuntime(); }, 200);
    this.runtimeTimer.unref();
  }

  private saveRuntime(): void {
    if (!this.runtimeSaving || !this.runtime.dirty) return;
    try { this.runtime.save(this.stateDir); } catch (e) { this.log.warn(`cannot save what lvsadm added (kept across restarts): ${(e as Error).message}`); }
  }

  async stop(): Promise<void> {
    if (this.runtimeTimer) { clearTimeout(this.runtimeTimer); this.runtimeTimer = null; }
    this.saveRuntime();
    this.runtimeSaving = false;
    this.stopped = true;
    if (this.housekeeping) clearInterval(this.housekeeping);
    this.housekeeping = null;
    await this.reloading?.catch(() => false);
    await this.ctlplane.stop();
    const dp = this.dataPlane;
    this.dataPlane = null;
    await dp?.stop();
    this.schedule.stop();
    this.health.stop();
    this.watcher?.close();
    this.watcher = null;
    clearTimeout(this.earlyTimer);
    this.early = null;
    if (this.server) await closeControl(this.server, this.opts.socket);
    this.server = null;
    // Last: until here the table and the socket are ours.
    await this.instance?.release();
    this.instance = null;
  }
}

/** Whether a table event leaves the table other than the last config as health placed it. */
function changesConfigState(ev: TableEvent): boolean {
  if (ev.source.by === 'config' || ev.source.by === 'health') return false;
  // counters and sync daemons are not the config's
  return ev.type !== 'stats.zeroed' && ev.type !== 'daemon.started' && ev.type !== 'daemon.stopped';
}

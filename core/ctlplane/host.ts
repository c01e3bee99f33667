// Runs the control-plane plugins (sync, failover) on the main thread, each
// with its own ControlContext, and keeps them in step with the config:
//
// - a plugin without `configKey` runs from daemon start to shutdown;
// - a plugin with one runs while that key is in config.ts: started when it
//   appears, reconfigured (restarted, without a `reconfigure` hook) when its
//   value changes, stopped when it goes;
// - a plugin whose file changed (a new module on reload) is restarted.
//
// Plugins are operator code: a hook that throws, rejects or hangs is logged
// with the plugin's name and that plugin is stopped (or not started). Neither
// the daemon nor the reload fails for it; it is tried again once its file or
// its config value changes. Shutdown stops them in reverse order,
// before the data plane and the table go.

import { isDeepStrictEqual } from 'node:util';
import type { Bus, BusEvents } from '../bus.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import type { ServiceTable } from '../model/table.js';
import type { ConnView } from '../control/protocol.js';
import {
  CONTROL_EVENTS, type ControlBus, type ControlContext, type ControlHandle, type ControlPlugin, type RegistryView, type VipHold,
} from '../plugin.js';
import type { LoadedPlugin, PluginRegistry } from '../plugins/loader.js';
import { controlTable } from './table.js';
import { connSync } from './conns.js';
import type { VipOwnership } from './vips.js';
import type { DataPlane } from '../engine/dataplane.js';

export interface ControlHostDeps {
  table: ServiceTable;
  bus: Bus;
  log: Logger;
  clock: Clock;
  /** The data plane's connection entries (for `ctx.table.conns()`). */
  conns: () => ConnView[] | Promise<ConnView[]>;
  /** The data plane (for `ctx.conns`: sync), null until it runs. */
  dataPlane: () => DataPlane | null;
  /** Which managed VIPs this director holds (failover plugins' ctx.vips). */
  vips?: VipOwnership;
  /** How long a start/reconfigure/stop hook may take before it counts as failed. Default 10 s. */
  hookTimeoutMs?: number;
}

type Loaded = LoadedPlugin & { plugin: ControlPlugin };

/** One running plugin. */
interface Running {
  loaded: Loaded;
  options: unknown;
  handle: ControlHandle<unknown>;
  /** Revokes the context: bus subscriptions, pending timers, the table handle. */
  revoke(): void;
}

const DEFAULT_HOOK_TIMEOUT_MS = 10_000;

const label = (p: ControlPlugin): string => `${p.kind} ${p.name}`;

function prefixed(log: Logger, prefix: string): Logger {
  return {
    debug: (m) => log.debug(`${prefix}: ${m}`),
    info: (m) => log.info(`${prefix}: ${m}`),
    warn: (m) => log.warn(`${prefix}: ${m}`),
    error: (m) => log.error(`${prefix}: ${m}`),
  };
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export class ControlPlaneHost {
  private readonly deps: ControlHostDeps;
  /** By `kind/name`, in start order. */
  private readonly running = new Map<string, Running>();
  /** Plugins whose hook failed, with the module and options it failed with (not retried until one changes). */
  private readonly failed = new Map<string, { plugin: ControlPlugin; options: unknown }>();
  private registry: PluginRegistry | null = null;
  private closed = false;
  /** apply() and stop() run one at a time (reloads are already serialised; shutdown may overlap one). */
  private chain: Promise<void> = Promise.resolve();

  constructor(deps: ControlHostDeps) { this.deps = deps; }

  /** Names of the running plugins as `kind/name`, in start order. */
  names(): string[] { return [...this.running.keys()]; }

  /**
   * Brings the running set in line with the registry and the plugins' config
   * values (by config key: parsed by each plugin's `options`). Never throws.
   */
  apply(registry: PluginRegistry, pluginConfig: Readonly<Record<string, unknown>>): Promise<void> {
    return this.serial(() => this.applyNow(registry, pluginConfig));
  }

  /** Stops every plugin, last started first. Later apply() calls do nothing. */
  stop(): Promise<void> {
    return this.serial(async () => {
      this.closed = true;
      for (const id of [...this.running.keys()].reverse()) await this.stopOne(id, 'lvsd is stopping');
    });
  }

  private serial(f: () => Promise<void>): Promise<void> {
    const next = this.chain.then(f, f);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async applyNow(registry: PluginRegistry, pluginConfig: Readonly<Record<string, unknown>>): Promise<void> {
    if (this.closed) return;
    this.registry = registry;
    const wanted = new Map<string, { loaded: Loaded; options: unknown }>();
    for (const loaded of registry.control()) {
      const key = loaded.plugin.configKey;
      if (key !== undefined && pluginConfig[key] === undefined && loaded.plugin.always !== true) continue;
      wanted.set(`${loaded.plugin.kind}/${loaded.plugin.name}`, { loaded, options: key === undefined ? undefined : pluginConfig[key] });
    }
    for (const [id, f] of this.failed) {
      const w = wanted.get(id);
      if (!w || w.loaded.plugin !== f.plugin || !isDeepStrictEqual(w.options, f.options)) this.failed.delete(id);
    }
    // Gone first (reverse order), so that a plugin taking over a role from another never overlaps it.
    for (const id of [...this.running.keys()].reverse()) {
      const { plugin } = this.running.get(id)!.loaded;
      const w = wanted.get(id);
      if (!w) await this.stopOne(id, registry.get(plugin.kind, plugin.name) ? `config key ${plugin.configKey} removed` : 'no longer loaded');
      else if (w.loaded.plugin !== plugin) await this.stopOne(id, `${w.loaded.file} changed`);
    }
    for (const [id, w] of wanted) {
      const r = this.running.get(id);
      if (!r) { if (!this.failed.has(id)) await this.startOne(id, w.loaded, w.options); continue; }
      if (isDeepStrictEqual(r.options, w.options)) continue;
      const reconfigure = r.handle.reconfigure;
      if (!reconfigure) {
        await this.stopOne(id, `config key ${w.loaded.plugin.configKey} changed`);
        await this.startOne(id, w.loaded, w.options);
        continue;
      }
      const done = await this.hook(w.loaded.plugin, 'reconfigure', () => reconfigure.call(r.handle, w.options));
      if (done.ok) { r.options = w.options; this.deps.log.info(`${label(w.loaded.plugin)} reconfigured`); continue; }
      await this.stopOne(id, 'reconfigure() failed');
      this.failed.set(id, { plugin: w.loaded.plugin, options: w.options });
    }
  }

  private async startOne(id: string, loaded: Loaded, options: unknown): Promise<void> {
    const plugin = loaded.plugin;
    let live = true;
    const unsubscribe = new Set<() => void>();
    const timers = new Set<TimerHandle>();
    const ctx = this.context(plugin, () => live, unsubscribe, timers);
    const revoke = (): void => {
      live = false;
      for (const u of unsubscribe) u();
      unsubscribe.clear();
      for (const t of timers) this.deps.clock.clearTimeout(t);
      timers.clear();
    };
    const isHandle = (h: unknown): h is ControlHandle<unknown> =>
      typeof h === 'object' && h !== null && typeof (h as { stop?: unknown }).stop === 'function';
    const started = await this.hook(plugin, 'start', () => plugin.start(ctx as ControlContext<never>, options as never),
      // It did start after all, too late: stop it again.
      (h) => { if (isHandle(h)) void this.hook(plugin, 'stop', () => h.stop()); });
    const handle = started.ok ? started.value : undefined;
    if (!isHandle(handle)) {
      if (started.ok) this.deps.log.error(`${label(plugin)}: start() must resolve to a handle with stop(); not started`);
      revoke();
      this.failed.set(id, { plugin, options });
      return;
    }
    // Stopped while it was starting (shutdown overlapping a slow start): undo at once.
    if (this.closed) { revoke(); await this.hook(plugin, 'stop', () => handle.stop()); return; }
    this.running.set(id, { loaded, options, handle: handle as ControlHandle<unknown>, revoke });
    const key = plugin.configKey;
    this.deps.log.info(`${label(plugin)} started${key === undefined ? '' : options === undefined ? ` (config key ${key} not set)` : ` (config key ${key})`}`);
  }

  private async stopOne(id: string, why: string): Promise<void> {
    const r = this.running.get(id);
    if (!r) return;
    this.running.delete(id);
    await this.hook(r.loaded.plugin, 'stop', () => r.handle.stop());
    r.revoke();
    this.deps.log.info(`${label(r.loaded.plugin)} stopped: ${why}`);
  }

  /** Runs one hook: a throw, a rejection or no answer within the time limit is logged and reported as failed. */
  private async hook<T>(plugin: ControlPlugin, name: string, f: () => T | Promise<T>, settledLate?: (v: T) => void):
  Promise<{ ok: true; value: T } | { ok: false }> {
    const ms = this.deps.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const late = Symbol('late');
    const work = Promise.resolve().then(f);
    try {
      const v = await Promise.race([
        work,
        // Real time, not the plugin clock: a virtual clock in tests must not expire hooks.
        new Promise<typeof late>((res) => { timer = setTimeout(() => res(late), ms); }),
      ]);
      if (v === late) {
        this.deps.log.error(`${label(plugin)}: ${name}() did not settle within ${ms} ms`);
        work.then((x) => settledLate?.(x), () => undefined);
        return { ok: false };
      }
      return { ok: true, value: v };
    } catch (e) {
      this.deps.log.error(`${label(plugin)}: ${name}() failed: ${errorText(e)}`);
      return { ok: false };
    } finally {
      clearTimeout(timer);
    }
  }

  private context(plugin: ControlPlugin, live: () => boolean, unsubscribe: Set<() => void>, timers: Set<TimerHandle>): ControlContext<keyof BusEvents> {
    const { bus, clock } = this.deps;
    const log = prefixed(this.deps.log, label(plugin));
    const owned: readonly (keyof BusEvents)[] = CONTROL_EVENTS[plugin.kind];
    const ctlBus: ControlBus<keyof BusEvents> = {
      on: (event, fn) => {
        if (!live()) return () => undefined;
        // A handler that throws is the plugin's fault: logged with its name, the other subscribers go on.
        const off = bus.on(event, (payload) => {
          if (!live()) return;
          try { fn(payload); } catch (e) { log.error(`handler for ${event} failed: ${errorText(e)}`); }
        });
        // an unsubscribe the plugin calls itself is forgotten too: subscribing per event does not grow the set
        const unsub = (): void => { off(); unsubscribe.delete(unsub); };
        unsubscribe.add(unsub);
        return unsub;
      },
      emit: (event, payload) => {
        if (!owned.includes(event)) throw new Error(`a ${plugin.kind} plugin may not emit ${event} (it may emit: ${owned.join(', ')})`);
        if (live()) bus.emit(event, payload);
      },
    };
    const host = this;
    const registry: RegistryView = {
      names: (kind) => host.registry?.names(kind) ?? [],
      get: (kind, name) => host.registry?.get(kind, name)?.plugin,
    };
    const ownClock: Clock = {
      now: () => clock.now(),
      setTimeout: (fn, ms) => {
        const h = clock.setTimeout(() => {
          timers.delete(h);
          if (!live()) return;
          try { fn(); } catch (e) { log.error(`timer failed: ${errorText(e)}`); }
        }, ms);
        if (live()) timers.add(h); else clock.clearTimeout(h);
        return h;
      },
      clearTimeout: (h) => { timers.delete(h); clock.clearTimeout(h); },
    };
    const table = controlTable({ table: this.deps.table, conns: this.deps.conns, live }, { by: plugin.kind, name: plugin.name });
    const conns = connSync(this.deps.dataPlane, live, unsubscribe);
    // a plugin's holds end with it (revoke runs the unsubscribers)
    const mine = new Set<string>();
    const owner = this.deps.vips;
    const vips: VipHold = {
      hold: (addrs, on) => {
        if (!owner || (on && !live())) return Promise.resolve();
        const change = addrs.filter((a) => (on ? !mine.has(a) : mine.has(a)));
        for (const a of change) { if (on) mine.add(a); else mine.delete(a); }
        return owner.hold(change, on);
      },
    };
    unsubscribe.add(() => { if (mine.size > 0 && owner) void owner.hold([...mine], false); mine.clear(); });
    return { table, bus: ctlBus, registry, log, clock: ownClock, conns, vips };
  }
}

// One step shared by the daemon and `lvsd --check`: load config.ts, load the
// plugins it names, and check that every scheduler it uses exists.

import { describeIssues, loadConfig } from './load.js';
import { formatPlan, planDiff } from './diff.js';
import type { DesiredState, ValidateContext } from './schema.js';
import { loadPlugins, type PluginRegistry } from '../plugins/loader.js';
import { healthIssues } from './health.js';

export type Prepared =
  | { ok: true; desired: DesiredState; registry: PluginRegistry; files: string[] }
  | { ok: false; error: string; files: string[] };

/** Checks that every scheduler the config names is loaded; the error names file:line where it can. */
function unknownScheduler(file: string, desired: DesiredState, reg: PluginRegistry, files: string[]): string | null {
  for (const [i, s] of desired.services.entries()) {
    const name = s.spec.scheduler;
    if (name !== 'none' && !reg.scheduler(name)) {
      return describeIssues(file, [{
        path: `services[${i}].scheduler`, value: name,
        message: `no scheduler named "${name}" (loaded: ${reg.names('scheduler').join(', ')})`,
      }], files);
    }
  }
  return null;
}

/**
 * What the loaded plugins add to the config's validation: names for "did you
 * mean", scheduler flag words (once the scheduler plugins declare them), and
 * the root keys control-plane plugins own.
 */
export function validateContextOf(reg: PluginRegistry): Partial<ValidateContext> {
  const schedulerNames = reg.names('scheduler');
  const out: Partial<ValidateContext> = { schedulerNames, checkNames: reg.names('health'), loaded: reg.all().map((p) => p.plugin) };
  out.schedulerFlags = (n) => reg.scheduler(n)?.flags;
  out.forwarder = (m) => reg.forwarder(m);
  const keys = reg.configKeys();
  if (keys.size) out.pluginKeys = keys;
  return out;
}

/** The plugin folders each config file named when it was last loaded. */
const lastFolders = new Map<string, string>();

export async function prepareConfig(file: string, pluginDirs: readonly string[]): Promise<Prepared> {
  // The plugins are loaded between evaluating config.ts and validating it, so
  // that what they declare (names, flag words, root keys) is checked with it.
  // Most reloads name the same folders as the last one: those are loaded
  // (checked for changes) meanwhile, while esbuild and the evaluation worker work.
  const dirsOf = (folders: string[]): string[] => [...pluginDirs, ...folders];
  const last = lastFolders.get(file);
  const early = last === undefined ? null : loadPlugins(dirsOf(JSON.parse(last) as string[]));
  early?.catch(() => { /* taken (and reported) below, or not needed */ });
  let registry: PluginRegistry | undefined;
  const loaded = await loadConfig(file, {
    plugins: async (folders) => {
      const key = JSON.stringify(folders);
      lastFolders.set(file, key);
      registry = await (early && key === last ? early : loadPlugins(dirsOf(folders)));
      return validateContextOf(registry);
    },
  });
  if (!loaded.ok) return loaded;
  if (!registry) return { ok: false, error: `${file}: the plugins were not loaded`, files: loaded.files };
  const files = [...loaded.files, ...registry.files()];
  const unknown = unknownScheduler(file, loaded.desired, registry, loaded.files);
  if (unknown) return { ok: false, error: unknown, files };
  const health = healthIssues(loaded.desired, registry);
  if (health.length) return { ok: false, error: describeIssues(file, health, loaded.files), files };
  return { ok: true, desired: loaded.desired, registry, files };
}

/** `lvsd --check`: validate and print the plan against an empty table. */
export async function checkConfigFile(file: string, pluginDirs: readonly string[]): Promise<{ ok: true; plan: string } | { ok: false; error: string }> {
  const p = await prepareConfig(file, pluginDirs);
  if (!p.ok) return p;
  return { ok: true, plan: formatPlan(planDiff(null, p.desired, (n) => p.registry.scheduler(n)?.flags)) };
}

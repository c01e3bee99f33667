// One step shared by the daemon and `lvsd --check`: load config.ts, load the
// plugins it names, and check that every scheduler it uses exists.

import { describeIssues, loadConfig } from './load.js';
import { formatPlan, planDiff } from './diff.js';
import type { DesiredState } from './schema.js';
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

export async function prepareConfig(file: string, pluginDirs: readonly string[]): Promise<Prepared> {
  const loaded = await loadConfig(file);
  if (!loaded.ok) return loaded;
  let registry: PluginRegistry;
  try {
    registry = await loadPlugins([...pluginDirs, ...loaded.desired.plugins]);
  } catch (e) {
    return { ok: false, error: (e as Error).message, files: loaded.files };
  }
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
  return { ok: true, plan: formatPlan(planDiff(null, p.desired)) };
}

// One step shared by the daemon and `lvsd --check`: load config.ts, load the
// plugins it names, and check that every scheduler it uses exists.

import { describeIssues, loadConfig } from './load.js';
import { formatPlan, planDiff } from './diff.js';
import type { z } from 'zod';
import type { DesiredState, ValidateContext } from './schema.js';
import { PLUGIN_KINDS } from '../plugin.js';
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
  const out: Partial<ValidateContext> = { schedulerNames, checkNames: reg.names('health') };
  const flagsOf = (n: string): Readonly<Record<string, number>> | undefined =>
    (reg.scheduler(n) as { flags?: Readonly<Record<string, number>> } | undefined)?.flags;
  // Until scheduler plugins declare their `flags`, rules.ts's table stays in use.
  if (schedulerNames.some((n) => flagsOf(n) !== undefined)) out.schedulerFlags = flagsOf;
  const keys = pluginConfigKeys(reg);
  if (keys.size) out.pluginKeys = keys;
  return out;
}

/**
 * Root keys of config.ts owned by control-plane plugins, with their schemas.
 * A plugin that owns one carries `configKey` (its root key) and
 * `configSchema` (a zod schema); the parsed value reaches it through
 * DesiredState.pluginConfig[configKey].
 */
export function pluginConfigKeys(reg: PluginRegistry): Map<string, z.ZodType> {
  const out = new Map<string, z.ZodType>();
  for (const kind of PLUGIN_KINDS) {
    for (const name of reg.names(kind)) {
      const p = reg.get(kind, name)?.plugin as { configKey?: unknown; configSchema?: unknown } | undefined;
      if (typeof p?.configKey === 'string' && typeof (p.configSchema as { safeParse?: unknown } | undefined)?.safeParse === 'function') {
        out.set(p.configKey, p.configSchema as z.ZodType);
      }
    }
  }
  return out;
}

export async function prepareConfig(file: string, pluginDirs: readonly string[]): Promise<Prepared> {
  // The plugins are loaded between evaluating config.ts and validating it, so
  // that what they declare (names, flag words, root keys) is checked with it.
  let registry: PluginRegistry | undefined;
  const loaded = await loadConfig(file, {
    plugins: async (folders) => {
      registry = await loadPlugins([...pluginDirs, ...folders]);
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
  return { ok: true, plan: formatPlan(planDiff(null, p.desired)) };
}

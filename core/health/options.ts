// A health check plugin's options(), guarded. Used where checkers start
// (manager) and where the config is validated once plugins are loaded.

import type { HealthCheckPlugin, HealthOptionsResult } from '../plugin.js';

/**
 * An operator plugin's options(), guarded: a throw (or a result that is not
 * one) becomes an error result naming the plugin, so the caller reports it as
 * a config error at the checker's path instead of failing the load or reload.
 */
export function pluginOptions(plugin: HealthCheckPlugin<unknown>, raw: Record<string, unknown>): HealthOptionsResult<unknown> {
  let o: HealthOptionsResult<unknown>;
  try {
    o = plugin.options(raw);
  } catch (e) {
    return { ok: false, error: `health check plugin "${plugin.name}" failed to validate its options: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (typeof o !== 'object' || o === null || typeof o.ok !== 'boolean') {
    return { ok: false, error: `health check plugin "${plugin.name}": options() returned no { ok, ... } result` };
  }
  return o;
}

// Checks each checker's plugin-specific options once the plugins are loaded
// (config.ts is validated before the plugin folders it names are loaded): an
// unknown checker name or a bad option becomes a config error with its field
// path, in the words of the plugin's own schema.

import { pluginOptions } from '../health/options.js';
import type { HealthCheckPlugin } from '../plugin.js';
import type { PluginRegistry } from '../plugins/loader.js';
import { didYouMean } from '../suggest.js';
import type { ConfigIssue, DesiredState } from './schema.js';

export function healthIssues(desired: DesiredState, reg: PluginRegistry): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const s of desired.services) {
    for (const r of s.health?.reals ?? []) {
      for (const k of r.checkers) {
        if (seen.has(k.path)) continue;   // a service-level checker is shared by its reals
        seen.add(k.path);
        const plugin = reg.get('health', k.check)?.plugin as HealthCheckPlugin<unknown> | undefined;
        if (!plugin) {
          const names = reg.names('health');
          const hint = didYouMean(k.check, names);
          out.push({ path: `${k.path}.check`, value: k.check,
            message: `no health check named "${k.check}"${hint ? `; did you mean '${hint}'?` : ''} (loaded: ${names.join(', ') || 'none'})` });
          continue;
        }
        const o = pluginOptions(plugin, k.options);
        if (!o.ok) {
          const path = o.field ? `${k.path}.${o.field}` : k.path;
          const value = o.field ? k.options[o.field.split(/[.[]/)[0]!] : undefined;
          out.push(value === undefined ? { path, message: o.error } : { path, message: o.error, value });
        }
      }
    }
  }
  return out;
}

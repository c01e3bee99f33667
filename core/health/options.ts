// A checker plugin's options, checked by the plugin's own zod schema: the
// config side (core/config/health.ts) reports a failure as a config error at
// the option's path; the manager gets the parsed options it hands to check().

import type { z } from 'zod';
import type { HealthCheckPlugin, HealthOptionsResult } from '../plugin.js';
import { unknownKeyMessage } from '../suggest.js';

type Seg = PropertyKey;

function fieldText(path: readonly Seg[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string') out += out ? `.${seg}` : seg;
  }
  return out;
}

interface SchemaDef { type?: string; shape?: Record<string, unknown>; catchall?: { _zod?: { def?: { type?: string } } }; in?: { _zod?: { def?: SchemaDef } } }

/**
 * The keys a plugin's options object may have, when its schema says so: a
 * `z.object` (strip) or `z.strictObject`, possibly piped into a transform.
 * A `z.looseObject` (or anything else) takes any key: undefined.
 */
function knownKeys(schema: z.ZodType): readonly string[] | undefined {
  let def = (schema as unknown as { _zod?: { def?: SchemaDef } })._zod?.def;
  for (let i = 0; def && def.type === 'pipe' && i < 8; i++) def = def.in?._zod?.def;
  if (!def || def.type !== 'object' || !def.shape) return undefined;
  const rest = def.catchall?._zod?.def?.type;
  return rest === undefined || rest === 'never' ? Object.keys(def.shape) : undefined;
}

/**
 * An operator plugin's options, guarded: a throw (or a schema that is not
 * one) becomes an error result naming the plugin, so the caller reports it as
 * a config error at the checker's path instead of failing the load or reload.
 */
export function pluginOptions(plugin: HealthCheckPlugin<unknown>, raw: Record<string, unknown>): HealthOptionsResult<unknown> {
  const schema = plugin.options;
  if (schema === undefined) {
    const k = Object.keys(raw)[0];
    return k === undefined ? { ok: true, value: {} }
      : { ok: false, field: k, error: `unknown setting for this checker (known: none besides the common ones)` };
  }
  if (typeof (schema as { safeParse?: unknown }).safeParse !== 'function') {
    return { ok: false, error: `health check plugin "${plugin.name}": options is not a zod schema` };
  }
  const known = knownKeys(schema);
  if (known) {
    for (const k of Object.keys(raw)) {
      if (!known.includes(k)) {
        return { ok: false, field: k, error: unknownKeyMessage(k, known, `known: ${known.join(', ') || 'none besides the common ones'}`).replace('unknown setting (', 'unknown setting for this checker (') };
      }
    }
  }
  let r: ReturnType<z.ZodType['safeParse']>;
  try {
    r = schema.safeParse(raw);
  } catch (e) {
    return { ok: false, error: `health check plugin "${plugin.name}" failed to validate its options: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (r.success) return { ok: true, value: r.data };
  const iss = r.error.issues[0]!;
  const field = fieldText(iss.path);
  return field ? { ok: false, error: iss.message, field } : { ok: false, error: iss.message };
}

// The plugin loader: compiles each plugin file with esbuild into a cached ES
// module (so data-plane workers can import the same file later), imports it,
// and checks its default export against the contract of its kind.

import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  CONTROL_KINDS, KIND_DIRS, OPTIONAL_HOOKS, PLUGIN_KINDS, REQUIRED_HOOKS,
  type AnyPlugin, type ControlPlugin, type ForwarderPlugin, type PluginKind, type SchedulerPlugin,
} from '../plugin.js';
import type { ZodType } from 'zod';
import type { FwdMethod } from '../model/types.js';
import { PACKAGE_ROOT } from '../paths.js';
import { unsafePathReason } from '../security/safe-path.mjs';

const CORE_INDEX = join(PACKAGE_ROOT, 'core', 'index.ts');
/** The project's own plugins/ folder. */
export const BUILTIN_PLUGIN_DIR = join(PACKAGE_ROOT, 'plugins');

/** Keys a plugin object may carry besides its kind's hooks. */
const COMMON_KEYS = ['kind', 'name', 'description'];
const EXTRA_KEYS: Partial<Record<PluginKind, string[]>> = {
  scheduler: ['tickInterval', 'flags'], forwarder: ['method', 'replies', 'crossFamily', 'keepsPort', 'tunnelOptions', 'partialChecksums', 'aggregates'], health: ['defaults', 'options'],
  sync: ['configKey', 'options', 'always'], failover: ['configKey', 'options', 'always'],
};
/** A control-plane plugin's config key: a plain identifier, as config.ts's own root keys are. */
const CONFIG_KEY_RE = /^[a-z][a-zA-Z0-9]{0,31}$/;

const isControl = (p: AnyPlugin): p is ControlPlugin => (CONTROL_KINDS as readonly string[]).includes(p.kind);
/** Scheduler names are at most 15 characters (IP_VS_SCHEDNAME_MAXLEN). */
const NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,14}$/i;

export class PluginError extends Error {
  readonly file: string;
  constructor(file: string, message: string) {
    super(`plugin ${file}: ${message}`);
    this.name = 'PluginError';
    this.file = file;
  }
}

export interface LoadedPlugin {
  plugin: AnyPlugin;
  /** The TypeScript source it came from. */
  file: string;
  /** The compiled module (importable by workers). */
  module: string;
}

/** Plugins by kind and name. */
export class PluginRegistry {
  private byKind = new Map<PluginKind, Map<string, LoadedPlugin>>();
  /** What loading decided that an operator should read (a built-in forwarder replaced, …): the daemon logs these. */
  readonly notes: string[] = [];

  add(p: LoadedPlugin): void {
    const key = isControl(p.plugin) ? p.plugin.configKey : undefined;
    if (key !== undefined) {
      const owner = this.control().find((q) => q.plugin.configKey === key);
      if (owner) {
        throw new PluginError(p.file, `config key "${key}" is already owned by ${owner.plugin.kind} "${owner.plugin.name}" from ${owner.file}`);
      }
    }
    let m = this.byKind.get(p.plugin.kind);
    if (!m) { m = new Map(); this.byKind.set(p.plugin.kind, m); }
    const prev = m.get(p.plugin.name);
    if (prev) {
      throw new PluginError(p.file, `a ${p.plugin.kind} named "${p.plugin.name}" is already loaded from ${prev.file}`);
    }
    m.set(p.plugin.name, p);
  }
  get(kind: PluginKind, name: string): LoadedPlugin | undefined { return this.byKind.get(kind)?.get(name); }
  delete(kind: PluginKind, name: string): void { this.byKind.get(kind)?.delete(name); }
  names(kind: PluginKind): string[] { return [...(this.byKind.get(kind)?.keys() ?? [])].sort(); }
  scheduler(name: string): SchedulerPlugin<unknown> | undefined {
    return this.get('scheduler', name)?.plugin as SchedulerPlugin<unknown> | undefined;
  }
  /** The control-plane plugins (sync, then failover; by name): the order they start in. */
  control(): (LoadedPlugin & { plugin: ControlPlugin })[] {
    return CONTROL_KINDS.flatMap((k) => this.names(k).map((n) => this.get(k, n)!))
      .filter((p): p is LoadedPlugin & { plugin: ControlPlugin } => isControl(p.plugin));
  }
  /** The config root keys control-plane plugins own, with their schemas (for the config's schema). */
  configKeys(): Map<string, ZodType> {
    const m = new Map<string, ZodType>();
    for (const { plugin } of this.control()) if (plugin.configKey !== undefined && plugin.options) m.set(plugin.configKey, plugin.options);
    return m;
  }
  all(): LoadedPlugin[] { return [...this.byKind.values()].flatMap((m) => [...m.values()]); }
  /** The forwarder carrying out `method` (loadPlugins keeps one per method); its capabilities feed the table. */
  forwarder(method: FwdMethod): ForwarderPlugin<unknown> | undefined {
    // per real server added or edited: a walk over the few forwarders, no allocation
    for (const p of this.byKind.get('forwarder')?.values() ?? []) {
      const f = p.plugin as ForwarderPlugin<unknown>;
      if (f.method === method) return f;
    }
    return undefined;
  }
  files(): string[] {
    return [...this.byKind.values()].flatMap((m) => [...m.values()].map((p) => p.file));
  }
}

/** Checks an export against its kind; returns the plugin or an error text. */
export function checkPlugin(value: unknown, expectedKind?: PluginKind): AnyPlugin | string {
  if (typeof value !== 'object' || value === null) {
    return 'its default export must be an object made by defineScheduler/defineForwarder/defineHealthCheck/defineClassifier/defineSync/defineFailover';
  }
  const o = value as Record<string, unknown>;
  const kind = o['kind'];
  if (typeof kind !== 'string' || !(PLUGIN_KINDS as readonly string[]).includes(kind)) {
    return `its default export has no valid "kind" (got ${JSON.stringify(kind)}); make it with one of the define… helpers`;
  }
  const k = kind as PluginKind;
  if (expectedKind && k !== expectedKind) return `it is a ${k} plugin but sits in the ${KIND_DIRS[expectedKind]} folder`;
  const name = o['name'];
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    return `its name must be 1..15 letters, digits, '-', '_' or '.' (got ${JSON.stringify(name)})`;
  }
  for (const h of REQUIRED_HOOKS[k]) {
    if (typeof o[h] !== 'function') return `${k} "${name}" lacks the required hook ${h}()`;
  }
  const allowed = new Set([...COMMON_KEYS, ...REQUIRED_HOOKS[k], ...OPTIONAL_HOOKS[k], ...(EXTRA_KEYS[k] ?? [])]);
  for (const key of Object.keys(o)) {
    if (!allowed.has(key)) return `${k} "${name}" has an unknown key "${key}" (allowed: ${[...allowed].join(', ')})`;
  }
  for (const h of OPTIONAL_HOOKS[k]) {
    if (o[h] !== undefined && typeof o[h] !== 'function') return `${k} "${name}": ${h} must be a function`;
  }
  // A forwarder's method is data, not a hook: checked here so a typo is caught at load time.
  if (k === 'forwarder' && !['masq', 'route', 'tunnel', 'local'].includes(String(o['method']))) {
    return `forwarder "${name}" has method ${JSON.stringify(o['method'])}; use masq, route, tunnel or local`;
  }
  // A control-plane plugin owns a config key only together with the schema of its value.
  if ((CONTROL_KINDS as readonly string[]).includes(k)) {
    const key = o['configKey'];
    const schema = o['options'];
    if (key !== undefined && (typeof key !== 'string' || !CONFIG_KEY_RE.test(key))) {
      return `${k} "${name}": configKey must be an identifier of at most 32 letters and digits, starting lower-case (got ${JSON.stringify(key)})`;
    }
    if (schema !== undefined && !isSchema(schema)) return `${k} "${name}": options must be a zod schema (z.object({ … }))`;
    if ((key === undefined) !== (schema === undefined)) {
      return `${k} "${name}": configKey and options go together (the key of config.ts it owns, and the schema of its value)`;
    }
    if (o['always'] !== undefined && (typeof o['always'] !== 'boolean' || key === undefined)) {
      return `${k} "${name}": always must be true or false, and goes with a configKey (run without the key too)`;
    }
  }
  return value as AnyPlugin;
}

/** A zod schema, by its shape (the plugin's zod module is not necessarily ours). */
function isSchema(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { safeParse?: unknown }).safeParse === 'function';
}

const PROJECT_ROOT = PACKAGE_ROOT;

/**
 * lvsd's own dependencies stay external (native addons cannot be bundled); the
 * compiled modules live under the project's node_modules so those resolve.
 */
function projectDependencies(): string[] {
  try {
    const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    return Object.keys(pkg.dependencies ?? {});
  } catch { return []; }
}

/**
 * StrictModes (README "Security"): a plugin runs with lvsd's privileges, so
 * it, every file it imports, its folder and every folder above them must
 * belong to root or to lvsd's user and be writable by no one else.
 */
function assertSafe(path: string, what: string): void {
  const why = unsafePathReason(path);
  if (why !== null) throw new PluginError(path, `refusing ${what}: ${why}`);
}

function cacheDir(): string {
  const d = join(PROJECT_ROOT, 'node_modules', '.cache', 'lvsd-plugins');
  mkdirSync(d, { recursive: true, mode: 0o700 });
  assertSafe(d, 'to load compiled plugins from it');
  return d;
}

/** What a compiled plugin was built from: every input file's identity when it was compiled. */
interface Compiled {
  inputs: { path: string; stamp: string }[];
  external: string;
  module: string;
  /** The module's default export once imported by this process. */
  value?: { v: unknown };
}

/**
 * Plugin files compiled by this process, by absolute path. Every reload loads
 * the plugins again; a file none of whose inputs (the file, its imports, the
 * core files it bundles) changed is the same module, so esbuild (a round trip
 * to its service per file: ~10 ms each, ~250 ms for the built-in plugins) is
 * skipped and the module already imported is taken again, exactly as the
 * content-hashed import would have returned it.
 */
const compiled = new Map<string, Compiled>();

/** A file's identity for the cache: changes whenever its content may have (inode, size, mtime, ctime). */
function stat(path: string): { stamp: string; mtimeNs: bigint } | null {
  try {
    const s = statSync(path, { bigint: true });
    return { stamp: `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`, mtimeNs: s.mtimeNs };
  } catch { return null; }
}

/**
 * A file modified this close to (or after) the start of its compilation may
 * have been compiled as it was before: not cached (2 s covers filesystems
 * with coarse timestamps).
 */
const SETTLED_NS = 2_000_000_000n;

/**
 * What this process compiled is also written beside the modules (one small
 * JSON file per plugin file), so that the next start of lvsd takes an
 * unchanged plugin without esbuild too (~0.3 s for the built-in plugins).
 */
function manifestPath(abs: string): string {
  return join(cacheDir(), `${basename(abs).replace(/\.[cm]?[jt]s$/, '')}-${createHash('sha256').update(abs).digest('hex').slice(0, 16)}.json`);
}

function readManifest(abs: string): Compiled | undefined {
  try {
    const m = JSON.parse(readFileSync(manifestPath(abs), 'utf8')) as Partial<Compiled>;
    // only a module of the cache itself is ever taken from a manifest
    if (typeof m.module !== 'string' || dirname(m.module) !== cacheDir() || typeof m.external !== 'string' || !Array.isArray(m.inputs)) return undefined;
    const inputs = m.inputs.filter((i): i is Compiled['inputs'][number] => typeof i?.path === 'string' && typeof i.stamp === 'string');
    if (inputs.length !== m.inputs.length || inputs.length === 0) return undefined;
    return { inputs, external: m.external, module: m.module };
  } catch { return undefined; }
}

function writeManifest(abs: string, c: Compiled): void {
  try {
    const file = manifestPath(abs);
    // written aside and renamed, as the modules are
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ inputs: c.inputs, external: c.external, module: c.module }), { mode: 0o600 });
    renameSync(tmp, file);
  } catch { /* a cache: compiled again next time */ }
}

function unchanged(c: Compiled, external: string): boolean {
  if (c.external !== external) return false;
  for (const i of c.inputs) if (stat(i.path)?.stamp !== i.stamp) return false;
  return true;
}

/** Compiles one plugin file and imports it. */
export async function loadPluginFile(file: string, expectedKind?: PluginKind): Promise<LoadedPlugin> {
  const abs = resolve(file);
  const externals = projectDependencies();
  const externalKey = externals.join('\n');
  const hit = compiled.get(abs) ?? readManifest(abs);
  assertSafe(abs, 'to load it');
  if (hit && unchanged(hit, externalKey) && existsSync(hit.module)) {
    if (!hit.value) {
      // what it was compiled from was checked then; the inputs may have been chmod'ed since
      for (const i of hit.inputs) assertSafe(i.path, `to load ${abs}, which imports it`);
      assertSafe(hit.module, 'to load this compiled plugin');
      try {
        hit.value = { v: (await import(pathToFileURL(hit.module).href) as { default?: unknown }).default };
      } catch (e) {
        throw new PluginError(abs, `failed while loading: ${(e as Error).message}`);
      }
      compiled.set(abs, hit);
    }
    const checked = checkPlugin(hit.value.v, expectedKind);
    if (typeof checked === 'string') throw new PluginError(abs, checked);
    return { plugin: checked, file: abs, module: hit.module };
  }
  let code: string;
  let inputs: Compiled['inputs'] | null = [];
  try {
    const cwd = process.cwd();
    const started = BigInt(Date.now()) * 1_000_000n;
    const out = await build({
      entryPoints: [abs], bundle: true, write: false, platform: 'node', format: 'esm', target: 'node20',
      sourcemap: 'inline', logLevel: 'silent', alias: { lvsd: CORE_INDEX },
      external: externals, metafile: true, absWorkingDir: cwd,
    });
    code = out.outputFiles[0]!.text;
    for (const rel of Object.keys(out.metafile.inputs)) {
      const path = resolve(cwd, rel);
      if (existsSync(path)) assertSafe(path, `to load ${abs}, which imports it`);
      const st = stat(path);
      // not a plain file (a virtual module), or changed while it compiled: not cached
      if (st === null || st.mtimeNs > started - SETTLED_NS) { inputs = null; break; }
      inputs.push({ path, stamp: st.stamp });
    }
  } catch (e) {
    if (e instanceof PluginError) throw e;
    const errs = (e as { errors?: { text: string; location?: { file: string; line: number; column: number } | null }[] }).errors;
    const first = errs?.[0];
    const where = first?.location ? `${first.location.file}:${first.location.line}:${first.location.column}: ` : '';
    throw new PluginError(abs, `does not compile: ${where}${first?.text ?? (e as Error).message}`);
  }
  const hash = createHash('sha256').update(abs).update(code).digest('hex').slice(0, 16);
  const module = join(cacheDir(), `${basename(abs).replace(/\.[cm]?[jt]s$/, '')}-${hash}.mjs`);
  if (!existsSync(module)) {
    // Written aside and renamed: a concurrent lvsd (or --check) never imports half a module.
    const tmp = `${module}.${process.pid}.tmp`;
    writeFileSync(tmp, code, { mode: 0o600 });
    renameSync(tmp, module);
  }
  assertSafe(module, 'to load this compiled plugin');
  let mod: { default?: unknown };
  try {
    mod = await import(pathToFileURL(module).href) as { default?: unknown };
  } catch (e) {
    throw new PluginError(abs, `failed while loading: ${(e as Error).message}`);
  }
  const checked = checkPlugin(mod.default, expectedKind);
  if (typeof checked === 'string') throw new PluginError(abs, checked);
  if (inputs) {
    const c: Compiled = { inputs, external: externalKey, module, value: { v: mod.default } };
    compiled.set(abs, c);
    writeManifest(abs, c);
  }
  return { plugin: checked, file: abs, module };
}

const isPluginSource = (f: string): boolean => /\.(ts|mts|js|mjs)$/.test(f) && !/\.(test|d)\.[mc]?ts$/.test(f);

/**
 * The plugin files of a folder: either laid out by kind (schedulers/, health/,
 * …, as plugins/ is) or flat, in which case each file declares its kind.
 */
export function pluginFilesIn(dir: string): { file: string; kind?: PluginKind }[] {
  const out: { file: string; kind?: PluginKind }[] = [];
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return out;
  for (const entry of readdirSync(dir).sort()) {
    const p = join(dir, entry);
    const kind = PLUGIN_KINDS.find((k) => KIND_DIRS[k] === entry);
    if (kind && statSync(p).isDirectory()) {
      for (const f of readdirSync(p).sort()) {
        if (isPluginSource(f) && statSync(join(p, f)).isFile()) out.push({ file: join(p, f), kind });
      }
    } else if (isPluginSource(entry) && statSync(p).isFile()) {
      out.push({ file: p });
    }
  }
  return out;
}

/**
 * Loads the built-in plugins and every extra folder into one registry; the first error wins.
 * The engine keeps one forwarder per method: an operator's forwarder takes its
 * method over from the built-in one (noted in `notes`), a second operator's
 * forwarder for a method is refused.
 */
export async function loadPlugins(extraDirs: readonly string[], opts: { builtin?: boolean; base?: PluginRegistry } = {}): Promise<PluginRegistry> {
  const reg = new PluginRegistry();
  const byMethod = new Map<string, { name: string; file: string; builtin: boolean }>();
  // `base`: plugins already loaded (a copy is extended; base is left as it is).
  if (opts.base) reg.notes.push(...opts.base.notes);
  for (const p of opts.base?.all() ?? []) {
    reg.add(p);
    if (p.plugin.kind === 'forwarder') {
      byMethod.set(p.plugin.method, { name: p.plugin.name, file: p.file, builtin: p.file.startsWith(`${BUILTIN_PLUGIN_DIR}/`) });
    }
  }
  const dirs = [...(opts.builtin === false ? [] : [BUILTIN_PLUGIN_DIR]), ...extraDirs.map((d) => resolve(d))];
  for (const dir of dirs) {
    if (dir !== BUILTIN_PLUGIN_DIR && (!existsSync(dir) || !statSync(dir).isDirectory())) {
      throw new PluginError(dir, 'is not a folder');
    }
    if (existsSync(dir)) assertSafe(dir, 'to load plugins from it');
    for (const { file, kind } of pluginFilesIn(dir)) {
      const p = await loadPluginFile(file, kind);
      reg.add(p);
      if (p.plugin.kind === 'forwarder') {
        const builtin = dir === BUILTIN_PLUGIN_DIR;
        const prev = byMethod.get(p.plugin.method);
        if (prev !== undefined) {
          if (!prev.builtin || builtin) {
            throw new PluginError(p.file, `a forwarder for method ${p.plugin.method} is already loaded from ${prev.file}`);
          }
          reg.delete('forwarder', prev.name);
          reg.notes.push(`forwarder ${p.plugin.name} (${p.file}) serves method ${p.plugin.method} instead of the built-in ${prev.name}`);
        }
        byMethod.set(p.plugin.method, { name: p.plugin.name, file: p.file, builtin });
      }
    }
  }
  return reg;
}

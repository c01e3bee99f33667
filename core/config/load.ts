// config.ts → desired state: bundle it (and its local imports) with esbuild,
// evaluate the bundle in a node:vm context under a time limit, take the default
// export (an object, a function returning one, or a promise of either), and
// validate it. Every failure becomes one complete message for the operator:
// the file, line:column where known, and for schema errors the field path.
//
// node:vm is not a sandbox (config is trusted operator code); it gives the
// config a clean global scope and lets us stop a runaway top-level loop.

import { build, type Message, type Plugin } from 'esbuild';
import { readFileSync, statSync } from 'node:fs';
import { SourceMap, createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import vm from 'node:vm';
import { pluginFolders, validateConfig, type ConfigIssue, type DesiredState, type ValidateContext } from './schema.js';
import { locateField, type Token } from './locate.js';
import * as lvsdContract from '../index.js';
import { PACKAGE_ROOT } from '../paths.js';
import { unsafePathReason } from '../security/safe-path.mjs';

/** Schema issues shown in one message; the rest are counted. */
const MAX_SHOWN = 20;

export type LoadResult =
  | { ok: true; desired: DesiredState; files: string[] }
  | { ok: false; error: string; files: string[] };

export interface LoadOptions {
  /** Limit for evaluating the bundle, and again for awaiting a promised config. Default 5000 ms. */
  timeoutMs?: number;
  /** What the config sees as `process.env`; default the daemon's own. */
  env?: Record<string, string | undefined>;
  /**
   * Which scheduler names exist. Default: any name (the caller checks them once
   * it has loaded the plugin folders the config names).
   */
  knownSchedulers?: (name: string) => boolean;
  /** Scheduler names for "did you mean" hints. */
  schedulerNames?: string[];
  /** Persistence engines; default ['sip']. */
  knownEngines?: string[];
  /**
   * Loads the plugins of these folders (the config's own `plugins`, absolute)
   * before the config is validated, and says what they add to the validation:
   * scheduler and checker names, flag words, control-plane root keys. A throw
   * (a plugin that does not load) is returned as the error when the config is
   * otherwise valid, as if the plugins were loaded after it.
   */
  plugins?: (folders: string[]) => Promise<Partial<ValidateContext>>;
}

const DEFAULT_TIMEOUT_MS = 5000;

/** lvsd's own sources (not watched: the operator's files are). */
const CORE_DIR = join(PACKAGE_ROOT, 'core');

/** Files worth watching: the operator's, not lvsd's own core nor installed packages. */
function isOperatorFile(f: string): boolean {
  return !f.startsWith(CORE_DIR + sep) && !f.split(sep).includes('node_modules');
}

// ------------------------------------------------------------------ bundle

interface Bundle { code: string; map: SourceMap | null; bundleName: string }

type BundleResult = { ok: true; bundle: Bundle } | { ok: false; error: string };

/** Records every file esbuild loads, even when the build then fails (so a broken import is watched too). */
function recorder(loaded: Set<string>): Plugin {
  return {
    name: 'lvsd-config',
    setup(b) {
      // 'lvsd' is the daemon's own loaded contract, served by the require() the
      // config runs with: bundling it again (zod and ~100 files) cost most of a reload.
      b.onResolve({ filter: /^lvsd$/ }, () => ({ path: 'lvsd', external: true }));
      b.onLoad({ filter: /.*/, namespace: 'file' }, (args) => { loaded.add(args.path); return undefined; });
    },
  };
}

function formatEsbuildMessage(m: Message, baseDir: string): string {
  const loc = m.location;
  if (!loc) return m.text;
  const file = resolve(baseDir, loc.file);
  const caret = `${' '.repeat(loc.column)}${'^'.repeat(Math.max(1, Math.min(loc.length, 40)))}`;
  return `${file}:${loc.line}:${loc.column + 1}: ${m.text}\n    ${loc.lineText}\n    ${caret}`;
}

/**
 * Bundles config.ts. The source map is built only when asked (to map a thrown
 * error's stack): for a large literal config it costs a third of the bundle.
 */
async function bundle(file: string, loaded: Set<string>, withMap = false): Promise<BundleResult> {
  const baseDir = dirname(file);
  const bundleName = `${file}.lvsd-bundle.js`;
  try {
    const out = await build({
      entryPoints: [file],
      absWorkingDir: baseDir,
      bundle: true,
      write: false,
      platform: 'node',        // node builtins stay external: require() we pass in serves them
      format: 'cjs',
      target: 'node20',
      sourcemap: withMap ? 'external' : false,
      sourcesContent: false,
      outfile: bundleName,
      logLevel: 'silent',
      plugins: [recorder(loaded)],
    });
    const js = out.outputFiles.find((f) => f.path.endsWith('.js'));
    const mapFile = out.outputFiles.find((f) => f.path.endsWith('.map'));
    if (!js) return { ok: false, error: `${file}: esbuild produced no output` };
    let map: SourceMap | null = null;
    if (mapFile) {
      const payload = JSON.parse(mapFile.text) as { sources: string[] } & ConstructorParameters<typeof SourceMap>[0];
      // Sources are relative to the bundle's folder; make them absolute for messages.
      payload.sources = payload.sources.map((s) => resolve(baseDir, s));
      map = new SourceMap(payload);
    }
    return { ok: true, bundle: { code: js.text, map, bundleName } };
  } catch (e) {
    const errors = (e as { errors?: Message[] }).errors;
    if (Array.isArray(errors) && errors.length > 0) {
      const shown = errors.slice(0, 5).map((m) => formatEsbuildMessage(m, baseDir));
      const more = errors.length > 5 ? `\n(${errors.length - 5} more errors)` : '';
      return { ok: false, error: `${shown.join('\n')}${more}` };
    }
    return { ok: false, error: `${file}: cannot bundle the config: ${(e as Error).message}` };
  }
}

// ------------------------------------------------------------------ evaluate

interface ErrorLike { name?: unknown; message?: unknown; stack?: unknown; code?: unknown }

function isErrorLike(e: unknown): e is ErrorLike {
  return typeof e === 'object' && e !== null && 'message' in e;
}

/** A thrown value's stack with bundle positions mapped back to the operator's files. */
function mapStack(stack: string, b: Bundle): { frames: string[]; first?: string } {
  const frames: string[] = [];
  let first: string | undefined;
  const needle = b.bundleName;
  for (const line of stack.split('\n').slice(1)) {
    const at = line.indexOf(needle);
    if (at < 0) continue;
    const m = /^:(\d+):(\d+)/.exec(line.slice(at + needle.length));
    if (!m || !b.map) continue;
    const entry = b.map.findEntry(Number(m[1]) - 1, Number(m[2]) - 1) as { originalSource?: string; originalLine?: number; originalColumn?: number };
    if (entry.originalSource === undefined || entry.originalLine === undefined || entry.originalColumn === undefined) continue;
    const pos = `${entry.originalSource}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
    first ??= pos;
    const fn = /^\s*at (.+?) \(/.exec(line)?.[1];
    frames.push(fn && !fn.startsWith('Object.<anonymous>') ? `    at ${fn} (${pos})` : `    at ${pos}`);
  }
  return { frames, first };
}

function describeThrow(file: string, e: unknown, b: Bundle, when: string, timeoutMs: number): string {
  if (isErrorLike(e) && e.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
    return `${file}: ${when} did not finish within ${timeoutMs} ms and was stopped (a runaway loop?)`;
  }
  if (!isErrorLike(e)) return `${file}: ${when} threw ${typeof e === 'string' ? JSON.stringify(e) : String(e)}`;
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const { frames, first } = typeof e.stack === 'string' ? mapStack(e.stack, b) : { frames: [] };
  return `${first ?? file}: ${when} threw ${name}: ${String(e.message)}${frames.length ? `\n${frames.slice(0, 6).join('\n')}` : ''}`;
}

/** `process` as the config sees it: the real one, with `env` replaced when asked. */
function processView(env: Record<string, string | undefined> | undefined): NodeJS.Process {
  if (!env) return process;
  return new Proxy(process, {
    get: (target, prop) => (prop === 'env' ? env : Reflect.get(target, prop, target)),
  });
}

/** require() for the config: node's, except that 'lvsd' is this daemon's contract module. */
function configRequire(file: string): NodeJS.Require {
  const base = createRequire(file);
  const req = ((id: string): unknown => (id === 'lvsd' ? lvsdContract : base(id))) as NodeJS.Require;
  return Object.assign(req, { resolve: base.resolve, cache: base.cache, main: base.main, extensions: base.extensions });
}

function sandbox(file: string, opts: LoadOptions): { ctx: vm.Context; module: { exports: unknown } } {
  const module = { exports: {} as unknown };
  const globals: Record<string, unknown> = {
    module, exports: module.exports, require: configRequire(file),
    __filename: file, __dirname: dirname(file),
    process: processView(opts.env), console, Buffer,
    setTimeout, clearTimeout, setInterval, clearInterval, setImmediate, clearImmediate, queueMicrotask,
    URL, URLSearchParams, TextEncoder, TextDecoder, AbortController, AbortSignal,
    structuredClone, atob, btoa, performance, fetch,
  };
  return { ctx: vm.createContext(globals, { name: `lvsd config ${file}` }), module };
}

/** A failure, or a throw to describe (with a source map, built then). */
type EvalResult = { ok: true; value: unknown } | { ok: false; error: string } | { ok: false; thrown: unknown; when: string };

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

async function evaluate(file: string, b: Bundle, opts: LoadOptions): Promise<EvalResult> {
  const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { ctx, module } = sandbox(file, opts);
  try {
    new vm.Script(b.code, { filename: b.bundleName }).runInContext(ctx, { timeout });
  } catch (e) {
    return { ok: false, thrown: e, when: 'evaluating the config' };
  }
  const exp = module.exports as Record<string, unknown> | null;
  let value: unknown = typeof exp === 'object' && exp !== null && 'default' in exp ? exp.default : undefined;
  if (value === undefined) {
    return { ok: false, error: `${file}: has no default export; write \`export default defineConfig({ … })\`` };
  }
  if (typeof value === 'function') {
    // Called from inside the context so that the time limit applies to it too.
    (ctx as Record<string, unknown>).__lvsdDefault = value;
    try {
      value = new vm.Script('__lvsdDefault()', { filename: 'lvsd-call-default' }).runInContext(ctx, { timeout });
    } catch (e) {
      return { ok: false, thrown: e, when: 'the default-exported function' };
    } finally {
      delete (ctx as Record<string, unknown>).__lvsdDefault;
    }
  }
  if (isThenable(value)) {
    let timer: NodeJS.Timeout | undefined;
    const expired = Symbol('expired');
    try {
      const settled = await Promise.race([
        Promise.resolve(value),
        new Promise<typeof expired>((res) => { timer = setTimeout(() => res(expired), timeout); }),
      ]);
      if (settled === expired) {
        return { ok: false, error: `${file}: the config's promise did not settle within ${timeout} ms` };
      }
      value = settled;
    } catch (e) {
      return { ok: false, thrown: e, when: 'the config\'s promise' };
    } finally {
      clearTimeout(timer);
    }
  }
  return { ok: true, value };
}

// ------------------------------------------------------------------ messages

function readSources(files: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of files) {
    try { m.set(f, readFileSync(f, 'utf8')); } catch { /* vanished: skip */ }
  }
  return m;
}

/** One schema issue as a line: `file:line:col: path: message`. */
export function formatIssue(file: string, i: ConfigIssue): string {
  const where = i.file && i.line ? `${i.file}:${i.line}:${i.column ?? 1}` : file;
  const near = i.approximate ? ' [location is a best-effort search of the source]' : '';
  return `${where}: ${i.path ? `${i.path}: ` : ''}${i.message}${near}`;
}

/**
 * Schema issues as one operator message, each located in the source where we
 * can find it. Exported for checks made after loading (e.g. scheduler names
 * once the config's plugin folders are loaded): pass the LoadResult's files.
 */
export function describeIssues(file: string, issues: ConfigIssue[], files: string[]): string {
  // Only the issues shown are located: locating reads the source, and a config
  // with thousands of errors must be refused at once, not after minutes.
  const shown = issues.slice(0, MAX_SHOWN);
  const sources = readSources(files);
  const tokens = new Map<string, Token[]>();
  const located = shown.map((i) => {
    const loc = locateField(i.path, i.value, 'value' in i, file, sources, tokens);
    return loc ? { ...i, file: loc.file, line: loc.line, column: loc.column, approximate: loc.approximate } : i;
  });
  if (issues.length === 1) return formatIssue(file, located[0]!);
  const lines = located.map((i) => `  ${formatIssue(file, i)}`);
  const more = issues.length > MAX_SHOWN ? `\n  (${issues.length - MAX_SHOWN} more)` : '';
  return `${file}: ${issues.length} problems in the config:\n${lines.join('\n')}${more}`;
}

// ------------------------------------------------------------------ entry

/**
 * The bundle again, with its source map. Same input, same code: positions in a
 * stack taken from the first bundle are valid in this one (unless the file
 * changed in between, which the watcher follows with a reload anyway).
 */
async function mapped(file: string, b: Bundle): Promise<Bundle> {
  const again = await bundle(file, new Set(), true);
  return again.ok && again.bundle.code === b.code ? again.bundle : b;
}

/** Loads, evaluates and validates config.ts. Never throws. */
export async function loadConfig(file: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const abs = resolve(file);
  const loaded = new Set<string>([abs]);
  const filesOf = (): string[] => [...loaded].filter(isOperatorFile);
  try {
    if (!statSync(abs).isFile()) return { ok: false, error: `${abs}: not a file`, files: [abs] };
  } catch (e) {
    return { ok: false, error: `${abs}: cannot read the config file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, files: [abs] };
  }
  const b = await bundle(abs, loaded);
  if (!b.ok) return { ok: false, error: b.error, files: filesOf() };
  const files = filesOf();
  // StrictModes (README "Security"): the config runs with lvsd's privileges,
  // so none of its files may be another user's to change. Checked before it runs.
  for (const f of loaded) {
    const why = unsafePathReason(f);
    if (why !== null) return { ok: false, error: `${f}: refusing to run this config file: ${why}`, files };
  }
  const ev = await evaluate(abs, b.bundle, opts);
  if (!ev.ok) {
    if ('error' in ev) return { ok: false, error: ev.error, files };
    return { ok: false, error: describeThrow(abs, ev.thrown, await mapped(abs, b.bundle), ev.when, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS), files };
  }
  let v: ReturnType<typeof validateConfig>;
  let pluginError: string | undefined;
  try {
    let fromPlugins: Partial<ValidateContext> = {};
    if (opts.plugins) {
      try { fromPlugins = await opts.plugins(pluginFolders(ev.value, abs)); } catch (e) { pluginError = (e as Error).message; }
    }
    v = validateConfig(ev.value, {
      ...fromPlugins,
      file: abs,
      knownSchedulers: opts.knownSchedulers ?? (() => true),
      ...(opts.knownEngines ? { knownEngines: opts.knownEngines } : {}),
      ...(opts.schedulerNames ? { schedulerNames: opts.schedulerNames } : {}),
    });
  } catch (e) {
    // A getter or proxy in the config object threw while we read it.
    return { ok: false, error: describeThrow(abs, e, await mapped(abs, b.bundle), 'reading the config object', 0), files };
  }
  if (!v.ok && pluginError !== undefined) {
    // Without the plugins a root key may be unknown only because its plugin did not load.
    const rest = v.errors.filter((i) => !(/^[\w$]+$/.test(i.path) && i.message.startsWith('unknown setting')));
    if (rest.length) return { ok: false, error: describeIssues(abs, rest, files), files };
  }
  if (pluginError !== undefined) return { ok: false, error: pluginError, files };
  if (!v.ok) return { ok: false, error: describeIssues(abs, v.errors, files), files };
  return { ok: true, desired: v.desired, files };
}

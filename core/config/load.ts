// config.ts → desired state: bundle it (and its local imports) with esbuild,
// evaluate the bundle in a worker thread under time limits (eval-worker.ts),
// take the default export (an object, a function returning one, or a promise
// of either) as plain data, and validate it. Every failure becomes one
// complete message for the operator: the file, line:column where known, and
// for schema errors the field path.
//
// The worker is not a security sandbox (config is trusted operator code): it
// keeps the config's mistakes (endless loops, stray timers, process.exit())
// away from the daemon's event loop and process.

import { build, type Message, type Plugin } from 'esbuild';
import { readFileSync, statSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { Worker } from 'node:worker_threads';
import { pluginFolders, validateConfig, type ConfigIssue, type DesiredService, type DesiredState, type ValidateContext } from './schema.js';
import { locateField, type Token } from './locate.js';
import type { EvalJob, EvalMessage, ThrownData } from './eval-protocol.js';
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
/** Without a list of schedulers, any name passes (the caller checks them itself). One function, so the service memo keeps. */
const ANY_SCHEDULER = (): boolean => true;

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
      // V8 compiles the bundle in the evaluation worker ~20% faster without the
      // indentation of a large literal config; stacks map back through the map as before
      minifyWhitespace: true,
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

function describeThrow(file: string, e: ThrownData, b: Bundle, when: string): string {
  if (!e.error) return `${file}: ${when} threw ${e.text}`;
  const { frames, first } = e.stack !== undefined ? mapStack(e.stack, b) : { frames: [] };
  return `${first ?? file}: ${when} threw ${e.name}: ${e.message}${frames.length ? `\n${frames.slice(0, 6).join('\n')}` : ''}`;
}

// The config runs in a worker thread (eval-worker.ts), one per evaluation,
// terminated after it: whatever it does (an endless loop in a timer or a
// promise callback, a throw in a timer, an unhandled rejection,
// process.exit()) ends that thread, not the daemon, and none of its timers
// outlive it. Its value comes back as data: JSON text (large arrays in pieces)
// when JSON carries it exactly, a structured clone otherwise; no functions.
// Starting a worker and importing the contract costs tens of ms, so one is
// kept ready: taken by the next evaluation, replaced once that one is over.

const EVAL_BOOT = join(PACKAGE_ROOT, 'core', 'config', 'eval-boot.mjs');
/** Beyond a step's time limit, how long the worker is given to say so itself (a promise that never settles) before it is terminated. */
const GRACE_MS = 250;
/** How long a worker may take to start (import the contract); a cold bundle cache is built then. */
const START_MS = 60_000;

/** Heap of an evaluation (a 10 000 × 10 config needs < 200 MB). */
const MAX_HEAP_MB = 2048;

let spare: Promise<Worker> | null = null;

function spawnWorker(): Promise<Worker> {
  let w: Worker;
  try {
    // resourceLimits: a config that allocates without end meets this heap's limit, not the daemon's
    w = new Worker(EVAL_BOOT, { resourceLimits: { maxOldGenerationSizeMb: MAX_HEAP_MB } });
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));   // no thread to be had: this load fails, the daemon stays
  }
  // An idle spare must not keep a process (lvsd --check, a test) alive.
  w.unref();
  // An 'error' nobody listens to would be thrown in the daemon; evaluate() listens for its own.
  w.on('error', () => { /* reported by the evaluation, if any */ });
  const ready = new Promise<Worker>((res, rej) => {
    const t = setTimeout(() => { void w.terminate(); rej(new Error(`the config worker did not start within ${START_MS / 1000} s`)); }, START_MS);
    t.unref();
    const fail = (e: Error): void => { clearTimeout(t); rej(e); };
    w.once('message', (m: EvalMessage) => { clearTimeout(t); w.off('error', fail); if (m.kind === 'ready') res(w); else rej(new Error('the config worker did not start')); });
    w.once('error', fail);
    w.once('exit', (code) => fail(new Error(`the config worker exited (${code}) while starting`)));
  });
  // a spare that fails to start is noticed by the evaluation that takes it
  ready.catch(() => { /* reported there */ });
  return ready;
}

/** Starts the spare evaluation worker if there is none (the daemon calls this early, so the first load does not wait for it). */
export function prewarmConfigWorker(): void {
  spare ??= spawnWorker();
}

async function takeWorker(): Promise<Worker> {
  const w = spare ?? spawnWorker();
  spare = null;
  try {
    return await w;
  } catch {
    return spawnWorker();   // the spare died (or its start failed): one more try, fresh
  }
}

/** A failure, or a throw to describe (with a source map, built then). */
type EvalResult = { ok: true; value: unknown } | { ok: false; error: string } | { ok: false; thrown: ThrownData; when: string };

/**
 * What one config file's last load leaves for the next: its large arrays'
 * elements by JSON text (an unchanged element comes back as the same object),
 * and its services as validated, by those objects (schema.ts ServiceMemo), as
 * long as what validation depends on (`key`) is the same. So a one-line edit
 * of a 10 000-service config parses and validates one service.
 */
interface Reuse {
  elements: Map<string, unknown>;
  services: WeakMap<object, DesiredService>;
  key: readonly unknown[];
}

/** Per config file (a daemon has one; tests and `lvsd --check` load others). */
const reuseByFile = new Map<string, Reuse>();

function reuseFor(file: string): Reuse {
  let r = reuseByFile.get(file);
  if (!r) reuseByFile.set(file, r = { elements: new Map(), services: new WeakMap(), key: [] });
  return r;
}

/** The services memo for this context: emptied when a plugin, a name list or an option validation depends on is another. */
function serviceMemo(r: Reuse, ctx: ValidateContext): WeakMap<object, DesiredService> {
  const key = [ctx.file, ctx.knownSchedulers, ctx.knownEngines?.join(' '), ctx.schedulerNames?.join(' '),
    ctx.checkNames?.join(' '), ...(ctx.pluginKeys?.keys() ?? []), ...(ctx.loaded ?? [])];
  if (key.length !== r.key.length || key.some((k, i) => k !== r.key[i])) {
    r.services = new WeakMap();
    r.key = key;
  }
  return r.services;
}

async function evaluate(file: string, b: Bundle, opts: LoadOptions): Promise<EvalResult> {
  const reuse = reuseFor(file);
  const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let w: Worker;
  try {
    w = await takeWorker();
  } catch (e) {
    return { ok: false, error: `${file}: cannot evaluate the config: ${(e as Error).message}` };
  }
  const job: EvalJob = { file, code: b.code, bundleName: b.bundleName, timeoutMs: timeout, ...(opts.env ? { env: opts.env } : {}) };
  try {
    return await new Promise<EvalResult>((res) => {
      let phase = 'evaluating the config';
      const pieces = new Map<string, unknown[]>();
      const seen = reuse.elements;
      const next = new Map<string, unknown>();
      const done = (r: EvalResult): void => {
        clearTimeout(deadline);
        w.removeListener('message', onMessage).removeListener('error', onError).removeListener('exit', onExit);
        res(r);
      };
      // Each step (evaluating, calling the default export, awaiting its promise) has `timeout`;
      // a worker that does not answer by then is stuck in a loop, in the config's code or in
      // a timer or promise callback of it (which its own timers cannot interrupt): terminated.
      const deadline = setTimeout(() => done({ ok: false,
        error: `${file}: ${phase} did not finish within ${timeout} ms and was stopped (a runaway loop${phase === 'evaluating the config' ? '' : ', perhaps in a timer or a promise callback'}?)` }), timeout + GRACE_MS);
      const onMessage = (m: EvalMessage): void => {
        if (m.kind === 'phase') { phase = m.phase; deadline.refresh(); }
        else if (m.kind === 'value') done({ ok: true, value: m.value });
        else if (m.kind === 'json-items') {
          // taken as they come, while the worker writes the next; an element as in the last load is that load's object
          let have = pieces.get(m.key);
          if (!have) pieces.set(m.key, have = []);
          for (const text of m.texts) {
            let x = next.get(text);
            if (x === undefined) {
              x = seen.get(text) ?? JSON.parse(text) as unknown;
              next.set(text, x);
            }
            have.push(x);
          }
        } else if (m.kind === 'json') {
          const value = JSON.parse(m.text) as unknown;
          if (m.pieces && typeof value === 'object' && value !== null) {
            for (const k of m.pieces) (value as Record<string, unknown>)[k] = pieces.get(k) ?? [];
          }
          reuse.elements = next;
          done({ ok: true, value });
        }
        else if (m.kind === 'failed') done({ ok: false, error: m.error });
        else if (m.kind === 'thrown') done({ ok: false, thrown: m.thrown, when: m.when });
      };
      const onError = (e: Error): void => done({ ok: false, thrown: { error: true, name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) }, when: phase });
      const onExit = (code: number): void => done({ ok: false,
        error: `${file}: the config called process.exit(${code}) while ${phase}; config.ts must not end the process` });
      w.on('message', onMessage).on('error', onError).on('exit', onExit);
      w.postMessage(job);
    });
  } finally {
    // used once: its timers, its globals and anything still running go with it
    void w.terminate();
    // the next one at once: a reload that follows closely (SIGHUP twice) finds it ready
    setImmediate(prewarmConfigWorker);
  }
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
  // started now, it is ready by the time the bundle is
  prewarmConfigWorker();
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
    return { ok: false, error: describeThrow(abs, ev.thrown, await mapped(abs, b.bundle), ev.when), files };
  }
  let v: ReturnType<typeof validateConfig>;
  let pluginError: string | undefined;
  try {
    let fromPlugins: Partial<ValidateContext> = {};
    if (opts.plugins) {
      try { fromPlugins = await opts.plugins(pluginFolders(ev.value, abs)); } catch (e) { pluginError = (e as Error).message; }
    }
    const ctx: ValidateContext = {
      ...fromPlugins,
      file: abs,
      knownSchedulers: opts.knownSchedulers ?? ANY_SCHEDULER,
      ...(opts.knownEngines ? { knownEngines: opts.knownEngines } : {}),
      ...(opts.schedulerNames ? { schedulerNames: opts.schedulerNames } : {}),
    };
    v = validateConfig(ev.value, { ...ctx, serviceMemo: serviceMemo(reuseFor(abs), ctx) });
  } catch (e) {
    // Not the config's doing (its value is a plain copy by now): a bug of ours or of a plugin's schema.
    return { ok: false, error: `${abs}: validating the config failed: ${(e as Error).message}`, files };
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

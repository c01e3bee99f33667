// The worker thread that evaluates one config.ts bundle (core/config/load.ts
// sends it, then terminates the thread). Whatever the config does — loops in
// a timer or a promise callback, throws in a timer, leaves a rejection
// unhandled, calls process.exit() — happens in this thread: the daemon sees a
// message, an error or an exit, or hears nothing and terminates it. Its
// timers die with the thread, so nothing of one evaluation runs after it.
//
// node:vm still gives the config a clean global scope, without vm's own
// timeout: its watchdog is one more thread per evaluation, and node aborts the
// whole process when that thread cannot start; the daemon's deadline stops any
// loop, synchronous or not. `import … from 'lvsd'` is served from this
// thread's own import of the contract.

import { parentPort } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import vm from 'node:vm';
import * as lvsdContract from '../index.js';
import type { EvalJob, EvalMessage, ThrownData } from './eval-protocol.js';

const port = parentPort;
if (!port) throw new Error('core/config/eval-worker.ts runs as a worker thread');

function thrownData(e: unknown): ThrownData {
  if (typeof e === 'object' && e !== null && 'message' in e) {
    const o = e as { name?: unknown; message?: unknown; stack?: unknown; code?: unknown };
    return {
      error: true,
      name: typeof o.name === 'string' ? o.name : 'Error',
      message: String(o.message),
      ...(typeof o.stack === 'string' ? { stack: o.stack } : {}),
      ...(typeof o.code === 'string' ? { code: o.code } : {}),
    };
  }
  let text: string;
  try { text = typeof e === 'string' ? JSON.stringify(e) : String(e); } catch { text = 'a value that cannot be shown'; }
  return { error: false, text };
}

let phase = 'evaluating the config';
const send = (m: EvalMessage): void => port.postMessage(m);
const enter = (p: string): void => { phase = p; send({ kind: 'phase', phase: p }); };

// A throw in a timer or an unhandled rejection ends the load with that error (the daemon terminates this thread after).
process.on('uncaughtException', (e) => send({ kind: 'thrown', thrown: thrownData(e), when: `a timer or callback of the config (while ${phase})` }));
process.on('unhandledRejection', (e) => send({ kind: 'thrown', thrown: thrownData(e), when: `an unhandled promise rejection (while ${phase})` }));

/** `process` as the config sees it: this thread's, with `env` replaced and abort() refused (it would end the daemon too). */
function processView(env: Record<string, string | undefined> | undefined): NodeJS.Process {
  return new Proxy(process, {
    get: (target, prop) => {
      if (prop === 'env' && env) return env;
      if (prop === 'abort') return () => { throw new Error('process.abort() is not allowed in config.ts'); };
      return Reflect.get(target, prop, target);
    },
  });
}

function configRequire(file: string): NodeJS.Require {
  const base = createRequire(file);
  const req = ((id: string): unknown => (id === 'lvsd' ? lvsdContract : base(id))) as NodeJS.Require;
  return Object.assign(req, { resolve: base.resolve, cache: base.cache, main: base.main, extensions: base.extensions });
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Where in `v` the first value is that cannot cross to the daemon (a function,
 * a symbol…), for the message; iterative, so a deep structure cannot overflow.
 */
function uncloneable(v: unknown): string | null {
  const stack: { path: string; v: unknown }[] = [{ path: 'config', v }];
  const seen = new Set<unknown>();
  while (stack.length) {
    const { path, v: x } = stack.pop()!;
    if (typeof x === 'function') return `${path} is a function`;
    if (typeof x === 'symbol') return `${path} is a symbol`;
    if (typeof x !== 'object' || x === null || seen.has(x)) continue;
    seen.add(x);
    try { structuredClone(x); continue; } catch { /* look inside */ }
    for (const [k, c] of Object.entries(x)) stack.push({ path: Array.isArray(x) ? `${path}[${k}]` : `${path}.${k}`, v: c });
  }
  return null;
}

/**
 * Whether JSON carries `v` exactly: strings, finite numbers, booleans, null,
 * arrays and plain objects only (no undefined, NaN, Date, Map, toJSON…).
 * Then the value crosses as JSON text: JSON.parse on the daemon's thread is
 * 2–3× faster than deserialising a structured clone (10 000 services × 10
 * reals: ~30 ms against ~100 ms). Iterative: a deep structure cannot overflow.
 */
function jsonExact(v: unknown): boolean {
  const stack: unknown[] = [v];
  const seen = new Set<object>();
  while (stack.length) {
    const x = stack.pop();
    switch (typeof x) {
      case 'string': case 'boolean': continue;
      case 'number': if (Number.isFinite(x)) continue; return false;
      case 'object': break;
      default: return false;
    }
    if (x === null) continue;
    if (seen.has(x)) continue;   // shared is fine (JSON copies it); a cycle makes JSON.stringify throw
    seen.add(x);
    if (Array.isArray(x)) {
      for (let i = 0; i < x.length; i++) { if (!(i in x)) return false; stack.push(x[i]); }
      continue;
    }
    if (Object.prototype.toString.call(x) !== '[object Object]' || typeof (x as { toJSON?: unknown }).toJSON === 'function') return false;
    for (const k in x) {
      if (!Object.prototype.hasOwnProperty.call(x, k)) return false;   // inherited enumerable: JSON and a clone differ
      stack.push((x as Record<string, unknown>)[k]);
    }
  }
  return true;
}

/** Elements of a top-level array per message: the daemon takes one message in while the next is written. */
const PIECE = 500;
/** Top-level arrays at least this long go element by element (`services`: one text each, compared with the last load's). */
const ITEMS_MIN = 16;

/**
 * Sends `value` as JSON text when JSON carries it exactly; large top-level
 * arrays (`services`) go first, one JSON text per element, in messages of
 * PIECE elements, so that writing (here) and taking in (on the daemon's
 * thread) overlap, and the daemon parses only the elements that changed.
 * False: send a structured clone instead.
 */
function sendJson(value: unknown): boolean {
  try {
    const plainObject = typeof value === 'object' && value !== null && !Array.isArray(value)
      && Object.prototype.toString.call(value) === '[object Object]' && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
    if (!plainObject) {
      if (!jsonExact(value)) return false;
      send({ kind: 'json', text: JSON.stringify(value) });
      return true;
    }
    const rest: Record<string, unknown> = {};
    const parts: string[] = [];
    for (const [k, v] of Object.entries(value)) {
      if (Array.isArray(v) && v.length >= ITEMS_MIN) {
        rest[k] = [];            // keeps the key's place; the daemon puts the elements there
        parts.push(k);
        // each piece checked then written while the daemon takes the one before; a piece
        // that JSON cannot carry (or a cycle, thrown) ends this: the daemon takes the clone instead
        for (let i = 0; i < v.length; i += PIECE) {
          const slice = v.slice(i, i + PIECE);
          if (!jsonExact(slice)) return false;
          send({ kind: 'json-items', key: k, texts: slice.map((x) => JSON.stringify(x)) });
        }
      } else {
        rest[k] = v;
      }
    }
    if (!jsonExact(rest)) return false;
    send({ kind: 'json', text: JSON.stringify(rest), pieces: parts });
    return true;
  } catch {
    return false;
  }
}

async function evaluate(job: EvalJob): Promise<void> {
  const { file, timeoutMs: timeout } = job;
  const module = { exports: {} as unknown };
  const ctx = vm.createContext({
    module, exports: module.exports, require: configRequire(file),
    __filename: file, __dirname: dirname(file),
    process: processView(job.env), console, Buffer,
    setTimeout, clearTimeout, setInterval, clearInterval, setImmediate, clearImmediate, queueMicrotask,
    URL, URLSearchParams, TextEncoder, TextDecoder, AbortController, AbortSignal,
    structuredClone, atob, btoa, performance, fetch,
  }, { name: `lvsd config ${file}` });
  try {
    new vm.Script(job.code, { filename: job.bundleName }).runInContext(ctx);
  } catch (e) {
    send({ kind: 'thrown', thrown: thrownData(e), when: 'evaluating the config' });
    return;
  }
  const exp = module.exports as Record<string, unknown> | null;
  let value: unknown = typeof exp === 'object' && exp !== null && 'default' in exp ? exp.default : undefined;
  if (value === undefined) {
    send({ kind: 'failed', error: `${file}: has no default export; write \`export default defineConfig({ … })\`` });
    return;
  }
  if (typeof value === 'function') {
    enter('the default-exported function');
    try {
      value = (value as () => unknown)();
    } catch (e) {
      send({ kind: 'thrown', thrown: thrownData(e), when: 'the default-exported function' });
      return;
    }
  }
  if (isThenable(value)) {
    enter('the config\'s promise');
    let timer: NodeJS.Timeout | undefined;
    const expired = Symbol('expired');
    try {
      const settled = await Promise.race([
        Promise.resolve(value),
        new Promise<typeof expired>((res) => { timer = setTimeout(() => res(expired), timeout); }),
      ]);
      if (settled === expired) {
        send({ kind: 'failed', error: `${file}: the config's promise did not settle within ${timeout} ms` });
        return;
      }
      value = settled;
    } catch (e) {
      send({ kind: 'thrown', thrown: thrownData(e), when: 'the config\'s promise' });
      return;
    } finally {
      clearTimeout(timer);
    }
  }
  enter('handing the config over');
  // A turn later: a rejection left unhandled by the evaluation is reported first.
  setImmediate(() => {
    try {
      if (!sendJson(value)) send({ kind: 'value', value });
    } catch (e) {
      // DataCloneError, or a getter that threw while the value was copied
      const where = uncloneable(value);
      if (where) send({ kind: 'failed', error: `${file}: the config must be plain data (objects, arrays, strings, numbers, booleans): ${where}` });
      else send({ kind: 'thrown', thrown: thrownData(e), when: 'reading the config object' });
    }
  });
}

port.on('message', (job: EvalJob) => { void evaluate(job); });
send({ kind: 'ready' });

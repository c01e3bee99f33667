// Programs keepalived-style: notify_up/notify_down, quorum_up/quorum_down and
// MISC_CHECK's misc_path are a command line ("<path> <args>", double quotes
// group words) run without a shell, or an argv given as an array.

import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { unsafePathReason } from '../security/safe-path.mjs';

// ------------------------------------------------------------ who runs them
// keepalived's script_user + enable_script_security: programs from config do
// not run as root with the daemon's environment. They run as `scriptUser`
// (default when lvsd is root: the user lvsd-script if it exists, else nobody;
// 'root' only when the config says so), with no supplementary groups and an
// environment of PATH (and the variables the caller names) only; and a program
// that someone other than root (or lvsd's own user) could change, or that sits
// under such a folder, is refused, as enable_script_security does.

/** The environment programs get: nothing inherited (no tokens, no LD_*, no NODE_OPTIONS). */
export const SCRIPT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The default script user when lvsd runs as root; see README "Security". */
export const DEFAULT_SCRIPT_USERS = ['lvsd-script', 'nobody'] as const;

export interface ScriptUser { name: string; uid: number; gid: number }

/**
 * The configured user lives on globalThis, not in this module: plugins are
 * bundled with their own copy of core (exec.ts calls runProgram from it), and
 * all copies must obey the daemon's setting.
 */
const POLICY = Symbol.for('lvsd.scriptUser');
type Holder = { [POLICY]?: string | undefined };

/** Sets the config's scriptUser (undefined: the default). The daemon calls it on every config load. */
export function setScriptUser(name: string | undefined): void {
  (globalThis as Holder)[POLICY] = name;
}

/** A user by name or numeric uid from /etc/passwd (node has no getpwnam). */
export function lookupUser(name: string): ScriptUser | null {
  let text: string;
  try { text = readFileSync('/etc/passwd', 'utf8'); } catch { return null; }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4) continue;
    if (f[0] === name || (/^\d+$/.test(name) && f[2] === name)) return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

/** Who programs run as now, or why none can run. */
export function scriptUser(): ScriptUser | { error: string } {
  const want = (globalThis as Holder)[POLICY];
  const me = process.geteuid?.() ?? 0;
  if (me !== 0) {
    // an ordinary user cannot switch: programs run as that user
    const self = { name: String(me), uid: me, gid: process.getegid?.() ?? me };
    if (want === undefined) return self;
    const u = lookupUser(want);
    if (u?.uid === me) return u;
    return { error: `scriptUser ${want} is not the user lvsd runs as (uid ${me}), and only root can switch users` };
  }
  if (want !== undefined) return lookupUser(want) ?? { error: `scriptUser ${want} does not exist (not in /etc/passwd)` };
  for (const n of DEFAULT_SCRIPT_USERS) { const u = lookupUser(n); if (u) return u; }
  return { error: `none of the default script users (${DEFAULT_SCRIPT_USERS.join(', ')}) exists; set scriptUser in the config` };
}

/** The program's file: argv[0] as given when it has a '/', else looked up in SCRIPT_PATH. */
function programFile(name: string): string | null {
  if (name.includes('/')) return isAbsolute(name) ? name : join(process.cwd(), name);
  for (const d of SCRIPT_PATH.split(':')) {
    const f = join(d, name);
    try { if (statSync(f).isFile()) return f; } catch { /* next */ }
  }
  return null;
}

/** Splits a command line: blanks separate words, "double quotes" keep blanks; no other shell syntax. */
export function splitCommand(line: string): string[] | { error: string } {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  for (const ch of line) {
    if (quoted) {
      if (ch === '"') quoted = false; else cur += ch;
    } else if (ch === '"') { quoted = true; inWord = true; }
    else if (ch === ' ' || ch === '\t') { if (inWord) { out.push(cur); cur = ''; inWord = false; } }
    else { cur += ch; inWord = true; }
  }
  if (quoted) return { error: 'has an unbalanced double quote' };
  if (inWord) out.push(cur);
  if (out.length === 0) return { error: 'is empty' };
  return out;
}

/** A command from config (string or argv) as an argv, or an error text. */
export function commandArgv(v: unknown): string[] | { error: string } {
  if (typeof v === 'string') return splitCommand(v);
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string') && v[0] !== '') return [...(v as string[])];
  return { error: 'must be a command line string or a non-empty array of strings (argv)' };
}

export interface RunResult {
  /** Exit status, or null when killed by a signal / not started. */
  status: number | null;
  signal: NodeJS.Signals | null;
  /** Set when it did not start (ENOENT …) or was killed at its timeout. */
  error?: string;
  timedOut: boolean;
}

/**
 * Runs argv as the script user (above), with PATH plus `env` as its whole
 * environment; never throws or rejects (a program that cannot start, or is
 * refused, resolves with `error`). At `signal` abort it is sent SIGTERM, and
 * SIGKILL `killGraceMs` later if still alive (keepalived's misc_timeout handling).
 */
export function runProgram(argv: string[], opts: { signal?: AbortSignal; killGraceMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
  const user = scriptUser();
  if ('error' in user) return Promise.resolve({ status: null, signal: null, error: `not run: ${user.error}`, timedOut: false });
  const file = programFile(argv[0] ?? '');
  if (file === null) return Promise.resolve({ status: null, signal: null, error: `spawn ${argv[0]} ENOENT (not found in ${SCRIPT_PATH})`, timedOut: false });
  // ENOENT and the like are left to spawn, which reports them as before
  const why = statSync(file, { throwIfNoEntry: false }) ? unsafePathReason(file) : null;
  if (why !== null) return Promise.resolve({ status: null, signal: null, error: `refused (script security): ${file}: ${why}`, timedOut: false });
  const env = { ...opts.env, PATH: SCRIPT_PATH };
  const me = process.geteuid?.() ?? 0;
  // uid/gid make libuv drop the supplementary groups too (setgroups(0))
  const ids = me === 0 ? { uid: user.uid, gid: user.gid } : {};
  return new Promise((resolve) => {
    let timedOut = false;
    let settled = false;
    const done = (r: RunResult): void => { if (!settled) { settled = true; resolve(r); } };
    let child: ReturnType<typeof spawn>;
    try {
      // spawn throws synchronously on some bad input (a NUL byte in an
      // argument, an invalid env): a result like ENOENT's, never a throw.
      child = spawn(file, argv.slice(1), { stdio: 'ignore', env, cwd: '/', argv0: argv[0]!, ...ids });
    } catch (e) {
      done({ status: null, signal: null, error: e instanceof Error ? e.message : String(e), timedOut: false });
      return;
    }
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), opts.killGraceMs ?? 1000);
      killTimer.unref();
    };
    if (opts.signal) {
      if (opts.signal.aborted) onAbort(); else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
    child.on('error', (e) => {
      opts.signal?.removeEventListener('abort', onAbort);
      done({ status: null, signal: null, error: e.message, timedOut });
    });
    child.on('exit', (status, sig) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      done({ status, signal: sig, timedOut, ...(timedOut ? { error: 'killed at its timeout' } : {}) });
    });
  });
}

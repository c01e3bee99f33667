// Programs keepalived-style: notify_up/notify_down, quorum_up/quorum_down and
// MISC_CHECK's misc_path are a command line ("<path> <args>", double quotes
// group words) run without a shell, or an argv given as an array.

import { spawn } from 'node:child_process';

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
 * Runs argv; never throws or rejects (a program that cannot start resolves
 * with `error`). At `signal` abort it is sent SIGTERM, and SIGKILL `killGraceMs`
 * later if still alive (keepalived's misc_timeout handling).
 */
export function runProgram(argv: string[], opts: { signal?: AbortSignal; killGraceMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    let timedOut = false;
    let settled = false;
    const done = (r: RunResult): void => { if (!settled) { settled = true; resolve(r); } };
    let child: ReturnType<typeof spawn>;
    try {
      // spawn throws synchronously on some bad input (a NUL byte in an
      // argument, an invalid env): a result like ENOENT's, never a throw.
      child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', env: opts.env ?? process.env });
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

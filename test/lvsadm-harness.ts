// Helpers for the lvsadm tests: a fresh lvsd on a temporary socket, a PATH
// where `ipvsadm` is lvsadm, and the golden record format
// (test/fixtures/golden/README.md).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from '../core/control/client.js';

export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
export const LVSADM = join(ROOT, 'scripts', 'lvsadm.js');
export const GOLDEN = join(ROOT, 'test', 'fixtures', 'golden');

export interface Daemon {
  socket: string;
  dir: string;
  stop(): Promise<void>;
}

/** Starts `lvsd --io memory` with an empty table on a socket in a new temporary directory. */
export async function startDaemon(): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), 'lvsadm-test-'));
  const socket = join(dir, 'lvsd.sock');
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'lvsd.ts'), '--io', 'memory', '--socket', socket], {
    cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
  // Exited (with a status or by a signal), or failed to spawn.
  let gone = false;
  const exited = new Promise<void>((res) => {
    child.once('exit', () => { gone = true; res(); });
    child.once('error', () => { gone = true; res(); });
  });
  /** SIGTERM (SIGKILL if it lingers), wait for the exit, remove the directory. */
  const stop = async (): Promise<void> => {
    if (!gone) {
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(kill);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const r = await request(socket, { op: 'info' }, 2000);
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (gone || Date.now() > deadline) {
      await stop();
      throw new Error(`lvsd did not start on ${socket}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { socket, dir, stop };
}

/** The environment lvsadm runs in for tests: the VM's /etc/hosts and /etc/services, no DNS. */
export function lvsadmEnv(socket: string, binDir?: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...(binDir ? { PATH: `${binDir}:${process.env['PATH'] ?? ''}` } : {}),
    LVSD_SOCKET: socket,
    LVSADM_HOSTS_FILE: join(GOLDEN, 'etc', 'hosts'),
    LVSADM_SERVICES_FILE: join(GOLDEN, 'etc', 'services'),
    LVSADM_DNS: 'off',
  };
}

/** A directory holding `ipvsadm` -> scripts/lvsadm.js, to put first on PATH. */
export function ipvsadmBinDir(parent: string): string {
  const bin = join(parent, 'bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(LVSADM, join(bin, 'ipvsadm'));
  return bin;
}

export interface Outcome { stdout: string; stderr: string; exit: number }

/** Runs one shell line as the golden recorder does (bash, stdin /dev/null unless redirected). */
export function runLine(line: string, env: NodeJS.ProcessEnv, cwd: string, input?: string): Outcome {
  const r = spawnSync('bash', ['-c', line], {
    env, cwd, encoding: 'utf8', stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    ...(input === undefined ? {} : { input }),
  });
  return { stdout: r.stdout, stderr: r.stderr, exit: r.status ?? 128 + 9 };
}

/** runLine without blocking, so that several cases can run at once. */
export function runLineAsync(line: string, env: NodeJS.ProcessEnv, cwd: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', line], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('close', (code) => resolve({ stdout, stderr, exit: code ?? 128 + 9 }));
  });
}

/** Runs lvsadm directly (no shell) with arguments and optional stdin. */
export function runLvsadm(args: string[], env: NodeJS.ProcessEnv, input = ''): Outcome {
  const r = spawnSync(process.execPath, [LVSADM, ...args], { env, encoding: 'utf8', input });
  return { stdout: r.stdout, stderr: r.stderr, exit: r.status ?? 128 + 9 };
}

export interface GoldenRecord extends Outcome { cmd: string }

/** Parses a golden NAME.txt: `$ cmd`, [stdout] / [stderr] sections, [exit N]. */
export function parseGolden(text: string): GoldenRecord[] {
  const lines = text.split('\n');
  const out: GoldenRecord[] = [];
  const marker = /^\[(stdout|stderr|exit -?\d+|no newline at end of (stdout|stderr))\]$/;
  let cur: GoldenRecord | null = null;
  let i = 0;
  while (i < lines.length) {
    const l = lines[i]!;
    if (cur === null) {
      if (l.startsWith('$ ')) cur = { cmd: l.slice(2), stdout: '', stderr: '', exit: -1 };
      i++;
      continue;
    }
    if (l === '[stdout]' || l === '[stderr]') {
      const body: string[] = [];
      i++;
      while (i < lines.length && !marker.test(lines[i]!)) body.push(lines[i++]!);
      let content = body.join('\n') + '\n';
      if (lines[i] === `[no newline at end of ${l.slice(1, -1)}]`) { content = body.join('\n'); i++; }
      if (l === '[stdout]') cur.stdout = content; else cur.stderr = content;
      continue;
    }
    const m = /^\[exit (-?\d+)\]$/.exec(l);
    if (m) { cur.exit = Number(m[1]); out.push(cur); cur = null; }
    i++;
  }
  return out;
}

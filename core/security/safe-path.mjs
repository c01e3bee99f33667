// StrictModes for the files lvsd runs code from (sshd's rule): a file, and
// every folder above it up to /, must belong to root or to the user lvsd runs
// as, and be writable by nobody else. Otherwise someone else could change what
// lvsd (maybe root) runs. Plain JavaScript so that core/bundle-cache.mjs can
// use it before anything is compiled; core/security/safe-path.d.mts types it.
import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export class UnsafePathError extends Error {
  /** @param {string} path @param {string} problem @param {string} what */
  constructor(path, problem, what) {
    super(`refusing ${what} ${path}: ${problem}`);
    this.name = 'UnsafePathError';
    this.path = path;
    this.problem = problem;
  }
}

const euid = () => (typeof process.geteuid === 'function' ? process.geteuid() : 0);
const octal = (mode) => `0${(mode & 0o7777).toString(8)}`;
/** The hint that goes with a refusal. */
export const REMEDY = 'fix the owner/mode, or remove a cache folder to have it rebuilt';

/**
 * Why `path` is not safe to run code from, or null when it is.
 * `uid`: the user lvsd runs as (owners allowed: root and `uid`).
 * Above the path itself a root-owned sticky folder (/tmp) is accepted: others
 * cannot rename or remove what is not theirs in it. The path itself never may
 * be writable by others (a plugin folder in /tmp would take anyone's file).
 * @param {string} path @param {{ uid?: number }} [opts]
 * @returns {string | null}
 */
export function unsafePathReason(path, opts = {}) {
  const uid = opts.uid ?? euid();
  let real;
  try { real = realpathSync(resolve(path)); } catch (e) { return `cannot be resolved (${e.code ?? e.message})`; }
  for (let p = real; ;) {
    let st;
    try { st = lstatSync(p); } catch (e) { return `${p} cannot be read (${e.code ?? e.message})`; }
    const where = p === real ? '' : ` (folder ${p} above it)`;
    if (st.uid !== 0 && st.uid !== uid) return `it${where} is owned by uid ${st.uid}, neither root nor uid ${uid} that lvsd runs as`;
    if ((st.mode & 0o022) !== 0) {
      const stickyAbove = p !== real && st.isDirectory() && (st.mode & 0o1000) !== 0 && st.uid === 0;
      if (!stickyAbove) {
        return `it${where} is ${(st.mode & 0o002) ? 'world' : 'group'}-writable (mode ${octal(st.mode)}); chmod go-w ${p}`;
      }
    }
    const up = dirname(p);
    if (up === p) return null;
    p = up;
  }
}

/** Throws UnsafePathError when `path` fails unsafePathReason. @param {string} path @param {string} what @param {{ uid?: number }} [opts] */
export function assertSafePath(path, what, opts = {}) {
  const why = unsafePathReason(path, opts);
  if (why !== null) throw new UnsafePathError(path, why, what);
}

/**
 * A cache folder of lvsd's own compiled code: created (0755: others may read
 * a bundle, never write it) if missing, then
 * held to unsafePathReason (a root-owned cache is fine for every user: only
 * another ordinary user's, or one others can write to, is refused).
 * Throws UnsafePathError, or the mkdir error when it cannot be created.
 * @param {string} dir @param {string} what
 */
export function ensureSafeCacheDir(dir, what) {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  assertSafePath(dir, what);
}

/** A cached compiled file, as its folder. @param {string} file @param {string} what */
export function assertOwnCacheFile(file, what) {
  assertSafePath(file, what);
}

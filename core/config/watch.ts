// Watches config.ts and every local file it imports, and calls back once per
// burst of changes. Editors often save by writing a new file and renaming it
// over the old one, which leaves a watch on the old inode deaf; so each file's
// folder is watched too (filtered to the names we care about), the per-file
// watch is re-armed after every event, and a watch that cannot be set up
// (file or folder missing for a moment) is retried until it can.

import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

export interface ConfigWatcher {
  /** Replaces the set of watched files (after a reload found new imports). */
  update(files: string[]): void;
  close(): void;
}

const RETRY_MS = 500;

export interface WatchOptions {
  /** Quiet time after the last event before `onChange` (a burst of writes is one change). Default 100 ms. */
  debounceMs?: number;
  /**
   * Told of every event as it comes, before the debounce: a caller may start
   * the work a change needs at once, and use it at `onChange` if nothing
   * changed since (the daemon's reloads, core/daemon.ts).
   */
  onEvent?: () => void;
}

export function watchConfig(files: string[], onChange: () => void, opts: WatchOptions = {}): ConfigWatcher {
  const debounceMs = opts.debounceMs ?? 100;
  let wanted = new Set<string>();
  /** folder → the file names in it we watch. */
  let names = new Map<string, Set<string>>();
  const dirWatchers = new Map<string, FSWatcher>();
  const fileWatchers = new Map<string, FSWatcher>();
  /** Watches that failed to start; retried on a timer. */
  const missing = new Set<string>();
  let debounce: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  let closed = false;

  const trigger = (): void => {
    if (closed) return;
    try { opts.onEvent?.(); } catch { /* the callback's own business */ }
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      if (closed) return;
      try { onChange(); } catch { /* the callback's own business */ }
    }, debounceMs);
    debounce.unref();
  };

  const scheduleRetry = (): void => {
    if (retry || closed || missing.size === 0) return;
    retry = setTimeout(() => {
      retry = undefined;
      let recovered = false;
      for (const key of [...missing]) {
        missing.delete(key);
        const isDir = key.startsWith('dir:');
        const ok = isDir ? armDir(key.slice(4)) : armFile(key.slice(5));
        if (!ok) continue;
        recovered = true;
        // A file back after its folder went away: that folder's watch may be on the old, deleted folder.
        if (!isDir) armDir(dirname(key.slice(5)));
      }
      // Something that was missing is back: it may have changed meanwhile.
      if (recovered) trigger();
      scheduleRetry();
    }, RETRY_MS);
    retry.unref();
  };

  const fail = (key: string): false => {
    missing.add(key);
    scheduleRetry();
    return false;
  };

  function armFile(file: string): boolean {
    if (closed || !wanted.has(file)) return true;
    fileWatchers.get(file)?.close();
    fileWatchers.delete(file);
    let w: FSWatcher;
    try {
      w = watch(file, { persistent: false }, () => {
        trigger();
        // After a rename (or a write through a replaced inode) this watch may be deaf: re-arm.
        setImmediate(() => { if (fileWatchers.get(file) === w) armFile(file); });
      });
    } catch {
      return fail(`file:${file}`);
    }
    w.on('error', () => { w.close(); if (fileWatchers.get(file) === w) { fileWatchers.delete(file); fail(`file:${file}`); } });
    fileWatchers.set(file, w);
    return true;
  }

  function armDir(dir: string): boolean {
    if (closed || !names.has(dir)) return true;
    dirWatchers.get(dir)?.close();
    dirWatchers.delete(dir);
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: false }, (_event, name) => {
        const wantedNames = names.get(dir);
        if (!wantedNames) return;
        if (name === null || wantedNames.has(name.toString())) {
          trigger();
          if (name !== null) setImmediate(() => armFile(resolve(dir, name.toString())));
        }
      });
    } catch {
      return fail(`dir:${dir}`);
    }
    w.on('error', () => { w.close(); if (dirWatchers.get(dir) === w) { dirWatchers.delete(dir); fail(`dir:${dir}`); } });
    dirWatchers.set(dir, w);
    return true;
  }

  function update(next: string[]): void {
    if (closed) return;
    wanted = new Set(next.map((f) => resolve(f)));
    names = new Map();
    for (const f of wanted) {
      const d = dirname(f);
      if (!names.has(d)) names.set(d, new Set());
      names.get(d)!.add(basename(f));
    }
    for (const [f, w] of fileWatchers) if (!wanted.has(f)) { w.close(); fileWatchers.delete(f); }
    for (const [d, w] of dirWatchers) if (!names.has(d)) { w.close(); dirWatchers.delete(d); }
    for (const key of [...missing]) {
      if (key.startsWith('dir:') ? !names.has(key.slice(4)) : !wanted.has(key.slice(5))) missing.delete(key);
    }
    for (const d of names.keys()) if (!dirWatchers.has(d) && !missing.has(`dir:${d}`)) armDir(d);
    for (const f of wanted) if (!fileWatchers.has(f) && !missing.has(`file:${f}`)) armFile(f);
  }

  update(files);
  return {
    update,
    close(): void {
      closed = true;
      clearTimeout(debounce);
      clearTimeout(retry);
      for (const w of fileWatchers.values()) w.close();
      for (const w of dirWatchers.values()) w.close();
      fileWatchers.clear();
      dirWatchers.clear();
      missing.clear();
    },
  };
}

// Runs a TypeScript entry as one esbuild bundle cached under
// node_modules/.cache/<name>/, rebuilt when any of its inputs changes (size or
// mtime). Two reasons: start-up (tsx costs ~0.3 s per process, which lvsadm
// pays on every call) and speed (in one bundle, V8 optimises across what were
// module boundaries: the data plane runs ~20 % faster). When the bundle cannot
// be built or stored, or LVSD_NO_BUNDLE=1, the sources run through tsx.
// Nothing is loaded from a cache folder someone else could write to (see
// README "Security"): the bundle's folder must be ours and 0700-safe, and tsx's
// own cache (by default $TMPDIR/tsx-<uid>, which another user can create first
// in a shared /tmp) is moved into node_modules/.cache/lvsd-tsx.
import { assertOwnCacheFile, ensureSafeCacheDir, UnsafePathError } from './security/safe-path.mjs';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { tmpdir, userInfo } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const signature = (file) => {
  const st = statSync(file);
  return `${st.size}:${st.mtimeMs}`;
};

/** Whether the cached bundle was built from the sources as they are now. */
function upToDate(bundle, stamp) {
  try {
    const { inputs } = JSON.parse(readFileSync(stamp, 'utf8'));
    statSync(bundle);
    return Object.entries(inputs).every(([file, sig]) => signature(resolve(root, file)) === sig);
  } catch {
    return false;
  }
}

async function build(entry, bundle, stamp) {
  const esbuild = await import('esbuild');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const r = esbuild.buildSync({
    entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20',
    absWorkingDir: root, write: false, metafile: true, outfile: bundle, logLevel: 'silent',
    // Native addons and esbuild itself stay outside the bundle.
    external: Object.keys(pkg.dependencies ?? {}),
  });
  const inputs = {};
  for (const f of Object.keys(r.metafile.inputs)) inputs[f] = signature(resolve(root, f));
  mkdirSync(dirname(bundle), { recursive: true, mode: 0o755 });
  // Written aside and renamed, so a concurrent process never reads half a file.
  const tmp = `.${process.pid}.${Date.now()}`;
  writeFileSync(bundle + tmp, r.outputFiles[0].contents, { mode: 0o644 });
  renameSync(bundle + tmp, bundle);
  writeFileSync(stamp + tmp, JSON.stringify({ inputs }), { mode: 0o644 });
  renameSync(stamp + tmp, stamp);
}

/** Imports `entry` (a path relative to the project root) from its cached bundle, or through tsx. */
export async function importBundled(entry, name) {
  const abs = resolve(root, entry);
  if (process.env.LVSD_NO_BUNDLE !== '1' && process.env.LVSADM_NO_BUNDLE !== '1') {
    const dir = join(root, 'node_modules', '.cache', name);
    const bundle = join(dir, 'main.mjs');
    const stamp = join(dir, 'inputs.json');
    try {
      ensureSafeCacheDir(dir, `to load lvsd's compiled code from`);
      if (!upToDate(bundle, stamp)) await build(abs, bundle, stamp);
      assertOwnCacheFile(bundle, `to load lvsd's compiled code from`);
      return await import(pathToFileURL(bundle).href);
    } catch (e) {
      // An unsafe cache is refused outright: falling back to tsx would hide it.
      if (e instanceof UnsafePathError) throw e;
      // not buildable or not storable (a read-only tree, another user's): tsx
    }
  }
  useSafeTsxCache();
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(abs).href);
}

/**
 * tsx keeps its compile cache in os.tmpdir()/tsx-<uid> and trusts whatever it
 * finds there; in a shared /tmp another user can create that folder first and
 * plant compiled modules. TMPDIR is pointed at a checked folder of our own
 * before tsx is loaded (tsx reads it once, at load; workers inherit the env).
 */
function useSafeTsxCache() {
  const what = `to let tsx cache lvsd's compiled code in`;
  const dir = join(root, 'node_modules', '.cache', 'lvsd-tsx');
  try {
    ensureSafeCacheDir(dir, what);
    process.env.TMPDIR = dir;
    return;
  } catch (e) {
    // root always can create it: root never uses a shared $TMPDIR
    if (e instanceof UnsafePathError || process.geteuid?.() === 0) throw e;
  }
  // An ordinary user who cannot write the tree: tsx's own $TMPDIR/tsx-<uid>,
  // created by us or checked to be ours and private before tsx uses it.
  ensureSafeCacheDir(join(tmpdir(), `tsx-${process.geteuid?.() ?? userInfo().username}`), what);
}

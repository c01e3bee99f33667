#!/usr/bin/env node
// lvsadm entry point, runnable from any directory. Scripts call lvsadm many
// times in a row and tsx costs ~0.3 s per start, so the TypeScript sources are
// bundled once with esbuild into node_modules/.cache/lvsadm/ and that bundle
// runs as plain JavaScript (~0.1 s). The bundle is rebuilt when any of its
// source files changes (size or mtime). If it cannot be built or stored, or
// LVSADM_NO_BUNDLE=1, the sources run through tsx instead.
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const entry = join(here, 'lvsadm', 'main.ts');
const cacheDir = join(root, 'node_modules', '.cache', 'lvsadm');
const bundle = join(cacheDir, 'main.mjs');
const stamp = join(cacheDir, 'inputs.json');

const signature = (file) => {
  const st = statSync(file);
  return `${st.size}:${st.mtimeMs}`;
};

/** Whether the cached bundle was built from the sources as they are now. */
function upToDate() {
  try {
    const { inputs } = JSON.parse(readFileSync(stamp, 'utf8'));
    statSync(bundle);
    return Object.entries(inputs).every(([file, sig]) => signature(resolve(root, file)) === sig);
  } catch {
    return false;
  }
}

async function build() {
  const esbuild = await import('esbuild');
  const r = esbuild.buildSync({
    entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20',
    absWorkingDir: root, write: false, metafile: true, outfile: bundle, logLevel: 'silent',
  });
  const inputs = {};
  for (const f of Object.keys(r.metafile.inputs)) inputs[f] = signature(resolve(root, f));
  mkdirSync(cacheDir, { recursive: true });
  // Written aside and renamed, so a concurrent lvsadm never reads half a file.
  const tmp = `.${process.pid}.${Date.now()}`;
  writeFileSync(bundle + tmp, r.outputFiles[0].contents);
  renameSync(bundle + tmp, bundle);
  writeFileSync(stamp + tmp, JSON.stringify({ inputs }));
  renameSync(stamp + tmp, stamp);
}

async function load() {
  if (process.env.LVSADM_NO_BUNDLE !== '1') {
    try {
      if (!upToDate()) await build();
      return await import(pathToFileURL(bundle).href);
    } catch {
      // fall through to tsx
    }
  }
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(entry).href);
}

const { cli } = await load();
await cli();

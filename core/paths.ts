// Where lvsd's own files are. Found by walking up from this module to lvsd's
// package.json, so that it holds whether the code runs from its sources
// (core/paths.ts) or from a bundle (node_modules/.cache/lvsd/main.mjs).

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'lvsd') return dir;
      } catch { /* not ours: keep looking */ }
    }
    if (dirname(dir) === dir) return dirname(here);   // not found: the sources' layout (core/..)
  }
}

/** The lvsd package's folder (package.json, core/, plugins/). */
export const PACKAGE_ROOT = packageRoot();

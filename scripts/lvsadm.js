#!/usr/bin/env node
// lvsadm entry point, runnable from any directory. Scripts call lvsadm many
// times in a row, so it runs from a cached esbuild bundle (~0.1 s a start
// instead of ~0.4 s through tsx); see core/bundle-cache.mjs.
import { importBundled } from '../core/bundle-cache.mjs';

import { UnsafePathError } from '../core/security/safe-path.mjs';

let mod;
try {
  mod = await importBundled('scripts/lvsadm/main.ts', 'lvsadm');
} catch (e) {
  // a cache someone else could write to: the message says which and why
  if (!(e instanceof UnsafePathError)) throw e;
  console.error(`lvsadm: ${e.message}`);
  process.exit(2);
}
await mod.cli();

#!/usr/bin/env node
// lvsd entry point, runnable from any directory. The daemon runs from a cached
// esbuild bundle of scripts/lvsd.ts (start-up ~0.35 s faster than compiling
// every module through tsx, and no tsx helpers on the hot paths); see
// core/bundle-cache.mjs. LVSD_NO_BUNDLE=1 runs the sources through tsx.
import { importBundled } from '../core/bundle-cache.mjs';

import { UnsafePathError } from '../core/security/safe-path.mjs';

try {
  await importBundled('scripts/lvsd.ts', 'lvsd');
} catch (e) {
  // a cache someone else could write to: the message says which and why
  if (!(e instanceof UnsafePathError)) throw e;
  console.error(`lvsd: ${e.message}`);
  process.exit(1);
}

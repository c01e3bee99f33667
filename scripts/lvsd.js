#!/usr/bin/env node
// lvsd entry point, runnable from any directory. The daemon runs from a cached
// esbuild bundle of scripts/lvsd.ts (start-up ~0.35 s faster than compiling
// every module through tsx, and no tsx helpers on the hot paths); see
// core/bundle-cache.mjs. LVSD_NO_BUNDLE=1 runs the sources through tsx.
import { importBundled } from '../core/bundle-cache.mjs';

await importBundled('scripts/lvsd.ts', 'lvsd');

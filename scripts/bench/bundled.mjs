#!/usr/bin/env node
// Runs a benchmark from the same cached esbuild bundle form the data-plane
// workers run (core/bundle-cache.mjs), so figures are those of production code.
import { basename } from 'node:path';
import { importBundled } from '../../core/bundle-cache.mjs';

const entry = process.argv[2];
if (!entry) { console.error('usage: bundled.mjs scripts/bench/NAME.ts [args]'); process.exit(2); }
process.argv.splice(2, 1);
await importBundled(entry, `bench-${basename(entry, '.ts')}`);

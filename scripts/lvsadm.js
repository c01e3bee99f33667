#!/usr/bin/env node
// lvsadm entry point, runnable from any directory. Scripts call lvsadm many
// times in a row, so it runs from a cached esbuild bundle (~0.1 s a start
// instead of ~0.4 s through tsx); see core/bundle-cache.mjs.
import { importBundled } from '../core/bundle-cache.mjs';

const { cli } = await importBundled('scripts/lvsadm/main.ts', 'lvsadm');
await cli();

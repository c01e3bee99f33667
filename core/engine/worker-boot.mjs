// Worker entry. The data plane runs from a cached esbuild bundle of worker.ts
// (V8 optimises the whole packet path as one module: ~20 % more frames/s than
// through tsx); see core/bundle-cache.mjs. Node 20 does not carry
// `--import tsx` into worker threads, so the fallback registers tsx itself.
import { importBundled } from '../bundle-cache.mjs';

await importBundled('core/engine/worker.ts', 'lvsd-worker');

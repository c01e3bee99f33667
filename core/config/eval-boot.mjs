// Entry of the worker thread that evaluates config.ts (core/config/eval-worker.ts).
// As core/engine/worker-boot.mjs: from a cached esbuild bundle (the worker
// imports lvsd's contract, zod included, in tens of ms rather than through
// tsx), or through tsx (Node 20 does not carry `--import tsx` into workers).
import { importBundled } from '../bundle-cache.mjs';

await importBundled('core/config/eval-worker.ts', 'lvsd-config-eval');

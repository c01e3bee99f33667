// Worker entry: Node 20 does not carry `--import tsx` into worker threads, so
// the worker registers tsx itself before importing the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');

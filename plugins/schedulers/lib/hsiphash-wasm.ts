// hsiphash (SipHash-1-3, 64-bit kernels) as a tiny WebAssembly module: native
// 64-bit arithmetic makes one hash ~4x cheaper than the int32-halves version
// in hash.ts, which stays as the reference the tests compare against.
// Source: hsiphash.wat beside this file; regenerate the bytes with
// `node scripts/build-wasm.mjs` (needs `npm install --no-save wabt`).

const WASM = 'AGFzbQEAAAABEwJgBH5+fn4Efn5+fmADf39/AX8DAwIAAQcOAQpoc2lwaGFzaDMyAAEKtAICbAAgACABfCEAIAFCDYkhASABIACFIQEgAEIgiSEAIAIgA3whAiADQhCJIQMgAyAChSEDIAAgA3whACADQhWJIQMgAyAAhSEDIAIgAXwhAiABQhGJIQEgASAChSEBIAJCIIkhAiAAIAEgAiADC8QBAQd+IAGtIQggAq0hCSAArUKAgICAgICAgASEIQdC9crNg9es27fzACAIhSEDQu3ekfOWzNy35AAgCYUhBELh5JXz1uzZvOwAIAiFIQVC88rRy6eM2bL0ACAJhSAHhSEGIAMgBCAFIAYQACEGIQUhBCEDIAMgB4UhAyAFQv8BhSEFIAMgBCAFIAYQACEGIQUhBCEDIAMgBCAFIAYQACEGIQUhBCEDIAMgBCAFIAYQACEGIQUhBCEDIAMgBIUgBSAGhYWnCw==';

type Hash = (v: number, k0: number, k1: number) => number;

const exports = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(WASM, 'base64'))).exports as { hsiphash32: Hash };

/**
 * hsiphash() of the 4 little-endian bytes of `v` with 64-bit keys whose high
 * halves are 0 (k0, k1 are their low 32 bits), low 32 bits of the result, unsigned.
 */
export function hsiphashWasm(v: number, k0: number, k1: number): number {
  return exports.hsiphash32(v | 0, k0 | 0, k1 | 0) >>> 0;
}

#!/usr/bin/env node
// Regenerates the WebAssembly bytes embedded in plugins/schedulers/lib/hsiphash-wasm.ts
// from hsiphash.wat. Needs wabt: `npm install --no-save wabt`.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../plugins/schedulers/lib/', import.meta.url));
const wabt = await (await import('wabt')).default();
const mod = wabt.parseWat('hsiphash.wat', readFileSync(`${dir}hsiphash.wat`, 'utf8'), { multi_value: true });
const b64 = Buffer.from(mod.toBinary({}).buffer).toString('base64');
const ts = `${dir}hsiphash-wasm.ts`;
writeFileSync(ts, readFileSync(ts, 'utf8').replace(/const WASM = '[^']*';/, `const WASM = '${b64}';`));
console.log(`hsiphash-wasm.ts: ${b64.length} base64 characters`);

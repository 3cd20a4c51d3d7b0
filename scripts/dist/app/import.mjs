// An ES module app: every shared vector through `await import('sipwake-wasm')`
// (Node gets the CommonJS node/ build, its exports as named imports), then
// the explicit `sipwake-wasm/web` subpath, an ES module Node must load as one.
// Usage: node import.mjs VECTOR_DIR VERSION
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import V from './vectors.js';
import common from './common.cjs';

const { loadVectors, expect, report } = common;
const [dir, version] = process.argv.slice(2);
const files = loadVectors(dir);
let ok = true;

const results = [];
try {
  const sdk = await import('sipwake-wasm');
  results.push(...V.runVectors(sdk, files));
  const url = import.meta.resolve('sipwake-wasm');
  results.push(expect('Node gets the node/ build', url.endsWith('/node/sipwake_wasm.js'), url));
  results.push(expect('version()', sdk.version() === version, `${sdk.version()} != ${version}`));
} catch (e) {
  results.push(expect('import(sipwake-wasm)', false, e && e.stack));
}
ok = report('import', results) && ok;

const web = [];
try {
  const sdk = await import('sipwake-wasm/web');
  const wasm = fs.readFileSync(fileURLToPath(import.meta.resolve('sipwake-wasm/web/sipwake_wasm_bg.wasm')));
  sdk.initSync({ module: wasm });
  web.push(...V.runVectors(sdk, files));
  web.push(expect('version()', sdk.version() === version, `${sdk.version()} != ${version}`));
} catch (e) {
  web.push(expect('import(sipwake-wasm/web)', false, e && e.stack));
}
ok = report('import web', web) && ok;
process.exit(ok ? 0 : 1);

// A CommonJS app: every shared vector through require('sipwake-wasm').
// Usage: node require.cjs VECTOR_DIR VERSION
'use strict';
const V = require('./vectors.js');
const { loadVectors, expect, report } = require('./common.cjs');

const [dir, version] = process.argv.slice(2);
const results = [];
try {
  const sdk = require('sipwake-wasm');
  results.push(...V.runVectors(sdk, loadVectors(dir)));
  results.push(expect('Node gets the node/ build', require.resolve('sipwake-wasm').endsWith('/node/sipwake_wasm.js'),
    require.resolve('sipwake-wasm')));
  results.push(expect('version()', sdk.version() === version, `${sdk.version()} != ${version}`));
  const pkgVersion = require('sipwake-wasm/package.json').version;
  results.push(expect('package.json version', pkgVersion === version, pkgVersion));
} catch (e) {
  results.push(expect('require(sipwake-wasm)', false, e && e.stack));
}
process.exit(report('require', results) ? 0 : 1);

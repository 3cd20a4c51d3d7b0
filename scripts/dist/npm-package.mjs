// The npm package of the WASM SDK (used by scripts/dist.sh and scripts/test-dist.sh).
//
//   node npm-package.mjs stage DIR VERSION   write DIR/package.json and the nested
//                                            web/ and node/ package.json files
//   node npm-package.mjs check TGZ VERSION   the tarball holds every file that
//                                            package.json names, and the right formats
//
// Node gets node/ (wasm-bindgen nodejs target, CommonJS, synchronous);
// browsers, bundlers and `import` get web/ (ES module, `await init()`).
// no-modules/ (classic script, importScripts in service workers) is a subpath.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const [cmd, target, version] = process.argv.slice(2);
if (!['stage', 'check'].includes(cmd) || !target || !version) {
  console.error('usage: npm-package.mjs stage DIR VERSION | check TGZ VERSION');
  process.exit(2);
}

const JS = 'sipwake_wasm.js';
const DTS = 'sipwake_wasm.d.ts';
const WASM = 'sipwake_wasm_bg.wasm';
const build = (dir) => ({ types: `./${dir}/${DTS}`, default: `./${dir}/${JS}` });

export function manifest(v) {
  return {
    name: 'sipwake-wasm',
    version: v,
    description: 'The sipwake push protocol (X-MPUSH, X-PIID, RFC 8599, Feature-Caps, push payloads) for web phones, service workers and Node: the gateway\'s own Rust code as WebAssembly',
    license: 'Apache-2.0',
    keywords: ['sip', 'voip', 'push', 'webpush', 'fcm', 'apns', 'rfc8599', 'webassembly'],
    // For resolvers that do not read "exports".
    main: `./node/${JS}`,
    module: `./web/${JS}`,
    types: `./web/${DTS}`,
    exports: {
      // The first matching condition wins: "node" before the browser ones.
      '.': { node: build('node'), browser: build('web'), import: build('web'), default: build('web') },
      './web': build('web'),
      './no-modules': build('no-modules'),
      './node': build('node'),
      // For bundlers that take the .wasm as an asset (esbuild's file loader).
      [`./${WASM}`]: `./web/${WASM}`,
      [`./web/${WASM}`]: `./web/${WASM}`,
      [`./no-modules/${WASM}`]: `./no-modules/${WASM}`,
      [`./node/${WASM}`]: `./node/${WASM}`,
      './package.json': './package.json',
    },
    files: ['web/', 'no-modules/', 'node/'],
  };
}

// The "type" each build directory declares, so Node never guesses a format.
const NESTED_TYPE = { web: 'module', node: 'commonjs' };

function write(file, obj) {
  fs.writeFileSync(file, JSON.stringify(obj, null, 2) + '\n');
}

function stage(dir) {
  for (const d of ['web', 'no-modules', 'node']) {
    for (const f of [JS, DTS, WASM]) {
      if (!fs.existsSync(path.join(dir, d, f))) throw new Error(`missing ${d}/${f} in ${dir}`);
    }
  }
  write(path.join(dir, 'package.json'), manifest(version));
  for (const [d, type] of Object.entries(NESTED_TYPE)) write(path.join(dir, d, 'package.json'), { type });
}

// Every string in an exports tree (conditions and subpaths).
function targets(node, out = []) {
  if (typeof node === 'string') out.push(node);
  else if (node && typeof node === 'object') for (const v of Object.values(node)) targets(v, out);
  return out;
}

function check(tgz) {
  const entries = new Set(execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' }).split('\n').filter(Boolean));
  const read = (p) => JSON.parse(execFileSync('tar', ['-xzOf', tgz, `package/${p}`], { encoding: 'utf8' }));
  const problems = [];
  const pkg = read('package.json');
  const want = manifest(version);
  for (const k of ['name', 'version', 'license']) {
    if (pkg[k] !== want[k]) problems.push(`package.json ${k} is ${JSON.stringify(pkg[k])}, want ${JSON.stringify(want[k])}`);
  }
  if (JSON.stringify(pkg.exports) !== JSON.stringify(want.exports)) problems.push('package.json exports differ from the staged ones');
  const named = [pkg.main, pkg.module, pkg.types, ...targets(pkg.exports)];
  for (const t of new Set(named)) {
    if (!entries.has(`package/${t.replace(/^\.\//, '')}`)) problems.push(`${t} is named by package.json but not in the tarball`);
  }
  for (const [d, type] of Object.entries(NESTED_TYPE)) {
    if (!entries.has(`package/${d}/package.json`)) problems.push(`${d}/package.json is not in the tarball`);
    else if (read(`${d}/package.json`).type !== type) problems.push(`${d}/package.json must say "type": "${type}"`);
  }
  if (!entries.has('package/README.md')) problems.push('README.md is not in the tarball');
  const extra = [...entries].filter((e) => !/^package\/((web|no-modules|node)\/(sipwake_wasm(\.js|\.d\.ts|_bg\.wasm|_bg\.wasm\.d\.ts)|package\.json)|package\.json|README\.md|LICENSE)$/.test(e));
  if (extra.length) problems.push(`unexpected files: ${extra.join(', ')}`);
  for (const p of problems) console.error(`FAIL ${path.basename(tgz)}: ${p}`);
  console.log(`npm package: ${problems.length ? 0 : 1} passed, ${problems.length} failed (${entries.size} files, ${new Set(named).size} named by package.json)`);
  process.exit(problems.length ? 1 : 0);
}

if (cmd === 'stage') stage(target);
else check(target);

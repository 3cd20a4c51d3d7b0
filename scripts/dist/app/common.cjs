// Shared by the scratch app's checks (scripts/test-dist.sh copies this
// directory and client-wasm/tests/vectors.js into a project that installed
// the sipwake-wasm tarball). Results are { file, name, ok, detail }.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

/** The shared vector files, in the shape client-wasm/tests/vectors.js runs. */
function loadVectors(dir) {
  const names = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  return names.map((file) => ({ file, data: JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) }));
}

function expect(name, ok, detail) {
  return { file: 'package', name, ok: Boolean(ok), detail: ok ? '' : String(detail) };
}

/** Prints failures and `<suite>: N passed, M failed`; returns whether all passed. */
function report(suite, results) {
  const bad = results.filter((r) => !r.ok);
  for (const r of bad) console.error(`FAIL [${suite}] ${r.file} :: ${r.name}: ${r.detail}`);
  console.log(`${suite}: ${results.length - bad.length} passed, ${bad.length} failed`);
  return bad.length === 0 && results.length > 0;
}

module.exports = { loadVectors, expect, report };

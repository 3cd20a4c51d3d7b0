// The page of the bundled-app check (page.mjs bundles it with esbuild): the
// package's browser build, its .wasm through esbuild's file loader, and every
// shared vector run in the page. The outcome goes to window.__result.
import init, * as sdk from 'sipwake-wasm';
import wasmUrl from 'sipwake-wasm/sipwake_wasm_bg.wasm';
import V from './vectors.js';

async function run() {
  await init({ module_or_path: wasmUrl });
  const files = await (await fetch('/vectors.json')).json();
  return { results: V.runVectors(sdk, files), version: sdk.version(), wasmUrl };
}

run().then(
  (r) => { window.__result = r; },
  (e) => { window.__result = { error: String((e && e.stack) || e) }; },
);

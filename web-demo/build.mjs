// Bundles the web phone (web-demo/dist/) and the service worker
// (service-worker/dist/firebase-messaging-sw.js) with esbuild. JsSIP and
// Firebase are bundled: nothing is fetched from a CDN at run time. The WASM
// SDK is not bundled: pages and the worker load it from /sdk/ at run time.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import esbuild from 'esbuild';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const DIST = path.join(HERE, 'dist');
const SW_DIST = path.join(ROOT, 'service-worker', 'dist');
const minify = !process.argv.includes('--dev');

const common = {
  bundle: true,
  platform: 'browser',
  target: ['chrome110', 'firefox115', 'safari16'],
  minify,
  // Release bundles are embedded in the gateway binary: no source maps
  // (they would triple its web payload); `--dev` builds keep them.
  sourcemap: minify ? false : 'linked',
  logLevel: 'warning',
  legalComments: 'linked',
  // The service worker lives outside web-demo/ but uses its node_modules.
  nodePaths: [path.join(HERE, 'node_modules')],
};

fs.rmSync(DIST, { recursive: true, force: true });
fs.rmSync(SW_DIST, { recursive: true, force: true });
fs.mkdirSync(DIST, { recursive: true });

await esbuild.build({
  ...common,
  entryPoints: [path.join(HERE, 'src', 'app.js')],
  format: 'esm',
  outfile: path.join(DIST, 'app.js'),
});
for (const f of ['index.html', 'app.css']) fs.copyFileSync(path.join(HERE, 'src', f), path.join(DIST, f));

await esbuild.build({
  ...common,
  entryPoints: [path.join(ROOT, 'service-worker', 'src', 'firebase-messaging-sw.js')],
  // A classic script: importScripts() is not available to module workers.
  format: 'iife',
  outfile: path.join(SW_DIST, 'firebase-messaging-sw.js'),
});

for (const f of [path.join(DIST, 'app.js'), path.join(SW_DIST, 'firebase-messaging-sw.js')]) {
  console.log(`built ${path.relative(ROOT, f)} (${fs.statSync(f).size} bytes)`);
}

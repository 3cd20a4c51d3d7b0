// A bundled web app: page-entry.js (`import init, * as sdk from 'sipwake-wasm'`)
// bundled with esbuild, served with its .wasm from a loopback HTTP server on a
// free port, opened in headless Chromium (playwright-core), every shared
// vector run in the page.
// Usage: node page.mjs VECTOR_DIR VERSION TOOLS_DIR
//   TOOLS_DIR: a directory whose node_modules has esbuild and playwright-core.
// Env: CHROMIUM (default /usr/bin/chromium).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import common from './common.cjs';

const { loadVectors, expect, report } = common;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const [dir, version, tools] = process.argv.slice(2);
const toolRequire = createRequire(path.join(path.resolve(tools), 'package.json'));
const esbuild = toolRequire('esbuild');
const { chromium } = toolRequire('playwright-core');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = 60_000; // upper bound for any browser wait

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

function serve(root, dynamic) {
  const server = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
    if (p === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    let body = dynamic[p];
    let type = MIME[path.extname(p)] || 'application/octet-stream';
    if (body === undefined) {
      const file = path.join(root, p === '/' ? 'index.html' : p);
      if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
        res.writeHead(404).end();
        return;
      }
      body = fs.readFileSync(file);
      if (p === '/') type = MIME['.html'];
    }
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server)); // port 0: a free port
  });
}

const results = [];
const out = path.join(HERE, 'page-out');
fs.rmSync(out, { recursive: true, force: true });
let server;
let browser;
try {
  await esbuild.build({
    absWorkingDir: HERE,
    entryPoints: ['page-entry.js'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    outdir: out,
    loader: { '.wasm': 'file' },
    logLevel: 'warning',
  });
  const wasmFiles = fs.readdirSync(out).filter((f) => f.endsWith('.wasm'));
  results.push(expect('esbuild copied the .wasm', wasmFiles.length === 1, fs.readdirSync(out).join(', ')));
  fs.writeFileSync(path.join(out, 'index.html'),
    '<!doctype html><meta charset="utf-8"><title>sipwake-wasm</title><script type="module" src="/page-entry.js"></script>\n');

  server = await serve(out, { '/vectors.json': JSON.stringify(loadVectors(dir)) });
  const origin = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    timeout: TIMEOUT_MS,
  });
  const page = await browser.newPage();
  // Uncaught exceptions and console errors fail the check; warnings are shown.
  page.on('pageerror', (e) => results.push(expect('no uncaught exception in the page', false, e.message)));
  page.on('console', (m) => {
    if (m.type() === 'error') results.push(expect('no console error in the page', false, m.text()));
    else if (m.type() === 'warning') console.error(`[page warning] ${m.text()}`);
  });
  const wasmResponse = page.waitForResponse((r) => r.url().endsWith('.wasm'), { timeout: TIMEOUT_MS });
  await page.goto(origin + '/', { timeout: TIMEOUT_MS });
  const wasm = await wasmResponse;
  results.push(expect('the .wasm is fetched as application/wasm', wasm.status() === 200 &&
    wasm.headers()['content-type'] === 'application/wasm', `${wasm.status()} ${wasm.headers()['content-type']}`));
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: TIMEOUT_MS });
  const r = await page.evaluate(() => window.__result);
  if (r.error) {
    results.push(expect('the page ran', false, r.error));
  } else {
    results.push(...r.results);
    results.push(expect('version() in the page', r.version === version, `${r.version} != ${version}`));
  }
} catch (e) {
  results.push(expect('bundle, serve and open the page', false, e && e.stack));
} finally {
  if (browser) await browser.close();
  if (server) await new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); });
}
process.exit(report('page', results) ? 0 : 1);

// Runs the WASM SDK test suites: the shared vectors and api.js in Node (pkg/node), in a
// headless Chromium page (pkg/web), inside a real service worker
// (pkg/no-modules via importScripts), push events delivered to that worker
// over the DevTools protocol, a JsSIP phone registering with push as
// docs/sdk-web.md shows, and a strict TypeScript check of the .d.ts.
// Prints failures, then `N passed, M failed`; exits 1 on any failure.
//
// Env: CHROMIUM (default /usr/bin/chromium), SIPWAKE_VECTORS (default tests/vectors).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';
import { startRegistrar } from './registrar.mjs';
import crypto from 'node:crypto';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const WASM_DIR = path.resolve(HERE, '..');
const ROOT = path.resolve(WASM_DIR, '..');
const VECTORS = process.env.SIPWAKE_VECTORS || path.join(ROOT, 'tests', 'vectors');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = 60_000; // upper bound for any single wait on the browser

const V = require('./vectors.js');
let passed = 0;
let failed = 0;

function record(suite, results) {
  let p = 0;
  for (const r of results) {
    if (r.ok) p++;
    else console.error(`FAIL [${suite}] ${r.file} :: ${r.name}: ${r.detail}`);
  }
  passed += p;
  failed += results.length - p;
  console.log(`${suite}: ${p} passed, ${results.length - p} failed`);
}

function fatal(suite, err) {
  record(suite, [{ file: '-', name: '(suite)', ok: false, detail: String(err && err.stack || err) }]);
}

function loadVectors() {
  const names = fs.readdirSync(VECTORS).filter((f) => f.endsWith('.json')).sort();
  return names.map((file) => ({ file, data: JSON.parse(fs.readFileSync(path.join(VECTORS, file), 'utf8')) }));
}

function nodeSuite(files) {
  const sdk = require(path.join(WASM_DIR, 'pkg', 'node', 'sipwake_wasm.js'));
  record('node', V.runVectors(sdk, files).concat(require('./api.js').runApiTests(sdk)));
}

// The harness itself must reject bad results, or every green run above means
// nothing: each of these cases has to come out as a failure (or pass, for the control).
function harnessSuite() {
  const sdk = require(path.join(WASM_DIR, 'pkg', 'node', 'sipwake_wasm.js'));
  const bind = { remove: false, env: 'default', provider: 'a', package: 'p', token: 't' };
  const cases = [
    [true, 'parse_mpush', { name: 'control', input: { value: 'a:p:t' }, output: bind }],
    [false, 'parse_mpush', { name: 'wrong value', input: { value: 'a:p:t' }, output: { ...bind, token: 'u' } }],
    [false, 'parse_mpush', { name: 'missing key', input: { value: 'a:p:t' }, output: { ...bind, extra: 1 } }],
    [false, 'parse_mpush', { name: 'extra key', input: { value: 'a:p:t' }, output: { remove: false } }],
    [false, 'parse_mpush', { name: 'null vs missing', input: { value: 'a:p:t' }, output: null }],
    [false, 'parse_mpush', { name: 'error expected, got value', input: { value: 'a:p:t' }, error: 'x' }],
    [false, 'parse_mpush', { name: 'value expected, got error', input: { value: 'x' }, output: bind }],
    [false, 'parse_mpush', { name: 'wrong error text', input: { value: 'x:p:t' }, error: 'missing token' }],
    [false, 'parse_mpush', { name: 'both output and error', input: { value: 'x' }, output: 1, error: 'x' }],
    [false, 'parse_mpush', { name: 'missing argument', input: { valeu: 'x' }, error: '' }],
    [false, 'no_such_function', { name: 'unknown function', input: {}, output: null }],
    [false, 'compute_piid', { name: 'number vs string', input: { username: 'a', realm: 'b', password: 'c' }, output: 1 }],
  ];
  const results = cases.map(([pass, fn, kase]) => {
    const [r] = V.runVectors(sdk, [{ file: 'harness', data: { function: fn, cases: [kase] } }]);
    return { file: 'harness', name: kase.name, ok: r.ok === pass, detail: r.ok === pass ? '' : `harness judged ok=${r.ok}` };
  });
  results.push({ file: 'harness', name: 'empty vector set fails', ok: !V.runVectors(sdk, [])[0].ok, detail: '' });
  record('harness', results);
}

// The push payload texts come from the parse_push vectors: the same cases,
// this time arriving as real push events in the service worker.
function pushCases(files) {
  const out = [];
  for (const { file, data } of files) {
    if (data.function !== 'parse_push') continue;
    for (const kase of data.cases) {
      const p = kase.input && kase.input.json;
      out.push({ file, kase, text: typeof p === 'string' ? p : JSON.stringify(p) });
    }
  }
  return out;
}

async function browserSuites(files) {
  const server = await startServer({
    routes: { '/pkg/': path.join(WASM_DIR, 'pkg'), '/tests/': path.join(HERE, 'browser') },
    files: {
      '/sw.js': path.join(HERE, 'browser', 'sw.js'),
      '/tests/vectors.js': path.join(HERE, 'vectors.js'),
      '/tests/api.js': path.join(HERE, 'api.js'),
    },
    dynamic: {
      '/vectors.json': async () => ['application/json', JSON.stringify(files)],
      '/tests/jssip.js': async () => ['text/javascript', await bundleJssip()],
    },
  });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipwake-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: TIMEOUT_MS,
    });
    context.setDefaultTimeout(TIMEOUT_MS);
    // The push handler shows a notification, as a web phone would.
    await context.grantPermissions(['notifications'], { origin: server.origin });
    await pageSuite(context, server.origin);
    await jssipSuite(context, server.origin);
    await serviceWorkerSuites(context, server.origin, files);
  } finally {
    if (context) await context.close();
    await server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

function logConsole(page, suite) {
  page.on('pageerror', (e) => console.error(`[${suite} pageerror] ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && console.error(`[${suite} console] ${m.text()}`));
}

async function pageSuite(context, origin) {
  const page = await context.newPage();
  logConsole(page, 'chromium-page');
  try {
    await page.goto(origin + '/tests/index.html');
    await page.waitForFunction(() => window.__result !== undefined);
    const res = await page.evaluate(() => window.__result);
    if (res.error) throw new Error(res.error);
    record('chromium-page', res.results);
  } catch (e) {
    fatal('chromium-page', e);
  } finally {
    await page.close();
  }
}

// JsSIP ships CommonJS for Node; bundle it for the page (no download: esbuild is a devDependency).
async function bundleJssip() {
  const esbuild = require('esbuild');
  const r = await esbuild.build({
    entryPoints: [path.join(HERE, 'node_modules', 'jssip', 'lib', 'JsSIP.js')],
    bundle: true, format: 'iife', globalName: 'JsSIP', platform: 'browser', write: false, logLevel: 'warning',
  });
  return r.outputFiles[0].text;
}

// The integration snippets of docs/sdk-web.md in a real JsSIP phone, against
// a registrar that checks digest auth and answers with Feature-Caps.
async function jssipSuite(context, origin) {
  const sdk = require(path.join(WASM_DIR, 'pkg', 'node', 'sipwake_wasm.js'));
  const acct = { user: '1111', realm: 'example.com', password: 'pa55 w:rd', project: 'my-firebase-project',
    token: 'dQw4w9WgXcQ:APA91bH-ex_ample/token+0123' };
  const ha1 = crypto.createHash('md5').update(`${acct.user}:${acct.realm}:${acct.password}`).digest('hex');
  const page = await context.newPage();
  logConsole(page, 'jssip');
  const results = [];
  const check = (name, fn) => {
    try {
      const why = fn();
      results.push({ file: 'jssip', name, ok: !why, detail: why || '' });
    } catch (e) {
      results.push({ file: 'jssip', name, ok: false, detail: String(e && e.message || e) });
    }
  };
  try {
    await page.goto(origin + '/tests/jssip.html');
    await page.waitForFunction(() => window.__loaded === true);
    for (const mode of ['mpush', 'rfc8599']) {
      const reg = await startRegistrar({ realm: acct.realm, ha1, featureCaps: '*;+sip.pns="webpush";+sip.pnsreg="120"' });
      let res;
      try {
        res = await page.evaluate((o) => window.__register(o), { ...acct, mode, wsUrl: reg.url });
      } finally {
        await reg.close();
      }
      const regs = reg.requests.map((r) => r.req);
      const first = regs[0];
      const last = regs[regs.length - 1];
      check(`${mode}: registered through digest auth`, () => (res.registered ? null : 'registration failed: ' + res.cause));
      check(`${mode}: Feature-Caps check of the 200 OK`, () =>
        V.diff({ webpush: res.webpush, apns: res.apns, pnsregSeconds: res.pnsregSeconds }, { webpush: true, apns: false, pnsregSeconds: 120 }));
      if (mode === 'mpush') {
        check('mpush: REGISTER carries the X-MPUSH the gateway parses', () =>
          V.diff(first && first.all('x-mpush').map((v) => sdk.parseMpush(v)),
            [{ remove: false, env: 'default', provider: 'w', package: acct.project, token: acct.token }]));
        check('mpush: X-PIID is the digest HA1 (independent md5)', () => V.diff(first && first.all('x-piid'), [ha1]));
        check('mpush: unregister sends X-MPUSH: null, no X-PIID, expires 0', () =>
          V.diff({ mpush: last.all('x-mpush'), piid: last.all('x-piid'), expires0: /expires=0|^0$/.test(last.get('contact') + ' ' + (last.get('expires') || '')), unregistered: res.unregistered },
            { mpush: ['null'], piid: [], expires0: true, unregistered: true }));
      } else {
        check('rfc8599: Contact URI carries the pn-* params the gateway parses', () =>
          V.diff(first && sdk.parsePnParams(first.get('contact')), { provider: 'webpush', param: acct.project, prid: acct.token, purr: null }));
        check('rfc8599: params are URI params (inside <>)', () => {
          const c = first.get('contact');
          return c.indexOf(';pn-prid=') < c.indexOf('>') ? null : 'pn-* after the URI: ' + c;
        });
        check('rfc8599: no X-MPUSH header', () => V.diff(first.all('x-mpush'), []));
      }
    }
  } catch (e) {
    results.push({ file: 'jssip', name: '(suite)', ok: false, detail: String(e && e.stack || e) });
  } finally {
    await page.close();
  }
  record('jssip', results);
}

async function serviceWorkerSuites(context, origin, files) {
  const page = await context.newPage();
  logConsole(page, 'service-worker');
  // Registration ids arrive as DevTools events; listen before registering.
  const cdp = await context.newCDPSession(page);
  const regs = new Map();
  cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
    for (const r of registrations) regs.set(r.scopeURL, r.registrationId);
  });
  await cdp.send('ServiceWorker.enable');
  try {
    await page.goto(origin + '/tests/sw.html');
    await page.evaluate(() => window.__ready.then(() => true));
    const res = await page.evaluate(() => window.__runVectors());
    if (res.error) throw new Error(res.error);
    record('service-worker', res.results);
  } catch (e) {
    fatal('service-worker', e);
  }
  try {
    await pushSuite(page, cdp, regs, origin, files);
  } catch (e) {
    fatal('service-worker-push', e);
  } finally {
    await page.close();
  }
}

async function pushSuite(page, cdp, regs, origin, files) {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!regs.has(origin + '/')) {
    if (Date.now() > deadline) throw new Error('no service worker registration event for ' + origin + '/');
    await new Promise((r) => setTimeout(r, 20)); // poll an event-filled map, bounded by the deadline
  }
  const registrationId = regs.get(origin + '/');
  const cases = pushCases(files);
  if (cases.length === 0) throw new Error('no parse_push vectors to deliver');
  const results = [];
  for (let i = 0; i < cases.length; i++) {
    const { file, kase, text } = cases[i];
    await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: text });
    await page.waitForFunction((n) => window.__pushes.length > n, i);
    const got = await page.evaluate((n) => window.__pushes[n], i);
    let detail = got.text === text ? null : 'push event carried different data';
    if (!detail) {
      detail = V.judge(kase, 'error' in got ? { thrown: new Error(got.error) } : { value: got.notification });
    }
    if (!detail && 'notification' in got && !got.shown) detail = 'showNotification did not show the parsed push';
    results.push({ file, name: kase.name, ok: !detail, detail: detail || '' });
  }
  record('service-worker-push', results);
}

function typescriptSuite() {
  const tsc = path.join(HERE, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', path.join(HERE, 'tsconfig.json')], { stdio: 'pipe' });
    record('typescript', [{ file: 'types-check.ts', name: 'strict tsc over the emitted .d.ts', ok: true }]);
  } catch (e) {
    fatal('typescript', (e.stdout || '') + (e.stderr || '') || e);
  }
}

let files;
try {
  files = loadVectors();
  if (files.length === 0) throw new Error('no vector files in ' + VECTORS);
} catch (e) {
  fatal('vectors', e);
}
if (files && files.length) {
  try { nodeSuite(files); } catch (e) { fatal('node', e); }
  try { harnessSuite(); } catch (e) { fatal('harness', e); }
  await browserSuites(files).catch((e) => fatal('chromium', e));
}
typescriptSuite();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

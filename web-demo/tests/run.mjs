// Browser end-to-end tests of the web phone, the service worker and the
// gateway's web hosting, in headless Debian Chromium (playwright-core).
// Prints one line per check, then `N passed, M failed`; exits 1 on any failure.
//
// Env: SIPWAKE_BIN (default $CARGO_TARGET_DIR|target/debug/sipwake), CHROMIUM,
// WEB_TESTS (comma list of suites to run; default all).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Results } from './lib/results.mjs';
import { startGateway } from './lib/gateway.mjs';
import { pageSuite } from './page.mjs';
import { swSuite } from './sw.mjs';
import { sipSuite } from './sip.mjs';
import { upstreamSuite } from './upstream.mjs';
import { wakeSuite } from './wake.mjs';
import { corsSuite } from './cors.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const outDir = path.join(HERE, 'out');
fs.mkdirSync(outDir, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sipwake-web-'));
const only = (process.env.WEB_TESTS || '').split(',').filter(Boolean);
const want = (name) => only.length === 0 || only.includes(name);

const t = new Results();
const env = { root: ROOT, tmp, outDir };

async function withGateway(suite, mode, fn) {
  let gw;
  try {
    gw = await startGateway({ ...env, mode });
    await fn(gw);
  } catch (e) {
    t.fatal(suite, e);
  } finally {
    if (gw) await gw.stop();
  }
}

if (want('page') || want('sw')) {
  await withGateway('standalone', { standalone: true }, async (gw) => {
    if (want('page')) await pageSuite(t, { ...env, gw }).catch((e) => t.fatal('page', e));
    if (want('sw')) await swSuite(t, { ...env, gw }).catch((e) => t.fatal('service-worker', e));
  });
}

// Its last check stops the gateway: a gateway of its own.
if (want('sip')) {
  await withGateway('sip-standalone', { standalone: true }, (gw) => sipSuite(t, { ...env, gw }));
}

if (want('upstream')) {
  await upstreamSuite(t, env).catch((e) => t.fatal('sip-upstream', e));
}

if (want('cors')) {
  await corsSuite(t, env).catch((e) => t.fatal('cors', e));
}

if (want('wake')) {
  await wakeSuite(t, env).catch((e) => t.fatal('push-wake', e));
}

fs.rmSync(tmp, { recursive: true, force: true });
if (t.skipped.length) {
  console.log(`${t.skipped.length} check(s) DISABLED until the gateway supports them:\n  ${t.skipped.join('\n  ')}`);
}
console.log(`${t.passed} passed, ${t.failed} failed`);
process.exit(t.failed === 0 ? 0 : 1);

// Headless Debian Chromium driven by playwright-core: one fresh profile per
// context (service workers, permissions and storage never leak between suites).
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const TIMEOUT_MS = 30_000; // upper bound for any single browser wait

const BASE_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // The gateway's self-signed certificate (generated in its data dir).
  '--ignore-certificate-errors',
  // Fake microphone/camera, no permission prompt.
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  // Loopback ICE candidates with real addresses (no mDNS names), so two
  // pages in this machine connect over 127.0.0.1 only.
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

export async function launch(tmp, name, { args = [], env, without = [] } = {}) {
  const userDataDir = fs.mkdtempSync(path.join(tmp, `chromium-${name}-`));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...BASE_ARGS.filter((a) => !without.includes(a)), ...args],
    ignoreHTTPSErrors: true,
    timeout: TIMEOUT_MS,
    env: env ? { ...process.env, ...env } : undefined,
  });
  context.setDefaultTimeout(TIMEOUT_MS);
  return context;
}

/** Page errors and console errors go to the test log with the suite name. */
export function logConsole(page, label, sink = console.error) {
  page.on('pageerror', (e) => sink(`[${label} pageerror] ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') sink(`[${label} console.${m.type()}] ${m.text()}`);
  });
}

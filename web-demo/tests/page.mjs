// The phone page as served by the gateway over HTTPS: it loads, the WASM SDK
// and /api/v1/webconfig work, and it passes axe-core (WCAG 2.1 A/AA: labels,
// contrast, …) in its idle state and with the incoming-call and error panels
// shown. A full-page screenshot is saved and checked.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { launch, logConsole } from './lib/browser.mjs';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const S = 'page';

async function axeViolations(page) {
  // Evaluated over DevTools, so the page's CSP (script-src 'self') does not block it.
  await page.evaluate(AXE + '\n;true');
  const r = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  }));
  return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

export async function pageSuite(t, { gw, tmp, outDir }) {
  const ctx = await launch(tmp, 'page');
  try {
    const page = await ctx.newPage();
    const errors = [];
    logConsole(page, S, (m) => errors.push(m));
    const resp = await page.goto(gw.httpsOrigin + '/');
    await t.check(S, 'GET / over HTTPS from the gateway is the phone page', async () =>
      resp.status() === 200 && (await page.title()) === 'sipwake web phone' ? null : `status ${resp.status()}, title ${await page.title()}`);
    await t.check(S, 'page sends a CSP that allows only its own scripts + wasm', () => {
      const csp = resp.headers()['content-security-policy'] || '';
      return csp.includes("script-src 'self' 'wasm-unsafe-eval'") ? null : `CSP: ${csp}`;
    });
    await page.waitForFunction(() => document.body.dataset.ready === 'true');
    await t.check(S, 'WASM SDK from /sdk/ loads (no error shown, push toggle enabled)', async () => {
      const err = await page.locator('#error').textContent();
      const disabled = await page.locator('#push-toggle').isDisabled();
      return !err && !disabled ? null : `error "${err}", push toggle disabled=${disabled}`;
    });
    await t.check(S, 'WebSocket URL pre-filled from /api/v1/webconfig (wss, same host)', async () => {
      const v = await page.locator('#ws-url').inputValue();
      return v === `wss://127.0.0.1:${gw.ports.https}/ws` ? null : `ws-url = ${v}`;
    });
    await t.check(S, 'no console errors while loading', () => (errors.length ? errors.join('\n') : null));

    await t.check(S, 'axe-core: no WCAG 2.1 A/AA or best-practice violations (idle)', async () => {
      const v = await axeViolations(page);
      return v.length ? v.join('\n') : null;
    });
    // The states a user meets later: an incoming call and an error message.
    await page.evaluate(() => {
      document.getElementById('incoming-text').textContent = 'Incoming call from Alice';
      document.getElementById('incoming').hidden = false;
      const e = document.getElementById('error');
      e.textContent = 'Registration failed: wrong user name or password (401)';
      e.hidden = false;
      document.getElementById('call').disabled = false;
    });
    await t.check(S, 'axe-core: no violations with the incoming-call and error panels shown', async () => {
      const v = await axeViolations(page);
      return v.length ? v.join('\n') : null;
    });
    await t.check(S, 'every form control has a visible label', async () => {
      const unlabeled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => !(el.labels && el.labels.length && el.labels[0].textContent.trim() && el.labels[0].offsetParent !== null))
        .map((el) => el.id));
      return unlabeled.length ? `unlabeled: ${unlabeled.join(', ')}` : null;
    });
    const shot = path.join(outDir, 'phone.png');
    await page.setViewportSize({ width: 800, height: 900 });
    await page.screenshot({ path: shot, fullPage: true });
    await t.check(S, `full-page screenshot saved (${path.relative(process.cwd(), shot)})`, () => {
      const b = fs.readFileSync(shot);
      const png = b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      const w = b.readUInt32BE(16);
      const h = b.readUInt32BE(20);
      // The whole form is taller than one screen: fullPage must have captured it.
      return png && w === 800 && h > 900 ? null : `png=${png} ${w}x${h}`;
    });
  } finally {
    await ctx.close();
  }

  // A browser where the user said no to notifications.
  const denied = await launch(tmp, 'page-denied');
  try {
    const cdp = await denied.newCDPSession(await denied.newPage());
    await cdp.send('Browser.setPermission', { permission: { name: 'notifications' }, setting: 'denied', origin: gw.httpsOrigin });
    const page = await denied.newPage();
    await page.goto(gw.httpsOrigin + '/');
    await page.waitForFunction(() => document.body.dataset.ready === 'true');
    await t.check(S, 'push toggle with notifications blocked: a clear error, toggle back off', async () => {
      // click(), not check(): the page unticks it again at once.
      await page.getByLabel('Wake me with push notifications when this page is closed').click();
      const err = await page.getByRole('alert').textContent({ timeout: 10_000 });
      await page.waitForFunction(() => !document.getElementById('push-toggle').checked && !document.getElementById('push-toggle').disabled);
      return /notification permission denied: allow notifications for this site/.test(err) ? null : `error: ${err}`;
    });
  } finally {
    await denied.close();
  }
}

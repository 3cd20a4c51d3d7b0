// /api/v1/webconfig read across origins by headless Chromium: a page on an
// origin listed in [web] allowed_origins gets the JSON (a simple GET, and a
// GET with Cache-Control that makes Chromium send a CORS preflight); a page
// on any other origin is refused by the browser.
import http from 'node:http';
import { startGateway } from './lib/gateway.mjs';
import { freePort } from './lib/procs.mjs';
import { launch, logConsole } from './lib/browser.mjs';

const S = 'cors';

/** A plain page on http://127.0.0.1:<port>/ (its own origin). */
async function originServer() {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!DOCTYPE html><title>other origin</title><p>phone.example</p>');
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise((ok) => server.close(ok)) };
}

/** What a fetch from `page` to `url` gives: the JSON's wsUrl or the error. */
function readConfig(page, url, headers) {
  return page.evaluate(async ([u, h]) => {
    try {
      const r = await fetch(u, { headers: h });
      return { status: r.status, wsUrl: (await r.json()).wsUrl };
    } catch (e) {
      return { error: String(e) };
    }
  }, [url, headers]);
}

export async function corsSuite(t, env) {
  const allowed = await originServer();
  const other = await originServer();
  let gw;
  const ctx = await launch(env.tmp, 'cors');
  try {
    gw = await startGateway({
      ...env,
      mode: { standalone: true },
      extraToml: `[web]\nallowed_origins = ["${allowed.origin}"]\n`,
    });
    const url = `${gw.httpOrigin}/api/v1/webconfig`;
    const preflights = [];
    const page = await ctx.newPage();
    logConsole(page, S, () => {}); // the refused fetches log CORS errors on purpose
    // Chromium reports its CORS preflights over DevTools only.
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.requestWillBeSent', (e) => {
      if (e.request.method === 'OPTIONS') preflights.push(e.request.url);
    });
    await page.goto(allowed.origin + '/');
    await t.check(S, 'allowed origin: a simple GET reads /api/v1/webconfig', async () => {
      const r = await readConfig(page, url, {});
      return r.status === 200 && r.wsUrl === `ws://127.0.0.1:${gw.ports.http}/ws` ? null : JSON.stringify(r);
    });
    await t.check(S, 'allowed origin: a GET with Cache-Control passes the preflight', async () => {
      const r = await readConfig(page, url, { 'Cache-Control': 'no-cache' });
      return r.status === 200 ? null : JSON.stringify(r);
    });
    await t.check(S, 'Chromium sent a CORS preflight (OPTIONS) for that GET, and only for it', () =>
      preflights.length === 1 && preflights[0] === url ? null : `preflights: ${JSON.stringify(preflights)}`);
    await page.goto(other.origin + '/');
    await t.check(S, 'other origin: the browser refuses the answer (no CORS header for it)', async () => {
      const r = await readConfig(page, url, {});
      return r.error && r.error.includes('Failed to fetch') ? null : JSON.stringify(r);
    });
    await t.check(S, 'other origin: the preflighted GET is refused too', async () => {
      const r = await readConfig(page, url, { 'Cache-Control': 'no-cache' });
      return r.error ? null : JSON.stringify(r);
    });
  } finally {
    await ctx.close();
    if (gw) await gw.stop();
    await allowed.close();
    await other.close();
  }
}

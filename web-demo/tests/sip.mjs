// Two phone pages (separate browser profiles) registered at the standalone
// gateway over WSS: a call with fake media that the callee answers, ICE/DTLS
// connected between the two Chromium peers, hang up; reject; chat (SIP
// MESSAGE); a wrong password shows the 401 error; a stopped gateway shows
// the closed WebSocket.
import { launch } from './lib/browser.mjs';
import { REALM } from './lib/gateway.mjs';
import { openPhone, fillAccount, waitText } from './lib/phone.mjs';

export async function sipSuite(t, { gw, tmp }) {
  const S = 'sip-standalone';
  const logs = [];
  const sink = (m) => logs.push(m);
  const actx = await launch(tmp, 'alice');
  const bctx = await launch(tmp, 'bob');
  const cctx = await launch(tmp, 'carol');
  try {
    const a = await openPhone(actx, gw.httpsOrigin, 'alice', sink);
    const b = await openPhone(bctx, gw.httpsOrigin, 'bob', sink);
    for (const [page, user] of [[a, 'alice'], [b, 'bob']]) {
      await fillAccount(page, { user, password: `${user}-pw`, domain: REALM });
      await page.getByRole('button', { name: 'Register', exact: true }).click();
    }
    let registered = false;
    await t.check(S, 'both pages register over WSS (digest auth)', async () => {
      await waitText(a, 'reg-status', /^Registered as alice@sipwake\.test/);
      await waitText(b, 'reg-status', /^Registered as bob@sipwake\.test/);
      registered = true;
    });

    await t.check(S, 'a wrong password shows "wrong user name or password (401)"', async () => {
      const c = await openPhone(cctx, gw.httpsOrigin, 'carol', sink);
      await fillAccount(c, { user: 'carol', password: 'not-the-password', domain: REALM });
      await c.getByRole('button', { name: 'Register', exact: true }).click();
      await waitText(c, 'error', /Registration failed: wrong user name or password \(401\)/);
      return (await c.getByRole('alert').isVisible()) ? null : 'error panel not visible';
    });
    if (!registered) return;

    await t.check(S, 'alice calls bob: bob sees the incoming call and answers', async () => {
      await a.getByLabel('Number or SIP address').fill('bob');
      await a.getByRole('button', { name: 'Call', exact: true }).click();
      await waitText(b, 'incoming-text', /^Incoming call from alice$/);
      await b.getByRole('button', { name: 'Answer' }).click();
      await waitText(a, 'call-status', /^In call with bob$/);
      await waitText(b, 'call-status', /^In call with alice$/);
    });
    await t.check(S, 'media: ICE + DTLS connected between the two Chromium peers', async () => {
      await waitText(a, 'media-status', /^Media: connected \(ICE (connected|completed)\)$/);
      await waitText(b, 'media-status', /^Media: connected \(ICE (connected|completed)\)$/);
    });
    await t.check(S, 'alice hangs up: both see the call end', async () => {
      await a.getByRole('button', { name: 'Hang up' }).click();
      await waitText(a, 'call-status', /^Call ended/);
      await waitText(b, 'call-status', /^Call ended/);
    });
    await t.check(S, 'bob rejects a second call: alice sees "busy"', async () => {
      await a.getByRole('button', { name: 'Call', exact: true }).click();
      await waitText(b, 'incoming-text', /^Incoming call from alice$/);
      await b.getByRole('button', { name: 'Reject' }).click();
      await waitText(a, 'call-status', /^Call failed: busy/);
      return (await b.locator('#incoming').isHidden()) ? null : 'incoming panel still shown';
    });
    await t.check(S, 'chat: a SIP MESSAGE from alice shows on bob\'s page', async () => {
      await a.getByLabel('To', { exact: true }).fill('bob');
      await a.getByLabel('Message', { exact: true }).fill('hello bob ✓');
      await a.getByRole('button', { name: 'Send' }).click();
      await waitText(b, 'chat-log', /alice: hello bob ✓/);
      await waitText(a, 'chat-log', /me → bob: hello bob ✓/);
    });
    await t.check(S, 'microphone blocked: calling shows "microphone access was denied"', async () => {
      // No auto-accepting media prompt in this profile, and the microphone blocked.
      const mctx = await launch(tmp, 'carol-nomic', { without: ['--use-fake-ui-for-media-stream'] });
      try {
        const c = await openPhone(mctx, gw.httpsOrigin, 'carol-nomic', sink);
        const cdp = await mctx.newCDPSession(c);
        await cdp.send('Browser.setPermission', { permission: { name: 'microphone' }, setting: 'denied', origin: gw.httpsOrigin });
        await fillAccount(c, { user: 'carol', password: 'carol-pw', domain: REALM });
        await c.getByRole('button', { name: 'Register', exact: true }).click();
        await waitText(c, 'reg-status', /^Registered as carol@sipwake\.test/);
        await c.getByLabel('Number or SIP address').fill('bob');
        await c.getByRole('button', { name: 'Call', exact: true }).click();
        await waitText(c, 'error', /Call failed: microphone access was denied/);
        return (await b.locator('#incoming').isHidden()) ? null : 'bob was rung anyway';
      } finally {
        await mctx.close();
      }
    });
    await t.check(S, 'the gateway going away shows "WebSocket … closed"', async () => {
      await gw.stop();
      await waitText(a, 'error', /Connection lost: the WebSocket to the gateway closed/);
    });
  } finally {
    if (logs.length) console.log(logs.slice(0, 20).join('\n'));
    await Promise.all([actx.close(), bctx.close(), cctx.close()]);
  }
}

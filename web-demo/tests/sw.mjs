// firebase-messaging-sw.js as served by the gateway, given pushes over the
// DevTools protocol (no push service is reachable): each ntype shows or closes
// the right notification, checked through registration.getNotifications() and
// on the (test) desktop notification server; a click on a call notification
// focuses the open phone page, or opens it.
// Payloads are what the gateway sends: the SDK's renderFcm() of the manual's
// default template, as a Web Push body or as FCM delivers it to a browser.
import path from 'node:path';
import { createRequire } from 'node:module';
import { launch, logConsole } from './lib/browser.mjs';
import { diff } from './lib/results.mjs';
import { waitFor } from './lib/procs.mjs';
import { startDesktop } from './lib/desktop.mjs';

const require = createRequire(import.meta.url);

export const FAKE_FIREBASE = {
  apiKey: 'AIzaSyTest-sipwake-0000000000000000000',
  authDomain: 'sipwake-test.firebaseapp.com',
  projectId: 'sipwake-test',
  messagingSenderId: '123456789012',
  appId: '1:123456789012:web:0123456789abcdef',
};

function sdk(root) {
  return require(path.join(root, 'client-wasm', 'pkg', 'node', 'sipwake_wasm.js'));
}

/** The gateway's Web Push body for these fields (push/src/webpush.rs: the FCM message minus token/android/apns). */
export function webpushBody(root, fields) {
  const m = sdk(root).renderFcm({ package: 'webpush', token: 't', toUsername: 'bob', ...fields }, 'fcmWeb', undefined).message;
  for (const k of ['token', 'android', 'apns']) delete m[k];
  return m;
}

/** The same push as Firebase Cloud Messaging hands it to a browser. */
function fcmDelivered(root, fields) {
  const m = webpushBody(root, fields);
  const out = { data: m.data, from: FAKE_FIREBASE.messagingSenderId, priority: 'high', fcmMessageId: 'm-' + Math.random().toString(36).slice(2) };
  if (m.notification) out.notification = m.notification;
  return out;
}

/**
 * A page of the gateway's origin with the worker registered. `push(payload)`
 * delivers one push and resolves after the worker finished it (the worker
 * tells open pages once its notification is shown or closed).
 */
export async function workerPage(ctx, origin, label, swUrl = '/firebase-messaging-sw.js') {
  await ctx.grantPermissions(['notifications'], { origin });
  const page = await ctx.newPage();
  logConsole(page, label);
  const cdp = await ctx.newCDPSession(page);
  const regs = new Map();
  cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
    for (const r of registrations) if (!r.isDeleted) regs.set(r.scopeURL, r.registrationId);
  });
  await cdp.send('ServiceWorker.enable');
  await page.goto(origin + '/');
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  await page.evaluate(async (url) => {
    window.__swMsgs = [];
    navigator.serviceWorker.addEventListener('message', (e) => window.__swMsgs.push(e.data));
    await navigator.serviceWorker.register(url, { scope: '/' });
    const reg = await navigator.serviceWorker.ready;
    if (!reg.active) throw new Error('no active worker');
  }, swUrl);
  const registrationId = await waitFor('service worker registration id', () => regs.get(origin + '/'));
  const messages = () => page.evaluate(() => window.__swMsgs.filter((m) => m && m.type === 'sipwake-push'));
  return {
    page,
    messages,
    async push(payload) {
      const before = (await messages()).length;
      await cdp.send('ServiceWorker.deliverPushMessage', {
        origin, registrationId, data: typeof payload === 'string' ? payload : JSON.stringify(payload),
      });
      await waitFor('the worker to finish the push', async () => (await messages()).length > before, 10_000);
    },
    // Only read once the worker is done: Chromium drops notifications from its
    // store when getNotifications() runs while one is still being shown.
    notifications: () => page.evaluate(async () => {
      const reg = await navigator.serviceWorker.ready;
      return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, requireInteraction: n.requireInteraction, kind: n.data && n.data.kind }));
    }),
  };
}

const byTag = (list, tag) => list.filter((n) => n.tag === tag);

export async function swSuite(t, { gw, tmp, root }) {
  const S = 'service-worker';
  const desk = await startDesktop(tmp);
  const ctx = await launch(tmp, 'sw', { env: desk.env });
  try {
    const w = await workerPage(ctx, gw.httpsOrigin, S);
    const from = { from: 'Alice Smith', fromUsername: 'alice' };

    await t.check(S, 'ntype 0: "Incoming call from …", tag per Call-ID, requireInteraction', async () => {
      await w.push(webpushBody(root, { kind: 0, callId: 'call-A@host', ...from }));
      const x = byTag(await w.notifications(), 'sipwake-call:call-A@host');
      return diff(x.map((n) => [n.title, n.requireInteraction, n.kind]), [['Incoming call from Alice Smith', true, 0]]);
    });
    await t.check(S, 'ntype 0: the call notification is on the desktop', async () => {
      const d = await waitFor('desktop notification', () => desk.open().find((n) => n.summary === 'Incoming call from Alice Smith'), 10_000);
      return d.actions.includes('default') ? null : `no default action: ${JSON.stringify(d)}`;
    });
    await w.push(webpushBody(root, { kind: 0, callId: 'call-B@host', ...from }));
    await t.check(S, "ntype 2: closes that call's notification only", async () => {
      await w.push(webpushBody(root, { kind: 2, callId: 'call-A@host', ...from }));
      return diff((await w.notifications()).map((x) => x.tag).sort(), ['sipwake-call:call-B@host']);
    });
    await t.check(S, 'ntype 1: the chat text', async () => {
      await w.push(webpushBody(root, { kind: 1, msg: 'hello bob, are you there?', ...from }));
      const n = (await w.notifications()).filter((x) => x.kind === 1);
      return diff(n.map((x) => [x.title, x.body]), [['Message from Alice Smith', 'hello bob, are you there?']]);
    });
    await t.check(S, 'ntype 3: the custom text', async () => {
      await w.push(webpushBody(root, { kind: 3, msg: 'Maintenance tonight at 22:00', ...from }));
      const n = (await w.notifications()).filter((x) => x.kind === 3);
      return diff(n.map((x) => x.body), ['Maintenance tonight at 22:00']);
    });
    await t.check(S, 'ntype 4: no notification; the open page is told (it re-registers)', async () => {
      const before = (await w.notifications()).length;
      await w.push(webpushBody(root, { kind: 4, ...from }));
      const last = (await w.messages()).at(-1);
      return diff([(await w.notifications()).length, last.notification.kind], [before, 4]);
    });
    await t.check(S, 'ntype 2 without a Call-ID closes every call notification (and nothing else)', async () => {
      await w.push(webpushBody(root, { kind: 2, callId: '', ...from }));
      return diff((await w.notifications()).map((x) => x.kind).sort(), [1, 3]);
    });
    await t.check(S, 'a payload the SDK cannot parse still shows a notification (no crash)', async () => {
      await w.push('not json at all');
      return byTag(await w.notifications(), 'sipwake-unparsed').length === 1 ? null : 'no fallback notification';
    });
    await t.check(S, 'every push reached the open page after it was handled', async () =>
      diff((await w.messages()).map((m) => m.notification && m.notification.kind), [0, 0, 2, 1, 3, 4, 2, null]));

    // Clicks, through the desktop notification server (a trusted click for Chromium).
    await w.push(webpushBody(root, { kind: 0, callId: 'click-1@host', from: 'Carol', fromUsername: 'carol' }));
    await t.check(S, 'click on a call notification focuses the open phone page and tells it', async () => {
      const d = await waitFor('desktop call notification', () => desk.open().find((n) => n.summary === 'Incoming call from Carol'), 10_000);
      const pages = ctx.pages().length;
      desk.click(d.id);
      const m = await waitFor('click message', async () => (await w.page.evaluate(() => window.__swMsgs)).find((x) => x.clicked), 10_000);
      const gone = await waitFor('clicked notification closed', async () => byTag(await w.notifications(), 'sipwake-call:click-1@host').length === 0, 10_000);
      return diff([m.notification.callId, gone, ctx.pages().length], ['click-1@host', true, pages]);
    });
    await w.push(webpushBody(root, { kind: 0, callId: 'click-2@host', from: 'Dave', fromUsername: 'dave' }));
    await t.check(S, 'click with no phone page open opens it (with ?wake=call&callid=…)', async () => {
      const d = await waitFor('desktop call notification', () => desk.open().find((n) => n.summary === 'Incoming call from Dave'), 10_000);
      await w.page.goto('about:blank'); // no page of the origin is open any more
      const opened = ctx.waitForEvent('page', { timeout: 10_000 });
      desk.click(d.id);
      const p = await opened;
      await p.waitForURL(/wake=call/, { timeout: 10_000 });
      const u = new URL(p.url());
      return diff([u.origin, u.pathname, u.searchParams.get('wake'), u.searchParams.get('callid')],
        [gw.httpsOrigin, '/', 'call', 'click-2@host']);
    });
  } finally {
    await ctx.close();
    await desk.stop();
  }

  // Firebase configured: the page registers the worker with ?firebase=<config>.
  const SF = 'service-worker-firebase';
  const fdesk = await startDesktop(tmp);
  const fctx = await launch(tmp, 'sw-firebase', { env: fdesk.env });
  try {
    const url = '/firebase-messaging-sw.js?firebase=' + encodeURIComponent(JSON.stringify(FAKE_FIREBASE));
    const w = await workerPage(fctx, gw.httpsOrigin, SF, url);
    await t.check(SF, 'Firebase Messaging starts in the worker with the config from its URL', async () => {
      const sw = await waitFor('worker handle', () => fctx.serviceWorkers().find((x) => x.url().includes('firebase=')));
      return diff(await sw.evaluate(() => self.sipwakeFirebase), true);
    });
    await t.check(SF, 'an FCM chat push shows exactly one notification (ours, not a second one from Firebase)', async () => {
      await w.push(fcmDelivered(root, { kind: 1, msg: 'via FCM', from: 'Alice Smith', fromUsername: 'alice' }));
      await w.push(fcmDelivered(root, { kind: 3, msg: 'marker', from: 'Alice Smith', fromUsername: 'alice' }));
      const n = await w.notifications();
      const desktop = fdesk.open().filter((x) => x.body.includes('via FCM')).length;
      return diff([n.filter((x) => x.body !== 'marker').map((x) => [x.title, x.body, x.kind]), desktop],
        [[['Message from Alice Smith', 'via FCM', 1]], 1]);
    });
    await t.check(SF, 'an FCM call push (data only) shows the call notification', async () => {
      await w.push(fcmDelivered(root, { kind: 0, callId: 'fcm-call@h', from: 'Bob', fromUsername: 'bob' }));
      return diff(byTag(await w.notifications(), 'sipwake-call:fcm-call@h').map((x) => x.title), ['Incoming call from Bob']);
    });
  } finally {
    await fctx.close();
    await fdesk.stop();
  }
}

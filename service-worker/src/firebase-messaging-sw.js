// sipwake's firebase-messaging-sw.js, served at the site root (the manual and
// Firebase require the root path). Turns pushes from the gateway into
// notifications: ntype 0 "Incoming call from …" (one per Call-ID, stays until
// handled), 1 the chat text, 2 closes that call's notification, 3 the custom
// text, 4 none (the open page re-registers). Payloads are parsed by the WASM
// SDK, the same Rust code the gateway uses to build them.
//
// Firebase Messaging is started when the page registered this worker with
// `?firebase=<web config JSON>`; otherwise pushes are standard Web Push (VAPID).
import { initializeApp } from 'firebase/app';
import { getMessaging, onBackgroundMessage } from 'firebase/messaging/sw';
import { notificationFor, cancelTag, clickTarget } from './notify.js';

// importScripts only works during the first evaluation of the worker script.
importScripts('/sdk/no-modules/sipwake_wasm.js');
// eslint-disable-next-line no-undef
const sdk = wasm_bindgen;
const sdkReady = sdk({ module_or_path: '/sdk/no-modules/sipwake_wasm_bg.wasm' });

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));

async function windows() {
  return self.clients.matchAll({ type: 'window', includeUncontrolled: true });
}

async function postAll(msg) {
  for (const c of await windows()) c.postMessage(msg);
}

/** Tells open phone pages about the push (they may need to register or re-register). */
function tellPages(n) {
  return postAll({ type: 'sipwake-push', notification: n });
}

async function handlePush(text) {
  await sdkReady;
  let n;
  try {
    n = sdk.parsePush(text || '{}');
  } catch (e) {
    // Not a sipwake payload; a visible notification is still owed for a userVisibleOnly push.
    const error = String(e.message || e);
    await self.registration.showNotification('New notification', { body: error, tag: 'sipwake-unparsed' });
    await postAll({ type: 'sipwake-push', notification: null, error });
    return;
  }
  if (n.kind === 2) {
    const tag = cancelTag(n);
    const open = await self.registration.getNotifications(tag ? { tag } : {});
    // Without a Call-ID, every call notification is stale.
    for (const x of open) if (tag || (x.data && x.data.kind === 0)) x.close();
  } else {
    const shown = notificationFor(n);
    if (shown) await self.registration.showNotification(shown.title, shown.options);
  }
  // After the notification is up (or gone): open pages see the final state.
  await tellPages(n);
}

// Registered before Firebase's own listener, and stops it: every push goes
// through the SDK parser once, and Firebase does not show a second notification.
self.addEventListener('push', (event) => {
  event.stopImmediatePropagation();
  event.waitUntil(handlePush(event.data ? event.data.text() : '').catch((e) => {
    console.error('sipwake: push not handled:', e);
    return postAll({ type: 'sipwake-push-error', error: String((e && e.message) || e) });
  }));
});

self.addEventListener('notificationclick', (event) => {
  const data = event.notification.data;
  if (!data || !data.sipwake) return;
  event.notification.close();
  event.waitUntil((async () => {
    const target = clickTarget(data, self.registration.scope);
    const open = (await windows()).find((c) => {
      const u = new URL(c.url);
      return u.origin === target.origin && (u.pathname === target.pathname || u.pathname === target.pathname + 'index.html');
    });
    if (open) {
      await open.focus();
      open.postMessage({ type: 'sipwake-push', notification: data.n, clicked: true });
    } else {
      await self.clients.openWindow(target.href);
    }
  })());
});

// Firebase keeps the FCM token alive (pushsubscriptionchange) when configured.
const firebaseConfig = new URL(self.location.href).searchParams.get('firebase');
if (firebaseConfig) {
  try {
    const messaging = getMessaging(initializeApp(JSON.parse(firebaseConfig)));
    // Not reached for pushes (the listener above handles them first); set so
    // Firebase does not treat this worker as lacking a background handler.
    onBackgroundMessage(messaging, () => {});
    self.sipwakeFirebase = true;
  } catch (e) {
    console.error('sipwake: Firebase Messaging could not start:', e);
    self.sipwakeFirebase = false;
  }
}

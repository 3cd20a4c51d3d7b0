// The push toggle: notification permission, the service worker at the site
// root, and a push token — Firebase Messaging when the gateway has a Firebase
// web config, else standard Web Push with the gateway's VAPID key.
import { getApps, initializeApp } from 'firebase/app';
import { getMessaging, getToken, deleteToken } from 'firebase/messaging';

/** The worker must sit at the site root: the manual (and Firebase) insist on it. */
export const WORKER_URL = '/firebase-messaging-sw.js';

/** X-MPUSH package for standard Web Push (no Firebase project to name). */
export const WEBPUSH_PACKAGE = 'webpush';

export class PushError extends Error {}

function firebaseApp(config) {
  return getApps().find((a) => a.name === 'sipwake') || initializeApp(config, 'sipwake');
}

function base64UrlToBytes(s) {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function base64UrlEncode(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The X-MPUSH token for a standard Web Push subscription: base64url of
 * `{endpoint, keys}` (what the gateway's Web Push sender decodes).
 */
export function subscriptionToken(sub) {
  const j = typeof sub.toJSON === 'function' ? sub.toJSON() : sub;
  return base64UrlEncode(JSON.stringify({ endpoint: j.endpoint, keys: { p256dh: j.keys.p256dh, auth: j.keys.auth } }));
}

/** Registers the root service worker; the Firebase config rides in its URL (read synchronously there). */
export async function registerWorker(webconfig) {
  if (!('serviceWorker' in navigator)) throw new PushError('this browser has no service workers (is the page served over HTTPS?)');
  const url = webconfig.firebase
    ? `${WORKER_URL}?firebase=${encodeURIComponent(JSON.stringify(webconfig.firebase))}`
    : WORKER_URL;
  const reg = await navigator.serviceWorker.register(url, { scope: '/' });
  await navigator.serviceWorker.ready;
  return reg;
}

async function askPermission() {
  if (!('Notification' in window) || !('PushManager' in window)) {
    throw new PushError('this browser does not support Web Push notifications');
  }
  const perm = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
  if (perm === 'denied') {
    throw new PushError('notification permission denied: allow notifications for this site in the browser settings, then try again');
  }
  if (perm !== 'granted') throw new PushError('notification permission was not granted');
}

/**
 * Turns push on. Returns the X-MPUSH binding `{provider: 'w', package, token}`
 * and `kind` ('firebase' | 'webpush').
 */
export async function enablePush(webconfig) {
  await askPermission();
  const reg = await registerWorker(webconfig);
  if (webconfig.firebase) {
    const messaging = getMessaging(firebaseApp(webconfig.firebase));
    let token;
    try {
      token = await getToken(messaging, { vapidKey: webconfig.firebaseVapidKey || undefined, serviceWorkerRegistration: reg });
    } catch (e) {
      throw new PushError(`Firebase could not issue a push token: ${e.message || e}`);
    }
    if (!token) throw new PushError('Firebase returned no push token');
    return { kind: 'firebase', binding: { provider: 'w', package: webconfig.firebase.projectId, token } };
  }
  if (!webconfig.vapidPublicKey) {
    throw new PushError('the gateway has neither a Firebase web config nor a Web Push (VAPID) key configured');
  }
  let sub = await reg.pushManager.getSubscription();
  if (sub && !sameKey(sub, webconfig.vapidPublicKey)) {
    // Subscribed with another server key (the gateway's key changed): start over.
    await sub.unsubscribe();
    sub = null;
  }
  if (!sub) {
    try {
      sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes(webconfig.vapidPublicKey) });
    } catch (e) {
      throw new PushError(`the browser's push service refused the subscription: ${e.message || e}`);
    }
  }
  return { kind: 'webpush', binding: { provider: 'w', package: WEBPUSH_PACKAGE, token: subscriptionToken(sub) } };
}

function sameKey(sub, vapid) {
  const key = sub.options && sub.options.applicationServerKey;
  if (!key) return true;
  const a = new Uint8Array(key);
  const b = base64UrlToBytes(vapid);
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Turns push off locally (the REGISTER with X-MPUSH: null is the phone's job). */
export async function disablePush(webconfig) {
  const reg = await navigator.serviceWorker.getRegistration('/');
  if (!reg) return;
  if (webconfig.firebase) {
    try {
      await deleteToken(getMessaging(firebaseApp(webconfig.firebase)));
    } catch {
      // The token dies with the subscription below anyway.
    }
  }
  const sub = await reg.pushManager.getSubscription();
  if (sub) await sub.unsubscribe();
}

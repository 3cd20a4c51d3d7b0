// Test service worker: the no-modules build loaded with importScripts(), as a
// web phone's firebase-messaging-sw.js would. It runs every shared vector
// (and the API tests) on request and turns each push event into a Notification via parsePush().
importScripts('/pkg/no-modules/sipwake_wasm.js', '/tests/vectors.js', '/tests/api.js');

const ready = wasm_bindgen({ module_or_path: '/pkg/no-modules/sipwake_wasm_bg.wasm' });

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));

self.addEventListener('message', (e) => {
  const reply = (data) => e.ports[0].postMessage(data);
  e.waitUntil((async () => {
    try {
      await ready;
      if (e.data.cmd === 'init') return reply({ ok: true });
      if (e.data.cmd === 'run') {
        const files = await (await fetch('/vectors.json')).json();
        const results = SipwakeVectors.runVectors(wasm_bindgen, files);
        return reply({ results: results.concat(SipwakeApiTests.runApiTests(wasm_bindgen)) });
      }
      reply({ error: 'unknown command ' + e.data.cmd });
    } catch (err) {
      reply({ error: String(err && err.stack || err) });
    }
  })());
});

self.addEventListener('push', (e) => {
  e.waitUntil((async () => {
    const text = e.data ? e.data.text() : '';
    let msg;
    try {
      await ready;
      const n = wasm_bindgen.parsePush(text);
      // Show it, as docs/sdk-web.md tells a web phone to; a unique tag lets us find it again.
      const tag = 'push-' + Math.random().toString(36).slice(2);
      await self.registration.showNotification(n.title || 'Incoming call', { body: n.body || n.msg, tag, data: n });
      const shown = await self.registration.getNotifications({ tag });
      msg = { type: 'push', text, notification: n, shown: shown.length === 1 && shown[0].data.callId === n.callId };
      shown.forEach((x) => x.close());
    } catch (err) {
      msg = { type: 'push', text, error: String(err && err.message || err) };
    }
    const clients = await self.clients.matchAll({ includeUncontrolled: true, type: 'window' });
    for (const c of clients) c.postMessage(msg);
  })());
});

// The web phone page: wires the form, the Phone (JsSIP) and the push toggle.
// Push signalling (X-MPUSH/X-PIID headers or RFC 8599 contact params) is built
// by the WASM SDK served by the gateway at /sdk/.
import { Phone } from './phone.js';
import { enablePush, disablePush, registerWorker } from './push.js';

const $ = (id) => document.getElementById(id);
const STORE_KEY = 'sipwake.account';
const INSTANCE_KEY = 'sipwake.instance';
const SDK_JS = '/sdk/web/sipwake_wasm.js';
const SDK_WASM = '/sdk/web/sipwake_wasm_bg.wasm';

const state = {
  webconfig: {},
  sdk: null,
  phone: null,
  registered: false,
  push: null, // { kind, binding } while push is on
};

function showError(text) {
  const el = $('error');
  el.textContent = text;
  el.hidden = !text;
}

function setText(id, text) {
  $(id).textContent = text;
}

async function loadWebconfig() {
  try {
    const r = await fetch('/api/v1/webconfig', { cache: 'no-store' });
    if (r.ok) return await r.json();
  } catch {
    // Served by something else than the gateway: fall back to defaults.
  }
  return {};
}

async function loadSdk() {
  // A runtime URL (a variable, so the bundler leaves it alone): the gateway
  // serves the SDK build it ships with.
  const url = SDK_JS;
  const mod = await import(url);
  await mod.default({ module_or_path: SDK_WASM });
  return mod;
}

function defaultWsUrl() {
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
}

function savedAccount() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY) || 'null');
  } catch {
    return null;
  }
}

function readForm() {
  return {
    user: $('user').value.trim(),
    password: $('password').value,
    domain: $('domain').value.trim(),
    wsUrl: $('ws-url').value.trim(),
    upstream: $('upstream').value.trim(),
    pushMode: $('push-mode').value,
  };
}

function fillForm(a) {
  $('user').value = a.user || '';
  $('password').value = a.password || '';
  $('domain').value = a.domain || '';
  $('ws-url').value = a.wsUrl || '';
  $('upstream').value = a.upstream || '';
  $('push-mode').value = a.pushMode === 'rfc8599' ? 'rfc8599' : 'mpush';
}

/** Remembered so a push notification click can re-register without typing. Only while push is on. */
function remember(account) {
  if (state.push) localStorage.setItem(STORE_KEY, JSON.stringify({ ...account, push: true }));
  else localStorage.removeItem(STORE_KEY);
}

/** One stable +sip.instance per browser profile: the gateway keys push bindings by it. */
function instanceId() {
  let id = localStorage.getItem(INSTANCE_KEY);
  if (!id) {
    id = crypto.randomUUID();
    localStorage.setItem(INSTANCE_KEY, id);
  }
  return id;
}

/** The push part of the REGISTER, built by the SDK from the current binding. */
function pushSignalling(account) {
  if (!state.push || !state.sdk) return null;
  const b = state.push.binding;
  if (account.pushMode === 'rfc8599') {
    const base = `sip:${Math.random().toString(36).slice(2, 10)}@invalid.invalid;transport=ws`;
    return { headers: [], contactUri: state.sdk.contactUriWithPn(base, state.sdk.mpushToPn(b)) };
  }
  return { headers: state.sdk.registerHeaders(b, account.user, account.domain, account.password), contactUri: null };
}

function setRegistered(on) {
  state.registered = on;
  $('unregister').disabled = !state.phone;
  $('call').disabled = !on;
  $('chat-send').disabled = !on;
}

function startPhone(account) {
  if (state.phone) {
    state.phone.stop();
    state.phone = null;
  }
  let push;
  try {
    push = pushSignalling(account);
  } catch (e) {
    showError(`Push signalling could not be built: ${e.message}`);
    push = null;
  }
  const phone = new Phone({ ...account, instanceId: instanceId() }, push);
  state.phone = phone;
  setText('reg-status', `Registering ${account.user}@${account.domain}…`);
  phone.addEventListener('registration', (e) => onRegistration(phone, e.detail));
  phone.addEventListener('connection', (e) => {
    if (!e.detail.up) {
      showError(`Connection lost: ${e.detail.reason}. Retrying…`);
      setRegistered(false);
      setText('reg-status', 'Disconnected');
    } else if ($('error').textContent.startsWith('Connection lost')) {
      showError('');
    }
  });
  phone.addEventListener('call', (e) => onCall(e.detail));
  phone.addEventListener('media', (e) => setText('media-status', `Media: ${e.detail.state} (ICE ${e.detail.ice})`));
  phone.addEventListener('track', (e) => {
    $('remote-audio').srcObject = e.detail.stream;
  });
  phone.addEventListener('message', (e) => addChat(`${e.detail.from}: ${e.detail.text}`));
  setRegistered(false);
  phone.start();
}

function onRegistration(phone, d) {
  if (phone !== state.phone) return;
  if (d.state === 'registered') {
    showError('');
    setRegistered(true);
    let pushNote = '';
    if (state.push && state.sdk) {
      const caps = d.response.getHeaders('Feature-Caps');
      pushNote = state.sdk.featureCapsSupports(caps, 'webpush')
        ? ' with push'
        : ' (the gateway did not confirm web push in Feature-Caps)';
    }
    setText('reg-status', `Registered as ${phone.account.user}@${phone.account.domain}${pushNote}`);
  } else if (d.state === 'unregistered') {
    setRegistered(false);
    setText('reg-status', 'Not registered');
  } else {
    setRegistered(false);
    setText('reg-status', 'Registration failed');
    showError(`Registration failed: ${d.reason}`);
    // A wrong password will not get better by retrying.
    if (d.status === 401 || d.status === 403 || d.status === 407) {
      phone.stop();
      if (state.phone === phone) state.phone = null;
      $('unregister').disabled = true;
    }
  }
}

function onCall(d) {
  const incoming = $('incoming');
  switch (d.state) {
    case 'incoming':
      setText('incoming-text', `Incoming call from ${d.peer}`);
      incoming.hidden = false;
      $('answer').focus();
      setText('call-status', `Incoming call from ${d.peer}`);
      break;
    case 'calling':
      setText('call-status', `Calling ${d.peer}…`);
      $('hangup').disabled = false;
      break;
    case 'ringing':
      if (d.originator === 'local') setText('call-status', `Ringing ${d.peer}…`);
      break;
    case 'answered':
    case 'established':
      incoming.hidden = true;
      $('hangup').disabled = false;
      setText('call-status', `In call with ${d.peer}`);
      break;
    case 'ended':
    case 'failed':
      incoming.hidden = true;
      $('hangup').disabled = true;
      setText('call-status', d.state === 'ended' ? `Call ended (${d.reason})` : `Call failed: ${d.reason}`);
      setText('media-status', 'Media: idle');
      if (d.state === 'failed' && d.originator === 'local') showError(`Call failed: ${d.reason}`);
      if (d.state === 'failed' && /microphone/.test(d.reason)) showError(`Call failed: ${d.reason}`);
      break;
  }
}

function addChat(line) {
  const li = document.createElement('li');
  li.textContent = line;
  $('chat-log').appendChild(li);
}

async function onPushToggle() {
  const on = $('push-toggle').checked;
  $('push-toggle').disabled = true;
  try {
    if (on) {
      if (!state.sdk) throw new Error('the WASM SDK did not load, so push headers cannot be built');
      setText('push-status', 'Asking for permission…');
      state.push = await enablePush(state.webconfig);
      setText('push-status', state.push.kind === 'firebase' ? 'Push is on (Firebase Messaging)' : 'Push is on (Web Push)');
    } else {
      // Tell the gateway first (X-MPUSH: null), then drop the local subscription.
      if (state.phone && state.registered && state.sdk) {
        const a = state.phone.account;
        state.phone.ua.registrator().setExtraHeaders(state.sdk.registerHeaders({ remove: true }, a.user, a.domain, a.password));
        state.phone.ua.register();
      }
      state.push = null;
      await disablePush(state.webconfig);
      setText('push-status', 'Push is off');
    }
    showError('');
    const account = state.phone ? state.phone.account : null;
    if (account) remember(account);
    // New push data goes out with a fresh registration.
    if (on && state.phone) startPhone(state.phone.account);
  } catch (e) {
    state.push = null;
    $('push-toggle').checked = false;
    setText('push-status', 'Push is off');
    showError(`Push: ${e.message || e}`);
  } finally {
    $('push-toggle').disabled = false;
  }
}

function onSubmitAccount(ev) {
  ev.preventDefault();
  const a = readForm();
  if (!/^wss?:\/\//.test(a.wsUrl)) {
    showError('The gateway WebSocket URL must start with wss:// (or ws:// for a plain-HTTP test setup)');
    return;
  }
  showError('');
  remember(a);
  startPhone(a);
}

function onUnregister() {
  if (!state.phone) return;
  const a = state.phone.account;
  // Going offline on purpose: stop pushes too (X-MPUSH: null), as the manual's apps do.
  const final = state.push && state.sdk ? state.sdk.registerHeaders({ remove: true }, a.user, a.domain, a.password) : null;
  state.phone.stop(final);
  state.phone = null;
  setRegistered(false);
  setText('reg-status', 'Not registered');
}

/** Messages from the service worker: a push arrived while this page is open. */
function onWorkerMessage(ev) {
  const m = ev.data;
  if (!m || m.type !== 'sipwake-push' || !m.notification) return;
  const n = m.notification;
  if (n.kind === 4 && state.phone && state.registered) state.phone.ua.register();
  if ((n.kind === 0 || n.kind === 1 || n.kind === 4) && !state.phone) {
    const a = savedAccount();
    if (a) startPhone(a);
  }
}

async function main() {
  $('account').addEventListener('submit', onSubmitAccount);
  $('unregister').addEventListener('click', onUnregister);
  $('push-toggle').addEventListener('change', onPushToggle);
  $('dial').addEventListener('submit', (ev) => {
    ev.preventDefault();
    showError('');
    state.phone && state.phone.call($('target').value);
  });
  $('hangup').addEventListener('click', () => state.phone && state.phone.hangup());
  $('answer').addEventListener('click', () => state.phone && state.phone.answer());
  $('reject').addEventListener('click', () => state.phone && state.phone.reject());
  $('chat').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const to = $('chat-to').value;
    const text = $('chat-text').value;
    try {
      await state.phone.sendMessage(to, text);
      addChat(`me → ${to}: ${text}`);
      $('chat-text').value = '';
    } catch (e) {
      showError(`Message not delivered: ${e.message}`);
    }
  });
  if ('serviceWorker' in navigator) navigator.serviceWorker.addEventListener('message', onWorkerMessage);

  const [webconfig, sdk] = await Promise.all([
    loadWebconfig(),
    loadSdk().catch((e) => {
      showError(`The WASM SDK could not be loaded from ${SDK_JS} (${e.message || e}); push is unavailable.`);
      return null;
    }),
  ]);
  state.webconfig = webconfig;
  state.sdk = sdk;
  const saved = savedAccount();
  fillForm({ wsUrl: webconfig.wsUrl || defaultWsUrl(), domain: webconfig.domain || location.hostname, ...(saved || {}) });
  if (!sdk) $('push-toggle').disabled = true;

  // Opened from a push notification (or push was on before): come back with push and register.
  const wake = new URLSearchParams(location.search).get('wake');
  if (saved && saved.push && sdk && 'Notification' in window && Notification.permission === 'granted') {
    try {
      await registerWorker(webconfig);
      state.push = await enablePush(webconfig);
      $('push-toggle').checked = true;
      setText('push-status', state.push.kind === 'firebase' ? 'Push is on (Firebase Messaging)' : 'Push is on (Web Push)');
    } catch (e) {
      showError(`Push: ${e.message || e}`);
    }
    if (wake !== null) startPhone(saved);
  }
  document.body.dataset.ready = 'true';
}

main().catch((e) => showError(`The phone failed to start: ${e.message || e}`));

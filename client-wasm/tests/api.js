// SDK-specific tests beyond the shared vectors: the JS-only helpers
// (header lines, contact URI, Feature-Caps lists), argument checking, and a
// seeded random-input run proving no input makes the module trap. Runs in
// every runtime like vectors.js (classic script + CommonJS module).
(function (root) {
  'use strict';

  const V = root.SipwakeVectors || (typeof require === 'function' ? require('./vectors.js') : null);

  function eq(actual, expected) {
    const d = V.diff(actual, expected);
    if (d) throw new Error(d);
  }

  function throwsError(fn, fragment) {
    let threw = false;
    try {
      fn();
    } catch (e) {
      threw = true;
      // A Rust panic would surface as a RuntimeError (unreachable) trap.
      if (!(e instanceof Error) || e instanceof WebAssembly.RuntimeError) {
        throw new Error('threw ' + String(e) + ' instead of an Error');
      }
      if (!e.message.includes(fragment)) throw new Error('message "' + e.message + '" lacks "' + fragment + '"');
    }
    if (!threw) throw new Error('did not throw (expected "' + fragment + '")');
  }

  // Deterministic PRNG (mulberry32) so a failure reproduces.
  function rng(seed) {
    return function () {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // Strings biased towards the syntax the parsers care about.
  const ALPHABET = ['a', 'i', 'j', 'w', 's', ':', ';', '=', '<', '>', '"', '\\', '%', 'F', '0', ' ', '\r\n', '\u0000',
    '{', '}', '[', ']', ',', 'ntype', 'data', 'aps', 'pn-provider', 'pn-prid', 'fcm', '+sip.pns', '*', 'é', '\ud83d\udcde', 'null'];
  function randomString(r) {
    let s = '';
    const n = Math.floor(r() * 40);
    for (let k = 0; k < n; k++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
    return s;
  }

  const BINDING = { provider: 'w', package: 'web.app', token: 'https://fcm.googleapis.com/fcm/send/abc:def' };

  const TESTS = {
    'mpushHeader builds the manual header line': (sdk) => {
      eq(sdk.mpushHeader(BINDING), 'X-MPUSH: w:web.app:https://fcm.googleapis.com/fcm/send/abc:def');
      eq(sdk.mpushValue({ env: 'sandbox', provider: 'i', package: 'APP', token: 'TOK' }), 's:i:APP:TOK');
      eq(sdk.mpushHeader({ remove: true }), 'X-MPUSH: null');
    },
    'parseMpush output feeds mpushHeader unchanged': (sdk) => {
      const v = 'p:j:com.x:c-10:tok';
      eq(sdk.mpushHeader(sdk.parseMpush(v)), 'X-MPUSH: ' + v);
    },
    'piidHeader and registerHeaders (manual aaa/cool/xxx)': (sdk) => {
      eq(sdk.piidHeader('aaa', 'cool', 'xxx'), 'X-PIID: b7cfad8f31893933560dae61622ed255');
      eq(sdk.registerHeaders(BINDING, 'aaa', 'cool', 'xxx'),
        ['X-MPUSH: ' + sdk.mpushValue(BINDING), 'X-PIID: b7cfad8f31893933560dae61622ed255']);
      eq(sdk.registerHeaders({ remove: true }, 'aaa', 'cool', 'xxx'), ['X-MPUSH: null']);
      throwsError(() => sdk.registerHeaders(BINDING, 'aaa', undefined, 'xxx'), 'realm: expected a string');
    },
    'headers cannot be injected': (sdk) => {
      throwsError(() => sdk.mpushHeader({ provider: 'a', package: 'p', token: 'x\r\nVia: evil' }), 'invalid character');
      throwsError(() => sdk.mpushHeader({ provider: 'q', package: 'p', token: 't' }), 'X-MPUSH binding:');
    },
    'contactUriWithPn puts pn-* inside the URI and reads back': (sdk) => {
      const prid = 'https://push.example/sub?id=1;x';
      const uri = sdk.contactUriWithPn('sip:alice@abc.invalid;transport=ws', { provider: 'webpush', prid });
      if (!uri.startsWith('sip:alice@abc.invalid;transport=ws;pn-provider=webpush;pn-prid=')) throw new Error(uri);
      eq(sdk.parsePnParams(uri), { provider: 'webpush', param: null, prid, purr: null });
      const named = sdk.contactUriWithPn('"Alice" <sip:alice@h>', sdk.mpushToPn(BINDING));
      if (!/^"Alice" <sip:alice@h;pn-provider=webpush;pn-param=web.app;pn-prid=[^>]+>$/.test(named)) throw new Error(named);
      eq(sdk.pnToMpush(sdk.parsePnParams(named)), Object.assign({ remove: false, env: 'default' }, BINDING));
      throwsError(() => sdk.contactUriWithPn(uri, { provider: 'fcm', param: 'p', prid: 't' }), 'already carries');
      throwsError(() => sdk.contactUriWithPn('<sip:a@h', { provider: 'fcm' }), "'<' without a closing '>'");
      throwsError(() => sdk.contactUriWithPn('sip:a@h>', { provider: 'fcm' }), 'contact URI');
    },
    'featureCapsSupports takes one header, several, or none': (sdk) => {
      eq(sdk.featureCapsSupports('*;+sip.pns="webpush";+sip.pnsreg="120"', 'webpush'), true);
      eq(sdk.featureCapsSupports(['*;+sip.pns="apns"', '*;+sip.pns="fcm"'], 'fcm'), true);
      eq(sdk.featureCapsSupports(['*;+sip.pns="apns"'], 'fcm'), false);
      eq(sdk.featureCapsSupports(null, 'fcm'), false);
      eq(sdk.featureCapsSupports(undefined, 'fcm'), false);
      eq(sdk.featureCapsSupports([], 'fcm'), false);
      throwsError(() => sdk.featureCapsSupports('+sip.pns="fcm"', 'fcm'), 'Feature-Caps:');
      throwsError(() => sdk.featureCapsSupports([1], 'fcm'), 'array items must be strings');
    },
    'payload parsers take objects as well as JSON text': (sdk) => {
      const p = { data: { ntype: '1', nfrom: 'Bob', nmsg: 'hi' }, notification: { title: 'T', body: 'B' } };
      eq(sdk.parsePush(p), sdk.parsePush(JSON.stringify(p)));
      eq(sdk.parseWebpush(p), sdk.parsePush(p));
      eq(sdk.parseApns({ aps: { alert: 'x' }, data: { ntype: 2 } }).kindName, 'cancel');
      eq(sdk.parseFcmData(p.data).msg, 'hi');
      throwsError(() => sdk.parseFcmData({ ntype: 0 }), 'FCM data: invalid type');
    },
    'wrong argument types throw Errors': (sdk) => {
      throwsError(() => sdk.parseMpush(undefined), 'X-MPUSH value: expected a string');
      throwsError(() => sdk.parseMpush(42), 'expected a string');
      throwsError(() => sdk.computePiid('a', null, 'c'), 'realm: expected a string');
      throwsError(() => sdk.verifyPiid(7, 'a', 'b', 'c'), 'X-PIID: expected a string');
      throwsError(() => sdk.mpushHeader('a:pkg:tok'), 'expected an object');
      throwsError(() => sdk.mpushHeader(null), 'expected an object');
      throwsError(() => sdk.parsePush(42), 'expected a JSON string or an object');
      const cyclic = {};
      cyclic.self = cyclic;
      throwsError(() => sdk.parsePush(cyclic), 'cannot be converted to JSON');
      throwsError(() => sdk.formatPnParams({ param: 'x' }), 'pn params: missing field `provider`');
      throwsError(() => sdk.renderFcm({}, 'fcmPhone'), 'FCM target');
      throwsError(() => sdk.renderFcm({}, 'fcmWeb', 7), 'removeNotification');
      throwsError(() => sdk.renderFcm({}, 'fcmWeb', '1'), 'removeNotification');
      throwsError(() => sdk.pushDefaults({ apriority: 300 }), 'push fields:');
    },
    'renderFcm default removeNotification is auto': (sdk) => {
      eq(sdk.renderFcm({ kind: 0 }, 'fcmWeb'), sdk.renderFcm({ kind: 0 }, 'fcmWeb', -1));
      eq(sdk.parsePush(sdk.renderFcm({ kind: 1, from: 'Al', msg: 'yo' }, 'fcmWeb', 0)).msg, 'yo');
    },
    'oversized inputs are refused, not fatal': (sdk) => {
      throwsError(() => sdk.parsePush('x'.repeat(1 << 20)), 'too large');
      throwsError(() => sdk.parseMpush('a:p:' + 'T'.repeat(1 << 20)), 'too long');
      throwsError(() => sdk.parsePnParams('<sip:a@h;' + 'x'.repeat(1 << 20) + '>'), 'too long');
    },
    'random inputs never trap the module (2000 seeded cases)': (sdk) => {
      const r = rng(0x5eed);
      const fns = [sdk.parseMpush, sdk.parsePnParams, sdk.parseFeatureCaps, sdk.parsePush, sdk.parseApns,
        sdk.parseWebpush, (s) => sdk.verifyPiid(s, s, s, s), (s) => sdk.featureCapsSupports(s, s),
        (s) => sdk.renderTemplate(s, {}), (s) => sdk.contactUriWithPn(s, { provider: 'fcm', param: 'p', prid: s || 'x' })];
      for (let k = 0; k < 2000; k++) {
        const s = randomString(r);
        const f = fns[k % fns.length];
        try {
          f(s);
        } catch (e) {
          if (!(e instanceof Error) || e instanceof WebAssembly.RuntimeError) {
            throw new Error('input ' + JSON.stringify(s) + ' to #' + (k % fns.length) + ' trapped: ' + e);
          }
        }
      }
      // Still healthy afterwards.
      eq(sdk.computePiid('aaa', 'cool', 'xxx'), 'b7cfad8f31893933560dae61622ed255');
    },
    'version is the crate version': (sdk) => {
      if (!/^\d+\.\d+\.\d+/.test(sdk.version())) throw new Error(sdk.version());
    },
  };

  function runApiTests(sdk) {
    return Object.keys(TESTS).map((name) => {
      try {
        TESTS[name](sdk);
        return { file: 'api.js', fn: 'api', name, ok: true, detail: '' };
      } catch (e) {
        return { file: 'api.js', fn: 'api', name, ok: false, detail: String(e && e.message || e) };
      }
    });
  }

  const api = { runApiTests };
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.SipwakeApiTests = api;
})(typeof globalThis !== 'undefined' ? globalThis : this);

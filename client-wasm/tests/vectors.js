// Runs the shared tests/vectors/*.json files against the WASM SDK. One source
// for every runtime: a classic script (page, importScripts() in a service
// worker) that is also a CommonJS module (Node). No dependencies.
//
// A vector file is { function, cases: [{ name, input, output } | { name, input, error }] }
// (docs/core-api.md, tests/vectors/README.md). A case passes when the SDK call
// returns a value deep-equal to `output`, or throws a JS Error whose message
// contains `error`. Unknown functions and malformed cases are failures.
(function (root) {
  'use strict';

  // Raised for problems of the vector file itself (missing argument, unknown
  // function): such a case always fails, even if it expected an error.
  class HarnessError extends Error {}

  function arg(input, name) {
    if (input === null || typeof input !== 'object' || !(name in input)) {
      throw new HarnessError('vector input lacks argument "' + name + '"');
    }
    return input[name];
  }

  // Vector function name -> how to call the SDK with the case's named inputs.
  // Filled per the argument names documented in tests/vectors/README.md.
  const CALLS = {
    parse_mpush: (sdk, i) => sdk.parseMpush(arg(i, 'value')),
    format_mpush: (sdk, i) => sdk.mpushValue(arg(i, 'binding')),
    compute_piid: (sdk, i) => sdk.computePiid(arg(i, 'username'), arg(i, 'realm'), arg(i, 'password')),
    verify_piid: (sdk, i) =>
      sdk.verifyPiid(arg(i, 'piid'), arg(i, 'username'), arg(i, 'realm'), arg(i, 'password')),
    parse_pn_params: (sdk, i) => sdk.parsePnParams(arg(i, 'contact')),
    format_pn_params: (sdk, i) => sdk.formatPnParams(arg(i, 'params')),
    pn_to_mpush: (sdk, i) => sdk.pnToMpush(arg(i, 'params')),
    mpush_to_pn: (sdk, i) => sdk.mpushToPn(arg(i, 'binding')),
    parse_feature_caps: (sdk, i) => sdk.parseFeatureCaps(arg(i, 'value')),
    format_feature_caps: (sdk, i) => sdk.formatFeatureCaps(arg(i, 'caps')),
    push_defaults: (sdk, i) => sdk.pushDefaults(arg(i, 'fields')),
    // "@fcm" / "@apns" name the built-in templates (tests/vectors/README.md).
    render_template: (sdk, i) => {
      const t = arg(i, 'template');
      const text = t === '@fcm' ? sdk.defaultFcmTemplate() : t === '@apns' ? sdk.defaultApnsTemplate() : t;
      return sdk.renderTemplate(text, arg(i, 'fields'));
    },
    render_fcm: (sdk, i) => sdk.renderFcm(arg(i, 'fields'), arg(i, 'target'), arg(i, 'removeNotification')),
    render_apns: (sdk, i) => sdk.renderApns(arg(i, 'fields')),
    parse_fcm_data: (sdk, i) => sdk.parseFcmData(arg(i, 'data')),
    parse_apns: (sdk, i) => sdk.parseApns(arg(i, 'json')),
    parse_webpush: (sdk, i) => sdk.parseWebpush(arg(i, 'json')),
    parse_push: (sdk, i) => sdk.parsePush(arg(i, 'json')),
  };


  function isObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  }

  // Structural JSON equality; returns null when equal, else the first difference.
  function diff(actual, expected, where) {
    where = where || '$';
    if (Array.isArray(expected)) {
      if (!Array.isArray(actual)) return where + ': expected an array, got ' + show(actual);
      if (actual.length !== expected.length) {
        return where + ': expected ' + expected.length + ' items, got ' + actual.length;
      }
      for (let i = 0; i < expected.length; i++) {
        const d = diff(actual[i], expected[i], where + '[' + i + ']');
        if (d) return d;
      }
      return null;
    }
    if (isObject(expected)) {
      if (!isObject(actual)) return where + ': expected an object, got ' + show(actual);
      const ek = Object.keys(expected).sort();
      const ak = Object.keys(actual).sort();
      for (const k of ak) if (!(k in expected)) return where + ': unexpected key "' + k + '"';
      for (const k of ek) {
        if (!(k in actual)) return where + ': missing key "' + k + '"';
        const d = diff(actual[k], expected[k], where + '.' + k);
        if (d) return d;
      }
      return null;
    }
    return Object.is(actual, expected) || (actual === 0 && expected === 0)
      ? null
      : where + ': expected ' + show(expected) + ', got ' + show(actual);
  }

  function show(v) {
    if (v === undefined) return 'undefined';
    try {
      const s = JSON.stringify(v);
      return s.length > 200 ? s.slice(0, 200) + '…' : s;
    } catch (_) {
      return String(v);
    }
  }

  // Judges one outcome of a case: { value } or { thrown }. Returns null or why it failed.
  function judge(kase, outcome) {
    const hasOut = 'output' in kase;
    const hasErr = 'error' in kase;
    if (hasOut === hasErr) return 'case must have exactly one of "output" and "error"';
    if ('thrown' in outcome) {
      const e = outcome.thrown;
      if (e instanceof HarnessError) return e.message;
      if (hasOut) return 'threw ' + (e && e.message !== undefined ? e.message : show(e));
      if (!(e instanceof Error)) return 'threw a non-Error ' + show(e);
      if (typeof kase.error !== 'string') return '"error" must be a string';
      return e.message.includes(kase.error)
        ? null
        : 'error ' + show(e.message) + ' does not contain ' + show(kase.error);
    }
    if (hasErr) return 'expected an error containing ' + show(kase.error) + ', got ' + show(outcome.value);
    return diff(outcome.value, kase.output);
  }

  function call(sdk, fn, input) {
    const f = CALLS[fn];
    if (!f) throw new HarnessError('unknown vector function "' + fn + '"');
    return f(sdk, input);
  }

  // files: [{ file, data }]; returns [{ file, fn, name, ok, detail }].
  function runVectors(sdk, files) {
    const results = [];
    if (!Array.isArray(files) || files.length === 0) {
      return [{ file: '-', fn: '-', name: 'vector files', ok: false, detail: 'no vector files found' }];
    }
    for (const { file, data } of files) {
      const fn = data && data.function;
      const cases = data && data.cases;
      if (typeof fn !== 'string' || !Array.isArray(cases) || cases.length === 0) {
        results.push({ file, fn: String(fn), name: '(file)', ok: false, detail: 'needs "function" and non-empty "cases"' });
        continue;
      }
      cases.forEach((kase, i) => {
        const name = (kase && kase.name) || '#' + i;
        let outcome;
        try {
          outcome = { value: call(sdk, fn, kase.input) };
        } catch (e) {
          outcome = { thrown: e };
        }
        const detail = judge(kase, outcome);
        results.push({ file, fn, name, ok: detail === null, detail: detail || '' });
      });
    }
    return results;
  }

  const api = { runVectors, judge, diff, HarnessError, CALLS };
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.SipwakeVectors = api;
})(typeof globalThis !== 'undefined' ? globalThis : this);

let wasm_bindgen = (function(exports) {
    let script_src;
    if (typeof document !== 'undefined' && document.currentScript !== null) {
        script_src = new URL(document.currentScript.src, location.href).toString();
    }

    /**
     * Lowercase hex `md5(username ":" realm ":" password)`.
     * @param {string} username
     * @param {string} realm
     * @param {string} password
     * @returns {string}
     */
    function computePiid(username, realm, password) {
        let deferred2_0;
        let deferred2_1;
        try {
            const ret = wasm.computePiid(username, realm, password);
            var ptr1 = ret[0];
            var len1 = ret[1];
            if (ret[3]) {
                ptr1 = 0; len1 = 0;
                throw takeFromExternrefTable0(ret[2]);
            }
            deferred2_0 = ptr1;
            deferred2_1 = len1;
            return getStringFromWasm0(ptr1, len1);
        } finally {
            wasm.__wbindgen_free(deferred2_0, deferred2_1, 1);
        }
    }
    exports.computePiid = computePiid;

    /**
     * `uri` with the push parameters added, for JsSIP's `contact_uri` setting.
     * @param {string} uri
     * @param {PnParamsInput} params
     * @returns {string}
     */
    function contactUriWithPn(uri, params) {
        let deferred2_0;
        let deferred2_1;
        try {
            const ret = wasm.contactUriWithPn(uri, params);
            var ptr1 = ret[0];
            var len1 = ret[1];
            if (ret[3]) {
                ptr1 = 0; len1 = 0;
                throw takeFromExternrefTable0(ret[2]);
            }
            deferred2_0 = ptr1;
            deferred2_1 = len1;
            return getStringFromWasm0(ptr1, len1);
        } finally {
            wasm.__wbindgen_free(deferred2_0, deferred2_1, 1);
        }
    }
    exports.contactUriWithPn = contactUriWithPn;

    /**
     * The built-in APNs template text (the manual's `pushkitmessage.txt` structure).
     * @returns {string}
     */
    function defaultApnsTemplate() {
        let deferred1_0;
        let deferred1_1;
        try {
            const ret = wasm.defaultApnsTemplate();
            deferred1_0 = ret[0];
            deferred1_1 = ret[1];
            return getStringFromWasm0(ret[0], ret[1]);
        } finally {
            wasm.__wbindgen_free(deferred1_0, deferred1_1, 1);
        }
    }
    exports.defaultApnsTemplate = defaultApnsTemplate;

    /**
     * The built-in FCM template text (the manual's `fcmmessage.txt` structure).
     * @returns {string}
     */
    function defaultFcmTemplate() {
        let deferred1_0;
        let deferred1_1;
        try {
            const ret = wasm.defaultFcmTemplate();
            deferred1_0 = ret[0];
            deferred1_1 = ret[1];
            return getStringFromWasm0(ret[0], ret[1]);
        } finally {
            wasm.__wbindgen_free(deferred1_0, deferred1_1, 1);
        }
    }
    exports.defaultFcmTemplate = defaultFcmTemplate;

    /**
     * The check after a REGISTER 200 OK: pass the response's Feature-Caps
     * header(s) (JsSIP: `response.getHeaders('Feature-Caps')`) and the RFC 8599
     * provider name. No header at all (`null`, `undefined`, `[]`) means `false`.
     * @param {string | string[] | null | undefined} header_value
     * @param {string} provider
     * @returns {boolean}
     */
    function featureCapsSupports(header_value, provider) {
        const ret = wasm.featureCapsSupports(header_value, provider);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return ret[0] !== 0;
    }
    exports.featureCapsSupports = featureCapsSupports;

    /**
     * The header value, e.g. `*;+sip.pns="fcm";+sip.pnsreg="120"`.
     * @param {FeatureCapsInput} caps
     * @returns {string}
     */
    function formatFeatureCaps(caps) {
        let deferred2_0;
        let deferred2_1;
        try {
            const ret = wasm.formatFeatureCaps(caps);
            var ptr1 = ret[0];
            var len1 = ret[1];
            if (ret[3]) {
                ptr1 = 0; len1 = 0;
                throw takeFromExternrefTable0(ret[2]);
            }
            deferred2_0 = ptr1;
            deferred2_1 = len1;
            return getStringFromWasm0(ptr1, len1);
        } finally {
            wasm.__wbindgen_free(deferred2_0, deferred2_1, 1);
        }
    }
    exports.formatFeatureCaps = formatFeatureCaps;

    /**
     * URI parameters `;pn-provider=…;pn-param=…;pn-prid=…[;pn-purr=…]`, %-escaped.
     * @param {PnParamsInput} params
     * @returns {string}
     */
    function formatPnParams(params) {
        let deferred2_0;
        let deferred2_1;
        try {
            const ret = wasm.formatPnParams(params);
            var ptr1 = ret[0];
            var len1 = ret[1];
            if (ret[3]) {
                ptr1 = 0; len1 = 0;
                throw takeFromExternrefTable0(ret[2]);
            }
            deferred2_0 = ptr1;
            deferred2_1 = len1;
            return getStringFromWasm0(ptr1, len1);
        } finally {
            wasm.__wbindgen_free(deferred2_0, deferred2_1, 1);
        }
    }
    exports.formatPnParams = formatPnParams;

    /**
     * The whole header line, e.g. `X-MPUSH: a:com.pkg:token`, ready for
     * JsSIP's `registrator().setExtraHeaders()` or SIP.js `extraHeaders`.
     * @param {MpushBindingInput | MpushParsed} binding
     * @returns {string}
     */
    function mpushHeader(binding) {
        let deferred2_0;
        let deferred2_1;
        try {
            const ret = wasm.mpushHeader(binding);
            var ptr1 = ret[0];
            var len1 = ret[1];
            if (ret[3]) {
                ptr1 = 0; len1 = 0;
                throw takeFromExternrefTable0(ret[2]);
            }
            deferred2_0 = ptr1;
            deferred2_1 = len1;
            return getStringFromWasm0(ptr1, len1);
        } finally {
            wasm.__wbindgen_free(deferred2_0, deferred2_1, 1);
        }
    }
    exports.mpushHeader = mpushHeader;

    /**
     * The RFC 8599 equivalent of an `X-MPUSH` binding (a,j→fcm, i→apns, w→webpush).
     * @param {MpushBindingInput | MpushParsed} binding
     * @returns {PnParams}
     */
    function mpushToPn(binding) {
        const ret = wasm.mpushToPn(binding);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    exports.mpushToPn = mpushToPn;

    /**
     * The `X-MPUSH` header value of a binding, e.g. `s:i:com.pkg:token`.
     * @param {MpushBindingInput | MpushParsed} binding
     * @returns {string}
     */
    function mpushValue(binding) {
        let deferred2_0;
        let deferred2_1;
        try {
            const ret = wasm.mpushValue(binding);
            var ptr1 = ret[0];
            var len1 = ret[1];
            if (ret[3]) {
                ptr1 = 0; len1 = 0;
                throw takeFromExternrefTable0(ret[2]);
            }
            deferred2_0 = ptr1;
            deferred2_1 = len1;
            return getStringFromWasm0(ptr1, len1);
        } finally {
            wasm.__wbindgen_free(deferred2_0, deferred2_1, 1);
        }
    }
    exports.mpushValue = mpushValue;

    /**
     * An APNs / PushKit payload (`{"aps":…,"data":…}`).
     * @param {string | object} payload
     * @returns {Notification}
     */
    function parseApns(payload) {
        const ret = wasm.parseApns(payload);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    exports.parseApns = parseApns;

    /**
     * An FCM data map (`{ntype: "0", nfrom: "…"}`, string values only).
     * @param {Record<string, string> | string} data
     * @returns {Notification}
     */
    function parseFcmData(data) {
        const ret = wasm.parseFcmData(data);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    exports.parseFcmData = parseFcmData;

    /**
     * Parse a `Feature-Caps` value (`Feature-Caps:`/`fc:` prefix allowed;
     * comma-separated values are merged).
     * @param {string} value
     * @returns {FeatureCaps}
     */
    function parseFeatureCaps(value) {
        const ret = wasm.parseFeatureCaps(value);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    exports.parseFeatureCaps = parseFeatureCaps;

    /**
     * Parse an `X-MPUSH` header value: `{remove: true}` for `null`, else
     * `{remove: false, env, provider, package, token}`.
     * @param {string} value
     * @returns {MpushParsed}
     */
    function parseMpush(value) {
        const ret = wasm.parseMpush(value);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    exports.parseMpush = parseMpush;

    /**
     * Read `pn-*` (or a legacy spelling) from a Contact URI or name-addr;
     * `null` when there are none.
     * @param {string} contact_uri
     * @returns {PnParams | null}
     */
    function parsePnParams(contact_uri) {
        const ret = wasm.parsePnParams(contact_uri);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    exports.parsePnParams = parsePnParams;

    /**
     * Any payload shape, detected: APNs (`aps`), FCM web (`data` + `notification`),
     * a whole FCM v1 `{"message":…}`, `{"data":…}` or flat. Accepts the JSON
     * text (`event.data.text()`) or the object (`event.data.json()`, Firebase's
     * `onBackgroundMessage` payload).
     * @param {string | object} payload
     * @returns {Notification}
     */
    function parsePush(payload) {
        const ret = wasm.parsePush(payload);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    exports.parsePush = parsePush;

    /**
     * A Web Push payload: flat, `{"data":…}` or FCM's web shape.
     * @param {string | object} payload
     * @returns {Notification}
     */
    function parseWebpush(payload) {
        const ret = wasm.parseWebpush(payload);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    exports.parseWebpush = parseWebpush;

    /**
     * The whole header line, e.g. `X-PIID: 0123…`.
     * @param {string} username
     * @param {string} realm
     * @param {string} password
     * @returns {string}
     */
    function piidHeader(username, realm, password) {
        let deferred2_0;
        let deferred2_1;
        try {
            const ret = wasm.piidHeader(username, realm, password);
            var ptr1 = ret[0];
            var len1 = ret[1];
            if (ret[3]) {
                ptr1 = 0; len1 = 0;
                throw takeFromExternrefTable0(ret[2]);
            }
            deferred2_0 = ptr1;
            deferred2_1 = len1;
            return getStringFromWasm0(ptr1, len1);
        } finally {
            wasm.__wbindgen_free(deferred2_0, deferred2_1, 1);
        }
    }
    exports.piidHeader = piidHeader;

    /**
     * The `X-MPUSH` equivalent (apns→i, fcm→a, webpush→w; `pn-prid=null` → remove).
     * @param {PnParamsInput} params
     * @returns {MpushParsed}
     */
    function pnToMpush(params) {
        const ret = wasm.pnToMpush(params);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    exports.pnToMpush = pnToMpush;

    /**
     * The fields with the manual's defaults filled in (priorities, push type,
     * "Call from …" texts), every key present.
     * @param {PushFieldsInput} fields
     * @returns {PushFields}
     */
    function pushDefaults(fields) {
        const ret = wasm.pushDefaults(fields);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    exports.pushDefaults = pushDefaults;

    /**
     * The header lines to add to REGISTER, e.g. for JsSIP:
     * `ua.registrator().setExtraHeaders(registerHeaders(binding, user, realm, password))`.
     * @param {MpushBindingInput | MpushParsed} binding
     * @param {string} username
     * @param {string} realm
     * @param {string} password
     * @returns {string[]}
     */
    function registerHeaders(binding, username, realm, password) {
        const ret = wasm.registerHeaders(binding, username, realm, password);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    exports.registerHeaders = registerHeaders;

    /**
     * The default APNs / PushKit message for these fields (defaults filled).
     * @param {PushFieldsInput} fields
     * @returns {Record<string, unknown>}
     */
    function renderApns(fields) {
        const ret = wasm.renderApns(fields);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    exports.renderApns = renderApns;

    /**
     * The default FCM HTTP v1 request (`{"message": …}`) for these fields
     * (defaults filled), pruned for `target`; `removeNotification` is the
     * manual's `fcm_removenotification` (-1 auto, 0 keep, 1 for calls, 2 always).
     * @param {PushFieldsInput} fields
     * @param {FcmTarget} target
     * @param {number | undefined} remove_notification
     * @returns {Record<string, unknown>}
     */
    function renderFcm(fields, target, remove_notification) {
        const ret = wasm.renderFcm(fields, target, remove_notification);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    exports.renderFcm = renderFcm;

    /**
     * Render a template (cut at `--EOF`, keywords substituted with JSON
     * escaping). Fields are used as given: call `pushDefaults` first if wanted.
     * @param {string} template
     * @param {PushFieldsInput} fields
     * @returns {unknown}
     */
    function renderTemplate(template, fields) {
        const ret = wasm.renderTemplate(template, fields);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    exports.renderTemplate = renderTemplate;

    /**
     * Whether `piid` belongs to these credentials (constant time, hex case ignored).
     * @param {string} piid
     * @param {string} username
     * @param {string} realm
     * @param {string} password
     * @returns {boolean}
     */
    function verifyPiid(piid, username, realm, password) {
        const ret = wasm.verifyPiid(piid, username, realm, password);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return ret[0] !== 0;
    }
    exports.verifyPiid = verifyPiid;

    /**
     * The SDK version (the crate version).
     * @returns {string}
     */
    function version() {
        let deferred1_0;
        let deferred1_1;
        try {
            const ret = wasm.version();
            deferred1_0 = ret[0];
            deferred1_1 = ret[1];
            return getStringFromWasm0(ret[0], ret[1]);
        } finally {
            wasm.__wbindgen_free(deferred1_0, deferred1_1, 1);
        }
    }
    exports.version = version;
    function __wbg_get_imports() {
        const import0 = {
            __proto__: null,
            __wbg_Error_208446807d0d1e30: function(arg0, arg1) {
                const ret = Error(getStringFromWasm0(arg0, arg1));
                return ret;
            },
            __wbg___wbindgen_is_null_c22311b1cc228e3a: function(arg0) {
                const ret = arg0 === null;
                return ret;
            },
            __wbg___wbindgen_is_object_8b968c3ab8e96595: function(arg0) {
                const val = arg0;
                const ret = typeof(val) === 'object' && val !== null;
                return ret;
            },
            __wbg___wbindgen_is_undefined_be5b34249ff1fc15: function(arg0) {
                const ret = arg0 === undefined;
                return ret;
            },
            __wbg___wbindgen_number_get_934b640d0889af78: function(arg0, arg1) {
                const obj = arg1;
                const ret = typeof(obj) === 'number' ? obj : undefined;
                getDataViewMemory0().setFloat64((arg0 >>> 0) + 8 * 1, isLikeNone(ret) ? 0 : ret, true);
                getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, !isLikeNone(ret), true);
            },
            __wbg___wbindgen_string_get_7ce8eee7fd327545: function(arg0, arg1) {
                const obj = arg1;
                const ret = typeof(obj) === 'string' ? obj : undefined;
                var ptr1 = isLikeNone(ret) ? 0 : passStringToWasm0(ret, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
                var len1 = WASM_VECTOR_LEN;
                getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 1, len1, true);
                getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, ptr1, true);
            },
            __wbg___wbindgen_throw_4c88d8bf264fd984: function(arg0, arg1) {
                throw new Error(getStringFromWasm0(arg0, arg1));
            },
            __wbg_from_eac91875c8a5ffa4: function(arg0) {
                const ret = Array.from(arg0);
                return ret;
            },
            __wbg_get_unchecked_e6325ad374eff861: function(arg0, arg1) {
                const ret = arg0[arg1 >>> 0];
                return ret;
            },
            __wbg_isArray_bcf1376d0d732d08: function(arg0) {
                const ret = Array.isArray(arg0);
                return ret;
            },
            __wbg_length_b03a0fabb109b1e9: function(arg0) {
                const ret = arg0.length;
                return ret;
            },
            __wbg_parse_c3f72b5a24f83c01: function() { return handleError(function (arg0, arg1) {
                const ret = JSON.parse(getStringFromWasm0(arg0, arg1));
                return ret;
            }, arguments); },
            __wbg_stringify_0a0fbf2ef722380a: function() { return handleError(function (arg0) {
                const ret = JSON.stringify(arg0);
                return ret;
            }, arguments); },
            __wbindgen_init_externref_table: function() {
                const table = wasm.__wbindgen_externrefs;
                table.set(0, undefined);
                table.set(1024, undefined);
                table.set(1025, null);
                table.set(1026, true);
                table.set(1027, false);
            },
        };
        return {
            __proto__: null,
            "./sipwake_wasm_bg.js": import0,
        };
    }

    function addToExternrefTable0(obj) {
        const idx = wasm.__externref_table_alloc();
        wasm.__wbindgen_externrefs.set(idx, obj);
        return idx;
    }

    let cachedDataViewMemory0 = null;
    function getDataViewMemory0() {
        if (cachedDataViewMemory0 === null || cachedDataViewMemory0.buffer.detached === true || (cachedDataViewMemory0.buffer.detached === undefined && cachedDataViewMemory0.buffer !== wasm.memory.buffer)) {
            cachedDataViewMemory0 = new DataView(wasm.memory.buffer);
        }
        return cachedDataViewMemory0;
    }

    function getStringFromWasm0(ptr, len) {
        ptr = ptr >>> 0;
        return decodeText(getUint8ArrayMemory0().subarray(ptr, ptr + len));
    }

    let cachedUint8ArrayMemory0 = null;
    function getUint8ArrayMemory0() {
        if (cachedUint8ArrayMemory0 === null || cachedUint8ArrayMemory0.byteLength === 0) {
            cachedUint8ArrayMemory0 = new Uint8Array(wasm.memory.buffer);
        }
        return cachedUint8ArrayMemory0;
    }

    function handleError(f, args) {
        try {
            return f.apply(this, args);
        } catch (e) {
            const idx = addToExternrefTable0(e);
            wasm.__wbindgen_exn_store(idx);
        }
    }

    function isLikeNone(x) {
        return x === undefined || x === null;
    }

    function passStringToWasm0(arg, malloc, realloc) {
        if (realloc === undefined) {
            const buf = cachedTextEncoder.encode(arg);
            const ptr = malloc(buf.length, 1) >>> 0;
            getUint8ArrayMemory0().subarray(ptr, ptr + buf.length).set(buf);
            WASM_VECTOR_LEN = buf.length;
            return ptr;
        }

        let len = arg.length;
        let ptr = malloc(len, 1) >>> 0;

        const mem = getUint8ArrayMemory0();

        let offset = 0;

        for (; offset < len; offset++) {
            const code = arg.charCodeAt(offset);
            if (code > 0x7F) break;
            mem[ptr + offset] = code;
        }
        if (offset !== len) {
            if (offset !== 0) {
                arg = arg.slice(offset);
            }
            ptr = realloc(ptr, len, len = offset + arg.length * 3, 1) >>> 0;
            const view = getUint8ArrayMemory0().subarray(ptr + offset, ptr + len);
            const ret = cachedTextEncoder.encodeInto(arg, view);

            offset += ret.written;
            ptr = realloc(ptr, len, offset, 1) >>> 0;
        }

        WASM_VECTOR_LEN = offset;
        return ptr;
    }

    function takeFromExternrefTable0(idx) {
        const value = wasm.__wbindgen_externrefs.get(idx);
        wasm.__externref_table_dealloc(idx);
        return value;
    }

    let cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
    cachedTextDecoder.decode();
    function decodeText(bytes) {
        return cachedTextDecoder.decode(bytes);
    }

    const cachedTextEncoder = new TextEncoder();

    if (!('encodeInto' in cachedTextEncoder)) {
        cachedTextEncoder.encodeInto = function (arg, view) {
            const buf = cachedTextEncoder.encode(arg);
            view.set(buf);
            return {
                read: arg.length,
                written: buf.length
            };
        };
    }

    let WASM_VECTOR_LEN = 0;

    let wasmModule, wasmInstance, wasm;
    function __wbg_finalize_init(instance, module) {
        wasmInstance = instance;
        wasm = instance.exports;
        wasmModule = module;
        cachedDataViewMemory0 = null;
        cachedUint8ArrayMemory0 = null;
        wasm.__wbindgen_start();
        return wasm;
    }

    async function __wbg_load(module, imports) {
        if (typeof Response === 'function' && module instanceof Response) {
            if (!module.ok) {
                throw new Error(`failed to fetch Wasm: ${module.status} ${module.statusText} fetching '${module.url}'`);
            }

            if (typeof WebAssembly.instantiateStreaming === 'function') {
                try {
                    return await WebAssembly.instantiateStreaming(module, imports);
                } catch (e) {
                    const validResponse = expectedResponseType(module.type);

                    if (validResponse && module.headers.get('Content-Type') !== 'application/wasm') {
                        console.warn("`WebAssembly.instantiateStreaming` failed because your server does not serve Wasm with `application/wasm` MIME type. Falling back to `WebAssembly.instantiate` which is slower. Original error:\n", e);

                    } else { throw e; }
                }
            }

            const bytes = await module.arrayBuffer();
            return await WebAssembly.instantiate(bytes, imports);
        } else {
            const instance = await WebAssembly.instantiate(module, imports);

            if (instance instanceof WebAssembly.Instance) {
                return { instance, module };
            } else {
                return instance;
            }
        }

        function expectedResponseType(type) {
            switch (type) {
                case 'basic': case 'cors': case 'default': return true;
            }
            return false;
        }
    }

    function initSync(module) {
        if (wasm !== undefined) return wasm;


        if (module !== undefined) {
            if (Object.getPrototypeOf(module) === Object.prototype) {
                ({module} = module)
            } else {
                console.warn('using deprecated parameters for `initSync()`; pass a single object instead')
            }
        }

        const imports = __wbg_get_imports();
        if (!(module instanceof WebAssembly.Module)) {
            module = new WebAssembly.Module(module);
        }
        const instance = new WebAssembly.Instance(module, imports);
        return __wbg_finalize_init(instance, module);
    }

    let __wbg_init_promise;
    async function __wbg_init(module_or_path) {
        if (wasm !== undefined) return wasm;
        if (__wbg_init_promise === undefined) {
            __wbg_init_promise = __wbg_init_once(module_or_path);
            __wbg_init_promise.catch(() => { __wbg_init_promise = undefined; });
        }
        return __wbg_init_promise;
    }

    async function __wbg_init_once(module_or_path) {

        if (module_or_path !== undefined) {
            if (Object.getPrototypeOf(module_or_path) === Object.prototype) {
                ({module_or_path} = module_or_path)
            } else {
                console.warn('using deprecated parameters for the initialization function; pass a single object instead')
            }
        }

        if (module_or_path === undefined && script_src !== undefined) {
            module_or_path = script_src.replace(/\.js$/, "_bg.wasm");
        }
        const imports = __wbg_get_imports();

        if (typeof module_or_path === 'string' || (typeof Request === 'function' && module_or_path instanceof Request) || (typeof URL === 'function' && module_or_path instanceof URL)) {
            module_or_path = fetch(module_or_path);
        }

        const { instance, module } = await __wbg_load(await module_or_path, imports);

        return __wbg_finalize_init(instance, module);
    }

    return Object.assign(__wbg_init, { initSync }, exports);
})({ __proto__: null });

/* tslint:disable */
/* eslint-disable */

/** X-MPUSH env: header letter `d` (or absent), `s`, `p`. */
export type PushEnv = "default" | "sandbox" | "production";
/** X-MPUSH provider letter: Android FCM, APNs/PushKit, iOS FCM, Web Push. */
export type MpushProvider = "a" | "i" | "j" | "w";

/** A binding to build an X-MPUSH header from; `env` defaults to "default". */
export interface MpushBindingInput {
    env?: PushEnv;
    provider: MpushProvider;
    package: string;
    token: string;
}

/** A parsed X-MPUSH binding. */
export interface MpushBind {
    remove: false;
    env: PushEnv;
    provider: MpushProvider;
    package: string;
    token: string;
}

/** A parsed `X-MPUSH: null`: remove the push binding. */
export interface MpushRemove {
    remove: true;
}

/** What `parseMpush` / `pnToMpush` return. */
export type MpushParsed = MpushBind | MpushRemove;

/** RFC 8599 `pn-provider`: a known service or any other name (lowercased). */
export type PnProviderName = "apns" | "fcm" | "webpush" | (string & {});

/** RFC 8599 Contact URI parameters; absent values are null.
 *  As input, missing keys mean null. `prid: "null"` removes the binding;
 *  no `prid` is a capability query. */
export interface PnParams {
    provider: PnProviderName;
    param: string | null;
    prid: string | null;
    purr: string | null;
}

/** Input form of `PnParams`: optional keys may be left out. */
export interface PnParamsInput {
    provider: PnProviderName;
    param?: string | null;
    prid?: string | null;
    purr?: string | null;
}

/** RFC 6809 Feature-Caps push indicators (RFC 8599 section 6). */
export interface FeatureCaps {
    /** `+sip.pns`: the push services the registrar supports, e.g. ["fcm"]. */
    pns: string[];
    /** `+sip.pnsreg` present: send binding-refresh REGISTERs. */
    pnsreg: boolean;
    /** `+sip.pnsreg` value: refresh this many seconds before expiry (null when valueless). */
    pnsregSeconds: number | null;
    /** `+sip.pnspurr`: the push-resource id to put into `pn-purr`. */
    pnspurr: string | null;
}

/** Input form of `FeatureCaps`: missing keys take empty/false/null. */
export interface FeatureCapsInput {
    pns?: string[];
    pnsreg?: boolean;
    pnsregSeconds?: number | null;
    pnspurr?: string | null;
}

/** The manual's `ntype` as a name. */
export type NotificationKindName = "call" | "chat" | "cancel" | "custom" | "registerRefresh" | "other";

/** A received push, whatever provider carried it. Missing strings are "". */
export interface Notification {
    /** `ntype`: 0 call, 1 chat, 2 cancel, 3 custom, 4 register refresh, other numbers kept. */
    kind: number;
    kindName: NotificationKindName;
    /** `nfrom`: caller / sender full name. */
    from: string;
    /** `nfromusername`: caller / sender username. */
    fromUsername: string;
    /** `nfromdisplayname`. */
    fromDisplay: string;
    /** `nmsg`: chat text. */
    msg: string;
    /** `ncallid`: SIP Call-ID. */
    callId: string;
    /** `ntousr`: the called user. */
    toUser: string;
    title: string;
    body: string;
    sound: string;
}

/** The values substituted for a template's keywords (PACKAGE, TOKEN, TO, …). */
export interface PushFields {
    package: string;
    token: string;
    to: string;
    toUsername: string;
    /** TYPE: the ntype number. */
    kind: number;
    from: string;
    fromUsername: string;
    fromDisplay: string;
    callId: string;
    priority: string;
    npriority: string;
    /** APNs priority, 0-255 (0 = default). */
    apriority: number;
    /** TTLNUM, seconds. */
    ttl: number;
    pushType: string;
    sound: string;
    msg: string;
    message: string;
    title: string;
    body: string;
}

/** Input form of `PushFields`: any key may be left out (empty / 0). */
export type PushFieldsInput = Partial<PushFields>;

/** Which FCM platform section a rendered message keeps. */
export type FcmTarget = "fcmAndroid" | "fcmIos" | "fcmWeb" | "apns";



/**
 * Lowercase hex `md5(username ":" realm ":" password)`.
 */
export function computePiid(username: string, realm: string, password: string): string;

/**
 * `uri` with the push parameters added, for JsSIP's `contact_uri` setting.
 */
export function contactUriWithPn(uri: string, params: PnParamsInput): string;

/**
 * The built-in APNs template text (the manual's `pushkitmessage.txt` structure).
 */
export function defaultApnsTemplate(): string;

/**
 * The built-in FCM template text (the manual's `fcmmessage.txt` structure).
 */
export function defaultFcmTemplate(): string;

/**
 * The check after a REGISTER 200 OK: pass the response's Feature-Caps
 * header(s) (JsSIP: `response.getHeaders('Feature-Caps')`) and the RFC 8599
 * provider name. No header at all (`null`, `undefined`, `[]`) means `false`.
 */
export function featureCapsSupports(header_value: string | string[] | null | undefined, provider: string): boolean;

/**
 * The header value, e.g. `*;+sip.pns="fcm";+sip.pnsreg="120"`.
 */
export function formatFeatureCaps(caps: FeatureCapsInput): string;

/**
 * URI parameters `;pn-provider=…;pn-param=…;pn-prid=…[;pn-purr=…]`, %-escaped.
 */
export function formatPnParams(params: PnParamsInput): string;

/**
 * The whole header line, e.g. `X-MPUSH: a:com.pkg:token`, ready for
 * JsSIP's `registrator().setExtraHeaders()` or SIP.js `extraHeaders`.
 */
export function mpushHeader(binding: MpushBindingInput | MpushParsed): string;

/**
 * The RFC 8599 equivalent of an `X-MPUSH` binding (a,j→fcm, i→apns, w→webpush).
 */
export function mpushToPn(binding: MpushBindingInput | MpushParsed): PnParams;

/**
 * The `X-MPUSH` header value of a binding, e.g. `s:i:com.pkg:token`.
 */
export function mpushValue(binding: MpushBindingInput | MpushParsed): string;

/**
 * An APNs / PushKit payload (`{"aps":…,"data":…}`).
 */
export function parseApns(payload: string | object): Notification;

/**
 * An FCM data map (`{ntype: "0", nfrom: "…"}`, string values only).
 */
export function parseFcmData(data: Record<string, string> | string): Notification;

/**
 * Parse a `Feature-Caps` value (`Feature-Caps:`/`fc:` prefix allowed;
 * comma-separated values are merged).
 */
export function parseFeatureCaps(value: string): FeatureCaps;

/**
 * Parse an `X-MPUSH` header value: `{remove: true}` for `null`, else
 * `{remove: false, env, provider, package, token}`.
 */
export function parseMpush(value: string): MpushParsed;

/**
 * Read `pn-*` (or a legacy spelling) from a Contact URI or name-addr;
 * `null` when there are none.
 */
export function parsePnParams(contact_uri: string): PnParams | null;

/**
 * Any payload shape, detected: APNs (`aps`), FCM web (`data` + `notification`),
 * a whole FCM v1 `{"message":…}`, `{"data":…}` or flat. Accepts the JSON
 * text (`event.data.text()`) or the object (`event.data.json()`, Firebase's
 * `onBackgroundMessage` payload).
 */
export function parsePush(payload: string | object): Notification;

/**
 * A Web Push payload: flat, `{"data":…}` or FCM's web shape.
 */
export function parseWebpush(payload: string | object): Notification;

/**
 * The whole header line, e.g. `X-PIID: 0123…`.
 */
export function piidHeader(username: string, realm: string, password: string): string;

/**
 * The `X-MPUSH` equivalent (apns→i, fcm→a, webpush→w; `pn-prid=null` → remove).
 */
export function pnToMpush(params: PnParamsInput): MpushParsed;

/**
 * The fields with the manual's defaults filled in (priorities, push type,
 * "Call from …" texts), every key present.
 */
export function pushDefaults(fields: PushFieldsInput): PushFields;

/**
 * The header lines to add to REGISTER, e.g. for JsSIP:
 * `ua.registrator().setExtraHeaders(registerHeaders(binding, user, realm, password))`.
 */
export function registerHeaders(binding: MpushBindingInput | MpushParsed, username: string, realm: string, password: string): string[];

/**
 * The default APNs / PushKit message for these fields (defaults filled).
 */
export function renderApns(fields: PushFieldsInput): Record<string, unknown>;

/**
 * The default FCM HTTP v1 request (`{"message": …}`) for these fields
 * (defaults filled), pruned for `target`; `removeNotification` is the
 * manual's `fcm_removenotification` (-1 auto, 0 keep, 1 for calls, 2 always).
 */
export function renderFcm(fields: PushFieldsInput, target: FcmTarget, remove_notification: number | undefined): Record<string, unknown>;

/**
 * Render a template (cut at `--EOF`, keywords substituted with JSON
 * escaping). Fields are used as given: call `pushDefaults` first if wanted.
 */
export function renderTemplate(template: string, fields: PushFieldsInput): unknown;

/**
 * Whether `piid` belongs to these credentials (constant time, hex case ignored).
 */
export function verifyPiid(piid: string, username: string, realm: string, password: string): boolean;

/**
 * The SDK version (the crate version).
 */
export function version(): string;

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
    readonly computePiid: (a: any, b: any, c: any) => [number, number, number, number];
    readonly contactUriWithPn: (a: any, b: any) => [number, number, number, number];
    readonly defaultApnsTemplate: () => [number, number];
    readonly defaultFcmTemplate: () => [number, number];
    readonly featureCapsSupports: (a: any, b: any) => [number, number, number];
    readonly formatFeatureCaps: (a: any) => [number, number, number, number];
    readonly formatPnParams: (a: any) => [number, number, number, number];
    readonly mpushHeader: (a: any) => [number, number, number, number];
    readonly mpushToPn: (a: any) => [number, number, number];
    readonly mpushValue: (a: any) => [number, number, number, number];
    readonly parseApns: (a: any) => [number, number, number];
    readonly parseFcmData: (a: any) => [number, number, number];
    readonly parseFeatureCaps: (a: any) => [number, number, number];
    readonly parseMpush: (a: any) => [number, number, number];
    readonly parsePnParams: (a: any) => [number, number, number];
    readonly parsePush: (a: any) => [number, number, number];
    readonly parseWebpush: (a: any) => [number, number, number];
    readonly piidHeader: (a: any, b: any, c: any) => [number, number, number, number];
    readonly pnToMpush: (a: any) => [number, number, number];
    readonly pushDefaults: (a: any) => [number, number, number];
    readonly registerHeaders: (a: any, b: any, c: any, d: any) => [number, number, number];
    readonly renderApns: (a: any) => [number, number, number];
    readonly renderFcm: (a: any, b: any, c: any) => [number, number, number];
    readonly renderTemplate: (a: any, b: any) => [number, number, number];
    readonly verifyPiid: (a: any, b: any, c: any, d: any) => [number, number, number];
    readonly version: () => [number, number];
    readonly __wbindgen_malloc: (a: number, b: number) => number;
    readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
    readonly __wbindgen_free: (a: number, b: number, c: number) => void;
    readonly __wbindgen_exn_store: (a: number) => void;
    readonly __externref_table_alloc: () => number;
    readonly __wbindgen_externrefs: WebAssembly.Table;
    readonly __externref_table_dealloc: (a: number) => void;
    readonly __wbindgen_start: () => void;
}

export type SyncInitInput = BufferSource | WebAssembly.Module;

/**
 * Instantiates the given `module`, which can either be bytes or
 * a precompiled `WebAssembly.Module`.
 *
 * @param {{ module: SyncInitInput }} module - Passing `SyncInitInput` directly is deprecated.
 *
 * @returns {InitOutput}
 */
export function initSync(module: { module: SyncInitInput } | SyncInitInput): InitOutput;

/**
 * If `module_or_path` is {RequestInfo} or {URL}, makes a request and
 * for everything else, calls `WebAssembly.instantiate` directly.
 *
 * @param {{ module_or_path: InitInput | Promise<InitInput> }} module_or_path - Passing `InitInput` directly is deprecated.
 *
 * @returns {Promise<InitOutput>}
 */
export default function __wbg_init (module_or_path?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>): Promise<InitOutput>;

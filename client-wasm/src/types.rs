//! TypeScript interfaces of the plain objects the SDK takes and returns,
//! emitted into the generated `.d.ts`. They mirror the JSON shapes of
//! tests/vectors/README.md; the TypeScript test (client-wasm/tests/types-check.ts)
//! compiles against them in strict mode.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
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
"#;

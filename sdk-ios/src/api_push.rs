//! Push payloads, Feature-Caps and message templates.

use std::collections::BTreeMap;
use std::ffi::c_char;

use serde::de::DeserializeOwned;
use sipwake_core::{self as core, FeatureCaps, PushFields, RemoveNotification, Target};

use crate::api::to_json;
use crate::ffi::{
    SipwakeKeyValue, SipwakeStr, call, call_string, read_opt_str, read_slice, read_str,
};
use crate::status::{SdkError, SipwakeStatusCode};

/// Parses an FCM data map (`count` key/value pairs; a repeated key keeps the
/// last value) into `Notification` JSON.
///
/// # Safety
/// `pairs` must point to `count` valid entries (NULL allowed when `count` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_parse_fcm_data(
    pairs: *const SipwakeKeyValue,
    count: usize,
    out_json: *mut *mut c_char,
) -> SipwakeStatusCode {
    call_string(out_json, || {
        let mut data = BTreeMap::new();
        // SAFETY: per the caller.
        for kv in unsafe { read_slice(pairs, count, "pairs") }? {
            let k = unsafe { read_str(kv.key, "key") }?;
            let v = unsafe { read_str(kv.value, "value") }?;
            data.insert(k.to_owned(), v.to_owned());
        }
        Ok(to_json(&core::parse_fcm_data(&data)?))
    })
}

type Parser = fn(&str) -> Result<core::Notification, core::PayloadError>;

/// # Safety
/// `json` valid, `out_json` writable.
unsafe fn parse_with(
    json: SipwakeStr,
    out_json: *mut *mut c_char,
    parser: Parser,
) -> SipwakeStatusCode {
    call_string(out_json, || {
        // SAFETY: per the caller.
        let text = unsafe { read_str(json, "json") }?;
        Ok(to_json(&parser(text)?))
    })
}

/// Parses an APNs / PushKit payload (JSON text) into `Notification` JSON.
///
/// # Safety
/// `json` must be a valid `SipwakeStr`; `out_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_parse_apns(
    json: SipwakeStr,
    out_json: *mut *mut c_char,
) -> SipwakeStatusCode {
    // SAFETY: per the caller.
    unsafe { parse_with(json, out_json, core::parse_apns) }
}

/// Parses a Web Push payload (JSON text) into `Notification` JSON.
///
/// # Safety
/// As [`sipwake_parse_apns`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_parse_webpush(
    json: SipwakeStr,
    out_json: *mut *mut c_char,
) -> SipwakeStatusCode {
    // SAFETY: per the caller.
    unsafe { parse_with(json, out_json, core::parse_webpush) }
}

/// Parses any push payload shape (FCM data, APNs, Web Push; detected) into
/// `Notification` JSON. PushKit: serialise the payload dictionary to JSON.
///
/// # Safety
/// As [`sipwake_parse_apns`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_parse_push(
    json: SipwakeStr,
    out_json: *mut *mut c_char,
) -> SipwakeStatusCode {
    // SAFETY: per the caller.
    unsafe { parse_with(json, out_json, core::parse_push) }
}

/// Parses a Feature-Caps header value into `FeatureCaps` JSON
/// (`{"pns":[…],"pnsreg":bool,"pnsregSeconds":n|null,"pnspurr":s|null}`).
///
/// # Safety
/// `value` must be a valid `SipwakeStr`; `out_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_parse_feature_caps(
    value: SipwakeStr,
    out_json: *mut *mut c_char,
) -> SipwakeStatusCode {
    call_string(out_json, || {
        // SAFETY: per the caller.
        let v = unsafe { read_str(value, "value") }?;
        Ok(to_json(&core::parse_feature_caps(v)?))
    })
}

/// Whether a Feature-Caps value lists push service `service` in `+sip.pns`
/// (case-insensitive), i.e. the registrar will wake this app by push.
///
/// # Safety
/// String arguments must be valid `SipwakeStr`s; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_feature_caps_supports(
    value: SipwakeStr,
    service: SipwakeStr,
    out: *mut bool,
) -> SipwakeStatusCode {
    call(out, || {
        // SAFETY: per the caller.
        let v = unsafe { read_str(value, "value") }?;
        let s = unsafe { read_str(service, "service") }?;
        Ok(core::parse_feature_caps(v)?.supports(s))
    })
}

/// Formats a Feature-Caps value. `pnsreg_seconds < 0` means no value; a
/// value implies `+sip.pnsreg`. `pnspurr` may be NULL.
///
/// # Safety
/// `pns` must point to `pns_count` valid `SipwakeStr`s (NULL when 0);
/// `pnspurr` NULL or valid; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_format_feature_caps(
    pns: *const SipwakeStr,
    pns_count: usize,
    pnsreg: bool,
    pnsreg_seconds: i64,
    pnspurr: *const SipwakeStr,
    out: *mut *mut c_char,
) -> SipwakeStatusCode {
    call_string(out, || {
        // SAFETY: per the caller.
        let names = unsafe { read_slice(pns, pns_count, "pns") }?
            .iter()
            .map(|s| unsafe { read_str(*s, "pns") }.map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()?;
        let seconds = match pnsreg_seconds {
            s if s < 0 => None,
            s => Some(u32::try_from(s).map_err(|_| SdkError::InvalidArgument {
                name: "pnsreg_seconds",
                value: s.to_string(),
                expected: "at most 4294967295",
            })?),
        };
        let caps = FeatureCaps {
            pns: names,
            pnsreg: match (pnsreg, seconds) {
                (_, Some(n)) => Some(Some(n)),
                (true, None) => Some(None),
                (false, None) => None,
            },
            // SAFETY: per the caller.
            pnspurr: unsafe { read_opt_str(pnspurr, "pnspurr") }?.map(str::to_owned),
        };
        Ok(core::format_feature_caps(&caps))
    })
}

fn from_json<T: DeserializeOwned>(text: &str, name: &'static str) -> Result<T, SdkError> {
    serde_json::from_str(text).map_err(|e| SdkError::InvalidJson {
        name,
        detail: e.to_string(),
    })
}

/// # Safety
/// `fields_json` must be a valid `SipwakeStr`.
unsafe fn fields(fields_json: SipwakeStr) -> Result<PushFields, SdkError> {
    // SAFETY: per the caller.
    from_json(unsafe { read_str(fields_json, "fields_json") }?, "fields")
}

/// The push fields (JSON, `PushFields` shape) with the gateway's defaults filled.
///
/// # Safety
/// `fields_json` must be a valid `SipwakeStr`; `out_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_push_defaults(
    fields_json: SipwakeStr,
    out_json: *mut *mut c_char,
) -> SipwakeStatusCode {
    call_string(out_json, || {
        // SAFETY: per the caller.
        Ok(to_json(&unsafe { fields(fields_json) }?.with_defaults()))
    })
}

/// Renders a template (text, or `"@fcm"` / `"@apns"` for the built-in ones)
/// with the fields as given; the result is the message JSON.
///
/// # Safety
/// String arguments must be valid `SipwakeStr`s; `out_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_render_template(
    template: SipwakeStr,
    fields_json: SipwakeStr,
    out_json: *mut *mut c_char,
) -> SipwakeStatusCode {
    call_string(out_json, || {
        // SAFETY: per the caller.
        let t = match unsafe { read_str(template, "template") }? {
            "@fcm" => core::DEFAULT_FCM_TEMPLATE,
            "@apns" => core::DEFAULT_APNS_TEMPLATE,
            other => other,
        };
        let f = unsafe { fields(fields_json) }?;
        Ok(to_json(&core::render(t, &f)?))
    })
}

/// The default FCM v1 request for the fields (defaults filled), pruned for
/// `target` (`fcmAndroid`, `fcmIos`, `fcmWeb`, `apns`). `remove_notification`
/// is the manual's setting: -1 auto, 0 keep, 1 for calls, 2 always.
///
/// # Safety
/// String arguments must be valid `SipwakeStr`s; `out_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_render_fcm(
    fields_json: SipwakeStr,
    target: SipwakeStr,
    remove_notification: i32,
    out_json: *mut *mut c_char,
) -> SipwakeStatusCode {
    call_string(out_json, || {
        // SAFETY: per the caller.
        let f = unsafe { fields(fields_json) }?;
        let name = unsafe { read_str(target, "target") }?;
        let target: Target =
            from_json(&to_json(&name), "target").map_err(|_| SdkError::InvalidArgument {
                name: "target",
                value: name.to_owned(),
                expected: "fcmAndroid, fcmIos, fcmWeb or apns",
            })?;
        let remove = RemoveNotification::from_setting(i64::from(remove_notification));
        Ok(to_json(&core::render_fcm(&f, target, remove)?))
    })
}

/// The default APNs / PushKit message for the fields (defaults filled).
///
/// # Safety
/// `fields_json` must be a valid `SipwakeStr`; `out_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_render_apns(
    fields_json: SipwakeStr,
    out_json: *mut *mut c_char,
) -> SipwakeStatusCode {
    call_string(out_json, || {
        // SAFETY: per the caller.
        Ok(to_json(&core::render_apns(&unsafe {
            fields(fields_json)
        }?)?))
    })
}

/// Test hook (feature `panic-probe`, not in the header): panics inside an
/// entry point, to prove the panic is reported as `SIPWAKE_STATUS_PANIC`.
///
/// # Safety
/// `out` writable.
#[cfg(feature = "panic-probe")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_debug_panic(out: *mut *mut c_char) -> SipwakeStatusCode {
    call_string(out, || panic!("panic probe"))
}

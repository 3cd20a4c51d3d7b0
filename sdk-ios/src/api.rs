//! X-MPUSH, X-PIID and RFC 8599 functions.

use std::ffi::c_char;

use sipwake_core::{self as core, MpushBinding, PnParams, PnProvider, Provider, PushEnv};

use crate::ffi::{SipwakeStr, call, call_string, read_opt_str, read_str};
use crate::status::{SdkError, SipwakeStatusCode};

/// X-MPUSH environment codes (the `uint32_t env` arguments).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipwakeEnv {
    /// No env field (`d`): the gateway's default.
    Default = 0,
    /// `s`: APNs sandbox / development builds.
    Sandbox = 1,
    /// `p`: production.
    Production = 2,
}

/// X-MPUSH provider codes (the `uint32_t provider` arguments).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipwakeProvider {
    /// `a`: Android through FCM.
    AndroidFcm = 0,
    /// `i`: iOS through APNs / PushKit.
    Apns = 1,
    /// `j`: iOS through FCM.
    IosFcm = 2,
    /// `w`: Web Push.
    WebPush = 3,
}

fn env_from_code(code: u32) -> Result<PushEnv, SdkError> {
    match code {
        0 => Ok(PushEnv::Default),
        1 => Ok(PushEnv::Sandbox),
        2 => Ok(PushEnv::Production),
        _ => Err(SdkError::InvalidArgument {
            name: "env",
            value: code.to_string(),
            expected: "a SipwakeEnv code 0..=2",
        }),
    }
}

fn provider_from_code(code: u32) -> Result<Provider, SdkError> {
    match code {
        0 => Ok(Provider::AndroidFcm),
        1 => Ok(Provider::Apns),
        2 => Ok(Provider::IosFcm),
        3 => Ok(Provider::WebPush),
        _ => Err(SdkError::InvalidArgument {
            name: "provider",
            value: code.to_string(),
            expected: "a SipwakeProvider code 0..=3",
        }),
    }
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Our result types serialise infallibly (string keys, no custom errors).
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// # Safety
/// String arguments must be valid `SipwakeStr`s.
unsafe fn binding(
    env: u32,
    provider: u32,
    package: SipwakeStr,
    token: SipwakeStr,
) -> Result<MpushBinding, SdkError> {
    Ok(MpushBinding {
        env: env_from_code(env)?,
        provider: provider_from_code(provider)?,
        // SAFETY: per the caller.
        package: unsafe { read_str(package, "package") }?.to_owned(),
        token: unsafe { read_str(token, "token") }?.to_owned(),
    })
}

/// # Safety
/// `provider` must be valid; the others NULL or valid.
unsafe fn pn_params(
    provider: SipwakeStr,
    param: *const SipwakeStr,
    prid: *const SipwakeStr,
    purr: *const SipwakeStr,
) -> Result<PnParams, SdkError> {
    // SAFETY: per the caller.
    unsafe {
        Ok(PnParams {
            provider: PnProvider::from_name(read_str(provider, "provider")?),
            param: read_opt_str(param, "param")?.map(str::to_owned),
            prid: read_opt_str(prid, "prid")?.map(str::to_owned),
            purr: read_opt_str(purr, "purr")?.map(str::to_owned),
        })
    }
}

/// Parses an X-MPUSH header value (without `X-MPUSH:`). `*out_json` gets the
/// `Mpush` JSON: `{"remove":false,"env":…,"provider":…,"package":…,"token":…}`
/// or `{"remove":true}`.
///
/// # Safety
/// `value` must be a valid `SipwakeStr`; `out_json` writable (or NULL, which
/// is reported as an error).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_parse_mpush(
    value: SipwakeStr,
    out_json: *mut *mut c_char,
) -> SipwakeStatusCode {
    call_string(out_json, || {
        // SAFETY: per the caller.
        let v = unsafe { read_str(value, "value") }?;
        Ok(to_json(&core::parse_mpush(v)?))
    })
}

/// The validated X-MPUSH header value for a binding, e.g. `s:i:com.x.voip:TOKEN`.
/// `env` is a `SipwakeEnv`, `provider` a `SipwakeProvider` code.
///
/// # Safety
/// String arguments must be valid `SipwakeStr`s; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_mpush_header(
    env: u32,
    provider: u32,
    package: SipwakeStr,
    token: SipwakeStr,
    out: *mut *mut c_char,
) -> SipwakeStatusCode {
    call_string(out, || {
        // SAFETY: per the caller.
        let b = unsafe { binding(env, provider, package, token) }?;
        b.validate()?;
        Ok(b.header_value())
    })
}

/// The RFC 8599 parameters equivalent to a binding, as `PnParams` JSON.
///
/// # Safety
/// As [`sipwake_mpush_header`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_mpush_to_pn(
    env: u32,
    provider: u32,
    package: SipwakeStr,
    token: SipwakeStr,
    out_json: *mut *mut c_char,
) -> SipwakeStatusCode {
    call_string(out_json, || {
        // SAFETY: per the caller.
        let b = unsafe { binding(env, provider, package, token) }?;
        Ok(to_json(&core::mpush_to_pn(&b)))
    })
}

/// X-PIID: lowercase hex md5(username ":" realm ":" password).
///
/// # Safety
/// String arguments must be valid `SipwakeStr`s; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_compute_piid(
    username: SipwakeStr,
    realm: SipwakeStr,
    password: SipwakeStr,
    out: *mut *mut c_char,
) -> SipwakeStatusCode {
    call_string(out, || {
        // SAFETY: per the caller.
        unsafe {
            Ok(core::compute_piid(
                read_str(username, "username")?,
                read_str(realm, "realm")?,
                read_str(password, "password")?,
            ))
        }
    })
}

/// Constant-time check of an X-PIID value (hex case ignored).
///
/// # Safety
/// String arguments must be valid `SipwakeStr`s; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_verify_piid(
    piid: SipwakeStr,
    username: SipwakeStr,
    realm: SipwakeStr,
    password: SipwakeStr,
    out: *mut bool,
) -> SipwakeStatusCode {
    call(out, || {
        // SAFETY: per the caller.
        unsafe {
            Ok(core::verify_piid(
                read_str(piid, "piid")?,
                read_str(username, "username")?,
                read_str(realm, "realm")?,
                read_str(password, "password")?,
            ))
        }
    })
}

/// The push parameters of a Contact URI or name-addr as `PnParams` JSON
/// (`{"provider":…,"param":…,"prid":…,"purr":…}`), or `null` when it has none.
///
/// # Safety
/// `contact` must be a valid `SipwakeStr`; `out_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_parse_pn_params(
    contact: SipwakeStr,
    out_json: *mut *mut c_char,
) -> SipwakeStatusCode {
    call_string(out_json, || {
        // SAFETY: per the caller.
        let c = unsafe { read_str(contact, "contact") }?;
        Ok(to_json(&core::parse_pn_params(c)?))
    })
}

/// `;pn-provider=…;pn-param=…;pn-prid=…;pn-purr=…` (%-escaped) to append to
/// a Contact URI. `param`, `prid`, `purr` may be NULL (absent).
///
/// # Safety
/// `provider` must be valid; the others NULL or valid; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_format_pn_params(
    provider: SipwakeStr,
    param: *const SipwakeStr,
    prid: *const SipwakeStr,
    purr: *const SipwakeStr,
    out: *mut *mut c_char,
) -> SipwakeStatusCode {
    call_string(out, || {
        // SAFETY: per the caller.
        let p = unsafe { pn_params(provider, param, prid, purr) }?;
        Ok(core::format_pn_params(&p))
    })
}

/// The X-MPUSH equivalent of RFC 8599 parameters, as `Mpush` JSON.
///
/// # Safety
/// As [`sipwake_format_pn_params`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_pn_to_mpush(
    provider: SipwakeStr,
    param: *const SipwakeStr,
    prid: *const SipwakeStr,
    purr: *const SipwakeStr,
    out_json: *mut *mut c_char,
) -> SipwakeStatusCode {
    call_string(out_json, || {
        // SAFETY: per the caller.
        let p = unsafe { pn_params(provider, param, prid, purr) }?;
        Ok(to_json(&core::pn_to_mpush(&p)?))
    })
}

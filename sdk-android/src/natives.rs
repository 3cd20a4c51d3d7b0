//! The `native` methods of `org.sipwake.SipWake` (all private static; the
//! Java wrapper validates nothing itself and builds typed objects from the
//! results). Layouts of the returned arrays: see `fields`.

use std::collections::BTreeMap;

use jni::objects::{JClass, JObjectArray, JString};
use jni::sys::jboolean;
use jni::{Env, EnvUnowned};
use sipwake_core as core;

use crate::args::{new_string, new_string_array, opt_string, string, string_array};
use crate::error::SdkError;
use crate::fields::{binding, mpush_fields, notification_fields, pn_fields, pn_params};
use crate::policy::ThrowSipWakeException;

type StringArray<'l> = JObjectArray<'l, JString<'l>>;

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_SipWake_nParseMpush<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    value: JString<'l>,
) -> StringArray<'l> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let value = string(env, &value, "value")?;
            let m = core::parse_mpush(&value)?;
            new_string_array(env, &mpush_fields(&m))
        })
        .resolve::<ThrowSipWakeException>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_SipWake_nMpushHeader<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    env_name: JString<'l>,
    provider: JString<'l>,
    package: JString<'l>,
    token: JString<'l>,
) -> JString<'l> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let b = read_binding(env, &env_name, &provider, &package, &token)?;
            b.validate()?;
            new_string(env, &b.header_value())
        })
        .resolve::<ThrowSipWakeException>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_SipWake_nMpushToPn<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    env_name: JString<'l>,
    provider: JString<'l>,
    package: JString<'l>,
    token: JString<'l>,
) -> StringArray<'l> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let b = read_binding(env, &env_name, &provider, &package, &token)?;
            new_string_array(env, &pn_fields(&core::mpush_to_pn(&b)))
        })
        .resolve::<ThrowSipWakeException>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_SipWake_nComputePiid<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    username: JString<'l>,
    realm: JString<'l>,
    password: JString<'l>,
) -> JString<'l> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let piid = core::compute_piid(
                &string(env, &username, "username")?,
                &string(env, &realm, "realm")?,
                &string(env, &password, "password")?,
            );
            new_string(env, &piid)
        })
        .resolve::<ThrowSipWakeException>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_SipWake_nVerifyPiid<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    piid: JString<'l>,
    username: JString<'l>,
    realm: JString<'l>,
    password: JString<'l>,
) -> jboolean {
    unowned
        .with_env(|env| -> Result<jboolean, SdkError> {
            Ok(core::verify_piid(
                &string(env, &piid, "piid")?,
                &string(env, &username, "username")?,
                &string(env, &realm, "realm")?,
                &string(env, &password, "password")?,
            ))
        })
        .resolve::<ThrowSipWakeException>()
}

/// Returns `null` when the Contact carries no push parameters.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_SipWake_nParsePnParams<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    contact: JString<'l>,
) -> StringArray<'l> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let contact = string(env, &contact, "contact")?;
            match core::parse_pn_params(&contact)? {
                Some(p) => new_string_array(env, &pn_fields(&p)),
                None => Ok(JObjectArray::<JString>::null()),
            }
        })
        .resolve::<ThrowSipWakeException>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_SipWake_nFormatPnParams<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    provider: JString<'l>,
    param: JString<'l>,
    prid: JString<'l>,
    purr: JString<'l>,
) -> JString<'l> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let p = read_pn(env, &provider, &param, &prid, &purr)?;
            new_string(env, &core::format_pn_params(&p))
        })
        .resolve::<ThrowSipWakeException>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_SipWake_nPnToMpush<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    provider: JString<'l>,
    param: JString<'l>,
    prid: JString<'l>,
    purr: JString<'l>,
) -> StringArray<'l> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let p = read_pn(env, &provider, &param, &prid, &purr)?;
            new_string_array(env, &mpush_fields(&core::pn_to_mpush(&p)?))
        })
        .resolve::<ThrowSipWakeException>()
}

/// `keysAndValues` alternates key, value (the wrapper flattens the `Map`,
/// which is simpler and faster than iterating a Java `Map` over JNI).
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_SipWake_nParseFcmData<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    keys_and_values: StringArray<'l>,
) -> StringArray<'l> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let flat = string_array(env, &keys_and_values, "data")?;
            if flat.len() % 2 != 0 {
                return Err(SdkError::OddKeyValues(flat.len()));
            }
            let mut data = BTreeMap::new();
            for pair in flat.chunks_exact(2) {
                // A null key or value cannot come from FCM; skip it the way
                // a missing key is treated.
                if let [Some(k), Some(v)] = pair {
                    data.insert(k.clone(), v.clone());
                }
            }
            let n = core::parse_fcm_data(&data)?;
            new_string_array(env, &notification_fields(&n))
        })
        .resolve::<ThrowSipWakeException>()
}

type JsonParser = fn(&str) -> Result<core::Notification, core::PayloadError>;

fn parse_json_payload<'l>(
    unowned: &mut EnvUnowned<'l>,
    json: &JString<'l>,
    parser: JsonParser,
) -> StringArray<'l> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let text = string(env, json, "json")?;
            let n = parser(&text)?;
            new_string_array(env, &notification_fields(&n))
        })
        .resolve::<ThrowSipWakeException>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_SipWake_nParseApns<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    json: JString<'l>,
) -> StringArray<'l> {
    parse_json_payload(&mut unowned, &json, core::parse_apns)
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_SipWake_nParseWebpush<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    json: JString<'l>,
) -> StringArray<'l> {
    parse_json_payload(&mut unowned, &json, core::parse_webpush)
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_SipWake_nParsePush<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    json: JString<'l>,
) -> StringArray<'l> {
    parse_json_payload(&mut unowned, &json, core::parse_push)
}

/// Test hook (feature `panic-probe`): panics inside a native method so the
/// test can prove the panic surfaces as a `SipWakeException`, not a crash.
#[cfg(feature = "panic-probe")]
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_PanicProbe_panic<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> JString<'l> {
    unowned
        .with_env(|_env| -> Result<JString<'l>, SdkError> { panic!("panic probe") })
        .resolve::<ThrowSipWakeException>()
}

fn read_binding(
    env: &Env<'_>,
    env_name: &JString<'_>,
    provider: &JString<'_>,
    package: &JString<'_>,
    token: &JString<'_>,
) -> Result<core::MpushBinding, SdkError> {
    binding(
        &string(env, env_name, "env")?,
        &string(env, provider, "provider")?,
        string(env, package, "package")?,
        string(env, token, "token")?,
    )
}

fn read_pn(
    env: &Env<'_>,
    provider: &JString<'_>,
    param: &JString<'_>,
    prid: &JString<'_>,
    purr: &JString<'_>,
) -> Result<core::PnParams, SdkError> {
    Ok(pn_params(
        &string(env, provider, "provider")?,
        opt_string(env, param)?,
        opt_string(env, prid)?,
        opt_string(env, purr)?,
    ))
}

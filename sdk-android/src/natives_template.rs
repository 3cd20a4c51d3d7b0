//! Push message templates (`org.sipwake.PushTemplates`): JSON text in, JSON
//! text out, because the rendered messages are free-form JSON trees. For apps
//! and tools that build FCM / APNs requests the way the gateway does.

use jni::EnvUnowned;
use jni::objects::{JClass, JString};
use jni::sys::jint;
use serde::de::DeserializeOwned;
use sipwake_core::{self as core, PushFields, RemoveNotification, Target};

use crate::args::{new_string, string};
use crate::error::SdkError;
use crate::policy::ThrowSipWakeException;

fn from_json<T: DeserializeOwned>(text: &str, name: &'static str) -> Result<T, SdkError> {
    serde_json::from_str(text).map_err(|e| SdkError::InvalidJson {
        name,
        detail: e.to_string(),
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Serialising our own Value / PushFields cannot fail (string keys only).
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

pub fn parse_target(name: &str) -> Result<Target, SdkError> {
    from_json(&to_json(&name), "target").map_err(|_| SdkError::InvalidArgument {
        name: "target",
        value: name.to_owned(),
        expected: "fcmAndroid, fcmIos, fcmWeb or apns",
    })
}

/// `"@fcm"` / `"@apns"` name the built-in templates.
pub fn template_text(name_or_text: &str) -> &str {
    match name_or_text {
        "@fcm" => core::DEFAULT_FCM_TEMPLATE,
        "@apns" => core::DEFAULT_APNS_TEMPLATE,
        other => other,
    }
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_PushTemplates_nPushDefaults<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    fields: JString<'l>,
) -> JString<'l> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let f: PushFields = from_json(&string(env, &fields, "fields")?, "fields")?;
            new_string(env, &to_json(&f.with_defaults()))
        })
        .resolve::<ThrowSipWakeException>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_PushTemplates_nRender<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    template: JString<'l>,
    fields: JString<'l>,
) -> JString<'l> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let t = string(env, &template, "template")?;
            let f: PushFields = from_json(&string(env, &fields, "fields")?, "fields")?;
            let v = core::render(template_text(&t), &f)?;
            new_string(env, &to_json(&v))
        })
        .resolve::<ThrowSipWakeException>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_PushTemplates_nRenderFcm<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    fields: JString<'l>,
    target: JString<'l>,
    remove_notification: jint,
) -> JString<'l> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let f: PushFields = from_json(&string(env, &fields, "fields")?, "fields")?;
            let target = parse_target(&string(env, &target, "target")?)?;
            let remove = RemoveNotification::from_setting(i64::from(remove_notification));
            let v = core::render_fcm(&f, target, remove)?;
            new_string(env, &to_json(&v))
        })
        .resolve::<ThrowSipWakeException>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_PushTemplates_nRenderApns<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    fields: JString<'l>,
) -> JString<'l> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let f: PushFields = from_json(&string(env, &fields, "fields")?, "fields")?;
            new_string(env, &to_json(&core::render_apns(&f)?))
        })
        .resolve::<ThrowSipWakeException>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_by_json_name() {
        assert_eq!(parse_target("fcmAndroid").unwrap(), Target::FcmAndroid);
        assert_eq!(parse_target("apns").unwrap(), Target::Apns);
        assert!(parse_target("android").is_err());
        assert!(parse_target("\"fcmIos\"").is_err());
    }
}

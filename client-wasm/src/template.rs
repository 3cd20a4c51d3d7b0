//! Push message templates, as the gateway renders them. A web app or admin
//! page can preview exactly what its devices will receive, or check a custom
//! template before installing it on the gateway.

use sipwake_core::{
    DEFAULT_APNS_TEMPLATE, DEFAULT_FCM_TEMPLATE, PushFields, RemoveNotification, Target, render,
    render_apns, render_fcm,
};
use wasm_bindgen::prelude::*;

use crate::SdkError;
use crate::js;

fn fields_arg(fields: &JsValue) -> Result<PushFields, SdkError> {
    js::parse_arg(&js::object_json(fields, "push fields")?, "push fields")
}

/// The fields with the manual's defaults filled in (priorities, push type,
/// "Call from …" texts), every key present.
#[wasm_bindgen(js_name = pushDefaults, unchecked_return_type = "PushFields")]
pub fn push_defaults_js(
    #[wasm_bindgen(unchecked_param_type = "PushFieldsInput")] fields: JsValue,
) -> Result<JsValue, JsError> {
    js::to_js(&fields_arg(&fields)?.with_defaults())
}

/// Render a template (cut at `--EOF`, keywords substituted with JSON
/// escaping). Fields are used as given: call `pushDefaults` first if wanted.
#[wasm_bindgen(js_name = renderTemplate, unchecked_return_type = "unknown")]
pub fn render_template_js(
    #[wasm_bindgen(unchecked_param_type = "string")] template: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PushFieldsInput")] fields: JsValue,
) -> Result<JsValue, JsError> {
    let template = js::string(&template, "template")?;
    let fields = fields_arg(&fields)?;
    js::to_js(&render(&template, &fields)?)
}

/// The default FCM HTTP v1 request (`{"message": …}`) for these fields
/// (defaults filled), pruned for `target`; `removeNotification` is the
/// manual's `fcm_removenotification` (-1 auto, 0 keep, 1 for calls, 2 always).
#[wasm_bindgen(js_name = renderFcm, unchecked_return_type = "Record<string, unknown>")]
pub fn render_fcm_js(
    #[wasm_bindgen(unchecked_param_type = "PushFieldsInput")] fields: JsValue,
    #[wasm_bindgen(unchecked_param_type = "FcmTarget")] target: JsValue,
    #[wasm_bindgen(unchecked_param_type = "number | undefined")] remove_notification: JsValue,
) -> Result<JsValue, JsError> {
    let fields = fields_arg(&fields)?;
    let target: Target = serde_json::from_value(js::string(&target, "FCM target")?.into())
        .map_err(|e| SdkError::argument("FCM target", e.to_string()))?;
    let remove = match remove_notification.as_f64() {
        // Integral by construction of the check; the cast cannot truncate.
        Some(n) if n.fract() == 0.0 && (-1.0..=2.0).contains(&n) => {
            RemoveNotification::from_setting(n as i64)
        }
        Some(_) => {
            return Err(SdkError::argument("removeNotification", "expected -1, 0, 1 or 2").into());
        }
        None if remove_notification.is_undefined() => RemoveNotification::default(),
        None => return Err(SdkError::argument("removeNotification", "expected a number").into()),
    };
    js::to_js(&render_fcm(&fields, target, remove)?)
}

/// The default APNs / PushKit message for these fields (defaults filled).
#[wasm_bindgen(js_name = renderApns, unchecked_return_type = "Record<string, unknown>")]
pub fn render_apns_js(
    #[wasm_bindgen(unchecked_param_type = "PushFieldsInput")] fields: JsValue,
) -> Result<JsValue, JsError> {
    js::to_js(&render_apns(&fields_arg(&fields)?)?)
}

/// The built-in FCM template text (the manual's `fcmmessage.txt` structure).
#[wasm_bindgen(js_name = defaultFcmTemplate)]
pub fn default_fcm_template() -> String {
    DEFAULT_FCM_TEMPLATE.to_string()
}

/// The built-in APNs template text (the manual's `pushkitmessage.txt` structure).
#[wasm_bindgen(js_name = defaultApnsTemplate)]
pub fn default_apns_template() -> String {
    DEFAULT_APNS_TEMPLATE.to_string()
}

//! Received push payloads (FCM data maps, APNs/PushKit JSON, Web Push JSON)
//! turned into one plain `Notification` object.

use std::collections::BTreeMap;

use sipwake_core::{Notification, parse_apns, parse_fcm_data, parse_push, parse_webpush};
use wasm_bindgen::prelude::*;

use crate::SdkError;
use crate::js;

/// An FCM data map given as JSON text; every value must be a string, as FCM delivers them.
pub fn fcm_data_from_json(json: &str) -> Result<Notification, SdkError> {
    let map: BTreeMap<String, String> = js::parse_arg(json, "FCM data")?;
    Ok(parse_fcm_data(&map)?)
}

/// Any payload shape, detected: APNs (`aps`), FCM web (`data` + `notification`),
/// a whole FCM v1 `{"message":…}`, `{"data":…}` or flat. Accepts the JSON
/// text (`event.data.text()`) or the object (`event.data.json()`, Firebase's
/// `onBackgroundMessage` payload).
#[wasm_bindgen(js_name = parsePush, unchecked_return_type = "Notification")]
pub fn parse_push_js(
    #[wasm_bindgen(unchecked_param_type = "string | object")] payload: JsValue,
) -> Result<JsValue, JsError> {
    js::to_js(&parse_push(&js::json_or_object(&payload, "push payload")?)?)
}

/// An APNs / PushKit payload (`{"aps":…,"data":…}`).
#[wasm_bindgen(js_name = parseApns, unchecked_return_type = "Notification")]
pub fn parse_apns_js(
    #[wasm_bindgen(unchecked_param_type = "string | object")] payload: JsValue,
) -> Result<JsValue, JsError> {
    js::to_js(&parse_apns(&js::json_or_object(&payload, "push payload")?)?)
}

/// A Web Push payload: flat, `{"data":…}` or FCM's web shape.
#[wasm_bindgen(js_name = parseWebpush, unchecked_return_type = "Notification")]
pub fn parse_webpush_js(
    #[wasm_bindgen(unchecked_param_type = "string | object")] payload: JsValue,
) -> Result<JsValue, JsError> {
    js::to_js(&parse_webpush(&js::json_or_object(
        &payload,
        "push payload",
    )?)?)
}

/// An FCM data map (`{ntype: "0", nfrom: "…"}`, string values only).
#[wasm_bindgen(js_name = parseFcmData, unchecked_return_type = "Notification")]
pub fn parse_fcm_data_js(
    #[wasm_bindgen(unchecked_param_type = "Record<string, string> | string")] data: JsValue,
) -> Result<JsValue, JsError> {
    js::to_js(&fcm_data_from_json(&js::json_or_object(
        &data, "FCM data",
    )?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipwake_core::NotificationKind;

    #[test]
    fn fcm_data_strings_only() {
        let n = fcm_data_from_json(r#"{"ntype":"1","nfrom":"Bob","nmsg":"hi"}"#).unwrap();
        assert_eq!(
            (n.kind, n.from.as_str(), n.msg.as_str()),
            (NotificationKind::Chat, "Bob", "hi")
        );
        let e = fcm_data_from_json(r#"{"ntype":1}"#).unwrap_err();
        assert!(e.to_string().starts_with("FCM data: invalid type"), "{e}");
        assert!(fcm_data_from_json("[]").is_err());
    }
}

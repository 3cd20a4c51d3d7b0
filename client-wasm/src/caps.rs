//! RFC 6809 `Feature-Caps` of a REGISTER 200 OK: does the registrar (the
//! gateway) take push for our provider, and how often must we refresh?

use sipwake_core::{FeatureCaps, format_feature_caps, parse_feature_caps};
use wasm_bindgen::prelude::*;

use crate::SdkError;
use crate::js;

/// Whether any of the `Feature-Caps` header values lists `provider`
/// (`"fcm"`, `"apns"`, `"webpush"`) in `+sip.pns`. A header that is present
/// but malformed is an error, not a silent "no".
pub fn caps_support(values: &[String], provider: &str) -> Result<bool, SdkError> {
    let mut found = false;
    for v in values {
        found |= parse_feature_caps(v)?.supports(provider);
    }
    Ok(found)
}

/// Parse a `Feature-Caps` value (`Feature-Caps:`/`fc:` prefix allowed;
/// comma-separated values are merged).
#[wasm_bindgen(js_name = parseFeatureCaps, unchecked_return_type = "FeatureCaps")]
pub fn parse_feature_caps_js(
    #[wasm_bindgen(unchecked_param_type = "string")] value: JsValue,
) -> Result<JsValue, JsError> {
    let value = js::string(&value, "Feature-Caps")?;
    js::to_js(&parse_feature_caps(&value)?)
}

/// The header value, e.g. `*;+sip.pns="fcm";+sip.pnsreg="120"`.
#[wasm_bindgen(js_name = formatFeatureCaps)]
pub fn format_feature_caps_js(
    #[wasm_bindgen(unchecked_param_type = "FeatureCapsInput")] caps: JsValue,
) -> Result<String, JsError> {
    let json = js::object_json(&caps, "Feature-Caps")?;
    let caps: FeatureCaps = js::parse_arg(&json, "Feature-Caps")?;
    Ok(format_feature_caps(&caps))
}

/// The check after a REGISTER 200 OK: pass the response's Feature-Caps
/// header(s) (JsSIP: `response.getHeaders('Feature-Caps')`) and the RFC 8599
/// provider name. No header at all (`null`, `undefined`, `[]`) means `false`.
#[wasm_bindgen(js_name = featureCapsSupports)]
pub fn feature_caps_supports_js(
    #[wasm_bindgen(unchecked_param_type = "string | string[] | null | undefined")]
    header_value: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] provider: JsValue,
) -> Result<bool, JsError> {
    let values = js::string_list(&header_value, "Feature-Caps")?;
    let provider = js::string(&provider, "provider")?;
    Ok(caps_support(&values, &provider)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn any_header_may_list_the_provider() {
        let headers = v(&[
            "*;+sip.pns=\"apns\"",
            "*;+sip.pns=\"fcm\";+sip.pnsreg=\"120\"",
        ]);
        assert!(caps_support(&headers, "fcm").unwrap());
        assert!(caps_support(&headers, "APNS").unwrap());
        assert!(!caps_support(&headers, "webpush").unwrap());
        assert!(!caps_support(&[], "fcm").unwrap());
    }

    #[test]
    fn malformed_header_is_an_error() {
        let e = caps_support(&v(&["*;+sip.pns=\"fcm\"", "+sip.pns"]), "fcm").unwrap_err();
        assert!(e.to_string().starts_with("Feature-Caps:"), "{e}");
    }
}

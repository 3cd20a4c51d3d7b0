//! `X-MPUSH`: parse a header value, build a value or a whole header line.

use serde_json::Value;
use sipwake_core::{Mpush, MpushBinding, parse_mpush};
use wasm_bindgen::prelude::*;

use crate::SdkError;
use crate::js;

/// A binding given as JSON: a bare binding `{env?, provider, package, token}`
/// or what `parseMpush` returns (`{remove: true}` means `null`). Validated
/// with the gateway's own limits, so the header built from it is accepted
/// and cannot smuggle CR/LF or spaces into the REGISTER.
pub fn mpush_from_json(json: &str) -> Result<Mpush, SdkError> {
    const WHAT: &str = "X-MPUSH binding";
    let v: Value = js::parse_arg(json, WHAT)?;
    if v.get("remove") == Some(&Value::Bool(true)) {
        return Ok(Mpush::Remove);
    }
    let b: MpushBinding =
        serde_json::from_value(v).map_err(|e| SdkError::argument(WHAT, e.to_string()))?;
    b.validate()?;
    Ok(Mpush::Bind(b))
}

/// The whole header line without CRLF, e.g. `X-MPUSH: a:com.pkg:token`.
pub fn mpush_header_line(m: &Mpush) -> String {
    format!("X-MPUSH: {}", m.header_value())
}

/// Parse an `X-MPUSH` header value: `{remove: true}` for `null`, else
/// `{remove: false, env, provider, package, token}`.
#[wasm_bindgen(js_name = parseMpush, unchecked_return_type = "MpushParsed")]
pub fn parse_mpush_js(
    #[wasm_bindgen(unchecked_param_type = "string")] value: JsValue,
) -> Result<JsValue, JsError> {
    let value = js::string(&value, "X-MPUSH value")?;
    js::to_js(&parse_mpush(&value)?)
}

/// The `X-MPUSH` header value of a binding, e.g. `s:i:com.pkg:token`.
#[wasm_bindgen(js_name = mpushValue)]
pub fn mpush_value_js(
    #[wasm_bindgen(unchecked_param_type = "MpushBindingInput | MpushParsed")] binding: JsValue,
) -> Result<String, JsError> {
    let json = js::object_json(&binding, "X-MPUSH binding")?;
    Ok(mpush_from_json(&json)?.header_value())
}

/// The whole header line, e.g. `X-MPUSH: a:com.pkg:token`, ready for
/// JsSIP's `registrator().setExtraHeaders()` or SIP.js `extraHeaders`.
#[wasm_bindgen(js_name = mpushHeader)]
pub fn mpush_header_js(
    #[wasm_bindgen(unchecked_param_type = "MpushBindingInput | MpushParsed")] binding: JsValue,
) -> Result<String, JsError> {
    let json = js::object_json(&binding, "X-MPUSH binding")?;
    Ok(mpush_header_line(&mpush_from_json(&json)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_binding_defaults_env() {
        let m = mpush_from_json(r#"{"provider":"w","package":"web.app","token":"t:1"}"#).unwrap();
        assert_eq!(mpush_header_line(&m), "X-MPUSH: w:web.app:t:1");
    }

    #[test]
    fn parsed_shape_round_trips() {
        let parsed = serde_json::to_string(&parse_mpush("s:i:com.x:abc").unwrap()).unwrap();
        let m = mpush_from_json(&parsed).unwrap();
        assert_eq!(m.header_value(), "s:i:com.x:abc");
        assert_eq!(
            mpush_from_json(r#"{"remove":true}"#).unwrap(),
            Mpush::Remove
        );
        assert_eq!(mpush_header_line(&Mpush::Remove), "X-MPUSH: null");
    }

    #[test]
    fn header_injection_is_rejected() {
        let e =
            mpush_from_json(r#"{"provider":"a","package":"p","token":"t\r\nVia: x"}"#).unwrap_err();
        assert!(e.to_string().contains("invalid character"), "{e}");
    }

    #[test]
    fn wrong_shapes_say_what_is_wrong() {
        for bad in [
            r#"{"provider":"x","package":"p","token":"t"}"#,
            r#"{"package":"p"}"#,
            "[]",
            "7",
        ] {
            let e = mpush_from_json(bad).unwrap_err();
            assert!(e.to_string().starts_with("X-MPUSH binding: "), "{bad}: {e}");
        }
        assert!(mpush_from_json(r#"{"remove":false}"#).is_err());
        assert!(mpush_from_json(r#"{"provider":"a","package":"","token":"t"}"#).is_err());
    }
}

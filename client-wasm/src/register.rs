//! The extra headers of a push-enabled REGISTER, in one call.

use sipwake_core::Mpush;
use wasm_bindgen::prelude::*;

use crate::js;
use crate::mpush::{mpush_from_json, mpush_header_line};
use crate::piid::{credentials, piid_header_line};

/// `X-MPUSH` then `X-PIID` header lines; a removal (`{remove: true}`) needs
/// no credentials and yields `["X-MPUSH: null"]`.
pub fn register_header_lines(
    m: &Mpush,
    username: &str,
    realm: &str,
    password: &str,
) -> Vec<String> {
    match m {
        Mpush::Remove => vec![mpush_header_line(m)],
        Mpush::Bind(_) => vec![
            mpush_header_line(m),
            piid_header_line(username, realm, password),
        ],
    }
}

/// The header lines to add to REGISTER, e.g. for JsSIP:
/// `ua.registrator().setExtraHeaders(registerHeaders(binding, user, realm, password))`.
#[wasm_bindgen(js_name = registerHeaders, unchecked_return_type = "string[]")]
pub fn register_headers_js(
    #[wasm_bindgen(unchecked_param_type = "MpushBindingInput | MpushParsed")] binding: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] username: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] realm: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] password: JsValue,
) -> Result<JsValue, JsError> {
    let m = mpush_from_json(&js::object_json(&binding, "X-MPUSH binding")?)?;
    let (u, r, p) = credentials(&username, &realm, &password)?;
    js::to_js(&register_header_lines(&m, &u, &r, &p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_gets_both_headers_removal_only_one() {
        let m = mpush_from_json(r#"{"provider":"w","package":"web","token":"t"}"#).unwrap();
        assert_eq!(
            register_header_lines(&m, "aaa", "cool", "xxx"),
            [
                "X-MPUSH: w:web:t",
                "X-PIID: b7cfad8f31893933560dae61622ed255"
            ]
        );
        assert_eq!(
            register_header_lines(&Mpush::Remove, "a", "b", "c"),
            ["X-MPUSH: null"]
        );
    }
}

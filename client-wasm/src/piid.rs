//! `X-PIID`: the digest HA1 the gateway needs to re-register for a sleeping app.

use sipwake_core::{compute_piid, verify_piid};
use wasm_bindgen::prelude::*;

use crate::js;

/// The whole header line without CRLF, e.g. `X-PIID: 0123…`.
pub fn piid_header_line(username: &str, realm: &str, password: &str) -> String {
    format!("X-PIID: {}", compute_piid(username, realm, password))
}

/// Lowercase hex `md5(username ":" realm ":" password)`.
#[wasm_bindgen(js_name = computePiid)]
pub fn compute_piid_js(
    #[wasm_bindgen(unchecked_param_type = "string")] username: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] realm: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] password: JsValue,
) -> Result<String, JsError> {
    let (u, r, p) = credentials(&username, &realm, &password)?;
    Ok(compute_piid(&u, &r, &p))
}

/// Whether `piid` belongs to these credentials (constant time, hex case ignored).
#[wasm_bindgen(js_name = verifyPiid)]
pub fn verify_piid_js(
    #[wasm_bindgen(unchecked_param_type = "string")] piid: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] username: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] realm: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] password: JsValue,
) -> Result<bool, JsError> {
    let piid = js::string(&piid, "X-PIID")?;
    let (u, r, p) = credentials(&username, &realm, &password)?;
    Ok(verify_piid(&piid, &u, &r, &p))
}

/// The whole header line, e.g. `X-PIID: 0123…`.
#[wasm_bindgen(js_name = piidHeader)]
pub fn piid_header_js(
    #[wasm_bindgen(unchecked_param_type = "string")] username: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] realm: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] password: JsValue,
) -> Result<String, JsError> {
    let (u, r, p) = credentials(&username, &realm, &password)?;
    Ok(piid_header_line(&u, &r, &p))
}

pub(crate) fn credentials(
    username: &JsValue,
    realm: &JsValue,
    password: &JsValue,
) -> Result<(String, String, String), crate::SdkError> {
    Ok((
        js::string(username, "username")?,
        js::string(realm, "realm")?,
        js::string(password, "password")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_line_is_ha1() {
        // RFC 2617 section 3.5's example credentials: HA1 = 939e7578ed9e3c518a452acee763bce9.
        assert_eq!(
            piid_header_line("Mufasa", "testrealm@host.com", "Circle Of Life"),
            "X-PIID: 939e7578ed9e3c518a452acee763bce9"
        );
    }
}

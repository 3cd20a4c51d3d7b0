//! RFC 8599 push parameters for the Contact URI (what a JsSIP app puts into
//! its `contact_uri` setting), and their mapping to and from `X-MPUSH`.

use sipwake_core::{
    Mpush, MpushBinding, PnParams, format_pn_params, mpush_to_pn, parse_pn_params, pn_to_mpush,
};
use wasm_bindgen::prelude::*;

use crate::SdkError;
use crate::js;
use crate::mpush::mpush_from_json;

/// Append the push parameters to a SIP URI. A name-addr (`"Bob" <sip:…>`)
/// gets them inside the angle brackets: RFC 8599 parameters are URI
/// parameters, not header parameters. Any `?headers` part stays last.
pub fn contact_uri_with_pn(uri: &str, params: &PnParams) -> Result<String, SdkError> {
    const WHAT: &str = "contact URI";
    let trimmed = uri.trim();
    if trimmed.is_empty() {
        return Err(SdkError::argument(WHAT, "is empty"));
    }
    if parse_pn_params(trimmed)?.is_some() {
        return Err(SdkError::argument(WHAT, "already carries push parameters"));
    }
    let pn = format_pn_params(params);
    let (start, end) = match (trimmed.find('<'), trimmed.rfind('>')) {
        (Some(lt), Some(gt)) if lt < gt => (lt + 1, gt),
        (None, None) => (0, trimmed.len()),
        _ => return Err(SdkError::argument(WHAT, "unbalanced '<' and '>'")),
    };
    // Inside the URI, parameters go before any `?header=value` part.
    let at = trimmed[start..end].find('?').map_or(end, |q| start + q);
    let out = format!("{}{}{}", &trimmed[..at], pn, &trimmed[at..]);
    // Read it back the way the gateway will, so a URI we cannot express
    // (e.g. a display name with odd quoting) fails here, not at register time.
    match parse_pn_params(&out)? {
        Some(back) if back == *params => Ok(out),
        _ => Err(SdkError::argument(
            WHAT,
            "push parameters do not read back unchanged",
        )),
    }
}

/// Read `pn-*` (or a legacy spelling) from a Contact URI or name-addr;
/// `null` when there are none.
#[wasm_bindgen(js_name = parsePnParams, unchecked_return_type = "PnParams | null")]
pub fn parse_pn_params_js(
    #[wasm_bindgen(unchecked_param_type = "string")] contact_uri: JsValue,
) -> Result<JsValue, JsError> {
    let uri = js::string(&contact_uri, "contact URI")?;
    js::to_js(&parse_pn_params(&uri)?)
}

/// URI parameters `;pn-provider=…;pn-param=…;pn-prid=…[;pn-purr=…]`, %-escaped.
#[wasm_bindgen(js_name = formatPnParams)]
pub fn format_pn_params_js(
    #[wasm_bindgen(unchecked_param_type = "PnParamsInput")] params: JsValue,
) -> Result<String, JsError> {
    Ok(format_pn_params(&pn_arg(&params)?))
}

/// `uri` with the push parameters added, for JsSIP's `contact_uri` setting.
#[wasm_bindgen(js_name = contactUriWithPn)]
pub fn contact_uri_with_pn_js(
    #[wasm_bindgen(unchecked_param_type = "string")] uri: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PnParamsInput")] params: JsValue,
) -> Result<String, JsError> {
    let uri = js::string(&uri, "contact URI")?;
    Ok(contact_uri_with_pn(&uri, &pn_arg(&params)?)?)
}

/// The `X-MPUSH` equivalent (apns→i, fcm→a, webpush→w; `pn-prid=null` → remove).
#[wasm_bindgen(js_name = pnToMpush, unchecked_return_type = "MpushParsed")]
pub fn pn_to_mpush_js(
    #[wasm_bindgen(unchecked_param_type = "PnParamsInput")] params: JsValue,
) -> Result<JsValue, JsError> {
    js::to_js(&pn_to_mpush(&pn_arg(&params)?)?)
}

/// The RFC 8599 equivalent of an `X-MPUSH` binding (a,j→fcm, i→apns, w→webpush).
#[wasm_bindgen(js_name = mpushToPn, unchecked_return_type = "PnParams")]
pub fn mpush_to_pn_js(
    #[wasm_bindgen(unchecked_param_type = "MpushBindingInput | MpushParsed")] binding: JsValue,
) -> Result<JsValue, JsError> {
    js::to_js(&mpush_to_pn(&binding_arg(&binding)?))
}

fn pn_arg(params: &JsValue) -> Result<PnParams, SdkError> {
    js::parse_arg(&js::object_json(params, "pn params")?, "pn params")
}

fn binding_arg(binding: &JsValue) -> Result<MpushBinding, SdkError> {
    match mpush_from_json(&js::object_json(binding, "X-MPUSH binding")?)? {
        Mpush::Bind(b) => Ok(b),
        Mpush::Remove => Err(SdkError::argument(
            "X-MPUSH binding",
            "a removal (null) has no RFC 8599 form; use pn-prid=null with a provider",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipwake_core::PnProvider;

    fn fcm() -> PnParams {
        PnParams {
            provider: PnProvider::Fcm,
            param: Some("my-project".into()),
            prid: Some("tok;en=1".into()),
            purr: None,
        }
    }

    #[test]
    fn bare_uri_gets_params_appended() {
        let out = contact_uri_with_pn("sip:alice@192.0.2.1:5060;transport=ws", &fcm()).unwrap();
        assert!(
            out.starts_with("sip:alice@192.0.2.1:5060;transport=ws;pn-provider=fcm;"),
            "{out}"
        );
        assert_eq!(parse_pn_params(&out).unwrap(), Some(fcm()));
    }

    #[test]
    fn name_addr_gets_params_inside_brackets_before_headers() {
        let out = contact_uri_with_pn("\"Al\" <sip:a@h?X=1>;expires=60", &fcm()).unwrap();
        let gt = out.find('>').unwrap();
        let pn = out.find(";pn-provider").unwrap();
        assert!(pn < out.find('?').unwrap() && pn < gt, "{out}");
        assert!(out.ends_with(">;expires=60"), "{out}");
    }

    #[test]
    fn refuses_bad_uris() {
        for bad in [
            "",
            "  ",
            "<sip:a@h",
            "sip:a@h>",
            "sip:a@h;pn-provider=apns;pn-prid=x",
        ] {
            assert!(contact_uri_with_pn(bad, &fcm()).is_err(), "{bad:?}");
        }
    }
}

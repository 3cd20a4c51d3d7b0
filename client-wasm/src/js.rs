//! JavaScript <-> Rust value conversion. Values cross as JSON text: the core
//! types serialise to exactly the shape of the shared vectors, and
//! `JSON.parse` turns that into plain JS objects (no Maps, no BigInts).

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsError, JsValue};

use crate::SdkError;

/// Serialise a core value and hand it to JS as a plain object.
pub(crate) fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    let text = serde_json::to_string(value).map_err(|e| JsError::new(&e.to_string()))?;
    js_sys::JSON::parse(&text).map_err(|_| JsError::new("sipwake: JSON.parse of a result failed"))
}

/// The JSON text of a JS object argument (strings are rejected: an object was
/// documented). `JSON.stringify` throws on cycles and BigInts; that becomes an error.
pub(crate) fn object_json(value: &JsValue, what: &'static str) -> Result<String, SdkError> {
    if !value.is_object() || value.is_null() {
        return Err(SdkError::argument(what, "expected an object"));
    }
    stringify(value, what)
}

/// A payload argument: a JSON string as is, or an object stringified.
pub(crate) fn json_or_object(value: &JsValue, what: &'static str) -> Result<String, SdkError> {
    if let Some(s) = value.as_string() {
        return Ok(s);
    }
    if !value.is_object() || value.is_null() {
        return Err(SdkError::argument(
            what,
            "expected a JSON string or an object",
        ));
    }
    stringify(value, what)
}

fn stringify(value: &JsValue, what: &'static str) -> Result<String, SdkError> {
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| SdkError::argument(what, "cannot be converted to JSON"))
}

/// Deserialise an object argument already turned into JSON text.
pub(crate) fn parse_arg<T: DeserializeOwned>(
    json: &str,
    what: &'static str,
) -> Result<T, SdkError> {
    serde_json::from_str(json).map_err(|e| SdkError::argument(what, e.to_string()))
}

/// A string argument. Taken as `JsValue` rather than `&str` because
/// wasm-bindgen would silently turn `undefined` into the text "undefined".
pub(crate) fn string(value: &JsValue, what: &'static str) -> Result<String, SdkError> {
    value
        .as_string()
        .ok_or_else(|| SdkError::argument(what, "expected a string"))
}

/// Strings and string arrays (a header given once or several times).
pub(crate) fn string_list(value: &JsValue, what: &'static str) -> Result<Vec<String>, SdkError> {
    if value.is_null() || value.is_undefined() {
        return Ok(Vec::new());
    }
    if let Some(s) = value.as_string() {
        return Ok(vec![s]);
    }
    if js_sys::Array::is_array(value) {
        return js_sys::Array::from(value)
            .iter()
            .map(|v| {
                v.as_string()
                    .ok_or_else(|| SdkError::argument(what, "array items must be strings"))
            })
            .collect();
    }
    Err(SdkError::argument(
        what,
        "expected a string or an array of strings",
    ))
}

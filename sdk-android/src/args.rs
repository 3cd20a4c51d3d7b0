//! Java ⇄ Rust value conversion for the native methods.

use jni::Env;
use jni::objects::{JObjectArray, JString};

use crate::error::SdkError;

/// A required `String` argument; `null` is an error, not a crash.
pub fn string(env: &Env<'_>, s: &JString<'_>, name: &'static str) -> Result<String, SdkError> {
    if s.is_null() {
        return Err(SdkError::NullArgument(name));
    }
    Ok(s.try_to_string(env)?)
}

/// An optional `String` argument (`null` = absent).
pub fn opt_string(env: &Env<'_>, s: &JString<'_>) -> Result<Option<String>, SdkError> {
    if s.is_null() {
        return Ok(None);
    }
    Ok(Some(s.try_to_string(env)?))
}

/// A required `String[]` argument; `null` elements are kept as `None`.
pub fn string_array(
    env: &mut Env<'_>,
    a: &JObjectArray<'_, JString<'_>>,
    name: &'static str,
) -> Result<Vec<Option<String>>, SdkError> {
    if a.is_null() {
        return Err(SdkError::NullArgument(name));
    }
    let len = a.len(env)?;
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        let elem = a.get_element(env, i)?;
        out.push(opt_string(env, &elem)?);
        // Free the local reference now: a large map would otherwise
        // exhaust the JNI local reference table.
        env.delete_local_ref(elem);
    }
    Ok(out)
}

/// Builds a Java `String[]`; `None` becomes a `null` element.
pub fn new_string_array<'local>(
    env: &mut Env<'local>,
    items: &[Option<String>],
) -> Result<JObjectArray<'local, JString<'local>>, SdkError> {
    let array = JObjectArray::<JString>::new(env, items.len(), JString::null())?;
    for (i, item) in items.iter().enumerate() {
        if let Some(text) = item {
            let s = JString::from_str(env, text)?;
            array.set_element(env, i, &s)?;
            env.delete_local_ref(s);
        }
    }
    Ok(array)
}

/// Builds a Java `String`.
pub fn new_string<'local>(env: &mut Env<'local>, s: &str) -> Result<JString<'local>, SdkError> {
    Ok(JString::from_str(env, s)?)
}

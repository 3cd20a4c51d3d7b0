//! Authentication header syntax (RFC 3261 §25.1 challenge/credentials):
//! `scheme` followed by comma-separated `name=value` pairs, values token or
//! quoted-string. Used for WWW-/Proxy-Authenticate and (Proxy-)Authorization.

use std::borrow::Cow;

use crate::error::HeaderError;
use crate::text::{ListIter, is_lws, is_token, trim_lws};

/// A parsed challenge or credentials value (borrowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthValue<'a> {
    /// `Digest`, `Basic`, `NoOneKnowsThisScheme` …
    pub scheme: &'a str,
    /// Parameters in order; values as written (quotes kept).
    pub params: Vec<(&'a str, &'a str)>,
}

impl<'a> AuthValue<'a> {
    pub fn parse(value: &'a str, header: &'static str) -> Result<AuthValue<'a>, HeaderError> {
        let err = |what| HeaderError::new(header, what);
        let value = trim_lws(value);
        let end = value.bytes().position(is_lws).unwrap_or(value.len());
        let scheme = &value[..end];
        if !is_token(scheme) {
            return Err(err("invalid auth scheme"));
        }
        let mut params = Vec::new();
        let rest = trim_lws(&value[end..]);
        if !rest.is_empty() {
            for item in ListIter::new(rest) {
                let eq = item.find('=').ok_or(err("auth parameter without ="))?;
                let name = trim_lws(&item[..eq]);
                let v = trim_lws(&item[eq + 1..]);
                if !is_token(name) || v.is_empty() {
                    return Err(err("malformed auth parameter"));
                }
                if v.starts_with('"') && (v.len() < 2 || !v.ends_with('"')) {
                    return Err(err("unterminated quoted string"));
                }
                params.push((name, v));
            }
        }
        Ok(AuthValue { scheme, params })
    }

    /// Parameter value with quotes removed and `\` escapes resolved.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| unescape(v))
    }

    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }
}

/// Removes quotes and resolves quoted-pair escapes.
pub fn unescape(v: &str) -> Cow<'_, str> {
    let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return Cow::Borrowed(v);
    };
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut esc = false;
    for c in inner.chars() {
        if esc || c != '\\' {
            out.push(c);
            esc = false;
        } else {
            esc = true;
        }
    }
    Cow::Owned(out)
}

/// Quotes a value for a quoted-string parameter.
pub fn quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_get() {
        let a = AuthValue::parse(
            r#"Digest realm="a, \"b\"", nonce="n", algorithm=MD5, qop="auth,auth-int""#,
            "WWW-Authenticate",
        )
        .unwrap();
        assert!(a.is_digest());
        assert_eq!(a.get("realm").unwrap(), r#"a, "b""#);
        assert_eq!(a.get("ALGORITHM").unwrap(), "MD5");
        assert_eq!(a.get("qop").unwrap(), "auth,auth-int");
        assert_eq!(quote(r#"a"b"#), r#""a\"b""#);
        assert!(AuthValue::parse("Digest realm", "Authorization").is_err());
        assert!(AuthValue::parse("Digest realm=\"x", "Authorization").is_err());
        assert_eq!(
            AuthValue::parse("NoOneKnowsThisScheme opaque-data=here", "Authorization")
                .unwrap()
                .scheme,
            "NoOneKnowsThisScheme"
        );
    }
}

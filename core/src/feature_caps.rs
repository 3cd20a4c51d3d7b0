//! RFC 6809 `Feature-Caps` with the RFC 8599 indicators: `+sip.pns`
//! (push services the proxy supports), `+sip.pnsreg` (the client may
//! re-register without push; value = seconds before expiry) and
//! `+sip.pnspurr` (the proxy's PURR for mid-dialog pushes).
//!
//! Example: `*;+sip.pns="fcm";+sip.pnsreg="120";+sip.pnspurr="ZTY4"`.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Longest header value we parse.
pub const MAX_FEATURE_CAPS_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeatureCaps {
    /// `+sip.pns` service names, lowercased, in order, without duplicates.
    pub pns: Vec<String>,
    /// `+sip.pnsreg`: `None` absent, `Some(None)` present without a value,
    /// `Some(Some(n))` with a value.
    pub pnsreg: Option<Option<u32>>,
    /// `+sip.pnspurr` value (empty when given without one).
    pub pnspurr: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FeatureCapsError {
    #[error("Feature-Caps: empty value")]
    Empty,
    #[error("Feature-Caps: value too long ({0} bytes, max {MAX_FEATURE_CAPS_BYTES})")]
    TooLong(usize),
    #[error("Feature-Caps: each value must start with '*' (got {0:?})")]
    MissingStar(String),
    #[error("Feature-Caps: unterminated quoted string")]
    UnterminatedQuote,
    #[error("Feature-Caps: +sip.pns needs a value")]
    PnsWithoutValue,
    #[error("Feature-Caps: +sip.pnsreg value {0:?} is not a number of seconds")]
    BadPnsreg(String),
    #[error("Feature-Caps: empty feature-cap name")]
    EmptyName,
}

/// Parse a `Feature-Caps` header value (several comma-separated `*;…`
/// values are merged). Unknown indicators are ignored.
pub fn parse_feature_caps(header_value: &str) -> Result<FeatureCaps, FeatureCapsError> {
    if header_value.len() > MAX_FEATURE_CAPS_BYTES {
        return Err(FeatureCapsError::TooLong(header_value.len()));
    }
    let mut v = header_value.trim();
    for prefix in ["feature-caps:", "fc:"] {
        if let Some(rest) = crate::sipparam::strip_prefix_ci(v, prefix) {
            v = rest.trim_start();
        }
    }
    if v.is_empty() {
        return Err(FeatureCapsError::Empty);
    }
    let mut caps = FeatureCaps::default();
    for fc_value in split_unquoted(v, ',')? {
        let mut parts = split_unquoted(fc_value, ';')?.into_iter();
        let star = parts.next().unwrap_or("").trim();
        if star != "*" {
            return Err(FeatureCapsError::MissingStar(
                crate::mpush::truncate_for_error(star),
            ));
        }
        for cap in parts {
            let (name, value) = match cap.split_once('=') {
                Some((n, val)) => (n.trim(), Some(unquote(val.trim()))),
                None => (cap.trim(), None),
            };
            let name = name.strip_prefix('+').unwrap_or(name);
            if name.is_empty() {
                return Err(FeatureCapsError::EmptyName);
            }
            if name.eq_ignore_ascii_case("sip.pns") {
                let list = value.ok_or(FeatureCapsError::PnsWithoutValue)?;
                for p in list.split(',').map(|p| p.trim().to_ascii_lowercase()) {
                    if !p.is_empty() && !caps.pns.contains(&p) {
                        caps.pns.push(p);
                    }
                }
            } else if name.eq_ignore_ascii_case("sip.pnsreg") {
                let secs = match value {
                    None => None,
                    Some(s) => Some(s.trim().parse::<u32>().map_err(|_| {
                        FeatureCapsError::BadPnsreg(crate::mpush::truncate_for_error(&s))
                    })?),
                };
                caps.pnsreg.get_or_insert(secs);
            } else if name.eq_ignore_ascii_case("sip.pnspurr") {
                caps.pnspurr.get_or_insert(value.unwrap_or_default());
            }
        }
    }
    Ok(caps)
}

/// Split at `sep` outside double quotes (honouring `\"` inside quotes).
fn split_unquoted(s: &str, sep: char) -> Result<Vec<&str>, FeatureCapsError> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_quote {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_quote = false,
                _ => {}
            }
        } else if c == '"' {
            in_quote = true;
        } else if c == sep {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    if in_quote {
        return Err(FeatureCapsError::UnterminatedQuote);
    }
    out.push(&s[start..]);
    Ok(out)
}

/// `"a\"b"` -> `a"b`; unquoted tokens are returned as they are.
fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return s.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl FeatureCaps {
    /// The header value, e.g. `*;+sip.pns="fcm";+sip.pnsreg="120"`.
    /// Service names cannot contain `,` (the list separator); such entries
    /// would be split when parsed back.
    pub fn header_value(&self) -> String {
        let mut s = String::from("*");
        if !self.pns.is_empty() {
            s.push_str(";+sip.pns=");
            s.push_str(&quote(&self.pns.join(",")));
        }
        match self.pnsreg {
            Some(Some(n)) => s.push_str(&format!(";+sip.pnsreg=\"{n}\"")),
            Some(None) => s.push_str(";+sip.pnsreg"),
            None => {}
        }
        if let Some(p) = &self.pnspurr {
            s.push_str(";+sip.pnspurr=");
            s.push_str(&quote(p));
        }
        s
    }

    /// Whether `+sip.pns` lists this service (case-insensitive).
    pub fn supports(&self, provider: &str) -> bool {
        self.pns.iter().any(|p| p.eq_ignore_ascii_case(provider))
    }
}

/// Same as [`FeatureCaps::header_value`].
pub fn format_feature_caps(caps: &FeatureCaps) -> String {
    caps.header_value()
}

/// JSON shape: `{"pns":[…],"pnsreg":bool,"pnsregSeconds":n|null,"pnspurr":s|null}`
/// (two flat keys instead of a nested option, for Java/C callers).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeatureCapsJson {
    #[serde(default)]
    pns: Vec<String>,
    #[serde(default)]
    pnsreg: bool,
    #[serde(default)]
    pnsreg_seconds: Option<u32>,
    #[serde(default)]
    pnspurr: Option<String>,
}

impl Serialize for FeatureCaps {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        FeatureCapsJson {
            pns: self.pns.clone(),
            pnsreg: self.pnsreg.is_some(),
            pnsreg_seconds: self.pnsreg.flatten(),
            pnspurr: self.pnspurr.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for FeatureCaps {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = FeatureCapsJson::deserialize(d)?;
        Ok(FeatureCaps {
            pns: j.pns,
            // Seconds imply presence.
            pnsreg: match (j.pnsreg, j.pnsreg_seconds) {
                (_, Some(n)) => Some(Some(n)),
                (true, None) => Some(None),
                (false, None) => None,
            },
            pnspurr: j.pnspurr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_full() {
        let c = parse_feature_caps("*;+sip.pns=\"FCM\";+sip.pnsreg=\"120\";+sip.pnspurr=\"ZTY4\"")
            .unwrap();
        assert_eq!(c.pns, vec!["fcm"]);
        assert_eq!(c.pnsreg, Some(Some(120)));
        assert_eq!(c.pnspurr.as_deref(), Some("ZTY4"));
        assert!(c.supports("Fcm"));
        assert!(!c.supports("apns"));
    }

    #[test]
    fn lists_and_multiple_values() {
        let c = parse_feature_caps(
            "fc: *;+sip.pns=\"apns,webpush\";+sip.pnsreg, *;+sip.pns=\"fcm,apns\"",
        )
        .unwrap();
        assert_eq!(c.pns, vec!["apns", "webpush", "fcm"]);
        assert_eq!(c.pnsreg, Some(None));
    }

    #[test]
    fn errors() {
        assert_eq!(parse_feature_caps(""), Err(FeatureCapsError::Empty));
        assert!(matches!(
            parse_feature_caps("+sip.pns=\"fcm\""),
            Err(FeatureCapsError::MissingStar(_))
        ));
        assert_eq!(
            parse_feature_caps("*;+sip.pns=\"fcm"),
            Err(FeatureCapsError::UnterminatedQuote)
        );
        assert_eq!(
            parse_feature_caps("*;+sip.pns"),
            Err(FeatureCapsError::PnsWithoutValue)
        );
        assert!(matches!(
            parse_feature_caps("*;+sip.pnsreg=\"-1\""),
            Err(FeatureCapsError::BadPnsreg(_))
        ));
    }

    #[test]
    fn format_roundtrip_with_escapes() {
        let c = FeatureCaps {
            pns: vec!["fcm".into(), "apns".into()],
            pnsreg: Some(Some(0)),
            pnspurr: Some("a\"b\\c;d,e".into()),
        };
        let h = c.header_value();
        assert_eq!(
            h,
            r#"*;+sip.pns="fcm,apns";+sip.pnsreg="0";+sip.pnspurr="a\"b\\c;d,e""#
        );
        assert_eq!(parse_feature_caps(&h).unwrap(), c);
        assert_eq!(FeatureCaps::default().header_value(), "*");
    }
}

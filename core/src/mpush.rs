//! The `X-MPUSH` header: `[env:]provider:package:token` or `null`.
//!
//! Wire format from the MPUSH manual ("SIP Signaling / X-MPUSH"):
//! `X-MPUSH: a:com.voip.phone:9C2F…` and `X-MPUSH: s:i:APP:TOKEN`.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Longest token we accept. Real FCM tokens are ~160 bytes, APNs 64 hex
/// chars, Web Push subscriptions (endpoint + keys) well under 1 KiB.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Longest package (FCM project id / bundle id). DNS-like names stay < 255.
pub const MAX_PACKAGE_BYTES: usize = 255;
/// Longest whole header value we look at (env + provider + package + token).
pub const MAX_MPUSH_BYTES: usize = MAX_TOKEN_BYTES + MAX_PACKAGE_BYTES + 8;

/// Which push gateway of the provider to use (the optional first field).
/// JSON: `"default"` / `"sandbox"` / `"production"` (the letters are accepted
/// as input too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PushEnv {
    /// `d` or absent: whatever the gateway is configured for.
    #[default]
    #[serde(alias = "d")]
    Default,
    /// `s`: sandbox / TestFlight / development.
    #[serde(alias = "s")]
    Sandbox,
    /// `p`: production.
    #[serde(alias = "p")]
    Production,
}

impl PushEnv {
    pub fn letter(self) -> char {
        match self {
            PushEnv::Default => 'd',
            PushEnv::Sandbox => 's',
            PushEnv::Production => 'p',
        }
    }

    fn from_field(f: &str) -> Option<Self> {
        match f {
            "d" | "D" => Some(PushEnv::Default),
            "s" | "S" => Some(PushEnv::Sandbox),
            "p" | "P" => Some(PushEnv::Production),
            _ => None,
        }
    }
}

/// The push provider letter. Serialised as the manual's letter so the JSON
/// shape matches the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Provider {
    /// `a`: Android via FCM.
    #[serde(rename = "a")]
    AndroidFcm,
    /// `i`: Apple APNs / PushKit.
    #[serde(rename = "i")]
    Apns,
    /// `j`: iOS via FCM.
    #[serde(rename = "j")]
    IosFcm,
    /// `w`: Web Push (browsers, through FCM web or plain RFC 8030).
    #[serde(rename = "w")]
    WebPush,
}

impl Provider {
    pub fn letter(self) -> char {
        match self {
            Provider::AndroidFcm => 'a',
            Provider::Apns => 'i',
            Provider::IosFcm => 'j',
            Provider::WebPush => 'w',
        }
    }

    fn from_field(f: &str) -> Option<Self> {
        match f {
            "a" | "A" => Some(Provider::AndroidFcm),
            "i" | "I" => Some(Provider::Apns),
            "j" | "J" => Some(Provider::IosFcm),
            "w" | "W" => Some(Provider::WebPush),
            _ => None,
        }
    }
}

/// One app instance's push address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MpushBinding {
    #[serde(default)]
    pub env: PushEnv,
    pub provider: Provider,
    pub package: String,
    pub token: String,
}

/// A parsed `X-MPUSH` value. Serialises as `{"remove":true}` or
/// `{"remove":false,"env":…,"provider":…,"package":…,"token":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Mpush {
    Bind(MpushBinding),
    /// The literal `null`: remove the push binding.
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MpushError {
    #[error("X-MPUSH: empty value")]
    Empty,
    #[error("X-MPUSH: value too long ({0} bytes, max {MAX_MPUSH_BYTES})")]
    TooLong(usize),
    #[error("X-MPUSH: unknown provider {0:?} (expected a, i, j or w)")]
    UnknownProvider(String),
    #[error("X-MPUSH: missing package (expected [env:]provider:package:token)")]
    MissingPackage,
    #[error("X-MPUSH: missing token (expected [env:]provider:package:token)")]
    MissingToken,
    #[error("X-MPUSH: package too long ({0} bytes, max {MAX_PACKAGE_BYTES})")]
    PackageTooLong(usize),
    #[error("X-MPUSH: token too long ({0} bytes, max {MAX_TOKEN_BYTES})")]
    TokenTooLong(usize),
    #[error("X-MPUSH: invalid character {ch:?} in {field} (printable ASCII without spaces only)")]
    InvalidChar { field: &'static str, ch: char },
}

/// Parse an `X-MPUSH` header value (not the `X-MPUSH:` name). Surrounding
/// whitespace is trimmed; `null` (any case) means [`Mpush::Remove`].
pub fn parse_mpush(value: &str) -> Result<Mpush, MpushError> {
    if value.len() > MAX_MPUSH_BYTES + 64 {
        return Err(MpushError::TooLong(value.len()));
    }
    let v = value.trim();
    if v.is_empty() {
        return Err(MpushError::Empty);
    }
    if v.eq_ignore_ascii_case("null") {
        return Ok(Mpush::Remove);
    }
    if v.len() > MAX_MPUSH_BYTES {
        return Err(MpushError::TooLong(v.len()));
    }
    let (first, rest) = split_field(v);
    // `s:i:pkg:tok`: the first field is an env only if a provider field
    // follows; otherwise `s` would be reported as an unknown provider.
    let (env, provider_field, rest) = match (PushEnv::from_field(first), rest) {
        (Some(env), Some(rest)) => {
            let (second, rest2) = split_field(rest);
            if Provider::from_field(second).is_some() {
                (env, second, rest2)
            } else {
                (PushEnv::Default, first, Some(rest))
            }
        }
        _ => (PushEnv::Default, first, rest),
    };
    let provider = Provider::from_field(provider_field)
        .ok_or_else(|| MpushError::UnknownProvider(truncate_for_error(provider_field)))?;
    let rest = rest.ok_or(MpushError::MissingPackage)?;
    let (package, token) = split_field(rest);
    let token = token.ok_or(MpushError::MissingToken)?;
    let binding = MpushBinding {
        env,
        provider,
        package: package.to_string(),
        token: token.to_string(),
    };
    binding.validate()?;
    Ok(Mpush::Bind(binding))
}

impl MpushBinding {
    /// Check the limits that [`parse_mpush`] enforces, so a binding built by
    /// hand (e.g. from SDK input) formats into a header the gateway accepts.
    pub fn validate(&self) -> Result<(), MpushError> {
        if self.package.is_empty() {
            return Err(MpushError::MissingPackage);
        }
        if self.token.is_empty() {
            return Err(MpushError::MissingToken);
        }
        if self.package.len() > MAX_PACKAGE_BYTES {
            return Err(MpushError::PackageTooLong(self.package.len()));
        }
        if self.token.len() > MAX_TOKEN_BYTES {
            return Err(MpushError::TokenTooLong(self.token.len()));
        }
        check_chars("package", &self.package)?;
        // The package is followed by `:` on the wire, so it cannot hold one.
        if self.package.contains(':') {
            return Err(MpushError::InvalidChar {
                field: "package",
                ch: ':',
            });
        }
        check_chars("token", &self.token)
    }

    /// The header value, e.g. `s:i:com.example:abcd` (env omitted for Default).
    pub fn header_value(&self) -> String {
        let mut s = String::with_capacity(self.package.len() + self.token.len() + 6);
        if self.env != PushEnv::Default {
            s.push(self.env.letter());
            s.push(':');
        }
        s.push(self.provider.letter());
        s.push(':');
        s.push_str(&self.package);
        s.push(':');
        s.push_str(&self.token);
        s
    }

    /// The whole header line without CRLF, e.g. `X-MPUSH: a:pkg:tok`.
    pub fn header_line(&self) -> String {
        format!("X-MPUSH: {}", self.header_value())
    }
}

impl Mpush {
    /// The header value: the binding's value or `null`.
    pub fn header_value(&self) -> String {
        match self {
            Mpush::Bind(b) => b.header_value(),
            Mpush::Remove => "null".to_string(),
        }
    }
}

fn split_field(s: &str) -> (&str, Option<&str>) {
    match s.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    }
}

fn check_chars(field: &'static str, s: &str) -> Result<(), MpushError> {
    match s.chars().find(|c| !c.is_ascii_graphic()) {
        Some(ch) => Err(MpushError::InvalidChar { field, ch }),
        None => Ok(()),
    }
}

/// Errors quote user input; keep that short so logs stay readable.
pub(crate) fn truncate_for_error(s: &str) -> String {
    const MAX: usize = 32;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MpushJson {
    remove: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    binding: Option<MpushBinding>,
}

impl Serialize for Mpush {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let j = match self {
            Mpush::Bind(b) => MpushJson {
                remove: false,
                binding: Some(b.clone()),
            },
            Mpush::Remove => MpushJson {
                remove: true,
                binding: None,
            },
        };
        j.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Mpush {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = MpushJson::deserialize(d)?;
        match (j.remove, j.binding) {
            (true, _) => Ok(Mpush::Remove),
            (false, Some(b)) => Ok(Mpush::Bind(b)),
            (false, None) => Err(serde::de::Error::custom(
                "X-MPUSH JSON: remove=false needs provider, package and token",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(v: &str) -> MpushBinding {
        match parse_mpush(v) {
            Ok(Mpush::Bind(b)) => b,
            other => panic!("{v}: {other:?}"),
        }
    }

    #[test]
    fn manual_examples() {
        let b = bind(
            "a:com.voip.phone:9C2F93A6D1319D3CB5712B469226A719B78C3BE37CCB6E8FD27985F0A0285DF9",
        );
        assert_eq!(b.provider, Provider::AndroidFcm);
        assert_eq!(b.env, PushEnv::Default);
        assert_eq!(b.package, "com.voip.phone");
        let b = bind("s:i:APP_PACKAGE_NAME:REGISTRATION_TOKEN");
        assert_eq!((b.env, b.provider), (PushEnv::Sandbox, Provider::Apns));
        // Tokens keep their colons.
        let b = bind("j:com.mycompany.myapp:c-10-ap_Kt0:BPC91bG7STqrz4cjrd_cqQquRLkH5iMi3eY4g");
        assert_eq!(b.token, "c-10-ap_Kt0:BPC91bG7STqrz4cjrd_cqQquRLkH5iMi3eY4g");
    }

    #[test]
    fn env_letter_needs_provider_after_it() {
        // `p:...` is not a provider and there is no provider after it.
        assert!(matches!(
            parse_mpush("p:com.x:tok"),
            Err(MpushError::UnknownProvider(p)) if p == "p"
        ));
        // `s` as env, provider `w`.
        assert_eq!(bind("s:w:pkg:tok").env, PushEnv::Sandbox);
    }

    #[test]
    fn null_and_errors() {
        assert_eq!(parse_mpush(" null "), Ok(Mpush::Remove));
        assert_eq!(parse_mpush(""), Err(MpushError::Empty));
        assert_eq!(parse_mpush("a"), Err(MpushError::MissingPackage));
        assert_eq!(parse_mpush("a:pkg"), Err(MpushError::MissingToken));
        assert_eq!(parse_mpush("a::tok"), Err(MpushError::MissingPackage));
        assert_eq!(parse_mpush("a:pkg:"), Err(MpushError::MissingToken));
        let e = parse_mpush("x:pkg:tok").unwrap_err().to_string();
        assert_eq!(e, "X-MPUSH: unknown provider \"x\" (expected a, i, j or w)");
        assert!(matches!(
            parse_mpush("a:pkg:to ken"),
            Err(MpushError::InvalidChar {
                field: "token",
                ch: ' '
            })
        ));
    }

    #[test]
    fn format_omits_default_env() {
        let mut b = bind("d:a:p:t");
        assert_eq!(b.header_value(), "a:p:t");
        b.env = PushEnv::Production;
        assert_eq!(b.header_line(), "X-MPUSH: p:a:p:t");
    }

    #[test]
    fn json_shape() {
        let v = serde_json::to_value(parse_mpush("s:i:pkg:t:k").unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"remove":false,"env":"sandbox","provider":"i","package":"pkg","token":"t:k"})
        );
        assert_eq!(
            serde_json::to_value(Mpush::Remove).unwrap(),
            serde_json::json!({"remove":true})
        );
    }
}

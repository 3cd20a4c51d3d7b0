//! RFC 8599 push parameters in a Contact URI (`pn-provider`, `pn-param`,
//! `pn-prid`, `pn-purr`), the two legacy spellings the manual still accepts
//! (`push-token-type/-app/-id` and `pn-type/app-id/pn-tok`), and the mapping
//! to and from `X-MPUSH` bindings.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::mpush::{
    MAX_PACKAGE_BYTES, MAX_TOKEN_BYTES, Mpush, MpushBinding, MpushError, Provider, PushEnv,
    truncate_for_error,
};
use crate::sipparam::{DecodeError, percent_decode, percent_encode_param, strip_prefix_ci};

/// Longest Contact value we look at.
pub const MAX_CONTACT_BYTES: usize = 16 * 1024;
/// Longest `pn-purr` value.
pub const MAX_PURR_BYTES: usize = 256;

/// The push notification service named by `pn-provider`.
/// Serialised as its RFC 8599 name (`"apns"`, `"fcm"`, `"webpush"`, other).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PnProvider {
    Apns,
    Fcm,
    WebPush,
    /// A provider we do not send to, lowercased as received.
    Other(String),
}

impl PnProvider {
    /// Map a provider name, case-insensitively. Legacy clients used a few
    /// other names for the same services.
    pub fn from_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "apns" | "apple" | "pushkit" => PnProvider::Apns,
            "fcm" | "gcm" | "firebase" => PnProvider::Fcm,
            "webpush" | "web" => PnProvider::WebPush,
            _ => PnProvider::Other(lower),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            PnProvider::Apns => "apns",
            PnProvider::Fcm => "fcm",
            PnProvider::WebPush => "webpush",
            PnProvider::Other(s) => s,
        }
    }
}

impl Serialize for PnProvider {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for PnProvider {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(PnProvider::from_name(&s))
    }
}

/// The push parameters of one Contact. `prid == None` with a provider is a
/// capability query (RFC 8599 section 5.1); `prid == "null"` removes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PnParams {
    pub provider: PnProvider,
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub prid: Option<String>,
    #[serde(default)]
    pub purr: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PnError {
    #[error("Contact: value too long ({0} bytes, max {MAX_CONTACT_BYTES})")]
    TooLong(usize),
    #[error("Contact: '<' without a closing '>'")]
    Unterminated,
    #[error("Contact: bad %-escape in {0}")]
    BadEscape(String),
    #[error("Contact: {0} is not UTF-8 after %-decoding")]
    NotUtf8(String),
    #[error("Contact: {0} given twice")]
    Duplicate(String),
    #[error("Contact: {0} has an empty value")]
    EmptyValue(String),
    #[error("Contact: {name} too long ({len} bytes, max {max})")]
    ValueTooLong {
        name: String,
        len: usize,
        max: usize,
    },
    #[error("Contact: pn-prid or pn-param without pn-provider")]
    MissingProvider,
    #[error("pn params: no pn-prid (a capability query, not a push binding)")]
    MissingPrid,
    #[error("pn params: pn-param is required for provider {0}")]
    MissingParam(String),
    #[error("pn params: unsupported pn-provider {0:?} (expected apns, fcm or webpush)")]
    UnsupportedProvider(String),
    #[error("pn params: {0}")]
    InvalidBinding(#[from] MpushError),
}

/// Which parameter names mean what, newest spelling first.
const FAMILIES: [[&str; 3]; 3] = [
    ["pn-provider", "pn-param", "pn-prid"],
    ["pn-type", "app-id", "pn-tok"],
    ["push-token-type", "push-token-app", "push-token-id"],
];

/// Read the push parameters from a Contact URI or name-addr. Both
/// `<sip:u@h;pn-provider=fcm;…>` and a bare `sip:u@h;pn-provider=fcm;…` are
/// accepted; parameters after the `>` are read too (some clients put them
/// there). Only the first contact of a comma-separated list is read.
/// Returns `Ok(None)` when there are no push parameters.
pub fn parse_pn_params(contact_uri: &str) -> Result<Option<PnParams>, PnError> {
    if contact_uri.len() > MAX_CONTACT_BYTES {
        return Err(PnError::TooLong(contact_uri.len()));
    }
    let mut s = contact_uri.trim();
    if let Some(rest) = strip_prefix_ci(s, "contact:") {
        s = rest.trim_start();
    }
    // Gather the `;`-separated segments of the URI and of the header params.
    let mut segments: Vec<&str> = Vec::new();
    // A quoted display name may itself contain '<' or '>'.
    let display_end = quoted_prefix_len(s);
    if let Some(lt) = s[display_end..].find('<').map(|i| i + display_end) {
        let rest = &s[lt + 1..];
        let gt = rest.find('>').ok_or(PnError::Unterminated)?;
        let uri = strip_uri_headers(&rest[..gt]);
        segments.extend(uri.split(';').skip(1));
        // Header params end at a ',' that starts the next contact.
        let header_params = rest[gt + 1..].split(',').next().unwrap_or("");
        segments.extend(header_params.split(';').skip(1));
    } else {
        // A stray '>' (as in the manual's own example) ends the URI.
        let uri = s.split('>').next().unwrap_or("");
        segments.extend(strip_uri_headers(uri).split(';').skip(1));
    }

    // [family][field] -> raw value
    let mut found: [[Option<&str>; 3]; 3] = Default::default();
    let mut purr: Option<&str> = None;
    for seg in segments {
        let (name, value) = match seg.split_once('=') {
            Some((n, v)) => (n.trim(), v.trim()),
            None => (seg.trim(), ""),
        };
        let slot = if name.eq_ignore_ascii_case("pn-purr") {
            &mut purr
        } else {
            let mut slot = None;
            for (fi, fam) in FAMILIES.iter().enumerate() {
                if let Some(ki) = fam.iter().position(|k| name.eq_ignore_ascii_case(k)) {
                    slot = Some((fi, ki));
                }
            }
            match slot {
                Some((fi, ki)) => &mut found[fi][ki],
                None => continue,
            }
        };
        if slot.is_some() {
            return Err(PnError::Duplicate(name.to_ascii_lowercase()));
        }
        *slot = Some(value);
    }

    // Per field, the newest family that has it wins.
    let pick = |ki: usize| -> Option<(&'static str, &str)> {
        (0..3).find_map(|fi| found[fi][ki].map(|v| (FAMILIES[fi][ki], v)))
    };
    let provider = pick(0);
    let param = pick(1);
    let prid = pick(2);
    let Some((pname, pvalue)) = provider else {
        return if param.is_some() || prid.is_some() || purr.is_some() {
            Err(PnError::MissingProvider)
        } else {
            Ok(None)
        };
    };
    let provider = PnProvider::from_name(&decode(pname, pvalue, 64)?);
    let param = param
        .map(|(n, v)| decode(n, v, MAX_PACKAGE_BYTES))
        .transpose()?;
    let prid = prid
        .map(|(n, v)| decode(n, v, MAX_TOKEN_BYTES))
        .transpose()?;
    let purr = purr
        .map(|v| decode("pn-purr", v, MAX_PURR_BYTES))
        .transpose()?;
    Ok(Some(PnParams {
        provider,
        param,
        prid,
        purr,
    }))
}

/// Length of a leading `"display name"` (with `\\`-escapes), else 0.
fn quoted_prefix_len(s: &str) -> usize {
    let b = s.as_bytes();
    if b.first() != Some(&b'"') {
        return 0;
    }
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    0
}

/// `sip:u@h;a=b?hdr=x` -> `sip:u@h;a=b`.
fn strip_uri_headers(uri: &str) -> &str {
    uri.split('?').next().unwrap_or("")
}

fn decode(name: &str, raw: &str, max: usize) -> Result<String, PnError> {
    if raw.is_empty() {
        return Err(PnError::EmptyValue(name.to_string()));
    }
    let v = percent_decode(raw).map_err(|e| match e {
        DecodeError::BadEscape => PnError::BadEscape(name.to_string()),
        DecodeError::NotUtf8 => PnError::NotUtf8(name.to_string()),
    })?;
    if v.len() > max {
        return Err(PnError::ValueTooLong {
            name: name.to_string(),
            len: v.len(),
            max,
        });
    }
    Ok(v)
}

/// Format as URI parameters, e.g. `;pn-provider=fcm;pn-param=x;pn-prid=y`,
/// %-escaping every value; absent fields are left out.
pub fn format_pn_params(p: &PnParams) -> String {
    let mut s = String::new();
    let fields = [
        ("pn-provider", Some(p.provider.name())),
        ("pn-param", p.param.as_deref()),
        ("pn-prid", p.prid.as_deref()),
        ("pn-purr", p.purr.as_deref()),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            s.push(';');
            s.push_str(name);
            s.push('=');
            s.push_str(&percent_encode_param(v));
        }
    }
    s
}

impl PnParams {
    /// `pn-prid=null`: remove the push binding.
    pub fn is_remove(&self) -> bool {
        self.prid
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("null"))
    }
}

/// Package used for Web Push bindings without `pn-param` (RFC 8599 does not
/// require one for webpush, X-MPUSH does).
pub const WEBPUSH_DEFAULT_PACKAGE: &str = "webpush";

/// The `X-MPUSH` equivalent: apns→`i`, fcm→`a`, webpush→`w`;
/// `pn-prid=null` → [`Mpush::Remove`]. For apns the package is
/// [`apns_bundle_id`] of `pn-param`.
pub fn pn_to_mpush(p: &PnParams) -> Result<Mpush, PnError> {
    let prid = p.prid.as_deref().ok_or(PnError::MissingPrid)?;
    if p.is_remove() {
        return Ok(Mpush::Remove);
    }
    let provider = match &p.provider {
        PnProvider::Apns => Provider::Apns,
        PnProvider::Fcm => Provider::AndroidFcm,
        PnProvider::WebPush => Provider::WebPush,
        PnProvider::Other(o) => return Err(PnError::UnsupportedProvider(truncate_for_error(o))),
    };
    let package = match (&p.param, &p.provider) {
        (Some(param), PnProvider::Apns) => apns_bundle_id(param).to_string(),
        (Some(param), _) => param.clone(),
        (None, PnProvider::WebPush) => WEBPUSH_DEFAULT_PACKAGE.to_string(),
        (None, other) => return Err(PnError::MissingParam(other.name().to_string())),
    };
    let b = MpushBinding {
        env: PushEnv::Default,
        provider,
        package,
        token: prid.to_string(),
    };
    b.validate()?;
    Ok(Mpush::Bind(b))
}

/// The bundle ID inside an RFC 8599 APNs `pn-param`, which has the form
/// `<Team ID>.<bundle ID>.<service>` (e.g. `DEF123GHIJ.com.example.app.voip`),
/// while X-MPUSH carries the bare bundle ID and the templates append `.voip`
/// themselves. Strips a leading 10-character Team ID (uppercase letters and
/// digits, only if a dotted bundle ID remains) and a trailing `.voip`;
/// anything else is returned unchanged (the manual's "auto" teamid rule).
pub fn apns_bundle_id(pn_param: &str) -> &str {
    let mut s = pn_param;
    if let Some((team, rest)) = s.split_once('.') {
        let team_like = team.len() == 10
            && team
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if team_like && rest.contains('.') {
            s = rest;
        }
    }
    match s.strip_suffix(".voip") {
        Some(b) if !b.is_empty() => b,
        _ => s,
    }
}

/// The RFC 8599 equivalent of a binding: `a`/`j`→fcm, `i`→apns, `w`→webpush.
/// The env letter has no RFC 8599 equivalent and is dropped.
pub fn mpush_to_pn(b: &MpushBinding) -> PnParams {
    let provider = match b.provider {
        Provider::AndroidFcm | Provider::IosFcm => PnProvider::Fcm,
        Provider::Apns => PnProvider::Apns,
        Provider::WebPush => PnProvider::WebPush,
    };
    PnParams {
        provider,
        param: Some(b.package.clone()),
        prid: Some(b.token.clone()),
        purr: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> PnParams {
        parse_pn_params(s).unwrap().unwrap()
    }

    #[test]
    fn manual_example_with_stray_gt() {
        let p = parse(
            "sip:1111@192.168.1.101:14501;pn-provider=fcm;pn-param=com.mycompany.myapp;pn-prid=ZTY4ZDJlMzODE1NmUgKi0K>",
        );
        assert_eq!(p.provider, PnProvider::Fcm);
        assert_eq!(p.param.as_deref(), Some("com.mycompany.myapp"));
        assert_eq!(p.prid.as_deref(), Some("ZTY4ZDJlMzODE1NmUgKi0K"));
    }

    #[test]
    fn name_addr_legacy_and_header_params() {
        let p = parse(
            "\"A\" <sip:a;x=y@h;PUSH-TOKEN-TYPE=apns;push-token-app=b.id;push-token-id=%41b?X=1>;pn-purr=z",
        );
        assert_eq!(p.provider, PnProvider::Apns);
        assert_eq!(p.prid.as_deref(), Some("Ab"));
        assert_eq!(p.purr.as_deref(), Some("z"));
        let p = parse("<sip:h;pn-type=firebase;app-id=x;pn-tok=t;pn-provider=webpush>");
        // New spelling wins per field.
        assert_eq!(p.provider, PnProvider::WebPush);
        assert_eq!(p.prid.as_deref(), Some("t"));
    }

    #[test]
    fn none_query_remove_and_errors() {
        assert_eq!(parse_pn_params("<sip:a@h;transport=tcp>"), Ok(None));
        assert!(parse("<sip:a@h;pn-provider=apns>").prid.is_none());
        assert!(parse("sip:h;pn-provider=fcm;pn-prid=NULL").is_remove());
        assert_eq!(
            parse_pn_params("<sip:h;pn-prid=x>"),
            Err(PnError::MissingProvider)
        );
        assert_eq!(
            parse_pn_params("<sip:h;pn-provider=fcm"),
            Err(PnError::Unterminated)
        );
        assert!(matches!(
            parse_pn_params("sip:h;pn-provider=fcm;pn-prid=%zz"),
            Err(PnError::BadEscape(_))
        ));
        assert!(matches!(
            parse_pn_params("sip:h;pn-provider=fcm;pn-provider=apns"),
            Err(PnError::Duplicate(_))
        ));
    }

    #[test]
    fn mapping_both_ways() {
        let p = parse("sip:h;pn-provider=fcm;pn-param=p;pn-prid=t:1");
        let Mpush::Bind(b) = pn_to_mpush(&p).unwrap() else {
            panic!()
        };
        assert_eq!(b.header_value(), "a:p:t:1");
        assert_eq!(mpush_to_pn(&b), p);
        let j = MpushBinding {
            provider: Provider::IosFcm,
            ..b
        };
        assert_eq!(mpush_to_pn(&j).provider, PnProvider::Fcm);
        let q = parse("sip:h;pn-provider=apns");
        assert_eq!(pn_to_mpush(&q), Err(PnError::MissingPrid));
        let w = parse("sip:h;pn-provider=webpush;pn-prid=x");
        assert_eq!(pn_to_mpush(&w).unwrap().header_value(), "w:webpush:x");
    }

    #[test]
    fn apns_bundle() {
        assert_eq!(
            apns_bundle_id("DEF123GHIJ.com.example.app.voip"),
            "com.example.app"
        );
        assert_eq!(apns_bundle_id("com.example.app.voip"), "com.example.app");
        assert_eq!(apns_bundle_id("com.example.app"), "com.example.app");
        assert_eq!(apns_bundle_id("DEF123GHIJ.app"), "DEF123GHIJ.app");
        assert_eq!(apns_bundle_id(".voip"), ".voip");
        assert_eq!(apns_bundle_id("def123ghij.com.x"), "def123ghij.com.x");
    }

    #[test]
    fn format_escapes() {
        let p = PnParams {
            provider: PnProvider::Fcm,
            param: Some("a b".into()),
            prid: Some("x;y=z".into()),
            purr: None,
        };
        let s = format_pn_params(&p);
        assert_eq!(s, ";pn-provider=fcm;pn-param=a%20b;pn-prid=x%3By%3Dz");
        assert_eq!(parse(&format!("sip:h{s}")), p);
    }
}

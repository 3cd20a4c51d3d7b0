//! [`Aor`]: a user's address-of-record, one type for every place that
//! names a user — the push store and the API (`sip:user@host`), the Path
//! registry (`user@host`: the same AOR without its scheme, so `sip:` and
//! `sips:` registrations of one user are one registration) and a
//! single-domain registrar (the user part).

use std::fmt;

use crate::uri::Uri;

/// A canonical SIP/SIPS address-of-record (RFC 3261 §10.3 step 5): scheme
/// and host lower-cased, the user part escaped uniformly, port kept,
/// parameters and headers dropped. See [`Uri::aor`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aor(String);

impl Aor {
    /// The AOR of a SIP or SIPS URI with a user part.
    pub fn from_uri(uri: &Uri<'_>) -> Option<Aor> {
        uri.user?;
        uri.aor().map(Aor)
    }

    /// An AOR as operators and APIs write it: a SIP/SIPS URI, or a bare
    /// `user@host` (taken as `sip:`). `None` without a user part.
    pub fn parse(s: &str) -> Option<Aor> {
        let s = s.trim();
        let lower = s.get(..5).unwrap_or("").to_ascii_lowercase();
        let uri = if lower.starts_with("sip:") || lower == "sips:" {
            s.to_owned()
        } else {
            format!("sip:{s}")
        };
        Aor::from_uri(&Uri::parse(&uri).ok()?)
    }

    /// `sip:user@host` (or `sips:`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `user@host`: the AOR without its scheme.
    pub fn without_scheme(&self) -> &str {
        self.0.split_once(':').map_or(&self.0, |(_, rest)| rest)
    }

    /// The (escaped) user part.
    pub fn user(&self) -> &str {
        self.without_scheme()
            .rsplit_once('@')
            .map_or("", |(user, _)| user)
    }

    /// `host` or `host:port`.
    pub fn host(&self) -> &str {
        self.without_scheme()
            .rsplit_once('@')
            .map_or(self.without_scheme(), |(_, host)| host)
    }
}

impl fmt::Display for Aor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_user_in_every_spelling() {
        let a = Aor::parse("sip:Alice@Example.COM").unwrap();
        assert_eq!(a.as_str(), "sip:Alice@example.com");
        assert_eq!(a.without_scheme(), "Alice@example.com");
        assert_eq!((a.user(), a.host()), ("Alice", "example.com"));
        assert_eq!(Aor::parse("Alice@example.com"), Some(a.clone()));
        assert_eq!(
            Aor::from_uri(&Uri::parse("sip:%41lice@example.com;transport=tcp").unwrap()),
            Aor::parse("sip:Alice@example.com"),
            "escaping and parameters do not make another user"
        );
        let s = Aor::parse("sips:alice@example.com:5061").unwrap();
        assert_eq!(s.as_str(), "sips:alice@example.com:5061");
        assert_eq!(s.without_scheme(), "alice@example.com:5061");
        assert_eq!(s.host(), "example.com:5061");
        assert_eq!(Aor::parse("example.com"), None, "no user part");
        assert_eq!(Aor::parse("tel:+123"), None);
        assert_eq!(a.to_string(), "sip:Alice@example.com");
    }
}

//! URI decoding (RFC 3261 §19.1, §25.1): sip/sips in detail, tel and other
//! schemes as opaque text. Borrowed slices; escapes are left as written
//! (use [`crate::text::percent_decode`] when comparing).

use crate::error::HeaderError;
use crate::text::{find_param, is_lws, params_ok};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme<'a> {
    Sip,
    Sips,
    Tel,
    Other(&'a str),
}

/// A decoded URI. For non-SIP schemes only `scheme` and `opaque` are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    /// The URI exactly as written.
    pub raw: &'a str,
    pub scheme: Scheme<'a>,
    /// Everything after `scheme:`.
    pub opaque: &'a str,
    /// User part (may contain `;` and escapes, RFC 4475 semiuri), SIP only.
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    /// Host; IPv6 references keep their brackets. Empty for non-SIP schemes.
    pub host: &'a str,
    pub port: Option<u16>,
    /// `;`-separated uri-parameters including the leading `;` (or empty).
    pub params: &'a str,
    /// The headers part after `?`, without the `?`.
    pub headers: Option<&'a str>,
}

const ERR: &str = "Request-URI";

impl<'a> Uri<'a> {
    /// Parses a URI. Whitespace anywhere is an error (RFC 4475 lwsruri).
    pub fn parse(raw: &'a str) -> Result<Uri<'a>, HeaderError> {
        Self::parse_as(raw, ERR)
    }

    pub(crate) fn parse_as(raw: &'a str, header: &'static str) -> Result<Uri<'a>, HeaderError> {
        let err = |what| HeaderError::new(header, what);
        if raw.is_empty() {
            return Err(err("empty URI"));
        }
        if raw.bytes().any(is_lws) {
            return Err(err("whitespace in URI"));
        }
        let colon = raw.find(':').ok_or(err("URI has no scheme"))?;
        let scheme_str = &raw[..colon];
        if scheme_str.is_empty()
            || !scheme_str.as_bytes()[0].is_ascii_alphabetic()
            || !scheme_str
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(err("invalid URI scheme"));
        }
        let opaque = &raw[colon + 1..];
        let scheme = if scheme_str.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme_str.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme_str.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            Scheme::Other(scheme_str)
        };
        let mut uri = Uri {
            raw,
            scheme,
            opaque,
            user: None,
            password: None,
            host: "",
            port: None,
            params: "",
            headers: None,
        };
        if !matches!(scheme, Scheme::Sip | Scheme::Sips) {
            if opaque.is_empty() {
                return Err(err("empty URI"));
            }
            return Ok(uri);
        }
        // `@` cannot appear literally in params or headers, but `?`, `;` and
        // `:` can appear in the user part (RFC 4475 intmeth, semiuri): so
        // split the userinfo off at the last `@` first.
        let hostpart = match opaque.rfind('@') {
            Some(at) => {
                let userinfo = &opaque[..at];
                let (user, password) = match userinfo.find(':') {
                    Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                    None => (userinfo, None),
                };
                if user.is_empty() {
                    return Err(err("empty user part"));
                }
                uri.user = Some(user);
                uri.password = password;
                &opaque[at + 1..]
            }
            None => opaque,
        };
        let hostpart = match hostpart.find('?') {
            Some(q) => {
                uri.headers = Some(&hostpart[q + 1..]);
                &hostpart[..q]
            }
            None => hostpart,
        };
        let (hostport, params) = match hostpart.find(';') {
            Some(s) => (&hostpart[..s], &hostpart[s..]),
            None => (hostpart, ""),
        };
        uri.params = params;
        let (host, port) = if hostport.starts_with('[') {
            let close = hostport
                .find(']')
                .ok_or(err("unterminated IPv6 reference"))?;
            let rest = &hostport[close + 1..];
            let port = match rest.strip_prefix(':') {
                Some(p) => Some(p),
                None if rest.is_empty() => None,
                None => return Err(err("junk after IPv6 reference")),
            };
            (&hostport[..=close], port)
        } else {
            match hostport.find(':') {
                Some(c) => (&hostport[..c], Some(&hostport[c + 1..])),
                None => (hostport, None),
            }
        };
        if host.is_empty() || !valid_host(host) {
            return Err(err("invalid host"));
        }
        uri.host = host;
        if let Some(p) = port {
            uri.port = Some(parse_port(p).ok_or(err("invalid port"))?);
        }
        if !params_ok(params) {
            return Err(err("malformed uri-parameter"));
        }
        Ok(uri)
    }

    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// A uri-parameter by name: `Some(None)` for valueless ones like `lr`.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        find_param(self.params, name)
    }

    /// Whether the URI carries `;lr` (loose routing).
    pub fn lr(&self) -> bool {
        self.param("lr").is_some()
    }

    /// `transport` parameter, if any.
    pub fn transport(&self) -> Option<&'a str> {
        self.param("transport").flatten()
    }

    /// A canonical address-of-record key for SIP/SIPS URIs (RFC 3261
    /// §10.3 step 5, §19.1.4): scheme and host lower-cased, user part
    /// unescaped then re-escaped uniformly (so `%75ser` and `user` are the
    /// same AOR, and an escaped NUL stays distinct, RFC 4475 esc01/escnull),
    /// port kept, parameters and headers dropped. `None` for other schemes.
    pub fn aor(&self) -> Option<String> {
        let scheme = match self.scheme {
            Scheme::Sip => "sip:",
            Scheme::Sips => "sips:",
            _ => return None,
        };
        let mut out = String::with_capacity(self.raw.len());
        out.push_str(scheme);
        if let Some(user) = self.user {
            for b in crate::text::percent_decode(user) {
                if b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b) {
                    out.push(char::from(b));
                } else {
                    out.push('%');
                    out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
                    out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
                }
            }
            out.push('@');
        }
        out.push_str(&self.host.to_ascii_lowercase());
        if let Some(p) = self.port {
            out.push(':');
            out.push_str(&p.to_string());
        }
        Some(out)
    }

    /// `host:port` with the default port omitted when absent.
    pub fn host_port(&self) -> (&'a str, Option<u16>) {
        (self.host, self.port)
    }
}

pub(crate) fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

/// hostname / IPv4 / `[IPv6]` character check (not a full grammar).
pub(crate) fn valid_host(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[') {
        return inner.strip_suffix(']').is_some_and(|v6| {
            !v6.is_empty()
                && v6
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        });
    }
    h.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_parts() {
        let u = Uri::parse("sips:alice:pw@[2001:db8::1]:5061;transport=tcp;lr?Subject=hi").unwrap();
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("pw"));
        assert_eq!(u.host, "[2001:db8::1]");
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.lr());
        assert_eq!(u.headers, Some("Subject=hi"));
    }

    #[test]
    fn user_with_semicolon() {
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.host, "example.com");
        assert_eq!(u.params, "");
    }

    #[test]
    fn user_with_question_mark_and_password() {
        let u = Uri::parse("sip:a?b,/;;*:&p=1,w!@example.com;lr?X=1").unwrap();
        assert_eq!(u.user, Some("a?b,/;;*"));
        assert_eq!(u.password, Some("&p=1,w!"));
        assert_eq!(u.host, "example.com");
        assert!(u.lr());
        assert_eq!(u.headers, Some("X=1"));
    }

    #[test]
    fn other_schemes_are_opaque() {
        let u = Uri::parse("tel:+1-201-555-0123").unwrap();
        assert_eq!(u.scheme, Scheme::Tel);
        assert_eq!(u.opaque, "+1-201-555-0123");
        let u = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(u.scheme, Scheme::Other("soap.beep"));
    }

    #[test]
    fn aor_keys() {
        let a = |s| Uri::parse(s).unwrap().aor();
        assert_eq!(
            a("sip:%75se%72@Example.COM;transport=tcp"),
            Some("sip:user@example.com".into())
        );
        assert_eq!(
            a("SIP:user@example.com?X=1"),
            Some("sip:user@example.com".into())
        );
        assert_eq!(
            a("sip:null-%00-null@example.com"),
            Some("sip:null-%00-null@example.com".into())
        );
        assert_ne!(a("sip:%00@h"), a("sip:%00%00@h"));
        assert_eq!(
            a("sip:I%20have%20spaces@h:5070"),
            Some("sip:I%20have%20spaces@h:5070".into())
        );
        assert_eq!(a("sips:example.com"), Some("sips:example.com".into()));
        assert_eq!(a("tel:+123"), None);
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "sip:",
            "sip:user@",
            "sip:a b@c",
            "sip:host:99999",
            "sip:host:x",
            "<sip:a@b>",
            "sip:[::1",
            "sip:host;;",
            "1sip:x",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }
}

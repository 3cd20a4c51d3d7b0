//! `name-addr` / `addr-spec` values with header parameters: From, To,
//! Contact, Route, Record-Route, Path (RFC 3261 §20.10, §25.1).

use crate::error::HeaderError;
use crate::text::{find_param, is_lws, is_token_char, params_ok, skip_quoted, trim_lws};
use crate::uri::Uri;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Display name as written: quoted (with quotes) or token sequence.
    pub display: Option<&'a str>,
    pub uri: Uri<'a>,
    /// Whether the URI was enclosed in `<>`.
    pub angle: bool,
    /// Header parameters after the URI, starting with `;` (or empty).
    pub params: &'a str,
    /// Byte range of the URI inside the parsed value (for in-place rewrites).
    pub uri_range: (usize, usize),
}

impl<'a> NameAddr<'a> {
    /// Parses one value. `header` names the field for error messages.
    pub fn parse(value: &'a str, header: &'static str) -> Result<NameAddr<'a>, HeaderError> {
        let err = |what| HeaderError::new(header, what);
        let b = value.as_bytes();
        let start = b.iter().take_while(|&&c| is_lws(c)).count();
        let mut i = start;
        let mut display = None;
        if b.get(i) == Some(&b'"') {
            let end = skip_quoted(b, i).ok_or(err("unterminated quoted string"))?;
            display = Some(&value[i..end]);
            i = end;
            while i < b.len() && is_lws(b[i]) {
                i += 1;
            }
            if b.get(i) != Some(&b'<') {
                return Err(err("display name without <URI>"));
            }
        } else if let Some(lt) = value[i..].find('<') {
            // Unquoted display name: tokens separated by LWS only (baddn).
            let dn = trim_lws(&value[i..i + lt]);
            if !dn.bytes().all(|c| is_token_char(c) || is_lws(c)) {
                return Err(err("display name must be tokens or a quoted string"));
            }
            if !dn.is_empty() {
                display = Some(dn);
            }
            i += lt;
        }
        if b.get(i) == Some(&b'<') {
            let close = value[i..].find('>').ok_or(err("missing >"))? + i;
            let uri_s = &value[i + 1..close];
            let uri = Uri::parse_as(uri_s, header)?;
            let params = &value[close + 1..];
            if !params_ok(params) {
                return Err(err("malformed parameter"));
            }
            return Ok(NameAddr {
                display,
                uri,
                angle: true,
                params,
                uri_range: (i + 1, close),
            });
        }
        // addr-spec form: the URI ends at the first `;` and cannot carry
        // `?headers` or `,` (those need <>, RFC 3261 §20.10; regbadct).
        let rest = &value[i..];
        let end = rest.find(';').unwrap_or(rest.len());
        let uri_s = trim_lws(&rest[..end]);
        if uri_s.contains(['?', ',']) {
            return Err(err("URI with headers or comma must be enclosed in <>"));
        }
        let uri = Uri::parse_as(uri_s, header)?;
        let params = &rest[end..];
        if !params_ok(params) {
            return Err(err("malformed parameter"));
        }
        Ok(NameAddr {
            display,
            uri,
            angle: false,
            params,
            uri_range: (i, i + uri_s.len()),
        })
    }

    /// A header parameter (`tag`, `expires`, `+sip.instance`, `q` …).
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        find_param(self.params, name)
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&'a str> {
        self.param("tag").flatten()
    }

    /// Contact `expires` parameter; overlarge values saturate (RFC 3261
    /// §20.19), non-numbers are `None`.
    pub fn expires(&self) -> Option<u32> {
        let v = self.param("expires").flatten()?;
        crate::text::parse_decimal(v).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Contact `+sip.instance` (RFC 5626) without quotes and `<>`, e.g.
    /// `urn:uuid:…`.
    pub fn sip_instance(&self) -> Option<&'a str> {
        let v = crate::text::unquote(self.param("+sip.instance").flatten()?);
        Some(
            v.strip_prefix('<')
                .and_then(|v| v.strip_suffix('>'))
                .unwrap_or(v),
        )
    }

    /// Contact `reg-id` (RFC 5626).
    pub fn reg_id(&self) -> Option<u32> {
        self.param("reg-id").flatten()?.parse().ok()
    }

    /// Display name without quotes.
    pub fn display_unquoted(&self) -> Option<&'a str> {
        self.display.map(crate::text::unquote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let n = NameAddr::parse(r#""Bell, A" <sip:a@b;lr>;tag=1"#, "From").unwrap();
        assert_eq!(n.display, Some(r#""Bell, A""#));
        assert_eq!(n.uri.host, "b");
        assert!(n.uri.lr());
        assert_eq!(n.tag(), Some("1"));
        let n = NameAddr::parse("sip:caller@example.net;tag=134", "From").unwrap();
        assert!(!n.angle);
        assert_eq!(n.uri.raw, "sip:caller@example.net");
        assert_eq!(n.tag(), Some("134"));
        let n = NameAddr::parse("caller<sip:a@b>", "To").unwrap();
        assert_eq!(n.display, Some("caller"));
        let v = "A <sip:a@b>;x=1";
        let n = NameAddr::parse(v, "To").unwrap();
        assert_eq!(&v[n.uri_range.0..n.uri_range.1], "sip:a@b");
    }

    #[test]
    fn outbound_contact_params() {
        let v = r#"<sip:a@10.0.0.1;ob;pn-provider=fcm>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1;expires=99999999999"#;
        let n = NameAddr::parse(v, "Contact").unwrap();
        assert_eq!(
            n.sip_instance(),
            Some("urn:uuid:00000000-0000-1000-8000-000A95A0E128")
        );
        assert_eq!(n.reg_id(), Some(1));
        assert_eq!(n.expires(), Some(u32::MAX));
        assert_eq!(n.uri.param("pn-provider"), Some(Some("fcm")));
        assert_eq!(n.uri.param("ob"), Some(None));
    }

    #[test]
    fn rejects() {
        for bad in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            "Bell, Alexander <sip:a@b>",
            "< sip:a@b >",
            "sip:user@example.com?Route=%3Csip:x%3E",
            r#""Joe" <sip:joe@example.org>;;;;"#,
            "<sip:a@b",
            "",
        ] {
            assert!(NameAddr::parse(bad, "To").is_err(), "{bad}");
        }
    }
}

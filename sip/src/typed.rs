//! Lazy typed accessors on [`Message`]: each decodes one header on demand.

use crate::auth::AuthValue;
use crate::error::HeaderError;
use crate::message::Message;
use crate::name::{self, Known};
use crate::nameaddr::NameAddr;
use crate::text::{is_lws, is_token, parse_decimal, trim_lws};
use crate::uri::Uri;
use crate::via::Via;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    pub seq: u32,
    pub method: &'a str,
}

impl<'a> CSeq<'a> {
    /// Parses `1*DIGIT LWS Method`; numbers above 2^32-1 are an error
    /// (RFC 3261 §8.1.1.5, RFC 4475 scalar02).
    pub fn parse(v: &'a str) -> Result<CSeq<'a>, HeaderError> {
        let err = |what| HeaderError::new("CSeq", what);
        let v = trim_lws(v);
        let sp = v.bytes().position(is_lws).ok_or(err("missing method"))?;
        let seq = parse_decimal(&v[..sp]).ok_or(err("sequence number is not a number"))?;
        let seq = u32::try_from(seq).map_err(|_| err("sequence number exceeds 2^32-1"))?;
        let method = trim_lws(&v[sp..]);
        if !is_token(method) {
            return Err(err("invalid method"));
        }
        Ok(CSeq { seq, method })
    }
}

/// The Contact header set of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts<'a> {
    /// `Contact: *` (REGISTER remove-all).
    Star,
    List(Vec<NameAddr<'a>>),
}

impl Message {
    /// The single value of a header that must occur exactly once.
    fn single(&self, k: Known) -> Result<&str, HeaderError> {
        let mut it = self.known_fields(k);
        let first = it.next().ok_or(HeaderError::new(k.name, "missing"))?;
        if it.next().is_some() {
            return Err(HeaderError::new(k.name, "appears more than once"));
        }
        Ok(first.value)
    }

    /// The single value of an optional header.
    fn optional(&self, k: Known) -> Result<Option<&str>, HeaderError> {
        match self.single(k) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.what == "missing" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Call-ID (exactly one, non-empty, no whitespace).
    pub fn call_id(&self) -> Result<&str, HeaderError> {
        let v = self.single(name::CALL_ID)?;
        if v.is_empty() || v.bytes().any(is_lws) {
            return Err(HeaderError::new("Call-ID", "invalid value"));
        }
        Ok(v)
    }

    pub fn cseq(&self) -> Result<CSeq<'_>, HeaderError> {
        CSeq::parse(self.single(name::CSEQ)?)
    }

    pub fn from(&self) -> Result<NameAddr<'_>, HeaderError> {
        NameAddr::parse(self.single(name::FROM)?, "From")
    }

    pub fn to(&self) -> Result<NameAddr<'_>, HeaderError> {
        NameAddr::parse(self.single(name::TO)?, "To")
    }

    /// Max-Forwards; overlarge values saturate at `u32::MAX` (tolerated,
    /// RFC 4475 scalar02).
    pub fn max_forwards(&self) -> Result<Option<u32>, HeaderError> {
        self.scalar(name::MAX_FORWARDS)
    }

    /// Content-Length as declared.
    pub fn content_length(&self) -> Result<Option<u32>, HeaderError> {
        self.scalar(name::CONTENT_LENGTH)
    }

    /// Expires header; values above 2^32-1 saturate (RFC 3261 §20.19).
    pub fn expires(&self) -> Result<Option<u32>, HeaderError> {
        self.scalar(name::EXPIRES)
    }

    fn scalar(&self, k: Known) -> Result<Option<u32>, HeaderError> {
        match self.optional(k)? {
            None => Ok(None),
            Some(v) => parse_decimal(v)
                .map(|n| Some(u32::try_from(n).unwrap_or(u32::MAX)))
                .ok_or(HeaderError::new(k.name, "not a number")),
        }
    }

    /// All Via values, top first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, HeaderError>> + '_ {
        self.known_values(name::VIA).map(Via::parse)
    }

    pub fn top_via(&self) -> Result<Via<'_>, HeaderError> {
        self.vias()
            .next()
            .ok_or(HeaderError::new("Via", "missing"))?
    }

    /// Contact values; `*` is only valid alone.
    pub fn contacts(&self) -> Result<Contacts<'_>, HeaderError> {
        let mut list = Vec::new();
        let mut star = false;
        for v in self.known_values(name::CONTACT) {
            if v == "*" {
                star = true;
            } else {
                list.push(NameAddr::parse(v, "Contact")?);
            }
        }
        match (star, list.is_empty()) {
            (true, true) => Ok(Contacts::Star),
            (true, false) => Err(HeaderError::new("Contact", "* mixed with other values")),
            (false, _) => Ok(Contacts::List(list)),
        }
    }

    fn name_addrs(&self, k: Known) -> Result<Vec<NameAddr<'_>>, HeaderError> {
        let name = k.name;
        self.known_values(k)
            .map(|v| NameAddr::parse(v, name))
            .collect()
    }

    pub fn routes(&self) -> Result<Vec<NameAddr<'_>>, HeaderError> {
        self.name_addrs(name::ROUTE)
    }

    pub fn record_routes(&self) -> Result<Vec<NameAddr<'_>>, HeaderError> {
        self.name_addrs(name::RECORD_ROUTE)
    }

    pub fn paths(&self) -> Result<Vec<NameAddr<'_>>, HeaderError> {
        self.name_addrs(name::PATH)
    }

    /// Option tags of an option-tag list header (Require, Proxy-Require,
    /// Supported, Unsupported).
    pub fn option_tags<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.values(name).filter(|t| !t.is_empty())
    }

    /// The decoded Request-URI (`None` for responses).
    pub fn uri(&self) -> Option<Result<Uri<'_>, HeaderError>> {
        self.request_uri().map(Uri::parse)
    }

    /// Authentication values of one header (`Authorization`,
    /// `Proxy-Authorization`, `WWW-Authenticate`, `Proxy-Authenticate`):
    /// one per field, since their parameters contain commas.
    pub fn auth_values<'s>(
        &'s self,
        name: &'static str,
    ) -> impl Iterator<Item = Result<AuthValue<'s>, HeaderError>> + 's {
        self.headers_named(name)
            .map(move |h| AuthValue::parse(h.value, name))
    }

    /// Whether the message carries this option tag in `Supported` (or `k`).
    pub fn supports(&self, tag: &str) -> bool {
        self.known_values(name::SUPPORTED)
            .filter(|t| !t.is_empty())
            .any(|t| t.eq_ignore_ascii_case(tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq() {
        assert_eq!(
            CSeq::parse("4711 INVITE").unwrap(),
            CSeq {
                seq: 4711,
                method: "INVITE"
            }
        );
        assert_eq!(CSeq::parse("4294967295 ACK").unwrap().seq, u32::MAX);
        assert!(CSeq::parse("4294967296 ACK").is_err());
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("1").is_err());
        assert!(CSeq::parse("x INVITE").is_err());
    }
}

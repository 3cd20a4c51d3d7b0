//! Request/response validation for a proxy or registrar (RFC 3261 §8.2,
//! §16.3, §18.1.2; RFC 4475). Proxy-only decisions (Max-Forwards 0,
//! Proxy-Require) are separate functions so an endpoint can skip them.

use crate::error::HeaderError;
use crate::message::{BodyIssue, Message, StartLineIssue};
use crate::uri::{Scheme, Uri};

/// Why a request is refused, ready for [`crate::response_to`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub code: u16,
    /// Reason phrase, e.g. `Bad Request - CSeq: appears more than once`.
    pub reason: String,
    /// Option tags for an `Unsupported` header (420 only).
    pub unsupported: Vec<String>,
}

impl Reject {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
            unsupported: Vec::new(),
        }
    }

    fn bad(what: impl std::fmt::Display) -> Self {
        Self::new(400, format!("Bad Request - {what}"))
    }
}

impl From<HeaderError> for Reject {
    fn from(e: HeaderError) -> Self {
        Reject::bad(e)
    }
}

/// Checks that a request is well formed enough to process or forward.
/// `Err` carries the response to send: 400 (malformed), 505 (version),
/// 416 (Request-URI scheme other than sip, sips, tel).
pub fn validate_request(m: &Message) -> Result<(), Reject> {
    let (Some(method), Some(ruri)) = (m.method(), m.request_uri()) else {
        return Err(Reject::bad("not a request"));
    };
    if let Some(issue) = m.body_issue() {
        return Err(Reject::bad(match issue {
            BodyIssue::BadContentLength => "invalid Content-Length",
            BodyIssue::DuplicateContentLength => "multiple Content-Length",
            BodyIssue::ContentLengthTooLarge => "Content-Length larger than message",
        }));
    }
    check_version(m.version())?;
    if let Some(issue) = m.start_line_issue() {
        return Err(Reject::bad(match issue {
            StartLineIssue::ExtraWhitespace => "extra whitespace in Request-Line",
            StartLineIssue::WhitespaceInUri => "whitespace in Request-URI",
        }));
    }
    if ruri.starts_with('<') {
        return Err(Reject::bad("Request-URI enclosed in <>"));
    }
    let uri = Uri::parse(ruri)?;
    match uri.scheme {
        Scheme::Sip | Scheme::Sips => {
            if uri.headers.is_some() {
                return Err(Reject::bad("headers in Request-URI"));
            }
        }
        Scheme::Tel => {}
        Scheme::Other(_) => return Err(Reject::new(416, "Unsupported URI Scheme")),
    }
    m.call_id()?;
    m.from()?;
    m.to()?;
    let cseq = m.cseq()?;
    if cseq.method != method {
        return Err(Reject::bad("CSeq method does not match the request method"));
    }
    m.max_forwards()?;
    check_vias(m)?;
    m.contacts()?;
    m.routes()?;
    m.record_routes()?;
    if m.headers_unterminated() {
        return Err(Reject::bad("header section not terminated"));
    }
    Ok(())
}

fn check_version(v: &str) -> Result<(), Reject> {
    if v.eq_ignore_ascii_case("SIP/2.0") {
        Ok(())
    } else if v.len() > 4 && v.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
        Err(Reject::new(505, "Version Not Supported"))
    } else {
        Err(Reject::bad("malformed SIP-Version"))
    }
}

fn check_vias(m: &Message) -> Result<(), HeaderError> {
    let mut n = 0;
    for v in m.vias() {
        v?;
        n += 1;
    }
    if n == 0 {
        return Err(HeaderError::new("Via", "missing"));
    }
    Ok(())
}

/// RFC 3261 §16.3 step 3 for a proxy: Max-Forwards 0 ⇒ 483 Too Many Hops
/// (OPTIONS addressed to the proxy itself may be answered instead).
pub fn check_max_forwards(m: &Message) -> Result<(), Reject> {
    match m.max_forwards() {
        Ok(Some(0)) => Err(Reject::new(483, "Too Many Hops")),
        _ => Ok(()),
    }
}

/// RFC 3261 §16.3 step 5: option tags in Proxy-Require that this proxy does
/// not support ⇒ 420 Bad Extension with `Unsupported` listing them.
pub fn check_proxy_require(m: &Message, supported: &[&str]) -> Result<(), Reject> {
    unsupported_tags(m, "Proxy-Require", supported)
}

/// RFC 3261 §8.2.2.3 for a UAS/registrar: the same check on Require.
pub fn check_require(m: &Message, supported: &[&str]) -> Result<(), Reject> {
    unsupported_tags(m, "Require", supported)
}

fn unsupported_tags(m: &Message, header: &str, supported: &[&str]) -> Result<(), Reject> {
    let missing: Vec<String> = m
        .option_tags(header)
        .filter(|t| !supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .map(str::to_owned)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Reject {
        code: 420,
        reason: "Bad Extension".into(),
        unsupported: missing,
    })
}

/// A registrar's extra check (RFC 3261 §10.3 step 5 and RFC 4475 unksm2):
/// To must be a SIP/SIPS AOR and Contact values well formed.
pub fn validate_register(m: &Message) -> Result<(), Reject> {
    let to = m.to()?;
    if !to.uri.is_sip() {
        return Err(Reject::bad("To is not a SIP or SIPS URI"));
    }
    // Each Contact value must decode (an empty value is an error too).
    m.contacts()?;
    Ok(())
}

/// Why a received response must be silently discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discard(pub String);

/// Checks a response before a proxy forwards it (RFC 3261 §18.1.2, §16.7;
/// RFC 4475 scalarlg, bcast). Invalid responses are dropped, never answered.
pub fn validate_response(m: &Message) -> Result<(), Discard> {
    let d = |e: &dyn std::fmt::Display| Discard(e.to_string());
    if m.status().is_none() {
        return Err(Discard("not a response".into()));
    }
    if let Some(issue) = m.body_issue() {
        return Err(Discard(format!("{issue:?}")));
    }
    if !m.version().eq_ignore_ascii_case("SIP/2.0") {
        return Err(Discard("unsupported SIP version".into()));
    }
    m.call_id().map_err(|e| d(&e))?;
    m.from().map_err(|e| d(&e))?;
    m.to().map_err(|e| d(&e))?;
    m.cseq().map_err(|e| d(&e))?;
    let mut n = 0;
    for v in m.vias() {
        let v = v.map_err(|e| d(&e))?;
        if is_broadcast(v.host) {
            return Err(Discard("Via sent-by is a broadcast address".into()));
        }
        n += 1;
    }
    if n == 0 {
        return Err(Discard("no Via".into()));
    }
    Ok(())
}

fn is_broadcast(host: &str) -> bool {
    host == "255.255.255.255"
}

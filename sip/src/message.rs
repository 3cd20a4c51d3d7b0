//! The zero-copy message view: a `Bytes` buffer plus spans of the start line
//! and header fields. Nothing is decoded until a caller asks.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;

use crate::error::ParseError;
use crate::name;
use crate::text::{ListIter, is_token_char, parse_decimal};

/// Upper bound on header fields per message (a DoS guard, not an RFC rule).
pub const MAX_HEADERS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Self {
        // Messages are bounded far below 4 GiB by the framers.
        Self {
            start: start as u32,
            end: end as u32,
        }
    }
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One header field as indexed at parse time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    /// The whole field: name through the line ending of its last line.
    pub line: Span,
    pub name: Span,
    /// Value without surrounding whitespace; may contain folded line breaks.
    pub value: Span,
    pub known: Option<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Request {
        method: Span,
        uri: Span,
        version: Span,
    },
    Response {
        version: Span,
        code: u16,
        reason: Span,
    },
}

/// The decoded start line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    Request {
        method: &'a str,
        uri: &'a str,
        version: &'a str,
    },
    Response {
        version: &'a str,
        code: u16,
        reason: &'a str,
    },
}

/// A problem with the body framing of a datagram, recorded by the parser so a
/// request can still get a 400 (RFC 4475 clerr, ncl, mcl01).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyIssue {
    /// Content-Length is not a non-negative decimal number; body discarded.
    BadContentLength,
    /// Content-Length appears more than once; body discarded.
    DuplicateContentLength,
    /// Content-Length announces more octets than the datagram holds.
    ContentLengthTooLarge,
}

/// A problem with the request line that a liberal element could ignore but
/// this crate reports (so it is never forwarded): RFC 4475 lwsstart, trws,
/// lwsruri.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLineIssue {
    /// More than one SP between elements, or trailing whitespace.
    ExtraWhitespace,
    /// Whitespace inside the Request-URI.
    WhitespaceInUri,
}

/// A header name for lookups: a known header's index or another name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key<'a> {
    Known(u8),
    Other(&'a str),
}

impl<'a> From<&'a str> for Key<'a> {
    fn from(name: &'a str) -> Self {
        match name::known_index(name) {
            Some(i) => Key::Known(i),
            None => Key::Other(name),
        }
    }
}

impl From<name::Known> for Key<'static> {
    fn from(k: name::Known) -> Self {
        Key::Known(k.idx)
    }
}

/// One header field, borrowed from the message.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// The name as written (may be a compact form such as `v`).
    pub name: &'a str,
    /// The value as written, without surrounding whitespace. Folded values
    /// keep their line breaks; see [`Header::unfolded`].
    pub value: &'a str,
    pub(crate) index: usize,
}

impl<'a> Header<'a> {
    /// The canonical name (`v` → `Via`).
    pub fn canonical_name(&self) -> &'a str {
        name::canonical(self.name)
    }
    /// The value with folded line breaks replaced by a single SP.
    pub fn unfolded(&self) -> Cow<'a, str> {
        unfold(self.value)
    }
    /// Position of this field among all header fields of the message.
    pub fn index(&self) -> usize {
        self.index
    }
}

/// Replaces each CRLF (or LF) plus following whitespace with one SP
/// (RFC 3261 §7.3.1). Borrows when there is nothing to unfold.
pub fn unfold(v: &str) -> Cow<'_, str> {
    if !v.contains('\n') {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len());
    for part in v.split('\n') {
        let part = part.trim_matches([' ', '\t', '\r']);
        if part.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(part);
    }
    Cow::Owned(out)
}

/// A parsed SIP message: the original bytes plus an index of spans.
///
/// `Debug` shows the start line and header names only: values may carry
/// secrets (X-PIID, Authorization) that must not reach logs.
#[derive(Clone)]
pub struct Message {
    raw: Bytes,
    kind: Kind,
    pub(crate) fields: Vec<Field>,
    /// Offset where the header fields start (just past the start line).
    pub(crate) headers_start: u32,
    /// Offset of the empty line that ends the header section.
    pub(crate) headers_end: u32,
    /// Offset of the first body octet.
    pub(crate) body_start: u32,
    body_issue: Option<BodyIssue>,
    start_issue: Option<StartLineIssue>,
    unterminated: bool,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers().map(|h| h.name).collect();
        f.debug_struct("Message")
            .field("start_line", &self.start_line())
            .field("headers", &names)
            .field("body_len", &self.body().len())
            .finish()
    }
}

impl Message {
    /// Parses one complete message. The end of `buf` is the end of the
    /// message (datagram semantics, RFC 3261 §18.3): without Content-Length
    /// the body is the rest; octets beyond Content-Length are cut off and not
    /// part of [`Message::raw`]; a Content-Length larger than what is present
    /// is recorded as a [`BodyIssue`]. CRLFs before the start line are skipped.
    pub fn parse(buf: Bytes) -> Result<Message, ParseError> {
        // Spans are u32; real limits (framer, datagram) are far lower.
        if buf.len() > u32::MAX as usize {
            return Err(ParseError::TooLarge(buf.len()));
        }
        let skip = buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let b = &buf[skip..];
        if b.is_empty() {
            return Err(ParseError::Empty);
        }
        let mut lines = Lines { b, pos: 0 };
        let Some((sl_start, sl_end)) = lines.next_line() else {
            return Err(ParseError::Incomplete);
        };
        let headers_start = lines.pos;
        let mut fields: Vec<Field> = Vec::with_capacity(16);
        let mut headers_end = None;
        let mut line_no = 1;
        while let Some((ls, le)) = lines.next_line() {
            line_no += 1;
            if ls == le {
                headers_end = Some((ls, lines.pos));
                break;
            }
            let line = &b[ls..le];
            if matches!(line[0], b' ' | b'\t') {
                let Some(prev) = fields.last_mut() else {
                    return Err(ParseError::HeaderLine {
                        line: line_no,
                        what: "continuation without a header",
                    });
                };
                let trimmed_end = le - trailing_ws(line);
                if trimmed_end > ls {
                    // A folded-only first line leaves an empty value; start it here.
                    if prev.value.start == prev.value.end {
                        let lead = line
                            .iter()
                            .take_while(|c| matches!(c, b' ' | b'\t'))
                            .count();
                        prev.value.start = (ls + lead) as u32;
                    }
                    prev.value.end = trimmed_end as u32;
                }
                prev.line.end = lines.pos as u32;
                continue;
            }
            let Some(colon) = line.iter().position(|&c| c == b':') else {
                return Err(ParseError::HeaderLine {
                    line: line_no,
                    what: "missing colon",
                });
            };
            let name_end = colon - trailing_ws(&line[..colon]);
            let name = &line[..name_end];
            if name.is_empty() || !name.iter().all(|&c| is_token_char(c)) {
                return Err(ParseError::HeaderLine {
                    line: line_no,
                    what: "invalid header name",
                });
            }
            let after = &line[colon + 1..];
            let lead = after
                .iter()
                .take_while(|c| matches!(c, b' ' | b'\t'))
                .count();
            let vs = ls + colon + 1 + lead;
            let ve = (le - trailing_ws(line)).max(vs);
            if fields.len() >= MAX_HEADERS {
                return Err(ParseError::TooManyHeaders(MAX_HEADERS));
            }
            let name_str = std::str::from_utf8(name).map_err(|_| ParseError::NotUtf8)?;
            fields.push(Field {
                line: Span::new(ls, lines.pos),
                name: Span::new(ls, ls + name_end),
                value: Span::new(vs, ve),
                known: name::known_index(name_str),
            });
        }
        // A datagram whose last header line ends the buffer without the empty
        // line (RFC 4475 baddn) is still indexed so it can get its 400.
        let unterminated = headers_end.is_none();
        let (headers_end, body_start) = match headers_end {
            Some(h) => h,
            None if b.ends_with(b"\n") => (b.len(), b.len()),
            None => return Err(ParseError::Incomplete),
        };
        std::str::from_utf8(&b[..body_start]).map_err(|_| ParseError::NotUtf8)?;

        let mut body_issue = None;
        let mut body_end = b.len();
        let mut cl_fields = fields
            .iter()
            .filter(|f| f.known == Some(name::CONTENT_LENGTH.idx));
        if let Some(first) = cl_fields.next() {
            if cl_fields.next().is_some() {
                body_issue = Some(BodyIssue::DuplicateContentLength);
                body_end = body_start;
            } else {
                let v = std::str::from_utf8(&b[first.value.range()]).unwrap_or("");
                match parse_decimal(v) {
                    Some(n) if n <= (b.len() - body_start) as u64 => {
                        body_end = body_start + n as usize
                    }
                    Some(_) => body_issue = Some(BodyIssue::ContentLengthTooLarge),
                    None => {
                        body_issue = Some(BodyIssue::BadContentLength);
                        body_end = body_start;
                    }
                }
            }
        }

        let (kind, start_issue) = parse_start_line(b, sl_start, sl_end)?;
        Ok(Message {
            raw: buf.slice(skip..skip + body_end),
            kind,
            fields,
            headers_start: headers_start as u32,
            headers_end: headers_end as u32,
            body_start: body_start as u32,
            body_issue,
            start_issue,
            unterminated,
        })
    }

    /// The message bytes as they should be forwarded unchanged: leading
    /// CRLFs and trailing octets beyond Content-Length excluded.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    pub(crate) fn str_at(&self, s: Span) -> &str {
        // The header section was validated as UTF-8 and spans end on ASCII
        // delimiters, so this never falls back.
        self.raw
            .get(s.range())
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    pub fn is_request(&self) -> bool {
        matches!(self.kind, Kind::Request { .. })
    }

    pub fn is_response(&self) -> bool {
        !self.is_request()
    }

    pub fn start_line(&self) -> StartLine<'_> {
        match self.kind {
            Kind::Request {
                method,
                uri,
                version,
            } => StartLine::Request {
                method: self.str_at(method),
                uri: self.str_at(uri),
                version: self.str_at(version),
            },
            Kind::Response {
                version,
                code,
                reason,
            } => StartLine::Response {
                version: self.str_at(version),
                code,
                reason: self.str_at(reason),
            },
        }
    }

    /// Request method (`None` for responses).
    pub fn method(&self) -> Option<&str> {
        match self.kind {
            Kind::Request { method, .. } => Some(self.str_at(method)),
            Kind::Response { .. } => None,
        }
    }

    /// Request-URI as written (`None` for responses).
    pub fn request_uri(&self) -> Option<&str> {
        match self.kind {
            Kind::Request { uri, .. } => Some(self.str_at(uri)),
            Kind::Response { .. } => None,
        }
    }

    pub(crate) fn request_uri_span(&self) -> Option<Range<usize>> {
        match self.kind {
            Kind::Request { uri, .. } => Some(uri.range()),
            Kind::Response { .. } => None,
        }
    }

    /// Status code (`None` for requests).
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            Kind::Response { code, .. } => Some(code),
            Kind::Request { .. } => None,
        }
    }

    /// Reason phrase (`None` for requests).
    pub fn reason(&self) -> Option<&str> {
        match self.kind {
            Kind::Response { reason, .. } => Some(self.str_at(reason)),
            Kind::Request { .. } => None,
        }
    }

    /// SIP-Version as written (`SIP/2.0`).
    pub fn version(&self) -> &str {
        match self.kind {
            Kind::Request { version, .. } | Kind::Response { version, .. } => self.str_at(version),
        }
    }

    pub fn body_issue(&self) -> Option<BodyIssue> {
        self.body_issue
    }

    pub fn start_line_issue(&self) -> Option<StartLineIssue> {
        self.start_issue
    }

    /// True when the header section was not ended by an empty line (only
    /// possible at the end of a datagram).
    pub fn headers_unterminated(&self) -> bool {
        self.unterminated
    }

    /// All header fields in order.
    pub fn headers(&self) -> impl Iterator<Item = Header<'_>> + '_ {
        self.fields.iter().enumerate().map(|(index, f)| Header {
            name: self.str_at(f.name),
            value: self.str_at(f.value),
            index,
        })
    }

    /// Number of header fields.
    pub fn header_count(&self) -> usize {
        self.fields.len()
    }

    /// A field predicate for a header name (resolved once) or a
    /// compile-time [`name::Known`].
    pub(crate) fn matcher<'a>(key: impl Into<Key<'a>>) -> impl Fn(&Message, &Field) -> bool + 'a {
        let key = key.into();
        move |m: &Message, f: &Field| match key {
            Key::Known(k) => f.known == Some(k),
            Key::Other(name) => f.known.is_none() && m.str_at(f.name).eq_ignore_ascii_case(name),
        }
    }

    /// Header fields with this name (case-insensitive, compact forms equal).
    pub fn headers_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = Header<'s>> + 's {
        let is = Self::matcher(name);
        self.fields
            .iter()
            .enumerate()
            .filter(move |(_, f)| is(self, f))
            .map(|(index, f)| Header {
                name: self.str_at(f.name),
                value: self.str_at(f.value),
                index,
            })
    }

    /// Fields of a known header (compile-time resolved name).
    pub(crate) fn known_fields(&self, k: name::Known) -> impl Iterator<Item = Header<'_>> + '_ {
        self.fields
            .iter()
            .enumerate()
            .filter(move |(_, f)| f.known == Some(k.idx))
            .map(|(index, f)| Header {
                name: self.str_at(f.name),
                value: self.str_at(f.value),
                index,
            })
    }

    /// List items of a known header.
    pub(crate) fn known_values(&self, k: name::Known) -> impl Iterator<Item = &str> + '_ {
        self.known_fields(k).flat_map(|h| ListIter::new(h.value))
    }

    /// Value of the first field with this name, as written.
    pub fn header(&self, name: &str) -> Option<&str> {
        let is = Self::matcher(name);
        self.fields
            .iter()
            .find(|f| is(self, f))
            .map(|f| self.str_at(f.value))
    }

    /// How many fields carry this name.
    pub fn count(&self, name: &str) -> usize {
        self.headers_named(name).count()
    }

    /// The comma-separated values of every field with this name, in order,
    /// split outside quotes and `<>` (for list headers such as Via, Route,
    /// Contact, Supported). Empty items are yielded so validation sees them.
    pub fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers_named(name)
            .flat_map(|h| ListIter::new(h.value))
    }

    /// The body (zero-copy slice of the message).
    pub fn body(&self) -> Bytes {
        self.raw.slice(self.body_start as usize..)
    }

    /// The header section including the start line and the empty line.
    pub fn head(&self) -> &[u8] {
        &self.raw[..self.body_start as usize]
    }
}

struct Lines<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Lines<'_> {
    /// Next line as (start, end-without-line-ending); accepts CRLF or bare LF.
    /// `None` when no complete line is left.
    fn next_line(&mut self) -> Option<(usize, usize)> {
        let rest = &self.b[self.pos..];
        let nl = memchr::memchr(b'\n', rest)?;
        let start = self.pos;
        let end = if nl > 0 && rest[nl - 1] == b'\r' {
            start + nl - 1
        } else {
            start + nl
        };
        self.pos = start + nl + 1;
        Some((start, end))
    }
}

fn trailing_ws(s: &[u8]) -> usize {
    s.iter()
        .rev()
        .take_while(|c| matches!(c, b' ' | b'\t'))
        .count()
}

fn parse_start_line(
    b: &[u8],
    start: usize,
    end: usize,
) -> Result<(Kind, Option<StartLineIssue>), ParseError> {
    let line = &b[start..end];
    let at = |r: Range<usize>| Span::new(start + r.start, start + r.end);
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        let sp = line
            .iter()
            .position(|&c| c == b' ')
            .ok_or(ParseError::StartLine("missing status code"))?;
        let code = line
            .get(sp + 1..sp + 4)
            .ok_or(ParseError::StartLine("missing status code"))?;
        if !code.iter().all(u8::is_ascii_digit) || line.get(sp + 4).is_some_and(|&c| c != b' ') {
            return Err(ParseError::StartLine("status code is not 3 digits"));
        }
        let code = code.iter().fold(0u16, |a, &d| a * 10 + u16::from(d - b'0'));
        if !(100..=699).contains(&code) {
            return Err(ParseError::StartLine("status code out of range"));
        }
        let reason_start = (sp + 5).min(line.len());
        return Ok((
            Kind::Response {
                version: at(0..sp),
                code,
                reason: at(reason_start..line.len()),
            },
            None,
        ));
    }
    let sp = line
        .iter()
        .position(|&c| c == b' ')
        .ok_or(ParseError::StartLine("missing Request-URI"))?;
    let method = &line[..sp];
    if method.is_empty() || !method.iter().all(|&c| is_token_char(c)) {
        return Err(ParseError::StartLine("invalid method"));
    }
    let mut issue = None;
    let trimmed_end = line.len()
        - line
            .iter()
            .rev()
            .take_while(|c| matches!(c, b' ' | b'\t'))
            .count();
    if trimmed_end != line.len() {
        issue = Some(StartLineIssue::ExtraWhitespace);
    }
    // `get` rather than indexing: "METHOD " trims to before the first SP.
    let rest = line
        .get(sp + 1..trimmed_end)
        .ok_or(ParseError::StartLine("missing Request-URI"))?;
    let last_sp = rest
        .iter()
        .rposition(|&c| c == b' ')
        .ok_or(ParseError::StartLine("missing SIP version"))?;
    let version = (sp + 1 + last_sp + 1)..trimmed_end;
    let uri_raw = &rest[..last_sp];
    let lead = uri_raw
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t'))
        .count();
    let trail = uri_raw[lead..]
        .iter()
        .rev()
        .take_while(|c| matches!(c, b' ' | b'\t'))
        .count();
    if lead > 0 || trail > 0 {
        issue = Some(StartLineIssue::ExtraWhitespace);
    }
    let uri = (sp + 1 + lead)..(sp + 1 + last_sp - trail);
    if uri.is_empty() {
        return Err(ParseError::StartLine("empty Request-URI"));
    }
    if line[uri.clone()].iter().any(|c| matches!(c, b' ' | b'\t')) {
        issue = Some(StartLineIssue::WhitespaceInUri);
    }
    if version.is_empty() {
        return Err(ParseError::StartLine("missing SIP version"));
    }
    Ok((
        Kind::Request {
            method: at(0..sp),
            uri: at(uri),
            version: at(version),
        },
        issue,
    ))
}

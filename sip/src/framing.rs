//! Message framing: stream transports (TCP/TLS, RFC 3261 §18.3) need
//! Content-Length; datagrams (UDP, WebSocket frames, RFC 7118) carry one
//! message each. CRLF keep-alives (RFC 5626 §3.5.1) are recognised in both.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{FramingError, ParseError};
use crate::message::Message;
use crate::text::parse_decimal;

/// Default limit for the header section (start line + headers).
pub const DEFAULT_MAX_HEADER: usize = 16 * 1024;
/// Default limit for a whole message.
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024;

/// What a framer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One complete message (exactly its bytes; parse with [`Message::parse`]).
    Message(Bytes),
    /// A CRLFCRLF keep-alive ping: answer with a single CRLF (pong).
    Ping,
    /// A lone CRLF: a keep-alive pong (or an ignorable empty line).
    Pong,
}

/// Incremental framer for one stream connection. Feed bytes with
/// [`push`](Self::push) (or read into [`buffer_mut`](Self::buffer_mut)), then
/// call [`next_frame`](Self::next_frame) until it returns `Ok(None)`.
/// An `Err` is fatal: the stream cannot be re-synchronised, close it.
///
/// A lone CRLF at the end of the buffer may be the first half of a ping. It
/// is consumed (so [`buffered`](Self::buffered) is 0 and the transport is not
/// "mid-message") and remembered: if the next bytes start with CRLF the pair
/// is a [`Frame::Ping`], otherwise a [`Frame::Pong`] is reported first. A
/// client awaiting a pong calls [`set_pong_expected`](Self::set_pong_expected)
/// to get the pong at once instead.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    max_header: usize,
    max_message: usize,
    /// Bytes of `buf` already searched for the end of the header section.
    scanned: usize,
    pong_expected: bool,
    /// A lone CRLF was consumed and may be half of a ping.
    pending_crlf: bool,
    /// Size of the message being received, once its header section is in.
    pending_total: Option<usize>,
}

impl Default for StreamFramer {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamFramer {
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_MAX_HEADER, DEFAULT_MAX_MESSAGE)
    }

    pub fn with_limits(max_header: usize, max_message: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(4096),
            max_header,
            max_message: max_message.max(max_header),
            scanned: 0,
            pong_expected: false,
            pending_crlf: false,
            pending_total: None,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The receive buffer, for `read_buf`-style zero-copy reads.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Whether a lone CRLF at the end of the buffer is a pong (client side,
    /// after sending a ping) rather than possibly half a ping.
    pub fn set_pong_expected(&mut self, expected: bool) {
        self.pong_expected = expected;
    }

    /// Bytes buffered but not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        if self.pending_crlf {
            let b = &self.buf[..];
            if b.is_empty() || b == b"\r" {
                return Ok(None);
            }
            self.pending_crlf = false;
            if b.starts_with(b"\r\n") {
                self.consume(2);
                return Ok(Some(Frame::Ping));
            }
            return Ok(Some(Frame::Pong));
        }
        let b = &self.buf[..];
        if b.starts_with(b"\r\n\r\n") {
            self.consume(4);
            return Ok(Some(Frame::Ping));
        }
        if b.starts_with(b"\r\n") {
            // "\r\n" or "\r\n\r" may be the start of a ping: wait for the rest.
            if b.len() == 2 && !self.pong_expected {
                self.consume(2);
                self.pending_crlf = true;
                return Ok(None);
            }
            if b.len() == 3 && b[2] == b'\r' {
                return Ok(None);
            }
            self.consume(2);
            return Ok(Some(Frame::Pong));
        }
        let stray_lf = b.iter().take_while(|&&c| c == b'\n').count();
        if stray_lf > 0 {
            // Stray LFs between messages: ignore (in one step, no recursion).
            self.consume(stray_lf);
            return self.next_frame();
        }
        // A start line begins with a method token or "SIP/". TLS or binary
        // bytes on a SIP port are not worth buffering.
        if let Some(&c) = self.buf.first()
            && !crate::text::is_token_char(c)
            && c != b'\r'
        {
            return Err(FramingError::Garbage);
        }
        let total = match self.pending_total {
            Some(t) => t,
            None => {
                let Some(head_len) = self.find_header_end() else {
                    if self.buf.len() > self.max_header {
                        return Err(FramingError::HeaderTooLarge(self.max_header));
                    }
                    return Ok(None);
                };
                if head_len > self.max_header {
                    return Err(FramingError::HeaderTooLarge(self.max_header));
                }
                let body_len = content_length(&self.buf[..head_len])?;
                let total = head_len
                    .checked_add(body_len)
                    .ok_or(FramingError::MessageTooLarge(self.max_message))?;
                if total > self.max_message {
                    return Err(FramingError::MessageTooLarge(self.max_message));
                }
                total
            }
        };
        if self.buf.len() < total {
            // Remember the size so a body arriving in pieces is not
            // re-scanned for its headers on every read.
            self.pending_total = Some(total);
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        self.scanned = 0;
        self.pending_total = None;
        Ok(Some(Frame::Message(self.buf.split_to(total).freeze())))
    }

    fn consume(&mut self, n: usize) {
        self.buf.advance(n);
        self.scanned = 0;
    }

    /// Length of the header section including its empty line, accepting
    /// CRLF or bare LF line endings.
    fn find_header_end(&mut self) -> Option<usize> {
        let b = &self.buf[..];
        let from = self.scanned.saturating_sub(2);
        for i in memchr::memchr_iter(b'\n', &b[from..]).map(|i| i + from) {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(b'\n'), _) => return Some(i + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(i + 3),
                _ => {}
            }
        }
        self.scanned = b.len();
        None
    }
}

/// Content-Length of a header section for stream framing: exactly one
/// field (full or compact name), a non-negative decimal number.
fn content_length(head: &[u8]) -> Result<usize, FramingError> {
    let mut found: Option<usize> = None;
    for line in head.split(|&c| c == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        if line.first().is_some_and(|c| matches!(c, b' ' | b'\t')) {
            continue;
        }
        let name = line[..colon].trim_ascii_end();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        if found.is_some() {
            return Err(FramingError::DuplicateContentLength);
        }
        let v = std::str::from_utf8(line[colon + 1..].trim_ascii())
            .map_err(|_| FramingError::BadContentLength)?;
        let n = parse_decimal(v).ok_or(FramingError::BadContentLength)?;
        found = Some(usize::try_from(n).unwrap_or(usize::MAX));
    }
    found.ok_or(FramingError::MissingContentLength)
}

/// Upper bound for a datagram (UDP payload limit; WebSocket frames are
/// limited by the WS layer but must not exceed this either).
pub const MAX_DATAGRAM: usize = 65_535;

/// Parses one datagram or WebSocket message: missing Content-Length ⇒ the
/// body is the rest; trailing octets beyond Content-Length are dropped;
/// a too-large Content-Length is recorded for a 400 (see
/// [`Message::body_issue`]).
pub fn parse_datagram(data: Bytes) -> Result<Message, ParseError> {
    if data.len() > MAX_DATAGRAM {
        return Err(ParseError::TooLarge(data.len()));
    }
    Message::parse(data)
}

/// Recognises a keep-alive datagram/frame: CRLFCRLF is a ping, CRLF a pong.
pub fn keepalive(data: &[u8]) -> Option<Frame> {
    match data {
        b"\r\n\r\n" => Some(Frame::Ping),
        b"\r\n" => Some(Frame::Pong),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REG: &[u8] =
        b"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 4\r\n\r\nbody";

    #[test]
    fn frames_messages_and_keepalives() {
        let mut f = StreamFramer::new();
        f.push(b"\r\n\r\n");
        f.push(REG);
        f.push(b"\r\n");
        f.push(REG);
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Ping));
        assert_eq!(
            f.next_frame().unwrap(),
            Some(Frame::Message(Bytes::from_static(REG)))
        );
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Pong));
        assert_eq!(
            f.next_frame().unwrap(),
            Some(Frame::Message(Bytes::from_static(REG)))
        );
        assert_eq!(f.next_frame().unwrap(), None);
    }

    #[test]
    fn waits_for_body_and_splits_ping() {
        let mut f = StreamFramer::new();
        f.push(&REG[..REG.len() - 1]);
        assert_eq!(f.next_frame().unwrap(), None);
        f.push(&REG[REG.len() - 1..]);
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Message(_))));
        f.push(b"\r\n");
        assert_eq!(f.next_frame().unwrap(), None);
        assert_eq!(f.buffered(), 0, "a lone CRLF is not a message in progress");
        f.push(b"\r");
        assert_eq!(f.next_frame().unwrap(), None);
        f.push(b"\n");
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Ping));
        // A lone CRLF followed by a message: pong, then the message.
        f.push(b"\r\n");
        assert_eq!(f.next_frame().unwrap(), None);
        f.push(REG);
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Pong));
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Message(_))));
        f.set_pong_expected(true);
        f.push(b"\r\n");
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Pong));
    }

    #[test]
    fn fatal_errors() {
        let cases: [(&[u8], FramingError); 4] = [
            (
                b"OPTIONS sip:x SIP/2.0\r\nVia: a\r\n\r\n",
                FramingError::MissingContentLength,
            ),
            (
                b"OPTIONS sip:x SIP/2.0\r\nContent-Length: -999\r\n\r\n",
                FramingError::BadContentLength,
            ),
            (
                b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 1\r\nl: 1\r\n\r\nx",
                FramingError::DuplicateContentLength,
            ),
            (
                b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 999999\r\n\r\n",
                FramingError::MessageTooLarge(DEFAULT_MAX_MESSAGE),
            ),
        ];
        for (input, err) in cases {
            let mut f = StreamFramer::new();
            f.push(input);
            assert_eq!(f.next_frame(), Err(err));
        }
        let mut f = StreamFramer::new();
        f.push(b"\x16\x03\x01\x02\x00");
        assert_eq!(f.next_frame(), Err(FramingError::Garbage));
        let mut f = StreamFramer::new();
        f.push(&[b'\n'; 100_000]);
        assert_eq!(f.next_frame(), Ok(None));
        assert_eq!(f.buffered(), 0);
        let mut f = StreamFramer::with_limits(64, 128);
        f.push(&[b'A'; 65]);
        assert_eq!(f.next_frame(), Err(FramingError::HeaderTooLarge(64)));
    }

    #[test]
    fn keepalive_datagrams() {
        assert_eq!(keepalive(b"\r\n\r\n"), Some(Frame::Ping));
        assert_eq!(keepalive(b"\r\n"), Some(Frame::Pong));
        assert_eq!(keepalive(REG), None);
    }
}

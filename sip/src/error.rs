//! Error types. Parsing is lenient where a proxy can still answer (those
//! problems are recorded and reported by `validate`); these errors mean the
//! bytes cannot be read as SIP at all, or a typed value is malformed.

use thiserror::Error;

/// The bytes are not a SIP message this crate can index.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("empty message")]
    Empty,
    #[error("header section is not terminated by an empty line")]
    Incomplete,
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    #[error("malformed header line {line}: {what}")]
    HeaderLine { line: usize, what: &'static str },
    #[error("header section is not valid UTF-8")]
    NotUtf8,
    #[error("too many header fields (limit {0})")]
    TooManyHeaders(usize),
    #[error("message too large ({0} bytes)")]
    TooLarge(usize),
}

/// A typed header value (or URI) could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{header}: {what}")]
pub struct HeaderError {
    /// Canonical header name (or "Request-URI").
    pub header: &'static str,
    /// What is wrong, for a 400 reason phrase.
    pub what: &'static str,
}

impl HeaderError {
    pub(crate) const fn new(header: &'static str, what: &'static str) -> Self {
        Self { header, what }
    }
}

/// A byte stream cannot be framed any further; the transport must close it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FramingError {
    #[error("header section exceeds {0} bytes")]
    HeaderTooLarge(usize),
    #[error("message exceeds {0} bytes")]
    MessageTooLarge(usize),
    #[error("Content-Length missing (required on stream transports)")]
    MissingContentLength,
    #[error("Content-Length is not a non-negative integer")]
    BadContentLength,
    #[error("Content-Length appears more than once")]
    DuplicateContentLength,
    #[error("bytes that cannot start a SIP message")]
    Garbage,
}

//! SIP messages for a forwarding proxy: parse lazily, edit only what a proxy must.
//!
//! * [`Message`] indexes a `Bytes` buffer (start line + header spans) without
//!   copying; typed accessors decode single headers on demand.
//! * [`Message::edit`] produces new bytes by copying untouched spans.
//! * [`StreamFramer`] / [`parse_datagram`] cut messages out of TCP/TLS streams
//!   and UDP/WebSocket datagrams.
//! * [`validate`] classifies requests and responses per RFC 3261 / RFC 4475.
//! * [`digest`] implements HTTP Digest (MD5, qop=auth) for SIP.
//!
//! No I/O, no async: the transports live in the gateway.

pub mod error;
pub mod message;
pub mod name;
pub mod text;

pub use error::{FramingError, HeaderError, ParseError};
pub use message::{BodyIssue, Header, Message, StartLine, StartLineIssue, unfold};
pub mod nameaddr;
pub mod typed;
pub mod uri;
pub mod via;

pub use nameaddr::NameAddr;
pub use typed::{CSeq, Contacts};
pub use uri::{Scheme, Uri};
pub use via::{MAGIC_COOKIE, Via};
pub mod edit;
pub use edit::Edit;
pub mod ids;
pub mod response;
pub use ids::{new_branch, new_call_id, new_tag, stateless_branch};
pub use response::{ResponseBuilder, response_to};
pub mod framing;
pub use framing::{Frame, StreamFramer, keepalive, parse_datagram};
pub mod validate;
pub use validate::{
    Discard, Reject, check_max_forwards, check_proxy_require, check_require, validate_register,
    validate_request, validate_response,
};
pub mod auth;
pub mod digest;
pub mod txn;
pub use auth::AuthValue;
pub mod request;
pub use request::{RequestBuilder, ack_for_non2xx, cancel_for, request};

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
//!
//! ```
//! use bytes::Bytes;
//! use sipwake_sip::{check_max_forwards, new_branch, parse_datagram, response_to, validate_request};
//!
//! let datagram = Bytes::from_static(
//!     b"REGISTER sip:example.com SIP/2.0\r\n\
//!       Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1;rport\r\n\
//!       Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=1\r\n\
//!       To: <sip:alice@example.com>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\n\
//!       Contact: <sip:alice@10.0.0.1:5060>;expires=600\r\nContent-Length: 0\r\n\r\n",
//! );
//! let req = parse_datagram(datagram).expect("unparseable datagrams are dropped");
//! if let Err(reject) = validate_request(&req).and_then(|_| check_max_forwards(&req)) {
//!     let _answer: Bytes = response_to(&req, reject.code, &reject.reason).build();
//!     return;
//! }
//! let forwarded: Bytes = req
//!     .edit()
//!     .set_via_received(Some("192.0.2.7"), Some(40000))
//!     .push_via(&format!("SIP/2.0/UDP gw.example.net;branch={}", new_branch()))
//!     .push_path("<sip:gw.example.net;lr;ob>")
//!     .decrement_max_forwards()
//!     .build();
//! let out = sipwake_sip::Message::parse(forwarded).unwrap();
//! assert_eq!(out.max_forwards().unwrap(), Some(69));
//! assert_eq!(out.vias().nth(1).unwrap().unwrap().rport(), Some(Some(40000)));
//! ```

pub mod aor;
pub mod error;
pub mod message;
pub mod name;
pub mod text;

pub use aor::Aor;
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

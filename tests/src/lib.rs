//! Shared helpers for the cross-component tests: real peers (Kamailio, SIPp),
//! the `sipwake` gateway under test, and small Rust SIP clients over
//! UDP/TCP/TLS/WebSocket.

pub mod client;
pub mod gateway;
pub mod kamailio;
pub mod pebble;
pub mod push;
pub mod sink;
pub mod sipmsg;
pub mod sipp;
pub mod tls;
pub mod torture;
pub mod ua;
pub mod util;
pub mod wake;

/// Why a harness step failed. Test bodies `unwrap()`/`?` these; the messages
/// carry the peer's log tail so a failure explains itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("setup: {0}")]
    Setup(String),
    #[error("timed out waiting for {0}")]
    Timeout(String),
    #[error("{name} failed: {detail}")]
    Peer { name: String, detail: String },
    #[error("SIP protocol: {0}")]
    Protocol(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// Test users known to every Kamailio instance and standalone gateway: (user, password).
pub const USERS: &[(&str, &str)] = &[
    ("alice", "alice-pw"),
    ("bob", "bob-pw"),
    ("carol", "carol-pw"),
    ("dave", "dave-pw"),
];

/// SIP domain / digest realm of the test Kamailio.
pub const REALM: &str = "sipwake.test";

/// Password of a test user.
pub fn password(user: &str) -> &'static str {
    USERS
        .iter()
        .find(|(u, _)| *u == user)
        .map_or("", |(_, p)| p)
}

//! Mock push provider servers that speak the real protocols, for tests and
//! benchmarks of `sipwake-push` (and of the gateway end to end):
//!
//! - [`fcm::FcmMock`]: FCM HTTP v1 (`messages:send`) over h2c/HTTP/1.1 plus
//!   the OAuth2 token endpoint a service-account key's `token_uri` points at.
//! - [`apns::ApnsMock`]: APNs HTTP/2 over TLS (test CA), JWT or client
//!   certificate auth.
//! - [`webpush::WebPushMock`]: an RFC 8030 push service over TLS that checks
//!   VAPID and decrypts aes128gcm bodies with the subscription's keys.
//!
//! Every mock listens on 127.0.0.1:0, records what it received, counts TCP
//! connections and can be told to fail for a given token with the real
//! provider's error body.

pub mod apns;
pub mod fcm;
pub mod server;
pub mod tls;
pub mod webpush;

pub use apns::ApnsEnv;
pub use tls::CertKind;

/// Why a mock could not start.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("certificate generation: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("JWT: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

impl From<rustls::Error> for MockError {
    fn from(e: rustls::Error) -> Self {
        MockError::Tls(e.to_string())
    }
}

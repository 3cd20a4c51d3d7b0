//! `sipwake-bench`: bounded, loopback-only load for the sipwake gateway and a
//! Kamailio front proxy in the same role, plus a push throughput run against
//! the FCM/APNs mocks. The binary (`src/main.rs`) and the smoke tests drive
//! the same functions, so the manual full runs and CI cannot drift apart.

pub mod agent;
pub mod cluster;
pub mod compare;
pub mod load;
pub mod procfs;
pub mod push;
pub mod report;
pub mod stats;
pub mod targets;
pub mod wake;

/// Why a benchmark step failed (setup, I/O, or a peer misbehaving).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Harness(#[from] sipwake_e2e::Error),
    #[error("setup: {0}")]
    Setup(String),
    #[error("SIP: {0}")]
    Sip(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("push: {0}")]
    Push(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// Digest realm / SIP domain of the upstream (the e2e Kamailio's).
pub use sipwake_e2e::REALM;

/// Bench users `b0..bN` with password `b<i>-pw`, registered at the upstream.
/// The e2e Kamailio keeps users in its config's private memory (8 MB), which
/// holds about 2,000 of them; larger client counts share these AORs, each
/// client with its own Contact.
pub fn bench_users(n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (user_name(i), password(i))).collect()
}

pub fn user_name(i: usize) -> String {
    format!("b{i}")
}

pub fn password(i: usize) -> String {
    format!("b{i}-pw")
}

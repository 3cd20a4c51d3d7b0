//! RFC 3261 §17 transactions for a stateful proxy.
//!
//! * [`server::ServerTx`]: absorbs request retransmissions by resending the
//!   last response, retransmits non-2xx INVITE finals over UDP (timer G) until
//!   the ACK (timer H), then lingers (timers I / J) to absorb late copies.
//! * [`client::ClientTx`]: one task per forwarded request: retransmits over
//!   UDP (timers A / E), gives up after timers B / F, ACKs non-2xx INVITE
//!   finals hop by hop (timer D), lingers after the final (timer K, and the
//!   RFC 6026 "Accepted" state so 2xx retransmissions still reach the proxy).
//!
//! All timing goes through `tokio::time`, so tests drive it with
//! `tokio::time::pause()`.

pub mod client;
pub mod server;

use std::time::Duration;

pub use client::{ClientEvent, ClientTable, ClientTx, Stretch, TxHandle};
pub use server::{ServerTable, ServerTx};
/// Server transactions are keyed by sipwake-sip's RFC 3261 §17.2.3 key
/// (RFC 2543 fallback included; ACK folded into its INVITE).
pub use sipwake_sip::txn::TxnKey as ServerKey;

/// The RFC 3261 base timer values (§17.1.1.1, table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate (500 ms).
    pub t1: Duration,
    /// Maximum non-INVITE request / INVITE response retransmit interval (4 s).
    pub t2: Duration,
    /// Maximum time a message stays in the network (5 s).
    pub t4: Duration,
    /// Timer C: how long a proxied INVITE may stay in Proceeding (> 3 min).
    pub c: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            c: Duration::from_secs(181),
        }
    }
}

impl Timers {
    /// Timers B, F, H, J, and the RFC 6026 timers L / M: 64·T1.
    pub fn t64(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer D: at least 32 s over UDP, zero over reliable transports.
    pub fn d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            Duration::from_secs(32).max(self.t64() / 2)
        }
    }

    /// Timers I and K: T4 over UDP, zero over reliable transports.
    pub fn i_k(&self, reliable: bool) -> Duration {
        if reliable { Duration::ZERO } else { self.t4 }
    }

    /// Timer J: 64·T1 over UDP, zero over reliable transports.
    pub fn j(&self, reliable: bool) -> Duration {
        if reliable { Duration::ZERO } else { self.t64() }
    }
}

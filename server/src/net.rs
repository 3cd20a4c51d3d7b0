//! The gateway's leaf vocabulary: what every layer above says about
//! transports without depending on them — transport kinds, flow ids,
//! destinations, an inbound message, the [`Sink`] the transports feed and
//! the [`Network`] the proxy sends through (the real transports implement
//! it; tests use an in-memory one), and [`ConnMeta`] for HTTP handlers.
//!
//! Nothing here depends on another module of the crate.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::Bytes;

/// The SIP transport a flow uses; `via_name()` is what goes into Via.
#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum TransportKind {
    Udp,
    Tcp,
    Tls,
    Ws,
    Wss,
}

impl TransportKind {
    pub const ALL: [TransportKind; 5] = [Self::Udp, Self::Tcp, Self::Tls, Self::Ws, Self::Wss];

    /// The transport token of a Via header (RFC 3261 §20.42, RFC 7118 §5).
    pub fn via_name(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::Ws => "WS",
            Self::Wss => "WSS",
        }
    }

    /// Case-insensitive inverse of [`via_name`](Self::via_name) (also accepts
    /// `transport=` URI parameter values).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.via_name().eq_ignore_ascii_case(name))
    }

    /// Reliable transports have no SIP retransmissions (RFC 3261 §17.1.1.2).
    pub fn is_reliable(self) -> bool {
        self != Self::Udp
    }

    pub fn is_secure(self) -> bool {
        matches!(self, Self::Tls | Self::Wss)
    }

    /// Lowercase name for logs (`transport=udp`).
    pub fn log_name(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_name())
    }
}

/// Unique per connection (TCP/TLS/WS/WSS) and per (UDP socket, remote address).
/// Never reused within a process.
#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug, PartialOrd, Ord)]
pub struct FlowId(pub u64);

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "flow-{}", self.0)
    }
}

/// One framed SIP message (a datagram, a WS frame or one stream-framed message).
#[derive(Clone, Debug)]
pub struct Inbound {
    pub flow: FlowId,
    pub kind: TransportKind,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub bytes: Bytes,
}

/// Where to send: back over a known flow, or to an address (opening a TCP/TLS
/// connection if there is none to it yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Flow(FlowId),
    Addr {
        kind: TransportKind,
        addr: SocketAddr,
    },
}

/// The proxy side. Both calls come from transport tasks and must not block
/// (queue or spawn instead).
pub trait Sink: Send + Sync + 'static {
    fn on_message(&self, msg: Inbound);
    fn on_flow_closed(&self, flow: FlowId);
}

/// What a flow is: its transport and both ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowInfo {
    pub kind: TransportKind,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// Why a message could not be sent (flow gone, connect failed, …).
#[derive(Debug, Clone, thiserror::Error)]
#[error("send failed: {0}")]
pub struct NetError(pub String);

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<FlowId, NetError>> + Send + 'a>>;

/// What the proxy needs from the transports.
pub trait Network: Send + Sync + 'static {
    /// Sends one message; for `Addr` on a stream transport a connection is
    /// opened (or reused). Returns the flow used.
    fn send(&self, dest: Destination, bytes: Bytes) -> SendFuture<'_>;
    /// `None` once the flow is closed.
    fn flow(&self, id: FlowId) -> Option<FlowInfo>;
    /// Advertised sent-by for our Via / Record-Route / Path on that transport.
    fn via_host_port(&self, kind: TransportKind) -> Option<(String, u16)>;
    /// The gateway's load level, the manual's wsload scale 0..=4 (see
    /// [`load_level`]): what the load-dependent `[push]` levels follow.
    fn load(&self) -> u8;
}

/// The wsload 0..=4 scale from connection use (`flows` of `max`): below
/// 25 % low, then one step per quarter, 4 (extreme) at 95 % and above.
pub fn load_level(flows: usize, max: usize) -> u8 {
    let pct = flows.saturating_mul(100) / max.max(1);
    match pct {
        0..25 => 0,
        25..50 => 1,
        50..75 => 2,
        75..95 => 3,
        _ => 4,
    }
}

/// Per-connection facts, inserted into each request's extensions.
#[derive(Clone, Copy, Debug)]
pub struct ConnMeta {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub secure: bool,
}

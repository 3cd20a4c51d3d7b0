//! The proxy's view of the transports: the agreed transport ↔ proxy types
//! and a small object-safe trait over [`TransportHandle`], so the proxy core
//! also runs against a fake in-memory network in tests.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

pub use crate::transport::{
    Destination, FlowId, FlowInfo, Inbound, TransportHandle, TransportKind,
};

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
}

impl Network for TransportHandle {
    fn send(&self, dest: Destination, bytes: Bytes) -> SendFuture<'_> {
        Box::pin(async move {
            TransportHandle::send(self, dest, bytes)
                .await
                .map_err(|e| NetError(e.to_string()))
        })
    }

    fn flow(&self, id: FlowId) -> Option<FlowInfo> {
        TransportHandle::flow(self, id)
    }

    fn via_host_port(&self, kind: TransportKind) -> Option<(String, u16)> {
        TransportHandle::via_host_port(self, kind)
    }
}

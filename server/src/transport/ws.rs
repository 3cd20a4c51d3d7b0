//! SIP over WebSocket (RFC 7118): one SIP message per text or binary frame.
//! The HTTP side (`crate::http`) negotiates the `sip` subprotocol and hands
//! the upgraded socket to [`run`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

use super::framing::{self, Datagram};
use super::{ConnSlot, FlowId, FlowInfo, Inbound, Shared, TransportHandle, TransportKind};

/// Messages queued for one WebSocket before `send` reports QueueFull.
const QUEUE: usize = 256;

/// A connection slot reserved before the upgrade, so a client over
/// `max_connections` is refused with an HTTP error instead of a dropped socket.
pub struct WsSlot {
    _slot: ConnSlot,
}

impl TransportHandle {
    /// Reserve a connection for a WebSocket from `from`; `None` at
    /// `max_connections` or at the address's `flows_per_ip`.
    pub fn reserve_ws(&self, from: std::net::IpAddr) -> Option<WsSlot> {
        self.shared()
            .acquire_inbound(from)
            .map(|slot| WsSlot { _slot: slot })
    }

    /// The size limit WebSocket frames and messages are configured with.
    pub fn max_message_bytes(&self) -> usize {
        self.shared().limits.max_message_bytes
    }
}

/// The writing half of an upgraded WebSocket.
type WsSink = SplitSink<WebSocket, Message>;

/// One WebSocket flow, for handling its frames and logging.
struct Conn {
    shared: Arc<Shared>,
    id: FlowId,
    kind: TransportKind,
    local: SocketAddr,
    remote: SocketAddr,
    send_timeout: Duration,
}

/// Whether the connection goes on.
enum Next {
    Go,
    Close,
}

/// Serve one upgraded WebSocket as a SIP flow until it closes.
pub async fn run(
    handle: TransportHandle,
    socket: WebSocket,
    kind: TransportKind,
    local: SocketAddr,
    remote: SocketAddr,
    slot: WsSlot,
) {
    let shared = handle.shared().clone();
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
    let info = FlowInfo {
        kind,
        local,
        remote,
    };
    let id = shared.flows.add_stream(info, tx);
    let conn = Conn {
        send_timeout: shared.limits.read_timeout,
        shared: shared.clone(),
        id,
        kind,
        local,
        remote,
    };
    let transport = kind.log_name();
    tracing::debug!(flow = %id, transport = %transport, %remote, "websocket open");
    let (mut sink, mut stream) = socket.split();
    let idle_timeout = shared.limits.idle_timeout;
    // Ping often enough that a live peer's pongs keep the connection fresh.
    let ping_every = (idle_timeout / 3).max(Duration::from_secs(1));
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut last_rx = Instant::now();
    loop {
        let next = tokio::select! {
            _ = shared.shutdown.cancelled() => {
                let _ = timeout(Duration::from_secs(1), sink.send(Message::Close(None))).await;
                Next::Close
            }
            frame = stream.next() => {
                last_rx = Instant::now();
                conn.on_frame(frame, &mut sink).await
            }
            // The flow table holds a sender until close_flow below.
            out = rx.recv() => match out {
                Some(bytes) => conn.write(bytes, &mut sink).await,
                None => Next::Close,
            },
            _ = ping.tick() => {
                if last_rx.elapsed() >= idle_timeout {
                    tracing::info!(flow = %id, transport = %transport, %remote, "closing idle websocket (idle_timeout_secs)");
                    let _ = timeout(Duration::from_secs(1), sink.send(Message::Close(None))).await;
                    Next::Close
                } else {
                    conn.send(&mut sink, Message::Ping(Bytes::new())).await
                }
            }
        };
        if let Next::Close = next {
            break;
        }
    }
    drop(slot);
    shared.close_flow(id);
    tracing::debug!(flow = %id, transport = %transport, %remote, "websocket closed");
}

impl Conn {
    /// One frame from the peer: a SIP message in, a CRLF keep-alive
    /// answered, anything broken or over the limits closes.
    async fn on_frame(
        &self,
        frame: Option<Result<Message, axum::Error>>,
        sink: &mut WsSink,
    ) -> Next {
        let (id, remote, transport) = (self.id, self.remote, self.kind.log_name());
        let msg = match frame {
            None => return Next::Close,
            Some(Err(e)) => {
                // Includes frames over max_message_bytes.
                tracing::info!(flow = %id, transport = %transport, %remote, "closing websocket: {e}");
                return Next::Close;
            }
            Some(Ok(m)) => m,
        };
        let data = match msg {
            Message::Text(t) => Bytes::from(t),
            Message::Binary(b) => b,
            Message::Ping(_) | Message::Pong(_) => return Next::Go,
            Message::Close(_) => return Next::Close,
        };
        match framing::classify_datagram(&data) {
            // SIP.js-style CRLF keep-alive over WS: answer CRLF.
            Datagram::Ping => return self.send(sink, Message::Text("\r\n".into())).await,
            Datagram::Ignore => return Next::Go,
            Datagram::Sip => {}
        }
        if let Err(why) = framing::check(&data, &self.shared.limits) {
            tracing::warn!(flow = %id, transport = %transport, %remote, "closing websocket: {why}");
            return Next::Close;
        }
        self.shared.deliver(Inbound {
            flow: id,
            kind: self.kind,
            local: self.local,
            remote,
            bytes: data,
        });
        Next::Go
    }

    /// One message out, as a text frame when possible (browser SIP stacks
    /// expect them).
    async fn write(&self, bytes: Bytes, sink: &mut WsSink) -> Next {
        let (id, remote, transport) = (self.id, self.remote, self.kind.log_name());
        let frame = match axum::extract::ws::Utf8Bytes::try_from(bytes.clone()) {
            Ok(t) => Message::Text(t),
            Err(_) => Message::Binary(bytes),
        };
        match timeout(self.send_timeout, sink.send(frame)).await {
            Ok(Ok(())) => Next::Go,
            Ok(Err(e)) => {
                tracing::debug!(flow = %id, transport = %transport, %remote, error = %e, "websocket write error");
                Next::Close
            }
            Err(_) => {
                tracing::warn!(flow = %id, transport = %transport, %remote, "closing websocket: peer not reading (write timed out)");
                Next::Close
            }
        }
    }

    /// A control frame or keep-alive answer; a failed or stuck send closes.
    async fn send(&self, sink: &mut WsSink, msg: Message) -> Next {
        match timeout(self.send_timeout, sink.send(msg)).await {
            Ok(Ok(())) => Next::Go,
            _ => Next::Close,
        }
    }
}

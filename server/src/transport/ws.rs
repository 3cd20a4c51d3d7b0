//! SIP over WebSocket (RFC 7118): one SIP message per text or binary frame.
//! The HTTP side (`crate::http`) negotiates the `sip` subprotocol and hands
//! the upgraded socket to [`run`].

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

use super::framing::{self, Datagram};
use super::{ConnSlot, FlowInfo, Inbound, TransportHandle, TransportKind};

/// Messages queued for one WebSocket before `send` reports QueueFull.
const QUEUE: usize = 256;

/// A connection slot reserved before the upgrade, so a client over
/// `max_connections` is refused with an HTTP error instead of a dropped socket.
pub struct WsSlot {
    _slot: ConnSlot,
}

impl TransportHandle {
    /// Reserve a connection for a WebSocket; `None` at `max_connections`.
    pub fn reserve_ws(&self) -> Option<WsSlot> {
        self.shared()
            .acquire_connection()
            .map(|slot| WsSlot { _slot: slot })
    }

    /// The size limit WebSocket frames and messages are configured with.
    pub fn max_message_bytes(&self) -> usize {
        self.shared().limits.max_message_bytes
    }
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
    let limits = &shared.limits;
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
    let info = FlowInfo {
        kind,
        local,
        remote,
    };
    let id = shared.flows.add_stream(info, tx);
    let transport = kind.log_name();
    tracing::debug!(flow = %id, transport = %transport, %remote, "websocket open");
    let (mut sink, mut stream) = socket.split();
    // Ping often enough that a live peer's pongs keep the connection fresh.
    let ping_every = (limits.idle_timeout / 3).max(Duration::from_secs(1));
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut last_rx = Instant::now();
    let send_timeout = limits.read_timeout;
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => {
                let _ = timeout(Duration::from_secs(1), sink.send(Message::Close(None))).await;
                break;
            }
            frame = stream.next() => {
                let msg = match frame {
                    None => break,
                    Some(Err(e)) => {
                        // Includes frames over max_message_bytes.
                        tracing::info!(flow = %id, transport = %transport, %remote, "closing websocket: {e}");
                        break;
                    }
                    Some(Ok(m)) => m,
                };
                last_rx = Instant::now();
                let data = match msg {
                    Message::Text(t) => Bytes::from(t),
                    Message::Binary(b) => b,
                    Message::Ping(_) | Message::Pong(_) => continue,
                    Message::Close(_) => break,
                };
                match framing::classify_datagram(&data) {
                    Datagram::Ping => {
                        // SIP.js-style CRLF keep-alive over WS: answer CRLF.
                        let pong = Message::Text("\r\n".into());
                        if timeout(send_timeout, sink.send(pong)).await.map_or(true, |r| r.is_err()) {
                            break;
                        }
                        continue;
                    }
                    Datagram::Ignore => continue,
                    Datagram::Sip => {}
                }
                if let Err(why) = framing::check(&data, limits) {
                    tracing::warn!(flow = %id, transport = %transport, %remote, "closing websocket: {why}");
                    break;
                }
                shared.deliver(Inbound { flow: id, kind, local, remote, bytes: data });
            }
            out = rx.recv() => {
                // The flow table holds a sender until close_flow below.
                let Some(bytes) = out else { break };
                // Text frames when possible: browser SIP stacks expect them.
                let frame = match axum::extract::ws::Utf8Bytes::try_from(bytes.clone()) {
                    Ok(t) => Message::Text(t),
                    Err(_) => Message::Binary(bytes),
                };
                match timeout(send_timeout, sink.send(frame)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(flow = %id, transport = %transport, %remote, error = %e, "websocket write error");
                        break;
                    }
                    Err(_) => {
                        tracing::warn!(flow = %id, transport = %transport, %remote, "closing websocket: peer not reading (write timed out)");
                        break;
                    }
                }
            }
            _ = ping.tick() => {
                if last_rx.elapsed() >= limits.idle_timeout {
                    tracing::info!(flow = %id, transport = %transport, %remote, "closing idle websocket (idle_timeout_secs)");
                    let _ = timeout(Duration::from_secs(1), sink.send(Message::Close(None))).await;
                    break;
                }
                if timeout(send_timeout, sink.send(Message::Ping(Bytes::new()))).await.map_or(true, |r| r.is_err()) {
                    break;
                }
            }
        }
    }
    drop(slot);
    shared.close_flow(id);
    tracing::debug!(flow = %id, transport = %transport, %remote, "websocket closed");
}

//! One TCP or TLS connection: a reader that frames messages (RFC 3261 §18.3)
//! under idle / read timeouts, and a writer fed by the flow's queue.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use sipwake_sip::framing::Frame;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_util::sync::CancellationToken;

use super::framing;
use super::{ConnSlot, FlowId, FlowInfo, Inbound, Shared, TransportKind};

/// Messages queued for one connection before `send` reports QueueFull.
const QUEUE: usize = 256;

/// Register the connection as a flow and serve it in a tracked task.
pub(crate) fn spawn<S>(
    shared: &Arc<Shared>,
    io: S,
    kind: TransportKind,
    local: SocketAddr,
    remote: SocketAddr,
    slot: ConnSlot,
) -> FlowId
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (tx, rx) = mpsc::channel(QUEUE);
    let info = FlowInfo {
        kind,
        local,
        remote,
    };
    let id = shared.flows.add_stream(info, tx.clone());
    tracing::debug!(flow = %id, transport = kind.log_name(), %remote, %local, "connection open");
    let shared = shared.clone();
    shared.tasks.clone().spawn(async move {
        let (rd, wr) = tokio::io::split(io);
        let failed = CancellationToken::new();
        // Reader exits first (EOF / limit / timeout / shutdown) and drops its
        // queue sender; the writer then drains what is queued and closes.
        let reader = async {
            if read_loop(&shared, rd, info, id, tx, &failed).await == End::Linger {
                // Stop reading but let the answers to messages already
                // delivered (e.g. a 400) go out before the close.
                let linger = shared.limits.read_timeout.min(LINGER);
                tokio::select! {
                    _ = shared.shutdown.cancelled() => {}
                    _ = failed.cancelled() => {}
                    _ = tokio::time::sleep(linger) => {}
                }
            }
            // Unregistering drops the table's queue sender: the writer drains.
            shared.flows.remove(id)
        };
        let writer = write_loop(&shared, wr, rx, id, &failed);
        let (removed, ()) = tokio::join!(reader, writer);
        // Report the close only once the socket is done and its slot free.
        drop(slot);
        if removed {
            shared.notify_closed(id);
        }
    });
    id
}

/// How a connection's reading ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// EOF, error, timeout or shutdown: close now.
    Close,
    /// The peer broke framing or limits: close after a short linger.
    Linger,
}

/// Longest linger after a framing error.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

async fn read_loop<R: AsyncRead>(
    shared: &Shared,
    rd: R,
    info: FlowInfo,
    id: FlowId,
    tx: mpsc::Sender<Bytes>,
    failed: &CancellationToken,
) -> End {
    tokio::pin!(rd);
    let limits = &shared.limits;
    let mut framer = framing::stream_framer(limits);
    let mut last_activity = Instant::now();
    // When the first byte of the message now in the buffer arrived.
    let mut started = last_activity;
    let remote = info.remote;
    let transport = info.kind.log_name();
    loop {
        let mid_message = framer.buffered() > 0;
        let deadline = if mid_message {
            started + limits.read_timeout
        } else {
            last_activity + limits.idle_timeout
        };
        framer.buffer_mut().reserve(4096);
        let read = tokio::select! {
            _ = shared.shutdown.cancelled() => return End::Close,
            _ = failed.cancelled() => return End::Close,
            r = timeout_at(deadline, rd.read_buf(framer.buffer_mut())) => r,
        };
        match read {
            Err(_) if mid_message => {
                tracing::warn!(flow = %id, transport = %transport, %remote, buffered = framer.buffered(),
                    "closing slow connection: message not complete within read_timeout_secs");
                return End::Close;
            }
            Err(_) => {
                tracing::info!(flow = %id, transport = %transport, %remote, "closing idle connection (idle_timeout_secs)");
                return End::Close;
            }
            Ok(Ok(0)) => {
                tracing::debug!(flow = %id, transport = %transport, %remote, "connection closed by peer");
                return End::Close;
            }
            Ok(Err(e)) => {
                tracing::debug!(flow = %id, transport = %transport, %remote, error = %e, "connection read error");
                return End::Close;
            }
            Ok(Ok(_)) => {}
        }
        let now = Instant::now();
        last_activity = now;
        if !mid_message {
            started = now;
        }
        let mut completed = false;
        loop {
            match framer.next_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Ping)) => {
                    completed = true;
                    // RFC 5626 §3.5.1: CRLFCRLF ping, CRLF pong.
                    let _ = tx.try_send(Bytes::from_static(b"\r\n"));
                }
                Ok(Some(Frame::Pong)) => {}
                Ok(Some(Frame::Message(bytes))) => {
                    completed = true;
                    if let Err(why) = framing::check(&bytes, limits) {
                        tracing::warn!(flow = %id, transport = %transport, %remote, "closing connection: {why}");
                        return End::Linger;
                    }
                    shared.deliver(Inbound {
                        flow: id,
                        kind: info.kind,
                        local: info.local,
                        remote,
                        bytes,
                    });
                }
                Err(e) => {
                    tracing::warn!(flow = %id, transport = %transport, %remote, "closing connection: framing error: {e}");
                    return End::Linger;
                }
            }
        }
        // A remainder after a complete frame is a new message begun in this read.
        if framer.buffered() > 0 && completed {
            started = now;
        }
    }
}

async fn write_loop<W: AsyncWrite>(
    shared: &Shared,
    wr: W,
    mut rx: mpsc::Receiver<Bytes>,
    id: FlowId,
    failed: &CancellationToken,
) {
    tokio::pin!(wr);
    // A peer that does not read for this long is treated as gone.
    let write_timeout = shared.limits.read_timeout;
    loop {
        let next = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            _ = failed.cancelled() => break,
            m = rx.recv() => m,
        };
        let Some(bytes) = next else { break };
        match timeout(write_timeout, wr.write_all(&bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(flow = %id, error = %e, "connection write error");
                failed.cancel();
                return;
            }
            Err(_) => {
                tracing::warn!(flow = %id, "closing connection: peer not reading (write timed out)");
                failed.cancel();
                return;
            }
        }
    }
    // Orderly close (TLS close_notify / TCP FIN), bounded.
    let _ = timeout(write_timeout, wr.shutdown()).await;
    failed.cancel();
}

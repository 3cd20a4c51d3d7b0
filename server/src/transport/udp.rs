//! UDP: one socket per listen address, a receive loop, one flow per remote
//! address, and sends straight out of the listening socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;

use super::framing::{self, Datagram};
use super::{BindError, FlowId, Inbound, SendError, Shared, TransportKind};

/// Largest UDP payload; the receive buffer holds one more byte so an
/// over-long datagram is seen as such rather than silently truncated.
const MAX_DATAGRAM: usize = 65_535;

/// Requested UDP socket buffer size.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

pub(crate) async fn bind(addr: SocketAddr) -> Result<(UdpSocket, SocketAddr), BindError> {
    let err = |source| BindError {
        kind: TransportKind::Udp,
        addr,
        source,
    };
    let sock = UdpSocket::bind(addr).await.map_err(err)?;
    let local = sock.local_addr().map_err(err)?;
    // Bursts (many REGISTERs at once) overflow the default ~200 KB buffer;
    // ask for more. The kernel caps it at net.core.rmem_max: best effort.
    let raw = socket2::SockRef::from(&sock);
    let _ = raw.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = raw.set_send_buffer_size(SOCKET_BUFFER);
    Ok((sock, local))
}

pub(crate) async fn recv_loop(shared: Arc<Shared>, sock: Arc<UdpSocket>, local: SocketAddr) {
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let received = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            r = sock.recv_from(&mut buf) => r,
        };
        match received {
            Ok((n, remote)) => on_datagram(&shared, &sock, local, remote, &buf[..n]),
            // E.g. ICMP errors reported on the socket: nothing to do per datagram.
            Err(e) => tracing::debug!(transport = "udp", addr = %local, error = %e, "recv error"),
        }
    }
}

fn on_datagram(
    shared: &Shared,
    sock: &Arc<UdpSocket>,
    local: SocketAddr,
    remote: SocketAddr,
    data: &[u8],
) {
    match framing::classify_datagram(data) {
        // UDP keep-alives are STUN (RFC 5626 §4.4.2); a CRLF ping gets no pong
        // here so we never answer spoofed sources.
        Datagram::Ping | Datagram::Ignore => return,
        Datagram::Sip => {}
    }
    if let Err(why) = framing::check(data, &shared.limits) {
        tracing::warn!(transport = "udp", %remote, "dropping datagram: {why}");
        return;
    }
    let Some(flow) = shared.flows.udp_flow(sock, local, remote) else {
        tracing::warn!(transport = "udp", %remote, "dropping datagram: too many UDP peers");
        return;
    };
    shared.deliver(Inbound {
        flow,
        kind: TransportKind::Udp,
        local,
        remote,
        bytes: Bytes::copy_from_slice(data),
    });
}

pub(crate) async fn send_to(
    shared: &Shared,
    sock: Arc<UdpSocket>,
    remote: SocketAddr,
    bytes: Bytes,
) -> Result<FlowId, SendError> {
    let local = sock.local_addr()?;
    let flow = shared
        .flows
        .udp_flow(&sock, local, remote)
        .ok_or(SendError::NoListener(TransportKind::Udp))?;
    sock.send_to(&bytes, remote).await?;
    Ok(flow)
}

/// Forget UDP peers unused for `udp_flow_ttl`, telling the sink.
pub(crate) async fn sweep_loop(shared: Arc<Shared>) {
    let ttl = shared.limits.udp_flow_ttl;
    let every = (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for id in shared.flows.expired_udp(ttl) {
            shared.close_flow(id);
        }
    }
}

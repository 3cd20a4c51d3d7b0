//! TCP and TLS: listeners, accept loops with the connection limit, and
//! outgoing connections opened on demand.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::{BindError, FlowId, SendError, Shared, TransportKind, stream};

pub(crate) async fn bind(
    kind: TransportKind,
    addr: SocketAddr,
) -> Result<(TcpListener, SocketAddr), BindError> {
    let err = |source| BindError { kind, addr, source };
    let listener = TcpListener::bind(addr).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    Ok((listener, local))
}

/// Accept connections until shutdown. `tls` set = a TLS listener.
pub(crate) async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    local: SocketAddr,
    tls: Option<TlsAcceptor>,
) {
    let kind = if tls.is_some() {
        TransportKind::Tls
    } else {
        TransportKind::Tcp
    };
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let (sock, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(transport = kind.log_name(), addr = %local, error = %e, "accept failed");
                tokio::select! {
                    _ = shared.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let Some(slot) = shared.acquire_inbound(remote.ip()) else {
            tracing::warn!(transport = kind.log_name(), %remote,
                max_connections = shared.limits.max_connections,
                flows_per_ip = shared.limits.flows_per_ip,
                "refusing connection: max_connections or flows_per_ip reached");
            drop(sock);
            continue;
        };
        let _ = sock.set_nodelay(true);
        let local = sock.local_addr().unwrap_or(local);
        match &tls {
            None => {
                stream::spawn(&shared, sock, kind, local, remote, slot);
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let handshake_timeout = shared.limits.read_timeout;
                let sh = shared.clone();
                shared.tasks.spawn(async move {
                    let hs = tokio::select! {
                        _ = sh.shutdown.cancelled() => return,
                        r = timeout(handshake_timeout, acceptor.accept(sock)) => r,
                    };
                    match hs {
                        Ok(Ok(tls)) => {
                            stream::spawn(&sh, tls, kind, local, remote, slot);
                        }
                        Ok(Err(e)) => {
                            tracing::info!(transport = "tls", %remote, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::warn!(transport = "tls", %remote, "closing slow connection: TLS handshake not complete within read_timeout_secs");
                        }
                    }
                });
            }
        }
    }
}

/// Open an outgoing TCP or TLS connection to `addr` and serve it as a flow.
pub(crate) async fn connect(
    shared: &Arc<Shared>,
    kind: TransportKind,
    addr: SocketAddr,
) -> Result<FlowId, SendError> {
    let connector = match kind {
        TransportKind::Tcp => None,
        TransportKind::Tls => Some(TlsConnector::from(
            shared
                .tls_client
                .clone()
                .ok_or(SendError::NotDialable(kind))?,
        )),
        other => return Err(SendError::NotDialable(other)),
    };
    let slot = shared
        .acquire_connection()
        .ok_or(SendError::TooManyConnections)?;
    let connect_timeout = shared.limits.read_timeout;
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
    let sock = timeout(connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| timed_out())
        .and_then(|r| r)
        .map_err(|source| SendError::Connect { addr, source })?;
    let _ = sock.set_nodelay(true);
    let local = sock.local_addr()?;
    tracing::debug!(transport = kind.log_name(), remote = %addr, "outgoing connection open");
    Ok(match connector {
        None => stream::spawn(shared, sock, kind, local, addr, slot),
        Some(connector) => {
            // The certificate must name the host the proxy resolved to this
            // address (see `TransportHandle::set_tls_name`), else the IP.
            let name = match shared.tls_name(addr) {
                Some(host) => ServerName::try_from(host).map_err(|e| SendError::TlsHandshake {
                    addr,
                    source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
                })?,
                None => ServerName::IpAddress(addr.ip().into()),
            };
            let tls = timeout(connect_timeout, connector.connect(name, sock))
                .await
                .map_err(|_| timed_out())
                .and_then(|r| r)
                .map_err(|source| SendError::TlsHandshake { addr, source })?;
            stream::spawn(shared, tls, kind, local, addr, slot)
        }
    })
}

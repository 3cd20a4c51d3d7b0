//! The flow table: every open connection and every known UDP peer, by id and
//! by address, with the means to send on it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::{FlowId, FlowInfo, SendError, TransportKind};

/// Most UDP peers remembered at once; beyond it new peers' datagrams are
/// dropped until old ones expire (bounds memory under spoofed sources).
pub(crate) const MAX_UDP_FLOWS: usize = 100_000;

/// How bytes leave on a flow.
pub(crate) enum FlowTx {
    /// UDP: straight out of the listening socket.
    Udp(Arc<UdpSocket>),
    /// Streams and WebSockets: the connection's writer task.
    Queue(mpsc::Sender<Bytes>),
}

struct Entry {
    info: FlowInfo,
    tx: FlowTx,
    /// Last datagram in or out (UDP flows expire on it).
    last_seen: Instant,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<FlowId, Entry>,
    /// Latest connection per (kind, remote address), for reuse by `send`.
    streams: HashMap<(TransportKind, SocketAddr), FlowId>,
    /// (local socket address, remote address) → UDP flow.
    udp: HashMap<(SocketAddr, SocketAddr), FlowId>,
}

#[derive(Default)]
pub(crate) struct Flows {
    inner: Mutex<Inner>,
    next: AtomicU64,
}

impl Flows {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take all transports down with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_id(&self) -> FlowId {
        FlowId(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Register a connection (TCP / TLS / WS / WSS) and its writer queue.
    pub(crate) fn add_stream(&self, info: FlowInfo, tx: mpsc::Sender<Bytes>) -> FlowId {
        let id = self.next_id();
        let mut inner = self.lock();
        inner.streams.insert((info.kind, info.remote), id);
        inner.by_id.insert(
            id,
            Entry {
                info,
                tx: FlowTx::Queue(tx),
                last_seen: Instant::now(),
            },
        );
        id
    }

    /// The flow for a UDP peer on `socket`, created on first contact and
    /// refreshed on every use. `None` when the table is full.
    pub(crate) fn udp_flow(
        &self,
        socket: &Arc<UdpSocket>,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<FlowId> {
        let mut inner = self.lock();
        if let Some(&id) = inner.udp.get(&(local, remote)) {
            if let Some(e) = inner.by_id.get_mut(&id) {
                e.last_seen = Instant::now();
            }
            return Some(id);
        }
        if inner.udp.len() >= MAX_UDP_FLOWS {
            return None;
        }
        let id = self.next_id();
        inner.udp.insert((local, remote), id);
        inner.by_id.insert(
            id,
            Entry {
                info: FlowInfo {
                    kind: TransportKind::Udp,
                    local,
                    remote,
                },
                tx: FlowTx::Udp(socket.clone()),
                last_seen: Instant::now(),
            },
        );
        Some(id)
    }

    pub(crate) fn find_stream(&self, kind: TransportKind, remote: SocketAddr) -> Option<FlowId> {
        self.lock().streams.get(&(kind, remote)).copied()
    }

    pub(crate) fn info(&self, id: FlowId) -> Option<FlowInfo> {
        self.lock().by_id.get(&id).map(|e| e.info)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Send on a flow. Never waits for a slow peer: a full queue is an error.
    pub(crate) async fn send(&self, id: FlowId, bytes: Bytes) -> Result<(), SendError> {
        enum Route {
            Udp(Arc<UdpSocket>, SocketAddr),
            Queue(mpsc::Sender<Bytes>),
        }
        let route = {
            let mut inner = self.lock();
            let e = inner.by_id.get_mut(&id).ok_or(SendError::FlowClosed(id))?;
            match &e.tx {
                FlowTx::Udp(sock) => {
                    e.last_seen = Instant::now();
                    Route::Udp(sock.clone(), e.info.remote)
                }
                FlowTx::Queue(tx) => Route::Queue(tx.clone()),
            }
        };
        match route {
            Route::Udp(sock, remote) => {
                sock.send_to(&bytes, remote).await?;
                Ok(())
            }
            Route::Queue(tx) => tx.try_send(bytes).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SendError::QueueFull(id),
                mpsc::error::TrySendError::Closed(_) => SendError::FlowClosed(id),
            }),
        }
    }

    /// Forget a flow; true if it was known (so "closed" is reported once).
    pub(crate) fn remove(&self, id: FlowId) -> bool {
        let mut inner = self.lock();
        let Some(e) = inner.by_id.remove(&id) else {
            return false;
        };
        match e.tx {
            FlowTx::Udp(_) => {
                inner.udp.remove(&(e.info.local, e.info.remote));
            }
            FlowTx::Queue(_) => {
                let key = (e.info.kind, e.info.remote);
                if inner.streams.get(&key) == Some(&id) {
                    inner.streams.remove(&key);
                }
            }
        }
        true
    }

    /// UDP flows unused for longer than `ttl`.
    pub(crate) fn expired_udp(&self, ttl: Duration) -> Vec<FlowId> {
        let now = Instant::now();
        let inner = self.lock();
        inner
            .udp
            .values()
            .filter(|id| {
                inner
                    .by_id
                    .get(id)
                    .is_some_and(|e| now.duration_since(e.last_seen) > ttl)
            })
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(kind: TransportKind, remote: &str) -> FlowInfo {
        FlowInfo {
            kind,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: remote.parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn stream_flows_are_found_sent_to_and_removed_once() {
        let flows = Flows::default();
        let (tx, mut rx) = mpsc::channel(1);
        let a = flows.add_stream(info(TransportKind::Tcp, "127.0.0.2:7000"), tx);
        let remote = "127.0.0.2:7000".parse().unwrap();
        assert_eq!(flows.find_stream(TransportKind::Tcp, remote), Some(a));
        assert_eq!(flows.find_stream(TransportKind::Tls, remote), None);
        flows.send(a, Bytes::from_static(b"x")).await.unwrap();
        assert!(matches!(
            flows.send(a, Bytes::from_static(b"y")).await,
            Err(SendError::QueueFull(_))
        ));
        assert_eq!(rx.recv().await.unwrap(), Bytes::from_static(b"x"));
        assert!(flows.remove(a));
        assert!(!flows.remove(a));
        assert!(flows.info(a).is_none());
        assert_eq!(flows.find_stream(TransportKind::Tcp, remote), None);
        assert!(matches!(
            flows.send(a, Bytes::new()).await,
            Err(SendError::FlowClosed(_))
        ));
    }

    #[tokio::test]
    async fn udp_flow_per_socket_and_peer_and_expiry() {
        let flows = Flows::default();
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let local = sock.local_addr().unwrap();
        let p1 = "127.0.0.1:1001".parse().unwrap();
        let p2 = "127.0.0.1:1002".parse().unwrap();
        let a = flows.udp_flow(&sock, local, p1).unwrap();
        assert_eq!(flows.udp_flow(&sock, local, p1), Some(a));
        let b = flows.udp_flow(&sock, local, p2).unwrap();
        assert_ne!(a, b);
        assert_eq!(flows.info(b).unwrap().remote, p2);
        assert!(flows.expired_udp(Duration::from_secs(60)).is_empty());
        // Both age past a zero TTL as soon as the clock ticks.
        let deadline = Instant::now() + Duration::from_secs(5);
        while flows.expired_udp(Duration::ZERO).len() != 2 {
            assert!(Instant::now() < deadline, "flows never expired");
            tokio::task::yield_now().await;
        }
        assert!(flows.remove(a));
        let c = flows.udp_flow(&sock, local, p1).unwrap();
        assert_ne!(a, c, "flow ids are never reused");
    }
}

//! Transports: UDP, TCP, TLS and WebSocket (RFC 7118), all feeding one [`Sink`]
//! with framed SIP messages tagged by the [`FlowId`] they arrived on.
//!
//! Transports know nothing of routing or push. They frame (with
//! `sipwake_sip`), enforce size / time / connection limits, answer CRLF
//! keep-alives, and send bytes where the proxy tells them to.
//!
//! Wiring order: [`TransportHandle::new`] → build the sink (the proxy, which
//! keeps a handle clone) → [`TransportHandle::start`] binds and serves the SIP
//! listeners; `http` serves WS/WSS flows through the same handle.

mod flows;
mod framing;
mod stream;
mod tcp;
mod udp;
pub mod ws;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::net::NetError;
pub use crate::net::{
    Destination, FlowId, FlowInfo, Inbound, Network, SendFuture, Sink, TransportKind,
};
use crate::util::PerSecond;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0} is closed")]
    FlowClosed(FlowId),
    #[error("no {0} listener to send from")]
    NoListener(TransportKind),
    #[error("cannot open an outgoing {0} connection (clients must connect to us)")]
    NotDialable(TransportKind),
    #[error("connection limit reached")]
    TooManyConnections,
    #[error("connecting to {addr} failed: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS handshake with {addr} failed: {source}")]
    TlsHandshake {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("send queue of {0} is full (peer not reading)")]
    QueueFull(FlowId),
    #[error("message of {0} bytes exceeds the transport limit")]
    TooLarge(usize),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("shutting down")]
    ShuttingDown,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot bind {kind} listener on {addr}: {source}")]
pub struct BindError {
    pub kind: TransportKind,
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// Size, time and count limits from `[sip]`.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_headers: usize,
    pub max_connections: usize,
    /// `[limits] flows_per_ip`: inbound TCP/TLS/WebSocket flows one source
    /// address may hold; 0 = no per-address bound.
    pub flows_per_ip: usize,
    /// `[limits] connections_per_sec`: new inbound connections one source
    /// address may open per second; 0 = no bound.
    pub connections_per_sec: u32,
    pub idle_timeout: Duration,
    pub read_timeout: Duration,
    /// How long an unused UDP flow is remembered. At least the longest
    /// registration, so a registered UDP client's FlowId stays valid.
    pub udp_flow_ttl: Duration,
}

impl Limits {
    pub fn from_config(c: &Config) -> Limits {
        let s = &c.sip;
        let idle = Duration::from_secs(s.idle_timeout_secs);
        Limits {
            max_message_bytes: s.max_message_bytes,
            max_headers: s.max_headers,
            max_connections: s.max_connections,
            flows_per_ip: c.limits.flows_per_ip,
            connections_per_sec: c.limits.connections_per_sec,
            idle_timeout: idle,
            read_timeout: Duration::from_secs(s.read_timeout_secs),
            udp_flow_ttl: idle.max(Duration::from_secs(u64::from(c.registrar.max_expires) + 60)),
        }
    }
}

/// A listener that was bound, for startup logs and tests (port 0 → real port).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundListener {
    pub kind: TransportKind,
    pub addr: SocketAddr,
}

/// Cheap-clone handle to all transports: send, look up flows, advertise.
#[derive(Clone)]
pub struct TransportHandle {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) limits: Limits,
    pub(crate) flows: flows::Flows,
    /// Counts TCP + TLS + WS connections, inbound and outbound.
    pub(crate) connections: AtomicUsize,
    /// Counts HTTP(S) connections not (yet) upgraded to WebSocket.
    http_connections: AtomicUsize,
    /// Inbound SIP flows per source address (`Limits::flows_per_ip`).
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// New inbound connections per source address this second.
    new_per_ip: PerSecond<IpAddr>,
    /// Inbound connections refused: over `connections_per_sec`, and at
    /// `flows_per_ip` / `max_connections`.
    refused_rate: AtomicU64,
    refused_cap: AtomicU64,
    sink: OnceLock<Arc<dyn Sink>>,
    udp_sockets: RwLock<Vec<Arc<tokio::net::UdpSocket>>>,
    advertised: RwLock<HashMap<TransportKind, (String, u16)>>,
    advertise_override: Option<(String, Option<u16>)>,
    pub(crate) tls_client: Option<Arc<rustls::ClientConfig>>,
    /// Host names to verify outgoing TLS peers against, by address.
    tls_names: RwLock<HashMap<SocketAddr, String>>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
    ready: AtomicBool,
    /// Per-destination locks so concurrent sends open one connection.
    dialing: Mutex<HashMap<(TransportKind, SocketAddr), DialGate>>,
}

impl TransportHandle {
    /// A handle with no listeners yet. `tls_client` enables outgoing SIP TLS.
    pub fn new(config: &Config, tls_client: Option<Arc<rustls::ClientConfig>>) -> TransportHandle {
        TransportHandle {
            shared: Arc::new(Shared {
                limits: Limits::from_config(config),
                flows: flows::Flows::default(),
                connections: AtomicUsize::new(0),
                http_connections: AtomicUsize::new(0),
                per_ip: Mutex::new(HashMap::new()),
                new_per_ip: PerSecond::new(config.limits.connections_per_sec),
                refused_rate: AtomicU64::new(0),
                refused_cap: AtomicU64::new(0),
                sink: OnceLock::new(),
                udp_sockets: RwLock::new(Vec::new()),
                advertised: RwLock::new(HashMap::new()),
                advertise_override: config.advertise(),
                tls_client,
                tls_names: RwLock::new(HashMap::new()),
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
                ready: AtomicBool::new(false),
                dialing: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Bind every `[sip]` listener (UDP, TCP, TLS), then serve them into
    /// `sink`. Binds everything before serving anything, so a bind error
    /// leaves nothing running. `tls_server` is required when `sip.tls` is set.
    pub async fn start(
        &self,
        config: &Config,
        tls_server: Option<Arc<rustls::ServerConfig>>,
        sink: Arc<dyn Sink>,
    ) -> Result<Vec<BoundListener>, BindError> {
        let _ = self.shared.sink.set(sink);
        let s = &config.sip;
        let mut udp = Vec::new();
        for &addr in &s.udp {
            udp.push(udp::bind(addr).await?);
        }
        let mut tcp = Vec::new();
        for &addr in &s.tcp {
            tcp.push(bind_tcp_beside_udp(addr, &udp).await?);
        }
        let mut tls = Vec::new();
        if !s.tls.is_empty() {
            let Some(server) = tls_server else {
                return Err(BindError {
                    kind: TransportKind::Tls,
                    addr: s.tls[0],
                    source: std::io::Error::other("no TLS server configuration"),
                });
            };
            for &addr in &s.tls {
                tls.push((tcp::bind(TransportKind::Tls, addr).await?, server.clone()));
            }
        }
        let mut bound = Vec::new();
        for (sock, addr) in udp {
            self.register_listener(TransportKind::Udp, addr);
            bound.push(BoundListener {
                kind: TransportKind::Udp,
                addr,
            });
            let sock = Arc::new(sock);
            self.shared
                .udp_sockets
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .push(sock.clone());
            self.shared
                .tasks
                .spawn(udp::recv_loop(self.shared.clone(), sock, addr));
        }
        for (listener, addr) in tcp {
            self.register_listener(TransportKind::Tcp, addr);
            bound.push(BoundListener {
                kind: TransportKind::Tcp,
                addr,
            });
            self.shared
                .tasks
                .spawn(tcp::accept_loop(self.shared.clone(), listener, addr, None));
        }
        for ((listener, addr), server) in tls {
            self.register_listener(TransportKind::Tls, addr);
            bound.push(BoundListener {
                kind: TransportKind::Tls,
                addr,
            });
            let acceptor = tokio_rustls::TlsAcceptor::from(server);
            self.shared.tasks.spawn(tcp::accept_loop(
                self.shared.clone(),
                listener,
                addr,
                Some(acceptor),
            ));
        }
        if !bound.is_empty() {
            self.shared
                .tasks
                .spawn(udp::sweep_loop(self.shared.clone()));
        }
        Ok(bound)
    }

    /// Record a bound listener's address so [`via_host_port`](Self::via_host_port)
    /// can advertise it (the first listener of each kind wins). `http` calls
    /// this for WS / WSS.
    pub fn register_listener(&self, kind: TransportKind, addr: SocketAddr) {
        let mut map = self
            .shared
            .advertised
            .write()
            .unwrap_or_else(|e| e.into_inner());
        map.entry(kind).or_insert_with(|| {
            let (host, port) = match &self.shared.advertise_override {
                Some((host, port)) => (host.clone(), port.unwrap_or(addr.port())),
                None => (listen_host(addr.ip()), addr.port()),
            };
            (bracket_ipv6(&host), port)
        });
    }

    /// Send one SIP message. Returns the flow it went out on (new for a fresh
    /// TCP/TLS connection or UDP peer). Opens TCP/TLS connections on demand,
    /// reusing an open one to the same address; UDP goes out of a listening socket.
    pub async fn send(&self, dest: Destination, bytes: Bytes) -> Result<FlowId, SendError> {
        if self.shared.shutdown.is_cancelled() {
            return Err(SendError::ShuttingDown);
        }
        if bytes.len() > self.shared.limits.max_message_bytes.max(65535) {
            return Err(SendError::TooLarge(bytes.len()));
        }
        if tracing::enabled!(tracing::Level::DEBUG) {
            let call_id = framing::call_id(&bytes).unwrap_or_default();
            tracing::debug!(dest = ?dest, bytes = bytes.len(), call_id = %call_id, "sip out");
        }
        match dest {
            Destination::Flow(id) => self.shared.flows.send(id, bytes).await.map(|()| id),
            Destination::Addr { kind, addr } => match kind {
                TransportKind::Udp => {
                    udp::send_to(&self.shared, self.udp_socket_for(addr)?, addr, bytes).await
                }
                TransportKind::Tcp | TransportKind::Tls => {
                    if let Some(sent) = self.send_existing(kind, addr, &bytes).await {
                        return sent;
                    }
                    // One dial per destination: concurrent senders wait for
                    // it and then reuse the new connection.
                    let gate = self.shared.dial_gate(kind, addr);
                    let _dialing = gate.lock().await;
                    if let Some(sent) = self.send_existing(kind, addr, &bytes).await {
                        return sent;
                    }
                    let dialed = tcp::connect(&self.shared, kind, addr).await;
                    self.shared.release_dial_gate(kind, addr, &gate);
                    let id = dialed?;
                    self.shared.flows.send(id, bytes).await.map(|()| id)
                }
                TransportKind::Ws | TransportKind::Wss => {
                    let id = self
                        .shared
                        .flows
                        .find_stream(kind, addr)
                        .ok_or(SendError::NotDialable(kind))?;
                    self.shared.flows.send(id, bytes).await.map(|()| id)
                }
            },
        }
    }

    /// Verify an outgoing TLS connection to `addr` against `host` (the name
    /// the proxy resolved, e.g. from `sips:pbx.example.org`) instead of the
    /// IP address. Applies to connections opened afterwards.
    pub fn set_tls_name(&self, addr: SocketAddr, host: &str) {
        let mut names = self
            .shared
            .tls_names
            .write()
            .unwrap_or_else(|e| e.into_inner());
        // Bounded: a gateway talks to a handful of upstreams.
        if names.len() < 1024 || names.contains_key(&addr) {
            names.insert(addr, host.to_string());
        }
    }

    /// The kind and addresses of an open flow; `None` once it closed.
    pub fn flow(&self, id: FlowId) -> Option<FlowInfo> {
        self.shared.flows.info(id)
    }

    /// Advertised `(host, port)` for our Via / Record-Route / Path on `kind`.
    /// IPv6 hosts come bracketed (`[::1]`), ready to write into SIP.
    /// `None` when there is no listener of that kind.
    pub fn via_host_port(&self, kind: TransportKind) -> Option<(String, u16)> {
        self.shared
            .advertised
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&kind)
            .cloned()
    }

    /// Inbound connections refused so far: (over `connections_per_sec`,
    /// at `flows_per_ip` / `max_connections`).
    pub fn refused_connections(&self) -> (u64, u64) {
        (
            self.shared.refused_rate.load(Ordering::Relaxed),
            self.shared.refused_cap.load(Ordering::Relaxed),
        )
    }

    /// Number of open TCP + TLS + WS connections.
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Number of known flows of every kind (UDP peers included).
    pub fn flow_count(&self) -> usize {
        self.shared.flows.len()
    }

    /// Readiness for `/healthz`: set by main once every listener is bound.
    pub fn set_ready(&self) {
        self.shared.ready.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.shared.ready.load(Ordering::Acquire) && !self.shared.shutdown.is_cancelled()
    }

    /// Token cancelled at shutdown; HTTP serving watches it too.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shared.shutdown.clone()
    }

    /// Stop accepting, close every flow, and wait (up to `grace`) for the
    /// transport tasks to finish. Returns whether they all finished in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.shared.shutdown.cancel();
        self.shared.tasks.close();
        tokio::time::timeout(grace, self.shared.tasks.wait())
            .await
            .is_ok()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Send over an open connection to `addr`, if there is one.
    async fn send_existing(
        &self,
        kind: TransportKind,
        addr: SocketAddr,
        bytes: &Bytes,
    ) -> Option<Result<FlowId, SendError>> {
        let id = self.shared.flows.find_stream(kind, addr)?;
        match self.shared.flows.send(id, bytes.clone()).await {
            // Closed between lookup and send: dial a new one.
            Err(SendError::FlowClosed(_)) => None,
            other => Some(other.map(|()| id)),
        }
    }

    fn udp_socket_for(&self, addr: SocketAddr) -> Result<Arc<tokio::net::UdpSocket>, SendError> {
        let socks = self
            .shared
            .udp_sockets
            .read()
            .unwrap_or_else(|e| e.into_inner());
        // Same address family first; a v6 wildcard socket also reaches v4.
        socks
            .iter()
            .find(|s| s.local_addr().is_ok_and(|l| l.is_ipv4() == addr.is_ipv4()))
            .or_else(|| socks.first())
            .cloned()
            .ok_or(SendError::NoListener(TransportKind::Udp))
    }
}

impl Shared {
    /// Hand a framed message to the sink, logging it with its Call-ID.
    pub(crate) fn deliver(&self, msg: Inbound) {
        if tracing::enabled!(tracing::Level::DEBUG) {
            let call_id = framing::call_id(&msg.bytes).unwrap_or_default();
            tracing::debug!(
                flow = %msg.flow, transport = msg.kind.log_name(), remote = %msg.remote,
                bytes = msg.bytes.len(), call_id = %call_id, "sip in"
            );
        }
        match self.sink.get() {
            Some(sink) => sink.on_message(msg),
            None => tracing::warn!(flow = %msg.flow, "message dropped: transports not started"),
        }
    }

    /// Forget a flow and tell the sink (once).
    pub(crate) fn close_flow(&self, id: FlowId) {
        if self.flows.remove(id) {
            self.notify_closed(id);
        }
    }

    pub(crate) fn tls_name(&self, addr: SocketAddr) -> Option<String> {
        self.tls_names
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&addr)
            .cloned()
    }

    /// Tell the sink a flow (already removed from the table) is gone.
    pub(crate) fn notify_closed(&self, id: FlowId) {
        if let Some(sink) = self.sink.get() {
            sink.on_flow_closed(id);
        }
    }

    fn dial_gate(&self, kind: TransportKind, addr: SocketAddr) -> DialGate {
        self.dialing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((kind, addr))
            .or_default()
            .clone()
    }

    /// Drop the gate once nobody else holds it (keeps the map small).
    fn release_dial_gate(&self, kind: TransportKind, addr: SocketAddr, gate: &DialGate) {
        let mut map = self.dialing.lock().unwrap_or_else(|e| e.into_inner());
        // Ours + the map's reference = 2: no other sender is waiting.
        if Arc::strong_count(gate) <= 2 {
            map.remove(&(kind, addr));
        }
    }

    /// Take a connection slot, or `None` when `max_connections` is reached.
    pub(crate) fn acquire_connection(self: &Arc<Self>) -> Option<ConnSlot> {
        self.acquire(false)
    }

    /// A slot for an inbound flow from `from`: also `None` when that address
    /// holds `flows_per_ip` flows already (one source cannot take them all).
    pub(crate) fn acquire_inbound(self: &Arc<Self>, from: IpAddr) -> Option<ConnSlot> {
        if !self.new_per_ip.allow(from) {
            self.refused_rate.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(source = %from, connections_per_sec = self.limits.connections_per_sec, "refusing connection: [limits] connections_per_sec reached");
            return None;
        }
        let slot = self.acquire_inbound_slot(from);
        if slot.is_none() {
            self.refused_cap.fetch_add(1, Ordering::Relaxed);
        }
        slot
    }

    fn acquire_inbound_slot(self: &Arc<Self>, from: IpAddr) -> Option<ConnSlot> {
        let max = self.limits.flows_per_ip;
        if max > 0 {
            let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
            let n = per_ip.entry(from).or_insert(0);
            if *n >= max {
                return None;
            }
            *n += 1;
        }
        match self.acquire(false) {
            Some(mut slot) => {
                slot.from = (max > 0).then_some(from);
                Some(slot)
            }
            None => {
                if max > 0 {
                    self.release_ip(from);
                }
                None
            }
        }
    }

    fn release_ip(&self, from: IpAddr) {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per_ip.get_mut(&from) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&from);
            }
        }
    }

    /// Take a plain HTTP(S) connection slot (a separate count with the same
    /// `max_connections` bound; a WebSocket takes a SIP slot on upgrade).
    pub(crate) fn acquire_http_connection(self: &Arc<Self>) -> Option<ConnSlot> {
        self.acquire(true)
    }

    fn counter(&self, http: bool) -> &AtomicUsize {
        if http {
            &self.http_connections
        } else {
            &self.connections
        }
    }

    fn acquire(self: &Arc<Self>, http: bool) -> Option<ConnSlot> {
        let max = self.limits.max_connections;
        self.counter(http)
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnSlot {
                shared: self.clone(),
                http,
                from: None,
            })
    }
}

/// Serialises dialling one destination.
type DialGate = Arc<tokio::sync::Mutex<()>>;

/// One of `max_connections`; released on drop.
pub(crate) struct ConnSlot {
    shared: Arc<Shared>,
    http: bool,
    /// The source address counted against `flows_per_ip`, if any.
    from: Option<IpAddr>,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.shared
            .counter(self.http)
            .fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = self.from {
            self.shared.release_ip(ip);
        }
    }
}

/// Bind a TCP listener. With port 0 and a UDP listener on the same IP, try
/// the UDP port first so SIP UDP and TCP share one number (as 5060 does).
async fn bind_tcp_beside_udp(
    addr: SocketAddr,
    udp: &[(tokio::net::UdpSocket, SocketAddr)],
) -> Result<(tokio::net::TcpListener, SocketAddr), BindError> {
    if addr.port() == 0
        && let Some((_, u)) = udp.iter().find(|(_, u)| u.ip() == addr.ip())
        && let Ok(bound) = tcp::bind(TransportKind::Tcp, *u).await
    {
        return Ok(bound);
    }
    tcp::bind(TransportKind::Tcp, addr).await
}

/// The host to advertise for a listener bound to `ip` when `sip.advertise` is
/// empty. A wildcard bind advertises the address of the interface holding the
/// default route (found with an unconnected-UDP `connect`, which sends nothing).
fn listen_host(ip: IpAddr) -> String {
    if !ip.is_unspecified() {
        return ip.to_string();
    }
    let probe = || -> std::io::Result<IpAddr> {
        let (bind, target): (SocketAddr, SocketAddr) = if ip.is_ipv4() {
            (
                (Ipv4Addr::UNSPECIFIED, 0).into(),
                ([192, 0, 2, 1], 9).into(),
            )
        } else {
            (
                "[::]:0".parse().map_err(std::io::Error::other)?,
                "[2001:db8::1]:9".parse().map_err(std::io::Error::other)?,
            )
        };
        let s = StdUdpSocket::bind(bind)?;
        s.connect(target)?;
        Ok(s.local_addr()?.ip())
    };
    match probe() {
        Ok(found) if !found.is_unspecified() => found.to_string(),
        _ => {
            let fallback = if ip.is_ipv4() { "127.0.0.1" } else { "::1" };
            tracing::warn!(
                "cannot find an interface address for wildcard bind {ip}; advertising {fallback} (set sip.advertise)"
            );
            fallback.to_string()
        }
    }
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

impl Network for TransportHandle {
    /// Connections (what `max_connections` bounds), not flows: remembered
    /// UDP peers cost no connection slot and must not read as load.
    fn load(&self) -> u8 {
        crate::net::load_level(self.connection_count(), self.shared.limits.max_connections)
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for k in TransportKind::ALL {
            assert_eq!(TransportKind::from_name(k.via_name()), Some(k));
            assert_eq!(TransportKind::from_name(k.log_name()), Some(k));
        }
        assert_eq!(TransportKind::from_name("SCTP"), None);
        assert!(!TransportKind::Udp.is_reliable() && TransportKind::Ws.is_reliable());
        assert!(TransportKind::Wss.is_secure() && !TransportKind::Tcp.is_secure());
    }

    #[test]
    fn advertised_host_port() {
        let mut config = Config::default();
        let h = TransportHandle::new(&config, None);
        h.register_listener(TransportKind::Udp, "127.0.0.1:5062".parse().unwrap());
        h.register_listener(TransportKind::Udp, "127.0.0.1:9999".parse().unwrap());
        h.register_listener(TransportKind::Tls, "[::1]:5061".parse().unwrap());
        assert_eq!(
            h.via_host_port(TransportKind::Udp),
            Some(("127.0.0.1".into(), 5062))
        );
        assert_eq!(
            h.via_host_port(TransportKind::Tls),
            Some(("[::1]".into(), 5061))
        );
        assert_eq!(h.via_host_port(TransportKind::Tcp), None);

        config.sip.advertise = "gw.example.org".into();
        let h = TransportHandle::new(&config, None);
        h.register_listener(TransportKind::Ws, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(
            h.via_host_port(TransportKind::Ws),
            Some(("gw.example.org".into(), 8080))
        );

        config.sip.advertise = "::1:7000".into(); // bare IPv6, no port
        let h = TransportHandle::new(&config, None);
        h.register_listener(TransportKind::Tcp, "0.0.0.0:5060".parse().unwrap());
        assert_eq!(
            h.via_host_port(TransportKind::Tcp),
            Some(("[::1:7000]".into(), 5060))
        );
    }

    #[test]
    fn wildcard_bind_advertises_a_concrete_address() {
        let host = listen_host("0.0.0.0".parse().unwrap());
        let ip: IpAddr = host.parse().unwrap();
        assert!(!ip.is_unspecified());
    }
}

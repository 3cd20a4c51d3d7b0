//! In-memory network and message helpers for the proxy integration tests.
//! Every send is recorded; flows are plain table entries.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sipwake::bindings::{PushBindings, PushSender};
use sipwake::config::Config;
use sipwake::net::{
    Destination, FlowId, FlowInfo, Inbound, NetError, Network, SendFuture, TransportKind,
};
use sipwake::proxy::{Proxy, ProxyParts};
use sipwake::transaction::Timers;
use sipwake::wake::Waker;
use sipwake_sip::Message;
use tokio::sync::mpsc;

pub const GW: &str = "127.0.0.1";

/// One message the proxy sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub dest: Destination,
    pub flow: FlowId,
    pub msg: Message,
}

impl Sent {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.msg.raw()).into_owned()
    }
    pub fn status(&self) -> Option<u16> {
        self.msg.status()
    }
    pub fn method(&self) -> Option<&str> {
        self.msg.method()
    }
}

pub struct FakeNet {
    flows: Mutex<HashMap<FlowId, FlowInfo>>,
    by_addr: Mutex<HashMap<(TransportKind, SocketAddr), FlowId>>,
    next: AtomicU64,
    tx: mpsc::UnboundedSender<Sent>,
    /// Addresses that refuse connections (send fails).
    pub unreachable: Mutex<HashSet<SocketAddr>>,
    /// The load level (wsload 0..=4) the gateway sees.
    pub load: std::sync::atomic::AtomicU8,
}

fn gw_port(kind: TransportKind) -> u16 {
    match kind {
        TransportKind::Udp | TransportKind::Tcp => 5060,
        TransportKind::Tls => 5061,
        TransportKind::Ws | TransportKind::Wss => 8443,
    }
}

impl FakeNet {
    pub fn add_flow(&self, kind: TransportKind, remote: SocketAddr) -> FlowId {
        let id = FlowId(self.next.fetch_add(1, Ordering::Relaxed));
        let local: SocketAddr = format!("{GW}:{}", gw_port(kind)).parse().unwrap();
        self.flows.lock().unwrap().insert(
            id,
            FlowInfo {
                kind,
                local,
                remote,
            },
        );
        self.by_addr.lock().unwrap().insert((kind, remote), id);
        id
    }

    pub fn close(&self, id: FlowId) {
        self.flows.lock().unwrap().remove(&id);
    }

    pub fn info(&self, id: FlowId) -> FlowInfo {
        self.flows.lock().unwrap()[&id]
    }
}

impl Network for FakeNet {
    fn send(&self, dest: Destination, bytes: Bytes) -> SendFuture<'_> {
        Box::pin(async move {
            let flow = match &dest {
                Destination::Flow(f) => {
                    if !self.flows.lock().unwrap().contains_key(f) {
                        return Err(NetError(format!("{f} closed")));
                    }
                    *f
                }
                Destination::Addr { kind, addr } => {
                    if self.unreachable.lock().unwrap().contains(addr) {
                        return Err(NetError(format!("connect to {addr} refused")));
                    }
                    let known = self.by_addr.lock().unwrap().get(&(*kind, *addr)).copied();
                    match known.filter(|f| self.flows.lock().unwrap().contains_key(f)) {
                        Some(f) => f,
                        None => self.add_flow(*kind, *addr),
                    }
                }
            };
            let msg = Message::parse(bytes)
                .map_err(|e| NetError(format!("proxy sent unparsable bytes: {e}")))?;
            let _ = self.tx.send(Sent { dest, flow, msg });
            Ok(flow)
        })
    }

    fn flow(&self, id: FlowId) -> Option<FlowInfo> {
        self.flows.lock().unwrap().get(&id).copied()
    }

    fn via_host_port(&self, kind: TransportKind) -> Option<(String, u16)> {
        Some((GW.to_owned(), gw_port(kind)))
    }

    fn load(&self) -> u8 {
        self.load.load(Ordering::Relaxed)
    }
}

pub struct Harness {
    pub proxy: Arc<Proxy>,
    pub net: Arc<FakeNet>,
    /// Push wake-up, when built with it.
    pub waker: Option<Arc<Waker>>,
    rx: mpsc::UnboundedReceiver<Sent>,
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

impl Harness {
    pub fn new(config: Config) -> Harness {
        Harness::build(config, None, None)
    }

    /// The proxy with push binding capture (`push`) and, given a sender,
    /// push wake-up.
    pub fn build(
        config: Config,
        push: Option<Arc<PushBindings>>,
        sender: Option<Arc<dyn PushSender>>,
    ) -> Harness {
        let (tx, rx) = mpsc::unbounded_channel();
        let net = Arc::new(FakeNet {
            flows: Mutex::default(),
            by_addr: Mutex::default(),
            next: AtomicU64::new(1),
            tx,
            unreachable: Mutex::default(),
            load: std::sync::atomic::AtomicU8::new(0),
        });
        let mut parts = ProxyParts::with_network(Arc::new(config), net.clone(), Timers::default());
        if let Some(p) = push {
            parts = parts.push(p);
        }
        let (proxy, waker) = match sender {
            Some(s) => sipwake::wake::proxy_with_wake(parts, s, None).unwrap(),
            None => (Proxy::new(parts).unwrap(), None),
        };
        Harness {
            proxy,
            net,
            waker,
            rx,
        }
    }

    pub fn standalone() -> Harness {
        Harness::new(Config::default())
    }

    pub fn upstream(server: &str, selection: bool, allow: &[&str]) -> Harness {
        Harness::new(Harness::upstream_config(server, selection, allow))
    }

    pub fn upstream_config(server: &str, selection: bool, allow: &[&str]) -> Config {
        let mut c = Config::default();
        c.upstream.server = server.into();
        c.upstream.client_selection = selection;
        c.upstream.allow = allow.iter().map(|s| s.to_string()).collect();
        c
    }

    /// Wake-up counters (`None` without push wake-up).
    pub fn wake_stats(&self) -> Option<serde_json::Value> {
        self.waker.as_ref().map(|w| w.stats_json())
    }

    pub fn flow(&self, kind: TransportKind, remote: &str) -> FlowId {
        self.net.add_flow(kind, addr(remote))
    }

    /// Delivers one message as if it arrived on `flow`.
    pub async fn inject(&self, flow: FlowId, text: &str) {
        let info = self.net.info(flow);
        let bytes = Bytes::from(text.replace("\r\n", "\n").replace('\n', "\r\n"));
        self.proxy
            .handle(Inbound {
                flow,
                kind: info.kind,
                local: info.local,
                remote: info.remote,
                bytes,
            })
            .await;
    }

    /// Delivers bytes exactly as given (one datagram / frame).
    pub async fn inject_raw(&self, flow: FlowId, bytes: Bytes) {
        let info = self.net.info(flow);
        self.proxy
            .handle(Inbound {
                flow,
                kind: info.kind,
                local: info.local,
                remote: info.remote,
                bytes,
            })
            .await;
    }

    /// The next message the proxy sends (virtual time advances as needed).
    pub async fn next(&mut self) -> Sent {
        tokio::time::timeout(Duration::from_secs(300), self.rx.recv())
            .await
            .expect("proxy sent nothing within 300 s")
            .expect("network dropped")
    }

    /// Asserts nothing is sent within `d`.
    pub async fn quiet(&mut self, d: Duration) {
        if let Ok(Some(s)) = tokio::time::timeout(d, self.rx.recv()).await {
            panic!("unexpected message: {}", s.text());
        }
    }

    /// All messages sent within `d`.
    pub async fn drain(&mut self, d: Duration) -> Vec<Sent> {
        let mut out = Vec::new();
        let end = tokio::time::Instant::now() + d;
        while let Ok(Some(s)) = tokio::time::timeout_at(end, self.rx.recv()).await {
            out.push(s);
        }
        out
    }
}

/// A request with the usual headers; `extra` lines are inserted verbatim.
#[allow(clippy::too_many_arguments)]
pub fn request(
    method: &str,
    ruri: &str,
    via: &str,
    from: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
    extra: &str,
) -> String {
    format!(
        "{method} {ruri} SIP/2.0\nVia: {via}\nMax-Forwards: 70\nFrom: {from}\nTo: {to}\nCall-ID: {call_id}\nCSeq: {cseq} {method}\n{extra}Content-Length: 0\n\n"
    )
}

/// A response to a message the proxy sent: copies Via, From, To (adding
/// `to_tag` when given), Call-ID, CSeq, plus `extra` lines.
pub fn reply(req: &Message, code: u16, reason: &str, to_tag: Option<&str>, extra: &str) -> String {
    let mut s = format!("SIP/2.0 {code} {reason}\n");
    for v in req.headers_named("Via") {
        s.push_str(&format!("Via: {}\n", v.value));
    }
    if req.method() == Some("INVITE") || req.method() == Some("SUBSCRIBE") {
        for v in req.headers_named("Record-Route") {
            s.push_str(&format!("Record-Route: {}\n", v.value));
        }
    }
    let to = req.header("To").unwrap();
    let to = match to_tag {
        Some(t) if !to.contains("tag=") => format!("{to};tag={t}"),
        _ => to.to_owned(),
    };
    s.push_str(&format!(
        "From: {}\nTo: {to}\nCall-ID: {}\nCSeq: {}\n{extra}Content-Length: 0\n\n",
        req.header("From").unwrap(),
        req.header("Call-ID").unwrap(),
        req.header("CSeq").unwrap()
    ));
    s
}

/// The Record-Route values of a message, top first (for building a route set).
pub fn record_routes(m: &Message) -> Vec<String> {
    m.values("Record-Route").map(str::to_owned).collect()
}

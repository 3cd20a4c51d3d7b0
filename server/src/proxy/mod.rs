//! The transaction-stateful proxy (RFC 3261 §16) at the heart of the gateway.
//!
//! Transports hand every framed message to [`Proxy`] (it implements
//! [`Sink`]); one worker task processes them in arrival order: validation,
//! transaction matching ([`request`]), then per request a short dispatcher:
//! the routing decision in [`route`] (standalone registrar lookup, upstream
//! selection, Path / Record-Route tokens; [`Proxy::locate`] says where a
//! registered device is now), REGISTERs in [`register`], everything else
//! forwarded in [`forward`] with a [`context::ResponseContext`] per request.
//! An optional [`hold::HoldHook`] (push wake-up) may hold requests for
//! devices that are not reachable yet; the proxy knows nothing else of it.
//! Forwarding runs in per-request tasks so DNS or TCP connects never stall
//! the worker. See docs/sip-routing.md for the routing design.

pub mod context;
mod forward;
pub mod hold;
pub mod locate;
pub mod merge;
mod register;
pub mod request;
pub mod route;
pub mod stats;
pub mod upstream;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, Weak};

use futures_util::FutureExt;
use sipwake_sip::{Message, validate_response};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};

use crate::bindings::PushBindings;
use crate::config::Config;
use crate::net::{FlowId, Inbound, Network, Sink, TransportKind};
use crate::registrar::auth::{DigestAuth, Users, UsersError};
use crate::registrar::paths::PathRegistry;
use crate::registrar::{Registrar, RegistrarEvent};
use crate::token::{self, TokenKey};
use crate::transaction::{ClientTable, ClientTx, ServerTable, Timers};
use context::BranchEnv;
use hold::{HoldHook, HookParts};
use stats::Stats;
use upstream::{SelectError, UpstreamPolicy};

/// Messages waiting for the worker; beyond this the gateway sheds load.
pub const QUEUE_LEN: usize = 8192;
/// Our Via branches start with this (after the magic cookie) so responses
/// and loops can be recognised as ours.
pub const BRANCH_PREFIX: &str = "z9hG4bKsw";

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("[upstream] configuration: {0}")]
    Upstream(#[from] SelectError),
    #[error("[registrar] users_file: {0}")]
    Users(#[from] UsersError),
    #[error(transparent)]
    TokenKey(#[from] token::KeyFileError),
}

pub struct Proxy {
    config: Arc<Config>,
    net: Arc<dyn Network>,
    timers: Timers,
    servers: ServerTable,
    clients: ClientTable,
    registrar: Registrar,
    paths: Arc<PathRegistry>,
    upstream: Option<UpstreamPolicy>,
    /// Addresses upstream servers were reached at: requests from them
    /// without one of our tokens are not treated as client requests.
    upstream_addrs: Mutex<HashSet<SocketAddr>>,
    tokens: TokenKey,
    stats: Arc<Stats>,
    events: broadcast::Sender<RegistrarEvent>,
    queue: mpsc::Sender<Inbound>,
    /// Push binding capture on REGISTER (`None`: no push).
    push: Option<Arc<PushBindings>>,
    /// Holds requests for devices woken first (`None`: no push wake-up).
    hold: Option<Arc<dyn HoldHook>>,
    /// Forks of one request that reach the same registration.
    merged: merge::MergedRequests,
    /// REGISTERs per source address this second (`[limits]`).
    registers: crate::util::PerSecond<std::net::IpAddr>,
    me: Weak<Proxy>,
}

/// What a [`Proxy`] is built from.
pub struct ProxyParts {
    pub config: Arc<Config>,
    pub net: Arc<dyn Network>,
    pub timers: Timers,
    /// Protects Path and Record-Route tokens.
    pub tokens: TokenKey,
    /// Push binding capture on REGISTER.
    pub push: Option<Arc<PushBindings>>,
}

impl ProxyParts {
    /// The gateway's parts: the token key is kept in `data_dir`, so Path
    /// and Record-Route tokens survive a restart.
    pub fn new(config: Arc<Config>, net: Arc<dyn Network>) -> Result<ProxyParts, ProxyError> {
        let tokens = token::load_or_create_key(&config.data_files().token_key)?;
        Ok(ProxyParts {
            config,
            net,
            timers: Timers::default(),
            tokens,
            push: None,
        })
    }

    /// Parts over any [`Network`] (tests use an in-memory one) with a
    /// fresh random token key.
    pub fn with_network(config: Arc<Config>, net: Arc<dyn Network>, timers: Timers) -> ProxyParts {
        ProxyParts {
            config,
            net,
            timers,
            tokens: TokenKey::random(),
            push: None,
        }
    }

    /// With push binding capture on REGISTER.
    pub fn push(mut self, push: Arc<PushBindings>) -> ProxyParts {
        self.push = Some(push);
        self
    }
}

impl Proxy {
    /// The proxy without a hold hook. Must be called inside a tokio runtime.
    pub fn new(parts: ProxyParts) -> Result<Arc<Proxy>, ProxyError> {
        Proxy::build(parts, |_| None)
    }

    /// Builds the proxy once, with the hold hook `hold` makes from the
    /// proxy-to-be and its registration events. Must be called inside a
    /// tokio runtime.
    pub fn build(
        parts: ProxyParts,
        hold: impl FnOnce(HookParts) -> Option<Arc<dyn HoldHook>>,
    ) -> Result<Arc<Proxy>, ProxyError> {
        let ProxyParts {
            config,
            net,
            timers,
            tokens,
            push,
        } = parts;
        let upstream = if config.is_standalone() {
            None
        } else {
            Some(UpstreamPolicy::from_config(&config.upstream)?)
        };
        let auth = if config.registrar.users_file.as_os_str().is_empty() {
            None
        } else {
            let users = Users::load(&config.registrar.users_file, &config.registrar.realm)?;
            Some(DigestAuth::new(
                config.registrar.realm.clone(),
                users,
                config.registrar.digest_algorithms(),
                config.limits.clone(),
            )?)
        };
        match (&upstream, &auth) {
            (Some(u), _) => {
                info!(upstream = ?u.default, client_selection = u.client_selection, contact_mode = ?config.upstream.contact_mode, "proxy: upstream mode")
            }
            (None, Some(a)) => {
                info!(users = a.users().len(), realm = %a.realm, "proxy: standalone registrar with digest auth")
            }
            (None, None) => warn!(
                "proxy: standalone registrar WITHOUT authentication (no [registrar] users_file); anyone who reaches the SIP listeners can register"
            ),
        }
        let (events, _) = broadcast::channel(1024);
        let (queue, rx) = mpsc::channel(QUEUE_LEN);
        let registers = crate::util::PerSecond::new(config.limits.registers_per_sec);
        let proxy = Arc::new_cyclic(|me| Proxy {
            hold: hold(HookParts {
                proxy: me.clone(),
                registrations: events.subscribe(),
            }),
            registrar: Registrar::new(config.registrar.clone(), auth, events.clone()),
            paths: Arc::new(PathRegistry::new(tokens.clone(), events.clone())),
            config,
            net,
            timers,
            servers: ServerTable::default(),
            clients: ClientTable::default(),
            upstream,
            upstream_addrs: Mutex::new(HashSet::new()),
            tokens,
            stats: Arc::new(Stats::default()),
            events,
            queue,
            push,
            merged: merge::MergedRequests::default(),
            registers,
            me: me.clone(),
        });
        tokio::spawn(worker(Arc::downgrade(&proxy), rx));
        // Know the default upstream's address before its first request, so
        // that request is not mistaken for a client's.
        if let Some(hop) = proxy.upstream.as_ref().and_then(|u| u.default.clone()) {
            let weak = Arc::downgrade(&proxy);
            tokio::spawn(async move {
                if let Some(crate::net::Destination::Addr { addr, .. }) = hop.resolve().await
                    && let Some(p) = weak.upgrade()
                {
                    crate::util::lock(&p.upstream_addrs).insert(addr);
                }
            });
        }
        Ok(proxy)
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Live (server, client) transactions — for metrics and leak tests.
    pub fn transaction_counts(&self) -> (usize, usize) {
        let s = crate::util::lock(&self.servers).len();
        let c = crate::util::lock(&self.clients).len();
        (s, c)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether `flow` is still open (a connection, or a remembered UDP peer).
    pub fn flow_is_open(&self, flow: FlowId) -> bool {
        self.net.flow(flow).is_some()
    }

    /// The gateway's load level (wsload 0..=4, [`Network::load`]).
    pub fn load(&self) -> u8 {
        self.net.load()
    }

    /// The transaction timers (for hooks that start branches).
    pub fn timers(&self) -> Timers {
        self.timers
    }

    /// What every response context of this proxy shares.
    fn branch_env(&self) -> BranchEnv {
        BranchEnv {
            net: self.net.clone(),
            timers: self.timers,
            clients: self.clients.clone(),
            stats: self.stats.clone(),
        }
    }

    /// Registration events (the hold hook and the keeper listen).
    pub fn subscribe(&self) -> broadcast::Receiver<RegistrarEvent> {
        self.events.subscribe()
    }

    pub fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    /// Sources banned for failed authentications so far (`[limits]`).
    pub fn bans(&self) -> u64 {
        self.registrar.bans()
    }

    pub fn paths(&self) -> &PathRegistry {
        &self.paths
    }

    /// Upstream mode: how upstream servers are chosen.
    pub fn upstream_policy(&self) -> Option<&UpstreamPolicy> {
        self.upstream.as_ref()
    }

    /// Sends a request the gateway makes itself (the upstream keeper's
    /// REGISTERs) in a client transaction: UDP retransmissions, timer F,
    /// responses matched on the top Via branch (which must start with
    /// [`BRANCH_PREFIX`]).
    pub(crate) fn originate(
        &self,
        request: Message,
        dest: crate::net::Destination,
        reliable: bool,
        on_event: crate::transaction::client::EventHandler,
    ) {
        if let crate::net::Destination::Addr { addr, .. } = &dest {
            crate::util::lock(&self.upstream_addrs).insert(*addr);
        }
        let call_id = request.call_id().unwrap_or("").to_owned();
        ClientTx::start(
            &self.clients,
            self.net.clone(),
            self.timers,
            request,
            dest,
            reliable,
            call_id,
            on_event,
        );
    }

    /// Processes one message (the worker calls this; tests may too).
    pub async fn handle(&self, inb: Inbound) {
        let msg = match Message::parse(inb.bytes.clone()) {
            Ok(m) => m,
            Err(e) => {
                // Nothing to answer to: no parsable headers (RFC 3261 §18.3).
                debug!(flow = %inb.flow, error = %e, "unparsable message dropped");
                Stats::inc(&self.stats.dropped);
                return;
            }
        };
        if msg.is_request() {
            Stats::inc(&self.stats.requests_in);
            self.handle_request(inb, msg).await;
        } else {
            Stats::inc(&self.stats.responses_in);
            self.handle_response(msg);
        }
    }

    fn handle_response(&self, resp: Message) {
        if let Err(d) = validate_response(&resp) {
            debug!(reason = %d.0, "invalid response dropped");
            Stats::inc(&self.stats.dropped);
            return;
        }
        let ours = resp
            .top_via()
            .ok()
            .and_then(|v| v.branch())
            .is_some_and(|b| b.starts_with(BRANCH_PREFIX));
        if !ours || !ClientTx::dispatch(&self.clients, resp) {
            // A stray or late response (e.g. 2xx after timer M): RFC 3261
            // §16.7 lets a stateful proxy drop what matches nothing.
            debug!("response matches no client transaction; dropped");
            Stats::inc(&self.stats.dropped);
        }
    }

    /// Our advertised `(host, port)` for a transport, falling back to any.
    pub(crate) fn advertised(&self, kind: TransportKind) -> Option<(String, u16)> {
        self.net.via_host_port(kind).or_else(|| {
            [
                TransportKind::Udp,
                TransportKind::Tcp,
                TransportKind::Tls,
                TransportKind::Wss,
                TransportKind::Ws,
            ]
            .into_iter()
            .find_map(|k| self.net.via_host_port(k))
        })
    }

    /// A flow's transport and peer (for comparing destinations).
    pub fn flow_info(&self, flow: FlowId) -> Option<crate::net::FlowInfo> {
        self.net.flow(flow)
    }

    fn arc(&self) -> Option<Arc<Proxy>> {
        self.me.upgrade()
    }
}

async fn worker(proxy: Weak<Proxy>, mut rx: mpsc::Receiver<Inbound>) {
    while let Some(inb) = rx.recv().await {
        let Some(p) = proxy.upgrade() else { return };
        // In order, on this task (no spawn + join per message: two fewer
        // task wake-ups); a bug that panics on one message costs that
        // message, not the whole SIP core.
        if AssertUnwindSafe(p.handle(inb))
            .catch_unwind()
            .await
            .is_err()
        {
            tracing::error!("message handling panicked");
        }
    }
}

impl Sink for Proxy {
    fn on_message(&self, msg: Inbound) {
        if self.queue.try_send(msg).is_err() {
            warn!("proxy queue full; message dropped");
            Stats::inc(&self.stats.dropped);
        }
    }

    fn on_flow_closed(&self, flow: FlowId) {
        // Bindings stay: a device whose connection dropped is offline, not
        // unregistered (push wake-up will reach it); routing checks liveness.
        debug!(%flow, "flow closed");
        if let Some(h) = &self.hold {
            h.flow_closed(flow);
        }
    }
}

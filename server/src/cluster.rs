//! This gateway as one node of several sharing Redis / Valkey
//! (docs/cluster.md): it announces where its push devices are connected
//! (node, boot, registration token), writes a heartbeat, listens for the
//! other nodes' announcements, and claims deliveries and pushes so that a
//! held request reaches a device exactly once whichever node it wakes on.
//!
//! The wake-up ([`crate::wake`]) uses it; the proxy never learns it
//! exists. A held request for a device that registered on another node
//! goes there in one hop: to that node's SIP address with the device's
//! registration token as Request-URI user, which the node routes like any
//! request through its Path (see `Proxy::decide`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sipwake_store::{Location, NodeInfo, Presence, PresenceEvent, StoreError};
use tokio::sync::broadcast;
use tracing::{info, warn};

use crate::config::Config;
use crate::net::FlowId;
use crate::util::{lock, unix_now};

/// How long a claim stands: longer than any hold window.
const CLAIM_TTL: Duration = Duration::from_secs(600);

/// A device announced as live here: (AOR, registrar identity, where).
type Announced = (String, String, Location);

/// This node in the cluster.
pub struct Cluster {
    presence: Presence,
    /// `[cluster] node_id`.
    pub node: String,
    /// Random per process: a restarted node has none of its old flows.
    boot: String,
    /// Where other nodes reach this one.
    pub sip: String,
    heartbeat: Duration,
    poll: Duration,
    started_at: i64,
    /// The live locations this node announced, by flow (cleared when the
    /// flow closes).
    published: std::sync::Mutex<HashMap<FlowId, Vec<Announced>>>,
    /// The nodes whose heartbeat is current: id → boot.
    alive: std::sync::Mutex<HashMap<String, String>>,
    events: broadcast::Sender<PresenceEvent>,
    stop: Arc<AtomicBool>,
    /// Requests held here now (for the heartbeat and the API).
    pub holding: AtomicU64,
    flows: Box<dyn Fn() -> u64 + Send + Sync>,
}

/// The node's name: `[cluster] node_id`, else the host name.
fn node_id(config: &Config) -> String {
    if !config.cluster.node_id.is_empty() {
        return config.cluster.node_id.clone();
    }
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sipwake".into())
}

/// The node's internal SIP URI: `[cluster] sip_uri`, else the first UDP
/// listen address (validated as specific at load).
fn sip_uri(config: &Config) -> String {
    if !config.cluster.sip_uri.is_empty() {
        return config.cluster.sip_uri.clone();
    }
    match config.sip.udp.first() {
        Some(a) => format!("sip:{a}"),
        None => String::new(),
    }
}

impl Cluster {
    /// Joins: the first heartbeat is written here (an unreachable Redis
    /// fails startup), then the heartbeat and the subscription run in the
    /// background. `flows` counts this node's open flows.
    pub fn start(
        config: &Config,
        presence: Presence,
        flows: Box<dyn Fn() -> u64 + Send + Sync>,
    ) -> Result<Arc<Cluster>, StoreError> {
        let (events, _) = broadcast::channel(1024);
        let cluster = Arc::new(Cluster {
            presence,
            node: node_id(config),
            boot: sipwake_sip::ids::random_token(12),
            sip: sip_uri(config),
            heartbeat: Duration::from_millis(config.cluster.heartbeat_ms),
            poll: Duration::from_millis(config.cluster.poll_ms),
            started_at: unix_now(),
            published: Default::default(),
            alive: Default::default(),
            events,
            stop: Arc::new(AtomicBool::new(false)),
            holding: AtomicU64::new(0),
            flows,
        });
        cluster.beat()?;
        info!(node = %cluster.node, sip = %cluster.sip, "cluster: joined");
        cluster.spawn_heartbeat();
        cluster.spawn_subscription();
        Ok(cluster)
    }

    /// How often held users' locations are re-read.
    pub fn poll_interval(&self) -> Duration {
        self.poll
    }

    /// Announcements of other nodes (and `Resync` after the subscription
    /// was re-established).
    pub fn subscribe(&self) -> broadcast::Receiver<PresenceEvent> {
        self.events.subscribe()
    }

    fn info(&self) -> NodeInfo {
        NodeInfo {
            id: self.node.clone(),
            boot: self.boot.clone(),
            sip: self.sip.clone(),
            started_at: self.started_at,
            seen_at: unix_now(),
            flows: (self.flows)(),
            holding: self.holding.load(Ordering::Relaxed),
        }
    }

    /// Writes the heartbeat and reads who else is up.
    fn beat(&self) -> Result<(), StoreError> {
        self.presence.heartbeat(&self.info(), self.heartbeat * 3)?;
        let nodes = self.presence.nodes()?;
        *lock(&self.alive) = nodes.into_iter().map(|n| (n.id, n.boot)).collect();
        Ok(())
    }

    fn spawn_heartbeat(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        let every = self.heartbeat;
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                tokio::time::sleep(every).await;
                let Some(c) = me.upgrade() else { return };
                if c.stop.load(Ordering::Relaxed) {
                    return;
                }
                let r = tokio::task::spawn_blocking(move || c.beat()).await;
                match r {
                    Ok(Ok(())) if failing => {
                        failing = false;
                        info!("cluster: heartbeat written again");
                    }
                    Ok(Ok(())) => {}
                    Ok(Err(e)) if !failing => {
                        failing = true;
                        warn!(error = %e, "cluster: heartbeat not written; other nodes will count this one as gone");
                    }
                    _ => {}
                }
            }
        });
    }

    fn spawn_subscription(&self) {
        let presence = self.presence.clone();
        let stop = self.stop.clone();
        let events = self.events.clone();
        let retry = self.heartbeat;
        std::thread::Builder::new()
            .name("cluster-sub".into())
            .spawn(move || {
                presence.subscribe(&stop, retry, |e| {
                    let _ = events.send(e);
                })
            })
            .expect("spawn the cluster subscription thread");
    }

    /// Announces that `identity` of `aor` is connected here on `flow`,
    /// reachable through the registration `token`.
    pub async fn device_live(&self, aor: &str, identity: &str, flow: FlowId, token: &str) {
        let loc = Location {
            node: self.node.clone(),
            boot: self.boot.clone(),
            sip: self.sip.clone(),
            token: token.to_owned(),
            at: unix_now(),
        };
        lock(&self.published).entry(flow).or_default().push((
            aor.to_owned(),
            identity.to_owned(),
            loc.clone(),
        ));
        let p = self.presence.clone();
        let (a, i) = (aor.to_owned(), identity.to_owned());
        match tokio::task::spawn_blocking(move || p.set_live(&a, &i, &loc)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(%aor, error = %e, "cluster: live location not announced"),
            Err(e) => warn!(%aor, error = %e, "cluster: live location not announced"),
        }
    }

    /// A flow closed: the devices announced on it are no longer live here.
    pub async fn flow_closed(&self, flow: FlowId) {
        let Some(list) = lock(&self.published).remove(&flow) else {
            return;
        };
        let p = self.presence.clone();
        let r = tokio::task::spawn_blocking(move || {
            for (aor, identity, loc) in &list {
                p.clear_live(aor, identity, loc)?;
            }
            Ok::<_, StoreError>(())
        })
        .await;
        if let Ok(Err(e)) = r {
            warn!(%flow, error = %e, "cluster: live location not cleared (readers check the node's heartbeat)");
        }
    }

    /// Where `aor`'s devices are connected on other nodes that are up.
    pub async fn elsewhere(&self, aor: &str) -> Vec<(String, Location)> {
        let p = self.presence.clone();
        let a = aor.to_owned();
        let list = match tokio::task::spawn_blocking(move || p.live(&a)).await {
            Ok(Ok((_, list))) => list,
            Ok(Err(e)) => {
                warn!(%aor, error = %e, "cluster: live locations unreadable");
                return Vec::new();
            }
            Err(_) => return Vec::new(),
        };
        let known = |l: &Location| lock(&self.alive).get(&l.node) == Some(&l.boot);
        if list.iter().any(|(_, l)| l.node != self.node && !known(l)) {
            // A node (or boot) this node has not seen yet, e.g. one that
            // joined since the last heartbeat: ask Redis now rather than
            // take the device for asleep.
            let p = self.presence.clone();
            if let Ok(Ok(nodes)) = tokio::task::spawn_blocking(move || p.nodes()).await {
                *lock(&self.alive) = nodes.into_iter().map(|n| (n.id, n.boot)).collect();
            }
        }
        list.into_iter()
            .filter(|(_, l)| l.node != self.node && known(l))
            .collect()
    }

    /// Claims `what` of `aor` for this node: `true` for exactly one node.
    /// With Redis unreachable this node goes ahead (a possible duplicate
    /// rather than a lost call; logged).
    pub async fn claim(&self, aor: &str, what: &str) -> bool {
        let p = self.presence.clone();
        let (a, w, me) = (aor.to_owned(), what.to_owned(), self.node.clone());
        match tokio::task::spawn_blocking(move || p.claim(&a, &w, &me, CLAIM_TTL)).await {
            Ok(Ok(won)) => won,
            Ok(Err(e)) => {
                warn!(%aor, what, error = %e, "cluster: claim not possible; going ahead");
                true
            }
            Err(_) => true,
        }
    }

    /// The nodes that are up, for the API.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        let p = self.presence.clone();
        tokio::task::spawn_blocking(move || p.nodes())
            .await
            .unwrap_or_else(|e| {
                Err(StoreError::Corrupt {
                    aor: String::new(),
                    reason: e.to_string(),
                })
            })
    }

    /// Leaves: heartbeat removed, subscription stopped.
    pub fn leave(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Err(e) = self.presence.leave(&self.node) {
            warn!(error = %e, "cluster: heartbeat not removed; it expires by itself");
        }
    }
}

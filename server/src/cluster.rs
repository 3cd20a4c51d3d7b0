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

use sipwake_store::{
    HeldMessage, KeeperLease, Location, NodeInfo, Presence, PresenceEvent, StoreError,
};
use tokio::sync::{broadcast, watch};
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
    /// Bumped whenever a node's heartbeat is found gone (its kept
    /// registrations are up for takeover).
    departures: watch::Sender<u64>,
}

/// Who keeps a device's upstream registration, as [`Cluster::keeper_lease`]
/// found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// This node: register in this Call-ID / From tag, above this CSeq.
    Here {
        call_id: String,
        from_tag: String,
        cseq: u32,
    },
    /// Another node that is up keeps it.
    Elsewhere(String),
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
            departures: watch::Sender::new(0),
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
        self.read_nodes()
    }

    /// Refreshes the view of who is up; a node (boot) that was up and is
    /// not any more is a departure.
    fn read_nodes(&self) -> Result<(), StoreError> {
        let nodes: HashMap<String, String> = self
            .presence
            .nodes()?
            .into_iter()
            .map(|n| (n.id, n.boot))
            .collect();
        let gone: Vec<String> = {
            let mut alive = lock(&self.alive);
            let gone = alive
                .iter()
                .filter(|(id, boot)| nodes.get(*id) != Some(*boot))
                .map(|(id, _)| id.clone())
                .collect();
            *alive = nodes;
            gone
        };
        if !gone.is_empty() {
            warn!(nodes = ?gone, "cluster: node(s) gone; their kept registrations are taken over");
            self.departures.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    /// Changes whenever a node is found gone.
    pub fn departures(&self) -> watch::Receiver<u64> {
        self.departures.subscribe()
    }

    /// Whether `node` with `boot` is up (asking Redis when this node has
    /// not seen it yet).
    fn is_up(&self, node: &str, boot: &str) -> bool {
        let known = || lock(&self.alive).get(node).map(String::as_str) == Some(boot);
        known() || (self.read_nodes().is_ok() && known())
    }

    /// Who keeps `device` of `aor` upstream. This node takes the lease
    /// when nobody has it, when its holder is gone, or with `take` (the
    /// app just registered through this node, so its registration upstream
    /// names this node's Path). A holder keeps the Call-ID and From tag
    /// and reserves `reserve` CSeq numbers per call, so a node taking over
    /// continues above the last one used. `fresh`: the Call-ID and From
    /// tag for a new lease.
    pub async fn keeper_lease(
        self: &Arc<Self>,
        aor: &str,
        device: &str,
        fresh: (String, String),
        take: bool,
        reserve: u32,
    ) -> Result<Keep, StoreError> {
        let (aor, device) = (aor.to_owned(), device.to_owned());
        let me = (self.node.clone(), self.boot.clone());
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            for _ in 0..8 {
                let current = this.presence.lease(&aor, &device)?;
                let (expected, next) = match &current {
                    Some((_, l)) if l.node == me.0 && l.boot == me.1 => (
                        current.as_ref().map(|(r, _)| r.as_str()),
                        KeeperLease {
                            cseq: l.cseq.saturating_add(reserve),
                            ..l.clone()
                        },
                    ),
                    Some((_, l)) if !take && this.is_up(&l.node, &l.boot) => {
                        return Ok(Keep::Elsewhere(l.node.clone()));
                    }
                    Some((raw, l)) => (
                        Some(raw.as_str()),
                        KeeperLease {
                            node: me.0.clone(),
                            boot: me.1.clone(),
                            epoch: l.epoch + 1,
                            call_id: l.call_id.clone(),
                            from_tag: l.from_tag.clone(),
                            cseq: l.cseq.saturating_add(reserve),
                        },
                    ),
                    None => (
                        None,
                        KeeperLease {
                            node: me.0.clone(),
                            boot: me.1.clone(),
                            epoch: 1,
                            call_id: fresh.0.clone(),
                            from_tag: fresh.1.clone(),
                            cseq: reserve,
                        },
                    ),
                };
                if this.presence.swap_lease(&aor, &device, expected, &next)? {
                    if current.as_ref().is_some_and(|(_, l)| l.node != me.0) {
                        info!(%aor, %device, from = %current.as_ref().map_or("", |(_, l)| l.node.as_str()), epoch = next.epoch, "cluster: keeper lease taken over");
                    }
                    return Ok(Keep::Here {
                        call_id: next.call_id,
                        from_tag: next.from_tag,
                        cseq: next.cseq - reserve,
                    });
                }
                // Changed meanwhile (another node, or our own other task):
                // read again.
            }
            Err(StoreError::Redis {
                target: "keeper lease".into(),
                reason: "changed on every try (8 compare-and-set rounds)".into(),
            })
        })
        .await
        .unwrap_or_else(|e| {
            Err(StoreError::Corrupt {
                aor: String::new(),
                reason: e.to_string(),
            })
        })
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

    /// Shares a MESSAGE held here for `device` (another node delivers it
    /// if this one dies). Returns its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn keep_message(
        &self,
        aor: &str,
        call_id: &str,
        cseq: &str,
        device: &str,
        contact: &str,
        request: &[u8],
        hold: Duration,
    ) -> String {
        let id = format!("{call_id}|{cseq}|{device}");
        let m = HeldMessage {
            id: id.clone(),
            call_id: call_id.to_owned(),
            holder: self.node.clone(),
            boot: self.boot.clone(),
            device: device.to_owned(),
            contact: contact.to_owned(),
            request: hex::encode(request),
            expires_at: unix_now() + i64::try_from(hold.as_secs()).unwrap_or(i64::MAX / 2),
        };
        let p = self.presence.clone();
        let a = aor.to_owned();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || p.keep_message(&a, &m, hold)).await
        {
            warn!(%aor, %call_id, error = %e, "cluster: held MESSAGE not shared (only this node can deliver it)");
        }
        id
    }

    /// A shared MESSAGE was delivered (or given up).
    pub async fn drop_message(&self, aor: &str, id: &str) {
        let p = self.presence.clone();
        let (a, i) = (aor.to_owned(), id.to_owned());
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || p.drop_message(&a, &i)).await {
            warn!(%aor, id, error = %e, "cluster: delivered MESSAGE not unshared (it expires)");
        }
    }

    /// MESSAGEs for `aor` whose holding node is gone, not yet expired.
    pub async fn orphan_messages(self: &Arc<Self>, aor: &str) -> Vec<HeldMessage> {
        let this = self.clone();
        let a = aor.to_owned();
        let r = tokio::task::spawn_blocking(move || {
            let now = unix_now();
            let list: Vec<HeldMessage> = this
                .presence
                .messages(&a)?
                .into_iter()
                .filter(|m| m.expires_at > now && m.holder != this.node)
                .collect();
            if !list.is_empty() {
                // Held elsewhere: whether that node is gone must be current,
                // not as of the last heartbeat.
                this.read_nodes()?;
            }
            Ok::<_, StoreError>(
                list.into_iter()
                    .filter(|m| !this.is_up(&m.holder, &m.boot))
                    .collect::<Vec<_>>(),
            )
        })
        .await;
        match r {
            Ok(Ok(list)) => list,
            Ok(Err(e)) => {
                warn!(%aor, error = %e, "cluster: held MESSAGEs unreadable");
                Vec::new()
            }
            Err(_) => Vec::new(),
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

//! Wake-up across gateways (docs/cluster.md): a request held here reaches
//! a device that registered on another node, exactly once.
//!
//! - A device that registers here is announced ([`Waker::announce`]) with
//!   this node and its registration token; its flow closing clears it.
//! - A held user's announcements (pub/sub, re-read every `poll_ms` while
//!   holding, and after a resubscription) deliver to the device's node in
//!   one hop: the request goes to that node's SIP URI with the device's
//!   token as Request-URI user, which that node routes through its Path.
//! - Every delivery, here or there, first claims `(Call-ID, method,
//!   device)`, and every push `(Call-ID, method, device)` too: when the
//!   upstream forked to several nodes holding the same device, one pushes
//!   and one delivers.
//! - A device already connected to another node when the request arrives
//!   is left to that node: the upstream reaches it there through its own
//!   registration.
//! - A held MESSAGE (answered 202 already) is shared per device; when its
//!   holder is gone, the node the device registers on delivers it (claimed
//!   like any delivery).

use std::sync::Arc;

use sipwake_sip::{Message, ids::random_token};
use sipwake_store::{Binding, HeldMessage, Location, PresenceEvent};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tracing::{info, warn};

use super::deliver::Delivery;
use super::stats::inc;
use super::{Found, HoldId, Waker, device};
use crate::bindings::{instance_of_device, normalize_instance};
use crate::net::{Destination, FlowId};
use crate::proxy::locate::Registered;
use crate::proxy::route::{Recipient, Target};
use crate::proxy::upstream::Hop;
use crate::proxy::{BRANCH_PREFIX, Proxy};
use crate::util::lock;

impl Waker {
    /// A device registered here: tell the other nodes where it is (only
    /// Path registrations: the upstream mode a cluster runs in).
    pub(super) async fn announce(&self, proxy: &Proxy, aor: &str, identity: &str, flow: FlowId) {
        let Some(c) = &self.cluster else { return };
        // A flow that closed since is no location (its close may already
        // have cleared what it announced).
        if !proxy.flow_is_open(flow) {
            return;
        }
        let Some((token, _)) = proxy.paths().on_flow(flow) else {
            return;
        };
        c.device_live(aor, identity, flow, &token).await;
    }

    /// Reacts to other nodes' announcements, and re-reads the held users'
    /// locations every `poll_ms` (a lost notification costs at most that).
    pub(super) fn listen_cluster(self: &Arc<Self>) {
        let Some(c) = self.cluster.clone() else {
            return;
        };
        let mut rx = c.subscribe();
        let me = Arc::downgrade(self);
        let mut tick = tokio::time::interval(c.poll_interval());
        tokio::spawn(async move {
            loop {
                let aors = tokio::select! {
                    ev = rx.recv() => match ev {
                        Ok(PresenceEvent::Changed(aor)) => vec![aor],
                        Ok(PresenceEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                            let Some(w) = me.upgrade() else { return };
                            w.held_aors()
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = tick.tick() => {
                        let Some(w) = me.upgrade() else { return };
                        c.holding.store(w.holding() as u64, std::sync::atomic::Ordering::Relaxed);
                        w.held_aors()
                    }
                };
                let Some(w) = me.upgrade() else { return };
                for aor in aors {
                    w.on_cluster_change(&aor).await;
                }
            }
        });
    }

    /// The users with a device still open in a held request.
    fn held_aors(&self) -> Vec<String> {
        let mut out: Vec<String> = lock(&self.calls)
            .values()
            .filter(|c| c.sleepers.iter().any(|s| s.open()))
            .map(|c| c.reg_aor.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Devices of `route` connected to another node now are not held here
    /// (the upstream reaches them through their registration there).
    /// Returns the registration tokens other nodes have for the user, so
    /// that later reads do not mistake those for wake-ups.
    pub(super) async fn live_elsewhere(
        &self,
        call_id: &str,
        route: &Recipient,
        found: &mut Vec<Found>,
    ) -> Vec<String> {
        let Some(c) = &self.cluster else {
            return Vec::new();
        };
        if found.is_empty() {
            return Vec::new();
        }
        let remote = c.elsewhere(&route.reg_aor).await;
        found.retain(|f| {
            let there = remote
                .iter()
                .find(|(identity, _)| device::is_live(&f.binding, std::slice::from_ref(identity)));
            if let Some((_, loc)) = there {
                info!(%call_id, aor = %route.reg_aor, device = %f.binding.device, node = %loc.node, "device connected to another gateway; not held here");
            }
            there.is_none()
        });
        remote.into_iter().map(|(_, l)| l.token).collect()
    }

    /// Cluster checks before a wake push: no push to a device connected
    /// to another node (it is delivered there instead), and one push per
    /// request and device among the nodes holding it.
    pub(super) async fn cluster_may_push(&self, id: HoldId, b: &Binding) -> bool {
        let Some(c) = &self.cluster else { return true };
        let (aor, call_id, invite, known) = {
            let calls = lock(&self.calls);
            let Some(call) = calls.get(&id) else {
                return false;
            };
            (
                call.reg_aor.clone(),
                call.call_id.clone(),
                call.invite,
                call.known_elsewhere.clone(),
            )
        };
        let back = c.elsewhere(&aor).await.into_iter().any(|(identity, loc)| {
            !known.contains(&loc.token) && device::is_live(b, std::slice::from_ref(&identity))
        });
        if back {
            info!(%call_id, device = %b.device, "device registered on another gateway before its push; delivering there");
            inc(&self.stats.push_elsewhere);
            self.on_cluster_change(&aor).await;
            return false;
        }
        let method = if invite { "INVITE" } else { "MESSAGE" };
        if c.claim(&aor, &format!("p|{call_id}|{method}|{}", b.device))
            .await
        {
            return true;
        }
        info!(%call_id, device = %b.device, "another gateway holding this request pushed the device");
        inc(&self.stats.push_elsewhere);
        false
    }

    /// `aor`'s devices on other nodes: deliver what is held here for them.
    pub(super) async fn on_cluster_change(&self, aor: &str) {
        let Some(c) = &self.cluster else { return };
        let held = lock(&self.calls)
            .values()
            .any(|call| call.reg_aor == aor && call.sleepers.iter().any(|s| s.open()));
        if !held {
            return;
        }
        let Some(proxy) = self.proxy.upgrade() else {
            return;
        };
        for (identity, loc) in c.elsewhere(aor).await {
            let via = format!("node {}", loc.node);
            for d in
                self.take_deliveries(aor, &identity, &via, &[loc.token.as_str()], Instant::now())
            {
                if let Some(d) = self.claimed(d).await {
                    self.deliver_remote(&proxy, d, &loc).await;
                }
            }
        }
    }

    /// Sends a held request to the node `loc` names, addressed to the
    /// device's registration there.
    async fn deliver_remote(&self, proxy: &Proxy, d: Delivery, loc: &Location) {
        let at = Instant::now();
        let device = d.binding.device.as_str();
        if let Some(old) = &d.old
            && !d.ctx.take_branch(old.idx)
        {
            d.promise.release().await;
            info!(call_id = %d.call_id, %device, "device answered at its old address; no second delivery");
            return;
        }
        let hop = Hop::parse(&loc.sip);
        let dest = match &hop {
            Some(h) => h.resolve().await,
            None => None,
        };
        let (Some(hop), Some(dest)) = (hop, dest) else {
            warn!(call_id = %d.call_id, node = %loc.node, sip = %loc.sip, "gateway's cluster SIP URI unusable; branch dropped");
            d.promise.drop_with(480, "Temporarily Unavailable").await;
            return;
        };
        let host = loc.sip.strip_prefix("sip:").unwrap_or(&loc.sip);
        let target = Target {
            dest: dest.clone(),
            kind: hop.kind,
            ruri: Some(format!("sip:{}@{host}", loc.token)),
            to_flow: None,
        };
        let (call_id, device) = (d.call_id.clone(), d.binding.device.clone());
        if self.send_branch(proxy, d, &target, at).await {
            inc(&self.stats.forwarded_to_node);
            info!(%call_id, %device, node = %loc.node, "held request sent to the gateway the device woke on");
        }
    }
}

/// The shared id of a MESSAGE held for `device`.
pub(super) fn message_id(req: &Message, device: &str) -> String {
    let call_id = req.call_id().unwrap_or("");
    let cseq = req.header("CSeq").unwrap_or("").trim();
    format!("{call_id}|{cseq}|{device}")
}

/// Whether the registration `identity` is the device a shared MESSAGE
/// was held for: its instance, its Contact, or (a device keyed by its
/// push token) any new Contact.
fn is_for(m: &HeldMessage, identity: &str) -> bool {
    match instance_of_device(&m.device) {
        Some(inst) => inst == normalize_instance(identity),
        None => m.contact == identity || identity.starts_with("sip"),
    }
}

impl Waker {
    /// Shares the MESSAGE held for the devices of hold `id` that wait for
    /// a push (another node delivers it should this one die).
    pub(super) async fn share_message(&self, id: HoldId) {
        let Some(c) = &self.cluster else { return };
        let (aor, req, devices, hold) = {
            let calls = lock(&self.calls);
            let Some(call) = calls.get(&id).filter(|c| !c.invite) else {
                return;
            };
            let devices: Vec<(String, String)> = call
                .sleepers
                .iter()
                .filter(|s| s.state.is_waiting())
                .map(|s| (s.binding.device.clone(), s.binding.contact.clone()))
                .collect();
            (
                call.reg_aor.clone(),
                call.request.req.clone(),
                devices,
                self.hold_window(false),
            )
        };
        let call_id = req.call_id().unwrap_or("");
        let cseq = req.header("CSeq").unwrap_or("").trim();
        for (device, contact) in devices {
            c.keep_message(&aor, call_id, cseq, &device, &contact, req.raw(), hold)
                .await;
        }
    }

    /// A device registered here: MESSAGEs held for it by a node that is
    /// gone are delivered on its flow, once (claimed).
    pub(super) async fn deliver_orphans(
        &self,
        proxy: &Proxy,
        aor: &str,
        identity: &str,
        flow: FlowId,
    ) {
        let Some(c) = &self.cluster else { return };
        for m in c.orphan_messages(aor).await {
            if !is_for(&m, identity) {
                continue;
            }
            let what = format!("d|{}|MESSAGE|{}", m.call_id, m.device);
            if !c.claim(aor, &what).await {
                continue;
            }
            c.drop_message(aor, &m.id).await;
            match orphan_request(proxy, &m, flow) {
                Some((out, reliable)) => {
                    let noop: crate::transaction::client::EventHandler =
                        Arc::new(|_| Box::pin(async {}));
                    proxy.originate(out, Destination::Flow(flow), reliable, noop);
                    inc(&self.stats.delivered);
                    inc(&self.stats.orphans_delivered);
                    info!(call_id = %m.call_id, device = %m.device, holder = %m.holder, "MESSAGE held by a gateway that is gone delivered here");
                }
                None => {
                    warn!(call_id = %m.call_id, "held MESSAGE of a gone gateway unusable; dropped")
                }
            }
        }
    }
}

/// The shared MESSAGE as a request of this node's to the device on
/// `flow`: our Via alone (nobody is left to relay the answer to), the
/// device's Contact as Request-URI, no Route.
fn orphan_request(proxy: &Proxy, m: &HeldMessage, flow: FlowId) -> Option<(Message, bool)> {
    let raw = hex::decode(&m.request).ok()?;
    let req = Message::parse(bytes::Bytes::from(raw)).ok()?;
    let reg = proxy
        .locate(Registered::PathOnFlow(flow))
        .and_then(|mut l| l.pop())?;
    let (_, kind) = reg.reach?;
    let (host, port) = proxy.advertised(kind)?;
    let via = format!(
        "SIP/2.0/{} {host}:{port};branch={BRANCH_PREFIX}o{};rport",
        kind.via_name(),
        random_token(16)
    );
    let mut e = req.edit();
    e.remove_header("Via")
        .remove_header("Route")
        .remove_header("Record-Route")
        .push_via(&via)
        .set_request_uri(&reg.contact)
        .decrement_max_forwards();
    let out = Message::parse(e.build()).ok()?;
    Some((out, kind.is_reliable()))
}

//! Push wake-up (issue 5): a request for a user whose devices sleep is
//! held, each sleeping device gets a push, and the request is forwarded —
//! exactly once per device — when the device registers again; devices that
//! never wake end their branch after `wake_timeout_secs`.
//!
//! The proxy asks [`Waker::sleepers`] which stored push bindings are not
//! reached at once, promises that many branches to the request's
//! `ResponseContext` and calls [`Waker::hold`]. Registrations arrive as
//! `RegistrarEvent::Registered` ([`Waker::listen`]). See docs/wake.md.

pub mod device;
pub mod push;
pub mod stats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sipwake_core::payload::NotificationKind;
use sipwake_sip::{Message, ids::random_token};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::bindings::PushBindings;
use crate::proxy::context::ResponseContext;
use crate::proxy::net::{FlowId, Inbound};
use crate::proxy::route::{Plan, Target, WakeRoute};
use crate::proxy::{BRANCH_PREFIX, Proxy};
use crate::registrar::{Lookup, RegistrarEvent};
use crate::transaction::server::lock;
pub use device::{DevState, Sleeper};
pub use push::{PushFuture, PushSender, PushStatus};
use stats::{WakeStats, inc};

/// Bounds: held requests in total, sleeping devices pushed per request.
pub const MAX_HELD: usize = 10_000;
pub const MAX_SLEEPERS: usize = 16;

/// Whether push wake-up applies to this request's method.
pub fn wakes_for(req: &Message) -> bool {
    let in_dialog = req.to().ok().and_then(|t| t.tag()).is_some();
    !in_dialog && matches!(req.method(), Some("INVITE" | "MESSAGE"))
}

struct HeldCall {
    call_id: String,
    invite: bool,
    reg_aor: String,
    inb: Inbound,
    req: Message,
    plan: Plan,
    loop_hash: String,
    ctx: Arc<ResponseContext>,
    sleepers: Vec<Sleeper>,
}

impl HeldCall {
    fn resolved(&self) -> bool {
        self.sleepers.iter().all(|s| s.state != DevState::Waiting)
    }
}

/// A held request to forward to a device that just registered.
struct Delivery {
    call_id: String,
    invite: bool,
    reg_aor: String,
    inb: Inbound,
    req: Message,
    plan: Plan,
    loop_hash: String,
    ctx: Arc<ResponseContext>,
    device: String,
}

pub struct Waker {
    bindings: Arc<PushBindings>,
    sender: Arc<dyn PushSender>,
    calls: Mutex<HashMap<u64, HeldCall>>,
    next: AtomicU64,
    stats: WakeStats,
}

impl Waker {
    pub fn new(bindings: Arc<PushBindings>, sender: Arc<dyn PushSender>) -> Arc<Waker> {
        Arc::new(Waker {
            bindings,
            sender,
            calls: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            stats: WakeStats::default(),
        })
    }

    pub fn stats_json(&self) -> serde_json::Value {
        let mut v = self.stats.json();
        v["holding"] = lock(&self.calls).len().into();
        v
    }

    /// The `sipwake_wake_*` metrics (Prometheus text).
    pub fn prometheus(&self) -> String {
        self.stats.prometheus(lock(&self.calls).len())
    }

    /// Delivers held requests on registrations until the proxy is gone.
    pub fn listen(
        self: &Arc<Self>,
        proxy: Weak<Proxy>,
        mut rx: broadcast::Receiver<RegistrarEvent>,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(RegistrarEvent::Registered {
                        aor,
                        instance,
                        flow,
                    }) => {
                        let Some(p) = proxy.upgrade() else { return };
                        me.on_registered(&p, &aor, &instance, flow).await;
                    }
                    Ok(RegistrarEvent::Unregistered { .. }) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        warn!(
                            missed = n,
                            "wake-up fell behind registrations; held requests may wait for their timeout"
                        )
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// The stored push devices of the routed user that are not reached at
    /// once (`has_live`: some device is). Empty when push does not apply.
    pub async fn sleepers(&self, req: &Message, route: &WakeRoute, has_live: bool) -> Vec<Sleeper> {
        let policy = &self.bindings.policy;
        let invite = req.method() == Some("INVITE");
        if invite && !policy.calls_enabled(true) {
            return Vec::new();
        }
        // A MESSAGE goes to live devices only when there are any (see
        // docs/wake.md: chats are held only when nobody can take them).
        if !invite && (has_live || !policy.chat_enabled()) {
            return Vec::new();
        }
        // Upstream mode: the request is for one Path registration; when its
        // flow is live it is forwarded there, so there is nobody to wake
        // (holding it too would deliver the INVITE to that device twice).
        if route.path.is_some() && has_live {
            return Vec::new();
        }
        if lock(&self.calls).len() >= MAX_HELD {
            warn!(
                call_id = req.call_id().unwrap_or(""),
                "too many held requests; not holding"
            );
            return Vec::new();
        }
        let mut stored = Vec::new();
        for aor in &route.push_aors {
            let store = self.bindings.store.clone();
            let a = aor.clone();
            match tokio::task::spawn_blocking(move || store.user(&a)).await {
                Ok(Ok(list)) if !list.is_empty() => {
                    stored = list;
                    break;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => warn!(%aor, error = %e, "push bindings unreadable"),
                Err(e) => warn!(%aor, error = %e, "push binding lookup failed"),
            }
        }
        let mut out: Vec<Sleeper> = match &route.path {
            Some(p) => {
                // Upstream mode: the request is for one registration; push
                // only the device behind it.
                let inst = device::normalize_instance(&p.instance);
                let exact = stored.iter().position(|b| {
                    device::instance_of_device(&b.device).as_deref() == Some(inst.as_str())
                        || b.contact == p.contact
                });
                let only_token = (stored.len() == 1
                    && device::instance_of_device(&stored[0].device).is_none())
                .then_some(0);
                exact
                    .or(only_token)
                    .map(|i| Sleeper::new(stored.swap_remove(i), Some(p.instance.clone())))
                    .into_iter()
                    .collect()
            }
            None => stored
                .into_iter()
                .filter(|b| !device::is_live(b, &route.live))
                .map(|b| Sleeper::new(b, None))
                .collect(),
        };
        out.truncate(MAX_SLEEPERS);
        out
    }

    /// Holds the request for `sleepers` (promised to `ctx` now, before any
    /// live branch starts), pushes them, and arms the timeout. A MESSAGE
    /// is answered 202 at once. Returns the hold id (for CANCEL).
    #[allow(clippy::too_many_arguments)]
    pub async fn hold(
        self: Arc<Self>,
        proxy: &Proxy,
        inb: &Inbound,
        req: &Message,
        ctx: &Arc<ResponseContext>,
        plan: &Plan,
        loop_hash: &str,
        sleepers: Vec<Sleeper>,
    ) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let invite = req.method() == Some("INVITE");
        let call_id = req.call_id().unwrap_or("").to_owned();
        let route = plan.wake.clone().unwrap_or_default();
        ctx.hold_branches(sleepers.len());
        let devices: Vec<String> = sleepers.iter().map(|s| s.binding.device.clone()).collect();
        info!(%call_id, aor = %route.reg_aor, ?devices, method = if invite { "INVITE" } else { "MESSAGE" }, "request held for push wake-up");
        for _ in &sleepers {
            inc(&self.stats.held);
        }
        let targets: Vec<sipwake_store::Binding> =
            sleepers.iter().map(|s| s.binding.clone()).collect();
        lock(&self.calls).insert(
            id,
            HeldCall {
                call_id: call_id.clone(),
                invite,
                reg_aor: route.reg_aor.clone(),
                inb: inb.clone(),
                req: req.clone(),
                plan: plan.clone(),
                loop_hash: loop_hash.to_owned(),
                ctx: ctx.clone(),
                sleepers,
            },
        );
        if !invite {
            // Accepted for delivery, not delivered: the sender learns no more.
            ctx.fail(202, "Accepted").await;
        }
        self.recheck(proxy, &route).await;
        let policy = &self.bindings.policy;
        let timeout = Duration::from_secs(if invite {
            policy.wake_timeout_secs
        } else {
            policy.hold_message_secs
        });
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            me.expire(id).await;
        });
        let me = self.clone();
        let req = req.clone();
        let ctx = ctx.clone();
        let ringing = invite && policy.ringing_on_push;
        tokio::spawn(async move {
            let kind = if invite {
                NotificationKind::Call
            } else {
                NotificationKind::Chat
            };
            let mut any_sent = false;
            for b in &targets {
                if !me.is_waiting(id, &b.device) {
                    continue; // woke (or was dropped) before its push
                }
                let status = me.sender.push(b, push::fields_for(&req, b, kind)).await;
                any_sent |= me.pushed(id, &b.device, &status).await;
            }
            if ringing && any_sent {
                ctx.provisional(180, "Ringing", &random_token(10)).await;
            }
        });
        id
    }

    /// A device may have registered between the routing decision and the
    /// hold (its event then found nothing held): look at the registrations
    /// once more. Delivery is idempotent, so a late event changes nothing.
    async fn recheck(&self, proxy: &Proxy, route: &WakeRoute) {
        let found: Vec<(String, FlowId)> = match &route.path {
            Some(p) => proxy
                .paths()
                .get(&p.token)
                .filter(|r| {
                    r.expires_at.is_some() && proxy.flow_dest(r.flow, r.kind, r.remote).is_some()
                })
                .map(|r| vec![(r.instance, r.flow)])
                .unwrap_or_default(),
            None => match proxy.registrar().lookup(&route.reg_aor) {
                Lookup::Bindings(list) => list
                    .into_iter()
                    // Devices that got the request at once are not sleepers.
                    .filter(|b| !route.live.contains(&b.instance))
                    .filter(|b| proxy.flow_dest(b.flow, b.kind, b.remote).is_some())
                    .map(|b| (b.instance, b.flow))
                    .collect(),
                Lookup::Unknown => Vec::new(),
            },
        };
        for (identity, flow) in found {
            self.on_registered(proxy, &route.reg_aor, &identity, flow)
                .await;
        }
    }

    fn is_waiting(&self, id: u64, device: &str) -> bool {
        lock(&self.calls).get(&id).is_some_and(|c| {
            c.sleepers
                .iter()
                .any(|s| s.binding.device == device && s.state == DevState::Waiting)
        })
    }

    /// Records a push outcome; a device that cannot be pushed is dropped
    /// at once. Returns whether the push was sent.
    async fn pushed(&self, id: u64, device: &str, status: &PushStatus) -> bool {
        let dropped = {
            let mut calls = lock(&self.calls);
            let Some(call) = calls.get_mut(&id) else {
                return matches!(status, PushStatus::Sent);
            };
            let Some(s) = call
                .sleepers
                .iter_mut()
                .find(|s| s.binding.device == device)
            else {
                return false;
            };
            match status {
                PushStatus::Sent => {
                    inc(&self.stats.pushed);
                    s.pushed_at = Some(Instant::now());
                    info!(call_id = %call.call_id, %device, "wake push sent");
                    None
                }
                PushStatus::Removed(r) | PushStatus::Failed(r) => {
                    inc(&self.stats.push_failed);
                    warn!(call_id = %call.call_id, %device, reason = %r, "wake push failed; device dropped from the call");
                    if s.state != DevState::Waiting {
                        None
                    } else {
                        s.state = DevState::Dropped;
                        let out = call.ctx.clone();
                        if call.resolved() {
                            calls.remove(&id);
                        }
                        Some(out)
                    }
                }
            }
        };
        if let Some(ctx) = dropped {
            ctx.drop_held(480, "Temporarily Unavailable").await;
        }
        matches!(status, PushStatus::Sent)
    }

    /// A device registered: forward every request held for it, once.
    pub async fn on_registered(&self, proxy: &Proxy, aor: &str, identity: &str, flow: FlowId) {
        let at = Instant::now();
        let mut deliveries = Vec::new();
        {
            let mut calls = lock(&self.calls);
            let mut done = Vec::new();
            for (id, call) in calls.iter_mut().filter(|(_, c)| c.reg_aor == aor) {
                let Some(i) = device::match_device(&call.sleepers, identity) else {
                    continue;
                };
                let s = &mut call.sleepers[i];
                if !s.seen.iter().any(|x| x == identity) {
                    s.seen.push(identity.to_owned());
                }
                if s.state != DevState::Waiting {
                    // A refresh or a duplicate event: delivered (or dropped) already.
                    continue;
                }
                s.state = DevState::Delivered;
                inc(&self.stats.woken);
                if let Some(t) = s.pushed_at {
                    self.stats
                        .wake_latency
                        .record(at.saturating_duration_since(t));
                }
                info!(call_id = %call.call_id, device = %s.binding.device, %flow, "held device registered again");
                deliveries.push(Delivery {
                    call_id: call.call_id.clone(),
                    invite: call.invite,
                    reg_aor: call.reg_aor.clone(),
                    inb: call.inb.clone(),
                    req: call.req.clone(),
                    plan: call.plan.clone(),
                    loop_hash: call.loop_hash.clone(),
                    ctx: call.ctx.clone(),
                    device: s.binding.device.clone(),
                });
                if call.resolved() {
                    done.push(*id);
                }
            }
            for id in done {
                calls.remove(&id);
            }
        }
        for d in deliveries {
            self.deliver(proxy, d, identity, flow, at).await;
        }
    }

    async fn deliver(&self, proxy: &Proxy, d: Delivery, identity: &str, flow: FlowId, at: Instant) {
        let Some(target) = target_for(proxy, &d.plan, &d.reg_aor, identity, flow) else {
            warn!(call_id = %d.call_id, device = %d.device, "woken device has no usable flow; branch dropped");
            d.ctx.drop_held(480, "Temporarily Unavailable").await;
            return;
        };
        let branch = format!("{BRANCH_PREFIX}{}.{}", d.loop_hash, random_token(12));
        let out = proxy
            .build_forward(&d.inb, &d.req, &d.plan, &target, &branch)
            .and_then(|b| Message::parse(b).ok());
        let Some(out) = out else {
            d.ctx.drop_held(500, "Server Internal Error").await;
            return;
        };
        // A MESSAGE was answered 202 already; an INVITE answered elsewhere
        // needs no more branches.
        if d.ctx.deliver_held(
            out,
            target.dest.clone(),
            target.kind.is_reliable(),
            !d.invite,
        ) {
            inc(&self.stats.delivered);
            self.stats.deliver_latency.record(at.elapsed());
            info!(call_id = %d.call_id, device = %d.device, dest = ?target.dest, "held request delivered");
        } else {
            inc(&self.stats.too_late);
            info!(call_id = %d.call_id, device = %d.device, "device woke after the call was answered; not delivered");
        }
    }

    /// The caller cancelled: held devices are dropped and never get the
    /// request; cancel pushes per `[push] cancel`.
    pub fn cancel(self: &Arc<Self>, id: u64) {
        let Some(call) = lock(&self.calls).remove(&id) else {
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            let policy = &me.bindings.policy;
            for s in call
                .sleepers
                .iter()
                .filter(|s| s.state == DevState::Waiting)
            {
                inc(&me.stats.cancelled);
                info!(call_id = %call.call_id, device = %s.binding.device, "caller cancelled; held request dropped");
                call.ctx.drop_held(487, "Request Terminated").await;
                if call.invite && policy.cancel_push(s.pushed_at.is_some(), false) {
                    let f = push::fields_for(&call.req, &s.binding, NotificationKind::Cancel);
                    if me.sender.push(&s.binding, f).await == PushStatus::Sent {
                        inc(&me.stats.cancel_pushes);
                    }
                }
            }
        });
    }

    /// The hold window ended: devices that never woke end their branch.
    async fn expire(&self, id: u64) {
        let Some(call) = lock(&self.calls).remove(&id) else {
            return;
        };
        for s in call
            .sleepers
            .iter()
            .filter(|s| s.state == DevState::Waiting)
        {
            inc(&self.stats.timed_out);
            info!(call_id = %call.call_id, device = %s.binding.device, invite = call.invite, "device did not wake in time; held request dropped");
            call.ctx.drop_held(480, "Temporarily Unavailable").await;
        }
    }
}

/// Where a woken device is now: its registration on `flow`.
fn target_for(
    proxy: &Proxy,
    plan: &Plan,
    reg_aor: &str,
    identity: &str,
    flow: FlowId,
) -> Option<Target> {
    if let Some(p) = plan.wake.as_ref().and_then(|w| w.path.as_ref()) {
        let reg = proxy.paths().get(&p.token)?;
        reg.expires_at?;
        let (dest, kind) = proxy.flow_dest(reg.flow, reg.kind, reg.remote)?;
        return Some(Target {
            dest,
            kind,
            // The upstream addressed the Contact the device had when it
            // fell asleep; it may have a new one now.
            ruri: (p.rewrite_ruri || reg.contact != p.contact).then(|| reg.contact.clone()),
            to_flow: Some(reg.flow),
        });
    }
    let Lookup::Bindings(list) = proxy.registrar().lookup(reg_aor) else {
        return None;
    };
    let b = list
        .into_iter()
        .find(|b| b.instance == identity && b.flow == flow)?;
    let (dest, kind) = proxy.flow_dest(b.flow, b.kind, b.remote)?;
    Some(Target {
        dest,
        kind,
        ruri: Some(b.uri),
        to_flow: Some(b.flow),
    })
}

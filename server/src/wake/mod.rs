//! Push wake-up (issue 5): a request for a user whose devices sleep is
//! held, each sleeping device gets a push, and the request is forwarded —
//! exactly once per device — when the device registers again; devices that
//! never wake end their branch after `wake_timeout_secs`.
//!
//! The proxy asks [`Waker::sleepers`] which stored push devices need push
//! handling (no flow: held; UDP: sent at once and watched, see [`udp`];
//! `level = 3`: pushed on top of their live flow), then calls
//! [`Waker::hold`] before any branch starts, so held branches are promised
//! to the request's `ResponseContext` in time. Registrations arrive as
//! `RegistrarEvent::Registered` ([`Waker::listen`]) and deliver
//! ([`deliver`]). See docs/wake.md.

pub mod deliver;
pub mod device;
pub mod push;
pub mod stats;
pub mod udp;

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
use crate::bindings::{PushSender, PushStatus};
use crate::net::{FlowId, Inbound};
use crate::proxy::Proxy;
use crate::proxy::context::ResponseContext;
use crate::proxy::route::{Plan, WakeRoute};
use crate::registrar::{Lookup, RegistrarEvent};
use crate::util::lock;
pub use device::{DevState, Reach, Sleeper};
use stats::{WakeStats, inc};

/// Bounds: held requests in total, push devices handled per request.
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
    /// `ringing_on_push`: the 180 went out (once per call).
    rang: bool,
}

impl HeldCall {
    fn resolved(&self) -> bool {
        self.sleepers.iter().all(|s| !s.open())
    }
}

/// What ends an open device without delivering to it.
#[derive(Clone, Copy)]
enum End {
    TimedOut,
    Cancelled,
}

pub struct Waker {
    bindings: Arc<PushBindings>,
    sender: Arc<dyn PushSender>,
    calls: Mutex<HashMap<u64, HeldCall>>,
    next: AtomicU64,
    stats: WakeStats,
    me: Weak<Waker>,
}

impl Waker {
    pub fn new(bindings: Arc<PushBindings>, sender: Arc<dyn PushSender>) -> Arc<Waker> {
        Arc::new_cyclic(|me| Waker {
            bindings,
            sender,
            calls: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            stats: WakeStats::default(),
            me: me.clone(),
        })
    }

    pub fn stats_json(&self) -> serde_json::Value {
        let mut v = self.stats.json();
        v["holding"] = self.holding().into();
        v
    }

    /// The `sipwake_wake_*` metrics (Prometheus text).
    pub fn prometheus(&self) -> String {
        self.stats.prometheus(self.holding())
    }

    /// Requests held for a pushed device now (watched UDP devices that
    /// have not been pushed yet do not count).
    fn holding(&self) -> usize {
        lock(&self.calls)
            .values()
            .filter(|c| c.sleepers.iter().any(|s| s.state == DevState::Waiting))
            .count()
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

    /// The stored push devices of the routed user that need push handling:
    /// devices without a flow (held), UDP devices (watched, see [`udp`]),
    /// and with `level = 3` / `chat_when = 2` devices on a live connection
    /// (pushed only). Empty when push does not apply.
    pub async fn sleepers(&self, req: &Message, route: &WakeRoute) -> Vec<Sleeper> {
        let policy = &self.bindings.policy;
        let invite = req.method() == Some("INVITE");
        if invite && !policy.calls_enabled(true) || !invite && !policy.chat_enabled() {
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
        // A chat is held only when no device can take it on a connection
        // (a UDP address may be a sleeping app's: it is watched instead).
        let conn_live = route.live_devices.iter().any(|d| !d.udp);
        let live_push = policy.push_live(invite);
        let reach = |live: Option<&crate::proxy::route::LiveDevice>| match live {
            None if invite || !conn_live => Some(Reach::Held),
            None => None,
            Some(d) if d.udp => Some(Reach::Udp(d.target)),
            Some(d) if live_push => Some(Reach::Live(d.target)),
            Some(_) => None,
        };
        let mut out: Vec<Sleeper> = match &route.path {
            Some(p) => {
                // Upstream mode: the request is for one registration; only
                // the device behind it.
                let inst = crate::bindings::normalize_instance(&p.instance);
                let exact = stored.iter().position(|b| {
                    crate::bindings::instance_of_device(&b.device).as_deref() == Some(inst.as_str())
                        || b.contact == p.contact
                });
                let only_token = (stored.len() == 1
                    && crate::bindings::instance_of_device(&stored[0].device).is_none())
                .then_some(0);
                exact
                    .or(only_token)
                    .and_then(|i| {
                        let r = reach(route.live_devices.first())?;
                        Some(Sleeper::reached(
                            stored.swap_remove(i),
                            Some(p.instance.clone()),
                            r,
                        ))
                    })
                    .into_iter()
                    .collect()
            }
            None => stored
                .into_iter()
                .filter_map(|b| {
                    let live = route
                        .live_devices
                        .iter()
                        .find(|d| device::is_live(&b, &[d.instance.clone(), d.contact.clone()]));
                    Some(Sleeper::reached(b, None, reach(live)?))
                })
                .collect(),
        };
        out.truncate(MAX_SLEEPERS);
        out
    }

    /// Holds the request for `sleepers` (held devices are promised to
    /// `ctx` now, before any live branch starts), pushes the held and
    /// live-pushed ones, and arms the timeout. A MESSAGE held for anyone is
    /// answered 202 at once. Returns the hold id (for CANCEL and
    /// [`Waker::reach_of`]).
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
        let held = sleepers.iter().filter(|s| s.promised).count();
        ctx.hold_branches(held);
        let devices: Vec<(&str, Reach)> = sleepers
            .iter()
            .map(|s| (s.binding.device.as_str(), s.reach))
            .collect();
        let method = if invite { "INVITE" } else { "MESSAGE" };
        if held > 0 {
            info!(%call_id, aor = %route.reg_aor, ?devices, method, "request held for push wake-up");
        } else {
            info!(%call_id, aor = %route.reg_aor, ?devices, method, "push devices reached at once; watching them");
        }
        for _ in 0..held {
            inc(&self.stats.held);
        }
        let to_push: Vec<sipwake_store::Binding> = sleepers
            .iter()
            .filter(|s| matches!(s.reach, Reach::Held | Reach::Live(_)))
            .map(|s| s.binding.clone())
            .collect();
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
                rang: false,
            },
        );
        if !invite && held > 0 {
            // Accepted for delivery, not delivered: the sender learns no
            // more. (Held chats mean no device is live on a connection;
            // a watched UDP device's own answer is then absorbed.)
            ctx.accept_if_pending(202, "Accepted").await;
        }
        self.recheck(proxy, &route).await;
        let timeout = self.hold_window(invite);
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            me.expire(id).await;
        });
        let me = self.clone();
        tokio::spawn(async move {
            for b in &to_push {
                me.push_one(id, b).await;
            }
            // Only pushed live devices (level 3): nothing left to wait for.
            let mut calls = lock(&me.calls);
            if calls.get(&id).is_some_and(HeldCall::resolved) {
                calls.remove(&id);
            }
        });
        id
    }

    /// How long a request is held: `wake_timeout_secs` for calls,
    /// `hold_message_secs` for chats.
    fn hold_window(&self, invite: bool) -> Duration {
        let p = &self.bindings.policy;
        Duration::from_secs(if invite {
            p.wake_timeout_secs
        } else {
            p.hold_message_secs
        })
    }

    /// How plan target `target` of hold `id` reaches a push device, if any.
    pub fn reach_of(&self, id: u64, target: usize) -> Option<Reach> {
        lock(&self.calls).get(&id).and_then(|c| {
            c.sleepers
                .iter()
                .map(|s| s.reach)
                .find(|r| matches!(r, Reach::Udp(t) | Reach::Live(t) if *t == target))
        })
    }

    /// A device may have registered between the routing decision and the
    /// hold (its event then found nothing held): look at the registrations
    /// once more. Only devices without a flow count; delivery is
    /// idempotent, so a late event changes nothing.
    async fn recheck(&self, proxy: &Proxy, route: &WakeRoute) {
        let found: Vec<(String, FlowId)> = match &route.path {
            // The request reached it at once (or is watched there).
            Some(_) if !route.live_devices.is_empty() => Vec::new(),
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

    /// Sends one device's push (unless it is back already) and records it.
    async fn push_one(&self, id: u64, b: &sipwake_store::Binding) {
        let (req, invite, live) = {
            let calls = lock(&self.calls);
            let Some(c) = calls.get(&id) else { return };
            let Some(s) = c.sleepers.iter().find(|s| s.binding.device == b.device) else {
                return;
            };
            let live = matches!(s.reach, Reach::Live(_));
            if !live && s.state != DevState::Waiting {
                return; // woke (or was dropped) before its push
            }
            (c.req.clone(), c.invite, live)
        };
        let kind = if invite {
            NotificationKind::Call
        } else {
            NotificationKind::Chat
        };
        let status = self.sender.push(b, push::fields_for(&req, b, kind)).await;
        if self.pushed(id, &b.device, &status).await && live {
            inc(&self.stats.live_pushed);
        }
    }

    /// Records a push outcome; a held device that cannot be pushed is
    /// dropped at once. Returns whether the push was sent.
    async fn pushed(&self, id: u64, device: &str, status: &PushStatus) -> bool {
        let sent = matches!(status, PushStatus::Sent);
        let (dropped, ring) = {
            let mut calls = lock(&self.calls);
            let Some(call) = calls.get_mut(&id) else {
                return sent;
            };
            let Some(i) = call
                .sleepers
                .iter()
                .position(|s| s.binding.device == device)
            else {
                return false;
            };
            let s = &mut call.sleepers[i];
            match status {
                PushStatus::Sent => {
                    inc(&self.stats.pushed);
                    s.pushed_at = Some(Instant::now());
                    info!(call_id = %call.call_id, %device, "wake push sent");
                    let ring = call.invite
                        && self.bindings.policy.ringing_on_push
                        && !call.rang
                        && s.state == DevState::Waiting;
                    call.rang |= ring;
                    (None, ring.then(|| call.ctx.clone()))
                }
                PushStatus::Removed(r) | PushStatus::Failed(r) => {
                    inc(&self.stats.push_failed);
                    warn!(call_id = %call.call_id, %device, reason = %r, "wake push failed; device dropped from the call");
                    if s.state != DevState::Waiting {
                        (None, None)
                    } else {
                        s.state = DevState::Dropped;
                        let end = (call.ctx.clone(), s.old.clone(), s.promised);
                        if call.resolved() {
                            calls.remove(&id);
                        }
                        (Some(end), None)
                    }
                }
            }
        };
        if let Some((ctx, old, promised)) = dropped {
            settle_dropped(&ctx, old.as_ref(), promised, 480, "Temporarily Unavailable").await;
        }
        if let Some(ctx) = ring {
            ctx.provisional(180, "Ringing", &random_token(10)).await;
        }
        sent
    }

    /// Removes a push binding (policy decision), in the background.
    fn remove_binding(&self, call_id: &str, b: &sipwake_store::Binding, why: &str, code: u16) {
        inc(&self.stats.removed);
        let store = self.bindings.store.clone();
        let (aor, device) = (b.aor.clone(), b.device.clone());
        info!(%call_id, %aor, %device, policy = why, code, "push binding removed");
        tokio::spawn(async move {
            let a = aor.clone();
            let d = device.clone();
            match tokio::task::spawn_blocking(move || store.remove(&a, &d)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => warn!(%aor, %device, error = %e, "push binding not removed"),
                Err(e) => warn!(%aor, %device, error = %e, "push binding removal failed"),
            }
        });
    }

    /// The caller cancelled: open devices are dropped and never get the
    /// request; cancel pushes per `[push] cancel`.
    pub fn cancel(self: &Arc<Self>, id: u64) {
        let Some(call) = lock(&self.calls).remove(&id) else {
            return;
        };
        let me = self.clone();
        tokio::spawn(async move { me.end_open(call, End::Cancelled).await });
    }

    /// The hold window ended: devices that never woke end their branch.
    async fn expire(&self, id: u64) {
        let Some(call) = lock(&self.calls).remove(&id) else {
            return;
        };
        self.end_open(call, End::TimedOut).await;
    }

    /// Ends every open device of a call that left the table.
    async fn end_open(&self, call: HeldCall, why: End) {
        let policy = &self.bindings.policy;
        for s in call.sleepers.iter().filter(|s| s.open()) {
            let (code, reason) = match why {
                End::TimedOut => (480, "Temporarily Unavailable"),
                End::Cancelled => (487, "Request Terminated"),
            };
            if s.state == DevState::Probing {
                // Never pushed: its own branch answers for it (it still
                // runs if the device answered; else it ends as `code`).
                if let Some(old) = &s.old
                    && call.ctx.branch_waiting(old.idx)
                {
                    call.ctx.hold_branches(1);
                    settle_dropped(&call.ctx, Some(old), true, code, reason).await;
                }
                continue;
            }
            match why {
                End::TimedOut => {
                    inc(&self.stats.timed_out);
                    info!(call_id = %call.call_id, device = %s.binding.device, invite = call.invite, "device did not wake in time; held request dropped");
                    if s.pushed_at.is_some() && policy.remove_on_noanswer() {
                        self.remove_binding(&call.call_id, &s.binding, "removeon_noanswer", 480);
                    }
                }
                End::Cancelled => {
                    inc(&self.stats.cancelled);
                    info!(call_id = %call.call_id, device = %s.binding.device, "caller cancelled; held request dropped");
                }
            }
            settle_dropped(&call.ctx, s.old.as_ref(), s.promised, code, reason).await;
            if matches!(why, End::Cancelled)
                && call.invite
                && policy.cancel_push(s.pushed_at.is_some(), false)
            {
                let f = push::fields_for(&call.req, &s.binding, NotificationKind::Cancel);
                if self.sender.push(&s.binding, f).await == PushStatus::Sent {
                    inc(&self.stats.cancel_pushes);
                }
            }
        }
    }
}

/// A failed call for `removeon_subscallfail`: no answer / timeout (408)
/// or a server failure (5xx, 503 when unreachable). Busy and decline are
/// the user's answer, not a failure.
fn call_failed(code: u16) -> bool {
    code == 408 || (500..600).contains(&code)
}

/// An open device ends without delivery: its UDP branch (if it never
/// answered) stops silently, and its promised branch counts as `code`.
async fn settle_dropped(
    ctx: &Arc<ResponseContext>,
    old: Option<&device::OldBranch>,
    promised: bool,
    code: u16,
    reason: &str,
) {
    if let Some(o) = old {
        ctx.take_branch(o.idx);
    }
    if promised {
        ctx.drop_held(code, reason).await;
    }
}

//! Push wake-up: a request for a user whose devices sleep is held, each
//! sleeping device gets a push, and the request is forwarded — exactly
//! once per device — when the device registers again; devices that never
//! wake end their branch after `wake_timeout_secs`.
//!
//! [`Waker`] is the proxy's [`HoldHook`]. For each INVITE / MESSAGE the
//! proxy routes it finds the stored push devices that need push handling
//! (no flow: held; UDP: sent at once and watched, see [`udp`]; `level = 3`:
//! pushed on top of their live flow) and promises one
//! [`HeldBranch`](crate::proxy::context::HeldBranch) per held device to
//! the request's response context before any branch starts. Registrations
//! arrive as `RegistrarEvent::Registered` and deliver ([`deliver`]); the
//! device states are in [`device`]. See docs/wake.md.

pub mod cluster;
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
use sipwake_store::Binding;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::bindings::{PushBindings, PushSender, PushStatus};
use crate::cluster::Cluster;
use crate::net::FlowId;
use crate::proxy::context::{HeldBranch, ResponseContext};
use crate::proxy::hold::{BranchRequest, HeldRequest, HoldFuture, HoldHook, HoldId, HookParts};
use crate::proxy::locate::Registered;
use crate::proxy::route::{LiveDevice, Recipient};
use crate::proxy::{Proxy, ProxyError, ProxyParts};
use crate::registrar::RegistrarEvent;
use crate::util::lock;
pub use device::{DevState, Reach, Sleeper};
use stats::{WakeStats, inc};

/// Bounds: held requests in total, push devices handled per request.
pub const MAX_HELD: usize = 10_000;
pub const MAX_SLEEPERS: usize = 16;

/// The proxy with push wake-up: built once, the waker as its hold hook.
/// `parts` must carry the push bindings.
pub fn proxy_with_wake(
    parts: ProxyParts,
    sender: Arc<dyn PushSender>,
    cluster: Option<Arc<Cluster>>,
) -> Result<(Arc<Proxy>, Option<Arc<Waker>>), ProxyError> {
    let Some(bindings) = parts.push.clone() else {
        return Ok((Proxy::new(parts)?, None));
    };
    let mut waker = None;
    let proxy = Proxy::build(parts, |hp| {
        let w = Waker::new(bindings, sender, hp, cluster);
        waker = Some(w.clone());
        Some(w as Arc<dyn HoldHook>)
    })?;
    Ok((proxy, waker))
}

/// A stored push device found for a request, and how it is reached.
struct Found {
    binding: Binding,
    path_instance: Option<String>,
    reach: Reach,
}

struct HeldCall {
    call_id: String,
    invite: bool,
    reg_aor: String,
    request: HeldRequest,
    ctx: Arc<ResponseContext>,
    sleepers: Vec<Sleeper>,
    /// `ringing_on_push`: the 180 went out (once per call).
    rang: bool,
    /// Cluster: registration tokens other nodes had for this user when
    /// the request was held (the upstream reaches those devices itself).
    known_elsewhere: Vec<String>,
    /// When it was held: registrations committed before are no wake-up.
    held_at: Instant,
}

impl HeldCall {
    fn resolved(&self) -> bool {
        self.sleepers.iter().all(|s| !s.open())
    }

    /// Nothing left to do for it: every device delivered or dropped, and
    /// none owed a cancel push should the caller still cancel (with
    /// `cancel_when` ≥ 1 a pushed device that woke gets one; the call then
    /// stays until the caller cancels or the hold window ends).
    fn finished(&self, policy: &crate::config::PushPolicy) -> bool {
        self.resolved()
            && !(self.invite
                && self.sleepers.iter().any(|s| {
                    matches!(s.state, DevState::Delivered)
                        // Owed at some load: decided when the caller cancels.
                        && policy.cancel_push(s.pushed_at.is_some(), true, 0)
                }))
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
    proxy: Weak<Proxy>,
    calls: Mutex<HashMap<HoldId, HeldCall>>,
    next: AtomicU64,
    stats: WakeStats,
    me: Weak<Waker>,
    /// Several gateways: where devices woke elsewhere, and who delivers.
    cluster: Option<Arc<Cluster>>,
}

impl Waker {
    /// The waker for the proxy being built (see [`proxy_with_wake`]); it
    /// delivers held requests on the proxy's registration events.
    pub fn new(
        bindings: Arc<PushBindings>,
        sender: Arc<dyn PushSender>,
        parts: HookParts,
        cluster: Option<Arc<Cluster>>,
    ) -> Arc<Waker> {
        let waker = Arc::new_cyclic(|me| Waker {
            bindings,
            sender,
            proxy: parts.proxy,
            calls: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            stats: WakeStats::default(),
            me: me.clone(),
            cluster,
        });
        waker.listen(parts.registrations);
        waker.listen_cluster();
        waker
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
            .filter(|c| c.sleepers.iter().any(|s| s.state.is_waiting()))
            .count()
    }

    /// Delivers held requests on registrations until the proxy is gone.
    fn listen(self: &Arc<Self>, mut rx: broadcast::Receiver<RegistrarEvent>) {
        let me = self.clone();
        let proxy = self.proxy.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(RegistrarEvent::Registered {
                        aor,
                        instance,
                        flow,
                        at,
                    }) => {
                        let Some(p) = proxy.upgrade() else { return };
                        // Local first: an event handled late must not meet
                        // a request held after it (and take it for a wake-up).
                        me.on_registered(&p, &aor, &instance, flow, at).await;
                        me.announce(&p, &aor, &instance, flow).await;
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

    /// The gateway's load now (wsload 0..=4): the load-dependent `[push]`
    /// levels follow it.
    fn load(&self) -> u8 {
        self.proxy.upgrade().map_or(0, |p| p.load())
    }

    /// The stored push devices of the routed user that need push handling:
    /// devices without a flow (held), UDP devices (watched, see [`udp`]),
    /// and with `level = 3` / `chat_when = 2` devices on a live connection
    /// (pushed only). Empty when push does not apply.
    async fn sleepers(&self, req: &Message, route: &Recipient) -> Vec<Found> {
        let policy = &self.bindings.policy;
        let invite = req.method() == Some("INVITE");
        let allowed = |load| {
            if invite {
                policy.calls_enabled(true, load)
            } else {
                policy.chat_enabled(load)
            }
        };
        let load = self.load();
        if !allowed(load) {
            if allowed(0) {
                info!(load, invite, "no push at this load ([push] level / chat)");
            }
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
        let reach = |live: Option<&LiveDevice>| match live {
            None if invite || !conn_live => Some(Reach::Held),
            None => None,
            Some(d) if d.udp => Some(Reach::Udp(d.target)),
            Some(d) if live_push => Some(Reach::Live(d.target)),
            Some(_) => None,
        };
        let mut out: Vec<Found> = match &route.path {
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
                        Some(Found {
                            binding: stored.swap_remove(i),
                            path_instance: Some(p.instance.clone()),
                            reach: r,
                        })
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
                    Some(Found {
                        reach: reach(live)?,
                        binding: b,
                        path_instance: None,
                    })
                })
                .collect(),
        };
        out.truncate(MAX_SLEEPERS);
        out
    }

    /// Holds `request` for the devices `found` (held devices are promised
    /// to `ctx` now, before any branch starts), pushes the held and
    /// live-pushed ones, and arms the timeout. A MESSAGE held for anyone is
    /// answered 202 at once.
    async fn hold_found(
        &self,
        request: &HeldRequest,
        ctx: &Arc<ResponseContext>,
        found: Vec<Found>,
        known_elsewhere: Vec<String>,
    ) -> HoldId {
        let id = HoldId(self.next.fetch_add(1, Ordering::Relaxed));
        let req = &request.req;
        let invite = req.method() == Some("INVITE");
        let call_id = req.call_id().unwrap_or("").to_owned();
        let route = request.plan.recipient.clone().unwrap_or_default();
        let sleepers: Vec<Sleeper> = found
            .into_iter()
            .map(|f| {
                let promise = (f.reach == Reach::Held).then(|| ctx.hold());
                Sleeper::new(f.binding, f.path_instance, f.reach, promise)
            })
            .collect();
        let held = sleepers.iter().filter(|s| s.state.is_waiting()).count();
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
        let to_push: Vec<Binding> = sleepers
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
                request: request.clone(),
                ctx: ctx.clone(),
                sleepers,
                rang: false,
                known_elsewhere,
                held_at: Instant::now(),
            },
        );
        if !invite && held > 0 {
            // Accepted for delivery, not delivered: the sender learns no
            // more. (Held chats mean no device is live on a connection;
            // a watched UDP device's own answer is then absorbed.)
            self.share_message(id).await;
            ctx.accept_if_pending(202, "Accepted").await;
        }
        self.recheck(&route).await;
        self.arm(id, invite, to_push);
        id
    }

    /// The hold window's timer and the pushes, in the background.
    fn arm(&self, id: HoldId, invite: bool, to_push: Vec<Binding>) {
        let Some(me) = self.me.upgrade() else { return };
        let timeout = self.hold_window(invite);
        let w = me.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            w.expire(id).await;
        });
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
    fn reach_of(&self, id: HoldId, target: usize) -> Option<Reach> {
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
    async fn recheck(&self, route: &Recipient) {
        let Some(proxy) = self.proxy.upgrade() else {
            return;
        };
        let found: Vec<(String, FlowId)> = match &route.path {
            // The request reached it at once (or is watched there).
            Some(_) if !route.live_devices.is_empty() => Vec::new(),
            Some(p) => reachable(proxy.locate(Registered::Path(&p.token))),
            None => reachable(proxy.locate(Registered::User(&route.reg_aor)))
                .into_iter()
                // Devices that got the request at once are not sleepers.
                .filter(|(instance, _)| !route.live.contains(instance))
                .collect(),
        };
        for (identity, flow) in found {
            self.on_registered(&proxy, &route.reg_aor, &identity, flow, Instant::now())
                .await;
        }
    }

    /// Sends one device's push (unless it is back already) and records it.
    async fn push_one(&self, id: HoldId, b: &Binding) {
        let (req, invite, live) = {
            let calls = lock(&self.calls);
            let Some(c) = calls.get(&id) else { return };
            let Some(s) = c.sleepers.iter().find(|s| s.binding.device == b.device) else {
                return;
            };
            let live = matches!(s.reach, Reach::Live(_));
            if !live && !s.state.is_waiting() {
                return; // woke (or was dropped) before its push
            }
            (c.request.req.clone(), c.invite, live)
        };
        if !live && !self.cluster_may_push(id, b).await {
            return;
        }
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
    async fn pushed(&self, id: HoldId, device: &str, status: &PushStatus) -> bool {
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
                        && s.state.is_waiting();
                    call.rang |= ring;
                    (None, ring.then(|| call.ctx.clone()))
                }
                PushStatus::Removed(r) | PushStatus::Failed(r) => {
                    inc(&self.stats.push_failed);
                    warn!(call_id = %call.call_id, %device, reason = %r, "wake push failed; device dropped from the call");
                    if !s.state.is_waiting() {
                        (None, None)
                    } else {
                        let end = (
                            call.ctx.clone(),
                            s.old.clone(),
                            s.state.leave(DevState::Dropped),
                        );
                        if call.finished(&self.bindings.policy) {
                            calls.remove(&id);
                        }
                        (Some(end), None)
                    }
                }
            }
        };
        if let Some((ctx, old, promise)) = dropped {
            settle_dropped(&ctx, old.as_ref(), promise, 480, "Temporarily Unavailable").await;
        }
        if let Some(ctx) = ring {
            ctx.provisional(180, "Ringing", &random_token(10)).await;
        }
        sent
    }

    /// Removes a push binding (policy decision), in the background.
    fn remove_binding(&self, call_id: &str, b: &Binding, why: &str, code: u16) {
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

    /// The hold window ended: devices that never woke end their branch.
    async fn expire(&self, id: HoldId) {
        let Some(call) = lock(&self.calls).remove(&id) else {
            return;
        };
        self.end_open(call, End::TimedOut).await;
    }

    /// Ends every open device of a call that left the table.
    async fn end_open(&self, mut call: HeldCall, why: End) {
        let policy = &self.bindings.policy;
        if let Some(c) = &self.cluster
            && !call.invite
        {
            // Given up here: no other node is to deliver it either.
            for sl in call.sleepers.iter().filter(|s| s.open()) {
                let id = cluster::message_id(&call.request.req, &sl.binding.device);
                c.drop_message(&call.reg_aor, &id).await;
            }
        }
        for s in call.sleepers.iter_mut().filter(|s| s.open()) {
            let (code, reason) = match why {
                End::TimedOut => (480, "Temporarily Unavailable"),
                End::Cancelled => (487, "Request Terminated"),
            };
            let Some(promise) = s.state.leave(DevState::Dropped) else {
                // Probing, never pushed: its own branch answers for it (it
                // still runs if the device answered; else it ends as `code`).
                if let Some(old) = &s.old
                    && call.ctx.branch_waiting(old.idx)
                {
                    let promise = call.ctx.hold();
                    settle_dropped(&call.ctx, Some(old), Some(promise), code, reason).await;
                }
                continue;
            };
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
            settle_dropped(&call.ctx, s.old.as_ref(), Some(promise), code, reason).await;
            if matches!(why, End::Cancelled) && call.invite {
                self.cancel_push(&call.request.req, s, false).await;
            }
        }
        if matches!(why, End::Cancelled) && call.invite {
            // Devices that woke and took the INVITE get the caller's CANCEL
            // over SIP; a cancel push as well only with `cancel_when` ≥ 1.
            for s in call
                .sleepers
                .iter()
                .filter(|s| matches!(s.state, DevState::Delivered))
            {
                self.cancel_push(&call.request.req, s, true).await;
            }
        }
    }

    /// A cancel push (ntype 2) to `s` when `[push] cancel` / `cancel_when`
    /// ask for one; `answered`: the device woke and took the request.
    async fn cancel_push(&self, req: &sipwake_sip::Message, s: &Sleeper, answered: bool) {
        if !self
            .bindings
            .policy
            .cancel_push(s.pushed_at.is_some(), answered, self.load())
        {
            return;
        }
        let f = push::fields_for(req, &s.binding, NotificationKind::Cancel);
        if self.sender.push(&s.binding, f).await == PushStatus::Sent {
            inc(&self.stats.cancel_pushes);
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
    promise: Option<HeldBranch>,
    code: u16,
    reason: &str,
) {
    if let Some(o) = old {
        ctx.take_branch(o.idx);
    }
    if let Some(p) = promise {
        p.drop_with(code, reason).await;
    }
}

/// The (identity, flow) of the located devices that are reachable now.
fn reachable(located: Option<Vec<crate::proxy::locate::Located>>) -> Vec<(String, FlowId)> {
    located
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l.reach.is_some())
        .map(|l| (l.instance, l.flow))
        .collect()
}

impl HoldHook for Waker {
    fn hold<'a>(
        &'a self,
        request: &'a HeldRequest,
        ctx: &'a Arc<ResponseContext>,
    ) -> HoldFuture<'a, Option<HoldId>> {
        Box::pin(async move {
            let route = request.plan.recipient.as_ref()?;
            let mut found = self.sleepers(&request.req, route).await;
            let call_id = request.req.call_id().unwrap_or("");
            let known_elsewhere = self.live_elsewhere(call_id, route, &mut found).await;
            if found.is_empty() {
                return None;
            }
            Some(self.hold_found(request, ctx, found, known_elsewhere).await)
        })
    }

    fn start_branch(
        &self,
        id: HoldId,
        target: usize,
        ctx: &Arc<ResponseContext>,
        branch: BranchRequest,
    ) -> Option<BranchRequest> {
        match self.reach_of(id, target) {
            // A UDP push device: resent longer, watched for silence.
            Some(Reach::Udp(_)) => {
                self.start_probe(id, target, ctx, branch);
                None
            }
            _ => Some(branch),
        }
    }

    /// The caller cancelled: open devices are dropped and never get the
    /// request; cancel pushes per `[push] cancel`.
    fn cancel(&self, id: HoldId) {
        let Some(call) = lock(&self.calls).remove(&id) else {
            return;
        };
        let Some(me) = self.me.upgrade() else { return };
        tokio::spawn(async move { me.end_open(call, End::Cancelled).await });
    }

    fn flow_closed(&self, flow: FlowId) {
        if let Some(c) = self.cluster.clone() {
            tokio::spawn(async move { c.flow_closed(flow).await });
        }
    }
}

//! Delivery of a held request when its device registers again: which
//! held device a registration is, where the device is now, and the new
//! branch (or, for a UDP device, the old one resent / answered already).

use std::sync::Arc;

use sipwake_sip::{Message, ids::random_token};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::device::{self, DevState};
use super::stats::inc;
use super::{Waker, call_failed, settle_dropped, udp};
use crate::net::FlowId;
use crate::proxy::context::{BranchHook, BranchNote, HeldBranch, ResponseContext};
use crate::proxy::hold::HeldRequest;
use crate::proxy::locate::Registered;
use crate::proxy::route::Target;
use crate::proxy::{BRANCH_PREFIX, Proxy};
use crate::util::lock;

/// A held request to forward to a device that just registered.
pub(super) struct Delivery {
    pub(super) call_id: String,
    pub(super) invite: bool,
    pub(super) reg_aor: String,
    pub(super) request: HeldRequest,
    pub(super) ctx: Arc<ResponseContext>,
    /// The branch promised to the device, settled by this delivery.
    pub(super) promise: HeldBranch,
    pub(super) binding: sipwake_store::Binding,
    pub(super) old: Option<device::OldBranch>,
    /// Pushed before it came back (counts as a wake).
    pub(super) pushed: bool,
}

impl Waker {
    /// A device registered: forward every request held for it, once.
    pub async fn on_registered(
        &self,
        proxy: &Proxy,
        aor: &str,
        identity: &str,
        flow: FlowId,
        registered_at: Instant,
    ) {
        // Events are handled on the listener's own task, possibly after the
        // fact: a device whose flow closed since is not back. It stays held
        // (and pushed) instead of losing its branch to a dead flow.
        if !proxy.flow_is_open(flow) {
            debug!(%aor, %flow, "registration event for a flow that closed since; not a wake-up");
            return;
        }
        let at = Instant::now();
        for d in self.take_deliveries(aor, identity, &format!("{flow}"), &[], registered_at) {
            if let Some(d) = self.claimed(d).await {
                self.deliver(proxy, d, identity, flow, at).await;
            }
        }
        self.deliver_orphans(proxy, aor, identity, flow).await;
    }

    /// Every open device of a held request that `identity` of `aor` is,
    /// taken out of waiting (each is delivered — or dropped — once).
    /// `skip_tokens`: a call whose `known_elsewhere` holds one of them is
    /// not for this registration. Calls held after `registered_at` are not
    /// either: routing saw that registration (an event handled late).
    pub(super) fn take_deliveries(
        &self,
        aor: &str,
        identity: &str,
        via: &str,
        skip_tokens: &[&str],
        registered_at: Instant,
    ) -> Vec<Delivery> {
        let at = Instant::now();
        let mut deliveries = Vec::new();
        {
            let mut calls = lock(&self.calls);
            let mut done = Vec::new();
            for (id, call) in calls.iter_mut().filter(|(_, c)| {
                c.reg_aor == aor
                    && c.held_at <= registered_at
                    && !skip_tokens
                        .iter()
                        .any(|t| c.known_elsewhere.iter().any(|k| k == t))
            }) {
                let Some(i) = device::match_device(&call.sleepers, identity) else {
                    continue;
                };
                let s = &mut call.sleepers[i];
                if !s.seen.iter().any(|x| x == identity) {
                    s.seen.push(identity.to_owned());
                }
                if !s.open() {
                    // A refresh or a duplicate event: delivered (or dropped) already.
                    continue;
                }
                let pushed = s.state.is_waiting() && s.pushed_at.is_some();
                let promise = match s.state.leave(DevState::Delivered) {
                    Some(p) => p,
                    None => {
                        // Watched at its UDP address, back before any
                        // push: the delivery below settles this promise.
                        inc(&self.stats.udp_answered);
                        call.ctx.hold()
                    }
                };
                if pushed {
                    inc(&self.stats.woken);
                }
                if let Some(t) = s.pushed_at {
                    self.stats
                        .wake_latency
                        .record(at.saturating_duration_since(t));
                }
                info!(call_id = %call.call_id, device = %s.binding.device, via, "held device registered again");
                deliveries.push(Delivery {
                    call_id: call.call_id.clone(),
                    invite: call.invite,
                    reg_aor: call.reg_aor.clone(),
                    request: call.request.clone(),
                    ctx: call.ctx.clone(),
                    promise,
                    binding: s.binding.clone(),
                    old: s.old.clone(),
                    pushed,
                });
                if call.finished(&self.bindings.policy) {
                    done.push(*id);
                }
            }
            for id in done {
                calls.remove(&id);
            }
        }
        deliveries
    }

    /// Cluster: this node delivers `d` (else another did: its branch here
    /// ends quietly). Always true on a single node.
    pub(super) async fn claimed(&self, d: Delivery) -> Option<Delivery> {
        let Some(c) = &self.cluster else {
            return Some(d);
        };
        let method = if d.invite { "INVITE" } else { "MESSAGE" };
        let what = format!("d|{}|{method}|{}", d.call_id, d.binding.device);
        if c.claim(&d.reg_aor, &what).await {
            if !d.invite {
                let id = super::cluster::message_id(&d.request.req, &d.binding.device);
                c.drop_message(&d.reg_aor, &id).await;
            }
            return Some(d);
        }
        info!(call_id = %d.call_id, device = %d.binding.device, "held request delivered by another gateway; not here");
        inc(&self.stats.delivered_elsewhere);
        let reason = "Temporarily Unavailable";
        settle_dropped(&d.ctx, d.old.as_ref(), Some(d.promise), 480, reason).await;
        None
    }

    async fn deliver(&self, proxy: &Proxy, d: Delivery, identity: &str, flow: FlowId, at: Instant) {
        let device = d.binding.device.as_str();
        let Some(target) = target_for(proxy, &d.request, &d.reg_aor, identity, flow) else {
            warn!(call_id = %d.call_id, %device, "woken device has no usable flow; branch dropped");
            let reason = "Temporarily Unavailable";
            settle_dropped(&d.ctx, d.old.as_ref(), Some(d.promise), 480, reason).await;
            return;
        };
        if let Some(old) = &d.old {
            if udp::same_address(proxy, &old.dest, &target.dest) && d.ctx.branch_waiting(old.idx) {
                // Back at the address the request is resent to: resend
                // now rather than start a second branch to the same app.
                d.ctx.resend_branch(old.idx);
                d.promise.release().await;
                inc(&self.stats.delivered);
                self.stats.deliver_latency.record(at.elapsed());
                info!(call_id = %d.call_id, %device, "device registered at the same address; request resent there");
                return;
            }
            if !d.ctx.take_branch(old.idx) {
                // It answered at the old address meanwhile: that branch has it.
                d.promise.release().await;
                info!(call_id = %d.call_id, %device, "device answered at its old address; no second delivery");
                return;
            }
        }
        let (call_id, device) = (d.call_id.clone(), d.binding.device.clone());
        if self.send_branch(proxy, d, &target, at).await {
            info!(%call_id, %device, dest = ?target.dest, "held request delivered");
        }
    }

    /// Starts the branch of held request `d` toward `target` (the promise
    /// is settled either way) and counts it; `true` when it went out.
    pub(super) async fn send_branch(
        &self,
        proxy: &Proxy,
        d: Delivery,
        target: &Target,
        at: Instant,
    ) -> bool {
        let r = &d.request;
        let branch = format!("{BRANCH_PREFIX}{}.{}", r.loop_hash, random_token(12));
        let out = proxy
            .build_forward(&r.inb, &r.req, &r.plan, target, &branch)
            .and_then(|b| Message::parse(b).ok());
        let Some(out) = out else {
            d.promise.drop_with(500, "Server Internal Error").await;
            return false;
        };
        let hook = (d.invite && d.pushed).then(|| self.subscall_hook(&d.call_id, &d.binding));
        // A MESSAGE was answered 202 already; an INVITE answered elsewhere
        // needs no more branches.
        if d.promise.deliver(
            out,
            target.dest.clone(),
            target.kind.is_reliable(),
            !d.invite,
            hook,
        ) {
            inc(&self.stats.delivered);
            self.stats.deliver_latency.record(at.elapsed());
            true
        } else {
            inc(&self.stats.too_late);
            info!(call_id = %d.call_id, device = %d.binding.device, "device woke after the call was answered; not delivered");
            false
        }
    }

    /// `removeon_subscallfail`: a hook on the call delivered to a woken
    /// device that removes its binding when that call fails (no answer,
    /// 408, 5xx).
    pub(super) fn subscall_hook(&self, call_id: &str, b: &sipwake_store::Binding) -> BranchHook {
        let me = self.me.clone();
        let (call_id, b) = (call_id.to_owned(), b.clone());
        Arc::new(move |note| {
            if let BranchNote::Final(code) = note
                && call_failed(code)
                && let Some(w) = me.upgrade()
                && w.bindings.policy.remove_on_subsequent_call_fail()
            {
                w.remove_binding(&call_id, &b, "removeon_subscallfail", code);
            }
        })
    }
}

/// Where a woken device is now: its registration on `flow`.
fn target_for(
    proxy: &Proxy,
    request: &HeldRequest,
    reg_aor: &str,
    identity: &str,
    flow: FlowId,
) -> Option<Target> {
    if let Some(p) = request
        .plan
        .recipient
        .as_ref()
        .and_then(|w| w.path.as_ref())
    {
        // The held Path registration, or — for a device without instance
        // whose Contact changed — the registration just made on `flow`.
        let reg = proxy
            .locate(Registered::Path(&p.token))
            .and_then(|mut l| l.pop())
            .filter(|r| r.instance == identity)
            .or_else(|| {
                proxy
                    .locate(Registered::PathOnFlow(flow))
                    .and_then(|mut l| l.pop())
                    .filter(|r| r.aor == reg_aor && r.instance == identity)
            })?;
        let (dest, kind) = reg.reach?;
        return Some(Target {
            dest,
            kind,
            // The upstream addressed the Contact the device had when it
            // fell asleep; it may have a new one now.
            ruri: (p.rewrite_ruri || reg.contact != p.contact).then(|| reg.contact.clone()),
            to_flow: Some(reg.flow),
        });
    }
    let reg = proxy
        .locate(Registered::User(reg_aor))?
        .into_iter()
        .find(|r| r.instance == identity && r.flow == flow)?;
    let (dest, kind) = reg.reach?;
    Some(Target {
        dest,
        kind,
        ruri: Some(reg.contact),
        to_flow: Some(reg.flow),
    })
}

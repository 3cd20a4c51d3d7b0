//! UDP push devices. Over UDP a registration has no connection whose loss
//! says "asleep": the last known address is all there is, and a sleeping
//! app stops reading it. So the request goes there at once, resent on a
//! schedule stretched by `[push] inviteretry`; if nothing at all (not even
//! 100 Trying) comes back within `udp_wake_after_ms`, the device is pushed
//! and the request held for it like for any sleeping device. Exactly once:
//!
//! * it answers at the old address first: that branch has the request; a
//!   later REGISTER delivers nothing;
//! * it registers again first (new socket/port, after any 401 round): the
//!   request goes to the new flow and the old branch stops resending
//!   silently (it never got a response, so no CANCEL is due — RFC 3261
//!   §9.1) and never counts in the response to the caller;
//! * it registers again at the same address: the old branch resends now.
//!
//! With `level = 3` (calls) / `chat_when = 2` (chats) the window is zero:
//! pushed at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::info;

use super::device::{DevState, OldBranch, Reach};
use super::stats::inc;
use super::{Waker, call_failed};
use crate::config::PushPolicy;
use crate::net::{Destination, TransportKind};
use crate::proxy::Proxy;
use crate::proxy::context::{BranchNote, ResponseContext};
use crate::proxy::hold::{BranchRequest, HoldId};
use crate::transaction::{Stretch, Timers};
use crate::util::lock;

/// The resend schedule for a maybe-sleeping UDP device: `inviteretry` N
/// gives N times the RFC 3261 INVITE sends (7N), over N × 64·T1, paced T1
/// doubling to T2, cut at the hold window (13 sends in the default 40 s).
/// The transaction outlives the window a little so the wake-up logic, not
/// timer B, decides how the branch ends.
pub fn stretch(policy: &PushPolicy, t: Timers, hold: Duration) -> Stretch {
    let n = policy.inviteretry.max(1);
    Stretch {
        resend_for: (t.t64() * n).min(hold),
        max_sends: 7 * n,
        lifetime: hold + t.t64(),
    }
}

/// Whether two destinations are the same UDP peer.
pub fn same_address(proxy: &Proxy, a: &Destination, b: &Destination) -> bool {
    let peer = |d: &Destination| -> Option<(TransportKind, SocketAddr)> {
        match d {
            Destination::Flow(f) => proxy.flow_info(*f).map(|i| (i.kind, i.remote)),
            Destination::Addr { kind, addr } => Some((*kind, *addr)),
        }
    };
    matches!((peer(a), peer(b)), (Some(x), Some(y)) if x == y && x.0 == TransportKind::Udp)
}

impl Waker {
    /// Starts the branch to a UDP push device's last address (plan target
    /// `target` of hold `id`) and its no-answer window.
    pub(super) fn start_probe(
        &self,
        id: HoldId,
        target: usize,
        ctx: &Arc<ResponseContext>,
        branch: BranchRequest,
    ) {
        let BranchRequest {
            request: out,
            dest,
            reliable,
        } = branch;
        let found = lock(&self.calls).get(&id).and_then(|c| {
            let s = c.sleepers.iter().find(|s| s.reach == Reach::Udp(target))?;
            Some((c.invite, c.call_id.clone(), s.binding.clone()))
        });
        let (Some((invite, call_id, binding)), Some(proxy)) = (found, self.proxy.upgrade()) else {
            ctx.add_branch(out, dest, reliable);
            return;
        };
        let timers = proxy.timers();
        let policy = &self.bindings.policy;
        let window = if policy.push_live(invite) {
            Duration::ZERO
        } else {
            Duration::from_millis(policy.udp_wake_after_ms)
        };
        let woke = Arc::new(AtomicBool::new(false));
        let hook = {
            let me = self.me.clone();
            let woke = woke.clone();
            Arc::new(move |note| {
                if let Some(w) = me.upgrade() {
                    w.old_branch_note(id, target, note, &woke, &call_id, &binding, invite);
                }
            })
        };
        let st = stretch(policy, timers, self.hold_window(invite));
        let idx = ctx.add_branch_with(out, dest.clone(), reliable, Some(st), Some(hook));
        if let Some(s) = lock(&self.calls).get_mut(&id).and_then(|c| {
            c.sleepers
                .iter_mut()
                .find(|s| s.reach == Reach::Udp(target))
        }) {
            s.old = Some(OldBranch { idx, dest, woke });
        }
        inc(&self.stats.udp_probed);
        let Some(me) = self.me.upgrade() else { return };
        tokio::spawn(async move {
            tokio::time::sleep(window).await;
            me.window_ended(id, target).await;
        });
    }

    /// The old-address branch heard something (called outside the
    /// context's lock).
    #[allow(clippy::too_many_arguments)]
    fn old_branch_note(
        &self,
        id: HoldId,
        target: usize,
        note: BranchNote,
        woke: &AtomicBool,
        call_id: &str,
        binding: &sipwake_store::Binding,
        invite: bool,
    ) {
        match note {
            BranchNote::Responded => {
                let release = {
                    let mut calls = lock(&self.calls);
                    let Some(call) = calls.get_mut(&id) else {
                        return;
                    };
                    let Some(s) = call
                        .sleepers
                        .iter_mut()
                        .find(|s| s.reach == Reach::Udp(target))
                    else {
                        return;
                    };
                    match s.state {
                        DevState::Probing => {
                            inc(&self.stats.udp_answered);
                            info!(%call_id, device = %s.binding.device, "UDP push device answered at its address; no push");
                        }
                        DevState::Waiting(_) => {
                            inc(&self.stats.delivered);
                            if let Some(t) = s.pushed_at {
                                inc(&self.stats.woken);
                                self.stats.wake_latency.record(t.elapsed());
                                woke.store(true, Ordering::Relaxed);
                            }
                            info!(%call_id, device = %s.binding.device, "held device answered at its old address; request delivered there");
                        }
                        _ => return,
                    }
                    let release = s.state.leave(DevState::Delivered);
                    if call.finished(&self.bindings.policy) {
                        calls.remove(&id);
                    }
                    release
                };
                if let Some(promise) = release {
                    tokio::spawn(async move { promise.release().await });
                }
            }
            BranchNote::Final(code) => {
                if invite
                    && woke.load(Ordering::Relaxed)
                    && call_failed(code)
                    && self.bindings.policy.remove_on_subsequent_call_fail()
                {
                    self.remove_binding(call_id, binding, "removeon_subscallfail", code);
                }
            }
        }
    }

    /// The no-answer window ended: a device still silent is pushed and the
    /// request held for it (unless the call was answered meanwhile).
    async fn window_ended(&self, id: HoldId, target: usize) {
        let (ctx, invite, binding) = {
            let mut calls = lock(&self.calls);
            let Some(call) = calls.get_mut(&id) else {
                return;
            };
            let Some(s) = call
                .sleepers
                .iter_mut()
                .find(|s| s.reach == Reach::Udp(target))
            else {
                return;
            };
            if !matches!(s.state, DevState::Probing) {
                return;
            }
            if call.invite && call.ctx.is_final_sent() {
                // Answered elsewhere: its resends stopped with the call.
                s.state = DevState::Dropped;
                if call.finished(&self.bindings.policy) {
                    calls.remove(&id);
                }
                return;
            }
            s.state = DevState::Waiting(call.ctx.hold());
            inc(&self.stats.held);
            info!(call_id = %call.call_id, device = %s.binding.device, window_ms = self.bindings.policy.udp_wake_after_ms, "UDP push device silent; request held for push wake-up");
            (call.ctx.clone(), call.invite, s.binding.clone())
        };
        if !invite {
            ctx.accept_if_pending(202, "Accepted").await;
        }
        self.push_one(id, &binding).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_follows_inviteretry_and_the_hold_window() {
        let t = Timers::default();
        let p = PushPolicy::default();
        let s = stretch(&p, t, Duration::from_secs(40));
        assert_eq!(s.resend_for, Duration::from_secs(40), "96 s cut at 40 s");
        assert_eq!(s.max_sends, 21);
        assert_eq!(s.lifetime, Duration::from_secs(72));
        let one = PushPolicy {
            inviteretry: 1,
            ..PushPolicy::default()
        };
        let s = stretch(&one, t, Duration::from_secs(40));
        assert_eq!((s.resend_for, s.max_sends), (Duration::from_secs(32), 7));
    }
}

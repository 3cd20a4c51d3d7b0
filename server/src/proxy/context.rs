//! The response context of one proxied request (RFC 3261 §16.7): collects
//! the branch responses, forwards provisionals and every 2xx at once, picks
//! the best final when all branches are done, and CANCELs what is left.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sipwake_sip::{Contacts, Message, response_to};
use tracing::{debug, info};

use super::stats::Stats;
use crate::net::{Destination, Network};
use crate::registrar::paths::{PathRegistry, Pending};
use crate::transaction::client::{ClientEvent, EventFuture, EventHandler};
use crate::transaction::{ClientTable, ClientTx, ServerTx, Stretch, Timers, TxHandle};
use crate::util::lock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BranchState {
    Waiting,
    Provisional,
    Done,
}

struct Branch {
    /// The request as sent on this branch (for building its CANCEL).
    request: Message,
    dest: Destination,
    reliable: bool,
    state: BranchState,
    cancel_wanted: bool,
    /// Set once its transaction started.
    handle: Option<TxHandle>,
    /// Resent on a stretched schedule (a UDP push device that may sleep).
    stretched: bool,
    /// Given up before any response ([`ResponseContext::take_branch`]):
    /// nothing it says is relayed or counted.
    taken: bool,
    hook: Option<BranchHook>,
}

/// What a branch hook hears (outside the context's lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchNote {
    /// The first response of any kind (100 included).
    Responded,
    /// The branch's final: a received code, 408 for a timeout, 503 when
    /// the request could not be sent.
    Final(u16),
}

pub type BranchHook = Arc<dyn Fn(BranchNote) + Send + Sync>;

/// A push REGISTER's binding change, made durable when the upstream says
/// 2xx and before that 2xx is relayed (with its Feature-Caps).
pub struct PushCommit {
    pub bindings: Arc<crate::bindings::PushBindings>,
    pub capture: crate::bindings::Capture,
    pub feature_caps: Option<String>,
}

/// What to do when the request succeeds (REGISTER through Path).
pub enum OnSuccess {
    Nothing,
    CommitPath(Arc<PathRegistry>, Box<Pending>),
}

struct Inner {
    branches: Vec<Branch>,
    /// Best final response so far (code, bytes ready to send).
    best: Option<(u16, Bytes)>,
    final_sent: bool,
    on_success: Option<OnSuccess>,
    /// Branches promised to sleeping devices (push wake-up) and not yet
    /// started: the best final waits for them too.
    held: usize,
    /// `Reason` for our CANCELs (RFC 3326), once a 2xx ended the call.
    cancel_reason: Option<String>,
}

/// RFC 3326 `Reason` on the CANCELs sent because another branch answered.
pub const REASON_ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";

pub struct ResponseContext {
    server: Arc<ServerTx>,
    /// The request as received (for synthesising 408 / 503).
    original: Message,
    net: Arc<dyn Network>,
    timers: Timers,
    clients: ClientTable,
    stats: Arc<Stats>,
    /// Added to relayed 401/407 when the Request-URI was rewritten, so the
    /// client can compute its digest over the URI the upstream sees.
    auth_uri: Option<String>,
    /// contact_mode = "rewrite": (our URI, the client's) to swap back in
    /// REGISTER responses, so the client sees its own Contact.
    contact_restore: Option<(String, String)>,
    push: Mutex<Option<PushCommit>>,
    inner: Mutex<Inner>,
}

/// Best-response preference (RFC 3261 §16.7 step 6): 6xx beat everything,
/// then the lowest class; within 4xx, challenges win so the client can
/// authenticate.
fn rank(code: u16) -> (u16, u16) {
    match code {
        600.. => (0, code),
        401 | 407 => (4, 0),
        c => (c / 100 + 1, c),
    }
}

impl ResponseContext {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        server: Arc<ServerTx>,
        original: Message,
        net: Arc<dyn Network>,
        timers: Timers,
        clients: ClientTable,
        stats: Arc<Stats>,
        auth_uri: Option<String>,
        contact_restore: Option<(String, String)>,
        on_success: OnSuccess,
    ) -> Arc<ResponseContext> {
        Arc::new(ResponseContext {
            server,
            original,
            net,
            timers,
            clients,
            stats,
            auth_uri,
            contact_restore,
            push: Mutex::new(None),
            inner: Mutex::new(Inner {
                branches: Vec::new(),
                best: None,
                final_sent: false,
                on_success: Some(on_success),
                held: 0,
                cancel_reason: None,
            }),
        })
    }

    pub fn set_push_commit(&self, pc: PushCommit) {
        *lock(&self.push) = Some(pc);
    }

    /// Starts a client transaction for one branch.
    pub fn add_branch(self: &Arc<Self>, request: Message, dest: Destination, reliable: bool) {
        self.add_branch_with(request, dest, reliable, None, None);
    }

    /// [`Self::add_branch`] with a stretched UDP schedule and a hook that
    /// hears the branch's first response and its final. Returns its index.
    pub fn add_branch_with(
        self: &Arc<Self>,
        request: Message,
        dest: Destination,
        reliable: bool,
        stretch: Option<Stretch>,
        hook: Option<BranchHook>,
    ) -> usize {
        // The branch is listed before its transaction starts (a response
        // must find it), so the handle is filled in just after.
        let idx = {
            let mut inner = lock(&self.inner);
            inner.branches.push(Branch {
                request: request.clone(),
                dest: dest.clone(),
                reliable,
                state: BranchState::Waiting,
                cancel_wanted: false,
                handle: None,
                stretched: stretch.is_some(),
                taken: false,
                hook,
            });
            inner.branches.len() - 1
        };
        let ctx = self.clone();
        let handler: EventHandler = Arc::new(move |ev| -> EventFuture {
            let ctx = ctx.clone();
            Box::pin(async move { ctx.on_event(idx, ev).await })
        });
        Stats::inc(&self.stats.requests_out);
        let handle = ClientTx::start_with(
            &self.clients,
            self.net.clone(),
            self.timers,
            request,
            dest,
            reliable,
            self.server.call_id.clone(),
            handler,
            stretch,
        );
        if let Some(b) = lock(&self.inner).branches.get_mut(idx) {
            if b.taken {
                handle.stop();
            }
            b.handle = Some(handle);
        }
        idx
    }

    /// Gives a branch up if it got no response yet: its transaction stops
    /// silently (RFC 3261 §9.1: no CANCEL without a provisional) and it
    /// never counts in the best-response choice. `false` when it already
    /// answered (or is unknown). Callers hold a promised branch
    /// (`hold_branches`) while taking, and settle it after, so the context
    /// still ends with a final.
    pub fn take_branch(&self, idx: usize) -> bool {
        let mut inner = lock(&self.inner);
        match inner.branches.get_mut(idx) {
            Some(b) if b.state == BranchState::Waiting && !b.taken => {
                b.taken = true;
                b.state = BranchState::Done;
                if let Some(h) = &b.handle {
                    h.stop();
                }
                true
            }
            _ => false,
        }
    }

    /// Makes a branch that got no response yet send its request again now
    /// (the device just showed up at the same address).
    pub fn resend_branch(&self, idx: usize) {
        let inner = lock(&self.inner);
        if let Some(b) = inner.branches.get(idx)
            && b.state == BranchState::Waiting
            && let Some(h) = &b.handle
        {
            h.resend_now();
        }
    }

    /// Whether the branch got no response yet.
    pub fn branch_waiting(&self, idx: usize) -> bool {
        lock(&self.inner)
            .branches
            .get(idx)
            .is_some_and(|b| b.state == BranchState::Waiting && !b.taken)
    }

    /// Promises `n` more branches (held for sleeping devices): no best final
    /// is chosen while any of them may still start.
    pub fn hold_branches(&self, n: usize) {
        lock(&self.inner).held += n;
    }

    /// A held branch starts now (the device woke up); `false` (and nothing
    /// sent) when a final response already went out.
    /// `after_final`: deliver even then (a MESSAGE answered 202 on hold).
    pub fn deliver_held(
        self: &Arc<Self>,
        request: Message,
        dest: Destination,
        reliable: bool,
        after_final: bool,
    ) -> bool {
        self.deliver_held_with(request, dest, reliable, after_final, None)
    }

    /// [`Self::deliver_held`] with a hook on the new branch.
    pub fn deliver_held_with(
        self: &Arc<Self>,
        request: Message,
        dest: Destination,
        reliable: bool,
        after_final: bool,
        hook: Option<BranchHook>,
    ) -> bool {
        if !after_final && lock(&self.inner).final_sent {
            self.release_one();
            return false;
        }
        // Add first, release after: the new Waiting branch keeps the
        // context from choosing a final in between.
        self.add_branch_with(request, dest, reliable, None, hook);
        self.release_one();
        true
    }

    fn release_one(&self) {
        let mut inner = lock(&self.inner);
        inner.held = inner.held.saturating_sub(1);
    }

    /// A held branch is settled without a new branch (the device answered
    /// on a branch that already runs): the promise goes, and the context
    /// may complete.
    pub async fn release_held(&self) {
        let send = {
            let mut inner = lock(&self.inner);
            inner.held = inner.held.saturating_sub(1);
            if inner.final_sent {
                None
            } else {
                Self::take_final_if_done(&mut inner)
            }
        };
        if let Some((c, b)) = send {
            self.stats.response_out(c);
            self.server.respond(c, b).await;
        }
    }

    /// Answers `code` now unless a final went out already (a MESSAGE
    /// accepted for later delivery). Returns whether it was sent.
    pub async fn accept_if_pending(&self, code: u16, reason: &str) -> bool {
        {
            let mut inner = lock(&self.inner);
            if inner.final_sent {
                return false;
            }
            inner.final_sent = true;
        }
        let bytes = response_to(&self.original, code, reason).build();
        self.stats.response_out(code);
        self.server.respond(code, bytes).await;
        true
    }

    /// A held branch will never start (timeout, CANCEL): it counts as a
    /// `code` answer, and may complete the context.
    pub async fn drop_held(&self, code: u16, reason: &str) {
        let bytes = response_to(&self.original, code, reason).build();
        let send = {
            let mut inner = lock(&self.inner);
            inner.held = inner.held.saturating_sub(1);
            if inner.final_sent {
                None
            } else {
                if inner
                    .best
                    .as_ref()
                    .is_none_or(|(c, _)| rank(code) < rank(*c))
                {
                    inner.best = Some((code, bytes));
                }
                Self::take_final_if_done(&mut inner)
            }
        };
        if let Some((c, b)) = send {
            self.stats.response_out(c);
            self.server.respond(c, b).await;
        }
    }

    /// Whether a final response was sent (no more branches are useful).
    pub fn is_final_sent(&self) -> bool {
        lock(&self.inner).final_sent
    }

    /// Sends a provisional response of our own (e.g. 180 while a device
    /// wakes) unless a final already went out.
    pub async fn provisional(&self, code: u16, reason: &str, to_tag: &str) {
        if self.is_final_sent() {
            return;
        }
        let bytes = response_to(&self.original, code, reason)
            .to_tag(to_tag)
            .build();
        self.stats.response_out(code);
        self.server.respond(code, bytes).await;
    }

    /// When every branch is done and none is held: the best final, taken.
    fn take_final_if_done(inner: &mut Inner) -> Option<(u16, Bytes)> {
        let all_done =
            inner.held == 0 && inner.branches.iter().all(|b| b.state == BranchState::Done);
        if !all_done {
            return None;
        }
        inner.final_sent = true;
        inner.best.take()
    }

    /// No branch could be created: answer with this final right away.
    pub async fn fail(&self, code: u16, reason: &str) {
        let bytes = response_to(&self.original, code, reason).build();
        lock(&self.inner).final_sent = true;
        self.stats.response_out(code);
        self.server.respond(code, bytes).await;
    }

    /// CANCEL every branch still without a final (RFC 3261 §16.10), with
    /// `reason` (the caller's CANCEL's `Reason`) unless a 2xx set ours.
    pub fn cancel_all(self: &Arc<Self>, reason: Option<String>) {
        let mut to_send = Vec::new();
        {
            let mut inner = lock(&self.inner);
            if inner.cancel_reason.is_none() {
                inner.cancel_reason = reason;
            }
            let inner_final = inner.final_sent;
            for b in inner.branches.iter_mut() {
                match b.state {
                    BranchState::Provisional if !b.cancel_wanted => {
                        b.cancel_wanted = true;
                        to_send.push((b.request.clone(), b.dest.clone(), b.reliable));
                    }
                    // A stretched resend to a maybe-sleeping device ends
                    // with the call: nothing was received, nothing to cancel.
                    BranchState::Waiting if b.stretched && inner_final => {
                        b.taken = true;
                        b.state = BranchState::Done;
                        if let Some(h) = &b.handle {
                            h.stop();
                        }
                    }
                    // §9.1: no CANCEL before a provisional; sent when one comes.
                    BranchState::Waiting => b.cancel_wanted = true,
                    _ => {}
                }
            }
        }
        for (req, dest, reliable) in to_send {
            self.send_cancel(&req, dest, reliable);
        }
    }

    fn cancel_branch(&self, idx: usize) {
        let req = {
            let mut inner = lock(&self.inner);
            match inner.branches.get_mut(idx) {
                Some(b) if b.state == BranchState::Provisional && !b.cancel_wanted => {
                    b.cancel_wanted = true;
                    Some((b.request.clone(), b.dest.clone(), b.reliable))
                }
                _ => None,
            }
        };
        if let Some((r, d, rel)) = req {
            self.send_cancel(&r, d, rel);
        }
    }

    fn send_cancel(&self, req: &Message, dest: Destination, reliable: bool) {
        let Some(Ok(mut cancel)) = sipwake_sip::cancel_for(req).map(Message::parse) else {
            return;
        };
        let reason = lock(&self.inner).cancel_reason.clone();
        if let Some(r) = reason {
            let mut e = cancel.edit();
            e.add_header("Reason", &r);
            match Message::parse(e.build()) {
                Ok(m) => cancel = m,
                Err(_) => return,
            }
        }
        debug!(call_id = %self.server.call_id, "sending CANCEL");
        let noop: EventHandler = Arc::new(|_| -> EventFuture { Box::pin(async {}) });
        Stats::inc(&self.stats.requests_out);
        ClientTx::start(
            &self.clients,
            self.net.clone(),
            self.timers,
            cancel,
            dest,
            reliable,
            self.server.call_id.clone(),
            noop,
        );
    }

    async fn on_event(self: Arc<Self>, idx: usize, ev: ClientEvent) {
        let (taken, first, hook) = {
            let inner = lock(&self.inner);
            match inner.branches.get(idx) {
                Some(b) => (b.taken, b.state == BranchState::Waiting, b.hook.clone()),
                None => return,
            }
        };
        if taken {
            // Given up, yet the device answered after all: it must not
            // ring on (or keep) a call it gets elsewhere.
            if let ClientEvent::Response(m) = &ev
                && m.status().is_some_and(|c| c < 200)
            {
                self.cancel_taken(idx);
            }
            return;
        }
        if first
            && matches!(ev, ClientEvent::Response(_))
            && let Some(h) = &hook
        {
            h(BranchNote::Responded);
        }
        let (code, resp) = match ev {
            ClientEvent::Response(m) => (m.status().unwrap_or(500), Some(m)),
            ClientEvent::Timeout => {
                // Timer C on a ringing INVITE branch: CANCEL it (§16.8).
                self.cancel_branch(idx);
                (408, None)
            }
            // RFC 3261 §16.9: a transport error counts as a 503 from that branch.
            ClientEvent::TransportError(e) => {
                info!(call_id = %self.server.call_id, error = %e, "branch unreachable");
                (503, None)
            }
        };
        if code < 200 {
            self.on_provisional(idx, code, resp).await;
        } else {
            self.on_final(idx, code, resp).await;
            if let Some(h) = &hook {
                h(BranchNote::Final(code));
            }
        }
    }

    fn cancel_taken(&self, idx: usize) {
        let req = {
            let mut inner = lock(&self.inner);
            match inner.branches.get_mut(idx) {
                Some(b) if !b.cancel_wanted => {
                    b.cancel_wanted = true;
                    Some((b.request.clone(), b.dest.clone(), b.reliable))
                }
                _ => None,
            }
        };
        if let Some((r, d, rel)) = req {
            self.send_cancel(&r, d, rel);
        }
    }

    async fn on_provisional(self: &Arc<Self>, idx: usize, code: u16, resp: Option<Message>) {
        let (cancel, forward) = {
            let mut inner = lock(&self.inner);
            let final_sent = inner.final_sent;
            // Taken meanwhile: nothing it says counts (see `take_branch`).
            let Some(b) = inner.branches.get_mut(idx).filter(|b| !b.taken) else {
                return;
            };
            let was_waiting = b.state == BranchState::Waiting;
            if was_waiting {
                b.state = BranchState::Provisional;
            }
            let cancel = (was_waiting && b.cancel_wanted)
                .then(|| (b.request.clone(), b.dest.clone(), b.reliable));
            // 100 is hop by hop: we already sent our own.
            (cancel, code > 100 && !final_sent)
        };
        if let Some((req, dest, reliable)) = cancel {
            self.send_cancel(&req, dest, reliable);
        }
        if forward && let Some(r) = resp {
            self.relay(code, &r).await;
        }
    }

    async fn on_final(self: &Arc<Self>, idx: usize, code: u16, resp: Option<Message>) {
        // §16.7 step 6: a 503 *received* from downstream must not make the
        // client think we are overloaded: relay it as 500. (A branch we could
        // not reach at all stays 503, §16.9.)
        let (code, resp) = match resp {
            Some(_) if code == 503 => (500, None),
            r => (code, r),
        };
        let bytes = match &resp {
            Some(r) => self.relay_bytes(code, r),
            None => {
                let reason = match code {
                    408 => "Request Timeout",
                    500 => "Server Internal Error",
                    _ => "Service Unavailable",
                };
                response_to(&self.original, code, reason).build()
            }
        };
        enum Act {
            Send(u16, Bytes),
            Nothing,
        }
        let (act, cancel_rest, success) = {
            let mut inner = lock(&self.inner);
            // Taken meanwhile: nothing it says counts (see `take_branch`).
            let Some(b) = inner.branches.get_mut(idx).filter(|b| !b.taken) else {
                return;
            };
            let first = b.state != BranchState::Done;
            b.state = BranchState::Done;
            if (200..300).contains(&code) {
                // Every 2xx is forwarded (forked INVITE answers, retransmissions).
                let success = if first && !inner.final_sent {
                    inner.on_success.take()
                } else {
                    None
                };
                inner.final_sent = true;
                if first {
                    inner.cancel_reason = Some(REASON_ELSEWHERE.to_owned());
                }
                (Act::Send(code, bytes), first, success)
            } else if !first || inner.final_sent {
                (Act::Nothing, false, None)
            } else {
                if inner
                    .best
                    .as_ref()
                    .is_none_or(|(c, _)| rank(code) < rank(*c))
                {
                    inner.best = Some((code, bytes));
                }
                match Self::take_final_if_done(&mut inner) {
                    Some((c, b)) => (Act::Send(c, b), false, None),
                    None if inner.final_sent => (Act::Nothing, false, None),
                    None => (Act::Nothing, code >= 600, None),
                }
            }
        };
        if cancel_rest && self.server.is_invite {
            self.cancel_all(None);
        }
        let mut push_caps = None;
        let mut announce = None;
        if let Some(OnSuccess::CommitPath(reg, pending)) = success
            && let Some(r) = &resp
        {
            announce = reg.commit(&pending, r).map(|ev| (reg, ev));
            let pc = lock(&self.push).take();
            if let Some(pc) = pc {
                let call_id = self.server.call_id.clone();
                // The binding is durable before the 200 OK is relayed.
                if pc.bindings.commit(&pc.capture, &call_id).await.is_ok() {
                    push_caps = pc.feature_caps;
                }
            }
        }
        if let Act::Send(c, mut b) = act {
            if let Some(fc) = push_caps
                && let Ok(m) = Message::parse(b.clone())
            {
                let mut e = m.edit();
                e.add_header("Feature-Caps", &fc);
                b = e.build();
            }
            self.stats.response_out(c);
            self.server.respond(c, b).await;
        }
        // After the 200 OK is on its way: a held request this wakes is
        // queued behind it on the client's flow.
        if let Some((reg, ev)) = announce {
            reg.announce(ev);
        }
    }

    /// A received response minus our Via, plus X-Sy.AuthURI on challenges.
    fn relay_bytes(&self, code: u16, resp: &Message) -> Bytes {
        let mut e = resp.edit();
        e.remove_top_via();
        if matches!(code, 401 | 407)
            && let Some(u) = &self.auth_uri
        {
            e.add_header("X-Sy.AuthURI", u);
        }
        if let Some((ours, theirs)) = &self.contact_restore
            && let Ok(Contacts::List(list)) = resp.contacts()
        {
            for (i, c) in list.iter().enumerate() {
                if c.uri.raw == ours {
                    e.set_contact_uri(i, theirs);
                }
            }
        }
        e.build()
    }

    async fn relay(&self, code: u16, resp: &Message) {
        let b = self.relay_bytes(code, resp);
        self.stats.response_out(code);
        self.server.respond(code, b).await;
    }
}

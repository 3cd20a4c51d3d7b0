//! The response context of one proxied request (RFC 3261 §16.7): collects
//! the branch responses, forwards provisionals and every 2xx at once, picks
//! the best final when all branches are done, and CANCELs what is left.
//!
//! Two additions, both generic: a request may have *held branches* — a
//! [`HeldBranch`] is promised before any branch starts and keeps the best
//! final from being chosen until it is settled, exactly once, by
//! delivering, releasing or dropping it (the proxy's hold hook uses them
//! for devices that are woken first); and an [`OnSuccess`] hook runs on the
//! first 2xx before it is relayed (a REGISTER commits its registration and
//! push binding there) and may add headers and act once it was sent.
//!
//! ```text
//!  branch:  Waiting ──1xx──▶ Provisional ──final──▶ Done
//!              ├──────────────final──────────────────▲
//!              └──take (no response yet)──▶ Taken (never counted)
//!  held:    promised ──deliver──▶ a new Waiting branch
//!                    ──release──▶ (an existing branch has it)
//!                    ──drop(code)─▶ counts as a `code` answer
//!  context: best final sent when every branch is Done and no held branch
//!           is open; a 2xx is relayed at once and ends the choice.
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sipwake_sip::{Contacts, Message, response_to};
use tracing::{debug, error, info};

use super::stats::Stats;
use crate::net::{Destination, Network};
use crate::transaction::client::{ClientEvent, EventFuture, EventHandler};
use crate::transaction::{ClientTable, ClientTx, ServerTx, Stretch, Timers, TxHandle};
use crate::util::lock;

/// Where a branch is (the diagram above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BranchState {
    /// Sent, nothing heard yet.
    Waiting,
    /// A provisional came (a CANCEL may be sent now, RFC 3261 §9.1).
    Provisional,
    /// Its final came (or a timeout / transport error counted as one).
    Done,
    /// Given up before any response ([`ResponseContext::take_branch`]):
    /// nothing it says is relayed or counted.
    Taken,
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

/// A final answer of our own instead of a 2xx: code, reason, headers.
pub type Refusal = (u16, &'static str, Vec<(&'static str, String)>);

/// What the first 2xx's [`OnSuccess`] hook decided.
#[derive(Default)]
pub struct Committed {
    /// Added to the 2xx before it is relayed.
    pub headers: Vec<(&'static str, String)>,
    /// Runs once the 2xx was handed to the transport.
    pub after_relay: Option<Box<dyn FnOnce() + Send>>,
    /// The 2xx is not relayed: this answer goes instead (code, reason,
    /// headers), e.g. 503 when what the 2xx confirms could not be stored.
    pub refuse: Option<Refusal>,
}

pub type SuccessFuture = Pin<Box<dyn Future<Output = Committed> + Send>>;

/// Runs on the first 2xx final, before it is relayed.
pub type OnSuccess = Box<dyn FnOnce(Message) -> SuccessFuture + Send>;

/// What every context of one proxy shares: the network, timers, client
/// transaction table and counters.
#[derive(Clone)]
pub struct BranchEnv {
    pub net: Arc<dyn Network>,
    pub timers: Timers,
    pub clients: ClientTable,
    pub stats: Arc<Stats>,
}

/// How relayed responses are edited besides removing our Via.
#[derive(Default)]
pub struct RelayEdits {
    /// Added to relayed 401/407 when the Request-URI was rewritten, so the
    /// client can compute its digest over the URI the upstream sees.
    pub auth_uri: Option<String>,
    /// contact_mode = "rewrite": (our URI, the client's) to swap back in
    /// REGISTER responses, so the client sees its own Contact.
    pub contact_restore: Option<(String, String)>,
}

/// A branch promised to a device that cannot be reached yet: while it is
/// open the context chooses no best final. Settled exactly once — the
/// methods take it by value: [`deliver`](Self::deliver) (a new branch),
/// [`release`](Self::release) (a running branch has the request) or
/// [`drop_with`](Self::drop_with) (counts as that answer).
#[must_use = "a held branch must be settled, or the request never completes"]
pub struct HeldBranch {
    ctx: Arc<ResponseContext>,
    open: bool,
}

impl std::fmt::Debug for HeldBranch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HeldBranch({})", self.ctx.server.call_id)
    }
}

impl HeldBranch {
    /// The request this branch belongs to.
    pub fn context(&self) -> &Arc<ResponseContext> {
        &self.ctx
    }

    /// Starts the held branch now (the device woke up): `false` (and
    /// nothing sent) when a final response already went out, unless
    /// `after_final` (a MESSAGE answered 202 on hold).
    pub fn deliver(
        mut self,
        request: Message,
        dest: Destination,
        reliable: bool,
        after_final: bool,
        hook: Option<BranchHook>,
    ) -> bool {
        self.open = false;
        let ctx = self.ctx.clone();
        if !after_final && ctx.is_final_sent() {
            ctx.settle(None);
            return false;
        }
        // Add first, settle after: the new Waiting branch keeps the
        // context from choosing a final in between.
        ctx.add_branch_with(request, dest, reliable, None, hook);
        ctx.settle(None);
        true
    }

    /// Settled without a new branch (the device answered on a branch that
    /// already runs); the context may complete.
    pub async fn release(mut self) {
        self.open = false;
        let ctx = self.ctx.clone();
        ctx.settle_and_send(None).await;
    }

    /// The branch will never start (timeout, CANCEL, push failed): it
    /// counts as a `code` answer, and may complete the context.
    pub async fn drop_with(mut self, code: u16, reason: &str) {
        self.open = false;
        let ctx = self.ctx.clone();
        let bytes = response_to(&ctx.original, code, reason).build();
        ctx.settle_and_send(Some((code, bytes))).await;
    }
}

impl Drop for HeldBranch {
    fn drop(&mut self) {
        if self.open {
            // A bug: still, the caller must get an answer.
            error!(call_id = %self.ctx.server.call_id, "held branch dropped unsettled; counted as 500");
            let ctx = self.ctx.clone();
            let bytes = response_to(&ctx.original, 500, "Server Internal Error").build();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { ctx.settle_and_send(Some((500, bytes))).await });
            }
        }
    }
}

struct Inner {
    branches: Vec<Branch>,
    /// Best final response so far (code, bytes ready to send).
    best: Option<(u16, Bytes)>,
    final_sent: bool,
    on_success: Option<OnSuccess>,
    /// Open [`HeldBranch`]es: the best final waits for them too.
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
    env: BranchEnv,
    edits: RelayEdits,
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
    pub fn new(
        env: BranchEnv,
        server: Arc<ServerTx>,
        original: Message,
        edits: RelayEdits,
        on_success: Option<OnSuccess>,
    ) -> Arc<ResponseContext> {
        Arc::new(ResponseContext {
            server,
            original,
            env,
            edits,
            inner: Mutex::new(Inner {
                branches: Vec::new(),
                best: None,
                final_sent: false,
                on_success,
                held: 0,
                cancel_reason: None,
            }),
        })
    }

    /// The Call-ID of the request (for logs).
    pub fn call_id(&self) -> &str {
        &self.server.call_id
    }

    /// Promises a branch to a device that is not reachable yet; no best
    /// final is chosen until it is settled.
    pub fn hold(self: &Arc<Self>) -> HeldBranch {
        lock(&self.inner).held += 1;
        HeldBranch {
            ctx: self.clone(),
            open: true,
        }
    }

    /// One held branch is settled.
    fn settle(&self, answer: Option<(u16, Bytes)>) -> Option<(u16, Bytes)> {
        let mut inner = lock(&self.inner);
        debug_assert!(inner.held > 0, "held branch settled twice");
        inner.held -= 1;
        if inner.final_sent {
            return None;
        }
        if let Some((code, bytes)) = answer
            && inner
                .best
                .as_ref()
                .is_none_or(|(c, _)| rank(code) < rank(*c))
        {
            inner.best = Some((code, bytes));
        }
        Self::take_final_if_done(&mut inner)
    }

    async fn settle_and_send(&self, answer: Option<(u16, Bytes)>) {
        if let Some((c, b)) = self.settle(answer) {
            self.env.stats.response_out(c);
            self.server.respond(c, b).await;
        }
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
                hook,
            });
            inner.branches.len() - 1
        };
        let ctx = self.clone();
        let handler: EventHandler = Arc::new(move |ev| -> EventFuture {
            let ctx = ctx.clone();
            Box::pin(async move { ctx.on_event(idx, ev).await })
        });
        Stats::inc(&self.env.stats.requests_out);
        let handle = ClientTx::start_with(
            &self.env.clients,
            self.env.net.clone(),
            self.env.timers,
            request,
            dest,
            reliable,
            self.server.call_id.clone(),
            handler,
            stretch,
        );
        if let Some(b) = lock(&self.inner).branches.get_mut(idx) {
            if b.state == BranchState::Taken {
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
    /// (a [`HeldBranch`]) while taking, and settle it after, so the context
    /// still ends with a final.
    pub fn take_branch(&self, idx: usize) -> bool {
        let mut inner = lock(&self.inner);
        match inner.branches.get_mut(idx) {
            Some(b) if b.state == BranchState::Waiting => {
                b.state = BranchState::Taken;
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
            .is_some_and(|b| b.state == BranchState::Waiting)
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
        self.env.stats.response_out(code);
        self.server.respond(code, bytes).await;
        true
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
        self.env.stats.response_out(code);
        self.server.respond(code, bytes).await;
    }

    /// When every branch is done and none is held: the best final, taken.
    fn take_final_if_done(inner: &mut Inner) -> Option<(u16, Bytes)> {
        let all_done = inner.held == 0
            && inner
                .branches
                .iter()
                .all(|b| matches!(b.state, BranchState::Done | BranchState::Taken));
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
        self.env.stats.response_out(code);
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
                        b.state = BranchState::Taken;
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
        Stats::inc(&self.env.stats.requests_out);
        ClientTx::start(
            &self.env.clients,
            self.env.net.clone(),
            self.env.timers,
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
                Some(b) => (
                    b.state == BranchState::Taken,
                    b.state == BranchState::Waiting,
                    b.hook.clone(),
                ),
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
            let Some(b) = inner
                .branches
                .get_mut(idx)
                .filter(|b| b.state != BranchState::Taken)
            else {
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
            let Some(b) = inner
                .branches
                .get_mut(idx)
                .filter(|b| b.state != BranchState::Taken)
            else {
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
        let committed = match (success, &resp) {
            (Some(hook), Some(r)) => hook(r.clone()).await,
            _ => Committed::default(),
        };
        if let (Act::Send(..), Some((code, reason, headers))) = (&act, &committed.refuse) {
            let mut r = response_to(&self.original, *code, reason);
            for (name, value) in headers {
                r.header(name, value);
            }
            self.env.stats.response_out(*code);
            self.server.respond(*code, r.build()).await;
            return;
        }
        if let Act::Send(c, mut b) = act {
            if !committed.headers.is_empty()
                && let Ok(m) = Message::parse(b.clone())
            {
                let mut e = m.edit();
                for (name, value) in &committed.headers {
                    e.add_header(name, value);
                }
                b = e.build();
            }
            self.env.stats.response_out(c);
            self.server.respond(c, b).await;
        }
        if let Some(after) = committed.after_relay {
            after();
        }
    }

    /// A received response minus our Via, plus X-Sy.AuthURI on challenges.
    fn relay_bytes(&self, code: u16, resp: &Message) -> Bytes {
        let mut e = resp.edit();
        e.remove_top_via();
        if matches!(code, 401 | 407)
            && let Some(u) = &self.edits.auth_uri
        {
            e.add_header("X-Sy.AuthURI", u);
        }
        if let Some((ours, theirs)) = &self.edits.contact_restore
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
        self.env.stats.response_out(code);
        self.server.respond(code, b).await;
    }
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

//! Client transactions (RFC 3261 §17.1, RFC 6026 "Accepted" state): one task
//! per forwarded request, fed the responses that match its branch.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sipwake_sip::Message;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;

use super::Timers;
use crate::net::{Destination, Network};
use crate::util::lock;

/// Key: (top Via branch, CSeq method) — RFC 3261 §17.1.3.
pub type ClientTable = Arc<Mutex<HashMap<(String, String), mpsc::Sender<Input>>>>;

/// What a client transaction reports to its user (the proxy).
#[derive(Debug)]
pub enum ClientEvent {
    Response(Message),
    /// Timer B / F (or timer C for a proceeding INVITE) fired.
    Timeout,
    /// The request could not be sent (RFC 3261 §16.9: treat as 503).
    TransportError(String),
}

pub type EventFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
/// Called for each event, in order; the next response waits for the future.
pub type EventHandler = Arc<dyn Fn(ClientEvent) -> EventFuture + Send + Sync>;

/// Responses queued per transaction; more than this in flight is a flood.
const QUEUE: usize = 32;

pub struct ClientTx;

/// A longer UDP resend schedule for a device that may be asleep (`[push]
/// inviteretry`): resends paced T1 doubling up to T2 (also for INVITE, so
/// they keep coming while the device wakes), for at most `resend_for` and
/// `max_sends` sends in all, and no timer B / F before `lifetime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stretch {
    pub resend_for: Duration,
    pub max_sends: u32,
    pub lifetime: Duration,
}

/// What a running client transaction receives: responses and control, on
/// one queue (one allocation per transaction; responses boxed so the
/// queue's slots stay small — thousands of transactions are alive at once).
#[derive(Debug)]
pub enum Input {
    Response(Box<Message>),
    Ctl(Ctl),
}

/// Steers a running client transaction (see [`ClientTx::start_with`]).
#[derive(Debug)]
pub enum Ctl {
    /// End silently: no more sends, no event (RFC 3261 §9.1: nothing was
    /// received, so no CANCEL is due either).
    Stop,
    /// Send the request once more now, if nothing was received yet.
    Resend,
}

/// Control of one client transaction; dropping it changes nothing.
#[derive(Debug, Clone)]
pub struct TxHandle(mpsc::Sender<Input>);

impl TxHandle {
    pub fn stop(&self) {
        let _ = self.0.try_send(Input::Ctl(Ctl::Stop));
    }

    pub fn resend_now(&self) {
        let _ = self.0.try_send(Input::Ctl(Ctl::Resend));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Calling,
    Proceeding,
    Completed,
    Accepted,
}

impl ClientTx {
    /// Registers the transaction and spawns its task. `request` is the
    /// message as sent (its top Via is ours).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        table: &ClientTable,
        net: Arc<dyn Network>,
        timers: Timers,
        request: Message,
        dest: Destination,
        reliable: bool,
        call_id: String,
        on_event: EventHandler,
    ) {
        Self::start_with(
            table, net, timers, request, dest, reliable, call_id, on_event, None,
        );
    }

    /// [`ClientTx::start`] with an optional stretched UDP schedule; returns
    /// a handle that can stop the transaction or make it resend now.
    #[allow(clippy::too_many_arguments)]
    pub fn start_with(
        table: &ClientTable,
        net: Arc<dyn Network>,
        timers: Timers,
        request: Message,
        dest: Destination,
        reliable: bool,
        call_id: String,
        on_event: EventHandler,
        stretch: Option<Stretch>,
    ) -> TxHandle {
        let branch = request
            .top_via()
            .ok()
            .and_then(|v| v.branch())
            .unwrap_or("")
            .to_owned();
        let method = request.method().unwrap_or("").to_owned();
        let (tx, rx) = mpsc::channel(QUEUE);
        let key = (branch, method);
        lock(table).insert(key.clone(), tx.clone());
        let table = table.clone();
        tokio::spawn(async move {
            let run = Run {
                net,
                timers,
                request,
                dest,
                reliable,
                call_id,
                on_event,
                stretch: stretch.filter(|_| !reliable),
            };
            run.run(rx).await;
            lock(&table).remove(&key);
        });
        TxHandle(tx)
    }

    /// Routes a response to its transaction; `false` if none matches.
    pub fn dispatch(table: &ClientTable, resp: Message) -> bool {
        let Ok(via) = resp.top_via() else {
            return false;
        };
        let Some(branch) = via.branch() else {
            return false;
        };
        let Ok(cseq) = resp.cseq() else { return false };
        let key = (branch.to_owned(), cseq.method.to_owned());
        let Some(tx) = lock(table).get(&key).cloned() else {
            return false;
        };
        if tx.try_send(Input::Response(Box::new(resp))).is_err() {
            debug!("client transaction queue full; response dropped");
        }
        true
    }
}

/// Where a client transaction is and when it next acts.
struct Progress {
    state: State,
    /// Timer B / F; then C, D, K or M.
    deadline: Instant,
    /// Timer A / E interval (UDP only).
    interval: Duration,
    next_retx: Option<Instant>,
    sends: u32,
    /// The ACK we sent for a non-2xx final (resent on its retransmissions).
    ack: Option<Bytes>,
}

/// One client transaction's task.
struct Run {
    net: Arc<dyn Network>,
    timers: Timers,
    request: Message,
    dest: Destination,
    reliable: bool,
    call_id: String,
    on_event: EventHandler,
    stretch: Option<Stretch>,
}

impl Run {
    async fn send(&self, bytes: Bytes) -> bool {
        match self.net.send(self.dest.clone(), bytes).await {
            Ok(_) => true,
            Err(e) => {
                debug!(call_id = %self.call_id, error = %e, "request not sent");
                false
            }
        }
    }

    async fn run(self, mut rx: mpsc::Receiver<Input>) {
        let t = self.timers;
        let started = Instant::now();
        let invite = self.request.method() == Some("INVITE");
        if let Err(e) = self
            .net
            .send(self.dest.clone(), self.request.raw().clone())
            .await
        {
            (self.on_event)(ClientEvent::TransportError(e.to_string())).await;
            return;
        }
        let mut p = Progress {
            state: State::Calling,
            deadline: started + self.stretch.map_or(t.t64(), |s| s.lifetime),
            interval: t.t1,
            next_retx: (!self.reliable).then(|| Instant::now() + t.t1),
            sends: 1,
            ack: None,
        };
        loop {
            let retx_at = p
                .next_retx
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
            tokio::select! {
                // In order: a stop is never beaten by a due resend.
                biased;
                input = rx.recv() => match input {
                    // The table keeps a sender until this task ends.
                    None => return,
                    Some(Input::Ctl(Ctl::Stop)) => {
                        if p.state == State::Calling {
                            debug!(call_id = %self.call_id, sends = p.sends, "client transaction stopped before any response");
                            return;
                        }
                    }
                    Some(Input::Ctl(Ctl::Resend)) => {
                        if p.state == State::Calling {
                            self.send(self.request.raw().clone()).await;
                            p.sends += 1;
                        }
                    }
                    Some(Input::Response(r)) => self.on_response(*r, &mut p, invite).await,
                },
                _ = tokio::time::sleep_until(retx_at), if p.next_retx.is_some() => {
                    self.retransmit(&mut p, invite, started).await;
                }
                _ = tokio::time::sleep_until(p.deadline) => {
                    if matches!(p.state, State::Calling | State::Proceeding) {
                        debug!(call_id = %self.call_id, "client transaction timed out");
                        (self.on_event)(ClientEvent::Timeout).await;
                    }
                    return;
                }
            }
        }
    }

    /// RFC 3261 §17.1.1.2 (INVITE) and §17.1.2.2 (non-INVITE) on a response.
    async fn on_response(&self, resp: Message, p: &mut Progress, invite: bool) {
        let t = self.timers;
        let code = resp.status().unwrap_or(0);
        match (invite, p.state, code) {
            (_, State::Calling | State::Proceeding, 100..=199) => {
                if p.state == State::Calling {
                    p.state = State::Proceeding;
                    if invite {
                        p.next_retx = None;
                        p.deadline = Instant::now() + t.c;
                    } else if p.next_retx.is_some() {
                        p.interval = t.t2;
                    }
                }
                (self.on_event)(ClientEvent::Response(resp)).await;
            }
            (true, State::Calling | State::Proceeding | State::Accepted, 200..=299) => {
                if p.state != State::Accepted {
                    p.state = State::Accepted;
                    p.next_retx = None;
                    p.deadline = Instant::now() + t.t64();
                }
                (self.on_event)(ClientEvent::Response(resp)).await;
            }
            (true, State::Calling | State::Proceeding, 300..) => {
                // RFC 3261 §17.1.1.3; an INVITE we built always has what
                // the ACK copies.
                let a = sipwake_sip::ack_for_non2xx(&self.request, &resp);
                if let Some(a) = &a {
                    self.send(a.clone()).await;
                }
                p.ack = a;
                p.state = State::Completed;
                p.next_retx = None;
                p.deadline = Instant::now() + t.d(self.reliable);
                (self.on_event)(ClientEvent::Response(resp)).await;
            }
            (true, State::Completed, 300..) => {
                // Retransmitted final: our ACK got lost.
                if let Some(a) = p.ack.clone() {
                    self.send(a).await;
                }
            }
            (false, State::Calling | State::Proceeding, 200..) => {
                p.state = State::Completed;
                p.next_retx = None;
                p.deadline = Instant::now() + t.i_k(self.reliable);
                (self.on_event)(ClientEvent::Response(resp)).await;
            }
            _ => {}
        }
    }

    /// Timer A / E fired: resend, and schedule the next one (doubling up
    /// to T2; a stretched schedule stops after its sends or window).
    async fn retransmit(&self, p: &mut Progress, invite: bool, started: Instant) {
        let t = self.timers;
        self.send(self.request.raw().clone()).await;
        p.sends += 1;
        p.interval = if invite && self.stretch.is_none() {
            p.interval * 2
        } else {
            (p.interval * 2).min(t.t2)
        };
        if !invite && p.state == State::Proceeding {
            p.interval = t.t2;
        }
        let next = Instant::now() + p.interval;
        p.next_retx = match self.stretch {
            Some(s) if p.sends >= s.max_sends || next > started + s.resend_for => None,
            _ => Some(next),
        };
    }
}

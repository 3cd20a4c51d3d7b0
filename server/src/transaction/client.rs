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
        let mut sends: u32 = 1;
        let invite = self.request.method() == Some("INVITE");
        if let Err(e) = self
            .net
            .send(self.dest.clone(), self.request.raw().clone())
            .await
        {
            (self.on_event)(ClientEvent::TransportError(e.to_string())).await;
            return;
        }
        let mut state = State::Calling;
        // Timer B / F; later reused for C, D, K, M.
        let mut deadline = started + self.stretch.map_or(t.t64(), |s| s.lifetime);
        // Timer A / E: retransmission over UDP only.
        let mut interval = t.t1;
        let mut next_retx = (!self.reliable).then(|| Instant::now() + interval);
        let mut ack: Option<Bytes> = None;
        loop {
            let retx_at = next_retx.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
            tokio::select! {
                // In order: a stop is never beaten by a due resend.
                biased;
                input = rx.recv() => {
                    // The table keeps a sender until this task ends.
                    let resp = match input {
                        None => return,
                        Some(Input::Ctl(Ctl::Stop)) => {
                            if state == State::Calling {
                                debug!(call_id = %self.call_id, sends, "client transaction stopped before any response");
                                return;
                            }
                            continue;
                        }
                        Some(Input::Ctl(Ctl::Resend)) => {
                            if state == State::Calling {
                                self.send(self.request.raw().clone()).await;
                                sends += 1;
                            }
                            continue;
                        }
                        Some(Input::Response(r)) => *r,
                    };
                    let code = resp.status().unwrap_or(0);
                    match (invite, state, code) {
                        (_, State::Calling | State::Proceeding, 100..=199) => {
                            if state == State::Calling {
                                state = State::Proceeding;
                                if invite {
                                    next_retx = None;
                                    deadline = Instant::now() + t.c;
                                } else if next_retx.is_some() {
                                    interval = t.t2;
                                }
                            }
                            (self.on_event)(ClientEvent::Response(resp)).await;
                        }
                        (true, State::Calling | State::Proceeding | State::Accepted, 200..=299) => {
                            if state != State::Accepted {
                                state = State::Accepted;
                                next_retx = None;
                                deadline = Instant::now() + t.t64();
                            }
                            (self.on_event)(ClientEvent::Response(resp)).await;
                        }
                        (true, State::Calling | State::Proceeding, 300..) => {
                            // RFC 3261 §17.1.1.3; an INVITE we built always
                            // has what the ACK copies.
                            let a = sipwake_sip::ack_for_non2xx(&self.request, &resp);
                            if let Some(a) = &a {
                                self.send(a.clone()).await;
                            }
                            ack = a;
                            state = State::Completed;
                            next_retx = None;
                            deadline = Instant::now() + t.d(self.reliable);
                            (self.on_event)(ClientEvent::Response(resp)).await;
                        }
                        (true, State::Completed, 300..) => {
                            // Retransmitted final: our ACK got lost.
                            if let Some(a) = ack.clone() {
                                self.send(a).await;
                            }
                        }
                        (false, State::Calling | State::Proceeding, 200..) => {
                            state = State::Completed;
                            next_retx = None;
                            deadline = Instant::now() + t.i_k(self.reliable);
                            (self.on_event)(ClientEvent::Response(resp)).await;
                        }
                        _ => {}
                    }
                }
                _ = tokio::time::sleep_until(retx_at), if next_retx.is_some() => {
                    self.send(self.request.raw().clone()).await;
                    sends += 1;
                    interval = if invite && self.stretch.is_none() {
                        interval * 2
                    } else {
                        (interval * 2).min(t.t2)
                    };
                    if !invite && state == State::Proceeding {
                        interval = t.t2;
                    }
                    let next = Instant::now() + interval;
                    next_retx = match self.stretch {
                        Some(s) if sends >= s.max_sends || next > started + s.resend_for => None,
                        _ => Some(next),
                    };
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if matches!(state, State::Calling | State::Proceeding) {
                        debug!(call_id = %self.call_id, "client transaction timed out");
                        (self.on_event)(ClientEvent::Timeout).await;
                    }
                    return;
                }
            }
        }
    }
}

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
use super::server::lock;
use crate::proxy::net::{Destination, Network};

/// Key: (top Via branch, CSeq method) — RFC 3261 §17.1.3.
pub type ClientTable = Arc<Mutex<HashMap<(String, String), mpsc::Sender<Message>>>>;

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
        let branch = request
            .top_via()
            .ok()
            .and_then(|v| v.branch())
            .unwrap_or("")
            .to_owned();
        let method = request.method().unwrap_or("").to_owned();
        let (tx, rx) = mpsc::channel(QUEUE);
        let key = (branch, method);
        lock(table).insert(key.clone(), tx);
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
            };
            run.run(rx).await;
            lock(&table).remove(&key);
        });
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
        if tx.try_send(resp).is_err() {
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

    async fn run(self, mut rx: mpsc::Receiver<Message>) {
        let t = self.timers;
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
        let mut deadline = Instant::now() + t.t64();
        // Timer A / E: retransmission over UDP only.
        let mut interval = t.t1;
        let mut next_retx = (!self.reliable).then(|| Instant::now() + interval);
        let mut ack: Option<Bytes> = None;
        loop {
            let retx_at = next_retx.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
            tokio::select! {
                resp = rx.recv() => {
                    let Some(resp) = resp else { return };
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
                            let a = build_ack(&self.request, &resp);
                            self.send(a.clone()).await;
                            ack = Some(a);
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
                    interval = if invite { interval * 2 } else { (interval * 2).min(t.t2) };
                    if !invite && state == State::Proceeding {
                        interval = t.t2;
                    }
                    next_retx = Some(Instant::now() + interval);
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

/// The hop-by-hop ACK for a non-2xx final (RFC 3261 §17.1.1.3).
pub fn build_ack(req: &Message, resp: &Message) -> Bytes {
    let to = resp.header("To").or(req.header("To")).unwrap_or("");
    build_like(req, "ACK", to)
}

/// A CANCEL for a pending request (RFC 3261 §9.1): same Request-URI, top
/// Via, Route set, From, To, Call-ID and CSeq number.
pub fn build_cancel(req: &Message) -> Bytes {
    build_like(req, "CANCEL", req.header("To").unwrap_or(""))
}

fn build_like(req: &Message, method: &str, to: &str) -> Bytes {
    let mut s = String::with_capacity(512);
    s.push_str(method);
    s.push(' ');
    s.push_str(req.request_uri().unwrap_or(""));
    s.push_str(" SIP/2.0\r\n");
    if let Some(v) = req.values("Via").next() {
        s.push_str("Via: ");
        s.push_str(v);
        s.push_str("\r\n");
    }
    let routes: Vec<&str> = req.values("Route").collect();
    if !routes.is_empty() {
        s.push_str("Route: ");
        s.push_str(&routes.join(", "));
        s.push_str("\r\n");
    }
    s.push_str("Max-Forwards: 70\r\n");
    for (name, value) in [
        ("From", req.header("From").unwrap_or("")),
        ("To", to),
        ("Call-ID", req.header("Call-ID").unwrap_or("")),
    ] {
        s.push_str(name);
        s.push_str(": ");
        s.push_str(value);
        s.push_str("\r\n");
    }
    let seq = req.cseq().map(|c| c.seq).unwrap_or(0);
    s.push_str(&format!(
        "CSeq: {seq} {method}\r\nContent-Length: 0\r\n\r\n"
    ));
    Bytes::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_and_cancel_copy_the_right_fields() {
        let req = Message::parse(Bytes::from_static(
            b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP gw;branch=z9hG4bKx, SIP/2.0/UDP a;branch=z9hG4bKy\r\nRoute: <sip:p1;lr>\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: cid\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap();
        let resp = Message::parse(Bytes::from_static(
            b"SIP/2.0 486 Busy\r\nVia: SIP/2.0/UDP gw;branch=z9hG4bKx\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=9\r\nCall-ID: cid\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap();
        let ack = Message::parse(build_ack(&req, &resp)).unwrap();
        assert_eq!(ack.method(), Some("ACK"));
        assert_eq!(ack.request_uri(), Some("sip:b@h"));
        assert_eq!(ack.count("Via"), 1);
        assert_eq!(ack.top_via().unwrap().branch(), Some("z9hG4bKx"));
        assert_eq!(ack.header("To"), Some("<sip:b@h>;tag=9"));
        assert_eq!(ack.header("Route"), Some("<sip:p1;lr>"));
        assert_eq!(ack.cseq().unwrap().seq, 7);
        let cancel = Message::parse(build_cancel(&req)).unwrap();
        assert_eq!(cancel.cseq().unwrap().method, "CANCEL");
        assert_eq!(cancel.header("To"), Some("<sip:b@h>"));
    }
}

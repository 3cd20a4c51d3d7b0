//! Server transactions (RFC 3261 §17.2, RFC 6026 "Accepted" state).

use crate::util::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;
use tracing::{debug, warn};

use super::{ServerKey, Timers};
use crate::net::{Destination, Network};

pub type ServerTable = Arc<Mutex<HashMap<ServerKey, Arc<ServerTx>>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No final response yet (Trying / Proceeding).
    Pending,
    /// INVITE answered with 2xx: absorb INVITE retransmissions (RFC 6026).
    Accepted,
    /// Final non-2xx sent (INVITE: waiting for the ACK).
    Completed,
    /// INVITE: ACK received; absorbing late ACKs (timer I).
    Confirmed,
    Terminated,
}

struct Inner {
    state: State,
    last: Option<Bytes>,
    /// A CANCEL arrived; the proxy reads this when it sets up forwarding.
    cancelled: bool,
    /// RFC 3326 `Reason` of the CANCEL (checked), for the hook.
    cancel_reason: Option<String>,
    cancel_hook: Option<CancelHook>,
}

/// What the proxy does on CANCEL; gets the CANCEL's `Reason` value so the
/// CANCELs it sends downstream can carry it.
pub type CancelHook = Box<dyn FnOnce(Option<String>) + Send>;

/// One server transaction. Responses go back on the flow the request came
/// from (RFC 3261 §18.2.2 for reliable transports; for UDP the flow is the
/// (socket, source address) pair, which is where rport sends them anyway).
pub struct ServerTx {
    pub key: ServerKey,
    pub is_invite: bool,
    pub reliable: bool,
    pub reply_to: Destination,
    pub call_id: String,
    net: Arc<dyn Network>,
    timers: Timers,
    table: ServerTable,
    inner: Mutex<Inner>,
    acked: Notify,
}

impl ServerTx {
    /// Creates the transaction and registers it in `table`.
    pub fn start(
        table: &ServerTable,
        net: Arc<dyn Network>,
        timers: Timers,
        key: ServerKey,
        reply_to: Destination,
        reliable: bool,
        call_id: String,
    ) -> Arc<ServerTx> {
        let tx = Arc::new(ServerTx {
            is_invite: matches!(
                &key,
                ServerKey::Rfc3261 { method, .. } | ServerKey::Rfc2543 { method, .. }
                    if method == "INVITE"
            ),
            key: key.clone(),
            reliable,
            reply_to,
            call_id,
            net,
            timers,
            table: table.clone(),
            inner: Mutex::new(Inner {
                state: State::Pending,
                last: None,
                cancelled: false,
                cancel_reason: None,
                cancel_hook: None,
            }),
            acked: Notify::new(),
        });
        lock(&tx.table).insert(key, tx.clone());
        tx
    }

    /// Sends a response through the transaction and runs the timers its
    /// state needs. Responses after a final are ignored, except further 2xx
    /// to an INVITE (forked answers, 2xx retransmissions), which are passed.
    pub async fn respond(self: &Arc<Self>, code: u16, bytes: Bytes) {
        // The cancel hook captures the response context, which holds this
        // transaction: dropped at the final response (a later CANCEL has
        // nothing to stop, RFC 3261 §9.2), or the pair would never be freed.
        let mut spent_hook = None;
        let first_final = {
            let mut inner = lock(&self.inner);
            let was_pending = inner.state == State::Pending;
            match inner.state {
                State::Pending => {}
                State::Accepted if self.is_invite && (200..300).contains(&code) => {}
                _ => {
                    debug!(call_id = %self.call_id, code, "response after final dropped");
                    return;
                }
            }
            inner.last = Some(bytes.clone());
            if code >= 200 {
                inner.state = if self.is_invite && code < 300 {
                    State::Accepted
                } else {
                    State::Completed
                };
                spent_hook = inner.cancel_hook.take();
            }
            was_pending && code >= 200
        };
        drop(spent_hook);
        self.send(bytes).await;
        if !first_final {
            return;
        }
        let tx = self.clone();
        if self.is_invite && code < 300 {
            // RFC 6026 timer L: absorb INVITE retransmissions, then go.
            tokio::spawn(async move {
                tokio::time::sleep(tx.timers.t64()).await;
                tx.terminate();
            });
        } else if self.is_invite {
            tokio::spawn(async move { tx.run_invite_completed().await });
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(tx.timers.j(tx.reliable)).await;
                tx.terminate();
            });
        }
    }

    /// Timers G (retransmit over UDP), H (give up waiting for the ACK), I.
    async fn run_invite_completed(self: Arc<Self>) {
        let t = self.timers;
        let h = tokio::time::sleep(t.t64());
        tokio::pin!(h);
        let mut interval = t.t1;
        let acked = loop {
            let g = tokio::time::sleep(interval);
            tokio::select! {
                _ = self.acked.notified() => break true,
                _ = &mut h => break false,
                _ = g, if !self.reliable => {
                    let last = lock(&self.inner).last.clone();
                    if let Some(b) = last {
                        self.send(b).await;
                    }
                    interval = (interval * 2).min(t.t2);
                }
            }
        };
        if acked {
            tokio::time::sleep(t.i_k(self.reliable)).await;
        } else {
            warn!(call_id = %self.call_id, "no ACK for a final response (timer H)");
        }
        self.terminate();
    }

    /// A retransmission of the request: resend the last response, if any
    /// (none in RFC 6026 Accepted: the 2xx is retransmitted end to end).
    pub async fn on_retransmission(&self) {
        let last = {
            let inner = lock(&self.inner);
            match inner.state {
                State::Accepted | State::Terminated => None,
                _ => inner.last.clone(),
            }
        };
        if let Some(b) = last {
            self.send(b).await;
        }
    }

    /// An ACK matched this transaction. Returns whether it was absorbed
    /// (ACK for a non-2xx final); otherwise it belongs to a 2xx and the
    /// proxy forwards it end to end.
    pub fn on_ack(&self) -> bool {
        let mut inner = lock(&self.inner);
        match inner.state {
            State::Completed => {
                inner.state = State::Confirmed;
                self.acked.notify_one();
                true
            }
            State::Confirmed => true,
            _ => false,
        }
    }

    /// Marks the transaction cancelled and runs the hook the proxy left
    /// (`reason`: the CANCEL's `Reason` header value, if any).
    pub fn cancel(&self, reason: Option<String>) {
        let hook = {
            let mut inner = lock(&self.inner);
            inner.cancelled = true;
            inner.cancel_reason = reason.clone();
            inner.cancel_hook.take()
        };
        if let Some(h) = hook {
            h(reason);
        }
    }

    /// Installs what to do on CANCEL; runs it at once if a CANCEL already came.
    pub fn on_cancel(&self, hook: CancelHook) {
        let reason = {
            let mut inner = lock(&self.inner);
            if !inner.cancelled {
                // After the final response a CANCEL changes nothing: keep
                // no hook (and no reference cycle through it).
                if inner.state == State::Pending {
                    inner.cancel_hook = Some(hook);
                }
                return;
            }
            inner.cancel_reason.clone()
        };
        hook(reason);
    }

    pub fn is_cancelled(&self) -> bool {
        lock(&self.inner).cancelled
    }

    /// Whether a final response has been sent.
    pub fn is_final(&self) -> bool {
        !matches!(lock(&self.inner).state, State::Pending)
    }

    fn terminate(&self) {
        let spent_hook = {
            let mut inner = lock(&self.inner);
            inner.state = State::Terminated;
            inner.cancel_hook.take()
        };
        drop(spent_hook);
        let mut table = lock(&self.table);
        // Only remove ourselves, not a newer transaction with the same key.
        if table
            .get(&self.key)
            .is_some_and(|t| std::ptr::eq(Arc::as_ptr(t), self))
        {
            table.remove(&self.key);
        }
    }

    async fn send(&self, bytes: Bytes) {
        if let Err(e) = self.net.send(self.reply_to.clone(), bytes).await {
            debug!(call_id = %self.call_id, error = %e, "response not sent");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{FlowId, FlowInfo, NetError, SendFuture, TransportKind};

    /// Accepts every send; the test only looks at the transaction's state.
    struct NullNet;

    impl Network for NullNet {
        fn send(&self, _: Destination, _: Bytes) -> SendFuture<'_> {
            Box::pin(async { Err(NetError("null network".into())) })
        }
        fn flow(&self, _: FlowId) -> Option<FlowInfo> {
            None
        }
        fn via_host_port(&self, _: TransportKind) -> Option<(String, u16)> {
            None
        }
        fn load(&self) -> u8 {
            0
        }
    }

    fn start(method: &str) -> Arc<ServerTx> {
        let table: ServerTable = Arc::default();
        let req = sipwake_sip::Message::parse(Bytes::from(format!(
            "{method} sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKleak\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        )))
        .unwrap();
        ServerTx::start(
            &table,
            Arc::new(NullNet),
            Timers::default(),
            sipwake_sip::txn::server_key(&req).unwrap(),
            Destination::Flow(FlowId(1)),
            true,
            "c".into(),
        )
    }

    /// The cancel hook holds the response context, which holds the
    /// transaction: the final response must let go of it, or every
    /// forwarded request leaks both.
    #[tokio::test]
    async fn final_response_releases_the_cancel_hook() {
        for (method, code) in [("REGISTER", 200), ("INVITE", 486), ("INVITE", 200)] {
            let tx = start(method);
            let held = Arc::new(());
            let h = held.clone();
            tx.on_cancel(Box::new(move |_| drop(h)));
            assert_eq!(Arc::strong_count(&held), 2);
            tx.respond(100, Bytes::from_static(b"SIP/2.0 100 Trying\r\n\r\n"))
                .await;
            assert_eq!(Arc::strong_count(&held), 2, "a provisional keeps it");
            tx.respond(code, Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"))
                .await;
            assert_eq!(Arc::strong_count(&held), 1, "{method} {code}");
            // Installed after the final: not kept either.
            let late = held.clone();
            tx.on_cancel(Box::new(move |_| drop(late)));
            assert_eq!(Arc::strong_count(&held), 1, "{method} {code}: late hook");
        }
    }

    #[tokio::test]
    async fn cancel_runs_the_hook_once() {
        let tx = start("INVITE");
        let ran = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let r = ran.clone();
        tx.on_cancel(Box::new(move |reason| {
            assert_eq!(reason.as_deref(), Some("SIP;cause=200"));
            r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        tx.cancel(Some("SIP;cause=200".into()));
        tx.cancel(None);
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(tx.is_cancelled());
    }
}

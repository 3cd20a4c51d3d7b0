//! Server transactions (RFC 3261 §17.2, RFC 6026 "Accepted" state).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;
use tracing::{debug, warn};

use super::{ServerKey, Timers};
use crate::proxy::net::{Destination, Network};

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
            }
            was_pending && code >= 200
        };
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
                inner.cancel_hook = Some(hook);
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
        lock(&self.inner).state = State::Terminated;
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

/// Poisoning only happens if a holder panicked; the data is still usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

//! Request processing: validation, transaction matching (RFC 3261 §17.2,
//! §16.10 CANCEL, end-to-end ACK) and the per-request dispatcher that
//! sends each request to its handler: an answer of our own, the REGISTER
//! module or forwarding.

use std::sync::Arc;

use sipwake_sip::{Message, response_to, validate_request};
use tracing::{debug, info, warn};

use super::Proxy;
use super::hold::may_hold;
use super::route::Decision;
use super::stats::Stats;
use crate::net::{Destination, Inbound};
use crate::transaction::ServerTx;
use crate::util::lock;

/// Methods the gateway accepts (for Allow in OPTIONS answers).
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, PRACK";

impl Proxy {
    pub(crate) async fn handle_request(&self, inb: Inbound, req: Message) {
        let method = req.method().unwrap_or("").to_owned();
        let call_id = req.call_id().unwrap_or("").to_owned();
        if let Err(rej) = validate_request(&req) {
            info!(%call_id, flow = %inb.flow, code = rej.code, reason = %rej.reason, "malformed request rejected");
            // Never answer an ACK (RFC 3261 §17.2.3). Everything else is
            // answered on the flow it came from, even with a broken Via
            // (RFC 4475 badinv01): the response copies the Via as received.
            if method != "ACK" {
                let mut r = response_to(&req, rej.code, &rej.reason);
                if !rej.unsupported.is_empty() {
                    r.header("Unsupported", &rej.unsupported.join(", "));
                }
                self.stats.response_out(rej.code);
                let _ = self.net.send(Destination::Flow(inb.flow), r.build()).await;
            } else {
                Stats::inc(&self.stats.dropped);
            }
            return;
        }
        let Ok(key) = sipwake_sip::txn::server_key(&req) else {
            return;
        };
        debug!(%call_id, %method, flow = %inb.flow, "request");
        if method == "ACK" {
            let tx = lock(&self.servers).get(&key).cloned();
            if tx.is_some_and(|t| t.on_ack()) {
                return;
            }
            // ACK for a 2xx: end to end, forwarded statelessly.
            if let Some(me) = self.arc() {
                tokio::spawn(async move { me.forward_stateless(inb, req).await });
            }
            return;
        }
        let existing = lock(&self.servers).get(&key).cloned();
        if let Some(tx) = existing {
            tx.on_retransmission().await;
            return;
        }
        let tx = ServerTx::start(
            &self.servers,
            self.net.clone(),
            self.timers,
            key.clone(),
            Destination::Flow(inb.flow),
            inb.kind.is_reliable(),
            call_id.clone(),
        );
        if method == "CANCEL" {
            let invite = sipwake_sip::txn::cancel_target(&req)
                .ok()
                .and_then(|k| lock(&self.servers).get(&k).cloned());
            match invite {
                Some(inv) => {
                    self.answer(&tx, &req, 200, "OK", &[]).await;
                    info!(%call_id, "CANCEL matched; cancelling branches");
                    inv.cancel(cancel_reason(&req));
                }
                None => {
                    self.answer(&tx, &req, 481, "Call/Transaction Does Not Exist", &[])
                        .await
                }
            }
            return;
        }
        if method == "INVITE" {
            // RFC 3261 §16.2: we may take longer than 200 ms (DNS, connect).
            tx.respond(100, response_to(&req, 100, "Trying").build())
                .await;
        }
        if let Some(me) = self.arc() {
            tokio::spawn(async move { me.process(inb, req, tx).await });
        }
    }

    pub(super) async fn answer(
        &self,
        tx: &Arc<ServerTx>,
        req: &Message,
        code: u16,
        reason: &str,
        headers: &[(&str, String)],
    ) {
        let mut r = response_to(req, code, reason);
        for (n, v) in headers {
            r.header(n, v);
        }
        self.stats.response_out(code);
        tx.respond(code, r.build()).await;
    }

    /// Decides where the request goes and hands it to its handler (runs
    /// in its own task).
    async fn process(self: Arc<Self>, inb: Inbound, req: Message, tx: Arc<ServerTx>) {
        let call_id = tx.call_id.clone();
        let decision = self.decide(&inb, &req).await;
        if self.is_merged_fork(&decision, &req) {
            info!(%call_id, "second fork of a request for the same registration: 482");
            return self.answer(&tx, &req, 482, "Merged Request", &[]).await;
        }
        let register = matches!(&decision, Decision::Register)
            || matches!(&decision, Decision::Forward(plan) if plan.path.is_some());
        if register && !self.registers.allow(inb.remote.ip()) {
            Stats::inc(&self.stats.limited_registers);
            warn!(%call_id, source = %inb.remote, "REGISTER over [limits] registers_per_sec: 503");
            return self
                .answer(
                    &tx,
                    &req,
                    503,
                    "Service Unavailable",
                    &[("Retry-After", "1".to_owned())],
                )
                .await;
        }
        match decision {
            Decision::Reject(code, reason) => {
                info!(%call_id, code, reason, "request refused");
                self.answer(&tx, &req, code, reason, &[]).await
            }
            Decision::OptionsHere => {
                let headers = [
                    ("Allow", ALLOW.to_owned()),
                    ("Accept", "application/sdp".to_owned()),
                ];
                self.answer(&tx, &req, 200, "OK", &headers).await
            }
            Decision::Register => self.register_here(inb, req, tx).await,
            // The hold hook may hold it once it knows the sleeping devices.
            Decision::Offline { plan, .. } if self.hold.is_some() && may_hold(&req) => {
                self.forward(inb, req, tx, *plan, None).await
            }
            Decision::Offline { aor, instances, .. } => {
                info!(%call_id, %aor, devices = instances.len(), "user offline (no live flow)");
                self.answer(&tx, &req, 480, "Temporarily Unavailable", &[])
                    .await
            }
            Decision::Forward(plan) if plan.path.is_some() => {
                self.register_upstream(inb, req, tx, *plan).await
            }
            Decision::Forward(plan) => self.forward(inb, req, tx, *plan, None).await,
        }
    }

    /// One device, two Contacts at the upstream (its old one not yet
    /// expired): the upstream's forks of one request both lead here.
    fn is_merged_fork(&self, decision: &Decision, req: &Message) -> bool {
        let token = match decision {
            Decision::Forward(plan) | Decision::Offline { plan, .. } => plan
                .recipient
                .as_ref()
                .and_then(|w| w.path.as_ref())
                .map(|p| p.token.as_str()),
            _ => None,
        };
        token.is_some_and(|t| {
            may_hold(req) && self.merged.is_merged(t, req, tokio::time::Instant::now())
        })
    }
}

/// The `Reason` values (RFC 3326) of a CANCEL, to pass on in the CANCELs
/// we send for it (e.g. the upstream's "Call completed elsewhere" when
/// another device answered). Values with control characters or over 256
/// bytes are not passed on.
fn cancel_reason(cancel: &Message) -> Option<String> {
    let ok: Vec<&str> = cancel
        .values("Reason")
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 256 && !v.bytes().any(|b| b.is_ascii_control()))
        .collect();
    (!ok.is_empty()).then(|| ok.join(", "))
}

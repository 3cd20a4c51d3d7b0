//! Forwarding a request (RFC 3261 §16.3 – §16.6): the checks made only
//! when forwarding, one response context per request, one branch per
//! target, the hold hook's say before any branch starts, CANCEL wiring;
//! and stateless forwarding of end-to-end ACKs (§16.11).

use std::sync::Arc;

use bytes::Bytes;
use sipwake_sip::{
    Message, check_max_forwards, check_proxy_require, ids::random_token, stateless_branch,
};
use tracing::{debug, info};

use super::context::{OnSuccess, RelayEdits, ResponseContext};
use super::hold::{BranchRequest, HeldRequest, HoldHook, HoldId, may_hold};
use super::locate::Registered;
use super::route::{Decision, Plan, Target};
use super::stats::Stats;
use super::{BRANCH_PREFIX, Proxy};
use crate::net::{Inbound, TransportKind};
use crate::transaction::ServerTx;

impl Proxy {
    /// Forwards a routed request: one branch per plan target, plus what
    /// the hold hook holds. `on_success` runs on the first 2xx.
    pub(super) async fn forward(
        self: Arc<Self>,
        inb: Inbound,
        req: Message,
        tx: Arc<ServerTx>,
        plan: Plan,
        on_success: Option<OnSuccess>,
    ) {
        // RFC 3261 §16.3 steps 3–5 (only when we are about to forward).
        if let Err(rej) = check_max_forwards(&req).and_then(|_| check_proxy_require(&req, &[])) {
            let unsupported = rej.unsupported.join(", ");
            let headers: Vec<(&str, String)> = if unsupported.is_empty() {
                vec![]
            } else {
                vec![("Unsupported", unsupported)]
            };
            return self
                .answer(&tx, &req, rej.code, &rej.reason, &headers)
                .await;
        }
        let loop_hash = loop_hash(&req);
        if self.is_looping(&req, &loop_hash) {
            return self.answer(&tx, &req, 482, "Loop Detected", &[]).await;
        }
        let edits = RelayEdits {
            auth_uri: plan.ruri.clone(),
            contact_restore: plan
                .path
                .as_ref()
                .and_then(|p| Some((p.upstream_contact.clone()?, p.contact.clone()?))),
        };
        let ctx = ResponseContext::new(
            self.branch_env(),
            tx.clone(),
            req.clone(),
            edits,
            on_success,
        );
        let held = self.offer_hold(&inb, &req, &plan, &loop_hash, &ctx).await;
        if plan.targets.is_empty() && held.is_none() {
            return self.answer_unreachable(&tx, &req, &plan).await;
        }
        let started = self.start_branches(&inb, &req, &plan, &loop_hash, &ctx, held.as_ref());
        if started == 0 && held.is_none() {
            return ctx.fail(500, "No Route").await;
        }
        let c = ctx.clone();
        tx.on_cancel(Box::new(move |reason| {
            c.cancel_all(reason);
            if let Some((hook, id)) = held {
                hook.cancel(id);
            }
        }));
    }

    /// Gives the hold hook its say, before any branch starts (so a quick
    /// final from a live device cannot end the call before held branches
    /// are promised).
    async fn offer_hold(
        &self,
        inb: &Inbound,
        req: &Message,
        plan: &Plan,
        loop_hash: &str,
        ctx: &Arc<ResponseContext>,
    ) -> Option<(Arc<dyn HoldHook>, HoldId)> {
        let hook = self.hold.clone()?;
        if plan.recipient.is_none() || !may_hold(req) {
            return None;
        }
        let request = HeldRequest {
            inb: inb.clone(),
            req: req.clone(),
            plan: plan.clone(),
            loop_hash: loop_hash.to_owned(),
        };
        let id = hook.hold(&request, ctx).await?;
        Some((hook, id))
    }

    /// Starts one branch per plan target (the hold hook starts the ones it
    /// watches); returns how many started.
    fn start_branches(
        &self,
        inb: &Inbound,
        req: &Message,
        plan: &Plan,
        loop_hash: &str,
        ctx: &Arc<ResponseContext>,
        held: Option<&(Arc<dyn HoldHook>, HoldId)>,
    ) -> usize {
        let call_id = ctx.call_id();
        let mut started = 0;
        for (i, target) in plan.targets.iter().enumerate() {
            let branch = format!("{BRANCH_PREFIX}{loop_hash}.{}", random_token(12));
            let Some(bytes) = self.build_forward(inb, req, plan, target, &branch) else {
                continue;
            };
            let Ok(request) = Message::parse(bytes) else {
                continue;
            };
            info!(%call_id, method = req.method().unwrap_or(""), dest = ?target.dest, "forwarding");
            let branch = BranchRequest {
                request,
                dest: target.dest.clone(),
                reliable: target.kind.is_reliable(),
            };
            let branch = match held {
                Some((hook, id)) => hook.start_branch(*id, i, ctx, branch),
                None => Some(branch),
            };
            if let Some(b) = branch {
                ctx.add_branch(b.request, b.dest, b.reliable);
            }
            started += 1;
        }
        started
    }

    /// Nothing to forward to and nothing held: 404 for a user nobody
    /// knows, else 480 (RFC 3261 §21.4.18).
    async fn answer_unreachable(&self, tx: &Arc<ServerTx>, req: &Message, plan: &Plan) {
        let (aor, instances) = match &plan.recipient {
            Some(w) => (w.reg_aor.clone(), w.live.clone()),
            None => (String::new(), Vec::new()),
        };
        let known = plan.recipient.as_ref().is_none_or(|w| w.path.is_some())
            || self.registrar.knows_user(&aor)
            || self.locate(Registered::User(&aor)).is_some();
        if !known {
            return self.answer(tx, req, 404, "Not Found", &[]).await;
        }
        info!(call_id = %tx.call_id, %aor, devices = instances.len(), "user offline (no live flow)");
        self.answer(tx, req, 480, "Temporarily Unavailable", &[])
            .await
    }

    /// Builds the request for one branch (RFC 3261 §16.6).
    pub fn build_forward(
        &self,
        inb: &Inbound,
        req: &Message,
        plan: &Plan,
        target: &Target,
        branch: &str,
    ) -> Option<Bytes> {
        let (host, port) = self.advertised(target.kind)?;
        let mut e = req.edit();
        let ip = inb.remote.ip().to_string();
        e.set_via_received(Some(&ip), Some(inb.remote.port()));
        if let Some(u) = target.ruri.as_ref().or(plan.ruri.as_ref()) {
            e.set_request_uri(u);
        }
        let contact_value;
        if let Some(expires) = plan.expires_override {
            e.set_header("Expires", &expires.to_string());
            if let Some(c) = req.values("Contact").next() {
                contact_value = replace_expires_param(c, expires);
                if contact_value != c {
                    e.set_header("Contact", &contact_value);
                }
            }
        }
        e.decrement_max_forwards();
        for _ in 0..plan.strip_routes {
            e.remove_top_route();
        }
        for h in &plan.remove_headers {
            e.remove_header(h);
        }
        if plan.record_route {
            let token = self.tokens.flow_token(inb.flow, target.to_flow);
            let ftag = req
                .from()
                .ok()
                .and_then(|f| f.tag())
                .filter(|t| t.bytes().all(is_param_char));
            let extra = ftag.map(|t| format!(";ftag={t}")).unwrap_or_default();
            let out = self.our_uri_with(target.kind, &token, &extra)?;
            let inn = self.our_uri_with(inb.kind, &token, &extra)?;
            // RFC 5658 double Record-Route when the two sides differ: the
            // top entry faces the callee, the second the caller.
            if out == inn {
                e.push_record_route(&out);
            } else {
                e.push_record_route(&format!("{out}, {inn}"));
            }
        }
        if let Some(p) = &plan.path {
            match &p.upstream_contact {
                // contact_mode = "rewrite": the upstream stores our URI.
                Some(uc) => {
                    e.set_contact_uri(0, uc);
                }
                None => {
                    e.push_path(&self.our_uri(target.kind, &p.token)?);
                    // RFC 3327 §5.1: we know the configured registrar supports
                    // Path; make sure it sees the option tag even if the UA
                    // did not send it.
                    if !req.supports("path") {
                        e.add_header("Supported", "path");
                    }
                }
            }
        }
        e.push_via(&format!(
            "SIP/2.0/{} {host}:{port};branch={branch};rport",
            target.kind.via_name()
        ));
        Some(e.build())
    }

    /// `<sip:user@host:port;transport=x;lr>` for our address on `kind`.
    pub fn our_uri(&self, kind: TransportKind, user: &str) -> Option<String> {
        self.our_uri_with(kind, user, "")
    }

    /// `sip:user@host:port;transport=x` (a Contact, not a route: no `lr`).
    pub(crate) fn our_uri_plain(&self, kind: TransportKind, user: &str) -> Option<String> {
        let (host, port) = self.advertised(kind)?;
        let transport = match kind {
            TransportKind::Udp => String::new(),
            k => format!(";transport={}", k.via_name().to_ascii_lowercase()),
        };
        Some(format!("sip:{user}@{host}:{port}{transport}"))
    }

    /// [`Self::our_uri`] with extra URI parameters (`;name=value…`).
    fn our_uri_with(&self, kind: TransportKind, user: &str, params: &str) -> Option<String> {
        let (host, port) = self.advertised(kind)?;
        let transport = match kind {
            TransportKind::Udp => String::new(),
            k => format!(";transport={}", k.via_name().to_ascii_lowercase()),
        };
        Some(format!("<sip:{user}@{host}:{port}{transport};lr{params}>"))
    }

    /// RFC 3261 §16.3 step 4: a Via of ours carrying the same loop hash
    /// means the request came back unchanged — a loop, not a spiral.
    fn is_looping(&self, req: &Message, hash: &str) -> bool {
        let marker = format!("{BRANCH_PREFIX}{hash}.");
        req.vias().filter_map(Result::ok).any(|v| {
            v.branch().is_some_and(|b| b.starts_with(&marker))
                && [
                    TransportKind::Udp,
                    TransportKind::Tcp,
                    TransportKind::Tls,
                    TransportKind::Ws,
                    TransportKind::Wss,
                ]
                .into_iter()
                .filter_map(|k| self.net.via_host_port(k))
                .any(|(h, p)| h.eq_ignore_ascii_case(v.host) && p == v.port_or_default())
        })
    }

    /// End-to-end ACK (and other transaction-less requests): route and send
    /// once, no transaction (RFC 3261 §16.11 stateless forwarding).
    pub(super) async fn forward_stateless(self: Arc<Self>, inb: Inbound, req: Message) {
        let plan = match self.decide(&inb, &req).await {
            Decision::Forward(p) => p,
            _ => {
                debug!(
                    call_id = req.call_id().unwrap_or(""),
                    "ACK matches no route; dropped"
                );
                return;
            }
        };
        if check_max_forwards(&req).is_err() {
            return;
        }
        let hash = loop_hash(&req);
        let incoming = req.top_via().ok().and_then(|v| v.branch()).unwrap_or("");
        // Deterministic, so a retransmitted ACK carries the same branch.
        let sl = stateless_branch(&[incoming, req.request_uri().unwrap_or("")]);
        let branch = format!("{BRANCH_PREFIX}{hash}.{}", sl.trim_start_matches("z9hG4bK"));
        for target in plan.targets.iter().take(1) {
            if let Some(bytes) = self.build_forward(
                &inb,
                &req,
                &Plan {
                    record_route: false,
                    ..(*plan).clone()
                },
                target,
                &branch,
            ) {
                Stats::inc(&self.stats.requests_out);
                if let Err(e) = self.net.send(target.dest.clone(), bytes).await {
                    debug!(error = %e, "stateless forward failed");
                }
            }
        }
    }
}

/// Characters safe in a URI parameter value without escaping (tags are
/// tokens; anything else is left out of the Record-Route).
fn is_param_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'+%".contains(&b)
}

/// Hash over the fields a looping request repeats (RFC 3261 §16.6 step 8).
pub(crate) fn loop_hash(req: &Message) -> String {
    let to_tag = req
        .to()
        .ok()
        .and_then(|t| t.tag().map(str::to_owned))
        .unwrap_or_default();
    let from_tag = req
        .from()
        .ok()
        .and_then(|t| t.tag().map(str::to_owned))
        .unwrap_or_default();
    let seq = req.cseq().map(|c| c.seq.to_string()).unwrap_or_default();
    let routes: Vec<&str> = req.values("Route").collect();
    let preq: Vec<&str> = req.values("Proxy-Require").collect();
    let h = stateless_branch(&[
        req.request_uri().unwrap_or(""),
        &to_tag,
        &from_tag,
        req.call_id().unwrap_or(""),
        &seq,
        &routes.join(","),
        &preq.join(","),
    ]);
    // stateless_branch = cookie + "sl" + 32 hex; 10 hex digits are plenty.
    h.chars().rev().take(10).collect()
}

/// A Contact value with its `expires` header parameter set to `expires`
/// (the part after the URI; the URI itself is untouched).
fn replace_expires_param(contact: &str, expires: u32) -> String {
    let uri_end = contact.rfind('>').map_or(0, |i| i + 1);
    let (uri, params) = contact.split_at(uri_end);
    let kept: Vec<&str> = params
        .split(';')
        .filter(|p| !p.trim().is_empty() && !p.trim().to_ascii_lowercase().starts_with("expires"))
        .collect();
    let mut out = String::from(uri);
    for p in kept {
        out.push(';');
        out.push_str(p.trim());
    }
    out.push_str(&format!(";expires={expires}"));
    out
}

#[cfg(test)]
mod expires_tests {
    use super::replace_expires_param;

    #[test]
    fn expires_param_is_replaced_after_the_uri_only() {
        assert_eq!(
            replace_expires_param("<sip:a@b;expires=0>;expires=0;q=1", 3600),
            "<sip:a@b;expires=0>;q=1;expires=3600"
        );
        assert_eq!(
            replace_expires_param("<sip:a@b>", 60),
            "<sip:a@b>;expires=60"
        );
    }
}

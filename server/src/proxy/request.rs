//! Request processing: validation, transaction matching, local answers and
//! forwarding (RFC 3261 §16.3 – §16.6, §16.10 CANCEL, stateless ACK).

use std::sync::Arc;

use bytes::Bytes;
use sipwake_sip::{
    Message, check_max_forwards, check_proxy_require, ids::random_token, response_to,
    stateless_branch, validate_register, validate_request,
};
use tracing::{debug, info};

use super::context::{OnSuccess, ResponseContext};
use super::route::{Decision, Plan, Target};
use super::stats::Stats;
use super::{BRANCH_PREFIX, Proxy};
use crate::net::{Destination, Inbound, TransportKind};
use crate::registrar::Source;
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

    async fn answer(
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

    /// Decides and forwards (runs in its own task).
    async fn process(self: Arc<Self>, inb: Inbound, req: Message, tx: Arc<ServerTx>) {
        let call_id = tx.call_id.clone();
        let decision = self.decide(&inb, &req).await;
        // One device, two Contacts at the upstream (its old one not yet
        // expired): the upstream's forks of one request both lead here.
        let path_token = match &decision {
            Decision::Forward(plan) | Decision::Offline { plan, .. } => plan
                .wake
                .as_ref()
                .and_then(|w| w.path.as_ref())
                .map(|p| p.token.clone()),
            _ => None,
        };
        if let Some(token) = path_token
            && crate::wake::wakes_for(&req)
            && self
                .merged
                .is_merged(&token, &req, tokio::time::Instant::now())
        {
            info!(%call_id, "second fork of a request for the same registration: 482");
            return self.answer(&tx, &req, 482, "Merged Request", &[]).await;
        }
        let plan = match decision {
            Decision::Reject(code, reason) => {
                info!(%call_id, code, reason, "request refused");
                return self.answer(&tx, &req, code, reason, &[]).await;
            }
            Decision::Offline {
                aor,
                instances,
                plan,
            } => {
                if self.wake.get().is_some() && crate::wake::wakes_for(&req) {
                    // Push wake-up may hold it: decided below, once the
                    // sleeping devices are known.
                    plan
                } else {
                    return self.answer_offline(&tx, &req, &aor, &instances).await;
                }
            }
            Decision::OptionsHere => {
                return self
                    .answer(
                        &tx,
                        &req,
                        200,
                        "OK",
                        &[
                            ("Allow", ALLOW.to_owned()),
                            ("Accept", "application/sdp".to_owned()),
                        ],
                    )
                    .await;
            }
            Decision::Register => {
                if let Err(rej) = validate_register(&req) {
                    return self.answer(&tx, &req, rej.code, &rej.reason, &[]).await;
                }
                let push = self.push.get().map(|p| (p.clone(), p.read(&req, &call_id)));
                if let Some((_, rp)) = &push
                    && rp.reject_555
                {
                    return self.answer_555(&tx, &req, rp).await;
                }
                let reply = self.registrar.register(
                    &req,
                    Source {
                        flow: inb.flow,
                        kind: inb.kind,
                        remote: inb.remote,
                    },
                );
                info!(%call_id, code = reply.code, "REGISTER (standalone)");
                let mut headers: Vec<(&str, String)> =
                    reply.headers.iter().map(|(n, v)| (*n, v.clone())).collect();
                if (200..300).contains(&reply.code)
                    && let Some((bindings, rp)) = &push
                {
                    // Durable before the 200 OK goes out.
                    if bindings.commit(&rp.capture, &call_id).await.is_ok()
                        && let Some(fc) = &rp.feature_caps
                    {
                        headers.push(("Feature-Caps", fc.clone()));
                    }
                }
                self.answer(&tx, &req, reply.code, reply.reason, &headers)
                    .await;
                // After the 200 OK is on its way: a held request this wakes
                // is queued behind it on the client's flow.
                self.registrar.announce(reply.events);
                return;
            }
            Decision::Forward(plan) => plan,
        };
        let mut plan = plan;
        let push = match self.push.get() {
            Some(p) if plan.path.is_some() && req.method() == Some("REGISTER") => {
                let rp = p.read(&req, &call_id);
                if rp.reject_555 {
                    return self.answer_555(&tx, &req, &rp).await;
                }
                if rp.unregister && matches!(rp.capture, crate::bindings::Capture::Bind(_)) {
                    // pushnotification_disableunreg: an unregister from a push
                    // app keeps it reachable (2) or is not forwarded (1).
                    match p.policy.disableunreg {
                        1 => {
                            info!(%call_id, "unregister of a push device not forwarded (disableunreg = 1)");
                            return self.answer(&tx, &req, 200, "OK", &[]).await;
                        }
                        2 => {
                            let expires = if p.policy.upperexpire > 0 {
                                p.policy.upperexpire as u32
                            } else {
                                3600
                            };
                            info!(%call_id, expires, "unregister of a push device turned into a register (disableunreg = 2)");
                            plan.expires_override = Some(expires);
                        }
                        _ => {}
                    }
                }
                Some(crate::proxy::context::PushCommit {
                    bindings: p.clone(),
                    capture: rp.capture,
                    feature_caps: rp.feature_caps,
                })
            }
            _ => None,
        };
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
        let waker = self.wake.get().cloned();
        let sleepers = match (&waker, &plan.wake) {
            (Some(w), Some(route)) if crate::wake::wakes_for(&req) => w.sleepers(&req, route).await,
            _ => Vec::new(),
        };
        if plan.targets.is_empty() && sleepers.is_empty() {
            let (aor, instances) = match &plan.wake {
                Some(w) => (w.reg_aor.clone(), w.live.clone()),
                None => (String::new(), Vec::new()),
            };
            let known = plan.wake.as_ref().is_none_or(|w| w.path.is_some())
                || self.registrar.knows_user(&aor)
                || matches!(
                    self.registrar.lookup(&aor),
                    crate::registrar::Lookup::Bindings(_)
                );
            if !known {
                return self.answer(&tx, &req, 404, "Not Found", &[]).await;
            }
            return self.answer_offline(&tx, &req, &aor, &instances).await;
        }
        let on_success = match &plan.path {
            Some(p) => OnSuccess::CommitPath(self.paths.clone(), Box::new(p.clone())),
            None => OnSuccess::Nothing,
        };
        let ctx = ResponseContext::new(
            tx.clone(),
            req.clone(),
            self.net.clone(),
            self.timers,
            self.clients.clone(),
            self.stats.clone(),
            plan.ruri.clone(),
            plan.path
                .as_ref()
                .and_then(|p| Some((p.upstream_contact.clone()?, p.contact.clone()?))),
            on_success,
        );
        if let Some(pc) = push {
            ctx.set_push_commit(pc);
        }
        // Held branches are promised before any live branch starts, so a
        // quick final from a live device cannot end the call early.
        let held = match waker {
            Some(w) if !sleepers.is_empty() => {
                let id = w
                    .clone()
                    .hold(&self, &inb, &req, &ctx, &plan, &loop_hash, sleepers)
                    .await;
                Some((w, id))
            }
            _ => None,
        };
        let mut started = 0;
        for (i, target) in plan.targets.iter().enumerate() {
            let branch = format!("{BRANCH_PREFIX}{loop_hash}.{}", random_token(12));
            let Some(bytes) = self.build_forward(&inb, &req, &plan, target, &branch) else {
                continue;
            };
            let Ok(out) = Message::parse(bytes) else {
                continue;
            };
            info!(%call_id, method = req.method().unwrap_or(""), dest = ?target.dest, "forwarding");
            let (dest, reliable) = (target.dest.clone(), target.kind.is_reliable());
            match &held {
                // A UDP push device: resent longer, watched for silence.
                Some((w, id)) if matches!(w.reach_of(*id, i), Some(crate::wake::Reach::Udp(_))) => {
                    w.start_probe(*id, i, &ctx, out, dest, reliable, self.timers)
                }
                _ => {
                    ctx.add_branch(out, dest, reliable);
                }
            }
            started += 1;
        }
        if started == 0 && held.is_none() {
            return ctx.fail(500, "No Route").await;
        }
        let c = ctx.clone();
        tx.on_cancel(Box::new(move |reason| {
            c.cancel_all(reason);
            if let Some((w, id)) = held {
                w.cancel(id);
            }
        }));
    }

    /// The user is known but no device can be reached (and none is held).
    async fn answer_offline(
        &self,
        tx: &Arc<ServerTx>,
        req: &Message,
        aor: &str,
        instances: &[String],
    ) {
        info!(call_id = %tx.call_id, %aor, devices = instances.len(), "user offline (no live flow)");
        self.answer(tx, req, 480, "Temporarily Unavailable", &[])
            .await
    }

    /// Builds the request for one branch (RFC 3261 §16.6).
    pub(crate) fn build_forward(
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

    /// RFC 8599 §5.2: the requested push service is not supported here.
    async fn answer_555(
        &self,
        tx: &Arc<ServerTx>,
        req: &Message,
        rp: &crate::bindings::RegisterPush,
    ) {
        let headers: Vec<(&str, String)> = rp
            .feature_caps
            .iter()
            .map(|fc| ("Feature-Caps", fc.clone()))
            .collect();
        self.answer(
            tx,
            req,
            555,
            "Push Notification Service Not Supported",
            &headers,
        )
        .await
    }

    /// `<sip:user@host:port;transport=x;lr>` for our address on `kind`.
    pub(crate) fn our_uri(&self, kind: TransportKind, user: &str) -> Option<String> {
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
    async fn forward_stateless(self: Arc<Self>, inb: Inbound, req: Message) {
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

//! REGISTER, both modes (RFC 3261 §10.3, RFC 3327 Path, RFC 8599):
//!
//! 1. validate (standalone; upstream mode leaves that to the registrar),
//! 2. read the push binding ([`PushBindings::read`]): 555 when RFC 8599
//!    asks for a service we lack; upstream, `disableunreg` for push apps,
//! 3. register here (standalone) or forward with our Path (upstream),
//! 4. on 2xx: commit the Path registration and the push binding (durable),
//!    add Feature-Caps, relay the 200 — *then* announce the registration,
//!    so a request held for the device reaches it after its 200 OK.

use std::sync::Arc;

use sipwake_sip::{Message, validate_register};
use tracing::info;

use super::Proxy;
use super::context::{Committed, OnSuccess, Refusal};
use super::route::Plan;
use super::stats::Stats;
use crate::bindings::{Capture, CommitError, PushBindings, RegisterPush};
use crate::net::{Inbound, TransportKind};
use crate::registrar::Source;
use crate::transaction::ServerTx;

/// What a REGISTER's push data asks for, once read.
enum PushStep {
    /// Answered already (555, or an unregister not forwarded).
    Answered,
    /// Go on; commit this on 2xx (`None`: no push data or push off).
    Go(Option<(Arc<PushBindings>, RegisterPush)>),
}

impl Proxy {
    /// Standalone: the registrar answers.
    pub(super) async fn register_here(&self, inb: Inbound, req: Message, tx: Arc<ServerTx>) {
        let call_id = tx.call_id.clone();
        if let Err(rej) = validate_register(&req) {
            return self.answer(&tx, &req, rej.code, &rej.reason, &[]).await;
        }
        let PushStep::Go(push) = self.read_push(&tx, &req, inb.kind, false).await else {
            return;
        };
        let source = Source {
            flow: inb.flow,
            kind: inb.kind,
            remote: inb.remote,
        };
        let reply = self.registrar.register(&req, source);
        info!(%call_id, code = reply.code, "REGISTER (standalone)");
        let mut headers: Vec<(&str, String)> =
            reply.headers.iter().map(|(n, v)| (*n, v.clone())).collect();
        if (200..300).contains(&reply.code)
            && let Some((bindings, rp)) = push
        {
            match commit_push(&bindings, rp, &call_id, &self.stats).await {
                Ok(h) => headers.extend(h),
                Err((code, reason, h)) => return self.answer(&tx, &req, code, reason, &h).await,
            }
        }
        self.answer(&tx, &req, reply.code, reply.reason, &headers)
            .await;
        self.registrar.announce(reply.events);
    }

    /// Upstream: forwarded with our Path; the registration and the push
    /// binding are committed on the upstream's 2xx.
    pub(super) async fn register_upstream(
        self: Arc<Self>,
        inb: Inbound,
        req: Message,
        tx: Arc<ServerTx>,
        mut plan: Plan,
    ) {
        let push = match self.read_push(&tx, &req, inb.kind, true).await {
            PushStep::Answered => return,
            PushStep::Go(p) => p,
        };
        if push
            .as_ref()
            .is_some_and(|(b, rp)| turns_into_register(b, rp))
        {
            let expires = push.as_ref().map_or(3600, |(b, _)| keep_expires(b));
            info!(call_id = %tx.call_id, expires, "unregister of a push device turned into a register (disableunreg = 2)");
            plan.expires_override = Some(expires);
        }
        let on_success = plan
            .path
            .clone()
            .map(|pending| self.commit_on_success(pending, push, tx.call_id.clone()));
        self.forward(inb, req, tx, plan, on_success).await
    }

    /// The upstream said 2xx: the Path registration and the push binding
    /// are stored before the 2xx is relayed (with Feature-Caps); the
    /// registration is announced after.
    fn commit_on_success(
        &self,
        pending: crate::registrar::paths::Pending,
        push: Option<(Arc<PushBindings>, RegisterPush)>,
        call_id: String,
    ) -> OnSuccess {
        let paths = self.paths.clone();
        let stats = self.stats.clone();
        Box::new(move |resp: Message| {
            Box::pin(async move {
                let event = paths.commit(&pending, &resp);
                let headers = match push {
                    Some((bindings, rp)) => {
                        match commit_push(&bindings, rp, &call_id, &stats).await {
                            Ok(h) => h,
                            // Never a 200 for a binding that is not stored.
                            Err(refused) => {
                                return Committed {
                                    refuse: Some(refused),
                                    ..Committed::default()
                                };
                            }
                        }
                    }
                    None => Vec::new(),
                };
                Committed {
                    headers,
                    after_relay: event
                        .map(|ev| Box::new(move || paths.announce(ev)) as Box<dyn FnOnce() + Send>),
                    refuse: None,
                }
            })
        })
    }

    /// Reads the push data (if push is on) and answers what needs no
    /// forwarding: 555 (RFC 8599 §5.2 with `send555`) and, upstream
    /// (`upstream`), an unregister of a push app with `disableunreg = 1`.
    async fn read_push(
        &self,
        tx: &Arc<ServerTx>,
        req: &Message,
        transport: TransportKind,
        upstream: bool,
    ) -> PushStep {
        let Some(bindings) = &self.push else {
            return PushStep::Go(None);
        };
        let rp = bindings.read(req, &tx.call_id, transport);
        if rp.reject_555 {
            self.answer_555(tx, req, &rp).await;
            return PushStep::Answered;
        }
        if upstream && is_push_unregister(&rp) && bindings.policy.disableunreg == 1 {
            info!(call_id = %tx.call_id, "unregister of a push device not forwarded (disableunreg = 1)");
            self.answer(tx, req, 200, "OK", &[]).await;
            return PushStep::Answered;
        }
        PushStep::Go(Some((bindings.clone(), rp)))
    }

    /// RFC 8599 §5.2: the requested push service is not supported here.
    async fn answer_555(&self, tx: &Arc<ServerTx>, req: &Message, rp: &RegisterPush) {
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
}

/// An unregister from an app with a push binding.
fn is_push_unregister(rp: &RegisterPush) -> bool {
    rp.unregister && matches!(rp.capture, Capture::Bind(_))
}

/// `pushnotification_disableunreg = 2`: a push app's unregister keeps it
/// reachable (forwarded as a register).
fn turns_into_register(bindings: &PushBindings, rp: &RegisterPush) -> bool {
    is_push_unregister(rp) && bindings.policy.disableunreg == 2
}

/// The interval such a register asks for: `upperexpire`, else 3600.
fn keep_expires(bindings: &PushBindings) -> u32 {
    if bindings.policy.upperexpire > 0 {
        bindings.policy.upperexpire as u32
    } else {
        3600
    }
}

/// Seconds a REGISTER refused for an unreachable store is told to wait.
pub const STORE_RETRY_AFTER_SECS: u32 = 5;

/// Makes the push binding change durable; on success the Feature-Caps to
/// add to the 200 OK, else the 503 that replaces it.
async fn commit_push(
    bindings: &PushBindings,
    rp: RegisterPush,
    call_id: &str,
    stats: &Stats,
) -> Result<Vec<(&'static str, String)>, Refusal> {
    match bindings.commit(&rp.capture, call_id).await {
        Ok(_) => Ok(rp
            .feature_caps
            .map(|fc| vec![("Feature-Caps", fc)])
            .unwrap_or_default()),
        Err(CommitError::TooManyDevices { .. }) => {
            Stats::inc(&stats.refused_bindings);
            Err((403, "Too Many Devices", Vec::new()))
        }
        Err(CommitError::Store(_)) => Err((
            503,
            "Service Unavailable",
            vec![("Retry-After", STORE_RETRY_AFTER_SECS.to_string())],
        )),
    }
}

//! The routing decision: where a request goes. Every request for a user or
//! a flow passes through [`Proxy::decide`]; where a registered device is
//! now comes from [`Proxy::locate`]. A request for a user whose devices
//! cannot be reached now is [`Decision::Offline`]: answered 480, unless
//! the hold hook holds it.

use std::net::SocketAddr;

use sipwake_sip::{Aor, Message, NameAddr, Uri};

use super::Proxy;
use super::locate::Registered;
use super::upstream::{H_UPPERPROXY, H_UPPERSRV, H_UPPERSRVD, Hop, SelectError};
use crate::config::ContactMode;
use crate::net::{Destination, FlowId, Inbound, TransportKind};
use crate::registrar::paths::Pending;
use crate::token::is_registration_token;
use crate::util::lock;

/// One place to send the request.
#[derive(Debug, Clone)]
pub struct Target {
    pub dest: Destination,
    /// Outgoing transport (our Via / Record-Route on that side).
    pub kind: TransportKind,
    /// New Request-URI for this branch.
    pub ruri: Option<String>,
    /// Set when the target is a client flow (goes into the RR token).
    pub to_flow: Option<FlowId>,
}

/// How to forward.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub targets: Vec<Target>,
    /// How many of the top Route values are ours (removed when forwarding).
    pub strip_routes: usize,
    /// Add Record-Route (dialog-creating request).
    pub record_route: bool,
    /// REGISTER towards an upstream: add Path with this registration.
    pub path: Option<Pending>,
    /// Request-URI rewrite for all branches (REGISTER to a client-named domain).
    pub ruri: Option<String>,
    pub remove_headers: Vec<&'static str>,
    /// REGISTER: force this Expires upstream (pushnotification_disableunreg = 2).
    pub expires_override: Option<u32>,
    /// The request is for a user's devices: who they are, in the keys a
    /// hold hook needs to find the ones that cannot be reached now.
    pub recipient: Option<Recipient>,
}

/// The user a request is routed to, in the keys a hold hook needs.
#[derive(Debug, Clone, Default)]
pub struct Recipient {
    /// The AOR as the registrar's events name it (standalone: the user
    /// part; upstream: `user@host` of the Path registration).
    pub reg_aor: String,
    /// Canonical push-binding AORs to try, in order (`sip:user@host`).
    pub push_aors: Vec<String>,
    /// Instances and Contact URIs of the devices reached at once (live).
    pub live: Vec<String>,
    /// The same devices, each with the target that reaches it.
    pub live_devices: Vec<LiveDevice>,
    /// Upstream mode: the one Path registration the request is for.
    pub path: Option<RecipientPath>,
}

/// A device the request goes to at once.
#[derive(Debug, Clone)]
pub struct LiveDevice {
    /// Index in `Plan::targets`.
    pub target: usize,
    /// Registrar identity (`+sip.instance` value, else the Contact URI).
    pub instance: String,
    pub contact: String,
    /// Reached over UDP: "live" only means its last known address, which a
    /// sleeping app no longer reads.
    pub udp: bool,
}

/// The Path registration an upstream request targets.
#[derive(Debug, Clone)]
pub struct RecipientPath {
    pub token: String,
    pub instance: String,
    pub contact: String,
    /// The Request-URI named us: rewrite it to the device's Contact.
    pub rewrite_ruri: bool,
}

#[derive(Debug, Clone)]
pub enum Decision {
    Reject(u16, &'static str),
    /// A REGISTER for the standalone registrar.
    Register,
    /// The user exists but none of its devices has a live flow: 480, unless
    /// push wake-up holds the request (`plan.recipient` says for whom).
    Offline {
        aor: String,
        instances: Vec<String>,
        plan: Box<Plan>,
    },
    /// OPTIONS addressed to the gateway itself.
    OptionsHere,
    Forward(Box<Plan>),
}

/// A Record-Route token's (caller flow, callee flow) and the caller's
/// From tag (`ftag`).
type DialogToken = ((FlowId, Option<FlowId>), Option<String>);

/// The leading Route values that name us.
#[derive(Default)]
struct OurRoutes {
    count: usize,
    /// The first Record-Route token.
    flow_token: Option<DialogToken>,
    /// The first Path token.
    reg_token: Option<String>,
}

/// Methods whose out-of-dialog requests create dialogs we must stay in.
fn creates_dialog(req: &Message) -> bool {
    let m = req.method().unwrap_or("");
    let in_dialog = req.to().ok().and_then(|t| t.tag()).is_some();
    !in_dialog && matches!(m, "INVITE" | "SUBSCRIBE" | "REFER" | "NOTIFY")
}

impl Proxy {
    /// Whether a URI names this gateway (host is one of our advertised
    /// hosts or the local address the message arrived on).
    pub(crate) fn is_our_uri(&self, uri: &Uri<'_>, local: SocketAddr) -> bool {
        if !uri.is_sip() {
            return false;
        }
        let host = uri.host.trim_start_matches('[').trim_end_matches(']');
        let local_ip = local.ip().to_string();
        let mut ports = vec![local.port()];
        let mut host_match = host.eq_ignore_ascii_case(&local_ip);
        for k in [
            TransportKind::Udp,
            TransportKind::Tcp,
            TransportKind::Tls,
            TransportKind::Ws,
            TransportKind::Wss,
        ] {
            if let Some((h, p)) = self.net.via_host_port(k) {
                ports.push(p);
                host_match |= h
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .eq_ignore_ascii_case(host);
            }
        }
        host_match && uri.port.is_none_or(|p| ports.contains(&p))
    }

    /// Next hop from a URI (a remaining Route, or the Request-URI).
    async fn uri_dest(&self, uri: &Uri<'_>) -> Option<(Destination, TransportKind)> {
        let hop = Hop::from_uri(uri)?;
        let dest = hop.resolve().await?;
        Some((dest, hop.kind))
    }

    pub(crate) async fn decide(&self, inb: &Inbound, req: &Message) -> Decision {
        let routes: Vec<NameAddr<'_>> = req.routes().unwrap_or_default();
        let mut plan = Plan {
            record_route: creates_dialog(req),
            ..Plan::default()
        };
        let ours = self.our_routes(&routes, inb);
        plan.strip_routes = ours.count;
        let next_route = routes.get(plan.strip_routes).map(|r| r.uri);
        let Some(Ok(ruri)) = req.uri() else {
            return Decision::Reject(400, "Bad Request-URI");
        };
        let ruri_ours = self.is_our_uri(&ruri, inb.local);

        // 1. Dialogs we record-routed: the token names both sides' flows.
        if let Some((flows, ftag)) = ours.flow_token {
            let next = next_route.unwrap_or(ruri);
            return self.decide_dialog(inb, req, flows, ftag, &next, plan).await;
        }
        // 2. Requests the upstream routes to a client through our Path (or a
        //    token in the Request-URI, e.g. a strict-routing upstream).
        let ruri_token = ruri.user.filter(|u| ruri_ours && is_registration_token(u));
        if let Some(tok) = ours.reg_token.or(ruri_token.map(str::to_owned)) {
            return self.decide_path(&tok, ruri_ours, plan);
        }
        if req.method() == Some("OPTIONS")
            && ruri_ours
            && ruri.user.is_none()
            && next_route.is_none()
        {
            return Decision::OptionsHere;
        }
        match &self.upstream {
            None => self.decide_standalone(inb, req, &ruri, next_route.is_some(), plan),
            Some(_) => self.decide_upstream(inb, req, ruri_ours, plan).await,
        }
    }

    /// The leading Route values that name us, and the tokens in them.
    fn our_routes(&self, routes: &[NameAddr<'_>], inb: &Inbound) -> OurRoutes {
        let mut ours = OurRoutes::default();
        for r in routes {
            if !self.is_our_uri(&r.uri, inb.local) {
                break;
            }
            ours.count += 1;
            let Some(user) = r.uri.user else { continue };
            if let Some(t) = self.tokens.parse_flow_token(user) {
                let ftag = r.uri.param("ftag").flatten().map(str::to_owned);
                ours.flow_token.get_or_insert((t, ftag));
            } else if is_registration_token(user) {
                ours.reg_token.get_or_insert(user.to_owned());
            }
        }
        ours
    }

    /// An in-dialog request through our Record-Route: to the other side's
    /// flow, or on to the next hop when that side is not a client of ours.
    async fn decide_dialog(
        &self,
        inb: &Inbound,
        req: &Message,
        (a, b): (FlowId, Option<FlowId>),
        ftag: Option<String>,
        next: &Uri<'_>,
        mut plan: Plan,
    ) -> Decision {
        // Direction: the caller keeps its From tag (the `ftag` we put in
        // the Record-Route), whatever connection it uses now; without a
        // tag, fall back to the flow the request arrived on.
        let from_caller = match ftag {
            Some(t) => req.from().ok().and_then(|f| f.tag()) == Some(t.as_str()),
            None => inb.flow == a,
        };
        let toward = if from_caller { b } else { Some(a) };
        if let Some(f) = toward
            && let Some(info) = self.net.flow(f)
        {
            plan.targets.push(Target {
                dest: Destination::Flow(f),
                kind: info.kind,
                ruri: None,
                to_flow: Some(f),
            });
            return Decision::Forward(Box::new(plan));
        }
        match self.uri_dest(next).await {
            Some((dest, kind)) if !self.is_our_uri(next, inb.local) => plan.forward_to(dest, kind),
            // RFC 5626 §5.3: the flow the dialog used is gone.
            _ => Decision::Reject(430, "Flow Failed"),
        }
    }

    /// A request for the Path registration behind `token`.
    fn decide_path(&self, token: &str, ruri_ours: bool, mut plan: Plan) -> Decision {
        let Some(reg) = self
            .locate(Registered::Path(token))
            .and_then(|mut l| l.pop())
        else {
            return Decision::Reject(404, "Not Found");
        };
        let mut recipient = Recipient {
            reg_aor: reg.aor.clone(),
            push_aors: Aor::parse(&reg.aor)
                .map(|a| a.to_string())
                .into_iter()
                .collect(),
            live: Vec::new(),
            live_devices: Vec::new(),
            path: Some(RecipientPath {
                token: token.to_owned(),
                instance: reg.instance.clone(),
                contact: reg.contact.clone(),
                rewrite_ruri: ruri_ours,
            }),
        };
        let Some((dest, kind)) = reg.reach else {
            plan.recipient = Some(recipient);
            return Decision::Offline {
                aor: reg.aor,
                instances: vec![reg.instance],
                plan: Box::new(plan),
            };
        };
        recipient.live_devices.push(LiveDevice {
            target: 0,
            instance: reg.instance,
            contact: reg.contact.clone(),
            udp: kind == TransportKind::Udp,
        });
        plan.recipient = Some(recipient);
        plan.targets.push(Target {
            dest,
            kind,
            ruri: ruri_ours.then_some(reg.contact),
            to_flow: Some(reg.flow),
        });
        Decision::Forward(Box::new(plan))
    }

    fn decide_standalone(
        &self,
        inb: &Inbound,
        req: &Message,
        ruri: &Uri<'_>,
        foreign_route: bool,
        mut plan: Plan,
    ) -> Decision {
        if req.method() == Some("REGISTER") {
            return Decision::Register;
        }
        if foreign_route {
            // Standalone routes only between its own clients: no relaying.
            return Decision::Reject(403, "Relaying Not Allowed");
        }
        if self.registrar.auth_enabled() && !self.registrar.flow_is_registered(inb.flow) {
            return Decision::Reject(403, "Register First");
        }
        let Some(user) = ruri.user.filter(|u| !u.is_empty()) else {
            return Decision::Reject(404, "Not Found");
        };
        let mut push_aors: Vec<String> = Vec::new();
        let to_aor = req.to().ok().and_then(|t| Aor::from_uri(&t.uri));
        for a in [Aor::from_uri(ruri), to_aor]
            .into_iter()
            .flatten()
            .map(|a| a.to_string())
        {
            if !push_aors.contains(&a) {
                push_aors.push(a);
            }
        }
        let mut recipient = Recipient {
            reg_aor: user.to_owned(),
            push_aors,
            live: Vec::new(),
            live_devices: Vec::new(),
            path: None,
        };
        let devices = match self.locate(Registered::User(user)) {
            // Known from the users file, or maybe only from its push
            // bindings: the hold hook decides between holding and 480/404.
            None if self.registrar.knows_user(user) || self.hold.is_some() => {
                plan.recipient = Some(recipient);
                return Decision::Offline {
                    aor: user.to_owned(),
                    instances: Vec::new(),
                    plan: Box::new(plan),
                };
            }
            None => return Decision::Reject(404, "Not Found"),
            Some(d) => d,
        };
        let instances: Vec<String> = devices.iter().map(|d| d.instance.clone()).collect();
        for d in devices {
            if let Some((dest, kind)) = d.reach {
                recipient.live.push(d.instance.clone());
                recipient.live.push(d.contact.clone());
                recipient.live_devices.push(LiveDevice {
                    target: plan.targets.len(),
                    instance: d.instance,
                    contact: d.contact.clone(),
                    udp: kind == TransportKind::Udp,
                });
                plan.targets.push(Target {
                    dest,
                    kind,
                    ruri: Some(d.contact),
                    to_flow: Some(d.flow),
                });
            }
        }
        plan.recipient = Some(recipient);
        if plan.targets.is_empty() {
            return Decision::Offline {
                aor: user.to_owned(),
                instances,
                plan: Box::new(plan),
            };
        }
        Decision::Forward(Box::new(plan))
    }

    async fn decide_upstream(
        &self,
        inb: &Inbound,
        req: &Message,
        ruri_ours: bool,
        mut plan: Plan,
    ) -> Decision {
        let Some(policy) = &self.upstream else {
            return Decision::Reject(500, "Server Internal Error");
        };
        if lock(&self.upstream_addrs).contains(&inb.remote) {
            // From an upstream, but without our Path/Record-Route token.
            return Decision::Reject(404, "Not Found");
        }
        plan.remove_headers = vec![H_UPPERSRV, H_UPPERPROXY, H_UPPERSRVD];
        let register = req.method() == Some("REGISTER");
        // A client's requests follow the upstream it registered with.
        let known = if register {
            None
        } else {
            self.paths.upstream_of_flow(inb.flow)
        };
        let (dest, kind) = match known {
            Some(d) => {
                let kind = match &d {
                    Destination::Addr { kind, .. } => *kind,
                    Destination::Flow(f) => {
                        self.net.flow(*f).map_or(TransportKind::Udp, |i| i.kind)
                    }
                };
                (d, kind)
            }
            None => {
                let sel = match policy.select(req, ruri_ours) {
                    Ok(s) => s,
                    Err(SelectError::NotAllowed(_)) => {
                        return Decision::Reject(403, "Upstream Not Allowed");
                    }
                    Err(SelectError::Invalid(_)) => {
                        return Decision::Reject(400, "Bad X-Sy Upstream Header");
                    }
                    Err(SelectError::NoUpstream) => return Decision::Reject(503, "No Upstream"),
                };
                let Some(dest) = sel.hop.resolve().await else {
                    return Decision::Reject(503, "Upstream Unresolvable");
                };
                if register
                    && ruri_ours
                    && let Some(d) = &sel.domain
                {
                    plan.ruri = Some(format!("sip:{d}"));
                }
                (dest, sel.hop.kind)
            }
        };
        if let Destination::Addr { addr, .. } = &dest {
            lock(&self.upstream_addrs).insert(*addr);
        }
        if register {
            match self
                .paths
                .prepare(req, inb.flow, inb.kind, inb.remote, dest.clone())
            {
                Some(mut p) => {
                    if self.config.upstream.contact_mode == ContactMode::Rewrite
                        && p.contact.is_some()
                    {
                        p.upstream_contact = self.our_uri_plain(kind, &p.token);
                    }
                    plan.path = Some(p)
                }
                None => return Decision::Reject(400, "Bad To"),
            }
        }
        plan.forward_to(dest, kind)
    }
}

impl Plan {
    /// Forwarded to one next hop, Request-URI unchanged.
    fn forward_to(mut self, dest: Destination, kind: TransportKind) -> Decision {
        self.targets.push(Target {
            dest,
            kind,
            ruri: None,
            to_flow: None,
        });
        Decision::Forward(Box::new(self))
    }
}

//! Client registrations (SIP's own bindings of an AOR to a Contact; the
//! push bindings are `crate::bindings`).
//!
//! * [`Registrar`]: the standalone-mode registrar (RFC 3261 §10.3): user →
//!   registrations, each remembering the flow it arrived on, because the
//!   gateway routes to clients by flow, never by their (often unreachable)
//!   Contact.
//! * [`paths::PathRegistry`]: upstream mode: Path token → the client
//!   registration behind it and its current flow.
//!
//! Both publish [`RegistrarEvent`]s once the REGISTER's 2xx went out:
//! push wake-up delivers held requests on them, the keeper watches expiries.

pub mod auth;
pub mod paths;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use sipwake_sip::{Contacts, Message};
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::config::RegistrarConfig;
use crate::net::{FlowId, TransportKind};
use auth::{AuthOutcome, DigestAuth};

/// Bounds: registrations per AOR and AORs in total.
pub const MAX_REGISTRATIONS_PER_AOR: usize = 16;
pub const MAX_AORS: usize = 100_000;

/// A registration changed. `instance` is the `+sip.instance` of the
/// contact, or the contact URI when the UA sent none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrarEvent {
    Registered {
        aor: String,
        instance: String,
        flow: FlowId,
        /// When the registration was committed: a listener handling the
        /// event later knows what was decided before it.
        at: Instant,
    },
    Unregistered {
        aor: String,
        instance: String,
    },
}

/// Where a REGISTER came from.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub flow: FlowId,
    pub kind: TransportKind,
    pub remote: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct Registration {
    /// The Contact URI as registered (reported back in 200 OK).
    pub uri: String,
    /// Identity within the AOR: `+sip.instance` value or the URI.
    pub instance: String,
    pub flow: FlowId,
    pub kind: TransportKind,
    /// Source address, to reach a UDP client whose flow entry aged out.
    pub remote: SocketAddr,
    pub expires_at: Instant,
    call_id: String,
    cseq: u32,
}

/// The registrar's answer to a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub reason: &'static str,
    pub headers: Vec<(&'static str, String)>,
    /// What changed, for [`Registrar::announce`] once the reply is sent:
    /// a request held for a device it wakes then queues behind its 200 OK.
    pub events: Vec<RegistrarEvent>,
}

impl Reply {
    fn new(code: u16, reason: &'static str) -> Reply {
        Reply {
            code,
            reason,
            headers: Vec::new(),
            events: Vec::new(),
        }
    }
    fn with(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

/// What a REGISTER asks for, once checked.
enum Changes {
    /// `Contact: *` with `Expires: 0`.
    RemoveAll,
    Update(Vec<Update>),
}

/// One Contact of a REGISTER: its URI, identity and granted interval
/// (0 removes it).
struct Update {
    uri: String,
    instance: String,
    expires: u32,
}

/// Result of looking a user up.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Never registered (or every registration expired long ago and was pruned).
    Unknown,
    Registrations(Vec<Registration>),
}

pub struct Registrar {
    cfg: RegistrarConfig,
    auth: Option<DigestAuth>,
    aors: Mutex<HashMap<String, Vec<Registration>>>,
    /// Flow → AOR last registered on it (auth check without a scan).
    /// Locked after `aors`.
    by_flow: Mutex<HashMap<FlowId, String>>,
    events: broadcast::Sender<RegistrarEvent>,
}

impl Registrar {
    pub fn new(
        cfg: RegistrarConfig,
        auth: Option<DigestAuth>,
        events: broadcast::Sender<RegistrarEvent>,
    ) -> Registrar {
        Registrar {
            cfg,
            auth,
            aors: Mutex::new(HashMap::new()),
            by_flow: Mutex::new(HashMap::new()),
            events,
        }
    }

    pub fn auth_enabled(&self) -> bool {
        self.auth.is_some()
    }

    /// Sources banned for failed authentications so far.
    pub fn bans(&self) -> u64 {
        self.auth.as_ref().map_or(0, DigestAuth::bans)
    }

    /// Handles a REGISTER addressed to us: who (To user, digest), what
    /// (Contacts, intervals; applied atomically), then the current list.
    pub fn register(&self, req: &Message, src: Source) -> Reply {
        let aor = match self.authorized_user(req, src.remote.ip()) {
            Ok(aor) => aor,
            Err(reply) => return reply,
        };
        let (call_id, cseq, contacts) = match self.read_changes(req) {
            Ok(c) => c,
            Err(reply) => return reply,
        };
        let now = Instant::now();
        let mut aors = self.aors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = aors.get_mut(&aor) {
            list.retain(|b| b.expires_at > now);
        }
        let applied = match contacts {
            Changes::RemoveAll => Ok(aors
                .remove(&aor)
                .unwrap_or_default()
                .into_iter()
                .map(|b| RegistrarEvent::Unregistered {
                    aor: aor.clone(),
                    instance: b.instance,
                })
                .collect()),
            Changes::Update(updates) => {
                self.apply(&mut aors, &aor, updates, call_id, cseq, src, now)
            }
        };
        let events = match applied {
            Ok(events) => events,
            Err(reply) => return reply,
        };
        let mut reply = Reply::new(200, "OK");
        for b in aors.get(&aor).map(Vec::as_slice).unwrap_or(&[]) {
            let left = b.expires_at.saturating_duration_since(now).as_secs();
            reply
                .headers
                .push(("Contact", format!("<{}>;expires={left}", b.uri)));
        }
        reply.events = events;
        reply
    }

    /// The To user, once digest authentication (if on) says the sender
    /// is that user. Standalone serves a single domain: registrations are
    /// keyed by the To user part, not the whole AOR.
    fn authorized_user(&self, req: &Message, from: std::net::IpAddr) -> Result<String, Reply> {
        let Ok(to) = req.to() else {
            return Err(Reply::new(400, "Bad To"));
        };
        if !to.uri.is_sip() {
            return Err(Reply::new(400, "To Is Not a SIP AOR"));
        }
        let Some(user) = to.uri.user.filter(|u| !u.is_empty()) else {
            return Err(Reply::new(400, "To Has No User"));
        };
        let Some(auth) = &self.auth else {
            return Ok(user.to_owned());
        };
        let now = crate::util::unix_now() as u64;
        match auth.check(req, now, from) {
            AuthOutcome::Banned => Err(Reply::new(
                403,
                "Forbidden (too many failed authentications)",
            )),
            AuthOutcome::Ok(authuser) if authuser == user => Ok(user.to_owned()),
            AuthOutcome::Ok(_) => Err(Reply::new(403, "Forbidden (user mismatch)")),
            AuthOutcome::Challenge { stale } => Err(auth
                .challenges(stale, now)
                .into_iter()
                .fold(Reply::new(401, "Unauthorized"), |r, c| {
                    r.with("WWW-Authenticate", c)
                })),
        }
    }

    /// Call-ID, CSeq and the Contacts with their intervals, all checked
    /// before anything changes (RFC 3261 §10.3 steps 6–7).
    fn read_changes<'m>(&self, req: &'m Message) -> Result<(&'m str, u32, Changes), Reply> {
        let Ok(call_id) = req.call_id() else {
            return Err(Reply::new(400, "Bad Call-ID"));
        };
        let Ok(cseq) = req.cseq() else {
            return Err(Reply::new(400, "Bad CSeq"));
        };
        let Ok(header_expires) = req.expires() else {
            return Err(Reply::new(400, "Bad Expires"));
        };
        let Ok(contacts) = req.contacts() else {
            return Err(Reply::new(400, "Bad Contact"));
        };
        let list = match contacts {
            Contacts::Star => {
                if header_expires != Some(0) || req.count("Contact") != 1 {
                    return Err(Reply::new(400, "Contact * Requires Expires: 0"));
                }
                return Ok((call_id, cseq.seq, Changes::RemoveAll));
            }
            Contacts::List(list) => list,
        };
        let mut updates = Vec::with_capacity(list.len());
        for c in &list {
            let expires = match c.param("expires") {
                Some(Some(v)) => v
                    .trim()
                    .parse::<u64>()
                    .unwrap_or(3600)
                    .min(u64::from(u32::MAX)) as u32,
                _ => header_expires.unwrap_or(3600),
            };
            let expires = expires.min(self.cfg.max_expires);
            if expires != 0 && expires < self.cfg.min_expires {
                return Err(Reply::new(423, "Interval Too Brief")
                    .with("Min-Expires", self.cfg.min_expires.to_string()));
            }
            let instance = c
                .param("+sip.instance")
                .flatten()
                .map(str::to_owned)
                .unwrap_or_else(|| c.uri.raw.to_owned());
            updates.push(Update {
                uri: c.uri.raw.to_owned(),
                instance,
                expires,
            });
        }
        Ok((call_id, cseq.seq, Changes::Update(updates)))
    }

    /// Applies checked updates to one user's registrations; the events to
    /// announce, or the reply that refuses them all.
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        aors: &mut HashMap<String, Vec<Registration>>,
        aor: &str,
        updates: Vec<Update>,
        call_id: &str,
        cseq: u32,
        src: Source,
        now: Instant,
    ) -> Result<Vec<RegistrarEvent>, Reply> {
        let existing = aors.get(aor).map(Vec::as_slice).unwrap_or(&[]);
        for u in &updates {
            if let Some(b) = existing.iter().find(|b| b.instance == u.instance)
                && b.call_id == call_id
                && b.cseq >= cseq
            {
                return Err(Reply::new(500, "Out of Order CSeq"));
            }
        }
        if !updates.is_empty() && !aors.contains_key(aor) && aors.len() >= MAX_AORS {
            return Err(Reply::new(503, "Registrar Full"));
        }
        let mut events = Vec::new();
        let entry = aors.entry(aor.to_owned()).or_default();
        for Update {
            uri,
            instance,
            expires,
        } in updates
        {
            entry.retain(|b| b.instance != instance);
            if expires == 0 {
                events.push(RegistrarEvent::Unregistered {
                    aor: aor.to_owned(),
                    instance,
                });
                continue;
            }
            if entry.len() >= MAX_REGISTRATIONS_PER_AOR {
                return Err(Reply::new(403, "Too Many Bindings"));
            }
            events.push(RegistrarEvent::Registered {
                aor: aor.to_owned(),
                instance: instance.clone(),
                flow: src.flow,
                at: now,
            });
            entry.push(Registration {
                uri,
                instance,
                flow: src.flow,
                kind: src.kind,
                remote: src.remote,
                expires_at: now + Duration::from_secs(u64::from(expires)),
                call_id: call_id.to_owned(),
                cseq,
            });
        }
        if entry.is_empty() {
            aors.remove(aor);
        } else {
            let mut by_flow = self.by_flow.lock().unwrap_or_else(|e| e.into_inner());
            if by_flow.len() >= MAX_AORS {
                by_flow.retain(|f, a| aors.get(a).is_some_and(|l| l.iter().any(|b| b.flow == *f)));
            }
            by_flow.insert(src.flow, aor.to_owned());
        }
        Ok(events)
    }

    /// Publishes a REGISTER's changes (after its reply was sent).
    pub fn announce(&self, events: Vec<RegistrarEvent>) {
        for e in events {
            // No subscriber is fine: push wake-up may be off.
            let _ = self.events.send(e);
        }
    }

    /// Whether the users file lists this user (so an unregistered user is
    /// offline, not unknown).
    pub fn knows_user(&self, user: &str) -> bool {
        self.auth.as_ref().is_some_and(|a| a.users().contains(user))
    }

    /// Current (unexpired) registrations of a user.
    pub fn lookup(&self, user: &str) -> Lookup {
        let now = Instant::now();
        let aors = self.aors.lock().unwrap_or_else(|e| e.into_inner());
        match aors.get(user) {
            None => Lookup::Unknown,
            Some(list) => Lookup::Registrations(
                list.iter()
                    .filter(|b| b.expires_at > now)
                    .cloned()
                    .collect(),
            ),
        }
    }

    /// Whether some unexpired registration uses this flow (the flow belongs to a
    /// registered — and, with auth on, authenticated — client).
    pub fn flow_is_registered(&self, flow: FlowId) -> bool {
        let now = Instant::now();
        let aors = self.aors.lock().unwrap_or_else(|e| e.into_inner());
        let by_flow = self.by_flow.lock().unwrap_or_else(|e| e.into_inner());
        by_flow
            .get(&flow)
            .and_then(|aor| aors.get(aor))
            .is_some_and(|list| list.iter().any(|b| b.flow == flow && b.expires_at > now))
    }
}

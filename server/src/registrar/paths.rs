//! Upstream mode: the gateway puts `Path: <sip:TOKEN@gateway;lr>` on every
//! REGISTER it forwards (RFC 3327). TOKEN names the client *registration*
//! (AOR + instance) — not the connection — so requests the upstream later
//! routes through that Path reach the device on whatever flow it registered
//! from most recently. This table maps TOKEN → that registration.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use sipwake_sip::{Aor, Contacts, Message};
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::RegistrarEvent;
use crate::net::{Destination, FlowId, TransportKind};
use crate::token::TokenKey;

pub const MAX_REGISTRATIONS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRegistration {
    /// `user@host` of the To URI.
    pub aor: String,
    pub instance: String,
    /// The client's Contact URI (Request-URI of requests routed to it).
    pub contact: String,
    pub flow: FlowId,
    pub kind: TransportKind,
    pub remote: SocketAddr,
    /// The upstream that accepted the registration.
    pub upstream: Destination,
    /// Until when the upstream holds the binding; `None` = unregistered.
    pub expires_at: Option<Instant>,
}

/// A REGISTER on its way upstream; applied only when a 2xx comes back, so
/// an unauthenticated REGISTER cannot move someone else's registration.
#[derive(Debug, Clone)]
pub struct Pending {
    pub token: String,
    pub aor: String,
    pub instance: String,
    pub contact: Option<String>,
    pub flow: FlowId,
    pub kind: TransportKind,
    pub remote: SocketAddr,
    pub upstream: Destination,
    /// `contact_mode = "rewrite"`: the Contact URI the upstream sees
    /// (`sip:TOKEN@gateway`); `None` with Path.
    pub upstream_contact: Option<String>,
}

pub struct PathRegistry {
    key: TokenKey,
    map: Mutex<HashMap<String, PathRegistration>>,
    /// Flow → token last registered on it (so a client's requests find its
    /// upstream without scanning). Locked after `map`.
    by_flow: Mutex<HashMap<FlowId, String>>,
    events: broadcast::Sender<RegistrarEvent>,
}

impl PathRegistry {
    pub fn new(key: TokenKey, events: broadcast::Sender<RegistrarEvent>) -> PathRegistry {
        PathRegistry {
            key,
            map: Mutex::new(HashMap::new()),
            by_flow: Mutex::new(HashMap::new()),
            events,
        }
    }

    /// Identity and token of a REGISTER; `None` if To is unusable.
    pub fn prepare(
        &self,
        req: &Message,
        flow: FlowId,
        kind: TransportKind,
        remote: SocketAddr,
        upstream: Destination,
    ) -> Option<Pending> {
        let to = req.to().ok()?;
        // The AOR without its scheme, as the keeper derives it from the
        // push store's AOR: both must name the same token.
        let aor = match Aor::from_uri(&to.uri) {
            Some(a) => a.without_scheme().to_owned(),
            None => format!("@{}", to.uri.host.to_ascii_lowercase()),
        };
        let first = match req.contacts().ok()? {
            Contacts::List(l) => l.into_iter().next(),
            Contacts::Star => None,
        };
        let contact = first.as_ref().map(|c| c.uri.raw.to_owned());
        // Normalised (quotes and `<>` off) like the push store's device
        // key, so the keeper derives the same token from a stored binding.
        let instance = first
            .as_ref()
            .and_then(|c| c.sip_instance().map(str::to_owned))
            .or_else(|| contact.clone())
            // A fetch or remove-all names no contact: key by Call-ID, which
            // a UA keeps for all its registrations (RFC 3261 §10.2).
            .unwrap_or_else(|| req.call_id().unwrap_or("").to_owned());
        let token = self.token_for(&aor, &instance);
        Some(Pending {
            token,
            aor,
            instance,
            contact,
            flow,
            kind,
            remote,
            upstream,
            upstream_contact: None,
        })
    }

    /// Applies a 2xx to a forwarded REGISTER. Returns the event to
    /// [`announce`](Self::announce) once the 2xx has been relayed, so a held
    /// request woken by it reaches the client after its 200 OK.
    #[must_use]
    pub fn commit(&self, p: &Pending, resp: &Message) -> Option<RegistrarEvent> {
        let Some(contact) = &p.contact else {
            if let Some(r) = self
                .map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(&p.token)
            {
                r.expires_at = None;
            }
            return None;
        };
        let header_expires = resp.expires().ok().flatten();
        let expires = match resp.contacts() {
            Ok(Contacts::List(list)) => list
                .iter()
                .find(|c| c.uri.raw == p.upstream_contact.as_deref().unwrap_or(contact))
                .map(|c| {
                    c.param("expires")
                        .flatten()
                        .and_then(|v| v.trim().parse::<u32>().ok())
                        .or(header_expires)
                        .unwrap_or(3600)
                }),
            _ => None,
        };
        let now = Instant::now();
        let expires_at = expires
            .filter(|e| *e > 0)
            .map(|e| now + Duration::from_secs(u64::from(e)));
        let reg = PathRegistration {
            aor: p.aor.clone(),
            instance: p.instance.clone(),
            contact: contact.clone(),
            flow: p.flow,
            kind: p.kind,
            remote: p.remote,
            upstream: p.upstream.clone(),
            expires_at,
        };
        {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            if !map.contains_key(&p.token) && map.len() >= MAX_REGISTRATIONS {
                map.retain(|_, r| r.expires_at.is_some_and(|t| t > now));
                if map.len() >= MAX_REGISTRATIONS {
                    return None;
                }
            }
            map.insert(p.token.clone(), reg);
            let mut by_flow = self.by_flow.lock().unwrap_or_else(|e| e.into_inner());
            if by_flow.len() >= MAX_REGISTRATIONS {
                by_flow.retain(|f, t| map.get(t).is_some_and(|r| r.flow == *f));
            }
            if expires_at.is_some() {
                by_flow.insert(p.flow, p.token.clone());
            }
        }
        let event = match expires_at {
            Some(_) => RegistrarEvent::Registered {
                aor: p.aor.clone(),
                instance: p.instance.clone(),
                flow: p.flow,
                at: Instant::now(),
            },
            None => RegistrarEvent::Unregistered {
                aor: p.aor.clone(),
                instance: p.instance.clone(),
            },
        };
        Some(event)
    }

    /// Tells the registrar's listeners (wake-up, keeper) about a commit.
    pub fn announce(&self, event: RegistrarEvent) {
        let _ = self.events.send(event);
    }

    /// The Path token of a registration (`aor` = `user@host`, `instance` =
    /// normalised `+sip.instance`, else the Contact URI).
    pub fn token_for(&self, aor: &str, instance: &str) -> String {
        self.key.registration_token(aor, instance)
    }

    /// Puts back a registration known from the push store (after a
    /// restart): its flow is gone, so requests for it go to push wake-up.
    /// An entry already there (the device registered meanwhile) wins.
    pub fn restore(&self, token: &str, reg: PathRegistration) -> bool {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.contains_key(token) || map.len() >= MAX_REGISTRATIONS {
            return false;
        }
        map.insert(token.to_owned(), reg);
        true
    }

    /// The upstream accepted a refresh the gateway sent itself (the keeper).
    pub fn refreshed(&self, token: &str, expires_at: Instant) {
        if let Some(r) = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(token)
        {
            r.expires_at = Some(expires_at);
        }
    }

    /// The registration is gone upstream (unregistered or its binding
    /// removed): requests naming the token get 404.
    pub fn unregistered(&self, token: &str) {
        if let Some(r) = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(token)
        {
            r.expires_at = None;
        }
    }

    pub fn get(&self, token: &str) -> Option<PathRegistration> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    /// The registration last made on `flow` (and its token), while it is
    /// still on that flow.
    pub fn on_flow(&self, flow: FlowId) -> Option<(String, PathRegistration)> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let by_flow = self.by_flow.lock().unwrap_or_else(|e| e.into_inner());
        let token = by_flow.get(&flow)?;
        let r = map.get(token).filter(|r| r.flow == flow)?;
        Some((token.clone(), r.clone()))
    }

    /// The upstream a client flow registered through (its out-of-dialog
    /// requests follow the same server).
    pub fn upstream_of_flow(&self, flow: FlowId) -> Option<Destination> {
        let now = Instant::now();
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let by_flow = self.by_flow.lock().unwrap_or_else(|e| e.into_inner());
        let r = map.get(by_flow.get(&flow)?)?;
        (r.flow == flow && r.expires_at.is_some_and(|t| t > now)).then(|| r.upstream.clone())
    }
}

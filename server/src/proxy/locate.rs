//! "Where is this registered device now?" — the one answer, used by
//! routing ([`super::route`]) and by the delivery of held requests.
//!
//! Devices are reached over the flow they registered from, never at their
//! (often unreachable) Contact: a flow that is gone means the device is
//! not reachable now, except over UDP, where its source address still is.

use std::net::SocketAddr;

use super::Proxy;
use crate::net::{Destination, FlowId, TransportKind};
use crate::registrar::Lookup;
use crate::registrar::paths::PathRegistration;

/// A registration to look for.
#[derive(Debug, Clone, Copy)]
pub enum Registered<'a> {
    /// Upstream mode: the Path registration behind a token.
    Path(&'a str),
    /// Upstream mode: the Path registration last made on a flow.
    PathOnFlow(FlowId),
    /// Standalone mode: every registration of a user.
    User(&'a str),
}

/// A registered device and where it is now.
#[derive(Debug, Clone)]
pub struct Located {
    /// The registration's AOR key (`user@host` upstream, `user` standalone).
    pub aor: String,
    /// The `+sip.instance` value, else the Contact URI.
    pub instance: String,
    /// The Contact URI as registered.
    pub contact: String,
    /// The flow it registered from.
    pub flow: FlowId,
    /// Where to send to reach it now; `None` when its flow is gone.
    pub reach: Option<(Destination, TransportKind)>,
}

impl Proxy {
    /// The registrations `who` names and where each is reachable now.
    /// `None` when nothing is registered under that name (an unknown token
    /// or user, or a Path registration that was removed); `Some(empty)`
    /// when a user's registrations all expired.
    pub fn locate(&self, who: Registered<'_>) -> Option<Vec<Located>> {
        match who {
            Registered::Path(token) => self.located_path(self.paths.get(token)?),
            Registered::PathOnFlow(flow) => self.located_path(self.paths.on_flow(flow)?.1),
            Registered::User(user) => match self.registrar.lookup(user) {
                Lookup::Unknown => None,
                Lookup::Registrations(list) => Some(
                    list.into_iter()
                        .map(|b| Located {
                            reach: self.reach(b.flow, b.kind, b.remote),
                            aor: user.to_owned(),
                            instance: b.instance,
                            contact: b.uri,
                            flow: b.flow,
                        })
                        .collect(),
                ),
            },
        }
    }

    /// A Path registration, unless it was removed upstream.
    fn located_path(&self, r: PathRegistration) -> Option<Vec<Located>> {
        r.expires_at?;
        Some(vec![Located {
            reach: self.reach(r.flow, r.kind, r.remote),
            aor: r.aor,
            instance: r.instance,
            contact: r.contact,
            flow: r.flow,
        }])
    }

    /// A client flow as a destination: the flow while it lives; for UDP the
    /// source address still works after the flow entry aged out.
    fn reach(
        &self,
        flow: FlowId,
        kind: TransportKind,
        remote: SocketAddr,
    ) -> Option<(Destination, TransportKind)> {
        if let Some(info) = self.net.flow(flow) {
            return Some((Destination::Flow(flow), info.kind));
        }
        (kind == TransportKind::Udp).then_some((Destination::Addr { kind, addr: remote }, kind))
    }
}

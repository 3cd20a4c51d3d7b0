//! Which upstream SIP server a client's request goes to (upstream mode).
//!
//! The configured default, or — only with `client_selection = true` and only
//! for targets on the `allow` list — the server the client names with
//! `X-Sy.Upperproxy` (next hop) / `X-Sy.Uppersrv` (server) or with the
//! Request-URI domain. `X-Sy.Uppersrvd` names the SIP domain when it differs
//! from the server address. The gateway is never an open relay: an explicit
//! choice that is not allowed is refused (403), never silently followed.

use std::net::SocketAddr;
use std::time::Duration;

use sipwake_sip::{Message, Scheme, Uri};

use crate::config::UpstreamConfig;
use crate::net::{Destination, TransportKind};

pub const H_UPPERSRV: &str = "X-Sy.Uppersrv";
pub const H_UPPERPROXY: &str = "X-Sy.Upperproxy";
pub const H_UPPERSRVD: &str = "X-Sy.Uppersrvd";

/// A next hop: host (lower case), optional port, transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub host: String,
    pub port: Option<u16>,
    pub kind: TransportKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("upstream {0} is not on the allow list")]
    NotAllowed(String),
    #[error("invalid upstream `{0}`")]
    Invalid(String),
    #[error("no upstream server configured")]
    NoUpstream,
}

impl Hop {
    /// Accepts `sip:host[:port][;transport=x]`, `sips:…`, or bare `host[:port]`.
    pub fn parse(s: &str) -> Option<Hop> {
        let s = s.trim();
        let owned;
        // `get` rather than slicing: the value is client input and may be
        // multi-byte UTF-8.
        let has = |p: &str| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
        let text = if has("sip:") || has("sips:") {
            s
        } else {
            owned = format!("sip:{s}");
            &owned
        };
        let uri = Uri::parse(text).ok()?;
        Hop::from_uri(&uri)
    }

    pub fn from_uri(uri: &Uri<'_>) -> Option<Hop> {
        if !uri.is_sip() || uri.host.is_empty() {
            return None;
        }
        let kind = match uri.transport() {
            Some(t) => TransportKind::from_name(t)?,
            None if uri.scheme == Scheme::Sips => TransportKind::Tls,
            None => TransportKind::Udp,
        };
        Some(Hop {
            host: uri.host.to_ascii_lowercase(),
            port: uri.port,
            kind,
        })
    }

    pub fn port_or_default(&self) -> u16 {
        self.port
            .unwrap_or(if self.kind.is_secure() { 5061 } else { 5060 })
    }

    /// `host:port` for logs and allow-list messages.
    pub fn display(&self) -> String {
        format!("{}:{}", self.host, self.port_or_default())
    }

    /// Resolves to a transport destination: IP literals directly, names
    /// through the system resolver (A/AAAA only; no NAPTR/SRV) with a bound.
    pub async fn resolve(&self) -> Option<Destination> {
        let port = self.port_or_default();
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let addr = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port),
            Err(_) => {
                let lookup = tokio::net::lookup_host((host, port));
                let mut addrs = tokio::time::timeout(Duration::from_secs(5), lookup)
                    .await
                    .ok()?
                    .ok()?;
                addrs.next()?
            }
        };
        Some(Destination::Addr {
            kind: self.kind,
            addr,
        })
    }
}

/// The upstream routing policy, built from `[upstream]`.
#[derive(Debug, Clone)]
pub struct UpstreamPolicy {
    pub default: Option<Hop>,
    pub client_selection: bool,
    allow: Vec<(String, Option<u16>)>,
}

/// The outcome of a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub hop: Hop,
    /// The SIP domain the client named (X-Sy.Uppersrvd, else X-Sy.Uppersrv's host).
    pub domain: Option<String>,
    pub client_selected: bool,
}

impl UpstreamPolicy {
    pub fn from_config(c: &UpstreamConfig) -> Result<UpstreamPolicy, SelectError> {
        let default = match c.server.trim() {
            "" => None,
            s => Some(Hop::parse(s).ok_or_else(|| SelectError::Invalid(s.to_owned()))?),
        };
        let mut allow = Vec::new();
        for a in &c.allow {
            let hop = Hop::parse(a).ok_or_else(|| SelectError::Invalid(a.clone()))?;
            allow.push((hop.host, hop.port));
        }
        Ok(UpstreamPolicy {
            default,
            client_selection: c.client_selection,
            allow,
        })
    }

    /// The default server is always allowed; others must match an entry
    /// (an entry without port allows any port).
    pub fn allowed(&self, hop: &Hop) -> bool {
        if self
            .default
            .as_ref()
            .is_some_and(|d| d.host == hop.host && d.port_or_default() == hop.port_or_default())
        {
            return true;
        }
        self.allow
            .iter()
            .any(|(h, p)| *h == hop.host && p.is_none_or(|p| p == hop.port_or_default()))
    }

    /// Picks the upstream for a request from a client. `ruri_is_ours`: the
    /// Request-URI names the gateway itself, so it selects nothing.
    pub fn select(&self, req: &Message, ruri_is_ours: bool) -> Result<Selected, SelectError> {
        if self.client_selection {
            let domain = req
                .header(H_UPPERSRVD)
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .or_else(|| req.header(H_UPPERSRV).and_then(Hop::parse).map(|h| h.host));
            for name in [H_UPPERPROXY, H_UPPERSRV] {
                if let Some(v) = req.header(name).map(str::trim).filter(|v| !v.is_empty()) {
                    let hop = Hop::parse(v).ok_or_else(|| SelectError::Invalid(v.to_owned()))?;
                    if !self.allowed(&hop) {
                        return Err(SelectError::NotAllowed(hop.display()));
                    }
                    return Ok(Selected {
                        hop,
                        domain,
                        client_selected: true,
                    });
                }
            }
            if !ruri_is_ours
                && let Some(Ok(uri)) = req.uri()
                && let Some(hop) = Hop::from_uri(&uri)
            {
                if self.allowed(&hop) {
                    return Ok(Selected {
                        hop,
                        domain,
                        client_selected: true,
                    });
                }
                if self.default.is_none() {
                    return Err(SelectError::NotAllowed(hop.display()));
                }
            }
        }
        let hop = self.default.clone().ok_or(SelectError::NoUpstream)?;
        Ok(Selected {
            hop,
            domain: None,
            client_selected: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn policy(selection: bool, allow: &[&str]) -> UpstreamPolicy {
        UpstreamPolicy::from_config(&UpstreamConfig {
            server: "sip:10.0.0.1:5070;transport=tcp".into(),
            client_selection: selection,
            allow: allow.iter().map(|s| s.to_string()).collect(),
            ..UpstreamConfig::default()
        })
        .unwrap()
    }

    fn register(extra: &str, ruri: &str) -> Message {
        let s = format!(
            "REGISTER {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP c;branch=z9hG4bK1\r\nFrom: <sip:u@d>;tag=1\r\nTo: <sip:u@d>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        Message::parse(Bytes::from(s)).unwrap()
    }

    #[test]
    fn hop_parsing() {
        assert_eq!(
            Hop::parse("sip:10.0.0.1:5070;transport=tcp"),
            Some(Hop {
                host: "10.0.0.1".into(),
                port: Some(5070),
                kind: TransportKind::Tcp
            })
        );
        assert_eq!(
            Hop::parse("Sip.Example.com").unwrap().host,
            "sip.example.com"
        );
        assert_eq!(Hop::parse("sips:a.b").unwrap().port_or_default(), 5061);
        assert_eq!(Hop::parse("sip:a;transport=foo"), None);
        // Client input: multi-byte text must not panic.
        assert_eq!(Hop::parse("ééé"), None);
        assert_eq!(Hop::parse("sé"), None);
    }

    #[test]
    fn selection_honours_allow_list() {
        let p = policy(true, &["sip.good.com", "10.9.9.9:5080"]);
        let s = p
            .select(&register("X-Sy.Uppersrv: sip.good.com\r\n", "sip:gw"), true)
            .unwrap();
        assert_eq!(s.hop.host, "sip.good.com");
        assert!(s.client_selected);
        assert_eq!(s.domain.as_deref(), Some("sip.good.com"));
        assert_eq!(
            p.select(&register("X-Sy.Uppersrv: evil.com\r\n", "sip:gw"), true),
            Err(SelectError::NotAllowed("evil.com:5060".into()))
        );
        assert_eq!(
            p.select(
                &register("X-Sy.Upperproxy: 10.9.9.9:5081\r\n", "sip:gw"),
                true
            ),
            Err(SelectError::NotAllowed("10.9.9.9:5081".into()))
        );
        let s = p
            .select(
                &register(
                    "X-Sy.Upperproxy: 10.9.9.9:5080\r\nX-Sy.Uppersrvd: dom.com\r\n",
                    "sip:gw",
                ),
                true,
            )
            .unwrap();
        assert_eq!(s.domain.as_deref(), Some("dom.com"));
        // R-URI domain: allowed → used; not allowed → the default.
        assert_eq!(
            p.select(&register("", "sip:sip.good.com"), false)
                .unwrap()
                .hop
                .host,
            "sip.good.com"
        );
        assert_eq!(
            p.select(&register("", "sip:other.com"), false)
                .unwrap()
                .hop
                .host,
            "10.0.0.1"
        );
    }

    #[test]
    fn without_client_selection_headers_are_ignored() {
        let p = policy(false, &["sip.good.com"]);
        let s = p
            .select(
                &register("X-Sy.Uppersrv: evil.com\r\n", "sip:evil.com"),
                false,
            )
            .unwrap();
        assert_eq!(
            s.hop,
            Hop {
                host: "10.0.0.1".into(),
                port: Some(5070),
                kind: TransportKind::Tcp
            }
        );
        assert!(!s.client_selected);
    }
}

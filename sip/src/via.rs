//! Via values (RFC 3261 §20.42, §18.2.1 received/rport from RFC 3581).

use crate::error::HeaderError;
use crate::text::{find_param, is_lws, params_ok, trim_lws};
use crate::uri::{parse_port, valid_host};

/// RFC 3261 branch magic cookie.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// `SIP/2.0` (protocol name and version joined as written without LWS).
    pub protocol: &'a str,
    pub version: &'a str,
    /// Transport token as written (`UDP`, `TCP`, `TLS`, `WS`, `WSS`, `SCTP` …).
    pub transport: &'a str,
    pub host: &'a str,
    pub port: Option<u16>,
    /// Parameters including the leading `;` (or empty).
    pub params: &'a str,
}

const H: &str = "Via";

impl<'a> Via<'a> {
    /// Parses one Via value (one element of the comma list).
    pub fn parse(value: &'a str) -> Result<Via<'a>, HeaderError> {
        let err = |what| HeaderError::new(H, what);
        let mut parts = value.splitn(3, '/');
        let protocol = trim_lws(parts.next().unwrap_or(""));
        let version = trim_lws(parts.next().ok_or(err("missing protocol version"))?);
        let rest = trim_lws(parts.next().ok_or(err("missing transport"))?);
        if protocol.is_empty() || version.is_empty() {
            return Err(err("missing protocol"));
        }
        let t_end = rest
            .bytes()
            .position(is_lws)
            .ok_or(err("missing sent-by"))?;
        let transport = &rest[..t_end];
        if transport.is_empty() || !crate::text::is_token(transport) {
            return Err(err("invalid transport"));
        }
        let rest = trim_lws(&rest[t_end..]);
        let p = rest.find(';').unwrap_or(rest.len());
        let sent_by = trim_lws(&rest[..p]);
        let params = &rest[p..];
        let (host, port) = if sent_by.starts_with('[') {
            let close = sent_by
                .find(']')
                .ok_or(err("unterminated IPv6 reference"))?;
            let tail = trim_lws(&sent_by[close + 1..]);
            let port = match tail.strip_prefix(':') {
                Some(p) => Some(trim_lws(p)),
                None if tail.is_empty() => None,
                None => return Err(err("junk after host")),
            };
            (&sent_by[..=close], port)
        } else {
            match sent_by.find(':') {
                Some(c) => (trim_lws(&sent_by[..c]), Some(trim_lws(&sent_by[c + 1..]))),
                None => (sent_by, None),
            }
        };
        if host.is_empty() || !valid_host(host) {
            return Err(err("invalid sent-by host"));
        }
        let port = match port {
            Some(p) => Some(parse_port(p).ok_or(err("invalid sent-by port"))?),
            None => None,
        };
        if !params_ok(params) {
            return Err(err("malformed parameter"));
        }
        Ok(Via {
            protocol,
            version,
            transport,
            host,
            port,
            params,
        })
    }

    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        find_param(self.params, name)
    }

    pub fn branch(&self) -> Option<&'a str> {
        self.param("branch").flatten()
    }

    /// Whether the branch carries the RFC 3261 magic cookie and something
    /// after it (a bare `z9hG4bK` does not count, RFC 4475 badbranch).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE))
    }

    pub fn received(&self) -> Option<&'a str> {
        self.param("received").flatten()
    }

    /// `rport`: `Some(None)` when requested without a value (RFC 3581).
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport").map(|v| v.and_then(parse_port))
    }

    /// The sent-by port, or the default for its transport (5061 for TLS,
    /// else 5060; RFC 3261 §18.2.2).
    pub fn port_or_default(&self) -> u16 {
        self.port
            .unwrap_or(if self.transport.eq_ignore_ascii_case("TLS") {
                5061
            } else {
                5060
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_full() {
        let v =
            Via::parse("SIP / 2.0 / UDP 192.0.2.1:5070;branch=z9hG4bKabc;rport;received=1.2.3.4")
                .unwrap();
        assert_eq!((v.protocol, v.version, v.transport), ("SIP", "2.0", "UDP"));
        assert_eq!((v.host, v.port), ("192.0.2.1", Some(5070)));
        assert_eq!(v.branch(), Some("z9hG4bKabc"));
        assert!(v.has_rfc3261_branch());
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), Some("1.2.3.4"));
        let v = Via::parse("SIP/2.0/WSS [::1]:443").unwrap();
        assert_eq!((v.host, v.port), ("[::1]", Some(443)));
        assert!(
            !Via::parse("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK")
                .unwrap()
                .has_rfc3261_branch()
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "SIP/2.0/UDP",
            "SIP/2.0 host",
            "SIP/2.0/UDP 192.0.2.15;;",
            ";",
            "SIP/2.0/UDP h:99999",
        ] {
            assert!(Via::parse(bad).is_err(), "{bad}");
        }
    }
}

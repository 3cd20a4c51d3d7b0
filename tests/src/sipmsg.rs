//! A deliberately small, independent SIP message model for the test clients:
//! parse what tests assert on, build requests/responses as text, frame
//! streams by Content-Length, and compute RFC 2617 digest credentials. It is
//! separate from `sipwake-sip` on purpose: the gateway's parser is under test.

use md5::{Digest, Md5};

use crate::Error;

/// A parsed SIP message: start line, headers in order (names as sent), body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Compact header forms (RFC 3261 section 7.3.3) and their long names.
const COMPACT: &[(&str, &str)] = &[
    ("i", "call-id"),
    ("m", "contact"),
    ("e", "content-encoding"),
    ("l", "content-length"),
    ("c", "content-type"),
    ("f", "from"),
    ("s", "subject"),
    ("k", "supported"),
    ("t", "to"),
    ("v", "via"),
];

fn canonical(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    COMPACT
        .iter()
        .find(|(c, _)| *c == lower)
        .map_or(lower, |(_, long)| long.to_string())
}

impl Msg {
    /// Parses one complete message (header part up to the empty line, then
    /// the rest as body). Folded header lines are joined.
    pub fn parse(bytes: &[u8]) -> Result<Msg, Error> {
        let end =
            find(bytes, b"\r\n\r\n").ok_or_else(|| Error::Protocol("no end of headers".into()))?;
        let head = String::from_utf8_lossy(&bytes[..end]);
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or_default().to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| Error::Protocol(format!("bad header line {line:?}")))?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        Ok(Msg {
            start,
            headers,
            body: bytes[end + 4..].to_vec(),
        })
    }

    /// Status code of a response.
    pub fn status(&self) -> Option<u16> {
        let rest = self.start.strip_prefix("SIP/2.0 ")?;
        rest.get(..3)?.parse().ok()
    }

    /// Method of a request.
    pub fn method(&self) -> Option<&str> {
        if self.start.starts_with("SIP/") {
            return None;
        }
        self.start.split(' ').next()
    }

    /// First value of a header (case-insensitive, compact forms understood).
    pub fn header(&self, name: &str) -> Option<&str> {
        let want = canonical(name);
        self.headers
            .iter()
            .find(|(n, _)| canonical(n) == want)
            .map(|(_, v)| v.as_str())
    }

    /// Every header line with that name, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let want = canonical(name);
        self.headers
            .iter()
            .filter(|(n, _)| canonical(n) == want)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// CSeq method.
    pub fn cseq_method(&self) -> Option<&str> {
        self.header("CSeq")?.split_whitespace().nth(1)
    }

    /// Body as text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A response to this request: Via, From, To (+ tag when given and
    /// absent), Call-ID, CSeq and Record-Route copied, extra headers appended.
    pub fn response(
        &self,
        code: u16,
        reason: &str,
        to_tag: Option<&str>,
        extra: &[String],
    ) -> String {
        let mut out = format!("SIP/2.0 {code} {reason}\r\n");
        for (name, value) in &self.headers {
            let canon = canonical(name);
            match canon.as_str() {
                "via" | "from" | "call-id" | "cseq" => {
                    out.push_str(&format!("{name}: {value}\r\n"));
                }
                "record-route" if (101..300).contains(&code) => {
                    out.push_str(&format!("{name}: {value}\r\n"));
                }
                "to" => match to_tag {
                    Some(tag) if !value.contains(";tag=") => {
                        out.push_str(&format!("{name}: {value};tag={tag}\r\n"));
                    }
                    _ => out.push_str(&format!("{name}: {value}\r\n")),
                },
                _ => {}
            }
        }
        for h in extra {
            out.push_str(h);
            out.push_str("\r\n");
        }
        out.push_str("Content-Length: 0\r\n\r\n");
        out
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Length of the first complete message in a stream buffer, `Ok(None)` while
/// incomplete. Leading CRLFs (keep-alives) count as a zero-content frame of
/// their own length so callers can skip them.
pub fn frame(buf: &[u8]) -> Result<Option<usize>, Error> {
    let lead = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    if lead > 0 {
        return Ok(Some(lead));
    }
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut len = 0usize;
    for line in head.split("\r\n").skip(1) {
        if let Some((n, v)) = line.split_once(':')
            && canonical(n) == "content-length"
        {
            len = v
                .trim()
                .parse()
                .map_err(|_| Error::Protocol(format!("bad Content-Length {v:?}")))?;
        }
    }
    let total = end + 4 + len;
    Ok((buf.len() >= total).then_some(total))
}

/// Parameters of a `Digest` challenge (WWW-/Proxy-Authenticate value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub qop_auth: bool,
    pub algorithm: Option<String>,
}

impl Challenge {
    pub fn parse(value: &str) -> Result<Challenge, Error> {
        let rest = value
            .trim()
            .strip_prefix("Digest")
            .ok_or_else(|| Error::Protocol(format!("not a Digest challenge: {value}")))?;
        let mut c = Challenge::default();
        for (k, v) in auth_params(rest) {
            match k.to_ascii_lowercase().as_str() {
                "realm" => c.realm = v,
                "nonce" => c.nonce = v,
                "opaque" => c.opaque = Some(v),
                "qop" => c.qop_auth = v.split(',').any(|q| q.trim() == "auth"),
                "algorithm" => c.algorithm = Some(v),
                _ => {}
            }
        }
        if c.nonce.is_empty() {
            return Err(Error::Protocol(format!("challenge without nonce: {value}")));
        }
        Ok(c)
    }

    /// The `Authorization` value answering this challenge (MD5, or
    /// SHA-256 when the challenge says so; qop=auth when offered).
    pub fn authorization(
        &self,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        let sha = self
            .algorithm
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("SHA-256"));
        let h = if sha { sha256_hex } else { md5_hex };
        let ha1 = h(&format!("{user}:{}:{password}", self.realm));
        let ha2 = h(&format!("{method}:{uri}"));
        let nc = "00000001";
        let mut out = format!(
            "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\"",
            self.realm, self.nonce
        );
        let response = if self.qop_auth {
            out.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
            h(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
        } else {
            h(&format!("{ha1}:{}:{ha2}", self.nonce))
        };
        let alg = if sha { "SHA-256" } else { "MD5" };
        out.push_str(&format!(", response=\"{response}\", algorithm={alg}"));
        if let Some(o) = &self.opaque {
            out.push_str(&format!(", opaque=\"{o}\""));
        }
        out
    }
}

/// `k=v, k="v, with comma"` pairs.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            value = q[..end].to_string();
            rest = q.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        out.push((key, value));
    }
    out
}

pub fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn sha256_hex(s: &str) -> String {
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A random-enough token for tags, branches and Call-IDs (unique per process run).
pub fn token(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}{}x{n}x{t:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_digest() {
        // RFC 2617 section 3.5 example (qop=auth).
        let c = Challenge {
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            opaque: Some("5ccc069c403ebaf9f0171e9517f40e41".into()),
            qop_auth: true,
            algorithm: None,
        };
        let a = c.authorization(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
        );
        assert!(
            a.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{a}"
        );
    }

    #[test]
    fn parses_challenge_and_message() {
        let c = Challenge::parse(
            r#"Digest realm="sipwake.test", nonce="abc,def", qop="auth,auth-int""#,
        )
        .unwrap();
        assert_eq!(
            (c.realm.as_str(), c.nonce.as_str(), c.qop_auth),
            ("sipwake.test", "abc,def", true)
        );
        let m = Msg::parse(b"SIP/2.0 401 Unauthorized\r\nv: a\r\nVia: b\r\n x\r\nl: 2\r\n\r\nhi")
            .unwrap();
        assert_eq!(m.status(), Some(401));
        assert_eq!(m.header_all("via"), vec!["a", "b x"]);
        assert_eq!(m.body, b"hi");
    }

    #[test]
    fn frames_stream() {
        assert_eq!(frame(b"\r\n\r\nOPT").unwrap(), Some(4));
        assert_eq!(frame(b"A\r\nContent-Length: 3\r\n\r\nab").unwrap(), None);
        assert_eq!(frame(b"A\r\nl: 3\r\n\r\nabcX").unwrap(), Some(14));
    }
}

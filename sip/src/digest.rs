//! HTTP Digest for SIP (RFC 2617 / RFC 7616 with MD5, qop=auth or none;
//! RFC 3261 §22.4). The gateway stores HA1 = MD5(user:realm:password)
//! (the X-PIID), so everything here starts from HA1, never a password.

use md5::{Digest, Md5};
use thiserror::Error;

use crate::auth::{AuthValue, quote};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DigestError {
    #[error("{0}")]
    Syntax(#[from] crate::error::HeaderError),
    #[error("not a Digest value")]
    NotDigest,
    #[error("missing Digest parameter {0}")]
    Missing(&'static str),
    #[error("unsupported algorithm {0} (only MD5)")]
    Algorithm(String),
    #[error("unsupported qop (only auth)")]
    Qop,
}

/// A WWW-Authenticate / Proxy-Authenticate Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Option<String>,
    /// qop options offered (empty = RFC 2069 style, no qop).
    pub qop: Vec<String>,
    pub stale: bool,
}

/// An Authorization / Proxy-Authorization Digest value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub opaque: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
}

fn check_alg(a: &Option<String>) -> Result<(), DigestError> {
    match a {
        Some(a) if !a.eq_ignore_ascii_case("MD5") => Err(DigestError::Algorithm(a.clone())),
        _ => Ok(()),
    }
}

impl Challenge {
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        let v = AuthValue::parse(value, "WWW-Authenticate")?;
        if !v.is_digest() {
            return Err(DigestError::NotDigest);
        }
        let get = |n| v.get(n).map(|c| c.into_owned());
        let c = Challenge {
            realm: get("realm").ok_or(DigestError::Missing("realm"))?,
            nonce: get("nonce").ok_or(DigestError::Missing("nonce"))?,
            opaque: get("opaque"),
            algorithm: get("algorithm"),
            qop: get("qop")
                .map(|q| {
                    q.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        };
        check_alg(&c.algorithm)?;
        Ok(c)
    }

    /// A challenge header value offering qop=auth with MD5.
    pub fn to_header_value(&self) -> String {
        let mut s = format!(
            "Digest realm={}, nonce={}",
            quote(&self.realm),
            quote(&self.nonce)
        );
        if let Some(o) = &self.opaque {
            s.push_str(&format!(", opaque={}", quote(o)));
        }
        s.push_str(", algorithm=MD5");
        if !self.qop.is_empty() {
            s.push_str(&format!(", qop={}", quote(&self.qop.join(","))));
        }
        if self.stale {
            s.push_str(", stale=true");
        }
        s
    }
}

impl Credentials {
    pub fn parse(value: &str) -> Result<Credentials, DigestError> {
        let v = AuthValue::parse(value, "Authorization")?;
        if !v.is_digest() {
            return Err(DigestError::NotDigest);
        }
        let get = |n| v.get(n).map(|c| c.into_owned());
        let c = Credentials {
            username: get("username").ok_or(DigestError::Missing("username"))?,
            realm: get("realm").ok_or(DigestError::Missing("realm"))?,
            nonce: get("nonce").ok_or(DigestError::Missing("nonce"))?,
            uri: get("uri").ok_or(DigestError::Missing("uri"))?,
            response: get("response").ok_or(DigestError::Missing("response"))?,
            algorithm: get("algorithm"),
            opaque: get("opaque"),
            qop: get("qop"),
            nc: get("nc"),
            cnonce: get("cnonce"),
        };
        check_alg(&c.algorithm)?;
        Ok(c)
    }

    /// Header value (for `Authorization:` / `Proxy-Authorization:`).
    pub fn to_header_value(&self) -> String {
        let mut s = format!(
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm=MD5",
            quote(&self.username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(&self.uri),
            quote(&self.response)
        );
        if let Some(o) = &self.opaque {
            s.push_str(&format!(", opaque={}", quote(o)));
        }
        if let (Some(q), Some(nc), Some(cn)) = (&self.qop, &self.nc, &self.cnonce) {
            s.push_str(&format!(", qop={q}, nc={nc}, cnonce={}", quote(cn)));
        }
        s
    }
}

fn md5_hex(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p.as_bytes());
    }
    let mut out = String::with_capacity(32);
    for b in h.finalize() {
        out.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        out.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
    }
    out
}

/// HA1 = MD5(username:realm:password), lowercase hex.
pub fn ha1(username: &str, realm: &str, password: &str) -> String {
    md5_hex(&[username, realm, password])
}

/// The request-digest. `qop` is `Some((nc, cnonce))` for qop=auth, `None`
/// for the RFC 2069 form.
pub fn response(
    ha1: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(&str, &str)>,
) -> String {
    let ha2 = md5_hex(&[method, uri]);
    let ha1 = ha1.to_ascii_lowercase();
    match qop {
        Some((nc, cnonce)) => md5_hex(&[&ha1, nonce, nc, cnonce, "auth", &ha2]),
        None => md5_hex(&[&ha1, nonce, &ha2]),
    }
}

/// Answers a challenge: builds the credentials for `method uri`, using
/// qop=auth when offered (with `cnonce` and nonce count `nc`).
pub fn answer(
    challenge: &Challenge,
    username: &str,
    ha1: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> Result<Credentials, DigestError> {
    let use_qop = challenge.qop.iter().any(|q| q.eq_ignore_ascii_case("auth"));
    if !challenge.qop.is_empty() && !use_qop {
        return Err(DigestError::Qop);
    }
    let nc = format!("{nc:08x}");
    let resp = response(
        ha1,
        method,
        uri,
        &challenge.nonce,
        use_qop.then_some((nc.as_str(), cnonce)),
    );
    Ok(Credentials {
        username: username.to_owned(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: uri.to_owned(),
        response: resp,
        algorithm: Some("MD5".into()),
        opaque: challenge.opaque.clone(),
        qop: use_qop.then(|| "auth".to_owned()),
        nc: use_qop.then(|| nc.clone()),
        cnonce: use_qop.then(|| cnonce.to_owned()),
    })
}

/// Checks credentials against the stored HA1 for `method` (constant-time
/// comparison of the digest). Nonce freshness is the caller's business.
pub fn verify(creds: &Credentials, ha1: &str, method: &str) -> bool {
    let qop = match (&creds.qop, &creds.nc, &creds.cnonce) {
        (Some(q), Some(nc), Some(cn)) if q.eq_ignore_ascii_case("auth") => {
            Some((nc.as_str(), cn.as_str()))
        }
        (None, _, _) => None,
        _ => return false,
    };
    let expected = response(ha1, method, &creds.uri, &creds.nonce, qop);
    let given = creds.response.to_ascii_lowercase();
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 2617 §3.5 example.
    const CHALLENGE: &str = r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

    #[test]
    fn rfc2617_example() {
        let c = Challenge::parse(CHALLENGE).unwrap();
        let h = ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        let cr = answer(&c, "Mufasa", &h, "GET", "/dir/index.html", "0a4f113b", 1).unwrap();
        assert_eq!(cr.response, "6629fae49393a05397450978507c4ef1");
        assert_eq!(cr.nc.as_deref(), Some("00000001"));
        let back = Credentials::parse(&cr.to_header_value()).unwrap();
        assert_eq!(back, cr);
        assert!(verify(&back, &h, "GET"));
        assert!(!verify(&back, &h, "POST"));
        assert!(!verify(
            &back,
            &ha1("Mufasa", "testrealm@host.com", "x"),
            "GET"
        ));
    }

    #[test]
    fn rfc2069_form_and_errors() {
        let c = Challenge::parse(r#"Digest realm="r", nonce="n""#).unwrap();
        let h = ha1("u", "r", "p");
        let cr = answer(&c, "u", &h, "REGISTER", "sip:r", "c", 1).unwrap();
        assert_eq!(cr.qop, None);
        assert!(verify(&cr, &h, "REGISTER"));
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Err(DigestError::NotDigest)
        );
        assert!(matches!(
            Challenge::parse(r#"Digest realm="r", nonce="n", algorithm=SHA-256"#),
            Err(DigestError::Algorithm(_))
        ));
        let c = Challenge::parse(r#"Digest realm="r", nonce="n", qop="auth-int""#).unwrap();
        assert_eq!(
            answer(&c, "u", &h, "REGISTER", "sip:r", "c", 1),
            Err(DigestError::Qop)
        );
        let chal = Challenge {
            realm: "r".into(),
            nonce: "n".into(),
            opaque: None,
            algorithm: None,
            qop: vec!["auth".into()],
            stale: true,
        };
        let back = Challenge::parse(&chal.to_header_value()).unwrap();
        assert_eq!(back.qop, ["auth"]);
        assert!(back.stale);
    }
}

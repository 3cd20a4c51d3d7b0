//! HTTP Digest for SIP (RFC 3261 §22.4, RFC 7616, RFC 8760): MD5, SHA-256
//! and SHA-512/256, qop=auth or none (no `-sess` variants, no auth-int).
//! Everything starts from HA1 = H(user:realm:password), never a password:
//! the gateway stores HA1s (the X-PIID), not secrets it could reuse.

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};
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
    #[error("unsupported algorithm {0} (MD5, SHA-256, SHA-512-256)")]
    Algorithm(String),
    #[error("unsupported qop (only auth)")]
    Qop,
}

/// A Digest hash algorithm (RFC 7616 §3.2, the IANA names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Algorithm {
    /// RFC 2617's, and the default when a challenge names none.
    #[default]
    Md5,
    Sha256,
    Sha512_256,
}

impl Algorithm {
    pub const ALL: [Algorithm; 3] = [Algorithm::Md5, Algorithm::Sha256, Algorithm::Sha512_256];

    /// The name in `algorithm=` (case-insensitive on input).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha512_256 => "SHA-512-256",
        }
    }

    pub fn parse(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Hex digits of a hash (and of an HA1): 32 for MD5, 64 for the SHAs.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 | Algorithm::Sha512_256 => 64,
        }
    }

    /// HA1 = H(username:realm:password), lowercase hex.
    pub fn ha1(self, username: &str, realm: &str, password: &str) -> String {
        self.hex(&[username, realm, password])
    }

    /// H(parts joined by `:`), lowercase hex.
    fn hex(self, parts: &[&str]) -> String {
        fn run<D: Digest>(parts: &[&str]) -> String {
            let mut h = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    h.update(b":");
                }
                h.update(p.as_bytes());
            }
            let mut out = String::new();
            for b in h.finalize() {
                out.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
                out.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
            }
            out
        }
        match self {
            Algorithm::Md5 => run::<Md5>(parts),
            Algorithm::Sha256 => run::<Sha256>(parts),
            Algorithm::Sha512_256 => run::<Sha512_256>(parts),
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A WWW-Authenticate / Proxy-Authenticate Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
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
    pub algorithm: Algorithm,
    pub opaque: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
}

/// `algorithm=` as given; absent = MD5 (RFC 7616 §3.3).
fn algorithm_of(a: Option<String>) -> Result<Algorithm, DigestError> {
    match a {
        None => Ok(Algorithm::Md5),
        Some(a) => Algorithm::parse(&a).ok_or(DigestError::Algorithm(a)),
    }
}

impl Challenge {
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        let v = AuthValue::parse(value, "WWW-Authenticate")?;
        if !v.is_digest() {
            return Err(DigestError::NotDigest);
        }
        let get = |n| v.get(n).map(|c| c.into_owned());
        Ok(Challenge {
            realm: get("realm").ok_or(DigestError::Missing("realm"))?,
            nonce: get("nonce").ok_or(DigestError::Missing("nonce"))?,
            opaque: get("opaque"),
            algorithm: algorithm_of(get("algorithm"))?,
            qop: get("qop")
                .map(|q| {
                    q.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The challenge header value (its algorithm always named).
    pub fn to_header_value(&self) -> String {
        let mut s = format!(
            "Digest realm={}, nonce={}",
            quote(&self.realm),
            quote(&self.nonce)
        );
        if let Some(o) = &self.opaque {
            s.push_str(&format!(", opaque={}", quote(o)));
        }
        s.push_str(&format!(", algorithm={}", self.algorithm));
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
        Ok(Credentials {
            username: get("username").ok_or(DigestError::Missing("username"))?,
            realm: get("realm").ok_or(DigestError::Missing("realm"))?,
            nonce: get("nonce").ok_or(DigestError::Missing("nonce"))?,
            uri: get("uri").ok_or(DigestError::Missing("uri"))?,
            response: get("response").ok_or(DigestError::Missing("response"))?,
            algorithm: algorithm_of(get("algorithm"))?,
            opaque: get("opaque"),
            qop: get("qop"),
            nc: get("nc"),
            cnonce: get("cnonce"),
        })
    }

    /// Header value (for `Authorization:` / `Proxy-Authorization:`).
    pub fn to_header_value(&self) -> String {
        let mut s = format!(
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
            quote(&self.username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(&self.uri),
            quote(&self.response),
            self.algorithm
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

/// The MD5 HA1 = MD5(username:realm:password), lowercase hex: what the
/// manual's X-PIID carries. Other algorithms: [`Algorithm::ha1`].
pub fn ha1(username: &str, realm: &str, password: &str) -> String {
    Algorithm::Md5.ha1(username, realm, password)
}

/// The request-digest with `alg`. `qop` is `Some((nc, cnonce))` for
/// qop=auth, `None` for the RFC 2069 form.
pub fn response(
    alg: Algorithm,
    ha1: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(&str, &str)>,
) -> String {
    let ha2 = alg.hex(&[method, uri]);
    let ha1 = ha1.to_ascii_lowercase();
    match qop {
        Some((nc, cnonce)) => alg.hex(&[&ha1, nonce, nc, cnonce, "auth", &ha2]),
        None => alg.hex(&[&ha1, nonce, &ha2]),
    }
}

/// Answers a challenge: builds the credentials for `method uri` with the
/// challenge's algorithm (`ha1` must be for that algorithm), using
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
        challenge.algorithm,
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
        algorithm: challenge.algorithm,
        opaque: challenge.opaque.clone(),
        qop: use_qop.then(|| "auth".to_owned()),
        nc: use_qop.then(|| nc.clone()),
        cnonce: use_qop.then(|| cnonce.to_owned()),
    })
}

/// Checks credentials against the stored HA1 for `method` (constant-time
/// comparison of the digest); `ha1` must be for `creds.algorithm`. Nonce
/// freshness is the caller's business.
pub fn verify(creds: &Credentials, ha1: &str, method: &str) -> bool {
    let qop = match (&creds.qop, &creds.nc, &creds.cnonce) {
        (Some(q), Some(nc), Some(cn)) if q.eq_ignore_ascii_case("auth") => {
            Some((nc.as_str(), cn.as_str()))
        }
        (None, _, _) => None,
        _ => return false,
    };
    let expected = response(creds.algorithm, ha1, method, &creds.uri, &creds.nonce, qop);
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
            Challenge::parse(r#"Digest realm="r", nonce="n", algorithm=SHA-256-sess"#),
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
            algorithm: Algorithm::Md5,
            qop: vec!["auth".into()],
            stale: true,
        };
        let back = Challenge::parse(&chal.to_header_value()).unwrap();
        assert_eq!(back.qop, ["auth"]);
        assert!(back.stale);
    }

    /// RFC 7616 §3.9.1: the same request answered with SHA-256 and MD5.
    #[test]
    fn rfc7616_examples() {
        let challenge = |alg: &str| {
            Challenge::parse(&format!(
                r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
            ))
            .unwrap()
        };
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        for (alg, expect) in [
            (
                Algorithm::Sha256,
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
            (Algorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
        ] {
            let c = challenge(alg.name());
            assert_eq!(c.algorithm, alg);
            let h = alg.ha1("Mufasa", "http-auth@example.org", "Circle of Life");
            assert_eq!(h.len(), alg.hex_len());
            let cr = answer(&c, "Mufasa", &h, "GET", "/dir/index.html", cnonce, 1).unwrap();
            assert_eq!(cr.response, expect, "{alg}");
            let back = Credentials::parse(&cr.to_header_value()).unwrap();
            assert_eq!(back.algorithm, alg);
            assert!(verify(&back, &h, "GET"));
            // An HA1 of another algorithm never verifies.
            let other =
                Algorithm::Sha512_256.ha1("Mufasa", "http-auth@example.org", "Circle of Life");
            assert!(!verify(&back, &other, "GET"));
        }
    }

    #[test]
    fn sha_512_256_round_trip_and_names() {
        let c =
            Challenge::parse(r#"Digest realm="r", nonce="n", algorithm=sha-512-256, qop="auth""#)
                .unwrap();
        assert_eq!(c.algorithm, Algorithm::Sha512_256);
        assert!(c.to_header_value().contains("algorithm=SHA-512-256"));
        let h = Algorithm::Sha512_256.ha1("u", "r", "p");
        assert_eq!(h.len(), 64);
        assert_ne!(h, Algorithm::Sha256.ha1("u", "r", "p"));
        let cr = answer(&c, "u", &h, "REGISTER", "sip:r", "c", 1).unwrap();
        assert!(verify(
            &Credentials::parse(&cr.to_header_value()).unwrap(),
            &h,
            "REGISTER"
        ));
        assert_eq!(Algorithm::parse("md5"), Some(Algorithm::Md5));
        assert_eq!(Algorithm::parse("SHA-1"), None);
    }
}

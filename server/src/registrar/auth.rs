//! Digest authentication for the standalone registrar (RFC 3261 §22,
//! RFC 7616 / RFC 8760: MD5, SHA-256, SHA-512-256 with qop=auth or no qop;
//! one challenge per configured algorithm, in order of preference). Nonces
//! are stateless: a timestamp plus a MAC, valid for [`NONCE_TTL_SECS`].

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sipwake_sip::Message;
use sipwake_sip::digest::{self, Algorithm};

pub const NONCE_TTL_SECS: u64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read users file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("users file line {line}: {what}")]
    Line { line: usize, what: &'static str },
    #[error(
        "user {user} has only an MD5 HA1 (`ha1:` line), which [registrar] digest_algorithms does not offer: add MD5 or give the password"
    )]
    NoUsableHa1 { user: String },
}

/// `user → algorithm → HA1` (hex H(`user:realm:password`)): every
/// algorithm for a password line, MD5 only for an `ha1:` line.
#[derive(Clone, Default)]
pub struct Users {
    ha1: HashMap<String, BTreeMap<Algorithm, String>>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Users({} entries)", self.ha1.len())
    }
}

impl Users {
    pub fn load(path: &Path, realm: &str) -> Result<Users, UsersError> {
        let text = std::fs::read_to_string(path).map_err(|source| UsersError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Users::parse(&text, realm)
    }

    /// Lines `user:password` or `user:ha1:<32 hex>`; `#` comments and blank
    /// lines are skipped.
    pub fn parse(text: &str, realm: &str) -> Result<Users, UsersError> {
        let mut ha1 = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |what| UsersError::Line { line: i + 1, what };
            let (user, rest) = line.split_once(':').ok_or(err("expected user:password"))?;
            if user.is_empty() {
                return Err(err("empty user name"));
            }
            let hashes = match rest.strip_prefix("ha1:") {
                Some(h) if h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    BTreeMap::from([(Algorithm::Md5, h.to_ascii_lowercase())])
                }
                Some(_) => return Err(err("ha1 must be 32 hex digits")),
                None => Algorithm::ALL
                    .into_iter()
                    .map(|a| (a, a.ha1(user, realm, rest)))
                    .collect(),
            };
            ha1.insert(user.to_owned(), hashes);
        }
        Ok(Users { ha1 })
    }

    pub fn contains(&self, user: &str) -> bool {
        self.ha1.contains_key(user)
    }

    pub fn len(&self) -> usize {
        self.ha1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ha1.is_empty()
    }
}

/// The outcome of checking a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Valid credentials for this user.
    Ok(String),
    /// Missing or wrong credentials: challenge (stale = the nonce expired).
    Challenge { stale: bool },
}

pub struct DigestAuth {
    pub realm: String,
    users: Users,
    /// Offered in this order of preference (`[registrar] digest_algorithms`).
    algorithms: Vec<Algorithm>,
    key: [u8; 32],
}

impl DigestAuth {
    /// Refuses users none of whose HA1s an offered algorithm can check.
    pub fn new(
        realm: String,
        users: Users,
        algorithms: Vec<Algorithm>,
    ) -> Result<DigestAuth, UsersError> {
        if let Some(user) = users
            .ha1
            .iter()
            .find(|(_, h)| !algorithms.iter().any(|a| h.contains_key(a)))
            .map(|(u, _)| u.clone())
        {
            return Err(UsersError::NoUsableHa1 { user });
        }
        Ok(DigestAuth {
            realm,
            users,
            algorithms,
            key: rand::random(),
        })
    }

    pub fn users(&self) -> &Users {
        &self.users
    }

    fn nonce_mac(&self, ts: u64) -> String {
        let mut m =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        m.update(&ts.to_be_bytes());
        hex::encode(&m.finalize().into_bytes()[..12])
    }

    pub fn nonce(&self, now_secs: u64) -> String {
        format!("{now_secs:016x}{}", self.nonce_mac(now_secs))
    }

    /// `Some(true)` valid and fresh, `Some(false)` ours but expired.
    fn nonce_state(&self, nonce: &str, now_secs: u64) -> Option<bool> {
        if nonce.len() != 16 + 24 || !nonce.is_ascii() {
            return None;
        }
        let ts = u64::from_str_radix(&nonce[..16], 16).ok()?;
        (self.nonce_mac(ts) == nonce[16..])
            .then_some(now_secs.saturating_sub(ts) <= NONCE_TTL_SECS && ts <= now_secs + 5)
    }

    /// The WWW-Authenticate values to send, one per offered algorithm in
    /// order of preference (RFC 8760 §2.4), sharing one nonce.
    pub fn challenges(&self, stale: bool, now_secs: u64) -> Vec<String> {
        let nonce = self.nonce(now_secs);
        self.algorithms
            .iter()
            .map(|a| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={a}, qop=\"auth\"{}",
                    self.realm,
                    if stale { ", stale=true" } else { "" }
                )
            })
            .collect()
    }

    /// Checks the request's `Authorization` fields for our realm (parsing
    /// and the constant-time check are sipwake-sip's digest module).
    pub fn check(&self, req: &Message, now_secs: u64) -> AuthOutcome {
        let method = req.method().unwrap_or("");
        let mut stale = false;
        for value in req.headers_named("Authorization").map(|h| h.value) {
            // Not Digest, a field missing, or an unknown algorithm.
            let Ok(creds) = digest::Credentials::parse(value) else {
                continue;
            };
            if creds.realm != self.realm || !self.algorithms.contains(&creds.algorithm) {
                continue;
            }
            let Some(ha1) = self
                .users
                .ha1
                .get(&creds.username)
                .and_then(|h| h.get(&creds.algorithm))
            else {
                continue;
            };
            let Some(fresh) = self.nonce_state(&creds.nonce, now_secs) else {
                continue;
            };
            if !digest::verify(&creds, ha1, method) {
                continue;
            }
            if !fresh {
                stale = true;
                continue;
            }
            return AuthOutcome::Ok(creds.username);
        }
        AuthOutcome::Challenge { stale }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn req_with(auth: &str) -> Message {
        Message::parse(Bytes::from(format!(
            "REGISTER sip:gw SIP/2.0\r\nVia: SIP/2.0/UDP c;branch=z9hG4bK1\r\nFrom: <sip:alice@gw>;tag=1\r\nTo: <sip:alice@gw>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\n{auth}Content-Length: 0\r\n\r\n"
        )))
        .unwrap()
    }

    fn md5_hex(s: &str) -> String {
        use md5::{Digest, Md5};
        hex::encode(Md5::digest(s.as_bytes()))
    }

    fn sha256_hex(s: &str) -> String {
        use sha2::Digest;
        hex::encode(Sha256::digest(s.as_bytes()))
    }

    /// What a UA computes (RFC 7616 §3.4.1), spelled out independently of
    /// sipwake-sip's digest module so the check is not circular.
    pub(crate) fn answer(user: &str, pass: &str, realm: &str, nonce: &str, uri: &str) -> String {
        answer_with("MD5", md5_hex, user, pass, realm, nonce, uri)
    }

    fn answer_with(
        alg: &str,
        h: fn(&str) -> String,
        user: &str,
        pass: &str,
        realm: &str,
        nonce: &str,
        uri: &str,
    ) -> String {
        let ha1 = h(&format!("{user}:{realm}:{pass}"));
        let ha2 = h(&format!("REGISTER:{uri}"));
        let resp = h(&format!("{ha1}:{nonce}:00000001:abc:auth:{ha2}"));
        format!(
            "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", qop=auth, nc=00000001, cnonce=\"abc\", algorithm={alg}\r\n"
        )
    }

    #[test]
    fn users_file_forms() {
        let u = Users::parse(
            "# c\nalice:secret\nbob:ha1:0123456789abcdef0123456789ABCDEF\n\n",
            "r",
        )
        .unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u.ha1["alice"][&Algorithm::Md5], md5_hex("alice:r:secret"));
        assert_eq!(
            u.ha1["alice"][&Algorithm::Sha256],
            sha256_hex("alice:r:secret")
        );
        assert_eq!(u.ha1["alice"].len(), 3);
        assert_eq!(
            u.ha1["bob"],
            BTreeMap::from([(Algorithm::Md5, "0123456789abcdef0123456789abcdef".into())])
        );
        assert!(matches!(
            Users::parse("nocolon\n", "r"),
            Err(UsersError::Line { line: 1, .. })
        ));
        assert!(Users::parse("x:ha1:zz\n", "r").is_err());
    }

    #[test]
    fn digest_accepts_right_password_only() {
        let auth = DigestAuth::new(
            "sipwake".into(),
            Users::parse("alice:secret\n", "sipwake").unwrap(),
            vec![Algorithm::Md5],
        )
        .unwrap();
        let now = 1_000_000;
        let nonce = auth.nonce(now);
        assert_eq!(
            auth.check(&req_with(""), now),
            AuthOutcome::Challenge { stale: false }
        );
        let good = req_with(&answer("alice", "secret", "sipwake", &nonce, "sip:gw"));
        assert_eq!(auth.check(&good, now + 10), AuthOutcome::Ok("alice".into()));
        let bad = req_with(&answer("alice", "wrong", "sipwake", &nonce, "sip:gw"));
        assert_eq!(
            auth.check(&bad, now),
            AuthOutcome::Challenge { stale: false }
        );
        assert_eq!(
            auth.check(&good, now + NONCE_TTL_SECS + 1),
            AuthOutcome::Challenge { stale: true }
        );
        let forged = req_with(&answer(
            "alice",
            "secret",
            "sipwake",
            "00000000000f4240ffffffffffffffffffffffff",
            "sip:gw",
        ));
        assert_eq!(
            auth.check(&forged, now),
            AuthOutcome::Challenge { stale: false }
        );
    }

    #[test]
    fn sha256_is_offered_first_and_checked_with_its_own_ha1() {
        let users = "alice:secret\nbob:ha1:0123456789abcdef0123456789abcdef\n";
        let auth = DigestAuth::new(
            "sipwake".into(),
            Users::parse(users, "sipwake").unwrap(),
            vec![Algorithm::Sha256, Algorithm::Md5],
        )
        .unwrap();
        let now = 1_000_000;
        let ch = auth.challenges(false, now);
        assert_eq!(ch.len(), 2);
        assert!(ch[0].contains("algorithm=SHA-256") && ch[1].contains("algorithm=MD5"));
        let nonce = auth.nonce(now);
        let sha = answer_with(
            "SHA-256", sha256_hex, "alice", "secret", "sipwake", &nonce, "sip:gw",
        );
        assert_eq!(
            auth.check(&req_with(&sha), now),
            AuthOutcome::Ok("alice".into())
        );
        let md5 = answer("alice", "secret", "sipwake", &nonce, "sip:gw");
        assert_eq!(
            auth.check(&req_with(&md5), now),
            AuthOutcome::Ok("alice".into())
        );
        // A SHA-256 answer computed with MD5 inside (wrong hash) fails.
        let mixed = answer_with(
            "SHA-256", md5_hex, "alice", "secret", "sipwake", &nonce, "sip:gw",
        );
        assert_eq!(
            auth.check(&req_with(&mixed), now),
            AuthOutcome::Challenge { stale: false }
        );
        // SHA-256 only: MD5 answers are refused, and an MD5-only user
        // cannot be served at all (refused at startup).
        let sha_only = DigestAuth::new(
            "sipwake".into(),
            Users::parse("alice:secret\n", "sipwake").unwrap(),
            vec![Algorithm::Sha256],
        )
        .unwrap();
        assert_eq!(
            sha_only.check(&req_with(&md5), now),
            AuthOutcome::Challenge { stale: false }
        );
        let e = DigestAuth::new(
            "sipwake".into(),
            Users::parse(users, "sipwake").unwrap(),
            vec![Algorithm::Sha256],
        )
        .err()
        .expect("bob has only an MD5 HA1");
        assert!(e.to_string().contains("bob"), "{e}");
    }
}

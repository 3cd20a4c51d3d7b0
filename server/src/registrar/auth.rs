//! Digest authentication for the standalone registrar (RFC 3261 §22,
//! RFC 2617 MD5 with qop=auth or no qop). Nonces are stateless: a
//! timestamp plus a MAC, valid for [`NONCE_TTL_SECS`].

use std::collections::HashMap;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sipwake_sip::{Message, digest};

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
}

/// `user → HA1` (hex MD5 of `user:realm:password`).
#[derive(Clone, Default)]
pub struct Users {
    ha1: HashMap<String, String>,
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
            let h = match rest.strip_prefix("ha1:") {
                Some(h) if h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    h.to_ascii_lowercase()
                }
                Some(_) => return Err(err("ha1 must be 32 hex digits")),
                None => digest::ha1(user, realm, rest),
            };
            ha1.insert(user.to_owned(), h);
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
    key: [u8; 32],
}

impl DigestAuth {
    pub fn new(realm: String, users: Users) -> DigestAuth {
        DigestAuth {
            realm,
            users,
            key: rand::random(),
        }
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

    /// The WWW-Authenticate value to send.
    pub fn challenge(&self, stale: bool, now_secs: u64) -> String {
        format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"{}",
            self.realm,
            self.nonce(now_secs),
            if stale { ", stale=true" } else { "" }
        )
    }

    /// Checks the request's `Authorization` fields for our realm (parsing
    /// and the constant-time check are sipwake-sip's digest module).
    pub fn check(&self, req: &Message, now_secs: u64) -> AuthOutcome {
        let method = req.method().unwrap_or("");
        let mut stale = false;
        for value in req.headers_named("Authorization").map(|h| h.value) {
            // Not Digest, a field missing, or an algorithm other than MD5.
            let Ok(creds) = digest::Credentials::parse(value) else {
                continue;
            };
            if creds.realm != self.realm {
                continue;
            }
            let Some(ha1) = self.users.ha1.get(&creds.username) else {
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

    /// What a UA computes (RFC 2617 §3.2.2), spelled out independently of
    /// sipwake-sip's digest module so the check is not circular.
    pub(crate) fn answer(user: &str, pass: &str, realm: &str, nonce: &str, uri: &str) -> String {
        let ha1 = md5_hex(&format!("{user}:{realm}:{pass}"));
        let ha2 = md5_hex(&format!("REGISTER:{uri}"));
        let resp = md5_hex(&format!("{ha1}:{nonce}:00000001:abc:auth:{ha2}"));
        format!(
            "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", qop=auth, nc=00000001, cnonce=\"abc\", algorithm=MD5\r\n"
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
        assert_eq!(u.ha1["alice"], md5_hex("alice:r:secret"));
        assert_eq!(u.ha1["bob"], "0123456789abcdef0123456789abcdef");
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
        );
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
}

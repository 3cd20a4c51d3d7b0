//! Digest authentication for the standalone registrar (RFC 3261 §22,
//! RFC 7616 / RFC 8760: MD5, SHA-256, SHA-512-256 with qop=auth or no qop;
//! one challenge per configured algorithm, in order of preference). Nonces
//! are a timestamp plus a MAC, valid for [`NONCE_TTL_SECS`]; each nonce
//! count is accepted once (a replayed Authorization is challenged again
//! with stale=true). A source IP with too many failed authentications is
//! banned for a while (`[limits]`).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sipwake_sip::Message;

use crate::config::LimitsConfig;
use crate::util::lock;
use sipwake_sip::digest::{self, Algorithm};

pub const NONCE_TTL_SECS: u64 = 300;
const NONCE_LEN: usize = 16 + 16 + 24;

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
    /// Missing or wrong credentials: challenge (stale = the nonce expired
    /// or was used already).
    Challenge { stale: bool },
    /// The source is banned for failed authentications (`[limits]`).
    Banned,
}

/// Bookkeeping above this many entries is pruned (and, if still too big,
/// forgotten): a flood of fresh sources or nonces cannot grow memory.
const MAX_TRACKED: usize = 100_000;

/// Per-source failures and bans, and the nonce counts already used.
#[derive(Default)]
struct Guard {
    /// Source → (window start, failures in it).
    failures: HashMap<IpAddr, (u64, u32)>,
    /// Source → banned until (unix seconds).
    bans: HashMap<IpAddr, u64>,
    /// Nonce → the highest nonce count accepted with it.
    used: HashMap<String, u32>,
}

pub struct DigestAuth {
    pub realm: String,
    users: Users,
    /// Offered in this order of preference (`[registrar] digest_algorithms`).
    algorithms: Vec<Algorithm>,
    key: [u8; 32],
    limits: LimitsConfig,
    guard: Mutex<Guard>,
    /// Sources banned so far.
    bans: std::sync::atomic::AtomicU64,
}

impl DigestAuth {
    /// Refuses users none of whose HA1s an offered algorithm can check.
    pub fn new(
        realm: String,
        users: Users,
        algorithms: Vec<Algorithm>,
        limits: LimitsConfig,
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
            limits,
            guard: Mutex::default(),
            bans: Default::default(),
        })
    }

    pub fn users(&self) -> &Users {
        &self.users
    }

    /// MAC over the nonce's timestamp and random part.
    fn nonce_mac(&self, head: &str) -> String {
        let mut m =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        m.update(head.as_bytes());
        hex::encode(&m.finalize().into_bytes()[..12])
    }

    /// A fresh nonce: timestamp (16 hex), 8 random bytes (16 hex), MAC (24
    /// hex). Unique per challenge, so a nonce count is one client's.
    pub fn nonce(&self, now_secs: u64) -> String {
        let head = format!("{now_secs:016x}{:016x}", rand::random::<u64>());
        let mac = self.nonce_mac(&head);
        head + &mac
    }

    /// `Some(true)` valid and fresh, `Some(false)` ours but expired.
    fn nonce_state(&self, nonce: &str, now_secs: u64) -> Option<bool> {
        if nonce.len() != NONCE_LEN || !nonce.is_ascii() {
            return None;
        }
        let ts = u64::from_str_radix(&nonce[..16], 16).ok()?;
        (self.nonce_mac(&nonce[..32]) == nonce[32..])
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
    /// Sources banned so far (`[limits] auth_failures`).
    pub fn bans(&self) -> u64 {
        self.bans.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn check(&self, req: &Message, now_secs: u64, from: IpAddr) -> AuthOutcome {
        if self.banned(from, now_secs) {
            return AuthOutcome::Banned;
        }
        let method = req.method().unwrap_or("");
        let mut stale = false;
        let mut failed = false;
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
                // An unknown user answering our realm: guessing names.
                failed = true;
                continue;
            };
            let Some(fresh) = self.nonce_state(&creds.nonce, now_secs) else {
                continue;
            };
            if !digest::verify(&creds, ha1, method) {
                failed = true;
                continue;
            }
            if !fresh || !self.first_use(&creds, now_secs) {
                stale = true;
                continue;
            }
            return AuthOutcome::Ok(creds.username);
        }
        if failed && self.count_failure(from, now_secs) {
            return AuthOutcome::Banned;
        }
        AuthOutcome::Challenge { stale }
    }

    fn banned(&self, from: IpAddr, now: u64) -> bool {
        let mut g = lock(&self.guard);
        match g.bans.get(&from) {
            Some(until) if *until > now => true,
            Some(_) => {
                g.bans.remove(&from);
                false
            }
            None => false,
        }
    }

    /// Counts a failed authentication; `true` when it bans the source.
    fn count_failure(&self, from: IpAddr, now: u64) -> bool {
        let l = &self.limits;
        if l.auth_failures == 0 {
            return false;
        }
        let mut g = lock(&self.guard);
        if g.failures.len() >= MAX_TRACKED {
            g.failures
                .retain(|_, (start, _)| now.saturating_sub(*start) < l.auth_window_secs);
            if g.failures.len() >= MAX_TRACKED {
                g.failures.clear();
            }
        }
        let entry = g.failures.entry(from).or_insert((now, 0));
        if now.saturating_sub(entry.0) >= l.auth_window_secs {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 < l.auth_failures {
            return false;
        }
        g.failures.remove(&from);
        if g.bans.len() >= MAX_TRACKED {
            g.bans.retain(|_, until| *until > now);
        }
        g.bans.insert(from, now + l.ban_secs);
        self.bans.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(source = %from, failures = l.auth_failures, window_secs = l.auth_window_secs, ban_secs = l.ban_secs, "source banned: too many failed digest authentications");
        true
    }

    /// Whether this (nonce, nonce count) is new: qop=auth answers must
    /// count up, an answer without qop may use its nonce once.
    fn first_use(&self, creds: &digest::Credentials, now: u64) -> bool {
        let nc = match &creds.nc {
            Some(nc) => match u32::from_str_radix(nc, 16) {
                Ok(n) if n > 0 => n,
                _ => return false,
            },
            None => 1,
        };
        let mut g = lock(&self.guard);
        if g.used.len() >= MAX_TRACKED {
            // Only nonces still valid matter; the rest expire anyway.
            g.used.retain(|nonce, _| {
                u64::from_str_radix(&nonce[..16], 16)
                    .is_ok_and(|ts| now.saturating_sub(ts) <= NONCE_TTL_SECS)
            });
            if g.used.len() >= MAX_TRACKED {
                g.used.clear();
            }
        }
        match g.used.get_mut(&creds.nonce) {
            Some(last) if *last >= nc => false,
            Some(last) => {
                *last = nc;
                true
            }
            None => {
                g.used.insert(creds.nonce.clone(), nc);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn auth_of(users: &str, algorithms: Vec<Algorithm>, limits: LimitsConfig) -> DigestAuth {
        DigestAuth::new(
            "sipwake".into(),
            Users::parse(users, "sipwake").unwrap(),
            algorithms,
            limits,
        )
        .unwrap()
    }

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
        let auth = auth_of(
            "alice:secret\n",
            vec![Algorithm::Md5],
            LimitsConfig::default(),
        );
        let now = 1_000_000;
        let nonce = auth.nonce(now);
        assert_eq!(
            auth.check(&req_with(""), now, IP),
            AuthOutcome::Challenge { stale: false }
        );
        let good = req_with(&answer("alice", "secret", "sipwake", &nonce, "sip:gw"));
        assert_eq!(
            auth.check(&good, now + 10, IP),
            AuthOutcome::Ok("alice".into())
        );
        let bad = req_with(&answer("alice", "wrong", "sipwake", &nonce, "sip:gw"));
        assert_eq!(
            auth.check(&bad, now, IP),
            AuthOutcome::Challenge { stale: false }
        );
        assert_eq!(
            auth.check(&good, now + NONCE_TTL_SECS + 1, IP),
            AuthOutcome::Challenge { stale: true }
        );
        let forged = req_with(&answer(
            "alice",
            "secret",
            "sipwake",
            "00000000000f42400000000000000000ffffffffffffffffffffffff",
            "sip:gw",
        ));
        assert_eq!(
            auth.check(&forged, now, IP),
            AuthOutcome::Challenge { stale: false }
        );
    }

    #[test]
    fn sha256_is_offered_first_and_checked_with_its_own_ha1() {
        let users = "alice:secret\nbob:ha1:0123456789abcdef0123456789abcdef\n";
        let auth = auth_of(
            users,
            vec![Algorithm::Sha256, Algorithm::Md5],
            LimitsConfig::default(),
        );
        let now = 1_000_000;
        let ch = auth.challenges(false, now);
        assert_eq!(ch.len(), 2);
        assert!(ch[0].contains("algorithm=SHA-256") && ch[1].contains("algorithm=MD5"));
        let nonce = auth.nonce(now);
        let sha = answer_with(
            "SHA-256", sha256_hex, "alice", "secret", "sipwake", &nonce, "sip:gw",
        );
        assert_eq!(
            auth.check(&req_with(&sha), now, IP),
            AuthOutcome::Ok("alice".into())
        );
        // (A nonce count is good once: the MD5 answer uses the next nonce.)
        let nonce2 = auth.nonce(now + 1);
        let md5 = answer("alice", "secret", "sipwake", &nonce2, "sip:gw");
        assert_eq!(
            auth.check(&req_with(&md5), now + 1, IP),
            AuthOutcome::Ok("alice".into())
        );
        // A SHA-256 answer computed with MD5 inside (wrong hash) fails.
        let mixed = answer_with(
            "SHA-256", md5_hex, "alice", "secret", "sipwake", &nonce, "sip:gw",
        );
        assert_eq!(
            auth.check(&req_with(&mixed), now, IP),
            AuthOutcome::Challenge { stale: false }
        );
        // SHA-256 only: MD5 answers are refused, and an MD5-only user
        // cannot be served at all (refused at startup).
        let sha_only = auth_of(
            "alice:secret\n",
            vec![Algorithm::Sha256],
            LimitsConfig::default(),
        );
        assert_eq!(
            sha_only.check(&req_with(&md5), now, IP),
            AuthOutcome::Challenge { stale: false }
        );
        let e = DigestAuth::new(
            "sipwake".into(),
            Users::parse(users, "sipwake").unwrap(),
            vec![Algorithm::Sha256],
            LimitsConfig::default(),
        )
        .err()
        .expect("bob has only an MD5 HA1");
        assert!(e.to_string().contains("bob"), "{e}");
    }

    #[test]
    fn an_authorization_is_accepted_once_per_nonce_count() {
        let auth = auth_of(
            "alice:secret\n",
            vec![Algorithm::Md5],
            LimitsConfig::default(),
        );
        let now = 1_000_000;
        let nonce = auth.nonce(now);
        let good = req_with(&answer("alice", "secret", "sipwake", &nonce, "sip:gw"));
        assert_eq!(auth.check(&good, now, IP), AuthOutcome::Ok("alice".into()));
        // The same header again (nc=00000001): a replay, challenged afresh.
        assert_eq!(
            auth.check(&good, now + 1, IP),
            AuthOutcome::Challenge { stale: true }
        );
        // The next count with the same nonce is fine.
        let next = answer("alice", "secret", "sipwake", &nonce, "sip:gw")
            .replace("nc=00000001", "nc=00000002");
        let digest = |nc: &str| {
            use md5::{Digest, Md5};
            let h = |s: String| hex::encode(Md5::digest(s.as_bytes()));
            let ha1 = h("alice:sipwake:secret".into());
            let ha2 = h("REGISTER:sip:gw".into());
            h(format!("{ha1}:{nonce}:{nc}:abc:auth:{ha2}"))
        };
        let next = next.replace(&digest("00000001"), &digest("00000002"));
        assert_eq!(
            auth.check(&req_with(&next), now + 2, IP),
            AuthOutcome::Ok("alice".into())
        );
    }

    #[test]
    fn wrong_credentials_from_one_source_ban_it_and_only_it() {
        let limits = LimitsConfig {
            auth_failures: 3,
            auth_window_secs: 60,
            ban_secs: 600,
            ..LimitsConfig::default()
        };
        let auth = auth_of("alice:secret\n", vec![Algorithm::Md5], limits);
        let now = 1_000_000;
        let nonce = auth.nonce(now);
        let bad = req_with(&answer("alice", "guess", "sipwake", &nonce, "sip:gw"));
        let stranger = req_with(&answer("mallory", "x", "sipwake", &nonce, "sip:gw"));
        assert_eq!(
            auth.check(&bad, now, IP),
            AuthOutcome::Challenge { stale: false }
        );
        assert_eq!(
            auth.check(&stranger, now, IP),
            AuthOutcome::Challenge { stale: false }
        );
        assert_eq!(auth.check(&bad, now, IP), AuthOutcome::Banned);
        // Banned: even the right password is refused, for ban_secs.
        let good = req_with(&answer("alice", "secret", "sipwake", &nonce, "sip:gw"));
        assert_eq!(auth.check(&good, now + 10, IP), AuthOutcome::Banned);
        // Another source is not affected.
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(
            auth.check(&good, now + 10, other),
            AuthOutcome::Ok("alice".into())
        );
        // A request without credentials is not a failure.
        let before_ban_ends = now + 599;
        assert_eq!(
            auth.check(&req_with(""), before_ban_ends, IP),
            AuthOutcome::Banned
        );
        let fresh = auth.nonce(now + 601);
        let good = req_with(&answer("alice", "secret", "sipwake", &fresh, "sip:gw"));
        assert_eq!(
            auth.check(&good, now + 601, IP),
            AuthOutcome::Ok("alice".into())
        );
        // Failures spread wider than the window never ban.
        let quiet = auth_of(
            "alice:secret\n",
            vec![Algorithm::Md5],
            LimitsConfig {
                auth_failures: 2,
                ..LimitsConfig::default()
            },
        );
        for k in 0..5u64 {
            let t = now + k * 61;
            let bad = req_with(&answer(
                "alice",
                "guess",
                "sipwake",
                &quiet.nonce(t),
                "sip:gw",
            ));
            assert_eq!(
                quiet.check(&bad, t, IP),
                AuthOutcome::Challenge { stale: false }
            );
        }
    }
}

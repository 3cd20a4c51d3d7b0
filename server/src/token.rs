//! Opaque, HMAC-protected tokens carried in the user part of our own URIs
//! (Record-Route, Path). Nothing inside a token is trusted unless its MAC
//! verifies, so a client cannot steer requests to another client's flow.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::net::FlowId;

type HmacSha256 = Hmac<Sha256>;

/// Tag bytes in the MAC input keep the two token kinds apart.
const FLOW: &[u8] = b"sipwake-rr-v1";
const REG: &[u8] = b"sipwake-path-v1";
const MAC_LEN: usize = 10;

/// The token secret. The gateway keeps it in `data_dir` (see
/// `Config::data_files`) so
/// tokens held by upstreams and dialogs survive a restart.
#[derive(Clone)]
pub struct TokenKey([u8; 32]);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    pub fn random() -> TokenKey {
        TokenKey(rand::random())
    }

    pub fn from_bytes(b: [u8; 32]) -> TokenKey {
        TokenKey(b)
    }

    fn mac(&self, tag: &[u8], data: &[u8]) -> [u8; MAC_LEN] {
        // new_from_slice accepts any key length for HMAC.
        let mut m =
            <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(tag);
        m.update(data);
        let full = m.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// Record-Route token for a dialog between flow `a` (where the
    /// dialog-creating request came from) and flow `b` (where it went, when
    /// the target was a client flow).
    pub fn flow_token(&self, a: FlowId, b: Option<FlowId>) -> String {
        let mut data = Vec::with_capacity(17);
        data.extend_from_slice(&a.0.to_be_bytes());
        data.extend_from_slice(&b.map_or(0, |f| f.0).to_be_bytes());
        data.push(u8::from(b.is_some()));
        let mac = self.mac(FLOW, &data);
        format!("swf{}{}", hex::encode(&data), hex::encode(mac))
    }

    /// Decodes a Record-Route token; `None` if it is not ours or forged.
    pub fn parse_flow_token(&self, s: &str) -> Option<(FlowId, Option<FlowId>)> {
        let raw = hex::decode(s.strip_prefix("swf")?).ok()?;
        if raw.len() != 17 + MAC_LEN {
            return None;
        }
        let (data, mac) = raw.split_at(17);
        if !constant_eq(&self.mac(FLOW, data), mac) {
            return None;
        }
        let a = u64::from_be_bytes(data[..8].try_into().ok()?);
        let b = u64::from_be_bytes(data[8..16].try_into().ok()?);
        Some((FlowId(a), (data[16] == 1).then_some(FlowId(b))))
    }

    /// Path token for a client registration: deterministic for (AOR,
    /// instance), so a device re-registering on a new connection gets the
    /// same token and the upstream's existing binding keeps working.
    pub fn registration_token(&self, aor: &str, instance: &str) -> String {
        let mut data = Vec::with_capacity(aor.len() + instance.len() + 1);
        data.extend_from_slice(aor.as_bytes());
        data.push(0);
        data.extend_from_slice(instance.as_bytes());
        format!("swr{}", hex::encode(self.mac(REG, &data)))
    }
}

/// Whether `s` has the shape of a registration token (the table decides
/// whether it is known).
pub fn is_registration_token(s: &str) -> bool {
    s.len() == 3 + 2 * MAC_LEN
        && s.starts_with("swr")
        && s[3..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token key file could not be read or created.
#[derive(Debug, thiserror::Error)]
#[error("token key {path}: {source}")]
pub struct KeyFileError {
    pub path: std::path::PathBuf,
    pub source: std::io::Error,
}

/// Reads the 32-byte key, or creates it (mode 0600) with a random one.
pub fn load_or_create_key(path: &Path) -> Result<TokenKey, KeyFileError> {
    let err = |source| KeyFileError {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read(path) {
        Ok(b) => {
            let key: [u8; 32] = b.as_slice().try_into().map_err(|_| {
                err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "expected exactly 32 bytes",
                ))
            })?;
            return Ok(TokenKey(key));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let key = TokenKey::random();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = match opts.open(path) {
        Ok(f) => f,
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return load_or_create_key(path),
        Err(e) => return Err(err(e)),
    };
    std::io::Write::write_all(&mut f, &key.0).map_err(err)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_tokens_round_trip_and_reject_forgery() {
        let k = TokenKey::random();
        let t = k.flow_token(FlowId(7), Some(FlowId(u64::MAX)));
        assert_eq!(
            k.parse_flow_token(&t),
            Some((FlowId(7), Some(FlowId(u64::MAX))))
        );
        let t2 = k.flow_token(FlowId(1), None);
        assert_eq!(k.parse_flow_token(&t2), Some((FlowId(1), None)));
        // Flip one hex digit of the payload: MAC fails.
        let mut bad = t.clone().into_bytes();
        bad[5] = if bad[5] == b'0' { b'1' } else { b'0' };
        assert_eq!(k.parse_flow_token(std::str::from_utf8(&bad).unwrap()), None);
        assert_eq!(TokenKey::random().parse_flow_token(&t), None);
        assert_eq!(k.parse_flow_token("swfzz"), None);
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("sipwake-token-key-{}", std::process::id()));
        let path = dir.join("sub").join("sip-token.key");
        let a = load_or_create_key(&path).unwrap();
        let b = load_or_create_key(&path).unwrap();
        assert_eq!(
            a.registration_token("x", "y"),
            b.registration_token("x", "y")
        );
        std::fs::write(&path, b"short").unwrap();
        assert!(load_or_create_key(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn registration_tokens_are_stable_per_identity() {
        let k = TokenKey::from_bytes([3; 32]);
        let a = k.registration_token("sip:1111@x", "<urn:uuid:1>");
        assert_eq!(a, k.registration_token("sip:1111@x", "<urn:uuid:1>"));
        assert_ne!(a, k.registration_token("sip:1111@x", "<urn:uuid:2>"));
        assert!(is_registration_token(&a));
        assert!(!is_registration_token("swr00"));
    }
}

//! X-PIID encryption at rest: XChaCha20-Poly1305 with a random nonce per
//! write, the row's (aor, device) as associated data so a ciphertext cannot
//! be moved to another row.

use std::fs;
use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::StoreError;

const NONCE_LEN: usize = 24;

/// Encrypts and decrypts X-PIIDs with the store key.
#[derive(Clone)]
pub struct PiidCipher {
    aead: XChaCha20Poly1305,
}

impl std::fmt::Debug for PiidCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PiidCipher(<key>)")
    }
}

impl PiidCipher {
    pub fn new(key: [u8; 32]) -> Self {
        PiidCipher {
            aead: XChaCha20Poly1305::new(&key.into()),
        }
    }

    pub(crate) fn seal(&self, plaintext: &str, aad: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS random source is available");
        let ct = self
            .aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("encryption of a short string cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    pub(crate) fn open(&self, sealed: &[u8], aad: &str) -> Option<String> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let pt = self
            .aead
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(pt).ok()
    }
}

/// Reads the 32-byte key (64 hex chars) at `path`, or creates it with
/// random bytes and mode 0600 when the file does not exist.
pub fn load_or_create_key(path: &Path) -> Result<[u8; 32], StoreError> {
    let err = |reason: String| StoreError::Key {
        path: path.display().to_string(),
        reason,
    };
    match fs::read_to_string(path) {
        Ok(text) => parse_key(text.trim()).map_err(err),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| err(e.to_string()))?;
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(path).map_err(|e| err(e.to_string()))?;
            writeln!(f, "{}", hex::encode(key))
                .and_then(|_| f.sync_all())
                .map_err(|e| err(e.to_string()))?;
            Ok(key)
        }
        Err(e) => Err(err(e.to_string())),
    }
}

/// Parses a key given as 64 hex characters (config or key file).
pub fn parse_key(hex_key: &str) -> Result<[u8; 32], String> {
    let bytes =
        hex::decode(hex_key).map_err(|_| "the key must be 64 hex characters".to_string())?;
    bytes
        .try_into()
        .map_err(|_| "the key must be 64 hex characters (32 bytes)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let c = PiidCipher::new([7u8; 32]);
        let sealed = c.seal("abc123", "u@d|dev");
        assert_eq!(c.open(&sealed, "u@d|dev").as_deref(), Some("abc123"));
        assert_eq!(
            c.open(&sealed, "other@d|dev"),
            None,
            "a ciphertext must not move between rows"
        );
        assert_eq!(PiidCipher::new([8u8; 32]).open(&sealed, "u@d|dev"), None);
        assert!(!sealed.windows(6).any(|w| w == b"abc123"));
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("store.key");
        let k1 = load_or_create_key(&p).unwrap();
        let k2 = load_or_create_key(&p).unwrap();
        assert_eq!(k1, k2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        fs::write(&p, "nothex").unwrap();
        let e = load_or_create_key(&p).unwrap_err().to_string();
        assert!(e.contains("store.key") && e.contains("64 hex"), "{e}");
    }
}

//! Identifier generators: Via branches, tags, Call-IDs (RFC 3261 §8.1.1.7,
//! §19.3). Random parts come from the thread-local CSPRNG.

use md5::{Digest, Md5};

use crate::via::MAGIC_COOKIE;

const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// `n` random alphanumeric characters.
pub fn random_token(n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut pool = 0u64;
    let mut left = 0;
    for _ in 0..n {
        if left == 0 {
            pool = rand::random::<u64>();
            left = 10; // 10 × 6 bits from one u64
        }
        // 64 values → mod 62 has a negligible bias, acceptable for ids.
        out.push(ALPHABET[(pool & 63) as usize % 62] as char);
        pool >>= 6;
        left -= 1;
    }
    out
}

/// A fresh RFC 3261 branch: magic cookie + 22 random characters.
pub fn new_branch() -> String {
    let mut b = String::with_capacity(MAGIC_COOKIE.len() + 22);
    b.push_str(MAGIC_COOKIE);
    b.push_str(&random_token(22));
    b
}

/// A deterministic branch derived from the given parts, for stateless
/// forwarding where a retransmission must get the same branch
/// (RFC 3261 §16.11). Feed e.g. the incoming top Via branch and Request-URI.
pub fn stateless_branch(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let mut b = String::with_capacity(MAGIC_COOKIE.len() + 32);
    b.push_str(MAGIC_COOKIE);
    b.push_str("sl");
    for byte in h.finalize() {
        b.push(char::from(b"0123456789abcdef"[(byte >> 4) as usize]));
        b.push(char::from(b"0123456789abcdef"[(byte & 15) as usize]));
    }
    b
}

/// A From/To tag (RFC 3261 §19.3: at least 32 bits of randomness).
pub fn new_tag() -> String {
    random_token(16)
}

/// A Call-ID, `random@host` when a host is given.
pub fn new_call_id(host: Option<&str>) -> String {
    let mut id = random_token(24);
    if let Some(h) = host {
        id.push('@');
        id.push_str(h);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let b = new_branch();
        assert!(b.starts_with(MAGIC_COOKIE) && b.len() == 29);
        assert_ne!(new_branch(), new_branch());
        assert!(new_tag().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert!(new_call_id(Some("h")).ends_with("@h"));
        assert_eq!(stateless_branch(&["a", "b"]), stateless_branch(&["a", "b"]));
        assert_ne!(stateless_branch(&["a", "b"]), stateless_branch(&["ab", ""]));
    }
}

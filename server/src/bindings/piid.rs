//! `X-PIID`: the HA1s an app lends the gateway so that it can answer the
//! upstream's digest challenges for the app while it sleeps. The manual's
//! form is one MD5 HA1, 32 hex digits. For servers that challenge with RFC
//! 7616 / RFC 8760 algorithms an app may instead (or also) send
//! `SHA-256:<64 hex>` and `SHA-512-256:<64 hex>` items, comma-separated:
//! `X-PIID: 9e10…19d6, SHA-256:d7a8…9592`. The keeper answers each
//! challenge with the HA1 of its algorithm.

use sipwake_sip::digest::Algorithm;

/// Why an X-PIID value is not usable (it is then ignored, never stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PiidError {
    #[error("empty")]
    Empty,
    #[error("unknown algorithm {0:?} (MD5, SHA-256, SHA-512-256)")]
    Algorithm(String),
    #[error("{0} HA1 must be {1} hex digits")]
    Length(Algorithm, usize),
    #[error("{0} given twice")]
    Twice(Algorithm),
}

/// The stored form: a lone MD5 HA1 stays bare lowercase hex (the manual's
/// form, and what stores written before the other algorithms hold);
/// anything else is `ALG:hex` items joined by `,`.
pub fn normalize(value: &str) -> Result<String, PiidError> {
    let mut items: Vec<(Algorithm, String)> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (alg, hex) = match item.split_once(':') {
            Some((name, hex)) => (
                Algorithm::parse(name).ok_or_else(|| PiidError::Algorithm(name.trim().into()))?,
                hex.trim(),
            ),
            None => (Algorithm::Md5, item),
        };
        if hex.len() != alg.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PiidError::Length(alg, alg.hex_len()));
        }
        if items.iter().any(|(a, _)| *a == alg) {
            return Err(PiidError::Twice(alg));
        }
        items.push((alg, hex.to_ascii_lowercase()));
    }
    match items.as_slice() {
        [] => Err(PiidError::Empty),
        [(Algorithm::Md5, hex)] => Ok(hex.clone()),
        _ => Ok(items
            .iter()
            .map(|(a, h)| format!("{a}:{h}"))
            .collect::<Vec<_>>()
            .join(",")),
    }
}

/// The HA1 for `alg` in a stored X-PIID ([`normalize`]d).
pub fn ha1_for(piid: &str, alg: Algorithm) -> Option<&str> {
    piid.split(',').find_map(|item| match item.split_once(':') {
        Some((name, hex)) => (Algorithm::parse(name) == Some(alg)).then_some(hex),
        None => (alg == Algorithm::Md5).then_some(item),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD5: &str = "9E107D9D372BB6826BD81D3542A419D6";
    const SHA: &str = "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592";

    #[test]
    fn the_manuals_form_stays_bare_and_others_are_labelled() {
        assert_eq!(normalize(MD5).unwrap(), MD5.to_ascii_lowercase());
        let both = normalize(&format!("{MD5}, sha-256:{SHA}")).unwrap();
        assert_eq!(
            both,
            format!("MD5:{},SHA-256:{SHA}", MD5.to_ascii_lowercase())
        );
        assert_eq!(ha1_for(&both, Algorithm::Sha256), Some(SHA));
        assert_eq!(
            ha1_for(&both, Algorithm::Md5),
            Some(&*MD5.to_ascii_lowercase())
        );
        assert_eq!(ha1_for(&both, Algorithm::Sha512_256), None);
        let bare = normalize(MD5).unwrap();
        assert_eq!(ha1_for(&bare, Algorithm::Md5), Some(&*bare));
        assert_eq!(ha1_for(&bare, Algorithm::Sha256), None);
        let sha_only = normalize(&format!("SHA-512-256:{SHA}")).unwrap();
        assert_eq!(ha1_for(&sha_only, Algorithm::Sha512_256), Some(SHA));
        assert_eq!(ha1_for(&sha_only, Algorithm::Md5), None);
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(normalize(" , "), Err(PiidError::Empty));
        assert_eq!(normalize("abc"), Err(PiidError::Length(Algorithm::Md5, 32)));
        assert_eq!(
            normalize(&format!("SHA-256:{MD5}")),
            Err(PiidError::Length(Algorithm::Sha256, 64))
        );
        assert_eq!(
            normalize(&format!("SHA-1:{SHA}")),
            Err(PiidError::Algorithm("SHA-1".into()))
        );
        assert_eq!(
            normalize(&format!("{MD5},MD5:{MD5}")),
            Err(PiidError::Twice(Algorithm::Md5))
        );
    }
}

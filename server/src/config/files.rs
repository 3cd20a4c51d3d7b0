//! The files the gateway keeps, each path resolved here once: configured,
//! or a default inside `data_dir` (docs/configuration.md).

use std::path::PathBuf;

use super::Config;

/// Where each kept file lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFiles {
    /// `[store] path`, default `<data_dir>/bindings.db`.
    pub store: PathBuf,
    /// The X-PIID sealing key when `[store] key` is empty.
    pub store_key: PathBuf,
    /// `[webpush] vapid_private_key`, default `<data_dir>/vapid-private.key`.
    pub vapid_private_key: PathBuf,
    /// The Path / Record-Route token key.
    pub token_key: PathBuf,
    /// The self-signed certificate and key (no `[sip] tls_cert`).
    pub self_signed_cert: PathBuf,
    pub self_signed_key: PathBuf,
    /// `[acme]`: the account (key and URL, JSON), the issued chain and its key.
    pub acme_account: PathBuf,
    pub acme_cert: PathBuf,
    pub acme_key: PathBuf,
}

impl Config {
    pub fn data_files(&self) -> DataFiles {
        let dir = &self.data_dir;
        let store = if self.store.path.as_os_str().is_empty() {
            dir.join("bindings.db")
        } else {
            self.store.path.clone()
        };
        // The provider's default names the default data dir; follow the
        // configured one.
        let default_vapid = sipwake_push::config::WebPushConfig::default().vapid_private_key;
        let vapid_private_key = if self.webpush.vapid_private_key == default_vapid {
            dir.join("vapid-private.key")
        } else {
            self.webpush.vapid_private_key.clone()
        };
        DataFiles {
            store,
            store_key: dir.join("store.key"),
            vapid_private_key,
            token_key: dir.join("sip-token.key"),
            self_signed_cert: dir.join("tls-cert.pem"),
            self_signed_key: dir.join("tls-key.pem"),
            acme_account: dir.join("acme-account.json"),
            acme_cert: dir.join("acme-cert.pem"),
            acme_key: dir.join("acme-key.pem"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_data_dir_and_configured_paths_win() {
        let mut c = Config {
            data_dir: PathBuf::from("/var/lib/sipwake"),
            ..Config::default()
        };
        let f = c.data_files();
        assert_eq!(f.store, PathBuf::from("/var/lib/sipwake/bindings.db"));
        assert_eq!(
            f.vapid_private_key,
            PathBuf::from("/var/lib/sipwake/vapid-private.key")
        );
        assert_eq!(f.token_key, PathBuf::from("/var/lib/sipwake/sip-token.key"));
        c.store.path = PathBuf::from("/db/b.db");
        c.webpush.vapid_private_key = PathBuf::from("/keys/v.pem");
        let f = c.data_files();
        assert_eq!(f.store, PathBuf::from("/db/b.db"));
        assert_eq!(f.vapid_private_key, PathBuf::from("/keys/v.pem"));
    }
}

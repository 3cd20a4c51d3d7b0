//! TLS material shared by SIP TLS and HTTPS: one rustls crypto provider (ring)
//! for the whole binary, the certificate from config or a self-signed one
//! persisted in the data dir, and the server / client rustls configs.
//!
//! Every TLS listener resolves its certificate through one [`Certificates`]
//! (a rustls `ResolvesServerCert`): a reloaded file or a certificate issued
//! by ACME is swapped in there and serves the next handshake, while
//! listeners and open connections stay as they are.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {reason}")]
    Read {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("certificate and key do not make a usable TLS config: {0}")]
    Config(#[from] rustls::Error),
}

/// Where the certificate came from, for the startup log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    Configured(PathBuf),
    Generated(PathBuf),
    Reused(PathBuf),
}

/// A certificate chain and its private key.
#[derive(Debug)]
pub struct TlsMaterial {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub source: CertSource,
}

/// Install ring as the process-wide rustls provider. Everything that builds a
/// rustls config (here, and reqwest in the push clients) then uses the same provider.
/// Idempotent: a second call (tests) is a no-op.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |reason: String| TlsError::Read {
        what: "certificate",
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no CERTIFICATE in PEM".into()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Read {
        what: "private key",
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The configured certificate, or the self-signed one in `data_dir`
/// (generated on first use, reused afterwards). `extra_host` (the advertise
/// host) is added to the SANs of a newly generated certificate.
pub fn load_or_generate(
    config: &Config,
    extra_host: Option<&str>,
) -> Result<TlsMaterial, TlsError> {
    let sip = &config.sip;
    if !sip.tls_cert.as_os_str().is_empty() {
        return Ok(TlsMaterial {
            certs: read_certs(&sip.tls_cert)?,
            key: read_key(&sip.tls_key)?,
            source: CertSource::Configured(sip.tls_cert.clone()),
        });
    }
    let files = config.data_files();
    let (cert_path, key_path) = (files.self_signed_cert, files.self_signed_key);
    if cert_path.exists() && key_path.exists() {
        return Ok(TlsMaterial {
            certs: read_certs(&cert_path)?,
            key: read_key(&key_path)?,
            source: CertSource::Reused(cert_path),
        });
    }
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Some(h) = extra_host.filter(|h| !names.iter().any(|n| n == h)) {
        names.push(h.to_string());
    }
    let generated = rcgen::generate_simple_self_signed(names)?;
    fs::create_dir_all(&config.data_dir).map_err(|source| TlsError::Write {
        path: config.data_dir.clone(),
        source,
    })?;
    write_file(
        &key_path,
        generated.signing_key.serialize_pem().as_bytes(),
        true,
    )?;
    write_file(&cert_path, generated.cert.pem().as_bytes(), false)?;
    Ok(TlsMaterial {
        certs: vec![generated.cert.der().clone()],
        key: PrivateKeyDer::try_from(generated.signing_key.serialize_der()).map_err(|e| {
            TlsError::Read {
                what: "generated key",
                path: key_path.clone(),
                reason: e.to_string(),
            }
        })?,
        source: CertSource::Generated(cert_path),
    })
}

/// Writes via a temporary file + rename so a crash never leaves half a key.
pub(crate) fn write_file(path: &Path, data: &[u8], private: bool) -> Result<(), TlsError> {
    let err = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = opts.open(&tmp).map_err(err)?;
    f.write_all(data).map_err(err)?;
    f.sync_all().map_err(err)?;
    fs::rename(&tmp, path).map_err(err)
}

/// The ALPN protocol of the TLS-ALPN-01 challenge (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// A chain and key as rustls serves them; refused when the key is not the
/// one of the first certificate.
pub fn certified_key(
    certs: Vec<CertificateDer<'static>>,
    key: &PrivateKeyDer<'static>,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let signer = rustls::crypto::ring::sign::any_supported_type(key)?;
    let ck = CertifiedKey::new(certs, signer);
    ck.keys_match()?;
    Ok(Arc::new(ck))
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct TlsStats {
    pub reloads_ok: AtomicU64,
    pub reload_errors: AtomicU64,
    pub acme_issued: AtomicU64,
    pub acme_errors: AtomicU64,
    /// notAfter (Unix seconds) of the certificate served to ordinary
    /// handshakes; 0 when unknown.
    pub not_after: AtomicI64,
}

/// The configured certificate files being watched, and the SHA-256 of the
/// last contents seen (good or bad: a broken file is reported once, not on
/// every poll).
#[derive(Debug)]
struct WatchedFiles {
    cert: PathBuf,
    key: PathBuf,
    last: Mutex<Option<[u8; 32]>>,
}

/// The certificate every TLS listener serves: the ACME one once issued,
/// else the configured or self-signed one; TLS-ALPN-01 challenge
/// certificates for handshakes that offer only `acme-tls/1`.
pub struct Certificates {
    base: RwLock<Arc<CertifiedKey>>,
    acme: RwLock<Option<Arc<CertifiedKey>>>,
    /// TLS-ALPN-01: SNI name (the DNS identifier, or the reverse-DNS name
    /// of an IP identifier, RFC 8738) → challenge certificate.
    alpn_challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01: token → key authorization.
    http_challenges: RwLock<HashMap<String, String>>,
    files: Option<WatchedFiles>,
    pub stats: TlsStats,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

fn not_after_of(cert: &CertificateDer<'_>) -> i64 {
    x509_parser::parse_x509_certificate(cert)
        .map(|(_, c)| c.validity().not_after.timestamp())
        .unwrap_or(0)
}

impl Certificates {
    /// Serves `material`; a configured certificate (`CertSource::Configured`)
    /// is watched by [`Certificates::reload_files`].
    pub fn new(material: &TlsMaterial, config: &Config) -> Result<Arc<Certificates>, TlsError> {
        let ck = certified_key(material.certs.clone(), &material.key)?;
        let files = match &material.source {
            CertSource::Configured(_) => {
                let (cert, key) = (config.sip.tls_cert.clone(), config.sip.tls_key.clone());
                let last = Mutex::new(read_pair(&cert, &key).ok().map(|(h, _, _)| h));
                Some(WatchedFiles { cert, key, last })
            }
            _ => None,
        };
        let certs = Certificates {
            base: RwLock::new(ck),
            acme: RwLock::new(None),
            alpn_challenges: RwLock::default(),
            http_challenges: RwLock::default(),
            files,
            stats: TlsStats::default(),
        };
        certs.update_not_after();
        Ok(Arc::new(certs))
    }

    /// The certificate ordinary handshakes get now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        if let Some(acme) = self.acme.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return acme.clone();
        }
        self.base.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update_not_after(&self) {
        let ck = self.current();
        let v = ck.cert.first().map_or(0, not_after_of);
        self.stats.not_after.store(v, Ordering::Relaxed);
    }

    /// Serve `ck` (issued by ACME) from the next handshake on.
    pub fn set_acme(&self, ck: Arc<CertifiedKey>) {
        *self.acme.write().unwrap_or_else(|e| e.into_inner()) = Some(ck);
        self.update_not_after();
    }

    pub fn set_alpn_challenge(&self, sni: String, ck: Arc<CertifiedKey>) {
        self.alpn_challenges
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sni, ck);
    }

    pub fn set_http_challenge(&self, token: String, key_authorization: String) {
        self.http_challenges
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token, key_authorization);
    }

    /// The key authorization for an HTTP-01 token being validated.
    pub fn http_challenge(&self, token: &str) -> Option<String> {
        self.http_challenges
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    /// Forget every challenge answer (the order is done, either way).
    pub fn clear_challenges(&self) {
        self.alpn_challenges
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.http_challenges
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Whether configured certificate files are watched.
    pub fn watches_files(&self) -> bool {
        self.files.is_some()
    }

    /// Re-reads the configured `[sip] tls_cert` / `tls_key`: `Ok(true)` when
    /// a new certificate now serves, `Ok(false)` when the files are unchanged
    /// (`force` reloads them anyway) or none are configured. A file that
    /// cannot be read, parsed or does not match its key keeps the previous
    /// certificate and is an error (counted once per content).
    pub fn reload_files(&self, force: bool) -> Result<bool, TlsError> {
        let Some(files) = &self.files else {
            return Ok(false);
        };
        let result = read_pair(&files.cert, &files.key);
        let mut last = files.last.lock().unwrap_or_else(|e| e.into_inner());
        let (hash, certs, key) = match result {
            Ok(r) => r,
            Err(e) => {
                // Unreadable (e.g. mid-rename): count it once until it changes.
                let marker = [0u8; 32];
                if force || *last != Some(marker) {
                    *last = Some(marker);
                    self.stats.reload_errors.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
                return Ok(false);
            }
        };
        if !force && *last == Some(hash) {
            return Ok(false);
        }
        *last = Some(hash);
        let parsed = read_certs_from(&files.cert, &certs)
            .and_then(|c| Ok((c, read_key_from(&files.key, &key)?)))
            .and_then(|(c, k)| certified_key(c, &k));
        let ck = match parsed {
            Ok(ck) => ck,
            Err(e) => {
                self.stats.reload_errors.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        // Counted first: whoever sees the new certificate sees the count.
        self.stats.reloads_ok.fetch_add(1, Ordering::Relaxed);
        *self.base.write().unwrap_or_else(|e| e.into_inner()) = ck;
        self.update_not_after();
        Ok(true)
    }

    /// Polls the configured files every `every` (content hash; see
    /// docs/tls.md for why polling rather than inotify) and logs each reload.
    pub fn spawn_file_watch(self: &Arc<Self>, every: Duration) {
        if self.files.is_none() || every.is_zero() {
            return;
        }
        let certs = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                // File reads off the async workers (a slow network mount).
                let c = certs.clone();
                let _ = tokio::task::spawn_blocking(move || c.reload_logged("file change", false))
                    .await;
            }
        });
    }

    /// [`Certificates::reload_files`] with a log line for a change or error.
    pub fn reload_logged(&self, why: &str, force: bool) {
        match self.reload_files(force) {
            Ok(true) => {
                let serial = self.serial();
                tracing::info!(trigger = why, serial = %serial, "TLS certificate reloaded")
            }
            Ok(false) => {}
            Err(e) => tracing::error!(trigger = why, error = %e,
                "TLS certificate reload failed; keeping the previous certificate"),
        }
    }

    /// Hex serial of the certificate ordinary handshakes get (logs).
    pub fn serial(&self) -> String {
        let ck = self.current();
        ck.cert
            .first()
            .and_then(|c| x509_parser::parse_x509_certificate(c).ok())
            .map(|(_, c)| c.raw_serial_as_string())
            .unwrap_or_default()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme_alpn = hello
            .alpn()
            .is_some_and(|mut protos| protos.any(|p| p == ACME_TLS_ALPN));
        if acme_alpn {
            // A TLS-ALPN-01 validation: only a challenge certificate may answer.
            let challenges = self
                .alpn_challenges
                .read()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(name) = hello.server_name()
                && let Some(ck) = challenges.get(&name.to_ascii_lowercase())
            {
                return Some(ck.clone());
            }
            // No (or an unknown) SNI: the one pending challenge, if only one.
            return (challenges.len() == 1)
                .then(|| challenges.values().next().cloned())
                .flatten();
        }
        Some(self.current())
    }
}

/// The SHA-256 over both files and their contents.
type FilePair = ([u8; 32], Vec<u8>, Vec<u8>);

fn read_pair(cert: &Path, key: &Path) -> Result<FilePair, TlsError> {
    let read = |what, path: &Path| {
        fs::read(path).map_err(|e| TlsError::Read {
            what,
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    };
    let c = read("certificate", cert)?;
    let k = read("private key", key)?;
    let mut h = Sha256::new();
    h.update(&c);
    h.update([0]);
    h.update(&k);
    Ok((h.finalize().into(), c, k))
}

fn read_certs_from(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |reason: String| TlsError::Read {
        what: "certificate",
        path: path.to_path_buf(),
        reason,
    };
    match CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>() {
        Ok(c) if c.is_empty() => Err(err("no CERTIFICATE in PEM".into())),
        Ok(c) => Ok(c),
        Err(e) => Err(err(e.to_string())),
    }
}

fn read_key_from(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::Read {
        what: "private key",
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// A server config that takes its certificate from `certs` at each
/// handshake, advertising `alpn` protocols.
pub fn resolving_server_config(certs: Arc<Certificates>, alpn: &[&[u8]]) -> Arc<ServerConfig> {
    let mut cfg = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(certs);
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

/// A server config for `material`, advertising `alpn` protocols.
pub fn server_config(
    material: &TlsMaterial,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut cfg = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(material.certs.clone(), material.key.clone_key())?;
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}

/// Client config for outgoing SIP TLS: web PKI roots plus `sip.tls_ca`.
pub fn client_config(config: &Config) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if !config.sip.tls_ca.as_os_str().is_empty() {
        for cert in read_certs(&config.sip.tls_ca)? {
            roots.add(cert)?;
        }
    }
    Ok(Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sipwake-tls-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn self_signed_is_generated_once_then_reused() {
        install_crypto_provider();
        let mut config = Config {
            data_dir: temp_dir("gen"),
            ..Config::default()
        };
        let first = load_or_generate(&config, Some("gw.example")).unwrap();
        assert!(matches!(first.source, CertSource::Generated(_)));
        let second = load_or_generate(&config, None).unwrap();
        assert!(matches!(second.source, CertSource::Reused(_)));
        assert_eq!(first.certs, second.certs);
        server_config(&second, &[b"http/1.1"]).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(config.data_files().self_signed_key)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key must not be group/world readable");
        }
        // The generated cert also works as an extra CA for our own client.
        config.sip.tls_ca = config.data_files().self_signed_cert;
        client_config(&config).unwrap();
        // And as a configured certificate + key.
        config.sip.tls_cert = config.data_files().self_signed_cert;
        config.sip.tls_key = config.data_files().self_signed_key;
        let configured = load_or_generate(&config, None).unwrap();
        assert!(matches!(configured.source, CertSource::Configured(_)));
        assert_eq!(configured.certs, first.certs);
        let _ = fs::remove_dir_all(&config.data_dir);
    }

    fn pem_pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn configured(dir: &Path, name: &str) -> (Config, TlsMaterial) {
        fs::create_dir_all(dir).unwrap();
        let (c, k) = pem_pair(name);
        fs::write(dir.join("c.pem"), c).unwrap();
        fs::write(dir.join("k.pem"), k).unwrap();
        let mut config = Config {
            data_dir: dir.join("data"),
            ..Config::default()
        };
        config.sip.tls_cert = dir.join("c.pem");
        config.sip.tls_key = dir.join("k.pem");
        let material = load_or_generate(&config, None).unwrap();
        (config, material)
    }

    fn served_name(certs: &Certificates) -> String {
        let ck = certs.current();
        let (_, c) = x509_parser::parse_x509_certificate(&ck.cert[0]).unwrap();
        let san = c.subject_alternative_name().unwrap().unwrap();
        format!("{:?}", san.value.general_names[0])
    }

    #[test]
    fn reload_swaps_good_files_and_keeps_the_old_certificate_on_bad_ones() {
        install_crypto_provider();
        let dir = temp_dir("reload");
        let (config, material) = configured(&dir, "first.example");
        let certs = Certificates::new(&material, &config).unwrap();
        assert!(certs.watches_files());
        assert!(served_name(&certs).contains("first.example"));
        // Unchanged files: nothing to do (a forced reload re-reads them).
        assert!(!certs.reload_files(false).unwrap());
        assert!(certs.reload_files(true).unwrap());
        assert_eq!(certs.stats.reloads_ok.load(Ordering::Relaxed), 1);

        // New pair: served from now on.
        let (c2, k2) = pem_pair("second.example");
        fs::write(&config.sip.tls_key, &k2).unwrap();
        fs::write(&config.sip.tls_cert, &c2).unwrap();
        assert!(certs.reload_files(false).unwrap());
        assert!(served_name(&certs).contains("second.example"));

        // A certificate whose key is not the configured one: refused, once.
        let (c3, _) = pem_pair("third.example");
        fs::write(&config.sip.tls_cert, &c3).unwrap();
        let err = certs.reload_files(false).unwrap_err().to_string();
        assert!(err.contains("usable TLS config"), "{err}");
        assert!(
            !certs.reload_files(false).unwrap(),
            "same broken content reported once"
        );
        assert_eq!(certs.stats.reload_errors.load(Ordering::Relaxed), 1);
        assert!(served_name(&certs).contains("second.example"));

        // Garbage, then a missing file: errors naming the file, old cert kept.
        fs::write(&config.sip.tls_cert, "garbage").unwrap();
        let err = certs.reload_files(false).unwrap_err().to_string();
        assert!(err.contains("c.pem"), "{err}");
        fs::remove_file(&config.sip.tls_cert).unwrap();
        let err = certs.reload_files(false).unwrap_err().to_string();
        assert!(err.contains("c.pem"), "{err}");
        assert!(!certs.reload_files(false).unwrap());
        assert_eq!(certs.stats.reload_errors.load(Ordering::Relaxed), 3);
        assert!(served_name(&certs).contains("second.example"));

        // Fixed: loaded again.
        fs::write(&config.sip.tls_cert, &c2).unwrap();
        assert!(certs.reload_files(false).unwrap());
        assert!(served_name(&certs).contains("second.example"));
        assert!(certs.stats.not_after.load(Ordering::Relaxed) > 0);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn self_signed_is_not_watched_and_acme_wins_over_the_base_certificate() {
        install_crypto_provider();
        let config = Config {
            data_dir: temp_dir("acme-wins"),
            ..Config::default()
        };
        let material = load_or_generate(&config, None).unwrap();
        let certs = Certificates::new(&material, &config).unwrap();
        assert!(!certs.watches_files());
        assert!(!certs.reload_files(true).unwrap());
        let (c, k) = pem_pair("acme.example");
        let chain = vec![CertificateDer::from_pem_slice(c.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(k.as_bytes()).unwrap();
        certs.set_acme(certified_key(chain, &key).unwrap());
        assert!(served_name(&certs).contains("acme.example"));
        let _ = fs::remove_dir_all(&config.data_dir);
    }

    #[test]
    fn acme_alpn_handshakes_get_only_the_challenge_certificate() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        install_crypto_provider();
        let config = Config {
            data_dir: temp_dir("alpn"),
            ..Config::default()
        };
        let material = load_or_generate(&config, None).unwrap();
        let certs = Certificates::new(&material, &config).unwrap();
        let server = resolving_server_config(certs.clone(), &[b"http/1.1", ACME_TLS_ALPN]);
        let (challenge, _) = pem_pair("challenge.example");
        let challenge = CertificateDer::from_pem_slice(challenge.as_bytes()).unwrap();

        let handshake = |alpn: Vec<Vec<u8>>, sni: &'static str| {
            let server = server.clone();
            async move {
                let (a, b) = tokio::io::duplex(1 << 16);
                let acceptor = tokio_rustls::TlsAcceptor::from(server);
                let srv = tokio::spawn(async move {
                    if let Ok(mut s) = acceptor.accept(a).await {
                        let _ = s.write_all(b"x").await;
                        let _ = s.flush().await;
                    }
                });
                let mut cfg = ClientConfig::builder()
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyCert))
                    .with_no_client_auth();
                cfg.alpn_protocols = alpn;
                let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
                let name = rustls_pki_types::ServerName::try_from(sni).unwrap();
                let res = connector.connect(name, b).await;
                let out = match res {
                    Ok(mut c) => {
                        let mut buf = [0u8; 1];
                        let _ = c.read(&mut buf).await;
                        c.get_ref()
                            .1
                            .peer_certificates()
                            .map(|c| c[0].clone().into_owned())
                    }
                    Err(_) => None,
                };
                let _ = srv.await;
                out
            }
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // No challenge pending: an acme-tls/1 handshake gets nothing.
            assert_eq!(
                handshake(vec![ACME_TLS_ALPN.to_vec()], "gw.example").await,
                None
            );
            let key = rcgen::KeyPair::generate().unwrap();
            let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
            let signer = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
            // (The challenge cert's key is not checked here: only selection.)
            let ck = Arc::new(CertifiedKey::new(vec![challenge.clone()], signer));
            certs.set_alpn_challenge("gw.example".into(), ck.clone());
            certs.set_alpn_challenge("other.example".into(), ck);
            let got = handshake(vec![ACME_TLS_ALPN.to_vec()], "gw.example").await;
            assert_eq!(got.as_ref(), Some(&challenge));
            // Ordinary handshakes still get the served certificate.
            let got = handshake(vec![b"http/1.1".to_vec()], "gw.example").await;
            assert_eq!(got.as_ref(), Some(&material.certs[0]));
            // Unknown SNI with two pending: nothing.
            assert_eq!(
                handshake(vec![ACME_TLS_ALPN.to_vec()], "x.example").await,
                None
            );
            certs.clear_challenges();
            assert_eq!(
                handshake(vec![ACME_TLS_ALPN.to_vec()], "gw.example").await,
                None
            );
        });
        let _ = fs::remove_dir_all(&config.data_dir);
    }

    #[derive(Debug)]
    struct AnyCert;

    impl rustls::client::danger::ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &rustls_pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls_pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }

    #[test]
    fn configured_paths_are_used_and_errors_name_the_file() {
        install_crypto_provider();
        let mut config = Config::default();
        config.sip.tls_cert = PathBuf::from("/nonexistent/cert.pem");
        config.sip.tls_key = PathBuf::from("/nonexistent/key.pem");
        let err = load_or_generate(&config, None).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/cert.pem"), "{err}");

        let dir = temp_dir("cfg");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("garbage.pem"), "not pem").unwrap();
        config.sip.tls_cert = dir.join("garbage.pem");
        let err = load_or_generate(&config, None).unwrap_err().to_string();
        assert!(err.contains("garbage.pem"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }
}

//! TLS material shared by SIP TLS and HTTPS: one rustls crypto provider (ring)
//! for the whole binary, the certificate from config or a self-signed one
//! persisted in the data dir, and the server / client rustls configs.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

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
fn write_file(path: &Path, data: &[u8], private: bool) -> Result<(), TlsError> {
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

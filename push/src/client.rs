//! HTTP clients. One reqwest client per credential set keeps one long-lived
//! HTTP/2 connection per endpoint: requests are multiplexed as streams, and
//! `http2_prior_knowledge` (ALPN `h2` only, for APNs and FCM) makes
//! concurrent first requests wait for that connection instead of dialling
//! their own. TLS is rustls with the `ring` provider, set explicitly so the
//! crate never depends on (or installs) a process-wide default.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::DeliveryConfig;
use crate::error::ConfigError;

/// A TLS client identity (APNs certificate auth).
pub(crate) struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

pub(crate) struct ClientOptions<'a> {
    pub extra_ca_pem: Option<&'a Path>,
    pub identity: Option<Identity>,
    /// Speak HTTP/2 only (ALPN h2; prior knowledge on plain http://).
    pub h2_only: bool,
}

pub(crate) fn build(
    opts: ClientOptions<'_>,
    delivery: &DeliveryConfig,
) -> Result<reqwest::Client, ConfigError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = opts.extra_ca_pem {
        for cert in read_certs(path)? {
            roots
                .add(cert)
                .map_err(|e| ConfigError::credential(path, e))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Client(e.to_string()))?
        .with_root_certificates(roots);
    let mut tls = match opts.identity {
        Some(id) => builder
            .with_client_auth_cert(id.certs, id.key)
            .map_err(|e| ConfigError::Client(format!("client certificate: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = if opts.h2_only {
        vec![b"h2".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    let mut b = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_millis(delivery.timeout_ms))
        .connect_timeout(Duration::from_millis(delivery.connect_timeout_ms))
        .pool_idle_timeout(None)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .http2_keep_alive_timeout(Duration::from_secs(10))
        .http2_keep_alive_while_idle(true)
        .tcp_nodelay(true);
    if opts.h2_only {
        b = b.http2_prior_knowledge();
    }
    b.build().map_err(|e| ConfigError::Client(e.to_string()))
}

/// Every certificate in a PEM file.
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let data = std::fs::read(path).map_err(|e| ConfigError::io(path, e))?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::credential(path, e))?;
    if certs.is_empty() {
        return Err(ConfigError::credential(path, "no certificate in PEM file"));
    }
    Ok(certs)
}

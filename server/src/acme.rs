//! Automatic certificates from an ACME CA (RFC 8555, `[acme]`): sipwake
//! answers HTTP-01 on its plain HTTP listener (`/.well-known/acme-challenge/`)
//! and TLS-ALPN-01 (RFC 8737, RFC 8738 for IP addresses) through the
//! certificate resolver of its TLS listeners, keeps the account and the
//! certificate in `data_dir`, and renews in the background: each new
//! certificate serves the next handshake, open connections stay.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType,
    HttpClient, Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use crate::config::{AcmeConfig, AcmeIdentifier, Config, DataFiles};
use crate::tls::{self, Certificates, TlsError};

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("ACME: {0}")]
    Protocol(#[from] instant_acme::Error),
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("certificate request: {0}")]
    Csr(#[from] rcgen::Error),
    #[error("[acme] ca {path}: {reason}")]
    Ca { path: String, reason: String },
    #[error("ACME HTTP client: {0}")]
    Client(String),
    #[error("{0}")]
    Other(String),
}

/// First retry after a failed order; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// instant-acme's HTTP client trait over reqwest (the push providers'
/// client), with our roots: web PKI plus `[acme] ca`.
struct ReqwestClient(reqwest::Client);

impl HttpClient for ReqwestClient {
    fn request(
        &self,
        req: axum::http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.0.clone();
        Box::pin(async move {
            use http_body_util::BodyExt;
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| instant_acme::Error::Other(e.to_string().into()))?
                .to_bytes();
            let rsp = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            let rsp: axum::http::Response<reqwest::Body> = rsp.into();
            Ok(BytesResponse::from(rsp))
        })
    }
}

fn http_client(config: &AcmeConfig) -> Result<ReqwestClient, AcmeError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if !config.ca.as_os_str().is_empty() {
        let err = |reason: String| AcmeError::Ca {
            path: config.ca.display().to_string(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(&config.ca)
            .map_err(|e| err(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(e.to_string()))?;
        if certs.is_empty() {
            return Err(err("no CERTIFICATE in PEM".into()));
        }
        for c in certs {
            roots.add(c).map_err(|e| err(e.to_string()))?;
        }
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("sipwake/", env!("CARGO_PKG_VERSION")))
        .build()
        .map(ReqwestClient)
        .map_err(|e| AcmeError::Client(e.to_string()))
}

/// What `acme-account.json` holds: the directory the account lives at (a
/// changed `[acme] directory` makes a new account) and its credentials.
#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// The ACME manager: one per gateway.
pub struct Acme {
    config: AcmeConfig,
    files: DataFiles,
    certs: Arc<Certificates>,
    /// Cheap to clone: one connection pool for every request.
    client: reqwest::Client,
}

/// A certificate's validity, Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// When to renew a certificate valid over `v`: `renew_before` seconds before
/// expiry, or (0, or not shorter than the lifetime) when 2/3 of it passed.
pub fn renew_at(v: Validity, renew_before: u64) -> i64 {
    let lifetime = (v.not_after - v.not_before).max(0);
    let before = renew_before as i64;
    if before > 0 && before < lifetime {
        v.not_after - before
    } else {
        v.not_before + lifetime * 2 / 3
    }
}

/// Validity and identifiers (DNS names lower-cased, IP addresses) of a
/// certificate.
fn inspect(cert: &CertificateDer<'_>) -> Option<(Validity, Vec<AcmeIdentifier>)> {
    use x509_parser::extensions::GeneralName;
    let (_, c) = x509_parser::parse_x509_certificate(cert).ok()?;
    let v = Validity {
        not_before: c.validity().not_before.timestamp(),
        not_after: c.validity().not_after.timestamp(),
    };
    let mut ids = Vec::new();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => ids.push(AcmeIdentifier::Dns(d.to_ascii_lowercase())),
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                        _ => None,
                    };
                    ids.extend(ip.map(AcmeIdentifier::Ip));
                }
                _ => {}
            }
        }
    }
    Some((v, ids))
}

/// The reverse-DNS name a TLS-ALPN-01 validator sends as SNI for an IP
/// identifier (RFC 8738 §6).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s + "ip6.arpa"
        }
    }
}

/// The TLS-ALPN-01 certificate for `ident`: self-signed, naming only the
/// identifier, with the critical acmeIdentifier extension holding the
/// SHA-256 of the key authorization (RFC 8737 §3).
pub fn alpn_challenge_cert(
    ident: &AcmeIdentifier,
    digest: &[u8],
) -> Result<(String, Arc<rustls::sign::CertifiedKey>), AcmeError> {
    let (san, sni) = match ident {
        AcmeIdentifier::Dns(d) => (d.clone(), d.clone()),
        AcmeIdentifier::Ip(ip) => (ip.to_string(), reverse_name(*ip)),
    };
    let mut params = rcgen::CertificateParams::new(vec![san])?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let key_der = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| AcmeError::Other(e.to_string()))?;
    // Not `tls::certified_key`: its key check parses the certificate with
    // webpki, which refuses the critical acmeIdentifier extension.
    let signer =
        rustls::crypto::ring::sign::any_supported_type(&key_der).map_err(TlsError::from)?;
    let ck = rustls::sign::CertifiedKey::new(vec![cert.der().clone()], signer);
    Ok((sni, Arc::new(ck)))
}

impl Acme {
    /// Sets up ACME (`[acme] directory` set): loads the CA bundle and, when
    /// a stored certificate still covers `[acme] domains` and has not
    /// expired, serves it at once.
    pub fn new(config: &Config, certs: Arc<Certificates>) -> Result<Arc<Acme>, AcmeError> {
        let acme = Acme {
            config: config.acme.clone(),
            files: config.data_files(),
            certs,
            client: http_client(&config.acme)?.0,
        };
        if let Some(v) = acme.load_stored() {
            tracing::info!(cert = %acme.files.acme_cert.display(), not_after = v.not_after,
                serial = %acme.certs.serial(), "using the stored ACME certificate");
        }
        Ok(Arc::new(acme))
    }

    /// The stored certificate when it covers every configured identifier
    /// and has not expired; installed into the resolver.
    fn load_stored(&self) -> Option<Validity> {
        let certs = CertificateDer::pem_file_iter(&self.files.acme_cert)
            .ok()?
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        let key = PrivateKeyDer::from_pem_file(&self.files.acme_key).ok()?;
        let (v, ids) = inspect(certs.first()?)?;
        let wanted = self.config.identifiers();
        if v.not_after <= now_secs() || !wanted.iter().all(|w| ids.contains(w)) {
            tracing::info!(cert = %self.files.acme_cert.display(),
                "the stored ACME certificate is expired or does not name every [acme] domain: ordering a new one");
            return None;
        }
        match tls::certified_key(certs, &key) {
            Ok(ck) => {
                self.certs.set_acme(ck);
                Some(v)
            }
            Err(e) => {
                tracing::warn!(error = %e, "the stored ACME certificate is unusable: ordering a new one");
                None
            }
        }
    }

    /// Orders (and renews) in the background for the gateway's lifetime.
    pub fn spawn(self: &Arc<Self>) {
        let acme = self.clone();
        tokio::spawn(async move {
            let mut validity = acme.current_validity();
            let mut backoff = FIRST_BACKOFF;
            loop {
                if let Some(v) = validity {
                    let at = renew_at(v, acme.config.renew_before_secs);
                    let wait = (at - now_secs()).max(0) as u64;
                    tracing::info!(
                        renew_in_secs = wait,
                        not_after = v.not_after,
                        "ACME renewal scheduled"
                    );
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
                let started = std::time::Instant::now();
                match acme.order().await {
                    Ok(v) => {
                        tracing::info!(serial = %acme.certs.serial(), not_after = v.not_after,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "ACME certificate issued and now served");
                        validity = Some(v);
                        backoff = FIRST_BACKOFF;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, retry_in_secs = backoff.as_secs(),
                            "ACME order failed; the current certificate keeps serving");
                        acme.certs.stats.acme_errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        // Retry now, not at the old renewal time.
                        validity = None;
                    }
                }
            }
        });
    }

    fn current_validity(&self) -> Option<Validity> {
        let certs = CertificateDer::pem_file_iter(&self.files.acme_cert)
            .ok()?
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        let (v, ids) = inspect(certs.first()?)?;
        let wanted = self.config.identifiers();
        (v.not_after > now_secs() && wanted.iter().all(|w| ids.contains(w))).then_some(v)
    }

    async fn account(&self) -> Result<Account, AcmeError> {
        let directory = self.config.directory.trim().to_string();
        if let Ok(text) = std::fs::read_to_string(&self.files.acme_account) {
            match serde_json::from_str::<StoredAccount>(&text) {
                Ok(stored) if stored.directory == directory => {
                    let http = Box::new(ReqwestClient(self.client.clone()));
                    return Ok(Account::builder_with_http(http)
                        .from_credentials(stored.credentials)
                        .await?);
                }
                Ok(_) => tracing::info!("[acme] directory changed: creating a new ACME account"),
                Err(e) => {
                    tracing::warn!(error = %e, file = %self.files.acme_account.display(),
                        "unreadable ACME account file: creating a new account")
                }
            }
        }
        let contact: Vec<&str> = self.config.contact.iter().map(String::as_str).collect();
        let http = Box::new(ReqwestClient(self.client.clone()));
        let (account, credentials) = Account::builder_with_http(http)
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                directory.clone(),
                None,
            )
            .await?;
        let stored = serde_json::to_vec_pretty(&StoredAccount {
            directory,
            credentials,
        })
        .map_err(|e| AcmeError::Other(e.to_string()))?;
        tls::write_file(&self.files.acme_account, &stored, true)?;
        tracing::info!(account = %account.id(), file = %self.files.acme_account.display(), "ACME account created");
        Ok(account)
    }

    /// One order: challenges answered, certificate fetched, stored and served.
    async fn order(&self) -> Result<Validity, AcmeError> {
        let result = self.order_inner().await;
        self.certs.clear_challenges();
        if let Err(AcmeError::Protocol(instant_acme::Error::Api(p))) = &result
            && p.r#type
                .as_deref()
                .is_some_and(|t| t.ends_with(":accountDoesNotExist"))
        {
            // The CA forgot the stored account: the next try makes a new one.
            tracing::warn!(file = %self.files.acme_account.display(),
                "the ACME server does not know the stored account: it is replaced on the next try");
            let _ = std::fs::remove_file(&self.files.acme_account);
        }
        result
    }

    async fn order_inner(&self) -> Result<Validity, AcmeError> {
        let account = self.account().await?;
        let wanted = self.config.identifiers();
        let identifiers: Vec<Identifier> = wanted
            .iter()
            .map(|i| match i {
                AcmeIdentifier::Dns(d) => Identifier::Dns(d.clone()),
                AcmeIdentifier::Ip(ip) => Identifier::Ip(*ip),
            })
            .collect();
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
        let prefs: Vec<ChallengeType> = self
            .config
            .challenges
            .iter()
            .map(|c| match c.as_str() {
                "http-01" => ChallengeType::Http01,
                _ => ChallengeType::TlsAlpn01,
            })
            .collect();
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(AcmeError::Other(format!(
                        "authorization for {:?} is {other:?}",
                        authz.identifier()
                    )));
                }
            }
            let offered: Vec<ChallengeType> =
                authz.challenges.iter().map(|c| c.r#type.clone()).collect();
            let Some(kind) = prefs.iter().find(|p| offered.contains(p)).cloned() else {
                return Err(AcmeError::Other(format!(
                    "the CA offers {offered:?} for {:?}, none of [acme] challenges",
                    authz.identifier()
                )));
            };
            let mut challenge = authz
                .challenge(kind.clone())
                .ok_or_else(|| AcmeError::Other("challenge vanished".into()))?;
            let ident = match challenge.identifier().identifier {
                Identifier::Dns(d) => AcmeIdentifier::Dns(d.to_ascii_lowercase()),
                Identifier::Ip(ip) => AcmeIdentifier::Ip(*ip),
                other => {
                    return Err(AcmeError::Other(format!(
                        "unsupported identifier {other:?}"
                    )));
                }
            };
            let key_auth = challenge.key_authorization();
            match kind {
                ChallengeType::Http01 => self
                    .certs
                    .set_http_challenge(challenge.token.clone(), key_auth.as_str().to_string()),
                _ => {
                    let (sni, ck) = alpn_challenge_cert(&ident, key_auth.digest().as_ref())?;
                    self.certs.set_alpn_challenge(sni, ck);
                }
            }
            tracing::debug!(identifier = ?ident, challenge = ?kind, "ACME challenge ready");
            challenge.set_ready().await?;
        }
        let retry = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .timeout(Duration::from_secs(90));
        let status = order.poll_ready(&retry).await?;
        if status != OrderStatus::Ready {
            return Err(AcmeError::Other(format!(
                "order is {status:?} after the challenges: {:?}",
                order.state().error
            )));
        }
        let names: Vec<String> = wanted
            .iter()
            .map(|i| match i {
                AcmeIdentifier::Dns(d) => d.clone(),
                AcmeIdentifier::Ip(ip) => ip.to_string(),
            })
            .collect();
        let mut params = rcgen::CertificateParams::new(names)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let key = rcgen::KeyPair::generate()?;
        let csr = params.serialize_request(&key)?;
        order.finalize_csr(csr.der()).await?;
        let chain_pem = order.poll_certificate(&retry).await?;
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AcmeError::Other(format!("issued chain: {e}")))?;
        let (validity, _) = chain
            .first()
            .and_then(inspect)
            .ok_or_else(|| AcmeError::Other("issued chain has no parsable certificate".into()))?;
        let key_der = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| AcmeError::Other(e.to_string()))?;
        let ck = tls::certified_key(chain, &key_der)?;
        // Key first: a crash between the two leaves a pair that fails to
        // match and is re-ordered, never a certificate with a lost key.
        tls::write_file(&self.files.acme_key, key.serialize_pem().as_bytes(), true)?;
        tls::write_file(&self.files.acme_cert, chain_pem.as_bytes(), false)?;
        // Counted first: whoever sees the new certificate sees the count.
        self.certs.stats.acme_issued.fetch_add(1, Ordering::Relaxed);
        self.certs.set_acme(ck);
        Ok(validity)
    }
}

/// `GET /.well-known/acme-challenge/{token}`: the HTTP-01 answer.
pub fn router<S: Clone + Send + Sync + 'static>(certs: Arc<Certificates>) -> Router<S> {
    Router::new()
        .route("/.well-known/acme-challenge/{token}", get(http_challenge))
        .with_state(certs)
}

async fn http_challenge(
    State(certs): State<Arc<Certificates>>,
    UrlPath(token): UrlPath<String>,
) -> Response {
    match certs.http_challenge(&token) {
        Some(key_auth) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            key_auth,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such challenge\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_time_follows_renew_before_or_two_thirds() {
        let v = Validity {
            not_before: 1000,
            not_after: 1000 + 90 * 86400,
        };
        // Default: 2/3 of 90 days = 60 days after issuance (30 before expiry).
        assert_eq!(renew_at(v, 0), 1000 + 60 * 86400);
        assert_eq!(renew_at(v, 7 * 86400), 1000 + 83 * 86400);
        // Not shorter than the lifetime: the default, not a renewal loop.
        assert_eq!(renew_at(v, 90 * 86400), 1000 + 60 * 86400);
        assert_eq!(renew_at(v, 365 * 86400), 1000 + 60 * 86400);
    }

    #[test]
    fn the_acme_ca_bundle_must_hold_certificates() {
        crate::tls::install_crypto_provider();
        let mut config = AcmeConfig::default();
        assert!(http_client(&config).is_ok(), "web PKI roots alone");
        config.ca = "/nonexistent/ca.pem".into();
        let err = http_client(&config).err().unwrap().to_string();
        assert!(err.contains("[acme] ca /nonexistent/ca.pem"), "{err}");
        let dir = std::env::temp_dir().join(format!("sipwake-acme-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("empty.pem"), "nothing here\n").unwrap();
        config.ca = dir.join("empty.pem");
        let err = http_client(&config).err().unwrap().to_string();
        assert!(err.contains("no CERTIFICATE"), "{err}");
        let key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertificateParams::new(vec!["ca.example".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        config.ca = dir.join("ca.pem");
        assert!(http_client(&config).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reverse_names_for_ip_identifiers() {
        assert_eq!(
            reverse_name("127.0.0.1".parse().unwrap()),
            "1.0.0.127.in-addr.arpa"
        );
        assert_eq!(
            reverse_name("2001:db8::567:89ab".parse().unwrap()),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }

    #[test]
    fn alpn_challenge_certificate_names_the_identifier_and_carries_the_digest() {
        crate::tls::install_crypto_provider();
        let digest = [7u8; 32];
        for (ident, sni) in [
            (AcmeIdentifier::Dns("gw.example".into()), "gw.example"),
            (
                AcmeIdentifier::Ip("127.0.0.1".parse().unwrap()),
                "1.0.0.127.in-addr.arpa",
            ),
        ] {
            let (name, ck) = alpn_challenge_cert(&ident, &digest).unwrap();
            assert_eq!(name, sni);
            let (_, cert) = x509_parser::parse_x509_certificate(&ck.cert[0]).unwrap();
            let ext = cert
                .extensions()
                .iter()
                .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
                .expect("acmeIdentifier extension");
            assert!(ext.critical);
            // DER OCTET STRING (0x04, 32) holding the digest (RFC 8737 §3).
            assert_eq!(&ext.value[..2], &[0x04, 32]);
            assert_eq!(&ext.value[2..], &digest);
            let (_, ids) = inspect(&ck.cert[0]).unwrap();
            assert_eq!(ids, vec![ident]);
        }
    }
}

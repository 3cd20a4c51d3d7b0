//! A throw-away test CA: server certificates for the mocks (so clients verify
//! real TLS against an extra trusted root, as they would against Apple) and
//! client certificates for APNs certificate auth, as PEM or PKCS#12.

use std::sync::Arc;

use p12_keystore::{
    Certificate as P12Cert, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::MockError;

/// A certificate authority trusted by nobody but the tests.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A client certificate and its key, in the formats APNs providers receive
/// them in (Apple hands out a .p12; the manual also accepts a PEM).
#[derive(Clone, Debug)]
pub struct ClientCert {
    /// Certificate PEM followed by the PKCS#8 key PEM (the manual's `pushkit.pem`).
    pub pem: String,
    pub cert_der: Vec<u8>,
    pub key_pkcs8_der: Vec<u8>,
}

impl TestCa {
    pub fn new() -> Result<Self, MockError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "sipwake test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(Self { issuer })
    }

    /// The CA certificate: give it to the client as its extra trusted root.
    pub fn ca_pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A rustls server config for `localhost` / `127.0.0.1` advertising `alpn`.
    /// With `client_auth`, client certificates issued by this CA are verified
    /// when presented (but not required: APNs also takes token auth).
    pub fn server_config(
        &self,
        alpn: &[&[u8]],
        client_auth: bool,
    ) -> Result<Arc<rustls::ServerConfig>, MockError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        let chain = vec![cert.der().clone(), self.ca_der()];
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if client_auth {
            let mut roots = RootCertStore::empty();
            roots.add(self.ca_der())?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| MockError::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_single_cert(chain, key_der)?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// A client certificate whose subject looks like Apple's VoIP Services
    /// certificates: `CN=VoIP Services: <bundle>` and `UID=<bundle>`.
    pub fn client_cert(&self, bundle: &str) -> Result<ClientCert, MockError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("VoIP Services: {bundle}"));
        // UID (0.9.2342.19200300.100.1.1) carries the bundle id in Apple's certs.
        params.distinguished_name.push(
            DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
            bundle,
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(ClientCert {
            pem: format!("{}{}", cert.pem(), key.serialize_pem()),
            cert_der: cert.der().to_vec(),
            key_pkcs8_der: key.serialize_der(),
        })
    }
}

impl ClientCert {
    /// The certificate and key as a password-protected PKCS#12 (`pushkit.p12`).
    pub fn p12(&self, password: &str) -> Result<Vec<u8>, MockError> {
        self.p12_with(password, false)
    }

    /// The same with the legacy algorithms Keychain Access exports
    /// (PBE-SHA1-3DES, HMAC-SHA1).
    pub fn p12_legacy(&self, password: &str) -> Result<Vec<u8>, MockError> {
        self.p12_with(password, true)
    }

    fn p12_with(&self, password: &str, legacy: bool) -> Result<Vec<u8>, MockError> {
        let cert = P12Cert::from_der(&self.cert_der).map_err(|e| MockError::Tls(e.to_string()))?;
        let key =
            PrivateKey::from_der(&self.key_pkcs8_der).map_err(|e| MockError::Tls(e.to_string()))?;
        let chain = PrivateKeyChain::new(b"sipwake".to_vec(), key, vec![cert]);
        let mut store = KeyStore::new();
        store.add_entry("voip", KeyStoreEntry::PrivateKeyChain(chain));
        let mut writer = store.writer(password);
        if legacy {
            writer = writer
                .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
                .mac_algorithm(MacAlgorithm::HmacSha1);
        }
        writer.write().map_err(|e| MockError::Tls(e.to_string()))
    }
}

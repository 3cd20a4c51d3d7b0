//! A throw-away test CA: server certificates for the mocks (so clients verify
//! real TLS against an extra trusted root, as they would against Apple) and
//! client certificates for APNs certificate auth, as PEM or PKCS#12.

use std::sync::Arc;

use p12_keystore::{
    Certificate as P12Cert, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::MockError;

/// The kind of APNs client certificate, as issued by Apple's developer
/// portal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertKind {
    /// Apple Push Notification service SSL (alert): `CN=Apple Production IOS
    /// Push Services: <bundle>`, `UID=<bundle>`; topic `<bundle>` only.
    Alert,
    /// VoIP Services: `CN=VoIP Services: <bundle>`, `UID=<bundle>.voip`;
    /// topic `<bundle>.voip` only.
    Voip,
    /// Apple Push Notification service SSL (Sandbox & Production):
    /// `CN=Apple Push Services: <bundle>`, `UID=<bundle>`, and the topics
    /// extension listing `<bundle>`, `<bundle>.voip`, `<bundle>.complication`.
    Universal,
}

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

    /// A universal ([`CertKind::Universal`]) client certificate for `bundle`:
    /// what Apple issues today, valid for `<bundle>`, `<bundle>.voip` and
    /// `<bundle>.complication`.
    pub fn client_cert(&self, bundle: &str) -> Result<ClientCert, MockError> {
        self.client_cert_of(bundle, CertKind::Universal)
    }

    /// A client certificate for `bundle` whose subject (and topics
    /// extension) look like the `kind` of certificate Apple issues.
    pub fn client_cert_of(&self, bundle: &str, kind: CertKind) -> Result<ClientCert, MockError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let (cn, uid) = match kind {
            CertKind::Alert => (
                format!("Apple Production IOS Push Services: {bundle}"),
                bundle.to_owned(),
            ),
            CertKind::Voip => (format!("VoIP Services: {bundle}"), format!("{bundle}.voip")),
            CertKind::Universal => (format!("Apple Push Services: {bundle}"), bundle.to_owned()),
        };
        params.distinguished_name.push(DnType::CommonName, cn);
        // UID (0.9.2342.19200300.100.1.1) carries the certificate's own topic.
        params
            .distinguished_name
            .push(DnType::CustomDnType(UID_OID.to_vec()), uid);
        if kind == CertKind::Universal {
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    &TOPICS_OID,
                    topics_extension(bundle),
                ));
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(ClientCert {
            pem: format!("{}{}", cert.pem(), key.serialize_pem()),
            cert_der: cert.der().to_vec(),
            key_pkcs8_der: key.serialize_der(),
        })
    }
}

/// The value of Apple's topics extension for a universal certificate:
/// `SEQUENCE { UTF8String topic, SEQUENCE { UTF8String type }, … }` for the
/// app, VoIP and complication topics.
fn topics_extension(bundle: &str) -> Vec<u8> {
    let mut content = Vec::new();
    for (topic, kind) in [
        (bundle.to_owned(), "app"),
        (format!("{bundle}.voip"), "voip"),
        (format!("{bundle}.complication"), "complication"),
    ] {
        content.extend(der_tlv(TAG_UTF8_STRING, topic.as_bytes()));
        content.extend(der_tlv(
            TAG_SEQUENCE,
            &der_tlv(TAG_UTF8_STRING, kind.as_bytes()),
        ));
    }
    der_tlv(TAG_SEQUENCE, &content)
}

/// The topics an Apple push certificate covers: the UTF8String entries of
/// its topics extension if it has one, else its UID. `None` when the
/// certificate does not parse, has no UID, or has a malformed topics
/// extension.
pub(crate) fn cert_topics(der: &[u8]) -> Option<CertTopics> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let uid_oid = UID_OID.map(|n| n.to_string()).join(".");
    let uid = cert
        .subject()
        .iter_attributes()
        .find(|a| a.attr_type().to_id_string() == uid_oid)?
        .as_str()
        .ok()?
        .to_owned();
    let topics_oid = TOPICS_OID.map(|n| n.to_string()).join(".");
    let topics = match cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == topics_oid)
    {
        Some(ext) => parse_topics(ext.value)?,
        None => vec![uid.clone()],
    };
    Some(CertTopics { uid, topics })
}

/// What [`cert_topics`] found in a certificate.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CertTopics {
    /// The UID attribute of the subject: the certificate's own topic.
    pub uid: String,
    pub topics: Vec<String>,
}

/// The UTF8String entries of a topics extension value (the type
/// SEQUENCEs between them are skipped).
fn parse_topics(value: &[u8]) -> Option<Vec<String>> {
    let (tag, mut content, rest) = der_read(value)?;
    if tag != TAG_SEQUENCE || !rest.is_empty() {
        return None;
    }
    let mut topics = Vec::new();
    while !content.is_empty() {
        let (tag, value, rest) = der_read(content)?;
        if tag == TAG_UTF8_STRING {
            topics.push(String::from_utf8(value.to_vec()).ok()?);
        }
        content = rest;
    }
    Some(topics)
}

const TAG_UTF8_STRING: u8 = 0x0c;
const TAG_SEQUENCE: u8 = 0x30;
const UID_OID: [u64; 7] = [0, 9, 2342, 19200300, 100, 1, 1];
/// Apple's topics extension (1.2.840.113635.100.6.3.6).
const TOPICS_OID: [u64; 8] = [1, 2, 840, 113635, 100, 6, 3, 6];

/// One DER TLV with a single-byte tag; lengths above 127 use the long form.
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Reads one DER TLV with a single-byte tag: (tag, content, rest).
fn der_read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > std::mem::size_of::<usize>() || rest.len() < n {
            return None;
        }
        let (bytes, tail) = rest.split_at(n);
        rest = tail;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        // DER: the shortest form, no leading zero bytes.
        if len < 0x80 || bytes[0] == 0 {
            return None;
        }
        len
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_short_and_long() {
        assert_eq!(der_tlv(0x0c, b"ab"), vec![0x0c, 2, b'a', b'b']);
        let v = der_tlv(0x0c, &[b'x'; 127]);
        assert_eq!(&v[..2], &[0x0c, 0x7f]);
        let v = der_tlv(0x0c, &[b'x'; 128]);
        assert_eq!(&v[..3], &[0x0c, 0x81, 0x80]);
        assert_eq!(v.len(), 3 + 128);
        let v = der_tlv(0x30, &[0; 300]);
        assert_eq!(&v[..4], &[0x30, 0x82, 0x01, 0x2c]);
        assert_eq!(der_read(&v), Some((0x30, &[0u8; 300][..], &[][..])));
        // Not DER: indefinite, non-minimal, truncated.
        assert_eq!(der_read(&[0x30, 0x80, 0, 0]), None);
        assert_eq!(der_read(&[0x0c, 0x81, 0x05, 1, 2, 3, 4, 5]), None);
        assert_eq!(der_read(&[0x0c, 0x03, 1, 2]), None);
    }

    #[test]
    fn topics_extension_is_apples_layout() {
        assert_eq!(
            topics_extension("a"),
            [
                &[0x30, 58][..],
                &[0x0c, 1, b'a'],
                &[0x30, 5, 0x0c, 3],
                b"app",
                &[0x0c, 6],
                b"a.voip",
                &[0x30, 6, 0x0c, 4],
                b"voip",
                &[0x0c, 14],
                b"a.complication",
                &[0x30, 14, 0x0c, 12],
                b"complication",
            ]
            .concat()
        );
    }

    #[test]
    fn certificates_carry_their_topics() {
        let ca = TestCa::new().unwrap();
        // A long bundle id forces long-form lengths in the extension.
        let long = format!("com.{}", "x".repeat(150));
        for bundle in ["com.a", long.as_str()] {
            let t = |kind| cert_topics(&ca.client_cert_of(bundle, kind).unwrap().cert_der);
            let topics = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            assert_eq!(
                t(CertKind::Universal),
                Some(CertTopics {
                    uid: bundle.into(),
                    topics: topics(&[
                        bundle,
                        &format!("{bundle}.voip"),
                        &format!("{bundle}.complication")
                    ]),
                })
            );
            assert_eq!(
                t(CertKind::Alert),
                Some(CertTopics {
                    uid: bundle.into(),
                    topics: topics(&[bundle]),
                })
            );
            let voip = format!("{bundle}.voip");
            assert_eq!(
                t(CertKind::Voip),
                Some(CertTopics {
                    uid: voip.clone(),
                    topics: vec![voip],
                })
            );
        }
    }

    #[test]
    fn subjects_and_extension_look_like_apples() {
        let ca = TestCa::new().unwrap();
        let der = ca
            .client_cert_of("com.a", CertKind::Universal)
            .unwrap()
            .cert_der;
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let cn = cert.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), "Apple Push Services: com.a");
        let ext = cert
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.2.840.113635.100.6.3.6")
            .unwrap();
        assert!(!ext.critical);
        assert_eq!(ext.value, topics_extension("com.a").as_slice());
        for (kind, want) in [
            (CertKind::Alert, "Apple Production IOS Push Services: com.a"),
            (CertKind::Voip, "VoIP Services: com.a"),
        ] {
            let der = ca.client_cert_of("com.a", kind).unwrap().cert_der;
            let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
            let cn = cert.subject().iter_common_name().next().unwrap();
            assert_eq!(cn.as_str().unwrap(), want);
            assert!(
                cert.extensions()
                    .iter()
                    .all(|e| e.oid.to_id_string() != "1.2.840.113635.100.6.3.6")
            );
        }
    }

    #[test]
    fn a_certificate_without_uid_has_no_topics() {
        let ca = TestCa::new().unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "VoIP Services: com.a");
        let cert = params.signed_by(&key, &ca.issuer).unwrap();
        assert_eq!(cert_topics(cert.der()), None);
        assert_eq!(cert_topics(b"not a certificate"), None);
    }
}

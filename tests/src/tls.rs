//! TLS for the test clients: connect to the gateway and accept its
//! self-signed certificate (handshake signatures are still verified).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use crate::Error;
use crate::client::{Io, RECV_TIMEOUT};

pub(crate) async fn tls_connect(peer: SocketAddr) -> Result<(Box<dyn Io>, String), Error> {
    let tcp = TcpStream::connect(peer)
        .await
        .map_err(|e| Error::io(format!("connect {peer}"), e))?;
    let local = tcp
        .local_addr()
        .map_err(|e| Error::io("local_addr", e))?
        .to_string();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(insecure_tls_config()));
    let name = rustls_pki_types::ServerName::IpAddress(peer.ip().into());
    let tls = tokio::time::timeout(RECV_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| Error::Timeout("TLS handshake".into()))?
        .map_err(|e| Error::io(format!("TLS handshake with {peer}"), e))?;
    Ok((Box::new(tls), local))
}

/// Client config that accepts any server certificate: the gateway under test
/// uses a freshly generated self-signed one. Signatures are still checked.
pub fn insecure_tls_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AcceptAnyCert(provider.clone()));
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        // Only fails for an unusable provider; ring with defaults is usable.
        .unwrap_or_else(|_| rustls::ClientConfig::builder())
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

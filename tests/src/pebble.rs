//! pebble, Let's Encrypt's ACME test server (Debian package `pebble`), on
//! loopback: its HTTPS certificate from a throw-away CA written next to its
//! config, validations sent to the gateway's ports, its issuing root fetched
//! from the management API. Plus the TLS probes the ACME and reload tests
//! use: what certificate a listener serves, and whether it chains to a root.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::Error;
use crate::util::{self, ProcGuard};

/// What pebble validates against and how long its certificates live.
#[derive(Debug, Clone, Copy)]
pub struct PebbleOptions {
    /// Port pebble's HTTP-01 validations connect to (the gateway's plain HTTP).
    pub http_port: u16,
    /// Port pebble's TLS-ALPN-01 validations connect to (the gateway's HTTPS).
    pub tls_port: u16,
    /// Lifetime of issued certificates, seconds (`certificateValidityPeriod`).
    pub validity_secs: u64,
}

pub struct Pebble {
    pub acme_port: u16,
    pub mgmt_port: u16,
    /// The CA that signed pebble's own HTTPS certificate (`[acme] ca`).
    pub ca_path: PathBuf,
    ca_der: CertificateDer<'static>,
    exe: PathBuf,
    config_path: PathBuf,
    /// The running process (None before [`Pebble::run`] / after [`Pebble::stop`]).
    proc: Option<ProcGuard>,
    runs: usize,
    dir: tempfile::TempDir,
}

impl Pebble {
    /// Starts pebble and waits until its directory answers.
    pub fn start(opts: PebbleOptions) -> Result<Pebble, Error> {
        let mut p = Pebble::prepare(opts)?;
        p.run()?;
        Ok(p)
    }

    /// Ports, certificates and config, without starting pebble (a gateway
    /// can be pointed at a CA that is not up yet).
    pub fn prepare(opts: PebbleOptions) -> Result<Pebble, Error> {
        let exe = util::find_exe("pebble")?;
        let dir = util::temp_dir("pebble")?;
        let acme_port = util::free_port()?;
        let mgmt_port = util::free_port()?;
        let setup = |e: rcgen::Error| Error::Setup(format!("pebble test CA: {e}"));
        // A CA for pebble's listeners (the package ships no certificates).
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(setup)?;
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sipwake pebble listener CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_key = rcgen::KeyPair::generate().map_err(setup)?;
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(setup)?;
        let key = rcgen::KeyPair::generate().map_err(setup)?;
        let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .map_err(setup)?;
        let cert = params.signed_by(&key, &ca).map_err(setup)?;
        let write = |name: &str, text: &str| -> Result<PathBuf, Error> {
            let p = dir.path().join(name);
            std::fs::write(&p, text).map_err(|e| Error::io(format!("write {name}"), e))?;
            Ok(p)
        };
        let ca_path = write("listener-ca.pem", &ca.pem())?;
        let cert_path = write("cert.pem", &cert.pem())?;
        let key_path = write("key.pem", &key.serialize_pem())?;
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{acme_port}"),
                "managementListenAddress": format!("127.0.0.1:{mgmt_port}"),
                "certificate": cert_path,
                "privateKey": key_path,
                "httpPort": opts.http_port,
                "tlsPort": opts.tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
                "certificateValidityPeriod": opts.validity_secs,
            }
        });
        let config_path = write("pebble-config.json", &config.to_string())?;
        Ok(Pebble {
            acme_port,
            mgmt_port,
            ca_path,
            ca_der: ca.der().clone(),
            exe,
            config_path,
            proc: None,
            runs: 0,
            dir,
        })
    }

    /// (Re)starts pebble — a new run knows no accounts and has a new root —
    /// and waits until its directory answers.
    pub fn run(&mut self) -> Result<(), Error> {
        self.stop();
        self.runs += 1;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("-config")
            .arg(&self.config_path)
            .current_dir(self.dir.path());
        // Validate at once (no random 0-15 s sleep), accept every good nonce,
        // and validate again for each order (no authorization reuse).
        cmd.env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0");
        let log = self.dir.path().join(format!("pebble.{}.log", self.runs));
        self.proc = Some(ProcGuard::spawn("pebble", cmd, &log)?);
        let acme_port = self.acme_port;
        util::wait_for("pebble's directory", Duration::from_secs(20), || {
            self.get(acme_port, "/dir").ok().filter(|(s, _)| *s == 200)
        })
        .map_err(|e| self.failure(&e.to_string()))?;
        Ok(())
    }

    /// Stops pebble (its state is in memory only: gone).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// The ACME directory URL.
    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.acme_port)
    }

    /// pebble's issuing root (generated at each start), from `/roots/0`.
    pub fn root(&self) -> Result<CertificateDer<'static>, Error> {
        let (status, body) = self.get(self.mgmt_port, "/roots/0")?;
        if status != 200 {
            return Err(self.failure(&format!("/roots/0 answered {status}")));
        }
        use rustls_pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(body.as_bytes())
            .map_err(|e| self.failure(&format!("/roots/0 is not a PEM certificate: {e}")))
    }

    pub fn log(&self) -> String {
        self.proc.as_ref().map(ProcGuard::log).unwrap_or_default()
    }

    pub fn failure(&self, what: &str) -> Error {
        Error::Peer {
            name: "pebble".into(),
            detail: format!(
                "{what}\n--- pebble log tail ---\n{}",
                util::tail(&self.log(), 40)
            ),
        }
    }

    /// HTTPS GET on one of pebble's ports, trusting the listener CA.
    fn get(&self, port: u16, path: &str) -> Result<(u16, String), Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_der.clone())
            .map_err(|e| Error::Setup(format!("listener CA: {e}")))?;
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = ServerName::try_from("127.0.0.1")
            .map_err(|e| Error::Setup(e.to_string()))?
            .to_owned();
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name)
            .map_err(|e| Error::Setup(e.to_string()))?;
        let addr = util::loopback(port);
        let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .map_err(|e| Error::io(format!("connect {addr}"), e))?;
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| Error::io("timeout", e))?;
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        tls.write_all(req.as_bytes())
            .map_err(|e| Error::io("pebble write", e))?;
        let mut resp = Vec::new();
        // pebble closes without close_notify at times: keep what arrived.
        let _ = tls.read_to_end(&mut resp);
        let text = String::from_utf8_lossy(&resp).to_string();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| Error::Protocol(format!("bad HTTP response from pebble {text:?}")))?;
        let body = text
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string();
        Ok((status, body))
    }
}

/// The chain a TLS listener presents (any certificate accepted, handshake
/// signatures checked), and the open connection for later use.
pub struct Served {
    pub chain: Vec<CertificateDer<'static>>,
    pub conn: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl Served {
    /// Hex serial of the end-entity certificate.
    pub fn serial(&self) -> String {
        serial_of(&self.chain[0])
    }
}

pub fn serial_of(cert: &CertificateDer<'_>) -> String {
    x509_parser::parse_x509_certificate(cert)
        .map(|(_, c)| c.raw_serial_as_string())
        .unwrap_or_default()
}

/// notAfter of a certificate, Unix seconds.
pub fn not_after_of(cert: &CertificateDer<'_>) -> i64 {
    x509_parser::parse_x509_certificate(cert)
        .map(|(_, c)| c.validity().not_after.timestamp())
        .unwrap_or_default()
}

/// Issuer common name of a certificate (for messages).
pub fn issuer_of(cert: &CertificateDer<'_>) -> String {
    x509_parser::parse_x509_certificate(cert)
        .map(|(_, c)| c.issuer().to_string())
        .unwrap_or_default()
}

#[derive(Debug)]
struct Recorder {
    provider: Arc<rustls::crypto::CryptoProvider>,
    chain: Mutex<Vec<CertificateDer<'static>>>,
}

impl rustls::client::danger::ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        *self.chain.lock().unwrap_or_else(|e| e.into_inner()) = chain;
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Handshakes with `addr` (SNI-less, as to an IP address) and returns the
/// chain it served with the open connection.
pub fn served(addr: SocketAddr) -> Result<Served, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let recorder = Arc::new(Recorder {
        provider: provider.clone(),
        chain: Mutex::new(Vec::new()),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let name = ServerName::IpAddress(addr.ip().into());
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| Error::Setup(e.to_string()))?;
    let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| Error::io(format!("connect {addr}"), e))?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| Error::io("timeout", e))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)
            .map_err(|e| Error::io(format!("TLS handshake with {addr}"), e))?;
    }
    let chain = recorder
        .chain
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if chain.is_empty() {
        return Err(Error::Protocol(format!("{addr} presented no certificate")));
    }
    Ok(Served {
        chain,
        conn: rustls::StreamOwned::new(conn, sock),
    })
}

/// Whether `chain` verifies for the IP `ip` against `root` alone (webpki, as
/// a client trusting only that root would).
pub fn verifies(
    chain: &[CertificateDer<'static>],
    root: &CertificateDer<'static>,
    ip: std::net::IpAddr,
) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).map_err(|e| e.to_string())?;
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .map_err(|e| e.to_string())?;
    use rustls::client::danger::ServerCertVerifier;
    verifier
        .verify_server_cert(
            &chain[0],
            &chain[1..],
            &ServerName::IpAddress(ip.into()),
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A CRLF keep-alive (RFC 5626) on an open SIP TLS connection: `\r\n\r\n`
/// is answered with `\r\n` while the connection is up and served.
pub fn keepalive(
    conn: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
) -> Result<(), Error> {
    conn.write_all(b"\r\n\r\n")
        .map_err(|e| Error::io("keep-alive write", e))?;
    let mut buf = [0u8; 2];
    conn.read_exact(&mut buf)
        .map_err(|e| Error::io("keep-alive answer", e))?;
    if &buf != b"\r\n" {
        return Err(Error::Protocol(format!("keep-alive answered {buf:?}")));
    }
    Ok(())
}

/// Writes a PEM file via a temporary file + rename (as certbot swaps files).
pub fn replace_file(path: &Path, text: &str) -> Result<(), Error> {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).map_err(|e| Error::io(format!("write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("rename {}", path.display()), e))
}

/// A self-signed certificate for 127.0.0.1 and its key, as PEM.
pub fn self_signed(cn: &str) -> Result<(String, String), Error> {
    let setup = |e: rcgen::Error| Error::Setup(format!("test certificate: {e}"));
    let key = rcgen::KeyPair::generate().map_err(setup)?;
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .map_err(setup)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&key).map_err(setup)?;
    Ok((cert.pem(), key.serialize_pem()))
}

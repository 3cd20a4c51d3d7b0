//! Shared harness for the transport integration tests: start the transports
//! on loopback port 0 with a recording sink, and wait on conditions.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sipwake::config::Config;
use sipwake::http;
use sipwake::tls;
use sipwake::transport::{BoundListener, FlowId, Inbound, Sink, TransportHandle, TransportKind};
use tokio::sync::mpsc;

/// Everything a deadline in these tests waits for, at most.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Records what the transports deliver.
pub struct RecordingSink {
    messages: mpsc::UnboundedSender<Inbound>,
    closed: mpsc::UnboundedSender<FlowId>,
}

impl Sink for RecordingSink {
    fn on_message(&self, msg: Inbound) {
        let _ = self.messages.send(msg);
    }
    fn on_flow_closed(&self, flow: FlowId) {
        let _ = self.closed.send(flow);
    }
}

pub struct Harness {
    pub handle: TransportHandle,
    pub messages: mpsc::UnboundedReceiver<Inbound>,
    pub closed: mpsc::UnboundedReceiver<FlowId>,
    pub listeners: Vec<BoundListener>,
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    pub config: Config,
}

pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "sipwake-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A config with every listener on 127.0.0.1 port 0 (plain HTTP included).
pub fn loopback_config(tag: &str) -> Config {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut c = Config {
        data_dir: temp_dir(tag),
        ..Config::default()
    };
    c.sip.udp = vec![any];
    c.sip.tcp = vec![any];
    c.sip.tls = vec![any];
    c.http.https = Some(any);
    c.http.http = Some(any);
    c
}

impl Harness {
    /// Start transports + HTTP listeners for `config`, the way main does.
    pub async fn start(config: Config) -> Harness {
        tls::install_crypto_provider();
        let material = tls::load_or_generate(&config, None).expect("tls material");
        let sip_tls = tls::server_config(&material, &[]).unwrap();
        let https_tls = tls::server_config(&material, &[b"http/1.1"]).unwrap();
        let handle = TransportHandle::new(&config, Some(tls::client_config(&config).unwrap()));
        let (mtx, messages) = mpsc::unbounded_channel();
        let (ctx, closed) = mpsc::unbounded_channel();
        let sink = Arc::new(RecordingSink {
            messages: mtx,
            closed: ctx,
        });
        let listeners = handle
            .start(&config, Some(sip_tls), sink)
            .await
            .expect("bind");
        let app = http::router(handle.clone(), vec!["https://phone.example".into()])
            .merge(sipwake::web::router(sipwake::web::WebSite::default()));
        let mut https = None;
        if let Some(addr) = config.http.https {
            let l = http::bind(&handle, addr, Some(https_tls)).await.unwrap();
            https = Some(l.addr);
            http::serve(&handle, l, app.clone());
        }
        let mut plain = None;
        if let Some(addr) = config.http.http {
            let l = http::bind(&handle, addr, None).await.unwrap();
            plain = Some(l.addr);
            http::serve(&handle, l, app.clone());
        }
        handle.set_ready();
        Harness {
            handle,
            messages,
            closed,
            listeners,
            http: plain,
            https,
            config,
        }
    }

    pub fn addr(&self, kind: TransportKind) -> SocketAddr {
        self.listeners
            .iter()
            .find(|l| l.kind == kind)
            .map(|l| l.addr)
            .unwrap_or_else(|| panic!("no {kind} listener"))
    }

    /// The next delivered message (panics after DEADLINE).
    pub async fn next_message(&mut self) -> Inbound {
        tokio::time::timeout(DEADLINE, self.messages.recv())
            .await
            .expect("timed out waiting for a message")
            .expect("sink dropped")
    }

    /// Asserts nothing is delivered until `probe` (sent after the thing that
    /// must be dropped) arrives: ordering proves the first was dropped.
    pub async fn next_message_is(&mut self, call_id: &str) -> Inbound {
        let m = self.next_message().await;
        assert!(
            String::from_utf8_lossy(&m.bytes).contains(&format!("Call-ID: {call_id}\r\n")),
            "expected Call-ID {call_id}, got:\n{}",
            String::from_utf8_lossy(&m.bytes)
        );
        m
    }

    /// Waits until `flow` is reported closed (panics after DEADLINE).
    pub async fn wait_closed(&mut self, flow: FlowId) {
        let wait = async {
            while let Some(f) = self.closed.recv().await {
                if f == flow {
                    return;
                }
            }
            panic!("sink dropped");
        };
        tokio::time::timeout(DEADLINE, wait)
            .await
            .expect("timed out waiting for flow close");
    }

    pub fn cert_path(&self) -> PathBuf {
        self.config.data_files().self_signed_cert
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.config.data_dir);
    }
}

/// A small SIP request with a correct Content-Length.
pub fn sip_request(call_id: &str, body: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:a@127.0.0.1>;tag=1\r\n\
         To: <sip:gw@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A request with `extra` additional header lines.
pub fn sip_request_with_headers(call_id: &str, extra: usize) -> Vec<u8> {
    let mut head = String::from_utf8(sip_request(call_id, "")).unwrap();
    head.truncate(head.len() - 2);
    for i in 0..extra {
        head.push_str(&format!("X-Pad-{i}: {i}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// A client TLS config trusting exactly `cert` (the gateway's self-signed one).
pub fn client_tls_trusting(cert: &std::path::Path) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Reads from `r` until EOF or error; panics if it stays open past DEADLINE.
/// Returns everything read.
pub async fn read_until_closed<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(DEADLINE, read)
        .await
        .expect("connection was not closed");
    all
}

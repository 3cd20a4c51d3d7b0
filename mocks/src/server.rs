//! The HTTP server under every mock: HTTP/1.1 and HTTP/2 (h2c prior knowledge
//! on plain TCP, ALPN over TLS), a connection counter so tests can check that
//! a client keeps one long-lived connection, and the client certificate of
//! the TLS session handed to the handler.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::MockError;

/// Request bodies above this are refused (every mock input is bounded).
const MAX_BODY: usize = 1 << 20;

/// What the handler knows about the connection a request came on.
#[derive(Debug, Default)]
pub struct ConnInfo {
    /// DER of the TLS client certificate, when one was presented and verified.
    pub client_cert: Option<Vec<u8>>,
}

pub type Handler = Arc<dyn Fn(&ConnInfo, Request<Bytes>) -> Response<Full<Bytes>> + Send + Sync>;

/// Counters and knobs shared by every connection of a server.
#[derive(Debug, Default)]
struct Shared {
    connections: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    delay_ms: AtomicU64,
}

/// A running server; stops when dropped.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Server {
    /// Listens on 127.0.0.1:0 and serves `handler` until dropped.
    pub async fn start(
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: Handler,
    ) -> Result<Self, MockError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let counter = shared.clone();
        let acceptor = tls.map(TlsAcceptor::from);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                counter.connections.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                let shared = counter.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    match acceptor {
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(tcp).await else {
                                return;
                            };
                            let client_cert = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| c.to_vec());
                            serve(
                                TokioIo::new(stream),
                                ConnInfo { client_cert },
                                handler,
                                shared,
                            )
                            .await;
                        }
                        None => {
                            serve(TokioIo::new(tcp), ConnInfo::default(), handler, shared).await
                        }
                    }
                });
            }
        });
        Ok(Self { addr, shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Delay every response by `d` (to observe client concurrency/timeouts).
    pub fn set_delay(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// The most requests ever being handled at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve<I>(io: TokioIo<I>, info: ConnInfo, handler: Handler, shared: Arc<Shared>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let info = Arc::new(info);
    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
        let handler = handler.clone();
        let info = info.clone();
        let shared = shared.clone();
        async move {
            let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
            let delay = shared.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let (parts, body) = req.into_parts();
            let response = match Limited::new(body, MAX_BODY).collect().await {
                Ok(body) => handler(&info, Request::from_parts(parts, body.to_bytes())),
                Err(_) => plain(413, "request body too large"),
            };
            shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(io, service)
        .await;
}

/// A response with a JSON body.
pub fn json(status: u16, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

/// A response with a text body.
pub fn plain(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    r
}

/// A header as text, or "" when absent or not text.
pub fn header<'a>(req: &'a Request<Bytes>, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

//! HTTP(S) listeners on axum: WebSocket SIP at `/ws` (RFC 7118), `/healthz`.
//!
//! [`router`] holds only those two; `main` merges the feature routers (web
//! demo, `/api/v1`, `/metrics`) into it and [`serve`]s the result.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Extension, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::net::ConnMeta;
use crate::transport::{self, BindError, TransportHandle, TransportKind};

/// State of the SIP-over-HTTP routes.
#[derive(Clone)]
struct AppState {
    transports: TransportHandle,
}

/// `/ws` (SIP over WebSocket into the transports) and `/healthz`.
pub fn router(transports: TransportHandle) -> Router {
    Router::new()
        .route("/ws", get(ws_upgrade))
        .route("/healthz", get(healthz))
        .with_state(AppState { transports })
}

async fn healthz(State(app): State<AppState>) -> Response {
    if app.transports.is_ready() {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response()
    }
}

/// RFC 7118 §4: the client must offer the `sip` subprotocol.
const NO_SIP_SUBPROTOCOL: &str = "WebSocket subprotocol \"sip\" required (RFC 7118)\n";

/// Read chunk of a WebSocket connection.
const WS_READ_BUFFER: usize = 4096;

async fn ws_upgrade(
    State(app): State<AppState>,
    Extension(meta): Extension<ConnMeta>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(u) => u.protocols(["sip"]),
        Err(rejection) => return rejection.into_response(),
    };
    if upgrade.selected_protocol().is_none() {
        tracing::info!(remote = %meta.remote, "websocket refused: no \"sip\" subprotocol offered");
        return (StatusCode::BAD_REQUEST, NO_SIP_SUBPROTOCOL).into_response();
    }
    let Some(slot) = app.transports.reserve_ws() else {
        tracing::warn!(remote = %meta.remote, "refusing websocket: max_connections reached");
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections\n").into_response();
    };
    let kind = if meta.secure {
        TransportKind::Wss
    } else {
        TransportKind::Ws
    };
    let max = app.transports.max_message_bytes();
    let handle = app.transports.clone();
    let tracker = handle.shared().tasks.clone();
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        // tungstenite's defaults allocate 128 KiB read (and up to 128 KiB
        // write) buffers per connection; SIP messages are a few KiB and an
        // idle phone must cost little (bench/RESULTS.md measured ~155 kB per
        // held client with the defaults). Larger messages still assemble.
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .on_failed_upgrade(
            move |e| tracing::info!(remote = %meta.remote, error = %e, "websocket upgrade failed"),
        )
        .on_upgrade(move |socket| {
            tracker.track_future(transport::ws::run(
                handle,
                socket,
                kind,
                meta.local,
                meta.remote,
                slot,
            ))
        })
}

/// A bound HTTP or HTTPS listener, not yet serving.
pub struct HttpListener {
    listener: TcpListener,
    pub addr: SocketAddr,
    tls: Option<TlsAcceptor>,
}

impl HttpListener {
    pub fn kind(&self) -> TransportKind {
        if self.tls.is_some() {
            TransportKind::Wss
        } else {
            TransportKind::Ws
        }
    }
}

/// Bind an HTTP listener (`tls` = HTTPS) and register it for WS/WSS Via.
pub async fn bind(
    transports: &TransportHandle,
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<HttpListener, BindError> {
    let kind = if tls.is_some() {
        TransportKind::Wss
    } else {
        TransportKind::Ws
    };
    let err = |source| BindError { kind, addr, source };
    let listener = TcpListener::bind(addr).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    transports.register_listener(kind, local);
    Ok(HttpListener {
        listener,
        addr: local,
        tls: tls.map(TlsAcceptor::from),
    })
}

/// Serve `router` on a bound listener until the transports shut down.
pub fn serve(transports: &TransportHandle, listener: HttpListener, router: Router) {
    let shared = transports.shared().clone();
    let shutdown = transports.shutdown_token();
    let tasks = shared.tasks.clone();
    let read_timeout = shared.limits.read_timeout;
    tasks.clone().spawn(async move {
        let HttpListener {
            listener,
            addr,
            tls,
        } = listener;
        loop {
            let (sock, remote) = tokio::select! {
                _ = shutdown.cancelled() => return,
                a = listener.accept() => match a {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(addr = %addr, error = %e, "http accept failed");
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                        }
                    }
                },
            };
            let Some(slot) = shared.acquire_http_connection() else {
                tracing::warn!(%remote, max_connections = shared.limits.max_connections,
                    "refusing http connection: max_connections reached");
                continue;
            };
            let _ = sock.set_nodelay(true);
            let meta = ConnMeta {
                local: sock.local_addr().unwrap_or(addr),
                remote,
                secure: tls.is_some(),
            };
            let router = router.clone();
            let tls = tls.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                let _slot = slot;
                match tls {
                    None => serve_conn(sock, meta, router, shutdown, read_timeout).await,
                    Some(acceptor) => {
                        let hs = tokio::select! {
                            _ = shutdown.cancelled() => return,
                            r = timeout(read_timeout, acceptor.accept(sock)) => r,
                        };
                        match hs {
                            Ok(Ok(s)) => serve_conn(s, meta, router, shutdown, read_timeout).await,
                            Ok(Err(e)) => {
                                tracing::debug!(%remote, error = %e, "https handshake failed")
                            }
                            Err(_) => tracing::info!(%remote, "https handshake timed out"),
                        }
                    }
                }
            });
        }
    });
}

async fn serve_conn<S>(
    io: S,
    meta: ConnMeta,
    router: Router,
    shutdown: tokio_util::sync::CancellationToken,
    read_timeout: Duration,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(meta);
        let router = router.clone();
        async move { Ok::<_, Infallible>(router.oneshot(req).await.into_response()) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(read_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(remote = %meta.remote, error = %e, "http connection error");
            }
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = timeout(Duration::from_secs(2), conn).await;
        }
    }
}

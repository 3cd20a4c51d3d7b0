//! HTTP(S) listeners on axum: WebSocket SIP at `/ws` (RFC 7118), `/healthz`.
//!
//! Browsers may open `/ws` only from the gateway's own origin or an origin
//! the operator allowed (`[web] allowed_origins`): a page on another site
//! must not turn a visitor's browser into a SIP client of this gateway
//! (cross-site WebSocket hijacking). Clients that send no `Origin` (phones,
//! SDKs, other servers) are not browsers and are not affected.
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
use axum::http::{HeaderMap, StatusCode, header};
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
    /// Browser origins allowed besides the gateway's own.
    ws_origins: Arc<Vec<String>>,
}

/// `/ws` (SIP over WebSocket into the transports) and `/healthz`;
/// `ws_origins`: the other origins whose pages may open `/ws`.
pub fn router(transports: TransportHandle, ws_origins: Vec<String>) -> Router {
    Router::new()
        .route("/ws", get(ws_upgrade))
        .route("/healthz", get(healthz))
        .with_state(AppState {
            transports,
            ws_origins: Arc::new(ws_origins),
        })
}

/// Whether a WebSocket handshake may proceed: no `Origin` (not a browser),
/// an allowed origin, or the page's own origin — its authority equal to the
/// `Host` it connected to (default ports filled in: 443 on TLS, else 80).
fn origin_allowed(headers: &HeaderMap, allowed: &[String], secure: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some((scheme, authority)) = origin.split_once("://") else {
        // "null" (sandboxed or file: pages) and anything else odd.
        return false;
    };
    let origin_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => 443,
        "http" => 80,
        _ => return false,
    };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let host_port = if secure { 443 } else { 80 };
    authority_key(authority, origin_port) == authority_key(host, host_port)
}

/// `(lowercase host, port)` of `host[:port]` (IPv6 in brackets).
fn authority_key(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, p.parse().ok()?),
        _ => (authority, default_port),
    };
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
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
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if !origin_allowed(&headers, &app.ws_origins, meta.secure) {
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or("?");
        tracing::warn!(remote = %meta.remote, %origin, "websocket refused: page origin not allowed ([web] allowed_origins)");
        return (
            StatusCode::FORBIDDEN,
            "origin not allowed ([web] allowed_origins)\n",
        )
            .into_response();
    }
    let upgrade = match upgrade {
        Ok(u) => u.protocols(["sip"]),
        Err(rejection) => return rejection.into_response(),
    };
    if upgrade.selected_protocol().is_none() {
        tracing::info!(remote = %meta.remote, "websocket refused: no \"sip\" subprotocol offered");
        return (StatusCode::BAD_REQUEST, NO_SIP_SUBPROTOCOL).into_response();
    }
    let Some(slot) = app.transports.reserve_ws(meta.remote.ip()) else {
        tracing::warn!(remote = %meta.remote, "refusing websocket: max_connections or [limits] flows_per_ip reached");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn websocket_origins() {
        let allowed = vec!["https://phone.example".to_string()];
        let ok = |origin: Option<&str>, host: &str, secure: bool| {
            origin_allowed(&headers(origin, host), &allowed, secure)
        };
        // Not a browser.
        assert!(ok(None, "gw.example:8443", true));
        // The gateway's own pages, default ports filled in.
        assert!(ok(Some("https://gw.example:8443"), "gw.example:8443", true));
        assert!(ok(Some("https://GW.example"), "gw.example", true));
        assert!(ok(Some("https://gw.example:443"), "gw.example", true));
        assert!(ok(Some("http://127.0.0.1:8080"), "127.0.0.1:8080", false));
        assert!(ok(Some("https://[::1]:8443"), "[::1]:8443", true));
        // Allowed elsewhere.
        assert!(ok(Some("https://phone.example"), "gw.example:8443", true));
        // Anything else.
        assert!(!ok(Some("https://evil.example"), "gw.example:8443", true));
        assert!(!ok(
            Some("https://gw.example:8444"),
            "gw.example:8443",
            true
        ));
        assert!(!ok(Some("http://gw.example"), "gw.example", true));
        assert!(!ok(Some("null"), "gw.example", true));
        assert!(!ok(Some("chrome-extension://abc"), "gw.example", true));
    }
}

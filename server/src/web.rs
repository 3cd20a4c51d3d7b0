//! Static hosting for browser phones, on the same HTTP(S) listeners as `/ws`:
//! `/` the web demo, `/firebase-messaging-sw.js` at the root (Firebase and the
//! MPUSH manual require the root path), `/sdk/…` the WASM SDK packages, and
//! `GET /api/v1/webconfig`, which tells a page the push settings the operator
//! configured (Firebase web config and/or the VAPID public key).
//!
//! The files come from the binary itself ([`Files::Embedded`]: `server/web-assets/`,
//! built by `scripts/web-assets.sh`, so a gateway started anywhere has its
//! web phone) unless `[web]` points at an operator's own build on disk
//! ([`Files::Disk`], read per request so a rebuild shows up at once).

use std::borrow::Cow;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde::Serialize;

use crate::config::WebSection;
use crate::net::ConnMeta;

/// Largest file served from disk; the demo bundle and the SDK are well below.
const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// The web files compiled into the binary (`server/web-assets/README.md`).
/// `debug-embed`: debug builds embed them too, so tests see what ships.
#[derive(rust_embed::Embed)]
#[folder = "web-assets/"]
struct Embedded;

/// Where one kind of static file comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Files {
    /// Compiled into the binary.
    Embedded,
    /// The operator's own build: a directory (demo, SDK) or a file (worker).
    Disk(PathBuf),
}

impl Files {
    fn from_config(path: &Option<PathBuf>) -> Files {
        path.clone().map_or(Files::Embedded, Files::Disk)
    }
}

/// `[web]` names files that are not there.
#[derive(Debug, thiserror::Error)]
#[error(
    "[web] {key} = {path:?}: {reason} (leave the key out to serve the copy built into sipwake)"
)]
pub struct WebFilesError {
    pub key: &'static str,
    pub path: PathBuf,
    pub reason: &'static str,
}

/// Where the static files come from and what `/api/v1/webconfig` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSite {
    /// The web demo (`web-demo/build.mjs` output), served at `/`.
    pub demo: Files,
    /// The service worker, served at `/firebase-messaging-sw.js`.
    pub service_worker: Files,
    /// The WASM SDK (`web/`, `no-modules/`, `node/`), served at `/sdk/`.
    pub sdk: Files,
    /// Firebase web app config (`apiKey`, `projectId`, `messagingSenderId`,
    /// `appId`, …) exactly as the Firebase console shows it; `None` = the
    /// page uses standard Web Push.
    pub firebase: Option<serde_json::Value>,
    /// Firebase's "Web Push certificate" public key, for `getToken({vapidKey})`.
    pub firebase_vapid_key: Option<String>,
    /// The gateway's own VAPID public key (base64url), for standard Web Push.
    pub vapid_public_key: Option<String>,
    /// SIP domain the page pre-fills; `None` = the page's host name.
    pub domain: Option<String>,
    /// Origins whose pages may read `/api/v1/webconfig` (CORS).
    pub allowed_origins: Vec<String>,
}

impl Default for WebSite {
    /// Everything from the binary, nothing configured.
    fn default() -> Self {
        WebSite {
            demo: Files::Embedded,
            service_worker: Files::Embedded,
            sdk: Files::Embedded,
            firebase: None,
            firebase_vapid_key: None,
            vapid_public_key: None,
            domain: None,
            allowed_origins: Vec::new(),
        }
    }
}

impl WebSite {
    /// From the `[web]` section plus the gateway's VAPID public key (from the
    /// push dispatcher, when Web Push is available). Configured paths must
    /// exist: a typo would otherwise serve 404s to every visitor.
    pub fn from_section(
        s: &WebSection,
        vapid_public_key: Option<String>,
    ) -> Result<WebSite, WebFilesError> {
        let check = |key: &'static str, path: &Option<PathBuf>, dir: bool| match path {
            Some(p) if dir && !p.is_dir() => Err(WebFilesError {
                key,
                path: p.clone(),
                reason: "not a directory",
            }),
            Some(p) if !dir && !p.is_file() => Err(WebFilesError {
                key,
                path: p.clone(),
                reason: "not a file",
            }),
            _ => Ok(Files::from_config(path)),
        };
        let opt = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
        Ok(WebSite {
            demo: check("demo_dir", &s.demo_dir, true)?,
            service_worker: check("service_worker", &s.service_worker, false)?,
            sdk: check("sdk_dir", &s.sdk_dir, true)?,
            firebase: (!s.firebase.is_empty()).then(|| {
                serde_json::Value::Object(
                    s.firebase
                        .iter()
                        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                        .collect(),
                )
            }),
            firebase_vapid_key: opt(&s.firebase_vapid_key),
            vapid_public_key,
            domain: opt(&s.domain),
            allowed_origins: s.allowed_origins.clone(),
        })
    }
}

/// The web routes. Generic over the state type so it merges into any router.
pub fn router<S: Clone + Send + Sync + 'static>(config: WebSite) -> Router<S> {
    Router::new()
        .route(
            "/api/v1/webconfig",
            get(webconfig).options(webconfig_preflight),
        )
        .route("/firebase-messaging-sw.js", get(service_worker))
        .route("/sdk/{*path}", get(sdk_file))
        .fallback(demo_file)
        .with_state(Arc::new(config))
}

/// The JSON body of `GET /api/v1/webconfig`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WebConfigBody<'a> {
    /// `wss://<Host>/ws` (or `ws://` on the plain listener): a hint, the
    /// page lets the user change it.
    ws_url: Option<String>,
    firebase: Option<&'a serde_json::Value>,
    firebase_vapid_key: Option<&'a str>,
    vapid_public_key: Option<&'a str>,
    domain: Option<&'a str>,
    sdk: &'static str,
    service_worker: &'static str,
}

async fn webconfig(State(cfg): State<Arc<WebSite>>, req: Request) -> Response {
    // The connection knows whether it is TLS; without it (tests, or behind a
    // TLS-terminating proxy) trust X-Forwarded-Proto.
    let secure = req.extensions().get::<ConnMeta>().is_some_and(|m| m.secure)
        || forwarded_https(req.headers());
    let ws_url = host_of(req.headers()).map(|host| {
        let scheme = if secure { "wss" } else { "ws" };
        format!("{scheme}://{host}/ws")
    });
    let body = WebConfigBody {
        ws_url,
        firebase: cfg.firebase.as_ref(),
        firebase_vapid_key: cfg.firebase_vapid_key.as_deref(),
        vapid_public_key: cfg.vapid_public_key.as_deref(),
        domain: cfg.domain.as_deref(),
        sdk: "/sdk/",
        service_worker: "/firebase-messaging-sw.js",
    };
    let origin = allowed_origin(&cfg, req.headers());
    let mut resp = axum::Json(body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(o) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
    }
    resp
}

/// CORS preflight (`OPTIONS`) for a page on an allowed origin; others get
/// 403 and no CORS headers, so the browser refuses.
async fn webconfig_preflight(State(cfg): State<Arc<WebSite>>, headers: HeaderMap) -> Response {
    let Some(origin) = allowed_origin(&cfg, &headers) else {
        return (
            StatusCode::FORBIDDEN,
            "origin not allowed ([web] allowed_origins)\n",
        )
            .into_response();
    };
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin),
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET"),
            ),
            // What a page may add to its GET (e.g. `Cache-Control: no-cache`
            // for a fresh config) without being refused.
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Accept, Cache-Control, Content-Type"),
            ),
            (
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            ),
            (header::VARY, HeaderValue::from_static("Origin")),
        ],
    )
        .into_response()
}

/// The request's `Origin` when `[web] allowed_origins` lists it.
fn allowed_origin(cfg: &WebSite, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let o = origin.to_str().ok()?;
    cfg.allowed_origins
        .iter()
        .any(|a| a.eq_ignore_ascii_case(o))
        .then(|| origin.clone())
}

fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The request's Host, if it is a plausible `host[:port]` (it is echoed back).
fn host_of(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    ok.then_some(host)
}

async fn service_worker(State(cfg): State<Arc<WebSite>>, headers: HeaderMap) -> Response {
    let file = match &cfg.service_worker {
        Files::Embedded => embedded("firebase-messaging-sw.js"),
        Files::Disk(path) => read_file(path)
            .await
            .inspect_err(|e| {
                tracing::warn!(path = %path.display(), error = %e, "service worker not readable");
            })
            .ok(),
    };
    let Some(file) = file else {
        return not_found();
    };
    let mut resp = file.into_response(&headers, "text/javascript; charset=utf-8");
    let h = resp.headers_mut();
    // Lets the worker control the whole site even if it is ever
    // registered from a script in a sub-directory.
    h.insert("service-worker-allowed", HeaderValue::from_static("/"));
    // Browsers must always see the current worker (update checks).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn sdk_file(State(cfg): State<Arc<WebSite>>, req: Request) -> Response {
    let rel = req.uri().path().strip_prefix("/sdk/").unwrap_or_default();
    serve(&cfg.sdk, "sdk", rel, req.headers()).await
}

async fn demo_file(State(cfg): State<Arc<WebSite>>, req: Request) -> Response {
    let path = req.uri().path();
    let rel = path.strip_prefix('/').unwrap_or(path);
    serve(&cfg.demo, "demo", rel, req.headers()).await
}

/// Serves `rel` (still percent-encoded) from `files`; a directory means its
/// `index.html`. `embedded_dir` is where the embedded copy lives.
async fn serve(files: &Files, embedded_dir: &str, rel: &str, headers: &HeaderMap) -> Response {
    let Some(rel) = safe_relative(rel) else {
        return not_found();
    };
    let found = match files {
        Files::Embedded => {
            let path = Path::new(embedded_dir).join(&rel);
            let index = path.join("index.html");
            embedded_path(&path)
                .map(|f| (f, path))
                .or_else(|| embedded_path(&index).map(|f| (f, index)))
        }
        Files::Disk(dir) => from_dir(dir, &rel).await,
    };
    let Some((file, path)) = found else {
        return not_found();
    };
    let mime = mime_for(&path);
    let mut resp = file.into_response(headers, mime);
    if mime.starts_with("text/html") {
        resp.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
    }
    resp
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// `rel` (checked by [`safe_relative`]) below `dir` on disk.
async fn from_dir(dir: &Path, rel: &Path) -> Option<(File, PathBuf)> {
    let mut path = dir.join(rel);
    if rel.as_os_str().is_empty() || path.is_dir() {
        path.push("index.html");
    }
    // A symlink must not lead out of the served directory.
    match (std::fs::canonicalize(dir), std::fs::canonicalize(&path)) {
        (Ok(root), Ok(real)) if real.starts_with(&root) => {}
        _ => return None,
    }
    let file = read_file(&path).await.ok()?;
    Some((file, path))
}

/// The demo loads only its own scripts and the SDK (WebAssembly needs
/// `wasm-unsafe-eval`); it talks to the gateway's WebSocket (any host: the
/// user may point it elsewhere) and, with Firebase, to Google's APIs.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     connect-src 'self' wss: ws: https://*.googleapis.com; img-src 'self' data:; \
     media-src 'self' blob: mediastream:; style-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'";

/// Decodes and checks a URL path below a served directory: no `..`, no
/// absolute parts, no NUL or backslash. `None` = refuse.
fn safe_relative(raw: &str) -> Option<PathBuf> {
    let decoded = percent_decode(raw)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let mut out = PathBuf::new();
    for comp in Path::new(&decoded).components() {
        match comp {
            Component::Normal(c) => {
                // Hidden files (.git, .env …) are never part of a build.
                if c.to_str().is_none_or(|s| s.starts_with('.')) {
                    return None;
                }
                out.push(c);
            }
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// `%XX` decoding of a URL path; `None` for a bad escape or non-UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn mime_for(path: &Path) -> &'static str {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name.ends_with(".d.ts") {
        return "text/plain; charset=utf-8";
    }
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        // WebAssembly.instantiateStreaming refuses any other type.
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "ts" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

struct File {
    body: Bytes,
    etag: String,
}

/// An embedded file by its path below `server/web-assets/`.
fn embedded(path: &str) -> Option<File> {
    let file = Embedded::get(path)?;
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let body = match file.data {
        Cow::Borrowed(b) => Bytes::from_static(b),
        Cow::Owned(v) => Bytes::from(v),
    };
    Some(File { body, etag })
}

fn embedded_path(path: &Path) -> Option<File> {
    embedded(path.to_str()?)
}

async fn read_file(path: &Path) -> io::Result<File> {
    let meta = tokio::fs::metadata(path).await?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "not a file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(io::Error::other("file too large to serve"));
    }
    let body = tokio::fs::read(path).await?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = format!("\"{:x}-{:x}\"", body.len(), mtime);
    Ok(File {
        body: Bytes::from(body),
        etag,
    })
}

impl File {
    fn into_response(self, req: &HeaderMap, mime: &'static str) -> Response {
        let not_modified = req
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == self.etag));
        let etag = HeaderValue::from_str(&self.etag).unwrap_or(HeaderValue::from_static("\"0\""));
        let common = [
            (header::ETAG, etag),
            // Revalidate every time: a rebuild must show up at once.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ];
        if not_modified {
            return (StatusCode::NOT_MODIFIED, common).into_response();
        }
        (
            StatusCode::OK,
            common,
            [(header::CONTENT_TYPE, HeaderValue::from_static(mime))],
            self.body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use std::sync::atomic::{AtomicU32, Ordering};
    use tower::ServiceExt;

    /// A scratch directory removed on drop (no tempfile dependency in this crate).
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "sipwake-web-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("scratch dir");
            Scratch(p)
        }

        fn write(&self, rel: &str, body: &[u8]) -> PathBuf {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, body).expect("write");
            p
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A built site: demo, worker, SDK, and a secret next to (outside) the demo dir.
    fn site() -> (Scratch, WebSite) {
        let s = Scratch::new();
        s.write("demo/index.html", b"<!DOCTYPE html><title>phone</title>");
        s.write("demo/app.js", b"console.log('app')");
        s.write("demo/sub/index.html", b"sub index");
        s.write("demo/.hidden", b"hidden");
        s.write("secret.txt", b"top secret");
        let sw = s.write(
            "sw/firebase-messaging-sw.js",
            b"self.addEventListener('push',()=>{})",
        );
        s.write("pkg/web/sipwake_wasm_bg.wasm", b"\0asm\x01\0\0\0");
        s.write(
            "pkg/web/sipwake_wasm.js",
            b"export default function init(){}",
        );
        s.write("pkg/web/sipwake_wasm.d.ts", b"export {}");
        let cfg = WebSite {
            demo: Files::Disk(s.0.join("demo")),
            service_worker: Files::Disk(sw),
            sdk: Files::Disk(s.0.join("pkg")),
            ..WebSite::default()
        };
        (s, cfg)
    }

    async fn get(
        cfg: &WebSite,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::builder().uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = router::<()>(cfg.clone())
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = to_bytes(resp.into_body(), usize::MAX).await.expect("body");
        (status, headers, body.to_vec())
    }

    fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
        h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[tokio::test]
    async fn root_serves_the_demo_index_with_csp() {
        let (_s, cfg) = site();
        let (st, h, body) = get(&cfg, "/", &[]).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(body, b"<!DOCTYPE html><title>phone</title>");
        assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
        assert!(header(&h, "content-security-policy").contains("'wasm-unsafe-eval'"));
        assert_eq!(header(&h, "x-content-type-options"), "nosniff");
        let (st, h, body) = get(&cfg, "/app.js", &[]).await;
        assert_eq!(
            (st, body.as_slice()),
            (StatusCode::OK, &b"console.log('app')"[..])
        );
        assert_eq!(header(&h, "content-type"), "text/javascript; charset=utf-8");
        let (st, _, body) = get(&cfg, "/sub/", &[]).await;
        assert_eq!((st, body.as_slice()), (StatusCode::OK, &b"sub index"[..]));
        assert_eq!(get(&cfg, "/nope.js", &[]).await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn service_worker_at_the_root_with_scope_and_no_cache() {
        let (_s, cfg) = site();
        let (st, h, body) = get(&cfg, "/firebase-messaging-sw.js", &[]).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(body, b"self.addEventListener('push',()=>{})");
        assert_eq!(header(&h, "service-worker-allowed"), "/");
        assert_eq!(header(&h, "cache-control"), "no-cache");
        assert_eq!(header(&h, "content-type"), "text/javascript; charset=utf-8");
        // The page registers it with ?firebase=…: same file.
        let (st, _, body2) = get(&cfg, "/firebase-messaging-sw.js?firebase=%7B%7D", &[]).await;
        assert_eq!((st, body2), (StatusCode::OK, body));
    }

    #[tokio::test]
    async fn sdk_files_with_the_wasm_mime_type() {
        let (_s, cfg) = site();
        let (st, h, body) = get(&cfg, "/sdk/web/sipwake_wasm_bg.wasm", &[]).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(header(&h, "content-type"), "application/wasm");
        assert_eq!(&body[..4], b"\0asm");
        let (_, h, _) = get(&cfg, "/sdk/web/sipwake_wasm.js", &[]).await;
        assert_eq!(header(&h, "content-type"), "text/javascript; charset=utf-8");
        let (_, h, _) = get(&cfg, "/sdk/web/sipwake_wasm.d.ts", &[]).await;
        assert_eq!(header(&h, "content-type"), "text/plain; charset=utf-8");
        assert_eq!(
            get(&cfg, "/sdk/web/missing.wasm", &[]).await.0,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn no_path_leaves_the_served_directories() {
        let (s, cfg) = site();
        #[cfg(unix)]
        std::os::unix::fs::symlink(s.0.join("secret.txt"), s.0.join("demo/link.txt"))
            .expect("symlink");
        for uri in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E%2Fsecret.txt",
            "/sub/..%2F..%2Fsecret.txt",
            "/sdk/..%2f..%2fsecret.txt",
            "/sdk/%2e%2e/%2e%2e/secret.txt",
            "/..%5csecret.txt",
            "/%00",
            "/%zz",
            "/%ff",
            "/.hidden",
            "/link.txt",
        ] {
            let (st, _, body) = get(&cfg, uri, &[]).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "{uri}");
            assert!(
                !String::from_utf8_lossy(&body).contains("top secret"),
                "{uri}"
            );
        }
    }

    #[tokio::test]
    async fn etag_revalidation_answers_304() {
        let (_s, cfg) = site();
        let (_, h, _) = get(&cfg, "/app.js", &[]).await;
        let etag = header(&h, "etag").to_string();
        assert!(etag.starts_with('"'), "{etag}");
        let (st, _, body) = get(&cfg, "/app.js", &[("if-none-match", &etag)]).await;
        assert_eq!(st, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        let (st, _, _) = get(&cfg, "/app.js", &[("if-none-match", "\"other\"")]).await;
        assert_eq!(st, StatusCode::OK);
    }

    #[tokio::test]
    async fn the_embedded_copies_are_served_by_default() {
        let cfg = WebSite::default();
        let (st, h, body) = get(&cfg, "/", &[]).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
        assert!(header(&h, "content-security-policy").contains("'wasm-unsafe-eval'"));
        assert!(String::from_utf8_lossy(&body).contains("<title>sipwake web phone</title>"));
        let (st, _, body) = get(&cfg, "/app.js", &[]).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.len() > 10_000,
            "the bundled phone: {} bytes",
            body.len()
        );
        let (st, h, body) = get(&cfg, "/firebase-messaging-sw.js", &[]).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(header(&h, "content-type"), "text/javascript; charset=utf-8");
        assert_eq!(header(&h, "service-worker-allowed"), "/");
        assert!(
            body.len() > 10_000,
            "the bundled worker: {} bytes",
            body.len()
        );
        for build in ["web", "no-modules", "node"] {
            let (st, h, body) = get(&cfg, &format!("/sdk/{build}/sipwake_wasm_bg.wasm"), &[]).await;
            assert_eq!(st, StatusCode::OK, "{build}");
            assert_eq!(header(&h, "content-type"), "application/wasm");
            assert_eq!(&body[..4], b"\0asm", "{build}");
            let (st, _, _) = get(&cfg, &format!("/sdk/{build}/sipwake_wasm.js"), &[]).await;
            assert_eq!(st, StatusCode::OK, "{build}");
        }
        // Revalidation by content hash.
        let (_, h, _) = get(&cfg, "/sdk/web/sipwake_wasm_bg.wasm", &[]).await;
        let etag = header(&h, "etag").to_string();
        assert_eq!(etag.len(), 34, "{etag}");
        let (st, _, body) = get(
            &cfg,
            "/sdk/web/sipwake_wasm_bg.wasm",
            &[("if-none-match", &etag)],
        )
        .await;
        assert_eq!((st, body.len()), (StatusCode::NOT_MODIFIED, 0));
        // Only the three served trees: not the notes beside them.
        for uri in [
            "/README.md",
            "/TOOLS",
            "/sdk/../README.md",
            "/%2e%2e/README.md",
            "/demo/index.html",
            "/sdk/README.md",
            "/nope.js",
        ] {
            assert_eq!(get(&cfg, uri, &[]).await.0, StatusCode::NOT_FOUND, "{uri}");
        }
    }

    #[test]
    fn configured_paths_must_exist() {
        let s = Scratch::new();
        s.write("demo/index.html", b"x");
        let section = |demo: &str, sw: &str| WebSection {
            demo_dir: Some(s.0.join(demo)),
            service_worker: Some(s.0.join(sw)),
            ..WebSection::default()
        };
        s.write("sw.js", b"x");
        let site = WebSite::from_section(&section("demo", "sw.js"), None).expect("both exist");
        assert_eq!(site.demo, Files::Disk(s.0.join("demo")));
        assert_eq!(site.sdk, Files::Embedded);
        let e = WebSite::from_section(&section("no-demo", "sw.js"), None).unwrap_err();
        assert_eq!((e.key, e.reason), ("demo_dir", "not a directory"));
        let e = WebSite::from_section(&section("demo", "demo"), None).unwrap_err();
        assert_eq!((e.key, e.reason), ("service_worker", "not a file"));
        assert!(e.to_string().contains("leave the key out"), "{e}");
    }

    #[tokio::test]
    async fn webconfig_reports_push_settings_and_ws_hint() {
        let (_s, mut cfg) = site();
        let (st, h, body) = get(
            &cfg,
            "/api/v1/webconfig",
            &[("host", "gw.example.com:8443")],
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(header(&h, "content-type"), "application/json");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            v,
            serde_json::json!({
                "wsUrl": "ws://gw.example.com:8443/ws", "firebase": null, "firebaseVapidKey": null,
                "vapidPublicKey": null, "domain": null, "sdk": "/sdk/",
                "serviceWorker": "/firebase-messaging-sw.js"
            })
        );
        cfg.firebase = Some(
            serde_json::json!({"apiKey": "k", "projectId": "p", "messagingSenderId": "1", "appId": "a"}),
        );
        cfg.firebase_vapid_key = Some("BFk".into());
        cfg.vapid_public_key = Some("BOr".into());
        cfg.domain = Some("example.com".into());
        let (_, _, body) = get(
            &cfg,
            "/api/v1/webconfig",
            &[("host", "gw.example.com"), ("x-forwarded-proto", "https")],
        )
        .await;
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["wsUrl"], "wss://gw.example.com/ws");
        assert_eq!(v["firebase"]["projectId"], "p");
        assert_eq!(v["firebaseVapidKey"], "BFk");
        assert_eq!(v["vapidPublicKey"], "BOr");
        assert_eq!(v["domain"], "example.com");
    }

    #[tokio::test]
    async fn webconfig_is_readable_from_allowed_origins_only() {
        let (_s, mut cfg) = site();
        cfg.allowed_origins = vec!["https://phone.example".into()];
        // The page's own origin: no CORS needed, none sent.
        let (status, h, _) = get(&cfg, "/api/v1/webconfig", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&h, "access-control-allow-origin"), "");
        assert_eq!(header(&h, "vary"), "Origin");
        // An allowed origin: its pages may read the answer.
        let origin = [("origin", "https://phone.example")];
        let (status, h, _) = get(&cfg, "/api/v1/webconfig", &origin).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            header(&h, "access-control-allow-origin"),
            "https://phone.example"
        );
        // Another origin: no CORS header, so the browser refuses.
        let other = [("origin", "https://evil.example")];
        let (_, h, _) = get(&cfg, "/api/v1/webconfig", &other).await;
        assert_eq!(header(&h, "access-control-allow-origin"), "");
        // Preflight.
        let preflight = |o: &'static str| {
            Request::builder()
                .method("OPTIONS")
                .uri("/api/v1/webconfig")
                .header("origin", o)
                .header("access-control-request-method", "GET")
                .body(Body::empty())
                .expect("request")
        };
        let resp = router::<()>(cfg.clone())
            .oneshot(preflight("https://phone.example"))
            .await
            .expect("infallible");
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let h = resp.headers();
        assert_eq!(
            header(h, "access-control-allow-origin"),
            "https://phone.example"
        );
        assert_eq!(header(h, "access-control-allow-methods"), "GET");
        assert!(header(h, "access-control-allow-headers").contains("Cache-Control"));
        let resp = router::<()>(cfg.clone())
            .oneshot(preflight("https://evil.example"))
            .await
            .expect("infallible");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(resp.headers().get("access-control-allow-origin").is_none());
    }

    #[tokio::test]
    async fn webconfig_uses_the_connection_security_and_refuses_odd_hosts() {
        let (_s, cfg) = site();
        let mut req = Request::builder()
            .uri("/api/v1/webconfig")
            .header("host", "127.0.0.1:8443")
            .body(Body::empty())
            .expect("request");
        req.extensions_mut().insert(ConnMeta {
            local: "127.0.0.1:8443".parse().expect("addr"),
            remote: "127.0.0.1:50000".parse().expect("addr"),
            secure: true,
        });
        let resp = router::<()>(cfg.clone())
            .oneshot(req)
            .await
            .expect("infallible");
        let body = to_bytes(resp.into_body(), usize::MAX).await.expect("body");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["wsUrl"], "wss://127.0.0.1:8443/ws");
        let (_, _, body) = get(&cfg, "/api/v1/webconfig", &[("host", "evil\"host")]).await;
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["wsUrl"], serde_json::Value::Null);
    }

    #[test]
    fn web_section_from_toml() {
        let s: WebSection = toml::from_str(
            "demo_dir = \"/srv/demo\"\ndomain = \"example.com\"\n\
             firebase = { apiKey = \"k\", projectId = \"p\", messagingSenderId = \"1\", appId = \"a\" }\n",
        )
        .expect("toml");
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.demo_dir, Some(PathBuf::from("/srv/demo")));
        assert_eq!(s.sdk_dir, None);
        let s = WebSection {
            demo_dir: None,
            ..s
        };
        let cfg = WebSite::from_section(&s, Some("BOr".into())).expect("no paths to check");
        assert_eq!(cfg.demo, Files::Embedded);
        assert_eq!(cfg.domain.as_deref(), Some("example.com"));
        assert_eq!(cfg.firebase_vapid_key, None);
        assert_eq!(cfg.vapid_public_key.as_deref(), Some("BOr"));
        assert_eq!(
            cfg.firebase,
            Some(
                serde_json::json!({"apiKey": "k", "projectId": "p", "messagingSenderId": "1", "appId": "a"})
            )
        );
        let empty: WebSection = toml::from_str("").expect("toml");
        assert_eq!(empty, WebSection::default());
        assert_eq!(
            WebSite::from_section(&empty, None).expect("nothing to check"),
            WebSite::default()
        );
        let partial: WebSection = toml::from_str("firebase = { projectId = \"p\" }").expect("toml");
        assert_eq!(
            partial.validate(),
            Err((
                "web.firebase",
                "missing apiKey, messagingSenderId, appId".to_string()
            ))
        );
        assert!(toml::from_str::<WebSection>("demo_dri = \"x\"").is_err());
    }

    #[test]
    fn percent_decoding_and_mime_types() {
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%c3%a9").as_deref(), Some("é"));
        assert_eq!(percent_decode("%c3"), None);
        assert_eq!(safe_relative(""), Some(PathBuf::new()));
        assert_eq!(safe_relative("a/./b"), Some(PathBuf::from("a/b")));
        assert_eq!(safe_relative("a/../b"), None);
        assert_eq!(mime_for(Path::new("x.wasm")), "application/wasm");
        assert_eq!(mime_for(Path::new("x.css")), "text/css; charset=utf-8");
        assert_eq!(mime_for(Path::new("x")), "application/octet-stream");
    }
}

//! API tests against the real router with an in-memory store.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use sipwake_core::mpush::{Provider, PushEnv};
use sipwake_store::{
    Binding, BindingSource, BindingStore, Piid, PiidCipher, PushTarget, SqliteStore, Upstream,
};
use tower::ServiceExt;

use super::*;

#[derive(Default)]
struct FakeBackend {
    pushes: Mutex<Vec<SendPush>>,
    removed: Mutex<Vec<String>>,
    /// `load()` answers this error when set.
    broken: Mutex<Option<String>>,
}

impl Backend for FakeBackend {
    fn send_push(&self, req: SendPush) -> BoxFuture<'_, Result<Vec<PushResult>, SendPushError>> {
        Box::pin(async move {
            let device = req
                .to_user
                .clone()
                .unwrap_or_else(|| req.to_token.clone().unwrap_or_default());
            self.pushes.lock().unwrap().push(req);
            Ok(vec![PushResult {
                device,
                outcome: "delivered".into(),
                detail: None,
            }])
        })
    }
    fn user_removed(&self, aor: &str, _removed: Vec<sipwake_store::Binding>) -> BoxFuture<'_, ()> {
        let aor = aor.to_string();
        Box::pin(async move { self.removed.lock().unwrap().push(aor) })
    }
    fn stats(&self) -> serde_json::Value {
        serde_json::json!({ "sent": 7 })
    }
    fn load(&self) -> Result<u8, String> {
        match self.broken.lock().unwrap().clone() {
            Some(e) => Err(e),
            None => Ok(1),
        }
    }
    fn reload(&self) -> Result<(), String> {
        Err("bad template".into())
    }
}

fn binding(aor: &str, token: &str) -> Binding {
    Binding {
        aor: aor.into(),
        device: sipwake_store::device_key(None, None, Provider::AndroidFcm, token),
        push: PushTarget {
            provider: Provider::AndroidFcm,
            env: PushEnv::Default,
            package: "com.example".into(),
            token: token.into(),
        },
        source: BindingSource::Mpush,
        contact: "<sip:1111@192.0.2.1>".into(),
        auth_user: Some("1111".into()),
        piid: Some(Piid::new("14d4f932e3897a39d6a17c13b526db00")),
        upstream: Upstream::default(),
        user_agent: None,
        created_at: 1,
        last_seen: 2,
        upstream_expires_at: None,
        app_expires: None,
        push_failures: 0,
    }
}

fn setup(tokens: &[&str]) -> (Router, Arc<FakeBackend>, Arc<SqliteStore>) {
    let store = Arc::new(SqliteStore::in_memory(PiidCipher::new([1; 32])).unwrap());
    store
        .upsert(&binding("sip:1111@example.com", "tokA"))
        .unwrap();
    store
        .upsert(&binding("sip:1111@example.com", "tokB"))
        .unwrap();
    let gw = Arc::new(FakeBackend::default());
    let state = ApiState {
        tokens: Arc::new(tokens.iter().map(|s| s.to_string()).collect()),
        store: store.clone(),
        backend: gw.clone(),
        wsload_limit: Arc::new(WindowLimit::per_second(3)),
    };
    (router(state), gw, store)
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Body::from(body.unwrap_or("").to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn every_route_requires_a_bearer_token() {
    let (app, _, _) = setup(&["s3cret"]);
    for (m, u) in routes_in_openapi() {
        let uri = u.replace("{user}", "1111@example.com");
        assert_eq!(
            call(&app, &m, &uri, None, None).await.0,
            StatusCode::UNAUTHORIZED,
            "{m} {uri}"
        );
        assert_eq!(
            call(&app, &m, &uri, Some("wrong"), None).await.0,
            StatusCode::UNAUTHORIZED,
            "{m} {uri}"
        );
    }
    let (open, _, _) = setup(&[]);
    let (status, body) = call(&open, "GET", "/api/v1/stats", Some(""), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("disabled"), "{body}");
}

#[tokio::test]
async fn bindings_list_never_shows_the_piid() {
    let (app, _, _) = setup(&["t"]);
    let (s, body) = call(&app, "GET", "/api/v1/bindings", Some("t"), None).await;
    assert_eq!(s, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["users"][0]["aor"], "sip:1111@example.com");
    assert_eq!(v["users"][0]["devices"], 2);
    let (s, body) = call(
        &app,
        "GET",
        "/api/v1/bindings?user=1111@example.com",
        Some("t"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(!body.contains("14d4f932"), "X-PIID leaked: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["devices"].as_array().unwrap().len(), 2);
    assert_eq!(v["devices"][0]["has_piid"], true);
    assert_eq!(v["devices"][0]["provider"], "a");
}

#[tokio::test]
async fn delete_removes_and_tells_the_backend() {
    let (app, gw, store) = setup(&["t"]);
    let (s, body) = call(
        &app,
        "DELETE",
        "/api/v1/bindings/1111@example.com",
        Some("t"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(store.user("sip:1111@example.com").unwrap().is_empty());
    assert_eq!(*gw.removed.lock().unwrap(), ["sip:1111@example.com"]);
    let (s, _) = call(
        &app,
        "DELETE",
        "/api/v1/bindings/1111@example.com",
        Some("t"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sendpush_validates_parameters() {
    let (app, gw, _) = setup(&["t"]);
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/push",
        Some("t"),
        Some(r#"{"to_user":"1111@example.com","message":"hi"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        gw.pushes.lock().unwrap()[0].kind,
        3,
        "type defaults to custom"
    );
    for bad in [
        r#"{"message":"hi"}"#,
        r#"{"to_user":"u","type":9}"#,
        r#"{"platform":"a","to_token":"x"}"#,
        r#"{"to_user":"u","bogus":1}"#,
        "not json",
    ] {
        let (s, body) = call(&app, "POST", "/api/v1/push", Some("t"), Some(bad)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad} -> {body}");
        assert!(body.contains("error"));
    }
    assert_eq!(gw.pushes.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn reload_reports_failure_and_keeps_the_old_set() {
    let (app, _, _) = setup(&["t"]);
    let (s, body) = call(&app, "POST", "/api/v1/reload", Some("t"), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("bad template") && body.contains("previous configuration kept"),
        "{body}"
    );
}

#[tokio::test]
async fn load_and_stats_follow_the_manual_contracts() {
    let (app, _, _) = setup(&["t"]);
    let (s, body) = call(&app, "GET", "/api/v1/load", Some("t"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.starts_with("OK: WS Load: 1"), "{body}");
    let (_, body) = call(&app, "GET", "/api/v1/stats", Some("t"), None).await;
    assert_eq!(body, r#"{"sent":7}"#);
}

/// The manual's client-side gateway selection: wsload without a secret,
/// `ERROR` when the gateway cannot take clients, bounded per second.
#[tokio::test(start_paused = true)]
async fn public_wsload_needs_no_token_and_is_bounded() {
    let (app, gw, _) = setup(&["t"]);
    let (s, body) = call(&app, "GET", "/wsload", None, None).await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::OK, "OK: WS Load: 1 type normal")
    );
    let (s, body) = call(&app, "GET", "/mvapireq/?apientry=wsload", None, None).await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::OK, "OK: WS Load: 1 type normal")
    );
    *gw.broken.lock().unwrap() = Some("the gateway is starting or stopping".into());
    let (s, body) = call(&app, "GET", "/wsload", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "ERROR: the gateway is starting or stopping");
    // Three per second in this setup: the fourth is told to retry.
    let (s, body) = call(&app, "GET", "/wsload", None, None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.starts_with("ERROR: too many"), "{body}");
    // The next second has room again.
    tokio::time::advance(std::time::Duration::from_secs(1)).await;
    *gw.broken.lock().unwrap() = None;
    let (s, _) = call(&app, "GET", "/wsload", None, None).await;
    assert_eq!(s, StatusCode::OK);
    // Other manual entries are not served without the API.
    let (s, body) = call(&app, "GET", "/mvapireq/?apientry=sendpush", None, None).await;
    assert_eq!(s, StatusCode::NOT_IMPLEMENTED);
    assert!(body.starts_with("ERROR: "), "{body}");
    // The admin form still needs its token.
    let (s, _) = call(&app, "GET", "/api/v1/load", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// (method, path) of every operation in the OpenAPI document.
fn routes_in_openapi() -> Vec<(String, String)> {
    let doc: openapiv3::OpenAPI =
        serde_json::from_str(OPENAPI_JSON).expect("the OpenAPI document is valid OpenAPI 3");
    let mut out = Vec::new();
    for (path, item) in doc.paths.paths.iter() {
        let item = item.as_item().expect("no $ref path items");
        for (method, _) in item.iter() {
            out.push((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[tokio::test]
async fn openapi_document_matches_the_routes() {
    let (app, _, _) = setup(&["t"]);
    let routes = routes_in_openapi();
    assert_eq!(routes.len(), 7);
    for (m, u) in routes {
        let uri = u.replace("{user}", "nobody@example.com");
        let body = (m == "POST").then_some(r#"{"to_user":"x"}"#);
        let (s, _) = call(&app, &m, &uri, Some("t"), body).await;
        assert!(
            s != StatusCode::NOT_FOUND || uri.contains("nobody"),
            "{m} {uri} is documented but not routed"
        );
        assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{m} {uri}");
    }
    let (s, body) = call(&app, "GET", "/api/v1/openapi.json", Some("t"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, OPENAPI_JSON);
    assert_eq!(
        call(&app, "GET", "/api/v1/nope", Some("t"), None).await.0,
        StatusCode::NOT_FOUND
    );
}

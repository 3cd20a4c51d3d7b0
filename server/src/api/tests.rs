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
    for (m, u, public) in routes_in_openapi() {
        if public {
            // /wsload and /mvapireq/ (its own authkey, tested below).
            continue;
        }
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
    // Other manual entries need the API secret.
    let (s, body) = call(&app, "GET", "/mvapireq/?apientry=sendpush", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(body.starts_with("ERROR: "), "{body}");
    // The admin form still needs its token.
    let (s, _) = call(&app, "GET", "/api/v1/load", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// The manual's `mvapireq` entries, starting with its own example URLs.
#[tokio::test]
async fn mvapireq_entries_answer_the_manuals_examples() {
    let token = "an-api-token-0001";
    let (app, gw, store) = setup(&[token]);
    let get = |uri: String| {
        let app = app.clone();
        async move { call(&app, "GET", &uri, None, None).await }
    };
    // "Send “hi” to user 2222 from the API" (its entry spelled `senpush`).
    let (s, body) = get(format!(
        "/mvapireq/?apientry=senpush&authkey={token}&authid=adminuser&authmd5=XXX&authsalt=XXX\
         &type=3&from_user=1111&to_user=2222&message=hi&now=555"
    ))
    .await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::OK, "OK: 1 delivered, 0 removed, 0 failed")
    );
    // "Send “hi” to the MizuDroid app with token TTT from the API".
    let (s, _) = get(format!(
        "/mvapireq/?apientry=sendpush&authkey={token}&type=3&from_user=1111&to_user=2222\
         &title=VoIP&message=hi&platform=a&package=com.mizuvoip.mizudroid.app&to_token=TTT&now=555"
    ))
    .await;
    assert_eq!(s, StatusCode::OK);
    {
        let pushes = gw.pushes.lock().unwrap();
        assert_eq!(pushes.len(), 2);
        assert_eq!(
            (
                pushes[0].kind,
                pushes[0].to_user.as_deref(),
                pushes[0].message.as_deref()
            ),
            (3, Some("2222"), Some("hi"))
        );
        assert_eq!(
            (
                pushes[1].platform.as_deref(),
                pushes[1].package.as_deref(),
                pushes[1].to_token.as_deref()
            ),
            (Some("a"), Some("com.mizuvoip.mizudroid.app"), Some("TTT"))
        );
        assert_eq!(pushes[1].title.as_deref(), Some("VoIP"));
    }
    // The authid/authsalt/authmd5 form: md5(salt + token), never the token.
    use md5::{Digest, Md5};
    let sum = hex::encode(
        Md5::new()
            .chain_update("s4lt")
            .chain_update(token)
            .finalize(),
    );
    let (s, _) = get(format!(
        "/mvapireq/?apientry=sendpushu&authid=ops&authsalt=s4lt&authmd5={sum}&to_user=2222&type=1&message=x"
    ))
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(gw.pushes.lock().unwrap()[2].kind, 1);
    // Wrong secrets, either form.
    for auth in [
        "authkey=nope",
        "authid=ops&authsalt=s4lt&authmd5=00",
        "authid=ops&authsalt=&authmd5=00",
    ] {
        let (s, body) = get(format!("/mvapireq/?apientry=pushstat&{auth}")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{auth}");
        assert!(body.starts_with("ERROR: authentication failed"), "{body}");
    }
    // Bad input is named, nothing is sent.
    for (query, status) in [
        (
            "apientry=sendpushu&to_token=TTT&platform=a&package=p&to_user=2",
            StatusCode::BAD_REQUEST,
        ),
        (
            "apientry=sendpush&type=9&to_user=2222",
            StatusCode::BAD_REQUEST,
        ),
        (
            "apientry=sendpush&type=x&to_user=2222",
            StatusCode::BAD_REQUEST,
        ),
        ("apientry=sendpush&message=hi", StatusCode::BAD_REQUEST),
        (
            "apientry=sendpush&to_user=2&colour=red",
            StatusCode::BAD_REQUEST,
        ),
        ("apientry=dropall", StatusCode::BAD_REQUEST),
        ("apientry=upperunreg", StatusCode::BAD_REQUEST),
    ] {
        let (s, body) = get(format!("/mvapireq/?{query}&authkey={token}")).await;
        assert_eq!(s, status, "{query}: {body}");
        assert!(body.starts_with("ERROR: "), "{query}: {body}");
    }
    assert_eq!(gw.pushes.lock().unwrap().len(), 3);
    // pushstat: the counters.
    let (s, body) = get(format!("/mvapireq/?apientry=pushstat&authkey={token}")).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "{\"sent\":7}"));
    // upperunreg: both bindings go, the gateway unregisters upstream.
    let (s, body) = get(format!(
        "/mvapireq/?apientry=upperunreg&authkey={token}&user=1111@example.com"
    ))
    .await;
    assert_eq!(
        (s, body.as_str()),
        (
            StatusCode::OK,
            "OK: removed 2 push binding(s) of sip:1111@example.com"
        )
    );
    assert!(store.user("sip:1111@example.com").unwrap().is_empty());
    assert_eq!(
        gw.removed.lock().unwrap().as_slice(),
        ["sip:1111@example.com"]
    );
    let (s, body) = get(format!(
        "/mvapireq/?apientry=upperunreg&authkey={token}&to_user=1111@example.com"
    ))
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
}

/// (method, path, public) of every operation in the OpenAPI document;
/// public = `security: []` (no bearer token).
fn routes_in_openapi() -> Vec<(String, String, bool)> {
    let doc: openapiv3::OpenAPI =
        serde_json::from_str(OPENAPI_JSON).expect("the OpenAPI document is valid OpenAPI 3");
    let mut out = Vec::new();
    for (path, item) in doc.paths.paths.iter() {
        let item = item.as_item().expect("no $ref path items");
        for (method, op) in item.iter() {
            let public = op.security.as_ref().is_some_and(|s| s.is_empty());
            out.push((method.to_uppercase(), path.clone(), public));
        }
    }
    out
}

#[tokio::test]
async fn openapi_document_matches_the_routes() {
    let (app, _, _) = setup(&["t"]);
    let routes = routes_in_openapi();
    assert_eq!(routes.len(), 10);
    for (m, u, _) in routes {
        let uri = u.replace("{user}", "nobody@example.com");
        let body = (m == "POST").then_some(r#"{"to_user":"x"}"#);
        let (s, text) = call(&app, &m, &uri, Some("t"), body).await;
        // Routed, and saying why there is nothing: no such user, no cluster.
        let explained = uri.contains("nobody") || text.contains("not in a cluster");
        assert!(
            s != StatusCode::NOT_FOUND || explained,
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

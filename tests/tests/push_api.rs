//! The operator API of the real gateway binary: bearer auth on every route,
//! the OpenAPI document, wsload, and pushes through FCM / APNs / Web Push
//! mocks to bindings made by REGISTERs through the gateway at a real
//! Kamailio (and to raw tokens); dead tokens remove bindings; stats move.

use serde_json::{Value, json};
use sipwake_e2e::push::{self, API_TOKEN, APP, Options, PushGateway};
use sipwake_mocks::apns::{ApnsAuth, ApnsFailure};
use sipwake_mocks::fcm::FcmFailure;

/// The routes this suite knows (`server/src/api/routes.rs`): (method, path
/// as in OpenAPI). Routes added later are picked up from openapi.json.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/push"),
    ("GET", "/api/v1/bindings"),
    ("DELETE", "/api/v1/bindings/{user}"),
    ("GET", "/api/v1/stats"),
    ("GET", "/api/v1/load"),
    ("GET", "/api/v1/openapi.json"),
];

async fn start(apns: bool) -> PushGateway {
    PushGateway::start(Options {
        apns,
        ..Options::default()
    })
    .await
    .unwrap()
}

/// (METHOD, path template) of every bearer-token operation in the served
/// OpenAPI document (the public `/wsload` and `/mvapireq/`, `security: []`,
/// are tested on their own).
async fn documented_routes(env: &PushGateway) -> Vec<(String, String)> {
    let (status, text) = env
        .api
        .call("GET", "/api/v1/openapi.json", Some(API_TOKEN), None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{text}");
    let doc: openapiv3::OpenAPI = serde_json::from_str(&text).expect("not an OpenAPI 3 document");
    assert!(doc.openapi.starts_with("3."), "version {}", doc.openapi);
    let mut documented = Vec::new();
    for (path, item) in &doc.paths.paths {
        let item = item.as_item().expect("no $ref path items");
        for (method, op) in item.iter() {
            assert!(
                !op.responses.responses.is_empty(),
                "{method} {path} has no responses"
            );
            if op.security.as_ref().is_some_and(|s| s.is_empty()) {
                continue;
            }
            documented.push((method.to_ascii_uppercase(), path.clone()));
        }
    }
    documented.sort();
    documented
}

/// A concrete path for a template (`{user}` → a test user).
fn concrete(path: &str) -> String {
    path.replace("{user}", "alice@sipwake.test")
}

/// Every route, the known ones and any other the OpenAPI document lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_the_bearer_token() {
    let env = start(false).await;
    let mut routes: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), concrete(p)))
        .collect();
    for (m, p) in documented_routes(&env).await {
        let r = (m, concrete(&p));
        if !routes.contains(&r) {
            routes.push(r);
        }
    }
    let body = json!({"to_user": "alice@sipwake.test"});
    for (method, path) in &routes {
        let b = (method == "POST").then_some(&body);
        for token in [
            None,
            Some("wrong-token"),
            Some(&API_TOKEN[..API_TOKEN.len() - 1]),
        ] {
            let (status, text) = env.api.call(method, path, token, b).await.unwrap();
            assert_eq!(status, 401, "{method} {path} with {token:?}: {text}");
        }
        // The right token gets past auth (404 = no binding for alice, a real answer).
        let (status, text) = env
            .api
            .call(method, path, Some(API_TOKEN), b)
            .await
            .unwrap();
        assert_ne!(
            status, 401,
            "{method} {path} refused the right token: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_is_openapi3_and_matches_the_routes() {
    let env = start(false).await;
    let documented = documented_routes(&env).await;
    // Every known route is documented (new routes may be added to both).
    for (method, path) in ROUTES {
        assert!(
            documented.contains(&(method.to_string(), path.to_string())),
            "{method} {path} missing from openapi.json: {documented:?}"
        );
    }
    // Every documented operation is served: auth only runs on matched
    // routes, so an unserved path or method would get 404/405, not 401.
    for (method, path) in &documented {
        let (status, text) = env
            .api
            .call(method, &concrete(path), None, None)
            .await
            .unwrap();
        assert_eq!(
            status, 401,
            "{method} {path} is documented but not served: {text}"
        );
    }
    let (status, _) = env
        .api
        .call("GET", "/api/v1/not-a-route", None, None)
        .await
        .unwrap();
    assert_eq!(
        status, 404,
        "the check above must tell served from unserved"
    );
}

/// The manual's `/mvapireq/` examples against the real binary: the pushes
/// reach FCM, upperunreg removes the binding, a wrong secret sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manuals_mvapireq_examples_reach_fcm() {
    let env = start(false).await;
    let _alice = env
        .register_push("alice", &format!("a:{APP}:fcm-mv-tok"))
        .await;
    let get = |q: String| {
        let api = env.api;
        async move {
            api.call("GET", &format!("/mvapireq/?{q}"), None, None)
                .await
                .unwrap()
        }
    };
    let (status, text) = get(format!(
        "apientry=senpush&authkey={API_TOKEN}&authid=adminuser&type=3&from_user=1111\
         &to_user=alice@sipwake.test&message=hi&now=555"
    ))
    .await;
    assert_eq!(
        (status, text.as_str()),
        (200, "OK: 1 delivered, 0 removed, 0 failed")
    );
    let (status, text) = get(format!(
        "apientry=senpush&authkey={API_TOKEN}&type=3&from_user=1111&to_user=2222&title=VoIP\
         &message=hi&platform=a&package={APP}&to_token=TTT&now=555"
    ))
    .await;
    assert_eq!(status, 200, "{text}");
    let got = env.fcm.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].body["message"]["token"], "fcm-mv-tok");
    assert_eq!(got[0].body["message"]["data"]["nmsg"], "hi");
    assert_eq!(got[1].body["message"]["token"], "TTT");
    assert_eq!(got[1].body["message"]["data"]["ntousr"], "2222");
    // A wrong secret: refused, nothing sent.
    let (status, text) =
        get("apientry=sendpushu&authkey=wrong&to_user=alice@sipwake.test".into()).await;
    assert_eq!(status, 401, "{text}");
    assert_eq!(env.fcm.received().len(), 2);
    // pushstat counts them; wsload needs no secret.
    let (status, text) = get(format!("apientry=pushstat&authkey={API_TOKEN}")).await;
    assert_eq!(status, 200, "{text}");
    let stats: Value = serde_json::from_str(&text).unwrap();
    assert!(stats["push"].is_array(), "{stats}");
    let (status, text) = get("apientry=wsload".into()).await;
    assert!(
        status == 200 && text.starts_with("OK: WS Load: "),
        "{status} {text}"
    );
    // upperunreg: alice's binding goes.
    let (status, text) = get(format!(
        "apientry=upperunreg&authkey={API_TOKEN}&user=alice@sipwake.test"
    ))
    .await;
    assert_eq!(
        (status, text.as_str()),
        (
            200,
            "OK: removed 1 push binding(s) of sip:alice@sipwake.test"
        )
    );
    assert!(
        env.api
            .devices("alice@sipwake.test")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_answers_the_wsload_text() {
    let env = start(false).await;
    let (status, text) = env
        .api
        .call("GET", "/api/v1/load", Some(API_TOKEN), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let level = text
        .strip_prefix("OK: WS Load: ")
        .and_then(|r| r.chars().next())
        .unwrap_or_else(|| panic!("not a wsload answer: {text:?}"));
    assert!(('0'..='4').contains(&level), "{text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_a_user_and_to_a_raw_token_via_fcm() {
    let env = start(false).await;
    let _alice = env
        .register_push("alice", &format!("a:{APP}:fcm-user-tok"))
        .await;
    let before = env.push_stat("fcm", APP).await;
    assert!(
        before.as_ref().is_none_or(|s| s["sent"] == 0),
        "sent before any push: {before:?}"
    );

    let results = env
        .api
        .push(&json!({
            "type": 1, "from_user": "bob", "to_user": "alice@sipwake.test", "message": "hello alice"
        }))
        .await
        .unwrap();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["outcome"], "delivered", "{results:?}");
    let got = env.fcm.received();
    assert_eq!(got.len(), 1, "exactly one FCM message: {got:?}");
    let msg = &got[0].body["message"];
    assert_eq!(got[0].project, push::FCM_PROJECT);
    assert_eq!(msg["token"], "fcm-user-tok");
    let data = &msg["data"];
    assert_eq!(data["ntype"], "1", "{msg}");
    assert_eq!(data["nfrom"], "bob", "{msg}");
    assert_eq!(data["nmsg"], "hello alice", "{msg}");
    assert_eq!(data["ntousr"], "alice", "{msg}");
    // The send needed a bearer token, which came from the mock's OAuth endpoint.
    assert!(env.fcm.token_requests() >= 1);
    assert_eq!(env.fcm.token_rejections(), 0);

    // Raw target: no binding needed.
    let results = env
        .api
        .push(&json!({
            "type": 3, "platform": "a", "package": APP, "to_token": "raw-fcm-tok", "message": "raw"
        }))
        .await
        .unwrap();
    assert_eq!(results[0]["outcome"], "delivered", "{results:?}");
    let got = env.fcm.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].body["message"]["token"], "raw-fcm-tok");
    assert_eq!(got[1].body["message"]["data"]["nmsg"], "raw");

    let stat = env.push_stat("fcm", APP).await.expect("no fcm stats entry");
    assert_eq!(stat["sent"], 2, "{stat}");
    assert_eq!(stat["failed"], 0, "{stat}");

    // A user without binding: 404, nothing sent.
    let (status, _) = env
        .api
        .call(
            "POST",
            "/api/v1/push",
            Some(API_TOKEN),
            Some(&json!({"to_user": "bob@sipwake.test"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 404);
    assert_eq!(env.fcm.received().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apns_call_and_chat_pushes() {
    let env = start(true).await;
    let apns = env.apns.as_ref().unwrap();
    let tok = push::apns_token("apns-api");
    let _bob = env.register_push("bob", &format!("p:i:{APP}:{tok}")).await;

    let call = env
        .api
        .push(&json!({"type": 0, "from_user": "alice", "to_user": "bob@sipwake.test"}))
        .await
        .unwrap();
    assert_eq!(call[0]["outcome"], "delivered", "{call:?}");
    let chat = env
        .api
        .push(&json!({"type": 1, "from_user": "alice", "to_user": "bob@sipwake.test", "message": "hi"}))
        .await
        .unwrap();
    assert_eq!(chat[0]["outcome"], "delivered", "{chat:?}");

    let got = apns.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|r| r.device_token == tok));
    assert!(
        matches!(got[0].auth, ApnsAuth::Jwt(_)),
        "token auth expected"
    );
    assert_eq!(got[0].headers["apns-push-type"], "voip");
    assert_eq!(got[0].headers["apns-topic"], format!("{APP}.voip"));
    assert_eq!(got[1].headers["apns-push-type"], "alert");
    assert_eq!(got[1].headers["apns-topic"], APP);
    let stat = env
        .push_stat("apns", APP)
        .await
        .expect("no apns stats entry");
    assert_eq!(stat["sent"], 2, "{stat}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_push_is_encrypted_to_the_subscription() {
    let env = start(false).await;
    let sub = env.webpush.subscribe();
    let token = push::subscription_token(&sub);
    let _carol = env
        .register_push("carol", &format!("w:webpush:{token}"))
        .await;
    let results = env
        .api
        .push(&json!({"type": 1, "from_user": "dave", "to_user": "carol@sipwake.test", "message": "web hello"}))
        .await
        .unwrap();
    assert_eq!(results[0]["outcome"], "delivered", "{results:?}");
    let got = env.webpush.received();
    assert_eq!(got.len(), 1, "rejected: {}", env.webpush.rejected());
    assert!(sub.endpoint.ends_with(&got[0].endpoint_id));
    let plain: Value = serde_json::from_slice(&got[0].plaintext).expect("decrypted JSON");
    assert_eq!(plain["data"]["nmsg"], "web hello", "{plain}");
    assert_eq!(plain["data"]["nfrom"], "dave", "{plain}");
    assert_eq!(plain["data"]["ntype"], "1", "{plain}");
    assert!(!got[0].vapid_key.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_tokens_remove_the_binding() {
    let env = start(true).await;
    let apns = env.apns.as_ref().unwrap();
    let _a = env
        .register_push("alice", &format!("a:{APP}:fcm-dead-tok"))
        .await;
    let apns_tok = push::apns_token("apns-dead");
    let _b = env
        .register_push("bob", &format!("i:{APP}:{apns_tok}"))
        .await;
    let sub = env.webpush.subscribe();
    let _c = env
        .register_push(
            "carol",
            &format!("w:webpush:{}", push::subscription_token(&sub)),
        )
        .await;
    env.fcm.fail("fcm-dead-tok", [FcmFailure::Unregistered]);
    apns.fail(&apns_tok, [ApnsFailure::Unregistered]);
    env.webpush.expire(&sub);

    for user in ["alice", "bob", "carol"] {
        let aor = format!("{user}@sipwake.test");
        assert_eq!(env.api.devices(&aor).await.unwrap().len(), 1, "{user}");
        let results = env
            .api
            .push(&json!({"type": 1, "from_user": "dave", "to_user": aor, "message": "x"}))
            .await
            .unwrap();
        assert_eq!(results[0]["outcome"], "removed", "{user}: {results:?}");
        assert!(
            env.api.devices(&aor).await.unwrap().is_empty(),
            "{user}'s binding survived a dead token"
        );
    }
    assert_eq!(
        env.fcm.attempts("fcm-dead-tok"),
        1,
        "no retry of a dead token"
    );
    assert_eq!(apns.attempts(&apns_tok), 1, "no retry of a dead token");
    let stat = env.push_stat("fcm", APP).await.expect("fcm stats");
    assert_eq!(stat["removed"], 1, "{stat}");
    assert!(env.gw.log().contains("binding removed"));
}

/// upperunreg: `DELETE /api/v1/bindings/{user}` removes every device of the
/// user and nothing else; a second call is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_user_removes_all_its_devices() {
    let env = start(false).await;
    let _a1 = env
        .register_push("alice", &format!("a:{APP}:del-tok-1"))
        .await;
    let _a2 = env
        .register_push("alice", &format!("a:{APP}:del-tok-2"))
        .await;
    let _b = env.register_push("bob", &format!("a:{APP}:keep-tok")).await;
    assert_eq!(
        env.api.devices("alice@sipwake.test").await.unwrap().len(),
        2
    );
    let v = env
        .api
        .json("DELETE", "/api/v1/bindings/alice@sipwake.test", None)
        .await
        .unwrap();
    assert_eq!(v["removed"], 2, "{v}");
    assert!(
        env.api
            .devices("alice@sipwake.test")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(env.api.devices("bob@sipwake.test").await.unwrap().len(), 1);
    let (status, _) = env
        .api
        .call(
            "DELETE",
            "/api/v1/bindings/alice@sipwake.test",
            Some(API_TOKEN),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 404);
}

/// Certificate auth (.p12): the mock sees the client certificate's bundle;
/// a call is a voip push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apns_push_with_a_p12_certificate() {
    let env = PushGateway::start(Options {
        apns: true,
        apns_p12: true,
        ..Options::default()
    })
    .await
    .unwrap();
    let apns = env.apns.as_ref().unwrap();
    let tok = push::apns_token("apns-p12");
    let _bob = env.register_push("bob", &format!("s:i:{APP}:{tok}")).await;
    let call = env
        .api
        .push(&json!({"type": 0, "from_user": "alice", "to_user": "bob@sipwake.test"}))
        .await
        .unwrap();
    assert_eq!(call[0]["outcome"], "delivered", "{call:?}");
    let got = apns.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].auth, ApnsAuth::Cert(APP.to_string()));
    assert_eq!(got[0].device_token, tok);
    assert_eq!(got[0].headers["apns-push-type"], "voip");
}

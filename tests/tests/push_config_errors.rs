//! A push configuration mistake never deletes a binding (the real gateway
//! binary, Kamailio, the strict APNs and FCM mocks): an alert-only APNs
//! certificate cannot carry calls — refused, counted, the binding kept; a
//! sandbox token is delivered on the sandbox host and the binding's
//! environment corrected; an FCM token of another project is a
//! configuration error, not a dead token.

use serde_json::{Value, json};
use sipwake_e2e::push::{self, API_TOKEN, APP, Options, PushGateway};
use sipwake_mocks::CertKind;
use sipwake_mocks::apns::ApnsEnv;

/// The `push` stats entry of (provider, app).
async fn push_stat(env: &PushGateway, provider: &str, app: &str) -> Value {
    env.push_stat(provider, app)
        .await
        .unwrap_or_else(|| panic!("no {provider}/{app} stats"))
}

async fn metrics(env: &PushGateway) -> String {
    let (status, text) = env
        .api
        .call("GET", "/metrics", Some(API_TOKEN), None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_only_certificate_refuses_calls_and_keeps_the_binding() {
    let env = PushGateway::start(Options {
        apns: true,
        apns_p12: true,
        apns_cert: Some(CertKind::Alert),
        ..Options::default()
    })
    .await
    .unwrap();
    let apns = env.apns.as_ref().unwrap();
    let tok = push::apns_token("alert-cert");
    let _bob = env.register_push("bob", &format!("i:{APP}:{tok}")).await;
    let aor = "bob@sipwake.test";

    let call = env
        .api
        .push(&json!({"type": 0, "from_user": "alice", "to_user": aor}))
        .await
        .unwrap();
    assert_eq!(call[0]["outcome"], "failed", "{call:?}");
    assert!(apns.received().is_empty(), "a doomed VoIP push is not sent");
    assert_eq!(env.api.devices(aor).await.unwrap().len(), 1, "binding kept");

    let chat = env
        .api
        .push(&json!({"type": 1, "from_user": "alice", "to_user": aor, "message": "hi"}))
        .await
        .unwrap();
    assert_eq!(chat[0]["outcome"], "delivered", "{chat:?}");
    let got = apns.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].headers["apns-push-type"], "alert");
    assert_eq!(got[0].headers["apns-topic"], APP);

    let stat = push_stat(&env, "apns", APP).await;
    assert_eq!(
        (stat["config_errors"].as_u64(), stat["removed"].as_u64()),
        (Some(1), Some(0)),
        "{stat}"
    );
    let m = metrics(&env).await;
    let line = format!("sipwake_push_config_errors_total{{provider=\"apns\",app=\"{APP}\"}} 1");
    assert!(m.contains(&line), "{line} missing from:\n{m}");
    let log = env.gw.log();
    assert!(
        log.contains("cannot carry VoIP pushes"),
        "startup warning missing"
    );
    assert!(
        log.contains("push configuration does not fit"),
        "error with the fix missing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_token_is_delivered_on_sandbox_and_the_binding_corrected() {
    let env = PushGateway::start(Options {
        apns: true,
        ..Options::default()
    })
    .await
    .unwrap();
    let apns = env.apns.as_ref().unwrap();
    let tok = push::apns_token("sandbox-token");
    apns.token_env(&tok, ApnsEnv::Sandbox);
    // No s/p prefix: the production host by default.
    let _bob = env.register_push("bob", &format!("i:{APP}:{tok}")).await;
    let aor = "bob@sipwake.test";

    let call = env
        .api
        .push(&json!({"type": 0, "from_user": "alice", "to_user": aor}))
        .await
        .unwrap();
    assert_eq!(call[0]["outcome"], "delivered", "{call:?}");
    assert_eq!(apns.attempts(&tok), 2, "production, then sandbox");
    let devices = env.api.devices(aor).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["env"], "s", "{devices:?}");

    // The next push goes to the sandbox at once.
    let again = env
        .api
        .push(&json!({"type": 0, "from_user": "alice", "to_user": aor}))
        .await
        .unwrap();
    assert_eq!(again[0]["outcome"], "delivered", "{again:?}");
    assert_eq!(apns.attempts(&tok), 3);
    assert!(apns.received().iter().all(|r| r.env == ApnsEnv::Sandbox));
    let stat = push_stat(&env, "apns", APP).await;
    assert_eq!(
        (stat["env_corrected"].as_u64(), stat["removed"].as_u64()),
        (Some(1), Some(0)),
        "{stat}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_fcm_token_of_another_project_keeps_its_binding() {
    let env = PushGateway::start(Options::default()).await.unwrap();
    let _alice = env
        .register_push("alice", &format!("a:{APP}:other-project-tok"))
        .await;
    env.fcm
        .token_of_project("other-project-tok", "someone-elses-project");
    let aor = "alice@sipwake.test";
    let results = env
        .api
        .push(&json!({"type": 0, "from_user": "bob", "to_user": aor}))
        .await
        .unwrap();
    assert_eq!(results[0]["outcome"], "failed", "{results:?}");
    assert_eq!(env.api.devices(aor).await.unwrap().len(), 1, "binding kept");
    let stat = push_stat(&env, "fcm", APP).await;
    assert_eq!(
        (stat["config_errors"].as_u64(), stat["removed"].as_u64()),
        (Some(1), Some(0)),
        "{stat}"
    );
}

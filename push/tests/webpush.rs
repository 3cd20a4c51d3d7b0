//! Direct Web Push against the mock push service: VAPID, aes128gcm
//! decryption to the exact payload, headers, gone subscriptions.

mod common;

use std::path::Path;

use common::*;
use serde_json::json;
use sipwake_mocks::webpush::WebPushMock;
use sipwake_push::{
    Dispatcher, NotificationKind, Priority, Provider, PushEnv, PushOutcome, PushRequest,
    Subscription, encode_subscription,
};

fn dispatcher(mock: &WebPushMock, dir: &Path) -> Dispatcher {
    let mut cfg = config(dir);
    let ca = dir.join("webpush-ca.pem");
    std::fs::write(&ca, mock.ca_pem()).unwrap();
    cfg.webpush.extra_ca_pem = Some(ca);
    cfg.webpush.subject = "mailto:ops@sipwake.example".into();
    cfg.webpush.allow_private_endpoints = true; // the mock is on loopback
    Dispatcher::new(cfg).unwrap()
}

/// The X-MPUSH token of a mock subscription (what the web SDK sends).
fn token_of(sub: &sipwake_mocks::webpush::Subscription) -> String {
    let sub: Subscription = serde_json::from_value(serde_json::to_value(sub).unwrap()).unwrap();
    encode_subscription(&sub)
}

fn request(token: String, payload: serde_json::Value) -> PushRequest {
    PushRequest {
        provider: Provider::WebPush,
        env: PushEnv::Default,
        package: "webpush".into(),
        token,
        kind: NotificationKind::Chat,
        payload,
        ttl_secs: 60,
        priority: Priority::Normal,
        collapse_id: Some("chat-1111".into()),
    }
}

#[tokio::test]
async fn decrypts_to_the_exact_payload() {
    let mock = WebPushMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&mock, dir.path());
    let sub = mock.subscribe();
    let payload = json!({"data": {"ntype": "1", "nfrom": "Alice Smith", "nfromusername": "1111",
        "nmsg": "hi \"there\" ✓", "ncallid": "c1", "ntousr": "2222"}});
    let out = d.send(request(token_of(&sub), payload.clone())).await;
    let PushOutcome::Delivered { id, .. } = out else {
        panic!("{out:?}")
    };
    assert!(id.starts_with("/message/"), "{id}");
    let got = mock.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].plaintext, serde_json::to_vec(&payload).unwrap());
    assert_eq!(got[0].ttl, "60");
    assert_eq!(got[0].urgency, "normal");
    assert_eq!(got[0].topic, "chat-1111");
    assert_eq!(got[0].vapid_key, d.vapid_public_key());
    assert_eq!(got[0].vapid_subject, "mailto:ops@sipwake.example");
    assert_eq!(mock.rejected(), 0);
}

#[tokio::test]
async fn fcm_shaped_payload_is_unwrapped() {
    let mock = WebPushMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&mock, dir.path());
    let sub = mock.subscribe();
    let mut req = fcm_request(Provider::WebPush, "webpush", "x", NotificationKind::Call);
    req.token = token_of(&sub);
    req.priority = Priority::High;
    let out = d.send(req).await;
    assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
    let got = &mock.received()[0];
    let v: serde_json::Value = serde_json::from_slice(&got.plaintext).unwrap();
    assert_eq!(v["data"]["ntype"], "0");
    assert_eq!(v["data"]["nfromusername"], "1111");
    assert!(v.get("token").is_none() && v.get("message").is_none());
    assert_eq!(got.urgency, "high");
    // The service worker's parser reads it.
    let n = sipwake_core::parse_webpush(std::str::from_utf8(&got.plaintext).unwrap()).unwrap();
    assert_eq!(n.kind, NotificationKind::Call);
    assert_eq!(n.call_id, "a84b4c76e66710@pc33.example.com");
}

#[tokio::test]
async fn gone_and_unknown_subscriptions_remove_the_binding() {
    let mock = WebPushMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&mock, dir.path());
    let sub = mock.subscribe();
    mock.expire(&sub);
    let out = d.send(request(token_of(&sub), json!({"data": {}}))).await;
    assert!(matches!(out, PushOutcome::RemoveBinding { .. }), "{out:?}");
    let mut unknown = mock.subscribe();
    unknown.endpoint = format!("{}/push/nosuch", mock.base_url());
    let out = d
        .send(request(token_of(&unknown), json!({"data": {}})))
        .await;
    assert!(matches!(out, PushOutcome::RemoveBinding { .. }), "{out:?}");
    let origin = mock.base_url();
    let c = d
        .stats()
        .into_iter()
        .find(|e| e.provider == "webpush" && e.app == origin)
        .unwrap()
        .counters;
    assert_eq!((c.removed, c.sent), (2, 0));
}

#[tokio::test]
async fn one_connection_for_many_pushes() {
    let mock = WebPushMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&mock, dir.path());
    let sub = mock.subscribe();
    let first = d.send(request(token_of(&sub), json!({"n": 0}))).await;
    assert!(matches!(first, PushOutcome::Delivered { .. }));
    let tasks: Vec<_> = (1..=20)
        .map(|i| {
            let d = d.clone();
            let t = token_of(&sub);
            tokio::spawn(async move { d.send(request(t, json!({ "n": i }))).await })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), PushOutcome::Delivered { .. }));
    }
    assert_eq!(mock.received().len(), 21);
    assert_eq!(mock.connections(), 1);
}

#[tokio::test]
async fn vapid_key_survives_restarts() {
    let mock = WebPushMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = dispatcher(&mock, dir.path()).vapid_public_key().to_owned();
    let b = dispatcher(&mock, dir.path()).vapid_public_key().to_owned();
    assert_eq!(a, b);
    assert_eq!(a.len(), 87, "base64url of a 65-byte uncompressed point");
    let other = tempfile::tempdir().unwrap();
    assert_ne!(dispatcher(&mock, other.path()).vapid_public_key(), a);
}

#[tokio::test]
async fn private_endpoints_are_refused_by_default() {
    let mock = WebPushMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, mock.ca_pem()).unwrap();
    cfg.webpush.extra_ca_pem = Some(ca);
    let d = Dispatcher::new(cfg).unwrap();
    let sub = mock.subscribe();
    let out = d.send(request(token_of(&sub), json!({"data": {}}))).await;
    assert!(matches!(out, PushOutcome::RemoveBinding { .. }), "{out:?}");
    assert_eq!(mock.connections(), 0, "never contacted");
}

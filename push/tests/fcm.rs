//! FCM HTTP v1 against the mock: payload, OAuth2 token handling, one
//! connection, error classes and the fcm_maxfail breaker.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use sipwake_mocks::fcm::{FcmFailure, FcmMock};
use sipwake_push::{ConfigError, Dispatcher, NotificationKind, Provider, PushOutcome};

const PKG: &str = "org.sipwake.demo";

struct Setup {
    mock: FcmMock,
    dispatcher: Dispatcher,
    _dir: tempfile::TempDir,
    key: PathBuf,
}

async fn setup(tweak: impl FnOnce(&mut sipwake_push::DispatcherConfig)) -> Setup {
    let mock = FcmMock::start("sipwake-mock").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("service-account.json");
    std::fs::write(&key, mock.service_account_json()).unwrap();
    let mut cfg = config(dir.path());
    cfg.fcm.base_url = mock.base_url();
    cfg.fcm.apps.insert(PKG.into(), key.clone());
    tweak(&mut cfg);
    let dispatcher = Dispatcher::new(cfg).unwrap();
    Setup {
        mock,
        dispatcher,
        _dir: dir,
        key,
    }
}

fn stats(d: &Dispatcher) -> sipwake_push::Counters {
    d.stats()
        .into_iter()
        .find(|e| e.provider == "fcm" && e.app == PKG)
        .map(|e| e.counters)
        .unwrap_or_default()
}

#[tokio::test]
async fn call_push_carries_the_manual_fields() {
    let s = setup(|_| {}).await;
    let out = s
        .dispatcher
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "tokA:1",
            NotificationKind::Call,
        ))
        .await;
    let PushOutcome::Delivered { id, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(id, "projects/sipwake-mock/messages/0:1");
    let got = s.mock.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].http_version,
        http::Version::HTTP_2,
        "h2 prior knowledge"
    );
    let m = &got[0].body["message"];
    assert_eq!(m["token"], "tokA:1");
    assert_eq!(m["data"]["ntype"], "0");
    assert_eq!(m["data"]["nfrom"], "Alice Smith");
    assert_eq!(m["data"]["nfromusername"], "1111");
    assert_eq!(m["data"]["ncallid"], "a84b4c76e66710@pc33.example.com");
    assert_eq!(m["data"]["ntousr"], "2222");
    assert_eq!(m["data"]["nmsg"], "");
    assert_eq!(m["android"]["priority"], "high");
    assert_eq!(m["android"]["ttl"], "0s");
    assert!(m.get("notification").is_none(), "removed for calls");
    assert!(m.get("apns").is_none() && m.get("webpush").is_none());
    let c = stats(&s.dispatcher);
    assert_eq!((c.sent, c.failed, c.removed), (1, 0, 0));
}

#[tokio::test]
async fn chat_ios_and_web_targets() {
    let s = setup(|_| {}).await;
    for (provider, kind) in [
        (Provider::AndroidFcm, NotificationKind::Chat),
        (Provider::IosFcm, NotificationKind::Call),
        (Provider::WebPush, NotificationKind::Chat),
    ] {
        let out = s
            .dispatcher
            .send(fcm_request(provider, PKG, "tok", kind))
            .await;
        assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
    }
    let got = s.mock.received();
    let chat = &got[0].body["message"];
    assert_eq!(chat["data"]["ntype"], "1");
    assert_eq!(chat["data"]["nmsg"], "hi \"there\"");
    assert_eq!(chat["notification"]["title"], "Message from 1111");
    let ios = &got[1].body["message"];
    assert_eq!(ios["apns"]["headers"]["apns-push-type"], "voip");
    assert!(ios.get("android").is_none());
    let web = &got[2].body["message"];
    assert!(web.get("webpush").is_some() && web.get("android").is_none());
}

#[tokio::test]
async fn one_token_and_one_connection_for_many_pushes() {
    let s = setup(|_| {}).await;
    let first = s
        .dispatcher
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "t0",
            NotificationKind::Call,
        ))
        .await;
    assert!(matches!(first, PushOutcome::Delivered { .. }));
    let pushes = (1..=30).map(|i| {
        let d = s.dispatcher.clone();
        tokio::spawn(async move {
            d.send(fcm_request(
                Provider::AndroidFcm,
                PKG,
                &format!("t{i}"),
                NotificationKind::Chat,
            ))
            .await
        })
    });
    for p in pushes.collect::<Vec<_>>() {
        assert!(matches!(p.await.unwrap(), PushOutcome::Delivered { .. }));
    }
    assert_eq!(s.mock.received().len(), 31);
    assert_eq!(s.mock.token_requests(), 1, "access token cached");
    assert_eq!(s.mock.token_rejections(), 0);
    // One HTTP/1.1 connection for the token request, one HTTP/2 for pushes.
    assert_eq!(s.mock.connections(), 2);
}

#[tokio::test]
async fn expired_token_is_refreshed() {
    let s = setup(|_| {}).await;
    // gcp_auth renews 20 s before expiry: a 20 s token is stale at once.
    s.mock.set_token_lifetime(20);
    for i in 0..3 {
        let out = s
            .dispatcher
            .send(fcm_request(
                Provider::AndroidFcm,
                PKG,
                &format!("t{i}"),
                NotificationKind::Call,
            ))
            .await;
        assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
    }
    assert_eq!(s.mock.token_requests(), 3);
}

#[tokio::test]
async fn dead_tokens_remove_the_binding() {
    let s = setup(|_| {}).await;
    s.mock.fail("gone", [FcmFailure::Unregistered]);
    s.mock.fail("bad", [FcmFailure::InvalidToken]);
    for t in ["gone", "bad"] {
        let out = s
            .dispatcher
            .send(fcm_request(
                Provider::AndroidFcm,
                PKG,
                t,
                NotificationKind::Call,
            ))
            .await;
        assert!(
            matches!(out, PushOutcome::RemoveBinding { .. }),
            "{t}: {out:?}"
        );
        assert_eq!(s.mock.attempts(t), 1, "{t}: not retried");
    }
    let c = stats(&s.dispatcher);
    assert_eq!((c.removed, c.sent, c.retries), (2, 0, 0));
}

/// A token of another Firebase project is our configuration's fault (the
/// service account's project), not a dead device: the binding stays.
#[tokio::test]
async fn sender_id_mismatch_keeps_the_binding_and_counts_a_config_error() {
    let s = setup(|_| {}).await;
    s.mock
        .token_of_project("other-project-tok", "some-other-project");
    s.mock.fail("programmed", [FcmFailure::SenderIdMismatch]);
    for t in ["other-project-tok", "programmed"] {
        let out = s
            .dispatcher
            .send(fcm_request(
                Provider::AndroidFcm,
                PKG,
                t,
                NotificationKind::Call,
            ))
            .await;
        assert!(
            matches!(out, PushOutcome::Failed { retryable: false, ref reason } if reason.contains("SENDER_ID_MISMATCH")),
            "{t}: {out:?}"
        );
        assert_eq!(s.mock.attempts(t), 1, "{t}: not retried");
    }
    let c = stats(&s.dispatcher);
    assert_eq!((c.removed, c.config_errors, c.failed), (0, 2, 2));
}

#[tokio::test]
async fn remove_on_push_fail_off_keeps_the_binding() {
    let s = setup(|c| c.delivery.remove_on_push_fail = false).await;
    s.mock.fail("gone", [FcmFailure::Unregistered]);
    let out = s
        .dispatcher
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "gone",
            NotificationKind::Call,
        ))
        .await;
    assert!(
        matches!(
            out,
            PushOutcome::Failed {
                retryable: false,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(stats(&s.dispatcher).removed, 1);
}

#[tokio::test]
async fn bad_payload_is_kept_and_not_retried() {
    let s = setup(|_| {}).await;
    s.mock.fail("t", [FcmFailure::InvalidPayload]);
    let out = s
        .dispatcher
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "t",
            NotificationKind::Call,
        ))
        .await;
    assert!(
        matches!(
            out,
            PushOutcome::Failed {
                retryable: false,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(s.mock.attempts("t"), 1);
}

#[tokio::test]
async fn quota_retry_honours_retry_after() {
    let s = setup(|_| {}).await;
    s.mock.fail(
        "t",
        [FcmFailure::QuotaExceeded {
            retry_after: Some(1),
        }],
    );
    let start = Instant::now();
    let out = s
        .dispatcher
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "t",
            NotificationKind::Call,
        ))
        .await;
    assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "waited Retry-After"
    );
    assert_eq!(s.mock.attempts("t"), 2);
    let c = stats(&s.dispatcher);
    assert_eq!((c.sent, c.retries, c.failed), (1, 1, 0));
}

#[tokio::test]
async fn server_errors_retry_a_bounded_number_of_times() {
    let s = setup(|_| {}).await;
    s.mock.fail(
        "t",
        [
            FcmFailure::Internal,
            FcmFailure::Unavailable { retry_after: None },
            FcmFailure::Internal,
            FcmFailure::Internal,
        ],
    );
    let out = s
        .dispatcher
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "t",
            NotificationKind::Call,
        ))
        .await;
    assert!(
        matches!(
            out,
            PushOutcome::Failed {
                retryable: true,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(s.mock.attempts("t"), 3, "1 + max_retries (2)");
    let c = stats(&s.dispatcher);
    assert_eq!((c.retries, c.failed, c.removed), (2, 1, 0));
}

#[tokio::test]
async fn retry_after_beyond_the_bound_is_not_waited_for() {
    let s = setup(|_| {}).await;
    s.mock.fail(
        "t",
        [FcmFailure::Unavailable {
            retry_after: Some(3600),
        }],
    );
    let start = Instant::now();
    let out = s
        .dispatcher
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "t",
            NotificationKind::Call,
        ))
        .await;
    assert!(
        matches!(
            out,
            PushOutcome::Failed {
                retryable: true,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(s.mock.attempts("t"), 1);
}

#[tokio::test]
async fn auth_errors_are_counted_and_keep_the_binding() {
    let s = setup(|_| {}).await;
    let ok = s
        .dispatcher
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "t",
            NotificationKind::Call,
        ))
        .await;
    assert!(matches!(ok, PushOutcome::Delivered { .. }));
    s.mock.revoke_tokens();
    let out = s
        .dispatcher
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "t",
            NotificationKind::Call,
        ))
        .await;
    let PushOutcome::Failed {
        retryable: false,
        reason,
    } = out
    else {
        panic!("{out:?}")
    };
    assert!(reason.contains("401"), "{reason}");
    // The 401 dropped the revoked access token: the next push gets a new one.
    let out = s
        .dispatcher
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "t",
            NotificationKind::Call,
        ))
        .await;
    assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
    assert_eq!(s.mock.token_requests(), 2);
    s.mock.fail("u", [FcmFailure::PermissionDenied]);
    let out = s
        .dispatcher
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "u",
            NotificationKind::Call,
        ))
        .await;
    assert!(
        matches!(
            out,
            PushOutcome::Failed {
                retryable: false,
                ..
            }
        ),
        "{out:?}"
    );
    let c = stats(&s.dispatcher);
    assert_eq!((c.auth_errors, c.removed), (2, 0));
}

#[tokio::test]
async fn maxfail_breaker_stops_fcm_until_reload() {
    let s = setup(|c| c.fcm.max_fail = 3).await;
    s.mock.fail("bad", vec![FcmFailure::InvalidPayload; 3]);
    for _ in 0..3 {
        let out = s
            .dispatcher
            .send(fcm_request(
                Provider::AndroidFcm,
                PKG,
                "bad",
                NotificationKind::Call,
            ))
            .await;
        assert!(matches!(out, PushOutcome::Failed { .. }));
    }
    let out = s
        .dispatcher
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "good",
            NotificationKind::Call,
        ))
        .await;
    let PushOutcome::Failed {
        retryable: false,
        reason,
    } = out
    else {
        panic!("{out:?}")
    };
    assert!(reason.contains("fcm_maxfail"), "{reason}");
    assert_eq!(s.mock.attempts("good"), 0, "not even tried");
    s.dispatcher.reload().unwrap();
    let out = s
        .dispatcher
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "good",
            NotificationKind::Call,
        ))
        .await;
    assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
}

#[tokio::test]
async fn success_resets_the_failure_count() {
    let s = setup(|c| c.fcm.max_fail = 2).await;
    for round in 0..3 {
        s.mock.fail("bad", [FcmFailure::InvalidPayload]);
        let bad = s
            .dispatcher
            .send(fcm_request(
                Provider::AndroidFcm,
                PKG,
                "bad",
                NotificationKind::Call,
            ))
            .await;
        assert!(matches!(bad, PushOutcome::Failed { .. }), "round {round}");
        let good = s
            .dispatcher
            .send(fcm_request(
                Provider::AndroidFcm,
                PKG,
                "ok",
                NotificationKind::Call,
            ))
            .await;
        assert!(
            matches!(good, PushOutcome::Delivered { .. }),
            "round {round}: {good:?}"
        );
    }
}

#[tokio::test]
async fn key_discovery_in_key_dir() {
    let mock = FcmMock::start("sipwake-mock").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fcmkey.com.example.one.json"),
        mock.service_account_json(),
    )
    .unwrap();
    let mut cfg = config(dir.path());
    cfg.fcm.base_url = mock.base_url();
    cfg.fcm.key_dir = Some(dir.path().to_owned());
    let d = Dispatcher::new(cfg.clone()).unwrap();
    let ok = d
        .send(fcm_request(
            Provider::AndroidFcm,
            "com.example.one",
            "t",
            NotificationKind::Call,
        ))
        .await;
    assert!(matches!(ok, PushOutcome::Delivered { .. }), "{ok:?}");
    // Found by the project id of a loaded key.
    let ok = d
        .send(fcm_request(
            Provider::AndroidFcm,
            "sipwake-mock",
            "t",
            NotificationKind::Call,
        ))
        .await;
    assert!(matches!(ok, PushOutcome::Delivered { .. }), "{ok:?}");
    let none = d
        .send(fcm_request(
            Provider::AndroidFcm,
            "com.example.two",
            "t",
            NotificationKind::Call,
        ))
        .await;
    assert!(
        matches!(
            none,
            PushOutcome::Failed {
                retryable: false,
                ..
            }
        ),
        "{none:?}"
    );
    // The default fcmkey.json serves every other package.
    std::fs::write(dir.path().join("fcmkey.json"), mock.service_account_json()).unwrap();
    let d = Dispatcher::new(cfg).unwrap();
    let ok = d
        .send(fcm_request(
            Provider::AndroidFcm,
            "com.example.two",
            "t",
            NotificationKind::Call,
        ))
        .await;
    assert!(matches!(ok, PushOutcome::Delivered { .. }), "{ok:?}");
}

#[tokio::test]
async fn a_bad_key_file_fails_at_startup() {
    let s = setup(|_| {}).await;
    std::fs::write(&s.key, "{\"type\":\"service_account\"}").unwrap();
    let mut cfg = config(s._dir.path());
    cfg.fcm.apps.insert(PKG.into(), s.key.clone());
    assert!(matches!(
        Dispatcher::new(cfg.clone()),
        Err(ConfigError::Credential { .. })
    ));
    // And a reload with a broken key keeps the running configuration.
    assert!(s.dispatcher.reload().is_err());
    let out = s
        .dispatcher
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "t",
            NotificationKind::Call,
        ))
        .await;
    assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
}

#[tokio::test]
async fn https_endpoint_with_extra_ca() {
    let mock = FcmMock::start_tls("sipwake-mock").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.json");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&key, mock.service_account_json()).unwrap();
    std::fs::write(&ca, mock.ca_pem().unwrap()).unwrap();
    let mut cfg = config(dir.path());
    cfg.fcm.base_url = mock.base_url();
    cfg.fcm.apps.insert(PKG.into(), key);
    // Without the test CA the server is not trusted.
    let untrusting = Dispatcher::new(cfg.clone()).unwrap();
    let out = untrusting
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "t",
            NotificationKind::Call,
        ))
        .await;
    assert!(
        matches!(
            out,
            PushOutcome::Failed {
                retryable: true,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(mock.received().is_empty());
    cfg.fcm.extra_ca_pem = Some(ca);
    let d = Dispatcher::new(cfg).unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let d = d.clone();
            tokio::spawn(async move {
                d.send(fcm_request(
                    Provider::AndroidFcm,
                    PKG,
                    &format!("t{i}"),
                    NotificationKind::Call,
                ))
                .await
            })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), PushOutcome::Delivered { .. }));
    }
    let got = mock.received();
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|r| r.http_version == http::Version::HTTP_2));
    assert_eq!(
        mock.server().connections(),
        1 + 3,
        "1 trusted h2 connection + 3 refused handshakes"
    );
}

#[tokio::test]
async fn manual_style_server_url_with_projectid() {
    let s = setup(|_| {}).await;
    let mut cfg = config(s._dir.path());
    cfg.fcm.base_url = format!("{}/v1/projects/PROJECTID/messages:send", s.mock.base_url());
    cfg.fcm.apps.insert(PKG.into(), s.key.clone());
    let d = Dispatcher::new(cfg).unwrap();
    let out = d
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "t",
            NotificationKind::Call,
        ))
        .await;
    assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
    assert_eq!(s.mock.received()[0].project, "sipwake-mock");
}

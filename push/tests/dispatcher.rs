//! Dispatcher-wide behaviour: bounded concurrency, timeouts, template
//! reload, missing credentials.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sipwake_core::template::PushFields;
use sipwake_mocks::fcm::FcmMock;
use sipwake_push::{
    Dispatcher, DispatcherConfig, NotificationKind, Provider, PushEnv, PushOutcome,
};

const PKG: &str = "org.sipwake.demo";

async fn fcm_setup(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut DispatcherConfig),
) -> (FcmMock, Dispatcher) {
    let mock = FcmMock::start("sipwake-mock").await.unwrap();
    let key = dir.join("key.json");
    std::fs::write(&key, mock.service_account_json()).unwrap();
    let mut cfg = config(dir);
    cfg.fcm.base_url = mock.base_url();
    cfg.fcm.apps.insert(PKG.into(), key);
    tweak(&mut cfg);
    let d = Dispatcher::new(cfg).unwrap();
    // Warm up: OAuth2 token and the HTTP/2 connection.
    let out = d
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "warm",
            NotificationKind::Call,
        ))
        .await;
    assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
    (mock, d)
}

#[tokio::test]
async fn in_flight_pushes_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, d) = fcm_setup(dir.path(), |c| c.delivery.max_in_flight = 3).await;
    mock.server().set_delay(Duration::from_millis(500));
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let d = d.clone();
            tokio::spawn(async move {
                d.send(fcm_request(
                    Provider::AndroidFcm,
                    PKG,
                    &format!("t{i}"),
                    NotificationKind::Chat,
                ))
                .await
            })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), PushOutcome::Delivered { .. }));
    }
    // Never more than the bound (12 would be in flight without it); the
    // range only tolerates a scheduler hiccup on a loaded machine.
    let max = mock.server().max_in_flight();
    assert!((2..=3).contains(&max), "max in flight {max}");
    assert_eq!(
        mock.connections(),
        2,
        "token connection + one HTTP/2 connection"
    );
}

#[tokio::test]
async fn slow_provider_times_out_as_retryable() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, d) = fcm_setup(dir.path(), |c| {
        c.delivery.timeout_ms = 300;
        c.delivery.max_retries = 1;
    })
    .await;
    mock.server().set_delay(Duration::from_secs(20));
    let start = Instant::now();
    let out = d
        .send(fcm_request(
            Provider::AndroidFcm,
            PKG,
            "slow",
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
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let c = d
        .stats()
        .into_iter()
        .find(|e| e.app == PKG)
        .unwrap()
        .counters;
    assert_eq!((c.retries, c.failed, c.sent), (1, 1, 1));
}

#[tokio::test]
async fn templates_are_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pushkitmessage.txt");
    std::fs::write(&path, r#"{"aps":{"alert":"TITLE"},"data":{"ntype":TYPE}}"#).unwrap();
    let mut cfg = config(dir.path());
    cfg.templates.apns = Some(path.clone());
    let d = Dispatcher::new(cfg).unwrap();
    let fields = PushFields {
        kind: NotificationKind::Call,
        from_username: "1111".into(),
        ..Default::default()
    };
    let v = d.templates().render_apns(&fields).unwrap();
    assert_eq!(v["aps"]["alert"], "Call from 1111");
    std::fs::write(&path, r#"{"aps":{"sound":"ring.caf"},"x":"FROMUSERNAME"}"#).unwrap();
    d.reload().unwrap();
    let v = d.templates().render_apns(&fields).unwrap();
    assert_eq!(v["aps"]["sound"], "ring.caf");
    assert_eq!(v["x"], "1111");
    // A broken edit is refused and the working templates stay.
    std::fs::write(&path, "{broken").unwrap();
    assert!(d.reload().is_err());
    assert_eq!(d.templates().render_apns(&fields).unwrap()["x"], "1111");
}

#[tokio::test]
async fn no_credentials_for_the_app_is_a_kept_failure() {
    let dir = tempfile::tempdir().unwrap();
    let d = Dispatcher::new(config(dir.path())).unwrap();
    let out = d
        .send(apns_request(
            "com.example.unknown",
            &format!("{:064x}", 1),
            NotificationKind::Call,
            PushEnv::Default,
        ))
        .await;
    let PushOutcome::Failed {
        retryable: false,
        reason,
    } = out
    else {
        panic!("{out:?}")
    };
    assert!(reason.contains("no APNs credentials"), "{reason}");
    let out = d
        .send(fcm_request(
            Provider::AndroidFcm,
            "com.example.unknown",
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
    let failed: u64 = d.stats().iter().map(|e| e.counters.failed).sum();
    assert_eq!(failed, 2);
}

#[tokio::test]
async fn build_request_applies_the_payload_options() {
    use sipwake_core::MpushBinding;
    use sipwake_core::template::RemoveNotification;
    use sipwake_push::Priority;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.payload.ttl = 60;
    cfg.payload.sound_call = "ring.caf".into();
    cfg.payload.sound_chat = "ding.caf".into();
    let d = Dispatcher::new(cfg.clone()).unwrap();
    let binding = |provider| MpushBinding {
        env: PushEnv::Sandbox,
        provider,
        package: PKG.into(),
        token: "tok".into(),
    };
    let chat = PushFields {
        kind: NotificationKind::Chat,
        from_username: "1111".into(),
        msg: "hi".into(),
        ..Default::default()
    };
    let r = d
        .build_request(&binding(Provider::AndroidFcm), chat.clone())
        .unwrap();
    let m = &r.payload["message"];
    assert_eq!(m["token"], "tok");
    assert_eq!(m["data"]["nmsg"], "hi");
    assert_eq!(m["android"]["ttl"], "60s");
    assert_eq!(m["android"]["notification"]["sound"], "ding.caf");
    assert_eq!(
        (r.ttl_secs, r.priority, r.env),
        (60, Priority::Normal, PushEnv::Sandbox)
    );

    let call = PushFields {
        kind: NotificationKind::Call,
        ..chat.clone()
    };
    let r = d
        .build_request(&binding(Provider::Apns), call.clone())
        .unwrap();
    assert_eq!(r.payload["aps"]["sound"], "ring.caf");
    assert_eq!(r.payload["data"]["ntype"], 0);
    assert_eq!((r.ttl_secs, r.priority), (60, Priority::High));
    let r = d
        .build_request(&binding(Provider::IosFcm), call.clone())
        .unwrap();
    assert_eq!(
        r.payload["message"]["apns"]["payload"]["aps"]["sound"],
        "ring.caf"
    );

    cfg.payload.fcm_remove_notification = RemoveNotification::Always;
    let d = Dispatcher::new(cfg).unwrap();
    let r = d.build_request(&binding(Provider::WebPush), chat).unwrap();
    let m = &r.payload["message"];
    assert!(m.get("notification").is_none() && m.get("webpush").is_some());
}

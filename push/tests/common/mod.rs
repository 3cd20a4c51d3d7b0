//! Helpers shared by the provider tests.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use sipwake_core::template::{PushFields, RemoveNotification, Target};
use sipwake_push::{
    DispatcherConfig, NotificationKind, Priority, Provider, PushEnv, PushRequest, Templates,
};

/// A config with fast retries and the VAPID key in `dir`.
pub fn config(dir: &Path) -> DispatcherConfig {
    let mut cfg = DispatcherConfig::default();
    cfg.webpush.vapid_private_key = dir.join("vapid.key");
    cfg.delivery.retry_base_ms = 20;
    cfg.delivery.max_retries = 2;
    cfg.delivery.max_retry_delay_ms = 5_000;
    cfg
}

pub fn fields(kind: NotificationKind) -> PushFields {
    PushFields {
        kind,
        from: "Alice Smith".into(),
        from_username: "1111".into(),
        from_display: "Alice".into(),
        call_id: "a84b4c76e66710@pc33.example.com".into(),
        to: "2222".into(),
        msg: if kind == NotificationKind::Chat {
            "hi \"there\"".into()
        } else {
            String::new()
        },
        ..Default::default()
    }
}

pub fn templates() -> Templates {
    Templates::load(&Default::default()).unwrap()
}

pub fn fcm_request(
    provider: Provider,
    package: &str,
    token: &str,
    kind: NotificationKind,
) -> PushRequest {
    let target = match provider {
        Provider::IosFcm => Target::FcmIos,
        Provider::WebPush => Target::FcmWeb,
        _ => Target::FcmAndroid,
    };
    PushRequest {
        provider,
        env: PushEnv::Default,
        package: package.into(),
        token: token.into(),
        kind,
        payload: templates()
            .render_fcm(&fields(kind), target, RemoveNotification::Auto)
            .unwrap(),
        ttl_secs: 0,
        priority: Priority::High,
        collapse_id: None,
    }
}

pub fn apns_request(
    package: &str,
    token: &str,
    kind: NotificationKind,
    env: PushEnv,
) -> PushRequest {
    PushRequest {
        provider: Provider::Apns,
        env,
        package: package.into(),
        token: token.into(),
        kind,
        payload: templates().render_apns(&fields(kind)).unwrap(),
        ttl_secs: 0,
        priority: if kind == NotificationKind::Call {
            Priority::High
        } else {
            Priority::Normal
        },
        collapse_id: None,
    }
}

/// Polls `cond` until true or the deadline passes.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

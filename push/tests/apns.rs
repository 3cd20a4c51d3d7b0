//! APNs against the mock: token auth (.p8 JWT), certificate auth (.p12 with
//! password or .pwd file, PEM), headers, topic rules, sandbox/production,
//! one connection, error classes.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use sipwake_mocks::CertKind;
use sipwake_mocks::apns::{ApnsAuth, ApnsEnv as MockEnv, ApnsFailure, ApnsMock, KEY_ID, TEAM_ID};
use sipwake_push::config::{ApnsAppConfig, ApnsEnv};
use sipwake_push::{
    ConfigError, Dispatcher, DispatcherConfig, NotificationKind, PushEnv, PushOutcome,
};

const BUNDLE: &str = "org.sipwake.demo";
const TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

fn token(i: usize) -> String {
    format!("{i:064x}")
}

/// Config with token auth for BUNDLE against `mock` (both hosts).
fn jwt_config(mock: &ApnsMock, dir: &Path) -> DispatcherConfig {
    let mut cfg = config(dir);
    let p8 = dir.join("AuthKey.p8");
    let ca = dir.join("apns-ca.pem");
    std::fs::write(&p8, mock.p8_pem()).unwrap();
    std::fs::write(&ca, mock.ca_pem()).unwrap();
    cfg.apns.production_url = mock.base_url();
    cfg.apns.sandbox_url = mock.base_url();
    cfg.apns.extra_ca_pem = Some(ca);
    cfg.apns.apps.insert(
        BUNDLE.into(),
        ApnsAppConfig {
            p8: Some(p8),
            key_id: Some(KEY_ID.into()),
            team_id: Some(TEAM_ID.into()),
            ..Default::default()
        },
    );
    cfg
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn voip_call_with_token_auth() {
    let mock = ApnsMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = Dispatcher::new(jwt_config(&mock, dir.path())).unwrap();
    let out = d
        .send(apns_request(
            BUNDLE,
            TOKEN,
            NotificationKind::Call,
            PushEnv::Default,
        ))
        .await;
    let PushOutcome::Delivered { id, .. } = out else {
        panic!("{out:?}")
    };
    let got = mock.received();
    assert_eq!(got.len(), 1);
    let n = &got[0];
    assert_eq!(id, n.apns_id);
    assert_eq!(n.http_version, http::Version::HTTP_2);
    assert_eq!(n.device_token, TOKEN);
    assert!(matches!(n.auth, ApnsAuth::Jwt(_)));
    assert_eq!(n.headers["apns-push-type"], "voip");
    // topic "null" (the manual's default) needs a topic with token auth: set.
    assert_eq!(n.headers["apns-topic"], "org.sipwake.demo.voip");
    assert_eq!(n.headers["apns-priority"], "10");
    assert_eq!(n.headers["apns-expiration"], "0");
    assert!(
        n.body.get("headers").is_none(),
        "template headers are not payload"
    );
    assert_eq!(n.body["data"]["ntype"], 0);
    assert_eq!(n.body["data"]["nfrom"], "Alice Smith");
    assert_eq!(n.body["data"]["nfromusername"], "1111");
    assert_eq!(n.body["data"]["ncallid"], "a84b4c76e66710@pc33.example.com");
    assert_eq!(n.body["data"]["ntousr"], "2222");
    assert_eq!(n.body["aps"]["alert"]["title"], "Call from 1111");
}

#[tokio::test]
async fn chat_is_an_alert_with_ttl_and_collapse_id() {
    let mock = ApnsMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = Dispatcher::new(jwt_config(&mock, dir.path())).unwrap();
    let mut req = apns_request(BUNDLE, TOKEN, NotificationKind::Chat, PushEnv::Default);
    req.ttl_secs = 120;
    req.collapse_id = Some("chat-1111".into());
    let before = now();
    assert!(matches!(d.send(req).await, PushOutcome::Delivered { .. }));
    let n = &mock.received()[0];
    assert_eq!(n.headers["apns-push-type"], "alert");
    assert_eq!(n.headers["apns-topic"], BUNDLE);
    assert_eq!(n.headers["apns-priority"], "5");
    assert_eq!(n.headers["apns-collapse-id"], "chat-1111");
    let exp: u64 = n.headers["apns-expiration"].parse().unwrap();
    assert!(
        (before + 120..=now() + 120).contains(&exp),
        "expiration = now + TTL"
    );
    assert_eq!(n.body["data"]["nmsg"], "hi \"there\"");
}

#[tokio::test]
async fn one_connection_and_one_jwt_for_concurrent_pushes() {
    let mock = ApnsMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = Dispatcher::new(jwt_config(&mock, dir.path())).unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let d = d.clone();
            tokio::spawn(async move {
                d.send(apns_request(
                    BUNDLE,
                    &token(i),
                    NotificationKind::Call,
                    PushEnv::Default,
                ))
                .await
            })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), PushOutcome::Delivered { .. }));
    }
    assert_eq!(mock.received().len(), 40);
    assert_eq!(
        mock.connections(),
        1,
        "one HTTP/2 connection carries every push"
    );
    assert_eq!(mock.distinct_jwts(), 1, "the provider JWT is reused");
}

#[tokio::test]
async fn jwt_is_replaced_at_its_refresh_age() {
    let mock = ApnsMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = jwt_config(&mock, dir.path());
    cfg.apns.jwt_refresh_secs = 1;
    let d = Dispatcher::new(cfg).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.distinct_jwts() < 2 {
        assert!(Instant::now() < deadline, "JWT never refreshed");
        let out = d
            .send(apns_request(
                BUNDLE,
                TOKEN,
                NotificationKind::Call,
                PushEnv::Default,
            ))
            .await;
        assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
    }
}

#[tokio::test]
async fn sandbox_and_production_hosts_by_env() {
    let prod = ApnsMock::start().await.unwrap();
    let sandbox = ApnsMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = jwt_config(&prod, dir.path());
    // Both mocks must accept the same key: use one mock's key/CA for both by
    // running the sandbox checks against a second dispatcher.
    cfg.apns.sandbox_url = "https://127.0.0.1:9".into();
    let d = Dispatcher::new(cfg.clone()).unwrap();
    for env in [PushEnv::Production, PushEnv::Default] {
        let out = d
            .send(apns_request(BUNDLE, TOKEN, NotificationKind::Call, env))
            .await;
        assert!(
            matches!(out, PushOutcome::Delivered { .. }),
            "{env:?}: {out:?}"
        );
    }
    assert_eq!(prod.received().len(), 2);

    let dir2 = tempfile::tempdir().unwrap();
    let mut cfg = jwt_config(&sandbox, dir2.path());
    cfg.apns.production_url = "https://127.0.0.1:9".into();
    cfg.apns.default_env = ApnsEnv::Sandbox;
    cfg.delivery.max_retries = 0;
    let d = Dispatcher::new(cfg).unwrap();
    for env in [PushEnv::Sandbox, PushEnv::Default] {
        let out = d
            .send(apns_request(BUNDLE, TOKEN, NotificationKind::Call, env))
            .await;
        assert!(
            matches!(out, PushOutcome::Delivered { .. }),
            "{env:?}: {out:?}"
        );
    }
    assert_eq!(sandbox.received().len(), 2);
    // Production goes to the (closed) production port, not the sandbox.
    let out = d
        .send(apns_request(
            BUNDLE,
            TOKEN,
            NotificationKind::Call,
            PushEnv::Production,
        ))
        .await;
    let PushOutcome::Failed {
        retryable: true,
        reason,
    } = out
    else {
        panic!("{out:?}")
    };
    assert!(
        !reason.contains(TOKEN),
        "device tokens stay out of logs: {reason}"
    );
    assert_eq!(sandbox.received().len(), 2);
}

/// Certificate auth via files discovered in key_dir.
async fn cert_dispatcher(mock: &ApnsMock, dir: &Path, topic: &str) -> Dispatcher {
    let mut cfg = config(dir);
    let ca = dir.join("apns-ca.pem");
    std::fs::write(&ca, mock.ca_pem()).unwrap();
    cfg.apns.production_url = mock.base_url();
    cfg.apns.extra_ca_pem = Some(ca);
    cfg.apns.key_dir = Some(dir.to_owned());
    cfg.apns.topic = topic.into();
    Dispatcher::new(cfg).unwrap()
}

#[tokio::test]
async fn p12_with_pwd_file_and_pem_discovered() {
    let mock = ApnsMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = mock.client_cert(BUNDLE).unwrap();
    std::fs::write(
        dir.path().join(format!("pushkit.{BUNDLE}.p12")),
        cert.p12("s3cret").unwrap(),
    )
    .unwrap();
    std::fs::write(dir.path().join(format!("pushkit.{BUNDLE}.pwd")), "s3cret\n").unwrap();
    let other = mock.client_cert("com.example.other").unwrap();
    std::fs::write(dir.path().join("pushkit.pem"), &other.pem).unwrap();
    let d = cert_dispatcher(&mock, dir.path(), "auto").await;

    let out = d
        .send(apns_request(
            BUNDLE,
            TOKEN,
            NotificationKind::Call,
            PushEnv::Default,
        ))
        .await;
    assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
    // Package as an RFC 8599 pn-param: team id and .voip are stripped.
    let out = d
        .send(apns_request(
            "ABCDE12345.com.example.other.voip",
            TOKEN,
            NotificationKind::Chat,
            PushEnv::Default,
        ))
        .await;
    assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
    let got = mock.received();
    assert_eq!(got[0].auth, ApnsAuth::Cert(BUNDLE.into()));
    assert_eq!(got[1].auth, ApnsAuth::Cert("com.example.other".into()));
    assert_eq!(got[0].headers["apns-topic"], format!("{BUNDLE}.voip"));
    assert_eq!(got[1].headers["apns-topic"], "com.example.other");
    assert!(!got[0].headers.contains_key("authorization"));
    assert_eq!(got[0].headers["apns-push-type"], "voip");
}

#[tokio::test]
async fn legacy_default_p12_with_sslcertpassword() {
    let mock = ApnsMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = mock.client_cert(BUNDLE).unwrap();
    std::fs::write(
        dir.path().join("pushkit.p12"),
        cert.p12_legacy("legacy").unwrap(),
    )
    .unwrap();
    let mut cfg = config(dir.path());
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, mock.ca_pem()).unwrap();
    cfg.apns.production_url = mock.base_url();
    cfg.apns.extra_ca_pem = Some(ca);
    cfg.apns.key_dir = Some(dir.path().to_owned());
    cfg.apns.cert_password = Some("legacy".into());
    let d = Dispatcher::new(cfg).unwrap();
    let out = d
        .send(apns_request(
            BUNDLE,
            TOKEN,
            NotificationKind::Call,
            PushEnv::Default,
        ))
        .await;
    assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
    assert_eq!(mock.received()[0].auth, ApnsAuth::Cert(BUNDLE.into()));
}

#[tokio::test]
async fn p12_with_configured_password_and_topic_set() {
    let mock = ApnsMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p12 = dir.path().join("voip.p12");
    std::fs::write(&p12, mock.client_cert(BUNDLE).unwrap().p12("pw").unwrap()).unwrap();
    let mut cfg = config(dir.path());
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, mock.ca_pem()).unwrap();
    cfg.apns.production_url = mock.base_url();
    cfg.apns.extra_ca_pem = Some(ca);
    cfg.apns.topic = "set".into();
    let app = ApnsAppConfig {
        p12: Some(p12),
        password: Some("pw".into()),
        ..Default::default()
    };
    cfg.apns.apps.insert(BUNDLE.into(), app.clone());
    let d = Dispatcher::new(cfg.clone()).unwrap();
    for kind in [NotificationKind::Call, NotificationKind::Chat] {
        let out = d
            .send(apns_request(BUNDLE, TOKEN, kind, PushEnv::Default))
            .await;
        assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
    }
    let got = mock.received();
    assert_eq!(got[0].headers["apns-topic"], "org.sipwake.demo.voip");
    assert_eq!(got[1].headers["apns-topic"], "org.sipwake.demo");

    // A wrong password is a startup error, not a silent failure later.
    cfg.apns.apps.insert(
        BUNDLE.into(),
        ApnsAppConfig {
            password: Some("nope".into()),
            ..app
        },
    );
    assert!(matches!(
        Dispatcher::new(cfg),
        Err(ConfigError::Credential { .. })
    ));
}

#[tokio::test]
async fn literal_topic_and_forced_push_type() {
    let mock = ApnsMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = jwt_config(&mock, dir.path());
    cfg.apns.topic = "org.sipwake.demo".into();
    cfg.apns.push_type = Some("alert".into());
    let d = Dispatcher::new(cfg).unwrap();
    let out = d
        .send(apns_request(
            BUNDLE,
            TOKEN,
            NotificationKind::Call,
            PushEnv::Default,
        ))
        .await;
    assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
    let n = &mock.received()[0];
    assert_eq!(n.headers["apns-topic"], "org.sipwake.demo");
    assert_eq!(n.headers["apns-push-type"], "alert");
}

#[tokio::test]
async fn error_classes() {
    let mock = ApnsMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = Dispatcher::new(jwt_config(&mock, dir.path())).unwrap();
    let send = |t: String| {
        let d = d.clone();
        async move {
            d.send(apns_request(
                BUNDLE,
                &t,
                NotificationKind::Call,
                PushEnv::Default,
            ))
            .await
        }
    };
    // A dead token: removed, not retried.
    mock.fail(&token(0), [ApnsFailure::Unregistered]);
    let out = send(token(0)).await;
    assert!(matches!(out, PushOutcome::RemoveBinding { .. }), "{out:?}");
    assert_eq!(mock.attempts(&token(0)), 1);
    // Unknown on both hosts (here one mock serves both): removed after
    // the second host said so.
    mock.fail(
        &token(1),
        [ApnsFailure::BadDeviceToken, ApnsFailure::BadDeviceToken],
    );
    let out = send(token(1)).await;
    assert!(matches!(out, PushOutcome::RemoveBinding { .. }), "{out:?}");
    assert_eq!(mock.attempts(&token(1)), 2);
    // A topic error is ours: binding kept, not retried.
    mock.fail(&token(2), [ApnsFailure::DeviceTokenNotForTopic]);
    let out = send(token(2)).await;
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
    assert_eq!(mock.attempts(&token(2)), 1);
    // A token that is not hex never leaves the gateway.
    assert!(matches!(
        send("../../x".into()).await,
        PushOutcome::RemoveBinding { .. }
    ));
    // 429 with Retry-After, then accepted.
    mock.fail(
        &token(10),
        [ApnsFailure::TooManyRequests {
            retry_after: Some(1),
        }],
    );
    let start = Instant::now();
    assert!(matches!(
        send(token(10)).await,
        PushOutcome::Delivered { .. }
    ));
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert_eq!(mock.attempts(&token(10)), 2);
    // 500/503 retried up to the bound.
    mock.fail(
        &token(11),
        [
            ApnsFailure::InternalServerError,
            ApnsFailure::ServiceUnavailable,
            ApnsFailure::ServiceUnavailable,
        ],
    );
    assert!(matches!(
        send(token(11)).await,
        PushOutcome::Failed {
            retryable: true,
            ..
        }
    ));
    assert_eq!(mock.attempts(&token(11)), 3);
    // A header that cannot be sent is not retried.
    let mut bad = apns_request(BUNDLE, &token(13), NotificationKind::Call, PushEnv::Default);
    bad.collapse_id = Some("a\nb".into());
    assert!(matches!(
        d.send(bad).await,
        PushOutcome::Failed {
            retryable: false,
            ..
        }
    ));
    assert_eq!(mock.attempts(&token(13)), 0);
    // 403: loud, counted, kept.
    mock.fail(&token(12), [ApnsFailure::InvalidProviderToken]);
    assert!(matches!(
        send(token(12)).await,
        PushOutcome::Failed {
            retryable: false,
            ..
        }
    ));
    let c = d
        .stats()
        .into_iter()
        .find(|e| e.provider == "apns" && e.app == BUNDLE)
        .unwrap()
        .counters;
    assert_eq!((c.removed, c.auth_errors, c.sent, c.retries), (3, 1, 1, 3));
    // 500s given up, the bad header, the topic error, the 403.
    assert_eq!((c.failed, c.config_errors), (4, 2));
}

/// Stats of BUNDLE's APNs pushes.
fn apns_stats(d: &Dispatcher) -> sipwake_push::Counters {
    d.stats()
        .into_iter()
        .find(|e| e.provider == "apns" && e.app == BUNDLE)
        .map(|e| e.counters)
        .unwrap_or_default()
}

/// The default topic rule with each kind of certificate: a push goes to a
/// topic its certificate allows, or is refused here as a configuration
/// error — never sent to fail at Apple, never a removed binding.
#[tokio::test]
async fn default_topics_follow_the_certificate_kind() {
    for (kind, call_ok, chat_ok) in [
        (CertKind::Universal, true, true),
        (CertKind::Alert, false, true),
        (CertKind::Voip, true, false),
    ] {
        let mock = ApnsMock::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert = mock.client_cert_of(BUNDLE, kind).unwrap();
        std::fs::write(dir.path().join(format!("pushkit.{BUNDLE}.pem")), &cert.pem).unwrap();
        let d = cert_dispatcher(&mock, dir.path(), "auto").await;
        let call = d
            .send(apns_request(
                BUNDLE,
                TOKEN,
                NotificationKind::Call,
                PushEnv::Default,
            ))
            .await;
        let chat = d
            .send(apns_request(
                BUNDLE,
                TOKEN,
                NotificationKind::Chat,
                PushEnv::Default,
            ))
            .await;
        for (ok, out) in [(call_ok, &call), (chat_ok, &chat)] {
            if ok {
                assert!(
                    matches!(out, PushOutcome::Delivered { .. }),
                    "{kind:?}: {out:?}"
                );
            } else {
                assert!(
                    matches!(
                        out,
                        PushOutcome::Failed {
                            retryable: false,
                            ..
                        }
                    ),
                    "{kind:?}: {out:?}"
                );
            }
        }
        let got = mock.received();
        assert_eq!(
            got.len(),
            usize::from(call_ok) + usize::from(chat_ok),
            "{kind:?}: nothing doomed is sent"
        );
        for r in &got {
            let want = if r.headers["apns-push-type"] == "voip" {
                format!("{BUNDLE}.voip")
            } else {
                BUNDLE.to_owned()
            };
            assert_eq!(r.headers["apns-topic"], want, "{kind:?}");
        }
        let c = apns_stats(&d);
        let refused = u64::from(!call_ok) + u64::from(!chat_ok);
        assert_eq!((c.config_errors, c.removed), (refused, 0), "{kind:?}");
    }
}

/// The manual's `topic = null` with an ordinary alert certificate: the
/// VoIP push goes without a topic, APNs applies the certificate's and
/// answers DeviceTokenNotForTopic. That is our configuration, not a dead
/// token: the binding stays and the error is counted.
#[tokio::test]
async fn null_topic_on_an_alert_certificate_is_a_config_error_not_a_dead_token() {
    let mock = ApnsMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = mock.client_cert_of(BUNDLE, CertKind::Alert).unwrap();
    std::fs::write(dir.path().join(format!("pushkit.{BUNDLE}.pem")), &cert.pem).unwrap();
    let d = cert_dispatcher(&mock, dir.path(), "null").await;
    let out = d
        .send(apns_request(
            BUNDLE,
            TOKEN,
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
    assert!(reason.contains("DeviceTokenNotForTopic"), "{reason}");
    let c = apns_stats(&d);
    assert_eq!((c.config_errors, c.removed), (1, 0));
    // A chat with the certificate's own topic is fine.
    let out = d
        .send(apns_request(
            BUNDLE,
            TOKEN,
            NotificationKind::Chat,
            PushEnv::Default,
        ))
        .await;
    assert!(matches!(out, PushOutcome::Delivered { .. }), "{out:?}");
}

/// A certificate of another app, or a literal topic it does not allow,
/// can never work: refused when the configuration is loaded.
#[tokio::test]
async fn a_certificate_that_can_never_work_is_refused_at_startup() {
    let mock = ApnsMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let other = mock.client_cert("com.example.other").unwrap();
    let pem = dir.path().join("other.pem");
    std::fs::write(&pem, &other.pem).unwrap();
    let mut cfg = config(dir.path());
    cfg.apns.apps.insert(
        BUNDLE.into(),
        ApnsAppConfig {
            pem: Some(pem.clone()),
            ..Default::default()
        },
    );
    let Err(e) = Dispatcher::new(cfg.clone()) else {
        panic!("another app's certificate was accepted")
    };
    assert!(e.to_string().contains("com.example.other"), "{e}");
    let own = mock.client_cert(BUNDLE).unwrap();
    std::fs::write(&pem, &own.pem).unwrap();
    cfg.apns.topic = "com.example.elsewhere".into();
    let Err(e) = Dispatcher::new(cfg.clone()) else {
        panic!("a topic the certificate does not allow was accepted")
    };
    assert!(matches!(e, ConfigError::Invalid(_)), "{e}");
    cfg.apns.topic = format!("{BUNDLE}.voip");
    Dispatcher::new(cfg).unwrap();
}

/// A sandbox token sent to production (or the reverse) is tried once on
/// the other host; the outcome names the environment that worked.
#[tokio::test]
async fn a_token_of_the_other_environment_is_delivered_there() {
    let mock = ApnsMock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = jwt_config(&mock, dir.path());
    cfg.apns.sandbox_url = mock.sandbox_url();
    let d = Dispatcher::new(cfg).unwrap();
    mock.token_env(TOKEN, MockEnv::Sandbox);
    let out = d
        .send(apns_request(
            BUNDLE,
            TOKEN,
            NotificationKind::Call,
            PushEnv::Default,
        ))
        .await;
    let PushOutcome::Delivered { env, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(env, Some(PushEnv::Sandbox));
    assert_eq!(mock.attempts(TOKEN), 2, "production once, then sandbox");
    let got = mock.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].env, MockEnv::Sandbox);
    // Sent to the right host at once: no correction.
    let out = d
        .send(apns_request(
            BUNDLE,
            TOKEN,
            NotificationKind::Call,
            PushEnv::Sandbox,
        ))
        .await;
    assert!(
        matches!(out, PushOutcome::Delivered { env: None, .. }),
        "{out:?}"
    );
    let c = apns_stats(&d);
    assert_eq!((c.env_corrected, c.removed, c.sent), (1, 0, 2));
}

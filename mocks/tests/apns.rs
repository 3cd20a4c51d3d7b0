//! The APNs mock validates like APNs: provider JWTs, client certificates,
//! topics, push types, device tokens; with Apple's reasons.

mod common;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sipwake_mocks::apns::{ApnsAuth, ApnsFailure, ApnsMock, KEY_ID, TEAM_ID};
use sipwake_mocks::tls::TestCa;
use sipwake_mocks::{ApnsEnv, CertKind};

/// headers, device token, body, expected (status, reason)
type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, Value, (u16, &'a str));

const TOKEN: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn jwt(p8: &str, kid: &str, iat_ago: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(kid.into());
    let key = EncodingKey::from_ec_pem(p8.as_bytes()).unwrap();
    jsonwebtoken::encode(&h, &json!({"iss": TEAM_ID, "iat": now - iat_ago}), &key).unwrap()
}

async fn push(
    c: &reqwest::Client,
    mock: &ApnsMock,
    token: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, String) {
    push_to(c, &mock.base_url(), token, headers, body).await
}

async fn push_to(
    c: &reqwest::Client,
    base_url: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, String) {
    let mut r = c.post(format!("{base_url}/3/device/{token}"));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.body(body.to_string()).send().await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (status, body["reason"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn token_auth_checks() {
    let mock = ApnsMock::start().await.unwrap();
    let c = common::client(Some(&mock.ca_pem()), None, true);
    let good = format!("bearer {}", jwt(mock.p8_pem(), KEY_ID, 0));
    let aps = json!({"aps": {"alert": "x"}});
    let ok = [
        ("authorization", good.as_str()),
        ("apns-topic", "com.a.voip"),
        ("apns-push-type", "voip"),
    ];
    assert_eq!(
        push(&c, &mock, TOKEN, &ok, aps.clone()).await,
        (200, String::new())
    );

    let other_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let forged = format!("bearer {}", jwt(&other_key, KEY_ID, 0));
    let wrong_kid = format!("bearer {}", jwt(mock.p8_pem(), "OTHERKEY00", 0));
    let old = format!("bearer {}", jwt(mock.p8_pem(), KEY_ID, 7200));
    let cases: Vec<Case> = vec![
        (
            vec![("apns-topic", "com.a.voip"), ("apns-push-type", "voip")],
            TOKEN,
            aps.clone(),
            (403, "MissingProviderToken"),
        ),
        (
            vec![
                ("authorization", &forged),
                ("apns-topic", "com.a.voip"),
                ("apns-push-type", "voip"),
            ],
            TOKEN,
            aps.clone(),
            (403, "InvalidProviderToken"),
        ),
        (
            vec![
                ("authorization", &wrong_kid),
                ("apns-topic", "com.a.voip"),
                ("apns-push-type", "voip"),
            ],
            TOKEN,
            aps.clone(),
            (403, "InvalidProviderToken"),
        ),
        (
            vec![
                ("authorization", &old),
                ("apns-topic", "com.a.voip"),
                ("apns-push-type", "voip"),
            ],
            TOKEN,
            aps.clone(),
            (403, "ExpiredProviderToken"),
        ),
        (
            vec![("authorization", &good), ("apns-push-type", "voip")],
            TOKEN,
            aps.clone(),
            (400, "MissingTopic"),
        ),
        (
            vec![
                ("authorization", &good),
                ("apns-topic", "com.a"),
                ("apns-push-type", "voip"),
            ],
            TOKEN,
            aps.clone(),
            (400, "TopicDisallowed"),
        ),
        (
            vec![
                ("authorization", &good),
                ("apns-topic", "com.a"),
                ("apns-push-type", "shout"),
            ],
            TOKEN,
            aps.clone(),
            (400, "InvalidPushType"),
        ),
        (
            vec![
                ("authorization", &good),
                ("apns-topic", "com.a"),
                ("apns-push-type", "alert"),
                ("apns-priority", "7"),
            ],
            TOKEN,
            aps.clone(),
            (400, "BadPriority"),
        ),
        (
            vec![
                ("authorization", &good),
                ("apns-topic", "com.a"),
                ("apns-push-type", "alert"),
                ("apns-expiration", "soon"),
            ],
            TOKEN,
            aps.clone(),
            (400, "BadExpirationDate"),
        ),
        (
            vec![
                ("authorization", &good),
                ("apns-topic", "com.a"),
                ("apns-push-type", "alert"),
            ],
            "abc",
            aps.clone(),
            (400, "BadDeviceToken"),
        ),
        (
            vec![
                ("authorization", &good),
                ("apns-topic", "com.a"),
                ("apns-push-type", "alert"),
            ],
            TOKEN,
            json!({"data": 1}),
            (400, "PayloadEmpty"),
        ),
    ];
    for (headers, token, body, (status, reason)) in cases {
        assert_eq!(
            push(&c, &mock, token, &headers, body).await,
            (status, reason.to_owned()),
            "{headers:?}"
        );
    }
    assert_eq!(mock.received().len(), 1);
}

#[tokio::test]
async fn certificate_auth_checks() {
    let mock = ApnsMock::start().await.unwrap();
    // `client_cert` is a universal certificate: app, VoIP and complication
    // topics, each with its own push type.
    let cert = mock.client_cert("com.a").unwrap();
    let c = common::client(Some(&mock.ca_pem()), Some(&cert.pem), true);
    let aps = json!({"aps": {}});
    let accepted = [
        (Some("com.a"), "alert"),
        (Some("com.a"), "background"),
        (Some("com.a.voip"), "voip"),
        (Some("com.a.complication"), "complication"),
        // No apns-topic: the certificate's own (UID) topic.
        (None, "alert"),
    ];
    for (topic, push_type) in accepted {
        let mut h = vec![("apns-push-type", push_type)];
        h.extend(topic.map(|t| ("apns-topic", t)));
        assert_eq!(
            push(&c, &mock, TOKEN, &h, aps.clone()).await,
            (200, String::new()),
            "{h:?}"
        );
    }
    let topics: Vec<String> = mock.received().into_iter().map(|r| r.topic).collect();
    assert_eq!(
        topics,
        [
            "com.a",
            "com.a",
            "com.a.voip",
            "com.a.complication",
            "com.a"
        ]
    );
    let refused = [
        (Some("com.b"), "alert", "TopicDisallowed"),
        (Some("com.b.voip"), "voip", "TopicDisallowed"),
        (Some("com.a.voip"), "alert", "TopicDisallowed"),
        (Some("com.a"), "voip", "DeviceTokenNotForTopic"),
        (None, "voip", "DeviceTokenNotForTopic"),
    ];
    for (topic, push_type, why) in refused {
        let mut h = vec![("apns-push-type", push_type)];
        h.extend(topic.map(|t| ("apns-topic", t)));
        assert_eq!(
            push(&c, &mock, TOKEN, &h, aps.clone()).await,
            (400, why.into()),
            "{h:?}"
        );
    }
    assert_eq!(mock.received().len(), accepted.len());
    assert!(
        mock.received()
            .iter()
            .all(|r| r.auth == ApnsAuth::Cert("com.a".into()))
    );

    // A certificate from another CA does not get through the handshake.
    let stranger = TestCa::new().unwrap().client_cert("com.a").unwrap();
    let c = common::client(Some(&mock.ca_pem()), Some(&stranger.pem), true);
    let r = c
        .post(format!("{}/3/device/{TOKEN}", mock.base_url()))
        .header("apns-push-type", "alert")
        .body(aps.to_string())
        .send()
        .await;
    assert!(r.is_err(), "{r:?}");
}

#[tokio::test]
async fn alert_certificate_covers_the_app_topic_only() {
    let mock = ApnsMock::start().await.unwrap();
    let cert = mock.client_cert_of("com.a", CertKind::Alert).unwrap();
    let c = common::client(Some(&mock.ca_pem()), Some(&cert.pem), true);
    let aps = json!({"aps": {}});
    let cases = [
        // What APNs answers a VoIP push on an alert certificate without topic.
        (None, "voip", (400, "DeviceTokenNotForTopic")),
        (None, "alert", (200, "")),
        (Some("com.a"), "alert", (200, "")),
        (Some("com.a"), "voip", (400, "DeviceTokenNotForTopic")),
        (Some("com.a.voip"), "voip", (400, "TopicDisallowed")),
        (
            Some("com.a.complication"),
            "complication",
            (400, "TopicDisallowed"),
        ),
    ];
    for (topic, push_type, (status, why)) in cases {
        let mut h = vec![("apns-push-type", push_type)];
        h.extend(topic.map(|t| ("apns-topic", t)));
        assert_eq!(
            push(&c, &mock, TOKEN, &h, aps.clone()).await,
            (status, why.into()),
            "{h:?}"
        );
    }
    let received = mock.received();
    assert_eq!(received.len(), 2);
    assert!(
        received
            .iter()
            .all(|r| r.topic == "com.a" && r.auth == ApnsAuth::Cert("com.a".into()))
    );
}

#[tokio::test]
async fn voip_certificate_covers_the_voip_topic_only() {
    let mock = ApnsMock::start().await.unwrap();
    let cert = mock.client_cert_of("com.a", CertKind::Voip).unwrap();
    let c = common::client(Some(&mock.ca_pem()), Some(&cert.pem), true);
    let aps = json!({"aps": {}});
    let cases = [
        (Some("com.a.voip"), "voip", (200, "")),
        (None, "voip", (200, "")),
        (Some("com.a"), "alert", (400, "TopicDisallowed")),
        (Some("com.a"), "voip", (400, "TopicDisallowed")),
        (Some("com.a.voip"), "alert", (400, "TopicDisallowed")),
        (None, "alert", (400, "TopicDisallowed")),
    ];
    for (topic, push_type, (status, why)) in cases {
        let mut h = vec![("apns-push-type", push_type)];
        h.extend(topic.map(|t| ("apns-topic", t)));
        assert_eq!(
            push(&c, &mock, TOKEN, &h, aps.clone()).await,
            (status, why.into()),
            "{h:?}"
        );
    }
    let received = mock.received();
    assert_eq!(received.len(), 2);
    assert!(
        received
            .iter()
            .all(|r| r.topic == "com.a.voip" && r.auth == ApnsAuth::Cert("com.a.voip".into()))
    );
}

#[tokio::test]
async fn tokens_bound_to_an_environment() {
    let mock = ApnsMock::start().await.unwrap();
    assert_ne!(mock.base_url(), mock.sandbox_url());
    let c = common::client(Some(&mock.ca_pem()), None, true);
    let good = format!("bearer {}", jwt(mock.p8_pem(), KEY_ID, 0));
    let h = [
        ("authorization", good.as_str()),
        ("apns-topic", "com.a.voip"),
        ("apns-push-type", "voip"),
    ];
    let aps = json!({"aps": {}});
    let sandbox_token = "aa".repeat(32);
    let production_token = "bb".repeat(32);
    mock.token_env(&sandbox_token, ApnsEnv::Sandbox);
    mock.token_env(&production_token, ApnsEnv::Production);
    // A refused environment comes before programmed failures.
    mock.fail(&sandbox_token, [ApnsFailure::Unregistered]);

    let prod = mock.base_url();
    let sandbox = mock.sandbox_url();
    let bad = (400, "BadDeviceToken".to_owned());
    let ok = (200, String::new());
    assert_eq!(
        push_to(&c, &prod, &sandbox_token, &h, aps.clone()).await,
        bad
    );
    assert_eq!(
        push_to(&c, &sandbox, &sandbox_token, &h, aps.clone()).await,
        (410, "Unregistered".into())
    );
    assert_eq!(
        push_to(&c, &sandbox, &sandbox_token, &h, aps.clone()).await,
        ok
    );
    assert_eq!(
        push_to(&c, &sandbox, &production_token, &h, aps.clone()).await,
        bad
    );
    assert_eq!(
        push_to(&c, &prod, &production_token, &h, aps.clone()).await,
        ok
    );
    // Unbound tokens: both.
    assert_eq!(push_to(&c, &prod, TOKEN, &h, aps.clone()).await, ok);
    assert_eq!(push_to(&c, &sandbox, TOKEN, &h, aps.clone()).await, ok);

    assert_eq!(mock.attempts(&sandbox_token), 3);
    assert_eq!(mock.attempts(&production_token), 2);
    let got: Vec<(String, ApnsEnv)> = mock
        .received()
        .into_iter()
        .map(|r| (r.device_token, r.env))
        .collect();
    assert_eq!(
        got,
        [
            (sandbox_token, ApnsEnv::Sandbox),
            (production_token, ApnsEnv::Production),
            (TOKEN.to_owned(), ApnsEnv::Production),
            (TOKEN.to_owned(), ApnsEnv::Sandbox),
        ]
    );
    assert_eq!(mock.connections(), 1);
    assert_eq!(mock.sandbox_server().connections(), 1);

    // Certificate auth works in the sandbox too.
    let cert = mock.client_cert("com.a").unwrap();
    let c = common::client(Some(&mock.ca_pem()), Some(&cert.pem), true);
    let h = [("apns-topic", "com.a.voip"), ("apns-push-type", "voip")];
    assert_eq!(push_to(&c, &sandbox, TOKEN, &h, aps).await, ok);
}

#[tokio::test]
async fn p12_round_trips_with_its_password() {
    let ca = TestCa::new().unwrap();
    let cert = ca.client_cert("com.a").unwrap();
    let p12 = cert.p12("pw").unwrap();
    let store = p12_keystore::KeyStore::from_pkcs12(&p12, "pw", Default::default()).unwrap();
    let (_, chain) = store.private_key_chain().unwrap();
    assert_eq!(chain.certs()[0].as_der(), cert.cert_der.as_slice());
    assert!(p12_keystore::KeyStore::from_pkcs12(&p12, "wrong", Default::default()).is_err());
}

//! The APNs mock validates like APNs: provider JWTs, client certificates,
//! topics, push types, device tokens; with Apple's reasons.

mod common;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sipwake_mocks::apns::{ApnsMock, KEY_ID, TEAM_ID};
use sipwake_mocks::tls::TestCa;

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
    let mut r = c.post(format!("{}/3/device/{token}", mock.base_url()));
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
    let cert = mock.client_cert("com.a").unwrap();
    let c = common::client(Some(&mock.ca_pem()), Some(&cert.pem), true);
    let aps = json!({"aps": {}});
    for topic in ["com.a", "com.a.voip"] {
        let h = [("apns-topic", topic), ("apns-push-type", "alert")];
        assert_eq!(
            push(&c, &mock, TOKEN, &h, aps.clone()).await.0,
            200,
            "{topic}"
        );
    }
    let h = [("apns-push-type", "voip")];
    assert_eq!(
        push(&c, &mock, TOKEN, &h, aps.clone()).await.0,
        200,
        "no topic: the certificate's"
    );
    let h = [("apns-topic", "com.b"), ("apns-push-type", "alert")];
    assert_eq!(
        push(&c, &mock, TOKEN, &h, aps.clone()).await,
        (400, "TopicDisallowed".into())
    );
    assert!(
        mock.received()
            .iter()
            .all(|r| r.auth == sipwake_mocks::apns::ApnsAuth::Cert("com.a".into()))
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
async fn p12_round_trips_with_its_password() {
    let ca = TestCa::new().unwrap();
    let cert = ca.client_cert("com.a").unwrap();
    let p12 = cert.p12("pw").unwrap();
    let store = p12_keystore::KeyStore::from_pkcs12(&p12, "pw", Default::default()).unwrap();
    let (_, chain) = store.private_key_chain().unwrap();
    assert_eq!(chain.certs()[0].as_der(), cert.cert_der.as_slice());
    assert!(p12_keystore::KeyStore::from_pkcs12(&p12, "wrong", Default::default()).is_err());
}

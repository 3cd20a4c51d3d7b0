//! The Web Push mock validates like a push service: VAPID, TTL, encoding,
//! and decrypts the aes128gcm body with the subscription's keys.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sipwake_mocks::webpush::{Subscription, WebPushMock};
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256KeyPair};
use web_push_native::{Auth, WebPushBuilder, p256::PublicKey};

fn builder(sub: &Subscription) -> WebPushBuilder {
    WebPushBuilder::new(
        sub.endpoint.parse().unwrap(),
        PublicKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(&sub.keys.p256dh).unwrap()).unwrap(),
        Auth::clone_from_slice(&URL_SAFE_NO_PAD.decode(&sub.keys.auth).unwrap()),
    )
}

async fn send(c: &reqwest::Client, req: http::Request<Vec<u8>>) -> u16 {
    let (parts, body) = req.into_parts();
    let mut r = c.post(parts.uri.to_string()).body(body);
    for (k, v) in &parts.headers {
        r = r.header(k, v);
    }
    r.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn accepts_and_decrypts_a_vapid_push() {
    let mock = WebPushMock::start().await.unwrap();
    let c = common::client(Some(&mock.ca_pem()), None, false);
    let key = ES256KeyPair::generate();
    let sub = mock.subscribe();
    let req = builder(&sub)
        .with_vapid(&key, "mailto:a@b.example")
        .build("hello ✓")
        .unwrap();
    assert_eq!(send(&c, req).await, 201);
    let got = mock.received();
    assert_eq!(got[0].plaintext, "hello ✓".as_bytes());
    assert_eq!(got[0].vapid_subject, "mailto:a@b.example");
    assert_eq!(
        got[0].vapid_key,
        URL_SAFE_NO_PAD.encode(key.public_key().public_key().to_bytes_uncompressed())
    );
}

#[tokio::test]
async fn refuses_what_a_push_service_refuses() {
    let mock = WebPushMock::start().await.unwrap();
    let c = common::client(Some(&mock.ca_pem()), None, false);
    let key = ES256KeyPair::generate();
    let sub = mock.subscribe();
    let other = mock.subscribe();

    // No VAPID.
    assert_eq!(send(&c, builder(&sub).build("x").unwrap()).await, 401);
    // Encrypted for another subscription's keys.
    let mut wrong = builder(&other)
        .with_vapid(&key, "mailto:a@b.example")
        .build("x")
        .unwrap();
    *wrong.uri_mut() = sub.endpoint.parse().unwrap();
    assert_eq!(send(&c, wrong).await, 400);
    // Missing TTL (RFC 8030 §5.2).
    let mut no_ttl = builder(&sub)
        .with_vapid(&key, "mailto:a@b.example")
        .build("x")
        .unwrap();
    no_ttl.headers_mut().remove("ttl");
    assert_eq!(send(&c, no_ttl).await, 400);
    // VAPID signed for another origin.
    let mut elsewhere = sub.clone();
    elsewhere.endpoint = "https://push.example.net/push/x".into();
    let mut foreign = builder(&elsewhere)
        .with_vapid(&key, "mailto:a@b.example")
        .build("x")
        .unwrap();
    *foreign.uri_mut() = sub.endpoint.parse().unwrap();
    assert_eq!(send(&c, foreign).await, 401);
    // A subject that is not a contact URI.
    let bad_sub = builder(&sub)
        .with_vapid(&key, "ops@b.example")
        .build("x")
        .unwrap();
    assert_eq!(send(&c, bad_sub).await, 401);
    assert_eq!(mock.rejected(), 5);
    assert!(mock.received().is_empty());

    // Gone and unknown subscriptions.
    mock.expire(&sub);
    let gone = builder(&sub)
        .with_vapid(&key, "mailto:a@b.example")
        .build("x")
        .unwrap();
    assert_eq!(send(&c, gone).await, 410);
    let mut unknown = other.clone();
    unknown.endpoint = format!("{}/push/nosuch", mock.base_url());
    let req = builder(&unknown)
        .with_vapid(&key, "mailto:a@b.example")
        .build("x")
        .unwrap();
    assert_eq!(send(&c, req).await, 404);
}

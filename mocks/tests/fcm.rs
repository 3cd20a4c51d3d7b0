//! The FCM mock validates like FCM: OAuth2 JWT assertions, bearer tokens,
//! message shape; and answers with FCM's error bodies.

mod common;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sipwake_mocks::fcm::{FCM_SCOPE, FcmFailure, FcmMock};

fn assertion(sa: &Value, aud: &str, scope: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"iss": sa["client_email"], "aud": aud, "scope": scope, "iat": now, "exp": now + 3600});
    let key = EncodingKey::from_rsa_pem(sa["private_key"].as_str().unwrap().as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
}

async fn token_request(c: &reqwest::Client, sa: &Value, jwt: &str) -> (u16, Value) {
    let r = c
        .post(sa["token_uri"].as_str().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={jwt}"
        ))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn token_endpoint_checks_the_assertion() {
    let mock = FcmMock::start("proj").await.unwrap();
    let sa: Value = serde_json::from_str(&mock.service_account_json()).unwrap();
    let c = common::client(None, None, false);
    let uri = sa["token_uri"].as_str().unwrap();
    let (status, body) = token_request(&c, &sa, &assertion(&sa, uri, FCM_SCOPE)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().unwrap().starts_with("ya29."));
    assert_eq!(body["token_type"], "Bearer");
    let (status, body) =
        token_request(&c, &sa, &assertion(&sa, "https://other/token", FCM_SCOPE)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = token_request(
        &c,
        &sa,
        &assertion(
            &sa,
            uri,
            "https://www.googleapis.com/auth/cloud-platform.read-only",
        ),
    )
    .await;
    assert_eq!(status, 400);
    let mut forged = assertion(&sa, uri, FCM_SCOPE);
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    let (status, _) = token_request(&c, &sa, &forged).await;
    assert_eq!(status, 400);
    assert_eq!((mock.token_requests(), mock.token_rejections()), (1, 3));
}

#[tokio::test]
async fn send_checks_bearer_and_message() {
    let mock = FcmMock::start("proj").await.unwrap();
    let sa: Value = serde_json::from_str(&mock.service_account_json()).unwrap();
    let c = common::client(None, None, true);
    let url = format!("{}/v1/projects/proj/messages:send", mock.base_url());
    let msg = json!({"message": {"token": "T", "data": {"ntype": "0"}}});
    let r = c.post(&url).json(&msg).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");

    let uri = sa["token_uri"].as_str().unwrap();
    let (_, tok) = token_request(
        &common::client(None, None, false),
        &sa,
        &assertion(&sa, uri, FCM_SCOPE),
    )
    .await;
    let bearer = tok["access_token"].as_str().unwrap().to_owned();
    let send = |body: Value| c.post(&url).bearer_auth(&bearer).json(&body).send();
    let r = send(msg.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), http::Version::HTTP_2);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["name"]
            .as_str()
            .unwrap()
            .starts_with("projects/proj/messages/")
    );

    for bad in [
        json!({"message": {"token": "T", "topic": "x"}}),
        json!({"message": {"token": "T", "data": {"ntype": 0}}}),
        json!({"message": {"token": "T", "android": {"ttl": "60"}}}),
        json!({"token": "T"}),
    ] {
        let r = send(bad.clone()).await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    }
    let other = c
        .post(format!(
            "{}/v1/projects/other/messages:send",
            mock.base_url()
        ))
        .bearer_auth(&bearer)
        .json(&msg)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);

    mock.fail(
        "T",
        [
            FcmFailure::Unregistered,
            FcmFailure::QuotaExceeded {
                retry_after: Some(7),
            },
        ],
    );
    let r = send(msg.clone()).await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND",
            "details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}})
    );
    let r = send(msg.clone()).await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(send(msg).await.unwrap().status(), 200);
    assert_eq!(mock.received().len(), 2);
    assert_eq!(mock.attempts("T"), 4);
}

#[tokio::test]
async fn token_of_another_project_is_a_sender_id_mismatch() {
    let mock = FcmMock::start("proj").await.unwrap();
    let sa: Value = serde_json::from_str(&mock.service_account_json()).unwrap();
    let uri = sa["token_uri"].as_str().unwrap();
    let (_, tok) = token_request(
        &common::client(None, None, false),
        &sa,
        &assertion(&sa, uri, FCM_SCOPE),
    )
    .await;
    let bearer = tok["access_token"].as_str().unwrap().to_owned();
    let c = common::client(None, None, true);
    let url = format!("{}/v1/projects/proj/messages:send", mock.base_url());
    let send = |token: &str| {
        c.post(&url)
            .bearer_auth(&bearer)
            .json(&json!({"message": {"token": token, "data": {"ntype": "0"}}}))
            .send()
    };
    mock.token_of_project("T-other", "other-proj");
    mock.token_of_project("T-own", "proj");
    let expected = json!({"error": {"code": 403, "message": "SenderId mismatch",
        "status": "PERMISSION_DENIED",
        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                     "errorCode": "SENDER_ID_MISMATCH"}]}});
    // Every time, not once like a programmed failure.
    for _ in 0..2 {
        let r = send("T-other").await.unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(r.json::<Value>().await.unwrap(), expected);
    }
    // The same body as the programmed failure.
    mock.fail("T", [FcmFailure::SenderIdMismatch]);
    let r = send("T").await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap(), expected);

    assert_eq!(send("T-own").await.unwrap().status(), 200);
    assert_eq!(send("T").await.unwrap().status(), 200);
    assert_eq!(mock.attempts("T-other"), 2);
    assert_eq!(mock.received().len(), 2);
}

//! Bad push data in a REGISTER through the real gateway to a real
//! Kamailio: the registration still succeeds, nothing is stored, the log
//! says why; unsupported providers are left out of Feature-Caps, or get 555
//! with `[push] send555 = true`.

use sipwake_e2e::client::SipClient;
use sipwake_e2e::push::{self, APP, Options, PushGateway};
use sipwake_e2e::sipmsg::Msg;
use sipwake_e2e::{password, util};
use std::time::Duration;

const AOR_ALICE: &str = "alice@sipwake.test";

/// REGISTER with the client's Contact (or `contact`) and `extra`; answers
/// the 401; returns the final response.
async fn register(c: &mut SipClient, contact: Option<String>, extra: &[String]) -> Msg {
    let mut headers = vec![
        contact.unwrap_or_else(|| format!("Contact: {}", c.contact())),
        "Expires: 600".into(),
    ];
    headers.extend_from_slice(extra);
    let user = c.user.clone();
    push::register_custom(c, password(&user), &headers)
        .await
        .unwrap()
        .1
}

/// Waits (bounded) until the gateway log has `needle`.
fn wait_log(env: &PushGateway, needle: &str) {
    util::wait_for(
        &format!("log line {needle:?}"),
        Duration::from_secs(5),
        || env.gw.log().contains(needle).then_some(()),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", env.gw.failure("log")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_push_data_registers_without_push() {
    let env = PushGateway::start(Options::default()).await.unwrap();
    let bad_mpush = [
        format!("a:{APP}"),                // no token
        format!("q:{APP}:tok"),            // unknown provider letter
        format!("x:a:{APP}:tok"),          // unknown env prefix
        format!("a:{APP}:tok with space"), // space in the token
    ];
    for value in &bad_mpush {
        let mut c = env.client("alice").await.unwrap();
        let ok = register(&mut c, None, &[format!("X-MPUSH: {value}")]).await;
        assert_eq!(ok.status(), Some(200), "{value}: {}", ok.start);
        assert_eq!(ok.header("Feature-Caps"), None, "{value}");
    }
    // RFC 8599 without pn-param for FCM (it names the project): malformed.
    let mut c = env.client("alice").await.unwrap();
    let contact = format!(
        "Contact: <sip:alice@{};pn-provider=fcm;pn-prid=tok-no-param>",
        c.local
    );
    let ok = register(&mut c, Some(contact), &[]).await;
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    assert!(env.api.devices(AOR_ALICE).await.unwrap().is_empty());
    wait_log(&env, "push data ignored; registering without push");
    let ignored = env
        .gw
        .log()
        .matches("push data ignored; registering without push")
        .count();
    // Once per REGISTER: the challenged one and its authenticated retry.
    assert_eq!(
        ignored,
        2 * (bad_mpush.len() + 1),
        "{}",
        env.gw.failure("log")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_token_is_rejected() {
    let env = PushGateway::start(Options::default()).await.unwrap();
    // TCP: the REGISTER is over 4 KiB twice (challenge and retry).
    let mut c = SipClient::tcp(env.gw.sip_addr(), "alice", sipwake_e2e::REALM)
        .await
        .unwrap();
    let token = "t".repeat(sipwake_core_max_token() + 1);
    let ok = register(&mut c, None, &[format!("X-MPUSH: a:{APP}:{token}")]).await;
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    assert!(env.api.devices(AOR_ALICE).await.unwrap().is_empty());
    wait_log(&env, "too long");
}

/// sipwake-core's X-MPUSH token limit (4096 bytes).
fn sipwake_core_max_token() -> usize {
    4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_provider_is_left_out_of_feature_caps() {
    // No [apns]: `i` is not supported.
    let env = PushGateway::start(Options::default()).await.unwrap();
    let mut c = env.client("alice").await.unwrap();
    let tok = push::apns_token("unsupported");
    let ok = register(&mut c, None, &[format!("X-MPUSH: i:{APP}:{tok}")]).await;
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    let caps = ok.header("Feature-Caps").unwrap_or_default();
    assert!(!caps.contains("apns"), "apns listed: {caps}");
    assert!(env.api.devices(AOR_ALICE).await.unwrap().is_empty());
    wait_log(&env, "push provider not configured");
    // A capability query (pn-provider without pn-prid) lists what is there.
    let mut q = env.client("alice").await.unwrap();
    let contact = format!("Contact: <sip:alice@{};pn-provider=apns>", q.local);
    let ok = register(&mut q, Some(contact), &[]).await;
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    let caps = ok.header("Feature-Caps").unwrap_or_default().to_string();
    assert!(caps.contains("fcm") && caps.contains("webpush"), "{caps}");
    assert!(!caps.contains("apns"), "{caps}");
    assert!(env.api.devices(AOR_ALICE).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_provider_gets_555_with_send555() {
    let env = PushGateway::start(Options {
        extra: "\n[push]\nsend555 = true\n".into(),
        ..Options::default()
    })
    .await
    .unwrap();
    let mut c = env.client("alice").await.unwrap();
    let tok = push::apns_token("send555");
    let headers = vec![
        format!("Contact: {}", c.contact()),
        format!("X-MPUSH: i:{APP}:{tok}"),
    ];
    // 555 comes from the gateway itself, before any challenge.
    let resp = push::register_once(&mut c, &headers).await.unwrap();
    assert_eq!(resp.status(), Some(555), "{}", resp.start);
    assert!(env.api.devices(AOR_ALICE).await.unwrap().is_empty());
    // A supported provider on the same gateway still registers.
    let ok = register(&mut c, None, &[format!("X-MPUSH: a:{APP}:tok-ok")]).await;
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    assert_eq!(env.api.devices(AOR_ALICE).await.unwrap().len(), 1);
}

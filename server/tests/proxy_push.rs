//! Push binding capture on the REGISTER path: stored only on 2xx, durable
//! before the 200 OK is relayed, Feature-Caps added, 555 on request,
//! unregister of a push device kept alive (disableunreg = 2).

mod proxy_support;

use std::sync::Arc;
use std::time::Duration;

use proxy_support::*;
use sipwake::bindings::{CaptureOptions, PushBindings};
use sipwake::config::{Config, PushPolicy};
use sipwake::net::{Destination, TransportKind};
use sipwake_core::mpush::Provider;
use sipwake_store::{BindingStore, PiidCipher, SqliteStore};

const UPSTREAM: &str = "127.0.0.9:5070";
const MPUSH: &str = "X-MPUSH: a:com.mycompany.myapp:c-10-ap_Kt0:G7SThkASJx2K4Rm1033iR0mIgzI1cLg5xxpST4cjrd_cqQquRLkHMi3eY4g\n";
const TOKEN: &str = "c-10-ap_Kt0:G7SThkASJx2K4Rm1033iR0mIgzI1cLg5xxpST4cjrd_cqQquRLkHMi3eY4g";

/// A harness whose proxy captures push bindings into an in-memory store.
fn with_push(config: Config, send_555: bool) -> (Harness, Arc<SqliteStore>) {
    let store = Arc::new(SqliteStore::in_memory(PiidCipher::new([5; 32])).unwrap());
    let bindings = Arc::new(PushBindings {
        store: store.clone(),
        options: CaptureOptions {
            supported: vec![Provider::AndroidFcm],
            send_555,
            ..CaptureOptions::default()
        },
        policy: PushPolicy::default(),
        max_devices: 0,
    });
    (Harness::build(config, Some(bindings), None), store)
}

fn register(branch: &str, cseq: u32, extra: &str) -> String {
    request(
        "REGISTER",
        "sip:example.com",
        &format!("SIP/2.0/UDP 127.0.0.2:5062;branch={branch};rport"),
        "<sip:1111@example.com>;tag=ra",
        "<sip:1111@example.com>",
        "reg-1111",
        cseq,
        &format!("Contact: <sip:1111@127.0.0.2:5062>\nExpires: 3600\n{extra}"),
    )
}

#[tokio::test(start_paused = true)]
async fn binding_is_stored_on_2xx_only_and_feature_caps_relayed() {
    let (mut h, store) = with_push(Harness::upstream_config(UPSTREAM, false, &[]), false);
    let a = h.flow(TransportKind::Udp, "127.0.0.2:5062");

    h.inject(a, &register("z9hG4bKp1", 1, MPUSH)).await;
    let fwd = h.next().await;
    assert_eq!(
        fwd.msg.header("X-MPUSH").map(|v| v.contains(TOKEN)),
        Some(true),
        "X-MPUSH is forwarded untouched"
    );
    h.inject(
        fwd.flow,
        &reply(
            &fwd.msg,
            401,
            "Unauthorized",
            Some("u1"),
            "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n\"\n",
        ),
    )
    .await;
    let ch = h.next().await;
    assert_eq!(ch.status(), Some(401));
    assert_eq!(ch.msg.header("Feature-Caps"), None);
    assert!(
        store.all().unwrap().is_empty(),
        "a challenged REGISTER stores nothing"
    );

    h.inject(a, &register("z9hG4bKp2", 2, MPUSH)).await;
    let fwd = h.next().await;
    let path = fwd.msg.header("Path").unwrap().to_owned();
    h.inject(
        fwd.flow,
        &reply(
            &fwd.msg,
            200,
            "OK",
            Some("u1"),
            &format!("Contact: <sip:1111@127.0.0.2:5062>;expires=3600\nPath: {path}\n"),
        ),
    )
    .await;
    let ok = h.next().await;
    assert_eq!(
        (ok.status(), ok.dest.clone()),
        (Some(200), Destination::Flow(a))
    );
    assert_eq!(ok.msg.header("Feature-Caps"), Some("*;+sip.pns=\"fcm\""));
    // Durable before the 200 OK went out: it is there now, without waiting.
    let b = store.user("sip:1111@example.com").unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].push.token, TOKEN);

    // X-MPUSH: null removes, again only once the upstream says 2xx.
    h.inject(a, &register("z9hG4bKp3", 3, "X-MPUSH: null\n"))
        .await;
    let fwd = h.next().await;
    h.inject(fwd.flow, &reply(&fwd.msg, 200, "OK", Some("u1"), ""))
        .await;
    let ok = h.next().await;
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.msg.header("Feature-Caps"), None);
    assert!(store.all().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn unsupported_provider_gets_555_only_when_configured() {
    let (mut h, _store) = with_push(Harness::upstream_config(UPSTREAM, false, &[]), true);
    let a = h.flow(TransportKind::Udp, "127.0.0.2:5062");
    h.inject(a, &register("z9hG4bKq1", 1, "X-MPUSH: i:com.x:abcdef\n"))
        .await;
    let r = h.next().await;
    assert_eq!(
        (r.status(), r.dest.clone()),
        (Some(555), Destination::Flow(a)),
        "answered locally, not forwarded"
    );
    h.quiet(Duration::from_secs(1)).await;

    let (mut h, store) = with_push(Harness::upstream_config(UPSTREAM, false, &[]), false);
    let a = h.flow(TransportKind::Udp, "127.0.0.2:5062");
    h.inject(a, &register("z9hG4bKq2", 1, "X-MPUSH: i:com.x:abcdef\n"))
        .await;
    let fwd = h.next().await;
    assert_eq!(
        fwd.method(),
        Some("REGISTER"),
        "forwarded as a plain registration"
    );
    h.inject(fwd.flow, &reply(&fwd.msg, 200, "OK", Some("u"), ""))
        .await;
    let ok = h.next().await;
    assert_eq!(
        ok.msg.header("Feature-Caps"),
        None,
        "unsupported providers are just not listed"
    );
    assert!(store.all().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn unregister_of_a_push_device_becomes_a_register() {
    let (mut h, _store) = with_push(Harness::upstream_config(UPSTREAM, false, &[]), false);
    let a = h.flow(TransportKind::Udp, "127.0.0.2:5062");
    let unreg = register("z9hG4bKu1", 1, MPUSH).replace("Expires: 3600", "Expires: 0");
    h.inject(a, &unreg).await;
    let fwd = h.next().await;
    assert_eq!(
        fwd.msg.header("Expires"),
        Some("3600"),
        "pushnotification_disableunreg = 2 with upperexpire 3600"
    );
}

#[tokio::test(start_paused = true)]
async fn standalone_register_stores_the_binding() {
    let (mut h, store) = with_push(Config::default(), false);
    let a = h.flow(TransportKind::Udp, "127.0.0.2:5062");
    h.inject(a, &register("z9hG4bKs1", 1, MPUSH)).await;
    let ok = h.next().await;
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.msg.header("Feature-Caps"), Some("*;+sip.pns=\"fcm\""));
    assert_eq!(store.all().unwrap().len(), 1);
}

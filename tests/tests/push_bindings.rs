//! Push binding capture through the real gateway binary in front of a real
//! Kamailio: every binding form of the MPUSH manual (X-MPUSH, the manual's
//! two example REGISTERs, RFC 8599 `pn-*`, the legacy forms) ends up as the
//! right stored binding, seen through the operator API; removal, restart
//! and X-PIID secrecy. Bad input is in `push_bad_input.rs`.

use serde_json::Value;
use sipwake_e2e::client::SipClient;
use sipwake_e2e::push::{self, APP, Options, PushGateway};
use sipwake_e2e::sipmsg::Msg;
use sipwake_e2e::{REALM, password};

const AOR_ALICE: &str = "alice@sipwake.test";

async fn start(apns: bool) -> PushGateway {
    PushGateway::start(Options {
        apns,
        ..Options::default()
    })
    .await
    .unwrap()
}

/// REGISTER (401 → 200 at Kamailio) with the client's own Contact plus
/// `extra` headers; the 200 must come back.
async fn register(env: &PushGateway, c: &mut SipClient, extra: &[String]) -> Msg {
    let mut headers = vec![format!("Contact: {}", c.contact()), "Expires: 600".into()];
    headers.extend_from_slice(extra);
    register_headers(env, c, &headers).await
}

/// REGISTER with exactly `headers` (Contact included); expects 401 then 200.
async fn register_headers(env: &PushGateway, c: &mut SipClient, headers: &[String]) -> Msg {
    let user = c.user.clone();
    let (first, last) = push::register_custom(c, password(&user), headers)
        .await
        .unwrap();
    assert_eq!(
        first.status(),
        Some(401),
        "Kamailio must challenge first: {}",
        first.start
    );
    assert_eq!(
        last.status(),
        Some(200),
        "REGISTER not accepted: {}\n{}",
        last.start,
        env.gw.failure("log")
    );
    last
}

fn feature_caps(m: &Msg) -> String {
    m.header("Feature-Caps").unwrap_or_default().to_string()
}

fn find<'a>(devices: &'a [Value], token: &str) -> &'a Value {
    devices
        .iter()
        .find(|d| d["token"] == token)
        .unwrap_or_else(|| panic!("no binding with token {token} in {devices:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_mpush_forms_store_the_right_binding() {
    let env = start(true).await;
    let apns_tok = push::apns_token("mpush-forms");
    let sub = env.webpush.subscribe();
    let web_tok = push::subscription_token(&sub);
    // (header value, provider, env, package, token, Feature-Caps service)
    let forms = [
        (
            format!("a:{APP}:fcm-tok-a1"),
            'a',
            'd',
            APP,
            "fcm-tok-a1".to_string(),
            "fcm",
        ),
        (
            format!("p:a:{APP}:fcm-tok-p1"),
            'a',
            'p',
            APP,
            "fcm-tok-p1".into(),
            "fcm",
        ),
        (
            format!("s:i:{APP}:{apns_tok}"),
            'i',
            's',
            APP,
            apns_tok.clone(),
            "apns",
        ),
        (
            format!("d:j:{APP}:fcm-tok-j1"),
            'j',
            'd',
            APP,
            "fcm-tok-j1".into(),
            "fcm",
        ),
        (
            format!("w:webpush:{web_tok}"),
            'w',
            'd',
            "webpush",
            web_tok.clone(),
            "webpush",
        ),
    ];
    for (value, provider, penv, package, token, pns) in &forms {
        // One connection per device: each form is its own binding of alice.
        let mut c = env.client("alice").await.unwrap();
        let ok = register(&env, &mut c, &[format!("X-MPUSH: {value}")]).await;
        assert_eq!(
            feature_caps(&ok),
            format!("*;+sip.pns=\"{pns}\""),
            "Feature-Caps for {value}"
        );
        let devices = env.api.devices(AOR_ALICE).await.unwrap();
        let d = find(&devices, token);
        assert_eq!(d["provider"], provider.to_string(), "{value}: {d}");
        assert_eq!(d["env"], penv.to_string(), "{value}: {d}");
        assert_eq!(d["package"], *package, "{value}: {d}");
        assert_eq!(d["source"], "mpush", "{value}: {d}");
        assert_eq!(d["has_piid"], false, "{value}: {d}");
    }
    let devices = env.api.devices(AOR_ALICE).await.unwrap();
    assert_eq!(devices.len(), forms.len(), "{devices:#?}");
    // Another user has nothing.
    assert!(
        env.api
            .devices("bob@sipwake.test")
            .await
            .unwrap()
            .is_empty()
    );
    let users = env.api.json("GET", "/api/v1/bindings", None).await.unwrap();
    let users = users["users"].as_array().unwrap();
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0]["aor"], "sip:alice@sipwake.test");
    assert_eq!(users[0]["devices"], forms.len());
}

/// The manual's X-MPUSH example REGISTER: its push lines verbatim (the
/// token has a `:` in it; its X-PIID has 30 hex digits, so it is ignored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_x_mpush_example_register() {
    let env = start(false).await;
    let mut c = env.client("alice").await.unwrap();
    let headers = vec![
        format!("Contact: <sip:alice@{}>", c.local),
        "Expires: 3600".into(),
        "X-MPUSH: a:com.mycompany.myapp:c-10-ap_Kt0:G7SThkASJx2K4Rm1033iR0mIgzI1cLg5xxpST4cjrd_cqQquRLkHMi3eY4g".into(),
        "X-PIID: 14d4f932e3897a39d6a17c13b526db".into(),
        "X-Sy.Uppersrv: sip.mydomain.com".into(),
        "User-Agent: MyCoolApp".into(),
    ];
    let ok = register_headers(&env, &mut c, &headers).await;
    assert_eq!(feature_caps(&ok), "*;+sip.pns=\"fcm\"");
    let devices = env.api.devices(AOR_ALICE).await.unwrap();
    assert_eq!(devices.len(), 1, "{devices:#?}");
    let d = &devices[0];
    assert_eq!(d["provider"], "a");
    assert_eq!(d["env"], "d");
    assert_eq!(d["package"], "com.mycompany.myapp");
    assert_eq!(
        d["token"],
        "c-10-ap_Kt0:G7SThkASJx2K4Rm1033iR0mIgzI1cLg5xxpST4cjrd_cqQquRLkHMi3eY4g"
    );
    assert_eq!(d["has_piid"], false, "a 30-digit X-PIID is not kept: {d}");
    assert_eq!(d["upstream"]["server"], "sip.mydomain.com", "{d}");
    assert_eq!(d["user_agent"], "MyCoolApp");
    assert!(
        env.gw.log().contains("X-PIID ignored"),
        "the bad X-PIID must be logged\n{}",
        env.gw.failure("log")
    );
}

/// The manual's RFC 8599 example REGISTER: `pn-*` after an addr-spec Contact
/// (no `<>`), kept verbatim except the user and address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_rfc8599_example_register() {
    let env = start(false).await;
    let mut c = env.client("alice").await.unwrap();
    let headers = vec![
        format!(
            "Contact: sip:alice@{};pn-provider=fcm;pn-param=com.mycompany.myapp;pn-prid=ZTY4ZDJlMzODE1NmUgKi0K>",
            c.local
        ),
        "X-PIID: 14d4f932e3897a39d6a17c13b526db".into(),
        "X-Sy.Uppersrv: sip.mydomain.com".into(),
        "Expires: 3600".into(),
        "User-Agent: MyCoolApp".into(),
    ];
    let ok = register_headers(&env, &mut c, &headers).await;
    assert_eq!(feature_caps(&ok), "*;+sip.pns=\"fcm\"");
    let devices = env.api.devices(AOR_ALICE).await.unwrap();
    assert_eq!(devices.len(), 1, "{devices:#?}");
    let d = &devices[0];
    assert_eq!(d["provider"], "a");
    assert_eq!(d["package"], "com.mycompany.myapp");
    assert_eq!(d["token"], "ZTY4ZDJlMzODE1NmUgKi0K");
    assert_eq!(d["source"], "rfc8599");
    assert_eq!(d["upstream"]["server"], "sip.mydomain.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8599_and_legacy_contact_params() {
    let env = start(true).await;
    let apns_tok = push::apns_token("rfc8599");
    // (Contact URI params, provider, package, token, Feature-Caps service)
    let forms = [
        (
            format!("pn-provider=apns;pn-param=ABCDE12345.{APP}.voip;pn-prid={apns_tok}"),
            'i',
            APP,
            apns_tok.clone(),
            "apns",
        ),
        (
            format!("pn-provider=fcm;pn-param={APP};pn-prid=fcm-rfc-1"),
            'a',
            APP,
            "fcm-rfc-1".to_string(),
            "fcm",
        ),
        (
            format!("push-token-type=fcm;push-token-app={APP};push-token-id=fcm-legacy-1"),
            'a',
            APP,
            "fcm-legacy-1".into(),
            "fcm",
        ),
        (
            format!("pn-type=firebase;app-id={APP};pn-tok=fcm-legacy-2"),
            'a',
            APP,
            "fcm-legacy-2".into(),
            "fcm",
        ),
    ];
    for (params, provider, package, token, pns) in &forms {
        let mut c = env.client("alice").await.unwrap();
        let contact = format!("Contact: <sip:alice@{};transport=udp;{params}>", c.local);
        // A valid X-PIID goes with RFC 8599 too (the manual's "Keep push binding").
        let piid = format!("X-PIID: {}", push::piid("alice", REALM, password("alice")));
        let ok = register_headers(&env, &mut c, &[contact, "Expires: 600".into(), piid]).await;
        assert_eq!(
            feature_caps(&ok),
            format!("*;+sip.pns=\"{pns}\""),
            "Feature-Caps for {params}"
        );
        let devices = env.api.devices(AOR_ALICE).await.unwrap();
        let d = find(&devices, token);
        assert_eq!(d["provider"], provider.to_string(), "{params}: {d}");
        assert_eq!(d["package"], *package, "{params}: {d}");
        assert_eq!(d["source"], "rfc8599", "{params}: {d}");
        assert_eq!(d["has_piid"], true, "{params}: {d}");
    }
    assert_eq!(env.api.devices(AOR_ALICE).await.unwrap().len(), forms.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenged_register_alone_stores_nothing() {
    let env = start(false).await;
    let mut c = env.client("alice").await.unwrap();
    let headers = vec![
        format!("Contact: {}", c.contact()),
        format!("X-MPUSH: a:{APP}:never-stored"),
    ];
    let resp = push::register_once(&mut c, &headers).await.unwrap();
    assert_eq!(resp.status(), Some(401), "{}", resp.start);
    assert!(env.api.devices(AOR_ALICE).await.unwrap().is_empty());
    let users = env.api.json("GET", "/api/v1/bindings", None).await.unwrap();
    assert_eq!(users["users"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_removes_push_for_the_instance_or_the_user() {
    let env = start(false).await;
    let inst = "\"<urn:uuid:00000000-0000-4000-8000-00000000e2e1>\"";
    // Device 1 has an instance id; device 2 (no instance) must survive its removal.
    let mut c1 = env.client("alice").await.unwrap();
    let contact1 = format!("Contact: {};+sip.instance={inst}", c1.contact());
    register_headers(
        &env,
        &mut c1,
        &[contact1.clone(), format!("X-MPUSH: a:{APP}:tok-inst-1")],
    )
    .await;
    let mut c2 = env.client("alice").await.unwrap();
    register(&env, &mut c2, &[format!("X-MPUSH: a:{APP}:tok-plain-2")]).await;
    let devices = env.api.devices(AOR_ALICE).await.unwrap();
    assert_eq!(devices.len(), 2, "{devices:#?}");
    assert!(
        find(&devices, "tok-inst-1")["device"]
            .as_str()
            .unwrap()
            .starts_with("instance:")
    );

    register_headers(&env, &mut c1, &[contact1, "X-MPUSH: null".into()]).await;
    let devices = env.api.devices(AOR_ALICE).await.unwrap();
    assert_eq!(
        devices.len(),
        1,
        "only the instance's binding goes: {devices:#?}"
    );
    find(&devices, "tok-plain-2");

    // pn-prid=null from a Contact without instance: every device of the user.
    let mut c3 = env.client("alice").await.unwrap();
    let contact3 = format!(
        "Contact: <sip:alice@{};pn-provider=fcm;pn-param={APP};pn-prid=null>",
        c3.local
    );
    register_headers(&env, &mut c3, &[contact3, "Expires: 600".into()]).await;
    let devices = env.api.devices(AOR_ALICE).await.unwrap();
    assert!(devices.is_empty(), "{devices:#?}");
    assert!(env.gw.log().contains("push binding removed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_survives_a_gateway_restart() {
    let mut env = start(false).await;
    let mut c = env.client("alice").await.unwrap();
    let piid = push::piid("alice", REALM, password("alice"));
    register(
        &env,
        &mut c,
        &[
            format!("X-MPUSH: a:{APP}:tok-restart"),
            format!("X-PIID: {piid}"),
        ],
    )
    .await;
    let before = env.api.devices(AOR_ALICE).await.unwrap();
    assert_eq!(before.len(), 1);
    env.restart().unwrap();
    let after = env.api.devices(AOR_ALICE).await.unwrap();
    assert_eq!(after.len(), 1, "binding lost over restart: {after:#?}");
    for k in [
        "device",
        "token",
        "package",
        "provider",
        "created_at",
        "has_piid",
    ] {
        assert_eq!(before[0][k], after[0][k], "{k} changed over restart");
    }
    // The X-PIID is encrypted with the key generated into data_dir on the
    // first run; the second run must have reused it.
    assert_eq!(after[0]["has_piid"], true, "X-PIID lost over restart");
    assert!(env.gw.dir().join("data/store.key").is_file());
    assert!(env.gw.dir().join("data/bindings.db").is_file());
}

/// `[store] path` and `key` are honoured: the bindings live in the
/// configured file, not in data_dir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_section_places_the_database() {
    let env = PushGateway::start(Options {
        store: true,
        ..Options::default()
    })
    .await
    .unwrap();
    let mut c = env.client("alice").await.unwrap();
    register(&env, &mut c, &[format!("X-MPUSH: a:{APP}:tok-store")]).await;
    assert_eq!(env.api.devices(AOR_ALICE).await.unwrap().len(), 1);
    let db = env.dir.path().join("bindings.db");
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    assert!(size > 0, "{} empty or missing", db.display());
    assert!(!env.gw.dir().join("data/bindings.db").exists());
    assert!(
        !env.gw.dir().join("data/store.key").exists(),
        "key configured, none generated"
    );
}

/// X-PIID is a credential hash: the API only says whether one is kept, and
/// the gateway never logs it (even at `debug`, which the harness uses).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_piid_is_never_shown() {
    let env = start(false).await;
    let piid = push::piid("alice", REALM, password("alice"));
    let mut c = env.client("alice").await.unwrap();
    register(
        &env,
        &mut c,
        &[
            format!("X-MPUSH: a:{APP}:tok-piid"),
            format!("X-PIID: {piid}"),
        ],
    )
    .await;
    let (status, body) = env
        .api
        .call(
            "GET",
            "/api/v1/bindings?user=alice@sipwake.test",
            Some(push::API_TOKEN),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"has_piid\":true"), "{body}");
    assert!(
        !body.to_ascii_lowercase().contains(&piid),
        "API leaks X-PIID: {body}"
    );
    let (_, list) = env
        .api
        .call("GET", "/api/v1/bindings", Some(push::API_TOKEN), None)
        .await
        .unwrap();
    assert!(!list.contains(&piid));
    let log = env.gw.log();
    assert!(
        log.contains("push binding stored"),
        "{}",
        env.gw.failure("log")
    );
    assert!(
        !log.to_ascii_lowercase().contains(&piid),
        "gateway log contains the X-PIID"
    );
}

/// The browser case: a WebSocket client (`/ws` on the HTTP listener) with a
/// Web Push subscription as its X-MPUSH `w` token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_push_binding_from_a_websocket_client() {
    let env = start(false).await;
    let sub = env.webpush.subscribe();
    let token = push::subscription_token(&sub);
    let mut c = SipClient::ws(env.gw.http_addr(), "/ws", false, "carol", REALM)
        .await
        .unwrap();
    let ok = register(&env, &mut c, &[format!("X-MPUSH: w:webpush:{token}")]).await;
    assert_eq!(feature_caps(&ok), "*;+sip.pns=\"webpush\"");
    let devices = env.api.devices("carol@sipwake.test").await.unwrap();
    assert_eq!(devices.len(), 1, "{devices:#?}");
    assert_eq!(devices[0]["provider"], "w");
    assert_eq!(devices[0]["token"], token.as_str());
    assert!(
        devices[0]["contact"]
            .as_str()
            .unwrap_or_default()
            .contains("transport=ws"),
        "{}",
        devices[0]
    );
}

/// `[limits] bindings_per_aor`: a third device of a user limited to two is
/// refused (403, nothing stored); the two it has keep refreshing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_beyond_bindings_per_aor_is_refused() {
    use sipwake_e2e::wake::{self, App, Edge};
    let env = sipwake_e2e::push::PushGateway::start(sipwake_e2e::push::Options {
        extra: "\n[limits]\nbindings_per_aor = 2\n".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let apps: Vec<App> = (0..3)
        .map(|i| App::new("alice", &wake::fcm_mpush(&format!("fcm-cap-{i}"))))
        .collect();
    for app in &apps[..2] {
        let mut c = wake::connect(&env.gw, Edge::Ws, "alice").await.unwrap();
        app.register(&mut c).await.unwrap();
    }
    let mut c = wake::connect(&env.gw, Edge::Ws, "alice").await.unwrap();
    let (challenge, _) = apps[2].register_unauthenticated(&mut c).await.unwrap();
    let (refused, _) = apps[2]
        .register_authenticated(&mut c, &challenge)
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        Some(403),
        "{}\n{}",
        refused.start,
        env.gw.failure("log")
    );
    assert!(
        refused.start.ends_with("Too Many Devices"),
        "{}",
        refused.start
    );
    assert_eq!(
        env.api.devices("alice@sipwake.test").await.unwrap().len(),
        2
    );
    // A device the user has refreshes as before.
    let mut c = wake::connect(&env.gw, Edge::Ws, "alice").await.unwrap();
    apps[0].register(&mut c).await.unwrap();
    let (_, metrics) = env
        .api
        .call("GET", "/metrics", Some(sipwake_e2e::push::API_TOKEN), None)
        .await
        .unwrap();
    assert!(
        metrics.contains("sipwake_limits_refused_total{limit=\"bindings_per_aor\"} 1"),
        "{metrics}"
    );
}

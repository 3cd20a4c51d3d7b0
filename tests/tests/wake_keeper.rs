//! The upstream registration keeper against a real Kamailio: an app
//! registers through the gateway with X-MPUSH + X-PIID and a short expiry,
//! then goes away. The gateway must keep it registered (authenticated
//! refreshes from the stored HA1), across a gateway restart, so calls to
//! it still reach the gateway and push; an API removal unregisters it
//! upstream; wrong credentials get the binding removed (`removeon_regfail`).

use std::time::{Duration, Instant};

use serde_json::Value;
use sipwake_e2e::client::SipClient;
use sipwake_e2e::push::{self, APP, Options, PushGateway};
use sipwake_e2e::sipmsg::Msg;
use sipwake_e2e::{REALM, password};

/// What the app asks for (and, with `upperexpire = -1`, what the keeper
/// keeps asking for): short, so refreshes come every few seconds.
const APP_EXPIRES: u64 = 8;
/// Generous: a loaded 2-core CI machine.
const DEADLINE: Duration = Duration::from_secs(60);

async fn start() -> PushGateway {
    PushGateway::start(options()).await.unwrap()
}

fn options() -> Options {
    Options {
        store: true,
        extra: "\n[push]\nupperexpire = -1\nwake_timeout_secs = 3\n".into(),
        ..Options::default()
    }
}

/// The app: REGISTER over TCP with push data and the given X-PIID (if
/// any); the 401 is answered with the real password, so Kamailio must say
/// 200.
async fn app_register(env: &PushGateway, token: &str, piid: Option<&str>) -> SipClient {
    let mut app = SipClient::tcp(env.gw.sip_addr(), "alice", REALM)
        .await
        .unwrap();
    let contact = format!(
        "Contact: <sip:alice@{};transport=tcp>;+sip.instance=\"<urn:uuid:6b1f0c2e-0000-4000-8000-00000000a11c>\"",
        app.local
    );
    let mut headers = vec![
        contact,
        format!("Expires: {APP_EXPIRES}"),
        "Supported: path".into(),
        format!("X-MPUSH: a:{APP}:{token}"),
    ];
    if let Some(p) = piid {
        headers.push(format!("X-PIID: {p}"));
    }
    let (first, last) = push::register_custom(&mut app, password("alice"), &headers)
        .await
        .unwrap();
    assert_eq!(first.status(), Some(401), "{}", first.start);
    assert_eq!(
        last.status(),
        Some(200),
        "{}\n{}",
        last.start,
        env.gw.failure("log")
    );
    app
}

async fn keeper_stats(env: &PushGateway) -> Value {
    let v = env.api.json("GET", "/api/v1/stats", None).await.unwrap();
    v["keeper"].clone()
}

/// Polls the keeper counters until `pred` holds.
async fn wait_keeper(env: &PushGateway, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let k = keeper_stats(env).await;
        if pred(&k) {
            return k;
        }
        assert!(
            Instant::now() < deadline,
            "keeper never reached: {what}; stats {k}\n{}",
            env.gw.failure("log")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Authenticated REGISTERs for alice that Kamailio accepted from the
/// keeper (its Call-IDs start with `kp-`), from Kamailio's own log.
fn kamailio_saw_keeper(env: &PushGateway) -> usize {
    env.kamailio
        .log()
        .matches("authenticated REGISTER user=alice callid=kp-")
        .count()
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// FCM messages of type `ntype` sent to `token`.
fn pushes(env: &PushGateway, token: &str, ntype: &str) -> usize {
    env.fcm
        .received()
        .iter()
        .filter(|r| {
            let m = &r.body["message"];
            m["token"] == token && m["data"]["ntype"] == ntype
        })
        .count()
}

/// Waits until the upstream binding the app itself created would have
/// expired (elapsed time is the point here: only the keeper's refreshes
/// can still be holding it).
async fn outlive(since: Instant, secs: u64) {
    let until = since + Duration::from_secs(secs);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// bob (directly at Kamailio, authenticated) calls alice; the final answer.
async fn bob_calls_alice(env: &PushGateway) -> Msg {
    let mut bob = SipClient::udp(env.kamailio.addr(), "bob", REALM)
        .await
        .unwrap();
    bob.password = Some(password("bob").into());
    bob.call_outcome("alice").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeper_holds_the_registration_across_refreshes_and_restart_until_removed() {
    let mut env = start().await;
    let token = "fcm-keeper-tok";
    let piid = push::piid("alice", REALM, password("alice"));
    let app = app_register(&env, token, Some(&piid)).await;
    let registered = Instant::now();
    assert_eq!(
        env.api.devices("alice@sipwake.test").await.unwrap().len(),
        1
    );
    // The app goes away (closed connection: its flow is dead).
    drop(app);

    // (a) Authenticated refreshes, at least two, beyond two app expiries.
    let k = wait_keeper(&env, "two authenticated refreshes", |k| {
        n(k, "refreshes_ok") >= 2 && n(k, "auth_answered") >= 2
    })
    .await;
    assert_eq!(n(&k, "refreshes_failed"), 0, "{k}");
    assert_eq!(n(&k, "kept"), 1, "{k}");
    let (status, metrics) = env
        .api
        .call("GET", "/metrics", Some(push::API_TOKEN), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let refreshed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sipwake_keeper_refreshes_ok_total "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(refreshed.is_some_and(|v| v >= 2), "{metrics}");
    assert!(metrics.contains("sipwake_keeper_kept 1"), "{metrics}");
    outlive(registered, 2 * APP_EXPIRES + 1).await;
    let k = keeper_stats(&env).await;
    assert!(n(&k, "refreshes_ok") >= 3, "refreshes must go on: {k}");
    let seen = kamailio_saw_keeper(&env);
    assert!(
        seen >= 3,
        "Kamailio logged {seen} authenticated keeper REGISTERs\n{}",
        env.kamailio.log()
    );
    let resp = bob_calls_alice(&env).await;
    // Kamailio still routes to alice via our Path; nobody wakes (no app),
    // so the held call ends 480 after wake_timeout_secs.
    assert_eq!(resp.status(), Some(480), "{}", resp.start);
    assert_eq!(
        pushes(&env, token, "0"),
        1,
        "exactly one call push: {:?}\n{}",
        env.fcm.received(),
        env.gw.failure("log")
    );
    assert_eq!(pushes(&env, token, "4"), 0, "X-PIID devices get no ntype 4");

    // (b) Restart: the registration is rebuilt from the store and kept.
    env.restart().unwrap();
    let restarted = Instant::now();
    let k = wait_keeper(&env, "re-registration after restart", |k| {
        n(k, "refreshes_ok") >= 1 && n(k, "restored") >= 1
    })
    .await;
    assert_eq!(n(&k, "kept"), 1, "{k}");
    assert!(
        kamailio_saw_keeper(&env) > seen,
        "no authenticated REGISTER reached Kamailio after the restart"
    );
    outlive(restarted, APP_EXPIRES + 1).await;
    let resp = bob_calls_alice(&env).await;
    assert_eq!(resp.status(), Some(480), "{}", resp.start);
    assert_eq!(
        pushes(&env, token, "0"),
        2,
        "the call after the restart pushed again: {:?}\n{}",
        env.fcm.received(),
        env.gw.failure("log")
    );

    // (c) API removal: unregistered upstream; calls fail at Kamailio, no push.
    let v = env
        .api
        .json("DELETE", "/api/v1/bindings/alice@sipwake.test", None)
        .await
        .unwrap();
    assert_eq!(v["removed"], 1, "{v}");
    let k = keeper_stats(&env).await;
    assert_eq!(n(&k, "unregistered"), 1, "{k}\n{}", env.gw.failure("log"));
    assert_eq!(n(&k, "kept"), 0, "{k}");
    let resp = bob_calls_alice(&env).await;
    assert!(
        matches!(resp.status(), Some(404 | 480)),
        "Kamailio must not know alice any more: {}",
        resp.start
    );
    assert_eq!(pushes(&env, token, "0"), 2, "no push after removal");

    // The HA1 never shows up in the logs.
    let logs = format!(
        "{}{}",
        sipwake_e2e::util::read_lossy(&env.gw.dir().join("sipwake.log")),
        sipwake_e2e::util::read_lossy(&env.gw.dir().join("sipwake.restarted.log"))
    );
    assert!(!logs.contains(&piid), "X-PIID leaked into the log");
    assert!(logs.contains("upstream registration refreshed by the keeper"));
}

/// The app registers with `token` and `piid`, then goes away; the keeper
/// must refresh it (two answered challenges, no failure) past two app
/// expiries, and bob's call then still reaches the gateway: one push, 480
/// after the wake timeout.
async fn kept_and_still_called(env: &PushGateway, token: &str, piid: &str) {
    let app = app_register(env, token, Some(piid)).await;
    let registered = Instant::now();
    drop(app);
    let k = wait_keeper(env, "two authenticated refreshes", |k| {
        n(k, "refreshes_ok") >= 2 && n(k, "auth_answered") >= 2
    })
    .await;
    assert_eq!(n(&k, "refreshes_failed"), 0, "{k}");
    assert_eq!(n(&k, "kept"), 1, "{k}");
    outlive(registered, 2 * APP_EXPIRES + 1).await;
    let seen = kamailio_saw_keeper(env);
    assert!(
        seen >= 2,
        "Kamailio logged {seen} authenticated keeper REGISTERs\n{}",
        env.kamailio.log()
    );
    let resp = bob_calls_alice(env).await;
    assert_eq!(resp.status(), Some(480), "{}", resp.start);
    assert_eq!(
        pushes(env, token, "0"),
        1,
        "exactly one call push: {:?}\n{}",
        env.fcm.received(),
        env.gw.failure("log")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeper_in_rewrite_mode_keeps_a_registrar_without_path() {
    // contact_mode = "rewrite" in front of a Kamailio with use_path 0: the
    // upstream stores the gateway's token URI as alice's Contact. The
    // keeper must refresh that same Contact (not the app's, which Kamailio
    // would then call directly), so calls still come to the gateway and push.
    let env = PushGateway::start(Options {
        rewrite_contacts: true,
        ..options()
    })
    .await
    .unwrap();
    let piid = push::piid("alice", REALM, password("alice"));
    kept_and_still_called(&env, "fcm-rewrite-tok", &piid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeper_answers_sha256_challenges_from_a_sha256_piid() {
    // Kamailio challenges with SHA-256 (RFC 7616), not MD5: the app sends
    // its SHA-256 HA1 as an X-PIID item, and the keeper answers with it.
    // (Had Kamailio challenged with MD5, a SHA-256-only X-PIID could not
    // have answered: the test below is the other half.)
    let env = PushGateway::start(Options {
        upstream_digest: Some("SHA-256"),
        ..options()
    })
    .await
    .unwrap();
    let piid = push::piid_sha256("alice", REALM, password("alice"));
    kept_and_still_called(&env, "fcm-sha256-tok", &piid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_md5_piid_cannot_answer_sha256_and_the_binding_goes() {
    // Only the manual's MD5 X-PIID, but the server wants SHA-256: the
    // keeper cannot authenticate; removeon_regfail removes the binding
    // rather than keeping an app that would silently stop getting calls.
    let env = PushGateway::start(Options {
        upstream_digest: Some("SHA-256"),
        ..options()
    })
    .await
    .unwrap();
    let piid = push::piid("alice", REALM, password("alice"));
    let app = app_register(&env, "fcm-md5-only", Some(&piid)).await;
    drop(app);
    let k = wait_keeper(&env, "removal", |k| n(k, "removed") >= 1).await;
    assert_eq!(n(&k, "refreshes_ok"), 0, "{k}");
    assert!(
        env.gw
            .log()
            .contains("no HA1 for the algorithms challenged (SHA-256)"),
        "{}",
        env.gw.failure("log")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_piid_gets_the_binding_removed() {
    let env = start().await;
    let wrong = push::piid("alice", REALM, "not-the-password");
    let app = app_register(&env, "fcm-wrong-piid", Some(&wrong)).await;
    assert_eq!(
        env.api.devices("alice@sipwake.test").await.unwrap().len(),
        1
    );
    drop(app);
    // Kamailio challenges the keeper again after its (wrong) answer:
    // removeon_regfail = 1 removes the binding.
    let k = wait_keeper(&env, "removal after rejected credentials", |k| {
        n(k, "removed") >= 1
    })
    .await;
    assert!(n(&k, "refreshes_failed") >= 1, "{k}");
    assert_eq!(n(&k, "refreshes_ok"), 0, "{k}");
    assert_eq!(n(&k, "kept"), 0, "{k}");
    assert!(
        env.api
            .devices("alice@sipwake.test")
            .await
            .unwrap()
            .is_empty(),
        "binding must be gone"
    );
    let log = env.gw.log();
    assert!(
        log.contains("push binding removed (upstream registration failed)")
            && log.contains("alice@sipwake.test"),
        "{}",
        env.gw.failure("log")
    );
    assert!(!log.contains(&wrong), "X-PIID leaked into the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_without_piid_gets_a_register_refresh_push() {
    let env = start().await;
    let token = "fcm-regrefresh-tok";
    let app = app_register(&env, token, None).await;
    let registered = Instant::now();
    drop(app);
    // regrefresh -1 (auto): no credentials, so the app itself is woken
    // (ntype 4) shortly before its upstream binding expires.
    let deadline = Instant::now() + DEADLINE;
    while pushes(&env, token, "4") == 0 {
        assert!(
            Instant::now() < deadline,
            "no ntype 4 push: {:?}\n{}",
            env.fcm.received(),
            env.gw.failure("log")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let early = registered.elapsed();
    assert!(
        early < Duration::from_secs(APP_EXPIRES),
        "the push must come before the expiry, came after {early:?}"
    );
    let k = keeper_stats(&env).await;
    assert_eq!(n(&k, "regrefresh_pushes"), 1, "{k}");
    assert_eq!(n(&k, "refreshes_ok") + n(&k, "auth_answered"), 0, "{k}");
    assert_eq!(
        kamailio_saw_keeper(&env),
        0,
        "the gateway registered nothing"
    );
    // The app never re-registers: Kamailio forgets it and a call pushes
    // nothing.
    outlive(registered, APP_EXPIRES + 1).await;
    let resp = bob_calls_alice(&env).await;
    assert_eq!(resp.status(), Some(480), "{}", resp.start);
    assert_eq!(pushes(&env, token, "0"), 0, "no call push");
    assert_eq!(pushes(&env, token, "4"), 1, "one refresh push only");
}

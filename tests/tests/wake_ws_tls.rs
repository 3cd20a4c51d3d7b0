//! Push wake-up through the real gateway in upstream mode with Kamailio:
//! an FCM app registered over WS (or TLS, TCP, WSS) closes its connection;
//! a caller at Kamailio calls it; the FCM mock gets exactly one call push;
//! the app opens a NEW connection, registers (401 → 200) and gets the
//! INVITE exactly once; the call completes (200/ACK/BYE). The TLS case is
//! Flexisip #257 (a woken device on a new TLS connection). A SIPp caller
//! reaches a sleeping Web Push (`w`) app the same way.

use std::time::Instant;

use serde_json::Value;
use sipwake_e2e::password;
use sipwake_e2e::push::{self, PushGateway};
use sipwake_e2e::sipp::Sipp;
use sipwake_e2e::wake::{self, App, Caller, Edge, GRACE, WAIT};

async fn setup() -> PushGateway {
    // Under Kamailio's fr_inv_timer (30 s): the caller must see our answer.
    wake::start(false, "wake_timeout_secs = 25").await.unwrap()
}

async fn wake_and_answer(edge: Edge) {
    let env = setup().await;
    let gw = &env.gw;
    let fail = |what: &str| gw.failure(what).to_string();
    let app = App::new("alice", &wake::fcm_mpush(&format!("fcm-wake-{edge:?}")));
    let mut c = wake::connect(gw, edge, "alice").await.unwrap();
    app.register(&mut c)
        .await
        .map_err(|e| fail(&e.to_string()))
        .unwrap();
    assert_eq!(
        env.api.devices("alice@sipwake.test").await.unwrap().len(),
        1,
        "push binding stored"
    );
    wake::fall_asleep(gw, c).await.unwrap();

    let mut caller = Caller::at(&env.kamailio, "bob").await.unwrap();
    caller.send("INVITE", "alice", &[], "").await.unwrap();
    let call_id = caller.call_id.clone();

    // Exactly one call push, naming the caller and the Call-ID.
    let pushes = wake::wait_fcm(&env, "0", &call_id, 1)
        .await
        .map_err(|e| fail(&e.to_string()))
        .unwrap();
    let data = &pushes[0]["data"];
    assert_eq!(data["nfrom"], "bob", "{}", pushes[0]);
    assert_eq!(pushes[0]["token"], format!("fcm-wake-{edge:?}"));
    let pushed_at = Instant::now();

    // The app wakes on a new connection. The 401 round delivers nothing.
    let mut c = wake::connect(gw, edge, "alice").await.unwrap();
    let (challenge, early) = app.register_unauthenticated(&mut c).await.unwrap();
    assert!(early.is_empty(), "before the 401: {early:?}");
    let quiet = c.recv_none(GRACE).await.unwrap();
    assert!(
        quiet.is_none(),
        "the challenged REGISTER delivered {quiet:?}"
    );
    let stats = wake::wake_stats(&env.api).await.unwrap();
    assert_eq!(stats["delivered"], 0, "{stats}");
    assert_eq!(stats["holding"], 1, "{stats}");

    let (ok, during) = app
        .register_authenticated(&mut c, &challenge)
        .await
        .unwrap();
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    let invites: Vec<_> = during
        .into_iter()
        .filter(|m| m.method() == Some("INVITE"))
        .collect();
    assert!(invites.len() <= 1, "{invites:?}");
    let invite = match invites.into_iter().next() {
        Some(i) => i,
        None => wake::expect_invite(&mut c, WAIT)
            .await
            .map_err(|e| fail(&e.to_string()))
            .unwrap(),
    };
    assert_eq!(invite.header("Call-ID"), Some(call_id.as_str()));
    assert!(invite.body_text().contains("m=audio"), "SDP intact");
    assert!(
        pushed_at.elapsed() < WAIT,
        "delivered in time: {:?}",
        pushed_at.elapsed()
    );

    // The call completes: 180, 200, ACK, BYE.
    let ringing = wake::ring(&mut c, invite).await.unwrap();
    wake::accept(&mut c, &ringing).await.unwrap();
    let ok = caller
        .final_response(WAIT)
        .await
        .map_err(|e| fail(&e.to_string()))
        .unwrap();
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    wake::finish_call(&mut caller, &ok, &mut c)
        .await
        .map_err(|e| fail(&e.to_string()))
        .unwrap();
    assert!(
        caller.provisional.iter().any(|m| m.status() == Some(180)),
        "the caller heard the woken device ring"
    );

    // Exactly once: no second INVITE, no second push.
    let again = wake::no_request(&mut c, "INVITE", GRACE).await.unwrap();
    assert!(again.is_none(), "second INVITE: {again:?}");
    assert_eq!(wake::fcm_pushes(&env, "0", &call_id).len(), 1);
    assert_eq!(env.fcm.received().len(), 1, "no other push at all");
    let stats = wake::wake_stats(&env.api).await.unwrap();
    assert_eq!(stats["pushed"], 1, "{stats}");
    assert_eq!(stats["woken"], 1, "{stats}");
    assert_eq!(stats["delivered"], 1, "{stats}");
    assert_eq!(stats["holding"], 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_ws_app_wakes_on_a_new_websocket() {
    wake_and_answer(Edge::Ws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_tls_app_wakes_on_a_new_tls_connection() {
    wake_and_answer(Edge::Tls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_wss_app_wakes_on_a_new_secure_websocket() {
    wake_and_answer(Edge::Wss).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_tcp_app_wakes_on_a_new_tcp_connection() {
    wake_and_answer(Edge::Tcp).await;
}

/// A Web Push app (X-MPUSH `w`) called by a SIPp UAC at Kamailio: the Web
/// Push mock decrypts exactly one call push naming the caller and the
/// Call-ID the woken app then receives, once; SIPp's call completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_caller_reaches_a_sleeping_web_push_app() {
    let env = setup().await;
    let gw = &env.gw;
    let fail = |e: sipwake_e2e::Error| gw.failure(&e.to_string()).to_string();
    let sub = env.webpush.subscribe();
    let app = App::new(
        "alice",
        &format!("w:webpush:{}", push::subscription_token(&sub)),
    );
    let mut c = wake::connect(gw, Edge::Ws, "alice").await.unwrap();
    app.register(&mut c).await.unwrap();
    wake::fall_asleep(gw, c).await.unwrap();

    let kaddr = env.kamailio.addr();
    let caller = tokio::task::spawn_blocking(move || {
        Sipp::uac("uac_call", kaddr)
            .user("bob", password("bob"))
            .callee("alice")
            .spawn()
    })
    .await
    .unwrap()
    .unwrap();

    let pushed = wake::until("a Web Push call push", WAIT, || {
        let got = env.webpush.received();
        async move { (!got.is_empty()).then_some(got) }
    })
    .await
    .map_err(fail)
    .unwrap();
    assert_eq!(pushed.len(), 1, "rejected: {}", env.webpush.rejected());
    assert!(sub.endpoint.ends_with(&pushed[0].endpoint_id));
    let plain: Value = serde_json::from_slice(&pushed[0].plaintext).expect("decrypted JSON");
    assert_eq!(plain["data"]["ntype"], "0", "{plain}");
    assert_eq!(plain["data"]["nfrom"], "bob", "{plain}");

    let mut c = wake::connect(gw, Edge::Ws, "alice").await.unwrap();
    let (ok, during) = {
        let (challenge, early) = app.register_unauthenticated(&mut c).await.unwrap();
        assert!(early.is_empty(), "{early:?}");
        app.register_authenticated(&mut c, &challenge)
            .await
            .unwrap()
    };
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    let invite = match during.into_iter().find(|m| m.method() == Some("INVITE")) {
        Some(i) => i,
        None => wake::expect_invite(&mut c, WAIT)
            .await
            .map_err(fail)
            .unwrap(),
    };
    assert_eq!(
        invite.header("Call-ID"),
        plain["data"]["ncallid"].as_str(),
        "the push names the call that arrives"
    );
    let ringing = wake::ring(&mut c, invite).await.unwrap();
    wake::accept(&mut c, &ringing).await.unwrap();
    wake::expect_ack(&mut c).await.map_err(fail).unwrap();
    wake::answer_bye(&mut c).await.map_err(fail).unwrap();
    tokio::task::spawn_blocking(move || caller.wait())
        .await
        .unwrap()
        .map_err(fail)
        .unwrap();
    let again = wake::no_request(&mut c, "INVITE", GRACE).await.unwrap();
    assert!(again.is_none(), "second INVITE: {again:?}");
    assert_eq!(env.webpush.received().len(), 1, "one push for one call");
}

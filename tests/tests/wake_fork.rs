//! Two devices of one user (two `+sip.instance`s) behind the gateway, one
//! live (its TCP or WebSocket connection open) and one sleeping (FCM binding, connection
//! closed). Kamailio forks the caller's INVITE to both registrations: the
//! live one rings at once, the sleeping one is pushed. The first answer
//! wins; the other device is CANCELled, and a device that wakes after the
//! call was answered never gets a second call.

use sipwake_e2e::client::SipClient;
use sipwake_e2e::push::PushGateway;
use sipwake_e2e::wake::{self, App, Caller, Edge, GRACE, WAIT};

/// Starts the gateway, registers alice's live device (kept connected over
/// `live_edge`) and her sleeping device (WS, closed), and places bob's call.
async fn two_devices(live_edge: Edge) -> (PushGateway, App, SipClient, App, Caller) {
    let env = wake::start(false, "wake_timeout_secs = 25").await.unwrap();
    let live_app = App::new("alice", &wake::fcm_mpush("fcm-live-tok"));
    let sleep_app = App::new("alice", &wake::fcm_mpush("fcm-sleep-tok"));
    let mut live = wake::connect(&env.gw, live_edge, "alice").await.unwrap();
    live_app.register(&mut live).await.unwrap();
    let mut s = wake::connect(&env.gw, Edge::Ws, "alice").await.unwrap();
    sleep_app.register(&mut s).await.unwrap();
    assert_eq!(
        env.api.devices("alice@sipwake.test").await.unwrap().len(),
        2,
        "two push bindings"
    );
    wake::fall_asleep(&env.gw, s).await.unwrap();
    let mut caller = Caller::at(&env.kamailio, "bob").await.unwrap();
    caller.send("INVITE", "alice", &[], "").await.unwrap();
    (env, live_app, live, sleep_app, caller)
}

/// Both ring: the live device has the INVITE, the sleeping one got the
/// (only) push, for its own token.
async fn both_ring(env: &PushGateway, live: &mut SipClient, caller: &Caller) -> wake::Ringing {
    let invite = wake::expect_invite(live, WAIT)
        .await
        .map_err(|e| env.gw.failure(&e.to_string()).to_string())
        .unwrap();
    assert_eq!(invite.header("Call-ID"), Some(caller.call_id.as_str()));
    let ringing = wake::ring(live, invite).await.unwrap();
    let pushes = wake::wait_fcm(env, "0", &caller.call_id, 1)
        .await
        .map_err(|e| env.gw.failure(&e.to_string()).to_string())
        .unwrap();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(
        pushes[0]["token"], "fcm-sleep-tok",
        "only the sleeping device is pushed"
    );
    ringing
}

/// The live device (on TCP) answers first; the held branch is cancelled;
/// the sleeping device that wakes afterwards gets no INVITE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_device_answers_first_and_the_late_sleeper_gets_no_call() {
    let (env, _live_app, mut live, sleep_app, mut caller) = two_devices(Edge::Tcp).await;
    let fail = |e: sipwake_e2e::Error| env.gw.failure(&e.to_string()).to_string();
    let ringing = both_ring(&env, &mut live, &caller).await;

    wake::accept(&mut live, &ringing).await.unwrap();
    let ok = caller.final_response(WAIT).await.map_err(fail).unwrap();
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    caller.ack(&ok).await.unwrap();
    wake::expect_ack(&mut live).await.map_err(fail).unwrap();

    // Kamailio CANCELs the held branch: the gateway drops it (no push
    // was missed, nothing is left waiting).
    let stats = wake::until("the held branch to be cancelled", WAIT, || async {
        let s = wake::wake_stats(&env.api).await.ok()?;
        (s["cancelled"] == 1 && s["holding"] == 0).then_some(s)
    })
    .await
    .map_err(fail)
    .unwrap();
    assert_eq!(stats["delivered"], 0, "{stats}");

    // The sleeper wakes now: registered, but no call.
    let mut late = wake::connect(&env.gw, Edge::Ws, "alice").await.unwrap();
    sleep_app.register(&mut late).await.map_err(fail).unwrap();
    let invite = wake::no_request(&mut late, "INVITE", GRACE).await.unwrap();
    assert!(
        invite.is_none(),
        "a second call reached the late device: {invite:?}"
    );

    // The answered call goes on and ends normally.
    wake::hang_up(&mut caller, &mut live)
        .await
        .map_err(fail)
        .unwrap();
    assert_eq!(wake::fcm_pushes(&env, "0", &caller.call_id).len(), 1);
    let stats = wake::wake_stats(&env.api).await.unwrap();
    assert_eq!(stats["delivered"], 0, "{stats}");
}

/// The sleeping device wakes and answers first; the live one (on WS), still
/// ringing, gets a CANCEL saying the call was completed elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woken_device_answers_first_and_the_live_one_is_cancelled() {
    let (env, _live_app, mut live, sleep_app, mut caller) = two_devices(Edge::Ws).await;
    let fail = |e: sipwake_e2e::Error| env.gw.failure(&e.to_string()).to_string();
    let ringing = both_ring(&env, &mut live, &caller).await;

    let mut woken = wake::connect(&env.gw, Edge::Ws, "alice").await.unwrap();
    let (challenge, early) = sleep_app
        .register_unauthenticated(&mut woken)
        .await
        .unwrap();
    assert!(early.is_empty(), "{early:?}");
    let (reg_ok, during) = sleep_app
        .register_authenticated(&mut woken, &challenge)
        .await
        .unwrap();
    assert_eq!(reg_ok.status(), Some(200), "{}", reg_ok.start);
    let invite = match during.into_iter().find(|m| m.method() == Some("INVITE")) {
        Some(i) => i,
        None => wake::expect_invite(&mut woken, WAIT)
            .await
            .map_err(fail)
            .unwrap(),
    };
    assert_eq!(invite.header("Call-ID"), Some(caller.call_id.as_str()));
    let woken_ringing = wake::ring(&mut woken, invite).await.unwrap();

    let (accepted, cancel, ok) = tokio::join!(
        wake::accept(&mut woken, &woken_ringing),
        wake::cancelled(&mut live, &ringing),
        caller.final_response(WAIT)
    );
    accepted.map_err(fail).unwrap();
    let cancel = cancel.map_err(fail).unwrap();
    let ok = ok.map_err(fail).unwrap();
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    let reason = cancel.header("Reason").unwrap_or_default();
    assert!(
        reason.contains("cause=200") && reason.contains("Call completed elsewhere"),
        "CANCEL to the live device without RFC 3326 Reason: {cancel:?}"
    );

    wake::finish_call(&mut caller, &ok, &mut woken)
        .await
        .map_err(fail)
        .unwrap();
    let again = wake::no_request(&mut woken, "INVITE", GRACE).await.unwrap();
    assert!(again.is_none(), "second INVITE: {again:?}");
    let stats = wake::wake_stats(&env.api).await.unwrap();
    assert_eq!(stats["delivered"], 1, "{stats}");
    assert_eq!(stats["holding"], 0, "{stats}");
}

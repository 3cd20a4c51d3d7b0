//! How a held call ends when the sleeping app does not take it, through
//! the real gateway, Kamailio and the push mocks: the caller cancels before
//! the app wakes (cancel push, no INVITE later, 200/487 to the caller),
//! nobody wakes (480 after `wake_timeout_secs`), and the provider says the
//! token is dead (APNs 410: binding removed, caller answered at once, no
//! push on the next call). Also `ringing_on_push` (180 while it sleeps).

use std::time::{Duration, Instant};

use serde_json::json;
use sipwake_e2e::push::{self, APP};
use sipwake_e2e::wake::{self, App, Caller, Edge, GRACE, WAIT};
use sipwake_mocks::apns::ApnsFailure;

/// `cancel = 2`: the caller's CANCEL while the app sleeps → 200 for the
/// CANCEL, 487 for the INVITE, one cancel push (ntype 2) for the Call-ID;
/// the app that registers afterwards gets no INVITE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_cancels_before_the_app_wakes() {
    let env = wake::start(false, "wake_timeout_secs = 25\ncancel = 2")
        .await
        .unwrap();
    let fail = |e: sipwake_e2e::Error| env.gw.failure(&e.to_string()).to_string();
    let app = App::new("alice", &wake::fcm_mpush("fcm-cancel-tok"));
    let mut c = wake::connect(&env.gw, Edge::Ws, "alice").await.unwrap();
    app.register(&mut c).await.unwrap();
    wake::fall_asleep(&env.gw, c).await.unwrap();

    let mut caller = Caller::at(&env.kamailio, "bob").await.unwrap();
    caller.send("INVITE", "alice", &[], "").await.unwrap();
    let call_id = caller.call_id.clone();
    wake::wait_fcm(&env, "0", &call_id, 1)
        .await
        .map_err(fail)
        .unwrap();

    let (cancel_ok, fin) = caller.cancel().await.map_err(fail).unwrap();
    assert_eq!(cancel_ok.status(), Some(200), "{}", cancel_ok.start);
    assert_eq!(fin.status(), Some(487), "{}", fin.start);
    let cancels = wake::wait_fcm(&env, "2", &call_id, 1)
        .await
        .map_err(fail)
        .unwrap();
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(cancels[0]["token"], "fcm-cancel-tok");

    // The app wakes anyway: registered, but no call.
    let mut woken = wake::connect(&env.gw, Edge::Ws, "alice").await.unwrap();
    app.register(&mut woken).await.map_err(fail).unwrap();
    let invite = wake::no_request(&mut woken, "INVITE", GRACE).await.unwrap();
    assert!(
        invite.is_none(),
        "INVITE after the caller cancelled: {invite:?}"
    );
    let stats = wake::wake_stats(&env.api).await.unwrap();
    assert_eq!(stats["cancelled"], 1, "{stats}");
    assert_eq!(stats["cancel_pushes"], 1, "{stats}");
    assert_eq!(stats["delivered"], 0, "{stats}");
    assert_eq!(stats["holding"], 0, "{stats}");
    assert_eq!(wake::fcm_pushes(&env, "0", &call_id).len(), 1);
}

/// Nobody wakes: the caller gets 480 once `wake_timeout_secs` is over, not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_wakes_and_the_caller_gets_480_after_the_timeout() {
    const TIMEOUT: u64 = 3;
    let env = wake::start(false, &format!("wake_timeout_secs = {TIMEOUT}"))
        .await
        .unwrap();
    let fail = |e: sipwake_e2e::Error| env.gw.failure(&e.to_string()).to_string();
    let app = App::new("alice", &wake::fcm_mpush("fcm-timeout-tok"));
    let mut c = wake::connect(&env.gw, Edge::Ws, "alice").await.unwrap();
    app.register(&mut c).await.unwrap();
    wake::fall_asleep(&env.gw, c).await.unwrap();

    let mut caller = Caller::at(&env.kamailio, "bob").await.unwrap();
    let started = Instant::now();
    caller.send("INVITE", "alice", &[], "").await.unwrap();
    let fin = caller.final_response(WAIT).await.map_err(fail).unwrap();
    let took = started.elapsed();
    assert_eq!(fin.status(), Some(480), "{}", fin.start);
    assert!(
        took >= Duration::from_secs(TIMEOUT),
        "480 before the wake timeout: {took:?}"
    );
    assert_eq!(wake::fcm_pushes(&env, "0", &caller.call_id).len(), 1);
    let stats = wake::wake_stats(&env.api).await.unwrap();
    assert_eq!(stats["timed_out"], 1, "{stats}");
    assert_eq!(stats["holding"], 0, "{stats}");
    // The binding stays: a device that did not wake is not removed.
    assert_eq!(
        env.api.devices("alice@sipwake.test").await.unwrap().len(),
        1
    );
}

/// APNs answers 410 Unregistered for the sleeping app's token: the binding
/// is removed, the caller gets a final answer at once (not after the wake
/// timeout), and the next call sends no push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_apns_token_is_removed_on_the_call() {
    let env = wake::start(true, "wake_timeout_secs = 25").await.unwrap();
    let fail = |e: sipwake_e2e::Error| env.gw.failure(&e.to_string()).to_string();
    let apns = env.apns.as_ref().unwrap();
    let tok = push::apns_token("wake-dead");
    let app = App::new("carol", &format!("i:{APP}:{tok}"));
    let mut c = wake::connect(&env.gw, Edge::Ws, "carol").await.unwrap();
    app.register(&mut c).await.unwrap();
    assert_eq!(
        env.api.devices("carol@sipwake.test").await.unwrap().len(),
        1
    );
    wake::fall_asleep(&env.gw, c).await.unwrap();
    apns.fail(&tok, [ApnsFailure::Unregistered]);

    let mut caller = Caller::at(&env.kamailio, "bob").await.unwrap();
    let started = Instant::now();
    caller.send("INVITE", "carol", &[], "").await.unwrap();
    let fin = caller.final_response(WAIT).await.map_err(fail).unwrap();
    assert_eq!(fin.status(), Some(480), "{}", fin.start);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the dead token must end the call at once, not at the wake timeout"
    );
    assert_eq!(apns.attempts(&tok), 1);
    assert!(
        env.api
            .devices("carol@sipwake.test")
            .await
            .unwrap()
            .is_empty(),
        "binding of a dead token survived"
    );
    let stats = wake::wake_stats(&env.api).await.unwrap();
    assert_eq!(stats["push_failed"], 1, "{stats}");
    assert_eq!(stats["holding"], 0, "{stats}");

    // The next call finds no push binding: no push, still a final answer.
    let mut again = Caller::at(&env.kamailio, "dave").await.unwrap();
    again.send("INVITE", "carol", &[], "").await.unwrap();
    let fin = again.final_response(WAIT).await.map_err(fail).unwrap();
    assert!(
        fin.status().is_some_and(|s| s >= 400),
        "second call: {}",
        fin.start
    );
    assert_eq!(apns.attempts(&tok), 1, "no push to a removed binding");
    assert!(apns.received().is_empty());
    // The API agrees there is nothing left to push.
    let (status, _) = env
        .api
        .call(
            "POST",
            "/api/v1/push",
            Some(push::API_TOKEN),
            Some(&json!({"type": 0, "from_user": "bob", "to_user": "carol@sipwake.test"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 404);
}

/// `ringing_on_push`: the caller at Kamailio hears 180 once the call push
/// is out, while the app still sleeps; with `cancel` off (the default) its
/// CANCEL sends no cancel push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ringing_on_push_reaches_the_caller_before_the_app_wakes() {
    let env = wake::start(false, "wake_timeout_secs = 25\nringing_on_push = true")
        .await
        .unwrap();
    let fail = |e: sipwake_e2e::Error| env.gw.failure(&e.to_string()).to_string();
    let app = App::new("alice", &wake::fcm_mpush("fcm-ring-tok"));
    let mut c = wake::connect(&env.gw, Edge::Ws, "alice").await.unwrap();
    app.register(&mut c).await.unwrap();
    wake::fall_asleep(&env.gw, c).await.unwrap();

    let mut caller = Caller::at(&env.kamailio, "bob").await.unwrap();
    caller.send("INVITE", "alice", &[], "").await.unwrap();
    let ringing = caller
        .client
        .recv_until("180 Ringing", |m| m.status() == Some(180))
        .await
        .map_err(fail)
        .unwrap();
    assert_eq!(ringing.header("Call-ID"), Some(caller.call_id.as_str()));
    assert_eq!(wake::fcm_pushes(&env, "0", &caller.call_id).len(), 1);

    let (cancel_ok, fin) = caller.cancel().await.map_err(fail).unwrap();
    assert_eq!(cancel_ok.status(), Some(200), "{}", cancel_ok.start);
    assert_eq!(fin.status(), Some(487), "{}", fin.start);
    let stats = wake::until("the held call to be dropped", WAIT, || async {
        let s = wake::wake_stats(&env.api).await.ok()?;
        (s["cancelled"] == 1).then_some(s)
    })
    .await
    .map_err(fail)
    .unwrap();
    assert_eq!(stats["cancel_pushes"], 0, "{stats}");
    assert!(wake::fcm_pushes(&env, "2", &caller.call_id).is_empty());
}

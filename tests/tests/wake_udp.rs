//! Push wake-up of a sleeping UDP app through the real gateway in upstream
//! mode with Kamailio. Over UDP nothing tells the gateway an app sleeps:
//! it sends the INVITE to the last known address at once and pushes only
//! when nothing comes back within `udp_wake_after_ms` (docs/wake.md).
//!
//! The app registers with an RFC 8599 Contact (`pn-*` params), then stops
//! reading its socket; a SIPp caller at Kamailio calls it; the FCM mock
//! gets exactly one ntype 0 push naming the caller and the Call-ID; the app
//! registers again from a NEW socket (401 → 200) and gets the INVITE
//! exactly once there and nothing more on the old socket; the call
//! completes (200/ACK/BYE). An app that does answer gets the call with no
//! push. A MESSAGE to a silent UDP app: 202 once the window is over, one
//! chat push, delivered once on the new socket.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use sipwake_e2e::client::SipClient;
use sipwake_e2e::push::{API_TOKEN, PushGateway};
use sipwake_e2e::sipmsg::Msg;
use sipwake_e2e::sipp::{Sipp, SippRun};
use sipwake_e2e::wake::{self, Caller, GRACE, UdpApp, WAIT};
use sipwake_e2e::{Error, password};

/// `window_ms`: `udp_wake_after_ms`.
async fn setup(window_ms: u64) -> PushGateway {
    // Under Kamailio's fr_inv_timer (30 s): the caller must see our answer.
    wake::start(
        false,
        &format!("wake_timeout_secs = 25\nudp_wake_after_ms = {window_ms}"),
    )
    .await
    .unwrap()
}

/// SIPp's `uac_call` as bob at Kamailio, calling alice (in the background).
async fn sipp_calls_alice(env: &PushGateway) -> SippRun {
    let kaddr = env.kamailio.addr();
    tokio::task::spawn_blocking(move || {
        Sipp::uac("uac_call", kaddr)
            .user("bob", password("bob"))
            .callee("alice")
            .timeout(Duration::from_secs(40))
            .spawn()
    })
    .await
    .unwrap()
    .unwrap()
}

async fn sipp_done(run: SippRun, env: &PushGateway) {
    let res = tokio::task::spawn_blocking(move || run.wait())
        .await
        .unwrap();
    res.map_err(|e| format!("{e}\n{}", env.gw.failure("sipwake log")))
        .unwrap();
}

/// Everything already queued on `c` (nothing waited for beyond a poll).
async fn drain(c: &mut SipClient) -> Vec<Msg> {
    let mut out = Vec::new();
    while let Some(m) = c.recv_none(Duration::from_millis(1)).await.unwrap() {
        out.push(m);
    }
    out
}

fn branch(m: &Msg) -> String {
    m.header("Via")
        .and_then(|v| v.split(";branch=").nth(1))
        .map(|b| b.split([';', ',']).next().unwrap_or("").to_owned())
        .unwrap_or_default()
}

/// Answers the call on `c` (180, 200 with SDP, waits for the ACK, answers
/// the BYE). Returns the distinct INVITEs (by Via branch) seen meanwhile.
async fn answer(c: &mut SipClient, invite: Msg) -> HashSet<String> {
    let mut branches = HashSet::from([branch(&invite)]);
    let ringing = wake::ring(c, invite).await.unwrap();
    wake::accept(c, &ringing).await.unwrap();
    let ack = c
        .recv_until("ACK", |m| {
            if m.method() == Some("INVITE") {
                return false;
            }
            m.method() == Some("ACK")
        })
        .await
        .unwrap();
    assert_eq!(ack.header("Call-ID"), ringing.invite.header("Call-ID"));
    let bye = wake::answer_bye(c).await.unwrap();
    assert_eq!(bye.header("Call-ID"), ringing.invite.header("Call-ID"));
    for m in drain(c).await {
        if m.method() == Some("INVITE") {
            branches.insert(branch(&m));
        }
    }
    branches
}

async fn metrics(env: &PushGateway) -> String {
    let (status, text) = env
        .api
        .call("GET", "/metrics", Some(API_TOKEN), None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_udp_app_is_pushed_and_gets_the_call_once_on_a_new_socket() {
    sleeping_udp_app(true).await;
}

/// The manual's RFC 8599 form has no `+sip.instance`: the new socket's
/// Contact is a new registration upstream, still the same push device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_udp_app_without_instance_gets_the_call_at_its_new_contact() {
    sleeping_udp_app(false).await;
}

async fn sleeping_udp_app(with_instance: bool) {
    let env = setup(1200).await;
    let gw = &env.gw;
    let app = UdpApp::new("fcm-udp-sleeper", with_instance);
    let mut old = app.socket(&env.gw).await;
    app.register(&mut old)
        .await
        .map_err(|e| gw.failure(&e.to_string()).to_string())
        .unwrap();
    let devices = env.api.devices("alice@sipwake.test").await.unwrap();
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0]["token"], app.token, "{}", devices[0]);
    // From here on the app sleeps: nobody reads `old`.

    let sipp = sipp_calls_alice(&env).await;
    let pushes = wake::until("one FCM call push", WAIT, || {
        let got: Vec<Value> = env
            .fcm
            .received()
            .into_iter()
            .map(|r| r.body["message"].clone())
            .filter(|m| m["data"]["ntype"] == "0")
            .collect();
        async move { (!got.is_empty()).then_some(got) }
    })
    .await
    .map_err(|e| gw.failure(&e.to_string()).to_string())
    .unwrap();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    let push = &pushes[0];
    assert_eq!(push["token"], app.token, "{push}");
    assert_eq!(push["data"]["nfrom"], "bob", "{push}");
    let call_id = push["data"]["ncallid"].as_str().unwrap().to_owned();
    assert!(!call_id.is_empty(), "{push}");
    // The INVITE went to the old address first (and is resent there).
    let before = drain(&mut old).await;
    assert!(
        before
            .iter()
            .any(|m| m.method() == Some("INVITE") && m.header("Call-ID") == Some(&call_id)),
        "the old address got the INVITE before the push: {before:?}"
    );
    let stats = wake::wake_stats(&env.api).await.unwrap();
    assert_eq!(
        (stats["udp_probed"].as_u64(), stats["held"].as_u64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    assert_eq!(stats["delivered"], 0, "{stats}");

    // Woken: a new socket, new port, 401 → 200.
    let mut new = app.socket(&env.gw).await;
    assert_ne!(new.local, old.local);
    let (_ok, during) = app
        .register(&mut new)
        .await
        .map_err(|e| gw.failure(&e.to_string()).to_string())
        .unwrap();
    let invite = match during.into_iter().find(|m| m.method() == Some("INVITE")) {
        Some(i) => i,
        None => wake::expect_invite(&mut new, WAIT)
            .await
            .map_err(|e| gw.failure(&e.to_string()).to_string())
            .unwrap(),
    };
    assert_eq!(invite.header("Call-ID"), Some(call_id.as_str()));
    assert!(
        invite.start.contains(&new.local),
        "addressed to the new Contact: {}",
        invite.start
    );
    // What the old socket got up to now was sent before the delivery.
    drain(&mut old).await;

    let branches = answer(&mut new, invite).await;
    assert_eq!(
        branches.len(),
        1,
        "one INVITE on the new socket: {branches:?}"
    );
    sipp_done(sipp, &env).await;

    // Nothing more anywhere: the old branch stopped, no second delivery.
    let late_old = wake::no_request(&mut old, "INVITE", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(late_old.is_none(), "INVITE on the old socket: {late_old:?}");
    let late_new = wake::no_request(&mut new, "INVITE", GRACE).await.unwrap();
    assert!(late_new.is_none(), "second INVITE: {late_new:?}");
    assert_eq!(wake::fcm_pushes(&env, "0", &call_id).len(), 1);

    let stats = wake::wake_stats(&env.api).await.unwrap();
    for (k, v) in [
        ("pushed", 1),
        ("woken", 1),
        ("delivered", 1),
        ("timed_out", 0),
        ("udp_answered", 0),
        ("holding", 0),
    ] {
        assert_eq!(stats[k].as_u64(), Some(v), "{k}: {stats}");
    }
    assert_eq!(stats["success_rate"].as_f64(), Some(1.0), "{stats}");
    for h in ["push_to_register", "register_to_deliver"] {
        assert_eq!(stats[h]["count"].as_u64(), Some(1), "{h}: {stats}");
        assert!(stats[h]["p50_ms"].is_u64(), "{h}: {stats}");
        assert!(stats[h]["p99_ms"].is_u64(), "{h}: {stats}");
    }
    let wake_ms = stats["push_to_register"]["p50_ms"].as_u64().unwrap();
    assert!(wake_ms < WAIT.as_millis() as u64, "{stats}");
    let text = metrics(&env).await;
    for line in [
        "sipwake_wake_delivered_total 1\n",
        "sipwake_wake_pushed_total 1\n",
        "sipwake_wake_push_to_register_seconds_count 1\n",
        "sipwake_wake_register_to_deliver_seconds_count 1\n",
        "sipwake_wake_push_to_register_seconds_bucket{le=\"+Inf\"} 1\n",
    ] {
        assert!(text.contains(line), "{line:?} missing in /metrics:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answering_udp_app_gets_the_call_with_no_push() {
    // A wide window: a loaded machine must not make an awake app look asleep.
    let env = setup(5000).await;
    let gw = &env.gw;
    let app = UdpApp::new("fcm-udp-awake", true);
    let mut c = app.socket(&env.gw).await;
    app.register(&mut c)
        .await
        .map_err(|e| gw.failure(&e.to_string()).to_string())
        .unwrap();

    let sipp = sipp_calls_alice(&env).await;
    let invite = wake::expect_invite(&mut c, WAIT)
        .await
        .map_err(|e| gw.failure(&e.to_string()).to_string())
        .unwrap();
    let branches = answer(&mut c, invite).await;
    assert_eq!(branches.len(), 1, "{branches:?}");
    sipp_done(sipp, &env).await;

    // Answered inside the window: the device is settled, never pushed.
    let stats = wake::until("the call counted as answered", WAIT, || async {
        let s = wake::wake_stats(&env.api).await.ok()?;
        (s["udp_answered"] == 1).then_some(s)
    })
    .await
    .unwrap();
    assert!(
        wake::no_request(&mut c, "INVITE", GRACE)
            .await
            .unwrap()
            .is_none()
    );
    assert!(env.fcm.received().is_empty(), "{:?}", env.fcm.received());
    for (k, v) in [
        ("udp_probed", 1),
        ("held", 0),
        ("pushed", 0),
        ("holding", 0),
    ] {
        assert_eq!(stats[k].as_u64(), Some(v), "{k}: {stats}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_to_a_silent_udp_app_is_accepted_pushed_and_delivered_once() {
    // The 202 must beat Kamailio's fr_timer (5 s) for the MESSAGE.
    let env = setup(1200).await;
    let fail = |e: Error| env.gw.failure(&e.to_string()).to_string();
    let app = UdpApp::new("fcm-udp-chat", true);
    let mut old = app.socket(&env.gw).await;
    app.register(&mut old).await.map_err(fail).unwrap();

    let text = "still there? (udp)";
    let mut sender = Caller::at(&env.kamailio, "bob").await.unwrap();
    sender
        .send(
            "MESSAGE",
            "alice",
            &["Content-Type: text/plain".into()],
            text,
        )
        .await
        .unwrap();
    let fin = sender.final_response(WAIT).await.map_err(fail).unwrap();
    assert_eq!(fin.status(), Some(202), "{}", fin.start);
    let call_id = sender.call_id.clone();
    let pushes = wake::wait_fcm(&env, "1", &call_id, 1)
        .await
        .map_err(fail)
        .unwrap();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0]["data"]["nmsg"], text, "{}", pushes[0]);
    let first = drain(&mut old).await;
    assert!(
        first.iter().any(|m| m.method() == Some("MESSAGE")),
        "sent to the old address first: {first:?}"
    );

    let mut new = app.socket(&env.gw).await;
    let (_ok, during) = app.register(&mut new).await.map_err(fail).unwrap();
    let msg = match during.into_iter().find(|m| m.method() == Some("MESSAGE")) {
        Some(m) => m,
        None => new
            .recv_until("the held MESSAGE", |m| m.method() == Some("MESSAGE"))
            .await
            .map_err(fail)
            .unwrap(),
    };
    assert_eq!(msg.body_text(), text);
    assert_eq!(msg.header("Call-ID"), Some(call_id.as_str()));
    drain(&mut old).await;
    new.send_raw(msg.response(200, "OK", Some("chat-ok"), &[]).as_bytes())
        .await
        .unwrap();
    let again = wake::no_request(&mut new, "MESSAGE", GRACE).await.unwrap();
    assert!(again.is_none(), "MESSAGE delivered twice: {again:?}");
    let late_old = wake::no_request(&mut old, "MESSAGE", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        late_old.is_none(),
        "MESSAGE on the old socket: {late_old:?}"
    );
    let stats = wake::wake_stats(&env.api).await.unwrap();
    for (k, v) in [("held", 1), ("pushed", 1), ("woken", 1), ("delivered", 1)] {
        assert_eq!(stats[k].as_u64(), Some(v), "{k}: {stats}");
    }
}

/// The app moved (a new socket and port, same instance) without removing
/// its old Contact. Kamailio replaces the old Contact (same
/// `+sip.instance`); an upstream that kept both would fork the call to both
/// Contacts, which carry the same Path token — the gateway then answers the
/// second copy 482 (merged request; `server/tests/wake_flow.rs`). Either
/// way the app rings once, on its new socket only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_moved_rings_once_on_its_new_socket() {
    let env = setup(1200).await;
    let gw = &env.gw;
    let app = UdpApp::new("fcm-udp-mover", true);
    let mut old = app.socket(&env.gw).await;
    app.register(&mut old)
        .await
        .map_err(|e| gw.failure(&e.to_string()).to_string())
        .unwrap();
    let mut new = app.socket(&env.gw).await;
    assert_ne!(new.local, old.local);
    app.register(&mut new)
        .await
        .map_err(|e| gw.failure(&e.to_string()).to_string())
        .unwrap();

    let sipp = sipp_calls_alice(&env).await;
    let invite = wake::expect_invite(&mut new, WAIT)
        .await
        .map_err(|e| gw.failure(&e.to_string()).to_string())
        .unwrap();
    let branches = answer(&mut new, invite).await;
    sipp_done(sipp, &env).await;
    assert_eq!(branches.len(), 1, "the app rang once: {branches:?}");
    assert!(
        drain(&mut old)
            .await
            .iter()
            .all(|m| m.method() != Some("INVITE")),
        "nothing for the old socket"
    );
    assert!(env.fcm.received().is_empty(), "an awake app is not pushed");
}

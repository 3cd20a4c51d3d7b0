//! MESSAGE to a sleeping app through the real gateway and Kamailio: the
//! sender gets 202 at once, the FCM mock a chat push (ntype 1) with the
//! text, and the MESSAGE reaches the app exactly once after it registers
//! again on a new connection (docs/wake.md "MESSAGE").

use sipwake_e2e::wake::{self, App, Caller, Edge, GRACE, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_to_a_sleeping_app_is_pushed_and_delivered_once_it_wakes() {
    let env = wake::start(false, "hold_message_secs = 30").await.unwrap();
    let fail = |e: sipwake_e2e::Error| env.gw.failure(&e.to_string()).to_string();
    let app = App::new("alice", &wake::fcm_mpush("fcm-chat-tok"));
    let mut c = wake::connect(&env.gw, Edge::Ws, "alice").await.unwrap();
    app.register(&mut c).await.unwrap();
    wake::fall_asleep(&env.gw, c).await.unwrap();

    let text = "Are you there? \u{2713} (held for you)";
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
    assert_eq!(pushes[0]["data"]["nfrom"], "bob", "{}", pushes[0]);
    assert_eq!(pushes[0]["token"], "fcm-chat-tok");
    assert_eq!(env.fcm.received().len(), 1, "no other push at all");

    // The app wakes: the 401 round delivers nothing, the MESSAGE comes once.
    let mut woken = wake::connect(&env.gw, Edge::Ws, "alice").await.unwrap();
    let (challenge, early) = app.register_unauthenticated(&mut woken).await.unwrap();
    assert!(early.is_empty(), "{early:?}");
    let quiet = woken.recv_none(GRACE).await.unwrap();
    assert!(
        quiet.is_none(),
        "the challenged REGISTER delivered {quiet:?}"
    );
    let (ok, during) = app
        .register_authenticated(&mut woken, &challenge)
        .await
        .unwrap();
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    let msg = match during.into_iter().find(|m| m.method() == Some("MESSAGE")) {
        Some(m) => m,
        None => woken
            .recv_until("the held MESSAGE", |m| m.method() == Some("MESSAGE"))
            .await
            .map_err(fail)
            .unwrap(),
    };
    assert_eq!(msg.body_text(), text);
    assert_eq!(msg.header("Call-ID"), Some(call_id.as_str()));
    woken
        .send_raw(msg.response(200, "OK", Some("chat-ok"), &[]).as_bytes())
        .await
        .unwrap();

    let again = wake::no_request(&mut woken, "MESSAGE", GRACE)
        .await
        .unwrap();
    assert!(again.is_none(), "MESSAGE delivered twice: {again:?}");
    // The sender had its final answer already: nothing more reaches it.
    let late = sender.client.recv_none(GRACE).await.unwrap();
    assert!(
        late.as_ref()
            .is_none_or(|m| m.status().is_some_and(|s| s == 202)),
        "the sender got more than its 202: {late:?}"
    );
    let stats = wake::wake_stats(&env.api).await.unwrap();
    assert_eq!(stats["delivered"], 1, "{stats}");
    assert_eq!(stats["holding"], 0, "{stats}");
}

//! The response context on its own (RFC 3261 §16.7): forks, CANCEL, 6xx,
//! the success hook, and held branches settled exactly once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::testing::{CALLER, settle, setup};
use super::{Committed, OnSuccess, REASON_ELSEWHERE};
use crate::net::{Destination, FlowId};

const A: FlowId = FlowId(2);
const B: FlowId = FlowId(3);

#[tokio::test(start_paused = true)]
async fn a_fork_relays_the_best_final_once_every_branch_is_done() {
    let s = setup("INVITE", None);
    s.branch(A, "a");
    s.branch(B, "b");
    settle().await;
    s.answer(A, "INVITE", 486).await;
    assert!(s.net.to_caller().is_empty(), "B has not answered yet");
    s.answer(B, "INVITE", 404).await;
    // Both 4xx: the lower code wins (RFC 3261 §16.7 step 6 leaves the
    // choice to us); challenges would have won over both.
    assert_eq!(s.net.to_caller(), vec![404]);
}

#[tokio::test(start_paused = true)]
async fn a_2xx_is_relayed_at_once_and_the_ringing_branch_is_cancelled() {
    let s = setup("INVITE", None);
    s.branch(A, "a");
    s.branch(B, "b");
    settle().await;
    s.answer(A, "INVITE", 180).await;
    assert_eq!(s.net.to_caller(), vec![180]);
    s.answer(B, "INVITE", 200).await;
    assert_eq!(s.net.to_caller(), vec![180, 200]);
    let cancels = s.net.requests(A, "CANCEL");
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].header("Reason"), Some(REASON_ELSEWHERE));
    assert!(
        s.net.requests(B, "CANCEL").is_empty(),
        "the winner is not cancelled"
    );
    // The cancelled branch's 487 is not relayed: a final went out.
    s.answer(A, "INVITE", 487).await;
    assert_eq!(s.net.to_caller(), vec![180, 200]);
}

#[tokio::test(start_paused = true)]
async fn a_6xx_cancels_the_others_and_wins() {
    let s = setup("INVITE", None);
    s.branch(A, "a");
    s.branch(B, "b");
    settle().await;
    s.answer(A, "INVITE", 180).await;
    s.answer(B, "INVITE", 603).await;
    assert_eq!(s.net.requests(A, "CANCEL").len(), 1, "6xx ends the search");
    assert_eq!(s.net.to_caller(), vec![180], "A has not answered yet");
    s.answer(A, "INVITE", 487).await;
    assert_eq!(s.net.to_caller(), vec![180, 603]);
}

#[tokio::test(start_paused = true)]
async fn cancel_reaches_ringing_branches_now_and_silent_ones_after_their_provisional() {
    let s = setup("INVITE", None);
    s.branch(A, "a");
    s.branch(B, "b");
    settle().await;
    s.answer(A, "INVITE", 180).await;
    s.ctx.cancel_all(Some("SIP;cause=16".into()));
    settle().await;
    let a = s.net.requests(A, "CANCEL");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].header("Reason"), Some("SIP;cause=16"));
    // RFC 3261 §9.1: no CANCEL before a provisional.
    assert!(s.net.requests(B, "CANCEL").is_empty());
    s.answer(B, "INVITE", 100).await;
    assert_eq!(s.net.requests(B, "CANCEL").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_held_branch_keeps_the_final_until_it_is_dropped() {
    let s = setup("INVITE", None);
    let held = s.ctx.hold();
    s.branch(A, "a");
    settle().await;
    s.answer(A, "INVITE", 486).await;
    assert!(
        s.net.to_caller().is_empty(),
        "the held branch is still open"
    );
    held.drop_with(480, "Temporarily Unavailable").await;
    assert_eq!(s.net.to_caller(), vec![480]);
}

#[tokio::test(start_paused = true)]
async fn a_delivered_held_branch_becomes_a_branch_whose_2xx_wins() {
    let s = setup("INVITE", None);
    let held = s.ctx.hold();
    s.branch(A, "a");
    settle().await;
    s.answer(A, "INVITE", 486).await;
    let req = super::testing::branch_request(&super::testing::request("INVITE"), "h");
    assert!(held.deliver(req, Destination::Flow(B), true, false, None));
    settle().await;
    assert!(s.net.to_caller().is_empty());
    s.answer(B, "INVITE", 200).await;
    assert_eq!(s.net.to_caller(), vec![200]);
}

#[tokio::test(start_paused = true)]
async fn a_held_branch_delivered_after_the_final_sends_nothing() {
    let s = setup("INVITE", None);
    let held = s.ctx.hold();
    s.branch(A, "a");
    settle().await;
    s.answer(A, "INVITE", 200).await;
    assert_eq!(s.net.to_caller(), vec![200]);
    let req = super::testing::branch_request(&super::testing::request("INVITE"), "h");
    assert!(!held.deliver(req, Destination::Flow(B), true, false, None));
    settle().await;
    assert!(s.net.requests(B, "INVITE").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_released_held_branch_lets_the_running_branch_answer() {
    let s = setup("MESSAGE", None);
    let held = s.ctx.hold();
    s.branch(A, "a");
    settle().await;
    s.answer(A, "MESSAGE", 404).await;
    assert!(s.net.to_caller().is_empty());
    held.release().await;
    assert_eq!(s.net.to_caller(), vec![404]);
}

#[tokio::test(start_paused = true)]
async fn an_unsettled_held_branch_still_ends_the_request() {
    let s = setup("INVITE", None);
    let held = s.ctx.hold();
    drop(held);
    settle().await;
    assert_eq!(s.net.to_caller(), vec![500]);
}

#[tokio::test(start_paused = true)]
async fn the_success_hook_runs_once_before_the_2xx_and_acts_after_it() {
    let relayed_first = Arc::new(AtomicBool::new(false));
    let net_seen: Arc<Mutex<Option<Arc<super::testing::Recorder>>>> = Arc::default();
    let (flag, seen) = (relayed_first.clone(), net_seen.clone());
    let hook: OnSuccess = Box::new(move |resp| {
        assert_eq!(resp.status(), Some(200));
        Box::pin(async move {
            Committed {
                headers: vec![("Feature-Caps", "*;+sip.pns=\"fcm\"".into())],
                after_relay: Some(Box::new(move || {
                    let net = seen.lock().unwrap().clone().unwrap();
                    flag.store(net.to_caller() == vec![200], Ordering::SeqCst);
                })),
                refuse: None,
            }
        })
    });
    let s = setup("REGISTER", Some(hook));
    *net_seen.lock().unwrap() = Some(s.net.clone());
    s.branch(A, "a");
    settle().await;
    s.answer(A, "REGISTER", 200).await;
    let ok: Vec<_> = s
        .net
        .all()
        .into_iter()
        .filter(|(d, _)| *d == Destination::Flow(CALLER))
        .collect();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].1.header("Feature-Caps"), Some("*;+sip.pns=\"fcm\""));
    assert!(
        relayed_first.load(Ordering::SeqCst),
        "after_relay ran after the 200 was sent"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refusing_success_hook_answers_instead_of_the_2xx() {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let hook: OnSuccess = Box::new(move |_| {
        Box::pin(async move {
            Committed {
                headers: vec![("Feature-Caps", "x".into())],
                after_relay: Some(Box::new(move || flag.store(true, Ordering::SeqCst))),
                refuse: Some((
                    503,
                    "Service Unavailable",
                    vec![("Retry-After", "5".into())],
                )),
            }
        })
    });
    let s = setup("REGISTER", Some(hook));
    s.branch(A, "a");
    settle().await;
    s.answer(A, "REGISTER", 200).await;
    assert_eq!(s.net.to_caller(), vec![503], "the 200 is never relayed");
    let sent: Vec<_> = s
        .net
        .all()
        .into_iter()
        .filter(|(d, _)| *d == Destination::Flow(CALLER))
        .collect();
    assert_eq!(sent[0].1.header("Retry-After"), Some("5"));
    assert_eq!(sent[0].1.header("Feature-Caps"), None);
    assert!(
        !ran.load(Ordering::SeqCst),
        "nothing announced for a refused 2xx"
    );
}

//! RFC 3261 §17 timers, checked in virtual time: retransmission counts
//! (A, E, G), timeouts (B, F → 408), and retransmission absorption.

mod proxy_support;

use std::time::Duration;

use proxy_support::*;
use sipwake::net::{Destination, FlowId, TransportKind};
use tokio::time::Instant;

async fn setup(h: &mut Harness, callee_kind: TransportKind) -> (FlowId, FlowId) {
    let a = h.flow(TransportKind::Udp, "127.0.0.2:5070");
    let b = h.flow(callee_kind, "127.0.0.3:5062");
    let reg = request(
        "REGISTER",
        "sip:127.0.0.1",
        "SIP/2.0/UDP 127.0.0.3:5062;branch=z9hG4bKrb",
        "<sip:bob@127.0.0.1>;tag=r",
        "<sip:bob@127.0.0.1>",
        "rb",
        1,
        "Contact: <sip:bob@127.0.0.3:5062>\n",
    );
    h.inject(b, &reg).await;
    assert_eq!(h.next().await.status(), Some(200));
    (a, b)
}

fn secs_since(t0: Instant, t: Instant) -> f64 {
    (t - t0).as_secs_f64()
}

/// Sends until `until`, returning (seconds since t0, message) pairs.
async fn timeline(h: &mut Harness, t0: Instant, until: Duration) -> Vec<(f64, Sent)> {
    let mut out = Vec::new();
    let end = t0 + until;
    while let Ok(s) = tokio::time::timeout_at(end, h.next()).await {
        out.push((secs_since(t0, Instant::now()), s));
    }
    out
}

#[tokio::test(start_paused = true)]
async fn invite_over_udp_timer_a_b_then_408_with_timer_g() {
    let mut h = Harness::standalone();
    let (a, b) = setup(&mut h, TransportKind::Udp).await;
    let t0 = Instant::now();
    h.inject(
        a,
        &request(
            "INVITE",
            "sip:bob@127.0.0.1",
            "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKta",
            "<sip:alice@127.0.0.1>;tag=a",
            "<sip:bob@127.0.0.1>",
            "ta",
            1,
            "",
        ),
    )
    .await;
    let got = timeline(&mut h, t0, Duration::from_secs(70)).await;
    let invites: Vec<f64> = got
        .iter()
        .filter(|(_, s)| s.method() == Some("INVITE") && s.dest == Destination::Flow(b))
        .map(|(t, _)| *t)
        .collect();
    // Timer A doubles from T1: 0, .5, 1.5, 3.5, 7.5, 15.5, 31.5; timer B at 32 s.
    assert_eq!(invites, vec![0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]);
    let finals: Vec<f64> = got
        .iter()
        .filter(|(_, s)| s.status() == Some(408) && s.dest == Destination::Flow(a))
        .map(|(t, _)| *t)
        .collect();
    // 408 at 32 s, then timer G (T1 doubling, capped at T2) until timer H.
    let expect: Vec<f64> = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
        .iter()
        .map(|d| 32.0 + d)
        .collect();
    assert_eq!(finals, expect);
    assert_eq!(
        got.iter().filter(|(_, s)| s.status() == Some(100)).count(),
        1
    );
    assert_eq!(
        got.len(),
        invites.len() + finals.len() + 1,
        "nothing else sent"
    );
}

#[tokio::test(start_paused = true)]
async fn non_invite_over_udp_timer_e_f_then_408_once() {
    let mut h = Harness::standalone();
    let (a, b) = setup(&mut h, TransportKind::Udp).await;
    let t0 = Instant::now();
    h.inject(
        a,
        &request(
            "MESSAGE",
            "sip:bob@127.0.0.1",
            "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKte",
            "<sip:alice@127.0.0.1>;tag=a",
            "<sip:bob@127.0.0.1>",
            "te",
            1,
            "",
        ),
    )
    .await;
    let got = timeline(&mut h, t0, Duration::from_secs(100)).await;
    let sends: Vec<f64> = got
        .iter()
        .filter(|(_, s)| s.dest == Destination::Flow(b))
        .map(|(t, _)| *t)
        .collect();
    // Timer E doubles from T1 up to T2 = 4 s; timer F at 64·T1 = 32 s.
    assert_eq!(
        sends,
        vec![0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    );
    let finals: Vec<(f64, u16)> = got
        .iter()
        .filter(|(_, s)| s.dest == Destination::Flow(a))
        .map(|(t, s)| (*t, s.status().unwrap()))
        .collect();
    assert_eq!(
        finals,
        vec![(32.0, 408)],
        "non-INVITE finals are not retransmitted"
    );
}

#[tokio::test(start_paused = true)]
async fn reliable_transport_has_no_retransmissions() {
    let mut h = Harness::standalone();
    let (a, b) = setup(&mut h, TransportKind::Tcp).await;
    let t0 = Instant::now();
    h.inject(
        a,
        &request(
            "MESSAGE",
            "sip:bob@127.0.0.1",
            "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKtr",
            "<sip:alice@127.0.0.1>;tag=a",
            "<sip:bob@127.0.0.1>",
            "tr",
            1,
            "",
        ),
    )
    .await;
    let got = timeline(&mut h, t0, Duration::from_secs(40)).await;
    let summary: Vec<(f64, bool)> = got
        .iter()
        .map(|(t, s)| (*t, s.dest == Destination::Flow(b)))
        .collect();
    assert_eq!(summary, vec![(0.0, true), (32.0, false)]);
    assert_eq!(got[1].1.status(), Some(408));
}

#[tokio::test(start_paused = true)]
async fn provisional_stops_timer_a_and_request_retransmissions_are_absorbed() {
    let mut h = Harness::standalone();
    let (a, b) = setup(&mut h, TransportKind::Udp).await;
    let inv = request(
        "INVITE",
        "sip:bob@127.0.0.1",
        "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKtp",
        "<sip:alice@127.0.0.1>;tag=a",
        "<sip:bob@127.0.0.1>",
        "tp",
        1,
        "",
    );
    h.inject(a, &inv).await;
    assert_eq!(h.next().await.status(), Some(100));
    let fwd = h.next().await;
    h.inject(b, &reply(&fwd.msg, 180, "Ringing", Some("b"), ""))
        .await;
    assert_eq!(h.next().await.status(), Some(180));
    // The caller retransmits its INVITE: it gets the last response again,
    // and nothing is forwarded a second time.
    h.inject(a, &inv).await;
    let again = h.next().await;
    assert_eq!(
        (again.status(), again.dest),
        (Some(180), Destination::Flow(a))
    );
    // No more INVITE retransmissions after the provisional (until timer C).
    h.quiet(Duration::from_secs(120)).await;
    h.inject(b, &reply(&fwd.msg, 200, "OK", Some("b"), ""))
        .await;
    assert_eq!(h.next().await.status(), Some(200));
    // A retransmitted 2xx is still relayed (RFC 6026 Accepted state).
    h.inject(b, &reply(&fwd.msg, 200, "OK", Some("b"), ""))
        .await;
    assert_eq!(h.next().await.status(), Some(200));
}

#[tokio::test(start_paused = true)]
async fn closed_flow_gives_480() {
    let mut h = Harness::standalone();
    let (a, b) = setup(&mut h, TransportKind::Tcp).await;
    // bob's TCP connection is gone between lookup and send is modelled by
    // closing it; lookup then finds no live flow → 480 (push seam).
    h.net.close(b);
    h.inject(
        a,
        &request(
            "MESSAGE",
            "sip:bob@127.0.0.1",
            "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKtu",
            "<sip:alice@127.0.0.1>;tag=a",
            "<sip:bob@127.0.0.1>",
            "tu",
            1,
            "",
        ),
    )
    .await;
    assert_eq!(h.next().await.status(), Some(480));
}

#[tokio::test(start_paused = true)]
async fn unreachable_upstream_gives_503() {
    let mut h = Harness::upstream("sip:127.0.0.9:5070;transport=tcp", false, &[]);
    h.net
        .unreachable
        .lock()
        .unwrap()
        .insert(addr("127.0.0.9:5070"));
    let a = h.flow(TransportKind::Tcp, "127.0.0.2:40001");
    let reg = request(
        "REGISTER",
        "sip:example.com",
        "SIP/2.0/TCP 127.0.0.2:40001;branch=z9hG4bKun",
        "<sip:a@example.com>;tag=r",
        "<sip:a@example.com>",
        "un",
        1,
        "Contact: <sip:a@127.0.0.2:40001;transport=tcp>\n",
    );
    h.inject(a, &reg).await;
    let r = h.next().await;
    assert_eq!((r.status(), r.dest), (Some(503), Destination::Flow(a)));
}

#[tokio::test(start_paused = true)]
async fn timer_c_cancels_a_branch_that_rings_forever() {
    let mut h = Harness::standalone();
    let (a, b) = setup(&mut h, TransportKind::Tcp).await;
    let inv = request(
        "INVITE",
        "sip:bob@127.0.0.1",
        "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKtc",
        "<sip:alice@127.0.0.1>;tag=a",
        "<sip:bob@127.0.0.1>",
        "tc",
        1,
        "",
    );
    h.inject(a, &inv).await;
    assert_eq!(h.next().await.status(), Some(100));
    let fwd = h.next().await;
    h.inject(b, &reply(&fwd.msg, 180, "Ringing", Some("b"), ""))
        .await;
    assert_eq!(h.next().await.status(), Some(180));
    let t0 = Instant::now();
    let got = timeline(&mut h, t0, Duration::from_secs(200)).await;
    let cancel = got
        .iter()
        .find(|(_, s)| s.method() == Some("CANCEL"))
        .expect("CANCEL sent");
    assert_eq!(
        (cancel.0, cancel.1.dest.clone()),
        (181.0, Destination::Flow(b))
    );
    let fin = got
        .iter()
        .find(|(_, s)| s.status() == Some(408))
        .expect("408 relayed");
    assert_eq!((fin.0, fin.1.dest.clone()), (181.0, Destination::Flow(a)));
}

#[tokio::test(start_paused = true)]
async fn a_503_from_downstream_is_relayed_as_500() {
    let mut h = Harness::standalone();
    let (a, b) = setup(&mut h, TransportKind::Tcp).await;
    h.inject(
        a,
        &request(
            "MESSAGE",
            "sip:bob@127.0.0.1",
            "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK53",
            "<sip:alice@127.0.0.1>;tag=a",
            "<sip:bob@127.0.0.1>",
            "t53",
            1,
            "",
        ),
    )
    .await;
    let fwd = h.next().await;
    assert_eq!(fwd.dest, Destination::Flow(b));
    h.inject(
        b,
        &reply(&fwd.msg, 503, "Service Unavailable", Some("b"), ""),
    )
    .await;
    let r = h.next().await;
    assert_eq!((r.status(), r.dest), (Some(500), Destination::Flow(a)));
    assert_eq!(r.msg.count("Via"), 1);
    assert_eq!(r.msg.top_via().unwrap().branch(), Some("z9hG4bK53"));
}

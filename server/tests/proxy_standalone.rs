//! Standalone mode: the gateway is the registrar and routes between its
//! own clients (in-memory network, virtual time).

mod proxy_support;

use std::time::Duration;

use proxy_support::*;
use sipwake::config::Config;
use sipwake::net::{Destination, FlowId, TransportKind};
use sipwake::registrar::RegistrarEvent;
use sipwake_sip::digest::{Challenge, answer, ha1};

const ALICE: &str = "127.0.0.2:5070";
const BOB: &str = "127.0.0.3:40000";

fn register(user: &str, via: &str, contact: &str, call_id: &str, cseq: u32, extra: &str) -> String {
    request(
        "REGISTER",
        "sip:127.0.0.1",
        via,
        &format!("<sip:{user}@127.0.0.1>;tag=r{cseq}"),
        &format!("<sip:{user}@127.0.0.1>"),
        call_id,
        cseq,
        &format!("Contact: <{contact}>\nExpires: 600\n{extra}"),
    )
}

/// alice on UDP, bob on WebSocket with an unreachable `.invalid` Contact.
async fn two_clients(h: &mut Harness) -> (FlowId, FlowId) {
    let a = h.flow(TransportKind::Udp, ALICE);
    let b = h.flow(TransportKind::Ws, BOB);
    h.inject(
        a,
        &register(
            "alice",
            "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKra1;rport",
            "sip:alice@127.0.0.2:5070",
            "reg-a",
            1,
            "",
        ),
    )
    .await;
    let r = h.next().await;
    assert_eq!(r.status(), Some(200), "{}", r.text());
    assert_eq!(r.dest, Destination::Flow(a));
    assert!(
        r.msg
            .header("Contact")
            .unwrap()
            .contains("<sip:alice@127.0.0.2:5070>;expires=600"),
        "{}",
        r.text()
    );
    h.inject(
        b,
        &register(
            "bob",
            "SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKrb1",
            "sip:bob@df7jal23ls0d.invalid;transport=ws",
            "reg-b",
            1,
            "",
        ),
    )
    .await;
    assert_eq!(h.next().await.status(), Some(200));
    (a, b)
}

fn invite(via_branch: &str, call_id: &str) -> String {
    request(
        "INVITE",
        "sip:bob@127.0.0.1",
        &format!("SIP/2.0/UDP 127.0.0.2:5070;branch={via_branch};rport"),
        "<sip:alice@127.0.0.1>;tag=al1",
        "<sip:bob@127.0.0.1>",
        call_id,
        1,
        "Contact: <sip:alice@127.0.0.2:5070>\n",
    )
}

#[tokio::test(start_paused = true)]
async fn call_between_two_clients_with_record_route_and_in_dialog_bye() {
    let mut h = Harness::standalone();
    let mut events = h.proxy.subscribe();
    let (a, b) = two_clients(&mut h).await;
    assert!(
        matches!(events.try_recv(), Ok(RegistrarEvent::Registered { ref aor, flow, .. }) if aor == "alice" && flow == a)
    );

    h.inject(a, &invite("z9hG4bKinv1", "call-1")).await;
    let trying = h.next().await;
    assert_eq!(
        (trying.status(), trying.dest.clone()),
        (Some(100), Destination::Flow(a))
    );
    let inv = h.next().await;
    assert_eq!(inv.dest, Destination::Flow(b));
    assert_eq!(
        inv.msg.request_uri(),
        Some("sip:bob@df7jal23ls0d.invalid;transport=ws")
    );
    assert_eq!(inv.msg.max_forwards().unwrap(), Some(69));
    let top = inv.msg.top_via().unwrap();
    assert_eq!(
        (top.transport, top.host, top.port),
        ("WS", "127.0.0.1", Some(8443))
    );
    assert!(top.branch().unwrap().starts_with("z9hG4bKsw"));
    // Double Record-Route (RFC 5658): WS side on top, UDP side below.
    let rr = record_routes(&inv.msg);
    assert_eq!(rr.len(), 2, "{rr:?}");
    assert!(
        rr[0].contains("@127.0.0.1:8443;transport=ws;lr;ftag=al1>"),
        "{rr:?}"
    );
    assert!(rr[1].contains("@127.0.0.1:5060;lr;ftag=al1>"), "{rr:?}");

    // Provisional and final answers travel back without our Via.
    h.inject(b, &reply(&inv.msg, 180, "Ringing", Some("bt1"), ""))
        .await;
    let ringing = h.next().await;
    assert_eq!(
        (ringing.status(), ringing.dest.clone()),
        (Some(180), Destination::Flow(a))
    );
    assert_eq!(ringing.msg.count("Via"), 1);
    h.inject(
        b,
        &reply(
            &inv.msg,
            200,
            "OK",
            Some("bt1"),
            "Contact: <sip:bob@df7jal23ls0d.invalid;transport=ws>\n",
        ),
    )
    .await;
    let ok = h.next().await;
    assert_eq!(
        (ok.status(), ok.dest.clone()),
        (Some(200), Destination::Flow(a))
    );
    assert_eq!(record_routes(&ok.msg), rr);

    // ACK for the 2xx: end to end, routed by the Record-Route token to bob's flow.
    let caller_routes = format!("Route: {}, {}\n", rr[1], rr[0]);
    let ack = request(
        "ACK",
        "sip:bob@df7jal23ls0d.invalid;transport=ws",
        "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKack1;rport",
        "<sip:alice@127.0.0.1>;tag=al1",
        "<sip:bob@127.0.0.1>;tag=bt1",
        "call-1",
        1,
        &caller_routes,
    );
    h.inject(a, &ack).await;
    let fwd_ack = h.next().await;
    assert_eq!(
        (fwd_ack.method(), fwd_ack.dest.clone()),
        (Some("ACK"), Destination::Flow(b))
    );
    assert_eq!(
        fwd_ack.msg.count("Route"),
        0,
        "our routes are consumed: {}",
        fwd_ack.text()
    );
    assert_eq!(fwd_ack.msg.count("Via"), 2);

    // BYE from the callee follows its route set back to alice's flow.
    let callee_routes = format!("Route: {}, {}\n", rr[0], rr[1]);
    let bye = request(
        "BYE",
        "sip:alice@127.0.0.2:5070",
        "SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKbye1",
        "<sip:bob@127.0.0.1>;tag=bt1",
        "<sip:alice@127.0.0.1>;tag=al1",
        "call-1",
        2,
        &callee_routes,
    );
    h.inject(b, &bye).await;
    let fwd_bye = h.next().await;
    assert_eq!(
        (fwd_bye.method(), fwd_bye.dest.clone()),
        (Some("BYE"), Destination::Flow(a))
    );
    assert_eq!(fwd_bye.msg.request_uri(), Some("sip:alice@127.0.0.2:5070"));
    assert_eq!(fwd_bye.msg.top_via().unwrap().transport, "UDP");
    h.inject(a, &reply(&fwd_bye.msg, 200, "OK", None, "")).await;
    let bye_ok = h.next().await;
    assert_eq!(
        (bye_ok.status(), bye_ok.dest.clone()),
        (Some(200), Destination::Flow(b))
    );
    assert_eq!(bye_ok.msg.top_via().unwrap().branch(), Some("z9hG4bKbye1"));
    let s = h.proxy.stats().snapshot();
    assert!(
        s.requests_in >= 5 && s.requests_out >= 3 && s.responses_by_class[1] >= 3,
        "{s:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn cancel_is_matched_and_forwarded_and_non_2xx_ack_is_hop_by_hop() {
    let mut h = Harness::standalone();
    let (a, b) = two_clients(&mut h).await;
    h.inject(a, &invite("z9hG4bKinv2", "call-2")).await;
    assert_eq!(h.next().await.status(), Some(100));
    let inv = h.next().await;
    h.inject(b, &reply(&inv.msg, 180, "Ringing", Some("bt2"), ""))
        .await;
    assert_eq!(h.next().await.status(), Some(180));

    let cancel = request(
        "CANCEL",
        "sip:bob@127.0.0.1",
        "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKinv2;rport",
        "<sip:alice@127.0.0.1>;tag=al1",
        "<sip:bob@127.0.0.1>",
        "call-2",
        1,
        "",
    );
    h.inject(a, &cancel).await;
    let cancel_ok = h.next().await;
    assert_eq!(
        (cancel_ok.status(), cancel_ok.dest.clone()),
        (Some(200), Destination::Flow(a))
    );
    assert_eq!(cancel_ok.msg.cseq().unwrap().method, "CANCEL");
    let fwd_cancel = h.next().await;
    assert_eq!(
        (fwd_cancel.method(), fwd_cancel.dest.clone()),
        (Some("CANCEL"), Destination::Flow(b))
    );
    assert_eq!(
        fwd_cancel.msg.top_via().unwrap().branch(),
        inv.msg.top_via().unwrap().branch(),
        "CANCEL uses the INVITE's branch"
    );
    assert_eq!(fwd_cancel.msg.request_uri(), inv.msg.request_uri());

    h.inject(b, &reply(&fwd_cancel.msg, 200, "OK", Some("bt2"), ""))
        .await;
    h.inject(
        b,
        &reply(&inv.msg, 487, "Request Terminated", Some("bt2"), ""),
    )
    .await;
    let mut got = h.drain(Duration::from_millis(10)).await;
    got.sort_by_key(|s| s.method().is_none());
    assert_eq!(got.len(), 2, "{got:?}");
    // Hop-by-hop ACK to bob for the 487 …
    assert_eq!(
        (got[0].method(), got[0].dest.clone()),
        (Some("ACK"), Destination::Flow(b))
    );
    assert_eq!(
        got[0].msg.top_via().unwrap().branch(),
        inv.msg.top_via().unwrap().branch()
    );
    assert!(got[0].msg.header("To").unwrap().contains("tag=bt2"));
    // … and the 487 relayed to alice.
    assert_eq!(
        (got[1].status(), got[1].dest.clone()),
        (Some(487), Destination::Flow(a))
    );

    // alice's ACK for the 487 is absorbed by our server transaction.
    let ack = request(
        "ACK",
        "sip:bob@127.0.0.1",
        "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKinv2;rport",
        "<sip:alice@127.0.0.1>;tag=al1",
        "<sip:bob@127.0.0.1>;tag=bt2",
        "call-2",
        1,
        "",
    );
    h.inject(a, &ack).await;
    // Nothing more: no ACK forwarded, no 487 retransmission (timer G stopped).
    h.quiet(Duration::from_secs(40)).await;
}

#[tokio::test(start_paused = true)]
async fn cancel_without_invite_gets_481() {
    let mut h = Harness::standalone();
    let a = h.flow(TransportKind::Udp, ALICE);
    h.inject(
        a,
        &request(
            "CANCEL",
            "sip:bob@127.0.0.1",
            "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKnone",
            "<sip:alice@127.0.0.1>;tag=x",
            "<sip:bob@127.0.0.1>",
            "c",
            1,
            "",
        ),
    )
    .await;
    assert_eq!(h.next().await.status(), Some(481));
}

#[tokio::test(start_paused = true)]
async fn unknown_and_offline_users() {
    let mut h = Harness::standalone();
    let (a, b) = two_clients(&mut h).await;
    let msg = |to: &str, br: &str| {
        request(
            "MESSAGE",
            &format!("sip:{to}@127.0.0.1"),
            &format!("SIP/2.0/UDP 127.0.0.2:5070;branch={br}"),
            "<sip:alice@127.0.0.1>;tag=m",
            &format!("<sip:{to}@127.0.0.1>"),
            br,
            1,
            "",
        )
    };
    h.inject(a, &msg("carol", "z9hG4bKm1")).await;
    assert_eq!(h.next().await.status(), Some(404));
    // bob's WebSocket is gone: he is registered but unreachable.
    h.net.close(b);
    h.inject(a, &msg("bob", "z9hG4bKm2")).await;
    let r = h.next().await;
    assert_eq!(r.status(), Some(480), "{}", r.text());
}

#[tokio::test(start_paused = true)]
async fn max_forwards_zero_gets_483() {
    let mut h = Harness::standalone();
    let (a, _b) = two_clients(&mut h).await;
    let m = request(
        "MESSAGE",
        "sip:bob@127.0.0.1",
        "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKmf0",
        "<sip:alice@127.0.0.1>;tag=m",
        "<sip:bob@127.0.0.1>",
        "mf",
        1,
        "",
    )
    .replace("Max-Forwards: 70", "Max-Forwards: 0");
    h.inject(a, &m).await;
    let r = h.next().await;
    assert_eq!((r.status(), r.dest), (Some(483), Destination::Flow(a)));
}

#[tokio::test(start_paused = true)]
async fn a_request_coming_back_unchanged_is_a_loop() {
    let mut h = Harness::standalone();
    let a = h.flow(TransportKind::Udp, ALICE);
    let b = h.flow(TransportKind::Udp, "127.0.0.3:5062");
    h.inject(
        b,
        &register(
            "bob",
            "SIP/2.0/UDP 127.0.0.3:5062;branch=z9hG4bKrb",
            "sip:bob@127.0.0.3:5062",
            "rb",
            1,
            "",
        ),
    )
    .await;
    assert_eq!(h.next().await.status(), Some(200));
    let m = request(
        "MESSAGE",
        "sip:bob@127.0.0.1",
        "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKloop",
        "<sip:alice@127.0.0.1>;tag=m",
        "<sip:bob@127.0.0.1>",
        "loop",
        1,
        "",
    );
    h.inject(a, &m).await;
    let f1 = h.next().await;
    // bob's device bounces it back: the Request-URI changed, so a spiral.
    h.inject(b, &String::from_utf8_lossy(f1.msg.raw())).await;
    let f2 = h.next().await;
    assert_eq!(f2.method(), Some("MESSAGE"));
    // Bounced again unchanged: now it is a loop.
    h.inject(b, &String::from_utf8_lossy(f2.msg.raw())).await;
    let r = h.next().await;
    assert_eq!((r.status(), r.dest), (Some(482), Destination::Flow(b)));
}

/// A wrong-password flood from one address bans it (403, even with the
/// right password) within `[limits] auth_failures`; another address keeps
/// registering.
#[tokio::test(start_paused = true)]
async fn a_password_guessing_source_is_banned_and_only_it() {
    let dir = std::env::temp_dir().join(format!("sipwake-proxy-ban-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let users = dir.join("users");
    std::fs::write(&users, "alice:secret\n").unwrap();
    let mut c = Config::default();
    c.registrar.users_file = users;
    c.limits.auth_failures = 3;
    let mut h = Harness::new(c);
    // One round: REGISTER, 401, an answer with `password`; the final code.
    async fn attempt(h: &mut Harness, flow: FlowId, n: u32, password: &str) -> u16 {
        let via = format!("SIP/2.0/TCP 127.0.0.2:40001;branch=z9hG4bKban{n}");
        let contact = "sip:alice@127.0.0.2:40001;transport=tcp";
        h.inject(flow, &register("alice", &via, contact, "ban", 2 * n, ""))
            .await;
        let ch = h.next().await;
        if ch.status() != Some(401) {
            return ch.status().unwrap_or(0);
        }
        let challenge = Challenge::parse(ch.msg.header("WWW-Authenticate").unwrap()).unwrap();
        let creds = answer(
            &challenge,
            "alice",
            &ha1("alice", "sipwake", password),
            "REGISTER",
            "sip:127.0.0.1",
            "cn",
            1,
        )
        .unwrap();
        let via = format!("SIP/2.0/TCP 127.0.0.2:40001;branch=z9hG4bKbana{n}");
        let auth = format!("Authorization: {}\n", creds.to_header_value());
        h.inject(
            flow,
            &register("alice", &via, contact, "ban", 2 * n + 1, &auth),
        )
        .await;
        h.next().await.status().unwrap_or(0)
    }
    let guesser = h.flow(TransportKind::Tcp, "127.0.0.2:40001");
    assert_eq!(attempt(&mut h, guesser, 1, "guess1").await, 401);
    assert_eq!(attempt(&mut h, guesser, 2, "guess2").await, 401);
    assert_eq!(
        attempt(&mut h, guesser, 3, "guess3").await,
        403,
        "third failure bans"
    );
    assert_eq!(
        attempt(&mut h, guesser, 4, "secret").await,
        403,
        "banned: refused outright"
    );
    let other = h.flow(TransportKind::Tcp, "127.0.0.5:40001");
    assert_eq!(attempt(&mut h, other, 5, "secret").await, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `digest_algorithms = ["SHA-256", "MD5"]`: two challenges, SHA-256
/// first; an RFC 7616 SHA-256 answer registers.
#[tokio::test(start_paused = true)]
async fn sha256_digest_is_offered_first_and_accepted() {
    use sipwake_sip::digest::Algorithm;
    let dir = std::env::temp_dir().join(format!("sipwake-proxy-sha-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let users = dir.join("users");
    std::fs::write(&users, "alice:secret\n").unwrap();
    let mut c = Config::default();
    c.registrar.users_file = users;
    c.registrar.digest_algorithms = vec!["SHA-256".into(), "MD5".into()];
    let mut h = Harness::new(c);
    let a = h.flow(TransportKind::Tcp, "127.0.0.2:40001");
    let contact = "sip:alice@127.0.0.2:40001;transport=tcp";
    let via = |b: &str| format!("SIP/2.0/TCP 127.0.0.2:40001;branch={b}");
    h.inject(
        a,
        &register("alice", &via("z9hG4bKs1"), contact, "sha", 1, ""),
    )
    .await;
    let ch = h.next().await;
    assert_eq!(ch.status(), Some(401));
    let offered: Vec<Challenge> = ch
        .msg
        .headers_named("WWW-Authenticate")
        .map(|h| Challenge::parse(&h.unfolded()).unwrap())
        .collect();
    assert_eq!(
        offered.iter().map(|c| c.algorithm).collect::<Vec<_>>(),
        [Algorithm::Sha256, Algorithm::Md5]
    );
    let creds = answer(
        &offered[0],
        "alice",
        &Algorithm::Sha256.ha1("alice", "sipwake", "secret"),
        "REGISTER",
        "sip:127.0.0.1",
        "cn",
        1,
    )
    .unwrap();
    assert!(creds.to_header_value().contains("algorithm=SHA-256"));
    h.inject(
        a,
        &register(
            "alice",
            &via("z9hG4bKs2"),
            contact,
            "sha",
            2,
            &format!("Authorization: {}\n", creds.to_header_value()),
        ),
    )
    .await;
    let ok = h.next().await;
    assert_eq!(ok.status(), Some(200), "{}", ok.text());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(start_paused = true)]
async fn digest_auth_challenges_then_accepts() {
    let dir = std::env::temp_dir().join(format!("sipwake-proxy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let users = dir.join("users");
    std::fs::write(
        &users,
        "alice:secret\nbob:ha1:".to_owned() + &ha1("bob", "sipwake", "pw") + "\n",
    )
    .unwrap();
    let mut c = Config::default();
    c.registrar.users_file = users;
    let mut h = Harness::new(c);
    let a = h.flow(TransportKind::Tcp, "127.0.0.2:40001");
    let via = "SIP/2.0/TCP 127.0.0.2:40001;branch=z9hG4bKd1";
    h.inject(
        a,
        &register(
            "alice",
            via,
            "sip:alice@127.0.0.2:40001;transport=tcp",
            "dg",
            1,
            "",
        ),
    )
    .await;
    let ch = h.next().await;
    assert_eq!(ch.status(), Some(401));
    let challenge = Challenge::parse(ch.msg.header("WWW-Authenticate").unwrap()).unwrap();
    assert_eq!(challenge.realm, "sipwake");

    // Wrong password: challenged again.
    let bad = answer(
        &challenge,
        "alice",
        &ha1("alice", "sipwake", "nope"),
        "REGISTER",
        "sip:127.0.0.1",
        "cn",
        1,
    )
    .unwrap();
    h.inject(
        a,
        &register(
            "alice",
            "SIP/2.0/TCP 127.0.0.2:40001;branch=z9hG4bKd2",
            "sip:alice@127.0.0.2:40001;transport=tcp",
            "dg",
            2,
            &format!("Authorization: {}\n", bad.to_header_value()),
        ),
    )
    .await;
    assert_eq!(h.next().await.status(), Some(401));
    // Unregistered flows may not send calls while auth is on.
    h.inject(
        a,
        &request(
            "MESSAGE",
            "sip:bob@127.0.0.1",
            "SIP/2.0/TCP 127.0.0.2:40001;branch=z9hG4bKd9",
            "<sip:alice@127.0.0.1>;tag=m",
            "<sip:bob@127.0.0.1>",
            "dm",
            1,
            "",
        ),
    )
    .await;
    assert_eq!(h.next().await.status(), Some(403));

    let good = answer(
        &challenge,
        "alice",
        &ha1("alice", "sipwake", "secret"),
        "REGISTER",
        "sip:127.0.0.1",
        "cn",
        2,
    )
    .unwrap();
    h.inject(
        a,
        &register(
            "alice",
            "SIP/2.0/TCP 127.0.0.2:40001;branch=z9hG4bKd3",
            "sip:alice@127.0.0.2:40001;transport=tcp",
            "dg",
            3,
            &format!("Authorization: {}\n", good.to_header_value()),
        ),
    )
    .await;
    let ok = h.next().await;
    assert_eq!(ok.status(), Some(200), "{}", ok.text());
    // bob is a known user who is not registered: offline, not unknown.
    h.inject(
        a,
        &request(
            "MESSAGE",
            "sip:bob@127.0.0.1",
            "SIP/2.0/TCP 127.0.0.2:40001;branch=z9hG4bKd4",
            "<sip:alice@127.0.0.1>;tag=m",
            "<sip:bob@127.0.0.1>",
            "dm2",
            1,
            "",
        ),
    )
    .await;
    assert_eq!(h.next().await.status(), Some(480));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(start_paused = true)]
async fn register_rules_expiry_and_removal() {
    let mut h = Harness::standalone();
    let a = h.flow(TransportKind::Udp, ALICE);
    let via = |b: &str| format!("SIP/2.0/UDP 127.0.0.2:5070;branch={b}");
    // Too short: 423 with Min-Expires.
    h.inject(
        a,
        &register(
            "alice",
            &via("z9hG4bKe1"),
            "sip:alice@127.0.0.2:5070",
            "ex",
            1,
            "",
        )
        .replace("Expires: 600", "Expires: 10"),
    )
    .await;
    let r = h.next().await;
    assert_eq!(r.status(), Some(423));
    assert_eq!(r.msg.header("Min-Expires"), Some("60"));
    // Too long: clamped to max_expires.
    h.inject(
        a,
        &register(
            "alice",
            &via("z9hG4bKe2"),
            "sip:alice@127.0.0.2:5070",
            "ex",
            2,
            "",
        )
        .replace("Expires: 600", "Expires: 99999"),
    )
    .await;
    assert!(
        h.next()
            .await
            .msg
            .header("Contact")
            .unwrap()
            .ends_with("expires=3600")
    );
    // Replayed CSeq on the same Call-ID: refused.
    h.inject(
        a,
        &register(
            "alice",
            &via("z9hG4bKe3"),
            "sip:alice@127.0.0.2:5070",
            "ex",
            2,
            "",
        ),
    )
    .await;
    assert_eq!(h.next().await.status(), Some(500));
    // Contact: * with Expires: 0 removes everything.
    let star = request(
        "REGISTER",
        "sip:127.0.0.1",
        &via("z9hG4bKe4"),
        "<sip:alice@127.0.0.1>;tag=x",
        "<sip:alice@127.0.0.1>",
        "ex",
        5,
        "Contact: *\nExpires: 0\n",
    );
    h.inject(a, &star).await;
    let r = h.next().await;
    assert_eq!((r.status(), r.msg.count("Contact")), (Some(200), 0));
    h.inject(
        a,
        &request(
            "OPTIONS",
            "sip:alice@127.0.0.1",
            &via("z9hG4bKe5"),
            "<sip:x@127.0.0.1>;tag=x",
            "<sip:alice@127.0.0.1>",
            "o",
            1,
            "",
        ),
    )
    .await;
    assert_eq!(h.next().await.status(), Some(404));
    // OPTIONS to the gateway itself is answered here.
    h.inject(
        a,
        &request(
            "OPTIONS",
            "sip:127.0.0.1",
            &via("z9hG4bKe6"),
            "<sip:x@127.0.0.1>;tag=x",
            "<sip:127.0.0.1>",
            "o2",
            1,
            "",
        ),
    )
    .await;
    let r = h.next().await;
    assert_eq!(r.status(), Some(200));
    assert!(r.msg.header("Allow").unwrap().contains("INVITE"));
}

#[tokio::test(start_paused = true)]
async fn malformed_requests_get_400_and_acks_are_dropped() {
    let mut h = Harness::standalone();
    let a = h.flow(TransportKind::Udp, ALICE);
    let bad_cseq = request(
        "OPTIONS",
        "sip:bob@127.0.0.1",
        "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKx1",
        "<sip:a@h>;tag=1",
        "<sip:b@h>",
        "m1",
        1,
        "",
    )
    .replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    h.inject(a, &bad_cseq).await;
    let r = h.next().await;
    assert_eq!(r.status(), Some(400));
    assert!(r.msg.reason().unwrap().contains("CSeq"), "{}", r.text());
    h.inject(
        a,
        &request(
            "INVITE",
            "sips:b@h",
            "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKx2",
            "<sip:a@h>;tag=1",
            "<sip:b@h>",
            "m2",
            1,
            "",
        )
        .replace("sips:b@h SIP/2.0", "sip:b@h SIP/7.0"),
    )
    .await;
    assert_eq!(h.next().await.status(), Some(505));
    h.inject(
        a,
        &request(
            "ACK",
            "sip:b@h",
            "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKx3",
            "<sip:a@h>;tag=1",
            "<sip:b@h>",
            "m3",
            1,
            "",
        )
        .replace("CSeq: 1 ACK", "CSeq: 1 INVITE"),
    )
    .await;
    h.inject(a, "garbage\r\n\r\n").await;
    h.quiet(Duration::from_secs(1)).await;
    assert!(h.proxy.stats().snapshot().dropped >= 2);
}

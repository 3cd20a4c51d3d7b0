//! Upstream mode: REGISTER through the gateway with Path, calls both ways,
//! digest pass-through, client-driven upstream selection.

mod proxy_support;

use std::time::Duration;

use proxy_support::*;
use sipwake::net::{Destination, FlowId, TransportKind};
use sipwake::registrar::RegistrarEvent;
use sipwake_sip::Message;

const UPSTREAM: &str = "127.0.0.9:5070";
const AUTH: &str = "Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n1\", uri=\"sip:example.com\", response=\"0123456789abcdef0123456789abcdef\"\n";

fn up_dest() -> Destination {
    Destination::Addr {
        kind: TransportKind::Udp,
        addr: addr(UPSTREAM),
    }
}

fn register(branch: &str, cseq: u32, port: u16, extra: &str) -> String {
    request(
        "REGISTER",
        "sip:example.com",
        &format!("SIP/2.0/TCP 127.0.0.2:{port};branch={branch};alias"),
        "<sip:alice@example.com>;tag=ra",
        "<sip:alice@example.com>",
        "reg-alice",
        cseq,
        &format!(
            "Contact: <sip:alice@127.0.0.2:{port};transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000001>\"\nExpires: 3600\n{extra}"
        ),
    )
}

/// REGISTER → 401 → REGISTER with credentials → 200, returning alice's
/// flow, the upstream's flow and the Path value the upstream stored.
async fn registered(h: &mut Harness, port: u16, first_cseq: u32) -> (FlowId, FlowId, String) {
    let a = h.flow(TransportKind::Tcp, &format!("127.0.0.2:{port}"));
    h.inject(
        a,
        &register(&format!("z9hG4bKr{first_cseq}"), first_cseq, port, ""),
    )
    .await;
    let fwd = h.next().await;
    assert_eq!(fwd.dest, up_dest());
    let path = fwd.msg.header("Path").expect("Path added").to_owned();
    assert!(
        path.starts_with("<sip:swr") && path.ends_with("@127.0.0.1:5060;lr>"),
        "{path}"
    );
    assert!(fwd.msg.supports("path"));
    assert_eq!(fwd.msg.top_via().unwrap().transport, "UDP");
    let up = fwd.flow;

    // The challenge is relayed untouched.
    let www = "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n1\", algorithm=MD5\n";
    h.inject(up, &reply(&fwd.msg, 401, "Unauthorized", Some("u1"), www))
        .await;
    let ch = h.next().await;
    assert_eq!(
        (ch.status(), ch.dest.clone()),
        (Some(401), Destination::Flow(a))
    );
    assert_eq!(
        ch.msg.header("WWW-Authenticate"),
        Some("Digest realm=\"example.com\", nonce=\"n1\", algorithm=MD5")
    );
    assert_eq!(ch.msg.count("Via"), 1);
    assert_eq!(
        ch.msg.header("X-Sy.AuthURI"),
        None,
        "R-URI was not rewritten"
    );

    // Credentials pass through untouched too.
    h.inject(
        a,
        &register(
            &format!("z9hG4bKr{}", first_cseq + 1),
            first_cseq + 1,
            port,
            AUTH,
        ),
    )
    .await;
    let fwd2 = h.next().await;
    assert_eq!(
        fwd2.msg.header("Authorization"),
        Some(AUTH.trim_start_matches("Authorization: ").trim_end())
    );
    assert_eq!(
        fwd2.msg.header("Path"),
        Some(path.as_str()),
        "same registration, same token"
    );
    let contact =
        format!("Contact: <sip:alice@127.0.0.2:{port};transport=tcp>;expires=3600\nPath: {path}\n");
    h.inject(up, &reply(&fwd2.msg, 200, "OK", Some("u1"), &contact))
        .await;
    let ok = h.next().await;
    assert_eq!(
        (ok.status(), ok.dest.clone()),
        (Some(200), Destination::Flow(a))
    );
    (a, up, path)
}

fn upstream_invite(path: &str, port: u16, branch: &str, call_id: &str) -> String {
    request(
        "INVITE",
        &format!("sip:alice@127.0.0.2:{port};transport=tcp"),
        &format!("SIP/2.0/UDP 127.0.0.9:5070;branch={branch}"),
        "<sip:bob@example.com>;tag=bb",
        "<sip:alice@example.com>",
        call_id,
        1,
        &format!("Route: {path}\nContact: <sip:bob@127.0.0.9:5070>\n"),
    )
}

#[tokio::test(start_paused = true)]
async fn register_with_path_then_upstream_calls_reach_the_client_flow() {
    let mut h = Harness::upstream("sip:127.0.0.9:5070", false, &[]);
    let mut events = h.proxy.subscribe();
    let (a, up, path) = registered(&mut h, 40001, 1).await;
    assert!(
        matches!(events.try_recv(), Ok(RegistrarEvent::Registered { ref aor, flow, .. }) if aor == "alice@example.com" && flow == a)
    );

    h.inject(up, &upstream_invite(&path, 40001, "z9hG4bKui1", "in-1"))
        .await;
    let trying = h.next().await;
    assert_eq!(
        (trying.status(), trying.dest.clone()),
        (Some(100), Destination::Flow(up))
    );
    let inv = h.next().await;
    assert_eq!(inv.dest, Destination::Flow(a));
    assert_eq!(inv.msg.count("Route"), 0, "our Path route is consumed");
    assert_eq!(
        inv.msg.request_uri(),
        Some("sip:alice@127.0.0.2:40001;transport=tcp")
    );
    let rr = record_routes(&inv.msg);
    assert_eq!(rr.len(), 2, "UDP upstream, TCP client: double Record-Route");
    assert!(
        rr[0].contains(";transport=tcp;lr;ftag=bb>") && !rr[1].contains("transport="),
        "{rr:?}"
    );

    h.inject(
        a,
        &reply(
            &inv.msg,
            200,
            "OK",
            Some("at"),
            "Contact: <sip:alice@127.0.0.2:40001;transport=tcp>\n",
        ),
    )
    .await;
    let ok = h.next().await;
    assert_eq!(
        (ok.status(), ok.dest.clone()),
        (Some(200), Destination::Flow(up))
    );

    // The client hangs up: its route set is the Record-Route in order.
    let bye = request(
        "BYE",
        "sip:bob@127.0.0.9:5070",
        "SIP/2.0/TCP 127.0.0.2:40001;branch=z9hG4bKab1",
        "<sip:alice@example.com>;tag=at",
        "<sip:bob@example.com>;tag=bb",
        "in-1",
        2,
        &format!("Route: {}, {}\n", rr[0], rr[1]),
    );
    h.inject(a, &bye).await;
    let fwd = h.next().await;
    assert_eq!(
        (fwd.method(), fwd.dest.clone()),
        (Some("BYE"), Destination::Flow(up))
    );
    assert_eq!(fwd.msg.top_via().unwrap().transport, "UDP");
}

#[tokio::test(start_paused = true)]
async fn a_device_re_registering_on_a_new_connection_keeps_its_path() {
    let mut h = Harness::upstream("sip:127.0.0.9:5070", false, &[]);
    let (old, _up, path1) = registered(&mut h, 40001, 1).await;
    h.net.close(old);
    // Same device (same +sip.instance), new TCP connection and port.
    let (new, up, path2) = registered(&mut h, 40002, 3).await;
    assert_eq!(path1, path2);
    // The upstream still routes with the first Path; it reaches the new flow.
    h.inject(up, &upstream_invite(&path1, 40001, "z9hG4bKui2", "in-2"))
        .await;
    assert_eq!(h.next().await.status(), Some(100));
    let inv = h.next().await;
    assert_eq!(inv.dest, Destination::Flow(new));
}

/// The upstream CANCELs a forked branch because another device answered:
/// the CANCEL we send to the client carries the upstream's RFC 3326
/// `Reason` (found by the Kamailio e2e fork test).
#[tokio::test(start_paused = true)]
async fn upstream_cancel_reason_reaches_the_client() {
    let mut h = Harness::upstream("sip:127.0.0.9:5070", false, &[]);
    let (a, up, path) = registered(&mut h, 40001, 1).await;
    h.inject(up, &upstream_invite(&path, 40001, "z9hG4bKuc1", "in-c"))
        .await;
    assert_eq!(h.next().await.status(), Some(100));
    let inv = h.next().await;
    assert_eq!(inv.dest, Destination::Flow(a));
    h.inject(a, &reply(&inv.msg, 180, "Ringing", Some("at"), ""))
        .await;
    assert_eq!(h.next().await.status(), Some(180));

    let reason = "SIP;cause=200;text=\"Call completed elsewhere\"";
    let cancel = request(
        "CANCEL",
        "sip:alice@127.0.0.2:40001;transport=tcp",
        "SIP/2.0/UDP 127.0.0.9:5070;branch=z9hG4bKuc1",
        "<sip:bob@example.com>;tag=bb",
        "<sip:alice@example.com>",
        "in-c",
        1,
        &format!("Route: {path}\nReason: {reason}\n"),
    );
    h.inject(up, &cancel).await;
    let out = h.drain(Duration::from_secs(1)).await;
    let ok = out
        .iter()
        .find(|m| m.status() == Some(200))
        .expect("200 for the CANCEL");
    assert_eq!(ok.dest, Destination::Flow(up));
    let fwd = out
        .iter()
        .find(|m| m.method() == Some("CANCEL"))
        .unwrap_or_else(|| panic!("no CANCEL to the client: {out:?}"));
    assert_eq!(fwd.dest, Destination::Flow(a));
    assert_eq!(fwd.msg.header("Reason"), Some(reason));
}

#[tokio::test(start_paused = true)]
async fn client_calls_go_upstream_with_record_route_and_come_back() {
    let mut h = Harness::upstream("sip:127.0.0.9:5070", false, &[]);
    let (a, up, _path) = registered(&mut h, 40001, 1).await;
    let inv = request(
        "INVITE",
        "sip:bob@example.com",
        "SIP/2.0/TCP 127.0.0.2:40001;branch=z9hG4bKci1",
        "<sip:alice@example.com>;tag=ac",
        "<sip:bob@example.com>",
        "out-1",
        1,
        "Contact: <sip:alice@127.0.0.2:40001;transport=tcp>\nX-Sy.Uppersrv: ignored.example\n",
    );
    h.inject(a, &inv).await;
    assert_eq!(h.next().await.status(), Some(100));
    let fwd = h.next().await;
    assert_eq!((fwd.dest.clone(), fwd.flow), (up_dest(), up));
    assert_eq!(fwd.msg.request_uri(), Some("sip:bob@example.com"));
    assert_eq!(
        fwd.msg.header("X-Sy.Uppersrv"),
        None,
        "gateway-only headers are consumed"
    );
    let rr = record_routes(&fwd.msg);
    assert_eq!(rr.len(), 2);

    h.inject(up, &reply(&fwd.msg, 180, "Ringing", Some("bt"), ""))
        .await;
    assert_eq!(h.next().await.status(), Some(180));
    h.inject(
        up,
        &reply(
            &fwd.msg,
            200,
            "OK",
            Some("bt"),
            "Contact: <sip:bob@127.0.0.9:5070>\n",
        ),
    )
    .await;
    assert_eq!(h.next().await.status(), Some(200));

    // The callee (upstream side) hangs up along the Record-Route.
    let bye = request(
        "BYE",
        "sip:alice@127.0.0.2:40001;transport=tcp",
        "SIP/2.0/UDP 127.0.0.9:5070;branch=z9hG4bKub1",
        "<sip:bob@example.com>;tag=bt",
        "<sip:alice@example.com>;tag=ac",
        "out-1",
        7,
        &format!("Route: {}, {}\n", rr[0], rr[1]),
    );
    h.inject(up, &bye).await;
    let b = h.next().await;
    assert_eq!(
        (b.method(), b.dest.clone()),
        (Some("BYE"), Destination::Flow(a))
    );
    assert_eq!(b.msg.top_via().unwrap().transport, "TCP");
}

#[tokio::test(start_paused = true)]
async fn client_selected_upstream_must_be_on_the_allow_list() {
    let mut h = Harness::upstream("sip:127.0.0.9:5070", true, &["127.0.0.7:5080"]);
    let a = h.flow(TransportKind::Tcp, "127.0.0.2:40001");
    h.inject(
        a,
        &register("z9hG4bKs1", 1, 40001, "X-Sy.Uppersrv: evil.example.org\n"),
    )
    .await;
    let r = h.next().await;
    assert_eq!((r.status(), r.dest), (Some(403), Destination::Flow(a)));
    h.quiet(Duration::from_secs(1)).await;

    h.inject(
        a,
        &register(
            "z9hG4bKs2",
            2,
            40001,
            "X-Sy.Uppersrv: 127.0.0.7:5080\nX-Sy.Uppersrvd: example.com\n",
        )
        .replace("REGISTER sip:example.com", "REGISTER sip:127.0.0.1"),
    )
    .await;
    let fwd = h.next().await;
    assert_eq!(
        fwd.dest,
        Destination::Addr {
            kind: TransportKind::Udp,
            addr: addr("127.0.0.7:5080")
        }
    );
    assert_eq!(fwd.msg.header("X-Sy.Uppersrv"), None);
    // The R-URI named the gateway: it becomes the client-named domain, and
    // the challenge tells the client which URI to put in its digest.
    assert_eq!(fwd.msg.request_uri(), Some("sip:example.com"));
    h.inject(
        fwd.flow,
        &reply(
            &fwd.msg,
            407,
            "Proxy Authentication Required",
            Some("x"),
            "Proxy-Authenticate: Digest realm=\"e\", nonce=\"n\"\n",
        ),
    )
    .await;
    let ch = h.next().await;
    assert_eq!(ch.status(), Some(407));
    assert_eq!(ch.msg.header("X-Sy.AuthURI"), Some("sip:example.com"));
    assert_eq!(
        ch.msg.header("Proxy-Authenticate"),
        Some("Digest realm=\"e\", nonce=\"n\"")
    );
}

#[tokio::test(start_paused = true)]
async fn upstream_requests_without_a_token_are_not_relayed() {
    let mut h = Harness::upstream("sip:127.0.0.9:5070", false, &[]);
    let (_a, up, _path) = registered(&mut h, 40001, 1).await;
    let m = request(
        "MESSAGE",
        "sip:alice@example.com",
        "SIP/2.0/UDP 127.0.0.9:5070;branch=z9hG4bKnt",
        "<sip:bob@example.com>;tag=b",
        "<sip:alice@example.com>",
        "nt",
        1,
        "",
    );
    h.inject(up, &m).await;
    assert_eq!(h.next().await.status(), Some(404));
    // A forged Path token is unknown.
    let forged = request(
        "MESSAGE",
        "sip:alice@127.0.0.2",
        "SIP/2.0/UDP 127.0.0.9:5070;branch=z9hG4bKnt2",
        "<sip:bob@example.com>;tag=b",
        "<sip:alice@example.com>",
        "nt2",
        1,
        "Route: <sip:swr00000000000000000000@127.0.0.1:5060;lr>\n",
    );
    h.inject(up, &forged).await;
    assert_eq!(h.next().await.status(), Some(404));
}

#[tokio::test(start_paused = true)]
async fn failed_register_does_not_move_the_registration() {
    let mut h = Harness::upstream("sip:127.0.0.9:5070", false, &[]);
    let (a, up, path) = registered(&mut h, 40001, 1).await;
    // An attacker replays the identity from elsewhere; upstream says 401.
    let evil = h.flow(TransportKind::Tcp, "127.0.0.66:5000");
    h.inject(evil, &register("z9hG4bKev", 9, 40001, "")).await;
    let fwd = h.next().await;
    h.inject(
        up,
        &reply(
            &fwd.msg,
            401,
            "Unauthorized",
            Some("x"),
            "WWW-Authenticate: Digest realm=\"e\", nonce=\"n\"\n",
        ),
    )
    .await;
    assert_eq!(h.next().await.dest, Destination::Flow(evil));
    h.inject(up, &upstream_invite(&path, 40001, "z9hG4bKui3", "in-3"))
        .await;
    assert_eq!(h.next().await.status(), Some(100));
    assert_eq!(h.next().await.dest, Destination::Flow(a));
    let _ = Message::parse; // keep the import meaningful for helpers
}

#[tokio::test(start_paused = true)]
async fn in_dialog_direction_follows_the_from_tag_not_the_connection() {
    let mut h = Harness::upstream("sip:127.0.0.9:5070", false, &[]);
    let (a, up, path) = registered(&mut h, 40001, 1).await;
    h.inject(up, &upstream_invite(&path, 40001, "z9hG4bKui9", "in-9"))
        .await;
    assert_eq!(h.next().await.status(), Some(100));
    let inv = h.next().await;
    let rr = record_routes(&inv.msg);
    h.inject(a, &reply(&inv.msg, 200, "OK", Some("at"), ""))
        .await;
    assert_eq!(h.next().await.status(), Some(200));
    // The upstream (the caller) sends an in-dialog INFO over a new connection.
    let other = h.flow(TransportKind::Tcp, "127.0.0.9:34000");
    let info = request(
        "INFO",
        "sip:alice@127.0.0.2:40001;transport=tcp",
        "SIP/2.0/TCP 127.0.0.9:34000;branch=z9hG4bKinfo",
        "<sip:bob@example.com>;tag=bb",
        "<sip:alice@example.com>;tag=at",
        "in-9",
        2,
        &format!("Route: {}, {}\n", rr[1], rr[0]),
    );
    h.inject(other, &info).await;
    let fwd = h.next().await;
    assert_eq!(
        (fwd.method(), fwd.dest.clone()),
        (Some("INFO"), Destination::Flow(a))
    );
    // A forged token is not ours: the Route is foreign, so it goes upstream
    // like any client request, never to another client's flow.
    let forged = rr[0].replacen("swf0", "swf1", 1);
    let bye = request(
        "BYE",
        "sip:bob@127.0.0.9:5070",
        "SIP/2.0/TCP 127.0.0.2:40001;branch=z9hG4bKfb",
        "<sip:alice@example.com>;tag=at",
        "<sip:bob@example.com>;tag=bb",
        "in-9",
        3,
        &format!("Route: {forged}\n"),
    );
    h.inject(a, &bye).await;
    let fwd = h.next().await;
    assert_eq!(
        fwd.dest,
        Destination::Addr {
            kind: TransportKind::Udp,
            addr: addr(UPSTREAM)
        }
    );
}

#[tokio::test(start_paused = true)]
async fn contact_rewrite_mode_for_upstreams_without_path() {
    let mut c = sipwake::config::Config::default();
    c.upstream.server = "sip:127.0.0.9:5070".into();
    c.upstream.contact_mode = sipwake::config::ContactMode::Rewrite;
    let mut h = Harness::new(c);
    let a = h.flow(TransportKind::Tcp, "127.0.0.2:40001");
    h.inject(a, &register("z9hG4bKcr1", 1, 40001, "")).await;
    let fwd = h.next().await;
    assert_eq!(fwd.msg.header("Path"), None);
    let contact = fwd.msg.header("Contact").unwrap().to_owned();
    assert!(
        contact.starts_with("<sip:swr") && contact.contains("@127.0.0.1:5060>;+sip.instance="),
        "{contact}"
    );
    let ours = contact[1..contact.find('>').unwrap()].to_owned();
    // The upstream answers with the Contact it stored (ours)…
    h.inject(
        fwd.flow,
        &reply(
            &fwd.msg,
            200,
            "OK",
            Some("u"),
            &format!("Contact: <{ours}>;expires=1800\n"),
        ),
    )
    .await;
    let ok = h.next().await;
    assert_eq!(
        (ok.status(), ok.dest.clone()),
        (Some(200), Destination::Flow(a))
    );
    // … and the client sees its own.
    assert_eq!(
        ok.msg.header("Contact"),
        Some("<sip:alice@127.0.0.2:40001;transport=tcp>;expires=1800")
    );
    // Requests to the stored Contact reach the client, Request-URI restored.
    let m = request(
        "MESSAGE",
        &ours,
        "SIP/2.0/UDP 127.0.0.9:5070;branch=z9hG4bKcrm",
        "<sip:bob@example.com>;tag=b",
        "<sip:alice@example.com>",
        "crm",
        1,
        "",
    );
    h.inject(fwd.flow, &m).await;
    let got = h.next().await;
    assert_eq!(got.dest, Destination::Flow(a));
    assert_eq!(
        got.msg.request_uri(),
        Some("sip:alice@127.0.0.2:40001;transport=tcp")
    );
}

#[tokio::test(start_paused = true)]
async fn registered_device_without_a_live_flow_is_offline() {
    let mut h = Harness::upstream("sip:127.0.0.9:5070", false, &[]);
    let (a, up, path) = registered(&mut h, 40001, 1).await;
    h.net.close(a);
    h.inject(up, &upstream_invite(&path, 40001, "z9hG4bKoff", "off-1"))
        .await;
    assert_eq!(h.next().await.status(), Some(100));
    let r = h.next().await;
    assert_eq!((r.status(), r.dest), (Some(480), Destination::Flow(up)));
}

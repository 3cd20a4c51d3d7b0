//! Push wake-up for UDP devices over the in-memory network (virtual time):
//! the request goes to the last known address at once, resent on the
//! `inviteretry` schedule; a device silent for `udp_wake_after_ms` is
//! pushed and held; exactly one delivery whichever way it comes back.
//! Also `level = 3`, `chat_when = 2` and the removal policies.

mod proxy_support;
mod wake_support;

use std::time::Duration;

use proxy_support::*;
use sipwake::config::{Config, PushPolicy};
use sipwake::net::{Destination, FlowId, TransportKind};
use sipwake_core::payload::NotificationKind;
use sipwake_store::BindingStore;
use tokio::time::Instant;
use wake_support::wake_on;

const UPSTREAM: &str = "127.0.0.9:5070";
const INST: &str = "urn:uuid:00000000-0000-0000-0000-0000000000aa";
const AOR: &str = "sip:alice@example.com";

fn count(msgs: &[Sent], f: impl Fn(&Sent) -> bool) -> usize {
    msgs.iter().filter(|m| f(m)).count()
}

/// The distinct requests (Via branches) among `msgs` matching `f`: UDP
/// retransmissions of one request count once.
fn distinct(msgs: &[Sent], f: impl Fn(&Sent) -> bool) -> Vec<Sent> {
    let mut seen = std::collections::HashSet::new();
    msgs.iter()
        .filter(|m| f(m))
        .filter(|m| seen.insert(m.msg.top_via().unwrap().branch().unwrap().to_owned()))
        .cloned()
        .collect()
}

fn is_invite_to(m: &Sent, f: FlowId) -> bool {
    m.method() == Some("INVITE") && m.flow == f
}

fn stat(h: &Harness, name: &str) -> u64 {
    h.wake_stats().unwrap()[name].as_u64().unwrap_or(0)
}

// ---------------------------------------------------------------- upstream

/// A REGISTER over `kind` from 127.0.0.2:`port` with an RFC 8599 Contact.
fn up_register(kind: TransportKind, port: u16, cseq: u32, extra: &str) -> String {
    let t = if kind == TransportKind::Udp {
        "UDP"
    } else {
        "TCP"
    };
    let tl = t.to_ascii_lowercase();
    request(
        "REGISTER",
        "sip:example.com",
        &format!("SIP/2.0/{t} 127.0.0.2:{port};branch=z9hG4bKur{port}x{cseq};rport"),
        "<sip:alice@example.com>;tag=ra",
        "<sip:alice@example.com>",
        "reg-alice-udp",
        cseq,
        &format!(
            "Contact: <sip:alice@127.0.0.2:{port};transport={tl};pn-provider=fcm;pn-param=com.example.app;pn-prid=tok-udp>;+sip.instance=\"<{INST}>\"\nExpires: 3600\n{extra}"
        ),
    )
}

/// alice registers through the gateway over `kind` (upstream answers 200
/// at once); returns her flow, the upstream flow and the stored Path.
async fn up_registered(
    h: &mut Harness,
    kind: TransportKind,
    port: u16,
    cseq: u32,
) -> (FlowId, FlowId, String) {
    let a = h.flow(kind, &format!("127.0.0.2:{port}"));
    h.inject(a, &up_register(kind, port, cseq, "")).await;
    let fwd = h.next().await;
    let path = fwd.msg.header("Path").unwrap().to_owned();
    up_accept(h, &fwd, a).await;
    (a, fwd.flow, path)
}

async fn up_accept(h: &mut Harness, fwd: &Sent, client: FlowId) {
    let contact = fwd.msg.header("Contact").unwrap().to_owned();
    let path = fwd.msg.header("Path").unwrap().to_owned();
    let ok = reply(
        &fwd.msg,
        200,
        "OK",
        Some("u1"),
        &format!("Contact: {contact};expires=3600\nPath: {path}\n"),
    );
    h.inject(fwd.flow, &ok).await;
    let out = h.next().await;
    assert_eq!(
        (out.status(), out.dest.clone()),
        (Some(200), Destination::Flow(client)),
        "{}",
        out.text()
    );
}

/// The device wakes on a new socket: 401 round, then 200; returns all the
/// proxy sent after the 200 was relayed (within `d`).
async fn up_wake(h: &mut Harness, port: u16, d: Duration) -> (FlowId, Vec<Sent>) {
    let b = h.flow(TransportKind::Udp, &format!("127.0.0.2:{port}"));
    h.inject(b, &up_register(TransportKind::Udp, port, 10, ""))
        .await;
    let mut out = Vec::new();
    let fwd = loop {
        let m = h.next().await;
        if m.method() == Some("REGISTER") {
            break m;
        }
        out.push(m);
    };
    let www = "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n1\"\n";
    h.inject(
        fwd.flow,
        &reply(&fwd.msg, 401, "Unauthorized", Some("u1"), www),
    )
    .await;
    let auth = "Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n1\", uri=\"sip:example.com\", response=\"0123456789abcdef0123456789abcdef\"\n";
    h.inject(b, &up_register(TransportKind::Udp, port, 11, auth))
        .await;
    let fwd = loop {
        let m = h.next().await;
        if m.method() == Some("REGISTER") {
            break m;
        }
        out.push(m);
    };
    let contact = fwd.msg.header("Contact").unwrap().to_owned();
    let path = fwd.msg.header("Path").unwrap().to_owned();
    h.inject(
        fwd.flow,
        &reply(
            &fwd.msg,
            200,
            "OK",
            Some("u1"),
            &format!("Contact: {contact};expires=3600\nPath: {path}\n"),
        ),
    )
    .await;
    out.extend(h.drain(d).await);
    (b, out)
}

fn up_invite(path: &str, branch: &str, call_id: &str) -> String {
    request(
        "INVITE",
        "sip:alice@127.0.0.2:40001;transport=udp",
        &format!("SIP/2.0/UDP 127.0.0.9:5070;branch={branch}"),
        "\"Bob Caller\" <sip:bob@example.com>;tag=bb",
        "<sip:alice@example.com>",
        call_id,
        1,
        &format!("Route: {path}\nContact: <sip:bob@127.0.0.9:5070>\n"),
    )
}

#[tokio::test(start_paused = true)]
async fn silent_udp_device_is_pushed_and_gets_the_invite_once_on_its_new_socket() {
    let (mut h, store, push) = wake_on(
        Harness::upstream_config(UPSTREAM, false, &[]),
        PushPolicy::default(),
    );
    let (a, up, path) = up_registered(&mut h, TransportKind::Udp, 40001, 1).await;
    assert_eq!(store.user(AOR).unwrap().len(), 1);

    let start = Instant::now();
    h.inject(up, &up_invite(&path, "z9hG4bKu1", "call-u1"))
        .await;
    let trying = h.next().await;
    assert_eq!(trying.status(), Some(100));
    let first = h.next().await;
    assert!(is_invite_to(&first, a), "sent at once to the old address");
    let old_branch = first.msg.top_via().unwrap().branch().unwrap().to_owned();

    // Silent: resent at 0.5 s, and pushed once the 1.2 s window is over.
    let early = h.drain(Duration::from_millis(1100)).await;
    assert_eq!(count(&early, |m| is_invite_to(m, a)), 1, "{early:?}");
    assert!(push.all().is_empty(), "no push inside the window");
    assert_eq!(
        (
            stat(&h, "udp_probed"),
            stat(&h, "held"),
            stat(&h, "holding")
        ),
        (1, 0, 0),
        "watched, not held yet"
    );
    let more = h.drain(Duration::from_millis(2000)).await;
    let pushes = push.all();
    assert_eq!(pushes.len(), 1);
    let (device, f, at) = &pushes[0];
    assert_eq!(device, &format!("instance:{INST}"));
    assert_eq!(f.kind, NotificationKind::Call);
    assert_eq!(
        (f.call_id.as_str(), f.from_username.as_str()),
        ("call-u1", "bob")
    );
    let waited = at.duration_since(start);
    assert!(
        waited >= Duration::from_millis(1200) && waited < Duration::from_millis(1300),
        "{waited:?}"
    );
    assert_eq!((stat(&h, "held"), stat(&h, "holding")), (1, 1));
    // Still resent to the old address meanwhile (1.5 s, 3.5 s ...).
    assert!(count(&more, |m| is_invite_to(m, a)) >= 1, "{more:?}");
    assert_eq!(count(&more, |m| m.dest == Destination::Flow(up)), 0);

    // The app wakes on a new socket: 401 round, then 200.
    let (b, out) = up_wake(&mut h, 40002, Duration::from_secs(2)).await;
    let invites = distinct(&out, |m| is_invite_to(m, b));
    assert_eq!(invites.len(), 1, "delivered once: {out:?}");
    let inv = invites[0].msg.clone();
    assert_ne!(inv.top_via().unwrap().branch().unwrap(), old_branch);
    assert_eq!(
        inv.request_uri(),
        Some(
            "sip:alice@127.0.0.2:40002;transport=udp;pn-provider=fcm;pn-param=com.example.app;pn-prid=tok-udp"
        )
    );

    // The old branch went quiet, and said nothing upstream.
    let later = h.drain(Duration::from_secs(10)).await;
    assert_eq!(count(&later, |m| is_invite_to(m, a)), 0, "{later:?}");
    assert_eq!(count(&later, |m| m.method() == Some("CANCEL")), 0);
    assert_eq!(
        count(&later, |m| m.dest == Destination::Flow(up)),
        0,
        "{later:?}"
    );

    // The woken app answers on its new socket.
    h.inject(b, &reply(&inv, 180, "Ringing", Some("at"), ""))
        .await;
    assert_eq!(h.next().await.status(), Some(180));
    let contact = "Contact: <sip:alice@127.0.0.2:40002;transport=udp>\n";
    h.inject(b, &reply(&inv, 200, "OK", Some("at"), contact))
        .await;
    let ok = h.next().await;
    assert_eq!(
        (ok.status(), ok.dest.clone()),
        (Some(200), Destination::Flow(up))
    );
    let tail = h.drain(Duration::from_secs(60)).await;
    assert_eq!(
        count(&tail, |m| m.dest == Destination::Flow(up)
            && m.status().is_some_and(|c| c != 200)),
        0,
        "no other final upstream: {tail:?}"
    );
    assert_eq!(count(&tail, |m| is_invite_to(m, a)), 0);
    assert_eq!(push.all().len(), 1);
    let s = h.wake_stats().unwrap();
    for (k, v) in [
        ("udp_probed", 1),
        ("held", 1),
        ("pushed", 1),
        ("woken", 1),
        ("delivered", 1),
        ("udp_answered", 0),
        ("timed_out", 0),
        ("holding", 0),
    ] {
        assert_eq!(s[k].as_u64(), Some(v), "{k}: {s}");
    }
    assert_eq!(s["push_to_register"]["count"].as_u64(), Some(1), "{s}");
    assert_eq!(s["register_to_deliver"]["count"].as_u64(), Some(1), "{s}");
    assert_eq!(s["success_rate"].as_f64(), Some(1.0), "{s}");
    let text = h.waker.as_ref().map(|w| w.prometheus()).unwrap();
    assert!(text.contains("sipwake_wake_delivered_total 1\n"), "{text}");
    assert!(
        text.contains("sipwake_wake_push_to_register_seconds_count 1\n"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn udp_device_that_answers_gets_the_call_with_no_push() {
    let (mut h, _store, push) = wake_on(
        Harness::upstream_config(UPSTREAM, false, &[]),
        PushPolicy::default(),
    );
    let (a, up, path) = up_registered(&mut h, TransportKind::Udp, 40001, 1).await;
    h.inject(up, &up_invite(&path, "z9hG4bKu2", "call-u2"))
        .await;
    assert_eq!(h.next().await.status(), Some(100));
    let inv = h.next().await;
    assert!(is_invite_to(&inv, a));
    h.inject(a, &reply(&inv.msg, 180, "Ringing", Some("al"), ""))
        .await;
    assert_eq!(h.next().await.status(), Some(180));
    let quiet = h.drain(Duration::from_secs(5)).await;
    assert_eq!(
        count(&quiet, |m| is_invite_to(m, a)),
        0,
        "no resend after 180"
    );
    let contact = "Contact: <sip:alice@127.0.0.2:40001;transport=udp>\n";
    h.inject(a, &reply(&inv.msg, 200, "OK", Some("al"), contact))
        .await;
    assert_eq!(h.next().await.status(), Some(200));
    assert!(push.all().is_empty());
    // A later refresh from the same device delivers nothing more.
    let (_b, out) = up_wake(&mut h, 40001, Duration::from_secs(2)).await;
    assert_eq!(count(&out, |m| m.method() == Some("INVITE")), 0, "{out:?}");
    assert_eq!(
        (
            stat(&h, "udp_probed"),
            stat(&h, "udp_answered"),
            stat(&h, "held")
        ),
        (1, 1, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn never_waking_udp_device_gets_13_sends_then_480_and_loses_its_binding() {
    let policy = PushPolicy {
        removeon_noanswer: 1,
        ..PushPolicy::default()
    };
    let (mut h, store, push) = wake_on(Harness::upstream_config(UPSTREAM, false, &[]), policy);
    let (a, up, path) = up_registered(&mut h, TransportKind::Udp, 40001, 1).await;
    let start = Instant::now();
    h.inject(up, &up_invite(&path, "z9hG4bKu3", "call-u3"))
        .await;
    let mut sends = Vec::new();
    let fin = loop {
        let m = h.next().await;
        if is_invite_to(&m, a) {
            sends.push(start.elapsed());
        } else if m.status().is_some_and(|c| c >= 200) {
            break m;
        }
    };
    assert_eq!(
        (fin.status(), fin.dest.clone()),
        (Some(480), Destination::Flow(up))
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(40) && waited < Duration::from_secs(41),
        "{waited:?}"
    );
    // 0, 0.5, 1.5, 3.5, 7.5, then every 4 s up to 39.5 s.
    assert_eq!(sends.len(), 13, "{sends:?}");
    assert!(sends[12] < Duration::from_secs(40), "{sends:?}");
    let after = h.drain(Duration::from_secs(60)).await;
    assert_eq!(count(&after, |m| is_invite_to(m, a)), 0, "{after:?}");
    assert_eq!(push.all().len(), 1);
    assert!(store.user(AOR).unwrap().is_empty(), "removeon_noanswer");
    assert_eq!((stat(&h, "timed_out"), stat(&h, "removed")), (1, 1));
    assert_eq!(h.wake_stats().unwrap()["success_rate"].as_f64(), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn device_answering_at_its_old_address_after_the_push_is_not_delivered_again() {
    let (mut h, _store, push) = wake_on(
        Harness::upstream_config(UPSTREAM, false, &[]),
        PushPolicy::default(),
    );
    let (a, up, path) = up_registered(&mut h, TransportKind::Udp, 40001, 1).await;
    h.inject(up, &up_invite(&path, "z9hG4bKu4", "call-u4"))
        .await;
    assert_eq!(h.next().await.status(), Some(100));
    let inv = h.next().await;
    let _ = h.drain(Duration::from_secs(2)).await;
    assert_eq!(push.all().len(), 1);
    // The app woke but kept its socket: it answers the resent INVITE.
    h.inject(a, &reply(&inv.msg, 180, "Ringing", Some("al"), ""))
        .await;
    assert_eq!(h.next().await.status(), Some(180));
    let (_b, out) = up_wake(&mut h, 40005, Duration::from_secs(2)).await;
    assert_eq!(count(&out, |m| m.method() == Some("INVITE")), 0, "{out:?}");
    let contact = "Contact: <sip:alice@127.0.0.2:40001;transport=udp>\n";
    h.inject(a, &reply(&inv.msg, 200, "OK", Some("al"), contact))
        .await;
    let ok = h.next().await;
    assert_eq!(
        (ok.status(), ok.dest.clone()),
        (Some(200), Destination::Flow(up))
    );
    assert_eq!(
        (
            stat(&h, "woken"),
            stat(&h, "delivered"),
            stat(&h, "holding")
        ),
        (1, 1, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn caller_cancel_inside_the_window_means_487_no_push_no_more_resends() {
    let (mut h, _store, push) = wake_on(
        Harness::upstream_config(UPSTREAM, false, &[]),
        PushPolicy::default(),
    );
    let (a, up, path) = up_registered(&mut h, TransportKind::Udp, 40001, 1).await;
    h.inject(up, &up_invite(&path, "z9hG4bKu5", "call-u5"))
        .await;
    assert_eq!(h.next().await.status(), Some(100));
    assert!(is_invite_to(&h.next().await, a));
    let cancel = request(
        "CANCEL",
        "sip:alice@127.0.0.2:40001;transport=udp",
        "SIP/2.0/UDP 127.0.0.9:5070;branch=z9hG4bKu5",
        "\"Bob Caller\" <sip:bob@example.com>;tag=bb",
        "<sip:alice@example.com>",
        "call-u5",
        1,
        &format!("Route: {path}\n"),
    );
    h.inject(up, &cancel).await;
    let out = h.drain(Duration::from_secs(45)).await;
    assert!(count(&out, |m| m.status() == Some(487)) >= 1, "{out:?}");
    assert_eq!(count(&out, |m| is_invite_to(m, a)), 0, "{out:?}");
    assert_eq!(
        count(&out, |m| m.method() == Some("CANCEL")),
        0,
        "nothing to cancel"
    );
    assert!(push.all().is_empty());
}

#[tokio::test(start_paused = true)]
async fn level_3_pushes_a_live_tcp_device_and_delivers_on_its_flow_once() {
    let policy = PushPolicy {
        level: 3,
        ..PushPolicy::default()
    };
    let (mut h, _store, push) = wake_on(Harness::upstream_config(UPSTREAM, false, &[]), policy);
    let (a, up, path) = up_registered(&mut h, TransportKind::Tcp, 40001, 1).await;
    h.inject(up, &up_invite(&path, "z9hG4bKu6", "call-u6"))
        .await;
    let out = h.drain(Duration::from_secs(2)).await;
    assert_eq!(count(&out, |m| is_invite_to(m, a)), 1, "{out:?}");
    assert_eq!(push.all().len(), 1);
    // A refresh on the same connection: no second INVITE.
    h.inject(a, &up_register(TransportKind::Tcp, 40001, 2, ""))
        .await;
    let fwd = h.next().await;
    up_accept(&mut h, &fwd, a).await;
    let out = h.drain(Duration::from_secs(2)).await;
    assert_eq!(count(&out, |m| m.method() == Some("INVITE")), 0, "{out:?}");
    assert_eq!(
        (
            stat(&h, "live_pushed"),
            stat(&h, "held"),
            stat(&h, "pushed")
        ),
        (1, 0, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn default_level_does_not_push_a_live_tcp_device() {
    let (mut h, _store, push) = wake_on(
        Harness::upstream_config(UPSTREAM, false, &[]),
        PushPolicy::default(),
    );
    let (a, up, path) = up_registered(&mut h, TransportKind::Tcp, 40001, 1).await;
    h.inject(up, &up_invite(&path, "z9hG4bKu7", "call-u7"))
        .await;
    let out = h.drain(Duration::from_secs(3)).await;
    assert_eq!(count(&out, |m| is_invite_to(m, a)), 1, "{out:?}");
    assert!(push.all().is_empty());
    assert_eq!(stat(&h, "holding"), 0);
}

#[tokio::test(start_paused = true)]
async fn level_3_udp_device_is_pushed_at_once() {
    let policy = PushPolicy {
        level: 3,
        ..PushPolicy::default()
    };
    let (mut h, _store, push) = wake_on(Harness::upstream_config(UPSTREAM, false, &[]), policy);
    let (a, up, path) = up_registered(&mut h, TransportKind::Udp, 40001, 1).await;
    let start = Instant::now();
    h.inject(up, &up_invite(&path, "z9hG4bKu8", "call-u8"))
        .await;
    let out = h.drain(Duration::from_millis(100)).await;
    assert_eq!(count(&out, |m| is_invite_to(m, a)), 1, "{out:?}");
    let pushes = push.all();
    assert_eq!(pushes.len(), 1);
    assert!(pushes[0].2.duration_since(start) < Duration::from_millis(50));
}

#[tokio::test(start_paused = true)]
async fn removeon_subscallfail_drops_the_binding_when_the_woken_call_fails() {
    let policy = PushPolicy {
        removeon_subscallfail: 1,
        ..PushPolicy::default()
    };
    let (mut h, store, _push) = wake_on(Harness::upstream_config(UPSTREAM, false, &[]), policy);
    let (_a, up, path) = up_registered(&mut h, TransportKind::Udp, 40001, 1).await;
    h.inject(up, &up_invite(&path, "z9hG4bKu9", "call-u9"))
        .await;
    let _ = h.drain(Duration::from_secs(2)).await;
    let (b, out) = up_wake(&mut h, 40002, Duration::from_secs(1)).await;
    let inv = out
        .iter()
        .find(|m| is_invite_to(m, b))
        .expect("delivered")
        .msg
        .clone();
    h.inject(b, &reply(&inv, 500, "Server Internal Error", Some("x"), ""))
        .await;
    let out = h.drain(Duration::from_secs(1)).await;
    assert!(
        count(&out, |m| m.status() == Some(500)
            && m.dest == Destination::Flow(up))
            >= 1,
        "{out:?}"
    );
    // The removal runs in the background: wait for it (virtual time).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.user(AOR).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "binding not removed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stat(&h, "removed"), 1);
}

// -------------------------------------------------------------- standalone

fn sa_register(port: u16, cseq: u32) -> String {
    request(
        "REGISTER",
        "sip:127.0.0.1",
        &format!("SIP/2.0/UDP 127.0.0.2:{port};branch=z9hG4bKsu{port}x{cseq};rport"),
        &format!("<sip:alice@127.0.0.1>;tag=r{cseq}"),
        "<sip:alice@127.0.0.1>",
        "reg-sa-udp",
        cseq,
        &format!(
            "Contact: <sip:alice@127.0.0.2:{port}>;+sip.instance=\"<{INST}>\"\nExpires: 600\nX-MPUSH: a:com.example.app:tok-sa\n"
        ),
    )
}

fn sa_request(method: &str, call_id: &str, branch: &str, body: &str) -> String {
    format!(
        "{method} sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:5060;branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1>;tag=bt\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\nContact: <sip:bob@127.0.0.3:5060>\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test(start_paused = true)]
async fn standalone_device_back_at_the_same_address_gets_the_same_branch_resent() {
    let (mut h, _store, push) = wake_on(Config::default(), PushPolicy::default());
    let a = h.flow(TransportKind::Udp, "127.0.0.2:41001");
    h.inject(a, &sa_register(41001, 1)).await;
    assert_eq!(h.next().await.status(), Some(200));
    let bob = h.flow(TransportKind::Udp, "127.0.0.3:5060");
    h.inject(bob, &sa_request("INVITE", "call-s1", "z9hG4bKs1", ""))
        .await;
    assert_eq!(h.next().await.status(), Some(100));
    let first = h.next().await;
    assert!(is_invite_to(&first, a));
    let branch = first.msg.top_via().unwrap().branch().unwrap().to_owned();
    let _ = h.drain(Duration::from_secs(2)).await;
    assert_eq!(push.all().len(), 1);
    // Woken, same socket: re-registers; the INVITE is resent right away.
    h.inject(a, &sa_register(41001, 2)).await;
    let out = h.drain(Duration::from_millis(50)).await;
    let resent: Vec<&Sent> = out.iter().filter(|m| is_invite_to(m, a)).collect();
    assert_eq!(resent.len(), 1, "{out:?}");
    assert_eq!(
        resent[0].msg.top_via().unwrap().branch(),
        Some(branch.as_str())
    );
    h.inject(a, &reply(&resent[0].msg, 180, "Ringing", Some("s1"), ""))
        .await;
    let out = h.drain(Duration::from_secs(10)).await;
    assert_eq!(count(&out, |m| m.status() == Some(180)), 1, "{out:?}");
    assert_eq!(count(&out, |m| m.method() == Some("INVITE")), 0, "{out:?}");
    assert_eq!((stat(&h, "delivered"), stat(&h, "woken")), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn standalone_message_to_a_silent_udp_device_is_accepted_pushed_and_delivered_once() {
    let (mut h, _store, push) = wake_on(Config::default(), PushPolicy::default());
    let a = h.flow(TransportKind::Udp, "127.0.0.2:41001");
    h.inject(a, &sa_register(41001, 1)).await;
    assert_eq!(h.next().await.status(), Some(200));
    let bob = h.flow(TransportKind::Udp, "127.0.0.3:5060");
    h.inject(
        bob,
        &sa_request("MESSAGE", "chat-s2", "z9hG4bKs2", "hi there"),
    )
    .await;
    let out = h.drain(Duration::from_secs(2)).await;
    assert_eq!(
        count(&out, |m| m.method() == Some("MESSAGE") && m.flow == a),
        3,
        "{out:?}"
    );
    assert_eq!(
        count(&out, |m| m.status() == Some(202)
            && m.dest == Destination::Flow(bob)),
        1,
        "{out:?}"
    );
    let pushes = push.all();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].1.kind, NotificationKind::Chat);
    assert_eq!(pushes[0].1.msg, "hi there");
    let b = h.flow(TransportKind::Udp, "127.0.0.2:41002");
    h.inject(b, &sa_register(41002, 2)).await;
    let out = h.drain(Duration::from_secs(70)).await;
    let to_b = distinct(&out, |m| m.method() == Some("MESSAGE") && m.flow == b);
    assert_eq!(to_b.len(), 1, "{out:?}");
    assert_eq!(&to_b[0].msg.body()[..], b"hi there");
    assert_eq!(
        count(&out, |m| m.method() == Some("MESSAGE") && m.flow == a),
        0,
        "{out:?}"
    );
    assert_eq!(
        count(&out, |m| m.dest == Destination::Flow(bob)),
        0,
        "{out:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn chat_when_2_pushes_a_live_device_and_delivers_on_its_flow() {
    let policy = PushPolicy {
        chat_when: 2,
        ..PushPolicy::default()
    };
    let (mut h, _store, push) = wake_on(Config::default(), policy);
    let a = h.flow(TransportKind::Tcp, "127.0.0.2:41001");
    let reg = sa_register(41001, 1)
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
        .replace("127.0.0.2:41001>", "127.0.0.2:41001;transport=tcp>");
    h.inject(a, &reg).await;
    assert_eq!(h.next().await.status(), Some(200));
    let bob = h.flow(TransportKind::Udp, "127.0.0.3:5060");
    h.inject(bob, &sa_request("MESSAGE", "chat-s3", "z9hG4bKs3", "yo"))
        .await;
    let out = h.drain(Duration::from_secs(1)).await;
    let m = out
        .iter()
        .find(|m| m.method() == Some("MESSAGE") && m.flow == a)
        .expect("delivered on the live flow")
        .msg
        .clone();
    assert_eq!(push.all().len(), 1);
    assert_eq!(push.all()[0].1.kind, NotificationKind::Chat);
    h.inject(a, &reply(&m, 200, "OK", Some("m"), "")).await;
    assert_eq!(h.next().await.status(), Some(200));
    assert_eq!(stat(&h, "live_pushed"), 1);
}

/// The manual's RFC 8599 form: no `+sip.instance`, so the Path registration
/// is keyed by the Contact, which changes with the port.
fn up_register_no_instance(port: u16, cseq: u32, extra: &str) -> String {
    up_register(TransportKind::Udp, port, cseq, extra)
        .replace(&format!(";+sip.instance=\"<{INST}>\""), "")
}

#[tokio::test(start_paused = true)]
async fn udp_device_without_instance_is_woken_at_its_new_contact() {
    let (mut h, store, push) = wake_on(
        Harness::upstream_config(UPSTREAM, false, &[]),
        PushPolicy::default(),
    );
    let a = h.flow(TransportKind::Udp, "127.0.0.2:40001");
    h.inject(a, &up_register_no_instance(40001, 1, "")).await;
    let fwd = h.next().await;
    let (up, path) = (fwd.flow, fwd.msg.header("Path").unwrap().to_owned());
    up_accept(&mut h, &fwd, a).await;
    assert_eq!(store.user(AOR).unwrap()[0].device, "token:a:tok-udp");

    h.inject(up, &up_invite(&path, "z9hG4bKn1", "call-n1"))
        .await;
    let _ = h.drain(Duration::from_secs(2)).await;
    assert_eq!(push.all().len(), 1);

    // New socket, new Contact, so a new Path registration upstream.
    let b = h.flow(TransportKind::Udp, "127.0.0.2:40002");
    h.inject(b, &up_register_no_instance(40002, 2, "")).await;
    let fwd = h.next().await;
    assert_ne!(fwd.msg.header("Path").unwrap(), path, "a new Path token");
    let contact = fwd.msg.header("Contact").unwrap().to_owned();
    let new_path = fwd.msg.header("Path").unwrap().to_owned();
    let ok = format!("Contact: {contact};expires=3600\nPath: {new_path}\n");
    h.inject(fwd.flow, &reply(&fwd.msg, 200, "OK", Some("u1"), &ok))
        .await;
    // The held INVITE may leave just before the relayed 200 (docs/wake.md).
    let out = h.drain(Duration::from_secs(2)).await;
    assert_eq!(
        count(&out, |m| m.status() == Some(200)
            && m.dest == Destination::Flow(b)),
        1,
        "{out:?}"
    );
    let invites = distinct(&out, |m| is_invite_to(m, b));
    assert_eq!(invites.len(), 1, "{out:?}");
    assert!(
        invites[0]
            .msg
            .request_uri()
            .unwrap()
            .starts_with("sip:alice@127.0.0.2:40002;"),
        "{}",
        invites[0].text()
    );
    let later = h.drain(Duration::from_secs(10)).await;
    assert_eq!(count(&later, |m| is_invite_to(m, a)), 0, "{later:?}");
    // A refresh from the new socket delivers nothing more.
    h.inject(b, &up_register_no_instance(40002, 3, "")).await;
    let fwd = h.next().await;
    up_accept(&mut h, &fwd, b).await;
    let out = h.drain(Duration::from_secs(2)).await;
    assert_eq!(
        distinct(&out, |m| m.method() == Some("INVITE")).len(),
        0,
        "{out:?}"
    );
    assert_eq!((stat(&h, "woken"), stat(&h, "delivered")), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn chat_for_a_sleeper_and_a_udp_device_is_accepted_at_once() {
    let (mut h, _store, push) = wake_on(Config::default(), PushPolicy::default());
    // Device 1 over UDP (awake), device 2 over TCP, then asleep.
    let a = h.flow(TransportKind::Udp, "127.0.0.2:41001");
    h.inject(a, &sa_register(41001, 1)).await;
    assert_eq!(h.next().await.status(), Some(200));
    let inst2 = "urn:uuid:00000000-0000-0000-0000-0000000000bb";
    let t = h.flow(TransportKind::Tcp, "127.0.0.2:41002");
    let reg2 = sa_register(41002, 1)
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
        .replace("127.0.0.2:41002>", "127.0.0.2:41002;transport=tcp>")
        .replace(INST, inst2)
        .replace("tok-sa", "tok-sa-2")
        .replace("reg-sa-udp", "reg-sa-tcp");
    h.inject(t, &reg2).await;
    assert_eq!(h.next().await.status(), Some(200));
    h.net.close(t);

    let bob = h.flow(TransportKind::Udp, "127.0.0.3:5060");
    h.inject(bob, &sa_request("MESSAGE", "chat-s4", "z9hG4bKs4", "both?"))
        .await;
    let out = h.drain(Duration::from_millis(100)).await;
    assert_eq!(
        count(&out, |m| m.status() == Some(202)
            && m.dest == Destination::Flow(bob)),
        1,
        "{out:?}"
    );
    let m = out
        .iter()
        .find(|m| m.method() == Some("MESSAGE") && m.flow == a)
        .expect("sent to the UDP device at once")
        .msg
        .clone();
    // The UDP device answers (even a failure): absorbed, nothing more to bob.
    h.inject(a, &reply(&m, 486, "Busy Here", Some("m1"), ""))
        .await;
    let out = h.drain(Duration::from_secs(5)).await;
    assert_eq!(
        count(&out, |m| m.dest == Destination::Flow(bob)),
        0,
        "{out:?}"
    );
    let pushes = push.all();
    assert_eq!(pushes.len(), 1, "only the sleeper is pushed");
    assert_eq!(pushes[0].0, format!("instance:{inst2}"));
    assert_eq!((stat(&h, "udp_answered"), stat(&h, "held")), (1, 1));
}

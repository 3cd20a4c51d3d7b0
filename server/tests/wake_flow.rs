//! Push wake-up end to end over the in-memory network (virtual time): a
//! call or chat for a sleeping device is held, the device pushed once, and
//! the request delivered exactly once when it registers again; forking,
//! caller CANCEL and the wake timeout.

mod proxy_support;
mod wake_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use proxy_support::*;
use sipwake::config::{Config, PushPolicy};
use sipwake::net::{Destination, FlowId, TransportKind};
use sipwake_core::payload::NotificationKind;
use sipwake_store::BindingStore;
use wake_support::wake_on;

const UPSTREAM: &str = "127.0.0.9:5070";
const INST1: &str = "urn:uuid:00000000-0000-0000-0000-000000000001";
const INST2: &str = "urn:uuid:00000000-0000-0000-0000-000000000002";

fn mpush(token: &str) -> String {
    format!("X-MPUSH: a:com.example.app:{token}\n")
}

// ---------------------------------------------------------------- upstream

fn up_register(port: u16, cseq: u32, extra: &str) -> String {
    request(
        "REGISTER",
        "sip:example.com",
        &format!("SIP/2.0/TCP 127.0.0.2:{port};branch=z9hG4bKwr{cseq}"),
        "<sip:alice@example.com>;tag=ra",
        "<sip:alice@example.com>",
        "reg-alice",
        cseq,
        &format!(
            "Contact: <sip:alice@127.0.0.2:{port};transport=tcp>;+sip.instance=\"<{INST1}>\"\nExpires: 3600\n{}{extra}",
            mpush("tok-alice-1")
        ),
    )
}

/// The upstream's 200 OK to a forwarded REGISTER.
fn up_ok(fwd: &Sent, port: u16) -> String {
    let path = fwd.msg.header("Path").unwrap().to_owned();
    reply(
        &fwd.msg,
        200,
        "OK",
        Some("u1"),
        &format!(
            "Contact: <sip:alice@127.0.0.2:{port};transport=tcp>;expires=3600\nPath: {path}\n"
        ),
    )
}

/// alice registers through the gateway; returns her flow, the upstream's
/// flow and the Path the upstream stored.
async fn up_registered(h: &mut Harness, port: u16, cseq: u32) -> (FlowId, FlowId, String) {
    let a = h.flow(TransportKind::Tcp, &format!("127.0.0.2:{port}"));
    h.inject(a, &up_register(port, cseq, "")).await;
    let fwd = h.next().await;
    let path = fwd.msg.header("Path").unwrap().to_owned();
    h.inject(fwd.flow, &up_ok(&fwd, port)).await;
    let ok = h.next().await;
    assert_eq!(
        (ok.status(), ok.dest.clone()),
        (Some(200), Destination::Flow(a))
    );
    (a, fwd.flow, path)
}

fn up_invite(path: &str, branch: &str, call_id: &str) -> String {
    request(
        "INVITE",
        "sip:alice@127.0.0.2:40001;transport=tcp",
        &format!("SIP/2.0/UDP 127.0.0.9:5070;branch={branch}"),
        "\"Bob Caller\" <sip:bob@example.com>;tag=bb",
        "<sip:alice@example.com>",
        call_id,
        1,
        &format!("Route: {path}\nContact: <sip:bob@127.0.0.9:5070>\n"),
    )
}

fn count(msgs: &[Sent], f: impl Fn(&Sent) -> bool) -> usize {
    msgs.iter().filter(|m| f(m)).count()
}

#[tokio::test(start_paused = true)]
async fn sleeping_device_is_pushed_once_and_gets_the_invite_once_after_a_401_round() {
    let (mut h, store, push) = wake_on(
        Harness::upstream_config(UPSTREAM, false, &[]),
        PushPolicy::default(),
    );
    let (a, up, path) = up_registered(&mut h, 40001, 1).await;
    assert_eq!(store.user("sip:alice@example.com").unwrap().len(), 1);
    h.net.close(a); // the app went to sleep

    h.inject(up, &up_invite(&path, "z9hG4bKwi1", "call-1"))
        .await;
    let trying = h.next().await;
    assert_eq!(
        (trying.status(), trying.dest.clone()),
        (Some(100), Destination::Flow(up))
    );
    let pushes = push.wait_for(1).await;
    assert_eq!(pushes.len(), 1);
    let (device, f, _) = &pushes[0];
    assert_eq!(device, &format!("instance:{INST1}"));
    assert_eq!(f.kind, NotificationKind::Call);
    assert_eq!(
        (f.from_username.as_str(), f.from_display.as_str()),
        ("bob", "Bob Caller")
    );
    assert_eq!(
        (f.call_id.as_str(), f.to_username.as_str()),
        ("call-1", "alice")
    );
    assert_eq!(f.token, "tok-alice-1");

    // The app wakes on a new connection; its first REGISTER is challenged.
    let b = h.flow(TransportKind::Tcp, "127.0.0.2:40002");
    h.inject(b, &up_register(40002, 2, "")).await;
    let fwd = h.next().await;
    let www = "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n1\"\n";
    h.inject(
        fwd.flow,
        &reply(&fwd.msg, 401, "Unauthorized", Some("u1"), www),
    )
    .await;
    let ch = h.next().await;
    assert_eq!(
        (ch.status(), ch.dest.clone()),
        (Some(401), Destination::Flow(b))
    );
    h.quiet(Duration::from_secs(1)).await; // a challenge wakes nothing

    let auth = "Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n1\", uri=\"sip:example.com\", response=\"0123456789abcdef0123456789abcdef\"\n";
    h.inject(b, &up_register(40002, 3, auth)).await;
    let fwd = h.next().await;
    h.inject(fwd.flow, &up_ok(&fwd, 40002)).await;
    let out = h.drain(Duration::from_secs(2)).await;
    assert_eq!(
        count(&out, |m| m.status() == Some(200)
            && m.dest == Destination::Flow(b)),
        1
    );
    let invites: Vec<&Sent> = out
        .iter()
        .filter(|m| m.method() == Some("INVITE"))
        .collect();
    assert_eq!(invites.len(), 1, "delivered once: {out:?}");
    let inv = invites[0].msg.clone();
    assert_eq!(invites[0].dest, Destination::Flow(b));
    // The app sees its REGISTER's 200 OK first, then the held INVITE.
    let pos = |f: &dyn Fn(&Sent) -> bool| out.iter().position(f).unwrap();
    assert!(
        pos(&|m| m.status() == Some(200) && m.dest == Destination::Flow(b))
            < pos(&|m| m.method() == Some("INVITE")),
        "200 OK before the INVITE: {out:?}"
    );
    assert_eq!(
        inv.request_uri(),
        Some("sip:alice@127.0.0.2:40002;transport=tcp")
    );
    assert_eq!(inv.call_id().unwrap(), "call-1");
    assert_eq!(inv.count("Route"), 0);

    // Two refreshes: no second branch.
    for cseq in [4, 5] {
        h.inject(b, &up_register(40002, cseq, auth)).await;
        let fwd = h.next().await;
        h.inject(fwd.flow, &up_ok(&fwd, 40002)).await;
        let out = h.drain(Duration::from_secs(2)).await;
        assert_eq!(count(&out, |m| m.method() == Some("INVITE")), 0, "{out:?}");
        assert_eq!(count(&out, |m| m.status() == Some(200)), 1);
    }

    // The woken app answers; the 200 reaches the caller.
    h.inject(b, &reply(&inv, 180, "Ringing", Some("at"), ""))
        .await;
    assert_eq!(h.next().await.status(), Some(180));
    h.inject(
        b,
        &reply(
            &inv,
            200,
            "OK",
            Some("at"),
            "Contact: <sip:alice@127.0.0.2:40002;transport=tcp>\n",
        ),
    )
    .await;
    let ok = h.next().await;
    assert_eq!(
        (ok.status(), ok.dest.clone()),
        (Some(200), Destination::Flow(up))
    );
    assert_eq!(push.all().len(), 1, "one push for one call");
    let stats = h.wake_stats().unwrap();
    assert_eq!(
        (
            stats["held"].as_u64(),
            stats["pushed"].as_u64(),
            stats["woken"].as_u64(),
            stats["delivered"].as_u64()
        ),
        (Some(1), Some(1), Some(1), Some(1)),
        "{stats}"
    );
    assert_eq!(stats["holding"].as_u64(), Some(0));
}

/// A push device whose Path flow is live gets the upstream's INVITE once,
/// at once: it is not also held and pushed (found by the Kamailio e2e
/// fork test, where the live device got the INVITE twice).
#[tokio::test(start_paused = true)]
async fn a_live_push_device_gets_the_invite_once_and_no_push() {
    let (mut h, store, push) = wake_on(
        Harness::upstream_config(UPSTREAM, false, &[]),
        PushPolicy::default(),
    );
    let (a, up, path) = up_registered(&mut h, 40001, 1).await;
    assert_eq!(store.user("sip:alice@example.com").unwrap().len(), 1);

    h.inject(up, &up_invite(&path, "z9hG4bKlive1", "call-live"))
        .await;
    let out = h.drain(Duration::from_secs(2)).await;
    let invites: Vec<&Sent> = out
        .iter()
        .filter(|m| m.method() == Some("INVITE"))
        .collect();
    assert_eq!(invites.len(), 1, "{out:?}");
    assert_eq!(invites[0].dest, Destination::Flow(a));
    assert!(push.all().is_empty(), "a live device is not pushed");
    let stats = h.wake_stats().unwrap();
    assert_eq!(stats["held"].as_u64(), Some(0), "{stats}");
    assert_eq!(stats["holding"].as_u64(), Some(0), "{stats}");
}

#[tokio::test(start_paused = true)]
async fn nobody_wakes_480_after_the_wake_timeout() {
    let policy = PushPolicy {
        wake_timeout_secs: 5,
        ..PushPolicy::default()
    };
    let (mut h, _store, push) = wake_on(Harness::upstream_config(UPSTREAM, false, &[]), policy);
    let (a, up, path) = up_registered(&mut h, 40001, 1).await;
    h.net.close(a);
    let start = tokio::time::Instant::now();
    h.inject(up, &up_invite(&path, "z9hG4bKwt1", "call-t"))
        .await;
    assert_eq!(h.next().await.status(), Some(100));
    push.wait_for(1).await;
    let fin = h.next().await;
    assert_eq!(
        (fin.status(), fin.dest.clone()),
        (Some(480), Destination::Flow(up))
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(7),
        "{waited:?}"
    );
    let stats = h.wake_stats().unwrap();
    assert_eq!(stats["timed_out"].as_u64(), Some(1), "{stats}");

    // Waking after the timeout delivers nothing.
    let b = h.flow(TransportKind::Tcp, "127.0.0.2:40002");
    h.inject(b, &up_register(40002, 2, "")).await;
    let fwd = h.next().await;
    h.inject(fwd.flow, &up_ok(&fwd, 40002)).await;
    let out = h.drain(Duration::from_secs(2)).await;
    assert_eq!(count(&out, |m| m.method() == Some("INVITE")), 0, "{out:?}");
}

#[tokio::test(start_paused = true)]
async fn caller_cancel_before_wake_means_no_invite_later_and_a_cancel_push() {
    let policy = PushPolicy {
        cancel: 2,
        ..PushPolicy::default()
    };
    let (mut h, _store, push) = wake_on(Harness::upstream_config(UPSTREAM, false, &[]), policy);
    let (a, up, path) = up_registered(&mut h, 40001, 1).await;
    h.net.close(a);
    h.inject(up, &up_invite(&path, "z9hG4bKwc1", "call-c"))
        .await;
    assert_eq!(h.next().await.status(), Some(100));
    push.wait_for(1).await;

    let cancel = request(
        "CANCEL",
        "sip:alice@127.0.0.2:40001;transport=tcp",
        "SIP/2.0/UDP 127.0.0.9:5070;branch=z9hG4bKwc1",
        "\"Bob Caller\" <sip:bob@example.com>;tag=bb",
        "<sip:alice@example.com>",
        "call-c",
        1,
        &format!("Route: {path}\n"),
    );
    h.inject(up, &cancel).await;
    let out = h.drain(Duration::from_secs(1)).await;
    assert_eq!(
        count(&out, |m| m.status() == Some(200)
            && m.msg.cseq().unwrap().method == "CANCEL"),
        1,
        "{out:?}"
    );
    // 487 (retransmitted over UDP until the ACK), never a 2xx.
    assert!(count(&out, |m| m.status() == Some(487)) >= 1, "{out:?}");
    assert_eq!(
        count(&out, |m| m.status() == Some(200)
            && m.msg.cseq().unwrap().method == "INVITE"),
        0
    );
    let pushes = push.wait_for(2).await;
    assert_eq!(pushes[1].1.kind, NotificationKind::Cancel);
    assert_eq!(pushes[1].1.call_id, "call-c");

    let b = h.flow(TransportKind::Tcp, "127.0.0.2:40002");
    h.inject(b, &up_register(40002, 2, "")).await;
    let fwd = h.next().await;
    h.inject(fwd.flow, &up_ok(&fwd, 40002)).await;
    let out = h.drain(Duration::from_secs(45)).await;
    assert_eq!(count(&out, |m| m.method() == Some("INVITE")), 0, "{out:?}");
    assert_eq!(h.wake_stats().unwrap()["cancelled"].as_u64(), Some(1));
}

// -------------------------------------------------------------- standalone

/// A registration event handled late — after the device's flow closed
/// again — is not a wake-up: the held call keeps waiting for the device
/// instead of losing its branch to the dead flow.
#[tokio::test(start_paused = true)]
async fn a_stale_registration_event_does_not_drop_the_held_branch() {
    let (mut h, _store, push) = wake_on(
        Harness::upstream_config(UPSTREAM, false, &[]),
        PushPolicy::default(),
    );
    let (a, up, path) = up_registered(&mut h, 40001, 1).await;
    h.net.close(a);
    h.inject(up, &up_invite(&path, "z9hG4bKst1", "call-stale"))
        .await;
    assert_eq!(h.next().await.status(), Some(100));
    push.wait_for(1).await;
    // The registration's event, delivered only now, names the closed flow.
    let waker = h.waker.clone().expect("wake-up on");
    waker
        .on_registered(
            &h.proxy,
            "alice@example.com",
            INST1,
            a,
            tokio::time::Instant::now(),
        )
        .await;
    let out = h.drain(Duration::from_secs(1)).await;
    assert_eq!(
        count(&out, |m| m.status().is_some_and(|s| s >= 300)),
        0,
        "{out:?}"
    );
    assert_eq!(h.wake_stats().unwrap()["holding"].as_u64(), Some(1));
    // The real wake-up still delivers.
    let b = h.flow(TransportKind::Tcp, "127.0.0.2:40002");
    h.inject(b, &up_register(40002, 2, "")).await;
    let fwd = h.next().await;
    h.inject(fwd.flow, &up_ok(&fwd, 40002)).await;
    let out = h.drain(Duration::from_secs(2)).await;
    assert_eq!(count(&out, |m| m.method() == Some("INVITE")), 1, "{out:?}");
}

/// The manual's load-dependent levels: with the gateway at high load (wsload
/// 3), `level = 1` (and the default) does not push a call, `level = 2` does.
#[tokio::test(start_paused = true)]
async fn high_load_stops_level_1_call_pushes_but_not_level_2() {
    for (level, pushed) in [(1, false), (-1, false), (2, true)] {
        let policy = PushPolicy {
            level,
            ..PushPolicy::default()
        };
        let (mut h, _store, push) = wake_on(Harness::upstream_config(UPSTREAM, false, &[]), policy);
        let (a, up, path) = up_registered(&mut h, 40001, 1).await;
        h.net.close(a);
        h.net.load.store(3, std::sync::atomic::Ordering::Relaxed);
        h.inject(up, &up_invite(&path, "z9hG4bKld1", "call-load"))
            .await;
        let out = h.drain(Duration::from_secs(2)).await;
        if pushed {
            assert_eq!(push.wait_for(1).await.len(), 1, "level {level}");
        } else {
            // No push: the sleeping device is simply unreachable now.
            assert!(
                out.iter().any(|m| m.status() == Some(480)),
                "level {level}: {out:?}"
            );
            assert_eq!(push.all().len(), 0, "level {level}");
        }
    }
}

/// `cancel_when` 0: a cancel push only to devices that never took the
/// call; 1: also to the device that woke and rang (the push was sent).
#[tokio::test(start_paused = true)]
async fn cancel_when_1_also_cancel_pushes_the_device_that_woke_and_rang() {
    for (cancel_when, pushes_after_cancel) in [(0, 0), (1, 1)] {
        let policy = PushPolicy {
            cancel: 2,
            cancel_when,
            ..PushPolicy::default()
        };
        let (mut h, _store, push) = wake_on(Harness::upstream_config(UPSTREAM, false, &[]), policy);
        let (a, up, path) = up_registered(&mut h, 40001, 1).await;
        h.net.close(a);
        h.inject(up, &up_invite(&path, "z9hG4bKcw1", "call-w"))
            .await;
        assert_eq!(h.next().await.status(), Some(100));
        push.wait_for(1).await;
        // The app wakes, takes the INVITE and rings.
        let b = h.flow(TransportKind::Tcp, "127.0.0.2:40002");
        h.inject(b, &up_register(40002, 2, "")).await;
        let fwd = h.next().await;
        h.inject(fwd.flow, &up_ok(&fwd, 40002)).await;
        let out = h.drain(Duration::from_secs(1)).await;
        let inv = out
            .iter()
            .find(|m| m.method() == Some("INVITE"))
            .unwrap_or_else(|| panic!("no INVITE delivered: {out:?}"))
            .msg
            .clone();
        h.inject(b, &reply(&inv, 180, "Ringing", Some("dev"), ""))
            .await;
        let cancel = request(
            "CANCEL",
            "sip:alice@127.0.0.2:40001;transport=tcp",
            "SIP/2.0/UDP 127.0.0.9:5070;branch=z9hG4bKcw1",
            "\"Bob Caller\" <sip:bob@example.com>;tag=bb",
            "<sip:alice@example.com>",
            "call-w",
            1,
            &format!("Route: {path}\n"),
        );
        h.inject(up, &cancel).await;
        let out = h.drain(Duration::from_secs(2)).await;
        // The woken device gets the SIP CANCEL either way.
        assert_eq!(
            count(&out, |m| m.method() == Some("CANCEL")
                && m.dest == Destination::Flow(b)),
            1,
            "cancel_when {cancel_when}: {out:?}"
        );
        let sent = push.wait_for(1 + pushes_after_cancel).await;
        assert_eq!(
            sent.len(),
            1 + pushes_after_cancel,
            "cancel_when {cancel_when}"
        );
        if pushes_after_cancel == 1 {
            assert_eq!(sent[1].1.kind, NotificationKind::Cancel);
        }
    }
}

fn sa_register(port: u16, inst: &str, token: &str, cseq: u32) -> String {
    request(
        "REGISTER",
        "sip:127.0.0.1",
        &format!("SIP/2.0/TCP 127.0.0.2:{port};branch=z9hG4bKsr{port}x{cseq}"),
        &format!("<sip:alice@127.0.0.1>;tag=r{cseq}"),
        "<sip:alice@127.0.0.1>",
        &format!("reg-{inst}"),
        cseq,
        &format!(
            "Contact: <sip:alice@127.0.0.2:{port};transport=tcp>;+sip.instance=\"<{inst}>\"\nExpires: 600\n{}",
            mpush(token)
        ),
    )
}

async fn sa_registered(h: &mut Harness, port: u16, inst: &str, token: &str, cseq: u32) -> FlowId {
    let f = h.flow(TransportKind::Tcp, &format!("127.0.0.2:{port}"));
    h.inject(f, &sa_register(port, inst, token, cseq)).await;
    let out = h.drain(Duration::from_secs(1)).await;
    assert_eq!(
        count(&out, |m| m.status() == Some(200)
            && m.dest == Destination::Flow(f)),
        1,
        "{out:?}"
    );
    f
}

#[tokio::test(start_paused = true)]
async fn live_and_sleeping_devices_both_ring_first_2xx_wins_other_cancelled() {
    let (mut h, store, push) = wake_on(Config::default(), PushPolicy::default());
    let d1 = sa_registered(&mut h, 41001, INST1, "tok-1", 1).await;
    let d2 = sa_registered(&mut h, 41002, INST2, "tok-2", 1).await;
    assert_eq!(store.user("sip:alice@127.0.0.1").unwrap().len(), 2);
    h.net.close(d2); // device 2 sleeps; device 1 stays connected

    let bob = h.flow(TransportKind::Udp, "127.0.0.3:5060");
    let inv = request(
        "INVITE",
        "sip:alice@127.0.0.1",
        "SIP/2.0/UDP 127.0.0.3:5060;branch=z9hG4bKsi1;rport",
        "<sip:bob@127.0.0.1>;tag=bt",
        "<sip:alice@127.0.0.1>",
        "call-f",
        1,
        "Contact: <sip:bob@127.0.0.3:5060>\n",
    );
    h.inject(bob, &inv).await;
    assert_eq!(h.next().await.status(), Some(100));
    let to_d1 = h.next().await;
    assert_eq!(
        (to_d1.method(), to_d1.dest.clone()),
        (Some("INVITE"), Destination::Flow(d1))
    );
    let pushes = push.wait_for(1).await;
    assert_eq!(pushes.len(), 1, "the live device is not pushed");
    assert_eq!(pushes[0].0, format!("instance:{INST2}"));
    h.inject(d1, &reply(&to_d1.msg, 180, "Ringing", Some("d1"), ""))
        .await;
    assert_eq!(h.next().await.status(), Some(180));

    // Device 2 wakes and registers on a new connection.
    let d2b = h.flow(TransportKind::Tcp, "127.0.0.2:41003");
    h.inject(d2b, &sa_register(41003, INST2, "tok-2", 2)).await;
    let out = h.drain(Duration::from_secs(1)).await;
    let to_d2: Vec<&Sent> = out
        .iter()
        .filter(|m| m.method() == Some("INVITE"))
        .collect();
    assert_eq!(to_d2.len(), 1, "{out:?}");
    assert_eq!(to_d2[0].dest, Destination::Flow(d2b));
    assert_eq!(
        to_d2[0].msg.request_uri(),
        Some("sip:alice@127.0.0.2:41003;transport=tcp")
    );
    let to_d2 = to_d2[0].msg.clone();

    h.inject(
        d2b,
        &reply(
            &to_d2,
            200,
            "OK",
            Some("d2"),
            "Contact: <sip:alice@127.0.0.2:41003;transport=tcp>\n",
        ),
    )
    .await;
    let out = h.drain(Duration::from_secs(1)).await;
    assert_eq!(
        count(&out, |m| m.status() == Some(200)
            && m.dest == Destination::Flow(bob)),
        1,
        "{out:?}"
    );
    let cancels: Vec<&Sent> = out
        .iter()
        .filter(|m| m.method() == Some("CANCEL"))
        .collect();
    assert_eq!(cancels.len(), 1, "{out:?}");
    assert_eq!(cancels[0].dest, Destination::Flow(d1));
    assert_eq!(
        cancels[0].msg.header("Reason"),
        Some("SIP;cause=200;text=\"Call completed elsewhere\"")
    );
}

#[tokio::test(start_paused = true)]
async fn message_to_a_sleeping_device_is_accepted_pushed_and_delivered_once() {
    let (mut h, _store, push) = wake_on(Config::default(), PushPolicy::default());
    let d = sa_registered(&mut h, 41001, INST1, "tok-1", 1).await;
    h.net.close(d);

    let bob = h.flow(TransportKind::Udp, "127.0.0.3:5060");
    let text = "héllo, are you there?";
    let msg = format!(
        "MESSAGE sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:5060;branch=z9hG4bKsm1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1>;tag=bm\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: chat-1\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
        text.len()
    );
    h.inject(bob, &msg).await;
    let acc = h.next().await;
    assert_eq!(
        (acc.status(), acc.dest.clone()),
        (Some(202), Destination::Flow(bob))
    );
    let pushes = push.wait_for(1).await;
    assert_eq!(pushes[0].1.kind, NotificationKind::Chat);
    assert_eq!(pushes[0].1.msg, text);

    let d2 = h.flow(TransportKind::Tcp, "127.0.0.2:41009");
    h.inject(d2, &sa_register(41009, INST1, "tok-1", 2)).await;
    let out = h.drain(Duration::from_secs(1)).await;
    let msgs: Vec<&Sent> = out
        .iter()
        .filter(|m| m.method() == Some("MESSAGE"))
        .collect();
    assert_eq!(msgs.len(), 1, "{out:?}");
    assert_eq!(msgs[0].dest, Destination::Flow(d2));
    assert_eq!(&msgs[0].msg.body()[..], text.as_bytes());
    let delivered = msgs[0].msg.clone();

    // The device's 200 is absorbed (the sender already has its 202).
    h.inject(d2, &reply(&delivered, 200, "OK", Some("dm"), ""))
        .await;
    // A refresh delivers nothing more.
    h.inject(d2, &sa_register(41009, INST1, "tok-1", 3)).await;
    let out = h.drain(Duration::from_secs(70)).await;
    assert_eq!(count(&out, |m| m.method() == Some("MESSAGE")), 0, "{out:?}");
    assert_eq!(
        count(&out, |m| m.dest == Destination::Flow(bob)),
        0,
        "{out:?}"
    );
    assert_eq!(push.all().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn unknown_users_still_get_404_and_offline_users_without_push_480() {
    let (mut h, _store, push) = wake_on(Config::default(), PushPolicy::default());
    let bob = h.flow(TransportKind::Udp, "127.0.0.3:5060");
    let inv = |user: &str, branch: &str| {
        request(
            "INVITE",
            &format!("sip:{user}@127.0.0.1"),
            &format!("SIP/2.0/UDP 127.0.0.3:5060;branch={branch};rport"),
            "<sip:bob@127.0.0.1>;tag=bt",
            &format!("<sip:{user}@127.0.0.1>"),
            branch,
            1,
            "",
        )
    };
    h.inject(bob, &inv("nobody", "z9hG4bKu1")).await;
    assert_eq!(h.next().await.status(), Some(100));
    assert_eq!(h.next().await.status(), Some(404));

    // carol registered without push data, then her connection dropped.
    let c = h.flow(TransportKind::Tcp, "127.0.0.4:5060");
    h.inject(
        c,
        &request(
            "REGISTER",
            "sip:127.0.0.1",
            "SIP/2.0/TCP 127.0.0.4:5060;branch=z9hG4bKcr1",
            "<sip:carol@127.0.0.1>;tag=c1",
            "<sip:carol@127.0.0.1>",
            "reg-carol",
            1,
            "Contact: <sip:carol@127.0.0.4:5060;transport=tcp>\nExpires: 600\n",
        ),
    )
    .await;
    assert_eq!(h.next().await.status(), Some(200));
    h.net.close(c);
    h.inject(bob, &inv("carol", "z9hG4bKu2")).await;
    assert_eq!(h.next().await.status(), Some(100));
    assert_eq!(h.next().await.status(), Some(480));
    assert!(push.all().is_empty());
}

#[tokio::test(start_paused = true)]
async fn ringing_on_push_sends_180_once_the_push_is_out() {
    let policy = PushPolicy {
        ringing_on_push: true,
        ..PushPolicy::default()
    };
    let (mut h, _store, push) = wake_on(Harness::upstream_config(UPSTREAM, false, &[]), policy);
    let (a, up, path) = up_registered(&mut h, 40001, 1).await;
    h.net.close(a);
    h.inject(up, &up_invite(&path, "z9hG4bKwr1", "call-r"))
        .await;
    assert_eq!(h.next().await.status(), Some(100));
    let ringing = h.next().await;
    assert_eq!(
        (ringing.status(), ringing.dest.clone()),
        (Some(180), Destination::Flow(up))
    );
    assert!(
        ringing.msg.to().unwrap().tag().is_some(),
        "180 carries a To tag"
    );
    assert_eq!(push.all().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_push_ends_the_held_branch_at_once() {
    let (mut h, _store, push) = wake_on(
        Harness::upstream_config(UPSTREAM, false, &[]),
        PushPolicy::default(),
    );
    push.fail.store(true, Ordering::Relaxed);
    let (a, up, path) = up_registered(&mut h, 40001, 1).await;
    h.net.close(a);
    let start = tokio::time::Instant::now();
    h.inject(up, &up_invite(&path, "z9hG4bKwf1", "call-x"))
        .await;
    assert_eq!(h.next().await.status(), Some(100));
    let fin = h.next().await;
    assert_eq!(fin.status(), Some(480));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "no wait for a device that cannot be woken"
    );
    let stats = h.wake_stats().unwrap();
    assert_eq!(
        (stats["push_failed"].as_u64(), stats["holding"].as_u64()),
        (Some(1), Some(0)),
        "{stats}"
    );
}

fn sa_invite(call_id: &str, branch: &str) -> String {
    request(
        "INVITE",
        "sip:alice@127.0.0.1",
        &format!("SIP/2.0/UDP 127.0.0.3:5060;branch={branch};rport"),
        "<sip:bob@127.0.0.1>;tag=bt",
        "<sip:alice@127.0.0.1>",
        call_id,
        1,
        "Contact: <sip:bob@127.0.0.3:5060>\n",
    )
}

#[tokio::test(start_paused = true)]
async fn a_busy_live_device_does_not_end_the_call_while_another_wakes() {
    let (mut h, _store, push) = wake_on(Config::default(), PushPolicy::default());
    let d1 = sa_registered(&mut h, 41001, INST1, "tok-1", 1).await;
    let d2 = sa_registered(&mut h, 41002, INST2, "tok-2", 1).await;
    h.net.close(d2);
    let bob = h.flow(TransportKind::Udp, "127.0.0.3:5060");
    h.inject(bob, &sa_invite("call-b", "z9hG4bKsb1")).await;
    assert_eq!(h.next().await.status(), Some(100));
    let to_d1 = h.next().await;
    assert_eq!(to_d1.dest, Destination::Flow(d1));
    push.wait_for(1).await;
    h.inject(d1, &reply(&to_d1.msg, 486, "Busy Here", Some("d1"), ""))
        .await;
    let out = h.drain(Duration::from_secs(2)).await;
    assert_eq!(
        count(&out, |m| m.dest == Destination::Flow(bob)),
        0,
        "486 held back while device 2 may wake: {out:?}"
    );

    let d2b = h.flow(TransportKind::Tcp, "127.0.0.2:41003");
    h.inject(d2b, &sa_register(41003, INST2, "tok-2", 2)).await;
    let out = h.drain(Duration::from_secs(1)).await;
    let inv = out
        .iter()
        .find(|m| m.method() == Some("INVITE"))
        .expect("INVITE delivered")
        .msg
        .clone();
    h.inject(
        d2b,
        &reply(
            &inv,
            200,
            "OK",
            Some("d2"),
            "Contact: <sip:alice@127.0.0.2:41003;transport=tcp>\n",
        ),
    )
    .await;
    let ok = h.next().await;
    assert_eq!(
        (ok.status(), ok.dest.clone()),
        (Some(200), Destination::Flow(bob))
    );
}

#[tokio::test(start_paused = true)]
async fn a_device_without_instance_is_woken_at_its_new_address() {
    let (mut h, store, push) = wake_on(Config::default(), PushPolicy::default());
    let reg = |port: u16, cseq: u32| {
        request(
            "REGISTER",
            "sip:127.0.0.1",
            &format!("SIP/2.0/TCP 127.0.0.2:{port};branch=z9hG4bKtr{cseq}"),
            &format!("<sip:alice@127.0.0.1>;tag=r{cseq}"),
            "<sip:alice@127.0.0.1>",
            "reg-token-dev",
            cseq,
            &format!(
                "Contact: <sip:alice@127.0.0.2:{port};transport=tcp>\nExpires: 600\n{}",
                mpush("tok-plain")
            ),
        )
    };
    let a = h.flow(TransportKind::Tcp, "127.0.0.2:41001");
    h.inject(a, &reg(41001, 1)).await;
    assert_eq!(h.next().await.status(), Some(200));
    assert_eq!(
        store.user("sip:alice@127.0.0.1").unwrap()[0].device,
        "token:a:tok-plain"
    );
    h.net.close(a);
    let bob = h.flow(TransportKind::Udp, "127.0.0.3:5060");
    h.inject(bob, &sa_invite("call-tok", "z9hG4bKst1")).await;
    assert_eq!(h.next().await.status(), Some(100));
    assert_eq!(push.wait_for(1).await[0].0, "token:a:tok-plain");

    // New address, new Contact, no instance: still the same device.
    let b = h.flow(TransportKind::Tcp, "127.0.0.2:41005");
    for cseq in [2, 3] {
        h.inject(b, &reg(41005, cseq)).await;
    }
    let out = h.drain(Duration::from_secs(2)).await;
    let invites: Vec<&Sent> = out
        .iter()
        .filter(|m| m.method() == Some("INVITE"))
        .collect();
    assert_eq!(invites.len(), 1, "{out:?}");
    assert_eq!(invites[0].dest, Destination::Flow(b));
    assert_eq!(
        invites[0].msg.request_uri(),
        Some("sip:alice@127.0.0.2:41005;transport=tcp")
    );
}

/// The app came back from a new address and the upstream still has its old
/// Contact too: both carry our Path token, so the upstream forks one INVITE
/// into two branches for the same device. The device rings once; the
/// second copy gets 482 (merged request, RFC 3261 §8.2.2.2) — whether the
/// device is awake or asleep.
#[tokio::test(start_paused = true)]
async fn two_forks_to_one_registration_ring_the_device_once() {
    let (mut h, _store, push) = wake_on(
        Harness::upstream_config(UPSTREAM, false, &[]),
        PushPolicy::default(),
    );
    let (a, up, path) = up_registered(&mut h, 40001, 1).await;
    let second = |branch: &str, call_id: &str| {
        up_invite(&path, branch, call_id).replace(
            "INVITE sip:alice@127.0.0.2:40001;transport=tcp",
            "INVITE sip:alice@127.0.0.2:39999;transport=tcp",
        )
    };

    // Awake: one INVITE to the device, 482 upstream for the other fork.
    h.inject(up, &up_invite(&path, "z9hG4bKfk1", "call-fk"))
        .await;
    h.inject(up, &second("z9hG4bKfk2", "call-fk")).await;
    let out = h.drain(Duration::from_secs(2)).await;
    assert_eq!(
        count(&out, |m| m.method() == Some("INVITE")
            && m.dest == Destination::Flow(a)),
        1,
        "{out:?}"
    );
    // (A 482 over UDP is retransmitted until the upstream ACKs it.)
    let merged_for = |out: &[Sent], branch: &str| {
        count(out, |m| {
            m.status() == Some(482)
                && m.dest == Destination::Flow(up)
                && m.msg.top_via().unwrap().branch() == Some(branch)
        })
    };
    assert!(merged_for(&out, "z9hG4bKfk2") >= 1, "{out:?}");
    assert_eq!(merged_for(&out, "z9hG4bKfk1"), 0, "{out:?}");
    // A retransmission of the first fork is absorbed, not merged.
    h.inject(up, &up_invite(&path, "z9hG4bKfk1", "call-fk"))
        .await;
    let out = h.drain(Duration::from_secs(1)).await;
    assert_eq!(merged_for(&out, "z9hG4bKfk1"), 0, "{out:?}");

    // Asleep: one hold and one push, not two.
    h.net.close(a);
    h.inject(up, &up_invite(&path, "z9hG4bKfk3", "call-fk2"))
        .await;
    h.inject(up, &second("z9hG4bKfk4", "call-fk2")).await;
    let out = h.drain(Duration::from_secs(3)).await;
    assert!(merged_for(&out, "z9hG4bKfk4") >= 1, "{out:?}");
    assert_eq!(merged_for(&out, "z9hG4bKfk3"), 0, "{out:?}");
    assert_eq!(push.wait_for(1).await.len(), 1);
    let out = h.drain(Duration::from_secs(1)).await;
    assert_eq!(count(&out, |m| m.method() == Some("INVITE")), 0, "{out:?}");
    assert_eq!(push.all().len(), 1, "one push for the two forks");
}

/// Standalone mode: a woken device gets its REGISTER's 200 OK before the
/// held INVITE (the registration is announced only after the 200 went out,
/// as in upstream mode).
#[tokio::test(start_paused = true)]
async fn standalone_woken_device_gets_its_200_ok_before_the_held_invite() {
    let (mut h, _store, push) = wake_on(Config::default(), PushPolicy::default());
    let d = sa_registered(&mut h, 41001, INST1, "tok-1", 1).await;
    h.net.close(d);
    let bob = h.flow(TransportKind::Udp, "127.0.0.3:5060");
    h.inject(bob, &sa_invite("call-order", "z9hG4bKord1")).await;
    assert_eq!(h.next().await.status(), Some(100));
    push.wait_for(1).await;

    let d2 = h.flow(TransportKind::Tcp, "127.0.0.2:41009");
    h.inject(d2, &sa_register(41009, INST1, "tok-1", 2)).await;
    let out = h.drain(Duration::from_secs(1)).await;
    let to_d2: Vec<&Sent> = out
        .iter()
        .filter(|m| m.dest == Destination::Flow(d2))
        .collect();
    assert_eq!(to_d2.len(), 2, "{out:?}");
    assert_eq!(to_d2[0].status(), Some(200), "200 OK first: {out:?}");
    assert_eq!(
        to_d2[1].method(),
        Some("INVITE"),
        "then the INVITE: {out:?}"
    );
}

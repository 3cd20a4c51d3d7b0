//! The gateway as a standalone registrar (no upstream): digest auth from its
//! users file, calls and messages between clients registered at it.

use std::time::Duration;

use sipwake_e2e::client::SipClient;
use sipwake_e2e::gateway::{Gateway, Mode};
use sipwake_e2e::sipp::{Sipp, Transport};
use sipwake_e2e::{REALM, password};

#[test]
fn sipp_register_401_then_200() {
    let gw = Gateway::start(Mode::Standalone).unwrap();
    let port = sipwake_e2e::util::free_port().unwrap();
    Sipp::register(gw.sip_addr(), "alice", port, Transport::Udp)
        .map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
}

#[test]
fn sipp_wrong_password_is_refused() {
    let gw = Gateway::start(Mode::Standalone).unwrap();
    let err = Sipp::uac("register", gw.sip_addr())
        .user("alice", "wrong")
        .timeout(Duration::from_secs(5))
        .run()
        .expect_err("wrong password registered");
    assert!(err.to_string().contains("401"), "{err}");
}

/// alice (SIPp, UDP) calls bob (SIPp UAS, UDP); both registered at the gateway.
#[test]
fn two_sipp_clients_call_each_other() {
    let gw = Gateway::start(Mode::Standalone).unwrap();
    let uas = Sipp::registered_uas(gw.sip_addr(), "bob", "uas_call", Transport::Udp).unwrap();
    let port = sipwake_e2e::util::free_port().unwrap();
    Sipp::register(gw.sip_addr(), "alice", port, Transport::Udp).unwrap();
    let res = Sipp::uac("uac_call", gw.sip_addr())
        .port(port)
        .user("alice", password("alice"))
        .callee("bob")
        .run();
    res.map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    uas.wait().unwrap();
}

/// A Rust TCP client registers as bob and receives alice's call from a SIPp
/// UAC on UDP (registered first from the same port: the standalone gateway
/// only serves registered clients): the gateway routes to bob's connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_client_receives_call_from_udp_client() {
    let gw = tokio::task::spawn_blocking(|| Gateway::start(Mode::Standalone).unwrap())
        .await
        .unwrap();
    let mut bob = SipClient::tcp(gw.sip_addr(), "bob", REALM).await.unwrap();
    let ok = bob.register(password("bob"), 600, &[]).await.unwrap();
    assert_eq!(ok.status(), Some(200), "{ok:?}\n{}", gw.failure("log"));
    let addr = gw.sip_addr();
    let caller = tokio::task::spawn_blocking(move || {
        let port = sipwake_e2e::util::free_port()?;
        Sipp::register(addr, "alice", port, Transport::Udp)?;
        Sipp::uac("uac_call", addr)
            .port(port)
            .user("alice", password("alice"))
            .callee("bob")
            .run()
    });
    let invite = bob
        .answer_call()
        .await
        .map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    caller
        .await
        .unwrap()
        .map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    assert!(invite.start.starts_with("INVITE "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_between_two_rust_clients() {
    let gw = tokio::task::spawn_blocking(|| Gateway::start(Mode::Standalone).unwrap())
        .await
        .unwrap();
    let mut bob = SipClient::udp(gw.sip_addr(), "bob", REALM).await.unwrap();
    assert_eq!(
        bob.register(password("bob"), 600, &[])
            .await
            .unwrap()
            .status(),
        Some(200)
    );
    let mut alice = SipClient::tcp(gw.sip_addr(), "alice", REALM).await.unwrap();
    assert_eq!(
        alice
            .register(password("alice"), 600, &[])
            .await
            .unwrap()
            .status(),
        Some(200)
    );
    let send = tokio::spawn(async move {
        alice
            .send_request(
                "MESSAGE",
                "bob",
                &["Content-Type: text/plain".into()],
                "hi bob",
            )
            .await
    });
    let got = bob
        .answer_message()
        .await
        .map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    let resp = send.await.unwrap().unwrap();
    assert_eq!(got.body_text(), "hi bob");
    assert_eq!(resp.status(), Some(200), "{resp:?}");
}

/// The standalone gateway serves registered clients only: an unregistered
/// sender is refused, and a registered one messaging a user who is not
/// registered gets 404/480, not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_to_unregistered_user_fails_cleanly() {
    let gw = tokio::task::spawn_blocking(|| Gateway::start(Mode::Standalone).unwrap())
        .await
        .unwrap();
    let mut alice = SipClient::udp(gw.sip_addr(), "alice", REALM).await.unwrap();
    let ct = ["Content-Type: text/plain".to_string()];
    let resp = alice
        .send_request("MESSAGE", "carol", &ct, "x")
        .await
        .unwrap();
    assert!(
        matches!(resp.status(), Some(401 | 403 | 407)),
        "unregistered sender: {resp:?}"
    );
    let ok = alice.register(password("alice"), 600, &[]).await.unwrap();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let resp = alice
        .send_request("MESSAGE", "carol", &ct, "x")
        .await
        .unwrap();
    assert!(matches!(resp.status(), Some(404 | 480)), "{resp:?}");
}

async fn standalone() -> Gateway {
    tokio::task::spawn_blocking(|| Gateway::start(Mode::Standalone).unwrap())
        .await
        .unwrap()
}

/// bob on two devices (UDP and TCP): alice's INVITE is forked to both; the
/// first answers, the other, still ringing, gets a CANCEL (answered 200, its
/// INVITE 487, then ACKed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_forks_to_every_binding_and_cancels_the_loser() {
    let gw = standalone().await;
    let mut phone = SipClient::udp(gw.sip_addr(), "bob", REALM).await.unwrap();
    assert_eq!(
        phone
            .register(password("bob"), 600, &[])
            .await
            .unwrap()
            .status(),
        Some(200)
    );
    let mut tablet = SipClient::tcp(gw.sip_addr(), "bob", REALM).await.unwrap();
    let ok = tablet.register(password("bob"), 600, &[]).await.unwrap();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.header_all("Contact")
            .iter()
            .map(|c| c.split(',').count())
            .sum::<usize>(),
        2,
        "{ok:?}"
    );

    let mut alice = SipClient::udp(gw.sip_addr(), "alice", REALM).await.unwrap();
    assert_eq!(
        alice
            .register(password("alice"), 600, &[])
            .await
            .unwrap()
            .status(),
        Some(200)
    );
    let call = tokio::spawn(async move { alice.call("bob").await });

    // The tablet rings and waits.
    let invite = tablet
        .recv_until("INVITE", |m| m.method() == Some("INVITE"))
        .await
        .unwrap();
    let tag = "tablet-tag";
    tablet
        .send_raw(invite.response(180, "Ringing", Some(tag), &[]).as_bytes())
        .await
        .unwrap();
    // The phone answers (and later gets the BYE).
    let answered = tokio::spawn(async move { phone.answer_call().await });

    let cancel = tablet
        .recv_until("CANCEL", |m| m.method() == Some("CANCEL"))
        .await
        .map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    tablet
        .send_raw(cancel.response(200, "OK", Some(tag), &[]).as_bytes())
        .await
        .unwrap();
    tablet
        .send_raw(
            invite
                .response(487, "Request Terminated", Some(tag), &[])
                .as_bytes(),
        )
        .await
        .unwrap();
    tablet
        .recv_until("ACK", |m| m.method() == Some("ACK"))
        .await
        .unwrap();

    answered
        .await
        .unwrap()
        .map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    let ok = call
        .await
        .unwrap()
        .map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    assert_eq!(ok.status(), Some(200));
}

/// A registration whose connection is gone: requests for it get 480 (the
/// push wake-up seam), not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_user_without_live_flow_gets_480() {
    let gw = standalone().await;
    let mut bob = SipClient::tcp(gw.sip_addr(), "bob", REALM).await.unwrap();
    assert_eq!(
        bob.register(password("bob"), 600, &[])
            .await
            .unwrap()
            .status(),
        Some(200)
    );
    drop(bob);
    let mut alice = SipClient::udp(gw.sip_addr(), "alice", REALM).await.unwrap();
    assert_eq!(
        alice
            .register(password("alice"), 600, &[])
            .await
            .unwrap()
            .status(),
        Some(200)
    );
    let ct = ["Content-Type: text/plain".to_string()];
    // The close is noticed asynchronously: poll within a deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let resp = alice
            .send_request("MESSAGE", "bob", &ct, "wake up")
            .await
            .unwrap();
        if resp.status() == Some(480) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {resp:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Expires below `registrar.min_expires` (60): 423 with Min-Expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_short_expires_gets_423_with_min_expires() {
    let gw = standalone().await;
    let mut bob = SipClient::udp(gw.sip_addr(), "bob", REALM).await.unwrap();
    let resp = bob.register(password("bob"), 10, &[]).await.unwrap();
    assert_eq!(resp.status(), Some(423), "{resp:?}");
    assert_eq!(resp.header("Min-Expires"), Some("60"), "{resp:?}");
}

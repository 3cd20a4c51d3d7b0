//! The harness proven against real peers only: SIPp against Kamailio, no
//! gateway. If these fail, gateway test failures say nothing about the gateway.

use std::time::Duration;

use sipwake_e2e::kamailio::Kamailio;
use sipwake_e2e::sipp::{Sipp, Transport};
use sipwake_e2e::{password, util};

fn register(k: &Kamailio, user: &str, port: u16, t: Transport) -> Result<(), sipwake_e2e::Error> {
    Sipp::uac("register", k.addr())
        .transport(t)
        .port(port)
        .user(user, password(user))
        .run()
}

#[test]
fn register_401_then_200_over_udp() {
    let k = Kamailio::start().unwrap();
    register(&k, "alice", util::free_port().unwrap(), Transport::Udp).unwrap();
}

#[test]
fn register_401_then_200_over_tcp() {
    let k = Kamailio::start().unwrap();
    register(&k, "alice", util::free_port().unwrap(), Transport::Tcp).unwrap();
}

#[test]
fn register_with_wrong_password_fails() {
    let k = Kamailio::start().unwrap();
    let res = Sipp::uac("register", k.addr())
        .port(util::free_port().unwrap())
        .user("alice", "not-the-password")
        .timeout(Duration::from_secs(5))
        .run();
    let err = res
        .expect_err("a wrong password must not register")
        .to_string();
    // Kamailio challenges again instead of answering 200.
    assert!(err.contains("401"), "{err}");
}

/// bob registers from `port`, then a SIPp UAS takes over that port.
fn registered_uas(k: &Kamailio, scenario: &str, t: Transport) -> sipwake_e2e::sipp::SippRun {
    let port = util::free_port().unwrap();
    register(k, "bob", port, t).unwrap();
    Sipp::uas(scenario).transport(t).port(port).spawn().unwrap()
}

#[test]
fn call_through_kamailio_udp() {
    let k = Kamailio::start().unwrap();
    let uas = registered_uas(&k, "uas_call", Transport::Udp);
    Sipp::uac("uac_call", k.addr())
        .user("alice", password("alice"))
        .callee("bob")
        .run()
        .unwrap();
    uas.wait().unwrap();
}

#[test]
fn call_through_kamailio_tcp() {
    let k = Kamailio::start().unwrap();
    let uas = registered_uas(&k, "uas_call", Transport::Tcp);
    Sipp::uac("uac_call", k.addr())
        .transport(Transport::Tcp)
        .user("alice", password("alice"))
        .callee("bob")
        .run()
        .unwrap();
    uas.wait().unwrap();
}

#[test]
fn message_through_kamailio() {
    let k = Kamailio::start().unwrap();
    let uas = registered_uas(&k, "uas_message", Transport::Udp);
    Sipp::uac("uac_message", k.addr())
        .user("alice", password("alice"))
        .callee("bob")
        .run()
        .unwrap();
    uas.wait().unwrap();
}

#[test]
fn cancel_of_ringing_call_through_kamailio() {
    let k = Kamailio::start().unwrap();
    let uas = registered_uas(&k, "uas_cancel", Transport::Udp);
    Sipp::uac("uac_cancel", k.addr())
        .user("alice", password("alice"))
        .callee("bob")
        .run()
        .unwrap();
    uas.wait().unwrap();
}

/// A caller Kamailio does not know is not challenged: this takes the
/// scenarios' no-challenge path (the one a non-challenging proxy exercises).
#[test]
fn call_and_message_without_challenge() {
    let k = Kamailio::start().unwrap();
    let uas = registered_uas(&k, "uas_call", Transport::Udp);
    Sipp::uac("uac_call", k.addr())
        .user("zed", "none")
        .callee("bob")
        .run()
        .unwrap();
    uas.wait().unwrap();
    let uas = registered_uas(&k, "uas_message", Transport::Udp);
    Sipp::uac("uac_message", k.addr())
        .user("zed", "none")
        .callee("bob")
        .run()
        .unwrap();
    uas.wait().unwrap();
    let uas = registered_uas(&k, "uas_cancel", Transport::Udp);
    Sipp::uac("uac_cancel", k.addr())
        .user("zed", "none")
        .callee("bob")
        .run()
        .unwrap();
    uas.wait().unwrap();
}

/// Kamailio challenges calls from its users (407): wrong credentials never
/// get through to the callee.
#[test]
fn call_with_wrong_credentials_is_refused() {
    let k = Kamailio::start().unwrap();
    let err = Sipp::uac("uac_call", k.addr())
        .user("alice", "wrong")
        .callee("bob")
        .timeout(Duration::from_secs(5))
        .run()
        .expect_err("call with a wrong password went through");
    assert!(err.to_string().contains("407"), "{err}");
}

#[test]
fn call_to_unregistered_user_is_480_and_unknown_user_404() {
    let k = Kamailio::start().unwrap();
    // carol exists but is not registered; the MESSAGE scenario expects 200, so it fails.
    let err = Sipp::uac("uac_message", k.addr())
        .user("alice", password("alice"))
        .callee("carol")
        .timeout(Duration::from_secs(5))
        .run()
        .expect_err("nobody registered as carol");
    assert!(err.to_string().contains("480"), "{err}");
    let err = Sipp::uac("uac_message", k.addr())
        .user("alice", password("alice"))
        .callee("nobody")
        .timeout(Duration::from_secs(5))
        .run()
        .expect_err("no such user");
    assert!(err.to_string().contains("404"), "{err}");
}

/// The Rust test UA against Kamailio alone: digest REGISTER over TCP, a call
/// from SIPp answered on the same connection, and a MESSAGE sent with a 407
/// challenge answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_registers_answers_call_and_sends_message() {
    use sipwake_e2e::REALM;
    use sipwake_e2e::client::SipClient;
    let k = tokio::task::spawn_blocking(|| Kamailio::start().unwrap())
        .await
        .unwrap();
    let mut bob = SipClient::tcp(k.addr(), "bob", REALM).await.unwrap();
    let ok = bob.register(password("bob"), 600, &[]).await.unwrap();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let kaddr = k.addr();
    let caller = tokio::task::spawn_blocking(move || {
        Sipp::uac("uac_call", kaddr)
            .user("alice", password("alice"))
            .callee("bob")
            .run()
    });
    let invite = bob.answer_call().await.unwrap();
    caller.await.unwrap().unwrap();
    assert!(
        invite.header("Record-Route").is_some(),
        "Kamailio record-routes: {invite:?}"
    );

    let mut alice = SipClient::udp(k.addr(), "alice", REALM).await.unwrap();
    alice.password = Some(password("alice").to_string());
    let send = tokio::spawn(async move {
        alice
            .send_request("MESSAGE", "bob", &["Content-Type: text/plain".into()], "hi")
            .await
    });
    let got = bob.answer_message().await;
    if got.is_err() {
        panic!(
            "{got:?}; sender: {:?}\n{}",
            send.await,
            sipwake_e2e::util::tail(&k.log(), 30)
        );
    }
    assert_eq!(got.unwrap().body_text(), "hi");
    assert_eq!(send.await.unwrap().unwrap().status(), Some(200));
}

/// The Rust UA as caller: INVITE challenged (407), retried with credentials,
/// answered by a SIPp UAS, ACK and BYE along the Record-Route set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_places_call_with_challenge() {
    use sipwake_e2e::REALM;
    use sipwake_e2e::client::SipClient;
    let (k, uas) = tokio::task::spawn_blocking(|| {
        let k = Kamailio::start().unwrap();
        let uas = registered_uas(&k, "uas_call", Transport::Udp);
        (k, uas)
    })
    .await
    .unwrap();
    let mut alice = SipClient::tcp(k.addr(), "alice", REALM).await.unwrap();
    alice.password = Some(password("alice").to_string());
    let ok = alice.call("bob").await.unwrap();
    assert!(ok.header("Record-Route").is_some(), "{ok:?}");
    tokio::task::spawn_blocking(move || uas.wait())
        .await
        .unwrap()
        .unwrap();
}

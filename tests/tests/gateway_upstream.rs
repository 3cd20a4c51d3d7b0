//! The gateway in upstream mode between SIPp UAs and a real Kamailio:
//! registration with digest through the gateway (Path), calls, MESSAGE and
//! CANCEL in both directions.

use sipwake_e2e::gateway::{Gateway, Mode};
use sipwake_e2e::kamailio::Kamailio;
use sipwake_e2e::sipp::{Sipp, Transport};
use sipwake_e2e::{password, util};

fn setup(upstream_transport: &str) -> (Kamailio, Gateway) {
    let k = Kamailio::start().unwrap();
    let gw = Gateway::start(Mode::Upstream(k.uri(upstream_transport))).unwrap();
    (k, gw)
}

#[test]
fn register_401_then_200_through_gateway_over_udp() {
    let (_k, gw) = setup("udp");
    Sipp::register(
        gw.sip_addr(),
        "alice",
        util::free_port().unwrap(),
        Transport::Udp,
    )
    .map_err(|e| format!("{e}\n{}", gw.failure("log")))
    .unwrap();
}

#[test]
fn register_401_then_200_through_gateway_over_tcp() {
    let (_k, gw) = setup("udp");
    Sipp::register(
        gw.sip_addr(),
        "alice",
        util::free_port().unwrap(),
        Transport::Tcp,
    )
    .map_err(|e| format!("{e}\n{}", gw.failure("log")))
    .unwrap();
}

#[test]
fn register_through_gateway_to_tcp_upstream() {
    let (_k, gw) = setup("tcp");
    Sipp::register(
        gw.sip_addr(),
        "alice",
        util::free_port().unwrap(),
        Transport::Udp,
    )
    .map_err(|e| format!("{e}\n{}", gw.failure("log")))
    .unwrap();
}

/// With a TCP upstream, Kamailio reaches the client through the gateway over
/// TCP (the Path the gateway added names transport=tcp).
#[test]
fn call_from_kamailio_over_tcp_upstream() {
    let (k, gw) = setup("tcp");
    let uas = Sipp::registered_uas(gw.sip_addr(), "bob", "uas_call", Transport::Udp).unwrap();
    let res = Sipp::uac("uac_call", k.addr())
        .user("alice", password("alice"))
        .callee("bob")
        .run();
    res.map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    uas.wait().unwrap();
}

/// The gateway must not turn a wrong password into a registration.
#[test]
fn wrong_password_through_gateway_is_refused() {
    let (_k, gw) = setup("udp");
    let err = Sipp::uac("register", gw.sip_addr())
        .user("alice", "wrong")
        .timeout(std::time::Duration::from_secs(5))
        .run()
        .expect_err("wrong password registered");
    assert!(err.to_string().contains("401"), "{err}");
}

/// UAC at Kamailio calls bob, who registered through the gateway: the INVITE
/// follows the stored Path back through the gateway.
#[test]
fn call_from_kamailio_to_uas_registered_via_gateway() {
    let (k, gw) = setup("udp");
    let uas = Sipp::registered_uas(gw.sip_addr(), "bob", "uas_call", Transport::Udp).unwrap();
    let res = Sipp::uac("uac_call", k.addr())
        .user("alice", password("alice"))
        .callee("bob")
        .run();
    res.map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    uas.wait().unwrap();
}

#[test]
fn message_from_kamailio_to_uas_registered_via_gateway() {
    let (k, gw) = setup("udp");
    let uas = Sipp::registered_uas(gw.sip_addr(), "bob", "uas_message", Transport::Udp).unwrap();
    let res = Sipp::uac("uac_message", k.addr())
        .user("alice", password("alice"))
        .callee("bob")
        .run();
    res.map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    uas.wait().unwrap();
}

#[test]
fn cancel_from_kamailio_to_uas_registered_via_gateway() {
    let (k, gw) = setup("udp");
    let uas = Sipp::registered_uas(gw.sip_addr(), "bob", "uas_cancel", Transport::Udp).unwrap();
    let res = Sipp::uac("uac_cancel", k.addr())
        .user("alice", password("alice"))
        .callee("bob")
        .run();
    res.map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    uas.wait().unwrap();
}

/// Reverse direction: UAC sends through the gateway, Kamailio routes to bob
/// registered directly at Kamailio.
#[test]
fn call_via_gateway_to_uas_registered_at_kamailio() {
    let (k, gw) = setup("udp");
    let uas = Sipp::registered_uas(k.addr(), "bob", "uas_call", Transport::Udp).unwrap();
    let res = Sipp::uac("uac_call", gw.sip_addr())
        .user("alice", password("alice"))
        .callee("bob")
        .run();
    res.map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    uas.wait().unwrap();
}

#[test]
fn message_via_gateway_to_uas_registered_at_kamailio() {
    let (k, gw) = setup("udp");
    let uas = Sipp::registered_uas(k.addr(), "bob", "uas_message", Transport::Udp).unwrap();
    let res = Sipp::uac("uac_message", gw.sip_addr())
        .user("alice", password("alice"))
        .callee("bob")
        .run();
    res.map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    uas.wait().unwrap();
}

#[test]
fn cancel_via_gateway_to_uas_registered_at_kamailio() {
    let (k, gw) = setup("udp");
    let uas = Sipp::registered_uas(k.addr(), "bob", "uas_cancel", Transport::Udp).unwrap();
    let res = Sipp::uac("uac_cancel", gw.sip_addr())
        .user("alice", password("alice"))
        .callee("bob")
        .run();
    res.map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    uas.wait().unwrap();
}

/// Both ends behind the gateway: a TCP caller and a UDP callee, so the call
/// crosses the gateway twice and changes transport. (A TCP callee registered
/// by SIPp is not reachable afterwards: its registering connection closes when
/// that SIPp run ends.)
#[test]
fn call_from_tcp_caller_to_udp_callee_both_behind_gateway() {
    let (_k, gw) = setup("udp");
    let uas = Sipp::registered_uas(gw.sip_addr(), "bob", "uas_call", Transport::Udp).unwrap();
    let res = Sipp::uac("uac_call", gw.sip_addr())
        .transport(Transport::Tcp)
        .user("alice", password("alice"))
        .callee("bob")
        .run();
    res.map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    uas.wait().unwrap();
}

/// Bounded load: 100 calls at 25 calls/s from Kamailio through the gateway to
/// one UAS (each challenged by Kamailio first); every call must complete.
#[test]
fn hundred_calls_through_gateway() {
    let (k, gw) = setup("udp");
    let port = util::free_port().unwrap();
    Sipp::register(gw.sip_addr(), "bob", port, Transport::Udp).unwrap();
    let uas = Sipp::uas("uas_call")
        .port(port)
        .calls(100)
        .timeout(std::time::Duration::from_secs(40))
        .spawn()
        .unwrap();
    let res = Sipp::uac("uac_call", k.addr())
        .user("alice", password("alice"))
        .callee("bob")
        .calls(100)
        .rate(25)
        .timeout(std::time::Duration::from_secs(40))
        .run();
    res.map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    uas.wait().unwrap();
    gw.http_get("/healthz").unwrap();
}

//! Rust clients on every edge of the gateway (UDP, TCP, WS, WSS, TLS):
//! register with digest at Kamailio through the gateway, then receive a call
//! from a SIPp UAC at Kamailio over the very same connection.

use std::time::Duration;

use sipwake_e2e::client::SipClient;
use sipwake_e2e::gateway::{Gateway, Mode};
use sipwake_e2e::kamailio::Kamailio;
use sipwake_e2e::sipp::Sipp;
use sipwake_e2e::{REALM, password};

#[derive(Clone, Copy)]
enum Edge {
    Udp,
    Tcp,
    Ws,
    Wss,
    Tls,
}

async fn setup() -> (Kamailio, Gateway) {
    tokio::task::spawn_blocking(|| {
        let k = Kamailio::start().unwrap();
        let gw = Gateway::start(Mode::Upstream(k.uri("udp"))).unwrap();
        (k, gw)
    })
    .await
    .unwrap()
}

async fn connect(gw: &Gateway, edge: Edge, user: &str) -> SipClient {
    let res = match edge {
        Edge::Udp => SipClient::udp(gw.sip_addr(), user, REALM).await,
        Edge::Tcp => SipClient::tcp(gw.sip_addr(), user, REALM).await,
        Edge::Ws => SipClient::ws(gw.http_addr(), "/ws", false, user, REALM).await,
        Edge::Wss => SipClient::ws(gw.https_addr(), "/ws", true, user, REALM).await,
        Edge::Tls => SipClient::tls(gw.tls_addr(), user, REALM).await,
    };
    res.map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap()
}

/// Registers bob over `edge`, then alice calls bob from a SIPp UAC at Kamailio.
async fn register_and_receive_call(edge: Edge) {
    let (k, gw) = setup().await;
    let mut bob = connect(&gw, edge, "bob").await;
    let ok = bob.register(password("bob"), 600, &[]).await.unwrap();
    assert_eq!(
        ok.status(),
        Some(200),
        "REGISTER through the gateway: {ok:?}\n{}",
        gw.failure("log")
    );

    let kaddr = k.addr();
    let caller = tokio::task::spawn_blocking(move || {
        Sipp::uac("uac_call", kaddr)
            .user("alice", password("alice"))
            .callee("bob")
            .run()
    });
    let answered = bob.answer_call().await;
    let caller = caller.await.unwrap();
    let invite = answered
        .map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    caller
        .map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    assert!(invite.start.starts_with("INVITE "), "{}", invite.start);
    // Kamailio's Via and the gateway's: the INVITE came along the Path.
    let vias: usize = invite
        .header_all("Via")
        .iter()
        .map(|v| v.split(',').count())
        .sum();
    assert!(
        vias >= 2,
        "INVITE did not pass Kamailio and the gateway: {invite:?}"
    );
    assert!(
        invite.body_text().contains("m=audio"),
        "SDP must reach the client intact"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_client_registers_and_receives_call() {
    register_and_receive_call(Edge::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_client_registers_and_receives_call() {
    register_and_receive_call(Edge::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_client_registers_and_receives_call() {
    register_and_receive_call(Edge::Ws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_client_registers_and_receives_call() {
    register_and_receive_call(Edge::Wss).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_registers_and_receives_call() {
    register_and_receive_call(Edge::Tls).await;
}

/// A client behind the gateway places a call: INVITE through the gateway to
/// Kamailio, Kamailio's 407 relayed back, the retry with credentials reaches
/// a SIPp UAS registered at Kamailio; ACK and BYE follow the Record-Route set.
async fn place_call(edge: Edge) {
    let (k, gw) = setup().await;
    let kaddr = k.addr();
    let uas = tokio::task::spawn_blocking(move || {
        Sipp::registered_uas(kaddr, "bob", "uas_call", sipwake_e2e::sipp::Transport::Udp)
    })
    .await
    .unwrap()
    .unwrap();
    let mut alice = connect(&gw, edge, "alice").await;
    let ok = alice.register(password("alice"), 600, &[]).await.unwrap();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let answered = alice.call("bob").await;
    answered
        .map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    tokio::task::spawn_blocking(move || uas.wait())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_client_places_call() {
    place_call(Edge::Ws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_client_places_call() {
    place_call(Edge::Wss).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_places_call() {
    place_call(Edge::Tls).await;
}

/// A MESSAGE for a WebSocket-registered user arrives on its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_client_receives_message() {
    let (k, gw) = setup().await;
    let mut bob = connect(&gw, Edge::Ws, "bob").await;
    let ok = bob.register(password("bob"), 600, &[]).await.unwrap();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let kaddr = k.addr();
    let sender = tokio::task::spawn_blocking(move || {
        Sipp::uac("uac_message", kaddr)
            .user("alice", password("alice"))
            .callee("bob")
            .run()
    });
    let msg = bob
        .answer_message()
        .await
        .map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    sender.await.unwrap().unwrap();
    assert!(
        msg.body_text().contains("hello from sipwake e2e"),
        "{}",
        msg.body_text()
    );
}

/// After an un-REGISTER (Expires: 0) through the gateway, Kamailio no longer
/// routes to the client: a MESSAGE for it gets 480.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregister_through_gateway_removes_binding() {
    let (k, gw) = setup().await;
    let mut bob = connect(&gw, Edge::Ws, "bob").await;
    assert_eq!(
        bob.register(password("bob"), 600, &[])
            .await
            .unwrap()
            .status(),
        Some(200)
    );
    let gone = bob.register(password("bob"), 0, &[]).await.unwrap();
    assert_eq!(gone.status(), Some(200), "un-REGISTER: {gone:?}");
    let mut alice = SipClient::udp(k.addr(), "alice", REALM).await.unwrap();
    alice.password = Some(password("alice").to_string());
    let ct = ["Content-Type: text/plain".to_string()];
    let resp = alice
        .send_request("MESSAGE", "bob", &ct, "anyone?")
        .await
        .unwrap();
    assert_eq!(resp.status(), Some(480), "{resp:?}");
    assert!(
        bob.recv_none(Duration::from_millis(300))
            .await
            .unwrap()
            .is_none(),
        "bob still reached"
    );
}

/// Wrong credentials over WSS are challenged again, never accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_wrong_password_is_refused() {
    let (_k, gw) = setup().await;
    let mut bob = connect(&gw, Edge::Wss, "bob").await;
    let resp = bob.register("wrong", 600, &[]).await.unwrap();
    assert_ne!(resp.status(), Some(200));
    assert!(matches!(resp.status(), Some(401 | 403 | 407)), "{resp:?}");
}

/// RFC 7118: the `sip` subprotocol is required on /ws.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_upgrade_without_sip_subprotocol_is_refused() {
    let (_k, gw) = setup().await;
    let addr = gw.http_addr();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let status = tokio::time::timeout(Duration::from_secs(5), async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    })
    .await
    .unwrap();
    assert!(
        !status.starts_with("HTTP/1.1 101"),
        "upgrade accepted without `sip`: {status}"
    );
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
}

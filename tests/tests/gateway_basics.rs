//! Process-level contract of the `sipwake` binary: readiness, one log line
//! per listener, graceful shutdown on SIGTERM.

use sipwake_e2e::gateway::{Gateway, Mode};

#[test]
fn healthz_and_listener_log_lines() {
    let gw = Gateway::start(Mode::Standalone).unwrap();
    let (status, body) = gw.http_get("/healthz").unwrap();
    assert_eq!((status, body.trim()), (200, "ok"));
    let log = gw.log();
    let p = gw.ports;
    for (t, port) in [("udp", p.sip), ("tcp", p.sip), ("tls", p.tls)] {
        let line = format!("transport={t} addr=127.0.0.1:{port}");
        assert!(log.contains(&line), "missing `{line}` in log:\n{log}");
    }
}

#[test]
fn sigterm_exits_zero() {
    let mut gw = Gateway::start(Mode::Standalone).unwrap();
    let code = gw.shutdown();
    assert_eq!(code, Some(0), "{}", gw.failure("exit after SIGTERM"));
}

/// The connection-oriented edges complete their handshakes: TLS with the
/// self-signed certificate, WS and WSS with the `sip` subprotocol chosen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_ws_and_wss_handshakes_complete() {
    use sipwake_e2e::client::SipClient;
    let gw = tokio::task::spawn_blocking(|| Gateway::start(Mode::Standalone).unwrap())
        .await
        .unwrap();
    let realm = sipwake_e2e::REALM;
    let ws = SipClient::ws(gw.http_addr(), "/ws", false, "alice", realm).await;
    assert!(ws.is_ok(), "ws: {:?}\n{}", ws.err(), gw.failure("log"));
    let wss = SipClient::ws(gw.https_addr(), "/ws", true, "alice", realm).await;
    assert!(wss.is_ok(), "wss: {:?}\n{}", wss.err(), gw.failure("log"));
    let tls = SipClient::tls(gw.tls_addr(), "alice", realm).await;
    assert!(tls.is_ok(), "tls: {:?}\n{}", tls.err(), gw.failure("log"));
}

/// SIGTERM with clients connected: connections are closed and the process
/// exits 0 within the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_open_connections_closes_them_and_exits_zero() {
    use sipwake_e2e::client::SipClient;
    use std::time::Duration;
    let mut gw = tokio::task::spawn_blocking(|| Gateway::start(Mode::Standalone).unwrap())
        .await
        .unwrap();
    let realm = sipwake_e2e::REALM;
    let mut tcp = SipClient::tcp(gw.sip_addr(), "alice", realm).await.unwrap();
    let mut ws = SipClient::ws(gw.http_addr(), "/ws", false, "bob", realm)
        .await
        .unwrap();
    let code = tokio::task::spawn_blocking(move || {
        let code = gw.shutdown();
        (code, gw)
    });
    assert!(
        tcp.closed_within(Duration::from_secs(10)).await,
        "TCP connection survived shutdown"
    );
    assert!(
        ws.closed_within(Duration::from_secs(10)).await,
        "WS connection survived shutdown"
    );
    let (code, gw) = code.await.unwrap();
    assert_eq!(code, Some(0), "{}", gw.failure("exit after SIGTERM"));
}

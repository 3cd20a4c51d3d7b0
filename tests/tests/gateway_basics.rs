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

/// `--help` documents the contract's flags.
#[test]
fn help_documents_flags() {
    let bin = sipwake_e2e::gateway::binary().unwrap();
    let out = std::process::Command::new(bin)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--config", "--data-dir"] {
        assert!(text.contains(flag), "--help lacks {flag}:\n{text}");
    }
}

/// An unknown config key is an error naming the key and its line; the
/// process exits non-zero instead of running with a half-understood config.
#[test]
fn unknown_config_key_is_rejected_with_key_and_line() {
    let dir = sipwake_e2e::util::temp_dir("badcfg").unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "log = \"info\"\n\n[sip]\nudpp = [\"127.0.0.1:5999\"]\n",
    )
    .unwrap();
    let bin = sipwake_e2e::gateway::binary().unwrap();
    let mut child = std::process::Command::new(bin)
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a gateway that wrongly starts is killed after 10 s.
    let status = sipwake_e2e::util::wait_for(
        "sipwake to reject the config",
        std::time::Duration::from_secs(10),
        || child.try_wait().ok().flatten(),
    );
    if status.is_err() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let status = status.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!status.success(), "accepted an unknown key:\n{text}");
    assert!(
        text.contains("udpp"),
        "error does not name the key:\n{text}"
    );
    assert!(
        text.contains("line 4"),
        "error does not name the line:\n{text}"
    );
}

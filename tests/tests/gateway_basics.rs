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

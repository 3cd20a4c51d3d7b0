//! Abuse limits of the real binary (standalone registrar): a source that
//! floods wrong passwords is banned while other sources keep registering and
//! calling; a browser page on a foreign origin cannot open `/ws`.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use sipwake_e2e::client::SipClient;
use sipwake_e2e::gateway::{Gateway, Mode};
use sipwake_e2e::{REALM, password};

/// `[limits]` after the `[sip]` lines the harness lets a test add.
const LIMITS: &str = "\n[limits]\nauth_failures = 5\nauth_window_secs = 60\nban_secs = 600\n";

async fn start() -> Gateway {
    tokio::task::spawn_blocking(|| Gateway::start_with(Mode::Standalone, LIMITS).unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_flood_bans_its_source_only() {
    let gw = start().await;
    let guesser: IpAddr = [127, 0, 0, 2].into();
    let mut mallory = SipClient::udp_from(guesser, gw.sip_addr(), "alice", REALM)
        .await
        .unwrap();
    let mut codes = Vec::new();
    for i in 0..6 {
        let r = mallory
            .register(&format!("guess-{i}"), 600, &[])
            .await
            .unwrap();
        codes.push(r.status().unwrap_or(0));
    }
    // Four wrong answers are challenged again, the fifth bans; banned, even
    // the first REGISTER of an attempt is refused.
    assert_eq!(
        codes,
        [401, 401, 401, 401, 403, 403],
        "{}",
        gw.failure("log")
    );
    let r = mallory.register(password("alice"), 600, &[]).await.unwrap();
    assert_eq!(r.status(), Some(403), "banned even with the right password");
    assert!(gw.log().contains("source banned"), "{}", gw.failure("log"));

    // Other sources: alice on 127.0.0.3 and bob on 127.0.0.1 register, and
    // bob's call reaches alice.
    let mut alice = SipClient::udp_from([127, 0, 0, 3].into(), gw.sip_addr(), "alice", REALM)
        .await
        .unwrap();
    let r = alice.register(password("alice"), 600, &[]).await.unwrap();
    assert_eq!(r.status(), Some(200), "{}", gw.failure("log"));
    let mut bob = SipClient::udp(gw.sip_addr(), "bob", REALM).await.unwrap();
    let r = bob.register(password("bob"), 600, &[]).await.unwrap();
    assert_eq!(r.status(), Some(200));
    let answering = tokio::spawn(async move {
        alice.answer_call().await.unwrap();
        alice
    });
    let ok = bob.call("alice").await.unwrap();
    assert_eq!(ok.status(), Some(200), "{}", gw.failure("log"));
    answering.await.unwrap();
}

/// The upgrade response's status line for a handshake with `origin`.
fn ws_status(addr: SocketAddr, origin: &str) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_from_a_foreign_page_is_403() {
    let gw = start().await;
    let addr = gw.http_addr();
    let foreign = tokio::task::spawn_blocking(move || ws_status(addr, "https://evil.example"))
        .await
        .unwrap();
    assert!(foreign.starts_with("HTTP/1.1 403"), "{foreign}");
    let own = format!("http://{addr}");
    let same = tokio::task::spawn_blocking(move || ws_status(addr, &own))
        .await
        .unwrap();
    assert!(same.starts_with("HTTP/1.1 101"), "{same}");
}

/// `[limits] registers_per_sec`: a source sending REGISTERs faster is
/// answered 503 with Retry-After: 1 for the excess; another source is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_flood_gets_503_beyond_the_rate() {
    let gw = tokio::task::spawn_blocking(|| {
        Gateway::start_with(Mode::Standalone, "\n[limits]\nregisters_per_sec = 3\n").unwrap()
    })
    .await
    .unwrap();
    let mut flood = SipClient::udp_from([127, 0, 0, 4].into(), gw.sip_addr(), "alice", REALM)
        .await
        .unwrap();
    let contact = format!("Contact: {}", flood.contact());
    let mut answers = Vec::new();
    for _ in 0..10 {
        let r = sipwake_e2e::push::register_once(&mut flood, std::slice::from_ref(&contact))
            .await
            .unwrap();
        answers.push(r);
    }
    let codes: Vec<u16> = answers.iter().map(|r| r.status().unwrap_or(0)).collect();
    assert!(
        codes[..3].iter().all(|c| *c == 401),
        "within the rate: challenged as usual: {codes:?}"
    );
    let limited: Vec<_> = answers.iter().filter(|r| r.status() == Some(503)).collect();
    assert!(!limited.is_empty(), "beyond the rate: 503: {codes:?}");
    assert!(
        limited.iter().all(|r| r.header("Retry-After") == Some("1")),
        "{:?}",
        limited.iter().map(|r| &r.start).collect::<Vec<_>>()
    );
    assert!(
        gw.log().contains("registers_per_sec"),
        "{}",
        gw.failure("log")
    );
    let mut other = SipClient::udp_from([127, 0, 0, 5].into(), gw.sip_addr(), "bob", REALM)
        .await
        .unwrap();
    let r = other.register(password("bob"), 600, &[]).await.unwrap();
    assert_eq!(r.status(), Some(200), "another source is not limited");
}

//! The gateway's input limits seen from outside: oversized messages, too many
//! headers, slow senders, idle connections and the connection cap. Each case
//! must end the offending connection (or drop the datagram) while the gateway
//! keeps serving others.

use std::time::Duration;

use sipwake_e2e::client::SipClient;
use sipwake_e2e::gateway::{Gateway, Mode};
use sipwake_e2e::{REALM, password};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn start(extra_sip: &'static str) -> Gateway {
    tokio::task::spawn_blocking(move || Gateway::start_with(Mode::Standalone, extra_sip).unwrap())
        .await
        .unwrap()
}

/// A REGISTER padded with `n` extra header lines of `len` bytes each.
fn padded_register(c: &mut SipClient, n: usize, len: usize) -> String {
    let pad: Vec<String> = (0..n)
        .map(|i| format!("X-Pad-{i}: {}", "a".repeat(len)))
        .collect();
    let to = format!("<sip:{}@{REALM}>", c.user);
    let contact = format!("Contact: {}", c.contact());
    let mut headers = vec![contact];
    headers.extend(pad);
    c.request("REGISTER", &format!("sip:{REALM}"), &to, &headers, "")
}

/// The gateway still registers a well-behaved client.
async fn still_serving(gw: &Gateway) {
    let mut c = SipClient::tcp(gw.sip_addr(), "carol", REALM).await.unwrap();
    let ok = c.register(password("carol"), 600, &[]).await.unwrap();
    assert_eq!(ok.status(), Some(200), "{ok:?}\n{}", gw.failure("log"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_closes_tcp_and_is_dropped_on_udp() {
    let gw = start("max_message_bytes = 2048").await;
    let mut tcp = SipClient::tcp(gw.sip_addr(), "alice", REALM).await.unwrap();
    let big = padded_register(&mut tcp, 8, 500);
    assert!(big.len() > 4000);
    tcp.send_raw(big.as_bytes()).await.unwrap();
    assert!(
        tcp.closed_within(Duration::from_secs(5)).await,
        "TCP connection kept after a 4 KB message"
    );

    let mut udp = SipClient::udp(gw.sip_addr(), "alice", REALM).await.unwrap();
    let big = padded_register(&mut udp, 8, 500);
    udp.send_raw(big.as_bytes()).await.unwrap();
    let answer = udp.recv_none(Duration::from_millis(800)).await.unwrap();
    assert!(
        answer.as_ref().is_none_or(|m| m.status() != Some(200)),
        "oversized REGISTER accepted: {answer:?}"
    );
    still_serving(&gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_headers_close_the_connection() {
    let gw = start("max_headers = 20").await;
    let mut tcp = SipClient::tcp(gw.sip_addr(), "alice", REALM).await.unwrap();
    let many = padded_register(&mut tcp, 40, 4);
    tcp.send_raw(many.as_bytes()).await.unwrap();
    let mut accepted = false;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match tcp.recv().await {
                Ok(m) => accepted |= m.status().is_some_and(|s| s < 300),
                Err(_) => return,
            }
        }
    })
    .await
    .is_ok();
    assert!(closed && !accepted, "closed {closed}, accepted {accepted}");
    still_serving(&gw).await;
}

/// Slow-loris: a message started but never finished is cut off after
/// read_timeout_secs, even while bytes keep trickling in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_sender_is_cut_off_by_read_timeout() {
    let gw = start("read_timeout_secs = 2").await;
    let mut s = TcpStream::connect(gw.sip_addr()).await.unwrap();
    let started = tokio::time::Instant::now();
    s.write_all(b"REGISTER sip:sipwake.test SIP/2.0\r\n")
        .await
        .unwrap();
    // One header byte every 200 ms; a write fails once the gateway has closed.
    let mut cut = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if s.write_all(b"X").await.is_err() || s.flush().await.is_err() {
            cut = true;
            break;
        }
        let mut probe = [0u8; 64];
        if let Ok(0) = s.try_read(&mut probe) {
            cut = true;
            break;
        }
    }
    let took = started.elapsed();
    assert!(cut, "connection still open after {took:?}");
    assert!(
        took >= Duration::from_millis(1500),
        "cut before the read timeout: {took:?}"
    );
    still_serving(&gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connection_is_closed() {
    let gw = start("idle_timeout_secs = 1").await;
    let mut c = SipClient::tcp(gw.sip_addr(), "alice", REALM).await.unwrap();
    assert!(
        c.closed_within(Duration::from_secs(6)).await,
        "idle TCP connection kept open"
    );
    still_serving(&gw).await;
}

/// Connections beyond max_connections are closed at once; freeing one makes room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_refused() {
    let gw = start("max_connections = 3").await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = SipClient::tcp(gw.sip_addr(), "alice", REALM).await.unwrap();
        // A round trip proves this connection was admitted.
        let ok = c.register(password("alice"), 600, &[]).await;
        assert!(
            ok.is_ok(),
            "connection within the cap refused: {ok:?}\n{}",
            gw.failure("log")
        );
        held.push(c);
    }
    let mut extra = SipClient::tcp(gw.sip_addr(), "bob", REALM).await.unwrap();
    assert!(
        extra.closed_within(Duration::from_secs(3)).await,
        "4th connection admitted with max_connections = 3"
    );
    held.pop();
    // The slot is released asynchronously: retry within a deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = SipClient::tcp(gw.sip_addr(), "carol", REALM).await.unwrap();
        if let Ok(ok) = c.register(password("carol"), 600, &[]).await {
            assert_eq!(ok.status(), Some(200));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no slot after closing a connection"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

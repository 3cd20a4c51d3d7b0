//! Bounded concurrency: many connections and messages at once are all
//! delivered exactly once, on the right flows, and everything drains.

mod transport_support;

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use sipwake::transport::{Destination, TransportKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use transport_support::*;

const CONNECTIONS: usize = 40;
const PER_CONNECTION: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tcp_connections_each_get_their_messages_through() {
    let mut h = Harness::start(loopback_config("load-tcp")).await;
    let addr = h.addr(TransportKind::Tcp);
    let mut clients = Vec::new();
    for c in 0..CONNECTIONS {
        clients.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let local = s.local_addr().unwrap();
            // All of a connection's messages in one burst of small writes.
            for m in 0..PER_CONNECTION {
                s.write_all(&sip_request(&format!("c{c}m{m}"), "x"))
                    .await
                    .unwrap();
            }
            // Wait for the one echo the test sends back per connection.
            let mut buf = [0u8; 18];
            tokio::time::timeout(DEADLINE, s.read_exact(&mut buf))
                .await
                .expect("no echo")
                .unwrap();
            assert_eq!(&buf, b"SIP/2.0 200 OK\r\n\r\n");
            local
        }));
    }
    let mut seen = HashSet::new();
    let mut flows: HashMap<std::net::SocketAddr, _> = HashMap::new();
    for _ in 0..CONNECTIONS * PER_CONNECTION {
        let m = h.next_message().await;
        let text = String::from_utf8_lossy(&m.bytes).into_owned();
        let call_id = text
            .lines()
            .find_map(|l| l.strip_prefix("Call-ID: "))
            .unwrap()
            .to_string();
        assert!(seen.insert(call_id), "duplicate delivery");
        let flow = *flows.entry(m.remote).or_insert(m.flow);
        assert_eq!(flow, m.flow, "one flow per connection");
    }
    assert_eq!(flows.len(), CONNECTIONS);
    for &flow in flows.values() {
        h.handle
            .send(
                Destination::Flow(flow),
                Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"),
            )
            .await
            .unwrap();
    }
    for c in clients {
        let local = c.await.unwrap();
        assert!(flows.contains_key(&local));
    }
    // Every connection closed by its client is reported and released.
    for _ in 0..CONNECTIONS {
        tokio::time::timeout(DEADLINE, h.closed.recv())
            .await
            .unwrap();
    }
    // Slots are released when each connection's writer has finished too.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while h.handle.connection_count() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection slots leaked"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(h.handle.flow_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_burst_from_many_peers() {
    let mut h = Harness::start(loopback_config("load-udp")).await;
    let addr = h.addr(TransportKind::Udp);
    const PEERS: usize = 20;
    const EACH: usize = 20;
    let mut peers = Vec::new();
    for p in 0..PEERS {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        peers.push((p, sock));
    }
    // Rounds of one datagram per peer, each drained before the next, so the
    // socket buffer (capped by net.core.rmem_max) never has to hold a burst.
    let mut per_peer: HashMap<std::net::SocketAddr, usize> = HashMap::new();
    let mut flows = HashSet::new();
    for m in 0..EACH {
        for (p, sock) in &peers {
            sock.send_to(&sip_request(&format!("p{p}m{m}"), ""), addr)
                .await
                .unwrap();
        }
        for _ in 0..PEERS {
            let m = h.next_message().await;
            *per_peer.entry(m.remote).or_default() += 1;
            flows.insert(m.flow);
        }
    }
    assert_eq!(per_peer.len(), PEERS);
    assert!(per_peer.values().all(|&n| n == EACH));
    assert_eq!(flows.len(), PEERS);
}

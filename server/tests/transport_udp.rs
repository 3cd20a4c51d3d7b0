//! UDP transport: round trips, flows per peer, limits, keep-alives.

mod transport_support;

use bytes::Bytes;
use sipwake::transport::{Destination, TransportKind};
use tokio::net::UdpSocket;
use transport_support::*;

async fn recv(sock: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 70_000];
    let (n, _) = tokio::time::timeout(DEADLINE, sock.recv_from(&mut buf))
        .await
        .expect("no datagram")
        .unwrap();
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn udp_round_trip_and_flow_per_peer() {
    let mut config = loopback_config("udp-rt");
    config.sip.max_connections = 1;
    let mut h = Harness::start(config).await;
    let server = h.addr(TransportKind::Udp);
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let other = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    client
        .send_to(&sip_request("u1", "hello"), server)
        .await
        .unwrap();
    let m = h.next_message_is("u1").await;
    assert_eq!(m.kind, TransportKind::Udp);
    assert_eq!(m.remote, client.local_addr().unwrap());
    assert_eq!(m.local, server);
    assert_eq!(&m.bytes[..], &sip_request("u1", "hello")[..]);
    let info = h.handle.flow(m.flow).expect("flow info");
    assert_eq!(info.kind, TransportKind::Udp);
    assert_eq!(info.remote, client.local_addr().unwrap());

    // Same peer → same flow; another peer → another flow.
    client
        .send_to(&sip_request("u2", ""), server)
        .await
        .unwrap();
    assert_eq!(h.next_message_is("u2").await.flow, m.flow);
    other.send_to(&sip_request("u3", ""), server).await.unwrap();
    let m3 = h.next_message_is("u3").await;
    assert_ne!(m3.flow, m.flow);
    // UDP peers are flows but take no connection slot: no load.
    assert_eq!(sipwake::net::Network::load(&h.handle), 0);

    // Replies: by flow, and by address (which finds the existing flow).
    let id = h
        .handle
        .send(
            Destination::Flow(m.flow),
            Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"),
        )
        .await
        .unwrap();
    assert_eq!(id, m.flow);
    assert_eq!(recv(&client).await, b"SIP/2.0 200 OK\r\n\r\n");
    let id = h
        .handle
        .send(
            Destination::Addr {
                kind: TransportKind::Udp,
                addr: other.local_addr().unwrap(),
            },
            Bytes::from_static(b"x"),
        )
        .await
        .unwrap();
    assert_eq!(id, m3.flow);
    assert_eq!(recv(&other).await, b"x");

    assert_eq!(
        h.handle.via_host_port(TransportKind::Udp),
        Some(("127.0.0.1".to_string(), server.port()))
    );
}

#[tokio::test]
async fn udp_send_to_a_new_address_creates_a_flow() {
    let h = Harness::start(loopback_config("udp-new")).await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dest = Destination::Addr {
        kind: TransportKind::Udp,
        addr: peer.local_addr().unwrap(),
    };
    let id = h
        .handle
        .send(dest.clone(), Bytes::from_static(b"ping"))
        .await
        .unwrap();
    assert_eq!(recv(&peer).await, b"ping");
    let info = h.handle.flow(id).unwrap();
    assert_eq!(info.remote, peer.local_addr().unwrap());
    assert_eq!(info.local, h.addr(TransportKind::Udp));
    assert_eq!(
        h.handle
            .send(dest, Bytes::from_static(b"again"))
            .await
            .unwrap(),
        id
    );
}

#[tokio::test]
async fn udp_drops_oversize_too_many_headers_and_keepalives() {
    let mut config = loopback_config("udp-limits");
    config.sip.max_message_bytes = 1024;
    config.sip.max_headers = 10;
    let mut h = Harness::start(config).await;
    let server = h.addr(TransportKind::Udp);
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    client
        .send_to(&sip_request("big", &"x".repeat(2000)), server)
        .await
        .unwrap();
    client
        .send_to(&sip_request_with_headers("many", 20), server)
        .await
        .unwrap();
    client.send_to(b"\r\n\r\n", server).await.unwrap();
    client.send_to(&[0u8, 1, 0, 0], server).await.unwrap(); // STUN-like noise
    client
        .send_to(&sip_request_with_headers("fits", 3), server)
        .await
        .unwrap();
    // Datagrams from one socket to another on loopback arrive in order, so
    // the first delivery being "fits" proves the others were dropped.
    h.next_message_is("fits").await;
    assert!(h.messages.try_recv().is_err());
}

#[tokio::test]
async fn ipv6_loopback_listeners_work() {
    // Skip quietly only if the machine has no ::1 at all.
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here");
        return;
    }
    let mut config = loopback_config("ipv6");
    let any6: std::net::SocketAddr = "[::1]:0".parse().unwrap();
    config.sip.udp = vec![any6];
    config.sip.tcp = vec![any6];
    let mut h = Harness::start(config).await;
    let udp = tokio::net::UdpSocket::bind("[::1]:0").await.unwrap();
    udp.send_to(&sip_request("v6", ""), h.addr(TransportKind::Udp))
        .await
        .unwrap();
    let m = h.next_message_is("v6").await;
    assert!(m.remote.is_ipv6());
    assert_eq!(
        h.handle.via_host_port(TransportKind::Udp).unwrap().0,
        "[::1]"
    );
    let mut tcp = tokio::net::TcpStream::connect(h.addr(TransportKind::Tcp))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut tcp, &sip_request("v6tcp", ""))
        .await
        .unwrap();
    assert!(h.next_message_is("v6tcp").await.remote.is_ipv6());
}

#[tokio::test]
async fn port_zero_gives_udp_and_tcp_the_same_port() {
    let h = Harness::start(loopback_config("same-port")).await;
    let udp = h.addr(TransportKind::Udp);
    let tcp = h.addr(TransportKind::Tcp);
    assert_ne!(udp.port(), 0);
    // Pairing is best effort: differing ports are only allowed when some
    // other listener holds the UDP port number on TCP.
    if udp.port() != tcp.port() {
        assert!(
            std::net::TcpListener::bind(udp).is_err(),
            "TCP did not take the free UDP port number"
        );
    }
}

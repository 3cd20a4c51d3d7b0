//! TCP transport: stream framing, keep-alives, limits, outgoing connections.

mod transport_support;

use std::time::Duration;

use bytes::Bytes;
use sipwake::transport::{Destination, SendError, TransportKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use transport_support::*;

async fn read_exact_within(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(DEADLINE, s.read_exact(&mut buf))
        .await
        .expect("timed out reading")
        .expect("read failed");
    buf
}

#[tokio::test]
async fn tcp_frames_split_and_coalesced_messages() {
    let mut h = Harness::start(loopback_config("tcp-frame")).await;
    let mut c = TcpStream::connect(h.addr(TransportKind::Tcp))
        .await
        .unwrap();
    let a = sip_request("t1", "body-1");
    let b = sip_request("t2", "");
    let d = sip_request("t3", "third body");
    // Two messages in one write, the third split in the middle of its body.
    c.write_all(&[a.clone(), b.clone()].concat()).await.unwrap();
    let (d1, d2) = d.split_at(d.len() - 4);
    c.write_all(d1).await.unwrap();
    let m1 = h.next_message_is("t1").await;
    assert_eq!(&m1.bytes[..], &a[..]);
    assert_eq!(m1.kind, TransportKind::Tcp);
    assert_eq!(&h.next_message_is("t2").await.bytes[..], &b[..]);
    c.write_all(d2).await.unwrap();
    let m3 = h.next_message_is("t3").await;
    assert_eq!(&m3.bytes[..], &d[..]);
    assert_eq!(m3.flow, m1.flow);
    assert_eq!(m1.remote, c.local_addr().unwrap());

    // Reply over the same connection.
    h.handle
        .send(
            Destination::Flow(m1.flow),
            Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"),
        )
        .await
        .unwrap();
    assert_eq!(
        read_exact_within(&mut c, 18).await,
        b"SIP/2.0 200 OK\r\n\r\n"
    );

    // Peer closes → flow closed, sends fail.
    drop(c);
    h.wait_closed(m1.flow).await;
    assert!(h.handle.flow(m1.flow).is_none());
    assert!(matches!(
        h.handle
            .send(Destination::Flow(m1.flow), Bytes::from_static(b"x"))
            .await,
        Err(SendError::FlowClosed(_))
    ));
}

#[tokio::test]
async fn tcp_crlf_ping_gets_pong() {
    let mut h = Harness::start(loopback_config("tcp-ping")).await;
    let mut c = TcpStream::connect(h.addr(TransportKind::Tcp))
        .await
        .unwrap();
    c.write_all(b"\r\n\r\n").await.unwrap();
    assert_eq!(read_exact_within(&mut c, 2).await, b"\r\n");
    // The stream is still usable afterwards.
    c.write_all(&sip_request("after-ping", "")).await.unwrap();
    h.next_message_is("after-ping").await;
}

#[tokio::test]
async fn tcp_oversize_message_closes_the_connection() {
    let mut config = loopback_config("tcp-big");
    config.sip.max_message_bytes = 2048;
    let mut h = Harness::start(config).await;
    let mut c = TcpStream::connect(h.addr(TransportKind::Tcp))
        .await
        .unwrap();
    c.write_all(&sip_request("ok", "")).await.unwrap();
    let flow = h.next_message_is("ok").await.flow;
    // Content-Length announces more than the limit: cut off before the body.
    c.write_all(b"OPTIONS sip:x SIP/2.0\r\nCall-ID: big\r\nContent-Length: 100000\r\n\r\n")
        .await
        .unwrap();
    read_until_closed(&mut c).await;
    h.wait_closed(flow).await;
    assert!(h.messages.try_recv().is_err());
}

#[tokio::test]
async fn tcp_too_many_headers_closes_the_connection() {
    let mut config = loopback_config("tcp-hdrs");
    config.sip.max_headers = 12;
    let mut h = Harness::start(config).await;
    let mut c = TcpStream::connect(h.addr(TransportKind::Tcp))
        .await
        .unwrap();
    c.write_all(&sip_request_with_headers("few", 2))
        .await
        .unwrap();
    let flow = h.next_message_is("few").await.flow;
    c.write_all(&sip_request_with_headers("many", 30))
        .await
        .unwrap();
    read_until_closed(&mut c).await;
    h.wait_closed(flow).await;
    assert!(h.messages.try_recv().is_err());
}

#[tokio::test]
async fn tcp_garbage_content_length_closes_the_connection() {
    let mut h = Harness::start(loopback_config("tcp-garbage")).await;
    let mut c = TcpStream::connect(h.addr(TransportKind::Tcp))
        .await
        .unwrap();
    c.write_all(&sip_request("first", "")).await.unwrap();
    let flow = h.next_message_is("first").await.flow;
    c.write_all(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: -5\r\n\r\n")
        .await
        .unwrap();
    read_until_closed(&mut c).await;
    h.wait_closed(flow).await;
}

#[tokio::test]
async fn tcp_slow_loris_is_cut_off_after_read_timeout() {
    let mut config = loopback_config("tcp-slow");
    config.sip.read_timeout_secs = 1;
    let mut h = Harness::start(config).await;
    let mut c = TcpStream::connect(h.addr(TransportKind::Tcp))
        .await
        .unwrap();
    c.write_all(&sip_request("ok", "")).await.unwrap();
    let flow = h.next_message_is("ok").await.flow;
    let started = std::time::Instant::now();
    // Start a message, then trickle a byte at a time, never finishing it.
    c.write_all(b"OPTIONS sip:x SIP/2.0\r\nVia: ")
        .await
        .unwrap();
    let trickle = async {
        loop {
            if c.write_all(b"a").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(DEADLINE, trickle)
        .await
        .expect("slow peer was not cut off");
    h.wait_closed(flow).await;
    // Trickling kept the connection active, yet the message deadline held.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "cut off too early: {took:?}"
    );
}

#[tokio::test]
async fn tcp_idle_connection_is_closed() {
    let mut config = loopback_config("tcp-idle");
    config.sip.idle_timeout_secs = 1;
    let mut h = Harness::start(config).await;
    let mut c = TcpStream::connect(h.addr(TransportKind::Tcp))
        .await
        .unwrap();
    c.write_all(&sip_request("idle", "")).await.unwrap();
    let flow = h.next_message_is("idle").await.flow;
    read_until_closed(&mut c).await;
    h.wait_closed(flow).await;
}

#[tokio::test]
async fn tcp_max_connections_refuses_extra_and_frees_slots() {
    let mut config = loopback_config("tcp-max");
    config.sip.max_connections = 2;
    let mut h = Harness::start(config).await;
    let addr = h.addr(TransportKind::Tcp);
    let mut a = TcpStream::connect(addr).await.unwrap();
    a.write_all(&sip_request("a", "")).await.unwrap();
    let fa = h.next_message_is("a").await.flow;
    let mut b = TcpStream::connect(addr).await.unwrap();
    b.write_all(&sip_request("b", "")).await.unwrap();
    h.next_message_is("b").await;
    assert_eq!(h.handle.connection_count(), 2);
    // Both slots in use: the wsload scale's extreme.
    assert_eq!(sipwake::net::Network::load(&h.handle), 4);

    let mut c = TcpStream::connect(addr).await.unwrap();
    let _ = c.write_all(&sip_request("c", "")).await;
    read_until_closed(&mut c).await;

    // Outgoing connections count against the same limit.
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = Destination::Addr {
        kind: TransportKind::Tcp,
        addr: upstream.local_addr().unwrap(),
    };
    assert!(matches!(
        h.handle.send(dest, Bytes::from_static(b"x")).await,
        Err(SendError::TooManyConnections)
    ));

    drop(a);
    h.wait_closed(fa).await;
    // The slot is released when the connection task ends; retry until then.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut d = TcpStream::connect(addr).await.unwrap();
        d.write_all(&sip_request("d", "")).await.unwrap();
        let got = tokio::time::timeout(Duration::from_millis(500), h.messages.recv()).await;
        if let Ok(Some(m)) = got {
            assert!(String::from_utf8_lossy(&m.bytes).contains("Call-ID: d\r\n"));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
    }
}

/// `[limits] flows_per_ip`: one source address cannot take every flow;
/// others still connect, and a closed flow frees its address's slot.
#[tokio::test]
async fn tcp_flows_per_ip_bounds_one_source_only() {
    let mut config = loopback_config("tcp-per-ip");
    config.limits.flows_per_ip = 2;
    let mut h = Harness::start(config).await;
    let addr = h.addr(TransportKind::Tcp);
    let from = |ip: [u8; 4]| async move {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(std::net::SocketAddr::from((ip, 0))).unwrap();
        s.connect(addr).await.unwrap()
    };
    let mut a = from([127, 0, 0, 1]).await;
    a.write_all(&sip_request("a", "")).await.unwrap();
    let fa = h.next_message_is("a").await.flow;
    let mut b = from([127, 0, 0, 1]).await;
    b.write_all(&sip_request("b", "")).await.unwrap();
    h.next_message_is("b").await;
    // A third from the same address is closed unread…
    let mut c = from([127, 0, 0, 1]).await;
    let _ = c.write_all(&sip_request("c", "")).await;
    read_until_closed(&mut c).await;
    // …while another address connects.
    let mut o = from([127, 0, 0, 2]).await;
    o.write_all(&sip_request("o", "")).await.unwrap();
    h.next_message_is("o").await;
    drop(a);
    h.wait_closed(fa).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut d = from([127, 0, 0, 1]).await;
        d.write_all(&sip_request("d", "")).await.unwrap();
        let got = tokio::time::timeout(Duration::from_millis(500), h.messages.recv()).await;
        if let Ok(Some(m)) = got {
            assert!(String::from_utf8_lossy(&m.bytes).contains("Call-ID: d\r\n"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "per-address slot never freed"
        );
    }
}

#[tokio::test]
async fn tcp_outgoing_connection_is_opened_once_and_reused() {
    let mut h = Harness::start(loopback_config("tcp-out")).await;
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = Destination::Addr {
        kind: TransportKind::Tcp,
        addr: upstream.local_addr().unwrap(),
    };
    let first = sip_request("out1", "");
    let id = h
        .handle
        .send(dest.clone(), Bytes::from(first.clone()))
        .await
        .unwrap();
    let (mut peer, _) = tokio::time::timeout(DEADLINE, upstream.accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read_exact_within(&mut peer, first.len()).await, first);
    let info = h.handle.flow(id).unwrap();
    assert_eq!(info.kind, TransportKind::Tcp);
    assert_eq!(info.remote, upstream.local_addr().unwrap());

    let second = sip_request("out2", "");
    assert_eq!(
        h.handle
            .send(dest.clone(), Bytes::from(second.clone()))
            .await
            .unwrap(),
        id
    );
    assert_eq!(read_exact_within(&mut peer, second.len()).await, second);

    // The upstream answers on the same connection: delivered on that flow.
    peer.write_all(&sip_request("reply", "")).await.unwrap();
    let m = h.next_message_is("reply").await;
    assert_eq!(m.flow, id);

    // Once it closes, the next send dials again.
    drop(peer);
    h.wait_closed(id).await;
    let id2 = h
        .handle
        .send(dest, Bytes::from(first.clone()))
        .await
        .unwrap();
    assert_ne!(id2, id);
    let (mut peer2, _) = tokio::time::timeout(DEADLINE, upstream.accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read_exact_within(&mut peer2, first.len()).await, first);
}

#[tokio::test]
async fn tcp_connect_failure_is_reported() {
    let h = Harness::start(loopback_config("tcp-refused")).await;
    // Bind then drop to get a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let dest = Destination::Addr {
        kind: TransportKind::Tcp,
        addr: port,
    };
    assert!(matches!(
        h.handle.send(dest, Bytes::from_static(b"x")).await,
        Err(SendError::Connect { .. })
    ));
    assert_eq!(h.handle.connection_count(), 0);
}

#[tokio::test]
async fn shutdown_closes_connections() {
    let mut h = Harness::start(loopback_config("tcp-shutdown")).await;
    let mut c = TcpStream::connect(h.addr(TransportKind::Tcp))
        .await
        .unwrap();
    c.write_all(&sip_request("s", "")).await.unwrap();
    let flow = h.next_message_is("s").await.flow;
    assert!(h.handle.shutdown(DEADLINE).await, "tasks did not finish");
    read_until_closed(&mut c).await;
    h.wait_closed(flow).await;
    assert!(!h.handle.is_ready());
    // Listeners are gone.
    assert!(
        TcpStream::connect(h.addr(TransportKind::Tcp))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn concurrent_sends_to_one_destination_dial_once() {
    let h = Harness::start(loopback_config("tcp-dial-once")).await;
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = Destination::Addr {
        kind: TransportKind::Tcp,
        addr: upstream.local_addr().unwrap(),
    };
    let sends = (0..8).map(|i| {
        let handle = h.handle.clone();
        let dest = dest.clone();
        tokio::spawn(async move {
            handle
                .send(dest, Bytes::from(sip_request(&format!("c{i}"), "")))
                .await
        })
    });
    let ids: Vec<_> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
    assert_eq!(h.handle.connection_count(), 1);
    let (mut peer, _) = tokio::time::timeout(DEADLINE, upstream.accept())
        .await
        .unwrap()
        .unwrap();
    let total: usize = (0..8)
        .map(|i| sip_request(&format!("c{i}"), "").len())
        .sum();
    assert_eq!(read_exact_within(&mut peer, total).await.len(), total);
}

#[tokio::test]
async fn answers_still_go_out_after_a_framing_error() {
    let mut h = Harness::start(loopback_config("tcp-linger")).await;
    let mut c = TcpStream::connect(h.addr(TransportKind::Tcp))
        .await
        .unwrap();
    // A valid request followed by unframeable bytes (no Content-Length).
    let mut bytes = sip_request("valid", "");
    bytes.extend_from_slice(b"INVITE sip:x SIP/2.0\r\nVia: a\r\n\r\n");
    c.write_all(&bytes).await.unwrap();
    let m = h.next_message_is("valid").await;
    h.handle
        .send(
            Destination::Flow(m.flow),
            Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"),
        )
        .await
        .expect("the flow lingers for the answer");
    let rest = read_until_closed(&mut c).await;
    assert_eq!(rest, b"SIP/2.0 200 OK\r\n\r\n");
    h.wait_closed(m.flow).await;
}

/// `[limits] connections_per_sec`: a source opening connections faster is
/// closed for the excess; another source connects.
#[tokio::test]
async fn tcp_connections_per_sec_bounds_one_source_only() {
    let mut config = loopback_config("tcp-rate");
    config.limits.connections_per_sec = 2;
    let mut h = Harness::start(config).await;
    let addr = h.addr(TransportKind::Tcp);
    let from = |ip: [u8; 4]| async move {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(std::net::SocketAddr::from((ip, 0))).unwrap();
        s.connect(addr).await.unwrap()
    };
    let mut conns = Vec::new();
    for i in 0..6 {
        let mut c = from([127, 0, 0, 1]).await;
        let _ = c.write_all(&sip_request(&format!("r{i}"), "")).await;
        conns.push(c);
    }
    // Six connects take milliseconds: at most two per second got through.
    let mut closed = 0;
    for c in &mut conns {
        let mut buf = [0u8; 16];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(300), c.read(&mut buf)).await
        {
            closed += 1;
        }
    }
    assert!(closed >= 2, "{closed} of 6 refused");
    let mut o = from([127, 0, 0, 2]).await;
    o.write_all(&sip_request("other", "")).await.unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let m = tokio::time::timeout_at(deadline, h.messages.recv())
            .await
            .expect("the other source's message")
            .unwrap();
        if String::from_utf8_lossy(&m.bytes).contains("Call-ID: other\r\n") {
            break;
        }
    }
}

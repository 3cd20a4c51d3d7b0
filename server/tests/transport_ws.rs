//! WebSocket transport (RFC 7118) and the HTTP listeners: subprotocol
//! negotiation, text + binary frames, keep-alives, limits, WSS, /healthz.

mod transport_support;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::ServerName;
use sipwake::transport::{Destination, TransportKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use transport_support::*;

async fn ws_connect<S>(
    io: S,
    host: &str,
    protocol: Option<&str>,
) -> Result<WebSocketStream<S>, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut req = format!("ws://{host}/ws").into_client_request().unwrap();
    if let Some(p) = protocol {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    tokio_tungstenite::client_async(req, io)
        .await
        .map(|(ws, resp)| {
            assert_eq!(
                resp.headers()
                    .get("sec-websocket-protocol")
                    .map(|v| v.to_str().unwrap()),
                Some("sip")
            );
            ws
        })
        .map_err(|e| e.to_string())
}

async fn next_ws(ws: &mut WebSocketStream<impl AsyncRead + AsyncWrite + Unpin>) -> Message {
    tokio::time::timeout(DEADLINE, ws.next())
        .await
        .expect("no frame")
        .expect("stream ended")
        .expect("ws error")
}

/// A raw HTTP/1.1 request; returns the whole response (server closes).
async fn raw_http(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    String::from_utf8_lossy(&read_until_closed(&mut s).await).into_owned()
}

fn upgrade_request(protocol: Option<&str>) -> String {
    let proto = protocol
        .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
        .unwrap_or_default();
    format!(
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{proto}\
         Connection: close\r\n\r\n"
    )
}

#[tokio::test]
async fn ws_round_trip_text_and_binary() {
    let mut h = Harness::start(loopback_config("ws-rt")).await;
    let addr = h.http.unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let mut ws = ws_connect(tcp, &addr.to_string(), Some("sip"))
        .await
        .unwrap();

    let text = String::from_utf8(sip_request("w1", "hi")).unwrap();
    ws.send(Message::text(text.clone())).await.unwrap();
    let m = h.next_message_is("w1").await;
    assert_eq!(m.kind, TransportKind::Ws);
    assert_eq!(&m.bytes[..], text.as_bytes());
    assert_eq!(m.remote, local);
    assert_eq!(m.local, addr);
    ws.send(Message::binary(sip_request("w2", "")))
        .await
        .unwrap();
    assert_eq!(h.next_message_is("w2").await.flow, m.flow);

    // Requests to the WS client go back over its own connection, as text.
    h.handle
        .send(
            Destination::Flow(m.flow),
            Bytes::from(sip_request("to-client", "")),
        )
        .await
        .unwrap();
    match next_ws(&mut ws).await {
        Message::Text(t) => assert!(t.as_str().contains("Call-ID: to-client\r\n")),
        other => panic!("expected text, got {other:?}"),
    }
    // Addressing the client's address with kind WS finds the same flow.
    let again = h
        .handle
        .send(
            Destination::Addr {
                kind: TransportKind::Ws,
                addr: local,
            },
            Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"),
        )
        .await
        .unwrap();
    assert_eq!(again, m.flow);
    assert!(matches!(next_ws(&mut ws).await, Message::Text(_)));
    assert_eq!(
        h.handle.via_host_port(TransportKind::Ws),
        Some(("127.0.0.1".to_string(), addr.port()))
    );

    // CRLF keep-alive (SIP.js style) gets a CRLF pong.
    ws.send(Message::text("\r\n\r\n")).await.unwrap();
    match next_ws(&mut ws).await {
        Message::Text(t) => assert_eq!(t.as_str(), "\r\n"),
        other => panic!("expected CRLF pong, got {other:?}"),
    }

    ws.close(None).await.unwrap();
    h.wait_closed(m.flow).await;
    assert!(h.handle.flow(m.flow).is_none());
}

/// A page on another site may not open `/ws` in a visitor's browser
/// (cross-site WebSocket hijacking); the gateway's own pages, allowed
/// origins and non-browser clients (no Origin) may.
#[tokio::test]
async fn ws_from_a_foreign_page_is_403() {
    let h = Harness::start(loopback_config("ws-origin")).await;
    let addr = h.http.unwrap();
    let with_origin = |origin: &str| {
        upgrade_request(Some("sip"))
            .replace("Host: x\r\n", &format!("Host: x\r\nOrigin: {origin}\r\n"))
    };
    let resp = raw_http(addr, &with_origin("https://evil.example")).await;
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    assert!(resp.contains("allowed_origins"), "{resp}");
    for origin in ["http://x", "https://phone.example"] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(with_origin(origin).as_bytes()).await.unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let resp = String::from_utf8_lossy(&buf[..n]);
        assert!(resp.starts_with("HTTP/1.1 101"), "{origin}: {resp}");
    }
}

#[tokio::test]
async fn ws_without_sip_subprotocol_is_400() {
    let h = Harness::start(loopback_config("ws-400")).await;
    let addr = h.http.unwrap();
    for proto in [None, Some("chat"), Some("xsip, sips")] {
        let resp = raw_http(addr, &upgrade_request(proto)).await;
        assert!(resp.starts_with("HTTP/1.1 400"), "{proto:?}: {resp}");
        assert!(resp.contains("\"sip\""), "{resp}");
    }
    // "sip" among several offered is accepted.
    let resp_ok = {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(upgrade_request(Some("chat, sip")).as_bytes())
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(resp_ok.starts_with("HTTP/1.1 101"), "{resp_ok}");
    assert!(
        resp_ok
            .to_ascii_lowercase()
            .contains("sec-websocket-protocol: sip"),
        "{resp_ok}"
    );
}

#[tokio::test]
async fn ws_oversize_frame_closes_the_connection() {
    let mut config = loopback_config("ws-big");
    config.sip.max_message_bytes = 2048;
    let mut h = Harness::start(config).await;
    let addr = h.http.unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut ws = ws_connect(tcp, &addr.to_string(), Some("sip"))
        .await
        .unwrap();
    ws.send(Message::binary(sip_request("small", "")))
        .await
        .unwrap();
    let flow = h.next_message_is("small").await.flow;
    let _ = ws
        .send(Message::binary(sip_request("big", &"x".repeat(5000))))
        .await;
    h.wait_closed(flow).await;
    assert!(h.messages.try_recv().is_err());
}

#[tokio::test]
async fn wss_round_trip_over_https() {
    let mut h = Harness::start(loopback_config("wss")).await;
    let addr = h.https.unwrap();
    let connector = tokio_rustls::TlsConnector::from(client_tls_trusting(&h.cert_path()));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let mut ws = ws_connect(tls, &addr.to_string(), Some("sip"))
        .await
        .unwrap();
    ws.send(Message::text(
        String::from_utf8(sip_request("wss1", "")).unwrap(),
    ))
    .await
    .unwrap();
    let m = h.next_message_is("wss1").await;
    assert_eq!(m.kind, TransportKind::Wss);
    assert!(m.kind.is_secure());
    h.handle
        .send(
            Destination::Flow(m.flow),
            Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"),
        )
        .await
        .unwrap();
    assert!(matches!(next_ws(&mut ws).await, Message::Text(_)));
}

#[tokio::test]
async fn healthz_answers_ok_when_ready() {
    let h = Harness::start(loopback_config("healthz")).await;
    let resp = raw_http(
        h.http.unwrap(),
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("ok"), "{resp}");
    let resp = raw_http(
        h.http.unwrap(),
        "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
}

#[tokio::test]
async fn ws_connections_count_against_max_connections() {
    let mut config = loopback_config("ws-max");
    config.sip.max_connections = 1;
    let mut h = Harness::start(config).await;
    let addr = h.http.unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut ws = ws_connect(tcp, &addr.to_string(), Some("sip"))
        .await
        .unwrap();
    ws.send(Message::binary(sip_request("one", "")))
        .await
        .unwrap();
    h.next_message_is("one").await;
    let resp = raw_http(addr, &upgrade_request(Some("sip"))).await;
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
}

#[tokio::test]
async fn silent_ws_peer_is_closed_after_idle_timeout() {
    let mut config = loopback_config("ws-idle");
    config.sip.idle_timeout_secs = 1;
    let mut h = Harness::start(config).await;
    let addr = h.http.unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut ws = ws_connect(tcp, &addr.to_string(), Some("sip"))
        .await
        .unwrap();
    ws.send(Message::binary(sip_request("quiet", "")))
        .await
        .unwrap();
    let flow = h.next_message_is("quiet").await.flow;
    // Not reading means our pings are never answered.
    h.wait_closed(flow).await;
    assert_eq!(h.handle.connection_count(), 0);
}

#[tokio::test]
async fn http_connections_are_bounded_too() {
    let mut config = loopback_config("http-max");
    config.sip.max_connections = 1;
    let h = Harness::start(config).await;
    let addr = h.http.unwrap();
    // An idle connection holds the only HTTP slot…
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(DEADLINE, idle.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // …so the next one is closed without an answer.
    let resp = raw_http(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(resp, "");
    drop(idle);
    // Once it is gone, a new connection is served (retry until the slot frees).
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let resp = raw_http(
            addr,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        if resp.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
    }
}

#[tokio::test]
async fn shutdown_closes_websockets_with_a_close_frame() {
    let mut h = Harness::start(loopback_config("ws-shutdown")).await;
    let addr = h.http.unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut ws = ws_connect(tcp, &addr.to_string(), Some("sip"))
        .await
        .unwrap();
    ws.send(Message::binary(sip_request("bye", "")))
        .await
        .unwrap();
    let flow = h.next_message_is("bye").await.flow;
    let handle = h.handle.clone();
    let stopping = tokio::spawn(async move { handle.shutdown(DEADLINE).await });
    assert!(matches!(next_ws(&mut ws).await, Message::Close(_)));
    drop(ws);
    assert!(stopping.await.unwrap(), "tasks did not finish");
    h.wait_closed(flow).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "HTTP listener still open"
    );
}

//! The proxy on the real transports over loopback UDP: what `main` wires.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sipwake::config::Config;
use sipwake::proxy::{Proxy, ProxyParts};
use sipwake::transport::{TransportHandle, TransportKind};
use sipwake_sip::Message;
use tokio::net::UdpSocket;

const DEADLINE: Duration = Duration::from_secs(10);

fn config(name: &str, upstream: Option<SocketAddr>) -> Config {
    let mut c = Config::default();
    c.sip.udp = vec!["127.0.0.1:0".parse().unwrap()];
    c.sip.tcp = vec![];
    c.sip.tls = vec![];
    c.http.https = None;
    // Proxy::new keeps its token key in data_dir: never in the source tree.
    c.data_dir =
        std::env::temp_dir().join(format!("sipwake-proxy-wired-{name}-{}", std::process::id()));
    if let Some(u) = upstream {
        c.upstream.server = format!("sip:{u}");
    }
    c
}

async fn start(c: Config) -> (Arc<Proxy>, SocketAddr) {
    let c = Arc::new(c);
    let transports = TransportHandle::new(&c, None);
    let parts = ProxyParts::new(c.clone(), Arc::new(transports.clone())).unwrap();
    let proxy = Proxy::new(parts).unwrap();
    let bound = transports.start(&c, None, proxy.clone()).await.unwrap();
    let udp = bound
        .iter()
        .find(|l| l.kind == TransportKind::Udp)
        .unwrap()
        .addr;
    (proxy, udp)
}

async fn recv(sock: &UdpSocket) -> Message {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, _) = tokio::time::timeout(DEADLINE, sock.recv_from(&mut buf))
            .await
            .expect("nothing received")
            .unwrap();
        let m = Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap();
        // Skip 100 Trying: hop by hop, not what the tests look at.
        if m.status() != Some(100) {
            return m;
        }
    }
}

fn req(
    method: &str,
    ruri: &str,
    me: SocketAddr,
    user: &str,
    to: &str,
    cid: &str,
    extra: &str,
) -> Vec<u8> {
    format!(
        "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{cid};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@127.0.0.1>;tag=t{cid}\r\nTo: <sip:{to}@127.0.0.1>\r\nCall-ID: {cid}\r\nCSeq: 1 {method}\r\nContact: <sip:{user}@{me}>\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn answer(m: &Message, code: u16) -> Vec<u8> {
    let mut s = format!("SIP/2.0 {code} OK\r\n");
    for v in m.headers_named("Via") {
        s.push_str(&format!("Via: {}\r\n", v.value));
    }
    for n in ["From", "To", "Call-ID", "CSeq"] {
        s.push_str(&format!("{n}: {}\r\n", m.header(n).unwrap()));
    }
    if m.method() == Some("REGISTER") {
        s.push_str(&format!(
            "Contact: {};expires=600\r\n",
            m.header("Contact").unwrap()
        ));
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    s.into_bytes()
}

#[tokio::test]
async fn standalone_message_between_two_udp_clients() {
    let (_proxy, gw) = start(config("standalone", None)).await;
    let alice = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let bob = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (a, b) = (alice.local_addr().unwrap(), bob.local_addr().unwrap());
    for (sock, me, user) in [(&alice, a, "alice"), (&bob, b, "bob")] {
        sock.send_to(
            &req(
                "REGISTER",
                "sip:127.0.0.1",
                me,
                user,
                user,
                &format!("r{user}"),
                "Expires: 600\r\n",
            ),
            gw,
        )
        .await
        .unwrap();
        assert_eq!(recv(sock).await.status(), Some(200));
    }
    alice
        .send_to(
            &req("MESSAGE", "sip:bob@127.0.0.1", a, "alice", "bob", "m1", ""),
            gw,
        )
        .await
        .unwrap();
    let m = recv(&bob).await;
    assert_eq!(m.method(), Some("MESSAGE"));
    assert_eq!(m.request_uri(), Some(format!("sip:bob@{b}").as_str()));
    assert_eq!(m.count("Via"), 2);
    bob.send_to(&answer(&m, 200), gw).await.unwrap();
    let ok = recv(&alice).await;
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.count("Via"), 1);
}

#[tokio::test]
async fn upstream_register_with_path_and_a_request_back() {
    let upstream = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (_proxy, gw) = start(config("upstream", Some(upstream.local_addr().unwrap()))).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let c = client.local_addr().unwrap();
    client
        .send_to(
            &req(
                "REGISTER",
                "sip:127.0.0.1",
                c,
                "alice",
                "alice",
                "ur1",
                "Expires: 600\r\n",
            ),
            gw,
        )
        .await
        .unwrap();
    let reg = recv(&upstream).await;
    assert_eq!(reg.method(), Some("REGISTER"));
    let path = reg.header("Path").unwrap().to_owned();
    assert!(path.contains(&format!("@{gw};lr>")), "{path} vs {gw}");
    upstream.send_to(&answer(&reg, 200), gw).await.unwrap();
    assert_eq!(recv(&client).await.status(), Some(200));

    let up = upstream.local_addr().unwrap();
    let msg = format!(
        "MESSAGE sip:alice@{c} SIP/2.0\r\nVia: SIP/2.0/UDP {up};branch=z9hG4bKup1\r\nRoute: {path}\r\nMax-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1>;tag=b\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: up1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
    );
    upstream.send_to(msg.as_bytes(), gw).await.unwrap();
    let m = recv(&client).await;
    assert_eq!(m.method(), Some("MESSAGE"));
    assert_eq!(m.count("Route"), 0);
    client.send_to(&answer(&m, 200), gw).await.unwrap();
    let ok = recv(&upstream).await;
    assert_eq!(
        (ok.status(), ok.header("Call-ID")),
        (Some(200), Some("up1"))
    );
}

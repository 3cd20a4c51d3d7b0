//! TLS transport: the self-signed certificate, round trips, outgoing TLS,
//! handshake timeout.

mod transport_support;

use bytes::Bytes;
use rustls_pki_types::ServerName;
use sipwake::transport::{Destination, SendError, TransportKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use transport_support::*;

#[tokio::test]
async fn tls_round_trip_with_the_generated_certificate() {
    let mut h = Harness::start(loopback_config("tls-rt")).await;
    let connector = TlsConnector::from(client_tls_trusting(&h.cert_path()));
    let tcp = TcpStream::connect(h.addr(TransportKind::Tls))
        .await
        .unwrap();
    // The generated certificate names localhost, 127.0.0.1 and ::1.
    let mut c = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("handshake");
    c.write_all(&[sip_request("s1", "abc"), sip_request("s2", "")].concat())
        .await
        .unwrap();
    let m = h.next_message_is("s1").await;
    assert_eq!(m.kind, TransportKind::Tls);
    assert_eq!(&m.bytes[..], &sip_request("s1", "abc")[..]);
    assert_eq!(h.next_message_is("s2").await.flow, m.flow);

    c.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    tokio::time::timeout(DEADLINE, c.read_exact(&mut pong))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&pong, b"\r\n");

    h.handle
        .send(
            Destination::Flow(m.flow),
            Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"),
        )
        .await
        .unwrap();
    let mut reply = [0u8; 18];
    tokio::time::timeout(DEADLINE, c.read_exact(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&reply, b"SIP/2.0 200 OK\r\n\r\n");
    assert!(TransportKind::Tls.is_secure());
}

#[tokio::test]
async fn outgoing_tls_verifies_and_reuses_the_connection() {
    // The gateway dials its own TLS listener: sip.tls_ca trusts its cert,
    // which carries 127.0.0.1 as an IP SAN.
    let mut config = loopback_config("tls-out");
    std::fs::create_dir_all(&config.data_dir).unwrap();
    config.sip.tls_ca = config.data_files().self_signed_cert;
    sipwake::tls::install_crypto_provider();
    sipwake::tls::load_or_generate(&config, None).unwrap();
    let mut h = Harness::start(config).await;
    let dest = Destination::Addr {
        kind: TransportKind::Tls,
        addr: h.addr(TransportKind::Tls),
    };
    let out = h
        .handle
        .send(dest.clone(), Bytes::from(sip_request("loop1", "")))
        .await
        .expect("outgoing TLS");
    let inbound = h.next_message_is("loop1").await;
    assert_eq!(inbound.kind, TransportKind::Tls);
    assert_ne!(inbound.flow, out, "the two ends are two flows");
    assert_eq!(
        h.handle
            .send(dest, Bytes::from(sip_request("loop2", "")))
            .await
            .unwrap(),
        out
    );
    assert_eq!(h.next_message_is("loop2").await.flow, inbound.flow);
}

#[tokio::test]
async fn outgoing_tls_to_an_untrusted_peer_fails() {
    // Without tls_ca the self-signed certificate is not trusted.
    let h = Harness::start(loopback_config("tls-untrusted")).await;
    let dest = Destination::Addr {
        kind: TransportKind::Tls,
        addr: h.addr(TransportKind::Tls),
    };
    let err = h
        .handle
        .send(dest, Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::TlsHandshake { .. }), "{err}");
}

#[tokio::test]
async fn tls_handshake_must_finish_within_read_timeout() {
    let mut config = loopback_config("tls-slow");
    config.sip.read_timeout_secs = 1;
    let h = Harness::start(config).await;
    let mut tcp = TcpStream::connect(h.addr(TransportKind::Tls))
        .await
        .unwrap();
    // Say nothing: the server gives up on the handshake and closes.
    read_until_closed(&mut tcp).await;
    assert_eq!(h.handle.flow_count(), 0);
}

#[tokio::test]
async fn outgoing_tls_verifies_the_configured_host_name() {
    let mut config = loopback_config("tls-name");
    std::fs::create_dir_all(&config.data_dir).unwrap();
    config.sip.tls_ca = config.data_files().self_signed_cert;
    sipwake::tls::install_crypto_provider();
    sipwake::tls::load_or_generate(&config, None).unwrap();
    let mut h = Harness::start(config).await;
    let addr = h.addr(TransportKind::Tls);
    let dest = Destination::Addr {
        kind: TransportKind::Tls,
        addr,
    };
    // A name the certificate does not carry fails verification…
    h.handle.set_tls_name(addr, "pbx.example.org");
    let err = h
        .handle
        .send(dest.clone(), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::TlsHandshake { .. }), "{err}");
    // …and one it carries (SAN localhost) succeeds.
    h.handle.set_tls_name(addr, "localhost");
    h.handle
        .send(dest, Bytes::from(sip_request("named", "")))
        .await
        .unwrap();
    h.next_message_is("named").await;
}

//! A minimal Rust SIP client connection over UDP, TCP, TLS, WS and WSS:
//! send raw bytes, receive framed messages, build requests. It keeps one
//! connection for everything (RFC 5626 style), which is what the gateway's
//! flow routing must honour. UA behaviour (auth, calls) is in `ua.rs`.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::Error;
use crate::sipmsg::{self, Msg};
use crate::tls::tls_connect;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

enum Conn {
    Udp { sock: UdpSocket, peer: SocketAddr },
    Stream { io: Box<dyn Io>, buf: Vec<u8> },
    Ws(Box<WebSocketStream<Box<dyn Io>>>),
}

/// One SIP connection with a user identity.
pub struct SipClient {
    conn: Conn,
    /// Via transport token (UDP, TCP, TLS, WS, WSS).
    pub transport: &'static str,
    /// Via sent-by / Contact host:port.
    pub local: String,
    pub user: String,
    pub domain: String,
    /// Digest password for challenges (set by [`SipClient::register`]).
    pub password: Option<String>,
    pub(crate) cseq: u32,
    pub(crate) call_id: String,
    pub(crate) from_tag: String,
}

/// How long any single expected message may take.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

impl SipClient {
    pub async fn udp(peer: SocketAddr, user: &str, domain: &str) -> Result<Self, Error> {
        Self::udp_from([127, 0, 0, 1].into(), peer, user, domain).await
    }

    /// A UDP client on another loopback address (`127.0.0.2` …), to be a
    /// different source to the gateway.
    pub async fn udp_from(
        ip: std::net::IpAddr,
        peer: SocketAddr,
        user: &str,
        domain: &str,
    ) -> Result<Self, Error> {
        let sock = UdpSocket::bind(SocketAddr::new(ip, 0))
            .await
            .map_err(|e| Error::io("bind udp", e))?;
        let local = sock
            .local_addr()
            .map_err(|e| Error::io("local_addr", e))?
            .to_string();
        Ok(Self::new(
            Conn::Udp { sock, peer },
            "UDP",
            local,
            user,
            domain,
        ))
    }

    pub async fn tcp(peer: SocketAddr, user: &str, domain: &str) -> Result<Self, Error> {
        let tcp = TcpStream::connect(peer)
            .await
            .map_err(|e| Error::io(format!("connect tcp {peer}"), e))?;
        let local = tcp
            .local_addr()
            .map_err(|e| Error::io("local_addr", e))?
            .to_string();
        Ok(Self::new(
            Conn::Stream {
                io: Box::new(tcp),
                buf: Vec::new(),
            },
            "TCP",
            local,
            user,
            domain,
        ))
    }

    /// TLS to `peer`, accepting the gateway's self-signed certificate.
    pub async fn tls(peer: SocketAddr, user: &str, domain: &str) -> Result<Self, Error> {
        let (io, local) = tls_connect(peer).await?;
        Ok(Self::new(
            Conn::Stream {
                io,
                buf: Vec::new(),
            },
            "TLS",
            local,
            user,
            domain,
        ))
    }

    /// WebSocket (`ws://` or, with `secure`, `wss://` accepting any cert) to
    /// `peer` at `path`, offering the `sip` subprotocol (RFC 7118).
    pub async fn ws(
        peer: SocketAddr,
        path: &str,
        secure: bool,
        user: &str,
        domain: &str,
    ) -> Result<Self, Error> {
        let (io, scheme): (Box<dyn Io>, &str) = if secure {
            (tls_connect(peer).await?.0, "wss")
        } else {
            let tcp = TcpStream::connect(peer)
                .await
                .map_err(|e| Error::io(format!("connect {peer}"), e))?;
            (Box::new(tcp), "ws")
        };
        let mut req = format!("{scheme}://{peer}{path}")
            .into_client_request()
            .map_err(|e| Error::Protocol(format!("ws request: {e}")))?;
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "sip".parse().map_err(|_| Error::Setup("header".into()))?,
        );
        let (ws, resp) =
            tokio::time::timeout(RECV_TIMEOUT, tokio_tungstenite::client_async(req, io))
                .await
                .map_err(|_| Error::Timeout("websocket handshake".into()))?
                .map_err(|e| {
                    Error::Protocol(format!("websocket handshake with {peer}{path}: {e}"))
                })?;
        let proto = resp
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok());
        if proto != Some("sip") {
            return Err(Error::Protocol(format!(
                "server chose subprotocol {proto:?}, want sip"
            )));
        }
        // RFC 7118: the Via host is an invented .invalid name.
        let local = format!("{}.invalid", sipmsg::token("ws"));
        let transport = if secure { "WSS" } else { "WS" };
        Ok(Self::new(
            Conn::Ws(Box::new(ws)),
            transport,
            local,
            user,
            domain,
        ))
    }

    fn new(conn: Conn, transport: &'static str, local: String, user: &str, domain: &str) -> Self {
        Self {
            conn,
            transport,
            local,
            user: user.to_string(),
            domain: domain.to_string(),
            password: None,
            cseq: 0,
            call_id: sipmsg::token("cid"),
            from_tag: sipmsg::token("tag"),
        }
    }

    /// Contact URI for this flow.
    pub fn contact(&self) -> String {
        format!(
            "<sip:{}@{};transport={}>",
            self.user,
            self.local,
            self.transport.to_ascii_lowercase()
        )
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match &mut self.conn {
            Conn::Udp { sock, peer } => {
                sock.send_to(bytes, *peer)
                    .await
                    .map_err(|e| Error::io("udp send", e))?;
            }
            Conn::Stream { io, .. } => {
                io.write_all(bytes)
                    .await
                    .map_err(|e| Error::io("stream write", e))?;
                io.flush().await.map_err(|e| Error::io("stream flush", e))?;
            }
            Conn::Ws(ws) => {
                // RFC 7118: a SIP message is one text (or binary) frame.
                let msg = match std::str::from_utf8(bytes) {
                    Ok(s) => WsMessage::text(s.to_string()),
                    Err(_) => WsMessage::binary(bytes.to_vec()),
                };
                ws.send(msg)
                    .await
                    .map_err(|e| Error::Protocol(format!("ws send: {e}")))?;
            }
        }
        Ok(())
    }

    /// Next SIP message within `timeout` (stream keep-alive CRLFs skipped).
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<Msg, Error> {
        match tokio::time::timeout(timeout, self.recv_inner()).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout(format!(
                "a SIP message on {} within {timeout:?}",
                self.transport
            ))),
        }
    }

    pub async fn recv(&mut self) -> Result<Msg, Error> {
        self.recv_timeout(RECV_TIMEOUT).await
    }

    /// `Ok(None)` when nothing arrives within `timeout` (for "must not answer" checks).
    pub async fn recv_none(&mut self, timeout: Duration) -> Result<Option<Msg>, Error> {
        match tokio::time::timeout(timeout, self.recv_inner()).await {
            Ok(r) => r.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Whether the peer closed a stream connection (EOF or error) within `timeout`.
    pub async fn closed_within(&mut self, timeout: Duration) -> bool {
        let res = tokio::time::timeout(timeout, async {
            loop {
                match self.recv_inner().await {
                    Ok(_) => continue,
                    Err(_) => return,
                }
            }
        })
        .await;
        res.is_ok()
    }

    async fn recv_inner(&mut self) -> Result<Msg, Error> {
        match &mut self.conn {
            Conn::Udp { sock, .. } => {
                let mut buf = vec![0u8; 65536];
                let (n, _) = sock
                    .recv_from(&mut buf)
                    .await
                    .map_err(|e| Error::io("udp recv", e))?;
                Msg::parse(&buf[..n])
            }
            Conn::Stream { io, buf } => loop {
                if let Some(n) = sipmsg::frame(buf)? {
                    let frame: Vec<u8> = buf.drain(..n).collect();
                    if frame.iter().all(|b| *b == b'\r' || *b == b'\n') {
                        continue;
                    }
                    return Msg::parse(&frame);
                }
                let mut chunk = [0u8; 16384];
                let n = io
                    .read(&mut chunk)
                    .await
                    .map_err(|e| Error::io("stream read", e))?;
                if n == 0 {
                    return Err(Error::Protocol("connection closed by peer".into()));
                }
                buf.extend_from_slice(&chunk[..n]);
            },
            Conn::Ws(ws) => loop {
                let Some(frame) = ws.next().await else {
                    return Err(Error::Protocol("websocket closed by peer".into()));
                };
                let frame = frame.map_err(|e| Error::Protocol(format!("ws recv: {e}")))?;
                match frame {
                    WsMessage::Text(t) => return Msg::parse(t.as_bytes()),
                    WsMessage::Binary(b) => return Msg::parse(&b),
                    WsMessage::Close(_) => {
                        return Err(Error::Protocol("websocket closed by peer".into()));
                    }
                    _ => continue,
                }
            },
        }
    }

    /// Receives until a message matching `pred` arrives, skipping others
    /// (e.g. provisional responses, retransmissions).
    pub async fn recv_until(
        &mut self,
        what: &str,
        pred: impl Fn(&Msg) -> bool,
    ) -> Result<Msg, Error> {
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self
                .recv_timeout(left)
                .await
                .map_err(|e| Error::Protocol(format!("waiting for {what}: {e}")))?;
            if pred(&m) {
                return Ok(m);
            }
        }
    }

    /// Final response for the request with CSeq `cseq` (1xx skipped).
    pub(crate) async fn final_response(&mut self, cseq: u32) -> Result<Msg, Error> {
        let want = cseq.to_string();
        self.recv_until("final response", |m| {
            m.status().is_some_and(|s| s >= 200)
                && m.header("CSeq").and_then(|c| c.split_whitespace().next()) == Some(want.as_str())
        })
        .await
    }

    /// Builds an out-of-dialog request from this client.
    pub fn request(
        &mut self,
        method: &str,
        ruri: &str,
        to: &str,
        extra: &[String],
        body: &str,
    ) -> String {
        self.cseq += 1;
        let mut out = format!(
            "{method} {ruri} SIP/2.0\r\n\
             Via: SIP/2.0/{t} {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@{domain}>;tag={tag}\r\n\
             To: {to}\r\n\
             Call-ID: {cid}\r\n\
             CSeq: {cseq} {method}\r\n",
            t = self.transport,
            local = self.local,
            branch = sipmsg::token("z9hG4bK"),
            user = self.user,
            domain = self.domain,
            tag = self.from_tag,
            cid = self.call_id,
            cseq = self.cseq,
        );
        for h in extra {
            out.push_str(h);
            out.push_str("\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        out
    }
}

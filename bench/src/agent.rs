//! One load client: a UDP socket or a WebSocket connection (RFC 7118, `sip`
//! subprotocol) that registers users with digest auth and answers requests
//! it receives (INVITE → 486, others → 200), so calls routed to it end.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use sipwake_sip::{Message, digest, request, response_to};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::{Error, REALM};

/// Which transport the clients use toward the proxy under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Ws,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Ws => "WS",
        }
    }
}

enum Link {
    Udp { sock: UdpSocket, peer: SocketAddr },
    Ws(Box<WebSocketStream<TcpStream>>),
}

/// Outcome of one registration (challenge + authenticated REGISTER).
#[derive(Debug)]
pub struct Registered {
    /// Latency of each REGISTER transaction (normally 2: 401, then 200).
    pub transactions: Vec<Duration>,
}

pub struct Agent {
    link: Link,
    transport: Transport,
    /// Invented host for Via/Contact (`<name>.invalid`, RFC 7118 style). The
    /// proxies route back by flow (sipwake) or Path `received` (Kamailio),
    /// so the same name across runs replaces the upstream's binding instead
    /// of adding one.
    host: String,
    cseq: u32,
    /// Requests answered while waiting (INVITEs, OPTIONS …).
    pub answered: u64,
    /// When the last INVITE arrived (wake runs time its delivery).
    pub last_invite_at: Option<Instant>,
    pub timeout: Duration,
}

impl Agent {
    /// UDP socket on `local_ip` toward `peer`.
    pub async fn udp(peer: SocketAddr, name: &str) -> Result<Self, Error> {
        let sock = UdpSocket::bind((peer.ip(), 0))
            .await
            .map_err(|e| Error::io("bind udp", e))?;
        Ok(Self::new(Link::Udp { sock, peer }, Transport::Udp, name))
    }

    /// WebSocket to `ws://peer/ws` from source address `src` (several
    /// 127.0.0.x sources avoid running out of ephemeral ports).
    pub async fn ws(peer: SocketAddr, src: IpAddr, name: &str) -> Result<Self, Error> {
        let sock = TcpSocket::new_v4().map_err(|e| Error::io("tcp socket", e))?;
        sock.bind(SocketAddr::new(src, 0))
            .map_err(|e| Error::io(format!("bind {src}"), e))?;
        let tcp = sock
            .connect(peer)
            .await
            .map_err(|e| Error::io(format!("connect {peer}"), e))?;
        let _ = tcp.set_nodelay(true);
        let mut req = format!("ws://{peer}/ws")
            .into_client_request()
            .map_err(|e| Error::Sip(format!("ws request: {e}")))?;
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "sip".parse().map_err(|_| Error::Setup("header".into()))?,
        );
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(10),
            // Small buffers: tens of thousands of held clients share this
            // process (tungstenite's default is 128 KiB each way).
            tokio_tungstenite::client_async_with_config(
                req,
                tcp,
                Some(
                    WebSocketConfig::default()
                        .read_buffer_size(8192)
                        .write_buffer_size(0),
                ),
            ),
        )
        .await
        .map_err(|_| Error::Timeout(format!("websocket handshake with {peer}")))?
        .map_err(|e| Error::Sip(format!("websocket handshake with {peer}: {e}")))?;
        Ok(Self::new(Link::Ws(Box::new(ws)), Transport::Ws, name))
    }

    fn new(link: Link, transport: Transport, name: &str) -> Self {
        Self {
            link,
            transport,
            host: format!("{name}.invalid"),
            cseq: 0,
            answered: 0,
            last_invite_at: None,
            timeout: Duration::from_secs(5),
        }
    }

    async fn send(&mut self, bytes: Bytes) -> Result<(), Error> {
        match &mut self.link {
            Link::Udp { sock, peer } => {
                sock.send_to(&bytes, *peer)
                    .await
                    .map_err(|e| Error::io("udp send", e))?;
            }
            Link::Ws(ws) => {
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| Error::Sip("non-UTF-8 request".into()))?;
                ws.send(WsMessage::text(text))
                    .await
                    .map_err(|e| Error::Sip(format!("ws send: {e}")))?;
            }
        }
        Ok(())
    }

    /// Next SIP message, or None when nothing arrives before `deadline`.
    pub async fn recv_until(&mut self, deadline: Instant) -> Result<Option<Message>, Error> {
        let fut = async {
            match &mut self.link {
                Link::Udp { sock, .. } => {
                    let mut buf = vec![0u8; 65536];
                    let (n, _) = sock
                        .recv_from(&mut buf)
                        .await
                        .map_err(|e| Error::io("udp recv", e))?;
                    buf.truncate(n);
                    Ok::<Bytes, Error>(Bytes::from(buf))
                }
                Link::Ws(ws) => loop {
                    match ws.next().await {
                        Some(Ok(WsMessage::Text(t))) => return Ok(Bytes::from(t.to_string())),
                        Some(Ok(WsMessage::Binary(b))) => return Ok(b),
                        Some(Ok(WsMessage::Close(_))) | None => {
                            return Err(Error::Sip("websocket closed by the proxy".into()));
                        }
                        Some(Ok(_)) => continue, // ping/pong: tungstenite answers pings
                        Some(Err(e)) => return Err(Error::Sip(format!("ws recv: {e}"))),
                    }
                },
            }
        };
        match tokio::time::timeout_at(deadline.into(), fut).await {
            Err(_) => Ok(None),
            Ok(Err(e)) => Err(e),
            Ok(Ok(bytes)) => Message::parse(bytes)
                .map(Some)
                .map_err(|e| Error::Sip(format!("unparsable message: {e}"))),
        }
    }

    /// Answers a request that arrived on this flow: INVITE → 486 Busy Here
    /// (a final answer needs no dialog state), ACK → nothing, else 200.
    pub async fn answer(&mut self, req: &Message) -> Result<(), Error> {
        let resp = match req.method() {
            Some("ACK") | None => return Ok(()),
            Some("INVITE") => {
                self.last_invite_at = Some(Instant::now());
                response_to(req, 486, "Busy Here")
                    .to_tag(&sipwake_sip::new_tag())
                    .build()
            }
            Some(_) => response_to(req, 200, "OK").build(),
        };
        self.answered += 1;
        self.send(resp).await
    }

    /// Registers `user` (digest with `password`) for `expires` seconds with
    /// an X-MPUSH binding, answering any request that arrives meanwhile.
    /// Any final answer other than the challenge and the 200 is a failure.
    pub async fn register(
        &mut self,
        user: &str,
        password: &str,
        expires: u32,
    ) -> Result<Registered, Error> {
        self.register_inner(user, password, Some(expires)).await
    }

    /// Removes every binding of `user` (`Contact: *`, `Expires: 0`).
    pub async fn unregister_all(
        &mut self,
        user: &str,
        password: &str,
    ) -> Result<Registered, Error> {
        self.register_inner(user, password, None).await
    }

    /// `expires` None = remove all bindings.
    async fn register_inner(
        &mut self,
        user: &str,
        password: &str,
        expires: Option<u32>,
    ) -> Result<Registered, Error> {
        let call_id = format!("{}-{user}", self.host);
        let mut creds: Option<String> = None;
        let mut transactions = Vec::with_capacity(2);
        for _ in 0..2 {
            self.cseq += 1;
            let branch = sipwake_sip::new_branch();
            let t = self.transport.name();
            let tl = t.to_ascii_lowercase();
            let host = &self.host;
            let mut b = request("REGISTER", &format!("sip:{REALM}"));
            b.header("Via", &format!("SIP/2.0/{t} {host};branch={branch};rport"))
                .header("From", &format!("<sip:{user}@{REALM}>;tag={}", self.cseq))
                .header("To", &format!("<sip:{user}@{REALM}>"))
                .header("Call-ID", &call_id)
                .header("CSeq", &format!("{} REGISTER", self.cseq))
                .header(
                    "Contact",
                    &match expires {
                        Some(e) => format!("<sip:{user}@{host};transport={tl}>;expires={e}"),
                        None => "*".to_string(),
                    },
                )
                .header("Expires", &expires.unwrap_or(0).to_string())
                .header("Supported", "path")
                .header(
                    "X-MPUSH",
                    &format!("a:org.sipwake.bench:tok-{user}-{}", self.host),
                )
                .header("User-Agent", "sipwake-bench");
            if let Some(c) = &creds {
                b.header("Authorization", c);
            }
            let started = Instant::now();
            self.send(b.build()).await?;
            let resp = self.await_response(&branch, started + self.timeout).await?;
            transactions.push(started.elapsed());
            match resp.status() {
                Some(200) => return Ok(Registered { transactions }),
                Some(401) if creds.is_none() => {
                    let ch = resp
                        .header("WWW-Authenticate")
                        .ok_or_else(|| Error::Sip("401 without WWW-Authenticate".into()))?;
                    let ch = digest::Challenge::parse(ch)
                        .map_err(|e| Error::Sip(format!("challenge: {e}")))?;
                    let ha1 = digest::ha1(user, &ch.realm, password);
                    let c = digest::answer(
                        &ch,
                        user,
                        &ha1,
                        "REGISTER",
                        &format!("sip:{REALM}"),
                        &sipwake_sip::new_tag(),
                        1,
                    )
                    .map_err(|e| Error::Sip(format!("digest: {e}")))?;
                    creds = Some(c.to_header_value());
                }
                other => {
                    return Err(Error::Sip(format!(
                        "REGISTER {user}: final {other:?} {}",
                        resp.reason().unwrap_or("")
                    )));
                }
            }
        }
        Err(Error::Sip(format!("REGISTER {user}: challenged twice")))
    }

    /// Waits for the final response of the transaction `branch`; requests
    /// arriving meanwhile are answered, stray responses ignored.
    async fn await_response(&mut self, branch: &str, deadline: Instant) -> Result<Message, Error> {
        loop {
            let Some(m) = self.recv_until(deadline).await? else {
                return Err(Error::Timeout(format!("response to {branch}")));
            };
            if m.is_request() {
                self.answer(&m).await?;
                continue;
            }
            let ours = m
                .top_via()
                .ok()
                .and_then(|v| v.branch().map(|b| b == branch))
                .unwrap_or(false);
            if ours && m.status().is_some_and(|s| s >= 200) {
                return Ok(m);
            }
        }
    }

    /// Serves requests until `deadline` (idle hold), answering each.
    pub async fn serve_until(&mut self, deadline: Instant) -> Result<(), Error> {
        while let Some(m) = self.recv_until(deadline).await? {
            if m.is_request() {
                self.answer(&m).await?;
            }
        }
        Ok(())
    }

    /// Closes the connection politely (WebSocket close frame).
    pub async fn close(self) {
        if let Link::Ws(mut ws) = self.link {
            let _ = tokio::time::timeout(Duration::from_secs(1), SinkExt::close(&mut ws)).await;
        }
    }
}

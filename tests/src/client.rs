//! A minimal Rust SIP user agent over UDP, TCP, TLS, WS and WSS, enough to
//! register with digest auth, answer a call and send raw bytes. It keeps one
//! connection for everything (RFC 5626 style), which is what the gateway's
//! flow routing must honour.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::Error;
use crate::sipmsg::{self, Challenge, Msg};

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
    cseq: u32,
    call_id: String,
    from_tag: String,
}

/// How long any single expected message may take.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

impl SipClient {
    pub async fn udp(peer: SocketAddr, user: &str, domain: &str) -> Result<Self, Error> {
        let sock = UdpSocket::bind("127.0.0.1:0")
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
    async fn final_response(&mut self, cseq: u32) -> Result<Msg, Error> {
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

    /// REGISTER (answering one digest challenge) and returns the final response.
    pub async fn register(
        &mut self,
        password: &str,
        expires: u32,
        extra: &[String],
    ) -> Result<Msg, Error> {
        self.password = Some(password.to_string());
        let ruri = format!("sip:{}", self.domain);
        let to = format!("<sip:{}@{}>", self.user, self.domain);
        let mut headers = vec![
            format!("Contact: {}", self.contact()),
            format!("Expires: {expires}"),
            "Supported: path, outbound".into(),
        ];
        headers.extend_from_slice(extra);
        self.request_with_auth("REGISTER", &ruri, &to, headers, "")
            .await
    }

    /// Sends an out-of-dialog request to `to_user` (answering one 401/407
    /// challenge when a password is known) and returns the final response.
    pub async fn send_request(
        &mut self,
        method: &str,
        to_user: &str,
        extra: &[String],
        body: &str,
    ) -> Result<Msg, Error> {
        let ruri = format!("sip:{to_user}@{}", self.domain);
        let to = format!("<{ruri}>");
        self.request_with_auth(method, &ruri, &to, extra.to_vec(), body)
            .await
    }

    async fn request_with_auth(
        &mut self,
        method: &str,
        ruri: &str,
        to: &str,
        mut headers: Vec<String>,
        body: &str,
    ) -> Result<Msg, Error> {
        let req = self.request(method, ruri, to, &headers, body);
        self.send_raw(req.as_bytes()).await?;
        let resp = self.final_response(self.cseq).await?;
        let (hdr, auth_hdr) = match resp.status() {
            Some(401) => ("WWW-Authenticate", "Authorization"),
            Some(407) => ("Proxy-Authenticate", "Proxy-Authorization"),
            _ => return Ok(resp),
        };
        let Some(password) = self.password.clone() else {
            return Ok(resp);
        };
        let challenge = Challenge::parse(resp.header(hdr).unwrap_or_default())?;
        let user = self.user.clone();
        let cred = challenge.authorization(&user, &password, method, ruri, &sipmsg::token("cn"));
        headers.push(format!("{auth_hdr}: {cred}"));
        let req = self.request(method, ruri, to, &headers, body);
        self.send_raw(req.as_bytes()).await?;
        self.final_response(self.cseq).await
    }

    /// Places a call to `callee` and hangs up: INVITE (one 401/407 challenge
    /// answered, its ACK sent), 200, ACK and BYE along the Record-Route set to
    /// the callee's Contact, 200 for the BYE. Returns the 200 for the INVITE.
    pub async fn call(&mut self, callee: &str) -> Result<Msg, Error> {
        // A call is its own dialog: fresh Call-ID and From tag.
        let saved = (self.call_id.clone(), self.from_tag.clone());
        self.call_id = sipmsg::token("call");
        self.from_tag = sipmsg::token("tag");
        let res = self.call_inner(callee).await;
        (self.call_id, self.from_tag) = saved;
        res
    }

    async fn call_inner(&mut self, callee: &str) -> Result<Msg, Error> {
        let ruri = format!("sip:{callee}@{}", self.domain);
        let to = format!("<{ruri}>");
        let mut headers = vec![
            format!("Contact: {}", self.contact()),
            "Content-Type: application/sdp".to_string(),
        ];
        let mut resp = Msg::parse(b"SIP/2.0 000 none\r\n\r\n")?;
        for attempt in 0..2 {
            let invite = self.request("INVITE", &ruri, &to, &headers, SDP);
            self.send_raw(invite.as_bytes()).await?;
            resp = self.final_response(self.cseq).await?;
            let (hdr, auth_hdr) = match resp.status() {
                Some(401) => ("WWW-Authenticate", "Authorization"),
                Some(407) => ("Proxy-Authenticate", "Proxy-Authorization"),
                _ => break,
            };
            // A non-2xx final response is ACKed within its transaction.
            let invite = Msg::parse(invite.as_bytes())?;
            self.send_raw(ack_non_2xx(&invite, &resp).as_bytes())
                .await?;
            let Some(password) = self.password.clone().filter(|_| attempt == 0) else {
                break;
            };
            let challenge = Challenge::parse(resp.header(hdr).unwrap_or_default())?;
            let user = self.user.clone();
            let cred =
                challenge.authorization(&user, &password, "INVITE", &ruri, &sipmsg::token("cn"));
            headers.push(format!("{auth_hdr}: {cred}"));
        }
        if resp.status() != Some(200) {
            return Err(Error::Protocol(format!(
                "call to {callee} failed: {}",
                resp.start
            )));
        }
        // In-dialog: R-URI = remote Contact, Route = Record-Route reversed.
        let target = resp
            .header("Contact")
            .map(|c| c.trim_start_matches(|ch| ch != '<').trim_start_matches('<'))
            .and_then(|c| c.split('>').next())
            .ok_or_else(|| Error::Protocol("200 without Contact".into()))?
            .to_string();
        let mut routes: Vec<String> = resp
            .header_all("Record-Route")
            .iter()
            .flat_map(|v| {
                v.split(',')
                    .map(|r| r.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        routes.reverse();
        let to_tagged = resp.header("To").unwrap_or_default().to_string();
        let invite_cseq = self.cseq;
        let mut dialog: Vec<String> = routes.iter().map(|r| format!("Route: {r}")).collect();
        dialog.push(format!("Contact: {}", self.contact()));
        let ack = self.in_dialog("ACK", &target, &to_tagged, invite_cseq, &dialog);
        self.send_raw(ack.as_bytes()).await?;
        self.cseq += 1;
        let bye = self.in_dialog("BYE", &target, &to_tagged, self.cseq, &dialog);
        self.send_raw(bye.as_bytes()).await?;
        let bye_resp = self.final_response(self.cseq).await?;
        if bye_resp.status() != Some(200) {
            return Err(Error::Protocol(format!("BYE answered {}", bye_resp.start)));
        }
        Ok(resp)
    }

    fn in_dialog(
        &self,
        method: &str,
        target: &str,
        to: &str,
        cseq: u32,
        extra: &[String],
    ) -> String {
        let mut out = format!(
            "{method} {target} SIP/2.0\r\n\
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
        );
        for h in extra {
            out.push_str(h);
            out.push_str("\r\n");
        }
        out.push_str("Content-Length: 0\r\n\r\n");
        out
    }

    /// Answers the next incoming call: 180, 200 (with SDP), waits for the
    /// ACK, then for the BYE and answers it 200. Returns the INVITE.
    pub async fn answer_call(&mut self) -> Result<Msg, Error> {
        let invite = self
            .recv_until("INVITE", |m| m.method() == Some("INVITE"))
            .await?;
        let tag = sipmsg::token("uas");
        let contact = format!("Contact: {}", self.contact());
        let ringing = invite.response(180, "Ringing", Some(&tag), std::slice::from_ref(&contact));
        self.send_raw(ringing.as_bytes()).await?;
        let sdp = SDP;
        let ok = invite.response(
            200,
            "OK",
            Some(&tag),
            &[contact, "Content-Type: application/sdp".into()],
        );
        let ok = ok.replace(
            "Content-Length: 0\r\n\r\n",
            &format!("Content-Length: {}\r\n\r\n{sdp}", sdp.len()),
        );
        self.send_raw(ok.as_bytes()).await?;
        self.recv_until("ACK", |m| m.method() == Some("ACK"))
            .await?;
        let bye = self
            .recv_until("BYE", |m| m.method() == Some("BYE"))
            .await?;
        self.send_raw(bye.response(200, "OK", None, &[]).as_bytes())
            .await?;
        Ok(invite)
    }

    /// Answers the next MESSAGE with 200 and returns it.
    pub async fn answer_message(&mut self) -> Result<Msg, Error> {
        let msg = self
            .recv_until("MESSAGE", |m| m.method() == Some("MESSAGE"))
            .await?;
        let tag = sipmsg::token("msg");
        self.send_raw(msg.response(200, "OK", Some(&tag), &[]).as_bytes())
            .await?;
        Ok(msg)
    }
}

/// Minimal audio offer/answer (no media flows in these tests).
const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

/// ACK for a non-2xx final response: same Via (branch), From, Call-ID and
/// R-URI as the INVITE, the response's To (with its tag).
fn ack_non_2xx(invite: &Msg, resp: &Msg) -> String {
    let ruri = invite.start.split(' ').nth(1).unwrap_or_default();
    let cseq = invite
        .header("CSeq")
        .and_then(|c| c.split_whitespace().next())
        .unwrap_or("1");
    format!(
        "ACK {ruri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
         Call-ID: {cid}\r\nCSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n",
        via = invite.header("Via").unwrap_or_default(),
        from = invite.header("From").unwrap_or_default(),
        to = resp.header("To").unwrap_or_default(),
        cid = invite.header("Call-ID").unwrap_or_default(),
    )
}

async fn tls_connect(peer: SocketAddr) -> Result<(Box<dyn Io>, String), Error> {
    let tcp = TcpStream::connect(peer)
        .await
        .map_err(|e| Error::io(format!("connect {peer}"), e))?;
    let local = tcp
        .local_addr()
        .map_err(|e| Error::io("local_addr", e))?
        .to_string();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(insecure_tls_config()));
    let name = rustls_pki_types::ServerName::IpAddress(peer.ip().into());
    let tls = tokio::time::timeout(RECV_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| Error::Timeout("TLS handshake".into()))?
        .map_err(|e| Error::io(format!("TLS handshake with {peer}"), e))?;
    Ok((Box::new(tls), local))
}

/// Client config that accepts any server certificate: the gateway under test
/// uses a freshly generated self-signed one. Signatures are still checked.
pub fn insecure_tls_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AcceptAnyCert(provider.clone()));
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        // Only fails for an unusable provider; ring with defaults is usable.
        .unwrap_or_else(|_| rustls::ClientConfig::builder())
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

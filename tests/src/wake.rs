//! Push wake-up end-to-end helpers: a push app behind the gateway that
//! falls asleep (its connection closes) and wakes on a new connection, a
//! caller at Kamailio whose INVITE/CANCEL/MESSAGE the test drives step by
//! step, and a callee that rings, answers or is cancelled on demand.

use std::time::Duration;

use serde_json::Value;

use crate::client::SipClient;
use crate::gateway::Gateway;
use crate::kamailio::Kamailio;
use crate::push::{self, APP, Api, Options, PushGateway};
use crate::sipmsg::{self, Challenge, Msg};
use crate::ua::{SDP, ack_non_2xx};
use crate::{Error, REALM, password};

/// Generous bound for anything a loaded 2-core machine must get done.
pub const WAIT: Duration = Duration::from_secs(20);

/// How long "nothing more arrives" is watched for.
pub const GRACE: Duration = Duration::from_secs(2);

/// Wake e2e setup: Kamailio upstream, FCM/Web Push (and optionally APNs)
/// mocks, and the gateway with `push` lines in its `[push]` section.
pub async fn start(apns: bool, push: &str) -> Result<PushGateway, Error> {
    PushGateway::start(Options {
        apns,
        extra: format!("\n[push]\n{push}\n"),
        ..Options::default()
    })
    .await
}

/// Where an app connects to the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Tcp,
    Tls,
    Ws,
    Wss,
}

/// A new connection of `user` to the gateway over `edge`.
pub async fn connect(gw: &Gateway, edge: Edge, user: &str) -> Result<SipClient, Error> {
    match edge {
        Edge::Tcp => SipClient::tcp(gw.sip_addr(), user, REALM).await,
        Edge::Tls => SipClient::tls(gw.tls_addr(), user, REALM).await,
        Edge::Ws => SipClient::ws(gw.http_addr(), "/ws", false, user, REALM).await,
        Edge::Wss => SipClient::ws(gw.https_addr(), "/ws", true, user, REALM).await,
    }
}

/// A push app: its `+sip.instance` (stable across connections, as a real
/// app keeps it) and its `X-MPUSH` value.
#[derive(Debug, Clone)]
pub struct App {
    pub user: String,
    pub instance: String,
    pub mpush: String,
}

impl App {
    /// A fresh instance URN for `user` with `X-MPUSH: mpush`.
    pub fn new(user: &str, mpush: &str) -> App {
        App {
            user: user.to_owned(),
            instance: format!("urn:uuid:{}", sipmsg::md5_hex(&sipmsg::token("inst"))),
            mpush: mpush.to_owned(),
        }
    }

    /// The same app without `+sip.instance` (its registrations are told
    /// apart by Contact; the push token keys its binding).
    pub fn without_instance(user: &str, mpush: &str) -> App {
        App {
            user: user.to_owned(),
            instance: String::new(),
            mpush: mpush.to_owned(),
        }
    }

    /// REGISTER headers for this app on connection `c`.
    pub fn headers(&self, c: &SipClient) -> Vec<String> {
        let instance = if self.instance.is_empty() {
            String::new()
        } else {
            format!(";+sip.instance=\"<{}>\"", self.instance)
        };
        vec![
            format!("Contact: {}{instance};expires=600", c.contact()),
            "Expires: 600".into(),
            "Supported: path".into(),
            format!("X-MPUSH: {}", self.mpush),
        ]
    }

    /// The whole registration (401 → 200) on `c`; fails unless 200.
    pub async fn register(&self, c: &mut SipClient) -> Result<Msg, Error> {
        let (challenge, early) = self.register_unauthenticated(c).await?;
        if !early.is_empty() {
            return Err(Error::Protocol(format!(
                "unexpected messages before the 401: {early:?}"
            )));
        }
        let (ok, during) = self.register_authenticated(c, &challenge).await?;
        if ok.status() != Some(200) || !during.is_empty() {
            return Err(Error::Protocol(format!(
                "REGISTER answered {} (other messages: {during:?})",
                ok.start
            )));
        }
        Ok(ok)
    }

    /// The first REGISTER (no credentials): the 401 and every other message
    /// that arrived before it.
    pub async fn register_unauthenticated(
        &self,
        c: &mut SipClient,
    ) -> Result<(Msg, Vec<Msg>), Error> {
        let headers = self.headers(c);
        let (ruri, to) = register_target(c);
        let req = c.request("REGISTER", &ruri, &to, &headers, "");
        let (resp, others) = send_collect(c, req).await?;
        if resp.status() != Some(401) {
            return Err(Error::Protocol(format!(
                "first REGISTER: want 401, got {}",
                resp.start
            )));
        }
        Ok((resp, others))
    }

    /// The REGISTER answering `challenge`: the final response and every
    /// other message that arrived before it (the held INVITE may come just
    /// before the 200, see docs/wake.md).
    pub async fn register_authenticated(
        &self,
        c: &mut SipClient,
        challenge: &Msg,
    ) -> Result<(Msg, Vec<Msg>), Error> {
        let ch = Challenge::parse(challenge.header("WWW-Authenticate").unwrap_or_default())?;
        let (ruri, to) = register_target(c);
        let cred = ch.authorization(
            &self.user,
            password(&self.user),
            "REGISTER",
            &ruri,
            &sipmsg::token("cn"),
        );
        let mut headers = self.headers(c);
        headers.push(format!("Authorization: {cred}"));
        let req = c.request("REGISTER", &ruri, &to, &headers, "");
        send_collect(c, req).await
    }
}

fn register_target(c: &SipClient) -> (String, String) {
    (
        format!("sip:{}", c.domain),
        format!("<sip:{}@{}>", c.user, c.domain),
    )
}

/// Sends the request `req` (built with `c.request`, so `c.cseq` is its
/// CSeq) and returns its final response plus everything else received
/// meanwhile (provisional responses excluded).
pub async fn send_collect(c: &mut SipClient, req: String) -> Result<(Msg, Vec<Msg>), Error> {
    let want = c.cseq.to_string();
    c.send_raw(req.as_bytes()).await?;
    let mut others = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let m = c.recv_timeout(left).await?;
        let ours = m.header("CSeq").and_then(|v| v.split_whitespace().next()) == Some(&want);
        match m.status() {
            Some(s) if ours && s >= 200 => return Ok((m, others)),
            Some(_) if ours => {}
            _ => others.push(m),
        }
    }
}

/// Closes `c` and waits until the gateway has dropped the flow (its log
/// reports one more closed connection), so the next request for the
/// device finds it asleep.
pub async fn fall_asleep(gw: &Gateway, c: SipClient) -> Result<(), Error> {
    let closed = |log: &str| {
        log.matches("websocket closed").count()
            + log.matches("connection closed by peer").count()
            + log.matches("connection read error").count()
    };
    let before = closed(&gw.log());
    drop(c);
    let log_path = gw.log_path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        crate::util::wait_for("the gateway to see the connection close", WAIT, || {
            (closed(&crate::util::read_lossy(&log_path)) > before).then_some(())
        })
    })
    .await
    .map_err(|e| Error::Setup(format!("join: {e}")))?
}

/// `wake` counters of `GET /api/v1/stats`.
pub async fn wake_stats(api: &Api) -> Result<Value, Error> {
    let v = api.json("GET", "/api/v1/stats", None).await?;
    match v.get("wake") {
        Some(w) if w.is_object() => Ok(w.clone()),
        _ => Err(Error::Protocol(format!("stats without wake counters: {v}"))),
    }
}

/// Polls `cond` (async) every 50 ms until it returns `Some`, for up to `timeout`.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut cond: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = cond().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Timeout(format!("{what} (after {timeout:?})")));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// FCM messages the mock accepted with `data.ntype == ntype` and
/// `data.ncallid == call_id`.
pub fn fcm_pushes(env: &PushGateway, ntype: &str, call_id: &str) -> Vec<Value> {
    env.fcm
        .received()
        .into_iter()
        .map(|r| r.body["message"].clone())
        .filter(|m| m["data"]["ntype"] == ntype && m["data"]["ncallid"] == call_id)
        .collect()
}

/// Waits until the FCM mock has `n` pushes of `ntype` for `call_id`.
pub async fn wait_fcm(
    env: &PushGateway,
    ntype: &str,
    call_id: &str,
    n: usize,
) -> Result<Vec<Value>, Error> {
    until(
        &format!("{n} FCM push(es) ntype {ntype} for {call_id}"),
        WAIT,
        || {
            let got = fcm_pushes(env, ntype, call_id);
            async move { (got.len() >= n).then_some(got) }
        },
    )
    .await
}

/// A UDP app with an RFC 8599 push binding (FCM), with a stable instance
/// or (the manual's example form) without one.
pub struct UdpApp {
    pub instance: Option<String>,
    pub token: String,
}

impl UdpApp {
    pub fn new(token: &str, with_instance: bool) -> UdpApp {
        UdpApp {
            instance: with_instance
                .then(|| format!("urn:uuid:{}", sipmsg::md5_hex(&sipmsg::token("inst")))),
            token: token.to_owned(),
        }
    }

    /// A new socket of alice towards the gateway.
    pub async fn socket(&self, gw: &Gateway) -> SipClient {
        SipClient::udp(gw.sip_addr(), "alice", REALM).await.unwrap()
    }

    pub fn headers(&self, c: &SipClient) -> Vec<String> {
        let contact = c.contact();
        let uri = contact.trim_end_matches('>');
        let instance = self
            .instance
            .as_ref()
            .map(|i| format!(";+sip.instance=\"<{i}>\""))
            .unwrap_or_default();
        vec![
            format!(
                "Contact: {uri};pn-provider=fcm;pn-param={APP};pn-prid={}>{instance};expires=600",
                self.token
            ),
            "Expires: 600".into(),
            "Supported: path".into(),
        ]
    }

    /// REGISTER 401 → 200 on `c`: (200, every request that came meanwhile).
    pub async fn register(&self, c: &mut SipClient) -> Result<(Msg, Vec<Msg>), Error> {
        let ruri = format!("sip:{REALM}");
        let to = format!("<sip:alice@{REALM}>");
        let req = c.request("REGISTER", &ruri, &to, &self.headers(c), "");
        let (challenge, mut during) = send_collect(c, req).await?;
        if challenge.status() != Some(401) {
            return Err(Error::Protocol(format!(
                "want 401, got {}",
                challenge.start
            )));
        }
        let ch = Challenge::parse(challenge.header("WWW-Authenticate").unwrap_or_default())?;
        let cred = ch.authorization(
            "alice",
            password("alice"),
            "REGISTER",
            &ruri,
            &sipmsg::token("cn"),
        );
        let mut headers = self.headers(c);
        headers.push(format!("Authorization: {cred}"));
        let req = c.request("REGISTER", &ruri, &to, &headers, "");
        let (ok, more) = send_collect(c, req).await?;
        during.extend(more);
        if ok.status() != Some(200) {
            return Err(Error::Protocol(format!("REGISTER answered {}", ok.start)));
        }
        Ok((ok, during))
    }
}

/// A caller at Kamailio (UDP, digest user of Kamailio): INVITE or MESSAGE
/// driven step by step.
pub struct Caller {
    pub client: SipClient,
    /// The request as last sent (after a 407 round: the one with credentials).
    pub sent: Option<Msg>,
    /// Provisional responses received so far.
    pub provisional: Vec<Msg>,
    /// A final response that came before the test asked for it.
    pending_final: Option<Msg>,
    pub call_id: String,
    /// After the ACK of a 2xx: (remote target, To with tag, Route + Contact headers).
    dialog: Option<(String, String, Vec<String>)>,
}

impl Caller {
    /// `user` (a Kamailio user) talking to Kamailio directly over UDP.
    pub async fn at(kamailio: &Kamailio, user: &str) -> Result<Caller, Error> {
        let mut client = SipClient::udp(kamailio.addr(), user, REALM).await?;
        client.password = Some(password(user).to_owned());
        let call_id = sipmsg::token("wake-call");
        client.call_id = call_id.clone();
        Ok(Caller {
            client,
            sent: None,
            provisional: Vec::new(),
            pending_final: None,
            call_id,
            dialog: None,
        })
    }

    /// Sends `method` to `callee` (Kamailio challenges its own users with
    /// 407: answered once) and returns once the request with credentials
    /// is on its way. The final response is read with [`Caller::final_response`].
    pub async fn send(
        &mut self,
        method: &str,
        callee: &str,
        extra: &[String],
        body: &str,
    ) -> Result<(), Error> {
        let ruri = format!("sip:{callee}@{REALM}");
        let to = format!("<{ruri}>");
        let mut headers = extra.to_vec();
        if method == "INVITE" {
            headers.push(format!("Contact: {}", self.client.contact()));
            headers.push("Content-Type: application/sdp".into());
        }
        let body = if method == "INVITE" { SDP } else { body };
        let req = self.client.request(method, &ruri, &to, &headers, body);
        self.client.send_raw(req.as_bytes()).await?;
        let first = self.next_response().await?;
        if first.status() != Some(407) {
            self.sent = Some(Msg::parse(req.as_bytes())?);
            self.sort(first);
            return Ok(());
        }
        let sent = Msg::parse(req.as_bytes())?;
        if method == "INVITE" {
            self.client
                .send_raw(ack_non_2xx(&sent, &first).as_bytes())
                .await?;
        }
        let ch = Challenge::parse(first.header("Proxy-Authenticate").unwrap_or_default())?;
        let user = self.client.user.clone();
        let cred = ch.authorization(&user, password(&user), method, &ruri, &sipmsg::token("cn"));
        headers.push(format!("Proxy-Authorization: {cred}"));
        let req = self.client.request(method, &ruri, &to, &headers, body);
        self.client.send_raw(req.as_bytes()).await?;
        self.sent = Some(Msg::parse(req.as_bytes())?);
        Ok(())
    }

    async fn next_response(&mut self) -> Result<Msg, Error> {
        self.client
            .recv_until("a response", |m| m.status().is_some())
            .await
    }

    fn cseq(&self) -> String {
        self.client.cseq.to_string()
    }

    fn sort(&mut self, m: Msg) {
        if m.status().is_some_and(|s| s < 200) {
            self.provisional.push(m);
        } else {
            self.pending_final = Some(m);
        }
    }

    /// The final response to the current request, within `timeout`
    /// (provisional responses are kept in [`Caller::provisional`]). A
    /// non-2xx final to an INVITE is ACKed.
    pub async fn final_response(&mut self, timeout: Duration) -> Result<Msg, Error> {
        let want = self.cseq();
        let deadline = tokio::time::Instant::now() + timeout;
        let resp = loop {
            if let Some(m) = self.pending_final.take() {
                break m;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self
                .client
                .recv_timeout(left)
                .await
                .map_err(|e| Error::Protocol(format!("waiting for the final response: {e}")))?;
            let ours = m.header("CSeq").and_then(|v| v.split_whitespace().next())
                == Some(want.as_str())
                && m.cseq_method() == self.sent.as_ref().and_then(|s| s.method());
            if ours && m.status().is_some() {
                self.sort(m);
            }
        };
        if let Some(sent) = &self.sent
            && sent.method() == Some("INVITE")
            && resp.status().is_some_and(|s| s >= 300)
        {
            self.client
                .send_raw(ack_non_2xx(sent, &resp).as_bytes())
                .await?;
        }
        Ok(resp)
    }

    /// CANCELs the INVITE: returns (the 200 for the CANCEL, the INVITE's
    /// final response, ACKed).
    pub async fn cancel(&mut self) -> Result<(Msg, Msg), Error> {
        let sent = self
            .sent
            .clone()
            .ok_or_else(|| Error::Setup("CANCEL before INVITE".into()))?;
        let ruri = sent.start.split(' ').nth(1).unwrap_or_default();
        let cancel = format!(
            "CANCEL {ruri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
             Call-ID: {cid}\r\nCSeq: {cseq} CANCEL\r\nContent-Length: 0\r\n\r\n",
            via = sent.header("Via").unwrap_or_default(),
            from = sent.header("From").unwrap_or_default(),
            to = sent.header("To").unwrap_or_default(),
            cid = sent.header("Call-ID").unwrap_or_default(),
            cseq = self.cseq(),
        );
        self.client.send_raw(cancel.as_bytes()).await?;
        // The INVITE's final may overtake the CANCEL's answer: keep it.
        let ok = loop {
            let m = self
                .client
                .recv_until("the answer to the CANCEL", |m| m.status().is_some())
                .await?;
            if m.cseq_method() == Some("CANCEL") {
                break m;
            }
            if m.cseq_method() == Some("INVITE") && m.status().is_some_and(|s| s >= 200) {
                self.pending_final = Some(m);
            }
        };
        let fin = self.final_response(WAIT).await?;
        Ok((ok, fin))
    }

    /// ACK for a 2xx (to the callee's Contact along the Record-Route set);
    /// the dialog is kept for [`Caller::bye`].
    pub async fn ack(&mut self, ok: &Msg) -> Result<(), Error> {
        let target = ok
            .header("Contact")
            .map(|c| c.trim_start_matches(|ch| ch != '<').trim_start_matches('<'))
            .and_then(|c| c.split('>').next())
            .ok_or_else(|| Error::Protocol("200 without Contact".into()))?
            .to_string();
        let mut routes: Vec<String> = ok
            .header_all("Record-Route")
            .iter()
            .flat_map(|v| v.split(',').map(|r| r.trim().to_string()))
            .collect();
        routes.reverse();
        let to_tagged = ok.header("To").unwrap_or_default().to_string();
        let mut headers: Vec<String> = routes.iter().map(|r| format!("Route: {r}")).collect();
        headers.push(format!("Contact: {}", self.client.contact()));
        let invite_cseq = self.client.cseq;
        let ack = self
            .client
            .in_dialog("ACK", &target, &to_tagged, invite_cseq, &headers);
        self.client.send_raw(ack.as_bytes()).await?;
        self.dialog = Some((target, to_tagged, headers));
        Ok(())
    }

    /// BYE in the dialog [`Caller::ack`] confirmed; its final response.
    pub async fn bye(&mut self) -> Result<Msg, Error> {
        let (target, to, headers) = self
            .dialog
            .clone()
            .ok_or_else(|| Error::Setup("BYE before ACK".into()))?;
        self.client.cseq += 1;
        let cseq = self.client.cseq;
        let bye = self.client.in_dialog("BYE", &target, &to, cseq, &headers);
        self.client.send_raw(bye.as_bytes()).await?;
        self.client.final_response(cseq).await
    }
}

/// An INVITE the callee has answered 180 to.
pub struct Ringing {
    pub invite: Msg,
    pub tag: String,
}

/// Waits up to `timeout` for an INVITE on `c`.
pub async fn expect_invite(c: &mut SipClient, timeout: Duration) -> Result<Msg, Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let m = c
            .recv_timeout(left)
            .await
            .map_err(|e| Error::Protocol(format!("waiting for an INVITE: {e}")))?;
        if m.method() == Some("INVITE") {
            return Ok(m);
        }
    }
}

/// Sends 180 for `invite`.
pub async fn ring(c: &mut SipClient, invite: Msg) -> Result<Ringing, Error> {
    let tag = sipmsg::token("uas");
    let contact = format!("Contact: {}", c.contact());
    let ringing = invite.response(180, "Ringing", Some(&tag), &[contact]);
    c.send_raw(ringing.as_bytes()).await?;
    Ok(Ringing { invite, tag })
}

/// Answers a ringing INVITE 200 (with SDP); the caller's ACK is awaited
/// with [`expect_ack`].
pub async fn accept(c: &mut SipClient, r: &Ringing) -> Result<(), Error> {
    let contact = format!("Contact: {}", c.contact());
    let ok = r.invite.response(
        200,
        "OK",
        Some(&r.tag),
        &[contact, "Content-Type: application/sdp".into()],
    );
    let ok = ok.replace(
        "Content-Length: 0\r\n\r\n",
        &format!("Content-Length: {}\r\n\r\n{SDP}", SDP.len()),
    );
    c.send_raw(ok.as_bytes()).await
}

/// Waits for an ACK (of a 2xx: end to end from the caller).
pub async fn expect_ack(c: &mut SipClient) -> Result<Msg, Error> {
    c.recv_until("ACK", |m| m.method() == Some("ACK")).await
}

/// Waits for the caller's BYE and answers it 200.
pub async fn answer_bye(c: &mut SipClient) -> Result<Msg, Error> {
    let bye = c.recv_until("BYE", |m| m.method() == Some("BYE")).await?;
    c.send_raw(bye.response(200, "OK", None, &[]).as_bytes())
        .await?;
    Ok(bye)
}

/// Waits for a CANCEL of the ringing INVITE, answers it 200 and the INVITE
/// 487, waits for the ACK; returns the CANCEL.
pub async fn cancelled(c: &mut SipClient, r: &Ringing) -> Result<Msg, Error> {
    let cancel = c
        .recv_until("CANCEL", |m| m.method() == Some("CANCEL"))
        .await?;
    c.send_raw(cancel.response(200, "OK", Some(&r.tag), &[]).as_bytes())
        .await?;
    let term = r
        .invite
        .response(487, "Request Terminated", Some(&r.tag), &[]);
    c.send_raw(term.as_bytes()).await?;
    c.recv_until("ACK of the 487", |m| m.method() == Some("ACK"))
        .await?;
    Ok(cancel)
}

/// `Ok(None)` when no request of `method` arrives on `c` within `window`
/// (other messages are skipped); the request otherwise.
pub async fn no_request(
    c: &mut SipClient,
    method: &str,
    window: Duration,
) -> Result<Option<Msg>, Error> {
    let deadline = tokio::time::Instant::now() + window;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.recv_none(left).await? {
            None => return Ok(None),
            Some(m) if m.method() == Some(method) => return Ok(Some(m)),
            Some(_) => {}
        }
    }
}

/// `a:<APP>:<token>`: an FCM (Android) X-MPUSH value.
pub fn fcm_mpush(token: &str) -> String {
    format!("a:{}:{token}", push::APP)
}

/// The rest of an answered call: the caller ACKs the 200 (the callee must
/// get the ACK), then hangs up and the callee answers the BYE 200.
pub async fn finish_call(
    caller: &mut Caller,
    ok: &Msg,
    callee: &mut SipClient,
) -> Result<(), Error> {
    caller.ack(ok).await?;
    expect_ack(callee).await?;
    hang_up(caller, callee).await
}

/// The caller's BYE in an ACKed call, answered 200 by the callee.
pub async fn hang_up(caller: &mut Caller, callee: &mut SipClient) -> Result<(), Error> {
    let (bye, answered) = tokio::join!(caller.bye(), answer_bye(callee));
    answered?;
    let bye = bye?;
    if bye.status() != Some(200) {
        return Err(Error::Protocol(format!("BYE answered {}", bye.start)));
    }
    Ok(())
}

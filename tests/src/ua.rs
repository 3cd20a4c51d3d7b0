//! User-agent behaviour on top of [`SipClient`]: REGISTER and other requests
//! with digest challenges answered, placing and answering calls, MESSAGE.

use crate::Error;
use crate::client::SipClient;
use crate::sipmsg::{self, Challenge, Msg};

impl SipClient {
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
        self.call_with(callee, false).await
    }

    /// Like [`SipClient::call`], but a non-2xx final answer (e.g. 480 from
    /// a gateway whose device did not wake) is ACKed and returned as `Ok`.
    pub async fn call_outcome(&mut self, callee: &str) -> Result<Msg, Error> {
        self.call_with(callee, true).await
    }

    async fn call_with(&mut self, callee: &str, failure_ok: bool) -> Result<Msg, Error> {
        // A call is its own dialog: fresh Call-ID and From tag.
        let saved = (self.call_id.clone(), self.from_tag.clone());
        self.call_id = sipmsg::token("call");
        self.from_tag = sipmsg::token("tag");
        let res = self.call_inner(callee, failure_ok).await;
        (self.call_id, self.from_tag) = saved;
        res
    }

    async fn call_inner(&mut self, callee: &str, failure_ok: bool) -> Result<Msg, Error> {
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
                Some(200) => break,
                _ if failure_ok => {
                    let invite = Msg::parse(invite.as_bytes())?;
                    self.send_raw(ack_non_2xx(&invite, &resp).as_bytes())
                        .await?;
                    return Ok(resp);
                }
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

    pub(crate) fn in_dialog(
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
pub(crate) const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

/// ACK for a non-2xx final response: same Via (branch), From, Call-ID and
/// R-URI as the INVITE, the response's To (with its tag).
pub(crate) fn ack_non_2xx(invite: &Msg, resp: &Msg) -> String {
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

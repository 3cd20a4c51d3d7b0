//! Building requests from scratch (a registration keeper, tests, the load
//! generator) and the two requests RFC 3261 derives from another one:
//! ACK for a non-2xx final response (§17.1.1.3) and CANCEL (§9.1).

use bytes::{BufMut, Bytes, BytesMut};

use crate::message::Message;

/// Builder returned by [`request`].
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    head: String,
    has_max_forwards: bool,
    body: Option<(String, Bytes)>,
}

/// Starts a request `METHOD uri SIP/2.0`. Header values are appended in
/// call order; CR/LF in any argument are replaced by spaces so a value
/// can never inject a header. `Max-Forwards: 70` and `Content-Length` are
/// added by `build` unless given.
pub fn request(method: &str, uri: &str) -> RequestBuilder {
    let mut head = String::with_capacity(512);
    head.push_str(&clean(method));
    head.push(' ');
    head.push_str(&clean(uri));
    head.push_str(" SIP/2.0\r\n");
    RequestBuilder {
        head,
        has_max_forwards: false,
        body: None,
    }
}

fn clean(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

impl RequestBuilder {
    pub fn header(&mut self, name: &str, value: &str) -> &mut Self {
        if crate::name::same_header(name, "Max-Forwards") {
            self.has_max_forwards = true;
        }
        if crate::name::same_header(name, "Content-Length") {
            return self; // computed by build
        }
        self.head.push_str(&clean(name));
        self.head.push_str(": ");
        self.head.push_str(&clean(value));
        self.head.push_str("\r\n");
        self
    }

    pub fn body(&mut self, content_type: &str, body: Bytes) -> &mut Self {
        self.body = Some((clean(content_type), body));
        self
    }

    pub fn build(&self) -> Bytes {
        let body_len = self.body.as_ref().map_or(0, |(_, b)| b.len());
        let mut out = BytesMut::with_capacity(self.head.len() + 64 + body_len);
        out.put_slice(self.head.as_bytes());
        if !self.has_max_forwards {
            out.put_slice(b"Max-Forwards: 70\r\n");
        }
        if let Some((ct, _)) = &self.body {
            out.put_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        out.put_slice(format!("Content-Length: {body_len}\r\n\r\n").as_bytes());
        if let Some((_, b)) = &self.body {
            out.put_slice(b);
        }
        out.freeze()
    }
}

/// Copies the raw lines of every field named `name` into `out`.
fn copy_fields(out: &mut BytesMut, m: &Message, name: &str) {
    for h in m.headers_named(name) {
        let line = &m.raw()[m.fields[h.index].line.range()];
        out.put_slice(line);
        if !line.ends_with(b"\n") {
            out.put_slice(b"\r\n");
        }
    }
}

/// Start line, top Via only, Route set, From, Call-ID of `req`, with
/// `method` in the start line and CSeq.
fn derived(req: &Message, method: &str, to_from: &Message) -> Option<BytesMut> {
    let uri = req.request_uri()?;
    let seq = req.cseq().ok()?.seq;
    let top_via = req.values("Via").next()?;
    let mut out = BytesMut::with_capacity(req.head().len());
    out.put_slice(format!("{method} {uri} SIP/2.0\r\nVia: {top_via}\r\n").as_bytes());
    copy_fields(&mut out, req, "Route");
    copy_fields(&mut out, req, "From");
    copy_fields(&mut out, to_from, "To");
    copy_fields(&mut out, req, "Call-ID");
    out.put_slice(
        format!("CSeq: {seq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").as_bytes(),
    );
    Some(out)
}

/// The ACK a client transaction sends for a non-2xx final response to an
/// INVITE (RFC 3261 §17.1.1.3): To from the response (with its tag), the
/// rest from the request. `None` if the request lacks what is needed.
pub fn ack_for_non2xx(invite: &Message, response: &Message) -> Option<Bytes> {
    derived(invite, "ACK", response).map(BytesMut::freeze)
}

/// The CANCEL for a pending request (RFC 3261 §9.1).
pub fn cancel_for(req: &Message) -> Option<Bytes> {
    derived(req, "CANCEL", req).map(BytesMut::freeze)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::validate_request;

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP gw;branch=z9hG4bKgw, SIP/2.0/UDP a;branch=z9hG4bKa\r\n\
Route: <sip:p1;lr>\r\n\
From: <sip:alice@example.com>;tag=1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: c\r\n\
CSeq: 7 INVITE\r\n\
Max-Forwards: 69\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn builds_a_valid_request() {
        let b = request("REGISTER", "sip:example.com")
            .header("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx")
            .header("From", "<sip:a@example.com>;tag=1")
            .header("To", "<sip:a@example.com>")
            .header("Call-ID", "id")
            .header("Subject", "x\r\nX-Injected: 1")
            .header("CSeq", "1 REGISTER")
            .header("Content-Length", "99")
            .body("text/plain", Bytes::from_static(b"hi"))
            .build();
        let m = Message::parse(b).unwrap();
        assert!(validate_request(&m).is_ok(), "{:?}", validate_request(&m));
        assert_eq!(m.max_forwards().unwrap(), Some(70));
        assert_eq!(m.content_length().unwrap(), Some(2));
        assert_eq!(m.header("X-Injected"), None);
        assert_eq!(&m.body()[..], b"hi");
    }

    #[test]
    fn ack_and_cancel() {
        let inv = Message::parse(Bytes::from_static(INVITE.as_bytes())).unwrap();
        let resp = Message::parse(Bytes::from_static(
            b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP gw;branch=z9hG4bKgw\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>;tag=99\r\nCall-ID: c\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap();
        let ack = Message::parse(ack_for_non2xx(&inv, &resp).unwrap()).unwrap();
        assert!(validate_request(&ack).is_ok());
        assert_eq!(ack.method(), Some("ACK"));
        assert_eq!(
            ack.values("Via").collect::<Vec<_>>(),
            ["SIP/2.0/UDP gw;branch=z9hG4bKgw"]
        );
        assert_eq!(ack.to().unwrap().tag(), Some("99"));
        assert_eq!(ack.cseq().unwrap().seq, 7);
        assert_eq!(ack.header("Route"), Some("<sip:p1;lr>"));
        let cancel = Message::parse(cancel_for(&inv).unwrap()).unwrap();
        assert!(validate_request(&cancel).is_ok());
        assert_eq!(cancel.to().unwrap().tag(), None);
        assert_eq!(
            crate::txn::client_key(&cancel).unwrap(),
            crate::txn::TxnKey::Client {
                branch: "z9hG4bKgw".into(),
                method: "CANCEL".into()
            }
        );
    }
}

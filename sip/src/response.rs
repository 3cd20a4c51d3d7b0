//! Building a response to a request (RFC 3261 §8.2.6): Via fields, From,
//! To (+ tag), Call-ID and CSeq copied byte for byte.

use bytes::{BufMut, Bytes, BytesMut};

use crate::ids::new_tag;
use crate::message::Message;

/// Builder returned by [`response_to`].
#[derive(Debug)]
pub struct ResponseBuilder<'m> {
    req: &'m Message,
    code: u16,
    reason: String,
    to_tag: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<(String, Bytes)>,
    received: Option<(String, Option<u16>)>,
}

/// Starts a response to `req`. CR/LF in `reason` are replaced by spaces.
/// The To tag is generated for codes above 100 when the request has none;
/// override with [`ResponseBuilder::to_tag`].
pub fn response_to<'m>(req: &'m Message, code: u16, reason: &str) -> ResponseBuilder<'m> {
    ResponseBuilder {
        req,
        code,
        reason: reason.replace(['\r', '\n'], " "),
        to_tag: None,
        headers: Vec::new(),
        body: None,
        received: None,
    }
}

impl ResponseBuilder<'_> {
    /// Uses this To tag (when the request's To has none).
    pub fn to_tag(&mut self, tag: &str) -> &mut Self {
        self.to_tag = Some(tag.to_owned());
        self
    }

    /// Adds a header field.
    pub fn header(&mut self, name: &str, value: &str) -> &mut Self {
        self.headers
            .push((name.to_owned(), value.replace(['\r', '\n'], " ")));
        self
    }

    /// Sets a body with its Content-Type.
    pub fn body(&mut self, content_type: &str, body: Bytes) -> &mut Self {
        self.body = Some((content_type.to_owned(), body));
        self
    }

    /// Adds `received`/`rport` to the copied top Via, as the server
    /// transport would have (RFC 3261 §18.2.1, RFC 3581).
    pub fn via_received(&mut self, received: &str, rport: Option<u16>) -> &mut Self {
        self.received = Some((received.to_owned(), rport));
        self
    }

    pub fn build(&self) -> Bytes {
        let req = self.req;
        let mut out = BytesMut::with_capacity(req.head().len() + 128);
        out.put_slice(b"SIP/2.0 ");
        out.put_slice(format!("{:03} ", self.code).as_bytes());
        out.put_slice(self.reason.as_bytes());
        out.put_slice(b"\r\n");
        // Via fields: copied; the top one optionally gets received/rport.
        let vias: Bytes = match &self.received {
            Some((ip, port)) => {
                let mut e = req.edit();
                e.set_via_received(Some(ip), *port);
                let edited = e.build();
                match Message::parse(edited) {
                    Ok(m) => copy_lines(&m, "Via"),
                    Err(_) => copy_lines(req, "Via"),
                }
            }
            None => copy_lines(req, "Via"),
        };
        out.put_slice(&vias);
        out.put_slice(&copy_lines(req, "From"));
        let to = req.headers_named("To").next();
        if let Some(to) = to {
            let f = &req.fields[to.index];
            let has_tag = req.to().ok().and_then(|t| t.tag()).is_some();
            if has_tag || self.code <= 100 {
                out.put_slice(&req.raw()[f.line.range()]);
            } else {
                out.put_slice(&req.raw()[f.line.start as usize..f.value.end as usize]);
                let tag = self.to_tag.clone().unwrap_or_else(new_tag);
                out.put_slice(b";tag=");
                out.put_slice(tag.as_bytes());
                out.put_slice(b"\r\n");
            }
        }
        out.put_slice(&copy_lines(req, "Call-ID"));
        out.put_slice(&copy_lines(req, "CSeq"));
        for (n, v) in &self.headers {
            out.put_slice(n.as_bytes());
            out.put_slice(b": ");
            out.put_slice(v.as_bytes());
            out.put_slice(b"\r\n");
        }
        match &self.body {
            Some((ct, body)) => {
                out.put_slice(
                    format!(
                        "Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .as_bytes(),
                );
                out.put_slice(body);
            }
            None => out.put_slice(b"Content-Length: 0\r\n\r\n"),
        }
        out.freeze()
    }
}

/// The raw lines (with their line endings) of every field named `name`.
fn copy_lines(m: &Message, name: &str) -> Bytes {
    let mut out = BytesMut::new();
    for h in m.headers_named(name) {
        let f = &m.fields[h.index];
        let line = &m.raw()[f.line.range()];
        out.put_slice(line);
        if !line.ends_with(b"\n") {
            out.put_slice(b"\r\n");
        }
    }
    out.freeze()
}

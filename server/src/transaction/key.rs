//! Server transaction matching keys (RFC 3261 §17.2.3, with the §17.2.3
//! RFC 2543 fallback simplified to the fields a retransmission repeats).

use sipwake_sip::{MAGIC_COOKIE, Message};

/// Identifies a server transaction. ACK maps to the INVITE it acknowledges;
/// CANCEL has its own transaction (use [`ServerKey::with_method`] to find
/// the INVITE it cancels).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerKey {
    pub branch: String,
    pub sent_by: String,
    pub method: String,
}

impl ServerKey {
    /// Key of a request; `None` when it has no usable Via / CSeq.
    pub fn of(req: &Message) -> Option<ServerKey> {
        let method = req.method()?;
        let method = if method == "ACK" { "INVITE" } else { method };
        let via = req.top_via().ok()?;
        let sent_by = format!(
            "{}:{}",
            via.host.to_ascii_lowercase(),
            via.port_or_default()
        );
        let branch = match via.branch() {
            Some(b) if b.starts_with(MAGIC_COOKIE) && b.len() > MAGIC_COOKIE.len() => b.to_owned(),
            // RFC 2543 peer: derive a key from what its retransmissions repeat.
            _ => {
                let from_tag = req
                    .from()
                    .ok()
                    .and_then(|f| f.tag().map(str::to_owned))
                    .unwrap_or_default();
                let call_id = req.call_id().ok()?;
                let seq = req.cseq().ok()?.seq;
                format!(
                    "2543:{call_id}:{seq}:{from_tag}:{}",
                    req.request_uri().unwrap_or("")
                )
            }
        };
        Some(ServerKey {
            branch,
            sent_by,
            method: method.to_owned(),
        })
    }

    /// The same key for another method (CANCEL → INVITE lookup).
    pub fn with_method(&self, method: &str) -> ServerKey {
        ServerKey {
            method: method.to_owned(),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(s: &str) -> Message {
        Message::parse(Bytes::from(s.replace('\n', "\r\n"))).unwrap()
    }

    #[test]
    fn ack_matches_invite_and_cancel_is_separate() {
        let inv = msg(
            "INVITE sip:b@x SIP/2.0\nVia: SIP/2.0/UDP h:5070;branch=z9hG4bKabc\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCall-ID: c\nCSeq: 1 INVITE\n\n",
        );
        let ack = msg(
            "ACK sip:b@x SIP/2.0\nVia: SIP/2.0/UDP H:5070;branch=z9hG4bKabc\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@x>;tag=2\nCall-ID: c\nCSeq: 1 ACK\n\n",
        );
        let cancel = msg(
            "CANCEL sip:b@x SIP/2.0\nVia: SIP/2.0/UDP h:5070;branch=z9hG4bKabc\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCall-ID: c\nCSeq: 1 CANCEL\n\n",
        );
        let k = ServerKey::of(&inv).unwrap();
        assert_eq!(k, ServerKey::of(&ack).unwrap());
        let kc = ServerKey::of(&cancel).unwrap();
        assert_ne!(k, kc);
        assert_eq!(kc.with_method("INVITE"), k);
    }

    #[test]
    fn rfc2543_fallback_is_stable() {
        let a = msg(
            "INVITE sip:b@x SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>\nTo: <sip:b@x>\nCall-ID: c\nCSeq: 8 INVITE\n\n",
        );
        let k = ServerKey::of(&a).unwrap();
        assert!(k.branch.starts_with("2543:c:8:"));
        assert_eq!(k.sent_by, "h:5060");
    }
}

//! Transaction matching keys (RFC 3261 §17.1.3, §17.2.3), with the RFC 2543
//! fallback for requests whose top Via lacks a magic-cookie branch.

use crate::error::HeaderError;
use crate::message::Message;

/// A hashable transaction key. Owned, so it can live in a map.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TxnKey {
    /// RFC 3261: branch + sent-by + method (ACK folded into INVITE).
    Rfc3261 {
        branch: String,
        sent_by: String,
        method: String,
    },
    /// RFC 2543 compatibility: Request-URI, From tag, Call-ID, CSeq number,
    /// method (ACK folded into INVITE) and the top Via as written. The To
    /// tag is left out so an ACK for a non-2xx (which carries our tag)
    /// matches its INVITE.
    Rfc2543 {
        request_uri: String,
        from_tag: String,
        call_id: String,
        cseq: u32,
        method: String,
        top_via: String,
    },
    /// Client side: branch + CSeq method of a response.
    Client { branch: String, method: String },
}

fn fold_ack(method: &str) -> String {
    if method == "ACK" {
        "INVITE".to_owned()
    } else {
        method.to_owned()
    }
}

/// The server transaction a request belongs to (§17.2.3). CANCEL gets its
/// own key (method CANCEL); find the INVITE to cancel with
/// [`cancel_target`].
pub fn server_key(req: &Message) -> Result<TxnKey, HeaderError> {
    let method = req
        .method()
        .ok_or(HeaderError::new("Request-Line", "not a request"))?;
    let via = req.top_via()?;
    if via.has_rfc3261_branch() {
        return Ok(TxnKey::Rfc3261 {
            branch: via.branch().unwrap_or_default().to_owned(),
            sent_by: format!(
                "{}:{}",
                via.host.to_ascii_lowercase(),
                via.port_or_default()
            ),
            method: fold_ack(method),
        });
    }
    let cseq = req.cseq()?;
    Ok(TxnKey::Rfc2543 {
        request_uri: req.request_uri().unwrap_or_default().to_owned(),
        from_tag: req.from()?.tag().unwrap_or_default().to_owned(),
        call_id: req.call_id()?.to_owned(),
        cseq: cseq.seq,
        method: fold_ack(method),
        top_via: req.values("Via").next().unwrap_or_default().to_owned(),
    })
}

/// The key of the INVITE server transaction a CANCEL targets (§9.2).
pub fn cancel_target(cancel: &Message) -> Result<TxnKey, HeaderError> {
    Ok(match server_key(cancel)? {
        TxnKey::Rfc3261 {
            branch, sent_by, ..
        } => TxnKey::Rfc3261 {
            branch,
            sent_by,
            method: "INVITE".into(),
        },
        TxnKey::Rfc2543 {
            request_uri,
            from_tag,
            call_id,
            cseq,
            top_via,
            ..
        } => TxnKey::Rfc2543 {
            request_uri,
            from_tag,
            call_id,
            cseq,
            method: "INVITE".into(),
            top_via,
        },
        k @ TxnKey::Client { .. } => k,
    })
}

/// The client transaction a response belongs to (§17.1.3): top Via branch
/// and CSeq method. Also works on the outgoing request itself.
pub fn client_key(msg: &Message) -> Result<TxnKey, HeaderError> {
    let via = msg.top_via()?;
    let branch = via
        .branch()
        .ok_or(HeaderError::new("Via", "missing branch"))?;
    Ok(TxnKey::Client {
        branch: branch.to_owned(),
        method: msg.cseq()?.method.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(s: &str) -> Message {
        Message::parse(Bytes::from(s.replace('\n', "\r\n"))).unwrap()
    }

    const HDRS: &str = "From: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCall-ID: c\n";

    #[test]
    fn rfc3261_keys() {
        let inv = msg(&format!(
            "INVITE sip:b@x SIP/2.0\nVia: SIP/2.0/UDP H:5060;branch=z9hG4bKabc\n{HDRS}CSeq: 1 INVITE\n\n"
        ));
        let ack = msg(&format!(
            "ACK sip:b@x SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKabc\n{HDRS}CSeq: 1 ACK\n\n"
        ));
        let cancel = msg(&format!(
            "CANCEL sip:b@x SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKabc\n{HDRS}CSeq: 1 CANCEL\n\n"
        ));
        let other = msg(&format!(
            "INVITE sip:b@x SIP/2.0\nVia: SIP/2.0/UDP h:5070;branch=z9hG4bKabc\n{HDRS}CSeq: 1 INVITE\n\n"
        ));
        let k = server_key(&inv).unwrap();
        assert_eq!(
            k,
            server_key(&ack).unwrap(),
            "ACK matches its INVITE; host case and default port normalised"
        );
        assert_ne!(k, server_key(&cancel).unwrap());
        assert_eq!(cancel_target(&cancel).unwrap(), k);
        assert_ne!(k, server_key(&other).unwrap(), "sent-by is part of the key");
        let resp = msg(&format!(
            "SIP/2.0 180 Ringing\nVia: SIP/2.0/UDP h;branch=z9hG4bKabc\n{HDRS}CSeq: 1 INVITE\n\n"
        ));
        assert_eq!(client_key(&resp).unwrap(), client_key(&inv).unwrap());
        assert_ne!(client_key(&resp).unwrap(), client_key(&cancel).unwrap());
    }

    #[test]
    fn rfc2543_fallback() {
        let inv = msg(&format!(
            "INVITE sip:b@x SIP/2.0\nVia: SIP/2.0/UDP h\n{HDRS}CSeq: 8 INVITE\n\n"
        ));
        let ack = msg(
            "ACK sip:b@x SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@x>;tag=srv\nCall-ID: c\nCSeq: 8 ACK\n\n",
        );
        let next = msg(&format!(
            "INVITE sip:b@x SIP/2.0\nVia: SIP/2.0/UDP h\n{HDRS}CSeq: 9 INVITE\n\n"
        ));
        let k = server_key(&inv).unwrap();
        assert!(matches!(k, TxnKey::Rfc2543 { .. }));
        assert_eq!(k, server_key(&ack).unwrap());
        assert_ne!(k, server_key(&next).unwrap());
        assert!(server_key(&msg("OPTIONS sip:x SIP/2.0\nCSeq: 1 OPTIONS\n\n")).is_err());
    }
}

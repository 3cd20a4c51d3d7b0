//! The keeper's own REGISTER: built from what the app last registered, and
//! the digest answer computed from the stored HA1 (X-PIID).

use sipwake_sip::digest::{self, Challenge, DigestError};

use crate::bindings::piid;
use sipwake_sip::{Contacts, Message};

/// What one REGISTER of the keeper says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterSpec {
    /// `user@host` (the AOR, To and From).
    pub aor: String,
    /// Request-URI: `sip:<domain>`.
    pub ruri: String,
    /// The Contact URI the upstream holds: the app's (with Path) or the
    /// gateway's token URI (`contact_mode = "rewrite"`).
    pub contact: String,
    /// Normalised `+sip.instance` (none for token-keyed devices).
    pub instance: Option<String>,
    pub reg_id: Option<u32>,
    /// `<sip:TOKEN@gateway;lr>`: our Path for this registration; `None`
    /// with contact rewriting (the token is in the Contact instead).
    pub path: Option<String>,
    pub expires: u32,
    pub call_id: String,
    pub from_tag: String,
    pub cseq: u32,
    /// `SIP/2.0/UDP host:port;branch=…;rport`.
    pub via: String,
    /// `(header name, value)`: Authorization or Proxy-Authorization.
    pub auth: Option<(&'static str, String)>,
}

impl RegisterSpec {
    /// The request text.
    pub fn build(&self) -> String {
        let mut contact = format!("<{}>", self.contact);
        if let Some(i) = &self.instance {
            contact.push_str(&format!(";+sip.instance=\"<{i}>\""));
        }
        if let Some(r) = self.reg_id {
            contact.push_str(&format!(";reg-id={r}"));
        }
        let mut s = format!(
            "REGISTER {ruri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
             From: <sip:{aor}>;tag={tag}\r\nTo: <sip:{aor}>\r\nCall-ID: {cid}\r\n\
             CSeq: {cseq} REGISTER\r\nContact: {contact}\r\n{path}\
             Expires: {exp}\r\nUser-Agent: sipwake-keeper\r\n",
            ruri = self.ruri,
            via = self.via,
            aor = self.aor,
            tag = self.from_tag,
            cid = self.call_id,
            cseq = self.cseq,
            path = self
                .path
                .as_ref()
                .map(|p| format!("Path: {p}\r\nSupported: path\r\n"))
                .unwrap_or_default(),
            exp = self.expires,
        );
        if let Some((name, value)) = &self.auth {
            s.push_str(&format!("{name}: {value}\r\n"));
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        s
    }
}

/// Why a challenge could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("no usable credentials stored (no X-PIID)")]
    NoCredentials,
    #[error("the X-PIID has no HA1 for the algorithms challenged ({0})")]
    NoHa1For(String),
    #[error("{0} without a challenge header")]
    NoChallenge(u16),
    #[error("challenge: {0}")]
    Digest(#[from] DigestError),
}

/// The Authorization (401) or Proxy-Authorization (407) header answering
/// `resp` from the stored X-PIID: the first challenge (in the server's order
/// of preference) whose algorithm the X-PIID has an HA1 for; qop=auth with
/// `nc` and `cnonce` when offered, else the RFC 2069 form.
pub fn answer(
    resp: &Message,
    user: &str,
    piid: Option<&str>,
    ruri: &str,
    cnonce: &str,
) -> Result<(&'static str, String), AnswerError> {
    let code = resp.status().unwrap_or(0);
    let (challenge_hdr, auth_hdr) = if code == 407 {
        ("Proxy-Authenticate", "Proxy-Authorization")
    } else {
        ("WWW-Authenticate", "Authorization")
    };
    let piid = piid.ok_or(AnswerError::NoCredentials)?;
    let mut last_err = None;
    let mut offered = Vec::new();
    for h in resp.headers_named(challenge_hdr) {
        match Challenge::parse(&h.unfolded()) {
            Ok(ch) => match piid::ha1_for(piid, ch.algorithm) {
                Some(ha1) => {
                    let creds = digest::answer(&ch, user, ha1, "REGISTER", ruri, cnonce, 1)?;
                    return Ok((auth_hdr, creds.to_header_value()));
                }
                None => offered.push(ch.algorithm.name()),
            },
            Err(e) => last_err = Some(e),
        }
    }
    if !offered.is_empty() {
        return Err(AnswerError::NoHa1For(offered.join(", ")));
    }
    Err(last_err.map_or(AnswerError::NoChallenge(code), AnswerError::Digest))
}

/// Seconds the upstream granted our Contact in a 2xx: its `expires`
/// param, else the Expires header, else what we asked.
pub fn granted_expires(resp: &Message, contact: &str, asked: u32) -> u32 {
    let header = resp.expires().ok().flatten();
    let from_contact = match resp.contacts() {
        Ok(Contacts::List(list)) => list
            .iter()
            .find(|c| c.uri.raw == contact)
            .and_then(|c| c.expires()),
        _ => None,
    };
    from_contact.or(header).unwrap_or(asked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sipwake_sip::digest::{Credentials, verify};

    fn spec() -> RegisterSpec {
        RegisterSpec {
            aor: "alice@example.com".into(),
            ruri: "sip:example.com".into(),
            contact: "sip:alice@10.0.0.1:5060;transport=tcp".into(),
            instance: Some("urn:uuid:00000000-0000-0000-0000-000000000001".into()),
            reg_id: Some(1),
            path: Some("<sip:swrabc@127.0.0.1:5060;lr>".into()),
            expires: 3600,
            call_id: "kp-1@gw".into(),
            from_tag: "t1".into(),
            cseq: 7,
            via: "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKswk1;rport".into(),
            auth: None,
        }
    }

    fn parse(s: &str) -> Message {
        Message::parse(Bytes::from(s.to_owned())).unwrap()
    }

    #[test]
    fn register_names_the_app_contact_with_instance_and_our_path() {
        let m = parse(&spec().build());
        assert_eq!(m.method(), Some("REGISTER"));
        assert_eq!(m.request_uri(), Some("sip:example.com"));
        assert_eq!(m.cseq().unwrap().seq, 7);
        assert_eq!(m.call_id().unwrap(), "kp-1@gw");
        assert_eq!(m.from().unwrap().tag(), Some("t1"));
        assert_eq!(m.to().unwrap().uri.raw, "sip:alice@example.com");
        let Contacts::List(c) = m.contacts().unwrap() else {
            panic!("star")
        };
        assert_eq!(c[0].uri.raw, "sip:alice@10.0.0.1:5060;transport=tcp");
        assert_eq!(
            c[0].sip_instance(),
            Some("urn:uuid:00000000-0000-0000-0000-000000000001")
        );
        assert_eq!(c[0].reg_id(), Some(1));
        assert_eq!(m.header("Path"), Some("<sip:swrabc@127.0.0.1:5060;lr>"));
        assert_eq!(m.expires().unwrap(), Some(3600));
        assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bKswk1"));
        assert!(m.header("Authorization").is_none());
    }

    #[test]
    fn with_contact_rewriting_the_token_uri_is_the_contact_and_there_is_no_path() {
        let m = parse(
            &RegisterSpec {
                contact: "sip:swrabc@127.0.0.1:5060".into(),
                path: None,
                ..spec()
            }
            .build(),
        );
        let Contacts::List(c) = m.contacts().unwrap() else {
            panic!("star")
        };
        assert_eq!(c[0].uri.raw, "sip:swrabc@127.0.0.1:5060");
        assert_eq!(c[0].reg_id(), Some(1));
        assert!(m.header("Path").is_none() && m.header("Supported").is_none());
    }

    fn challenge(code: u16, hdr: &str, value: &str) -> Message {
        parse(&format!(
            "SIP/2.0 {code} Unauthorized\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKswk1\r\n\
             From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:alice@example.com>;tag=x\r\n\
             Call-ID: kp-1@gw\r\nCSeq: 7 REGISTER\r\n{hdr}: {value}\r\nContent-Length: 0\r\n\r\n"
        ))
    }

    #[test]
    fn qop_auth_answer_verifies_against_the_ha1() {
        let ha1 = digest::ha1("alice", "example.com", "secret");
        let resp = challenge(
            401,
            "WWW-Authenticate",
            r#"Digest realm="example.com", nonce="n0nce", qop="auth,auth-int", algorithm=MD5, opaque="op""#,
        );
        let (name, value) = answer(&resp, "alice", Some(&ha1), "sip:example.com", "cn1").unwrap();
        assert_eq!(name, "Authorization");
        let creds = Credentials::parse(&value).unwrap();
        assert_eq!(creds.qop.as_deref(), Some("auth"));
        assert_eq!(creds.nc.as_deref(), Some("00000001"));
        assert_eq!(creds.cnonce.as_deref(), Some("cn1"));
        assert_eq!(creds.opaque.as_deref(), Some("op"));
        assert_eq!(creds.uri, "sip:example.com");
        assert!(verify(&creds, &ha1, "REGISTER"));
        // The right HA1 matters: another password does not verify.
        assert!(!verify(
            &creds,
            &digest::ha1("alice", "example.com", "other"),
            "REGISTER"
        ));
    }

    #[test]
    fn rfc2069_answer_and_proxy_challenge() {
        let ha1 = digest::ha1("bob", "r", "pw");
        let resp = challenge(
            407,
            "Proxy-Authenticate",
            r#"Digest realm="r", nonce="abc""#,
        );
        let (name, value) = answer(&resp, "bob", Some(&ha1), "sip:r", "cn").unwrap();
        assert_eq!(name, "Proxy-Authorization");
        let creds = Credentials::parse(&value).unwrap();
        assert_eq!(creds.qop, None);
        assert_eq!(creds.cnonce, None);
        assert!(verify(&creds, &ha1, "REGISTER"));
    }

    #[test]
    fn the_first_challenge_with_an_ha1_in_the_piid_is_answered() {
        use sipwake_sip::digest::Algorithm;
        let text = "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             From: <sip:bob@r>;tag=1\r\nTo: <sip:bob@r>;tag=2\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\
             WWW-Authenticate: Digest realm=\"r\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth\"\r\n\
             WWW-Authenticate: Digest realm=\"r\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"\r\n\
             Content-Length: 0\r\n\r\n";
        let resp = parse(text);
        let md5 = Algorithm::Md5.ha1("bob", "r", "pw");
        let sha = Algorithm::Sha256.ha1("bob", "r", "pw");
        // Both HA1s: the server's first choice, SHA-256.
        let both = crate::bindings::piid::normalize(&format!("{md5},SHA-256:{sha}")).unwrap();
        let (_, value) = answer(&resp, "bob", Some(&both), "sip:r", "cn").unwrap();
        let creds = Credentials::parse(&value).unwrap();
        assert_eq!(creds.algorithm, Algorithm::Sha256);
        assert!(verify(&creds, &sha, "REGISTER"));
        // The manual's MD5-only X-PIID: the MD5 challenge.
        let (_, value) = answer(&resp, "bob", Some(&md5), "sip:r", "cn").unwrap();
        let creds = Credentials::parse(&value).unwrap();
        assert_eq!(creds.algorithm, Algorithm::Md5);
        assert!(verify(&creds, &md5, "REGISTER"));
    }

    #[test]
    fn other_algorithms_and_missing_credentials_fail() {
        let resp = challenge(
            401,
            "WWW-Authenticate",
            r#"Digest realm="r", nonce="abc", algorithm=SHA-256"#,
        );
        let err = answer(&resp, "bob", Some("00"), "sip:r", "cn").unwrap_err();
        assert!(err.to_string().contains("SHA-256"), "{err}");
        let ok = challenge(401, "WWW-Authenticate", r#"Digest realm="r", nonce="abc""#);
        assert!(matches!(
            answer(&ok, "bob", None, "sip:r", "cn"),
            Err(AnswerError::NoCredentials)
        ));
    }

    #[test]
    fn granted_expires_prefers_our_contact_param() {
        let resp = parse(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP gw;branch=z9hG4bKswk1\r\nFrom: <sip:a@h>;tag=1\r\n\
             To: <sip:a@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\
             Contact: <sip:other@1.1.1.1>;expires=99, <sip:a@10.0.0.1>;expires=42\r\nExpires: 77\r\n\
             Content-Length: 0\r\n\r\n",
        );
        assert_eq!(granted_expires(&resp, "sip:a@10.0.0.1", 3600), 42);
        assert_eq!(granted_expires(&resp, "sip:zz@1.1.1.1", 3600), 77);
    }
}

//! Validation verdicts beyond the torture suite.

use bytes::Bytes;
use sipwake_sip::{
    Message, check_max_forwards, check_require, validate_register, validate_request,
    validate_response,
};

const BASE: &str = "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\n";

fn req(start: &str, extra: &str) -> Message {
    Message::parse(Bytes::from(format!(
        "{start}\r\n{BASE}{extra}Content-Length: 0\r\n\r\n"
    )))
    .unwrap()
}

#[test]
fn accepts_sip_sips_and_tel() {
    for uri in ["sip:b@x", "sips:b@x:5061;transport=tls", "tel:+15551234"] {
        let m = req(&format!("OPTIONS {uri} SIP/2.0"), "CSeq: 1 OPTIONS\r\n");
        assert_eq!(validate_request(&m), Ok(()), "{uri}");
    }
}

#[test]
fn verdicts_and_reasons() {
    let cases: [(&str, &str, u16, &str); 7] = [
        (
            "OPTIONS sip:b@x SIP/3.0",
            "CSeq: 1 OPTIONS\r\n",
            505,
            "Version Not Supported",
        ),
        (
            "OPTIONS http://x SIP/2.0",
            "CSeq: 1 OPTIONS\r\n",
            416,
            "Unsupported URI Scheme",
        ),
        (
            "OPTIONS sip:b@x SIP/2.0",
            "CSeq: 1 INVITE\r\n",
            400,
            "CSeq method",
        ),
        ("OPTIONS sip:b@x SIP/2.0", "", 400, "CSeq: missing"),
        (
            "OPTIONS sip:b@x SIP/2.0",
            "CSeq: 1 OPTIONS\r\nMax-Forwards: x\r\n",
            400,
            "Max-Forwards",
        ),
        (
            "OPTIONS sip:b@x SIP/2.0",
            "CSeq: 1 OPTIONS\r\nRoute: <sip:p;lr\r\n",
            400,
            "Route",
        ),
        (
            "OPTIONS sip:b@x?Subject=x SIP/2.0",
            "CSeq: 1 OPTIONS\r\n",
            400,
            "headers in Request-URI",
        ),
    ];
    for (start, extra, code, reason) in cases {
        let r = validate_request(&req(start, extra)).unwrap_err();
        assert_eq!(r.code, code, "{start} / {extra}");
        assert!(r.reason.contains(reason), "{} lacks {reason}", r.reason);
        assert!(!r.reason.contains(['\r', '\n']));
    }
}

#[test]
fn proxy_and_registrar_checks() {
    let m = req(
        "REGISTER sip:x SIP/2.0",
        "CSeq: 1 REGISTER\r\nMax-Forwards: 1\r\nRequire: path\r\nContact: *\r\n",
    );
    assert_eq!(check_max_forwards(&m), Ok(()));
    assert_eq!(check_require(&m, &["PATH"]), Ok(()));
    assert_eq!(check_require(&m, &[]).unwrap_err().unsupported, ["path"]);
    assert_eq!(validate_register(&m), Ok(()));
    let m = req(
        "REGISTER sip:x SIP/2.0",
        "CSeq: 1 REGISTER\r\nContact: *, <sip:a@h>\r\n",
    );
    assert_eq!(validate_register(&m).unwrap_err().code, 400);
}

#[test]
fn responses() {
    let ok = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let m = Message::parse(Bytes::from_static(ok.as_bytes())).unwrap();
    assert_eq!(validate_response(&m), Ok(()));
    assert!(validate_request(&m).is_err(), "a response is not a request");
    for broken in [
        ok.replace("Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n", ""),
        ok.replace("CSeq: 1", "CSeq: x"),
        ok.replace("SIP/2.0 200", "SIP/3.0 200"),
    ] {
        let m = Message::parse(Bytes::from(broken.clone())).unwrap();
        assert!(validate_response(&m).is_err(), "{broken}");
    }
}

/// Shapes of messages real clients send (JsSIP over WebSocket, PJSIP,
/// Linphone with an RFC 8599 push binding) must pass validation.
#[test]
fn real_client_messages_are_accepted() {
    let jssip = "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/WSS 8c0hq2gcqq1e.invalid;branch=z9hG4bK5510853\r\n\
Max-Forwards: 69\r\n\
To: <sip:alice@example.com>\r\n\
From: \"Alice\" <sip:alice@example.com>;tag=8rq9kcr0ct\r\n\
Call-ID: vm5d1p0k3v6f2l8a0hnc\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:k3i8v1h4@8c0hq2gcqq1e.invalid;transport=ws>;+sip.ice;reg-id=1;+sip.instance=\"<urn:uuid:4b4c4f5e-1b1c-4f4e-8e3d-2a2b2c2d2e2f>\";expires=600\r\n\
Expires: 600\r\n\
Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY\r\n\
Supported: path,gruu,outbound\r\n\
User-Agent: JsSIP 3.10.0\r\n\
Content-Length: 0\r\n\r\n";
    let pjsip = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5060;rport;branch=z9hG4bKPj3b6e0f4a\r\n\
Max-Forwards: 70\r\n\
From: sip:alice@example.com;tag=1a2b3c\r\n\
To: sip:bob@example.com\r\n\
Contact: <sip:alice@192.168.1.20:5060;ob>\r\n\
Call-ID: 5f1e2d3c4b5a\r\n\
CSeq: 3210 INVITE\r\n\
Route: <sip:gw.example.com;lr>\r\n\
Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"abc\", uri=\"sip:bob@example.com\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5, cnonce=\"x\", qop=auth, nc=00000001\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";
    let linphone = "REGISTER sip:example.com;transport=tls SIP/2.0\r\n\
Via: SIP/2.0/TLS [2001:db8::20]:43567;branch=z9hG4bK.QJ4p0Ub8Q;rport\r\n\
From: <sip:alice@example.com>;tag=Ko~8u7\r\n\
To: sip:alice@example.com\r\n\
CSeq: 20 REGISTER\r\n\
Call-ID: L0sd-Vbw2e\r\n\
Max-Forwards: 70\r\n\
Supported: replaces, outbound, gruu, path\r\n\
Contact: <sip:alice@[2001:db8::20]:43567;transport=tls;pn-provider=apns.dev;pn-param=ABCD1234.org.linphone.phone.voip;pn-prid=00fc13adff78512;pn-timeout=0;pn-silent=1>;+sip.instance=\"<urn:uuid:0a0b0c0d-0000-0000-0000-000000000000>\";+org.linphone.specs=\"lime\"\r\n\
Expires: 3600\r\n\
User-Agent: LinphoneiOS/5.2 (iPhone) LinphoneSDK/5.3\r\n\
Content-Length: 0\r\n\r\n";
    for raw in [jssip, pjsip, linphone] {
        let m = Message::parse(Bytes::from_static(raw.as_bytes())).unwrap();
        assert_eq!(
            validate_request(&m),
            Ok(()),
            "{}",
            raw.lines().next().unwrap()
        );
    }
    let l = Message::parse(Bytes::from_static(linphone.as_bytes())).unwrap();
    assert_eq!(validate_register(&l), Ok(()));
    let sipwake_sip::Contacts::List(c) = l.contacts().unwrap() else {
        panic!("star")
    };
    assert_eq!(c[0].uri.param("pn-provider"), Some(Some("apns.dev")));
    assert_eq!(c[0].uri.host, "[2001:db8::20]");
    let p = Message::parse(Bytes::from_static(pjsip.as_bytes())).unwrap();
    let creds =
        sipwake_sip::digest::Credentials::parse(p.header("Authorization").unwrap()).unwrap();
    assert_eq!(
        (creds.username.as_str(), creds.nc.as_deref()),
        ("alice", Some("00000001"))
    );
}

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

//! Message view: start lines, header index, folding, compact forms, lists,
//! datagram body rules and parse errors.

use bytes::Bytes;
use sipwake_sip::{BodyIssue, Message, ParseError, StartLine, StartLineIssue, validate_request};

fn parse(s: &str) -> Result<Message, ParseError> {
    Message::parse(Bytes::copy_from_slice(s.as_bytes()))
}

#[test]
fn request_and_response_start_lines() {
    let m = parse("\r\n\r\nINVITE sip:b@x SIP/2.0\r\nl: 0\r\n\r\n").unwrap();
    assert_eq!(
        m.start_line(),
        StartLine::Request {
            method: "INVITE",
            uri: "sip:b@x",
            version: "SIP/2.0"
        }
    );
    assert!(
        m.raw().starts_with(b"INVITE"),
        "leading CRLFs are not part of the message"
    );
    let r = parse("SIP/2.0 180 Ringing  now\r\n\r\n").unwrap();
    assert_eq!(
        r.start_line(),
        StartLine::Response {
            version: "SIP/2.0",
            code: 180,
            reason: "Ringing  now"
        }
    );
    assert_eq!(parse("SIP/2.0 200\r\n\r\n").unwrap().reason(), Some(""));
}

#[test]
fn bad_start_lines_are_errors() {
    for bad in [
        "SIP/2.0 2000 OK\r\n\r\n",
        "SIP/2.0 099 Low\r\n\r\n",
        "SIP/2.0 20 OK\r\n\r\n",
        "SIP/2.0 abc OK\r\n\r\n",
        "INVITE\r\n\r\n",
        "INVITE sip:x\r\n\r\n",
        "IN(VITE sip:x SIP/2.0\r\n\r\n",
        " sip:x SIP/2.0\r\n\r\n",
        // Found by cargo-fuzz: trailing SP after the method only.
        "MESSAGE \nVia: x\r\n\r\n",
        "MESSAGE  \r\n\r\n",
        "MESSAGE sip:x \r\n\r\n",
    ] {
        assert!(
            matches!(parse(bad), Err(ParseError::StartLine(_))),
            "{bad:?}"
        );
    }
    assert_eq!(parse("").unwrap_err(), ParseError::Empty);
    assert_eq!(parse("\r\n\r\n").unwrap_err(), ParseError::Empty);
    assert_eq!(
        parse("OPTIONS sip:x SIP/2.0\r\nVia: a").unwrap_err(),
        ParseError::Incomplete
    );
}

#[test]
fn start_line_whitespace_is_recorded_not_forwarded() {
    let m = parse("OPTIONS  sip:x  SIP/2.0\r\n\r\n").unwrap();
    assert_eq!(m.request_uri(), Some("sip:x"));
    assert_eq!(m.start_line_issue(), Some(StartLineIssue::ExtraWhitespace));
    let m = parse("OPTIONS sip:x; lr SIP/2.0\r\n\r\n").unwrap();
    assert_eq!(m.start_line_issue(), Some(StartLineIssue::WhitespaceInUri));
}

#[test]
fn headers_compact_forms_folding_and_lists() {
    let m = parse(
        "OPTIONS sip:x SIP/2.0\r\n\
         v: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2\r\n\
         Via: SIP/2.0/UDP c;branch=z9hG4bK3\r\n\
         Subject: one\r\n two\r\n\tthree\r\n\
         k: path, \"quoted, tag\", outbound\r\n\
         X-Empty:\r\n\
         i: abc\r\n\r\n",
    )
    .unwrap();
    assert_eq!(m.count("Via"), 2);
    assert_eq!(m.values("via").count(), 3);
    assert_eq!(m.header("Call-ID"), Some("abc"));
    assert_eq!(m.header("I"), Some("abc"));
    let subject = m.headers_named("s").next().unwrap();
    assert_eq!(subject.unfolded(), "one two three");
    assert_eq!(subject.canonical_name(), "Subject");
    assert_eq!(
        m.values("Supported").collect::<Vec<_>>(),
        ["path", "\"quoted, tag\"", "outbound"]
    );
    assert!(m.supports("OUTBOUND"));
    assert_eq!(m.header("X-Empty"), Some(""));
    assert_eq!(m.headers().count(), 6);
}

#[test]
fn bare_lf_line_endings_are_accepted() {
    let m = parse("OPTIONS sip:x SIP/2.0\nCall-ID: a\nContent-Length: 2\n\nhi").unwrap();
    assert_eq!(m.call_id().unwrap(), "a");
    assert_eq!(&m.body()[..], b"hi");
}

#[test]
fn datagram_body_rules() {
    // No Content-Length: the rest is the body.
    let m = parse("MESSAGE sip:x SIP/2.0\r\n\r\nhello").unwrap();
    assert_eq!(&m.body()[..], b"hello");
    assert_eq!(m.body_issue(), None);
    // Shorter: trailing octets are not part of the message.
    let m = parse("MESSAGE sip:x SIP/2.0\r\nContent-Length: 2\r\n\r\nhello").unwrap();
    assert_eq!(&m.body()[..], b"he");
    assert!(m.raw().ends_with(b"\r\n\r\nhe"));
    // Longer: recorded, 400.
    let m = parse("MESSAGE sip:x SIP/2.0\r\nContent-Length: 20\r\n\r\nhello").unwrap();
    assert_eq!(m.body_issue(), Some(BodyIssue::ContentLengthTooLarge));
    assert_eq!(validate_request(&m).unwrap_err().code, 400);
    let m = parse("MESSAGE sip:x SIP/2.0\r\nContent-Length: x\r\n\r\nhello").unwrap();
    assert_eq!(m.body_issue(), Some(BodyIssue::BadContentLength));
    assert!(m.body().is_empty());
    let m = parse("MESSAGE sip:x SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n\r\nhello").unwrap();
    assert_eq!(m.body_issue(), Some(BodyIssue::DuplicateContentLength));
}

#[test]
fn header_errors() {
    assert!(matches!(
        parse("OPTIONS sip:x SIP/2.0\r\nNoColon\r\n\r\n"),
        Err(ParseError::HeaderLine { line: 2, .. })
    ));
    assert!(matches!(
        parse("OPTIONS sip:x SIP/2.0\r\n continuation\r\n\r\n"),
        Err(ParseError::HeaderLine { .. })
    ));
    assert!(matches!(
        parse("OPTIONS sip:x SIP/2.0\r\nBad Name: 1\r\n\r\n"),
        Err(ParseError::HeaderLine { .. })
    ));
    let mut bin = b"OPTIONS sip:x SIP/2.0\r\nX: \xff\xfe\r\n\r\n".to_vec();
    assert_eq!(
        Message::parse(Bytes::from(bin.clone())).unwrap_err(),
        ParseError::NotUtf8
    );
    // Binary bodies are fine.
    bin = b"OPTIONS sip:x SIP/2.0\r\nl: 2\r\n\r\n\xff\x00".to_vec();
    assert_eq!(
        &Message::parse(Bytes::from(bin)).unwrap().body()[..],
        b"\xff\x00"
    );
    let many: String = (0..300).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(
        parse(&format!("OPTIONS sip:x SIP/2.0\r\n{many}\r\n")).unwrap_err(),
        ParseError::TooManyHeaders(256)
    );
}

#[test]
fn typed_accessor_errors_name_the_header() {
    let m = parse(
        "OPTIONS sip:x SIP/2.0\r\nCSeq: 1 OPTIONS\r\nCSeq: 2 OPTIONS\r\nMax-Forwards: abc\r\n\r\n",
    )
    .unwrap();
    assert_eq!(
        m.cseq().unwrap_err().to_string(),
        "CSeq: appears more than once"
    );
    assert_eq!(m.call_id().unwrap_err().to_string(), "Call-ID: missing");
    assert!(m.max_forwards().is_err());
    assert_eq!(m.expires().unwrap(), None);
}

#[test]
fn debug_output_hides_header_values() {
    let m =
        parse("REGISTER sip:x SIP/2.0\r\nX-PIID: 0123456789abcdef0123456789abcdef\r\nl: 0\r\n\r\n")
            .unwrap();
    let d = format!("{m:?}");
    assert!(d.contains("X-PIID") && d.contains("REGISTER"), "{d}");
    assert!(!d.contains("0123456789abcdef"), "{d}");
}

#[test]
fn versions_with_multibyte_characters_do_not_panic() {
    // Found by cargo-fuzz: a non-ASCII byte inside the first four of the version.
    for v in ["SIé/2.0", "SIP/3.0é", "é"] {
        let m = parse(&format!("OPTIONS sip:x {v}\r\nl: 0\r\n\r\n")).unwrap();
        let code = validate_request(&m).unwrap_err().code;
        assert!(code == 400 || code == 505, "{v}: {code}");
    }
}

//! Property tests: no panics on any input, stream framing is lossless
//! under arbitrary splits, edits round-trip through the parser.

use bytes::Bytes;
use proptest::prelude::*;
use sipwake_sip::{Frame, Message, StreamFramer, validate_request, validate_response};

fn torture_files() -> Vec<Vec<u8>> {
    let dir = format!(
        "{}/../tests/fixtures/sip-torture",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "dat"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    out.sort();
    out
}

/// Calls every accessor; none may panic whatever the input.
fn exercise(m: &Message) {
    let _ = m.start_line();
    for h in m.headers() {
        let _ = (h.canonical_name(), h.unfolded());
    }
    let _ = (
        m.call_id(),
        m.cseq(),
        m.from(),
        m.to(),
        m.max_forwards(),
        m.expires(),
        m.content_length(),
    );
    let _ = (
        m.contacts(),
        m.routes(),
        m.record_routes(),
        m.paths(),
        m.uri(),
    );
    let _: Vec<_> = m.vias().collect();
    let _ = (
        validate_request(m),
        validate_response(m),
        sipwake_sip::txn::server_key(m),
        sipwake_sip::txn::client_key(m),
    );
    for v in m.headers_named("Authorization") {
        let _ = sipwake_sip::digest::Credentials::parse(v.value);
    }
    let out = m
        .edit()
        .remove_top_via()
        .set_via_received(Some("192.0.2.1"), Some(1))
        .push_via("SIP/2.0/UDP gw;branch=z9hG4bKx")
        .decrement_max_forwards()
        .set_contact_uri(0, "sip:gw")
        .push_record_route("<sip:gw;lr>")
        .build();
    let _ = Message::parse(out);
    let _ = sipwake_sip::response_to(m, 400, "x")
        .via_received("192.0.2.1", None)
        .build();
}

fn frames_of(data: &[u8], cuts: &[usize]) -> Result<Vec<Frame>, sipwake_sip::FramingError> {
    let mut f = StreamFramer::new();
    let mut out = Vec::new();
    let mut last = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.push(data.len());
    points.sort_unstable();
    for p in points {
        f.push(&data[last..p]);
        last = p;
        while let Some(fr) = f.next_frame()? {
            out.push(fr);
        }
    }
    Ok(out)
}

fn message(i: usize, body: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "OPTIONS sip:u{i}@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK{i}\r\nCall-ID: {i}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    m.extend_from_slice(body);
    m
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(m) = Message::parse(Bytes::from(data.clone())) {
            exercise(&m);
        }
        let _ = frames_of(&data, &[data.len() / 2]);
    }

    #[test]
    fn mutated_torture_never_panics(file in 0usize..49, edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let files = torture_files();
        let mut data = files[file % files.len()].clone();
        for (pos, byte) in edits {
            let i = pos % data.len();
            data[i] = byte;
        }
        data.truncate(cut % (data.len() + 1));
        if let Ok(m) = Message::parse(Bytes::from(data.clone())) {
            exercise(&m);
        }
        let _ = frames_of(&data, &[cut]);
    }

    /// SIP-shaped text with arbitrary Unicode in every slot: catches
    /// char-boundary slicing bugs that random bytes rarely reach.
    #[test]
    fn sip_shaped_unicode_never_panics(
        method in "[A-Zé]{0,8}",
        uri in "(sip|sips|tel|x)?:?\\PC{0,20}",
        version in "(SIP/2\\.0|SIP/|\\PC{0,8})",
        headers in proptest::collection::vec((
            proptest::sample::select(vec!["Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m",
                "Route", "Record-Route", "Max-Forwards", "Content-Length", "l", "Authorization", "X-Other"]),
            "[ \t]{0,2}\\PC{0,40}",
        ), 0..12),
        body in "\\PC{0,20}",
        response in any::<bool>(),
    ) {
        let mut text = if response { format!("{version} 200 {method}\r\n") } else { format!("{method} {uri} {version}\r\n") };
        for (n, v) in &headers {
            text.push_str(n);
            text.push(':');
            text.push_str(v);
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        text.push_str(&body);
        if let Ok(m) = Message::parse(Bytes::from(text.clone())) {
            exercise(&m);
        }
        let _ = frames_of(text.as_bytes(), &[text.len() / 3]);
    }

    #[test]
    fn framer_is_lossless_under_any_split(
        items in proptest::collection::vec((0u8..3, proptest::collection::vec(any::<u8>(), 0..40)), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (i, (kind, body)) in items.iter().enumerate() {
            match kind {
                0 => { stream.extend_from_slice(b"\r\n\r\n"); expected.push(Frame::Ping); }
                // A lone CRLF is a pong only when a message follows (CRLF then
                // CRLFCRLF is inherently ambiguous).
                1 if items.get(i + 1).is_some_and(|(k, _)| *k == 2) => { stream.extend_from_slice(b"\r\n"); expected.push(Frame::Pong); }
                _ => {
                    let m = message(i, body);
                    stream.extend_from_slice(&m);
                    expected.push(Frame::Message(Bytes::from(m)));
                }
            }
        }
        let got = frames_of(&stream, &cuts).unwrap();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn edits_round_trip(
        host in "[a-z][a-z0-9.-]{0,20}",
        port in 1u16..,
        tag in "[A-Za-z0-9]{1,16}",
        extra in "[ -~]{0,40}",
        mf in 1u32..200,
    ) {
        let raw = format!(
            "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport\r\nMax-Forwards: {mf}\r\nFrom: <sip:a@b>;tag={tag}\r\nTo: <sip:bob@example.com>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContact: <sip:a@10.0.0.1>\r\nContent-Length: 0\r\n\r\n"
        );
        let m = Message::parse(Bytes::from(raw)).unwrap();
        let via = format!("SIP/2.0/TCP {host}:{port};branch=z9hG4bK{tag}");
        let contact = format!("sip:{tag}@{host}:{port}");
        let value = extra.trim().to_owned();
        let out = m.edit()
            .set_via_received(Some("192.0.2.9"), Some(port))
            .push_via(&via)
            .decrement_max_forwards()
            .set_contact_uri(0, &contact)
            .add_header("X-Extra", &value)
            .build();
        let o = Message::parse(out).unwrap();
        prop_assert!(validate_request(&o).is_ok());
        let vias: Vec<_> = o.vias().map(Result::unwrap).collect();
        prop_assert_eq!(vias.len(), 2);
        prop_assert_eq!(vias[0].host, host.as_str());
        prop_assert_eq!(vias[0].port, Some(port));
        prop_assert_eq!(vias[1].received(), Some("192.0.2.9"));
        prop_assert_eq!(vias[1].rport(), Some(Some(port)));
        prop_assert_eq!(o.max_forwards().unwrap(), Some(mf - 1));
        let sipwake_sip::Contacts::List(c) = o.contacts().unwrap() else { panic!("star") };
        prop_assert_eq!(c[0].uri.raw, contact.as_str());
        prop_assert_eq!(o.header("X-Extra"), Some(value.as_str()));
        prop_assert_eq!(o.from().unwrap().tag(), Some(tag.as_str()));
    }
}

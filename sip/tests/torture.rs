//! RFC 4475 torture messages: one test per file, asserting what
//! tests/fixtures/sip-torture/MANIFEST.tsv says, over datagram framing (UDP,
//! WebSocket) and stream framing (TCP/TLS).

use bytes::Bytes;
use sipwake_sip::{
    Frame, Message, StreamFramer, check_max_forwards, check_proxy_require, parse_datagram,
    validate_register, validate_request, validate_response,
};

/// What a proxy does with the message.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Well formed: process/forward.
    Accept,
    /// Answer with this status code.
    Reject(u16),
    /// Silently discard (invalid response, unparseable bytes).
    Drop,
    /// Stream only: wait for more bytes (the transport's timeout closes).
    Wait,
    /// Stream only: framing is unrecoverable, close the connection.
    Close,
}
use Verdict::*;

fn load(name: &str) -> Bytes {
    let path = format!(
        "{}/../tests/fixtures/sip-torture/{name}.dat",
        env!("CARGO_MANIFEST_DIR")
    );
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn judge(m: &Message) -> Verdict {
    if m.is_response() {
        return match validate_response(m) {
            Ok(()) => Accept,
            Err(_) => Drop,
        };
    }
    match validate_request(m) {
        Ok(()) => Accept,
        Err(r) => Reject(r.code),
    }
}

fn over_datagram(data: &Bytes) -> (Verdict, Option<Message>) {
    match parse_datagram(data.clone()) {
        Ok(m) => (judge(&m), Some(m)),
        Err(_) => (Drop, None),
    }
}

fn over_stream(data: &Bytes) -> Verdict {
    let mut f = StreamFramer::new();
    f.push(data);
    match f.next_frame() {
        Err(_) => Close,
        Ok(None) => Wait,
        Ok(Some(Frame::Message(b))) => match Message::parse(b) {
            Ok(m) => judge(&m),
            Err(_) => Drop,
        },
        Ok(Some(other)) => panic!("unexpected frame {other:?}"),
    }
}

macro_rules! torture {
    ($name:ident, udp: $udp:expr, tcp: $tcp:expr) => {
        torture!($name, udp: $udp, tcp: $tcp, |_m: &Message| {});
    };
    ($name:ident, udp: $udp:expr, tcp: $tcp:expr, $extra:expr) => {
        #[test]
        fn $name() {
            let data = load(stringify!($name));
            let (verdict, msg) = over_datagram(&data);
            assert_eq!(verdict, $udp, "datagram verdict for {}", stringify!($name));
            assert_eq!(over_stream(&data), $tcp, "stream verdict for {}", stringify!($name));
            if let Some(m) = msg {
                let check: fn(&Message) = $extra;
                check(&m);
            }
        }
    };
}

// 3.1.1 valid messages
torture!(wsinv, udp: Accept, tcp: Accept, |m| {
    assert_eq!(m.method(), Some("INVITE"));
    assert_eq!(m.max_forwards().unwrap(), Some(68));
    assert_eq!(m.cseq().unwrap().seq, 9);
    assert_eq!(m.to().unwrap().tag(), Some("1918181833n"));
    assert_eq!(m.from().unwrap().tag(), Some("98asjd8"));
    let vias: Vec<_> = m.vias().map(Result::unwrap).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!((vias[1].transport, vias[1].host), ("TCP", "spindle.example.com"));
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    // Unknown headers are kept and forwarded unchanged.
    assert_eq!(m.header("UnknownHeaderWithUnusualValue"), Some(";;,,;;,;"));
    assert_eq!(m.header("NewFangledHeader").map(sipwake_sip::unfold).unwrap(), "newfangled value continued newfangled value");
    let fwd = m.edit().decrement_max_forwards().build();
    assert!(contains(&fwd, b"\r\nUnknownHeaderWithUnusualValue: ;;,,;;,;\r\n"));
    assert_eq!(Message::parse(fwd).unwrap().max_forwards().unwrap(), Some(67));
});
torture!(intmeth, udp: Accept, tcp: Accept, |m| {
    assert_eq!(m.method(), Some("!interesting-Method0123456789_*+`.%indeed'~"));
    let uri = m.uri().unwrap().unwrap();
    assert_eq!(uri.host, "example.com");
    assert_eq!(uri.user, Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"));
});
torture!(esc01, udp: Accept, tcp: Accept, |m| {
    let to = m.to().unwrap();
    assert_eq!(sipwake_sip::text::percent_decode(to.uri.user.unwrap()), b"user");
    assert_eq!(to.uri.aor().as_deref(), Some("sip:user@example.com"));
    let sipwake_sip::Contacts::List(c) = m.contacts().unwrap() else { panic!("star") };
    assert_eq!(c.len(), 1);
});
torture!(escnull, udp: Accept, tcp: Accept, |m| {
    let sipwake_sip::Contacts::List(c) = m.contacts().unwrap() else { panic!("star") };
    let users: Vec<_> = c.iter().map(|n| sipwake_sip::text::percent_decode(n.uri.user.unwrap())).collect();
    assert_eq!(users, vec![vec![0u8], vec![0, 0]]);
    let to = sipwake_sip::text::percent_decode(m.to().unwrap().uri.user.unwrap());
    assert_eq!(to, b"null-\0-null");
    assert_ne!(c[0].uri.aor(), c[1].uri.aor(), "escaped NULs must not truncate");
});
torture!(esc02, udp: Accept, tcp: Accept, |m| {
    assert_eq!(m.method(), Some("RE%47IST%45R"));
    assert_eq!(m.from().unwrap().display_unquoted(), Some("%Z%45"));
    assert_eq!(m.count("Contact"), 2, "C%6Fntact is not Contact");
});
torture!(lwsdisp, udp: Accept, tcp: Accept, |m| {
    assert_eq!(m.from().unwrap().display, Some("caller"));
});
torture!(longreq, udp: Accept, tcp: Accept, |m| {
    assert!(m.vias().count() > 30);
    assert!(m.call_id().unwrap().len() > 100);
});
torture!(dblreq, udp: Accept, tcp: Accept, |m| {
    assert_eq!(m.method(), Some("REGISTER"));
    assert!(m.body().is_empty());
    let raw = m.raw();
    assert!(!contains(raw, b"INVITE"), "trailing octets must not be forwarded");
    assert!(!contains(&m.edit().decrement_max_forwards().build(), b"INVITE"));
});
torture!(semiuri, udp: Accept, tcp: Accept, |m| {
    let uri = m.uri().unwrap().unwrap();
    assert_eq!(uri.user, Some("user;par=u%40example.net"));
    assert_eq!(uri.host, "example.com");
    assert_eq!(uri.params, "");
});
torture!(transports, udp: Accept, tcp: Accept, |m| {
    let t: Vec<_> = m.vias().map(|v| v.unwrap().transport).collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
});
torture!(mpart01, udp: Accept, tcp: Accept, |m| {
    assert_eq!(m.body().len() as u32, m.content_length().unwrap().unwrap());
    assert!(m.body().contains(&0u8));
});
torture!(unreason, udp: Accept, tcp: Accept, |m| {
    assert_eq!(m.status(), Some(200));
    assert!(!m.reason().unwrap().is_ascii(), "UTF-8 reason phrase kept");
});
torture!(noreason, udp: Accept, tcp: Accept, |m| {
    assert_eq!(m.status(), Some(100));
    assert_eq!(m.reason(), Some(""));
});

// 3.1.2 invalid messages
torture!(badinv01, udp: Reject(400), tcp: Reject(400));
torture!(clerr, udp: Reject(400), tcp: Wait);
torture!(ncl, udp: Reject(400), tcp: Close, |m| assert!(m.body().is_empty()));
torture!(scalar02, udp: Reject(400), tcp: Reject(400));
torture!(scalarlg, udp: Drop, tcp: Drop);
torture!(quotbal, udp: Reject(400), tcp: Reject(400));
torture!(ltgtruri, udp: Reject(400), tcp: Reject(400));
torture!(lwsruri, udp: Reject(400), tcp: Reject(400));
torture!(lwsstart, udp: Reject(400), tcp: Reject(400));
torture!(trws, udp: Reject(400), tcp: Reject(400));
torture!(escruri, udp: Reject(400), tcp: Reject(400));
// Date does not matter to a proxy: ignored.
torture!(baddate, udp: Accept, tcp: Accept);
torture!(regbadct, udp: Reject(400), tcp: Reject(400));
torture!(badaspec, udp: Reject(400), tcp: Reject(400));
// The archive copy lacks the empty line: a stream waits for it.
torture!(baddn, udp: Reject(400), tcp: Wait, |m| {
    let mut fixed = m.raw().to_vec();
    fixed.extend_from_slice(b"\r\n");
    let m = Message::parse(Bytes::from(fixed)).unwrap();
    let r = validate_request(&m).unwrap_err();
    assert_eq!(r.code, 400);
    assert!(r.reason.contains("From"), "{}", r.reason);
});
torture!(badvers, udp: Reject(505), tcp: Reject(505));
torture!(mismatch01, udp: Reject(400), tcp: Reject(400));
torture!(mismatch02, udp: Reject(400), tcp: Reject(400));
torture!(bigcode, udp: Drop, tcp: Drop);

// 3.2 transaction
torture!(badbranch, udp: Accept, tcp: Accept, |m| {
    assert!(!m.top_via().unwrap().has_rfc3261_branch());
    assert!(matches!(sipwake_sip::txn::server_key(m).unwrap(), sipwake_sip::txn::TxnKey::Rfc2543 { .. }));
});

// 3.3 application
torture!(insuf, udp: Reject(400), tcp: Reject(400));
torture!(unkscm, udp: Reject(416), tcp: Reject(416));
torture!(novelsc, udp: Reject(416), tcp: Reject(416));
torture!(unksm2, udp: Accept, tcp: Accept, |m| {
    assert_eq!(validate_register(m).unwrap_err().code, 400);
});
torture!(bext01, udp: Accept, tcp: Accept, |m| {
    let r = check_proxy_require(m, &["path", "outbound"]).unwrap_err();
    assert_eq!(r.code, 420);
    assert_eq!(r.unsupported, ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]);
    let r = sipwake_sip::check_require(m, &[]).unwrap_err();
    assert_eq!(r.unsupported, ["nothingSupportsThis", "nothingSupportsThisEither"]);
});
torture!(invut, udp: Accept, tcp: Accept);
torture!(regaut01, udp: Accept, tcp: Accept, |m| {
    let fwd = m.edit().decrement_max_forwards().build();
    let auth = m.header("Authorization").unwrap();
    assert_eq!(Message::parse(fwd).unwrap().header("Authorization"), Some(auth));
});
torture!(multi01, udp: Reject(400), tcp: Reject(400));
torture!(mcl01, udp: Reject(400), tcp: Close);
torture!(bcast, udp: Drop, tcp: Drop);
torture!(zeromf, udp: Accept, tcp: Accept, |m| {
    assert_eq!(check_max_forwards(m).unwrap_err().code, 483);
});
torture!(cparam01, udp: Accept, tcp: Accept, |m| {
    let sipwake_sip::Contacts::List(c) = m.contacts().unwrap() else { panic!("star") };
    assert_eq!(c[0].param("unknownparam"), Some(None));
    assert_eq!(c[0].uri.param("unknownparam"), None);
    assert!(validate_register(m).is_ok());
});
torture!(cparam02, udp: Accept, tcp: Accept, |m| {
    let sipwake_sip::Contacts::List(c) = m.contacts().unwrap() else { panic!("star") };
    assert_eq!(c[0].uri.param("unknownparam"), Some(None));
    assert_eq!(c[0].param("unknownparam"), None);
    assert!(validate_register(m).is_ok());
});
torture!(regescrt, udp: Accept, tcp: Accept, |m| {
    let sipwake_sip::Contacts::List(c) = m.contacts().unwrap() else { panic!("star") };
    assert!(c[0].uri.headers.unwrap().starts_with("Route="));
    assert!(validate_register(m).is_ok());
});
torture!(sdp01, udp: Accept, tcp: Accept);

// 3.4 backward compatibility: no Content-Length, so unframeable on a stream.
torture!(inv2543, udp: Accept, tcp: Close, |m| {
    assert_eq!(m.body().len(), 105);
    assert!(m.top_via().unwrap().branch().is_none());
    assert!(matches!(sipwake_sip::txn::server_key(m).unwrap(), sipwake_sip::txn::TxnKey::Rfc2543 { .. }));
});

/// Forwarding every acceptable torture request through the usual proxy edits
/// yields a message that still validates, with every header the proxy does
/// not own byte-identical and in the same order.
#[test]
fn proxy_edits_keep_foreign_headers_intact() {
    let manifest = include_str!("../../tests/fixtures/sip-torture/MANIFEST.tsv");
    let owned = ["Via", "Max-Forwards", "Record-Route", "Content-Length"];
    let mut forwarded = 0;
    for line in manifest.lines().skip(1) {
        let file = line.split('\t').next().unwrap().trim_end_matches(".dat");
        let Ok(m) = parse_datagram(load(file)) else {
            continue;
        };
        if !m.is_request() || validate_request(&m).is_err() {
            continue;
        }
        let out = m
            .edit()
            .set_via_received(Some("192.0.2.99"), Some(5099))
            .push_via("SIP/2.0/TCP gw.example.net;branch=z9hG4bKgw")
            .push_record_route("<sip:gw.example.net;lr>")
            .decrement_max_forwards()
            .build();
        let o = Message::parse(out).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(validate_request(&o), Ok(()), "{file}");
        let foreign = |m: &Message| -> Vec<(String, String)> {
            m.headers()
                .filter(|h| {
                    !owned
                        .iter()
                        .any(|n| sipwake_sip::name::same_header(n, h.name))
                })
                .map(|h| (h.name.to_owned(), h.value.to_owned()))
                .collect()
        };
        assert_eq!(foreign(&m), foreign(&o), "{file}");
        assert_eq!(o.body(), m.body(), "{file}");
        assert_eq!(o.vias().count(), m.vias().count() + 1, "{file}");
        let top_old = o.vias().nth(1).unwrap().unwrap();
        assert_eq!(top_old.received(), Some("192.0.2.99"), "{file}");
        forwarded += 1;
    }
    assert_eq!(
        forwarded, 23,
        "every acceptable torture request is forwarded"
    );
}

#[test]
fn every_manifest_file_has_a_test() {
    let manifest = include_str!("../../tests/fixtures/sip-torture/MANIFEST.tsv");
    let this = include_str!("torture.rs");
    let mut n = 0;
    for line in manifest.lines().skip(1) {
        let file = line.split('\t').next().unwrap().trim_end_matches(".dat");
        assert!(
            this.contains(&format!("torture!({file},")),
            "no test for {file}"
        );
        n += 1;
    }
    assert_eq!(n, 49);
}

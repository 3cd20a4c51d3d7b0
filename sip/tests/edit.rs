//! Proxy edits and response building: exact output bytes.

use bytes::Bytes;
use sipwake_sip::{Message, response_to};

const REGISTER: &str = "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=111\r\n\
To: <sip:alice@example.com>\r\n\
Call-ID: c1@10.0.0.1\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:alice@10.0.0.1:5060;transport=udp>;expires=600\r\n\
X-Custom:  keep   me \r\n\
Content-Length: 0\r\n\
\r\n";

fn parse(s: &str) -> Message {
    Message::parse(Bytes::copy_from_slice(s.as_bytes())).unwrap()
}

fn text(b: &Bytes) -> &str {
    std::str::from_utf8(b).unwrap()
}

#[test]
fn no_edit_is_byte_identical() {
    let m = parse(REGISTER);
    assert_eq!(text(&m.edit().build()), REGISTER);
}

#[test]
fn proxy_forward_register() {
    let m = parse(REGISTER);
    let out = m
        .edit()
        .set_via_received(Some("192.0.2.7"), Some(40000))
        .push_via("SIP/2.0/UDP gw.example.net;branch=z9hG4bKgw1")
        .push_path("<sip:gw.example.net;lr;ob>")
        .decrement_max_forwards()
        .build();
    let expected = "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP gw.example.net;branch=z9hG4bKgw1\r\n\
Path: <sip:gw.example.net;lr;ob>\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport=40000;received=192.0.2.7\r\n\
Max-Forwards: 69\r\n\
From: <sip:alice@example.com>;tag=111\r\n\
To: <sip:alice@example.com>\r\n\
Call-ID: c1@10.0.0.1\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:alice@10.0.0.1:5060;transport=udp>;expires=600\r\n\
X-Custom:  keep   me \r\n\
Content-Length: 0\r\n\
\r\n";
    assert_eq!(text(&out), expected);
}

#[test]
fn remove_top_via_from_list_and_fields() {
    let resp = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1 , SIP/2.0/UDP b;branch=z9hG4bK2\r\nv: SIP/2.0/TCP c;branch=z9hG4bK3\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n";
    let m = parse(resp);
    let once = m.edit().remove_top_via().build();
    assert_eq!(
        text(&once),
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP b;branch=z9hG4bK2\r\nv: SIP/2.0/TCP c;branch=z9hG4bK3\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"
    );
    let twice = m.edit().remove_top_via().remove_top_via().build();
    assert_eq!(
        text(&twice),
        "SIP/2.0 200 OK\r\nv: SIP/2.0/TCP c;branch=z9hG4bK3\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn request_uri_contact_routes_headers_and_body() {
    let m = parse(REGISTER);
    let out = m
        .edit()
        .set_request_uri("sip:upstream.example.org;transport=tcp")
        .set_contact_uri(0, "sip:alice@gw.example.net:5070;ob")
        .set_routes(&["<sip:p1.example.org;lr>", "<sip:p2.example.org;lr>"])
        .remove_header("X-Custom")
        .add_header("X-Added", "1")
        .set_body(Bytes::from_static(b"hello"))
        .build();
    let o = parse(text(&out));
    assert_eq!(
        o.request_uri(),
        Some("sip:upstream.example.org;transport=tcp")
    );
    let sipwake_sip::Contacts::List(c) = o.contacts().unwrap() else {
        panic!()
    };
    assert_eq!(c[0].uri.raw, "sip:alice@gw.example.net:5070;ob");
    assert_eq!(c[0].param("expires"), Some(Some("600")));
    assert_eq!(
        o.values("Route").collect::<Vec<_>>(),
        ["<sip:p1.example.org;lr>", "<sip:p2.example.org;lr>"]
    );
    assert_eq!(o.header("X-Custom"), None);
    assert_eq!(o.header("X-Added"), Some("1"));
    assert_eq!(o.content_length().unwrap(), Some(5));
    assert_eq!(&o.body()[..], b"hello");
    // The rest is untouched.
    assert_eq!(o.header("From"), m.header("From"));
}

#[test]
fn addr_spec_contact_gets_angle_brackets() {
    let m = parse("REGISTER sip:x SIP/2.0\r\nm: sip:a@10.0.0.1;expires=60\r\nl: 0\r\n\r\n");
    let out = m.edit().set_contact_uri(0, "sip:a@gw;ob").build();
    assert_eq!(
        text(&out),
        "REGISTER sip:x SIP/2.0\r\nm: <sip:a@gw;ob>;expires=60\r\nl: 0\r\n\r\n"
    );
}

#[test]
fn max_forwards_inserted_and_content_length_added() {
    let m = parse("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\nbody");
    let out = m.edit().decrement_max_forwards().build();
    assert_eq!(
        text(&out),
        "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nContent-Length: 4\r\n\r\nbody"
    );
}

#[test]
fn record_route_is_prepended() {
    let m = parse(
        "INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nRecord-Route: <sip:p1;lr>\r\nl: 0\r\n\r\n",
    );
    let out = m.edit().push_record_route("<sip:gw;lr>").build();
    let o = parse(text(&out));
    assert_eq!(
        o.values("Record-Route").collect::<Vec<_>>(),
        ["<sip:gw;lr>", "<sip:p1;lr>"]
    );
}

#[test]
fn response_copies_dialog_headers_and_adds_tag() {
    let m = parse(REGISTER);
    let r = response_to(&m, 400, "Bad Request - CSeq\r\nX: y")
        .to_tag("t1")
        .header("Warning", "399 gw \"x\"")
        .build();
    let expected = "SIP/2.0 400 Bad Request - CSeq  X: y\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport\r\n\
From: <sip:alice@example.com>;tag=111\r\n\
To: <sip:alice@example.com>;tag=t1\r\n\
Call-ID: c1@10.0.0.1\r\n\
CSeq: 1 REGISTER\r\n\
Warning: 399 gw \"x\"\r\n\
Content-Length: 0\r\n\r\n";
    assert_eq!(text(&r), expected);
    let trying = response_to(&m, 100, "Trying")
        .via_received("192.0.2.7", Some(4000))
        .build();
    let t = parse(text(&trying));
    assert_eq!(t.to().unwrap().tag(), None);
    let via = t.top_via().unwrap();
    assert_eq!(
        (via.received(), via.rport()),
        (Some("192.0.2.7"), Some(Some(4000)))
    );
}

#[test]
fn folded_fields_are_removed_whole_and_routes_popped() {
    let m = parse(
        "INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nX-Fold: a\r\n  b\r\n\tc\r\nRoute: <sip:me;lr>,\r\n <sip:next;lr>\r\nRoute: <sip:last;lr>\r\nl: 3\r\n\r\nabc",
    );
    let out = m.edit().remove_header("x-fold").remove_top_route().build();
    assert_eq!(
        text(&out),
        "INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nRoute: <sip:next;lr>\r\nRoute: <sip:last;lr>\r\nl: 3\r\n\r\nabc"
    );
    let out = m.edit().remove_top_route().remove_top_route().build();
    let o = parse(text(&out));
    assert_eq!(o.values("Route").collect::<Vec<_>>(), ["<sip:last;lr>"]);
    assert_eq!(o.header("X-Fold"), m.header("X-Fold"));
    // Popping more routes than exist is harmless.
    let out = m
        .edit()
        .remove_top_route()
        .remove_top_route()
        .remove_top_route()
        .remove_top_route()
        .build();
    assert_eq!(parse(text(&out)).count("Route"), 0);
    // set_routes without existing Route fields appends one field.
    let n = parse("OPTIONS sip:x SIP/2.0\r\nl: 0\r\n\r\n");
    assert_eq!(
        text(&n.edit().set_routes(&["<sip:a;lr>"]).build()),
        "OPTIONS sip:x SIP/2.0\r\nl: 0\r\nRoute: <sip:a;lr>\r\n\r\n"
    );
}

#[test]
fn content_length_is_managed_by_build() {
    let m = parse("MESSAGE sip:x SIP/2.0\r\nl: 3\r\n\r\nabc");
    // remove/set of Content-Length are ignored; build keeps it right.
    let out = m
        .edit()
        .remove_header("Content-Length")
        .set_header("l", "99")
        .set_body(Bytes::from_static(b"hello!"))
        .build();
    assert_eq!(text(&out), "MESSAGE sip:x SIP/2.0\r\nl: 6\r\n\r\nhello!");
}

//! Datagram parse + every accessor, validation and the proxy edits: no
//! input may panic, and an edited message must parse again.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sipwake_sip::{Message, ParseError, response_to, validate_request, validate_response};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = sipwake_sip::parse_datagram(Bytes::copy_from_slice(data)) else {
        return;
    };
    let _ = (
        m.call_id(),
        m.cseq(),
        m.from(),
        m.to(),
        m.max_forwards(),
        m.contacts(),
        m.routes(),
        m.uri(),
    );
    let _: Vec<_> = m.vias().collect();
    for h in m.headers() {
        let _ = h.unfolded();
    }
    let _ = (
        validate_request(&m),
        validate_response(&m),
        sipwake_sip::txn::server_key(&m),
    );
    let out = m
        .edit()
        .set_via_received(Some("192.0.2.1"), Some(5060))
        .push_via("SIP/2.0/UDP gw;branch=z9hG4bKf")
        .decrement_max_forwards()
        .set_contact_uri(0, "sip:gw")
        .build();
    // Edits keep a parseable message parseable (the start line is untouched);
    // added fields may push a message at the limit over MAX_HEADERS.
    match Message::parse(out) {
        Ok(_) | Err(ParseError::TooManyHeaders(_)) => {}
        Err(e) => panic!("edited message does not parse: {e}"),
    }
    let _ = response_to(&m, 400, "Bad Request").build();
});

use super::*;

fn policy(keepupperreg: u8, regrefresh: i8) -> PushPolicy {
    PushPolicy {
        keepupperreg,
        regrefresh,
        ..PushPolicy::default()
    }
}

#[test]
fn mode_follows_keepupperreg_and_regrefresh() {
    // Defaults (keepupperreg 1, regrefresh -1): X-PIID → register, else push.
    assert_eq!(mode_for(&policy(1, -1), true), Mode::Register);
    assert_eq!(mode_for(&policy(1, -1), false), Mode::Push);
    // keepupperreg 2 keeps even without credentials.
    assert_eq!(mode_for(&policy(2, -1), false), Mode::Register);
    // regrefresh 1/2: push instead of keeping, credentials or not.
    assert_eq!(mode_for(&policy(1, 1), true), Mode::Push);
    assert_eq!(mode_for(&policy(0, 2), false), Mode::Push);
    // No keeping, no pushes.
    assert_eq!(mode_for(&policy(0, 0), true), Mode::None);
    assert_eq!(mode_for(&policy(1, 0), false), Mode::None);
    assert_eq!(mode_for(&policy(0, -1), true), Mode::None);
}

#[test]
fn refresh_comes_before_expiry_with_a_margin() {
    assert_eq!(refresh_delay(3600), Duration::from_secs(3240));
    assert_eq!(refresh_delay(60), Duration::from_secs(54));
    // Short intervals: at least 5 s (or half) before expiry.
    assert_eq!(refresh_delay(30), Duration::from_secs(25));
    assert_eq!(refresh_delay(10), Duration::from_secs(5));
    assert_eq!(refresh_delay(4), Duration::from_secs(2));
    assert_eq!(refresh_delay(1), Duration::from_millis(500));
}

#[test]
fn registry_aor_drops_either_scheme() {
    assert_eq!(registry_aor("sip:alice@example.com"), "alice@example.com");
    assert_eq!(registry_aor("sips:alice@example.com"), "alice@example.com");
}

#[test]
fn retries_back_off_up_to_fifteen_minutes() {
    assert_eq!(retry_delay(0), Duration::from_secs(30));
    assert_eq!(retry_delay(1), Duration::from_secs(60));
    assert_eq!(retry_delay(10), Duration::from_secs(900));
}

#[test]
fn persists_filters_by_last_seen() {
    use super::restore::persists_allows;
    assert!(persists_allows(-1, 0, 10_000_000));
    assert!(!persists_allows(0, 100, 100));
    assert!(persists_allows(2, 100, 100 + 86_400));
    assert!(!persists_allows(2, 100, 100 + 3 * 86_400));
}

/// The token the app's REGISTER produced (quoted, bracketed instance) and
/// the one the keeper derives from the stored binding after a restart.
#[tokio::test]
async fn path_token_from_the_store_equals_the_registers() {
    use crate::bindings::{Capture, CaptureOptions, capture};
    use crate::net::FlowId;
    use crate::registrar::paths::PathRegistry;
    use crate::token::TokenKey;
    use sipwake_core::mpush::Provider;

    let key = TokenKey::from_bytes([9; 32]);
    let paths = PathRegistry::new(key.clone(), tokio::sync::broadcast::channel(4).0);
    let after_restart = PathRegistry::new(key, tokio::sync::broadcast::channel(4).0);
    let opts = CaptureOptions {
        supported: vec![Provider::AndroidFcm],
        ..CaptureOptions::default()
    };
    for contact in [
        "<sip:alice@10.0.0.1:5060;transport=tcp>;+sip.instance=\"<urn:uuid:1234>\";reg-id=1",
        "<sip:alice@10.0.0.1:5060;transport=tcp>",
    ] {
        let req = Message::parse(bytes::Bytes::from(format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK1\r\n\
             From: <sip:alice@Example.com>;tag=1\r\nTo: <sip:alice@Example.com>\r\nCall-ID: c\r\n\
             CSeq: 1 REGISTER\r\nContact: {contact}\r\nX-MPUSH: a:com.example:tok\r\n\
             Content-Length: 0\r\n\r\n"
        )))
        .unwrap();
        let dest = Destination::Addr {
            kind: TransportKind::Udp,
            addr: "127.0.0.1:5070".parse().unwrap(),
        };
        let pending = paths
            .prepare(
                &req,
                FlowId(1),
                TransportKind::Tcp,
                "10.0.0.1:5060".parse().unwrap(),
                dest,
            )
            .unwrap();
        let Capture::Bind(b) = capture(&req, 0, &opts).capture else {
            panic!("no binding from {contact}")
        };
        let identity = identity_of(&b).unwrap();
        let aor = registry_aor(&b.aor);
        assert_eq!(
            after_restart.token_for(&aor, &identity),
            pending.token,
            "{contact}"
        );
    }
}

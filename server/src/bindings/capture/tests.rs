//! Capture tests, starting with the manual's own example REGISTERs.

use bytes::Bytes;
use sipwake_core::mpush::{Provider, PushEnv};
use sipwake_sip::Message;

use super::*;

const NOW: i64 = 1_700_000_000;

fn all_providers() -> CaptureOptions {
    CaptureOptions {
        supported: vec![
            Provider::AndroidFcm,
            Provider::Apns,
            Provider::IosFcm,
            Provider::WebPush,
        ],
        ..CaptureOptions::default()
    }
}

fn register(extra: &str, contact: &str) -> Message {
    let text = format!(
        "REGISTER sip:gw.mydomain.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.168.1.101:14501;alias;branch=z9hG4bK.edThn;rport\r\n\
         From: <sip:1111@gw.mydomain.com>;tag=tUgBfpF8h\r\n\
         To: sip:1111@gw.mydomain.com\r\n\
         CSeq: 2 REGISTER\r\n\
         Call-ID: enutmuwaynqib\r\n\
         Max-Forwards: 70\r\n\
         Contact: {contact}\r\n\
         {extra}\
         Expires: 3600\r\n\
         User-Agent: MyCoolApp\r\n\
         Content-Length: 0\r\n\r\n"
    );
    Message::parse(Bytes::from(text)).expect("test REGISTER parses")
}

fn bound(r: &RegisterPush) -> &Binding {
    match &r.capture {
        Capture::Bind(b) => b,
        other => panic!("expected a binding, got {other:?}"),
    }
}

#[test]
fn manual_x_mpush_example() {
    // The manual's "X-MPUSH / Example" REGISTER (its X-PIID is 30 hex
    // characters, so it cannot be an md5: push works, the keeper cannot).
    let req = register(
        "X-MPUSH: a:com.mycompany.myapp:c-10-ap_Kt0:G7SThkASJx2K4Rm1033iR0mIgzI1cLg5xxpST4cjrd_cqQquRLkHMi3eY4g\r\n\
         X-PIID: 14d4f932e3897a39d6a17c13b526db\r\n\
         X-Sy.Uppersrv: sip.mydomain.com\r\n",
        "<sip:1111@192.168.1.101:14501>",
    );
    let r = capture(&req, NOW, &all_providers());
    let b = bound(&r);
    assert_eq!(b.aor, "sip:1111@gw.mydomain.com");
    assert_eq!(b.push.provider, Provider::AndroidFcm);
    assert_eq!(b.push.env, PushEnv::Default);
    assert_eq!(b.push.package, "com.mycompany.myapp");
    assert_eq!(
        b.push.token,
        "c-10-ap_Kt0:G7SThkASJx2K4Rm1033iR0mIgzI1cLg5xxpST4cjrd_cqQquRLkHMi3eY4g"
    );
    assert_eq!(b.source, BindingSource::Mpush);
    assert_eq!(b.piid, None);
    assert_eq!(b.upstream.server.as_deref(), Some("sip.mydomain.com"));
    assert_eq!(b.user_agent.as_deref(), Some("MyCoolApp"));
    assert_eq!(b.contact, "sip:1111@192.168.1.101:14501");
    assert_eq!(r.feature_caps.as_deref(), Some("*;+sip.pns=\"fcm\""));
    assert!(!r.reject_555 && !r.unregister);
}

#[test]
fn manual_rfc8599_example() {
    // The manual's RFC 8599 example, stray '>' and all.
    let req = register(
        "X-PIID: 14d4f932e3897a39d6a17c13b526db00\r\nX-Sy.Uppersrv: sip.mydomain.com\r\n",
        "sip:1111@192.168.1.101:14501;pn-provider=fcm;pn-param=com.mycompany.myapp;pn-prid=ZTY4ZDJlMzODE1NmUgKi0K>",
    );
    let r = capture(&req, NOW, &all_providers());
    let b = bound(&r);
    assert_eq!(b.source, BindingSource::Rfc8599);
    assert_eq!(b.push.provider, Provider::AndroidFcm);
    assert_eq!(b.push.package, "com.mycompany.myapp");
    assert_eq!(b.push.token, "ZTY4ZDJlMzODE1NmUgKi0K");
    assert_eq!(
        b.piid.as_ref().map(|p| p.expose()),
        Some("14d4f932e3897a39d6a17c13b526db00")
    );
    assert_eq!(r.feature_caps.as_deref(), Some("*;+sip.pns=\"fcm\""));
}

#[test]
fn env_prefix_instance_and_apns() {
    let req = register(
        "X-MPUSH: s:i:com.mycompany.myapp:c-10-ap_Kt0:BPC91bG7STqrzueY3dRAtPhxpST4cjrd_cqQquRLkHi3eY4g\r\n",
        "<sip:1111@10.0.0.1:5060;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\";reg-id=1",
    );
    let r = capture(&req, NOW, &all_providers());
    let b = bound(&r);
    assert_eq!(b.push.env, PushEnv::Sandbox);
    assert_eq!(b.push.provider, Provider::Apns);
    assert_eq!(
        b.device,
        "instance:urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF;reg-id=1"
    );
    assert_eq!(r.feature_caps.as_deref(), Some("*;+sip.pns=\"apns\""));
}

#[test]
fn null_forms_remove() {
    let r = capture(
        &register("X-MPUSH: null\r\n", "<sip:1111@10.0.0.1>"),
        NOW,
        &all_providers(),
    );
    assert_eq!(
        r.capture,
        Capture::Remove {
            aor: "sip:1111@gw.mydomain.com".into(),
            device: None
        }
    );
    let r = capture(
        &register(
            "",
            "<sip:1111@10.0.0.1;pn-provider=fcm;pn-param=app;pn-prid=null>;+sip.instance=\"<urn:uuid:1>\"",
        ),
        NOW,
        &all_providers(),
    );
    assert_eq!(
        r.capture,
        Capture::Remove {
            aor: "sip:1111@gw.mydomain.com".into(),
            device: Some("instance:urn:uuid:1".into())
        }
    );
}

#[test]
fn legacy_contact_forms_bind() {
    for contact in [
        "<sip:1111@10.0.0.1;push-token-type=fcm;push-token-app=com.x;push-token-id=TOK1>",
        "<sip:1111@10.0.0.1;pn-type=fcm;app-id=com.x;pn-tok=TOK1>",
    ] {
        let r = capture(&register("", contact), NOW, &all_providers());
        let b = bound(&r);
        assert_eq!(
            (b.push.package.as_str(), b.push.token.as_str()),
            ("com.x", "TOK1"),
            "{contact}"
        );
    }
}

#[test]
fn unsupported_provider_is_unlisted_by_default_and_555_when_asked() {
    let only_fcm = CaptureOptions {
        supported: vec![Provider::AndroidFcm],
        ..CaptureOptions::default()
    };
    let req = register("X-MPUSH: i:com.x:abcdef\r\n", "<sip:1111@10.0.0.1>");
    let r = capture(&req, NOW, &only_fcm);
    assert_eq!(
        r.capture,
        Capture::Unsupported {
            provider: "apns".into()
        }
    );
    assert_eq!(r.feature_caps, None);
    assert!(!r.reject_555);
    let r = capture(
        &req,
        NOW,
        &CaptureOptions {
            send_555: true,
            ..only_fcm.clone()
        },
    );
    assert!(r.reject_555);
    let r = capture(
        &register("", "<sip:1111@10.0.0.1;pn-provider=acme;pn-prid=x>"),
        NOW,
        &only_fcm,
    );
    assert_eq!(
        r.capture,
        Capture::Unsupported {
            provider: "acme".into()
        }
    );
}

#[test]
fn capability_query_lists_what_is_supported() {
    let r = capture(
        &register("", "<sip:1111@10.0.0.1;pn-provider=apns>"),
        NOW,
        &all_providers(),
    );
    assert_eq!(
        r.capture,
        Capture::Query {
            provider: "apns".into()
        }
    );
    assert_eq!(
        r.feature_caps.as_deref(),
        Some("*;+sip.pns=\"fcm,apns,webpush\"")
    );
}

#[test]
fn malformed_push_data_never_fails_the_registration() {
    let long = format!("X-MPUSH: a:com.x:{}\r\n", "t".repeat(5000));
    for extra in [
        "X-MPUSH: x:com.x:tok\r\n",
        "X-MPUSH: a:com.x\r\n",
        "X-MPUSH: a::tok\r\n",
        long.as_str(),
    ] {
        let r = capture(
            &register(extra, "<sip:1111@10.0.0.1>"),
            NOW,
            &all_providers(),
        );
        assert!(
            matches!(r.capture, Capture::Invalid { .. }),
            "{extra:.40} -> {:?}",
            r.capture
        );
        assert_eq!(r.feature_caps, None);
    }
}

#[test]
fn plain_register_and_unregister_detection() {
    let r = capture(&register("", "<sip:1111@10.0.0.1>"), NOW, &all_providers());
    assert_eq!(r.capture, Capture::None);
    assert!(!r.unregister);
    let r = capture(
        &register("X-MPUSH: a:com.x:tok\r\n", "<sip:1111@10.0.0.1>;expires=0"),
        NOW,
        &all_providers(),
    );
    assert!(r.unregister);
    assert!(matches!(r.capture, Capture::Bind(_)));
}

#[test]
fn removeat_nopn_and_removeat_noprid_turn_into_removals() {
    let instance = ";+sip.instance=\"<urn:uuid:1>\"";
    let plain = register("", &format!("<sip:1111@10.0.0.1>{instance}"));
    let query = register(
        "",
        &format!("<sip:1111@10.0.0.1;pn-provider=fcm>{instance}"),
    );
    let aor = "sip:1111@gw.mydomain.com".to_string();
    // Off (the manual's default): an ordinary registration and a query.
    assert_eq!(
        capture(&plain, NOW, &all_providers()).capture,
        Capture::None
    );
    assert_eq!(
        capture(&query, NOW, &all_providers()).capture,
        Capture::Query {
            provider: "fcm".into()
        }
    );
    let on = CaptureOptions {
        remove_at_nopn: true,
        remove_at_noprid: true,
        ..all_providers()
    };
    // On: the device named by +sip.instance loses its binding, as with `null`.
    let null = register(
        "",
        &format!("<sip:1111@10.0.0.1;pn-provider=fcm;pn-param=app;pn-prid=null>{instance}"),
    );
    let removal = capture(&null, NOW, &on).capture;
    assert!(
        matches!(&removal, Capture::Remove { aor: a, device: Some(_) } if *a == aor),
        "{removal:?}"
    );
    assert_eq!(capture(&plain, NOW, &on).capture, removal);
    let r = capture(&query, NOW, &on);
    assert_eq!((r.capture, r.feature_caps), (removal, None));
    // Without an instance (and for `Contact: *`): every device of the user.
    let all = Capture::Remove {
        aor: aor.clone(),
        device: None,
    };
    assert_eq!(
        capture(&register("", "<sip:1111@10.0.0.1>"), NOW, &on).capture,
        all
    );
    assert_eq!(capture(&register("", "*"), NOW, &on).capture, all);
    // Push data still binds; only its absence removes.
    let with_push = register("X-MPUSH: a:com.x:tok\r\n", "<sip:1111@10.0.0.1>");
    assert!(matches!(
        capture(&with_push, NOW, &on).capture,
        Capture::Bind(_)
    ));
}

#[test]
fn sip_pnsreg_is_answered_with_the_refresh_lead() {
    // RFC 8599: an app that refreshes by itself says +sip.pnsreg; the 200
    // tells it how many seconds before expiry to refresh (the gateway's
    // own refresh point: 10 % of the interval, at least 5 s).
    let pn = "pn-provider=fcm;pn-param=app;pn-prid=tok";
    let r = capture(
        &register("", &format!("<sip:1111@10.0.0.1;{pn}>;+sip.pnsreg")),
        NOW,
        &all_providers(),
    );
    assert_eq!(
        r.feature_caps.as_deref(),
        Some("*;+sip.pns=\"fcm\";+sip.pnsreg=\"360\"")
    );
    let r = capture(
        &register(
            "",
            &format!("<sip:1111@10.0.0.1;{pn}>;+sip.pnsreg;expires=60"),
        ),
        NOW,
        &all_providers(),
    );
    assert_eq!(
        r.feature_caps.as_deref(),
        Some("*;+sip.pns=\"fcm\";+sip.pnsreg=\"6\"")
    );
    // Without the tag, only the push service.
    let r = capture(
        &register("", &format!("<sip:1111@10.0.0.1;{pn}>")),
        NOW,
        &all_providers(),
    );
    assert_eq!(r.feature_caps.as_deref(), Some("*;+sip.pns=\"fcm\""));
}

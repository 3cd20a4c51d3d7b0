//! Property tests: no parser panics on arbitrary input, and what we format
//! parses back to the same value.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::Value;
use sipwake_core::*;

/// Strings built from the syntax of the thing being parsed, so the cases
/// reach past the first check instead of failing on it.
fn fragments(parts: &'static [&'static str]) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(parts).prop_map(str::to_string),
        1 => any::<String>(),
        1 => "[!-~]{0,12}",
    ];
    proptest::collection::vec(piece, 0..16).prop_map(|v| v.concat())
}

fn provider() -> impl Strategy<Value = Provider> {
    prop_oneof![
        Just(Provider::AndroidFcm),
        Just(Provider::Apns),
        Just(Provider::IosFcm),
        Just(Provider::WebPush)
    ]
}

fn env() -> impl Strategy<Value = PushEnv> {
    prop_oneof![
        Just(PushEnv::Default),
        Just(PushEnv::Sandbox),
        Just(PushEnv::Production)
    ]
}

/// Bindings `validate` accepts: printable ASCII, no `:` in the package, and
/// not the literal `null` token (which means "remove" in RFC 8599).
fn binding() -> impl Strategy<Value = MpushBinding> {
    let package = prop_oneof![
        3 => "[!-9;-~]{1,60}",
        1 => "([A-Z0-9]{10}\\.)?[a-z]{1,8}(\\.[a-z]{1,8}){0,3}(\\.voip)?",
    ];
    (env(), provider(), package, "[!-~]{1,300}")
        .prop_filter("null token", |(_, _, _, t)| !t.eq_ignore_ascii_case("null"))
        .prop_map(|(env, provider, package, token)| MpushBinding {
            env,
            provider,
            package,
            token,
        })
}

fn pn_params() -> impl Strategy<Value = PnParams> {
    let prov = prop_oneof![
        Just(PnProvider::Apns),
        Just(PnProvider::Fcm),
        Just(PnProvider::WebPush),
        // The `x` prefix keeps clear of the legacy aliases (gcm, apple, …).
        "x[a-z0-9.-]{0,10}".prop_map(PnProvider::Other),
    ];
    let val = || proptest::option::of("\\PC{1,40}");
    (prov, val(), val(), val()).prop_map(|(provider, param, prid, purr)| PnParams {
        provider,
        param,
        prid,
        purr,
    })
}

fn kind() -> impl Strategy<Value = NotificationKind> {
    (-2i64..8).prop_map(NotificationKind::from_ntype)
}

fn push_fields() -> impl Strategy<Value = PushFields> {
    let s = || any::<String>();
    (
        (s(), s(), s(), s(), kind(), s(), s(), s(), s()),
        (
            s(),
            s(),
            any::<u8>(),
            any::<u32>(),
            s(),
            s(),
            s(),
            s(),
            s(),
            s(),
        ),
    )
        .prop_map(
            |(
                (package, token, to, to_username, kind, from, from_username, from_display, call_id),
                (priority, npriority, apriority, ttl, push_type, sound, msg, message, title, body),
            )| PushFields {
                package,
                token,
                to,
                to_username,
                kind,
                from,
                from_username,
                from_display,
                call_id,
                priority,
                npriority,
                apriority,
                ttl,
                push_type,
                sound,
                msg,
                message,
                title,
                body,
            },
        )
}

/// Arbitrary JSON documents (bounded depth and size).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        proptest::sample::select(&["ntype", "0", "1", "nfrom", "aps", "data"][..])
            .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        let key = prop_oneof![
            proptest::sample::select(
                &[
                    "aps",
                    "data",
                    "notification",
                    "message",
                    "alert",
                    "sound",
                    "title",
                    "body",
                    "ntype",
                    "nfrom",
                    "nmsg",
                    "ncallid",
                    "name"
                ][..]
            )
            .prop_map(str::to_string),
            any::<String>(),
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A fixed seed keeps `cargo test` deterministic; set `PROPTEST_RNG_SEED`
/// (and `PROPTEST_CASES`) to explore other inputs.
fn config() -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if matches!(c.rng_seed, RngSeed::Random) {
        c.rng_seed = RngSeed::Fixed(0x5349_5057_414b_4531);
    }
    c
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mpush_never_panics(s in fragments(&[":", "a", "i", "j", "w", "s", "p", "d", "null", " ", "\r\n", "é"])) {
        if let Ok(Mpush::Bind(b)) = parse_mpush(&s) {
            // Whatever parses, formats back to something that parses the same.
            prop_assert_eq!(parse_mpush(&b.header_value()), Ok(Mpush::Bind(b.clone())));
        }
    }

    #[test]
    fn mpush_roundtrip(b in binding()) {
        prop_assert_eq!(b.validate(), Ok(()));
        prop_assert_eq!(parse_mpush(&b.header_value()), Ok(Mpush::Bind(b.clone())));
        let line = b.header_line();
        prop_assert_eq!(parse_mpush(line.strip_prefix("X-MPUSH:").unwrap()), Ok(Mpush::Bind(b)));
    }

    #[test]
    fn piid_is_hex_and_verifies(u in any::<String>(), r in any::<String>(), p in any::<String>(), other in any::<String>()) {
        let h = compute_piid(&u, &r, &p);
        prop_assert_eq!(h.len(), 32);
        prop_assert!(h.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        prop_assert!(verify_piid(&h, &u, &r, &p));
        prop_assert!(verify_piid(&h.to_uppercase(), &u, &r, &p));
        if other != p {
            prop_assert!(!verify_piid(&h, &u, &r, &other));
        }
    }

    #[test]
    fn verify_piid_never_panics(s in any::<String>()) {
        let _ = verify_piid(&s, "u", "r", "p");
    }

    #[test]
    fn pn_never_panics(s in fragments(&[
        "<", ">", "\"", "\\", ";", "=", "?", "@", "sip:", "pn-provider=", "pn-param=", "pn-prid=",
        "pn-purr=", "push-token-id=", "pn-tok=", "app-id=", "fcm", "apns", "null", "%", "%4", "%41", "%FF",
    ])) {
        if let Ok(Some(p)) = parse_pn_params(&s) {
            // Formatting what we parsed must give the same params back.
            let again = parse_pn_params(&format!("<sip:h{}>", format_pn_params(&p)));
            prop_assert_eq!(again, Ok(Some(p.clone())));
            let _ = pn_to_mpush(&p);
        }
    }

    #[test]
    fn pn_roundtrip(p in pn_params()) {
        let params = format_pn_params(&p);
        prop_assert_eq!(parse_pn_params(&format!("<sip:u@h:5060;transport=tls{params}>;expires=60")), Ok(Some(p.clone())));
        prop_assert_eq!(parse_pn_params(&format!("sip:u@h{params}")), Ok(Some(p)));
    }

    #[test]
    fn pn_mpush_mapping_roundtrip(b in binding()) {
        let p = mpush_to_pn(&b);
        // APNs pn-params lose an RFC 8599 Team ID prefix and `.voip` suffix.
        let package = if b.provider == Provider::Apns {
            apns_bundle_id(&b.package).to_string()
        } else {
            b.package.clone()
        };
        let expected = MpushBinding {
            env: PushEnv::Default,
            provider: if b.provider == Provider::IosFcm { Provider::AndroidFcm } else { b.provider },
            package,
            ..b
        };
        prop_assert_eq!(pn_to_mpush(&p), Ok(Mpush::Bind(expected)));
    }

    #[test]
    fn feature_caps_never_panics(s in fragments(&["*", ";", ",", "\"", "\\", "=", "+sip.pns", "+sip.pnsreg", "+sip.pnspurr", "fcm", "120", " "])) {
        if let Ok(c) = parse_feature_caps(&s) {
            prop_assert_eq!(parse_feature_caps(&c.header_value()), Ok(c));
        }
    }

    #[test]
    fn feature_caps_roundtrip(
        pns in proptest::collection::btree_set("[a-z0-9]{1,10}", 0..4),
        pnsreg in proptest::option::of(proptest::option::of(any::<u32>())),
        pnspurr in proptest::option::of(any::<String>()),
    ) {
        let c = FeatureCaps { pns: pns.into_iter().collect(), pnsreg, pnspurr };
        prop_assert_eq!(parse_feature_caps(&c.header_value()), Ok(c));
    }

    #[test]
    fn payload_text_never_panics(s in fragments(&["{", "}", "[", "]", ":", ",", "\"", "\"aps\"", "\"data\"", "\"ntype\"", "\"nfrom\"", "0", "1.5", "null", "true", "\\u0000"])) {
        let _ = parse_apns(&s);
        let _ = parse_webpush(&s);
        let _ = parse_push(&s);
    }

    #[test]
    fn payload_json_never_panics(v in json_value()) {
        let s = v.to_string();
        let _ = parse_apns(&s);
        let _ = parse_webpush(&s);
        let _ = parse_push(&s);
    }

    #[test]
    fn fcm_data_never_panics(m in proptest::collection::btree_map(
        prop_oneof![proptest::sample::select(&["ntype", "nfrom", "nmsg", "title"][..]).prop_map(str::to_string), any::<String>()],
        any::<String>(), 0..8)) {
        let _ = parse_fcm_data(&m);
    }

    #[test]
    fn fcm_data_fields_pass_through(from in any::<String>(), msg in any::<String>(), kind in kind()) {
        let m: BTreeMap<String, String> = [
            ("ntype".to_string(), kind.ntype().to_string()),
            ("nfrom".to_string(), from.clone()),
            ("nmsg".to_string(), msg.clone()),
        ].into();
        let n = parse_fcm_data(&m).unwrap();
        prop_assert_eq!((n.kind, n.from, n.msg), (kind, from, msg));
    }

    #[test]
    fn template_never_panics(t in fragments(&["{", "}", "\"", ":", ",", "TO", "TYPE", "FROM", "TTLNUM", "--EOF", "\\", "null", "1"])) {
        let _ = render(&t, &PushFields::default());
    }

    /// What the gateway renders, the app parses back to the same fields.
    #[test]
    fn render_then_parse(f in push_fields()) {
        let d = f.clone().with_defaults();
        let want = Notification {
            kind: d.kind,
            from: d.from.clone(),
            from_username: d.from_username.clone(),
            from_display: String::new(),
            msg: d.msg.clone(),
            call_id: d.call_id.clone(),
            to_user: d.to_username.clone(),
            title: d.title.clone(),
            body: d.body.clone(),
            sound: d.sound.clone(),
        };
        let apns = render_apns(&f).unwrap().to_string();
        prop_assert_eq!(parse_apns(&apns), Ok(want.clone()));
        prop_assert_eq!(parse_push(&apns), Ok(want.clone()));
        let fcm = render_fcm(&f, Target::FcmWeb, RemoveNotification::Keep).unwrap().to_string();
        // The web section carries no sound.
        prop_assert_eq!(parse_push(&fcm), Ok(Notification { sound: String::new(), ..want }));
    }
}

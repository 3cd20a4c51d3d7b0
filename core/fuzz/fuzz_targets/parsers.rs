//! Feeds arbitrary text to every parser: none may panic, and whatever parses
//! must format back to something that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipwake_core::*;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Mpush::Bind(b)) = parse_mpush(s) {
        assert_eq!(parse_mpush(&b.header_value()), Ok(Mpush::Bind(b.clone())));
        let _ = mpush_to_pn(&b);
    }
    if let Ok(Some(p)) = parse_pn_params(s) {
        let again = parse_pn_params(&format!("<sip:h{}>", format_pn_params(&p)));
        assert_eq!(again, Ok(Some(p.clone())));
        let _ = pn_to_mpush(&p);
    }
    if let Ok(c) = parse_feature_caps(s) {
        // Formatting re-escapes quotes, so a value accepted near the size
        // limit can format longer than the limit: then it must be refused
        // as too long, never misread. Within the limit it reads back equal.
        let text = c.header_value();
        if text.len() > feature_caps::MAX_FEATURE_CAPS_BYTES {
            assert_eq!(
                parse_feature_caps(&text),
                Err(FeatureCapsError::TooLong(text.len()))
            );
        } else {
            assert_eq!(parse_feature_caps(&text), Ok(c));
        }
    }
    let _ = parse_apns(s);
    let _ = parse_webpush(s);
    let _ = parse_push(s);
    let _ = verify_piid(s, "u", "r", "p");
    if let Ok(v) = render(s, &PushFields::default()) {
        // Rendered output is always valid JSON.
        let text = v.to_string();
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
    }
});

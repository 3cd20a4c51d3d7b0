//! The push fields of a held request.

use sipwake_core::payload::NotificationKind;
use sipwake_core::template::PushFields;
use sipwake_sip::Message;
use sipwake_store::Binding;

/// Chat text longer than this is cut (push payloads are limited to ~4 KB).
pub const MAX_CHAT_BYTES: usize = 2048;

/// The longest prefix of `s` of at most `max` bytes that ends on a char
/// boundary (never splits a UTF-8 sequence).
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The push fields for a held request: caller from From, callee from To,
/// the Call-ID, and for chats the text body.
pub fn fields_for(req: &Message, binding: &Binding, kind: NotificationKind) -> PushFields {
    let from = req.from().ok();
    let from_user = from
        .as_ref()
        .and_then(|f| f.uri.user)
        .unwrap_or("")
        .to_owned();
    let from_display = from
        .as_ref()
        .and_then(|f| f.display_unquoted())
        .unwrap_or("")
        .to_owned();
    let to_user = req
        .to()
        .ok()
        .and_then(|t| t.uri.user.map(str::to_owned))
        .unwrap_or_default();
    let mut f = PushFields {
        package: binding.push.package.clone(),
        token: binding.push.token.clone(),
        to: to_user.clone(),
        to_username: to_user,
        kind,
        from: if from_display.is_empty() {
            from_user.clone()
        } else {
            from_display.clone()
        },
        from_username: from_user,
        from_display,
        call_id: req.call_id().unwrap_or("").to_owned(),
        ..PushFields::default()
    };
    if kind == NotificationKind::Chat {
        let body = req.body();
        let text = String::from_utf8_lossy(&body);
        let text = truncate_utf8(&text, MAX_CHAT_BYTES).to_owned();
        f.msg = text.clone();
        f.message = text.clone();
        f.body = text;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_chars() {
        assert_eq!(truncate_utf8("abc", 10), "abc");
        // "é" is two bytes: cutting at 2 would split it.
        assert_eq!(truncate_utf8("aé", 2), "a");
        let long = "ж".repeat(2000);
        let t = truncate_utf8(&long, MAX_CHAT_BYTES);
        assert_eq!(t.len(), MAX_CHAT_BYTES);
        assert!(t.chars().all(|c| c == 'ж'));
    }
}

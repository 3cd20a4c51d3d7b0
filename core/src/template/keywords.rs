//! Keyword substitution. Keywords are matched case-sensitively, longest
//! first at each position (so `TOUSERNAME` beats `TO`, `MESSAGE` beats
//! `MSG`'s neighbours, `NPRIORITY` beats `PRIORITY`), anywhere inside a
//! string (`"PACKAGE.voip"`, `"TTLNUMs"`). Substituted text is never scanned
//! again, so a value that looks like a keyword stays as it is.

use serde_json::Value;

use super::{PushFields, TemplateError};

/// Every keyword, longest first (the matching order).
pub const KEYWORDS: [&str; 19] = [
    "FROMDISPLAYNAME",
    "FROMUSERNAME",
    "TOUSERNAME",
    "NPRIORITY",
    "APRIORITY",
    "PRIORITY",
    "PUSHTYPE",
    "PACKAGE",
    "MESSAGE",
    "CALLID",
    "TTLNUM",
    "TOKEN",
    "SOUND",
    "TITLE",
    "FROM",
    "TYPE",
    "BODY",
    "MSG",
    "TO",
];

enum Val<'a> {
    Str(&'a str),
    Num(i64),
}

fn value<'a>(kw: &str, f: &'a PushFields) -> Val<'a> {
    match kw {
        "FROMDISPLAYNAME" => Val::Str(&f.from_display),
        "FROMUSERNAME" => Val::Str(&f.from_username),
        "TOUSERNAME" => Val::Str(&f.to_username),
        "NPRIORITY" => Val::Str(&f.npriority),
        "APRIORITY" => Val::Num(i64::from(f.apriority)),
        "PRIORITY" => Val::Str(&f.priority),
        "PUSHTYPE" => Val::Str(&f.push_type),
        "PACKAGE" => Val::Str(&f.package),
        "MESSAGE" => Val::Str(&f.message),
        "CALLID" => Val::Str(&f.call_id),
        "TTLNUM" => Val::Num(i64::from(f.ttl)),
        "TOKEN" => Val::Str(&f.token),
        "SOUND" => Val::Str(&f.sound),
        "TITLE" => Val::Str(&f.title),
        "FROM" => Val::Str(&f.from),
        "TYPE" => Val::Num(f.kind.ntype()),
        "BODY" => Val::Str(&f.body),
        "MSG" => Val::Str(&f.msg),
        "TO" => Val::Str(&f.to),
        // KEYWORDS and this match list the same names.
        _ => Val::Str(""),
    }
}

/// Outside string literals, turn a bare keyword token into a JSON literal:
/// TYPE, APRIORITY and TTLNUM become numbers, the others the quoted keyword
/// (substituted later with the string values).
/// Other text is copied unchanged (the JSON parser judges it afterwards).
pub(super) fn replace_bare(src: &str, f: &PushFields) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(src.len() + 64);
    let mut chars = src.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            // Copy the string literal verbatim, escapes included.
            out.push(c);
            let mut escaped = false;
            for (_, c) in chars.by_ref() {
                out.push(c);
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    _ => {}
                }
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &src[i..end];
            if KEYWORDS.contains(&word) {
                match value(word, f) {
                    Val::Num(n) => out.push_str(&n.to_string()),
                    // Quote the keyword itself: the string pass then replaces
                    // it exactly once, so the value is never scanned again.
                    Val::Str(_) => {
                        out.push('"');
                        out.push_str(word);
                        out.push('"');
                    }
                }
            } else {
                out.push_str(word);
            }
        } else {
            out.push(c);
        }
        if out.len() > super::MAX_RENDERED_BYTES {
            return Err(TemplateError::RenderedTooLarge);
        }
    }
    Ok(out)
}

/// Replace keywords inside every string value (not object keys).
pub(super) fn replace_in_strings(
    v: &mut Value,
    f: &PushFields,
    budget: &mut usize,
) -> Result<(), TemplateError> {
    match v {
        Value::String(s) => {
            let new = substitute(s, f);
            *budget = budget
                .checked_sub(new.len())
                .ok_or(TemplateError::RenderedTooLarge)?;
            *s = new;
        }
        Value::Array(a) => {
            for x in a {
                replace_in_strings(x, f, budget)?;
            }
        }
        Value::Object(o) => {
            for (_, x) in o.iter_mut() {
                replace_in_strings(x, f, budget)?;
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

fn substitute(s: &str, f: &PushFields) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let kw = if c.is_ascii_uppercase() {
            KEYWORDS.iter().find(|k| rest.starts_with(**k))
        } else {
            None
        };
        match kw {
            Some(k) => {
                match value(k, f) {
                    Val::Str(v) => out.push_str(v),
                    Val::Num(n) => out.push_str(&n.to_string()),
                }
                rest = &rest[k.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::NotificationKind;

    #[test]
    fn longest_first_and_no_rescan() {
        let f = PushFields {
            to: "t".into(),
            to_username: "tu".into(),
            from: "TOKEN".into(),
            token: "tok".into(),
            ttl: 30,
            kind: NotificationKind::Chat,
            ..Default::default()
        };
        assert_eq!(
            substitute("TOUSERNAME|TO|TOKEN|FROM|TTLNUMs|TYPE|xTOy", &f),
            "tu|t|tok|TOKEN|30s|1|xty"
        );
        assert_eq!(substitute("émoji TO 📞", &f), "émoji t 📞");
    }

    #[test]
    fn bare_keywords() {
        let f = PushFields {
            from: "a\"b".into(),
            apriority: 10,
            ..Default::default()
        };
        let s = replace_bare(
            r#"{"x": TYPE, "y": APRIORITY, "z": FROM, "s": "TYPE \" FROM", "n": null}"#,
            &f,
        )
        .unwrap();
        assert_eq!(
            s,
            r#"{"x": 0, "y": 10, "z": "FROM", "s": "TYPE \" FROM", "n": null}"#
        );
    }

    #[test]
    fn keyword_list_is_longest_first() {
        assert!(KEYWORDS.windows(2).all(|w| w[0].len() >= w[1].len()));
    }
}

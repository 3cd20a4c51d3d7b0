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

/// Marks a bare numeric keyword in the parsed tree: the string
/// `MARK + "TYPE"` becomes the number at render time. U+FDD0 is a Unicode
/// noncharacter; templates containing it are rejected, so every mark in a
/// parsed tree is ours.
pub(super) const MARK: char = '\u{FDD0}';

/// Whether the template text contains the mark, raw or as a JSON escape.
pub(super) fn contains_mark(src: &str) -> bool {
    src.contains(MARK) || src.to_ascii_lowercase().contains("\\ufdd0")
}

/// Outside string literals, turn a bare keyword token into a JSON string:
/// the marked keyword for TYPE, APRIORITY and TTLNUM (numbers at render
/// time), the plain quoted keyword for the others (substituted like any
/// string). Other text is copied unchanged for the JSON parser to judge.
pub(super) fn quote_bare(src: &str) -> String {
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
                out.push('"');
                if is_numeric(word) {
                    out.push(MARK);
                }
                out.push_str(word);
                out.push('"');
            } else {
                out.push_str(word);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn is_numeric(kw: &str) -> bool {
    matches!(kw, "TYPE" | "APRIORITY" | "TTLNUM")
}

/// A copy of the parsed template with every keyword replaced: marked bare
/// keywords become numbers, keywords inside string values (not object keys)
/// are substituted. `budget` bounds the total size of the strings produced.
pub(super) fn render_tree(
    v: &Value,
    f: &PushFields,
    budget: &mut usize,
) -> Result<Value, TemplateError> {
    Ok(match v {
        Value::String(s) => {
            if let Some(kw) = s.strip_prefix(MARK) {
                match value(kw, f) {
                    Val::Num(n) => Value::from(n),
                    Val::Str(x) => Value::String(x.to_string()),
                }
            } else {
                let new = substitute(s, f);
                *budget = budget
                    .checked_sub(new.len())
                    .ok_or(TemplateError::RenderedTooLarge)?;
                Value::String(new)
            }
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| render_tree(x, f, budget))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), render_tree(x, f, budget)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        Value::Null | Value::Bool(_) | Value::Number(_) => v.clone(),
    })
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
        let s =
            quote_bare(r#"{"x": TYPE, "y": APRIORITY, "z": FROM, "s": "TYPE \" FROM", "n": null}"#);
        assert_eq!(
            s,
            "{\"x\": \"\u{FDD0}TYPE\", \"y\": \"\u{FDD0}APRIORITY\", \"z\": \"FROM\", \"s\": \"TYPE \\\" FROM\", \"n\": null}"
        );
        assert!(contains_mark("\"\\uFDD0\""));
        assert!(contains_mark("\u{FDD0}"));
        assert!(!contains_mark("\"\\uFDD1\""));
    }

    #[test]
    fn keyword_list_is_longest_first() {
        assert!(KEYWORDS.windows(2).all(|w| w[0].len() >= w[1].len()));
    }
}

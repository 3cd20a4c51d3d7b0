//! Small SIP helpers shared by `pn` and `feature_caps`: %-escaping of URI
//! parameter values (RFC 3261 `paramchar`) and splitting `;name=value` lists.

/// Why a %-escaped value could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

/// Decode `%XX` escapes. `+` stays `+` (SIP is not form encoding).
pub(crate) fn percent_decode(s: &str) -> Result<String, DecodeError> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = b.get(i + 1).and_then(|c| hex_val(*c));
            let lo = b.get(i + 2).and_then(|c| hex_val(*c));
            match (hi, lo) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => return Err(DecodeError::BadEscape),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

/// Escape everything that is not an RFC 3261 `paramchar`
/// (unreserved / param-unreserved), so the value survives any SIP parser.
pub(crate) fn percent_encode_param(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if is_paramchar(c) {
            out.push(c as char);
        } else {
            out.push('%');
            out.push(HEX[(c >> 4) as usize] as char);
            out.push(HEX[(c & 15) as usize] as char);
        }
    }
    out
}

fn is_paramchar(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            // mark
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            // param-unreserved
            | b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$'
        )
}

/// `s` without a case-insensitive ASCII `prefix`. Uses `get` so a multi-byte
/// character straddling the prefix length cannot cause a slicing panic.
pub(crate) fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    match s.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => s.get(prefix.len()..),
        _ => None,
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_errors() {
        let raw = "a b;c=d%\"é\u{1F600}:/+";
        let enc = percent_encode_param(raw);
        assert_eq!(enc, "a%20b%3Bc%3Dd%25%22%C3%A9%F0%9F%98%80:/+");
        assert_eq!(percent_decode(&enc).as_deref(), Ok(raw));
        assert_eq!(percent_decode("%4"), Err(DecodeError::BadEscape));
        assert_eq!(percent_decode("%zz"), Err(DecodeError::BadEscape));
        assert_eq!(percent_decode("%ff"), Err(DecodeError::NotUtf8));
        assert_eq!(percent_decode("%41%2b").as_deref(), Ok("A+"));
        assert_eq!(strip_prefix_ci("Contact: x", "contact:"), Some(" x"));
        assert_eq!(strip_prefix_ci("0 0🌀ῖ", "contact:"), None);
    }
}

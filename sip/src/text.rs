//! Small lexical helpers shared by the typed decoders (RFC 3261 §25.1).
//! Line breaks inside folded values are treated as whitespace, so decoders
//! work on the raw (unfolded-in-place) value without allocating.

/// SP, HTAB, CR or LF: linear white space once folding is accounted for.
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub(crate) fn trim_lws(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_lws(c as u8))
}

/// RFC 3261 `token` characters.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Index just past the closing quote of a quoted string starting at `start`
/// (which must be `"`), honouring `\` escapes. `None` if unterminated.
pub(crate) fn skip_quoted(s: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Splits a list header value at top-level commas (outside quotes and `<>`).
/// Items are trimmed; empty items are yielded too so validation can see them.
/// An unterminated quote or `<` makes the rest one item.
pub struct ListIter<'a> {
    rest: Option<&'a str>,
}

impl<'a> ListIter<'a> {
    pub fn new(s: &'a str) -> Self {
        Self { rest: Some(s) }
    }
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        let b = s.as_bytes();
        let mut i = 0;
        let mut in_angle = false;
        while i < b.len() {
            match b[i] {
                b'"' => match skip_quoted(b, i) {
                    Some(j) => {
                        i = j;
                        continue;
                    }
                    None => break,
                },
                b'<' => in_angle = true,
                b'>' => in_angle = false,
                b',' if !in_angle => {
                    self.rest = Some(&s[i + 1..]);
                    return Some(trim_lws(&s[..i]));
                }
                _ => {}
            }
            i += 1;
        }
        self.rest = None;
        Some(trim_lws(s))
    }
}

/// One `;name[=value]` parameter. `value` keeps quotes if it was quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
}

impl<'a> Param<'a> {
    /// The value without surrounding quotes (escapes are left as written).
    pub fn unquoted(&self) -> Option<&'a str> {
        self.value.map(unquote)
    }
}

/// Strips one level of surrounding double quotes, if present.
pub fn unquote(s: &str) -> &str {
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// Iterates `;`-separated parameters of a string that starts at the first
/// `;` (or is empty). Yields `Err(())` once on a malformed parameter
/// (empty name, unterminated quote) and stops.
#[derive(Clone)]
pub struct ParamIter<'a> {
    rest: &'a str,
    failed: bool,
}

impl<'a> ParamIter<'a> {
    pub fn new(params: &'a str) -> Self {
        Self {
            rest: params,
            failed: false,
        }
    }
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Result<Param<'a>, ()>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let s = trim_lws(self.rest);
        if s.is_empty() {
            return None;
        }
        let Some(s) = s.strip_prefix(';') else {
            self.failed = true;
            return Some(Err(()));
        };
        let b = s.as_bytes();
        let mut i = 0;
        let mut eq = None;
        while i < b.len() {
            match b[i] {
                b'"' => match skip_quoted(b, i) {
                    Some(j) => {
                        i = j;
                        continue;
                    }
                    None => {
                        self.failed = true;
                        return Some(Err(()));
                    }
                },
                b'=' if eq.is_none() => eq = Some(i),
                b';' => break,
                _ => {}
            }
            i += 1;
        }
        let item = &s[..i];
        self.rest = &s[i..];
        let (name, value) = match eq {
            Some(e) => (trim_lws(&item[..e]), Some(trim_lws(&item[e + 1..]))),
            None => (trim_lws(item), None),
        };
        if name.is_empty() || name.bytes().any(is_lws) || value == Some("") {
            self.failed = true;
            return Some(Err(()));
        }
        Some(Ok(Param { name, value }))
    }
}

/// Looks up a parameter by case-insensitive name: `Some(None)` for a
/// valueless parameter such as `lr`, `None` if absent or malformed.
pub fn find_param<'a>(params: &'a str, name: &str) -> Option<Option<&'a str>> {
    ParamIter::new(params)
        .map_while(Result::ok)
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.value)
}

/// True when every parameter is well formed.
pub(crate) fn params_ok(params: &str) -> bool {
    ParamIter::new(params).all(|p| p.is_ok())
}

/// Decodes `%HH` escapes. Returns bytes because escapes may produce NUL or
/// non-UTF-8 octets (RFC 4475 escnull); invalid escapes are kept literally.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parses a decimal number of at most `u64` range; `None` on non-digits.
/// Overflow saturates, so callers can apply their own range rule.
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        v = v.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_split_respects_quotes_and_angles() {
        let v: Vec<_> =
            ListIter::new(r#""a, b" <sip:x@y;p=1,2>;q=1 , <sip:z>,"c\"," <sip:w>"#).collect();
        assert_eq!(
            v,
            vec![
                r#""a, b" <sip:x@y;p=1,2>;q=1"#,
                "<sip:z>",
                r#""c\"," <sip:w>"#
            ]
        );
        let v: Vec<_> = ListIter::new("a,,b,").collect();
        assert_eq!(v, vec!["a", "", "b", ""]);
    }

    #[test]
    fn params() {
        let p: Vec<_> = ParamIter::new(";lr;transport=tcp ; x=\"a;b\"").collect();
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[2],
            Ok(Param {
                name: "x",
                value: Some("\"a;b\"")
            })
        );
        assert_eq!(find_param(";lr;transport=tcp", "LR"), Some(None));
        assert_eq!(
            find_param(";lr;transport=tcp", "transport"),
            Some(Some("tcp"))
        );
        assert!(!params_ok(";;"));
        assert!(!params_ok(";a=\"x"));
        assert!(!params_ok(";a="));
        assert!(params_ok(""));
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode("a%20b%zz%4"), b"a b%zz%4".to_vec());
        assert_eq!(percent_decode("%00"), vec![0]);
    }

    #[test]
    fn decimal() {
        assert_eq!(parse_decimal("42"), Some(42));
        assert_eq!(parse_decimal("-1"), None);
        assert_eq!(parse_decimal("99999999999999999999999"), Some(u64::MAX));
    }
}

//! The transports' side of framing. Cutting messages out of streams is
//! `sipwake_sip::StreamFramer`'s job; here are the cheap checks a transport
//! makes before handing bytes on, without a full parse (the proxy parses once).

use sipwake_sip::framing::{Frame, StreamFramer};

use super::Limits;

/// A stream framer with the configured size limit (a header section may use
/// all of it).
pub(crate) fn stream_framer(limits: &Limits) -> StreamFramer {
    StreamFramer::with_limits(limits.max_message_bytes, limits.max_message_bytes)
}

/// What one datagram or WebSocket frame carries.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Datagram {
    /// A CRLFCRLF keep-alive ping: answer CRLF where the transport can.
    Ping,
    /// Nothing to do: a CRLF pong, whitespace, or non-SIP noise (e.g. STUN).
    Ignore,
    /// Looks like SIP: deliver.
    Sip,
}

/// Classify a datagram / WS frame without parsing it.
pub(crate) fn classify_datagram(data: &[u8]) -> Datagram {
    match sipwake_sip::framing::keepalive(data) {
        Some(Frame::Ping) => return Datagram::Ping,
        Some(_) => return Datagram::Ignore,
        None => {}
    }
    // A SIP start line begins with a method token (any RFC 3261 token
    // character, e.g. RFC 4475 intmeth's "!interesting-Method") or "SIP/".
    // STUN (RFC 5389) starts with 0x00/0x01.
    let first = data.iter().find(|b| !matches!(b, b'\r' | b'\n'));
    match first {
        Some(&b) if is_token_char(b) => Datagram::Sip,
        _ => Datagram::Ignore,
    }
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// End of the header section (offset of the empty line), if present.
fn head(data: &[u8]) -> &[u8] {
    let mut i = 0;
    while let Some(p) = data[i..].iter().position(|&b| b == b'\n') {
        let nl = i + p;
        match data.get(nl + 1) {
            Some(b'\n') => return &data[..nl + 1],
            Some(b'\r') if data.get(nl + 2) == Some(&b'\n') => return &data[..nl + 1],
            _ => i = nl + 1,
        }
    }
    data
}

/// Number of header lines (folded continuation lines included) after the
/// start line: a cheap upper bound of the header count for `max_headers`.
pub(crate) fn header_lines(data: &[u8]) -> usize {
    let start = data
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    let h = head(&data[start..]);
    // Lines = newlines in the head; the start line's newline is not a header.
    h.iter().filter(|&&b| b == b'\n').count().saturating_sub(1)
}

/// The Call-ID value, for log lines only (full or compact `i` name).
pub(crate) fn call_id(data: &[u8]) -> Option<String> {
    let h = head(data);
    h.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i") {
            // Call-IDs are tokens; anything else is escaped by the logger.
            Some(String::from_utf8_lossy(line[colon + 1..].trim_ascii()).into_owned())
        } else {
            None
        }
    })
}

/// Checks every transport applies to a framed message.
pub(crate) fn check(data: &[u8], limits: &Limits) -> Result<(), String> {
    if data.len() > limits.max_message_bytes {
        return Err(format!(
            "message of {} bytes exceeds max_message_bytes {}",
            data.len(),
            limits.max_message_bytes
        ));
    }
    let lines = header_lines(data);
    if lines > limits.max_headers {
        return Err(format!(
            "{lines} header lines exceed max_headers {}",
            limits.max_headers
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const REG: &[u8] = b"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\ni: abc@h\r\nTo: <sip:a@x>\r\n Folded\r\nContent-Length: 3\r\n\r\na\nb";

    #[test]
    fn counts_header_lines_not_body_lines() {
        assert_eq!(header_lines(REG), 5);
        assert_eq!(header_lines(b"\r\nOPTIONS sip:x SIP/2.0\n\n"), 0);
        assert_eq!(
            header_lines(b"OPTIONS sip:x SIP/2.0\nA: 1\nB: 2\n\nC: 3\n"),
            2
        );
        assert_eq!(header_lines(b""), 0);
    }

    #[test]
    fn finds_call_id_in_both_forms() {
        assert_eq!(call_id(REG).as_deref(), Some("abc@h"));
        assert_eq!(
            call_id(b"BYE sip:x SIP/2.0\r\nCall-ID:  z9 \r\n\r\n").as_deref(),
            Some("z9")
        );
        assert_eq!(call_id(b"BYE sip:x SIP/2.0\r\n\r\nCall-ID: body\r\n"), None);
    }

    #[test]
    fn classifies_datagrams() {
        assert_eq!(classify_datagram(b"\r\n\r\n"), Datagram::Ping);
        assert_eq!(classify_datagram(b"\r\n"), Datagram::Ignore);
        assert_eq!(classify_datagram(&[0, 1, 0, 0]), Datagram::Ignore);
        assert_eq!(classify_datagram(b""), Datagram::Ignore);
        assert_eq!(classify_datagram(REG), Datagram::Sip);
        assert_eq!(
            classify_datagram(b"!odd-Method sip:x SIP/2.0\r\n\r\n"),
            Datagram::Sip
        );
        assert_eq!(classify_datagram(b" OPTIONS"), Datagram::Ignore);
    }

    #[test]
    fn limits_apply() {
        let mut c = Config::default();
        c.sip.max_headers = 4;
        c.sip.max_message_bytes = 1024;
        let limits = Limits::from_config(&c);
        assert!(check(REG, &limits).unwrap_err().contains("max_headers"));
        c.sip.max_headers = 5;
        let limits = Limits::from_config(&c);
        assert!(check(REG, &limits).is_ok());
        let big = vec![b'a'; 1025];
        assert!(
            check(&big, &limits)
                .unwrap_err()
                .contains("max_message_bytes")
        );
    }
}

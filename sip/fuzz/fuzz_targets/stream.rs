//! Stream framing: feeding the same bytes whole or in two pieces yields
//! the same frames (or the same fatal error), and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipwake_sip::{Frame, FramingError, StreamFramer};

fn frames(parts: &[&[u8]]) -> (Vec<Frame>, Option<FramingError>) {
    let mut f = StreamFramer::new();
    let mut out = Vec::new();
    for p in parts {
        f.push(p);
        loop {
            match f.next_frame() {
                Ok(Some(fr)) => out.push(fr),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let cut = usize::from(data[0]) % data.len();
    let body = &data[1..];
    let cut = cut.min(body.len());
    let whole = frames(&[body]);
    let split = frames(&[&body[..cut], &body[cut..]]);
    // A trailing lone CRLF is held until more bytes arrive in both cases.
    if whole.1.is_none() && split.1.is_none() {
        assert_eq!(whole.0, split.0);
    }
});

//! Merged-request detection for one registration (RFC 3261 §8.2.2.2, done
//! at the edge on the device's behalf). After an app comes back from a new
//! address its old Contact can stay at the upstream until it expires; both
//! Contacts carry the same Path token, so the upstream forks one INVITE
//! into two branches that both lead to the same device. The first is
//! forwarded; a second copy (same token, Call-ID, From tag and CSeq, other
//! branch) gets 482 instead of ringing the device twice.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use sipwake_sip::Message;
use tokio::time::Instant;

/// How long a request is remembered: timer B/F (64·T1), the longest a
/// fork of it can still arrive.
pub const MEMORY: Duration = Duration::from_secs(32);

/// Bound on remembered requests; older ones are dropped first.
const MAX_ENTRIES: usize = 50_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    token: String,
    call_id: String,
    from_tag: String,
    cseq: u32,
    method: String,
}

#[derive(Default)]
pub struct MergedRequests {
    seen: Mutex<HashMap<Key, (String, Instant)>>,
}

impl MergedRequests {
    /// Whether `req` (top Via branch `branch`), routed to the registration
    /// behind Path `token`, is a second copy of a request already on its
    /// way there. The first copy is remembered; retransmissions (same
    /// branch) are not copies.
    pub fn is_merged(&self, token: &str, req: &Message, now: Instant) -> bool {
        let (Ok(call_id), Ok(from), Ok(cseq), Some(method)) =
            (req.call_id(), req.from(), req.cseq(), req.method())
        else {
            return false;
        };
        let branch = req
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_owned))
            .unwrap_or_default();
        let key = Key {
            token: token.to_owned(),
            call_id: call_id.to_owned(),
            from_tag: from.tag().unwrap_or("").to_owned(),
            cseq: cseq.seq,
            method: method.to_owned(),
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((first, at)) = seen.get(&key)
            && now.duration_since(*at) < MEMORY
        {
            return *first != branch;
        }
        if seen.len() >= MAX_ENTRIES {
            seen.retain(|_, (_, at)| now.duration_since(*at) < MEMORY);
            if seen.len() >= MAX_ENTRIES {
                // Still full of live entries: forget the oldest half rather
                // than grow without bound.
                let mut ages: Vec<Instant> = seen.values().map(|(_, at)| *at).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                seen.retain(|_, (_, at)| *at > cut);
            }
        }
        seen.insert(key, (branch, now));
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn invite(branch: &str, ruri: &str, cseq: u32) -> Message {
        Message::parse(Bytes::from(format!(
            "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP up;branch={branch}\r\nFrom: <sip:bob@x>;tag=f1\r\nTo: <sip:alice@x>\r\nCall-ID: c1\r\nCSeq: {cseq} INVITE\r\nContent-Length: 0\r\n\r\n"
        )))
        .unwrap()
    }

    #[test]
    fn a_second_fork_to_the_same_registration_is_merged() {
        let m = MergedRequests::default();
        let t0 = Instant::now();
        assert!(!m.is_merged("tok", &invite("z9hG4bK1", "sip:a@old", 1), t0));
        // Retransmission of the first copy: not a copy.
        assert!(!m.is_merged("tok", &invite("z9hG4bK1", "sip:a@old", 1), t0));
        // The fork to the app's other Contact, same registration: merged.
        assert!(m.is_merged("tok", &invite("z9hG4bK2", "sip:a@new", 1), t0));
        // Another registration (device) of the user: its own request.
        assert!(!m.is_merged("tok2", &invite("z9hG4bK3", "sip:a@new", 1), t0));
        // A new transaction (CSeq 2) is not a copy.
        assert!(!m.is_merged("tok", &invite("z9hG4bK4", "sip:a@new", 2), t0));
        // Long after: remembered no more.
        let later = t0 + MEMORY + Duration::from_secs(1);
        assert!(!m.is_merged("tok", &invite("z9hG4bK5", "sip:a@new", 1), later));
    }

    #[test]
    fn stays_bounded() {
        let m = MergedRequests::default();
        let t0 = Instant::now();
        for i in 0..(MAX_ENTRIES as u32 + 10) {
            let r = invite(&format!("z9hG4bK{i}"), "sip:a@x", i);
            assert!(!m.is_merged("tok", &r, t0 + Duration::from_micros(u64::from(i))));
        }
        assert!(m.seen.lock().unwrap().len() <= MAX_ENTRIES);
    }
}

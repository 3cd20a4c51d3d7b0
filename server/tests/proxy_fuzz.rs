//! Mutated RFC 4475 messages (deterministic pseudo-random byte edits) into
//! the proxy core: nothing may panic, and it must still route afterwards.

mod proxy_support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use proxy_support::*;
use sipwake::net::{Destination, TransportKind};

/// xorshift64: reproducible without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\r\n",
    b":",
    b";",
    b",",
    b"<",
    b">",
    b"\"",
    b" ",
    b"z9hG4bK",
    b"sip:",
    b"swf",
    b"swr",
    b"0",
    b"\xc3\xa9",
    b"\x00",
];

fn mutate(rng: &mut Rng, mut m: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(4) {
        if m.is_empty() {
            m.extend_from_slice(b"INVITE");
        }
        let at = rng.below(m.len());
        match rng.below(4) {
            0 => m[at] = rng.next() as u8,
            1 => {
                let end = (at + rng.below(16)).min(m.len());
                m.drain(at..end);
            }
            2 => {
                let ins = INTERESTING[rng.below(INTERESTING.len())];
                m.splice(at..at, ins.iter().copied());
            }
            _ => m.truncate(at.max(1)),
        }
    }
    m
}

#[tokio::test(start_paused = true)]
async fn mutated_torture_messages_never_break_the_proxy() {
    // Panics inside spawned tasks do not fail a test by themselves: count them.
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default(info);
    }));
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sip-torture");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "dat"))
        .collect();
    files.sort();
    assert!(files.len() >= 49);
    for kind in [TransportKind::Udp, TransportKind::Ws] {
        let mut h = Harness::upstream("sip:127.0.0.9:5070", true, &["127.0.0.8"]);
        let src = h.flow(kind, "127.0.0.2:5070");
        let up = h.flow(TransportKind::Udp, "127.0.0.9:5070");
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for f in &files {
            let original = std::fs::read(f).unwrap();
            for i in 0..40 {
                let m = mutate(&mut rng, original.clone());
                // Half from a client, half as if from the upstream.
                let from = if i % 2 == 0 { src } else { up };
                h.inject_raw(from, Bytes::from(m)).await;
            }
        }
        // Whatever was sent, the core still works: a fresh REGISTER is forwarded.
        h.drain(Duration::from_secs(300)).await;
        let reg = request(
            "REGISTER",
            "sip:example.com",
            "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKalive",
            "<sip:z@example.com>;tag=1",
            "<sip:z@example.com>",
            "alive",
            1,
            "Contact: <sip:z@127.0.0.2:5070>\n",
        );
        h.inject(src, &reg).await;
        let fwd = h.next().await;
        assert_eq!(
            fwd.dest,
            Destination::Addr {
                kind: TransportKind::Udp,
                addr: addr("127.0.0.9:5070")
            }
        );
    }
}

//! Bounded load through the proxy core (in-memory network, real time):
//! every transaction completes and the transaction tables drain afterwards.

mod proxy_support;

use std::time::{Duration, Instant};

use proxy_support::*;
use sipwake::net::{Destination, TransportKind};

const N: usize = 2000;

#[tokio::test]
async fn thousands_of_transactions_complete_and_leave_no_state() {
    let mut h = Harness::standalone();
    let a = h.flow(TransportKind::Tcp, "127.0.0.2:40000");
    let b = h.flow(TransportKind::Tcp, "127.0.0.3:40000");
    let reg = request(
        "REGISTER",
        "sip:127.0.0.1",
        "SIP/2.0/TCP 127.0.0.3:40000;branch=z9hG4bKlr",
        "<sip:bob@127.0.0.1>;tag=r",
        "<sip:bob@127.0.0.1>",
        "lr",
        1,
        "Contact: <sip:bob@127.0.0.3:40000;transport=tcp>\n",
    );
    h.inject(b, &reg).await;
    assert_eq!(h.next().await.status(), Some(200));

    let start = Instant::now();
    for i in 0..N {
        let m = request(
            "MESSAGE",
            "sip:bob@127.0.0.1",
            &format!("SIP/2.0/TCP 127.0.0.2:40000;branch=z9hG4bKl{i}"),
            "<sip:alice@127.0.0.1>;tag=a",
            "<sip:bob@127.0.0.1>",
            &format!("load-{i}"),
            1,
            "",
        );
        h.inject(a, &m).await;
    }
    let mut answered = 0;
    let mut forwarded = 0;
    while answered < N {
        let s = h.next().await;
        if s.dest == Destination::Flow(b) {
            forwarded += 1;
            h.inject(b, &reply(&s.msg, 200, "OK", Some("b"), "")).await;
        } else {
            assert_eq!(s.status(), Some(200));
            answered += 1;
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(forwarded, N);
    println!(
        "{N} MESSAGE transactions through the proxy core in {elapsed:?} ({:.0}/s, debug build)",
        N as f64 / elapsed.as_secs_f64()
    );
    // Reliable transports: timers J and K are zero, so state goes at once.
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.proxy.transaction_counts() != (0, 0) {
        assert!(
            Instant::now() < deadline,
            "transactions left: {:?}",
            h.proxy.transaction_counts()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

//! RFC 4475 torture messages (tests/fixtures/sip-torture) through the
//! standalone proxy over UDP: each must be forwarded, answered or dropped
//! as MANIFEST.tsv says — and never crash anything.

mod proxy_support;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use proxy_support::*;
use sipwake::net::{Destination, FlowId, TransportKind};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// A request went to the registered user's flow.
    Forwarded,
    /// The sender got a final response with this code.
    Answered(u16),
    Dropped,
}
use Outcome::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sip-torture")
}

async fn outcome(file: &str) -> Outcome {
    let mut h = Harness::standalone();
    let target = h.flow(TransportKind::Udp, "127.0.0.3:5062");
    // "user" (the Request-URI user of most torture requests) is registered,
    // so valid requests are forwarded and proxy-only checks (483, 420) apply.
    for (i, user) in ["user", "vivekg", "t.watson", "kumiko", "j.user"]
        .iter()
        .enumerate()
    {
        let reg = request(
            "REGISTER",
            "sip:127.0.0.1",
            &format!("SIP/2.0/UDP 127.0.0.3:5062;branch=z9hG4bKreg{i}"),
            &format!("<sip:{user}@example.com>;tag=r"),
            &format!("<sip:{user}@example.com>"),
            &format!("reg{i}"),
            1,
            &format!("Contact: <sip:{user}@127.0.0.3:5062>\n"),
        );
        h.inject(target, &reg).await;
        assert_eq!(h.next().await.status(), Some(200));
    }
    let src: FlowId = h.flow(TransportKind::Udp, "127.0.0.2:5070");
    let bytes = std::fs::read(fixtures().join(file)).unwrap();
    h.inject_raw(src, Bytes::from(bytes)).await;
    // Enough for one exchange; less than a retransmission interval.
    let sent = h.drain(Duration::from_millis(100)).await;
    if sent
        .iter()
        .any(|s| s.dest == Destination::Flow(target) && s.msg.is_request())
    {
        return Forwarded;
    }
    match sent
        .iter()
        .filter(|s| s.dest == Destination::Flow(src))
        .filter_map(|s| s.status())
        .find(|c| *c >= 200)
    {
        Some(c) => Answered(c),
        None => Dropped,
    }
}

/// What the MANIFEST asks of a proxy, per file.
fn expected(file: &str) -> &'static [Outcome] {
    match file {
        // valid: forwarded to a known user, 404 for URIs we do not serve.
        "lwsdisp.dat" | "longreq.dat" | "transports.dat" => &[Forwarded],
        "esc01.dat" | "intmeth.dat" | "esc02.dat" | "semiuri.dat" => &[Forwarded, Answered(404)],
        // Valid, but preloaded with a Route to another proxy: standalone
        // mode does not relay (403).
        "wsinv.dat" | "mpart01.dat" => &[Forwarded, Answered(403)],
        // REGISTERs the registrar accepts.
        "escnull.dat" | "dblreq.dat" | "cparam01.dat" | "cparam02.dat" | "regescrt.dat"
        | "regaut01.dat" => &[Answered(200)],
        // Responses: nothing to match, silently dropped.
        "unreason.dat" | "noreason.dat" | "scalarlg.dat" | "bigcode.dat" | "bcast.dat" => {
            &[Dropped]
        }
        "badinv01.dat" | "clerr.dat" | "ncl.dat" | "scalar02.dat" | "quotbal.dat"
        | "ltgtruri.dat" | "lwsruri.dat" | "lwsstart.dat" | "trws.dat" | "escruri.dat"
        | "regbadct.dat" | "badaspec.dat" | "baddn.dat" | "mismatch01.dat" | "multi01.dat"
        | "mcl01.dat" | "insuf.dat" | "unksm2.dat" => &[Answered(400)],
        "badvers.dat" => &[Answered(505)],
        "mismatch02.dat" => &[Answered(400), Answered(501)],
        // Bad Date is irrelevant to a proxy: forwarded (or 400).
        "baddate.dat" => &[Forwarded, Answered(400)],
        "badbranch.dat" => &[Forwarded, Answered(400)],
        "unkscm.dat" => &[Answered(416)],
        "novelsc.dat" => &[Answered(416), Answered(404)],
        "bext01.dat" => &[Answered(420)],
        "invut.dat" | "sdp01.dat" => &[Forwarded],
        "inv2543.dat" => &[Forwarded, Answered(404)],
        "zeromf.dat" => &[Answered(483)],
        other => panic!("{other} is not in the expectation table"),
    }
}

#[tokio::test(start_paused = true)]
async fn every_torture_file_is_handled_as_the_manifest_says() {
    let manifest = std::fs::read_to_string(fixtures().join("MANIFEST.tsv")).unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for line in manifest.lines().skip(1) {
        let Some(file) = line.split('\t').next().filter(|f| f.ends_with(".dat")) else {
            continue;
        };
        n += 1;
        let got = outcome(file).await;
        if !expected(file).contains(&got) {
            failures.push(format!(
                "{file}: got {got:?}, want one of {:?}",
                expected(file)
            ));
        }
    }
    assert!(n >= 49, "manifest lists {n} files");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

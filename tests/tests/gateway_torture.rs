//! RFC 4475 torture messages: every file over UDP and over TCP to the gateway
//! (upstream mode, silent loopback upstream). One test per file and transport
//! judges the reaction against the rule designed from MANIFEST.tsv
//! (`sipwake_e2e::torture::RULES`); one test sends all 49 to a single gateway
//! and checks it is still alive and routing afterwards.

use sipwake_e2e::torture;

async fn case(file: &str, transport: &str) {
    let (sink, mut gw) = torture::setup().await.unwrap();
    let outcome = torture::send_file(&gw, &sink, file, transport)
        .await
        .unwrap();
    if let Err(why) = torture::judge(file, transport, &outcome) {
        panic!("{why}\n{}", gw.failure("log"));
    }
    torture::assert_alive(&mut gw, &sink, transport)
        .await
        .unwrap();
}

macro_rules! torture_tests {
    ($($name:ident => $file:literal, udp[$(#[$um:meta])*], tcp[$(#[$tm:meta])*], ws[$(#[$wm:meta])*];)*) => {
        mod udp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$um])*
                async fn $name() { super::case($file, "udp").await }
            )*
        }
        mod tcp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$tm])*
                async fn $name() { super::case($file, "tcp").await }
            )*
        }
        /// WebSocket frames carry one message each, so the datagram rules apply.
        mod ws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$wm])*
                async fn $name() { super::case($file, "ws").await }
            )*
        }
        /// The macro list and the manifest must agree.
        #[test]
        fn list_covers_manifest() {
            let mut listed = vec![$($file),*];
            listed.sort_unstable();
            let mut files = torture::manifest_files().unwrap();
            files.sort();
            assert_eq!(listed, files);
        }
    };
}

// Per file: extra attributes for the UDP, TCP and WebSocket tests (e.g.
// `#[ignore = "why"]` for a known gateway failure).
torture_tests! {
    wsinv => "wsinv.dat", udp[], tcp[], ws[];
    intmeth => "intmeth.dat", udp[], tcp[], ws[];
    esc01 => "esc01.dat", udp[], tcp[], ws[];
    escnull => "escnull.dat", udp[], tcp[], ws[];
    esc02 => "esc02.dat", udp[], tcp[], ws[];
    lwsdisp => "lwsdisp.dat", udp[], tcp[], ws[];
    longreq => "longreq.dat", udp[], tcp[], ws[];
    dblreq => "dblreq.dat", udp[], tcp[], ws[];
    semiuri => "semiuri.dat", udp[], tcp[], ws[];
    transports => "transports.dat", udp[], tcp[], ws[];
    mpart01 => "mpart01.dat", udp[], tcp[], ws[];
    unreason => "unreason.dat", udp[], tcp[], ws[];
    noreason => "noreason.dat", udp[], tcp[], ws[];
    badinv01 => "badinv01.dat", udp[], tcp[], ws[];
    clerr => "clerr.dat", udp[], tcp[], ws[];
    ncl => "ncl.dat", udp[], tcp[], ws[];
    scalar02 => "scalar02.dat", udp[], tcp[], ws[];
    scalarlg => "scalarlg.dat", udp[], tcp[], ws[];
    quotbal => "quotbal.dat", udp[], tcp[], ws[];
    ltgtruri => "ltgtruri.dat", udp[], tcp[], ws[];
    lwsruri => "lwsruri.dat", udp[], tcp[], ws[];
    lwsstart => "lwsstart.dat", udp[], tcp[], ws[];
    trws => "trws.dat", udp[], tcp[], ws[];
    escruri => "escruri.dat", udp[], tcp[], ws[];
    baddate => "baddate.dat", udp[], tcp[], ws[];
    regbadct => "regbadct.dat", udp[], tcp[], ws[];
    badaspec => "badaspec.dat", udp[], tcp[], ws[];
    baddn => "baddn.dat", udp[], tcp[], ws[];
    badvers => "badvers.dat", udp[], tcp[], ws[];
    mismatch01 => "mismatch01.dat", udp[], tcp[], ws[];
    mismatch02 => "mismatch02.dat", udp[], tcp[], ws[];
    bigcode => "bigcode.dat", udp[], tcp[], ws[];
    badbranch => "badbranch.dat", udp[], tcp[], ws[];
    insuf => "insuf.dat", udp[], tcp[], ws[];
    unkscm => "unkscm.dat", udp[], tcp[], ws[];
    novelsc => "novelsc.dat", udp[], tcp[], ws[];
    unksm2 => "unksm2.dat", udp[], tcp[], ws[];
    bext01 => "bext01.dat", udp[], tcp[], ws[];
    invut => "invut.dat", udp[], tcp[], ws[];
    regaut01 => "regaut01.dat", udp[], tcp[], ws[];
    multi01 => "multi01.dat", udp[], tcp[], ws[];
    mcl01 => "mcl01.dat", udp[], tcp[], ws[];
    bcast => "bcast.dat", udp[], tcp[], ws[];
    zeromf => "zeromf.dat", udp[], tcp[], ws[];
    cparam01 => "cparam01.dat", udp[], tcp[], ws[];
    cparam02 => "cparam02.dat", udp[], tcp[], ws[];
    regescrt => "regescrt.dat", udp[], tcp[], ws[];
    sdp01 => "sdp01.dat", udp[], tcp[], ws[];
    inv2543 => "inv2543.dat", udp[], tcp[], ws[];
}

/// All 49 files, over UDP then TCP, into one gateway: it must survive them all
/// (still alive, /healthz ok, an OPTIONS still handled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_survives_all_49_over_udp_and_tcp() {
    let (sink, mut gw) = torture::setup().await.unwrap();
    for transport in ["udp", "tcp"] {
        for file in torture::manifest_files().unwrap() {
            torture::send_file(&gw, &sink, &file, transport)
                .await
                .unwrap();
            if let Err(e) = gw.check_alive() {
                panic!("gateway died after {file} over {transport}: {e}");
            }
        }
        torture::assert_alive(&mut gw, &sink, transport)
            .await
            .unwrap();
    }
}

/// The same 49 messages over WebSocket (one message per frame, a fresh
/// connection each): the gateway survives and still routes afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_survives_all_49_over_websocket() {
    let (sink, mut gw) = torture::setup().await.unwrap();
    for file in torture::manifest_files().unwrap() {
        torture::send_file(&gw, &sink, &file, "ws").await.unwrap();
        if let Err(e) = gw.check_alive() {
            panic!("gateway died after {file} over ws: {e}");
        }
    }
    torture::assert_alive(&mut gw, &sink, "ws").await.unwrap();
}

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
    ($($name:ident => $file:literal, udp[$(#[$um:meta])*], tcp[$(#[$tm:meta])*];)*) => {
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

// Per file: extra attributes for the UDP and the TCP test (known gateway
// failures are ignored with the reason; see the lead's report).
torture_tests! {
    wsinv => "wsinv.dat", udp[], tcp[];
    intmeth => "intmeth.dat", udp[#[ignore = "gateway drops intmeth.dat over UDP silently (no log line, no answer, not forwarded; over TCP it is forwarded)"]], tcp[];
    esc01 => "esc01.dat", udp[], tcp[];
    escnull => "escnull.dat", udp[], tcp[];
    esc02 => "esc02.dat", udp[], tcp[];
    lwsdisp => "lwsdisp.dat", udp[], tcp[];
    longreq => "longreq.dat", udp[], tcp[];
    dblreq => "dblreq.dat", udp[], tcp[#[ignore = "gateway closes the TCP connection on the trailing unframeable INVITE and drops the complete REGISTER before it (not forwarded)"]];
    semiuri => "semiuri.dat", udp[], tcp[];
    transports => "transports.dat", udp[], tcp[];
    mpart01 => "mpart01.dat", udp[], tcp[];
    unreason => "unreason.dat", udp[], tcp[];
    noreason => "noreason.dat", udp[], tcp[];
    badinv01 => "badinv01.dat", udp[], tcp[];
    clerr => "clerr.dat", udp[], tcp[];
    ncl => "ncl.dat", udp[], tcp[];
    scalar02 => "scalar02.dat", udp[], tcp[];
    scalarlg => "scalarlg.dat", udp[], tcp[];
    quotbal => "quotbal.dat", udp[], tcp[];
    ltgtruri => "ltgtruri.dat", udp[], tcp[];
    lwsruri => "lwsruri.dat", udp[], tcp[];
    lwsstart => "lwsstart.dat", udp[], tcp[];
    trws => "trws.dat", udp[], tcp[];
    escruri => "escruri.dat", udp[], tcp[];
    baddate => "baddate.dat", udp[], tcp[];
    regbadct => "regbadct.dat", udp[], tcp[];
    badaspec => "badaspec.dat", udp[], tcp[];
    baddn => "baddn.dat", udp[], tcp[];
    badvers => "badvers.dat", udp[], tcp[];
    mismatch01 => "mismatch01.dat", udp[], tcp[];
    mismatch02 => "mismatch02.dat", udp[], tcp[];
    bigcode => "bigcode.dat", udp[], tcp[];
    badbranch => "badbranch.dat", udp[], tcp[];
    insuf => "insuf.dat", udp[], tcp[];
    unkscm => "unkscm.dat", udp[], tcp[];
    novelsc => "novelsc.dat", udp[], tcp[];
    unksm2 => "unksm2.dat", udp[], tcp[];
    bext01 => "bext01.dat", udp[], tcp[];
    invut => "invut.dat", udp[], tcp[];
    regaut01 => "regaut01.dat", udp[], tcp[];
    multi01 => "multi01.dat", udp[], tcp[];
    mcl01 => "mcl01.dat", udp[], tcp[];
    bcast => "bcast.dat", udp[], tcp[];
    zeromf => "zeromf.dat", udp[], tcp[];
    cparam01 => "cparam01.dat", udp[], tcp[];
    cparam02 => "cparam02.dat", udp[], tcp[];
    regescrt => "regescrt.dat", udp[], tcp[];
    sdp01 => "sdp01.dat", udp[], tcp[];
    inv2543 => "inv2543.dat", udp[], tcp[];
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

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
    ($($name:ident => $file:literal),* $(,)?) => {
        mod udp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "gateway SIP core not wired yet: server pending_proxy drops every SIP message"]
                async fn $name() { super::case($file, "udp").await }
            )*
        }
        mod tcp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "gateway SIP core not wired yet: server pending_proxy drops every SIP message"]
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

torture_tests! {
    wsinv => "wsinv.dat",
    intmeth => "intmeth.dat",
    esc01 => "esc01.dat",
    escnull => "escnull.dat",
    esc02 => "esc02.dat",
    lwsdisp => "lwsdisp.dat",
    longreq => "longreq.dat",
    dblreq => "dblreq.dat",
    semiuri => "semiuri.dat",
    transports => "transports.dat",
    mpart01 => "mpart01.dat",
    unreason => "unreason.dat",
    noreason => "noreason.dat",
    badinv01 => "badinv01.dat",
    clerr => "clerr.dat",
    ncl => "ncl.dat",
    scalar02 => "scalar02.dat",
    scalarlg => "scalarlg.dat",
    quotbal => "quotbal.dat",
    ltgtruri => "ltgtruri.dat",
    lwsruri => "lwsruri.dat",
    lwsstart => "lwsstart.dat",
    trws => "trws.dat",
    escruri => "escruri.dat",
    baddate => "baddate.dat",
    regbadct => "regbadct.dat",
    badaspec => "badaspec.dat",
    baddn => "baddn.dat",
    badvers => "badvers.dat",
    mismatch01 => "mismatch01.dat",
    mismatch02 => "mismatch02.dat",
    bigcode => "bigcode.dat",
    badbranch => "badbranch.dat",
    insuf => "insuf.dat",
    unkscm => "unkscm.dat",
    novelsc => "novelsc.dat",
    unksm2 => "unksm2.dat",
    bext01 => "bext01.dat",
    invut => "invut.dat",
    regaut01 => "regaut01.dat",
    multi01 => "multi01.dat",
    mcl01 => "mcl01.dat",
    bcast => "bcast.dat",
    zeromf => "zeromf.dat",
    cparam01 => "cparam01.dat",
    cparam02 => "cparam02.dat",
    regescrt => "regescrt.dat",
    sdp01 => "sdp01.dat",
    inv2543 => "inv2543.dat",
}

/// All 49 files, over UDP then TCP, into one gateway: it must survive them all
/// (still alive, /healthz ok, an OPTIONS still handled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "gateway SIP core not wired yet: server pending_proxy drops every SIP message"]
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

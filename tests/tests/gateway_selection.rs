//! Upstream choices documented in docs/sip-routing.md, against real Kamailio:
//! Contact rewriting instead of Path, and client selection of the upstream
//! (`X-Sy.Uppersrv`) limited to the `allow` list — never an open relay.

use std::time::Duration;

use sipwake_e2e::client::SipClient;
use sipwake_e2e::gateway::{Gateway, Mode};
use sipwake_e2e::kamailio::Kamailio;
use sipwake_e2e::sink::Sink;
use sipwake_e2e::sipp::Sipp;
use sipwake_e2e::{REALM, password};

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// `contact_mode = "rewrite"`: the upstream stores the gateway's URI as the
/// Contact, the client still sees its own Contact in the 200, and calls from
/// the upstream reach the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_rewrite_mode_routes_calls_to_the_client() {
    let (k, gw) = blocking(|| {
        let k = Kamailio::start().unwrap();
        let mode = Mode::UpstreamWith(k.uri("udp"), "contact_mode = \"rewrite\"".into());
        let gw = Gateway::start(mode).unwrap();
        (k, gw)
    })
    .await;
    let mut bob = SipClient::udp(gw.sip_addr(), "bob", REALM).await.unwrap();
    let ok = bob.register(password("bob"), 600, &[]).await.unwrap();
    assert_eq!(ok.status(), Some(200), "{ok:?}\n{}", gw.failure("log"));
    let own = format!("@{}", bob.local);
    assert!(
        ok.header_all("Contact").iter().any(|c| c.contains(&own)),
        "200 must show the client's own Contact ({own}): {ok:?}"
    );
    let kaddr = k.addr();
    let caller = tokio::task::spawn_blocking(move || {
        Sipp::uac("uac_call", kaddr)
            .user("alice", password("alice"))
            .callee("bob")
            .run()
    });
    let invite = bob
        .answer_call()
        .await
        .map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    caller
        .await
        .unwrap()
        .map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    assert!(
        invite.start.contains(&own),
        "R-URI must be rewritten back to the client's Contact: {}",
        invite.start
    );
}

/// `client_selection = true`: `X-Sy.Uppersrv` naming an allowed server sends
/// the registration there (calls from that server reach the client, the
/// default server does not know the binding); naming an unlisted server is
/// refused with 403 and nothing is sent to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_selected_upstream_must_be_allowed() {
    let sink = Sink::start().await.unwrap();
    let (k1, k2, gw) = blocking(|| {
        let k1 = Kamailio::start().unwrap();
        let k2 = Kamailio::start().unwrap();
        let extra = format!(
            "client_selection = true\nallow = [\"127.0.0.1:{}\"]",
            k2.port
        );
        let gw = Gateway::start(Mode::UpstreamWith(k1.uri("udp"), extra)).unwrap();
        (k1, k2, gw)
    })
    .await;

    // Not on the allow list: refused, never relayed.
    let mut eve = SipClient::udp(gw.sip_addr(), "alice", REALM).await.unwrap();
    let evil = [format!("X-Sy.Uppersrv: 127.0.0.1:{}", sink.port)];
    let refused = eve.register(password("alice"), 600, &evil).await.unwrap();
    assert_eq!(refused.status(), Some(403), "{refused:?}");
    assert_eq!(
        sink.count(),
        0,
        "the gateway relayed to a server not on the allow list"
    );

    // Allowed: the registration lands at k2.
    let mut bob = SipClient::udp(gw.sip_addr(), "bob", REALM).await.unwrap();
    let pick = [format!("X-Sy.Uppersrv: 127.0.0.1:{}", k2.port)];
    let ok = bob.register(password("bob"), 600, &pick).await.unwrap();
    assert_eq!(ok.status(), Some(200), "{ok:?}\n{}", gw.failure("log"));

    let k2addr = k2.addr();
    let caller = tokio::task::spawn_blocking(move || {
        Sipp::uac("uac_call", k2addr)
            .user("alice", password("alice"))
            .callee("bob")
            .run()
    });
    bob.answer_call()
        .await
        .map_err(|e| format!("{e}\n{}", gw.failure("log")))
        .unwrap();
    caller.await.unwrap().unwrap();

    // The default upstream has no binding for bob: 480 there.
    let mut carol = SipClient::udp(k1.addr(), "carol", REALM).await.unwrap();
    carol.password = Some(password("carol").to_string());
    let ct = ["Content-Type: text/plain".to_string()];
    let resp = carol
        .send_request("MESSAGE", "bob", &ct, "k1?")
        .await
        .unwrap();
    assert_eq!(resp.status(), Some(480), "{resp:?}");
    assert!(
        bob.recv_none(Duration::from_millis(300))
            .await
            .unwrap()
            .is_none()
    );
}

//! The upstream registration keeper over the in-memory network, in virtual
//! time: when it refreshes, what its REGISTER says, the digest answer, the
//! app pushing the refresh back, regrefresh pushes, failure policies, API
//! removal and the startup restore.

mod proxy_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proxy_support::*;
use sipwake::bindings::{CaptureOptions, PushBindings};
use sipwake::bindings::{PushFuture, PushSender, PushStatus};
use sipwake::config::PushPolicy;
use sipwake::keeper::Keeper;
use sipwake::net::{Destination, FlowId, TransportKind};
use sipwake_core::mpush::{Provider, PushEnv};
use sipwake_core::payload::NotificationKind;
use sipwake_core::template::PushFields;
use sipwake_sip::digest::{self, Credentials};
use sipwake_sip::{Contacts, Message};
use sipwake_store::{Binding, BindingSource, BindingStore, Piid, PiidCipher, PushTarget};
use sipwake_store::{SqliteStore, Upstream};
use tokio::time::Instant;

const UPSTREAM: &str = "127.0.0.9:5070";
const INST: &str = "urn:uuid:00000000-0000-0000-0000-0000000000a1";
const PASSWORD: &str = "alice-secret";

#[derive(Default)]
struct FakePush {
    sent: Mutex<Vec<(String, PushFields)>>,
}

impl PushSender for FakePush {
    fn push<'a>(&'a self, b: &'a Binding, fields: PushFields) -> PushFuture<'a> {
        Box::pin(async move {
            self.sent.lock().unwrap().push((b.device.clone(), fields));
            PushStatus::Sent
        })
    }
}

struct Env {
    h: Harness,
    store: Arc<SqliteStore>,
    push: Arc<FakePush>,
    keeper: Arc<Keeper>,
}

fn ha1() -> String {
    digest::ha1("alice", "example.com", PASSWORD)
}

fn start_with_store(policy: PushPolicy, store: Arc<SqliteStore>) -> Env {
    let bindings = Arc::new(PushBindings {
        store: store.clone(),
        options: CaptureOptions {
            supported: vec![Provider::AndroidFcm],
            ..CaptureOptions::default()
        },
        policy,
        max_devices: 0,
    });
    let push = Arc::new(FakePush::default());
    let h = Harness::build(
        Harness::upstream_config(UPSTREAM, false, &[]),
        Some(bindings.clone()),
        Some(push.clone()),
    );
    let keeper = Keeper::start(h.proxy.clone(), bindings, push.clone(), None);
    keeper.start_rebuild();
    Env {
        h,
        store,
        push,
        keeper,
    }
}

fn start(policy: PushPolicy) -> Env {
    start_with_store(
        policy,
        Arc::new(SqliteStore::in_memory(PiidCipher::new([5; 32])).unwrap()),
    )
}

fn policy() -> PushPolicy {
    PushPolicy {
        upperexpire: -1,
        ..PushPolicy::default()
    }
}

fn app_register(cseq: u32, with_piid: bool) -> String {
    let piid = if with_piid {
        format!("X-PIID: {}\n", ha1())
    } else {
        String::new()
    };
    request(
        "REGISTER",
        "sip:example.com",
        &format!("SIP/2.0/TCP 127.0.0.2:40001;branch=z9hG4bKar{cseq}"),
        "<sip:alice@example.com>;tag=ra",
        "<sip:alice@example.com>",
        "reg-alice",
        cseq,
        &format!(
            "Contact: <sip:alice@127.0.0.2:40001;transport=tcp>;+sip.instance=\"<{INST}>\"\nExpires: 60\n\
             X-MPUSH: a:com.example.app:tok-a\n{piid}"
        ),
    )
}

fn ok_with_expires(req: &Message, expires: u32) -> String {
    reply(
        req,
        200,
        "OK",
        Some("u1"),
        &format!("Contact: <sip:alice@127.0.0.2:40001;transport=tcp>;expires={expires}\n"),
    )
}

/// The app registers (200 from the upstream, 60 s); returns its flow and
/// the Path the upstream got.
async fn app_registered(e: &mut Env, cseq: u32, with_piid: bool) -> (FlowId, String) {
    let a = e.h.flow(TransportKind::Tcp, "127.0.0.2:40001");
    e.h.inject(a, &app_register(cseq, with_piid)).await;
    let fwd = e.h.next().await;
    let path = fwd.msg.header("Path").unwrap().to_owned();
    e.h.inject(fwd.flow, &ok_with_expires(&fwd.msg, 60)).await;
    let ok = e.h.next().await;
    assert_eq!(ok.status(), Some(200));
    (a, path)
}

fn stat(e: &Env, name: &str) -> u64 {
    e.keeper.stats_json()[name].as_u64().unwrap()
}

/// Waits (virtual time) for a condition the keeper's tasks make true.
async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn sleeping_app_is_refreshed_before_expiry_with_a_digest_answer() {
    let mut e = start(policy());
    let (a, path) = app_registered(&mut e, 1, true).await;
    e.h.net.close(a);
    let t0 = Instant::now();

    // 60 s granted → the keeper refreshes at 54 s.
    let reg = e.h.next().await;
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(53) && waited <= Duration::from_secs(55),
        "{waited:?}"
    );
    let m = &reg.msg;
    assert_eq!(m.method(), Some("REGISTER"));
    assert_eq!(
        reg.dest,
        Destination::Addr {
            kind: TransportKind::Udp,
            addr: addr(UPSTREAM)
        }
    );
    assert_eq!(m.request_uri(), Some("sip:example.com"));
    assert_eq!(m.header("Path"), Some(path.as_str()), "same Path token");
    assert_eq!(
        m.expires().unwrap(),
        Some(60),
        "upperexpire -1: what the app got"
    );
    assert!(m.call_id().unwrap().starts_with("kp-"));
    assert!(m.from().unwrap().tag().is_some());
    assert_eq!(m.to().unwrap().uri.raw, "sip:alice@example.com");
    let Contacts::List(c) = m.contacts().unwrap() else {
        panic!("no contact")
    };
    assert_eq!(c[0].uri.raw, "sip:alice@127.0.0.2:40001;transport=tcp");
    assert_eq!(c[0].sip_instance(), Some(INST));
    assert!(m.header("Authorization").is_none());
    let first_cseq = m.cseq().unwrap().seq;

    // Challenge with qop=auth: answered once from the HA1.
    let www = "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n1\", qop=\"auth\", algorithm=MD5\n";
    e.h.inject(reg.flow, &reply(m, 401, "Unauthorized", Some("u1"), www))
        .await;
    let authed = e.h.next().await;
    let am = &authed.msg;
    assert_eq!(am.call_id().unwrap(), m.call_id().unwrap());
    assert_eq!(am.cseq().unwrap().seq, first_cseq + 1);
    let creds = Credentials::parse(am.header("Authorization").unwrap()).unwrap();
    assert_eq!(creds.username, "alice");
    assert_eq!(creds.nc.as_deref(), Some("00000001"));
    assert!(creds.cnonce.as_deref().is_some_and(|c| !c.is_empty()));
    assert!(digest::verify(&creds, &ha1(), "REGISTER"));
    e.h.inject(authed.flow, &ok_with_expires(am, 30)).await;
    until("refresh counted", || stat(&e, "refreshes_ok") == 1).await;
    assert_eq!(stat(&e, "auth_answered"), 1);
    let b = e
        .store
        .get("sip:alice@example.com", &format!("instance:{INST}"))
        .unwrap()
        .unwrap();
    assert!(b.upstream_expires_at.is_some(), "expiry stored");

    // Next round per the granted 30 s: 5 s before expiry, same Call-ID,
    // higher CSeq.
    let t1 = Instant::now();
    let again = e.h.next().await;
    let waited = t1.elapsed();
    assert!(
        waited >= Duration::from_secs(24) && waited <= Duration::from_secs(26),
        "{waited:?}"
    );
    assert_eq!(again.msg.call_id().unwrap(), m.call_id().unwrap());
    assert_eq!(again.msg.cseq().unwrap().seq, first_cseq + 2);
    assert_eq!(again.msg.expires().unwrap(), Some(30));
    e.h.inject(again.flow, &ok_with_expires(&again.msg, 30))
        .await;
    until("second refresh", || stat(&e, "refreshes_ok") == 2).await;
    assert_eq!(stat(&e, "kept"), 1);
    assert!(e.push.sent.lock().unwrap().is_empty(), "no pushes");
}

#[tokio::test(start_paused = true)]
async fn an_app_that_refreshes_itself_pushes_the_keeper_back() {
    let mut e = start(policy());
    let (_a, _) = app_registered(&mut e, 1, true).await;
    tokio::time::sleep(Duration::from_secs(40)).await;
    // The app refreshes at 40 s: the keeper's 54 s slot moves to 94 s.
    let _ = app_registered(&mut e, 2, true).await;
    let t = Instant::now();
    let reg = e.h.next().await;
    assert!(t.elapsed() >= Duration::from_secs(53), "{:?}", t.elapsed());
    assert!(reg.msg.call_id().unwrap().starts_with("kp-"));
}

#[tokio::test(start_paused = true)]
async fn upstream_rejection_removes_the_binding() {
    let mut e = start(policy());
    let (a, path) = app_registered(&mut e, 1, true).await;
    e.h.net.close(a);
    let reg = e.h.next().await;
    e.h.inject(reg.flow, &reply(&reg.msg, 403, "Forbidden", Some("u1"), ""))
        .await;
    until("removal", || stat(&e, "removed") == 1).await;
    assert!(e.store.user("sip:alice@example.com").unwrap().is_empty());
    assert_eq!(stat(&e, "kept"), 0);
    // Requests through the old Path now get 404 from us.
    let up = reg.flow;
    let invite = request(
        "INVITE",
        "sip:alice@127.0.0.2:40001;transport=tcp",
        "SIP/2.0/UDP 127.0.0.9:5070;branch=z9hG4bKinv1",
        "<sip:bob@example.com>;tag=b",
        "<sip:alice@example.com>",
        "call-x",
        1,
        &format!("Route: {path}\n"),
    );
    e.h.inject(up, &invite).await;
    let mut r = e.h.next().await;
    while r.status().is_some_and(|c| c < 200) {
        r = e.h.next().await;
    }
    assert_eq!(r.status(), Some(404));
}

#[tokio::test(start_paused = true)]
async fn wrong_credentials_remove_the_binding_but_timeouts_only_retry() {
    let mut e = start(policy());
    let (a, _) = app_registered(&mut e, 1, true).await;
    e.h.net.close(a);
    // No answer at all: timer F, then a retry 30 s later (removeon_regfail 1).
    let first = e.h.next().await;
    let sends = e.h.drain(Duration::from_secs(40)).await;
    assert!(
        sends.iter().all(|s| s.msg.raw() == first.msg.raw()),
        "only retransmissions of the same REGISTER"
    );
    assert_eq!(stat(&e, "refreshes_failed"), 1);
    assert_eq!(e.store.user("sip:alice@example.com").unwrap().len(), 1);
    let retry = e.h.next().await;
    assert_ne!(retry.msg.cseq().unwrap().seq, first.msg.cseq().unwrap().seq);
    // Challenged again after our answer: the credentials are wrong.
    let www = "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n2\"\n";
    e.h.inject(
        retry.flow,
        &reply(&retry.msg, 401, "Unauthorized", Some("u"), www),
    )
    .await;
    let authed = e.h.next().await;
    assert!(authed.msg.header("Authorization").is_some());
    e.h.inject(
        authed.flow,
        &reply(&authed.msg, 401, "Unauthorized", Some("u"), www),
    )
    .await;
    until("removal", || stat(&e, "removed") == 1).await;
    assert!(e.store.user("sip:alice@example.com").unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn without_piid_the_app_gets_a_register_refresh_push() {
    let mut e = start(PushPolicy {
        regrefresh: 2,
        ..policy()
    });
    let (a, _) = app_registered(&mut e, 1, false).await;
    e.h.net.close(a);
    until("ntype 4 push", || !e.push.sent.lock().unwrap().is_empty()).await;
    let sent = e.push.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, format!("instance:{INST}"));
    assert_eq!(sent[0].1.kind, NotificationKind::RegisterRefresh);
    assert_eq!(sent[0].1.token, "tok-a");
    assert_eq!(stat(&e, "regrefresh_pushes"), 1);
    // The app never comes back: regrefresh 2 removes the binding after the
    // expiry (+ grace). No REGISTER was sent by the keeper.
    until("removal", || stat(&e, "removed") == 1).await;
    assert!(e.store.user("sip:alice@example.com").unwrap().is_empty());
    e.h.quiet(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn prefermd5xauth_0_leaves_authentication_to_the_app() {
    // The app sent X-PIID, but the operator wants challenges answered by
    // the app only: it is kept like an app without credentials (ntype 4).
    let mut e = start(PushPolicy {
        prefermd5xauth: 0,
        ..policy()
    });
    let (a, _) = app_registered(&mut e, 1, true).await;
    e.h.net.close(a);
    until("ntype 4 push", || !e.push.sent.lock().unwrap().is_empty()).await;
    let sent = e.push.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.kind, NotificationKind::RegisterRefresh);
    assert_eq!(stat(&e, "regrefresh_pushes"), 1);
    assert_eq!(stat(&e, "auth_answered"), 0);
    // The X-PIID stays stored: turning the option back on uses it again.
    let stored = e.store.user("sip:alice@example.com").unwrap();
    assert!(stored[0].piid.is_some());
    e.h.quiet(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn api_removal_unregisters_upstream_with_credentials() {
    let mut e = start(policy());
    let (a, path) = app_registered(&mut e, 1, true).await;
    e.h.net.close(a);
    // One refresh first (accepted without a challenge).
    let refresh = e.h.next().await;
    e.h.inject(refresh.flow, &ok_with_expires(&refresh.msg, 60))
        .await;
    until("refresh", || stat(&e, "refreshes_ok") == 1).await;
    assert_eq!(stat(&e, "kept"), 1);
    let removed = e.store.remove_user("sip:alice@example.com").unwrap();
    let keeper = e.keeper.clone();
    let task = tokio::spawn(async move { keeper.user_removed(&removed).await });
    let unreg = e.h.next().await;
    assert_eq!(unreg.msg.expires().unwrap(), Some(0));
    // The registration's own dialog: same Call-ID, next CSeq.
    assert_eq!(unreg.msg.call_id().unwrap(), refresh.msg.call_id().unwrap());
    assert_eq!(
        unreg.msg.cseq().unwrap().seq,
        refresh.msg.cseq().unwrap().seq + 1
    );
    assert_eq!(unreg.msg.header("Path"), Some(path.as_str()));
    let www = "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n3\"\n";
    e.h.inject(
        unreg.flow,
        &reply(&unreg.msg, 401, "Unauthorized", Some("u"), www),
    )
    .await;
    let authed = e.h.next().await;
    assert_eq!(authed.msg.expires().unwrap(), Some(0));
    let creds = Credentials::parse(authed.msg.header("Authorization").unwrap()).unwrap();
    assert!(digest::verify(&creds, &ha1(), "REGISTER"));
    e.h.inject(authed.flow, &reply(&authed.msg, 200, "OK", Some("u"), ""))
        .await;
    task.await.unwrap();
    assert_eq!(stat(&e, "unregistered"), 1);
    assert_eq!(stat(&e, "kept"), 0);
    // Nothing more: the 54 s refresh was cancelled.
    e.h.quiet(Duration::from_secs(120)).await;
}

fn stored_alice() -> Binding {
    Binding {
        aor: "sip:alice@example.com".into(),
        device: format!("instance:{INST}"),
        push: PushTarget {
            provider: Provider::AndroidFcm,
            env: PushEnv::Default,
            package: "com.example.app".into(),
            token: "tok-a".into(),
        },
        source: BindingSource::Mpush,
        contact: "sip:alice@127.0.0.2:40001;transport=tcp".into(),
        auth_user: Some("alice".into()),
        piid: Some(Piid::new(ha1())),
        upstream: Upstream::default(),
        user_agent: None,
        created_at: 1,
        last_seen: sipwake::util::unix_now(),
        upstream_expires_at: None,
        app_expires: None,
        push_failures: 0,
    }
}

fn token_of(path: &str) -> String {
    path.trim_start_matches("<sip:")
        .split('@')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test(start_paused = true)]
async fn startup_restores_the_path_registration_and_registers_at_once() {
    let store = Arc::new(SqliteStore::in_memory(PiidCipher::new([5; 32])).unwrap());
    store.upsert(&stored_alice()).unwrap();
    let mut e = start_with_store(PushPolicy::default(), store);
    let reg = e.h.next().await;
    assert_eq!(reg.msg.method(), Some("REGISTER"));
    assert_eq!(
        reg.msg.expires().unwrap(),
        Some(3600),
        "upperexpire default"
    );
    let token = token_of(reg.msg.header("Path").unwrap());
    let restored =
        e.h.proxy
            .paths()
            .get(&token)
            .expect("Path registration restored");
    assert_eq!(restored.contact, "sip:alice@127.0.0.2:40001;transport=tcp");
    assert_eq!(stat(&e, "restored"), 1);
    e.h.inject(reg.flow, &ok_with_expires(&reg.msg, 3600)).await;
    until("refresh", || stat(&e, "refreshes_ok") == 1).await;
}

#[tokio::test(start_paused = true)]
async fn upperexpire_minus_1_asks_the_apps_interval_after_a_restart() {
    // The app asked for 300 s before the restart: the stored binding keeps
    // it, and the rebuilt registration asks for 300 again, not a default.
    let store = Arc::new(SqliteStore::in_memory(PiidCipher::new([5; 32])).unwrap());
    store
        .upsert(&Binding {
            app_expires: Some(300),
            ..stored_alice()
        })
        .unwrap();
    let mut e = start_with_store(policy(), store);
    let reg = e.h.next().await;
    assert_eq!(reg.msg.method(), Some("REGISTER"));
    assert_eq!(reg.msg.expires().unwrap(), Some(300));
    e.h.inject(reg.flow, &ok_with_expires(&reg.msg, 300)).await;
    until("refresh", || stat(&e, "refreshes_ok") == 1).await;
}

#[tokio::test(start_paused = true)]
async fn persists_0_restores_routing_only_and_the_scan_picks_up_new_bindings() {
    // persists = 0: the Path registration comes back (calls get a push,
    // not 404), but the gateway registers nothing by itself.
    let store = Arc::new(SqliteStore::in_memory(PiidCipher::new([5; 32])).unwrap());
    store.upsert(&stored_alice()).unwrap();
    let mut e = start_with_store(
        PushPolicy {
            persists: 0,
            ..PushPolicy::default()
        },
        store,
    );
    until("restore", || stat(&e, "restored") == 1).await;
    e.h.quiet(Duration::from_secs(4000)).await;
    assert_eq!(stat(&e, "kept"), 0);

    // rebuildregclients: a binding the keeper has not seen (no REGISTER
    // event) is registered at the next scan.
    let mut e = start(PushPolicy {
        rebuildregclients: 100,
        ..PushPolicy::default()
    });
    let t0 = Instant::now();
    // After the startup pass (which found nothing).
    tokio::time::sleep(Duration::from_secs(1)).await;
    e.store.upsert(&stored_alice()).unwrap();
    let reg = e.h.next().await;
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(99) && waited <= Duration::from_secs(101),
        "{waited:?}"
    );
    assert_eq!(reg.msg.method(), Some("REGISTER"));
    assert!(
        e.h.proxy
            .paths()
            .get(&token_of(reg.msg.header("Path").unwrap()))
            .is_some()
    );
}

#[tokio::test(start_paused = true)]
async fn keepupperreg_2_registers_without_credentials_until_challenged() {
    let mut e = start(PushPolicy {
        keepupperreg: 2,
        ..policy()
    });
    let (a, _) = app_registered(&mut e, 1, false).await;
    e.h.net.close(a);
    // No X-PIID: still registered, without credentials.
    let reg = e.h.next().await;
    assert_eq!(reg.msg.method(), Some("REGISTER"));
    e.h.inject(reg.flow, &ok_with_expires(&reg.msg, 60)).await;
    until("refresh", || stat(&e, "refreshes_ok") == 1).await;
    assert!(e.push.sent.lock().unwrap().is_empty(), "no ntype 4 push");
    // A challenge cannot be answered: a failed refresh, binding removed.
    let reg = e.h.next().await;
    let www = "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n9\"\n";
    e.h.inject(
        reg.flow,
        &reply(&reg.msg, 401, "Unauthorized", Some("u"), www),
    )
    .await;
    until("removal", || stat(&e, "removed") == 1).await;
    assert_eq!(stat(&e, "auth_answered"), 0);
    assert!(e.store.user("sip:alice@example.com").unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn api_removal_does_not_wait_for_a_silent_upstream() {
    let mut e = start(policy());
    let (a, _) = app_registered(&mut e, 1, true).await;
    e.h.net.close(a);
    let removed = e.store.remove_user("sip:alice@example.com").unwrap();
    let keeper = e.keeper.clone();
    let t0 = Instant::now();
    let task = tokio::spawn(async move { keeper.user_removed(&removed).await });
    let unreg = e.h.next().await;
    assert_eq!(unreg.msg.expires().unwrap(), Some(0));
    // Nobody answers: the API gets its answer after 10 s, not timer F.
    task.await.unwrap();
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
        "{waited:?}"
    );
    // The transaction goes on behind it (UDP retransmissions).
    let later = e.h.next().await;
    assert_eq!(later.msg.raw(), unreg.msg.raw());
}

#[tokio::test(start_paused = true)]
async fn interval_too_brief_is_retried_with_min_expires() {
    let mut e = start(policy());
    let (a, _) = app_registered(&mut e, 1, true).await;
    e.h.net.close(a);
    let reg = e.h.next().await;
    assert_eq!(reg.msg.expires().unwrap(), Some(60));
    e.h.inject(
        reg.flow,
        &reply(
            &reg.msg,
            423,
            "Interval Too Brief",
            Some("u"),
            "Min-Expires: 600\n",
        ),
    )
    .await;
    let again = e.h.next().await;
    assert_eq!(again.msg.expires().unwrap(), Some(600));
    assert_eq!(
        again.msg.cseq().unwrap().seq,
        reg.msg.cseq().unwrap().seq + 1
    );
    e.h.inject(again.flow, &ok_with_expires(&again.msg, 600))
        .await;
    until("refresh", || stat(&e, "refreshes_ok") == 1).await;
}

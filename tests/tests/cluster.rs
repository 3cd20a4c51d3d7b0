//! Two sipwake gateways sharing a real redis-server, in front of one real
//! Kamailio (docs/cluster.md): an app registered through node 1 falls
//! asleep; a call held and pushed by node 1 reaches the app exactly once
//! when it wakes and registers through node 2 — after node 2's 200 OK, on
//! node 2's connection — also when the pub/sub connections were killed
//! meanwhile. With Redis stopped a push REGISTER gets 503 + Retry-After,
//! and after Redis is back nothing acknowledged is lost.

use std::time::Duration;

use serde_json::Value;
use sipwake_e2e::client::SipClient;
use sipwake_e2e::gateway::Gateway;
use sipwake_e2e::push::{self, Api, Options, PushGateway, STORE_KEY};
use sipwake_e2e::sipmsg::Msg;
use sipwake_e2e::wake::{self, App, Caller, Edge, GRACE, UdpApp, WAIT};
use sipwake_e2e::{REALM, password};
use sipwake_store::redis::harness::{RedisCluster, RedisProcess, bulk_reply};

/// The sections that make a gateway node `node` of the cluster on Redis
/// at `urls`, with `push` as more `[push]` lines.
fn node_config_with(urls: &[String], node: &str, push: &str) -> String {
    // Under Kamailio's fr_inv_timer (30 s) unless the test says otherwise.
    let push = if push.contains("wake_timeout_secs") {
        push.to_owned()
    } else {
        format!("wake_timeout_secs = 25\n{push}")
    };
    let urls = urls
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "\n[push]\n{push}\n\n[store]\nbackend = \"redis\"\nredis_urls = [{urls}]\nkey = \"{STORE_KEY}\"\nredis_timeout_ms = 500\n\n[cluster]\nenabled = true\nnode_id = \"{node}\"\nheartbeat_ms = 200\npoll_ms = 200\n"
    )
}

/// The Redis deployment under test.
enum Redis {
    Standalone(RedisProcess),
    Cluster(RedisCluster),
}

impl Redis {
    fn urls(&self) -> Vec<String> {
        match self {
            Redis::Standalone(r) => vec![r.url()],
            Redis::Cluster(c) => c.urls(),
        }
    }

    fn standalone(&mut self) -> &mut RedisProcess {
        match self {
            Redis::Standalone(r) => r,
            Redis::Cluster(_) => panic!("a standalone Redis test"),
        }
    }
}

struct Cluster {
    env: PushGateway,
    node2: Gateway,
    api2: Api,
    redis: Redis,
}

/// Redis with an fsync'd append-only file (what docs/cluster.md asks for),
/// Kamailio, and two gateway nodes that see each other.
async fn start() -> Cluster {
    let redis = RedisProcess::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    start_on(Redis::Standalone(redis)).await
}

async fn start_on(redis: Redis) -> Cluster {
    start_with(redis, "").await
}

async fn start_with(redis: Redis, push: &str) -> Cluster {
    let env = PushGateway::start(Options {
        extra: node_config_with(&redis.urls(), "n1", push),
        ..Options::default()
    })
    .await
    .unwrap();
    let node2 = env
        .another_gateway(&node_config_with(&redis.urls(), "n2", push))
        .unwrap();
    let api2 = Api::new(node2.http_addr());
    wake::until("both nodes to see each other", WAIT, || {
        let api = Api::new(env.gw.http_addr());
        async move {
            let v = api.json("GET", "/api/v1/cluster", None).await.ok()?;
            (v["nodes"].as_array()?.len() == 2).then_some(())
        }
    })
    .await
    .unwrap();
    Cluster {
        env,
        node2,
        api2,
        redis,
    }
}

/// Registers `app` through node 1 over `edge` and lets it fall asleep.
async fn asleep_on_node1(c: &Cluster, app: &App, edge: Edge) {
    let gw = &c.env.gw;
    let mut conn = wake::connect(gw, edge, &app.user).await.unwrap();
    app.register(&mut conn)
        .await
        .map_err(|e| gw.failure(&e.to_string()).to_string())
        .unwrap();
    wake::fall_asleep(gw, conn).await.unwrap();
}

fn failure(c: &Cluster, what: &str) -> String {
    format!(
        "{what}\n--- node 1 ---\n{}\n--- node 2 ---\n{}",
        c.env.gw.failure("log"),
        c.node2.failure("log")
    )
}

/// The app on `conn` rings and answers `invite`; the caller gets the 200
/// and the call ends (ACK, BYE).
async fn answer_once(c: &Cluster, caller: &mut Caller, conn: &mut SipClient, invite: Msg) {
    let ringing = wake::ring(conn, invite).await.unwrap();
    wake::accept(conn, &ringing).await.unwrap();
    let ok = caller
        .final_response(WAIT)
        .await
        .map_err(|e| failure(c, &e.to_string()))
        .unwrap();
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    wake::finish_call(caller, &ok, conn)
        .await
        .map_err(|e| failure(c, &e.to_string()))
        .unwrap();
}

/// The held call reaches the app that woke on node 2, once; it completes.
async fn wake_on_node2(c: &Cluster, app: &App, edge: Edge, between: impl AsyncFnOnce()) {
    let env = &c.env;
    let mut caller = Caller::at(&env.kamailio, "bob").await.unwrap();
    caller.send("INVITE", &app.user, &[], "").await.unwrap();
    let call_id = caller.call_id.clone();
    wake::wait_fcm(env, "0", &call_id, 1)
        .await
        .map_err(|e| failure(c, &e.to_string()))
        .unwrap();
    between().await;

    let mut conn = wake::connect(&c.node2, edge, &app.user).await.unwrap();
    let (challenge, early) = app.register_unauthenticated(&mut conn).await.unwrap();
    assert!(early.is_empty(), "before the 401: {early:?}");
    let (ok, during) = app
        .register_authenticated(&mut conn, &challenge)
        .await
        .unwrap();
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    // Nothing before node 2's 200 OK: the INVITE comes after it.
    assert!(
        during.iter().all(|m| m.method() != Some("INVITE")),
        "INVITE before the 200 OK: {during:?}"
    );
    let invite = wake::expect_invite(&mut conn, WAIT)
        .await
        .map_err(|e| failure(c, &e.to_string()))
        .unwrap();
    assert_eq!(invite.header("Call-ID"), Some(call_id.as_str()));
    assert!(invite.body_text().contains("m=audio"), "SDP intact");

    answer_once(c, &mut caller, &mut conn, invite).await;

    // Exactly once: one push, one INVITE, and node 1 says it forwarded.
    let again = wake::no_request(&mut conn, "INVITE", GRACE).await.unwrap();
    assert!(again.is_none(), "second INVITE: {again:?}");
    assert_eq!(wake::fcm_pushes(env, "0", &call_id).len(), 1);
    let s1 = wake::wake_stats(&env.api).await.unwrap();
    assert_eq!(s1["forwarded_to_node"], 1, "{s1}");
    assert_eq!(s1["delivered"], 1, "{s1}");
    assert_eq!(s1["holding"], 0, "{s1}");
    let s2 = wake::wake_stats(&c.api2).await.unwrap();
    assert_eq!(s2["pushed"], 0, "{s2}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_held_on_node1_reaches_the_app_woken_on_node2_over_ws() {
    let c = start().await;
    let app = App::new("alice", &wake::fcm_mpush("fcm-cluster-ws"));
    asleep_on_node1(&c, &app, Edge::Ws).await;
    wake_on_node2(&c, &app, Edge::Ws, async || {}).await;
    let v: Value = c.api2.json("GET", "/api/v1/cluster", None).await.unwrap();
    assert_eq!(v["node"], "n2", "{v}");
    let ids: Vec<&str> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(ids, ["n1", "n2"], "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_held_on_node1_reaches_the_app_woken_on_node2_over_tls() {
    let c = start().await;
    let app = App::new("alice", &wake::fcm_mpush("fcm-cluster-tls"));
    asleep_on_node1(&c, &app, Edge::Tls).await;
    wake_on_node2(&c, &app, Edge::Tls, async || {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_when_the_pubsub_connections_were_killed() {
    let c = start().await;
    let app = App::new("alice", &wake::fcm_mpush("fcm-cluster-kill"));
    asleep_on_node1(&c, &app, Edge::Ws).await;
    let ports: Vec<u16> = match &c.redis {
        Redis::Standalone(r) => vec![r.port],
        Redis::Cluster(cl) => cl.nodes.iter().map(|n| n.port).collect(),
    };
    wake_on_node2(&c, &app, Edge::Ws, async move || {
        for port in ports {
            let r = bulk_reply(port, &["CLIENT", "KILL", "TYPE", "pubsub"]);
            assert!(r.starts_with(':'), "CLIENT KILL answered {r}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_gets_503_while_redis_is_down_and_nothing_acknowledged_is_lost() {
    let mut c = start().await;
    let before = App::new("carol", &wake::fcm_mpush("fcm-cluster-before"));
    let mut conn = wake::connect(&c.env.gw, Edge::Ws, "carol").await.unwrap();
    before.register(&mut conn).await.unwrap();
    assert_eq!(
        c.env.api.devices("carol@sipwake.test").await.unwrap().len(),
        1
    );

    c.redis.standalone().kill();
    let during = App::new("dave", &wake::fcm_mpush("fcm-cluster-during"));
    let mut conn = wake::connect(&c.node2, Edge::Ws, "dave").await.unwrap();
    let (challenge, _) = during.register_unauthenticated(&mut conn).await.unwrap();
    let (refused, _) = during
        .register_authenticated(&mut conn, &challenge)
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        Some(503),
        "{}",
        failure(&c, &refused.start)
    );
    assert_eq!(
        refused.header("Retry-After"),
        Some("5"),
        "{}",
        refused.start
    );

    c.redis.standalone().restart();
    let (challenge, _) = during.register_unauthenticated(&mut conn).await.unwrap();
    let (ok, _) = during
        .register_authenticated(&mut conn, &challenge)
        .await
        .unwrap();
    assert_eq!(ok.status(), Some(200), "{}", failure(&c, &ok.start));
    // What was acknowledged before the outage survived it (appendfsync
    // always), and what was acknowledged after is there, on either node.
    for api in [&c.env.api, &c.api2] {
        assert_eq!(api.devices("carol@sipwake.test").await.unwrap().len(), 1);
        assert_eq!(api.devices("dave@sipwake.test").await.unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_held_on_node1_reaches_the_app_woken_on_node2_on_a_redis_cluster() {
    let c = start_on(Redis::Cluster(RedisCluster::start())).await;
    let app = App::new("alice", &wake::fcm_mpush("fcm-cluster-rc"));
    asleep_on_node1(&c, &app, Edge::Ws).await;
    wake_on_node2(&c, &app, Edge::Ws, async || {}).await;
}

/// The app (without `+sip.instance`: Kamailio keeps one registration per
/// Contact) registered through node 1, fell asleep, then registered
/// through node 2 and stays connected there: Kamailio forks a call to both
/// registrations. Node 1 sees the device live on node 2 and leaves it to
/// that branch: one INVITE, no push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_forked_through_both_nodes_reaches_the_app_once() {
    let c = start().await;
    let app = App::without_instance("alice", &wake::fcm_mpush("fcm-cluster-fork"));
    asleep_on_node1(&c, &app, Edge::Ws).await;
    let mut conn = wake::connect(&c.node2, Edge::Ws, "alice").await.unwrap();
    app.register(&mut conn).await.unwrap();

    let mut caller = Caller::at(&c.env.kamailio, "bob").await.unwrap();
    caller.send("INVITE", "alice", &[], "").await.unwrap();
    let call_id = caller.call_id.clone();
    let invite = wake::expect_invite(&mut conn, WAIT)
        .await
        .map_err(|e| failure(&c, &e.to_string()))
        .unwrap();
    assert_eq!(invite.header("Call-ID"), Some(call_id.as_str()));
    // Node 1 got its fork too, and left the device to node 2.
    wake::until("node 1 to see its fork", WAIT, || {
        let log = c.env.gw.log();
        let id = call_id.clone();
        async move {
            log.lines()
                .any(|l| l.contains("connected to another gateway") && l.contains(&id))
                .then_some(())
        }
    })
    .await
    .map_err(|e| failure(&c, &e.to_string()))
    .unwrap();
    answer_once(&c, &mut caller, &mut conn, invite).await;
    let again = wake::no_request(&mut conn, "INVITE", GRACE).await.unwrap();
    assert!(again.is_none(), "second INVITE: {again:?}");
    assert!(
        wake::fcm_pushes(&c.env, "0", &call_id).is_empty(),
        "no push for a connected device"
    );
}

/// A UDP app (RFC 8599 binding) registered through node 1 stops reading
/// its socket. Node 1 sends the call to its last address and would push
/// after `udp_wake_after_ms` of silence; before that the app registers
/// through node 2 from a new socket: no push, the call once on the new
/// socket, through node 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udp_app_that_registers_on_node2_before_its_push_is_not_pushed() {
    let redis = RedisProcess::start(&[]);
    let c = start_with(Redis::Standalone(redis), "udp_wake_after_ms = 8000").await;
    let app = UdpApp::new("fcm-cluster-udp", true);
    let mut old = app.socket(&c.env.gw).await;
    app.register(&mut old)
        .await
        .map_err(|e| failure(&c, &e.to_string()))
        .unwrap();
    // From here on the app sleeps: nobody reads `old`.
    let mut caller = Caller::at(&c.env.kamailio, "bob").await.unwrap();
    caller.send("INVITE", "alice", &[], "").await.unwrap();
    let call_id = caller.call_id.clone();
    wake::until("node 1 to watch the UDP app", WAIT, || {
        let log = c.env.gw.log();
        let id = call_id.clone();
        async move {
            log.lines()
                .any(|l| l.contains("watching them") && l.contains(&id))
                .then_some(())
        }
    })
    .await
    .map_err(|e| failure(&c, &e.to_string()))
    .unwrap();

    let mut new = app.socket(&c.node2).await;
    let (_, during) = app
        .register(&mut new)
        .await
        .map_err(|e| failure(&c, &e.to_string()))
        .unwrap();
    let invite = match during.into_iter().find(|m| m.method() == Some("INVITE")) {
        Some(i) => i,
        None => wake::expect_invite(&mut new, WAIT)
            .await
            .map_err(|e| failure(&c, &e.to_string()))
            .unwrap(),
    };
    assert_eq!(invite.header("Call-ID"), Some(call_id.as_str()));
    answer_once(&c, &mut caller, &mut new, invite).await;
    let again = wake::no_request(&mut new, "INVITE", GRACE).await.unwrap();
    assert!(again.is_none(), "second INVITE: {again:?}");
    assert!(
        wake::fcm_pushes(&c.env, "0", &call_id).is_empty(),
        "pushed although it registered on node 2 first"
    );
    let s1 = wake::wake_stats(&c.env.api).await.unwrap();
    assert_eq!(s1["forwarded_to_node"], 1, "{s1}");
    assert_eq!(s1["pushed"], 0, "{s1}");
}

/// Kamailio's log of authenticated keeper REGISTERs for alice:
/// (Call-ID, CSeq, source port), in order.
fn keeper_registers(c: &Cluster) -> Vec<(String, u32, u16)> {
    c.env
        .kamailio
        .log()
        .lines()
        .filter_map(|l| {
            let rest = l
                .split("authenticated REGISTER user=alice callid=")
                .nth(1)?;
            let (call_id, rest) = rest.split_once(" cseq=")?;
            let (cseq, rest) = rest.split_once(" src=")?;
            let port = rest.trim().rsplit(':').next()?.parse().ok()?;
            let cseq = cseq.trim().parse().ok()?;
            call_id
                .starts_with("kp-")
                .then(|| (call_id.to_owned(), cseq, port))
        })
        .collect()
}

/// The app registers through node 1 with an X-PIID and goes away: node 1
/// alone keeps it registered (node 2 scans every 2 s and must leave it).
/// Node 1 is killed (-9): node 2 takes the registration over in the same
/// Call-ID with higher CSeqs, and a call to the app is pushed by node 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keeper_runs_on_one_node_and_moves_when_that_node_dies() {
    let redis = RedisProcess::start(&[]);
    let mut c = start_with(
        Redis::Standalone(redis),
        "upperexpire = -1\nrebuildregclients = 2\nwake_timeout_secs = 3",
    )
    .await;
    let mut app = SipClient::tcp(c.env.gw.sip_addr(), "alice", REALM)
        .await
        .unwrap();
    let headers = vec![
        format!(
            "Contact: <sip:alice@{};transport=tcp>;+sip.instance=\"<urn:uuid:6b1f0c2e-0000-4000-8000-0000000c1a57>\"",
            app.local
        ),
        "Expires: 6".into(),
        "Supported: path".into(),
        format!("X-MPUSH: a:{}:fcm-cluster-keeper", push::APP),
        format!("X-PIID: {}", push::piid("alice", REALM, password("alice"))),
    ];
    let (_, ok) = push::register_custom(&mut app, password("alice"), &headers)
        .await
        .unwrap();
    assert_eq!(ok.status(), Some(200), "{}", failure(&c, &ok.start));
    drop(app);

    let (n1, n2) = (c.env.gw.ports.sip, c.node2.ports.sip);
    let before = wake::until(
        "two keeper refreshes from node 1",
        Duration::from_secs(60),
        || {
            let seen = keeper_registers(&c);
            async move { (seen.iter().filter(|r| r.2 == n1).count() >= 2).then_some(seen) }
        },
    )
    .await
    .map_err(|e| failure(&c, &e.to_string()))
    .unwrap();
    assert!(
        before.iter().all(|r| r.2 == n1),
        "only node 1 keeps it: {before:?}"
    );
    let call_id = before[0].0.clone();
    assert!(before.iter().all(|r| r.0 == call_id), "{before:?}");

    c.env.gw.crash();
    let last_cseq = keeper_registers(&c).iter().map(|r| r.1).max().unwrap();
    let after = wake::until(
        "a keeper refresh from node 2",
        Duration::from_secs(60),
        || {
            let seen = keeper_registers(&c);
            async move { seen.iter().any(|r| r.2 == n2).then_some(seen) }
        },
    )
    .await
    .map_err(|e| failure(&c, &e.to_string()))
    .unwrap();
    let from2: Vec<_> = after.iter().filter(|r| r.2 == n2).collect();
    assert!(
        from2.iter().all(|r| r.0 == call_id && r.1 > last_cseq),
        "same Call-ID, higher CSeq: {after:?}"
    );

    // Calls now reach node 2 (its Path), which pushes.
    let mut bob = SipClient::udp(c.env.kamailio.addr(), "bob", REALM)
        .await
        .unwrap();
    bob.password = Some(password("bob").into());
    let resp = bob.call_outcome("alice").await.unwrap();
    assert_eq!(resp.status(), Some(480), "{}", failure(&c, &resp.start));
    let s2 = wake::wake_stats(&c.api2).await.unwrap();
    assert_eq!(s2["pushed"], 1, "{s2}\n{}", failure(&c, "node 2"));
}

/// A MESSAGE is held (202) and pushed by node 1; node 1 is killed (-9);
/// the app registers on node 2, which delivers the MESSAGE once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_held_by_a_node_that_died_is_delivered_by_another() {
    let redis = RedisProcess::start(&[]);
    let mut c = start_with(Redis::Standalone(redis), "hold_message_secs = 60").await;
    let app = App::new("alice", &wake::fcm_mpush("fcm-cluster-chat"));
    asleep_on_node1(&c, &app, Edge::Ws).await;
    let text = "held across a crash \u{2713}";
    let mut sender = Caller::at(&c.env.kamailio, "bob").await.unwrap();
    sender
        .send(
            "MESSAGE",
            "alice",
            &["Content-Type: text/plain".into()],
            text,
        )
        .await
        .unwrap();
    let fin = sender.final_response(WAIT).await.unwrap();
    assert_eq!(fin.status(), Some(202), "{}", fin.start);
    let call_id = sender.call_id.clone();
    wake::wait_fcm(&c.env, "1", &call_id, 1)
        .await
        .map_err(|e| failure(&c, &e.to_string()))
        .unwrap();

    c.env.gw.crash();
    wake::until("node 2 to see node 1 gone", WAIT, || {
        let api = Api::new(c.node2.http_addr());
        async move {
            let v = api.json("GET", "/api/v1/cluster", None).await.ok()?;
            (v["nodes"].as_array()?.len() == 1).then_some(())
        }
    })
    .await
    .unwrap();
    let mut conn = wake::connect(&c.node2, Edge::Ws, "alice").await.unwrap();
    let (_, during) = {
        let (challenge, _) = app.register_unauthenticated(&mut conn).await.unwrap();
        app.register_authenticated(&mut conn, &challenge)
            .await
            .unwrap()
    };
    let msg = match during.into_iter().find(|m| m.method() == Some("MESSAGE")) {
        Some(m) => m,
        None => conn
            .recv_until("the held MESSAGE", |m| m.method() == Some("MESSAGE"))
            .await
            .map_err(|e| c.node2.failure(&e.to_string()).to_string())
            .unwrap(),
    };
    assert_eq!(msg.header("Call-ID"), Some(call_id.as_str()));
    assert_eq!(msg.body_text(), text);
    let again = wake::no_request(&mut conn, "MESSAGE", GRACE).await.unwrap();
    assert!(again.is_none(), "MESSAGE delivered twice: {again:?}");
    let s2 = wake::wake_stats(&c.api2).await.unwrap();
    assert_eq!(s2["orphans_delivered"], 1, "{s2}");
}

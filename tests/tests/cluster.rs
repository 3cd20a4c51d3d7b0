//! Two sipwake gateways sharing a real redis-server, in front of one real
//! Kamailio (docs/cluster.md): an app registered through node 1 falls
//! asleep; a call held and pushed by node 1 reaches the app exactly once
//! when it wakes and registers through node 2 — after node 2's 200 OK, on
//! node 2's connection — also when the pub/sub connections were killed
//! meanwhile. With Redis stopped a push REGISTER gets 503 + Retry-After,
//! and after Redis is back nothing acknowledged is lost.

use serde_json::Value;
use sipwake_e2e::gateway::Gateway;
use sipwake_e2e::push::{Api, Options, PushGateway, STORE_KEY};
use sipwake_e2e::wake::{self, App, Caller, Edge, GRACE, WAIT};
use sipwake_store::redis::harness::{RedisProcess, bulk_reply};

/// The sections that make a gateway node `node` of the cluster on `redis`.
fn node_config(redis: &RedisProcess, node: &str) -> String {
    format!(
        "\n[push]\nwake_timeout_secs = 25\n\n[store]\nbackend = \"redis\"\nredis_urls = [\"{}\"]\nkey = \"{STORE_KEY}\"\nredis_timeout_ms = 500\n\n[cluster]\nenabled = true\nnode_id = \"{node}\"\nheartbeat_ms = 200\npoll_ms = 200\n",
        redis.url()
    )
}

struct Cluster {
    env: PushGateway,
    node2: Gateway,
    api2: Api,
    redis: RedisProcess,
}

/// Redis with an fsync'd append-only file (what docs/cluster.md asks for),
/// Kamailio, and two gateway nodes that see each other.
async fn start() -> Cluster {
    let redis = RedisProcess::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let env = PushGateway::start(Options {
        extra: node_config(&redis, "n1"),
        ..Options::default()
    })
    .await
    .unwrap();
    let node2 = env.another_gateway(&node_config(&redis, "n2")).unwrap();
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

    let ringing = wake::ring(&mut conn, invite).await.unwrap();
    wake::accept(&mut conn, &ringing).await.unwrap();
    let ok = caller
        .final_response(WAIT)
        .await
        .map_err(|e| failure(c, &e.to_string()))
        .unwrap();
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    wake::finish_call(&mut caller, &ok, &mut conn)
        .await
        .map_err(|e| failure(c, &e.to_string()))
        .unwrap();

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
    let port = c.redis.port;
    wake_on_node2(&c, &app, Edge::Ws, async move || {
        let r = bulk_reply(port, &["CLIENT", "KILL", "TYPE", "pubsub"]);
        assert!(r.starts_with(':'), "CLIENT KILL answered {r}");
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

    c.redis.kill();
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

    c.redis.restart();
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

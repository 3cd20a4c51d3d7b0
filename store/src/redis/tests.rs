//! The Redis store against real servers: the shared behaviour suite on a
//! standalone server, a three-node Redis Cluster and a master found via
//! Sentinel; the key layout, X-PIID encryption at rest, index repair, key
//! mismatch and Redis being down (an error within the timeout, never a
//! hang or a panic).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::harness::{
    MASTER_PASSWORD, RedisCluster, RedisProcess, RedisSentinel, SENTINEL_MASTER, bulk_reply,
};
use super::*;
use crate::conformance::{self, Backend, HA1, binding, cipher};

const TIMEOUT: Duration = Duration::from_millis(800);

fn options(servers: RedisServers, prefix: &str) -> RedisOptions {
    RedisOptions {
        servers,
        prefix: prefix.to_string(),
        timeout: TIMEOUT,
        wait_replicas: 0,
        tls_ca: None,
    }
}

/// A fresh prefix on the same servers for each case.
struct Prefixed {
    servers: RedisServers,
    prefix: String,
}

impl Backend for Prefixed {
    fn open(&self, cipher: PiidCipher) -> Result<Box<dyn BindingStore>, StoreError> {
        Ok(Box::new(RedisStore::open(
            &options(self.servers.clone(), &self.prefix),
            cipher,
        )?))
    }
}

fn suite(label: &str, servers: RedisServers) {
    let n = AtomicUsize::new(0);
    conformance::run_all(label, &|| {
        Box::new(Prefixed {
            servers: servers.clone(),
            prefix: format!("t{}", n.fetch_add(1, Ordering::Relaxed)),
        })
    });
}

fn urls(v: Vec<String>) -> RedisServers {
    RedisServers::Urls(v)
}

/// A raw client for looking at what the store wrote.
fn raw(port: u16) -> ::redis::Connection {
    ::redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap()
}

#[test]
fn behaviour_suite_on_a_standalone_server() {
    let server = RedisProcess::start(&[]);
    suite("standalone", urls(vec![server.url()]));
}

#[test]
fn behaviour_suite_on_a_three_node_cluster() {
    let cluster = RedisCluster::start();
    suite("cluster", urls(cluster.urls()));
    // The data really is spread: users land on several nodes, and one
    // node's URL alone is enough to find the cluster.
    let store = RedisStore::open(
        &options(urls(vec![cluster.urls()[1].clone()]), "spread"),
        cipher(),
    )
    .unwrap();
    assert!(store.target().starts_with("cluster "), "{}", store.target());
    for i in 0..30 {
        store
            .upsert(&binding(
                &format!("user{i}@d"),
                &format!("tok{i}"),
                Some(HA1),
            ))
            .unwrap();
    }
    let holding = cluster
        .nodes
        .iter()
        .filter(|n| {
            let keys: Vec<String> = ::redis::cmd("KEYS")
                .arg("spread:{*}:devices")
                .query(&mut raw(n.port))
                .unwrap();
            !keys.is_empty()
        })
        .count();
    assert!(holding >= 2, "30 users on {holding} node(s)");
    assert_eq!(store.all().unwrap().len(), 30);
    assert_eq!(store.users().unwrap().len(), 30);
    assert_eq!(store.expire_inactive(5000, 1).unwrap().len(), 30);
}

#[test]
fn behaviour_suite_via_sentinel_with_a_password() {
    let s = RedisSentinel::start();
    let servers = RedisServers::Sentinel(SentinelServers {
        master: SENTINEL_MASTER.into(),
        urls: vec![s.sentinel.url()],
        db: 3,
        username: None,
        password: Some(MASTER_PASSWORD.into()),
    });
    suite("sentinel", servers.clone());
    let store = RedisStore::open(&options(servers.clone(), "where"), cipher()).unwrap();
    store.upsert(&binding("u@d", "t", None)).unwrap();
    let mut master = ::redis::Client::open(format!(
        "redis://:{MASTER_PASSWORD}@127.0.0.1:{}/3",
        s.master.port
    ))
    .unwrap()
    .get_connection()
    .unwrap();
    let n: i64 = ::redis::cmd("EXISTS")
        .arg("where:{u@d}:devices")
        .query(&mut master)
        .unwrap();
    assert_eq!(n, 1, "written to the master Sentinel names, in db 3");
    assert!(
        store.target().contains(SENTINEL_MASTER),
        "{}",
        store.target()
    );

    // A wrong password, an unknown master, no Sentinel: startup errors
    // that say so and never show the password.
    let with = |master: &str, password: &str, sentinel: String| {
        RedisStore::open(
            &options(
                RedisServers::Sentinel(SentinelServers {
                    master: master.into(),
                    urls: vec![sentinel],
                    password: Some(password.into()),
                    ..Default::default()
                }),
                "x",
            ),
            cipher(),
        )
        .unwrap_err()
        .to_string()
    };
    let e = with(SENTINEL_MASTER, "wrong-pw-123", s.sentinel.url());
    assert!(
        e.contains("authentication failed") && !e.contains("wrong-pw-123"),
        "{e}"
    );
    let e = with("othermaster", MASTER_PASSWORD, s.sentinel.url());
    assert!(e.contains("does not know master `othermaster`"), "{e}");
    let closed = RedisProcess::start(&[]);
    let url = closed.url();
    drop(closed);
    let e = with(SENTINEL_MASTER, MASTER_PASSWORD, url);
    assert!(
        e.contains("connection refused") && !e.contains(MASTER_PASSWORD),
        "{e}"
    );
}

#[test]
fn a_sentinel_failover_moves_the_store_to_the_new_master() {
    let s = RedisSentinel::start();
    s.wait_replica_known();
    let servers = RedisServers::Sentinel(SentinelServers {
        master: SENTINEL_MASTER.into(),
        urls: vec![s.sentinel.url()],
        password: Some(MASTER_PASSWORD.into()),
        ..Default::default()
    });
    let store = RedisStore::open(&options(servers, "fo"), cipher()).unwrap();
    let before = binding("u@d", "before", Some(HA1));
    store.upsert(&before).unwrap();
    let mut m = super::harness::client(s.master.port, Some(MASTER_PASSWORD));
    let acked: i64 = ::redis::cmd("WAIT").arg(1).arg(5000).query(&mut m).unwrap();
    assert_eq!(acked, 1, "replicated before the failover");
    s.failover();
    // The old master's clients were cut when it became a replica: within a
    // few calls the store is on the new master (an error in between is
    // allowed, a write to the old one is not). Writes the old master took
    // between the promotion and its demotion are lost: Redis replication
    // is asynchronous (docs/cluster.md).
    let after = binding("u@d", "after", None);
    let mut errors = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match store.upsert(&after) {
            Ok(_) => break,
            Err(e) => errors.push(e.to_string()),
        }
        assert!(Instant::now() < deadline, "{errors:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("errors around the failover: {errors:#?}");
    assert_eq!(
        tokens_of(&store.user("u@d").unwrap()),
        ["after", "before"].map(String::from)
    );
    let mut r = super::harness::client(s.replica.port, Some(MASTER_PASSWORD));
    let n: i64 = ::redis::cmd("HLEN")
        .arg("fo:{u@d}:devices")
        .query(&mut r)
        .unwrap();
    // One field per device (no f: while the failure count is 0).
    assert_eq!(n, 2, "both devices on the promoted replica");
}

fn tokens_of(v: &[Binding]) -> Vec<String> {
    let mut t: Vec<String> = v.iter().map(|b| b.push.token.clone()).collect();
    t.sort();
    t
}

#[test]
fn key_layout_and_piid_encrypted_at_rest() {
    let server = RedisProcess::start(&[]);
    let store = RedisStore::open(&options(urls(vec![server.url()]), "sipwake"), cipher()).unwrap();
    let b = binding("1111@example.com", "tok1", Some(HA1));
    store.upsert(&b).unwrap();
    store.record_push_failure(&b.aor, &b.device).unwrap();
    let mut c = raw(server.port);
    let keys: BTreeSet<String> = ::redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    let expected: BTreeSet<String> = [
        "sipwake:{1111@example.com}:devices",
        "sipwake:users",
        "sipwake:keycheck",
    ]
    .map(String::from)
    .into();
    assert_eq!(keys, expected);
    let hash: BTreeMap<String, String> = ::redis::cmd("HGETALL")
        .arg("sipwake:{1111@example.com}:devices")
        .query(&mut c)
        .unwrap();
    let fields: Vec<&str> = hash.keys().map(String::as_str).collect();
    assert_eq!(fields, ["c:token:a:tok1", "f:token:a:tok1"]);
    assert_eq!(hash["f:token:a:tok1"], "1");
    // `<last seen>|<json>`.
    let (seen, json) = hash["c:token:a:tok1"].split_once('|').unwrap();
    assert_eq!(seen, "1000");
    let content: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(content["t"], "tok1");
    assert_eq!(content["c"], "<sip:1111@192.0.2.1:5060>");
    assert!(
        !hash["c:token:a:tok1"].contains("null"),
        "absent fields are left out: {}",
        hash["c:token:a:tok1"]
    );
    let sealed = content["x"].as_str().unwrap();
    assert!(sealed.len() > 2 * 24, "nonce + ciphertext: {sealed}");
    // The HA1 is nowhere in the database, in any form redis-cli shows.
    let dump = std::process::Command::new(super::harness::tool("redis-cli"))
        .args(["-p", &server.port.to_string(), "--no-raw", "HGETALL"])
        .arg("sipwake:{1111@example.com}:devices")
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("tok1"), "{dump}");
    for k in &keys {
        let v: ::redis::Value = ::redis::cmd("DUMP").arg(k).query(&mut c).unwrap();
        assert!(!format!("{v:?}").contains("14d4f932"), "{k}");
    }
    assert!(!dump.contains("14d4f932") && !dump.to_lowercase().contains("14d4f932"));
    for v in hash.values() {
        assert!(!v.contains(HA1) && !v.contains(&HA1.to_uppercase()));
    }
    // A failure count of 0 takes no field.
    store.touch(&b.aor, &b.device, 2000).unwrap();
    let fields: BTreeSet<String> = ::redis::cmd("HKEYS")
        .arg("sipwake:{1111@example.com}:devices")
        .query(&mut c)
        .unwrap();
    assert_eq!(fields, ["c:token:a:tok1"].map(String::from).into());
    assert_eq!(
        store.get(&b.aor, &b.device).unwrap().unwrap().last_seen,
        2000
    );
    // A ciphertext moved to another device does not open there.
    let moved = hash["c:token:a:tok1"].clone();
    let _: () = ::redis::cmd("HSET")
        .arg("sipwake:{1111@example.com}:devices")
        .arg("c:token:a:other")
        .arg(&moved)
        .arg("s:token:a:other")
        .arg("1")
        .query(&mut c)
        .unwrap();
    assert!(matches!(
        store.get(&b.aor, "token:a:other"),
        Err(StoreError::Decrypt { .. })
    ));
}

#[test]
fn index_entries_without_bindings_are_skipped_and_repaired() {
    let server = RedisProcess::start(&[]);
    let store = RedisStore::open(&options(urls(vec![server.url()]), "ix"), cipher()).unwrap();
    let real = binding("real@d", "tokX", None);
    store.upsert(&real).unwrap();
    let mut c = raw(server.port);
    // As a writer interrupted between its index write and its binding
    // write would leave it.
    let _: i64 = ::redis::cmd("SADD")
        .arg("ix:users")
        .arg("ghost@d")
        .query(&mut c)
        .unwrap();
    assert_eq!(store.all().unwrap(), vec![real.clone()]);
    assert_eq!(store.users().unwrap().len(), 1);
    assert_eq!(store.user("ghost@d").unwrap(), vec![]);
    assert_eq!(store.remove_token("tokX").unwrap(), vec![real]);
    assert!(store.expire_inactive(0, 0).unwrap().is_empty());
    let users: Vec<String> = ::redis::cmd("SMEMBERS")
        .arg("ix:users")
        .query(&mut c)
        .unwrap();
    assert!(users.is_empty(), "the ghost user is gone: {users:?}");
}

#[test]
fn another_store_key_refuses_to_open() {
    let server = RedisProcess::start(&[]);
    let opts = options(urls(vec![server.url()]), "k");
    RedisStore::open(&opts, cipher()).unwrap();
    let e = RedisStore::open(&opts, PiidCipher::new([4u8; 32])).unwrap_err();
    assert!(matches!(e, StoreError::KeyMismatch { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("same [store] key") && text.contains("prefix `k`"),
        "{text}"
    );
    // Another prefix is another store.
    RedisStore::open(
        &options(urls(vec![server.url()]), "k2"),
        PiidCipher::new([4u8; 32]),
    )
    .unwrap();
}

/// Within a few timeouts, and an error (not a panic, not a hang).
fn assert_fails_fast<T: std::fmt::Debug>(
    what: &str,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> String {
    let start = Instant::now();
    let r = f();
    let took = start.elapsed();
    assert!(took < TIMEOUT * 8, "{what} took {took:?}");
    eprintln!("{what}: {took:?}: {r:?}");
    match r {
        Err(e @ StoreError::Redis { .. }) => e.to_string(),
        other => panic!("{what}: expected a Redis error, got {other:?}"),
    }
}

#[test]
fn a_standalone_server_down_or_hung_is_an_error_within_the_timeout() {
    let mut server = RedisProcess::start(&["--requirepass", "pw-standalone"]);
    let url = format!("redis://:pw-standalone@127.0.0.1:{}/0", server.port);
    let store = RedisStore::open(&options(urls(vec![url.clone()]), "down"), cipher()).unwrap();
    let b = binding("u@d", "t", Some(HA1));
    store.upsert(&b).unwrap();

    // Hung: accepts, never answers.
    server.signal("-STOP");
    let e = assert_fails_fast("get on a stopped server", || store.get("u@d", &b.device));
    assert!(e.contains("timed out") && e.contains("800 ms"), "{e}");
    server.signal("-CONT");

    // Down: refused.
    server.kill();
    let e = assert_fails_fast("get on a killed server", || store.get("u@d", &b.device));
    assert!(
        e.contains("connection refused") && e.contains(&format!("127.0.0.1:{}", server.port)),
        "{e}"
    );
    assert!(!e.contains("pw-standalone"), "{e}");
    for what in ["upsert", "all", "expire"] {
        let e = assert_fails_fast(what, || match what {
            "upsert" => store.upsert(&b).map(|_| ()),
            "all" => store.all().map(|_| ()),
            _ => store.expire_inactive(0, 0).map(|_| ()),
        });
        assert!(e.contains("connection refused"), "{what}: {e}");
    }
    let e = assert_fails_fast("open", || {
        RedisStore::open(&options(urls(vec![url.clone()]), "down"), cipher())
    });
    assert!(e.contains("connection refused"), "{e}");

    // Back: the next call reconnects.
    server.restart();
    assert_eq!(
        store.get("u@d", &b.device).unwrap(),
        None,
        "persistence is off"
    );
    store.upsert(&b).unwrap();
    assert_eq!(store.get("u@d", &b.device).unwrap(), Some(b));
}

#[test]
fn a_cluster_that_is_down_is_an_error_within_the_timeout() {
    let mut cluster = RedisCluster::start();
    let store = RedisStore::open(&options(urls(cluster.urls()), "down"), cipher()).unwrap();
    let b = binding("u@d", "t", None);
    store.upsert(&b).unwrap();
    for n in &mut cluster.nodes {
        n.kill();
    }
    assert_fails_fast("get on a cluster that is down", || {
        store.get("u@d", &b.device)
    });
    let e = assert_fails_fast("open a cluster that is down", || {
        RedisStore::open(&options(urls(cluster.urls()), "down"), cipher())
    });
    assert!(e.contains("connection refused"), "{e}");
}

#[test]
fn cluster_and_standalone_mix_ups_are_startup_errors() {
    let a = RedisProcess::start(&[]);
    let b = RedisProcess::start(&[]);
    let e = RedisStore::open(&options(urls(vec![a.url(), b.url()]), "m"), cipher())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not in cluster mode"), "{e}");
    let cluster = RedisCluster::start();
    let e = RedisStore::open(
        &options(urls(vec![format!("{}/2", cluster.urls()[0])]), "m"),
        cipher(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("only database 0"), "{e}");
    assert!(bulk_reply(cluster.nodes[0].port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"));
}

/// Bindings written by the earlier format (long JSON names, `null`s, an
/// `f:` field of 0) are read and changed like new ones.
#[test]
fn the_earlier_long_format_is_still_read() {
    let server = RedisProcess::start(&[]);
    let store = RedisStore::open(&options(urls(vec![server.url()]), "old"), cipher()).unwrap();
    let b = binding("old@d", "tokOld", None);
    let long = r#"{"provider":"a","env":"d","package":"com.example.app","token":"tokOld","source":"mpush","contact":"<sip:1111@192.0.2.1:5060>","auth_user":"1111","piid":null,"upstream_server":"sip.example.com","upstream_proxy":null,"upstream_domain":null,"user_agent":"MyCoolApp","created_at":1000,"upstream_expires_at":4600,"app_expires":600}"#;
    let mut c = raw(server.port);
    let _: () = ::redis::cmd("HSET")
        .arg("old:{old@d}:devices")
        .arg(format!("c:{}", b.device))
        .arg(long)
        .arg(format!("s:{}", b.device))
        .arg("1000")
        .arg(format!("f:{}", b.device))
        .arg("0")
        .query(&mut c)
        .unwrap();
    let _: i64 = ::redis::cmd("SADD")
        .arg("old:users")
        .arg("old@d")
        .query(&mut c)
        .unwrap();
    assert_eq!(store.get("old@d", &b.device).unwrap(), Some(b.clone()));
    assert_eq!(store.user("old@d").unwrap(), vec![b.clone()]);
    let mut later = b.clone();
    later.last_seen = 1500;
    assert!(
        !store.upsert(&later).unwrap(),
        "same content: only the clock"
    );
    let fields: Vec<String> = ::redis::cmd("HKEYS")
        .arg("old:{old@d}:devices")
        .query(&mut c)
        .unwrap();
    // (The old `f:` of 0 may stay: it reads as 0.)
    assert!(
        fields.contains(&format!("c:{}", b.device)) && !fields.iter().any(|f| f.starts_with("s:")),
        "rewritten in the new form: {fields:?}"
    );
    assert_eq!(store.get("old@d", &b.device).unwrap(), Some(later));
    let mut changed = b.clone();
    changed.contact = "<sip:1111@192.0.2.9:5060>".into();
    assert!(store.upsert(&changed).unwrap());
    assert_eq!(store.get("old@d", &b.device).unwrap(), Some(changed));
    assert_eq!(store.remove_token("tokOld").unwrap().len(), 1);
}

/// `wait_replicas`: a change counts once that many replicas have it; with
/// more replicas asked than exist it is an error within the timeout (the
/// change stays on the master).
#[test]
fn changes_wait_for_replicas_when_asked() {
    let s = RedisSentinel::start();
    s.wait_replica_known();
    let servers = RedisServers::Sentinel(SentinelServers {
        master: SENTINEL_MASTER.into(),
        urls: vec![s.sentinel.url()],
        password: Some(MASTER_PASSWORD.into()),
        ..Default::default()
    });
    let mut one = options(servers.clone(), "w");
    one.wait_replicas = 1;
    let store = RedisStore::open(&one, cipher()).unwrap();
    let b = binding("w@d", "tokW", Some(HA1));
    assert!(store.upsert(&b).unwrap());
    let mut r = super::harness::client(s.replica.port, Some(MASTER_PASSWORD));
    let on_replica: i64 = ::redis::cmd("HLEN")
        .arg("w:{w@d}:devices")
        .query(&mut r)
        .unwrap();
    assert_eq!(on_replica, 1, "on the replica when upsert returned");

    let mut two = options(servers, "w");
    two.wait_replicas = 2;
    let store2 = RedisStore::open(&two, cipher()).unwrap();
    let started = Instant::now();
    let e = store2.upsert(&binding("w@d", "tokW2", None)).unwrap_err();
    assert!(e.to_string().contains("reached 1 of 2 replica(s)"), "{e}");
    assert!(started.elapsed() < TIMEOUT * 3, "{:?}", started.elapsed());
    assert_eq!(store2.user("w@d").unwrap().len(), 2, "kept on the master");
    assert!(store.remove("w@d", &b.device).unwrap());
}

/// A CA and a certificate for 127.0.0.1 signed by it, as PEM files in
/// `dir`: (ca, cert, key).
fn test_ca(
    dir: &std::path::Path,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("sipwake redis test CA {name}"),
    );
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let write = |file: &str, text: String| {
        let p = dir.join(format!("{name}-{file}"));
        std::fs::write(&p, text).unwrap();
        p
    };
    (
        write("ca.pem", ca.pem()),
        write("cert.pem", cert.pem()),
        write("key.pem", key.serialize_pem()),
    )
}

/// `rediss://`: the store talks TLS to a server whose certificate the
/// configured CA signed; with another CA it refuses to connect.
#[test]
fn rediss_with_the_configured_ca() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_ca(dir.path(), "good");
    let (other_ca, _, _) = test_ca(dir.path(), "other");
    let tls_port = super::harness::free_port().to_string();
    let server = RedisProcess::start(&[
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        cert.to_str().unwrap(),
        "--tls-key-file",
        key.to_str().unwrap(),
        "--tls-ca-cert-file",
        ca.to_str().unwrap(),
        "--tls-auth-clients",
        "no",
    ]);
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let mut opts = options(urls(vec![url.clone()]), "tls");
    opts.tls_ca = Some(std::fs::read(&ca).unwrap());
    let store = RedisStore::open(&opts, cipher()).unwrap();
    let b = binding("t@d", "tokTls", Some(HA1));
    assert!(store.upsert(&b).unwrap());
    assert_eq!(store.get("t@d", &b.device).unwrap(), Some(b));
    // The data went over TLS to this server (the plain port has it too).
    let n: i64 = ::redis::cmd("HLEN")
        .arg("tls:{t@d}:devices")
        .query(&mut raw(server.port))
        .unwrap();
    assert_eq!(n, 1);

    let mut wrong = options(urls(vec![url]), "tls");
    wrong.tls_ca = Some(std::fs::read(&other_ca).unwrap());
    let e = RedisStore::open(&wrong, cipher()).unwrap_err();
    assert!(matches!(e, StoreError::Redis { .. }), "{e}");
}

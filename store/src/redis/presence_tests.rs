//! Cluster coordination against real servers: exactly one winner among
//! concurrent claims, live locations that only their writer clears, the
//! generation that moves on every change, heartbeats that expire, and a
//! subscription that survives its connection being killed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use super::harness::{RedisCluster, RedisProcess, bulk_reply, wait_until};
use super::*;
use crate::conformance::cipher;

fn presence(servers: RedisServers, prefix: &str) -> Presence {
    RedisStore::open(
        &RedisOptions {
            servers,
            prefix: prefix.into(),
            timeout: Duration::from_millis(800),
            wait_replicas: 0,
            tls_ca: None,
        },
        cipher(),
    )
    .unwrap()
    .presence()
}

fn loc(node: &str, token: &str) -> Location {
    Location {
        node: node.into(),
        boot: "b1".into(),
        sip: format!("sip:{node}.internal:5060"),
        token: token.into(),
        at: 1,
    }
}

/// N gateways (threads, each with its own connection pool) claim one held
/// request at the same instant: exactly one wins.
fn one_winner(servers: RedisServers, prefix: &str) {
    const N: usize = 16;
    for round in 0..5 {
        let barrier = Arc::new(Barrier::new(N));
        let wins: Vec<bool> = (0..N)
            .map(|i| {
                let p = presence(servers.clone(), prefix);
                let b = barrier.clone();
                std::thread::spawn(move || {
                    b.wait();
                    p.claim(
                        "alice@d",
                        &format!("call{round}|dev"),
                        &format!("n{i}"),
                        Duration::from_secs(30),
                    )
                    .unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert_eq!(
            wins.iter().filter(|w| **w).count(),
            1,
            "round {round}: {wins:?}"
        );
        let winner = wins.iter().position(|w| *w).unwrap();
        let p = presence(servers.clone(), prefix);
        assert_eq!(
            p.claimant("alice@d", &format!("call{round}|dev")).unwrap(),
            Some(format!("n{winner}"))
        );
    }
}

#[test]
fn concurrent_claims_have_exactly_one_winner() {
    let server = RedisProcess::start(&[]);
    one_winner(RedisServers::Urls(vec![server.url()]), "c");
}

#[test]
fn live_locations_generation_and_heartbeats() {
    let server = RedisProcess::start(&[]);
    let p = presence(RedisServers::Urls(vec![server.url()]), "p");
    assert_eq!(p.live("bob@d").unwrap(), (0, vec![]));
    let on_b = loc("b", "tokB");
    let g1 = p.set_live("bob@d", "urn:uuid:1", &on_b).unwrap();
    assert_eq!(p.generation("bob@d").unwrap(), g1);
    assert_eq!(
        p.live("bob@d").unwrap(),
        (g1, vec![("urn:uuid:1".into(), on_b.clone())])
    );
    // The device moved to gateway c: b's late "flow closed" must not
    // erase c's entry.
    let on_c = loc("c", "tokC");
    let g2 = p.set_live("bob@d", "urn:uuid:1", &on_c).unwrap();
    assert!(g2 > g1);
    assert!(!p.clear_live("bob@d", "urn:uuid:1", &on_b).unwrap());
    assert_eq!(
        p.live("bob@d").unwrap().1,
        vec![("urn:uuid:1".into(), on_c.clone())]
    );
    assert!(p.clear_live("bob@d", "urn:uuid:1", &on_c).unwrap());
    let (g3, list) = p.live("bob@d").unwrap();
    assert!(g3 > g2 && list.is_empty());
    // Keys are hash-tagged by AOR.
    let keys = bulk_reply(server.port, &["KEYS", "p:*"]);
    assert!(keys.contains("p:{bob@d}:gen"), "{keys}");

    let node = NodeInfo {
        id: "n1".into(),
        boot: "b".into(),
        sip: "sip:10.0.0.1".into(),
        started_at: 1,
        seen_at: 2,
        flows: 3,
        holding: 0,
    };
    p.heartbeat(&node, Duration::from_millis(300)).unwrap();
    assert_eq!(p.nodes().unwrap(), vec![node.clone()]);
    wait_until(Duration::from_secs(5), "the heartbeat to expire", || {
        p.nodes().unwrap().is_empty()
    });
    p.heartbeat(&node, Duration::from_secs(30)).unwrap();
    p.leave("n1").unwrap();
    assert!(p.nodes().unwrap().is_empty());
}

/// Collects what a subscription reports, on its own thread.
struct Listener {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<PresenceEvent>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    fn start(p: Presence) -> Listener {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, v) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            p.subscribe(&s, Duration::from_millis(50), |e| v.lock().unwrap().push(e))
        });
        Listener {
            stop,
            seen,
            thread: Some(thread),
        }
    }
    fn count(&self, e: &PresenceEvent) -> usize {
        self.seen.lock().unwrap().iter().filter(|x| *x == e).count()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn notified_and_resubscribed(servers: RedisServers, kill_ports: &[u16]) {
    let p = presence(servers, "s");
    let l = Listener::start(p.clone());
    wait_until(Duration::from_secs(5), "the subscription", || {
        l.count(&PresenceEvent::Resync) == 1
    });
    p.set_live("carol@d", "i", &loc("a", "t")).unwrap();
    let changed = PresenceEvent::Changed("carol@d".into());
    wait_until(Duration::from_secs(5), "the notification", || {
        l.count(&changed) == 1
    });
    // The subscriber's connection is killed: it comes back and says so.
    for port in kill_ports {
        bulk_reply(*port, &["CLIENT", "KILL", "TYPE", "pubsub"]);
    }
    wait_until(Duration::from_secs(10), "a resubscription", || {
        l.count(&PresenceEvent::Resync) >= 2
    });
    p.set_live("carol@d", "i", &loc("b", "t")).unwrap();
    wait_until(Duration::from_secs(5), "a notification after it", || {
        l.count(&changed) >= 2
    });
}

#[test]
fn subscription_survives_a_killed_connection() {
    let server = RedisProcess::start(&[]);
    notified_and_resubscribed(RedisServers::Urls(vec![server.url()]), &[server.port]);
}

#[test]
fn coordination_on_a_three_node_cluster() {
    let cluster = RedisCluster::start();
    let servers = RedisServers::Urls(cluster.urls());
    one_winner(servers.clone(), "cc");
    let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
    notified_and_resubscribed(servers, &ports);
}

#[test]
fn keeper_leases_change_only_by_compare_and_set() {
    let server = RedisProcess::start(&[]);
    let p = presence(RedisServers::Urls(vec![server.url()]), "k");
    assert_eq!(p.lease("bob@d", "dev").unwrap(), None);
    let first = KeeperLease {
        node: "n1".into(),
        boot: "b".into(),
        epoch: 1,
        call_id: "kp-1".into(),
        from_tag: "t".into(),
        cseq: 4,
    };
    assert!(p.swap_lease("bob@d", "dev", None, &first).unwrap());
    assert!(
        !p.swap_lease("bob@d", "dev", None, &first).unwrap(),
        "exists"
    );
    let (raw, read) = p.lease("bob@d", "dev").unwrap().unwrap();
    assert_eq!(read, first);
    // Two nodes take over the same lease: the second CAS loses.
    let n2 = KeeperLease {
        node: "n2".into(),
        epoch: 2,
        ..first.clone()
    };
    let n3 = KeeperLease {
        node: "n3".into(),
        epoch: 2,
        ..first.clone()
    };
    assert!(p.swap_lease("bob@d", "dev", Some(&raw), &n2).unwrap());
    assert!(!p.swap_lease("bob@d", "dev", Some(&raw), &n3).unwrap());
    assert_eq!(p.lease("bob@d", "dev").unwrap().unwrap().1, n2);
}

//! Smoke runs of every benchmark with tiny counts (seconds), so the tools
//! cannot rot: both proxies measured, non-zero registrations, zero failures,
//! held clients receive calls, pushes delivered, the report renders.
//! Needs Kamailio and the sipwake binary (scripts/test-bench.sh provides them).

use sipwake_bench::agent::Transport;
use sipwake_bench::compare::{self, Config};
use sipwake_bench::report;
use sipwake_bench::targets::Kind;

// Ignored in the workspace-wide `cargo test` (no Kamailio there);
// scripts/test-bench.sh runs it with `--include-ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kamailio and the sipwake binary: run scripts/test-bench.sh"]
async fn compare_smoke_measures_both_proxies() {
    let cfg = Config::smoke();
    let o = compare::run(cfg.clone(), |l| eprintln!("{l}"))
        .await
        .expect("comparison runs");
    assert_eq!(o.systems.len(), 2);
    for sys in &o.systems {
        let name = sys.kind.name();
        assert_eq!(
            sys.rates.len(),
            cfg.transports.len() * cfg.concurrency.len(),
            "{name}: one rate run per transport and concurrency"
        );
        for r in &sys.rates {
            assert_eq!(
                r.failures, 0,
                "{name} {:?}: {:?}",
                r.transport, r.first_error
            );
            assert_eq!(r.ok, cfg.registrations, "{name} {:?}", r.transport);
            // Each registration is challenged once: two REGISTER requests.
            assert_eq!(r.requests, 2 * r.ok);
            assert_eq!(r.latency.len(), r.requests);
            assert!(r.proxy_cpu_secs >= 0.0);
        }
        for h in &sys.holds {
            assert_eq!(h.failures, 0, "{name} hold: {:?}", h.first_error);
            assert_eq!(h.registered, h.clients, "{name} hold");
            assert_eq!(h.reregistered, h.clients, "{name} re-register");
            assert!(h.pss_after > 0, "{name}: memory read from /proc");
            assert_eq!(
                h.calls.answered, cfg.calls,
                "{name}: calls reach held clients: {:?}",
                h.calls.first_error
            );
        }
    }
    for p in &o.push {
        assert_eq!(p.failures, 0, "{}: {:?}", p.provider, p.first_error);
        assert_eq!(p.delivered, cfg.pushes);
        assert!(p.connections >= 1);
    }
    let w = o.wake.as_ref().expect("wake run");
    assert_eq!(w.calls, cfg.wakes, "{:?}", w.first_error);
    assert_eq!(w.pushed, w.calls, "one push per call: {:?}", w.first_error);
    assert_eq!(
        w.answered, w.calls,
        "woken apps answer: {:?}",
        w.first_error
    );
    assert_eq!(w.duplicates, 0, "exactly once per device");
    assert_eq!(w.register_to_invite.len(), w.calls);
    let api = o.api_push.as_ref().expect("API push run");
    assert_eq!(api.failures, 0, "{:?}", api.first_error);
    assert_eq!(api.delivered, cfg.api_pushes, "{:?}", api.first_error);
    assert!(api.first_error.is_none(), "{:?}", api.first_error);
    let md = report::markdown(
        &o,
        "test machine",
        "sipwake-bench compare",
        "## Notes\n\nnone",
    );
    for t in [Transport::Udp, Transport::Ws] {
        assert!(
            md.contains(&format!(
                "| {} registrations/s at zero failures |",
                t.name()
            )),
            "{md}"
        );
    }
    assert!(md.contains("| kamailio | UDP | 4 | 40 | 0 |"), "{md}");
    assert!(md.contains("| sipwake | WS | 4 | 40 | 0 |"), "{md}");
    assert!(md.contains("## Wake-up of sleeping WebSocket apps"), "{md}");
    assert!(
        md.contains("| re-REGISTER → held INVITE forwarded p99 | — | "),
        "{md}"
    );
    assert!(md.contains("pushes/s through POST /api/v1/push"), "{md}");
    assert!(md.ends_with("none\n"));
    let k = o.systems.iter().find(|s| s.kind == Kind::Kamailio).unwrap();
    assert!(report::summarize(k, Transport::Udp).unwrap().best_rate > 0.0);
}

/// The cluster run with tiny counts: three systems measured without a
/// failure, every cross-node wake delivered once, a Redis memory figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kamailio, redis-server and the sipwake binary: run scripts/test-bench.sh"]
async fn cluster_smoke_measures_stores_wake_and_memory() {
    let cfg = sipwake_bench::cluster::Config::smoke();
    let o = sipwake_bench::cluster::run(cfg.clone(), |l| eprintln!("{l}"))
        .await
        .expect("cluster run");
    let labels: Vec<&str> = o.rates.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["kamailio", "sipwake sqlite", "sipwake redis"]);
    for (label, r) in &o.rates {
        assert_eq!(r.failures, 0, "{label}: {:?}", r.first_error);
        assert_eq!(r.ok, cfg.registrations, "{label}");
        assert!(r.proxy_cpu_secs > 0.0, "{label}: CPU read from /proc");
    }
    let w = &o.wake;
    assert_eq!(w.calls, cfg.wakes, "{:?}", w.first_error);
    assert_eq!(w.delivered, w.calls, "{:?}", w.first_error);
    assert_eq!(w.duplicates, 0);
    let forwarded = w
        .server_wake_stats
        .as_ref()
        .and_then(|s| s["forwarded_to_node"].as_u64());
    assert_eq!(
        forwarded,
        Some(cfg.wakes as u64),
        "every call went from gateway 1 to gateway 2: {:?}",
        w.server_wake_stats
    );
    assert!(o.memory.per_binding() > 100.0, "{:?}", o.memory);
    let md = sipwake_bench::cluster::render(&o);
    assert!(md.contains("| sipwake redis |"), "{md}");
}

//! The cluster benchmarks (issue 11), one run, side by side:
//!
//! - REGISTER rate and CPU per forwarded REGISTER through sipwake with its
//!   binding store on SQLite and on Redis (both storing a real push
//!   binding per REGISTER: the FCM mock is configured, so `X-MPUSH` is
//!   taken), and through the Kamailio front proxy, UDP, same upstream;
//! - cross-node wake: apps fall asleep on gateway 1 (which holds the call
//!   and pushes) and wake on gateway 2; the app's authenticated REGISTER
//!   sent → the held INVITE received on its new connection;
//! - Redis memory per binding (`INFO memory` used_memory before / after
//!   writing N bindings through the store), extrapolated to a million.
//!
//! Redis runs with `appendonly yes`, `appendfsync always`: every write is
//! on disk before it is acknowledged, like SQLite's `synchronous = FULL`.

use std::fmt::Write;
use std::time::{Duration, Instant};

use sipwake_core::mpush::{Provider, PushEnv};
use sipwake_mocks::fcm::FcmMock;
use sipwake_store::redis::harness::{RedisProcess, bulk_reply};
use sipwake_store::{
    Binding, BindingSource, BindingStore, PiidCipher, PushTarget, RedisOptions, RedisServers,
    RedisStore, Upstream, device_key,
};

use crate::Error;
use crate::agent::Transport;
use crate::load::{self, RateResult};
use crate::targets::{self, Front, Kind};
use crate::wake::{self, WakeResult};

/// The same X-PIID key on every gateway of a cluster run.
const STORE_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

#[derive(Debug, Clone)]
pub struct Config {
    pub users: usize,
    pub registrations: usize,
    pub concurrency: usize,
    pub wakes: usize,
    pub wake_concurrency: usize,
    /// Bindings written for the memory figure.
    pub bindings: usize,
    pub phase_time: Duration,
}

impl Config {
    pub fn smoke() -> Self {
        Config {
            users: 40,
            registrations: 200,
            concurrency: 8,
            wakes: 4,
            wake_concurrency: 2,
            bindings: 2_000,
            phase_time: Duration::from_secs(60),
        }
    }

    pub fn full() -> Self {
        Config {
            users: 1_000,
            registrations: 20_000,
            concurrency: 32,
            wakes: 200,
            wake_concurrency: 8,
            bindings: 100_000,
            phase_time: Duration::from_secs(180),
        }
    }
}

/// Redis memory for N bindings.
#[derive(Debug, Clone)]
pub struct Memory {
    pub bindings: usize,
    pub used_before: u64,
    pub used_after: u64,
}

impl Memory {
    pub fn per_binding(&self) -> f64 {
        self.used_after.saturating_sub(self.used_before) as f64 / self.bindings.max(1) as f64
    }
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub config: Config,
    /// ("kamailio" | "sipwake sqlite" | "sipwake redis", UDP rate run).
    pub rates: Vec<(String, RateResult)>,
    pub wake: WakeResult,
    pub memory: Memory,
    pub elapsed: Duration,
}

fn redis() -> RedisProcess {
    RedisProcess::start(&["--appendonly", "yes", "--appendfsync", "always"])
}

/// `[store]` on `url`; with `node`, `[cluster]` too.
fn redis_sections(url: &str, node: Option<&str>) -> String {
    let mut s = format!(
        "\n[store]\nbackend = \"redis\"\nredis_urls = [\"{url}\"]\nkey = \"{STORE_KEY}\"\n"
    );
    if let Some(n) = node {
        let _ = write!(
            s,
            "\n[cluster]\nenabled = true\nnode_id = \"{n}\"\nheartbeat_ms = 200\npoll_ms = 200\n"
        );
    }
    s
}

pub async fn run(cfg: Config, progress: impl Fn(&str)) -> Result<Outcome, Error> {
    let started = Instant::now();
    let upstream = targets::start_upstream(cfg.users)?;
    let up = upstream.addr();
    let dir = tempfile::Builder::new()
        .prefix("sipwake-bench-cluster-")
        .tempdir()
        .map_err(|e| Error::io("temp dir", e))?;
    let fcm = FcmMock::start("bench-cluster")
        .await
        .map_err(|e| Error::Push(format!("fcm mock: {e}")))?;
    let push = wake::push_config(&fcm, dir.path())?;
    let store_redis = redis();

    let mut rates = Vec::new();
    for label in ["kamailio", "sipwake sqlite", "sipwake redis"] {
        load::clear_bindings(up, cfg.users).await?;
        let mut front = match label {
            "kamailio" => Front::start(Kind::Kamailio, upstream.port)?,
            "sipwake sqlite" => Front::sipwake_with(upstream.port, &push)?,
            _ => Front::sipwake_with(
                upstream.port,
                &format!("{push}{}", redis_sections(&store_redis.url(), None)),
            )?,
        };
        let pgid = front.pgid();
        let r = load::rate(
            Transport::Udp,
            front.udp,
            cfg.concurrency,
            cfg.registrations,
            cfg.users,
            cfg.phase_time,
            || crate::procfs::group_cpu_secs(pgid),
        )
        .await?;
        front.check_alive()?;
        progress(&format!("{label} udp {}", r.summary()));
        rates.push((label.to_owned(), r));
    }

    load::clear_bindings(up, cfg.users).await?;
    let wake_redis = redis();
    let url = wake_redis.url();
    let sections = move |node: &str| redis_sections(&url, Some(node));
    let wake = wake::run_across(
        upstream.port,
        cfg.wakes.min(cfg.users),
        cfg.wake_concurrency,
        cfg.phase_time,
        Some(&sections),
    )
    .await?;
    progress(&format!("cross-node wake: {}", wake.summary()));
    drop(upstream);

    let memory = memory_per_binding(cfg.bindings)?;
    progress(&format!(
        "redis memory: {} bindings, {:.0} B per binding",
        memory.bindings,
        memory.per_binding()
    ));
    Ok(Outcome {
        config: cfg,
        rates,
        wake,
        memory,
        elapsed: started.elapsed(),
    })
}

fn used_memory(port: u16) -> Result<u64, Error> {
    let info = bulk_reply(port, &["INFO", "memory"]);
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| Error::Setup(format!("INFO memory without used_memory: {info}")))
}

/// A binding as an app's REGISTER stores it: FCM token, instance, X-PIID.
fn binding(i: usize) -> Binding {
    let token = format!("fcm-{i:08}-{}", "x".repeat(140));
    let instance = format!("<urn:uuid:00000000-0000-4000-8000-{i:012}>");
    Binding {
        aor: format!("sip:user{i}@sipwake.test"),
        device: device_key(Some(&instance), None, Provider::AndroidFcm, &token),
        push: PushTarget {
            provider: Provider::AndroidFcm,
            env: PushEnv::Default,
            package: wake::PACKAGE.into(),
            token,
        },
        source: BindingSource::Mpush,
        contact: format!("<sip:user{i}@df7jal23ls0d.invalid;transport=ws>"),
        auth_user: Some(format!("user{i}")),
        piid: Some(sipwake_store::Piid::new(format!(
            "{:032x}",
            i as u128 * 7919
        ))),
        upstream: Upstream::default(),
        user_agent: Some("JsSIP 3.10.1".into()),
        created_at: 1_700_000_000,
        last_seen: 1_700_000_000,
        upstream_expires_at: Some(1_700_003_600),
        app_expires: Some(600),
        push_failures: 0,
    }
}

fn memory_per_binding(n: usize) -> Result<Memory, Error> {
    let r = redis();
    let key = sipwake_store::parse_key(STORE_KEY).map_err(Error::Setup)?;
    let store = RedisStore::open(
        &RedisOptions {
            servers: RedisServers::Urls(vec![r.url()]),
            prefix: "sipwake".into(),
            timeout: Duration::from_secs(5),
            wait_replicas: 0,
            tls_ca: None,
        },
        PiidCipher::new(key),
    )
    .map_err(|e| Error::Setup(e.to_string()))?;
    let used_before = used_memory(r.port)?;
    for i in 0..n {
        store
            .upsert(&binding(i))
            .map_err(|e| Error::Setup(format!("binding {i}: {e}")))?;
    }
    Ok(Memory {
        bindings: n,
        used_before,
        used_after: used_memory(r.port)?,
    })
}

/// The run as Markdown.
pub fn render(o: &Outcome) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Cluster: Redis store, cross-node wake, Redis memory\n\n\
         UDP, {} registrations of {} users at concurrency {} per system; every \
         sipwake REGISTER stores an FCM push binding. Redis: appendonly yes, \
         appendfsync always. Elapsed {:.0} s.\n",
        o.config.registrations,
        o.config.users,
        o.config.concurrency,
        o.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "| system | reg/s | CPU-s per 10k REGISTER | p50 ms | p99 ms | failures |\n|---|---|---|---|---|---|"
    );
    for (label, r) in &o.rates {
        let _ = writeln!(
            s,
            "| {label} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
            r.registrations_per_sec(),
            r.cpu_per_10k_requests(),
            r.latency.ms(50.0),
            r.latency.ms(99.0),
            r.failures
        );
    }
    let get = |l: &str| o.rates.iter().find(|(x, _)| x == l).map(|(_, r)| r);
    if let (Some(sq), Some(rd), Some(k)) =
        (get("sipwake sqlite"), get("sipwake redis"), get("kamailio"))
    {
        let _ = writeln!(
            s,
            "\nRatios: Redis store / SQLite store REGISTER rate {:.2}× (goal ≥ 0.8×); \
             CPU per REGISTER, Redis store / Kamailio {:.2}×, SQLite store / Kamailio {:.2}×.\n",
            rd.registrations_per_sec() / sq.registrations_per_sec().max(1e-9),
            rd.cpu_per_10k_requests() / k.cpu_per_10k_requests().max(1e-9),
            sq.cpu_per_10k_requests() / k.cpu_per_10k_requests().max(1e-9),
        );
    }
    let w = &o.wake;
    let _ = writeln!(
        s,
        "Cross-node wake ({} calls, asleep on gateway 1, woken on gateway 2): \
         {} delivered, {} duplicates; authenticated REGISTER → held INVITE p50 {:.2} ms, \
         p99 {:.2} ms (goal p99 ≤ 10 ms); push → INVITE p50 {:.2} ms.\n",
        w.calls,
        w.delivered,
        w.duplicates,
        w.register_to_invite.ms(50.0),
        w.register_to_invite.ms(99.0),
        w.push_to_invite.ms(50.0),
    );
    let m = &o.memory;
    let _ = writeln!(
        s,
        "Redis memory: {} bindings took {} B (used_memory {} → {}): {:.0} B per binding \
         (goal ≤ 1024 B), {:.0} MB for a million.",
        m.bindings,
        m.used_after.saturating_sub(m.used_before),
        m.used_before,
        m.used_after,
        m.per_binding(),
        m.per_binding()
    );
    s
}

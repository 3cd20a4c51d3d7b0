//! The side-by-side run: one upstream Kamailio, then each front proxy
//! (Kamailio, sipwake) in turn under identical load, then the push run.

use std::time::{Duration, Instant};

use crate::Error;
use crate::agent::Transport;
use crate::load::{self, Hold, HoldResult, RateResult};
use crate::push::{self, PushResult};
use crate::targets::{self, Front, Kind};
use crate::wake::{self, WakeResult};

/// Quiet time before the held clients' memory is read (see `Hold::idle_wait`).
pub const IDLE_WAIT: Duration = Duration::from_secs(6);

/// How big the run is. `smoke()` takes seconds; `full()` is the manual run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Users at the upstream (bounded by its config memory: ≤ 2,000).
    pub users: usize,
    /// Registrations per rate run.
    pub registrations: usize,
    /// Concurrent agents, one rate run each.
    pub concurrency: Vec<usize>,
    pub transports: Vec<Transport>,
    /// Held WebSocket client counts, one run each (fresh proxy per run).
    pub holds: Vec<usize>,
    /// Registrations in flight while held clients connect / re-register.
    pub hold_in_flight: usize,
    /// Calls to held users per hold run.
    pub calls: usize,
    pub pushes: usize,
    pub push_concurrency: usize,
    /// Sleeping apps called in the wake run (sipwake only), and how many
    /// calls are in flight.
    pub wakes: usize,
    pub wake_concurrency: usize,
    /// Pushes through sipwake's `POST /api/v1/push` (sipwake only).
    pub api_pushes: usize,
    /// Upper bound of each phase.
    pub phase_time: Duration,
}

impl Config {
    pub fn smoke() -> Self {
        Self {
            users: 20,
            registrations: 40,
            concurrency: vec![4],
            transports: vec![Transport::Udp, Transport::Ws],
            holds: vec![20],
            hold_in_flight: 8,
            calls: 3,
            pushes: 200,
            push_concurrency: 32,
            wakes: 4,
            wake_concurrency: 2,
            api_pushes: 100,
            phase_time: Duration::from_secs(20),
        }
    }

    pub fn full() -> Self {
        Self {
            users: 1000,
            registrations: 20_000,
            concurrency: vec![16, 64],
            transports: vec![Transport::Udp, Transport::Ws],
            holds: vec![10_000, 50_000],
            hold_in_flight: 64,
            calls: 200,
            pushes: 50_000,
            push_concurrency: 256,
            wakes: 500,
            wake_concurrency: 8,
            api_pushes: 20_000,
            phase_time: Duration::from_secs(180),
        }
    }
}

/// Everything measured for one front proxy.
#[derive(Debug, Clone)]
pub struct SystemResult {
    pub kind: Kind,
    pub rates: Vec<RateResult>,
    pub holds: Vec<HoldResult>,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub config: Config,
    pub systems: Vec<SystemResult>,
    pub push: Vec<PushResult>,
    pub wake: Option<WakeResult>,
    pub api_push: Option<PushResult>,
    pub elapsed: Duration,
    pub loadavg_before: String,
    pub loadavg_after: String,
}

/// Runs the whole comparison; `progress` gets one line per finished phase.
pub async fn run(cfg: Config, progress: impl Fn(&str)) -> Result<Outcome, Error> {
    let started = Instant::now();
    let loadavg_before = loadavg();
    let upstream = targets::start_upstream(cfg.users)?;
    let up_addr = upstream.addr();
    let mut systems = Vec::new();
    for kind in [Kind::Kamailio, Kind::Sipwake] {
        let mut sys = SystemResult {
            kind,
            rates: Vec::new(),
            holds: Vec::new(),
        };
        let mut front = Front::start(kind, upstream.port)?;
        for &t in &cfg.transports {
            for &c in &cfg.concurrency {
                load::clear_bindings(up_addr, cfg.users).await?;
                let target = match t {
                    Transport::Udp => front.udp,
                    Transport::Ws => front.ws,
                };
                let pgid = front.pgid();
                let r = load::rate(
                    t,
                    target,
                    c,
                    cfg.registrations,
                    cfg.users,
                    cfg.phase_time,
                    || crate::procfs::group_cpu_secs(pgid),
                )
                .await?;
                front.check_alive()?;
                progress(&format!("{} {} {}", kind.name(), t.name(), r.summary()));
                sys.rates.push(r);
            }
        }
        drop(front);
        for &n in &cfg.holds {
            load::clear_bindings(up_addr, cfg.users).await?;
            let mut front = Front::start(kind, upstream.port)?;
            let pgid = front.pgid();
            let h = load::hold(
                Hold {
                    target: front.ws,
                    clients: n,
                    users: cfg.users,
                    in_flight: cfg.hold_in_flight,
                    max_time: cfg.phase_time,
                    calls: cfg.calls,
                    upstream: up_addr,
                    idle_wait: IDLE_WAIT,
                },
                || crate::procfs::group_pss_bytes(pgid),
            )
            .await?;
            front.check_alive()?;
            progress(&format!(
                "{} hold {n} WS: {} registered, {} failed, {:.0} B/client, re-register p99 {:.2} ms, calls {}/{} p99 {:.2} ms{}",
                kind.name(),
                h.registered,
                h.failures + h.rereg_failures,
                h.bytes_per_client(),
                h.rereg_latency.ms(99.0),
                h.calls.answered,
                h.calls.placed,
                h.calls.latency.ms(99.0),
                h.first_error
                    .as_deref()
                    .or(h.calls.first_error.as_deref())
                    .map(|e| format!(" (first error: {e})"))
                    .unwrap_or_default()
            ));
            sys.holds.push(h);
            drop(front);
        }
        systems.push(sys);
    }
    // Wake-up and API pushes: sipwake only (Kamailio has no push).
    load::clear_bindings(up_addr, cfg.users).await?;
    let wake = if cfg.wakes > 0 {
        let w = wake::run(
            upstream.port,
            cfg.wakes.min(cfg.users),
            cfg.wake_concurrency,
            cfg.phase_time,
        )
        .await?;
        progress(&format!("sipwake wake: {}", w.summary()));
        Some(w)
    } else {
        None
    };
    let api_push = if cfg.api_pushes > 0 {
        let p = push::through_api(
            upstream.port,
            cfg.api_pushes,
            cfg.push_concurrency,
            cfg.phase_time,
        )
        .await?;
        progress(&format!(
            "sipwake POST /api/v1/push: {} delivered, {} failed, {:.0} pushes/s, p50 {:.2} ms p99 {:.2} ms{}",
            p.delivered,
            p.failures,
            p.per_sec(),
            p.latency.ms(50.0),
            p.latency.ms(99.0),
            p.first_error
                .as_deref()
                .map(|e| format!(" (first error: {e})"))
                .unwrap_or_default()
        ));
        Some(p)
    } else {
        None
    };
    drop(upstream);
    let push = push::run(cfg.pushes, cfg.push_concurrency, cfg.phase_time).await?;
    for p in &push {
        progress(&format!(
            "push {}: {} delivered, {} failed, {:.0} pushes/s, p50 {:.2} ms p99 {:.2} ms, {} connection(s)",
            p.provider,
            p.delivered,
            p.failures,
            p.per_sec(),
            p.latency.ms(50.0),
            p.latency.ms(99.0),
            p.connections
        ));
    }
    Ok(Outcome {
        config: cfg,
        systems,
        push,
        wake,
        api_push,
        elapsed: started.elapsed(),
        loadavg_before,
        loadavg_after: loadavg(),
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

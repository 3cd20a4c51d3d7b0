//! `sipwake-bench`: see bench/README.md. Every run is bounded in count and
//! time and targets loopback addresses only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use sipwake_bench::agent::Transport;
use sipwake_bench::{Error, cluster, compare, load, push, report, wake};

#[derive(Parser)]
#[command(about = "Load tool for sipwake and the side-by-side comparison with Kamailio")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Size {
    Smoke,
    Full,
}

#[derive(Clone, Copy, ValueEnum)]
enum Tr {
    Udp,
    Ws,
}

#[derive(Subcommand)]
enum Cmd {
    /// Upstream Kamailio + Kamailio front proxy vs sipwake, then pushes; writes a report.
    Compare {
        #[arg(long, value_enum, default_value = "smoke")]
        size: Size,
        /// Where to write the Markdown report.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override: registrations per rate run.
        #[arg(long)]
        registrations: Option<usize>,
        /// Override: held client counts, comma-separated.
        #[arg(long, value_delimiter = ',')]
        holds: Option<Vec<usize>>,
        /// Override: concurrency levels, comma-separated.
        #[arg(long, value_delimiter = ',')]
        concurrency: Option<Vec<usize>>,
        /// Override: pushes per provider.
        #[arg(long)]
        pushes: Option<usize>,
        /// Override: sleeping apps called in the wake run (0 = skip).
        #[arg(long)]
        wakes: Option<usize>,
        /// Override: pushes through sipwake's POST /api/v1/push (0 = skip).
        #[arg(long)]
        api_pushes: Option<usize>,
        /// Markdown appended to the report (the closing analysis).
        #[arg(long)]
        notes: Option<PathBuf>,
        /// Text for the report's "Commands" section.
        #[arg(long, default_value = "")]
        commands: String,
    },
    /// Cluster run: REGISTER rate with the SQLite and the Redis store vs
    /// Kamailio, cross-node wake latency, Redis memory per binding.
    Cluster {
        #[arg(long, value_enum, default_value = "smoke")]
        size: Size,
        /// Where to write the Markdown section (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override: bindings written for the memory figure.
        #[arg(long)]
        bindings: Option<usize>,
    },
    /// Closed-loop REGISTER load against a running proxy (users b0..bN, password b<i>-pw).
    Rate {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, value_enum, default_value = "udp")]
        transport: Tr,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 1000)]
        registrations: usize,
        #[arg(long, default_value_t = 100)]
        users: usize,
        #[arg(long, default_value_t = 60)]
        max_secs: u64,
    },
    /// Sleeping WebSocket apps called through sipwake (own upstream and FCM mock).
    Wake {
        #[arg(long, default_value_t = 100)]
        n: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value_t = 120)]
        max_secs: u64,
    },
    /// Pushes through the sipwake-push dispatcher to the local FCM/APNs mocks.
    Push {
        #[arg(long, default_value_t = 10_000)]
        n: usize,
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        #[arg(long, default_value_t = 60)]
        max_secs: u64,
    },
}

fn main() -> ExitCode {
    raise_fd_limit();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.cmd)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ok(false) = the run completed but saw failures.
async fn run(cmd: Cmd) -> Result<bool, Error> {
    match cmd {
        Cmd::Compare {
            size,
            out,
            registrations,
            holds,
            concurrency,
            pushes,
            wakes,
            api_pushes,
            notes,
            commands,
        } => {
            let mut cfg = match size {
                Size::Smoke => compare::Config::smoke(),
                Size::Full => compare::Config::full(),
            };
            if let Some(r) = registrations {
                cfg.registrations = r;
            }
            if let Some(h) = holds {
                cfg.holds = h;
            }
            if let Some(c) = concurrency {
                cfg.concurrency = c;
            }
            if let Some(p) = pushes {
                cfg.pushes = p;
            }
            if let Some(w) = wakes {
                cfg.wakes = w;
            }
            if let Some(a) = api_pushes {
                cfg.api_pushes = a;
            }
            let o = compare::run(cfg, |line| eprintln!("{line}")).await?;
            let notes = match notes {
                Some(p) => std::fs::read_to_string(&p)
                    .map_err(|e| Error::io(format!("read {}", p.display()), e))?,
                None => String::new(),
            };
            let md = report::markdown(&o, &machine(), &commands, &notes);
            match out {
                Some(p) => std::fs::write(&p, &md)
                    .map_err(|e| Error::io(format!("write {}", p.display()), e))?,
                None => println!("{md}"),
            }
            let clean = o.systems.iter().all(|s| {
                s.rates.iter().all(|r| r.failures == 0 && r.ok > 0)
                    && s.holds
                        .iter()
                        .all(|h| h.failures == 0 && h.rereg_failures == 0)
            }) && o.push.iter().all(|p| p.failures == 0)
                && o.api_push
                    .as_ref()
                    .is_none_or(|p| p.failures == 0 && p.first_error.is_none())
                && o.wake.as_ref().is_none_or(wake_clean);
            Ok(clean)
        }
        Cmd::Cluster {
            size,
            out,
            bindings,
        } => {
            let mut cfg = match size {
                Size::Smoke => cluster::Config::smoke(),
                Size::Full => cluster::Config::full(),
            };
            if let Some(b) = bindings {
                cfg.bindings = b;
            }
            let o = cluster::run(cfg, |line| eprintln!("{line}")).await?;
            let md = cluster::render(&o);
            match out {
                Some(p) => std::fs::write(&p, &md)
                    .map_err(|e| Error::io(format!("write {}", p.display()), e))?,
                None => println!("{md}"),
            }
            Ok(o.rates.iter().all(|(_, r)| r.failures == 0 && r.ok > 0) && wake_clean(&o.wake))
        }
        Cmd::Rate {
            target,
            transport,
            concurrency,
            registrations,
            users,
            max_secs,
        } => {
            check_loopback(target)?;
            let t = match transport {
                Tr::Udp => Transport::Udp,
                Tr::Ws => Transport::Ws,
            };
            let r = load::rate(
                t,
                target,
                concurrency,
                registrations,
                users,
                Duration::from_secs(max_secs),
                || 0.0,
            )
            .await?;
            println!(
                "{} ok, {} failed, {:.0} registrations/s, REGISTER p50 {:.2} ms p99 {:.2} ms{}",
                r.ok,
                r.failures,
                r.registrations_per_sec(),
                r.latency.ms(50.0),
                r.latency.ms(99.0),
                r.first_error
                    .map(|e| format!(", first error: {e}"))
                    .unwrap_or_default()
            );
            Ok(r.failures == 0)
        }
        Cmd::Wake {
            n,
            concurrency,
            max_secs,
        } => {
            let upstream = sipwake_bench::targets::start_upstream(n.clamp(1, 2000))?;
            let w = wake::run(
                upstream.port,
                n.min(2000),
                concurrency,
                Duration::from_secs(max_secs),
            )
            .await?;
            println!("{}", w.summary());
            if let Some(s) = &w.server_wake_stats {
                println!("sipwake /api/v1/stats wake: {s}");
            }
            Ok(wake_clean(&w))
        }
        Cmd::Push {
            n,
            concurrency,
            max_secs,
        } => {
            let rs = push::run(n, concurrency, Duration::from_secs(max_secs)).await?;
            for r in &rs {
                println!(
                    "{}: {} delivered, {} failed, {:.0} pushes/s, p50 {:.2} ms p99 {:.2} ms, {} connection(s)",
                    r.provider,
                    r.delivered,
                    r.failures,
                    r.per_sec(),
                    r.latency.ms(50.0),
                    r.latency.ms(99.0),
                    r.connections
                );
            }
            Ok(rs.iter().all(|r| r.failures == 0))
        }
    }
}

/// Every call answered by its woken app, exactly once.
fn wake_clean(w: &wake::WakeResult) -> bool {
    w.calls > 0 && w.answered == w.calls && w.duplicates == 0
}

/// The network rule: load only ever goes to this machine's loopback.
fn check_loopback(a: SocketAddr) -> Result<(), Error> {
    if a.ip().is_loopback() {
        Ok(())
    } else {
        Err(Error::Setup(format!("{a} is not a loopback address")))
    }
}

/// Held connections need many descriptors; children (the proxies) inherit.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Machine description for the report, from /proc and the tools' versions.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let cmd = |c: &str, args: &[&str]| {
        std::process::Command::new(c)
            .args(args)
            .output()
            .ok()
            .map(|o| {
                let t = String::from_utf8_lossy(&o.stdout);
                t.lines().next().unwrap_or("").trim().to_string()
            })
            .unwrap_or_default()
    };
    let kamailio = sipwake_e2e::util::find_exe("kamailio")
        .map(|p| cmd(&p.display().to_string(), &["-v"]))
        .unwrap_or_default();
    let nofile = cmd("sh", &["-c", "ulimit -n"]);
    format!(
        "- CPU: {model}, {cores} cores available\n- {mem}\n- kernel: {}\n- OS: {}\n- Kamailio: {kamailio}\n- rustc: {}\n- open files limit: {nofile}\n- shared with other engineers' builds and tests during the run (see load average above)",
        cmd("uname", &["-sr"]),
        cmd("sh", &["-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        cmd("rustc", &["--version"]),
    )
}

//! The processes under test, on free loopback ports: the upstream registrar
//! (the e2e crate's Kamailio, digest auth, Path), and the two front proxies
//! in the same role: a Kamailio (bench/kamailio/front.cfg.tmpl) and sipwake.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sipwake_e2e::kamailio::Kamailio;
use sipwake_e2e::util::{self, ProcGuard};

use crate::Error;

const MODULES_DIR: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

/// The shared upstream: one instance for both proxies, so both forward to
/// exactly the same registrar.
pub fn start_upstream(users: usize) -> Result<Kamailio, Error> {
    let owned = crate::bench_users(users);
    let refs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(u, p)| (u.as_str(), p.as_str()))
        .collect();
    // Two UDP workers, as on the front proxy: the upstream is shared load.
    Ok(Kamailio::start_with_children(&refs, 2)?)
}

/// Which front proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Kamailio,
    Sipwake,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Kamailio => "kamailio",
            Kind::Sipwake => "sipwake",
        }
    }
}

/// A running front proxy. Its process group is what CPU and memory are read
/// from (Kamailio forks workers into it). Killed on drop.
pub struct Front {
    pub kind: Kind,
    /// SIP over UDP.
    pub udp: SocketAddr,
    /// HTTP listener with WebSocket SIP on `/ws`.
    pub ws: SocketAddr,
    proc: ProcGuard,
    _dir: tempfile::TempDir,
}

/// Limits for held connections (set in both proxies' configs).
pub const MAX_CONNECTIONS: u32 = 60_000;

impl Front {
    pub fn start(kind: Kind, upstream_port: u16) -> Result<Self, Error> {
        match kind {
            Kind::Kamailio => start_kamailio(upstream_port),
            Kind::Sipwake => start_sipwake(upstream_port, ""),
        }
    }

    /// sipwake with `extra` appended to its config (push providers, store,
    /// API tokens: what the wake and API-push runs need).
    pub fn sipwake_with(upstream_port: u16, extra: &str) -> Result<Self, Error> {
        start_sipwake(upstream_port, extra)
    }

    pub fn pgid(&self) -> u32 {
        self.proc.pid()
    }

    pub fn cpu_secs(&self) -> f64 {
        crate::procfs::group_cpu_secs(self.pgid())
    }

    pub fn pss_bytes(&self) -> u64 {
        crate::procfs::group_pss_bytes(self.pgid())
    }

    /// Fails with the log tail once the proxy has exited.
    pub fn check_alive(&mut self) -> Result<(), Error> {
        match self.proc.try_exit() {
            None => Ok(()),
            Some(code) => Err(Error::Setup(format!(
                "{} exited with {code}\n{}",
                self.kind.name(),
                util::tail(&self.proc.log(), 30)
            ))),
        }
    }

    pub fn log_tail(&self, n: usize) -> String {
        util::tail(&self.proc.log(), n)
    }
}

fn start_kamailio(upstream_port: u16) -> Result<Front, Error> {
    let dir = util::temp_dir("bench-kamailio")?;
    let port = util::free_port()?;
    let wsport = util::free_port()?;
    let tmpl_path = crate_dir().join("kamailio/front.cfg.tmpl");
    let tmpl = std::fs::read_to_string(&tmpl_path)
        .map_err(|e| Error::io(format!("read {}", tmpl_path.display()), e))?;
    let cfg = render(
        &tmpl,
        &[
            ("PORT", port.to_string()),
            ("WSPORT", wsport.to_string()),
            ("UPSTREAM_PORT", upstream_port.to_string()),
            ("MAXCONN", MAX_CONNECTIONS.to_string()),
            ("MAXFILES", fd_hard_limit().to_string()),
            ("MPATH", MODULES_DIR.to_string()),
        ],
    )?;
    let cfg_path = dir.path().join("front.cfg");
    std::fs::write(&cfg_path, cfg).map_err(|e| Error::io("write front.cfg", e))?;
    let mut cmd = Command::new(util::find_exe("kamailio")?);
    // Shared memory for many held WebSocket connections: each costs about
    // 90-100 kB there (measured), so 1.5 GB ran out near 16k connections.
    cmd.args(["-DD", "-E", "-m", "4096", "-M", "16", "-f"])
        .arg(&cfg_path)
        .arg("-Y")
        .arg(dir.path())
        .arg("-P")
        .arg(dir.path().join("kamailio.pid"));
    let mut proc = ProcGuard::spawn("kamailio-front", cmd, &dir.path().join("front.log"))?;
    let udp = util::loopback(port);
    wait_options(&mut proc, udp, Duration::from_secs(20))?;
    Ok(Front {
        kind: Kind::Kamailio,
        udp,
        ws: util::loopback(wsport),
        proc,
        _dir: dir,
    })
}

fn start_sipwake(upstream_port: u16, extra: &str) -> Result<Front, Error> {
    let dir = util::temp_dir("bench-sipwake")?;
    let sip = util::free_port()?;
    let http = util::free_port()?;
    let https = util::free_port()?;
    let tls = util::free_port()?;
    // Logging at warn: the e2e launcher runs at debug, which would cost a
    // line per message; Kamailio runs at debug=1 (errors/warnings) too.
    // No per-source limits: the load comes from 32 loopback addresses, and
    // the Kamailio front proxy in the comparison has none either.
    let cfg = format!(
        "data_dir = \"{data}\"\nlog = \"warn\"\n\n[sip]\nudp = [\"127.0.0.1:{sip}\"]\n\
         tcp = [\"127.0.0.1:{sip}\"]\ntls = [\"127.0.0.1:{tls}\"]\nadvertise = \"127.0.0.1\"\n\
         max_connections = {MAX_CONNECTIONS}\n\n[http]\nhttps = \"127.0.0.1:{https}\"\n\
         http = \"127.0.0.1:{http}\"\n\n[limits]\nflows_per_ip = 0\nconnections_per_sec = 0\nregisters_per_sec = 0\nbindings_per_aor = 0\n\n[upstream]\nserver = \"sip:127.0.0.1:{upstream_port};transport=udp\"\n{extra}",
        data = dir.path().join("data").display(),
    );
    let cfg_path = dir.path().join("sipwake.toml");
    std::fs::write(&cfg_path, cfg).map_err(|e| Error::io("write sipwake.toml", e))?;
    let mut cmd = Command::new(sipwake_e2e::gateway::binary()?);
    cmd.arg("--config")
        .arg(&cfg_path)
        .current_dir(dir.path())
        .env_remove("RUST_LOG");
    let mut proc = ProcGuard::spawn("sipwake", cmd, &dir.path().join("sipwake.log"))?;
    let http_addr = util::loopback(http);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(code) = proc.try_exit() {
            return Err(Error::Setup(format!(
                "sipwake exited with {code}\n{}",
                util::tail(&proc.log(), 30)
            )));
        }
        if let Ok((200, body)) = sipwake_e2e::gateway::http_get(http_addr, "/healthz")
            && body.trim() == "ok"
        {
            break;
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout("sipwake /healthz".into()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Front {
        kind: Kind::Sipwake,
        udp: util::loopback(sip),
        ws: http_addr,
        proc,
        _dir: dir,
    })
}

/// The hard RLIMIT_NOFILE: Kamailio may raise its soft limit up to it, not
/// beyond (raising the hard limit needs CAP_SYS_RESOURCE).
pub fn fd_hard_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_max
    } else {
        1024
    }
}

/// Replaces every `@@NAME@@`; an unknown placeholder left over is an error.
fn render(tmpl: &str, vars: &[(&str, String)]) -> Result<String, Error> {
    let mut out = tmpl.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("@@{k}@@"), v);
    }
    if out.contains("@@") {
        return Err(Error::Setup(
            "front.cfg.tmpl has an unknown placeholder".into(),
        ));
    }
    Ok(out)
}

/// Ready = answers an OPTIONS to itself over UDP with 200.
fn wait_options(proc: &mut ProcGuard, addr: SocketAddr, timeout: Duration) -> Result<(), Error> {
    let sock = UdpSocket::bind((util::LOOPBACK, 0)).map_err(|e| Error::io("bind", e))?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| Error::io("timeout", e))?;
    let local = sock.local_addr().map_err(|e| Error::io("local_addr", e))?;
    let deadline = Instant::now() + timeout;
    for n in 0u32.. {
        if let Some(code) = proc.try_exit() {
            return Err(Error::Setup(format!(
                "kamailio front exited with {code}\n{}",
                util::tail(&proc.log(), 30)
            )));
        }
        let ping = format!(
            "OPTIONS sip:{addr} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-bp{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:ping@bench.invalid>;tag=p{n}\r\nTo: <sip:{addr}>\r\n\
             Call-ID: bench-ping-{n}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = sock.send_to(ping.as_bytes(), addr);
        let mut buf = [0u8; 4096];
        if let Ok((len, _)) = sock.recv_from(&mut buf)
            && buf[..len].starts_with(b"SIP/2.0 200")
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    Err(Error::Timeout(format!(
        "kamailio front OPTIONS within {timeout:?}"
    )))
}

/// `bench/` (kamailio config template, README, RESULTS).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace root.
pub fn workspace_root() -> &'static Path {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_template_renders_completely() {
        let tmpl = std::fs::read_to_string(crate_dir().join("kamailio/front.cfg.tmpl")).unwrap();
        let vars = [
            ("PORT", "1".to_string()),
            ("WSPORT", "2".into()),
            ("UPSTREAM_PORT", "3".into()),
            ("MAXCONN", "4".into()),
            ("MAXFILES", "5".into()),
            ("MPATH", "/m/".into()),
        ];
        let cfg = render(&tmpl, &vars).unwrap();
        assert!(cfg.contains("listen=tcp:127.0.0.1:2"));
        assert!(cfg.contains("$du = \"sip:127.0.0.1:3;transport=udp\""));
        assert!(render(&tmpl, &vars[..2]).is_err());
    }
}

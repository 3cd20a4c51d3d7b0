//! SIPp 3.6 runs of the scenarios in `tests/sipp/`, bounded in call count and
//! time, on loopback ports; stats, errors and message traces are kept for the
//! failure message.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::util::{self, ProcGuard};
use crate::{Error, REALM};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// SIPp `-t` value: one socket for everything.
    fn sipp_flag(self) -> &'static str {
        match self {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// One SIPp invocation, built up then [`Sipp::spawn`]ed or [`Sipp::run`].
#[derive(Debug, Clone)]
pub struct Sipp {
    scenario: String,
    remote: Option<SocketAddr>,
    transport: Transport,
    port: Option<u16>,
    service: Option<String>,
    user: Option<(String, String)>,
    domain: String,
    calls: u32,
    rate: Option<u32>,
    timeout: Duration,
}

impl Sipp {
    /// A client scenario (`tests/sipp/<scenario>.xml`) sending to `remote`.
    pub fn uac(scenario: &str, remote: SocketAddr) -> Self {
        Self {
            remote: Some(remote),
            ..Self::uas(scenario)
        }
    }

    /// A server scenario: waits for requests on its own port.
    pub fn uas(scenario: &str) -> Self {
        Self {
            scenario: scenario.to_string(),
            remote: None,
            transport: Transport::Udp,
            port: None,
            service: None,
            user: None,
            domain: REALM.to_string(),
            calls: 1,
            rate: None,
            timeout: Duration::from_secs(20),
        }
    }

    pub fn transport(mut self, t: Transport) -> Self {
        self.transport = t;
        self
    }

    /// Local port (default: a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Callee user part (`-s`, the scenario's `[service]`).
    pub fn callee(mut self, user: &str) -> Self {
        self.service = Some(user.to_string());
        self
    }

    /// Own identity; the password goes into the injection file's
    /// `[authentication]` field (field2).
    pub fn user(mut self, user: &str, password: &str) -> Self {
        self.user = Some((user.to_string(), password.to_string()));
        self
    }

    /// SIP domain of From/To/R-URI (field1; default [`REALM`]).
    pub fn domain(mut self, domain: &str) -> Self {
        self.domain = domain.to_string();
        self
    }

    /// Number of calls to run (`-m`).
    pub fn calls(mut self, n: u32) -> Self {
        self.calls = n;
        self
    }

    /// New calls per second (`-r`; SIPp's default is 10).
    pub fn rate(mut self, cps: u32) -> Self {
        self.rate = Some(cps);
        self
    }

    /// Whole-run bound (`-timeout` + `-timeout_error`).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Starts SIPp in the background; for UAS scenarios, returns once its
    /// socket is bound.
    pub fn spawn(self) -> Result<SippRun, Error> {
        let dir = util::temp_dir(&format!("sipp-{}", self.scenario))?;
        let port = match self.port {
            Some(p) => p,
            None => util::free_port()?,
        };
        let scenario = util::crate_dir()
            .join("sipp")
            .join(format!("{}.xml", self.scenario));
        if !scenario.is_file() {
            return Err(Error::Setup(format!("no scenario {}", scenario.display())));
        }
        let mut cmd = Command::new(util::find_exe("sipp")?);
        if let Some(remote) = self.remote {
            cmd.arg(remote.to_string());
        }
        let secs = self.timeout.as_secs().max(1);
        cmd.arg("-sf")
            .arg(&scenario)
            .args(["-t", self.transport.sipp_flag()])
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", &self.calls.to_string()])
            .args(["-timeout", &format!("{secs}s"), "-timeout_error"])
            // A hung call is a failure well before the run's bound.
            .args(["-recv_timeout", &format!("{}", secs * 1000)])
            .arg("-nostdin")
            .arg("-trace_err")
            .arg("-error_file")
            .arg(dir.path().join("errors.log"))
            .arg("-trace_msg")
            .arg("-message_file")
            .arg(dir.path().join("messages.log"))
            .arg("-trace_screen")
            .arg("-screen_file")
            .arg(dir.path().join("screen.log"));
        if let Some(r) = self.rate {
            cmd.args(["-r", &r.to_string()]);
        }
        if let Some(s) = &self.service {
            cmd.args(["-s", s]);
        }
        let (user, pass) = self
            .user
            .clone()
            .unwrap_or_else(|| ("sipp".into(), "none".into()));
        let inf = dir.path().join("users.csv");
        let csv = format!(
            "SEQUENTIAL\n{user};{domain};[authentication username={user} password={pass}];\n",
            domain = self.domain
        );
        std::fs::write(&inf, csv).map_err(|e| Error::io("write users.csv", e))?;
        cmd.arg("-inf").arg(&inf);

        let name = format!("sipp {} :{port}", self.scenario);
        let proc = ProcGuard::spawn(&name, cmd, &dir.path().join("stdout.log"))?;
        let mut run = SippRun {
            name,
            proc,
            dir,
            port,
            timeout: self.timeout,
        };
        if self.remote.is_none() {
            run.wait_bound(self.transport)?;
        }
        Ok(run)
    }

    /// REGISTER `user` (test password) from local `port` to `remote`: 401 then 200.
    pub fn register(remote: SocketAddr, user: &str, port: u16, t: Transport) -> Result<(), Error> {
        Sipp::uac("register", remote)
            .transport(t)
            .port(port)
            .user(user, crate::password(user))
            .run()
    }

    /// Registers `user` from a free port at `registrar`, then starts the UAS
    /// `scenario` on that same port (so the registered Contact reaches it).
    pub fn registered_uas(
        registrar: SocketAddr,
        user: &str,
        scenario: &str,
        t: Transport,
    ) -> Result<SippRun, Error> {
        let port = util::free_port()?;
        Self::register(registrar, user, port, t)?;
        Sipp::uas(scenario).transport(t).port(port).spawn()
    }

    /// Spawns and waits for the result.
    pub fn run(self) -> Result<(), Error> {
        self.spawn()?.wait()
    }
}

/// A running SIPp; killed on drop.
pub struct SippRun {
    name: String,
    proc: ProcGuard,
    dir: tempfile::TempDir,
    pub port: u16,
    timeout: Duration,
}

impl SippRun {
    pub fn addr(&self) -> SocketAddr {
        util::loopback(self.port)
    }

    /// Waits for SIPp to finish (its own `-timeout` plus a margin); Ok only
    /// when it exits 0 (every call successful).
    pub fn wait(mut self) -> Result<(), Error> {
        let code = self.proc.wait_exit(self.timeout + Duration::from_secs(10));
        match code {
            Ok(0) => Ok(()),
            Ok(c) => Err(self.failure(&format!("exit code {c}"))),
            Err(e) => Err(self.failure(&e.to_string())),
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Errors, last screen and the message trace tail, for assertion messages.
    fn failure(&self, what: &str) -> Error {
        let read = |f: &str| util::read_lossy(&self.dir.path().join(f));
        let screen = read("screen.log");
        let detail = format!(
            "{what}\n--- errors ---\n{}\n--- screen ---\n{}\n--- messages (tail) ---\n{}\n--- stdout ---\n{}",
            util::tail(&read("errors.log"), 30),
            util::tail(&screen, 30),
            util::tail(&read("messages.log"), 80),
            util::tail(&self.proc.log(), 10),
        );
        let kept = util::keep_logs(&self.name, self.dir.path()).map_or_else(String::new, |p| {
            format!("\n(all SIPp logs kept in {})", p.display())
        });
        let detail = detail + &kept;
        Error::Peer {
            name: self.name.clone(),
            detail,
        }
    }

    /// Waits until the kernel shows SIPp's listening socket, without probing
    /// the port (a probe bind could steal it).
    fn wait_bound(&mut self, transport: Transport) -> Result<(), Error> {
        let port = self.port;
        let res = util::wait_for(
            &format!("{} to bind", self.name),
            Duration::from_secs(10),
            || {
                if let Some(code) = self.proc.try_exit() {
                    return Some(Err(code));
                }
                socket_bound(transport, port).then_some(Ok(()))
            },
        );
        match res {
            Ok(Ok(())) => Ok(()),
            Ok(Err(code)) => Err(self.failure(&format!("exited early with {code}"))),
            Err(e) => Err(self.failure(&e.to_string())),
        }
    }
}

/// Whether `/proc/net/{udp,tcp}` lists a socket bound to 127.0.0.1:`port`
/// (for TCP: in LISTEN state).
pub fn socket_bound(transport: Transport, port: u16) -> bool {
    let (file, state) = match transport {
        Transport::Udp => ("/proc/net/udp", None),
        Transport::Tcp => ("/proc/net/tcp", Some("0A")),
    };
    let table = util::read_lossy(std::path::Path::new(file));
    let wanted = [
        format!("0100007F:{port:04X}"),
        format!("00000000:{port:04X}"),
    ];
    table.lines().skip(1).any(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        cols.len() > 3 && wanted.iter().any(|w| cols[1] == w) && state.is_none_or(|s| cols[3] == s)
    })
}

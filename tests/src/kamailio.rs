//! A real Kamailio 5.6 as the upstream SIP server: registrar with digest auth
//! (users from an htable, no database), Path support, stateful proxy.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{self, ProcGuard};
use crate::{Error, REALM, USERS};

const MODULES_DIR: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

/// A running Kamailio on 127.0.0.1:`port` (UDP and TCP). Killed on drop.
pub struct Kamailio {
    pub port: u16,
    proc: ProcGuard,
    // Holds the generated cfg, users file and log until the instance is dropped.
    dir: tempfile::TempDir,
}

impl Kamailio {
    /// Starts Kamailio with the standard test users ([`USERS`]) and waits
    /// until it answers an OPTIONS ping.
    pub fn start() -> Result<Self, Error> {
        Self::start_with_users(USERS)
    }

    pub fn start_with_users(users: &[(&str, &str)]) -> Result<Self, Error> {
        Self::start_with_children(users, 1)
    }

    /// An upstream for load runs (bench/): `children` UDP worker processes.
    /// Tests keep one, which relays a transaction's responses in order.
    pub fn start_with_children(users: &[(&str, &str)], children: u8) -> Result<Self, Error> {
        Self::start_cfg(users, children, true, None)
    }

    /// Digest challenges with `algorithm` (the auth module's `algorithm`
    /// parameter: `"SHA-256"`) instead of MD5.
    pub fn start_with_digest(algorithm: &str) -> Result<Self, Error> {
        Self::start_cfg(USERS, 1, true, Some(algorithm))
    }

    /// A registrar without Path support (`use_path` 0): it stores each
    /// REGISTER's Contact and ignores Path, like servers that need the
    /// gateway's `contact_mode = "rewrite"`.
    pub fn start_without_path() -> Result<Self, Error> {
        Self::start_cfg(USERS, 1, false, None)
    }

    fn start_cfg(
        users: &[(&str, &str)],
        children: u8,
        use_path: bool,
        algorithm: Option<&str>,
    ) -> Result<Self, Error> {
        let dir = util::temp_dir("kamailio")?;
        let port = util::free_port()?;
        let users_file = dir.path().join("users.cfg");
        std::fs::write(&users_file, users_cfg(users)?)
            .map_err(|e| Error::io("write users.cfg", e))?;
        let cfg = render_cfg(port, &users_file, children.max(1), use_path, algorithm)?;
        let cfg_path = dir.path().join("kamailio.cfg");
        std::fs::write(&cfg_path, cfg).map_err(|e| Error::io("write kamailio.cfg", e))?;

        let exe = util::find_exe("kamailio")?;
        let mut cmd = Command::new(exe);
        // -DD: no daemon, -E: log to stderr, -m/-M: shared/private memory in MB,
        // -Y: own runtime dir so parallel instances never share control files.
        cmd.arg("-DD")
            .arg("-E")
            .args(["-m", "64", "-M", "8"])
            .arg("-f")
            .arg(&cfg_path)
            .arg("-Y")
            .arg(dir.path())
            .arg("-P")
            .arg(dir.path().join("kamailio.pid"));
        let log = dir.path().join("kamailio.log");
        let proc = ProcGuard::spawn("kamailio", cmd, &log)?;
        let mut k = Self { port, proc, dir };
        k.wait_ready(Duration::from_secs(15))?;
        Ok(k)
    }

    pub fn addr(&self) -> SocketAddr {
        util::loopback(self.port)
    }

    /// `sip:127.0.0.1:PORT;transport=udp|tcp`: the form the gateway's
    /// `[upstream] server` takes.
    pub fn uri(&self, transport: &str) -> String {
        format!("sip:127.0.0.1:{};transport={transport}", self.port)
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }

    pub fn log_path(&self) -> &Path {
        self.proc.log_path()
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Fails with the log tail if the process has exited.
    pub fn check_alive(&mut self) -> Result<(), Error> {
        match self.proc.try_exit() {
            None => Ok(()),
            Some(code) => Err(self.failure(format!("exited with {code}"))),
        }
    }

    fn failure(&self, what: String) -> Error {
        Error::Peer {
            name: "kamailio".into(),
            detail: format!("{what}\n--- log tail ---\n{}", util::tail(&self.log(), 40)),
        }
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        let sock = UdpSocket::bind((util::LOOPBACK, 0)).map_err(|e| Error::io("bind", e))?;
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| Error::io("set_read_timeout", e))?;
        let local = sock.local_addr().map_err(|e| Error::io("local_addr", e))?;
        let mut n = 0u32;
        loop {
            self.check_alive()?;
            n += 1;
            let ping = options_ping(local, self.addr(), n);
            // Errors (e.g. ICMP port unreachable before bind) just mean "not yet".
            let _ = sock.send_to(ping.as_bytes(), self.addr());
            let mut buf = [0u8; 4096];
            if let Ok((len, _)) = sock.recv_from(&mut buf)
                && buf[..len].starts_with(b"SIP/2.0 200")
            {
                // UDP is served; TCP is bound by the same process at startup.
                if std::net::TcpStream::connect(self.addr()).is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(self.failure(format!("no answer to OPTIONS within {timeout:?}")));
            }
        }
    }
}

/// An OPTIONS request addressed to the server itself (answered 200 by the cfg).
fn options_ping(local: SocketAddr, remote: SocketAddr, n: u32) -> String {
    format!(
        "OPTIONS sip:{remote} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-ping-{n}-{pid};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:ping@{REALM}>;tag=ping{n}\r\n\
         To: <sip:{remote}>\r\n\
         Call-ID: ping-{n}-{pid}@127.0.0.1\r\n\
         CSeq: {n} OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        pid = std::process::id()
    )
}

/// `$sht(auth=>user) = "password";` lines for the cfg's htable init route.
fn users_cfg(users: &[(&str, &str)]) -> Result<String, Error> {
    let mut out = String::new();
    for (user, pass) in users {
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if !ok(user) || !ok(pass) {
            return Err(Error::Setup(format!("unsafe test credentials {user:?}")));
        }
        out.push_str(&format!("$sht(auth=>{user}) = \"{pass}\";\n"));
    }
    Ok(out)
}

fn render_cfg(
    port: u16,
    users_file: &Path,
    children: u8,
    use_path: bool,
    algorithm: Option<&str>,
) -> Result<String, Error> {
    let algorithm = match algorithm {
        Some(a) if a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            format!("modparam(\"auth\", \"algorithm\", \"{a}\")")
        }
        Some(a) => return Err(Error::Setup(format!("odd digest algorithm {a:?}"))),
        None => String::new(),
    };
    let tmpl_path = util::crate_dir().join("kamailio/kamailio.cfg.tmpl");
    let tmpl = std::fs::read_to_string(&tmpl_path)
        .map_err(|e| Error::io(format!("read {}", tmpl_path.display()), e))?;
    let secret = format!("e2e-{}-{port}", std::process::id());
    let out = tmpl
        .replace("@@IP@@", "127.0.0.1")
        .replace("@@PORT@@", &port.to_string())
        .replace("@@CHILDREN@@", &children.to_string())
        .replace("@@USE_PATH@@", if use_path { "1" } else { "0" })
        .replace("@@AUTH_ALGORITHM@@", &algorithm)
        .replace("@@REALM@@", REALM)
        .replace("@@MPATH@@", MODULES_DIR)
        .replace("@@SECRET@@", &secret)
        .replace("@@USERS_FILE@@", &users_file.display().to_string());
    if out.contains("@@") {
        return Err(Error::Setup(
            "kamailio.cfg.tmpl has an unknown @@placeholder@@".into(),
        ));
    }
    Ok(out)
}

impl Drop for Kamailio {
    /// A failing test keeps this peer's config and log for reading afterwards.
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(p) = util::keep_logs("kamailio", self.dir.path())
        {
            eprintln!("kamailio config and log kept in {}", p.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_cfg_rejects_quotes() {
        assert!(users_cfg(&[("a\"", "b")]).is_err());
        assert_eq!(
            users_cfg(&[("a", "b-1")]).unwrap(),
            "$sht(auth=>a) = \"b-1\";\n"
        );
    }

    #[test]
    fn template_renders_every_placeholder() {
        let cfg = render_cfg(5999, Path::new("/x/users.cfg"), 1, true, None).unwrap();
        assert!(cfg.contains("listen=udp:127.0.0.1:5999"));
        assert!(cfg.contains("\nchildren=1\n"));
        assert!(cfg.contains("include_file \"/x/users.cfg\""));
    }
}

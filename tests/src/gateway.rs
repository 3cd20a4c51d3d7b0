//! The `sipwake` binary under test: generated TOML config on free loopback
//! ports, readiness via `GET /healthz` on the plain HTTP listener, log kept
//! for failure messages, stopped on drop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{self, ProcGuard};
use crate::{Error, REALM, USERS};

/// What to run: upstream (proxy to Kamailio) or standalone registrar.
#[derive(Debug, Clone)]
pub enum Mode {
    /// `[upstream] server = URI`.
    Upstream(String),
    /// `[upstream] server = URI` plus extra `[upstream]` lines
    /// (`contact_mode`, `client_selection`, `allow`).
    UpstreamWith(String, String),
    /// Built-in registrar with the test users ([`USERS`]) and digest auth.
    Standalone,
}

/// Ports of one gateway instance (all on 127.0.0.1).
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// SIP UDP and TCP (same number).
    pub sip: u16,
    pub tls: u16,
    pub https: u16,
    pub http: u16,
}

impl Ports {
    /// Free loopback ports for every listener.
    pub fn free() -> Result<Ports, Error> {
        Ok(Ports {
            sip: util::free_port()?,
            tls: util::free_port()?,
            https: util::free_port()?,
            http: util::free_port()?,
        })
    }
}

pub struct Gateway {
    pub ports: Ports,
    proc: ProcGuard,
    dir: tempfile::TempDir,
}

/// `SIPWAKE_BIN`, else `<workspace>/target/debug/sipwake` (the test script builds it).
pub fn binary() -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("SIPWAKE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| util::workspace_root().join("target"));
    let p = target.join("debug/sipwake");
    if p.is_file() {
        Ok(p)
    } else {
        Err(Error::Setup(format!(
            "gateway binary {} missing: run `cargo build -p sipwake` or set SIPWAKE_BIN",
            p.display()
        )))
    }
}

impl Gateway {
    pub fn start(mode: Mode) -> Result<Self, Error> {
        Self::start_with(mode, "")
    }

    /// Starts with `extra_sip` lines added to the `[sip]` section (per-test
    /// limits such as `read_timeout_secs = 2`), and waits for `/healthz`.
    pub fn start_with(mode: Mode, extra_sip: &str) -> Result<Self, Error> {
        Self::start_on(mode, Ports::free()?, extra_sip, "")
    }

    /// Starts on `ports` (chosen beforehand, e.g. to tell an ACME test CA
    /// where to validate) with `extra_sip` lines in `[sip]` and `extra_toml`
    /// (whole sections) appended to the config.
    pub fn start_on(
        mode: Mode,
        ports: Ports,
        extra_sip: &str,
        extra_toml: &str,
    ) -> Result<Self, Error> {
        let dir = util::temp_dir("gateway")?;
        let mut cfg = config_toml(&mode, ports, dir.path(), extra_sip)?;
        cfg.push('\n');
        cfg.push_str(extra_toml);
        let cfg_path = dir.path().join("sipwake.toml");
        std::fs::write(&cfg_path, cfg).map_err(|e| Error::io("write sipwake.toml", e))?;
        let mut cmd = Command::new(binary()?);
        cmd.arg("--config").arg(&cfg_path).current_dir(dir.path());
        // The config's `log` is the filter; an inherited RUST_LOG would win over it.
        cmd.env_remove("RUST_LOG");
        let proc = ProcGuard::spawn("sipwake", cmd, &dir.path().join("sipwake.log"))?;
        let mut gw = Self { ports, proc, dir };
        gw.wait_healthy(Duration::from_secs(30))?;
        Ok(gw)
    }

    /// The gateway's process id (to signal it, e.g. SIGHUP).
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// SIP UDP/TCP address.
    pub fn sip_addr(&self) -> SocketAddr {
        util::loopback(self.ports.sip)
    }

    pub fn tls_addr(&self) -> SocketAddr {
        util::loopback(self.ports.tls)
    }

    pub fn https_addr(&self) -> SocketAddr {
        util::loopback(self.ports.https)
    }

    pub fn http_addr(&self) -> SocketAddr {
        util::loopback(self.ports.http)
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }

    pub fn log_path(&self) -> &Path {
        self.proc.log_path()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Fails (with the log tail) when the process has exited.
    pub fn check_alive(&mut self) -> Result<(), Error> {
        match self.proc.try_exit() {
            None => Ok(()),
            Some(code) => Err(self.failure(&format!("exited with {code}"))),
        }
    }

    /// kill -9: the gateway dies without cleaning up.
    pub fn crash(&mut self) {
        self.proc.crash();
    }

    /// SIGTERM and the exit code (None if it did not exit within 10 s).
    pub fn shutdown(&mut self) -> Option<i32> {
        self.proc.terminate(Duration::from_secs(10))
    }

    /// Stops the process (SIGTERM, must exit 0) and starts it again with
    /// the same config file, data_dir and ports (state kept on disk must
    /// survive). The new run logs to `sipwake.restarted.log`.
    pub fn restart(&mut self) -> Result<(), Error> {
        let code = self.shutdown();
        if code != Some(0) {
            return Err(self.failure(&format!("exit code {code:?} on SIGTERM before restart")));
        }
        let mut cmd = Command::new(binary()?);
        cmd.arg("--config")
            .arg(self.dir.path().join("sipwake.toml"))
            .current_dir(self.dir.path());
        cmd.env_remove("RUST_LOG");
        let log = self.dir.path().join("sipwake.restarted.log");
        self.proc = ProcGuard::spawn("sipwake", cmd, &log)?;
        self.wait_healthy(Duration::from_secs(30))
    }

    pub fn failure(&self, what: &str) -> Error {
        Error::Peer {
            name: "sipwake".into(),
            detail: format!(
                "{what}\n--- sipwake log tail ---\n{}",
                util::tail(&self.log(), 60)
            ),
        }
    }

    /// `GET path` on the plain HTTP listener: (status, body).
    pub fn http_get(&self, path: &str) -> Result<(u16, String), Error> {
        http_get(self.http_addr(), path)
    }

    fn wait_healthy(&mut self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            if let Ok((200, body)) = self.http_get("/healthz")
                && body.trim() == "ok"
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!("/healthz not 200 ok within {timeout:?}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Minimal HTTP/1.1 GET (Connection: close) with a 2 s bound.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), Error> {
    let t = Duration::from_secs(2);
    let mut s = TcpStream::connect_timeout(&addr, t)
        .map_err(|e| Error::io(format!("connect {addr}"), e))?;
    s.set_read_timeout(Some(t))
        .map_err(|e| Error::io("timeout", e))?;
    s.set_write_timeout(Some(t))
        .map_err(|e| Error::io("timeout", e))?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| Error::io("http write", e))?;
    let mut resp = Vec::new();
    s.take(1 << 20)
        .read_to_end(&mut resp)
        .map_err(|e| Error::io("http read", e))?;
    let text = String::from_utf8_lossy(&resp);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| Error::Protocol(format!("bad HTTP response {text:?}")))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Chunked bodies: good enough to strip the size lines for a short `ok`.
    let body = if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.lines()
            .filter(|l| !l.is_empty() && u64::from_str_radix(l.trim(), 16).is_err())
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn config_toml(mode: &Mode, p: Ports, dir: &Path, extra_sip: &str) -> Result<String, Error> {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let data = dir.join("data");
    let mut out = format!(
        "data_dir = {data}\nlog = \"debug\"\n\n[sip]\nudp = [\"127.0.0.1:{sip}\"]\ntcp = [\"127.0.0.1:{sip}\"]\n\
         tls = [\"127.0.0.1:{tls}\"]\nadvertise = \"127.0.0.1\"\n{extra_sip}\n\n\
         [http]\nhttps = \"127.0.0.1:{https}\"\nhttp = \"127.0.0.1:{http}\"\n\n",
        data = q(&data.display().to_string()),
        sip = p.sip,
        tls = p.tls,
        https = p.https,
        http = p.http,
    );
    match mode {
        Mode::Upstream(uri) => {
            out.push_str(&format!("[upstream]\nserver = {}\n", q(uri)));
        }
        Mode::UpstreamWith(uri, extra) => {
            out.push_str(&format!("[upstream]\nserver = {}\n{extra}\n", q(uri)));
        }
        Mode::Standalone => {
            let users = dir.join("users.txt");
            let lines: String = USERS.iter().map(|(u, pw)| format!("{u}:{pw}\n")).collect();
            std::fs::write(&users, lines).map_err(|e| Error::io("write users.txt", e))?;
            out.push_str(&format!(
                "[registrar]\nrealm = {}\nusers_file = {}\n",
                q(REALM),
                q(&users.display().to_string())
            ));
        }
    }
    Ok(out)
}

impl Drop for Gateway {
    /// A failing test keeps this peer's config and log for reading afterwards.
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(p) = util::keep_logs("sipwake", self.dir.path())
        {
            eprintln!("sipwake config and log kept in {}", p.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_contract_keys() {
        let p = Ports {
            sip: 1,
            tls: 2,
            https: 3,
            http: 4,
        };
        let dir = tempfile::tempdir().unwrap();
        let up = config_toml(
            &Mode::Upstream("sip:127.0.0.1:9;transport=udp".into()),
            p,
            dir.path(),
            "",
        )
        .unwrap();
        assert!(
            up.contains("udp = [\"127.0.0.1:1\"]")
                && up.contains("server = \"sip:127.0.0.1:9;transport=udp\"")
        );
        let sa = config_toml(&Mode::Standalone, p, dir.path(), "").unwrap();
        assert!(sa.contains("users_file = ") && sa.contains("realm = \"sipwake.test\""));
        let users = std::fs::read_to_string(dir.path().join("users.txt")).unwrap();
        assert!(users.starts_with("alice:alice-pw\n"));
    }
}

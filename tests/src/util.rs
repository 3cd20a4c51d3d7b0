//! Small building blocks: free ports, waiting with deadlines, child-process
//! guards, and locating files of the repository.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Error;

/// Loopback address every test peer binds to.
pub const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Ports handed out by this process, so two parallel tests never get the same
/// one even if the first has not bound it yet.
static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// Ports are picked below the kernel's ephemeral range (32768+ on Linux), so
/// sockets that other tests bind to port 0 can never take a port between
/// our check and the peer's own bind.
const PORT_LO: u16 = 20000;
const PORT_HI: u16 = 32000;

/// A loopback port that is free for UDP and TCP at the same time (SIP listens
/// on both with one number). The check's sockets are released before
/// returning; ports already handed out by this process are never returned
/// twice, and the start point depends on the pid so parallel test processes
/// spread out.
pub fn free_port() -> Result<u16, Error> {
    static NEXT: Mutex<u32> = Mutex::new(0);
    let span = u32::from(PORT_HI - PORT_LO);
    let mut next = NEXT.lock().unwrap_or_else(|p| p.into_inner());
    if *next == 0 {
        *next = (std::process::id().wrapping_mul(7919)) % span + 1;
    }
    for _ in 0..span {
        *next = *next % span + 1;
        let port = PORT_LO + u16::try_from(*next - 1).unwrap_or(0);
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if given.contains(&port) {
            continue;
        }
        let udp_ok = UdpSocket::bind((LOOPBACK, port)).is_ok();
        if udp_ok && TcpListener::bind((LOOPBACK, port)).is_ok() {
            given.push(port);
            return Ok(port);
        }
    }
    Err(Error::Setup(format!(
        "no port in {PORT_LO}..{PORT_HI} free for both UDP and TCP"
    )))
}

/// `127.0.0.1:port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((LOOPBACK, port))
}

/// Polls `cond` until it returns `Some`, or fails after `timeout`.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> Option<T>,
) -> Result<T, Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout(format!("{what} (after {timeout:?})")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process that is killed (and reaped) when dropped; its stdout and
/// stderr go to one log file kept for failure diagnostics.
pub struct ProcGuard {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl ProcGuard {
    /// Spawns `cmd` with stdout+stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Self, Error> {
        let out =
            File::create(log).map_err(|e| Error::io(format!("create {}", log.display()), e))?;
        let err = out.try_clone().map_err(|e| Error::io("dup log fd", e))?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        // Own process group, so the whole tree (Kamailio forks workers) can be
        // signalled at once and nothing outlives the test.
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("spawn {name} ({cmd:?})"), e))?;
        Ok(Self {
            name: name.to_string(),
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The log so far (lossy UTF-8; empty if unreadable).
    pub fn log(&self) -> String {
        read_lossy(&self.log)
    }

    /// `Some(exit code)` once the process has exited (-1 when killed by a signal).
    pub fn try_exit(&mut self) -> Option<i32> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.code().unwrap_or(-1)),
            _ => None,
        }
    }

    /// Waits for the process to exit by itself within `timeout`; kills it otherwise.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<i32, Error> {
        let name = self.name.clone();
        let res = wait_for(&format!("{name} to exit"), timeout, || self.try_exit());
        if res.is_err() {
            self.kill();
        }
        res
    }

    /// Sends SIGTERM to the process only, waits up to `timeout` for its exit
    /// code (a graceful shutdown is part of what some tests check).
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        if self.try_exit().is_none() {
            self.signal(libc::SIGTERM, false);
        }
        let name = self.name.clone();
        wait_for(&format!("{name} to exit"), timeout, || self.try_exit()).ok()
    }

    /// SIGKILL now (a crash: nothing is cleaned up) and waits for the exit.
    pub fn crash(&mut self) {
        if self.try_exit().is_none() {
            self.signal(libc::SIGKILL, false);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Stops the whole process group: SIGTERM (Kamailio's main process then
    /// stops its workers), a short grace period, then SIGKILL for leftovers.
    pub fn kill(&mut self) {
        if self.child.is_none() {
            return;
        }
        if self.try_exit().is_none() {
            self.signal(libc::SIGTERM, true);
            let _ = wait_for("exit after SIGTERM", Duration::from_secs(3), || {
                self.try_exit()
            });
        }
        self.signal(libc::SIGKILL, true);
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal(&self, sig: libc::c_int, group: bool) {
        let Ok(pid) = libc::pid_t::try_from(self.pid()) else {
            return;
        };
        if pid <= 0 {
            return;
        }
        let target = if group { -pid } else { pid };
        // SAFETY: kill(2) has no memory effects; the target is our own child
        // (not reaped yet, so its pid cannot have been reused) or its group.
        unsafe { libc::kill(target, sig) };
    }
}

impl Drop for ProcGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The file as text (lossy), or an empty string.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The last `n` lines of `text`, for error messages.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Root of the workspace (parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// This crate's directory (`tests/`).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Finds an executable on PATH or in the usual system dirs (the sbin dirs are
/// not on every PATH, and Kamailio lives in /usr/sbin).
pub fn find_exe(name: &str) -> Result<PathBuf, Error> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::Setup(format!(
                "`{name}` not found on PATH (run scripts/test-e2e.sh)"
            ))
        })
}

/// A fresh temporary directory, removed on drop unless `SIPWAKE_E2E_KEEP` is set.
pub fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, Error> {
    let mut dir = tempfile::Builder::new()
        .prefix(&format!("sipwake-e2e-{prefix}-"))
        .tempdir()
        .map_err(|e| Error::io("create temp dir", e))?;
    if std::env::var_os("SIPWAKE_E2E_KEEP").is_some() {
        dir.disable_cleanup(true);
    }
    Ok(dir)
}

/// Copies every file of `dir` (not recursive) to a fresh
/// `<target>/e2e-logs/<label>-<pid>-<n>/` that outlives the test, and returns
/// that path. Used when a peer failed, so its logs can be read afterwards.
pub fn keep_logs(label: &str, dir: &Path) -> Option<PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let safe: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let dest = target.join("e2e-logs").join(format!(
        "{safe}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dest).ok()?;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::copy(entry.path(), dest.join(entry.file_name()));
        }
    }
    Some(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_bindable_and_outside_the_ephemeral_range() {
        let ports: Vec<u16> = (0..20).map(|_| free_port().unwrap()).collect();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ports.len());
        for p in ports {
            assert!((PORT_LO..PORT_HI).contains(&p));
            let _u = UdpSocket::bind((LOOPBACK, p)).unwrap();
            let _t = TcpListener::bind((LOOPBACK, p)).unwrap();
        }
    }

    #[test]
    fn wait_for_times_out_and_succeeds() {
        let mut n = 0;
        assert_eq!(
            wait_for("n", Duration::from_secs(1), || {
                n += 1;
                (n > 3).then_some(n)
            })
            .unwrap(),
            4
        );
        assert!(matches!(
            wait_for("never", Duration::from_millis(50), || None::<()>),
            Err(Error::Timeout(_))
        ));
    }
}

//! The `sipwake` binary: CLI, config errors, startup lines, readiness,
//! certificate persistence and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sipwake");
const DEADLINE: Duration = Duration::from_secs(20);

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sipwake-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A config with every listener on an OS-chosen loopback port.
fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("sipwake.toml");
    let text = format!(
        "data_dir = \"{}\"\n{extra}\n[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\ntls = [\"127.0.0.1:0\"]\n\
         [http]\nhttps = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n",
        dir.join("data").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        Running::start_in(&std::env::temp_dir(), args)
    }

    /// Started with `cwd` as its working directory.
    fn start_in(cwd: &Path, args: &[&str]) -> Running {
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(cwd)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Collect log lines until one contains `needle`.
    fn wait_for(&mut self, needle: &str) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line with {needle:?}; got:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The address from the `listening transport=<kind> addr=…` line.
    fn listener(&self, kind: &str) -> SocketAddr {
        let needle = format!("listening transport={kind} addr=");
        let line = self
            .seen
            .iter()
            .find(|l| l.contains(&needle))
            .unwrap_or_else(|| panic!("no {needle} line"));
        let rest = &line[line.find(&needle).unwrap() + needle.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < end, "did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let (head, body) = http_get_bytes(addr, path);
    head + &String::from_utf8(body).unwrap()
}

/// The response head (status line and headers, with the blank line) and body.
fn http_get_bytes(addr: SocketAddr, path: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let body = out.split_off(end);
    (String::from_utf8(out).unwrap(), body)
}

fn header_of<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or("")
}

#[test]
fn serves_the_built_in_web_phone_from_any_directory() {
    // A newcomer's first run: no [web] keys and no web files in the working
    // directory; the phone, its service worker and the SDK come from the binary.
    let dir = temp_dir("web");
    let config = write_config(&dir, "");
    let mut gw = Running::start_in(&dir, &["--config", config.to_str().unwrap()]);
    gw.wait_for("ready");
    let http = gw.listener("ws");
    let (head, page) = http_get_bytes(http, "/");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header_of(&head, "content-type"), "text/html; charset=utf-8");
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("<title>sipwake web phone</title>"), "{page}");
    let (head, app) = http_get_bytes(http, "/app.js");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        app.len() > 100_000,
        "bundled JsSIP phone: {} bytes",
        app.len()
    );
    let (head, _) = http_get_bytes(http, "/firebase-messaging-sw.js");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        header_of(&head, "content-type"),
        "text/javascript; charset=utf-8"
    );
    let (head, wasm) = http_get_bytes(http, "/sdk/web/sipwake_wasm_bg.wasm");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header_of(&head, "content-type"), "application/wasm");
    assert_eq!(&wasm[..4], b"\0asm");
    assert!(gw.terminate().success());

    // A [web] path that is not there stops the start, naming the key.
    let bad = write_config(&dir, "[web]\ndemo_dir = \"no-such-build\"\n");
    let out = Command::new(BIN)
        .args(["--config", bad.to_str().unwrap()])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[web] demo_dir") && err.contains("not a directory"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn starts_serves_healthz_and_stops_on_sigterm() {
    let dir = temp_dir("run");
    let config = write_config(&dir, "");
    let mut gw = Running::start(&["--config", config.to_str().unwrap()]);
    gw.wait_for("ready");
    for kind in ["udp", "tcp", "tls", "wss", "ws"] {
        let addr = gw.listener(kind);
        assert!(addr.ip().is_loopback() && addr.port() != 0, "{kind} {addr}");
    }
    assert!(
        gw.seen
            .iter()
            .any(|l| l.contains("generated a self-signed TLS certificate"))
    );
    assert!(gw.seen.iter().any(|l| l.contains("loopback only")));
    let resp = http_get(gw.listener("ws"), "/healthz");
    assert!(
        resp.starts_with("HTTP/1.1 200") && resp.ends_with("ok"),
        "{resp}"
    );

    let status = gw.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(dir.join("data/tls-cert.pem").exists());
    assert!(dir.join("data/tls-key.pem").exists());

    // Restart: the certificate is reused, not regenerated.
    let mut gw = Running::start(&["--config", config.to_str().unwrap()]);
    gw.wait_for("ready");
    assert!(
        gw.seen
            .iter()
            .any(|l| l.contains("using the self-signed TLS certificate"))
    );
    assert!(gw.terminate().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn data_dir_flag_overrides_the_file() {
    let dir = temp_dir("datadir");
    let config = write_config(&dir, "");
    let other = dir.join("elsewhere");
    let mut gw = Running::start(&[
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        other.to_str().unwrap(),
    ]);
    gw.wait_for("ready");
    assert!(other.join("tls-cert.pem").exists());
    assert!(!dir.join("data/tls-cert.pem").exists());
    assert!(gw.terminate().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_config_fails_with_key_and_line() {
    let dir = temp_dir("bad");
    let path = dir.join("bad.toml");
    std::fs::write(&path, "log = \"info\"\n[sip]\nudpp = []\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("udpp") && err.contains("line 3"), "{err}");

    std::fs::write(&path, "[registrar]\nmin_expires = 9000\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("registrar.min_expires"));

    let out = Command::new(BIN)
        .args(["--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_and_check() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--config", "--data-dir", "--check", "docs/configuration.md"] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    let dir = temp_dir("check");
    let config = write_config(&dir, "log = \"debug\"");
    let out = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "--check"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.starts_with("config ok\n"), "{summary}");
    assert!(summary.contains("log: debug"), "{summary}");
    assert!(summary.contains("sip udp: 127.0.0.1:0"), "{summary}");
    assert!(summary.contains("store: sqlite "), "{summary}");
    assert!(summary.contains("cluster: off"), "{summary}");

    // The Redis store and the cluster node, with the password redacted
    // (`--check` connects to nothing).
    let config = write_config(
        &dir,
        "[upstream]\nserver = \"sip:127.0.0.1:5999\"\n[store]\nbackend = \"redis\"\nredis_urls = [\"redis://:p4ssw0rd@10.0.0.5:6379/0\"]\n[cluster]\nenabled = true\nnode_id = \"gw-a\"\nsip_uri = \"sip:10.0.0.7:5060\"",
    );
    let out = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "--check"])
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        summary.contains("store: redis redis://:***@10.0.0.5:6379/0, prefix `sipwake`"),
        "{summary}"
    );
    assert!(
        summary.contains("cluster: node `gw-a` at sip:10.0.0.7:5060"),
        "{summary}"
    );
    assert!(!summary.contains("p4ssw0rd"), "{summary}");

    // Secrets never appear in the summary.
    let config = write_config(
        &dir,
        "[api]\ntokens = [\"s3cret-token-0123456789\"]\n[store]\nkey = \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"",
    );
    let out = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "--check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("api tokens: 1"), "{summary}");
    assert!(
        !summary.contains("s3cret") && !summary.contains("00112233"),
        "{summary}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_log_format() {
    let dir = temp_dir("json");
    let config = write_config(&dir, "log_format = \"json\"");
    let mut gw = Running::start(&["--config", config.to_str().unwrap()]);
    let ready = gw.wait_for("\"message\":\"ready\"");
    assert!(ready.starts_with('{') && ready.ends_with('}'), "{ready}");
    let listening = gw
        .seen
        .iter()
        .find(|l| l.contains("\"message\":\"listening\"") && l.contains("\"transport\":\"udp\""))
        .expect("a JSON listening line for udp");
    assert!(listening.contains("\"addr\":\"127.0.0.1:"), "{listening}");
    assert!(gw.terminate().success());
    let _ = std::fs::remove_dir_all(&dir);
}

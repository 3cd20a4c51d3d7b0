//! Real `redis-server` processes for the tests (Debian package
//! `redis-server`, which `scripts/test.sh` installs for the `rust` area): a
//! standalone server, a three-node Redis Cluster and a master watched by a
//! Sentinel, each on free loopback ports with its own temporary directory,
//! killed when dropped. A missing `redis-server` fails the test (it is
//! never skipped).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to come up (or a cluster to agree).
const START_DEADLINE: Duration = Duration::from_secs(20);

/// Polls `ok` until it holds; panics naming `what` at the deadline.
pub fn wait_until(deadline: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A program from the `redis-server` package, or a clear failure.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found: the Redis backend tests need the Debian package redis-server \
                 (apt-get install redis-server; scripts/test.sh's rust area installs it)"
            )
        })
}

/// A loopback port that is free, and whose +10000 (the cluster bus port)
/// is free too.
pub fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = l.local_addr().unwrap().port();
        if port <= 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// A config file's text for a server on this port with this directory.
pub type ConfText = dyn Fn(u16, &Path) -> String;

/// One `redis-server` process.
pub struct RedisProcess {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    args: Vec<String>,
}

impl RedisProcess {
    /// A server with persistence off; `extra` adds arguments (after the
    /// config file, when `conf` gives one).
    pub fn start(extra: &[&str]) -> RedisProcess {
        Self::start_with(None, extra)
    }

    /// Starts with `conf(port, dir)` as the config file's text.
    pub fn start_with(conf: Option<&ConfText>, extra: &[&str]) -> RedisProcess {
        let mut last = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let mut args = Vec::new();
            if let Some(conf) = conf {
                let path = dir.path().join("redis.conf");
                std::fs::write(&path, conf(port, dir.path())).expect("write config");
                args.push(path.display().to_string());
            }
            args.extend(
                [
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    &dir.path().display().to_string(),
                ]
                .map(String::from),
            );
            if conf.is_none() {
                args.extend(["--save", "", "--appendonly", "no"].map(String::from));
            }
            args.extend(extra.iter().map(|s| s.to_string()));
            let mut p = RedisProcess {
                child: spawn(&args, dir.path()),
                port,
                dir,
                args,
            };
            if p.wait_ready() {
                return p;
            }
            last = p.log();
        }
        panic!("redis-server did not start (5 tries); its last log:\n{last}");
    }

    fn wait_ready(&mut self) -> bool {
        let end = Instant::now() + START_DEADLINE;
        loop {
            let pong = bulk_reply(self.port, &["PING"]);
            if pong.starts_with('+') || pong.contains("NOAUTH") {
                return true;
            }
            if self.child.try_wait().ok().flatten().is_some() || Instant::now() > end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Stops the process now (the port then refuses connections).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the same server again on the same port, after [`Self::kill`].
    pub fn restart(&mut self) {
        self.kill();
        let end = Instant::now() + START_DEADLINE;
        loop {
            self.child = spawn(&self.args, self.dir.path());
            if self.wait_ready() {
                return;
            }
            assert!(
                Instant::now() < end,
                "redis-server did not restart:\n{}",
                self.log()
            );
            self.kill();
        }
    }

    /// SIGSTOP / SIGCONT: a server that accepts connections but never
    /// answers.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {}", self.pid());
    }
}

fn spawn(args: &[String], dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join("server.log")).expect("log file");
    Command::new(tool("redis-server"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("spawn redis-server")
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        // A stopped process must be continued to die promptly on SIGKILL's
        // wait; SIGKILL works on stopped processes, so kill is enough.
        self.kill();
    }
}

/// Three cluster-enabled masters joined into one Redis Cluster.
pub struct RedisCluster {
    pub nodes: Vec<RedisProcess>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisProcess> = (0..3)
            .map(|_| {
                RedisProcess::start(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new(tool("redis-cli"))
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for n in &nodes {
            wait_until(START_DEADLINE, "cluster_state:ok on every node", || {
                bulk_reply(n.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
            });
        }
        RedisCluster { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisProcess::url).collect()
    }
}

/// One command over a raw socket (RESP): the reply's text, bulk strings
/// (CLUSTER INFO) read whole; "" when nothing answered.
pub fn bulk_reply(port: u16, args: &[&str]) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    if s.write_all(req.as_bytes()).is_err() {
        return String::new();
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // `$<len>\r\n<body>\r\n`: read until the announced length is in.
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        // Small replies come in one read on loopback; a bulk string may
        // take more.
        let text = String::from_utf8_lossy(&out);
        let incomplete_bulk = text.strip_prefix('$').is_some_and(|rest| {
            rest.split_once("\r\n")
                .is_none_or(|(len, body)| len.parse::<usize>().is_ok_and(|l| body.len() < l))
        });
        if !incomplete_bulk {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A master and its replica (both requiring a password) and one Sentinel
/// watching them.
pub struct RedisSentinel {
    pub master: RedisProcess,
    pub replica: RedisProcess,
    pub sentinel: RedisProcess,
}

pub const SENTINEL_MASTER: &str = "mymaster";
pub const MASTER_PASSWORD: &str = "master-secret-pw";

/// A client connection to a test server (with the test password).
pub fn client(port: u16, password: Option<&str>) -> ::redis::Connection {
    let auth = password.map(|p| format!(":{p}@")).unwrap_or_default();
    let c = ::redis::Client::open(format!("redis://{auth}127.0.0.1:{port}"))
        .expect("test URL")
        .get_connection_with_timeout(Duration::from_secs(2))
        .expect("connect to a test server");
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

impl RedisSentinel {
    pub fn start() -> RedisSentinel {
        let master = RedisProcess::start(&["--requirepass", MASTER_PASSWORD]);
        let mport = master.port;
        let replica = RedisProcess::start(&[
            "--requirepass",
            MASTER_PASSWORD,
            "--masterauth",
            MASTER_PASSWORD,
            "--replicaof",
            "127.0.0.1",
            &mport.to_string(),
        ]);
        let conf = move |port: u16, dir: &Path| {
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {mport} 1\n\
                 sentinel auth-pass {SENTINEL_MASTER} {MASTER_PASSWORD}\n\
                 sentinel down-after-milliseconds {SENTINEL_MASTER} 5000\n",
                dir.display()
            )
        };
        let sentinel = RedisProcess::start_with(Some(&conf), &["--sentinel"]);
        wait_until(START_DEADLINE, "the Sentinel to name the master", || {
            bulk_reply(
                sentinel.port,
                &["SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER],
            )
            .contains(&mport.to_string())
        });
        RedisSentinel {
            master,
            replica,
            sentinel,
        }
    }

    /// Waits until the replica is in sync and the Sentinel knows it.
    pub fn wait_replica_known(&self) {
        let mut r = client(self.replica.port, Some(MASTER_PASSWORD));
        wait_until(START_DEADLINE, "the replica to sync", || {
            ::redis::cmd("INFO")
                .arg("replication")
                .query::<String>(&mut r)
                .is_ok_and(|i| i.contains("master_link_status:up"))
        });
        let mut s = client(self.sentinel.port, None);
        let port = self.replica.port.to_string();
        wait_until(START_DEADLINE, "the Sentinel to know the replica", || {
            ::redis::cmd("SENTINEL")
                .arg("replicas")
                .arg(SENTINEL_MASTER)
                .query::<Vec<std::collections::HashMap<String, String>>>(&mut s)
                .is_ok_and(|v| {
                    v.iter().any(|r| {
                        r.get("port") == Some(&port) && r.get("flags").is_some_and(|f| f == "slave")
                    })
                })
        });
    }

    /// Makes the Sentinel promote the replica; waits until it names it and
    /// the old master follows it.
    pub fn failover(&self) {
        let mut s = client(self.sentinel.port, None);
        ::redis::cmd("SENTINEL")
            .arg("failover")
            .arg(SENTINEL_MASTER)
            .exec(&mut s)
            .expect("SENTINEL FAILOVER");
        let port = self.replica.port.to_string();
        wait_until(
            START_DEADLINE,
            "the Sentinel to name the new master",
            || {
                bulk_reply(
                    self.sentinel.port,
                    &["SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER],
                )
                .contains(&port)
            },
        );
        // Sentinel cuts the clients of the instance it demotes: a new
        // connection per look.
        wait_until(START_DEADLINE, "the old master to be a replica", || {
            let mut old = client(self.master.port, Some(MASTER_PASSWORD));
            ::redis::cmd("ROLE")
                .query::<Vec<::redis::Value>>(&mut old)
                .is_ok_and(
                    |r| matches!(r.first(), Some(::redis::Value::BulkString(b)) if b == b"slave"),
                )
        });
    }
}

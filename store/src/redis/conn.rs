//! Connections to Redis / Valkey: one standalone server, a Redis Cluster
//! (from seed nodes) or the master a set of Sentinels names, with every
//! connect and command bounded by the configured timeout. A small pool of
//! blocking connections serves the store's callers (`spawn_blocking`
//! threads); a connection that failed is dropped, the next call connects
//! afresh (after a Sentinel failover: to the new master).

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ::redis::cluster::{ClusterClient, ClusterConnection};
use ::redis::{
    Client, Cmd, Connection, ConnectionAddr, ConnectionInfo, ConnectionLike, ErrorKind,
    IntoConnectionInfo, RedisConnectionInfo, RedisError, RedisResult, TlsCertificates,
};

use crate::StoreError;

/// Where the Redis servers are and how to talk to them.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    pub servers: RedisServers,
    /// The first part of every key (`<prefix>:{<aor>}:devices`, …).
    pub prefix: String,
    /// Bound of every connect and every command.
    pub timeout: Duration,
    /// Replicas every write must reach before it counts (`WAIT`, within
    /// `timeout`); 0 = none.
    pub wait_replicas: u32,
    /// `rediss://`: the CA (PEM) that signed the servers' certificates,
    /// instead of the system's roots; `None` = the system's roots.
    pub tls_ca: Option<Vec<u8>>,
}

/// The Redis deployment.
#[derive(Debug, Clone)]
pub enum RedisServers {
    /// One URL: a standalone server (a Redis Cluster node given alone is
    /// used as the cluster's one seed). Several: Redis Cluster seed nodes.
    Urls(Vec<String>),
    /// The master that Sentinels name.
    Sentinel(SentinelServers),
}

/// A master found through Redis Sentinel.
#[derive(Clone, Default)]
pub struct SentinelServers {
    /// The monitored master's name (`sentinel monitor <name> …`).
    pub master: String,
    /// The Sentinels, `redis://[user:password@]host:port` (the credentials
    /// are the Sentinels' own).
    pub urls: Vec<String>,
    /// Database on the master.
    pub db: i64,
    /// ACL user and password on the master (none: no AUTH).
    pub username: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for SentinelServers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentinelServers")
            .field("master", &self.master)
            .field(
                "urls",
                &self.urls.iter().map(|u| redact_url(u)).collect::<Vec<_>>(),
            )
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What a Redis URL names, for configuration checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// `host:port` (false: a unix socket).
    pub tcp: bool,
    /// `rediss://` / `valkeys://`.
    pub tls: bool,
    pub db: i64,
}

/// Checks one `redis://` / `valkey://` / `unix://` URL; the error says why
/// (never repeating a password).
pub fn check_redis_url(url: &str) -> Result<RedisUrl, String> {
    let info = parse_url(url)?;
    Ok(RedisUrl {
        tcp: matches!(
            info.addr(),
            ConnectionAddr::Tcp(..) | ConnectionAddr::TcpTls { .. }
        ),
        tls: matches!(info.addr(), ConnectionAddr::TcpTls { .. }),
        db: info.redis_settings().db(),
    })
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    let url = url.trim();
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split_once(':').map_or("", |(u, _)| u);
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

fn parse_url(url: &str) -> Result<ConnectionInfo, String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if ![
        "redis://",
        "rediss://",
        "valkeys://",
        "valkey://",
        "unix://",
        "redis+unix://",
        "valkey+unix://",
    ]
    .iter()
    .any(|s| lower.starts_with(s))
    {
        return Err(format!(
            "`{}` is not a redis://[user:password@]host[:port][/db] URL",
            redact_url(url)
        ));
    }
    let info = url.into_connection_info().map_err(|e| {
        format!(
            "`{}` is not a usable Redis URL ({})",
            redact_url(url),
            e.detail().unwrap_or("invalid")
        )
    })?;
    if let ConnectionAddr::Tcp(host, _) = info.addr()
        && host.is_empty()
    {
        return Err(format!("`{}` names no host", redact_url(url)));
    }
    Ok(info)
}

/// A TLS address set to trust `ca` (PEM) instead of the system's roots.
fn with_tls_roots(info: ConnectionInfo, ca: Option<&[u8]>) -> RedisResult<ConnectionInfo> {
    match (info.addr(), ca) {
        (ConnectionAddr::TcpTls { .. }, Some(pem)) => Ok(Client::build_with_tls(
            info,
            TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.to_vec()),
            },
        )?
        .get_connection_info()
        .clone()),
        _ => Ok(info),
    }
}

fn addr_label(info: &ConnectionInfo) -> String {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        }
        ConnectionAddr::Unix(path) => path.display().to_string(),
        _ => "(unknown address)".to_string(),
    }
}

/// A failure inside a store operation: Redis (the connection is dropped)
/// or the store's own (bad data; the connection stays).
pub(super) enum Fail {
    Redis(RedisError),
    Store(StoreError),
}

impl From<RedisError> for Fail {
    fn from(e: RedisError) -> Self {
        Fail::Redis(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

/// One connection: to a single server or to the whole cluster.
pub(super) enum Conn {
    Single(Connection),
    Cluster(Box<ClusterConnection>),
}

impl Conn {
    pub(super) fn link(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Single(c) => c,
            Conn::Cluster(c) => &mut **c,
        }
    }

    /// Runs `cmds` as one non-atomic pipeline (in a cluster: one per node)
    /// and returns one `T` per command.
    pub(super) fn pipeline<T: ::redis::FromRedisValue>(
        &mut self,
        cmds: impl IntoIterator<Item = Cmd>,
    ) -> RedisResult<Vec<T>> {
        match self {
            Conn::Single(c) => {
                let mut p = ::redis::pipe();
                for cmd in cmds {
                    p.add_command(cmd);
                }
                p.query(c)
            }
            Conn::Cluster(c) => {
                let mut p = ::redis::cluster::cluster_pipe();
                for cmd in cmds {
                    p.add_command(cmd);
                }
                p.query(c)
            }
        }
    }
}

enum Mode {
    Single(ConnectionInfo),
    /// The client, and the seed nodes (a subscriber connects to one:
    /// cluster pub/sub reaches every node).
    Cluster(ClusterClient, Vec<ConnectionInfo>),
    Sentinel {
        sentinels: Vec<ConnectionInfo>,
        master: String,
        node: RedisConnectionInfo,
        /// The Sentinels speak TLS: so does the master.
        tls: bool,
        ca: Option<Vec<u8>>,
    },
}

/// A connection idle longer than this is checked with PING before use.
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// Idle connections kept.
const MAX_IDLE: usize = 8;

pub(super) struct Pool {
    mode: Mode,
    timeout: Duration,
    /// What the messages name: addresses, never credentials.
    pub(super) target: String,
    idle: Mutex<Vec<(Conn, Instant)>>,
}

impl Pool {
    /// Connects once (so an unreachable Redis fails startup) and keeps
    /// that connection.
    pub(super) fn open(options: &RedisOptions) -> Result<Pool, StoreError> {
        let timeout = options.timeout.max(Duration::from_millis(1));
        let config_error = |target: &str, reason: String| StoreError::Redis {
            target: target.to_string(),
            reason,
        };
        let ca = options.tls_ca.as_deref();
        let parse = |u: &String| {
            let info = parse_url(u)?;
            with_tls_roots(info, ca).map_err(|e| {
                format!(
                    "`{}`: the TLS CA cannot be used ({})",
                    redact_url(u),
                    e.detail().unwrap_or("invalid")
                )
            })
        };
        let (mode, target, first) = match &options.servers {
            RedisServers::Urls(urls) => {
                let infos = urls
                    .iter()
                    .map(parse)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|r| config_error("redis_urls", r))?;
                if infos.is_empty() {
                    return Err(config_error("redis_urls", "no URL given".into()));
                }
                Self::from_urls(infos, timeout, options.tls_ca.clone())?
            }
            RedisServers::Sentinel(s) => {
                let sentinels = s
                    .urls
                    .iter()
                    .map(parse)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|r| config_error("redis_sentinel", r))?;
                if sentinels.is_empty() || s.master.is_empty() {
                    return Err(config_error(
                        "redis_sentinel",
                        "needs a master name and at least one Sentinel URL".into(),
                    ));
                }
                let mut node = RedisConnectionInfo::default().set_db(s.db);
                if let Some(u) = s.username.as_deref().filter(|u| !u.is_empty()) {
                    node = node.set_username(u);
                }
                if let Some(p) = s.password.as_deref().filter(|p| !p.is_empty()) {
                    node = node.set_password(p);
                }
                let target = format!(
                    "Sentinel master `{}` via {}",
                    s.master,
                    sentinels
                        .iter()
                        .map(addr_label)
                        .collect::<Vec<_>>()
                        .join(",")
                );
                let mode = Mode::Sentinel {
                    tls: sentinels
                        .iter()
                        .any(|i| matches!(i.addr(), ConnectionAddr::TcpTls { .. })),
                    sentinels,
                    master: s.master.clone(),
                    node,
                    ca: options.tls_ca.clone(),
                };
                let first = sentinel_master(&mode, timeout, &target)?;
                (mode, target, Conn::Single(first))
            }
        };
        Ok(Pool {
            mode,
            timeout,
            target,
            idle: Mutex::new(vec![(first, Instant::now())]),
        })
    }

    /// One URL: standalone, unless the server is a cluster node. Several:
    /// cluster seeds, which must be cluster nodes.
    fn from_urls(
        infos: Vec<ConnectionInfo>,
        timeout: Duration,
        ca: Option<Vec<u8>>,
    ) -> Result<(Mode, String, Conn), StoreError> {
        let labels = infos.iter().map(addr_label).collect::<Vec<_>>().join(",");
        let mut reasons = Vec::new();
        let mut probe = None;
        for info in &infos {
            // Database 0 first: a cluster node refuses SELECT.
            let db = info.redis_settings().db();
            let probe_info = info
                .clone()
                .set_redis_settings(info.redis_settings().clone().set_db(0));
            let probed = connect_single(&probe_info, timeout).and_then(|mut c| {
                let info_text: String = ::redis::cmd("INFO").arg("cluster").query(&mut c)?;
                let cluster = info_text.contains("cluster_enabled:1");
                if !cluster && db != 0 {
                    ::redis::cmd("SELECT").arg(db).exec(&mut c)?;
                }
                Ok((c, cluster))
            });
            match probed {
                Ok(found) => {
                    probe = Some((info, found));
                    break;
                }
                Err(e) => reasons.push((addr_label(info), describe(&e, timeout))),
            }
        }
        let Some((info, (conn, cluster))) = probe else {
            // One server: its reason; several: each with its address.
            let reason = match reasons.as_slice() {
                [(_, one)] => one.clone(),
                all => all
                    .iter()
                    .map(|(label, r)| format!("{label}: {r}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            };
            return Err(StoreError::Redis {
                target: labels,
                reason,
            });
        };
        if !cluster {
            if infos.len() > 1 {
                return Err(StoreError::Redis {
                    target: format!("cluster {labels}"),
                    reason: format!(
                        "several redis_urls are Redis Cluster seed nodes, but {} is not in cluster mode (cluster_enabled:0); list one URL for a standalone server",
                        addr_label(info)
                    ),
                });
            }
            let target = format!("{labels} db {}", info.redis_settings().db());
            return Ok((Mode::Single(info.clone()), target, Conn::Single(conn)));
        }
        drop(conn);
        let target = format!("cluster {labels}");
        if infos.iter().any(|i| i.redis_settings().db() != 0) {
            return Err(StoreError::Redis {
                target,
                reason: "Redis Cluster has only database 0: drop the /db from the URL".into(),
            });
        }
        let retry_ms = u64::try_from(timeout.as_millis() / 4)
            .unwrap_or(u64::MAX)
            .max(20);
        let mut builder = ClusterClient::builder(infos.clone());
        if let Some(pem) = ca {
            builder = builder.certs(TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            });
        }
        let client = builder
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(2)
            .min_retry_wait(10)
            .max_retry_wait(retry_ms)
            .build()
            .map_err(|e| StoreError::Redis {
                target: target.clone(),
                reason: describe(&e, timeout),
            })?;
        let mode = Mode::Cluster(client, infos);
        let conn = connect(&mode, timeout, &target)?;
        Ok((mode, target, conn))
    }

    /// Runs one store operation on a pooled connection.
    ///
    /// A pooled connection that turns out dropped (the server restarted
    /// since it was last used) is replaced and the operation run once more
    /// on a new one: every operation is a read or a compare-and-set, so
    /// running it again is safe.
    pub(super) fn run<T>(
        &self,
        mut f: impl FnMut(&mut Conn) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        let (mut conn, pooled) = self.checkout()?;
        let mut retried = false;
        loop {
            match f(&mut conn) {
                Ok(v) => {
                    self.checkin(conn);
                    return Ok(v);
                }
                Err(Fail::Store(e)) => {
                    self.checkin(conn);
                    return Err(e);
                }
                Err(Fail::Redis(e))
                    if pooled
                        && !retried
                        && (e.is_connection_dropped() || e.is_io_error())
                        && !e.is_timeout() =>
                {
                    retried = true;
                    self.lock().clear();
                    conn = connect(&self.mode, self.timeout, &self.target)?;
                }
                Err(Fail::Redis(e)) => return Err(self.error(&e)),
            }
        }
    }

    /// A Redis Cluster (several masters: `WAIT` answers for one node only).
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.mode, Mode::Cluster(..))
    }

    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A connection of its own for a pub/sub subscription: the server
    /// (standalone), the current master (Sentinel) or the first seed node
    /// that answers (cluster: a message published on any node reaches
    /// subscribers on every node).
    pub(super) fn subscriber(&self) -> Result<Connection, StoreError> {
        let err = |e: RedisError| self.error(&e);
        match &self.mode {
            Mode::Single(info) => connect_single(info, self.timeout).map_err(err),
            Mode::Sentinel { .. } => sentinel_master(&self.mode, self.timeout, &self.target),
            Mode::Cluster(_, seeds) => {
                let mut last = None;
                for info in seeds {
                    match connect_single(info, self.timeout) {
                        Ok(c) => return Ok(c),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.map_or_else(
                    || StoreError::Redis {
                        target: self.target.clone(),
                        reason: "no seed node".into(),
                    },
                    err,
                ))
            }
        }
    }

    /// A connection, and whether it came from the pool (may have been
    /// dropped by the server since) rather than just made.
    fn checkout(&self) -> Result<(Conn, bool), StoreError> {
        loop {
            let next = self.lock().pop();
            let Some((mut conn, since)) = next else {
                return Ok((connect(&self.mode, self.timeout, &self.target)?, false));
            };
            if since.elapsed() < IDLE_CHECK {
                return Ok((conn, true));
            }
            if ::redis::cmd("PING").query::<String>(conn.link()).is_ok() {
                return Ok((conn, true));
            }
        }
    }

    fn checkin(&self, conn: Conn) {
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE {
            idle.push((conn, Instant::now()));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Conn, Instant)>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn error(&self, e: &RedisError) -> StoreError {
        StoreError::Redis {
            target: self.target.clone(),
            reason: describe(e, self.timeout),
        }
    }
}

/// A Redis error in words an operator acts on; never a credential.
fn describe(e: &RedisError, timeout: Duration) -> String {
    if e.is_connection_refusal() {
        "connection refused (is the server running and reachable at this address?)".into()
    } else if e.is_timeout() {
        format!("no answer within {} ms (timed out)", timeout.as_millis())
    } else if e.kind() == ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
    {
        format!("authentication failed ({})", e.code().unwrap_or("AUTH"))
    } else if e.is_connection_dropped() {
        format!("connection lost ({e})")
    } else {
        e.to_string()
    }
}

fn connect_single(info: &ConnectionInfo, timeout: Duration) -> RedisResult<Connection> {
    let conn = Client::open(info.clone())?.get_connection_with_timeout(timeout)?;
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    Ok(conn)
}

fn connect(mode: &Mode, timeout: Duration, target: &str) -> Result<Conn, StoreError> {
    let err = |e: RedisError| StoreError::Redis {
        target: target.to_string(),
        reason: describe(&e, timeout),
    };
    match mode {
        Mode::Single(info) => connect_single(info, timeout).map(Conn::Single).map_err(err),
        Mode::Cluster(client, _) => {
            let conn = client.get_connection().map_err(err)?;
            conn.set_write_timeout(Some(timeout)).map_err(err)?;
            Ok(Conn::Cluster(Box::new(conn)))
        }
        Mode::Sentinel { .. } => sentinel_master(mode, timeout, target).map(Conn::Single),
    }
}

/// Asks each Sentinel in turn for the master's address and connects to it
/// once it says `ROLE` master (not a demoted one mid-failover).
fn sentinel_master(mode: &Mode, timeout: Duration, target: &str) -> Result<Connection, StoreError> {
    let Mode::Sentinel {
        sentinels,
        master,
        node,
        tls,
        ca,
    } = mode
    else {
        unreachable!("only called for Sentinel mode");
    };
    let mut reasons = Vec::new();
    for sentinel in sentinels {
        let label = addr_label(sentinel);
        let addr = connect_single(sentinel, timeout).and_then(|mut c| {
            ::redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(master)
                .query::<Option<(String, u16)>>(&mut c)
        });
        let (host, port) = match addr {
            Ok(Some(a)) => a,
            Ok(None) => {
                reasons.push(format!("{label}: does not know master `{master}`"));
                continue;
            }
            Err(e) => {
                reasons.push(format!("{label}: {}", describe(&e, timeout)));
                continue;
            }
        };
        let addr = if *tls {
            ConnectionAddr::TcpTls {
                host: host.clone(),
                port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host.clone(), port)
        };
        let info = match addr
            .into_connection_info()
            .and_then(|i| with_tls_roots(i, ca.as_deref()))
        {
            Ok(i) => i.set_redis_settings(node.clone()),
            Err(e) => {
                reasons.push(format!("{label}: {}", describe(&e, timeout)));
                continue;
            }
        };
        let master_label = addr_label(&info);
        let checked = connect_single(&info, timeout).and_then(|mut c| {
            let role: Vec<::redis::Value> = ::redis::cmd("ROLE").query(&mut c)?;
            let is_master = matches!(role.first(), Some(::redis::Value::BulkString(r)) if r == b"master")
                || matches!(role.first(), Some(::redis::Value::SimpleString(r)) if r == "master");
            Ok((c, is_master))
        });
        match checked {
            Ok((c, true)) => return Ok(c),
            Ok((_, false)) => reasons.push(format!(
                "{label} names {master_label}, which is not a master (failover in progress?)"
            )),
            Err(e) => reasons.push(format!(
                "{label} names {master_label}: {}",
                describe(&e, timeout)
            )),
        }
    }
    Err(StoreError::Redis {
        target: target.to_string(),
        reason: format!("no usable master: {}", reasons.join("; ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_redacted() {
        assert_eq!(
            check_redis_url("redis://127.0.0.1:6379/2"),
            Ok(RedisUrl {
                tcp: true,
                tls: false,
                db: 2
            })
        );
        assert_eq!(
            check_redis_url("redis://:pw@h"),
            Ok(RedisUrl {
                tcp: true,
                tls: false,
                db: 0
            })
        );
        assert_eq!(check_redis_url("rediss://h:6380").map(|u| u.tls), Ok(true));
        assert_eq!(check_redis_url("valkeys://h:6380").map(|u| u.tls), Ok(true));
        assert!(check_redis_url("valkey://h:1").is_ok());
        assert_eq!(
            check_redis_url("unix:///run/redis.sock").map(|u| u.tcp),
            Ok(false)
        );
        for bad in [
            "http://h",
            "127.0.0.1:6379",
            "",
            "redis://",
            "redis://h:notaport",
        ] {
            assert!(check_redis_url(bad).is_err(), "{bad}");
        }
        let e = check_redis_url("http://u:s3cret@h").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        assert_eq!(redact_url("redis://u:pw@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact_url("redis://:pw@h"), "redis://:***@h");
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
        let s = SentinelServers {
            master: "m".into(),
            urls: vec!["redis://:sentinelpw@h:26379".into()],
            password: Some("masterpw".into()),
            ..Default::default()
        };
        let dbg = format!("{s:?}");
        assert!(
            !dbg.contains("pw\"") && !dbg.contains("masterpw") && !dbg.contains("sentinelpw"),
            "{dbg}"
        );
    }
}

//! The gateway configuration: TOML, every key optional, unknown keys rejected.
//!
//! `Config::default()` is the embedded configuration `sipwake` runs on with no
//! arguments. Every option and its default is documented in docs/configuration.md;
//! keep the two in step.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

mod acme;
mod cluster;
mod files;
mod limits;
mod push;
mod web;

pub use acme::{AcmeConfig, AcmeIdentifier};
pub use cluster::ClusterConfig;
pub use files::DataFiles;
pub use limits::LimitsConfig;
pub use push::PushPolicy;
pub use web::WebSection;

/// Why a configuration could not be loaded. `Display` names the file, the key
/// and (for syntax / unknown keys) the line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// toml's message already carries "line N, column M" and the offending key.
    #[error("invalid config{}: {message}", origin.as_ref().map(|p| format!(" file {}", p.display())).unwrap_or_default())]
    Parse {
        origin: Option<PathBuf>,
        message: String,
    },
    #[error("invalid config value `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// The whole configuration: every section, each `#[serde(default)]`; the
/// files kept in `data_dir` are resolved by [`Config::data_files`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the kept files live ([`Config::data_files`]).
    pub data_dir: PathBuf,
    /// tracing `EnvFilter` directives, e.g. `info` or `sipwake=debug,info`.
    pub log: String,
    /// `text` (human-readable key=value lines) or `json` (one object per line).
    pub log_format: LogFormat,
    pub sip: SipConfig,
    pub http: HttpConfig,
    pub upstream: UpstreamConfig,
    pub registrar: RegistrarConfig,
    /// `[push]`: when to push, hold and remove (the manual's
    /// `pushnotification_*` options; docs/push.md).
    pub push: PushPolicy,
    /// `[push_delivery]`: concurrency, timeouts and retries of push sends.
    pub push_delivery: sipwake_push::config::DeliveryConfig,
    /// `[fcm]`, `[apns]`, `[webpush]`: provider credentials
    /// (docs/push-providers.md).
    pub fcm: sipwake_push::config::FcmConfig,
    pub apns: sipwake_push::config::ApnsConfig,
    pub webpush: sipwake_push::config::WebPushConfig,
    /// `[templates]`: the manual's fcmmessage.txt / pushkitmessage.txt.
    pub templates: sipwake_push::config::TemplateConfig,
    pub store: StoreConfig,
    pub api: ApiConfig,
    /// `[web]`: the web demo, service worker and SDK files, Firebase web config.
    pub web: WebSection,
    /// `[limits]`: per-source limits and bans.
    pub limits: LimitsConfig,
    /// `[cluster]`: one node of several sharing Redis (docs/cluster.md).
    pub cluster: ClusterConfig,
    /// `[acme]`: automatic certificates (docs/tls.md).
    pub acme: AcmeConfig,
}

/// `[store]`: where push bindings live.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite` (embedded, the default) or `redis` (Redis / Valkey, shared
    /// by several gateways).
    pub backend: StoreBackend,
    /// SQLite file; empty = `<data_dir>/bindings.db`.
    pub path: PathBuf,
    /// X-PIID encryption key as 64 hex characters; empty = generated into
    /// `<data_dir>/store.key` on first run.
    pub key: String,
    /// Redis URLs: one = a standalone server (or a cluster node, then the
    /// cluster's one seed), several = Redis Cluster seed nodes.
    pub redis_urls: Vec<String>,
    /// Redis Sentinel: the master's name and the Sentinels (instead of
    /// `redis_urls`).
    pub redis_sentinel: Option<RedisSentinelConfig>,
    /// The first part of every Redis key.
    pub redis_prefix: String,
    /// Bound of every Redis connect and command, in milliseconds.
    pub redis_timeout_ms: u64,
    /// Replicas that must have every binding write before it counts as
    /// stored (`WAIT`); 0 = the master's answer is enough.
    pub redis_wait_replicas: u32,
    /// `rediss://`: the CA certificate (PEM file) the Redis servers'
    /// certificates are checked against; empty = the system's roots.
    pub redis_tls_ca: PathBuf,
}

/// `[store] backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Sqlite,
    Redis,
}

/// `[store] redis_sentinel = { master = "mymaster", urls = [...] }`.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSentinelConfig {
    /// The master's name as the Sentinels monitor it.
    pub master: String,
    /// The Sentinels, `redis://[user:password@]host:port`.
    pub urls: Vec<String>,
    /// Database on the master.
    #[serde(default)]
    pub db: i64,
    /// ACL user and password on the master; empty = none.
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
}

impl std::fmt::Debug for RedisSentinelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSentinelConfig")
            .field("master", &self.master)
            .field("urls", &self.urls.len())
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackend::Sqlite,
            path: PathBuf::new(),
            key: String::new(),
            redis_urls: Vec::new(),
            redis_sentinel: None,
            redis_prefix: "sipwake".into(),
            redis_timeout_ms: 2000,
            redis_wait_replicas: 0,
            redis_tls_ca: PathBuf::new(),
        }
    }
}

impl StoreConfig {
    /// The Redis keys' checks: the key (`store.…`) and what is wrong.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        let redis_keys_set = !self.redis_urls.is_empty() || self.redis_sentinel.is_some();
        match self.backend {
            StoreBackend::Sqlite if redis_keys_set => {
                let key = if self.redis_urls.is_empty() {
                    "store.redis_sentinel"
                } else {
                    "store.redis_urls"
                };
                return Err((
                    key,
                    "is set, but store.backend is \"sqlite\": set backend = \"redis\" to keep the bindings in Redis".into(),
                ));
            }
            StoreBackend::Sqlite => {}
            StoreBackend::Redis => {
                if !self.path.as_os_str().is_empty() {
                    return Err((
                        "store.path",
                        "is the SQLite file; with backend = \"redis\" leave it unset".into(),
                    ));
                }
                match (&self.redis_sentinel, self.redis_urls.is_empty()) {
                    (Some(_), false) => {
                        return Err((
                            "store.redis_sentinel",
                            "set either store.redis_urls (a standalone server or Redis Cluster seed nodes) or store.redis_sentinel, not both".into(),
                        ));
                    }
                    (None, true) => {
                        return Err((
                            "store.redis_urls",
                            "is empty: backend = \"redis\" needs one URL (a standalone server), several (Redis Cluster seed nodes) or store.redis_sentinel".into(),
                        ));
                    }
                    _ => {}
                }
            }
        }
        let several = self.redis_urls.len() > 1;
        for url in &self.redis_urls {
            let u =
                sipwake_store::redis::check_redis_url(url).map_err(|r| ("store.redis_urls", r))?;
            if several && (!u.tcp || u.db != 0) {
                return Err((
                    "store.redis_urls",
                    format!(
                        "`{}`: Redis Cluster seed nodes need host:port URLs and database 0",
                        sipwake_store::redis::redact_url(url)
                    ),
                ));
            }
        }
        if let Some(s) = &self.redis_sentinel {
            if s.master.trim().is_empty() {
                return Err(("store.redis_sentinel.master", "must not be empty".into()));
            }
            if s.urls.is_empty() {
                return Err((
                    "store.redis_sentinel.urls",
                    "must list at least one Sentinel".into(),
                ));
            }
            for url in &s.urls {
                let u = sipwake_store::redis::check_redis_url(url)
                    .map_err(|r| ("store.redis_sentinel.urls", r))?;
                if !u.tcp {
                    return Err((
                        "store.redis_sentinel.urls",
                        format!(
                            "`{}`: a Sentinel is reached at host:port",
                            sipwake_store::redis::redact_url(url)
                        ),
                    ));
                }
            }
            if s.db < 0 {
                return Err(("store.redis_sentinel.db", "must be 0 or more".into()));
            }
        }
        let p = &self.redis_prefix;
        if p.is_empty()
            || p.chars()
                .any(|c| c == '{' || c == '}' || c.is_whitespace() || c.is_control())
        {
            return Err((
                "store.redis_prefix",
                "must be non-empty, without braces or spaces".into(),
            ));
        }
        if !(10..=60_000).contains(&self.redis_timeout_ms) {
            return Err((
                "store.redis_timeout_ms",
                "must be between 10 and 60000".into(),
            ));
        }
        if !self.redis_tls_ca.as_os_str().is_empty() {
            let tls = self
                .redis_urls
                .iter()
                .chain(self.redis_sentinel.iter().flat_map(|s| s.urls.iter()))
                .any(|u| sipwake_store::redis::check_redis_url(u).is_ok_and(|r| r.tls));
            if self.backend != StoreBackend::Redis || !tls {
                return Err((
                    "store.redis_tls_ca",
                    "is set, but no Redis URL is rediss:// (or valkeys://)".into(),
                ));
            }
        }
        if self.redis_wait_replicas > 0 && self.backend != StoreBackend::Redis {
            return Err((
                "store.redis_wait_replicas",
                "is set, but store.backend is \"sqlite\"".into(),
            ));
        }
        if self.redis_wait_replicas > 0 && self.redis_urls.len() > 1 {
            return Err((
                "store.redis_wait_replicas",
                "is not supported with Redis Cluster (several redis_urls) yet: use a standalone master with replicas, or Sentinel".into(),
            ));
        }
        Ok(())
    }
}

/// `[api]`: the operator HTTP API.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Bearer tokens accepted by `/api/v1/…`; none = the API answers 401.
    pub tokens: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Listen addresses per transport; an empty list disables the transport.
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub tls: Vec<SocketAddr>,
    /// Host, optionally `host:port`, written into our Via / Record-Route / Path.
    /// Empty = the listen IP (or the primary interface IP for a wildcard bind).
    pub advertise: String,
    /// PEM certificate chain and private key; both empty = self-signed in data_dir.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Extra CA certificates (PEM) trusted for outgoing SIP TLS, besides the
    /// public web PKI roots; e.g. a test upstream's self-signed certificate.
    pub tls_ca: PathBuf,
    /// Seconds between checks of `tls_cert` / `tls_key` for new contents
    /// (hot reload); 0 = only on SIGHUP.
    pub tls_reload_secs: u64,
    pub max_message_bytes: usize,
    pub max_headers: usize,
    pub max_connections: usize,
    pub idle_timeout_secs: u64,
    pub read_timeout_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// HTTPS (and WSS on `/ws`) listener; `""` disables.
    #[serde(deserialize_with = "optional_addr")]
    pub https: Option<SocketAddr>,
    /// Plain HTTP (and WS on `/ws`) listener; `""` (default) disables.
    #[serde(deserialize_with = "optional_addr")]
    pub http: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// Default upstream SIP server URI, e.g. `sip:127.0.0.1:5070;transport=udp`.
    /// Empty = standalone mode (the built-in registrar answers).
    pub server: String,
    /// Honour the client's X-Sy.Uppersrv / X-Sy.Upperproxy / X-Sy.Uppersrvd / R-URI domain.
    pub client_selection: bool,
    /// `host[:port]` entries clients may select; the gateway is never an open relay.
    pub allow: Vec<String>,
    /// How the upstream learns to reach clients through us (docs/sip-routing.md).
    pub contact_mode: ContactMode,
}

/// `path` (RFC 3327, default) or `rewrite` (Contact rewriting, for upstreams
/// without Path support).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactMode {
    #[default]
    Path,
    Rewrite,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrarConfig {
    pub realm: String,
    /// Lines `user:password` or `user:ha1:<hex>`; non-empty enables digest auth.
    pub users_file: PathBuf,
    pub max_expires: u32,
    pub min_expires: u32,
    /// Digest algorithms offered, in order of preference: one challenge
    /// each (RFC 8760). `MD5`, `SHA-256`, `SHA-512-256`.
    pub digest_algorithms: Vec<String>,
}

impl RegistrarConfig {
    /// [`Self::digest_algorithms`], parsed (validated at load).
    pub fn digest_algorithms(&self) -> Vec<sipwake_sip::digest::Algorithm> {
        self.digest_algorithms
            .iter()
            .filter_map(|a| sipwake_sip::digest::Algorithm::parse(a))
            .collect()
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./sipwake-data"),
            log: "info".into(),
            log_format: LogFormat::Text,
            sip: SipConfig::default(),
            http: HttpConfig::default(),
            upstream: UpstreamConfig::default(),
            registrar: RegistrarConfig::default(),
            push: Default::default(),
            push_delivery: Default::default(),
            fcm: Default::default(),
            apns: Default::default(),
            webpush: Default::default(),
            templates: Default::default(),
            store: StoreConfig::default(),
            api: ApiConfig::default(),
            web: WebSection::default(),
            limits: LimitsConfig::default(),
            cluster: ClusterConfig::default(),
            acme: AcmeConfig::default(),
        }
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        // Loopback by default: an unauthenticated registrar must not be exposed
        // unless the operator asks for it.
        SipConfig {
            udp: vec![loopback(5060)],
            tcp: vec![loopback(5060)],
            tls: vec![loopback(5061)],
            advertise: String::new(),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            tls_ca: PathBuf::new(),
            tls_reload_secs: 5,
            max_message_bytes: 65535,
            max_headers: 128,
            max_connections: 10_000,
            idle_timeout_secs: 600,
            read_timeout_secs: 30,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            https: Some(loopback(8443)),
            http: None,
        }
    }
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            realm: "sipwake".into(),
            users_file: PathBuf::new(),
            max_expires: 3600,
            min_expires: 60,
            // MD5 only by default: JsSIP and many phones answer nothing else
            // and give up on the first challenge they cannot use.
            digest_algorithms: vec!["MD5".into()],
        }
    }
}

/// `""` means "disabled"; anything else must be `ip:port`.
fn optional_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("`{s}` is not an ip:port address")))
}

/// Upper bound for `max_message_bytes`: the framer buffers a whole message.
const MAX_MESSAGE_BYTES_LIMIT: usize = 16 * 1024 * 1024;

impl Config {
    /// Parse and validate TOML text. `origin` only labels errors.
    pub fn from_toml_str(text: &str, origin: Option<&Path>) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.map(Path::to_path_buf),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Read, parse and validate a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml_str(&text, Some(path))
    }

    /// Standalone mode: no default upstream; the built-in registrar answers REGISTER.
    pub fn is_standalone(&self) -> bool {
        self.upstream.server.trim().is_empty()
    }

    /// Whether any SIP or HTTP listener binds a non-loopback address.
    pub fn exposes_non_loopback(&self) -> bool {
        let s = &self.sip;
        s.udp
            .iter()
            .chain(&s.tcp)
            .chain(&s.tls)
            .chain(self.http.https.iter())
            .chain(self.http.http.iter())
            .any(|a| !a.ip().is_loopback())
    }

    /// Cross-field and range checks that serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_string(),
            })
        };
        if self.data_dir.as_os_str().is_empty() {
            return invalid("data_dir", "must not be empty");
        }
        let s = &self.sip;
        if s.max_message_bytes < 1024 || s.max_message_bytes > MAX_MESSAGE_BYTES_LIMIT {
            return invalid(
                "sip.max_message_bytes",
                &format!("must be between 1024 and {MAX_MESSAGE_BYTES_LIMIT}"),
            );
        }
        if s.max_headers == 0 {
            return invalid("sip.max_headers", "must be at least 1");
        }
        if s.max_connections == 0 {
            return invalid("sip.max_connections", "must be at least 1");
        }
        if s.idle_timeout_secs == 0 {
            return invalid("sip.idle_timeout_secs", "must be at least 1");
        }
        if s.read_timeout_secs == 0 {
            return invalid("sip.read_timeout_secs", "must be at least 1");
        }
        if s.tls_cert.as_os_str().is_empty() != s.tls_key.as_os_str().is_empty() {
            return invalid(
                "sip.tls_cert",
                "sip.tls_cert and sip.tls_key must be set together (or both left empty for a self-signed certificate)",
            );
        }
        if s.tls_reload_secs > 86_400 {
            return invalid("sip.tls_reload_secs", "must be between 0 and 86400");
        }
        if let Err((key, reason)) = self.acme.validate(
            self.http.http.is_some(),
            self.http.https.is_some(),
            !s.tls.is_empty(),
        ) {
            return Err(ConfigError::Invalid { key, reason });
        }
        if let Err(reason) = parse_advertise(&s.advertise) {
            return invalid("sip.advertise", &reason);
        }
        let u = &self.upstream;
        let server = u.server.trim();
        if !server.is_empty() {
            let lower = server.to_ascii_lowercase();
            if !(lower.starts_with("sip:") || lower.starts_with("sips:")) {
                return invalid("upstream.server", "must be a sip: or sips: URI");
            }
        }
        if u.allow.iter().any(|h| h.trim().is_empty()) {
            return invalid("upstream.allow", "entries must not be empty");
        }
        if let Err((key, reason)) = self.web.validate() {
            return Err(ConfigError::Invalid { key, reason });
        }
        if let Err((key, reason)) = self.cluster.validate() {
            return invalid(key, reason);
        }
        if self.cluster.enabled && self.store.backend != StoreBackend::Redis {
            return invalid(
                "cluster.enabled",
                "needs [store] backend = \"redis\": the nodes share their state there",
            );
        }
        if self.cluster.enabled && self.is_standalone() {
            return invalid(
                "cluster.enabled",
                "needs [upstream] server: the nodes share one SIP registrar upstream (standalone registrations live in one process)",
            );
        }
        if self.cluster.enabled
            && self.cluster.sip_uri.is_empty()
            && self.sip.udp.first().is_none_or(|a| a.ip().is_unspecified())
        {
            return invalid(
                "cluster.sip_uri",
                "is empty and the first [sip] udp address is missing or a wildcard: set the address other nodes reach this one at",
            );
        }
        if let Err((key, reason)) = self.limits.validate() {
            return Err(ConfigError::Invalid {
                key,
                reason: reason.into(),
            });
        }
        if let Err(e) = self.push.validate() {
            return Err(ConfigError::Invalid {
                key: "push",
                reason: e.to_string(),
            });
        }
        if let Err((key, reason)) = self.store.validate() {
            return Err(ConfigError::Invalid { key, reason });
        }
        if !self.store.key.is_empty()
            && (self.store.key.len() != 64
                || !self.store.key.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return invalid("store.key", "must be 64 hex characters (32 bytes)");
        }
        if self.api.tokens.iter().any(|t| t.len() < 16) {
            return invalid("api.tokens", "each token must be at least 16 characters");
        }
        let r = &self.registrar;
        if r.realm.trim().is_empty() {
            return invalid("registrar.realm", "must not be empty");
        }
        if r.min_expires == 0 {
            return invalid("registrar.min_expires", "must be at least 1");
        }
        if r.min_expires > r.max_expires {
            return invalid(
                "registrar.min_expires",
                "must not be greater than registrar.max_expires",
            );
        }
        let algs = r.digest_algorithms();
        if r.digest_algorithms.is_empty() || algs.len() != r.digest_algorithms.len() {
            return invalid(
                "registrar.digest_algorithms",
                "must list one or more of \"MD5\", \"SHA-256\", \"SHA-512-256\"",
            );
        }
        if (1..algs.len()).any(|i| algs[..i].contains(&algs[i])) {
            return invalid("registrar.digest_algorithms", "lists an algorithm twice");
        }
        Ok(())
    }

    /// The advertised host and optional port from `sip.advertise` (validated).
    pub fn advertise(&self) -> Option<(String, Option<u16>)> {
        parse_advertise(&self.sip.advertise).ok().flatten()
    }
}

/// `""` → None; `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
pub fn parse_advertise(value: &str) -> Result<Option<(String, Option<u16>)>, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Ok(Some((ip.to_string(), None)));
    }
    let (host, port) = if let Some(rest) = v.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{v}`: unterminated `[`"))?;
        h.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("`{h}` is not an IPv6 address"))?;
        match after {
            "" => (h.to_string(), None),
            p => (h.to_string(), Some(p.strip_prefix(':').unwrap_or("x"))),
        }
    } else {
        match v.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (v.to_string(), None),
        }
    };
    let valid_host = !host.is_empty()
        && host.contains(|c: char| c.is_ascii_alphanumeric())
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if !valid_host {
        return Err(format!("`{v}` is not a host or host:port"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 => Some(n),
            _ => return Err(format!("`{p}` is not a port (1-65535)")),
        },
    };
    Ok(Some((host, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_embedded_default() {
        let c = Config::from_toml_str("", None).unwrap();
        assert_eq!(c, Config::default());
        assert!(c.is_standalone());
        assert!(!c.exposes_non_loopback());
        assert_eq!(c.sip.udp, vec!["127.0.0.1:5060".parse().unwrap()]);
        assert_eq!(c.http.https, Some("127.0.0.1:8443".parse().unwrap()));
        assert_eq!(c.http.http, None);
    }

    #[test]
    fn full_contract_example_parses() {
        let text = r#"
data_dir = "/tmp/x"
log = "debug"
log_format = "json"
[sip]
udp = ["127.0.0.1:15060"]
tcp = []
tls = ["[::1]:15061"]
advertise = "gw.example.org:5099"
tls_cert = "c.pem"
tls_key = "k.pem"
tls_ca = "ca.pem"
max_message_bytes = 4096
max_headers = 64
max_connections = 10
idle_timeout_secs = 5
read_timeout_secs = 2
[http]
https = ""
http = "127.0.0.1:8080"
[upstream]
server = "sip:127.0.0.1:5070;transport=udp"
client_selection = true
allow = ["127.0.0.1:5070", "sip.example.org"]
contact_mode = "rewrite"
[registrar]
realm = "r"
users_file = "users.txt"
max_expires = 600
min_expires = 30
"#;
        let c = Config::from_toml_str(text, None).unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.sip.tcp, vec![]);
        assert_eq!(c.sip.tls, vec!["[::1]:15061".parse().unwrap()]);
        assert_eq!(c.http.https, None);
        assert_eq!(c.http.http, Some("127.0.0.1:8080".parse().unwrap()));
        assert!(!c.is_standalone());
        assert_eq!(
            c.advertise(),
            Some(("gw.example.org".to_string(), Some(5099)))
        );
        assert_eq!(c.registrar.min_expires, 30);
        assert_eq!(c.upstream.allow.len(), 2);
        assert_eq!(c.upstream.contact_mode, ContactMode::Rewrite);
        let err = Config::from_toml_str("[upstream]\ncontact_mode = \"x\"", None).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = Config::from_toml_str("log = \"info\"\n[sip]\nudpp = []\n", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("udpp"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn bad_address_is_reported() {
        let err = Config::from_toml_str("[http]\nhttps = \"nope\"\n", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope") && err.contains("line 2"), "{err}");
        let err = Config::from_toml_str("[sip]\nudp = [\"1.2.3.4\"]\n", None).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn range_checks_name_the_key() {
        for (text, key) in [
            ("[sip]\nmax_message_bytes = 10", "sip.max_message_bytes"),
            ("[sip]\nmax_headers = 0", "sip.max_headers"),
            ("[sip]\nmax_connections = 0", "sip.max_connections"),
            ("[sip]\nidle_timeout_secs = 0", "sip.idle_timeout_secs"),
            ("[sip]\ntls_cert = \"a.pem\"", "sip.tls_cert"),
            ("[sip]\nadvertise = \"a b\"", "sip.advertise"),
            ("[sip]\nadvertise = \"h:0\"", "sip.advertise"),
            ("[upstream]\nserver = \"http://x\"", "upstream.server"),
            ("[registrar]\nmin_expires = 7200", "registrar.min_expires"),
            ("[registrar]\nrealm = \"\"", "registrar.realm"),
            (
                "[registrar]\ndigest_algorithms = []",
                "registrar.digest_algorithms",
            ),
            ("[limits]\nauth_window_secs = 0", "limits.auth_window_secs"),
            ("[limits]\nban_secs = 0", "limits.ban_secs"),
            (
                "[registrar]\ndigest_algorithms = [\"SHA-1\"]",
                "registrar.digest_algorithms",
            ),
            (
                "[registrar]\ndigest_algorithms = [\"MD5\", \"md5\"]",
                "registrar.digest_algorithms",
            ),
        ] {
            let err = Config::from_toml_str(text, None).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn store_backends_parse() {
        let c = Config::from_toml_str("", None).unwrap();
        assert_eq!(c.store.backend, StoreBackend::Sqlite);
        assert_eq!(
            (c.store.redis_prefix.as_str(), c.store.redis_timeout_ms),
            ("sipwake", 2000)
        );
        let c = Config::from_toml_str(
            "[store]\nbackend = \"redis\"\nredis_urls = [\"redis://127.0.0.1:6379/1\"]\n\
             redis_prefix = \"gw\"\nredis_timeout_ms = 500\n",
            None,
        )
        .unwrap();
        assert_eq!(c.store.backend, StoreBackend::Redis);
        assert_eq!(c.store.redis_urls, ["redis://127.0.0.1:6379/1"]);
        let c = Config::from_toml_str(
            "[store]\nbackend = \"redis\"\nredis_urls = [\"redis://a:7000\", \"redis://:pw@b:7001\"]\n",
            None,
        )
        .unwrap();
        assert_eq!(c.store.redis_urls.len(), 2);
        let c = Config::from_toml_str(
            "[store]\nbackend = \"redis\"\n\
             redis_sentinel = { master = \"mymaster\", urls = [\"redis://10.0.0.1:26379\"], db = 2, password = \"s3cret\" }\n",
            None,
        )
        .unwrap();
        let s = c.store.redis_sentinel.as_ref().unwrap();
        assert_eq!((s.master.as_str(), s.db), ("mymaster", 2));
        assert!(!format!("{c:?}").contains("s3cret"));
        let err = Config::from_toml_str("[store]\nbackend = \"memcached\"", None).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = Config::from_toml_str(
            "[store]\nbackend = \"redis\"\nredis_sentinel = { urls = [] }",
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("master"), "{err}");
    }

    #[test]
    fn cluster_settings_are_read_and_mistakes_name_the_key() {
        let ok = "[upstream]\nserver = \"sip:10.0.0.1\"\n[store]\nbackend = \"redis\"\nredis_urls = [\"redis://h\"]\n";
        let c = Config::from_toml_str(
            &format!("{ok}[cluster]\nenabled = true\nnode_id = \"gw-a\"\nsip_uri = \"sip:10.0.0.7:5060\"\nheartbeat_ms = 200\npoll_ms = 100\n"),
            None,
        )
        .unwrap();
        assert_eq!(
            (
                c.cluster.node_id.as_str(),
                c.cluster.sip_uri.as_str(),
                c.cluster.heartbeat_ms,
                c.cluster.poll_ms
            ),
            ("gw-a", "sip:10.0.0.7:5060", 200, 100)
        );
        for (text, key) in [
            (format!("{ok}[cluster]\nnode_id = \"gw-a\""), "cluster.enabled"),
            ("[upstream]\nserver = \"sip:10.0.0.1\"\n[cluster]\nenabled = true".to_string(), "cluster.enabled"),
            (
                "[store]\nbackend = \"redis\"\nredis_urls = [\"redis://h\"]\n[cluster]\nenabled = true".to_string(),
                "cluster.enabled",
            ),
            (format!("{ok}[cluster]\nenabled = true\nnode_id = \"a b\""), "cluster.node_id"),
            (format!("{ok}[cluster]\nenabled = true\nsip_uri = \"10.0.0.7\""), "cluster.sip_uri"),
            (
                format!("{ok}[sip]\nudp = [\"0.0.0.0:5060\"]\n[cluster]\nenabled = true"),
                "cluster.sip_uri",
            ),
            (format!("{ok}[cluster]\nenabled = true\nheartbeat_ms = 10"), "cluster.heartbeat_ms"),
            (format!("{ok}[cluster]\nenabled = true\npoll_ms = 1"), "cluster.poll_ms"),
        ] {
            let err = Config::from_toml_str(&text, None).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn store_mistakes_name_the_key_and_hide_passwords() {
        let redis = "[store]\nbackend = \"redis\"\n";
        let sentinel = "redis_sentinel = { master = \"m\", urls = [\"redis://h:26379\"] }\n";
        for (text, key) in [
            (
                "[store]\nredis_urls = [\"redis://h\"]".to_string(),
                "store.redis_urls",
            ),
            (format!("[store]\n{sentinel}"), "store.redis_sentinel"),
            (redis.to_string(), "store.redis_urls"),
            (format!("{redis}redis_urls = []"), "store.redis_urls"),
            (
                format!("{redis}redis_urls = [\"redis://h\"]\n{sentinel}"),
                "store.redis_sentinel",
            ),
            (
                format!("{redis}redis_urls = [\"redis://h\"]\npath = \"b.db\""),
                "store.path",
            ),
            (
                format!("{redis}redis_urls = [\"http://h\"]"),
                "store.redis_urls",
            ),
            (
                format!("{redis}redis_urls = [\"redis://h:notaport\"]"),
                "store.redis_urls",
            ),
            (
                format!("{redis}redis_urls = [\"redis://a/1\", \"redis://b\"]"),
                "store.redis_urls",
            ),
            (
                format!("{redis}redis_urls = [\"redis://a\", \"unix:///r.sock\"]"),
                "store.redis_urls",
            ),
            (
                format!("{redis}redis_sentinel = {{ master = \"\", urls = [\"redis://h:1\"] }}"),
                "store.redis_sentinel.master",
            ),
            (
                format!("{redis}redis_sentinel = {{ master = \"m\", urls = [] }}"),
                "store.redis_sentinel.urls",
            ),
            (
                format!("{redis}redis_sentinel = {{ master = \"m\", urls = [\"h:26379\"] }}"),
                "store.redis_sentinel.urls",
            ),
            (
                format!(
                    "{redis}redis_sentinel = {{ master = \"m\", urls = [\"redis://h:1\"], db = -1 }}"
                ),
                "store.redis_sentinel.db",
            ),
            (
                format!("{redis}redis_urls = [\"redis://h\"]\nredis_prefix = \"a{{b}}\""),
                "store.redis_prefix",
            ),
            (
                "[store]\nredis_prefix = \"\"".to_string(),
                "store.redis_prefix",
            ),
            (
                "[store]\nredis_timeout_ms = 0".to_string(),
                "store.redis_timeout_ms",
            ),
            (
                "[store]\nredis_timeout_ms = 600000".to_string(),
                "store.redis_timeout_ms",
            ),
            (
                "[store]\nredis_wait_replicas = 1".to_string(),
                "store.redis_wait_replicas",
            ),
            (
                format!("{redis}redis_urls = [\"redis://h\"]\nredis_tls_ca = \"ca.pem\""),
                "store.redis_tls_ca",
            ),
            (
                format!(
                    "{redis}redis_urls = [\"redis://a:1\", \"redis://b:1\"]\nredis_wait_replicas = 1"
                ),
                "store.redis_wait_replicas",
            ),
        ] {
            let err = Config::from_toml_str(&text, None).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        let err = Config::from_toml_str(
            &format!("{redis}redis_urls = [\"redis://u:hunter2@a/1\", \"redis://u:hunter2@b\"]"),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("hunter2") && err.contains("u:***@a"), "{err}");
    }

    #[test]
    fn negative_number_is_a_type_error_not_a_panic() {
        let err = Config::from_toml_str("[sip]\nmax_headers = -1", None).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn advertise_forms() {
        assert_eq!(parse_advertise("").unwrap(), None);
        assert_eq!(
            parse_advertise("10.0.0.1").unwrap(),
            Some(("10.0.0.1".into(), None))
        );
        assert_eq!(parse_advertise("::1").unwrap(), Some(("::1".into(), None)));
        assert_eq!(
            parse_advertise("[::1]:5070").unwrap(),
            Some(("::1".into(), Some(5070)))
        );
        assert_eq!(
            parse_advertise("h.example:1").unwrap(),
            Some(("h.example".into(), Some(1)))
        );
        assert!(parse_advertise("[::1").is_err());
        assert!(parse_advertise("[::1]x").is_err());
        assert!(parse_advertise("h:99999").is_err());
    }

    #[test]
    fn load_reports_missing_file() {
        let err = Config::load(Path::new("/nonexistent/sipwake.toml")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/sipwake.toml"),
            "{err}"
        );
    }
}

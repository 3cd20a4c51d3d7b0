//! The gateway wired once, at startup: the push service (binding store and
//! dispatcher), the proxy with push wake-up as its hold hook and binding
//! capture on REGISTER, the upstream keeper, and the API backend over them.
//! `main` builds a [`Runtime`], starts the transports with its proxy and
//! composes the HTTP routers.

use std::sync::Arc;

use sipwake_core::mpush::{MpushBinding, Provider};
use sipwake_core::payload::NotificationKind;
use sipwake_core::template::PushFields;
use sipwake_push::config::DispatcherConfig;
use sipwake_push::{Dispatcher, PushOutcome};
use sipwake_store::{
    BindingStore, PiidCipher, Presence, RedisOptions, RedisServers, RedisStore, SentinelServers,
    SqliteStore, StoreError, load_or_create_key,
};
use tracing::{info, warn};

use crate::api::{self, ApiState, BoxFuture, PushResult, SendPush, SendPushError};
use crate::bindings::{CaptureOptions, PushBindings, PushFuture, PushSender, PushStatus};
use crate::cluster::Cluster;
use crate::config::{Config, StoreBackend, StoreConfig};
use crate::keeper::Keeper;
use crate::proxy::{Proxy, ProxyError, ProxyParts};
use crate::transport::TransportHandle;
use crate::wake::Waker;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error("[store]: {0}")]
    Store(#[from] StoreError),
    /// The Redis backend could not be opened: `key` is the config key that
    /// names the servers.
    #[error("[store] {key}: {source}")]
    Redis {
        key: &'static str,
        source: StoreError,
    },
    #[error("[store] key: {0}")]
    Key(String),
    #[error("[cluster]: cannot join: {0}")]
    Cluster(StoreError),
    #[error("[store] redis_tls_ca {path}: {source}")]
    TlsCa {
        path: String,
        source: std::io::Error,
    },
    #[error("push providers ([fcm]/[apns]/[webpush]/[templates]): {0}")]
    Dispatcher(#[from] sipwake_push::ConfigError),
    #[error("cannot create data_dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

/// The push side: the binding store and the dispatcher that sends to the
/// providers, with the removal policy for dead tokens.
pub struct PushService {
    pub bindings: Arc<PushBindings>,
    pub dispatcher: Dispatcher,
    /// The Redis backend's cluster coordination (same servers, prefix).
    pub presence: Option<Presence>,
}

/// One push's outcome and the provider's message id.
pub struct PushReport {
    pub status: PushStatus,
    pub id: Option<String>,
}

/// The whole gateway behind the transports.
pub struct Runtime {
    pub push: Arc<PushService>,
    pub proxy: Arc<Proxy>,
    waker: Option<Arc<Waker>>,
    /// `[cluster]`: this node among several.
    pub cluster: Option<Arc<Cluster>>,
    /// Upstream mode: keeps sleeping apps' upstream registrations.
    keeper: Option<Arc<Keeper>>,
    transports: TransportHandle,
    /// The TLS listeners' certificates, reloaded with the push credentials
    /// by `POST /api/v1/reload` (set by `main` when TLS is on).
    certificates: std::sync::OnceLock<Arc<crate::tls::Certificates>>,
}

/// The providers that have credentials (X-MPUSH letters). Web Push needs
/// none beyond the VAPID key, which is generated on first run.
pub fn supported_providers(config: &Config) -> Vec<Provider> {
    let mut out = Vec::new();
    if !config.fcm.apps.is_empty() || config.fcm.key_dir.is_some() {
        out.extend([Provider::AndroidFcm, Provider::IosFcm]);
    }
    if !config.apns.apps.is_empty() || config.apns.key_dir.is_some() {
        out.push(Provider::Apns);
    }
    out.push(Provider::WebPush);
    out
}

impl Runtime {
    /// Builds the gateway: the push service, then the proxy over
    /// `transports` with push wake-up, then (upstream mode with Path) the
    /// keeper. Must be called inside a tokio runtime.
    pub fn build(
        config: &Arc<Config>,
        transports: TransportHandle,
    ) -> Result<Arc<Runtime>, RuntimeError> {
        let push = Arc::new(PushService::start(config)?);
        let parts = ProxyParts::new(config.clone(), Arc::new(transports.clone()))?
            .push(push.bindings.clone());
        let sender: Arc<dyn PushSender> = push.clone();
        let cluster = match (&push.presence, config.cluster.enabled) {
            (Some(p), true) => {
                let t = transports.clone();
                let flows = Box::new(move || t.connection_count() as u64);
                Some(Cluster::start(config, p.clone(), flows).map_err(RuntimeError::Cluster)?)
            }
            _ => None,
        };
        let (proxy, waker) = crate::wake::proxy_with_wake(parts, sender.clone(), cluster.clone())?;
        // Keeps sleeping apps registered upstream, with Path or with
        // contact rewriting alike.
        let keeper = (!config.is_standalone()).then(|| {
            Keeper::start(
                proxy.clone(),
                push.bindings.clone(),
                sender,
                cluster.clone(),
            )
        });
        Ok(Arc::new(Runtime {
            push,
            proxy,
            waker,
            cluster,
            keeper,
            transports,
            certificates: std::sync::OnceLock::new(),
        }))
    }
}

/// The Redis backend's servers, prefix and timeout from `[store]`
/// (validated at load).
fn redis_options(store: &StoreConfig) -> RedisOptions {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let servers = match &store.redis_sentinel {
        Some(s) => RedisServers::Sentinel(SentinelServers {
            master: s.master.clone(),
            urls: s.urls.clone(),
            db: s.db,
            username: non_empty(&s.username),
            password: non_empty(&s.password),
        }),
        None => RedisServers::Urls(store.redis_urls.clone()),
    };
    RedisOptions {
        servers,
        prefix: store.redis_prefix.clone(),
        timeout: std::time::Duration::from_millis(store.redis_timeout_ms),
        wait_replicas: store.redis_wait_replicas,
        tls_ca: None,
    }
}

/// `[push_delivery]`, with the manual's `[push] removeon_pushfail = 0`
/// turning removal on dead tokens off too (either switch keeps bindings).
fn delivery_config(config: &Config) -> sipwake_push::config::DeliveryConfig {
    let mut d = config.push_delivery.clone();
    d.remove_on_push_fail &= config.push.removeon_pushfail == 1;
    d
}

impl PushService {
    /// Opens the store and loads every provider credential (a bad one
    /// fails startup, loudly); expires silent devices in the background.
    pub fn start(config: &Config) -> Result<PushService, RuntimeError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| RuntimeError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let files = config.data_files();
        let key = if config.store.key.is_empty() {
            load_or_create_key(&files.store_key)?
        } else {
            sipwake_store::parse_key(&config.store.key).map_err(RuntimeError::Key)?
        };
        let cipher = PiidCipher::new(key);
        let mut presence = None;
        let (store, store_label): (Arc<dyn BindingStore>, String) = match config.store.backend {
            StoreBackend::Sqlite => (
                Arc::new(SqliteStore::open(&files.store, cipher)?),
                files.store.display().to_string(),
            ),
            StoreBackend::Redis => {
                let key = if config.store.redis_sentinel.is_some() {
                    "redis_sentinel"
                } else {
                    "redis_urls"
                };
                let mut options = redis_options(&config.store);
                let ca = &config.store.redis_tls_ca;
                if !ca.as_os_str().is_empty() {
                    options.tls_ca =
                        Some(std::fs::read(ca).map_err(|source| RuntimeError::TlsCa {
                            path: ca.display().to_string(),
                            source,
                        })?);
                }
                let redis = RedisStore::open(&options, cipher).map_err(|source| match source {
                    StoreError::Redis { .. } => RuntimeError::Redis { key, source },
                    other => RuntimeError::Store(other),
                })?;
                let label = format!("redis {}", redis.target());
                presence = Some(redis.presence());
                (Arc::new(redis), label)
            }
        };
        let mut webpush = config.webpush.clone();
        webpush.vapid_private_key = files.vapid_private_key;
        let dispatcher = Dispatcher::new(DispatcherConfig {
            fcm: config.fcm.clone(),
            apns: config.apns.clone(),
            webpush,
            delivery: delivery_config(config),
            templates: config.templates.clone(),
            payload: sipwake_push::config::PayloadConfig {
                ttl: config.push.ttl,
                sound_call: config.push.sound_call.clone(),
                sound_chat: config.push.sound_chat.clone(),
                sound_other: config.push.sound_other.clone(),
                fcm_remove_notification: sipwake_core::template::RemoveNotification::from_setting(
                    config.push.fcm_removenotification,
                ),
            },
        })?;
        let supported = supported_providers(config);
        info!(store = %store_label, providers = ?supported.iter().map(|p| p.letter()).collect::<String>(), "push bindings: store open, providers loaded");
        let bindings = Arc::new(PushBindings {
            store,
            options: CaptureOptions {
                supported,
                send_555: config.push.send555,
                remove_at_nopn: config.push.removeat_nopn == 1,
                remove_at_noprid: config.push.removeat_noprid == 1,
            },
            policy: config.push.clone(),
            max_devices: config.limits.bindings_per_aor,
        });
        spawn_expiry(bindings.clone());
        Ok(PushService {
            bindings,
            dispatcher,
            presence,
        })
    }

    /// Re-reads templates, keys and certificates (SIGHUP, `POST
    /// /api/v1/reload`); on error the previous set stays.
    pub fn reload(&self) -> Result<(), sipwake_push::ConfigError> {
        self.dispatcher.reload()
    }

    /// Sends one push to one binding and applies the failure policy
    /// (`pushnotification_removeon_pushfail`: dead tokens lose the binding
    /// `device` = (AOR, device key) names).
    pub async fn push_to(
        &self,
        target: &MpushBinding,
        fields: PushFields,
        device: Option<(&str, &str)>,
    ) -> PushReport {
        let label = || {
            device.map_or_else(
                || format!("token:{}", target.provider.letter()),
                |(_, d)| d.to_string(),
            )
        };
        let req = match self
            .dispatcher
            .build_request(target, fields.with_defaults())
        {
            Ok(r) => r,
            Err(e) => return PushReport::failed(e.to_string()),
        };
        match self.dispatcher.send(req).await {
            PushOutcome::Delivered { id, env, .. } => {
                if let (Some(env), Some((aor, dev))) = (env, device) {
                    self.correct_env(aor, dev, env).await;
                }
                PushReport {
                    status: PushStatus::Sent,
                    id: Some(id),
                }
            }
            PushOutcome::RemoveBinding { reason } => {
                if let Some((aor, dev)) = device {
                    let store = self.bindings.store.clone();
                    let (aor, dev) = (aor.to_string(), dev.to_string());
                    let removed =
                        tokio::task::spawn_blocking(move || store.remove(&aor, &dev)).await;
                    warn!(%reason, device = %label(), removed = ?removed.ok().and_then(Result::ok), "push token is gone; binding removed");
                }
                PushReport {
                    status: PushStatus::Removed(reason),
                    id: None,
                }
            }
            PushOutcome::Failed { retryable, reason } => {
                warn!(%reason, retryable, device = %label(), "push failed");
                PushReport::failed(reason)
            }
        }
    }

    /// APNs took the token only on the other host: the binding's
    /// environment is stored, so the next push goes there at once.
    async fn correct_env(&self, aor: &str, device: &str, env: sipwake_core::mpush::PushEnv) {
        let store = self.bindings.store.clone();
        let (aor, device) = (aor.to_owned(), device.to_owned());
        let result = tokio::task::spawn_blocking(move || {
            let Some(mut b) = store.get(&aor, &device)? else {
                return Ok(None);
            };
            b.push.env = env;
            store.upsert(&b).map(|_| Some(b))
        })
        .await;
        match result {
            Ok(Ok(Some(b))) => {
                info!(aor = %b.aor, device = %b.device, ?env, "push binding's APNs environment corrected")
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => warn!(error = %e, "push binding's environment not corrected"),
            Err(e) => warn!(error = %e, "push binding's environment not corrected"),
        }
    }

    /// [`Self::push_to`] a stored binding, as the API reports it.
    async fn push_binding(&self, b: &sipwake_store::Binding, fields: PushFields) -> PushResult {
        let r = self
            .push_to(&mpush_of(b), fields, Some((&b.aor, &b.device)))
            .await;
        PushResult::new(b.device.clone(), &r.status, r.id)
    }
}

impl PushReport {
    fn failed(reason: String) -> PushReport {
        PushReport {
            status: PushStatus::Failed(reason),
            id: None,
        }
    }
}

/// A stored binding's push target.
fn mpush_of(b: &sipwake_store::Binding) -> MpushBinding {
    MpushBinding {
        env: b.push.env,
        provider: b.push.provider,
        package: b.push.package.clone(),
        token: b.push.token.clone(),
    }
}

/// Wake-up and keeper pushes go through the dispatcher and the removal
/// policy.
impl PushSender for PushService {
    fn push<'a>(&'a self, b: &'a sipwake_store::Binding, fields: PushFields) -> PushFuture<'a> {
        Box::pin(async move {
            self.push_to(&mpush_of(b), fields, Some((&b.aor, &b.device)))
                .await
                .status
        })
    }
}

impl Runtime {
    /// `sipwake_wake_*` metrics (empty without push wake-up).
    pub fn wake_metrics(&self) -> String {
        self.waker
            .as_ref()
            .map(|w| w.prometheus())
            .unwrap_or_default()
    }

    /// Call once the SIP listeners are up: starts the keeper's store
    /// rebuild (its REGISTERs need our advertised addresses).
    pub fn listeners_ready(&self) {
        if let Some(k) = &self.keeper {
            k.start_rebuild();
        }
    }

    /// The upstream keeper (upstream mode only).
    pub fn keeper(&self) -> Option<&Arc<Keeper>> {
        self.keeper.as_ref()
    }

    pub fn flow_count(&self) -> usize {
        self.transports.flow_count()
    }

    /// Inbound connections refused: (over `[limits] connections_per_sec`,
    /// at `flows_per_ip` / `max_connections`).
    pub fn refused_connections(&self) -> (u64, u64) {
        self.transports.refused_connections()
    }

    /// The certificates `POST /api/v1/reload` re-reads (as SIGHUP does).
    pub fn set_certificates(&self, certs: Arc<crate::tls::Certificates>) {
        let _ = self.certificates.set(certs);
    }

    /// The API's state over this runtime.
    pub fn api_state(self: &Arc<Self>, tokens: &[String]) -> ApiState {
        ApiState {
            tokens: Arc::new(tokens.to_vec()),
            store: self.push.bindings.store.clone(),
            backend: self.clone(),
            wsload_limit: Arc::new(api::WindowLimit::per_second(api::WSLOAD_PER_SECOND)),
        }
    }
}

/// How often inactive bindings are looked for.
const EXPIRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Drops bindings of devices silent for `pushnotification_clientmaxoffline`
/// days: at startup, then hourly.
fn spawn_expiry(bindings: Arc<PushBindings>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EXPIRY_INTERVAL);
        loop {
            tick.tick().await;
            let store = bindings.store.clone();
            let max = bindings.policy.max_offline_secs();
            let now = crate::util::unix_now();
            match tokio::task::spawn_blocking(move || store.expire_inactive(now, max)).await {
                Ok(Ok(gone)) => {
                    for b in &gone {
                        info!(aor = %b.aor, device = %b.device, last_seen = b.last_seen, "push binding expired (clientmaxoffline)");
                    }
                }
                Ok(Err(e)) => warn!(error = %e, "binding expiry failed"),
                Err(e) => warn!(error = %e, "binding expiry task failed"),
            }
        }
    });
}

fn kind_of(n: u8) -> NotificationKind {
    NotificationKind::from_ntype(i64::from(n))
}

impl api::Backend for Runtime {
    fn send_push(&self, req: SendPush) -> BoxFuture<'_, Result<Vec<PushResult>, SendPushError>> {
        Box::pin(async move {
            let fields = |package: &str, token: &str, to: &str| PushFields {
                package: package.to_string(),
                token: token.to_string(),
                to: to.to_string(),
                to_username: to.to_string(),
                kind: kind_of(req.kind),
                from: req.from_user.clone().unwrap_or_default(),
                from_username: req.from_user.clone().unwrap_or_default(),
                msg: req.message.clone().unwrap_or_default(),
                message: req.message.clone().unwrap_or_default(),
                body: req.message.clone().unwrap_or_default(),
                title: req.title.clone().unwrap_or_default(),
                ..PushFields::default()
            };
            if let (Some(platform), Some(package), Some(token)) =
                (&req.platform, &req.package, &req.to_token)
            {
                let raw = format!("{platform}:{package}:{token}");
                let target = match sipwake_core::mpush::parse_mpush(&raw) {
                    Ok(sipwake_core::mpush::Mpush::Bind(b)) => b,
                    Ok(_) => {
                        return Err(SendPushError::BadRequest(
                            "to_token must not be null".into(),
                        ));
                    }
                    Err(e) => return Err(SendPushError::BadRequest(e.to_string())),
                };
                let to = req.to_user.clone().unwrap_or_default();
                let r = self
                    .push
                    .push_to(&target, fields(package, token, &to), None)
                    .await;
                let label = format!("token:{}", target.provider.letter());
                return Ok(vec![PushResult::new(label, &r.status, r.id)]);
            }
            let user = req.to_user.clone().unwrap_or_default();
            let aor = crate::api::aor_key(&user);
            let store = self.push.bindings.store.clone();
            let lookup = aor.clone();
            let devices = tokio::task::spawn_blocking(move || store.user(&lookup))
                .await
                .map_err(|e| SendPushError::Unavailable(e.to_string()))?
                .map_err(|e| SendPushError::Unavailable(e.to_string()))?;
            if devices.is_empty() {
                return Err(SendPushError::NoBinding(user));
            }
            let to_user = sipwake_sip::Aor::parse(&aor)
                .map(|a| a.user().to_owned())
                .unwrap_or_default();
            let mut results = Vec::new();
            for b in devices {
                let f = fields(&b.push.package, &b.push.token, &to_user);
                results.push(self.push.push_binding(&b, f).await);
            }
            Ok(results)
        })
    }

    fn user_removed(&self, aor: &str, removed: Vec<sipwake_store::Binding>) -> BoxFuture<'_, ()> {
        let aor = aor.to_string();
        Box::pin(async move {
            match &self.keeper {
                Some(k) => k.user_removed(&removed).await,
                None => info!(%aor, "user removed by API (no upstream keeper)"),
            }
        })
    }

    fn stats(&self) -> serde_json::Value {
        let sip = self.proxy.stats().snapshot();
        serde_json::json!({
            "push": self.push.dispatcher.stats(),
            "sip": {
                "requests_in": sip.requests_in,
                "requests_out": sip.requests_out,
                "responses_in": sip.responses_in,
                "responses_out": sip.responses_out,
                "responses_by_class": sip.responses_by_class,
                "dropped": sip.dropped,
            },
            "flows": self.transports.flow_count(),
            "wake": self.waker.as_ref().map(|w| w.stats_json()),
            "keeper": self.keeper.as_ref().map(|k| k.stats_json()),
        })
    }

    fn cluster(&self) -> BoxFuture<'_, Option<Result<serde_json::Value, String>>> {
        Box::pin(async move {
            let c = self.cluster.as_ref()?;
            Some(match c.nodes().await {
                Ok(nodes) => Ok(serde_json::json!({
                    "node": c.node,
                    "sip_uri": c.sip,
                    "nodes": nodes,
                })),
                Err(e) => Err(format!("cluster state unreadable: {e}")),
            })
        })
    }

    fn load(&self) -> Result<u8, String> {
        if !self.transports.is_ready() {
            return Err("the gateway is starting or stopping".into());
        }
        Ok(crate::net::Network::load(&self.transports))
    }

    fn reload(&self) -> Result<(), String> {
        // Both, independently (as SIGHUP): a broken certificate does not
        // hold back a fixed push key, nor the other way round.
        let push = self.push.reload().map_err(|e| e.to_string());
        let tls = match self.certificates.get() {
            Some(c) => match c.reload_files(true) {
                Ok(changed) => {
                    if changed {
                        tracing::info!(trigger = "API", serial = %c.serial(), "TLS certificate reloaded");
                    }
                    Ok(())
                }
                Err(e) => {
                    tracing::error!(trigger = "API", error = %e,
                        "TLS certificate reload failed; keeping the previous certificate");
                    Err(format!("TLS certificate: {e}"))
                }
            },
            None => Ok(()),
        };
        match (push, tls) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(format!("{a}; {b}")),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_levels() {
        use crate::net::load_level;
        assert_eq!(load_level(0, 100), 0);
        assert_eq!(load_level(30, 100), 1);
        assert_eq!(load_level(60, 100), 2);
        assert_eq!(load_level(80, 100), 3);
        assert_eq!(load_level(99, 100), 4);
        assert_eq!(load_level(5, 0), 4);
    }

    #[tokio::test]
    async fn silent_devices_expire_at_startup() {
        use sipwake_store::{Binding, BindingSource, PushTarget, Upstream};
        let store = Arc::new(SqliteStore::in_memory(PiidCipher::new([2; 32])).unwrap());
        let now = crate::util::unix_now();
        let mk = |aor: &str, last_seen: i64| Binding {
            aor: aor.into(),
            device: "token:a:t".into(),
            push: PushTarget {
                provider: Provider::AndroidFcm,
                env: sipwake_core::mpush::PushEnv::Default,
                package: "p".into(),
                token: "t".into(),
            },
            source: BindingSource::Mpush,
            contact: String::new(),
            auth_user: None,
            piid: None,
            upstream: Upstream::default(),
            user_agent: None,
            created_at: last_seen,
            last_seen,
            upstream_expires_at: None,
            app_expires: None,
            push_failures: 0,
        };
        store.upsert(&mk("sip:old@d", now - 31 * 86_400)).unwrap();
        store.upsert(&mk("sip:new@d", now - 29 * 86_400)).unwrap();
        let bindings = Arc::new(PushBindings {
            store: store.clone(),
            options: CaptureOptions::default(),
            policy: crate::config::PushPolicy::default(),
            max_devices: 0,
        });
        spawn_expiry(bindings);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while store.users().unwrap().len() != 1 {
            assert!(tokio::time::Instant::now() < deadline, "expiry did not run");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(store.users().unwrap()[0].aor, "sip:new@d");
    }

    #[test]
    fn either_removeon_pushfail_switch_keeps_bindings() {
        let mut c = Config::default();
        assert!(delivery_config(&c).remove_on_push_fail);
        c.push.removeon_pushfail = 0;
        assert!(!delivery_config(&c).remove_on_push_fail);
        c.push.removeon_pushfail = 1;
        c.push_delivery.remove_on_push_fail = false;
        assert!(!delivery_config(&c).remove_on_push_fail);
    }

    /// A throwaway `redis-server` (Debian package redis-server) on a free
    /// loopback port with persistence off, killed and cleaned up on drop.
    struct RedisServer {
        child: std::process::Child,
        port: u16,
        dir: std::path::PathBuf,
    }

    impl RedisServer {
        fn start() -> RedisServer {
            let bin = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
                .into_iter()
                .map(std::path::PathBuf::from)
                .find(|p| p.is_file())
                .expect(
                    "redis-server not found: the Redis backend tests need the Debian package \
                     redis-server (scripts/test.sh's rust area installs it)",
                );
            let port = free_port();
            let dir = scratch_dir("redis");
            let child = std::process::Command::new(bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--dir"])
                .arg(&dir)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let server = RedisServer { child, port, dir };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while !server.answers_ping() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "redis-server did not come up"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            server
        }

        fn answers_ping(&self) -> bool {
            use std::io::{Read, Write};
            let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
                return false;
            };
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(1)));
            let mut buf = [0u8; 7];
            s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf == b"+PONG\r\n"
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn scratch_dir(what: &str) -> std::path::PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sipwake-runtime-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn the_redis_backend_is_opened_and_an_unreachable_redis_stops_startup() {
        use sipwake_store::{Binding, BindingSource, PushTarget, Upstream};
        let data = scratch_dir("data");
        let mut c = Config {
            data_dir: data.clone(),
            ..Config::default()
        };
        c.store.backend = StoreBackend::Redis;
        c.store.redis_timeout_ms = 500;
        c.store.redis_urls = vec![format!("redis://:hunter2@127.0.0.1:{}", free_port())];
        let err = PushService::start(&c)
            .err()
            .expect("no Redis, no start")
            .to_string();
        assert!(
            err.starts_with("[store] redis_urls: ") && err.contains("connection refused"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");

        let server = RedisServer::start();
        c.store.redis_urls = vec![format!("redis://127.0.0.1:{}/2", server.port)];
        c.store.redis_prefix = "gw".into();
        let push = PushService::start(&c).expect("starts on Redis");
        let b = Binding {
            aor: "sip:alice@d".into(),
            device: "token:a:t".into(),
            push: PushTarget {
                provider: Provider::AndroidFcm,
                env: sipwake_core::mpush::PushEnv::Default,
                package: "p".into(),
                token: "t".into(),
            },
            source: BindingSource::Mpush,
            contact: String::new(),
            auth_user: None,
            piid: None,
            upstream: Upstream::default(),
            user_agent: None,
            created_at: 1,
            last_seen: crate::util::unix_now(),
            upstream_expires_at: None,
            app_expires: None,
            push_failures: 0,
        };
        push.bindings.store.upsert(&b).unwrap();
        // Another gateway on the same Redis (and key) sees it.
        let other = RedisStore::open(
            &redis_options(&c.store),
            PiidCipher::new(sipwake_store::load_or_create_key(&c.data_files().store_key).unwrap()),
        )
        .unwrap();
        assert_eq!(other.user("sip:alice@d").unwrap(), vec![b]);
        assert!(
            !c.data_files().store.exists(),
            "no SQLite file with backend = \"redis\""
        );
        // A gateway with another key refuses to start on it.
        c.store.key = "ab".repeat(32);
        let err = PushService::start(&c)
            .err()
            .expect("key mismatch")
            .to_string();
        assert!(
            err.starts_with("[store]: ") && err.contains("same [store] key"),
            "{err}"
        );
        drop(server);
        let _ = std::fs::remove_dir_all(&data);
    }

    #[test]
    fn web_push_is_always_supported_others_need_credentials() {
        let c = Config::default();
        assert_eq!(supported_providers(&c), vec![Provider::WebPush]);
    }
}

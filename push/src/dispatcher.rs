//! The provider-neutral dispatcher: routes a [`PushRequest`] to FCM, APNs
//! or Web Push, bounds concurrency, retries transient failures (honouring
//! `Retry-After`, bounded), applies the failure policy and keeps the stats.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sipwake_core::template::{PushFields, Target, TemplateError};
use sipwake_core::{MpushBinding, NotificationKind, Provider};
use tokio::sync::Semaphore;

use crate::apns::{Apns, ApnsApp};
use crate::config::DispatcherConfig;
use crate::error::{ConfigError, Failure};
use crate::fcm::{Fcm, FcmApp};
use crate::retry::backoff;
use crate::stats::{Stats, StatsEntry};
use crate::templates::{Templates, apply_options};
use crate::webpush::{Subscription, WebPush, parse_subscription};
use crate::{Priority, PushOutcome, PushRequest};

/// Where a request goes.
enum Route {
    Fcm(Arc<FcmApp>),
    Apns(Arc<ApnsApp>),
    Web(Subscription),
}

/// Cheap to clone; all clones share connections, caches and stats.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: DispatcherConfig,
    fcm: RwLock<Arc<Fcm>>,
    apns: RwLock<Arc<Apns>>,
    webpush: WebPush,
    templates: RwLock<Arc<Templates>>,
    permits: Semaphore,
    stats: Stats,
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|e| e.into_inner()).clone()
}

impl Dispatcher {
    /// Validates the config, loads every configured key and certificate
    /// (so a bad one fails here, loudly), the templates and the VAPID key
    /// (generated on first run). Connections are opened on first use.
    pub fn new(cfg: DispatcherConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let fcm = Fcm::new(cfg.fcm.clone(), &cfg.delivery)?;
        fcm.preload()?;
        let apns = Apns::new(cfg.apns.clone(), &cfg.delivery)?;
        apns.preload()?;
        let webpush = WebPush::new(&cfg.webpush, &cfg.delivery)?;
        let templates = Templates::load(&cfg.templates)?;
        Ok(Self {
            inner: Arc::new(Inner {
                permits: Semaphore::new(cfg.delivery.max_in_flight),
                fcm: RwLock::new(Arc::new(fcm)),
                apns: RwLock::new(Arc::new(apns)),
                webpush,
                templates: RwLock::new(Arc::new(templates)),
                stats: Stats::default(),
                cfg,
            }),
        })
    }

    /// Re-reads templates, keys and certificates and resets the `fcm_maxfail`
    /// breakers (the manual's reload / pushkitrst). On error nothing changes.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let cfg = &self.inner.cfg;
        let templates = Templates::load(&cfg.templates)?;
        let fcm = Fcm::new(cfg.fcm.clone(), &cfg.delivery)?;
        fcm.preload()?;
        let apns = Apns::new(cfg.apns.clone(), &cfg.delivery)?;
        apns.preload()?;
        *self
            .inner
            .templates
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(templates);
        *self.inner.fcm.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fcm);
        *self.inner.apns.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(apns);
        tracing::info!("push templates and credentials reloaded");
        Ok(())
    }

    /// The current templates, to render a payload for [`PushRequest::payload`].
    pub fn templates(&self) -> Arc<Templates> {
        read(&self.inner.templates)
    }

    /// Renders the message for `binding` from `fields` with the current
    /// templates and the `[payload]` options (TTL, sounds, notification
    /// removal): FCM targets by provider (`a` Android, `j` iOS, `w` web),
    /// the APNs template for `i`. Calls get [`Priority::High`].
    pub fn build_request(
        &self,
        binding: &MpushBinding,
        fields: PushFields,
    ) -> Result<PushRequest, TemplateError> {
        let opts = &self.inner.cfg.payload;
        let mut fields = apply_options(fields, opts);
        if fields.package.is_empty() {
            fields.package = binding.package.clone();
        }
        if fields.token.is_empty() {
            fields.token = binding.token.clone();
        }
        let t = self.templates();
        let rn = opts.fcm_remove_notification;
        let payload = match binding.provider {
            Provider::AndroidFcm => t.render_fcm(&fields, Target::FcmAndroid, rn)?,
            Provider::IosFcm => t.render_fcm(&fields, Target::FcmIos, rn)?,
            Provider::WebPush => t.render_fcm(&fields, Target::FcmWeb, rn)?,
            Provider::Apns => t.render_apns(&fields)?,
        };
        Ok(PushRequest {
            provider: binding.provider,
            env: binding.env,
            package: binding.package.clone(),
            token: binding.token.clone(),
            kind: fields.kind,
            payload,
            ttl_secs: fields.ttl,
            priority: if fields.kind == NotificationKind::Call {
                Priority::High
            } else {
                Priority::Normal
            },
            collapse_id: None,
        })
    }

    /// VAPID public key (base64url) for the web app's `applicationServerKey`.
    pub fn vapid_public_key(&self) -> &str {
        self.inner.webpush.public_key()
    }

    /// Counters per provider and app.
    pub fn stats(&self) -> Vec<StatsEntry> {
        self.inner.stats.snapshot()
    }

    /// Delivers one push. Never panics; every failure is an outcome.
    pub async fn send(&self, req: PushRequest) -> PushOutcome {
        let inner = &*self.inner;
        let Ok(_permit) = inner.permits.acquire().await else {
            return PushOutcome::Failed {
                retryable: true,
                reason: "dispatcher shut down".into(),
            };
        };
        let (provider, app) = stats_key(&req);
        let fcm = read(&inner.fcm);
        let apns = read(&inner.apns);
        let route = match self.route(&fcm, &apns, &req) {
            Ok(r) => r,
            Err(f) => return self.finish(provider, &app, f),
        };
        if let Route::Fcm(a) = &route
            && fcm.tripped(a)
        {
            let reason = format!(
                "FCM disabled for {app}: {} consecutive failures (fcm_maxfail); reload to re-enable",
                inner.cfg.fcm.max_fail
            );
            return self.finish(provider, &app, Failure::Permanent(reason));
        }
        let start = Instant::now();
        let delivery = &inner.cfg.delivery;
        let mut attempt = 0u32;
        // The APNs host; switched once when it does not know the token.
        let mut env = req.env;
        let mut switched = false;
        loop {
            let result = match &route {
                Route::Fcm(a) => fcm.send(a, &req).await,
                Route::Apns(a) => apns.send(a, &req, env).await,
                Route::Web(s) => inner.webpush.send(s, &req).await,
            };
            if let Route::Fcm(a) = &route
                && !matches!(result, Err(Failure::Retry { .. }))
            {
                fcm.record(a, result.is_ok());
            }
            match result {
                Ok(id) => {
                    let latency = start.elapsed();
                    inner.stats.delivered(provider, &app, latency);
                    if switched {
                        inner.stats.update(provider, &app, |c| c.env_corrected += 1);
                        tracing::info!(
                            provider,
                            app,
                            ?env,
                            "push token belongs to the other APNs environment; delivered there"
                        );
                    }
                    return PushOutcome::Delivered {
                        id,
                        latency,
                        env: switched.then_some(env),
                    };
                }
                Err(Failure::WrongEnvironment(reason)) if !switched => {
                    env = apns.other_env(env);
                    switched = true;
                    tracing::debug!(provider, app, %reason, ?env, "push token unknown on this APNs host; trying the other");
                }
                Err(Failure::WrongEnvironment(reason)) => {
                    let reason = format!("{reason} on both APNs hosts");
                    return self.finish(provider, &app, Failure::Remove(reason));
                }
                Err(Failure::Retry {
                    reason,
                    retry_after,
                }) => {
                    attempt += 1;
                    let delay = retry_after.unwrap_or_else(|| {
                        backoff(attempt, Duration::from_millis(delivery.retry_base_ms))
                    });
                    if attempt > delivery.max_retries
                        || delay > Duration::from_millis(delivery.max_retry_delay_ms)
                    {
                        if let Route::Fcm(a) = &route {
                            fcm.record(a, false);
                        }
                        return self.finish(
                            provider,
                            &app,
                            Failure::Retry {
                                reason,
                                retry_after,
                            },
                        );
                    }
                    tracing::debug!(provider, app, attempt, ?delay, %reason, "push retry");
                    inner.stats.update(provider, &app, |c| c.retries += 1);
                    tokio::time::sleep(delay).await;
                }
                Err(f) => return self.finish(provider, &app, f),
            }
        }
    }

    fn route(&self, fcm: &Fcm, apns: &Apns, req: &PushRequest) -> Result<Route, Failure> {
        let config = |e: ConfigError| match e {
            ConfigError::Credential { .. } => Failure::Auth(e.to_string()),
            _ => Failure::Permanent(e.to_string()),
        };
        match req.provider {
            Provider::Apns => {
                // Device tokens are hex; anything else could never be
                // delivered (and must not reach the URL path).
                if req.token.is_empty()
                    || req.token.len() > 200
                    || !req.token.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(Failure::Remove("APNs device token is not hex".into()));
                }
                apns.app(&apns.bundle_of(&req.package))
                    .map(Route::Apns)
                    .map_err(config)
            }
            Provider::WebPush => match parse_subscription(&req.token) {
                Some(sub) => Ok(Route::Web(sub)),
                None => fcm.app(&req.package).map(Route::Fcm).map_err(config),
            },
            Provider::AndroidFcm | Provider::IosFcm => {
                fcm.app(&req.package).map(Route::Fcm).map_err(config)
            }
        }
    }

    /// Counts and logs a final failure and turns it into an outcome.
    fn finish(&self, provider: &'static str, app: &str, failure: Failure) -> PushOutcome {
        let stats = &self.inner.stats;
        match failure {
            Failure::Remove(reason) => {
                stats.update(provider, app, |c| c.removed += 1);
                tracing::info!(provider, app, %reason, "push token is dead");
                if self.inner.cfg.delivery.remove_on_push_fail {
                    PushOutcome::RemoveBinding { reason }
                } else {
                    PushOutcome::Failed {
                        retryable: false,
                        reason,
                    }
                }
            }
            Failure::Auth(reason) => {
                stats.update(provider, app, |c| {
                    c.auth_errors += 1;
                    c.config_errors += 1;
                    c.failed += 1;
                });
                tracing::error!(provider, app, %reason, "push credentials refused: check the key / certificate");
                PushOutcome::Failed {
                    retryable: false,
                    reason,
                }
            }
            Failure::Config { reason, fix } => {
                stats.update(provider, app, |c| {
                    c.config_errors += 1;
                    c.failed += 1;
                });
                tracing::error!(provider, app, %reason, fix, "push refused: the push configuration does not fit this app (binding kept)");
                PushOutcome::Failed {
                    retryable: false,
                    reason,
                }
            }
            // Only reached when a provider other than APNs said it.
            Failure::WrongEnvironment(reason) => {
                stats.update(provider, app, |c| c.failed += 1);
                PushOutcome::Failed {
                    retryable: false,
                    reason,
                }
            }
            Failure::Retry { reason, .. } => {
                stats.update(provider, app, |c| c.failed += 1);
                tracing::warn!(provider, app, %reason, "push failed after retries");
                PushOutcome::Failed {
                    retryable: true,
                    reason,
                }
            }
            Failure::Permanent(reason) => {
                stats.update(provider, app, |c| c.failed += 1);
                tracing::warn!(provider, app, %reason, "push failed");
                PushOutcome::Failed {
                    retryable: false,
                    reason,
                }
            }
        }
    }
}

/// (provider, app) for the stats: FCM package, APNs package, or the Web
/// Push service's origin.
fn stats_key(req: &PushRequest) -> (&'static str, String) {
    match req.provider {
        Provider::Apns => ("apns", req.package.clone()),
        Provider::WebPush => match parse_subscription(&req.token) {
            Some(sub) => {
                let origin = sub
                    .endpoint
                    .splitn(4, '/')
                    .take(3)
                    .collect::<Vec<_>>()
                    .join("/");
                ("webpush", origin)
            }
            None => ("fcm", req.package.clone()),
        },
        Provider::AndroidFcm | Provider::IosFcm => ("fcm", req.package.clone()),
    }
}

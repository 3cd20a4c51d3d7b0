//! Per-provider, per-app delivery counters (the manual's `pushstat`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Counters of one (provider, app) pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// Pushes the provider accepted.
    pub sent: u64,
    /// Pushes given up on (binding kept).
    pub failed: u64,
    /// Pushes whose token the provider declared dead (binding removed or, with
    /// `remove_on_push_fail = false`, reported as failed).
    pub removed: u64,
    /// Attempts refused because of our credentials (401/403, bad key).
    pub auth_errors: u64,
    /// Pushes refused because our configuration does not fit the app
    /// (credentials, APNs topic or certificate kind, Firebase project);
    /// the binding is kept. A health signal: it should stay 0.
    pub config_errors: u64,
    /// Pushes delivered only on the other APNs host (a sandbox token sent
    /// to production or the reverse); the binding's environment is fixed.
    pub env_corrected: u64,
    /// Extra attempts after a transient error.
    pub retries: u64,
    /// Sum and maximum of the latencies of delivered pushes (ms).
    pub latency_ms_total: u64,
    pub latency_ms_max: u64,
}

/// One row of a stats snapshot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatsEntry {
    /// `fcm`, `apns` or `webpush`.
    pub provider: &'static str,
    /// FCM package / APNs bundle / Web Push endpoint origin.
    pub app: String,
    #[serde(flatten)]
    pub counters: Counters,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    rows: Mutex<BTreeMap<(&'static str, String), Counters>>,
}

impl Stats {
    pub(crate) fn update(&self, provider: &'static str, app: &str, f: impl FnOnce(&mut Counters)) {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        f(rows.entry((provider, app.to_owned())).or_default());
    }

    pub(crate) fn delivered(&self, provider: &'static str, app: &str, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.update(provider, app, |c| {
            c.sent += 1;
            c.latency_ms_total = c.latency_ms_total.saturating_add(ms);
            c.latency_ms_max = c.latency_ms_max.max(ms);
        });
    }

    pub(crate) fn snapshot(&self) -> Vec<StatsEntry> {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        rows.iter()
            .map(|((provider, app), c)| StatsEntry {
                provider,
                app: app.clone(),
                counters: c.clone(),
            })
            .collect()
    }
}

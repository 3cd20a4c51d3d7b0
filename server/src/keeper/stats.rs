//! Keeper counters for `/api/v1/stats` ("keeper") and `/metrics`. Relaxed
//! atomics: statistics only.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct KeeperStats {
    /// Upstream refreshes the gateway sent that got a 2xx.
    pub refreshes_ok: AtomicU64,
    /// Refreshes rejected, unanswerable or timed out.
    pub refreshes_failed: AtomicU64,
    /// Digest challenges answered from the stored HA1.
    pub auth_answered: AtomicU64,
    /// Bindings removed by `removeon_regfail` / `removeon_reject` /
    /// `regrefresh = 2`.
    pub removed: AtomicU64,
    /// Register-refresh pushes (ntype 4) sent.
    pub regrefresh_pushes: AtomicU64,
    /// Unregisters sent upstream (API removal).
    pub unregistered: AtomicU64,
    /// Path registrations put back from the store (restart, rebuild scan).
    pub restored: AtomicU64,
}

pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// One counter: (JSON / metric suffix, help, value).
pub type Row = (&'static str, &'static str, u64);

impl KeeperStats {
    pub fn rows(&self) -> Vec<Row> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            (
                "refreshes_ok",
                "Upstream registration refreshes accepted.",
                g(&self.refreshes_ok),
            ),
            (
                "refreshes_failed",
                "Upstream registration refreshes rejected or timed out.",
                g(&self.refreshes_failed),
            ),
            (
                "auth_answered",
                "Upstream digest challenges answered from the X-PIID.",
                g(&self.auth_answered),
            ),
            (
                "removed",
                "Push bindings removed after upstream registration failures.",
                g(&self.removed),
            ),
            (
                "regrefresh_pushes",
                "Register-refresh pushes (ntype 4) sent.",
                g(&self.regrefresh_pushes),
            ),
            (
                "unregistered",
                "Upstream unregisters sent for removed users.",
                g(&self.unregistered),
            ),
            (
                "restored",
                "Path registrations restored from the push store.",
                g(&self.restored),
            ),
        ]
    }

    /// `kept`: registrations the keeper currently watches.
    pub fn json(&self, kept: usize) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("kept".into(), kept.into());
        for (name, _, v) in self.rows() {
            m.insert(name.into(), v.into());
        }
        serde_json::Value::Object(m)
    }
}

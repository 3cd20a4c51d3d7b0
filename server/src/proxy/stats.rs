//! SIP counters (`/metrics`, `/api/v1/stats`). Relaxed atomics: these are
//! statistics, not synchronisation.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Stats {
    pub requests_in: AtomicU64,
    pub requests_out: AtomicU64,
    pub responses_in: AtomicU64,
    pub responses_out: AtomicU64,
    /// Responses we sent or relayed, by class 1xx..6xx (index 0 = 1xx).
    pub responses_by_class: [AtomicU64; 6],
    /// Messages dropped: unparsable, queue full, stray responses.
    pub dropped: AtomicU64,
    /// REGISTERs answered 503 over `[limits] registers_per_sec`.
    pub limited_registers: AtomicU64,
    /// REGISTERs answered 403 at `[limits] bindings_per_aor`.
    pub refused_bindings: AtomicU64,
}

/// A plain copy of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    pub requests_in: u64,
    pub requests_out: u64,
    pub responses_in: u64,
    pub responses_out: u64,
    pub responses_by_class: [u64; 6],
    pub dropped: u64,
    pub limited_registers: u64,
    pub refused_bindings: u64,
}

impl Stats {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn response_out(&self, code: u16) {
        Self::inc(&self.responses_out);
        if let Some(c) = self
            .responses_by_class
            .get(usize::from(code / 100).wrapping_sub(1))
        {
            Self::inc(c);
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            requests_in: g(&self.requests_in),
            requests_out: g(&self.requests_out),
            responses_in: g(&self.responses_in),
            responses_out: g(&self.responses_out),
            responses_by_class: std::array::from_fn(|i| g(&self.responses_by_class[i])),
            dropped: g(&self.dropped),
            limited_registers: g(&self.limited_registers),
            refused_bindings: g(&self.refused_bindings),
        }
    }
}

//! Wake-up counters for `/api/v1/stats`. Relaxed atomics: statistics only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct WakeStats {
    /// Devices a request was held for.
    pub held: AtomicU64,
    pub pushed: AtomicU64,
    pub push_failed: AtomicU64,
    /// Held devices that registered again.
    pub woken: AtomicU64,
    /// Held requests forwarded to a woken device.
    pub delivered: AtomicU64,
    pub timed_out: AtomicU64,
    /// Held devices dropped by the caller's CANCEL.
    pub cancelled: AtomicU64,
    /// Woke after the call was already answered elsewhere.
    pub too_late: AtomicU64,
    pub cancel_pushes: AtomicU64,
    /// Sum / count of push sent → device registered.
    wake_ms: AtomicU64,
    wake_n: AtomicU64,
    /// Sum / count of device registered → request forwarded.
    deliver_ms: AtomicU64,
    deliver_n: AtomicU64,
}

pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl WakeStats {
    pub fn wake_latency(&self, d: Duration) {
        self.wake_ms.fetch_add(ms(d), Ordering::Relaxed);
        inc(&self.wake_n);
    }

    pub fn deliver_latency(&self, d: Duration) {
        self.deliver_ms.fetch_add(ms(d), Ordering::Relaxed);
        inc(&self.deliver_n);
    }

    pub fn json(&self) -> serde_json::Value {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let avg = |sum: &AtomicU64, n: &AtomicU64| g(sum).checked_div(g(n));
        serde_json::json!({
            "held": g(&self.held),
            "pushed": g(&self.pushed),
            "push_failed": g(&self.push_failed),
            "woken": g(&self.woken),
            "delivered": g(&self.delivered),
            "timed_out": g(&self.timed_out),
            "cancelled": g(&self.cancelled),
            "too_late": g(&self.too_late),
            "cancel_pushes": g(&self.cancel_pushes),
            "avg_push_to_register_ms": avg(&self.wake_ms, &self.wake_n),
            "avg_register_to_deliver_ms": avg(&self.deliver_ms, &self.deliver_n),
        })
    }
}

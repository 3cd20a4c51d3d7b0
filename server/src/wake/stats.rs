//! Wake-up counters and latencies for `/api/v1/stats` ("wake") and
//! `/metrics` (`sipwake_wake_*`). Relaxed atomics: statistics only.

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Histogram bucket upper bounds in milliseconds (Prometheus `le`).
pub const BUCKETS_MS: [u64; 14] = [
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 20_000, 40_000, 60_000,
];

/// Recent samples kept for the p50/p99 in the JSON stats.
const RESERVOIR: usize = 1024;

/// One latency: fixed buckets (Prometheus) plus the latest samples
/// (percentiles).
#[derive(Debug, Default)]
pub struct Latency {
    buckets: [AtomicU64; BUCKETS_MS.len()],
    count: AtomicU64,
    sum_ms: AtomicU64,
    recent: Mutex<VecDeque<u64>>,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Latency {
    pub fn record(&self, d: Duration) {
        let v = ms(d);
        if let Some(i) = BUCKETS_MS.iter().position(|b| v <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(v, Ordering::Relaxed);
        let mut r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if r.len() == RESERVOIR {
            r.pop_front();
        }
        r.push_back(v);
    }

    /// The `q` quantile (0..=1) of the recent samples, in ms.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let mut v: Vec<u64> = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        // Nearest rank: the smallest sample with at least q of them at or below.
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Some(v[rank - 1])
    }

    fn json(&self) -> serde_json::Value {
        let n = self.count.load(Ordering::Relaxed);
        serde_json::json!({
            "count": n,
            "avg_ms": self.sum_ms.load(Ordering::Relaxed).checked_div(n),
            "p50_ms": self.quantile(0.50),
            "p99_ms": self.quantile(0.99),
        })
    }

    /// Prometheus histogram lines (seconds, cumulative buckets).
    fn prometheus(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (b, c) in BUCKETS_MS.iter().zip(&self.buckets) {
            cum += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {cum}", *b as f64 / 1000.0);
        }
        let n = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {n}");
        let sum = self.sum_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {n}");
    }
}

#[derive(Debug, Default)]
pub struct WakeStats {
    /// Devices a request was held for (pushed and waiting for them).
    pub held: AtomicU64,
    pub pushed: AtomicU64,
    pub push_failed: AtomicU64,
    /// Held devices that woke: registered again, or answered at their old
    /// UDP address after the push.
    pub woken: AtomicU64,
    /// Held requests forwarded to (or answered by) a woken device.
    pub delivered: AtomicU64,
    pub timed_out: AtomicU64,
    /// Held devices dropped by the caller's CANCEL.
    pub cancelled: AtomicU64,
    /// Woke after the call was already answered elsewhere.
    pub too_late: AtomicU64,
    pub cancel_pushes: AtomicU64,
    /// Push bindings removed by `removeon_noanswer` / `removeon_subscallfail`.
    pub removed: AtomicU64,
    /// UDP push devices sent the request at once with a no-answer watch.
    pub udp_probed: AtomicU64,
    /// UDP push devices that answered within the no-answer window (no push).
    pub udp_answered: AtomicU64,
    /// Pushes to devices that also got the request on a live flow (level 3,
    /// chat_when 2).
    pub live_pushed: AtomicU64,
    /// Cluster: held requests sent to the node a device woke on.
    pub forwarded_to_node: AtomicU64,
    /// Cluster: held devices another node delivered to (claim lost here).
    pub delivered_elsewhere: AtomicU64,
    /// Cluster: pushes not sent here because another node holding the same
    /// request sent it, or the device is connected to another node.
    pub push_elsewhere: AtomicU64,
    /// Cluster: MESSAGEs held by a node that died, delivered here.
    pub orphans_delivered: AtomicU64,
    /// Push sent → device registered (or answered).
    pub wake_latency: Latency,
    /// Device registered → held request forwarded.
    pub deliver_latency: Latency,
}

pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// (JSON / Prometheus name, help) of every counter, in output order.
const COUNTERS: [(&str, &str); 17] = [
    (
        "held",
        "Devices a request was held for (pushed, waiting for them).",
    ),
    ("pushed", "Wake pushes (call or chat) sent."),
    ("push_failed", "Wake pushes the provider did not take."),
    (
        "woken",
        "Held devices that registered again or answered after the push.",
    ),
    ("delivered", "Held requests delivered to a woken device."),
    (
        "timed_out",
        "Held devices that did not wake within the hold window.",
    ),
    ("cancelled", "Held devices dropped by the caller's CANCEL."),
    (
        "too_late",
        "Devices that woke after the call was answered elsewhere.",
    ),
    ("cancel_pushes", "Cancel pushes (ntype 2) sent."),
    (
        "removed",
        "Push bindings removed by removeon_noanswer / removeon_subscallfail.",
    ),
    (
        "udp_probed",
        "UDP push devices sent the request with a no-answer watch.",
    ),
    (
        "udp_answered",
        "UDP push devices that answered in the no-answer window (no push).",
    ),
    (
        "live_pushed",
        "Pushes to devices that also got the request on a live flow.",
    ),
    (
        "forwarded_to_node",
        "Held requests sent to the cluster node the device woke on.",
    ),
    (
        "delivered_elsewhere",
        "Held devices another cluster node delivered to.",
    ),
    (
        "push_elsewhere",
        "Pushes left to another cluster node (sent there, or the device is connected there).",
    ),
    (
        "orphans_delivered",
        "MESSAGEs held by a cluster node that died, delivered by this one.",
    ),
];

impl WakeStats {
    fn counter(&self, name: &str) -> &AtomicU64 {
        match name {
            "held" => &self.held,
            "pushed" => &self.pushed,
            "push_failed" => &self.push_failed,
            "woken" => &self.woken,
            "delivered" => &self.delivered,
            "timed_out" => &self.timed_out,
            "cancelled" => &self.cancelled,
            "too_late" => &self.too_late,
            "cancel_pushes" => &self.cancel_pushes,
            "removed" => &self.removed,
            "udp_probed" => &self.udp_probed,
            "udp_answered" => &self.udp_answered,
            "forwarded_to_node" => &self.forwarded_to_node,
            "delivered_elsewhere" => &self.delivered_elsewhere,
            "push_elsewhere" => &self.push_elsewhere,
            "orphans_delivered" => &self.orphans_delivered,
            _ => &self.live_pushed,
        }
    }

    /// Woken / (woken + timed out + push failed); `None` before any outcome.
    /// Cancelled devices are left out: the caller decided, not the device.
    pub fn success_rate(&self) -> Option<f64> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let woken = g(&self.woken);
        let all = woken + g(&self.timed_out) + g(&self.push_failed);
        (all > 0).then(|| woken as f64 / all as f64)
    }

    pub fn json(&self) -> serde_json::Value {
        let mut v = serde_json::Map::new();
        for (name, _) in COUNTERS {
            v.insert(
                name.into(),
                self.counter(name).load(Ordering::Relaxed).into(),
            );
        }
        v.insert("success_rate".into(), self.success_rate().into());
        v.insert(
            "avg_push_to_register_ms".into(),
            self.wake_latency.json()["avg_ms"].clone(),
        );
        v.insert(
            "avg_register_to_deliver_ms".into(),
            self.deliver_latency.json()["avg_ms"].clone(),
        );
        v.insert("push_to_register".into(), self.wake_latency.json());
        v.insert("register_to_deliver".into(), self.deliver_latency.json());
        v.into()
    }

    /// `sipwake_wake_*` counters, histograms and the `holding` gauge.
    pub fn prometheus(&self, holding: usize) -> String {
        let mut out = String::new();
        for (name, help) in COUNTERS {
            let n = format!("sipwake_wake_{name}_total");
            let v = self.counter(name).load(Ordering::Relaxed);
            let _ = writeln!(out, "# HELP {n} {help}\n# TYPE {n} counter\n{n} {v}");
        }
        let _ = writeln!(
            out,
            "# HELP sipwake_wake_holding Requests held for sleeping devices now.\n# TYPE sipwake_wake_holding gauge\nsipwake_wake_holding {holding}"
        );
        self.wake_latency.prometheus(
            &mut out,
            "sipwake_wake_push_to_register_seconds",
            "Wake push sent until the device registered (or answered).",
        );
        self.deliver_latency.prometheus(
            &mut out,
            "sipwake_wake_register_to_deliver_seconds",
            "Woken device registered until the held request was forwarded.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_samples_and_the_reservoir_is_bounded() {
        let l = Latency::default();
        assert_eq!(l.quantile(0.5), None);
        for i in 1..=100 {
            l.record(Duration::from_millis(i));
        }
        assert_eq!(l.quantile(0.5), Some(50));
        assert_eq!(l.quantile(0.99), Some(99));
        assert_eq!(l.json()["avg_ms"], 50); // 5050 / 100
        for _ in 0..(2 * RESERVOIR) {
            l.record(Duration::from_millis(7000));
        }
        assert_eq!(l.recent.lock().unwrap().len(), RESERVOIR);
        assert_eq!(l.quantile(0.5), Some(7000), "old samples aged out");
        assert_eq!(l.count.load(Ordering::Relaxed), 100 + 2 * RESERVOIR as u64);
    }

    #[test]
    fn prometheus_buckets_are_cumulative_and_counters_named() {
        let s = WakeStats::default();
        inc(&s.held);
        inc(&s.pushed);
        s.wake_latency.record(Duration::from_millis(40));
        s.wake_latency.record(Duration::from_millis(3000));
        s.wake_latency.record(Duration::from_secs(600)); // beyond the last bucket
        let text = s.prometheus(2);
        assert!(text.contains("sipwake_wake_held_total 1\n"), "{text}");
        assert!(text.contains("sipwake_wake_holding 2\n"), "{text}");
        let h = "sipwake_wake_push_to_register_seconds";
        assert!(
            text.contains(&format!("{h}_bucket{{le=\"0.025\"}} 0\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{h}_bucket{{le=\"0.05\"}} 1\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{h}_bucket{{le=\"5\"}} 2\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{h}_bucket{{le=\"60\"}} 2\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{h}_bucket{{le=\"+Inf\"}} 3\n")),
            "{text}"
        );
        assert!(text.contains(&format!("{h}_count 3\n")), "{text}");
        assert!(text.contains(&format!("{h}_sum 603.04\n")), "{text}");
        assert!(text.contains("# TYPE sipwake_wake_register_to_deliver_seconds histogram"));
    }

    #[test]
    fn success_rate_counts_wakes_against_failures_not_cancels() {
        let s = WakeStats::default();
        assert_eq!(s.json()["success_rate"], serde_json::Value::Null);
        inc(&s.woken);
        inc(&s.woken);
        inc(&s.woken);
        inc(&s.timed_out);
        inc(&s.cancelled);
        assert_eq!(s.success_rate(), Some(0.75));
        let j = s.json();
        assert_eq!(j["success_rate"], 0.75);
        assert_eq!(j["woken"], 3);
        assert_eq!(j["push_to_register"]["count"], 0);
    }
}

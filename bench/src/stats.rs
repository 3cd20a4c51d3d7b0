//! Latency samples and their percentiles.

use std::time::Duration;

/// Collected latencies (microseconds); cheap to merge across tasks.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    us: Vec<u64>,
}

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.us
            .push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn merge(&mut self, other: Latencies) {
        self.us.extend(other.us);
    }

    pub fn len(&self) -> usize {
        self.us.len()
    }

    pub fn is_empty(&self) -> bool {
        self.us.is_empty()
    }

    /// The `p`-th percentile (0.0..=100.0) by nearest rank; None when empty.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.us.is_empty() {
            return None;
        }
        let mut v = self.us.clone();
        v.sort_unstable();
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        let idx = rank.clamp(1, v.len()) - 1;
        Some(Duration::from_micros(v[idx]))
    }

    /// Percentile in milliseconds (NaN when empty), for reports.
    pub fn ms(&self, p: f64) -> f64 {
        self.percentile(p)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::default();
        assert_eq!(l.percentile(50.0), None);
        for ms in (1..=100).rev() {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(l.percentile(50.0), Some(Duration::from_millis(50)));
        assert_eq!(l.percentile(99.0), Some(Duration::from_millis(99)));
        assert_eq!(l.percentile(100.0), Some(Duration::from_millis(100)));
        assert_eq!(l.percentile(0.0), Some(Duration::from_millis(1)));
        let mut other = Latencies::default();
        other.push(Duration::from_millis(500));
        l.merge(other);
        assert_eq!(l.len(), 101);
        assert_eq!(l.percentile(100.0), Some(Duration::from_millis(500)));
    }
}

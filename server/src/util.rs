//! Small helpers every layer uses.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Locks a mutex, ignoring poisoning: a holder that panicked (one message's
/// handling, caught by the proxy worker) leaves data that is still usable.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// At most `max` events per key in each one-second window (0 = no bound).
/// The table is emptied every second, so a flood of keys cannot grow it
/// beyond one second's worth.
pub struct PerSecond<K> {
    max: u32,
    window: Mutex<(Instant, HashMap<K, u32>)>,
}

impl<K: Hash + Eq> PerSecond<K> {
    pub fn new(max: u32) -> Self {
        PerSecond {
            max,
            window: Mutex::new((Instant::now(), HashMap::new())),
        }
    }

    /// Counts one event for `key`; `false` when it is over the bound.
    pub fn allow(&self, key: K) -> bool {
        if self.max == 0 {
            return true;
        }
        let mut w = lock(&self.window);
        let now = Instant::now();
        if now.duration_since(w.0) >= Duration::from_secs(1) {
            *w = (now, HashMap::new());
        }
        let n = w.1.entry(key).or_insert(0);
        *n = n.saturating_add(1);
        *n <= self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_second_bounds_each_key_and_resets() {
        let l = PerSecond::new(2);
        assert!(l.allow("a") && l.allow("a"));
        assert!(!l.allow("a"), "third in the second");
        assert!(l.allow("b"), "other keys are counted apart");
        lock(&l.window).0 -= Duration::from_secs(1);
        assert!(l.allow("a"), "a new second");
        let off = PerSecond::new(0);
        assert!((0..1000).all(|_| off.allow(1)));
    }
}

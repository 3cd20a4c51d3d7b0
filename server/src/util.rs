//! Small helpers every layer uses.

use std::sync::{Mutex, MutexGuard};

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

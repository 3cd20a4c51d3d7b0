//! The `[limits]` section: what one source may do before it is stopped.

use serde::Deserialize;

/// `[limits]` (docs/configuration.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Failed digest authentications (wrong credentials, replayed nonces)
    /// from one source IP within `auth_window_secs` that ban it; 0 = never.
    pub auth_failures: u32,
    pub auth_window_secs: u64,
    /// How long a banned source is refused (403).
    pub ban_secs: u64,
    /// Inbound TCP / TLS / WebSocket flows one source address may hold at
    /// once (an office behind one NAT address counts as one); 0 = no bound.
    pub flows_per_ip: usize,
    /// New inbound TCP / TLS / WebSocket connections one source address
    /// may open per second; more are closed at once. 0 = no bound.
    pub connections_per_sec: u32,
    /// REGISTERs one source address may send per second; more are
    /// answered 503 with Retry-After: 1. 0 = no bound.
    pub registers_per_sec: u32,
    /// Push devices (bindings) one user may have; a REGISTER adding one
    /// more is answered 403. 0 = no bound.
    pub bindings_per_aor: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            auth_failures: 10,
            auth_window_secs: 60,
            ban_secs: 600,
            flows_per_ip: 256,
            connections_per_sec: 50,
            registers_per_sec: 100,
            bindings_per_aor: 20,
        }
    }
}

impl LimitsConfig {
    /// `Err((key, reason))` for a config error.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if self.auth_failures > 0 && self.auth_window_secs == 0 {
            return Err(("limits.auth_window_secs", "must be at least 1"));
        }
        if self.auth_failures > 0 && self.ban_secs == 0 {
            return Err((
                "limits.ban_secs",
                "must be at least 1 (auth_failures = 0 turns banning off)",
            ));
        }
        Ok(())
    }
}

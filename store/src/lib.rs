//! Durable push bindings.
//!
//! A [`Binding`] says how one device of one user can be woken: its push
//! target (provider, package, token), the Contact it registered, optionally
//! its X-PIID (an HA1 digest hash, so the gateway can keep the user
//! registered upstream while the app sleeps) and the upstream it chose.
//!
//! [`BindingStore`] is the storage seam; [`SqliteStore`] is the embedded
//! default, [`RedisStore`] the shared one for several gateways (Redis or
//! Valkey: standalone, Cluster or Sentinel). The API is synchronous (SQLite
//! is; the Redis client is the blocking one); async callers use
//! `spawn_blocking`.

mod binding;
#[cfg(test)]
mod conformance;
mod crypto;
pub mod redis;
mod sqlite;

pub use binding::{Binding, BindingSource, Piid, PushTarget, Upstream, UserSummary, device_key};
pub use crypto::{PiidCipher, load_or_create_key, parse_key};
pub use redis::{
    HeldMessage, KeeperLease, Location, NodeInfo, Presence, PresenceEvent, RedisOptions,
    RedisServers, RedisStore, SentinelServers,
};
pub use sqlite::SqliteStore;

/// Errors of a binding store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("binding store database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("binding store key file {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("stored X-PIID of {aor} cannot be decrypted (wrong store key?)")]
    Decrypt { aor: String },
    #[error("corrupt binding row for {aor}: {reason}")]
    Corrupt { aor: String, reason: String },
    /// Redis could not be reached or refused: `target` names the servers
    /// (addresses, never credentials), `reason` says what happened
    /// (connection refused, timed out, …).
    #[error("binding store Redis ({target}): {reason}")]
    Redis { target: String, reason: String },
    #[error(
        "binding store {store} holds X-PIIDs sealed with another key: every gateway sharing it needs the same [store] key"
    )]
    KeyMismatch { store: String },
}

/// Where push bindings live. Every write is durable when the call returns,
/// so a REGISTER's 200 OK can be relayed right after.
pub trait BindingStore: Send + Sync {
    /// Inserts or replaces the binding of `(aor, device)`. Returns `true`
    /// when something other than `last_seen` changed.
    fn upsert(&self, binding: &Binding) -> Result<bool, StoreError>;
    /// Marks the device as seen at `now` (unix seconds).
    fn touch(&self, aor: &str, device: &str, now: i64) -> Result<(), StoreError>;
    /// Removes one device's binding; `true` when it existed.
    fn remove(&self, aor: &str, device: &str) -> Result<bool, StoreError>;
    /// Removes every binding of a user; returns the removed bindings.
    fn remove_user(&self, aor: &str) -> Result<Vec<Binding>, StoreError>;
    /// Removes every binding that uses this push token (a provider said it
    /// is gone); returns the removed bindings.
    fn remove_token(&self, token: &str) -> Result<Vec<Binding>, StoreError>;
    /// All devices of one user, most recently seen first.
    fn user(&self, aor: &str) -> Result<Vec<Binding>, StoreError>;
    /// One device.
    fn get(&self, aor: &str, device: &str) -> Result<Option<Binding>, StoreError>;
    /// Every binding (for restart: the upstream keeper re-registers them).
    fn all(&self) -> Result<Vec<Binding>, StoreError>;
    /// Users with push, for the API.
    fn users(&self) -> Result<Vec<UserSummary>, StoreError>;
    /// Records a failed push; returns the new consecutive failure count.
    fn record_push_failure(&self, aor: &str, device: &str) -> Result<u32, StoreError>;
    /// Removes bindings not seen for `max_offline_secs` (the manual's
    /// `pushnotification_clientmaxoffline`); returns them.
    fn expire_inactive(&self, now: i64, max_offline_secs: i64) -> Result<Vec<Binding>, StoreError>;
}

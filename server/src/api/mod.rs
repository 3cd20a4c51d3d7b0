//! The operator HTTP API (`/api/v1/…`): the manual's sendpush, users with
//! push, upperunreg, pushstat and wsload, plus its OpenAPI document.
//!
//! Every route needs `Authorization: Bearer <token>` with one of the
//! configured `[api] tokens`; with none configured the API answers 401 to
//! everything (it is never open by accident).

pub(crate) mod auth;
mod mvapi;
mod routes;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use serde::{Deserialize, Serialize};
use sipwake_store::BindingStore;

use crate::bindings::PushStatus;

pub use routes::{OPENAPI_JSON, aor_key};

/// A boxed future, so the seams below stay object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// `POST /api/v1/push` body: the manual's sendpush / sendpushu parameters.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SendPush {
    /// 0 call, 1 chat, 2 cancel, 3 custom (default), 4 register refresh.
    #[serde(rename = "type", default = "default_type")]
    pub kind: u8,
    #[serde(default)]
    pub from_user: Option<String>,
    /// Target user (must have a push binding) …
    #[serde(default)]
    pub to_user: Option<String>,
    /// `null` removes the title; absent = the default for the type.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// … or a raw target: provider letter (a, i, j, w), package and token.
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub package: Option<String>,
    #[serde(default)]
    pub to_token: Option<String>,
}

fn default_type() -> u8 {
    3
}

/// What a sendpush did, per targeted device.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PushResult {
    pub device: String,
    /// `delivered`, `removed` (the provider said the token is gone) or `failed`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl PushResult {
    /// The API's report of one push: its outcome and the provider's
    /// message id (sent) or reason (removed, failed).
    pub fn new(device: String, status: &PushStatus, id: Option<String>) -> PushResult {
        let (outcome, detail) = match status {
            PushStatus::Sent => ("delivered", id),
            PushStatus::Removed(r) => ("removed", Some(r.clone())),
            PushStatus::Failed(r) => ("failed", Some(r.clone())),
        };
        PushResult {
            device,
            outcome: outcome.into(),
            detail,
        }
    }
}

/// Why a sendpush could not be attempted.
#[derive(Debug, thiserror::Error)]
pub enum SendPushError {
    #[error("{0}")]
    BadRequest(String),
    #[error("user {0} has no push binding")]
    NoBinding(String),
    #[error("push is not available: {0}")]
    Unavailable(String),
}

/// What the API calls: pushing and upstream unregistration live elsewhere
/// (push dispatcher, upstream keeper); the runtime implements this.
pub trait Backend: Send + Sync {
    fn send_push(&self, req: SendPush) -> BoxFuture<'_, Result<Vec<PushResult>, SendPushError>>;
    /// Called after a user's bindings (`removed`) were removed (upperunreg):
    /// unregister upstream where the gateway kept the registration alive.
    fn user_removed(&self, aor: &str, removed: Vec<sipwake_store::Binding>) -> BoxFuture<'_, ()>;
    /// `pushstat`: counters as JSON.
    fn stats(&self) -> serde_json::Value;
    /// `wsload`: 0 low, 1 normal, 2 high, 3 very high, 4 extreme; `Err`
    /// with the reason when the gateway cannot take clients (starting,
    /// stopping).
    fn load(&self) -> Result<u8, String>;
    /// Re-read push templates, keys and certificates (the manual's
    /// reloadfcm / pushkitrst). `Err` = nothing changed.
    fn reload(&self) -> Result<(), String>;
    /// `[cluster]`: this node and the nodes that are up, as JSON; `None`
    /// when the gateway is not in a cluster, `Err` when Redis cannot say.
    fn cluster(&self) -> BoxFuture<'_, Option<Result<serde_json::Value, String>>> {
        Box::pin(async { None })
    }
}

/// Shared state of the API routes.
#[derive(Clone)]
pub struct ApiState {
    pub tokens: Arc<Vec<String>>,
    pub store: Arc<dyn BindingStore>,
    pub backend: Arc<dyn Backend>,
    /// Bounds the public, unauthenticated wsload answers.
    pub wsload_limit: Arc<WindowLimit>,
}

/// At most `max` events per one-second window (a cheap global bound for a
/// public endpoint; above it the caller is told to retry).
pub struct WindowLimit {
    max: u32,
    window: std::sync::Mutex<(tokio::time::Instant, u32)>,
}

impl WindowLimit {
    pub fn per_second(max: u32) -> WindowLimit {
        WindowLimit {
            max,
            window: std::sync::Mutex::new((tokio::time::Instant::now(), 0)),
        }
    }

    /// Whether one more event fits in the current window.
    pub fn allow(&self) -> bool {
        let mut w = crate::util::lock(&self.window);
        let now = tokio::time::Instant::now();
        if now.duration_since(w.0) >= std::time::Duration::from_secs(1) {
            *w = (now, 0);
        }
        w.1 += 1;
        w.1 <= self.max
    }
}

/// Public wsload answers per second, over every client.
pub const WSLOAD_PER_SECOND: u32 = 50;

/// The `/api/v1` router (mount at the root; paths are absolute).
pub fn router(state: ApiState) -> Router {
    routes::router(state)
}

#[cfg(test)]
mod tests;

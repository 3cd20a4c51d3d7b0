//! sipwake push delivery: FCM HTTP v1, APNs HTTP/2 and Web Push behind one
//! provider-neutral [`Dispatcher`]. Nothing here knows SIP: the gateway
//! renders the payload (with [`Templates`], i.e. sipwake-core's templates or
//! the operator's files) and hands over a [`PushRequest`]; the dispatcher
//! answers with a [`PushOutcome`] telling it whether to keep the binding.
//! See docs/push-providers.md.

mod apns;
mod client;
pub mod config;
mod dispatcher;
pub mod error;
mod fcm;
mod retry;
pub mod stats;
pub mod templates;
pub mod webpush;

use std::time::Duration;

pub use config::DispatcherConfig;
pub use dispatcher::Dispatcher;
pub use error::ConfigError;
pub use sipwake_core::{NotificationKind, Provider, PushEnv};
pub use stats::{Counters, StatsEntry};
pub use templates::Templates;
pub use webpush::{Subscription, SubscriptionKeys, encode_subscription, parse_subscription};

/// OAuth2 scope requested for FCM access tokens.
pub const FCM_SCOPE: &str = fcm::SCOPE;

/// Delivery priority: APNs 10 / 5, Web Push `Urgency: high` / `normal`.
/// (FCM takes its priority from the rendered message.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    #[default]
    High,
    Normal,
}

/// One push, provider-neutral.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// X-MPUSH provider: `a`/`j` → FCM, `i` → APNs, `w` → Web Push when the
    /// token is a subscription (see [`parse_subscription`]), else FCM web.
    pub provider: Provider,
    /// X-MPUSH env prefix: APNs sandbox / production host.
    pub env: PushEnv,
    /// FCM package (or project id) / APNs bundle id (team id and `.voip`
    /// are stripped per config).
    pub package: String,
    /// Device token / FCM registration token / encoded Web Push subscription.
    pub token: String,
    /// Calls are VoIP pushes on APNs; everything else `alert`.
    pub kind: NotificationKind,
    /// The rendered message: FCM `{"message":…}` for FCM, the APNs template
    /// (its `headers` section is dropped) for APNs, any JSON for Web Push.
    pub payload: serde_json::Value,
    /// Time to live: APNs `apns-expiration` (0 = now or never), Web Push `TTL`.
    pub ttl_secs: u32,
    pub priority: Priority,
    /// APNs `apns-collapse-id` / Web Push `Topic`.
    pub collapse_id: Option<String>,
}

/// What happened, and what the caller should do with the binding.
#[derive(Debug, Clone, PartialEq)]
pub enum PushOutcome {
    /// Accepted by the provider. `id`: FCM message name, `apns-id`, or the
    /// Web Push message URL. `latency` includes retries. `env`: set when
    /// APNs took the token only on the other host than the binding's —
    /// store it on the binding.
    Delivered {
        id: String,
        latency: Duration,
        env: Option<PushEnv>,
    },
    /// The provider says the token is dead: remove the binding.
    RemoveBinding { reason: String },
    /// Not delivered; keep the binding. `retryable`: a later try may work.
    Failed { retryable: bool, reason: String },
}

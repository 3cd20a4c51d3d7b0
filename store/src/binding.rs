//! The binding record and its parts.

use std::fmt;

use serde::Serialize;
use sipwake_core::mpush::{Provider, PushEnv};

/// How the app asked for push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BindingSource {
    /// `X-MPUSH` header.
    Mpush,
    /// RFC 8599 `pn-*` Contact URI params (or their legacy forms).
    Rfc8599,
}

impl BindingSource {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BindingSource::Mpush => "mpush",
            BindingSource::Rfc8599 => "rfc8599",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "mpush" => Some(BindingSource::Mpush),
            "rfc8599" => Some(BindingSource::Rfc8599),
            _ => None,
        }
    }
}

/// Where a push for this device goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushTarget {
    pub provider: Provider,
    pub env: PushEnv,
    /// FCM project id / Apple bundle id.
    pub package: String,
    /// FCM registration token, APNs device token, or Web Push subscription.
    pub token: String,
}

/// The upstream the app selected (X-Sy.Uppersrv / -Upperproxy / -Uppersrvd).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Upstream {
    pub server: Option<String>,
    pub proxy: Option<String>,
    pub domain: Option<String>,
}

/// An X-PIID: `md5(user:realm:password)`, i.e. a digest HA1. A secret: it
/// never prints, and is encrypted at rest.
#[derive(Clone, PartialEq, Eq)]
pub struct Piid(String);

impl Piid {
    pub fn new(hex: impl Into<String>) -> Self {
        Piid(hex.into())
    }

    /// The HA1 hex, for answering digest challenges. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Piid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Piid(<redacted>)")
    }
}

/// One device of one user that can be woken by push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The user: `user@domain` as in the REGISTER's To URI.
    pub aor: String,
    /// Stable device key, see [`device_key`].
    pub device: String,
    pub push: PushTarget,
    pub source: BindingSource,
    /// The Contact URI the device last registered.
    pub contact: String,
    /// Digest username for upstream re-registration (usually the AOR user).
    pub auth_user: Option<String>,
    pub piid: Option<Piid>,
    pub upstream: Upstream,
    pub user_agent: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last message from the device.
    pub last_seen: i64,
    /// Unix seconds until which the upstream registration is valid.
    pub upstream_expires_at: Option<i64>,
    /// The registration interval (seconds) the app asked for in its last
    /// REGISTER: what `upperexpire = -1` asks upstream, after a restart too.
    pub app_expires: Option<u32>,
    /// Consecutive failed pushes.
    pub push_failures: u32,
}

impl Binding {
    /// Same device and same content, ignoring the activity clock.
    pub(crate) fn same_content(&self, other: &Binding) -> bool {
        let mut a = self.clone();
        a.last_seen = other.last_seen;
        a.created_at = other.created_at;
        a.push_failures = other.push_failures;
        &a == other
    }
}

/// What the API lists for a user with push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserSummary {
    pub aor: String,
    pub devices: u32,
    pub last_seen: i64,
}

/// A provider from its X-MPUSH letter, as stored.
pub(crate) fn provider_from(s: &str) -> Option<Provider> {
    [
        Provider::AndroidFcm,
        Provider::Apns,
        Provider::IosFcm,
        Provider::WebPush,
    ]
    .into_iter()
    .find(|p| s.len() == 1 && s.starts_with(p.letter()))
}

/// A push environment from its letter, as stored.
pub(crate) fn env_from(s: &str) -> Option<PushEnv> {
    [PushEnv::Default, PushEnv::Sandbox, PushEnv::Production]
        .into_iter()
        .find(|e| s.len() == 1 && s.starts_with(e.letter()))
}

/// The key that makes "one binding per device instance": the RFC 5626
/// `+sip.instance` (with `reg-id` when given), else the push token itself.
pub fn device_key(
    instance: Option<&str>,
    reg_id: Option<u32>,
    provider: Provider,
    token: &str,
) -> String {
    match (instance, reg_id) {
        (Some(i), Some(r)) => format!("instance:{i};reg-id={r}"),
        (Some(i), None) => format!("instance:{i}"),
        _ => format!("token:{}:{token}", provider.letter()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_key_prefers_instance() {
        assert_eq!(
            device_key(Some("<urn:uuid:1>"), Some(1), Provider::AndroidFcm, "t"),
            "instance:<urn:uuid:1>;reg-id=1"
        );
        assert_eq!(
            device_key(None, Some(1), Provider::Apns, "abc"),
            "token:i:abc"
        );
    }

    #[test]
    fn piid_debug_is_redacted() {
        let p = Piid::new("14d4f932e3897a39d6a17c13b526db00");
        assert!(!format!("{p:?}").contains("14d4"));
    }
}

//! Configuration of the dispatcher and its providers (TOML/serde). Every
//! option and the manual option it stands for is listed in
//! docs/push-providers.md.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Everything the dispatcher needs. The gateway fills it from its `[fcm]`,
/// `[apns]`, `[webpush]` and `[push]` sections.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatcherConfig {
    pub fcm: FcmConfig,
    pub apns: ApnsConfig,
    pub webpush: WebPushConfig,
    pub delivery: DeliveryConfig,
    pub templates: TemplateConfig,
    pub payload: PayloadConfig,
}

/// Message options applied by [`crate::Dispatcher::build_request`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PayloadConfig {
    /// `pushnotification_ttl`: seconds; 0 = now or never.
    pub ttl: u32,
    /// `pushnotification_sound_call` / `_chat` / `_other`: the SOUND keyword.
    pub sound_call: String,
    pub sound_chat: String,
    pub sound_other: String,
    /// `fcm_removenotification`: -1 auto, 0 keep, 1 remove for calls, 2 always.
    pub fcm_remove_notification: sipwake_core::template::RemoveNotification,
}

/// Concurrency, timeouts, retries and the failure policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Pushes in flight at once, over all providers.
    pub max_in_flight: usize,
    /// Whole-request timeout (ms).
    pub timeout_ms: u64,
    /// TCP + TLS connect timeout (ms).
    pub connect_timeout_ms: u64,
    /// Extra attempts after 429/500/503/network errors.
    pub max_retries: u32,
    /// First backoff (ms); doubles per attempt. `Retry-After` wins when given.
    pub retry_base_ms: u64,
    /// A wait longer than this (ms) is not done: the push fails as retryable.
    pub max_retry_delay_ms: u64,
    /// `pushnotification_removeon_pushfail`: dead tokens remove the binding.
    pub remove_on_push_fail: bool,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 256,
            timeout_ms: 10_000,
            connect_timeout_ms: 5_000,
            max_retries: 3,
            retry_base_ms: 500,
            max_retry_delay_ms: 30_000,
            remove_on_push_fail: true,
        }
    }
}

/// `[fcm]`: FCM HTTP v1 apps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FcmConfig {
    /// package (X-MPUSH package / pn-param) → service-account JSON file
    /// (`fcm_app`/`fcm_key`, `fcm_appX`/`fcm_keyX`).
    pub apps: BTreeMap<String, PathBuf>,
    /// Directory searched for `fcmkey.<package>.json`, then `fcmkey.json`.
    pub key_dir: Option<PathBuf>,
    /// `fcm_serverurl` without the path (tests point it at the mock).
    pub base_url: String,
    /// Extra trusted root (PEM) for an HTTPS `base_url` (tests).
    pub extra_ca_pem: Option<PathBuf>,
    /// `fcm_maxfail`: consecutive failures of one app before its pushes are
    /// refused (until a reload).
    pub max_fail: u32,
}

impl Default for FcmConfig {
    fn default() -> Self {
        Self {
            apps: BTreeMap::new(),
            key_dir: None,
            base_url: "https://fcm.googleapis.com".into(),
            extra_ca_pem: None,
            max_fail: 10_000,
        }
    }
}

/// Which APNs host a binding without an s/p prefix uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApnsEnv {
    Production,
    Sandbox,
}

/// `[apns]`: APNs HTTP/2 apps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApnsConfig {
    /// bundle id → credentials.
    pub apps: BTreeMap<String, ApnsAppConfig>,
    /// Directory searched for `pushkit.<bundle>.p12|pem` (+ `.pwd`), then
    /// `pushkit.p12|pem` (+ `pushkit.pwd`).
    pub key_dir: Option<PathBuf>,
    /// `pushkit_sslcertpassword`: password of discovered .p12 files without a .pwd.
    pub cert_password: Option<String>,
    /// `pushkit_serverurl_http2_prod`.
    pub production_url: String,
    /// `pushkit_serverurl_http2_dev`.
    pub sandbox_url: String,
    /// Host for bindings without an env prefix (`pushkit_serverurl_http2`).
    pub default_env: ApnsEnv,
    /// Extra trusted root (PEM), for tests.
    pub extra_ca_pem: Option<PathBuf>,
    /// `pushnotification_topic`: `auto` (default: `<bundle>.voip` for VoIP
    /// pushes, `<bundle>` otherwise, when the certificate allows it — else
    /// the push is refused as a configuration error), `null` (no apns-topic
    /// with a certificate, so APNs applies the certificate's own; as `auto`
    /// with token auth), `set` (`<bundle>.voip` / `<bundle>` whatever the
    /// certificate allows) or a literal topic.
    pub topic: String,
    /// `pushnotification_apnspushtype`: force this apns-push-type.
    pub push_type: Option<String>,
    /// `pushnotification_teamid`: strip a team id prefix from the package:
    /// -1 auto (when it looks like one), 0 no, 1 yes.
    pub teamid: i8,
    /// `pushnotification_teamidstr`: suffix stripped from the package.
    pub teamid_str: String,
    /// Age (s) at which the provider JWT is replaced; Apple wants < 3600.
    pub jwt_refresh_secs: u64,
}

impl Default for ApnsConfig {
    fn default() -> Self {
        Self {
            apps: BTreeMap::new(),
            key_dir: None,
            cert_password: None,
            production_url: "https://api.push.apple.com".into(),
            sandbox_url: "https://api.sandbox.push.apple.com".into(),
            default_env: ApnsEnv::Production,
            extra_ca_pem: None,
            topic: "auto".into(),
            push_type: None,
            teamid: -1,
            teamid_str: ".voip".into(),
            jwt_refresh_secs: 3000,
        }
    }
}

/// Credentials of one APNs app: a .p12 (with `password` or `password_file`),
/// a PEM (certificate + key), or a .p8 token key with `key_id` and `team_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApnsAppConfig {
    pub p12: Option<PathBuf>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub pem: Option<PathBuf>,
    pub p8: Option<PathBuf>,
    pub key_id: Option<String>,
    pub team_id: Option<String>,
}

/// `[webpush]`: direct Web Push (RFC 8030) with VAPID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebPushConfig {
    /// File with the VAPID private key (base64url of the 32-byte P-256
    /// scalar). Generated there on first run when missing.
    pub vapid_private_key: PathBuf,
    /// VAPID `sub` claim: `mailto:` or `https:` contact.
    pub subject: String,
    /// Extra trusted root (PEM), for tests.
    pub extra_ca_pem: Option<PathBuf>,
    /// Allow endpoints on loopback / private / link-local addresses and
    /// `localhost`. Off: a client must not make the gateway POST to its
    /// internal network (tests turn it on for the loopback mock).
    pub allow_private_endpoints: bool,
}

impl Default for WebPushConfig {
    fn default() -> Self {
        Self {
            vapid_private_key: PathBuf::from("sipwake-data/vapid-private.key"),
            subject: "mailto:admin@localhost".into(),
            extra_ca_pem: None,
            allow_private_endpoints: false,
        }
    }
}

/// Operator templates (`fcmmessage.txt` / `pushkitmessage.txt`); the
/// built-in sipwake-core templates when unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateConfig {
    pub fcm: Option<PathBuf>,
    pub apns: Option<PathBuf>,
}

impl DispatcherConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.delivery.max_in_flight == 0 {
            return bad("delivery.max_in_flight must be at least 1".into());
        }
        if self.delivery.timeout_ms == 0 || self.delivery.connect_timeout_ms == 0 {
            return bad("delivery timeouts must be positive".into());
        }
        if self.fcm.max_fail == 0 {
            return bad("fcm.max_fail must be at least 1".into());
        }
        for url in [
            &self.fcm.base_url,
            &self.apns.production_url,
            &self.apns.sandbox_url,
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return bad(format!("{url:?} is not an http(s) URL"));
            }
        }
        if !(1..3600).contains(&self.apns.jwt_refresh_secs) {
            return bad("apns.jwt_refresh_secs must be between 1 and 3599".into());
        }
        if !(-1..=1).contains(&self.apns.teamid) {
            return bad("apns.teamid must be -1, 0 or 1".into());
        }
        if !(self.webpush.subject.starts_with("mailto:")
            || self.webpush.subject.starts_with("https:"))
        {
            return bad("webpush.subject must be a mailto: or https: URI".into());
        }
        for (bundle, app) in &self.apns.apps {
            let kinds = [app.p12.is_some(), app.pem.is_some(), app.p8.is_some()];
            if kinds.iter().filter(|k| **k).count() != 1 {
                return bad(format!(
                    "apns.apps.{bundle}: set exactly one of p12, pem or p8"
                ));
            }
            if app.p8.is_some() && (app.key_id.is_none() || app.team_id.is_none()) {
                return bad(format!("apns.apps.{bundle}: p8 needs key_id and team_id"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_the_manuals_and_valid() {
        let c = DispatcherConfig::default();
        c.validate().unwrap();
        assert_eq!(c.fcm.max_fail, 10_000);
        assert_eq!(c.apns.topic, "auto");
        assert_eq!(c.apns.teamid, -1);
        assert_eq!(c.apns.teamid_str, ".voip");
        assert!(c.delivery.remove_on_push_fail);
        assert_eq!(c.apns.production_url, "https://api.push.apple.com");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        assert!(serde_json::from_value::<DispatcherConfig>(json!({"fcm": {"bogus": 1}})).is_err());
        let c: DispatcherConfig = serde_json::from_value(json!({
            "apns": {"apps": {"com.a": {"p8": "k.p8"}}}
        }))
        .unwrap();
        assert!(c.validate().is_err(), "p8 without key_id/team_id");
        let c: DispatcherConfig = serde_json::from_value(json!({
            "apns": {"apps": {"com.a": {"p12": "a.p12", "pem": "a.pem"}}}
        }))
        .unwrap();
        assert!(c.validate().is_err(), "two credential kinds");
        let mut c = DispatcherConfig::default();
        c.apns.jwt_refresh_secs = 3600;
        assert!(c.validate().is_err(), "Apple refuses JWTs an hour old");
        let mut c = DispatcherConfig::default();
        c.webpush.subject = "ops@example.com".into();
        assert!(c.validate().is_err());
        let mut c = DispatcherConfig::default();
        c.delivery.max_in_flight = 0;
        assert!(c.validate().is_err());
    }
}

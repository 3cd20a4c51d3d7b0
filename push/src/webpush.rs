//! Direct Web Push (RFC 8030) to a browser's push service, with VAPID
//! (RFC 8292) and the aes128gcm content encoding (RFC 8291), via
//! web-push-native. Used for provider `w` when the X-MPUSH token is a
//! `PushSubscription` rather than an FCM token (see [`parse_subscription`]).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::Value;
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256KeyPair};
use web_push_native::p256::PublicKey;
use web_push_native::vapid::VapidSignature;

use crate::client::{self, ClientOptions};
use crate::config::{DeliveryConfig, WebPushConfig};
use crate::error::{ConfigError, Failure};
use crate::retry::{retry_after, transport_failure};
use crate::{Priority, PushRequest};

/// How long a VAPID JWT is valid (RFC 8292 allows up to 24 h).
const VAPID_VALIDITY: Duration = Duration::from_secs(12 * 3600);

/// A browser push subscription (`PushSubscription.toJSON()`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Subscription {
    pub endpoint: String,
    pub keys: SubscriptionKeys,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct SubscriptionKeys {
    pub p256dh: String,
    pub auth: String,
}

/// Reads a Web Push X-MPUSH token: base64url (padded or not) of the
/// subscription JSON, or the JSON itself. `None` for anything else (an FCM
/// web token).
pub fn parse_subscription(token: &str) -> Option<Subscription> {
    let json = if token.starts_with('{') {
        token.as_bytes().to_vec()
    } else {
        URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .ok()
            .or_else(|| URL_SAFE.decode(token).ok())?
    };
    let sub: Subscription = serde_json::from_slice(&json).ok()?;
    sub.endpoint.starts_with("https://").then_some(sub)
}

/// The X-MPUSH token for a subscription (base64url without padding).
pub fn encode_subscription(sub: &Subscription) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(sub).unwrap_or_default())
}

/// True for `localhost` and IP literals a public push service never uses.
pub(crate) fn is_private_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let lower = host.to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.octets()[0] == 100 && (64..128).contains(&ip.octets()[1])
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            let seg = ip.segments()[0];
            ip.is_loopback()
                || ip.is_unspecified()
                || (seg & 0xfe00) == 0xfc00
                || (seg & 0xffc0) == 0xfe80
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private_host(&v4.to_string()))
        }
        Err(_) => false,
    }
}

pub(crate) struct WebPush {
    allow_private: bool,
    subject: String,
    key: ES256KeyPair,
    public_key: String,
    client: reqwest::Client,
}

impl WebPush {
    pub(crate) fn new(cfg: &WebPushConfig, delivery: &DeliveryConfig) -> Result<Self, ConfigError> {
        let key = load_or_generate(&cfg.vapid_private_key)?;
        let public_key =
            URL_SAFE_NO_PAD.encode(key.public_key().public_key().to_bytes_uncompressed());
        let client = client::build(
            ClientOptions {
                extra_ca_pem: cfg.extra_ca_pem.as_deref(),
                identity: None,
                // Push services vary; let ALPN pick h2 where offered.
                h2_only: false,
            },
            delivery,
        )?;
        Ok(Self {
            allow_private: cfg.allow_private_endpoints,
            subject: cfg.subject.clone(),
            key,
            public_key,
            client,
        })
    }

    /// The VAPID public key (base64url, uncompressed point): the web app's
    /// `applicationServerKey`.
    pub(crate) fn public_key(&self) -> &str {
        &self.public_key
    }

    /// One attempt. Returns the push service's message URL (`Location`).
    pub(crate) async fn send(
        &self,
        sub: &Subscription,
        req: &PushRequest,
    ) -> Result<String, Failure> {
        let bad = |what: &str| Failure::Remove(format!("Web Push subscription: {what}"));
        let uri: http::Uri = sub.endpoint.parse().map_err(|_| bad("bad endpoint"))?;
        if !self.allow_private && uri.host().is_none_or(is_private_host) {
            return Err(bad("endpoint on a private address"));
        }
        let ua_public = URL_SAFE_NO_PAD
            .decode(sub.keys.p256dh.trim_end_matches('='))
            .ok()
            .and_then(|b| PublicKey::from_sec1_bytes(&b).ok())
            .ok_or_else(|| bad("bad p256dh key"))?;
        let auth = URL_SAFE_NO_PAD
            .decode(sub.keys.auth.trim_end_matches('='))
            .ok()
            .filter(|a| a.len() == 16)
            .ok_or_else(|| bad("bad auth secret"))?;
        let auth = web_push_native::Auth::clone_from_slice(&auth);
        let plaintext = serde_json::to_vec(&webpush_body(&req.payload)).unwrap_or_default();
        let body = web_push_native::encrypt(plaintext, &ua_public, &auth)
            .map_err(|e| Failure::Permanent(format!("Web Push encryption: {e}")))?;
        let vapid = VapidSignature::sign(&uri, VAPID_VALIDITY, &self.subject, &self.key)
            .map_err(|e| Failure::Auth(format!("VAPID signature: {e}")))?;
        let mut r = self
            .client
            .post(&sub.endpoint)
            .header("TTL", req.ttl_secs.to_string())
            .header(
                "Urgency",
                if req.priority == Priority::High {
                    "high"
                } else {
                    "normal"
                },
            )
            .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::AUTHORIZATION, vapid.to_string())
            .body(body);
        // RFC 8030 §5.4: a Topic is at most 32 base64url characters.
        if let Some(topic) = req.collapse_id.as_deref().filter(|t| {
            t.len() <= 32
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }) {
            r = r.header("Topic", topic);
        }
        let resp = r
            .send()
            .await
            .map_err(|e| transport_failure("Web Push", e))?;
        let status = resp.status().as_u16();
        let after = retry_after(resp.headers());
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let what = format!("Web Push {status}");
        match status {
            200..=202 => Ok(location),
            404 | 410 => Err(Failure::Remove(what)),
            401 | 403 => Err(Failure::Auth(what)),
            429 | 500 | 502 | 503 | 504 => Err(Failure::Retry {
                reason: what,
                retry_after: after,
            }),
            _ => Err(Failure::Permanent(what)),
        }
    }
}

/// What the service worker receives: the rendered message without the FCM
/// envelope (`message`, `token`) and without the other platforms' sections.
fn webpush_body(payload: &Value) -> Value {
    let mut body = match payload.get("message") {
        Some(m) if m.is_object() => m.clone(),
        _ => payload.clone(),
    };
    if let Some(o) = body.as_object_mut() {
        for k in ["token", "android", "apns"] {
            o.remove(k);
        }
    }
    body
}

/// Loads the VAPID key, or creates it (mode 0600) on first run.
fn load_or_generate(path: &Path) -> Result<ES256KeyPair, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => URL_SAFE_NO_PAD
            .decode(text.trim().trim_end_matches('='))
            .ok()
            .and_then(|raw| ES256KeyPair::from_bytes(&raw).ok())
            .ok_or_else(|| {
                ConfigError::credential(path, "VAPID key must be base64url of a 32-byte P-256 key")
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = ES256KeyPair::generate();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| ConfigError::io(dir, e))?;
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(path).map_err(|e| ConfigError::io(path, e))?;
            writeln!(f, "{}", URL_SAFE_NO_PAD.encode(key.to_bytes()))
                .map_err(|e| ConfigError::io(path, e))?;
            tracing::info!(path = %path.display(), "generated a new VAPID key");
            Ok(key)
        }
        Err(e) => Err(ConfigError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_token_round_trip() {
        let sub = Subscription {
            endpoint: "https://push.example/abc".into(),
            keys: SubscriptionKeys {
                p256dh: "BPk".into(),
                auth: "xyz".into(),
            },
        };
        let token = encode_subscription(&sub);
        assert!(!token.contains(['=', '+', '/', ' ']));
        assert_eq!(parse_subscription(&token), Some(sub.clone()));
        let raw = serde_json::to_string(&sub).unwrap();
        assert_eq!(parse_subscription(&raw), Some(sub));
        // FCM registration tokens are not subscriptions.
        assert_eq!(parse_subscription("dQw4w9WgXcQ:APA91bH-xyz"), None);
        assert_eq!(
            parse_subscription(r#"{"endpoint":"http://x","keys":{"p256dh":"a","auth":"b"}}"#),
            None
        );
    }

    #[test]
    fn private_hosts() {
        for h in [
            "localhost",
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "[::1]",
            "[fd00::1]",
            "[fe80::1]",
            "[::ffff:10.0.0.1]",
            "0.0.0.0",
            "100.64.0.1",
            "a.localhost",
        ] {
            assert!(is_private_host(h), "{h}");
        }
        for h in [
            "fcm.googleapis.com",
            "8.8.8.8",
            "[2001:db8::1]",
            "updates.push.services.mozilla.com",
        ] {
            assert!(!is_private_host(h), "{h}");
        }
    }

    #[test]
    fn vapid_key_generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/vapid.key");
        let a = load_or_generate(&path).unwrap();
        let b = load_or_generate(&path).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes());
        std::fs::write(&path, "garbage").unwrap();
        assert!(load_or_generate(&path).is_err());
    }
}

//! APNs provider API over HTTP/2: `POST {host}/3/device/<token>` with token
//! auth (ES256 JWT from a .p8 key, reused and replaced before it is an hour
//! old) or certificate auth (.p12 with password / .pwd file, or PEM).
//! Token-auth apps share one client (one connection per host); each
//! certificate needs its own TLS session, so its own client.
//!
//! A certificate says which topics it may push to: Apple's "Apple Push
//! Services" certificates list them (the app, `<bundle>.voip`,
//! `<bundle>.complication`) in an extension; older single-topic ones name
//! theirs in the subject UID (`<bundle>` for alerts, `<bundle>.voip` for
//! VoIP Services). By default (`topic = "auto"`) a VoIP push goes to
//! `<bundle>.voip` and an alert to `<bundle>` only when the certificate
//! allows it; otherwise the push is refused here as a configuration error
//! instead of being sent to fail at Apple.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use sipwake_core::{NotificationKind, PushEnv};

use crate::client::{self, ClientOptions, Identity};
use crate::config::{ApnsAppConfig, ApnsConfig, ApnsEnv, DeliveryConfig};
use crate::error::{ConfigError, Failure};
use crate::retry::{retry_after, transport_failure};
use crate::{Priority, PushRequest};

/// A cached provider JWT.
pub(crate) struct ProviderToken {
    key: EncodingKey,
    key_id: String,
    team_id: String,
    refresh_secs: u64,
    cached: Mutex<Option<(String, u64)>>,
}

impl ProviderToken {
    pub(crate) fn new(
        p8_pem: &[u8],
        key_id: &str,
        team_id: &str,
        refresh_secs: u64,
    ) -> Result<Self, String> {
        Ok(Self {
            key: EncodingKey::from_ec_pem(p8_pem).map_err(|e| e.to_string())?,
            key_id: key_id.to_owned(),
            team_id: team_id.to_owned(),
            refresh_secs,
            cached: Mutex::new(None),
        })
    }

    /// The JWT to use at `now` (Unix seconds): the cached one until it is
    /// `refresh_secs` old (Apple refuses tokens older than an hour and
    /// throttles ones renewed more often than every 20 minutes).
    pub(crate) fn bearer_at(&self, now: u64) -> Result<String, String> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((jwt, iat)) = cached.as_ref()
            && now.saturating_sub(*iat) < self.refresh_secs
            && now >= *iat
        {
            return Ok(jwt.clone());
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims = serde_json::json!({ "iss": self.team_id, "iat": now });
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| e.to_string())?;
        *cached = Some((jwt.clone(), now));
        Ok(jwt)
    }

    /// Forget the cached JWT (after APNs called it expired or invalid).
    pub(crate) fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

enum AppAuth {
    Token(ProviderToken),
    /// The client and the topics its certificate allows.
    Cert(reqwest::Client, Vec<String>),
}

/// Apple's APNs topics extension (1.2.840.113635.100.6.3.6).
const TOPICS_OID: &str = "1.2.840.113635.100.6.3.6";
/// The subject UID attribute (0.9.2342.19200300.100.1.1).
const UID_OID: &str = "0.9.2342.19200300.100.1.1";

/// The topics an APNs client certificate (DER) allows: the topics
/// extension's entries, else the subject UID.
pub(crate) fn cert_topics(der: &[u8]) -> Result<Vec<String>, String> {
    use x509_parser::der_parser::ber::BerObjectContent;
    use x509_parser::der_parser::parse_der;
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let ext = cert
        .extensions()
        .iter()
        .find(|x| x.oid.to_id_string() == TOPICS_OID);
    if let Some(ext) = ext {
        let (_, seq) = parse_der(ext.value).map_err(|e| format!("topics extension: {e}"))?;
        let topics: Vec<String> = match &seq.content {
            BerObjectContent::Sequence(items) => items
                .iter()
                .filter_map(|i| match &i.content {
                    BerObjectContent::UTF8String(s) => Some((*s).to_owned()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        if !topics.is_empty() {
            return Ok(topics);
        }
    }
    let uid = cert
        .subject()
        .iter_attributes()
        .find(|a| a.attr_type().to_id_string() == UID_OID)
        .and_then(|a| a.as_str().ok())
        .ok_or("no APNs topics extension and no subject UID: not an APNs certificate")?;
    Ok(vec![uid.to_owned()])
}

pub(crate) struct ApnsApp {
    bundle: String,
    auth: AppAuth,
}

pub(crate) struct Apns {
    cfg: ApnsConfig,
    delivery: DeliveryConfig,
    token_client: reqwest::Client,
    apps: Mutex<HashMap<String, Arc<ApnsApp>>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Apns {
    pub(crate) fn new(cfg: ApnsConfig, delivery: &DeliveryConfig) -> Result<Self, ConfigError> {
        let token_client = client::build(
            ClientOptions {
                extra_ca_pem: cfg.extra_ca_pem.as_deref(),
                identity: None,
                h2_only: true,
            },
            delivery,
        )?;
        Ok(Self {
            cfg,
            delivery: delivery.clone(),
            token_client,
            apps: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn preload(&self) -> Result<(), ConfigError> {
        for bundle in self.cfg.apps.keys() {
            self.app(bundle)?;
        }
        Ok(())
    }

    /// The other host's environment (for a token the first one refused).
    pub(crate) fn other_env(&self, env: PushEnv) -> PushEnv {
        let current = match env {
            PushEnv::Sandbox => ApnsEnv::Sandbox,
            PushEnv::Production => ApnsEnv::Production,
            PushEnv::Default => self.cfg.default_env,
        };
        match current {
            ApnsEnv::Sandbox => PushEnv::Production,
            ApnsEnv::Production => PushEnv::Sandbox,
        }
    }

    /// The bundle id in an X-MPUSH package or RFC 8599 pn-param
    /// (`TEAMID.com.example.app.voip` → `com.example.app`), per
    /// `pushnotification_teamid` / `pushnotification_teamidstr`.
    pub(crate) fn bundle_of(&self, package: &str) -> String {
        normalize_bundle(package, self.cfg.teamid, &self.cfg.teamid_str)
    }

    pub(crate) fn app(&self, bundle: &str) -> Result<Arc<ApnsApp>, ConfigError> {
        let mut apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(app) = apps.get(bundle) {
            return Ok(app.clone());
        }
        let conf = match self.cfg.apps.get(bundle) {
            Some(c) => c.clone(),
            None => self.discover(bundle).ok_or_else(|| {
                ConfigError::Invalid(format!("no APNs credentials for bundle {bundle:?}"))
            })?,
        };
        let app = Arc::new(ApnsApp {
            bundle: bundle.to_owned(),
            auth: self.load_auth(bundle, &conf)?,
        });
        apps.insert(bundle.to_owned(), app.clone());
        Ok(app)
    }

    /// `pushkit.<bundle>.p12|pem`, then `pushkit.p12|pem`, in `key_dir`.
    fn discover(&self, bundle: &str) -> Option<ApnsAppConfig> {
        let dir = self.cfg.key_dir.as_deref()?;
        for stem in [format!("pushkit.{bundle}"), "pushkit".to_owned()] {
            let p12 = dir.join(format!("{stem}.p12"));
            if p12.is_file() {
                let pwd = dir.join(format!("{stem}.pwd"));
                return Some(ApnsAppConfig {
                    p12: Some(p12),
                    password_file: pwd.is_file().then_some(pwd),
                    password: self.cfg.cert_password.clone(),
                    ..Default::default()
                });
            }
            let pem = dir.join(format!("{stem}.pem"));
            if pem.is_file() {
                return Some(ApnsAppConfig {
                    pem: Some(pem),
                    ..Default::default()
                });
            }
        }
        None
    }

    fn load_auth(&self, bundle: &str, conf: &ApnsAppConfig) -> Result<AppAuth, ConfigError> {
        if let Some(p8) = &conf.p8 {
            let pem = std::fs::read(p8).map_err(|e| ConfigError::io(p8, e))?;
            let token = ProviderToken::new(
                &pem,
                conf.key_id.as_deref().unwrap_or(""),
                conf.team_id.as_deref().unwrap_or(""),
                self.cfg.jwt_refresh_secs,
            )
            .map_err(|e| ConfigError::credential(p8, e))?;
            return Ok(AppAuth::Token(token));
        }
        let (identity, path) = if let Some(p12) = &conf.p12 {
            let password = match &conf.password_file {
                Some(f) => std::fs::read_to_string(f)
                    .map_err(|e| ConfigError::io(f, e))?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
                None => conf.password.clone().unwrap_or_default(),
            };
            (load_p12(p12, &password)?, p12)
        } else if let Some(pem) = &conf.pem {
            (load_pem(pem)?, pem)
        } else {
            return Err(ConfigError::Invalid(
                "APNs app needs p12, pem or p8".to_owned(),
            ));
        };
        let leaf = identity
            .certs
            .first()
            .ok_or_else(|| ConfigError::credential(path, "no certificate"))?;
        let topics = cert_topics(leaf).map_err(|e| ConfigError::credential(path, e))?;
        self.check_topics(bundle, &topics, path)?;
        let client = client::build(
            ClientOptions {
                extra_ca_pem: self.cfg.extra_ca_pem.as_deref(),
                identity: Some(identity),
                h2_only: true,
            },
            &self.delivery,
        )?;
        Ok(AppAuth::Cert(client, topics))
    }

    /// Refuses a certificate that can never push for `bundle`; warns about
    /// the kind of push it cannot carry (calls need `<bundle>.voip`, chats
    /// `<bundle>`) when the topic is chosen automatically.
    fn check_topics(
        &self,
        bundle: &str,
        topics: &[String],
        path: &Path,
    ) -> Result<(), ConfigError> {
        let voip = format!("{bundle}.voip");
        let alert = topics.iter().any(|t| t == bundle);
        let calls = topics.contains(&voip);
        let rule = self.cfg.topic.as_str();
        if !alert && !calls {
            return Err(ConfigError::credential(
                path,
                format!("the certificate is for {topics:?}, not for app {bundle:?}"),
            ));
        }
        let literal = !matches!(rule, "auto" | "null" | "" | "set");
        if literal && !topics.iter().any(|t| t == rule) {
            return Err(ConfigError::Invalid(format!(
                "[apns] topic {rule:?} is not allowed by the certificate of {bundle:?} ({topics:?})"
            )));
        }
        if rule == "auto" {
            if !calls {
                tracing::warn!(
                    app = bundle,
                    ?topics,
                    "APNs certificate cannot carry VoIP pushes (calls): use an Apple Push Services or VoIP Services certificate, or a .p8 key"
                );
            }
            if !alert {
                tracing::warn!(
                    app = bundle,
                    ?topics,
                    "APNs certificate cannot carry alert pushes (chats): use an Apple Push Services certificate, or a .p8 key"
                );
            }
        }
        Ok(())
    }

    pub(crate) fn base_url(&self, env: PushEnv) -> &str {
        let env = match env {
            PushEnv::Sandbox => ApnsEnv::Sandbox,
            PushEnv::Production => ApnsEnv::Production,
            PushEnv::Default => self.cfg.default_env,
        };
        match env {
            ApnsEnv::Sandbox => &self.cfg.sandbox_url,
            ApnsEnv::Production => &self.cfg.production_url,
        }
        .trim_end_matches('/')
    }

    /// One attempt to the host of `env`. Returns the `apns-id`.
    pub(crate) async fn send(
        &self,
        app: &ApnsApp,
        req: &PushRequest,
        env: PushEnv,
    ) -> Result<String, Failure> {
        let push_type = match &self.cfg.push_type {
            Some(t) => t.clone(),
            None if req.kind == NotificationKind::Call => "voip".to_owned(),
            None => "alert".to_owned(),
        };
        let allowed = match &app.auth {
            AppAuth::Token(_) => None,
            AppAuth::Cert(_, topics) => Some(topics.as_slice()),
        };
        let topic = topic(&self.cfg.topic, &app.bundle, &push_type, allowed)?;
        let url = format!("{}/3/device/{}", self.base_url(env), req.token);
        let (client, bearer) = match &app.auth {
            AppAuth::Token(t) => (
                &self.token_client,
                Some(
                    t.bearer_at(now_secs())
                        .map_err(|e| Failure::Auth(format!("APNs JWT: {e}")))?,
                ),
            ),
            AppAuth::Cert(c, _) => (c, None),
        };
        let expiration = match req.ttl_secs {
            0 => 0,
            ttl => now_secs() + u64::from(ttl),
        };
        let mut r = client
            .post(url)
            .header("apns-push-type", push_type.as_str())
            .header(
                "apns-priority",
                if req.priority == Priority::High {
                    "10"
                } else {
                    "5"
                },
            )
            .header("apns-expiration", expiration.to_string())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(apns_body(&req.payload).to_string());
        if let Some(t) = &topic {
            r = r.header("apns-topic", t.as_str());
        }
        if let Some(c) = &req.collapse_id {
            r = r.header("apns-collapse-id", c.as_str());
        }
        if let Some(b) = &bearer {
            r = r.header(reqwest::header::AUTHORIZATION, format!("bearer {b}"));
        }
        let resp = r.send().await.map_err(|e| transport_failure("APNs", e))?;
        let status = resp.status().as_u16();
        let after = retry_after(resp.headers());
        let apns_id = resp
            .headers()
            .get("apns-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if status == 200 {
            return Ok(apns_id);
        }
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let reason = body["reason"].as_str().unwrap_or("").to_owned();
        let failure = classify(status, &reason, after);
        if let (Failure::Auth(_), AppAuth::Token(t)) = (&failure, &app.auth) {
            t.invalidate();
        }
        Err(failure)
    }
}

/// What to fix when APNs refuses a topic.
const TOPIC_FIX: &str = "check [apns] topic and that the key or certificate is this app's: a VoIP push needs topic <bundle>.voip (an Apple Push Services or VoIP Services certificate, or a .p8 key), an alert <bundle>";

/// APNs error → action: only a token APNs calls gone (410) loses its
/// binding; a token unknown on this host is tried on the other one; topic
/// and certificate errors are ours to fix.
pub(crate) fn classify(status: u16, reason: &str, after: Option<std::time::Duration>) -> Failure {
    let what = format!("APNs {status} {reason}");
    match (status, reason) {
        (410, _) => Failure::Remove(what),
        (400, "BadDeviceToken") => Failure::WrongEnvironment(what),
        (400, "DeviceTokenNotForTopic" | "TopicDisallowed" | "BadTopic" | "MissingTopic") => {
            Failure::Config {
                reason: what,
                fix: TOPIC_FIX,
            }
        }
        (400 | 403, "BadCertificate" | "BadCertificateEnvironment") => Failure::Config {
            reason: what,
            fix: "the certificate is refused by this APNs host: check the certificate (not expired, for this app) and the binding's s/p environment",
        },
        (403, _) => Failure::Auth(what),
        (429 | 500 | 503, _) => Failure::Retry {
            reason: what,
            retry_after: after,
        },
        _ => Failure::Permanent(what),
    }
}

/// The notification body: the rendered template without its `headers`
/// section (headers come from the request and the config).
fn apns_body(payload: &Value) -> Value {
    let mut body = payload.clone();
    if let Some(o) = body.as_object_mut() {
        o.remove("headers");
    }
    body
}

/// `apns-topic` per `[apns] topic` (`pushnotification_topic`), with the
/// topics a certificate allows (`None`: token auth, any topic of the team):
/// `auto` → `<bundle>.voip` for VoIP pushes, `<bundle>` otherwise, refused
/// here when the certificate does not allow it; `null` → none with a
/// certificate (APNs applies the certificate's own), as `auto` with a key;
/// `set` → that topic whatever the certificate says; anything else is sent
/// literally.
pub(crate) fn topic(
    rule: &str,
    bundle: &str,
    push_type: &str,
    allowed: Option<&[String]>,
) -> Result<Option<String>, Failure> {
    let wanted = if push_type == "voip" {
        format!("{bundle}.voip")
    } else {
        bundle.to_owned()
    };
    match (rule, allowed) {
        ("null" | "", Some(_)) => Ok(None),
        ("auto", Some(topics)) if !topics.contains(&wanted) => Err(Failure::Config {
            reason: format!(
                "the APNs certificate of {bundle} cannot carry {push_type} pushes (it allows {topics:?}); not sent"
            ),
            fix: TOPIC_FIX,
        }),
        ("auto" | "null" | "" | "set", _) => Ok(Some(wanted)),
        (literal, _) => Ok(Some(literal.to_owned())),
    }
}

pub(crate) fn normalize_bundle(package: &str, teamid: i8, teamid_str: &str) -> String {
    let mut p = package;
    if !teamid_str.is_empty()
        && let Some(stripped) = p.strip_suffix(teamid_str)
    {
        p = stripped;
    }
    if let Some((first, rest)) = p.split_once('.') {
        // Apple team ids are 10 upper-case letters and digits.
        let looks_like_team = first.len() == 10
            && first
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && rest.contains('.');
        if teamid == 1 || (teamid == -1 && looks_like_team) {
            p = rest;
        }
    }
    p.to_owned()
}

fn load_p12(path: &Path, password: &str) -> Result<Identity, ConfigError> {
    let data = std::fs::read(path).map_err(|e| ConfigError::io(path, e))?;
    let store = KeyStore::from_pkcs12(&data, password, Pkcs12ImportPolicy::Strict)
        .map_err(|e| ConfigError::credential(path, format!("PKCS#12 (wrong password?): {e}")))?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| ConfigError::credential(path, "no key and certificate in PKCS#12"))?;
    Ok(Identity {
        certs: chain
            .certs()
            .iter()
            .map(|c| c.as_der().to_vec().into())
            .collect(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec())),
    })
}

fn load_pem(path: &PathBuf) -> Result<Identity, ConfigError> {
    let certs = client::read_certs(path)?;
    let data = std::fs::read(path).map_err(|e| ConfigError::io(path, e))?;
    let key = PrivateKeyDer::from_pem_slice(&data)
        .map_err(|e| ConfigError::credential(path, format!("private key: {e}")))?;
    Ok(Identity { certs, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throw-away P-256 key, only for these tests.
    const P8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvjsjIVnhWnicr/0w
aOtG+m3SeMW2+oQBsCfbYVstZzWhRANCAAQrCRTd3tnc/Pxemz782O48tbxUOG4m
W1tc7rwVgnYG3loQ6/H0RLh52jhZotLapCEyF7OKIYKNVLbFdnSfBZZn
-----END PRIVATE KEY-----
";

    #[test]
    fn jwt_is_reused_then_refreshed_before_an_hour() {
        let t = ProviderToken::new(P8.as_bytes(), "KEY", "TEAM", 3000).unwrap();
        let t0 = 1_800_000_000;
        let a = t.bearer_at(t0).unwrap();
        assert_eq!(
            t.bearer_at(t0 + 2999).unwrap(),
            a,
            "reused within refresh age"
        );
        let b = t.bearer_at(t0 + 3000).unwrap();
        assert_ne!(b, a, "replaced at refresh age (< 60 min)");
        assert_eq!(t.bearer_at(t0 + 3001).unwrap(), b);
        t.invalidate();
        assert_ne!(t.bearer_at(t0 + 3002).unwrap(), b);
    }

    #[test]
    fn topic_rules() {
        let t = |rule, push_type, allowed: Option<&[String]>| {
            topic(rule, "com.a", push_type, allowed).map_err(|_| ())
        };
        let universal = ["com.a".to_owned(), "com.a.voip".to_owned()];
        let alert_only = ["com.a".to_owned()];
        let voip_only = ["com.a.voip".to_owned()];
        // auto: what the certificate allows, else refused before sending.
        assert_eq!(
            t("auto", "voip", Some(&universal)),
            Ok(Some("com.a.voip".into()))
        );
        assert_eq!(
            t("auto", "alert", Some(&universal)),
            Ok(Some("com.a".into()))
        );
        assert_eq!(t("auto", "voip", Some(&alert_only)), Err(()));
        assert_eq!(t("auto", "alert", Some(&voip_only)), Err(()));
        assert_eq!(
            t("auto", "voip", Some(&voip_only)),
            Ok(Some("com.a.voip".into()))
        );
        // Token auth: every topic of the team.
        assert_eq!(t("auto", "voip", None), Ok(Some("com.a.voip".into())));
        assert_eq!(t("null", "voip", None), Ok(Some("com.a.voip".into())));
        // null: none with a certificate; set: always; literal: as is.
        assert_eq!(t("null", "voip", Some(&alert_only)), Ok(None));
        assert_eq!(
            t("set", "voip", Some(&alert_only)),
            Ok(Some("com.a.voip".into()))
        );
        assert_eq!(t("com.b", "voip", None), Ok(Some("com.b".into())));
    }

    #[test]
    fn bundle_normalisation() {
        assert_eq!(
            normalize_bundle("ABCDE12345.com.ex.app.voip", -1, ".voip"),
            "com.ex.app"
        );
        assert_eq!(normalize_bundle("com.ex.app", -1, ".voip"), "com.ex.app");
        assert_eq!(
            normalize_bundle("ABCDE12345.com.ex.app", 0, ".voip"),
            "ABCDE12345.com.ex.app"
        );
        assert_eq!(normalize_bundle("team.com.ex", 1, ".voip"), "com.ex");
    }

    #[test]
    fn classify_maps_reasons() {
        assert!(matches!(
            classify(410, "Unregistered", None),
            Failure::Remove(_)
        ));
        assert!(matches!(
            classify(400, "BadDeviceToken", None),
            Failure::WrongEnvironment(_)
        ));
        for reason in [
            "DeviceTokenNotForTopic",
            "TopicDisallowed",
            "BadTopic",
            "MissingTopic",
            "BadCertificateEnvironment",
        ] {
            assert!(
                matches!(classify(400, reason, None), Failure::Config { .. }),
                "{reason}"
            );
        }
        assert!(matches!(
            classify(400, "BadExpirationDate", None),
            Failure::Permanent(_)
        ));
        assert!(matches!(
            classify(403, "ExpiredProviderToken", None),
            Failure::Auth(_)
        ));
        assert!(matches!(
            classify(429, "TooManyRequests", None),
            Failure::Retry { .. }
        ));
    }
}

//! FCM HTTP v1: `POST {base}/v1/projects/{project}/messages:send` with an
//! OAuth2 access token from the app's service-account key (gcp_auth signs
//! the JWT assertion, posts it to the key's `token_uri`, caches the token and
//! refreshes it shortly before expiry). Serves providers `a`, `j` and `w`
//! (FCM web tokens).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use gcp_auth::{CustomServiceAccount, TokenProvider};
use serde_json::Value;

use crate::PushRequest;
use crate::client::{self, ClientOptions};
use crate::config::{DeliveryConfig, FcmConfig};
use crate::error::{ConfigError, Failure};
use crate::retry::{retry_after, transport_failure};

pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// One FCM app: its key, project and failure breaker (`fcm_maxfail`).
pub(crate) struct FcmApp {
    path: PathBuf,
    /// Replaced after a 401 so the next push fetches a fresh access token
    /// (gcp_auth would otherwise reuse a revoked one until it expires).
    account: RwLock<Arc<CustomServiceAccount>>,
    project: String,
    consecutive_failures: AtomicU32,
}

pub(crate) struct Fcm {
    cfg: FcmConfig,
    client: reqwest::Client,
    apps: Mutex<HashMap<String, Arc<FcmApp>>>,
}

impl Fcm {
    pub(crate) fn new(cfg: FcmConfig, delivery: &DeliveryConfig) -> Result<Self, ConfigError> {
        let client = client::build(
            ClientOptions {
                extra_ca_pem: cfg.extra_ca_pem.as_deref(),
                identity: None,
                h2_only: true,
            },
            delivery,
        )?;
        Ok(Self {
            cfg,
            client,
            apps: Mutex::new(HashMap::new()),
        })
    }

    /// Checks every configured key file now, so a bad key is reported at
    /// startup rather than at the first call.
    pub(crate) fn preload(&self) -> Result<(), ConfigError> {
        for package in self.cfg.apps.keys() {
            self.app(package)?;
        }
        Ok(())
    }

    /// A file in `key_dir`, if it exists.
    fn discovered(&self, name: &str) -> Option<PathBuf> {
        let path = self.cfg.key_dir.as_deref()?.join(name);
        path.is_file().then_some(path)
    }

    /// The app for an X-MPUSH package: its configured key, a discovered
    /// `fcmkey.<package>.json`, an already loaded key of that project id
    /// (the manual's sendpush takes the project id as package), or the
    /// default `fcmkey.json`.
    pub(crate) fn app(&self, package: &str) -> Result<Arc<FcmApp>, ConfigError> {
        let mut apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(app) = apps.get(package) {
            return Ok(app.clone());
        }
        let own = self
            .cfg
            .apps
            .get(package)
            .cloned()
            .or_else(|| self.discovered(&format!("fcmkey.{package}.json")));
        let same_project = || apps.values().find(|a| a.project == package).cloned();
        let app = match (own, same_project()) {
            (Some(path), _) => Arc::new(load(&path)?),
            (None, Some(app)) => app,
            (None, None) => {
                let path = self.discovered("fcmkey.json").ok_or_else(|| {
                    ConfigError::Invalid(format!("no FCM key for package {package:?}"))
                })?;
                Arc::new(load(&path)?)
            }
        };
        apps.insert(package.to_owned(), app.clone());
        Ok(app)
    }

    /// `fcm_maxfail`: true when this app has failed too often in a row.
    pub(crate) fn tripped(&self, app: &FcmApp) -> bool {
        app.consecutive_failures.load(Ordering::Relaxed) >= self.cfg.max_fail
    }

    pub(crate) fn record(&self, app: &FcmApp, delivered: bool) {
        if delivered {
            app.consecutive_failures.store(0, Ordering::Relaxed);
        } else {
            app.consecutive_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One attempt. Returns the message name FCM assigned.
    pub(crate) async fn send(&self, app: &FcmApp, req: &PushRequest) -> Result<String, Failure> {
        let account = app
            .account
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let token = account
            .token(&[SCOPE])
            .await
            .map_err(|e| Failure::Auth(format!("FCM OAuth2 token for {}: {e}", app.project)))?;
        let body = message(&req.payload, &req.token);
        // The manual's fcm_serverurl form names the project as PROJECTID.
        let url = if self.cfg.base_url.contains("PROJECTID") {
            self.cfg.base_url.replace("PROJECTID", &app.project)
        } else {
            format!(
                "{}/v1/projects/{}/messages:send",
                self.cfg.base_url.trim_end_matches('/'),
                app.project
            )
        };
        let resp = self
            .client
            .post(url)
            .bearer_auth(token.as_str())
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_failure("FCM", e))?;
        let status = resp.status().as_u16();
        let after = retry_after(resp.headers());
        let text = resp.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == 200 {
            return Ok(json["name"].as_str().unwrap_or_default().to_owned());
        }
        if status == 401 {
            renew(app);
        }
        Err(classify(status, &json, after))
    }
}

/// Drops the cached access token by re-reading the key.
fn renew(app: &FcmApp) {
    match CustomServiceAccount::from_file(&app.path) {
        Ok(fresh) => *app.account.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh),
        Err(e) => tracing::error!(path = %app.path.display(), "FCM key unreadable: {e}"),
    }
}

fn load(path: &Path) -> Result<FcmApp, ConfigError> {
    let account =
        CustomServiceAccount::from_file(path).map_err(|e| ConfigError::credential(path, e))?;
    let project = account
        .project_id()
        .ok_or_else(|| ConfigError::credential(path, "no project_id in service-account key"))?
        .to_owned();
    Ok(FcmApp {
        path: path.to_owned(),
        account: RwLock::new(Arc::new(account)),
        project,
        consecutive_failures: AtomicU32::new(0),
    })
}

/// The request body: the rendered message (wrapped in `{"message":…}` if the
/// template left that out) addressed to `token`.
fn message(payload: &Value, token: &str) -> Value {
    let mut body = if payload.get("message").is_some_and(Value::is_object) {
        payload.clone()
    } else {
        serde_json::json!({ "message": payload })
    };
    if let Some(msg) = body["message"].as_object_mut() {
        msg.remove("topic");
        msg.remove("condition");
        msg.insert("token".into(), Value::String(token.to_owned()));
    }
    body
}

/// FCM error → action, from the status and the `google.rpc.Status` body.
pub(crate) fn classify(status: u16, body: &Value, after: Option<std::time::Duration>) -> Failure {
    let error = &body["error"];
    let message = error["message"].as_str().unwrap_or("").to_owned();
    let details = error["details"].as_array().cloned().unwrap_or_default();
    let error_code = details
        .iter()
        .find_map(|d| d["errorCode"].as_str())
        .unwrap_or("")
        .to_owned();
    let names_token = details.iter().any(|d| {
        d["fieldViolations"]
            .as_array()
            .is_some_and(|v| v.iter().any(|f| f["field"] == "message.token"))
    }) || message.contains("registration token");
    let what = format!(
        "FCM {status} {}{}: {message}",
        error["status"].as_str().unwrap_or(""),
        if error_code.is_empty() {
            String::new()
        } else {
            format!("/{error_code}")
        }
    );
    match status {
        404 if error_code == "UNREGISTERED" => Failure::Remove(what),
        400 if names_token => Failure::Remove(what),
        403 if error_code == "SENDER_ID_MISMATCH" => Failure::Config {
            reason: what,
            fix: "the token belongs to another Firebase project: use the service account of the app's project ([fcm] apps)",
        },
        401 | 403 => Failure::Auth(what),
        429 | 500 | 502 | 503 | 504 => Failure::Retry {
            reason: what,
            retry_after: after,
        },
        _ => Failure::Permanent(what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn message_is_wrapped_and_addressed() {
        let m = message(&json!({"data": {"ntype": "0"}, "topic": "x"}), "T1");
        assert_eq!(
            m,
            json!({"message": {"data": {"ntype": "0"}, "token": "T1"}})
        );
        let m = message(&json!({"message": {"token": "TOKEN"}}), "T2");
        assert_eq!(m["message"]["token"], "T2");
    }

    #[test]
    fn classify_maps_error_classes() {
        let unreg = json!({"error":{"code":404,"status":"NOT_FOUND","message":"Requested entity was not found.",
            "details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}});
        assert!(matches!(classify(404, &unreg, None), Failure::Remove(_)));
        let bad_payload = json!({"error":{"code":400,"status":"INVALID_ARGUMENT","message":"Invalid value at 'message.android.priority'"}});
        assert!(matches!(
            classify(400, &bad_payload, None),
            Failure::Permanent(_)
        ));
        let unknown_404 = json!({"error":{"code":404,"status":"NOT_FOUND","message":"Requested entity was not found."}});
        assert!(matches!(
            classify(404, &unknown_404, None),
            Failure::Permanent(_)
        ));
        assert!(matches!(
            classify(401, &Value::Null, None),
            Failure::Auth(_)
        ));
        let d = Some(std::time::Duration::from_secs(2));
        assert_eq!(
            classify(503, &Value::Null, d),
            Failure::Retry {
                reason: "FCM 503 : ".into(),
                retry_after: d
            }
        );
    }
}

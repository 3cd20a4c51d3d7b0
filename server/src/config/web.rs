//! The `[web]` section.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// `[web]`: the static web demo, service worker and SDK files and the
/// Firebase web config `/api/v1/webconfig` reports (docs/configuration.md).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSection {
    /// The operator's own web demo build; `None` = the one built into sipwake.
    pub demo_dir: Option<PathBuf>,
    /// The operator's own `firebase-messaging-sw.js`; `None` = built in.
    pub service_worker: Option<PathBuf>,
    /// The operator's own WASM SDK build (`web/`, `no-modules/`, `node/`);
    /// `None` = built in.
    pub sdk_dir: Option<PathBuf>,
    /// Firebase web app config (`apiKey`, `projectId`, `messagingSenderId`,
    /// `appId`, …); empty = standard Web Push only.
    pub firebase: BTreeMap<String, String>,
    /// Firebase's "Web Push certificate" public key; empty = Firebase's default.
    pub firebase_vapid_key: String,
    /// SIP domain the page pre-fills; empty = the page's host name.
    pub domain: String,
    /// Origins (`https://phone.example`, `http://localhost:3000`) whose
    /// pages may read `/api/v1/webconfig` (CORS); empty = same origin only.
    pub allowed_origins: Vec<String>,
}

/// Keys Firebase Messaging cannot start without.
const FIREBASE_REQUIRED: [&str; 4] = ["apiKey", "projectId", "messagingSenderId", "appId"];

impl WebSection {
    /// `Err((key, reason))` for a config error, e.g. an incomplete Firebase config.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.firebase.is_empty() {
            let missing: Vec<&str> = FIREBASE_REQUIRED
                .into_iter()
                .filter(|k| self.firebase.get(*k).is_none_or(|v| v.trim().is_empty()))
                .collect();
            if !missing.is_empty() {
                return Err(("web.firebase", format!("missing {}", missing.join(", "))));
            }
        }
        for o in &self.allowed_origins {
            if !is_origin(o) {
                return Err((
                    "web.allowed_origins",
                    format!("{o:?} is not an origin: scheme://host[:port], no path, no `*`"),
                ));
            }
        }
        Ok(())
    }
}

/// `http(s)://host[:port]` with nothing after (what a browser sends as
/// `Origin`).
fn is_origin(o: &str) -> bool {
    let Some(rest) = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_origins_must_be_origins() {
        let mut s = WebSection {
            allowed_origins: vec![
                "https://phone.example".into(),
                "http://localhost:3000".into(),
            ],
            ..WebSection::default()
        };
        s.validate().unwrap();
        for bad in [
            "*",
            "phone.example",
            "https://phone.example/app",
            "https://",
        ] {
            s.allowed_origins = vec![bad.into()];
            assert_eq!(s.validate().unwrap_err().0, "web.allowed_origins", "{bad}");
        }
    }
}

//! Push message templates: the sipwake-core defaults, or the operator's
//! files (the manual's `fcmmessage.txt` / `pushkitmessage.txt`), parsed once
//! and re-read on [`crate::Dispatcher::reload`] (SIGHUP or the API).

use serde_json::Value;
use sipwake_core::template::{
    DEFAULT_APNS_TEMPLATE, DEFAULT_FCM_TEMPLATE, PushFields, RemoveNotification, Target, Template,
    TemplateError, prune_fcm,
};

use sipwake_core::NotificationKind;

use crate::config::{PayloadConfig, TemplateConfig};
use crate::error::ConfigError;

#[derive(Debug, Clone)]
pub struct Templates {
    fcm: Template,
    apns: Template,
}

impl Templates {
    /// Reads the configured files; a missing setting means the default.
    pub fn load(cfg: &TemplateConfig) -> Result<Self, ConfigError> {
        let read = |path: &Option<std::path::PathBuf>, default: &str| match path {
            None => Template::parse(default).map_err(|e| ConfigError::Invalid(e.to_string())),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError::io(p, e))?;
                Template::parse(&text).map_err(|source| ConfigError::Template {
                    path: p.clone(),
                    source,
                })
            }
        };
        Ok(Self {
            fcm: read(&cfg.fcm, DEFAULT_FCM_TEMPLATE)?,
            apns: read(&cfg.apns, DEFAULT_APNS_TEMPLATE)?,
        })
    }

    /// The FCM message for `fields` (defaults filled), pruned for `target`.
    pub fn render_fcm(
        &self,
        fields: &PushFields,
        target: Target,
        remove_notification: RemoveNotification,
    ) -> Result<Value, TemplateError> {
        let mut v = self.fcm.render(&fields.clone().with_defaults())?;
        prune_fcm(&mut v, target, remove_notification);
        Ok(v)
    }

    /// The APNs / PushKit message for `fields` (defaults filled).
    pub fn render_apns(&self, fields: &PushFields) -> Result<Value, TemplateError> {
        self.apns.render(&fields.clone().with_defaults())
    }
}

/// `fields` with the configured TTL and sound filled in where empty.
pub(crate) fn apply_options(mut fields: PushFields, opts: &PayloadConfig) -> PushFields {
    if fields.ttl == 0 {
        fields.ttl = opts.ttl;
    }
    if fields.sound.is_empty() {
        fields.sound = match fields.kind {
            NotificationKind::Call => &opts.sound_call,
            NotificationKind::Chat => &opts.sound_chat,
            _ => &opts.sound_other,
        }
        .clone();
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_operator_files() {
        let fields = PushFields {
            kind: NotificationKind::Chat,
            from_username: "1111".into(),
            msg: "hi".into(),
            ..Default::default()
        };
        let t = Templates::load(&TemplateConfig::default()).unwrap();
        let v = t
            .render_fcm(&fields, Target::FcmAndroid, RemoveNotification::Auto)
            .unwrap();
        assert_eq!(v["message"]["data"]["nmsg"], "hi");
        assert!(v["message"].get("apns").is_none());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pushkitmessage.txt");
        std::fs::write(
            &path,
            "{\"aps\":{\"alert\":\"TITLE\"},\"x\":TYPE}\n--EOF junk",
        )
        .unwrap();
        let t = Templates::load(&TemplateConfig {
            fcm: None,
            apns: Some(path.clone()),
        })
        .unwrap();
        let v = t.render_apns(&fields).unwrap();
        assert_eq!(v["aps"]["alert"], "Message from 1111");
        assert_eq!(v["x"], 1);

        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            Templates::load(&TemplateConfig {
                fcm: None,
                apns: Some(path)
            }),
            Err(ConfigError::Template { .. })
        ));
    }
}

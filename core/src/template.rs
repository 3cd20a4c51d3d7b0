//! Push message templates (the manual's `fcmmessage.txt` /
//! `pushkitmessage.txt`) and keyword substitution.
//!
//! Rendering never builds JSON by string concatenation: bare keywords
//! (`"ntype" : TYPE`) are first turned into marked JSON strings, the template
//! is parsed, and keywords are replaced in the parsed tree (marked numeric
//! ones by numbers).
//! Serialising the tree escapes whatever the values contain (quotes,
//! backslashes, newlines, control characters), so the output is always valid
//! JSON.

mod defaults;
mod keywords;

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

use serde_json::Value;
use thiserror::Error;

use crate::payload::NotificationKind;
pub use defaults::{DEFAULT_APNS_TEMPLATE, DEFAULT_FCM_TEMPLATE};
pub use keywords::KEYWORDS;

/// Largest template we accept.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;
/// Largest rendered message (sum of all substituted strings). FCM and APNs
/// accept 4 KiB; this only stops a template from multiplying a long value.
pub const MAX_RENDERED_BYTES: usize = 1024 * 1024;
/// Everything from this mark on is not part of the template.
pub const EOF_MARK: &str = "--EOF";

/// The values substituted for the keywords. JSON keys are camelCase; absent
/// keys take the `Default` (empty strings, zero numbers, kind call).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PushFields {
    /// PACKAGE
    pub package: String,
    /// TOKEN
    pub token: String,
    /// TO: called user (callee) name.
    pub to: String,
    /// TOUSERNAME
    pub to_username: String,
    /// TYPE (bare: a number; in a string: its digits).
    pub kind: NotificationKind,
    /// FROM: caller / sender full name.
    pub from: String,
    /// FROMUSERNAME
    pub from_username: String,
    /// FROMDISPLAYNAME
    pub from_display: String,
    /// CALLID
    pub call_id: String,
    /// PRIORITY: "high" by default.
    pub priority: String,
    /// NPRIORITY: Android notification_priority.
    pub npriority: String,
    /// APRIORITY: APNs priority number (10 calls, 5 others).
    pub apriority: u8,
    /// TTLNUM: time to live in seconds (0 = now or never).
    pub ttl: u32,
    /// PUSHTYPE: apns-push-type.
    pub push_type: String,
    /// SOUND
    pub sound: String,
    /// MSG: chat text.
    pub msg: String,
    /// MESSAGE: notification text.
    pub message: String,
    /// TITLE
    pub title: String,
    /// BODY
    pub body: String,
}

impl PushFields {
    /// Fill every empty field that has a default in the manual, according to
    /// the kind: priority `high`; notification priority `PRIORITY_MAX` for
    /// calls, `PRIORITY_HIGH` otherwise; APNs priority 10 for calls, 5
    /// otherwise; push type `voip` for calls, `alert` otherwise; and the
    /// texts ("Call from FROMUSERNAME", "Incoming VoIP call from FROM", …).
    /// A `title` of `null` (as in the manual's sendpush API) means no title.
    pub fn with_defaults(mut self) -> Self {
        let call = self.kind == NotificationKind::Call;
        let who = first_nonempty(&[&self.from_username, &self.from, &self.from_display]);
        let who_full = first_nonempty(&[&self.from, &self.from_display, &self.from_username]);
        // " from X", or nothing when the sender is unknown.
        let by = |w: &str| {
            if w.is_empty() {
                String::new()
            } else {
                format!(" from {w}")
            }
        };
        set_if_empty(&mut self.priority, "high");
        set_if_empty(
            &mut self.npriority,
            if call {
                "PRIORITY_MAX"
            } else {
                "PRIORITY_HIGH"
            },
        );
        if self.apriority == 0 {
            self.apriority = if call { 10 } else { 5 };
        }
        set_if_empty(&mut self.push_type, if call { "voip" } else { "alert" });
        set_if_empty(&mut self.to_username, &self.to);
        let (title, message) = match self.kind {
            NotificationKind::Call => (
                if who.is_empty() {
                    "Incoming call".to_string()
                } else {
                    format!("Call{}", by(who))
                },
                format!("Incoming VoIP call{}", by(who_full)),
            ),
            NotificationKind::Chat => (
                if who.is_empty() {
                    "New message".to_string()
                } else {
                    format!("Message{}", by(who))
                },
                self.msg.clone(),
            ),
            NotificationKind::Cancel => (
                format!("Missed call{}", by(who)),
                if who_full.is_empty() {
                    "Call cancelled".to_string()
                } else {
                    format!("Call from {who_full} cancelled")
                },
            ),
            NotificationKind::Custom | NotificationKind::Other(_) => (
                if who.is_empty() {
                    "VoIP Notification".to_string()
                } else {
                    format!("Message{}", by(who))
                },
                self.msg.clone(),
            ),
            NotificationKind::RegisterRefresh => (String::new(), String::new()),
        };
        if self.title == "null" {
            self.title.clear();
        } else {
            set_if_empty(&mut self.title, &title);
        }
        set_if_empty(&mut self.message, &message);
        let message = self.message.clone();
        set_if_empty(&mut self.body, &message);
        self
    }
}

fn first_nonempty<'a>(v: &[&'a String]) -> &'a str {
    v.iter().find(|s| !s.is_empty()).map_or("", |s| s.as_str())
}

fn set_if_empty(dst: &mut String, v: &str) {
    if dst.is_empty() {
        *dst = v.to_string();
    }
}

/// Which FCM platform section a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Target {
    /// Keep `android`, drop `apns` and `webpush`.
    FcmAndroid,
    /// Keep `apns`, drop `android` and `webpush`.
    FcmIos,
    /// Keep `webpush`, drop `android` and `apns`.
    FcmWeb,
    /// Same pruning as `FcmIos` (an FCM message addressed to APNs).
    Apns,
}

/// The manual's `fcm_removenotification` setting. JSON: its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RemoveNotification {
    /// -1: as `ForCalls`.
    #[default]
    Auto,
    /// 0: always keep.
    Keep,
    /// 1: remove unless the kind is chat or custom.
    ForCalls,
    /// 2: always remove.
    Always,
}

impl RemoveNotification {
    pub fn from_setting(n: i64) -> Self {
        match n {
            0 => Self::Keep,
            1 => Self::ForCalls,
            2 => Self::Always,
            _ => Self::Auto,
        }
    }

    pub fn setting(self) -> i64 {
        match self {
            Self::Auto => -1,
            Self::Keep => 0,
            Self::ForCalls => 1,
            Self::Always => 2,
        }
    }

    fn removes(self, kind: NotificationKind) -> bool {
        let shown = matches!(kind, NotificationKind::Chat | NotificationKind::Custom);
        match self {
            Self::Keep => false,
            Self::Always => true,
            Self::Auto | Self::ForCalls => !shown,
        }
    }
}

impl Serialize for RemoveNotification {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.setting())
    }
}

impl<'de> Deserialize<'de> for RemoveNotification {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_setting(i64::deserialize(d)?))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    #[error("template: too large ({0} bytes, max {MAX_TEMPLATE_BYTES})")]
    TooLarge(usize),
    #[error("template: rendered message too large (over {MAX_RENDERED_BYTES} bytes)")]
    RenderedTooLarge,
    #[error("template: not valid JSON after keyword substitution: {0}")]
    InvalidJson(String),
    #[error("template: contains the reserved character U+FDD0")]
    ReservedChar,
}

/// A parsed template: cut at `--EOF`, bare keywords marked, JSON parsed.
/// Parse once (e.g. when the gateway loads `fcmmessage.txt`) and render for
/// every push.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    tree: Value,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        if text.len() > MAX_TEMPLATE_BYTES {
            return Err(TemplateError::TooLarge(text.len()));
        }
        let body = text.find(EOF_MARK).map_or(text, |i| &text[..i]);
        if keywords::contains_mark(body) {
            return Err(TemplateError::ReservedChar);
        }
        let literal = keywords::quote_bare(body);
        let tree = serde_json::from_str(&literal)
            .map_err(|e| TemplateError::InvalidJson(e.to_string()))?;
        Ok(Template { tree })
    }

    /// Substitute every keyword. Values are used as given (see
    /// [`PushFields::with_defaults`]).
    pub fn render(&self, fields: &PushFields) -> Result<Value, TemplateError> {
        let mut budget = MAX_RENDERED_BYTES;
        keywords::render_tree(&self.tree, fields, &mut budget)
    }
}

/// Parse and render in one go; see [`Template`].
pub fn render(template: &str, fields: &PushFields) -> Result<Value, TemplateError> {
    Template::parse(template)?.render(fields)
}

/// The built-in templates, parsed once.
fn builtin(which: &'static str) -> Result<&'static Template, TemplateError> {
    static FCM: OnceLock<Result<Template, TemplateError>> = OnceLock::new();
    static APNS: OnceLock<Result<Template, TemplateError>> = OnceLock::new();
    let (cell, text) = if which == "fcm" {
        (&FCM, DEFAULT_FCM_TEMPLATE)
    } else {
        (&APNS, DEFAULT_APNS_TEMPLATE)
    };
    cell.get_or_init(|| Template::parse(text))
        .as_ref()
        .map_err(Clone::clone)
}

/// Drop the FCM platform sections `target` does not use, and the
/// `notification` sections (top-level, `android.notification`,
/// `webpush.notification`) when `remove_notification` says so for the
/// message's kind, read from `data.ntype` (absent: call). Accepts the message
/// with or without the outer `{"message": …}`; anything else is left alone.
pub fn prune_fcm(msg: &mut Value, target: Target, remove_notification: RemoveNotification) {
    let Some(root) = msg.as_object_mut() else {
        return;
    };
    let m = if root.get("message").is_some_and(Value::is_object) {
        match root.get_mut("message").and_then(Value::as_object_mut) {
            Some(m) => m,
            None => return,
        }
    } else {
        root
    };
    let keep = match target {
        Target::FcmAndroid => "android",
        Target::FcmIos | Target::Apns => "apns",
        Target::FcmWeb => "webpush",
    };
    for section in ["android", "apns", "webpush"] {
        if section != keep {
            m.remove(section);
        }
    }
    let kind = match m.get("data").and_then(|d| d.get("ntype")) {
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_or(NotificationKind::Call, NotificationKind::from_ntype),
        Some(Value::Number(n)) => n
            .as_i64()
            .map_or(NotificationKind::Call, NotificationKind::from_ntype),
        _ => NotificationKind::Call,
    };
    if remove_notification.removes(kind) {
        m.remove("notification");
        for section in ["android", "webpush"] {
            if let Some(Value::Object(s)) = m.get_mut(section) {
                s.remove("notification");
            }
        }
    }
}

/// The default FCM message for `fields` (with defaults filled), pruned for
/// `target`.
pub fn render_fcm(
    fields: &PushFields,
    target: Target,
    remove_notification: RemoveNotification,
) -> Result<Value, TemplateError> {
    let f = fields.clone().with_defaults();
    let mut v = builtin("fcm")?.render(&f)?;
    prune_fcm(&mut v, target, remove_notification);
    Ok(v)
}

/// The default APNs / PushKit message for `fields` (with defaults filled).
pub fn render_apns(fields: &PushFields) -> Result<Value, TemplateError> {
    builtin("apns")?.render(&fields.clone().with_defaults())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call_fields() -> PushFields {
        PushFields {
            package: "com.x".into(),
            token: "tok".into(),
            to: "2222".into(),
            from: "Alice".into(),
            from_username: "1111".into(),
            call_id: "c1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_for_a_call() {
        let f = call_fields().with_defaults();
        assert_eq!(f.title, "Call from 1111");
        assert_eq!(f.body, "Incoming VoIP call from Alice");
        assert_eq!(
            (f.apriority, f.push_type.as_str(), f.npriority.as_str()),
            (10, "voip", "PRIORITY_MAX")
        );
        assert_eq!(f.to_username, "2222");
    }

    #[test]
    fn apns_default_renders_numbers() {
        let v = render_apns(&call_fields()).unwrap();
        assert_eq!(v["headers"]["apns-priority"], json!(10));
        assert_eq!(v["headers"]["apns-expiration"], json!(0));
        assert_eq!(v["headers"]["apns-topic"], json!("com.x.voip"));
        assert_eq!(v["data"]["ntype"], json!(0));
        assert_eq!(v["aps"]["alert"]["title"], json!("Call from 1111"));
    }

    #[test]
    fn fcm_call_drops_notification_and_other_platforms() {
        let v = render_fcm(&call_fields(), Target::FcmAndroid, RemoveNotification::Auto).unwrap();
        let m = &v["message"];
        assert!(m.get("notification").is_none());
        assert!(m.get("apns").is_none() && m.get("webpush").is_none());
        assert!(m["android"].get("notification").is_none());
        assert_eq!(m["android"]["ttl"], json!("0s"));
        assert_eq!(m["data"]["ntype"], json!("0"));
        let mut chat = call_fields();
        chat.kind = NotificationKind::Chat;
        chat.msg = "hi".into();
        let v = render_fcm(&chat, Target::FcmWeb, RemoveNotification::Auto).unwrap();
        assert_eq!(v["message"]["notification"]["body"], json!("hi"));
        assert_eq!(v["message"]["webpush"]["headers"]["Urgency"], json!("high"));
        let v = render_fcm(&chat, Target::FcmIos, RemoveNotification::Always).unwrap();
        assert!(v["message"].get("notification").is_none());
        assert_eq!(v["message"]["apns"]["headers"]["apns-priority"], json!("5"));
    }

    #[test]
    fn hostile_values_stay_valid_json() {
        let nasty = "\" } ], \\ \n\r\t\u{0}\u{1f} 📞 TOKEN --EOF";
        let f = PushFields {
            from: nasty.into(),
            msg: nasty.into(),
            token: nasty.into(),
            ..Default::default()
        };
        for t in [DEFAULT_FCM_TEMPLATE, DEFAULT_APNS_TEMPLATE] {
            let v = render(t, &f).unwrap();
            let text = serde_json::to_string(&v).unwrap();
            let back: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, v);
            assert!(
                text.contains("TOKEN --EOF"),
                "values are not re-substituted"
            );
        }
    }

    #[test]
    fn eof_and_errors() {
        let v = render("{\"a\":\"TO\"}\n--EOF\nnot json", &call_fields()).unwrap();
        assert_eq!(v, json!({"a":"2222"}));
        assert!(matches!(
            render("{\"a\": BOGUS}", &call_fields()),
            Err(TemplateError::InvalidJson(_))
        ));
        assert!(matches!(
            render(&" ".repeat(MAX_TEMPLATE_BYTES + 1), &call_fields()),
            Err(TemplateError::TooLarge(_))
        ));
        let big = PushFields {
            msg: "m".repeat(60_000),
            ..Default::default()
        };
        let many = format!("[{}]", vec!["\"MSG\""; 20].join(","));
        assert_eq!(render(&many, &big), Err(TemplateError::RenderedTooLarge));
    }
}

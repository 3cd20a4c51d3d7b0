//! The notification an app receives, and parsers for the three shapes it
//! arrives in: an FCM data map (Android: all values strings), an APNs /
//! PushKit JSON payload (`aps` + `data`, `ntype` a number), and a Web Push
//! JSON payload (flat, `{"data":{…}}`, or FCM's web `{"data","notification"}`).
//!
//! Field names and defaults follow the manual's client code: a missing
//! `ntype` means a call, missing strings are empty.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

/// Largest payload we parse. FCM and APNs cap messages at 4 KiB, Web Push
/// at ~4 KiB; 64 KiB leaves room for custom templates.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// `ntype`: what the push is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NotificationKind {
    /// 0: incoming call; the INVITE follows once the app registers.
    #[default]
    Call,
    /// 1: chat; the MESSAGE follows.
    Chat,
    /// 2: the call was cancelled before the app answered.
    Cancel,
    /// 3: a custom message sent through the API; display as-is.
    Custom,
    /// 4: re-register to refresh the binding.
    RegisterRefresh,
    /// Any other number, kept for forward compatibility.
    Other(i64),
}

impl NotificationKind {
    pub fn from_ntype(n: i64) -> Self {
        match n {
            0 => Self::Call,
            1 => Self::Chat,
            2 => Self::Cancel,
            3 => Self::Custom,
            4 => Self::RegisterRefresh,
            n => Self::Other(n),
        }
    }

    pub fn ntype(self) -> i64 {
        match self {
            Self::Call => 0,
            Self::Chat => 1,
            Self::Cancel => 2,
            Self::Custom => 3,
            Self::RegisterRefresh => 4,
            Self::Other(n) => n,
        }
    }

    /// Stable camelCase name, also emitted as `kindName` in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Chat => "chat",
            Self::Cancel => "cancel",
            Self::Custom => "custom",
            Self::RegisterRefresh => "registerRefresh",
            Self::Other(_) => "other",
        }
    }
}

impl Serialize for NotificationKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.ntype())
    }
}

impl<'de> Deserialize<'de> for NotificationKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_ntype(i64::deserialize(d)?))
    }
}

/// A received push, whatever provider carried it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notification {
    pub kind: NotificationKind,
    /// `nfrom`: caller / sender full name.
    pub from: String,
    /// `nfromusername`: caller / sender username (caller id).
    pub from_username: String,
    /// `nfromdisplayname`: caller / sender display name.
    pub from_display: String,
    /// `nmsg`: chat text.
    pub msg: String,
    /// `ncallid`: SIP Call-ID of the call or message.
    pub call_id: String,
    /// `ntousr`: called user name.
    pub to_user: String,
    pub title: String,
    pub body: String,
    pub sound: String,
}

/// The JSON shape: every field camelCase, plus `kindName`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NotificationJson<'a> {
    kind: NotificationKind,
    kind_name: &'static str,
    from: &'a str,
    from_username: &'a str,
    from_display: &'a str,
    msg: &'a str,
    call_id: &'a str,
    to_user: &'a str,
    title: &'a str,
    body: &'a str,
    sound: &'a str,
}

impl Serialize for Notification {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        NotificationJson {
            kind: self.kind,
            kind_name: self.kind.name(),
            from: &self.from,
            from_username: &self.from_username,
            from_display: &self.from_display,
            msg: &self.msg,
            call_id: &self.call_id,
            to_user: &self.to_user,
            title: &self.title,
            body: &self.body,
            sound: &self.sound,
        }
        .serialize(s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayloadError {
    #[error("push payload: too large ({0} bytes, max {MAX_PAYLOAD_BYTES})")]
    TooLarge(usize),
    #[error("push payload: invalid JSON: {0}")]
    InvalidJson(String),
    #[error("push payload: {0} is not a JSON object")]
    NotAnObject(&'static str),
    #[error("push payload: {field} must be {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("push payload: ntype {0:?} is not an integer")]
    BadNtype(String),
}

/// Parse an FCM data map (Android `RemoteMessage.getData()`, all strings).
pub fn parse_fcm_data(data: &BTreeMap<String, String>) -> Result<Notification, PayloadError> {
    let size: usize = data.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_PAYLOAD_BYTES {
        return Err(PayloadError::TooLarge(size));
    }
    let get = |k: &str| data.get(k).cloned().unwrap_or_default();
    Ok(Notification {
        kind: match data.get("ntype") {
            Some(s) => ntype_from_str(s)?,
            None => NotificationKind::Call,
        },
        from: get("nfrom"),
        from_username: get("nfromusername"),
        from_display: get("nfromdisplayname"),
        msg: get("nmsg"),
        call_id: get("ncallid"),
        to_user: get("ntousr"),
        title: get("title"),
        body: get("body"),
        sound: get("sound"),
    })
}

/// Parse an APNs / PushKit payload: `{"aps":{"alert":…,"sound":…},"data":{…}}`.
/// Without `data` the `n*` keys are read from the top level (FCM to iOS
/// delivers them flat).
pub fn parse_apns(json: &str) -> Result<Notification, PayloadError> {
    apns_from_root(&parse_root(json)?)
}

/// Parse a Web Push payload: flat `{"ntype":…}`, `{"data":{…}}`, or FCM's
/// web shape `{"data":{…},"notification":{"title","body"},…}`.
pub fn parse_webpush(json: &str) -> Result<Notification, PayloadError> {
    web_from_root(&parse_root(json)?)
}

/// Parse any of the shapes above, detected: an `aps` key means APNs,
/// otherwise `data`/flat Web Push or FCM JSON. A whole FCM HTTP v1 request
/// (`{"message":{…}}`, e.g. a rendered template) is unwrapped first.
pub fn parse_push(json: &str) -> Result<Notification, PayloadError> {
    let root = parse_root(json)?;
    let root = match root.get("message") {
        Some(Value::Object(m)) if m.contains_key("data") || m.contains_key("notification") => m,
        _ => &root,
    };
    if root.contains_key("aps") {
        apns_from_root(root)
    } else {
        web_from_root(root)
    }
}

fn parse_root(json: &str) -> Result<Map<String, Value>, PayloadError> {
    if json.len() > MAX_PAYLOAD_BYTES {
        return Err(PayloadError::TooLarge(json.len()));
    }
    // serde_json bounds nesting depth (128), so hostile input cannot overflow the stack.
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(PayloadError::NotAnObject("the payload")),
        Err(e) => Err(PayloadError::InvalidJson(e.to_string())),
    }
}

/// The object holding the `n*` keys: `data` if present, else the root.
/// The label names it in errors.
fn data_of(root: &Map<String, Value>) -> Result<(&Map<String, Value>, &'static str), PayloadError> {
    Ok(match sub_object(root, "data")? {
        Some(d) => (d, "data"),
        None => (root, "payload"),
    })
}

fn apns_from_root(root: &Map<String, Value>) -> Result<Notification, PayloadError> {
    let (data, label) = data_of(root)?;
    let mut n = from_data(data, label)?;
    if let Some(aps) = sub_object(root, "aps")? {
        match aps.get("alert") {
            // A plain-string alert is the body.
            Some(Value::String(s)) => n.body = s.clone(),
            Some(Value::Object(alert)) => {
                override_nonempty(
                    &mut n.title,
                    string_field(alert, "title", "aps.alert.title")?,
                );
                override_nonempty(&mut n.body, string_field(alert, "body", "aps.alert.body")?);
            }
            None | Some(Value::Null) => {}
            Some(_) => return Err(wrong("aps.alert", "a string or an object")),
        }
        match aps.get("sound") {
            // Critical alerts use {"name": "...", "critical": 1, "volume": …}.
            Some(Value::Object(s)) => {
                override_nonempty(&mut n.sound, string_field(s, "name", "aps.sound.name")?)
            }
            _ => override_nonempty(&mut n.sound, string_field(aps, "sound", "aps.sound")?),
        }
    }
    Ok(n)
}

fn web_from_root(root: &Map<String, Value>) -> Result<Notification, PayloadError> {
    let (data, label) = data_of(root)?;
    let mut n = from_data(data, label)?;
    if let Some(notif) = sub_object(root, "notification")? {
        override_nonempty(
            &mut n.title,
            string_field(notif, "title", "notification.title")?,
        );
        override_nonempty(
            &mut n.body,
            string_field(notif, "body", "notification.body")?,
        );
        override_nonempty(
            &mut n.sound,
            string_field(notif, "sound", "notification.sound")?,
        );
    }
    Ok(n)
}

fn from_data(d: &Map<String, Value>, prefix: &str) -> Result<Notification, PayloadError> {
    let f = |k: &str| string_field(d, k, &format!("{prefix}.{k}"));
    Ok(Notification {
        kind: ntype_from_value(d.get("ntype"))?,
        from: f("nfrom")?,
        from_username: f("nfromusername")?,
        from_display: f("nfromdisplayname")?,
        msg: f("nmsg")?,
        call_id: f("ncallid")?,
        to_user: f("ntousr")?,
        title: f("title")?,
        body: f("body")?,
        sound: f("sound")?,
    })
}

fn sub_object<'a>(
    m: &'a Map<String, Value>,
    key: &'static str,
) -> Result<Option<&'a Map<String, Value>>, PayloadError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(PayloadError::NotAnObject(key)),
    }
}

/// Strings as-is; numbers as their decimal text (clients send `nfrom: 1002`);
/// null or absent as empty; anything else is an error.
fn string_field(m: &Map<String, Value>, key: &str, label: &str) -> Result<String, PayloadError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(wrong(label, "a string")),
    }
}

fn override_nonempty(dst: &mut String, src: String) {
    if !src.is_empty() {
        *dst = src;
    }
}

fn wrong(field: &str, expected: &'static str) -> PayloadError {
    PayloadError::WrongType {
        field: field.to_string(),
        expected,
    }
}

fn ntype_from_value(v: Option<&Value>) -> Result<NotificationKind, PayloadError> {
    match v {
        None | Some(Value::Null) => Ok(NotificationKind::Call),
        Some(Value::String(s)) => ntype_from_str(s),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Ok(NotificationKind::from_ntype(i)),
            None => Err(PayloadError::BadNtype(n.to_string())),
        },
        Some(_) => Err(wrong("ntype", "a number or a string")),
    }
}

/// `"0"`…`"4"` or any integer; empty means the default (call), as in the
/// manual's Android code which only defaults a missing value.
fn ntype_from_str(s: &str) -> Result<NotificationKind, PayloadError> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(NotificationKind::Call);
    }
    t.parse::<i64>()
        .map(NotificationKind::from_ntype)
        .map_err(|_| PayloadError::BadNtype(crate::mpush::truncate_for_error(s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fcm_defaults() {
        let mut m = BTreeMap::new();
        m.insert("nfrom".to_string(), "1002".to_string());
        let n = parse_fcm_data(&m).unwrap();
        assert_eq!(n.kind, NotificationKind::Call);
        assert_eq!(n.from, "1002");
        assert_eq!(n.msg, "");
        m.insert("ntype".into(), "1".into());
        assert_eq!(parse_fcm_data(&m).unwrap().kind, NotificationKind::Chat);
        m.insert("ntype".into(), "x".into());
        assert!(matches!(parse_fcm_data(&m), Err(PayloadError::BadNtype(_))));
    }

    #[test]
    fn apns_shapes() {
        let n = parse_apns(
            r#"{"aps":{"alert":{"title":"T","body":"B"},"sound":"ring.caf"},"data":{"ntype":1,"nfrom":"Bob","nmsg":"hi"}}"#,
        )
        .unwrap();
        assert_eq!(
            (n.kind, n.title.as_str(), n.body.as_str(), n.sound.as_str()),
            (NotificationKind::Chat, "T", "B", "ring.caf")
        );
        let n = parse_apns(r#"{"aps":{"alert":"plain","sound":{"name":"c.caf"}},"ntype":"2"}"#)
            .unwrap();
        assert_eq!(
            (n.kind, n.body.as_str(), n.sound.as_str()),
            (NotificationKind::Cancel, "plain", "c.caf")
        );
        assert!(matches!(
            parse_apns("[1]"),
            Err(PayloadError::NotAnObject(_))
        ));
        assert!(matches!(
            parse_apns(r#"{"data":{"ntype":1.5}}"#),
            Err(PayloadError::BadNtype(_))
        ));
        assert!(matches!(
            parse_apns(r#"{"data":{"nfrom":[]}}"#),
            Err(PayloadError::WrongType { .. })
        ));
    }

    #[test]
    fn web_and_detect() {
        let fcm_web = r#"{"data":{"ntype":"0","nfrom":"A"},"notification":{"title":"Call from a"},"from":"191412546148"}"#;
        let n = parse_webpush(fcm_web).unwrap();
        assert_eq!((n.from.as_str(), n.title.as_str()), ("A", "Call from a"));
        assert_eq!(parse_push(fcm_web).unwrap(), n);
        let n = parse_push(r#"{"ntype":3,"nmsg":"x"}"#).unwrap();
        assert_eq!(n.kind, NotificationKind::Custom);
        let n = parse_push(r#"{"message":{"token":"t","data":{"ntype":"4"}}}"#).unwrap();
        assert_eq!(n.kind, NotificationKind::RegisterRefresh);
        assert!(matches!(parse_push("{"), Err(PayloadError::InvalidJson(_))));
    }

    #[test]
    fn json_shape() {
        let n = Notification {
            kind: NotificationKind::Other(9),
            call_id: "c".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&n).unwrap(),
            json!({"kind":9,"kindName":"other","from":"","fromUsername":"","fromDisplay":"",
                   "msg":"","callId":"c","toUser":"","title":"","body":"","sound":""})
        );
    }
}

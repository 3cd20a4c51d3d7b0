//! The default message templates: the same structure and keywords as the
//! manual's `fcmmessage.txt` and `pushkitmessage.txt`. Text after `--EOF`
//! is documentation and is cut off before rendering.

/// FCM HTTP v1 `messages:send` body. All `data` values are strings (FCM
/// requires it); `android.ttl` is a duration string (`"0s"`).
pub const DEFAULT_FCM_TEMPLATE: &str = r#"{
  "message": {
    "token": "TOKEN",
    "notification": { "title": "TITLE", "body": "BODY" },
    "data": {
      "ntype": "TYPE",
      "nfromusername": "FROMUSERNAME",
      "nfrom": "FROM",
      "nmsg": "MSG",
      "ncallid": "CALLID",
      "ntousr": "TOUSERNAME"
    },
    "android": {
      "priority": "PRIORITY",
      "ttl": "TTLNUMs",
      "notification": {
        "notification_priority": "NPRIORITY",
        "sound": "SOUND",
        "visibility": "PUBLIC"
      }
    },
    "webpush": {
      "headers": { "ttl": "TTLNUM", "Urgency": "PRIORITY" },
      "fcm_options": { "link": "" }
    },
    "apns": {
      "headers": {
        "apns-priority": "APRIORITY",
        "apns-expiration": "TTLNUM",
        "apns-push-type": "PUSHTYPE",
        "apns-topic": "PACKAGE.voip"
      },
      "payload": {
        "aps": {
          "alert": { "title": "TITLE", "body": "BODY" },
          "content-available": 1,
          "sound": "SOUND"
        }
      }
    }
  }
}
--EOF
Sections a target does not use (android / apns / webpush) are removed
before sending, and "notification" is removed for calls depending on
fcm_removenotification. Keywords: see docs/core-api.md.
"#;

/// APNs / PushKit payload with its HTTP/2 headers. `TYPE`, `APRIORITY` and
/// `TTLNUM` are bare keywords and render as JSON numbers.
pub const DEFAULT_APNS_TEMPLATE: &str = r#"{
  "headers": {
    "apns-priority": APRIORITY,
    "apns-expiration": TTLNUM,
    "apns-push-type": "PUSHTYPE",
    "apns-topic": "PACKAGE.voip"
  },
  "aps": {
    "alert": { "title": "TITLE", "body": "BODY" },
    "content-available": 1,
    "sound": "SOUND",
    "badge": 1
  },
  "data": {
    "ntype": TYPE,
    "nfromusername": "FROMUSERNAME",
    "nfrom": "FROM",
    "nmsg": "MSG",
    "ncallid": "CALLID",
    "ntousr": "TOUSERNAME"
  }
}
--EOF
The "headers" object becomes HTTP/2 request headers; the rest is the body.
"#;

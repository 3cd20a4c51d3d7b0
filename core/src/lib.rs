//! The sipwake push protocol (see docs/core-api.md).
//!
//! Pure Rust with no I/O, no clock, no threads and no filesystem, so the same
//! code runs in the gateway, in WASM (browser + service worker), on Android
//! (JNI) and on iOS (C ABI). Every parser bounds its input and returns a typed
//! error instead of panicking.

pub mod feature_caps;
pub mod mpush;
pub mod payload;
pub mod piid;
pub mod pn;
mod sipparam;
pub mod template;

pub use feature_caps::{FeatureCaps, FeatureCapsError, format_feature_caps, parse_feature_caps};
pub use mpush::{Mpush, MpushBinding, MpushError, Provider, PushEnv, parse_mpush};
pub use payload::{
    MAX_PAYLOAD_BYTES, Notification, NotificationKind, PayloadError, parse_apns, parse_fcm_data,
    parse_push, parse_webpush,
};
pub use piid::{compute_piid, verify_piid};
pub use pn::{
    PnError, PnParams, PnProvider, apns_bundle_id, format_pn_params, mpush_to_pn, parse_pn_params,
    pn_to_mpush,
};
pub use template::{
    DEFAULT_APNS_TEMPLATE, DEFAULT_FCM_TEMPLATE, PushFields, RemoveNotification, Target, Template,
    TemplateError, prune_fcm, render, render_apns, render_fcm,
};

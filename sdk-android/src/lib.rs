//! JNI bindings of `sipwake-core` for Android (`org.sipwake.SipWake`).
//!
//! The native methods are private to the Java wrapper, which turns the flat
//! results (strings and string arrays) into typed Java objects. Keeping the
//! JNI surface to `String`/`String[]`/`boolean` keeps the unsafe, reflective
//! part small: no Java class lookups except the exception class.
//!
//! Every entry point runs inside `EnvUnowned::with_env`, which catches
//! panics; [`policy::ThrowSipWakeException`] turns errors and panics into a
//! `org.sipwake.SipWakeException`, so nothing unwinds into the JVM. This needs
//! `panic = "unwind"` (the default `release` profile), see docs/sdk-android.md.

mod args;
mod error;
mod fields;
mod natives;
mod natives_caps;
mod natives_template;
mod policy;

pub use error::SdkError;
pub use fields::{mpush_fields, notification_fields, pn_fields};

//! The error type of the native methods; its `Display` becomes the message
//! of the `SipWakeException` thrown to Java.

use sipwake_core::{FeatureCapsError, MpushError, PayloadError, PnError, TemplateError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SdkError {
    /// A JNI call failed (usually an exception is already pending).
    #[error("JNI: {0}")]
    Jni(#[from] jni::errors::Error),
    #[error("{0} must not be null")]
    NullArgument(&'static str),
    #[error("invalid {name}: {value:?} (expected {expected})")]
    InvalidArgument {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("fcm data: odd number of key/value strings ({0})")]
    OddKeyValues(usize),
    #[error(transparent)]
    Mpush(#[from] MpushError),
    #[error(transparent)]
    Pn(#[from] PnError),
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    FeatureCaps(#[from] FeatureCapsError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A JSON argument (push fields) did not have the documented shape.
    #[error("invalid {name} JSON: {detail}")]
    InvalidJson { name: &'static str, detail: String },
}

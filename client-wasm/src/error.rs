//! The SDK's error type. In JavaScript every error surfaces as a thrown
//! `Error` whose message is this type's `Display` (the core's message).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SdkError {
    #[error(transparent)]
    Mpush(#[from] sipwake_core::MpushError),
    #[error(transparent)]
    Pn(#[from] sipwake_core::PnError),
    #[error(transparent)]
    FeatureCaps(#[from] sipwake_core::FeatureCapsError),
    #[error(transparent)]
    Payload(#[from] sipwake_core::PayloadError),
    #[error(transparent)]
    Template(#[from] sipwake_core::TemplateError),
    /// A JavaScript argument of the wrong type or shape.
    #[error("{what}: {reason}")]
    Argument { what: &'static str, reason: String },
}

impl SdkError {
    pub(crate) fn argument(what: &'static str, reason: impl Into<String>) -> Self {
        SdkError::Argument {
            what,
            reason: reason.into(),
        }
    }
}

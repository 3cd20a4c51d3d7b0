//! Error types. A failed push is not an error (it is a [`crate::PushOutcome`]);
//! these are configuration and credential problems.

use std::path::PathBuf;

/// The configuration or a credential file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid push configuration: {0}")]
    Invalid(String),
    #[error("{path}: bad key or certificate: {reason}")]
    Credential { path: PathBuf, reason: String },
    #[error("template {path}: {source}")]
    Template {
        path: PathBuf,
        source: sipwake_core::template::TemplateError,
    },
    #[error("HTTP client: {0}")]
    Client(String),
}

impl ConfigError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ConfigError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn credential(path: &std::path::Path, reason: impl ToString) -> Self {
        ConfigError::Credential {
            path: path.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// Why one delivery attempt failed, as the dispatcher acts on it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// The provider says the token is dead: remove the binding.
    Remove(String),
    /// Transient (429/5xx/network): retry, after `retry_after` if given.
    Retry {
        reason: String,
        retry_after: Option<std::time::Duration>,
    },
    /// Our credentials were refused: loud, counted, binding kept.
    Auth(String),
    /// Our configuration does not fit the app (topic, certificate kind,
    /// Firebase project): loud with the fix, counted, binding kept.
    Config { reason: String, fix: &'static str },
    /// APNs does not know the token on this host: maybe a sandbox token
    /// sent to production or the reverse. Tried once on the other host.
    WrongEnvironment(String),
    /// Anything else (bad payload, unknown app): binding kept, no retry.
    Permanent(String),
}

//! Sending one push to one stored device, injectable: the gateway sends
//! through its dispatcher (the push runtime), tests through a fake. Wake-up
//! and the upstream keeper both push through it.

use std::future::Future;
use std::pin::Pin;

use sipwake_core::template::PushFields;
use sipwake_store::Binding;

/// What became of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushStatus {
    Sent,
    /// The provider says the token is gone (the binding was removed).
    Removed(String),
    Failed(String),
}

pub type PushFuture<'a> = Pin<Box<dyn Future<Output = PushStatus> + Send + 'a>>;

/// Sends one push to one stored device.
pub trait PushSender: Send + Sync + 'static {
    fn push<'a>(&'a self, binding: &'a Binding, fields: PushFields) -> PushFuture<'a>;
}

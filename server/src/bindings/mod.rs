//! Push binding capture: what a REGISTER says about waking this device.
//!
//! The proxy calls [`capture`] for every REGISTER from a client. The
//! answer tells it whether to store or remove a binding (durably, before the
//! 200 OK is relayed), which `Feature-Caps` to add to that 200 OK, and
//! whether RFC 8599 wants a 555. Malformed push data never fails the
//! registration: it is logged and the REGISTER goes on without push.

mod capture;
mod device;
mod sender;

use std::sync::Arc;

use sipwake_store::{BindingStore, StoreError};
use tracing::{info, warn};

pub use capture::{Capture, CaptureOptions, RegisterPush, aor_of, capture};
pub use device::{instance_of_device, normalize_instance};
pub use sender::{PushFuture, PushSender, PushStatus};

use crate::config::PushPolicy;

/// The gateway's push bindings: the store, what is supported, and the
/// `[push]` policy. Shared by the proxy (REGISTER path) and the API.
pub struct PushBindings {
    pub store: Arc<dyn BindingStore>,
    pub options: CaptureOptions,
    pub policy: PushPolicy,
}

impl PushBindings {
    /// Reads a REGISTER's push data (see [`capture`]) and logs what is
    /// wrong with it; nothing is stored yet.
    pub fn read(&self, req: &sipwake_sip::Message, call_id: &str) -> RegisterPush {
        let now = crate::util::unix_now();
        let rp = capture(req, now, &self.options);
        match &rp.capture {
            Capture::Invalid { reason } => {
                warn!(%call_id, %reason, "push data ignored; registering without push")
            }
            Capture::Unsupported { provider } => {
                warn!(%call_id, %provider, send555 = rp.reject_555, "push provider not configured")
            }
            _ => {}
        }
        rp
    }

    /// Makes a successful REGISTER's push data durable. Runs the SQLite
    /// write off the async workers and returns once it is committed, so the
    /// 200 OK can be relayed right after.
    pub async fn commit(&self, capture: &Capture, call_id: &str) -> Result<(), StoreError> {
        let store = self.store.clone();
        let cap = capture.clone();
        let result = tokio::task::spawn_blocking(move || match &cap {
            Capture::Bind(b) => store.upsert(b).map(Some),
            Capture::Remove {
                aor,
                device: Some(d),
            } => store.remove(aor, d).map(|_| None),
            Capture::Remove { aor, device: None } => store.remove_user(aor).map(|_| None),
            _ => Ok(None),
        })
        .await
        .unwrap_or_else(|e| {
            Err(StoreError::Corrupt {
                aor: String::new(),
                reason: e.to_string(),
            })
        });
        match (&result, capture) {
            (Ok(Some(true)), Capture::Bind(b)) => {
                info!(%call_id, aor = %b.aor, device = %b.device, provider = %b.push.provider.letter(), "push binding stored")
            }
            (Ok(_), Capture::Remove { aor, device }) => {
                info!(%call_id, %aor, device = device.as_deref().unwrap_or("*"), "push binding removed")
            }
            (Err(e), _) => warn!(%call_id, error = %e, "push binding NOT stored"),
            _ => {}
        }
        result.map(|_| ())
    }
}

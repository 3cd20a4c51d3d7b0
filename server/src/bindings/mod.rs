//! Push binding capture: what a REGISTER says about waking this device.
//!
//! The proxy calls [`capture`] for every REGISTER from a client. The
//! answer tells it whether to store or remove a binding (durably, before the
//! 200 OK is relayed), which `Feature-Caps` to add to that 200 OK, and
//! whether RFC 8599 wants a 555. Malformed push data never fails the
//! registration: it is logged and the REGISTER goes on without push.

mod capture;
mod device;
pub mod piid;
mod sender;

use std::sync::Arc;

use sipwake_store::{BindingStore, StoreError};
use tracing::{info, warn};

pub use capture::{Capture, CaptureOptions, RegisterPush, aor_of, capture};
pub use device::{instance_of_device, normalize_instance};
pub use sender::{PushFuture, PushSender, PushStatus};

use crate::config::PushPolicy;
use crate::net::TransportKind;
use std::time::Duration;

/// How long before a registration of `secs` expires it is refreshed — by
/// the keeper's own REGISTER or a register-refresh push (ntype 4) to the
/// app — and what `+sip.pnsreg` announces: ~10 %, but at least 5 s (half
/// the interval for very short ones), so a slow upstream or a
/// retransmission still lands in time.
pub fn refresh_lead(secs: u32) -> Duration {
    let total = Duration::from_secs(u64::from(secs));
    (total / 10).max(Duration::from_secs(5).min(total / 2))
}

/// The gateway's push bindings: the store, what is supported, and the
/// `[push]` policy. Shared by the proxy (REGISTER path) and the API.
pub struct PushBindings {
    pub store: Arc<dyn BindingStore>,
    pub options: CaptureOptions,
    pub policy: PushPolicy,
    /// `[limits] bindings_per_aor`: devices one user may have; 0 = no bound.
    pub max_devices: usize,
}

/// Why a REGISTER's push binding was not committed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A new device beyond `[limits] bindings_per_aor`.
    #[error("{aor} has {limit} push devices already ([limits] bindings_per_aor)")]
    TooManyDevices { aor: String, limit: usize },
}

impl PushBindings {
    /// Reads a REGISTER that came over `transport` for push data (see
    /// [`capture`]) and logs what is wrong with it; nothing is stored yet.
    /// With `websocket = 0` a WebSocket client's push data is ignored.
    pub fn read(
        &self,
        req: &sipwake_sip::Message,
        call_id: &str,
        transport: TransportKind,
    ) -> RegisterPush {
        let now = crate::util::unix_now();
        let rp = capture(req, now, &self.options);
        if self.policy.websocket == 0
            && matches!(transport, TransportKind::Ws | TransportKind::Wss)
            && rp.capture != Capture::None
        {
            info!(%call_id, "push data from a WebSocket client ignored (websocket = 0); registering without push");
            return RegisterPush {
                capture: Capture::None,
                feature_caps: None,
                reject_555: false,
                ..rp
            };
        }
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
    pub async fn commit(&self, capture: &Capture, call_id: &str) -> Result<(), CommitError> {
        let store = self.store.clone();
        let cap = capture.clone();
        let max = self.max_devices;
        let result = tokio::task::spawn_blocking(move || match &cap {
            // Only a device the user does not have yet is counted against
            // the bound (a refresh never is). One read of the user's
            // devices answers both.
            Capture::Bind(b) if max > 0 => {
                let devices = store.user(&b.aor)?;
                if devices.len() >= max && !devices.iter().any(|d| d.device == b.device) {
                    return Err(CommitError::TooManyDevices {
                        aor: b.aor.clone(),
                        limit: max,
                    });
                }
                Ok(Some(store.upsert(b)?))
            }
            Capture::Bind(b) => store.upsert(b).map(Some).map_err(CommitError::from),
            Capture::Remove {
                aor,
                device: Some(d),
            } => Ok(store.remove(aor, d).map(|_| None)?),
            Capture::Remove { aor, device: None } => Ok(store.remove_user(aor).map(|_| None)?),
            _ => Ok(None),
        })
        .await
        .unwrap_or_else(|e| {
            Err(CommitError::Store(StoreError::Corrupt {
                aor: String::new(),
                reason: e.to_string(),
            }))
        });
        match (&result, capture) {
            (Ok(Some(true)), Capture::Bind(b)) => {
                info!(%call_id, aor = %b.aor, device = %b.device, provider = %b.push.provider.letter(), "push binding stored")
            }
            (Ok(_), Capture::Remove { aor, device }) => {
                info!(%call_id, %aor, device = device.as_deref().unwrap_or("*"), "push binding removed")
            }
            (Err(e @ CommitError::TooManyDevices { .. }), _) => {
                warn!(%call_id, error = %e, "push binding refused")
            }
            (Err(e), _) => warn!(%call_id, error = %e, "push binding NOT stored"),
            _ => {}
        }
        result.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipwake_core::mpush::Provider;
    use sipwake_store::{PiidCipher, SqliteStore};

    fn bindings(websocket: i8) -> PushBindings {
        PushBindings {
            store: Arc::new(SqliteStore::in_memory(PiidCipher::new([1; 32])).expect("store")),
            options: CaptureOptions {
                supported: vec![Provider::AndroidFcm],
                ..CaptureOptions::default()
            },
            policy: PushPolicy {
                websocket,
                ..PushPolicy::default()
            },
            max_devices: 0,
        }
    }

    #[test]
    fn websocket_0_ignores_push_data_from_websocket_clients_only() {
        let req = sipwake_sip::Message::parse(bytes::Bytes::from_static(
            b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK1\r\n\
              From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\nCall-ID: c\r\n\
              CSeq: 1 REGISTER\r\nContact: <sip:alice@df7jal23ls0d.invalid;transport=ws>\r\n\
              X-MPUSH: a:com.example:tok\r\nContent-Length: 0\r\n\r\n",
        ))
        .expect("parses");
        let bound = |rp: &RegisterPush| matches!(rp.capture, Capture::Bind(_));
        for (websocket, kind, binds) in [
            (-1, TransportKind::Wss, true),
            (1, TransportKind::Ws, true),
            (0, TransportKind::Wss, false),
            (0, TransportKind::Ws, false),
            (0, TransportKind::Udp, true),
            (0, TransportKind::Tls, true),
        ] {
            let rp = bindings(websocket).read(&req, "c", kind);
            assert_eq!(bound(&rp), binds, "websocket = {websocket} over {kind:?}");
            assert_eq!(rp.feature_caps.is_some(), binds);
        }
    }
}

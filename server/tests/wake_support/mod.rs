//! Push wake-up test parts shared by wake_flow.rs and wake_udp.rs: a push
//! sender that records instead of sending, and the wiring of a harness's
//! proxy to an in-memory binding store with that sender.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sipwake::bindings::{CaptureOptions, PushBindings};
use sipwake::bindings::{PushFuture, PushSender, PushStatus};
use sipwake::config::{Config, PushPolicy};
use sipwake_core::mpush::Provider;
use sipwake_core::template::PushFields;
use sipwake_store::{Binding, PiidCipher, SqliteStore};
use tokio::time::Instant;

use crate::proxy_support::Harness;

/// Records every push (device key, fields, when) instead of sending it.
#[derive(Default)]
pub struct FakePush {
    sent: Mutex<Vec<(String, PushFields, Instant)>>,
    /// Answer every push as a provider error.
    pub fail: AtomicBool,
}

impl PushSender for FakePush {
    fn push<'a>(&'a self, b: &'a Binding, fields: PushFields) -> PushFuture<'a> {
        Box::pin(async move {
            let now = Instant::now();
            self.sent
                .lock()
                .unwrap()
                .push((b.device.clone(), fields, now));
            if self.fail.load(Ordering::Relaxed) {
                PushStatus::Failed("provider said 500".into())
            } else {
                PushStatus::Sent
            }
        })
    }
}

impl FakePush {
    pub fn all(&self) -> Vec<(String, PushFields, Instant)> {
        self.sent.lock().unwrap().clone()
    }

    /// Waits (virtual time, with a deadline) until `n` pushes were sent.
    pub async fn wait_for(&self, n: usize) -> Vec<(String, PushFields, Instant)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let all = self.all();
            if all.len() >= n {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} pushes sent",
                all.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A harness whose proxy has push bindings (FCM supported) in an
/// in-memory store and push wake-up through a [`FakePush`].
pub fn wake_on(config: Config, policy: PushPolicy) -> (Harness, Arc<SqliteStore>, Arc<FakePush>) {
    let store = Arc::new(SqliteStore::in_memory(PiidCipher::new([7; 32])).unwrap());
    let bindings = Arc::new(PushBindings {
        store: store.clone(),
        options: CaptureOptions {
            supported: vec![Provider::AndroidFcm],
            ..CaptureOptions::default()
        },
        policy,
        max_devices: 0,
    });
    let fake = Arc::new(FakePush::default());
    let h = Harness::build(config, Some(bindings), Some(fake.clone()));
    (h, store, fake)
}

//! Push throughput against the loopback mocks:
//! `cargo run -p sipwake-push --example throughput -- [pushes] [concurrency]`.
//! Prints pushes/s, latency percentiles and connections per provider.

use std::time::{Duration, Instant};

use sipwake_core::template::{PushFields, RemoveNotification, Target};
use sipwake_mocks::{apns::ApnsMock, fcm::FcmMock};
use sipwake_push::config::ApnsAppConfig;
use sipwake_push::{
    Dispatcher, DispatcherConfig, NotificationKind, Priority, Provider, PushEnv, PushOutcome,
    PushRequest,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let conc: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);
    let dir = std::env::temp_dir().join(format!("sipwake-push-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let fcm = FcmMock::start("bench").await?;
    let apns = ApnsMock::start().await?;
    std::fs::write(dir.join("key.json"), fcm.service_account_json())?;
    std::fs::write(dir.join("k.p8"), apns.p8_pem())?;
    std::fs::write(dir.join("ca.pem"), apns.ca_pem())?;
    let mut cfg = DispatcherConfig::default();
    cfg.delivery.max_in_flight = conc;
    cfg.webpush.vapid_private_key = dir.join("vapid.key");
    cfg.fcm.base_url = fcm.base_url();
    cfg.fcm.apps.insert("bench".into(), dir.join("key.json"));
    cfg.apns.production_url = apns.base_url();
    cfg.apns.extra_ca_pem = Some(dir.join("ca.pem"));
    cfg.apns.apps.insert(
        "org.bench".into(),
        ApnsAppConfig {
            p8: Some(dir.join("k.p8")),
            key_id: Some(sipwake_mocks::apns::KEY_ID.into()),
            team_id: Some(sipwake_mocks::apns::TEAM_ID.into()),
            ..Default::default()
        },
    );
    let d = Dispatcher::new(cfg)?;
    let fields = PushFields {
        kind: NotificationKind::Call,
        from_username: "1111".into(),
        to: "2222".into(),
        call_id: "bench".into(),
        ..Default::default()
    };
    let t = d.templates();
    for (name, provider, package, payload) in [
        (
            "fcm",
            Provider::AndroidFcm,
            "bench",
            t.render_fcm(&fields, Target::FcmAndroid, RemoveNotification::Auto)?,
        ),
        ("apns", Provider::Apns, "org.bench", t.render_apns(&fields)?),
    ] {
        let start = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let d = d.clone();
                let req = PushRequest {
                    provider,
                    env: PushEnv::Default,
                    package: package.into(),
                    token: format!("{i:064x}"),
                    kind: NotificationKind::Call,
                    payload: payload.clone(),
                    ttl_secs: 0,
                    priority: Priority::High,
                    collapse_id: None,
                };
                tokio::spawn(async move { d.send(req).await })
            })
            .collect();
        let mut lat: Vec<Duration> = Vec::with_capacity(n);
        for task in tasks {
            match task.await? {
                PushOutcome::Delivered { latency, .. } => lat.push(latency),
                other => return Err(format!("{name}: {other:?}").into()),
            }
        }
        let secs = start.elapsed().as_secs_f64();
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        let conns = if name == "fcm" {
            fcm.connections()
        } else {
            apns.connections()
        };
        println!(
            "{name}: {n} pushes, concurrency {conc}: {:.0} pushes/s, latency p50 {:?} p99 {:?}, {conns} connection(s)",
            n as f64 / secs,
            pct(0.5),
            pct(0.99)
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

//! Push mode: `n` pushes through the `sipwake-push` Dispatcher (the gateway's
//! push path) to the local HTTP/2 FCM and APNs mocks — the provider side
//! alone — and [`through_api`]: the same pushes through the running
//! gateway's `POST /api/v1/push` (API, JSON, templates, dispatcher).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sipwake_core::template::{PushFields, RemoveNotification, Target};
use sipwake_mocks::{apns::ApnsMock, fcm::FcmMock};
use sipwake_push::config::ApnsAppConfig;
use sipwake_push::{
    Dispatcher, DispatcherConfig, NotificationKind, Priority, Provider, PushEnv, PushOutcome,
    PushRequest,
};
use tokio::sync::Semaphore;

use crate::Error;
use crate::stats::Latencies;

#[derive(Debug, Clone)]
pub struct PushResult {
    pub provider: &'static str,
    pub sent: usize,
    pub delivered: usize,
    pub failures: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// `send` called → outcome (includes waiting for an in-flight slot).
    pub latency: Latencies,
    /// HTTP/2 connections the mock saw.
    pub connections: usize,
}

impl PushResult {
    pub fn per_sec(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `n` FCM pushes, then `n` APNs pushes, `concurrency` at a time,
/// stopping early at `max_time` per provider.
pub async fn run(
    n: usize,
    concurrency: usize,
    max_time: Duration,
) -> Result<Vec<PushResult>, Error> {
    let dir = tempfile::Builder::new()
        .prefix("sipwake-bench-push-")
        .tempdir()
        .map_err(|e| Error::io("temp dir", e))?;
    let fcm = FcmMock::start("bench")
        .await
        .map_err(|e| Error::Push(format!("fcm mock: {e}")))?;
    let apns = ApnsMock::start()
        .await
        .map_err(|e| Error::Push(format!("apns mock: {e}")))?;
    let write = |name: &str, body: &str| {
        std::fs::write(dir.path().join(name), body)
            .map_err(|e| Error::io(format!("write {name}"), e))
    };
    write("key.json", &fcm.service_account_json())?;
    write("k.p8", apns.p8_pem())?;
    write("ca.pem", &apns.ca_pem())?;
    let mut cfg = DispatcherConfig::default();
    cfg.delivery.max_in_flight = concurrency.max(1);
    cfg.webpush.vapid_private_key = dir.path().join("vapid.key");
    cfg.fcm.base_url = fcm.base_url();
    cfg.fcm
        .apps
        .insert("bench".into(), dir.path().join("key.json"));
    cfg.apns.production_url = apns.base_url();
    cfg.apns.extra_ca_pem = Some(dir.path().join("ca.pem"));
    cfg.apns.apps.insert(
        "org.bench".into(),
        ApnsAppConfig {
            p8: Some(dir.path().join("k.p8")),
            key_id: Some(sipwake_mocks::apns::KEY_ID.into()),
            team_id: Some(sipwake_mocks::apns::TEAM_ID.into()),
            ..Default::default()
        },
    );
    let d = Dispatcher::new(cfg).map_err(|e| Error::Push(format!("dispatcher: {e}")))?;
    let fields = PushFields {
        kind: NotificationKind::Call,
        from_username: "1111".into(),
        to: "2222".into(),
        call_id: "bench".into(),
        ..Default::default()
    };
    let t = d.templates();
    let fcm_payload = t
        .render_fcm(&fields, Target::FcmAndroid, RemoveNotification::Auto)
        .map_err(|e| Error::Push(format!("render fcm: {e}")))?;
    let apns_payload = t
        .render_apns(&fields)
        .map_err(|e| Error::Push(format!("render apns: {e}")))?;
    let mut out = Vec::new();
    for (name, provider, package, payload) in [
        ("fcm", Provider::AndroidFcm, "bench", fcm_payload),
        ("apns", Provider::Apns, "org.bench", apns_payload),
    ] {
        let mut r = one_provider(&d, n, concurrency, max_time, provider, package, payload).await?;
        r.provider = name;
        r.connections = if name == "fcm" {
            fcm.connections()
        } else {
            apns.connections()
        };
        out.push(r);
    }
    Ok(out)
}

async fn one_provider(
    d: &Dispatcher,
    n: usize,
    concurrency: usize,
    max_time: Duration,
    provider: Provider,
    package: &str,
    payload: serde_json::Value,
) -> Result<PushResult, Error> {
    drive(n, concurrency, max_time, |i| {
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
        async move {
            match d.send(req).await {
                PushOutcome::Delivered { .. } => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await
}

/// Runs `push(i)` for `i` in `0..n`, `concurrency` at a time, starting no
/// new one after `max_time`; latency is call → outcome (waiting for a slot
/// not included). Our own bound on spawned tasks keeps memory flat.
async fn drive<F, Fut>(
    n: usize,
    concurrency: usize,
    max_time: Duration,
    push: F,
) -> Result<PushResult, Error>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let deadline = Instant::now() + max_time;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        if Instant::now() >= deadline {
            break;
        }
        let permit = gate
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Push("semaphore closed".into()))?;
        let one = push(i);
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let outcome = one.await;
            drop(permit);
            (t0.elapsed(), outcome)
        }));
    }
    let mut r = PushResult {
        provider: "",
        sent: tasks.len(),
        delivered: 0,
        failures: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latency: Latencies::default(),
        connections: 0,
    };
    for t in tasks {
        let (lat, outcome) = t.await.map_err(|e| Error::Push(format!("task: {e}")))?;
        match outcome {
            Ok(()) => {
                r.delivered += 1;
                r.latency.push(lat);
            }
            Err(e) => {
                r.failures += 1;
                r.first_error.get_or_insert(e);
            }
        }
    }
    r.elapsed = started.elapsed();
    Ok(r)
}

/// `n` pushes through sipwake's own `POST /api/v1/push` (raw FCM tokens,
/// type 0) to the FCM mock, `concurrency` requests in flight over
/// keep-alive HTTP/1.1 connections: the whole gateway path (API auth, JSON,
/// template rendering, dispatcher, HTTP/2 to the mock). `upstream_port` is
/// only where sipwake's config points; no SIP is sent.
pub async fn through_api(
    upstream_port: u16,
    n: usize,
    concurrency: usize,
    max_time: Duration,
) -> Result<PushResult, Error> {
    let dir = tempfile::Builder::new()
        .prefix("sipwake-bench-apipush-")
        .tempdir()
        .map_err(|e| Error::io("temp dir", e))?;
    let fcm = FcmMock::start("bench-api")
        .await
        .map_err(|e| Error::Push(format!("fcm mock: {e}")))?;
    let front = crate::targets::Front::sipwake_with(
        upstream_port,
        &crate::wake::push_config(&fcm, dir.path())?,
    )?;
    let url = format!("http://{}/api/v1/push", front.ws);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency.max(1))
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| Error::Push(format!("http client: {e}")))?;
    let mut r = drive(n, concurrency, max_time, |i| {
        let (http, url) = (http.clone(), url.clone());
        let body = serde_json::json!({
            "type": 0,
            "from_user": "1111",
            "platform": "a",
            "package": crate::wake::PACKAGE,
            "to_token": format!("api-{i}"),
        });
        async move { api_push_once(&http, &url, &body).await }
    })
    .await?;
    r.provider = "fcm via POST /api/v1/push";
    r.connections = fcm.connections();
    // The mock must have every push the API called delivered.
    let at_mock = fcm.received().len();
    if at_mock != r.delivered {
        r.first_error.get_or_insert_with(|| {
            format!(
                "the API said {} delivered, the mock has {at_mock}",
                r.delivered
            )
        });
    }
    drop(front);
    Ok(r)
}

/// One API push; Ok only when the gateway answered 200 with one
/// `delivered` result.
async fn api_push_once(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> Result<(), String> {
    let resp = http
        .post(url)
        .bearer_auth(sipwake_e2e::push::API_TOKEN)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("POST /api/v1/push: {e}"))?;
    let status = resp.status();
    let v: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| format!("POST /api/v1/push answered {status}, not JSON: {e}"))?;
    let outcome = v["results"][0]["outcome"].as_str().unwrap_or("");
    if status == reqwest::StatusCode::OK && outcome == "delivered" {
        Ok(())
    } else {
        Err(format!("POST /api/v1/push answered {status}: {v}"))
    }
}

//! Wake mode: sleeping WebSocket apps get called. Each app registered
//! through sipwake (X-MPUSH to the FCM mock) and closed its connection; a
//! caller at the upstream sends an INVITE; sipwake holds it and pushes; the
//! app "wakes" when the mock has the push, opens a NEW WebSocket, registers
//! (401 → 200) and must receive the held INVITE on it, which it answers
//! (486, so the call ends without media).
//!
//! Timed at the app and the caller, all on this machine's monotonic clock:
//! INVITE sent → push at the mock, the app's authenticated REGISTER sent →
//! INVITE on the new connection (upstream round trip of the REGISTER plus
//! the gateway's hand-off of the held request), push → INVITE
//! delivered (includes the app's reconnect and two REGISTER round trips).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sipwake_e2e::push::Api;
use sipwake_mocks::fcm::FcmMock;
use sipwake_sip::request;
use tokio::net::UdpSocket;
use tokio::sync::Mutex;

use crate::agent::Agent;
use crate::load::{ack, final_response, source_ip};
use crate::stats::Latencies;
use crate::targets::Front;
use crate::{Error, REALM};

/// The package the bench agents put in X-MPUSH (`a:<package>:<token>`).
pub const PACKAGE: &str = "org.sipwake.bench";

/// sipwake's config for push runs: the FCM mock for [`PACKAGE`], the API
/// token of the e2e helpers, a store in the data dir.
pub fn push_config(fcm: &FcmMock, dir: &std::path::Path) -> Result<String, Error> {
    let key = dir.join("fcmkey.json");
    std::fs::write(&key, fcm.service_account_json())
        .map_err(|e| Error::io("write fcmkey.json", e))?;
    Ok(format!(
        "\n[push]\nwake_timeout_secs = 20\n\n[fcm]\nbase_url = \"{}\"\n[fcm.apps]\n\"{PACKAGE}\" = \"{}\"\n{}",
        fcm.base_url(),
        key.display(),
        sipwake_e2e::push::api_section()
    ))
}

/// What one wake run measured.
#[derive(Debug, Clone, Default)]
pub struct WakeResult {
    /// Apps registered and put to sleep.
    pub sleeping: usize,
    pub calls: usize,
    /// Calls whose push reached the mock.
    pub pushed: usize,
    /// Calls whose INVITE reached the woken app on its new connection.
    pub delivered: usize,
    /// Calls the caller saw answered by the app (its 486).
    pub answered: usize,
    /// Deliveries where the INVITE reached the app before the relayed 200
    /// of its REGISTER.
    pub invite_before_200: usize,
    /// INVITEs that reached an app more than once (must stay 0).
    pub duplicates: usize,
    pub first_error: Option<String>,
    pub invite_to_push: Latencies,
    /// Authenticated REGISTER sent → INVITE received.
    pub register_to_invite: Latencies,
    pub push_to_invite: Latencies,
    pub elapsed: Duration,
    /// sipwake's own `/api/v1/stats` "wake" object after the run.
    pub server_wake_stats: Option<serde_json::Value>,
}

impl WakeResult {
    pub fn success_rate(&self) -> f64 {
        self.answered as f64 / self.calls.max(1) as f64
    }

    /// One line for progress output.
    pub fn summary(&self) -> String {
        format!(
            "{} calls: {} pushed, {} delivered, {} answered, {} duplicates; \
             INVITE → push p50 {:.2} ms p99 {:.2} ms; re-REGISTER → INVITE p50 {:.2} ms p99 {:.2} ms; \
             push → INVITE p50 {:.2} ms p99 {:.2} ms{}",
            self.calls,
            self.pushed,
            self.delivered,
            self.answered,
            self.duplicates,
            self.invite_to_push.ms(50.0),
            self.invite_to_push.ms(99.0),
            self.register_to_invite.ms(50.0),
            self.register_to_invite.ms(99.0),
            self.push_to_invite.ms(50.0),
            self.push_to_invite.ms(99.0),
            self.first_error
                .as_deref()
                .map(|e| format!(" (first error: {e})"))
                .unwrap_or_default()
        )
    }
}

/// Wakes `n` apps (users `b0..b{n}`, `n` ≤ the upstream's users),
/// `concurrency` calls at a time, within `max_time`.
pub async fn run(
    upstream_port: u16,
    n: usize,
    concurrency: usize,
    max_time: Duration,
) -> Result<WakeResult, Error> {
    run_across(upstream_port, n, concurrency, max_time, None).await
}

/// [`run`]; with `cluster` (sections that make a gateway a node on a
/// shared Redis, given the node's id) two gateways run: the apps fall
/// asleep on node 1, which holds and pushes, and wake on node 2.
pub async fn run_across(
    upstream_port: u16,
    n: usize,
    concurrency: usize,
    max_time: Duration,
    cluster: Option<&dyn Fn(&str) -> String>,
) -> Result<WakeResult, Error> {
    let started = Instant::now();
    let deadline = started + max_time;
    let dir = tempfile::Builder::new()
        .prefix("sipwake-bench-wake-")
        .tempdir()
        .map_err(|e| Error::io("temp dir", e))?;
    let fcm = FcmMock::start("bench-wake")
        .await
        .map_err(|e| Error::Push(format!("fcm mock: {e}")))?;
    let push = push_config(&fcm, dir.path())?;
    let node = |id: &str| format!("{push}{}", cluster.map(|c| c(id)).unwrap_or_default());
    let front = Front::sipwake_with(upstream_port, &node("n1"))?;
    let woken_on = match cluster {
        Some(_) => Some(Front::sipwake_with(upstream_port, &node("n2"))?),
        None => None,
    };
    let upstream = sipwake_e2e::util::loopback(upstream_port);
    let api = Api::new(front.ws);
    let flows_before = flows(&api).await?;

    // 1. Every app registers with its push binding, then goes to sleep.
    let mut res = WakeResult::default();
    for i in 0..n {
        let mut a = Agent::ws(front.ws, source_ip(i), &app_name(i)).await?;
        a.register(&crate::user_name(i), &crate::password(i), 3600)
            .await?;
        a.close().await;
        res.sleeping += 1;
    }
    // The gateway must have seen every close before the calls start, or a
    // call could race a closing connection (then it is not a wake).
    wait_flows_at_most(&api, flows_before + 1, deadline).await?;

    // 2. Calls, `concurrency` at a time.
    let next = Arc::new(AtomicUsize::new(0));
    let shared = Arc::new(Mutex::new(res));
    let fcm = Arc::new(fcm);
    let mut workers = Vec::new();
    for _ in 0..concurrency.clamp(1, n.max(1)) {
        let (next, shared, fcm) = (next.clone(), shared.clone(), fcm.clone());
        let ws = woken_on.as_ref().unwrap_or(&front).ws;
        workers.push(tokio::spawn(async move {
            let sock = UdpSocket::bind("127.0.0.1:0")
                .await
                .map_err(|e| Error::io("bind caller", e))?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() >= deadline {
                    return Ok::<(), Error>(());
                }
                let one = wake_one(&sock, upstream, ws, &fcm, i, deadline).await;
                let mut r = shared.lock().await;
                r.calls += 1;
                r.merge_call(one);
            }
        }));
    }
    for w in workers {
        w.await
            .map_err(|e| Error::Setup(format!("wake worker: {e}")))??;
    }
    let mut res = Arc::try_unwrap(shared)
        .map_err(|_| Error::Setup("wake workers still running".into()))?
        .into_inner();
    res.elapsed = started.elapsed();
    res.server_wake_stats = api
        .json("GET", "/api/v1/stats", None)
        .await
        .ok()
        .map(|v| v["wake"].clone());
    drop(woken_on);
    drop(front);
    Ok(res)
}

fn app_name(i: usize) -> String {
    format!("wk{i}")
}

/// The FCM token agent `i` registered (see `Agent::register`).
fn token_of(i: usize) -> String {
    format!("tok-{}-{}.invalid", crate::user_name(i), app_name(i))
}

/// One call's timings; `error` set when any step failed.
#[derive(Default)]
struct OneCall {
    pushed_after: Option<Duration>,
    register_to_invite: Option<Duration>,
    push_to_invite: Option<Duration>,
    delivered: bool,
    invite_before_200: bool,
    duplicate: bool,
    answered: bool,
    error: Option<String>,
}

impl WakeResult {
    fn merge_call(&mut self, c: OneCall) {
        if let Some(d) = c.pushed_after {
            self.pushed += 1;
            self.invite_to_push.push(d);
        }
        if let Some(d) = c.register_to_invite {
            self.register_to_invite.push(d);
        }
        if let Some(d) = c.push_to_invite {
            self.push_to_invite.push(d);
        }
        self.delivered += usize::from(c.delivered);
        self.invite_before_200 += usize::from(c.invite_before_200);
        self.duplicates += usize::from(c.duplicate);
        self.answered += usize::from(c.answered);
        if let Some(e) = c.error {
            self.first_error.get_or_insert(e);
        }
    }
}

async fn wake_one(
    sock: &UdpSocket,
    upstream: SocketAddr,
    ws: SocketAddr,
    fcm: &FcmMock,
    i: usize,
    run_deadline: Instant,
) -> OneCall {
    let mut out = OneCall::default();
    let user = crate::user_name(i);
    let token = token_of(i);
    let branch = sipwake_sip::new_branch();
    let local = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let invite = request("INVITE", &format!("sip:{user}@{REALM}"))
        .header("Via", &format!("SIP/2.0/UDP {local};branch={branch};rport"))
        .header("From", &format!("<sip:caller@bench.invalid>;tag=w{i}"))
        .header("To", &format!("<sip:{user}@{REALM}>"))
        .header("Call-ID", &format!("wake-{i}-{}", sipwake_sip::new_tag()))
        .header("CSeq", "1 INVITE")
        .header("Contact", &format!("<sip:caller@{local}>"))
        .build();
    let t0 = Instant::now();
    let until = (t0 + Duration::from_secs(15)).min(run_deadline);
    if let Err(e) = sock.send_to(&invite, upstream).await {
        out.error = Some(format!("send INVITE: {e}"));
        return out;
    }

    // The app wakes when its push is at the mock (polled every millisecond:
    // the push latencies carry up to 1 ms of polling).
    let pushed_at = loop {
        if fcm.attempts(&token) > 0 {
            break Instant::now();
        }
        if Instant::now() >= until {
            out.error = Some(format!("call to {user}: no push within 15 s"));
            return out;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    out.pushed_after = Some(pushed_at - t0);

    let mut app = match Agent::ws(ws, source_ip(i), &app_name(i)).await {
        Ok(a) => a,
        Err(e) => {
            out.error = Some(format!("{user} reconnect: {e}"));
            return out;
        }
    };
    let reg = match app.register(&user, &crate::password(i), 3600).await {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(format!("{user} re-register: {e}"));
            return out;
        }
    };
    let registered_at = Instant::now();
    // From the authenticated REGISTER on: the gateway forwards it, gets the
    // upstream's 200 and hands the held INVITE over. (The INVITE may reach
    // the app before the relayed 200; the agent answers it meanwhile.)
    let auth_sent_at = registered_at - reg.transactions.last().copied().unwrap_or_default();
    while app.last_invite_at.is_none() {
        match app.recv_until(until).await {
            Ok(Some(m)) if m.is_request() => {
                if let Err(e) = app.answer(&m).await {
                    out.error = Some(format!("{user} answer: {e}"));
                    return out;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                out.error = Some(format!("{user}: no INVITE after re-register"));
                return out;
            }
            Err(e) => {
                out.error = Some(format!("{user}: {e}"));
                return out;
            }
        }
    }
    let invite_at = app.last_invite_at.unwrap_or(registered_at);
    out.delivered = true;
    out.register_to_invite = Some(invite_at.saturating_duration_since(auth_sent_at));
    out.invite_before_200 = invite_at < registered_at;
    out.push_to_invite = Some(invite_at - pushed_at);

    match final_response(sock, &branch, until).await {
        Some(resp) => {
            out.answered = resp.status() == Some(486);
            if !out.answered {
                out.error = Some(format!(
                    "call to {user}: {:?} {}",
                    resp.status(),
                    resp.reason().unwrap_or("")
                ));
            }
            ack(sock, upstream, &invite, &resp).await;
        }
        None => out.error = Some(format!("call to {user}: no final answer")),
    }
    // Exactly once: nothing else may arrive for this call on the new flow
    // (the ACK of the 486 is hop-by-hop at the gateway and stays there).
    let grace = Instant::now() + Duration::from_millis(200);
    let before = app.answered;
    let _ = app.serve_until(grace).await;
    if app.answered > before {
        out.duplicate = true;
        out.error
            .get_or_insert_with(|| format!("{user}: a second request after the call"));
    }
    app.close().await;
    out
}

async fn flows(api: &Api) -> Result<u64, Error> {
    let v = api.json("GET", "/api/v1/stats", None).await?;
    v["flows"]
        .as_u64()
        .ok_or_else(|| Error::Setup(format!("/api/v1/stats has no flows: {v}")))
}

/// Waits until sipwake has at most `max` open flows (the upstream's UDP peer
/// is one).
async fn wait_flows_at_most(api: &Api, max: u64, deadline: Instant) -> Result<(), Error> {
    loop {
        let f = flows(api).await?;
        if f <= max {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout(format!(
                "sipwake still has {f} flows after the apps closed (want ≤ {max})"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

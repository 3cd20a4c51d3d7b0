//! The load patterns, each bounded in count and time:
//! - `rate`: closed loop, `concurrency` agents registering (401 → 200) as
//!   fast as answers come, until `registrations` are done;
//! - `hold`: `clients` WebSocket clients connect and register, stay idle
//!   (answering what arrives), re-register once on command, receive calls;
//! - `calls`: INVITEs from a caller at the upstream to held users.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sipwake_sip::{Message, request};
use tokio::net::UdpSocket;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::agent::{Agent, Transport};
use crate::stats::Latencies;
use crate::{Error, REALM};

/// Result of one closed-loop REGISTER run.
#[derive(Debug, Clone)]
pub struct RateResult {
    pub transport: Transport,
    pub concurrency: usize,
    /// Completed registrations (challenge + 200).
    pub ok: usize,
    pub failures: usize,
    pub first_error: Option<String>,
    /// REGISTER transactions (requests forwarded by the proxy).
    pub requests: usize,
    pub elapsed: Duration,
    /// Per REGISTER transaction.
    pub latency: Latencies,
    /// CPU-seconds of the proxy's process group during the run.
    pub proxy_cpu_secs: f64,
}

impl RateResult {
    pub fn registrations_per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// CPU-seconds of the proxy per 10,000 forwarded REGISTER requests.
    pub fn cpu_per_10k_requests(&self) -> f64 {
        self.proxy_cpu_secs * 10_000.0 / (self.requests.max(1) as f64)
    }

    /// One progress line: counts, rate, latency, CPU, the first error.
    pub fn summary(&self) -> String {
        format!(
            "c={}: {} ok, {} failed, {:.0} reg/s, p50 {:.2} ms p99 {:.2} ms, {:.2} CPU-s/10k REGISTER{}",
            self.concurrency,
            self.ok,
            self.failures,
            self.registrations_per_sec(),
            self.latency.ms(50.0),
            self.latency.ms(99.0),
            self.cpu_per_10k_requests(),
            self.first_error
                .as_deref()
                .map(|e| format!(" (first error: {e})"))
                .unwrap_or_default()
        )
    }
}

/// Runs `registrations` registrations over `concurrency` agents against
/// `target`, users `b0..b{users}`, stopping early at `max_time`. Agent k uses
/// the users ≡ k (mod concurrency), so each AOR keeps one Contact.
pub async fn rate(
    transport: Transport,
    target: SocketAddr,
    concurrency: usize,
    registrations: usize,
    users: usize,
    max_time: Duration,
    cpu: impl Fn() -> f64,
) -> Result<RateResult, Error> {
    let concurrency = concurrency.max(1);
    let mut agents = Vec::with_capacity(concurrency);
    for k in 0..concurrency {
        let name = format!("r{k}{}", transport.name().to_ascii_lowercase());
        agents.push(connect(transport, target, source_ip(k), &name).await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + max_time;
    let cpu0 = cpu();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for (k, mut agent) in agents.into_iter().enumerate() {
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::default();
            let (mut ok, mut failed, mut requests) = (0usize, 0usize, 0usize);
            let mut first_error = None;
            let per_agent = (users / concurrency).max(1);
            let mut j = 0usize;
            while next.fetch_add(1, Ordering::Relaxed) < registrations && Instant::now() < deadline
            {
                let u = (k + concurrency * (j % per_agent)) % users.max(1);
                j += 1;
                match agent
                    .register(&crate::user_name(u), &crate::password(u), 3600)
                    .await
                {
                    Ok(r) => {
                        ok += 1;
                        requests += r.transactions.len();
                        r.transactions.into_iter().for_each(|d| lat.push(d));
                    }
                    Err(e) => {
                        failed += 1;
                        requests += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            agent.close().await;
            (ok, failed, requests, lat, first_error)
        }));
    }
    let mut res = RateResult {
        transport,
        concurrency,
        ok: 0,
        failures: 0,
        first_error: None,
        requests: 0,
        elapsed: Duration::ZERO,
        latency: Latencies::default(),
        proxy_cpu_secs: 0.0,
    };
    for t in tasks {
        let (ok, failed, requests, lat, err) = t
            .await
            .map_err(|e| Error::Setup(format!("load task: {e}")))?;
        res.ok += ok;
        res.failures += failed;
        res.requests += requests;
        res.latency.merge(lat);
        if res.first_error.is_none() {
            res.first_error = err;
        }
    }
    res.elapsed = started.elapsed();
    res.proxy_cpu_secs = cpu() - cpu0;
    Ok(res)
}

async fn connect(
    t: Transport,
    target: SocketAddr,
    src: IpAddr,
    name: &str,
) -> Result<Agent, Error> {
    match t {
        Transport::Udp => Agent::udp(target, name).await,
        Transport::Ws => Agent::ws(target, src, name).await,
    }
}

/// Spreads connections over 127.0.0.2..=127.0.0.33: each source address has
/// its own ephemeral port range (about 28k ports), enough for 50k clients.
pub fn source_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % 32) as u8))
}

/// What the held clients are told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Hold,
    Reregister,
    Stop,
}

/// Result of a hold run.
#[derive(Debug, Clone, Default)]
pub struct HoldResult {
    pub clients: usize,
    pub registered: usize,
    pub failures: usize,
    pub first_error: Option<String>,
    /// Connect + registration time of the whole population.
    pub connect_elapsed: Duration,
    /// Per registration (both transactions) during connect.
    pub register_latency: Latencies,
    pub pss_before: u64,
    pub pss_after: u64,
    pub reregistered: usize,
    pub rereg_failures: usize,
    pub rereg_elapsed: Duration,
    pub rereg_latency: Latencies,
    pub calls: CallResult,
}

impl HoldResult {
    /// Proxy memory per held, registered client (bytes).
    pub fn bytes_per_client(&self) -> f64 {
        (self.pss_after.saturating_sub(self.pss_before)) as f64 / self.registered.max(1) as f64
    }
}

/// Parameters of a hold run.
#[derive(Debug, Clone)]
pub struct Hold {
    pub target: SocketAddr,
    pub clients: usize,
    pub users: usize,
    /// Registrations in progress at once while connecting / re-registering.
    pub in_flight: usize,
    pub max_time: Duration,
    /// Calls placed from `caller_to` (the upstream) to held users.
    pub calls: usize,
    pub upstream: SocketAddr,
    /// Quiet time between the last registration and the memory reading, so
    /// both proxies have ended the registrations' transactions (completed
    /// UDP client transactions toward the upstream live for timer K = 5 s)
    /// and the reading is what idle clients cost.
    pub idle_wait: Duration,
}

/// Holds `clients` registered WebSocket clients; measures the proxy's memory
/// (`pss`) before and after, re-registers all once, places calls, stops.
pub async fn hold(h: Hold, pss: impl Fn() -> u64) -> Result<HoldResult, Error> {
    let mut res = HoldResult {
        clients: h.clients,
        pss_before: pss(),
        ..Default::default()
    };
    let deadline = Instant::now() + h.max_time;
    let gate = Arc::new(Semaphore::new(h.in_flight.max(1)));
    let (cmd_tx, cmd_rx) = watch::channel(Cmd::Hold);
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<(bool, Result<Duration, String>)>();
    let started = Instant::now();
    for i in 0..h.clients {
        let gate = gate.clone();
        let mut cmd = cmd_rx.clone();
        let ev = ev_tx.clone();
        let (target, users) = (h.target, h.users.max(1));
        tokio::spawn(async move {
            let u = i % users;
            let (user, pw) = (crate::user_name(u), crate::password(u));
            let permit = gate.acquire().await;
            let t0 = Instant::now();
            let agent = async {
                let mut a = Agent::ws(target, source_ip(i), &format!("h{i}")).await?;
                a.register(&user, &pw, 3600).await?;
                Ok::<Agent, Error>(a)
            }
            .await;
            drop(permit);
            let mut agent = match agent {
                Ok(a) => {
                    let _ = ev.send((false, Ok(t0.elapsed())));
                    a
                }
                Err(e) => {
                    let _ = ev.send((false, Err(e.to_string())));
                    return;
                }
            };
            loop {
                let far = Instant::now() + Duration::from_secs(3600);
                tokio::select! {
                    m = agent.recv_until(far) => match m {
                        Ok(Some(m)) if m.is_request() => {
                            if agent.answer(&m).await.is_err() { break; }
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    },
                    changed = cmd.changed() => {
                        let c = *cmd.borrow();
                        if changed.is_err() || c == Cmd::Stop { break; }
                        if c == Cmd::Reregister {
                            let permit = gate.acquire().await;
                            let t0 = Instant::now();
                            let r = agent.register(&user, &pw, 3600).await;
                            drop(permit);
                            let _ = ev.send((true, r.map(|_| t0.elapsed()).map_err(|e| e.to_string())));
                        }
                    }
                }
            }
            agent.close().await;
        });
    }
    drop(ev_tx);
    collect(&mut ev_rx, h.clients, deadline, false, &mut |r| match r {
        Ok(d) => {
            res.registered += 1;
            res.register_latency.push(d);
        }
        Err(e) => {
            res.failures += 1;
            res.first_error.get_or_insert(e);
        }
    })
    .await;
    res.connect_elapsed = started.elapsed();
    // Let the proxy settle (transactions ended, buffers returned) before
    // reading its memory: the idle wait, then until two readings 200 ms
    // apart agree within 1%.
    tokio::time::sleep(
        h.idle_wait
            .min(deadline.saturating_duration_since(Instant::now())),
    )
    .await;
    let settle = Instant::now() + Duration::from_secs(5);
    let mut last = pss();
    while Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = pss();
        if now.abs_diff(last) * 100 <= last {
            last = now;
            break;
        }
        last = now;
    }
    res.pss_after = last;

    let t0 = Instant::now();
    let _ = cmd_tx.send(Cmd::Reregister);
    collect(
        &mut ev_rx,
        res.registered,
        deadline,
        true,
        &mut |r| match r {
            Ok(d) => {
                res.reregistered += 1;
                res.rereg_latency.push(d);
            }
            Err(e) => {
                res.rereg_failures += 1;
                res.first_error.get_or_insert(e);
            }
        },
    )
    .await;
    res.rereg_elapsed = t0.elapsed();
    let _ = cmd_tx.send(Cmd::Hold);

    let callees = h.clients.min(h.users).max(1);
    res.calls = calls(h.upstream, h.calls, callees, deadline).await?;
    let _ = cmd_tx.send(Cmd::Stop);
    Ok(res)
}

/// Receives `want` events of the given phase, or until `deadline`.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<(bool, Result<Duration, String>)>,
    want: usize,
    deadline: Instant,
    rereg: bool,
    f: &mut impl FnMut(Result<Duration, String>),
) {
    let mut got = 0;
    while got < want {
        match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
            Ok(Some((phase, r))) if phase == rereg => {
                got += 1;
                f(r);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                for _ in got..want {
                    f(Err("no answer before the run's time limit".into()));
                }
                return;
            }
        }
    }
}

/// Calls placed to held users.
#[derive(Debug, Clone, Default)]
pub struct CallResult {
    pub placed: usize,
    /// Answered by the held client (486 Busy Here, our clients' answer).
    pub answered: usize,
    pub first_error: Option<String>,
    /// INVITE sent → client's final answer received.
    pub latency: Latencies,
}

/// Places `n` INVITEs one after another from a caller at the upstream (a
/// foreign domain, so it is not challenged) to users `b0..b{callees}`.
pub async fn calls(
    upstream: SocketAddr,
    n: usize,
    callees: usize,
    deadline: Instant,
) -> Result<CallResult, Error> {
    let mut res = CallResult::default();
    if n == 0 {
        return Ok(res);
    }
    let sock = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::io("bind caller", e))?;
    let local = sock.local_addr().map_err(|e| Error::io("local_addr", e))?;
    for i in 0..n {
        if Instant::now() >= deadline {
            break;
        }
        res.placed += 1;
        let user = crate::user_name(i % callees.max(1));
        let branch = sipwake_sip::new_branch();
        let invite = request("INVITE", &format!("sip:{user}@{REALM}"))
            .header("Via", &format!("SIP/2.0/UDP {local};branch={branch};rport"))
            .header("From", &format!("<sip:caller@bench.invalid>;tag=c{i}"))
            .header("To", &format!("<sip:{user}@{REALM}>"))
            .header("Call-ID", &format!("call-{i}-{}", sipwake_sip::new_tag()))
            .header("CSeq", "1 INVITE")
            .header("Contact", &format!("<sip:caller@{local}>"))
            .build();
        let t0 = Instant::now();
        sock.send_to(&invite, upstream)
            .await
            .map_err(|e| Error::io("send INVITE", e))?;
        let until = (t0 + Duration::from_secs(8)).min(deadline);
        match final_response(&sock, &branch, until).await {
            Some(resp) if resp.status() == Some(486) => {
                res.answered += 1;
                res.latency.push(t0.elapsed());
                ack(&sock, upstream, &invite, &resp).await;
            }
            Some(resp) => {
                res.first_error.get_or_insert_with(|| {
                    format!(
                        "call to {user}: {:?} {}",
                        resp.status(),
                        resp.reason().unwrap_or("")
                    )
                });
                ack(&sock, upstream, &invite, &resp).await;
            }
            None => {
                res.first_error
                    .get_or_insert_with(|| format!("call to {user}: no final answer"));
            }
        }
    }
    Ok(res)
}

pub(crate) async fn final_response(
    sock: &UdpSocket,
    branch: &str,
    until: Instant,
) -> Option<Message> {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, _) = tokio::time::timeout_at(until.into(), sock.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        let Ok(m) = Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])) else {
            continue;
        };
        let ours = m
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(|b| b == branch))
            .unwrap_or(false);
        if ours && m.status().is_some_and(|s| s >= 200) {
            return Some(m);
        }
    }
}

pub(crate) async fn ack(
    sock: &UdpSocket,
    upstream: SocketAddr,
    invite: &bytes::Bytes,
    resp: &Message,
) {
    if let Ok(inv) = Message::parse(invite.clone())
        && let Some(ack) = sipwake_sip::ack_for_non2xx(&inv, resp)
    {
        let _ = sock.send_to(&ack, upstream).await;
    }
}

/// Removes every binding of users `b0..b{users}` at the upstream
/// (`Contact: *`, Expires 0), so runs never see each other's bindings.
pub async fn clear_bindings(upstream: SocketAddr, users: usize) -> Result<usize, Error> {
    let mut agent = Agent::udp(upstream, "cleaner").await?;
    let mut failed = 0;
    for u in 0..users {
        if agent
            .unregister_all(&crate::user_name(u), &crate::password(u))
            .await
            .is_err()
        {
            failed += 1;
        }
    }
    Ok(failed)
}

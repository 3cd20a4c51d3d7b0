//! The upstream registration keeper (gateway mode, docs/wake.md "Keeping
//! upstream registrations"): while a push app sleeps, the gateway refreshes
//! its upstream registration itself — same Contact, our Path — answering
//! digest challenges from the stored HA1 (X-PIID), or pushes ntype 4 so the
//! app refreshes it (`regrefresh`). Rejections remove the push binding per
//! `removeon_regfail` / `removeon_reject`.
//!
//! Every successful app REGISTER (the registry's `Registered` event) re-arms
//! one task per registration that sleeps until shortly before the upstream
//! binding expires; an app that refreshes itself keeps pushing it back.

pub mod register;
pub mod restore;
pub mod stats;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sipwake_core::payload::NotificationKind;
use sipwake_core::template::PushFields;
use sipwake_sip::Message;
use sipwake_sip::ids::random_token;
use sipwake_store::{Binding, Piid};
use tokio::sync::{broadcast, mpsc};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::bindings::PushSender;
use crate::bindings::instance_of_device;
use crate::bindings::{PushBindings, refresh_lead};
use crate::cluster::{Cluster, Keep};
use crate::config::{ContactMode, PushPolicy};
use crate::net::{Destination, TransportKind};
use crate::proxy::{BRANCH_PREFIX, Proxy};
use crate::registrar::RegistrarEvent;
use crate::registrar::paths::MAX_REGISTRATIONS;
use crate::transaction::ClientEvent;
use crate::util::lock;
use register::{RegisterSpec, answer, granted_expires};
use stats::{KeeperStats, inc};

/// How a sleeping device's upstream registration is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not at all: it expires unless the app refreshes it.
    None,
    /// The gateway re-REGISTERs (with the X-PIID when challenged).
    Register,
    /// Push ntype 4 so the app re-registers itself.
    Push,
}

/// `keepupperreg` × `regrefresh` for a device with or without X-PIID.
pub fn mode_for(p: &PushPolicy, has_piid: bool) -> Mode {
    let keep = match p.keepupperreg {
        1 => has_piid,
        2 => true,
        _ => false,
    };
    match p.regrefresh {
        1 | 2 => Mode::Push,
        // Auto: push only for apps that gave no credentials, unless the
        // operator asked to keep registrations always.
        -1 if !has_piid && !keep => Mode::Push,
        _ if keep => Mode::Register,
        _ => Mode::None,
    }
}

/// The credentials the gateway may answer upstream challenges with: the
/// app's X-PIID, unless `prefermd5xauth = 0` leaves authentication to the
/// app (its binding is then kept like one without X-PIID: by pushes).
pub fn credentials<'a>(p: &PushPolicy, b: &'a Binding) -> Option<&'a Piid> {
    b.piid.as_ref().filter(|_| p.prefermd5xauth == 1)
}

/// The transport toward `reg`'s upstream.
fn upstream_kind(reg: &Reg) -> TransportKind {
    match &reg.upstream {
        Destination::Addr { kind, .. } => *kind,
        Destination::Flow(_) => TransportKind::Udp,
    }
}

/// When to refresh a binding granted for `secs` (see [`refresh_lead`]).
pub fn refresh_delay(secs: u32) -> Duration {
    Duration::from_secs(u64::from(secs)) - refresh_lead(secs)
}

/// Retry delay after `failures` consecutive failed refreshes.
pub fn retry_delay(failures: u32) -> Duration {
    Duration::from_secs(30u64.saturating_mul(1 << failures.min(5)).min(900))
}

/// Expires asked upstream when neither `upperexpire` nor the app says.
const DEFAULT_EXPIRES: u32 = 3600;
/// With `regrefresh = 2`: how long past the expiry the app may take to
/// re-register after the ntype 4 push before its binding is removed.
const REGREFRESH_GRACE: Duration = Duration::from_secs(30);
/// CSeq numbers a lease holder reserves per refresh (a REGISTER, its
/// authenticated retry, a 423 retry, and one spare).
const LEASE_CSEQS: u32 = 4;
/// How long an API removal waits for the upstream unregisters.
const UNREGISTER_WAIT: Duration = Duration::from_secs(10);

/// What the keeper registers for one Path registration.
#[derive(Debug, Clone)]
pub struct Reg {
    pub token: String,
    /// `user@host` (the registry's and the REGISTER's AOR).
    pub aor: String,
    /// Normalised instance, or the Contact URI for devices without one.
    pub identity: String,
    pub contact: String,
    pub upstream: Destination,
    pub expires_at: Instant,
    /// Seconds the upstream last granted.
    pub interval: u32,
}

struct Entry {
    reg: Reg,
    call_id: String,
    from_tag: String,
    cseq: u32,
    failures: u32,
    /// A push device the gateway registers itself (confirmed from the
    /// store); other registrations are only watched until their due time.
    kept: bool,
    /// Bumped by every (re)arm: a task only touches its own generation
    /// (an aborted task may still be between two awaits).
    generation: u64,
    task: Option<AbortHandle>,
    /// Cluster: the app registered through this node since the lease was
    /// last taken, so this node keeps it (its Path is the one upstream).
    app_here: bool,
}

/// Why a refresh did not succeed.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("upstream rejected the user ({0})")]
    Rejected(u16),
    #[error("upstream refused the credentials ({0} after our answer)")]
    AuthRejected(u16),
    #[error("cannot answer the challenge: {0}")]
    Auth(#[from] register::AnswerError),
    #[error("upstream answered {0}")]
    Final(u16),
    #[error("upstream kept the contact for 0 s")]
    NotKept,
    #[error("no answer from the upstream")]
    Timeout,
    #[error("cannot send: {0}")]
    Transport(String),
}

pub struct Keeper {
    proxy: Arc<Proxy>,
    bindings: Arc<PushBindings>,
    pusher: Arc<dyn PushSender>,
    /// Several gateways: one keeps each device (a lease in Redis).
    cluster: Option<Arc<Cluster>>,
    entries: Mutex<HashMap<String, Entry>>,
    stats: KeeperStats,
    me: Weak<Keeper>,
}

impl Keeper {
    /// The keeper over the proxy's registrations: listens to registration
    /// events. The store rebuild starts with [`Keeper::start_rebuild`].
    pub fn start(
        proxy: Arc<Proxy>,
        bindings: Arc<PushBindings>,
        pusher: Arc<dyn PushSender>,
        cluster: Option<Arc<Cluster>>,
    ) -> Arc<Keeper> {
        let events = proxy.subscribe();
        let keeper = Arc::new_cyclic(|me| Keeper {
            proxy,
            bindings,
            pusher,
            cluster,
            entries: Mutex::new(HashMap::new()),
            stats: KeeperStats::default(),
            me: me.clone(),
        });
        tokio::spawn(listen(Arc::downgrade(&keeper), events));
        if let Some(c) = &keeper.cluster {
            tokio::spawn(take_over_departed(Arc::downgrade(&keeper), c.departures()));
        }
        keeper
    }

    /// Restores registrations from the store (`persists`) now and rescans
    /// every `rebuildregclients` seconds. Call once the SIP listeners are
    /// up: the restored devices are registered at once.
    pub fn start_rebuild(self: &Arc<Self>) {
        restore::spawn(Arc::downgrade(self));
    }

    pub fn policy(&self) -> &PushPolicy {
        &self.bindings.policy
    }

    /// Registrations the gateway keeps registered itself now.
    pub fn kept(&self) -> usize {
        lock(&self.entries).values().filter(|e| e.kept).count()
    }

    pub fn stats(&self) -> &KeeperStats {
        &self.stats
    }

    pub fn stats_json(&self) -> serde_json::Value {
        self.stats.json(self.kept())
    }

    fn is_kept(&self, token: &str) -> bool {
        lock(&self.entries).contains_key(token)
    }

    /// The app registered (or refreshed) through us: watch its new expiry.
    fn app_registered(&self, aor: &str, identity: &str) {
        let token = self.proxy.paths().token_for(aor, identity);
        let Some(r) = self.proxy.paths().get(&token) else {
            return;
        };
        let Some(expires_at) = r.expires_at else {
            return;
        };
        let now = Instant::now();
        let interval = u32::try_from(expires_at.saturating_duration_since(now).as_secs())
            .unwrap_or(u32::MAX)
            .max(1);
        let at = now + refresh_delay(interval);
        self.arm(
            Reg {
                token: token.clone(),
                aor: r.aor,
                identity: r.instance,
                contact: r.contact,
                upstream: r.upstream,
                expires_at,
                interval,
            },
            at,
        );
        let generation = {
            let mut entries = lock(&self.entries);
            let Some(e) = entries.get_mut(&token) else {
                return;
            };
            e.app_here = true;
            e.generation
        };
        // Cluster: the app's registration upstream now names this node's
        // Path, so this node keeps it from now on — take the lease at once,
        // before another node's scan finds it free.
        if self.cluster.is_some()
            && let Some(me) = self.me.upgrade()
        {
            tokio::spawn(async move {
                let reg = lock(&me.entries).get(&token).map(|e| e.reg.clone());
                if let Some(reg) = reg
                    && let Some(b) = me.binding_of(&reg).await
                {
                    me.lease_here(&reg, &b, &token, generation).await;
                }
            });
        }
    }

    /// (Re)starts the task of one registration, to refresh at `at`.
    fn arm(&self, reg: Reg, at: Instant) {
        let Some(me) = self.me.upgrade() else { return };
        let token = reg.token.clone();
        let mut entries = lock(&self.entries);
        if !entries.contains_key(&token) && entries.len() >= MAX_REGISTRATIONS {
            warn!(aor = %reg.aor, "keeper table full; registration not kept");
            return;
        }
        let entry = entries.entry(token.clone()).or_insert_with(|| Entry {
            reg: reg.clone(),
            call_id: format!("kp-{}", random_token(20)),
            from_tag: random_token(10),
            cseq: 0,
            failures: 0,
            kept: false,
            generation: 0,
            task: None,
            app_here: false,
        });
        if let Some(t) = entry.task.take() {
            t.abort();
        }
        entry.reg = reg;
        entry.failures = 0;
        entry.generation += 1;
        let generation = entry.generation;
        let task = tokio::spawn(async move { me.run(token, generation, at).await });
        entry.task = Some(task.abort_handle());
    }

    /// Stops keeping a registration.
    fn forget(&self, token: &str) {
        if let Some(Entry { task: Some(t), .. }) = lock(&self.entries).remove(token) {
            // Never called from the task itself (it returns instead).
            t.abort();
        }
    }

    async fn run(self: Arc<Self>, token: String, generation: u64, mut at: Instant) {
        loop {
            tokio::time::sleep_until(at).await;
            match self.refresh_once(&token, generation).await {
                Some(next) => at = next,
                None => {
                    self.drop_entry(&token, generation);
                    return;
                }
            }
        }
    }

    /// The task of `generation` is done with its registration.
    fn drop_entry(&self, token: &str, generation: u64) {
        let mut entries = lock(&self.entries);
        if entries
            .get(token)
            .is_some_and(|e| e.generation == generation)
        {
            entries.remove(token);
        }
    }

    /// One due refresh; the next due time, or `None` when done.
    async fn refresh_once(&self, token: &str, generation: u64) -> Option<Instant> {
        let reg = {
            let entries = lock(&self.entries);
            let e = entries.get(token).filter(|e| e.generation == generation)?;
            e.reg.clone()
        };
        let Some(binding) = self.binding_of(&reg).await else {
            // Not a push device (or its binding is gone): nothing to keep.
            debug!(aor = %reg.aor, "registration without push binding; not kept");
            return None;
        };
        let mode = mode_for(
            self.policy(),
            credentials(self.policy(), &binding).is_some(),
        );
        if mode != Mode::None && !self.lease_here(&reg, &binding, token, generation).await {
            return None;
        }
        match mode {
            Mode::None => None,
            Mode::Push => {
                self.regrefresh_push(&reg, &binding).await;
                if self.policy().regrefresh == 2 {
                    // The app's own REGISTER re-arms (aborts) this task;
                    // reaching the end of the sleep means it never came.
                    tokio::time::sleep_until(reg.expires_at + REGREFRESH_GRACE).await;
                    self.remove_binding(
                        &reg,
                        &binding,
                        "registration timed out after a register-refresh push",
                    )
                    .await;
                }
                None
            }
            Mode::Register => {
                if let Some(e) = lock(&self.entries).get_mut(token)
                    && e.generation == generation
                {
                    e.kept = true;
                }
                self.keep_registered(&reg, &binding).await
            }
        }
    }

    /// Cluster: whether this node keeps the device now (the lease), and
    /// in which Call-ID / CSeq. Another node that is up keeping it: this
    /// node stops (it takes over when that node is gone). Redis
    /// unreachable: this node goes on (an extra refresh upstream rather
    /// than a registration that lapses).
    async fn lease_here(&self, reg: &Reg, binding: &Binding, token: &str, generation: u64) -> bool {
        let Some(c) = &self.cluster else { return true };
        let (fresh, take) = {
            let entries = lock(&self.entries);
            let Some(e) = entries.get(token).filter(|e| e.generation == generation) else {
                return false;
            };
            ((e.call_id.clone(), e.from_tag.clone()), e.app_here)
        };
        match c
            .keeper_lease(&reg.aor, &binding.device, fresh, take, LEASE_CSEQS)
            .await
        {
            Ok(Keep::Here {
                call_id,
                from_tag,
                cseq,
            }) => {
                if let Some(e) = lock(&self.entries).get_mut(token)
                    && e.generation == generation
                {
                    e.call_id = call_id;
                    e.from_tag = from_tag;
                    e.cseq = cseq;
                    e.app_here = false;
                }
                true
            }
            Ok(Keep::Elsewhere(node)) => {
                debug!(aor = %reg.aor, device = %binding.device, %node, "kept by another gateway");
                false
            }
            Err(e) => {
                warn!(aor = %reg.aor, error = %e, "keeper lease unreadable; keeping the registration here");
                true
            }
        }
    }

    async fn keep_registered(&self, reg: &Reg, binding: &Binding) -> Option<Instant> {
        let p = self.policy();
        let expires = if p.upperexpire > 0 {
            u32::try_from(p.upperexpire).unwrap_or(DEFAULT_EXPIRES)
        } else {
            reg.interval
        };
        match self.register(reg, binding, expires).await {
            Ok(granted) if granted > 0 => {
                inc(&self.stats.refreshes_ok);
                let now = Instant::now();
                let expires_at = now + Duration::from_secs(u64::from(granted));
                self.proxy.paths().refreshed(&reg.token, expires_at);
                if let Some(e) = lock(&self.entries).get_mut(&reg.token) {
                    e.reg.expires_at = expires_at;
                    e.reg.interval = granted;
                    e.failures = 0;
                }
                self.store_expiry(binding, granted).await;
                info!(aor = %reg.aor, expires = granted, "upstream registration refreshed by the keeper");
                Some(now + refresh_delay(granted))
            }
            result => {
                let failure = result.err().unwrap_or(Failure::NotKept);
                inc(&self.stats.refreshes_failed);
                warn!(aor = %reg.aor, reason = %failure, "upstream registration refresh failed");
                let remove = match &failure {
                    Failure::Rejected(_) => p.removeon_reject == 1,
                    Failure::Timeout | Failure::Transport(_) => p.removeon_regfail == 2,
                    _ => p.removeon_regfail >= 1,
                };
                if remove {
                    self.remove_binding(reg, binding, &failure.to_string())
                        .await;
                    return None;
                }
                let mut entries = lock(&self.entries);
                let e = entries.get_mut(&reg.token)?;
                e.failures = e.failures.saturating_add(1);
                Some(Instant::now() + retry_delay(e.failures - 1))
            }
        }
    }

    /// REGISTER (answering one challenge, following one 423); the seconds
    /// granted.
    async fn register(&self, reg: &Reg, binding: &Binding, expires: u32) -> Result<u32, Failure> {
        let mut auth = None;
        let mut expires = expires;
        let (mut answered, mut raised) = (false, false);
        loop {
            let resp = self
                .send_register(reg, binding, expires, auth.clone())
                .await?;
            let code = resp.status().unwrap_or(0);
            match code {
                200..=299 => {
                    let (contact, _) = self.upstream_contact(reg)?;
                    return Ok(granted_expires(&resp, &contact, expires));
                }
                401 | 407 if !answered => {
                    let user = auth_user(binding, &reg.aor);
                    let ha1 = credentials(self.policy(), binding).map(|p| p.expose());
                    let cnonce = random_token(16);
                    let a = answer(&resp, &user, ha1, &ruri_of(reg, binding), &cnonce)?;
                    inc(&self.stats.auth_answered);
                    auth = Some(a);
                    answered = true;
                }
                401 | 407 => return Err(Failure::AuthRejected(code)),
                // RFC 3261 §10.2.8: ask again with the registrar's minimum.
                423 if !raised && expires > 0 => {
                    match resp
                        .header("Min-Expires")
                        .and_then(|v| v.trim().parse::<u32>().ok())
                    {
                        Some(min) if min > expires => expires = min,
                        _ => return Err(Failure::Final(code)),
                    }
                    raised = true;
                }
                403 | 404 => return Err(Failure::Rejected(code)),
                _ => return Err(Failure::Final(code)),
            }
        }
    }

    /// One REGISTER in a client transaction; its final response.
    /// The Contact the upstream holds for `reg`, and our Path when there
    /// is one: the app's Contact routed through our Path, or with contact
    /// rewriting our URI carrying the same token — what the app's own
    /// REGISTERs registered (proxy/route.rs), so requests reach it alike.
    fn upstream_contact(&self, reg: &Reg) -> Result<(String, Option<String>), Failure> {
        let kind = upstream_kind(reg);
        let missing = || Failure::Transport("no local address for the upstream".into());
        match self.proxy.config().upstream.contact_mode {
            ContactMode::Rewrite => Ok((
                self.proxy
                    .our_uri_plain(kind, &reg.token)
                    .ok_or_else(missing)?,
                None,
            )),
            ContactMode::Path => Ok((
                reg.contact.clone(),
                Some(self.proxy.our_uri(kind, &reg.token).ok_or_else(missing)?),
            )),
        }
    }

    async fn send_register(
        &self,
        reg: &Reg,
        binding: &Binding,
        expires: u32,
        auth: Option<(&'static str, String)>,
    ) -> Result<Message, Failure> {
        let kind = upstream_kind(reg);
        let (host, port) = self
            .proxy
            .advertised(kind)
            .ok_or_else(|| Failure::Transport("no local address for the upstream".into()))?;
        let (contact, path) = self.upstream_contact(reg)?;
        let (call_id, from_tag, cseq) = {
            let mut entries = lock(&self.entries);
            match entries.get_mut(&reg.token) {
                Some(e) => {
                    e.cseq += 1;
                    (e.call_id.clone(), e.from_tag.clone(), e.cseq)
                }
                // Unregistering a device no task keeps (API removal).
                None => (format!("kp-{}", random_token(20)), random_token(10), 1),
            }
        };
        let device = &binding.device;
        let spec = RegisterSpec {
            aor: reg.aor.clone(),
            ruri: ruri_of(reg, binding),
            contact,
            instance: instance_of_device(device),
            reg_id: device
                .rsplit_once(";reg-id=")
                .and_then(|(_, r)| r.parse().ok()),
            path,
            expires,
            call_id,
            from_tag,
            cseq,
            via: format!(
                "SIP/2.0/{} {host}:{port};branch={BRANCH_PREFIX}k{};rport",
                kind.via_name(),
                random_token(16)
            ),
            auth,
        };
        let msg = Message::parse(bytes::Bytes::from(spec.build()))
            .map_err(|e| Failure::Transport(format!("built an unparsable REGISTER: {e}")))?;
        let (tx, mut rx) = mpsc::channel::<ClientEvent>(8);
        let handler: crate::transaction::client::EventHandler = Arc::new(move |ev| {
            let tx = tx.clone();
            Box::pin(async move {
                let _ = tx.send(ev).await;
            })
        });
        self.proxy
            .originate(msg, reg.upstream.clone(), kind.is_reliable(), handler);
        while let Some(ev) = rx.recv().await {
            match ev {
                ClientEvent::Response(r) if r.status().is_some_and(|c| c >= 200) => return Ok(r),
                ClientEvent::Response(_) => {}
                ClientEvent::Timeout => return Err(Failure::Timeout),
                ClientEvent::TransportError(e) => return Err(Failure::Transport(e)),
            }
        }
        Err(Failure::Timeout)
    }

    /// The stored binding of a registration (instance, else Contact).
    async fn binding_of(&self, reg: &Reg) -> Option<Binding> {
        let store = self.bindings.store.clone();
        let aor = reg.aor.clone();
        // The registry's `user@host` is the store's AOR without its scheme.
        let list = tokio::task::spawn_blocking(move || {
            let mut l = store.user(&format!("sip:{aor}"))?;
            l.extend(store.user(&format!("sips:{aor}"))?);
            Ok::<_, sipwake_store::StoreError>(l)
        })
        .await
        .ok()?
        .inspect_err(|e| warn!(aor = %reg.aor, error = %e, "keeper: store read failed"))
        .ok()?;
        list.into_iter().find(|b| matches_reg(b, &reg.identity))
    }

    async fn store_expiry(&self, binding: &Binding, granted: u32) {
        let store = self.bindings.store.clone();
        let (aor, device) = (binding.aor.clone(), binding.device.clone());
        let until = crate::util::unix_now() + i64::from(granted);
        let r = tokio::task::spawn_blocking(move || {
            // Re-read: the app may have changed its binding meanwhile.
            let Some(mut b) = store.get(&aor, &device)? else {
                return Ok(false);
            };
            b.upstream_expires_at = Some(until);
            store.upsert(&b)
        })
        .await;
        if let Ok(Err(e)) = r {
            warn!(aor = %binding.aor, error = %e, "keeper: upstream expiry not stored");
        }
    }

    async fn remove_binding(&self, reg: &Reg, binding: &Binding, reason: &str) {
        let store = self.bindings.store.clone();
        let (aor, device) = (binding.aor.clone(), binding.device.clone());
        let removed = tokio::task::spawn_blocking(move || store.remove(&aor, &device)).await;
        self.proxy.paths().unregistered(&reg.token);
        inc(&self.stats.removed);
        warn!(aor = %binding.aor, device = %binding.device, %reason, removed = ?removed.ok().and_then(Result::ok), "push binding removed (upstream registration failed)");
    }

    async fn regrefresh_push(&self, reg: &Reg, binding: &Binding) {
        let user = reg.aor.split('@').next().unwrap_or("").to_owned();
        let fields = PushFields {
            package: binding.push.package.clone(),
            token: binding.push.token.clone(),
            to: user.clone(),
            to_username: user,
            kind: NotificationKind::RegisterRefresh,
            ..PushFields::default()
        };
        let status = self.pusher.push(binding, fields).await;
        inc(&self.stats.regrefresh_pushes);
        info!(aor = %reg.aor, device = %binding.device, ?status, "register-refresh push (ntype 4) sent");
    }

    /// `DELETE /api/v1/bindings/{user}`: unregister each removed device
    /// upstream (Expires 0, authenticated) and stop keeping it.
    pub async fn user_removed(&self, removed: &[Binding]) {
        let Some(me) = self.me.upgrade() else { return };
        let mut set = tokio::task::JoinSet::new();
        for b in removed {
            let (me, b) = (me.clone(), b.clone());
            set.spawn(async move { me.unregister(&b).await });
        }
        // The API answers when they are done, or after UNREGISTER_WAIT (a
        // silent upstream takes timer F, 32 s); the rest finish behind it.
        let all = async { while set.join_next().await.is_some() {} };
        if tokio::time::timeout(UNREGISTER_WAIT, all).await.is_err() {
            info!("upstream unregisters still running after the API answered");
        }
        set.detach_all();
    }

    async fn unregister(&self, b: &Binding) {
        let Some(identity) = identity_of(b) else {
            return;
        };
        let aor = registry_aor(&b.aor).to_owned();
        let token = self.proxy.paths().token_for(&aor, &identity);
        // Stop the task but keep the entry until the unregister is
        // sent: it goes out in the same Call-ID with the next CSeq.
        let kept = lock(&self.entries).get_mut(&token).map(|e| {
            if let Some(t) = e.task.take() {
                t.abort();
            }
            e.reg.clone()
        });
        let reg = match kept {
            Some(r) => r,
            None => match self.proxy.paths().get(&token) {
                Some(r) if r.expires_at.is_some() => Reg {
                    token: token.clone(),
                    aor: r.aor,
                    identity: r.instance,
                    contact: r.contact,
                    upstream: r.upstream,
                    expires_at: Instant::now(),
                    interval: 0,
                },
                _ => return,
            },
        };
        self.proxy.paths().unregistered(&token);
        let result = self.register(&reg, b, 0).await;
        lock(&self.entries).remove(&token);
        match result {
            Ok(_) => {
                inc(&self.stats.unregistered);
                info!(aor = %b.aor, device = %b.device, "unregistered upstream (binding removed by API)");
            }
            Err(e) => {
                warn!(aor = %b.aor, device = %b.device, reason = %e, "upstream unregister failed")
            }
        }
    }
}

/// Digest username: the stored one, else the AOR's user part.
fn auth_user(b: &Binding, aor: &str) -> String {
    b.auth_user
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| aor.split('@').next().unwrap_or("").to_owned())
}

/// Request-URI: the domain the app selected (X-Sy.Uppersrvd), else the
/// AOR's host.
fn ruri_of(reg: &Reg, b: &Binding) -> String {
    let domain = b
        .upstream
        .domain
        .clone()
        .unwrap_or_else(|| reg.aor.rsplit('@').next().unwrap_or("").to_owned());
    format!("sip:{domain}")
}

/// The Path registry's `user@host` for a store AOR (`sip:` / `sips:`).
pub fn registry_aor(store_aor: &str) -> String {
    sipwake_sip::Aor::parse(store_aor)
        .map_or_else(|| store_aor.to_owned(), |a| a.without_scheme().to_owned())
}

/// The registry identity of a stored device: its instance, else Contact.
pub fn identity_of(b: &Binding) -> Option<String> {
    instance_of_device(&b.device).or_else(|| (!b.contact.is_empty()).then(|| b.contact.clone()))
}

fn matches_reg(b: &Binding, identity: &str) -> bool {
    identity_of(b).as_deref() == Some(identity)
}

async fn listen(keeper: Weak<Keeper>, mut events: broadcast::Receiver<RegistrarEvent>) {
    loop {
        let ev = match events.recv().await {
            Ok(ev) => ev,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                // Missed refreshes only delay a keeper: the rebuild scan
                // and the next app REGISTER catch up.
                warn!(missed = n, "keeper lagged behind registration events");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(k) = keeper.upgrade() else { return };
        match ev {
            RegistrarEvent::Registered { aor, instance, .. } => k.app_registered(&aor, &instance),
            RegistrarEvent::Unregistered { aor, instance } => {
                let token = k.proxy.paths().token_for(&aor, &instance);
                k.forget(&token);
            }
        }
    }
}

/// Cluster: when a node is found gone, its kept registrations are taken
/// over (the rebuild arms them; the lease decides who keeps each).
async fn take_over_departed(
    keeper: Weak<Keeper>,
    mut departures: tokio::sync::watch::Receiver<u64>,
) {
    while departures.changed().await.is_ok() {
        let Some(k) = keeper.upgrade() else { return };
        k.rebuild("a cluster node left").await;
    }
}

#[cfg(test)]
mod tests;

//! Startup rebuild (`persists`) and the periodic scan (`rebuildregclients`):
//! every stored push binding gets its Path registration back (so a request
//! the upstream routes through an old Path token goes to push wake-up, not
//! 404), and kept devices without a running keeper are re-registered.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Weak;
use std::time::Duration;

use sipwake_store::Binding;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{Keeper, Mode, Reg, credentials, identity_of, mode_for, refresh_delay};
use crate::net::{Destination, FlowId, TransportKind};
use crate::proxy::upstream::Hop;
use crate::registrar::paths::PathRegistration;

/// Runs the startup rebuild at once, then every `rebuildregclients`
/// seconds (0: startup only).
pub fn spawn(keeper: Weak<Keeper>) {
    tokio::spawn(async move {
        let Some(k) = keeper.upgrade() else { return };
        let every = k.policy().rebuildregclients;
        k.rebuild("startup").await;
        drop(k);
        if every == 0 {
            return;
        }
        let period = Duration::from_secs(every);
        let mut tick = tokio::time::interval_at(Instant::now() + period, period);
        loop {
            tick.tick().await;
            let Some(k) = keeper.upgrade() else { return };
            k.rebuild("rebuildregclients").await;
        }
    });
}

/// Whether `persists` lets the gateway re-create this device's upstream
/// registration: -1 always, 0 never, N when seen in the last N days.
pub fn persists_allows(persists: i32, last_seen: i64, now: i64) -> bool {
    match persists {
        0 => false,
        n if n < 0 => true,
        days => now - last_seen <= i64::from(days) * 86_400,
    }
}

/// A dead flow: requests for a restored registration find it gone.
const NO_FLOW: FlowId = FlowId(0);

impl Keeper {
    /// Restores missing Path registrations and starts keepers for stored
    /// bindings that have none.
    pub async fn rebuild(&self, why: &str) {
        let store = self.bindings.store.clone();
        let all = match tokio::task::spawn_blocking(move || store.all()).await {
            Ok(Ok(all)) => all,
            Ok(Err(e)) => return warn!(error = %e, "keeper rebuild: store read failed"),
            Err(e) => return warn!(error = %e, "keeper rebuild task failed"),
        };
        let now_unix = crate::util::unix_now();
        let (mut restored, mut started) = (0, 0);
        for b in &all {
            let Some(identity) = identity_of(b) else {
                continue;
            };
            let aor = super::registry_aor(&b.aor).to_owned();
            let token = self.proxy.paths().token_for(&aor, &identity);
            if self.is_kept(&token) {
                continue;
            }
            let Some(upstream) = self.upstream_for(b).await else {
                warn!(aor = %b.aor, "keeper rebuild: no upstream to register with");
                continue;
            };
            let remaining = b
                .upstream_expires_at
                .map_or(0, |t| (t - now_unix).max(0))
                .unsigned_abs();
            let expires_at = Instant::now() + Duration::from_secs(remaining);
            let reg = match self.proxy.paths().get(&token) {
                Some(r) => r,
                None => {
                    let r = PathRegistration {
                        aor: aor.clone(),
                        instance: identity.clone(),
                        contact: b.contact.clone(),
                        flow: NO_FLOW,
                        kind: TransportKind::Tcp,
                        remote: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                        upstream: upstream.clone(),
                        // Known to the upstream (maybe expired): wake-up, not 404.
                        expires_at: Some(expires_at),
                    };
                    if self.proxy.paths().restore(&token, r.clone()) {
                        restored += 1;
                        super::inc(&self.stats.restored);
                    }
                    r
                }
            };
            if !persists_allows(self.policy().persists, b.last_seen, now_unix) {
                continue;
            }
            // upperexpire = -1: what the app last asked for, kept with its
            // binding so a restart does not fall back to a default.
            let interval = match self.policy().upperexpire {
                e if e > 0 => u32::try_from(e).unwrap_or(super::DEFAULT_EXPIRES),
                _ => b.app_expires.unwrap_or(super::DEFAULT_EXPIRES),
            };
            let at = match mode_for(self.policy(), credentials(self.policy(), b).is_some()) {
                Mode::None => continue,
                // Kept devices are registered again at once.
                Mode::Register => Instant::now(),
                // The app refreshes itself: push before the known expiry.
                Mode::Push if remaining > 0 => {
                    Instant::now() + refresh_delay(u32::try_from(remaining).unwrap_or(u32::MAX))
                }
                Mode::Push => continue,
            };
            self.arm(
                Reg {
                    token,
                    aor,
                    identity,
                    contact: reg.contact,
                    upstream: reg.upstream,
                    expires_at,
                    interval,
                },
                at,
            );
            started += 1;
        }
        if restored > 0 || started > 0 {
            info!(%why, bindings = all.len(), restored, started, "keeper: registrations rebuilt from the push store");
        }
    }

    /// Where a stored device registers: its X-Sy.Upperproxy / -Uppersrv
    /// when client selection allows it, else the default upstream.
    async fn upstream_for(&self, b: &Binding) -> Option<Destination> {
        let policy = self.proxy.upstream_policy()?;
        let chosen = if policy.client_selection {
            [&b.upstream.proxy, &b.upstream.server]
                .into_iter()
                .flatten()
                .filter_map(|v| Hop::parse(v))
                .find(|h| policy.allowed(h))
        } else {
            None
        };
        chosen.or_else(|| policy.default.clone())?.resolve().await
    }
}

//! Cluster coordination next to the bindings (same Redis, same prefix):
//! where each device is live now, who delivers a held request, and which
//! gateways are up.
//!
//! Keys (`<p>` = the prefix; `{<aor>}` a hash tag, so one user's keys
//! share a cluster slot and each script is single-slot):
//!
//! - `<p>:{<aor>}:live` — hash: registrar identity → [`Location`] as JSON,
//!   the gateway, boot and registration token the device is connected
//!   through now. Removed when that connection closes.
//! - `<p>:{<aor>}:gen` — the user's live-location generation, bumped on
//!   every change: a gateway that missed a notification sees it moved.
//! - `<p>:{<aor>}:claim:<what>` — `SET NX EX`: the first gateway to write
//!   it delivers (or pushes) `<what>`; every other one stands down.
//! - `<p>:{<aor>}:keeper:<device>` — [`KeeperLease`]: which gateway keeps
//!   the device's upstream registration, in which Call-ID and up to which
//!   CSeq; changed only by compare-and-set.
//! - `<p>:{<aor>}:msgs` — hash: `<Call-ID>|<CSeq>|<device>` →
//!   [`HeldMessage`], a MESSAGE answered 202 and held for a sleeping
//!   device, so another gateway delivers it should its holder die.
//! - `<p>:node:<id>` — a gateway's heartbeat ([`NodeInfo`]), with expiry;
//!   `<p>:nodes` the set of gateway ids ever seen (stale ones dropped on read).
//!
//! Changes are announced on the channel `<p>:live` (the message is the
//! AOR). Pub/sub is at-most-once: readers also poll the generation.

use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ::redis::Script;
use serde::{Deserialize, Serialize};

use super::conn::Pool;
use crate::StoreError;

/// Where a device is connected now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The gateway's `node_id`.
    pub node: String,
    /// That gateway process's boot id: a restarted gateway has no flows.
    pub boot: String,
    /// The gateway's internal SIP URI (node-to-node hops).
    pub sip: String,
    /// The registration token on that gateway (its Path user part).
    pub token: String,
    /// Unix seconds when the device registered there.
    pub at: i64,
}

/// One gateway, as its heartbeat says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: String,
    pub boot: String,
    /// Internal SIP URI.
    pub sip: String,
    /// Unix seconds.
    pub started_at: i64,
    pub seen_at: i64,
    /// Open connections / flows.
    pub flows: u64,
    /// Requests held for push wake-up.
    pub holding: u64,
}

/// Which gateway keeps a sleeping device's upstream registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeeperLease {
    pub node: String,
    pub boot: String,
    /// Bumped on every change of holder (fencing: a holder that lost the
    /// lease fails its next compare-and-set).
    pub epoch: u64,
    /// The registration's Call-ID and From tag, kept across holders.
    pub call_id: String,
    pub from_tag: String,
    /// The highest CSeq a holder may have used.
    pub cseq: u32,
}

/// A MESSAGE held for one sleeping device, as the holding gateway
/// shared it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldMessage {
    /// `<Call-ID>|<CSeq>|<device>` (the field name).
    pub id: String,
    pub call_id: String,
    pub holder: String,
    pub boot: String,
    /// The device's binding key and Contact.
    pub device: String,
    pub contact: String,
    /// The request as received, hex-encoded (bodies need not be UTF-8).
    pub request: String,
    /// Unix seconds: undelivered after this, it is dropped.
    pub expires_at: i64,
}

/// What the subscription reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceEvent {
    /// A user's live locations changed.
    Changed(String),
    /// (Re)subscribed: notifications may have been missed meanwhile.
    Resync,
}

/// Sets one live location and bumps the generation; returns it.
static SET_LIVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local g = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return g",
    )
});

/// Removes a live location if it is still the given one.
static CLEAR_LIVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[2])
return 1",
    )
});

/// Replaces a value if it is still the expected one ('' = absent).
static SWAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1",
    )
});

/// Keeper leases outlive their last change by this (a device kept that
/// long is refreshed far more often).
const LEASE_TTL_SECS: u64 = 7 * 86_400;

/// Live locations outlive a silent gateway by at most this (the
/// heartbeat decides earlier; this only bounds garbage).
const LIVE_TTL_SECS: u64 = 86_400;

/// The cluster coordination of one gateway (blocking; call from
/// `spawn_blocking` or a thread).
#[derive(Clone)]
pub struct Presence {
    pool: Arc<Pool>,
    prefix: String,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("target", &self.pool.target)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Presence {
    pub(super) fn new(pool: Arc<Pool>, prefix: String) -> Self {
        Presence { pool, prefix }
    }

    fn live_key(&self, aor: &str) -> String {
        format!("{}:{{{aor}}}:live", self.prefix)
    }
    fn gen_key(&self, aor: &str) -> String {
        format!("{}:{{{aor}}}:gen", self.prefix)
    }
    fn claim_key(&self, aor: &str, what: &str) -> String {
        format!("{}:{{{aor}}}:claim:{what}", self.prefix)
    }
    fn lease_key(&self, aor: &str, device: &str) -> String {
        format!("{}:{{{aor}}}:keeper:{device}", self.prefix)
    }
    fn node_key(&self, id: &str) -> String {
        format!("{}:node:{id}", self.prefix)
    }
    fn nodes_key(&self) -> String {
        format!("{}:nodes", self.prefix)
    }
    /// The notification channel.
    pub fn channel(&self) -> String {
        format!("{}:live", self.prefix)
    }

    /// Records that `identity` of `aor` is connected at `loc`, and
    /// announces it. Returns the user's new generation.
    pub fn set_live(&self, aor: &str, identity: &str, loc: &Location) -> Result<u64, StoreError> {
        let json = serde_json::to_string(loc).expect("a location serializes");
        let (live, generation, channel) = (self.live_key(aor), self.gen_key(aor), self.channel());
        self.pool.run(|c| {
            let g: u64 = SET_LIVE
                .key(&live)
                .key(&generation)
                .arg(identity)
                .arg(&json)
                .arg(LIVE_TTL_SECS)
                .invoke(c.link())?;
            ::redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(aor)
                .exec(c.link())?;
            Ok(g)
        })
    }

    /// Removes `identity`'s live location if it is still `loc` (a newer
    /// registration elsewhere stays). Returns whether it was removed.
    pub fn clear_live(
        &self,
        aor: &str,
        identity: &str,
        loc: &Location,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(loc).expect("a location serializes");
        let (live, generation, channel) = (self.live_key(aor), self.gen_key(aor), self.channel());
        self.pool.run(|c| {
            let removed: i64 = CLEAR_LIVE
                .key(&live)
                .key(&generation)
                .arg(identity)
                .arg(&json)
                .invoke(c.link())?;
            if removed == 1 {
                ::redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg(aor)
                    .exec(c.link())?;
            }
            Ok(removed == 1)
        })
    }

    /// The user's generation and live locations (unreadable entries are
    /// skipped: they name no usable location).
    pub fn live(&self, aor: &str) -> Result<(u64, Vec<(String, Location)>), StoreError> {
        let (live, generation) = (self.live_key(aor), self.gen_key(aor));
        self.pool.run(|c| {
            let g: Option<u64> = ::redis::cmd("GET").arg(&generation).query(c.link())?;
            let all: Vec<(String, String)> = ::redis::cmd("HGETALL").arg(&live).query(c.link())?;
            let list = all
                .into_iter()
                .filter_map(|(id, json)| Some((id, serde_json::from_str(&json).ok()?)))
                .collect();
            Ok((g.unwrap_or(0), list))
        })
    }

    /// The user's generation alone (0: never set).
    pub fn generation(&self, aor: &str) -> Result<u64, StoreError> {
        let key = self.gen_key(aor);
        self.pool.run(|c| {
            let g: Option<u64> = ::redis::cmd("GET").arg(&key).query(c.link())?;
            Ok(g.unwrap_or(0))
        })
    }

    /// Claims `what` of `aor` for `holder` for `ttl`: `true` for exactly
    /// one caller among all gateways until the claim expires.
    pub fn claim(
        &self,
        aor: &str,
        what: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let key = self.claim_key(aor, what);
        let secs = ttl.as_secs().max(1);
        self.pool.run(|c| {
            let set: Option<String> = ::redis::cmd("SET")
                .arg(&key)
                .arg(holder)
                .arg("NX")
                .arg("EX")
                .arg(secs)
                .query(c.link())?;
            Ok(set.is_some())
        })
    }

    /// Who holds a claim, if anyone.
    pub fn claimant(&self, aor: &str, what: &str) -> Result<Option<String>, StoreError> {
        let key = self.claim_key(aor, what);
        self.pool
            .run(|c| Ok(::redis::cmd("GET").arg(&key).query(c.link())?))
    }

    /// The keeper lease of a device, with its stored text (for
    /// [`Presence::swap_lease`]). An unreadable lease reads as absent.
    pub fn lease(
        &self,
        aor: &str,
        device: &str,
    ) -> Result<Option<(String, KeeperLease)>, StoreError> {
        let key = self.lease_key(aor, device);
        let raw: Option<String> = self
            .pool
            .run(|c| Ok(::redis::cmd("GET").arg(&key).query(c.link())?))?;
        Ok(raw.and_then(|r| {
            let l = serde_json::from_str(&r).ok()?;
            Some((r, l))
        }))
    }

    /// Sets the lease to `new` if its stored text is still `expected`
    /// (`None`: no lease). `true` when it was set.
    pub fn swap_lease(
        &self,
        aor: &str,
        device: &str,
        expected: Option<&str>,
        new: &KeeperLease,
    ) -> Result<bool, StoreError> {
        let key = self.lease_key(aor, device);
        let json = serde_json::to_string(new).expect("a lease serializes");
        self.pool.run(|c| {
            let set: i64 = SWAP
                .key(&key)
                .arg(expected.unwrap_or(""))
                .arg(&json)
                .arg(LEASE_TTL_SECS)
                .invoke(c.link())?;
            Ok(set == 1)
        })
    }

    fn msgs_key(&self, aor: &str) -> String {
        format!("{}:{{{aor}}}:msgs", self.prefix)
    }

    /// Shares a held MESSAGE (kept at most `ttl`).
    pub fn keep_message(
        &self,
        aor: &str,
        m: &HeldMessage,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = self.msgs_key(aor);
        let json = serde_json::to_string(m).expect("a message serializes");
        let secs = ttl.as_secs().max(1);
        self.pool.run(|c| {
            ::redis::cmd("HSET")
                .arg(&key)
                .arg(&m.id)
                .arg(&json)
                .exec(c.link())?;
            // The key lives as long as its newest message might.
            let left: i64 = ::redis::cmd("TTL").arg(&key).query(c.link())?;
            if left < secs as i64 {
                ::redis::cmd("EXPIRE").arg(&key).arg(secs).exec(c.link())?;
            }
            Ok(())
        })
    }

    /// The MESSAGEs held for `aor`'s devices (unreadable entries skipped).
    pub fn messages(&self, aor: &str) -> Result<Vec<HeldMessage>, StoreError> {
        let key = self.msgs_key(aor);
        self.pool.run(|c| {
            let all: Vec<String> = ::redis::cmd("HVALS").arg(&key).query(c.link())?;
            Ok(all
                .iter()
                .filter_map(|j| serde_json::from_str(j).ok())
                .collect())
        })
    }

    /// Removes a held MESSAGE (delivered or given up).
    pub fn drop_message(&self, aor: &str, id: &str) -> Result<(), StoreError> {
        let key = self.msgs_key(aor);
        self.pool.run(|c| {
            ::redis::cmd("HDEL").arg(&key).arg(id).exec(c.link())?;
            Ok(())
        })
    }

    /// Writes this gateway's heartbeat, valid for `ttl`.
    pub fn heartbeat(&self, node: &NodeInfo, ttl: Duration) -> Result<(), StoreError> {
        let json = serde_json::to_string(node).expect("a node serializes");
        let (key, nodes) = (self.node_key(&node.id), self.nodes_key());
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.pool.run(|c| {
            ::redis::cmd("SET")
                .arg(&key)
                .arg(&json)
                .arg("PX")
                .arg(ms)
                .exec(c.link())?;
            ::redis::cmd("SADD")
                .arg(&nodes)
                .arg(&node.id)
                .exec(c.link())?;
            Ok(())
        })
    }

    /// Removes this gateway's heartbeat (clean shutdown).
    pub fn leave(&self, id: &str) -> Result<(), StoreError> {
        let key = self.node_key(id);
        self.pool.run(|c| {
            ::redis::cmd("DEL").arg(&key).exec(c.link())?;
            Ok(())
        })
    }

    /// The gateways whose heartbeat is current, by id.
    pub fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        let set = self.nodes_key();
        let ids: Vec<String> = self
            .pool
            .run(|c| Ok(::redis::cmd("SMEMBERS").arg(&set).query(c.link())?))?;
        let mut out = Vec::new();
        for id in ids {
            let key = self.node_key(&id);
            let json: Option<String> = self
                .pool
                .run(|c| Ok(::redis::cmd("GET").arg(&key).query(c.link())?))?;
            match json.and_then(|j| serde_json::from_str::<NodeInfo>(&j).ok()) {
                Some(n) => out.push(n),
                // Gone for good unless it comes back (then it adds itself).
                None => self.pool.run(|c| {
                    ::redis::cmd("SREM").arg(&set).arg(&id).exec(c.link())?;
                    Ok(())
                })?,
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Runs the subscription on this thread until `stop` is set: every
    /// notification and every (re)subscription goes to `on_event`. A lost
    /// connection is retried (after `retry`), followed by `Resync`.
    pub fn subscribe(
        &self,
        stop: &AtomicBool,
        retry: Duration,
        mut on_event: impl FnMut(PresenceEvent),
    ) {
        let channel = self.channel();
        while !stop.load(Ordering::Relaxed) {
            let result = self.pool.subscriber().and_then(|mut conn| {
                let err = |e: ::redis::RedisError| self.pool.error(&e);
                conn.set_read_timeout(Some(Duration::from_millis(500)))
                    .map_err(err)?;
                let mut ps = conn.as_pubsub();
                ps.subscribe(&channel).map_err(err)?;
                on_event(PresenceEvent::Resync);
                while !stop.load(Ordering::Relaxed) {
                    match ps.get_message() {
                        Ok(msg) => {
                            if let Ok(aor) = msg.get_payload::<String>() {
                                on_event(PresenceEvent::Changed(aor));
                            }
                        }
                        Err(e) if e.is_timeout() => {}
                        Err(e) => return Err(err(e)),
                    }
                }
                Ok(())
            });
            if result.is_err() && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(retry);
            }
        }
    }
}

//! The Redis / Valkey binding store, for gateways that share their bindings
//! (issue 11). Standalone, Redis Cluster and Sentinel alike.
//!
//! Key layout (`<p>` = the configured prefix, default `sipwake`):
//!
//! - `<p>:{<aor>}:devices` — a hash per user: for each device key `d`,
//!   field `c:<d>` = `<last seen>|<binding as compact JSON>` (last seen in
//!   unix seconds; the X-PIID sealed with the store key and `aor|device`
//!   as associated data, as in SQLite, hex-encoded), `f:<d>` = consecutive
//!   push failures (absent when 0). Earlier versions kept last seen in an
//!   `s:<d>` field; such values are read, and rewritten on the next
//!   change. The `{<aor>}` hash tag
//!   puts a user's data in one cluster slot, so every change is one
//!   single-key Lua script (atomic).
//! - `<p>:users` — the set of AORs with bindings, for `all`, `users`,
//!   `expire_inactive` and `remove_token`.
//!
//! There is no index by push token: the gateway removes a dead token's
//! binding by its device, and `remove_token` walks the users instead
//! (about 440 bytes of Redis memory per binding saved, and one write less
//! per new binding).
//! - `<p>:keycheck` — a value sealed with the store key: a gateway with
//!   another key refuses to start instead of failing on every X-PIID.
//!
//! The user index lives in another slot than the data, so it is kept
//! apart from it with an invariant instead of a transaction: it never
//! misses a user with bindings. Writers add the user before (and again
//! after) writing a binding and remove it only after the user's last
//! binding is gone, re-checking afterwards; readers skip users without
//! bindings.
//! Changes are compare-and-set on the stored JSON (a concurrent change is
//! re-read and retried), so `upsert` decides "changed or only the clock"
//! on decrypted content like SQLite does.

mod conn;
#[cfg(any(test, feature = "test-harness"))]
pub mod harness;
mod presence;
#[cfg(test)]
mod presence_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use ::redis::Script;
use serde::{Deserialize, Serialize};

use conn::{Conn, Fail, Pool};
pub use conn::{
    RedisOptions, RedisServers, RedisUrl, SentinelServers, check_redis_url, redact_url,
};
pub use presence::{HeldMessage, KeeperLease, Location, NodeInfo, Presence, PresenceEvent};

use crate::binding::{
    Binding, BindingSource, Piid, PushTarget, Upstream, UserSummary, env_from, provider_from,
};
use crate::crypto::PiidCipher;
use crate::{BindingStore, StoreError};

/// How often a compare-and-set that lost a race is retried.
const CAS_ROUNDS: usize = 16;
/// Keys read per pipeline by `all`, `users` and `expire_inactive`.
const BATCH: usize = 200;

/// Lua helpers for a `c:` value, `<last seen>|<json>` (earlier versions:
/// the JSON alone, last seen in the `s:` field).
const VALUE_LUA: &str = r"
local function json_of(v)
  if not v then return nil end
  if string.sub(v, 1, 1) == '{' then return v end
  local p = string.find(v, '|', 1, true)
  if not p then return v end
  return string.sub(v, p + 1)
end
local function seen_of(v)
  if not v or string.sub(v, 1, 1) == '{' then return nil end
  local p = string.find(v, '|', 1, true)
  if not p then return nil end
  return string.sub(v, 1, p - 1)
end
";

fn lua(body: &str) -> Script {
    Script::new(&format!("{VALUE_LUA}{body}"))
}

/// Sets last_seen when the content is still the expected one.
static SEEN: LazyLock<Script> = LazyLock::new(|| {
    lua(r"
local cur = json_of(redis.call('HGET', KEYS[1], 'c:' .. ARGV[1]))
if cur ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'c:' .. ARGV[1], ARGV[3] .. '|' .. cur)
redis.call('HDEL', KEYS[1], 's:' .. ARGV[1])
return 1")
});

/// Writes a binding when the content is still the expected one ('' =
/// absent).
static PUT: LazyLock<Script> = LazyLock::new(|| {
    lua(r"
local cur = json_of(redis.call('HGET', KEYS[1], 'c:' .. ARGV[1]))
if (cur or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'c:' .. ARGV[1], ARGV[4] .. '|' .. ARGV[3])
redis.call('HDEL', KEYS[1], 's:' .. ARGV[1])
if ARGV[5] == '0' then
  redis.call('HDEL', KEYS[1], 'f:' .. ARGV[1])
else
  redis.call('HSET', KEYS[1], 'f:' .. ARGV[1], ARGV[5])
end
return 1")
});

static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    lua(r"
local v = redis.call('HGET', KEYS[1], 'c:' .. ARGV[1])
if not v then return 0 end
redis.call('HSET', KEYS[1], 'c:' .. ARGV[1], ARGV[2] .. '|' .. json_of(v))
redis.call('HDEL', KEYS[1], 's:' .. ARGV[1], 'f:' .. ARGV[1])
return 1")
});

static FAIL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HEXISTS', KEYS[1], 'c:' .. ARGV[1]) == 0 then return 0 end
return redis.call('HINCRBY', KEYS[1], 'f:' .. ARGV[1], 1)",
    )
});

/// Deletes devices whose content is still the expected one (and, with a
/// cutoff in ARGV[1], that were last seen before it). ARGV[2..] = device,
/// expected content pairs. Returns the fields left, then device, last
/// seen, failures of each deleted one.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    lua(r"
local out = {''}
local cutoff = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  local d = ARGV[i]
  local v = redis.call('HGET', KEYS[1], 'c:' .. d)
  if json_of(v) == ARGV[i + 1] then
    local seen = seen_of(v) or redis.call('HGET', KEYS[1], 's:' .. d) or '0'
    if cutoff == nil or (tonumber(seen) or 0) < cutoff then
      local fails = redis.call('HGET', KEYS[1], 'f:' .. d) or '0'
      redis.call('HDEL', KEYS[1], 'c:' .. d, 's:' .. d, 'f:' .. d)
      table.insert(out, d)
      table.insert(out, seen)
      table.insert(out, fails)
    end
  end
end
out[1] = tostring(redis.call('HLEN', KEYS[1]))
return out")
});

/// The stored form of a binding, without the clock fields (`last_seen`,
/// `push_failures` have their own hash fields). Short names and no
/// `null`s: Redis holds every byte of it per device; the long names of
/// earlier versions are still read.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    #[serde(rename = "v", alias = "provider")]
    provider: String,
    #[serde(rename = "e", alias = "env")]
    env: String,
    #[serde(rename = "k", alias = "package")]
    package: String,
    #[serde(rename = "t", alias = "token")]
    token: String,
    #[serde(rename = "o", alias = "source")]
    source: String,
    #[serde(rename = "c", alias = "contact")]
    contact: String,
    #[serde(
        rename = "u",
        alias = "auth_user",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    auth_user: Option<String>,
    /// Hex of nonce + ciphertext.
    #[serde(
        rename = "x",
        alias = "piid",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    piid: Option<String>,
    #[serde(
        rename = "us",
        alias = "upstream_server",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    upstream_server: Option<String>,
    #[serde(
        rename = "up",
        alias = "upstream_proxy",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    upstream_proxy: Option<String>,
    #[serde(
        rename = "ud",
        alias = "upstream_domain",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    upstream_domain: Option<String>,
    #[serde(
        rename = "a",
        alias = "user_agent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    user_agent: Option<String>,
    #[serde(rename = "ct", alias = "created_at")]
    created_at: i64,
    #[serde(
        rename = "ue",
        alias = "upstream_expires_at",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    upstream_expires_at: Option<i64>,
    #[serde(
        rename = "ae",
        alias = "app_expires",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    app_expires: Option<u32>,
}

/// One device's fields in a user's hash.
#[derive(Debug, Default, Clone)]
struct Raw {
    content: Option<String>,
    seen: Option<String>,
    fails: Option<String>,
}

/// A `c:` value's (last seen, JSON): `<last seen>|<json>`, or an earlier
/// version's JSON alone.
fn split_value(v: &str) -> (Option<&str>, &str) {
    match v.split_once('|') {
        Some((seen, json)) if !v.starts_with('{') => (Some(seen), json),
        _ => (None, v),
    }
}

/// A user's hash, by device.
type Devices = BTreeMap<String, Raw>;

fn group(fields: BTreeMap<String, String>) -> Devices {
    let mut out = Devices::new();
    for (field, value) in fields {
        let Some((kind, device)) = field.split_once(':') else {
            continue;
        };
        let raw = out.entry(device.to_string()).or_default();
        match kind {
            "c" => {
                let (seen, json) = split_value(&value);
                if let Some(seen) = seen {
                    raw.seen = Some(seen.to_owned());
                }
                raw.content = Some(json.to_owned());
            }
            // An earlier version's field; the value's own clock wins.
            "s" => {
                raw.seen.get_or_insert(value);
            }
            "f" => raw.fails = Some(value),
            _ => {}
        }
    }
    out.retain(|_, raw| raw.content.is_some());
    out
}

/// Key names under the prefix.
struct Keys {
    prefix: String,
}

impl Keys {
    fn user(&self, aor: &str) -> String {
        format!("{}:{{{aor}}}:devices", self.prefix)
    }
    fn users(&self) -> String {
        format!("{}:users", self.prefix)
    }
    fn keycheck(&self) -> String {
        format!("{}:keycheck", self.prefix)
    }
}

const KEYCHECK_TEXT: &str = "sipwake binding store key check";

/// Redis-backed [`BindingStore`].
pub struct RedisStore {
    pool: Arc<Pool>,
    cipher: PiidCipher,
    keys: Keys,
    /// Replicas every change must reach (`WAIT`).
    wait_replicas: u32,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.pool.target)
            .field("prefix", &self.keys.prefix)
            .finish()
    }
}

impl RedisStore {
    /// Connects (an unreachable Redis is an error here, at startup) and
    /// checks that the bindings under this prefix were sealed with the same
    /// key.
    pub fn open(options: &RedisOptions, cipher: PiidCipher) -> Result<Self, StoreError> {
        let store = RedisStore {
            pool: Arc::new(Pool::open(options)?),
            cipher,
            keys: Keys {
                prefix: options.prefix.clone(),
            },
            wait_replicas: options.wait_replicas,
        };
        if store.wait_replicas > 0 && store.pool.is_cluster() {
            return Err(StoreError::Redis {
                target: store.pool.target.clone(),
                reason: "waiting for replicas (redis_wait_replicas) is not supported on Redis Cluster yet".into(),
            });
        }
        store.check_key()?;
        Ok(store)
    }

    /// The cluster coordination on the same servers and prefix.
    pub fn presence(&self) -> Presence {
        Presence::new(self.pool.clone(), self.keys.prefix.clone())
    }

    /// What the store talks to, for logs: addresses, never credentials.
    pub fn target(&self) -> &str {
        &self.pool.target
    }

    fn check_key(&self) -> Result<(), StoreError> {
        let key = self.keys.keycheck();
        let sealed = hex::encode(self.cipher.seal(KEYCHECK_TEXT, &key));
        let stored: String = self.pool.run(|c| {
            // The first gateway's key wins; SET NX then GET works on
            // every Redis / Valkey version.
            ::redis::cmd("SET")
                .arg(&key)
                .arg(&sealed)
                .arg("NX")
                .query::<Option<String>>(c.link())?;
            let stored: Option<String> = ::redis::cmd("GET").arg(&key).query(c.link())?;
            Ok(stored.unwrap_or_default())
        })?;
        let opened = hex::decode(&stored)
            .ok()
            .and_then(|b| self.cipher.open(&b, &key));
        if opened.as_deref() == Some(KEYCHECK_TEXT) {
            Ok(())
        } else {
            Err(StoreError::KeyMismatch {
                store: format!("{} prefix `{}`", self.pool.target, self.keys.prefix),
            })
        }
    }

    fn aad(aor: &str, device: &str) -> String {
        format!("{aor}|{device}")
    }

    fn encode(&self, b: &Binding, created_at: i64) -> String {
        let stored = Stored {
            provider: b.push.provider.letter().to_string(),
            env: b.push.env.letter().to_string(),
            package: b.push.package.clone(),
            token: b.push.token.clone(),
            source: b.source.as_str().to_string(),
            contact: b.contact.clone(),
            auth_user: b.auth_user.clone(),
            piid: b
                .piid
                .as_ref()
                .map(|p| hex::encode(self.cipher.seal(p.expose(), &Self::aad(&b.aor, &b.device)))),
            upstream_server: b.upstream.server.clone(),
            upstream_proxy: b.upstream.proxy.clone(),
            upstream_domain: b.upstream.domain.clone(),
            user_agent: b.user_agent.clone(),
            created_at,
            upstream_expires_at: b.upstream_expires_at,
            app_expires: b.app_expires,
        };
        serde_json::to_string(&stored).expect("a binding serializes")
    }

    /// The binding in `content`, with the clock fields from `seen` and
    /// `fails`.
    fn decode(
        &self,
        aor: &str,
        device: &str,
        content: &str,
        seen: Option<&str>,
        fails: Option<&str>,
    ) -> Result<Binding, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            aor: aor.to_string(),
            reason: format!("device {device}: {reason}"),
        };
        let s: Stored = serde_json::from_str(content).map_err(|e| corrupt(e.to_string()))?;
        let provider = provider_from(&s.provider).ok_or_else(|| corrupt("provider".into()))?;
        let env = env_from(&s.env).ok_or_else(|| corrupt("env".into()))?;
        let source = BindingSource::parse(&s.source).ok_or_else(|| corrupt("source".into()))?;
        let piid = match s.piid {
            Some(h) => {
                let sealed = hex::decode(h).map_err(|_| corrupt("piid".into()))?;
                Some(Piid::new(
                    self.cipher
                        .open(&sealed, &Self::aad(aor, device))
                        .ok_or_else(|| StoreError::Decrypt {
                            aor: aor.to_string(),
                        })?,
                ))
            }
            None => None,
        };
        let last_seen = match seen {
            Some(v) => v.parse().map_err(|_| corrupt("last seen".into()))?,
            None => return Err(corrupt("no last seen".into())),
        };
        let push_failures = match fails {
            Some(v) => v.parse().map_err(|_| corrupt("push failures".into()))?,
            None => 0,
        };
        Ok(Binding {
            aor: aor.to_string(),
            device: device.to_string(),
            push: PushTarget {
                provider,
                env,
                package: s.package,
                token: s.token,
            },
            source,
            contact: s.contact,
            auth_user: s.auth_user,
            piid,
            upstream: Upstream {
                server: s.upstream_server,
                proxy: s.upstream_proxy,
                domain: s.upstream_domain,
            },
            user_agent: s.user_agent,
            created_at: s.created_at,
            last_seen,
            upstream_expires_at: s.upstream_expires_at,
            app_expires: s.app_expires,
            push_failures,
        })
    }

    fn decode_raw(&self, aor: &str, device: &str, raw: &Raw) -> Result<Binding, StoreError> {
        let content = raw.content.as_deref().unwrap_or_default();
        self.decode(
            aor,
            device,
            content,
            raw.seen.as_deref(),
            raw.fails.as_deref(),
        )
    }

    /// The token in stored content, without decrypting anything.
    fn token_of(content: &str) -> Option<String> {
        serde_json::from_str::<Stored>(content)
            .ok()
            .map(|s| s.token)
    }

    fn devices(&self, c: &mut Conn, aor: &str) -> Result<Devices, Fail> {
        let fields: BTreeMap<String, String> = ::redis::cmd("HGETALL")
            .arg(self.keys.user(aor))
            .query(c.link())?;
        Ok(group(fields))
    }

    /// The hashes of many users, in pipelines.
    fn many_devices(&self, c: &mut Conn, aors: &[String]) -> Result<Vec<Devices>, Fail> {
        let mut out = Vec::with_capacity(aors.len());
        for chunk in aors.chunks(BATCH) {
            let cmds = chunk.iter().map(|aor| {
                let mut cmd = ::redis::cmd("HGETALL");
                cmd.arg(self.keys.user(aor));
                cmd
            });
            let got: Vec<BTreeMap<String, String>> = c.pipeline(cmds)?;
            out.extend(got.into_iter().map(group));
        }
        Ok(out)
    }

    /// Every AOR in the user index, sorted.
    fn indexed_users(&self, c: &mut Conn) -> Result<Vec<String>, Fail> {
        let mut aors: Vec<String> = ::redis::cmd("SMEMBERS")
            .arg(self.keys.users())
            .query(c.link())?;
        aors.sort();
        Ok(aors)
    }

    fn sadd(&self, c: &mut Conn, key: String, member: &str) -> Result<(), Fail> {
        ::redis::cmd("SADD")
            .arg(key)
            .arg(member)
            .query::<i64>(c.link())?;
        Ok(())
    }

    /// The user index entry of a binding about to be written.
    fn add_indexes(&self, c: &mut Conn, b: &Binding) -> Result<(), Fail> {
        self.sadd(c, self.keys.users(), &b.aor)
    }

    /// Drops a user from the user index when they have no binding left,
    /// unless one appeared meanwhile.
    fn drop_user_if_empty(&self, c: &mut Conn, aor: &str) -> Result<(), Fail> {
        let key = self.keys.user(aor);
        let exists = |c: &mut Conn| -> Result<bool, Fail> {
            Ok(::redis::cmd("EXISTS").arg(&key).query::<i64>(c.link())? > 0)
        };
        if exists(c)? {
            return Ok(());
        }
        ::redis::cmd("SREM")
            .arg(self.keys.users())
            .arg(aor)
            .query::<i64>(c.link())?;
        if exists(c)? {
            self.sadd(c, self.keys.users(), aor)?;
        }
        Ok(())
    }

    /// Deletes the given (device, expected content) pairs of one user
    /// (with `cutoff`: only those last seen before it), cleans the indexes
    /// and returns what was deleted as (device, last seen, failures).
    fn delete(
        &self,
        c: &mut Conn,
        aor: &str,
        cutoff: Option<i64>,
        pairs: &[(&str, &str)],
    ) -> Result<Vec<(String, String, String)>, Fail> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = DELETE.key(self.keys.user(aor));
        inv.arg(cutoff.map(|c| c.to_string()).unwrap_or_default());
        for (device, content) in pairs {
            inv.arg(*device).arg(*content);
        }
        let reply: Vec<String> = inv.invoke(c.link())?;
        let left = reply.first().map(String::as_str);
        let deleted: Vec<(String, String, String)> = reply
            .get(1..)
            .unwrap_or_default()
            .chunks(3)
            .filter(|t| t.len() == 3)
            .map(|t| (t[0].clone(), t[1].clone(), t[2].clone()))
            .collect();
        if left == Some("0") {
            self.drop_user_if_empty(c, aor)?;
        }
        Ok(deleted)
    }

    /// `b` as it was deleted: with the clock fields the deletion saw.
    fn with_clock(mut b: Binding, seen: &str, fails: &str) -> Binding {
        b.last_seen = seen.parse().unwrap_or(b.last_seen);
        b.push_failures = fails.parse().unwrap_or(b.push_failures);
        b
    }

    /// With `wait_replicas`: the change just made on `c` reached that many
    /// replicas within the timeout (`WAIT`), else it does not count as
    /// stored (it stays on the master; the caller answers 503).
    fn replicated(&self, c: &mut Conn) -> Result<(), Fail> {
        if self.wait_replicas == 0 {
            return Ok(());
        }
        // Within the command timeout, which bounds the reply too.
        let ms =
            (u64::try_from(self.pool.timeout().as_millis()).unwrap_or(u64::MAX) * 3 / 4).max(1);
        let acked: i64 = ::redis::cmd("WAIT")
            .arg(self.wait_replicas)
            .arg(ms)
            .query(c.link())?;
        if acked >= i64::from(self.wait_replicas) {
            return Ok(());
        }
        Err(Fail::Store(StoreError::Redis {
            target: self.pool.target.clone(),
            reason: format!(
                "the change reached {acked} of {} replica(s) within {ms} ms ([store] redis_wait_replicas)",
                self.wait_replicas
            ),
        }))
    }

    fn lost_race(&self, what: &str) -> Fail {
        Fail::Store(StoreError::Redis {
            target: self.pool.target.clone(),
            reason: format!(
                "{what}: the binding kept changing under concurrent writers ({CAS_ROUNDS} tries)"
            ),
        })
    }
}

fn sort_bindings(v: &mut [Binding]) {
    v.sort_by(|a, b| (&a.aor, &a.device).cmp(&(&b.aor, &b.device)));
}

impl BindingStore for RedisStore {
    fn upsert(&self, b: &Binding) -> Result<bool, StoreError> {
        let key = self.keys.user(&b.aor);
        let field = format!("c:{}", b.device);
        self.pool.run(|c| {
            for _ in 0..CAS_ROUNDS {
                let value: Option<String> =
                    ::redis::cmd("HGET").arg(&key).arg(&field).query(c.link())?;
                let cur = value.as_deref().map(|v| split_value(v).1.to_owned());
                let old = match &cur {
                    Some(raw) => Some(self.decode(&b.aor, &b.device, raw, Some("0"), None)?),
                    None => None,
                };
                if let (Some(old), Some(raw)) = (&old, &cur)
                    && old.same_content(b)
                {
                    let done: i64 = SEEN
                        .key(&key)
                        .arg(&b.device)
                        .arg(raw)
                        .arg(b.last_seen)
                        .invoke(c.link())?;
                    if done == 1 {
                        return Ok(false);
                    }
                    continue;
                }
                let created_at = old.as_ref().map_or(b.created_at, |o| o.created_at);
                let content = self.encode(b, created_at);
                // Index first: an index may name a missing binding, never
                // miss one.
                self.add_indexes(c, b)?;
                let done: i64 = PUT
                    .key(&key)
                    .arg(&b.device)
                    .arg(cur.as_deref().unwrap_or_default())
                    .arg(&content)
                    .arg(b.last_seen)
                    .arg(b.push_failures)
                    .invoke(c.link())?;
                if done == 0 {
                    continue;
                }
                // Again: a remover may have dropped the entry between
                // the first add and the write.
                self.add_indexes(c, b)?;
                self.replicated(c)?;
                return Ok(true);
            }
            Err(self.lost_race("upsert"))
        })
    }

    fn touch(&self, aor: &str, device: &str, now: i64) -> Result<(), StoreError> {
        self.pool.run(|c| {
            TOUCH
                .key(self.keys.user(aor))
                .arg(device)
                .arg(now)
                .invoke::<i64>(c.link())?;
            Ok(())
        })
    }

    fn remove(&self, aor: &str, device: &str) -> Result<bool, StoreError> {
        let key = self.keys.user(aor);
        self.pool.run(|c| {
            for _ in 0..CAS_ROUNDS {
                let value: Option<String> = ::redis::cmd("HGET")
                    .arg(&key)
                    .arg(format!("c:{device}"))
                    .query(c.link())?;
                let Some(value) = value else {
                    return Ok(false);
                };
                let cur = split_value(&value).1;
                if !self.delete(c, aor, None, &[(device, cur)])?.is_empty() {
                    self.replicated(c)?;
                    return Ok(true);
                }
            }
            Err(self.lost_race("remove"))
        })
    }

    fn remove_user(&self, aor: &str) -> Result<Vec<Binding>, StoreError> {
        self.pool.run(|c| {
            let mut removed = Vec::new();
            for _ in 0..CAS_ROUNDS {
                let devices = self.devices(c, aor)?;
                if devices.is_empty() {
                    break;
                }
                let mut bindings = BTreeMap::new();
                for (device, raw) in &devices {
                    bindings.insert(device.as_str(), self.decode_raw(aor, device, raw)?);
                }
                let pairs: Vec<(&str, &str)> = devices
                    .iter()
                    .map(|(d, raw)| (d.as_str(), raw.content.as_deref().unwrap_or_default()))
                    .collect();
                for (device, seen, fails) in self.delete(c, aor, None, &pairs)? {
                    if let Some(b) = bindings.remove(device.as_str()) {
                        removed.push(Self::with_clock(b, &seen, &fails));
                    }
                }
            }
            self.drop_user_if_empty(c, aor)?;
            if !removed.is_empty() {
                self.replicated(c)?;
            }
            sort_bindings(&mut removed);
            Ok(removed)
        })
    }

    fn remove_token(&self, token: &str) -> Result<Vec<Binding>, StoreError> {
        // No token index (see the module docs): every user's hash, in
        // pipelines; the token is read without decrypting anything.
        self.pool.run(|c| {
            let aors = self.indexed_users(c)?;
            let mut removed = Vec::new();
            for (aor, devices) in aors.iter().zip(self.many_devices(c, &aors)?) {
                let mut hits = BTreeMap::new();
                for (device, raw) in &devices {
                    let content = raw.content.as_deref().unwrap_or_default();
                    if Self::token_of(content).as_deref() == Some(token) {
                        hits.insert(
                            device.as_str(),
                            (self.decode_raw(aor, device, raw)?, content),
                        );
                    }
                }
                let pairs: Vec<(&str, &str)> = hits.iter().map(|(d, (_, c))| (*d, *c)).collect();
                // A device changed meanwhile keeps its binding: it is no
                // longer the one with the dead token, or it will be seen
                // as such next time.
                for (device, seen, fails) in self.delete(c, aor, None, &pairs)? {
                    if let Some((b, _)) = hits.remove(device.as_str()) {
                        removed.push(Self::with_clock(b, &seen, &fails));
                    }
                }
            }
            if !removed.is_empty() {
                self.replicated(c)?;
            }
            sort_bindings(&mut removed);
            Ok(removed)
        })
    }

    fn user(&self, aor: &str) -> Result<Vec<Binding>, StoreError> {
        self.pool.run(|c| {
            let mut out = self
                .devices(c, aor)?
                .iter()
                .map(|(device, raw)| self.decode_raw(aor, device, raw))
                .collect::<Result<Vec<_>, _>>()?;
            out.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.device.cmp(&b.device)));
            Ok(out)
        })
    }

    fn get(&self, aor: &str, device: &str) -> Result<Option<Binding>, StoreError> {
        self.pool.run(|c| {
            let (content, seen, fails): (Option<String>, Option<String>, Option<String>) =
                ::redis::cmd("HMGET")
                    .arg(self.keys.user(aor))
                    .arg(format!("c:{device}"))
                    .arg(format!("s:{device}"))
                    .arg(format!("f:{device}"))
                    .query(c.link())?;
            match content {
                Some(value) => {
                    let (own_seen, json) = split_value(&value);
                    Ok(Some(self.decode(
                        aor,
                        device,
                        json,
                        own_seen.or(seen.as_deref()),
                        fails.as_deref(),
                    )?))
                }
                None => Ok(None),
            }
        })
    }

    fn all(&self) -> Result<Vec<Binding>, StoreError> {
        self.pool.run(|c| {
            let aors = self.indexed_users(c)?;
            let mut out = Vec::new();
            for (aor, devices) in aors.iter().zip(self.many_devices(c, &aors)?) {
                for (device, raw) in &devices {
                    out.push(self.decode_raw(aor, device, raw)?);
                }
            }
            Ok(out)
        })
    }

    fn users(&self) -> Result<Vec<UserSummary>, StoreError> {
        self.pool.run(|c| {
            let aors = self.indexed_users(c)?;
            let mut out = Vec::new();
            for (aor, devices) in aors.iter().zip(self.many_devices(c, &aors)?) {
                if devices.is_empty() {
                    continue;
                }
                let mut last_seen = i64::MIN;
                for (device, raw) in &devices {
                    let seen = raw
                        .seen
                        .as_deref()
                        .and_then(|s| s.parse::<i64>().ok())
                        .ok_or_else(|| StoreError::Corrupt {
                            aor: aor.clone(),
                            reason: format!("device {device}: last seen"),
                        })?;
                    last_seen = last_seen.max(seen);
                }
                out.push(UserSummary {
                    aor: aor.clone(),
                    devices: u32::try_from(devices.len()).unwrap_or(u32::MAX),
                    last_seen,
                });
            }
            Ok(out)
        })
    }

    fn record_push_failure(&self, aor: &str, device: &str) -> Result<u32, StoreError> {
        self.pool.run(|c| {
            let n: i64 = FAIL.key(self.keys.user(aor)).arg(device).invoke(c.link())?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
    }

    fn expire_inactive(&self, now: i64, max_offline_secs: i64) -> Result<Vec<Binding>, StoreError> {
        let cutoff = now.saturating_sub(max_offline_secs);
        self.pool.run(|c| {
            let aors = self.indexed_users(c)?;
            let mut removed = Vec::new();
            for (aor, devices) in aors.iter().zip(self.many_devices(c, &aors)?) {
                if devices.is_empty() {
                    // A user index entry left by an interrupted writer.
                    self.drop_user_if_empty(c, aor)?;
                    continue;
                }
                let mut old = BTreeMap::new();
                for (device, raw) in &devices {
                    let seen = raw.seen.as_deref().and_then(|s| s.parse::<i64>().ok());
                    if seen.is_some_and(|s| s < cutoff) {
                        old.insert(device.as_str(), (self.decode_raw(aor, device, raw)?, raw));
                    }
                }
                let pairs: Vec<(&str, &str)> = old
                    .iter()
                    .map(|(d, (_, raw))| (*d, raw.content.as_deref().unwrap_or_default()))
                    .collect();
                for (device, seen, fails) in self.delete(c, aor, Some(cutoff), &pairs)? {
                    if let Some((b, _)) = old.remove(device.as_str()) {
                        removed.push(Self::with_clock(b, &seen, &fails));
                    }
                }
            }
            if !removed.is_empty() {
                self.replicated(c)?;
            }
            sort_bindings(&mut removed);
            Ok(removed)
        })
    }
}

//! The embedded SQLite binding store (WAL, synchronous=FULL so a committed
//! write survives power loss before the REGISTER's 200 OK goes out).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Row, params};
use sipwake_core::mpush::{Provider, PushEnv};

use crate::binding::{Binding, BindingSource, Piid, PushTarget, Upstream, UserSummary};
use crate::crypto::PiidCipher;
use crate::{BindingStore, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bindings (
    aor TEXT NOT NULL,
    device TEXT NOT NULL,
    provider TEXT NOT NULL,
    env TEXT NOT NULL,
    package TEXT NOT NULL,
    token TEXT NOT NULL,
    source TEXT NOT NULL,
    contact TEXT NOT NULL,
    auth_user TEXT,
    piid BLOB,
    upstream_server TEXT,
    upstream_proxy TEXT,
    upstream_domain TEXT,
    user_agent TEXT,
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    upstream_expires_at INTEGER,
    push_failures INTEGER NOT NULL DEFAULT 0,
    app_expires INTEGER,
    PRIMARY KEY (aor, device)
);
CREATE INDEX IF NOT EXISTS bindings_token ON bindings(token);
CREATE INDEX IF NOT EXISTS bindings_last_seen ON bindings(last_seen);
";

const COLUMNS: &str = "aor, device, provider, env, package, token, source, contact, auth_user, piid, \
     upstream_server, upstream_proxy, upstream_domain, user_agent, created_at, last_seen, \
     upstream_expires_at, push_failures, app_expires";

/// Columns added after the first release, for stores created before them
/// (`CREATE TABLE IF NOT EXISTS` leaves an existing table as it was).
const ADDED_COLUMNS: &[(&str, &str)] = &[("app_expires", "INTEGER")];

fn add_missing_columns(conn: &Connection) -> Result<(), StoreError> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('bindings')")?;
    let have: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for (name, ty) in ADDED_COLUMNS {
        if !have.iter().any(|h| h == name) {
            conn.execute_batch(&format!("ALTER TABLE bindings ADD COLUMN {name} {ty}"))?;
        }
    }
    Ok(())
}

/// SQLite-backed [`BindingStore`].
pub struct SqliteStore {
    conn: Mutex<Connection>,
    cipher: PiidCipher,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path, cipher: PiidCipher) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?, cipher)
    }

    /// An in-memory store, for tests and for running without a data dir.
    pub fn in_memory(cipher: PiidCipher) -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?, cipher)
    }

    fn init(conn: Connection, cipher: PiidCipher) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        add_missing_columns(&conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            cipher,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent
        // (statements are atomic), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn aad(aor: &str, device: &str) -> String {
        format!("{aor}|{device}")
    }

    fn decode_row(&self, row: &Row<'_>) -> Result<Binding, StoreError> {
        let aor: String = row.get(0)?;
        let device: String = row.get(1)?;
        let corrupt = |reason: &str| StoreError::Corrupt {
            aor: aor.clone(),
            reason: reason.to_string(),
        };
        let provider =
            provider_from(&row.get::<_, String>(2)?).ok_or_else(|| corrupt("provider"))?;
        let env = env_from(&row.get::<_, String>(3)?).ok_or_else(|| corrupt("env"))?;
        let source =
            BindingSource::parse(&row.get::<_, String>(6)?).ok_or_else(|| corrupt("source"))?;
        let piid = match row.get::<_, Option<Vec<u8>>>(9)? {
            Some(sealed) => Some(Piid::new(
                self.cipher
                    .open(&sealed, &Self::aad(&aor, &device))
                    .ok_or_else(|| StoreError::Decrypt { aor: aor.clone() })?,
            )),
            None => None,
        };
        Ok(Binding {
            push: PushTarget {
                provider,
                env,
                package: row.get(4)?,
                token: row.get(5)?,
            },
            source,
            contact: row.get(7)?,
            auth_user: row.get(8)?,
            piid,
            upstream: Upstream {
                server: row.get(10)?,
                proxy: row.get(11)?,
                domain: row.get(12)?,
            },
            user_agent: row.get(13)?,
            created_at: row.get(14)?,
            last_seen: row.get(15)?,
            upstream_expires_at: row.get(16)?,
            push_failures: row.get(17)?,
            app_expires: row.get(18)?,
            aor,
            device,
        })
    }

    fn query(
        &self,
        conn: &Connection,
        where_sql: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Binding>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM bindings {where_sql}");
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(args)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(self.decode_row(row)?);
        }
        Ok(out)
    }
}

fn provider_from(s: &str) -> Option<Provider> {
    [
        Provider::AndroidFcm,
        Provider::Apns,
        Provider::IosFcm,
        Provider::WebPush,
    ]
    .into_iter()
    .find(|p| s.len() == 1 && s.starts_with(p.letter()))
}

fn env_from(s: &str) -> Option<PushEnv> {
    [PushEnv::Default, PushEnv::Sandbox, PushEnv::Production]
        .into_iter()
        .find(|e| s.len() == 1 && s.starts_with(e.letter()))
}

impl BindingStore for SqliteStore {
    fn upsert(&self, b: &Binding) -> Result<bool, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let existing = self.query(&tx, "WHERE aor = ?1 AND device = ?2", &[&b.aor, &b.device])?;
        if let Some(old) = existing.first()
            && old.same_content(b)
        {
            tx.execute(
                "UPDATE bindings SET last_seen = ?3 WHERE aor = ?1 AND device = ?2",
                params![b.aor, b.device, b.last_seen],
            )?;
            tx.commit()?;
            return Ok(false);
        }
        let created_at = existing.first().map_or(b.created_at, |old| old.created_at);
        let piid = b
            .piid
            .as_ref()
            .map(|p| self.cipher.seal(p.expose(), &Self::aad(&b.aor, &b.device)));
        tx.execute(
            &format!(
                "INSERT OR REPLACE INTO bindings ({COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
            ),
            params![
                b.aor,
                b.device,
                b.push.provider.letter().to_string(),
                b.push.env.letter().to_string(),
                b.push.package,
                b.push.token,
                b.source.as_str(),
                b.contact,
                b.auth_user,
                piid,
                b.upstream.server,
                b.upstream.proxy,
                b.upstream.domain,
                b.user_agent,
                created_at,
                b.last_seen,
                b.upstream_expires_at,
                b.push_failures,
                b.app_expires,
            ],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn touch(&self, aor: &str, device: &str, now: i64) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE bindings SET last_seen = ?3, push_failures = 0 WHERE aor = ?1 AND device = ?2",
            params![aor, device, now],
        )?;
        Ok(())
    }

    fn remove(&self, aor: &str, device: &str) -> Result<bool, StoreError> {
        let n = self.lock().execute(
            "DELETE FROM bindings WHERE aor = ?1 AND device = ?2",
            params![aor, device],
        )?;
        Ok(n > 0)
    }

    fn remove_user(&self, aor: &str) -> Result<Vec<Binding>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let removed = self.query(&tx, "WHERE aor = ?1", &[&aor])?;
        tx.execute("DELETE FROM bindings WHERE aor = ?1", params![aor])?;
        tx.commit()?;
        Ok(removed)
    }

    fn remove_token(&self, token: &str) -> Result<Vec<Binding>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let removed = self.query(&tx, "WHERE token = ?1", &[&token])?;
        tx.execute("DELETE FROM bindings WHERE token = ?1", params![token])?;
        tx.commit()?;
        Ok(removed)
    }

    fn user(&self, aor: &str) -> Result<Vec<Binding>, StoreError> {
        let conn = self.lock();
        self.query(
            &conn,
            "WHERE aor = ?1 ORDER BY last_seen DESC, device",
            &[&aor],
        )
    }

    fn get(&self, aor: &str, device: &str) -> Result<Option<Binding>, StoreError> {
        let conn = self.lock();
        Ok(self
            .query(&conn, "WHERE aor = ?1 AND device = ?2", &[&aor, &device])?
            .into_iter()
            .next())
    }

    fn all(&self) -> Result<Vec<Binding>, StoreError> {
        let conn = self.lock();
        self.query(&conn, "ORDER BY aor, device", &[])
    }

    fn users(&self) -> Result<Vec<UserSummary>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT aor, COUNT(*), MAX(last_seen) FROM bindings GROUP BY aor ORDER BY aor",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(UserSummary {
                aor: r.get(0)?,
                devices: r.get(1)?,
                last_seen: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_push_failure(&self, aor: &str, device: &str) -> Result<u32, StoreError> {
        let conn = self.lock();
        conn.execute(
            "UPDATE bindings SET push_failures = push_failures + 1 WHERE aor = ?1 AND device = ?2",
            params![aor, device],
        )?;
        let n = conn
            .query_row(
                "SELECT push_failures FROM bindings WHERE aor = ?1 AND device = ?2",
                params![aor, device],
                |r| r.get(0),
            )
            .optional()?;
        Ok(n.unwrap_or(0))
    }

    fn expire_inactive(&self, now: i64, max_offline_secs: i64) -> Result<Vec<Binding>, StoreError> {
        let cutoff = now.saturating_sub(max_offline_secs);
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let removed = self.query(&tx, "WHERE last_seen < ?1", &[&cutoff])?;
        tx.execute("DELETE FROM bindings WHERE last_seen < ?1", params![cutoff])?;
        tx.commit()?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device_key;

    fn binding(aor: &str, token: &str, piid: Option<&str>) -> Binding {
        Binding {
            aor: aor.into(),
            device: device_key(None, None, Provider::AndroidFcm, token),
            push: PushTarget {
                provider: Provider::AndroidFcm,
                env: PushEnv::Default,
                package: "com.example.app".into(),
                token: token.into(),
            },
            source: BindingSource::Mpush,
            contact: "<sip:1111@192.0.2.1:5060>".into(),
            auth_user: Some("1111".into()),
            piid: piid.map(Piid::new),
            upstream: Upstream {
                server: Some("sip.example.com".into()),
                ..Default::default()
            },
            user_agent: Some("MyCoolApp".into()),
            created_at: 1000,
            last_seen: 1000,
            upstream_expires_at: Some(4600),
            app_expires: Some(600),
            push_failures: 0,
        }
    }

    fn cipher() -> PiidCipher {
        PiidCipher::new([3u8; 32])
    }

    #[test]
    fn upsert_get_and_change_detection() {
        let s = SqliteStore::in_memory(cipher()).unwrap();
        let b = binding(
            "1111@example.com",
            "tok1",
            Some("14d4f932e3897a39d6a17c13b526db00"),
        );
        assert!(s.upsert(&b).unwrap());
        let mut again = b.clone();
        again.last_seen = 2000;
        assert!(!s.upsert(&again).unwrap(), "only the clock moved");
        let got = s.get(&b.aor, &b.device).unwrap().unwrap();
        assert_eq!(got.last_seen, 2000);
        assert_eq!(got.piid, b.piid);
        let mut changed = again.clone();
        changed.contact = "<sip:1111@192.0.2.9:5060>".into();
        changed.created_at = 5000;
        assert!(s.upsert(&changed).unwrap());
        assert_eq!(
            s.get(&b.aor, &b.device).unwrap().unwrap().created_at,
            1000,
            "creation time is kept"
        );
    }

    #[test]
    fn a_store_from_before_app_expires_gains_the_column_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            // The first release's table, with one row.
            let conn = Connection::open(&path).unwrap();
            let old = SCHEMA.replace("    app_expires INTEGER,\n", "");
            assert!(!old.contains("app_expires"));
            conn.execute_batch(&old).unwrap();
            conn.execute(
                "INSERT INTO bindings (aor, device, provider, env, package, token, source, \
                 contact, created_at, last_seen) VALUES ('sip:a@d', 'token:a:t', 'a', 'd', 'p', \
                 't', 'mpush', 'sip:a@h', 1, 2)",
                [],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path, cipher()).unwrap();
        let got = store.user("sip:a@d").unwrap();
        assert_eq!((got.len(), got[0].app_expires), (1, None));
        let mut b = binding("sip:a@d", "t2", None);
        b.app_expires = Some(120);
        store.upsert(&b).unwrap();
        drop(store);
        let store = SqliteStore::open(&path, cipher()).unwrap();
        let got = store.get("sip:a@d", &b.device).unwrap().unwrap();
        assert_eq!(got.app_expires, Some(120));
    }

    #[test]
    fn survives_reopen_and_piid_is_not_plaintext_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bindings.db");
        let b = binding(
            "1111@example.com",
            "tok1",
            Some("14d4f932e3897a39d6a17c13b526db00"),
        );
        {
            let s = SqliteStore::open(&path, cipher()).unwrap();
            s.upsert(&b).unwrap();
        }
        let s = SqliteStore::open(&path, cipher()).unwrap();
        assert_eq!(s.all().unwrap(), vec![b]);
        drop(s);
        let mut raw = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(dir.path().join("bindings.db-wal")) {
            raw.extend(wal);
        }
        assert!(
            !raw.windows(8).any(|w| w == b"14d4f932"),
            "X-PIID must be encrypted at rest"
        );
        let wrong = SqliteStore::open(&path, PiidCipher::new([9u8; 32])).unwrap();
        assert!(matches!(wrong.all(), Err(StoreError::Decrypt { .. })));
    }

    #[test]
    fn several_devices_per_user_and_removals() {
        let s = SqliteStore::in_memory(cipher()).unwrap();
        let a = binding("u@d", "tokA", None);
        let mut b = binding("u@d", "tokB", None);
        b.last_seen = 3000;
        let c = binding("v@d", "tokA", None);
        for x in [&a, &b, &c] {
            s.upsert(x).unwrap();
        }
        let devices: Vec<_> = s
            .user("u@d")
            .unwrap()
            .into_iter()
            .map(|x| x.push.token)
            .collect();
        assert_eq!(devices, ["tokB", "tokA"], "most recently seen first");
        assert_eq!(
            s.users().unwrap(),
            vec![
                UserSummary {
                    aor: "u@d".into(),
                    devices: 2,
                    last_seen: 3000
                },
                UserSummary {
                    aor: "v@d".into(),
                    devices: 1,
                    last_seen: 1000
                }
            ]
        );
        assert_eq!(s.remove_token("tokA").unwrap().len(), 2);
        assert!(s.remove("u@d", &b.device).unwrap());
        assert!(!s.remove("u@d", &b.device).unwrap());
        assert!(s.all().unwrap().is_empty());
    }

    #[test]
    fn failures_touch_and_expiry() {
        let s = SqliteStore::in_memory(cipher()).unwrap();
        let a = binding("u@d", "tokA", None);
        let mut old = binding("w@d", "tokW", None);
        old.last_seen = 10;
        s.upsert(&a).unwrap();
        s.upsert(&old).unwrap();
        assert_eq!(s.record_push_failure("u@d", &a.device).unwrap(), 1);
        assert_eq!(s.record_push_failure("u@d", &a.device).unwrap(), 2);
        s.touch("u@d", &a.device, 1500).unwrap();
        assert_eq!(s.get("u@d", &a.device).unwrap().unwrap().push_failures, 0);
        let expired = s.expire_inactive(1500, 1000).unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].aor, "w@d");
        assert_eq!(s.remove_user("u@d").unwrap().len(), 1);
    }
}

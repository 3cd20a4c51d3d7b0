//! The embedded SQLite binding store (WAL, synchronous=FULL so a committed
//! write survives power loss before the REGISTER's 200 OK goes out).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::binding::{
    Binding, BindingSource, Piid, PushTarget, Upstream, UserSummary, env_from, provider_from,
};
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
    use crate::conformance::{self, Backend, binding, cipher};

    /// A database file in its own temporary directory.
    struct SqliteFile(tempfile::TempDir);

    impl Backend for SqliteFile {
        fn open(&self, cipher: PiidCipher) -> Result<Box<dyn BindingStore>, StoreError> {
            Ok(Box::new(SqliteStore::open(
                &self.0.path().join("bindings.db"),
                cipher,
            )?))
        }
    }

    /// The shared behaviour suite, one test per case.
    macro_rules! conformance_tests {
        ($($case:ident),* $(,)?) => {$(
            #[test]
            fn $case() {
                conformance::$case(&SqliteFile(tempfile::tempdir().unwrap()));
            }
        )*
            #[test]
            fn every_conformance_case_runs_here() {
                let here = [$(stringify!($case)),*];
                for (name, _) in conformance::CASES {
                    assert!(here.contains(name), "{name} is not run against SQLite");
                }
            }
        };
    }

    conformance_tests!(
        upsert_get_and_change_detection,
        same_content_upsert_keeps_failures_changed_content_sets_them,
        every_field_round_trips,
        several_devices_per_user_and_removals,
        ordering_of_all_user_and_users,
        failures_touch_and_expiry,
        expiry_boundary_and_indexes,
        token_change_moves_the_binding,
        remove_user_leaves_others,
        missing_bindings_are_no_ops,
        survives_reopen_and_another_key_cannot_read,
        concurrent_writers,
    );

    #[test]
    fn in_memory_store_runs_the_suite_too() {
        struct Memory;
        impl Backend for Memory {
            fn open(&self, cipher: PiidCipher) -> Result<Box<dyn BindingStore>, StoreError> {
                Ok(Box::new(SqliteStore::in_memory(cipher)?))
            }
        }
        // Reopening an in-memory store starts empty: every case but that one.
        for (name, case) in conformance::CASES {
            if *name != "survives_reopen_and_another_key_cannot_read" {
                case(&Memory);
            }
        }
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
}

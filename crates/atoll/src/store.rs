//! The configuration store: SQLite, blocking. Callers on the async side go through
//! [`Store::call`], which runs the closure on the blocking pool.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};

/// Numbered migrations; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_recording.sql"),
    include_str!("../migrations/0003_epg.sql"),
    include_str!("../migrations/0004_accounts_audit.sql"),
    include_str!("../migrations/0005_cluster.sql"),
    include_str!("../migrations/0006_vod.sql"),
    include_str!("../migrations/0007_viewers.sql"),
    include_str!("../migrations/0008_audio_language.sql"),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{field} already exists")]
    Conflict { field: &'static str },
    #[error("not found")]
    NotFound,
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database task failed: {0}")]
    Join(String),
    /// The database was written by a newer Atoll (its schema has migrations this build lacks):
    /// it is refused instead of being opened.
    #[error(
        "database schema version {found} is newer than this build of Atoll knows ({known}): \
         it was written by a newer version; run that version (or restore a backup made by \
         this one) instead of downgrading"
    )]
    NewerSchema { found: usize, known: usize },
}

/// The schema version this build writes (`PRAGMA user_version` after every migration).
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// A channel as configured (not its live state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub number: Option<i64>,
    pub group: String,
    pub logo: String,
    pub sources: Vec<String>,
    pub publish_key: Option<String>,
    pub active: bool,
    /// Archived for catch-up.
    pub record: bool,
    /// Hours of archive kept.
    pub retention_hours: u32,
    /// XMLTV channel id of its guide ('' = match by display name).
    pub epg_id: String,
    /// Preferred audio language, ISO 639-2 lower-case: the default audio rendition of its
    /// master playlists ('' = no preference: the first track that is not audio description).
    pub audio_language: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password_hash: String,
    pub role: Role,
    pub disabled: bool,
}

/// Read-only connections by default (`store_read_connections`): sign-in lookups, the player's data and API reads run on these and never
/// wait behind a write (WAL: a reader sees the last commit while the writer works).
pub const STORE_READERS: usize = 4;

/// One writer connection (every change, the guide import, the journal) and a small pool of
/// read-only connections ([`Store::read`]).
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: Arc<std::sync::atomic::AtomicUsize>,
    /// Tests (debug builds): while this file exists, every `call` holds a write transaction open
    /// before it runs (a long import), so tests can prove readers do not wait for the writer.
    #[cfg(debug_assertions)]
    hold_writer_file: Option<std::path::PathBuf>,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with_readers(path, STORE_READERS)
    }

    /// As [`Store::open`] with `readers` read-only connections (the `store_read_connections`
    /// setting; at least 1).
    pub fn open_with_readers(path: &Path, readers: usize) -> Result<Store, StoreError> {
        let n = readers.max(1);
        let conn = Connection::open(path)?;
        let mut store = Self::init(conn)?;
        let mut readers = Vec::with_capacity(n);
        for _ in 0..n {
            let c = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            c.pragma_update(None, "query_only", "ON")?;
            c.busy_timeout(std::time::Duration::from_secs(5))?;
            readers.push(Mutex::new(c));
        }
        store.readers = Arc::new(readers);
        #[cfg(debug_assertions)]
        {
            // test hook (debug builds only)
            store.hold_writer_file =
                std::env::var_os("ATOLL_TEST_HOLD_WRITER_FILE").map(std::path::PathBuf::from);
        }
        Ok(store)
    }

    #[cfg(test)]
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Store, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
            tx.commit()?;
        }
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            readers: Arc::default(),
            next_reader: Arc::default(),
            #[cfg(debug_assertions)]
            hold_writer_file: None,
        })
    }

    /// Runs the read-only `f` on a reader connection on the blocking thread pool: it never waits
    /// for the writer (an import, the journal). Falls back to the writer for an in-memory store.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        if self.readers.is_empty() {
            return self.call(move |c| f(c)).await;
        }
        let (readers, next) = (self.readers.clone(), self.next_reader.clone());
        tokio::task::spawn_blocking(move || {
            for r in readers.iter() {
                if let Ok(c) = r.try_lock() {
                    return f(&c);
                }
            }
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % readers.len();
            let c = readers[i].lock().unwrap_or_else(|e| e.into_inner());
            f(&c)
        })
        .await
        .map_err(|e| StoreError::Join(e.to_string()))?
    }

    /// Runs `f` with the connection on the blocking thread pool.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        #[cfg(debug_assertions)]
        let hold = self.hold_writer_file.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|e| e.into_inner());
            #[cfg(debug_assertions)]
            if let Some(file) = hold.filter(|f| f.exists()) {
                // a long write transaction (at most 60 s): readers must not notice
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
                while file.exists() && std::time::Instant::now() < until {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                tx.commit()?;
            }
            f(&mut c)
        })
        .await
        .map_err(|e| StoreError::Join(e.to_string()))?
    }

    /// Direct access for start-up code that is not on the async runtime yet.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut c = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut c)
    }
}

fn map_conflict(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, Some(msg)) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("UNIQUE") {
            let field = if msg.contains("channel.number") {
                "number"
            } else if msg.contains("user.name") {
                "name"
            } else {
                "id"
            };
            return StoreError::Conflict { field };
        }
    }
    StoreError::Sqlite(e)
}

pub fn list_channels(c: &Connection) -> Result<Vec<Channel>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT id, name, number, group_title, logo, publish_key, active, record, retention_hours, epg_id,
         audio_language FROM channel
         ORDER BY number IS NULL, number, id",
    )?;
    let mut channels: Vec<Channel> = stmt
        .query_map([], row_to_channel)?
        .collect::<Result<_, _>>()?;
    let mut src = c.prepare_cached(
        "SELECT channel_id, url FROM channel_source ORDER BY channel_id, position",
    )?;
    let rows = src.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (id, url) = row?;
        if let Some(ch) = channels.iter_mut().find(|c| c.id == id) {
            ch.sources.push(url);
        }
    }
    Ok(channels)
}

fn row_to_channel(r: &rusqlite::Row) -> rusqlite::Result<Channel> {
    Ok(Channel {
        id: r.get(0)?,
        name: r.get(1)?,
        number: r.get(2)?,
        group: r.get(3)?,
        logo: r.get(4)?,
        publish_key: r.get(5)?,
        active: r.get::<_, i64>(6)? != 0,
        record: r.get::<_, i64>(7)? != 0,
        retention_hours: r.get(8)?,
        epg_id: r.get(9)?,
        audio_language: r.get(10)?,
        sources: Vec::new(),
    })
}

/// Every channel's Xtream Codes `stream_id` and creation time: id → (stream_id, created_utc_ms).
pub fn stream_ids(c: &Connection) -> Result<HashMap<String, (i64, i64)>, StoreError> {
    let mut stmt = c.prepare_cached("SELECT id, stream_id, created_utc_ms FROM channel")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (
                    r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                    r.get::<_, i64>(2)?,
                ),
            ))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn get_channel(c: &Connection, id: &str) -> Result<Channel, StoreError> {
    let mut ch = c
        .query_row(
            "SELECT id, name, number, group_title, logo, publish_key, active, record, retention_hours,
             epg_id, audio_language FROM channel WHERE id = ?1",
            [id],
            row_to_channel,
        )
        .optional()?
        .ok_or(StoreError::NotFound)?;
    let mut stmt =
        c.prepare_cached("SELECT url FROM channel_source WHERE channel_id = ?1 ORDER BY position")?;
    ch.sources = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ch)
}

/// A channel's preferred audio language alone ('' = no preference), for catch-up master
/// playlists.
pub fn channel_audio_language(c: &Connection, id: &str) -> Result<String, StoreError> {
    c.prepare_cached("SELECT audio_language FROM channel WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NotFound)
}

fn write_sources(tx: &rusqlite::Transaction, ch: &Channel) -> Result<(), StoreError> {
    tx.execute("DELETE FROM channel_source WHERE channel_id = ?1", [&ch.id])?;
    for (i, url) in ch.sources.iter().enumerate() {
        tx.execute(
            "INSERT INTO channel_source (channel_id, position, url) VALUES (?1, ?2, ?3)",
            params![ch.id, i as i64, url],
        )?;
    }
    Ok(())
}

pub fn insert_channel(c: &mut Connection, ch: &Channel, now_utc_ms: i64) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    tx.execute(
        "INSERT INTO channel (id, name, number, group_title, logo, publish_key, active, record, retention_hours,
                              epg_id, created_utc_ms, updated_utc_ms, stream_id, audio_language)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11, ?10, ?10,
                 (SELECT COALESCE(MAX(stream_id), 0) + 1 FROM channel), ?12)",
        params![
            ch.id,
            ch.name,
            ch.number,
            ch.group,
            ch.logo,
            ch.publish_key,
            ch.active as i64,
            ch.record as i64,
            ch.retention_hours,
            now_utc_ms,
            ch.epg_id,
            ch.audio_language
        ],
    )
    .map_err(map_conflict)?;
    write_sources(&tx, ch)?;
    tx.commit()?;
    Ok(())
}

pub fn update_channel(c: &mut Connection, ch: &Channel, now_utc_ms: i64) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    let n = tx
        .execute(
            "UPDATE channel SET name = ?2, number = ?3, group_title = ?4, logo = ?5, publish_key = ?6,
             active = ?7, record = ?8, retention_hours = ?9, updated_utc_ms = ?10, epg_id = ?11,
             audio_language = ?12 WHERE id = ?1",
            params![
                ch.id,
                ch.name,
                ch.number,
                ch.group,
                ch.logo,
                ch.publish_key,
                ch.active as i64,
                ch.record as i64,
                ch.retention_hours,
                now_utc_ms,
                ch.epg_id,
                ch.audio_language
            ],
        )
        .map_err(map_conflict)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    write_sources(&tx, ch)?;
    tx.commit()?;
    Ok(())
}

pub fn delete_channel(c: &Connection, id: &str) -> Result<(), StoreError> {
    match c.execute("DELETE FROM channel WHERE id = ?1", [id])? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// A node setting (`node_setting`), if set.
pub fn node_setting(c: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(c.query_row(
        "SELECT value FROM node_setting WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
    .optional()?)
}

pub fn set_node_setting(c: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO node_setting (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = ?2",
        params![key, value],
    )?;
    Ok(())
}

/// What the operator set for a cluster node (`PUT /api/cluster/nodes/{name}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeCapacity {
    pub max_viewers: Option<u64>,
    pub max_mbps: Option<f64>,
    /// Client subnets this node serves first.
    pub subnets: Vec<String>,
}

/// Every node's operator settings (`cluster_node`).
pub fn list_cluster_nodes(c: &Connection) -> Result<Vec<(String, NodeCapacity)>, StoreError> {
    let mut st = c.prepare("SELECT name, max_viewers, max_mbps, subnets FROM cluster_node")?;
    let rows = st.query_map([], |r| {
        let subnets: String = r.get(3)?;
        Ok((
            r.get::<_, String>(0)?,
            NodeCapacity {
                max_viewers: r.get::<_, Option<i64>>(1)?.map(|v| v.max(0) as u64),
                max_mbps: r.get(2)?,
                subnets: subnets
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect(),
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Sets a node's operator settings.
pub fn put_cluster_node(
    c: &Connection,
    name: &str,
    cap: &NodeCapacity,
    now_utc_ms: i64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO cluster_node (name, max_viewers, max_mbps, subnets, updated_utc_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (name) DO UPDATE SET max_viewers = ?2, max_mbps = ?3, subnets = ?4,
             updated_utc_ms = ?5",
        params![
            name,
            cap.max_viewers.map(|v| v.min(i64::MAX as u64) as i64),
            cap.max_mbps,
            cap.subnets.join("\n"),
            now_utc_ms
        ],
    )?;
    Ok(())
}

pub fn user_count(c: &Connection) -> Result<i64, StoreError> {
    Ok(c.query_row("SELECT count(*) FROM user", [], |r| r.get(0))?)
}

pub fn insert_user(c: &Connection, u: &User, now_utc_ms: i64) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO user (name, password_hash, role, disabled, created_utc_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![u.name, u.password_hash, u.role.as_str(), u.disabled as i64, now_utc_ms],
    )
    .map_err(map_conflict)?;
    Ok(())
}

pub fn get_user(c: &Connection, name: &str) -> Result<Option<User>, StoreError> {
    Ok(c.query_row(
        "SELECT name, password_hash, role, disabled FROM user WHERE name = ?1",
        [name],
        |r| {
            Ok(User {
                name: r.get(0)?,
                password_hash: r.get(1)?,
                role: if r.get::<_, String>(2)? == "admin" {
                    Role::Admin
                } else {
                    Role::Operator
                },
                disabled: r.get::<_, i64>(3)? != 0,
            })
        },
    )
    .optional()?)
}

/// The key that signs viewer tokens, made (32 random bytes) the first time it is asked for.
pub fn viewer_token_key(c: &mut Connection) -> Result<Vec<u8>, StoreError> {
    let hex: Option<String> = c
        .query_row(
            "SELECT value FROM setting WHERE key = 'viewer_token_key'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let hex = match hex {
        Some(h) => h,
        None => {
            let mut b = [0u8; 32];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            c.execute(
                "INSERT OR IGNORE INTO setting (key, value) VALUES ('viewer_token_key', ?1)",
                [&h],
            )?;
            c.query_row(
                "SELECT value FROM setting WHERE key = 'viewer_token_key'",
                [],
                |r| r.get(0),
            )?
        }
    };
    Ok((0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(id: &str, number: Option<i64>) -> Channel {
        Channel {
            id: id.into(),
            name: format!("Channel {id}"),
            number,
            group: "News".into(),
            logo: String::new(),
            sources: vec!["udp://@239.1.1.1:1234".into(), "testsrc://".into()],
            publish_key: None,
            active: true,
            record: true,
            retention_hours: 72,
            epg_id: String::new(),
            audio_language: String::new(),
        }
    }

    #[test]
    fn channel_crud_and_conflicts() {
        let s = Store::open_in_memory().unwrap();
        s.with(|c| {
            insert_channel(c, &ch("news", Some(1)), 1).unwrap();
            assert!(matches!(
                insert_channel(c, &ch("news", Some(2)), 1),
                Err(StoreError::Conflict { field: "id" })
            ));
            assert!(matches!(
                insert_channel(c, &ch("sport", Some(1)), 1),
                Err(StoreError::Conflict { field: "number" })
            ));
            insert_channel(c, &ch("sport", None), 1).unwrap();
            let all = list_channels(c).unwrap();
            assert_eq!(all.len(), 2);
            assert_eq!(all[0], ch("news", Some(1)));
            let mut n = ch("news", Some(5));
            n.sources = vec!["rtmp://x/app/s".into()];
            update_channel(c, &n, 2).unwrap();
            assert_eq!(get_channel(c, "news").unwrap(), n);
            delete_channel(c, "news").unwrap();
            assert!(matches!(get_channel(c, "news"), Err(StoreError::NotFound)));
            // sources went with the channel
            let left: i64 = c
                .query_row("SELECT count(*) FROM channel_source", [], |r| r.get(0))
                .unwrap();
            assert_eq!(left, 2);
            // the CHECK constraint backs up API validation
            assert!(insert_channel(c, &ch("Bad Id", None), 1).is_err());
            // the preferred audio language: stored, read back, checked
            let mut s2 = ch("sport", None);
            s2.audio_language = "eng".into();
            update_channel(c, &s2, 3).unwrap();
            assert_eq!(get_channel(c, "sport").unwrap().audio_language, "eng");
            assert_eq!(channel_audio_language(c, "sport").unwrap(), "eng");
            assert!(matches!(
                channel_audio_language(c, "gone"),
                Err(StoreError::NotFound)
            ));
            for bad in ["EN", "en", "engl", "e1g"] {
                s2.audio_language = bad.into();
                assert!(update_channel(c, &s2, 4).is_err(), "{bad}");
            }
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn viewer_key_is_made_once() {
        let s = Store::open_in_memory().unwrap();
        let a = s.with(viewer_token_key).unwrap();
        assert_eq!(a.len(), 32);
        assert_eq!(s.with(viewer_token_key).unwrap(), a);
    }

    #[test]
    fn migrations_are_idempotent_on_reopen() {
        let dir = std::env::temp_dir().join(format!("atoll-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let _ = std::fs::remove_file(&path);
        {
            let s = Store::open(&path).unwrap();
            s.with(|c| insert_channel(c, &ch("a", None), 1)).unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.with(|c| list_channels(c)).unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).ok();
    }
}

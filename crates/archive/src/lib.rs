//! The catch-up archive store: one MPEG-TS file per segment under a root directory, indexed by
//! wall-clock time in SQLite (`{root}/archive.db`). Layout, invariants and crash recovery are
//! described in docs/archive.md.
//!
//! Blocking and tokio-free: the binary calls it from a writer thread or `spawn_blocking`. It reads
//! no clock; callers pass the time (`now_utc`) wherever it matters.
#![forbid(unsafe_code)]

mod backfill;
mod layout;
mod queries;
mod recovery;
mod retention;
mod types;
mod writing;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use media::UtcMs;
use rusqlite::{params, Connection, OptionalExtension};

pub use backfill::Backfilled;
pub use layout::valid_channel;
use layout::{
    hour_dir, parse_file_name, parse_hour_dir, rel_path, MS_PER_HOUR, TMP_DIR, TMP_SUFFIX,
    TRASH_DIR,
};
use types::{io_err, IndexContext, Result};
pub use types::{
    ArchiveError, ArchiveStats, Gap, GapReason, RecoveryReport, RetentionPolicy, RetentionReport,
    SegmentRow,
};

/// Numbered migrations; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_more_gap_reasons.sql"),
];

/// A segment whose wall-clock start disagrees with the monotonic time it arrived at by more than
/// this (relative to the channel's previous segment) means the wall clock stepped.
pub const CLOCK_STEP_MS: i64 = 10_000;

/// Two segments whose times are at most this far apart are contiguous: [`Archive::intervals`]
/// merges them and no gap is recorded between them.
pub const ADJACENT_MS: i64 = 1_000;

/// How far back from a channel's last segment `open` checks rows against files. Every state a
/// crash (or a power loss, given the write order) can leave lies after the last row that survived,
/// or within the last second of directory entries before it; ten minutes is ample.
const TAIL_CHECK_MS: i64 = 10 * 60 * 1000;

/// Size of `{root}/.reserve`: space set aside so that retention can still commit its deletes
/// (SQLite needs room in its WAL) when the disk is full. See [`Archive::release_reserve`].
pub const RESERVE_BYTES: usize = 1 << 20;
const RESERVE_FILE: &str = ".reserve";

/// Rows deleted per transaction by retention.
const DELETE_BATCH: usize = 1_000;

/// Read connections: playlist queries run on these and never wait behind a write.
const READERS: usize = 2;

type Pins = Arc<Mutex<HashMap<i64, u32>>>;

/// Keeps a segment from being deleted by retention while it lives.
#[derive(Debug)]
pub struct PinGuard {
    pins: Pins,
    id: i64,
}

impl PinGuard {
    pub fn id(&self) -> i64 {
        self.id
    }
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        let mut pins = lock(&self.pins);
        if let Some(n) = pins.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                pins.remove(&self.id);
            }
        }
    }
}

/// Per-channel write state; its mutex serialises the writes of one channel.
#[derive(Debug, Default)]
struct ChanState {
    /// Loaded from the index (lazily, at the first write after open or after a repair).
    loaded: bool,
    last_start: Option<i64>,
    last_end: Option<i64>,
    /// A segment was written since open: an unexplained hole is then 'source_lost', not 'crash'.
    written_since_open: bool,
    /// mark_stopped marker (also in channel_state).
    stop: Option<(i64, GapReason)>,
    /// Monotonic arrival time of the last written segment (given by the caller), for clock steps.
    last_received_mono_ms: Option<i64>,
    /// A clock step was seen (a segment refused for overlap, or the timeline jumped): the next
    /// hole is a 'clock_step' gap unless a stop says otherwise.
    clock_stepped: bool,
    /// Segment start time of the last directory fsync (the clock of the rate limit).
    last_dir_sync_utc_ms: Option<i64>,
    /// Hour directory known to exist.
    hour_dir: Option<PathBuf>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The archive store. `Send + Sync`; share it in an `Arc`.
pub struct Archive {
    root: PathBuf,
    db_path: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    pins: Pins,
    channels: Mutex<HashMap<String, Arc<Mutex<ChanState>>>>,
    /// Serialises retention, verify and delete_channel with each other.
    maintenance: Mutex<()>,
    next_id: AtomicI64,
    /// Segments are written with fsync (file before rename, directory at most once a second).
    fsync: bool,
    /// Segment files are written with `O_DIRECT` (from an aligned copy, then cut to length):
    /// no page-cache copy and no page cache filled with 72 h of archive. Turned off for good
    /// the first time the filesystem refuses it (EINVAL), or by [`Archive::set_direct_io`].
    direct_io: AtomicBool,
    /// The aligned buffer direct writes go through (one segment, reused).
    direct_buf: Mutex<Vec<u8>>,
}

fn open_conn(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).ctx(|| format!("open {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .ctx(|| "journal_mode".into())?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .ctx(|| "synchronous".into())?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .ctx(|| "busy_timeout".into())?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let version: usize = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .ctx(|| "user_version".into())?;
    if version > MIGRATIONS.len() {
        return Err(ArchiveError::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            known: MIGRATIONS.len(),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction().ctx(|| "migrate".into())?;
        tx.execute_batch(sql)
            .ctx(|| format!("migration {}", i + 1))?;
        tx.pragma_update(None, "user_version", i + 1)
            .ctx(|| "user_version".into())?;
        tx.commit().ctx(|| "migrate".into())?;
    }
    Ok(())
}

fn fsync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync dir", path))
}

/// Sorted names of the entries of `dir` (empty if it does not exist).
fn list_dir(dir: &Path) -> Result<Vec<(String, fs::DirEntry)>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(io_err("list", dir))?;
        if let Ok(name) = e.file_name().into_string() {
            out.push((name, e));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn remove_file_if_exists(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("remove", path)(e)),
    }
}

/// A file that may be indexed: whole TS packets starting with a sync byte.
fn sane_ts(path: &Path, len: u64) -> bool {
    if len == 0 || !len.is_multiple_of(188) {
        return false;
    }
    let mut b = [0u8; 1];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut b))
        .map(|_| b[0] == 0x47)
        .unwrap_or(false)
}

struct RawRow {
    start_utc_ms: i64,
    id: i64,
    duration_90k: i64,
    end_utc_ms: i64,
    bytes: i64,
    discontinuity: bool,
}

const RAW_COLS: &str = "start_utc_ms, id, duration_90k, end_utc_ms, bytes, discontinuity";

fn raw_row(r: &rusqlite::Row) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        start_utc_ms: r.get(0)?,
        id: r.get(1)?,
        duration_90k: r.get(2)?,
        end_utc_ms: r.get(3)?,
        bytes: r.get(4)?,
        discontinuity: r.get::<_, i64>(5)? != 0,
    })
}

impl Archive {
    /// Opens (creating) the store under `root` and reconciles disk and index (docs/archive.md,
    /// "Recovery"). A 'crash' gap is recorded lazily, at the first segment written for a channel
    /// after open, when that channel had no `mark_stopped`. `now_utc` is only logged.
    pub fn open(root: &Path, now_utc: UtcMs) -> Result<(Archive, RecoveryReport)> {
        Self::open_with(root, now_utc, true)
    }

    /// As [`Archive::open`], choosing whether segment writes fsync. Without fsync a power loss
    /// can lose recent segments (still reconciled at the next open); a process crash loses nothing more.
    pub fn open_with(
        root: &Path,
        now_utc: UtcMs,
        fsync: bool,
    ) -> Result<(Archive, RecoveryReport)> {
        fs::create_dir_all(root).map_err(io_err("create", root))?;
        let root = root.to_path_buf();
        let db_path = root.join("archive.db");
        let mut writer = open_conn(&db_path)?;
        migrate(&mut writer, &db_path)?;
        let mut readers = Vec::new();
        for _ in 0..READERS {
            let c = open_conn(&db_path)?;
            c.pragma_update(None, "query_only", "ON")
                .ctx(|| "query_only".into())?;
            readers.push(Mutex::new(c));
        }
        let next_id: i64 = writer
            .query_row(
                "SELECT coalesce(max(max_segment_id), 0) + 1 FROM channel_state",
                [],
                |r| r.get(0),
            )
            .ctx(|| "next id".into())?;
        let archive = Archive {
            root,
            db_path,
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            pins: Arc::default(),
            channels: Mutex::default(),
            maintenance: Mutex::new(()),
            next_id: AtomicI64::new(next_id),
            fsync,
            direct_io: AtomicBool::new(true),
            direct_buf: Mutex::new(Vec::new()),
        };
        let report = archive.recover()?;
        if report.repaired_anything() || report.crash_gaps > 0 {
            tracing::warn!(root = %archive.root.display(), now = %now_utc.to_rfc3339(), ?report, "archive recovered");
        } else {
            tracing::info!(root = %archive.root.display(), "archive opened clean");
        }
        Ok((archive, report))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether segment files are written with `O_DIRECT` (on by default; see `direct_io`).
    pub fn set_direct_io(&self, on: bool) {
        self.direct_io.store(on, Ordering::Relaxed);
    }

    /// Whether segment files are still written with `O_DIRECT`.
    pub fn direct_io(&self) -> bool {
        self.direct_io.load(Ordering::Relaxed)
    }

    /// Makes sure `{root}/.reserve` holds [`RESERVE_BYTES`] (written, so the blocks are really
    /// taken). Call it only when the disk has room to spare; `false` when it could not be made.
    pub fn keep_reserve(&self) -> bool {
        let path = self.root.join(RESERVE_FILE);
        if fs::metadata(&path).is_ok_and(|m| m.len() == RESERVE_BYTES as u64) {
            return true;
        }
        let made = File::create(&path).and_then(|mut f| {
            f.write_all(&vec![0u8; RESERVE_BYTES])?;
            f.sync_data()
        });
        if made.is_err() {
            let _ = fs::remove_file(&path);
        }
        made.is_ok()
    }

    /// Frees the reserve (the disk is full and retention needs room to commit); `true` if there
    /// was one.
    pub fn release_reserve(&self) -> bool {
        fs::remove_file(self.root.join(RESERVE_FILE)).is_ok()
    }

    fn chan(&self, channel: &str) -> Arc<Mutex<ChanState>> {
        lock(&self.channels)
            .entry(channel.to_string())
            .or_default()
            .clone()
    }

    fn load_state(&self, channel: &str, st: &mut ChanState) -> Result<()> {
        if st.loaded {
            return Ok(());
        }
        let last = self.last_row(channel)?;
        let stop: Option<(i64, String)> = lock(&self.writer)
            .query_row(
                "SELECT stopped_utc_ms, stopped_reason FROM channel_state
                  WHERE channel = ?1 AND stopped_utc_ms IS NOT NULL",
                [channel],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx(|| format!("state of {channel}"))?;
        st.last_start = last.as_ref().map(|r| r.start_utc_ms);
        st.last_end = last.as_ref().map(|r| r.end_utc_ms);
        st.stop = stop.and_then(|(at, why)| GapReason::parse(&why).map(|g| (at, g)));
        st.loaded = true;
        Ok(())
    }

    fn row(&self, channel: &str, r: RawRow) -> SegmentRow {
        SegmentRow {
            path: self.root.join(rel_path(
                channel,
                r.start_utc_ms,
                r.duration_90k,
                r.discontinuity,
            )),
            id: r.id,
            channel: channel.to_string(),
            start_utc_ms: r.start_utc_ms,
            duration_90k: r.duration_90k,
            end_utc_ms: r.end_utc_ms,
            bytes: r.bytes,
            discontinuity: r.discontinuity,
        }
    }

    pub fn stats(&self) -> Result<ArchiveStats> {
        let usage = self.usage()?;
        let file_len = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = self.db_path.clone().into_os_string();
        wal.push("-wal");
        Ok(ArchiveStats {
            channels: usage.len(),
            segments: usage.iter().map(|u| u.2).sum(),
            bytes: usage.iter().map(|u| u.1).sum(),
            index_bytes: file_len(&self.db_path) + file_len(Path::new(&wal)),
            pinned: lock(&self.pins).len(),
        })
    }
}

#[cfg(feature = "bench")]
mod bench;
#[cfg(test)]
mod tests;

//! The catch-up archive store: one MPEG-TS file per segment under a root directory, indexed by
//! wall-clock time in SQLite (`{root}/archive.db`). Layout, invariants and crash recovery are
//! described in docs/archive.md.
//!
//! Blocking and tokio-free: the binary calls it from a writer thread or `spawn_blocking`. It reads
//! no clock; callers pass the time (`now_utc`) wherever it matters.
#![forbid(unsafe_code)]

mod layout;
mod types;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use media::UtcMs;
use rusqlite::{params, Connection, OptionalExtension};

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

    /// Full check of every row against every file (what `open` does for the tail of each channel
    /// only): repairs damage done behind the store's back (files removed or added by hand, a
    /// restored backup). Runs channel by channel while the store serves; O(segments).
    pub fn verify(&self) -> Result<RecoveryReport> {
        let _m = lock(&self.maintenance);
        let mut report = RecoveryReport::default();
        for ch in self.known_channels()? {
            let state = self.chan(&ch);
            let mut st = lock(&state);
            self.reconcile_channel(&ch, i64::MIN, &mut report)?;
            // Rows may have changed: reload at the next write.
            st.loaded = false;
            st.hour_dir = None;
        }
        Ok(report)
    }

    fn recover(&self) -> Result<RecoveryReport> {
        let mut report = RecoveryReport::default();
        // 1. Deletes committed but not finished: unlink and clear.
        let pending: Vec<String> = {
            let w = lock(&self.writer);
            let mut stmt = w
                .prepare("SELECT path FROM pending_delete")
                .ctx(|| "pending deletes".into())?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .ctx(|| "pending deletes".into())?
                .collect::<rusqlite::Result<Vec<String>>>()
                .ctx(|| "pending deletes".into())?;
            rows
        };
        if !pending.is_empty() {
            for p in &pending {
                remove_file_if_exists(&self.root.join(p))?;
            }
            lock(&self.writer)
                .execute("DELETE FROM pending_delete", [])
                .ctx(|| "pending deletes".into())?;
            report.deletes_finished += pending.len();
        }
        // 2. Channels deleted while their files were being removed.
        let trash = self.root.join(TRASH_DIR);
        if trash.exists() {
            fs::remove_dir_all(&trash).map_err(io_err("remove", &trash))?;
            report.deletes_finished += 1;
        }
        // 3. Each channel's tail.
        for ch in self.known_channels()? {
            let last = self.last_row(&ch)?;
            let from = last.map_or(i64::MIN, |r| r.start_utc_ms.saturating_sub(TAIL_CHECK_MS));
            self.reconcile_channel(&ch, from, &mut report)?;
        }
        report.crash_gaps = lock(&self.writer)
            .query_row(
                "SELECT count(*) FROM channel_state WHERE segments > 0 AND stopped_utc_ms IS NULL",
                [],
                |r| r.get::<_, i64>(0),
            )
            .ctx(|| "crash gaps".into())? as usize;
        Ok(report)
    }

    /// Channels with a directory or with rows.
    fn known_channels(&self) -> Result<Vec<String>> {
        let mut set: HashSet<String> = list_dir(&self.root)?
            .into_iter()
            .filter(|(name, e)| {
                valid_channel(name) && e.file_type().map(|t| t.is_dir()).unwrap_or(false)
            })
            .map(|(name, _)| name)
            .collect();
        let w = lock(&self.writer);
        let mut stmt = w
            .prepare_cached("SELECT channel FROM channel_state WHERE segments > 0")
            .ctx(|| "channels".into())?;
        for ch in stmt
            .query_map([], |r| r.get::<_, String>(0))
            .ctx(|| "channels".into())?
        {
            set.insert(ch.ctx(|| "channels".into())?);
        }
        let mut v: Vec<String> = set.into_iter().collect();
        v.sort();
        Ok(v)
    }

    fn last_row(&self, channel: &str) -> Result<Option<RawRow>> {
        let w = lock(&self.writer);
        let mut stmt = w
            .prepare_cached(&format!(
                "SELECT {RAW_COLS} FROM segment WHERE channel = ?1 ORDER BY start_utc_ms DESC LIMIT 1"
            ))
            .ctx(|| format!("last segment of {channel}"))?;
        stmt.query_row([channel], raw_row)
            .optional()
            .ctx(|| format!("last segment of {channel}"))
    }

    /// Makes rows with `start_utc_ms >= from` and files agree (docs/archive.md, "Recovery").
    /// The caller holds the channel's lock (or is `open`).
    fn reconcile_channel(&self, ch: &str, from: i64, report: &mut RecoveryReport) -> Result<()> {
        let chan_dir = self.root.join(ch);
        // Segments being written at the crash.
        for (name, e) in list_dir(&chan_dir.join(TMP_DIR))? {
            if name.ends_with(TMP_SUFFIX) {
                remove_file_if_exists(&e.path())?;
                report.tmp_removed += 1;
            }
        }
        if !chan_dir.is_dir() {
            // Deleted (delete_channel moves the directory away before dropping rows) or removed by hand.
            let n = lock(&self.writer)
                .execute("DELETE FROM segment WHERE channel = ?1", [ch])
                .ctx(|| format!("drop rows of {ch}"))?;
            if n > 0 {
                tracing::warn!(
                    channel = ch,
                    rows = n,
                    "archive: channel directory missing, rows dropped"
                );
            }
            report.rows_dropped += n;
            return Ok(());
        }
        // Rows from `from` on, by file name. Only this channel's writer (whose lock the caller
        // holds) or retention (excluded likewise) could change them meanwhile.
        let mut rows: HashMap<String, RawRow> = HashMap::new();
        {
            let w = lock(&self.writer);
            let mut stmt = w
                .prepare_cached(&format!(
                    "SELECT {RAW_COLS} FROM segment WHERE channel = ?1 AND start_utc_ms >= ?2"
                ))
                .ctx(|| format!("rows of {ch}"))?;
            let it = stmt
                .query_map(params![ch, from], raw_row)
                .ctx(|| format!("rows of {ch}"))?;
            for r in it {
                let r = r.ctx(|| format!("rows of {ch}"))?;
                rows.insert(
                    layout::file_name(r.start_utc_ms, r.duration_90k, r.discontinuity),
                    r,
                );
            }
        }
        let starts: HashSet<i64> = rows.values().map(|r| r.start_utc_ms).collect();
        // Walk the files without holding the index.
        let mut drop_starts: Vec<i64> = Vec::new();
        let mut orphans: Vec<(i64, i64, bool, i64)> = Vec::new();
        for (day, day_e) in list_dir(&chan_dir)? {
            if day.starts_with('.') || !day_e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            for (hour, hour_e) in list_dir(&day_e.path())? {
                let Some(hour_start) = parse_hour_dir(&day, &hour) else {
                    continue;
                };
                if hour_start.saturating_add(MS_PER_HOUR) <= from {
                    continue;
                }
                for (name, e) in list_dir(&hour_e.path())? {
                    let path = e.path();
                    let Some((start, dur_90k, disc)) = parse_file_name(&name) else {
                        tracing::warn!(path = %path.display(), "archive: stray file left alone");
                        continue;
                    };
                    if start < from {
                        continue;
                    }
                    let len = e.metadata().map_err(io_err("stat", &path))?.len();
                    if let Some(r) = rows.remove(&name) {
                        if r.bytes as u64 == len {
                            continue;
                        }
                        // The row describes another file than this one: drop it, judge the file alone.
                        tracing::warn!(path = %path.display(), len, row_bytes = r.bytes, "archive: row with wrong size dropped");
                        drop_starts.push(r.start_utc_ms);
                    } else if starts.contains(&start) {
                        // Same start as an indexed segment under another name: cannot be indexed.
                        tracing::warn!(path = %path.display(), "archive: duplicate segment removed");
                        remove_file_if_exists(&path)?;
                        report.orphans_removed += 1;
                        continue;
                    }
                    if hour_dir(start) == format!("{day}/{hour}") && sane_ts(&path, len) {
                        tracing::warn!(path = %path.display(), "archive: orphan segment indexed");
                        orphans.push((start, dur_90k, disc, len as i64));
                    } else {
                        tracing::warn!(path = %path.display(), len, "archive: incomplete segment removed");
                        remove_file_if_exists(&path)?;
                        report.orphans_removed += 1;
                    }
                }
            }
        }
        for r in rows.values() {
            tracing::warn!(
                channel = ch,
                start = r.start_utc_ms,
                "archive: row without file dropped"
            );
            drop_starts.push(r.start_utc_ms);
        }
        if drop_starts.is_empty() && orphans.is_empty() {
            return Ok(());
        }
        let mut w = lock(&self.writer);
        let tx = w.transaction().ctx(|| format!("reconcile {ch}"))?;
        for start in &drop_starts {
            tx.execute(
                "DELETE FROM segment WHERE channel = ?1 AND start_utc_ms = ?2",
                params![ch, start],
            )
            .ctx(|| format!("drop row {ch}/{start}"))?;
        }
        for (start, dur_90k, disc, len) in &orphans {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            tx.execute(
                "INSERT INTO segment (channel, start_utc_ms, id, duration_90k, end_utc_ms, bytes, discontinuity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![ch, start, id, dur_90k, start + layout::duration_ms(*dur_90k), len, *disc as i64],
            )
            .ctx(|| format!("index orphan {ch}/{start}"))?;
        }
        tx.commit().ctx(|| format!("reconcile {ch}"))?;
        report.rows_dropped += drop_starts.len();
        report.orphans_indexed += orphans.len();
        Ok(())
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

    /// Stores one segment: file first (temp, fsync, rename), then its row, so an indexed row always
    /// has its complete file. Records a gap when the segment starts more than [`ADJACENT_MS`] after
    /// the channel's previous one: with the `mark_stopped` reason if one was given, 'crash' if this
    /// is the channel's first segment since open, else 'source_lost'.
    ///
    /// Segments of a channel must start strictly after the previous one ([`ArchiveError::OutOfOrder`]
    /// otherwise: e.g. after the wall clock stepped back; the segment is not stored).
    pub fn write_segment(
        &self,
        channel: &str,
        start_utc: UtcMs,
        duration_90k: i64,
        discontinuity: bool,
        data: &[u8],
    ) -> Result<SegmentRow> {
        self.write_segment_received(channel, start_utc, duration_90k, discontinuity, data, None)
    }

    /// As [`Archive::write_segment`], with the monotonic time (`received_mono_ms`, any origin, the
    /// same for every call) at which the segment was finished. The archive then tells a wall-clock
    /// step from a lost source: when the wall-clock distance between this segment and the
    /// channel's previous one differs from the monotonic distance by more than [`CLOCK_STEP_MS`],
    /// or a segment was refused because it started before the previous one ended (the clock went
    /// back; overlaps up to [`ADJACENT_MS`] are jitter and accepted), the next hole is recorded as
    /// a 'clock_step' gap (unless a `mark_stopped` reason says otherwise). No segment that
    /// overlaps the previous one by more than [`ADJACENT_MS`] is ever stored.
    pub fn write_segment_received(
        &self,
        channel: &str,
        start_utc: UtcMs,
        duration_90k: i64,
        discontinuity: bool,
        data: &[u8],
        received_mono_ms: Option<i64>,
    ) -> Result<SegmentRow> {
        if !valid_channel(channel) {
            return Err(ArchiveError::InvalidChannel(channel.to_string()));
        }
        let invalid = |why| ArchiveError::InvalidSegment {
            channel: channel.to_string(),
            why,
        };
        if data.is_empty() || !data.len().is_multiple_of(188) || data[0] != 0x47 {
            return Err(invalid("not whole TS packets starting with 0x47"));
        }
        if duration_90k <= 0 || duration_90k > i64::MAX / 2 {
            return Err(invalid("duration must be positive"));
        }
        let start = start_utc.0;
        if !(0..=i64::MAX / 2).contains(&start) {
            return Err(invalid("start before 1970"));
        }
        let state = self.chan(channel);
        let mut st = lock(&state);
        self.load_state(channel, &mut st)?;
        if let (Some(rx), Some(prev_rx), Some(prev_start)) =
            (received_mono_ms, st.last_received_mono_ms, st.last_start)
        {
            let skew_ms = (start - prev_start) - (rx - prev_rx);
            if skew_ms.abs() > CLOCK_STEP_MS && !st.clock_stepped {
                tracing::warn!(
                    channel,
                    skew_ms,
                    "archive: the wall clock stepped while recording"
                );
                st.clock_stepped = true;
            }
        }
        if let Some(last) = st.last_start {
            let overlaps = st.last_end.is_some_and(|e| start < e - ADJACENT_MS);
            if overlaps && start > last {
                if !st.clock_stepped {
                    tracing::warn!(
                        channel,
                        start,
                        "archive: segment overlaps the previous one (clock stepped back): refused"
                    );
                }
                st.clock_stepped = true;
                return Err(ArchiveError::ClockStepBack {
                    channel: channel.to_string(),
                    start_utc_ms: start,
                    last_end_utc_ms: st.last_end.unwrap_or(last),
                });
            }
            if start <= last {
                st.clock_stepped = true;
                return Err(ArchiveError::OutOfOrder {
                    channel: channel.to_string(),
                    start_utc_ms: start,
                    last_start_utc_ms: last,
                });
            }
        }

        // The file.
        let rel = rel_path(channel, start, duration_90k, discontinuity);
        let path = self.root.join(&rel);
        let dir = path
            .parent()
            .expect("segment path has a parent")
            .to_path_buf();
        let tmp_dir = self.root.join(channel).join(TMP_DIR);
        if st.hour_dir.as_ref() != Some(&dir) {
            self.make_dirs(&dir, &tmp_dir)?;
            st.hour_dir = Some(dir.clone());
        }
        let file_name = path.file_name().expect("file name").to_owned();
        let mut tmp_name = file_name.clone();
        tmp_name.push(TMP_SUFFIX);
        let tmp = tmp_dir.join(tmp_name);
        let written = (|| -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(data)?;
            if self.fsync {
                f.sync_data()?;
            }
            Ok(())
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io_err("write", &tmp)(e));
        }
        let mut attempt = 0;
        while let Err(e) = fs::rename(&tmp, &path) {
            attempt += 1;
            // Retention removes hour directories it empties; one may go between our check and
            // the rename. Make it again.
            if e.kind() == io::ErrorKind::NotFound
                && attempt < 3
                && self.make_dirs(&dir, &tmp_dir).is_ok()
            {
                continue;
            }
            let _ = fs::remove_file(&tmp);
            st.hour_dir = None;
            return Err(io_err("rename", &path)(e));
        }
        let synced_recently =
            matches!(st.last_dir_sync_utc_ms, Some(t) if (0..1000).contains(&(start - t)));
        if self.fsync && !synced_recently {
            fsync_dir(&dir)?;
            st.last_dir_sync_utc_ms = Some(start);
        }

        // The row (and the gap before it).
        let end = start + layout::duration_ms(duration_90k);
        let gap = match st.last_end {
            Some(prev_end) if start - prev_end > ADJACENT_MS => Some(Gap {
                from_utc_ms: prev_end,
                to_utc_ms: start,
                reason: match st.stop {
                    Some((_, why)) => why,
                    None if st.clock_stepped => GapReason::ClockStep,
                    None if !st.written_since_open => GapReason::Crash,
                    None => GapReason::SourceLost,
                },
            }),
            _ => None,
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let inserted = (|| -> rusqlite::Result<()> {
            let mut w = lock(&self.writer);
            let tx = w.transaction()?;
            tx.prepare_cached(
                "INSERT INTO segment (channel, start_utc_ms, id, duration_90k, end_utc_ms, bytes, discontinuity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![channel, start, id, duration_90k, end, data.len() as i64, discontinuity as i64])?;
            if let Some(g) = gap {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO gap (channel, from_utc_ms, to_utc_ms, reason) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![channel, g.from_utc_ms, g.to_utc_ms, g.reason.as_str()])?;
            }
            if st.stop.is_some() {
                tx.prepare_cached(
                    "UPDATE channel_state SET stopped_utc_ms = NULL, stopped_reason = NULL WHERE channel = ?1",
                )?
                .execute([channel])?;
            }
            tx.commit()
        })();
        if let Err(e) = inserted {
            // Keep "no file without a row" when we can; if this fails too, open re-indexes it.
            let _ = fs::remove_file(&path);
            return Err(e).ctx(|| format!("index segment {}", rel.display()));
        }
        if let Some(g) = gap {
            tracing::info!(
                channel,
                from = g.from_utc_ms,
                to = g.to_utc_ms,
                reason = g.reason.as_str(),
                "archive: gap"
            );
        }
        st.last_start = Some(start);
        st.last_end = Some(end);
        st.stop = None;
        st.written_since_open = true;
        st.clock_stepped = false;
        st.last_received_mono_ms = received_mono_ms;
        Ok(SegmentRow {
            id,
            channel: channel.to_string(),
            start_utc_ms: start,
            duration_90k,
            end_utc_ms: end,
            bytes: data.len() as i64,
            discontinuity,
            path,
        })
    }

    /// Creates a segment's hour directory (and the channel's `.tmp`); new directory entries are
    /// made durable (once an hour).
    fn make_dirs(&self, dir: &Path, tmp_dir: &Path) -> Result<()> {
        let new_dirs = !dir.is_dir();
        fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        fs::create_dir_all(tmp_dir).map_err(io_err("create", tmp_dir))?;
        if new_dirs && self.fsync {
            let day = dir.parent().expect("day dir");
            fsync_dir(day)?;
            fsync_dir(day.parent().expect("channel dir"))?;
            fsync_dir(&self.root)?;
        }
        Ok(())
    }

    /// Recording of `channel` stopped on purpose, or its source was lost, at `at`: the next segment
    /// records the gap with `reason` instead of 'crash'/'source_lost'. Survives restarts, so the
    /// binary calls it (RecordingStopped) for every recording channel on graceful shutdown.
    pub fn mark_stopped(&self, channel: &str, at: UtcMs, reason: GapReason) -> Result<()> {
        if !valid_channel(channel) {
            return Err(ArchiveError::InvalidChannel(channel.to_string()));
        }
        let state = self.chan(channel);
        let mut st = lock(&state);
        self.load_state(channel, &mut st)?;
        // kept in memory even when the index cannot take it (a full disk): the gap still gets
        // its reason while the process lives
        st.stop = Some((at.0, reason));
        let w = lock(&self.writer);
        w.execute(
            "INSERT INTO channel_state (channel, stopped_utc_ms, stopped_reason) VALUES (?1, ?2, ?3)
             ON CONFLICT (channel) DO UPDATE SET stopped_utc_ms = ?2, stopped_reason = ?3",
            params![channel, at.0, reason.as_str()],
        )
        .ctx(|| format!("mark {channel} stopped"))?;
        Ok(())
    }

    /// Runs `f` on a read connection (WAL: readers never wait for the writer).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        for r in &self.readers {
            if let Ok(c) = r.try_lock() {
                return f(&c);
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        f(&lock(&self.readers[i]))
    }

    /// Segments overlapping `[from, to)`, in start order.
    pub fn segments(&self, channel: &str, from: UtcMs, to: UtcMs) -> Result<Vec<SegmentRow>> {
        self.segments_limit(channel, from, to, usize::MAX)
    }

    /// The first `limit` segments starting strictly after `after_start_utc_ms`, in start order:
    /// the next batch of a reader that follows the recording (one index seek, `limit` rows).
    pub fn segments_after(
        &self,
        channel: &str,
        after_start_utc_ms: i64,
        limit: usize,
    ) -> Result<Vec<SegmentRow>> {
        let raw = self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {RAW_COLS} FROM segment
                      WHERE channel = ?1 AND start_utc_ms > ?2
                      ORDER BY start_utc_ms LIMIT ?3"
                ))
                .ctx(|| format!("segments of {channel}"))?;
            let rows = stmt
                .query_map(
                    params![
                        channel,
                        after_start_utc_ms,
                        limit.min(i64::MAX as usize) as i64
                    ],
                    raw_row,
                )
                .ctx(|| format!("segments of {channel}"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .ctx(|| format!("segments of {channel}"))?;
            Ok(rows)
        })?;
        Ok(raw.into_iter().map(|r| self.row(channel, r)).collect())
    }

    /// As [`Archive::segments`], at most the first `limit`.
    pub fn segments_limit(
        &self,
        channel: &str,
        from: UtcMs,
        to: UtcMs,
        limit: usize,
    ) -> Result<Vec<SegmentRow>> {
        if to <= from || limit == 0 {
            return Ok(Vec::new());
        }
        let raw = self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {RAW_COLS} FROM segment
                      WHERE channel = ?1
                        AND start_utc_ms >= coalesce((SELECT start_utc_ms FROM segment
                              WHERE channel = ?1 AND start_utc_ms <= ?2
                              ORDER BY start_utc_ms DESC LIMIT 1), ?2)
                        AND start_utc_ms < ?3 AND end_utc_ms > ?2
                      ORDER BY start_utc_ms LIMIT ?4"
                ))
                .ctx(|| format!("segments of {channel}"))?;
            let rows = stmt
                .query_map(
                    params![channel, from.0, to.0, limit.min(i64::MAX as usize) as i64],
                    raw_row,
                )
                .ctx(|| format!("segments of {channel}"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .ctx(|| format!("segments of {channel}"))?;
            Ok(rows)
        })?;
        // Consecutive segments share their hour directory: build its path once per hour.
        let chan_dir = self.root.join(channel);
        let mut dir: Option<(i64, PathBuf)> = None;
        Ok(raw
            .into_iter()
            .map(|r| {
                let hour = r.start_utc_ms.div_euclid(MS_PER_HOUR);
                if dir.as_ref().map(|d| d.0) != Some(hour) {
                    dir = Some((hour, chan_dir.join(hour_dir(r.start_utc_ms))));
                }
                let d = &dir.as_ref().expect("set above").1;
                let mut path = PathBuf::with_capacity(d.as_os_str().len() + 32);
                path.push(d);
                path.push(layout::file_name(
                    r.start_utc_ms,
                    r.duration_90k,
                    r.discontinuity,
                ));
                SegmentRow {
                    path,
                    id: r.id,
                    channel: channel.to_string(),
                    start_utc_ms: r.start_utc_ms,
                    duration_90k: r.duration_90k,
                    end_utc_ms: r.end_utc_ms,
                    bytes: r.bytes,
                    discontinuity: r.discontinuity,
                }
            })
            .collect())
    }

    /// The last segment starting at or before `t` (the one to start a playlist at `t` with:
    /// every segment begins with a keyframe).
    pub fn segment_at_or_before(&self, channel: &str, t: UtcMs) -> Result<Option<SegmentRow>> {
        let raw = self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {RAW_COLS} FROM segment WHERE channel = ?1 AND start_utc_ms <= ?2
                  ORDER BY start_utc_ms DESC LIMIT 1"
            ))
            .and_then(|mut s| s.query_row(params![channel, t.0], raw_row).optional())
            .ctx(|| format!("segment of {channel} at {}", t.0))
        })?;
        Ok(raw.map(|r| self.row(channel, r)))
    }

    /// Start of the channel's oldest kept segment (where catch-up can begin), if any.
    pub fn earliest(&self, channel: &str) -> Result<Option<UtcMs>> {
        self.read(|c| {
            c.prepare_cached("SELECT min(start_utc_ms) FROM segment WHERE channel = ?1")
                .and_then(|mut s| s.query_row(params![channel], |r| r.get::<_, Option<i64>>(0)))
                .ctx(|| format!("earliest segment of {channel}"))
        })
        .map(|v| v.map(UtcMs))
    }

    /// Recorded coverage within `[from, to)`: segments merged when the next starts at most
    /// [`ADJACENT_MS`] after the previous ends (time adjacency only; a discontinuity does not
    /// split coverage), clipped to the range.
    pub fn intervals(&self, channel: &str, from: UtcMs, to: UtcMs) -> Result<Vec<(UtcMs, UtcMs)>> {
        if to <= from {
            return Ok(Vec::new());
        }
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT start_utc_ms, end_utc_ms FROM segment
                      WHERE channel = ?1
                        AND start_utc_ms >= coalesce((SELECT start_utc_ms FROM segment
                              WHERE channel = ?1 AND start_utc_ms <= ?2
                              ORDER BY start_utc_ms DESC LIMIT 1), ?2)
                        AND start_utc_ms < ?3 AND end_utc_ms > ?2
                      ORDER BY start_utc_ms",
                )
                .ctx(|| format!("intervals of {channel}"))?;
            let mut rows = stmt
                .query(params![channel, from.0, to.0])
                .ctx(|| format!("intervals of {channel}"))?;
            let mut out: Vec<(i64, i64)> = Vec::new();
            while let Some(r) = rows.next().ctx(|| format!("intervals of {channel}"))? {
                let (s, e): (i64, i64) = (
                    r.get(0).ctx(|| "start".into())?,
                    r.get(1).ctx(|| "end".into())?,
                );
                match out.last_mut() {
                    Some(last) if s - last.1 <= ADJACENT_MS => last.1 = last.1.max(e),
                    _ => out.push((s, e)),
                }
            }
            Ok(out
                .into_iter()
                .map(|(s, e)| (UtcMs(s.max(from.0)), UtcMs(e.min(to.0))))
                .collect())
        })
    }

    /// Recorded gaps overlapping `[from, to)`, in time order (not clipped).
    pub fn gaps(&self, channel: &str, from: UtcMs, to: UtcMs) -> Result<Vec<Gap>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT from_utc_ms, to_utc_ms, reason FROM gap
                      WHERE channel = ?1 AND from_utc_ms < ?3 AND to_utc_ms > ?2
                      ORDER BY from_utc_ms",
                )
                .ctx(|| format!("gaps of {channel}"))?;
            let rows = stmt
                .query_map(params![channel, from.0, to.0], |r| {
                    let reason: String = r.get(2)?;
                    Ok(Gap {
                        from_utc_ms: r.get(0)?,
                        to_utc_ms: r.get(1)?,
                        reason: GapReason::parse(&reason).unwrap_or(GapReason::SourceLost),
                    })
                })
                .ctx(|| format!("gaps of {channel}"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .ctx(|| format!("gaps of {channel}"))?;
            Ok(rows)
        })
    }

    /// Pins segment `id` until the guard is dropped: retention skips it (and deletes it at a later
    /// run). Pin before opening the file; once open, the file stays readable even if deleted.
    pub fn pin(&self, id: i64) -> PinGuard {
        *lock(&self.pins).entry(id).or_insert(0) += 1;
        PinGuard {
            pins: self.pins.clone(),
            id,
        }
    }

    /// Pins `row` and opens its file: the reader's way in. `None` when the segment was deleted
    /// since `row` was read (the file is gone).
    pub fn open_segment(&self, row: &SegmentRow) -> Result<Option<(File, PinGuard)>> {
        let guard = self.pin(row.id);
        match File::open(&row.path) {
            Ok(f) => Ok(Some((f, guard))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("open", &row.path)(e)),
        }
    }

    /// Deletes segments past their channel's age (`per_channel_hours`, else `default_hours`: a
    /// segment goes when it ended at or before `now − hours`), then, while the total is above
    /// `max_bytes`, the oldest segments of all channels. Pinned segments are skipped. Rows are
    /// deleted in batches, each in one transaction (synchronous=FULL) that also records the paths in
    /// `pending_delete`; files are unlinked after the commit.
    pub fn enforce_retention(
        &self,
        now: UtcMs,
        policy: &RetentionPolicy,
    ) -> Result<RetentionReport> {
        let _m = lock(&self.maintenance);
        let mut report = RetentionReport::default();
        let channels: Vec<(String, u64)> =
            self.usage()?.into_iter().map(|(c, b, _)| (c, b)).collect();

        // By age.
        for (ch, _) in &channels {
            let cutoff = now.0 - i64::from(policy.hours_for(ch)) * MS_PER_HOUR;
            let mut after = i64::MIN;
            loop {
                let batch: Vec<RawRow> = self.read(|c| {
                    let mut stmt = c
                        .prepare_cached(&format!(
                            "SELECT {RAW_COLS} FROM segment
                              WHERE channel = ?1 AND start_utc_ms > ?2 AND start_utc_ms < ?3
                              ORDER BY start_utc_ms LIMIT ?4"
                        ))
                        .ctx(|| format!("retention of {ch}"))?;
                    let rows = stmt
                        .query_map(params![ch, after, cutoff, DELETE_BATCH as i64], raw_row)
                        .ctx(|| format!("retention of {ch}"))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .ctx(|| format!("retention of {ch}"))?;
                    Ok(rows)
                })?;
                let Some(last) = batch.last() else { break };
                after = last.start_utc_ms;
                let full = batch.len() == DELETE_BATCH;
                let due: Vec<RawRow> = batch
                    .into_iter()
                    .filter(|r| r.end_utc_ms <= cutoff)
                    .collect();
                self.delete_rows(ch, due, &mut report)?;
                if !full {
                    break;
                }
            }
        }

        // By total size: oldest first across channels.
        if let Some(max) = policy.max_bytes {
            let mut total: u64 = self.usage()?.iter().map(|(_, b, _)| b).sum();
            // Per channel: everything at or before the cursor is deleted or pinned.
            let mut cursor: HashMap<String, i64> = HashMap::new();
            const PER_CHANNEL: i64 = 256;
            while total > max {
                let mut merged: Vec<(String, RawRow)> = Vec::new();
                let mut horizon = i64::MAX;
                for (ch, _) in &channels {
                    let after = cursor.get(ch).copied().unwrap_or(i64::MIN);
                    let rows: Vec<RawRow> = self.read(|c| {
                        let mut stmt = c
                            .prepare_cached(&format!(
                                "SELECT {RAW_COLS} FROM segment WHERE channel = ?1 AND start_utc_ms > ?2
                                  ORDER BY start_utc_ms LIMIT ?3"
                            ))
                            .ctx(|| format!("retention of {ch}"))?;
                        let rows = stmt
                            .query_map(params![ch, after, PER_CHANNEL], raw_row)
                            .ctx(|| format!("retention of {ch}"))?
                            .collect::<rusqlite::Result<Vec<_>>>()
                            .ctx(|| format!("retention of {ch}"))?;
                        Ok(rows)
                    })?;
                    if rows.len() as i64 == PER_CHANNEL {
                        horizon = horizon.min(rows.last().map_or(i64::MAX, |r| r.start_utc_ms));
                    }
                    merged.extend(rows.into_iter().map(|r| (ch.clone(), r)));
                }
                if merged.is_empty() {
                    break;
                }
                merged.sort_by_key(|(_, r)| r.start_utc_ms);
                let mut take: HashMap<String, Vec<RawRow>> = HashMap::new();
                let mut freed = 0u64;
                {
                    let pins = lock(&self.pins);
                    for (ch, r) in merged {
                        if r.start_utc_ms > horizon || total - freed <= max {
                            break;
                        }
                        cursor.insert(ch.clone(), r.start_utc_ms);
                        if pins.contains_key(&r.id) {
                            report.pinned_skipped += 1;
                            continue;
                        }
                        freed += r.bytes as u64;
                        take.entry(ch).or_default().push(r);
                    }
                }
                let before = report.bytes_freed;
                for (ch, rows) in take {
                    self.delete_rows(&ch, rows, &mut report)?;
                }
                // Every round moves at least one cursor (the oldest row in view is at or before
                // the horizon), so pinned rows cannot stall the loop.
                total = total.saturating_sub(report.bytes_freed - before);
            }
        }

        // Gaps older than what is kept.
        {
            let w = lock(&self.writer);
            for (ch, _) in &channels {
                report.gaps_deleted += w
                    .execute(
                        "DELETE FROM gap WHERE channel = ?1 AND to_utc_ms <= coalesce(
                            (SELECT min(start_utc_ms) FROM segment WHERE channel = ?1), 9223372036854775807)",
                        [ch],
                    )
                    .ctx(|| format!("old gaps of {ch}"))?;
            }
        }
        if report.segments_deleted > 0 {
            tracing::info!(?report, "archive retention");
        }
        Ok(report)
    }

    /// Deletes `rows` of `ch` that are not pinned: rows and pending paths in one durable
    /// transaction, then the files, then the pending paths.
    fn delete_rows(&self, ch: &str, rows: Vec<RawRow>, report: &mut RetentionReport) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut paths: Vec<String> = Vec::with_capacity(rows.len());
        {
            // Pins are checked and the rows deleted under the pin lock: a pin taken after this
            // commit finds the row gone (and, via open_segment, the file gone).
            let pins = lock(&self.pins);
            let mut w = lock(&self.writer);
            w.pragma_update(None, "synchronous", "FULL")
                .ctx(|| "synchronous".into())?;
            let result = (|| -> rusqlite::Result<()> {
                let tx = w.transaction()?;
                {
                    let mut del = tx.prepare_cached(
                        "DELETE FROM segment WHERE channel = ?1 AND start_utc_ms = ?2",
                    )?;
                    let mut pend = tx.prepare_cached(
                        "INSERT OR IGNORE INTO pending_delete (path) VALUES (?1)",
                    )?;
                    for r in &rows {
                        if pins.contains_key(&r.id) {
                            report.pinned_skipped += 1;
                            continue;
                        }
                        if del.execute(params![ch, r.start_utc_ms])? == 0 {
                            continue;
                        }
                        let rel = rel_path(ch, r.start_utc_ms, r.duration_90k, r.discontinuity);
                        let rel = rel.to_string_lossy().into_owned();
                        pend.execute([&rel])?;
                        paths.push(rel);
                        report.segments_deleted += 1;
                        report.bytes_freed += r.bytes as u64;
                    }
                }
                tx.commit()
            })();
            let restored = w.pragma_update(None, "synchronous", "NORMAL");
            result.ctx(|| format!("delete segments of {ch}"))?;
            restored.ctx(|| "synchronous".into())?;
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        for p in &paths {
            let abs = self.root.join(p);
            remove_file_if_exists(&abs)?;
            if let Some(d) = abs.parent() {
                if dirs.last().map(|l| l.as_path()) != Some(d) {
                    dirs.push(d.to_path_buf());
                }
            }
        }
        // Empty hour and day directories go too (fails harmlessly when not empty).
        for d in dirs {
            if fs::remove_dir(&d).is_ok() {
                if let Some(day) = d.parent() {
                    let _ = fs::remove_dir(day);
                }
            }
        }
        let w = lock(&self.writer);
        let tx = w.unchecked_transaction().ctx(|| "pending deletes".into())?;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM pending_delete WHERE path = ?1")
                .ctx(|| "pending deletes".into())?;
            for p in &paths {
                stmt.execute([p]).ctx(|| "pending deletes".into())?;
            }
        }
        tx.commit().ctx(|| "pending deletes".into())?;
        Ok(())
    }

    /// Bytes and segments per channel with segments, by channel id. O(channels): running totals.
    pub fn usage(&self) -> Result<Vec<(String, u64, i64)>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT channel, bytes, segments FROM channel_state WHERE segments > 0 ORDER BY channel",
                )
                .ctx(|| "usage".into())?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?)))
                .ctx(|| "usage".into())?
                .collect::<rusqlite::Result<Vec<_>>>()
                .ctx(|| "usage".into())?;
            Ok(rows)
        })
    }

    /// Removes a channel's whole archive (segments, gaps, stop marker); returns the bytes freed.
    /// The directory is first renamed into `{root}/.trash` (atomic), then rows are dropped, then
    /// the files removed: a crash at any point leaves nothing of the channel after the next open.
    /// Pins are not honoured here (open files stay readable).
    pub fn delete_channel(&self, channel: &str) -> Result<u64> {
        if !valid_channel(channel) {
            return Err(ArchiveError::InvalidChannel(channel.to_string()));
        }
        let _m = lock(&self.maintenance);
        let state = self.chan(channel);
        let mut st = lock(&state);
        let dir = self.root.join(channel);
        let trash_root = self.root.join(TRASH_DIR);
        let trash = trash_root.join(format!(
            "{channel}.{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        ));
        let moved = dir.is_dir();
        if moved {
            fs::create_dir_all(&trash_root).map_err(io_err("create", &trash_root))?;
            fs::rename(&dir, &trash).map_err(io_err("rename", &dir))?;
            if self.fsync {
                fsync_dir(&self.root)?;
            }
        }
        let bytes: i64 = {
            let mut w = lock(&self.writer);
            let tx = w.transaction().ctx(|| format!("delete {channel}"))?;
            let bytes = tx
                .query_row(
                    "SELECT bytes FROM channel_state WHERE channel = ?1",
                    [channel],
                    |r| r.get(0),
                )
                .optional()
                .ctx(|| format!("delete {channel}"))?
                .unwrap_or(0);
            tx.execute("DELETE FROM segment WHERE channel = ?1", [channel])
                .ctx(|| format!("delete {channel}"))?;
            tx.execute("DELETE FROM gap WHERE channel = ?1", [channel])
                .ctx(|| format!("delete {channel}"))?;
            tx.execute(
                "UPDATE channel_state SET stopped_utc_ms = NULL, stopped_reason = NULL WHERE channel = ?1",
                [channel],
            )
            .ctx(|| format!("delete {channel}"))?;
            tx.commit().ctx(|| format!("delete {channel}"))?;
            bytes
        };
        *st = ChanState::default();
        if moved {
            fs::remove_dir_all(&trash).map_err(io_err("remove", &trash))?;
            let _ = fs::remove_dir(&trash_root);
        }
        Ok(bytes as u64)
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

    /// Bulk insert of rows without files, for the benchmark only: `(channel, start_utc_ms,
    /// duration_90k, bytes, discontinuity)`, in one transaction. Breaks the store's invariant
    /// (rows without files) unless the caller creates the files.
    #[doc(hidden)]
    pub fn bench_insert_rows<'a>(
        &self,
        rows: impl IntoIterator<Item = (&'a str, i64, i64, i64, bool)>,
    ) -> Result<usize> {
        let mut w = lock(&self.writer);
        let tx = w.transaction().ctx(|| "bench insert".into())?;
        let mut n = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO segment (channel, start_utc_ms, id, duration_90k, end_utc_ms, bytes, discontinuity)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .ctx(|| "bench insert".into())?;
            for (ch, start, dur, bytes, disc) in rows {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                stmt.execute(params![
                    ch,
                    start,
                    id,
                    dur,
                    start + layout::duration_ms(dur),
                    bytes,
                    disc as i64
                ])
                .ctx(|| "bench insert".into())?;
                n += 1;
            }
        }
        tx.commit().ctx(|| "bench insert".into())?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;

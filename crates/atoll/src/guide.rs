//! The programme guide: EPG sources synced on a schedule (with the operator's retry rule), imported
//! into the `programme` table, and read back for the guide API and the exports. Parsing,
//! normalising, merging and the retry schedule are the pure `epg` crate; this is the IO around it.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use media::{Clock, UtcMs};
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{watch, Notify};

use crate::store::{self, Store, StoreError};

/// An EPG source as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub refresh_minutes: i64,
    pub enabled: bool,
    pub last_attempt_utc_ms: Option<i64>,
    pub last_success_utc_ms: Option<i64>,
    pub last_error: Option<String>,
    pub consecutive_failures: i64,
    pub next_attempt_utc_ms: Option<i64>,
    pub channels_seen: i64,
    pub programmes_seen: i64,
    pub programmes_imported: i64,
    pub unmatched_channels: Vec<String>,
    pub warnings: Vec<String>,
}

const SOURCE_COLUMNS: &str = "id, name, url, refresh_minutes, enabled, last_attempt_utc_ms, last_success_utc_ms, \
     last_error, consecutive_failures, next_attempt_utc_ms, channels_seen, programmes_seen, programmes_imported, \
     unmatched_channels, warnings";

fn lines(s: String) -> Vec<String> {
    s.lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn row_to_source(r: &rusqlite::Row) -> rusqlite::Result<Source> {
    Ok(Source {
        id: r.get(0)?,
        name: r.get(1)?,
        url: r.get(2)?,
        refresh_minutes: r.get(3)?,
        enabled: r.get::<_, i64>(4)? != 0,
        last_attempt_utc_ms: r.get(5)?,
        last_success_utc_ms: r.get(6)?,
        last_error: r.get(7)?,
        consecutive_failures: r.get(8)?,
        next_attempt_utc_ms: r.get(9)?,
        channels_seen: r.get(10)?,
        programmes_seen: r.get(11)?,
        programmes_imported: r.get(12)?,
        unmatched_channels: lines(r.get(13)?),
        warnings: lines(r.get(14)?),
    })
}

pub fn list_sources(c: &Connection) -> Result<Vec<Source>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {SOURCE_COLUMNS} FROM epg_source ORDER BY id"
    ))?;
    let rows = stmt
        .query_map([], row_to_source)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn get_source(c: &Connection, id: i64) -> Result<Source, StoreError> {
    c.query_row(
        &format!("SELECT {SOURCE_COLUMNS} FROM epg_source WHERE id = ?1"),
        [id],
        row_to_source,
    )
    .optional()?
    .ok_or(StoreError::NotFound)
}

pub fn insert_source(
    c: &Connection,
    name: &str,
    url: &str,
    refresh_minutes: i64,
    enabled: bool,
    now: i64,
) -> Result<i64, StoreError> {
    c.execute(
        "INSERT INTO epg_source (name, url, refresh_minutes, enabled, next_attempt_utc_ms, created_utc_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![name, url, refresh_minutes, enabled as i64, now],
    )?;
    Ok(c.last_insert_rowid())
}

pub fn update_source(c: &Connection, s: &Source) -> Result<(), StoreError> {
    let n = c.execute(
        "UPDATE epg_source SET name = ?2, url = ?3, refresh_minutes = ?4, enabled = ?5 WHERE id = ?1",
        params![s.id, s.name, s.url, s.refresh_minutes, s.enabled as i64],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub fn delete_source(c: &Connection, id: i64) -> Result<(), StoreError> {
    match c.execute("DELETE FROM epg_source WHERE id = ?1", [id])? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// Makes the table's sources (name, URL, refresh, enabled) equal to `wanted`, by id, keeping
/// each kept source's sync state: how a backup origin keeps its primary's sources. Returns how
/// many were added, changed and removed.
pub fn mirror_sources(
    c: &Connection,
    wanted: &[crate::ingest::origin::wire::ConfigGuideSource],
    now: i64,
) -> Result<(usize, usize, usize), StoreError> {
    let tx = c.unchecked_transaction()?;
    let c = &*tx;
    let local = list_sources(c)?;
    let (mut added, mut changed, mut removed) = (0, 0, 0);
    for l in &local {
        if !wanted.iter().any(|w| w.id == l.id) {
            delete_source(c, l.id)?;
            removed += 1;
        }
    }
    for w in wanted {
        match local.iter().find(|l| l.id == w.id) {
            Some(l)
                if l.name == w.name
                    && l.url == w.url
                    && l.refresh_minutes == w.refresh_minutes
                    && l.enabled == w.enabled => {}
            Some(l) => {
                update_source(
                    c,
                    &Source {
                        name: w.name.clone(),
                        url: w.url.clone(),
                        refresh_minutes: w.refresh_minutes,
                        enabled: w.enabled,
                        ..l.clone()
                    },
                )?;
                changed += 1;
            }
            None => {
                c.execute(
                    "INSERT INTO epg_source (id, name, url, refresh_minutes, enabled, next_attempt_utc_ms, created_utc_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                    params![w.id, w.name, w.url, w.refresh_minutes, w.enabled as i64, now],
                )?;
                added += 1;
            }
        }
    }
    tx.commit()?;
    Ok((added, changed, removed))
}

/// Makes a source due now.
pub fn sync_now(c: &Connection, id: i64, now: i64) -> Result<(), StoreError> {
    match c.execute(
        "UPDATE epg_source SET next_attempt_utc_ms = ?2 WHERE id = ?1",
        params![id, now],
    )? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// One programme as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgrammeRow {
    pub channel_id: String,
    pub start_utc_ms: i64,
    pub stop_utc_ms: i64,
    pub title: String,
    pub sub_title: String,
    pub description: String,
    pub category: String,
    pub episode: String,
    pub icon: String,
}

const PROGRAMME_COLUMNS: &str =
    "channel_id, start_utc_ms, stop_utc_ms, title, sub_title, description, category, episode, icon";

fn row_to_programme(r: &rusqlite::Row) -> rusqlite::Result<ProgrammeRow> {
    Ok(ProgrammeRow {
        channel_id: r.get(0)?,
        start_utc_ms: r.get(1)?,
        stop_utc_ms: r.get(2)?,
        title: r.get(3)?,
        sub_title: r.get(4)?,
        description: r.get(5)?,
        category: r.get(6)?,
        episode: r.get(7)?,
        icon: r.get(8)?,
    })
}

/// Every active channel with its first two programmes that have not ended by `now_utc_ms`
/// (what is on now and next, or the next two when nothing is on).
pub fn now_and_next(
    c: &Connection,
    now_utc_ms: i64,
) -> Result<Vec<(crate::store::Channel, Vec<ProgrammeRow>)>, StoreError> {
    let mut out = Vec::new();
    for ch in crate::store::list_channels(c)?
        .into_iter()
        .filter(|c| c.active)
    {
        let rows = programmes(c, &ch.id, now_utc_ms, now_utc_ms + 2 * 86_400_000)?;
        out.push((ch, rows.into_iter().take(2).collect()));
    }
    Ok(out)
}

/// Programmes of `channel` overlapping [from, to), in order.
pub fn programmes(
    c: &Connection,
    channel: &str,
    from: i64,
    to: i64,
) -> Result<Vec<ProgrammeRow>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {PROGRAMME_COLUMNS} FROM programme
         WHERE channel_id = ?1 AND start_utc_ms < ?3 AND stop_utc_ms > ?2 ORDER BY start_utc_ms"
    ))?;
    let rows = stmt
        .query_map(params![channel, from, to], row_to_programme)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Every programme overlapping [from, to), by channel then time (for exports).
pub fn all_programmes(c: &Connection, from: i64, to: i64) -> Result<Vec<ProgrammeRow>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {PROGRAMME_COLUMNS} FROM programme WHERE start_utc_ms < ?2 AND stop_utc_ms > ?1
         ORDER BY channel_id, start_utc_ms"
    ))?;
    let rows = stmt
        .query_map(params![from, to], row_to_programme)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Titles containing `q` (case-insensitive for ASCII), soonest first, at most `limit`.
pub fn search(
    c: &Connection,
    q: &str,
    from: i64,
    limit: i64,
) -> Result<Vec<ProgrammeRow>, StoreError> {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {PROGRAMME_COLUMNS} FROM programme WHERE stop_utc_ms > ?2 AND title LIKE ?1 ESCAPE '\\'
         ORDER BY start_utc_ms LIMIT ?3"
    ))?;
    let rows = stmt
        .query_map(
            params![format!("%{escaped}%"), from, limit],
            row_to_programme,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

fn to_epg(p: &ProgrammeRow) -> epg::Programme {
    let mut e = epg::Programme::new(
        p.channel_id.clone(),
        UtcMs(p.start_utc_ms),
        Some(UtcMs(p.stop_utc_ms)),
        &p.title,
    );
    if !p.sub_title.is_empty() {
        e.sub_titles
            .push(epg::LangText::new(None, p.sub_title.clone()));
    }
    if !p.description.is_empty() {
        e.descs
            .push(epg::LangText::new(None, p.description.clone()));
    }
    for cat in p.category.lines().filter(|c| !c.is_empty()) {
        e.categories.push(epg::LangText::new(None, cat));
    }
    if !p.episode.is_empty() {
        e.episode_nums.push(epg::EpisodeNum {
            system: Some("onscreen".into()),
            value: p.episode.clone(),
        });
    }
    if !p.icon.is_empty() {
        e.icon = Some(p.icon.clone());
    }
    e
}

fn from_epg(channel_id: &str, p: &epg::Programme) -> Option<ProgrammeRow> {
    Some(ProgrammeRow {
        channel_id: channel_id.to_string(),
        start_utc_ms: p.start.0,
        stop_utc_ms: p.stop?.0,
        title: p.title().to_string(),
        sub_title: p.sub_title().unwrap_or_default().to_string(),
        description: p.desc().unwrap_or_default().to_string(),
        category: p
            .categories
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        episode: p.episode().unwrap_or_default(),
        icon: p.icon.clone().unwrap_or_default(),
    })
}

/// Programmes as the exports need them (epg::Programme with our channel ids).
pub fn export_programmes(rows: &[ProgrammeRow]) -> Vec<epg::Programme> {
    rows.iter().map(to_epg).collect()
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub channels_seen: usize,
    pub programmes_seen: usize,
    pub programmes_imported: usize,
    pub unmatched: Vec<String>,
    pub warnings: Vec<String>,
}

/// A fingerprint of the stored guide: changes when a sync imported something (edges fetch the
/// origin's guide again when it changes).
pub fn revision(c: &Connection) -> Result<String, StoreError> {
    let (n, last): (i64, Option<i64>) = c.query_row(
        "SELECT (SELECT count(*) FROM programme), (SELECT max(last_success_utc_ms) FROM epg_source)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(format!("{n}-{}", last.unwrap_or(0)))
}

/// Imports a parsed guide (`source_id`: the source it came from; None for an edge's copy of its
/// origin's guide): maps XMLTV channels onto ours (by `epg_id`, else by exact display name),
/// normalises each schedule and merges it with what is stored (future replaced, past kept within
/// the archive window), all in one transaction.
pub fn import(
    c: &mut Connection,
    source_id: Option<i64>,
    guide: &epg::Guide,
    now: UtcMs,
) -> Result<ImportReport, StoreError> {
    import_as(c, source_id, guide, now, false)
}

/// As [`import`]; with `by_channel_id` the XMLTV ids are our channel ids (another node's
/// export: what an edge or a backup origin imports from its origin).
pub fn import_as(
    c: &mut Connection,
    source_id: Option<i64>,
    guide: &epg::Guide,
    now: UtcMs,
    by_channel_id: bool,
) -> Result<ImportReport, StoreError> {
    let channels = store::list_channels(c)?;
    // XMLTV id -> our channel ids
    let mut map: HashMap<&str, Vec<&str>> = HashMap::new();
    for ch in &channels {
        let xid = if by_channel_id {
            Some(ch.id.as_str())
        } else if !ch.epg_id.is_empty() {
            Some(ch.epg_id.as_str())
        } else {
            guide
                .channels
                .iter()
                .find(|x| x.display_names.iter().any(|d| d.text == ch.name))
                .map(|x| x.id.as_str())
        };
        if let Some(x) = xid {
            map.entry(x).or_default().push(ch.id.as_str());
        }
    }
    let mut report = ImportReport {
        channels_seen: guide.channels.len(),
        programmes_seen: guide.programmes.len(),
        warnings: guide
            .warnings
            .iter()
            .take(100)
            .map(|w| format!("line {}: <{}>: {}", w.line, w.element, w.message))
            .collect(),
        ..Default::default()
    };
    let mut xids: Vec<&str> = guide.channels.iter().map(|x| x.id.as_str()).collect();
    xids.extend(guide.programmes.iter().map(|p| p.channel.as_str()));
    let mut seen = HashSet::new();
    report.unmatched = xids
        .into_iter()
        .filter(|x| !map.contains_key(x) && seen.insert(*x))
        .map(String::from)
        .collect();
    report.unmatched.sort();
    let mut incoming: HashMap<&str, Vec<epg::Programme>> = HashMap::new();
    for p in &guide.programmes {
        if let Some(ours) = map.get(p.channel.as_str()) {
            for id in ours {
                let mut q = p.clone();
                q.channel = id.to_string();
                incoming.entry(id).or_default().push(q);
            }
        }
    }
    let max_retention_h = channels
        .iter()
        .map(|c| c.retention_hours as i64)
        .max()
        .unwrap_or(72);
    let keep_past_from = UtcMs(now.0 - max_retention_h * 3_600_000);
    let tx = c.transaction()?;
    for (id, progs) in incoming {
        let (normal, warnings) = epg::normalise(progs);
        report.warnings.extend(
            warnings
                .iter()
                .take(100usize.saturating_sub(report.warnings.len()))
                .map(|w| format!("{id}: {}", w.message)),
        );
        let existing: Vec<epg::Programme> = programmes(&tx, id, i64::MIN / 2, i64::MAX / 2)?
            .iter()
            .map(to_epg)
            .collect();
        let merged = epg::merge(&existing, &normal, now, keep_past_from);
        tx.execute("DELETE FROM programme WHERE channel_id = ?1", [id])?;
        let mut ins = tx.prepare_cached(
            "INSERT OR REPLACE INTO programme (channel_id, start_utc_ms, stop_utc_ms, source_id, title, sub_title,
                                               description, category, episode, icon)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for p in merged.iter().filter_map(|p| from_epg(id, p)) {
            if p.stop_utc_ms <= p.start_utc_ms {
                continue;
            }
            ins.execute(params![
                p.channel_id,
                p.start_utc_ms,
                p.stop_utc_ms,
                source_id,
                p.title,
                p.sub_title,
                p.description,
                p.category,
                p.episode,
                p.icon
            ])?;
            report.programmes_imported += 1;
        }
    }
    tx.commit()?;
    Ok(report)
}

/// The guide's limits (settings `guide_*`), set once at start.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The only directory file sources are read from (absolute).
    pub dir: PathBuf,
    pub max_fetch_bytes: u64,
    pub max_xml_bytes: u64,
    pub max_element_bytes: usize,
    pub max_entries: usize,
    pub fetch_timeout: Duration,
    pub max_concurrent: usize,
}

impl Limits {
    pub fn from_config(cfg: &crate::config::Config) -> Limits {
        let dir = cfg
            .guide_dir
            .clone()
            .unwrap_or_else(|| cfg.data.join("guides"));
        Limits {
            dir,
            max_fetch_bytes: cfg.guide_max_fetch_bytes,
            max_xml_bytes: cfg.guide_max_xml_bytes,
            max_element_bytes: cfg.guide_max_element_bytes.max(4096),
            max_entries: cfg.guide_max_entries,
            fetch_timeout: Duration::from_secs(cfg.guide_fetch_timeout_seconds.max(1)),
            max_concurrent: cfg.guide_max_concurrent_syncs.max(1),
        }
    }
}

static LIMITS: OnceLock<Limits> = OnceLock::new();

/// Limits of `POST /api/probe` (settings `probe_*`). They live here, beside the guide's, because
/// both are set once from the config at start (`set_from_config`) and read by `api`.
#[derive(Debug, Clone)]
pub struct ProbeLimits {
    pub max_concurrent: usize,
    pub per_minute: u32,
    pub testsrc_max_pixels_per_second: u64,
}

static PROBE_LIMITS: OnceLock<ProbeLimits> = OnceLock::new();

/// The probe limits in force (the defaults until `set_from_config`).
pub fn probe_limits() -> &'static ProbeLimits {
    PROBE_LIMITS.get_or_init(|| probe_limits_of(&crate::config::Config::default()))
}

fn probe_limits_of(cfg: &crate::config::Config) -> ProbeLimits {
    ProbeLimits {
        max_concurrent: cfg.probe_max_concurrent.max(1),
        per_minute: cfg.probe_per_minute,
        testsrc_max_pixels_per_second: cfg.probe_testsrc_max_pixels_per_second,
    }
}

/// Sets the guide's and the probe's limits from the config (once, at start).
pub fn set_from_config(cfg: &crate::config::Config) {
    set_limits(Limits::from_config(cfg));
    let _ = PROBE_LIMITS.set(probe_limits_of(cfg));
}

/// Sets the limits (once, at start); creates the guide directory and makes its path absolute.
pub fn set_limits(mut l: Limits) {
    if let Err(e) = std::fs::create_dir_all(&l.dir) {
        tracing::warn!("guide directory {}: {e}", l.dir.display());
    }
    l.dir = std::fs::canonicalize(&l.dir)
        .or_else(|_| std::path::absolute(&l.dir))
        .unwrap_or(l.dir);
    tracing::info!(
        "guide files are read from {} only (setting guide_dir)",
        l.dir.display()
    );
    let _ = LIMITS.set(l);
}

/// The limits in force (the defaults until `set_limits`).
pub fn limits() -> &'static Limits {
    LIMITS.get_or_init(|| Limits::from_config(&crate::config::Config::default()))
}

/// Whether a source URL names a web resource (else it is a file).
pub fn is_web(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// A file source's path, if it lies inside the guide directory as written: an absolute path under
/// `dir` or a name relative to it, with no `..` (symbolic links are checked when it is read).
/// The error never depends on what exists on disk.
pub fn file_in_guide_dir(url: &str, dir: &Path) -> Result<PathBuf, String> {
    let p = Path::new(url);
    let outside = || {
        format!(
            "must be an http(s):// URL or a file in the guide directory {} (setting guide_dir)",
            dir.display()
        )
    };
    if url.is_empty() || url.contains('\0') {
        return Err(outside());
    }
    if p.components().any(|c| {
        matches!(
            c,
            std::path::Component::ParentDir | std::path::Component::CurDir
        )
    }) {
        return Err(outside());
    }
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    };
    if !full.starts_with(dir) || full == dir {
        return Err(outside());
    }
    Ok(full)
}

/// Opens a file source for reading: inside the guide directory (symbolic links resolved), a
/// regular file (never a FIFO or a device, which could block or never end), opened without
/// blocking, at most `max_fetch_bytes`. Errors never tell whether a path outside the directory
/// exists.
fn open_guide_file(url: &str, l: &Limits) -> Result<std::fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = file_in_guide_dir(url, &l.dir)?;
    let shown = path.display();
    let refused = || format!("{shown}: not a regular file inside the guide directory");
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("{shown}: no such file in the guide directory"))
        }
        Err(_) => return Err(refused()),
        Ok(_) => {}
    }
    let real = std::fs::canonicalize(&path).map_err(|_| refused())?;
    if !real.starts_with(&l.dir) {
        return Err(refused());
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(&real)
        .map_err(|_| refused())?;
    let meta = file.metadata().map_err(|_| refused())?;
    if !meta.is_file() {
        return Err(refused());
    }
    if meta.len() > l.max_fetch_bytes {
        return Err(too_large(l.max_fetch_bytes, "guide_max_fetch_bytes"));
    }
    Ok(file)
}

/// The guide limits a sync can run into, by setting name, with how often each stopped one
/// (`atoll_guide_limit_hits_total` in `/metrics`).
pub mod stats {
    use std::sync::atomic::{AtomicU64, Ordering};

    pub const SETTINGS: [&str; 5] = [
        "guide_max_fetch_bytes",
        "guide_max_xml_bytes",
        "guide_max_element_bytes",
        "guide_max_entries",
        "guide_fetch_timeout_seconds",
    ];
    pub static LIMIT_HITS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

    /// Counts one sync stopped by `setting` (one of [`SETTINGS`]).
    pub fn hit(setting: &str) {
        if let Some(i) = SETTINGS.iter().position(|s| *s == setting) {
            LIMIT_HITS[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The error for a guide over a size cap (and counts the hit).
fn too_large(max: u64, setting: &str) -> String {
    stats::hit(setting);
    format!("guide larger than {max} bytes (setting {setting})")
}

/// Streams a web source's body into `to` as it arrives (the parser reads the other end, so the
/// body is never held whole); an error is sent as the last item.
async fn pump(url: &str, to: tokio::sync::mpsc::Sender<Result<bytes::Bytes, String>>) {
    use http_body_util::BodyExt;
    let (final_url, resp) = match crate::ingest::http_client::get(url).await {
        Ok(r) => r,
        Err(e) => {
            let _ = to.send(Err(e)).await;
            return;
        }
    };
    let shown = crate::ingest::http_client::redact(&final_url);
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    if to.send(Ok(d)).await.is_err() {
                        return; // the parser stopped (a limit, or bad XML)
                    }
                }
            }
            Err(e) => {
                let _ = to.send(Err(format!("GET {shown}: {e}"))).await;
                return;
            }
        }
    }
}

/// The blocking end of `pump`.
struct Pumped {
    rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, String>>,
    chunk: bytes::Bytes,
    failed: std::rc::Rc<std::cell::Cell<Option<String>>>,
}

impl Read for Pumped {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(c)) => self.chunk = c,
                Some(Err(e)) => {
                    self.failed.set(Some(e.clone()));
                    return Err(std::io::Error::other(e));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// A reader that fails once more than `max` bytes came through it (and says which limit).
struct Capped<R> {
    inner: R,
    left: u64,
    max: u64,
    setting: &'static str,
    tripped: std::rc::Rc<std::cell::Cell<Option<String>>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                // the first reason wins: a limit below, else (above the download) gunzip
                let prev = self.tripped.take();
                self.tripped.set(prev.or_else(|| {
                    (self.setting == "guide_max_xml_bytes").then(|| format!("gzip: {e}"))
                }));
                return Err(e);
            }
        };
        if n as u64 > self.left {
            let e = too_large(self.max, self.setting);
            self.tripped.set(Some(e.clone()));
            return Err(std::io::Error::other(e));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Gunzips when the bytes are gzip, then parses, streaming: neither the download nor the XML is
/// ever held whole beyond `max_fetch_bytes`, and the XML stops at `max_xml_bytes` (blocking;
/// run on the blocking pool).
pub fn decode_and_parse(input: impl Read, l: &Limits) -> Result<epg::Guide, String> {
    let tripped = std::rc::Rc::new(std::cell::Cell::new(None));
    let mut raw = std::io::BufReader::new(Capped {
        inner: input,
        left: l.max_fetch_bytes,
        max: l.max_fetch_bytes,
        setting: "guide_max_fetch_bytes",
        tripped: tripped.clone(),
    });
    let gz = {
        let head = raw.fill_buf().map_err(|e| {
            tripped
                .take()
                .unwrap_or_else(|| format!("reading the guide: {e}"))
        })?;
        head.starts_with(&[0x1f, 0x8b])
    };
    let xml: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let xml = std::io::BufReader::new(Capped {
        inner: xml,
        left: l.max_xml_bytes,
        max: l.max_xml_bytes,
        setting: "guide_max_xml_bytes",
        tripped: tripped.clone(),
    });
    let result = epg::parse_reader_with(
        xml,
        &epg::ParseLimits {
            max_event_bytes: l.max_element_bytes,
            max_entries: l.max_entries,
        },
    );
    if let Some(e) = tripped.take() {
        return Err(e);
    }
    result.map_err(|e| {
        let setting = match e.limit {
            Some(epg::ParseLimit::EventBytes) => "guide_max_element_bytes",
            Some(epg::ParseLimit::Entries) => "guide_max_entries",
            None => return format!("XMLTV: line {}: {}", e.line, e.message),
        };
        stats::hit(setting);
        format!("XMLTV: line {}: {} (setting {setting})", e.line, e.message)
    })
}

/// Fetches and parses one source (an http(s) URL, or a file in the guide directory), streaming.
pub async fn fetch_and_parse(url: &str, l: &Limits) -> Result<epg::Guide, String> {
    if is_web(url) {
        // a few chunks in flight between the download and the parser
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let l = l.clone();
        let parser = tokio::task::spawn_blocking(move || {
            let failed = std::rc::Rc::new(std::cell::Cell::new(None));
            let input = Pumped {
                rx,
                chunk: bytes::Bytes::new(),
                failed: failed.clone(),
            };
            let r = decode_and_parse(input, &l);
            // a download error explains a parse error better than the parser can
            match failed.take() {
                Some(e) => Err(e),
                None => r,
            }
        });
        // when this future is dropped (the timeout), the pump goes and the parser sees the end
        let mut parser = parser;
        let pumping = pump(url, tx);
        tokio::pin!(pumping);
        let parsed = tokio::select! {
            // the parser is done (or stopped at a limit): the download goes with it
            r = &mut parser => r,
            _ = &mut pumping => parser.await,
        };
        parsed.map_err(|e| format!("parser task: {e}"))?
    } else {
        let (url, l) = (url.to_string(), l.clone());
        tokio::task::spawn_blocking(move || {
            let file = open_guide_file(&url, &l)?;
            decode_and_parse(file, &l)
        })
        .await
        .map_err(|e| format!("parser task: {e}"))?
    }
}

/// Syncs due sources until shutdown. `wake` makes it look at once (sync now, new source).
/// Each source syncs in its own task, under a timeout, at most `max_concurrent` at once: one
/// slow or stuck source never holds the others. While `following` (a backup origin following
/// its primary), nothing is synced here: the sources are the primary's copies and the guide is
/// the primary's, imported by `cluster::follow`; once promoted, this node syncs them itself.
pub async fn sync_loop(
    store: Store,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    following: Arc<std::sync::atomic::AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let l = limits().clone();
    let slots = Arc::new(tokio::sync::Semaphore::new(l.max_concurrent));
    let running: Arc<std::sync::Mutex<HashSet<i64>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let now = clock.now_utc();
        let following = following.load(std::sync::atomic::Ordering::Relaxed);
        let due: Vec<Source> = match store.call(|c| list_sources(c)).await {
            Ok(_) if following => Vec::new(),
            Ok(s) => s
                .into_iter()
                .filter(|s| s.enabled && s.next_attempt_utc_ms.is_none_or(|t| t <= now.0))
                .collect(),
            Err(e) => {
                tracing::warn!("epg: reading sources: {e}");
                Vec::new()
            }
        };
        for src in due {
            if !running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(src.id)
            {
                continue; // still syncing
            }
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&src.id);
                break; // all slots busy: the rest wait for the next round
            };
            let (store, clock, running, l, wake) = (
                store.clone(),
                clock.clone(),
                running.clone(),
                l.clone(),
                wake.clone(),
            );
            tasks.spawn(async move {
                let id = src.id;
                sync_source(&store, clock.as_ref(), src, &l).await;
                running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                drop(permit);
                wake.notify_one(); // a slot is free: look for waiting sources
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => { tasks.abort_all(); return; }
        }
    }
}

/// One attempt: fetch, parse, import; the source's status and next attempt are updated either way.
pub async fn sync_source(store: &Store, clock: &dyn Clock, src: Source, l: &Limits) {
    let started = clock.now_utc();
    let outcome: Result<ImportReport, String> = async {
        let guide = tokio::time::timeout(l.fetch_timeout, fetch_and_parse(&src.url, l))
            .await
            .map_err(|_| {
                stats::hit("guide_fetch_timeout_seconds");
                format!(
                    "guide not fetched and read within {} s (setting guide_fetch_timeout_seconds)",
                    l.fetch_timeout.as_secs()
                )
            })??;
        let id = src.id;
        store
            .call(move |c| import(c, Some(id), &guide, started))
            .await
            .map_err(|e| format!("storing the guide: {e}"))
    }
    .await;
    let now = clock.now_utc();
    let mut schedule = epg::SyncSchedule::resume(
        src.consecutive_failures as u32,
        src.next_attempt_utc_ms.map(UtcMs),
    );
    let id = src.id;
    let result = match outcome {
        Ok(report) => {
            let next = schedule.on_success(now, src.refresh_minutes * 60_000);
            tracing::info!(
                source = %src.name,
                "epg sync: {} programmes imported ({} in the file, {} unmatched channels)",
                report.programmes_imported,
                report.programmes_seen,
                report.unmatched.len()
            );
            store
                .call(move |c| {
                    c.execute(
                        "UPDATE epg_source SET last_attempt_utc_ms = ?2, last_success_utc_ms = ?2, last_error = NULL,
                         consecutive_failures = 0, next_attempt_utc_ms = ?3, channels_seen = ?4, programmes_seen = ?5,
                         programmes_imported = ?6, unmatched_channels = ?7, warnings = ?8 WHERE id = ?1",
                        params![
                            id,
                            now.0,
                            next.0,
                            report.channels_seen as i64,
                            report.programmes_seen as i64,
                            report.programmes_imported as i64,
                            report.unmatched.join("\n"),
                            report.warnings.join("\n")
                        ],
                    )?;
                    Ok(())
                })
                .await
        }
        Err(e) => {
            // error texts quote URLs: never with a password
            let e = crate::ingest::http_client::redact_text(&e);
            let next = schedule.on_failure(now);
            tracing::warn!(source = %src.name, "epg sync failed (keeping the last good guide): {e}; next attempt {}", next.to_rfc3339());
            let failures = schedule.consecutive_failures() as i64;
            store
                .call(move |c| {
                    c.execute(
                        "UPDATE epg_source SET last_attempt_utc_ms = ?2, last_error = ?3, consecutive_failures = ?4,
                         next_attempt_utc_ms = ?5 WHERE id = ?1",
                        params![id, now.0, e, failures, next.0],
                    )?;
                    Ok(())
                })
                .await
        }
    };
    if let Err(e) = result {
        tracing::error!("epg: saving the sync status: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn limits(fetch: u64, xml: u64) -> Limits {
        Limits {
            dir: PathBuf::from("/srv/guides"),
            max_fetch_bytes: fetch,
            max_xml_bytes: xml,
            max_element_bytes: 1 << 20,
            max_entries: 1000,
            fetch_timeout: Duration::from_secs(5),
            max_concurrent: 1,
        }
    }

    #[test]
    fn file_sources_are_named_inside_the_guide_directory() {
        let dir = Path::new("/srv/guides");
        assert_eq!(
            file_in_guide_dir("a.xml", dir).unwrap(),
            PathBuf::from("/srv/guides/a.xml")
        );
        assert_eq!(
            file_in_guide_dir("/srv/guides/sub/a.xml.gz", dir).unwrap(),
            PathBuf::from("/srv/guides/sub/a.xml.gz")
        );
        for bad in [
            "/etc/shadow",
            "../a.xml",
            "/srv/guides/../x",
            "/srv/guides",
            "/srv/guides-other/a.xml",
            "./a.xml",
            "",
            "a\0b",
        ] {
            assert!(file_in_guide_dir(bad, dir).is_err(), "{bad}");
        }
    }

    #[test]
    fn caps_hold_while_streaming() {
        let xml = b"<?xml version=\"1.0\"?><tv><channel id=\"a\"><display-name>A</display-name></channel></tv>";
        assert_eq!(
            decode_and_parse(&xml[..], &limits(1 << 20, 1 << 20))
                .unwrap()
                .channels
                .len(),
            1
        );
        // too many bytes fetched
        assert_eq!(
            decode_and_parse(&xml[..], &limits(10, 1 << 20)).unwrap_err(),
            "guide larger than 10 bytes (setting guide_max_fetch_bytes)"
        );
        // a gzip that expands past the XML cap: refused without expanding it all
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"<tv>").unwrap();
        for _ in 0..4096 {
            gz.write_all(&[b' '; 1016]).unwrap();
            gz.write_all(b"<!---->").unwrap();
        }
        gz.write_all(b"</tv>").unwrap();
        let bomb = gz.finish().unwrap();
        assert_eq!(
            decode_and_parse(&bomb[..], &limits(1 << 20, 1 << 20)).unwrap_err(),
            "guide larger than 1048576 bytes (setting guide_max_xml_bytes)"
        );
        assert!(decode_and_parse(&bomb[..], &limits(1 << 20, 8 << 20)).is_ok());
        // one huge text run: refused at the element cap
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"<tv>").unwrap();
        gz.write_all(&[b' '; 2 << 20]).unwrap();
        let e = decode_and_parse(&gz.finish().unwrap()[..], &limits(1 << 20, 8 << 20)).unwrap_err();
        assert!(e.ends_with("(setting guide_max_element_bytes)"), "{e}");
        // too many entries
        let mut many = String::from("<tv>");
        for i in 0..1001 {
            many.push_str(&format!("<channel id=\"c{i}\"/>"));
        }
        many.push_str("</tv>");
        let e = decode_and_parse(many.as_bytes(), &limits(1 << 20, 1 << 20)).unwrap_err();
        assert!(
            e.ends_with("more than 1000 channels and programmes (setting guide_max_entries)"),
            "{e}"
        );
        // a broken gzip says so
        let e = decode_and_parse(&bomb[..bomb.len() / 2], &limits(1 << 20, 8 << 20)).unwrap_err();
        assert!(e.starts_with("gzip: "), "{e}");
    }
}

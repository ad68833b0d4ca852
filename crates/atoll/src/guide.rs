//! The programme guide: EPG sources synced on a schedule (with the operator's retry rule), imported
//! into the `programme` table, and read back for the guide API and the exports. Parsing,
//! normalising, merging and the retry schedule are the pure `epg` crate; this is the IO around it.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;

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

/// Imports a parsed guide: maps XMLTV channels onto ours (by `epg_id`, else by exact display name),
/// normalises each schedule and merges it with what is stored (future replaced, past kept within
/// the archive window), all in one transaction.
pub fn import(
    c: &mut Connection,
    source_id: i64,
    guide: &epg::Guide,
    now: UtcMs,
) -> Result<ImportReport, StoreError> {
    let channels = store::list_channels(c)?;
    // XMLTV id -> our channel ids
    let mut map: HashMap<&str, Vec<&str>> = HashMap::new();
    for ch in &channels {
        let xid = if !ch.epg_id.is_empty() {
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

/// Reads a source: an http:// URL or a local file; gzip is detected by its magic bytes.
pub async fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let raw = if url.starts_with("http://") || url.starts_with("https://") {
        crate::ingest::http_client::get_body(url, 512 << 20)
            .await?
            .1
            .to_vec()
    } else if url.starts_with('/') {
        let path = url.to_string();
        tokio::fs::read(&path)
            .await
            .map_err(|e| format!("reading {path}: {e}"))?
    } else {
        return Err(format!(
            "'{url}' is neither an http:// URL nor an absolute file path"
        ));
    };
    Ok(raw)
}

/// Gunzips when the bytes are gzip, then parses (blocking; run on the blocking pool).
pub fn decode_and_parse(raw: Vec<u8>) -> Result<epg::Guide, String> {
    let xml = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 8);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| format!("gzip: {e}"))?;
        out
    } else {
        raw
    };
    epg::parse(&xml).map_err(|e| format!("XMLTV: line {}: {}", e.line, e.message))
}

/// Syncs due sources until shutdown. `wake` makes it look at once (sync now, new source).
pub async fn sync_loop(
    store: Store,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let now = clock.now_utc();
        let due: Vec<Source> = match store.call(|c| list_sources(c)).await {
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
            tokio::select! {
                _ = sync_source(&store, clock.as_ref(), src) => {}
                _ = shutdown.changed() => return,
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One attempt: fetch, parse, import; the source's status and next attempt are updated either way.
pub async fn sync_source(store: &Store, clock: &dyn Clock, src: Source) {
    let started = clock.now_utc();
    let outcome: Result<ImportReport, String> = async {
        let raw = fetch(&src.url).await?;
        let guide = tokio::task::spawn_blocking(move || decode_and_parse(raw))
            .await
            .map_err(|e| format!("parser task: {e}"))??;
        let id = src.id;
        store
            .call(move |c| import(c, id, &guide, started))
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

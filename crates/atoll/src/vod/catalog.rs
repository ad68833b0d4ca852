//! The library's rows (migration 0006): titles, categories and imports. Blocking; called through
//! `Store::call`/`Store::read`, or directly by the CLI.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use crate::store::StoreError;

/// One title as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Title {
    pub id: i64,
    pub title: String,
    pub title_en: String,
    pub description: String,
    pub category: Option<String>,
    pub category_id: Option<i64>,
    pub year: Option<i64>,
    pub genre: String,
    pub series: String,
    pub season: Option<i64>,
    pub episode: Option<i64>,
    pub duration_ms: i64,
    /// `{"video": …, "audio": […], "subtitles": […]}` as read from the stored file.
    pub media: Value,
    pub size_bytes: i64,
    pub source_name: String,
    pub poster: bool,
    pub added_utc_ms: i64,
    pub updated_utc_ms: i64,
    /// Hex SHA-256 of media.mp4.
    pub sha256: String,
    pub plays: i64,
    pub last_played_utc_ms: Option<i64>,
}

impl Title {
    /// The API's shape (`GET /api/vod/{id}`).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "title_en": self.title_en,
            "description": self.description,
            "category": self.category,
            "category_id": self.category_id,
            "year": self.year,
            "genre": self.genre,
            "duration_s": self.duration_ms as f64 / 1000.0,
            "video": self.media.get("video").cloned().unwrap_or(Value::Null),
            "audio": self.media.get("audio").cloned().unwrap_or(json!([])),
            "subtitles": self.media.get("subtitles").cloned().unwrap_or(json!([])).as_array()
                .map(|a| a.iter().map(|s| json!({"language": s.get("language")})).collect::<Vec<_>>())
                .unwrap_or_default(),
            "series": if self.series.is_empty() { Value::Null } else { json!(self.series) },
            "season": self.season,
            "episode": self.episode,
            "added": self.added_utc_ms / 1000,
            "size_bytes": self.size_bytes,
            "source_name": self.source_name,
            "container_extension": "mp4",
            "poster": if self.poster { json!(format!("/vod/{}/poster.jpg", self.id)) } else { Value::Null },
            "hls": format!("/vod/{}/index.m3u8", self.id),
            "hls_fmp4": format!("/vod/{}/index-fmp4.m3u8", self.id),
            "file": format!("/vod/{}/file.mp4", self.id),
        })
    }
}

impl Title {
    /// The whole row, as an origin sends it to its edges (`/api/cluster/vod`).
    pub fn to_wire(&self) -> Value {
        json!({
            "id": self.id, "title": self.title, "title_en": self.title_en,
            "description": self.description, "category_id": self.category_id,
            "year": self.year, "genre": self.genre, "series": self.series,
            "season": self.season, "episode": self.episode, "duration_ms": self.duration_ms,
            "media": self.media, "size_bytes": self.size_bytes, "source_name": self.source_name,
            "poster": self.poster, "added_utc_ms": self.added_utc_ms,
            "updated_utc_ms": self.updated_utc_ms, "sha256": self.sha256,
        })
    }

    /// The row an origin sent; None when a field is missing or of the wrong type.
    pub fn from_wire(v: &Value) -> Option<Title> {
        let s = |k: &str| v.get(k)?.as_str().map(str::to_string);
        let oi = |k: &str| v.get(k).and_then(Value::as_i64);
        let sha = s("sha256")?;
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Title {
            id: oi("id").filter(|i| *i > 0)?,
            title: s("title")?,
            title_en: s("title_en")?,
            description: s("description")?,
            category: None,
            category_id: oi("category_id"),
            year: oi("year"),
            genre: s("genre")?,
            series: s("series")?,
            season: oi("season"),
            episode: oi("episode"),
            duration_ms: oi("duration_ms")?,
            media: v.get("media")?.clone(),
            size_bytes: oi("size_bytes").filter(|n| *n >= 0)?,
            source_name: s("source_name")?,
            poster: v.get("poster")?.as_bool()?,
            added_utc_ms: oi("added_utc_ms")?,
            updated_utc_ms: oi("updated_utc_ms")?,
            sha256: sha,
            plays: 0,
            last_played_utc_ms: None,
        })
    }
}

const COLUMNS: &str = "t.id, t.title, t.title_en, t.description, c.name, t.category_id, t.year, \
    t.genre, t.series, t.season, t.episode, t.duration_ms, t.media, t.size_bytes, t.source_name, \
    t.poster, t.added_utc_ms, t.updated_utc_ms, t.sha256, t.plays, t.last_played_utc_ms";

fn row(r: &rusqlite::Row) -> rusqlite::Result<Title> {
    let media: String = r.get(12)?;
    Ok(Title {
        id: r.get(0)?,
        title: r.get(1)?,
        title_en: r.get(2)?,
        description: r.get(3)?,
        category: r.get(4)?,
        category_id: r.get(5)?,
        year: r.get(6)?,
        genre: r.get(7)?,
        series: r.get(8)?,
        season: r.get(9)?,
        episode: r.get(10)?,
        duration_ms: r.get(11)?,
        media: serde_json::from_str(&media).unwrap_or(Value::Null),
        size_bytes: r.get(13)?,
        source_name: r.get(14)?,
        poster: r.get::<_, String>(15)? == "file",
        added_utc_ms: r.get(16)?,
        updated_utc_ms: r.get(17)?,
        sha256: r.get(18)?,
        plays: r.get(19)?,
        last_played_utc_ms: r.get(20)?,
    })
}

/// Search and filter of the list.
#[derive(Debug, Default, Clone)]
pub struct Query {
    /// Text in either title, the series name or the description (case-insensitive for ASCII).
    pub q: Option<String>,
    pub category: Option<String>,
    pub series: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// Titles matching `q`, newest first (episodes of a series in order).
pub fn list(c: &Connection, q: &Query) -> Result<(Vec<Title>, i64), StoreError> {
    let like = q.q.as_ref().map(|s| {
        let esc = s
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{esc}%")
    });
    let filter = "FROM vod_title t LEFT JOIN vod_category c ON c.id = t.category_id \
        WHERE (?1 IS NULL OR t.title LIKE ?1 ESCAPE '\\' OR t.title_en LIKE ?1 ESCAPE '\\' \
               OR t.series LIKE ?1 ESCAPE '\\' OR t.description LIKE ?1 ESCAPE '\\') \
          AND (?2 IS NULL OR c.name = ?2) AND (?3 IS NULL OR t.series = ?3)";
    let total: i64 = c.query_row(
        &format!("SELECT count(*) {filter}"),
        params![like, q.category, q.series],
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} {filter} ORDER BY t.series = '' DESC, t.added_utc_ms DESC, t.series, \
         t.season, t.episode, t.id DESC LIMIT ?4 OFFSET ?5"
    ))?;
    let rows = st
        .query_map(params![like, q.category, q.series, q.limit, q.offset], row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, total))
}

pub fn get(c: &Connection, id: i64) -> Result<Title, StoreError> {
    c.query_row(
        &format!(
            "SELECT {COLUMNS} FROM vod_title t LEFT JOIN vod_category c ON c.id = t.category_id \
             WHERE t.id = ?1"
        ),
        [id],
        row,
    )
    .optional()?
    .ok_or(StoreError::NotFound)
}

/// The category's id, made when new.
pub fn category_id(c: &Connection, name: &str) -> Result<i64, StoreError> {
    c.execute(
        "INSERT INTO vod_category (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
        [name],
    )?;
    Ok(
        c.query_row("SELECT id FROM vod_category WHERE name = ?1", [name], |r| {
            r.get(0)
        })?,
    )
}

/// Every category with its number of titles, in the player's order.
pub fn categories(c: &Connection) -> Result<Vec<Value>, StoreError> {
    let mut st = c.prepare(
        "SELECT c.id, c.name, c.position, count(t.id) FROM vod_category c \
         LEFT JOIN vod_title t ON t.category_id = c.id GROUP BY c.id ORDER BY c.position, c.name",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok(
                json!({"id": r.get::<_, i64>(0)?, "name": r.get::<_, String>(1)?,
                      "position": r.get::<_, i64>(2)?, "titles": r.get::<_, i64>(3)?}),
            )
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// What an import found in the file, for the new row.
#[derive(Debug, Clone)]
pub struct NewTitle {
    pub title: String,
    pub category: Option<String>,
    pub duration_ms: i64,
    pub media: Value,
    pub size_bytes: i64,
    pub source_name: String,
    pub poster: bool,
    pub sha256: String,
}

/// Adds a title; returns its id.
pub fn insert(c: &mut Connection, t: &NewTitle, now_utc_ms: i64) -> Result<i64, StoreError> {
    let tx = c.transaction()?;
    let cat = match &t.category {
        Some(name) => Some(category_id(&tx, name)?),
        None => None,
    };
    tx.execute(
        "INSERT INTO vod_title (title, category_id, duration_ms, media, size_bytes, source_name, \
         poster, added_utc_ms, updated_utc_ms, sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
        params![
            t.title,
            cat,
            t.duration_ms,
            t.media.to_string(),
            t.size_bytes,
            t.source_name,
            if t.poster { "file" } else { "none" },
            now_utc_ms,
            t.sha256
        ],
    )?;
    let id = tx.last_insert_rowid();
    tx.commit()?;
    Ok(id)
}

/// Editable fields (`PUT /api/vod/{id}`); None = unchanged.
#[derive(Debug, Default, Clone)]
pub struct Change {
    pub title: Option<String>,
    pub title_en: Option<String>,
    pub description: Option<String>,
    /// Some(None) = uncategorised.
    pub category: Option<Option<String>>,
    pub year: Option<Option<i64>>,
    pub genre: Option<String>,
    pub series: Option<String>,
    pub season: Option<Option<i64>>,
    pub episode: Option<Option<i64>>,
    pub poster: Option<bool>,
}

pub fn update(
    c: &mut Connection,
    id: i64,
    ch: &Change,
    now_utc_ms: i64,
) -> Result<Title, StoreError> {
    let tx = c.transaction()?;
    let mut t = get(&tx, id)?;
    if let Some(v) = &ch.title {
        t.title = v.clone();
    }
    if let Some(v) = &ch.title_en {
        t.title_en = v.clone();
    }
    if let Some(v) = &ch.description {
        t.description = v.clone();
    }
    if let Some(v) = &ch.category {
        t.category_id = match v {
            Some(name) => Some(category_id(&tx, name)?),
            None => None,
        };
    }
    if let Some(v) = ch.year {
        t.year = v;
    }
    if let Some(v) = &ch.genre {
        t.genre = v.clone();
    }
    if let Some(v) = &ch.series {
        t.series = v.clone();
    }
    if let Some(v) = ch.season {
        t.season = v;
    }
    if let Some(v) = ch.episode {
        t.episode = v;
    }
    if let Some(v) = ch.poster {
        t.poster = v;
    }
    tx.execute(
        "UPDATE vod_title SET title = ?2, title_en = ?3, description = ?4, category_id = ?5, \
         year = ?6, genre = ?7, series = ?8, season = ?9, episode = ?10, poster = ?11, \
         updated_utc_ms = ?12 WHERE id = ?1",
        params![
            id,
            t.title,
            t.title_en,
            t.description,
            t.category_id,
            t.year,
            t.genre,
            t.series,
            t.season,
            t.episode,
            if t.poster { "file" } else { "none" },
            now_utc_ms
        ],
    )?;
    let t = get(&tx, id)?;
    tx.commit()?;
    Ok(t)
}

pub fn delete(c: &Connection, id: i64) -> Result<(), StoreError> {
    match c.execute("DELETE FROM vod_title WHERE id = ?1", [id])? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// An import's row.
pub fn import_started(
    c: &Connection,
    id: &str,
    origin: &str,
    source_name: &str,
    now_utc_ms: i64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO vod_import (id, origin, source_name, state, started_utc_ms) \
         VALUES (?1, ?2, ?3, 'queued', ?4)",
        params![id, origin, source_name, now_utc_ms],
    )?;
    Ok(())
}

pub fn import_progress(c: &Connection, id: &str, progress: f64) -> Result<(), StoreError> {
    c.execute(
        "UPDATE vod_import SET state = 'importing', progress = ?2 WHERE id = ?1",
        params![id, progress],
    )?;
    Ok(())
}

pub fn import_finished(
    c: &Connection,
    id: &str,
    outcome: Result<i64, &str>,
    now_utc_ms: i64,
) -> Result<(), StoreError> {
    let (state, title, error) = match outcome {
        Ok(t) => ("done", Some(t), ""),
        Err(e) => ("failed", None, e),
    };
    c.execute(
        "UPDATE vod_import SET state = ?2, title_id = ?3, error = ?4, finished_utc_ms = ?5, \
         progress = CASE WHEN ?2 = 'done' THEN 1 ELSE progress END WHERE id = ?1",
        params![id, state, title, error, now_utc_ms],
    )?;
    // kept 30 days
    c.execute(
        "DELETE FROM vod_import WHERE finished_utc_ms < ?1",
        [now_utc_ms - 30 * 86_400_000],
    )?;
    Ok(())
}

pub fn import_json(r: &rusqlite::Row) -> rusqlite::Result<Value> {
    Ok(json!({
        "id": r.get::<_, String>(0)?,
        "origin": r.get::<_, String>(1)?,
        "source_name": r.get::<_, String>(2)?,
        "state": r.get::<_, String>(3)?,
        "progress": r.get::<_, f64>(4)?,
        "title_id": r.get::<_, Option<i64>>(5)?,
        "error": r.get::<_, String>(6)?,
        "started_utc_ms": r.get::<_, i64>(7)?,
        "finished_utc_ms": r.get::<_, Option<i64>>(8)?,
    }))
}

const IMPORT_COLUMNS: &str =
    "id, origin, source_name, state, progress, title_id, error, started_utc_ms, finished_utc_ms";

/// Imports, newest first.
pub fn imports(c: &Connection, limit: i64) -> Result<Vec<Value>, StoreError> {
    let mut st = c.prepare(&format!(
        "SELECT {IMPORT_COLUMNS} FROM vod_import ORDER BY started_utc_ms DESC, rowid DESC LIMIT ?1"
    ))?;
    let rows = st
        .query_map([limit], import_json)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn import(c: &Connection, id: &str) -> Result<Value, StoreError> {
    c.query_row(
        &format!("SELECT {IMPORT_COLUMNS} FROM vod_import WHERE id = ?1"),
        [id],
        import_json,
    )
    .optional()?
    .ok_or(StoreError::NotFound)
}

/// Imports left 'queued' or 'importing' by a server that stopped: they are failed (their
/// staging files are removed at start).
pub fn abandon_unfinished(c: &Connection, now_utc_ms: i64) -> Result<usize, StoreError> {
    Ok(c.execute(
        "UPDATE vod_import SET state = 'failed', error = 'the server stopped during the import', \
         finished_utc_ms = ?1 WHERE state IN ('queued', 'importing') AND origin != 'cli'",
        [now_utc_ms],
    )?)
}

/// A title was started (its master playlist or its file from the first byte).
pub fn played(c: &Connection, id: i64, now_utc_ms: i64) -> Result<(), StoreError> {
    c.execute(
        "UPDATE vod_title SET plays = plays + 1, last_played_utc_ms = ?2 WHERE id = ?1",
        params![id, now_utc_ms],
    )?;
    Ok(())
}

/// Every title and category, as the origin gives them to its edges.
pub fn export(c: &Connection) -> Result<(Vec<Title>, Vec<Value>), StoreError> {
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM vod_title t LEFT JOIN vod_category c ON c.id = t.category_id ORDER BY t.id"
    ))?;
    let titles = st.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
    Ok((titles, categories(c)?))
}

/// An edge's copy of the origin's catalogue: categories and titles with the origin's ids;
/// local figures (plays) kept. Returns the ids removed and the ids whose file changed (their
/// mirrored copies must go).
pub fn replace_from_origin(
    c: &mut Connection,
    titles: &[Title],
    categories: &[(i64, String, i64)],
) -> Result<(Vec<i64>, Vec<i64>), StoreError> {
    let tx = c.transaction()?;
    for (id, name, position) in categories {
        tx.execute(
            "DELETE FROM vod_category WHERE name = ?2 AND id != ?1",
            params![id, name],
        )?;
        tx.execute(
            "INSERT INTO vod_category (id, name, position) VALUES (?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, position = excluded.position",
            params![id, name, position],
        )?;
    }
    let keep: std::collections::HashSet<i64> = titles.iter().map(|t| t.id).collect();
    let mut removed = Vec::new();
    let mut changed = Vec::new();
    {
        let mut st = tx.prepare("SELECT id, sha256 FROM vod_title")?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        for (id, sha) in rows {
            if !keep.contains(&id) {
                removed.push(id);
            } else if let Some(t) = titles.iter().find(|t| t.id == id) {
                if t.sha256 != sha {
                    changed.push(id);
                }
            }
        }
    }
    for id in &removed {
        tx.execute("DELETE FROM vod_title WHERE id = ?1", [id])?;
    }
    for t in titles {
        tx.execute(
            "INSERT INTO vod_title (id, title, title_en, description, category_id, year, genre, \
             series, season, episode, duration_ms, media, size_bytes, source_name, poster, \
             added_utc_ms, updated_utc_ms, sha256) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) \
             ON CONFLICT (id) DO UPDATE SET title = excluded.title, title_en = excluded.title_en, \
             description = excluded.description, category_id = excluded.category_id, \
             year = excluded.year, genre = excluded.genre, series = excluded.series, \
             season = excluded.season, episode = excluded.episode, \
             duration_ms = excluded.duration_ms, media = excluded.media, \
             size_bytes = excluded.size_bytes, source_name = excluded.source_name, \
             poster = excluded.poster, added_utc_ms = excluded.added_utc_ms, \
             updated_utc_ms = excluded.updated_utc_ms, sha256 = excluded.sha256",
            params![
                t.id,
                t.title,
                t.title_en,
                t.description,
                t.category_id,
                t.year,
                t.genre,
                t.series,
                t.season,
                t.episode,
                t.duration_ms,
                t.media.to_string(),
                t.size_bytes,
                t.source_name,
                if t.poster { "file" } else { "none" },
                t.added_utc_ms,
                t.updated_utc_ms,
                t.sha256
            ],
        )?;
    }
    tx.execute(
        "DELETE FROM vod_category WHERE id NOT IN (SELECT value FROM json_each(?1))",
        [
            serde_json::to_string(&categories.iter().map(|c| c.0).collect::<Vec<_>>())
                .unwrap_or_else(|_| "[]".into()),
        ],
    )?;
    tx.commit()?;
    Ok((removed, changed))
}

/// Replaces a title's track list (a subtitle added or removed).
pub fn set_media(
    c: &Connection,
    id: i64,
    media: &Value,
    now_utc_ms: i64,
) -> Result<(), StoreError> {
    match c.execute(
        "UPDATE vod_title SET media = ?2, updated_utc_ms = ?3 WHERE id = ?1",
        params![id, media.to_string(), now_utc_ms],
    )? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

//! The VOD library over HTTP: the catalogue API (`/api/vod…`), resumable uploads (tus 1.0 at
//! `/api/vod/uploads`), the player's public list (`/api/player/vod`) and the viewer files
//! (`/vod/{id}/index.m3u8`, its renditions and segments cut on the fly, `file.mp4` with ranges,
//! `poster.jpg`).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{ApiError, AppState, Authed};
use crate::store::StoreError;
use crate::vod::{self, catalog, index};

fn library(st: &AppState) -> Result<&std::sync::Arc<vod::Library>, ApiError> {
    st.vod.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            None,
            "this node has no VOD library",
        )
    })
}

fn store_err(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", None, "no such title")
        }
        e => ApiError::internal(e),
    }
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        None,
        format!("no such {what}"),
    )
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    q: Option<String>,
    category: Option<String>,
    series: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn query(q: ListQuery) -> Result<catalog::Query, ApiError> {
    let limit = q.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1..1000"));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid("offset", "must be 0 or more"));
    }
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let q_text = nonempty(q.q);
    if q_text.as_ref().is_some_and(|s| s.len() > 200) {
        return Err(ApiError::invalid("q", "must be at most 200 characters"));
    }
    Ok(catalog::Query {
        q: q_text,
        category: nonempty(q.category),
        series: nonempty(q.series),
        limit,
        offset,
    })
}

/// `GET /api/vod`: the catalogue (search with `q`, filter by `category` or `series`).
pub async fn list(
    State(st): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    library(&st)?;
    let q = query(q)?;
    let (titles, total) = st
        .store
        .read(move |c| catalog::list(c, &q))
        .await
        .map_err(store_err)?;
    Ok(Json(json!({
        "titles": titles.iter().map(catalog::Title::to_json).collect::<Vec<_>>(),
        "total": total,
    })))
}

/// `GET /api/player/vod`: what the player shows (categories and titles; no file names).
pub async fn player_list(
    State(st): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    library(&st)?;
    let q = query(q)?;
    let (titles, total, cats) = st
        .store
        .read(move |c| {
            let (t, n) = catalog::list(c, &q)?;
            Ok((t, n, catalog::categories(c)?))
        })
        .await
        .map_err(store_err)?;
    let titles: Vec<Value> = titles
        .iter()
        .map(|t| {
            let mut v = t.to_json();
            if let Some(m) = v.as_object_mut() {
                m.remove("source_name");
                m.remove("size_bytes");
            }
            v
        })
        .collect();
    Ok(Json(
        json!({"categories": cats, "titles": titles, "total": total}),
    ))
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| not_found("title"))
}

pub async fn get_one(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    library(&st)?;
    let id = parse_id(&id)?;
    let t = st
        .store
        .read(move |c| catalog::get(c, id))
        .await
        .map_err(store_err)?;
    Ok(Json(t.to_json()))
}

pub async fn categories(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    library(&st)?;
    let cats = st
        .store
        .read(catalog::categories)
        .await
        .map_err(store_err)?;
    Ok(Json(json!({ "categories": cats })))
}

fn text_field(
    body: &Map<String, Value>,
    name: &'static str,
    max: usize,
    required: bool,
) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if required && s.is_empty() {
                return Err(ApiError::invalid(name, "must not be empty"));
            }
            if s.chars().count() > max {
                return Err(ApiError::invalid(
                    name,
                    format!("must be at most {max} characters"),
                ));
            }
            Ok(Some(s.to_string()))
        }
        Some(Value::Null) if !required => Ok(Some(String::new())),
        Some(_) => Err(ApiError::invalid(name, "must be a string")),
    }
}

fn int_field(
    body: &Map<String, Value>,
    name: &'static str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<Option<i64>>, ApiError> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => match v.as_i64() {
            Some(n) if range.contains(&n) => Ok(Some(Some(n))),
            _ => Err(ApiError::invalid(
                name,
                format!(
                    "must be an integer {}..{} or null",
                    range.start(),
                    range.end()
                ),
            )),
        },
    }
}

const EDITABLE: &[&str] = &[
    "title",
    "title_en",
    "description",
    "category",
    "year",
    "genre",
    "series",
    "season",
    "episode",
];

/// `PUT /api/vod/{id}`: changes the fields sent.
pub async fn update(
    State(st): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    library(&st)?;
    let id = parse_id(&id)?;
    let body = super::json_object(&body)?;
    for k in body.keys() {
        if !EDITABLE.contains(&k.as_str()) {
            let read_only = [
                "id",
                "duration_s",
                "video",
                "audio",
                "subtitles",
                "added",
                "poster",
            ];
            let field: &'static str = read_only
                .iter()
                .copied()
                .find(|r| *r == k)
                .unwrap_or("body");
            return Err(ApiError::invalid(
                field,
                format!(
                    "'{k}' cannot be changed (editable: {})",
                    EDITABLE.join(", ")
                ),
            ));
        }
    }
    let change = catalog::Change {
        title: text_field(&body, "title", 300, true)?,
        title_en: text_field(&body, "title_en", 300, false)?,
        description: text_field(&body, "description", 10_000, false)?,
        category: text_field(&body, "category", 100, false)?.map(|c| {
            if c.is_empty() {
                None
            } else {
                Some(c)
            }
        }),
        year: int_field(&body, "year", 1880..=2200)?,
        genre: text_field(&body, "genre", 200, false)?,
        series: text_field(&body, "series", 300, false)?,
        season: int_field(&body, "season", 0..=10_000)?,
        episode: int_field(&body, "episode", 0..=100_000)?,
        poster: None,
    };
    let now = st.clock.now_utc().0;
    let t = st
        .store
        .call(move |c| catalog::update(c, id, &change, now))
        .await
        .map_err(store_err)?;
    who.audit(&st, "vod.update", &id.to_string(), Value::Object(body))
        .await;
    Ok(Json(t.to_json()))
}

/// `DELETE /api/vod/{id}`: the row, then the files.
pub async fn delete(
    State(st): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let lib = library(&st)?.clone();
    let id = parse_id(&id)?;
    let t = st
        .store
        .call(move |c| {
            let t = catalog::get(c, id)?;
            catalog::delete(c, id)?;
            Ok(t)
        })
        .await
        .map_err(store_err)?;
    lib.cache.forget(id);
    let dir = lib.title_dir(id);
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
    who.audit(
        &st,
        "vod.delete",
        &id.to_string(),
        json!({"title": t.title}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// 415 with `message` unless the body's Content-Type is one of `types`.
fn require_type(headers: &HeaderMap, types: &[&str], message: &str) -> Result<(), ApiError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if types.iter().any(|t| ctype.starts_with(t)) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
        message,
    ))
}

/// `PUT /api/vod/{id}/poster`: a JPEG (at most 8 MiB) replaces the poster.
pub async fn put_poster(
    State(st): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let lib = library(&st)?.clone();
    let id = parse_id(&id)?;
    require_type(
        &headers,
        &["image/jpeg"],
        "send the poster as Content-Type: image/jpeg",
    )?;
    let bytes = axum::body::to_bytes(body, 8 << 20).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            Some("body"),
            "a poster is at most 8 MiB",
        )
    })?;
    if !bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Err(ApiError::invalid("body", "is not a JPEG file"));
    }
    st.store
        .read(move |c| catalog::get(c, id))
        .await
        .map_err(store_err)?;
    let dir = lib.title_dir(id);
    tokio::task::spawn_blocking(move || {
        let tmp = dir.join("poster.jpg.tmp");
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, dir.join("poster.jpg"))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let now = st.clock.now_utc().0;
    let change = catalog::Change {
        poster: Some(true),
        ..Default::default()
    };
    let t = st
        .store
        .call(move |c| catalog::update(c, id, &change, now))
        .await
        .map_err(store_err)?;
    who.audit(&st, "vod.poster", &id.to_string(), Value::Null)
        .await;
    Ok(Json(t.to_json()))
}

#[derive(Deserialize)]
pub struct SubtitleQuery {
    language: Option<String>,
}

/// `POST /api/vod/{id}/subtitles?language=xx`: adds a subtitle track from an SRT or WebVTT file
/// (`Content-Type: application/x-subrip` or `text/vtt`, at most `vod_max_subtitle_bytes`).
pub async fn add_subtitle(
    State(st): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    Query(q): Query<SubtitleQuery>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let lib = library(&st)?.clone();
    let id = parse_id(&id)?;
    require_type(
        &headers,
        &["application/x-subrip", "text/vtt"],
        "send an SRT file as Content-Type: application/x-subrip, or WebVTT as text/vtt",
    )?;
    let language = q
        .language
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty());
    if let Some(l) = &language {
        let ok = l.len() <= 35 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(ApiError::invalid(
                "language",
                "must be a language code such as en, zh, fra or pt-BR",
            ));
        }
    }
    let max = lib.settings.import.max_subtitle_bytes as usize;
    let bytes = axum::body::to_bytes(body, max).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            Some("body"),
            format!("a subtitle file is at most {max} bytes (vod_max_subtitle_bytes)"),
        )
    })?;
    let text = String::from_utf8_lossy(&bytes)
        .trim_start_matches('\u{feff}')
        .to_string();
    let cues = if text.starts_with("WEBVTT") {
        mkv::subtitle::parse_webvtt(&text)
    } else {
        mkv::subtitle::parse_srt(&text)
    }
    .map_err(|e| ApiError::invalid("body", format!("not a subtitle file we can read: {e}")))?;
    let t = st
        .store
        .read(move |c| catalog::get(c, id))
        .await
        .map_err(store_err)?;
    let mut media = t.media.clone();
    let list = media["subtitles"].as_array().cloned().unwrap_or_default();
    let n = (0..)
        .find(|n| !list.iter().any(|s| s["file"] == format!("sub-{n}.vtt")))
        .unwrap_or(0);
    let file = format!("sub-{n}.vtt");
    let dir = lib.title_dir(id);
    let vtt = mkv::subtitle::write_webvtt(&cues);
    let f = file.clone();
    tokio::task::spawn_blocking(move || {
        let tmp = dir.join(format!("{f}.tmp"));
        std::fs::write(&tmp, vtt)?;
        std::fs::rename(&tmp, dir.join(&f))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let mut list = list;
    list.push(json!({"language": language, "file": file}));
    media["subtitles"] = Value::Array(list);
    let now = st.clock.now_utc().0;
    let m = media.clone();
    st.store
        .call(move |c| catalog::set_media(c, id, &m, now))
        .await
        .map_err(store_err)?;
    lib.cache.forget(id);
    who.audit(
        &st,
        "vod.subtitle",
        &id.to_string(),
        json!({"language": language, "cues": cues.len()}),
    )
    .await;
    let t = st
        .store
        .read(move |c| catalog::get(c, id))
        .await
        .map_err(store_err)?;
    Ok(Json(t.to_json()))
}

/// `DELETE /api/vod/{id}/subtitles/{n}`: removes subtitle track `n` (its place in `subtitles`).
pub async fn delete_subtitle(
    State(st): State<AppState>,
    who: Authed,
    Path((id, n)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let lib = library(&st)?.clone();
    let id = parse_id(&id)?;
    let t = st
        .store
        .read(move |c| catalog::get(c, id))
        .await
        .map_err(store_err)?;
    let mut media = t.media.clone();
    let mut list = media["subtitles"].as_array().cloned().unwrap_or_default();
    let n = n
        .parse::<usize>()
        .ok()
        .filter(|n| *n < list.len())
        .ok_or_else(|| not_found("subtitle"))?;
    let gone = list.remove(n);
    media["subtitles"] = Value::Array(list);
    let now = st.clock.now_utc().0;
    let m = media.clone();
    st.store
        .call(move |c| catalog::set_media(c, id, &m, now))
        .await
        .map_err(store_err)?;
    if let Some(f) = gone["file"].as_str() {
        if f.starts_with("sub-") && f.ends_with(".vtt") && !f.contains('/') {
            let _ = tokio::fs::remove_file(lib.title_dir(id).join(f)).await;
        }
    }
    lib.cache.forget(id);
    who.audit(
        &st,
        "vod.subtitle.delete",
        &id.to_string(),
        json!({"language": gone["language"]}),
    )
    .await;
    let t = st
        .store
        .read(move |c| catalog::get(c, id))
        .await
        .map_err(store_err)?;
    Ok(Json(t.to_json()))
}

/// `GET /api/vod/imports`: imports, newest first, with progress.
pub async fn imports(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let lib = library(&st)?.clone();
    let mut rows = st
        .store
        .read(|c| catalog::imports(c, 200))
        .await
        .map_err(store_err)?;
    let p = lib.running_progress();
    for r in rows.iter_mut() {
        if r["state"] == "importing" {
            r["progress"] = json!(p);
        }
    }
    Ok(Json(json!({ "imports": rows })))
}

pub async fn import_one(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    library(&st)?;
    let r = st
        .store
        .read(move |c| catalog::import(c, &id))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => not_found("import"),
            e => ApiError::internal(e),
        })?;
    Ok(Json(r))
}

// ---------------------------------------------------------------------------------------------
// tus 1.0 (https://tus.io/protocols/resumable-upload): creation, termination, expiration.

const TUS_VERSION: &str = "1.0.0";

fn tus_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn tus_error(
    status: StatusCode,
    field: Option<&'static str>,
    message: impl Into<String>,
) -> Response {
    let mut r = ApiError::new(status, "upload", field, message).into_response();
    tus_headers(&mut r);
    r
}

/// What every tus request checks first: a library here, and `Tus-Resumable: 1.0.0`.
fn tus_start(
    st: &AppState,
    headers: &HeaderMap,
) -> Result<std::sync::Arc<vod::Library>, Box<Response>> {
    let lib = library(st)
        .map_err(|e| Box::new(e.into_response()))?
        .clone();
    check_tus(headers)?;
    Ok(lib)
}

fn check_tus(headers: &HeaderMap) -> Result<(), Box<Response>> {
    match headers.get("tus-resumable").map(|v| v.as_bytes()) {
        Some(b"1.0.0") => Ok(()),
        _ => {
            let mut r = tus_error(
                StatusCode::PRECONDITION_FAILED,
                Some("tus-resumable"),
                "send Tus-Resumable: 1.0.0",
            );
            r.headers_mut()
                .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
            Err(Box::new(r))
        }
    }
}

/// `OPTIONS /api/vod/uploads`: what this tus server does.
pub async fn tus_options(State(st): State<AppState>) -> Response {
    let max = st
        .vod
        .as_ref()
        .map(|l| l.settings.max_upload_bytes)
        .unwrap_or(0);
    let mut r = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut r);
    let h = r.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert(
        "tus-extension",
        HeaderValue::from_static("creation,termination,expiration"),
    );
    h.insert("tus-max-size", HeaderValue::from(max));
    r
}

/// Upload-Metadata: `key base64,key2 base64` → a JSON object of the keys we use.
fn tus_metadata(v: &str) -> Result<Map<String, Value>, String> {
    use base64::Engine;
    let mut m = Map::new();
    for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, val) = pair.split_once(' ').unwrap_or((pair, ""));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(val.trim())
            .map_err(|_| format!("Upload-Metadata: the value of '{k}' is not base64"))?;
        let s = String::from_utf8(bytes)
            .map_err(|_| format!("Upload-Metadata: the value of '{k}' is not UTF-8"))?;
        if matches!(
            k,
            "filename" | "name" | "title" | "category" | "filetype" | "type"
        ) {
            m.insert(
                k.to_string(),
                json!(s.chars().take(300).collect::<String>()),
            );
        }
    }
    Ok(m)
}

/// `POST /api/vod/uploads`: starts an upload (`Upload-Length`, `Upload-Metadata` with
/// `filename`, optional `title` and `category`).
pub async fn tus_create(State(st): State<AppState>, who: Authed, headers: HeaderMap) -> Response {
    let lib = match tus_start(&st, &headers) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let text = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if text("upload-defer-length").is_some() {
        return tus_error(
            StatusCode::BAD_REQUEST,
            Some("upload-defer-length"),
            "deferred length is not supported: send Upload-Length",
        );
    }
    let Some(length) = text("upload-length").and_then(|v| v.trim().parse::<u64>().ok()) else {
        return tus_error(
            StatusCode::BAD_REQUEST,
            Some("upload-length"),
            "send Upload-Length (bytes)",
        );
    };
    if length == 0 {
        return tus_error(
            StatusCode::BAD_REQUEST,
            Some("upload-length"),
            "an empty file cannot be imported",
        );
    }
    if length > lib.settings.max_upload_bytes {
        return tus_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("upload-length"),
            format!(
                "at most {} bytes (vod_max_upload_mib)",
                lib.settings.max_upload_bytes
            ),
        );
    }
    let meta = match tus_metadata(text("upload-metadata").unwrap_or("")) {
        Ok(m) => m,
        Err(e) => return tus_error(StatusCode::BAD_REQUEST, Some("upload-metadata"), e),
    };
    // room on the disk for the upload and the stored copy
    if let Some((_, free)) = crate::sys::disk_space(&lib.settings.dir) {
        if free < length.saturating_mul(2) {
            return tus_error(
                StatusCode::INSUFFICIENT_STORAGE,
                Some("upload-length"),
                format!("not enough free disk space for {length} bytes (and its stored copy)"),
            );
        }
    }
    let id = vod::new_id();
    let path = lib.upload_path(&id);
    if let Err(e) = tokio::fs::File::create(&path).await {
        return ApiError::internal(format!("creating {}: {e}", path.display())).into_response();
    }
    let now = st.clock.now_utc().0;
    let (i, user, m) = (
        id.clone(),
        who.who.name.clone(),
        Value::Object(meta.clone()).to_string(),
    );
    let r = st
        .store
        .call(move |c| {
            c.execute(
                "INSERT INTO vod_upload (id, length, metadata, user_name, created_utc_ms, updated_utc_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                rusqlite::params![i, length as i64, m, user, now],
            )?;
            Ok(())
        })
        .await;
    if let Err(e) = r {
        let _ = tokio::fs::remove_file(&path).await;
        return ApiError::internal(e).into_response();
    }
    who.audit(&st, "vod.upload", &id, Value::Object(meta)).await;
    let mut r = StatusCode::CREATED.into_response();
    tus_headers(&mut r);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/vod/uploads/{id}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert("upload-offset", HeaderValue::from(0u64));
    r
}

struct Upload {
    length: u64,
    metadata: Map<String, Value>,
    import_id: Option<String>,
    updated_utc_ms: i64,
}

async fn load_upload(st: &AppState, id: &str) -> Result<Upload, Response> {
    let valid = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(tus_error(StatusCode::NOT_FOUND, None, "no such upload"));
    }
    let i = id.to_string();
    let row = st
        .store
        .read(move |c| {
            use rusqlite::OptionalExtension;
            Ok(c.query_row(
                "SELECT length, metadata, import_id, updated_utc_ms FROM vod_upload WHERE id = ?1",
                [i],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                },
            )
            .optional()?)
        })
        .await
        .map_err(|e| ApiError::internal(e).into_response())?;
    let Some((length, meta, import_id, updated)) = row else {
        return Err(tus_error(StatusCode::NOT_FOUND, None, "no such upload"));
    };
    Ok(Upload {
        length: length as u64,
        metadata: serde_json::from_str(&meta).unwrap_or_default(),
        import_id,
        updated_utc_ms: updated,
    })
}

fn upload_offset(lib: &vod::Library, id: &str, u: &Upload) -> u64 {
    if u.import_id.is_some() {
        return u.length;
    }
    std::fs::metadata(lib.upload_path(id))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// `HEAD /api/vod/uploads/{id}`: how much has arrived.
pub async fn tus_head(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lib = match tus_start(&st, &headers) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let u = match load_upload(&st, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut r = StatusCode::OK.into_response();
    tus_headers(&mut r);
    let h = r.headers_mut();
    h.insert(
        "upload-offset",
        HeaderValue::from(upload_offset(&lib, &id, &u)),
    );
    h.insert("upload-length", HeaderValue::from(u.length));
    expires_header(&lib, &u, h);
    r
}

fn expires_header(lib: &vod::Library, u: &Upload, h: &mut HeaderMap) {
    if u.import_id.is_some() {
        return;
    }
    let at = u.updated_utc_ms + lib.settings.upload_expiry.as_millis() as i64;
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at.max(0) as u64);
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(t)) {
        h.insert("upload-expires", v);
    }
}

/// `GET /api/vod/uploads/{id}`: the upload as JSON (offset, and its import once complete).
pub async fn upload_status(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    let lib = match library(&st) {
        Ok(l) => l.clone(),
        Err(e) => return e.into_response(),
    };
    let u = match load_upload(&st, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let offset = upload_offset(&lib, &id, &u);
    Json(json!({
        "id": id, "length": u.length, "offset": offset, "metadata": u.metadata,
        "import_id": u.import_id,
    }))
    .into_response()
}

/// `PATCH /api/vod/uploads/{id}`: appends the body at `Upload-Offset`. A dropped connection
/// keeps what arrived; once complete, the file is queued for import.
pub async fn tus_patch(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let lib = match tus_start(&st, &headers) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let ctype = headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes());
    if ctype != Some(b"application/offset+octet-stream") {
        return tus_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("content-type"),
            "send Content-Type: application/offset+octet-stream",
        );
    }
    let Some(claimed) = headers
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    else {
        return tus_error(
            StatusCode::BAD_REQUEST,
            Some("upload-offset"),
            "send Upload-Offset",
        );
    };
    let u = match load_upload(&st, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if u.import_id.is_some() {
        return tus_error(
            StatusCode::CONFLICT,
            Some("upload-offset"),
            "this upload is complete",
        );
    }
    // one writer per upload: a second PATCH waits for the first (bounded by the lock's holder's
    // body timeout), then sees the new offset
    let lock = lib.upload_lock(&id);
    let _writing = lock.lock().await;
    let path = lib.upload_path(&id);
    let mut file = match tokio::fs::OpenOptions::new().append(true).open(&path).await {
        Ok(f) => f,
        Err(_) => return tus_error(StatusCode::NOT_FOUND, None, "no such upload"),
    };
    let offset = match file.metadata().await {
        Ok(m) => m.len(),
        Err(e) => return ApiError::internal(e).into_response(),
    };
    if claimed != offset {
        let mut r = tus_error(
            StatusCode::CONFLICT,
            Some("upload-offset"),
            format!("Upload-Offset is {offset}, not {claimed}"),
        );
        r.headers_mut()
            .insert("upload-offset", HeaderValue::from(offset));
        return r;
    }
    let remaining = u.length - offset.min(u.length);
    if let Some(l) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if l > remaining {
            return tus_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Some("content-length"),
                format!("only {remaining} bytes remain of Upload-Length"),
            );
        }
    }
    let mut written = 0u64;
    let mut stream = body.into_data_stream();
    let mut broken = None;
    loop {
        // a client that stops sending for a minute loses the connection, keeps what arrived
        let next =
            match tokio::time::timeout(std::time::Duration::from_secs(60), stream.next()).await {
                Ok(n) => n,
                Err(_) => {
                    broken = Some("no data for 60 s");
                    break;
                }
            };
        let Some(chunk) = next else { break };
        let Ok(chunk) = chunk else {
            broken = Some("the connection dropped");
            break;
        };
        let take = (remaining - written).min(chunk.len() as u64) as usize;
        if let Err(e) = file.write_all(&chunk[..take]).await {
            return ApiError::internal(format!("writing the upload: {e}")).into_response();
        }
        written += take as u64;
        if take < chunk.len() {
            broken = Some("more bytes than Upload-Length");
            break;
        }
    }
    let _ = file.flush().await;
    let _ = file.sync_data().await;
    drop(file);
    let new_offset = offset + written;
    let now = st.clock.now_utc().0;
    let i = id.clone();
    let _ = st
        .store
        .call(move |c| {
            c.execute(
                "UPDATE vod_upload SET updated_utc_ms = ?2 WHERE id = ?1",
                rusqlite::params![i, now],
            )?;
            Ok(())
        })
        .await;
    if let Some(why) = broken {
        tracing::info!(upload = %id, offset = new_offset, "upload interrupted: {why}");
        if why == "more bytes than Upload-Length" {
            return tus_error(
                StatusCode::BAD_REQUEST,
                Some("body"),
                "more bytes than Upload-Length",
            );
        }
    }
    let mut extra = None;
    if new_offset == u.length {
        let name = u
            .metadata
            .get("filename")
            .or_else(|| u.metadata.get("name"))
            .and_then(|v| v.as_str())
            .unwrap_or("upload")
            .to_string();
        let req = vod::import::Request {
            path: path.clone(),
            source_name: name,
            title: u
                .metadata
                .get("title")
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .filter(|s| !s.trim().is_empty()),
            category: u
                .metadata
                .get("category")
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .filter(|s| !s.trim().is_empty()),
            subtitles: Vec::new(),
        };
        match lib.enqueue(vod::Origin::Upload, req).await {
            Ok(import_id) => {
                let (i, imp) = (id.clone(), import_id.clone());
                let _ = st
                    .store
                    .call(move |c| {
                        c.execute(
                            "UPDATE vod_upload SET import_id = ?2 WHERE id = ?1",
                            rusqlite::params![i, imp],
                        )?;
                        Ok(())
                    })
                    .await;
                extra = Some(import_id);
            }
            Err(e) => return ApiError::internal(e).into_response(),
        }
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut r);
    r.headers_mut()
        .insert("upload-offset", HeaderValue::from(new_offset));
    if let Some(imp) = extra {
        if let Ok(v) = HeaderValue::from_str(&imp) {
            r.headers_mut().insert("x-atoll-import", v);
        }
    }
    r
}

/// `DELETE /api/vod/uploads/{id}`: abandons an upload (tus termination).
pub async fn tus_delete(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lib = match tus_start(&st, &headers) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    if let Err(r) = load_upload(&st, &id).await {
        return r;
    }
    let i = id.clone();
    let _ = st
        .store
        .call(move |c| {
            c.execute(
                "DELETE FROM vod_upload WHERE id = ?1 AND import_id IS NULL",
                [i],
            )?;
            Ok(())
        })
        .await;
    let _ = tokio::fs::remove_file(lib.upload_path(&id)).await;
    let mut r = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut r);
    r
}

// ---------------------------------------------------------------------------------------------
// Viewer files

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";

fn subtitle_files(t: &catalog::Title) -> Vec<index::SubtitleFile> {
    t.media
        .get("subtitles")
        .and_then(|s| s.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    Some(index::SubtitleFile {
                        language: s
                            .get("language")
                            .and_then(|l| l.as_str())
                            .map(str::to_string),
                        file: s.get("file")?.as_str()?.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Counts a start of title `id` (in the background: never delays the answer).
fn played(st: &AppState, id: i64) {
    let now = st.clock.now_utc().0;
    let store = st.store.clone();
    tokio::spawn(async move {
        let _ = store.call(move |c| catalog::played(c, id, now)).await;
    });
}

fn bytes_answer(
    ctype: &'static str,
    body: impl Into<axum::body::Body>,
    cache: &'static str,
) -> Response {
    let mut r = Response::new(body.into());
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// `GET /vod/{id}/{*file}`: index.m3u8 (master), v.m3u8, a{n}.m3u8, s{n}.m3u8, s{n}.vtt,
/// v/{k}.ts, a{n}/{k}.ts (MPEG-TS); index-fmp4.m3u8, vf.m3u8, af{n}.m3u8, vf/init.mp4,
/// vf/{k}.m4s, af{n}/init.mp4, af{n}/{k}.m4s (fragmented MP4); file.mp4 (ranges), poster.jpg.
pub async fn viewer_file(
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lib = library(&st)?.clone();
    let id = parse_id(&id)?;
    // hot path: playlists and segments of a title whose index is in memory (no database read)
    let hls = file.ends_with(".m3u8")
        || file.ends_with(".ts")
        || file.ends_with(".m4s")
        || file.ends_with("/init.mp4");
    if hls {
        if let Some(idx) = lib.cached_index(id) {
            return hls_answer(&st, &lib, id, idx, &file).await;
        }
    }
    let t = st
        .store
        .read(move |c| catalog::get(c, id))
        .await
        .map_err(store_err)?;
    let dir = lib.title_dir(id);
    const CACHE: &str = "public, max-age=3600";
    let side = |name: String| {
        let lib = lib.clone();
        let dir = dir.clone();
        async move {
            match lib.mirror() {
                Some(m) => m.side_file(id, &name).await.map(|b| b.to_vec()),
                None => tokio::fs::read(dir.join(&name)).await,
            }
        }
    };
    match file.as_str() {
        "file.mp4" => {
            let from_start = headers
                .get(header::RANGE)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|r| r.trim_start().starts_with("bytes=0-"));
            if from_start {
                played(&st, id);
            }
            let path = dir.join("media.mp4");
            if let (false, Some(m)) = (path.exists(), lib.mirror()) {
                return file_mp4_from_mirror(m.clone(), &t, &headers).await;
            }
            return file_mp4(&path, &headers).await;
        }
        "poster.jpg" => {
            if !t.poster {
                return Err(not_found("poster"));
            }
            let b = side("poster.jpg".into())
                .await
                .map_err(|_| not_found("poster"))?;
            return Ok(bytes_answer("image/jpeg", b, CACHE));
        }
        _ => {}
    }
    let subs = subtitle_files(&t);
    if let Some(n) = file.strip_prefix('s').and_then(|r| r.strip_suffix(".vtt")) {
        let s = n
            .parse::<usize>()
            .ok()
            .and_then(|n| subs.get(n))
            .ok_or_else(|| not_found("subtitle"))?;
        let bytes = side(s.file.clone())
            .await
            .map_err(|_| not_found("subtitle"))?;
        let text = String::from_utf8_lossy(&bytes).to_string();
        return Ok(bytes_answer(
            "text/vtt; charset=utf-8",
            index::subtitle_with_timestamp_map(&text),
            CACHE,
        ));
    }
    let idx = lib.title_index(&t, subs).await.map_err(|e| match e {
        index::IndexError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => not_found("title"),
        index::IndexError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            None,
            e.to_string(),
        ),
        e => ApiError::internal(format!("title {id}: {e}")),
    })?;
    hls_answer(&st, &lib, id, idx, &file).await
}

/// The HLS part of a title: playlists, init and media segments, from its index.
async fn hls_answer(
    st: &AppState,
    lib: &std::sync::Arc<vod::Library>,
    id: i64,
    idx: std::sync::Arc<index::Title>,
    file: &str,
) -> Result<Response, ApiError> {
    const CACHE: &str = "public, max-age=3600";
    let playlist = |s: &str| Ok(bytes_answer(PLAYLIST_TYPE, s.to_string(), CACHE));
    match file {
        "index.m3u8" => {
            played(st, id);
            return playlist(&idx.master);
        }
        "index-fmp4.m3u8" => {
            played(st, id);
            return playlist(&idx.master_fmp4);
        }
        "v.m3u8" => return playlist(&idx.video_playlist),
        "vf.m3u8" => return playlist(&idx.video_playlist_fmp4),
        _ => {}
    }
    if let Some(rest) = file.strip_suffix(".m3u8") {
        let pick = |prefix: &str, list: &Vec<String>| -> Option<String> {
            rest.strip_prefix(prefix)?
                .parse::<usize>()
                .ok()
                .and_then(|n| list.get(n))
                .cloned()
        };
        if let Some(p) = pick("af", &idx.audio_playlists_fmp4)
            .or_else(|| pick("a", &idx.audio_playlists))
            .or_else(|| pick("s", &idx.subtitle_playlists))
        {
            return playlist(&p);
        }
        return Err(not_found("playlist"));
    }
    // MPEG-TS: v/{k}.ts, a{n}/{k}.ts; fMP4: vf/init.mp4, vf/{k}.m4s, af{n}/init.mp4, af{n}/{k}.m4s
    let (rendition, seg) = file.split_once('/').ok_or_else(|| not_found("file"))?;
    let (format, audio) = match rendition {
        "v" => (index::Format::Ts, None),
        "vf" => (index::Format::Fmp4, None),
        a => {
            let (format, n) = match a.strip_prefix("af") {
                Some(n) => (index::Format::Fmp4, n),
                None => (index::Format::Ts, a.strip_prefix('a').unwrap_or("x")),
            };
            let n = n.parse::<usize>().map_err(|_| not_found("rendition"))?;
            (format, Some(n))
        }
    };
    if format == index::Format::Fmp4 && seg == "init.mp4" {
        let b = idx.init(audio).ok_or_else(|| not_found("rendition"))?;
        return Ok(bytes_answer("video/mp4", b, CACHE));
    }
    let (ext, ctype) = match format {
        index::Format::Ts => (".ts", "video/mp2t"),
        index::Format::Fmp4 => (".m4s", "video/mp4"),
    };
    let k = seg
        .strip_suffix(ext)
        .and_then(|k| k.parse::<usize>().ok())
        .ok_or_else(|| not_found("segment"))?;
    let (head, body) = lib
        .segment(id, idx, format, audio, k)
        .await
        .ok_or_else(|| not_found("segment"))?
        .map_err(|e| ApiError::internal(format!("title {id} segment {file}: {e}")))?;
    let len = head.len() + body.len();
    let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(head), Ok(body)]);
    let mut r = bytes_answer(ctype, axum::body::Body::from_stream(stream), CACHE);
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(r)
}

/// An edge's `file.mp4` while its copy arrives: the range asked for, from the copy where it has
/// arrived and from the origin where not, in 1 MiB pieces.
async fn file_mp4_from_mirror(
    m: std::sync::Arc<vod::mirror::Mirror>,
    t: &catalog::Title,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let size = t.size_bytes as u64;
    let id = t.id;
    m.want(id);
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, len) = match parse_range(range_header, size) {
        RangeAnswer::Full => (StatusCode::OK, 0, size),
        RangeAnswer::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        RangeAnswer::Unsatisfiable => return Ok(unsatisfiable(size)),
    };
    const PIECE: u64 = 1 << 20;
    let stream =
        futures_util::stream::unfold((m, start, start + len), move |(m, at, end)| async move {
            if at >= end {
                return None;
            }
            let n = PIECE.min(end - at);
            match m.read_runs(id, &[(at, n)]).await {
                Ok(mut v) => Some((Ok::<_, std::io::Error>(v.remove(0)), (m, at + n, end))),
                Err(e) => Some((Err(e), (m, end, end))),
            }
        });
    let mut r = Response::new(axum::body::Body::from_stream(stream));
    crate::live_answer::streamed(&mut r);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", start + len - 1)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(r)
}

fn unsatisfiable(size: u64) -> Response {
    let mut r = ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "range",
        Some("range"),
        format!("the file has {size} bytes"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
        r.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    r
}

/// A `Range: bytes=…` header against a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No (usable) range: the whole file.
    Full,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// 416.
    Unsatisfiable,
}

/// One range of `bytes=first-last`, `bytes=first-` or `bytes=-suffix`. Several ranges get the
/// first one only (players ask for one); a malformed `bytes=` header, or a range starting past
/// the end, is unsatisfiable; another unit is ignored.
pub fn parse_range(h: Option<&str>, size: u64) -> RangeAnswer {
    let Some(h) = h else { return RangeAnswer::Full };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Full;
    };
    let first = spec.split(',').next().unwrap_or("").trim();
    let Some((a, b)) = first.split_once('-') else {
        return RangeAnswer::Unsatisfiable;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    if size == 0 {
        return RangeAnswer::Unsatisfiable;
    }
    match (a.is_empty(), b.is_empty()) {
        (true, true) => RangeAnswer::Unsatisfiable,
        (true, false) => match num(b) {
            Some(0) | None => RangeAnswer::Unsatisfiable,
            Some(n) => RangeAnswer::Part(size - n.min(size), size - 1),
        },
        (false, _) => {
            let Some(start) = num(a) else {
                return RangeAnswer::Unsatisfiable;
            };
            let end = if b.is_empty() { Some(size - 1) } else { num(b) };
            match end {
                Some(end) if start <= end && start < size => {
                    RangeAnswer::Part(start, end.min(size - 1))
                }
                _ => RangeAnswer::Unsatisfiable,
            }
        }
    }
}

async fn file_mp4(path: &std::path::Path, headers: &HeaderMap) -> Result<Response, ApiError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut f = tokio::fs::File::open(path)
        .await
        .map_err(|_| not_found("file"))?;
    let meta = f.metadata().await.map_err(ApiError::internal)?;
    let size = meta.len();
    let etag = {
        let k = index::FileKey::of(&meta);
        format!("\"{:x}-{:x}\"", k.len, k.mtime_ns)
    };
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // If-Range: a range only applies to the same file
    let range_header = match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        Some(tag) if tag != etag => None,
        _ => range_header,
    };
    let (status, start, len) = match parse_range(range_header, size) {
        RangeAnswer::Full => (StatusCode::OK, 0, size),
        RangeAnswer::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        RangeAnswer::Unsatisfiable => return Ok(unsatisfiable(size)),
    };
    f.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(ApiError::internal)?;
    const CHUNK: u64 = 256 * 1024;
    let stream = futures_util::stream::unfold((f, len), |(mut f, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; left.min(CHUNK) as usize];
        match f.read_exact(&mut buf).await {
            Ok(_) => Some((
                Ok::<_, std::io::Error>(bytes::Bytes::from(buf)),
                (f, left - CHUNK.min(left)),
            )),
            Err(e) => Some((Err(e), (f, 0))),
        }
    });
    let mut r = Response::new(axum::body::Body::from_stream(stream));
    crate::live_answer::streamed(&mut r);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", start + len - 1)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// Node to node: what an edge mirrors.

/// `GET /api/cluster/vod`: every title (with its checksum) and category, and a revision.
pub async fn cluster_catalogue(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    library(&st)?;
    let (titles, cats) = st.store.read(catalog::export).await.map_err(store_err)?;
    let revision = {
        let mut h = ring::digest::Context::new(&ring::digest::SHA256);
        for t in &titles {
            h.update(format!("{}:{}:{};", t.id, t.updated_utc_ms, t.sha256).as_bytes());
        }
        for c in &cats {
            h.update(c.to_string().as_bytes());
        }
        h.finish().as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    Ok(Json(json!({
        "revision": revision,
        "titles": titles.iter().map(catalog::Title::to_wire).collect::<Vec<_>>(),
        "categories": cats,
    })))
}

/// `GET /api/cluster/vod/{id}/{file}`: a title's file (media.mp4 with ranges, poster.jpg,
/// sub-{n}.vtt) for an edge's mirror.
pub async fn cluster_file(
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lib = library(&st)?.clone();
    let id = parse_id(&id)?;
    let ok_name = file == "media.mp4"
        || file == "poster.jpg"
        || (file.starts_with("sub-")
            && file.ends_with(".vtt")
            && file[4..file.len() - 4].bytes().all(|b| b.is_ascii_digit()));
    if !ok_name {
        return Err(not_found("file"));
    }
    st.store
        .read(move |c| catalog::get(c, id))
        .await
        .map_err(store_err)?;
    let path = lib.title_dir(id).join(&file);
    if file == "media.mp4" {
        return file_mp4(&path, &headers).await;
    }
    let b = tokio::fs::read(&path)
        .await
        .map_err(|_| not_found("file"))?;
    Ok(bytes_answer("application/octet-stream", b, "no-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeAnswer::*;
        assert_eq!(parse_range(None, 100), Full);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Part(0, 9));
        assert_eq!(parse_range(Some("bytes=50-"), 100), Part(50, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Part(90, 99));
        assert_eq!(parse_range(Some("bytes=-1000"), 100), Part(0, 99));
        assert_eq!(parse_range(Some("bytes=90-1000"), 100), Part(90, 99));
        assert_eq!(parse_range(Some("bytes=0-0,5-9"), 100), Part(0, 0));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=9-5"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=abc"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=+1-5"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("items=0-5"), 100), Full);
    }

    #[test]
    fn tus_metadata_is_decoded_and_filtered() {
        let m = tus_metadata("filename ZmlsbS5ta3Y=,title 5Lit5paH,secret eHg=,empty").unwrap();
        assert_eq!(m["filename"], "film.mkv");
        assert_eq!(m["title"], "中文");
        assert!(!m.contains_key("secret"));
        assert!(tus_metadata("filename !!!").is_err());
    }
}

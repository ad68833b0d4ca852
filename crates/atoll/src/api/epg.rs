//! The guide API (`/api/epg…`), EPG source management, and the exports IPTV apps read
//! (`/playlist.m3u`, `/epg.xml`, `/epg.xml.gz`).

use std::io::Write;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use media::UtcMs;
use serde_json::{json, Map, Value};

use super::{ApiError, AppState, Authed};
use crate::guide::{self, ProgrammeRow, Source};
use crate::store::Role;

fn source_json(s: &Source) -> Value {
    let t = |v: Option<i64>| v.map(|ms| UtcMs(ms).to_rfc3339());
    json!({
        "id": s.id,
        "name": s.name,
        // never the password of a `user:password@` URL
        "url": crate::ingest::http_client::redact(&s.url),
        "refresh_minutes": s.refresh_minutes,
        "enabled": s.enabled,
        "last_attempt": t(s.last_attempt_utc_ms),
        "last_success": t(s.last_success_utc_ms),
        "last_error": s.last_error,
        "consecutive_failures": s.consecutive_failures,
        "next_attempt": t(s.next_attempt_utc_ms),
        "channels_seen": s.channels_seen,
        "programmes_seen": s.programmes_seen,
        "programmes_imported": s.programmes_imported,
        "unmatched_channels": s.unmatched_channels,
        "warnings": s.warnings,
    })
}

fn file_sources_admin_only() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        Some("url"),
        "only an admin may add or change a guide file source (operators may add http(s) sources)",
    )
}

/// The request body for the audit log: the URL without its password.
fn audit_body(mut body: Map<String, Value>) -> Value {
    if let Some(Value::String(u)) = body.get("url") {
        let shown = crate::ingest::http_client::redact(u);
        body.insert("url".into(), Value::String(shown));
    }
    Value::Object(body)
}

/// Applies a create/update body. `admin`: the caller may add or change file sources.
fn apply_source(s: &mut Source, body: &Map<String, Value>, admin: bool) -> Result<(), ApiError> {
    const KNOWN: &[&str] = &["name", "url", "refresh_minutes", "enabled"];
    if let Some(k) = body.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            None,
            format!("unknown field '{k}'"),
        ));
    }
    if let Some(v) = body.get("name") {
        let n = v
            .as_str()
            .ok_or_else(|| ApiError::invalid("name", "must be a string"))?
            .trim();
        if n.is_empty() || n.chars().count() > 200 {
            return Err(ApiError::invalid("name", "must be 1 to 200 characters"));
        }
        s.name = n.to_string();
    }
    if let Some(v) = body.get("url") {
        let u = v
            .as_str()
            .ok_or_else(|| ApiError::invalid("url", "must be a string"))?
            .trim();
        let web =
            (u.starts_with("http://") && u.len() > 7) || (u.starts_with("https://") && u.len() > 8);
        if u.len() > 2048 {
            return Err(ApiError::invalid("url", "must be at most 2048 bytes"));
        }
        if u == crate::ingest::http_client::redact(&s.url) {
            // the URL as shown (password as ***) sent back unchanged: keep the stored one
        } else if web {
            crate::ingest::http_client::split_url(u).map_err(|e| ApiError::invalid("url", e))?;
            s.url = u.to_string();
        } else {
            // a file: only inside the guide directory, and only an admin may name one (refused
            // as written, before anything on disk is looked at)
            guide::file_in_guide_dir(u, &guide::limits().dir)
                .map_err(|e| ApiError::invalid("url", e))?;
            if !admin {
                return Err(file_sources_admin_only());
            }
            s.url = u.to_string();
        }
    }
    if let Some(v) = body.get("refresh_minutes") {
        s.refresh_minutes = v
            .as_i64()
            .filter(|m| (5..=10080).contains(m))
            .ok_or_else(|| {
                ApiError::invalid("refresh_minutes", "must be an integer from 5 to 10080")
            })?;
    }
    if let Some(v) = body.get("enabled") {
        s.enabled = v
            .as_bool()
            .ok_or_else(|| ApiError::invalid("enabled", "must be true or false"))?;
    }
    Ok(())
}

fn store_err(e: crate::store::StoreError) -> ApiError {
    match e {
        crate::store::StoreError::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            None,
            "no such EPG source",
        ),
        e => ApiError::internal(e),
    }
}

pub async fn list_sources(State(st): State<AppState>, _: Authed) -> Result<Json<Value>, ApiError> {
    let sources = st
        .store
        .read(guide::list_sources)
        .await
        .map_err(store_err)?;
    Ok(Json(Value::Array(
        sources.iter().map(source_json).collect(),
    )))
}

pub async fn get_source(
    State(st): State<AppState>,
    _: Authed,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let s = st
        .store
        .read(move |c| guide::get_source(c, id))
        .await
        .map_err(store_err)?;
    Ok(Json(source_json(&s)))
}

pub async fn create_source(
    State(st): State<AppState>,
    who: Authed,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let body = super::json_object(&body)?;
    for f in ["name", "url"] {
        if !body.contains_key(f) {
            return Err(ApiError::invalid(
                if f == "name" { "name" } else { "url" },
                "is required",
            ));
        }
    }
    let mut s = Source {
        id: 0,
        name: String::new(),
        url: String::new(),
        refresh_minutes: 360,
        enabled: true,
        last_attempt_utc_ms: None,
        last_success_utc_ms: None,
        last_error: None,
        consecutive_failures: 0,
        next_attempt_utc_ms: None,
        channels_seen: 0,
        programmes_seen: 0,
        programmes_imported: 0,
        unmatched_channels: vec![],
        warnings: vec![],
    };
    apply_source(&mut s, &body, who.who.role == Role::Admin)?;
    let now = st.clock.now_utc().0;
    let (name, url, refresh, enabled) =
        (s.name.clone(), s.url.clone(), s.refresh_minutes, s.enabled);
    let id = st
        .store
        .call(move |c| guide::insert_source(c, &name, &url, refresh, enabled, now))
        .await
        .map_err(store_err)?;
    st.epg_wake.notify_one();
    let s = st
        .store
        .call(move |c| guide::get_source(c, id))
        .await
        .map_err(store_err)?;
    who.audit(&st, "epg_source.create", &id.to_string(), audit_body(body))
        .await;
    Ok((StatusCode::CREATED, Json(source_json(&s))))
}

pub async fn update_source(
    State(st): State<AppState>,
    who: Authed,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = super::json_object(&body)?;
    let mut s = st
        .store
        .call(move |c| guide::get_source(c, id))
        .await
        .map_err(store_err)?;
    let admin = who.who.role == Role::Admin;
    if !admin && !guide::is_web(&s.url) {
        return Err(file_sources_admin_only());
    }
    apply_source(&mut s, &body, admin)?;
    let saved = s.clone();
    st.store
        .call(move |c| guide::update_source(c, &saved))
        .await
        .map_err(store_err)?;
    who.audit(&st, "epg_source.update", &id.to_string(), audit_body(body))
        .await;
    Ok(Json(source_json(&s)))
}

pub async fn delete_source(
    State(st): State<AppState>,
    who: Authed,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let gone = st
        .store
        .call(move |c| {
            let s = guide::get_source(c, id)?;
            guide::delete_source(c, id)?;
            Ok(s)
        })
        .await
        .map_err(store_err)?;
    who.audit(
        &st,
        "epg_source.delete",
        &id.to_string(),
        json!({"name": gone.name, "url": crate::ingest::http_client::redact(&gone.url)}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/epg/sources/{id}/sync`: sync now (answers at once; watch the source's status).
pub async fn sync_source(
    State(st): State<AppState>,
    who: Authed,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = st.clock.now_utc().0;
    st.store
        .call(move |c| guide::sync_now(c, id, now))
        .await
        .map_err(store_err)?;
    who.audit(&st, "epg_source.sync", &id.to_string(), Value::Null)
        .await;
    st.epg_wake.notify_one();
    let s = st
        .store
        .call(move |c| guide::get_source(c, id))
        .await
        .map_err(store_err)?;
    Ok((StatusCode::ACCEPTED, Json(source_json(&s))))
}

#[derive(serde::Deserialize)]
pub struct GuideQuery {
    channel: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

/// Programmes with their catch-up state: `catchup` is true when the archive holds part of it.
pub(super) async fn programmes_json(
    st: &AppState,
    channel: &str,
    rows: Vec<ProgrammeRow>,
) -> Result<Vec<Value>, ApiError> {
    let (from, to) = match (rows.first(), rows.last()) {
        (Some(f), Some(l)) => (f.start_utc_ms, l.stop_utc_ms),
        _ => return Ok(Vec::new()),
    };
    let a = st.archive.clone();
    let ch = channel.to_string();
    let intervals = tokio::task::spawn_blocking(move || a.intervals(&ch, UtcMs(from), UtcMs(to)))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let now = st.clock.now_utc().0;
    Ok(rows
        .iter()
        .map(|p| {
            let recorded = p.start_utc_ms < now && intervals.iter().any(|(a, b)| a.0 < p.stop_utc_ms && b.0 > p.start_utc_ms);
            let (from_s, dur_s) = (p.start_utc_ms / 1000, ((p.stop_utc_ms - p.start_utc_ms) / 1000).max(1));
            json!({
                "id": format!("{}-{}", p.channel_id, from_s),
                "channel": p.channel_id,
                "start": from_s,
                "stop": p.stop_utc_ms / 1000,
                "start_utc": UtcMs(p.start_utc_ms).to_rfc3339(),
                "stop_utc": UtcMs(p.stop_utc_ms).to_rfc3339(),
                "title": p.title,
                "sub_title": p.sub_title,
                "description": p.description,
                "category": p.category.lines().collect::<Vec<_>>(),
                "episode": p.episode,
                "icon": p.icon,
                "catchup": recorded,
                "url": recorded.then(|| format!("/live/{}/index-{from_s}-{dur_s}.m3u8", p.channel_id)),
            })
        })
        .collect())
}

/// `GET /api/epg?channel=&from=&to=` (unix seconds; default: the last 24 h to the next 24 h).
pub async fn guide_for_channel(
    State(st): State<AppState>,
    Query(q): Query<GuideQuery>,
) -> Result<Json<Value>, ApiError> {
    let channel = q
        .channel
        .ok_or_else(|| ApiError::invalid("channel", "is required"))?;
    if !super::channels::valid_id(&channel) {
        return Err(ApiError::invalid("channel", "is not a channel id"));
    }
    let now_s = st.clock.now_utc().secs();
    let from = q.from.unwrap_or(now_s - 86_400);
    let to = q.to.unwrap_or(now_s + 86_400);
    if from >= to || to - from > 31 * 86_400 {
        return Err(ApiError::invalid(
            "from",
            "must be before to, at most 31 days apart",
        ));
    }
    let ch = channel.clone();
    let rows = st
        .store
        .read(move |c| guide::programmes(c, &ch, from * 1000, to * 1000))
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        json!({"channel": channel, "programmes": programmes_json(&st, &channel, rows).await?}),
    ))
}

/// `GET /api/epg/now`: what is on now and next on every active channel.
pub async fn now_next(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = st.clock.now_utc().0;
    let out = st
        .store
        .read(move |c| guide::now_and_next(c, now))
        .await
        .map_err(ApiError::internal)?;
    let mut list = Vec::new();
    for (ch, rows) in out {
        let id = ch.id;
        let (now_p, next_p) = match rows.first() {
            Some(p) if p.start_utc_ms <= now => (Some(p.clone()), rows.get(1).cloned()),
            _ => (None, rows.first().cloned()),
        };
        let j = |p: Option<ProgrammeRow>| {
            p.map(|p| json!({"title": p.title, "start": p.start_utc_ms / 1000, "stop": p.stop_utc_ms / 1000, "sub_title": p.sub_title}))
        };
        list.push(json!({"channel": id, "now": j(now_p), "next": j(next_p)}));
    }
    Ok(Json(Value::Array(list)))
}

#[derive(serde::Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

/// `GET /api/epg/search?q=`: programmes whose title contains `q`, from now on and the archive window.
pub async fn search(
    State(st): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = q.q.unwrap_or_default();
    let q = q.trim().to_string();
    if q.is_empty() || q.chars().count() > 100 {
        return Err(ApiError::invalid("q", "must be 1 to 100 characters"));
    }
    let from = st.clock.now_utc().0 - 7 * 86_400_000;
    let rows = st
        .store
        .read(move |c| guide::search(c, &q, from, 100))
        .await
        .map_err(ApiError::internal)?;
    let mut out = Vec::new();
    for row in rows {
        let ch = row.channel_id.clone();
        out.extend(programmes_json(&st, &ch, vec![row]).await?);
    }
    Ok(Json(json!({"results": out})))
}

/// The base URL for absolute links: the configured public URL, else the request's Host.
pub(super) fn base_url(st: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &st.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `GET /playlist.m3u`: every active channel, with guide and catch-up attributes.
pub async fn playlist(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = base_url(&st, &headers);
    let channels = st
        .store
        .read(crate::store::list_channels)
        .await
        .map_err(ApiError::internal)?;
    let entries: Vec<epg::M3uEntry> = channels
        .iter()
        .filter(|c| c.active)
        .map(|c| epg::M3uEntry {
            tvg_id: c.id.clone(),
            tvg_name: c.name.clone(),
            tvg_logo: if c.logo.starts_with('/') {
                format!("{base}{}", c.logo)
            } else {
                c.logo.clone()
            },
            tvg_chno: c.number,
            group_title: c.group.clone(),
            name: c.name.clone(),
            url: format!("{base}/live/{}/index.m3u8", c.id),
            catchup: c
                .record
                .then(|| epg::Catchup::for_atoll(&base, &c.id, c.retention_hours)),
        })
        .collect();
    let text = epg::write_m3u(
        &epg::M3uHeader {
            url_tvg: format!("{base}/epg.xml.gz"),
        },
        &entries,
    );
    Ok((
        [
            (header::CONTENT_TYPE, "audio/x-mpegurl; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=60"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        text,
    )
        .into_response())
}

async fn xmltv_bytes(st: &AppState) -> Result<Vec<u8>, ApiError> {
    xmltv_bytes_for(st, |_| true).await
}

/// The guide of the active channels `keep` lets through (an XC account's packages), as XMLTV.
pub(super) async fn xmltv_bytes_for(
    st: &AppState,
    keep: impl Fn(&crate::store::Channel) -> bool + Send + 'static,
) -> Result<Vec<u8>, ApiError> {
    let now = st.clock.now_utc().0;
    let (channels, rows) = st
        .store
        .call(move |c| {
            let channels: Vec<_> = crate::store::list_channels(c)?
                .into_iter()
                .filter(|c| c.active && keep(c))
                .collect();
            let max_h = channels
                .iter()
                .map(|c| c.retention_hours as i64)
                .max()
                .unwrap_or(72);
            let rows = guide::all_programmes(c, now - max_h * 3_600_000, now + 31 * 86_400_000)?;
            Ok((channels, rows))
        })
        .await
        .map_err(ApiError::internal)?;
    let ids: std::collections::HashSet<&str> = channels.iter().map(|c| c.id.as_str()).collect();
    let export: Vec<epg::ExportChannel> = channels
        .iter()
        .map(|c| epg::ExportChannel {
            id: c.id.clone(),
            name: c.name.clone(),
            icon: (!c.logo.is_empty()).then(|| c.logo.clone()),
        })
        .collect();
    let progs = guide::export_programmes(
        &rows
            .into_iter()
            .filter(|r| ids.contains(r.channel_id.as_str()))
            .collect::<Vec<_>>(),
    );
    let mut out = Vec::with_capacity(progs.len() * 300 + 1024);
    epg::write_xmltv(
        &export,
        &progs,
        concat!("Atoll ", env!("CARGO_PKG_VERSION")),
        &mut out,
    );
    Ok(out)
}

/// `GET /epg.xml`: the merged guide of our lineup (XMLTV, ids = our channel ids = tvg-id).
pub async fn epg_xml(State(st): State<AppState>) -> Result<Response, ApiError> {
    let xml = xmltv_bytes(&st).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/xml; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        xml,
    )
        .into_response())
}

/// `GET /epg.xml.gz`: the same, gzip-compressed.
pub async fn epg_xml_gz(State(st): State<AppState>) -> Result<Response, ApiError> {
    let xml = xmltv_bytes(&st).await?;
    let gz = tokio::task::spawn_blocking(move || {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&xml).and_then(|_| e.finish())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        gz,
    )
        .into_response())
}

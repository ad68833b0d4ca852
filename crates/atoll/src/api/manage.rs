//! Operator tools: probing a source before adding it, the lineup's import/export (JSON and M3U),
//! and the system page's figures.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use super::channels::{apply_fields, audit_detail, new_channel, store_err, valid_id};
use super::{ApiError, AppState, Authed};
use crate::ingest::{self, SourceEvent, SourceSpec, SourceTx};
use crate::store;

/// How long a probe may take.
const PROBE_FOR: Duration = Duration::from_secs(6);
/// Media a probe measures the bitrate over once both tracks are known.
const PROBE_MEDIA_MS: i64 = 2_000;

/// A 429 with `Retry-After`, in the API's error shape.
fn busy(retry_after_s: u64, message: String) -> Response {
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({"error": "rate_limited", "field": null, "message": message})),
    )
        .into_response();
    r.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(retry_after_s),
    );
    r
}

/// Probes running now, across every account (setting `probe_max_concurrent`).
fn probe_slots() -> &'static std::sync::Arc<tokio::sync::Semaphore> {
    static SLOTS: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> =
        std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        std::sync::Arc::new(tokio::sync::Semaphore::new(
            crate::guide::probe_limits().max_concurrent,
        ))
    })
}

/// Probe start times per operator account in the last minute (setting `probe_per_minute`).
/// Bounded: one entry per account that probed in the last minute, each at most `per_minute` long.
fn probe_rate_check(account: &str, now: std::time::Instant) -> Result<(), u64> {
    use std::collections::{HashMap, VecDeque};
    static RECENT: std::sync::OnceLock<
        std::sync::Mutex<HashMap<String, VecDeque<std::time::Instant>>>,
    > = std::sync::OnceLock::new();
    let per_minute = crate::guide::probe_limits().per_minute as usize;
    let minute = Duration::from_secs(60);
    let mut recent = RECENT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    recent.retain(|_, q| {
        while q.front().is_some_and(|t| now.duration_since(*t) >= minute) {
            q.pop_front();
        }
        !q.is_empty()
    });
    let q = recent.entry(account.to_string()).or_default();
    if q.len() >= per_minute {
        let wait = q
            .front()
            .map(|t| minute.saturating_sub(now.duration_since(*t)).as_secs() + 1)
            .unwrap_or(60);
        return Err(wait);
    }
    q.push_back(now);
    Ok(())
}

/// `POST /api/probe` `{"url"}`: runs the source for a few seconds (without touching any
/// channel) and says what it carries. Open to operators (the channel dialog's Probe button),
/// but bounded: `probe_max_concurrent` at once for everyone, `probe_per_minute` per operator,
/// and test patterns up to `probe_testsrc_max_pixels_per_second`.
pub async fn probe(who: Authed, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let body = super::json_object(&body)?;
    let url = body
        .get("url")
        .ok_or_else(|| ApiError::invalid("url", "is required"))?
        .as_str()
        .ok_or_else(|| ApiError::invalid("url", "must be a string"))?
        .trim()
        .to_string();
    let spec = SourceSpec::parse(&url)
        .map_err(|e| ApiError::invalid("url", crate::ingest::http_client::redact_text(&e)))?;
    if matches!(spec, SourceSpec::Origin { .. }) {
        return Err(ApiError::invalid(
            "url",
            "origin:// sources cannot be probed",
        ));
    }
    let limits = crate::guide::probe_limits();
    if let SourceSpec::TestSrc { width, height, fps } = &spec {
        let pps = *width as u64 * *height as u64 * *fps as u64;
        if pps > limits.testsrc_max_pixels_per_second {
            return Err(ApiError::invalid(
                "url",
                format!(
                    "a probe encodes test patterns up to {} pixels per second (width × height × fps; setting probe_testsrc_max_pixels_per_second); this one is {pps}",
                    limits.testsrc_max_pixels_per_second
                ),
            ));
        }
    }
    let Ok(_slot) = probe_slots().clone().try_acquire_owned() else {
        return Ok(busy(
            PROBE_FOR.as_secs(),
            format!(
                "{} probes are running (setting probe_max_concurrent); try again shortly",
                limits.max_concurrent
            ),
        ));
    };
    if who.who.role != crate::store::Role::Admin {
        if let Err(wait) = probe_rate_check(&who.who.name, std::time::Instant::now()) {
            return Ok(busy(
                wait,
                format!(
                    "at most {} probes a minute per operator (setting probe_per_minute)",
                    limits.per_minute
                ),
            ));
        }
    }
    let (tx, mut rx) = mpsc::channel(256);
    let task = ingest::spawn_source(
        spec,
        "PROBE".into(),
        SourceTx {
            tx,
            slot: 0,
            generation: 1,
            dismissed: None,
        },
    );
    let started = tokio::time::Instant::now();
    let deadline = started + PROBE_FOR;
    let (mut info, mut last_error, mut connected) = (None, None, None);
    let mut bytes: u64 = 0;
    let mut first_dts: Option<i64> = None;
    let mut last_dts: i64 = 0;
    let mut video_frames = 0u64;
    loop {
        let ev = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(t)) => t.event,
            Ok(None) | Err(_) => break,
        };
        match ev {
            SourceEvent::Connected(what) => connected = Some(what),
            SourceEvent::Error(e) => last_error = Some(e),
            // probes pull; publishers never reach them, and origin:// is refused above
            SourceEvent::PublisherConnected { .. }
            | SourceEvent::PublisherGone { .. }
            | SourceEvent::Segment(_)
            | SourceEvent::Alive => {}
            SourceEvent::Media(media::MediaEvent::Info(i)) => info = Some(i),
            SourceEvent::Media(media::MediaEvent::Frame(f)) => {
                bytes += f.data.len() as u64;
                if f.track == media::Track::Video {
                    video_frames += 1;
                    let dts_ms = f.dts_90k.0 / 90;
                    first_dts.get_or_insert(dts_ms);
                    last_dts = dts_ms;
                }
            }
        }
        let span = first_dts.map(|f| last_dts - f).unwrap_or(0);
        let known = info.as_ref().is_some_and(|i: &media::StreamInfo| {
            i.video.as_ref().is_none_or(|v| v.width > 0)
                && (i.video.is_some() || !i.audio.is_empty())
        });
        if known && span >= PROBE_MEDIA_MS {
            break;
        }
    }
    drop(task);
    let Some(info) = info else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "probe_failed",
            Some("url"),
            match (last_error, connected) {
                (Some(e), _) => format!("no media within {} s: {e}", PROBE_FOR.as_secs()),
                (None, Some(c)) => format!(
                    "connected ({c}) but no media within {} s",
                    PROBE_FOR.as_secs()
                ),
                (None, None) => format!("nothing received within {} s", PROBE_FOR.as_secs()),
            },
        ));
    };
    let span_ms = first_dts.map(|f| last_dts - f).unwrap_or(0);
    Ok(Json(json!({
        "url": crate::ingest::http_client::redact(&url),
        "connected": connected,
        "video": info.video.as_ref().map(|v| json!({
            "codec": v.codec.map(|c| c.name()),
            "width": v.width,
            "height": v.height,
            "fps": (v.fps_milli > 0).then(|| v.fps_milli as f64 / 1000.0),
        })),
        "audio": info.audio.first().map(|a| json!({
            "codec": a.codec.map(|c| c.name()),
            "sample_rate": a.sample_rate,
            "channels": a.channels,
        })),
        "tracks": super::channels::tracks_json(&info),
        "bitrate_bps": (span_ms > 0).then(|| bytes * 8 * 1000 / span_ms as u64),
        "video_frames": video_frames,
        "probed_ms": started.elapsed().as_millis() as u64,
    }))
    .into_response())
}

/// `GET /api/channels/export`: the whole lineup as JSON that `POST /api/channels/import` reads.
/// An admin's export is the full backup (source passwords included); an operator's shows them
/// as `user:***@` (importing it back keeps the stored passwords of existing channels).
pub async fn export(State(st): State<AppState>, who: Authed) -> Result<Response, ApiError> {
    let full = who.who.role == crate::store::Role::Admin;
    let channels = st
        .store
        .read(store::list_channels)
        .await
        .map_err(store_err)?;
    let body = json!({
        "version": 1,
        "exported_utc": st.clock.now_utc().secs(),
        "channels": channels
            .iter()
            .map(|c| if full {
                super::channels::config_json(c)
            } else {
                super::channels::config_json_redacted(c)
            })
            .collect::<Vec<_>>(),
    });
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"atoll-channels.json\"",
        )],
        Json(body),
    )
        .into_response())
}

/// A channel id made from a name or tvg-id: lower case, `[a-z0-9_-]`, at most 64.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.trim().chars().flat_map(|c| c.to_lowercase()) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 64 {
            break;
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The entries of an import body: JSON (`{"channels":[…]}` or `[…]`) or an M3U playlist.
fn import_entries(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Map<String, Value>>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            None,
            "the body is not UTF-8",
        )
    })?;
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with("#EXTM3U") || ctype.contains("mpegurl") {
        let mut used = std::collections::HashSet::new();
        return Ok(epg::parse_m3u(text)
            .into_iter()
            .map(|e| {
                let name = if e.name.is_empty() {
                    e.tvg_name.clone()
                } else {
                    e.name.clone()
                };
                let mut id = slug(if e.tvg_id.is_empty() {
                    &name
                } else {
                    &e.tvg_id
                });
                if id.is_empty() {
                    id = "channel".into();
                }
                // two entries with one name get -2, -3…
                let base = id.clone();
                let mut n = 2;
                while !used.insert(id.clone()) {
                    id = format!("{}-{n}", &base[..base.len().min(60)]);
                    n += 1;
                }
                let mut m = Map::new();
                m.insert("id".into(), json!(id));
                m.insert("name".into(), json!(name));
                m.insert("sources".into(), json!([e.url]));
                if !e.group_title.is_empty() {
                    m.insert("group".into(), json!(e.group_title));
                }
                if !e.tvg_logo.is_empty() {
                    m.insert("logo".into(), json!(e.tvg_logo));
                }
                if let Some(n) = e.tvg_chno {
                    m.insert("number".into(), json!(n));
                }
                if !e.tvg_id.is_empty() {
                    m.insert("epg_id".into(), json!(e.tvg_id));
                }
                m
            })
            .collect());
    }
    let v: Value = serde_json::from_str(text).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            None,
            format!("the body is neither an M3U playlist nor JSON: {e}"),
        )
    })?;
    let list = match v {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("channels") {
            Some(Value::Array(a)) => a,
            _ => {
                return Err(ApiError::invalid(
                    "channels",
                    "must be an array of channels",
                ))
            }
        },
        _ => {
            return Err(ApiError::invalid(
                "channels",
                "must be an array of channels",
            ))
        }
    };
    list.into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(m) => Ok(m),
            _ => Err(ApiError::invalid(
                "channels",
                format!("channels[{i}] is not an object"),
            )),
        })
        .collect()
}

/// Most channels one import may carry.
const IMPORT_MAX: usize = 2_000;

/// `POST /api/channels/import`: creates the channels that are new and updates those whose id
/// exists; each bad entry is reported (with the field) and skipped, the others apply.
pub async fn import(
    State(st): State<AppState>,
    who: Authed,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let entries = import_entries(&headers, &body)?;
    if entries.len() > IMPORT_MAX {
        return Err(ApiError::invalid(
            "channels",
            format!("at most {IMPORT_MAX} channels in one import"),
        ));
    }
    let _serial = st.config_writes.lock().await;
    let (mut created, mut updated, mut errors) = (0, 0, Vec::new());
    for (index, mut entry) in entries.into_iter().enumerate() {
        entry.remove("exported_utc");
        let id = entry
            .get("id")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        let fail = |e: ApiError, errors: &mut Vec<Value>| {
            errors.push(json!({"index": index, "id": id, "field": e.field, "message": e.message}));
        };
        if !valid_id(&id) {
            fail(
                ApiError::invalid("id", "must match [a-z0-9_-]{1,64}"),
                &mut errors,
            );
            continue;
        }
        let lookup = id.clone();
        let existing = st
            .store
            .call(move |c| match store::get_channel(c, &lookup) {
                Ok(ch) => Ok(Some(ch)),
                Err(store::StoreError::NotFound) => Ok(None),
                Err(e) => Err(e),
            })
            .await
            .map_err(ApiError::internal)?;
        let is_new = existing.is_none();
        let mut ch = existing.unwrap_or_else(|| new_channel(id.clone()));
        if is_new && !entry.contains_key("name") {
            fail(ApiError::invalid("name", "is required"), &mut errors);
            continue;
        }
        if let Err(e) = apply_fields(&mut ch, &entry) {
            fail(e, &mut errors);
            continue;
        }
        let now = st.clock.now_utc().0;
        let saved = ch.clone();
        let r = st
            .store
            .call(move |c| {
                if is_new {
                    store::insert_channel(c, &saved, now)
                } else {
                    store::update_channel(c, &saved, now)
                }
            })
            .await;
        if let Err(e) = r {
            fail(super::channels::save_err(&st, e, &ch).await, &mut errors);
            continue;
        }
        st.hub.apply(ch.clone()).await;
        if is_new {
            created += 1;
            who.channel_event(&st, &id, "created");
        } else {
            updated += 1;
            who.channel_event(&st, &id, "updated");
        }
        who.audit(
            &st,
            if is_new {
                "channel.create"
            } else {
                "channel.update"
            },
            &id,
            json!({"import": true, "fields": audit_detail(&entry)}),
        )
        .await;
    }
    tracing::info!(created, updated, errors = errors.len(), "lineup imported");
    Ok(Json(
        json!({"created": created, "updated": updated, "errors": errors}),
    ))
}

/// `GET /api/system`: the machine and the server at a glance.
pub async fn system(State(st): State<AppState>, _: Authed) -> Result<Json<Value>, ApiError> {
    let data_dir = st.archive_dir.clone();
    let sample = tokio::task::spawn_blocking(crate::sys::sample)
        .await
        .map_err(ApiError::internal)?;
    let sync = crate::clock::sync_state();
    let a = st.archive.clone();
    let usage = tokio::task::spawn_blocking(move || a.usage())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let archive_bytes: u64 = usage.iter().map(|u| u.1).sum();
    let mut disks = Vec::new();
    if let Some((total, free)) = crate::sys::disk_space(&data_dir) {
        disks.push(
            json!({"path": data_dir.display().to_string(), "role": "archive",
            "total_bytes": total, "free_bytes": free, "archive_bytes": archive_bytes}),
        );
    }
    let now_mono = st.clock.now_mono_ms();
    let channels = st
        .store
        .read(store::list_channels)
        .await
        .map_err(store_err)?;
    let mut viewers_total = 0;
    let per_channel: Vec<Value> = channels
        .iter()
        .map(|ch| {
            let v = super::channels::channel_json(
                ch,
                st.hub.get(&ch.id).as_deref(),
                now_mono,
                &st.viewers.settings.rtmp_port,
            );
            viewers_total += v["viewers"].as_u64().unwrap_or(0);
            json!({
                "id": ch.id,
                "name": ch.name,
                "state": v["state"],
                "active": ch.active,
                "awaiting_encoder": v["awaiting_encoder"],
                "input_bitrate_bps": v["input_bitrate_bps"],
                "viewers": v["viewers"],
                "archive_bytes": usage.iter().find(|u| u.0 == ch.id).map(|u| u.1).unwrap_or(0),
            })
        })
        .collect();
    let now = st.clock.now_utc();
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": st.started.elapsed().as_secs(),
        "now_utc": now.secs(),
        "now_rfc3339": now.to_rfc3339(),
        // the kernel's view (NTP/GPS): catch-up times depend on it; null where unreadable
        "clock": sync.map(|s| json!({
            "synchronized": s.synchronized,
            "est_error_ms": s.est_error_ms(),
            "warning": s.is_bad(),
        })),
        "cpu": {
            "cores": sample.cores,
            "usage_percent": sample.cpu_percent,
            "process_percent": sample.process_cpu_percent,
            "load": sample.load,
        },
        "memory": {
            "total_bytes": sample.mem_total,
            "available_bytes": sample.mem_available,
            "process_rss_bytes": sample.rss,
        },
        "disks": disks,
        "channels": per_channel,
        "viewers_total": viewers_total,
        "event_log_dropped": st.hub.settings.events.as_ref().map(|e| e.dropped.load(std::sync::atomic::Ordering::Relaxed)),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_valid_ids() {
        assert_eq!(slug("BBC One HD"), "bbc-one-hd");
        assert_eq!(slug("  News/24 (backup) "), "news-24-backup");
        assert_eq!(slug("CCTV-1.cn"), "cctv-1-cn");
        assert_eq!(slug("中文台"), "");
        assert!(valid_id(&slug(&"x".repeat(200))));
    }

    #[test]
    fn m3u_import_entries() {
        let m3u = "#EXTM3U\n#EXTINF:-1 tvg-id=\"News.uk\" tvg-chno=\"7\" tvg-logo=\"http://l/n.png\" group-title=\"News\",News 24\nudp://@239.1.1.1:1234\n#EXTINF:-1,Sport\nhttp://h/s.m3u8\n#EXTINF:-1,Sport\nhttp://h/s2.m3u8\n";
        let e = import_entries(&HeaderMap::new(), m3u.as_bytes()).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0]["id"], "news-uk");
        assert_eq!(e[0]["number"], 7);
        assert_eq!(e[0]["epg_id"], "News.uk");
        assert_eq!(e[0]["group"], "News");
        assert_eq!(e[1]["id"], "sport");
        assert_eq!(e[2]["id"], "sport-2");
        assert!(import_entries(&HeaderMap::new(), b"{nope").is_err());
        assert_eq!(
            import_entries(&HeaderMap::new(), br#"{"channels":[{"id":"a"}]}"#)
                .unwrap()
                .len(),
            1
        );
    }
}

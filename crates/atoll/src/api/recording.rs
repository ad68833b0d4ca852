//! The recording and archive API: recording state and control, recorded intervals, disk use.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use media::UtcMs;
use serde_json::{json, Value};

use super::{ApiError, AppState, Authed};

#[derive(serde::Deserialize)]
pub struct RangeQuery {
    from: Option<i64>,
    to: Option<i64>,
}

async fn channel_exists(st: &AppState, id: &str) -> Result<crate::store::Channel, ApiError> {
    let id = id.to_string();
    st.store
        .read(move |c| crate::store::get_channel(c, &id))
        .await
        .map_err(super::channels::store_err)
}

/// `GET /api/channels/{id}/archive?from=&to=` (unix seconds; default: the last 72 h).
pub async fn intervals(
    State(st): State<AppState>,
    _: Authed,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Value>, ApiError> {
    channel_exists(&st, &id).await?;
    let now_s = st.hub.settings.clock.now_utc().secs();
    let to = q.to.unwrap_or(now_s + 60);
    let from = q.from.unwrap_or(to - 72 * 3600);
    if from >= to {
        return Err(ApiError::invalid("from", "must be before to"));
    }
    if !(0..=4_102_444_800).contains(&from) || !(0..=4_102_444_800).contains(&to) {
        return Err(ApiError::invalid(
            "from",
            "from and to must be unix seconds before 2100",
        ));
    }
    let a = st.archive.clone();
    let ch = id.clone();
    let (ivals, gaps) = tokio::task::spawn_blocking(move || {
        Ok::<_, archive::ArchiveError>((
            a.intervals(&ch, UtcMs(from * 1000), UtcMs(to * 1000))?,
            a.gaps(&ch, UtcMs(from * 1000), UtcMs(to * 1000))?,
        ))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Json(json!({
        "channel": id,
        "from": from,
        "to": to,
        "intervals": ivals.iter().map(|(a, b)| json!({"from": a.0 as f64 / 1000.0, "to": b.0 as f64 / 1000.0})).collect::<Vec<_>>(),
        "gaps": gaps.iter().map(gap_json).collect::<Vec<_>>(),
    })))
}

fn gap_json(g: &archive::Gap) -> Value {
    json!({"from": g.from_utc_ms as f64 / 1000.0, "to": g.to_utc_ms as f64 / 1000.0, "reason": g.reason.as_str()})
}

/// `GET /api/channels/{id}/recording`.
pub async fn recording(
    State(st): State<AppState>,
    _: Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ch = channel_exists(&st, &id).await?;
    Ok(Json(recording_json(&st, &ch).await?))
}

async fn recording_json(st: &AppState, ch: &crate::store::Channel) -> Result<Value, ApiError> {
    let now = st.hub.settings.clock.now_utc();
    let status = st.hub.get(&ch.id).map(|h| h.status());
    let written = st
        .hub
        .settings
        .recorder
        .as_ref()
        .map(|r| r.status(&ch.id))
        .unwrap_or_default();
    // error while writes fail; recording again at the first write that works (disk space back)
    let state = if !ch.record || !ch.active {
        "stopped"
    } else if written.failing {
        "error"
    } else if status.as_ref().is_some_and(|s| s.recording) {
        "recording"
    } else {
        "waiting for source"
    };
    let a = st.archive.clone();
    let id = ch.id.clone();
    let window_from = UtcMs(now.0 - ch.retention_hours as i64 * 3_600_000);
    let (usage, ivals, gaps, last) = tokio::task::spawn_blocking(move || {
        let usage = a.usage()?.into_iter().find(|(c, _, _)| *c == id);
        let ivals = a.intervals(&id, window_from, UtcMs(now.0 + 60_000))?;
        let gaps = a.gaps(&id, window_from, UtcMs(now.0 + 60_000))?;
        let last = a.segment_at_or_before(&id, UtcMs(now.0 + 60_000))?;
        Ok::<_, archive::ArchiveError>((usage, ivals, gaps, last))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let kept_ms: i64 = ivals.iter().map(|(a, b)| b.0 - a.0).sum();
    Ok(json!({
        "channel": ch.id,
        "record": ch.record,
        "state": state,
        "since": status.as_ref().and_then(|s| s.recording_since).map(|t| t.to_rfc3339()),
        "last_segment": last.map(|r| UtcMs(r.start_utc_ms).to_rfc3339()),
        "bytes": usage.as_ref().map(|u| u.1).unwrap_or(0),
        "segments": usage.as_ref().map(|u| u.2).unwrap_or(0),
        "hours_kept": kept_ms as f64 / 3_600_000.0,
        "retention_hours": ch.retention_hours,
        "last_error": written.last_error,
        "reason": if written.failing { written.error_reason } else { None },
        "gaps": gaps.iter().map(gap_json).collect::<Vec<_>>(),
    }))
}

/// `POST /api/channels/{id}/recording/start` and `/stop`.
pub async fn set_recording(
    State(st): State<AppState>,
    who: Authed,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let record = match action.as_str() {
        "start" => true,
        "stop" => false,
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                None,
                "use /recording/start or /recording/stop",
            ))
        }
    };
    let _serial = st.config_writes.lock().await;
    let mut ch = channel_exists(&st, &id).await?;
    if ch.record != record {
        ch.record = record;
        let saved = ch.clone();
        let now = st.hub.settings.clock.now_utc().0;
        st.store
            .call(move |c| crate::store::update_channel(c, &saved, now))
            .await
            .map_err(super::channels::store_err)?;
        tracing::info!(channel = %id, "recording {}", if record { "started" } else { "stopped" });
        st.hub.apply(ch.clone()).await;
        who.audit(&st, &format!("recording.{action}"), &id, Value::Null)
            .await;
        who.channel_event(
            &st,
            &id,
            if record {
                "recording_switched_on"
            } else {
                "recording_switched_off"
            },
        );
    }
    Ok(Json(recording_json(&st, &ch).await?))
}

/// `GET /api/archive/usage`.
pub async fn usage(State(st): State<AppState>, _: Authed) -> Result<Json<Value>, ApiError> {
    let a = st.archive.clone();
    let usage = tokio::task::spawn_blocking(move || a.usage())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let disk = crate::sys::disk_space(&st.archive_dir);
    let total: u64 = usage.iter().map(|u| u.1).sum();
    Ok(Json(json!({
        "channels": usage.iter().map(|(c, b, n)| json!({"channel": c, "bytes": b, "segments": n})).collect::<Vec<_>>(),
        "total_bytes": total,
        "disk_total_bytes": disk.map(|d| d.0),
        "disk_free_bytes": disk.map(|d| d.1),
        "writer_dropped_segments": st.hub.settings.recorder.as_ref().map(|r| r.dropped.load(std::sync::atomic::Ordering::Relaxed)),
        // how long retention keeps the recordings of a channel deleted with archive=keep
        "deleted_channel_retention_hours": archive::RetentionPolicy::default().default_hours,
    })))
}

/// Channels with recordings on disk and no channel: a channel deleted with `archive=keep`.
async fn kept_list(st: &AppState) -> Result<Vec<(String, u64, i64)>, ApiError> {
    let a = st.archive.clone();
    let usage = tokio::task::spawn_blocking(move || a.usage())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let channels = st
        .store
        .read(crate::store::list_channels)
        .await
        .map_err(super::channels::store_err)?;
    let known: std::collections::HashSet<&str> = channels.iter().map(|c| c.id.as_str()).collect();
    Ok(usage
        .into_iter()
        .filter(|(c, _, _)| !known.contains(c.as_str()))
        .collect())
}

/// `GET /api/archive/kept`: the recordings of deleted channels still on disk, with their size,
/// span and when retention removes them (at the server's default retention, 72 h: a deleted
/// channel has no retention of its own). Viewers cannot reach them; a channel added again with
/// the same id plays them again.
pub async fn kept(State(st): State<AppState>, _: super::Admin) -> Result<Json<Value>, ApiError> {
    let kept = kept_list(&st).await?;
    let default_hours = archive::RetentionPolicy::default().default_hours;
    let mut out = Vec::with_capacity(kept.len());
    for (channel, bytes, segments) in kept {
        let (a, c) = (st.archive.clone(), channel.clone());
        let (first, last) = tokio::task::spawn_blocking(move || {
            let first = a.earliest(&c)?;
            let last = a
                .intervals(&c, UtcMs(0), UtcMs(i64::MAX / 2))?
                .last()
                .map(|i| i.1);
            Ok::<_, archive::ArchiveError>((first, last))
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
        let gone = last.map(|t| UtcMs(t.0 + i64::from(default_hours) * 3_600_000));
        out.push(json!({
            "channel": channel,
            "bytes": bytes,
            "segments": segments,
            "from": first.map(|t| t.to_rfc3339()),
            "to": last.map(|t| t.to_rfc3339()),
            "removed_by_retention_at": gone.map(|t| t.to_rfc3339()),
        }));
    }
    Ok(Json(
        json!({"archives": out, "retention_hours": default_hours}),
    ))
}

/// `DELETE /api/archive/kept/{id}`: removes a deleted channel's kept recordings now (audited as
/// `archive.remove`). A channel that exists is refused (409: stop its recording or delete it with
/// `archive=remove`).
pub async fn remove_kept(
    State(st): State<AppState>,
    who: super::Admin,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let _serial = st.config_writes.lock().await;
    let kept = kept_list(&st).await?;
    let Some((_, bytes, segments)) = kept.into_iter().find(|(c, _, _)| *c == id) else {
        let cid = id.clone();
        let exists = st
            .store
            .read(move |c| crate::store::get_channel(c, &cid))
            .await
            .is_ok();
        return Err(if exists {
            ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                Some("id"),
                format!("channel {id} exists: its recordings are not a kept archive"),
            )
        } else {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                Some("id"),
                format!("no kept recordings of a channel {id}"),
            )
        });
    };
    let (a, ch) = (st.archive.clone(), id.clone());
    let freed = tokio::task::spawn_blocking(move || a.delete_channel(&ch))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    tracing::info!(channel = %id, freed, "kept archive removed");
    who.0
        .audit(
            &st,
            "archive.remove",
            &id,
            json!({"bytes_freed": freed, "bytes": bytes, "segments": segments}),
        )
        .await;
    Ok(Json(json!({"channel": id, "bytes_freed": freed})))
}

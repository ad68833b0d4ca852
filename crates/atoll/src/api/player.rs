//! What the viewer web player needs, public (no admin auth): the page itself at `/`, the PWA
//! manifest and service worker, the lineup with live state, catch-up window and now/next
//! (`/api/player/channels`), and the whole lineup's guide for a time range in one request
//! (`/api/player/guide`). Never exposes a channel's sources or publish key.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use media::UtcMs;
use serde_json::{json, Value};

use super::{assets, ApiError, AppState};
use crate::guide::{self, ProgrammeRow};

/// `GET /`: the player page.
pub(super) async fn page() -> Response {
    let mut r = assets::respond("player/index.html");
    r.headers_mut().insert(
        header::HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("SAMEORIGIN"),
    );
    r
}

pub(super) async fn manifest() -> Response {
    assets::respond("player/manifest.webmanifest")
}

/// The service worker is served from the root so that its scope covers `/`.
pub(super) async fn service_worker() -> Response {
    assets::respond("player/sw.js")
}

fn programme_brief(p: &ProgrammeRow) -> Value {
    json!({
        "title": p.title,
        "sub_title": p.sub_title,
        "start": p.start_utc_ms / 1000,
        "stop": p.stop_utc_ms / 1000,
    })
}

/// `GET /api/player/channels`: active channels in number order, each with `state` (`live`,
/// `connecting`, `offline`; `slate` true while the "unavailable" slate is on air), `catchup`
/// (`record`, `hours`, `from`: start of the oldest kept segment, unix s), `url`,
/// `audio_language` (the preferred audio track's ISO 639-2 code, '' = none) and `now`/`next`.
pub(super) async fn channels(State(st): State<AppState>) -> Result<Response, ApiError> {
    let now = st.clock.now_utc().0;
    let rows = st
        .store
        .read(move |c| guide::now_and_next(c, now))
        .await
        .map_err(ApiError::internal)?;
    let a = st.archive.clone();
    let ids: Vec<String> = rows.iter().map(|(c, _)| c.id.clone()).collect();
    let earliest: HashMap<String, Option<i64>> = tokio::task::spawn_blocking(move || {
        ids.into_iter()
            .map(|id| {
                let e = a.earliest(&id).ok().flatten().map(|t| t.0);
                (id, e)
            })
            .collect()
    })
    .await
    .map_err(ApiError::internal)?;
    let mut list = Vec::with_capacity(rows.len());
    for (ch, progs) in rows {
        let (state, slate) = match st.hub.get(&ch.id) {
            Some(h) => {
                let s = h.status();
                // an edge's unwatched channel plays as soon as it is asked for
                let state = match s.state {
                    crate::hub::State::Idle => "live",
                    other => other.as_str(),
                };
                (state, s.slate)
            }
            None => ("offline", false),
        };
        let (now_p, next_p) = match progs.first() {
            Some(p) if p.start_utc_ms <= now => (Some(p), progs.get(1)),
            _ => (None, progs.first()),
        };
        // the oldest segment still inside the retention window (retention runs periodically)
        let keep_from = now - i64::from(ch.retention_hours) * 3_600_000;
        let from = earliest
            .get(&ch.id)
            .copied()
            .flatten()
            .map(|e| e.max(keep_from) / 1000);
        list.push(json!({
            "id": ch.id,
            "name": ch.name,
            "number": ch.number,
            "group": ch.group,
            "logo": ch.logo,
            "state": state,
            "slate": slate,
            "url": format!("/live/{}/index.m3u8", ch.id),
            "audio_language": ch.audio_language,
            "catchup": {
                "record": ch.record,
                "hours": ch.retention_hours,
                "from": from,
            },
            "now": now_p.map(programme_brief),
            "next": next_p.map(programme_brief),
        }));
    }
    let mut r = Json(json!({"now": now / 1000, "channels": list})).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

#[derive(serde::Deserialize)]
pub(super) struct RangeQuery {
    from: Option<i64>,
    to: Option<i64>,
}

/// `GET /api/player/guide?from=&to=` (unix s, at most 2 days apart; default now-3h..now+9h):
/// every active channel's programmes overlapping the range, compact, with `catchup` true when the
/// archive holds part of a programme that has started.
pub(super) async fn guide_range(
    State(st): State<AppState>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Value>, ApiError> {
    let now_ms = st.clock.now_utc().0;
    let from = q.from.unwrap_or(now_ms / 1000 - 3 * 3600);
    let to = q.to.unwrap_or(from + 12 * 3600);
    if from >= to || to - from > 2 * 86_400 {
        return Err(ApiError::invalid(
            "from",
            "must be before to, at most 2 days apart",
        ));
    }
    if !(0..=4_102_444_800).contains(&from) || !(0..=4_102_444_800).contains(&to) {
        return Err(ApiError::invalid("from", "unix seconds before 2100"));
    }
    let (from_ms, to_ms) = (from * 1000, to * 1000);
    let (channels, rows) = st
        .store
        .read(move |c| {
            let chans: Vec<(String, bool)> = crate::store::list_channels(c)?
                .into_iter()
                .filter(|c| c.active)
                .map(|c| (c.id, c.record))
                .collect();
            Ok((chans, guide::all_programmes(c, from_ms, to_ms)?))
        })
        .await
        .map_err(ApiError::internal)?;
    // archive coverage of the past part of the range, for recording channels with programmes
    let past_to = to_ms.min(now_ms);
    let wanted: Vec<String> = channels
        .iter()
        .filter(|(id, rec)| *rec && rows.iter().any(|p| &p.channel_id == id))
        .map(|(id, _)| id.clone())
        .collect();
    let a = st.archive.clone();
    let coverage: HashMap<String, Vec<(i64, i64)>> = tokio::task::spawn_blocking(move || {
        wanted
            .into_iter()
            .map(|id| {
                let iv = if past_to > from_ms {
                    a.intervals(&id, UtcMs(from_ms), UtcMs(past_to))
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(s, e)| (s.0, e.0))
                        .collect()
                } else {
                    Vec::new()
                };
                (id, iv)
            })
            .collect()
    })
    .await
    .map_err(ApiError::internal)?;
    let active: HashMap<&str, ()> = channels.iter().map(|(id, _)| (id.as_str(), ())).collect();
    let mut out: serde_json::Map<String, Value> = channels
        .iter()
        .map(|(id, _)| (id.clone(), Value::Array(Vec::new())))
        .collect();
    for p in rows
        .iter()
        .filter(|p| active.contains_key(p.channel_id.as_str()))
    {
        let catchup = p.start_utc_ms < now_ms
            && coverage.get(&p.channel_id).is_some_and(|iv| {
                iv.iter()
                    .any(|(a, b)| *a < p.stop_utc_ms && *b > p.start_utc_ms)
            });
        if let Some(Value::Array(v)) = out.get_mut(&p.channel_id) {
            v.push(json!({
                "start": p.start_utc_ms / 1000,
                "stop": p.stop_utc_ms / 1000,
                "title": p.title,
                "sub_title": p.sub_title,
                "category": p.category.lines().next().unwrap_or(""),
                "catchup": catchup,
            }));
        }
    }
    Ok(Json(
        json!({"from": from, "to": to, "now": now_ms / 1000, "channels": out}),
    ))
}

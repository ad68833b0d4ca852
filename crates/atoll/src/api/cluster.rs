//! `/api/cluster/…`: what an origin answers the other nodes of its cluster (edges), authenticated
//! with the cluster key ([`require_cluster_key`], in front of every such route). The wire types
//! are `ingest::origin::wire`, shared with the edge that reads them.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::channels::store_err;
use super::{ApiError, AppState};
use crate::ingest::origin::wire::{self, Lineup, LineupChannel, LiveSegments, SegmentMeta};
use crate::store;

/// In front of every cluster route: the request carries this cluster's key (compared in constant
/// time), or gets 401; a node without a cluster key refuses them all (403).
pub(super) async fn require_cluster_key(
    State(st): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(key) = st.cluster_key.as_deref() else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "no_cluster",
            None,
            "this node has no cluster key (set cluster_key)",
        )
        .into_response();
    };
    let sent = req
        .headers()
        .get(wire::KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if sent.is_empty() || !crate::auth::same(sent, key) {
        let ip = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        tracing::warn!(?ip, path = %req.uri().path(), "cluster request with a missing or wrong key");
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "cluster_key",
            None,
            format!("send the cluster key in {}", wire::KEY_HEADER),
        )
        .into_response();
    }
    next.run(req).await
}

/// `GET /api/cluster/ping`: this node is up (edges probe the origins they are not using).
pub(super) async fn ping(State(st): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"node": st.node_name, "role": st.role}))
}

/// `GET /api/cluster/lineup`: the active channels, as an edge serves them.
pub(super) async fn lineup(State(st): State<AppState>) -> Result<Json<Lineup>, ApiError> {
    let channels = st
        .store
        .read(store::list_channels)
        .await
        .map_err(store_err)?;
    let channels: Vec<LineupChannel> = channels
        .into_iter()
        .filter(|c| c.active)
        .map(|c| LineupChannel {
            id: c.id,
            name: c.name,
            number: c.number,
            group: c.group,
            logo: c.logo,
            record: c.record,
            retention_hours: c.retention_hours,
            epg_id: c.epg_id,
        })
        .collect();
    let text = serde_json::to_string(&channels).map_err(ApiError::internal)?;
    let revision = format!("{:016x}", fnv1a(text.as_bytes()));
    Ok(Json(Lineup { revision, channels }))
}

/// FNV-1a: a stable fingerprint of the lineup (not a security property).
fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[derive(Deserialize)]
pub(super) struct LiveQuery {
    after: Option<u64>,
    wait_ms: Option<u64>,
}

/// `GET /api/cluster/live/{id}?after=SEQ&wait_ms=N`: the live segments after `SEQ` (the whole
/// window without it), answered as soon as there is one, or empty after `wait_ms` (at most
/// [`wire::MAX_WAIT_MS`]).
pub(super) async fn live_segments(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LiveQuery>,
) -> Result<Json<LiveSegments>, ApiError> {
    let Some(h) = st.hub.get(&id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            None,
            "no such channel, or it is not active",
        ));
    };
    let wait = Duration::from_millis(q.wait_ms.unwrap_or(0).min(wire::MAX_WAIT_MS));
    let mut seen = h.live.subscribe_segments();
    let list = |snap: &crate::hub::live::LiveSnapshot| -> Vec<SegmentMeta> {
        snap.segments
            .iter()
            .filter(|s| q.after.is_none_or(|a| s.seq > a))
            .map(|s| SegmentMeta {
                seq: s.seq,
                start_90k: s.start_90k.0,
                duration_90k: s.duration_90k,
                start_utc_ms: s.start_utc.0,
                discontinuity: s.discontinuity,
                clock_step: s.clock_step,
                bytes: s.data.len() as u64,
            })
            .collect()
    };
    let mut segments = list(&h.live.snapshot());
    if segments.is_empty() && !wait.is_zero() {
        let _ = tokio::time::timeout(wait, async {
            while seen.changed().await.is_ok() {
                segments = list(&h.live.snapshot());
                if !segments.is_empty() {
                    break;
                }
            }
        })
        .await;
    }
    Ok(Json(LiveSegments { segments }))
}

/// `GET /api/cluster/live/{id}/{seq}.ts`: one live segment's bytes, as viewers get them.
pub(super) async fn live_segment(
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            None,
            "segment is not (or no longer) available",
        )
        .into_response()
    };
    let Some(seq) = crate::live_answer::parse_seq(&file) else {
        return not_found();
    };
    let Some(h) = st.hub.get(&id) else {
        return not_found();
    };
    let snap = h.live.snapshot();
    let Some((seg, _)) = snap.segment_and_file(seq) else {
        return not_found();
    };
    let mut r = seg.data.clone().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::live_answer::TS_TYPE),
    );
    r
}

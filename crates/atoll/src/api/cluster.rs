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
    let (channels, guide_revision) = st
        .store
        .read(|c| Ok((store::list_channels(c)?, crate::guide::revision(c)?)))
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
            audio_language: c.audio_language,
        })
        .collect();
    let text = serde_json::to_string(&channels).map_err(ApiError::internal)?;
    let revision = format!("{:016x}", fnv1a(text.as_bytes()));
    Ok(Json(Lineup {
        revision,
        channels,
        guide_revision,
    }))
}

/// `GET /api/cluster/config`: every channel as configured (a backup origin follows it).
pub(super) async fn config(
    State(st): State<AppState>,
) -> Result<Json<wire::OriginConfig>, ApiError> {
    let (channels, guide_revision, sources, nodes) = st
        .store
        .read(|c| {
            Ok((
                store::list_channels(c)?,
                crate::guide::revision(c)?,
                crate::guide::list_sources(c)?,
                store::list_cluster_nodes(c)?,
            ))
        })
        .await
        .map_err(store_err)?;
    let mut nodes: Vec<wire::ConfigNode> = nodes
        .into_iter()
        .map(|(name, c)| wire::ConfigNode {
            name,
            max_viewers: c.max_viewers,
            max_mbps: c.max_mbps,
            subnets: c.subnets,
        })
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let guide_sources: Vec<wire::ConfigGuideSource> = sources
        .into_iter()
        .map(|s| wire::ConfigGuideSource {
            id: s.id,
            name: s.name,
            url: s.url,
            refresh_minutes: s.refresh_minutes,
            enabled: s.enabled,
        })
        .collect();
    let channels: Vec<wire::ConfigChannel> = channels
        .into_iter()
        .map(|c| wire::ConfigChannel {
            id: c.id,
            name: c.name,
            number: c.number,
            group: c.group,
            logo: c.logo,
            sources: c.sources,
            publish_key: c.publish_key,
            active: c.active,
            record: c.record,
            retention_hours: c.retention_hours,
            epg_id: c.epg_id,
            audio_language: c.audio_language,
        })
        .collect();
    let text =
        serde_json::to_string(&(&channels, &guide_sources, &nodes)).map_err(ApiError::internal)?;
    Ok(Json(wire::OriginConfig {
        revision: format!("{:016x}", fnv1a(text.as_bytes())),
        channels,
        guide_revision,
        guide_sources: Some(guide_sources),
        nodes: Some(nodes),
    }))
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
                bytes: s.body.len(),
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
    let Some(seg) = h.live.snapshot().segment(seq).cloned() else {
        return not_found();
    };
    let data = match seg.bytes() {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!("live segment file unreadable: {e}");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "io",
                None,
                "segment unreadable",
            )
            .into_response();
        }
    };
    let mut r = data.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::live_answer::TS_TYPE),
    );
    r
}

#[derive(Deserialize)]
pub(super) struct RangeQuery {
    from_ms: i64,
    to_ms: i64,
}

/// `GET /api/cluster/archive/{id}?from_ms=&to_ms=`: archived segments starting in the range.
pub(super) async fn archive_list(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<wire::ArchiveList>, ApiError> {
    if !super::channels::valid_id(&id) {
        return Err(ApiError::invalid("id", "not a channel id"));
    }
    if q.to_ms <= q.from_ms {
        return Err(ApiError::invalid("to_ms", "must be after from_ms"));
    }
    let archive = st.archive.clone();
    let rows = tokio::task::spawn_blocking(move || {
        archive.segments_limit(
            &id,
            media::UtcMs(q.from_ms),
            media::UtcMs(q.to_ms),
            wire::MAX_ARCHIVE_LIST,
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Json(wire::ArchiveList {
        segments: rows
            .into_iter()
            .filter(|r| r.start_utc_ms >= q.from_ms)
            .map(|r| wire::ArchivedSegment {
                start_utc_ms: r.start_utc_ms,
                duration_90k: r.duration_90k,
                discontinuity: r.discontinuity,
                bytes: r.bytes.max(0) as u64,
            })
            .collect(),
    }))
}

/// `GET /api/cluster/archive/{id}/{start_utc_ms}.ts`: one archived segment's bytes.
pub(super) async fn archive_segment(
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            None,
            "no such archived segment",
        )
        .into_response()
    };
    let Some(start) = file
        .strip_suffix(".ts")
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| *s >= 0)
    else {
        return not_found();
    };
    if !super::channels::valid_id(&id) {
        return not_found();
    }
    let archive = st.archive.clone();
    let read = tokio::task::spawn_blocking(move || -> Option<Vec<u8>> {
        let row = archive
            .segments(&id, media::UtcMs(start), media::UtcMs(start + 1))
            .ok()?
            .into_iter()
            .find(|r| r.start_utc_ms == start)?;
        let (mut f, _pin) = archive.open_segment(&row).ok()??;
        let mut out = Vec::with_capacity(row.bytes.max(0) as usize);
        std::io::Read::read_to_end(&mut f, &mut out).ok()?;
        Some(out)
    })
    .await;
    match read {
        Ok(Some(data)) => {
            let mut r = bytes::Bytes::from(data).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::live_answer::TS_TYPE),
            );
            r
        }
        _ => not_found(),
    }
}

/// `POST /api/cluster/report`: a node's figures (every 2 s); answered with this origin's clock.
pub(super) async fn report(
    State(st): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<wire::ReportAck>, ApiError> {
    if body.len() > wire::MAX_REPORT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            None,
            "report too large",
        ));
    }
    let r: wire::Report = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_json", None, e.to_string()))?;
    if crate::config::valid_node_name(&r.node).is_err() {
        return Err(ApiError::invalid(
            "node",
            "must be 1..64 of A-Z, a-z, 0-9, '-', '_', '.'",
        ));
    }
    if r.role != "edge" && r.role != "origin" {
        return Err(ApiError::invalid("role", "must be edge or origin"));
    }
    if let Some(u) = &r.public_url {
        if !u.starts_with("http://") && !u.starts_with("https://") || u.len() > 200 {
            return Err(ApiError::invalid("public_url", "must be an http(s):// URL"));
        }
    }
    let now_utc = st.clock.now_utc().0;
    st.nodes
        .report(r, st.clock.now_mono_ms(), now_utc)
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_nodes",
                None,
                format!(
                    "{} healthy nodes known already",
                    crate::cluster::nodes::MAX_NODES
                ),
            )
        })?;
    Ok(Json(wire::ReportAck {
        origin_utc_ms: now_utc,
    }))
}

/// `GET /api/cluster/nodes`: every node known, with its last report, health and capacity.
pub(super) async fn nodes(State(st): State<AppState>, _: super::Authed) -> Json<serde_json::Value> {
    let now = st.clock.now_mono_ms();
    let list: Vec<serde_json::Value> = st
        .nodes
        .list()
        .into_iter()
        .map(|(name, node, cap)| {
            let r = node.as_ref().map(|n| &n.report);
            serde_json::json!({
                "name": name,
                "role": r.map(|r| r.role.clone()),
                "public_url": r.and_then(|r| r.public_url.clone()),
                "healthy": node.as_ref().is_some_and(|n| n.healthy(now)),
                "last_report": node.as_ref().map(|n| media::UtcMs(n.received_utc_ms).to_rfc3339()),
                "viewers": r.map(|r| r.viewers),
                "egress_mbps": r.map(|r| r.egress_mbps),
                "cpu": r.map(|r| r.cpu_percent),
                "disk_free": r.map(|r| r.disk_free_bytes),
                "clock_offset_ms": node.as_ref().map(|n| n.clock_offset_ms),
                "channels": r.map(|r| serde_json::json!({"pulled": r.channels_pulled, "recorded": r.channels_recorded})),
                "archive_lag_s": r.and_then(|r| r.archive_lag_s),
                "origin_in_use": r.and_then(|r| r.origin_in_use.clone()),
                "max_viewers": cap.max_viewers,
                "max_mbps": cap.max_mbps,
                "subnets": cap.subnets,
            })
        })
        .collect();
    Json(serde_json::Value::Array(list))
}

/// `GET /api/cluster/events`: what happened to the nodes (joined, unhealthy, healthy again,
/// an edge's origin switch), newest first.
pub(super) async fn events(
    State(st): State<AppState>,
    _: super::Authed,
) -> Json<serde_json::Value> {
    let list: Vec<serde_json::Value> = st
        .nodes
        .events(st.clock.now_mono_ms())
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "at": media::UtcMs(e.at_utc_ms).to_rfc3339(),
                "node": e.node,
                "kind": e.kind,
                "detail": e.detail,
            })
        })
        .collect();
    Json(serde_json::Value::Array(list))
}

/// `PUT /api/cluster/nodes/{name}` `{"max_viewers", "max_mbps", "subnets"}`: a node's capacity
/// and the client subnets it serves first (fields not sent are kept).
pub(super) async fn set_node(
    State(st): State<AppState>,
    who: super::Authed,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    crate::config::valid_node_name(&name)
        .map_err(|_| ApiError::invalid("name", "must be 1..64 of A-Z, a-z, 0-9, '-', '_', '.'"))?;
    let body = super::json_object(&body)?;
    if let Some(k) = body
        .keys()
        .find(|k| !["max_viewers", "max_mbps", "subnets"].contains(&k.as_str()))
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            None,
            format!("unknown field '{k}' (known: max_viewers, max_mbps, subnets)"),
        ));
    }
    let mut cap = st
        .nodes
        .list()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, c)| c)
        .unwrap_or_default();
    if let Some(v) = body.get("max_viewers") {
        cap.max_viewers = match v {
            serde_json::Value::Null => None,
            v => Some(v.as_u64().filter(|n| *n <= 10_000_000).ok_or_else(|| {
                ApiError::invalid("max_viewers", "must be a whole number 0..10000000, or null")
            })?),
        };
    }
    if let Some(v) = body.get("max_mbps") {
        cap.max_mbps = match v {
            serde_json::Value::Null => None,
            v => Some(
                v.as_f64()
                    .filter(|n| (0.0..=1_000_000.0).contains(n))
                    .ok_or_else(|| ApiError::invalid("max_mbps", "must be 0..1000000, or null"))?,
            ),
        };
    }
    if let Some(v) = body.get("subnets") {
        let list = v.as_array().filter(|a| a.len() <= 256).ok_or_else(|| {
            ApiError::invalid("subnets", "must be a list of at most 256 CIDR subnets")
        })?;
        let mut subnets = Vec::new();
        for s in list {
            let s = s
                .as_str()
                .ok_or_else(|| ApiError::invalid("subnets", "must be strings"))?;
            crate::viewer::Subnet::parse(s).map_err(|e| ApiError::invalid("subnets", e))?;
            subnets.push(s.trim().to_string());
        }
        cap.subnets = subnets;
    }
    let (n, c) = (name.clone(), cap.clone());
    let now = st.clock.now_utc().0;
    st.store
        .call(move |conn| crate::store::put_cluster_node(conn, &n, &c, now))
        .await
        .map_err(ApiError::internal)?;
    st.nodes.set_capacity(&name, cap.clone());
    who.audit(
        &st,
        "cluster_node.update",
        &name,
        serde_json::json!({"max_viewers": cap.max_viewers, "max_mbps": cap.max_mbps, "subnets": cap.subnets}),
    )
    .await;
    Ok(Json(serde_json::json!({
        "name": name,
        "max_viewers": cap.max_viewers,
        "max_mbps": cap.max_mbps,
        "subnets": cap.subnets,
    })))
}

/// Whether a viewer URL is where watching starts (a live or catch-up playlist, an MPEG-TS
/// stream, a download, the app playlist), as opposed to a segment named by a playlist.
fn entry(path: &str) -> bool {
    if path == "/playlist.m3u" {
        return true;
    }
    let Some(file) = path
        .strip_prefix("/live/")
        .and_then(|r| r.split_once('/'))
        .map(|(_, f)| f)
    else {
        return false;
    };
    !file.is_empty()
        && !file.contains('/')
        && crate::live_answer::parse_seq(file).is_none()
        && !file.starts_with("rec-")
}

/// Sends viewers to an edge (origins with `[cluster] redirect = "on"`): a `302` to the chosen
/// edge's same URL with `abs=1`, which makes the edge write absolute URLs in the playlist, so
/// players that resolve relative URLs against the first URL still fetch from the edge. Without an
/// edge that can take the viewer, this node serves it.
pub(super) async fn redirect_viewers(
    State(st): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let abs = query.split('&').any(|kv| kv == "abs=1");
    if st.redirect && req.method() == axum::http::Method::GET && entry(&path) && !abs {
        let ip = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        if let Some(base) = st.nodes.send_viewer(ip, st.clock.now_mono_ms()) {
            let sep = if query.is_empty() { "" } else { "&" };
            let loc = format!("{}{path}?{query}{sep}abs=1", base.trim_end_matches('/'));
            if let Ok(v) = HeaderValue::from_str(&loc) {
                let mut r = StatusCode::FOUND.into_response();
                r.headers_mut().insert(header::LOCATION, v);
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                r.headers_mut().insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
                return r;
            }
        }
    }
    if !abs {
        return next.run(req).await;
    }
    let base = super::epg::base_url(&st, req.headers());
    let dir = path
        .rsplit_once('/')
        .map(|(d, _)| d)
        .unwrap_or("")
        .to_string();
    let resp = next.run(req).await;
    super::rewrite_playlist(resp, |text| absolute_uris(text, &base, &dir)).await
}

/// Every URI line of a playlist made absolute: `base` + `dir/` for relative ones, `base` for
/// ones that start with `/`; absolute ones are kept.
pub fn absolute_uris(text: &str, base: &str, dir: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64 * text.lines().count());
    for l in text.lines() {
        if l.is_empty() || l.starts_with('#') || l.contains("://") {
            out.push_str(l);
        } else if l.starts_with('/') {
            out.push_str(base);
            out.push_str(l);
        } else {
            out.push_str(base);
            out.push_str(dir);
            out.push('/');
            out.push_str(l);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_where_watching_starts() {
        for p in [
            "/live/news/index.m3u8",
            "/live/news/mpegts",
            "/live/news/index-1700000000-3600.m3u8",
            "/live/news/timeshift_abs-1700000000.m3u8",
            "/live/news/archive-1700000000-60.ts",
            "/playlist.m3u",
        ] {
            assert!(entry(p), "{p}");
        }
        for p in [
            "/live/news/1700000001.ts",
            "/live/news/rec-1700000000000.ts",
            "/api/channels",
            "/live/news",
            "/epg.xml",
        ] {
            assert!(!entry(p), "{p}");
        }
    }

    #[test]
    fn playlist_uris_become_absolute() {
        let t = "#EXTM3U\n#EXTINF:6.000,\n17.ts\n#EXTINF:6.000,\n/live/a/rec-1.ts\nhttp://x/y.ts\n";
        assert_eq!(
            absolute_uris(t, "http://edge:8080", "/live/a"),
            "#EXTM3U\n#EXTINF:6.000,\nhttp://edge:8080/live/a/17.ts\n#EXTINF:6.000,\nhttp://edge:8080/live/a/rec-1.ts\nhttp://x/y.ts\n"
        );
    }
}

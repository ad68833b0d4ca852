//! `/live/{id}/…`: the live HLS playlist and segments, and the endless MPEG-TS stream.
//! Every response body is a clone of shared `Bytes`: no copy, no disk read per viewer.
//!
//! What a live playlist or segment answer looks like is `crate::live_answer`'s alone: this module
//! and `crate::fastpath` (which answers the hot requests in front of hyper, segments by
//! `sendfile`) both write what `live_answer::answer` says.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::hub::tsfeed::TsEnd;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::AppState;
use crate::hub::live::LiveOutput;
use crate::live_answer::{self, LiveAnswer, LiveFile, Viewer, TS_TYPE};

fn plain(status: StatusCode, msg: &'static str) -> Response {
    let mut r = (status, msg).into_response();
    cors(&mut r);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn cors(r: &mut Response) {
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

pub async fn live_file(
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    serve(&st, id, &file, peer, &query, &headers).await
}

/// A live or catch-up file of channel `id` (also what the XC stream URLs map onto).
pub(super) async fn serve(
    st: &AppState,
    id: String,
    file: &str,
    peer: SocketAddr,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    // catch-up forms read the archive only, so they work for stopped channels too; each may
    // name an audio or subtitle rendition (`a1-index-{from}-{duration}.m3u8`, `s0-rec-{ms}.vtt`)
    let split = hls::renditions::Rendition::split(file);
    let (rendition, name) = match &split {
        Some((r, name)) if super::archive::parse_catchup(name).is_some() => {
            (Some(*r), name.as_str())
        }
        _ => (None, file),
    };
    let catchup = super::archive::parse_catchup(name).or_else(|| shift_mode(file, query));
    if let Some(req) = catchup {
        return match req {
            Ok(req) if super::channels::valid_id(&id) => {
                super::archive::serve(st, id, req, rendition).await
            }
            Ok(_) => plain(StatusCode::NOT_FOUND, "no such channel\n"),
            Err(msg) => {
                let mut r = plain(StatusCode::BAD_REQUEST, "bad catch-up URL\n");
                *r.body_mut() = Body::from(format!("bad catch-up URL: {msg}\n"));
                r
            }
        };
    }
    let ua = headers
        .get(header::USER_AGENT)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let viewer = Viewer {
        ip: peer.ip(),
        ua_hash: crate::hub::live::ua_hash(ua),
    };
    respond(live_answer::answer(
        &st.hub,
        &id,
        LiveFile::parse(file),
        viewer,
    ))
}

/// Writes a [`LiveAnswer`] as an axum response (the fast path writes the same one itself).
fn respond(a: LiveAnswer) -> Response {
    let body = match (a.bytes(), a.body) {
        (Some(Ok(b)), _) => Body::from(b),
        (Some(Err(e)), _) => {
            tracing::warn!("live segment file unreadable: {e}");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "segment unreadable\n");
        }
        (None, live_answer::Body::Stream(live)) => return ts_stream(live),
        (None, _) => Body::empty(),
    };
    let mut r = Response::new(body);
    *r.status_mut() = a.status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(a.cache_control),
    );
    for (k, v) in live_answer::EXTRA_HEADERS {
        h.insert(k, HeaderValue::from_static(v));
    }
    r
}

/// The "shift"/"timeshift"/"append" catch-up modes of IPTV apps: the live URL with
/// `?utc={start}[&lutc={now}]` plays from `start` (`index.m3u8` as a start-over playlist,
/// `mpegts` as an endless TS from that time).
fn shift_mode(
    file: &str,
    query: &HashMap<String, String>,
) -> Option<Result<super::archive::CatchupRequest, String>> {
    use super::archive::CatchupRequest;
    let utc = query.get("utc")?;
    let from_s = match utc.parse::<i64>() {
        Ok(v) if v > 0 && v < 4_102_444_800 => v,
        _ => return Some(Err(format!("utc '{utc}' is not a time in unix seconds"))),
    };
    match file {
        "index.m3u8" => Some(Ok(CatchupRequest::From { from_s })),
        "mpegts" => Some(Ok(CatchupRequest::TsFrom { from_s })),
        _ => None,
    }
}

/// Counts a TS viewer for as long as its response body lives.
struct ViewerGuard(Arc<LiveOutput>);

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        self.0.ts_viewers.fetch_sub(1, Ordering::Relaxed);
    }
}

fn ts_stream(live: Arc<LiveOutput>) -> Response {
    let Some(sub) = live.subscribe_ts() else {
        return plain(StatusCode::NOT_FOUND, "channel stopped\n");
    };
    live.ts_viewers.fetch_add(1, Ordering::Relaxed);
    let guard = ViewerGuard(live);
    let stream = futures_util::stream::unfold((sub, guard), |(mut reader, guard)| async move {
        match guard.0.ts.next(&mut reader).await {
            Ok(data) => Some((Ok::<Bytes, std::io::Error>(data), (reader, guard))),
            Err(TsEnd::Lagged(n)) => {
                guard.0.slow_viewers_dropped.fetch_add(1, Ordering::Relaxed);
                tracing::info!("dropping slow MPEG-TS viewer ({n} chunks behind)");
                None
            }
            Err(TsEnd::Closed) => None,
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(TS_TYPE));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(live_answer::STREAM_CACHE),
    );
    cors(&mut r);
    live_answer::streamed(&mut r);
    r
}

//! `/live/{id}/…`: the live HLS playlist and segments, and the endless MPEG-TS stream.
//! Every response body is a clone of shared `Bytes`: no copy, no disk read per viewer.
//!
//! The hot requests (`GET …/index.m3u8` and `GET …/{seq}.ts` of a running channel) normally
//! never reach this module: `crate::fastpath` answers them in front of hyper, with the same
//! status, body and headers as `live_file` below (and segments by `sendfile`). Keep the two
//! in step when changing what these responses look like.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use crate::hub::live::LiveOutput;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const TS_TYPE: &str = "video/mp2t";

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

fn ok(body: Bytes, content_type: &'static str, cache: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    cors(&mut r);
    r
}

pub async fn live_file(
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    // catch-up forms read the archive only, so they work for stopped channels too
    let catchup = super::archive::parse_catchup(&file).or_else(|| shift_mode(&file, &query));
    if let Some(req) = catchup {
        return match req {
            Ok(req) if super::channels::valid_id(&id) => super::archive::serve(&st, id, req).await,
            Ok(_) => plain(StatusCode::NOT_FOUND, "no such channel\n"),
            Err(msg) => {
                let mut r = plain(StatusCode::BAD_REQUEST, "bad catch-up URL\n");
                *r.body_mut() = Body::from(format!("bad catch-up URL: {msg}\n"));
                r
            }
        };
    }
    let Some(ch) = st.hub.get(&id) else {
        return plain(
            StatusCode::NOT_FOUND,
            "no such channel, or it is not active\n",
        );
    };
    let live = ch.live.clone();
    if file == "index.m3u8" {
        let snap = live.snapshot();
        if snap.playlist.is_empty() {
            return plain(
                StatusCode::NOT_FOUND,
                "channel is starting; no segment yet\n",
            );
        }
        return ok(snap.playlist.clone(), PLAYLIST_TYPE, "max-age=1");
    }
    if file == "mpegts" {
        return ts_stream(live);
    }
    if let Some(seq) = file.strip_suffix(".ts").and_then(|s| s.parse::<u64>().ok()) {
        let snap = live.snapshot();
        return match snap.segment(seq) {
            Some(seg) => {
                let ua = headers
                    .get(header::USER_AGENT)
                    .map(|v| v.as_bytes())
                    .unwrap_or_default();
                live.hls_sessions.touch(
                    peer.ip(),
                    crate::hub::live::ua_hash(ua),
                    st.hub.settings.clock.now_mono_ms(),
                );
                ok(
                    seg.data.clone(),
                    TS_TYPE,
                    "public, max-age=86400, immutable",
                )
            }
            None => plain(
                StatusCode::NOT_FOUND,
                "segment is not (or no longer) available\n",
            ),
        };
    }
    plain(StatusCode::NOT_FOUND, "unknown live resource\n")
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
    let backlog = sub.backlog.into_iter();
    let stream = futures_util::stream::unfold(
        (backlog, sub.rx, guard, false),
        |(mut backlog, mut rx, guard, mut started)| async move {
            if let Some(b) = backlog.next() {
                started = true;
                return Some((
                    Ok::<Bytes, std::io::Error>(b),
                    (backlog, rx, guard, started),
                ));
            }
            loop {
                match rx.recv().await {
                    Ok(chunk) => {
                        // a viewer who joined before the first segment starts at the next one
                        if !started && !chunk.segment_start {
                            continue;
                        }
                        started = true;
                        return Some((Ok(chunk.data), (backlog, rx, guard, started)));
                    }
                    Err(RecvError::Lagged(n)) => {
                        guard.0.slow_viewers_dropped.fetch_add(1, Ordering::Relaxed);
                        tracing::info!("dropping slow MPEG-TS viewer ({n} chunks behind)");
                        return None;
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(TS_TYPE));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
    cors(&mut r);
    r
}

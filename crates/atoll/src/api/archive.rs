//! Catch-up playback from the archive store (Flussonic URL forms).
//! Reads only the archive store: never the live channel registry or the segment writer (the files and the index are
//! the contract between recording and playback).

use std::sync::Arc;

use archive::{Archive, SegmentRow, ADJACENT_MS};
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hls::renditions::{Rendition, Tracks};
use hls::{PlaylistKind, PlaylistSegment};
use media::UtcMs;

use super::AppState;

/// Longest range one playlist or download may cover.
const MAX_RANGE_S: i64 = 7 * 24 * 3600;
/// Segments the endless catch-up TS reads from the index at a time.
const ENDLESS_BATCH: usize = 8;

/// The newest seconds of a range are left to the live relay (an edge fetches only older ones).
const FILL_SETTLE_MS: i64 = 15_000;
/// How long a viewer's first request waits for the start of a range fetched from the origin.
const FILL_FIRST_WAIT: std::time::Duration = std::time::Duration::from_secs(4);

/// The segments of `[from, to)` of `channel`, at most a playlist's worth.
async fn rows_in(
    archive: &Arc<Archive>,
    channel: &str,
    from_ms: i64,
    to_ms: i64,
    st: &AppState,
) -> Result<Vec<SegmentRow>, Response> {
    let (a, ch, limit) = (
        archive.clone(),
        channel.to_string(),
        st.catchup_max_playlist_segments,
    );
    blocking(move || a.segments_limit(&ch, UtcMs(from_ms), UtcMs(to_ms), limit)).await
}

/// Whether the archive covers `[from, to)` of `channel` without a hole: from a segment that
/// starts at or before `from` to `to` (1 s slack at the end).
async fn covered(archive: &Arc<Archive>, channel: &str, from: i64, to: i64) -> bool {
    let (a, ch) = (archive.clone(), channel.to_string());
    match blocking(move || a.intervals(&ch, UtcMs(from), UtcMs(to))).await {
        Ok(iv) => iv.len() == 1 && iv[0].0 .0 <= from && iv[0].1 .0 >= to - ADJACENT_MS,
        Err(_) => false,
    }
}

/// A catch-up request parsed from a file name under `/live/{id}/`.
#[derive(Debug, PartialEq, Eq)]
pub enum CatchupRequest {
    /// The range as a VOD playlist.
    Range { from_s: i64, duration_s: i64 },
    /// An EVENT playlist from `from` growing to the live edge (start-over).
    From { from_s: i64 },
    /// The same, `seconds` back from now.
    Back { seconds: i64 },
    /// The range as one MPEG-TS download.
    TsDownload { from_s: i64, duration_s: i64 },
    /// An endless MPEG-TS stream from `from`, continuing as the archive grows (one segment behind live).
    TsFrom { from_s: i64 },
    /// `rec-{start_utc_ms}.ts`: one archived segment.
    Segment { start_utc_ms: i64 },
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn from_secs(s: &str) -> Result<i64, String> {
    num(s).ok_or_else(|| format!("'{s}' is not a time in unix seconds"))
}

/// `{from}-{duration}` or `{from}-now`.
fn range(s: &str, ts: bool) -> Result<CatchupRequest, String> {
    let (a, b) = s.split_once('-').ok_or("expected {from}-{duration}")?;
    let from_s = from_secs(a)?;
    if b == "now" {
        return Ok(if ts {
            CatchupRequest::TsFrom { from_s }
        } else {
            CatchupRequest::From { from_s }
        });
    }
    let duration_s = num(b).ok_or("duration must be whole seconds")?;
    if duration_s == 0 || duration_s > MAX_RANGE_S {
        return Err(format!("duration must be 1..{MAX_RANGE_S} seconds"));
    }
    Ok(if ts {
        CatchupRequest::TsDownload { from_s, duration_s }
    } else {
        CatchupRequest::Range { from_s, duration_s }
    })
}

/// Parses a file name; None when it is not a catch-up form, Err(message) when it is one but
/// malformed. The forms (Flussonic's, as IPTV apps build them):
/// - `index-{from}-{duration}.m3u8`, `archive-{from}-{duration}.m3u8` — a range (VOD);
/// - `index-{from}-now.m3u8`, `archive-{from}-now.m3u8`, `timeshift_abs-{from}.m3u8`,
///   `video-timeshift_abs-{from}.m3u8` — from a time to the live edge (EVENT);
/// - `timeshift_rel-{seconds}.m3u8` — `seconds` back from now (EVENT);
/// - `archive-{from}-{duration}.ts` — a range as one TS file;
/// - `timeshift_abs-{from}.ts`, `archive-{from}-now.ts` — an endless TS from a time on.
pub fn parse_catchup(file: &str) -> Option<Result<CatchupRequest, String>> {
    let (stem, ts) = if let Some(stem) = file.strip_suffix(".m3u8") {
        (stem, false)
    } else if let Some(stem) = file.strip_suffix(".ts") {
        (stem, true)
    } else {
        return None;
    };
    if let Some(rest) = stem.strip_prefix("rec-") {
        return ts.then(|| {
            num(rest)
                .map(|start_utc_ms| CatchupRequest::Segment { start_utc_ms })
                .ok_or_else(|| "bad segment name".into())
        });
    }
    if let Some(rest) = stem.strip_prefix("index-").filter(|_| !ts) {
        return Some(range(rest, false));
    }
    if let Some(rest) = stem.strip_prefix("archive-") {
        return Some(range(rest, ts));
    }
    if let Some(rest) = stem
        .strip_prefix("timeshift_abs-")
        .or_else(|| stem.strip_prefix("video-timeshift_abs-"))
    {
        return Some(from_secs(rest).map(|from_s| {
            if ts {
                CatchupRequest::TsFrom { from_s }
            } else {
                CatchupRequest::From { from_s }
            }
        }));
    }
    if let Some(rest) = stem.strip_prefix("timeshift_rel-").filter(|_| !ts) {
        return Some(
            num(rest)
                .filter(|s| *s <= MAX_RANGE_S)
                .map(|seconds| CatchupRequest::Back { seconds })
                .ok_or_else(|| "offset must be whole seconds".into()),
        );
    }
    None
}

/// A catch-up response: body, type, caching, CORS.
fn respond(body: Body, content_type: &'static str, cache: &'static str) -> Response {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

fn plain(status: StatusCode, msg: String) -> Response {
    let mut r = (status, msg).into_response();
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, archive::ArchiveError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!("archive: {e}");
            Err(plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "archive error; see the server log\n".into(),
            ))
        }
        Err(e) => Err(plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("archive task failed: {e}\n"),
        )),
    }
}

/// A cached playlist's key: (channel, from ms, to ms).
type PlaylistKey = (String, i64, i64);

/// Recently rendered catch-up playlists, kept for one second (bounded).
#[derive(Default)]
pub struct PlaylistCache {
    entries: std::sync::Mutex<std::collections::HashMap<PlaylistKey, (std::time::Instant, Bytes)>>,
}

impl PlaylistCache {
    const TTL: std::time::Duration = std::time::Duration::from_secs(1);
    const MAX: usize = 256;

    fn get(&self, key: &(String, i64, i64)) -> Option<Bytes> {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(at, _)| at.elapsed() < Self::TTL)
            .map(|(_, b)| b.clone())
    }

    fn put(&self, key: (String, i64, i64), text: Bytes) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= Self::MAX {
            map.retain(|_, (at, _)| at.elapsed() < Self::TTL);
            if map.len() >= Self::MAX {
                map.clear();
            }
        }
        map.insert(key, (std::time::Instant::now(), text));
    }
}

/// Renders archived rows as a playlist; gaps and source discontinuities become EXT-X-DISCONTINUITY.
pub fn render(rows: &[SegmentRow], kind: PlaylistKind, start_offset_s: Option<f64>) -> String {
    let items: Vec<PlaylistSegment> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| PlaylistSegment {
            uri: format!("rec-{}.ts", r.start_utc_ms),
            duration_90k: r.duration_90k,
            start_utc: UtcMs(r.start_utc_ms),
            discontinuity: i > 0
                && (r.discontinuity || r.start_utc_ms - rows[i - 1].end_utc_ms > ADJACENT_MS),
        })
        .collect();
    let target = hls::playlist::target_duration_s(&items, 1);
    hls::render_media_playlist(kind, target, 0, 0, &items, start_offset_s)
}

impl CatchupRequest {
    /// The playlist's own name in its one canonical form: what a master playlist prefixes for
    /// its renditions (so `index.m3u8?utc=…` and every app dialect lead to names this module
    /// parses back).
    fn playlist_name(&self) -> Option<String> {
        match self {
            CatchupRequest::Range { from_s, duration_s } => {
                Some(format!("index-{from_s}-{duration_s}.m3u8"))
            }
            CatchupRequest::From { from_s } => Some(format!("timeshift_abs-{from_s}.m3u8")),
            _ => None,
        }
    }
}

/// A catch-up request for the whole channel (`rendition` None) or for one audio/subtitle
/// rendition of it (`a1-index-….m3u8`, `a1-rec-….ts`, `s0-rec-….vtt`; see `hls::renditions`).
pub async fn serve(
    st: &AppState,
    channel: String,
    req: CatchupRequest,
    rendition: Option<Rendition>,
) -> Response {
    let now_ms = st.clock.now_utc().0;
    let archive = st.archive.clone();
    let stem = req.playlist_name();
    if rendition.is_some()
        && !matches!(
            req,
            CatchupRequest::Segment { .. }
                | CatchupRequest::Range { .. }
                | CatchupRequest::From { .. }
        )
    {
        return plain(
            StatusCode::NOT_FOUND,
            "audio and subtitle renditions are HLS playlists and segments only\n".into(),
        );
    }
    let (from_ms, to_ms, kind) = match req {
        CatchupRequest::Segment { start_utc_ms } => {
            return segment(archive, channel, start_utc_ms, rendition).await
        }
        CatchupRequest::TsFrom { from_s } => {
            if from_s * 1000 > now_ms {
                return plain(StatusCode::NOT_FOUND, "that time is in the future\n".into());
            }
            return endless(archive, channel, from_s * 1000).await;
        }
        CatchupRequest::TsDownload { from_s, duration_s } => {
            return download(
                archive,
                channel,
                from_s * 1000,
                (from_s + duration_s) * 1000,
            )
            .await
        }
        CatchupRequest::Range { from_s, duration_s } => (
            from_s * 1000,
            (from_s + duration_s) * 1000,
            PlaylistKind::Vod,
        ),
        // start-over: to the live edge, but never more than a range may span
        CatchupRequest::From { from_s } => (
            from_s * 1000,
            (now_ms + 60_000).min((from_s + MAX_RANGE_S) * 1000),
            PlaylistKind::Event,
        ),
        CatchupRequest::Back { seconds } => {
            // resolve "N seconds back" once: the player then reloads a playlist with a fixed start
            let from_s = (now_ms - seconds * 1000).div_euclid(1000);
            let mut r = plain(StatusCode::FOUND, String::new());
            if let Ok(v) = HeaderValue::from_str(&format!("timeshift_abs-{from_s}.m3u8")) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return r;
        }
    };
    if from_ms > now_ms {
        return plain(StatusCode::NOT_FOUND, "that time is in the future\n".into());
    }
    // an edge that lacks part of the range fetches it from its origin into its archive, in time
    // order; the viewer gets what has arrived as a growing playlist until the range is whole
    let mut partial = false;
    if st.fills.active() {
        let fill_to = to_ms.min(now_ms - FILL_SETTLE_MS);
        let done = |st: &AppState| st.fills.done(&channel, from_ms, to_ms);
        if fill_to > from_ms && !done(st) && !covered(&archive, &channel, from_ms, fill_to).await {
            st.fills.ensure(&channel, from_ms, fill_to, to_ms);
            let start = std::time::Instant::now();
            while start.elapsed() < FILL_FIRST_WAIT
                && !done(st)
                && !covered(&archive, &channel, from_ms, from_ms + 1).await
            {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            if !done(st) {
                if !covered(&archive, &channel, from_ms, from_ms + 1).await {
                    let mut r = plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "fetching that time from the origin; try again in a moment\n".into(),
                    );
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
                    return r;
                }
                partial = !covered(&archive, &channel, from_ms, fill_to).await;
            }
        }
    }
    if partial {
        let rows = match rows_in(&archive, &channel, from_ms, to_ms, st).await {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        // what has arrived without a hole from the start, as an EVENT playlist that grows
        let mut prefix: Vec<SegmentRow> = Vec::new();
        for r in rows {
            if prefix
                .last()
                .is_some_and(|p| r.start_utc_ms - p.end_utc_ms > ADJACENT_MS)
            {
                break;
            }
            prefix.push(r);
        }
        let offset = prefix
            .first()
            .map_or(0.0, |r| (from_ms - r.start_utc_ms).max(0) as f64 / 1000.0);
        let text = render(&prefix, PlaylistKind::Event, Some(offset));
        let first = prefix.first().cloned();
        let text =
            match with_renditions(st, &archive, first, text, rendition, stem.as_deref()).await {
                Ok(t) => t,
                Err(resp) => return resp,
            };
        return respond(
            Body::from(text),
            "application/vnd.apple.mpegurl",
            "no-cache",
        );
    }
    if kind == PlaylistKind::Event {
        // start-over from a time before anything kept (past the archive window) is refused, not
        // silently started at the archive's first segment
        let (a, ch) = (archive.clone(), channel.clone());
        match blocking(move || a.segment_at_or_before(&ch, UtcMs(from_ms + 60_000))).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return plain(
                    StatusCode::NOT_FOUND,
                    "that time is not in the archive\n".into(),
                )
            }
            Err(resp) => return resp,
        }
    }
    // a start-over playlist reloaded by many viewers every few seconds is rendered once per second
    let key = (
        match rendition {
            Some(r) => format!("{channel}/{}", r.prefix()),
            None => channel.clone(),
        },
        from_ms,
        if kind == PlaylistKind::Event {
            i64::MIN
        } else {
            to_ms
        },
    );
    let text = if let Some(text) = st.playlists.get(&key) {
        text
    } else {
        let rows = match rows_in(&archive, &channel, from_ms, to_ms, st).await {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        if rows.is_empty() {
            return plain(
                StatusCode::NOT_FOUND,
                "nothing recorded in that range\n".into(),
            );
        }
        // the first segment starts at the keyframe at or before `from`; point players at the exact second
        let offset = (from_ms - rows[0].start_utc_ms).max(0) as f64 / 1000.0;
        let text = render(&rows, kind, (offset > 0.0).then_some(offset));
        let first = rows.into_iter().next();
        let text =
            match with_renditions(st, &archive, first, text, rendition, stem.as_deref()).await {
                Ok(t) => Bytes::from(t),
                Err(resp) => return resp,
            };
        st.playlists.put(key, text.clone());
        text
    };
    let cache = if kind == PlaylistKind::Vod && to_ms < now_ms - 60_000 {
        "max-age=60"
    } else {
        "max-age=1"
    };
    respond(Body::from(text), "application/vnd.apple.mpegurl", cache)
}

/// Bytes read from the start of a segment to find its PAT and PMT.
const PROGRAM_PROBE_BYTES: u64 = 64 * 188;

/// The renditions of the archived segment `row` (from its first packets).
fn tracks_of(archive: &Archive, row: &SegmentRow) -> Result<Option<Tracks>, archive::ArchiveError> {
    use std::io::Read;
    let Some((file, _pin)) = archive.open_segment(row)? else {
        return Ok(None);
    };
    let mut buf = Vec::with_capacity(PROGRAM_PROBE_BYTES as usize);
    file.take(PROGRAM_PROBE_BYTES)
        .read_to_end(&mut buf)
        .map_err(|source| archive::ArchiveError::Io {
            op: "read",
            path: row.path.clone(),
            source,
        })?;
    Ok(Tracks::read(&buf))
}

/// A catch-up media playlist as the request wants it: the master playlist when the range's first
/// segment carries several audio languages or subtitles and no rendition was asked for, the
/// rendition's playlist when one was, else the playlist itself. 404 for a rendition the range
/// does not have.
async fn with_renditions(
    st: &AppState,
    archive: &Arc<Archive>,
    first: Option<SegmentRow>,
    text: String,
    rendition: Option<Rendition>,
    stem: Option<&str>,
) -> Result<String, Response> {
    let Some(row) = first else {
        return Ok(text);
    };
    let a = archive.clone();
    let row2 = row.clone();
    let tracks = blocking(move || tracks_of(&a, &row2))
        .await?
        .filter(|t| t.needs_master());
    match (tracks, rendition, stem) {
        (None, None, _) => Ok(text),
        (Some(t), None, Some(stem)) => {
            let bps = if row.duration_90k > 0 {
                row.bytes.max(0) as u64 * 8 * 90_000 / row.duration_90k as u64
            } else {
                0
            };
            let preferred = preferred_audio(&st.store, &row.channel).await;
            Ok(t.master(stem, bps, preferred.as_deref()))
        }
        (Some(t), Some(r), _) if crate::live_answer::offers(&t, r) => {
            Ok(hls::renditions::rendition_playlist(&text, r))
        }
        _ => Err(plain(
            StatusCode::NOT_FOUND,
            crate::live_answer::NO_RENDITION.into(),
        )),
    }
}

/// The channel's preferred audio language (its setting `audio_language`, read from the store),
/// for the master playlist's default. None: no preference, or the channel is gone (its archive
/// outlives it) or unreadable (the master still lists every track).
async fn preferred_audio(store: &crate::store::Store, channel: &str) -> Option<String> {
    let id = channel.to_string();
    store
        .read(move |c| crate::store::channel_audio_language(c, &id))
        .await
        .ok()
        .filter(|l| !l.is_empty())
}

/// Reads one archived segment (pinned while it is read, so retention cannot cut it).
fn read_row(archive: &Archive, row: &SegmentRow) -> Result<Option<Bytes>, archive::ArchiveError> {
    use std::io::Read;
    let Some((mut file, _pin)) = archive.open_segment(row)? else {
        return Ok(None);
    };
    let mut buf = Vec::with_capacity(row.bytes as usize);
    file.read_to_end(&mut buf)
        .map_err(|source| archive::ArchiveError::Io {
            op: "read",
            path: row.path.clone(),
            source,
        })?;
    Ok(Some(Bytes::from(buf)))
}

/// What an archived segment request found.
enum Found {
    /// The segment (or its rendition) and its content type.
    Body(Bytes, &'static str),
    /// The segment is there but has no such rendition.
    NoRendition,
}

async fn segment(
    archive: Arc<Archive>,
    channel: String,
    start_utc_ms: i64,
    rendition: Option<Rendition>,
) -> Response {
    let found = blocking(move || {
        let row = archive.segment_at_or_before(&channel, UtcMs(start_utc_ms))?;
        let Some(row) = row.filter(|r| r.start_utc_ms == start_utc_ms) else {
            return Ok(None);
        };
        let Some(data) = read_row(&archive, &row)? else {
            return Ok(None);
        };
        let Some(r) = rendition else {
            return Ok(Some(Found::Body(data, "video/mp2t")));
        };
        let Some(tracks) = Tracks::read(&data).filter(|t| crate::live_answer::offers(t, r)) else {
            return Ok(Some(Found::NoRendition));
        };
        if let Rendition::Subtitles(n) = r {
            // the segment before, for a subtitle already shown when this one starts
            let before = archive.segment_at_or_before(&row.channel, UtcMs(start_utc_ms - 1))?;
            let prev = match before.filter(|b| start_utc_ms - b.end_utc_ms <= ADJACENT_MS) {
                Some(b) => read_row(&archive, &b)?,
                None => None,
            };
            let vtt = hls::renditions::webvtt(&tracks, n, prev.as_deref(), &data, row.duration_90k);
            return Ok(Some(Found::Body(
                Bytes::from(vtt),
                crate::live_answer::VTT_TYPE,
            )));
        }
        Ok(tracks
            .cut(&data, r)
            .map(|cut| Found::Body(Bytes::from(cut), "video/mp2t")))
    })
    .await;
    match found {
        Ok(Some(Found::NoRendition)) => plain(
            StatusCode::NOT_FOUND,
            crate::live_answer::NO_RENDITION.into(),
        ),
        Ok(Some(Found::Body(data, content_type))) => respond(
            Body::from(data),
            content_type,
            "public, max-age=86400, immutable",
        ),
        Ok(None) => plain(
            StatusCode::NOT_FOUND,
            "segment is not in the archive (any more)\n".into(),
        ),
        Err(resp) => resp,
    }
}

/// The range as one MPEG-TS body, streamed segment by segment (never built in memory).
async fn download(archive: Arc<Archive>, channel: String, from_ms: i64, to_ms: i64) -> Response {
    let (a, ch) = (archive.clone(), channel.clone());
    let rows = match blocking(move || a.segments(&ch, UtcMs(from_ms), UtcMs(to_ms))).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if rows.is_empty() {
        return plain(
            StatusCode::NOT_FOUND,
            "nothing recorded in that range\n".into(),
        );
    }
    let stream = futures_util::stream::unfold(
        (rows.into_iter(), archive),
        |(mut rows, archive)| async move {
            loop {
                let row = rows.next()?;
                let a = archive.clone();
                match tokio::task::spawn_blocking(move || read_row(&a, &row)).await {
                    Ok(Ok(Some(data))) => {
                        return Some((Ok::<Bytes, std::io::Error>(data), (rows, archive)))
                    }
                    Ok(Ok(None)) => continue, // removed by retention meanwhile
                    Ok(Err(e)) => {
                        return Some((Err(std::io::Error::other(e.to_string())), (rows, archive)))
                    }
                    Err(e) => {
                        return Some((Err(std::io::Error::other(e.to_string())), (rows, archive)))
                    }
                }
            }
        },
    );
    let mut r = respond(Body::from_stream(stream), "video/mp2t", "no-cache");
    let name = format!(
        "attachment; filename=\"{channel}-{}-{}.ts\"",
        from_ms / 1000,
        (to_ms - from_ms) / 1000
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    crate::live_answer::streamed(&mut r);
    r
}

/// How long an endless TS waits for the archive to grow before it ends.
const ENDLESS_IDLE_MS: u64 = 30_000;

/// An endless MPEG-TS from `from_ms`: archived segments in order, then each new one as the archive
/// stores it (one segment behind live).
async fn endless(archive: Arc<Archive>, channel: String, from_ms: i64) -> Response {
    let (a, ch) = (archive.clone(), channel.clone());
    let first = match blocking(move || a.segments(&ch, UtcMs(from_ms), UtcMs(from_ms + 1))).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Some(first) = first
        .into_iter()
        .next()
        .filter(|r| r.start_utc_ms <= from_ms + 60_000)
    else {
        return plain(
            StatusCode::NOT_FOUND,
            "that time is not in the archive\n".into(),
        );
    };
    struct St {
        archive: Arc<Archive>,
        channel: String,
        queue: std::collections::VecDeque<SegmentRow>,
        last_start_ms: i64,
    }
    let st = St {
        archive,
        channel,
        queue: std::collections::VecDeque::from([first]),
        last_start_ms: i64::MIN,
    };
    let stream = futures_util::stream::unfold(st, |mut st| async move {
        let mut idle_ms = 0u64;
        loop {
            if let Some(row) = st.queue.pop_front() {
                st.last_start_ms = row.start_utc_ms;
                let a = st.archive.clone();
                match tokio::task::spawn_blocking(move || read_row(&a, &row)).await {
                    Ok(Ok(Some(data))) => return Some((Ok::<Bytes, std::io::Error>(data), st)),
                    Ok(Ok(None)) => continue,
                    Ok(Err(e)) => return Some((Err(std::io::Error::other(e.to_string())), st)),
                    Err(e) => return Some((Err(std::io::Error::other(e.to_string())), st)),
                }
            }
            // the next few rows after the last one served: one index seek, a bounded batch
            let (a, ch, after) = (st.archive.clone(), st.channel.clone(), st.last_start_ms);
            let rows =
                tokio::task::spawn_blocking(move || a.segments_after(&ch, after, ENDLESS_BATCH))
                    .await
                    .ok()?
                    .ok()?;
            st.queue.extend(rows);
            if st.queue.is_empty() {
                if idle_ms >= ENDLESS_IDLE_MS {
                    return None; // recording stopped: end the stream
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                idle_ms += 500;
            }
        }
    });
    let mut r = respond(
        Body::from_stream(stream),
        "video/mp2t",
        "no-cache, no-store",
    );
    crate::live_answer::streamed(&mut r);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flussonic_forms() {
        use CatchupRequest::*;
        let t = 1_795_000_000;
        let cases = [
            (
                "index-1795000000-3600.m3u8",
                Range {
                    from_s: t,
                    duration_s: 3600,
                },
            ),
            (
                "archive-1795000000-60.m3u8",
                Range {
                    from_s: t,
                    duration_s: 60,
                },
            ),
            ("timeshift_abs-1795000000.m3u8", From { from_s: t }),
            ("archive-1795000000-now.m3u8", From { from_s: t }),
            ("index-1795000000-now.m3u8", From { from_s: t }),
            ("video-timeshift_abs-1795000000.m3u8", From { from_s: t }),
            ("timeshift_rel-600.m3u8", Back { seconds: 600 }),
            (
                "archive-1795000000-30.ts",
                TsDownload {
                    from_s: t,
                    duration_s: 30,
                },
            ),
            ("timeshift_abs-1795000000.ts", TsFrom { from_s: t }),
            ("archive-1795000000-now.ts", TsFrom { from_s: t }),
            (
                "rec-1795000000123.ts",
                Segment {
                    start_utc_ms: 1_795_000_000_123,
                },
            ),
        ];
        for (name, want) in cases {
            assert_eq!(parse_catchup(name), Some(Ok(want)), "{name}");
        }
        for not_catchup in [
            "index.m3u8",
            "mpegts",
            "1795000000.ts",
            "index-1795000000-60.ts",
        ] {
            assert_eq!(parse_catchup(not_catchup), None, "{not_catchup}");
        }
        for bad in [
            "index-x-1.m3u8",
            "index-1-0.m3u8",
            "index-1--5.m3u8",
            "index-1-99999999.m3u8",
            "timeshift_rel-abc.m3u8",
            "archive-1.ts",
            "rec-.ts",
        ] {
            assert!(matches!(parse_catchup(bad), Some(Err(_))), "{bad}");
        }
    }

    #[test]
    fn playlist_marks_gaps() {
        let row = |start: i64, disc: bool| SegmentRow {
            id: start,
            channel: "c".into(),
            start_utc_ms: start,
            duration_90k: 540_000,
            end_utc_ms: start + 6000,
            bytes: 188,
            discontinuity: disc,
            path: "/x".into(),
        };
        let rows = [
            row(1_000_000, false),
            row(1_006_000, false),
            row(1_020_000, false),
            row(1_026_000, true),
        ];
        let p = render(&rows, PlaylistKind::Vod, Some(2.5));
        assert_eq!(p.matches("#EXT-X-DISCONTINUITY\n").count(), 2, "{p}");
        assert!(p.contains("#EXT-X-START:TIME-OFFSET=2.500,PRECISE=YES"));
        assert!(p.contains("rec-1020000.ts"));
        assert!(p.ends_with("#EXT-X-ENDLIST\n"));
    }
}

//! An edge back-fills its archive from the origin's: every [`EVERY`], for each recording
//! channel, the holes of the edge's archive in its retention window are asked of the origin
//! (`/api/cluster/archive/{id}`), and the origin's segments that fit a hole are fetched and
//! stored into it (`archive::Archive::backfill_segment`). After an edge or link outage the
//! catch-up window is whole again. A hole the origin has no segment for is not asked again
//! until it changes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use archive::{Archive, Backfilled};
use media::{Clock, UtcMs};
use tokio::sync::watch;

use crate::hub::Hub;
use crate::ingest::origin::wire::{self, ArchiveList};
use crate::ingest::origin::Upstream;

/// How often the holes are looked at.
pub const EVERY: Duration = Duration::from_secs(15);
/// Segments fetched per round at most (the backbone is shared with live).
pub const PER_ROUND: usize = 200;
/// Holes younger than this are left to the live relay.
const SETTLE_MS: i64 = 20_000;
/// How far before a hole or range the origin is asked from (longer than any segment).
const LOOK_BACK_MS: i64 = 60_000;
/// Holes remembered as unfillable at most.
const MAX_REMEMBERED: usize = 10_000;

/// Back-fills until shutdown.
pub async fn run(
    up: Arc<Upstream>,
    archive: Arc<Archive>,
    hub: Arc<Hub>,
    clock: Arc<dyn Clock>,
    max_segment_bytes: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut unfillable: HashSet<(String, i64, i64)> = HashSet::new();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let mut budget = PER_ROUND;
        for h in hub.all() {
            if budget == 0 {
                break;
            }
            let st = h.status();
            if !st.recording {
                continue;
            }
            let now = clock.now_utc().0;
            let (a, id) = (archive.clone(), h.id.clone());
            let window_ms = 7 * 86_400_000;
            let Ok(Ok(gaps)) = tokio::task::spawn_blocking(move || {
                a.gaps(&id, UtcMs(now - window_ms), UtcMs(now - SETTLE_MS))
            })
            .await
            else {
                continue;
            };
            for g in gaps {
                if budget == 0 || *shutdown.borrow() {
                    break;
                }
                let key = (h.id.clone(), g.from_utc_ms, g.to_utc_ms);
                if unfillable.contains(&key) {
                    continue;
                }
                match fill(
                    &up,
                    &archive,
                    &h.id,
                    g.from_utc_ms,
                    g.to_utc_ms,
                    max_segment_bytes,
                    &mut budget,
                )
                .await
                {
                    Ok((0, _)) => {
                        if unfillable.len() >= MAX_REMEMBERED {
                            unfillable.clear();
                        }
                        unfillable.insert(key);
                    }
                    Ok((n, _)) => {
                        tracing::info!(channel = %h.id, segments = n, from = %UtcMs(g.from_utc_ms).to_rfc3339(), "archive back-filled from the origin")
                    }
                    Err(e) => {
                        tracing::debug!(channel = %h.id, "back-fill: {e}");
                        break;
                    }
                }
            }
        }
    }
}

/// Fills the hole `[from, to)` of `channel` with the origin's segments that fit in it (at most
/// one list of [`wire::MAX_ARCHIVE_LIST`]); returns how many were stored and where the last one
/// listed ends (None: the origin listed none).
async fn fill(
    up: &Upstream,
    archive: &Arc<Archive>,
    channel: &str,
    from: i64,
    to: i64,
    max_segment_bytes: usize,
    budget: &mut usize,
) -> Result<(usize, Option<i64>), String> {
    let origin = up.current();
    // the segment that covers `from` starts up to a segment's length before it
    let path = format!(
        "/api/cluster/archive/{channel}?from_ms={}&to_ms={to}",
        from - LOOK_BACK_MS
    );
    let list: ArchiveList = up
        .get(origin, &path, 1 << 20, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))?;
    let mut stored = 0;
    let last_end = list
        .segments
        .last()
        .map(|s| s.start_utc_ms + s.duration_90k / 90);
    for s in list.segments.into_iter().take(wire::MAX_ARCHIVE_LIST) {
        if *budget == 0 {
            break;
        }
        // what overlaps [from, to); one that would overlap a stored segment is refused by the
        // archive (Overlaps), so a hole's neighbours are never touched
        let end = s.start_utc_ms + s.duration_90k / 90;
        if end <= from || s.start_utc_ms >= to || s.bytes as usize > max_segment_bytes {
            continue;
        }
        *budget -= 1;
        let data = up
            .get(
                origin,
                &format!("/api/cluster/archive/{channel}/{}.ts", s.start_utc_ms),
                max_segment_bytes,
                Duration::from_secs(30),
            )
            .await
            .map_err(|e| e.to_string())?;
        let (a, ch) = (archive.clone(), channel.to_string());
        let r = tokio::task::spawn_blocking(move || {
            a.backfill_segment(
                &ch,
                UtcMs(s.start_utc_ms),
                s.duration_90k,
                s.discontinuity,
                &data,
            )
        })
        .await
        .map_err(|e| e.to_string())?;
        match r {
            Ok(Backfilled::Stored(_)) => stored += 1,
            // already here, or the live writer's side: nothing to do
            Ok(Backfilled::Overlaps) | Ok(Backfilled::NotInThePast) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok((stored, last_end))
}

/// Back-filling asked for by a viewer: a catch-up range an edge does not have is fetched from the
/// origin into the edge's archive, in time order, while the viewer's playlist grows with it
/// (`api::archive`). One fill per channel at a time, a few at once in all.
pub struct OnRequest {
    up: Option<Arc<Upstream>>,
    archive: Arc<Archive>,
    max_segment_bytes: usize,
    running: std::sync::Mutex<HashSet<String>>,
    /// Ranges (channel, from, to as asked) whose fill finished: the origin had no more.
    done: std::sync::Mutex<HashSet<(String, i64, i64)>>,
}

/// Finished ranges remembered at most.
const MAX_DONE: usize = 1_000;

/// Viewer-asked fills running at once at most.
pub const MAX_ON_REQUEST: usize = 8;

impl OnRequest {
    /// `up`: the edge's origins (None on an origin: nothing to fetch from).
    pub fn new(up: Option<Arc<Upstream>>, archive: Arc<Archive>, max_segment_bytes: usize) -> Self {
        OnRequest {
            up,
            archive,
            max_segment_bytes,
            running: std::sync::Mutex::default(),
            done: std::sync::Mutex::default(),
        }
    }

    /// Whether a fill of this range (as asked) finished.
    pub fn done(&self, channel: &str, from: i64, asked_to: i64) -> bool {
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(channel.to_string(), from, asked_to))
    }

    /// Whether this node fetches missing ranges (an edge).
    pub fn active(&self) -> bool {
        self.up.is_some()
    }

    /// Starts fetching `[from, to)` of `channel` unless a fill of that channel runs already;
    /// when it ends, the range as asked (`from`, `asked_to`) counts as [`OnRequest::done`].
    pub fn ensure(self: &Arc<Self>, channel: &str, from: i64, to: i64, asked_to: i64) {
        let Some(up) = self.up.clone() else { return };
        {
            let mut r = self.running.lock().unwrap_or_else(|e| e.into_inner());
            if r.contains(channel) || r.len() >= MAX_ON_REQUEST {
                return;
            }
            r.insert(channel.to_string());
        }
        let (me, channel) = (self.clone(), channel.to_string());
        tokio::spawn(async move {
            let mut cursor = from;
            while cursor < to {
                let mut budget = usize::MAX;
                match fill(
                    &up,
                    &me.archive,
                    &channel,
                    cursor,
                    to,
                    me.max_segment_bytes,
                    &mut budget,
                )
                .await
                {
                    Ok((n, Some(end))) if end > cursor => {
                        if n > 0 {
                            tracing::info!(%channel, segments = n, "catch-up range fetched from the origin for a viewer");
                        }
                        cursor = end;
                    }
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(%channel, "catch-up range from the origin: {e}");
                        break;
                    }
                }
            }
            {
                let mut done = me.done.lock().unwrap_or_else(|e| e.into_inner());
                if done.len() >= MAX_DONE {
                    done.clear();
                }
                done.insert((channel.clone(), from, asked_to));
            }
            me.running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&channel);
        });
    }
}

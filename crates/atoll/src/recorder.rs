//! The recorder: just another reader of a channel's finished segments. It hands them to one
//! archive-writer thread over a bounded queue; a full queue drops the segment (counted, logged)
//! and never slows the channel. Playback reads only the archive store, never this module.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use archive::{Archive, GapReason, RetentionPolicy};
use bytes::Bytes;
use hls::Segment;
use media::UtcMs;
use tokio::sync::mpsc;

enum Msg {
    Segment {
        channel: String,
        start_utc: UtcMs,
        duration_90k: i64,
        discontinuity: bool,
        data: Bytes,
    },
    Stopped {
        channel: String,
        at: UtcMs,
        reason: GapReason,
    },
}

/// What the writer knows about one channel's recording.
#[derive(Debug, Clone, Default)]
pub struct WriteStatus {
    pub last_segment_utc: Option<UtcMs>,
    pub segments_written: u64,
    pub bytes_written: u64,
    pub last_error: Option<String>,
    pub last_error_utc: Option<UtcMs>,
    /// The last write failed (a new failure run is reported to the event log once).
    pub failing: bool,
}

pub struct Recorder {
    tx: Mutex<Option<mpsc::Sender<Msg>>>,
    status: Arc<Mutex<HashMap<String, WriteStatus>>>,
    /// Segments dropped because the writer was behind.
    pub dropped: AtomicU64,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Recorder {
    /// Starts the writer thread; write failures are also reported to `events` (the channel log).
    pub fn start(
        archive: Arc<Archive>,
        events: Option<crate::journal::EventSink>,
    ) -> std::io::Result<Recorder> {
        // ~25 min of one channel's 6 s segments, or 2.5 segments each for 100 channels
        let (tx, mut rx) = mpsc::channel::<Msg>(256);
        let status: Arc<Mutex<HashMap<String, WriteStatus>>> = Arc::default();
        let (a, st) = (archive, status.clone());
        let thread = std::thread::Builder::new()
            .name("archive-writer".into())
            .spawn(move || {
                while let Some(msg) = rx.blocking_recv() {
                    match msg {
                        Msg::Segment {
                            channel,
                            start_utc,
                            duration_90k,
                            discontinuity,
                            data,
                        } => {
                            let r = a.write_segment(
                                &channel,
                                start_utc,
                                duration_90k,
                                discontinuity,
                                &data,
                            );
                            let mut map = st.lock().unwrap_or_else(|e| e.into_inner());
                            let s = map.entry(channel.clone()).or_default();
                            match r {
                                Ok(_) => {
                                    s.failing = false;
                                    s.last_segment_utc = Some(start_utc);
                                    s.segments_written += 1;
                                    s.bytes_written += data.len() as u64;
                                }
                                Err(e) => {
                                    tracing::error!(%channel, "archive write failed: {e}");
                                    // once per failing run, not for every segment
                                    if !std::mem::replace(&mut s.failing, true) {
                                        if let Some(ev) = &events {
                                            ev.emit(
                                                &channel,
                                                start_utc.0,
                                                "recording_error",
                                                format!("archive write failed: {e}"),
                                            );
                                        }
                                    }
                                    s.last_error = Some(e.to_string());
                                    s.last_error_utc = Some(start_utc);
                                }
                            }
                        }
                        Msg::Stopped {
                            channel,
                            at,
                            reason,
                        } => {
                            if let Err(e) = a.mark_stopped(&channel, at, reason) {
                                tracing::error!(%channel, "archive: marking the stop failed: {e}");
                            }
                        }
                    }
                }
            })?;
        Ok(Recorder {
            tx: Mutex::new(Some(tx)),
            status,
            dropped: AtomicU64::new(0),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn send(&self, msg: Msg) -> bool {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        match tx.as_ref().map(|t| t.try_send(msg)) {
            Some(Ok(())) => true,
            Some(Err(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
            None => false,
        }
    }

    /// Queues a finished segment for the archive (never blocks).
    pub fn record(&self, channel: &str, seg: &Segment) {
        let ok = self.send(Msg::Segment {
            channel: channel.to_string(),
            start_utc: seg.start_utc,
            duration_90k: seg.duration_90k,
            discontinuity: seg.discontinuity,
            data: seg.data.clone(),
        });
        if !ok {
            tracing::warn!(%channel, "archive writer is behind: segment at {} dropped", seg.start_utc.to_rfc3339());
        }
    }

    /// Recording of `channel` paused at `at` for `reason` (the gap's reason).
    /// Never dropped: when the queue is full the marker waits for room on a task of its own, so the
    /// gap keeps its true reason.
    pub fn stopped(&self, channel: &str, at: UtcMs, reason: GapReason) {
        let msg = Msg::Stopped {
            channel: channel.to_string(),
            at,
            reason,
        };
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(tx) = tx {
            if let Err(mpsc::error::TrySendError::Full(msg)) = tx.try_send(msg) {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move {
                        let _ = tx.send(msg).await;
                    });
                }
            }
        }
    }

    pub fn status(&self, channel: &str) -> WriteStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(channel)
            .cloned()
            .unwrap_or_default()
    }

    /// Lets the writer finish what is queued, then stops it.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

/// Applies retention every minute until shutdown.
pub async fn retention_loop(
    archive: Arc<Archive>,
    dir: std::path::PathBuf,
    store: crate::store::Store,
    clock: Arc<dyn media::Clock>,
    max_bytes: Option<u64>,
    min_free_percent: Option<f64>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let channels = match store.call(|c| crate::store::list_channels(c)).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("retention: reading channels: {e}");
                continue;
            }
        };
        let per_channel_hours = channels
            .iter()
            .map(|c| (c.id.clone(), c.retention_hours))
            .collect();
        let (a, dir) = (archive.clone(), dir.clone());
        let now = clock.now_utc();
        let run = move || {
            let policy = RetentionPolicy {
                per_channel_hours,
                max_bytes: byte_cap(&a, &dir, max_bytes, min_free_percent),
                ..RetentionPolicy::default()
            };
            a.enforce_retention(now, &policy)
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(Ok(r)) if r.segments_deleted > 0 => {
                tracing::info!(
                    "retention: {} segments ({} bytes) removed",
                    r.segments_deleted,
                    r.bytes_freed
                )
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!("retention failed: {e}"),
            Err(e) => tracing::error!("retention task: {e}"),
        }
    }
}

/// The byte cap retention enforces: the configured maximum and/or what keeps `min_free_percent`
/// of the archive's disk free.
pub fn byte_cap(
    archive: &Archive,
    dir: &std::path::Path,
    max: Option<u64>,
    min_free_percent: Option<f64>,
) -> Option<u64> {
    let from_free = min_free_percent.and_then(|pct| {
        let (total, free) = crate::sys::disk_space(dir)?;
        let used_by_archive: u64 = archive.usage().ok()?.iter().map(|(_, b, _)| *b).sum();
        let want_free = (total as f64 * pct / 100.0) as u64;
        Some((used_by_archive + free).saturating_sub(want_free))
    });
    match (max, from_free) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_cap_combines_max_and_min_free() {
        let dir = std::env::temp_dir().join(format!("atoll-bytecap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (a, _) = Archive::open(&dir, UtcMs(1_795_000_000_000)).unwrap();
        a.write_segment(
            "c",
            UtcMs(1_795_000_000_000),
            540_000,
            false,
            &[0x47; 188 * 10],
        )
        .unwrap();
        assert_eq!(byte_cap(&a, &dir, None, None), None);
        assert_eq!(byte_cap(&a, &dir, Some(5000), None), Some(5000));
        let (total, free) = crate::sys::disk_space(&dir).unwrap();
        // keeping 0 % free allows everything on the disk the archive could use
        let all = byte_cap(&a, &dir, None, Some(0.0)).unwrap();
        assert!(all.abs_diff(free + 1880) < 1 << 24, "{all} vs {free}");
        // asking for more free space than exists caps the archive at 0
        let pct = (free as f64 / total as f64) * 100.0 + 5.0;
        assert_eq!(
            byte_cap(&a, &dir, None, Some(pct.min(90.0))).map(|b| b < 1 << 24),
            Some(true)
        );
        assert_eq!(byte_cap(&a, &dir, Some(10), Some(0.0)), Some(10));
        std::fs::remove_dir_all(&dir).ok();
    }
}

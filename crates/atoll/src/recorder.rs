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
        /// Monotonic time the segment was queued (tells a wall-clock step from a lost source).
        received_mono_ms: i64,
        /// The live side saw the wall clock step just before this segment: a hole before it
        /// is a 'clock_step' gap.
        clock_step: bool,
    },
    Stopped {
        channel: String,
        at: UtcMs,
        reason: GapReason,
    },
    /// Answered once everything queued before it is written (a channel's archive is removed
    /// only after its last segment landed).
    Flush(tokio::sync::oneshot::Sender<()>),
    /// Tests: the writer acknowledges, then waits until the sender side is dropped.
    #[cfg(test)]
    Hold(
        std::sync::mpsc::SyncSender<()>,
        std::sync::mpsc::Receiver<()>,
    ),
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
    /// Why the last write failed: "disk_full" or "write_error" (a gap reason).
    pub error_reason: Option<&'static str>,
    /// Gaps marked in the archive since the start, by reason (`atoll_archive_gaps_total`).
    pub gaps: std::collections::BTreeMap<&'static str, u64>,
}

/// Counts a gap marked in `channel`'s archive.
fn count_gap(st: &Mutex<HashMap<String, WriteStatus>>, channel: &str, reason: GapReason) {
    let mut map = st.lock().unwrap_or_else(|e| e.into_inner());
    *map.entry(channel.to_string())
        .or_default()
        .gaps
        .entry(reason.as_str())
        .or_default() += 1;
}

pub struct Recorder {
    tx: Mutex<Option<mpsc::Sender<Msg>>>,
    status: Arc<Mutex<HashMap<String, WriteStatus>>>,
    /// Segments dropped because the writer was behind.
    pub dropped: AtomicU64,
    /// Bytes of the segments queued now, and their bound (`recorder_queue_bytes`).
    queued_bytes: Arc<AtomicU64>,
    max_queued_bytes: u64,
    /// Segment writes that failed because the archive disk was full.
    pub disk_full_errors: Arc<AtomicU64>,
    /// Channels with dropped segments not yet marked: the start of the first one dropped. The
    /// writer marks the gap 'recorder_overflow' before it writes that channel's next segment.
    overflowed: Arc<Mutex<HashMap<String, UtcMs>>>,
    /// Woken when a write finds the disk full: retention runs at once instead of on its minute.
    pub space_wanted: Arc<tokio::sync::Notify>,
    origin: std::time::Instant,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Recorder {
    /// Starts the writer thread with a queue of `queue` segments (at least 1; the
    /// `recorder_queue_segments` setting, 256 by default: ~25 min of one channel's 6 s segments,
    /// or 2.5 each for 100 channels) holding at most `queue_bytes` (`recorder_queue_bytes`);
    /// a full queue drops the segment ('recorder_overflow' gap).
    /// Write failures are also reported to `events` (the channel log).
    pub fn start_with(
        archive: Arc<Archive>,
        events: Option<crate::journal::EventSink>,
        queue: usize,
        queue_bytes: u64,
    ) -> std::io::Result<Recorder> {
        let (tx, mut rx) = mpsc::channel::<Msg>(queue.max(1));
        let queued_bytes = Arc::new(AtomicU64::new(0));
        let queued = queued_bytes.clone();
        let status: Arc<Mutex<HashMap<String, WriteStatus>>> = Arc::default();
        let overflowed: Arc<Mutex<HashMap<String, UtcMs>>> = Arc::default();
        let space_wanted = Arc::new(tokio::sync::Notify::new());
        let disk_full_errors = Arc::new(AtomicU64::new(0));
        let (a, st, over, space, full) = (
            archive,
            status.clone(),
            overflowed.clone(),
            space_wanted.clone(),
            disk_full_errors.clone(),
        );
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
                            received_mono_ms,
                            clock_step,
                        } => {
                            // Segments of this channel were dropped before this one: say so.
                            let dropped_at = {
                                let mut o = over.lock().unwrap_or_else(|e| e.into_inner());
                                match o.get(&channel) {
                                    Some(at) if *at <= start_utc => o.remove(&channel),
                                    _ => None,
                                }
                            };
                            if let Some(at) = dropped_at {
                                match a.mark_stopped(&channel, at, GapReason::RecorderOverflow) {
                                    Ok(_) => count_gap(&st, &channel, GapReason::RecorderOverflow),
                                    Err(e) => tracing::error!(%channel, "archive: marking the overflow failed: {e}"),
                                }
                            } else if clock_step {
                                // a hole before this segment comes from the step, not a lost source
                                match a.mark_stopped(&channel, start_utc, GapReason::ClockStep) {
                                    Ok(_) => count_gap(&st, &channel, GapReason::ClockStep),
                                    Err(e) => tracing::warn!(%channel, "archive: marking the clock step failed: {e}"),
                                }
                            }
                            let r = a.write_segment_received(
                                &channel,
                                start_utc,
                                duration_90k,
                                discontinuity,
                                &data,
                                Some(received_mono_ms),
                            );
                            queued.fetch_sub(data.len() as u64, Ordering::Relaxed);
                            let mut map = st.lock().unwrap_or_else(|e| e.into_inner());
                            let s = map.entry(channel.clone()).or_default();
                            match r {
                                Ok(_) => {
                                    if s.failing {
                                        tracing::info!(%channel, "archive writes work again");
                                    }
                                    s.failing = false;
                                    s.error_reason = None;
                                    s.last_segment_utc = Some(start_utc);
                                    s.segments_written += 1;
                                    s.bytes_written += data.len() as u64;
                                }
                                Err(archive::ArchiveError::OutOfOrder { .. })
                                | Err(archive::ArchiveError::ClockStepBack { .. }) => {
                                    // the wall clock stepped back: the archive keeps no overlap
                                    tracing::warn!(%channel, "archive: segment at {} refused: it overlaps what is recorded (clock step)", start_utc.to_rfc3339());
                                }
                                Err(e) => {
                                    let disk_full = e.is_disk_full();
                                    let reason = if disk_full {
                                        full.fetch_add(1, Ordering::Relaxed);
                                        space.notify_one();
                                        GapReason::DiskFull
                                    } else {
                                        GapReason::WriteError
                                    };
                                    s.error_reason = Some(reason.as_str());
                                    // once per failing run, not for every segment
                                    if !std::mem::replace(&mut s.failing, true) {
                                        tracing::error!(%channel, "archive write failed: {e}");
                                        // the hole gets this reason (best effort: the index may
                                        // be on the full disk too)
                                        match a.mark_stopped(&channel, start_utc, reason) {
                                            Ok(_) => {
                                                *s.gaps.entry(reason.as_str()).or_default() += 1
                                            }
                                            Err(e) => tracing::warn!(%channel, "archive: marking the failure: {e}"),
                                        }
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
                        Msg::Flush(done) => {
                            let _ = done.send(());
                        }
                        #[cfg(test)]
                        Msg::Hold(ack, release) => {
                            let _ = ack.send(());
                            let _ = release.recv();
                        }
                        Msg::Stopped {
                            channel,
                            at,
                            reason,
                        } => {
                            match a.mark_stopped(&channel, at, reason) {
                                Ok(_) => count_gap(&st, &channel, reason),
                                Err(e) => tracing::error!(%channel, "archive: marking the stop failed: {e}"),
                            }
                        }
                    }
                }
            })?;
        Ok(Recorder {
            tx: Mutex::new(Some(tx)),
            status,
            dropped: AtomicU64::new(0),
            queued_bytes,
            max_queued_bytes: queue_bytes.max(1),
            disk_full_errors,
            overflowed,
            space_wanted,
            origin: std::time::Instant::now(),
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

    /// Bytes of the segments waiting for the writer now.
    pub fn queued_bytes(&self) -> u64 {
        self.queued_bytes.load(Ordering::Relaxed)
    }

    /// Queues a finished segment for the archive (never blocks). A segment dropped because the
    /// queue is full leaves a 'recorder_overflow' gap.
    pub fn record(&self, channel: &str, seg: &Segment) {
        let len = seg.data.len() as u64;
        let room = self
            .queued_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                let after = q.saturating_add(len);
                (after <= self.max_queued_bytes).then_some(after)
            })
            .is_ok();
        let ok = if room {
            let sent = self.send(Msg::Segment {
                channel: channel.to_string(),
                start_utc: seg.start_utc,
                duration_90k: seg.duration_90k,
                discontinuity: seg.discontinuity,
                data: seg.data.clone(),
                received_mono_ms: self.origin.elapsed().as_millis() as i64,
                clock_step: seg.clock_step,
            });
            if !sent {
                self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            }
            sent
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            false
        };
        if !ok {
            self.overflowed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(channel.to_string())
                .or_insert(seg.start_utc);
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

    /// Waits (at most `limit`) until the writer has written everything queued before this call.
    /// False when it did not answer in time or is stopped.
    pub async fn flush(&self, limit: std::time::Duration) -> bool {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(tx) = tx else { return false };
        let (done, wait) = tokio::sync::oneshot::channel();
        let sent = tokio::time::timeout(limit, tx.send(Msg::Flush(done))).await;
        if !matches!(sent, Ok(Ok(()))) {
            return false;
        }
        matches!(tokio::time::timeout(limit, wait).await, Ok(Ok(())))
    }

    pub fn status(&self, channel: &str) -> WriteStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(channel)
            .cloned()
            .unwrap_or_default()
    }

    /// Every channel the writer has seen, with its status (metrics).
    pub fn all_status(&self) -> Vec<(String, WriteStatus)> {
        let map = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map.iter().map(|(k, s)| (k.clone(), s.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
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
#[allow(clippy::too_many_arguments)] // the wiring of main, one value each
pub async fn retention_loop(
    archive: Arc<Archive>,
    dir: std::path::PathBuf,
    store: crate::store::Store,
    clock: Arc<dyn media::Clock>,
    max_bytes: Option<u64>,
    min_free_percent: Option<f64>,
    space_wanted: Arc<tokio::sync::Notify>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            // a write found the disk full: free what the policy allows now, not within a minute
            _ = space_wanted.notified() => {}
            _ = shutdown.changed() => return,
        }
        let channels = match store.read(crate::store::list_channels).await {
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
            let r = match a.enforce_retention(now, &policy) {
                // the disk is full and the index cannot commit the deletes: use the reserve
                Err(e) if e.is_disk_full() && a.release_reserve() => {
                    tracing::warn!("retention: disk full, reserve released to make room");
                    a.enforce_retention(now, &policy)
                }
                r => r,
            };
            // set the reserve aside again once there is room to spare
            if crate::sys::disk_space(&dir)
                .is_some_and(|(_, free)| free > 4 * archive::RESERVE_BYTES as u64)
            {
                a.keep_reserve();
            }
            r
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

    fn seg(i: i64) -> Segment {
        Segment {
            seq: i as u64,
            start_90k: media::Ts90k(i * 540_000),
            duration_90k: 540_000,
            start_utc: UtcMs(1_795_000_000_000 + i * 6_000),
            discontinuity: false,
            clock_step: false,
            data: Bytes::from(vec![0x47; 188 * 4]),
        }
    }

    /// The queue is full at 2 segments, or at 2 segments' bytes (`recorder_queue_bytes`).
    #[test]
    fn segments_dropped_on_a_full_queue_leave_a_recorder_overflow_gap() {
        let one = seg(0).data.len() as u64;
        overflow_case("count", 2, u64::MAX);
        overflow_case("bytes", 1000, 2 * one + one / 2);
    }

    fn overflow_case(name: &str, queue: usize, queue_bytes: u64) {
        let dir =
            std::env::temp_dir().join(format!("atoll-overflow-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (a, _) = Archive::open(&dir, UtcMs(1_795_000_000_000)).unwrap();
        let a = Arc::new(a);
        let rec = Recorder::start_with(a.clone(), None, queue, queue_bytes).unwrap();
        rec.record("c", &seg(0));
        // Hold the writer so the queue (2) fills up.
        let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
        let (release_tx, release_rx) = std::sync::mpsc::sync_channel::<()>(1);
        assert!(rec.send(Msg::Hold(ack_tx, release_rx)));
        ack_rx.recv().unwrap();
        for i in 1..=4 {
            rec.record("c", &seg(i)); // 1, 2 queued; 3, 4 dropped
        }
        assert_eq!(rec.dropped.load(Ordering::Relaxed), 2, "{name}");
        assert!(rec.queued_bytes.load(Ordering::Relaxed) <= queue_bytes);
        drop(release_tx);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while rec.status("c").segments_written < 3 {
            assert!(std::time::Instant::now() < deadline, "writer stuck");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        rec.record("c", &seg(5));
        rec.close();
        let gaps = a.gaps("c", UtcMs(0), UtcMs(i64::MAX)).unwrap();
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert_eq!(gaps[0].reason, GapReason::RecorderOverflow);
        assert_eq!(gaps[0].from_utc_ms, seg(3).start_utc.0);
        assert_eq!(gaps[0].to_utc_ms, seg(5).start_utc.0);
        std::fs::remove_dir_all(&dir).ok();
    }

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

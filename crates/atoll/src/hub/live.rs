//! A channel's live output: the HLS window (rendered once per segment) and the continuous
//! MPEG-TS feed. Readers (HTTP viewers, edges) only ever clone `Bytes` or share a segment file.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use hls::{PlaylistKind, PlaylistSegment, Segment};
use media::{Ts90k, UtcMs};

use super::renditions::{CutCache, LiveRenditions};
use super::tsfeed::{TsFeed, TsReader};

/// What an HLS request sees: immutable, swapped whole on every new segment.
#[derive(Default)]
pub struct LiveSnapshot {
    /// Rendered media playlist; empty until the first segment exists.
    pub playlist: Bytes,
    /// Recent segments, oldest first (the playlist window plus a few for late readers).
    pub segments: VecDeque<LiveSegment>,
    /// When the newest segment carries several audio languages or subtitles: the master and
    /// rendition playlists (see `hub::renditions`).
    pub renditions: Option<Arc<LiveRenditions>>,
}

/// One segment of the live window. Its bytes live in one place: in memory until the writer
/// thread has put them in a [`SegmentFile`], then only in that file (read back for the few
/// readers that want bytes; the fast path sends the file as it is).
#[derive(Clone)]
pub struct LiveSegment {
    pub seq: u64,
    pub start_90k: Ts90k,
    pub duration_90k: i64,
    pub start_utc: UtcMs,
    pub discontinuity: bool,
    pub clock_step: bool,
    pub body: SegmentBody,
}

/// Where a live segment's bytes are.
#[derive(Clone)]
pub enum SegmentBody {
    Memory(Bytes),
    File(Arc<SegmentFile>),
}

impl SegmentBody {
    /// The bytes (read back from the file when they are in one).
    pub fn bytes(&self) -> std::io::Result<Bytes> {
        match self {
            SegmentBody::Memory(b) => Ok(b.clone()),
            SegmentBody::File(f) => f.read_all(),
        }
    }

    pub fn len(&self) -> u64 {
        match self {
            SegmentBody::Memory(b) => b.len() as u64,
            SegmentBody::File(f) => f.len(),
        }
    }
}

impl LiveSegment {
    fn new(seg: Segment) -> LiveSegment {
        LiveSegment {
            seq: seg.seq,
            start_90k: seg.start_90k,
            duration_90k: seg.duration_90k,
            start_utc: seg.start_utc,
            discontinuity: seg.discontinuity,
            clock_step: seg.clock_step,
            body: SegmentBody::Memory(seg.data),
        }
    }

    /// The segment's bytes (see [`SegmentBody::bytes`]).
    pub fn bytes(&self) -> std::io::Result<Bytes> {
        self.body.bytes()
    }
}

impl LiveSnapshot {
    /// Segment `seq`, if it is still held.
    pub fn segment(&self, seq: u64) -> Option<&LiveSegment> {
        let first = self.segments.front()?.seq;
        let i = seq.checked_sub(first)? as usize;
        self.segments.get(i).filter(|s| s.seq == seq)
    }
}

/// A finished segment's bytes in a read-only file the HTTP fast path hands to sockets with
/// `sendfile`, saving one copy per byte served: a sealed `memfd` by default (memory outside the
/// process's heap; no disk writes), or an unlinked file in `live_segment_dir` when one is
/// configured (`O_TMPFILE`, reopened read-only; page cache the kernel may reclaim). Once its file
/// exists the segment's `Bytes` are dropped: the window is held once. Nothing of it outlives the
/// process. Written off the async workers by one writer thread ([`SegmentWriter`]); until its
/// file is ready a segment is served from its `Bytes`.
pub struct SegmentFile {
    file: std::fs::File,
    len: u64,
    /// In a directory's page cache (not a memfd).
    on_disk: bool,
}

fn tmpfile(dir: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .mode(0o600)
        .open(dir)
}

impl SegmentFile {
    /// In `dir` when given (falling back to memory if the directory refuses), else in memory.
    pub fn new(data: &[u8], dir: Option<&std::path::Path>) -> std::io::Result<SegmentFile> {
        if let Some(dir) = dir {
            match Self::on_disk(dir, data) {
                Ok(f) => return Ok(f),
                Err(e) => tracing::debug!("segment file in {}: {e}", dir.display()),
            }
        }
        Self::in_memfd(data)
    }

    /// Written once into an unlinked file, then reopened read-only (the writable descriptor
    /// is closed, so the bytes can no longer change).
    fn on_disk(dir: &std::path::Path, data: &[u8]) -> std::io::Result<SegmentFile> {
        let mut w = tmpfile(dir)?;
        w.write_all(data)?;
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&w));
        let file = std::fs::File::open(path)?;
        drop(w);
        Ok(SegmentFile {
            file,
            len: data.len() as u64,
            on_disk: true,
        })
    }

    fn in_memfd(data: &[u8]) -> std::io::Result<SegmentFile> {
        // SAFETY: a static NUL-terminated name and valid flags; returns a new descriptor or -1.
        let fd = unsafe {
            libc::memfd_create(
                c"atoll-segment".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        file.write_all(data)?;
        let seals =
            libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on a descriptor we own; a failure (no sealing) only loses the guarantee.
        unsafe {
            libc::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                libc::F_ADD_SEALS,
                seals,
            )
        };
        Ok(SegmentFile {
            file,
            len: data.len() as u64,
            on_disk: false,
        })
    }
    /// The whole file, read back.
    pub fn read_all(&self) -> std::io::Result<Bytes> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; self.len as usize];
        self.file.read_exact_at(&mut buf, 0)?;
        Ok(Bytes::from(buf))
    }
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    /// In a directory's page cache (not a memfd).
    pub fn is_on_disk(&self) -> bool {
        self.on_disk
    }
}

/// Where a channel's live segment files go.
#[derive(Debug, Clone, Default)]
pub struct SegmentPlace {
    /// Every segment in this directory (`live_segment_dir`).
    pub dir: Option<std::path::PathBuf>,
    /// Otherwise in a memfd, except while the channel is popular: a segment that follows one
    /// during which the channel answered at least `popular_requests` segment requests (about
    /// that many viewers) goes to `popular_dir`. `sendfile` from shared memory costs the kernel
    /// more per byte than from a disk file's page cache (it looks up every 4 KiB page one by
    /// one; a disk file's are read in batches): about 13 % of the server's CPU at 15,000
    /// viewers. A memfd writes nothing to disk, which counts for many channels with few
    /// viewers. 0 = never.
    pub popular_dir: Option<std::path::PathBuf>,
    pub popular_requests: u64,
}

/// Default segment files waiting for the writer, across all channels; beyond this a segment
/// gets no file (served from memory) and is counted (setting `live_segment_write_queue`).
pub const SEGMENT_WRITE_QUEUE: usize = 64;

/// The writer's queue length, read once when the first segment is written.
static WRITE_QUEUE: AtomicUsize = AtomicUsize::new(SEGMENT_WRITE_QUEUE);

/// Sets the length of the segment file writer's queue; call before any channel starts.
pub fn set_segment_write_queue(len: usize) {
    WRITE_QUEUE.store(len.max(1), Ordering::Relaxed);
}

struct WriteJob {
    live: std::sync::Weak<LiveOutput>,
    seq: u64,
    data: Bytes,
    dir: Option<std::path::PathBuf>,
}

/// The one thread that writes live segment files, fed through a bounded queue, so a slow disk
/// never blocks a channel runner or an async worker.
struct SegmentWriter {
    tx: std::sync::mpsc::SyncSender<WriteJob>,
}

/// Segments that got no file because the writer's queue was full.
pub static SEGMENT_FILES_SKIPPED: AtomicU64 = AtomicU64::new(0);

fn writer() -> &'static SegmentWriter {
    static W: std::sync::OnceLock<SegmentWriter> = std::sync::OnceLock::new();
    W.get_or_init(|| {
        let (tx, rx) =
            std::sync::mpsc::sync_channel::<WriteJob>(WRITE_QUEUE.load(Ordering::Relaxed));
        std::thread::Builder::new()
            .name("atoll-segfiles".into())
            .spawn(move || {
                for job in rx {
                    let Some(live) = job.live.upgrade() else {
                        continue;
                    };
                    match SegmentFile::new(&job.data, job.dir.as_deref()) {
                        Ok(f) => live.attach_file(job.seq, Arc::new(f)),
                        Err(e) => tracing::debug!("no file for segment {}: {e}", job.seq),
                    }
                }
            })
            .expect("spawn the segment file writer");
        SegmentWriter { tx }
    })
}

/// The key part of an HLS viewer's identity taken from its User-Agent header (absent = empty).
pub fn ua_hash(ua: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ua.hash(&mut h);
    h.finish()
}

/// Distinct HLS viewers: a viewer is (address, user agent) seen in the last 30 s.
#[derive(Default)]
pub struct HlsSessions {
    seen: Mutex<HashMap<(IpAddr, u64), i64>>,
}

const HLS_SESSION_TTL_MS: i64 = 30_000;

impl HlsSessions {
    pub fn touch(&self, ip: IpAddr, ua_hash: u64, now_mono_ms: i64) {
        let mut m = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        m.insert((ip, ua_hash), now_mono_ms);
        // prune here too (not only when counted), so varying User-Agents cannot grow it unseen
        if m.len().is_multiple_of(4096) {
            m.retain(|_, t| now_mono_ms - *t < HLS_SESSION_TTL_MS);
        }
    }
    pub fn count(&self, now_mono_ms: i64) -> usize {
        let mut m = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, t| now_mono_ms - *t < HLS_SESSION_TTL_MS);
        m.len()
    }
}

pub struct LiveOutput {
    snapshot: RwLock<Arc<LiveSnapshot>>,
    /// Held while a new snapshot is built from the current one (segment added, file attached),
    /// so two edits never lose one another; readers never take it.
    edit: Mutex<()>,
    /// Where segment files go.
    segment_place: Mutex<SegmentPlace>,
    /// Segment answers given (HLS, both HTTP paths; renditions apart).
    segment_requests: AtomicU64,
    /// `segment_requests` when the last segment was pushed.
    requests_at_last_segment: AtomicU64,
    /// The continuous TS feed (see `hub::tsfeed`).
    pub ts: TsFeed,
    window: usize,
    keep: usize,
    min_target_s: u64,
    /// Running maximum: TARGETDURATION never shrinks within a channel's life.
    target_s: AtomicU64,
    /// Discontinuities that slid out of the window (EXT-X-DISCONTINUITY-SEQUENCE).
    discontinuity_seq: AtomicU64,
    /// The number of the newest segment (watched by edges' long-polls).
    newest: tokio::sync::watch::Sender<u64>,
    /// When a viewer last asked for the playlist or the stream (monotonic ms; an edge pulls a
    /// channel that does not record only while it is asked for).
    last_asked_ms: std::sync::atomic::AtomicI64,
    /// The channel's preferred audio language (ISO 639-2): the default of its master playlist
    /// from the next segment on.
    preferred_audio: RwLock<Option<String>>,
    /// Rendition segments cut for viewers (multi-track channels only).
    pub cuts: CutCache,
    pub hls_sessions: HlsSessions,
    pub ts_viewers: AtomicUsize,
    /// TS viewers dropped for being too slow.
    pub slow_viewers_dropped: AtomicU64,
}

impl LiveOutput {
    /// A window of `window` segments, a target duration of at least `min_target_s`, a TS ring
    /// of `ts_buffer_bytes`, rendition cuts of at most `rendition_cache_bytes`.
    pub fn new(
        window: usize,
        min_target_s: u64,
        ts_buffer_bytes: usize,
        rendition_cache_bytes: usize,
    ) -> Self {
        LiveOutput {
            snapshot: RwLock::new(Arc::new(LiveSnapshot::default())),
            edit: Mutex::new(()),
            segment_place: Mutex::new(SegmentPlace::default()),
            segment_requests: AtomicU64::new(0),
            requests_at_last_segment: AtomicU64::new(0),
            ts: TsFeed::new(ts_buffer_bytes),
            window,
            keep: window + 4,
            min_target_s,
            target_s: AtomicU64::new(min_target_s),
            discontinuity_seq: AtomicU64::new(0),
            newest: tokio::sync::watch::channel(0).0,
            last_asked_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
            preferred_audio: RwLock::new(None),
            cuts: CutCache::new(rendition_cache_bytes),
            hls_sessions: HlsSessions::default(),
            ts_viewers: AtomicUsize::new(0),
            slow_viewers_dropped: AtomicU64::new(0),
        }
    }

    /// The preferred audio language of the master playlist (None: the source's first track).
    pub fn preferred_audio(&self) -> Option<String> {
        self.preferred_audio
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets the preferred audio language (the channel setting `audio_language`, ISO 639-2;
    /// None or '' = no preference); the master playlist changes with the next segment.
    pub fn set_preferred_audio(&self, lang: Option<String>) {
        *self
            .preferred_audio
            .write()
            .unwrap_or_else(|e| e.into_inner()) = lang.filter(|l| !l.is_empty());
    }

    pub fn snapshot(&self) -> Arc<LiveSnapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn push_chunk(&self, data: Bytes, segment_start: bool) {
        self.ts.push(data, segment_start);
    }

    /// Bytes of the live window held in memory (segments whose file is not written yet, or
    /// could not be) and in segment files.
    pub fn window_bytes(&self) -> (u64, u64) {
        let snap = self.snapshot();
        let (mut memory, mut files) = (0, 0);
        for s in &snap.segments {
            match s.body {
                SegmentBody::Memory(_) => memory += s.body.len(),
                SegmentBody::File(_) => files += s.body.len(),
            }
        }
        (memory, files)
    }

    /// Changes each time a segment is added.
    pub fn subscribe_segments(&self) -> tokio::sync::watch::Receiver<u64> {
        self.newest.subscribe()
    }

    /// A new TS viewer (None once the channel has stopped).
    pub fn subscribe_ts(&self) -> Option<TsReader> {
        self.ts.subscribe()
    }

    /// A viewer asked for the playlist or the stream at `now_mono_ms`.
    pub fn asked(&self, now_mono_ms: i64) {
        self.last_asked_ms.store(now_mono_ms, Ordering::Relaxed);
    }

    /// When a viewer last asked (monotonic ms; `i64::MIN`: never).
    pub fn last_asked(&self) -> i64 {
        self.last_asked_ms.load(Ordering::Relaxed)
    }

    /// Forgets the segments (an edge stopped pulling an unwatched channel): the next viewer gets
    /// "starting" until new ones come, never stale ones. Numbers go on rising.
    pub fn clear(&self) {
        let _edit = self.edit.lock().unwrap_or_else(|e| e.into_inner());
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(LiveSnapshot::default());
        self.cuts.clear();
        self.ts.clear();
    }

    /// The channel stopped (deleted, deactivated, shutdown): every TS response ends.
    pub fn close(&self) {
        self.ts.close();
    }

    /// Where segment files go from the next segment on.
    pub fn set_segment_place(&self, place: SegmentPlace) {
        *self.segment_place.lock().unwrap_or_else(|e| e.into_inner()) = place;
    }

    /// A viewer was given one of the window's segments.
    pub fn segment_requested(&self) {
        self.segment_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The directory for the next segment's file (None: a memfd), from the segment requests
    /// answered since the last segment was added.
    fn next_segment_dir(&self) -> Option<std::path::PathBuf> {
        let served = self.segment_requests.load(Ordering::Relaxed);
        let during = served.saturating_sub(
            self.requests_at_last_segment
                .swap(served, Ordering::Relaxed),
        );
        let place = self.segment_place.lock().unwrap_or_else(|e| e.into_inner());
        if place.dir.is_some() {
            return place.dir.clone();
        }
        if place.popular_requests > 0 && during >= place.popular_requests {
            return place.popular_dir.clone();
        }
        None
    }

    /// Segments of the window whose file is in a directory's page cache (not a memfd).
    pub fn segments_on_disk(&self) -> u64 {
        let snap = self.snapshot();
        snap.segments
            .iter()
            .filter(|s| matches!(&s.body, SegmentBody::File(f) if f.is_on_disk()))
            .count() as u64
    }

    /// The writer made segment `seq`'s file: it replaces the segment's bytes in the snapshot
    /// (if the segment is still in it), which are then dropped.
    fn attach_file(&self, seq: u64, file: Arc<SegmentFile>) {
        let _edit = self.edit.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.snapshot();
        let Some(first) = old.segments.front().map(|s| s.seq) else {
            return;
        };
        let Some(i) = seq.checked_sub(first).map(|i| i as usize) else {
            return;
        };
        if old.segments.get(i).map(|s| s.seq) != Some(seq) {
            return;
        }
        let mut segments = old.segments.clone();
        segments[i].body = SegmentBody::File(file);
        let snap = Arc::new(LiveSnapshot {
            playlist: old.playlist.clone(),
            segments,
            renditions: old.renditions.clone(),
        });
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = snap;
    }

    /// Adds a finished segment and re-renders the playlist. Its file (for `sendfile`) is made
    /// by the writer thread and attached when ready; never on the caller's thread.
    pub fn push_segment(self: &Arc<Self>, seg: Segment) {
        let job = WriteJob {
            live: Arc::downgrade(self),
            seq: seg.seq,
            data: seg.data.clone(),
            dir: self.next_segment_dir(),
        };
        let _edit = self.edit.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.snapshot();
        let mut segments = old.segments.clone();
        segments.push_back(LiveSegment::new(seg));
        while segments.len() > self.keep {
            if let Some(gone) = segments.pop_front() {
                if gone.discontinuity {
                    self.discontinuity_seq.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let skip = segments.len().saturating_sub(self.window);
        // EXT-X-DISCONTINUITY-SEQUENCE: every discontinuity before the first segment shown.
        let before = segments
            .iter()
            .take(skip)
            .filter(|s| s.discontinuity)
            .count() as u64;
        let disc_seq = self.discontinuity_seq.load(Ordering::Relaxed) + before;
        let items: Vec<PlaylistSegment> = segments
            .iter()
            .skip(skip)
            .map(|s| PlaylistSegment {
                uri: format!("{}.ts", s.seq),
                duration_90k: s.duration_90k,
                start_utc: s.start_utc,
                discontinuity: s.discontinuity,
            })
            .collect();
        let target = hls::playlist::target_duration_s(&items, self.min_target_s)
            .max(self.target_s.load(Ordering::Relaxed));
        self.target_s.store(target, Ordering::Relaxed);
        let first_shown = segments.get(skip).map(|s| s.seq).unwrap_or(0);
        let playlist = hls::render_media_playlist(
            PlaylistKind::Live,
            target,
            first_shown,
            disc_seq,
            &items,
            None,
        );
        let peak_bps = segments
            .iter()
            .filter(|s| s.duration_90k > 0)
            .map(|s| s.body.len() * 8 * 90_000 / s.duration_90k as u64)
            .max()
            .unwrap_or(0);
        // built from the newest segment, which is still in memory here
        let renditions = LiveRenditions::build(
            &job.data,
            &playlist,
            peak_bps,
            self.preferred_audio().as_deref(),
        )
        .map(Arc::new);
        let snap = Arc::new(LiveSnapshot {
            playlist: Bytes::from(playlist),
            segments,
            renditions,
        });
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = snap;
        drop(_edit);
        self.newest.send_replace(job.seq);
        if writer().tx.try_send(job).is_err() {
            SEGMENT_FILES_SKIPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits until every segment of the window is in its file (made by the writer thread, off
    /// the caller's thread).
    fn wait_for_files(live: &LiveOutput) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while live
            .snapshot()
            .segments
            .iter()
            .any(|s| matches!(s.body, SegmentBody::Memory(_)))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "segment files never came"
            );
            std::thread::yield_now();
        }
    }

    fn seg(seq: u64, disc: bool) -> Segment {
        Segment {
            seq,
            start_90k: Ts90k(seq as i64 * 540_000),
            duration_90k: 540_000,
            start_utc: UtcMs(1_795_000_000_000 + seq as i64 * 6000),
            discontinuity: disc,
            clock_step: false,
            data: Bytes::from_static(&[0x47; 188]),
        }
    }

    #[test]
    fn hls_sessions_stay_bounded_without_being_counted() {
        let s = HlsSessions::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for k in 0..100_000u64 {
            s.touch(ip, k, k as i64); // one new "viewer" per millisecond
        }
        let len = s.seen.lock().unwrap().len();
        assert!(len <= 30_000 + 4096, "{len} sessions kept");
        assert_eq!(s.count(100_000), 29_999);
    }

    #[test]
    fn a_popular_channel_puts_its_next_segments_in_page_cache_files() {
        let live = Arc::new(LiveOutput::new(6, 6, 1 << 20, 1 << 20));
        live.set_segment_place(SegmentPlace {
            dir: None,
            popular_dir: Some(std::env::temp_dir()),
            popular_requests: 3,
        });
        live.push_segment(seg(1, false)); // nobody yet: a memfd
        for _ in 0..3 {
            live.segment_requested();
        }
        live.push_segment(seg(2, false)); // 3 requests during segment 1: on disk
        live.segment_requested();
        live.push_segment(seg(3, false)); // 1 request: a memfd again
        wait_for_files(&live);
        let on_disk: Vec<bool> = live
            .snapshot()
            .segments
            .iter()
            .map(|s| matches!(&s.body, SegmentBody::File(f) if f.is_on_disk()))
            .collect();
        assert_eq!(on_disk, [false, true, false]);
        assert_eq!(live.segments_on_disk(), 1);
        // a configured directory takes every segment; 0 never moves one
        live.set_segment_place(SegmentPlace {
            dir: None,
            popular_dir: Some(std::env::temp_dir()),
            popular_requests: 0,
        });
        for _ in 0..10 {
            live.segment_requested();
        }
        assert_eq!(live.next_segment_dir(), None);
        live.set_segment_place(SegmentPlace {
            dir: Some(std::env::temp_dir()),
            popular_dir: None,
            popular_requests: 0,
        });
        assert_eq!(live.next_segment_dir(), Some(std::env::temp_dir()));
    }

    #[test]
    fn window_sequence_and_discontinuity_sequence() {
        let live = Arc::new(LiveOutput::new(3, 6, 1 << 20, 1 << 20));
        for seq in 100..120 {
            live.push_segment(seg(seq, seq == 105 || seq == 117));
        }
        wait_for_files(&live);
        let snap = live.snapshot();
        let text = std::str::from_utf8(&snap.playlist).unwrap();
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:117\n"), "{text}");
        // 105 slid out of the window: it is counted in the discontinuity sequence
        assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{text}");
        assert_eq!(text.matches("#EXTINF").count(), 3);
        assert!(snap.segment(119).is_some());
        assert!(
            snap.segment(113).is_some(),
            "a few older segments stay for late readers"
        );
        assert!(snap.segment(112).is_none());
        assert!(snap.segment(100).is_none());
        assert!(snap.segment(200).is_none());
        // every segment kept lives in its read-only file only (its bytes in memory were
        // dropped), with the same bytes
        let s = snap.segment(119).unwrap();
        let SegmentBody::File(f) = &s.body else {
            panic!("segment still in memory")
        };
        let data = seg(119, false).data;
        assert_eq!(f.len(), data.len() as u64);
        assert_eq!(s.body.len(), data.len() as u64);
        assert_eq!(s.bytes().unwrap(), data);
        let mut back = vec![0u8; data.len()];
        let file = std::fs::File::from(f.fd().try_clone_to_owned().unwrap());
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut back, 0).unwrap();
        assert_eq!(back, &data[..]);
        // read-only (or sealed): the bytes can never change under a reader
        assert!(std::os::unix::fs::FileExt::write_at(&file, b"x", 0).is_err());
        // the memfd fallback too
        let m = SegmentFile::in_memfd(&data).unwrap();
        // and a configured directory
        let dir = std::env::temp_dir();
        let d = SegmentFile::new(&data, Some(&dir)).unwrap();
        let file = std::fs::File::from(d.fd().try_clone_to_owned().unwrap());
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut back, 0).unwrap();
        assert_eq!(back, &data[..]);
        assert!(std::os::unix::fs::FileExt::write_at(&file, b"x", 0).is_err());
        let file = std::fs::File::from(m.fd().try_clone_to_owned().unwrap());
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut back, 0).unwrap();
        assert_eq!(back, &data[..]);
        assert!(std::os::unix::fs::FileExt::write_at(&file, b"x", 0).is_err());
    }
}

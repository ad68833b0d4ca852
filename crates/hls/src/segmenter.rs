//! Keyframe-aligned MPEG-TS segmenter.
//!
//! Every segment starts with PAT/PMT and (when the channel has video) an IDR access unit carrying
//! SPS/PPS, so it decodes on its own. The same bytes are emitted as a continuous chunk stream
//! (continuity counters run on across segments) for HTTP-MPEG-TS viewers, who may join at any chunk
//! marked `segment_start`.

use bytes::{Bytes, BytesMut};
use media::{Frame, StreamInfo, Track, Ts90k, UtcMs};
use mpegts::Muxer;

use crate::timeline::WallClock;

#[derive(Debug, Clone, Copy)]
pub struct SegmenterConfig {
    /// Target segment duration. With `wall_grid`, segments are cut at the first keyframe on or
    /// after the next wall-clock multiple of it (see [`Segmenter`]); without, at the first
    /// keyframe at or after this much media time.
    pub target_90k: i64,
    /// Cut segments on the wall-clock grid (multiples of the target since the Unix epoch), so
    /// two servers fed the same source cut the same segments. Default: on.
    pub wall_grid: bool,
    /// A segment this long is cut even without a keyframe (a source that stopped sending them);
    /// the next segment starts with a discontinuity at the next keyframe. Default: 3 × target.
    pub max_duration_90k: i64,
    /// A segment holding this many bytes is cut the same way. Default: 64 MiB.
    pub max_bytes: usize,
}

impl SegmenterConfig {
    /// `target_90k` with the default limits derived from it.
    pub fn with_target(target_90k: i64) -> Self {
        SegmenterConfig {
            target_90k,
            wall_grid: true,
            max_duration_90k: 3 * target_90k,
            max_bytes: 64 << 20,
        }
    }
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        Self::with_target(6 * 90_000)
    }
}

/// A finished segment.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Media sequence number, strictly increasing per channel.
    pub seq: u64,
    /// Output-timeline DTS of the first frame.
    pub start_90k: Ts90k,
    /// Media duration (next segment's start minus this one's, or last frame end at a break).
    pub duration_90k: i64,
    /// Wall-clock start (see [`WallClock`]).
    pub start_utc: UtcMs,
    /// A discontinuity precedes this segment (source switch, timestamp jump, clock reset).
    pub discontinuity: bool,
    /// The wall clock stepped (backwards, or by more than [`WallClock::RESET_MS`] as the caller
    /// saw it) between the previous segment and this one; `start_utc` is still never before the
    /// previous segment's end (see [`WallClock`]). Implies `discontinuity` (unless first).
    pub clock_step: bool,
    /// MPEG-TS bytes, shared by reference with every viewer.
    pub data: Bytes,
}

#[derive(Debug, Clone)]
pub enum SegmentEvent {
    /// The next bytes of the continuous TS stream.
    Chunk { data: Bytes, segment_start: bool },
    /// A segment was closed.
    Segment(Segment),
}

struct Open {
    seq: u64,
    start_90k: Ts90k,
    start_utc: UtcMs,
    discontinuity: bool,
    clock_step: bool,
    /// The segment's bytes so far: the very chunks handed out as [`SegmentEvent::Chunk`]
    /// (shared, not copied), joined into one buffer when the segment closes.
    chunks: Vec<Bytes>,
    len: usize,
    /// Last DTS and the duration of the last frame on the primary track, to close the segment at a break.
    last_dts: Ts90k,
    last_frame_90k: i64,
}

/// Cuts frames into segments.
///
/// **The wall-clock grid.** Two origins ingesting the same source (multicast, or an encoder that
/// pushes to both) must cut the same segments, so that an edge switching from one to the other
/// continues its archive without a hole or an overlap. Their media timelines differ (each starts its own), but their wall clocks agree (the
/// head-end synchronises them), so cuts are decided on the wall clock: with a target of T ms, a
/// segment starting at wall time S (its PROGRAM-DATE-TIME) ends at the first keyframe whose wall
/// time is at or after `B - tol`, where B is the first multiple of T at or after `S + T/2` and
/// `tol` = min(500 ms, T/4) absorbs the ms by which the two servers see the same keyframe apart.
/// In steady state every segment then starts just after a multiple of T and both servers cut at
/// the same keyframe. A run starting mid-grid has a shorter or longer first segment; a GOP longer
/// than T gives segments spanning several grid steps (still cut at the same keyframes on both).
///
/// Numbers are not taken from the grid: they must never repeat across restarts (segment URLs
/// are cached as immutable) and never skip inside a run (HLS numbers segments implicitly), which
/// a grid number cannot promise once a discontinuity adds a cut between grid points. They start
/// at the caller's `first_seq` and rise by one; an edge maps each origin's numbers onto its own.
pub struct Segmenter {
    cfg: SegmenterConfig,
    muxer: Muxer,
    has_video: bool,
    wall: WallClock,
    next_seq: u64,
    open: Option<Open>,
    /// Duration of the last closed segment when the next one continues it (0 after a break).
    prev_duration_90k: i64,
    pending_discontinuity: bool,
    /// No segment opened yet: the first one never carries a discontinuity.
    fresh: bool,
    /// Frames dropped while waiting for a keyframe to start a segment.
    pub dropped_waiting_for_keyframe: u64,
    /// Frames refused because their DTS was over 1 s behind the last one of their track.
    pub dropped_non_monotonic: u64,
    /// Frames whose DTS was moved just after the last one of their track (repeat, small step back).
    pub repaired_non_monotonic: u64,
    /// Segments cut at the duration or size limit, without a keyframe.
    pub forced_cuts: u64,
    /// Last DTS accepted per track ([`track_index`]): output DTS is strictly increasing per
    /// track.
    last_dts: [Option<Ts90k>; TRACKS],
    /// The caller saw the wall clock step: the next segment is marked.
    pending_clock_step: bool,
    /// Where frames are muxed: each frame's TS is split off the front as its own `Bytes`, so
    /// one allocation serves many frames (one `malloc` per frame was the largest CPU cost of
    /// ingest at 100 channels). Replaced when the room left is less than the next frame needs.
    slab: BytesMut,
}

/// The least a new mux slab holds (a keyframe larger than this gets a slab of its own size).
const SLAB_BYTES: usize = 128 * 1024;
/// Room kept for PAT + PMT before a segment's first frame (a PMT of many streams spans
/// several packets).
const PSI_ROOM: usize = 8 * 188;

/// Tracks a segmenter tells apart: video, the audio tracks, the data streams.
const TRACKS: usize = 1 + media::MAX_AUDIO_TRACKS + media::MAX_DATA_STREAMS;

fn track_index(t: Track) -> usize {
    match t {
        Track::Video => 0,
        Track::Audio(n) => 1 + (n as usize).min(media::MAX_AUDIO_TRACKS - 1),
        Track::Data(n) => {
            1 + media::MAX_AUDIO_TRACKS + (n as usize).min(media::MAX_DATA_STREAMS - 1)
        }
    }
}

impl Segmenter {
    pub fn new(cfg: SegmenterConfig, first_seq: u64) -> Self {
        Segmenter {
            cfg,
            muxer: Muxer::new(&StreamInfo::default()),
            has_video: false,
            wall: WallClock::new(),
            next_seq: first_seq,
            open: None,
            prev_duration_90k: 0,
            pending_discontinuity: false,
            fresh: true,
            dropped_waiting_for_keyframe: 0,
            dropped_non_monotonic: 0,
            repaired_non_monotonic: 0,
            forced_cuts: 0,
            last_dts: [None; TRACKS],
            pending_clock_step: false,
            slab: BytesMut::new(),
        }
    }

    /// The caller saw the wall clock step (by comparing it with a monotonic clock): the next
    /// segment starts with a discontinuity and carries `clock_step`. Its wall start is still
    /// never before the previous segment's end.
    pub fn clock_stepped(&mut self, out: &mut Vec<SegmentEvent>) {
        self.discontinuity(out);
        self.pending_clock_step = true;
    }

    /// Bytes held in the open segment (bounded by `max_bytes` plus one frame).
    pub fn open_bytes(&self) -> usize {
        self.open.as_ref().map_or(0, |o| o.len)
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The stream description changed (new source or new codec parameters).
    pub fn set_info(&mut self, info: &StreamInfo) {
        self.has_video = info.video.is_some();
        self.muxer.set_info(info);
    }

    /// Close the open segment; the next one is marked as a discontinuity and re-anchored on the wall clock.
    pub fn discontinuity(&mut self, out: &mut Vec<SegmentEvent>) {
        self.close(None, out);
        self.prev_duration_90k = 0;
        self.pending_discontinuity = true;
        self.wall.reset();
    }

    /// Close the open segment at end of stream.
    pub fn flush(&mut self, out: &mut Vec<SegmentEvent>) {
        self.discontinuity(out);
    }

    fn close(&mut self, next_start: Option<Ts90k>, out: &mut Vec<SegmentEvent>) {
        if let Some(o) = self.open.take() {
            let end = next_start.unwrap_or(o.last_dts + Ts90k(o.last_frame_90k));
            let duration_90k = (end - o.start_90k).0.max(1);
            self.prev_duration_90k = duration_90k;
            self.wall.segment_ended(o.start_utc, duration_90k);
            out.push(SegmentEvent::Segment(Segment {
                seq: o.seq,
                start_90k: o.start_90k,
                duration_90k,
                start_utc: o.start_utc,
                discontinuity: o.discontinuity,
                clock_step: o.clock_step,
                data: join(o.chunks, o.len),
            }));
        }
    }

    /// Whether a cut point at `dts` ends the open segment `o` (see the grid in [`Segmenter`]).
    fn cut_due(&self, o: &Open, dts: Ts90k) -> bool {
        let elapsed_90k = (dts - o.start_90k).0;
        if !self.cfg.wall_grid {
            return elapsed_90k >= self.cfg.target_90k - 900;
        }
        let target_ms = (self.cfg.target_90k / 90).max(1);
        let tol_ms = (target_ms / 4).min(500);
        let boundary_ms = {
            let half_way = o.start_utc.0 + target_ms / 2;
            half_way.div_euclid(target_ms) * target_ms
                + if half_way.rem_euclid(target_ms) == 0 {
                    0
                } else {
                    target_ms
                }
        };
        o.start_utc.0 + elapsed_90k / 90 >= boundary_ms - tol_ms
    }

    /// Add one frame (output timeline) received at `arrival` wall time.
    pub fn push(&mut self, frame: &Frame, arrival: UtcMs, out: &mut Vec<SegmentEvent>) {
        let primary = if self.has_video {
            Track::Video
        } else {
            Track::Audio(0)
        };
        // Output DTS never goes backwards, nor repeats, per track: a frame up to 1 s behind the
        // last of its track is moved just after it (a repeated DTS from a sloppy muxer), one
        // further behind is refused.
        let ti = track_index(frame.track);
        let repaired;
        let frame = match self.last_dts[ti] {
            Some(last) if frame.dts_90k <= last => {
                if (last - frame.dts_90k).0 > 90_000 {
                    self.dropped_non_monotonic += 1;
                    return;
                }
                self.repaired_non_monotonic += 1;
                let mut f = frame.clone();
                f.dts_90k = last + Ts90k(1);
                f.pts_90k = f.pts_90k.max(f.dts_90k);
                repaired = f;
                &repaired
            }
            _ => frame,
        };
        let cut_point = frame.track == primary && (frame.keyframe || primary.is_audio());
        // A segment over its limits is cut even without a keyframe; what follows waits for one.
        if let Some(o) = &self.open {
            let too_long = (frame.dts_90k - o.start_90k).0 >= self.cfg.max_duration_90k;
            let too_big = o.len >= self.cfg.max_bytes;
            if !cut_point && (too_long || too_big) {
                self.forced_cuts += 1;
                let end = if too_long { Some(frame.dts_90k) } else { None };
                self.close(end, out);
                self.prev_duration_90k = 0;
                self.pending_discontinuity = true;
                self.wall.reset();
            }
        }
        let must_open = match &self.open {
            None => {
                if !cut_point {
                    self.dropped_waiting_for_keyframe += 1;
                    return;
                }
                true
            }
            Some(o) => cut_point && self.cut_due(o, frame.dts_90k),
        };
        // TS of a frame: payload + 4/184 of packet headers + PES header, AUD, parameter sets,
        // ADTS header and stuffing (over-estimated; running out only costs a reallocation)
        let need = frame.data.len() + frame.data.len() / 8 + 400 + PSI_ROOM;
        if self.slab.capacity() < need {
            self.slab = BytesMut::with_capacity(need.max(SLAB_BYTES));
        }
        if must_open {
            self.close(Some(frame.dts_90k), out);
            let d = self.wall.segment_start(self.prev_duration_90k, arrival);
            let clock_step = self.pending_clock_step || d.clock_step;
            let discontinuity = !self.fresh
                && (self.pending_discontinuity
                    || clock_step
                    || (d.reset && self.prev_duration_90k > 0));
            self.pending_discontinuity = false;
            self.pending_clock_step = false;
            self.fresh = false;
            self.open = Some(Open {
                seq: self.next_seq,
                start_90k: frame.dts_90k,
                start_utc: d.start_utc,
                discontinuity,
                clock_step,
                chunks: Vec::with_capacity(512),
                len: 0,
                last_dts: frame.dts_90k,
                last_frame_90k: 0,
            });
            self.next_seq += 1;
            self.muxer.write_psi(&mut self.slab);
        }
        self.last_dts[ti] = Some(frame.dts_90k);
        self.muxer.write_frame(frame, &mut self.slab);
        let o = self.open.as_mut().expect("segment open");
        if frame.track == primary {
            let delta = (frame.dts_90k - o.last_dts).0;
            if delta > 0 {
                o.last_frame_90k = delta;
            }
            o.last_dts = o.last_dts.max(frame.dts_90k);
        }
        let data = self.slab.split().freeze();
        o.len += data.len();
        o.chunks.push(data.clone());
        out.push(SegmentEvent::Chunk {
            data,
            segment_start: must_open,
        });
    }
}

/// One buffer of exactly `len` bytes holding `chunks` in order.
fn join(chunks: Vec<Bytes>, len: usize) -> Bytes {
    let mut buf = BytesMut::with_capacity(len);
    for c in chunks {
        buf.extend_from_slice(&c);
    }
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use media::{AudioConfig, Codec};

    const SPS: [u8; 25] = [
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03,
        0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19,
    ];

    fn info() -> StreamInfo {
        StreamInfo {
            video: Some(media::h264::video_config(
                vec![Bytes::from_static(&SPS)],
                vec![Bytes::from_static(&[0x68, 0xeb, 0xe3, 0xcb])],
            )),
            audio: vec![AudioConfig {
                codec: Some(Codec::Aac),
                sample_rate: 48_000,
                channels: 1,
                asc: Some(Bytes::from_static(&[0x11, 0x88])),
                ..Default::default()
            }],
            data: Vec::new(),
        }
    }

    fn video(dts: i64, key: bool) -> Frame {
        let nal: &[u8] = if key {
            &[0, 0, 0, 1, 0x65, 0x88, 0x84]
        } else {
            &[0, 0, 0, 1, 0x41, 0x9a, 0x02]
        };
        Frame {
            track: Track::Video,
            codec: Codec::H264,
            pts_90k: Ts90k(dts),
            dts_90k: Ts90k(dts),
            keyframe: key,
            data: Bytes::copy_from_slice(nal),
        }
    }

    fn audio(dts: i64) -> Frame {
        Frame {
            track: Track::Audio(0),
            codec: Codec::Aac,
            pts_90k: Ts90k(dts),
            dts_90k: Ts90k(dts),
            keyframe: true,
            data: Bytes::from_static(&[0x01, 0x40, 0x20, 0x07]),
        }
    }

    /// A wall time on the 6 s grid (arrival of dts 0 in [`run`]).
    const WALL0: i64 = 1_800_000_000_000;

    /// 25 fps video with a keyframe every `gop` frames, plus audio, for `secs` seconds; a frame
    /// with dts `d` arrives at `WALL0 + d / 90`.
    fn run(seg: &mut Segmenter, start: i64, secs: i64, gop: i64, out: &mut Vec<SegmentEvent>) {
        let mut a = start;
        for i in 0..secs * 25 {
            let dts = start + i * 3600;
            while a <= dts {
                seg.push(&audio(a), UtcMs(WALL0 + a / 90), out);
                a += 1920;
            }
            seg.push(&video(dts, i % gop == 0), UtcMs(WALL0 + dts / 90), out);
        }
    }

    /// The chunk events' bytes (the same `Bytes`, sharing their allocations).
    fn chunks(out: &[SegmentEvent]) -> Vec<Bytes> {
        out.iter()
            .filter_map(|e| match e {
                SegmentEvent::Chunk { data, .. } => Some(data.clone()),
                _ => None,
            })
            .collect()
    }

    fn segments(out: &[SegmentEvent]) -> Vec<Segment> {
        out.iter()
            .filter_map(|e| match e {
                SegmentEvent::Segment(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn frames_are_muxed_into_shared_slabs() {
        let mut seg = Segmenter::new(SegmenterConfig::default(), 0);
        seg.set_info(&info());
        let mut out = Vec::new();
        run(&mut seg, 0, 13, 50, &mut out);
        let chunks = chunks(&out);
        // a chunk that starts where the previous one ended is in the same allocation
        let fresh = 1 + chunks
            .windows(2)
            .filter(|w| w[0].as_ptr() as usize + w[0].len() != w[1].as_ptr() as usize)
            .count();
        let bytes: usize = chunks.iter().map(|c| c.len()).sum();
        assert!(chunks.len() > 900, "{} chunks", chunks.len());
        // small frames: many to a slab, not one allocation each
        assert!(
            fresh * 10 <= chunks.len() && fresh <= bytes / (SLAB_BYTES / 2) + 1,
            "{fresh} allocations for {} chunks, {bytes} bytes",
            chunks.len()
        );
        // a frame larger than a slab gets its own, and the bytes stay exact
        let mut big = video(13 * 90_000, true);
        big.data = Bytes::from([&[0u8, 0, 0, 1, 0x65][..], &[7u8; 300_000]].concat());
        let mut out2 = Vec::new();
        seg.push(&big, UtcMs(WALL0 + 13_000), &mut out2);
        let Some(SegmentEvent::Chunk { data, .. }) = out2.last() else {
            panic!("no chunk for the big frame")
        };
        assert!(data.len() > 300_000 && data.len() % 188 == 0);
    }

    #[test]
    fn cuts_on_keyframes_at_target() {
        let mut seg = Segmenter::new(SegmenterConfig::default(), 0);
        seg.set_info(&info());
        let mut out = Vec::new();
        run(&mut seg, 0, 31, 50, &mut out);
        let segs = segments(&out);
        assert_eq!(segs.len(), 5);
        for (k, s) in segs.iter().enumerate() {
            assert_eq!(s.seq, k as u64);
            assert_eq!(s.duration_90k, 540_000);
            assert_eq!(s.start_90k, Ts90k(k as i64 * 540_000));
            assert_eq!(s.start_utc, UtcMs(WALL0 + k as i64 * 6000));
            assert!(!s.discontinuity);
            assert_eq!(s.data.len() % 188, 0);
            assert_eq!(&s.data[..1], &[0x47]);
        }
        // the chunk stream is exactly the segments' bytes back to back
        let chunks: Vec<u8> = chunks(&out).iter().flat_map(|c| c.to_vec()).collect();
        let joined: Vec<u8> = segs.iter().flat_map(|s| s.data.to_vec()).collect();
        assert!(chunks.starts_with(&joined));
    }

    #[test]
    fn long_gop_gives_longer_segments_and_waits_for_keyframe() {
        let mut seg = Segmenter::new(SegmenterConfig::default(), 7);
        seg.set_info(&info());
        let mut out = Vec::new();
        // first frames are not keyframes: dropped
        seg.push(&video(0, false), UtcMs(0), &mut out);
        assert_eq!(seg.dropped_waiting_for_keyframe, 1);
        run(&mut seg, 3600, 40, 250, &mut out); // 10 s GOP
        let segs = segments(&out);
        assert_eq!(segs[0].seq, 7);
        assert!(segs.windows(2).all(|w| w[1].seq == w[0].seq + 1));
        assert!(segs.iter().all(|s| s.duration_90k == 900_000));
        // off the grid: cut by media time
        let mut seg = Segmenter::new(
            SegmenterConfig {
                wall_grid: false,
                ..SegmenterConfig::default()
            },
            7,
        );
        seg.set_info(&info());
        let mut out = Vec::new();
        run(&mut seg, 3600, 40, 250, &mut out);
        let segs = segments(&out);
        assert_eq!(segs[0].seq, 7);
        assert!(segs.iter().all(|s| s.duration_90k == 900_000));
    }

    #[test]
    fn discontinuity_closes_and_flags() {
        let mut seg = Segmenter::new(SegmenterConfig::default(), 0);
        seg.set_info(&info());
        let mut out = Vec::new();
        run(&mut seg, 0, 8, 50, &mut out);
        seg.discontinuity(&mut out);
        run(&mut seg, 8 * 90_000, 7, 50, &mut out);
        let segs = segments(&out);
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[1].duration_90k, 2 * 90_000);
        assert!(!segs[1].discontinuity);
        assert!(segs[2].discontinuity);
    }

    /// One keyframe, then a minute of frames without one (a broken or hostile encoder):
    /// segments are cut at 3 × target anyway, the frames after a forced cut wait for a keyframe
    /// (dropped and counted), and the segment after that is a discontinuity.
    #[test]
    fn no_keyframe_segments_are_cut_at_the_duration_limit() {
        let mut seg = Segmenter::new(SegmenterConfig::default(), 0);
        seg.set_info(&info());
        let mut out = Vec::new();
        // 60 s: keyframe only at frame 0
        run(&mut seg, 0, 60, 100_000, &mut out);
        let segs = segments(&out);
        assert_eq!(segs.len(), 1, "one forced cut at 18 s, then nothing opens");
        assert_eq!(segs[0].duration_90k, 18 * 90_000);
        assert_eq!(seg.forced_cuts, 1);
        assert_eq!(seg.open_bytes(), 0);
        assert!(seg.dropped_waiting_for_keyframe >= 42 * 25);
        // the next keyframe opens a segment marked as a discontinuity
        run(&mut seg, 60 * 90_000, 13, 25, &mut out);
        let segs = segments(&out);
        assert_eq!(segs.len(), 3);
        assert!(segs[1].discontinuity && !segs[2].discontinuity);
        assert!(segs.iter().all(|s| s.duration_90k <= 18 * 90_000));
    }

    #[test]
    fn segments_are_cut_at_the_size_limit() {
        let cfg = SegmenterConfig {
            max_bytes: 4000,
            ..SegmenterConfig::default()
        };
        let mut seg = Segmenter::new(cfg, 0);
        seg.set_info(&info());
        let mut out = Vec::new();
        let mut big = video(0, true);
        big.data = Bytes::from(vec![0u8; 3000]);
        seg.push(&big, UtcMs(0), &mut out);
        for i in 1..10 {
            let mut f = video(i * 3600, false);
            f.data = Bytes::from(vec![1u8; 3000]);
            seg.push(&f, UtcMs(0), &mut out);
            assert!(seg.open_bytes() < 4000 + 4000);
        }
        assert_eq!(seg.forced_cuts, 1);
        assert_eq!(segments(&out).len(), 1);
    }

    /// DTS that repeats or goes back a little on a track is moved just after the last one; one
    /// far behind is refused; per track.
    #[test]
    fn dts_not_after_the_last_of_its_track_is_repaired_or_refused() {
        let mut seg = Segmenter::new(SegmenterConfig::default(), 0);
        seg.set_info(&info());
        let mut out = Vec::new();
        seg.push(&video(900_000, true), UtcMs(0), &mut out);
        seg.push(&audio(890_000), UtcMs(0), &mut out);
        seg.push(&video(900_000, false), UtcMs(0), &mut out); // repeat: repaired
        seg.push(&video(896_400, false), UtcMs(0), &mut out); // 40 ms back: repaired
        seg.push(&audio(890_000), UtcMs(0), &mut out); // repeat: repaired
        seg.push(&video(100_000, false), UtcMs(0), &mut out); // far back: refused
        assert_eq!(seg.repaired_non_monotonic, 3);
        assert_eq!(seg.dropped_non_monotonic, 1);
        seg.push(&video(903_600, false), UtcMs(0), &mut out);
        seg.push(&audio(891_920), UtcMs(0), &mut out);
        assert_eq!(seg.repaired_non_monotonic, 3);
        // read back: strictly increasing per track
        seg.flush(&mut out);
        let mut demux = mpegts::Demuxer::new();
        let mut evs = Vec::new();
        for e in &out {
            if let SegmentEvent::Chunk { data, .. } = e {
                demux.push(data, &mut evs);
            }
        }
        demux.flush(&mut evs);
        let mut last = [i64::MIN; TRACKS];
        let mut n = 0;
        for e in evs {
            if let media::MediaEvent::Frame(f) = e {
                let l = &mut last[track_index(f.track)];
                assert!(
                    f.dts_90k.0 > *l,
                    "{:?} {} after {}",
                    f.track,
                    f.dts_90k.0,
                    *l
                );
                *l = f.dts_90k.0;
                n += 1;
            }
        }
        assert_eq!(n, 7);
    }

    /// Frames arrive while the wall clock steps back an hour, then forward an hour: segment wall
    /// starts (PDT) never go backwards, the step is marked once (discontinuity + `clock_step`),
    /// and a step the caller saw (`clock_stepped`) is marked too.
    #[test]
    fn wall_starts_never_go_backwards_across_clock_steps() {
        const HOUR: i64 = 3_600_000;
        let mut seg = Segmenter::new(SegmenterConfig::default(), 0);
        seg.set_info(&info());
        let mut out = Vec::new();
        let t0 = 1_795_000_000_000i64;
        for i in 0..(25 * 600) {
            let dts = i * 3600;
            let real = t0 + dts / 90;
            // the system clock reads an hour behind from 120 s to 360 s
            let wall = if (120_000..360_000).contains(&(dts / 90)) {
                real - HOUR
            } else {
                real
            };
            if i == 25 * 480 {
                seg.clock_stepped(&mut out);
            }
            seg.push(&video(dts, i % 50 == 0), UtcMs(wall), &mut out);
        }
        seg.flush(&mut out);
        let segs = segments(&out);
        assert!(segs.windows(2).all(|w| w[1].start_utc > w[0].start_utc));
        let stepped: Vec<u64> = segs
            .iter()
            .filter(|s| s.clock_step)
            .map(|s| s.seq - segs[0].seq)
            .collect();
        assert_eq!(stepped, vec![20, 80], "{stepped:?}");
        assert!(segs
            .iter()
            .filter(|s| s.clock_step)
            .all(|s| s.discontinuity));
        // back on time after the forward step
        let last = segs.last().unwrap();
        assert!((last.start_utc.0 - (t0 + last.start_90k.0 / 90)).abs() < 1000);
    }

    /// Two servers fed the same source (keyframes every 2 s at any phase to the grid), each
    /// with its own media timeline, its own few ms of arrival jitter, one joining 7.3 s after
    /// the other: once the later one runs, both cut the same segments (same wall start within
    /// the jitter, same media duration). Phases whose keyframes fall
    /// within the jitter of a cut threshold (`B - 500 ms`) are the known exception.
    #[test]
    fn two_servers_fed_the_same_source_cut_the_same_segments_on_the_wall_grid() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut jitter = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % 30) as i64
        };
        for phase_ms in (0..2000).step_by(37) {
            if (phase_ms - 1500i64).abs() < 60 {
                continue;
            }
            // source time s (ms): frame every 40 ms, keyframe when (s - phase) % 2000 == 0
            let run_server = |join_ms: i64, dts_offset: i64, jitter: &mut dyn FnMut() -> i64| {
                let mut seg = Segmenter::new(SegmenterConfig::default(), 0);
                seg.set_info(&info());
                let mut out = Vec::new();
                let first = (join_ms + 39) / 40;
                for f in first..(120_000 / 40) {
                    let s_ms = f * 40 + phase_ms % 40;
                    let key = (s_ms - phase_ms).rem_euclid(2000) == 0;
                    let dts = dts_offset + s_ms * 90;
                    seg.push(&video(dts, key), UtcMs(WALL0 + s_ms + jitter()), &mut out);
                }
                segments(&out)
            };
            let a = run_server(0, 0, &mut jitter);
            let b = run_server(7_300, 5_000_000, &mut jitter);
            // b's first segment may be partial; every later one has its twin in a
            for s in &b[1..] {
                let twin = a
                    .iter()
                    .find(|t| (t.start_utc.0 - s.start_utc.0).abs() <= 60)
                    .unwrap_or_else(|| panic!("phase {phase_ms}: no twin for {}", s.start_utc.0));
                assert_eq!(twin.duration_90k, s.duration_90k, "phase {phase_ms}");
            }
            // and each starts within a GOP after a grid point
            for s in &a[1..] {
                let into = (s.start_utc.0 + 500).rem_euclid(6000);
                assert!(into < 2000 + 60, "phase {phase_ms}: {}", s.start_utc.0);
            }
        }
    }
}

//! Maps each source's timestamps onto a channel's continuous output timeline (docs/time.md §2).
//! Pure: frames in, re-based frames and decisions out.

use media::{Frame, Track, Ts90k, MAX_AUDIO_TRACKS, MAX_DATA_STREAMS};

/// Output DTS of the first frame of a channel (10 s, so PTS before DTS never goes negative).
const FIRST_OUT_DTS_90K: i64 = 10 * 90_000;
/// Where a new source (or the far side of a jump) continues: one 25 fps frame after the last output.
pub const STEP_90K: i64 = 3600;
/// A primary-track step forward beyond this is a jump (a gap in the source's clock).
const MAX_FORWARD_90K: i64 = 5 * 90_000;
/// Other tracks' frames further than this from the primary (source time) are dropped.
const MAX_TRACK_SKEW_90K: i64 = 2 * 90_000;

pub struct Rebaser {
    offset: Option<i64>,
    /// Largest output DTS so far (any track).
    pub last_out_dts: i64,
    /// Last output DTS of each non-primary track ([`slot`]; each kept strictly increasing).
    last_out_secondary: [i64; TRACKS],
    last_in_primary: Option<i64>,
}

/// Tracks told apart: video, the audio tracks, the data streams.
const TRACKS: usize = 1 + MAX_AUDIO_TRACKS + MAX_DATA_STREAMS;

fn slot(t: Track) -> usize {
    match t {
        Track::Video => 0,
        Track::Audio(n) => 1 + (n as usize).min(MAX_AUDIO_TRACKS - 1),
        Track::Data(n) => 1 + MAX_AUDIO_TRACKS + (n as usize).min(MAX_DATA_STREAMS - 1),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapped {
    Keep,
    /// The primary track's timestamps jumped from the first to the second value (source DTS).
    Jump(i64, i64),
    Drop,
}

impl Default for Rebaser {
    fn default() -> Self {
        Self::new()
    }
}

impl Rebaser {
    pub fn new() -> Self {
        Rebaser {
            offset: None,
            last_out_dts: FIRST_OUT_DTS_90K,
            last_out_secondary: [0; TRACKS],
            last_in_primary: None,
        }
    }

    /// Next frame comes from a new source: continue the output one frame after the last one.
    pub fn reset(&mut self) {
        self.offset = None;
        self.last_in_primary = None;
    }

    /// Frames put on the output timeline by someone else (the slate) advance it too: what a
    /// source sends next on any track lands after them.
    pub fn note_output(&mut self, dts_90k: i64, primary: bool) {
        self.last_out_dts = self.last_out_dts.max(dts_90k);
        if !primary {
            for last in &mut self.last_out_secondary {
                *last = (*last).max(dts_90k);
            }
        }
    }

    /// Re-bases `f`. The primary track (video, or audio when there is none) drives the offset:
    /// any step back of its DTS, or a step forward over 5 s, is a jump: the offset
    /// is recomputed so the frame lands one frame after the last output, and the jump is
    /// reported (the caller cuts with a discontinuity). Other tracks follow; their frames are
    /// dropped while they disagree with the primary by more than 2 s (they belong to the other
    /// side of a jump the primary has not shown yet), before the primary has set the offset,
    /// or when they would not move forward on the output.
    pub fn map(&mut self, f: &mut Frame, primary: bool) -> Mapped {
        if !primary {
            let Some(off) = self.offset else {
                return Mapped::Drop;
            };
            if self
                .last_in_primary
                .is_some_and(|lp| (f.dts_90k.0 - lp).abs() > MAX_TRACK_SKEW_90K)
            {
                return Mapped::Drop;
            }
            let dts = f.dts_90k.0 + off;
            let last = &mut self.last_out_secondary[slot(f.track)];
            if dts <= *last {
                return Mapped::Drop;
            }
            *last = dts;
            f.dts_90k = Ts90k(dts);
            f.pts_90k = Ts90k(f.pts_90k.0 + off);
            self.last_out_dts = self.last_out_dts.max(dts);
            return Mapped::Keep;
        }
        let mut result = Mapped::Keep;
        if let (Some(_), Some(last)) = (self.offset, self.last_in_primary) {
            let d = f.dts_90k.0 - last;
            if !(0..=MAX_FORWARD_90K).contains(&d) {
                self.offset = None;
                result = Mapped::Jump(last, f.dts_90k.0);
            }
        }
        self.last_in_primary = Some(f.dts_90k.0);
        let next = self.last_out_dts + STEP_90K;
        // (with the same offset the primary does not go back since d >= 0 — a repeated DTS is
        // repaired by the segmenter; a new offset lands after everything output so far)
        let off = *self.offset.get_or_insert(next - f.dts_90k.0);
        f.dts_90k = Ts90k(f.dts_90k.0 + off);
        f.pts_90k = Ts90k(f.pts_90k.0 + off);
        self.last_out_dts = self.last_out_dts.max(f.dts_90k.0);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use hls::{SegmentEvent, Segmenter, SegmenterConfig};
    use media::{Codec, MediaEvent, Track, UtcMs};

    fn vf(dts: i64) -> Frame {
        Frame {
            track: Track::Video,
            codec: Codec::H264,
            pts_90k: Ts90k(dts + 3600),
            dts_90k: Ts90k(dts),
            keyframe: false,
            data: Bytes::new(),
        }
    }

    fn af(dts: i64) -> Frame {
        Frame {
            track: Track::Audio(0),
            codec: Codec::Aac,
            pts_90k: Ts90k(dts),
            dts_90k: Ts90k(dts),
            keyframe: true,
            data: Bytes::new(),
        }
    }

    fn jumped(r: &mut Rebaser, f: &mut Frame) -> bool {
        matches!(r.map(f, true), Mapped::Jump(..))
    }

    #[test]
    fn every_audio_track_and_data_stream_keeps_its_own_frames() {
        // two audio languages and a teletext stream on the same times (a satellite receiver's
        // tracks): none of them is dropped for following another
        let mut r = Rebaser::new();
        let mut v = vf(0);
        assert_eq!(r.map(&mut v, true), Mapped::Keep);
        let mut kept = [0; 3];
        for k in 0..50 {
            for (i, track) in [Track::Audio(0), Track::Audio(1), Track::Data(0)]
                .into_iter()
                .enumerate()
            {
                let mut f = Frame {
                    track,
                    ..af(k * 1920)
                };
                if r.map(&mut f, false) == Mapped::Keep {
                    kept[i] += 1;
                }
            }
        }
        assert_eq!(kept, [50, 50, 50]);
        // a repeat on one track is still dropped
        let mut f = Frame {
            track: Track::Audio(1),
            ..af(49 * 1920)
        };
        assert_eq!(r.map(&mut f, false), Mapped::Drop);
    }

    #[test]
    fn rebaser_keeps_output_continuous_across_jumps_and_sources() {
        let mut r = Rebaser::new();
        let mut out = Vec::new();
        for k in 0..10 {
            let mut f = vf(1_000_000 + k * 3600);
            assert!(!jumped(&mut r, &mut f));
            out.push(f.dts_90k.0);
        }
        // source timestamps jump back by an hour (encoder restart)
        let mut f = vf(5000);
        assert!(jumped(&mut r, &mut f));
        out.push(f.dts_90k.0);
        // a different source with its own clock
        r.reset();
        let mut f = vf(8_589_000_000);
        assert!(!jumped(&mut r, &mut f));
        out.push(f.dts_90k.0);
        assert!(out.windows(2).all(|w| w[1] - w[0] == 3600), "{out:?}");
        assert_eq!(f.pts_90k.0 - f.dts_90k.0, 3600);
    }

    /// A step back of less than a second is a jump too: it was kept as is before, and the
    /// output went backwards.
    #[test]
    fn a_small_step_back_is_a_jump_rebased_forward() {
        let mut r = Rebaser::new();
        let mut a = vf(900_000);
        r.map(&mut a, true);
        let mut b = vf(900_000 - 45_000);
        assert_eq!(r.map(&mut b, true), Mapped::Jump(900_000, 855_000));
        assert_eq!(b.dts_90k.0, a.dts_90k.0 + STEP_90K);
        let mut c = vf(855_000 - 1);
        assert!(jumped(&mut r, &mut c));
        assert!(c.dts_90k > b.dts_90k);
    }

    #[test]
    fn audio_follows_video_and_never_crosses_a_jump_or_goes_back() {
        let mut r = Rebaser::new();
        // audio before the first video frame: no offset yet
        assert_eq!(r.map(&mut af(1_000_000), false), Mapped::Drop);
        assert_eq!(r.map(&mut vf(1_000_000), true), Mapped::Keep);
        let mut a = af(1_000_100);
        assert_eq!(r.map(&mut a, false), Mapped::Keep);
        // audio already on the far side of a jump the video has not shown yet
        assert_eq!(r.map(&mut af(50_000_000), false), Mapped::Drop);
        assert_eq!(
            r.map(&mut vf(50_000_000), true),
            Mapped::Jump(1_000_000, 50_000_000)
        );
        let mut a2 = af(50_000_000);
        assert_eq!(r.map(&mut a2, false), Mapped::Keep);
        assert!(a2.dts_90k > a.dts_90k);
        // a new source whose audio lags its video: audio that would go backwards is dropped
        r.reset();
        assert_eq!(r.map(&mut vf(7_000_000), true), Mapped::Keep);
        let mut late = af(7_000_000 - 9000);
        assert_eq!(r.map(&mut late, false), Mapped::Drop);
        assert_eq!(r.map(&mut af(7_000_000 + 1800), false), Mapped::Keep);
    }

    /// Property: whatever the source does (steps back and forth of any size on either track,
    /// repeats, source switches), what the runner writes (Rebaser, then Segmenter, read back
    /// with the demuxer) has strictly increasing DTS per track, and audio stays within 2 s of video.
    #[test]
    fn output_dts_strictly_increases_per_track_under_random_steps() {
        const SPS: [u8; 25] = [
            0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00,
            0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19,
        ];
        let info = media::StreamInfo {
            video: Some(media::h264::video_config(
                vec![Bytes::from_static(&SPS)],
                vec![Bytes::from_static(&[0x68, 0xeb, 0xe3, 0xcb])],
            )),
            audio: vec![media::AudioConfig {
                codec: Some(Codec::Aac),
                sample_rate: 48_000,
                channels: 1,
                asc: Some(Bytes::from_static(&[0x11, 0x88])),
                ..Default::default()
            }],
            data: Vec::new(),
        };
        for seed in 1..=40u64 {
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut next = move |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n
            };
            let mut r = Rebaser::new();
            let mut seg = Segmenter::new(SegmenterConfig::default(), 0);
            seg.set_info(&info);
            let mut out = Vec::new();
            let (mut v, mut a) = (1_000_000i64, 1_000_000i64);
            for i in 0..3000 {
                // video: mostly one frame on, sometimes a step of -3 s..+7 s
                v += match next(20) {
                    0 => next(10 * 90_000) as i64 - 3 * 90_000,
                    1 => -(next(90_000) as i64),
                    2 => 0,
                    _ => 3600,
                };
                if next(300) == 0 {
                    r.reset(); // a source switch
                }
                let key = i % 25 == 0 || next(50) == 0;
                let mut f = vf(v);
                f.keyframe = key;
                f.data = Bytes::from_static(if key {
                    &[0, 0, 0, 1, 0x65, 0x88, 0x84]
                } else {
                    &[0, 0, 0, 1, 0x41, 0x9a, 0x02]
                });
                if let Mapped::Jump(..) = r.map(&mut f, true) {
                    seg.discontinuity(&mut out);
                }
                seg.push(&f, UtcMs(0), &mut out);
                // audio: follows video with jitter and its own steps
                for _ in 0..next(3) {
                    a = match next(30) {
                        0 => a - next(120_000) as i64,
                        1 => v + next(200_000) as i64 - 100_000,
                        _ => a.max(v - 20_000) + 1920,
                    };
                    let mut f = af(a);
                    f.data = Bytes::from_static(&[0xff, 0xf1, 0x50, 0x80, 0x01, 0x7f, 0xfc, 0x21]);
                    if r.map(&mut f, false) == Mapped::Keep {
                        seg.push(&f, UtcMs(0), &mut out);
                    }
                }
            }
            seg.flush(&mut out);
            let mut demux = mpegts::Demuxer::new();
            let mut evs = Vec::new();
            for e in &out {
                if let SegmentEvent::Chunk { data, .. } = e {
                    demux.push(data, &mut evs);
                }
            }
            demux.flush(&mut evs);
            let (mut last_v, mut last_a) = (i64::MIN, i64::MIN);
            let mut n = 0;
            for e in evs {
                let MediaEvent::Frame(f) = e else { continue };
                n += 1;
                let last = match f.track {
                    Track::Video => &mut last_v,
                    _ => &mut last_a,
                };
                assert!(
                    f.dts_90k.0 > *last,
                    "seed {seed}: {:?} dts {} after {}",
                    f.track,
                    f.dts_90k.0,
                    *last
                );
                *last = f.dts_90k.0;
                // each audio frame lands within 2 s of the video written before it
                if f.track.is_audio() && last_v != i64::MIN {
                    assert!(
                        (last_v - last_a).abs() <= MAX_TRACK_SKEW_90K + STEP_90K,
                        "seed {seed}: A/V apart {}",
                        last_v - last_a
                    );
                }
            }
            assert!(n > 1000, "seed {seed}: only {n} frames out");
        }
    }
}

//! Atoll's built-in test source: a colour-bar test card (or a "channel unavailable" slate) with
//! a running clock, encoded in-process to H.264 with OpenH264, plus silent AAC-LC audio.
//!
//! Sans-IO: no sockets, no threads, no clock reads. The caller passes media time (and the
//! wall-clock time to print) to [`TestSource::generate`] and gets [`media::Frame`]s back.
//!
//! ```no_run
//! use media::{Ts90k, UtcMs};
//! use testsrc::{TestSource, TestSourceConfig};
//! let mut src = TestSource::new(TestSourceConfig::test_card("My channel")).unwrap();
//! let info = src.info(); // announce this first
//! let mut frames = Vec::new();
//! // every tick: media time since start, and the wall-clock time that corresponds to it
//! src.generate(Ts90k::from_ms(1000), UtcMs(1_795_000_001_000), &mut frames);
//! ```

mod canvas;
pub mod font;
mod render;
pub mod silence;

use bytes::Bytes;
use media::h264::{annexb_nals, nal_type, NAL_IDR, NAL_PPS, NAL_SPS};
use media::{AudioConfig, Codec, Frame, StreamInfo, Track, Ts90k, UtcMs};
use openh264::encoder::{
    Complexity, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, RateControlMode,
    SpsPpsStrategy, UsageType, VuiConfig,
};
use openh264::formats::YUVSlices;
use openh264::{OpenH264API, Timestamp};

use canvas::Canvas;
use render::Renderer;

/// What the picture shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// Colour bars, a scrolling gradient band with a sweeping box, the label, a large clock and
    /// the frame counter.
    TestCard,
    /// Dark background with `text` centred (one line per `\n`), the label below it, and the clock.
    Slate { text: String },
}

/// Configuration of a [`TestSource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSourceConfig {
    /// Picture width in pixels (even, 16..=3840).
    pub width: u32,
    /// Picture height in pixels (even, 16..=2160).
    pub height: u32,
    /// Frames per second (1..=120). Frame `n` has pts `n * 90000 / fps`.
    pub fps: u32,
    /// Keyframe (IDR) interval in frames (>= 1).
    pub gop: u32,
    /// Drawn on the picture (e.g. the channel name). Empty: none.
    pub label: String,
    pub pattern: Pattern,
    /// Offset of the displayed clock from UTC, in minutes (e.g. 60 for UTC+01:00).
    pub utc_offset_min: i32,
    /// Target video bitrate, bits per second.
    pub bitrate_bps: u32,
    /// Draw the clock and the info line. Off for a slate that is encoded once and looped.
    pub show_clock: bool,
}

impl Default for TestSourceConfig {
    fn default() -> Self {
        TestSourceConfig {
            width: 640,
            height: 360,
            fps: 25,
            gop: 50,
            label: "ATOLL TEST".into(),
            pattern: Pattern::TestCard,
            utc_offset_min: 0,
            bitrate_bps: 800_000,
            show_clock: true,
        }
    }
}

impl TestSourceConfig {
    /// 640×360, 25 fps, 2 s GOP test card showing `label`.
    pub fn test_card(label: &str) -> Self {
        TestSourceConfig {
            label: label.into(),
            ..Default::default()
        }
    }

    /// 640×360, 25 fps, 2 s GOP "CHANNEL UNAVAILABLE" slate showing `label` (the channel name).
    pub fn slate(label: &str) -> Self {
        TestSourceConfig {
            label: label.into(),
            pattern: Pattern::Slate {
                text: "CHANNEL UNAVAILABLE".into(),
            },
            ..Default::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TestSrcError {
    #[error("invalid test source config: {0}")]
    Config(String),
    #[error("H.264 encoder: {0}")]
    Encoder(String),
}

/// Generates the test stream. See the crate docs.
pub struct TestSource {
    cfg: TestSourceConfig,
    renderer: Renderer,
    canvas: Canvas,
    encoder: Encoder,
    info: StreamInfo,
    silent: Bytes,
    next_video: u64,
    next_audio: u64,
    encode_errors: u64,
    /// Frames by which the IDR cadence is shifted: frame `n` is an IDR when
    /// `(n + gop_phase) % gop == 0` (see [`TestSource::align_gop_to_wall`]).
    gop_phase: u64,
}

impl std::fmt::Debug for TestSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSource")
            .field("cfg", &self.cfg)
            .field("next_video", &self.next_video)
            .field("next_audio", &self.next_audio)
            .field("encode_errors", &self.encode_errors)
            .finish_non_exhaustive()
    }
}

fn new_encoder(cfg: &TestSourceConfig) -> Result<Encoder, TestSrcError> {
    let ec = EncoderConfig::new()
        .bitrate(openh264::encoder::BitRate::from_bps(cfg.bitrate_bps))
        .max_frame_rate(FrameRate::from_hz(cfg.fps as f32))
        .rate_control_mode(RateControlMode::Bitrate)
        .skip_frames(false)
        .usage_type(UsageType::CameraVideoRealTime)
        .complexity(Complexity::Low)
        .sps_pps_strategy(SpsPpsStrategy::ConstantId)
        .scene_change_detect(false)
        .background_detection(false)
        .adaptive_quantization(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(cfg.gop))
        .num_threads(1)
        .vui(VuiConfig::bt601());
    Encoder::with_api_config(OpenH264API::from_source(), ec)
        .map_err(|e| TestSrcError::Encoder(e.to_string()))
}

fn encode(
    enc: &mut Encoder,
    c: &Canvas,
    w: u32,
    h: u32,
    pts: i64,
) -> Result<Vec<u8>, openh264::Error> {
    let cw = c.chroma_width();
    let yuv = YUVSlices::new(
        (c.y_plane(), c.u_plane(), c.v_plane()),
        (w as usize, h as usize),
        (w as usize, cw, cw),
    );
    let bs = enc.encode_at(&yuv, Timestamp::from_millis(pts.max(0) as u64 / 90))?;
    Ok(bs.to_vec())
}

/// The SPS and PPS NAL units (without start codes) in an Annex B access unit.
fn parameter_sets(au: &[u8]) -> (Option<Bytes>, Option<Bytes>) {
    let (mut sps, mut pps) = (None, None);
    for n in annexb_nals(au) {
        match nal_type(n) {
            NAL_SPS if sps.is_none() => sps = Some(Bytes::copy_from_slice(n)),
            NAL_PPS if pps.is_none() => pps = Some(Bytes::copy_from_slice(n)),
            _ => {}
        }
    }
    (sps, pps)
}

impl TestSource {
    /// Validates the config and sets up the encoder. Encodes one probe picture with a throwaway
    /// encoder of the same configuration to learn the SPS/PPS for [`TestSource::info`].
    pub fn new(cfg: TestSourceConfig) -> Result<TestSource, TestSrcError> {
        let bad = |m: &str| Err(TestSrcError::Config(m.to_string()));
        if cfg.width & 1 != 0 || cfg.height & 1 != 0 {
            return bad("width and height must be even");
        }
        if !(16..=3840).contains(&cfg.width) || !(16..=2160).contains(&cfg.height) {
            return bad("size must be between 16x16 and 3840x2160");
        }
        if !(1..=120).contains(&cfg.fps) {
            return bad("fps must be 1..=120");
        }
        if cfg.gop == 0 {
            return bad("gop must be at least 1 frame");
        }
        if !(10_000..=100_000_000).contains(&cfg.bitrate_bps) {
            return bad("bitrate must be 10 kbit/s..100 Mbit/s");
        }
        if cfg.utc_offset_min.abs() > 24 * 60 {
            return bad("utc offset must be within ±24 h");
        }
        let renderer = Renderer::new(
            cfg.width,
            cfg.height,
            cfg.fps,
            cfg.utc_offset_min,
            cfg.pattern.clone(),
            cfg.label.clone(),
            cfg.show_clock,
        );
        let mut canvas = Canvas::new(cfg.width as usize, cfg.height as usize);
        renderer.render(&mut canvas, 0, 0);
        let mut probe = new_encoder(&cfg)?;
        let au = encode(&mut probe, &canvas, cfg.width, cfg.height, 0)
            .map_err(|e| TestSrcError::Encoder(e.to_string()))?;
        drop(probe);
        let (Some(sps), Some(pps)) = parameter_sets(&au) else {
            return Err(TestSrcError::Encoder(
                "first access unit carries no SPS/PPS".into(),
            ));
        };
        let encoder = new_encoder(&cfg)?;
        let asc = silence::asc();
        let info = StreamInfo {
            video: Some(media::h264::video_config(vec![sps], vec![pps])),
            audio: vec![AudioConfig {
                codec: Some(Codec::Aac),
                sample_rate: asc.sample_rate,
                channels: asc.channels,
                asc: Some(Bytes::copy_from_slice(&asc.serialize())),
                ..Default::default()
            }],
            data: Vec::new(),
        };
        Ok(TestSource {
            cfg,
            renderer,
            canvas,
            encoder,
            info,
            silent: Bytes::copy_from_slice(&silence::silent_frame()),
            next_video: 0,
            next_audio: 0,
            encode_errors: 0,
            gop_phase: 0,
        })
    }

    /// Stream description: H.264 (SPS/PPS from the encoder) and AAC-LC 48 kHz mono.
    pub fn info(&self) -> StreamInfo {
        self.info.clone()
    }

    pub fn config(&self) -> &TestSourceConfig {
        &self.cfg
    }

    /// Switches between test card and slate from the next frame on.
    pub fn set_pattern(&mut self, pattern: Pattern) {
        self.cfg.pattern = pattern.clone();
        self.renderer.set_pattern(pattern);
    }

    /// Changes the label from the next frame on.
    pub fn set_label(&mut self, label: &str) {
        self.cfg.label = label.to_string();
        self.renderer.set_label(label.to_string());
    }

    /// Places the IDR frames on wall-clock multiples of the GOP duration, given the wall time
    /// of frame 0 (`first_frame_utc`): two sources started at different moments (two origins
    /// running the same test channel) then have their keyframes at the same wall times, so
    /// segments cut on the wall-clock grid line up. Frame 0 is an IDR anyway (the first GOP is
    /// shorter). Call before the first `generate`.
    pub fn align_gop_to_wall(&mut self, first_frame_utc: UtcMs) {
        let gop_ms = self.cfg.gop as i64 * 1000 / self.cfg.fps as i64;
        if gop_ms <= 0 {
            return;
        }
        let into_gop_ms = first_frame_utc.0.rem_euclid(gop_ms);
        // whole frames since the last grid point: the IDR is the first frame at or after the next
        // one (less than a frame late)
        let frames = into_gop_ms * self.cfg.fps as i64 / 1000;
        self.gop_phase = frames as u64 % self.cfg.gop as u64;
    }

    /// Number of video frames produced so far.
    pub fn video_frames(&self) -> u64 {
        self.next_video
    }

    /// Frames the encoder failed on (dropped; the next frame is forced to be an IDR).
    pub fn encode_errors(&self) -> u64 {
        self.encode_errors
    }

    /// Media time of video frame `n`.
    fn video_pts(&self, n: u64) -> i64 {
        (n as i128 * Ts90k::HZ as i128 / self.cfg.fps as i128) as i64
    }

    /// Media time of the next frame (video or audio) not yet produced.
    pub fn next_pts(&self) -> Ts90k {
        Ts90k(
            self.video_pts(self.next_video)
                .min(self.next_audio as i64 * silence::FRAME_TICKS),
        )
    }

    /// Produces every frame with `pts < until` not produced yet (media time since the source
    /// started, 0-based), video and audio interleaved in dts order. Video frames are spaced
    /// exactly 90000/fps apart (pts == dts); every `gop`-th frame is an IDR access unit that
    /// carries SPS and PPS. Audio frames are silent raw AAC frames of 1920 ticks.
    ///
    /// `wall` is the wall-clock time corresponding to `until`; a frame at `pts` shows the time
    /// `wall - (until - pts)`.
    pub fn generate(&mut self, until: Ts90k, wall: UtcMs, out: &mut Vec<Frame>) {
        loop {
            let vp = self.video_pts(self.next_video);
            let ap = self.next_audio as i64 * silence::FRAME_TICKS;
            let (v_due, a_due) = (vp < until.0, ap < until.0);
            if v_due && (!a_due || vp <= ap) {
                let shown = wall.0 - (until.0 - vp).div_euclid(90);
                if let Some(f) = self.video_frame(vp, shown) {
                    out.push(f);
                }
                self.next_video += 1;
            } else if a_due {
                out.push(Frame {
                    track: Track::Audio(0),
                    codec: Codec::Aac,
                    pts_90k: Ts90k(ap),
                    dts_90k: Ts90k(ap),
                    keyframe: true,
                    data: self.silent.clone(),
                });
                self.next_audio += 1;
            } else {
                break;
            }
        }
    }

    fn video_frame(&mut self, pts: i64, shown_ms: i64) -> Option<Frame> {
        let n = self.next_video;
        self.renderer.render(&mut self.canvas, n, shown_ms);
        let want_idr = (n + self.gop_phase).checked_rem(self.cfg.gop as u64) == Some(0);
        // the encoder is initialised lazily by its first encode, which is an IDR anyway
        if want_idr && n > 0 {
            self.encoder.force_intra_frame();
        }
        let au = match encode(
            &mut self.encoder,
            &self.canvas,
            self.cfg.width,
            self.cfg.height,
            pts,
        ) {
            Ok(au) if !au.is_empty() => au,
            _ => {
                self.encode_errors += 1;
                if n > 0 {
                    self.encoder.force_intra_frame();
                }
                return None;
            }
        };
        let idr = annexb_nals(&au).any(|n| nal_type(n) == NAL_IDR);
        let data = if idr {
            let (sps, pps) = parameter_sets(&au);
            if let Some(sps) = &sps {
                // keep info() truthful should the encoder ever change its parameter sets
                let v = self.info.video.as_ref();
                if v.is_some_and(|v| v.sps.first() != Some(sps))
                    || (pps.is_some() && v.is_some_and(|v| v.pps.first() != pps.as_ref()))
                {
                    let pps = pps.clone().into_iter().collect();
                    self.info.video = Some(media::h264::video_config(vec![sps.clone()], pps));
                }
            }
            if sps.is_none() || pps.is_none() {
                // make every keyframe self-contained
                let v = self.info.video.as_ref()?;
                let mut d = Vec::with_capacity(au.len() + 64);
                let rest = annexb_nals(&au).filter(|n| !matches!(nal_type(n), NAL_SPS | NAL_PPS));
                for nal in v
                    .sps
                    .iter()
                    .map(|b| &b[..])
                    .chain(v.pps.iter().map(|b| &b[..]))
                    .chain(rest)
                {
                    d.extend_from_slice(&[0, 0, 0, 1]);
                    d.extend_from_slice(nal);
                }
                d
            } else {
                au
            }
        } else {
            au
        };
        Some(Frame {
            track: Track::Video,
            codec: Codec::H264,
            pts_90k: Ts90k(pts),
            dts_90k: Ts90k(pts),
            keyframe: idr,
            data: Bytes::from(data),
        })
    }
}

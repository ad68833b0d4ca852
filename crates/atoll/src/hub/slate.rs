//! The "channel unavailable" slate: one GOP encoded once at start-up, looped with fresh
//! timestamps for every offline channel (no per-channel encoding cost).

use std::sync::Arc;

use media::{Frame, StreamInfo, Track, Ts90k};

pub struct SlateLoop {
    pub info: StreamInfo,
    /// One GOP of video, dts from 0.
    video: Vec<Frame>,
    loop_90k: i64,
    /// One silent AAC frame, repeated.
    audio: Option<Frame>,
    audio_step_90k: i64,
}

impl SlateLoop {
    pub fn build() -> anyhow::Result<SlateLoop> {
        let cfg = testsrc::TestSourceConfig {
            show_clock: false,
            ..testsrc::TestSourceConfig::slate("")
        };
        let fps = cfg.fps as i64;
        let gop = cfg.gop as i64;
        let mut src = testsrc::TestSource::new(cfg)?;
        let info = src.info();
        let mut frames = Vec::new();
        let loop_90k = gop * 90_000 / fps;
        src.generate(Ts90k(loop_90k - 1), media::UtcMs(0), &mut frames);
        let video: Vec<Frame> = frames
            .iter()
            .filter(|f| f.track == Track::Video)
            .cloned()
            .collect();
        let audio = frames.iter().find(|f| f.track.is_audio()).cloned();
        let audio_step_90k = info
            .audio
            .first()
            .map(|a| media::aac::frame_duration_90k(a.sample_rate))
            .unwrap_or(1920);
        anyhow::ensure!(
            video.first().is_some_and(|f| f.keyframe),
            "slate GOP must start with a keyframe"
        );
        Ok(SlateLoop {
            info,
            video,
            loop_90k,
            audio,
            audio_step_90k,
        })
    }
}

/// Plays the slate loop at real pace on a channel's output timeline.
pub struct SlatePlayer {
    slate: Arc<SlateLoop>,
    started_mono_ms: i64,
    base_90k: i64,
    next_video: u64,
    next_audio: u64,
}

impl SlatePlayer {
    pub fn new(slate: Arc<SlateLoop>, now_mono_ms: i64, base_90k: i64) -> Self {
        SlatePlayer {
            slate,
            started_mono_ms: now_mono_ms,
            base_90k,
            next_video: 0,
            next_audio: 0,
        }
    }

    /// Frames due by `now_mono_ms`, in dts order, on the output timeline.
    pub fn frames_until(&mut self, now_mono_ms: i64, out: &mut Vec<Frame>) {
        let until = (now_mono_ms - self.started_mono_ms) * 90;
        let n = self.slate.video.len() as u64;
        loop {
            let k = self.next_video;
            let src = &self.slate.video[(k % n) as usize];
            let v_dts = (k / n) as i64 * self.slate.loop_90k + src.dts_90k.0;
            let a_dts = self.next_audio as i64 * self.slate.audio_step_90k;
            let audio_first = self.slate.audio.is_some() && a_dts < v_dts;
            let dts = if audio_first { a_dts } else { v_dts };
            if dts > until {
                break;
            }
            let mut f = if audio_first {
                self.next_audio += 1;
                self.slate.audio.clone().expect("checked")
            } else {
                self.next_video += 1;
                src.clone()
            };
            let shift = self.base_90k + dts - f.dts_90k.0;
            f.dts_90k = Ts90k(f.dts_90k.0 + shift);
            f.pts_90k = Ts90k(f.pts_90k.0 + shift);
            out.push(f);
        }
    }
}

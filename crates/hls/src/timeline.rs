//! Wall-clock reconciliation for a channel's output timeline.
//!
//! A segment's duration is always its media duration (from the stream's timestamps), so players see
//! exact durations. Its start on the wall clock (`#EXT-X-PROGRAM-DATE-TIME`) is the previous segment's
//! wall start plus its media duration, nudged toward the wall time at which the segment's first frame
//! was *received*. The nudge is bounded ([`WallClock::MAX_SLEW_PPM`] of the elapsed media time), so
//! network jitter barely moves the timeline while a source clock that runs fast or slow (up to ~1%)
//! is tracked. An error beyond [`WallClock::RESET_MS`] (a stalled source, a burst, a clock step) resets
//! the anchor to the observed time; the caller marks that as a discontinuity.

use media::UtcMs;

#[derive(Debug, Clone)]
pub struct WallClock {
    /// Wall time of the current segment start, in microseconds (kept finer than ms to avoid rounding creep).
    anchor_utc_us: Option<i64>,
}

/// What [`WallClock::segment_start`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallDecision {
    pub start_utc: UtcMs,
    /// True when the timeline was re-anchored (large error); callers mark a discontinuity.
    pub reset: bool,
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}

impl WallClock {
    /// Largest correction per unit of media time: 2% (20,000 ppm). Sources whose clock is off by
    /// more than that are re-anchored, which shows as a discontinuity.
    pub const MAX_SLEW_PPM: i64 = 20_000;
    /// An error larger than this re-anchors the timeline.
    pub const RESET_MS: i64 = 10_000;

    pub fn new() -> Self {
        WallClock {
            anchor_utc_us: None,
        }
    }

    /// Forget the anchor (source switch): the next segment starts at its observed arrival time.
    pub fn reset(&mut self) {
        self.anchor_utc_us = None;
    }

    /// The wall start of a new segment, given the previous segment's media duration (`prev_duration_90k`,
    /// 0 for the first) and the wall time the new segment's first frame was received.
    pub fn segment_start(&mut self, prev_duration_90k: i64, observed: UtcMs) -> WallDecision {
        let observed_us = observed.0 * 1000;
        let decision = match self.anchor_utc_us {
            None => (observed_us, true),
            Some(prev) => {
                let predicted = prev + prev_duration_90k * 100 / 9; // 90 kHz ticks -> µs
                let err = observed_us - predicted;
                if err.abs() > Self::RESET_MS * 1000 || prev_duration_90k <= 0 {
                    (observed_us, true)
                } else {
                    let max = (prev_duration_90k * 100 / 9) * Self::MAX_SLEW_PPM / 1_000_000;
                    (predicted + err.clamp(-max, max), false)
                }
            }
        };
        self.anchor_utc_us = Some(decision.0);
        WallDecision {
            start_utc: UtcMs(decision.0.div_euclid(1000)),
            reset: decision.1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source whose clock runs `ppm` fast for 72 hours of 6 s segments, received with jitter:
    /// the timeline must stay within one segment (and in practice far less) of the true clock.
    fn drift(ppm: i64) -> i64 {
        let mut wc = WallClock::new();
        let t0 = 1_795_000_000_000i64;
        let seg_media_90k = 6 * 90_000;
        // each segment of 6 s of *media* time takes 6 s * (1 - ppm) of real time
        let real_per_seg_us = 6_000_000 * (1_000_000 - ppm) / 1_000_000;
        let mut real_us = 0i64;
        let mut worst = 0i64;
        let mut rng = 0x1234_5678u64;
        for k in 0..(72 * 600) {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let jitter_ms = ((rng >> 33) % 300) as i64; // 0..300 ms late
            let observed = UtcMs(t0 + real_us / 1000 + jitter_ms);
            let d = wc.segment_start(if k == 0 { 0 } else { seg_media_90k }, observed);
            assert!(!d.reset || k == 0, "reset at segment {k}");
            let truth = t0 + real_us / 1000;
            worst = worst.max((d.start_utc.0 - truth).abs());
            real_us += real_per_seg_us;
        }
        worst
    }

    #[test]
    fn tracks_fast_and_slow_sources_over_72h() {
        for ppm in [-1000, -100, 0, 100, 1000, 5000] {
            let worst = drift(ppm);
            assert!(worst < 1000, "ppm {ppm}: worst error {worst} ms");
        }
    }

    #[test]
    fn large_error_resets() {
        let mut wc = WallClock::new();
        assert!(wc.segment_start(0, UtcMs(1_000_000)).reset);
        let d = wc.segment_start(540_000, UtcMs(1_006_000));
        assert_eq!(
            d,
            WallDecision {
                start_utc: UtcMs(1_006_000),
                reset: false
            }
        );
        let d = wc.segment_start(540_000, UtcMs(1_060_000));
        assert!(d.reset);
        assert_eq!(d.start_utc, UtcMs(1_060_000));
    }
}

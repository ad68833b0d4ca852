//! Wall-clock reconciliation for a channel's output timeline.
//!
//! A segment's duration is always its media duration (from the stream's timestamps), so players see
//! exact durations. Its start on the wall clock (`#EXT-X-PROGRAM-DATE-TIME`) is the previous segment's
//! wall start plus its media duration, nudged toward the wall time at which the segment's first frame
//! was *received*. The nudge is bounded ([`WallClock::MAX_SLEW_PPM`] of the elapsed media time), so
//! network jitter barely moves the timeline while a source clock that runs fast or slow (up to ~1%)
//! is tracked. An error beyond [`WallClock::RESET_MS`] (a stalled source, a burst, a clock step) resets
//! the anchor to the observed time; the caller marks that as a discontinuity.
//!
//! Wall starts never go backwards: a segment never starts before the previous one ended (on this
//! timeline), even across [`WallClock::reset`]. When the observed time falls more than
//! [`WallClock::RESET_MS`] behind (the wall clock stepped back), the timeline is not re-anchored
//! backwards: it is flagged once (`clock_step`) and then slewed back toward the wall clock at the
//! bounded rate, so it converges (or meets the clock again when it steps forward).

use media::UtcMs;

#[derive(Debug, Clone)]
pub struct WallClock {
    /// Wall time of the current segment start, in microseconds (kept finer than ms to avoid rounding creep).
    anchor_utc_us: Option<i64>,
    /// End of the last segment started (anchor + its duration, known at the next call): the floor
    /// for any later start, kept across resets.
    floor_utc_us: Option<i64>,
    /// The observed time is (still) far behind the timeline after a backward clock step.
    behind: bool,
}

/// What [`WallClock::segment_start`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallDecision {
    pub start_utc: UtcMs,
    /// True when the timeline was re-anchored (large error); callers mark a discontinuity.
    pub reset: bool,
    /// The observed wall time fell behind the timeline by more than `RESET_MS` (the wall clock
    /// stepped back): the start was held at or after the previous end instead. Set once per step.
    pub clock_step: bool,
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
            floor_utc_us: None,
            behind: false,
        }
    }

    /// Forget the anchor (source switch): the next segment starts at its observed arrival time,
    /// but never before the previous segment's end.
    pub fn reset(&mut self) {
        self.anchor_utc_us = None;
    }

    /// A segment that started at `start_utc` (as decided here) closed with `duration_90k` of
    /// media: a later start is never before its end less the largest slew (so never before its
    /// start, and never moved back by more than the bounded correction), even after a reset.
    pub fn segment_ended(&mut self, start_utc: UtcMs, duration_90k: i64) {
        let dur_us = duration_90k.max(0) * 100 / 9;
        let end = start_utc.0 * 1000 + dur_us - dur_us * Self::MAX_SLEW_PPM / 1_000_000;
        self.raise_floor(end.max(start_utc.0 * 1000 + 1000));
    }

    fn raise_floor(&mut self, floor_us: i64) {
        self.floor_utc_us = Some(self.floor_utc_us.map_or(floor_us, |f| f.max(floor_us)));
    }

    /// The wall start of a new segment, given the previous segment's media duration (`prev_duration_90k`,
    /// 0 for the first) and the wall time the new segment's first frame was received.
    pub fn segment_start(&mut self, prev_duration_90k: i64, observed: UtcMs) -> WallDecision {
        let observed_us = observed.0 * 1000;
        let reset_us = Self::RESET_MS * 1000;
        let mut clock_step = false;
        let (mut start, reset) = match self.anchor_utc_us {
            Some(prev) if prev_duration_90k > 0 => {
                let dur_us = prev_duration_90k * 100 / 9; // 90 kHz ticks -> µs
                let predicted = prev + dur_us;
                let err = observed_us - predicted;
                let max = dur_us * Self::MAX_SLEW_PPM / 1_000_000;
                self.raise_floor(predicted - max);
                if err < -reset_us {
                    // far behind: the wall clock stepped back; slew toward it, never jump back
                    clock_step = !self.behind;
                    self.behind = true;
                    (predicted - max, clock_step)
                } else if err > reset_us {
                    self.behind = false;
                    (observed_us, true)
                } else {
                    self.behind = false;
                    (predicted + err.clamp(-max, max), false)
                }
            }
            _ => {
                let behind = self
                    .floor_utc_us
                    .is_some_and(|f| observed_us < f - reset_us);
                clock_step = behind && !self.behind;
                self.behind = behind;
                (observed_us, true)
            }
        };
        // never before the end of the previous segment
        if let Some(f) = self.floor_utc_us {
            start = start.max(f);
        }
        self.anchor_utc_us = Some(start);
        WallDecision {
            start_utc: UtcMs(start.div_euclid(1000)),
            reset,
            clock_step,
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
                reset: false,
                clock_step: false,
            }
        );
        let d = wc.segment_start(540_000, UtcMs(1_060_000));
        assert!(d.reset);
        assert_eq!(d.start_utc, UtcMs(1_060_000));
    }

    /// The wall clock steps back an hour, then forward an hour, while segments keep coming every
    /// 6 s of media (and of real time): starts never go backwards, the step is flagged once, and
    /// the timeline meets the wall clock again when it steps forward.
    #[test]
    fn clock_step_back_and_forward_never_goes_backwards() {
        const HOUR: i64 = 3_600_000;
        let mut wc = WallClock::new();
        let t0 = 1_795_000_000_000i64;
        let mut starts = Vec::new();
        let mut steps = Vec::new();
        for k in 0..600i64 {
            let real = t0 + k * 6000;
            // the system clock reads an hour behind for segments 100..400
            let observed = if (100..400).contains(&k) {
                real - HOUR
            } else {
                real
            };
            // a source switch (reset) in the middle of the stepped period too
            if k == 250 {
                wc.segment_ended(UtcMs(*starts.last().unwrap()), 540_000);
                wc.reset();
            }
            let d = wc.segment_start(
                if k == 0 || k == 250 { 0 } else { 540_000 },
                UtcMs(observed),
            );
            if d.clock_step {
                steps.push(k);
            }
            starts.push(d.start_utc.0);
        }
        assert!(
            starts.windows(2).all(|w| w[1] > w[0]),
            "start went backwards"
        );
        assert_eq!(steps, vec![100], "flagged once, at the step");
        // slewed back at most 2 % while behind: 300 segments of 6 s -> at most 36 s
        let lag = starts[399] - (t0 + 399 * 6000);
        assert!((HOUR - 40_000..=HOUR).contains(&(lag + HOUR)), "lag {lag}");
        // after the forward step the timeline follows the wall clock again
        assert!((starts[599] - (t0 + 599 * 6000)).abs() < 1000);
    }

    /// After a reset (source switch) the first start is the observed time, unless the clock went
    /// back: then it is held at the previous end.
    #[test]
    fn reset_never_goes_back_before_the_previous_end() {
        let mut wc = WallClock::new();
        let d = wc.segment_start(0, UtcMs(1_000_000));
        wc.segment_ended(d.start_utc, 540_000);
        wc.reset();
        let d = wc.segment_start(0, UtcMs(1_000_000 - 3_600_000));
        assert!(d.reset && d.clock_step);
        assert!(d.start_utc.0 >= 1_000_000 + 5880);
        // a small step back after a reset is not a clock step, just held at the floor
        wc.segment_ended(d.start_utc, 540_000);
        wc.reset();
        let e = wc.segment_start(0, UtcMs(d.start_utc.0 + 1000));
        assert!(e.start_utc > d.start_utc);
    }
}

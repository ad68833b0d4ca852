//! The play head of one simulated player: media downloaded minus media played.
//! Playback starts when the first segment is in; whenever the play head reaches the end of
//! the downloaded media, the player stalls until the next segment arrives.

use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct PlayHead {
    started: bool,
    /// Seconds of media downloaded since the start.
    downloaded_s: f64,
    /// Seconds of media played.
    played_s: f64,
    /// Wall time up to which `played_s` is accounted.
    last: Option<Instant>,
    stalled_since: Option<Instant>,
    pub stalls: u64,
    pub stalled: Duration,
}

/// What a call changed, for the live counters.
#[derive(Debug, Default, PartialEq)]
pub struct Change {
    pub stall_began: bool,
    pub stall_ended: bool,
}

impl PlayHead {
    pub fn buffer_s(&self) -> f64 {
        self.downloaded_s - self.played_s
    }

    /// Plays up to `now`.
    pub fn advance(&mut self, now: Instant) -> Change {
        let mut c = Change::default();
        let Some(last) = self.last else {
            return c;
        };
        if self.stalled_since.is_some() || now <= last {
            return c;
        }
        let dt = (now - last).as_secs_f64();
        let avail = self.buffer_s();
        if dt >= avail {
            self.played_s = self.downloaded_s;
            self.stalled_since = Some(last + Duration::from_secs_f64(avail.max(0.0)));
            self.stalls += 1;
            c.stall_began = true;
        } else {
            self.played_s += dt;
        }
        self.last = Some(now);
        c
    }

    /// A segment of `duration_s` finished downloading at `now`.
    pub fn add(&mut self, duration_s: f64, now: Instant) -> Change {
        if !self.started {
            self.started = true;
            self.last = Some(now);
            self.downloaded_s = duration_s;
            return Change::default();
        }
        let mut c = self.advance(now);
        if let Some(s) = self.stalled_since.take() {
            self.stalled += now.saturating_duration_since(s);
            c.stall_ended = true;
        }
        self.last = Some(now);
        self.downloaded_s += duration_s;
        c
    }

    /// The run ends at `now`: closes an ongoing stall.
    pub fn finish(&mut self, now: Instant) -> Change {
        let mut c = self.advance(now);
        if let Some(s) = self.stalled_since.take() {
            self.stalled += now.saturating_duration_since(s);
            c.stall_ended = true;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_stall_while_buffer_lasts() {
        let t0 = Instant::now();
        let mut p = PlayHead::default();
        p.add(6.0, t0);
        p.add(6.0, t0 + Duration::from_secs(1));
        p.add(6.0, t0 + Duration::from_secs(2));
        assert!((p.buffer_s() - 16.0).abs() < 1e-6);
        p.add(6.0, t0 + Duration::from_secs(17));
        p.finish(t0 + Duration::from_secs(20));
        assert_eq!(p.stalls, 0);
        assert_eq!(p.stalled, Duration::ZERO);
    }

    #[test]
    fn counts_stall_and_stalled_time() {
        let t0 = Instant::now();
        let mut p = PlayHead::default();
        p.add(6.0, t0);
        // runs dry at 6 s, next segment at 8 s: 2 s stall
        let c = p.advance(t0 + Duration::from_secs(7));
        assert!(c.stall_began);
        let c = p.add(6.0, t0 + Duration::from_secs(8));
        assert!(c.stall_ended);
        assert_eq!(p.stalls, 1);
        assert!((p.stalled.as_secs_f64() - 2.0).abs() < 1e-6);
        // dry again at 14 s and still stalled at the end (16 s): 2 s more
        p.finish(t0 + Duration::from_secs(16));
        assert_eq!(p.stalls, 2);
        assert!((p.stalled.as_secs_f64() - 4.0).abs() < 1e-6);
    }
}

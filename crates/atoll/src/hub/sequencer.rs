//! Numbering of relayed segments on an edge (pure).
//!
//! An edge serves its origin's segments byte for byte with the origin's own sequence numbers and
//! PROGRAM-DATE-TIME, so a viewer moved between nodes continues seamlessly. Across a switch to
//! another origin (whose numbers and cuts differ), an origin restart or a hole in what was
//! fetched, the edge's own rules still hold: sequence numbers strictly increase, a segment never
//! starts before the previous one ended on the wall clock (content already served is skipped),
//! and a discontinuity marks every break.

/// What the edge learns about a segment from its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incoming {
    /// Which origin (index in the edge's list) it came from.
    pub origin: usize,
    pub seq: u64,
    pub start_utc_ms: i64,
    pub duration_90k: i64,
    /// The origin marked a discontinuity before it.
    pub discontinuity: bool,
}

/// How the edge serves an accepted segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub seq: u64,
    pub discontinuity: bool,
}

/// Why a segment was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// Already relayed (the same origin's number, or older).
    Seen,
    /// Ends before what was already served ends (another origin's copy of the same minutes).
    Covered,
}

/// Slack for comparing wall-clock ends across origins (their cuts differ by up to a frame or two
/// and their clocks by a little).
pub const OVERLAP_SLACK_MS: i64 = 500;

#[derive(Debug, Default, Clone)]
pub struct RelaySequencer {
    /// The last segment taken: its origin and the origin's number for it.
    last_in: Option<(usize, u64)>,
    /// The edge's number for it.
    last_out: Option<u64>,
    /// Its wall-clock end (ms).
    last_end_utc_ms: Option<i64>,
}

impl RelaySequencer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides where `s` goes, or why it is skipped.
    pub fn accept(&mut self, s: &Incoming) -> Result<Placed, Skipped> {
        let end_ms = s.start_utc_ms + s.duration_90k.max(0) / 90;
        let continues = match self.last_in {
            Some((o, seq)) if o == s.origin => {
                if s.seq == seq + 1 {
                    true
                } else if s.seq <= seq {
                    // the same numbers again, unless the origin started over (restart)
                    let later = self
                        .last_end_utc_ms
                        .is_some_and(|e| s.start_utc_ms >= e - OVERLAP_SLACK_MS);
                    if !later {
                        return Err(Skipped::Seen);
                    }
                    false
                } else {
                    false // a hole: something was missed
                }
            }
            _ => false,
        };
        if !continues {
            if let Some(e) = self.last_end_utc_ms {
                if end_ms <= e + OVERLAP_SLACK_MS {
                    return Err(Skipped::Covered);
                }
            }
        }
        let seq = match self.last_out {
            None => s.seq,
            Some(prev) => s.seq.max(prev + 1),
        };
        let placed = Placed {
            seq,
            discontinuity: if self.last_out.is_none() {
                s.discontinuity
            } else {
                s.discontinuity || !continues
            },
        };
        self.last_in = Some((s.origin, s.seq));
        self.last_out = Some(seq);
        self.last_end_utc_ms = Some(self.last_end_utc_ms.map_or(end_ms, |e| e.max(end_ms)));
        Ok(placed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: i64 = 6 * 90_000;

    fn seg(origin: usize, seq: u64, start_s: i64) -> Incoming {
        Incoming {
            origin,
            seq,
            start_utc_ms: start_s * 1000,
            duration_90k: D,
            discontinuity: false,
        }
    }

    #[test]
    fn the_origins_numbers_are_kept() {
        let mut r = RelaySequencer::new();
        for i in 0..10 {
            let p = r.accept(&seg(0, 1000 + i, 6 * i as i64)).unwrap();
            assert_eq!(
                p,
                Placed {
                    seq: 1000 + i,
                    discontinuity: false
                }
            );
        }
        // asked again (an overlapping long-poll answer): skipped
        assert_eq!(r.accept(&seg(0, 1005, 30)), Err(Skipped::Seen));
        assert_eq!(r.accept(&seg(0, 1009, 54)), Err(Skipped::Seen));
    }

    #[test]
    fn the_origins_discontinuities_are_kept_and_a_hole_adds_one() {
        let mut r = RelaySequencer::new();
        r.accept(&seg(0, 1, 0)).unwrap();
        let mut s = seg(0, 2, 6);
        s.discontinuity = true;
        assert!(r.accept(&s).unwrap().discontinuity);
        // 3 and 4 were missed
        let p = r.accept(&seg(0, 5, 24)).unwrap();
        assert_eq!(
            p,
            Placed {
                seq: 5,
                discontinuity: true
            }
        );
    }

    #[test]
    fn a_switch_to_another_origin_skips_what_was_served_and_keeps_numbers_rising() {
        let mut r = RelaySequencer::new();
        for i in 0..5 {
            r.accept(&seg(0, 500 + i, 6 * i as i64)).unwrap(); // ends at 30 s
        }
        // origin 1 cuts 2 s later and numbers from 480
        assert_eq!(r.accept(&seg(1, 478, 20)), Err(Skipped::Covered)); // 20..26
        let p = r.accept(&seg(1, 479, 26)).unwrap(); // 26..32: new content
        assert_eq!(
            p,
            Placed {
                seq: 505,
                discontinuity: true
            }
        );
        let p = r.accept(&seg(1, 480, 32)).unwrap();
        assert_eq!(
            p,
            Placed {
                seq: 506,
                discontinuity: false
            }
        );
        // origin 1 numbers higher than the edge's: its numbers are taken as they are
        let mut r = RelaySequencer::new();
        r.accept(&seg(0, 10, 0)).unwrap();
        let p = r.accept(&seg(1, 900, 6)).unwrap();
        assert_eq!(
            p,
            Placed {
                seq: 900,
                discontinuity: true
            }
        );
    }

    #[test]
    fn an_origin_restart_continues_after_what_was_served() {
        let mut r = RelaySequencer::new();
        r.accept(&seg(0, 100, 0)).unwrap();
        r.accept(&seg(0, 101, 6)).unwrap();
        // the origin restarted with lower numbers (its clock was set back), later content
        let p = r.accept(&seg(0, 50, 20)).unwrap();
        assert_eq!(
            p,
            Placed {
                seq: 102,
                discontinuity: true
            }
        );
        let p = r.accept(&seg(0, 51, 26)).unwrap();
        assert_eq!(
            p,
            Placed {
                seq: 103,
                discontinuity: false
            }
        );
    }

    /// Whatever arrives, from whichever origin: numbers strictly rise and starts never go back
    /// before the previous end.
    #[test]
    fn invariants_hold_for_random_arrivals() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for _ in 0..200 {
            let mut r = RelaySequencer::new();
            let mut last: Option<(u64, i64)> = None;
            let mut t = [0i64; 3];
            let mut n = [1000u64, 400, 2000];
            for _ in 0..200 {
                let o = rnd(3) as usize;
                // each origin moves on, sometimes repeats, sometimes restarts
                match rnd(10) {
                    0 => n[o] = n[o].saturating_sub(rnd(50)),
                    1 => {}
                    _ => {
                        n[o] += 1 + rnd(2);
                        t[o] += 4 + rnd(4) as i64;
                    }
                }
                let s = Incoming {
                    origin: o,
                    seq: n[o],
                    start_utc_ms: t[o] * 1000 + rnd(900) as i64,
                    duration_90k: D,
                    discontinuity: rnd(20) == 0,
                };
                if let Ok(p) = r.accept(&s) {
                    let end = s.start_utc_ms + D / 90;
                    if let Some((seq, prev_end)) = last {
                        assert!(p.seq > seq, "numbers rise");
                        assert!(end > prev_end, "every segment taken brings new time");
                    }
                    last = Some((p.seq, end));
                }
            }
        }
    }
}

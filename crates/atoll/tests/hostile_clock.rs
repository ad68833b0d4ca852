//! Hostile clock against the running binary: the wall clock of a debug build is stepped through
//! its test hook (`ATOLL_TEST_CLOCK_OFFSET_FILE`, see src/clock.rs; the monotonic clock is
//! untouched) back 1 h and then forward 1 h while the demo channel records.
//!
//! What the code does, and what is asserted here:
//! - the live timeline never goes backwards: PROGRAM-DATE-TIME is non-decreasing within every
//!   playlist and across fetches, through both steps;
//! - the archive never gets overlapping segments (its intervals stay disjoint and ordered);
//! - each step is detected (hub::channel::Runner::watch_clock), logged "wall clock stepped" and
//!   counted; the live segment after it starts with a discontinuity;
//! - the step back leaves no hole at all (the timeline carries on from the previous segment's
//!   end and slews, so the archive stays adjacent: no gap, no overlap); the step forward
//!   re-anchors the timeline on the wall clock and the hole before that segment is exactly one
//!   gap with reason `clock_step` (the live segment's `clock_step` flag reaches the recorder);
//! - `atoll_channel_clock_steps_total` counts both steps.

mod common;

use std::time::{Duration, Instant};

use common::*;

const T: Duration = Duration::from_secs(60);

/// "2026-11-24T09:42:25.683Z" -> unix milliseconds.
fn parse_pdt_ms(s: &str) -> i64 {
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let t: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    let days = media::time::days_from_civil(d[0], d[1] as u32, d[2] as u32);
    days * 86_400_000 + ((t[0] * 3600.0 + t[1] * 60.0 + t[2]) * 1000.0).round() as i64
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Fetches the live playlist over and over, checking that PROGRAM-DATE-TIME never goes back.
struct Watcher {
    /// the newest segment seen: (media sequence number, PDT ms)
    last: Option<(u64, i64)>,
    /// segment sequence numbers that follow an EXT-X-DISCONTINUITY
    discontinuities: std::collections::BTreeSet<u64>,
    fetches: usize,
}

impl Watcher {
    fn new() -> Self {
        Watcher {
            last: None,
            discontinuities: Default::default(),
            fetches: 0,
        }
    }

    /// One fetch; returns the newest media sequence number seen so far.
    fn poll(&mut self, a: &Atoll) -> u64 {
        let (s, b) = a.get("/live/demo/index.m3u8");
        if s != 200 {
            return self.last.map_or(0, |l| l.0);
        }
        self.fetches += 1;
        let text = String::from_utf8_lossy(&b).into_owned();
        let mut seq: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("MEDIA-SEQUENCE");
        let mut prev_in_this: Option<i64> = None;
        let mut pdt = None;
        let mut disc = false;
        for l in text.lines() {
            if let Some(p) = l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
                pdt = Some(parse_pdt_ms(p));
            } else if l == "#EXT-X-DISCONTINUITY" {
                disc = true;
            } else if !l.starts_with('#') && !l.is_empty() {
                let p = pdt.take().expect("PROGRAM-DATE-TIME on every segment");
                if let Some(q) = prev_in_this {
                    assert!(p >= q, "PDT went backwards within a playlist:\n{text}");
                }
                prev_in_this = Some(p);
                if disc {
                    self.discontinuities.insert(seq);
                }
                disc = false;
                match self.last {
                    Some((ls, lp)) if seq > ls => {
                        assert!(
                            p >= lp,
                            "PDT of #{seq} ({p}) is before #{ls} ({lp}):\n{text}"
                        );
                        self.last = Some((seq, p));
                    }
                    Some((ls, lp)) if seq == ls => {
                        assert_eq!(p, lp, "segment #{seq} changed its PDT:\n{text}")
                    }
                    Some(_) => {}
                    None => self.last = Some((seq, p)),
                }
                seq += 1;
            }
        }
        self.last.map_or(0, |l| l.0)
    }

    /// Polls until `n` more segments than now are listed.
    fn wait_segments(&mut self, a: &Atoll, n: u64) {
        let start_seq = self.poll(a);
        let start = Instant::now();
        while self.poll(a) < start_seq + n {
            assert!(
                start.elapsed() < T,
                "timed out waiting for {n} live segments\n--- atoll log ---\n{}",
                a.log_text()
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }
}

#[test]
fn wall_clock_steps_back_and_forward_while_recording() {
    let dir = temp_dir("clock-offset");
    let offset_file = dir.join("offset_ms");
    std::fs::write(&offset_file, "0").unwrap();
    let a = Atoll::start_full(
        "hostile-clock",
        &[("segment_seconds", "2")],
        &[("ATOLL_TEST_CLOCK_OFFSET_FILE", path_str(&offset_file))],
    );
    let mut w = Watcher::new();
    w.wait_segments(&a, 3);
    let t_start = now_s();

    // back 1 h
    let t_back = now_s();
    std::fs::write(&offset_file, "-3600000").unwrap();
    a.wait_for("the step back logged", T, || {
        w.poll(&a);
        a.log_text().matches("wall clock stepped").count() >= 1
    });
    let back_seq = w.poll(&a);
    w.wait_segments(&a, 4);

    // forward 1 h (the clock is right again)
    let t_fwd = now_s();
    std::fs::write(&offset_file, "0").unwrap();
    a.wait_for("the step forward logged", T, || {
        w.poll(&a);
        a.log_text().matches("wall clock stepped").count() >= 2
    });
    let fwd_seq = w.poll(&a);
    w.wait_segments(&a, 4);
    assert!(w.fetches > 20, "the playlist was watched throughout");

    // the steps are discontinuities in the live playlist
    assert!(
        w.discontinuities
            .iter()
            .any(|&s| s > back_seq.saturating_sub(2)),
        "no discontinuity after the step back: {:?}",
        w.discontinuities
    );
    assert!(
        w.discontinuities
            .iter()
            .any(|&s| s > fwd_seq.saturating_sub(2)),
        "no discontinuity after the step forward: {:?}",
        w.discontinuities
    );

    // the archive: disjoint, ordered intervals and the clock-step gap(s)
    let (s, v) = a.api(
        "GET",
        &format!(
            "/api/channels/demo/archive?from={}&to={}",
            t_start - 3 * 3600,
            now_s() + 3 * 3600
        ),
        None,
    );
    assert_eq!(s, 200, "{v}");
    let ivals: Vec<(f64, f64)> = v["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["from"].as_f64().unwrap(), i["to"].as_f64().unwrap()))
        .collect();
    assert!(!ivals.is_empty(), "{v}");
    for i in &ivals {
        assert!(i.0 < i.1, "{v}");
    }
    for p in ivals.windows(2) {
        assert!(p[1].0 >= p[0].1, "overlapping archive intervals: {v}");
    }
    // The step back leaves no hole: the live timeline is not moved back (it carries on from the
    // previous segment's end and slews), so the archive goes on adjacent. The step forward
    // re-anchors the timeline on the (right again) wall clock: the hole before that segment is
    // a 'clock_step' gap (the live segment carries `clock_step`, the recorder marks it), not
    // 'source_lost'.
    let gaps = v["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "one gap, at the step forward: {v}");
    assert_eq!(gaps[0]["reason"], "clock_step", "{v}");
    let (g_from, g_to) = (
        gaps[0]["from"].as_f64().unwrap(),
        gaps[0]["to"].as_f64().unwrap(),
    );
    assert!(
        g_from >= (t_back as f64) && g_to >= t_fwd as f64 - 1.0 && g_to <= t_fwd as f64 + 15.0,
        "the gap ({g_from}..{g_to}) is at the step forward ({t_fwd}): {v}"
    );
    let log = a.log_text();
    let steps_s: Vec<i64> = log
        .lines()
        .filter(|l| l.contains("wall clock stepped; discontinuity channel=demo"))
        .filter_map(|l| l.split("step_ms=").nth(1))
        .map(|v| (v.trim().parse::<i64>().unwrap() as f64 / 1000.0).round() as i64)
        .collect();
    assert_eq!(
        steps_s,
        [-3600, 3600],
        "both steps logged with their size:\n{log}"
    );
    let m = String::from_utf8(a.get("/metrics").1).unwrap();
    assert!(
        m.contains("atoll_channel_clock_steps_total{channel=\"demo\"} 2\n"),
        "both steps counted:\n{m}"
    );
    assert!(
        log.contains("reason=\"clock_step\""),
        "the gap logged:\n{log}"
    );
}

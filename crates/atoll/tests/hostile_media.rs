//! Hostile media against the running binary: a publisher with a valid key that sends one
//! keyframe and then only P-frames must not grow the server's memory nor its segments, and the
//! channel goes to the slate once no keyframe has come for `no_keyframe_seconds`.

mod common;

use std::time::{Duration, Instant};

use common::*;

const T: Duration = Duration::from_secs(30);

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn one_keyframe_then_none_cuts_segments_bounds_memory_and_goes_to_slate() {
    require("ffmpeg");
    let a = Atoll::start_with(
        "hostile-nokey",
        &[
            ("segment_seconds", "2"),
            ("segment_max_seconds", "4"),
            ("no_keyframe_seconds", "8"),
        ],
    );
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"nokey","name":"No keyframes","sources":[],"number":7,"publish_key":"k1"}"#),
    );
    assert_eq!(s, 201, "{v}");
    // one keyframe, then P-frames only, at a high bitrate, at real pace
    let _enc = Killer(ffmpeg_bg(&[
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1280x720:rate=25",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "100000",
        "-x264-params",
        "keyint=100000:min-keyint=100000:scenecut=0",
        "-b:v",
        "6M",
        "-bf",
        "0",
        "-f",
        "flv",
        &a.rtmp_url("/live/nokey?key=k1"),
    ]));
    a.wait_for("nokey live", T, || a.channel("nokey")["state"] == "live");
    let on_air = Instant::now();
    let pid = a.child.id();
    let mut peak_kb = 0;
    let mut longest = 0.0f64;
    // within no_keyframe_seconds (8) plus slack, the channel shows the slate
    a.wait_for("slate after no keyframe", T, || {
        peak_kb = peak_kb.max(rss_kb(pid));
        let (st, body) = a.get("/live/nokey/index.m3u8");
        if st == 200 {
            let text = String::from_utf8_lossy(&body).to_string();
            for d in text
                .lines()
                .filter_map(|l| l.strip_prefix("#EXTINF:"))
                .filter_map(|l| {
                    l.trim_end_matches(',')
                        .split(',')
                        .next()?
                        .parse::<f64>()
                        .ok()
                })
            {
                longest = longest.max(d);
            }
        }
        a.channel("nokey")["slate"] == true
    });
    let took = on_air.elapsed();
    assert!(
        took >= Duration::from_secs(6),
        "went to slate after {took:?}, before the no-keyframe timeout"
    );
    let ch = a.channel("nokey");
    assert_ne!(ch["state"], "live", "{ch}");
    let log = a.log_text();
    assert!(log.contains("no keyframe for"), "{log}");
    // segments were cut at the 4 s limit though no keyframe came
    assert!(
        longest > 0.0 && longest <= 4.1,
        "longest segment {longest} s"
    );
    // the encoder goes on sending P-frames for a while: memory stays bounded
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        peak_kb = peak_kb.max(rss_kb(pid));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(peak_kb > 0 && peak_kb < 300 * 1024, "peak RSS {peak_kb} kB");
    // and the slate stays on (frames without keyframes never take the air back)
    assert_eq!(a.channel("nokey")["slate"], true);
    let (_, m) = a.get("/metrics");
    let m = String::from_utf8(m).unwrap();
    assert!(m.contains("atoll_channel_up{channel=\"nokey\"} 0"), "{m}");
}

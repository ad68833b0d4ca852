//! The many-channel feeder (`atoll-load feed`) against the running binary: one feeder replays
//! one recorded MPEG-TS file to three channels of one Atoll — two over UDP, one over RTMP
//! publish — and every channel's live playlist fills and ffprobe reads it.

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::json;

/// Two consecutive free UDP ports on 127.0.0.1 (the feeder sends to PORT, PORT+1).
fn two_udp_ports() -> u16 {
    for _ in 0..200 {
        let p = free_udp_port();
        if p < 65_535 && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no two consecutive free UDP ports");
}

#[test]
fn one_feeder_fills_udp_and_rtmp_channels() {
    require("ffmpeg");
    require("ffprobe");
    let a = Atoll::start_with("feeder", &[("segment_seconds", "2")]);
    let ts = a.dir.join("clip.ts");
    let st = Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-i"])
        .arg(fixture_clip())
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(&ts)
        .status()
        .unwrap();
    assert!(st.success(), "ffmpeg could not remux the clip to MPEG-TS");

    let port = two_udp_ports();
    for (i, id) in ["u1", "u2"].iter().enumerate() {
        let body = json!({"id": id, "name": id, "record": false,
                          "sources": [format!("udp://127.0.0.1:{}", port + i as u16)]});
        let (s, v) = a.api("POST", "/api/channels", Some(&body.to_string()));
        assert_eq!(s, 201, "{v}");
    }
    let body =
        json!({"id": "r1", "name": "r1", "record": false, "sources": [], "publish_key": "k1"});
    let (s, v) = a.api("POST", "/api/channels", Some(&body.to_string()));
    assert_eq!(s, 201, "{v}");

    let args: Vec<String> = [
        "--file",
        path_str(&ts),
        "--udp",
        &format!("127.0.0.1:{port}"),
        "--udp-count",
        "2",
        "--rtmp",
        &format!("rtmp://127.0.0.1:{}/live/r{{n}}?key=k{{n}}", a.rtmp),
        "--rtmp-count",
        "1",
        "--duration",
        "40",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // the feeder runs as the binary would (same entry point), in its own thread
    std::thread::spawn(move || atoll_load::feed::run_feed_args(&args));

    for id in ["u1", "u2", "r1"] {
        let pl = a.wait_playlist(id, 2, Duration::from_secs(30));
        let (_, segs) = check_live_playlist(&pl);
        assert!(segs.len() >= 2, "{id}: {pl}");
        let streams = ffprobe_streams(&a.url(&format!("/live/{id}/index.m3u8")));
        assert!(
            streams.iter().any(|s| s.starts_with("h264,320,240")),
            "{id}: {streams:?}"
        );
        assert!(
            streams.iter().any(|s| s.starts_with("aac")),
            "{id}: {streams:?}"
        );
        assert_eq!(a.channel(id)["state"], "live", "{id}");
    }
}

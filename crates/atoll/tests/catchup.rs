//! Catch-up against real peers: a channel fed by ffmpeg is recorded; ffmpeg/ffprobe read the
//! archive back through the Flussonic URL forms; gaps, recording control, kill -9 recovery and
//! retention are checked on the running binary. Segments are 2 s here to keep the tests short.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::json;

const T: Duration = Duration::from_secs(60);
const CONFIG: &[(&str, &str)] = &[("segment_seconds", "2")];

fn start_recorded_udp(a: &Atoll, id: &str) -> (u16, Killer) {
    let port = free_udp_port();
    let body =
        json!({"id": id, "name": id, "sources": [format!("udp://127.0.0.1:{port}")]}).to_string();
    let (s, v) = a.api("POST", "/api/channels", Some(&body));
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["record"], true, "channels record by default");
    (port, udp_feed(port))
}

/// The live playlist's EXT-X-MEDIA-SEQUENCE plus its segment count (0 while there is none).
fn live_sequence(a: &Atoll, id: &str) -> u64 {
    let (s, b) = a.get(&format!("/live/{id}/index.m3u8"));
    if s != 200 {
        return 0;
    }
    let text = String::from_utf8_lossy(&b);
    let seq: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    seq + text.matches("#EXTINF").count() as u64
}

fn recorded_seconds(a: &Atoll, id: &str) -> f64 {
    a.api("GET", &format!("/api/channels/{id}/recording"), None)
        .1["hours_kept"]
        .as_f64()
        .unwrap_or(0.0)
        * 3600.0
}

/// (first PROGRAM-DATE-TIME as unix seconds, sum of EXTINF, discontinuities) of a playlist.
fn playlist_facts(text: &str) -> (f64, f64, usize) {
    let first_pdt = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:"))
        .map(parse_rfc3339)
        .expect("PROGRAM-DATE-TIME");
    let total: f64 = text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|d| d.trim_end_matches(',').parse::<f64>().unwrap())
        .sum();
    (
        first_pdt,
        total,
        text.matches("#EXT-X-DISCONTINUITY\n").count(),
    )
}

/// "2026-11-24T09:42:25.683Z" -> unix seconds.
fn parse_rfc3339(s: &str) -> f64 {
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let t: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    let days = media::time::days_from_civil(d[0], d[1] as u32, d[2] as u32);
    days as f64 * 86400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]
}

#[test]
fn record_then_play_ranges_timeshift_and_ts_export() {
    let a = Atoll::start_with("catchup", CONFIG);
    let t0 = now_s();
    let (_port, _feed) = start_recorded_udp(&a, "news");
    a.wait_for("40 s recorded", Duration::from_secs(90), || {
        recorded_seconds(&a, "news") >= 40.0
    });
    let rec = a.api("GET", "/api/channels/news/recording", None).1;
    assert_eq!(rec["state"], "recording", "{rec}");
    // a 30 s range from the middle of what is recorded
    let from = t0 + 6;
    let (s, body) = a.get(&format!("/live/news/index-{from}-30.m3u8"));
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("#EXT-X-PLAYLIST-TYPE:VOD") && text.ends_with("#EXT-X-ENDLIST\n"),
        "{text}"
    );
    let (first_pdt, total, _) = playlist_facts(&text);
    // the first segment starts at the keyframe at or before `from`, within one segment
    assert!(
        first_pdt <= from as f64 + 0.05 && first_pdt > from as f64 - 2.1,
        "first PDT {first_pdt} for from {from}\n{text}"
    );
    // duration within one segment of 30 s
    assert!((total - 30.0).abs() <= 2.1, "range of {total} s\n{text}");
    let (errors, secs) = ffmpeg_read(&a.url(&format!("/live/news/index-{from}-30.m3u8")), 60);
    assert!(errors.is_empty(), "{errors}");
    assert!(
        (secs - total).abs() < 0.5 && secs >= 28.0,
        "ffmpeg read {secs} s of {total} s"
    );
    assert_eq!(
        ffprobe_streams(&a.url(&format!("/live/news/index-{from}-30.m3u8"))),
        vec!["aac,48000".to_string(), "h264,320,240".to_string()]
    );
    // the same range as one MPEG-TS download
    let ts_url = a.url(&format!("/live/news/archive-{from}-30.ts"));
    assert_eq!(
        ffprobe_streams(&ts_url),
        vec!["aac,48000".to_string(), "h264,320,240".to_string()]
    );
    let (errors, secs) = ffmpeg_read(&ts_url, 60);
    assert!(errors.is_empty(), "{errors}");
    assert!(secs >= 28.0, "{secs}");
    // start-over: an EVENT playlist from t0 that grows to the live edge
    let (_, b1) = a.get(&format!("/live/news/timeshift_abs-{t0}.m3u8"));
    let n1 = String::from_utf8_lossy(&b1).matches("#EXTINF").count();
    assert!(String::from_utf8_lossy(&b1).contains("#EXT-X-PLAYLIST-TYPE:EVENT"));
    a.wait_for("timeshift playlist grows", T, || {
        let (_, b) = a.get(&format!("/live/news/timeshift_abs-{t0}.m3u8"));
        String::from_utf8_lossy(&b).matches("#EXTINF").count() >= n1 + 2
    });
    // timeshift_rel resolves "10 s back" once, to a fixed start (a stable EVENT playlist)
    let (s, _) = a.get("/live/news/timeshift_rel-10.m3u8");
    assert_eq!(s, 302);
    let loc = header_of(a.http, "/live/news/timeshift_rel-10.m3u8", "location").unwrap();
    assert!(loc.starts_with("timeshift_abs-"), "{loc}");
    let (s, b) = a.get(&format!("/live/news/{loc}"));
    assert_eq!(s, 200);
    let (pdt, _, _) = playlist_facts(&String::from_utf8_lossy(&b));
    assert!(
        (pdt - (now_s() - 10) as f64).abs() < 4.0,
        "timeshift_rel-10 starts at {pdt}"
    );
    // the other dialects apps build (issue 7 lists them)
    for form in [
        format!("archive-{from}-10.m3u8"),
        format!("archive-{t0}-now.m3u8"),
        format!("index-{t0}-now.m3u8"),
        format!("video-timeshift_abs-{t0}.m3u8"),
    ] {
        let (s, b) = a.get(&format!("/live/news/{form}"));
        assert_eq!(s, 200, "{form}");
        assert!(String::from_utf8_lossy(&b).contains("rec-"), "{form}");
    }
    // an endless TS from a time a few seconds back, continuing as the archive grows
    let back = now_s() - 4;
    let (errors, secs) = ffmpeg_read(&a.url(&format!("/live/news/timeshift_abs-{back}.ts")), 12);
    assert!(errors.is_empty(), "{errors}");
    assert!(secs >= 11.0, "endless TS gave {secs} s");
    // nothing recorded, bad forms, the future
    assert_eq!(a.get("/live/news/index-1000000000-60.m3u8").0, 404);
    assert_eq!(
        a.get(&format!("/live/news/index-{}-60.m3u8", now_s() + 3600))
            .0,
        404
    );
    assert_eq!(a.get("/live/news/index-abc-60.m3u8").0, 400);
    assert_eq!(a.get("/live/news/index-1795000000-0.m3u8").0, 400);
    assert_eq!(a.get("/live/nosuch/index-1795000000-60.m3u8").0, 404);
    // intervals for the scrub bar
    let iv = a
        .api(
            "GET",
            &format!("/api/channels/news/archive?from={t0}&to={}", now_s()),
            None,
        )
        .1;
    assert_eq!(iv["intervals"].as_array().unwrap().len(), 1, "{iv}");
    let usage = a.api("GET", "/api/archive/usage", None).1;
    assert!(usage["total_bytes"].as_u64().unwrap() > 100_000, "{usage}");
    assert!(usage["disk_free_bytes"].as_u64().is_some());
}

#[test]
fn gaps_from_source_loss_and_recording_stop_show_as_discontinuities() {
    let a = Atoll::start_with("gaps", CONFIG);
    let t0 = now_s();
    let (port, feed) = start_recorded_udp(&a, "gappy");
    a.wait_for("8 s recorded", T, || recorded_seconds(&a, "gappy") >= 8.0);
    // the source dies for a while
    drop(feed);
    a.wait_for("waiting for source", T, || {
        a.api("GET", "/api/channels/gappy/recording", None).1["state"] == "waiting for source"
    });
    // (the silence that made it wait is already longer than a gap's minimum)
    let feed = udp_feed(port);
    a.wait_for("recording again", T, || {
        a.api("GET", "/api/channels/gappy/recording", None).1["state"] == "recording"
    });
    let before = recorded_seconds(&a, "gappy");
    a.wait_for("6 s recorded after the source returned", T, || {
        recorded_seconds(&a, "gappy") >= before + 6.0
    });
    // the operator stops and restarts recording
    let (s, v) = a.api("POST", "/api/channels/gappy/recording/stop", None);
    assert_eq!((s, v["state"].as_str()), (200, Some("stopped")), "{v}");
    // live goes on meanwhile: wait until two live segments went by unrecorded
    let seq0 = live_sequence(&a, "gappy");
    a.wait_for("two live segments while stopped", T, || {
        live_sequence(&a, "gappy") >= seq0 + 2
    });
    let (s, _) = a.api("POST", "/api/channels/gappy/recording/start", None);
    assert_eq!(s, 200);
    a.wait_for("recording after start", T, || {
        a.api("GET", "/api/channels/gappy/recording", None).1["state"] == "recording"
    });
    let before = recorded_seconds(&a, "gappy");
    a.wait_for("4 s recorded after the restart", T, || {
        recorded_seconds(&a, "gappy") >= before + 4.0
    });
    drop(feed);
    let rec = a.api("GET", "/api/channels/gappy/recording", None).1;
    let reasons: Vec<&str> = rec["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"source_lost"), "{rec}");
    assert!(reasons.contains(&"recording_stopped"), "{rec}");
    // the whole span plays, with a discontinuity at each gap
    let url = a.url(&format!("/live/gappy/index-{t0}-{}.m3u8", now_s() - t0));
    let (_, b) = a.get(&format!("/live/gappy/index-{t0}-{}.m3u8", now_s() - t0));
    let (_, _, discontinuities) = playlist_facts(&String::from_utf8_lossy(&b));
    assert!(discontinuities >= 2, "{}", String::from_utf8_lossy(&b));
    let (errors, _) = ffmpeg_read(&url, 60);
    assert!(errors.is_empty(), "{errors}");
    let iv = a
        .api(
            "GET",
            &format!("/api/channels/gappy/archive?from={t0}&to={}", now_s()),
            None,
        )
        .1;
    assert!(iv["intervals"].as_array().unwrap().len() >= 3, "{iv}");
    // the choice survives a restart
    let (s, _) = a.api("POST", "/api/channels/gappy/recording/stop", None);
    assert_eq!(s, 200);
    assert_eq!(a.channel("gappy")["record"], false);
}

#[test]
fn kill_9_mid_recording_then_restart_recovers_and_records_the_gap() {
    let dir = temp_dir("crash");
    let data = dir.join("data");
    let http_port = free_port();
    let cfg = dir.join("atoll.toml");
    std::fs::write(&cfg, "segment_seconds = 2\n").unwrap();
    let spawn = |log: &str| {
        Command::new(env!("CARGO_BIN_EXE_atoll"))
            .args([
                "--config",
                path_str(&cfg),
                "--data",
                path_str(&data),
                "--http",
                &format!("127.0.0.1:{http_port}"),
            ])
            .args(["--rtmp", &format!("127.0.0.1:{}", free_port())])
            .env("ATOLL_ADMIN_PASSWORD", PASSWORD)
            .stdout(std::fs::File::create(dir.join(log)).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let api = |m: &str, p: &str, b: Option<&str>| {
        let (s, body) = http(http_port, m, p, Some(("admin", PASSWORD)), b);
        (
            s,
            serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default(),
        )
    };
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let start = std::time::Instant::now();
        while !f() {
            assert!(start.elapsed() < T, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let mut child = spawn("log1");
    wait("up", &|| {
        http(http_port, "GET", "/healthz", None, None).0 == 200
    });
    let port = free_udp_port();
    let body =
        json!({"id": "crashy", "name": "Crashy", "sources": [format!("udp://127.0.0.1:{port}")]})
            .to_string();
    assert_eq!(api("POST", "/api/channels", Some(&body)).0, 201);
    let _feed = udp_feed(port);
    wait("6 s recorded", &|| {
        api("GET", "/api/channels/crashy/recording", None).1["segments"]
            .as_i64()
            .unwrap_or(0)
            >= 3
    });
    // a half-written segment and a stray temp file, as a crash can leave them
    let chan_dir = data.join("archive/crashy");
    std::fs::create_dir_all(chan_dir.join(".tmp")).unwrap();
    std::fs::write(
        chan_dir.join(".tmp/1795000000000_2000.ts.tmp"),
        vec![0x47u8; 1000],
    )
    .unwrap();
    let _ = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let killed_at = std::time::Instant::now();
    // The scenario, not a synchronisation: the server stays down for 3 s, so the outage is longer
    // than the archive's adjacency tolerance whatever the restart takes.
    wait("3 s of downtime", &|| {
        killed_at.elapsed() >= Duration::from_secs(3)
    });
    let mut child = spawn("log2");
    wait("up again", &|| {
        http(http_port, "GET", "/healthz", None, None).0 == 200
    });
    let log = std::fs::read_to_string(dir.join("log2")).unwrap_or_default();
    assert!(
        log.contains("archive recovered after an unclean stop"),
        "{log}"
    );
    assert!(
        !chan_dir.join(".tmp/1795000000000_2000.ts.tmp").exists(),
        "temp files are cleaned"
    );
    wait("recording again", &|| {
        api("GET", "/api/channels/crashy/recording", None).1["state"] == "recording"
    });
    let segments = |p: &str| api("GET", p, None).1["segments"].as_i64().unwrap_or(0);
    let n0 = segments("/api/channels/crashy/recording");
    wait("2 segments recorded after the restart", &|| {
        segments("/api/channels/crashy/recording") >= n0 + 2
    });
    let rec = api("GET", "/api/channels/crashy/recording", None).1;
    let reasons: Vec<&str> = rec["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"crash"), "{rec}");
    // everything indexed plays without a decoding error (no half-written segment is served)
    let from = now_s() - 60;
    let (errors, secs) = ffmpeg_read(
        &format!("http://127.0.0.1:{http_port}/live/crashy/index-{from}-120.m3u8"),
        120,
    );
    assert!(errors.is_empty(), "{errors}");
    assert!(secs >= 6.0);
    unsafe_free_sigterm(child.id());
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retention_by_size_removes_the_oldest_first() {
    let dir_cfg: &[(&str, &str)] = &[("segment_seconds", "2")];
    let a = Atoll::start_with("retention", dir_cfg);
    let t0 = now_s();
    let (_port, feed) = start_recorded_udp(&a, "big");
    a.wait_for("14 s recorded", T, || recorded_seconds(&a, "big") >= 14.0);
    drop(feed);
    let before = a.api("GET", "/api/channels/big/recording", None).1;
    let bytes = before["bytes"].as_u64().unwrap();
    let http_port = a.http;
    let data_dir = a.stop_keeping_data().join("data");
    // restart with a cap of half the archive: retention runs at start-up, oldest first
    let cfg = data_dir.parent().unwrap().join("capped.toml");
    std::fs::write(
        &cfg,
        format!("segment_seconds = 2\narchive_max_bytes = {}\n", bytes / 2),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args([
            "--config",
            path_str(&cfg),
            "--data",
            path_str(&data_dir),
            "--http",
            &format!("127.0.0.1:{http_port}"),
        ])
        .args(["--rtmp", &format!("127.0.0.1:{}", free_port())])
        .env("ATOLL_ADMIN_PASSWORD", PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut after = serde_json::Value::Null;
    for _ in 0..100 {
        let (s, b) = http(
            http_port,
            "GET",
            "/api/channels/big/recording",
            Some(("admin", PASSWORD)),
            None,
        );
        if s == 200 {
            after = serde_json::from_slice(&b).unwrap();
            if after["bytes"].as_u64().unwrap() <= bytes / 2 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let iv_body = http(
        http_port,
        "GET",
        &format!("/api/channels/big/archive?from={t0}&to={}", now_s()),
        Some(("admin", PASSWORD)),
        None,
    )
    .1;
    unsafe_free_sigterm(child.id());
    let _ = child.wait();
    assert!(
        after["bytes"].as_u64().unwrap() <= bytes / 2,
        "before {before}\nafter {after}"
    );
    // the newest part is what is left
    let iv: serde_json::Value = serde_json::from_slice(&iv_body).unwrap();
    let first_from = iv["intervals"][0]["from"].as_f64().unwrap();
    assert!(
        first_from > t0 as f64 + 4.0,
        "oldest segments must go first: {iv}"
    );
}

/// The shared fixture clip can be built by several test threads at once on a fresh machine (each
/// writes its own temporary file and renames it into place).
#[test]
fn fixture_clip_builds_from_parallel_threads() {
    let dir = temp_dir("fixture-race");
    let clips: Vec<_> = (0..4)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || fixture_clip_in(&dir))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("a thread failed to build the clip"))
        .collect();
    for c in &clips {
        assert!(std::fs::metadata(c).unwrap().len() > 100_000, "{c:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! End-to-end tests of the live core against real peers: ffmpeg pushes RTMP and UDP, a second
//! HTTP server offers HLS and HTTP-TS to pull, ffprobe/ffmpeg read our HLS and MPEG-TS back.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use serde_json::json;

const T: Duration = Duration::from_secs(40);

#[test]
fn demo_channel_serves_valid_hls_and_mpegts() {
    let a = Atoll::start("demo");
    let text = a.wait_playlist("demo", 2, T);
    assert_av_aligned(&a, "demo", &text);
    let (target, segs) = check_live_playlist(&text);
    // 6 s segments; a run's first one ends on the wall-clock grid and may last up to 9 s
    // (docs/time.md §3b), which the never-shrinking TARGETDURATION then keeps
    assert!((6..=9).contains(&target), "{text}");
    // keyframe-aligned 6 s segments from the 2 s-GOP test source
    assert!(
        segs.iter().skip(1).all(|(d, _, _)| (*d - 6.0).abs() < 0.05),
        "{text}"
    );
    // each segment decodes on its own: PAT first, 188-byte packets
    for (_, uri, _) in &segs {
        let (s, body) = a.get(&format!("/live/demo/{uri}"));
        assert_eq!(s, 200);
        assert_eq!(body.len() % 188, 0);
        assert_eq!(
            &body[..3],
            &[0x47, 0x40, 0x00],
            "segment must start with the PAT"
        );
    }
    assert_eq!(
        ffprobe_streams(&a.url("/live/demo/index.m3u8")),
        vec!["aac,48000".to_string(), "h264,640,360".to_string()]
    );
    let (errors, secs) = ffmpeg_read(&a.url("/live/demo/index.m3u8"), 8);
    assert!(errors.is_empty(), "ffmpeg reported: {errors}");
    assert!(secs >= 7.0, "read only {secs} s");
    // the same channel as one endless MPEG-TS stream
    let (errors, secs) = ffmpeg_read(&a.url("/live/demo/mpegts"), 4);
    assert!(errors.is_empty(), "ffmpeg reported on /mpegts: {errors}");
    assert!(secs >= 3.5, "read only {secs} s of /mpegts");
    // headers any cache can work with
    assert_eq!(
        header_of(a.http, "/live/demo/index.m3u8", "content-type").as_deref(),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(
        header_of(
            a.http,
            "/live/demo/index.m3u8",
            "access-control-allow-origin"
        )
        .as_deref(),
        Some("*")
    );
    let seg = &segs[0].1;
    assert!(
        header_of(a.http, &format!("/live/demo/{seg}"), "cache-control")
            .unwrap()
            .contains("immutable")
    );
    // status and metrics
    let ch = a.channel("demo");
    assert_eq!(ch["state"], "live", "{ch}");
    assert_eq!(ch["video"]["width"], 640);
    assert_eq!(ch["audio"]["codec"], "aac");
    let (s, m) = a.get("/metrics");
    assert_eq!(s, 200);
    let m = String::from_utf8(m).unwrap();
    assert!(m.contains("atoll_channel_up{channel=\"demo\"} 1"), "{m}");
    assert!(m.contains("atoll_channel_segments_total{channel=\"demo\"}"));
    // counters of the hardening work (README "Monitoring")
    for name in [
        "atoll_channel_forced_cuts_total{channel=\"demo\"} ",
        "atoll_channel_clock_steps_total{channel=\"demo\"} 0\n",
        "atoll_http_refused_connections_total{reason=\"per_ip\"} ",
        "atoll_http_refused_connections_total{reason=\"full\"} ",
        "atoll_http_evicted_connections_total ",
        "atoll_http_timeouts_total{kind=\"read\"} ",
        "atoll_http_timeouts_total{kind=\"write\"} ",
        "atoll_rtmp_refused_connections_total 0\n",
        "atoll_rtmp_evicted_unauthenticated_total 0\n",
        "atoll_rtmp_refused_publishes_total 0\n",
    ] {
        assert!(m.contains(name), "{name} missing:\n{m}");
    }
}

#[test]
fn rtmp_push_with_key_from_file_and_live_encoder() {
    let clip = fixture_clip();
    let a = Atoll::start("rtmp");
    // an encoder pushing the fixture clip at real pace to rtmp://…{path}
    let publish = |path: &str| {
        Killer(ffmpeg_bg(&[
            "-re",
            "-i",
            path_str(&clip),
            "-c",
            "copy",
            "-f",
            "flv",
            &a.rtmp_url(path),
        ]))
    };
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"news","name":"News 24","sources":[],"number":5,"publish_key":"s3cret"}"#),
    );
    assert_eq!(s, 201, "{v}");
    // a wrong key is refused, with a log line naming the channel and the reason
    let mut bad = publish("/live/news?key=nope");
    let st = wait_exit(&mut bad.0, Duration::from_secs(15));
    assert!(!st, "publishing with a wrong key must fail");
    a.wait_for("refusal log line", T, || {
        let log = a.log_text();
        log.contains("rtmp publish refused")
            && log.contains("news")
            && log.contains("wrong publish key")
    });
    // an unknown channel is refused too
    let mut unknown = publish("/live/nosuch");
    assert!(!wait_exit(&mut unknown.0, Duration::from_secs(15)));
    assert!(a.log_text().contains("unknown or inactive channel"));

    // the right key: -re -c copy from a file
    let _push = publish("/live/news?key=s3cret");
    a.wait_for("news live", T, || a.channel("news")["state"] == "live");
    let text = a.wait_playlist("news", 2, T);
    check_live_playlist(&text);
    // the window may still start with the slate shown before the encoder came (640x360):
    // ffprobe reads the last 3 segments, so wait until they are all the encoder's
    a.wait_for("3 segments of the encoder after the slate", T, || {
        let (st, body) = a.get("/live/news/index.m3u8");
        let text = String::from_utf8_lossy(&body);
        let after = text.rsplit("#EXT-X-DISCONTINUITY\n").next().unwrap_or("");
        st == 200 && after.matches("#EXTINF").count() >= 3
    });
    assert_eq!(
        ffprobe_streams(&a.url("/live/news/index.m3u8")),
        vec!["aac,48000".to_string(), "h264,320,240".to_string()]
    );
    let ch = a.channel("news");
    assert!(ch["input_bitrate_bps"].as_u64().unwrap() > 10_000, "{ch}");
    assert_eq!(ch["active_source"], "rtmp publish /live/news");
    // the encoder stops: the channel goes off air at once (slate), and a restarted encoder is taken
    drop(_push);
    a.wait_for("news off air", Duration::from_secs(5), || {
        a.channel("news")["state"] != "live"
    });
    a.wait_for("slate", Duration::from_secs(10), || {
        a.channel("news")["slate"] == true
    });
    let _push = publish("/live/news?key=s3cret");
    a.wait_for("news live again", T, || {
        a.channel("news")["state"] == "live"
    });
    // changing the key dismisses the connected publisher: its connection is closed
    let mut push = _push;
    let (s, _) = a.api(
        "PUT",
        "/api/channels/news",
        Some(r#"{"publish_key":"n3w"}"#),
    );
    assert_eq!(s, 200);
    a.wait_for("publisher dismissed", Duration::from_secs(15), || {
        push.0.try_wait().unwrap().is_some()
    });
    a.wait_for("dismissal logged", Duration::from_secs(5), || {
        a.log_text().contains("dismissed this publisher")
    });
    drop(push);

    // a live libx264 encode (B-frames, 2 s GOP) into a second channel
    let (s, _) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"live2","name":"Live Two","sources":[]}"#),
    );
    assert_eq!(s, 201);
    let _enc = Killer(ffmpeg_bg(&[
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=426x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=44100",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-bf",
        "2",
        "-g",
        "50",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-f",
        "flv",
        &a.rtmp_url("/live/live2"),
    ]));
    let text = a.wait_playlist("live2", 2, T);
    assert_av_aligned(&a, "live2", &text);
    let (errors, secs) = ffmpeg_read(&a.url("/live/live2/index.m3u8"), 8);
    assert!(errors.is_empty(), "{errors}");
    assert!(secs >= 7.0);
    assert_eq!(
        ffprobe_streams(&a.url("/live/live2/index.m3u8")),
        vec!["aac,44100".to_string(), "h264,426,240".to_string()]
    );
}

fn wait_exit(c: &mut std::process::Child, timeout: Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if let Some(st) = c.try_wait().unwrap() {
            return st.success();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = c.kill();
    let _ = c.wait();
    false
}

#[test]
fn udp_mpegts_channel() {
    let a = Atoll::start("udp");
    let port = free_udp_port();
    let body = json!({"id": "sat1", "name": "Satellite 1", "sources": [format!("udp://@127.0.0.1:{port}")]}).to_string();
    let (s, v) = a.api("POST", "/api/channels", Some(&body));
    assert_eq!(s, 201, "{v}");
    let _tx = udp_feed(port);
    a.wait_playlist("sat1", 2, T);
    assert_eq!(
        ffprobe_streams(&a.url("/live/sat1/index.m3u8")),
        vec!["aac,48000".to_string(), "h264,320,240".to_string()]
    );
    let (errors, secs) = ffmpeg_read(&a.url("/live/sat1/index.m3u8"), 8);
    assert!(errors.is_empty(), "{errors}");
    assert!(secs >= 7.0);
    assert_eq!(ffprobe_streams(&a.url("/live/sat1/mpegts")).len(), 2);
}

/// Serves a directory over HTTP/1.1 (Connection: close). Paths ending in `.ts` under `/stream/`
/// are sent at about real pace (the file's duration spread over its size) as an endless loop.
fn serve_dir(dir: std::path::PathBuf, ts_secs: f64) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let dir = dir.clone();
            std::thread::spawn(move || {
                use std::io::Read;
                let mut buf = [0u8; 4096];
                let n = conn.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                if let Some(name) = path.strip_prefix("/stream/") {
                    let data = std::fs::read(dir.join(name)).unwrap_or_default();
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n",
                    );
                    let chunk = 188 * 50;
                    let per_chunk =
                        Duration::from_secs_f64(ts_secs * chunk as f64 / data.len().max(1) as f64);
                    loop {
                        for c in data.chunks(chunk) {
                            if conn.write_all(c).is_err() {
                                return;
                            }
                            std::thread::sleep(per_chunk);
                        }
                    }
                }
                match std::fs::read(dir.join(path.trim_start_matches('/'))) {
                    Ok(data) => {
                        let _ = write!(
                            conn,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            data.len()
                        );
                        let _ = conn.write_all(&data);
                    }
                    Err(_) => {
                        let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    }
                }
            });
        }
    });
    port
}

#[test]
fn pulls_hls_and_http_ts_sources() {
    let clip = fixture_clip();
    let src = temp_dir("origin");
    // an HLS origin (VOD playlist, looped by the puller) and a TS file served as a paced stream
    let st = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            path_str(&clip),
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            "2",
            "-hls_list_size",
            "0",
            "-hls_playlist_type",
            "vod",
        ])
        .arg(src.join("index.m3u8"))
        .status()
        .unwrap();
    assert!(st.success());
    let st = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            path_str(&clip),
            "-c",
            "copy",
            "-f",
            "mpegts",
        ])
        .arg(src.join("clip.ts"))
        .status()
        .unwrap();
    assert!(st.success());
    let port = serve_dir(src, 20.0);
    let a = Atoll::start("pull");
    for (id, url) in [
        ("hlspull", format!("http://127.0.0.1:{port}/index.m3u8")),
        ("tspull", format!("http://127.0.0.1:{port}/stream/clip.ts")),
    ] {
        let body = json!({"id": id, "name": id, "sources": [url]}).to_string();
        let (s, v) = a.api("POST", "/api/channels", Some(&body));
        assert_eq!(s, 201, "{v}");
    }
    for id in ["hlspull", "tspull"] {
        a.wait_playlist(id, 2, T);
        let url = a.url(&format!("/live/{id}/index.m3u8"));
        assert_eq!(
            ffprobe_streams(&url),
            vec!["aac,48000".to_string(), "h264,320,240".to_string()],
            "{id}"
        );
        let (errors, secs) = ffmpeg_read(&url, 6);
        assert!(errors.is_empty(), "{id}: {errors}");
        assert!(secs >= 5.0, "{id}: {secs}");
        assert_eq!(a.channel(id)["state"], "live");
    }
}

#[test]
fn failover_to_backup_slate_and_back() {
    let a = Atoll::start("failover");
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let body = json!({"id": "fo", "name": "Failover", "sources": [format!("udp://127.0.0.1:{p1}"), format!("udp://127.0.0.1:{p2}")]}).to_string();
    assert_eq!(a.api("POST", "/api/channels", Some(&body)).0, 201);
    let primary_url = format!("udp://127.0.0.1:{p1}");
    let backup_url = format!("udp://127.0.0.1:{p2}");
    let primary = udp_feed(p1);
    let backup = udp_feed(p2);
    a.wait_for("primary on air", T, || {
        a.channel("fo")["active_source"] == primary_url.as_str()
    });
    a.wait_playlist("fo", 2, T);
    // the primary dies: after the 5 s silence the backup goes on air
    drop(primary);
    a.wait_for("backup on air", T, || {
        a.channel("fo")["active_source"] == backup_url.as_str()
    });
    // both die: the slate plays and the playlist keeps growing
    drop(backup);
    a.wait_for("slate", T, || {
        let c = a.channel("fo");
        c["state"] == "offline" && c["slate"] == true
    });
    let before = a.wait_playlist("fo", 3, T);
    let last_before = check_live_playlist(&before).1.last().unwrap().1.clone();
    a.wait_for("slate segments", T, || {
        let (_, b) = a.get("/live/fo/index.m3u8");
        let text = String::from_utf8_lossy(&b).to_string();
        check_live_playlist(&text).1.last().unwrap().1 != last_before
            && text.contains("#EXT-X-DISCONTINUITY")
    });
    let (errors, _) = ffmpeg_read(&a.url("/live/fo/index.m3u8"), 4);
    assert!(errors.is_empty(), "slate must decode cleanly: {errors}");
    // the primary returns: back on air
    let _primary = udp_feed(p1);
    a.wait_for("primary back", T, || {
        a.channel("fo")["active_source"] == primary_url.as_str()
    });
    let m = String::from_utf8(a.get("/metrics").1).unwrap();
    assert!(m.contains("atoll_channel_failovers_total{channel=\"fo\"}"));
}

#[test]
fn api_auth_validation_and_live_changes() {
    let a = Atoll::start("api");
    assert_eq!(http(a.http, "GET", "/api/channels", None, None).0, 401);
    assert_eq!(
        http(
            a.http,
            "GET",
            "/api/channels",
            Some(("admin", "wrong")),
            None
        )
        .0,
        401
    );
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"Bad Id","name":"x"}"#),
    );
    assert_eq!((s, v["field"].as_str()), (422, Some("id")));
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"ok","name":"x","sources":["ftp://nope/x"]}"#),
    );
    assert_eq!((s, v["field"].as_str()), (422, Some("sources")), "{v}");
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"ok","name":"x","number":"one"}"#),
    );
    assert_eq!((s, v["field"].as_str()), (422, Some("number")));
    let (s, _) = a.api("POST", "/api/channels", Some("{not json"));
    assert_eq!(s, 400);
    let (s, _) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"demo","name":"again"}"#),
    );
    assert_eq!(s, 409);
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"other","name":"Other","number":1}"#),
    );
    assert_eq!((s, v["field"].as_str()), (409, Some("number")), "{v}");
    // a new testsrc channel goes live without a restart
    let (s, _) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"t2","name":"Test 2","sources":["testsrc://?size=320x180"]}"#),
    );
    assert_eq!(s, 201);
    a.wait_playlist("t2", 1, T);
    assert_eq!(a.channel("t2")["video"]["width"], 320);
    // edit: rename and change the source; applied live
    let (s, v) = a.api(
        "PUT",
        "/api/channels/t2",
        Some(r#"{"name":"Renamed","sources":["testsrc://?size=480x270"]}"#),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], "Renamed");
    a.wait_for("new source", T, || a.channel("t2")["video"]["width"] == 480);
    let (s, v) = a.api(
        "PUT",
        "/api/channels/t2",
        Some(r#"{"record":false,"retention_hours":24,"epg_id":"t2.example"}"#),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["record"].as_bool(),
            v["retention_hours"].as_u64(),
            v["epg_id"].as_str()
        ),
        (Some(false), Some(24), Some("t2.example"))
    );
    let (s, v) = a.api("PUT", "/api/channels/t2", Some(r#"{"retention_hours":0}"#));
    assert_eq!((s, v["field"].as_str()), (422, Some("retention_hours")));
    // the preferred audio language: none by default; 639-2 kept lower-case, a common 639-1 code
    // stored as its 639-2 form, '' or null clears it; anything else refused naming the field
    assert_eq!(a.channel("t2")["audio_language"], "");
    for (sent, stored) in [
        (json!("ENG"), "eng"),
        (json!("zh"), "chi"),
        (json!(" fre "), "fre"),
        (json!(""), ""),
        (json!("yue"), "yue"),
        (serde_json::Value::Null, ""),
    ] {
        let body = json!({ "audio_language": sent }).to_string();
        let (s, v) = a.api("PUT", "/api/channels/t2", Some(&body));
        assert_eq!(
            (s, v["audio_language"].as_str()),
            (200, Some(stored)),
            "{sent}: {v}"
        );
        assert_eq!(a.channel("t2")["audio_language"], stored, "{sent}");
    }
    a.api(
        "PUT",
        "/api/channels/t2",
        Some(r#"{"audio_language":"por"}"#),
    );
    for bad in [
        json!("english"),
        json!("xx"),
        json!("e1g"),
        json!("zh-CN"),
        json!("中文"),
        json!(7),
        json!(["eng"]),
    ] {
        let body = json!({ "audio_language": bad }).to_string();
        let (s, v) = a.api("PUT", "/api/channels/t2", Some(&body));
        assert_eq!(
            (s, v["field"].as_str()),
            (422, Some("audio_language")),
            "{bad}: {v}"
        );
        let (s, v) = a.api(
            "POST",
            "/api/channels",
            Some(&json!({"id": "t9", "name": "T9", "audio_language": bad}).to_string()),
        );
        assert_eq!(
            (s, v["field"].as_str()),
            (422, Some("audio_language")),
            "{bad}: {v}"
        );
    }
    assert_eq!(
        a.channel("t2")["audio_language"],
        "por",
        "a refused value changed nothing"
    );
    assert_eq!(a.api("GET", "/api/channels/t9", None).0, 404);
    // the list, the export and the player's lineup carry it; a change kept the channel live
    let (_, list) = a.api("GET", "/api/channels", None);
    let t2 = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "t2")
        .unwrap();
    assert_eq!(t2["audio_language"], "por");
    let (_, exp) = a.api("GET", "/api/channels/export", None);
    let t2 = exp["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "t2")
        .unwrap();
    assert_eq!(t2["audio_language"], "por");
    let (_, pl) = a.api("GET", "/api/player/channels", None);
    let t2 = pl["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "t2")
        .unwrap();
    assert_eq!(t2["audio_language"], "por");
    a.wait_playlist("t2", 1, T);
    // created with one
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"t4","name":"T4","audio_language":"ja"}"#),
    );
    assert_eq!((s, v["audio_language"].as_str()), (201, Some("jpn")), "{v}");
    assert_eq!(a.api("DELETE", "/api/channels/t4", None).0, 204);
    let (s, v) = a.api("PUT", "/api/channels/t2", Some(r#"{"bogus":1}"#));
    assert_eq!(s, 422, "{v}");
    let (s, v) = a.api("PUT", "/api/channels/t2", Some(r#"{"id":"t3"}"#));
    assert_eq!((s, v["field"].as_str()), (422, Some("id")));
    // deactivate: the live URL goes away; reactivate: it comes back
    assert_eq!(
        a.api("PUT", "/api/channels/t2", Some(r#"{"active":false}"#))
            .0,
        200
    );
    assert_eq!(a.get("/live/t2/index.m3u8").0, 404);
    assert_eq!(a.channel("t2")["state"], "offline");
    // delete
    assert_eq!(a.api("DELETE", "/api/channels/t2", None).0, 204);
    assert_eq!(a.api("GET", "/api/channels/t2", None).0, 404);
    assert_eq!(a.api("DELETE", "/api/channels/t2", None).0, 404);
    let (s, list) = a.api("GET", "/api/channels", None);
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn garbage_input_drops_one_connection_never_the_process() {
    use std::io::Read;
    let mut a = Atoll::start("garbage");
    let port = free_udp_port();
    let body =
        json!({"id": "junk", "name": "Junk", "sources": [format!("udp://127.0.0.1:{port}")]})
            .to_string();
    assert_eq!(a.api("POST", "/api/channels", Some(&body)).0, 201);
    a.wait_playlist("demo", 1, T);
    // RTMP: random bytes, a bad handshake version, and a valid handshake followed by an oversized chunk header
    let mut rng = 0x9e3779b97f4a7c15u64;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng as u8
            })
            .collect()
    };
    for payload in [random(5000), vec![0x09; 3000], {
        let mut v = vec![0x03];
        v.extend(random(1536));
        v
    }] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", a.rtmp)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&payload);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink); // the server drops us (or times out the read)
    }
    // UDP: garbage datagrams, then TS packets with no PAT/PMT
    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..3000 {
        let mut d = random(1316);
        if i % 2 == 0 {
            for k in 0..7 {
                d[k * 188] = 0x47;
            }
        }
        let _ = u.send_to(&d, ("127.0.0.1", port));
    }
    // HTTP: nonsense request
    let mut s = std::net::TcpStream::connect(("127.0.0.1", a.http)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(&random(2000));
    // wait until the server has answered or dropped the nonsense (EOF, a reset or an error reply)
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
    a.wait_for("the RTMP junk logged", T, || {
        a.log_text()
            .contains("rtmp connection dropped: protocol error")
    });
    assert!(a.alive(), "atoll died:\n{}", a.log_text());
    assert_eq!(a.channel("demo")["state"], "live");
    assert_ne!(a.channel("junk")["state"], "live");
    let (errors, _) = ffmpeg_read(&a.url("/live/demo/index.m3u8"), 3);
    assert!(errors.is_empty());
    assert!(
        a.log_text()
            .contains("rtmp connection dropped: protocol error"),
        "{}",
        a.log_text()
    );
}

#[test]
fn graceful_shutdown_on_sigterm() {
    let mut a = Atoll::start("shutdown");
    a.wait_playlist("demo", 1, T);
    unsafe_free_sigterm(a.child.id());
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = a.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "atoll did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}\n{}", a.log_text());
    assert!(a.log_text().contains("stopped"));
}

#[test]
fn rtmp_pull_from_an_upstream_server() {
    // ffmpeg acts as the upstream RTMP server (-listen 1) and serves the clip to whoever plays it
    let clip = fixture_clip();
    let port = free_port();
    let upstream = format!("rtmp://127.0.0.1:{port}/app/stream");
    let _server = Killer(ffmpeg_bg(&[
        "-re",
        "-stream_loop",
        "-1",
        "-i",
        path_str(&clip),
        "-c",
        "copy",
        "-f",
        "flv",
        "-listen",
        "1",
        &upstream,
    ]));
    let a = Atoll::start("rtmppull");
    let body = json!({"id": "pulled", "name": "Pulled", "sources": [upstream]}).to_string();
    assert_eq!(a.api("POST", "/api/channels", Some(&body)).0, 201);
    a.wait_playlist("pulled", 2, T);
    assert_eq!(
        ffprobe_streams(&a.url("/live/pulled/index.m3u8")),
        vec!["aac,48000".to_string(), "h264,320,240".to_string()]
    );
    let (errors, secs) = ffmpeg_read(&a.url("/live/pulled/index.m3u8"), 6);
    assert!(errors.is_empty(), "{errors}");
    assert!(secs >= 5.0);
}

#[test]
fn udp_passes_mp2_audio_through() {
    let clip = fixture_clip();
    let a = Atoll::start("mp2");
    let port = free_udp_port();
    let body =
        json!({"id": "radio", "name": "MP2", "sources": [format!("udp://127.0.0.1:{port}")]})
            .to_string();
    assert_eq!(a.api("POST", "/api/channels", Some(&body)).0, 201);
    let _tx = Killer(ffmpeg_bg(&[
        "-re",
        "-stream_loop",
        "-1",
        "-i",
        path_str(&clip),
        "-c:v",
        "copy",
        "-c:a",
        "mp2",
        "-b:a",
        "128k",
        "-f",
        "mpegts",
        &format!("udp://127.0.0.1:{port}?pkt_size=1316"),
    ]));
    a.wait_playlist("radio", 2, T);
    assert_eq!(
        ffprobe_streams(&a.url("/live/radio/index.m3u8")),
        vec!["h264,320,240".to_string(), "mp2,48000".to_string()]
    );
    let (errors, _) = ffmpeg_read(&a.url("/live/radio/index.m3u8"), 6);
    assert!(errors.is_empty(), "{errors}");
    assert_eq!(a.channel("radio")["audio"]["codec"], "mp2");
}

/// Sources whose clocks wrap (RTMP's 32-bit milliseconds, MPEG-TS's 33-bit 90 kHz) play through
/// the wrap with no discontinuity and no decoder errors.
#[test]
fn timestamp_wrap_around_in_rtmp_and_udp() {
    let clip = fixture_clip();
    let a = Atoll::start("wrap");
    let port = free_udp_port();
    for body in [
        json!({"id": "rtmpwrap", "name": "RTMP wrap", "sources": []}),
        json!({"id": "tswrap", "name": "TS wrap", "sources": [format!("udp://127.0.0.1:{port}")]}),
    ] {
        assert_eq!(
            a.api("POST", "/api/channels", Some(&body.to_string())).0,
            201
        );
    }
    // 2^32 ms = 4294967.296 s: start 6 s before the wrap. 2^33 / 90 kHz = 95443.7 s: start 6 s before.
    let _rtmp = Killer(ffmpeg_bg(&[
        "-re",
        "-i",
        path_str(&clip),
        "-c",
        "copy",
        "-output_ts_offset",
        "4294961",
        "-f",
        "flv",
        &a.rtmp_url("/live/rtmpwrap"),
    ]));
    let _udp = Killer(ffmpeg_bg(&[
        "-re",
        "-i",
        path_str(&clip),
        "-c",
        "copy",
        "-output_ts_offset",
        "95437.7",
        "-f",
        "mpegts",
        &format!("udp://127.0.0.1:{port}?pkt_size=1316"),
    ]));
    for id in ["rtmpwrap", "tswrap"] {
        // 3 segments = 18 s: the wrap (at ~6 s) is well inside
        let text = a.wait_playlist(id, 3, Duration::from_secs(60));
        let (_, segs) = check_live_playlist(&text);
        assert!(
            !text.contains("#EXT-X-DISCONTINUITY"),
            "{id}: a wrap is not a discontinuity\n{text}"
        );
        for (d, _, _) in segs.iter().take(segs.len() - 1).skip(1) {
            assert!((*d - 6.0).abs() < 0.1, "{id}: segment of {d} s\n{text}");
        }
        let (s, log) = (a.channel(id), a.log_text());
        assert!(!log.contains("timestamps jumped"), "{id}: {s}\n{log}");
    }
}

#[test]
fn random_admin_password_is_printed_once_and_works() {
    let dir = temp_dir("randompw");
    let port = free_port();
    // atoll without ATOLL_ADMIN_PASSWORD on the same data directory, logging to `log`
    let start = |log: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_atoll"))
            .args([
                "--data",
                path_str(&dir.join("data")),
                "--http",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--rtmp", &format!("127.0.0.1:{}", free_port())])
            .env_remove("ATOLL_ADMIN_PASSWORD")
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(std::fs::File::options().append(true).open(log).unwrap())
            .spawn()
            .unwrap()
    };
    let signs_in = |password: &str| {
        (0..100).any(|_| {
            let ok = http(
                port,
                "GET",
                "/api/channels",
                Some(("admin", password)),
                None,
            )
            .0 == 200;
            if !ok {
                std::thread::sleep(Duration::from_millis(100));
            }
            ok
        })
    };
    let log = dir.join("log");
    let mut child = start(&log);
    let mut password = None;
    for _ in 0..100 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(rest) = text.split("with password ").nth(1) {
            password = rest.split_whitespace().next().map(String::from);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let password = password.expect("the generated password is logged");
    assert!(signs_in(&password), "the logged password signs in");
    assert_eq!(
        http(port, "GET", "/api/channels", Some(("admin", "guess")), None).0,
        401
    );
    unsafe_free_sigterm(child.id());
    let _ = child.wait();
    // a restart does not make (or print) another one
    let log2 = dir.join("log2");
    let mut child = start(&log2);
    let up = signs_in(&password);
    unsafe_free_sigterm(child.id());
    let _ = child.wait();
    assert!(up, "the same password still works after a restart");
    assert!(!std::fs::read_to_string(&log2)
        .unwrap()
        .contains("with password"));
}

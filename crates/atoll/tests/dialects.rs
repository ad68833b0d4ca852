//! Catch-up as every IPTV app reaches it: each dialect's URL is built from our playlist.m3u the way
//! the app builds it (README: "Programme guide (EPG) and IPTV apps"), requested against a recording
//! channel fed by ffmpeg, and read back with `ffmpeg -c copy -f null -`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn first_pdt(text: &str) -> f64 {
    let s = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:"))
        .unwrap_or_else(|| panic!("no PROGRAM-DATE-TIME in\n{text}"));
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let t: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    media::time::days_from_civil(d[0], d[1] as u32, d[2] as u32) as f64 * 86400.0
        + t[0] * 3600.0
        + t[1] * 60.0
        + t[2]
}

/// GET following redirects (as players do); returns (status, body, final path).
fn get_follow(a: &Atoll, mut path: String) -> (u16, String, String) {
    for _ in 0..3 {
        let (s, b) = a.get(&path);
        if s == 302 {
            let loc = header_of(a.http, &path, "location").unwrap();
            let dir = &path[..path.rfind('/').unwrap() + 1];
            path = if loc.starts_with('/') {
                loc
            } else {
                format!("{dir}{loc}")
            };
            continue;
        }
        return (s, String::from_utf8_lossy(&b).into_owned(), path);
    }
    panic!("redirect loop at {path}");
}

#[test]
fn every_catchup_dialect_plays_the_asked_time() {
    dialects(false);
}

/// The same forms with viewer tokens on: the app gets the token inside the playlist's URLs
/// (`/playlist.m3u?token=…`) and every form built from them must play.
#[test]
fn every_catchup_dialect_plays_with_a_viewer_token() {
    dialects(true);
}

/// Appends a query parameter the way apps do: `?` when the URL has none, `&` otherwise.
fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

fn dialects(token_mode: bool) {
    let cfg: &[(&str, &str)] = if token_mode {
        &[("segment_seconds", "2"), ("viewer_access", "\"token\"")]
    } else {
        &[("segment_seconds", "2")]
    };
    let a = Atoll::start_with(
        if token_mode {
            "dialects-token"
        } else {
            "dialects"
        },
        cfg,
    );
    let token = token_mode.then(|| {
        let (s, t) = a.api("POST", "/api/viewer-tokens", Some(r#"{"ttl_s":3600}"#));
        assert_eq!(s, 200, "{t}");
        t["token"].as_str().unwrap().to_string()
    });
    let tok = |path: &str| match &token {
        Some(t) => with_param(path, &format!("token={t}")),
        None => path.to_string(),
    };
    let t0 = now_s();
    let port = free_udp_port();
    let body = json!({"id": "cu", "name": "Catch Up", "number": 7, "sources": [format!("udp://127.0.0.1:{port}")]}).to_string();
    assert_eq!(a.api("POST", "/api/channels", Some(&body)).0, 201);
    let _feed = udp_feed(port);
    a.wait_for("24 s recorded", Duration::from_secs(60), || {
        a.api("GET", "/api/channels/cu/recording", None).1["hours_kept"]
            .as_f64()
            .unwrap_or(0.0)
            * 3600.0
            >= 24.0
    });
    // the playlist an app loads
    let (s, m3u) = a.get(&tok("/playlist.m3u"));
    assert_eq!(s, 200);
    let m3u = String::from_utf8(m3u).unwrap();
    let entry = epg::parse_m3u(&m3u)
        .into_iter()
        .find(|e| e.tvg_id == "cu")
        .unwrap();
    let live = entry.url.clone();
    if let Some(t) = &token {
        assert!(live.ends_with(&format!("?token={t}")), "{live}");
        assert!(entry.catchup.as_ref().unwrap().source.contains(t.as_str()));
    }
    let catchup = entry.catchup.clone().expect("catch-up attributes");
    assert_eq!(catchup.mode, "default");
    let base = format!("http://127.0.0.1:{}", a.http);
    let path_of = |url: &str| {
        url.strip_prefix(&base)
            .unwrap_or_else(|| panic!("{url} is not on {base}"))
            .to_string()
    };
    // a 10 s "programme" in the middle of what is recorded
    let (start, dur) = (t0 + 8, 10i64);
    let now = now_s();
    let fill = |template: &str| {
        template
            .replace("{utc}", &start.to_string())
            .replace("${start}", &start.to_string())
            .replace("{start}", &start.to_string())
            .replace("{utcend}", &(start + dur).to_string())
            .replace("{end}", &(start + dur).to_string())
            .replace("{duration}", &dur.to_string())
            .replace("{lutc}", &now.to_string())
            .replace("{offset}", &(now - start).to_string())
    };
    let live_ts = live.replace("/index.m3u8", "/mpegts");
    // first, so that {offset} (seconds back from now) is computed as the app does, just before the request
    let hls_forms: Vec<(&str, String)> = vec![
        (
            "flussonic timeshift_rel-{offset}",
            live.replace("index.m3u8", &fill("timeshift_rel-{offset}.m3u8")),
        ),
        ("default (our catchup-source)", fill(&catchup.source)),
        (
            "flussonic index-{utc}-{duration}",
            live.replace("index.m3u8", &format!("index-{start}-{dur}.m3u8")),
        ),
        (
            "flussonic archive-{utc}-{duration}",
            live.replace("index.m3u8", &format!("archive-{start}-{dur}.m3u8")),
        ),
        (
            "flussonic archive-{utc}-now",
            live.replace("index.m3u8", &format!("archive-{start}-now.m3u8")),
        ),
        (
            "flussonic video-timeshift_abs",
            live.replace("index.m3u8", &format!("video-timeshift_abs-{start}.m3u8")),
        ),
        (
            "shift ?utc=&lutc=",
            fill(&with_param(&live, "utc={utc}&lutc={lutc}")),
        ),
    ];
    for (name, url) in &hls_forms {
        let (s, text, final_path) = get_follow(&a, path_of(url));
        assert_eq!(s, 200, "{name}: {url}\n{text}");
        let pdt = first_pdt(&text);
        assert!(
            pdt <= start as f64 + 0.05 && pdt > start as f64 - 2.1,
            "{name}: first segment at {pdt}, asked {start}\n{text}"
        );
        let (errors, secs) = ffmpeg_read(&format!("{base}{final_path}"), dur as u32);
        assert!(errors.is_empty(), "{name}: {errors}");
        assert!(secs >= dur as f64 - 2.1, "{name}: read {secs} s");
    }
    let ts_forms: Vec<(&str, String, u32)> = vec![
        (
            "flussonic-ts timeshift_abs-{utc}.ts",
            live_ts.replace("mpegts", &format!("timeshift_abs-{start}.ts")),
            10,
        ),
        (
            "flussonic-ts archive-{utc}-{duration}.ts",
            live_ts.replace("mpegts", &format!("archive-{start}-{dur}.ts")),
            30,
        ),
        (
            "shift on mpegts",
            with_param(&live_ts, &format!("utc={start}&lutc={now}")),
            10,
        ),
    ];
    for (name, url, limit) in &ts_forms {
        let (errors, secs) = ffmpeg_read(url, *limit);
        assert!(errors.is_empty(), "{name}: {errors}");
        assert!(secs >= dur as f64 - 2.1, "{name}: read {secs} s from {url}");
    }
    // outside the archive, in the future, malformed: clear 404/400, never a panic
    for (path, want) in [
        ("/live/cu/index-1000000000-60.m3u8".to_string(), 404),
        (format!("/live/cu/index-{}-60.m3u8", now + 3600), 404),
        (format!("/live/cu/timeshift_abs-{}.ts", now + 3600), 404),
        ("/live/cu/index.m3u8?utc=1000000000".to_string(), 404),
        ("/live/cu/mpegts?utc=1000000000".to_string(), 404),
        ("/live/cu/timeshift_abs-1000000000.m3u8".to_string(), 404),
        ("/live/cu/index.m3u8?utc=yesterday".to_string(), 400),
        (format!("/live/cu/archive-{start}-x.m3u8"), 400),
        ("/live/cu/index-99999999999999999-60.m3u8".to_string(), 400),
    ] {
        assert_eq!(a.get(&tok(&path)).0, want, "{path}");
    }
    if token.is_some() {
        // without the token, or with a forged one, nothing of it plays
        let (_, url) = &hls_forms[2];
        let bare = path_of(url).split('?').next().unwrap().to_string();
        assert_eq!(a.get(&bare).0, 401, "{bare}");
        assert_eq!(a.get(&format!("{bare}?token=1.forged")).0, 403);
    }
    assert!(a.alive_check());
}

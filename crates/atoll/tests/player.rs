//! The viewer page at `/` against a real server in headless Chromium (web/tests/player-ui.mjs):
//! channel list, live play, switching, remote keys, grid and channel guide, catch-up of a past
//! programme checked against its start, start-over, offline and not-in-archive messages, language
//! and memory, same-origin loading and the viewer token on every request. Plus the public player
//! API (no secrets) and the PWA files. And the page used with a TV remote alone and on a phone
//! (web/tests/player-remote.mjs, the bugs of issue 19). Screenshots land in target/screenshots/.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn xmltv_time(t: i64) -> String {
    let (y, m, d) = media::time::civil_from_days(t.div_euclid(86_400));
    let sod = t.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02} +0000",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// A guide for `demo.x` (matched to the demo channel by its display name) and `news.x`.
fn guide(progs: &[(i64, i64, &str)]) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv>\n");
    x.push_str("<channel id=\"demo.x\"><display-name>Atoll Demo</display-name></channel>\n");
    x.push_str("<channel id=\"news.x\"><display-name>News</display-name></channel>\n");
    for ch in ["demo.x", "news.x"] {
        for (a, b, title) in progs {
            x.push_str(&format!(
                "<programme start=\"{}\" stop=\"{}\" channel=\"{ch}\"><title>{title}</title>\
                 <desc>About {title}.</desc></programme>\n",
                xmltv_time(*a),
                xmltv_time(*b)
            ));
        }
    }
    x.push_str("</tv>\n");
    x
}

fn start_player_server() -> (Atoll, i64) {
    let a = Atoll::start_with("player", &[("segment_seconds", "2")]);
    let t0 = now_s();
    for body in [
        json!({"id": "news", "name": "News", "number": 2, "group": "News",
               "sources": ["testsrc://?size=320x240&fps=25"], "epg_id": "news.x"}),
        json!({"id": "sports", "name": "Sports", "number": 5, "group": "Sports",
               "sources": [], "publish_key": "secret-key-123"}),
    ] {
        let (s, v) = a.api("POST", "/api/channels", Some(&body.to_string()));
        assert_eq!(s, 201, "{v}");
    }
    (a, t0)
}

#[test]
fn player_api_exposes_no_secrets_and_pwa_files_are_served() {
    let (a, _) = start_player_server();
    let (s, body) = a.get("/api/player/channels");
    assert_eq!(s, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(
        !text.contains("secret-key-123") && !text.contains("testsrc") && !text.contains("sources"),
        "{text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = v["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["demo", "news", "sports"], "{v}");
    let demo = &v["channels"][0];
    assert_eq!(demo["url"], "/live/demo/index.m3u8");
    assert_eq!(demo["catchup"]["record"], true);
    assert_eq!(demo["catchup"]["hours"], 6);
    // the slate plays on a channel nobody publishes to
    a.wait_for("sports on the slate", Duration::from_secs(30), || {
        let v: Value = serde_json::from_slice(&a.get("/api/player/channels").1).unwrap();
        v["channels"][2]["slate"] == true && v["channels"][2]["state"] == "offline"
    });
    // the archive's oldest segment shows up as the start of catch-up
    a.wait_for("demo archived", Duration::from_secs(40), || {
        let v: Value = serde_json::from_slice(&a.get("/api/player/channels").1).unwrap();
        v["channels"][0]["catchup"]["from"].as_i64().unwrap_or(0) > now_s() - 60
    });
    // an inactive channel is not listed
    let (s, _) = a.api("PUT", "/api/channels/news", Some(r#"{"active":false}"#));
    assert_eq!(s, 200);
    let v: Value = serde_json::from_slice(&a.get("/api/player/channels").1).unwrap();
    assert_eq!(v["channels"].as_array().unwrap().len(), 2, "{v}");
    // the grid API: bounded ranges only
    assert_eq!(a.get("/api/player/guide?from=10&to=5").0, 422);
    assert_eq!(a.get("/api/player/guide?from=0&to=9999999").0, 422);
    let (s, g) = a.get("/api/player/guide");
    assert_eq!(s, 200);
    let g: Value = serde_json::from_slice(&g).unwrap();
    assert!(g["channels"]["demo"].is_array(), "{g}");

    // the page and its PWA files
    let (s, page) = a.get("/");
    assert_eq!(s, 200);
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("/assets/player/app.js") && page.contains("/manifest.webmanifest"));
    let (s, m) = a.get("/manifest.webmanifest");
    assert_eq!(s, 200);
    let m: Value = serde_json::from_slice(&m).unwrap();
    assert_eq!(m["start_url"], "/");
    let icons = m["icons"].as_array().unwrap();
    for size in ["192x192", "512x512"] {
        let icon = icons
            .iter()
            .find(|i| i["sizes"] == size && i["type"] == "image/png")
            .unwrap_or_else(|| panic!("no {size} PNG icon in {m}"));
        let (s, png) = a.get(icon["src"].as_str().unwrap());
        assert_eq!(s, 200, "{icon}");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        assert_eq!(size, format!("{w}x{w}"));
    }
    assert_eq!(
        header_of(a.http, "/manifest.webmanifest", "content-type").as_deref(),
        Some("application/manifest+json")
    );
    let (s, sw) = a.get("/sw.js");
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&sw).contains("addEventListener('fetch'"));
    assert_eq!(
        header_of(a.http, "/sw.js", "content-type").as_deref(),
        Some("application/javascript; charset=utf-8")
    );
    assert_eq!(
        header_of(a.http, "/sw.js", "cache-control").as_deref(),
        Some("no-cache")
    );
}

#[test]
fn viewer_page_plays_live_switches_catches_up_and_follows_remote_keys_in_chromium() {
    assert_browser_ready();
    let (a, t0) = start_player_server();
    // programmes relative to now: one before the archive, one that ends in ~20 s (catch-up), the
    // current one from t0+20 (start-over), and a later one
    let progs = [
        (t0 - 7200, t0 - 3600, "Old Show"),
        (t0 - 3600, t0 + 6, "Filler"),
        (t0 + 6, t0 + 20, "Past Show"),
        (t0 + 20, t0 + 3 * 3600, "Current Show"),
        (t0 + 3 * 3600, t0 + 4 * 3600, "Later Show"),
    ];
    // the browser reaches the current programme's start-over only once it has begun
    serve_guide(&a, &progs, t0 + 21);
    let cfg = json!({
        "channels": 3,
        "token": "viewer-tok-42",
        "old": {"start": progs[0].0, "title": progs[0].2},
        "past": {"start": progs[2].0, "stop": progs[2].1, "title": progs[2].2},
        "current": {"start": progs[3].0, "title": progs[3].2},
    });
    let (shots, v, checks) = run_browser_script(&a, "player-ui.mjs", &cfg);
    for must in [
        "list_row",
        "live_plays",
        "switch_click",
        "keys_list",
        "keys_zap",
        "keys_digits",
        "offline_message",
        "grid_keys",
        "catchup_segment_pdt",
        "catchup_playing_at_start",
        "not_in_archive_message",
        "startover_at_programme_start",
        "back_to_live",
        "i18n_zh",
        "remembers",
        "same_origin_only",
        "token_everywhere",
        "service_worker_shell_only",
    ] {
        assert!(checks.contains_key(must), "check {must} never ran: {v}");
    }
    for name in ["player-channels.png", "player-guide.png", "player-grid.png"] {
        assert!(shots.join(name).exists(), "{name}");
    }
}

/// Serves a guide of `progs` (demo and news), waits for the demo's playlist and for `ready_at`.
fn serve_guide(a: &Atoll, progs: &[(i64, i64, &str)], ready_at: i64) {
    // file sources are read from the guide directory only (default {data}/guides)
    let dir = a.dir.join("data").join("guides");
    let path = dir.join("guide.xml");
    std::fs::write(&path, guide(progs)).unwrap();
    let body = json!({"name": "test guide", "url": path.to_str().unwrap()}).to_string();
    let (s, src) = a.api("POST", "/api/epg/sources", Some(&body));
    assert_eq!(s, 201, "{src}");
    let id = src["id"].as_i64().unwrap();
    a.wait_for("guide synced", Duration::from_secs(30), || {
        a.api("GET", &format!("/api/epg/sources/{id}"), None).1["last_success"].is_string()
    });
    a.wait_playlist("demo", 2, Duration::from_secs(40));
    while now_s() < ready_at {
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `web/tests/{script}` against `a` and asserts every check it printed passed; gives back the
/// screenshot folder, the whole answer and its checks.
fn run_browser_script(
    a: &Atoll,
    script: &str,
    cfg: &Value,
) -> (PathBuf, Value, serde_json::Map<String, Value>) {
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(web_dir().join("tests").join(script))
        .arg(a.url(""))
        .arg(&shots)
        .arg(cfg.to_string())
        .current_dir(web_dir())
        .output()
        .expect("node is needed for the browser tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    let v: Value = serde_json::from_str(line).unwrap_or_else(|_| {
        panic!(
            "no result from the browser script:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    for s in v["shots"].as_array().unwrap() {
        println!("screenshot: {}", s.as_str().unwrap());
    }
    let checks = v["checks"].as_object().unwrap();
    let failed: Vec<String> = checks
        .iter()
        .filter(|(_, r)| **r != Value::Bool(true))
        .map(|(k, r)| format!("{k}: {r}"))
        .collect();
    assert!(
        failed.is_empty(),
        "browser checks failed:\n{}\n--- atoll log (tail) ---\n{}",
        failed.join("\n"),
        a.log_text()
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let checks = checks.clone();
    (shots, v, checks)
}

fn assert_browser_ready() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists() || std::env::var("CHROMIUM").is_ok(),
        "Chromium is needed for the browser tests (apt-get install -y chromium)"
    );
}

/// Issue 19: the page with a TV remote alone (1920×1080) and on a phone (390×844, touch).
#[test]
fn viewer_page_works_with_a_tv_remote_alone_and_on_a_phone_in_chromium() {
    assert_browser_ready();
    let (a, t0) = start_player_server();
    // a programme that ended ~20 s after the start (catch-up), the current one, a 10-minute one
    // (too short to print a title in the grid) and one three days ahead, where the guide ends
    let far = t0 + 3 * 86_400;
    let progs = [
        (t0 - 3600, t0 + 6, "Filler"),
        (t0 + 6, t0 + 20, "Past Show"),
        (t0 + 20, t0 + 3 * 3600, "Current Show"),
        (t0 + 3 * 3600, t0 + 3 * 3600 + 600, "News Flash"),
        (t0 + 3 * 3600 + 600, t0 + 4 * 3600, "Later Show"),
        (far, far + 3600, "Far Show"),
    ];
    serve_guide(&a, &progs, t0 + 21);
    let cfg = json!({
        "past": {"start": progs[1].0, "stop": progs[1].1, "title": progs[1].2},
        "current": {"start": progs[2].0, "title": progs[2].2},
        "last_stop": far + 3600,
    });
    let (shots, v, checks) = run_browser_script(&a, "player-remote.mjs", &cfg);
    for must in [
        "group_focus_survives_redraw",
        "topbar_reachable_by_remote",
        "grid_detail_no_null",
        "day_tabs_end_with_guide",
        "back_returns_focus_to_opener",
        "controls_reachable_by_remote",
        "jump_in_buffer_shows_timeshift",
        "back_to_live_from_buffer",
        "focus_on_player_after_overlay",
        "up_is_next_number_everywhere",
        "off_air_has_no_scrub_bar",
        "dates_in_browser_locale",
        "touch_controls_hide",
        "swipe_over_controls_zaps",
        "phone_guide_opaque",
        "phone_grid_cell_clear_of_names",
        "short_programmes_not_cut",
    ] {
        assert!(checks.contains_key(must), "check {must} never ran: {v}");
    }
    for name in ["remote-shifted.png", "phone-controls.png", "phone-grid.png"] {
        assert!(shots.join(name).exists(), "{name}");
    }
}

//! The admin console in a real browser: headless Chromium (Debian's package, driven by
//! playwright-core from web/node_modules) runs web/tests/admin-console.mjs against a fresh server:
//! sign in (wrong password first), switch language, add a `testsrc://` channel after validation
//! errors that name the field (and a preferred audio language picked by name), see it go live,
//! start recording, see the coverage bar grow, edit it (another audio language typed as a code, a
//! bad one named at its field), stop recording, channel and system pages, delete it, and an
//! operator who cannot see Users.
//! Screenshots land in target/screenshots/ (admin-channels.png, admin-channel.png, admin-system.png).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;

#[test]
fn admin_console_flow_in_chromium() {
    let a = Atoll::start("admin-ui");
    a.wait_playlist("demo", 1, Duration::from_secs(40));
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let (v, report) = browser_script(
        "tests/admin-console.mjs",
        &[&a.url(""), PASSWORD, &shots.to_string_lossy()],
        240,
    );
    assert_eq!(
        v["ok"],
        true,
        "the admin console flow failed: {}\n{report}page errors: {}\n--- atoll log (tail) ---\n{}",
        v["error"],
        v["pageErrors"],
        tail(&a.log_text(), 60)
    );
    assert!(shots.join("admin-channels.png").exists());
    assert!(
        v["pageErrors"]
            .as_array()
            .map(|a| a.is_empty())
            .unwrap_or(true),
        "JavaScript errors in the console: {}",
        v["pageErrors"]
    );
}

/// An RTMP push channel in the console (web/tests/admin-push.mjs, 1366×768, English and Chinese):
/// no test pattern pre-filled, "waiting for encoder", the server URL and stream key with copy
/// buttons, ffmpeg publishing to what the page shows, the last error with its time and as history
/// once live again, the archive gap at every zoom, the truthful "keep" on delete, and the kept
/// recordings on the System page removed from there, and the audit log in words (that removal,
/// a failed sign-in) in both languages. Screenshots: target/screenshots/admin-push-*.png,
/// admin-system-kept*.png.
#[test]
fn push_channel_encoder_settings_errors_gaps_and_kept_archive_in_chromium() {
    require("ffmpeg");
    let a = Atoll::start("admin-push");
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let clip = fixture_clip();
    let (v, report) = browser_script(
        "tests/admin-push.mjs",
        &[
            &a.url(""),
            PASSWORD,
            &shots.to_string_lossy(),
            &a.rtmp.to_string(),
            path_str(&clip),
        ],
        240,
    );
    assert_eq!(
        v["ok"],
        true,
        "the push channel flow failed: {}\n{report}page errors: {}\n--- atoll log (tail) ---\n{}",
        v["error"],
        v["pageErrors"],
        tail(&a.log_text(), 60)
    );
    assert_eq!(
        v["pageErrors"],
        serde_json::json!([]),
        "JavaScript errors in the console"
    );
    // the removal from the System page is in the audit log
    let (_, log) = a.api("GET", "/api/audit?limit=5", None);
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "archive.remove" && e["target"] == "push-ui"),
        "{log}"
    );
}

/// The console's tables and messages at 1366×768 (web/tests/admin-tables.mjs): row buttons inside
/// the visible table (Channels, EPG sources; English and Chinese), the guide's unmatched XMLTV ids
/// shown and suggested for the EPG id field, errors that read like sentences (sources counted from
/// 1 and only the bad one red, no stale error, a taken number naming its channel, the import
/// report), a lockout in minutes, and "Last used" of API tokens updating by itself.
/// Screenshots: target/screenshots/admin-channels-1366-*.png, admin-epg-1366-*.png.
#[test]
fn console_tables_messages_and_guide_ids_at_1366_in_chromium() {
    let a = Atoll::start("admin-tables");
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    // a lineup with long names and sources, as an operator has
    for (id, name, number, src) in [
        (
            "news",
            "News Channel",
            7,
            "udp://@239.255.10.10:5000?localaddr=192.168.100.20",
        ),
        (
            "sport-hd",
            "International Sport HD (backup feed)",
            12,
            "http://encoder-a.example.net:8080/live/sport-hd/index.m3u8",
        ),
        (
            "kids",
            "Kinderkanal Deutschland",
            23,
            "rtmp://upstream.example.org/live/kids_channel_main",
        ),
        // active, failing: its state cell carries the error
        (
            "movies",
            "Movies 24",
            31,
            "http://127.0.0.1:9/live/movies/index.m3u8",
        ),
    ] {
        let body = serde_json::json!({"id": id, "name": name, "number": number, "group": "Entertainment and more",
            "sources": [src, "udp://@239.255.10.11:5000"], "active": id == "movies", "record": id == "movies"});
        assert_eq!(
            a.api("POST", "/api/channels", Some(&body.to_string())).0,
            201
        );
    }
    let dir = a.dir.join("data/guides");
    std::fs::create_dir_all(&dir).unwrap();
    let guide = dir.join("guide.xml");
    let xml = guide_xml("news.example", "Morning News", 4).replace("</tv>\n", "")
        + &guide_xml("sport.example", "Match", 4)
            .replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv>\n", "");
    std::fs::write(&guide, xml).unwrap();
    let body = serde_json::json!({"name": "Satellite guide (long name of the provider)", "url": path_str(&guide)});
    let (s, v) = a.api("POST", "/api/epg/sources", Some(&body.to_string()));
    assert_eq!(s, 201, "{v}");
    let (s, _) = a.api(
        "POST",
        "/api/users",
        Some(r#"{"name":"victim","password":"victim-password","role":"operator"}"#),
    );
    assert_eq!(s, 201);
    let (s, tok) = a.api("POST", "/api/tokens", Some(r#"{"name":"tables-token"}"#));
    assert_eq!(s, 201, "{tok}");

    let (v, report) = browser_script(
        "tests/admin-tables.mjs",
        &[
            &a.url(""),
            PASSWORD,
            &shots.to_string_lossy(),
            tok["token"].as_str().unwrap(),
        ],
        180,
    );
    assert_eq!(
        v["ok"], true,
        "the tables and messages check failed: {}\n{report}page errors: {}",
        v["error"], v["pageErrors"],
    );
    assert_eq!(v["pageErrors"], serde_json::json!([]));
}

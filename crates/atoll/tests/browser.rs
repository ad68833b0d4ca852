//! The page at `/` plays live video in a real browser: headless Chromium (Debian's package,
//! driven by playwright-core from web/node_modules) loads it, hls.js plays the demo channel, and
//! the video's play head must advance with no error. A screenshot lands in target/screenshots/.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

#[test]
fn home_page_plays_live_video_in_chromium() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists() || std::env::var("CHROMIUM").is_ok(),
        "Chromium is needed for the browser tests (apt-get install -y chromium)"
    );
    let a = Atoll::start("browser");
    a.wait_playlist("demo", 1, std::time::Duration::from_secs(40));
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("home-live.png");
    let out = Command::new("node")
        .arg(web_dir().join("tests/play-live.mjs"))
        .arg(a.url("/"))
        .arg(&shot)
        .current_dir(web_dir())
        .output()
        .expect("node is needed for the browser tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| {
        panic!(
            "no result from the browser script:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(v["ok"], true, "video did not play: {v}\n{}", a.log_text());
    assert_eq!(v["channel"], "demo");
    assert!(shot.exists());
    println!("screenshot: {}", shot.display());
}

/// With viewer tokens on, the page opened from a minted link plays (every request it makes,
/// hls.js's playlist and segment fetches included, must carry the token or it is refused), and
/// the same page without the token does not.
#[test]
fn viewer_page_plays_with_a_real_viewer_token() {
    let a = Atoll::start_with("browser-token", &[("viewer_access", "\"token\"")]);
    a.wait_for("demo live", std::time::Duration::from_secs(40), || {
        a.channel("demo")["state"] == "live"
    });
    let (s, t) = a.api("POST", "/api/viewer-tokens", Some(r#"{"ttl_s":600}"#));
    assert_eq!(s, 200, "{t}");
    // the first segment is out (the playlist needs the token too)
    let token = t["token"].as_str().unwrap().to_string();
    a.wait_for(
        "a segment in demo's playlist",
        std::time::Duration::from_secs(40),
        || {
            let (s, b) = a.get(&format!("/live/demo/index.m3u8?token={token}"));
            s == 200 && String::from_utf8_lossy(&b).contains("#EXTINF")
        },
    );
    let run = |url: String| -> serde_json::Value {
        let out = Command::new("node")
            .arg(web_dir().join("tests/play-live.mjs"))
            .arg(url)
            .current_dir(web_dir())
            .output()
            .expect("node is needed for the browser tests");
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|_| {
            panic!(
                "no result from the browser script:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };
    let v = run(a.url(&format!("/?token={}", t["token"].as_str().unwrap())));
    assert_eq!(v["ok"], true, "video did not play with the token: {v}");
    let v = run(a.url("/"));
    assert_eq!(v["ok"], false, "without a token nothing may play: {v}");
}

/// Android WebViews on TV boxes can have no DOM storage: any access to `window.localStorage`
/// throws. The page must still start, list the channels and play live (settings then last for the
/// session only).
#[test]
fn page_plays_live_where_local_storage_is_unavailable() {
    let a = Atoll::start("browser-nostorage");
    a.wait_playlist("demo", 1, std::time::Duration::from_secs(40));
    let out = Command::new("node")
        .arg(web_dir().join("tests/play-live.mjs"))
        .arg(a.url("/"))
        .arg("--no-storage")
        .current_dir(web_dir())
        .output()
        .expect("node is needed for the browser tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|_| {
            panic!(
                "no result from the browser script:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert_eq!(
        v["storageBlocked"], true,
        "the page could reach localStorage: {v}"
    );
    assert_eq!(
        v["ok"],
        true,
        "video did not play without storage: {v}\n{}",
        a.log_text()
    );
    assert_eq!(v["channel"], "demo", "{v}");
}

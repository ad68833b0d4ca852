//! The page at `/` plays live video in a real browser: headless Chromium (Debian's package,
//! driven by playwright-core from web/node_modules) loads it, hls.js plays the demo channel, and
//! the video's play head must advance with no error. A screenshot lands in target/screenshots/.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../web")
        .canonicalize()
        .unwrap()
}

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

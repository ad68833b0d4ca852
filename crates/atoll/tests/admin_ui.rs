//! The admin console in a real browser: headless Chromium (Debian's package, driven by
//! playwright-core from web/node_modules) runs web/tests/admin-console.mjs against a fresh server:
//! sign in (wrong password first), switch language, add a `testsrc://` channel after validation
//! errors that name the field, see it go live, start recording, see the coverage bar grow, edit it,
//! stop recording, channel and system pages, delete it, and an operator who cannot see Users.
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

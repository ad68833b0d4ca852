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

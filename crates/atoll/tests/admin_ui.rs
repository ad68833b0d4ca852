//! The admin console in a real browser: headless Chromium (Debian's package, driven by
//! playwright-core from web/node_modules) runs web/tests/admin-console.mjs against a fresh server:
//! sign in (wrong password first), switch language, add a `testsrc://` channel after validation
//! errors that name the field, see it go live, start recording, see the coverage bar grow, edit it,
//! stop recording, channel and system pages, delete it, and an operator who cannot see Users.
//! Screenshots land in target/screenshots/ (admin-channels.png, admin-channel.png, admin-system.png).

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn admin_console_flow_in_chromium() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists() || std::env::var("CHROMIUM").is_ok(),
        "Chromium is needed for the browser tests (apt-get install -y chromium)"
    );
    assert!(
        web_dir().join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run `npm ci` in {}",
        web_dir().display()
    );
    let a = Atoll::start("admin-ui");
    a.wait_playlist("demo", 1, Duration::from_secs(40));
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    // The script caps itself (ADMIN_TEST_BUDGET_S); this is the backstop if node itself hangs.
    let budget_s = 240;
    let mut child = Command::new("node")
        .arg(web_dir().join("tests/admin-console.mjs"))
        .arg(a.url(""))
        .arg(PASSWORD)
        .arg(&shots)
        .env("ADMIN_TEST_BUDGET_S", budget_s.to_string())
        .current_dir(web_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is needed for the browser tests");
    let mut stdout_pipe = child.stdout.take().unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout_pipe.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let mut killed = false;
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(budget_s + 30) {
            let _ = child.kill();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.wait();
    let stdout = out_t.join().unwrap();
    let stderr = err_t.join().unwrap();
    assert!(
        !killed,
        "the browser script did not finish in {}s\n{stdout}\n{stderr}",
        budget_s + 30
    );

    let line = stdout.lines().last().unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|_| panic!("no result from the browser script:\n{stdout}\n{stderr}"));
    let mut report = String::new();
    for s in v["steps"].as_array().into_iter().flatten() {
        report.push_str(&format!(
            "  [{}] {} ({} ms){}\n",
            if s["ok"] == true { "ok" } else { "FAILED" },
            s["name"].as_str().unwrap_or(""),
            s["ms"],
            s["error"]
                .as_str()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
    }
    println!("admin console steps:\n{report}");
    for p in v["screenshots"].as_array().into_iter().flatten() {
        println!("screenshot: {}", p.as_str().unwrap_or(""));
    }
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

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

//! Operating a server for years: the clock's synchronisation as the kernel sees it (the system
//! page, `/api/system`, metrics, log warnings), and the log (levels at run time, the console's
//! Log page of the last warnings).
mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

/// The kernel's (synchronised, esterror µs), read by python3 through libc's adjtimex: a second
/// reader of the same kernel state, independent of Atoll's code.
fn kernel_sync() -> (bool, i64) {
    require("python3");
    let out = Command::new("python3")
        .args([
            "-c",
            "import ctypes,struct\n\
             buf=ctypes.create_string_buffer(512)\n\
             r=ctypes.CDLL('libc.so.6').adjtimex(buf)\n\
             m,o,f,maxe,este,st=struct.unpack_from('=i4xqqqqi',buf.raw,0)\n\
             print(r, este, st)",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v: Vec<i64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    let (state, esterror, status) = (v[0], v[1], v[2]);
    (state != 5 && status & 0x40 == 0, esterror)
}

fn metric_f64(a: &Atoll, name: &str) -> f64 {
    let text = String::from_utf8_lossy(&a.get("/metrics").1).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
}

fn console(a: &Atoll, expect: &str, log_text: &str, lang: &str) -> Value {
    let shots =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let (v, report) = browser_script(
        "tests/admin-ops.mjs",
        &[
            &a.url(""),
            PASSWORD,
            &shots.to_string_lossy(),
            expect,
            log_text,
            lang,
        ],
        90,
    );
    assert_eq!(
        v["ok"], true,
        "{}\n{report}page errors: {}",
        v["error"], v["pageErrors"]
    );
    assert!(
        v["pageErrors"].as_array().is_none_or(|a| a.is_empty()),
        "{}",
        v["pageErrors"]
    );
    v
}

#[test]
fn the_clock_state_is_the_kernels() {
    let a = Atoll::start("clock-kernel");
    let (_, sys) = a.api("GET", "/api/system", None);
    let (synced, esterror_us) = kernel_sync();
    assert_eq!(sys["clock"]["synchronized"], synced, "{}", sys["clock"]);
    let est_ms = sys["clock"]["est_error_ms"].as_f64().unwrap();
    assert!(
        (est_ms - esterror_us as f64 / 1000.0).abs() < 100.0,
        "Atoll {est_ms} ms, kernel {esterror_us} µs"
    );
    assert_eq!(
        metric_f64(&a, "atoll_clock_synchronized"),
        synced as u8 as f64
    );
    assert!(
        (metric_f64(&a, "atoll_clock_est_error_seconds") - esterror_us as f64 / 1e6).abs() < 0.1
    );
    let bad = !synced || esterror_us > 1_000_000;
    assert_eq!(sys["clock"]["warning"], bad);
    // the log says so at start, a warning when bad
    a.wait_for("the clock's state logged", T, || {
        a.log_text().contains("clock: ")
    });
    let line = a
        .log_text()
        .lines()
        .find(|l| l.contains("clock: "))
        .unwrap()
        .to_string();
    assert_eq!(line.contains("WARN"), bad, "{line}");
}

#[test]
fn an_unsynchronised_or_inexact_clock_is_warned_about() {
    // the kernel's answer replaced (debug builds): a synchronised clock is quiet
    let a = Atoll::start_full("clock-ok", &[], &[("ATOLL_TEST_CLOCK_SYNC", "sync:2500")]);
    let (_, sys) = a.api("GET", "/api/system", None);
    assert_eq!(sys["clock"]["synchronized"], true);
    assert_eq!(sys["clock"]["est_error_ms"], 2.5);
    assert_eq!(metric_f64(&a, "atoll_clock_synchronized"), 1.0);
    assert_eq!(metric_f64(&a, "atoll_clock_est_error_seconds"), 0.0025);
    a.wait_for("the clock's state logged", T, || {
        a.log_text().contains("clock: ")
    });
    assert!(!a.log_text().contains("WARN clock"), "{}", a.log_text());
    console(&a, "synchronized", "", "en");
    drop(a);

    // off by more than a second: a warning, though synchronised
    let a = Atoll::start_full(
        "clock-err",
        &[],
        &[("ATOLL_TEST_CLOCK_SYNC", "sync:1500000")],
    );
    a.wait_for("the warning", T, || {
        a.log_text().contains("estimated error is 1.5 s (over 1 s)")
    });
    assert_eq!(
        a.api("GET", "/api/system", None).1["clock"]["warning"],
        true
    );
    let v = console(&a, "error", "", "zh");
    assert!(
        v["texts"]["sync"].as_str().unwrap().contains("超过一秒"),
        "{v}"
    );
    drop(a);

    // unsynchronised
    let a = Atoll::start_full("clock-unsync", &[], &[("ATOLL_TEST_CLOCK_SYNC", "unsync")]);
    a.wait_for("the warning", T, || {
        a.log_text().contains("system clock NOT synchronised")
    });
    assert_eq!(metric_f64(&a, "atoll_clock_synchronized"), 0.0);
    let (_, sys) = a.api("GET", "/api/system", None);
    assert_eq!(sys["clock"]["synchronized"], false);
    assert_eq!(sys["clock"]["warning"], true);
    console(&a, "unsynchronized", "", "en");
}

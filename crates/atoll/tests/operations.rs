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

fn packaging() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../packaging")
}

/// The metric names in a PromQL expression: label matchers, strings, ranges and the words of
/// PromQL itself left out. Panics on a word that is neither a metric nor known PromQL.
fn metric_names(expr: &str) -> Vec<String> {
    const PROMQL: &[&str] = &[
        "sum",
        "count",
        "max",
        "min",
        "avg",
        "rate",
        "increase",
        "irate",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "label_values",
        "topk",
        "bottomk",
        "delta",
        "deriv",
        "abs",
        "clamp_min",
        "clamp_max",
    ];
    const LABELS: &[&str] = &["instance", "channel", "node", "reason", "job", "role"];
    let mut plain = String::new();
    let mut depth_brace = 0;
    let mut depth_bracket = 0;
    let mut in_str = false;
    for c in expr.chars() {
        match c {
            '"' => in_str = !in_str,
            _ if in_str => {}
            '{' => depth_brace += 1,
            '}' => depth_brace -= 1,
            '[' => depth_bracket += 1,
            ']' => depth_bracket -= 1,
            _ if depth_brace > 0 || depth_bracket > 0 => {}
            c => plain.push(c),
        }
        if matches!(c, '{' | '}' | '[' | ']') {
            plain.push(' ');
        }
    }
    let mut names = Vec::new();
    let mut word = String::new();
    let mut prev = ' ';
    for c in plain.chars().chain([' ']) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            let w = std::mem::take(&mut word);
            let starts_alpha = w
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if prev != '$' && starts_alpha {
                if w.starts_with("atoll_") {
                    names.push(w);
                } else {
                    assert!(
                        PROMQL.contains(&w.as_str()) || LABELS.contains(&w.as_str()),
                        "'{w}' in `{expr}` is neither an Atoll metric nor known PromQL"
                    );
                }
            }
        }
        prev = c;
    }
    names
}

#[test]
fn alert_rules_and_dashboard_use_only_metrics_atoll_exports() {
    require("promtool");
    let dir = packaging().join("prometheus");
    let out = Command::new("promtool")
        .args(["check", "rules", "atoll-alerts.yml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("6 rules found"),
        "{text}"
    );
    // each alert fires on the series that should fire it (and not on the others)
    let out = Command::new("promtool")
        .args(["test", "rules", "atoll-alerts.test.yml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("SUCCESS"), "{text}");

    // the expressions: the rules' and every dashboard query (panels and variables)
    let rules = std::fs::read_to_string(dir.join("atoll-alerts.yml")).unwrap();
    let mut exprs: Vec<String> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr:"))
        .map(|e| e.trim().to_string())
        .collect();
    assert_eq!(exprs.len(), 6);
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(packaging().join("grafana/atoll-dashboard.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    for p in panels {
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {} has no query", p["title"]);
        for t in targets {
            exprs.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    for v in dash["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["definition"].as_str() {
            exprs.push(q.to_string());
        }
    }
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for want in ["bitrate", "Viewers", "coverage", "disk", "CPU", "Egress"] {
        assert!(
            titles.iter().any(|t| t.contains(want)),
            "no {want} panel: {titles:?}"
        );
    }

    // a running Atoll with a recording channel and a viewer
    let a = Atoll::start_with("metrics-names", &[("segment_seconds", "2")]);
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"rec","name":"Recorded","sources":["testsrc://"],"record":true}"#),
    );
    assert_eq!(s, 201, "{v}");
    let playlist = a.wait_playlist("rec", 2, T);
    let seg = playlist
        .lines()
        .rfind(|l| l.ends_with(".ts"))
        .unwrap()
        .to_string();
    let sent_before = metric_f64(&a, "atoll_http_sent_bytes_total");
    let (s, body) = a.get(&format!("/live/rec/{seg}"));
    assert_eq!(s, 200);
    assert!(metric_f64(&a, "atoll_http_sent_bytes_total") >= sent_before + body.len() as f64);
    a.wait_for("archived segments", T, || {
        let text = String::from_utf8_lossy(&a.get("/metrics").1).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix("atoll_channel_archive_segments{channel=\"rec\"} "))
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n >= 2)
    });
    // stopping the recording leaves a gap, counted with its reason
    let (s, _) = a.api("POST", "/api/channels/rec/recording/stop", None);
    assert_eq!(s, 200);
    a.wait_for("the gap counted", T, || {
        String::from_utf8_lossy(&a.get("/metrics").1)
            .contains("atoll_archive_gaps_total{channel=\"rec\",reason=\"recording_stopped\"} 1")
    });
    let text = String::from_utf8_lossy(&a.get("/metrics").1).into_owned();
    assert!(
        text.contains("atoll_channel_recording_failing{channel=\"rec\"} 0"),
        "{text}"
    );
    assert!(text.contains("atoll_node_info{role=\"origin\""), "{text}");
    assert!(metric_f64(&a, "atoll_archive_disk_total_bytes") > 0.0);
    assert!(metric_f64(&a, "atoll_process_cpu_seconds_total") > 0.0);
    assert_eq!(metric_f64(&a, "atoll_segment_seconds"), 2.0);
    let families: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut used = std::collections::BTreeSet::new();
    for e in &exprs {
        let names = metric_names(e);
        assert!(
            !names.is_empty() || e.contains("label_values"),
            "no metric in `{e}`"
        );
        for n in names {
            assert!(
                families.contains(n.as_str()),
                "`{e}` uses {n}, which /metrics does not export:\n{families:?}"
            );
            used.insert(n);
        }
    }
    for want in [
        "atoll_channel_up",
        "atoll_channel_recording_failing",
        "atoll_archive_gaps_total",
        "atoll_archive_disk_free_bytes",
        "atoll_clock_synchronized",
        "atoll_cluster_node_healthy",
    ] {
        assert!(used.contains(want), "no rule or panel uses {want}");
    }
}

#[test]
fn metric_names_are_read_from_promql() {
    assert_eq!(
        metric_names(r#"(atoll_channel_up == 0) and on(instance) atoll_node_info{role="origin"}"#),
        ["atoll_channel_up", "atoll_node_info"]
    );
    assert_eq!(
        metric_names(r#"increase(atoll_archive_gaps_total{reason!="x y"}[5m]) > 0"#),
        ["atoll_archive_gaps_total"]
    );
    let r = std::panic::catch_unwind(|| metric_names("rate(node_cpu_seconds_total[1m])"));
    assert!(r.is_err(), "a metric Atoll does not have is caught");
}

fn channel_runner_stopped_lines(a: &Atoll, id: &str) -> usize {
    a.log_text()
        .lines()
        .filter(|l| l.contains("channel runner stopped") && l.contains(&format!("channel={id}")))
        .count()
}

#[test]
fn the_log_names_channel_and_reason_keeps_no_secret_and_changes_level_at_run_time() {
    let a = Atoll::start("logs");
    // a source that fails, with credentials in its URL
    let dead = free_port();
    let body = format!(
        r#"{{"id":"broken","name":"Broken","sources":["http://feeduser:s3cret-pw@127.0.0.1:{dead}/feed.ts"]}}"#
    );
    let (s, v) = a.api("POST", "/api/channels", Some(&body));
    assert_eq!(s, 201, "{v}");
    a.wait_for("the source's warning", T, || {
        a.log_text()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("channel=broken"))
    });
    let (s, log) = a.api("GET", "/api/log", None);
    assert_eq!(s, 200, "{log}");
    assert_eq!(log["filter"], "info");
    let e = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["channel"] == "broken")
        .unwrap_or_else(|| panic!("no entry of channel broken: {log}"))
        .clone();
    assert_eq!(e["level"], "WARN");
    assert!(e["message"].as_str().unwrap().len() > 5, "a reason: {e}");
    // one line per event, each with its channel; the password is in neither log
    let line = a
        .log_text()
        .lines()
        .find(|l| l.contains("WARN") && l.contains("channel=broken"))
        .unwrap()
        .to_string();
    assert!(
        line.contains("source=http://") || line.contains("connect"),
        "{line}"
    );
    // an encoder with a wrong publish key: refused, with the channel and why, never the key
    let body = r#"{"id":"pushed","name":"Pushed","sources":[],"publish_key":"right-key-123"}"#;
    assert_eq!(a.api("POST", "/api/channels", Some(body)).0, 201);
    let r = rtmp_publish_attempt(
        &a.rtmp_url("/live/pushed?key=wrong-secret-9"),
        Duration::from_secs(10),
    );
    assert!(r.is_err(), "a wrong key publishes");
    a.wait_for("the refusal logged", T, || {
        a.log_text()
            .lines()
            .any(|l| l.contains("rtmp publish refused") && l.contains("channel=pushed"))
    });
    let (_, log) = a.api("GET", "/api/log", None);
    assert!(
        log["entries"].as_array().unwrap().iter().any(|e| e["channel"] == "pushed"
            && e["message"].as_str().unwrap().contains("refused")),
        "{log}"
    );
    for secret in ["s3cret-pw", "wrong-secret-9", "right-key-123"] {
        assert!(!a.log_text().contains(secret), "{secret}: {}", a.log_text());
        assert!(!log.to_string().contains(secret), "{secret}: {log}");
    }
    // newest first, bounded by limit; a bad limit names the field
    let (_, one) = a.api("GET", "/api/log?limit=1", None);
    assert_eq!(one["entries"].as_array().unwrap().len(), 1);
    let (s, bad) = a.api("GET", "/api/log?limit=0", None);
    assert_eq!((s, bad["field"].as_str()), (422, Some("limit")), "{bad}");

    // the level changes while running: debug lines appear, then a stricter filter hides info
    let make_and_delete = |id: &str| {
        let body = format!(r#"{{"id":"{id}","name":"{id}","sources":["testsrc://"]}}"#);
        assert_eq!(a.api("POST", "/api/channels", Some(&body)).0, 201);
        a.wait_for("the channel up", T, || a.channel(id)["state"] == "live");
        assert_eq!(a.api("DELETE", &format!("/api/channels/{id}"), None).0, 204);
        std::thread::sleep(Duration::from_millis(500));
    };
    make_and_delete("quiet1");
    assert_eq!(
        channel_runner_stopped_lines(&a, "quiet1"),
        0,
        "no debug lines at info"
    );
    let (s, v) = a.api("PUT", "/api/log/level", Some(r#"{"filter":"debug"}"#));
    assert_eq!((s, v["filter"].as_str()), (200, Some("debug")), "{v}");
    make_and_delete("loud1");
    a.wait_for("a debug line", T, || {
        channel_runner_stopped_lines(&a, "loud1") == 1
    });
    let (s, v) = a.api("PUT", "/api/log/level", Some(r#"{"filter":"warn"}"#));
    assert_eq!(s, 200, "{v}");
    let lines_before = a.log_text().lines().count();
    make_and_delete("quiet2");
    let after: Vec<String> = a
        .log_text()
        .lines()
        .skip(lines_before)
        .filter(|l| l.contains(" INFO ") || l.contains(" DEBUG "))
        .map(String::from)
        .collect();
    assert!(after.is_empty(), "info lines at warn: {after:?}");
    // not a filter: refused, naming the field; the filter in force stays
    let (s, v) = a.api(
        "PUT",
        "/api/log/level",
        Some(r#"{"filter":"atoll=[nonsense"}"#),
    );
    assert_eq!((s, v["field"].as_str()), (422, Some("filter")), "{v}");
    assert_eq!(a.api("GET", "/api/log", None).1["filter"], "warn");
    // operators read the log, only admins change the level; the change is audited
    let body = r#"{"name":"op1","password":"operator-pw-1","role":"operator"}"#;
    assert_eq!(a.api("POST", "/api/users", Some(body)).0, 201);
    let (s, _) = http(
        a.http,
        "GET",
        "/api/log",
        Some(("op1", "operator-pw-1")),
        None,
    );
    assert_eq!(s, 200);
    let (s, _) = http(
        a.http,
        "PUT",
        "/api/log/level",
        Some(("op1", "operator-pw-1")),
        Some(r#"{"filter":"trace"}"#),
    );
    assert_eq!(s, 403);
    let (_, audit) = a.api("GET", "/api/audit", None);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "log.level"),
        "{audit}"
    );
    assert_eq!(
        a.api("PUT", "/api/log/level", Some(r#"{"filter":"info"}"#))
            .0,
        200
    );

    // the console's Log page lists the warning of channel broken, in English and Chinese, and
    // changes the level
    console(&a, "any", "broken", "en");
    let v = console(&a, "any", "broken", "zh");
    assert!(v["texts"]["log"].as_str().unwrap().contains("警告"), "{v}");
    assert_eq!(a.api("GET", "/api/log", None).1["filter"], "debug");
}

//! Faults on the archive and store side, against the running binary: a writer that holds the
//! configuration database (a long guide import) must not stall readers; a full archive disk stops
//! recording with `disk_full` while live keeps serving, and recording resumes when space returns;
//! `kill -9` under load loses no recorded segment.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const T: Duration = Duration::from_secs(60);

/// Runs `f` on a thread and returns its result if it finishes within `limit`.
fn within<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

fn media_sequence(playlist: &str) -> u64 {
    playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn readers_answer_while_a_long_write_holds_the_database() {
    let dir = temp_dir("hold-writer");
    let hold = dir.join("hold");
    let a = Atoll::start_full(
        "readers",
        &[],
        &[("ATOLL_TEST_HOLD_WRITER_FILE", hold.to_str().unwrap())],
    );
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"one","name":"One","sources":["testsrc://"]}"#),
    );
    assert_eq!(s, 201, "{v}");
    // From now on the next write holds a write transaction open until `hold` goes (a slow import).
    std::fs::write(&hold, b"").unwrap();
    let port = a.http;
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let r = http(
            port,
            "POST",
            "/api/channels",
            Some(("admin", PASSWORD)),
            Some(r#"{"id":"two","name":"Two","sources":["testsrc://"]}"#),
        );
        let _ = done_tx.send(r.0);
    });
    // The write is stuck behind the held transaction...
    assert!(
        done_rx.recv_timeout(Duration::from_millis(1500)).is_err(),
        "the write was expected to wait for the held writer"
    );
    // ...while the public player data, a signed-in API read and the guide answer promptly.
    for path in ["/api/player/channels", "/api/player/guide?from=0&to=3600"] {
        let started = Instant::now();
        let r = within(Duration::from_secs(3), move || {
            http(port, "GET", path, None, None)
        });
        let (status, body) = r.unwrap_or_else(|| panic!("{path} waited for the writer"));
        assert!(
            status == 200 || path.contains("guide"),
            "{path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    let r = within(Duration::from_secs(3), move || {
        http(
            port,
            "GET",
            "/api/channels",
            Some(("admin", PASSWORD)),
            None,
        )
    });
    let (status, body) = r.expect("a signed-in GET waited for the writer");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("\"one\""));
    // the writer was busy all along
    assert!(
        done_rx.try_recv().is_err(),
        "the held write finished early: the test proved nothing"
    );
    std::fs::remove_file(&hold).unwrap();
    assert_eq!(done_rx.recv_timeout(T).expect("write finished"), 201);
}

/// A tmpfs mounted for the test, unmounted (lazily) on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(path: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(path).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("mount is required for the disk-full test");
        assert!(ok.success(), "mounting a tmpfs (needs root) failed");
        Mount(path.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the filesystem of `dir` with one file until the disk is full; returns its path.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let p = dir.join("filler");
    let mut f = std::fs::File::create(&p).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if f.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = f.flush();
    p
}

#[test]
fn a_full_archive_disk_stops_recording_with_disk_full_and_live_keeps_serving() {
    let dir = temp_dir("diskfull");
    let arch = dir.join("archive");
    let mount = Mount::tmpfs(&arch, "20m");
    let a = Atoll::start_with(
        "diskfull",
        &[
            ("segment_seconds", "2"),
            ("archive_dir", &format!("{:?}", arch.to_str().unwrap())),
        ],
    );
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"full","name":"Full","sources":["testsrc://"]}"#),
    );
    assert_eq!(s, 201, "{v}");
    let rec = || a.api("GET", "/api/channels/full/recording", None).1;
    a.wait_for("2 segments recorded", T, || {
        rec()["segments"].as_i64().unwrap_or(0) >= 2
    });
    let filler = fill(&mount.0);
    a.wait_for("recording error disk_full", T, || {
        let r = rec();
        r["state"] == "error" && r["reason"] == "disk_full"
    });
    // live keeps serving: the playlist advances while the archive cannot write
    let seq0 = media_sequence(&a.wait_playlist("full", 1, T));
    a.wait_for("live playlist advancing", T, || {
        let (s, b) = a.get("/live/full/index.m3u8");
        s == 200 && media_sequence(&String::from_utf8_lossy(&b)) >= seq0 + 2
    });
    assert_eq!(
        rec()["state"],
        "error",
        "still failing while the disk is full"
    );
    let metrics = String::from_utf8_lossy(&a.get("/metrics").1).into_owned();
    let full_errors: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("atoll_recorder_disk_full_errors_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("disk-full counter in /metrics");
    assert!(full_errors >= 1, "{metrics}");
    let segments_when_full = rec()["segments"].as_i64().unwrap();
    // space returns: recording resumes by itself
    std::fs::remove_file(&filler).unwrap();
    a.wait_for("recording again", T, || {
        let r = rec();
        r["state"] == "recording" && r["segments"].as_i64().unwrap_or(0) >= segments_when_full + 2
    });
    let gaps = rec()["gaps"].clone();
    assert!(
        gaps.as_array()
            .unwrap()
            .iter()
            .any(|g| g["reason"] == "disk_full"),
        "{gaps}"
    );
    drop(a);
    drop(mount);
}

#[test]
fn kill_9_under_load_keeps_every_recorded_segment() {
    let dir = temp_dir("kill9load");
    let data = dir.join("data");
    let cfg = dir.join("atoll.toml");
    std::fs::write(&cfg, "segment_seconds = 2\n").unwrap();
    let http_port = free_port();
    let spawn = |log: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_atoll"))
            .args([
                "--config",
                path_str(&cfg),
                "--data",
                path_str(&data),
                "--http",
                &format!("127.0.0.1:{http_port}"),
            ])
            .args(["--rtmp", &format!("127.0.0.1:{}", free_port())])
            .env("ATOLL_ADMIN_PASSWORD", PASSWORD)
            .stdout(std::fs::File::create(dir.join(log)).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let api = |m: &str, p: &str, b: Option<&str>| {
        let (s, body) = http(http_port, m, p, Some(("admin", PASSWORD)), b);
        (
            s,
            serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default(),
        )
    };
    let wait = |what: &str, limit: Duration, f: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < limit, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let mut child = spawn("log1");
    wait("up", T, &|| {
        http(http_port, "GET", "/healthz", None, None).0 == 200
    });
    let ids: Vec<String> = (0..5).map(|i| format!("rec{i}")).collect();
    for id in &ids {
        let body =
            json!({"id": id, "name": id, "sources": ["testsrc://?size=320x240"]}).to_string();
        assert_eq!(api("POST", "/api/channels", Some(&body)).0, 201);
    }
    for id in &ids {
        wait(&format!("{id} recording"), T, &|| {
            api("GET", &format!("/api/channels/{id}/recording"), None).1["segments"]
                .as_i64()
                .unwrap_or(0)
                >= 3
        });
    }
    // 1,000 viewers at a real pace: each reloads its playlist every second and fetches every new
    // segment, through the kill and the restart
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let served = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut viewers = Vec::new();
    for v in 0..1_000 {
        let (stop, served, id) = (stop.clone(), served.clone(), ids[v % ids.len()].clone());
        let viewer = move || {
            // spread the first requests over a second
            std::thread::sleep(Duration::from_millis(v as u64));
            let mut last = String::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (s, b) = http(
                    http_port,
                    "GET",
                    &format!("/live/{id}/index.m3u8"),
                    None,
                    None,
                );
                if s == 200 {
                    let text = String::from_utf8_lossy(&b).into_owned();
                    let newest = text.lines().rfind(|l| !l.starts_with('#') && !l.is_empty());
                    if let Some(seg) = newest.filter(|seg| *seg != last) {
                        let (s, _) =
                            http(http_port, "GET", &format!("/live/{id}/{seg}"), None, None);
                        if s == 200 {
                            served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        last = seg.to_string();
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        };
        viewers.push(
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(viewer)
                .unwrap(),
        );
    }
    // what the archive lists before the kill
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let listed = |id: &str| -> Vec<String> {
        let (s, b) = http(
            http_port,
            "GET",
            &format!("/live/{id}/index-{}-600.m3u8", now_s - 300),
            Some(("admin", PASSWORD)),
            None,
        );
        if s != 200 {
            return Vec::new();
        }
        String::from_utf8_lossy(&b)
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    // let every viewer load the server
    wait("1,000 segments served", T, &|| {
        served.load(std::sync::atomic::Ordering::Relaxed) >= 1_000
    });
    let before: Vec<(String, Vec<String>)> =
        ids.iter().map(|id| (id.clone(), listed(id))).collect();
    for (id, segs) in &before {
        assert!(segs.len() >= 3, "{id}: {segs:?}");
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let restarted = Instant::now();
    let mut child = spawn("log2");
    wait(
        "live playlist after restart",
        Duration::from_secs(10),
        &|| http(http_port, "GET", "/live/rec0/index.m3u8", None, None).0 == 200,
    );
    assert!(restarted.elapsed() < Duration::from_secs(10));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for v in viewers {
        v.join().unwrap();
    }
    for (id, segs) in &before {
        let after = listed(id);
        for seg in segs {
            assert!(
                after.contains(seg),
                "{id}: {seg} lost after kill -9 ({after:?})"
            );
            let (s, body) = http(
                http_port,
                "GET",
                &format!("/live/{id}/{seg}"),
                Some(("admin", PASSWORD)),
                None,
            );
            assert_eq!(s, 200, "{id}/{seg}");
            assert!(!body.is_empty() && body[0] == 0x47, "{id}/{seg} unreadable");
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_disk_wakes_retention_which_frees_space_and_recording_goes_on() {
    let dir = temp_dir("diskfull-retention");
    let arch = dir.join("archive");
    let mount = Mount::tmpfs(&arch, "20m");
    let a = Atoll::start_with(
        "diskfull-retention",
        &[
            ("segment_seconds", "2"),
            ("archive_dir", &format!("{:?}", arch.to_str().unwrap())),
            // keep 20 % (4 MB) of the archive disk free: retention may delete to get there
            ("archive_min_free_percent", "20"),
        ],
    );
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"ret","name":"Ret","sources":["testsrc://"]}"#),
    );
    assert_eq!(s, 201, "{v}");
    let rec = || a.api("GET", "/api/channels/ret/recording", None).1;
    a.wait_for("3 segments recorded", T, || {
        rec()["segments"].as_i64().unwrap_or(0) >= 3
    });
    let filled_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let _filler = fill(&mount.0);
    // Retention runs at once (not at its next minute) and frees space: new segments are written
    // while the filler is still there.
    a.wait_for(
        "a segment recorded after the disk filled",
        Duration::from_secs(25),
        || {
            rec()["last_segment"]
                .as_str()
                .map(|t| {
                    let (s, _) = http(a.http, "GET", "/healthz", None, None);
                    s == 200 && rfc3339_s(t) > filled_at + 2.0
                })
                .unwrap_or(false)
        },
    );
    assert!(a.log_text().contains("retention:"), "retention ran");
    drop(a);
    drop(mount);
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2026-12-01T10:00:00.000Z`).
fn rfc3339_s(t: &str) -> f64 {
    let (date, time) = t.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let t: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    let days = media::time::days_from_civil(d[0], d[1] as u32, d[2] as u32);
    days as f64 * 86400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]
}

#[test]
fn segments_dropped_by_a_full_recorder_queue_are_a_recorder_overflow_gap() {
    use std::io::{BufRead, BufReader};
    require("python3");
    let a = Atoll::start_with(
        "overflow",
        &[("segment_seconds", "2"), ("recorder_queue_segments", "1")],
    );
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"ovf","name":"Ovf","sources":["testsrc://?size=320x240"]}"#),
    );
    assert_eq!(s, 201, "{v}");
    // both channels record (demo too); their segments are cut on the same wall-clock grid, so
    // which of them a full queue drops is a race: the gap is looked for on both
    let rec = |id: &str| {
        a.api("GET", &format!("/api/channels/{id}/recording"), None)
            .1
    };
    a.wait_for("2 segments recorded", T, || {
        rec("ovf")["segments"].as_i64().unwrap_or(0) >= 2
    });
    // Another process holds the archive index's write lock: the archive writer waits (up to its
    // 10 s busy timeout) and its queue of 1 fills up.
    let db = a.dir.join("data/archive/archive.db");
    let mut holder = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys\n\
             c=sqlite3.connect(sys.argv[1],isolation_level=None)\n\
             c.execute('BEGIN IMMEDIATE')\n\
             print('locked',flush=True)\n\
             sys.stdin.read()\n\
             c.execute('ROLLBACK')\n",
            db.to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    let held = Instant::now();
    a.wait_for("2 segments dropped", Duration::from_secs(8), || {
        a.metric("atoll_recorder_dropped_segments_total") >= 2
    });
    assert!(held.elapsed() < Duration::from_secs(9));
    drop(holder.stdin.take()); // release the lock
    holder.wait().unwrap();
    let gaps = |reason: &str| {
        ["demo", "ovf"].iter().any(|id| {
            rec(id)["gaps"]
                .as_array()
                .is_some_and(|g| g.iter().any(|g| g["reason"] == reason))
        })
    };
    a.wait_for("a recorder_overflow gap", T, || gaps("recorder_overflow"));
    assert!(
        !gaps("source_lost"),
        "{} {}",
        rec("demo")["gaps"],
        rec("ovf")["gaps"]
    );
}
